// What stands in, after a diagnostic (detail/diagnostics.hpp), for the part of a graph that
// could not be built, so that the graph built on it adds no error of its own (one error per
// mistake): a source without rows (for a would-be source that lacks part of the concept), a
// stage passing rows on unchanged (for a stage whose function is wrong), and a sink dropping
// them (for a memory_sink<T> of another T, a foreach_batch function of another signature).
#pragma once
#include <boost/describe.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../engine/control.hpp"
#include "props.hpp"
#include "protocol.hpp"

namespace sluice::detail {
// ---- source
struct stand_in_offset {
  std::int64_t at = 0;
};
BOOST_DESCRIBE_STRUCT(stand_in_offset, (), (at))
struct stand_in_row {};
BOOST_DESCRIBE_STRUCT(stand_in_row, (), ())

template <class Row>
struct stand_in_source {
  using row_type = Row;
  using offset_type = stand_in_offset;
  using partition_type = stand_in_offset;
  offset_type initial_offset() { return {}; }
  offset_type latest_offset(const offset_type& o, read_limit) { return o; }
  std::vector<partition_type> partitions(const offset_type&, const offset_type&) { return {}; }
  template <class Emit>
  void read(const partition_type&, Emit&&) {}
  void commit(const offset_type&) {}
  std::string description() const { return "StandInSource"; }
};

// The would-be source's row type when it has one.
template <class T>
struct stand_in_row_of {
  using type = stand_in_row;
};
template <class T>
  requires requires { typename T::row_type; }
struct stand_in_row_of<T> {
  using type = typename T::row_type;
};

// ---- stage
template <class In>
struct stand_in_stage {
  static constexpr stage_kind kind = stage_kind::stateless;
  using output_row = In;
  static constexpr graph_props transform(graph_props p) { return p; }
  template <class R, class Down>
  void push(R&& r, Down& down) {
    down(std::forward<R>(r));
  }
};

// ---- sink
template <class Row>
struct stand_in_sink {
  void add_batch(std::int64_t, std::span<const Row>) {}
  std::string description() const { return "StandInSink"; }
};
}  // namespace sluice::detail
