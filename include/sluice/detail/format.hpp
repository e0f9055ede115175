// forwarding header: moved to <sluice/codec/format.hpp>
#pragma once
#include "../codec/format.hpp"
