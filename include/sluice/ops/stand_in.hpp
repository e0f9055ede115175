// A stage that stands in, after a rule's diagnostic, for the one that could not be built: it
// passes the rows on unchanged, so the stages after it and sl::start add no error of their own
// (one error per mistake; see detail/diagnostics.hpp).
#pragma once
#include <utility>

#include "../pipeline.hpp"

namespace sluice::detail {
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
}  // namespace sluice::detail
