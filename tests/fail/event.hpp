// The schema the compile-fail cases share (seed 004's event). Each case includes it and
// builds one pipeline that breaks one rule.
#pragma once
#include <sluice/sluice.hpp>

#include <cstdint>
#include <string>

using namespace std::chrono_literals;
namespace sl = sluice;
using namespace sluice::literals;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id;
  std::string event_type;
  double value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))
