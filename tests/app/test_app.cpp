// An application for app_e2e_test.py: two pipelines registered by name, bound at run time by
// the test's YAML file (sl::app::main: run FILE | check FILE | pipelines).
//   copy:   JSON-lines readings -> expect "positive" (policy from the file) -> JSON-lines files
//   counts: JSON-lines readings -> watermark on ts -> 10 s windows, count -> JSON-lines files
#include <sluice/app.hpp>
#include <sluice/files.hpp>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Reading {
  std::int64_t id = 0;
  double value = 0;
  sl::timestamp ts;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, value, ts))

namespace {
auto readings(const sl::node& n) {
  const auto in = n.read();
  return sl::files::json_lines<Reading>(in.location(), {.glob = in.option("glob", "*.jsonl"),
                                                        .max_files_per_trigger = in.int_option("max_files_per_trigger", 0)});
}
}  // namespace

int main(int argc, char** argv) {
  sl::app app("test_app");
  app.pipeline("copy", {.reads = {"json"}, .writes = {"json"}, .output_modes = {"append"}, .expectations = {"positive"}},
               [](sl::node& n) {
                 auto plan = readings(n) | n.expect("positive", [](const Reading& r) { return r.value > 0; }) |
                             sl::files::json_lines_sink(n.write().location());
                 return n.start(std::move(plan), sl::output_mode::append);
               });
  app.pipeline("counts", {.reads = {"json"}, .writes = {"json"}, .output_modes = {"append"}}, [](sl::node& n) {
    auto plan = readings(n) | n.with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::window(sl::col<"ts">, 10s)) |
                sl::aggregate(sl::count()) | sl::files::json_lines_sink(n.write().location());
    return n.start(std::move(plan), sl::output_mode::append);
  });
  return app.main(argc, argv);
}
