// expect: sluice partitioned sink: missing `void commit_batch\(std::int64_t batch_id, std::vector<commit_message> messages\)`
// A bound sink with create_writer (so it means to take a batch as partitions) whose writers
// return commit messages, but which cannot commit a batch: the first error names the missing
// member and its signature, rather than the sink quietly getting its batches joined.
#include "event.hpp"

#include <span>
#include <string>
#include <vector>

struct written {
  std::size_t rows = 0;
};

struct part_writer {
  std::size_t n = 0;
  void write(std::span<const Event> rows) { n += rows.size(); }
  written commit() { return {n}; }
  void abort() {}
};

struct bound_store {
  void add_batch(std::int64_t, std::span<const Event>) {}
  std::string description() const { return "store"; }
  bool begin_batch(std::int64_t) { return true; }
  part_writer create_writer(std::int64_t, std::int64_t) { return {}; }
  // missing: void commit_batch(std::int64_t batch_id, std::vector<written> messages);
  void abort_batch(std::int64_t, std::vector<written>) {}
};

struct store {
  using is_sink_descriptor = void;
  template <class Row>
  bound_store bind() && {
    return {};
  }
};

int main() {
  sl::memory_stream<Event> events;
  auto query = sl::start(events | store{}, sl::output_mode::append);
  query.stop();
}
