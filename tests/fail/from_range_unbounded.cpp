// expect: sluice::from_range: the range is unbounded
// A source over range-v3's endless iota would never reach the end of the range: refused when
// <sluice/range_v3.hpp> is included (the core refuses std's unreachable-sentinel ranges).
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>
#include <sluice/range_v3.hpp>

#include "event.hpp"

int main() {
  auto events = sl::from_range(ranges::views::iota(0) | ranges::views::transform([](int i) {
                                 return Event{std::to_string(i), sl::timestamp{i}, i, "click", 1.0};
                               }));
  auto query = sl::start(events | sl::console(), sl::output_mode::append);
  query.stop();
}
