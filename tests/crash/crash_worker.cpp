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
// A failure prints the error on stderr and exits 1; bad arguments exit 2. With
// SLUICE_CRASH_AT=<point>:<n> the process SIGKILLs itself at the n-th <point> (docs/checkpoints.md).
// --parallelism N (default 1) is query_options::parallelism; --files-per-trigger N (default 1)
// makes each batch N files, partitions read at once by the workers.
// On success it prints one line: {"batches": <batches run by this process>, "inputRows": ...}.
#include <sluice/sluice.hpp>
#include <sluice/files.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Event {
  std::int64_t id = 0;
  sl::timestamp timestamp;
  std::string key;
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, timestamp, key, value))

namespace {

struct args {
  std::string input, output, checkpoint, mode;
  std::size_t parallelism = 1;
  std::int64_t files_per_trigger = 1;
};

int usage(const char* why) {
  std::cerr << "sluice_crash_worker: " << why << "\n"
            << "usage: sluice_crash_worker --input DIR --output DIR --checkpoint DIR --mode append|update"
               " [--parallelism N] [--files-per-trigger N]\n";
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
  if (a.mode != "append" && a.mode != "update") return usage("--mode must be append or update");
  try {
    return run(a);
  } catch (const sl::streaming_query_error& e) {
    std::cerr << "sluice_crash_worker: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sluice_crash_worker: " << e.what() << "\n";
    return 1;
  }
}
