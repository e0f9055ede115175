// sl::kafka::decode_json<T>(options): the value of each Kafka record, a JSON object, decoded
// into the described struct T (fields by name; extra fields ignored; optionals may be absent),
// with the file source's decoders (simdjson when sluice::simdjson is linked, else Boost.JSON)
// and its bad-record policies:
//
//   events | sl::kafka::decode_json<Event>()                                       // fail
//   events | sl::kafka::decode_json<Event>({.on_bad_record = sl::kafka::bad_record::skip})
//   events | sl::kafka::decode_json<Event>({.on_bad_record = sl::kafka::dead_letter("events-bad"),
//                                           .kafka = {{"bootstrap.servers", bootstrap}}})
//
// fail: the batch fails with bad_record_error naming topic, partition and offset
// ("events-2@117: field 'user_id': expected an integer, got a string"). skip: dropped and
// counted. dead_letter(topic): the record's key, value and headers are produced to that topic
// with the headers sluice.error, sluice.topic, sluice.partition and sluice.offset added, and
// reading goes on (a batch read again dead-letters its bad records again: at least once).
// A null value (a tombstone) and an empty one are bad records too.
#pragma once
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "../ops/flat_map.hpp"
#include "../sources/bad_record.hpp"
#include "../sources/files/parse.hpp"
#include "client.hpp"
#include "offsets.hpp"

namespace sluice::kafka {

using sluice::bad_record;
using bad_record_policy = bad_record_policy_for<std::string>;  // dead letters go to a topic
inline bad_record_policy dead_letter(std::string topic) { return bad_record_policy::dead_letter(std::move(topic)); }

struct decode_options {
  bad_record_policy on_bad_record = bad_record::fail;
  properties kafka{};  // producer properties for dead_letter (bootstrap.servers...)
};

// A bad record under bad_record::fail; what() is "topic-partition@offset: reason".
class bad_record_error : public kafka_error {
 public:
  bad_record_error(std::string topic, std::int32_t partition, std::int64_t offset, std::string reason)
      : kafka_error(topic + "-" + std::to_string(partition) + "@" + std::to_string(offset) + ": " + reason),
        topic_(std::move(topic)), partition_(partition), offset_(offset), reason_(std::move(reason)) {}
  const std::string& topic() const noexcept { return topic_; }
  std::int32_t partition() const noexcept { return partition_; }
  std::int64_t offset() const noexcept { return offset_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string topic_;
  std::int32_t partition_;
  std::int64_t offset_;
  std::string reason_;
};

struct decode_metrics {
  std::int64_t rows = 0;
  std::int64_t bad_records_skipped = 0;
  std::int64_t bad_records_dead_lettered = 0;
};

namespace detail {

template <class T>
struct json_decoder_state {
  decode_options options;
  sluice::files::detail::json_lines_parser<T> parser;
  handle_ptr producer;  // dead letters
  std::mutex mutex;
  decode_metrics metrics;
  std::string reason;

  void dead_letter(const record& r, const std::string& why) {
    if (!producer) {
      if (!options.kafka.count("bootstrap.servers"))
        throw kafka_error("sluice::kafka::decode_json: dead_letter needs the Kafka property bootstrap.servers in "
                          "decode_options::kafka");
      producer = make_handle(RD_KAFKA_PRODUCER, make_conf(options.kafka, "sluice::kafka::decode_json"),
                             "sluice::kafka::decode_json");
    }
    rd_kafka_headers_t* h = rd_kafka_headers_new(8);
    if (r.headers)
      for (const auto& x : *r.headers)
        rd_kafka_header_add(h, x.key.data(), static_cast<ssize_t>(x.key.size()), x.value ? x.value->data() : nullptr,
                            x.value ? static_cast<ssize_t>(x.value->size()) : 0);
    const std::string partition = std::to_string(r.partition), offset = std::to_string(r.offset);
    rd_kafka_header_add(h, "sluice.error", -1, why.data(), static_cast<ssize_t>(why.size()));
    rd_kafka_header_add(h, "sluice.topic", -1, r.topic.data(), static_cast<ssize_t>(r.topic.size()));
    rd_kafka_header_add(h, "sluice.partition", -1, partition.data(), static_cast<ssize_t>(partition.size()));
    rd_kafka_header_add(h, "sluice.offset", -1, offset.data(), static_cast<ssize_t>(offset.size()));
    const auto& topic = options.on_bad_record.target();
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const std::size_t value_size = r.value ? r.value->size() : 0;
    const void* key = r.key ? r.key->data() : nullptr;
    const std::size_t key_size = r.key ? r.key->size() : 0;
    const rd_kafka_resp_err_t e =
        rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_END);
    if (e) {
      rd_kafka_headers_destroy(h);
      throw kafka_error("sluice::kafka::decode_json: cannot dead-letter " + r.topic.str() + "-" + partition + "@" + offset +
                            " to " + topic + ": " + rd_kafka_err2str(e),
                        e);
    }
    // Bad records are rare: wait for each, so a dead letter is in Kafka before the batch ends.
    rd_kafka_flush(producer.get(), 30000);
    if (rd_kafka_outq_len(producer.get()) > 0)
      throw kafka_error("sluice::kafka::decode_json: dead letter for " + r.topic.str() + "-" + partition + "@" + offset +
                        " not acknowledged by " + topic + " in time");
  }
};

template <class T>
struct json_decoder {
  std::shared_ptr<json_decoder_state<T>> s;

  template <class Emit>
  void operator()(const record& r, Emit& emit) const {
    auto& st = *s;
    std::lock_guard lock(st.mutex);
    T out{};
    st.reason.clear();
    bool good = false;
    if (!r.value) {
      st.reason = "the value is null";
    } else {
      const auto res = st.parser.parse(*r.value, 0, out, st.reason);
      if (res == sluice::files::detail::parse_result::row) good = true;
      else if (res == sluice::files::detail::parse_result::ignored) st.reason = "the value is empty";
    }
    if (good) {
      ++st.metrics.rows;
      emit(std::move(out));
      return;
    }
    switch (st.options.on_bad_record.which()) {
      case bad_record_policy::kind::fail: throw bad_record_error(r.topic, r.partition, r.offset, st.reason);
      case bad_record_policy::kind::skip: ++st.metrics.bad_records_skipped; return;
      case bad_record_policy::kind::dead_letter:
        st.dead_letter(r, st.reason);
        ++st.metrics.bad_records_dead_lettered;
        return;
    }
  }
};

}  // namespace detail

// The stage; keep a copy of `metrics` (a shared handle) to read the counters.
template <class T>
class decode_json_t {
 public:
  using is_stage_descriptor = void;
  explicit decode_json_t(decode_options o) : s_(std::make_shared<detail::json_decoder_state<T>>()) {
    s_->options = std::move(o);
    if (s_->options.on_bad_record.which() == bad_record_policy::kind::dead_letter && s_->options.on_bad_record.target().empty())
      throw kafka_error("sluice::kafka::decode_json: dead_letter needs a topic");
  }
  template <class In>
  auto bind() && {
    static_assert(std::is_same_v<In, record>, "sluice::kafka::decode_json: the input must be Kafka records (sl::kafka::source)");
    return sluice::flat_map<T>(detail::json_decoder<T>{s_}).template bind<In>();
  }
  decode_metrics metrics() const {
    std::lock_guard lock(s_->mutex);
    return s_->metrics;
  }

 private:
  std::shared_ptr<detail::json_decoder_state<T>> s_;
};

template <class T>
decode_json_t<T> decode_json(decode_options options = {}) {
  static_assert(sluice::record<T>, "sluice::kafka::decode_json<T>: T must be a described struct or sl::row");
  return decode_json_t<T>(std::move(options));
}

}  // namespace sluice::kafka
