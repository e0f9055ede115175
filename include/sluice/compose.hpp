// forwarding header: moved to <sluice/graph/pipe.hpp>
#pragma once
#include "graph/pipe.hpp"
