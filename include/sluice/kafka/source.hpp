// sl::kafka::source: Kafka topics as a stream, after Spark's Kafka source (KafkaMicroBatchStream).
//
//   auto events = sl::kafka::source({.subscribe = {"events"}, .starting_offsets = "earliest",
//                                    .kafka = {{"bootstrap.servers", "127.0.0.1:9092"}}});
//   auto q = sl::start(events | sl::kafka::decode_json<Event>() | ..., sl::output_mode::append,
//                      {.checkpoint = "checkpoints/events"});
//
// Offsets. A batch is a range of offsets per topic partition, planned from the partitions'
// latest offsets and logged in the checkpoint (Spark's JSON, offsets.hpp) before it runs; it
// is read by assigning each partition and seeking to the range's start, so a batch re-run
// after a restart reads exactly the same records. The starting offsets are resolved to numbers
// when the query first starts and kept in <checkpoint>/sources/<i>/initial, so a restart
// before the first commit starts from the same place. Partitions that appear later (new
// topics matching the subscription, partitions added) are read from offset 0 (earliest), as
// Spark does. Consumer-group commits are only for monitoring tools: they are never read.
//
// Workers (query_options::parallelism): the batch's topic partitions (ranges) are read at once,
// each on a worker with a reading consumer of its own (a librdkafka handle with that one
// partition assigned; one per worker at most, kept between batches, a range preferably read by
// the consumer that ended the partition's last range there). Rows of each range come in offset
// order; the sink gets the ranges in partition order, as with one thread.
//
// Instances (options.instance, docs/scaling.md): the process reads only the partitions
// instances.hpp assigns to it, at every batch's planning, so its offsets (and checkpoint) name
// only those; a checkpoint naming a partition of another instance is refused.
//
// Consumer group (options.consumer_group, docs/scaling.md): one more handle, the member, joins
// the group (subscribe, cooperative-sticky) and never reads; its rebalance callback runs only
// in the member's poll, called when a batch is planned (and once after a restart), and by the
// exactly-once Kafka sink right before the batch's offsets go into its transaction (a partition
// of the batch revoked then has its offsets sent first; one lost fences the batch). A batch reads
// only the partitions owned when it was planned; a newly assigned partition starts at the
// group's committed offset (kept in <checkpoint>/sources/<i>/group-starts until the batch that
// used it commits); the exactly-once Kafka sink commits the batch's offsets in its transaction,
// with the member's generation (fenced: a member thrown out of the group has its batch aborted
// and run again, fenced_error).
//
// Data loss (fail_on_data_loss). Offsets that are gone before they were read (retention,
// deleted records, a topic deleted or re-created) stop the query with a kafka_error naming the
// topic, partition and the offsets lost; with fail_on_data_loss = false the query goes on from
// what is there and counts them: metrics().offsets_lost, and numOffsetsLost in the query's progress.
#pragma once
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../checkpoint/file_io.hpp"
#include "../graph/pipe.hpp"
#include "../detail/uuid.hpp"
#include "client.hpp"
#include "group.hpp"
#include "offsets.hpp"
#include "options.hpp"

namespace sluice::kafka {

using sluice::operator|;

// One slice of a batch: offsets [from, until) of one partition.
struct offset_range {
  topic_partition tp;
  std::int64_t from = 0;
  std::int64_t until = 0;
};

struct source_metrics {
  std::int64_t records = 0;       // records read (a batch read again counts again)
  std::int64_t offsets_lost = 0;  // offsets skipped as lost under fail_on_data_loss = false
  std::int64_t data_loss_events = 0;
  std::int64_t batches_fenced = 0;  // consumer group: batches refused as fenced and run again
};

class source {
 public:
  using row_type = record;
  using offset_type = offsets;
  using partition_type = offset_range;

  explicit source(source_options options) : state_(std::make_shared<state>()) {
    state_->options = std::move(options);
    validate(state_->options);
  }

  void open(const source_context& ctx) {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    s.initial_file = ctx.checkpoint_dir.empty() ? std::filesystem::path{} : ctx.checkpoint_dir / "initial";
    s.initial.reset();
    s.available_now_end.reset();
    s.latest_available.reset();
    s.reported_gone.clear();
    s.last_trigger = std::chrono::steady_clock::now();
    {
      std::lock_guard readers_lock(s.readers_mutex);
      if (s.readers.empty()) {
        s.readers.push_back(std::make_unique<reader>(make_consumer(s.options)));
        s.idle.push_back(s.readers.back().get());
      }
    }
    if (!s.meta) s.meta = make_consumer(s.options);
    s.commit_group = s.options.commit_offsets_to_group && s.options.kafka.count("group.id") > 0;
    if (s.options.consumer_group) open_group(s, ctx);
  }

  offsets initial_offset() {
    std::lock_guard lock(state_->mutex);
    return initial_locked(*state_);
  }

  offsets latest_offset(const offsets& start, read_limit limit) {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    serve_group(s);
    offsets latest = fetch_latest(s, start);
    const offsets from = effective_start(s, start);
    if (s.available_now_end) latest = cap(latest, *s.available_now_end, from);
    s.latest_available = latest;  // before the rate limit, as Spark's latestPartitionOffsets
    if (!limit.all) {
      if (s.options.min_offsets_per_trigger && delay_batch(s, from, latest)) return start;
      if (s.options.max_offsets_per_trigger) latest = rate_limit(from, latest, *s.options.max_offsets_per_trigger);
    }
    // A partition given back to this member after a batch it did not read (its owner then was
    // another member) starts at the group's offset, behind this checkpoint's: the batch must
    // still end past the checkpoint's offset, or the engine sees no new data.
    for (const auto& [tp, g] : s.group_start) {
      const auto* at = start.find(tp);
      const auto* end = latest.find(tp);
      const auto* available = s.latest_available->find(tp);
      if (at && end && available && g < *at && *end <= *at && *available > *at)
        latest.set(tp, std::min(*available, *at + std::max<std::int64_t>(1, *end - g)));
    }
    return latest;
  }

  // Trigger available-now: read up to the offsets that are latest now, and stop.
  void prepare_for_available_now() {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    serve_group(s);
    s.available_now_end = fetch_latest(s, s.last_committed ? *s.last_committed : initial_locked(s));
  }

  std::vector<offset_range> partitions(const offsets& start, const offsets& end) const {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    if (s.member) {
      // The partitions this batch reads: owned now (after a restart, once the member joined;
      // a partition whose group offset is ahead of the checkpoint's is read from there).
      // After a fenced batch (fenced_error), the run again waits (a while) for the group's
      // assignment that follows the revocation (the member rejoins), as after a restart.
      if (s.after_fence) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min(timeout_ms(s), 15000));
        while (s.assigns <= s.revoked_at && std::chrono::steady_clock::now() < deadline) poll_member(s, 100);
        serve_group(s);
        s.after_fence = false;
      }
      if (!s.joined) serve_group(s);
      s.batch_owned.clear();
      for (const auto& tp : s.owned)
        if (!s.newly.count(tp)) s.batch_owned.insert(tp);
      s.batch_end = end;
    }
    auto out = ranges(effective_start(s, start), end);
    const auto& o = state_->options;
    if (o.min_partitions && static_cast<std::size_t>(*o.min_partitions) > out.size()) out = split(out, *o.min_partitions);
    return out;
  }

  // The engine reserves its batch buffer for this many rows (graph/source.hpp): the offsets
  // of the range, an upper bound (transaction markers, compaction and retention leave gaps),
  // capped so that a sparse or huge range does not reserve hundreds of megabytes.
  static constexpr std::size_t max_planned_rows = std::size_t{1} << 20;
  std::optional<std::size_t> planned_rows(const offsets& start, const offsets& end) const {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    for (const auto& r : ranges(effective_start(*state_, start), end)) n += static_cast<std::size_t>(r.until - r.from);
    return std::min(n, max_planned_rows);
  }

  // Partitions are read at once on the query's workers (graph/source.hpp), each read with a
  // reading consumer of its own (reader_lease); nothing below holds the state's lock.
  static constexpr bool parallel_read = true;

  template <class Emit>
  void read(const offset_range& r, Emit&& emit) {
    auto& s = *state_;
    {
      std::lock_guard lock(s.mutex);
      if (s.member && !s.batch_owned.count(r.tp)) return;  // another instance's now
    }
    const std::string where = to_string(r.tp);
    std::int64_t from = r.from;
    // Offsets before the partition's start were deleted (retention, DeleteRecords).
    auto [low, high] = detail::watermarks(s.meta.get(), r.tp.topic, r.tp.partition, timeout_ms(s), description());
    if (from < low) {
      lost(s, r.tp, from, std::min(low, r.until), "were deleted (retention or deleted records) before they were read");
      from = std::min(low, r.until);
    }
    if (high < r.until && from < r.until) {
      lost(s, r.tp, std::max(from, high), r.until,
           "are no longer in the partition (it now ends at " + std::to_string(high) + ": the topic was deleted or re-created)");
    }
    const std::int64_t until = std::min(r.until, std::max(high, from));
    if (from >= until) return;
    const reader_lease lease(s, r.tp, from);
    reader& rd = lease.get();
    position_at(s, rd, r.tp, from);
    rd.position = -1;  // unknown until the range is read (an error leaves it so)
    // poll_timeout bounds a wait without progress (Spark's per-poll pollTimeoutMs), not the
    // whole range: a long range may take longer than that to read.
    auto deadline = std::chrono::steady_clock::now() + s.options.poll_timeout;
    int idle_polls = 0;  // in a row, 100 ms each
    std::int64_t next = from;
    std::int64_t count = 0;
    bool overshot = false;  // a record at or after `until` was taken from the queue
    // Take at most what is left of the range: a record after `until` taken from the queue
    // would make the next batch assign again.
    detail::message_batch taken;
    const shared_string topic(r.tp.topic);  // one per read, shared by its rows
    const rd_kafka_topic_t* own_topic = nullptr;
    while (next < until) {
      detail::message_ptr m(taken.next(rd.queue.get(), 100, static_cast<std::size_t>(until - next)));
      if (!m) {
        const auto now = std::chrono::steady_clock::now();
        if (now > deadline)
          throw kafka_error(description() + ": timed out reading " + where + " offsets [" + std::to_string(next) + ", " +
                            std::to_string(until) + ") (kafkaConsumer.pollTimeoutMs " +
                            std::to_string(s.options.poll_timeout.count()) + ")");
        // Nothing for a second: the partition's leader may have moved (its broker down).
        if (++idle_polls == 10) {
          detail::refresh_metadata(rd.consumer.get(), r.tp.topic, 5000);
          idle_polls = 0;
        }
        continue;
      }
      idle_polls = 0;
      if (m->rkt) {  // a record of an earlier assignment left in the queue: not ours
        if (m->partition != r.tp.partition) continue;
        if (m->rkt != own_topic) {
          if (r.tp.topic != rd_kafka_topic_name(m->rkt)) continue;
          own_topic = m->rkt;  // alive while the partition is assigned: names compared once
        }
      }
      if (m->err) {
        // An end of partition reached earlier (the records after it arrived since): read on. A
        // partition now shorter than the range was caught by the watermarks above.
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          if (m->offset >= until) break;
          continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
          auto [lo, hi] = detail::watermarks(s.meta.get(), r.tp.topic, r.tp.partition, timeout_ms(s), description());
          if (next < lo) {
            lost(s, r.tp, next, std::min(lo, until), "were deleted (retention or deleted records) before they were read");
            next = std::min(lo, until);
          } else {
            lost(s, r.tp, next, until, "are no longer in the partition (it now ends at " + std::to_string(hi) + ")");
            overshot = true;
            break;
          }
          if (next >= until) break;
          rd.position = -1;
          position_at(s, rd, r.tp, next);
          continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
          rd.stuck = true;  // its partition vanished while assigned (reader::stuck)
          lost(s, r.tp, next, until, "are gone: the topic or partition was deleted");
          overshot = true;
          break;
        }
        if (std::chrono::steady_clock::now() > deadline)
          throw kafka_error(description() + ": reading " + where + ": " + rd_kafka_message_errstr(m.get()), m->err);
        continue;  // transient (a broker restarting): librdkafka reconnects
      }
      if (m->offset < next) continue;  // fetched before a seek
      if (m->offset >= until) {
        overshot = true;  // a gap (transaction markers, compaction) up to the end of the range
        break;
      }
      next = m->offset + 1;
      if ((++count & 0x3ff) == 0) deadline = std::chrono::steady_clock::now() + s.options.poll_timeout;
      emit(to_record(m.get(), topic, r.tp.partition, s.options.include_headers, rd.arena));
    }
    if (taken.left()) overshot = true;
    // The consumer now delivers `until` next, ready for the next batch; after an overshoot it
    // does not, and the next read assigns again.
    rd.position = overshot ? -1 : until;
    s.records.fetch_add(count, std::memory_order_relaxed);
  }

  void commit(const offsets& end) {
    std::lock_guard lock(state_->mutex);
    auto& s = *state_;
    s.last_committed = end;
    if (s.member) {
      commit_group_batch(s, end);
      return;
    }
    if (!s.commit_group || end.size() == 0) return;
    auto list = detail::new_partition_list(static_cast<int>(end.size()));
    for (const auto& [t, parts] : end.topics)
      for (const auto& [p, off] : parts) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), p)->offset = off;
    // Asynchronous: only monitoring tools read it; a failed commit is retried by the next batch.
    rd_kafka_commit(s.meta.get(), list.get(), 1);
  }

  std::string description() const {
    const auto& o = state_->options;
    std::string what;
    if (!o.subscribe.empty()) {
      what = "subscribe=";
      for (std::size_t i = 0; i < o.subscribe.size(); ++i) what += (i ? "," : "") + o.subscribe[i];
    } else if (!o.subscribe_pattern.empty()) {
      what = "subscribePattern=" + o.subscribe_pattern;
    } else {
      what = "assign=" + boost::json::serialize(assign_json(o.assign));
    }
    return "KafkaV2[" + what + "]";
  }

  void stop() {
    std::lock_guard lock(state_->mutex);
    detail::txn_offsets_registry::instance().remove(state_.get());
    if (state_->member) {
      rd_kafka_consumer_close(state_->member.get());  // leaves the group: its partitions move now
      state_->member.reset();
      state_->joined = false;
      state_->owned.clear();
      state_->newly.clear();
    }
    {
      std::lock_guard readers_lock(state_->readers_mutex);
      for (auto& rd : state_->readers) dispose(std::move(rd));
      state_->idle.clear();
      state_->readers.clear();
    }
    if (state_->meta) {
      rd_kafka_consumer_close(state_->meta.get());
      state_->meta.reset();
    }
  }

  source_metrics metrics() const {
    const auto& s = *state_;
    return {s.records.load(), s.offsets_lost.load(), s.data_loss_events.load(), s.batches_fenced.load()};
  }

  // The source's `metrics` in query progress: Spark's KafkaMicroBatchStream.metrics (how far the
  // batch's end offsets are behind the latest offsets seen when it was planned, once a batch was
  // planned from them) and numOffsetsLost, the offsets skipped under fail_on_data_loss = false
  // (metrics().offsets_lost); in a consumer group numBatchesFenced, the batches refused as
  // fenced and run again (metrics().batches_fenced).
  std::map<std::string, std::string> progress_metrics() const {
    std::lock_guard lock(state_->mutex);
    const auto& s = *state_;
    std::map<std::string, std::string> out{{"numOffsetsLost", std::to_string(s.offsets_lost.load())}};
    if (s.options.consumer_group) out["numBatchesFenced"] = std::to_string(s.batches_fenced.load());
    if (!s.last_committed || !s.latest_available || s.latest_available->size() == 0) return out;
    std::int64_t lo = 0, hi = 0, sum = 0, n = 0;
    for (const auto& tp : s.latest_available->partitions()) {
      const auto* done = s.last_committed->find(tp);
      const std::int64_t behind = *s.latest_available->find(tp) - (done ? *done : 0);
      lo = n ? std::min(lo, behind) : behind;
      hi = n ? std::max(hi, behind) : behind;
      sum += behind;
      ++n;
    }
    out["minOffsetsBehindLatest"] = std::to_string(lo);
    out["maxOffsetsBehindLatest"] = std::to_string(hi);
    out["avgOffsetsBehindLatest"] = java_double(static_cast<double>(sum) / static_cast<double>(n));
    return out;
  }

 private:
  // The non-empty range of each partition, [start, end).
  static std::vector<offset_range> ranges(const offsets& start, const offsets& end) {
    std::vector<offset_range> out;
    for (const auto& tp : end.partitions()) {
      const auto* from = start.find(tp);
      const std::int64_t f = from ? *from : 0;  // a new partition is read from the beginning
      const std::int64_t u = *end.find(tp);
      if (u > f) out.push_back({tp, f, u});
    }
    return out;
  }

  // A reading consumer: a handle of its own with one partition assigned at a time (at the
  // offset it delivers next, -1: unknown, assign again), used by one read at a time.
  struct reader {
    explicit reader(detail::handle_ptr h) : consumer(std::move(h)), queue(rd_kafka_queue_get_consumer(consumer.get())) {}
    detail::handle_ptr consumer;
    detail::queue_ptr queue;  // the consumer's queue, read in batches
    std::optional<topic_partition> assigned;
    std::int64_t position = -1;
    std::set<std::string> known_topics;  // topics whose metadata the consumer has
    byte_arena arena;  // the records' keys, values and headers (bytes.hpp)
    // Its partition vanished from the cluster while assigned (the topic deleted). librdkafka
    // before 2.6 then never finishes destroying the handle (a message of the partition's fetch
    // queue keeps the partition alive: librdkafka #4724): it is let go on a thread of its own.
    bool stuck = false;
  };

  // Closes and destroys a reader, on a detached thread when it is stuck (see reader::stuck).
  static void dispose(std::unique_ptr<reader> rd) {
    auto close = [](std::unique_ptr<reader> r) {
      r->queue.reset();
      rd_kafka_assign(r->consumer.get(), nullptr);
      rd_kafka_consumer_close(r->consumer.get());
      r.reset();
    };
    if (rd->stuck) std::thread(close, std::move(rd)).detach();
    else close(std::move(rd));
  }

  struct state {
    std::mutex mutex;
    source_options options;
    // The reading consumers: as many as reads ever ran at once (one per worker at most), each
    // with a librdkafka handle of its own, so that reads on different workers share nothing
    // but `meta` (thread-safe, as every librdkafka handle). A handle per reader rather than one
    // handle's per-partition queues: librdkafka bounds its prefetch (queued.max.messages.kbytes)
    // per partition queue, so a handle with every partition assigned would prefetch that much
    // for each of them; readers bound it by the number of workers, as the one reader did before.
    std::mutex readers_mutex;  // readers and idle (a reader taken is its read's alone)
    std::vector<std::unique_ptr<reader>> readers;
    std::vector<reader*> idle;
    // Metadata, offset look-ups and group commits on connections of their own: a broker
    // answers a connection's requests in order, and the reading consumers' fetches long-poll.
    detail::handle_ptr meta;
    bool commit_group = false;
    std::filesystem::path initial_file;
    std::optional<offsets> initial, available_now_end, last_committed;
    std::optional<offsets> latest_available;  // the latest offsets the last planned batch saw
    std::set<topic_partition> reported_gone;
    // Consumer group (consumer_group): the member, the partitions it owns (newly: assigned,
    // their start not looked up yet), the start of each newly assigned partition (until the
    // batch that read from it commits; in group_file), and the batch being run.
    detail::handle_ptr member;
    bool joined = false;
    std::set<topic_partition> owned, newly, batch_owned;
    std::map<topic_partition, std::int64_t> group_start;
    std::filesystem::path group_file;
    offsets batch_end;
    std::string group_description, member_id;
    // While the sink's transaction adds the batch's offsets (send_batch_offsets): its producer,
    // whether a revocation sent them already (and the error), and why the batch is fenced.
    rd_kafka_t* txn_producer = nullptr;
    int txn_timeout = 0;
    bool txn_sent = false;
    detail::error_ptr txn_error;
    std::string fenced;
    bool after_fence = false;
    std::int64_t assigns = 0, revoked_at = -1;  // assignments served; their count at the last revocation
    std::chrono::steady_clock::time_point last_trigger{};
    // source_metrics, counted by reads on any worker.
    std::atomic<std::int64_t> records{0}, offsets_lost{0}, data_loss_events{0}, batches_fenced{0};
  };

  // A reader taken for one read, given back when the read ends (also by an exception). Prefers
  // an idle reader with the partition assigned at `from` (a range that goes on from the last
  // batch's end reads on, with the records fetched ahead), then one with the partition
  // assigned, then any; a new one when none is idle.
  class reader_lease {
   public:
    reader_lease(state& s, const topic_partition& tp, std::int64_t from) : s_(s) {
      {
        std::lock_guard lock(s.readers_mutex);
        int best = -1;
        for (std::size_t i = 0; i < s.idle.size(); ++i) {
          const reader& r = *s.idle[i];
          const int score = r.assigned && *r.assigned == tp ? (r.position == from ? 2 : 1) : 0;
          if (score > best) best = score, at_ = i;
        }
        if (best >= 0) {
          rd_ = s.idle[at_];
          s.idle.erase(s.idle.begin() + static_cast<std::ptrdiff_t>(at_));
          return;
        }
      }
      auto fresh = std::make_unique<reader>(make_consumer(s.options));  // outside the lock: it connects
      std::lock_guard lock(s.readers_mutex);
      rd_ = fresh.get();
      s.readers.push_back(std::move(fresh));
    }
    reader_lease(const reader_lease&) = delete;
    reader_lease& operator=(const reader_lease&) = delete;
    ~reader_lease() {
      std::lock_guard lock(s_.readers_mutex);
      s_.idle.push_back(rd_);
    }
    reader& get() const { return *rd_; }

   private:
    state& s_;
    reader* rd_ = nullptr;
    std::size_t at_ = 0;
  };

  offsets initial_locked(state& s) const {
    if (s.initial) return *s.initial;
    if (s.options.consumer_group) return *(s.initial = offsets{});  // every partition starts as assigned
    std::error_code ec;
    if (!s.initial_file.empty() && std::filesystem::exists(s.initial_file, ec)) {
      std::string text = read_whole_file(s.initial_file);
      if (text.rfind("v1\n", 0) != 0)
        throw kafka_error(s.initial_file.string() + ": not a Kafka initial-offsets file (expected v1)");
      s.initial = offsets::parse(boost::json::parse(text.substr(3)), s.initial_file.string());
      return *s.initial;
    }
    s.initial = owned_only(s, resolve_starting(s));
    if (!s.initial_file.empty())
      write_file_atomically(s.initial_file, "v1\n" + boost::json::serialize(s.initial->to_json_value()));
    return *s.initial;
  }

  // ---------------------------------------------------------------- consumer group
  void open_group(state& s, const source_context& ctx) const {
    s.group_file = ctx.checkpoint_dir.empty() ? std::filesystem::path{} : ctx.checkpoint_dir / "group-starts";
    s.group_start.clear();
    std::error_code ec;
    if (!s.group_file.empty() && std::filesystem::exists(s.group_file, ec)) {
      const std::string text = read_whole_file(s.group_file);
      if (text.rfind("v1\n", 0) != 0) throw kafka_error(s.group_file.string() + ": not a group-starts file (expected v1)");
      const offsets o = offsets::parse(boost::json::parse(text.substr(3)), s.group_file.string());
      for (const auto& tp : o.partitions()) s.group_start[tp] = *o.find(tp);
    }
    if (!s.member) {
      properties props = s.options.kafka;
      props["enable.auto.commit"] = "false";
      props["enable.auto.offset.store"] = "false";
      props.try_emplace("partition.assignment.strategy", "cooperative-sticky");
      rd_kafka_conf_t* conf = detail::make_conf(props, "sluice::kafka::source");
      rd_kafka_conf_set_rebalance_cb(conf, &source::on_rebalance);
      rd_kafka_conf_set_opaque(conf, &s);
      s.member = detail::make_handle(RD_KAFKA_CONSUMER, conf, "sluice::kafka::source");
      s.joined = false;
      s.owned.clear();
      s.newly.clear();
      const auto& o = s.options;
      auto list = detail::new_partition_list(static_cast<int>(std::max<std::size_t>(1, o.subscribe.size())));
      if (!o.subscribe_pattern.empty()) {
        const std::string re = "^" + o.subscribe_pattern;  // librdkafka: a leading ^ marks a regular expression
        rd_kafka_topic_partition_list_add(list.get(), re.c_str(), RD_KAFKA_PARTITION_UA);
      }
      for (const auto& t : o.subscribe) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
      detail::check(rd_kafka_subscribe(s.member.get(), list.get()),
                    description() + ": cannot join consumer group " + o.kafka.at("group.id"));
    }
    s.group_description = description() + ": consumer group " + s.options.kafka.at("group.id");
    std::weak_ptr<state> weak = state_;
    detail::txn_offsets_registry::instance().add(ctx.query_id, state_.get(), [weak](rd_kafka_t* producer, int timeout) {
      auto st = weak.lock();
      if (!st) return static_cast<rd_kafka_error_t*>(nullptr);
      std::lock_guard lock(st->mutex);
      if (!st->member || st->batch_owned.empty()) return static_cast<rd_kafka_error_t*>(nullptr);
      return send_batch_offsets(*st, producer, timeout);
    });
  }

  // ---------------------------------------------------------------- fencing (KIP-447)
  // The exactly-once sink's transaction gets the batch's offsets with the member's real group
  // metadata (generation, member id, group.instance.id), so the broker refuses them from a member
  // the group has thrown out (stalled past session.timeout.ms or max.poll.interval.ms) while
  // another member took its partitions: the transaction is aborted, nothing is written twice.
  // The member learns of a new generation only in its poll, so it is polled first: a rebalance
  // that leaves this instance's partitions alone then does not fail the batch. A cooperative
  // revocation of a partition the batch read arrives in that poll; its offsets go into the
  // transaction inside the callback, before the partition is released (the next owner's look-up
  // of the group's offset then waits for this transaction), as Kafka Streams commits on revoke.
  // Partitions lost (the member was out of the group) stop the query with a fenced_error.
  static rd_kafka_error_t* send_batch_offsets(state& s, rd_kafka_t* producer, int timeout) {
    s.txn_producer = producer, s.txn_timeout = timeout, s.txn_sent = false, s.txn_error.reset(), s.fenced.clear();
    struct done {
      state& s;
      ~done() { s.txn_producer = nullptr; }
    } reset{s};
    poll_member(s, 0);
    if (s.txn_sent) return s.txn_error.release();
    if (!s.fenced.empty()) throw fenced(s, "");
    // A partition of the batch revoked earlier (an attempt before this one): its offsets were
    // not sent in the callback, and it is another member's now. The batch is planned again.
    std::string gone;
    for (const auto& tp : s.batch_owned)
      if (!s.owned.count(tp)) gone += (gone.empty() ? "" : ", ") + tp.topic + "-" + std::to_string(tp.partition);
    if (!gone.empty()) {
      s.fenced = s.group_description + ": partitions " + gone + " of the batch in flight were revoked before its " +
                 "offsets went into its transaction; the batch's transaction was aborted and it runs again";
      throw fenced(s, "");
    }
    rd_kafka_error_t* e = send_offsets(s, producer, timeout);
    const rd_kafka_resp_err_t code = e ? rd_kafka_error_code(e) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!detail::group_fencing_code(code)) return e;
    // Refused: thrown out of the group (its heartbeat says so soon: the partitions are lost), or
    // only a generation behind (the member's metadata changes once it has rejoined: retried).
    const std::string before = metadata_bytes(s);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min(timeout, 10000));
    while (s.fenced.empty() && !s.txn_sent && metadata_bytes(s) == before && std::chrono::steady_clock::now() < deadline)
      poll_member(s, 100);
    if (s.txn_sent) {
      rd_kafka_error_destroy(e);
      return s.txn_error.release();
    }
    if (s.fenced.empty()) return e;
    const std::string why = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    throw fenced(s, " (the broker refused the batch's offsets: " + why + ")", code);
  }

  static fenced_error fenced(state& s, const std::string& more,
                             rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST) {
    s.after_fence = true;
    s.batches_fenced.fetch_add(1, std::memory_order_relaxed);
    return fenced_error(s.fenced + more, code);
  }

  static rd_kafka_error_t* send_offsets(state& s, rd_kafka_t* producer, int timeout) {
    auto list = detail::new_partition_list(static_cast<int>(s.batch_owned.size()));
    for (const auto& tp : s.batch_owned)
      if (const auto* off = s.batch_end.find(tp))
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = group_end(s, tp, *off);
    if (list->cnt == 0) return nullptr;
    rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(s.member.get());
    rd_kafka_error_t* e = rd_kafka_send_offsets_to_transaction(producer, list.get(), group, timeout);
    rd_kafka_consumer_group_metadata_destroy(group);
    return e;
  }

  // The member's group metadata, serialized: compared only, to see that it has changed.
  static std::string metadata_bytes(const state& s) {
    rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(s.member.get());
    void* buf = nullptr;
    std::size_t size = 0;
    detail::error_ptr e(rd_kafka_consumer_group_metadata_write(group, &buf, &size));
    rd_kafka_consumer_group_metadata_destroy(group);
    std::string out = buf ? std::string(static_cast<const char*>(buf), size) : std::string();
    if (buf) rd_kafka_mem_free(nullptr, buf);
    return out;
  }

  // In the rebalance callback, before partitions are released: when the sink's transaction of
  // a batch that read one of them is open, its offsets go in now, or (lost) the batch is fenced.
  static void on_batch_revoked(state& s, rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts) {
    if (!s.txn_producer || s.txn_sent || !s.fenced.empty()) return;
    std::string names;
    for (int i = 0; i < parts->cnt; ++i)
      if (s.batch_owned.count(topic_partition{parts->elems[i].topic, parts->elems[i].partition}))
        names += (names.empty() ? "" : ", ") + std::string(parts->elems[i].topic) + "-" + std::to_string(parts->elems[i].partition);
    if (names.empty()) return;
    if (!rd_kafka_assignment_lost(rk)) {
      s.txn_error.reset(send_offsets(s, s.txn_producer, s.txn_timeout));
      s.txn_sent = true;
      return;
    }
    const auto instance = s.options.kafka.find("group.instance.id");
    s.fenced = s.group_description + ": member " + (s.member_id.empty() ? "?" : s.member_id) +
               (instance != s.options.kafka.end() ? " (group.instance.id " + instance->second + ")" : "") +
               " was fenced: it lost partitions " + names +
               " of the batch in flight (the group counts them lost: the member was out of the group, stalled past "
               "session.timeout.ms or max.poll.interval.ms, or its heartbeat was refused in a rebalance); the batch's transaction was aborted and "
               "none of it was committed. Restart the query: it runs the batch again with the partitions the "
               "group assigns now";
  }

  // Runs in the member's poll (serve_group), with the state locked by the caller.
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto& s = *static_cast<state*>(opaque);
    const bool cooperative = std::string(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // The member never reads: from the end, paused. Batches read with the reading consumers.
      for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
      if (cooperative) {
        detail::error_ptr e(rd_kafka_incremental_assign(rk, parts));
      } else {
        rd_kafka_assign(rk, parts);
      }
      rd_kafka_pause_partitions(rk, parts);
      for (int i = 0; i < parts->cnt; ++i) {
        const topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
        if (s.owned.insert(tp).second) s.newly.insert(tp);
      }
      s.joined = true;
      ++s.assigns;
      if (char* member = rd_kafka_memberid(rk)) {  // named in a fenced_error: the id is gone once it is lost
        s.member_id = member;
        rd_kafka_mem_free(rk, member);
      }
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      s.revoked_at = s.assigns;
      on_batch_revoked(s, rk, parts);
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && cooperative) {
      detail::error_ptr e(rd_kafka_incremental_unassign(rk, parts));
      for (int i = 0; i < parts->cnt; ++i) {
        const topic_partition tp{parts->elems[i].topic, parts->elems[i].partition};
        s.owned.erase(tp), s.newly.erase(tp), s.group_start.erase(tp);
        forget(s, tp);
      }
      return;
    }
    rd_kafka_assign(rk, nullptr);  // eager revoke, or an error: everything goes
    for (const auto& tp : s.owned) forget(s, tp);
    s.owned.clear(), s.newly.clear(), s.group_start.clear();
  }

  // Serves the member's rebalances (waiting for the first assignment), then looks up where
  // newly assigned partitions start: the group's committed offset, else starting_offsets.
  void serve_group(state& s) const {
    if (!s.member) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms(s));
    for (;;) {
      poll_member(s, s.joined ? 0 : 100);
      if (s.joined) break;
      if (std::chrono::steady_clock::now() > deadline)
        throw kafka_error(description() + ": no partitions assigned by consumer group " + s.options.kafka.at("group.id") +
                          " within " + std::to_string(timeout_ms(s)) + " ms");
    }
    if (s.newly.empty()) return;
    const std::vector<topic_partition> fresh(s.newly.begin(), s.newly.end());
    auto list = detail::new_partition_list(static_cast<int>(fresh.size()));
    for (const auto& tp : fresh) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    detail::check(rd_kafka_committed(s.member.get(), list.get(), timeout_ms(s)),
                  description() + ": cannot read consumer group " + s.options.kafka.at("group.id") + "'s offsets");
    std::vector<topic_partition> uncommitted;
    for (int i = 0; i < list->cnt; ++i) {
      const topic_partition tp{list->elems[i].topic, list->elems[i].partition};
      if (list->elems[i].offset >= 0) s.group_start[tp] = list->elems[i].offset;
      else uncommitted.push_back(tp);
    }
    if (!uncommitted.empty()) {
      // Never committed by the group: starting_offsets (earliest, latest, or JSON; -2/-1, or a
      // partition the JSON does not name, as earliest).
      const auto& o = s.options;
      const bool latest = o.starting_offsets == "latest";
      const auto ends = list_offsets(s, uncommitted, latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING);
      std::optional<offsets> given;
      if (o.starting_offsets != "earliest" && !latest) given = offsets::parse(boost::json::parse(o.starting_offsets), "starting_offsets");
      for (const auto& [tp, off] : ends) {
        const std::int64_t* g = given ? given->find(tp) : nullptr;
        s.group_start[tp] = g && *g >= 0 ? *g : off;
      }
    }
    s.newly.clear();
    save_group_starts(s);
  }

  // Serves the member's callbacks (rebalances); the member never reads.
  static void poll_member(state& s, int timeout) {
    while (rd_kafka_message_t* m = rd_kafka_consumer_poll(s.member.get(), timeout)) {
      const auto err = m->err;
      const std::string text = err ? rd_kafka_message_errstr(m) : "";
      rd_kafka_message_destroy(m);
      if (err == RD_KAFKA_RESP_ERR__FATAL) throw kafka_error(s.group_description + ": " + text, err);
      timeout = 0;
    }
  }

  static void save_group_starts(const state& s) {
    if (s.group_file.empty()) return;
    offsets o;
    for (const auto& [tp, off] : s.group_start) o.set(tp, off);
    write_file_atomically(s.group_file, "v1\n" + boost::json::serialize(o.to_json_value()), /*overwrite=*/true);
  }

  // A batch's end for the group: never behind the group's own offset (a batch re-run after a
  // restart may end before where another instance took the partition meanwhile).
  static std::int64_t group_end(const state& s, const topic_partition& tp, std::int64_t end) {
    const auto it = s.group_start.find(tp);
    return it == s.group_start.end() ? end : std::max(end, it->second);
  }

  // `start` with the start of each newly assigned partition in its place.
  static offsets effective_start(const state& s, offsets start) {
    for (const auto& [tp, off] : s.group_start) start.set(tp, off);
    return start;
  }

  // After a batch committed: its owned partitions' offsets to the group (again, when the
  // exactly-once sink did it in its transaction), and the group starts it used are done.
  void commit_group_batch(state& s, const offsets& end) const {
    // Only the partitions the batch read and still owns: one assigned since (by the member's
    // poll before the sink's commit) has its start looked up at the next planning, and `end`
    // holds an old offset of it.
    auto list = detail::new_partition_list(static_cast<int>(std::max<std::size_t>(1, s.owned.size())));
    for (const auto& tp : s.owned)
      if (const auto* off = end.find(tp); off && s.batch_owned.count(tp))
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = group_end(s, tp, *off);
    // A group start is done once a committed batch ends at or after it.
    bool changed = false;
    for (auto it = s.group_start.begin(); it != s.group_start.end();) {
      const auto* off = end.find(it->first);
      if (off && *off >= it->second) it = s.group_start.erase(it), changed = true;
      else ++it;
    }
    if (changed) save_group_starts(s);
    if (list->cnt > 0) rd_kafka_commit(s.member.get(), list.get(), 0);  // a rebalance in between: the next batch commits
  }

  // A partition that is gone (its topic deleted, or another instance's) is unassigned. Between
  // batches, on the query thread: no read is running.
  static void forget(state& s, const topic_partition& tp, bool gone = false) {
    std::lock_guard lock(s.readers_mutex);
    for (auto& rd : s.readers) {
      rd->known_topics.erase(tp.topic);
      if (!rd->assigned || *rd->assigned != tp) continue;
      rd_kafka_assign(rd->consumer.get(), nullptr);
      rd->assigned.reset();
      rd->stuck = rd->stuck || gone;
    }
    // A stuck reader is not used again: it goes now, and a new one is made when needed.
    for (auto it = s.readers.begin(); it != s.readers.end();) {
      if (!(*it)->stuck) {
        ++it;
        continue;
      }
      s.idle.erase(std::remove(s.idle.begin(), s.idle.end(), it->get()), s.idle.end());
      dispose(std::move(*it));
      it = s.readers.erase(it);
    }
  }

  // Assigns tp alone at `from`, unless the consumer is there already: consecutive batches of a
  // one-partition range read on from where the last one stopped, with the records fetched
  // ahead, without the restart of a new assignment.
  void position_at(const state& s, reader& rd, const topic_partition& tp, std::int64_t from) const {
    if (rd.assigned && *rd.assigned == tp && rd.position == from) return;
    // librdkafka (2.0) fetches a partition only once its consumer has the topic's metadata,
    // which it otherwise refreshes on a one-second timer: ask for it now.
    if (!rd.known_topics.count(tp.topic)) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(rd.consumer.get(), tp.topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      if (rkt && rd_kafka_metadata(rd.consumer.get(), 0, rkt, &md, timeout_ms(s)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) rd.known_topics.insert(tp.topic);
        rd_kafka_metadata_destroy(md);
      }
      if (rkt) rd_kafka_topic_destroy(rkt);
    }
    auto list = detail::new_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = from;
    detail::check(rd_kafka_assign(rd.consumer.get(), list.get()), description() + ": cannot assign " + to_string(tp));
    rd.assigned = tp;
    rd.position = from;
  }

  // A double as Java's Double.toString writes the usual values ("0.0", "2.5").
  static std::string java_double(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string text(buf, ec == std::errc{} ? end : buf);
    if (text.find_first_of(".en") == std::string::npos) text += ".0";
    return text;
  }

  static boost::json::object assign_json(const std::map<std::string, std::vector<std::int32_t>>& a) {
    boost::json::object o;
    for (const auto& [t, ps] : a) {
      boost::json::array arr;
      for (auto p : ps) arr.push_back(p);
      o[t] = std::move(arr);
    }
    return o;
  }

  static void validate(const source_options& o) {
    const int ways = !o.subscribe.empty() + !o.subscribe_pattern.empty() + !o.assign.empty();
    if (ways != 1)
      throw kafka_error("sluice::kafka::source: set exactly one of subscribe, subscribe_pattern and assign (Spark's "
                        "subscribe, subscribePattern, assign)");
    kafka::validate(o.instance, "sluice::kafka::source");
    if (o.consumer_group) {
      if (!o.assign.empty())
        throw kafka_error("sluice::kafka::source: consumer_group needs subscribe or subscribe_pattern, not assign");
      if (o.instance.count != 1)
        throw kafka_error("sluice::kafka::source: set consumer_group or instance, not both (Kafka assigns the partitions)");
      if (!o.kafka.count("group.id"))
        throw kafka_error("sluice::kafka::source: consumer_group needs the Kafka property group.id (kafka.group.id): "
                          "the group every instance of the query joins");
    }
    if (!o.kafka.count("bootstrap.servers"))
      throw kafka_error("sluice::kafka::source: the Kafka property bootstrap.servers (kafka.bootstrap.servers) is required");
    for (const char* key : {"auto.offset.reset", "enable.auto.commit", "key.deserializer", "value.deserializer"})
      if (o.kafka.count(key))
        throw kafka_error(std::string("sluice::kafka::source: kafka.") + key +
                          " is not supported: the source manages offsets itself (use starting_offsets)");
    if (o.max_offsets_per_trigger && *o.max_offsets_per_trigger <= 0)
      throw kafka_error("sluice::kafka::source: max_offsets_per_trigger (maxOffsetsPerTrigger) must be positive");
    if (o.min_offsets_per_trigger && *o.min_offsets_per_trigger <= 0)
      throw kafka_error("sluice::kafka::source: min_offsets_per_trigger (minOffsetsPerTrigger) must be positive");
    if (o.min_offsets_per_trigger && o.max_offsets_per_trigger && *o.min_offsets_per_trigger > *o.max_offsets_per_trigger)
      throw kafka_error("sluice::kafka::source: min_offsets_per_trigger must not exceed max_offsets_per_trigger");
    if (o.min_partitions && *o.min_partitions <= 0)
      throw kafka_error("sluice::kafka::source: min_partitions (minPartitions) must be positive");
    if (o.starting_offsets_by_timestamp_strategy != "error" && o.starting_offsets_by_timestamp_strategy != "latest")
      throw kafka_error("sluice::kafka::source: starting_offsets_by_timestamp_strategy must be \"error\" or \"latest\"");
    if (o.starting_offsets != "earliest" && o.starting_offsets != "latest")
      (void)offsets::parse(parse_json(o.starting_offsets, "starting_offsets"), "starting_offsets (startingOffsets)");
    if (o.ending_offsets != "latest") {
      if (o.ending_offsets == "earliest")
        throw kafka_error("sluice::kafka::source: ending_offsets (endingOffsets) cannot be \"earliest\"");
      (void)offsets::parse(parse_json(o.ending_offsets, "ending_offsets"), "ending_offsets (endingOffsets)");
    }
    if (!o.starting_offsets_by_timestamp.empty())
      (void)offsets::parse(parse_json(o.starting_offsets_by_timestamp, "starting_offsets_by_timestamp"),
                           "starting_offsets_by_timestamp (startingOffsetsByTimestamp)");
    if (!o.subscribe_pattern.empty()) {
      try {
        std::regex re(o.subscribe_pattern);
      } catch (const std::regex_error& e) {
        throw kafka_error("sluice::kafka::source: subscribe_pattern (subscribePattern) '" + o.subscribe_pattern +
                          "' is not a regular expression: " + e.what());
      }
    }
  }

  static boost::json::value parse_json(const std::string& text, const std::string& what) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) throw kafka_error("sluice::kafka::source: " + what + " is neither a keyword nor JSON: " + ec.message());
    return v;
  }

  static detail::handle_ptr make_consumer(const source_options& o) {
    properties props = o.kafka;
    const bool user_group = props.count("group.id") > 0;
    if (!user_group) props["group.id"] = "sluice-kafka-source-" + sluice::detail::random_uuid();
    props["enable.auto.commit"] = "false";
    props["enable.auto.offset.store"] = "false";
    props["enable.partition.eof"] = "true";
    props["auto.offset.reset"] = "error";  // an offset out of range is data loss, never a silent jump
    // librdkafka (2.0) stops fetching a partition whose queue holds queued.min.messages and
    // looks again only a second later: with the default (100000) a reader that briefly falls
    // behind the fetcher idles for most of that second. queued.max.messages.kbytes (64 MB)
    // still bounds the queue.
    props.try_emplace("queued.min.messages", "1000000");
    // A consumer has one fetch in flight per broker: one that reached the end of its range waits
    // on the broker up to fetch.wait.max.ms (librdkafka's 500) for more records, and a partition
    // assigned meanwhile is fetched only after that. With 500, a batch read k partitions in turn
    // on one consumer paid up to k x 0.5 s (6 partitions: 600,000 records took 3 s instead of
    // 0.6 s, docs/performance.md); 50 costs an idle consumer 20 empty fetches a second.
    props.try_emplace("fetch.wait.max.ms", "50");
    return detail::make_handle(RD_KAFKA_CONSUMER, detail::make_conf(props, "sluice::kafka::source"),
                               "sluice::kafka::source");
  }

  int timeout_ms(const state& s) const {
    return static_cast<int>(std::min<std::int64_t>(s.options.poll_timeout.count(), 60000));
  }

  // The partitions the options name, as they are now.
  std::vector<topic_partition> current_partitions(state& s) const {
    const auto& o = s.options;
    std::vector<topic_partition> out;
    if (!o.assign.empty()) {
      for (const auto& [t, ps] : o.assign)
        for (auto p : ps)
          if (o.instance.owns(p)) out.push_back({t, p});
      std::sort(out.begin(), out.end());
      return out;
    }
    const auto all = detail::topic_partitions(s.meta.get(), timeout_ms(s), description());
    std::optional<std::regex> re;
    if (!o.subscribe_pattern.empty()) re.emplace(o.subscribe_pattern);
    for (const auto& [t, ps] : all) {
      const bool wanted = re ? (t.rfind("__", 0) != 0 && std::regex_match(t, *re))
                             : std::find(o.subscribe.begin(), o.subscribe.end(), t) != o.subscribe.end();
      if (!wanted) continue;
      for (auto p : ps)
        if (o.instance.owns(p) && (!s.member || s.owned.count({t, p}))) out.push_back({t, p});
    }
    return out;
  }

  // Starting offsets (given as JSON for every partition) of this instance's partitions only.
  static offsets owned_only(const state& s, offsets all) {
    offsets out;
    for (const auto& tp : all.partitions())
      if (s.options.instance.owns(tp.partition)) out.set(tp, *all.find(tp));
    return out;
  }

  // ListOffsets for many partitions in one request: timestamp -2 earliest, -1 latest, or ms.
  std::map<topic_partition, std::int64_t> list_offsets(state& s, const std::vector<topic_partition>& tps,
                                                       std::int64_t ts, std::set<topic_partition>* missing = nullptr) const {
    std::map<topic_partition, std::int64_t> out;
    if (tps.empty()) return out;
    auto list = detail::new_partition_list(static_cast<int>(tps.size()));
    for (const auto& tp : tps) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = ts;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    // Leadership settles after a restart, or moves when a broker goes down.
    detail::retry_with_metadata(s.meta.get(), "", timeout_ms(s), [&](int step) {
      e = rd_kafka_offsets_for_times(s.meta.get(), list.get(), step);
      return e == RD_KAFKA_RESP_ERR_NO_ERROR;
    });
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && !missing)
      detail::check(e, description() + ": cannot list the partitions' offsets");
    for (int i = 0; i < list->cnt; ++i) {
      const auto& el = list->elems[i];
      topic_partition tp{el.topic, el.partition};
      if (el.err == RD_KAFKA_RESP_ERR_NO_ERROR && e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out[tp] = el.offset;
      } else if (missing && (el.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        missing->insert(tp);
      } else {
        throw kafka_error(description() + ": cannot list the offsets of " + to_string(tp) + ": " +
                              detail::err_text(el.err ? el.err : e),
                          el.err ? el.err : e);
      }
    }
    return out;
  }

  offsets resolve_starting(state& s) const {
    const auto& o = s.options;
    const auto tps = current_partitions(s);
    offsets out;
    if (o.starting_timestamp || !o.starting_offsets_by_timestamp.empty()) {
      offsets wanted;
      if (o.starting_timestamp) {
        for (const auto& tp : tps) wanted.set(tp, *o.starting_timestamp);
      } else {
        wanted = offsets::parse(boost::json::parse(o.starting_offsets_by_timestamp), "starting_offsets_by_timestamp");
        require_all(tps, wanted, "starting_offsets_by_timestamp (startingOffsetsByTimestamp)");
      }
      for (const auto& tp : wanted.partitions()) {
        const auto found = list_offsets(s, {tp}, *wanted.find(tp));
        std::int64_t off = found.begin()->second;
        if (off < 0) {
          if (o.starting_offsets_by_timestamp_strategy == "latest") {
            off = list_offsets(s, {tp}, RD_KAFKA_OFFSET_END).begin()->second;
          } else {
            throw kafka_error(description() + ": no offset of " + to_string(tp) + " has a timestamp at or after " +
                              std::to_string(*wanted.find(tp)) +
                              " (startingOffsetsByTimestampStrategy \"error\"; \"latest\" starts there at the latest offset)");
          }
        }
        out.set(tp, off);
      }
      return out;
    }
    if (o.starting_offsets == "earliest" || o.starting_offsets == "latest") {
      for (const auto& [tp, off] :
           list_offsets(s, tps, o.starting_offsets == "earliest" ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END))
        out.set(tp, off);
      return out;
    }
    const offsets given = offsets::parse(boost::json::parse(o.starting_offsets), "starting_offsets");
    require_all(tps, given, "starting_offsets (startingOffsets)");
    const auto earliest = list_offsets(s, given.partitions(), RD_KAFKA_OFFSET_BEGINNING);
    const auto latest = list_offsets(s, given.partitions(), RD_KAFKA_OFFSET_END);
    for (const auto& tp : given.partitions()) {
      const std::int64_t off = *given.find(tp);
      out.set(tp, off == -2 ? earliest.at(tp) : off == -1 ? latest.at(tp) : off);
    }
    return out;
  }

  void require_all(const std::vector<topic_partition>& tps, const offsets& given, const std::string& what) const {
    // Spark: specific offsets must name every partition of the subscribed topics.
    if (!state_->options.assign.empty() || !state_->options.subscribe.empty()) {
      for (const auto& tp : tps)
        if (!given.find(tp))
          throw kafka_error(description() + ": " + what + " has no offset for " + to_string(tp) +
                            ": with specific offsets, name every partition");
    }
  }

  // The latest offsets of every partition; partitions of `start` that are gone stay at their
  // offset (after the loss is reported once).
  offsets fetch_latest(state& s, const offsets& start) const {
    for (const auto& tp : start.partitions())
      if (!s.options.instance.owns(tp.partition))
        throw kafka_error(description() + ": the checkpoint has offsets of " + to_string(tp) + ", which instance " +
                          s.options.instance.text() + " does not own (partition " + std::to_string(tp.partition) +
                          " % " + std::to_string(s.options.instance.count) +
                          "): the instance's index or count changed since the checkpoint was written; each "
                          "instance keeps its own checkpoint for one index and count (docs/scaling.md)");
    const auto tps = current_partitions(s);
    std::set<topic_partition> missing;
    const auto ends = list_offsets(s, tps, RD_KAFKA_OFFSET_END, &missing);
    offsets out;
    for (const auto& [tp, off] : ends) out.set(tp, off);
    for (const auto& tp : start.partitions()) {
      const std::int64_t from = *start.find(tp);
      const auto* now = out.find(tp);
      if (s.member && !s.owned.count(tp)) {
        if (!now) out.set(tp, from);  // another instance's: stays where this one left it
        continue;
      }
      if (s.group_start.count(tp)) continue;  // read from the group's offset, not from `start`
      if (!now) {
        out.set(tp, from);
        forget(s, tp, /*gone=*/true);
        if (!s.reported_gone.count(tp) && s.options.assign.empty()) {
          s.reported_gone.insert(tp);
          lost(s, tp, from, -1, "are gone: the partition no longer exists (its topic was deleted)");
        }
      } else if (*now < from) {
        lost(s, tp, *now, from, "went back: the partition now ends at " + std::to_string(*now) + ", before offset " +
                                    std::to_string(from) + " (its topic was re-created)");
      }
    }
    if (s.options.ending_offsets != "latest") {
      const offsets ending = offsets::parse(boost::json::parse(s.options.ending_offsets), "ending_offsets");
      for (const auto& tp : ending.partitions()) {
        auto* now = out.find(tp);
        const std::int64_t e = *ending.find(tp);
        if (now && e >= 0) *now = std::min(*now, std::max(e, start.find(tp) ? *start.find(tp) : 0));
      }
    }
    return out;
  }

  static offsets cap(offsets latest, const offsets& bound, const offsets& start) {
    for (auto& [t, parts] : latest.topics)
      for (auto& [p, off] : parts) {
        const auto* b = bound.find({t, p});
        const auto* st = start.find({t, p});
        off = std::min(off, std::max(b ? *b : 0, st ? *st : 0));
      }
    return latest;
  }

  // Spark's minOffsetsPerTrigger: no batch until enough offsets are new or maxTriggerDelay passed.
  static bool delay_batch(state& s, const offsets& start, const offsets& latest) {
    std::int64_t fresh = 0;
    for (const auto& tp : latest.partitions()) {
      const auto* from = start.find(tp);
      fresh += std::max<std::int64_t>(0, *latest.find(tp) - (from ? *from : 0));
    }
    const auto now = std::chrono::steady_clock::now();
    if (fresh < *s.options.min_offsets_per_trigger && now - s.last_trigger < s.options.max_trigger_delay) return true;
    s.last_trigger = now;
    return false;
  }

  // Spark's rateLimit: the limit shared between partitions in proportion to what each has
  // available, rounding down except below 1 (small partitions are not starved).
  static offsets rate_limit(const offsets& start, const offsets& latest, std::int64_t limit) {
    std::map<topic_partition, std::pair<std::int64_t, std::int64_t>> sizes;
    double total = 0;
    for (const auto& tp : latest.partitions()) {
      const auto* f = start.find(tp);
      const std::int64_t from = f ? *f : 0, until = *latest.find(tp);
      if (until > from) {
        sizes[tp] = {from, until};
        total += static_cast<double>(until - from);
      }
    }
    if (total <= static_cast<double>(limit)) return latest;
    offsets out = latest;
    for (const auto& [tp, range] : sizes) {
      const double prorate = static_cast<double>(limit) * (static_cast<double>(range.second - range.first) / total);
      const auto step = static_cast<std::int64_t>(prorate < 1 ? std::ceil(prorate) : std::floor(prorate));
      out.set(tp, std::min(range.second, range.first + step));
    }
    return out;
  }

  // Spark's KafkaOffsetRangeCalculator: ranges split in proportion to their size.
  static std::vector<offset_range> split(const std::vector<offset_range>& ranges, std::int32_t min_partitions) {
    double total = 0;
    for (const auto& r : ranges) total += static_cast<double>(r.until - r.from);
    std::vector<offset_range> out;
    for (const auto& r : ranges) {
      const std::int64_t size = r.until - r.from;
      const auto parts = std::max<std::int64_t>(
          1, std::llround(static_cast<double>(size) / total * static_cast<double>(min_partitions)));
      for (std::int64_t i = 0; i < parts; ++i) {
        const std::int64_t a = r.from + size * i / parts, b = r.from + size * (i + 1) / parts;
        if (b > a) out.push_back({r.tp, a, b});
      }
    }
    return out;
  }

  // Offsets [from, until) of tp are lost (until -1: all from `from` on).
  void lost(state& s, const topic_partition& tp, std::int64_t from, std::int64_t until, const std::string& why) const {
    const std::string range = until < 0 ? "offsets from " + std::to_string(from) + " on"
                                        : "offsets " + std::to_string(from) + " to " + std::to_string(until - 1);
    const std::string message = description() + ": " + to_string(tp) + " (topic " + tp.topic + ", partition " +
                                std::to_string(tp.partition) + "): " + range + " " + why +
                                "; some data may have been lost";
    if (s.options.fail_on_data_loss)
      throw kafka_error(message + ". Set fail_on_data_loss (failOnDataLoss) to false to go on without them.");
    s.data_loss_events.fetch_add(1, std::memory_order_relaxed);
    if (until > from) s.offsets_lost.fetch_add(until - from, std::memory_order_relaxed);
  }

  // The record's bytes are copied into `arena`'s blocks: the message is destroyed after this.
  static record to_record(const rd_kafka_message_t* m, const shared_string& topic, std::int32_t partition,
                          bool include_headers, byte_arena& arena) {
    record r;
    if (m->key) r.key.emplace(arena.copy(m->key, m->key_len));
    if (m->payload) r.value.emplace(arena.copy(m->payload, m->len));
    r.topic = topic.share();
    r.partition = partition;
    r.offset = m->offset;
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ms = rd_kafka_message_timestamp(m, &type);
    r.timestamp = sluice::timestamp{ms * 1000};
    r.timestamp_type = type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? 1 : 0;
    if (include_headers) {
      auto& hs = r.headers.emplace();
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          header x{arena.copy<sluice::kafka::detail::string_tag>(name, std::strlen(name)), std::nullopt};
          if (value) x.value.emplace(arena.copy(value, size));
          hs.push_back(std::move(x));
        }
      }
    }
    return r;
  }

  std::shared_ptr<state> state_;
};

}  // namespace sluice::kafka
