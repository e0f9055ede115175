// The query the crash tests kill and restart (tests/crash/crash_test.py drives it):
//
//   files::json_lines<Event>(input, one file per batch, or --files-per-trigger)
//     | with_watermark(timestamp, 10s)
//     | group_by(window(timestamp, 10s), key)
//     | aggregate(count() as n, sum(value) as total)
//     | sink
//
// with a checkpoint and trigger available-now: it processes every file present at start, then
// the no-data batch that closes the windows, and exits 0. The sink depends on --mode:
//   append  sl::files::json_lines_sink(output)  (manifests: <output>/_sluice_metadata/N)
//   update  sl::foreach_batch writing each batch's rows to <output>/batch-<id>.jsonl,
//           idempotently (skipped when it exists) and atomically (temporary, fsync, rename):
//           the exactly-once pattern for foreach_batch.
// The stateful operators beyond the aggregation have modes of their own, each a query over the
// same files into the file sink (append; run_stateful_mode below; --files-per-trigger files per
// batch, of each side for the join):
//   join         left-*.jsonl and right-*.jsonl, both with a 10 s
//                watermark, left outer joined on key within 5 s of each other
//   join_window  the same join | group_by(window(ltime, 10s), key) | aggregate(count() as n): an
//                aggregation after the join, with the join's output watermark
//   dedup        with_watermark(timestamp, 10s) | drop_duplicates(key, timestamp)
//   session      with_watermark(timestamp, 10s) | group_by(session_window(timestamp, 5s), key)
//                | aggregate(count() as n, sum(value) as total)
//   group_state  group_by_key(key) | flat_map_groups_with_state (a running count and sum per
//                key, one row per key and batch with its first row's id, the state removed at
//                40 rows)
// A failure prints the error on stderr and exits 1; bad arguments exit 2. With
// SLUICE_CRASH_AT=<point>:<n> the process SIGKILLs itself at the n-th <point> (docs/checkpoints.md).
// --parallelism N (default 1) is query_options::parallelism; --files-per-trigger N (default 1)
// makes each batch N files, partitions read at once by the workers.
// On success it prints one line: {"batches": <batches run by this process>, "inputRows": ...}.
#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Event {
  std::int64_t id = 0;
  sl::timestamp timestamp;
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, timestamp, key, value))

// The two sides of the join mode.
struct Left {
  std::int64_t lid = 0;
  sl::timestamp ltime;
  std::string key;
  std::int64_t lvalue = 0;
};
BOOST_DESCRIBE_STRUCT(Left, (), (lid, ltime, key, lvalue))
struct Right {
  std::int64_t rid = 0;
  sl::timestamp rtime;
  std::string rkey;
  std::int64_t rvalue = 0;
};
BOOST_DESCRIBE_STRUCT(Right, (), (rid, rtime, rkey, rvalue))

// The group_state mode's state and output.
struct Running {
  std::int64_t n = 0;
  std::int64_t total = 0;
};
BOOST_DESCRIBE_STRUCT(Running, (), (n, total))
struct KeyProgress {
  std::string key;
  std::int64_t rows = 0;  // this batch's
  std::int64_t n = 0;     // since the state began
  std::int64_t total = 0;
  bool closed = false;    // the state was removed
  std::int64_t first = 0;  // the id of the key's first row in the batch (its rows' order)
};
BOOST_DESCRIBE_STRUCT(KeyProgress, (), (key, rows, n, total, closed, first))

// The transform_with_state mode's value state and output.
struct Tally {
  std::int64_t n = 0;
  std::int64_t total = 0;
  std::int64_t latest_ms = 0;  // the key's latest event time
};
BOOST_DESCRIBE_STRUCT(Tally, (), (n, total, latest_ms))
struct TallyRow {
  std::string key;
  std::string why;             // "rows", "limit" (cleared at 40 rows) or "timer" (cleared by it)
  std::int64_t rows = 0;       // this batch's
  std::int64_t n = 0;          // since the state began
  std::int64_t total = 0;
  std::int64_t ids = 0;        // the list state: its length and sum((position + 1) * id)
  std::int64_t weighted = 0;
  std::int64_t timer = 0;      // the timer that fired, or the one now registered (0: none)
  std::int64_t watermark = 0;  // timer_values' watermark (ms)
};
BOOST_DESCRIBE_STRUCT(TallyRow, (), (key, why, rows, n, total, ids, weighted, timer, watermark))

namespace {

struct args {
  std::string input, output, checkpoint, mode;
  std::size_t parallelism = 1;
  std::int64_t files_per_trigger = 1;
};

int usage(const char* why) {
  std::cerr << "sluice_crash_worker: " << why << "\n"
            << "usage: sluice_crash_worker --input DIR --output DIR --checkpoint DIR --mode "
               "append|update|join|join_window|dedup|session|group_state|transform_with_state [--parallelism N] [--files-per-trigger N]\n";
  return 2;
}

auto counts(const args& a) {
  return sl::files::json_lines<Event>(a.input, {.max_files_per_trigger = a.files_per_trigger}) |
         sl::with_watermark(sl::col<"timestamp">, 10s) |
         sl::group_by(sl::window(sl::col<"timestamp">, 10s), sl::col<"key">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
}

void report(const sl::streaming_query& q) {
  std::int64_t batches = 0, rows = 0;
  for (const auto& p : q.recent_progress()) {
    ++batches;
    rows += p.num_input_rows;
  }
  std::cout << "{\"batches\":" << batches << ",\"inputRows\":" << rows << "}" << std::endl;
}

sl::query_options options(const args& a) {
  return {.trigger = sl::trigger::available_now(),
          .checkpoint = a.checkpoint,
          .progress_retention = 1'000'000,  // every batch of this run, for the report
          .parallelism = a.parallelism};
}

int run(const args& a) {
  auto stream = counts(a);
  if (a.mode == "append") {
    auto q = sl::start(std::move(stream) | sl::files::json_lines_sink(a.output), sl::output_mode::append, options(a));
    q.await_termination();
    report(q);
    return 0;
  }
  using Row = typename decltype(stream)::row_type;
  const std::filesystem::path out(a.output);
  std::filesystem::create_directories(out);
  auto write_batch = [out](std::span<const Row> rows, std::int64_t batch_id) {
    const auto target = out / ("batch-" + std::to_string(batch_id) + ".jsonl");
    if (std::filesystem::exists(target)) return;  // written by an earlier run of this batch
    std::string text;
    for (const auto& r : rows) {
      text += sl::to_json_string(r);
      text += '\n';
    }
    sl::write_file_atomically(target, text);  // temporary, fsync, link into place, fsync the directory
  };
  auto q = sl::start(std::move(stream) | sl::foreach_batch(write_batch), sl::output_mode::update, options(a));
  q.await_termination();
  report(q);
  return 0;
}

// ---- the modes of the stateful operators beyond the aggregation
bool stateful_mode(const std::string& mode) {
  return mode == "join" || mode == "join_window" || mode == "dedup" || mode == "session" || mode == "group_state" ||
         mode == "transform_with_state";
}

template <class Stream>
int run_to_file_sink(Stream&& stream, const args& a) {
  auto q = sl::start(std::forward<Stream>(stream) | sl::files::json_lines_sink(a.output), sl::output_mode::append,
                     options(a));
  q.await_termination();
  report(q);
  return 0;
}

// The transform_with_state mode's processor: the state lives until 40 rows or until the
// watermark passes 5 s after the key's latest event (the timer moves with each batch's rows).
struct TallyProcessor {
  static constexpr std::int64_t close_at = 40, timeout_ms = 5000;
  sl::value_state<Tally> tally;
  sl::list_state<std::int64_t> ids;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    tally = h.get_value_state<Tally>("tally");
    ids = h.get_list_state<std::int64_t>("ids");
    handle = &h;
  }
  TallyRow row(const std::string& key, const char* why, std::int64_t rows, const Tally& t, std::int64_t timer,
               const sl::timer_values& tv) const {
    const auto list = ids.get();
    std::int64_t weighted = 0;
    for (std::size_t i = 0; i < list.size(); ++i) weighted += static_cast<std::int64_t>(i + 1) * list[i];
    return {key, why, rows, t.n, t.total, static_cast<std::int64_t>(list.size()), weighted, timer,
            tv.get_current_watermark_ms()};
  }
  void clear() {
    tally.clear();
    ids.clear();
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
  }
  std::vector<TallyRow> handle_input_rows(const std::string& key, std::span<const Event> rows,
                                          const sl::timer_values& tv) {
    Tally t = tally.get_option().value_or(Tally{});
    for (const auto& e : rows) {
      ++t.n;
      t.total += e.value;
      t.latest_ms = std::max(t.latest_ms, e.timestamp.micros / 1000);
      ids.append_value(e.id);
    }
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
    if (t.n >= close_at) {
      auto out = row(key, "limit", static_cast<std::int64_t>(rows.size()), t, 0, tv);
      clear();
      return {out};
    }
    tally.update(t);
    handle->register_timer(t.latest_ms + timeout_ms);
    return {row(key, "rows", static_cast<std::int64_t>(rows.size()), t, t.latest_ms + timeout_ms, tv)};
  }
  std::vector<TallyRow> handle_expired_timer(const std::string& key, const sl::timer_values& tv,
                                             const sl::expired_timer_info& info) {
    auto out = row(key, "timer", 0, tally.get(), info.get_expiry_time_ms(), tv);
    clear();
    return {out};
  }
};

int run_stateful_mode(const args& a) {
  const sl::files::json_lines_options per_batch{.max_files_per_trigger = a.files_per_trigger};
  if (a.mode == "join" || a.mode == "join_window") {
    auto left = sl::files::json_lines<Left>(a.input, {.glob = "left-*", .max_files_per_trigger = a.files_per_trigger}) |
                sl::with_watermark(sl::col<"ltime">, 10s);
    auto right = sl::files::json_lines<Right>(a.input, {.glob = "right-*", .max_files_per_trigger = a.files_per_trigger}) |
                 sl::with_watermark(sl::col<"rtime">, 10s);
    auto joined = std::move(left) | sl::left_join(std::move(right), sl::col<"key">, sl::col<"rkey">,
                                                  sl::time_range(sl::col<"ltime">, sl::col<"rtime">, -5s, 5s));
    if (a.mode == "join") return run_to_file_sink(std::move(joined), a);
    return run_to_file_sink(std::move(joined) | sl::group_by(sl::window(sl::col<"ltime">, 10s), sl::col<"key">) |
                                sl::aggregate(sl::count().as<"n">()),
                            a);
  }
  auto events = sl::files::json_lines<Event>(a.input, per_batch);
  if (a.mode == "dedup")
    return run_to_file_sink(std::move(events) | sl::with_watermark(sl::col<"timestamp">, 10s) |
                                sl::drop_duplicates(sl::col<"key">, sl::col<"timestamp">),
                            a);
  if (a.mode == "session")
    return run_to_file_sink(std::move(events) | sl::with_watermark(sl::col<"timestamp">, 10s) |
                                sl::group_by(sl::session_window(sl::col<"timestamp">, 5s), sl::col<"key">) |
                                sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">()),
                            a);
  if (a.mode == "transform_with_state")
    return run_to_file_sink(std::move(events) | sl::with_watermark(sl::col<"timestamp">, 10s) |
                                sl::group_by_key(sl::col<"key">) |
                                sl::transform_with_state(TallyProcessor{}, sl::time_mode::event_time,
                                                         sl::output_mode::append),
                            a);
  auto running = [](const std::string& key, std::span<const Event> values, sl::group_state<Running>& state,
                    auto& emit) {
    Running r = state.get_option().value_or(Running{});
    for (const auto& e : values) {
      ++r.n;
      r.total += e.value;
    }
    const bool closed = r.n >= 40;
    if (closed) state.remove();
    else state.update(r);
    emit(KeyProgress{key, static_cast<std::int64_t>(values.size()), r.n, r.total, closed, values.front().id});
  };
  return run_to_file_sink(std::move(events) | sl::group_by_key(sl::col<"key">) |
                              sl::flat_map_groups_with_state<Running, KeyProgress>(running, sl::output_mode::append),
                          a);
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage("a flag without a value");
    const std::string value = argv[++i];
    if (flag == "--input") a.input = value;
    else if (flag == "--output") a.output = value;
    else if (flag == "--checkpoint") a.checkpoint = value;
    else if (flag == "--mode") a.mode = value;
    else if (flag == "--parallelism" || flag == "--files-per-trigger") {
      std::int64_t n = 0;
      try {
        n = std::stoll(value);
      } catch (const std::exception&) {
      }
      if (n < 1) return usage("--parallelism and --files-per-trigger take a whole number >= 1");
      if (flag == "--parallelism") a.parallelism = static_cast<std::size_t>(n);
      else a.files_per_trigger = n;
    }
    else return usage("unknown flag");
  }
  if (a.input.empty() || a.output.empty() || a.checkpoint.empty()) return usage("--input, --output and --checkpoint are required");
  if (a.mode != "append" && a.mode != "update" && !stateful_mode(a.mode))
    return usage("--mode must be append, update, join, join_window, dedup, session, group_state or transform_with_state");
  try {
    if (stateful_mode(a.mode)) return run_stateful_mode(a);
    return run(a);
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice_crash_worker: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sluice_crash_worker: " << e.what() << "\n";
    return 1;
  }
}
