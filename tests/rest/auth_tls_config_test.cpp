// sluice::rest: authentication (Basic, Bearer, an environment variable's header, OAuth 1.0a
// HMAC-SHA1 against vectors computed independently in Python and against a server that
// verifies signatures), secrets kept out of every message, HTTPS with a CA generated at test
// time, and options loaded from JSON.
#include "rest_test_support.hpp"

#include <fstream>

using namespace rest_test;
using namespace std::chrono_literals;

namespace {
using json_incremental = rest::json_source<rest::incremental_strategy>;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const rest::error& e) {
    return e.what();
  }
  FAIL("expected a sluice::rest::error");
  return {};
}

// The request the fault server saw, echoed back as a record.
boost::json::object echo(const rest::options& o) {
  auto d = drive(json_incremental(o));
  d.step();
  REQUIRE(d.rows.size() == 1);
  return d.rows[0];
}

std::string header(const boost::json::object& echoed, const char* name) {
  const auto* h = echoed.at("headers").as_object().if_contains(name);
  return h ? std::string(h->as_string()) : std::string("<absent>");
}

boost::json::value read_json_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str());
}
}  // namespace

// ---------------------------------------------------------------- auth
TEST_CASE("rest Basic, Bearer, env header, cookies and headers reach the server", "[rest][auth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  rest::options o{.url = fs + "/echo"};
  o.auth = {.type = rest::auth_type::basic, .username = "Aladdin", .password = "open sesame"};
  REQUIRE(header(echo(o), "authorization") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");  // RFC 7617's example

  o.auth = {.type = rest::auth_type::bearer, .token = "tok-abc.def"};
  REQUIRE(header(echo(o), "authorization") == "Bearer tok-abc.def");

  ::setenv("SLUICE_REST_TEST_API_KEY", "k-0123456789", 1);
  o.auth = {.type = rest::auth_type::env_header, .header = "X-Api-Key", .env = "SLUICE_REST_TEST_API_KEY", .prefix = "Token "};
  o.cookies = {{"session", "s1"}, {"theme", "dark"}};
  o.headers = {{"X-Trace", "t-1"}};
  const auto e = echo(o);
  REQUIRE(header(e, "x-api-key") == "Token k-0123456789");
  REQUIRE(header(e, "cookie") == "session=s1; theme=dark");
  REQUIRE(header(e, "x-trace") == "t-1");

  o.auth.env = "SLUICE_REST_TEST_UNSET_VARIABLE";
  REQUIRE_THAT(error_of([&] { json_incremental s(o); }),
               Catch::Contains("SLUICE_REST_TEST_UNSET_VARIABLE is not set"));
}

TEST_CASE("rest POST with a body template filled from the offset", "[rest][auth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  rest::options o{.url = fs + "/echo", .method = rest::http_method::post,
                  .body = R"({"after": {last_id}, "note": "{{literal}", "nested": {"a": {"b": 1}}})", .initial_offset = "41"};
  const auto e = echo(o);
  REQUIRE(e.at("method").as_string() == "POST");
  REQUIRE(e.at("body").as_string() == R"({"after": 41, "note": "{literal}", "nested": {"a": {"b": 1}}})");
  REQUIRE(header(e, "content-type") == "application/json");

  // 303 See Other: the result is fetched with GET, without the body.
  rest::options see_other{.url = fs + "/see-other", .method = rest::http_method::post, .body = "{}"};
  const auto after = echo(see_other);
  REQUIRE(after.at("method").as_string() == "GET");
  REQUIRE(after.at("body").as_string() == "");
}

TEST_CASE("rest secrets never appear in errors, logs, descriptions, options or offsets", "[rest][auth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const std::string secret = "SeCrEt-Value-42";
  ::setenv("SLUICE_REST_TEST_SECRET", secret.c_str(), 1);
  std::vector<rest::auth_options> auths = {
      {.type = rest::auth_type::basic, .username = "u", .password = secret},
      {.type = rest::auth_type::bearer, .token = secret},
      {.type = rest::auth_type::oauth1, .token = "t", .consumer_key = "ck", .consumer_secret = secret, .token_secret = secret},
      {.type = rest::auth_type::env_header, .header = "X-Key", .env = "SLUICE_REST_TEST_SECRET"},
  };
  for (const auto& auth : auths) {
    // The secret is also in the URL (an API key in the query, user:password@) and a header.
    rest::options o{.url = "http://user:" + secret + "@" + fs.substr(7) + "/unauthorized?api_key=" + secret,
                    .headers = {{"X-Api-Token", secret}}, .auth = auth};
    o.retry.max_attempts = 2;
    json_incremental src(o);
    std::vector<std::string> log;
    src.on_log([&](const std::string& l) { log.push_back(l); });
    auto d = drive(src);
    const auto msg = error_of([&] { d.step(); });
    REQUIRE_THAT(msg, Catch::Contains("HTTP 401"));
    REQUIRE_THAT(msg, !Catch::Contains(secret));
    REQUIRE_THAT(src.description(), !Catch::Contains(secret));
    REQUIRE_THAT(boost::json::serialize(rest::options_to_json(o)), !Catch::Contains(secret));
    REQUIRE_THAT(sl::to_json_string(d.start), !Catch::Contains(secret));
  }
  // Logged retries too (the 500 endpoint with a secret in its query).
  rest::options o{.url = fs + "/500?run=" + unique_key("s") + "&fail=1&token=" + secret,
                  .auth = {.type = rest::auth_type::bearer, .token = secret}};
  o.retry.initial_backoff = 5ms;
  json_incremental src(o);
  std::vector<std::string> log;
  src.on_log([&](const std::string& l) { log.push_back(l); });
  drive(src).step();
  REQUIRE(log.size() == 1);
  REQUIRE_THAT(log[0], Catch::Contains("HTTP 500") && !Catch::Contains(secret));
}

TEST_CASE("rest a redirect to another origin carries no credentials, not even back to the first origin",
          "[rest][auth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const auto other = server("SLUICE_REST_OTHER_SERVER");  // another port: another origin
  auto via = [&](const std::string& target) { return fs + "/redirect-to?to=" + rest::detail::percent_encode(target); };
  ::setenv("SLUICE_REST_TEST_ENV_KEY", "env-secret-0", 1);
  rest::options o{.url = via(other + "/echo"),
                  .headers = {{"X-Api-Key", "k-secret-1"}, {"X-Custom-Auth", "c-secret-3"},
                              {"Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"}, {"X-Trace", "t-1"}},
                  .cookies = {{"session", "s-secret-4"}},
                  .auth = {.type = rest::auth_type::bearer, .token = "tok-secret-2"}};
  o.secret_names = {"x-custom-auth"};
  const char* credentials[] = {"authorization", "cookie", "x-api-key", "x-custom-auth", "proxy-authorization"};
  {
    const auto e = echo(o);
    for (const char* h : credentials) {
      INFO(h);
      REQUIRE(header(e, h) == "<absent>");
    }
    REQUIRE(header(e, "x-trace") == "t-1");  // an ordinary header still goes
  }
  {  // the same origin keeps them (the control)
    o.url = via(fs + "/echo");
    const auto e = echo(o);
    REQUIRE(header(e, "authorization") == "Bearer tok-secret-2");
    REQUIRE(header(e, "cookie") == "session=s-secret-4");
    REQUIRE(header(e, "x-api-key") == "k-secret-1");
    REQUIRE(header(e, "x-custom-auth") == "c-secret-3");
  }
  {  // away and back: the chain left the origin, the second server chose where it leads
    o.url = via(other + "/redirect-to?to=" + rest::detail::percent_encode(fs + "/echo"));
    const auto e = echo(o);
    for (const char* h : credentials) {
      INFO(h);
      REQUIRE(header(e, h) == "<absent>");
    }
  }
  {  // another host name on the same port, an environment header, OAuth: none of them either
    const auto port = fs.substr(fs.rfind(':'));
    o.url = via("http://localhost" + port + "/echo");
    o.auth = {.type = rest::auth_type::env_header, .header = "X-Env-Token", .env = "SLUICE_REST_TEST_ENV_KEY"};
    REQUIRE(header(echo(o), "x-env-token") == "<absent>");
    o.url = via(other + "/echo");
    o.auth = {.type = rest::auth_type::oauth1, .token = "t", .consumer_key = "ck", .consumer_secret = "cs-secret"};
    REQUIRE(header(echo(o), "authorization") == "<absent>");
    o.url = fs + "/echo";
    REQUIRE_THAT(header(echo(o), "authorization"), Catch::StartsWith("OAuth "));
  }
}

TEST_CASE("rest secrets in the URL's query are redacted in errors, logs, descriptions and options", "[rest][auth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  const std::string query = "&api_key=AK-secret-1&access_token=AT%2Dsecret%2D2&pass_phrase=PP-secret-3&Signature=SG-secret-5&q=visible";
  const std::vector<std::string> secrets = {"AK-secret-1", "AT%2Dsecret%2D2", "AT-secret-2", "PP-secret-3", "SG-secret-5"};
  auto check = [&](const std::string& text) {
    INFO(text);
    for (const auto& s : secrets) REQUIRE_THAT(text, !Catch::Contains(s));
    REQUIRE_THAT(text, Catch::Contains("api_key=***") && Catch::Contains("access_token=***") &&
                           Catch::Contains("pass_phrase=***") && Catch::Contains("q=visible"));
  };
  rest::options o{.url = fs + "/unauthorized?run=" + unique_key("q") + query};
  o.secret_names = {"pass_phrase"};  // not a name the library knows: configured
  o.retry.max_attempts = 1;
  json_incremental src(o);
  auto d = drive(src);
  check(error_of([&] { d.step(); }));
  check(src.description());
  check(boost::json::serialize(rest::options_to_json(o)));
  // A retried request's log line.
  rest::options retried{.url = fs + "/500?run=" + unique_key("q") + "&fail=1" + query};
  retried.secret_names = {"pass_phrase"};
  retried.retry.initial_backoff = 5ms;
  json_incremental logged(retried);
  std::vector<std::string> log;
  logged.on_log([&](const std::string& l) { log.push_back(l); });
  drive(logged).step();
  REQUIRE(log.size() == 1);
  check(log[0]);
}

TEST_CASE("rest OAuth 1.0a base strings and signatures match vectors computed independently", "[rest][oauth]") {
  const auto vectors = read_json_file(server("SLUICE_REST_OAUTH_VECTORS"));
  REQUIRE(vectors.as_array().size() >= 4);
  for (const auto& jv : vectors.as_array()) {
    const auto& v = jv.as_object();
    const std::string method(v.at("method").as_string()), url(v.at("url").as_string()), body(v.at("body").as_string());
    INFO(method << " " << url);
    const rest::oauth1::credentials c{std::string(v.at("consumer_key").as_string()),
                                      std::string(v.at("consumer_secret").as_string()),
                                      std::string(v.at("token").as_string()),
                                      std::string(v.at("token_secret").as_string()), ""};
    const auto params = rest::oauth1::protocol_parameters(c, std::string(v.at("nonce").as_string()),
                                                          v.at("timestamp").as_int64());
    const auto base = rest::oauth1::base_string(method, url, body, params);
    REQUIRE(base == v.at("base_string").as_string());
    REQUIRE(rest::oauth1::signature(c, base) == v.at("signature").as_string());
  }
  // The header carries every protocol parameter, percent-encoded and quoted.
  const rest::oauth1::credentials c{"key with space", "cs", "tok", "ts", "Photos"};
  const auto h = rest::oauth1::authorization_header(c, "GET", "http://example.com/", "", "n1", 42);
  REQUIRE_THAT(h, Catch::StartsWith("OAuth realm=\"Photos\", oauth_consumer_key=\"key%20with%20space\", "
                                    "oauth_nonce=\"n1\", oauth_signature=\""));
  REQUIRE_THAT(h, Catch::EndsWith("oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"42\", "
                                  "oauth_token=\"tok\", oauth_version=\"1.0\""));
}

TEST_CASE("rest OAuth 1.0a requests are accepted by a server verifying the signature", "[rest][oauth]") {
  const auto fs = server("SLUICE_REST_FAULT_SERVER");
  rest::auth_options good{.type = rest::auth_type::oauth1, .token = "nnch734d00sl2jdk",
                          .consumer_key = "dpf43f3p2l4k3l03", .consumer_secret = "kd94hf93k423kf44",
                          .token_secret = "pfkkdhi9sl3r4s00"};
  {  // GET with query parameters that need encoding; two polls, two nonces
    auto d = drive(json_incremental({.url = fs + "/oauth/items?q=a%20b%2Bc&since={last_id}&x=%E2%98%83", .auth = good}));
    d.drain();
    REQUIRE(d.rows.size() == 3);
  }
  {  // POST with a form body: its parameters are signed too
    auto d = drive(json_incremental({.url = fs + "/oauth/items?mode=form",
                                     .method = rest::http_method::post,
                                     .body = "after={last_id}&name=Jos%C3%A9+Q&empty=",
                                     .content_type = "application/x-www-form-urlencoded",
                                     .auth = good}));
    d.step();
    REQUIRE(d.rows.size() == 3);
  }
  {  // a cursor in a form body is form-encoded (one parameter, signed as sent); a literal
     // non-ASCII character in the URL is sent percent-encoded (UTF-8)
    rest::options o{.url = fs + "/oauth/echo?q=\u2603&c={cursor}",
                    .method = rest::http_method::post,
                    .body = "cursor={cursor}&limit=2",
                    .content_type = "application/x-www-form-urlencoded",
                    .auth = good,
                    .records_path = "/data",
                    .initial_offset = "a b&c=d+\u00e9",
                    .cursor_path = "/next"};
    auto d = drive(rest::json_source<rest::cursor_strategy>(o));
    d.step();
    REQUIRE(d.rows.size() == 1);
    const auto& r = d.rows[0];
    REQUIRE(r.at("form") == boost::json::parse(R"([["cursor","a b&c=d+\u00e9"],["limit","2"]])"));
    REQUIRE(r.at("query") == boost::json::parse(R"([["q","\u2603"],["c","a b&c=d+\u00e9"]])"));
    REQUIRE_THAT(std::string(r.at("target").as_string()), Catch::StartsWith("/oauth/echo?q=%E2%98%83&c=a%20b%26c%3Dd%2B%C3%A9"));
  }
  {  // a wrong secret is refused by the server; the secret is not in the message
    auto bad = good;
    bad.consumer_secret = "wrong-consumer-secret";
    auto d = drive(json_incremental({.url = fs + "/oauth/items", .auth = bad}));
    const auto msg = error_of([&] { d.step(); });
    REQUIRE_THAT(msg, Catch::Contains("HTTP 401") && Catch::Contains("invalid signature") &&
                          !Catch::Contains("wrong-consumer-secret"));
  }
}

// ---------------------------------------------------------------- TLS
TEST_CASE("rest HTTPS verifies the certificate: refused without the CA, accepted with it", "[rest][tls]") {
  const auto tls = server("SLUICE_REST_TLS_SERVER");
  const auto ca = server("SLUICE_REST_TLS_CA");
  const auto other = server("SLUICE_REST_TLS_OTHER_CA");
  auto opts = [&](rest::tls_options t) {
    rest::options o{.url = tls + "/records?n=3", .tls = std::move(t)};
    o.retry.max_attempts = 1;
    return o;
  };
  {  // the system store does not know the test CA
    auto d = drive(json_incremental(opts({})));
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("certificate verification failed"));
  }
  {  // names the certificate that failed
    auto d = drive(json_incremental(opts({.ca_file = other})));
    REQUIRE_THAT(error_of([&] { d.step(); }), Catch::Contains("certificate verification failed: unable to get local "
                                                                "issuer certificate (certificate /CN=localhost)"));
  }
  {
    json_incremental src(opts({.ca_file = ca}));
    auto d = drive(src);
    d.step();
    d.step();
    REQUIRE(d.rows.size() == 3);
    REQUIRE(src.metrics().connections_opened == 1);  // TLS kept alive too
  }
  {  // SNI and verified name: the certificate names localhost, not wrong.example
    auto d = drive(json_incremental(opts({.ca_file = ca, .server_name = "localhost"})));
    d.step();
    REQUIRE(d.rows.size() == 3);
    auto bad = drive(json_incremental(opts({.ca_file = ca, .server_name = "wrong.example"})));
    // Names the host, the name that did not match and the names the certificate holds.
    REQUIRE_THAT(error_of([&] { bad.step(); }),
                 Catch::Contains("TLS handshake with 127.0.0.1:") &&
                     Catch::Contains("certificate verification failed: the certificate does not match the host name "
                                     "'wrong.example' (tls.server_name): certificate names are [IP:127.0.0.1, "
                                     "DNS:localhost]"));
  }
  {  // verification off (explicitly) accepts any certificate
    auto d = drive(json_incremental(opts({.verify = false})));
    d.step();
    REQUIRE(d.rows.size() == 3);
  }
  REQUIRE_THAT(error_of([&] { drive(json_incremental(opts({.ca_file = "no/such/ca.pem"}))).step(); }),
               Catch::Contains("tls.ca_file 'no/such/ca.pem'"));
}

// ---------------------------------------------------------------- configuration
TEST_CASE("rest options load from a JSON file, with errors naming the file and the field", "[rest][config]") {
  const auto dir = scratch("rest_config");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const auto good = write("good.json", R"({
    "url": "https://api.example.com/v1/events?since={timestamp}",
    "method": "post", "body": "{}",
    "headers": {"Accept-Language": "en"}, "cookies": {"sid": "abc"},
    "auth": {"type": "oauth1", "consumer_key": "ck", "consumer_secret": "cs-secret", "token": "t", "token_secret": "ts-secret"},
    "tls": {"ca_file": "ca.pem", "server_name": "api.example.com"},
    "connect_timeout": "2s", "read_timeout": 1500, "interval": "1m",
    "retry": {"max_attempts": 7, "initial_backoff": "250ms", "jitter": 0.5},
    "records_path": "/data", "batch_size": 250, "strategy": "timestamp",
    "timestamp_path": "/latest", "initial_offset": "1700000000"
  })");
  const auto o = rest::load_options(good);
  REQUIRE(o.url == "https://api.example.com/v1/events?since={timestamp}");
  REQUIRE(o.method == rest::http_method::post);
  REQUIRE(o.headers.at("Accept-Language") == "en");
  REQUIRE(o.auth.type == rest::auth_type::oauth1);
  REQUIRE(o.auth.token_secret == "ts-secret");
  REQUIRE(o.tls.verify);
  REQUIRE(o.tls.server_name == "api.example.com");
  REQUIRE(o.connect_timeout == 2000ms);
  REQUIRE(o.read_timeout == 1500ms);
  REQUIRE(o.interval == 60000ms);
  REQUIRE(o.retry.max_attempts == 7);
  REQUIRE(o.retry.initial_backoff == 250ms);
  REQUIRE(o.retry.max_backoff == 30000ms);  // default kept
  REQUIRE(o.batch_size == 250);
  REQUIRE(o.strategy == rest::strategy_kind::timestamp);

  // Round trip through the generated JSON; secrets are redacted unless asked for.
  REQUIRE(boost::json::serialize(rest::options_to_json(o)).find("ts-secret") == std::string::npos);
  const auto again = rest::options_from_json(rest::options_to_json(o, true));
  REQUIRE(boost::json::serialize(rest::options_to_json(again, true)) ==
          boost::json::serialize(rest::options_to_json(o, true)));

  REQUIRE_THAT(error_of([&] { rest::load_options(write("typo.json", R"({"url": "http://x", "retry": {"max_atempts": 3}})")); }),
               Catch::Contains("typo.json: retry.max_atempts: unknown option"));
  REQUIRE_THAT(error_of([&] { rest::load_options(write("type.json", R"({"batch_size": "ten"})")); }),
               Catch::Contains("type.json: batch_size: expected an integer, got a string"));
  REQUIRE_THAT(error_of([&] { rest::load_options(write("enum.json", R"({"strategy": "newest"})")); }),
               Catch::Contains("strategy: 'newest' is not one of unspecified, timestamp, cursor, incremental, max_field"));
  REQUIRE_THAT(error_of([&] { rest::load_options(write("dur.json", R"({"interval": "5 fortnights"})")); }),
               Catch::Contains("interval: unknown duration unit"));
  REQUIRE_THAT(error_of([&] { rest::load_options(write("bad.json", "{\n  \"url\": \"http://x\",\n  oops\n}")); }),
               Catch::Contains("bad.json:3:3: invalid JSON"));
  REQUIRE_THAT(error_of([&] { rest::load_options((dir / "missing.json").string()); }),
               Catch::Contains("missing.json: cannot open"));
}

TEST_CASE("rest options are checked when the source is built", "[rest][config]") {
  REQUIRE_THAT(error_of([] { json_incremental s({.url = "http://h/x?a={nope}"}); }),
               Catch::Contains("url: unknown placeholder {nope}") && Catch::Contains("{last_id}"));
  REQUIRE_THAT(error_of([] { json_incremental s({.url = "http://h/x", .batch_size = 0}); }),
               Catch::Contains("batch_size: must be positive"));
  REQUIRE_THAT(error_of([] { json_incremental s({.url = "http://h/x", .strategy = rest::strategy_kind::cursor}); }),
               Catch::Contains("asks for 'cursor'") && Catch::Contains("incremental_strategy"));
  REQUIRE_THAT(error_of([] { json_incremental s({.url = "http://h/x", .initial_offset = "abc"}); }),
               Catch::Contains("initial_offset: 'abc' is not an integer id"));
  REQUIRE_THAT(error_of([] { rest::json_source<rest::cursor_strategy> s({.url = "http://h/x"}); }),
               Catch::Contains("cursor_path"));
  REQUIRE_THAT(error_of([] { rest::json_source<rest::timestamp_strategy> s({.url = "http://h/x"}); }),
               Catch::Contains("timestamp_path"));
  REQUIRE_THAT(error_of([] { rest::json_source<rest::max_field_strategy> s({.url = "http://h/x"}); }),
               Catch::Contains("offset_field"));
  REQUIRE_THAT(error_of([] { json_incremental s({.url = "ftp://h/x"}); }), Catch::Contains("unsupported URL scheme 'ftp'"));
}

TEST_CASE("rest Retry-After parses seconds and the three HTTP date forms", "[rest][config]") {
  using namespace std::chrono;
  const auto now = sys_days{2024y / 1 / 15} + 10h;  // Mon, 15 Jan 2024 10:00:00 GMT
  REQUIRE(rest::detail::parse_retry_after("120", now) == milliseconds(120000));
  REQUIRE(rest::detail::parse_retry_after("Mon, 15 Jan 2024 10:00:30 GMT", now) == milliseconds(30000));
  REQUIRE(rest::detail::parse_retry_after("Monday, 15-Jan-24 10:01:00 GMT", now) == milliseconds(60000));
  REQUIRE(rest::detail::parse_retry_after("Mon Jan 15 10:00:05 2024", now) == milliseconds(5000));
  REQUIRE(rest::detail::parse_retry_after("Mon, 15 Jan 2024 09:00:00 GMT", now) == milliseconds(0));
  REQUIRE_FALSE(rest::detail::parse_retry_after("soon", now));
}
