// sl::kafka::sink: each batch's rows as Kafka records, after Spark's Kafka sink.
//
//   q = sl::start(rows | sl::kafka::sink({.topic = "out", .kafka = {{"bootstrap.servers", bootstrap}}}), ...);
//
// Rows. Columns with Spark's names are used as they are: `value` (std::string or an optional
// of it: the record's bytes), `key` (likewise), `topic` (the row's topic when the `topic`
// option is not set), `partition` (std::int32_t, optional) and `headers`
// (std::vector<sl::kafka::header>, optional). A row without a `value` column is written as
// its JSON (sl::to_json_string) in the value.
//
// Delivery. at_least_once (Spark's): every row of a batch is produced and the batch waits for
// all acknowledgements; a batch re-run after a failure is written again. exactly_once: one
// Kafka transaction per batch with the transactional id "<prefix>-<query id>" (the same across
// restarts, so a restarted query fences the one before and aborts its open transaction). The
// transaction also commits, as a consumer-group offset (group = the transactional id,
// partition 0 of `commit_topic`), batch id + 1: the batch is in Kafka exactly when that offset
// says so. On start the sink reads it back and skips every batch up to it, so a batch replayed
// after a crash between the Kafka commit and the checkpoint's commit log is not written twice.
// Consumers reading with isolation.level=read_committed see each row once.
#pragma once
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/crash_point.hpp"
#include "../codec/json.hpp"
#include "../schema.hpp"
#include "../graph/pipe.hpp"
#include "client.hpp"
#include "group.hpp"
#include "offsets.hpp"
#include "options.hpp"

namespace sluice::kafka {

namespace detail {

// A string or Kafka bytes column (sl::kafka::record's own), or an optional one.
template <class F>
constexpr bool bytes_type = std::is_same_v<F, std::string> || std::is_same_v<F, bytes> || std::is_same_v<F, shared_string>;
template <class F>
constexpr bool bytes_field = bytes_type<typename sluice::detail::nullable_of<F>::type>;

template <class Row, fixed_string Name>
constexpr bool has_bytes_column() {
  if constexpr (has_column<Row, Name>) return bytes_field<column_type_t<Row, Name>>;
  else return false;
}

template <class F>
std::optional<std::string_view> bytes_of(const F& s) {
  if constexpr (sluice::detail::is_optional_v<F>) {
    if (!s) return std::nullopt;
    return std::string_view(*s);
  } else {
    return std::string_view(s);
  }
}

struct delivery_state {
  std::atomic<std::int64_t> failed{0};
  std::string first_error;  // written by the delivery callback (on the flushing thread)
};

inline void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (!m->err) return;
  auto* d = static_cast<delivery_state*>(opaque);
  if (d->failed.fetch_add(1) == 0)
    d->first_error = std::string(m->rkt ? rd_kafka_topic_name(m->rkt) : "?") + "-" + std::to_string(m->partition) +
                     ": " + rd_kafka_err2str(m->err);
}

}  // namespace detail

template <class Row>
class bound_sink {
  static constexpr bool has_value = detail::has_bytes_column<Row, "value">();
  static constexpr bool has_key = detail::has_bytes_column<Row, "key">();
  static constexpr bool has_topic = detail::has_bytes_column<Row, "topic">();

 public:
  explicit bound_sink(sink_options o) : s_(std::make_shared<state>()) { s_->options = std::move(o); }

  void start(const sink_context& ctx) {
    auto& s = *s_;
    if (s.options.topic.empty() && !has_topic)
      throw kafka_error(description() + ": set the topic option or give the rows a `topic` column");
    if (!s.options.kafka.count("bootstrap.servers"))
      throw kafka_error(description() + ": the Kafka property bootstrap.servers (kafka.bootstrap.servers) is required");
    s.query_id = ctx.query_id;
    properties props = s.options.kafka;
    if (s.options.guarantee == delivery::exactly_once) {
      s.transactional_id = s.options.transactional_id_prefix + "-" + ctx.query_id;
      props["transactional.id"] = s.transactional_id;
    }
    rd_kafka_conf_t* conf = detail::make_conf(props, "sluice::kafka::sink");
    rd_kafka_conf_set_dr_msg_cb(conf, detail::on_delivery);
    rd_kafka_conf_set_opaque(conf, &s.delivery);
    s.producer = detail::make_handle(RD_KAFKA_PRODUCER, conf, "sluice::kafka::sink");
    if (s.options.guarantee == delivery::exactly_once) {
      transactional(rd_kafka_init_transactions(s.producer.get(), timeout_ms()), "init_transactions");
      s.last_committed = read_last_committed();
    }
    // The output topic's metadata now, held by a topic handle: librdkafka (2.0) otherwise asks
    // for it on its one-second timer when the first record is produced, and the first batch
    // waits up to a second for its acknowledgements or its commit.
    if (!s.options.topic.empty()) {
      s.topic.reset(rd_kafka_topic_new(s.producer.get(), s.options.topic.c_str(), nullptr));
      kafka::detail::refresh_metadata(s.producer.get(), s.options.topic, timeout_ms());
    }
  }

  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    auto& s = *s_;
    if (s.last_committed && batch_id <= *s.last_committed) return;  // already in Kafka
    const bool txn = s.options.guarantee == delivery::exactly_once;
    // A consumer-group source's offsets go into the transaction with its member's generation
    // (group.hpp, source.hpp); a member a generation behind is refused: the transaction is
    // aborted and the batch written again. A member fenced out of the group throws fenced_error.
    for (int attempt = 1;; ++attempt)
      if (write_batch(batch_id, rows, txn, attempt < 5)) break;
    s.last_committed = batch_id;
  }

 private:
  // false: the group's generation changed under the transaction (aborted; write it again).
  bool write_batch(std::int64_t batch_id, std::span<const Row> rows, bool txn, bool may_retry) {
    auto& s = *s_;
    rd_kafka_t* rk = s.producer.get();
    if (txn) transactional(rd_kafka_begin_transaction(rk), "begin_transaction");
    try {
      s.delivery.failed = 0;
      for (const auto& row : rows) produce(row);
      if (txn) {
        sluice::detail::crash_point("kafka_txn_offsets");  // fence tests stop the process here (a stall)
        if (detail::error_ptr e{detail::txn_offsets_registry::instance().send(s.query_id, rk, timeout_ms())}) {
          if (may_retry && (rd_kafka_error_txn_requires_abort(e.get()) || detail::group_fencing_code(rd_kafka_error_code(e.get())))) {
            rd_kafka_flush(rk, timeout_ms());
            detail::error_ptr aborted(rd_kafka_abort_transaction(rk, timeout_ms()));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            return false;
          }
          transactional(e.release(), "committing the source's offsets to its consumer group in batch " +
                                         std::to_string(batch_id));
        }
        commit_marker(batch_id);
        transactional(rd_kafka_commit_transaction(rk, timeout_ms()), "commit_transaction of batch " + std::to_string(batch_id));
        sluice::detail::crash_point("kafka_txn_committed");  // crash tests: in Kafka, not in commits/N
      } else {
        rd_kafka_flush(rk, timeout_ms());
        if (rd_kafka_outq_len(rk) > 0)
          throw kafka_error(description() + ": batch " + std::to_string(batch_id) + ": " +
                            std::to_string(rd_kafka_outq_len(rk)) + " records not acknowledged in time");
      }
      if (s.delivery.failed > 0)
        throw kafka_error(description() + ": batch " + std::to_string(batch_id) + ": " +
                          std::to_string(s.delivery.failed.load()) + " records not written; the first: " +
                          s.delivery.first_error);
    } catch (...) {
      if (txn) {
        rd_kafka_flush(rk, timeout_ms());  // an abort must not race records still in flight
        detail::error_ptr e(rd_kafka_abort_transaction(rk, timeout_ms()));
      }
      throw;
    }
    return true;
  }

 public:
  std::string description() const {
    const auto& o = s_->options;
    return std::string("KafkaSink[") + (o.topic.empty() ? "topic column" : "topic=" + o.topic) +
           (o.guarantee == delivery::exactly_once ? ", exactly once" : "") + "]";
  }

  // The last batch id this sink's transactions committed (exactly_once), as read at start.
  std::optional<std::int64_t> last_committed_batch() const { return s_->last_committed; }

 private:
  struct state {
    sink_options options;
    std::string query_id, transactional_id;
    detail::delivery_state delivery;
    kafka::detail::handle_ptr producer;
    kafka::detail::topic_ptr topic;  // after the producer: released first
    std::optional<std::int64_t> last_committed;
    std::string row_topic;  // the last row's `topic` column
  };

  int timeout_ms() const { return static_cast<int>(s_->options.flush_timeout.count()); }

  void transactional(rd_kafka_error_t* raw, const std::string& what) {
    detail::error_ptr e(raw);
    if (!e) return;
    throw kafka_error(description() + ": " + what + ": " + rd_kafka_error_string(e.get()) +
                          (rd_kafka_error_txn_requires_abort(e.get()) ? " (the transaction was aborted)" : ""),
                      rd_kafka_error_code(e.get()));
  }

  void produce(const Row& row) {
    auto& s = *s_;
    std::string json;
    std::optional<std::string_view> value;
    if constexpr (has_value) value = detail::bytes_of(get<"value">(row));
    else {
      json = to_json_string(row);
      value = json;
    }
    std::optional<std::string_view> key;
    if constexpr (has_key) key = detail::bytes_of(get<"key">(row));
    const std::string* topic = &s.options.topic;
    if constexpr (has_topic) {
      if (topic->empty()) {
        const auto t = detail::bytes_of(get<"topic">(row));
        if (!t || t->empty()) throw kafka_error(description() + ": a row has no topic (null or empty `topic` column)");
        if (*t != s.row_topic) s.row_topic.assign(*t);  // librdkafka wants it NUL-terminated
        topic = &s.row_topic;
      }
    }
    std::int32_t partition = RD_KAFKA_PARTITION_UA;
    if constexpr (has_column<Row, "partition">) {
      const auto& p = get<"partition">(row);
      if constexpr (sluice::detail::is_optional_v<std::remove_cvref_t<decltype(p)>>) {
        if (p) partition = static_cast<std::int32_t>(*p);
      } else {
        partition = static_cast<std::int32_t>(p);
      }
    }
    rd_kafka_headers_t* headers = nullptr;
    if constexpr (has_column<Row, "headers">) {
      const auto& h = get<"headers">(row);
      const std::vector<header>* list = nullptr;
      if constexpr (sluice::detail::is_optional_v<std::remove_cvref_t<decltype(h)>>) list = h ? &*h : nullptr;
      else list = &h;
      if (list && !list->empty()) {
        headers = rd_kafka_headers_new(list->size());
        for (const auto& x : *list)
          rd_kafka_header_add(headers, x.key.data(), static_cast<ssize_t>(x.key.size()), x.value ? x.value->data() : nullptr,
                              x.value ? static_cast<ssize_t>(x.value->size()) : 0);
      }
    }
    void* value_data = value ? const_cast<char*>(value->data()) : nullptr;
    const std::size_t value_size = value ? value->size() : 0;
    const void* key_data = key ? key->data() : nullptr;
    const std::size_t key_size = key ? key->size() : 0;
    for (;;) {
      rd_kafka_resp_err_t e;
      if (headers) {
        e = rd_kafka_producev(s.producer.get(), RD_KAFKA_V_TOPIC(topic->c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_KEY(key_data, key_size),
                              RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
      } else {
        e = rd_kafka_producev(s.producer.get(), RD_KAFKA_V_TOPIC(topic->c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_KEY(key_data, key_size), RD_KAFKA_V_END);
      }
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(s.producer.get(), 50);
        continue;
      }
      if (e) {
        if (headers) rd_kafka_headers_destroy(headers);
        throw kafka_error(description() + ": cannot produce to " + *topic + ": " + rd_kafka_err2str(e), e);
      }
      break;  // the record owns the headers now
    }
    rd_kafka_poll(s.producer.get(), 0);  // serve delivery reports
  }

  // The batch marker: batch id + 1 as the offset of partition 0 of `commit_topic` in the
  // consumer group named by the transactional id, committed by the batch's transaction.
  std::string marker_topic() const { return s_->options.topic.empty() ? std::string("sluice-kafka-sink") : s_->options.topic; }

  void commit_marker(std::int64_t batch_id) {
    auto list = kafka::detail::new_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), marker_topic().c_str(), 0)->offset = batch_id + 1;
    rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata_new(s_->transactional_id.c_str());
    detail::error_ptr e(rd_kafka_send_offsets_to_transaction(s_->producer.get(), list.get(), group, timeout_ms()));
    rd_kafka_consumer_group_metadata_destroy(group);
    if (e)
      throw kafka_error(description() + ": recording batch " + std::to_string(batch_id) + " in the transaction: " +
                            rd_kafka_error_string(e.get()),
                        rd_kafka_error_code(e.get()));
  }

  // Offsets can only be committed for a partition that exists: the output topic is created
  // (the broker's default partitions and replication) when it does not exist yet. An existing
  // topic is not created again: that needs neither the CREATE permission nor a broker that
  // serves CreateTopics (librdkafka's mock cluster does not).
  void ensure_marker_topic() {
    rd_kafka_t* rk = s_->producer.get();
    if (kafka::detail::topic_partitions(rk, timeout_ms(), description()).count(marker_topic())) return;
    char err[512];
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(marker_topic().c_str(), -1, -1, err, sizeof err);
    if (!topic) throw kafka_error(description() + ": cannot create topic " + marker_topic() + ": " + err);
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &topic, 1, nullptr, queue);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, timeout_ms());
    std::string problem;
    if (!ev) {
      problem = "no answer in time";
    } else if (rd_kafka_event_error(ev)) {
      problem = rd_kafka_event_error_string(ev);
    } else {
      std::size_t n = 0;
      const auto* results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      if (n == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        problem = rd_kafka_topic_result_error_string(results[0]);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    rd_kafka_NewTopic_destroy(topic);
    if (!problem.empty()) throw kafka_error(description() + ": cannot create topic " + marker_topic() + ": " + problem);
  }

  std::optional<std::int64_t> read_last_committed() {
    properties props = s_->options.kafka;
    for (const char* k : {"transactional.id", "acks", "enable.idempotence", "linger.ms", "compression.type",
                          "transaction.timeout.ms", "batch.num.messages", "queue.buffering.max.ms",
                          "queue.buffering.max.messages", "queue.buffering.max.kbytes", "message.timeout.ms",
                          "delivery.timeout.ms", "compression.codec", "batch.size"})
      props.erase(k);
    ensure_marker_topic();
    props["group.id"] = s_->transactional_id;
    props["isolation.level"] = "read_committed";  // the offset fetch waits for pending transactions
    auto consumer = kafka::detail::make_handle(RD_KAFKA_CONSUMER, kafka::detail::make_conf(props, "sluice::kafka::sink"),
                                               "sluice::kafka::sink");
    auto list = kafka::detail::new_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), marker_topic().c_str(), 0);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 10; ++attempt) {
      e = rd_kafka_committed(consumer.get(), list.get(), timeout_ms());
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    }
    rd_kafka_consumer_close(consumer.get());
    if (e || list->elems[0].err)
      throw kafka_error(description() + ": cannot read the last committed batch (group " + s_->transactional_id + "): " +
                        rd_kafka_err2str(e ? e : list->elems[0].err));
    const std::int64_t next = list->elems[0].offset;
    if (next <= 0) return std::nullopt;  // RD_KAFKA_OFFSET_INVALID: nothing committed yet
    return next - 1;
  }

  std::shared_ptr<state> s_;
};

// The descriptor piped into: sl::kafka::sink(options).
struct sink {
  using is_sink_descriptor = void;
  sink_options options;
  template <class Row>
  auto bind() && {
    static_assert(sluice::record<Row>, "sluice::kafka::sink: rows must be described structs or sl::row");
    return bound_sink<Row>(std::move(options));
  }
};

}  // namespace sluice::kafka
