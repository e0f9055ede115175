// Rows -> Parquet data files of a Delta table, through parquet::arrow, with the per-file
// statistics Delta keeps in each add action (PROTOCOL.md, "Per-file Statistics"):
//   {"numRecords":3,"minValues":{"user_id":1,"window":{"start":"...","end":"..."}},
//    "maxValues":{...},"nullCount":{"user_id":0,"window":{"start":0,"end":0}}}
// minValues/maxValues hold numbers, strings and timestamps (ISO-8601, milliseconds: the
// minimum rounded down, the maximum up, so both stay bounds); booleans and arrays get a
// nullCount only (arrays: nothing), as Spark collects them. Strings longer than 32 bytes keep
// a 32-byte prefix as their minimum and no maximum (a prefix is no upper bound); a float
// column holding NaN or an infinity gets no min/max.
//
// A data file is written under a unique name (part-<n>-<uuid>.c000.<codec>.parquet), closed,
// and fsynced; nothing refers to it until a commit lists it, so a crash leaves at most an
// unreferenced file (which readers never see).
#pragma once
#include <arrow/io/file.h>
#include <fcntl.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <boost/json.hpp>

#include "../checkpoint/file_io.hpp"
#include "../detail/uuid.hpp"
#include "arrow_schema.hpp"

namespace sluice::delta {

enum class compression { uncompressed, snappy, zstd };

struct parquet_write_options {
  compression codec = compression::snappy;
  // Rows per Parquet row group (at most).
  std::int64_t row_group_size = 1 << 20;
  // A data file is closed, and the next one started, once it holds at least this many bytes
  // (checked after each row group).
  std::int64_t target_file_size = std::int64_t{128} << 20;
  // Inserted into each file name before ".c000" ("part-<n>-<uuid>-<name_tag>.c000...") so that
  // a writer can recognise its own files (the Delta sink: its query and batch).
  std::string name_tag{};
};

// A data file written and synced, not yet committed.
struct written_file {
  std::string relative_path;  // from the table root, not encoded ("p=a%3Ab/part-...parquet")
  std::int64_t size = 0;
  std::int64_t rows = 0;
  std::int64_t modification_time = 0;  // ms since the epoch
  std::string stats;                   // the add action's stats JSON
};

namespace detail {
using sluice::detail::random_uuid;

inline constexpr std::size_t stats_string_prefix = 32;

// The longest prefix of s of at most n bytes that does not cut a UTF-8 sequence.
inline std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

inline std::int64_t floor_ms(std::int64_t us) { return (us >= 0 ? us : us - 999) / 1000; }

// Statistics of one column of type T (see the top of this header).
template <class T>
struct column_stats {
  static constexpr bool has_bounds = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;
  std::optional<T> min, max;
  std::int64_t nulls = 0;
  bool bounds_ok = true;
  void add(const T& v) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v)) {
        bounds_ok = false;
        return;
      }
    }
    if constexpr (has_bounds) {
      if (!min || v < *min) min = v;
      if (!max || v > *max) max = v;
    }
  }
  void add_null() { ++nulls; }
  void put(std::string_view name, boost::json::object& mins, boost::json::object& maxs,
           boost::json::object& nulls_out) const {
    nulls_out[name] = nulls;
    if constexpr (has_bounds) {
      if (!bounds_ok || !min) return;
      if constexpr (std::is_floating_point_v<T>) {
        mins[name] = static_cast<double>(*min);
        maxs[name] = static_cast<double>(*max);
      } else {
        mins[name] = static_cast<std::int64_t>(*min);
        maxs[name] = static_cast<std::int64_t>(*max);
      }
    }
  }
};

template <>
struct column_stats<std::string> {
  std::optional<std::string> min, max;
  std::int64_t nulls = 0;
  void add(const std::string& v) {
    if (!min || v < *min) min = v;
    if (!max || v > *max) max = v;
  }
  void add_null() { ++nulls; }
  void put(std::string_view name, boost::json::object& mins, boost::json::object& maxs,
           boost::json::object& nulls_out) const {
    nulls_out[name] = nulls;
    if (!min) return;
    mins[name] = utf8_prefix(*min, stats_string_prefix);
    if (max->size() <= stats_string_prefix) maxs[name] = *max;
  }
};

template <>
struct column_stats<timestamp> {
  std::optional<std::int64_t> min, max;
  std::int64_t nulls = 0;
  void add(const timestamp& v) {
    if (!min || v.micros < *min) min = v.micros;
    if (!max || v.micros > *max) max = v.micros;
  }
  void add_null() { ++nulls; }
  void put(std::string_view name, boost::json::object& mins, boost::json::object& maxs,
           boost::json::object& nulls_out) const {
    nulls_out[name] = nulls;
    if (!min) return;
    // Milliseconds, as Spark writes them: round the minimum down and the maximum up.
    const std::int64_t lo = floor_ms(*min) * 1000;
    const std::int64_t hi_floor = floor_ms(*max) * 1000;
    const std::int64_t hi = hi_floor == *max ? hi_floor : hi_floor + 1000;
    mins[name] = format_timestamp(timestamp{lo});
    maxs[name] = format_timestamp(timestamp{hi});
  }
};

template <class T>
struct column_stats<std::optional<T>> {
  column_stats<T> inner;
  void add(const std::optional<T>& v) {
    if (v) inner.add(*v);
    else inner.add_null();
  }
  void add_null() { inner.add_null(); }
  void put(std::string_view name, boost::json::object& mins, boost::json::object& maxs,
           boost::json::object& nulls_out) const {
    inner.put(name, mins, maxs, nulls_out);
  }
};

template <class T, class A>
struct column_stats<std::vector<T, A>> {  // Spark keeps no statistics for arrays
  void add(const std::vector<T, A>&) {}
  void add_null() {}
  void put(std::string_view, boost::json::object&, boost::json::object&, boost::json::object&) const {}
};

template <class L>
struct stats_tuple;
template <class... C>
struct stats_tuple<boost::mp11::mp_list<C...>> {
  using type = std::tuple<column_stats<typename C::type>...>;
};

// A struct column: statistics per field, nested as the protocol's example shows.
template <class R>
  requires record<R>
struct column_stats<R> {
  typename stats_tuple<columns_of<R>>::type fields;
  void add(const R& v) {
    boost::mp11::mp_for_each<boost::mp11::mp_iota_c<std::tuple_size_v<decltype(fields)>>>([&](auto I) {
      using C = boost::mp11::mp_at_c<columns_of<R>, I>;
      std::get<I>(fields).add(sluice::get<C::name>(v));
    });
  }
  void add_null() {
    std::apply([](auto&... s) { (s.add_null(), ...); }, fields);
  }
  void put(std::string_view name, boost::json::object& mins, boost::json::object& maxs,
           boost::json::object& nulls_out) const {
    boost::json::object mn, mx, nl;
    put_fields(mn, mx, nl, {});
    if (!mn.empty()) mins[name] = std::move(mn);
    if (!mx.empty()) maxs[name] = std::move(mx);
    nulls_out[name] = std::move(nl);
  }
  // The fields' statistics into the three objects; `keep` (empty: all) leaves fields out.
  void put_fields(boost::json::object& mins, boost::json::object& maxs, boost::json::object& nulls_out,
                  const std::vector<bool>& keep) const {
    std::size_t i = 0;
    boost::mp11::mp_for_each<boost::mp11::mp_iota_c<std::tuple_size_v<decltype(fields)>>>([&](auto I) {
      using C = boost::mp11::mp_at_c<columns_of<R>, I>;
      if (keep.empty() || keep[i]) std::get<I>(fields).put(C::name.view(), mins, maxs, nulls_out);
      ++i;
    });
  }

};

inline parquet::Compression::type parquet_codec(compression c) {
  switch (c) {
    case compression::snappy: return parquet::Compression::SNAPPY;
    case compression::zstd: return parquet::Compression::ZSTD;
    default: return parquet::Compression::UNCOMPRESSED;
  }
}
inline std::string_view codec_suffix(compression c) {
  switch (c) {
    case compression::snappy: return ".snappy";
    case compression::zstd: return ".zstd";
    default: return "";
  }
}
}  // namespace detail

// Writes rows of one partition (or of an unpartitioned table) into Parquet data files under
// `table / directory`, keeping the columns whose `keep` flag is set (partition columns are
// left out). Files are closed at `target_file_size`; each is fsynced, and so are the
// directories, before write_files returns.
template <record Row>
class parquet_files_writer {
 public:
  parquet_files_writer(std::filesystem::path table, parquet_write_options options, std::vector<bool> keep)
      : table_(std::move(table)), options_(options), keep_(std::move(keep)), builder_(keep_) {
    if (keep_.empty()) keep_.assign(column_count_v<Row>, true);
    if (options_.row_group_size <= 0) throw delta_error("sluice::delta: row_group_size must be positive");
    parquet::WriterProperties::Builder props;
    props.compression(detail::parquet_codec(options_.codec));
    props.max_row_group_length(options_.row_group_size);
    props.created_by("sluice");
    props_ = props.build();
    arrow_props_ = parquet::ArrowWriterProperties::Builder().build();
  }

  // Writes the rows `rows[i]` for i in `indices` into one or more files under `directory`
  // (relative to the table, "" for the root).
  std::vector<written_file> write_files(const std::string& directory, std::span<const Row> rows,
                                        std::span<const std::size_t> indices) {
    namespace fs = std::filesystem;
    std::vector<written_file> out;
    const fs::path dir = directory.empty() ? table_ : table_ / directory;
    fs::create_directories(dir);
    std::size_t next = 0;
    while (next < indices.size()) {
      const std::string name = "part-" + five_digits(file_counter_++) + "-" + detail::random_uuid() +
                               (options_.name_tag.empty() ? std::string() : "-" + options_.name_tag) + ".c000" +
                               std::string(detail::codec_suffix(options_.codec)) + ".parquet";
      const fs::path file = dir / name;
      auto opened = arrow::io::FileOutputStream::Open(file.string());
      if (!opened.ok()) detail::arrow_fail(opened.status(), "cannot create " + file.string());
      auto stream = std::move(opened).ValueOrDie();
      auto made = parquet::arrow::FileWriter::Open(*builder_.schema(), arrow::default_memory_pool(), stream, props_,
                                                   arrow_props_);
      if (!made.ok()) detail::arrow_fail(made.status(), "cannot write Parquet to " + file.string());
      auto writer = std::move(made).ValueOrDie();
      detail::column_stats<Row> stats;
      std::int64_t file_rows = 0;
      while (next < indices.size()) {
        const std::size_t end = std::min(indices.size(), next + static_cast<std::size_t>(options_.row_group_size));
        for (std::size_t k = next; k < end; ++k) {
          const Row& r = rows[indices[k]];
          builder_.append(r);
          stats.add(r);
        }
        file_rows += static_cast<std::int64_t>(end - next);
        next = end;
        const auto batch = builder_.finish();
        detail::arrow_check(writer->NewBufferedRowGroup(), "Parquet row group in " + file.string());
        detail::arrow_check(writer->WriteRecordBatch(*batch), "Parquet write to " + file.string());
        auto pos = stream->Tell();
        // Buffered row groups reach the stream when the next starts: count what is pending too.
        if (pos.ok() && *pos + batch_bytes(*batch) >= options_.target_file_size) break;
      }
      detail::arrow_check(writer->Close(), "closing Parquet file " + file.string());
      detail::arrow_check(stream->Close(), "closing " + file.string());
      sluice::detail::fsync_path<delta_error>(file, false);
      written_file w;
      w.relative_path = directory.empty() ? name : directory + "/" + name;
      w.size = static_cast<std::int64_t>(fs::file_size(file));
      w.rows = file_rows;
      w.modification_time = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      boost::json::object mins, maxs, nulls;
      stats.put_fields(mins, maxs, nulls, keep_);
      w.stats = sluice::json_text(boost::json::object{
          {"numRecords", file_rows}, {"minValues", std::move(mins)}, {"maxValues", std::move(maxs)},
          {"nullCount", std::move(nulls)}});
      out.push_back(std::move(w));
    }
    // The directories that now hold new entries, up to the table root.
    for (fs::path d = dir;; d = d.parent_path()) {
      sluice::detail::fsync_path<delta_error>(d, true);
      if (d == table_ || !d.has_parent_path() || d == d.parent_path()) break;
    }
    return out;
  }

 private:
  static std::string five_digits(std::int64_t n) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%05lld", static_cast<long long>(n));
    return buf;
  }
  static std::int64_t batch_bytes(const arrow::RecordBatch& b) {
    std::int64_t n = 0;
    for (const auto& c : b.columns())
      for (const auto& buf : c->data()->buffers)
        if (buf) n += buf->size();
    return n / 4;  // a rough guess of the encoded, compressed size
  }

  std::filesystem::path table_;
  parquet_write_options options_;
  std::vector<bool> keep_;
  arrow_batch_builder<Row> builder_;
  std::shared_ptr<parquet::WriterProperties> props_;
  std::shared_ptr<parquet::ArrowWriterProperties> arrow_props_;
  std::int64_t file_counter_ = 0;
};

}  // namespace sluice::delta
