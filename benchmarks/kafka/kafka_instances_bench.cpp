// Scale-out throughput over Kafka partitions (docs/scaling.md): one query run as 1 process and
// as 2 processes (source_options::instance = {i, 2}) over the same 6-partition topic.
//
//   Kafka (6 partitions, ~90-byte JSON events, 1,000 keys, each key in one partition)
//     -> decode_json -> group_by(key) -> count, sum(value) -> memory sink (update mode),
//   trigger available-now, batches of at most --per-batch offsets (200,000), a checkpoint per process.
//
// For each process count the topic is read from its start by fresh processes (this program
// run again as `--instance I --count N`), started together; the figure is every record over
// the wall time from the first start to the last exit (process start, broker connections and
// checkpoint commits included), best of --repeat. Each process also reports its own rate.
//
//   bench_kafka_instances --broker-dir DIR [--records 1000000] [--repeat 3] [--counts 1,2] [--per-batch 200000]
// Prints one JSON object.
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;

struct Event {
  std::int64_t id = 0;
  sl::timestamp ts;
  std::string key;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, ts, key, value))

namespace {
constexpr int partitions = 6;
constexpr int keys = 1000;

rd_kafka_t* producer(const std::string& bootstrap) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"bootstrap.servers", bootstrap}, {"linger.ms", "20"}, {"batch.num.messages", "10000"}})
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  return rk;
}

void create_topic(rd_kafka_t* rk, const std::string& topic) {
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (!ev || rd_kafka_event_error(ev)) throw std::runtime_error("cannot create topic " + topic);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

void fill(const std::string& bootstrap, const std::string& topic, std::int64_t n) {
  rd_kafka_t* rk = producer(bootstrap);
  create_topic(rk, topic);
  const std::int64_t base = 1704067200LL * 1000000;
  for (std::int64_t i = 0; i < n; ++i) {
    const int key = static_cast<int>(i % keys);
    const std::string v = sl::to_json_string(Event{i, sl::timestamp{base + i}, "k" + std::to_string(key), static_cast<double>(i % 100)});
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(key % partitions),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 5);
  }
  if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error("produce: flush failed");
  rd_kafka_destroy(rk);
}

auto pipeline(const std::string& bootstrap, const std::string& topic, int index, int count, std::int64_t per_batch) {
  return sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = per_batch,
                            .kafka = {{"bootstrap.servers", bootstrap}}, .instance = {index, count}}) |
         sl::kafka::decode_json<Event>() | sl::group_by(sl::col<"key">) |
         sl::aggregate(sl::count().as<"n">(), sl::sum(sl::col<"value">).as<"total">());
}

// One instance: prints "<records> <seconds>".
int run_instance(const std::string& bootstrap, const std::string& topic, int index, int count, const std::string& checkpoint,
                 std::int64_t per_batch) {
  std::int64_t records = 0;
  auto sink = sl::memory_sink<decltype(pipeline("", "", 0, 1, 1))::row_type>();
  const auto start = std::chrono::steady_clock::now();
  auto q = sl::start(pipeline(bootstrap, topic, index, count, per_batch) | sink, sl::output_mode::update,
                     {.trigger = sl::trigger::available_now(), .checkpoint = checkpoint});
  q.await_termination();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& p : q.recent_progress()) records += p.num_input_rows;
  std::printf("%lld %.6f\n", static_cast<long long>(records), s);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"records", "1000000"}, {"repeat", "3"}, {"counts", "1,2"}, {"per-batch", "200000"}};
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  try {
    if (a.count("instance"))
      return run_instance(a.at("bootstrap"), a.at("topic"), std::stoi(a.at("instance")), std::stoi(a.at("count")),
                          a.at("checkpoint"), std::stoll(a.at("per-batch")));
    std::string bootstrap;
    std::ifstream(fs::path(a.at("broker-dir")) / "bootstrap") >> bootstrap;
    const std::int64_t n = std::stoll(a.at("records"));
    const std::string topic = "bench-instances-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const auto produce_start = std::chrono::steady_clock::now();
    fill(bootstrap, topic, n);
    const double produce_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - produce_start).count();
    const fs::path work = fs::temp_directory_path() / ("sluice-bench-instances-" + std::to_string(getpid()));
    std::ostringstream json;
    json << "{\"records\": " << n << ", \"per_batch\": " << a.at("per-batch") << ", \"partitions\": " << partitions << ", \"keys\": " << keys
         << ", \"produce_s\": " << produce_s << ", \"runs\": [";
    std::stringstream counts(a.at("counts"));
    std::string c;
    bool first = true;
    while (std::getline(counts, c, ',')) {
      const int count = std::stoi(c);
      double best = 0;
      std::vector<double> best_each;
      for (int r = 0; r < std::stoi(a.at("repeat")); ++r) {
        fs::remove_all(work);
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::pair<pid_t, int>> children;  // pid, read end of its stdout
        for (int i = 0; i < count; ++i) {
          int fds[2];
          if (pipe(fds) != 0) throw std::runtime_error("pipe");
          const std::string ck = (work / std::to_string(i)).string(), index = std::to_string(i), cnt = std::to_string(count);
          const pid_t pid = fork();
          if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            execl("/proc/self/exe", argv[0], "--bootstrap", bootstrap.c_str(), "--topic", topic.c_str(), "--instance",
                  index.c_str(), "--count", cnt.c_str(), "--checkpoint", ck.c_str(), "--per-batch",
                  a.at("per-batch").c_str(), static_cast<char*>(nullptr));
            _exit(127);
          }
          close(fds[1]);
          children.push_back({pid, fds[0]});
        }
        std::int64_t total = 0;
        std::vector<double> each;
        for (auto [pid, fd] : children) {
          std::string out;
          char buf[256];
          for (ssize_t k; (k = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(k));
          close(fd);
          int status = 0;
          waitpid(pid, &status, 0);
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("an instance failed");
          std::istringstream in(out);
          long long rec = 0;
          double s = 0;
          in >> rec >> s;
          total += rec;
          each.push_back(static_cast<double>(rec) / s);
        }
        const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (total != n) throw std::runtime_error("the instances read " + std::to_string(total) + " records of " + std::to_string(n));
        const double rate = static_cast<double>(n) / wall_s;
        if (rate > best) best = rate, best_each = each;
      }
      json << (first ? "" : ", ") << "{\"processes\": " << count << ", \"records_per_s\": " << static_cast<long long>(best)
           << ", \"per_process_records_per_s\": [";
      for (std::size_t i = 0; i < best_each.size(); ++i) json << (i ? ", " : "") << static_cast<long long>(best_each[i]);
      json << "]}";
      first = false;
    }
    fs::remove_all(work);
    json << "]}";
    std::puts(json.str().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kafka_instances: %s\n", e.what());
    return 1;
  }
}
