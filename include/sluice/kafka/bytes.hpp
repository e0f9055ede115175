// The byte strings of Kafka rows: a record's key, value and header values (Spark's `binary`),
// its topic and header keys (Spark's `string`), without a heap allocation per row.
//
// The source copies each batch's keys and values into large shared blocks (byte_arena), and
// every row of a read shares its partition's topic name. A row refers to its block and keeps
// it alive (a reference count): rows stay valid after the batch, the source and librdkafka's
// messages are gone. So that a row kept for long (a memory sink, state) does not pin a block
// of other rows' bytes, copying a value that sits in a shared block copies its bytes into a
// block of its own (one allocation, as a std::string would); copying a value that has its own
// block (the topic, a copy) only counts one more reference. Moving never copies.
//
// Both convert to std::string_view and std::string, compare with strings, and read and write
// as strings in JSON and checkpoints; spark_struct_type names them binary and string.
#pragma once
#include <boost/json.hpp>

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "../codec/error.hpp"
#include "../codec/json.hpp"

namespace sluice::kafka {

namespace detail {

// A reference-counted block of bytes: this header, then the bytes.
class shared_block {
 public:
  // A block for `capacity` bytes, one reference held by the caller. `packed`: it is shared by
  // several values (an arena's block) rather than made for one.
  static shared_block* make(std::size_t capacity, bool packed) {
    void* p = ::operator new(sizeof(shared_block) + capacity);
    return ::new (p) shared_block(capacity, packed);
  }
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  std::size_t capacity() const noexcept { return capacity_; }
  bool packed() const noexcept { return packed_; }
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~shared_block();
      ::operator delete(static_cast<void*>(this));
    }
  }

 private:
  shared_block(std::size_t capacity, bool packed) : capacity_(capacity), packed_(packed) {}
  std::atomic<std::size_t> refs_{1};
  std::size_t capacity_;
  bool packed_;
};

struct binary_tag {
  static constexpr const char* spark_sql_type = "binary";
};
struct string_tag {
  static constexpr const char* spark_sql_type = "string";
};

}  // namespace detail

class byte_arena;

// Immutable bytes in a shared block (or none: empty). Tag says what Spark calls the column.
template <class Tag>
class basic_bytes {
 public:
  static constexpr const char* spark_sql_type = Tag::spark_sql_type;
  using layout_as = std::string;  // checkpoints hold it as they hold a std::string

  basic_bytes() noexcept = default;
  basic_bytes(std::string_view s) { assign_copy(s.data(), s.size()); }  // NOLINT: implicit, as a string
  basic_bytes(const std::string& s) : basic_bytes(std::string_view(s)) {}  // NOLINT
  basic_bytes(const char* s) : basic_bytes(std::string_view(s)) {}  // NOLINT
  basic_bytes(const void* p, std::size_t n) { assign_copy(p, n); }

  basic_bytes(const basic_bytes& o) { copy_from(o); }
  basic_bytes(basic_bytes&& o) noexcept : data_(o.data_), size_(o.size_), block_(o.block_) { o.forget(); }
  basic_bytes& operator=(const basic_bytes& o) {
    if (this != &o) {
      basic_bytes tmp(o);
      swap(tmp);
    }
    return *this;
  }
  basic_bytes& operator=(basic_bytes&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      size_ = o.size_;
      block_ = o.block_;
      o.forget();
    }
    return *this;
  }
  ~basic_bytes() { reset(); }

  // Another reference to the same bytes, never a copy (for values made to be shared: a topic).
  basic_bytes share() const {
    basic_bytes out;
    out.data_ = data_;
    out.size_ = size_;
    out.block_ = block_;
    if (block_) block_->retain();
    return out;
  }

  const char* data() const noexcept { return size_ ? data_ : ""; }
  std::size_t size() const noexcept { return size_; }
  std::size_t length() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const char* begin() const noexcept { return data(); }
  const char* end() const noexcept { return data() + size_; }
  char operator[](std::size_t i) const noexcept { return data_[i]; }
  std::string_view view() const noexcept { return {data(), size_}; }
  std::string str() const { return std::string(view()); }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit, as a string
  operator std::string() const { return str(); }                 // NOLINT

  void swap(basic_bytes& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(block_, o.block_);
  }

  friend bool operator==(const basic_bytes& a, const basic_bytes& b) noexcept { return a.view() == b.view(); }
  friend bool operator==(const basic_bytes& a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(const basic_bytes& a, const std::string& b) noexcept { return a.view() == b; }
  friend bool operator==(const basic_bytes& a, const char* b) noexcept { return a.view() == b; }
  friend std::strong_ordering operator<=>(const basic_bytes& a, const basic_bytes& b) noexcept {
    return a.view() <=> b.view();
  }
  friend std::ostream& operator<<(std::ostream& os, const basic_bytes& b) { return os << b.view(); }

  // JSON (a string, as before) and checkpoints (length and bytes, as a std::string).
  boost::json::value to_json_value() const { return boost::json::string(view()); }
  static basic_bytes from_json_value(const boost::json::value& v) {
    if (!v.is_string()) throw schema_error("", std::string("expected a string, got ") + sluice::detail::json_kind_name(v));
    return basic_bytes(std::string_view(v.get_string()));
  }
  template <class Writer>
  void serialize(Writer& w) const {
    w.write_size(size_);
    w.write_bytes(data(), size_);
  }
  template <class Reader>
  void deserialize(Reader& r) {
    const std::size_t n = r.read_size(1);
    basic_bytes tmp;
    if (n) {
      tmp.block_ = detail::shared_block::make(n, false);
      r.read_bytes(tmp.block_->data(), n);
      tmp.data_ = tmp.block_->data();
      tmp.size_ = n;
    }
    swap(tmp);
  }

 private:
  friend class byte_arena;
  // Adopts one reference to `block`.
  basic_bytes(const char* data, std::size_t size, detail::shared_block* block) noexcept
      : data_(data), size_(size), block_(block) {}

  void assign_copy(const void* p, std::size_t n) {
    if (n == 0) return;
    block_ = detail::shared_block::make(n, false);
    std::memcpy(block_->data(), p, n);
    data_ = block_->data();
    size_ = n;
  }
  void copy_from(const basic_bytes& o) {
    if (!o.block_) return;
    if (o.block_->packed()) {
      assign_copy(o.data_, o.size_);  // do not pin the other rows' bytes
    } else {
      o.block_->retain();
      data_ = o.data_;
      size_ = o.size_;
      block_ = o.block_;
    }
  }
  void forget() noexcept {
    data_ = nullptr;
    size_ = 0;
    block_ = nullptr;
  }
  void reset() noexcept {
    if (block_) block_->release();
    forget();
  }

  const char* data_ = nullptr;
  std::size_t size_ = 0;
  detail::shared_block* block_ = nullptr;
};

// Spark's binary (a key, a value, a header's value) and string (a topic, a header's key).
using bytes = basic_bytes<detail::binary_tag>;
using shared_string = basic_bytes<detail::string_tag>;

// Copies many small values into shared blocks of `block_size` bytes (a larger value gets a
// block of its own). Not thread-safe; the values it made are.
class byte_arena {
 public:
  static constexpr std::size_t default_block_size = 64 * 1024;
  explicit byte_arena(std::size_t block_size = default_block_size) : block_size_(block_size) {}
  byte_arena(const byte_arena&) = delete;
  byte_arena& operator=(const byte_arena&) = delete;
  ~byte_arena() {
    if (block_) block_->release();
  }

  template <class Tag = detail::binary_tag>
  basic_bytes<Tag> copy(const void* p, std::size_t n) {
    if (n == 0) return {};
    if (n > block_size_ / 4) return basic_bytes<Tag>(p, n);
    if (!block_ || used_ + n > block_->capacity()) {
      if (block_) block_->release();
      block_ = detail::shared_block::make(block_size_, true);
      used_ = 0;
    }
    char* at = block_->data() + used_;
    std::memcpy(at, p, n);
    used_ += n;
    block_->retain();
    return basic_bytes<Tag>(at, n, block_);
  }

 private:
  std::size_t block_size_;
  detail::shared_block* block_ = nullptr;
  std::size_t used_ = 0;
};

}  // namespace sluice::kafka

template <class Tag>
struct std::hash<sluice::kafka::basic_bytes<Tag>> {
  std::size_t operator()(const sluice::kafka::basic_bytes<Tag>& b) const noexcept {
    return std::hash<std::string_view>{}(b.view());
  }
};
