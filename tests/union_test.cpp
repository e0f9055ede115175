// sl::union_all / sl::union_with (ops/union.hpp): the rows of several inputs of one row type as
// one stream; an input without new data in a batch adds nothing, the others still run; each
// input keeps its own stages and watermark (the query's is the min over them); every input's
// offsets are checkpointed, so a restart reads only what each has not given yet.
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto keys() {
  return sl::map([](const Event& e) { return e.key; });
}
}  // namespace

TEST_CASE("union: rows of every input, each input with its own stages before the union", "[union]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto c = sl::memory_stream<Event>();
  auto q = sl::union_all(a, b | sl::filter([](const Event& e) { return e.value > 0; }),
                         c | sl::map([](Event e) {
                           e.key = "c:" + e.key;
                           return e;
                         })) |
           keys();
  STATIC_REQUIRE(std::is_same_v<decltype(q)::row_type, std::string>);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::multi_add_data(st::add_data(a, {ev(1s, "a1")}),
                                                     st::add_data(b, {ev(1s, "b1", 1), ev(1s, "b0", 0)}),
                                                     st::add_data(c, {ev(1s, "x")})),
                                  st::check_new_answer("a1", "b1", "c:x"),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.last_progress();
                                    REQUIRE(p);
                                    REQUIRE(p->sources.size() == 3);
                                    CHECK(p->sources[0].num_input_rows == 1);
                                    CHECK(p->sources[1].num_input_rows == 2);  // before the filter
                                    CHECK(p->sources[2].num_input_rows == 1);
                                    CHECK(p->sink.num_output_rows == 3);
                                  })));
}

TEST_CASE("union: an input without new data adds nothing, the others still run", "[union]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto q = (a | sl::union_with(b)) | keys();
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(b, {ev(1s, "b1")}),
                                  st::check_last_batch("b1"),
                                  st::add_data(a, std::vector<Event>{}),  // a batch, but no rows
                                  st::check_last_batch(),
                                  st::add_data(a, {ev(1s, "a1"), ev(1s, "a2")}),
                                  st::check_last_batch_in_order("a1", "a2"),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.last_progress();
                                    REQUIRE(p);
                                    return p->sources.size() == 2 && p->sources[0].num_input_rows == 2 &&
                                           p->sources[1].num_input_rows == 0;
                                  }, "only the first input read rows in the last batch"),
                                  st::check_answer("b1", "a1", "a2")));
}

TEST_CASE("union: unions nest, union_with after union_all and into another union", "[union]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto c = sl::memory_stream<Event>();
  auto d = sl::memory_stream<Event>();
  auto q = sl::union_all(sl::union_all(a, b) | sl::union_with(c), d) | keys();
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::multi_add_data(st::add_data(a, {ev(1s, "a")}), st::add_data(b, {ev(1s, "b")}),
                                                     st::add_data(c, {ev(1s, "c")}), st::add_data(d, {ev(1s, "d")})),
                                  st::check_answer("a", "b", "c", "d"),
                                  st::assert_on_query([](sl::streaming_query& sq) {
                                    const auto p = sq.last_progress();
                                    return p && p->sources.size() == 4;
                                  }, "four sources in the progress")));
}

TEST_CASE("union: each input keeps its watermark, the query's is the slowest input's", "[union]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  const auto wm = sl::with_watermark(sl::col<"timestamp">, 5s);
  auto q = sl::union_all(a | wm, b | wm) | sl::group_by(sl::window(sl::col<"timestamp">, 10s)) |
           sl::aggregate(sl::count());
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::multi_add_data(st::add_data(a, {ev(1s), ev(40s)}), st::add_data(b, {ev(2s), ev(20s)})),
                                  st::check_new_answer(wc(0, 10, 2)),  // min(35, 15) = 15 closes [0, 10) only
                                  st::assert_watermark(15s),
                                  st::add_data(b, {ev(50s)}),  // now min(35, 45) = 35
                                  st::check_new_answer(wc(20, 30, 1)),
                                  st::assert_watermark(35s),
                                  st::add_data(a, {ev(12s)}),  // late against 35 s: dropped, whichever input
                                  st::check_new_answer(),
                                  st::assert_dropped(1)));
}

TEST_CASE("union: a restart reads each input from its own checkpointed offset", "[union]") {
  auto a = sl::memory_stream<Event>();
  auto b = sl::memory_stream<Event>();
  auto q = sl::union_all(a, b) | keys();
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::append,
                                  st::add_data(a, {ev(1s, "a1")}),
                                  st::check_new_answer("a1"),
                                  st::add_data(b, {ev(1s, "b1")}),
                                  st::check_new_answer("b1"),
                                  st::stop_stream(),
                                  st::add_data(b, {ev(1s, "b2")}),
                                  st::start_stream(),
                                  st::check_new_answer("b2"),
                                  st::add_data(a, {ev(1s, "a2")}),
                                  st::check_new_answer("a2"),
                                  st::check_answer("a1", "b1", "b2", "a2")));
}
