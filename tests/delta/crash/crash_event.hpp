// The row of the Delta crash worker's input and table, shared with the tests that run it.
#pragma once
#include <sluice/schema.hpp>
#include <sluice/time.hpp>

#include <cstdint>
#include <string>

namespace delta_crash {
struct Event {
  std::int64_t id = 0;
  sluice::timestamp timestamp;
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, timestamp, key, value))
}  // namespace delta_crash
