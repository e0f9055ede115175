// Kafka source offsets: the next offset to read of every topic partition, kept in the
// checkpoint's offset log as Spark's KafkaSourceOffset JSON, {"topic":{"0":23,"1":-1}}
// (topics and partitions in order), so that the text matches what Spark writes.
#pragma once
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../codec/json.hpp"
#include "bytes.hpp"
#include "client.hpp"

namespace sluice::kafka {

struct topic_partition {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const topic_partition&, const topic_partition&) = default;
};

inline std::string to_string(const topic_partition& tp) { return tp.topic + "-" + std::to_string(tp.partition); }

struct offsets {
  // topic -> partition -> offset. In a starting_offsets JSON, -2 means earliest, -1 latest.
  std::map<std::string, std::map<std::int32_t, std::int64_t>> topics;

  std::int64_t* find(const topic_partition& tp) {
    auto t = topics.find(tp.topic);
    if (t == topics.end()) return nullptr;
    auto p = t->second.find(tp.partition);
    return p == t->second.end() ? nullptr : &p->second;
  }
  const std::int64_t* find(const topic_partition& tp) const { return const_cast<offsets*>(this)->find(tp); }
  void set(const topic_partition& tp, std::int64_t offset) { topics[tp.topic][tp.partition] = offset; }
  std::vector<topic_partition> partitions() const {
    std::vector<topic_partition> out;
    for (const auto& [t, parts] : topics)
      for (const auto& [p, o] : parts) out.push_back({t, p});
    return out;
  }
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [t, parts] : topics) n += parts.size();
    return n;
  }

  boost::json::value to_json_value() const {
    boost::json::object out;
    for (const auto& [t, parts] : topics) {
      boost::json::object o;
      for (const auto& [p, off] : parts) o[std::to_string(p)] = off;
      out[t] = std::move(o);
    }
    return out;
  }
  // Spark's JSON; `what` names the option or file in errors.
  static offsets parse(const boost::json::value& v, const std::string& what) {
    auto bad = [&](const std::string& why) {
      return kafka_error(what + ": expected {\"topic\":{\"partition\":offset,...},...}: " + why);
    };
    if (!v.is_object()) throw bad(std::string("got ") + sluice::detail::json_kind_name(v));
    offsets out;
    for (const auto& [t, parts] : v.get_object()) {
      if (!parts.is_object()) throw bad("topic '" + std::string(t) + "' is not an object");
      auto& m = out.topics[std::string(t)];
      for (const auto& [p, off] : parts.get_object()) {
        std::int32_t partition = 0;
        const auto r = std::from_chars(p.data(), p.data() + p.size(), partition);
        if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || partition < 0)
          throw bad("partition '" + std::string(p) + "' of topic '" + std::string(t) + "' is not a partition number");
        if (!off.is_int64() && !off.is_uint64())
          throw bad("the offset of " + std::string(t) + "-" + std::string(p) + " is not an integer");
        m[partition] = off.to_number<std::int64_t>();
      }
    }
    return out;
  }
  static offsets from_json_value(const boost::json::value& v) { return parse(v, "sluice::kafka offsets"); }

  // The engine's order: equal, before (every partition of *this is in `o` at or after its
  // offset here: `o` is ahead), or neither/after. Partitions come and go, so this is not a
  // field-by-field order.
  int compare_offset(const offsets& o) const {
    if (topics == o.topics) return 0;
    for (const auto& [t, parts] : topics)
      for (const auto& [p, off] : parts) {
        const auto* other = o.find({t, p});
        if (!other || *other < off) return 1;
      }
    return -1;
  }
};
BOOST_DESCRIBE_STRUCT(offsets, (), ())

// One header of a record (Spark: struct<key: string, value: binary>).
struct header {
  shared_string key;
  std::optional<bytes> value;  // absent for a null header value
  friend bool operator==(const header&, const header&) = default;
};
BOOST_DESCRIBE_STRUCT(header, (), (key, value))

// A Kafka record as a row: Spark's Kafka source schema. key, value and header values are
// Spark's binary, topic a string (bytes.hpp: they read as strings, and the source's rows
// share their bytes in blocks instead of allocating each); timestamp_type is 0 for
// CreateTime, 1 for LogAppendTime; headers are present only with include_headers.
struct record {
  std::optional<bytes> key;
  std::optional<bytes> value;
  shared_string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  sluice::timestamp timestamp{};
  std::int32_t timestamp_type = 0;
  std::optional<std::vector<header>> headers;
};
BOOST_DESCRIBE_STRUCT(record, (), (key, value, topic, partition, offset, timestamp, timestamp_type, headers))

}  // namespace sluice::kafka
