// Row types to Apache Arrow, by reflection: the Arrow schema of a described struct or a
// generated row, the Spark StructType JSON Delta stores in metaData.schemaString, and the
// appenders that turn rows into Arrow arrays (parquet_write.hpp writes those as Parquet).
//
//   C++ field type                    Arrow type                 Spark / Delta type
//   bool                              bool                       boolean
//   int8_t / int16_t / int32_t        int8 / int16 / int32       byte / short / integer
//   int64_t (long, long long)         int64                      long
//   uint8_t / uint16_t / uint32_t     int16 / int32 / int64      short / integer / long (widened)
//   float / double                    float32 / float64          float / double
//   std::string                       utf8                       string
//   sl::timestamp                     timestamp[us, tz=UTC]      timestamp
//   std::optional<T>                  T, nullable                T, nullable
//   sl::time_window (column window)   struct<start, end>         struct<start: timestamp, end: timestamp>
//   described struct / sl::row<...>   struct<fields...>          struct
//   std::vector<T>                    list<element: T>           array<T>
// Non-optional fields are non-nullable. uint64_t has no Delta type and is refused at compile
// time (Spark's decimal(20,0) is not mapped yet).
#pragma once
#include <arrow/api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include "../detail/traits.hpp"
#include "../codec/json.hpp"
#include "../schema.hpp"
#include "../codec/spark_schema.hpp"
#include "../time.hpp"
#include "actions.hpp"

namespace sluice::delta {

// True when T (a field type) maps to an Arrow / Delta type (see the table above).
template <class T>
constexpr bool arrow_mappable() {
  if constexpr (sluice::detail::is_optional_v<T>) return arrow_mappable<typename T::value_type>();
  else if constexpr (sluice::detail::is_vector_v<T>) return arrow_mappable<typename T::value_type>();
  else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, float> || std::is_same_v<T, double> ||
                     std::is_same_v<T, std::string> || std::is_same_v<T, timestamp>)
    return true;
  else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? sizeof(T) <= 8 : sizeof(T) <= 4;
  else if constexpr (record<T>) {
    return []<class... C>(boost::mp11::mp_list<C...>) { return (arrow_mappable<typename C::type>() && ...); }(
               columns_of<T>{});
  } else return false;
}

namespace detail {
// The integer type a C++ integer is stored as (unsigned ones widened to the next signed type,
// as codec/spark_schema.hpp maps them).
template <class T>
using stored_integer_t = std::conditional_t<
    std::is_signed_v<T>,
    std::conditional_t<sizeof(T) == 1, std::int8_t,
                       std::conditional_t<sizeof(T) == 2, std::int16_t,
                                          std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>>>,
    std::conditional_t<sizeof(T) == 1, std::int16_t, std::conditional_t<sizeof(T) == 2, std::int32_t, std::int64_t>>>;

template <class I>
using arrow_integer_type_t = std::conditional_t<
    std::is_same_v<I, std::int8_t>, arrow::Int8Type,
    std::conditional_t<std::is_same_v<I, std::int16_t>, arrow::Int16Type,
                       std::conditional_t<std::is_same_v<I, std::int32_t>, arrow::Int32Type, arrow::Int64Type>>>;

template <class T>
struct unoptional {
  using type = T;
  static constexpr bool nullable = false;
};
template <class T>
struct unoptional<std::optional<T>> {
  using type = T;
  static constexpr bool nullable = true;
};

[[noreturn]] inline void arrow_fail(const arrow::Status& s, std::string_view what) {
  throw delta_error(std::string(what) + ": " + s.ToString());
}
inline void arrow_check(const arrow::Status& s, std::string_view what) {
  if (!s.ok()) arrow_fail(s, what);
}
}  // namespace detail

// The Arrow type of a (non-optional) field type.
template <class T>
std::shared_ptr<arrow::DataType> arrow_type();

// The Arrow fields of a record type, in declaration order.
template <record R>
arrow::FieldVector arrow_fields() {
  arrow::FieldVector fields;
  for_each_column<R>([&](auto c) {
    using C = decltype(c);
    using U = detail::unoptional<typename C::type>;
    fields.push_back(arrow::field(std::string(C::name.view()), arrow_type<typename U::type>(), U::nullable));
  });
  return fields;
}

template <class T>
std::shared_ptr<arrow::DataType> arrow_type() {
  static_assert(arrow_mappable<T>(),
                "sluice::delta: unsupported column type (Delta columns are bool, signed integers, uint8/16/32, "
                "float, double, std::string, sl::timestamp, std::optional, std::vector, sl::time_window and "
                "described structs)");
  if constexpr (std::is_same_v<T, bool>) return arrow::boolean();
  else if constexpr (std::is_integral_v<T>) {
    using I = detail::stored_integer_t<T>;
    return arrow::TypeTraits<detail::arrow_integer_type_t<I>>::type_singleton();
  } else if constexpr (std::is_same_v<T, float>) return arrow::float32();
  else if constexpr (std::is_same_v<T, double>) return arrow::float64();
  else if constexpr (std::is_same_v<T, std::string>) return arrow::utf8();
  else if constexpr (std::is_same_v<T, timestamp>) return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  else if constexpr (sluice::detail::is_vector_v<T>) {
    using U = detail::unoptional<typename T::value_type>;
    return arrow::list(arrow::field("element", arrow_type<typename U::type>(), U::nullable));
  } else if constexpr (record<T>) return arrow::struct_(arrow_fields<T>());
  else return nullptr;
}

// The Arrow schema of a row type (every column).
template <record R>
std::shared_ptr<arrow::Schema> arrow_schema() {
  return arrow::schema(arrow_fields<R>());
}

// The Spark StructType JSON of a row type, as Delta's metaData.schemaString holds it.
template <record R>
std::string delta_schema_string() {
  return sluice::json_text(spark_struct_type<R>());
}

// ---------------------------------------------------------------- rows -> Arrow arrays
// Appends one value to the builder arrow::MakeBuilder made for arrow_type<T>() (so the
// builder's concrete type is known here and a static_cast is enough).
template <class T>
void append_arrow_value(arrow::ArrayBuilder* b, const T& v) {
  using detail::arrow_check;
  if constexpr (sluice::detail::is_optional_v<T>) {
    if (v) append_arrow_value(b, *v);
    else arrow_check(b->AppendNull(), "arrow append");
  } else if constexpr (std::is_same_v<T, bool>) {
    arrow_check(static_cast<arrow::BooleanBuilder*>(b)->Append(v), "arrow append");
  } else if constexpr (std::is_integral_v<T>) {
    using I = detail::stored_integer_t<T>;
    using B = arrow::NumericBuilder<detail::arrow_integer_type_t<I>>;
    arrow_check(static_cast<B*>(b)->Append(static_cast<I>(v)), "arrow append");
  } else if constexpr (std::is_same_v<T, float>) {
    arrow_check(static_cast<arrow::FloatBuilder*>(b)->Append(v), "arrow append");
  } else if constexpr (std::is_same_v<T, double>) {
    arrow_check(static_cast<arrow::DoubleBuilder*>(b)->Append(v), "arrow append");
  } else if constexpr (std::is_same_v<T, std::string>) {
    arrow_check(static_cast<arrow::StringBuilder*>(b)->Append(std::string_view(v)), "arrow append");
  } else if constexpr (std::is_same_v<T, timestamp>) {
    arrow_check(static_cast<arrow::TimestampBuilder*>(b)->Append(v.micros), "arrow append");
  } else if constexpr (sluice::detail::is_vector_v<T>) {
    auto* lb = static_cast<arrow::ListBuilder*>(b);
    arrow_check(lb->Append(), "arrow append");
    for (const auto& e : v) append_arrow_value(lb->value_builder(), e);
  } else if constexpr (record<T>) {
    auto* sb = static_cast<arrow::StructBuilder*>(b);
    arrow_check(sb->Append(), "arrow append");
    int i = 0;
    for_each_field(v, [&](std::string_view, const auto& x) { append_arrow_value(sb->field_builder(i++), x); });
  } else {
    static_assert(sluice::detail::always_false_v<T>, "sluice::delta: unsupported column type");
  }
}

// Builds the Arrow columns of the rows `rows[i]` for i in `indices` (all rows when empty and
// `all` is set), leaving out the top-level columns whose `keep` flag is false (partition
// columns, which Delta keeps in the log and the directory names, not in the data files).
template <record Row>
class arrow_batch_builder {
 public:
  explicit arrow_batch_builder(std::vector<bool> keep) : keep_(std::move(keep)) {
    const auto all = arrow_fields<Row>();
    if (keep_.empty()) keep_.assign(all.size(), true);
    arrow::FieldVector fields;
    for (std::size_t i = 0; i < all.size(); ++i) {
      builders_.emplace_back();
      if (!keep_[i]) continue;
      fields.push_back(all[i]);
      auto made = arrow::MakeBuilder(all[i]->type());
      if (!made.ok()) detail::arrow_fail(made.status(), "arrow builder for column " + all[i]->name());
      builders_.back() = std::move(made).ValueOrDie();
    }
    schema_ = arrow::schema(std::move(fields));
  }

  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }

  void append(const Row& row) {
    std::size_t i = 0;
    for_each_field(row, [&](std::string_view, const auto& x) {
      if (keep_[i]) append_arrow_value(builders_[i].get(), x);
      ++i;
    });
    ++rows_;
  }

  std::int64_t rows() const { return rows_; }

  // The rows appended since the last call, as a record batch; the builders start over.
  std::shared_ptr<arrow::RecordBatch> finish() {
    arrow::ArrayVector arrays;
    for (std::size_t i = 0; i < builders_.size(); ++i) {
      if (!keep_[i]) continue;
      std::shared_ptr<arrow::Array> a;
      detail::arrow_check(builders_[i]->Finish(&a), "arrow finish");
      arrays.push_back(std::move(a));
    }
    auto batch = arrow::RecordBatch::Make(schema_, rows_, std::move(arrays));
    rows_ = 0;
    return batch;
  }

 private:
  std::vector<bool> keep_;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders_;
  std::shared_ptr<arrow::Schema> schema_;
  std::int64_t rows_ = 0;
};

}  // namespace sluice::delta
