// sluice_demo: seed 004's streaming demo, end to end with real files and Delta Lake tables (run
// it with ./scripts/demo.sh). Everything lives under --out DIR (default ./sluice-demo-output):
//
//   data generator --> input/events-NNNNN.jsonl          data/users (a Delta table, written once)
//                          |                                 |
//   Example 1  files::json_lines<Event>(input/, max_files_per_trigger = 1)
//              -> delta::sink(data/events)                          append, checkpoints/raw
//   Example 2  watermark 10 min, 5-minute tumbling windows per event_type, count + avg(value)
//              -> delta::sink(data/event_aggregates)                complete, checkpoints/agg
//   Example 3  watermark 10 min, 5-minute windows sliding by 1 minute per user_id, count
//              -> delta::sink(data/user_activity)                   append, checkpoints/late
//   Example 4  delta::source<Event>(data/events) joined with delta::read<User>(data/users)
//              -> delta::sink(data/enriched_events)                 append, checkpoints/enriched
//
// The tables are Delta Lake tables (Parquet files and a _delta_log/), readable by Spark,
// delta-rs and DuckDB. Seed 004 runs example 2 in update mode; Delta's sink takes append and
// complete only (in Spark as in sluice), so example 2 writes the complete result table each
// batch (a remove of the old files and an add of the new ones in one commit). Example 4 reads
// the events as a stream of the data/events table (bronze to silver) rather than of input/: the
// same events, through the Delta source.
//
// The generator is seed 004's (event_id "<batch>_<i>", user_id 1..1000, event_type
// click/view/purchase, value 10..1000, timestamps up to 60 s before "now"), deterministic: file
// N is made from a RNG seeded with N, on a simulated clock at 2024-01-15T10:01:00Z + 3 min * N,
// so a run covers most of an hour of event time in a few seconds. Every fifth file also holds
// late events: two 20 minutes old (behind the watermark: the windowed aggregations drop and
// count them) and one 8 minutes old (late, but within the watermark). Each file is written
// under a hidden temporary name and renamed into input/, as the file source requires. The
// users table holds users 1..950, so about 5% of the events have no user (the inner join drops
// them).
//
// Every query runs with trigger available-now (everything in input/ now, one file per batch,
// then stop) and a checkpoint. Run it again in the same folder: the generator adds new files
// (continuing the numbering and the clock), each query resumes from its checkpoint and reads
// only the new files, and the Delta sinks skip batches their table's txn already holds, so
// nothing is written twice; the demo checks that data/events holds exactly the events of
// input/ at the end, and data/enriched_events each event with a known user once.
//
// Usage: sluice_demo [--out DIR] [--events N] [--events-per-batch N] [--no-generate]
//   --out DIR              output directory (default ./sluice-demo-output)
//   --events N             events to generate in this run (default 1500; 0: none)
//   --events-per-batch N   events per generated file (default 100, as in seed 004)
//   --no-generate          generate nothing (same as --events 0): process what is there
// Exits 1 if a query fails or a check fails, 2 on bad arguments.
#include <sluice/sluice.hpp>
#include <sluice/files.hpp>
#include <sluice/delta.hpp>

#include "demo_events.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace fs = std::filesystem;

struct User {
  std::int64_t user_id;
  std::string name;
  std::string country;
};
BOOST_DESCRIBE_STRUCT(User, (), (user_id, name, country))

namespace {

using demo_events::generate;
using demo_events::next_file_number;

constexpr std::int64_t known_users = 950;  // data/users holds users 1..950; events use 1..1000

// The users table, a Delta table written once (the same on every run): batch 0 of a fixed txn
// appId, so a second run (or a crash and a rerun) finds it committed and writes nothing.
void write_users(const fs::path& table) {
  static constexpr std::string_view first[] = {"Ada",  "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances",
                                               "Grace", "John", "Ken",     "Leslie", "Margaret", "Niklaus", "Tony"};
  static constexpr std::string_view countries[] = {"US", "DE", "FR", "IN", "BR", "JP", "GB", "CA"};
  std::vector<User> users;
  for (std::int64_t id = 1; id <= known_users; ++id)
    users.push_back({id, std::string(first[static_cast<std::size_t>(id) % std::size(first)]) + " " + std::to_string(id),
                     std::string(countries[static_cast<std::size_t>(id * 7 / 3) % std::size(countries)])});
  auto sink = sl::delta::sink(table, {.app_id = "sluice-demo-users"}).bind<User>();
  sink.add_batch(0, users);
}

// One line about a Delta table: version, live files, rows, and the txn of the query that writes it.
void describe_table(const fs::path& table) {
  const auto s = sl::delta::load_snapshot(table);
  std::string txn;
  for (const auto& [app, batch] : s.app_versions)
    txn += (txn.empty() ? "" : ", ") + app + " -> batch " + std::to_string(batch);
  std::printf("  %s: Delta version %lld, %zu live files, %lld rows; txn %s\n", table.string().c_str(),
              static_cast<long long>(s.version), s.files.size(), static_cast<long long>(s.num_records()), txn.c_str());
}

// ------------------------------------------------------------------ printing
std::string time_of(const std::optional<sl::timestamp>& t) { return t ? sl::format_timestamp(*t, true) : "-"; }

struct run_totals {
  std::int64_t batches = 0, input_rows = 0, output_rows = 0, dropped = 0;
};

// One line per batch of this run (at most `max_lines`), and the run's totals.
run_totals print_progress(const sl::streaming_query& q, std::size_t max_lines = 20) {
  run_totals t;
  const auto all = q.recent_progress();
  std::size_t shown = 0;
  for (const auto& p : all) {
    ++t.batches;
    t.input_rows += p.num_input_rows;
    t.output_rows += p.sink.num_output_rows;
    for (const auto& op : p.state_operators) t.dropped += op.num_rows_dropped_by_watermark;
    if (shown++ >= max_lines) continue;
    std::string line = "  [" + p.name + "] batch " + std::to_string(p.batch_id) + ": " +
                       std::to_string(p.num_input_rows) + " rows in" + (p.num_input_rows == 0 ? " (no-data batch)" : "") +
                       ", " + std::to_string(p.sink.num_output_rows) + " rows out";
    if (p.event_time.watermark) line += ", watermark " + time_of(p.event_time.watermark);
    for (const auto& op : p.state_operators)
      line += ", state " + std::to_string(op.num_rows_total) + " rows (" + std::to_string(op.num_rows_updated) +
              " updated, " + std::to_string(op.num_rows_removed) + " removed), " +
              std::to_string(op.num_rows_dropped_by_watermark) + " dropped by watermark";
    std::printf("%s\n", line.c_str());
  }
  if (shown > max_lines) std::printf("  ... %zu more batches\n", shown - max_lines);
  if (all.empty()) std::printf("  [%s] no new data: nothing to do (the checkpoint has it all)\n", q.name().c_str());
  return t;
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
    os << sl::json_text(v);
  }
}

void heading(const char* text) { std::printf("\n=== %s\n", text); }

// ------------------------------------------------------------------ arguments
struct args {
  fs::path out = "sluice-demo-output";
  std::int64_t events = 1500;
  std::int64_t events_per_batch = 100;
};

bool parse_args(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto number = [&](std::int64_t& out, std::int64_t min) {
      const char* v = value();
      if (!v) return false;
      const std::string_view s(v);
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      return ec == std::errc{} && end == s.data() + s.size() && out >= min;
    };
    if (arg == "--out") {
      const char* v = value();
      if (!v || !*v) return false;
      a.out = v;
    } else if (arg == "--events") {
      if (!number(a.events, 0)) return false;
    } else if (arg == "--events-per-batch") {
      if (!number(a.events_per_batch, 1)) return false;
    } else if (arg == "--no-generate") {
      a.events = 0;
    } else {
      return false;
    }
  }
  return true;
}

// Fails the demo with a message (exit code 1).
struct check_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse_args(argc, argv, a)) {
    std::cerr << "usage: sluice_demo [--out DIR] [--events N] [--events-per-batch N] [--no-generate]\n";
    return 2;
  }
  const fs::path input = a.out / "input", data = a.out / "data", checkpoints = a.out / "checkpoints";
  const fs::path users_table = data / "users";
  const sl::query_options defaults{.trigger = sl::trigger::available_now(), .progress_retention = 100000};
  auto options = [&](std::string name) {
    sl::query_options o = defaults;
    o.checkpoint = (checkpoints / name).string();
    o.name = std::move(name);
    return o;
  };

  try {
    std::printf("sluice demo (seed 004) in %s\n", fs::absolute(a.out).lexically_normal().string().c_str());
    std::printf("Output tables are Delta Lake tables (sl::delta::sink: Parquet files + _delta_log/, exactly once\n"
                "through the txn of each query), read back with sl::delta::read and readable by Spark, delta-rs and\n"
                "DuckDB.\n");

    // ---------------------------------------------------------------- data generator
    heading("Data generator");
    fs::create_directories(input);
    write_users(users_table);
    const std::int64_t files = generate(input, a.events, a.events_per_batch);
    std::printf("  %lld new files in %s (%lld files in all); users table %s (Delta)\n", static_cast<long long>(files),
                input.string().c_str(), static_cast<long long>(next_file_number(input)), users_table.string().c_str());

    // ---------------------------------------------------------------- example 1
    heading("Example 1: pass-through, input/ -> data/events (append)");
    {
      auto events = sl::files::json_lines<Event>(input, {.glob = "events-*.jsonl", .max_files_per_trigger = 1});
      auto query = sl::start(events | sl::delta::sink(data / "events"), sl::output_mode::append, options("raw"));
      query.await_termination();
      const auto t = print_progress(query);
      std::printf("  this run: %lld batches, %lld events written\n", static_cast<long long>(t.batches),
                  static_cast<long long>(t.output_rows));
    }

    // ---------------------------------------------------------------- example 2
    heading("Example 2: 5-minute windows per event_type, 10-minute watermark, count + avg (complete)");
    run_totals agg_totals;
    {
      auto events = sl::files::json_lines<Event>(input, {.glob = "events-*.jsonl", .max_files_per_trigger = 1});
      auto windowed = events
          | sl::with_watermark(sl::col<"timestamp">, 10min)
          | sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">)
          | sl::aggregate(sl::count().as<"event_count">(), sl::avg(sl::col<"value">).as<"avg_value">());
      using agg_row = decltype(windowed)::row_type;  // window, event_type, event_count, avg_value

      // Delta's sink takes append and complete (update is a compile error, as in Spark): in
      // complete mode every batch replaces the table's rows with the whole result, in one commit.
      auto query = sl::start(windowed | sl::delta::sink(data / "event_aggregates"), sl::output_mode::complete,
                             options("agg"));
      query.await_termination();
      agg_totals = print_progress(query);
      std::printf("  this run: %lld batches, %lld window rows written in all (complete mode keeps every window:\n"
                  "  no late row is dropped here; example 3 shows the watermark dropping them)\n",
                  static_cast<long long>(agg_totals.batches), static_cast<long long>(agg_totals.output_rows));
      std::optional<sl::query_progress> last_data;
      for (const auto& p : query.recent_progress())
        if (p.num_input_rows > 0) last_data = p;
      if (last_data) {
        std::cout << "  progress of its last batch with data (Spark's query.lastProgress):\n";
        pretty(std::cout, boost::json::value(last_data->to_json()));
        std::cout << "\n";
      }
      // Spark: spark.read.format("delta").load("./data/event_aggregates").show()
      auto table = sl::delta::read<agg_row>(data / "event_aggregates");
      std::sort(table.begin(), table.end(), [](const agg_row& x, const agg_row& y) {
        return std::tie(sl::get<"window">(x).start, sl::get<"event_type">(x)) >
               std::tie(sl::get<"window">(y).start, sl::get<"event_type">(y));
      });
      std::printf("  data/event_aggregates: %zu rows; the latest windows:\n", table.size());
      for (std::size_t i = 0; i < std::min<std::size_t>(6, table.size()); ++i)
        std::printf("    %s\n", sl::to_json_string(table[i]).c_str());
    }

    // ---------------------------------------------------------------- example 3
    heading("Example 3: late data, 5-minute windows sliding by 1 minute per user_id (append)");
    {
      auto events = sl::files::json_lines<Event>(input, {.glob = "events-*.jsonl", .max_files_per_trigger = 1});
      auto activity = events
          | sl::with_watermark(sl::col<"timestamp">, 10min)
          | sl::group_by(sl::window(sl::col<"timestamp">, 5min, 1min), sl::col<"user_id">)
          | sl::aggregate(sl::count());
      auto query = sl::start(activity | sl::delta::sink(data / "user_activity"), sl::output_mode::append,
                             options("late"));
      query.await_termination();
      const auto t = print_progress(query);
      std::printf("  this run: %lld batches, %lld window rows written (each once, when the watermark passed the\n"
                  "  window's end), %lld late rows dropped by the watermark (numRowsDroppedByWatermark: one per\n"
                  "  row and window; a 20-minute-old event falls in 5 closed windows). Windows still open are in\n"
                  "  the checkpointed state: the next run, with newer events, emits them.\n",
                  static_cast<long long>(t.batches), static_cast<long long>(t.output_rows),
                  static_cast<long long>(t.dropped));
    }

    // ---------------------------------------------------------------- example 4
    heading("Example 4: stream-static join of the data/events table with the data/users table on user_id (append)");
    std::int64_t enriched_this_run = 0;
    std::size_t enriched_rows = 0;
    {
      // Spark: users_df = spark.read.format("delta").load("./data/users")
      const sl::static_table<User> users(sl::delta::read<User>(users_table));
      // The events as a stream of the Delta table example 1 wrote (bronze to silver): the first
      // run starts from a snapshot of the table, later runs read the versions added since.
      auto events = sl::delta::source<Event>(data / "events", {.max_files_per_trigger = 5});
      auto enriched = events | sl::join(users, sl::col<"user_id">);
      // enriched's row: user_id, event_id, timestamp, event_type, value, name, country
      auto query = sl::start(enriched | sl::delta::sink(data / "enriched_events"), sl::output_mode::append,
                             options("enriched"));
      query.await_termination();
      const auto t = print_progress(query);
      enriched_this_run = t.output_rows;
      std::printf("  this run: %lld events in, %lld enriched rows out; %lld events had no user in the table (the\n"
                  "  inner join drops them; sl::left_join would keep them with null name and country)\n",
                  static_cast<long long>(t.input_rows), static_cast<long long>(t.output_rows),
                  static_cast<long long>(t.input_rows - t.output_rows));
      // Spark: spark.read.format("delta").load("./data/enriched_events").show()
      using enriched_row = decltype(enriched)::row_type;
      const auto table = sl::delta::read<enriched_row>(data / "enriched_events");
      enriched_rows = table.size();
      std::printf("  data/enriched_events: %zu rows; first rows:\n", table.size());
      for (std::size_t i = 0; i < std::min<std::size_t>(3, table.size()); ++i)
        std::printf("    %s\n", sl::to_json_string(table[i]).c_str());
    }

    // ---------------------------------------------------------------- querying the tables
    heading("Querying the output tables");
    const auto all_input = sl::files::read_json_lines<Event>(input, "events-*.jsonl");
    // Spark: spark.read.format("delta").load("./data/events")
    auto events_table = sl::delta::read<Event>(data / "events");
    std::sort(events_table.begin(), events_table.end(),
              [](const Event& x, const Event& y) { return std::tie(x.timestamp, x.event_id) < std::tie(y.timestamp, y.event_id); });
    std::printf("  input/: %zu events in %lld files\n", all_input.size(), static_cast<long long>(next_file_number(input)));
    std::printf("  data/events: %zu rows; the earliest events:\n", events_table.size());
    for (std::size_t i = 0; i < std::min<std::size_t>(3, events_table.size()); ++i)
      std::printf("    %s\n", sl::to_json_string(events_table[i]).c_str());
    for (const char* name : {"users", "events", "event_aggregates", "user_activity", "enriched_events"})
      if (sl::delta::latest_version(data / name)) describe_table(data / name);

    // Exactly once, across runs: every input event is in data/events once, and every event
    // with a known user in data/enriched_events once.
    const auto known = static_cast<std::size_t>(std::count_if(all_input.begin(), all_input.end(), [](const Event& e) {
      return e.user_id >= 1 && e.user_id <= known_users;
    }));
    if (events_table.size() != all_input.size())
      throw check_failed("data/events holds " + std::to_string(events_table.size()) + " rows for " +
                         std::to_string(all_input.size()) + " input events (were input/ or data/ changed by hand? " +
                         "delete " + a.out.string() + " to start over)");
    if (enriched_rows != known)
      throw check_failed("data/enriched_events holds " + std::to_string(enriched_rows) + " rows for " +
                         std::to_string(known) + " input events with a known user (delete " + a.out.string() +
                         " to start over)");
    std::printf("  exactly once: %zu input events, %zu rows in data/events, %zu in data/enriched_events (%lld "
                "this run)\n",
                all_input.size(), events_table.size(), enriched_rows, static_cast<long long>(enriched_this_run));
    std::printf("\nRun it again: new files are generated and only they are processed (--no-generate: none).\n"
                "Read a table with delta-rs: build/venv/bin/python -c \"import deltalake; "
                "print(deltalake.DeltaTable('%s').to_pandas())\"\n",
                (data / "events").string().c_str());
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice_demo: query failed: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sluice_demo: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
