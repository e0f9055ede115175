// sluice::kafka: Kafka topics as a source and a sink, with Spark's options, over librdkafka
// (Debian's librdkafka-dev); Azure Event Hubs through its Kafka endpoint. Link the CMake
// target sluice::kafka. Not part of <sluice/sluice.hpp>: include this header yourself.
//
//   #include <sluice/kafka.hpp>
//   auto events = sl::kafka::source({.subscribe = {"events"}, .starting_offsets = "earliest",
//                                    .kafka = {{"bootstrap.servers", "127.0.0.1:9092"}}});
//   auto q = sl::start(events | sl::kafka::decode_json<Event>() | ... | sl::kafka::sink({.topic = "out", ...}),
//                      sl::output_mode::append, {.checkpoint = "checkpoints/q"});
//
// See docs/kafka.md.
#pragma once
#include "kafka/client.hpp"
#include "kafka/decode.hpp"
#include "kafka/eventhubs.hpp"
#include "kafka/instances.hpp"
#include "kafka/repartition.hpp"
#include "kafka/offsets.hpp"
#include "kafka/options.hpp"
#include "kafka/sink.hpp"
#include "kafka/source.hpp"
