// sl::two_phase(user_sink): an exactly-once sink written in two phases, after Spark's
// DataSource V2 writers (seed 002): a writer per partition of a batch writes the rows and
// returns a commit message; the sink then commits the batch with every writer's message, or
// aborts it.
//
//   struct my_writer {
//     void write(const Row& row);
//     my_message commit();                  // this partition's rows are written: say so
//     void abort();                         // this partition failed: undo what it wrote
//   };
//   struct my_sink {
//     my_writer create_writer(std::int64_t batch_id, std::int64_t partition_id);
//     void commit(std::int64_t batch_id, std::vector<my_message> messages);  // or const&
//     void abort(std::int64_t batch_id, std::vector<my_message> messages);   // or const&
//     std::optional<std::int64_t> last_committed_batch();  // optional: see below
//     void start(const sluice::sink_context&);             // optional: query id, output mode
//     std::string description() const;                    // optional
//     static constexpr bool supports(sluice::output_mode_kind);  // optional, default: all
//     static constexpr bool concurrent_writers = true;     // optional: see below
//   };
//
//   auto q = sl::start(stream | sl::two_phase(my_sink{...}), sl::output_mode::append, {...});
//
// For each batch the adapter calls, per partition, create_writer(batch_id, partition),
// write(row) for each of its rows, writer.commit(), and destroys the writer; then, once,
// sink.commit(batch_id, messages) with every partition's message, in partition order (the
// partition-aware sink protocol of graph/plan.hpp). An exception from any of these calls
// writer.abort() on the writers whose commit did not complete (a failing writer stops the
// others before they commit) and sink.abort(batch_id, messages-so-far), then propagates: the
// query fails, and its restart from the checkpoint offers the batch again.
//
// Partitions: with `concurrent_writers = true` the sink declares that create_writer may be
// called, and its writers used, on several threads at once (each writer by one thread); a
// batch that ran on the query's workers then writes its partitions in parallel, one writer
// each. Without it, the batch is written whole by one writer, partition 0 (a sink holding one
// connection, with a transaction per writer, cannot have two writers open at once).
// commit, abort, begin and last_committed_batch run on the query's thread, never at once.
//
// Exactly once: a batch can be offered again after its commit succeeded (a crash between the
// sink's commit and the checkpoint's commit log). The adapter skips any batch id <= the last
// one committed: the one it committed itself in this process, and, when the sink has
// last_committed_batch(), the one the sink reports (asked once per query start). A sink that
// stores the batch id in the same transaction as the rows, and reports it there, is exactly
// once across crashes (examples/sqlite_sink.cpp).
//
// sl::idempotency_key{query_id, batch_id, partition, row_index} names one output row for
// stores without transactions (upserts keyed by it); its str() and hash() are stable.
#pragma once
#include <boost/describe.hpp>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../graph/plan.hpp"

namespace sluice {

// ---------------------------------------------------------------- idempotency keys
// Names output row `row_index` of partition `partition` of batch `batch_id` of query
// `query_id` (the checkpoint's query id: the same across restarts). A re-run batch writes the
// same rows in the same order (its input and state are fixed), so it produces the same keys.
struct idempotency_key {
  std::string query_id;
  std::int64_t batch_id = 0;
  std::int64_t partition = 0;
  std::int64_t row_index = 0;

  // "<query_id>/<batch_id>/<partition>/<row_index>", e.g. "5f0c.../12/0/3".
  std::string str() const {
    return query_id + "/" + std::to_string(batch_id) + "/" + std::to_string(partition) + "/" +
           std::to_string(row_index);
  }
  // 64-bit FNV-1a of str(): the same on every platform and in every run.
  std::uint64_t hash() const {
    std::uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : str()) h = (h ^ c) * 1099511628211ULL;
    return h;
  }
  // hash() as 16 lowercase hex digits.
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash()));
    return buf;
  }
  friend bool operator==(const idempotency_key&, const idempotency_key&) = default;
  friend auto operator<=>(const idempotency_key&, const idempotency_key&) = default;
};
BOOST_DESCRIBE_STRUCT(idempotency_key, (), (query_id, batch_id, partition, row_index))

// ---------------------------------------------------------------- the protocol
namespace detail {
template <class T>
inline constexpr bool is_reference_wrapper_v = false;
template <class T>
inline constexpr bool is_reference_wrapper_v<std::reference_wrapper<T>> = true;

template <class S>
decltype(auto) unwrap_sink(S& s) {
  if constexpr (is_reference_wrapper_v<std::remove_cv_t<S>>)
    return s.get();
  else
    return (s);
}
template <class S>
using two_phase_user_t = std::remove_reference_t<decltype(unwrap_sink(std::declval<S&>()))>;

template <class U>
using two_phase_writer_t =
    std::remove_cvref_t<decltype(std::declval<U&>().create_writer(std::int64_t{}, std::int64_t{}))>;
template <class W>
using two_phase_message_t = std::remove_cvref_t<decltype(std::declval<W&>().commit())>;
}  // namespace detail

// Names what a would-be two-phase sink (or its writer) lacks, one static_assert per member, so
// that the first error says which member and its expected signature.
template <class S, class Row>
constexpr bool check_two_phase_sink() {
  using U = detail::two_phase_user_t<S>;
  static_assert(requires(U& u, std::int64_t b, std::int64_t p) { u.create_writer(b, p); },
                "sluice two_phase sink: missing `writer create_writer(std::int64_t batch_id, std::int64_t "
                "partition_id)` (returns a writer with write(const Row&), commit() and abort())");
  if constexpr (requires(U& u, std::int64_t b, std::int64_t p) { u.create_writer(b, p); }) {
    using W = detail::two_phase_writer_t<U>;
    static_assert(std::is_move_constructible_v<W>, "sluice two_phase writer: the writer must be move-constructible");
    static_assert(requires(W& w, const Row& r) { w.write(r); },
                  "sluice two_phase writer: missing `void write(const Row& row)` for the pipeline's row type");
    static_assert(requires(W& w) {
                    { w.commit() } -> std::move_constructible;
                  },
                  "sluice two_phase writer: missing `commit_message commit()` (returns the message the sink's "
                  "commit(batch_id, std::vector<commit_message>) receives; not void)");
    static_assert(requires(W& w) { w.abort(); }, "sluice two_phase writer: missing `void abort()`");
    if constexpr (requires(W& w) {
                    { w.commit() } -> std::move_constructible;
                  }) {
      using M = detail::two_phase_message_t<W>;
      static_assert(requires(U& u, std::int64_t b, std::vector<M>& m) { u.commit(b, m); },
                    "sluice two_phase sink: missing `void commit(std::int64_t batch_id, std::vector<commit_message> "
                    "messages)` (commit_message: what the writer's commit() returns)");
      static_assert(requires(U& u, std::int64_t b, std::vector<M>& m) { u.abort(b, m); },
                    "sluice two_phase sink: missing `void abort(std::int64_t batch_id, std::vector<commit_message> "
                    "messages)` (commit_message: what the writer's commit() returns)");
    }
    if constexpr (requires(U& u) { u.last_committed_batch(); })
      static_assert(requires(U& u) {
                      { u.last_committed_batch() } -> std::convertible_to<std::optional<std::int64_t>>;
                    },
                    "sluice two_phase sink: `last_committed_batch()` must return std::optional<std::int64_t> "
                    "(std::nullopt when no batch was committed yet)");
  }
  return true;
}

template <class S, class Row>
concept two_phase_sink_for = requires(detail::two_phase_user_t<S>& u, std::int64_t b, const Row& r) {
  { u.create_writer(b, b) } -> std::move_constructible;
  u.create_writer(b, b).write(r);
  u.create_writer(b, b).abort();
  { u.create_writer(b, b).commit() } -> std::move_constructible;
} && requires(detail::two_phase_user_t<S>& u, std::int64_t b,
              std::vector<detail::two_phase_message_t<detail::two_phase_writer_t<detail::two_phase_user_t<S>>>>& m) {
  u.commit(b, m);
  u.abort(b, m);
};

namespace detail {
// The user's two-phase sink as a partition-aware bound sink (graph/plan.hpp): a user writer per
// partition, the user's commit once per batch, and the skipping of committed batch ids.
template <class S, class Row>
class two_phase_bound {
 public:
  using user_type = two_phase_user_t<S>;
  using user_writer_type = two_phase_writer_t<user_type>;
  using message_type = two_phase_message_t<user_writer_type>;

  // A partition's writer: the user's, fed row by row.
  class writer {
   public:
    explicit writer(user_writer_type w) : w_(std::move(w)) {}
    void write(std::span<const Row> rows) {
      for (const Row& r : rows) w_.write(r);
    }
    message_type commit() { return w_.commit(); }
    void abort() { w_.abort(); }

   private:
    user_writer_type w_;
  };

  explicit two_phase_bound(S s) : sink_(std::move(s)) {}

  static constexpr bool supports(output_mode_kind m) { return sink_supports<user_type>(m); }

  void start(const sink_context& ctx) {
    if constexpr (requires(user_type& u) { u.start(ctx); }) user().start(ctx);
    asked_ = false;
  }

  void add_batch(std::int64_t batch_id, std::span<const Row> rows) { write_partitions<Row>(*this, batch_id, rows); }

  bool begin_batch(std::int64_t batch_id) {
    if (!asked_) {
      if constexpr (requires(user_type& u) { u.last_committed_batch(); }) {
        const std::optional<std::int64_t> reported = user().last_committed_batch();
        if (reported && (!last_committed_ || *reported > *last_committed_)) last_committed_ = reported;
      }
      asked_ = true;
    }
    return !(last_committed_ && batch_id <= *last_committed_);  // committed before: exactly once
  }
  writer create_writer(std::int64_t batch_id, std::int64_t partition) {
    return writer(user().create_writer(batch_id, partition));
  }
  void commit_batch(std::int64_t batch_id, std::vector<message_type>& messages) {
    user().commit(batch_id, messages);
    last_committed_ = batch_id;
  }
  void abort_batch(std::int64_t batch_id, std::vector<message_type>& messages) { user().abort(batch_id, messages); }

  std::string description() const {
    if constexpr (requires(const user_type& u) {
                    { u.description() } -> std::convertible_to<std::string>;
                  })
      return std::string(user().description());
    else
      return "TwoPhaseSink";
  }

  // The last batch id known committed (for tests and progress).
  std::optional<std::int64_t> last_committed_batch() const { return last_committed_; }

 private:
  user_type& user() { return unwrap_sink(sink_); }
  const user_type& user() const { return unwrap_sink(sink_); }

  S sink_;
  std::optional<std::int64_t> last_committed_;
  bool asked_ = false;
};

// A user sink without concurrent_writers: the same protocol, given each batch whole, as one
// partition (the engine joins a batch's partitions for it).
template <class S, class Row>
class two_phase_joined {
 public:
  explicit two_phase_joined(S s) : impl_(std::move(s)) {}
  static constexpr bool supports(output_mode_kind m) { return two_phase_bound<S, Row>::supports(m); }
  void start(const sink_context& ctx) { impl_.start(ctx); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) { impl_.add_batch(batch_id, rows); }
  std::string description() const { return impl_.description(); }
  std::optional<std::int64_t> last_committed_batch() const { return impl_.last_committed_batch(); }

 private:
  two_phase_bound<S, Row> impl_;
};

template <class U>
constexpr bool concurrent_writers_v = [] {
  if constexpr (requires { U::concurrent_writers; }) return bool(U::concurrent_writers);
  else return false;
}();

// What bind returns after a failed check, so that the static_assert stays the first error.
template <class Row>
struct invalid_two_phase_sink {
  void add_batch(std::int64_t, std::span<const Row>) {}
  std::string description() const { return "invalid"; }
};
}  // namespace detail

// The sink descriptor sl::two_phase(user_sink) returns.
template <class S>
class two_phase_sink {
 public:
  using is_sink_descriptor = void;
  explicit two_phase_sink(S s) : sink_(std::move(s)) {}

  template <class Row>
  auto bind() && {
    static_assert(check_two_phase_sink<S, Row>());
    if constexpr (!two_phase_sink_for<S, Row>) return detail::invalid_two_phase_sink<Row>{};
    else if constexpr (detail::concurrent_writers_v<detail::two_phase_user_t<S>>)
      return detail::two_phase_bound<S, Row>(std::move(sink_));
    else return detail::two_phase_joined<S, Row>(std::move(sink_));
  }
  template <class Row>
  auto bind() const& {
    return two_phase_sink(*this).template bind<Row>();
  }

 private:
  S sink_;
};

// Adapts a two-phase user sink (create_writer / commit / abort) to a sluice sink. The sink is
// copied (or moved) into the query; pass std::ref(sink) to keep using your own object.
template <class S>
two_phase_sink<std::decay_t<S>> two_phase(S&& user_sink) {
  return two_phase_sink<std::decay_t<S>>(std::forward<S>(user_sink));
}

}  // namespace sluice
