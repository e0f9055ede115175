// expect: sluice source: offset_type must be a default-constructible struct described with BOOST_DESCRIBE_STRUCT
// The offset struct has no BOOST_DESCRIBE_STRUCT: it could not be written to the offset log
// nor compared field by field, and the first error says so.
#include "event.hpp"

#include <vector>
struct counter_offset {
  std::int64_t next = 0;
};  // no BOOST_DESCRIBE_STRUCT(counter_offset, (), (next))
struct counter_partition {
  std::int64_t from = 0, to = 0;
};

struct counter_source {
  using row_type = Event;
  using offset_type = counter_offset;
  using partition_type = counter_partition;
  counter_offset initial_offset() { return {}; }
  counter_offset latest_offset(const counter_offset& s, sl::read_limit) { return {s.next + 10}; }
  std::vector<counter_partition> partitions(const counter_offset& s, const counter_offset& e) {
    return {{s.next, e.next}};
  }
  template <class Emit>
  void read(const counter_partition& p, Emit&& emit) {
    for (auto i = p.from; i < p.to; ++i) emit(Event{std::to_string(i), sl::timestamp{i}, i, "tick", 1.0});
  }
  void commit(const counter_offset&) {}
  std::string description() const { return "counter"; }
};

int main() {
  auto query = sl::start(counter_source{} | sl::console(), sl::output_mode::append);
  query.stop();
}
