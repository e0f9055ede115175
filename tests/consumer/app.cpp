// Built against an installed sluice with its app component (find_package(sluice CONFIG
// COMPONENTS app), yaml-cpp): a pipeline registered by name and a pipeline file naming it, run
// to its end (trigger once). Exits with 0 only if the file was read and the query ran.
#include <sluice/app.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace sl = sluice;

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "sluice-consumer-app";
  std::filesystem::create_directories(dir);
  const auto file = dir / "pipeline.yaml";
  std::ofstream(file) << "admin: {enabled: false}\n"
                         "nodes:\n"
                         "  - name: numbers\n"
                         "    streaming: {trigger: once}\n";
  std::int64_t rows = 0;
  sl::app app("consumer_app");
  app.pipeline("numbers", [&](sl::node& n) {
    sl::memory_stream<sl::rate_row> in;
    in.add_data({{sl::timestamp{0}, 1}, {sl::timestamp{1}, 2}});
    return n.start(in | sl::foreach_batch([&](std::span<const sl::rate_row> r, std::int64_t) { rows += std::ssize(r); }),
                   sl::output_mode::append);
  });
  const int rc = app.run(file, {.console = stdout});
  if (rc != 0 || rows != 2) {
    std::cerr << "sluice consumer: the configured query did not run (exit " << rc << ", " << rows << " rows)\n";
    return 1;
  }
  std::cout << "sluice consumer: app ran its configured query\n";
  return 0;
}
