// Source lag in progress and metrics: the file source's numFilesWaiting (new files a batch
// left for later ones) and the Prometheus gauges of the sources' own metrics (Kafka's offsets
// behind the latest: tests/kafka; here from its progress fields).
#include <sluice/files.hpp>
#include <sluice/manage/metrics.hpp>
#include <sluice/sluice.hpp>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;

namespace {
struct Line {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Line, (), (n))

struct waiting_per_batch final : sl::query_listener {
  std::mutex m;
  std::vector<std::string> waiting;
  void on_query_progress(const sl::query_progress_event& e) override {
    std::lock_guard lock(m);
    waiting.push_back(e.progress.sources.at(0).metrics.at("numFilesWaiting"));
  }
};
}  // namespace

TEST_CASE("source lag: the file source reports the files a batch left waiting", "[source_lag][files]") {
  const auto dir = fs::temp_directory_path() / ("sluice-source-lag-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "in");
  for (int f = 0; f < 4; ++f) std::ofstream(dir / "in" / ("f" + std::to_string(f) + ".jsonl")) << "{\"n\":" << f << "}\n";
  auto listener = std::make_shared<waiting_per_batch>();
  sl::query_manager streams;
  streams.add_listener(listener);
  sl::memory_sink<Line> sink;
  auto q = streams.start(sl::files::json_lines<Line>(dir / "in", {.max_files_per_trigger = 1}) | sink,
                         sl::output_mode::append, {.name = "files"});
  q.process_all_available();
  q.stop();
  CHECK(sink.rows().size() == 4);
  {
    std::lock_guard lock(listener->m);
    CHECK(listener->waiting == std::vector<std::string>{"3", "2", "1", "0"});
  }
  const auto text = sl::prometheus_text(streams);
  const std::string labels = "{query_id=\"" + q.id() + "\",query_name=\"files\",source=\"0\",source_description=\"FileStreamSource[" +
                             (dir / "in").string() + "]\"";
  CHECK_THAT(text, Catch::Contains("sluice_streaming_source_files_waiting" + labels + "} 0\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_source_metric" + labels + ",metric=\"numFilesWaiting\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_source_metric" + labels + ",metric=\"numFilesChangedAfterRead\"} 0\n"));
  fs::remove_all(dir);
}

TEST_CASE("source lag: Kafka's offsets behind the latest as gauges", "[source_lag]") {
  sl::managed_query q;
  q.id = "q1";
  q.name = "kafka";
  sl::query_progress p;
  sl::source_progress s;
  s.description = "KafkaV2[Subscribe[events]]";
  s.metrics = {{"minOffsetsBehindLatest", "0"}, {"maxOffsetsBehindLatest", "42"}, {"avgOffsetsBehindLatest", "10.5"}};
  p.sources.push_back(s);
  sl::source_progress plain;  // a source without lag: no sample
  plain.description = "MemoryStream";
  p.sources.push_back(plain);
  q.last_progress = p;
  const auto text = sl::prometheus_text(std::vector<sl::managed_query>{q});
  const std::string labels = R"({query_id="q1",query_name="kafka",source="0",source_description="KafkaV2[Subscribe[events]]"})";
  CHECK_THAT(text, Catch::Contains("sluice_streaming_source_offsets_behind_latest" + labels + " 42\n"));
  CHECK_THAT(text, Catch::Contains("sluice_streaming_source_avg_offsets_behind_latest" + labels + " 10.5\n"));
  CHECK_THAT(text, !Catch::Contains(R"(sluice_streaming_source_offsets_behind_latest{query_id="q1",query_name="kafka",source="1")"));
  CHECK_THAT(text, !Catch::Contains("sluice_streaming_source_files_waiting{"));
}
