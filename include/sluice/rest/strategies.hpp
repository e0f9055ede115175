// The offset strategies of sluice::rest. Each is a tag type naming a typed offset struct that
// the checkpoint stores by reflection, and the rules that turn one response page into records,
// each with the offset reached once it is delivered:
//
//   rest::incremental_strategy  incremental_offset{last_id}: the largest integer id delivered; records
//                      with an id <= last_id are dropped (an inclusive `id_gte` boundary).
//   rest::max_field_strategy    max_field_offset{has_max, order, max_value, ids_at_max}: the largest
//                      value of a record field (numbers, or ISO-8601 strings compared as
//                      instants) and the ids delivered at exactly that value, so that an
//                      inclusive `_gte` boundary does not deliver them twice.
//   rest::timestamp_strategy    timestamp_offset{records, timestamp, skip}: the timestamp the API
//                      returned in its response (timestamp_path), and how many records of
//                      the response to that timestamp were delivered already.
//   rest::cursor_strategy       cursor_offset{records, cursor, skip}: the page cursor to request (from
//                      the body's cursor_path or the Link header's rel="next") and how many
//                      records of that page were delivered; an absent next cursor means caught
//                      up: the same page is asked again later and its new records delivered.
//
// `records` (timestamp, cursor) counts every record delivered so far: opaque cursors have no
// order of their own, and offsets must grow.
#pragma once
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../time.hpp"
#include "detail/text.hpp"
#include "options.hpp"

namespace sluice::rest {

struct incremental_offset {
  std::int64_t last_id = 0;
};
BOOST_DESCRIBE_STRUCT(incremental_offset, (), (last_id))

struct max_field_offset {
  bool has_max = false;
  double order = 0;       // the value as a number (ISO-8601: microseconds since the epoch)
  std::string max_value;  // the value as the API wrote it: the {max_value} placeholder
  std::vector<std::string> ids_at_max;
};
BOOST_DESCRIBE_STRUCT(max_field_offset, (), (has_max, order, max_value, ids_at_max))

struct timestamp_offset {
  std::int64_t records = 0;
  std::string timestamp;
  std::int64_t skip = 0;
};
BOOST_DESCRIBE_STRUCT(timestamp_offset, (), (records, timestamp, skip))

struct cursor_offset {
  std::int64_t records = 0;
  std::string cursor;
  std::int64_t skip = 0;
};
BOOST_DESCRIBE_STRUCT(cursor_offset, (), (records, cursor, skip))

// One response, parsed: its records and what the strategies read from it.
struct page {
  std::vector<boost::json::object> records;
  std::optional<std::string> next_cursor;  // cursor strategy
  std::optional<std::string> timestamp;    // timestamp strategy
};

template <class Offset>
struct page_entry {
  boost::json::object record;
  Offset after;  // the offset once this record is delivered
};

template <class Offset>
struct page_result {
  std::vector<page_entry<Offset>> entries;
  Offset next;        // where the next request of this poll starts
  // Ask again within this poll: the cursor strategy when there is a next page; the others
  // when this response brought new records (a limited page may have left some behind).
  bool more = false;
};

namespace detail {

// RFC 6901 JSON pointer lookup ("" is the value itself); null when a step is missing.
inline const boost::json::value* find_pointer(const boost::json::value& root, std::string_view ptr) {
  const boost::json::value* cur = &root;
  while (!ptr.empty()) {
    if (ptr.front() != '/') return nullptr;
    ptr.remove_prefix(1);
    const auto slash = ptr.find('/');
    std::string token(ptr.substr(0, slash));
    ptr = slash == std::string_view::npos ? std::string_view() : ptr.substr(slash);
    for (std::size_t i = 0; (i = token.find('~', i)) != std::string::npos; ++i)
      token.replace(i, 2, i + 1 < token.size() && token[i + 1] == '1' ? "/" : "~");
    if (cur->is_object()) {
      cur = cur->get_object().if_contains(token);
    } else if (cur->is_array()) {
      if (token.empty() || !std::all_of(token.begin(), token.end(), [](unsigned char c) { return std::isdigit(c); }))
        return nullptr;
      const auto index = std::stoull(token);
      cur = index < cur->get_array().size() ? &cur->get_array()[index] : nullptr;
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

// A record's field: a top-level key, or a JSON pointer when it starts with '/'.
inline const boost::json::value* record_field(const boost::json::object& record, const std::string& field) {
  if (!field.empty() && field.front() == '/') {
    const auto slash = field.find('/', 1);
    const std::string first = field.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    const auto* top = record.if_contains(first);
    if (!top || slash == std::string::npos) return top;
    return find_pointer(*top, std::string_view(field).substr(slash));
  }
  return record.if_contains(field);
}

inline std::string scalar_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return boost::json::serialize(v);
}

// An identity for dropping records seen at a boundary: the id field, else the whole record.
inline std::string record_identity(const boost::json::object& record, const std::string& id_field) {
  if (!id_field.empty())
    if (const auto* id = record_field(record, id_field)) return scalar_text(*id);
  return boost::json::serialize(record);
}

inline std::string describe_record(const std::string& where, std::size_t index) {
  return where + ": record " + std::to_string(index);
}

}  // namespace detail

// ---------------------------------------------------------------- incremental id
struct incremental_strategy {
  using offset_type = incremental_offset;
  static constexpr strategy_kind kind = strategy_kind::incremental;
  static constexpr const char* name = "incremental";

  static std::string field(const options& o) { return o.offset_field.empty() ? std::string("id") : o.offset_field; }

  static offset_type initial(const options& o) {
    offset_type out;
    if (!o.initial_offset.empty()) {
      try {
        std::size_t used = 0;
        out.last_id = std::stoll(o.initial_offset, &used);
        if (used != o.initial_offset.size()) throw std::invalid_argument("trailing text");
      } catch (const std::exception&) {
        throw error("initial_offset: '" + o.initial_offset + "' is not an integer id (strategy incremental)");
      }
    }
    return out;
  }

  static void placeholders(const offset_type& off, std::map<std::string, std::string>& out) {
    out["last_id"] = std::to_string(off.last_id);
    out["next_id"] = std::to_string(off.last_id + 1);
  }

  static std::int64_t id_of(const options& o, const boost::json::object& r, const std::string& where, std::size_t i) {
    const auto* v = detail::record_field(r, field(o));
    if (v && v->is_int64()) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      return static_cast<std::int64_t>(v->get_uint64());
    if (v && v->is_string()) {
      const std::string s(v->get_string());
      if (!s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
        return std::stoll(s);
    }
    throw error(detail::describe_record(where, i) + ": field '" + field(o) + "' " +
                (v ? "is not an integer id: " + boost::json::serialize(*v) : std::string("is missing")) +
                " (strategy incremental)");
  }

  static page_result<offset_type> consume(const options& o, const offset_type& before, page&& p,
                                          const std::string& where) {
    std::vector<std::pair<std::int64_t, boost::json::object>> keyed;
    for (std::size_t i = 0; i < p.records.size(); ++i) keyed.emplace_back(id_of(o, p.records[i], where, i), std::move(p.records[i]));
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    page_result<offset_type> out{{}, before, false};
    for (auto& [id, rec] : keyed) {
      if (id <= out.next.last_id) continue;  // delivered already (inclusive boundary) or a duplicate
      out.next.last_id = id;
      out.entries.push_back({std::move(rec), out.next});
    }
    out.more = !out.entries.empty();  // ask again from the new offset: more may be waiting
    return out;
  }
};

// ---------------------------------------------------------------- max field value
struct max_field_strategy {
  using offset_type = max_field_offset;
  static constexpr strategy_kind kind = strategy_kind::max_field;
  static constexpr const char* name = "max_field";

  // Numbers compare as numbers, ISO-8601 strings as instants, other strings are refused.
  static std::optional<double> order_of(const boost::json::value& v) {
    if (v.is_number()) return v.to_number<double>();
    if (v.is_string()) {
      if (auto t = parse_timestamp(v.get_string())) return static_cast<double>(t->micros);
    }
    return std::nullopt;
  }

  static offset_type initial(const options& o) {
    offset_type out;
    if (o.initial_offset.empty()) return out;
    boost::system::error_code ec;
    auto as_json = boost::json::parse(o.initial_offset, ec);
    std::optional<double> order;
    if (!ec && as_json.is_number()) order = order_of(as_json);
    else order = order_of(boost::json::value(o.initial_offset));
    if (!order)
      throw error("initial_offset: '" + o.initial_offset +
                  "' is neither a number nor an ISO-8601 timestamp (strategy max_field)");
    out.has_max = true;
    out.order = *order;
    out.max_value = o.initial_offset;
    return out;
  }

  static void placeholders(const offset_type& off, std::map<std::string, std::string>& out) {
    out["max_value"] = off.max_value;
  }

  static page_result<offset_type> consume(const options& o, const offset_type& before, page&& p,
                                          const std::string& where) {
    if (o.offset_field.empty()) throw error("offset_field: the max_field strategy needs the record field to compare");
    struct keyed_record {
      double order;
      std::string text;
      boost::json::object record;
    };
    std::vector<keyed_record> keyed;
    for (std::size_t i = 0; i < p.records.size(); ++i) {
      const auto* v = detail::record_field(p.records[i], o.offset_field);
      const auto order = v ? order_of(*v) : std::nullopt;
      if (!order)
        throw error(detail::describe_record(where, i) + ": field '" + o.offset_field + "' " +
                    (v ? "is neither a number nor an ISO-8601 timestamp: " + boost::json::serialize(*v)
                       : std::string("is missing")) +
                    " (strategy max_field)");
      keyed.push_back({*order, detail::scalar_text(*v), std::move(p.records[i])});
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
    page_result<offset_type> out{{}, before, false};
    auto& cur = out.next;
    for (auto& k : keyed) {
      const std::string id = detail::record_identity(k.record, o.id_field);
      if (cur.has_max && k.order < cur.order) continue;  // older than what was delivered
      if (cur.has_max && k.order == cur.order) {
        if (std::find(cur.ids_at_max.begin(), cur.ids_at_max.end(), id) != cur.ids_at_max.end()) continue;
        cur.ids_at_max.push_back(id);
      } else {
        cur.has_max = true;
        cur.order = k.order;
        cur.max_value = k.text;
        cur.ids_at_max = {id};
      }
      out.entries.push_back({std::move(k.record), cur});
    }
    out.more = !out.entries.empty();
    return out;
  }
};

// ---------------------------------------------------------------- response timestamp
struct timestamp_strategy {
  using offset_type = timestamp_offset;
  static constexpr strategy_kind kind = strategy_kind::timestamp;
  static constexpr const char* name = "timestamp";

  static offset_type initial(const options& o) { return {0, o.initial_offset, 0}; }

  static void placeholders(const offset_type& off, std::map<std::string, std::string>& out) {
    out["timestamp"] = off.timestamp;
  }

  static page_result<offset_type> consume(const options&, const offset_type& before, page&& p, const std::string&) {
    page_result<offset_type> out{{}, before, false};
    const auto n = static_cast<std::int64_t>(p.records.size());
    // The response's timestamp covers all its records; without one the API has nothing newer.
    const bool moves = p.timestamp && *p.timestamp != before.timestamp;
    for (std::int64_t i = before.skip; i < n; ++i) {
      offset_type after{out.next.records + 1, before.timestamp, i + 1};
      if (moves && i == n - 1) after = {out.next.records + 1, *p.timestamp, 0};
      out.next = after;
      out.entries.push_back({std::move(p.records[static_cast<std::size_t>(i)]), after});
    }
    out.more = !out.entries.empty();
    return out;
  }
};

// ---------------------------------------------------------------- page cursor
struct cursor_strategy {
  using offset_type = cursor_offset;
  static constexpr strategy_kind kind = strategy_kind::cursor;
  static constexpr const char* name = "cursor";

  static offset_type initial(const options& o) { return {0, o.initial_offset, 0}; }

  static void placeholders(const offset_type& off, std::map<std::string, std::string>& out) {
    out["cursor"] = off.cursor;
  }

  static page_result<offset_type> consume(const options&, const offset_type& before, page&& p, const std::string&) {
    page_result<offset_type> out{{}, before, false};
    const auto n = static_cast<std::int64_t>(p.records.size());
    const bool has_next = p.next_cursor && !p.next_cursor->empty();
    for (std::int64_t i = before.skip; i < n; ++i) {
      offset_type after{out.next.records + 1, before.cursor, i + 1};
      if (has_next && i == n - 1) after = {out.next.records + 1, *p.next_cursor, 0};
      out.next = after;
      out.entries.push_back({std::move(p.records[static_cast<std::size_t>(i)]), after});
    }
    if (has_next) {  // the page is complete: continue on the next one
      out.next = {out.next.records, *p.next_cursor, 0};
      out.more = true;
    }
    return out;
  }
};

template <class S>
concept offset_strategy = requires { typename S::offset_type; S::kind; };

}  // namespace sluice::rest
