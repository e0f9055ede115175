// <sluice/admin.hpp> (component sluice::admin): an HTTP endpoint for a query_manager's
// queries, on Boost.Beast, on its own thread. Not in <sluice/sluice.hpp>: Beast is heavy to
// compile, and only the program that serves it needs it.
//
//   sl::query_manager streams;
//   auto q = streams.start(... , sl::output_mode::append, {.name = "events"});
//   sl::admin_server admin(streams, {.port = 4040});   // 127.0.0.1:4040
//
//   GET  /queries              every query: id, runId, name, isActive, status, lastProgress, exception
//   GET  /queries/{id}         one query (id or name) with its recentProgress
//   POST /queries/{id}/stop    stops it; 200 once it stopped, 202 if the batch under way has
//                              not finished within admin_options::stop_wait
//   GET  /metrics              Prometheus text format (manage/metrics.hpp)
//   GET  /                     the status page (admin/status_page.hpp), charts of the above
//
// Loopback by default; any other address needs a bearer token (the constructor refuses to
// start without one). Each connection has bounded time and bytes per request: a slow or
// endless client is cut off and never holds up the query threads or other clients.
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "admin/status_page.hpp"
#include "codec/json.hpp"
#include "manage/manager.hpp"
#include "manage/metrics.hpp"

namespace sluice {

struct admin_options {
  std::string address = "127.0.0.1";  // an IP address, or "localhost"
  unsigned short port = 0;            // 0: a free port (admin_server::port() tells which)
  // Required on every request when set ("Authorization: Bearer <token>"); must be set when
  // address is not a loopback address.
  std::string bearer_token{};
  std::chrono::milliseconds read_timeout{5000};   // to receive one whole request
  std::chrono::milliseconds write_timeout{5000};  // to send one whole response
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 4 * 1024;
  std::size_t max_connections = 64;  // more are closed at once
  std::chrono::milliseconds stop_wait{10000};  // POST .../stop waits this long for the query to end
};

namespace detail::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

inline asio::ip::address parse_address(const std::string& text) {
  if (text == "localhost") return asio::ip::make_address("127.0.0.1");
  boost::system::error_code ec;
  auto a = asio::ip::make_address(text, ec);
  if (ec)
    throw std::invalid_argument("sluice admin: admin_options::address '" + text +
                                "' is not an IP address (use e.g. 127.0.0.1, ::1, 0.0.0.0 or localhost)");
  return a;
}

// Compares without stopping at the first difference (no timing hint of a token's prefix).
inline bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A path segment with its %XX escapes decoded; nullopt when an escape is malformed.
inline std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (i + 2 >= in.size() || !hex(in[i + 1]) || !hex(in[i + 2])) return std::nullopt;
    out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

inline boost::json::object query_json(const managed_query& q, bool detailed) {
  boost::json::object o;
  o["id"] = q.id;
  o["runId"] = q.run_id;
  o["name"] = q.name.empty() ? boost::json::value(nullptr) : boost::json::value(q.name);
  o["isActive"] = q.active;
  o["started"] = format_timestamp(q.started);
  if (q.handle) o["status"] = q.handle->status().to_json();
  o["exception"] = q.exception ? boost::json::value(*q.exception) : boost::json::value(nullptr);
  o["numBatches"] = q.batches;
  o["recordsProcessed"] = q.records_processed;
  if (!q.expectations.empty()) {  // running totals of the sl::expect stages (per batch: data_quality)
    boost::json::array es;
    for (const auto& e : q.expectations)
      es.push_back({{"name", e.name}, {"policy", e.policy}, {"passed_records", e.passed_records},
                    {"failed_records", e.failed_records}});
    o["expectations"] = std::move(es);
  }
  o["lastProgress"] = q.last_progress ? boost::json::value(q.last_progress->to_json()) : boost::json::value(nullptr);
  if (detailed) {
    boost::json::array recent;
    if (q.handle)
      for (const auto& p : q.handle->recent_progress()) recent.push_back(p.to_json());
    o["recentProgress"] = std::move(recent);
  }
  return o;
}

class server_state;

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, server_state* server);
  ~session();
  void start() { read(); }

 private:
  void read();
  void on_read(beast::error_code ec);
  void respond(http::response<http::string_body> res);
  void handle();
  void stop_query(std::string run_id);
  void poll_stop(streaming_query query, std::chrono::steady_clock::time_point deadline,
                 std::shared_ptr<asio::steady_timer> timer);
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  server_state* server_;  // outlives its sessions: they die with its io_context
  bool keep_alive_ = false;
  unsigned version_ = 11;
};

class server_state {
 public:
  server_state(query_manager& manager, admin_options options)
      : manager(manager), options(std::move(options)), acceptor(io) {}

  // In this order: the io_context's pending handlers hold sessions, which use the members
  // above it when they are destroyed with it.
  query_manager& manager;
  admin_options options;
  std::size_t connections = 0;  // touched on the server's thread only
  asio::io_context io;
  tcp::acceptor acceptor;

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [self = this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (self->connections >= self->options.max_connections) {
          beast::error_code ignored;
          s.close(ignored);
        } else {
          std::make_shared<session>(std::move(s), self)->start();
        }
      }
      self->accept();
    });
  }
};

inline session::session(tcp::socket socket, server_state* server)
    : stream_(std::move(socket)), buffer_(server->options.max_header_bytes + server->options.max_body_bytes), server_(server) {
  ++server_->connections;
}

inline session::~session() { --server_->connections; }

inline void session::read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
  parser_->body_limit(server_->options.max_body_bytes);
  // The deadline covers the whole request: a client sending one byte at a time is cut off too.
  stream_.expires_after(server_->options.read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

inline http::response<http::string_body> json_response(http::status status, const boost::json::value& body,
                                                      unsigned version) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "application/json");
  res.body() = json_text(body) + "\n";
  return res;
}

inline http::response<http::string_body> error_response(http::status status, std::string message, unsigned version) {
  return json_response(status, boost::json::object{{"error", std::move(message)}, {"status", static_cast<int>(status)}},
                       version);
}

inline void session::on_read(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset || ec == asio::error::eof) {
    return close();
  }
  if (ec) {
    keep_alive_ = false;
    if (ec == http::error::header_limit)
      return respond(error_response(http::status::request_header_fields_too_large,
                                    "request headers over " + std::to_string(server_->options.max_header_bytes) + " bytes",
                                    11));
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow)
      return respond(error_response(http::status::payload_too_large,
                                    "request body over " + std::to_string(server_->options.max_body_bytes) + " bytes", 11));
    return respond(error_response(http::status::bad_request, "malformed HTTP request: " + ec.message(), 11));
  }
  handle();
}

inline void session::respond(http::response<http::string_body> res) {
  res.set(http::field::server, "sluice");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive_);
  res.prepare_payload();
  auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
  stream_.expires_after(server_->options.write_timeout);  // a client that does not read is cut off
  http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
    if (ec || !self->keep_alive_) return self->close();
    self->read();
  });
}

inline void session::handle() {
  const auto& req = parser_->get();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  const auto& opts = server_->options;
  std::string_view target(req.target().data(), req.target().size());
  if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  // The status page holds no data (its script asks for it, with the token): served to anyone.
  if (target == "/" && req.method() == http::verb::get) {
    http::response<http::string_body> res{http::status::ok, version_};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.body() = std::string(status_page_html);
    return respond(std::move(res));
  }
  if (!opts.bearer_token.empty()) {
    const auto auth = req[http::field::authorization];
    constexpr std::string_view scheme = "Bearer ";
    if (auth.size() <= scheme.size() || !beast::iequals(auth.substr(0, scheme.size()), scheme) ||
        !same_secret(std::string_view(auth.data() + scheme.size(), auth.size() - scheme.size()), opts.bearer_token)) {
      auto res = error_response(http::status::unauthorized, "missing or wrong bearer token (Authorization: Bearer ...)",
                                version_);
      res.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
      return respond(std::move(res));
    }
  }
  const auto method = req.method();
  auto method_not_allowed = [&](std::string_view allow) {
    auto res = error_response(http::status::method_not_allowed,
                              std::string(req.method_string()) + " is not allowed on " + std::string(target) +
                                  " (allowed: " + std::string(allow) + ")",
                              version_);
    res.set(http::field::allow, allow);
    return respond(std::move(res));
  };

  if (target == "/") return method_not_allowed("GET");  // GET was served above
  if (target == "/metrics") {
    if (method != http::verb::get) return method_not_allowed("GET");
    http::response<http::string_body> res{http::status::ok, version_};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = prometheus_text(server_->manager);
    return respond(std::move(res));
  }
  if (target == "/queries" || target == "/queries/") {
    if (method != http::verb::get) return method_not_allowed("GET");
    boost::json::array all;
    for (const auto& q : server_->manager.queries()) all.push_back(query_json(q, false));
    return respond(json_response(http::status::ok, all, version_));
  }
  constexpr std::string_view prefix = "/queries/";
  if (target.starts_with(prefix)) {
    std::string_view rest = target.substr(prefix.size());
    bool stop = false;
    if (rest.ends_with("/stop")) {
      stop = true;
      rest.remove_suffix(5);
    }
    if (rest.empty() || rest.find('/') != std::string_view::npos)
      return respond(error_response(http::status::not_found, "no such resource: " + std::string(target), version_));
    if (stop && method != http::verb::post) return method_not_allowed("POST");
    if (!stop && method != http::verb::get) return method_not_allowed("GET");
    const auto decoded = percent_decode(rest);
    if (!decoded)
      return respond(error_response(http::status::bad_request, "malformed %-escape in " + std::string(target), version_));
    rest = *decoded;
    // The newest run with this id or name (an active one first).
    std::optional<managed_query> found;
    for (const auto& q : server_->manager.queries())
      if (q.id == rest || (!q.name.empty() && q.name == rest))
        if (!found || q.active || !found->active) found = q;
    if (!found)
      return respond(error_response(http::status::not_found, "no query with id or name '" + std::string(rest) + "'",
                                    version_));
    if (!stop) return respond(json_response(http::status::ok, query_json(*found, true), version_));
    if (!found->handle)
      return respond(error_response(http::status::conflict, "query " + found->id + " is still starting", version_));
    return stop_query(found->run_id);
  }
  return respond(error_response(http::status::not_found,
                                "no such resource: " + std::string(target) +
                                    " (GET /, GET /queries, GET /queries/{id}, POST /queries/{id}/stop, GET /metrics)",
                                version_));
}

// Asks the query to stop, then checks every 20 ms on a timer (never blocking the server's
// thread) until it has ended or stop_wait passed.
inline void session::stop_query(std::string run_id) {
  for (const auto& q : server_->manager.queries()) {
    if (q.run_id != run_id || !q.handle) continue;
    q.handle->core()->request_stop();
    return poll_stop(*q.handle, std::chrono::steady_clock::now() + server_->options.stop_wait,
                     std::make_shared<asio::steady_timer>(stream_.get_executor()));
  }
}

inline void session::poll_stop(streaming_query query, std::chrono::steady_clock::time_point deadline,
                               std::shared_ptr<asio::steady_timer> timer) {
  const bool done = !query.is_active();
  if (done || std::chrono::steady_clock::now() >= deadline) {
    for (const auto& q : server_->manager.queries())
      if (q.run_id == query.run_id())
        return respond(json_response(done ? http::status::ok : http::status::accepted, query_json(q, false), version_));
    return respond(error_response(http::status::gone, "query " + query.id() + " is no longer known", version_));
  }
  timer->expires_after(std::chrono::milliseconds(20));
  timer->async_wait([self = shared_from_this(), query, deadline, timer](beast::error_code ec) {
    if (!ec) self->poll_stop(query, deadline, timer);
  });
}

}  // namespace detail::admin

// The admin endpoint: binds in the constructor (errors are thrown there), serves on its own
// thread until stop() or destruction. The manager must outlive it.
class admin_server {
 public:
  admin_server(query_manager& manager, admin_options options = {}) {
    namespace asio = boost::asio;
    const auto address = detail::admin::parse_address(options.address);
    if (!address.is_loopback() && options.bearer_token.empty())
      throw std::invalid_argument("sluice admin: listening on " + options.address +
                                  " (not a loopback address) needs a bearer token: set admin_options::bearer_token, "
                                  "or listen on 127.0.0.1");
    state_ = std::make_unique<detail::admin::server_state>(manager, std::move(options));
    auto& acc = state_->acceptor;
    const detail::admin::tcp::endpoint endpoint(address, state_->options.port);
    boost::system::error_code ec;
    acc.open(endpoint.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(endpoint, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("sluice admin: cannot listen on " + state_->options.address + ":" +
                               std::to_string(state_->options.port) + ": " + ec.message());
    port_ = acc.local_endpoint().port();
    state_->accept();
    thread_ = std::thread([s = state_.get()] { s->io.run(); });
  }
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;
  ~admin_server() { stop(); }

  unsigned short port() const { return port_; }
  std::string url() const {
    const auto a = detail::admin::parse_address(state_->options.address);
    return "http://" + (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(port_);
  }
  // Closes the listener and every connection; idempotent.
  void stop() {
    if (!thread_.joinable()) return;
    state_->io.stop();
    thread_.join();
  }

 private:
  std::unique_ptr<detail::admin::server_state> state_;
  std::thread thread_;
  unsigned short port_ = 0;
};

}  // namespace sluice
