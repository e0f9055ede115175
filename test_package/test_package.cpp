// The package's test: a typed streaming query (memory source, window-free aggregation,
// memory sink) run to completion, and each component the package was created with.
#include <sluice/sluice.hpp>
#if SLUICE_TEST_WITH_REST
#include <sluice/rest.hpp>
#endif
#if SLUICE_TEST_WITH_DELTA
#include <sluice/delta.hpp>
#endif
#if SLUICE_TEST_WITH_KAFKA
#include <sluice/kafka.hpp>
#endif
#if SLUICE_TEST_WITH_APP
#include <sluice/app/config.hpp>

#include <fstream>
#endif

// The package's mode reaches every translation unit: the compiled engine (libsluice) defines
// SLUICE_SEPARATE_COMPILATION; header_only=True defines nothing.
#if SLUICE_TEST_HEADER_ONLY == defined(SLUICE_SEPARATE_COMPILATION)
#error "SLUICE_SEPARATE_COMPILATION does not match the package's header_only option"
#endif

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

namespace sl = sluice;

struct Reading {
  std::string sensor;
  std::int64_t celsius;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (sensor, celsius))

int main(int argc, char** argv) {
  const std::filesystem::path scratch = argc > 1 ? argv[1] : ".";

  sl::memory_stream<Reading> readings;
  readings.add_data({{"a", 10}, {"b", 30}, {"a", 20}});
  readings.add_data({{"b", 40}});
  auto totals_by_sensor =
      readings | sl::group_by(sl::col<"sensor">) | sl::aggregate(sl::sum(sl::col<"celsius">).as<"total">());
  sl::memory_sink<decltype(totals_by_sensor)::row_type> out;  // a generated row: sensor, total
  auto query = sl::start(totals_by_sensor | out, sl::output_mode::complete,
                         {.name = "test_package", .trigger = sl::trigger::available_now()});
  query.await_termination();
  std::map<std::string, std::int64_t> totals;
  for (const auto& r : out.rows()) totals[sl::get<"sensor">(r)] = sl::get<"total">(r);
  if (totals != std::map<std::string, std::int64_t>{{"a", 30}, {"b", 70}}) {
    std::cerr << "test_package: unexpected aggregation result\n";
    return 1;
  }
  std::cout << "sluice test_package: core pipeline ok (2 groups, "
            << (SLUICE_HEADER_ONLY ? "header-only" : "compiled engine") << ")\n";

#if SLUICE_TEST_WITH_SIMDJSON
#if !SLUICE_HAS_SIMDJSON
#error "with_simdjson: SLUICE_HAS_SIMDJSON is not defined"
#endif
  std::cout << "sluice test_package: simdjson decoding on\n";
#endif

#if SLUICE_TEST_WITH_DELTA
  {
    const auto table = scratch / "readings";
    std::filesystem::remove_all(table);
    sl::memory_stream<Reading> in;
    in.add_data({{"a", 10}, {"b", 30}});
    auto write = sl::start(in | sl::delta::sink(table.string()), sl::output_mode::append,
                           {.name = "test_package-delta", .trigger = sl::trigger::available_now()});
    write.await_termination();
    const auto rows = sl::delta::read<Reading>(table.string());
    if (rows.size() != 2) {
      std::cerr << "test_package: the Delta table holds " << rows.size() << " rows, expected 2\n";
      return 1;
    }
    std::cout << "sluice test_package: delta ok (" << rows.size() << " rows written and read back)\n";
  }
#endif

#if SLUICE_TEST_WITH_REST
  {
    sl::rest::options options;
    options.url = "http://127.0.0.1:9/readings?since={last_id}";
    const auto source = sl::rest::make_source<Reading, sl::rest::incremental_strategy>(options);
    if (source.description().find("127.0.0.1:9/readings") == std::string::npos) {
      std::cerr << "test_package: unexpected REST source description: " << source.description() << "\n";
      return 1;
    }
    std::cout << "sluice test_package: rest ok (" << source.description() << ")\n";
  }
#endif

#if SLUICE_TEST_WITH_KAFKA
  std::cout << "sluice test_package: kafka component compiled and linked\n";
#endif

#if SLUICE_TEST_WITH_APP
  {
    const auto file = scratch / "pipeline.yaml";
    std::ofstream(file) << "nodes:\n  - name: totals\n    streaming: {trigger: \"10 seconds\"}\n";
    const auto config = sl::app_config::load(file);
    if (config.nodes.size() != 1 || config.nodes[0].name != "totals" || !config.nodes[0].streaming.trigger) {
      std::cerr << "test_package: the pipeline file was not read as written\n";
      return 1;
    }
    std::cout << "sluice test_package: app ok (a pipeline file read with yaml-cpp)\n";
  }
#endif
  return 0;
}
