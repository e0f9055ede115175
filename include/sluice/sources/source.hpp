// forwarding header: moved to <sluice/graph/source.hpp> (and <sluice/sources/slices.hpp>)
#pragma once
#include "../graph/source.hpp"
#include "slices.hpp"
