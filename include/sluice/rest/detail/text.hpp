// Text helpers of sluice::rest: URLs, RFC 3986 percent-encoding, base64, HTTP dates, and the
// redactor that keeps secrets out of every message.
#pragma once
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../options.hpp"

namespace sluice::rest {

// Every failure of the REST source: the message names the URL (secrets redacted), the HTTP
// status when there is one, and the first bytes of the body.
class error : public std::runtime_error {
 public:
  error(const std::string& what, int status = 0) : std::runtime_error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

namespace detail {

// RFC 3986 unreserved characters stay; everything else is %XX (upper case), as OAuth 1.0a
// (RFC 5849 3.6) requires and as is safe in any query string.
inline std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Decodes %XX and, in form bodies and queries, '+' as a space.
inline std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

inline std::string base64_encode(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t n = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += table[n & 63];
  }
  if (i + 1 == in.size()) {
    const std::uint32_t n = std::uint8_t(in[i]) << 16;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const std::uint32_t n = (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A URL's text as written may hold characters a request line cannot (`?q=☃`, a space): those
// bytes become %XX (UTF-8 bytes each), as browsers and curl send them. Existing %XX and every
// other character are kept, so an encoded URL is unchanged.
inline std::string encode_url_text(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' ||
        c == '|' || c == '}') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------- URLs
struct url_parts {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::string port;    // always set: the scheme's default when absent
  std::string target;  // path + query, at least "/"
  std::string userinfo;

  bool tls() const { return scheme == "https"; }
  bool default_port() const { return (tls() && port == "443") || (!tls() && port == "80"); }
  // scheme://host[:port] in lower case, without userinfo (OAuth's base string URI prefix).
  std::string origin() const { return scheme + "://" + lower(host) + (default_port() ? "" : ":" + port); }
  std::string str() const { return origin() + target; }
  std::string path() const { return target.substr(0, target.find('?')); }
  std::string query() const {
    const auto q = target.find('?');
    return q == std::string::npos ? std::string() : target.substr(q + 1);
  }
};

inline url_parts parse_url(std::string_view url) {
  url_parts u;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    throw error("'" + std::string(url.substr(0, 200)) + "' is not an absolute http:// or https:// URL");
  u.scheme = lower(url.substr(0, scheme_end));
  if (u.scheme != "http" && u.scheme != "https")
    throw error("unsupported URL scheme '" + u.scheme + "' (http or https)");
  std::string_view rest = url.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (const auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    u.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw error("malformed IPv6 host in URL");
    u.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() == ':') u.port = std::string(authority.substr(1));
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else {
    u.host = std::string(authority);
  }
  if (u.host.empty()) throw error("URL without a host");
  if (u.port.empty()) u.port = u.tls() ? "443" : "80";
  u.target = target.empty() ? "/" : encode_url_text(target);
  if (u.target.front() == '?') u.target.insert(u.target.begin(), '/');
  return u;
}

// Resolves a Location header against the URL it came from (absolute, //host, /path, relative).
inline std::string resolve_url(const url_parts& base, std::string_view location) {
  if (location.find("://") != std::string_view::npos) return std::string(location);
  if (location.starts_with("//")) return base.scheme + ":" + std::string(location);
  if (location.starts_with("/")) return base.origin() + std::string(location);
  std::string dir = base.path();
  dir = dir.substr(0, dir.rfind('/') + 1);
  return base.origin() + dir + std::string(location);
}

// ---------------------------------------------------------------- Retry-After
// Seconds ("120") or an HTTP date (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime).
inline std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v,
                                                                  std::chrono::system_clock::time_point now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (v.size() > 9) return std::chrono::milliseconds(999'999'999'000LL);
    return std::chrono::milliseconds(std::stoll(std::string(v)) * 1000);
  }
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char mon[4] = {};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  const std::string s(v);
  const auto comma = s.find(',');
  bool ok = false;
  if (comma != std::string::npos) {
    const std::string after = s.substr(comma + 1);
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"; RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if (std::sscanf(after.c_str(), " %d %3s %d %d:%d:%d GMT", &day, mon, &year, &hh, &mm, &ss) == 6) ok = true;
    else if (std::sscanf(after.c_str(), " %d-%3s-%d %d:%d:%d GMT", &day, mon, &year, &hh, &mm, &ss) == 6) {
      year += year < 70 ? 2000 : (year < 100 ? 1900 : 0);
      ok = true;
    }
  } else {
    char wd[4] = {};  // asctime: "Sun Nov  6 08:49:37 1994"
    if (std::sscanf(s.c_str(), "%3s %3s %d %d:%d:%d %d", wd, mon, &day, &hh, &mm, &ss, &year) == 7) ok = true;
  }
  if (!ok) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (std::string_view(mon) == months[i]) month = i;
  if (month < 0) return std::nullopt;
  using namespace std::chrono;
  const sys_days date = year_month_day{std::chrono::year{year}, std::chrono::month{unsigned(month + 1)},
                                      std::chrono::day{unsigned(day)}};
  const auto when = date + hours{hh} + minutes{mm} + seconds{ss};
  const auto wait = duration_cast<milliseconds>(when - now);
  return wait.count() < 0 ? milliseconds{0} : wait;
}

// ---------------------------------------------------------------- redaction
// Names of headers and query parameters whose values are credentials: Authorization,
// Proxy-Authorization, Cookie, and names holding key, token, secret, password, signature,
// credential or session (X-Api-Key, api_key, access_token, client_secret, X-Amz-Signature...),
// plus the names configured in options::secret_names. Case-insensitive.
inline bool sensitive_name(std::string_view name, const std::vector<std::string>& configured = {}) {
  const auto n = lower(name);
  for (const char* part : {"authorization", "cookie", "key", "token", "secret", "password", "passwd", "signature",
                           "credential", "session"})
    if (n.find(part) != std::string::npos) return true;
  if (n == "auth" || n == "sig" || n == "pwd") return true;
  return std::any_of(configured.begin(), configured.end(), [&](const std::string& c) { return lower(c) == n; });
}

// Replaces each secret (and its percent-encoded and base64 forms) by "***", the password of
// any user:password@ in a URL, and the value of any `name=value` whose name is sensitive
// (`?api_key=...`, `&token=...`, also in a form body). Every message leaving the source passes
// through it.
class redactor {
 public:
  redactor() = default;
  explicit redactor(std::vector<std::string> names) : names_(std::move(names)) {}
  void add(std::string secret) {
    if (secret.size() < 3) return;  // too short to be told apart from ordinary text
    secrets_.push_back(percent_encode(secret));
    secrets_.push_back(secret);
  }
  void add_raw(std::string text) {
    if (text.size() >= 3) secrets_.push_back(std::move(text));
  }
  std::string operator()(std::string text) const {
    for (const auto& s : secrets_) {
      for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
        text.replace(pos, s.size(), "***");
    }
    // scheme://user:password@host
    for (auto pos = text.find("://"); pos != std::string::npos; pos = text.find("://", pos + 3)) {
      const auto end = text.find_first_of("/?# \"'", pos + 3);
      const auto at = text.find('@', pos + 3);
      if (at == std::string::npos || (end != std::string::npos && at > end)) continue;
      const auto colon = text.find(':', pos + 3);
      if (colon != std::string::npos && colon < at) text.replace(colon + 1, at - colon - 1, "***");
    }
    return redact_parameters(std::move(text));
  }

  bool sensitive(std::string_view name) const { return sensitive_name(name, names_); }

 private:
  // name=value after `?`, `&`, `;`, a quote, a space or the start: a sensitive name's value
  // (up to `&`, `#`, a quote or a space; a trailing `:` `.` `)` `]` is the message's) -> ***.
  std::string redact_parameters(std::string text) const {
    auto name_char = [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '%' || c == '[' || c == ']'; };
    for (std::size_t eq = text.find('='); eq != std::string::npos; eq = text.find('=', eq + 1)) {
      std::size_t begin = eq;
      while (begin > 0 && name_char(static_cast<unsigned char>(text[begin - 1]))) --begin;
      if (begin == eq) continue;
      if (begin > 0 && std::string_view("?&;\"' \t\n").find(text[begin - 1]) == std::string_view::npos) continue;
      if (!sensitive(percent_decode(std::string_view(text).substr(begin, eq - begin), true))) continue;
      std::size_t end = text.find_first_of("&#\"' \t\r\n<>,;", eq + 1);
      if (end == std::string::npos) end = text.size();
      while (end > eq + 1 && std::string_view(":.)]").find(text[end - 1]) != std::string_view::npos) --end;
      if (end == eq + 1 || std::string_view(text).substr(eq + 1, end - eq - 1) == "***") continue;
      text.replace(eq + 1, end - eq - 1, "***");
    }
    return text;
  }

  std::vector<std::string> secrets_;
  std::vector<std::string> names_;
};

// The redactor of a source's options: every credential it was configured with (and the
// environment header's value, read by the caller), sensitive header values, cookie values, and
// sensitive query parameters written in the URL.
inline redactor make_redactor(const options& o, const std::string& env_value = {}) {
  redactor r(o.secret_names);
  const auto& a = o.auth;
  for (const auto* secret : {&a.password, &a.token, &a.consumer_secret, &a.token_secret, &env_value}) r.add(*secret);
  if (a.type == auth_type::basic) r.add_raw(base64_encode(a.username + ":" + a.password));
  for (const auto& [k, v] : o.headers)
    if (r.sensitive(k)) r.add(v);
  for (const auto& [k, v] : o.cookies) r.add(v);
  const auto q = o.url.find('?');
  for (std::size_t pos = q; pos != std::string::npos && pos < o.url.size();) {
    const auto end = std::min(o.url.find('&', pos + 1), o.url.find('#', pos + 1));
    const std::string_view param = std::string_view(o.url).substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    if (const auto eq = param.find('='); eq != std::string_view::npos && r.sensitive(percent_decode(param.substr(0, eq), true))) {
      const std::string_view value = param.substr(eq + 1);
      if (value.find('{') == std::string_view::npos) {  // not a placeholder
        r.add_raw(std::string(value));
        r.add(percent_decode(value, true));
      }
    }
    if (end == std::string::npos || o.url[end] == '#') break;
    pos = end;
  }
  return r;
}

// The first bytes of a body, for error messages: control characters shown as '.'.
inline std::string body_excerpt(std::string_view body, std::size_t n = 200) {
  std::string out(body.substr(0, n));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = '.';
  if (body.size() > n) out += "...";
  return out;
}

}  // namespace detail
}  // namespace sluice::rest
