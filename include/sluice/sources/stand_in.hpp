// A source that stands in, after the diagnostic naming what a would-be source lacks, so that
// the graph built on it adds no error of its own (detail/diagnostics.hpp): it has no rows.
#pragma once
#include <boost/describe.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "source.hpp"

namespace sluice::detail {
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
}  // namespace sluice::detail
