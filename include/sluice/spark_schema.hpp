// forwarding header: moved to <sluice/codec/spark_schema.hpp>
#pragma once
#include "codec/spark_schema.hpp"
