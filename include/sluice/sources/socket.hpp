// sl::socket_text(host, port): Spark's socket source, for development and demos. A TCP client
// reads newline-separated UTF-8 lines (a trailing '\r' is dropped) from host:port; each line is
// one row `sl::socket_line{value}`, or `sl::socket_line_with_timestamp{value, timestamp}` (the
// time it was received) with sl::socket_text(host, port, sl::include_timestamp).
//
//   auto lines = sl::socket_text("localhost", 9999);     // e.g. `nc -lk 9999` on the other side
//   auto q = sl::start(lines | sl::console(), sl::output_mode::append);
//
// A background thread (Boost.Asio) buffers the lines as they arrive; the offset is the number
// of lines received since the connection was made, and a batch takes every complete line
// received so far. A line without its newline waits for it; when the server closes the
// connection, a last unterminated line counts as a line (as Java's readLine), no more lines
// come, and the query carries on.
//
// NOT replayable: the lines live only in this process's memory, from their arrival until the
// batch that read them is committed (then they are released). They cannot be read again after
// a restart, so the source declares `replayable = false` and refuses to run with a checkpoint
// ("sluice::socket_text is not replayable and cannot be used with a checkpoint; ..."). Without a
// checkpoint a crash loses the lines received but not yet committed: use it for development.
//
// Errors: a connection that cannot be made (refused, unknown host, connect_timeout) fails the
// query when it starts, with a message naming host:port; a read error or a line longer than
// max_line_bytes fails it at the next batch.
#pragma once
#include <array>
#include <boost/asio.hpp>
#include <boost/describe.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../time.hpp"
#include "../graph/source.hpp"

namespace sluice {

struct socket_line {
  std::string value;
};
BOOST_DESCRIBE_STRUCT(socket_line, (), (value))

struct socket_line_with_timestamp {
  std::string value;
  sluice::timestamp timestamp;  // when the line was received
};
BOOST_DESCRIBE_STRUCT(socket_line_with_timestamp, (), (value, timestamp))

struct include_timestamp_t {};
inline constexpr include_timestamp_t include_timestamp{};

struct socket_options {
  std::chrono::milliseconds connect_timeout{10'000};
  std::size_t max_line_bytes = std::size_t{1} << 20;  // a longer line fails the query
};

struct socket_offset {
  std::int64_t lines = 0;  // lines received since the connection was made
};
BOOST_DESCRIBE_STRUCT(socket_offset, (), (lines))

struct socket_partition {
  std::int64_t from = 0, to = 0;  // lines (from, to]: indexes [from, to)
};

namespace detail {
// The connection and the lines not yet committed, shared by the copies of a source.
class socket_reader {
 public:
  socket_reader(std::string host, int port, socket_options options)
      : host_(std::move(host)), port_(port), options_(options) {}
  socket_reader(const socket_reader&) = delete;
  socket_reader& operator=(const socket_reader&) = delete;
  ~socket_reader() { stop(); }

  std::string endpoint() const { return host_ + ":" + std::to_string(port_); }

  // Connects (once) and starts the reader thread; throws naming host:port.
  void connect() {
    std::lock_guard connect_lock(connect_mutex_);
    if (started_) return;
    namespace asio = boost::asio;
    using tcp = asio::ip::tcp;
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) throw std::runtime_error("sluice::socket_text: cannot resolve " + endpoint() + ": " + ec.message());
    bool done = false;
    asio::async_connect(socket_, endpoints, [&](const boost::system::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    io_.run_for(options_.connect_timeout);
    if (!done) {
      boost::system::error_code ignored;
      socket_.close(ignored);
      io_.restart();
      io_.run();  // lets the aborted handler run before its captures go
      throw std::runtime_error("sluice::socket_text: cannot connect to " + endpoint() + ": timed out after " +
                               std::to_string(options_.connect_timeout.count()) + " ms");
    }
    if (ec) throw std::runtime_error("sluice::socket_text: cannot connect to " + endpoint() + ": " + ec.message());
    io_.restart();
    started_ = true;
    read_more();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Closes the connection and joins the reader thread; buffered lines stay readable.
  void stop() {
    std::lock_guard connect_lock(connect_mutex_);
    if (!thread_.joinable()) return;
    boost::asio::post(io_, [this] {
      boost::system::error_code ignored;
      socket_.close(ignored);
    });
    thread_.join();
  }

  // Lines received so far (the latest offset); throws the reader's error, if any.
  std::int64_t received() {
    std::lock_guard lock(mutex_);
    if (!error_.empty()) throw std::runtime_error(error_);
    return base_ + static_cast<std::int64_t>(lines_.size());
  }

  // Lines [from, to) as (value, received at) pairs.
  std::vector<std::pair<std::string, timestamp>> lines(std::int64_t from, std::int64_t to) {
    std::lock_guard lock(mutex_);
    if (from < base_)
      throw std::logic_error("sluice::socket_text: lines " + std::to_string(from) + ".." + std::to_string(base_ - 1) +
                             " from " + endpoint() +
                             " were committed and released; the socket source is not replayable");
    if (to > base_ + static_cast<std::int64_t>(lines_.size()))
      throw std::logic_error("sluice::socket_text: line " + std::to_string(to - 1) + " from " + endpoint() +
                             " was never received");
    const auto first = lines_.begin() + (from - base_), last = lines_.begin() + (to - base_);
    return {first, last};
  }

  // Lines before `end` are no longer needed.
  void release(std::int64_t end) {
    std::lock_guard lock(mutex_);
    while (base_ < end && !lines_.empty()) {
      lines_.pop_front();
      ++base_;
    }
  }

  std::size_t buffered() const {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  void read_more() {
    socket_.async_read_some(boost::asio::buffer(buffer_), [this](const boost::system::error_code& ec, std::size_t n) {
      if (n > 0) take(std::string_view(buffer_.data(), n));
      std::lock_guard lock(mutex_);
      if (!ec && error_.empty()) {
        read_more();
        return;
      }
      if (!ec) {
        // take() failed on a line too long: error_ says why
      } else if (ec == boost::asio::error::eof) {
        if (!partial_.empty()) push(std::move(partial_));  // the last line may lack its newline
        partial_.clear();
      } else if (ec != boost::asio::error::operation_aborted && error_.empty()) {
        error_ = "sluice::socket_text: reading from " + endpoint() + " failed: " + ec.message();
      }
      closed_ = true;
    });
  }

  void take(std::string_view data) {
    std::lock_guard lock(mutex_);
    if (!error_.empty()) return;
    while (!data.empty()) {
      const auto nl = data.find('\n');
      const auto piece = data.substr(0, nl);
      if (partial_.size() + piece.size() > options_.max_line_bytes) {
        error_ = "sluice::socket_text: a line from " + endpoint() + " is longer than max_line_bytes (" +
                 std::to_string(options_.max_line_bytes) + ")";
        boost::system::error_code ignored;
        socket_.close(ignored);
        return;
      }
      partial_.append(piece);
      if (nl == std::string_view::npos) return;
      push(std::move(partial_));
      partial_.clear();
      data.remove_prefix(nl + 1);
    }
  }

  void push(std::string line) {  // mutex_ held
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines_.emplace_back(std::move(line), timestamp::now());
  }

  std::string host_;
  int port_;
  socket_options options_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
  std::array<char, 64 * 1024> buffer_{};
  std::thread thread_;
  std::mutex connect_mutex_;
  bool started_ = false;

  mutable std::mutex mutex_;  // guards what follows
  std::deque<std::pair<std::string, timestamp>> lines_;  // not yet committed
  std::int64_t base_ = 0;                                 // offset of lines_.front()
  std::string partial_;
  std::string error_;
  bool closed_ = false;
};
}  // namespace detail

template <class Row>
class socket_text_source {
 public:
  using row_type = Row;
  using offset_type = socket_offset;
  using partition_type = socket_partition;
  static constexpr bool replayable = false;

  socket_text_source(std::string host, int port, socket_options options = {}) {
    if (port < 1 || port > 65535)
      throw std::invalid_argument("sluice::socket_text: port " + std::to_string(port) + " is not in 1..65535");
    reader_ = std::make_shared<detail::socket_reader>(std::move(host), port, options);
  }

  // Refuses a checkpoint before connecting; then connects (an error names host:port).
  void open(const source_context& ctx) {
    if (!ctx.checkpoint_dir.empty())
      throw std::invalid_argument(
          "sluice::socket_text is not replayable and cannot be used with a checkpoint; the lines of " +
          reader_->endpoint() +
          " live only in memory until committed and cannot be read again after a restart. Remove "
          "query_options::checkpoint (the socket source is for development), or use a replayable source");
    reader_->connect();
  }

  socket_offset initial_offset() { return {0}; }
  socket_offset latest_offset(const socket_offset&, read_limit) {
    reader_->connect();  // when used without open()
    return {reader_->received()};
  }
  std::vector<socket_partition> partitions(const socket_offset& start, const socket_offset& end) {
    if (end.lines <= start.lines) return {};
    return {{start.lines, end.lines}};
  }
  template <class Emit>
  void read(const socket_partition& p, Emit&& emit) {
    for (auto& [value, at] : reader_->lines(p.from, p.to)) {
      if constexpr (std::is_same_v<Row, socket_line_with_timestamp>) emit(Row{std::move(value), at});
      else emit(Row{std::move(value)});
    }
  }
  void commit(const socket_offset& end) { reader_->release(end.lines); }
  void stop() { reader_->stop(); }
  std::string description() const { return "TextSocket[" + reader_->endpoint() + "]"; }

  // Lines received and not yet committed (what the source holds in memory).
  std::size_t buffered_lines() const { return reader_->buffered(); }
  // True once the server closed the connection (or reading failed).
  bool closed() const { return reader_->closed(); }

 private:
  std::shared_ptr<detail::socket_reader> reader_;
};

inline socket_text_source<socket_line> socket_text(std::string host, int port, socket_options options = {}) {
  return {std::move(host), port, options};
}
inline socket_text_source<socket_line_with_timestamp> socket_text(std::string host, int port, include_timestamp_t,
                                                                  socket_options options = {}) {
  return {std::move(host), port, options};
}

}  // namespace sluice
