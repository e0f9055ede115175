// Stream-static joins (Spark's `stream_df.join(static_df, "user_id")`, the stream on the left):
//
//   auto users = sl::static_table<User>(sl::files::read_json_lines_file<User>("users.jsonl"));
//   auto enriched = events | sl::join(users, sl::col<"user_id">);       // inner
//   auto all      = events | sl::left_join(users, sl::col<"user_id">);  // left outer
//   auto by_key   = events | sl::join(accounts, &Event::user_id, sl::col<"id">);  // a key per side
//
// The table. sl::static_table<T>(rows) (a vector or any input range: std or range-v3 views,
// read once) holds its rows once, immutable, behind a
// shared pointer: copies of the handle (one per query, say) share the rows, and the hash index
// on a join column (key -> the table's rows with that key, in table order), built the first
// time a join on that column is bound (at its `|`) and kept with the table. A key function of
// the table row gets an index of its own, built when its join is bound. Load the rows from anywhere:
// sl::files::read_json_lines_file<T>(path) / read_csv_file<T> (sources/read_files.hpp), or
// sl::files::read_committed_json_lines<T>(dir) for a table a file sink wrote.
//
// Output rows are generated rows (sl::row<...>), as Spark's join(df, "col") using-column form:
//   - sl::join(table, sl::col<"k">): the join column once (the stream's), then the stream's
//     other columns, then the table's other columns, each in declaration order;
//   - sl::join(table, stream_key, table_key), keys being sl::col<"..">, member pointers or
//     functions of the row (Spark's join(df, a === b)): every stream column, then every table
//     column;
//   - left_join: the same columns, the table's as std::optional<...> (a column that is already
//     optional stays as it is), empty when no table row matches (Spark's null).
// Inner: one output row per matching table row (none without a match). Left outer: the same,
// and one row with the table's columns empty for a stream row without a match.
//
// Keys compare as Spark's join keys: a null key (an empty std::optional) matches nothing;
// floating-point keys compare with -0.0 == 0.0 and NaN == NaN (Spark normalises them). The
// key types of both sides must be the same (std::optional<K> and K count as the same); two
// non-key columns of the same name on both sides are a compile error: rename one first.
//
// A stateless stage: no state, nothing dropped, the watermark and the graph's properties pass
// through unchanged. Per stream row: one hash lookup (no allocation), and each output row is
// built on the stack (the table's strings are copied into it; the stream row's are moved into
// its last output row when the stream row is an rvalue).
//
// Unlike Spark, which re-reads the static side for every micro-batch (a Delta table's new
// version is seen by the next batch), the table is a snapshot: build a new one and restart
// the query to change it.
#pragma once
#include <boost/mp11.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/config.hpp"
#include "../detail/hash.hpp"
#include "../detail/traits.hpp"
#include "../graph/node.hpp"
#include "../schema.hpp"
#include "column.hpp"
#include "../graph/stand_in.hpp"

namespace sluice {

template <class T>
class static_table;

namespace detail {
// ---------------------------------------------------------------- join keys
template <class V>
struct strip_optional {
  using type = V;
};
template <class V>
struct strip_optional<std::optional<V>> {
  using type = V;
};
template <class V>
using strip_optional_t = typename strip_optional<std::remove_cvref_t<V>>::type;

// What the index stores for a key value of type V: floating-point keys as the bits of the
// normalised double, others as they are.
template <class V>
using join_key_t = std::conditional_t<std::is_floating_point_v<strip_optional_t<V>>, std::uint64_t, strip_optional_t<V>>;

inline std::uint64_t normalized_key_bits(double d) {
  if (d != d) return 0x7ff8000000000000ULL;  // every NaN is one key
  if (d == 0) d = 0.0;                        // -0.0 is 0.0
  return std::bit_cast<std::uint64_t>(d);
}

// Calls f(key) with the key of a value, unless it is null; returns whether it called f.
template <class V, class F>
SLUICE_ALWAYS_INLINE inline bool with_join_key(const V& v, F&& f) {
  if constexpr (is_optional_v<V>) {
    if (!v) return false;
    return with_join_key(*v, f);
  } else if constexpr (std::is_floating_point_v<V>) {
    f(normalized_key_bits(static_cast<double>(v)));
    return true;
  } else {
    f(v);
    return true;
  }
}

struct join_key_hash {
  using is_avalanching = void;
  template <class K>
  std::size_t operator()(const K& k) const {
    return static_cast<std::size_t>(hash_value_of(k));
  }
};

// ---------------------------------------------------------------- the index
// The table's rows grouped by key: rows[begin, end) have the key.
template <class T, class K>
struct join_index {
  std::shared_ptr<const std::vector<T>> table;  // keeps the rows alive
  std::vector<const T*> rows;
  boost::unordered_flat_map<K, std::pair<std::size_t, std::size_t>, join_key_hash> ranges;

  template <class KeyOf>
  join_index(std::shared_ptr<const std::vector<T>> t, const KeyOf& key_of) : table(std::move(t)) {
    ranges.reserve(table->size());
    for (const T& r : *table)
      with_join_key(key_of(r), [&](const auto& k) { ++ranges[K(k)].second; });
    std::size_t next = 0;
    for (auto& [k, range] : ranges) {
      const std::size_t n = range.second;
      range = {next, next};  // `second` is the fill cursor, then the end
      next += n;
    }
    rows.resize(next);
    for (const T& r : *table)
      with_join_key(key_of(r), [&](const auto& k) { rows[ranges.find(k)->second.second++] = &r; });
  }

  // The table rows whose key is k.
  template <class Q>
  SLUICE_ALWAYS_INLINE std::span<const T* const> find(const Q& k) const {
    const auto it = ranges.find(k);
    if (it == ranges.end()) return {};
    return {rows.data() + it->second.first, it->second.second - it->second.first};
  }
};

template <class T>
struct static_table_access;
}  // namespace detail

// ---------------------------------------------------------------- sl::static_table<T>
// An immutable table of T (a described struct or a generated row), shared by its copies.
// (No `row_type`: a static table is not a source and cannot start a pipeline.)
template <class T>
class static_table {
  static_assert(record<T>, "sluice::static_table<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT or a "
                           "generated row");

 public:
  using value_type = T;

  static_table() : static_table(std::vector<T>{}) {}
  explicit static_table(std::vector<T> rows)
      : rows_(std::make_shared<const std::vector<T>>(std::move(rows))), cache_(std::make_shared<index_cache>()) {}
  static_table(std::initializer_list<T> rows) : static_table(std::vector<T>(rows)) {}
  // Any input range of rows: a container, a std or range-v3 view (read once, here).
  template <detail::rows_range<T> R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, std::vector<T>>)
  explicit static_table(R&& rows) : static_table(detail::to_rows<T>(std::forward<R>(rows))) {}

  std::size_t size() const { return rows_->size(); }
  bool empty() const { return rows_->empty(); }
  std::span<const T> rows() const { return *rows_; }

 private:
  friend struct detail::static_table_access<T>;
  struct index_cache {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<const void>, std::less<>> by_column;
  };

  // The index on column Name, built once per table and column.
  template <fixed_string Name>
  auto column_index() const {
    using K = detail::join_key_t<column_type_t<T, Name>>;
    using index = detail::join_index<T, K>;
    std::lock_guard lock(cache_->mutex);
    auto& slot = cache_->by_column[std::string(Name.view())];
    if (!slot) slot = std::make_shared<const index>(rows_, [](const T& r) -> const auto& { return get<Name>(r); });
    return std::static_pointer_cast<const index>(slot);
  }
  template <class K, class KeyOf>
  auto function_index(const KeyOf& key_of) const {
    return std::make_shared<const detail::join_index<T, K>>(rows_, key_of);
  }

  std::shared_ptr<const std::vector<T>> rows_;
  std::shared_ptr<index_cache> cache_;
};

template <std::ranges::input_range R>
static_table(R&&) -> static_table<std::ranges::range_value_t<R>>;

namespace detail {
template <class T>
struct static_table_access {
  template <fixed_string Name>
  static auto column_index(const static_table<T>& t) {
    return t.template column_index<Name>();
  }
  template <class K, class KeyOf>
  static auto function_index(const static_table<T>& t, const KeyOf& key_of) {
    return t.template function_index<K>(key_of);
  }
};

// ---------------------------------------------------------------- column lists
template <fixed_string Name>
struct column_named {
  template <class C>
  using fn = std::bool_constant<C::name.view() == Name.view()>;
};
template <class L, fixed_string Name>
using columns_without = boost::mp11::mp_remove_if_q<L, column_named<Name>>;

template <class C>
struct optional_column {
  using type = column<C::name, std::conditional_t<is_optional_v<typename C::type>, typename C::type,
                                                  std::optional<typename C::type>>>;
};
template <class C>
using optional_column_t = typename optional_column<C>::type;

// The first column of A whose name B also has (void when there is none).
template <class A, class B>
consteval std::size_t first_shared_name() {
  constexpr auto a = column_names_impl(A{});
  constexpr auto b = column_names_impl(B{});
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < b.size(); ++j)
      if (a[i] == b[j]) return i;
  return a.size();
}
template <class A, class B>
struct shared_column {
  static constexpr std::size_t index = first_shared_name<A, B>();
  using type = boost::mp11::mp_eval_if_c<(index >= boost::mp11::mp_size<A>::value), void, boost::mp11::mp_at, A,
                                         boost::mp11::mp_size_t<index>>;
};

// The columns of a side besides the join column (all of them unless the join is on a column
// both sides share).
template <bool Using, class Cols, class Sel>
struct rest_columns {
  using type = Cols;
};
template <class Cols, fixed_string N>
struct rest_columns<true, Cols, col_t<N>> {
  using type = columns_without<Cols, N>;
};

// False for a column that both sides of a join have: its name shows in the compiler's note
// under the static_assert ("join_column_name_is_unique<sluice::column<...{"name"}, ...>>").
template <class C>
struct join_column_name_is_unique {
  static constexpr bool value = std::is_void_v<C>;
};

// ---------------------------------------------------------------- the bound stage
template <bool Left, class T, class K, class StreamKey, bool Using, class In, class StreamRest, class TableCols>
struct join_stage;

template <bool Left, class T, class K, class StreamKey, bool Using, class In, class... SC, class... TC>
struct join_stage<Left, T, K, StreamKey, Using, In, boost::mp11::mp_list<SC...>, boost::mp11::mp_list<TC...>> {
  static constexpr stage_kind kind = stage_kind::stateless;
  using key_column = column<StreamKey::fixed_name, typename StreamKey::value_type>;
  using out_table_columns =
      boost::mp11::mp_list<std::conditional_t<Left, optional_column_t<TC>, TC>...>;
  using columns = boost::mp11::mp_append<std::conditional_t<Using, boost::mp11::mp_list<key_column>, boost::mp11::mp_list<>>,
                                         boost::mp11::mp_list<SC...>, out_table_columns>;
  using output_row = row_from_columns<columns>;
  static constexpr graph_props transform(graph_props p) { return p; }  // stateless: everything passes

  StreamKey stream_key;
  std::shared_ptr<const join_index<T, K>> index;

  template <bool Move, class S>
  SLUICE_ALWAYS_INLINE static decltype(auto) stream_value(S& s) {
    if constexpr (Move) return std::move(s);
    else return static_cast<const S&>(s);
  }

  template <bool Move, class R>
  SLUICE_ALWAYS_INLINE static output_row matched(R& r, const T& t) {
    if constexpr (Using) {
      return output_row{{get<StreamKey::fixed_name>(std::as_const(r))},
                        {stream_value<Move>(get<SC::name>(r))}...,
                        {get<TC::name>(t)}...};
    } else {
      return output_row{{stream_value<Move>(get<SC::name>(r))}..., {get<TC::name>(t)}...};
    }
  }
  template <bool Move, class R>
  SLUICE_ALWAYS_INLINE static output_row unmatched(R& r) {
    if constexpr (Using) {
      return output_row{{stream_value<Move>(get<StreamKey::fixed_name>(r))},
                        {stream_value<Move>(get<SC::name>(r))}...,
                        field<TC::name, typename optional_column_t<TC>::type>{}...};
    } else {
      return output_row{{stream_value<Move>(get<SC::name>(r))}...,
                        field<TC::name, typename optional_column_t<TC>::type>{}...};
    }
  }

  template <class R, class Down>
  SLUICE_ALWAYS_INLINE void push(R&& r, Down& down) {
    constexpr bool can_move = !std::is_lvalue_reference_v<R> && !std::is_const_v<std::remove_reference_t<R>>;
    std::span<const T* const> hits;
    with_join_key(stream_key(std::as_const(r)), [&](const auto& k) SLUICE_ALWAYS_INLINE { hits = index->find(k); });
    if (hits.empty()) {
      if constexpr (Left) down(unmatched<can_move>(r));
      return;
    }
    const std::size_t last = hits.size() - 1;
    for (std::size_t i = 0; i < last; ++i) down(matched<false>(r, *hits[i]));
    down(matched<can_move>(r, *hits[last]));  // the stream row's last use
  }
};

// ---------------------------------------------------------------- binding
template <class S>
struct is_col_selector : std::false_type {};
template <fixed_string N>
struct is_col_selector<col_t<N>> : std::true_type {};

// Value type of a key selector on row type R, without instantiating a failing selector.
template <class R, class Sel>
struct key_value {
  using type = void;
};
template <class R, fixed_string N>
  requires has_column<R, N>
struct key_value<R, col_t<N>> {
  using type = column_type_t<R, N>;
};
template <class R, class M, class C>
  requires(std::is_base_of_v<C, R> || std::is_same_v<C, R>)
struct key_value<R, M C::*> {
  using type = M;
};
template <class R, class F>
  requires(!std::is_member_pointer_v<F> && !is_col_v<F> && std::is_invocable_v<const F&, const R&>)
struct key_value<R, F> {
  using type = std::remove_cvref_t<std::invoke_result_t<const F&, const R&>>;
};

template <class V>
inline constexpr bool hashable_key_v = requires(const join_key_t<V>& k) {
  { std::hash<join_key_t<V>>{}(k) } -> std::convertible_to<std::size_t>;
  { k == k } -> std::convertible_to<bool>;
};
}  // namespace detail

// sl::join(table, key) / sl::join(table, stream_key, table_key), and left_join: see the top.
template <bool Left, class T, class StreamSel, class TableSel, bool Using>
struct join_t {
  using is_stage_descriptor = void;
  static_table<T> table;
  StreamSel stream_sel;
  TableSel table_sel;

  template <class In>
  auto bind() && {
    using namespace boost::mp11;
    static_assert(record<In>,
                  "sluice::join: the stream's row type must be a described struct or a generated row (the join "
                  "output names its columns)");
    if constexpr (record<In>) {
      using SV = typename detail::key_value<In, StreamSel>::type;
      using TV = typename detail::key_value<T, TableSel>::type;
      if constexpr (Using) {
        static_assert(has_column<In, StreamSel::name>,
                      "sluice::join: sl::col<\"name\">: the stream's row type has no column of this name");
        static_assert(has_column<T, StreamSel::name>,
                      "sluice::join: sl::col<\"name\">: the table's row type has no column of this name");
      } else {
        static_assert(!std::is_void_v<SV>,
                      "sluice::join: the stream key must be sl::col<\"name\"> of a column of the stream's row type, a "
                      "member pointer of it, or a function of it (const Row&)");
        static_assert(!std::is_void_v<TV>,
                      "sluice::join: the table key must be sl::col<\"name\"> of a column of the table's row type, a "
                      "member pointer of it, or a function of it (const Row&)");
      }
      if constexpr (!std::is_void_v<SV> && !std::is_void_v<TV>) {
        static_assert(std::is_same_v<detail::strip_optional_t<SV>, detail::strip_optional_t<TV>>,
                      "sluice::join: the join keys of the stream and the table have different types; they must be the "
                      "same (std::optional<K> and K count as the same): convert one side first, e.g. with "
                      "sl::select(..., sl::expr<\"name\">(f))");
        static_assert(detail::hashable_key_v<SV>,
                      "sluice::join: the join key type needs std::hash and == (numbers, bool, std::string, "
                      "sl::timestamp, or std::optional of them)");
        using stream_cols = columns_of<In>;
        using table_cols = columns_of<T>;
        using stream_rest = typename detail::rest_columns<Using, stream_cols, StreamSel>::type;
        using table_rest = typename detail::rest_columns<Using, table_cols, StreamSel>::type;
        using dup = typename detail::shared_column<stream_rest, table_rest>::type;
        static_assert(detail::join_column_name_is_unique<dup>::value,
                      "sluice::join: the stream and the table both have a column of this name (other than the join "
                      "column); Spark would make it ambiguous, so every output column needs its own name: rename it "
                      "on one side with sl::select first");
        if constexpr (std::is_void_v<dup> && detail::hashable_key_v<SV> &&
                      std::is_same_v<detail::strip_optional_t<SV>, detail::strip_optional_t<TV>>) {
          using K = detail::join_key_t<SV>;
          using stream_key = detail::bound_selector<In, StreamSel>;
          std::shared_ptr<const detail::join_index<T, K>> index;
          if constexpr (detail::is_col_v<TableSel>) {
            index = detail::static_table_access<T>::template column_index<TableSel::name>(table);
          } else {
            index = detail::static_table_access<T>::template function_index<K>(
                table, detail::bound_selector<T, TableSel>(std::move(table_sel)));
          }
          return detail::join_stage<Left, T, K, stream_key, Using, In, stream_rest, table_rest>{
              stream_key(std::move(stream_sel)), std::move(index)};
        } else {
          return detail::stand_in_stage<In>{};  // after the error: adds none
        }
      } else {
        return detail::stand_in_stage<In>{};
      }
    } else {
      return detail::stand_in_stage<In>{};
    }
  }
};

// Inner join on a column both sides have: sl::join(table, sl::col<"user_id">).
template <class T, fixed_string N>
join_t<false, T, col_t<N>, col_t<N>, true> join(static_table<T> table, col_t<N>) {
  return {std::move(table), {}, {}};
}
// Inner join on a key of each side: sl::join(table, &Event::user_id, sl::col<"id">).
template <class T, class StreamKey, class TableKey>
join_t<false, T, std::decay_t<StreamKey>, std::decay_t<TableKey>, false> join(static_table<T> table,
                                                                                 StreamKey&& stream_key,
                                                                                 TableKey&& table_key) {
  return {std::move(table), std::forward<StreamKey>(stream_key), std::forward<TableKey>(table_key)};
}
// Left outer join on a column both sides have: sl::left_join(table, sl::col<"user_id">).
template <class T, fixed_string N>
join_t<true, T, col_t<N>, col_t<N>, true> left_join(static_table<T> table, col_t<N>) {
  return {std::move(table), {}, {}};
}
// Left outer join on a key of each side.
template <class T, class StreamKey, class TableKey>
join_t<true, T, std::decay_t<StreamKey>, std::decay_t<TableKey>, false> left_join(static_table<T> table,
                                                                                    StreamKey&& stream_key,
                                                                                    TableKey&& table_key) {
  return {std::move(table), std::forward<StreamKey>(stream_key), std::forward<TableKey>(table_key)};
}

}  // namespace sluice
