// Built against an installed sluice with its optional components
// (find_package(sluice CONFIG COMPONENTS delta rest)): writes a Delta table through a query
// and reads it back, and builds a REST source. Exits with 0 only if both behave.
#include <sluice/delta.hpp>
#include <sluice/rest.hpp>
#include <sluice/sluice.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace sl = sluice;

struct Reading {
  std::string sensor;
  std::int64_t celsius;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (sensor, celsius))

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sluice_consumer_components <scratch dir>\n";
    return 2;
  }
  const std::filesystem::path table = std::filesystem::path(argv[1]) / "readings";
  std::filesystem::remove_all(table);

  sl::memory_stream<Reading> readings;
  readings.add_data({{"a", 10}, {"b", 30}});
  readings.add_data({{"c", 40}});
  auto query = sl::start(readings | sl::delta::sink(table.string()), sl::output_mode::append,
                         {.name = "consumer-delta", .trigger = sl::trigger::available_now()});
  try {
    query.await_termination();
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice consumer: delta query failed: " << e.what() << "\n";
    return 1;
  }
  const std::vector<Reading> rows = sl::delta::read<Reading>(table.string());
  std::int64_t sum = 0;
  for (const auto& r : rows) sum += r.celsius;
  if (rows.size() != 3 || sum != 80) {
    std::cerr << "sluice consumer: the Delta table holds " << rows.size() << " rows summing to " << sum
              << ", expected 3 rows summing to 80\n";
    return 1;
  }

  sl::rest::options options;
  // The password also appears in the URL: the description must redact it there too.
  options.url = "http://127.0.0.1:9/readings?since={last_id}&key=not-to-be-printed";
  options.auth.type = sl::rest::auth_type::basic;
  options.auth.username = "consumer";
  options.auth.password = "not-to-be-printed";
  const auto source = sl::rest::make_source<Reading, sl::rest::incremental_strategy>(options);
  const std::string description = source.description();
  if (description.find("127.0.0.1:9/readings") == std::string::npos ||
      description.find("not-to-be-printed") != std::string::npos) {
    std::cerr << "sluice consumer: unexpected REST source description: " << description << "\n";
    return 1;
  }
  std::cout << "sluice consumer components ok: " << rows.size() << " Delta rows; " << description << "\n";
  return 0;
}
