// Options of the Kafka source and sink, with Spark's meaning (Structured Streaming + Kafka
// Integration Guide); each field names the Spark option it stands for. docs/kafka.md lists
// them with their defaults.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "instances.hpp"

namespace sluice::kafka {

// Exactly one of subscribe, subscribe_pattern and assign.
struct source_options {
  std::vector<std::string> subscribe{};                       // subscribe: topics
  std::string subscribe_pattern{};                            // subscribePattern: a regular expression over topic names
  std::map<std::string, std::vector<std::int32_t>> assign{};  // assign: topic -> partitions (fixed)
  // startingOffsets: "earliest", "latest" or Spark's JSON {"t":{"0":23,"1":-1}} (-2 earliest, -1
  // latest); only when the query starts without a checkpoint.
  std::string starting_offsets = "latest";
  // startingOffsetsByTimestamp: JSON {"t":{"0":1700000000000}} (milliseconds); wins over starting_offsets.
  std::string starting_offsets_by_timestamp{};
  // startingTimestamp: one timestamp (ms) for every partition; wins over both above.
  std::optional<std::int64_t> starting_timestamp{};
  // startingOffsetsByTimestampStrategy: "error" (no offset at or after the timestamp fails) or
  // "latest" (such a partition starts at its latest offset).
  std::string starting_offsets_by_timestamp_strategy = "error";
  // endingOffsets: "latest" (no end) or JSON {"t":{"0":50,"1":-1}}: the stream reads no further (bounded reads).
  std::string ending_offsets = "latest";
  std::optional<std::int64_t> max_offsets_per_trigger{};  // maxOffsetsPerTrigger
  std::optional<std::int64_t> min_offsets_per_trigger{};  // minOffsetsPerTrigger
  std::chrono::milliseconds max_trigger_delay = std::chrono::minutes(15);  // maxTriggerDelay
  std::optional<std::int32_t> min_partitions{};           // minPartitions
  bool fail_on_data_loss = true;                          // failOnDataLoss
  bool include_headers = false;                           // includeHeaders
  std::chrono::milliseconds poll_timeout = std::chrono::seconds(120);  // kafkaConsumer.pollTimeoutMs
  // Commit the processed offsets to the consumer group (kafka.group.id) after each batch, so
  // kafka-consumer-groups.sh shows the lag; never read back (the checkpoint has the offsets).
  bool commit_offsets_to_group = true;
  properties kafka{};  // kafka.*: librdkafka consumer properties, as is (bootstrap.servers...)
  // Scale-out (docs/scaling.md): this process reads only the partitions p with
  // p % instance.count == instance.index, and its checkpoint holds only their offsets.
  instance_spec instance{};
  // Scale-out by Kafka's group protocol (docs/scaling.md): the instances sharing kafka.group.id
  // have the subscription's partitions assigned (cooperative-sticky) and rebalanced by Kafka.
  // Revocations are served between batches (and, with the exactly-once Kafka sink, right before
  // the batch's offsets go into its transaction); a partition newly assigned is read from the
  // group's committed offset (or, without one, starting_offsets); that sink commits the batch's
  // offsets to the group in its transaction with the member's generation (a fenced member's
  // batch is aborted and run again: docs/scaling.md). Needs subscribe or
  // subscribe_pattern and kafka.group.id; not with instance.
  bool consumer_group = false;
};

enum class delivery { at_least_once, exactly_once };

struct sink_options {
  // topic: the topic of every row; without it each row's `topic` column says where it goes.
  std::string topic{};
  // at_least_once (Spark's): rows may be written again when a batch is re-run.
  // exactly_once: one Kafka transaction per batch, fenced by a transactional id derived from
  // the query id; consumers reading with isolation.level=read_committed see each row once.
  delivery guarantee = delivery::at_least_once;
  // The transactional id's prefix (exactly_once); the id is "<prefix>-<query id>". Default "sluice".
  std::string transactional_id_prefix = "sluice";
  std::chrono::milliseconds flush_timeout = std::chrono::minutes(2);
  properties kafka{};  // kafka.*: librdkafka producer properties, as is
};

}  // namespace sluice::kafka
