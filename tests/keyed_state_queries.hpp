// The queries of the checkpoints in tests/data/checkpoint_{session,group_state,transform_with_state}
// _before_partitions (written by sluice before these operators kept their state in state
// partitions, with the batches below), shared by the tests that restore them.
#pragma once
#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace keyed_state_queries {
namespace sl = sluice;
using namespace std::chrono_literals;

struct Hit {
  std::string page;
  sl::timestamp ts;
  std::int64_t v = 0;
};
BOOST_DESCRIBE_STRUCT(Hit, (), (page, ts, v))
inline Hit hit(const char* page, int seconds, std::int64_t v = 1) { return {page, sl::timestamp{seconds * 1'000'000LL}, v}; }

// The batches the checkpoints were written with, each processed before the next was added
// (then the no-data batches the watermark asked for).
inline const std::vector<std::vector<Hit>> legacy_batches = {{hit("a", 1), hit("a", 2, 2), hit("b", 3, 3)},
                                                             {hit("a", 4, 4), hit("c", 12, 5)},
                                                             {hit("b", 15, 6), hit("a", 25, 7)},
                                                             {hit("c", 26, 8), hit("d", 27, 9)}};

// Session windows of 4 s per page, append mode.
using session_row = sl::row<sl::field<"session_window", sl::time_window>, sl::field<"page", std::string>,
                            sl::field<"n", std::int64_t>, sl::field<"total", std::int64_t>>;
inline auto session_query(sl::memory_stream<Hit>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by(sl::session_window(sl::col<"ts">, 4s), sl::col<"page">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"v">).as<"total">());
}

// Group state: per page a running count and sum, emitted when the watermark passes 3 s after
// the page's latest row (an event-time timeout), append mode.
struct Tally {
  std::int64_t n = 0, total = 0, latest_us = 0;
};
BOOST_DESCRIBE_STRUCT(Tally, (), (n, total, latest_us))
struct PageTally {
  std::string page;
  std::int64_t n = 0, total = 0;
};
BOOST_DESCRIBE_STRUCT(PageTally, (), (page, n, total))
inline std::optional<PageTally> tally_page(const std::string& page, std::span<const Hit> values, sl::group_state<Tally>& s) {
  if (s.has_timed_out()) {
    const Tally t = s.get();
    s.remove();
    return PageTally{page, t.n, t.total};
  }
  Tally t = s.get_option().value_or(Tally{});
  for (const auto& h : values) {
    ++t.n;
    t.total += h.v;
    t.latest_us = std::max(t.latest_us, h.ts.micros);
  }
  s.update(t);
  s.set_timeout_timestamp(sl::timestamp{t.latest_us}, 3s);
  return std::nullopt;
}
inline auto group_state_query(sl::memory_stream<Hit>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by_key(sl::col<"page">) |
         sl::flat_map_groups_with_state<Tally>(tally_page, sl::output_mode::append, sl::group_state_timeout::event_time);
}

// transform_with_state: the same tally in a value state, emitted by an event-time timer 3 s
// after the page's latest row; the rows' values listed too.
struct TallyProcessor {
  sl::value_state<Tally> tally;
  sl::list_state<std::int64_t> values;
  sl::processor_handle* handle = nullptr;
  void init(sl::processor_handle& h) {
    tally = h.get_value_state<Tally>("tally");
    values = h.get_list_state<std::int64_t>("values");
    handle = &h;
  }
  std::vector<PageTally> handle_input_rows(const std::string&, std::span<const Hit> rows, const sl::timer_values&) {
    Tally t = tally.get_option().value_or(Tally{});
    for (const auto& h : rows) {
      ++t.n;
      t.total += h.v;
      t.latest_us = std::max(t.latest_us, h.ts.micros);
      values.append_value(h.v);
    }
    for (auto timer : handle->list_timers()) handle->delete_timer(timer);
    handle->register_timer(t.latest_us / 1000 + 3000);
    tally.update(t);
    return {};
  }
  std::vector<PageTally> handle_expired_timer(const std::string& page, const sl::timer_values&,
                                              const sl::expired_timer_info&) {
    const Tally t = tally.get();
    std::int64_t weighted = 0, i = 0;  // the values in their order
    for (auto v : values.get()) weighted += ++i * v;
    tally.clear();
    values.clear();
    return {PageTally{page, t.n, t.total * 1000 + weighted}};
  }
};
inline auto transform_with_state_query(sl::memory_stream<Hit>& in) {
  return in | sl::with_watermark(sl::col<"ts">, 5s) | sl::group_by_key(sl::col<"page">) |
         sl::transform_with_state(TallyProcessor{}, sl::time_mode::event_time, sl::output_mode::append);
}

}  // namespace keyed_state_queries
