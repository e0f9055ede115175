// Boost.JSON's parser, plus what it does not report: a key given twice in one object.
// Boost.JSON keeps the last of such keys silently (so does Spark's reader); sluice refuses a
// record in which a field it reads is given twice (docs/semantics.md, "Decoding"). The keys of
// the open objects are kept (as one string) and compared when an object ends; a repeated key
// is recorded with where its object is, and json_duplicate_field<T> says whether T reads it.
#pragma once
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../json.hpp"
#include "../schema.hpp"
#include "traits.hpp"

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

class json_duplicate_finder {
 public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  explicit json_duplicate_finder(boost::json::storage_ptr sp = {}) : st(std::move(sp)) {}

  void reset(boost::json::storage_ptr sp) {
    st.reset(std::move(sp));
    frames_.clear();
    key_ends_.clear();
    keys_.clear();
    duplicates.clear();
  }

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    frames_.push_back({static_cast<std::uint32_t>(key_ends_.size()), 0, false});
    return true;
  }
  bool on_object_end(std::size_t n, boost::json::error_code&) {
    st.push_object(n);
    const frame f = frames_.back();
    if (n > 1) check_keys(f.first_key);
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
  bool on_array_end(std::size_t n, boost::json::error_code&) {
    st.push_array(n);
    frames_.pop_back();
    value_done();
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    keys_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_key(s);
    keys_.append(s.data(), s.size());
    key_ends_.push_back(keys_.size());
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_string(s);
    value_done();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(std::int64_t i, boost::json::string_view, boost::json::error_code&) {
    st.push_int64(i);
    value_done();
    return true;
  }
  bool on_uint64(std::uint64_t u, boost::json::string_view, boost::json::error_code&) {
    st.push_uint64(u);
    value_done();
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::json::error_code&) {
    st.push_double(d);
    value_done();
    return true;
  }
  bool on_bool(bool b, boost::json::error_code&) {
    st.push_bool(b);
    value_done();
    return true;
  }
  bool on_null(boost::json::error_code&) {
    st.push_null();
    value_done();
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

  boost::json::value_stack st;
  std::vector<json_duplicate_key> duplicates;  // of the last document parsed

 private:
  struct frame {
    std::uint32_t first_key;  // objects: index of its first key in key_ends_
    std::uint32_t count;      // arrays: values so far (the index of the next one)
    bool array;
  };

  void value_done() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }
  std::string_view key(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : key_ends_[i - 1];
    return std::string_view(keys_).substr(begin, key_ends_[i] - begin);
  }
  // The keys of the object that ends (from key_ends_[first] on): small objects pairwise,
  // large ones sorted.
  void check_keys(std::size_t first) {
    const std::size_t n = key_ends_.size() - first;
    if (n <= 16) {
      for (std::size_t i = first + 1; i < key_ends_.size(); ++i) {
        const auto k = key(i);
        for (std::size_t j = first; j < i; ++j) {
          if (key(j) == k) {
            record(k);
            break;
          }
        }
      }
      return;
    }
    std::vector<std::string_view> sorted;
    sorted.reserve(n);
    for (std::size_t i = first; i < key_ends_.size(); ++i) sorted.push_back(key(i));
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < n; ++i)
      if (sorted[i] == sorted[i - 1] && (i < 2 || sorted[i - 2] != sorted[i])) record(sorted[i]);
  }
  // Called while the object's frame is still on the stack: the enclosing frames say where it
  // is (an array's index is the count of its values so far; an object's key, its last key).
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

// A reusable parser of whole documents (one JSON line) that also finds repeated keys.
class json_parser {
 public:
  json_parser() : p_(boost::json::parse_options{}) {}

  void reset(boost::json::storage_ptr sp = {}) {
    p_.reset();
    p_.handler().reset(std::move(sp));
  }
  // Parses all of [data, data + size) (text after the document is extra_data); returns
  // the number of characters parsed, as boost::json::parser::write does.
  std::size_t write(const char* data, std::size_t size, boost::system::error_code& ec) {
    const std::size_t n = p_.write_some(false, data, size, ec);
    if (!ec && n < size) {
      ec = boost::json::error::extra_data;
      p_.fail(ec);
    }
    return n;
  }
  // The document, after a write without error.
  boost::json::value release() { return p_.handler().st.release(); }
  const std::vector<json_duplicate_key>& duplicates() const { return p_.handler().duplicates; }

 private:
  boost::json::basic_parser<json_duplicate_finder> p_;
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
