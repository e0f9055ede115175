// The pipeline file of sl::app (app/config.hpp, app.hpp): every error names the file, the line
// and the key path with the choices allowed; ${ENV} values are substituted and never shown.
#include <sluice/app.hpp>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace sl = sluice;
namespace cfg = sluice::app_config;
namespace fs = std::filesystem;

namespace {
std::map<std::string, std::string> env_vars = {{"KAFKA_PASSWORD", "hunter2-secret"}, {"BASE", "/data/lake"}, {"PORT", "99999"}};

cfg::detail::reader::env_fn fake_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const auto it = env_vars.find(name);
    return it == env_vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

fs::path write_yaml(const std::string& name, const std::string& text) {
  const auto dir = fs::temp_directory_path() / ("sluice-app-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto p = dir / name;
  std::ofstream(p) << text;
  return p;
}

// The error of loading `text`, without the file's directory.
std::string load_error(const std::string& text) {
  const auto p = write_yaml("pipeline.yaml", text);
  try {
    cfg::load(p, fake_env());
  } catch (const cfg::config_error& e) {
    std::string m = e.what();
    const auto dir = p.parent_path().string() + "/";
    if (m.rfind(dir, 0) == 0) m.erase(0, dir.size());
    return m;
  }
  return "no error";
}

const std::string good = R"(connections:
  landing: {type: local, base_path: "${BASE}"}
  bus:
    type: kafka
    bootstrap_servers: "broker:9092"
    sasl_username: app
    sasl_password: "${KAFKA_PASSWORD}"
nodes:
  - name: ingest
    pipeline: copy
    streaming:
      checkpoint_location: ck/ingest
      trigger: "10 seconds"
      output_mode: append
      watermark: "ts, 2 minutes"
    read: {connection: landing, format: json, path: in, options: {max_files_per_trigger: 2}}
    write: {connection: landing, format: json, path: out}
    expectations:
      - {name: positive, policy: drop}
)";

// `good` with one piece of it replaced.
std::string with(const std::string& from, const std::string& to) {
  std::string t = good;
  const auto at = t.find(from);
  REQUIRE(at != std::string::npos);
  t.replace(at, from.size(), to);
  return t;
}
}  // namespace

TEST_CASE("app config: a good file, with environment values", "[app]") {
  const auto f = cfg::load(write_yaml("good.yaml", good), fake_env());
  REQUIRE(f.nodes.size() == 1);
  const auto& n = f.nodes[0];
  CHECK(n.name == "ingest");
  CHECK(n.pipeline == "copy");
  CHECK(n.streaming.trigger->kind == sl::trigger_kind::processing_time);
  CHECK(n.streaming.trigger->interval == std::chrono::seconds(10));
  CHECK(*n.streaming.output_mode == "append");
  CHECK(*n.streaming.watermark_column == "ts");
  CHECK(n.streaming.watermark_delay == std::chrono::minutes(2));
  CHECK(n.read->options.at("max_files_per_trigger").value == "2");
  CHECK(n.expectations.at(0).policy == sl::expectation_policy::drop);
  CHECK(f.connections.at("landing").get("base_path")->value == "/data/lake");
  CHECK(f.connections.at("bus").get("sasl_password")->value == "hunter2-secret");
  // The file as described for logs: references as written, never the values.
  const auto text = cfg::describe(f);
  CHECK_THAT(text, Catch::Contains("sasl_password=${KAFKA_PASSWORD}"));
  CHECK_THAT(text, !Catch::Contains("hunter2"));
  CHECK_THAT(text, Catch::Contains("base_path=${BASE}"));
}

TEST_CASE("app config: errors name the file, line, key path and choices", "[app]") {
  CHECK(load_error(with("trigger: \"10 seconds\"", "trigger: \"10 secs\"")) ==
        "pipeline.yaml:13: nodes[0].streaming.trigger: \"10 secs\" is not a trigger (choices: \"once\", \"availableNow\", "
        "or an interval such as \"10 seconds\", \"1 minute\", \"500 milliseconds\")");
  CHECK(load_error(with("output_mode: append", "output_mode: upsert")) ==
        "pipeline.yaml:14: nodes[0].streaming.output_mode: \"upsert\" is not allowed (choices: append, update, complete)");
  CHECK(load_error(with("watermark: \"ts, 2 minutes\"", "watermark: \"ts\"")) ==
        "pipeline.yaml:15: nodes[0].streaming.watermark: \"ts\" is not a watermark (expected \"<event time column>, "
        "<delay>\" with the delay an interval such as \"10 seconds\", \"1 minute\", \"500 milliseconds\", e.g. "
        "\"event_time, 10 minutes\")");
  CHECK(load_error(with("read: {connection: landing", "read: {connection: lake")) ==
        "pipeline.yaml:16: nodes[0].read.connection: no connection named 'lake' (choices: bus, landing)");
  CHECK(load_error(with("format: json, path: out", "format: kafka, path: out")) ==
        "pipeline.yaml:17: nodes[0].write.format: format kafka cannot use connection 'landing' of type local (it takes "
        "connections of type kafka or eventhubs)");
  CHECK(load_error(with("format: json, path: in", "format: parquet, path: in")) ==
        "pipeline.yaml:16: nodes[0].read.format: \"parquet\" is not allowed (choices: json, csv, delta, kafka, rate)");
  CHECK(load_error(with("    pipeline: copy\n", "    pipeline: copy\n    pipline: x\n")) ==
        "pipeline.yaml:11: nodes[0].pipline: unknown key 'pipline' (choices: name, pipeline, streaming, read, write, "
        "expectations)");
  CHECK(load_error(with("policy: drop", "policy: quarantine")) ==
        "pipeline.yaml:19: nodes[0].expectations[0].policy: \"quarantine\" is not allowed (choices: warn, drop, fail)");
  CHECK(load_error(with("type: kafka", "type: pulsar")) ==
        "pipeline.yaml:4: connections.bus.type: \"pulsar\" is not allowed (choices: local, delta, kafka, eventhubs)");
  CHECK(load_error(with("    sasl_username: app\n", "    sasl_user: app\n")) ==
        "pipeline.yaml:6: connections.bus.sasl_user: unknown key 'sasl_user' (choices: type, bootstrap_servers, "
        "security_protocol, sasl_mechanism, sasl_username, sasl_password, options)");
  CHECK(load_error(with("      checkpoint_location: ck/ingest\n", "      checkpoint_location: [a, b]\n")) ==
        "pipeline.yaml:12: nodes[0].streaming.checkpoint_location: expected a single value (text, number or true/false)");
  CHECK(load_error(with("  - name: ingest\n", "  - name: ingest\n    enabled: true\n")) ==
        "pipeline.yaml:10: nodes[0].enabled: unknown key 'enabled' (choices: name, pipeline, streaming, read, write, "
        "expectations)");
  CHECK(load_error(with("read: {connection: landing, format: json, path: in, options: {max_files_per_trigger: 2}}",
                        "read: {connection: landing, format: json, path: in")) .rfind("pipeline.yaml:", 0) == 0);
  CHECK_THAT(load_error(with("read: {connection: landing, format: json, path: in, options: {max_files_per_trigger: 2}}",
                             "read: {connection: landing, format: json, path: in")),
             Catch::Contains("not valid YAML"));
  CHECK(load_error("nodes: []\nadmin: {port: \"${PORT}\"}\n") ==
        "pipeline.yaml:2: admin.port: \"${PORT}\" is not a port (0 to 65535; 0: any free port)");
  CHECK(load_error(with("\"${KAFKA_PASSWORD}\"", "\"${KAFKA_PASSWD}\"")) ==
        "pipeline.yaml:7: connections.bus.sasl_password: the environment variable KAFKA_PASSWD is not set");
  CHECK(load_error("connections: {}\n") == "pipeline.yaml:1: nodes: missing: the file has no nodes");
}

TEST_CASE("app: a file is checked against the registered pipelines", "[app]") {
  sl::app app("test_app");
  app.pipeline("copy", {.reads = {"json"}, .writes = {"json", "csv"}, .output_modes = {"append"}, .expectations = {"positive"}},
               [](sl::node&) -> sl::streaming_query { throw std::logic_error("not run"); });
  app.pipeline("other", [](sl::node&) -> sl::streaming_query { throw std::logic_error("not run"); });
  const auto base = write_yaml("good.yaml", good).parent_path();
  // check() uses the process environment.
  ::setenv("BASE", "/data/lake", 1);
  ::setenv("KAFKA_PASSWORD", "hunter2-secret", 1);
  auto error = [&](const std::string& text) {
    const auto p = write_yaml("check.yaml", text);
    try {
      app.check(p);
    } catch (const cfg::config_error& e) {
      std::string m = e.what();
      return m.substr(base.string().size() + 1);
    }
    return std::string("no error");
  };
  CHECK(error(good) == "no error");
  CHECK(error(with("pipeline: copy", "pipeline: cpy")) ==
        "check.yaml:10: nodes[0].pipeline: no pipeline named 'cpy' in test_app (choices: copy, other)");
  CHECK(error(with("format: json, path: in", "format: csv, path: in")) ==
        "check.yaml:16: nodes[0].read.format: \"csv\": pipeline 'copy' reads (choices: json)");
  CHECK(error(with("output_mode: append", "output_mode: complete")) ==
        "check.yaml:14: nodes[0].streaming.output_mode: \"complete\": pipeline 'copy' runs in (choices: append)");
  CHECK(error(with("name: positive", "name: postive")) ==
        "check.yaml:19: nodes[0].expectations[0].name: \"postive\" is not an expectation of pipeline 'copy' (choices: "
        "positive)");
}

TEST_CASE("app: a node's Kafka and Event Hubs connections as librdkafka properties", "[app]") {
  const auto f = cfg::load(write_yaml("kafka.yaml", R"(connections:
  bus:
    type: kafka
    bootstrap_servers: "broker:9092"
    security_protocol: SASL_SSL
    sasl_mechanism: SCRAM-SHA-512
    sasl_username: app
    sasl_password: "${KAFKA_PASSWORD}"
    options: {client.id: sluice-app}
  hubs:
    type: eventhubs
    connection_string: "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=${KAFKA_PASSWORD}"
    consumer_group: readers
nodes:
  - name: from_kafka
    read: {connection: bus, format: kafka, options: {subscribe: events, kafka.fetch.min.bytes: "1024"}}
    write: {connection: hubs, format: kafka}
)"),
                           fake_env());
  sl::query_manager streams;
  const sl::node n(f, f.nodes.at(0), streams);
  CHECK(n.read().kafka_properties() == std::map<std::string, std::string>{{"bootstrap.servers", "broker:9092"},
                                                                          {"security.protocol", "SASL_SSL"},
                                                                          {"sasl.mechanisms", "SCRAM-SHA-512"},
                                                                          {"sasl.username", "app"},
                                                                          {"sasl.password", "hunter2-secret"},
                                                                          {"client.id", "sluice-app"},
                                                                          {"fetch.min.bytes", "1024"}});
  CHECK(n.read().option("subscribe") == "events");
  const auto hubs = n.write().kafka_properties();
  CHECK(hubs.at("bootstrap.servers") == "ns1.servicebus.windows.net:9093");
  CHECK(hubs.at("sasl.username") == "$ConnectionString");
  CHECK(hubs.at("sasl.password") ==
        "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=hunter2-secret");
  CHECK(hubs.at("group.id") == "readers");
  CHECK_THAT(cfg::describe(f), !Catch::Contains("hunter2"));
}
