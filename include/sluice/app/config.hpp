// The pipeline file of a sluice application (seed 001 §1-§4): named connections and nodes,
// each node binding a pipeline the application registered in C++ (sl::app, <sluice/app.hpp>)
// to its read and write connections and its streaming settings. Parsed with yaml-cpp.
//
//   connections:
//     landing: {type: local, base_path: ./demo}
//     lake:    {type: delta, base_path: ./demo/data}
//     events:  {type: kafka, bootstrap_servers: "broker:9092", security_protocol: SASL_SSL,
//               sasl_mechanism: PLAIN, sasl_username: app, sasl_password: "${KAFKA_PASSWORD}"}
//     hubs:    {type: eventhubs, connection_string: "${EVENTHUBS_CONNECTION_STRING}"}
//   admin: {port: 4040, bind: 127.0.0.1, token: "${SLUICE_ADMIN_TOKEN}"}
//   nodes:
//     - name: ingest_events
//       pipeline: raw_events          # the registered pipeline (default: the node's name)
//       streaming:
//         enabled: true
//         checkpoint_location: ./demo/checkpoints/raw
//         trigger: "10 seconds"       # or "once", "availableNow"
//         output_mode: append
//         watermark: "timestamp, 10 minutes"
//       read:  {connection: landing, format: json, path: input, options: {max_files_per_trigger: 1}}
//       write: {connection: lake, format: delta, table: events}
//       expectations:
//         - {name: positive_value, policy: drop}   # warn | drop | fail
//
// Every error names the file, the line and the key path, and the choices allowed:
//   pipeline.yaml:14: nodes[0].streaming.trigger: "10 secs" is not a trigger (choices: "once",
//   "availableNow", or an interval such as "10 seconds", "1 minute", "500 milliseconds")
// ${NAME} in any value is replaced by the environment variable NAME (an unset one is an
// error); such values are secrets: describe() and every error show "${NAME}", not the value.
#pragma once
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../engine/options.hpp"
#include "../ops/expect.hpp"

namespace sluice::app_config {

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a value came from, for errors: "pipeline.yaml:14: nodes[0].streaming.trigger".
struct location {
  std::string file;
  int line = 0;  // 1-based; 0: unknown
  std::string path;
  std::string text() const { return file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + path; }
};

// A scalar: its value (environment references replaced) and its text as written, which is
// what is shown when the value came from the environment.
struct setting {
  std::string value;
  std::string written;
  bool from_environment = false;
  location where;
  // For messages and describe(): never an environment variable's value.
  std::string shown() const { return from_environment ? written : value; }
};

struct connection {
  std::string name;
  std::string type;  // local, delta, kafka, eventhubs
  std::map<std::string, setting> settings;
  location where;
  const setting* get(const std::string& key) const {
    const auto it = settings.find(key);
    return it == settings.end() ? nullptr : &it->second;
  }
  std::string value_or(const std::string& key, std::string fallback) const {
    const auto* s = get(key);
    return s ? s->value : std::move(fallback);
  }
};

struct io_config {
  std::string connection, format, table, path;
  std::map<std::string, setting> options;
  location where;
};

struct streaming_config {
  bool enabled = true;
  std::string checkpoint_location;
  std::optional<trigger_spec> trigger;
  std::string trigger_text;
  std::optional<std::string> output_mode;  // append, update, complete
  std::optional<std::string> watermark_column;
  duration watermark_delay{0};
  location where, trigger_where, output_mode_where, watermark_where;
};

struct expectation_config {
  std::string name;
  expectation_policy policy = expectation_policy::warn;
  location where;
};

struct node_config {
  std::string name, pipeline;
  streaming_config streaming;
  std::optional<io_config> read, write;
  std::vector<expectation_config> expectations;
  location where, pipeline_where;
};

struct admin_config {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  unsigned short port = 4040;
  setting token;
};

struct pipeline_file {
  std::string file;
  std::map<std::string, connection> connections;
  std::vector<node_config> nodes;
  admin_config admin;
};

namespace detail {

inline std::string join(const std::vector<std::string>& xs, const std::string& sep = ", ") {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : sep) + x;
  return out;
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class reader {
 public:
  using env_fn = std::function<std::optional<std::string>(const std::string&)>;
  reader(std::string file, env_fn env) : file_(std::move(file)), env_(std::move(env)) {}

  location at(const YAML::Node& n, const std::string& path) const {
    return {file_, n.IsDefined() ? n.Mark().line + 1 : 0, path};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& why) const {
    throw config_error(at(n, path).text() + ": " + why);
  }
  [[noreturn]] static void fail(const location& l, const std::string& why) { throw config_error(l.text() + ": " + why); }

  void expect_map(const YAML::Node& n, const std::string& path) const {
    if (!n.IsMap()) fail(n, path, "expected a mapping (key: value lines)");
  }
  // Refuses keys other than `allowed`, naming them.
  void only_keys(const YAML::Node& n, const std::string& path, const std::vector<std::string>& allowed) const {
    expect_map(n, path);
    for (const auto& kv : n) {
      const auto key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        fail(kv.first, path.empty() ? key : path + "." + key,
             "unknown key '" + key + "' (choices: " + join(allowed) + ")");
    }
  }

  setting scalar(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) fail(n, path, "expected a single value (text, number or true/false)");
    setting s;
    s.written = n.Scalar();
    s.where = at(n, path);
    // ${NAME}: the environment variable NAME.
    std::string out;
    const std::string& t = s.written;
    for (std::size_t i = 0; i < t.size();) {
      if (t.compare(i, 2, "${") == 0) {
        const auto close = t.find('}', i + 2);
        if (close == std::string::npos) fail(n, path, "unclosed ${ in \"" + t + "\" (write ${NAME} for the environment variable NAME)");
        const std::string name = t.substr(i + 2, close - i - 2);
        if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
          fail(n, path, "\"${" + name + "}\" is not an environment variable reference (letters, digits and _ only)");
        const auto v = env_(name);
        if (!v) fail(n, path, "the environment variable " + name + " is not set");
        out += *v;
        s.from_environment = true;
        i = close + 1;
      } else {
        out += t[i++];
      }
    }
    s.value = std::move(out);
    return s;
  }
  std::string text(const YAML::Node& n, const std::string& path) const { return scalar(n, path).value; }
  // A required key.
  YAML::Node need(const YAML::Node& parent, const std::string& key, const std::string& path) const {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) fail(parent, path, "missing key '" + key + "'");
    return n;
  }
  std::string choice(const YAML::Node& n, const std::string& path, const std::vector<std::string>& choices) const {
    const auto s = scalar(n, path);
    if (std::find(choices.begin(), choices.end(), s.value) == choices.end())
      fail(n, path, "\"" + s.shown() + "\" is not allowed (choices: " + join(choices) + ")");
    return s.value;
  }
  bool boolean(const YAML::Node& n, const std::string& path) const {
    const auto s = scalar(n, path);
    const auto v = lower(s.value);
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    fail(n, path, "\"" + s.shown() + "\" is not a boolean (choices: true, false)");
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  env_fn env_;
};

// Spark's interval text, "10 seconds", "1 minute", "500 milliseconds", "2 hours", "1 day".
inline std::optional<duration> parse_interval(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  std::size_t j = i;
  while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
  if (j == i || j - i > 12) return std::nullopt;
  const std::int64_t n = std::stoll(text.substr(i, j - i));
  std::string unit = lower(text.substr(j));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 's') unit.pop_back();
  if (unit == "millisecond") return std::chrono::duration_cast<duration>(std::chrono::milliseconds(n));
  if (unit == "second") return std::chrono::duration_cast<duration>(std::chrono::seconds(n));
  if (unit == "minute") return std::chrono::duration_cast<duration>(std::chrono::minutes(n));
  if (unit == "hour") return std::chrono::duration_cast<duration>(std::chrono::hours(n));
  if (unit == "day") return std::chrono::duration_cast<duration>(std::chrono::hours(24 * n));
  return std::nullopt;
}
inline constexpr const char* interval_choices = "an interval such as \"10 seconds\", \"1 minute\", \"500 milliseconds\"";

inline const std::vector<std::string> connection_types = {"local", "delta", "kafka", "eventhubs"};
inline std::vector<std::string> connection_keys(const std::string& type) {
  if (type == "local" || type == "delta") return {"type", "base_path"};
  if (type == "kafka")
    return {"type", "bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "options"};
  return {"type", "connection_string", "consumer_group", "bootstrap_servers"};  // eventhubs
}
inline const std::vector<std::string> formats = {"json", "csv", "delta", "kafka", "rate"};
// The connection types a format reads from or writes to.
inline std::vector<std::string> connection_types_for(const std::string& format) {
  if (format == "delta") return {"delta", "local"};
  if (format == "kafka") return {"kafka", "eventhubs"};
  return {"local"};
}

}  // namespace detail

// Reads and checks a pipeline file; `env` looks up environment variables (default: getenv).
inline pipeline_file load(const std::filesystem::path& file, detail::reader::env_fn env = {}) {
  if (!env)
    env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v ? std::optional<std::string>(v) : std::nullopt;
    };
  const std::string name = file.string();
  YAML::Node root;
  try {
    root = YAML::LoadFile(name);
  } catch (const YAML::BadFile&) {
    throw config_error(name + ": cannot read the file");
  } catch (const YAML::ParserException& e) {
    throw config_error(name + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  detail::reader r(name, env);
  pipeline_file out;
  out.file = name;
  if (!root.IsMap()) r.fail(root, "(top level)", "expected a mapping with connections, nodes and admin");
  r.only_keys(root, "", {"connections", "nodes", "admin"});

  if (const auto cs = root["connections"]; cs.IsDefined() && !cs.IsNull()) {
    r.expect_map(cs, "connections");
    for (const auto& kv : cs) {
      connection c;
      c.name = kv.first.as<std::string>();
      const std::string path = "connections." + c.name;
      c.where = r.at(kv.second, path);
      r.expect_map(kv.second, path);
      c.type = r.choice(r.need(kv.second, "type", path), path + ".type", detail::connection_types);
      r.only_keys(kv.second, path, detail::connection_keys(c.type));
      for (const auto& f : kv.second) {
        const auto key = f.first.as<std::string>();
        if (key == "type") continue;
        if (key == "options") {
          r.expect_map(f.second, path + ".options");
          for (const auto& o : f.second) {
            const auto okey = o.first.as<std::string>();
            c.settings["options." + okey] = r.scalar(o.second, path + ".options." + okey);
          }
          continue;
        }
        c.settings[key] = r.scalar(f.second, path + "." + key);
      }
      if ((c.type == "local" || c.type == "delta") && !c.get("base_path")) r.fail(kv.second, path, "missing key 'base_path'");
      if (c.type == "kafka" && !c.get("bootstrap_servers")) r.fail(kv.second, path, "missing key 'bootstrap_servers'");
      if (c.type == "eventhubs" && !c.get("connection_string")) r.fail(kv.second, path, "missing key 'connection_string'");
      out.connections.emplace(c.name, std::move(c));
    }
  }

  if (const auto a = root["admin"]; a.IsDefined() && !a.IsNull()) {
    r.only_keys(a, "admin", {"enabled", "bind", "port", "token"});
    if (a["enabled"]) out.admin.enabled = r.boolean(a["enabled"], "admin.enabled");
    if (a["bind"]) out.admin.bind = r.text(a["bind"], "admin.bind");
    if (a["port"]) {
      const auto s = r.scalar(a["port"], "admin.port");
      int port = -1;
      try {
        std::size_t used = 0;
        port = std::stoi(s.value, &used);
        if (used != s.value.size()) port = -1;
      } catch (const std::exception&) {
      }
      if (port < 0 || port > 65535) r.fail(a["port"], "admin.port", "\"" + s.shown() + "\" is not a port (0 to 65535; 0: any free port)");
      out.admin.port = static_cast<unsigned short>(port);
    }
    if (a["token"]) out.admin.token = r.scalar(a["token"], "admin.token");
  }

  const auto nodes = root["nodes"];
  if (!nodes.IsDefined() || nodes.IsNull()) r.fail(root, "nodes", "missing: the file has no nodes");
  if (!nodes.IsSequence()) r.fail(nodes, "nodes", "expected a list of nodes (lines starting with '- ')");
  std::set<std::string> names;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto n = nodes[i];
    const std::string path = "nodes[" + std::to_string(i) + "]";
    r.only_keys(n, path, {"name", "pipeline", "streaming", "read", "write", "expectations"});
    node_config nc;
    nc.where = r.at(n, path);
    const auto name_node = r.need(n, "name", path);
    nc.name = name_node.IsScalar() ? name_node.Scalar() : r.text(name_node, path + ".name");
    if (nc.name.empty() || nc.name.find("${") != std::string::npos)
      r.fail(name_node, path + ".name", "a node's name is its query's name: plain text, not empty and not from the environment");
    if (!names.insert(nc.name).second) r.fail(name_node, path + ".name", "a second node named '" + nc.name + "' (names are unique)");
    nc.pipeline = nc.name;
    nc.pipeline_where = r.at(name_node, path + ".name");
    if (n["pipeline"]) {
      nc.pipeline = r.text(n["pipeline"], path + ".pipeline");
      nc.pipeline_where = r.at(n["pipeline"], path + ".pipeline");
    }

    if (const auto s = n["streaming"]; s.IsDefined() && !s.IsNull()) {
      const std::string sp = path + ".streaming";
      r.only_keys(s, sp, {"enabled", "checkpoint_location", "trigger", "processing_time", "output_mode", "watermark"});
      auto& st = nc.streaming;
      st.where = r.at(s, sp);
      if (s["enabled"]) st.enabled = r.boolean(s["enabled"], sp + ".enabled");
      if (s["checkpoint_location"]) st.checkpoint_location = r.text(s["checkpoint_location"], sp + ".checkpoint_location");
      if (s["trigger"] && s["processing_time"])
        r.fail(s["processing_time"], sp + ".processing_time", "give either trigger or processing_time, not both");
      for (const char* key : {"trigger", "processing_time"}) {
        if (!s[key]) continue;
        const auto t = r.scalar(s[key], sp + "." + key);
        st.trigger_where = t.where;
        st.trigger_text = t.shown();
        if (std::string(key) == "trigger" && t.value == "once") st.trigger = trigger::once();
        else if (std::string(key) == "trigger" && t.value == "availableNow") st.trigger = trigger::available_now();
        else if (const auto d = detail::parse_interval(t.value)) st.trigger = trigger::processing_time(*d);
        else
          r.fail(s[key], sp + "." + key,
                 "\"" + t.shown() + "\" is not a " + (std::string(key) == "trigger" ? "trigger (choices: \"once\", \"availableNow\", or " : "processing time (") +
                     detail::interval_choices + ")");
      }
      if (s["output_mode"]) {
        st.output_mode = r.choice(s["output_mode"], sp + ".output_mode", {"append", "update", "complete"});
        st.output_mode_where = r.at(s["output_mode"], sp + ".output_mode");
      }
      if (s["watermark"]) {
        const auto w = r.scalar(s["watermark"], sp + ".watermark");
        st.watermark_where = w.where;
        const auto comma = w.value.find(',');
        std::string column = w.value.substr(0, comma);
        while (!column.empty() && column.back() == ' ') column.pop_back();
        while (!column.empty() && column.front() == ' ') column.erase(0, 1);
        const auto delay = comma == std::string::npos ? std::nullopt : detail::parse_interval(w.value.substr(comma + 1));
        if (column.empty() || !delay)
          r.fail(s["watermark"], sp + ".watermark",
                 "\"" + w.shown() + "\" is not a watermark (expected \"<event time column>, <delay>\" with the delay " +
                     detail::interval_choices + ", e.g. \"event_time, 10 minutes\")");
        st.watermark_column = column;
        st.watermark_delay = *delay;
      }
    }

    for (const char* which : {"read", "write"}) {
      const auto io = n[which];
      if (!io.IsDefined() || io.IsNull()) continue;
      const std::string ip = path + "." + which;
      r.only_keys(io, ip, {"connection", "format", "options", "table", "path"});
      io_config c;
      c.where = r.at(io, ip);
      const auto conn_node = r.need(io, "connection", ip);
      c.connection = r.text(conn_node, ip + ".connection");
      const auto it = out.connections.find(c.connection);
      if (it == out.connections.end()) {
        std::vector<std::string> known;
        for (const auto& [k, v] : out.connections) known.push_back(k);
        r.fail(conn_node, ip + ".connection",
               "no connection named '" + c.connection + "' (choices: " + (known.empty() ? "none: add it under connections" : detail::join(known)) + ")");
      }
      const auto fmt_node = r.need(io, "format", ip);
      c.format = r.choice(fmt_node, ip + ".format", detail::formats);
      const auto types = detail::connection_types_for(c.format);
      if (std::find(types.begin(), types.end(), it->second.type) == types.end())
        r.fail(fmt_node, ip + ".format",
               "format " + c.format + " cannot use connection '" + c.connection + "' of type " + it->second.type +
                   " (it takes connections of type " + detail::join(types, " or ") + ")");
      if (io["table"]) c.table = r.text(io["table"], ip + ".table");
      if (io["path"]) c.path = r.text(io["path"], ip + ".path");
      if (!c.table.empty() && !c.path.empty()) r.fail(io["path"], ip + ".path", "give either table or path, not both");
      if (const auto o = io["options"]; o.IsDefined() && !o.IsNull()) {
        r.expect_map(o, ip + ".options");
        for (const auto& kv : o) {
          const auto key = kv.first.as<std::string>();
          c.options[key] = r.scalar(kv.second, ip + ".options." + key);
        }
      }
      (std::string(which) == "read" ? nc.read : nc.write) = std::move(c);
    }

    if (const auto es = n["expectations"]; es.IsDefined() && !es.IsNull()) {
      if (!es.IsSequence()) r.fail(es, path + ".expectations", "expected a list of {name, policy}");
      for (std::size_t k = 0; k < es.size(); ++k) {
        const std::string ep = path + ".expectations[" + std::to_string(k) + "]";
        r.only_keys(es[k], ep, {"name", "policy"});
        expectation_config e;
        e.where = r.at(es[k], ep);
        e.name = r.text(r.need(es[k], "name", ep), ep + ".name");
        const auto policy = es[k]["policy"] ? r.choice(es[k]["policy"], ep + ".policy", {"warn", "drop", "fail"}) : "warn";
        e.policy = policy == "drop" ? expectation_policy::drop : policy == "fail" ? expectation_policy::fail : expectation_policy::warn;
        nc.expectations.push_back(std::move(e));
      }
    }
    out.nodes.push_back(std::move(nc));
  }
  return out;
}

// The file as loaded, for logs: environment references as written, never their values.
inline std::string describe(const pipeline_file& f) {
  std::string out = "pipeline file " + f.file + "\n";
  for (const auto& [name, c] : f.connections) {
    out += "  connection " + name + " (" + c.type + ")";
    for (const auto& [k, s] : c.settings) out += " " + k + "=" + s.shown();
    out += "\n";
  }
  for (const auto& n : f.nodes) {
    out += "  node " + n.name + " -> pipeline " + n.pipeline + (n.streaming.enabled ? "" : " (disabled)");
    if (n.read) out += ", read " + n.read->format + " from " + n.read->connection;
    if (n.write) out += ", write " + n.write->format + " to " + n.write->connection;
    if (!n.streaming.trigger_text.empty()) out += ", trigger " + n.streaming.trigger_text;
    out += "\n";
  }
  return out;
}

}  // namespace sluice::app_config
