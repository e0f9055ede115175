// The input event of the Kafka crash workers (crash/kafka_crash_worker.cpp and
// instances/instances_worker.cpp): event i has time t0 + i * 10 ms, key keys[i % 8], value i % 100.
#pragma once
#include <sluice/schema.hpp>
#include <sluice/time.hpp>

#include <cstdint>
#include <string>

struct Event {
  std::int64_t id = 0;
  sluice::timestamp timestamp;
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, timestamp, key, value))

namespace kafka_crash {
inline constexpr std::int64_t t0 = 1704067200LL * 1000000;  // 2024-01-01T00:00:00Z
inline const char* const keys[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"};
}  // namespace kafka_crash
