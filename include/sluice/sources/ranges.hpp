// Renamed: the time and id slices are in sources/slices.hpp. Kept so existing includes work.
#pragma once
#include "slices.hpp"
