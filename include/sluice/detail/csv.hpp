// forwarding header: moved to <sluice/codec/csv.hpp>
#pragma once
#include "../codec/csv.hpp"
