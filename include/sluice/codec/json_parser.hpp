// Boost.JSON's parser, plus what it does not report: a key given twice in one object.
// Boost.JSON keeps the last of such keys silently (so does Spark's reader); sluice refuses a
// record in which a field it reads is given twice (docs/semantics.md, "Decoding").
//
// Two stages keep this off the cost of every line: while the value is built, the number of
// keys each object was given is noted, and compared with the number the built object kept; a
// line where they differ is then scanned again, without building anything, comparing the
// keys' text and noting where each repeated key is. json_duplicate_field<T> says whether T
// reads one of them.
#pragma once
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../schema.hpp"
#include "../detail/traits.hpp"
#include "json.hpp"

namespace sluice::detail {

// One step of the way to a value: an object's key or an array's index.
struct json_step {
  std::string key;
  std::size_t index = 0;
  bool is_index = false;
};

struct json_duplicate_key {
  std::vector<json_step> object;  // where the object holding it is
  std::string key;
};

// The handler events basic_parser needs and these handlers ignore.
struct json_handler_base {
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();
  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }
};

// Stage two: finds every repeated key of a document, with where its object is. Builds nothing.
class json_duplicate_scanner : public json_handler_base {
 public:
  bool on_object_begin(boost::json::error_code&) {
    frames_.push_back({key_ends_.size(), 0, false});
    return true;
  }
  bool on_object_end(std::size_t, boost::json::error_code&) {
    const frame f = frames_.back();
    check_keys(f.first_key);
    keys_.resize(f.first_key == 0 ? 0 : key_ends_[f.first_key - 1]);
    key_ends_.resize(f.first_key);
    frames_.pop_back();
    value_done();
    return true;
  }
  bool on_array_begin(boost::json::error_code&) {
    frames_.push_back({0, 0, true});
    return true;
  }
  bool on_array_end(std::size_t, boost::json::error_code&) {
    frames_.pop_back();
    value_done();
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    keys_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    keys_.append(s.data(), s.size());
    key_ends_.push_back(keys_.size());
    return true;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::json::error_code&) { return value_done(); }
  bool on_int64(std::int64_t, boost::json::string_view, boost::json::error_code&) { return value_done(); }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::json::error_code&) { return value_done(); }
  bool on_double(double, boost::json::string_view, boost::json::error_code&) { return value_done(); }
  bool on_bool(bool, boost::json::error_code&) { return value_done(); }
  bool on_null(boost::json::error_code&) { return value_done(); }

  std::vector<json_duplicate_key> duplicates;

 private:
  struct frame {
    std::size_t first_key;  // objects: index of its first key in key_ends_
    std::size_t count;      // arrays: values so far (the index of the next one)
    bool array;
  };

  bool value_done() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
    return true;
  }
  std::string_view key(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : key_ends_[i - 1];
    return std::string_view(keys_).substr(begin, key_ends_[i] - begin);
  }
  void check_keys(std::size_t first) {
    std::vector<std::string_view> sorted;
    for (std::size_t i = first; i < key_ends_.size(); ++i) sorted.push_back(key(i));
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i] == sorted[i - 1] && (i < 2 || sorted[i - 2] != sorted[i])) record(sorted[i]);
  }
  // While the object's frame is still on the stack, the enclosing frames say where it is (an
  // array's index is the count of its values so far; an object's key, its last key so far).
  void record(std::string_view k) {
    json_duplicate_key d;
    d.key = std::string(k);
    for (std::size_t f = 0; f + 1 < frames_.size(); ++f) {
      if (frames_[f].array) {
        d.object.push_back({{}, frames_[f].count, true});
        continue;
      }
      std::size_t g = f + 1;  // the next object: its keys follow f's last (the last frame is one)
      while (frames_[g].array) ++g;
      d.object.push_back({std::string(key(frames_[g].first_key - 1)), 0, false});
    }
    duplicates.push_back(std::move(d));
  }

  std::vector<frame> frames_;
  std::vector<std::size_t> key_ends_;  // end of each key of the open objects in keys_
  std::string keys_;
};

// Stage one: builds the value as boost::json::parser does, noting how many keys each object
// was given (in the order objects end).
class json_value_builder : public json_handler_base {
 public:
  void reset(boost::json::storage_ptr sp) {
    st.reset(std::move(sp));
    keys_given.clear();
  }

  bool on_object_begin(boost::json::error_code&) { return true; }
  bool on_object_end(std::size_t n, boost::json::error_code&) {
    st.push_object(n);
    keys_given.push_back(n);
    return true;
  }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_int64(std::int64_t i, boost::json::string_view, boost::json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, boost::json::string_view, boost::json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::json::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(boost::json::error_code&) {
    st.push_null();
    return true;
  }

  boost::json::value_stack st;
  std::vector<std::size_t> keys_given;
};

// Whether every object of `v` has as many keys as it was given (Boost.JSON keeps one of
// repeated keys): objects are visited in the order they ended while parsing, as recorded.
inline bool json_keys_kept(const boost::json::value& v, const std::size_t*& given, const std::size_t* end) {
  if (const auto* o = v.if_object()) {
    for (const auto& kv : *o)
      if (kv.value().is_structured() && !json_keys_kept(kv.value(), given, end)) return false;
    return given != end && *given++ == o->size();
  }
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a)
      if (e.is_structured() && !json_keys_kept(e, given, end)) return false;
  }
  return true;
}

// A reusable parser of whole documents (one JSON line) that also finds repeated keys: an
// object that kept fewer keys than it was given had one twice (or a value that held other
// objects was dropped with its key, which shows in the count of objects); only then is the
// text scanned again to find which keys and where.
class json_parser {
 public:
  json_parser() : p_(boost::json::parse_options{}) {}

  void reset(boost::json::storage_ptr sp = {}) {
    p_.reset();
    p_.handler().reset(std::move(sp));
    duplicates_.clear();
  }
  // Parses all of [data, data + size) (text after the document is extra_data); returns the
  // number of characters parsed, as boost::json::parser::write does. The text must stay until
  // release().
  std::size_t write(const char* data, std::size_t size, boost::system::error_code& ec) {
    const std::size_t n = p_.write_some(false, data, size, ec);
    if (!ec && n < size) {
      ec = boost::json::error::extra_data;
      p_.fail(ec);
    }
    text_ = std::string_view(data, n);
    return n;
  }
  // The document, after a write without error; duplicates() then names the repeated keys.
  boost::json::value release() {
    boost::json::value v = p_.handler().st.release();
    const auto& given = p_.handler().keys_given;
    const std::size_t* it = given.data();
    if (!json_keys_kept(v, it, it + given.size()) || it != given.data() + given.size()) {
      boost::json::basic_parser<json_duplicate_scanner> scan(boost::json::parse_options{});
      boost::system::error_code ignored;
      scan.write_some(false, text_.data(), text_.size(), ignored);
      duplicates_ = std::move(scan.handler().duplicates);
    }
    return v;
  }
  // The keys given twice in one object of the document last released.
  const std::vector<json_duplicate_key>& duplicates() const { return duplicates_; }

 private:
  boost::json::basic_parser<json_value_builder> p_;
  std::string_view text_;
  std::vector<json_duplicate_key> duplicates_;
};

// Whether T reads the value at `steps` + `key` (the key of a record T has, however deep):
// a repeated key T does not read is ignored, as any key T lacks.
template <class T>
bool json_reads(const json_step* step, const json_step* end, std::string_view key) {
  if constexpr (is_optional_v<T>) {
    return json_reads<typename T::value_type>(step, end, key);
  } else if constexpr (is_vector_v<T>) {
    return step != end && step->is_index && json_reads<typename T::value_type>(step + 1, end, key);
  } else if constexpr (record<T>) {
    const std::string_view name = step == end ? key : std::string_view(step->key);
    if (step != end && step->is_index) return false;
    bool reads = false;
    for_each_column<T>([&](auto c) {
      using C = decltype(c);
      if (!reads && C::name.view() == name)
        reads = step == end || json_reads<typename C::type>(step + 1, end, key);
    });
    return reads;
  } else {
    return false;
  }
}

// The path of the first repeated key T reads ("user.name"), if any.
template <class T>
std::optional<std::string> json_duplicate_field(const std::vector<json_duplicate_key>& duplicates) {
  for (const auto& d : duplicates) {
    const json_step* begin = d.object.data();
    if (!json_reads<T>(begin, begin + d.object.size(), d.key)) continue;
    std::string path;
    for (const auto& s : d.object) path = s.is_index ? path + "[" + std::to_string(s.index) + "]" : join_path(path, s.key);
    return join_path(path, d.key);
  }
  return std::nullopt;
}

}  // namespace sluice::detail
