// The query the Delta crash test kills and restarts (tests/delta/crash/delta_crash_test.py):
//
//   files::json_lines<Event>(input, one file per batch) | delta::sink(output, partitioned by key)
//
// in append mode with a checkpoint and trigger available-now: it processes every file present
// at start, then exits 0. The sink writes a Delta checkpoint every 4 versions, so crashes also
// hit checkpoint writing. With SLUICE_CRASH_AT=<point>:<n> the process SIGKILLs itself at the
// n-th <point>: the engine's (after_offsets, after_sink, after_state, after_commit) and the
// sink's (delta_data_written: Parquet files synced, no commit; delta_commit_temporary_written:
// the commit's temporary file written, not linked into place; delta_committed: commit
// created, checkpoint not written). A failure prints the error on stderr and exits 1; bad
// arguments exit 2. On success it prints {"batches": <batches run by this process>}.
#include <sluice/sluice.hpp>
#include <sluice/delta.hpp>
#include <sluice/files.hpp>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "crash_event.hpp"

namespace sl = sluice;
using delta_crash::Event;

int main(int argc, char** argv) {
  std::string input, output, checkpoint;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--input") input = argv[i + 1];
    else if (flag == "--output") output = argv[i + 1];
    else if (flag == "--checkpoint") checkpoint = argv[i + 1];
    else {
      std::cerr << "delta_crash_worker: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (input.empty() || output.empty() || checkpoint.empty()) {
    std::cerr << "usage: sluice_delta_crash_worker --input DIR --output TABLE --checkpoint DIR\n";
    return 2;
  }
  try {
    auto q = sl::start(sl::files::json_lines<Event>(input, {.max_files_per_trigger = 1}) |
                           sl::delta::sink(output, {.partition_by = {"key"}, .checkpoint_interval = 4}),
                       sl::output_mode::append,
                       {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint, .progress_retention = 100000});
    q.await_termination();
    std::cout << "{\"batches\":" << q.recent_progress().size() << "}" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "delta_crash_worker: " << e.what() << "\n";
    return 1;
  }
}
