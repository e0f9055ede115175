// CSV after RFC 4180: records end at a newline outside quotes (an optional CR before it is
// dropped); a field that starts with the quote character is quoted, may hold delimiters,
// newlines and doubled quotes, and must be followed by a delimiter or the end of the record.
// A quote inside an unquoted field is an ordinary character (as in Spark's CSV reader).
//
// Three pieces: a resumable record scanner (finds where a record ends in a stream of
// buffers), a field splitter for one whole record, and the typed conversion of fields to
// the columns of a described struct.
#pragma once
#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "../schema.hpp"
#include "../time.hpp"
#include "../detail/numbers.hpp"
#include "../detail/traits.hpp"

namespace sluice::detail::csv {

struct dialect {
  char delimiter = ',';
  char quote = '"';
};

// Finds the ends of records in data that arrives in pieces. Keeps the quoting state between
// calls, so a record may span any number of buffers.
class record_scanner {
 public:
  // Scans [p, end). Returns the '\n' that ends the current record, or nullptr when the
  // record goes on past `end`. Adds the newlines inside quoted fields to `inner_newlines`.
  // After a record ends, call reset() before scanning the next one.
  const char* scan(const char* p, const char* end, const dialect& d, std::int64_t& inner_newlines) {
    while (p < end) {
      if (s_ == state::field_start || s_ == state::unquoted) {
        // Fast path: no quote before the next newline means no quoted field starts there.
        const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        const char* stop = nl ? static_cast<const char*>(nl) : end;
        if (!std::memchr(p, d.quote, static_cast<std::size_t>(stop - p))) {
          if (nl) return stop;
          if (stop > p) s_ = stop[-1] == d.delimiter ? state::field_start : state::unquoted;
          return nullptr;
        }
      }
      const char c = *p;
      switch (s_) {
        case state::field_start:
          if (c == d.quote) s_ = state::quoted;
          else if (c == '\n') return p;
          else if (c != d.delimiter) s_ = state::unquoted;
          break;
        case state::unquoted:
          if (c == d.delimiter) s_ = state::field_start;
          else if (c == '\n') return p;
          break;
        case state::quoted:
          if (c == d.quote) s_ = state::quote_in_quoted;
          else if (c == '\n') ++inner_newlines;
          break;
        case state::quote_in_quoted:  // a doubled quote, or the closing one
          if (c == d.quote) s_ = state::quoted;
          else if (c == d.delimiter) s_ = state::field_start;
          else if (c == '\n') return p;
          else s_ = state::unquoted;  // garbage after the closing quote: the splitter reports it
          break;
      }
      ++p;
    }
    return nullptr;
  }
  void reset() { s_ = state::field_start; }
  bool in_quotes() const { return s_ == state::quoted; }

 private:
  enum class state : unsigned char { field_start, unquoted, quoted, quote_in_quoted };
  state s_ = state::field_start;
};

struct field {
  std::string_view text;  // without its quotes, doubled quotes made single
  bool quoted = false;
};

// Splits one record (without its '\n') into fields. `scratch` holds unescaped quoted fields
// (views into it stay valid until the next call). Returns false with a reason when the
// record is malformed.
inline bool split_record(std::string_view rec, const dialect& d, std::vector<field>& out, std::string& scratch,
                         std::string& reason) {
  out.clear();
  scratch.clear();
  scratch.reserve(rec.size());  // unescaped text is never longer: views into it stay valid
  if (!rec.empty() && rec.back() == '\r') rec.remove_suffix(1);
  const std::size_t n = rec.size();
  std::size_t pos = 0;
  while (true) {
    const std::size_t column = out.size() + 1;
    if (pos < n && rec[pos] == d.quote) {
      ++pos;
      const std::size_t first = pos;
      bool copied = false;
      std::size_t copy_from = 0;
      std::string_view text;
      while (true) {
        const std::size_t q = rec.find(d.quote, pos);
        if (q == std::string_view::npos) {
          reason = "unterminated quoted field in column " + std::to_string(column);
          return false;
        }
        if (q + 1 < n && rec[q + 1] == d.quote) {  // a doubled quote: one quote character
          if (!copied) {
            copied = true;
            copy_from = scratch.size();
          }
          scratch.append(rec.substr(pos, q + 1 - pos));
          pos = q + 2;
          continue;
        }
        if (copied) {
          scratch.append(rec.substr(pos, q - pos));
          text = std::string_view(scratch.data() + copy_from, scratch.size() - copy_from);
        } else {
          text = rec.substr(first, q - first);
        }
        pos = q + 1;
        break;
      }
      out.push_back({text, true});
      if (pos == n) return true;
      if (rec[pos] != d.delimiter) {
        reason = "unexpected character after the closing quote of column " + std::to_string(column) +
                 " (a quoted field must be followed by the delimiter or the end of the record)";
        return false;
      }
      ++pos;
    } else {
      const std::size_t dpos = rec.find(d.delimiter, pos);
      if (dpos == std::string_view::npos) {
        out.push_back({rec.substr(pos), false});
        return true;
      }
      out.push_back({rec.substr(pos, dpos - pos), false});
      pos = dpos + 1;
    }
  }
}

// ---------------------------------------------------------------- typed values
template <class F>
inline constexpr bool scalar_v = std::is_arithmetic_v<F> || std::is_same_v<F, std::string> || std::is_same_v<F, timestamp>;

template <class F>
inline constexpr bool column_type_v = scalar_v<F>;
template <class F>
inline constexpr bool column_type_v<std::optional<F>> = scalar_v<F>;

inline std::string quoted_excerpt(std::string_view text) {
  constexpr std::size_t max = 64;
  if (text.size() <= max) return "'" + std::string(text) + "'";
  std::size_t cut = max;  // do not cut a UTF-8 sequence in two
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(text.substr(0, cut)) + "...' (" + std::to_string(text.size()) + " bytes)";
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

template <class F>
void parse_scalar(const field& f, F& out, std::string_view name, std::size_t column) {
  const std::string_view t = f.text;
  auto fail = [&](const std::string& what) {
    throw schema_error(std::string(name), what + " (column " + std::to_string(column) + ")");
  };
  if constexpr (std::is_same_v<F, std::string>) {
    out.assign(t.data(), t.size());
  } else {
    if (t.empty()) fail("empty value for a required field");
    if constexpr (std::is_same_v<F, bool>) {
      if (iequals(t, "true")) out = true;
      else if (iequals(t, "false")) out = false;
      else fail("expected a boolean (true or false), got " + quoted_excerpt(t));
    } else if constexpr (std::is_integral_v<F>) {
      std::string_view digits = t;
      if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);  // Java's parseLong takes "+5"
      F v{};
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc::result_out_of_range) fail("integer " + quoted_excerpt(t) + " out of range");
      if (ec != std::errc() || end != digits.data() + digits.size()) fail("expected an integer, got " + quoted_excerpt(t));
      out = v;
    } else if constexpr (std::is_floating_point_v<F>) {
      // "nan", "inf" and "infinity" in any case are read (Spark writes NaN, Infinity); JSON
      // reads the same strings (detail/numbers.hpp).
      switch (parse_floating(t, out)) {
        case number_text::ok: break;
        case number_text::out_of_range:
          fail("number " + quoted_excerpt(t) + " out of range for a " + (std::is_same_v<F, float> ? "float" : "double"));
          break;
        case number_text::invalid: fail("expected a number, got " + quoted_excerpt(t));
      }
    } else if constexpr (std::is_same_v<F, timestamp>) {
      const auto ts = parse_timestamp(t);
      if (!ts) fail(quoted_excerpt(t) + " is not an ISO-8601 timestamp");
      out = *ts;
    } else {
      static_assert(always_false_v<F>, "unsupported CSV column type");
    }
  }
}

// Parses field `f` into `out`. An unquoted empty field is null: an empty optional, an empty
// string, or an error for other required types. A quoted empty field ("") is an empty string.
template <class F>
void parse_field(const field& f, F& out, std::string_view name, std::size_t column) {
  if constexpr (is_optional_v<F>) {
    if (!f.quoted && f.text.empty()) out.reset();
    else parse_scalar(f, out.emplace(), name, column);
  } else {
    parse_scalar(f, out, name, column);
  }
}

// How the columns of T are found in a record: by position (no header), or by name from a
// header line (exact name first, then ASCII case-insensitive, as Spark's default resolution).
template <record T>
class column_mapping {
 public:
  static constexpr std::size_t N = column_count_v<T>;

  column_mapping() {
    for (std::size_t i = 0; i < N; ++i) index_[i] = i;
    width_ = N;
  }

  // From a header record. Returns false with a reason naming the first required column
  // the header lacks, or the first field two columns match (a duplicate name: which one is
  // meant is unknown, as with a key given twice in a JSON object); optional columns may be
  // absent (always empty then). Columns no field matches are ignored, repeated or not.
  bool from_header(const std::vector<field>& header, std::string& reason) {
    width_ = header.size();
    std::size_t i = 0;
    bool ok = true;
    for_each_column<T>([&](auto c) {
      using C = decltype(c);
      std::size_t found = absent, again = absent;
      for (std::size_t k = 0; k < header.size() && again == absent; ++k)
        if (header[k].text == C::name.view()) (found == absent ? found : again) = k;
      for (std::size_t k = 0; k < header.size() && found == absent; ++k)
        if (iequals(header[k].text, C::name.view())) found = k;
      for (std::size_t k = found + 1; k < header.size() && again == absent && found != absent; ++k)
        if (iequals(header[k].text, C::name.view()) && header[found].text != C::name.view()) again = k;
      index_[i++] = found;
      if (again != absent && ok) {
        ok = false;
        reason = "the header names column '" + std::string(C::name.view()) + "' twice (columns " +
                 std::to_string(found + 1) + " '" + std::string(header[found].text) + "' and " +
                 std::to_string(again + 1) + " '" + std::string(header[again].text) + "')";
      }
      if (found == absent && !is_optional_v<typename C::type> && ok) {
        ok = false;
        std::string names;
        for (const auto& h : header) names += (names.empty() ? "" : ", ") + std::string(h.text);
        reason = "the header has no column '" + std::string(C::name.view()) + "' (a required field of the row type; " +
                 "header columns: " + names + ")";
      }
    });
    return ok;
  }

  // Converts a record's fields; throws schema_error naming the field on a bad value.
  // Returns false with a reason when the record has the wrong number of columns.
  bool convert(const std::vector<field>& fields, T& out, std::string& reason) const {
    if (fields.size() != width_) {
      reason = "expected " + std::to_string(width_) + " column" + (width_ == 1 ? "" : "s") + ", got " +
               std::to_string(fields.size());
      return false;
    }
    std::size_t i = 0;
    for_each_field(out, [&](std::string_view name, auto& value) {
      using F = std::remove_cvref_t<decltype(value)>;
      const std::size_t k = index_[i++];
      if constexpr (is_optional_v<F>) {
        if (k == absent) {
          value.reset();
          return;
        }
      }
      parse_field(fields[k], value, name, k + 1);
    });
    return true;
  }

 private:
  static constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();
  std::array<std::size_t, N> index_{};
  std::size_t width_ = N;
};

}  // namespace sluice::detail::csv
