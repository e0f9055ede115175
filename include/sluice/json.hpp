// forwarding header: moved to <sluice/codec/json.hpp>
#pragma once
#include "codec/json.hpp"
