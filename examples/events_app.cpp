// events_app: a sluice application whose pipelines are configured from a YAML file
// (<sluice/app.hpp>, seed 001): two of seed 004's demo queries registered by name, bound by
// examples/events_app.yaml to their connections, triggers, checkpoints, output modes,
// watermark and expectation policy, and run under one query manager with the admin endpoint.
//
//   example_events_app run examples/events_app.yaml [--admin-port N]   the queries of the file
//   example_events_app check FILE                                       the file against the pipelines
//   example_events_app pipelines                                        the registered pipelines
//   example_events_app generate DIR N                                   N demo events into DIR
//   example_events_app                                                  (CI) generate, run, check the tables
#include <sluice/app.hpp>
#include <sluice/delta.hpp>
#include <sluice/files.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "demo_events.hpp"

namespace sl = sluice;
using namespace std::chrono_literals;

namespace {

bool known_type(const Event& e) { return e.event_type == "click" || e.event_type == "view" || e.event_type == "purchase"; }

auto json_events(const sl::node& n) {
  const auto in = n.read();
  return sl::files::json_lines<Event>(in.location(), {.glob = in.option("glob", "*"),
                                                      .max_files_per_trigger = in.int_option("max_files_per_trigger", 0)});
}

sl::app make_app() {
  sl::app app("events_app");
  // Demo example 1: the events as they come, to a Delta table.
  app.pipeline("raw_events", {.reads = {"json"}, .writes = {"delta"}, .output_modes = {"append"}}, [](sl::node& n) {
    return n.start(json_events(n) | sl::delta::sink(n.write().location()), sl::output_mode::append);
  });
  // Demo example 2: 5-minute windows per event type, count and average value.
  app.pipeline("event_windows",
               {.reads = {"json"}, .writes = {"delta"}, .output_modes = {"complete"}, .expectations = {"known_type"}},
               [](sl::node& n) {
                 auto windowed = json_events(n)
                     | n.expect("known_type", known_type)
                     | n.with_watermark(sl::col<"timestamp">, 10min)
                     | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
                     | sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
                 return n.start(windowed | sl::delta::sink(n.write().location()), sl::output_mode::complete);
               });
  return app;
}

}  // namespace

int main(int argc, char** argv) {
  auto app = make_app();
  if (argc == 4 && std::string(argv[1]) == "generate") {
    demo_events::generate(argv[2], std::atoll(argv[3]), 100);
    return 0;
  }
  if (argc > 1) return app.main(argc, argv);
#ifdef SLUICE_EVENTS_APP_YAML
  // CI: twice, as a deployment restarts: each run adds events and the queries resume from
  // their checkpoints; data/events must then hold every event once.
  std::filesystem::remove_all("events-app");
  std::int64_t generated = 0;
  for (int run = 0; run < 2; ++run) {
    generated += 700;
    demo_events::generate("events-app/input", 700, 100);
    if (const int rc = app.run(SLUICE_EVENTS_APP_YAML); rc != 0) return rc;
  }
  const auto events = sl::delta::read<Event>("events-app/data/events");
  const auto windows = sl::delta::read<sl::row<sl::field<"window", sl::time_window>, sl::field<"event_type", std::string>,
                                               sl::field<"event_count", std::int64_t>, sl::field<"avg_value", double>>>(
      "events-app/data/event_aggregates");
  std::int64_t counted = 0;
  for (const auto& w : windows) counted += sl::get<"event_count">(w);
  std::printf("events_app: %zu events in data/events (%lld generated), %zu windows counting %lld events\n", events.size(),
              static_cast<long long>(generated), windows.size(), static_cast<long long>(counted));
  return static_cast<std::int64_t>(events.size()) == generated && counted == generated ? 0 : 1;
#else
  return app.main(argc, argv);
#endif
}
