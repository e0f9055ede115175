// Shared by the sluice::rest tests: the servers' addresses (set by tests/rest/servers.py, which
// CTest runs around the test binary), a minimal HTTP client of its own to add records to
// json-server, and a driver that runs a source the way the engine does.
#pragma once
#include <catch2/catch.hpp>

#include <sluice/rest.hpp>
#include <sluice/sluice.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace rest_test {

namespace sl = sluice;
namespace rest = sluice::rest;

// A server's address from the environment. Missing means the test runs outside servers.py:
// that is a failure, never a skip.
inline std::string server(const char* variable) {
  const char* v = std::getenv(variable);
  if (!v || !*v) FAIL(std::string(variable) + " is not set: run the tests through tests/rest/servers.py (ctest -L rest)");
  return v;
}

// An independent client (plain Beast, no sluice::rest code): POST a JSON object to json-server.
inline boost::json::value post_json(const std::string& base, const std::string& path, const boost::json::value& body) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  const auto hostport = base.substr(base.find("://") + 3);
  const auto colon = hostport.rfind(':');
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::beast::tcp_stream stream(io);
  stream.connect(resolver.resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, hostport);
  req.set(http::field::content_type, "application/json");
  req.body() = boost::json::serialize(body);
  req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  REQUIRE(res.result_int() == 201);
  return boost::json::parse(res.body());
}

inline boost::json::value get_json(const std::string& base, const std::string& path) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  const auto hostport = base.substr(base.find("://") + 3);
  const auto colon = hostport.rfind(':');
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::beast::tcp_stream stream(io);
  stream.connect(resolver.resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, hostport);
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return boost::json::parse(res.body());
}

inline std::int64_t hits(const std::string& base, const std::string& key_and_path) {
  return get_json(base, "/hits?of=" + key_and_path).at("hits").as_int64();
}

// A unique key per test run, so that the fault server's per-key counters start at zero.
inline std::string unique_key(const std::string& name) {
  static int n = 0;
  return name + std::to_string(::getpid()) + "x" + std::to_string(++n);
}

// Runs a source as the engine does, without a query: plan, read, commit, until nothing new.
template <class Source>
struct driver {
  Source src;
  typename Source::offset_type start;
  std::vector<typename Source::row_type> rows;
  std::vector<std::size_t> batch_sizes;

  explicit driver(Source s) : src(std::move(s)), start(src.initial_offset()) {}

  // One batch; returns its number of rows (0: nothing new).
  std::size_t step(sl::read_limit limit = sl::read_limit::source_default()) {
    const auto end = src.latest_offset(start, limit);
    if (sl::offset_equal(end, start)) return 0;
    std::size_t n = 0;
    for (const auto& p : src.partitions(start, end))
      src.read(p, [&](const auto& row) {
        rows.push_back(row);
        ++n;
      });
    src.commit(end);
    start = end;
    batch_sizes.push_back(n);
    return n;
  }
  void drain() {
    while (step() > 0) {
    }
  }
};

template <class Source>
driver<Source> drive(Source s) {
  return driver<Source>(std::move(s));
}

inline std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::path(SLUICE_REST_TESTS_BINARY_DIR) / "work" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace rest_test
