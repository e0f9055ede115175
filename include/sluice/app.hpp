// sluice::app: an application of typed pipelines, configured from a YAML pipeline file at run
// time (seed 001 §1-§4). The pipelines stay C++ (one type per query, checked at compile
// time); the file binds each node to a registered pipeline, its read and write connections
// (Kafka, Event Hubs, Delta, local paths), its streaming settings (trigger, checkpoint,
// output mode, watermark) and its expectations' policies.
//
//   int main(int argc, char** argv) {
//     sl::app app("events_app");
//     app.pipeline("raw_events", {.reads = {"json"}, .writes = {"delta"}, .output_modes = {"append"}},
//                  [](sl::node& n) {
//                    auto events = sl::files::json_lines<Event>(n.read().location(), {...});
//                    return n.start(events | sl::delta::sink(n.write().location()), sl::output_mode::append);
//                  });
//     return app.main(argc, argv);   // my_app run pipeline.yaml | check pipeline.yaml | pipelines
//   }
//
// `run` starts every enabled node under one query_manager with the admin endpoint
// (<sluice/admin.hpp>; the file's `admin` section), shows a status line per query
// (manage/status_line.hpp), stops them all on SIGINT or SIGTERM, and exits when every query
// has ended: 0 if none failed. The file's format: app/config.hpp; docs/operations.md.
// CMake component sluice::app (yaml-cpp).
#pragma once
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin.hpp"
#include "app/config.hpp"
#include "manage/status_line.hpp"
#include "sluice.hpp"

namespace sluice {

// What a registered pipeline accepts from a pipeline file; an empty list accepts anything.
struct pipeline_spec {
  std::vector<std::string> reads{};         // formats: json, csv, delta, kafka, rate
  std::vector<std::string> writes{};        // formats
  std::vector<std::string> output_modes{};  // the mode(s) its node.start() uses
  std::vector<std::string> expectations{};  // names of the node.expect() it has
};

// One node of the file as the pipeline's build function sees it.
class node {
 public:
  // A read or write binding: its connection and where it points.
  class io {
   public:
    io(const app_config::io_config& c, const app_config::connection& conn) : cfg_(&c), conn_(&conn) {}
    const std::string& format() const { return cfg_->format; }
    const app_config::connection& connection() const { return *conn_; }
    // base_path of a local or delta connection joined with the node's path or table.
    std::filesystem::path location() const {
      std::filesystem::path base = conn_->value_or("base_path", "");
      const auto& rel = cfg_->table.empty() ? cfg_->path : cfg_->table;
      return rel.empty() ? base : base / rel;
    }
    const std::string& table() const { return cfg_->table; }
    std::optional<std::string> option(const std::string& key) const {
      const auto it = cfg_->options.find(key);
      if (it == cfg_->options.end()) return std::nullopt;
      return it->second.value;
    }
    std::string option(const std::string& key, std::string fallback) const { return option(key).value_or(std::move(fallback)); }
    // An integer option; an error names the line.
    std::int64_t int_option(const std::string& key, std::int64_t fallback) const {
      const auto it = cfg_->options.find(key);
      if (it == cfg_->options.end()) return fallback;
      try {
        std::size_t used = 0;
        const auto v = std::stoll(it->second.value, &used);
        if (used == it->second.value.size()) return v;
      } catch (const std::exception&) {
      }
      app_config::detail::reader::fail(it->second.where, "\"" + it->second.shown() + "\" is not an integer");
    }
    // librdkafka properties of a kafka or eventhubs connection (bootstrap.servers, security,
    // SASL; for Event Hubs its Kafka endpoint, as sl::kafka::eventhubs::properties makes them),
    // with the node's options named kafka.* added (Spark's names).
    std::map<std::string, std::string> kafka_properties() const {
      std::map<std::string, std::string> p;
      const auto& c = *conn_;
      if (c.type == "kafka") {
        p["bootstrap.servers"] = c.value_or("bootstrap_servers", "");
        if (const auto* s = c.get("security_protocol")) p["security.protocol"] = s->value;
        if (const auto* s = c.get("sasl_mechanism")) p["sasl.mechanisms"] = s->value;
        if (const auto* s = c.get("sasl_username")) p["sasl.username"] = s->value;
        if (const auto* s = c.get("sasl_password")) p["sasl.password"] = s->value;
        for (const auto& [k, s] : c.settings)
          if (k.rfind("options.", 0) == 0) p[k.substr(8)] = s.value;
      } else if (c.type == "eventhubs") {
        const std::string cs = c.value_or("connection_string", "");
        std::string host = c.value_or("bootstrap_servers", "");
        if (host.empty()) {
          const auto at = cs.find("Endpoint=sb://");
          if (at == std::string::npos)
            app_config::detail::reader::fail(c.get("connection_string")->where,
                                             "the connection string has no Endpoint=sb://<namespace>.servicebus.windows.net/ part");
          const auto from = at + 14;
          host = cs.substr(from, cs.find_first_of("/;", from) - from) + ":9093";
        }
        p = {{"bootstrap.servers", host},
             {"security.protocol", "SASL_SSL"},
             {"sasl.mechanisms", "PLAIN"},
             {"sasl.username", "$ConnectionString"},
             {"sasl.password", cs},
             {"group.id", c.value_or("consumer_group", "$Default")}};
      }
      for (const auto& [k, s] : cfg_->options)
        if (k.rfind("kafka.", 0) == 0) p[k.substr(6)] = s.value;
      return p;
    }
    const app_config::io_config& config() const { return *cfg_; }

   private:
    const app_config::io_config* cfg_;
    const app_config::connection* conn_;
  };

  node(const app_config::pipeline_file& file, const app_config::node_config& cfg, query_manager& manager)
      : file_(&file), cfg_(&cfg), manager_(&manager) {}

  const std::string& name() const { return cfg_->name; }
  const app_config::node_config& config() const { return *cfg_; }

  io read() const { return binding(cfg_->read, "read"); }
  io write() const { return binding(cfg_->write, "write"); }

  // The query's options from the file: the node's name, its trigger, its checkpoint.
  // `defaults` gives what the file leaves out.
  query_options options(query_options defaults = {}) const {
    defaults.name = cfg_->name;
    if (cfg_->streaming.trigger) defaults.trigger = *cfg_->streaming.trigger;
    if (!cfg_->streaming.checkpoint_location.empty()) defaults.checkpoint = cfg_->streaming.checkpoint_location;
    return defaults;
  }

  // sl::with_watermark on the pipeline's event-time column, with the file's delay (the file
  // may leave the watermark out: `default_delay` then; naming another column is an error).
  template <fixed_string Name, class Rep, class Period>
  auto with_watermark(col_t<Name> column, std::chrono::duration<Rep, Period> default_delay) const {
    duration delay = std::chrono::duration_cast<duration>(default_delay);
    const auto& st = cfg_->streaming;
    if (st.watermark_column) {
      if (*st.watermark_column != Name.view())
        app_config::detail::reader::fail(st.watermark_where, "column '" + *st.watermark_column + "': pipeline '" + cfg_->pipeline +
                                                                 "' puts its watermark on " + std::string(Name.view()) +
                                                                 " (write \"" + std::string(Name.view()) + ", <delay>\")");
      delay = st.watermark_delay;
    }
    return sluice::with_watermark(column, delay);
  }

  // sl::expect with the policy the file gives this expectation (else `default_policy`).
  template <class P>
  auto expect(std::string name, P&& pred, expectation_policy default_policy = expectation_policy::warn) const {
    expectation_policy policy = default_policy;
    for (const auto& e : cfg_->expectations)
      if (e.name == name) policy = e.policy;
    return sluice::expect(std::move(name), std::forward<P>(pred), policy);
  }

  // Starts the query under the application's manager with options(defaults).
  template <class Plan, output_mode_kind Mode>
  streaming_query start(Plan plan, output_mode_tag<Mode> mode, query_options defaults = {}) {
    const auto& st = cfg_->streaming;
    if (st.output_mode && *st.output_mode != to_string(Mode))
      app_config::detail::reader::fail(st.output_mode_where, "\"" + *st.output_mode + "\": pipeline '" + cfg_->pipeline +
                                                                 "' runs in " + std::string(to_string(Mode)) +
                                                                 " mode (choices: " + std::string(to_string(Mode)) + ")");
    return manager_->start(std::move(plan), mode, options(std::move(defaults)));
  }

 private:
  io binding(const std::optional<app_config::io_config>& c, const char* which) const {
    if (!c)
      app_config::detail::reader::fail(cfg_->where, "node '" + cfg_->name + "' has no " + which + " section, which pipeline '" +
                                                        cfg_->pipeline + "' needs");
    return io(*c, file_->connections.at(c->connection));
  }
  const app_config::pipeline_file* file_;
  const app_config::node_config* cfg_;
  query_manager* manager_;
};

namespace detail {
inline std::sig_atomic_t volatile app_signal = 0;
inline void app_on_signal(int sig) { app_signal = sig; }
}  // namespace detail

struct app_run_options {
  std::optional<unsigned short> admin_port{};  // overrides the file's
  bool admin = true;
  std::FILE* console = stderr;
  std::optional<bool> console_tty{};  // default: isatty
};

class app {
 public:
  using build_fn = std::function<streaming_query(node&)>;

  explicit app(std::string name) : name_(std::move(name)) {}

  // Registers a pipeline by name: `build` makes and starts its query for one node of a file
  // (node::start).
  app& pipeline(std::string name, pipeline_spec spec, build_fn build) {
    pipelines_[name] = {std::move(spec), std::move(build)};
    return *this;
  }
  app& pipeline(std::string name, build_fn build) { return pipeline(std::move(name), {}, std::move(build)); }

  // Loads a pipeline file and checks it against the registered pipelines; throws
  // app_config::config_error naming the file, line and key.
  app_config::pipeline_file check(const std::filesystem::path& file) const {
    auto f = app_config::load(file);
    for (const auto& n : f.nodes) {
      const auto it = pipelines_.find(n.pipeline);
      if (it == pipelines_.end())
        app_config::detail::reader::fail(n.pipeline_where, "no pipeline named '" + n.pipeline + "' in " + name_ +
                                                               " (choices: " + app_config::detail::join(names()) + ")");
      const auto& spec = it->second.spec;
      auto allowed = [&](const std::vector<std::string>& list, const std::string& v) {
        return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
      };
      const auto p = "pipeline '" + n.pipeline + "'";
      if (n.read && !allowed(spec.reads, n.read->format))
        app_config::detail::reader::fail(located(n.read->where, ".format"), "\"" + n.read->format + "\": " + p + " reads " +
                                                                                "(choices: " + app_config::detail::join(spec.reads) + ")");
      if (n.write && !allowed(spec.writes, n.write->format))
        app_config::detail::reader::fail(located(n.write->where, ".format"), "\"" + n.write->format + "\": " + p + " writes " +
                                                                                 "(choices: " + app_config::detail::join(spec.writes) + ")");
      if (n.streaming.output_mode && !allowed(spec.output_modes, *n.streaming.output_mode))
        app_config::detail::reader::fail(n.streaming.output_mode_where, "\"" + *n.streaming.output_mode + "\": " + p + " runs in " +
                                                                           "(choices: " + app_config::detail::join(spec.output_modes) + ")");
      for (const auto& e : n.expectations)
        if (!allowed(spec.expectations, e.name))
          app_config::detail::reader::fail(located(e.where, ".name"), "\"" + e.name + "\" is not an expectation of " + p +
                                                                         " (choices: " + app_config::detail::join(spec.expectations) + ")");
    }
    return f;
  }

  using run_options = app_run_options;

  // Starts every enabled node of the file and waits until all have ended (or a signal
  // stopped them). Returns 0 if none failed, 1 otherwise.
  int run(const std::filesystem::path& file, run_options o = {}) {
    const auto f = check(file);
    std::fprintf(o.console, "%s: %s", name_.c_str(), app_config::describe(f).c_str());
    query_manager streams;
    std::optional<admin_server> admin;
    if (o.admin && f.admin.enabled) {
      admin.emplace(streams, admin_options{.address = f.admin.bind,
                                           .port = o.admin_port.value_or(f.admin.port),
                                           .bearer_token = f.admin.token.value});
      std::fprintf(o.console, "%s: admin endpoint %s\n", name_.c_str(), admin->url().c_str());
      std::fflush(o.console);
    }
    console_status status(streams, o.console, o.console_tty);
    detail::app_signal = 0;
    auto old_int = std::signal(SIGINT, detail::app_on_signal);
    auto old_term = std::signal(SIGTERM, detail::app_on_signal);
    int started = 0;
    bool failed = false;
    for (const auto& n : f.nodes) {
      if (!n.streaming.enabled) continue;
      node ctx(f, n, streams);
      try {
        pipelines_.at(n.pipeline).build(ctx);
        ++started;
      } catch (const std::exception& e) {
        std::fprintf(o.console, "%s: node %s (%s): %s\n", name_.c_str(), n.name.c_str(), n.where.text().c_str(), e.what());
        failed = true;
        break;
      }
    }
    if (failed)
      for (auto& q : streams.active()) q.stop();
    while (!streams.active().empty()) {
      if (detail::app_signal != 0) {
        std::fprintf(o.console, "%s: signal %d: stopping every query\n", name_.c_str(), static_cast<int>(detail::app_signal));
        for (auto& q : streams.active()) q.stop();
        break;
      }
      streams.await_any_termination(std::chrono::milliseconds(200));
      streams.reset_terminated();
    }
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    status.stop();
    // A POST .../stop that ended the last query is answered once the query ended: let that
    // answer leave before the endpoint closes.
    if (admin) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (const auto& q : streams.queries()) {
      if (q.exception) {
        failed = true;
        std::fprintf(o.console, "%s: query %s failed: %s\n", name_.c_str(), q.name.c_str(), q.exception->c_str());
      }
    }
    std::fprintf(o.console, "%s: %d queries ran, %s\n", name_.c_str(), started, failed ? "some failed" : "all ended");
    std::fflush(o.console);
    return failed ? 1 : 0;
  }

  // The command line: `run FILE [--admin-port N] [--no-admin]`, `check FILE`, `pipelines`.
  // Exit status: 0 done, 1 a query failed, 2 bad usage or a config error.
  int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const std::string usage = "usage: " + name_ + " run FILE [--admin-port N] [--no-admin] | check FILE | pipelines\n";
    try {
      if (args.empty()) {
        std::cerr << usage;
        return 2;
      }
      if (args[0] == "pipelines" && args.size() == 1) {
        for (const auto& n : names()) std::cout << n << "\n";
        return 0;
      }
      if (args[0] == "check" && args.size() == 2) {
        check(args[1]);
        std::cout << args[1] << ": ok\n";
        return 0;
      }
      if (args[0] == "run" && args.size() >= 2) {
        run_options o;
        for (std::size_t i = 2; i < args.size(); ++i) {
          if (args[i] == "--no-admin") {
            o.admin = false;
          } else if (args[i] == "--admin-port" && i + 1 < args.size()) {
            o.admin_port = static_cast<unsigned short>(std::stoi(args[++i]));
          } else {
            std::cerr << name_ << ": unknown option " << args[i] << "\n" << usage;
            return 2;
          }
        }
        return run(args[1], o);
      }
      std::cerr << usage;
      return 2;
    } catch (const app_config::config_error& e) {
      std::cerr << name_ << ": " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << name_ << ": " << e.what() << "\n";
      return 1;
    }
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : pipelines_) out.push_back(k);
    return out;
  }

 private:
  static app_config::location located(app_config::location l, const std::string& suffix) {
    l.path += suffix;
    return l;
  }
  struct registered {
    pipeline_spec spec;
    build_fn build;
  };
  std::string name_;
  std::map<std::string, registered> pipelines_;
};

}  // namespace sluice
