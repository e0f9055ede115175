// Every column type sl::delta::sink writes reads back through sl::delta::read as the same rows
// (extremes, nulls, nested structs, lists, unsigned integers stored widened), also when the
// table is partitioned by columns of several types; and a value too big for the field is an
// error naming the column and the row.
#include "reader_support.hpp"

#include <sluice/delta.hpp>

#include <limits>

using namespace reader_test;
namespace delta = sluice::delta;

namespace {
struct Inner {
  std::int32_t x = 0;
  std::optional<std::string> label;
  friend bool operator==(const Inner&, const Inner&) = default;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (x, label))

struct Every {
  bool flag = false;
  std::int8_t i8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::int64_t i64 = 0;
  std::uint8_t u8 = 0;
  std::uint16_t u16 = 0;
  std::uint32_t u32 = 0;
  float f32 = 0;
  double f64 = 0;
  std::string text;
  sl::timestamp ts;
  std::optional<std::int64_t> maybe_long;
  std::optional<std::string> maybe_text;
  std::optional<sl::timestamp> maybe_ts;
  sl::time_window window;
  Inner inner;
  std::optional<Inner> maybe_inner;
  std::vector<std::int64_t> longs;
  std::vector<std::optional<std::string>> texts;
  friend bool operator==(const Every&, const Every&) = default;
};
BOOST_DESCRIBE_STRUCT(Every, (), (flag, i8, i16, i32, i64, u8, u16, u32, f32, f64, text, ts, maybe_long, maybe_text,
                                  maybe_ts, window, inner, maybe_inner, longs, texts))

// Partition columns of several types (and a null), with the data in `payload`.
struct Parted {
  std::int64_t id = 0;
  std::optional<std::string> country;
  std::int32_t year = 0;
  bool active = false;
  sl::timestamp day;
  double payload = 0;
  friend bool operator==(const Parted&, const Parted&) = default;
};
BOOST_DESCRIBE_STRUCT(Parted, (), (id, country, year, active, day, payload))

struct Narrow {
  std::uint8_t u16;  // the table's u16 column holds values up to 65535
};
BOOST_DESCRIBE_STRUCT(Narrow, (), (u16))

std::vector<Every> every_rows() {
  std::vector<Every> out;
  for (int i = 0; i < 40; ++i) {
    Every e;
    e.flag = i % 2 == 1;
    e.i8 = static_cast<std::int8_t>(i % 2 ? std::numeric_limits<std::int8_t>::min() + i : 127 - i);
    e.i16 = static_cast<std::int16_t>(i % 3 ? -32768 + i : 32767 - i);
    e.i32 = i % 5 ? std::numeric_limits<std::int32_t>::min() + i : std::numeric_limits<std::int32_t>::max() - i;
    e.i64 = i % 7 ? std::numeric_limits<std::int64_t>::min() + i : std::numeric_limits<std::int64_t>::max() - i;
    e.u8 = static_cast<std::uint8_t>(255 - i);
    e.u16 = static_cast<std::uint16_t>(65535 - i);
    e.u32 = std::numeric_limits<std::uint32_t>::max() - static_cast<std::uint32_t>(i);
    e.f32 = static_cast<float>(i) * 0.25f - 3.5f;
    e.f64 = i * -1.0e300 / 7;
    e.text = i % 4 == 0 ? std::string() : "t\xc3\xa9xt \"" + std::to_string(i) + "\"\n";
    e.ts = sl::timestamp{(i - 20) * 86'400'000'000LL + i};  // before and after 1970
    if (i % 3) e.maybe_long = -i;
    if (i % 4) e.maybe_text = std::string(static_cast<std::size_t>(i), 'x');
    if (i % 5) e.maybe_ts = sl::timestamp{1'705'314'600'000'000LL + i};
    e.window = {sl::timestamp{i * 300'000'000LL}, sl::timestamp{(i + 1) * 300'000'000LL}};
    e.inner = {i, i % 2 ? std::optional<std::string>("in" + std::to_string(i)) : std::nullopt};
    if (i % 3 == 1) e.maybe_inner = Inner{-i, std::nullopt};
    for (int k = 0; k < i % 5; ++k) e.longs.push_back(k * 1'000'000'000'000LL);
    for (int k = 0; k < i % 3; ++k) e.texts.push_back(k == 1 ? std::nullopt : std::optional<std::string>("s" + std::to_string(k)));
    out.push_back(std::move(e));
  }
  return out;
}
}  // namespace

TEST_CASE("delta read gives back every column type the sink writes", "[delta][read]") {
  const auto table = fresh_dir("roundtrip") / "t";
  const auto rows = every_rows();
  auto sink = delta::sink(table, {.codec = delta::compression::zstd, .row_group_size = 7, .app_id = "roundtrip"})
                  .bind<Every>();
  sink.add_batch(0, std::span<const Every>(rows).subspan(0, 25));
  sink.add_batch(1, std::span<const Every>(rows).subspan(25));
  auto back = delta::read<Every>(table);
  std::sort(back.begin(), back.end(), [](const Every& a, const Every& b) { return a.ts < b.ts; });
  REQUIRE(back.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i << ": " << sl::to_json_string(back[i]) << "\nexpected " << sl::to_json_string(rows[i]));
    CHECK(back[i] == rows[i]);
  }
  // A u16 column read into a uint8_t field: refused at the first value that does not fit.
  CHECK_THROWS_WITH(delta::read<Narrow>(table),
                    Catch::Contains("column 'u16' of ") && Catch::Contains("does not convert"));
}

TEST_CASE("delta read fills partition columns of every scalar type from the log", "[delta][read]") {
  const auto table = fresh_dir("parted") / "t";
  std::vector<Parted> rows;
  const char* countries[] = {"DE", "a b/c", "x:y=z%", nullptr};
  for (int i = 0; i < 24; ++i) {
    Parted p;
    p.id = i;
    if (const char* c = countries[i % 4]) p.country = c;
    p.year = 2020 + i % 3;
    p.active = i % 2 == 0;
    p.day = sl::timestamp{1'705'276'800'000'000LL + (i % 2) * 86'400'000'000LL + (i % 2) * 123'456};
    p.payload = i * 0.5;
    rows.push_back(p);
  }
  auto sink = delta::sink(table, {.partition_by = {"country", "year", "active", "day"}, .app_id = "parted"}).bind<Parted>();
  sink.add_batch(0, rows);
  auto back = delta::read<Parted>(table);
  std::sort(back.begin(), back.end(), [](const Parted& a, const Parted& b) { return a.id < b.id; });
  CHECK(back == rows);
  // Every data file holds only id and payload: the partition values are the log's.
  for (const auto& [path, add] : delta::load_snapshot(table).files) {
    CHECK(add.partition_values.size() == 4);
    CHECK(path.find("country=") == 0);
  }
}
