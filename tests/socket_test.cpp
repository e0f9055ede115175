// sluice/sources/socket.hpp: sl::socket_text against a real TCP server on 127.0.0.1 (a
// Boost.Asio acceptor in this test): lines arrive in batches, a partial line waits for its
// newline, the server closing the connection, a refused connection naming host:port, the
// refusal of a checkpoint (the source is not replayable), and committed lines being released.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/sources/socket.hpp>

#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace socket_test {
// A TCP server on 127.0.0.1 (an ephemeral port) taking one connection; the test writes to it.
class line_server {
 public:
  line_server() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accepted_ = std::async(std::launch::async, [this] {
      tcp::socket s(io_);
      acceptor_.accept(s);
      return s;
    });
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  // Waits for the client (the source connects when the query starts).
  bool wait_client(std::chrono::seconds timeout = 10s) {
    if (!client_) {
      if (accepted_.wait_for(timeout) != std::future_status::ready) return false;
      client_.emplace(accepted_.get());
    }
    return true;
  }
  void send(const std::string& text) {
    REQUIRE(wait_client());
    asio::write(*client_, asio::buffer(text));
  }
  void close() {
    REQUIRE(wait_client());
    client_->shutdown(tcp::socket::shutdown_both);
    client_->close();
  }
  ~line_server() {
    boost::system::error_code ec;
    acceptor_.close(ec);  // unblocks a pending accept
    if (accepted_.valid()) accepted_.wait();
  }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::future<tcp::socket> accepted_;
  std::optional<tcp::socket> client_;
};

// A port nothing listens on (bound, then released).
int free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

template <class Source>
std::vector<std::string> read_range(Source& src, std::int64_t from, std::int64_t to) {
  std::vector<std::string> out;
  for (const auto& p : src.partitions({from}, {to})) src.read(p, [&](const auto& row) { out.push_back(row.value); });
  return out;
}

std::int64_t latest(auto& src) { return src.latest_offset({0}, sl::read_limit::source_default()).lines; }

using strings = std::vector<std::string>;
}  // namespace socket_test

using namespace socket_test;

TEST_CASE("socket: lines arrive in batches through a query", "[socket]") {
  line_server server;
  sl::memory_sink<sl::socket_line> out;
  auto q = sl::start(sl::socket_text("127.0.0.1", server.port()) | out, sl::output_mode::append);
  server.send("alpha\nbeta\n");
  REQUIRE(eventually([&] { return out.rows().size() == 2; }));
  server.send("gamma\r\n");  // a CRLF line ending loses its \r
  REQUIRE(eventually([&] { return out.rows().size() == 3; }));
  q.stop();
  REQUIRE(!q.exception());
  strings values;
  for (const auto& r : out.rows()) values.push_back(r.value);
  CHECK(values == strings{"alpha", "beta", "gamma"});
  const auto batches = out.batches();
  CHECK(batches.size() >= 2);  // the third line came after the first batch had run
  CHECK(batches.back().rows.back().value == "gamma");
  CHECK(q.last_progress()->sources.at(0).description == "TextSocket[127.0.0.1:" + std::to_string(server.port()) + "]");
}

TEST_CASE("socket: a partial line waits for its newline", "[socket]") {
  line_server server;
  auto src = sl::socket_text("127.0.0.1", server.port());
  src.open({"q", 0, {}});
  server.send("hel");
  std::this_thread::sleep_for(100ms);
  CHECK(latest(src) == 0);  // no newline yet: no line
  server.send("lo\nwor");
  REQUIRE(eventually([&] { return latest(src) == 1; }));
  CHECK(read_range(src, 0, 1) == strings{"hello"});
  std::this_thread::sleep_for(50ms);
  CHECK(latest(src) == 1);  // "wor" is still waiting
  server.send("ld\n\n");
  REQUIRE(eventually([&] { return latest(src) == 3; }));
  CHECK(read_range(src, 1, 3) == strings{"world", ""});  // an empty line is a line
  src.stop();
}

TEST_CASE("socket: the server closing the connection ends the lines, not the query", "[socket]") {
  line_server server;
  sl::memory_sink<sl::socket_line> out;
  auto lines = sl::socket_text("127.0.0.1", server.port());
  auto q = sl::start(lines | out, sl::output_mode::append);
  server.send("one\ntwo\nno newline at the end");
  server.close();
  REQUIRE(eventually([&] { return out.rows().size() == 3; }));
  REQUIRE(eventually([&] { return lines.closed(); }));  // copies share the connection
  std::this_thread::sleep_for(50ms);
  CHECK(q.is_active());
  q.stop();
  REQUIRE(!q.exception());
  strings values;
  for (const auto& r : out.rows()) values.push_back(r.value);
  CHECK(values == strings{"one", "two", "no newline at the end"});
}

TEST_CASE("socket: a refused connection fails the query naming host and port", "[socket]") {
  const int port = free_port();
  const std::string where = "127.0.0.1:" + std::to_string(port);
  auto q = sl::start(sl::socket_text("127.0.0.1", port) | sl::memory_sink<sl::socket_line>(), sl::output_mode::append);
  REQUIRE_THROWS_WITH(q.await_termination(), Catch::Contains("cannot connect to " + where));
  auto direct = sl::socket_text("127.0.0.1", port);
  REQUIRE_THROWS_WITH(direct.open({"q", 0, {}}), Catch::Contains("sluice::socket_text: cannot connect to " + where));
  CHECK_THROWS_AS(sl::socket_text("127.0.0.1", 70000), std::invalid_argument);
}

TEST_CASE("socket: a query with a checkpoint is refused: the source is not replayable", "[socket]") {
  STATIC_REQUIRE(!sl::source_replayable<sl::socket_text_source<sl::socket_line>>());
  STATIC_REQUIRE(sl::source_replayable<sl::memory_stream<sl::socket_line>>());
  std::random_device rd;
  const auto dir = fs::temp_directory_path() / ("sluice-socket-" + std::to_string(rd()));
  // Nothing listens on the port: the refusal comes before any connection attempt.
  const int port = free_port();
  // Refused by sl::start itself, before anything is written to the checkpoint.
  REQUIRE_THROWS_WITH(sl::start(sl::socket_text("127.0.0.1", port) | sl::memory_sink<sl::socket_line>(),
                                sl::output_mode::append, {.checkpoint = (dir / "ck").string()}),
                      Catch::Contains("is not replayable and cannot be used with a checkpoint"));
  CHECK_FALSE(fs::exists(dir / "ck" / "metadata"));
  fs::remove_all(dir);
}

namespace socket_test {
// A user source declaring replayable = false without a check of its own.
struct volatile_offset {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(volatile_offset, (), (n))
struct volatile_source {
  using row_type = sl::socket_line;
  using offset_type = volatile_offset;
  using partition_type = int;
  static constexpr bool replayable = false;
  volatile_offset initial_offset() { return {}; }
  volatile_offset latest_offset(const volatile_offset& s, sl::read_limit) { return s; }
  std::vector<int> partitions(const volatile_offset&, const volatile_offset&) { return {}; }
  template <class Emit>
  void read(int, Emit&&) {}
  void commit(const volatile_offset&) {}
  std::string description() const { return "VolatileSource"; }
};
}  // namespace socket_test

TEST_CASE("socket: any source declaring replayable = false refuses a checkpoint", "[socket]") {
  std::random_device rd;
  const auto dir = fs::temp_directory_path() / ("sluice-volatile-" + std::to_string(rd()));
  REQUIRE_THROWS_WITH(sl::start(volatile_source{} | sl::memory_sink<sl::socket_line>(), sl::output_mode::append,
                                {.checkpoint = (dir / "ck").string()}),
                      Catch::Contains("'VolatileSource' is not replayable"));
  CHECK_FALSE(fs::exists(dir / "ck" / "metadata"));
  // Without a checkpoint it runs.
  auto ok = sl::start(volatile_source{} | sl::memory_sink<sl::socket_line>(), sl::output_mode::append);
  ok.process_all_available();
  CHECK(ok.is_active());
  ok.stop();
  CHECK(!ok.exception());
  fs::remove_all(dir);
}

TEST_CASE("socket: committed lines are released, uncommitted ones kept", "[socket]") {
  line_server server;
  auto src = sl::socket_text("127.0.0.1", server.port(), sl::include_timestamp);
  const auto before = sl::timestamp::now();
  src.open({"q", 0, {}});
  server.send("a\nb\nc\n");
  REQUIRE(eventually([&] { return latest(src) == 3; }));
  CHECK(src.buffered_lines() == 3);
  std::vector<sl::socket_line_with_timestamp> rows;
  for (const auto& p : src.partitions({0}, {2})) src.read(p, [&](auto&& r) { rows.push_back(r); });
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].value == "a");
  CHECK(rows[0].timestamp >= before);
  CHECK(rows[1].timestamp <= sl::timestamp::now());
  src.commit({2});
  CHECK(src.buffered_lines() == 1);  // only "c" is still held
  CHECK(read_range(src, 2, 3) == strings{"c"});
  REQUIRE_THROWS_WITH(read_range(src, 1, 3), Catch::Contains("not replayable"));
  src.stop();
}

TEST_CASE("socket: a line longer than max_line_bytes fails the source", "[socket]") {
  line_server server;
  auto src = sl::socket_text("127.0.0.1", server.port(), {.max_line_bytes = 8});
  src.open({"q", 0, {}});
  server.send("short\n0123456789");
  REQUIRE(eventually([&] {
    try {
      latest(src);
      return false;
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find("longer than max_line_bytes (8)") != std::string::npos;
    }
  }));
  src.stop();
}
