// forwarding header: moved to <sluice/graph/plan.hpp> (sink protocol, query_plan) and <sluice/graph/pipe.hpp>
#pragma once
#include "../graph/pipe.hpp"
