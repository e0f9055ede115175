// Records into rows for the file sources, sl::files::read_* and Kafka's decode_json: one
// JSON object per line (simdjson first when enabled, Boost.JSON for the rest and the error
// text), or CSV records by position or header name; and the two formats of file_source.
#pragma once
#include <algorithm>
#include <boost/json.hpp>
#include <boost/mp11.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../codec/csv.hpp"
#include "../../codec/json_parser.hpp"
#include "../../detail/utf8.hpp"
#include "../../codec/json.hpp"
#include "../../schema.hpp"
#include "reader.hpp"
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
#include "../../codec/simdjson_decode.hpp"
#endif

namespace sluice::files {
namespace detail {
namespace csvd = sluice::detail::csv;

enum class parse_result { row, ignored, bad };

inline bool blank_line(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

inline bool check_utf8(std::string_view s, std::string& reason) {
  const auto at = sluice::detail::find_invalid_utf8(s);
  if (at == std::string_view::npos) return true;
  static constexpr char hex[] = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(s[at]);
  reason = std::string("invalid UTF-8 (byte 0x") + hex[b >> 4] + hex[b & 15] + " at column " + std::to_string(at + 1) + ")";
  return false;
}

// One JSON object per line, into T with sl::from_json (fields by name, extra fields ignored).
// With SLUICE_HAS_SIMDJSON (CMake target sluice::simdjson), a line is first decoded by
// simdjson straight into T (about 2x faster: see docs/performance.md); a line it does not take
// (malformed, a missing field, anything unusual) goes through Boost.JSON as before, which
// accepts it or words the error.
template <class T>
class json_lines_parser {
 public:
  json_lines_parser() : resource_(initial_, sizeof initial_) {}
  json_lines_parser(const json_lines_parser&) = delete;
  json_lines_parser& operator=(const json_lines_parser&) = delete;

  // The records parsed until end_block() are lines of `block`, in order, and the buffer holds
  // read_padding readable bytes after it (the file reader's does): simdjson parses them
  // together (line_decoder::begin_block), each with the result it has alone.
  void begin_block([[maybe_unused]] std::string_view block) {
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
    static_assert(read_padding >= sluice::detail::simd::block_padding);
    if constexpr (fast_path) fast_.begin_block(block);
#endif
  }
  void end_block() {
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
    if constexpr (fast_path) fast_.end_block();
#endif
  }

  parse_result parse(std::string_view rec, std::int64_t /*line*/, T& out, std::string& reason) {
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
    if constexpr (fast_path) {
      if (fast_.decode_line(rec, out)) return parse_result::row;  // simdjson validated the UTF-8 too
    }
#endif
    if (blank_line(rec)) return parse_result::ignored;  // Spark skips blank lines
    if (!check_utf8(rec, reason)) return parse_result::bad;
    parse_result result = parse_result::row;
    {
      parser_.reset(boost::json::storage_ptr(&resource_));
      boost::system::error_code ec;
      const std::size_t at = parser_.write(rec.data(), rec.size(), ec);
      if (ec == boost::json::error::incomplete) {
        reason = "malformed JSON: incomplete JSON (the line ends inside a value)";
        result = parse_result::bad;
      } else if (ec) {
        reason = "malformed JSON: " + ec.message() + " at column " + std::to_string(at + 1);
        result = parse_result::bad;
      } else {
        const boost::json::value v = parser_.release();
        if (!v.is_object()) {
          reason = std::string("expected a JSON object, got ") + sluice::detail::json_kind_name(v);
          result = parse_result::bad;
        } else {
          try {
            if (!parser_.duplicates().empty()) {
              if (auto field = sluice::detail::json_duplicate_field<T>(parser_.duplicates()))
                throw schema_error(*field, "given twice in one object (a duplicate key)");
            }
            out = from_json<T>(v);
          } catch (const schema_error& e) {
            reason = e.what();
            result = parse_result::bad;
          }
        }
      }
      parser_.reset();  // drops what it held in resource_ before the release below
    }
    resource_.release();
    return result;
  }

 private:
  unsigned char initial_[8192];
  boost::json::monotonic_resource resource_;
  sluice::detail::json_parser parser_;  // Boost.JSON's, also finding repeated keys
#if defined(SLUICE_HAS_SIMDJSON) && SLUICE_HAS_SIMDJSON
  struct no_fast_path {};
  static constexpr bool fast_path = sluice::detail::simd::enabled_for<T> && sluice::detail::simd::decodable<T>();
  std::conditional_t<fast_path, sluice::detail::simd::line_decoder<T>, no_fast_path> fast_;
#endif
};

// CSV records into T: by position, or by name from each file's header line.
template <class T>
class csv_parser {
 public:
  csv_parser(csvd::dialect d, bool header) : dialect_(d), header_(header) {}

  // Whether the next non-empty record is the header.
  bool wants_header() const { return header_ && !header_seen_; }

  parse_result parse(std::string_view rec, std::int64_t line, T& out, std::string& reason) {
    if (rec.empty() || rec == "\r") return parse_result::ignored;  // Spark skips empty lines
    const bool is_header = header_ && !header_seen_;
    if (is_header) {
      header_seen_ = true;
      header_line_ = line;
    }
    auto bad = [&] {
      if (is_header) {
        header_bad_ = true;
        header_reason_ = reason;
      }
      return parse_result::bad;
    };
    if (!is_header && header_bad_) {
      reason = "not read: the file's header (line " + std::to_string(header_line_) + ") is bad: " + header_reason_;
      return parse_result::bad;
    }
    if (!check_utf8(rec, reason)) return bad();
    if (!csvd::split_record(rec, dialect_, fields_, scratch_, reason)) return bad();
    if (is_header) {
      if (!mapping_.from_header(fields_, reason)) return bad();
      return parse_result::ignored;
    }
    try {
      if (!mapping_.convert(fields_, out, reason)) return parse_result::bad;
    } catch (const schema_error& e) {
      reason = e.what();
      return parse_result::bad;
    }
    return parse_result::row;
  }

 private:
  csvd::dialect dialect_;
  bool header_;
  bool header_seen_ = false, header_bad_ = false;
  std::int64_t header_line_ = 0;
  std::string header_reason_;
  std::vector<csvd::field> fields_;
  std::string scratch_;
  csvd::column_mapping<T> mapping_;
};

struct json_lines_format {
  static constexpr std::string_view name = "json";
  static constexpr bool records_are_lines = true;  // so a file can be cut at any '\n'
  std::optional<csvd::dialect> scanner_dialect() const { return std::nullopt; }
  template <class T>
  std::unique_ptr<json_lines_parser<T>> make_parser() const {
    return std::make_unique<json_lines_parser<T>>();
  }
};

struct csv_format {
  static constexpr std::string_view name = "csv";
  // A quoted field may hold newlines (multi_line); without multi_line records are lines, but
  // a piece of a file cut across threads would need the file's header: one thread per file.
  static constexpr bool records_are_lines = false;
  csvd::dialect dialect;
  bool header = false;
  bool multi_line = true;
  // Without multi_line, any '\n' ends a record.
  std::optional<csvd::dialect> scanner_dialect() const {
    return multi_line ? std::optional<csvd::dialect>(dialect) : std::nullopt;
  }
  template <class T>
  std::unique_ptr<csv_parser<T>> make_parser() const {
    return std::make_unique<csv_parser<T>>(dialect, header);
  }
};

template <class T>
consteval bool csv_columns_supported() {
  return []<class... C>(boost::mp11::mp_list<C...>) { return (csvd::column_type_v<typename C::type> && ...); }(
             columns_of<T>{});
}
}  // namespace detail
}  // namespace sluice::files
