// forwarding header: moved to <sluice/graph/source.hpp> (and <sluice/sources/ranges.hpp>)
#pragma once
#include "../graph/source.hpp"
#include "ranges.hpp"
