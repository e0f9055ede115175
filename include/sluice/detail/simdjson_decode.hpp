// forwarding header: moved to <sluice/codec/simdjson_decode.hpp>
#pragma once
#include "../codec/simdjson_decode.hpp"
