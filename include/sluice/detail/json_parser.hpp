// forwarding header: moved to <sluice/codec/json_parser.hpp>
#pragma once
#include "../codec/json_parser.hpp"
