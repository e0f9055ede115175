// The `sluice` command: watches and stops the queries of a running process through its admin
// endpoint (<sluice/admin.hpp>; seed 001 §5.2).
//
//   sluice streaming list             [--url URL] [--json]
//   sluice streaming status ID|NAME   [--url URL] [--json]
//   sluice streaming stop ID|NAME     [--url URL]
//   sluice checkpoint describe DIR    [--json]
//   sluice checkpoint state DIR --operator N [--batch B]
//
// URL: --url, else $SLUICE_ADMIN_URL, else http://127.0.0.1:4040. The bearer token, when the
// endpoint wants one: $SLUICE_ADMIN_TOKEN (or --token, which other users may see in `ps`).
// The checkpoint commands read a stopped query's checkpoint directory (checkpoint/inspect.hpp)
// and never write to it.
// Exit status: 0 done, 1 the endpoint refused (its error is printed) or a checkpoint file is
// unreadable (the error names it), 2 bad usage, 3 no connection.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <sluice/checkpoint/file_io.hpp>
#include <sluice/checkpoint/inspect.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* usage_text =
    "usage: sluice streaming list [--url URL] [--json]\n"
    "       sluice streaming status ID|NAME [--url URL] [--json]\n"
    "       sluice streaming stop ID|NAME [--url URL]\n"
    "       sluice checkpoint describe DIR [--json]\n"
    "       sluice checkpoint state DIR --operator N [--batch B]\n"
    "The admin endpoint's URL: --url, $SLUICE_ADMIN_URL, or http://127.0.0.1:4040.\n"
    "Its bearer token, if it wants one: $SLUICE_ADMIN_TOKEN (or --token TOKEN).\n";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct connect_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string url, host, port, prefix;
};

endpoint parse_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    throw usage_error("--url " + url + ": https is not supported; the admin endpoint speaks plain HTTP (reach it "
                      "through a TLS proxy or an SSH tunnel to its loopback port)");
  if (url.rfind(scheme, 0) != 0) throw usage_error("--url " + url + ": expected http://HOST:PORT");
  std::string rest = url.substr(scheme.size());
  endpoint e;
  e.url = url;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    e.prefix = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  }
  std::size_t colon = rest.rfind(':');
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const auto close = rest.find(']');
    if (close == std::string::npos) throw usage_error("--url " + url + ": unclosed [ in the host");
    e.host = rest.substr(1, close - 1);
    colon = rest.find(':', close);
  } else {
    e.host = rest.substr(0, colon);
  }
  e.port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  if (e.host.empty() || e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error("--url " + url + ": expected http://HOST:PORT");
  return e;
}

struct response {
  unsigned status;
  std::string body;
};

response call(const endpoint& ep, http::verb method, const std::string& path, const std::string& token,
              std::chrono::seconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  const std::string what = std::string(http::to_string(method)) + " " + ep.url + path;
  try {
    tcp::resolver resolver(io);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(ep.host, ep.port));
  } catch (const std::exception& e) {
    throw connect_error("cannot connect to " + ep.url + ": " + e.what() +
                        " (is the process running with its admin endpoint? set --url or SLUICE_ADMIN_URL)");
  }
  try {
    http::request<http::string_body> req{method, ep.prefix + path, 11};
    req.set(http::field::host, ep.host + ":" + ep.port);
    req.set(http::field::user_agent, "sluice-cli");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    return {parser.get().result_int(), parser.get().body()};
  } catch (const std::exception& e) {
    throw connect_error(what + ": " + e.what());
  }
}

// The JSON of a 2xx answer; the endpoint's error otherwise.
json::value expect_json(const response& r, const std::string& what) {
  json::value v;
  boost::system::error_code ec;
  v = json::parse(r.body, ec);
  if (r.status >= 400) {
    std::string message = r.body;
    if (!ec && v.is_object() && v.as_object().contains("error") && v.at("error").is_string())
      message = std::string(v.at("error").as_string());
    throw refused(what + ": " + std::to_string(r.status) + " " + message);
  }
  if (ec) throw refused(what + ": the answer is not JSON: " + r.body.substr(0, 200));
  return v;
}

std::string text(const json::value& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.as_double());
    return buf;
  }
  return json::serialize(v);
}

const json::value& field(const json::value& o, const char* key) {
  static const json::value null;
  if (!o.is_object()) return null;
  const auto* p = o.as_object().if_contains(key);
  return p ? *p : null;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string pretty(const json::value& v, int indent = 0) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  if (v.is_object()) {
    if (v.as_object().empty()) return "{}";
    std::string out = "{\n";
    bool first = true;
    for (const auto& [k, x] : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + "  " + json::serialize(json::value(k)) + " : " + pretty(x, indent + 1);
    }
    return out + "\n" + pad + "}";
  }
  if (v.is_array()) {
    if (v.as_array().empty()) return "[ ]";
    std::string out = "[ ";
    bool first = true;
    for (const auto& x : v.as_array()) {
      if (!first) out += ", ";
      first = false;
      out += pretty(x, indent);
    }
    return out + " ]";
  }
  return json::serialize(v);
}

std::int64_t number_option(const std::string& name, const std::string& v) {
  std::size_t used = 0;
  std::int64_t n = -1;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
  }
  if (used != v.size() || n < 0) throw usage_error(name + " " + v + ": expected a number >= 0");
  return n;
}

// The sources' own logs, `<checkpoint>/sources/<i>/` (a source writes there what it needs to
// replay a batch: the file source its FileStreamSourceLog, a file "N" per batch or "N.compact"
// holding batches 0..N). Per log file: its size and the batches it covers; files that parse
// as file-source entries (JSON lines with a path) also give the files recorded, and the log's
// filesRecorded is what a restart reads: the latest compact file and the batches after it.
json::array source_logs(const std::filesystem::path& checkpoint) {
  namespace fs = std::filesystem;
  json::array out;
  const auto root = checkpoint / "sources";
  if (!fs::is_directory(root)) return out;
  const auto number = [](std::string_view s) -> std::optional<std::int64_t> {
    if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return std::stoll(std::string(s));
  };
  std::map<std::int64_t, fs::path> sources;
  for (const auto& e : fs::directory_iterator(root))
    if (auto i = number(e.path().filename().string()); i && e.is_directory()) sources[*i] = e.path();
  for (const auto& [i, dir] : sources) {
    struct log_file {
      std::string name;
      std::int64_t batch;
      bool compact;
      std::uintmax_t bytes;
    };
    std::vector<log_file> files;
    std::vector<std::string> other;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      const auto name = e.path().filename().string();
      constexpr std::string_view suffix = ".compact";
      const bool compact = name.ends_with(suffix);
      if (auto n = number(compact ? std::string_view(name).substr(0, name.size() - suffix.size()) : name))
        files.push_back({name, *n, compact, e.file_size()});
      else if (!name.starts_with(".")) other.push_back(name);  // dot files: temporaries, checksums
    }
    std::sort(files.begin(), files.end(), [](const log_file& a, const log_file& b) { return a.batch < b.batch; });
    std::sort(other.begin(), other.end());
    json::array listed;
    std::uintmax_t bytes = 0;
    bool file_source = !files.empty();
    std::optional<std::int64_t> first, last, latest_compact;
    std::map<std::int64_t, std::int64_t> entries;  // log file's batch -> files recorded in it
    for (const auto& f : files) {
      std::int64_t from = f.batch, n = 0;
      bool entries_ok = true;
      const auto content = sluice::read_checkpoint_file(dir / f.name).content;  // verified; errors name it
      std::istringstream lines(content);
      for (std::string l; std::getline(lines, l);) {
        if (l.empty()) continue;
        boost::system::error_code ec;
        const auto v = json::parse(l, ec);
        const auto* o = ec ? nullptr : v.if_object();
        if (!o || !o->if_contains("path")) {
          entries_ok = false;
          break;
        }
        ++n;
        if (const auto* b = o->if_contains("batchId"); b && b->is_int64()) from = std::min(from, b->as_int64());
      }
      if (f.compact && entries_ok) from = std::min<std::int64_t>(from, 0);  // a compaction holds 0..N
      json::object o{{"file", f.name}, {"bytes", f.bytes}, {"batches", json::array{from, f.batch}}};
      if (entries_ok) {
        o["filesRecorded"] = n;
        entries[f.batch] = n;
      } else {
        file_source = false;
      }
      listed.push_back(std::move(o));
      bytes += f.bytes;
      first = first ? std::min(*first, from) : from;
      last = last ? std::max(*last, f.batch) : f.batch;
      if (f.compact) latest_compact = f.batch;
    }
    json::object s{{"source", i}, {"directory", dir.string()}, {"files", std::move(listed)}, {"bytes", bytes}};
    s["batches"] = first ? json::value(json::array{*first, *last}) : json::value(nullptr);
    if (!other.empty()) {
      json::array names;
      for (const auto& n : other) names.push_back(json::value(n));
      s["otherFiles"] = std::move(names);
    }
    if (file_source) {
      std::int64_t recorded = 0;
      for (const auto& [b, n] : entries)
        if (!latest_compact || b >= *latest_compact) recorded += n;
      s["kind"] = "file source log";
      s["filesRecorded"] = recorded;
    }
    out.push_back(std::move(s));
  }
  return out;
}

void print_describe(const json::value& d) {
  const auto f = [&](const char* k) -> const json::value& { return field(d, k); };
  std::cout << "checkpoint:   " << text(f("checkpoint")) << "\n"
            << "query id:     " << text(f("id")) << "\n"
            << "format:       " << text(f("formatVersion")) << "\n"
            << "fingerprint:  " << text(f("fingerprint")) << " (covers the output mode, the output row's schema, each "
            << "source's offset type, and the stateful and watermark stages)\n"
            << "output mode:  " << text(f("outputMode")) << "\n";
  auto range = [&](const json::value& r) {
    return r.is_array() ? text(r.as_array()[0]) + ".." + text(r.as_array()[1]) : std::string("none");
  };
  std::cout << "offsets:      " << range(f("offsetLog")) << "\n"
            << "commits:      " << range(f("commitLog")) << "\n";
  if (!f("plannedUncommittedBatch").is_null())
    std::cout << "uncommitted:  batch " << text(f("plannedUncommittedBatch"))
              << " was planned but not committed (it runs again first on restart)\n";
  if (!f("watermark").is_null())
    std::cout << "watermark:    " << text(f("watermark")) << " (" << text(f("watermarkUs")) << " us, after the last commit)\n";
  const auto& last = f("lastPlannedBatch");
  if (!last.is_null()) {
    std::cout << "last planned batch " << text(field(last, "batchId")) << ": timestamp " << text(field(last, "batchTimestamp"))
              << ", ran with watermark " << text(field(last, "batchWatermark")) << "\n";
    for (const auto& s : field(last, "sources").as_array())
      std::cout << "  source " << text(field(s, "source")) << " end offset: " << json::serialize(field(s, "endOffset")) << "\n";
  }
  for (const auto& w : f("watermarkStages").as_array()) std::cout << "watermark stage: " << json::serialize(w) << "\n";
  for (const auto& op : f("stateOperators").as_array()) {
    const auto& desc = field(op, "description");
    std::cout << "state operator " << text(field(op, "operator")) << ": " << text(field(desc, "operator")) << "\n"
              << "  description: " << json::serialize(desc) << "\n";
    for (const auto& p : field(op, "partitions").as_array())
      std::cout << "  partition "
                << (field(p, "partition").is_null() ? std::string("(the whole state, from before partitions)")
                                                    : text(field(p, "partition")))
                << ": " << text(field(p, "files")) << " files, "
                << text(field(p, "bytes")) << " bytes, deltas " << range(field(p, "deltaVersions")) << ", snapshots "
                << json::serialize(field(p, "snapshotVersions")) << "\n";
    const auto& schema = field(op, "stateSchema");
    std::cout << "  state schema: "
              << (schema.is_null() ? std::string("not recorded (written by an earlier sluice; the next batch writes it)")
                                   : json::serialize(schema))
              << "\n";
  }
  for (const auto& s : f("sourceLogs").as_array()) {
    std::cout << "source log " << text(field(s, "source")) << ": " << text(field(s, "directory")) << ", "
              << field(s, "files").as_array().size() << " files, " << text(field(s, "bytes")) << " bytes, batches "
              << range(field(s, "batches"));
    if (const auto* n = s.as_object().if_contains("filesRecorded"))
      std::cout << " (" << text(field(s, "kind")) << ": " << text(*n) << " input files recorded)";
    std::cout << "\n";
    for (const auto& f : field(s, "files").as_array()) {
      std::cout << "  " << text(field(f, "file")) << ": " << text(field(f, "bytes")) << " bytes, batches "
                << range(field(f, "batches"));
      if (const auto* n = f.as_object().if_contains("filesRecorded")) std::cout << ", " << text(*n) << " input files";
      std::cout << "\n";
    }
    if (const auto* o = s.as_object().if_contains("otherFiles"))
      std::cout << "  other files: " << json::serialize(*o) << "\n";
  }
}

int run_checkpoint(const std::vector<std::string>& words, const std::optional<std::int64_t>& op,
                   const std::optional<std::int64_t>& batch, bool as_json) {
  if (words.size() < 2 || (words[1] != "describe" && words[1] != "state"))
    throw usage_error("checkpoint: expected describe DIR or state DIR --operator N");
  if (words.size() != 3) throw usage_error("checkpoint " + words[1] + ": expected one checkpoint directory");
  const std::filesystem::path dir = words[2];
  if (!std::filesystem::is_directory(dir)) throw refused(dir.string() + ": not a directory");
  if (words[1] == "describe") {
    auto d = sluice::describe_checkpoint(dir);
    d["sourceLogs"] = source_logs(dir);
    if (as_json) std::cout << json::serialize(d) << "\n";
    else print_describe(json::value(d));
    return 0;
  }
  if (!op) throw usage_error("checkpoint state: --operator N is required (`sluice checkpoint describe DIR` lists them)");
  sluice::read_checkpoint_state(dir, static_cast<std::size_t>(*op), batch,
                                [](json::object row) { std::cout << json::serialize(row) << "\n"; });
  std::cout.flush();
  return 0;
}

int run(std::vector<std::string> args) {
  std::string url, token;
  std::optional<std::int64_t> op, batch;
  bool as_json = false;
  std::vector<std::string> words;
  if (const char* u = std::getenv("SLUICE_ADMIN_URL"); u && *u) url = u;
  if (const char* t = std::getenv("SLUICE_ADMIN_TOKEN"); t && *t) token = t;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage_text;
      return 0;
    }
    if (a == "--url" || a == "--token") {
      if (i + 1 >= args.size()) throw usage_error(a + " needs a value");
      (a == "--url" ? url : token) = args[++i];
    } else if (a.rfind("--url=", 0) == 0) {
      url = a.substr(6);
    } else if (a.rfind("--token=", 0) == 0) {
      token = a.substr(8);
    } else if (a == "--json") {
      as_json = true;
    } else if (a == "--operator" || a == "--batch") {
      if (i + 1 >= args.size()) throw usage_error(a + " needs a value");
      (a == "--operator" ? op : batch) = number_option(a, args[++i]);
    } else if (a.rfind("--", 0) == 0) {
      throw usage_error("unknown option " + a);
    } else {
      words.push_back(a);
    }
  }
  if (words.empty()) throw usage_error("no command");
  if (words[0] == "checkpoint") return run_checkpoint(words, op, batch, as_json);
  if (words[0] != "streaming")
    throw usage_error("unknown command '" + words[0] +
                      "' (commands: streaming list | status ID | stop ID, checkpoint describe DIR | state DIR)");
  if (words.size() < 2) throw usage_error("streaming: expected list, status ID or stop ID");
  const std::string& cmd = words[1];
  const std::size_t want = cmd == "list" ? 2 : 3;
  if (cmd != "list" && cmd != "status" && cmd != "stop")
    throw usage_error("streaming: unknown subcommand '" + cmd + "' (list, status ID, stop ID)");
  if (words.size() != want)
    throw usage_error("streaming " + cmd + (want == 3 ? ": expected one query id or name" : ": takes no argument"));
  const auto ep = parse_url(url.empty() ? "http://127.0.0.1:4040" : url);

  if (cmd == "list") {
    const auto v = expect_json(call(ep, http::verb::get, "/queries", token, std::chrono::seconds(10)), "GET " + ep.url + "/queries");
    if (as_json) {
      std::cout << json::serialize(v) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "ACTIVE", "BATCH", "INPUT/S", "PROCESSED/S", "STATUS"}};
    for (const auto& q : v.as_array()) {
      const auto& p = field(q, "lastProgress");
      rows.push_back({text(field(q, "id")), text(field(q, "name")), field(q, "isActive").as_bool() ? "yes" : "no",
                      text(field(p, "batchId")), text(field(p, "inputRowsPerSecond")),
                      text(field(p, "processedRowsPerSecond")),
                      field(q, "exception").is_null() ? text(field(field(q, "status"), "message"))
                                                      : "failed: " + text(field(q, "exception"))});
    }
    print_table(rows);
    if (v.as_array().empty()) std::cout << "(no queries)\n";
    return 0;
  }
  const std::string& id = words[2];
  if (id.find_first_of("/?#% ") != std::string::npos) throw usage_error("'" + id + "' is not a query id or name");
  if (cmd == "status") {
    const auto v = expect_json(call(ep, http::verb::get, "/queries/" + id, token, std::chrono::seconds(10)),
                               "GET " + ep.url + "/queries/" + id);
    if (as_json) {
      std::cout << json::serialize(v) << "\n";
      return 0;
    }
    const auto& p = field(v, "lastProgress");
    std::cout << "id:        " << text(field(v, "id")) << "\n"
              << "runId:     " << text(field(v, "runId")) << "\n"
              << "name:      " << text(field(v, "name")) << "\n"
              << "active:    " << (field(v, "isActive").as_bool() ? "yes" : "no") << "\n"
              << "status:    " << text(field(field(v, "status"), "message")) << "\n"
              << "batches:   " << text(field(v, "numBatches")) << "\n"
              << "records:   " << text(field(v, "recordsProcessed")) << "\n";
    if (!field(v, "exception").is_null()) std::cout << "exception: " << text(field(v, "exception")) << "\n";
    if (!p.is_null()) {
      std::cout << "watermark: " << text(field(field(p, "eventTime"), "watermark")) << "\n"
                << "last progress:\n"
                << pretty(p) << "\n";
    }
    return 0;
  }
  // stop: the endpoint waits for the batch under way (up to its stop_wait).
  const auto v = expect_json(call(ep, http::verb::post, "/queries/" + id + "/stop", token, std::chrono::seconds(60)),
                             "POST " + ep.url + "/queries/" + id + "/stop");
  if (field(v, "isActive").as_bool()) {
    std::cout << "stop requested for " << text(field(v, "id")) << ": the batch under way has not finished yet\n";
  } else {
    std::cout << "stopped " << text(field(v, "id")) << (field(v, "name").is_null() ? "" : " (" + text(field(v, "name")) + ")")
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const usage_error& e) {
    std::cerr << "sluice: " << e.what() << "\n" << usage_text;
    return 2;
  } catch (const connect_error& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return 3;
  } catch (const refused& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return 1;
  }
}
