// Azure Event Hubs through its Kafka endpoint, and options by Spark's names from JSON.
//
//   auto props = sl::kafka::eventhubs::properties({.connection_string = std::getenv("EH_CONN"),
//                                                  .consumer_group = "$Default"});
//   auto src = sl::kafka::source({.subscribe = {"events"}, .kafka = props});
//
// Event Hubs speaks Kafka on <namespace>.servicebus.windows.net:9093 with SASL_SSL and the
// PLAIN mechanism, the user name "$ConnectionString" and the connection string as the
// password; the consumer group is the Kafka group.id. The connection string is a secret: it
// goes to librdkafka only, and descriptions and errors never show it.
#pragma once
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "client.hpp"
#include "options.hpp"

namespace sluice::kafka {

namespace eventhubs {

struct connection {
  std::string connection_string;           // Spark's eventhubs.connectionString
  std::string consumer_group = "$Default";  // eventhubs.consumerGroup
  // The bootstrap address; empty: "<namespace host>:9093" from the connection string's Endpoint.
  std::string bootstrap_servers{};
};

// The namespace host of "Endpoint=sb://<host>/;SharedAccessKeyName=...;SharedAccessKey=...".
inline std::string endpoint_host(std::string_view cs) {
  for (std::size_t at = 0; at < cs.size();) {
    const std::size_t end = std::min(cs.find(';', at), cs.size());
    std::string_view part = cs.substr(at, end - at);
    at = end + 1;
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != "Endpoint") continue;
    std::string_view url = part.substr(eq + 1);
    if (const auto s = url.find("://"); s != std::string_view::npos) url.remove_prefix(s + 3);
    if (const auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
    if (!url.empty()) return std::string(url);
  }
  throw kafka_error(
      "sluice::kafka::eventhubs: the connection string has no Endpoint=sb://<namespace>.servicebus.windows.net/ part");
}

// The librdkafka properties for a connection.
inline kafka::properties properties(const connection& c) {
  if (c.connection_string.empty()) throw kafka_error("sluice::kafka::eventhubs: the connection string is empty");
  kafka::properties p;
  p["bootstrap.servers"] = c.bootstrap_servers.empty() ? endpoint_host(c.connection_string) + ":9093" : c.bootstrap_servers;
  p["security.protocol"] = "SASL_SSL";
  p["sasl.mechanisms"] = "PLAIN";
  p["sasl.username"] = "$ConnectionString";
  p["sasl.password"] = c.connection_string;
  if (!c.consumer_group.empty()) p["group.id"] = c.consumer_group;
  return p;
}

}  // namespace eventhubs

namespace detail {
inline std::string option_text(const boost::json::value& v, const std::string& key) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  if (v.is_int64() || v.is_uint64()) return std::to_string(v.to_number<std::int64_t>());
  if (v.is_object() || v.is_array()) return boost::json::serialize(v);  // assign, startingOffsets as JSON
  throw kafka_error("sluice::kafka: option '" + key + "': expected a string, number or boolean");
}
inline std::int64_t option_int(const std::string& text, const std::string& key) {
  try {
    std::size_t used = 0;
    const auto v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw kafka_error("sluice::kafka: option '" + key + "': expected an integer, got '" + text + "'");
}
inline bool option_bool(const std::string& text, const std::string& key) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw kafka_error("sluice::kafka: option '" + key + "': expected true or false, got '" + text + "'");
}
// Spark's durations for maxTriggerDelay: "15m", "30s", "500ms", "1h" (a number alone: ms).
inline std::chrono::milliseconds option_duration(const std::string& text, const std::string& key) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) throw kafka_error("sluice::kafka: option '" + key + "': expected a duration such as 15m, got '" + text + "'");
  const std::int64_t n = option_int(text.substr(0, i), key);
  const std::string unit = text.substr(i);
  if (unit.empty() || unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m" || unit == "min") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw kafka_error("sluice::kafka: option '" + key + "': unknown unit '" + unit + "' (ms, s, m, h)");
}
}  // namespace detail

// source_options from Spark's option names ({"subscribe": "a,b", "startingOffsets": "earliest",
// "kafka.bootstrap.servers": "...", "eventhubs.connectionString": "..."}); an unknown option is
// an error naming it.
inline source_options source_options_from_json(const boost::json::object& o) {
  source_options s;
  eventhubs::connection eh;
  bool has_eh = false;
  for (const auto& [k, v] : o) {
    const std::string key(k);
    const std::string text = detail::option_text(v, key);
    if (key.rfind("kafka.", 0) == 0) s.kafka[key.substr(6)] = text;
    else if (key == "subscribe") {
      std::size_t at = 0;
      while (at <= text.size()) {
        const std::size_t end = std::min(text.find(',', at), text.size());
        if (end > at) s.subscribe.push_back(text.substr(at, end - at));
        at = end + 1;
      }
    } else if (key == "subscribePattern") s.subscribe_pattern = text;
    else if (key == "assign") {
      const auto a = boost::json::parse(text);
      if (!a.is_object()) throw kafka_error("sluice::kafka: option 'assign': expected {\"topic\":[0,1],...}");
      for (const auto& [t, ps] : a.get_object()) {
        if (!ps.is_array()) throw kafka_error("sluice::kafka: option 'assign': topic '" + std::string(t) + "' needs an array");
        for (const auto& p : ps.get_array()) s.assign[std::string(t)].push_back(static_cast<std::int32_t>(p.to_number<std::int64_t>()));
      }
    } else if (key == "startingOffsets") s.starting_offsets = text;
    else if (key == "startingOffsetsByTimestamp") s.starting_offsets_by_timestamp = text;
    else if (key == "startingTimestamp") s.starting_timestamp = detail::option_int(text, key);
    else if (key == "startingOffsetsByTimestampStrategy") s.starting_offsets_by_timestamp_strategy = text;
    else if (key == "endingOffsets") s.ending_offsets = text;
    else if (key == "maxOffsetsPerTrigger") s.max_offsets_per_trigger = detail::option_int(text, key);
    else if (key == "minOffsetsPerTrigger") s.min_offsets_per_trigger = detail::option_int(text, key);
    else if (key == "maxTriggerDelay") s.max_trigger_delay = detail::option_duration(text, key);
    else if (key == "minPartitions") s.min_partitions = static_cast<std::int32_t>(detail::option_int(text, key));
    else if (key == "failOnDataLoss") s.fail_on_data_loss = detail::option_bool(text, key);
    else if (key == "includeHeaders") s.include_headers = detail::option_bool(text, key);
    else if (key == "kafkaConsumer.pollTimeoutMs") s.poll_timeout = std::chrono::milliseconds(detail::option_int(text, key));
    else if (key == "eventhubs.connectionString") { eh.connection_string = text; has_eh = true; }
    else if (key == "eventhubs.consumerGroup") eh.consumer_group = text;
    else throw kafka_error("sluice::kafka: unknown source option '" + key + "'");
  }
  if (has_eh) {
    // Explicit kafka.* properties (a bootstrap for a private endpoint, a CA file) win.
    for (auto& [k, v] : eventhubs::properties(eh)) s.kafka.emplace(k, v);
  }
  return s;
}

}  // namespace sluice::kafka
