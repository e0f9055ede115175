// The small part of librdkafka's C API that sluice::kafka uses, behind RAII handles:
// configuration from a map (every `kafka.*` option passed as is), consumers and producers,
// topic metadata, watermarks and offsets for timestamps. Errors are kafka_error, naming the
// configuration key, topic or partition; configuration values are never put in a message
// (they may be secrets: sasl.password, an Event Hubs connection string).
#pragma once
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../engine/control.hpp"

namespace sluice::kafka {

class kafka_error : public std::runtime_error {
 public:
  explicit kafka_error(const std::string& message, rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR)
      : std::runtime_error(message), code_(code) {}
  rd_kafka_resp_err_t code() const noexcept { return code_; }

 private:
  rd_kafka_resp_err_t code_;
};

// A consumer-group member's batch refused because the group had moved its partitions to another
// member (docs/scaling.md, "Fenced"): the batch's transaction was aborted, nothing of it was
// committed. The engine runs the batch again with the partitions the group assigns now
// (retriable_batch_error); the query stops with it only when that keeps failing.
class fenced_error : public kafka_error, public retriable_batch_error {
 public:
  using kafka_error::kafka_error;
};

// librdkafka properties, by name (what follows `kafka.` in Spark's options).
using properties = std::map<std::string, std::string>;

namespace detail {

inline std::string err_text(rd_kafka_resp_err_t e) { return rd_kafka_err2str(e); }

inline void check(rd_kafka_resp_err_t e, const std::string& what) {
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw kafka_error(what + ": " + err_text(e), e);
}

// Properties whose values are never shown (errors, descriptions, progress).
inline bool secret_property(const std::string& key) {
  return key.find("password") != std::string::npos || key.find("secret") != std::string::npos ||
         key.find("sasl.jaas") != std::string::npos || key.find("sasl.oauthbearer.config") != std::string::npos ||
         key == "ssl.key.pem" || key == "ssl_key";
}

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const {
    if (rk) rd_kafka_destroy(rk);
  }
};
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;

struct list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    if (l) rd_kafka_topic_partition_list_destroy(l);
  }
};
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter>;

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const {
    if (m) rd_kafka_message_destroy(m);
  }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct topic_deleter {
  void operator()(rd_kafka_topic_t* t) const {
    if (t) rd_kafka_topic_destroy(t);
  }
};
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;

struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const {
    if (q) rd_kafka_queue_destroy(q);
  }
};
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

// Messages taken from a consumer's queue a batch at a time (rd_kafka_consume_batch_queue: one
// lock and one clock read per batch, where rd_kafka_consumer_poll takes them per message).
// Messages taken but not handed out are destroyed with the batch.
class message_batch {
 public:
  message_batch() = default;
  message_batch(const message_batch&) = delete;
  message_batch& operator=(const message_batch&) = delete;
  ~message_batch() { drop(); }

  // The next message, taking at most `want` more from the queue when none is left (nullptr
  // when none came within timeout_ms).
  rd_kafka_message_t* next(rd_kafka_queue_t* q, int timeout_ms, std::size_t want) {
    if (at_ == size_) {
      size_ = at_ = 0;
      const ssize_t n = rd_kafka_consume_batch_queue(q, timeout_ms, buf_, std::min(want, capacity));
      if (n <= 0) return nullptr;
      size_ = static_cast<std::size_t>(n);
    }
    return buf_[at_++];
  }
  // How many were taken from the queue but not handed out.
  std::size_t left() const { return size_ - at_; }
  void drop() {
    for (; at_ < size_; ++at_) rd_kafka_message_destroy(buf_[at_]);
  }

 private:
  static constexpr std::size_t capacity = 1024;
  rd_kafka_message_t* buf_[capacity]{};
  std::size_t size_ = 0, at_ = 0;
};

struct error_deleter {
  void operator()(rd_kafka_error_t* e) const {
    if (e) rd_kafka_error_destroy(e);
  }
};
using error_ptr = std::unique_ptr<rd_kafka_error_t, error_deleter>;

inline partition_list_ptr new_partition_list(int size = 0) {
  return partition_list_ptr(rd_kafka_topic_partition_list_new(size));
}

// A configuration object from properties; `who` names the connector in errors.
inline rd_kafka_conf_t* make_conf(const properties& props, const std::string& who) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      // librdkafka's own message may quote the value: leave it out for secrets.
      throw kafka_error(who + ": Kafka property '" + key + "'" +
                        (secret_property(key) ? std::string(" is not valid") : ": " + std::string(err)));
    }
  }
  return conf;
}

inline handle_ptr make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf, const std::string& who) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);  // takes conf on success
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw kafka_error(who + ": cannot create the Kafka " + (type == RD_KAFKA_CONSUMER ? "consumer" : "producer") +
                      ": " + err);
  }
  return handle_ptr(rk);
}

// Partitions of each topic (topics that do not exist, or are being deleted, are absent).
inline std::map<std::string, std::vector<std::int32_t>> topic_partitions(rd_kafka_t* rk, int timeout_ms,
                                                                          const std::string& who) {
  const rd_kafka_metadata_t* md = nullptr;
  check(rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms), who + ": cannot read the topics' metadata");
  std::map<std::string, std::vector<std::int32_t>> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    auto& parts = out[t.topic];
    for (int p = 0; p < t.partition_cnt; ++p) parts.push_back(t.partitions[p].id);
    std::sort(parts.begin(), parts.end());
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

// Asks for the metadata of `topic` (empty: of every topic). librdkafka (2.0) learns that a
// partition has a new leader, its old one being down, only at its next periodic refresh
// (topic.metadata.refresh.interval.ms, 5 minutes); requests to the old leader wait meanwhile.
inline void refresh_metadata(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = topic.empty() ? nullptr : rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, rkt ? 0 : 1, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
  if (rkt) rd_kafka_topic_destroy(rkt);
}

// Runs `attempt(timeout)` until it returns true or `timeout_ms` passed, each try bounded by a few
// seconds and followed by a metadata refresh: a request to a leader that went down waits for
// no answer, and the next one goes to the new leader.
template <class Attempt>
inline void retry_with_metadata(rd_kafka_t* rk, const std::string& topic, int timeout_ms, Attempt&& attempt) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    const int step = static_cast<int>(std::clamp<std::int64_t>(left, 1, 5000));
    if (attempt(step) || left <= step) return;
    refresh_metadata(rk, topic, step);
  }
}

// Low and high watermark of one partition (the high one is the last stable offset under
// isolation.level=read_committed).
inline std::pair<std::int64_t, std::int64_t> watermarks(rd_kafka_t* rk, const std::string& topic, std::int32_t partition,
                                                        int timeout_ms, const std::string& who) {
  std::int64_t low = 0, high = 0;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  retry_with_metadata(rk, topic, timeout_ms, [&](int step) {
    e = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, step);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  });
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return {low, high};
  throw kafka_error(who + ": cannot read the offsets of " + topic + "-" + std::to_string(partition) + ": " +
                        err_text(e),
                    e);
}

// For each (topic, partition, timestamp in ms): the earliest offset whose timestamp is at or
// after it, or -1 when there is none.
inline void offsets_for_times(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, int timeout_ms,
                              const std::string& who) {
  check(rd_kafka_offsets_for_times(rk, list, timeout_ms), who + ": cannot look up offsets by timestamp");
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw kafka_error(who + ": cannot look up the offset by timestamp of " + std::string(e.topic) + "-" +
                            std::to_string(e.partition) + ": " + err_text(e.err),
                        e.err);
  }
}

}  // namespace detail
}  // namespace sluice::kafka
