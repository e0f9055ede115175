// sluice_demo: seed 004's streaming demo, in C++ (run it with ./scripts/demo.sh).
//
//   generator --> memory_stream<Event> --+--> event_aggregates: 5-minute tumbling windows per
//                                        |    event_type, 10-minute watermark, count + avg(value),
//                                        |    update mode -> console + <out>/event_aggregates/
//                                        +--> user_activity: 5-minute windows sliding by 1 minute
//                                             per user_id, 10-minute watermark, count, append
//                                             mode -> <out>/user_activity/
//
// The generator is seed 004's (event_id "<batch>_<i>", user_id 1..1000, event_type
// click/view/purchase, value 10..1000, timestamps up to 60 s before "now"), with a simulated,
// deterministic clock: it starts at 2024-01-15T10:01:00Z and advances 3 minutes per generated
// batch, so a run covers most of an hour of event time in a few seconds. Every fifth batch
// also carries late events: two 20 minutes old (their windows are behind the watermark: they
// are dropped and counted) and one 8 minutes old (late, but within the watermark: it updates
// an older window).
//
// Files: one JSON-lines file per batch with rows, <out>/<query>/batch-<id>.jsonl, written to a
// temporary name and renamed. A batch file that already exists is skipped, so output is
// written once per batch id (file sinks with a manifest, and checkpoints, come later; a rerun
// into the same directory regenerates the same batches and skips them all).
//
// Usage: sluice_demo [--out DIR] [--events N] [--events-per-batch N]
//   --out DIR              output directory (default ./sluice-demo-output)
//   --events N             events to generate (default 1500)
//   --events-per-batch N   events per generated batch (default 100, as in seed 004)
// Exits 1 if a query fails, 2 on bad arguments.
#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

struct Event {
  std::string event_id;
  sl::timestamp timestamp;
  std::int64_t user_id;
  std::string event_type;
  double value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_id, timestamp, user_id, event_type, value))

namespace {

// ------------------------------------------------------------------ the generator
class event_generator {
 public:
  static constexpr auto clock_step = 3min;

  explicit event_generator(std::int64_t events_per_batch) : per_batch_(events_per_batch) {}

  // The next batch of at most `limit` events.
  std::vector<Event> next_batch(std::int64_t limit) {
    const std::int64_t n = std::min(limit, per_batch_);
    const bool with_late = batch_ % 5 == 4 && n >= 3;
    std::vector<Event> out;
    out.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      sl::timestamp t = now_ - std::chrono::seconds(uniform(0, 60));  // out of order within the batch
      if (with_late && i == n - 3) t = now_ - 8min;                    // late, within the watermark
      if (with_late && i >= n - 2) t = now_ - 20min;                   // behind the watermark
      static constexpr std::string_view types[] = {"click", "view", "purchase"};
      out.push_back(Event{std::to_string(batch_) + "_" + std::to_string(i), t, uniform(1, 1000),
                          std::string(types[uniform(0, 2)]), 10.0 + unit() * 990.0});
    }
    ++batch_;
    now_ = now_ + clock_step;
    return out;
  }
  std::int64_t batches() const { return batch_; }

 private:
  // mt19937_64 is specified exactly by the standard, and these mappings are ours, so the
  // events are the same on every platform.
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  std::int64_t per_batch_;
  std::int64_t batch_ = 0;
  sl::timestamp now_ = *sl::parse_timestamp("2024-01-15T10:01:00Z");
  std::mt19937_64 rng_{4};
};

// ------------------------------------------------------------------ JSON-lines files per batch
// Writes rows to <dir>/batch-<id>.jsonl once: an existing file for the batch id is kept.
template <class Row>
void write_batch_file(const fs::path& dir, std::span<const Row> rows, std::int64_t batch_id) {
  if (rows.empty()) return;
  const fs::path file = dir / ("batch-" + std::to_string(batch_id) + ".jsonl");
  if (fs::exists(file)) {
    std::cout << "  " << file.string() << " exists: batch " << batch_id << " skipped\n";
    return;
  }
  const fs::path tmp = dir / (".batch-" + std::to_string(batch_id) + ".jsonl.tmp");
  {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    for (const Row& r : rows) os << sl::to_json_string(r) << '\n';
    os.flush();
    if (!os) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, file);
}

// ------------------------------------------------------------------ printing
std::string time_of(const std::optional<sl::timestamp>& t) { return t ? sl::format_timestamp(*t, true) : "-"; }

void print_progress_line(const sl::query_progress& p) {
  const auto& op = p.state_operators.at(0);
  std::printf("  [%s] batch %lld: %lld rows in%s, watermark %s, %lld rows out, state %lld rows "
              "(%lld updated, %lld removed), %lld dropped by watermark\n",
              p.name.c_str(), static_cast<long long>(p.batch_id), static_cast<long long>(p.num_input_rows),
              p.num_input_rows == 0 ? " (no-data batch)" : "", time_of(p.event_time.watermark).c_str(),
              static_cast<long long>(p.sink.num_output_rows), static_cast<long long>(op.num_rows_total),
              static_cast<long long>(op.num_rows_updated), static_cast<long long>(op.num_rows_removed),
              static_cast<long long>(op.num_rows_dropped_by_watermark));
}

// Progress JSON, indented as Spark prints it.
void pretty(std::ostream& os, const boost::json::value& v, int indent = 0) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (v.is_object() && !v.get_object().empty()) {
    os << "{\n";
    bool first = true;
    for (const auto& [k, x] : v.get_object()) {
      os << (first ? "" : ",\n") << pad << boost::json::serialize(boost::json::value(k)) << " : ";
      pretty(os, x, indent + 2);
      first = false;
    }
    os << "\n" << std::string(static_cast<std::size_t>(indent), ' ') << "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    os << "[ ";
    bool first = true;
    for (const auto& x : v.get_array()) {
      os << (first ? "" : ", ");
      pretty(os, x, indent);
      first = false;
    }
    os << " ]";
  } else {
    os << boost::json::serialize(v);
  }
}

struct args {
  fs::path out = "sluice-demo-output";
  std::int64_t events = 1500;
  std::int64_t events_per_batch = 100;
};

bool parse_args(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto positive = [&](std::int64_t& out) {
      const char* v = value();
      if (!v) return false;
      try {
        std::size_t used = 0;
        out = std::stoll(v, &used);
        return used == std::string_view(v).size() && out > 0;
      } catch (const std::exception&) {
        return false;
      }
    };
    if (arg == "--out") {
      const char* v = value();
      if (!v) return false;
      a.out = v;
    } else if (arg == "--events") {
      if (!positive(a.events)) return false;
    } else if (arg == "--events-per-batch") {
      if (!positive(a.events_per_batch)) return false;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse_args(argc, argv, a)) {
    std::cerr << "usage: sluice_demo [--out DIR] [--events N] [--events-per-batch N]\n";
    return 2;
  }
  const fs::path agg_dir = a.out / "event_aggregates", activity_dir = a.out / "user_activity";
  try {
    fs::create_directories(agg_dir);
    fs::create_directories(activity_dir);
  } catch (const std::exception& e) {
    std::cerr << "sluice_demo: " << e.what() << "\n";
    return 1;
  }

  sl::memory_stream<Event> events;  // a shared handle: both queries read it, the generator feeds it

  // Seed 004, example 2: tumbling windows, update mode, to the console and to files.
  auto stats = events
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
      | sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
  using stats_row = decltype(stats)::row_type;  // window, event_type, event_count, avg_value

  // Spark's foreachBatch idiom for several outputs: the same rows to a file and to the console.
  auto console = sl::console({.truncate = false}).bind<stats_row>();
  auto to_console_and_files = [console, agg_dir](std::span<const stats_row> rows, std::int64_t batch_id) mutable {
    write_batch_file(agg_dir, rows, batch_id);
    if (!rows.empty()) console.add_batch(batch_id, rows);  // no-data batches print only their summary
  };
  auto aggregates = sl::start(stats | sl::foreach_batch(to_console_and_files), sl::output_mode::update,
                              {.name = "event_aggregates"});

  // Seed 004, example 3: sliding windows per user, append mode (a window's count is written
  // once, when the watermark passes its end), to files.
  auto activity = events
      | sl::with_watermark(sl::col<"timestamp">, 10min)
      | sl::group_by(sl::window(sl::col<"timestamp">, 5min, 1min), sl::col<"user_id">)
      | sl::aggregate(sl::count());
  using activity_row = decltype(activity)::row_type;  // window, user_id, count
  auto user_activity = sl::start(
      activity | sl::foreach_batch([activity_dir](std::span<const activity_row> rows, std::int64_t batch_id) {
        write_batch_file(activity_dir, rows, batch_id);
      }),
      sl::output_mode::append, {.name = "user_activity"});

  std::cout << "sluice demo: " << a.events << " events in batches of " << a.events_per_batch
            << ", event time from 2024-01-15 10:01 (+3 min per batch), output in " << a.out.string() << "\n";

  event_generator gen(a.events_per_batch);
  std::int64_t printed_aggregates = -1, printed_activity = -1;  // last batch id printed
  std::int64_t dropped = 0, generated = 0;
  // Prints the batches of q after `printed`; returns the rows they dropped by watermark.
  auto print_new = [](const sl::streaming_query& q, std::int64_t& printed) {
    std::int64_t late = 0;
    for (const auto& p : q.recent_progress()) {  // the last 100 batches: enough between two calls
      if (p.batch_id <= printed) continue;
      print_progress_line(p);
      late += p.state_operators.at(0).num_rows_dropped_by_watermark;
      printed = p.batch_id;
    }
    return late;
  };

  try {
    while (generated < a.events) {
      auto batch = gen.next_batch(a.events - generated);
      generated += static_cast<std::int64_t>(batch.size());
      std::cout << "== generated batch " << gen.batches() - 1 << " with " << batch.size() << " events\n";
      events.add_data(std::move(batch));
      // Wait until both queries have processed it (and run any no-data batch it calls for),
      // so each generated batch is one micro-batch: the run is the same every time.
      aggregates.process_all_available();
      user_activity.process_all_available();
      dropped += print_new(aggregates, printed_aggregates);
      print_new(user_activity, printed_activity);
    }
    aggregates.stop();
    user_activity.stop();
    for (const auto* q : {&aggregates, &user_activity})
      if (auto e = q->exception()) throw *e;
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice_demo: " << e.what() << "\n";
    return 1;
  }

  // The last batch that read data, as Spark's lastProgress shows it.
  std::optional<sl::query_progress> last_data;
  for (const auto& p : aggregates.recent_progress())
    if (p.num_input_rows > 0) last_data = p;
  if (last_data) {
    std::cout << "\nprogress of event_aggregates' last batch with data:\n";
    pretty(std::cout, boost::json::value(last_data->to_json()));
    std::cout << "\n";
  }
  auto count_files = [](const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".jsonl";
    return n;
  };
  std::cout << "\n" << generated << " events in " << gen.batches() << " generated batches; "
            << dropped << " late rows dropped by event_aggregates' watermark\n"
            << "files: " << agg_dir.string() << " (" << count_files(agg_dir) << " batch files), "
            << activity_dir.string() << " (" << count_files(activity_dir) << " batch files)\n"
            << "windows still open at the end (their end is after the watermark) are in the state, not in the\n"
            << "append-mode files: they are emitted once later data moves the watermark past them.\n";
  return 0;
}
