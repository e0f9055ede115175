// A source's planned_rows hint (graph/source.hpp): with no stage between source and sink the
// engine reserves its batch buffer for the planned count, so the rows are not moved by the
// buffer growing; a wrong hint (too small, too large, none) still gives exactly the rows.
#include <catch2/catch.hpp>

#include <boost/describe.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace sl = sluice;

namespace {

// Counts the row constructions from another row (copies and moves): each row enters the batch
// buffer once; a buffer that reallocates moves them all again.
inline std::int64_t relocations = 0;

struct counted_row {
  std::int64_t id = 0;
  counted_row() = default;
  explicit counted_row(std::int64_t i) : id(i) {}
  counted_row(const counted_row& o) : id(o.id) { ++relocations; }
  counted_row(counted_row&& o) noexcept : id(o.id) { ++relocations; }
  counted_row& operator=(const counted_row&) = default;
  counted_row& operator=(counted_row&&) noexcept = default;
};
BOOST_DESCRIBE_STRUCT(counted_row, (), (id))

struct count_offset {
  std::int64_t rows = 0;
};
BOOST_DESCRIBE_STRUCT(count_offset, (), (rows))

struct count_range {
  std::int64_t from = 0, to = 0;
};

// Rows 0, 1, ... up to `total`, all in the first batch; reports `hint` as its planned count.
struct hinted_source {
  using row_type = counted_row;
  using offset_type = count_offset;
  using partition_type = count_range;
  std::int64_t total = 0;
  std::optional<std::size_t> hint;

  count_offset initial_offset() { return {0}; }
  count_offset latest_offset(const count_offset&, sl::read_limit) { return {total}; }
  std::vector<count_range> partitions(const count_offset& s, const count_offset& e) { return {{s.rows, e.rows}}; }
  template <class Emit>
  void read(const count_range& r, Emit&& emit) {
    for (auto i = r.from; i < r.to; ++i) emit(counted_row(i));
  }
  std::optional<std::size_t> planned_rows(const count_offset&, const count_offset&) { return hint; }
  void commit(const count_offset&) {}
  std::string description() const { return "hinted_source"; }
};

struct batch_seen {
  std::vector<std::int64_t> ids;
  std::int64_t relocations = -1;  // constructions from another row until the sink saw the batch
};

batch_seen run_one_batch(std::int64_t total, std::optional<std::size_t> hint) {
  batch_seen seen;
  relocations = 0;
  auto q = sl::start(hinted_source{total, hint} |
                     sl::foreach_batch([&seen](std::span<const counted_row> rows, std::int64_t) {
                       if (rows.empty()) return;
                       seen.relocations = relocations;
                       for (const auto& r : rows) seen.ids.push_back(r.id);
                     }),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  return seen;
}

std::vector<std::int64_t> iota_ids(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("planned_rows: an exact hint reserves the batch buffer: no row is moved twice", "[source][planned_rows]") {
  const auto seen = run_one_batch(10'000, 10'000);
  CHECK(seen.ids == iota_ids(10'000));
  CHECK(seen.relocations == 10'000);  // one move into the buffer per row, none from growing it
}

TEST_CASE("planned_rows: without a hint the buffer grows (what the hint saves)", "[source][planned_rows]") {
  const auto seen = run_one_batch(10'000, std::nullopt);
  CHECK(seen.ids == iota_ids(10'000));
  CHECK(seen.relocations > 10'000);
}

TEST_CASE("planned_rows: a wrong hint still gives exactly the rows", "[source][planned_rows]") {
  for (const std::size_t hint : {std::size_t{0}, std::size_t{1}, std::size_t{3'333}, std::size_t{1'000'000}}) {
    INFO("hint " << hint);
    const auto seen = run_one_batch(10'000, hint);
    CHECK(seen.ids == iota_ids(10'000));
  }
}

TEST_CASE("planned_rows: memory_stream plans the rows of its add_data calls", "[source][planned_rows]") {
  auto in = sl::memory_stream<counted_row>();
  std::vector<counted_row> first(5'000), second(3'000);
  for (std::size_t i = 0; i < first.size(); ++i) first[i].id = static_cast<std::int64_t>(i);
  for (std::size_t i = 0; i < second.size(); ++i) second[i].id = static_cast<std::int64_t>(5'000 + i);
  in.add_data(std::move(first));
  in.add_data(std::move(second));
  std::int64_t at_sink = -1;
  std::size_t rows_seen = 0;
  relocations = 0;
  auto q = sl::start(in | sl::foreach_batch([&](std::span<const counted_row> rows, std::int64_t) {
                       if (rows.empty()) return;
                       at_sink = relocations;
                       rows_seen += rows.size();
                       CHECK(rows.back().id == 7'999);
                     }),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  CHECK(rows_seen == 8'000);
  CHECK(at_sink == 8'000);  // one copy out of the stream per row, none from the buffer growing
}
