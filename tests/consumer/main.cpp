// Built against an installed sluice (find_package(sluice CONFIG)) twice: as sluice_consumer
// linking sluice::sluice (the engine in the installed library), and as
// sluice_consumer_header_only linking sluice::header_only (SLUICE_CONSUMER_HEADER_ONLY: the
// engine compiled here, no library). Runs a tiny real pipeline, memory_stream -> map ->
// filter -> memory_sink, and exits with 0 only if its output is right.
#include <sluice/sluice.hpp>

#if SLUICE_CONSUMER_HEADER_ONLY
// sluice::header_only is the pure header form: no library, no macro.
#if defined(SLUICE_SEPARATE_COMPILATION)
#error "sluice::header_only defined SLUICE_SEPARATE_COMPILATION"
#endif
#else
// sluice::sluice must carry the definition to its users: without it this program would
// compile the engine itself and never use the installed library's.
#if !defined(SLUICE_SEPARATE_COMPILATION)
#error "sluice::sluice did not define SLUICE_SEPARATE_COMPILATION"
#endif
#endif

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

namespace sl = sluice;

struct Reading {
  std::string sensor;
  std::int64_t celsius;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (sensor, celsius))

struct Fahrenheit {
  std::string sensor;
  double fahrenheit;
};
BOOST_DESCRIBE_STRUCT(Fahrenheit, (), (sensor, fahrenheit))

int main() {
  sl::memory_stream<Reading> readings;
  readings.add_data({{"a", 10}, {"b", 30}});
  readings.add_data({{"c", 40}, {"d", -5}});

  sl::memory_sink<Fahrenheit> out;
  auto query = sl::start(readings
                             | sl::map([](const Reading& r) { return Fahrenheit{r.sensor, r.celsius * 9.0 / 5.0 + 32}; })
                             | sl::filter([](const Fahrenheit& f) { return f.fahrenheit > 80; })
                             | out,
                         sl::output_mode::append, {.name = "consumer", .trigger = sl::trigger::available_now()});
  try {
    query.await_termination();
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice consumer: query failed: " << e.what() << "\n";
    return 1;
  }

  const std::vector<Fahrenheit> rows = out.rows();
  std::string got;
  for (const auto& r : rows) got += sl::to_json_string(r) + "\n";
  const auto progress = query.last_progress();
  const bool ok = rows.size() == 2 && rows[0].sensor == "b" && rows[0].fahrenheit == 86.0 && rows[1].sensor == "c" &&
                  rows[1].fahrenheit == 104.0 && progress && progress->num_input_rows == 4;
  if (!ok) {
    std::cerr << "sluice consumer: wrong output\n  got:\n" << got << "  expected: b at 86 F, c at 104 F (4 input rows)\n"
              << "  last progress: " << (progress ? progress->json() : std::string("none")) << "\n";
    return 1;
  }
  std::cout << "sluice consumer ok (" << (SLUICE_HEADER_ONLY ? "header-only" : "compiled engine") << "): " << rows.size()
            << " rows\n"
            << got;
  return 0;
}
