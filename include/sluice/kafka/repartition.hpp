// sl::kafka::repartition_to<"column">(options): re-keying through Kafka, as Kafka Streams'
// repartition topics. The rows go to a topic with the column's value as the record key and the
// row as JSON (sl::to_json_string) as the value; Kafka's partitioner sends equal keys to one
// partition. A second query reads the topic back -- kafka::source(...) | kafka::decode_json<Row>()
// -- and, run as instances (source_options::instance), has every key on one instance, so a
// stateful stage after it is local (docs/scaling.md, "Re-keying").
//
//   // every instance i of n: the input's partitions i, i+n, ... -> re-keyed by user
//   sl::start(sl::kafka::source({.subscribe = {"clicks"}, ..., .instance = {i, n}})
//               | sl::kafka::decode_json<Click>()
//               | sl::kafka::repartition_to<"user">({.topic = "clicks-by-user",
//                                                    .guarantee = sl::kafka::delivery::exactly_once, ...}),
//             sl::output_mode::append, {.checkpoint = "ck/rekey-" + std::to_string(i)});
//   // and, beside it, the stateful half over the re-keyed topic
//   sl::start(sl::kafka::source({.subscribe = {"clicks-by-user"}, ..., .instance = {i, n}})
//               | sl::kafka::decode_json<Click>() | sl::group_by(sl::col<"user">) | ...,
//             ..., {.checkpoint = "ck/count-" + std::to_string(i)});
//
// Two queries, each with its own checkpoint, rather than one query with a topic inside: each
// half keeps Spark's restart semantics unchanged, and with exactly_once the first half's
// transactions make every row appear once in the topic, while the second half reads committed
// records only (librdkafka's default isolation.level, read_committed).
//
// The key bytes: a string column's bytes as they are; any other type as its JSON. Partition =
// librdkafka's default partitioner (CRC32 of the key); every sluice process agrees on it. Java
// producers writing the same topic use murmur2: set kafka.partitioner = "murmur2_random" to match.
#pragma once
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../codec/json.hpp"
#include "../schema.hpp"
#include "sink.hpp"

namespace sluice::kafka {

// What repartition_to writes: the key and the row's JSON.
using keyed_json = sluice::row<sluice::field<"key", std::string>, sluice::field<"value", std::string>>;

template <class Row, fixed_string Key>
class bound_repartition {
 public:
  explicit bound_repartition(sink_options o) : out_(std::move(o)) {}

  void start(const sink_context& ctx) { out_.start(ctx); }

  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    records_.clear();
    records_.reserve(rows.size());
    for (const auto& row : rows) {
      keyed_json r;
      const auto& k = get<Key>(row);
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(k)>, std::string>) get<"key">(r) = k;
      else get<"key">(r) = to_json_string(k);
      get<"value">(r) = to_json_string(row);
      records_.push_back(std::move(r));
    }
    out_.add_batch(batch_id, std::span<const keyed_json>(records_.data(), records_.size()));
  }

  std::string description() const { return "KafkaRepartition[" + std::string(Key.view()) + "] " + out_.description(); }

 private:
  bound_sink<keyed_json> out_;
  std::vector<keyed_json> records_;
};

template <fixed_string Key>
struct repartition_to {
  using is_sink_descriptor = void;
  sink_options options;
  template <class Row>
  auto bind() && {
    static_assert(sluice::record<Row>, "sluice::kafka::repartition_to: rows must be described structs or sl::row");
    static_assert(has_column<Row, Key>, "sluice::kafka::repartition_to: the rows have no column of that name");
    if (options.topic.empty()) throw kafka_error("sluice::kafka::repartition_to<\"" + std::string(Key.view()) + "\">: set the topic option");
    return bound_repartition<Row, Key>(std::move(options));
  }
};

}  // namespace sluice::kafka
