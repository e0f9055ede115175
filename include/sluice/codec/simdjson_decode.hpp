// The fast path of JSON-lines decoding: one line parsed by simdjson (DOM API, which
// validates the whole line) straight into a described struct or generated row, without
// building a Boost.JSON value. Used by the file sources when SLUICE_HAS_SIMDJSON is set
// (link the CMake target sluice::simdjson); everything else stays on Boost.JSON.
//
// It only ever answers "decoded" or "not mine": for anything unusual (malformed JSON, a
// missing or null required field, a duplicate key, a number that needs a conversion or is
// out of range, an unsupported field type) it returns false and the caller decodes the same
// line with the Boost.JSON path, which then accepts it or produces the usual error (file:line
// and field path). So errors, and the values of every record that is not plain, are the Boost path's;
// a record decoded here is the one the Boost path would produce (doubles are rounded
// correctly here, as Spark's Jackson does; Boost.JSON 1.81's default parser may differ in
// the last bit for 17-digit numbers).
#pragma once
#include <simdjson.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/mp11/algorithm.hpp>

#include "../schema.hpp"
#include "../time.hpp"
#include "../detail/config.hpp"
#include "../detail/numbers.hpp"
#include "../detail/traits.hpp"

namespace sluice::detail::simd {

namespace dom = simdjson::dom;

// A row type can keep to the Boost.JSON path (benchmarks compare the two in one program):
//   template <> inline constexpr bool sluice::detail::simd::enabled_for<MyRow> = false;
template <class T>
inline constexpr bool enabled_for = true;

// Types this path decodes; a record with any other field type (e.g. a raw JSON value)
// always takes the Boost.JSON path.
template <class T>
constexpr bool decodable();

template <class... C>
constexpr bool all_columns_decodable(boost::mp11::mp_list<C...>) {
  return (decodable<typename C::type>() && ...);
}

template <class T>
constexpr bool decodable() {
  if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T> || std::is_same_v<T, std::string> ||
                std::is_same_v<T, timestamp>) {
    return true;
  } else if constexpr (is_optional_v<T> || is_vector_v<T>) {
    return decodable<typename T::value_type>();
  } else if constexpr (record<T>) {
    // duplicate keys are found with a bitset of the fields seen: up to 64 fields
    return column_count_v<T> <= 64 && all_columns_decodable(columns_of<T>{});
  } else {
    return false;
  }
}

// The layouts JSON writers use ("2024-01-15T10:30:00.123456", Python's isoformat;
// "2024-01-15T10:30:00.123Z", Spark's and Jackson's), read at fixed positions; anything else
// goes to parse_timestamp, which this agrees with (tests/json_fast_path_test.cpp).
//
// The rows of one file mostly share their date, hour and minute: `cache` keeps the last valid
// "YYYY-MM-DDTHH:MM" seen and the microseconds it stands for, so that a timestamp with the same
// 16 bytes reads only its seconds and fraction (about half the work, with the date's checks).
struct timestamp_cache {
  char minute[16] = {};  // the bytes, valid when `valid`
  std::int64_t micros = 0;
  bool valid = false;
};

inline std::optional<timestamp> parse_common_timestamp(std::string_view s, timestamp_cache* cache = nullptr) {
  std::size_t n = s.size();
  if (n > 0 && s[n - 1] == 'Z') --n;
  if ((n != 23 && n != 26) || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':' || s[19] != '.')
    return parse_timestamp(s);
  bool ok = true;
  auto digit = [&](std::size_t i) SLUICE_ALWAYS_INLINE {
    const unsigned d = static_cast<unsigned char>(s[i]) - unsigned{'0'};
    ok &= d <= 9;
    return static_cast<std::int64_t>(d);
  };
  auto two = [&](std::size_t i) SLUICE_ALWAYS_INLINE { return digit(i) * 10 + digit(i + 1); };
  const std::int64_t sec = two(17);
  const std::int64_t frac = n == 26 ? (two(20) * 100 + two(22)) * 100 + two(24) : (two(20) * 10 + digit(22)) * 1000;
  if (cache != nullptr && cache->valid && std::memcmp(cache->minute, s.data(), sizeof cache->minute) == 0) {
    // The same minute as a timestamp accepted before: its digits and ranges were checked then.
    if (!ok) return parse_timestamp(s);
    if (sec > 60) return std::nullopt;
    return timestamp{cache->micros + sec * 1'000'000 + frac};
  }
  const std::int64_t y = two(0) * 100 + two(2), mo = two(5), d = two(8), h = two(11), mi = two(14);
  if (!ok) return parse_timestamp(s);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  constexpr unsigned char month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d > month_days[mo - 1] &&
      !(mo == 2 && d == 29 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))  // "2023-02-29" is not a date
    return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t minute_micros = (days * 86400 + h * 3600 + mi * 60) * 1'000'000;
  if (cache != nullptr) {
    std::memcpy(cache->minute, s.data(), sizeof cache->minute);
    cache->micros = minute_micros;
    cache->valid = true;
  }
  return timestamp{minute_micros + sec * 1'000'000 + frac};
}

// What decoding one line after another keeps: the last timestamp's minute.
struct decode_state {
  timestamp_cache minute;
};

template <class T>
bool decode(dom::element e, T& out, decode_state& st);

template <class T>
bool decode_integer(dom::element e, T& out) {
  if (e.type() == dom::element_type::INT64) {
    std::int64_t x = 0;
    if (e.get_int64().get(x) != simdjson::SUCCESS) return false;
    if (x < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (x > 0 && static_cast<std::uint64_t>(x) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
      return false;  // out of range: the Boost path says so
    out = static_cast<T>(x);
    return true;
  }
  if (e.type() == dom::element_type::UINT64) {
    std::uint64_t x = 0;
    if (e.get_uint64().get(x) != simdjson::SUCCESS) return false;
    if (x > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
    out = static_cast<T>(x);
    return true;
  }
  return false;  // 3.0 for an integer, or not a number: the Boost path decides
}

template <class T>
bool decode_record(dom::element e, T& out, decode_state& st) {
  dom::object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return false;
  constexpr std::size_t n = column_count_v<T>;
  constexpr auto& names = column_names_v<T>;
  std::bitset<n> seen;
  // Whether field i is named `key`: a comparison of a known length, which the compiler inlines
  // (a call to memcmp per key was 4% of decoding seed 004's rows).
  auto named = [](std::size_t i, std::string_view key) SLUICE_ALWAYS_INLINE {
    return boost::mp11::mp_with_index<n>(i, [&](auto index) SLUICE_ALWAYS_INLINE {
      constexpr std::string_view name = names[decltype(index)::value];
      return key.size() == name.size() && std::memcmp(key.data(), name.data(), name.size()) == 0;
    });
  };
  std::size_t expected = 0;  // writers keep their fields in one order, mostly T's: try the next one first
  for (dom::key_value_pair kv : obj) {
    std::size_t i = expected;
    if (i >= n || !named(i, kv.key)) {
      i = 0;
      while (i < n && !named(i, kv.key)) ++i;
    }
    if (i == n) continue;           // fields absent from T are ignored
    expected = i + 1;
    if (seen[i]) return false;      // duplicate key: whichever wins is the Boost path's call
    seen[i] = true;
    bool ok = false;
    boost::mp11::mp_with_index<n>(i, [&](auto index) {
      using C = boost::mp11::mp_at_c<columns_of<T>, decltype(index)::value>;
      auto& field = get<C::name>(out);
      using F = std::remove_cvref_t<decltype(field)>;
      if (kv.value.is_null()) {
        if constexpr (is_optional_v<F>) {
          field.reset();
          ok = true;
        }
        return;  // null for a required field: an error, the Boost path words it
      }
      ok = decode(kv.value, field, st);
    });
    if (!ok) return false;
  }
  if (seen.all()) return true;
  bool complete = true;  // absent fields must all be optional
  boost::mp11::mp_for_each<boost::mp11::mp_iota_c<n>>([&](auto index) {
    if (seen[index]) return;
    using C = boost::mp11::mp_at_c<columns_of<T>, decltype(index)::value>;
    auto& field = get<C::name>(out);
    if constexpr (is_optional_v<std::remove_cvref_t<decltype(field)>>) field.reset();
    else complete = false;
  });
  return complete;
}

template <class T>
bool decode(dom::element e, T& out, decode_state& st) {
  if constexpr (std::is_same_v<T, bool>) {
    return e.get_bool().get(out) == simdjson::SUCCESS;
  } else if constexpr (std::is_integral_v<T>) {
    return decode_integer(e, out);
  } else if constexpr (std::is_floating_point_v<T>) {
    double d = 0;
    if (e.get_double().get(d) != simdjson::SUCCESS) return false;  // also converts integers, as Boost's path does
    return narrow_floating(d, out);  // a float out of range: the Boost path says so (1e400 fails to parse)
  } else if constexpr (std::is_same_v<T, std::string>) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) return false;
    out.assign(s.data(), s.size());
    return true;
  } else if constexpr (std::is_same_v<T, timestamp>) {
    std::string_view s;
    if (e.get_string().get(s) == simdjson::SUCCESS) {
      auto t = parse_common_timestamp(s, &st.minute);
      if (!t) return false;
      out = *t;
      return true;
    }
    // numbers are seconds since the epoch, as Spark casts them; out of range: the Boost path says so
    std::optional<timestamp> t;
    if (e.type() == dom::element_type::INT64) {
      std::int64_t x = 0;
      if (e.get_int64().get(x) == simdjson::SUCCESS) t = timestamp_from_seconds(x);
    } else if (e.type() == dom::element_type::DOUBLE) {
      double d = 0;
      if (e.get_double().get(d) == simdjson::SUCCESS) t = timestamp_from_seconds(d);
    }
    if (!t) return false;
    out = *t;
    return true;
  } else if constexpr (is_optional_v<T>) {
    if (e.is_null()) {
      out.reset();
      return true;
    }
    return decode(e, out.has_value() ? *out : out.emplace(), st);
  } else if constexpr (is_vector_v<T>) {
    dom::array arr;
    if (e.get_array().get(arr) != simdjson::SUCCESS) return false;
    out.resize(arr.size());
    std::size_t i = 0;
    for (dom::element x : arr)
      if (!decode(x, out[i++], st)) return false;
    return true;
  } else {
    static_assert(record<T>, "sluice simdjson decoder: unsupported type (decodable<T>() should have said so)");
    return decode_record(e, out, st);
  }
}

// Bytes that must be readable after a block given to line_decoder::begin_block (whatever
// they hold): simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
inline constexpr std::size_t block_padding = simdjson::SIMDJSON_PADDING;

// One parser per reader, reused line after line (simdjson's buffers grow to the longest
// line seen). A line alone is copied into a padded buffer first: simdjson reads up to
// SIMDJSON_PADDING bytes past the end, which a caller's string does not promise.
//
// Lines of a block (begin_block: consecutive lines in a buffer with block_padding bytes after
// it, as the file reader's) are parsed together, a window of about 256 KiB at a time, with
// simdjson's parse_many: one stage 1 per window instead of one per line, about 20% less time per
// line. A document counts for a line only if it starts the line (after blanks) and ends in it,
// with nothing but blanks after it, so each line decodes to exactly what it decodes to alone;
// at anything else (a line that is not one object, an error in the window) the rest of the
// window goes line by line (parsed in place, not copied), and so gets the same answer.
template <class T>
class line_decoder {
  static_assert(decodable<T>(), "sluice::detail::simd::line_decoder: the row type has a field simdjson cannot decode");

 public:
  // Boost.JSON's parser refuses more than 32 levels of nesting; with a lower limit here such
  // lines go to it, so both accept the same lines.
  static constexpr std::size_t max_depth = 31;
  // A window of a block parsed at once: the parser's memory is about 15 bytes per byte of it.
  static constexpr std::size_t window_bytes = 256u << 10;


  // true: `out` holds the record (every field assigned). false: not decoded (out may be
  // partly assigned); decode the line with the Boost.JSON path.
  bool decode_line(std::string_view line, T& out) {
    if (in_block(line)) {
      if (line.data() >= window_end_) open_window(line);
      if (stream_active_) {
        switch (from_stream(line, out)) {
          case taken::row: return true;
          case taken::not_mine: return false;
          case taken::alone: break;
        }
      }
      if (line.size() + simdjson::SIMDJSON_PADDING > capacity_) grow(line.size());
      return decode_doc(parser_.parse(line.data(), line.size(), false), out);  // padded in place
    }
    if (line.size() + simdjson::SIMDJSON_PADDING > capacity_) grow(line.size());
    std::memcpy(buffer_.get(), line.data(), line.size());
    std::memset(buffer_.get() + line.size(), 0, simdjson::SIMDJSON_PADDING);
    return decode_doc(parser_.parse(buffer_.get(), line.size(), false), out);
  }

  // The lines given to decode_line until end_block() are `block`'s, in order (some may be
  // skipped); block.data() + block.size() + block_padding bytes are readable.
  void begin_block(std::string_view block) {
    end_block();
    block_ = block;
    window_end_ = block.data();
  }
  void end_block() {
    stream_active_ = false;
    it_.reset();
    stream_ = {};
    block_parser_.reset();  // back to this thread's pool
    block_ = {};
    window_end_ = nullptr;
  }
  ~line_decoder() { end_block(); }
  line_decoder() = default;
  line_decoder(const line_decoder&) = delete;
  line_decoder& operator=(const line_decoder&) = delete;

 private:
  enum class taken { row, not_mine, alone };

  bool in_block(std::string_view line) const {
    return block_.data() != nullptr && line.data() >= block_.data() &&
           line.data() + line.size() <= block_.data() + block_.size();
  }

  static bool blank(const char* p, const char* e) {
    for (; p < e; ++p)
      if (*p != ' ' && *p != '\t' && *p != '\r') return false;
    return true;
  }

  bool decode_doc(simdjson::simdjson_result<dom::element> parsed, T& out) {
    dom::element doc;
    if (parsed.get(doc) != simdjson::SUCCESS) return false;
    if (doc.type() != dom::element_type::OBJECT) return false;
    return decode_record(doc, out, state_);
  }

  // Parses the window of the block that starts with `line`: whole lines, up to window_bytes
  // (or the one line, if longer).
  void open_window(std::string_view line) {
    stream_active_ = false;
    const char* const from = line.data();
    const char* const block_end = block_.data() + block_.size();
    const char* end = block_end;
    if (static_cast<std::size_t>(block_end - from) > window_bytes) {
      const void* nl = ::memrchr(from, '\n', window_bytes);
      if (nl == nullptr) nl = std::memchr(from + window_bytes, '\n', static_cast<std::size_t>(block_end - from) - window_bytes);
      end = nl != nullptr ? static_cast<const char*>(nl) + 1 : block_end;
    }
    window_end_ = end;
    const std::size_t len = static_cast<std::size_t>(end - from);
    // One batch of the whole window (the batch size at least its length), max_depth as above.
    const std::size_t batch = std::max(len, window_bytes);
    if (!block_parser_) block_parser_ = block_parsers::take();
    if (block_parser_->capacity() < batch && block_parser_->allocate(batch, max_depth) != simdjson::SUCCESS)
      throw std::bad_alloc();
    if (block_parser_->parse_many(from, len, batch).get(stream_) != simdjson::SUCCESS) return;
    window_begin_ = from;
    it_.emplace(stream_.begin());
    next_document();
  }

  // After the stream moved: where its next document starts; the rest of the window line by
  // line after an error.
  void next_document() {
    stream_active_ = false;
    if (!(*it_ != stream_.end())) {
      doc_start_ = window_end_;  // no more documents: the window's later lines must be blank
      stream_active_ = true;
      return;
    }
    if ((**it_).error() != simdjson::SUCCESS) return;
    doc_start_ = window_begin_ + it_->current_index();
    stream_active_ = true;
  }

  // The line's document from the window's stream, if it is the line's alone.
  taken from_stream(std::string_view line, T& out) {
    const char* const b = line.data();
    const char* const e = b + line.size();
    if (doc_start_ >= e) {  // no document starts on this line: fine only for a blank one
      if (blank(b, e)) return taken::alone;
      stream_active_ = false;
      return taken::alone;
    }
    stream_active_ = false;  // unless all goes well below
    if (doc_start_ < b || !blank(b, doc_start_) || *doc_start_ != '{') return taken::alone;
    dom::element doc;
    if ((**it_).get(doc) != simdjson::SUCCESS || doc.type() != dom::element_type::OBJECT) return taken::alone;
    const std::string_view src = it_->source();  // from its '{' to its '}'
    const char* const doc_end = src.data() + src.size();
    if (src.data() != doc_start_ || doc_end > e || !blank(doc_end, e)) return taken::alone;
    const bool row = decode_record(doc, out, state_);
    ++*it_;
    next_document();
    return row ? taken::row : taken::not_mine;
  }

  void grow(std::size_t line_size) {
    capacity_ = std::max<std::size_t>(2 * capacity_, line_size + simdjson::SIMDJSON_PADDING);
    buffer_ = std::make_unique<char[]>(capacity_);
    if (parser_.allocate(capacity_, max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
  }

  dom::parser parser_;
  decode_state state_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  // Block mode.
  std::string_view block_{};
  const char* window_end_ = nullptr;
  // A window's parser holds about 4 MB: kept by the thread from one block to the next (a file
  // source makes a decoder per file or block it reads), rather than allocated and faulted in
  // each time. A thread has at most one block open per decoder; a second decoder's block on
  // the same thread takes a parser of its own.
  struct block_parsers {
    struct give_back {
      void operator()(dom::parser* p) const {
        auto& pool = free_list();
        if (pool.size() < 2 && p->capacity() <= 4 * window_bytes) pool.emplace_back(p);  // not one grown by a long line
        else delete p;
      }
    };
    using handle = std::unique_ptr<dom::parser, give_back>;
    static std::vector<std::unique_ptr<dom::parser>>& free_list() {
      thread_local std::vector<std::unique_ptr<dom::parser>> pool;
      return pool;
    }
    static handle take() {
      auto& pool = free_list();
      if (!pool.empty()) {
        handle h(pool.back().release());
        pool.pop_back();
        return h;
      }
      handle h(new dom::parser());
#ifdef SIMDJSON_THREADS_ENABLED
      h->threaded = false;  // stage 1 of a window on this thread
#endif
      return h;
    }
  };
  typename block_parsers::handle block_parser_;
  dom::document_stream stream_{};
  std::optional<dom::document_stream::iterator> it_;
  const char* window_begin_ = nullptr;
  bool stream_active_ = false;
  const char* doc_start_ = nullptr;  // where the stream's next document starts
};

}  // namespace sluice::detail::simd
