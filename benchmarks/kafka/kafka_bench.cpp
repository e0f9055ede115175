// Kafka benchmarks against a real broker (scripts/kafka.sh start), two parts:
//
//  consume   records/s (one partition, ~100-byte JSON values) of sl::kafka::source -> foreach_batch
//            (every record gathered into the batch buffer; one batch, and five batches) and
//            sl::kafka::source -> a global count aggregation (nothing gathered), against
//            librdkafka's own consumer loop (create the consumer, assign, poll to the end,
//            touch every payload, close it: the query's time includes its source's consumers
//            starting and closing too; "ratio_to_the_loop_alone" leaves them out of the loop's); the
//            same queue setting; per message with rd_kafka_consumer_poll, and in batches with
//            rd_kafka_consume_batch_queue as the source reads) on the same topic and broker in
//            the same run; each measured --repeat times in turn: the ratio of each repetition
//            (against the per-record loop of that repetition), their median and spread.
//  partitions  (--partitions N, N > 1) the same records spread over an N-partition topic, read
//            with each query parallelism of --parallelism (default 1,2): sl::kafka::source ->
//            foreach_batch, and -> decode_json -> group_by(key) -> count (update mode); wall
//            records/s and CPU ns per record of each, and the ratio of each parallelism's wall
//            rate to parallelism 1's in the same repetition.
//  e2e       Kafka -> decode_json -> 1-second windows per key (update mode, 2 s watermark) ->
//            exactly-once Kafka sink, with events produced at a fixed rate for --seconds; a
//            read_committed consumer takes each output row's newest event (max of the produce
//            timestamps in it) and measures produce -> committed-output latency: p50 / p99.
//            Run at each of --rates; the highest rate whose p99 stays under 2 s is "sustained".
//
//   bench_kafka --broker-dir DIR [--records 1000000] [--repeat 3] [--rates 5000,20000,50000] [--seconds 10]
//               [--trigger-ms 0] [--polling-delay-ms 10] [--source-fetch-wait-ms 0] [--at-least-once]
//               [--partitions 6 [--parallelism 1,2]]   (--records 0: no consume part)
// Prints one JSON object with every figure.
#include <sluice/kafka.hpp>
#include <sluice/sluice.hpp>

#include <librdkafka/rdkafka.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sl = sluice;
using namespace std::chrono_literals;
using wall = std::chrono::system_clock;

struct Event {
  std::int64_t id = 0;
  sl::timestamp ts;
  std::string key;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(Event, (), (id, ts, key, value))

namespace {
std::string bootstrap;

rd_kafka_t* client(rd_kafka_type_t type, std::map<std::string, std::string> props) {
  char err[512];
  props["bootstrap.servers"] = bootstrap;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) throw std::runtime_error(err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  return rk;
}

// CPU time of this process (every thread: librdkafka's too; not the broker's), in seconds.
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
double cpu_at_start = 0, last_cpu_ns = 0;  // CPU ns per record of the last reader run

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(wall::now().time_since_epoch()).count();
}

std::string event_json(std::int64_t i, std::int64_t ts_us) {
  return sl::to_json_string(Event{i, sl::timestamp{ts_us}, "k" + std::to_string(i % 16), static_cast<double>(i % 100)});
}

void produce_records(const std::string& topic, std::int64_t n, int partitions = 1) {
  rd_kafka_t* rk = client(RD_KAFKA_PRODUCER, {{"linger.ms", "20"}, {"batch.num.messages", "10000"}});
  const std::int64_t base = now_us();
  for (std::int64_t i = 0; i < n; ++i) {
    std::string v = event_json(i, base + i);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(static_cast<std::int32_t>(i % partitions)),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(v.data(), v.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 5);
  }
  rd_kafka_flush(rk, 120000);
  rd_kafka_destroy(rk);
}

// librdkafka alone: assign the partition from 0, poll until every record was seen. With the
// source's queue setting: at librdkafka's default queued.min.messages a loop that falls behind
// the fetcher now and then idles a second (see docs/kafka.md, Throughput).
// batch: rd_kafka_consume_batch_queue (up to 1024 a call) instead of rd_kafka_consumer_poll, as
// the source reads.
// Timed from creating the consumer to destroying it, as the query's figures include starting
// and stopping its source's consumers; last_loop_rate leaves them out (the loop alone).
double last_loop_rate = 0;
double raw_consume(const std::string& topic, std::int64_t n, bool batch = false) {
  cpu_at_start = process_cpu_s();
  const auto whole = std::chrono::steady_clock::now();
  rd_kafka_t* rk = client(RD_KAFKA_CONSUMER,
                          {{"group.id", "bench-raw"}, {"enable.auto.commit", "false"}, {"queued.min.messages", "1000000"}});
  const auto start = std::chrono::steady_clock::now();
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic.c_str(), 0)->offset = 0;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  std::int64_t seen = 0, bytes = 0;
  auto take = [&](rd_kafka_message_t* m) {
    if (!m->err) {
      ++seen;
      bytes += static_cast<std::int64_t>(m->len) + static_cast<const char*>(m->payload)[0];
    }
    rd_kafka_message_destroy(m);
  };
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
  std::vector<rd_kafka_message_t*> got(1024);
  while (seen < n) {
    if (batch) {
      const ssize_t k = rd_kafka_consume_batch_queue(queue, 100, got.data(), got.size());
      for (ssize_t i = 0; i < k; ++i) take(got[static_cast<std::size_t>(i)]);
    } else if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100)) {
      take(m);
    }
  }
  rd_kafka_queue_destroy(queue);
  last_loop_rate = static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - whole).count();
  last_cpu_ns = (process_cpu_s() - cpu_at_start) * 1e9 / static_cast<double>(n);
  if (bytes == 0) std::puts("");
  return static_cast<double>(n) / s;
}

// sl::kafka::source -> foreach_batch, trigger available-now: one batch of all n records, or
// batches of at most `per_batch` (max_offsets_per_trigger; the engine reuses its batch buffer).
double sluice_consume(const std::string& topic, std::int64_t n, std::optional<std::int64_t> per_batch = std::nullopt) {
  std::int64_t seen = 0;
  cpu_at_start = process_cpu_s();
  const auto start = std::chrono::steady_clock::now();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .max_offsets_per_trigger = per_batch,
                                        .kafka = {{"bootstrap.servers", bootstrap}}}) |
                         sl::foreach_batch([&](std::span<const sl::kafka::record> rows, std::int64_t) {
                           seen += static_cast<std::int64_t>(rows.size());
                         }),
                     sl::output_mode::append, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_cpu_ns = (process_cpu_s() - cpu_at_start) * 1e9 / static_cast<double>(n);
  if (seen != n) throw std::runtime_error("sluice read " + std::to_string(seen) + " records of " + std::to_string(n));
  return static_cast<double>(n) / s;
}

// sl::kafka::source -> a global count aggregation (complete mode), trigger available-now: the
// records are counted as they are read, never gathered into a batch buffer.
double sluice_count(const std::string& topic, std::int64_t n) {
  std::int64_t counted = 0;
  cpu_at_start = process_cpu_s();
  const auto start = std::chrono::steady_clock::now();
  auto q = sl::start(sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = {{"bootstrap.servers", bootstrap}}}) |
                         sl::aggregate(sl::count().as<"n">()) | sl::foreach_batch([&](auto rows, std::int64_t) {
                           for (const auto& r : rows) counted = static_cast<std::int64_t>(sl::get<"n">(r));
                         }),
                     sl::output_mode::complete, {.trigger = sl::trigger::available_now()});
  q.await_termination();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_cpu_ns = (process_cpu_s() - cpu_at_start) * 1e9 / static_cast<double>(n);
  if (counted != n) throw std::runtime_error("sluice counted " + std::to_string(counted) + " records of " + std::to_string(n));
  return static_cast<double>(n) / s;
}

void create_topic(const std::string& topic, int partitions) {
  rd_kafka_t* rk = client(RD_KAFKA_PRODUCER, {});
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000)) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  std::this_thread::sleep_for(1s);  // leaders settle
}

// The partitioned topic read with query parallelism p: every record gathered (foreach_batch),
// or decoded and counted per key (the engine's partial aggregation per partition, then the
// exchange into state partitions). One batch, trigger available-now.
// --source-fetch-wait-ms applies here too (fetch.wait.max.ms of the reading consumers).
int partitioned_fetch_wait_ms = 0;
double partitioned_consume(const std::string& topic, std::int64_t n, std::size_t p, bool aggregate) {
  std::int64_t seen = 0;
  cpu_at_start = process_cpu_s();
  const auto start = std::chrono::steady_clock::now();
  sl::kafka::properties props{{"bootstrap.servers", bootstrap}};
  if (partitioned_fetch_wait_ms > 0) props["fetch.wait.max.ms"] = std::to_string(partitioned_fetch_wait_ms);
  auto source = sl::kafka::source({.subscribe = {topic}, .starting_offsets = "earliest", .kafka = props});
  if (aggregate) {
    auto q = sl::start(std::move(source) | sl::kafka::decode_json<Event>() | sl::group_by(sl::col<"key">) |
                           sl::aggregate(sl::count().as<"n">()) | sl::foreach_batch([&](auto rows, std::int64_t) {
                             for (const auto& r : rows) seen += static_cast<std::int64_t>(sl::get<"n">(r));
                           }),
                       sl::output_mode::update, {.trigger = sl::trigger::available_now(), .parallelism = p});
    q.await_termination();
  } else {
    auto q = sl::start(std::move(source) | sl::foreach_batch([&](std::span<const sl::kafka::record> rows, std::int64_t) {
                         seen += static_cast<std::int64_t>(rows.size());
                       }),
                       sl::output_mode::append, {.trigger = sl::trigger::available_now(), .parallelism = p});
    q.await_termination();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_cpu_ns = (process_cpu_s() - cpu_at_start) * 1e9 / static_cast<double>(n);
  if (seen != n) throw std::runtime_error("sluice read " + std::to_string(seen) + " records of " + std::to_string(n));
  return static_cast<double>(n) / s;
}

struct e2e_result {
  double rate = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::int64_t samples = 0;
  // Where the time of the query's batches went (progress durationMs): the slowest batch's
  // phases, and the 99th percentile of triggerExecution.
  std::int64_t batches = 0, batch_p99_ms = 0;
  std::map<std::string, std::int64_t> slowest_batch_ms;
};

// The end-to-end query's settings: --trigger-ms (0: the default trigger, a batch as soon as the
// last one ended, polling every --polling-delay-ms while idle; else a processing-time trigger)
// and --source-fetch-wait-ms (the source consumer's fetch.wait.max.ms; 0: librdkafka's 500).
int trigger_ms = 0, polling_delay_ms = 10, source_fetch_wait_ms = 0;
bool at_least_once = false;  // --at-least-once: the sink without transactions (where the time goes)

e2e_result end_to_end(double rate, int seconds, int run) {
  const std::string in = "bench-e2e-in-" + std::to_string(run) + "-" + std::to_string(now_us());
  const std::string out = "bench-e2e-out-" + std::to_string(run) + "-" + std::to_string(now_us());
  produce_records(in, 0);
  sl::kafka::properties source_props{{"bootstrap.servers", bootstrap}};
  if (source_fetch_wait_ms > 0) source_props["fetch.wait.max.ms"] = std::to_string(source_fetch_wait_ms);
  auto windows = sl::kafka::source({.subscribe = {in}, .kafka = source_props}) |
                 sl::kafka::decode_json<Event>() | sl::with_watermark(sl::col<"ts">, 2s) |
                 sl::group_by(sl::window(sl::col<"ts">, 1s), sl::col<"key">) |
                 sl::aggregate(sl::count().as<"n">(), sl::max(sl::col<"ts">).as<"last">());
  auto q = sl::start(windows | sl::kafka::sink({.topic = out, .guarantee = at_least_once ? sl::kafka::delivery::at_least_once
                                                                          : sl::kafka::delivery::exactly_once,
                                                .kafka = {{"bootstrap.servers", bootstrap}, {"linger.ms", "1"}}}),
                     sl::output_mode::update,
                     {.trigger = trigger_ms > 0 ? sl::trigger::processing_time(std::chrono::milliseconds(trigger_ms))
                                                : sl::trigger::micro_batch(),
                      .checkpoint = "bench-e2e-checkpoints/" + in,
                      .progress_retention = 1000000,
                      .polling_delay = std::chrono::milliseconds(polling_delay_ms)});
  // The reader of committed output.
  std::atomic<bool> stop{false};
  std::vector<double> latencies;
  std::thread reader([&] {
    rd_kafka_t* rk = client(RD_KAFKA_CONSUMER, {{"group.id", "bench-e2e-reader"}, {"isolation.level", "read_committed"},
                                                {"fetch.wait.max.ms", "5"}, {"topic.metadata.refresh.interval.ms", "500"}});
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, out.c_str(), 0)->offset = 0;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (!stop) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
      if (!m) continue;
      if (!m->err) {
        const auto v = boost::json::parse(std::string_view(static_cast<const char*>(m->payload), m->len));
        const auto last = sl::parse_timestamp(v.at("last").as_string());
        if (last) latencies.push_back(static_cast<double>(now_us() - last->micros) / 1000.0);
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  });
  // Warm-up: the first transaction and the query's first batches.
  std::this_thread::sleep_for(5s);
  rd_kafka_t* producer = client(RD_KAFKA_PRODUCER, {{"linger.ms", "1"}});
  const auto begin = std::chrono::steady_clock::now();
  const std::int64_t total = static_cast<std::int64_t>(rate * seconds);
  for (std::int64_t i = 0; i < total; ++i) {
    const auto due = begin + std::chrono::microseconds(static_cast<std::int64_t>(static_cast<double>(i) * 1e6 / rate));
    if (std::chrono::steady_clock::now() < due) std::this_thread::sleep_until(due);
    std::string v = event_json(i, now_us());
    while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(in.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE(v.data(), v.size()), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(producer, 1);
    rd_kafka_poll(producer, 0);
  }
  rd_kafka_flush(producer, 60000);
  rd_kafka_destroy(producer);
  std::this_thread::sleep_for(5s);  // drain
  q.stop();
  stop = true;
  reader.join();
  e2e_result r;
  std::vector<std::int64_t> batch_ms;
  for (const auto& p : q.recent_progress()) {
    const std::int64_t t = p.duration_ms.count("triggerExecution") ? p.duration_ms.at("triggerExecution") : 0;
    batch_ms.push_back(t);
    if (r.slowest_batch_ms.empty() || t > r.slowest_batch_ms["triggerExecution"]) r.slowest_batch_ms = p.duration_ms;
  }
  std::sort(batch_ms.begin(), batch_ms.end());
  r.batches = static_cast<std::int64_t>(batch_ms.size());
  if (!batch_ms.empty()) r.batch_p99_ms = batch_ms[std::min(batch_ms.size() - 1, batch_ms.size() * 99 / 100)];
  r.rate = rate;
  r.samples = static_cast<std::int64_t>(latencies.size());
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    r.p50_ms = latencies[latencies.size() / 2];
    r.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    r.max_ms = latencies.back();
  }
  return r;
}

// The 1-, 5- and 15-minute load averages (the machine is shared: say how busy it was).
std::string load_average() {
  std::string one, five, fifteen;
  std::ifstream("/proc/loadavg") >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double best(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

// {"median": m, "min": a, "max": b, "all": [...]} of per-repetition figures.
std::string spread(std::vector<double> v, int decimals = 2) {
  if (v.empty()) return "null";
  auto num = [&](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", decimals, x);
    return std::string(b);
  };
  std::string all;
  for (double x : v) all += (all.empty() ? "" : ", ") + num(x);
  std::sort(v.begin(), v.end());
  const double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return "{\"median\": " + num(median) + ", \"min\": " + num(v.front()) + ", \"max\": " + num(v.back()) +
         ", \"all\": [" + all + "]}";
}
}  // namespace

int main(int argc, char** argv) {
  std::int64_t records = 1'000'000;
  int repeat = 3, seconds = 10;
  std::vector<double> rates{5000, 20000, 50000};
  int partitions = 0;
  std::vector<std::size_t> parallelisms{1, 2};
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--at-least-once") {
      at_least_once = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) break;
    const std::string v = argv[i + 1];
    if (a == "--bootstrap") bootstrap = v;
    else if (a == "--broker-dir") std::getline(std::ifstream(v + "/bootstrap") >> std::ws, bootstrap);
    else if (a == "--records") records = std::stoll(v);
    else if (a == "--repeat") repeat = std::stoi(v);
    else if (a == "--seconds") seconds = std::stoi(v);
    else if (a == "--trigger-ms") trigger_ms = std::stoi(v);
    else if (a == "--polling-delay-ms") polling_delay_ms = std::stoi(v);
    else if (a == "--source-fetch-wait-ms") source_fetch_wait_ms = partitioned_fetch_wait_ms = std::stoi(v);
    else if (a == "--partitions") partitions = std::stoi(v);
    else if (a == "--parallelism") {
      parallelisms.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) parallelisms.push_back(std::stoul(x));
    }
    else if (a == "--rates") {
      rates.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) rates.push_back(std::stod(x));
    }
  }
  if (bootstrap.empty()) {
    std::fprintf(stderr, "usage: bench_kafka --broker-dir DIR | --bootstrap HOST:PORT [...]\n");
    return 2;
  }
  try {
    const std::string topic = "bench-consume-" + std::to_string(now_us());
    if (partitions > 1) {
      // Only the partitioned part: each parallelism in turn, per repetition.
      const std::string parted = topic + "-p" + std::to_string(partitions);
      create_topic(parted, partitions);
      produce_records(parted, records, partitions);
      std::map<std::pair<int, std::size_t>, std::vector<double>> rate, cpu, ratio;  // (aggregate, p)
      const std::string load_before = load_average();
      for (int i = 0; i < repeat; ++i)
        for (int aggregate = 0; aggregate < 2; ++aggregate)
          for (const std::size_t p : parallelisms) {
            rate[{aggregate, p}].push_back(partitioned_consume(parted, records, p, aggregate != 0));
            cpu[{aggregate, p}].push_back(last_cpu_ns);
            ratio[{aggregate, p}].push_back(rate[{aggregate, p}].back() / rate[{aggregate, parallelisms.front()}].back());
            std::fprintf(stderr, "rep %d %s parallelism %zu: %.0f records/s, %.0f CPU ns/record\n", i,
                         aggregate ? "count by key" : "foreach_batch", p, rate[{aggregate, p}].back(), cpu[{aggregate, p}].back());
          }
      std::printf("{\"partitioned\": {\"records\": %lld, \"partitions\": %d, \"repeat\": %d, \"load_average_before\": \"%s\", "
                  "\"load_average_after\": \"%s\", \"runs\": [",
                  static_cast<long long>(records), partitions, repeat, load_before.c_str(), load_average().c_str());
      bool first = true;
      for (const auto& [key, v] : rate) {
        std::printf("%s\n  {\"reader\": \"%s\", \"parallelism\": %zu, \"best_records_per_s\": %.0f, \"ratio_to_first\": %s, "
                    "\"cpu_ns_per_record\": %s}",
                    first ? "" : ",", key.first ? "count_by_key" : "foreach_batch", key.second, best(v),
                    spread(ratio[key]).c_str(), spread(cpu[key], 0).c_str());
        first = false;
      }
      std::printf("]}}\n");
      return 0;
    }
    if (records > 0) produce_records(topic, records);
    // Each repetition runs every reader once, in turn; its ratios are against the per-record
    // loop of the same repetition (the machine's load moves between repetitions more than
    // within one). Printed: the median ratio, its spread, and the best rates.
    std::vector<double> raw, raw_batch, ours, batched, counted;
    std::vector<double> r_ours, r_batched, r_counted, raw_loop, r_ours_loop;
    std::vector<double> cpu_raw, cpu_ours, cpu_counted;  // CPU ns per record
    const std::string load_before = load_average();
    const std::int64_t per_batch = std::max<std::int64_t>(1, records / 5);
    for (int i = 0; records > 0 && i < repeat; ++i) {
      raw.push_back(raw_consume(topic, records));
      cpu_raw.push_back(last_cpu_ns);
      raw_loop.push_back(last_loop_rate);
      raw_batch.push_back(raw_consume(topic, records, true));
      ours.push_back(sluice_consume(topic, records));
      cpu_ours.push_back(last_cpu_ns);
      batched.push_back(sluice_consume(topic, records, per_batch));
      counted.push_back(sluice_count(topic, records));
      cpu_counted.push_back(last_cpu_ns);
      r_ours.push_back(ours.back() / raw.back());
      r_ours_loop.push_back(ours.back() / raw_loop.back());
      r_batched.push_back(batched.back() / raw.back());
      r_counted.push_back(counted.back() / raw.back());
      std::fprintf(stderr,
                   "rep %d: librdkafka %.0f/s (%.0f CPU ns/record), batch loop %.0f/s, foreach_batch %.0f/s (%.2fx; %.0f ns), "
                   "5 batches %.0f/s (%.2fx), count %.0f/s (%.2fx; %.0f ns)\n",
                   i, raw.back(), cpu_raw.back(), raw_batch.back(), ours.back(), r_ours.back(), cpu_ours.back(),
                   batched.back(), r_batched.back(), counted.back(), r_counted.back(), cpu_counted.back());
    }
    if (records > 0)
      std::printf("{\"consume\": {\"records\": %lld, \"repeat\": %d, \"load_average_before\": \"%s\", \"load_average_after\": \"%s\",\n"
                  "  \"best_records_per_s\": {\"librdkafka\": %.0f, \"librdkafka_batch\": %.0f, \"foreach_batch\": %.0f, \"5_batches\": %.0f, \"count\": %.0f},\n"
                  "  \"ratio\": %s,\n  \"ratio_to_the_loop_alone\": %s,\n  \"5_batches_ratio\": %s,\n  \"count_ratio\": %s,\n"
                  "  \"cpu_ns_per_record\": {\"librdkafka\": %s,\n    \"foreach_batch\": %s,\n    \"count\": %s}},\n \"e2e\": [",
                  static_cast<long long>(records), repeat, load_before.c_str(), load_average().c_str(), best(raw),
                  best(raw_batch), best(ours), best(batched), best(counted), spread(r_ours).c_str(), spread(r_ours_loop).c_str(),
                  spread(r_batched).c_str(), spread(r_counted).c_str(), spread(cpu_raw, 0).c_str(),
                  spread(cpu_ours, 0).c_str(), spread(cpu_counted, 0).c_str());
    else
      std::printf("{\"e2e\": [");
    double sustained = 0;
    for (std::size_t i = 0; i < rates.size(); ++i) {
      const auto r = end_to_end(rates[i], seconds, static_cast<int>(i));
      if (r.samples > 0 && r.p99_ms < 2000) sustained = std::max(sustained, r.rate);
      std::string slowest;
      for (const auto& [k, v] : r.slowest_batch_ms) slowest += (slowest.empty() ? "" : ", ") + ("\"" + k + "\": ") + std::to_string(v);
      std::printf("%s{\"rate\": %.0f, \"p50_ms\": %.1f, \"p99_ms\": %.1f, \"max_ms\": %.1f, \"output_rows\": %lld, "
                  "\"batches\": %lld, \"batch_p99_ms\": %lld, \"slowest_batch_ms\": {%s}}",
                  i ? ",\n  " : "", r.rate, r.p50_ms, r.p99_ms, r.max_ms, static_cast<long long>(r.samples),
                  static_cast<long long>(r.batches), static_cast<long long>(r.batch_p99_ms), slowest.c_str());
      std::fflush(stdout);
    }
    std::printf("],\n \"sustained_rate\": %.0f}\n", sustained);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kafka: %s\n", e.what());
    return 1;
  }
}
