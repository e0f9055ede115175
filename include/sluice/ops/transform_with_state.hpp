// sl::group_by_key(keys...) | sl::transform_with_state(processor, time_mode, output_mode):
// Spark 4's arbitrary state API (TransformWithState). The processor is a class of the user's:
//
//   struct Counter {
//     sl::value_state<Count> count;                            // typed state variables
//     sl::list_state<Event> recent;
//     void init(sl::processor_handle& h) {                     // per state partition and run
//       count = h.get_value_state<Count>("count");
//       recent = h.get_list_state<Event>("recent", sl::ttl(10min));
//     }
//     std::vector<Out> handle_input_rows(const Key& key, std::span<const Event> rows,
//                                        const sl::timer_values& t);          // per key with rows
//     std::vector<Out> handle_expired_timer(const Key& key, const sl::timer_values& t,
//                                           const sl::expired_timer_info& info); // timers only
//     void handle_initial_state(const Key& key, const S& s, const sl::timer_values& t); // optional
//     void close();                                            // optional: the run ends (each copy)
//   };
//
// With an initial state (Spark's transformWithState(processor, timeMode, outputMode,
// initialState)): sl::transform_with_state(processor, time_mode, output_mode, pairs), pairs a
// range of (key, S); the first batch (batch 0) calls handle_initial_state once per pair, before
// any input, and later batches (a restart from a checkpoint included) never again.
//
// State variables (value, list, map state) and timers are those of the key being handled.
// Their values are described structs or the usual scalars: the checkpoint form is generated
// (codec/binary.hpp). The progress's customMetrics count the variables, timers and TTL removals
// under Spark's names. A batch calls handle_input_rows for every key with rows (in the
// order keys first appear), then handle_expired_timer for every timer that has expired (time
// order), then removes the values whose TTL has passed: each state partition (keys by hash,
// query_options::shuffle_partitions) with its own copy of the processor (init() each, as
// Spark's processor per partition), at once on the query's workers; the order is per state
// partition, and the handlers' output goes down as one thread gives it for keys with rows.
#pragma once
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../codec/binary.hpp"
#include "../engine/control.hpp"
#include "../graph/node.hpp"
#include "flat_map.hpp"
#include "map_groups_with_state.hpp"
#include "state_partitions.hpp"

namespace sluice {

// Spark's TimeMode: which timers a processor may use.
enum class time_mode_kind { none, processing_time, event_time };
template <time_mode_kind K>
struct time_mode_tag {
  static constexpr time_mode_kind value = K;
};
namespace time_mode {
inline constexpr time_mode_tag<time_mode_kind::none> none{};
inline constexpr time_mode_tag<time_mode_kind::processing_time> processing_time{};
inline constexpr time_mode_tag<time_mode_kind::event_time> event_time{};
}  // namespace time_mode

// Spark's TTLConfig: a value expires `ttl` of batch time after it was last written.
struct ttl_config {
  duration ttl{0};  // zero: never
};
template <class Rep, class Period>
ttl_config ttl(std::chrono::duration<Rep, Period> d) {
  const auto t = std::chrono::duration_cast<duration>(d);
  if (t.count() <= 0) throw std::invalid_argument("sluice::ttl: the duration must be positive");
  return {t};
}

// Spark's TimerValues: the batch's processing time (processing_time mode) and event-time
// watermark (event_time mode), in milliseconds; -1 where the mode has none.
class timer_values {
 public:
  timer_values(std::int64_t processing_ms, std::int64_t watermark_ms) : processing_ms_(processing_ms), watermark_ms_(watermark_ms) {}
  std::int64_t get_current_processing_time_ms() const { return processing_ms_; }
  std::int64_t get_current_watermark_ms() const { return watermark_ms_; }

 private:
  std::int64_t processing_ms_, watermark_ms_;
};

// Spark's ExpiredTimerInfo.
struct expired_timer_info {
  std::int64_t expiry_time_ms = 0;
  std::int64_t get_expiry_time_ms() const { return expiry_time_ms; }
};

namespace detail {
inline constexpr std::int64_t never_expires = std::numeric_limits<std::int64_t>::max();

// What the state variables of one operator share: the key being handled (its binary form) and
// the batch's time, for TTL.
struct tws_context {
  const std::string* key = nullptr;
  std::int64_t batch_ms = 0;
  const std::string& current_key(const std::string& variable) const {
    if (key == nullptr)
      throw std::logic_error("sluice::transform_with_state: state variable '" + variable +
                             "' used outside handle_input_rows / handle_expired_timer (there is no current key)");
    return *key;
  }
};

template <class T>
struct ttl_value {
  T value{};
  std::int64_t expires_ms = never_expires;
  void serialize(binary_writer& out) const {
    out.write(value);
    out.write(expires_ms);
  }
  void deserialize(binary_reader& in) {
    in.read(value);
    in.read(expires_ms);
  }
};

// One state variable's values for every key (keys in their binary form), and its checkpoint
// form per key.
class state_variable {
 public:
  state_variable(std::string n, std::int64_t ttl_ms, std::shared_ptr<tws_context> c)
      : name(std::move(n)), ttl_ms_(ttl_ms), ctx_(std::move(c)) {}
  virtual ~state_variable() = default;
  const std::string name;
  virtual boost::json::value kind() const = 0;  // its binary layout, for the checkpoint's description
  bool has_ttl() const { return ttl_ms_ > 0; }
  virtual bool has(const std::string& key) const = 0;
  virtual void write_key(const std::string& key, binary_writer& out) const = 0;
  virtual void read_key(const std::string& key, binary_reader& in) = 0;
  virtual void erase(const std::string& key) = 0;
  virtual void clear_all() = 0;
  virtual void keys(std::vector<std::string>& out) const = 0;
  virtual std::int64_t rows() const = 0;
  // TTL: removes what has expired at `now_ms`, notes the keys it changed; the values removed.
  virtual std::int64_t expire(std::vector<std::string>& changed) = 0;

 protected:
  const std::string& key() const { return ctx_->current_key(name); }
  std::int64_t new_expiry() const { return ttl_ms_ > 0 ? ctx_->batch_ms + ttl_ms_ : never_expires; }
  // Spark's StateTTL.isExpired: expired once the batch time reaches the expiry.
  bool expired(std::int64_t expires_ms) const { return expires_ms != never_expires && ctx_->batch_ms >= expires_ms; }
  std::int64_t ttl_ms_;
  std::shared_ptr<tws_context> ctx_;
};

template <class T>
inline constexpr bool is_std_map = false;
template <class K, class V, class C, class A>
inline constexpr bool is_std_map<std::map<K, V, C, A>> = true;

// A variable's per-key entries (Entry: a value, a list, a map), and what all kinds do alike.
template <class Entry>
class keyed_storage : public state_variable {
 public:
  using state_variable::state_variable;
  bool has(const std::string& k) const override { return m_.contains(k); }
  void write_key(const std::string& k, binary_writer& out) const override {
    const Entry& e = m_.at(k);
    if constexpr (is_std_map<Entry>) {  // (the binary writer has no std::map: entries one by one)
      out.write_size(e.size());
      for (const auto& [uk, v] : e) {
        out.write(uk);
        out.write(v);
      }
    } else {
      out.write(e);
    }
  }
  void read_key(const std::string& k, binary_reader& in) override {
    Entry& e = m_[k];
    if constexpr (is_std_map<Entry>) {
      e.clear();
      const auto n = in.read_size(1);
      for (std::size_t i = 0; i < n; ++i) {
        typename Entry::key_type uk{};
        typename Entry::mapped_type v{};
        in.read(uk);
        in.read(v);
        e.insert_or_assign(std::move(uk), std::move(v));
      }
    } else {
      in.read(e);
    }
  }
  void erase(const std::string& k) override { m_.erase(k); }
  void clear_all() override { m_.clear(); }
  void keys(std::vector<std::string>& out) const override {
    for (const auto& [k, v] : m_) out.push_back(k);
  }
  void clear() { m_.erase(key()); }

 protected:
  // Removes the expired elements of each key's collection (a list, a map); a key left without
  // any goes. Returns how many were removed.
  std::int64_t expire_elements(std::vector<std::string>& changed, auto&& is_expired) {
    std::int64_t removed = 0;
    boost::unordered::erase_if(m_, [&](auto& kv) {
      const auto n = std::erase_if(kv.second, is_expired);
      if (n > 0) changed.push_back(kv.first);
      removed += static_cast<std::int64_t>(n);
      return kv.second.empty();
    });
    return removed;
  }
  std::int64_t elements() const {
    std::int64_t n = 0;
    for (const auto& [k, e] : m_) n += static_cast<std::int64_t>(e.size());
    return n;
  }
  boost::unordered_flat_map<std::string, Entry> m_;
};

template <class T>
class value_storage final : public keyed_storage<ttl_value<T>> {
  using base = keyed_storage<ttl_value<T>>;
  using base::expired;
  using base::key;
  using base::m_;
  using base::new_expiry;

 public:
  using base::base;
  boost::json::value kind() const override { return boost::json::object{{"value", binary_layout<T>()}}; }
  std::optional<T> get() const {
    const auto it = m_.find(key());
    if (it == m_.end() || expired(it->second.expires_ms)) return std::nullopt;
    return it->second.value;
  }
  void update(T v) { m_.insert_or_assign(key(), ttl_value<T>{std::move(v), new_expiry()}); }
  std::int64_t rows() const override { return static_cast<std::int64_t>(m_.size()); }
  std::int64_t expire(std::vector<std::string>& changed) override {
    return static_cast<std::int64_t>(boost::unordered::erase_if(m_, [this, &changed](const auto& kv) {
      if (!this->expired(kv.second.expires_ms)) return false;
      changed.push_back(kv.first);
      return true;
    }));
  }
};

template <class T>
class list_storage final : public keyed_storage<std::vector<ttl_value<T>>> {
  using base = keyed_storage<std::vector<ttl_value<T>>>;
  using base::expired;
  using base::key;
  using base::m_;
  using base::new_expiry;

 public:
  using base::base;
  boost::json::value kind() const override { return boost::json::object{{"list", binary_layout<T>()}}; }
  std::vector<T> get() const {
    std::vector<T> out;
    if (const auto it = m_.find(key()); it != m_.end())
      for (const auto& v : it->second)
        if (!expired(v.expires_ms)) out.push_back(v.value);
    return out;
  }
  void put(std::span<const T> values) {
    auto& l = m_[key()];
    l.clear();
    append(l, values);
    if (l.empty()) m_.erase(key());
  }
  void append_value(T v) { m_[key()].push_back({std::move(v), new_expiry()}); }
  void append_list(std::span<const T> values) {
    if (!values.empty()) append(m_[key()], values);
  }
  std::int64_t rows() const override { return this->elements(); }
  std::int64_t expire(std::vector<std::string>& changed) override {
    return this->expire_elements(changed, [this](const ttl_value<T>& v) { return this->expired(v.expires_ms); });
  }

 private:
  void append(std::vector<ttl_value<T>>& l, std::span<const T> values) const {
    for (const auto& v : values) l.push_back({v, new_expiry()});
  }
};

// Entries in key order, so that iteration is stable.
template <class K, class V>
class map_storage final : public keyed_storage<std::map<K, ttl_value<V>>> {
  using base = keyed_storage<std::map<K, ttl_value<V>>>;
  using base::expired;
  using base::key;
  using base::m_;
  using base::new_expiry;

 public:
  using base::base;
  boost::json::value kind() const override {
    return boost::json::object{{"map", boost::json::array{binary_layout<K>(), binary_layout<V>()}}};
  }
  std::optional<V> get_value(const K& user_key) const {
    const auto it = m_.find(key());
    if (it == m_.end()) return std::nullopt;
    const auto e = it->second.find(user_key);
    if (e == it->second.end() || expired(e->second.expires_ms)) return std::nullopt;
    return e->second.value;
  }
  std::vector<std::pair<K, V>> entries() const {
    std::vector<std::pair<K, V>> out;
    if (const auto it = m_.find(key()); it != m_.end())
      for (const auto& [k, v] : it->second)
        if (!expired(v.expires_ms)) out.emplace_back(k, v.value);
    return out;
  }
  void update_value(K user_key, V v) { m_[key()].insert_or_assign(std::move(user_key), ttl_value<V>{std::move(v), new_expiry()}); }
  void remove_key(const K& user_key) {
    const auto it = m_.find(key());
    if (it == m_.end()) return;
    it->second.erase(user_key);
    if (it->second.empty()) m_.erase(it);
  }

  std::int64_t rows() const override { return this->elements(); }
  std::int64_t expire(std::vector<std::string>& changed) override {
    return this->expire_elements(changed, [this](const auto& e) { return this->expired(e.second.expires_ms); });
  }
};
}  // namespace detail

// ---------------------------------------------------------------- the state variables
// Handles the processor keeps (from processor_handle in init()); each reads and writes the
// value of the key being handled. A handle not given by init() holds nothing.
template <class T>
class value_state {
 public:
  value_state() = default;
  explicit value_state(std::shared_ptr<detail::value_storage<T>> s) : s_(std::move(s)) {}
  bool exists() const { return s().get().has_value(); }
  // Spark's get() returns null for no value; here get() throws and get_option() is empty.
  T get() const {
    auto v = s().get();
    if (!v) throw std::logic_error("sluice::value_state '" + s().name + "': no value for this key (check exists())");
    return std::move(*v);
  }
  std::optional<T> get_option() const { return s().get(); }
  void update(T v) { s().update(std::move(v)); }
  void clear() { s().clear(); }

 private:
  detail::value_storage<T>& s() const {
    if (!s_) throw std::logic_error("sluice::value_state: not initialised (get it from the processor_handle in init())");
    return *s_;
  }
  std::shared_ptr<detail::value_storage<T>> s_;
};

template <class T>
class list_state {
 public:
  list_state() = default;
  explicit list_state(std::shared_ptr<detail::list_storage<T>> s) : s_(std::move(s)) {}
  bool exists() const { return !s().get().empty(); }
  std::vector<T> get() const { return s().get(); }
  void put(std::span<const T> values) { s().put(values); }
  void put(const std::vector<T>& values) { s().put(std::span<const T>(values)); }
  void append_value(T v) { s().append_value(std::move(v)); }
  void append_list(const std::vector<T>& values) { s().append_list(std::span<const T>(values)); }
  void clear() { s().clear(); }

 private:
  detail::list_storage<T>& s() const {
    if (!s_) throw std::logic_error("sluice::list_state: not initialised (get it from the processor_handle in init())");
    return *s_;
  }
  std::shared_ptr<detail::list_storage<T>> s_;
};

template <class K, class V>
class map_state {
 public:
  map_state() = default;
  explicit map_state(std::shared_ptr<detail::map_storage<K, V>> s) : s_(std::move(s)) {}
  bool exists() const { return !s().entries().empty(); }
  std::optional<V> get_value(const K& k) const { return s().get_value(k); }
  bool contains_key(const K& k) const { return s().get_value(k).has_value(); }
  void update_value(K k, V v) { s().update_value(std::move(k), std::move(v)); }
  std::vector<std::pair<K, V>> iterator() const { return s().entries(); }  // in key order
  std::vector<K> keys() const {
    std::vector<K> out;
    for (auto& [k, v] : s().entries()) out.push_back(k);
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    for (auto& [k, v] : s().entries()) out.push_back(v);
    return out;
  }
  void remove_key(const K& k) { s().remove_key(k); }
  void clear() { s().clear(); }

 private:
  detail::map_storage<K, V>& s() const {
    if (!s_) throw std::logic_error("sluice::map_state: not initialised (get it from the processor_handle in init())");
    return *s_;
  }
  std::shared_ptr<detail::map_storage<K, V>> s_;
};

// Spark's StatefulProcessorHandle: gives the processor its state variables (in init()) and the
// current key's timers.
class processor_handle {
 public:
  explicit processor_handle(time_mode_kind mode) : mode_(mode), ctx_(std::make_shared<detail::tws_context>()) {}

  template <class T>
  value_state<T> get_value_state(std::string name, ttl_config ttl = {}) {
    return value_state<T>(add<detail::value_storage<T>>(std::move(name), ttl));
  }
  template <class T>
  list_state<T> get_list_state(std::string name, ttl_config ttl = {}) {
    return list_state<T>(add<detail::list_storage<T>>(std::move(name), ttl));
  }
  template <class K, class V>
  map_state<K, V> get_map_state(std::string name, ttl_config ttl = {}) {
    return map_state<K, V>(add<detail::map_storage<K, V>>(std::move(name), ttl));
  }

  // Timers of the current key, in milliseconds (processing time, or event time): a timer fires
  // in the first batch whose processing time (or eviction watermark) is past it.
  void register_timer(std::int64_t expiry_ms) {
    const auto& k = timer_key("register_timer");
    ++registered_timers_;  // every call, as Spark's numRegisteredTimers
    if (timers_[k].insert(expiry_ms).second) queue_.emplace(expiry_ms, k);
  }
  void delete_timer(std::int64_t expiry_ms) {
    const auto& k = timer_key("delete_timer");
    ++deleted_timers_;
    const auto it = timers_.find(k);
    if (it == timers_.end() || it->second.erase(expiry_ms) == 0) return;
    queue_.erase({expiry_ms, k});
    if (it->second.empty()) timers_.erase(it);
  }
  std::vector<std::int64_t> list_timers() const {
    const auto& k = timer_key("list_timers");
    const auto it = timers_.find(k);
    return it == timers_.end() ? std::vector<std::int64_t>{} : std::vector<std::int64_t>(it->second.begin(), it->second.end());
  }
  time_mode_kind mode() const { return mode_; }

 private:
  template <class S>
  std::shared_ptr<S> add(std::string name, ttl_config ttl) {
    for (const auto& v : vars_)
      if (v->name == name)
        throw std::invalid_argument("sluice::processor_handle: a state variable named '" + name + "' exists already");
    auto s = std::make_shared<S>(std::move(name), std::chrono::duration_cast<std::chrono::milliseconds>(ttl.ttl).count(), ctx_);
    vars_.push_back(s);
    return s;
  }
  const std::string& timer_key(const char* what) const {
    if (mode_ == time_mode_kind::none)
      throw std::logic_error(std::string("sluice::processor_handle::") + what +
                             ": timers need time_mode::processing_time or time_mode::event_time");
    return ctx_->current_key(std::string("timers"));
  }

 public:  // for the operator (detail): the variables, the timers, the current key
  time_mode_kind mode_;
  std::shared_ptr<detail::tws_context> ctx_;
  std::vector<std::shared_ptr<detail::state_variable>> vars_;
  boost::unordered_flat_map<std::string, std::set<std::int64_t>> timers_;
  std::set<std::pair<std::int64_t, std::string>> queue_;  // (expiry, key), soonest first
  std::int64_t registered_timers_ = 0, deleted_timers_ = 0;  // calls in this batch
};

// The initial state's type when there is none.
struct no_initial_state {};

namespace detail {
template <class P, class Key, class In>
concept stateful_processor = requires(P& p, processor_handle& h, const Key& k, std::span<const In> rows, const timer_values& t) {
  p.init(h);
  p.handle_input_rows(k, rows, t);
};

template <class P, class In, class KeySels, class Out, time_mode_kind TM, output_mode_kind OM, class S>
struct transform_with_state_stage;

// S: the initial state's type (no_initial_state: none).
template <class P, class In, class... Sels, class Out, time_mode_kind TM, output_mode_kind OM, class S>
struct transform_with_state_stage<P, In, std::tuple<Sels...>, Out, TM, OM, S> : stateful_control, described_stage {
  static constexpr stage_kind kind = stage_kind::stateful;
  using output_row = Out;
  using key_type = typename group_key_of<In, Sels...>::tuple_type;
  using user_key = typename group_key_of<In, Sels...>::user_type;

  static constexpr bool stateful_operator = true;
  template <class Q>
  static constexpr bool check_shape() { return check_chained_stateful<Q>(); }
  static constexpr graph_props transform(graph_props p) {
    p.watermark_column = {};  // the processor's output is opaque
    return p;
  }

  std::tuple<bound_selector<In, Sels>...> keys;
  P processor;  // the user's: each state partition runs a copy of it, init() with its own handle
  std::vector<std::pair<key_type, S>> initial_state;  // for batch 0

  // Where a key first appeared in the batch: handle_input_rows' rows go down in this order.
  using rank_type = arrival_rank;
  // The state in batch_context::shuffle_partitions partitions by key hash (Spark's state per
  // shuffle partition), each with its own processor and handle (Spark: a processor per
  // partition), its part of the batch and what its handlers emitted.
  struct part {
    P processor;
    processor_handle handle{TM};
    boost::unordered_flat_map<key_type, std::uint32_t, key_hash> index;  // the batch's keys, in order
    std::vector<std::pair<key_type, std::vector<In>>> groups;
    std::vector<rank_type> ranks;
    std::vector<std::string> touched;  // keys the batch handled or expired: its checkpoint delta
    std::int64_t updated = 0, expired_timers = 0, removed = 0;
    ranked_output<Out> out;  // what the handlers returned

    explicit part(const P& p) : processor(p) { processor.init(handle); }
    void add(key_type k, In&& r, rank_type rank) {
      auto [it, inserted] = index.try_emplace(k, static_cast<std::uint32_t>(groups.size()));
      if (inserted) {
        groups.emplace_back(std::move(k), std::vector<In>{});
        ranks.push_back(rank);
      }
      groups[it->second].second.push_back(std::move(r));
    }
    void clear_batch() {
      index.clear();
      groups.clear();
      ranks.clear();
      touched.clear();
      updated = expired_timers = removed = 0;
      out.clear();
      handle.registered_timers_ = handle.deleted_timers_ = 0;
    }
    void clear_state() {
      for (auto& v : handle.vars_) v->clear_all();
      handle.timers_.clear();
      handle.queue_.clear();
    }
  };
  // The parts do not move (a processor may keep a pointer to its handle); a copy of the stage
  // (a query restarted from the same plan) starts without any, as visit() makes them.
  struct part_list {
    std::vector<std::unique_ptr<part>> v;
    part_list() = default;
    part_list(const part_list&) {}
    part_list(part_list&&) = default;
    part_list& operator=(const part_list&) { return *this; }
    part_list& operator=(part_list&&) = default;
  };
  part_list parts_;
  // Input partitions are taken at once (parallel_accept): each routes its rows to their state
  // partition (routed_rows); finish groups each state partition's rows by key, input partition
  // by input partition in their order, and runs its handlers in a task: a key's rows reach
  // handle_input_rows in the order one thread gives. Without workers rows go straight.
  static constexpr bool parallel_accept = true;
  using batch_rows = ranked_rows<key_type, In, In>;
  using routed = ranked_row<key_type, In>;
  using local = typename batch_rows::local;
  batch_rows routed_;

  std::int64_t last_watermark_ = std::numeric_limits<std::int64_t>::min();
  state_operator_metrics last_metrics{"transformWithStateExec"};
  // The event-time column the upstream watermark is on (null: none, or not readable here).
  std::int64_t (*event_time_)(const In&) = nullptr;
  std::int64_t dropped_ = 0;  // this batch's late rows

  transform_with_state_stage(std::tuple<bound_selector<In, Sels>...> k, P p) : keys(std::move(k)), processor(std::move(p)) {}

  // A run of the query (a new plan_runner) starts the processors afresh: one state partition
  // until the batch says how many (each init() with new state variables, which the checkpoint
  // then fills).
  void visit(graph_controls& c) {
    parts_.v.clear();
    parts_.v.push_back(std::make_unique<part>(processor));
    c.add_stateful(this);
  }
  const processor_handle& handle() const { return parts_.v.front()->handle; }  // its variables: every part's
  boost::json::object checkpoint_description() const override {
    return {{"operator", "transformWithState"}, {"timeMode", static_cast<int>(TM)}, {"state", state_signature()}};
  }

  static std::string encode(const key_type& k) {
    binary_writer w;
    w.write(k);
    return std::move(w.buffer());
  }
  static key_type decode(const std::string& s) {
    binary_reader in(s, "transform_with_state key");
    key_type k{};
    in.read(k);
    return k;
  }
  static const user_key& user_key_of(const key_type& k) {
    if constexpr (sizeof...(Sels) == 1) return std::get<0>(k);
    else return k;
  }
  std::size_t partition_of(const key_type& k) const {
    return parts_.v.size() == 1 ? 0 : state_partition_of(key_hash{}(k), parts_.v.size());
  }

  // A run of a batch starts: with the batch's number of state partitions (a graph driven by
  // hand may change it; the engine keeps the checkpoint's), the keys moved to theirs.
  void begin_batch(const batch_context& ctx) override {
    const std::size_t n = std::max<std::size_t>(1, ctx.shuffle_partitions);
    if (n != parts_.v.size()) repartition(n);
    for (auto& pt : parts_.v) pt->clear_batch();
    routed_.closed.clear();
    dropped_ = 0;
  }
  // Spark calls close() when a task is done with the processor; sluice once per state
  // partition and run, pairing init().
  void stop() override {
    if constexpr (requires { processor.close(); })
      for (auto& pt : parts_.v) pt->processor.close();
  }

  // index: the input partition's (its rows come after those of lower ones).
  local open_batch(const batch_context& ctx, std::size_t index = 0) {
    return batch_rows::open(ctx.tasks == nullptr, index, parts_.v.size());
  }
  void close_batch(local& l) { routed_.close(l); }

  // Spark drops input rows at or before the watermark (the previous batch's, as every stateful
  // operator does) whatever the time mode, when the input carries one.
  template <class R>
  void accept(batch_context& ctx, R&& r, local& l) {
    if (event_time_ != nullptr && ctx.has_watermark && event_time_(r) <= late_events_watermark(ctx, operator_index)) {
      batch_rows::drop_late(l, dropped_, nullptr, std::forward<R>(r));
      return;
    }
    key_type k = std::apply([&](const auto&... s) { return key_type{s(r)...}; }, keys);
    const std::size_t p = partition_of(k);
    if (l.straight) parts_.v[p]->add(std::move(k), In(std::forward<R>(r)), l.next());
    else l.buckets[p].push_back(routed{std::move(k), In(std::forward<R>(r)), l.next()});
  }

  template <class Result>
  static void emit(Result&& out, part& pt) {
    for (auto&& o : out) pt.out.rows.push_back(Out(std::move(o)));
  }

  // One state partition's part of the batch, on one thread: the initial state (batch 0), the
  // handlers of its keys with rows, its expired timers, then TTL.
  void finish_part(const batch_context& ctx, std::size_t p, const timer_values& tv, std::int64_t batch_ms,
                   std::int64_t watermark_ms) {
    part& pt = *parts_.v[p];
    auto& tc = *pt.handle.ctx_;
    tc.batch_ms = batch_ms;
    struct clear_key {
      tws_context& c;
      ~clear_key() { c.key = nullptr; }
    } guard{tc};
    // Spark: the initial state in batch 0 only, before the batch's input (its id, not the run:
    // a restart from a checkpoint that committed batch 0 does not apply it again).
    // (Without handle_initial_state, pipe_into's static_assert is the one error.)
    if constexpr (!std::is_same_v<S, no_initial_state> &&
                  requires(const S& s) { pt.processor.handle_initial_state(user_key_of(key_type{}), s, tv); })
      if (ctx.batch_id == 0)
        for (const auto& [k, s] : initial_state) {
          if (partition_of(k) != p) continue;
          pt.touched.push_back(encode(k));
          tc.key = &pt.touched.back();
          pt.processor.handle_initial_state(user_key_of(k), s, tv);
          ++pt.updated;
        }
    routed_.each(p, [&pt](routed& x) { pt.add(std::move(x.key), std::move(x.row), x.rank); });
    for (std::size_t g = 0; g < pt.groups.size(); ++g) {
      auto& [k, rows] = pt.groups[g];
      pt.touched.push_back(encode(k));
      tc.key = &pt.touched.back();
      pt.out.record(pt.ranks[g], [&] { emit(pt.processor.handle_input_rows(user_key_of(k), std::span<const In>(rows), tv), pt); });
      ++pt.updated;
    }
    pt.out.end_calls();
    // Timers that have expired (Spark: expiry < the batch's processing time, or < the eviction
    // watermark), taken before any fires: one a handler registers fires in a later batch.
    if constexpr (TM != time_mode_kind::none) {
      auto& h = pt.handle;
      const std::int64_t threshold = TM == time_mode_kind::processing_time ? batch_ms : watermark_ms;
      std::vector<std::pair<std::int64_t, std::string>> due;
      for (auto it = h.queue_.begin(); it != h.queue_.end() && it->first < threshold; ++it) due.push_back(*it);
      for (auto& [t, kstr] : due) {
        if (!h.queue_.contains({t, kstr})) continue;  // deleted by an earlier handler
        h.queue_.erase({t, kstr});
        if (auto ti = h.timers_.find(kstr); ti != h.timers_.end()) {
          ti->second.erase(t);
          if (ti->second.empty()) h.timers_.erase(ti);
        }
        const key_type k = decode(kstr);
        pt.touched.push_back(kstr);
        tc.key = &pt.touched.back();
        ++pt.expired_timers;  // Spark counts a fired timer as expired and as deleted
        ++h.deleted_timers_;
        if constexpr (requires { pt.processor.handle_expired_timer(user_key_of(k), tv, expired_timer_info{t}); })
          emit(pt.processor.handle_expired_timer(user_key_of(k), tv, expired_timer_info{t}), pt);
        ++pt.updated;
      }
    }
    tc.key = nullptr;
    for (auto& v : pt.handle.vars_) pt.removed += v->expire(pt.touched);
  }

  // Each state partition in a task (when there are workers). What handle_input_rows returned
  // goes down in the order the keys first appeared in the batch, as on one thread; then what
  // the timers returned, partition by partition (each in time order).
  template <class Down>
  void finish(batch_context& ctx, Down& down) {
    dropped_ += routed_.order(nullptr);
    const std::int64_t batch_ms = floor_div(ctx.batch_timestamp.micros, 1000);
    const std::int64_t watermark_ms = floor_div(eviction_watermark(ctx, operator_index), 1000);
    const timer_values tv(TM == time_mode_kind::processing_time ? batch_ms : -1,
                          TM == time_mode_kind::event_time ? watermark_ms : -1);
    const std::size_t n = parts_.v.size();
    if (ctx.tasks == nullptr || n == 1) {
      for (std::size_t p = 0; p < n; ++p) finish_part(ctx, p, tv, batch_ms, watermark_ms);
    } else {
      parallel_for(ctx, n, [&](std::size_t p) { finish_part(ctx, p, tv, batch_ms, watermark_ms); });
    }
    routed_.closed.clear();
    std::vector<ranked_output<Out>*> outs;
    for (auto& pt : parts_.v) outs.push_back(&pt->out);
    emit_ranked(outs, down);
    std::int64_t updated = 0, removed = 0, expired_timers = 0, total = 0, registered = 0, deleted = 0;
    for (auto& pt : parts_.v) {
      updated += pt->updated;
      removed += pt->removed;
      expired_timers += pt->expired_timers;
      registered += pt->handle.registered_timers_;
      deleted += pt->handle.deleted_timers_;
      for (const auto& v : pt->handle.vars_) total += v->rows();
    }
    last_watermark_ = eviction_watermark(ctx, operator_index);
    last_metrics.num_rows_total = total;
    last_metrics.num_rows_updated = updated;
    last_metrics.num_rows_removed = removed;
    last_metrics.num_rows_dropped_by_watermark = dropped_;
    last_metrics.custom_metrics = custom_metrics(expired_timers, removed, registered, deleted);
  }

  // Spark's TransformWithStateExec custom metrics. The variable counts are those init() made
  // (Spark: per partition and batch, summed; here one processor's); numDeletedStateVars stays 0
  // (there is no deleteIfExists: the checkpoint's fingerprint names the variables).
  std::map<std::string, std::int64_t> custom_metrics(std::int64_t expired_timers, std::int64_t ttl_removed,
                                                     std::int64_t registered, std::int64_t deleted) const {
    std::map<std::string, std::int64_t> m{{"numValueStateVars", 0},        {"numListStateVars", 0},
                                          {"numMapStateVars", 0},          {"numDeletedStateVars", 0},
                                          {"numValueStateWithTTLVars", 0}, {"numListStateWithTTLVars", 0},
                                          {"numMapStateWithTTLVars", 0}};
    for (const auto& v : handle().vars_) {
      const auto k = v->kind();  // {"value"|"list"|"map": layout}
      const auto& o = k.as_object();
      const std::string family = o.contains("value") ? "Value" : o.contains("list") ? "List" : "Map";
      ++m["num" + family + (v->has_ttl() ? "StateWithTTLVars" : "StateVars")];
    }
    m["numRegisteredTimers"] = registered;
    m["numDeletedTimers"] = deleted;
    m["numExpiredTimers"] = expired_timers;
    m["numValuesRemovedDueToTTLExpiry"] = ttl_removed;
    return m;
  }

  // Spark's TransformWithStateExec.shouldRunAnotherBatch: whenever the watermark moved (not only
  // when a timer would fire: the next data batch drops rows at or before the watermark the
  // batch before it ran with, so skipping the no-data batch would let rows through that Spark
  // drops). In processing-time mode Spark runs one at every trigger; sluice when the watermark
  // moved (the same late rows) or, below, when a timer would fire.
  bool needs_no_data_batch(output_mode_kind, std::int64_t new_watermark) const override {
    return last_watermark_ != std::numeric_limits<std::int64_t>::min() && new_watermark > last_watermark_;
  }
  bool needs_no_data_batch_at(timestamp batch_timestamp) const override {
    if constexpr (TM == time_mode_kind::processing_time) {
      for (const auto& pt : parts_.v)
        if (!pt->handle.queue_.empty() && pt->handle.queue_.begin()->first < floor_div(batch_timestamp.micros, 1000))
          return true;
    }
    return false;
  }
  state_operator_metrics metrics() const override { return last_metrics; }

  // ---- checkpoints: per key, every variable's values (or none) and its timers; a delta holds
  // the keys the batch handled or expired, a snapshot all keys. One delta and snapshot per
  // state partition (state/<op>/<partition>/), each in the form the whole state had before
  // partitions, which the whole-state calls still read and write (a checkpoint from before
  // restores into them).
  std::string state_signature() const override {  // per key: each variable's value
    boost::json::array vars;
    for (const auto& v : handle().vars_) vars.push_back(boost::json::object{{"name", v->name}, {"type", v->kind()}});
    return boost::json::serialize(
        boost::json::object{{"format", "transformWithState"}, {"key", binary_layout<key_type>()}, {"variables", std::move(vars)}});
  }
  static void write_key(binary_writer& out, const part& pt, const std::string& k) {
    out.write(k);
    for (const auto& v : pt.handle.vars_) {
      const bool present = v->has(k);
      out.write(present);
      if (present) v->write_key(k, out);
    }
    std::vector<std::int64_t> ts;
    if (auto it = pt.handle.timers_.find(k); it != pt.handle.timers_.end()) ts.assign(it->second.begin(), it->second.end());
    out.write(ts);
  }
  // The keys of the given partitions (what of each to write: its touched keys, or all), in
  // key order, each once.
  template <class KeysOf>
  void write_keys(binary_writer& out, std::size_t from, std::size_t to, KeysOf&& keys_of) const {
    std::vector<std::pair<std::string, const part*>> ks;
    for (std::size_t p = from; p < to; ++p) {
      std::vector<std::string> mine;
      keys_of(*parts_.v[p], mine);
      for (auto& k : mine) ks.emplace_back(std::move(k), parts_.v[p].get());
    }
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    out.write_size(ks.size());
    for (const auto& [k, pt] : ks) write_key(out, *pt, k);
  }
  static void touched_keys(const part& pt, std::vector<std::string>& out) { out = pt.touched; }
  static void all_keys(const part& pt, std::vector<std::string>& out) {
    for (const auto& v : pt.handle.vars_) v->keys(out);
    for (const auto& [k, t] : pt.handle.timers_) out.push_back(k);
  }
  void write_delta(binary_writer& out) const override { write_keys(out, 0, parts_.v.size(), touched_keys); }
  void write_snapshot(binary_writer& out) const override { write_keys(out, 0, parts_.v.size(), all_keys); }
  void load_snapshot(binary_reader& in) override {
    for (auto& pt : parts_.v) pt->clear_state();
    apply_delta(in);
  }
  void apply_delta(binary_reader& in) override {
    read_keys(in, [this](const std::string& k) -> part& { return *parts_.v[partition_of(decode(k))]; });
  }
  std::size_t state_partitions() const override { return parts_.v.size(); }
  void reset_partitions(std::size_t n) override {
    resize(n);
    for (auto& pt : parts_.v) pt->clear_state();
    routed_.closed.clear();
  }
  void write_partition_delta(std::size_t p, binary_writer& out) const override { write_keys(out, p, p + 1, touched_keys); }
  // A partition with no key handled or expired writes no delta (the commit records how many each has).
  bool partition_unchanged(std::size_t p) const override { return parts_.v[p]->touched.empty(); }
  void write_partition_snapshot(std::size_t p, binary_writer& out) const override { write_keys(out, p, p + 1, all_keys); }
  void load_partition_snapshot(std::size_t p, binary_reader& in) override {
    parts_.v[p]->clear_state();
    apply_partition_delta(p, in);
  }
  void apply_partition_delta(std::size_t p, binary_reader& in) override {
    read_keys(in, [&](const std::string&) -> part& { return *parts_.v[p]; });
  }
  void restore_last_batch_watermark(std::int64_t watermark) override { last_watermark_ = watermark; }

 private:
  // Reads keys' values and timers (a delta's or a snapshot's) into the partition part_for(key) names.
  template <class PartFor>
  void read_keys(binary_reader& in, PartFor&& part_for) {
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      std::string k;
      in.read(k);
      auto& h = part_for(k).handle;
      for (auto& v : h.vars_) {
        bool present = false;
        in.read(present);
        v->erase(k);
        if (present) v->read_key(k, in);
      }
      std::vector<std::int64_t> ts;
      in.read(ts);
      if (auto it = h.timers_.find(k); it != h.timers_.end()) {
        for (auto t : it->second) h.queue_.erase({t, k});
        h.timers_.erase(it);
      }
      for (auto t : ts) {
        h.timers_[k].insert(t);
        h.queue_.emplace(t, k);
      }
    }
  }
  // n parts: new ones init() a copy of the processor; ones dropped are closed.
  void resize(std::size_t n) {
    while (parts_.v.size() < n) parts_.v.push_back(std::make_unique<part>(processor));
    while (parts_.v.size() > n) {
      if constexpr (requires { processor.close(); }) parts_.v.back()->processor.close();
      parts_.v.pop_back();
    }
  }
  // The keys into n partitions; when there are some, the next checkpoint writes each
  // partition's snapshot, as their files so far (if any) are of another layout.
  void repartition(std::size_t n) {
    binary_writer all;
    write_snapshot(all);
    reset_partitions(n);
    binary_reader in(all.buffer(), "transform_with_state state");
    const auto keys_moved = binary_reader(all.buffer(), "transform_with_state state").read_size(1);
    apply_delta(in);
    if (keys_moved > 0) full_snapshot_due = true;
  }
};
}  // namespace detail

template <class P, time_mode_kind TM, output_mode_kind OM, class S = no_initial_state, class K = no_initial_state>
struct transform_with_state_t {
  using is_stage_descriptor = void;
  P processor;
  std::vector<std::pair<K, S>> initial_state;
};

// processor: see the top of this file; time_mode: sl::time_mode::none / processing_time /
// event_time; mode: sl::output_mode::append or ::update (the operator's, as Spark's).
template <class P, time_mode_kind TM, class ModeTag>
  requires requires { { ModeTag::value } -> std::convertible_to<output_mode_kind>; }
auto transform_with_state(P processor, time_mode_tag<TM>, ModeTag) {
  static_assert(ModeTag::value != output_mode_kind::complete,
                "sluice rule [transform-with-state-output-mode]: transform_with_state's output mode is "
                "output_mode::append or output_mode::update (Spark refuses complete)");
  return transform_with_state_t<P, TM, ModeTag::value>{std::move(processor), {}};
}

// With an initial state: a range of (key, state) pairs (a std::vector of pairs, a std::map...),
// given to handle_initial_state in the first batch. Two pairs with one key are refused when the
// query is built (Spark fails batch 0: STATEFUL_PROCESSOR_CANNOT_REINITIALIZE_STATE_ON_KEY).
template <class P, time_mode_kind TM, class ModeTag, std::ranges::input_range R>
  requires requires { { ModeTag::value } -> std::convertible_to<output_mode_kind>; }
auto transform_with_state(P processor, time_mode_tag<TM> tm, ModeTag mode, R&& initial_state) {
  using pair_t = std::ranges::range_value_t<R>;
  constexpr bool pairs = requires { typename pair_t::first_type; typename pair_t::second_type; };
  static_assert(pairs, "sluice::transform_with_state: the initial state is a range of (key, state) pairs");
  if constexpr (!pairs) {
    return transform_with_state(std::move(processor), tm, mode);  // after the error: without it, adding none
  } else {
    using K = std::remove_cv_t<typename pair_t::first_type>;
    using S = std::remove_cv_t<typename pair_t::second_type>;
    transform_with_state_t<P, TM, ModeTag::value, S, K> d{
        std::move(transform_with_state(std::move(processor), tm, mode).processor), {}};
    for (auto&& [k, s] : initial_state) d.initial_state.emplace_back(k, s);
    return d;
  }
}

namespace detail {
template <class P, time_mode_kind TM, output_mode_kind OM, class S, class K>
inline constexpr bool takes_key_grouped_v<transform_with_state_t<P, TM, OM, S, K>> = true;
}  // namespace detail

template <class Up, class... Sels, class P, time_mode_kind TM, output_mode_kind OM, class S, class K>
auto pipe_into(key_grouped_node<Up, Sels...>&& g, transform_with_state_t<P, TM, OM, S, K> d) {
  using In = typename Up::row_type;
  using key = typename detail::group_key_of<In, Sels...>::user_type;
  static_assert(detail::stateful_processor<P, key, In>,
                "sluice::transform_with_state: the processor needs init(sl::processor_handle&) and "
                "handle_input_rows(const Key&, std::span<const Row>, const sl::timer_values&) returning a range of "
                "output rows; Key is the key column's type (a std::tuple for several)");
  static_assert(TM != time_mode_kind::event_time || Up::props.has_watermark,
                "sluice rule [transform-with-state-event-time-needs-watermark]: transform_with_state in "
                "time_mode::event_time needs sl::with_watermark before it (event-time timers fire by the watermark)");
  constexpr bool has_initial = !std::is_same_v<S, no_initial_state>;
  constexpr bool initial_ok = [] {
    if constexpr (has_initial) return std::is_convertible_v<const K&, key>;
    else return true;
  }();
  if constexpr (has_initial) {
    static_assert(initial_ok,
                  "sluice::transform_with_state: the initial state's keys must convert to the grouping key's type");
    static_assert(!initial_ok ||
                      requires(P& p, const key& k, const S& s, const timer_values& t) { p.handle_initial_state(k, s, t); },
                  "sluice::transform_with_state: with an initial state the processor needs "
                  "handle_initial_state(const Key&, const State&, const sl::timer_values&) (Spark's "
                  "StatefulProcessorWithInitialState)");
  }
  if constexpr (sizeof...(Sels) == 0 || !detail::stateful_processor<P, key, In> || !initial_ok) {
    return std::move(g.up);  // after the error: the stream before group_by_key, adding none
  } else {
    using R = std::remove_cvref_t<decltype(std::declval<P&>().handle_input_rows(
        std::declval<const key&>(), std::declval<std::span<const In>>(), std::declval<const timer_values&>()))>;
    using Out = std::remove_cvref_t<typename detail::produced_row<R>::type>;
    using stage_t = detail::transform_with_state_stage<P, In, std::tuple<Sels...>, Out, TM, OM, S>;
    stage_t stage(std::apply([](auto&... s) {
                    return std::tuple<detail::bound_selector<In, Sels>...>(detail::bound_selector<In, Sels>(s)...);
                  }, g.keys),
                  std::move(d.processor));
    stage.event_time_ = detail::event_time_reader<In, Up>();
    if constexpr (has_initial) {
      using key_type = typename stage_t::key_type;
      boost::unordered_flat_map<key_type, std::size_t, detail::key_hash> seen;
      for (std::size_t i = 0; i < d.initial_state.size(); ++i) {
        auto& [k, s] = d.initial_state[i];
        key_type kt = [&] {
          if constexpr (sizeof...(Sels) == 1) return key_type{key(k)};
          else return key_type(key(k));
        }();
        if (const auto [it, fresh] = seen.try_emplace(kt, i); !fresh)
          throw std::invalid_argument("sluice::transform_with_state: the initial state has two entries for one key "
                                      "(entries " + std::to_string(it->second) + " and " + std::to_string(i) +
                                      "); a key's state can be initialised only once");
        stage.initial_state.emplace_back(std::move(kt), std::move(s));
      }
    }
    return stage_node<Up, stage_t>{std::move(g.up), std::move(stage)};
  }
}

}  // namespace sluice
