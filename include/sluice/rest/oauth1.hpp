// OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849 section 3): the signature base string
// (3.4.1), parameter normalisation of the query, a form-encoded body and the oauth_*
// parameters (3.4.1.3), the strict percent-encoding of 3.6, and the Authorization header (3.5.1).
#pragma once
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/text.hpp"

namespace sluice::rest::oauth1 {

struct credentials {
  std::string consumer_key;
  std::string consumer_secret;
  std::string token;         // may be empty (two-legged requests)
  std::string token_secret;  // may be empty
  std::string realm;         // optional, not signed
};

using parameters = std::vector<std::pair<std::string, std::string>>;

// name=value pairs of a query string or an application/x-www-form-urlencoded body, decoded.
inline parameters parse_form(std::string_view s) {
  parameters out;
  while (!s.empty()) {
    const auto amp = s.find('&');
    const std::string_view pair = s.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      out.emplace_back(detail::percent_decode(pair.substr(0, eq), true),
                       eq == std::string_view::npos ? std::string() : detail::percent_decode(pair.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    s.remove_prefix(amp + 1);
  }
  return out;
}

// 3.4.1.3.2: encode names and values, sort by name then value, join with '=' and '&'.
inline std::string normalized_parameters(parameters params) {
  for (auto& [k, v] : params) {
    k = detail::percent_encode(k);
    v = detail::percent_encode(v);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

// 3.4.1: METHOD&encode(base string URI)&encode(normalized parameters). `form_body` is the
// request body when it is application/x-www-form-urlencoded (its parameters are signed), else
// empty. `oauth_params` are the oauth_* protocol parameters without oauth_signature and realm.
inline std::string base_string(std::string_view method, std::string_view url, std::string_view form_body,
                               const parameters& oauth_params) {
  const auto u = detail::parse_url(url);
  parameters all = parse_form(u.query());
  for (auto& p : parse_form(form_body)) all.push_back(std::move(p));
  for (const auto& p : oauth_params) all.push_back(p);
  std::string m(method);
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return m + "&" + detail::percent_encode(u.origin() + u.path()) + "&" +
         detail::percent_encode(normalized_parameters(std::move(all)));
}

inline std::string hmac_sha1_base64(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), digest, &len))
    throw error("OAuth 1.0a: HMAC-SHA1 failed in OpenSSL");
  return detail::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

// 3.4.2: key = encode(consumer secret) & encode(token secret).
inline std::string signature(const credentials& c, std::string_view base) {
  return hmac_sha1_base64(detail::percent_encode(c.consumer_secret) + "&" + detail::percent_encode(c.token_secret),
                          base);
}

inline parameters protocol_parameters(const credentials& c, std::string_view nonce, std::int64_t timestamp) {
  parameters p{{"oauth_consumer_key", c.consumer_key},
               {"oauth_nonce", std::string(nonce)},
               {"oauth_signature_method", "HMAC-SHA1"},
               {"oauth_timestamp", std::to_string(timestamp)},
               {"oauth_version", "1.0"}};
  if (!c.token.empty()) p.emplace_back("oauth_token", c.token);
  return p;
}

// The Authorization header value for one request, with the given nonce and timestamp.
inline std::string authorization_header(const credentials& c, std::string_view method, std::string_view url,
                                        std::string_view form_body, std::string_view nonce, std::int64_t timestamp) {
  auto params = protocol_parameters(c, nonce, timestamp);
  const auto sig = signature(c, base_string(method, url, form_body, params));
  params.emplace_back("oauth_signature", sig);
  std::sort(params.begin(), params.end());
  std::string out = "OAuth ";
  if (!c.realm.empty()) out += "realm=\"" + c.realm + "\", ";
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i) out += ", ";
    out += detail::percent_encode(params[i].first) + "=\"" + detail::percent_encode(params[i].second) + "\"";
  }
  return out;
}

// 32 hex digits from OpenSSL's CSPRNG: unique per request (3.3).
inline std::string make_nonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw error("OAuth 1.0a: RAND_bytes failed in OpenSSL");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace sluice::rest::oauth1
