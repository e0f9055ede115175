// A sink that stands in, after a rule's diagnostic, for one that cannot take the pipeline's rows
// (a memory_sink<T> of another T, a foreach_batch function of another signature): it takes the
// rows and drops them, so sl::start adds no second error about the sink (detail/diagnostics.hpp).
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace sluice::detail {
template <class Row>
struct stand_in_sink {
  void add_batch(std::int64_t, std::span<const Row>) {}
  std::string description() const { return "StandInSink"; }
};
}  // namespace sluice::detail
