// sl::sort_by and sl::limit (ops/sort.hpp), after a complete-mode aggregation as Spark allows:
// by a column ascending or descending, by a key function or a comparator; limit(n) keeps the
// first n rows of each result (0: none; more than there are: all); each batch's whole result
// is sorted again; a batch without rows; a restart sorts the restored groups with the new ones.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "semantics_support.hpp"

using namespace sem;

namespace {
auto counts_by_key(sl::memory_stream<Event>& in) {
  return in | sl::group_by(sl::col<"key">) | sl::aggregate(sl::count(), sl::sum(sl::col<"value">));
}
using counted = decltype(counts_by_key(std::declval<sl::memory_stream<Event>&>()))::row_type;
counted row(std::string key, std::int64_t count, std::int64_t sum) { return {{std::move(key)}, {count}, {sum}}; }
}  // namespace

TEST_CASE("sort: by a column, ascending by default or descending", "[sort]") {
  SECTION("ascending") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by(sl::col<"key">);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                    st::add_data(in, {ev(1s, "c", 1), ev(1s, "a", 2), ev(1s, "b", 3), ev(1s, "a", 4)}),
                                    st::check_last_batch_in_order(row("a", 2, 6), row("b", 1, 3), row("c", 1, 1))));
  }
  SECTION("descending") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by(sl::col<"sum(value)">, sl::sort_order::descending);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                    st::add_data(in, {ev(1s, "c", 1), ev(1s, "a", 2), ev(1s, "b", 3), ev(1s, "a", 4)}),
                                    st::check_last_batch_in_order(row("a", 2, 6), row("b", 1, 3), row("c", 1, 1))));
  }
}

TEST_CASE("sort: by a key function or by a comparator", "[sort]") {
  SECTION("key function: the length of the key") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by([](const counted& r) { return sl::get<"key">(r).size(); });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                    st::add_data(in, {ev(1s, "ccc", 1), ev(1s, "a", 1), ev(1s, "bb", 1)}),
                                    st::check_last_batch_in_order(row("a", 1, 1), row("bb", 1, 1), row("ccc", 1, 1))));
  }
  SECTION("comparator: count descending, then key ascending") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by([](const counted& a, const counted& b) {
               if (sl::get<"count">(a) != sl::get<"count">(b)) return sl::get<"count">(a) > sl::get<"count">(b);
               return sl::get<"key">(a) < sl::get<"key">(b);
             });
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                    st::add_data(in, {ev(1s, "b", 1), ev(1s, "z", 1), ev(1s, "z", 1), ev(1s, "a", 1)}),
                                    st::check_last_batch_in_order(row("z", 2, 2), row("a", 1, 1), row("b", 1, 1))));
  }
}

TEST_CASE("sort: limit keeps the first n rows, none for 0, all when there are fewer", "[sort]") {
  SECTION("top 2") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by(sl::col<"key">) | sl::limit(2);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                    st::add_data(in, {ev(1s, "d", 1), ev(1s, "b", 1), ev(1s, "c", 1), ev(1s, "a", 1)}),
                                    st::check_last_batch_in_order(row("a", 1, 1), row("b", 1, 1))));
  }
  SECTION("limit 0") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::limit(0);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete, st::add_data(in, {ev(1s, "a", 1)}),
                                    st::check_last_batch(),
                                    st::assert_state_rows(1)));  // the aggregation still holds its group
  }
  SECTION("more than there are") {
    auto in = sl::memory_stream<Event>();
    auto q = counts_by_key(in) | sl::sort_by(sl::col<"key">) | sl::limit(10);
    REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete, st::add_data(in, {ev(1s, "b", 1), ev(1s, "a", 1)}),
                                    st::check_last_batch_in_order(row("a", 1, 1), row("b", 1, 1))));
  }
}

TEST_CASE("sort: every batch sorts the whole result again, a batch without rows too", "[sort]") {
  auto in = sl::memory_stream<Event>();
  auto q = counts_by_key(in) | sl::sort_by(sl::col<"count">, sl::sort_order::descending) | sl::limit(2);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "a", 1), ev(1s, "a", 1), ev(1s, "b", 1)}),
                                  st::check_last_batch_in_order(row("a", 2, 2), row("b", 1, 1)),
                                  st::add_data(in, {ev(1s, "c", 1), ev(1s, "c", 1), ev(1s, "c", 1)}),
                                  st::check_last_batch_in_order(row("c", 3, 3), row("a", 2, 2)),
                                  st::add_data(in, std::vector<Event>{}),
                                  st::check_last_batch_in_order(row("c", 3, 3), row("a", 2, 2))));
}

TEST_CASE("sort: after a restart the restored groups are sorted with the new ones", "[sort]") {
  auto in = sl::memory_stream<Event>();
  auto q = counts_by_key(in) | sl::sort_by(sl::col<"key">, sl::sort_order::descending);
  REQUIRE_NOTHROW(st::test_stream(q, sl::output_mode::complete,
                                  st::add_data(in, {ev(1s, "b", 1), ev(1s, "d", 1)}),
                                  st::check_last_batch_in_order(row("d", 1, 1), row("b", 1, 1)),
                                  st::stop_stream(),
                                  st::add_data(in, {ev(1s, "c", 5), ev(1s, "b", 2)}),
                                  st::start_stream(),
                                  st::check_last_batch_in_order(row("d", 1, 1), row("c", 1, 5), row("b", 2, 3))));
}
