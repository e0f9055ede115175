// forwarding header: moved to <sluice/graph/node.hpp> (nodes), <sluice/graph/props.hpp>,
// <sluice/graph/protocol.hpp> (stage protocol) and <sluice/engine/control.hpp> (runtime controls)
#pragma once
#include "engine/control.hpp"
#include "graph/node.hpp"
