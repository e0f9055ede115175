// Parquet data files -> rows of a described struct or a generated row (sl::row<...>), through
// parquet::arrow. Columns are matched by name, so a file's column order does not matter and
// extra columns are ignored. Types are checked once per column, with errors naming the file and
// the column; a value is converted only when nothing is lost:
//   field type         accepted Arrow/Parquet column types
//   bool               bool
//   integers           any integer type whose whole range fits the field (int32 -> int64, not
//                      back); uint8/16/32 also from int16/32/64, as sl::delta::sink stores them,
//                      with a range check per value
//   float / double     float / float, double
//   std::string        string, large_string, string_view
//   sl::timestamp      timestamp in s/ms/us/ns, with or without a time zone (Spark's timestamp
//                      and timestamp_ntz), read as microseconds since the epoch
//   std::optional<T>   T, nullable; a null in a non-optional field is an error
//   std::vector<T>     list, large_list
//   structs / rows     struct, children by name (sl::time_window: struct<start, end>)
// Delta keeps partition values in the log, not in the data files: read_parquet_rows fills the
// partition columns from an add action's partitionValues (strings parsed into the field type).
#pragma once
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../detail/traits.hpp"
#include "../schema.hpp"
#include "../time.hpp"
#include "actions.hpp"

namespace sluice::delta {

namespace detail {
// Where a value comes from, for errors: "file F, column 'a.b'".
struct read_place {
  std::string file;
  std::string column;
  std::string describe() const { return "column '" + column + "' of " + file; }
};

[[noreturn]] inline void read_fail(const read_place& at, const std::string& message) {
  throw delta_error(at.describe() + ": " + message);
}

template <class T>
constexpr const char* field_type_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? "a signed integer" : "an unsigned integer";
  else if constexpr (std::is_floating_point_v<T>) return "a floating-point number";
  else if constexpr (std::is_same_v<T, std::string>) return "std::string";
  else if constexpr (std::is_same_v<T, timestamp>) return "sl::timestamp";
  else if constexpr (sluice::detail::is_vector_v<T>) return "std::vector";
  else return "a struct";
}

[[noreturn]] inline void type_mismatch(const read_place& at, const arrow::DataType& type, const char* field_type) {
  read_fail(at, "the file's type " + type.ToString() + " does not convert to the field's type (" + field_type + ")");
}

// The range of an Arrow integer type, to check that it fits the field before reading.
template <class T>
bool integer_type_fits(arrow::Type::type id) {
  using L = std::numeric_limits<T>;
  auto fits = [](auto lo, auto hi) {
    return static_cast<long double>(lo) >= static_cast<long double>(L::min()) &&
           static_cast<long double>(hi) <= static_cast<long double>(L::max());
  };
  switch (id) {
    case arrow::Type::INT8: return fits(INT8_MIN, INT8_MAX);
    case arrow::Type::INT16: return fits(INT16_MIN, INT16_MAX);
    case arrow::Type::INT32: return fits(INT32_MIN, INT32_MAX);
    case arrow::Type::INT64: return fits(INT64_MIN, INT64_MAX);
    case arrow::Type::UINT8: return fits(0, UINT8_MAX);
    case arrow::Type::UINT16: return fits(0, UINT16_MAX);
    case arrow::Type::UINT32: return fits(0, UINT32_MAX);
    case arrow::Type::UINT64: return fits(0, UINT64_MAX);
    default: return false;
  }
}

template <class T, class ArrowArray>
std::function<void(std::int64_t, T&)> numeric_reader(const arrow::Array& a) {
  const auto* arr = static_cast<const ArrowArray*>(&a);
  return [arr](std::int64_t i, T& out) { out = static_cast<T>(arr->Value(i)); };
}

// A reader of one (non-null-checked) value of T from row i of `a`; the type is checked here, once.
template <class T>
std::function<void(std::int64_t, T&)> value_reader(const std::shared_ptr<arrow::Array>& a, const read_place& at);

// The same, with null handling: a null makes an optional empty and is an error otherwise.
template <class T>
std::function<void(std::int64_t, T&)> nullable_reader(const std::shared_ptr<arrow::Array>& a, const read_place& at) {
  if constexpr (sluice::detail::is_optional_v<T>) {
    auto inner = value_reader<typename T::value_type>(a, at);
    const arrow::Array* arr = a.get();
    return [arr, inner = std::move(inner)](std::int64_t i, T& out) {
      if (arr->IsNull(i)) out.reset();
      else inner(i, out.emplace());
    };
  } else {
    auto inner = value_reader<T>(a, at);
    if (a->null_count() == 0) return inner;
    const arrow::Array* arr = a.get();
    return [arr, inner = std::move(inner), at](std::int64_t i, T& out) {
      if (arr->IsNull(i))
        read_fail(at, "null in row " + std::to_string(i) + ", but the field is not std::optional");
      inner(i, out);
    };
  }
}

template <class T>
std::function<void(std::int64_t, T&)> value_reader(const std::shared_ptr<arrow::Array>& a, const read_place& at) {
  const auto& type = *a->type();
  const auto id = type.id();
  if constexpr (std::is_same_v<T, bool>) {
    if (id != arrow::Type::BOOL) type_mismatch(at, type, "bool");
    return numeric_reader<T, arrow::BooleanArray>(*a);
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) <= 4) {
      // sl::delta::sink stores uint8/16/32 widened to the next signed type (Delta has no
      // unsigned types): read that back, checking each value's range.
      using S = std::conditional_t<sizeof(T) == 1, std::int16_t,
                                   std::conditional_t<sizeof(T) == 2, std::int32_t, std::int64_t>>;
      using A = std::conditional_t<sizeof(T) == 1, arrow::Int16Array,
                                   std::conditional_t<sizeof(T) == 2, arrow::Int32Array, arrow::Int64Array>>;
      if (id == A::TypeClass::type_id) {
        const auto* arr = static_cast<const A*>(a.get());
        return [arr, at](std::int64_t i, T& out) {
          const S v = arr->Value(i);
          if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
            read_fail(at, "value " + std::to_string(v) + " in row " + std::to_string(i) +
                              " does not fit the field's type (an unsigned integer)");
          out = static_cast<T>(v);
        };
      }
    }
    if (!integer_type_fits<T>(id)) type_mismatch(at, type, field_type_name<T>());
    switch (id) {
      case arrow::Type::INT8: return numeric_reader<T, arrow::Int8Array>(*a);
      case arrow::Type::INT16: return numeric_reader<T, arrow::Int16Array>(*a);
      case arrow::Type::INT32: return numeric_reader<T, arrow::Int32Array>(*a);
      case arrow::Type::INT64: return numeric_reader<T, arrow::Int64Array>(*a);
      case arrow::Type::UINT8: return numeric_reader<T, arrow::UInt8Array>(*a);
      case arrow::Type::UINT16: return numeric_reader<T, arrow::UInt16Array>(*a);
      case arrow::Type::UINT32: return numeric_reader<T, arrow::UInt32Array>(*a);
      default: return numeric_reader<T, arrow::UInt64Array>(*a);
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (id == arrow::Type::FLOAT) return numeric_reader<T, arrow::FloatArray>(*a);
    if (id == arrow::Type::DOUBLE && sizeof(T) >= sizeof(double)) return numeric_reader<T, arrow::DoubleArray>(*a);
    type_mismatch(at, type, field_type_name<T>());
  } else if constexpr (std::is_same_v<T, std::string>) {
    auto strings = [&]<class A>() -> std::function<void(std::int64_t, T&)> {
      const auto* arr = static_cast<const A*>(a.get());
      return [arr](std::int64_t i, T& out) {
        const auto v = arr->GetView(i);
        out.assign(v.data(), v.size());
      };
    };
    if (id == arrow::Type::STRING) return strings.template operator()<arrow::StringArray>();
    if (id == arrow::Type::LARGE_STRING) return strings.template operator()<arrow::LargeStringArray>();
    if (id == arrow::Type::STRING_VIEW) return strings.template operator()<arrow::StringViewArray>();
    type_mismatch(at, type, "std::string");
  } else if constexpr (std::is_same_v<T, timestamp>) {
    if (id != arrow::Type::TIMESTAMP) type_mismatch(at, type, "sl::timestamp");
    const auto unit = static_cast<const arrow::TimestampType&>(type).unit();
    const auto* arr = static_cast<const arrow::TimestampArray*>(a.get());
    switch (unit) {
      case arrow::TimeUnit::SECOND: return [arr](std::int64_t i, T& out) { out = timestamp{arr->Value(i) * 1'000'000}; };
      case arrow::TimeUnit::MILLI: return [arr](std::int64_t i, T& out) { out = timestamp{arr->Value(i) * 1'000}; };
      case arrow::TimeUnit::MICRO: return [arr](std::int64_t i, T& out) { out = timestamp{arr->Value(i)}; };
      default:  // nanoseconds (INT96 files): floor to microseconds
        return [arr](std::int64_t i, T& out) { out = timestamp{sluice::detail::floor_div(arr->Value(i), 1000)}; };
    }
  } else if constexpr (sluice::detail::is_vector_v<T>) {
    using E = typename T::value_type;
    auto lists = [&]<class A>() -> std::function<void(std::int64_t, T&)> {
      auto arr = std::static_pointer_cast<A>(a);
      read_place element_at{at.file, at.column + ".element"};
      auto element = nullable_reader<E>(arr->values(), element_at);
      return [arr, element = std::move(element)](std::int64_t i, T& out) {
        const auto begin = arr->value_offset(i), end = begin + arr->value_length(i);
        out.clear();
        out.resize(static_cast<std::size_t>(end - begin));
        for (auto k = begin; k < end; ++k) element(k, out[static_cast<std::size_t>(k - begin)]);
      };
    };
    if (id == arrow::Type::LIST) return lists.template operator()<arrow::ListArray>();
    if (id == arrow::Type::LARGE_LIST) return lists.template operator()<arrow::LargeListArray>();
    type_mismatch(at, type, "std::vector");
  } else if constexpr (record<T>) {
    if (id != arrow::Type::STRUCT) type_mismatch(at, type, "a struct");
    auto arr = std::static_pointer_cast<arrow::StructArray>(a);
    std::vector<std::function<void(std::int64_t, T&)>> children;
    for_each_column<T>([&](auto c) {
      using C = decltype(c);
      using F = typename C::type;
      read_place child_at{at.file, at.column + "." + std::string(C::name.view())};
      auto child = arr->GetFieldByName(std::string(C::name.view()));
      if (!child) {
        if constexpr (sluice::detail::is_optional_v<F>) {
          children.push_back([](std::int64_t, T& out) { get<C::name>(out).reset(); });
          return;
        } else {
          read_fail(child_at, "missing in the file (its struct has " + type.ToString() + ")");
        }
      }
      // GetFieldByName gives the child as stored; a null struct makes its children null too.
      auto read = nullable_reader<F>(child, child_at);
      children.push_back([read = std::move(read)](std::int64_t i, T& out) { read(i, get<C::name>(out)); });
    });
    return [arr, children = std::move(children)](std::int64_t i, T& out) {
      for (const auto& child : children) child(i, out);
    };
  } else {
    static_assert(sluice::detail::always_false_v<T>, "sluice::delta::read_parquet_rows: unsupported field type");
  }
}

// Field types a partition column can have (its values are strings in the log).
template <class T>
constexpr bool partition_field_type() {
  if constexpr (sluice::detail::is_optional_v<T>) return partition_field_type<typename T::value_type>();
  else return std::is_arithmetic_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, timestamp>;
}

// A partition value (a string in the log) as a field value; nullopt for a null partition value.
template <class T>
T partition_value_as(const std::optional<std::string>& text, const read_place& at) {
  if constexpr (sluice::detail::is_optional_v<T>) {
    if (!text) return T{};
    return T{partition_value_as<typename T::value_type>(text, at)};
  } else {
    if (!text) read_fail(at, "the partition value is null, but the field is not std::optional");
    const std::string& s = *text;
    auto bad = [&]() -> T { read_fail(at, "partition value '" + s + "' is not " + field_type_name<T>()); };
    if constexpr (std::is_same_v<T, bool>) {
      if (s == "true") return true;
      if (s == "false") return false;
      return bad();
    } else if constexpr (std::is_integral_v<T>) {
      T v{};
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size()) return bad();
      return v;
    } else if constexpr (std::is_floating_point_v<T>) {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) return bad();
      return static_cast<T>(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      return s;
    } else if constexpr (std::is_same_v<T, timestamp>) {
      const auto t = parse_timestamp(s);
      if (!t) return bad();
      return *t;
    } else {
      static_assert(sluice::detail::always_false_v<T>, "sluice::delta: unsupported partition column type");
    }
  }
}

inline std::shared_ptr<arrow::Table> read_parquet_table(const std::filesystem::path& file) {
  auto opened = arrow::io::ReadableFile::Open(file.string());
  if (!opened.ok()) throw delta_error("cannot open data file " + file.string() + ": " + opened.status().ToString());
  auto reader = parquet::arrow::OpenFile(*opened, arrow::default_memory_pool());
  if (!reader.ok())
    throw delta_error("data file " + file.string() + " is not a readable Parquet file: " + reader.status().ToString());
  auto table = (*reader)->ReadTable();
  if (!table.ok()) throw delta_error("cannot read data file " + file.string() + ": " + table.status().ToString());
  return *table;
}
}  // namespace detail

// The rows of one Parquet file as Row (a described struct or sl::row<...>), columns by name.
// Columns missing from the file are filled from `partition_values` when it names them (Delta's
// partition columns), left empty when the field is std::optional, and an error otherwise.
template <record Row>
std::vector<Row> read_parquet_rows(const std::filesystem::path& file, const partition_values_map& partition_values = {}) {
  const auto table = detail::read_parquet_table(file);
  const auto n = table->num_rows();
  std::vector<Row> rows(static_cast<std::size_t>(n));
  for_each_column<Row>([&](auto c) {
    using C = decltype(c);
    using F = typename C::type;
    const std::string name(C::name.view());
    const detail::read_place at{file.string(), name};
    const auto column = table->GetColumnByName(name);
    if (!column) {
      if (const auto it = partition_values.find(name); it != partition_values.end()) {
        if constexpr (detail::partition_field_type<F>()) {
          const F value = detail::partition_value_as<F>(it->second, at);
          for (auto& r : rows) get<C::name>(r) = value;
          return;
        } else {
          detail::read_fail(at, "a partition column must be a bool, a number, a string or a timestamp");
        }
      }
      if constexpr (sluice::detail::is_optional_v<F>) {
        return;  // a column added to the table after this file was written
      } else {
        std::string have;
        for (const auto& f : table->schema()->fields()) have += (have.empty() ? "" : ", ") + f->name();
        detail::read_fail(at, "missing (the file has: " + have + ")");
      }
    }
    std::int64_t offset = 0;
    for (const auto& chunk : column->chunks()) {
      const auto read = detail::nullable_reader<F>(chunk, at);
      const auto len = chunk->length();
      for (std::int64_t i = 0; i < len; ++i) read(i, get<C::name>(rows[static_cast<std::size_t>(offset + i)]));
      offset += len;
    }
  });
  return rows;
}

}  // namespace sluice::delta
