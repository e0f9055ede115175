// Event Hubs' Kafka settings against the local broker's SASL_SSL PLAIN listener (a CA made by
// scripts/kafka.sh; no cloud is reachable): the connection string as the PLAIN password of
// "$ConnectionString", and never in errors or descriptions.
#include "kafka_test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

using namespace kafka_test;

namespace {
std::string connection_string() {
  std::ifstream in(fs::path(broker_dir()) / "users.txt");
  std::string user, password;
  while (in >> user && std::getline(in >> std::ws, password))
    if (user == "$ConnectionString") return password;
  FAIL("no $ConnectionString user in users.txt");
  return {};
}
}  // namespace

TEST_CASE("event hubs: the properties Event Hubs expects", "[config]") {
  const auto p = sl::kafka::eventhubs::properties(
      {.connection_string = "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s3cret",
       .consumer_group = "$Default"});
  CHECK(p.at("bootstrap.servers") == "ns1.servicebus.windows.net:9093");
  CHECK(p.at("security.protocol") == "SASL_SSL");
  CHECK(p.at("sasl.mechanisms") == "PLAIN");
  CHECK(p.at("sasl.username") == "$ConnectionString");
  CHECK(p.at("group.id") == "$Default");
  CHECK_THROWS_WITH(sl::kafka::eventhubs::properties({.connection_string = "SharedAccessKey=s3cret"}),
                    Catch::Contains("no Endpoint") && !Catch::Contains("s3cret"));
  const auto o = sl::kafka::source_options_from_json(boost::json::parse(R"({"subscribe": "eh",
      "eventhubs.connectionString": "Endpoint=sb://ns2.servicebus.windows.net/;SharedAccessKey=s3cret",
      "eventhubs.consumerGroup": "cg"})").as_object());
  CHECK(o.kafka.at("bootstrap.servers") == "ns2.servicebus.windows.net:9093");
  CHECK(o.kafka.at("group.id") == "cg");
  CHECK(sl::kafka::source(o).description().find("s3cret") == std::string::npos);
}

TEST_CASE("event hubs: read and write through a SASL_SSL PLAIN listener", "[sasl]") {
  const auto topic = unique("eh");
  create_topic(topic, 1);
  produce_values(topic, {"one", "two"});
  auto secure = sl::kafka::eventhubs::properties({.connection_string = connection_string(),
                                                  .consumer_group = unique("eh-group"),
                                                  .bootstrap_servers = read_line(fs::path(broker_dir()) / "sasl_bootstrap")});
  secure["ssl.ca.location"] = (fs::path(broker_dir()) / "ca.pem").string();
  auto mem = sl::memory_sink<sl::kafka::record>();
  const auto ck = scratch("eh");
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = secure}) | mem,
                     sl::output_mode::append, {.trigger = sl::trigger::available_now(), .checkpoint = ck.string()});
  q.await_termination();
  REQUIRE(mem.rows().size() == 2);
  CHECK(*mem.rows()[1].value == "two");
  // The secret is nowhere in the checkpoint, nor in the query's progress.
  for (const auto& e : fs::recursive_directory_iterator(ck))
    if (e.is_regular_file()) CHECK(sl::read_whole_file(e.path()).find("SharedAccessKey") == std::string::npos);
  REQUIRE_FALSE(q.recent_progress().empty());
  for (const auto& p : q.recent_progress()) CHECK(p.json().find("SharedAccessKey") == std::string::npos);

  // The sink, exactly once, through the same listener.
  const auto out = unique("eh-out");
  create_topic(out, 1);
  sl::memory_stream<sl::kafka::record> in;
  in.add_data(mem.rows());
  auto q2 = sl::start(in | sl::map([](const sl::kafka::record& r) { return sl::kafka::header{"k", r.value}; }) |
                          sl::kafka::sink({.topic = out, .guarantee = sl::kafka::delivery::exactly_once, .kafka = secure}),
                      sl::output_mode::append, {.checkpoint = scratch("eh-sink").string()});
  q2.process_all_available();
  q2.stop();
  CHECK(consume_all(out).size() == 2);
  for (const auto& p : q2.recent_progress()) CHECK(p.json().find("SharedAccessKey") == std::string::npos);

  // A wrong password fails, and the error does not show it.
  // Nor does the log: librdkafka writes its own (the failed authentication) to stderr.
  auto wrong = secure;
  wrong["sasl.password"] = "Endpoint=sb://x/;SharedAccessKey=wrong-s3cret";
  wrong["group.id"] = unique("eh-wrong");
  const auto log_file = scratch("eh-log") / "stderr.txt";
  std::fflush(stderr);
  const int saved_stderr = dup(2);
  const int log_fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(log_fd >= 0);
  dup2(log_fd, 2);
  std::string error;
  {
    auto q3 = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest",
                                           .poll_timeout = std::chrono::seconds(5), .kafka = wrong}) |
                            sl::memory_sink<sl::kafka::record>(),
                        sl::output_mode::append, {.trigger = sl::trigger::available_now()});
    try {
      q3.await_termination();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  std::fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  close(log_fd);
  CHECK_FALSE(error.empty());  // a wrong password is not accepted
  CHECK(error.find("wrong-s3cret") == std::string::npos);
  const std::string log = sl::read_whole_file(log_file);
  CHECK(log.find("SASL") != std::string::npos);  // the log was captured
  CHECK(log.find("wrong-s3cret") == std::string::npos);
}
