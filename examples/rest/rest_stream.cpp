// rest_stream: streams any polling REST API, described by a JSON configuration file alone
// (sluice::rest::options by field name; see docs/rest.md), to the console or to an
// exactly-once JSON-lines file sink.
//
//   rest_stream CONFIG.json [--sink console|DIR] [--checkpoint DIR]
//               [--trigger available-now|once|continuous] [--seconds N]
//
//   --sink console      print each batch: "Batch: N" and one JSON object per record (default)
//   --sink DIR          sl::files::json_lines_sink(DIR): part files + manifests, exactly once
//   --checkpoint DIR    resume where the last run stopped (offsets in DIR/offsets)
//   --trigger           available-now (default): read what the API has now, then stop;
//                       once: one batch; continuous: poll until --seconds have passed
//   --seconds N         how long a continuous run lasts (default 10)
//
// The offset strategy comes from the file's "strategy" field; each strategy has its own
// offset type, so the program instantiates the query for the one it names.
#include <sluice/rest.hpp>
#include <sluice/sinks/files.hpp>
#include <sluice/sluice.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

namespace sl = sluice;
namespace rest = sluice::rest;

namespace {
struct cli {
  std::string config;
  std::string sink = "console";
  std::string checkpoint;
  std::string trigger = "available-now";
  double seconds = 10;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "rest_stream: " << why
            << "\nusage: rest_stream CONFIG.json [--sink console|DIR] [--checkpoint DIR] "
               "[--trigger available-now|once|continuous] [--seconds N]\n";
  std::exit(2);
}

cli parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--sink") c.sink = value();
    else if (a == "--checkpoint") c.checkpoint = value();
    else if (a == "--trigger") c.trigger = value();
    else if (a == "--seconds") c.seconds = std::stod(value());
    else if (!a.empty() && a[0] == '-') usage("unknown option " + a);
    else if (c.config.empty()) c.config = a;
    else usage("more than one configuration file");
  }
  if (c.config.empty()) usage("no configuration file");
  if (c.trigger != "available-now" && c.trigger != "once" && c.trigger != "continuous")
    usage("unknown trigger " + c.trigger);
  return c;
}

template <class Strategy>
int run(const cli& c, const rest::options& o) {
  rest::json_source<Strategy> source(o);
  source.on_log([](const std::string& line) { std::cerr << "rest_stream: " << line << "\n"; });
  sl::query_options qo{.checkpoint = c.checkpoint};
  if (c.trigger == "available-now") qo.trigger = sl::trigger::available_now();
  else if (c.trigger == "once") qo.trigger = sl::trigger::once();
  else qo.trigger = sl::trigger::processing_time(std::chrono::milliseconds(100));

  auto finish = [&](auto& q) {
    if (c.trigger == "continuous") {
      std::this_thread::sleep_for(std::chrono::duration<double>(c.seconds));
      q.stop();
    } else {
      q.await_termination();
    }
    if (auto e = q.exception()) {
      std::cerr << "rest_stream: the query failed: " << e->what() << "\n";
      return 1;
    }
    const auto m = source.metrics();
    std::cerr << "rest_stream: " << m.records << " records in " << m.polls << " polls, " << m.requests
              << " requests, " << m.retries << " retries, " << m.connections_opened << " connections\n";
    return 0;
  };
  if (c.sink == "console") {
    auto q = sl::start(source | sl::foreach_batch([](std::span<const boost::json::object> rows, std::int64_t id) {
                         if (rows.empty()) return;
                         std::cout << "Batch: " << id << "\n";
                         for (const auto& r : rows) std::cout << boost::json::serialize(r) << "\n";
                         std::cout << std::flush;
                       }),
                       sl::output_mode::append, qo);
    return finish(q);
  }
  auto q = sl::start(source | sl::files::json_lines_sink(c.sink), sl::output_mode::append, qo);
  return finish(q);
}
}  // namespace

int main(int argc, char** argv) {
  const cli c = parse(argc, argv);
  try {
    const rest::options o = rest::load_options(c.config);
    std::cerr << "rest_stream: " << boost::json::serialize(rest::options_to_json(o)) << "\n";  // secrets redacted
    switch (o.strategy) {
      case rest::strategy_kind::incremental: return run<rest::incremental_strategy>(c, o);
      case rest::strategy_kind::max_field: return run<rest::max_field_strategy>(c, o);
      case rest::strategy_kind::timestamp: return run<rest::timestamp_strategy>(c, o);
      case rest::strategy_kind::cursor: return run<rest::cursor_strategy>(c, o);
      case rest::strategy_kind::unspecified: break;
    }
    std::cerr << "rest_stream: " << c.config
              << ": strategy: required (timestamp, cursor, incremental or max_field)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "rest_stream: " << e.what() << "\n";
    return 1;
  }
}
