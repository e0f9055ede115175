// forwarding header: moved to <sluice/codec/binary.hpp>
#pragma once
#include "../codec/binary.hpp"
