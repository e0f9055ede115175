// sluice::rest::source<T, Strategy>: any polling REST API as a streaming source, by
// configuration (seed 000; SPEC section 6). See docs/rest.md.
//
// How it meets the source interface (graph/source.hpp):
//   latest_offset  polls the API from `start` (following pages until caught up or the batch is
//                  full), keeps every record with the offset reached after it, and ends the batch
//                  after at most batch_size records; records beyond wait in memory for the next
//                  batch without a new request. An error leaves the offset where it was.
//   read           delivers the records planned for (start, end]; a batch planned before a
//                  restart (logged in the checkpoint, never committed) is requested again from
//                  `start` and cut at exactly `end`, so it holds the same records.
//   commit         forgets the planned records up to `end`.
// Records at or before the start offset (an API whose boundary is inclusive) are dropped by the
// strategy, so no record is delivered twice.
#pragma once
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../codec/json.hpp"
#include "../graph/source.hpp"
#include "detail/http_client.hpp"
#include "detail/text.hpp"
#include "oauth1.hpp"
#include "options.hpp"
#include "strategies.hpp"

namespace sluice::rest {

// Counters of one source (a shared handle: copies see the same numbers).
struct source_metrics {
  std::int64_t polls = 0;
  std::int64_t requests = 0;  // HTTP exchanges, retries and redirects included
  std::int64_t retries = 0;
  std::int64_t records = 0;   // records planned into batches
  std::int64_t replayed_batches = 0;
  std::int64_t connections_opened = 0;
};

namespace detail {

// How a placeholder's value is written where it goes: percent-encoded in a URL or a form body
// (RFC 3986's unreserved characters kept: `a b&c=d` stays one parameter), JSON-escaped in a
// JSON body (inside a string), as it is in any other body.
enum class fill_mode { url, form, json, raw };

inline fill_mode body_fill_mode(const std::string& content_type) {
  const auto t = lower(content_type);
  if (t.starts_with("application/x-www-form-urlencoded")) return fill_mode::form;
  if (t.find("json") != std::string::npos) return fill_mode::json;
  return fill_mode::raw;
}

// Fills {name} placeholders, name = [A-Za-z_][A-Za-z0-9_]*; any other brace is literal (JSON
// bodies keep theirs), and `{{` is a literal brace before a name. An unknown name is an error
// naming the option and the names available.
inline std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& values,
                                 const char* option, fill_mode mode) {
  auto is_name = [](std::string_view n) {
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
  };
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const auto close = c == '{' ? tmpl.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos || !is_name(tmpl.substr(i + 1, close - i - 1))) {
      out += c;
      continue;
    }
    const std::string name(tmpl.substr(i + 1, close - i - 1));
    const auto found = values.find(name);
    if (found == values.end()) {
      std::string known;
      for (const auto& [k, v] : values) known += (known.empty() ? "" : ", ") + ("{" + k + "}");
      throw error(std::string(option) + ": unknown placeholder {" + name + "} (this strategy offers " + known + ")");
    }
    if (mode == fill_mode::url || mode == fill_mode::form) {
      out += percent_encode(found->second);
    } else if (mode == fill_mode::json) {  // inside a JSON string of a body template
      const std::string quoted = boost::json::serialize(boost::json::value(found->second));
      out += quoted.substr(1, quoted.size() - 2);
    } else {
      out += found->second;
    }
    i = close;
  }
  return out;
}

// Link: <https://api.example.com/items?page=2>; rel="next", <...>; rel="last"
inline std::optional<std::string> link_next(std::string_view header) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    const auto open = header.find('<', pos);
    if (open == std::string_view::npos) break;
    const auto close = header.find('>', open);
    if (close == std::string_view::npos) break;
    const auto next_link = header.find('<', close);
    const std::string_view params = header.substr(close + 1, next_link == std::string_view::npos ? std::string_view::npos : next_link - close - 1);
    const std::string p = lower(params);
    if (p.find("rel=\"next\"") != std::string::npos || p.find("rel=next") != std::string::npos)
      return std::string(header.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  return std::nullopt;
}

}  // namespace detail

template <class T, class Strategy>
class source {
  static_assert(offset_strategy<Strategy>,
                "sluice::rest::source<T, Strategy>: Strategy must be rest::incremental_strategy, "
                "rest::max_field_strategy, rest::timestamp_strategy or rest::cursor_strategy");
  static_assert(std::is_same_v<T, boost::json::object> || record<T>,
                "sluice::rest::source<T, Strategy>: T must be a described struct (BOOST_DESCRIBE_STRUCT) or "
                "boost::json::object (untyped rows; see rest::json_source)");

 public:
  using row_type = T;
  using offset_type = typename Strategy::offset_type;
  struct partition_type {
    offset_type start;
    offset_type end;
  };

  explicit source(options o) : s_(std::make_shared<state>(std::move(o))) {}

  // ------------------------------------------------------------ the source interface
  offset_type initial_offset() { return s_->initial; }

  offset_type latest_offset(const offset_type& start, read_limit limit) {
    auto& s = *s_;
    if (!s.buffer.empty() && !offset_equal(s.buffer_start, start)) s.buffer.clear();
    if (s.buffer.empty()) {
      const auto now = std::chrono::steady_clock::now();
      // The rate limit; available-now reads until a poll finds nothing new, without waiting.
      if (!limit.all && !s.available_now && s.polled_once && now - s.last_poll < s.opts.interval) return start;
      s.last_poll = now;
      s.polled_once = true;
      ++s.metrics.polls;
      auto entries = poll(start, limit.all ? 0 : static_cast<std::size_t>(s.opts.batch_size), nullptr);
      s.buffer.assign(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()));
      s.buffer_start = start;
      if (s.buffer.empty()) return start;
    }
    const std::size_t n = limit.all ? s.buffer.size() : std::min<std::size_t>(s.buffer.size(), s.opts.batch_size);
    planned_batch batch{start, s.buffer[n - 1].after, {}};
    batch.rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) batch.rows.push_back(std::move(s.buffer[i].row));
    s.buffer.erase(s.buffer.begin(), s.buffer.begin() + static_cast<std::ptrdiff_t>(n));
    s.buffer_start = batch.end;
    s.metrics.records += static_cast<std::int64_t>(n);
    const offset_type end = batch.end;
    s.planned.push_back(std::move(batch));
    return end;
  }

  std::vector<partition_type> partitions(const offset_type& start, const offset_type& end) {
    if (offset_equal(start, end)) return {};
    return {partition_type{start, end}};
  }

  template <class Emit>
  void read(const partition_type& p, Emit&& emit) {
    auto& s = *s_;
    for (const auto& b : s.planned) {
      if (offset_equal(b.start, p.start) && offset_equal(b.end, p.end)) {
        for (const auto& row : b.rows) emit(row);
        return;
      }
    }
    // Planned before a restart: ask again from `start` and cut at exactly `end`.
    ++s.metrics.replayed_batches;
    auto entries = poll(p.start, 0, &p.end);
    std::size_t n = 0;
    while (n < entries.size() && !offset_equal(entries[n].after, p.end)) ++n;
    if (n == entries.size())
      throw error(s.redact("cannot read the batch ending at offset " + to_json_string(p.end) + " again: " +
                           method_name() + " " + s.opts.url + " no longer returns the records up to it"));
    for (std::size_t i = 0; i <= n; ++i) emit(entries[i].row);
  }

  void commit(const offset_type& end) {
    auto& planned = s_->planned;
    std::erase_if(planned, [&](const planned_batch& b) { return !offset_less(end, b.end); });
  }

  std::string description() const { return "RestSource[" + s_->redact(s_->opts.url) + "]"; }

  void stop() {
    {
      std::lock_guard lock(s_->wait_mutex);
      s_->stopping = true;
    }
    s_->wake.notify_all();
  }

  // The query's stop(): a retry wait or a request under way gives up at once, throwing
  // sluice::source_interrupted (the engine then ends the query as stopped). Set per run.
  void set_stop_token(std::stop_token token) {
    s_->stop_token = std::move(token);
    s_->stopping = false;
  }

  // Trigger.AvailableNow: batches of at most batch_size records until a poll finds nothing
  // new, polling without the interval's wait.
  void prepare_for_available_now() { s_->available_now = true; }

  // ------------------------------------------------------------ extras
  source_metrics metrics() const {
    auto m = s_->metrics;
    m.connections_opened = s_->client.connections_opened();
    return m;
  }
  const options& config() const { return s_->opts; }
  // Receives one line per retry and redirect, secrets redacted.
  void on_log(std::function<void(const std::string&)> log) { s_->log = std::move(log); }
  // Applies the redaction of this source's secrets to any text.
  std::string redact(std::string text) const { return s_->redact(std::move(text)); }

 private:
  struct entry {
    T row;
    offset_type after;
  };
  struct planned_batch {
    offset_type start;
    offset_type end;
    std::vector<T> rows;
  };

  // Cursor pagination, followed page after page (across polls while each starts where the last
  // one ended): the cursors left so far, in order. A next cursor among them, or a page with
  // the same records as the page before it, means the API loops (it ignores the cursor, or
  // hands back an old one); following it would deliver the same records forever.
  struct cursor_chain {
    std::vector<std::string> left;
    std::set<std::string> left_set;
    std::optional<std::string> head;  // the cursor the chain leads to (the next page's)
    std::string last_cursor;          // of the last page fetched, and a hash of its records
    std::optional<std::size_t> last_records;
  };

  struct state {
    options opts;
    offset_type initial;
    detail::redactor redact;
    detail::http_client client;
    std::string env_header_value;
    std::deque<entry> buffer;
    offset_type buffer_start{};
    std::vector<planned_batch> planned;
    std::chrono::steady_clock::time_point last_poll{};
    bool polled_once = false;
    bool available_now = false;
    std::atomic<bool> stopping{false};
    std::stop_token stop_token;
    std::mutex wait_mutex;
    std::condition_variable_any wake;
    cursor_chain chain;  // of the polls, continued from one poll to the next
    source_metrics metrics;
    std::function<void(const std::string&)> log;
    std::mt19937_64 rng{std::random_device{}()};

    explicit state(options o) : opts(std::move(o)), client(opts) {
      if (opts.strategy != strategy_kind::unspecified && opts.strategy != Strategy::kind)
        throw error(std::string("strategy: the configuration asks for '") +
                    boost::describe::enum_to_string(opts.strategy, "?") + "' but this source was built with rest::" +
                    Strategy::name + "_strategy");
      opts.strategy = Strategy::kind;
      if (opts.url.empty()) throw error("url: required");
      if (opts.batch_size <= 0) throw error("batch_size: must be positive, got " + std::to_string(opts.batch_size));
      if (opts.retry.max_attempts < 1) throw error("retry.max_attempts: must be at least 1");
      if (opts.max_response_bytes <= 0) throw error("max_response_bytes: must be positive");
      if (Strategy::kind == strategy_kind::timestamp && opts.timestamp_path.empty())
        throw error("timestamp_path: the timestamp strategy needs the JSON pointer of the response's timestamp");
      if (Strategy::kind == strategy_kind::cursor && opts.cursor_path.empty() && !opts.cursor_from_link_header)
        throw error("cursor_path: the cursor strategy needs the JSON pointer of the next cursor, or "
                    "cursor_from_link_header = true");
      if (Strategy::kind == strategy_kind::max_field && opts.offset_field.empty())
        throw error("offset_field: the max_field strategy needs the record field to compare");
      const auto& a = opts.auth;
      if (a.type == auth_type::env_header) {
        if (a.header.empty() || a.env.empty())
          throw error("auth: env_header needs `header` (the header's name) and `env` (the environment variable)");
        const char* v = std::getenv(a.env.c_str());
        if (!v || !*v) throw error("auth.env: the environment variable " + a.env + " is not set or empty");
        env_header_value = v;
      }
      if (a.type == auth_type::oauth1 && (a.consumer_key.empty() || a.consumer_secret.empty()))
        throw error("auth: oauth1 needs consumer_key and consumer_secret");
      redact = detail::make_redactor(opts, env_header_value);
      initial = Strategy::initial(opts);
      // Fail now, not at the first poll, on a template naming an unknown placeholder.
      std::map<std::string, std::string> values;
      Strategy::placeholders(initial, values);
      if (!(Strategy::kind == strategy_kind::cursor && opts.cursor_from_link_header))
        detail::parse_url(detail::fill_template(opts.url, values, "url", detail::fill_mode::url));
      else
        detail::parse_url(opts.url);
      detail::fill_template(opts.body, values, "body", detail::body_fill_mode(opts.content_type));
    }

    void note(const std::string& line) {
      if (log) log(redact(line));
    }
  };

  std::string method_name() const { return s_->opts.method == http_method::post ? "POST" : "GET"; }

  // One poll from `start`: request pages until caught up, `want` records (0: no limit) or,
  // replaying, the offset `until`. Returns the new records with the offset after each.
  std::vector<entry> poll(const offset_type& start, std::size_t want, const offset_type* until) {
    auto& s = *s_;
    std::vector<entry> out;
    offset_type cur = start;
    cursor_chain replay_chain;  // a replay walks its own chain (it may go over old cursors again)
    cursor_chain& chain = until ? replay_chain : s.chain;
    if constexpr (std::is_same_v<Strategy, cursor_strategy>)
      if (chain.head != start.cursor) chain = cursor_chain{{}, {}, start.cursor, {}, {}};
    for (int pages = 0;; ++pages) {
      if (pages >= 100000) throw error(s.redact("more than 100000 pages in one poll of " + s.opts.url));
      std::map<std::string, std::string> values;
      Strategy::placeholders(cur, values);
      std::string url;
      if constexpr (std::is_same_v<Strategy, cursor_strategy>) {
        // With Link headers the cursor is the next page's whole URL.
        if (s.opts.cursor_from_link_header && !cur.cursor.empty()) url = cur.cursor;
        else if (s.opts.cursor_from_link_header) url = s.opts.url;
        else url = detail::fill_template(s.opts.url, values, "url", detail::fill_mode::url);
      } else {
        url = detail::fill_template(s.opts.url, values, "url", detail::fill_mode::url);
      }
      const std::string body = s.opts.method == http_method::post
                                   ? detail::fill_template(s.opts.body, values, "body", detail::body_fill_mode(s.opts.content_type))
                                   : "";
      auto response = fetch(url, body);
      auto parsed = parse_page(url, response);
      const std::string where = method_name() + " " + url;
      if constexpr (std::is_same_v<Strategy, cursor_strategy>) follow_cursor(chain, cur.cursor, parsed, where);
      auto result = Strategy::consume(s.opts, cur, std::move(parsed), s.redact(where));
      bool reached = false;
      for (auto& e : result.entries) {
        out.push_back({to_row(e.record, where, out.size()), e.after});
        if (until && offset_equal(e.after, *until)) {
          reached = true;
          break;
        }
      }
      cur = result.next;
      if (reached || !result.more) break;
      if (want && out.size() >= want) break;
    }
    return out;
  }

  // Checks that the page fetched at `cursor` moves the chain forward, and records it.
  void follow_cursor(cursor_chain& chain, const std::string& cursor, const page& p, const std::string& where) {
    auto& s = *s_;
    std::optional<std::size_t> records;
    if (!p.records.empty()) {
      std::size_t h = p.records.size();
      for (const auto& r : p.records) h = h * 1000003 ^ std::hash<std::string>{}(boost::json::serialize(r));
      records = h;
    }
    if (records && chain.last_records == records && !chain.left.empty() && chain.last_cursor != cursor)
      throw error(s.redact(where + ": the page at cursor '" + cursor + "' holds the same " +
                           std::to_string(p.records.size()) + " records as the page before it (cursor '" +
                           chain.last_cursor + "'): the API does not move with the cursor; stopping rather than "
                           "delivering them again"));
    chain.last_cursor = cursor;
    chain.last_records = records;
    if (!p.next_cursor || p.next_cursor->empty()) {
      chain.head = cursor;  // caught up: this page is asked again later
      return;
    }
    const std::string& next = *p.next_cursor;
    if (next == cursor || chain.left_set.count(next)) {
      std::string path;
      const std::size_t from = chain.left.size() > 5 ? chain.left.size() - 5 : 0;
      for (std::size_t i = from; i < chain.left.size(); ++i) path += "'" + chain.left[i] + "' -> ";
      throw error(s.redact(where + ": the next cursor '" + next + "' was requested before (" + (from ? "... -> " : "") +
                           path + "'" + cursor + "' -> '" + next +
                           "'): cursor pagination would loop; stopping rather than delivering the same records again"));
    }
    if (chain.left.size() >= 100000) {  // bounded memory: a very long chain starts over
      chain.left.clear();
      chain.left_set.clear();
    }
    chain.left.push_back(cursor);
    chain.left_set.insert(cursor);
    chain.head = next;
  }

  T to_row(boost::json::object& record, const std::string& where, std::size_t index) {
    if constexpr (std::is_same_v<T, boost::json::object>) {
      return std::move(record);
    } else {
      try {
        return from_json<T>(boost::json::value(std::move(record)));
      } catch (const schema_error& e) {
        throw error(s_->redact(where + ": record " + std::to_string(index) + " (records_path '" +
                               s_->opts.records_path + "'): " + e.what()));
      }
    }
  }

  page parse_page(const std::string& url, detail::http_response& res) {
    auto& s = *s_;
    const std::string where = method_name() + " " + url;
    boost::json::stream_parser parser;
    boost::system::error_code ec;
    const std::size_t used = parser.write(res.body.data(), res.body.size(), ec);
    if (!ec) parser.finish(ec);
    if (ec)
      throw error(s.redact(where + ": the body is not valid JSON (" + ec.message() + " at byte " +
                           std::to_string(used) + "): " + detail::body_excerpt(res.body)),
                  res.status);
    const boost::json::value body = parser.release();
    page out;
    const auto* records = detail::find_pointer(body, s.opts.records_path);
    const std::string pointer = s.opts.records_path.empty() ? std::string("(the whole body)") : s.opts.records_path;
    if (!records)
      throw error(s.redact(where + ": records_path '" + pointer + "' is not in the response: " +
                           detail::body_excerpt(res.body)),
                  res.status);
    if (!records->is_array())
      throw error(s.redact(where + ": records_path '" + pointer + "' is " + sluice::detail::json_kind_name(*records) +
                           ", not an array of records"),
                  res.status);
    const auto& arr = records->get_array();
    out.records.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_object())
        throw error(s.redact(where + ": " + pointer + "/" + std::to_string(i) + " is " +
                             sluice::detail::json_kind_name(arr[i]) + ", not a JSON object"),
                    res.status);
      out.records.push_back(arr[i].get_object());
    }
    if (!s.opts.cursor_path.empty()) {
      if (const auto* c = detail::find_pointer(body, s.opts.cursor_path); c && !c->is_null() && !(c->is_bool() && !c->get_bool()))
        out.next_cursor = detail::scalar_text(*c);
    } else if (s.opts.cursor_from_link_header) {
      if (auto link = res.header("link")) {
        if (auto next = detail::link_next(*link)) out.next_cursor = detail::resolve_url(detail::parse_url(url), *next);
      }
    }
    if (!s.opts.timestamp_path.empty()) {
      if (const auto* t = detail::find_pointer(body, s.opts.timestamp_path); t && !t->is_null())
        out.timestamp = detail::scalar_text(*t);
    }
    return out;
  }

  // ------------------------------------------------------------ HTTP: auth, redirects, retries
  // `credentials`: false once a redirect left the configured origin (scheme, host or port):
  // then, as curl and browsers do, no Authorization, Cookie, OAuth signature, environment
  // header or header with a sensitive name (detail::sensitive_name, options::secret_names).
  std::vector<std::pair<std::string, std::string>> request_headers(const detail::url_parts& u, const std::string& body,
                                                                   bool credentials, http_method method) {
    auto& s = *s_;
    const auto& a = s.opts.auth;
    std::vector<std::pair<std::string, std::string>> h;
    h.emplace_back("Accept", "application/json");
    if (method == http_method::post) h.emplace_back("Content-Type", s.opts.content_type);
    for (const auto& [k, v] : s.opts.headers)
      if (credentials || !s.redact.sensitive(k)) h.emplace_back(k, v);
    if (!credentials) return h;
    if (!s.opts.cookies.empty()) {
      std::string cookie;
      for (const auto& [k, v] : s.opts.cookies) cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
      h.emplace_back("Cookie", cookie);
    }
    switch (a.type) {
      case auth_type::none: break;
      case auth_type::basic: h.emplace_back("Authorization", "Basic " + detail::base64_encode(a.username + ":" + a.password)); break;
      case auth_type::bearer: h.emplace_back("Authorization", "Bearer " + a.token); break;
      case auth_type::env_header: h.emplace_back(a.header, a.prefix + s.env_header_value); break;
      case auth_type::oauth1: {
        const bool form = detail::lower(s.opts.content_type).starts_with("application/x-www-form-urlencoded");
        const oauth1::credentials c{a.consumer_key, a.consumer_secret, a.token, a.token_secret, a.realm};
        const auto ts = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        h.emplace_back("Authorization", oauth1::authorization_header(c, method == http_method::post ? "POST" : "GET",
                                                                     u.str(), form && method == http_method::post ? body : "",
                                                                     oauth1::make_nonce(), ts));
        break;
      }
    }
    return h;
  }

  detail::http_response fetch(const std::string& first_url, const std::string& body) {
    auto& s = *s_;
    const auto& r = s.opts.retry;
    const auto origin = detail::parse_url(first_url).origin();
    for (int attempt = 1;; ++attempt) {
      std::string url = first_url;
      std::vector<std::string> chain{url};
      detail::http_response res;
      std::optional<detail::transport_error> failure;
      http_method method = s.opts.method;
      bool credentials = true;  // once the chain leaves the origin, never again (even back to it)
      for (int redirects = 0;; ++redirects) {
        const auto u = detail::parse_url(url);
        credentials = credentials && u.origin() == origin;
        detail::http_request req{method, u, method == http_method::post ? body : std::string(),
                                 request_headers(u, body, credentials, method)};
        ++s.metrics.requests;
        auto ex = s.client.exchange(req, s.stop_token);
        if (ex.failure) {
          failure = std::move(ex.failure);
          break;
        }
        res = std::move(*ex.response);
        const int st = res.status;
        const auto location = res.header("location");
        if ((st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && location) {
          if (redirects + 1 > s.opts.max_redirects) {
            std::string path;
            for (const auto& c : chain) path += (path.empty() ? "" : " -> ") + c;
            throw error(s.redact(method_name() + " " + first_url + ": more than max_redirects (" +
                                 std::to_string(s.opts.max_redirects) + ") redirects: " + path),
                        st);
          }
          url = detail::resolve_url(u, *location);
          if (st == 303) method = http_method::get;  // See Other: fetch the result with GET
          chain.push_back(url);
          s.note(method_name() + " " + u.str() + ": HTTP " + std::to_string(st) + ", redirected to " + url);
          continue;
        }
        break;
      }
      std::string why;
      std::optional<std::chrono::milliseconds> retry_after;
      if (failure) {
        if (failure->interrupted)
          throw source_interrupted(s.redact(method_name() + " " + url + ": " + failure->message));
        if (failure->permanent) throw error(s.redact(method_name() + " " + url + ": " + failure->message));
        why = failure->message;
      } else if (res.status >= 200 && res.status < 300) {
        return res;
      } else if (res.status == 429 || res.status >= 500) {
        why = "HTTP " + std::to_string(res.status);
        if (auto ra = res.header("retry-after")) retry_after = detail::parse_retry_after(*ra, std::chrono::system_clock::now());
      } else {
        throw error(s.redact(method_name() + " " + url + ": HTTP " + std::to_string(res.status) + ": " +
                             detail::body_excerpt(res.body)),
                    res.status);
      }
      if (attempt >= r.max_attempts)
        throw error(s.redact(method_name() + " " + url + ": " + why + " (gave up after " + std::to_string(attempt) +
                             (attempt == 1 ? " attempt)" : " attempts)")),
                    failure ? 0 : res.status);
      std::chrono::milliseconds wait;
      if (retry_after) {
        wait = std::min(*retry_after, r.max_retry_after);
      } else {
        const double base = std::min<double>(static_cast<double>(r.max_backoff.count()),
                                             static_cast<double>(r.initial_backoff.count()) * std::pow(2.0, attempt - 1));
        std::uniform_real_distribution<double> factor(1.0 - r.jitter, 1.0 + r.jitter);
        wait = std::chrono::milliseconds(static_cast<std::int64_t>(base * factor(s.rng)));
      }
      ++s.metrics.retries;
      s.note(method_name() + " " + url + ": " + why + ", retrying in " + std::to_string(wait.count()) + " ms (attempt " +
             std::to_string(attempt + 1) + " of " + std::to_string(r.max_attempts) + ")");
      if (!sleep_unless_stopped(wait))
        throw source_interrupted(
            s.redact(method_name() + " " + url + ": stopped while waiting to retry (" + why + ")"));
    }
  }

  // False when the query's stop token or stop() ended the wait early.
  bool sleep_unless_stopped(std::chrono::milliseconds wait) {
    auto& s = *s_;
    std::unique_lock lock(s.wait_mutex);
    s.wake.wait_until(lock, s.stop_token, std::chrono::steady_clock::now() + wait, [&] { return s.stopping.load(); });
    return !s.stopping && !s.stop_token.stop_requested();
  }

  std::shared_ptr<state> s_;
};

// Untyped rows: each record as a JSON object.
template <class Strategy>
using json_source = source<boost::json::object, Strategy>;

template <class T, class Strategy>
source<T, Strategy> make_source(options o) {
  return source<T, Strategy>(std::move(o));
}

}  // namespace sluice::rest
