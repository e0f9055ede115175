// sluice::rest options: everything the REST source does is configuration (seed 000), so the
// options are plain described structs that load from a JSON file by reflection
// (rest/config.hpp) and print back with their secrets redacted.
#pragma once
#include <boost/describe.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sluice::rest {

using milliseconds = std::chrono::milliseconds;

enum class http_method { get, post };
BOOST_DESCRIBE_ENUM(http_method, get, post)

enum class auth_type { none, basic, bearer, oauth1, env_header };
BOOST_DESCRIBE_ENUM(auth_type, none, basic, bearer, oauth1, env_header)

// Which offset strategy the configuration asks for; the C++ type of the source picks the
// offset struct (rest::incremental, ...), and a configuration naming another one is refused.
enum class strategy_kind { unspecified, timestamp, cursor, incremental, max_field };
BOOST_DESCRIBE_ENUM(strategy_kind, unspecified, timestamp, cursor, incremental, max_field)

// Credentials. The secret fields (password, token, consumer_secret, token_secret and the
// value of the environment variable) never appear in logs, progress, exceptions or
// checkpoints: every message the source produces goes through its redactor.
struct auth_options {
  auth_type type = auth_type::none;
  std::string username{};         // basic
  std::string password{};         // basic (secret)
  std::string token{};            // bearer (secret); oauth1: the access token (public part)
  std::string consumer_key{};     // oauth1
  std::string consumer_secret{};  // oauth1 (secret)
  std::string token_secret{};     // oauth1 (secret)
  std::string realm{};            // oauth1: optional realm parameter of the header
  std::string header{};           // env_header: the header's name, e.g. "X-Api-Key"
  std::string env{};              // env_header: the environment variable holding its value (secret)
  std::string prefix{};           // env_header: text before the value, e.g. "Token "
};
BOOST_DESCRIBE_STRUCT(auth_options, (),
                      (type, username, password, token, consumer_key, consumer_secret, token_secret, realm, header, env,
                       prefix))

struct tls_options {
  bool verify = true;       // verify the certificate chain and the host name (on by default)
  std::string ca_file{};      // PEM file of trusted CAs; empty: the system CA store
  std::string server_name{};  // SNI and the name verified; empty: the URL's host
};
BOOST_DESCRIBE_STRUCT(tls_options, (), (verify, ca_file, server_name))

// Connection errors, timeouts, 5xx and 429 are retried: waits grow as initial_backoff * 2^n up
// to max_backoff, each scaled by a random factor in [1 - jitter, 1 + jitter]; a Retry-After
// header (seconds or an HTTP date) replaces the computed wait (capped at max_retry_after).
struct retry_options {
  int max_attempts = 5;  // including the first; 1 disables retries
  milliseconds initial_backoff{200};
  milliseconds max_backoff{30'000};
  double jitter = 0.2;
  milliseconds max_retry_after{300'000};
};
BOOST_DESCRIBE_STRUCT(retry_options, (), (max_attempts, initial_backoff, max_backoff, jitter, max_retry_after))

struct options {
  // The request. Placeholders {name} in `url` are filled from the current offset's fields
  // (percent-encoded; `{{` is a literal brace); in `body`, encoded for the content_type
  // (form: percent-encoded, JSON: JSON-escaped, other types: as they are).
  std::string url{};
  http_method method = http_method::get;
  std::string body{};                           // POST body template
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers{};  // sent with every request
  std::map<std::string, std::string> cookies{};  // sent as one Cookie header
  auth_options auth{};
  tls_options tls{};
  milliseconds connect_timeout{10'000};
  milliseconds read_timeout{30'000};  // the whole request: write, headers and body
  milliseconds interval{0};           // minimum time between polls (the API's rate limit)
  retry_options retry{};
  int max_redirects = 5;
  std::int64_t max_response_bytes = 64LL << 20;

  // The records. `records_path` is a JSON pointer (RFC 6901) to the records array; empty: the
  // whole body, which must then be an array.
  std::string records_path{};
  std::int64_t batch_size = 1000;  // at most this many records per micro-batch

  // The offset strategy (see docs/rest.md).
  strategy_kind strategy = strategy_kind::unspecified;
  std::string initial_offset{};    // the first request's offset value (id, value, timestamp or cursor)
  std::string offset_field{};      // incremental: the id field ("id"); max_field: the compared field
  std::string id_field = "id";   // max_field: the identity used to drop records seen at the boundary
  std::string timestamp_path{};    // timestamp: JSON pointer to the response's timestamp
  std::string cursor_path{};       // cursor: JSON pointer to the next cursor in the body
  bool cursor_from_link_header = false;  // cursor: the next page is the Link header's rel="next" URL
  std::string user_agent = "sluice-rest";
  // Header and query parameter names whose values are secrets, beyond the built-in ones
  // (Authorization, Cookie, names holding key, token, secret, password...): redacted in every
  // message, and not sent to another origin after a redirect.
  std::vector<std::string> secret_names{};
};
BOOST_DESCRIBE_STRUCT(options, (),
                      (url, method, body, content_type, headers, cookies, auth, tls, connect_timeout, read_timeout,
                       interval, retry, max_redirects, max_response_bytes, records_path, batch_size, strategy,
                       initial_offset, offset_field, id_field, timestamp_path, cursor_path, cursor_from_link_header,
                       user_agent, secret_names))

}  // namespace sluice::rest
