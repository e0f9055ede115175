// One HTTP/1.1 exchange at a time over a kept-alive connection (Boost.Beast), plain or TLS
// (Boost.Asio SSL over OpenSSL). Synchronous for the caller; internally the operations are
// asynchronous on a private io_context so that every step has a deadline (Beast's stream
// timeouts apply only to asynchronous operations) and can be cut short by a stop token (the
// query's stop(), from another thread).
#pragma once
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "../options.hpp"
#include "text.hpp"

namespace sluice::rest::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct http_response {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return std::nullopt;
  }
};

// A failure below HTTP (connect, TLS, timeout, truncated response): worth retrying unless
// `permanent` (certificate rejected, response too large). `interrupted`: the stop token was
// requested during the exchange.
struct transport_error {
  std::string message;
  bool permanent = false;
  bool interrupted = false;
};

struct exchange_result {
  std::optional<http_response> response;
  std::optional<transport_error> failure;
};

struct http_request {
  http_method method = http_method::get;
  url_parts url;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class http_client {
 public:
  explicit http_client(const options& o)
      : connect_timeout_(o.connect_timeout),
        read_timeout_(o.read_timeout),
        max_body_(static_cast<std::uint64_t>(o.max_response_bytes)),
        tls_(o.tls),
        user_agent_(o.user_agent) {}

  // Sends one request and reads its response (no redirects, no retries: the caller decides).
  // A stop request gives up at once (closing the connection) with an `interrupted` failure.
  exchange_result exchange(const http_request& r, std::stop_token stop = {}) {
    stop_ = std::move(stop);
    // Runs in the thread that requests the stop: io_context::stop() is thread-safe, and
    // run() below notices it (or the token) and abandons the operation.
    std::stop_callback wake(stop_, [this] { io_.stop(); });
    const std::string key = r.url.scheme + "://" + r.url.host + ":" + r.url.port;
    const bool reused = conn_ && conn_->key == key;
    if (!reused) close();
    auto result = attempt(r, key);
    // A kept-alive connection the server closed meanwhile fails at once: once, on a new one.
    if (reused && result.failure && !result.failure->permanent && stale_) {
      close();
      result = attempt(r, key);
    }
    return result;
  }

  void close() { conn_.reset(); }
  std::int64_t connections_opened() const { return connections_opened_; }

 private:
  struct connection {
    std::string key;
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    std::string rejected;  // why certificate verification refused the server's certificate
    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  };

  // Runs the io_context until the started operation on `stream` completes (its deadline
  // included), or a stop request: then the stream is closed, which completes the operation
  // with operation_aborted, and that is returned.
  template <class Start>
  boost::system::error_code run(beast::tcp_stream& stream, Start&& start) {
    boost::system::error_code result = asio::error::would_block;
    start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    if (!stop_.stop_requested()) io_.run();
    if (result == asio::error::would_block) {
      stream.close();
      // The handler must run before `result` goes away; a late io_.stop() may end a run() early.
      while (result == asio::error::would_block) {
        io_.restart();
        io_.run();
      }
      return asio::error::operation_aborted;
    }
    return result;
  }

  bool interrupted() const { return stop_.stop_requested(); }
  static transport_error interruption() { return transport_error{"interrupted by stop()", true, true}; }

  std::string describe(const boost::system::error_code& ec, std::chrono::milliseconds timeout,
                       const char* timeout_name) const {
    if (ec == beast::error::timeout)
      return std::string("timed out after ") + std::to_string(timeout.count()) + " ms (" + timeout_name + ")";
    if (ec == http::error::partial_message || ec == http::error::end_of_stream || ec == asio::error::eof)
      return "the connection closed before the response was complete (truncated response)";
    return ec.message();
  }

  exchange_result attempt(const http_request& r, const std::string& key) {
    stale_ = false;
    boost::system::error_code ec;
    const bool fresh = !conn_;
    if (interrupted()) return {std::nullopt, interruption()};
    if (fresh) {
      if (auto failure = connect(r.url, key)) return {std::nullopt, std::move(failure)};
    }
    http::request<http::string_body> req{r.method == http_method::post ? http::verb::post : http::verb::get,
                                         r.url.target, 11};
    req.set(http::field::host, r.url.default_port() ? r.url.host : r.url.host + ":" + r.url.port);
    req.set(http::field::user_agent, user_agent_);
    req.keep_alive(true);
    for (const auto& [k, v] : r.headers) req.set(k, v);
    if (r.method == http_method::post) {
      req.body() = r.body;
      req.prepare_payload();
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body_);
    parser.header_limit(64 * 1024);
    auto& conn = *conn_;
    conn.lowest().expires_after(read_timeout_);
    ec = run(conn.lowest(), [&](auto handler) {
      if (conn.secure) http::async_write(*conn.secure, req, handler);
      else http::async_write(*conn.plain, req, handler);
    });
    if (!ec) {
      ec = run(conn.lowest(), [&](auto handler) {
        if (conn.secure) http::async_read(*conn.secure, conn.buffer, parser, handler);
        else http::async_read(*conn.plain, conn.buffer, parser, handler);
      });
    }
    if (ec) {
      // Nothing at all read back on a reused connection: the server had closed it.
      stale_ = !fresh && !parser.got_some() &&
               (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                ec == asio::error::broken_pipe);
      close();
      if (interrupted()) return {std::nullopt, interruption()};
      if (ec == http::error::body_limit)
        return {std::nullopt,
                transport_error{"the response is larger than max_response_bytes (" + std::to_string(max_body_) + ")",
                                true}};
      return {std::nullopt, transport_error{describe(ec, read_timeout_, "read_timeout")}};
    }
    auto res = parser.release();
    http_response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) out.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return {std::move(out), std::nullopt};
  }

  std::optional<transport_error> connect(const url_parts& url, const std::string& key) {
    auto conn = std::make_unique<connection>();
    conn->key = key;
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return transport_error{"cannot resolve " + url.host + ": " + ec.message()};
    if (url.tls()) {
      if (!ssl_) ssl_ = make_ssl_context();
      conn->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, *ssl_);
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(io_);
    }
    auto& lowest = conn->lowest();
    lowest.expires_after(connect_timeout_);
    ec = run(lowest, [&](auto handler) { lowest.async_connect(endpoints, handler); });
    if (interrupted()) return interruption();
    if (ec)
      return transport_error{"cannot connect to " + url.host + ":" + url.port + ": " +
                             describe(ec, connect_timeout_, "connect_timeout")};
    ++connections_opened_;
    if (conn->secure) {
      const std::string name = tls_.server_name.empty() ? url.host : tls_.server_name;
      // SNI, so that a server hosting several names presents the right certificate.
      if (!SSL_set_tlsext_host_name(conn->secure->native_handle(), name.c_str()))
        return transport_error{"cannot set the TLS server name (SNI) '" + name + "'", true};
      if (tls_.verify)
        conn->secure->set_verify_callback([c = conn.get(), name, server_name = !tls_.server_name.empty()](
                                              bool preverified, asio::ssl::verify_context& vc) {
          return verify_certificate(preverified, vc, name, server_name, c->rejected);
        });
      lowest.expires_after(connect_timeout_);
      ec = run(lowest, [&](auto handler) { conn->secure->async_handshake(asio::ssl::stream_base::client, handler); });
      if (interrupted()) return interruption();
      if (ec) {
        std::string why = describe(ec, connect_timeout_, "connect_timeout");
        const long verify = SSL_get_verify_result(conn->secure->native_handle());
        if (verify != X509_V_OK)
          why = "certificate verification failed: " +
                (conn->rejected.empty() ? std::string(X509_verify_cert_error_string(verify)) : conn->rejected);
        return transport_error{"TLS handshake with " + url.host + ":" + url.port + " failed: " + why,
                               verify != X509_V_OK};
      }
    }
    conn_ = std::move(conn);
    return std::nullopt;
  }

  // The names a certificate is valid for: its subjectAltName entries (DNS:, IP:), else its
  // subject's common name.
  static std::string certificate_names(X509* cert) {
    std::string out;
    auto add = [&out](std::string n) { out += (out.empty() ? "" : ", ") + std::move(n); };
    if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
      for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
          const auto* s = g->d.dNSName;
          add("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s)));
        } else if (g->type == GEN_IPADD) {
          const auto* s = g->d.iPAddress;
          const unsigned char* b = ASN1_STRING_get0_data(s);
          if (ASN1_STRING_length(s) == 4)
            add("IP:" + asio::ip::address_v4({b[0], b[1], b[2], b[3]}).to_string());
          else if (ASN1_STRING_length(s) == 16) {
            asio::ip::address_v6::bytes_type bytes;
            std::copy(b, b + 16, bytes.begin());
            add("IP:" + asio::ip::address_v6(bytes).to_string());
          }
        }
      }
      GENERAL_NAMES_free(names);
    }
    if (out.empty()) {
      char cn[256] = {};
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
        add("CN:" + std::string(cn));
    }
    return out;
  }

  static std::string subject_of(X509* cert) {
    char buf[512] = {};
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    return buf;
  }

  // OpenSSL's chain verification, then (for the server's own certificate) the host name, as
  // asio::ssl::host_name_verification does; a refusal is described in `rejected`: what failed,
  // for which certificate, and for a host name the names the certificate holds.
  static bool verify_certificate(bool preverified, asio::ssl::verify_context& vc, const std::string& name,
                                 bool from_server_name, std::string& rejected) {
    X509_STORE_CTX* ctx = vc.native_handle();
    X509* cert = X509_STORE_CTX_get_current_cert(ctx);
    const int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (!preverified) {
      if (rejected.empty() && cert)
        rejected = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx))) + " (certificate " +
                   subject_of(cert) + (depth > 0 ? ", " + std::to_string(depth) + " above the server's" : "") + ")";
      return false;
    }
    if (depth > 0 || !cert) return true;
    if (asio::ssl::host_name_verification(name)(preverified, vc)) return true;
    boost::system::error_code ec;
    asio::ip::make_address(name, ec);
    const bool ip = !ec;
    X509_STORE_CTX_set_error(ctx, ip ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
    rejected = "the certificate does not match the " + std::string(ip ? "IP address" : "host name") + " '" + name +
               "'" + (from_server_name ? " (tls.server_name)" : "") + ": certificate names are [" +
               certificate_names(cert) + "]";
    return false;
  }

  std::unique_ptr<asio::ssl::context> make_ssl_context() const {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    if (tls_.verify) {
      if (tls_.ca_file.empty()) ctx->set_default_verify_paths(ec);
      else ctx->load_verify_file(tls_.ca_file, ec);
      if (ec)
        throw error("tls.ca_file '" + (tls_.ca_file.empty() ? std::string("<system store>") : tls_.ca_file) +
                    "': cannot load CA certificates: " + ec.message());
      ctx->set_verify_mode(asio::ssl::verify_peer);
    } else {
      ctx->set_verify_mode(asio::ssl::verify_none);
    }
    return ctx;
  }

  asio::io_context io_;
  std::unique_ptr<asio::ssl::context> ssl_;
  std::unique_ptr<connection> conn_;
  std::chrono::milliseconds connect_timeout_, read_timeout_;
  std::uint64_t max_body_;
  tls_options tls_;
  std::string user_agent_;
  bool stale_ = false;
  std::int64_t connections_opened_ = 0;
  std::stop_token stop_;  // of the exchange under way
};

}  // namespace sluice::rest::detail
