// Writes checkpoints of real queries for checkpoint_cli_test.py (`sluice checkpoint describe |
// state` on a stopped query), and what their state must hold, computed from the sinks:
//   DIR/agg     events -> watermark 10 s -> 10 s windows x user: count, avg(value),
//               approx_count_distinct(item), update mode; state snapshot every 2 batches
//   DIR/dedup   events -> drop_duplicates(id), append mode
//   DIR/files   7 JSON lines files in DIR/input -> memory sink, 2 files per batch, the file
//               source's log compacted every 3 batches (batches 0..3; "2.compact" holds 0..2)
// DIR/agg_expected.jsonl: per group the last count and avg the sink received (update mode:
// each batch's changed groups), keyed as the state reader prints them. DIR/dedup_expected.txt:
// the ids the dedup sink received. DIR/agg_state_rows.json: the state rows after each batch
// (progress numRowsTotal). Usage: checkpoint_writer DIR
#include <sluice/sluice.hpp>
#include <sluice/sources/files.hpp>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

namespace sl = sluice;
using namespace std::chrono_literals;

struct Event {
  std::string user;
  sl::timestamp ts;
  std::int64_t value;
  std::int64_t id;
  std::string item;
};
BOOST_DESCRIBE_STRUCT(Event, (), (user, ts, value, id, item))

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: checkpoint_writer DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto at = [](std::string user, std::int64_t sec, std::int64_t value, std::int64_t id) {
    return Event{user, sl::timestamp{sec * 1'000'000}, value, id, "item" + std::to_string(id % 3)};
  };
  const std::vector<std::vector<Event>> batches = {
      {at("a", 1, 10, 1), at("a", 2, 20, 2), at("b", 3, 5, 3)},
      {at("a", 4, 30, 1), at("c", 12, 7, 4)},
      {at("b", 15, 1, 5), at("a", 25, 2, 2)},  // watermark -> 15 s: window [0, 10) evicted next batch
      {at("c", 26, 3, 6), at("b", 27, 4, 7)},
      {at("a", 28, 6, 8)},
  };

  {
    sl::memory_stream<Event> in;
    using out_row = sl::row<sl::field<"window", sl::time_window>, sl::field<"user", std::string>,
                            sl::field<"count", std::int64_t>, sl::field<"avg(value)", double>,
                            sl::field<"items", std::int64_t>>;
    sl::memory_sink<out_row> sink;
    auto q = sl::start(in | sl::with_watermark(sl::col<"ts">, 10s) |
                           sl::group_by(sl::window(sl::col<"ts">, 10s), sl::col<"user">) |
                           sl::aggregate(sl::count(), sl::avg(sl::col<"value">),
                                         sl::approx_count_distinct(sl::col<"item">).as<"items">()) |
                           sink,
                       sl::output_mode::update,
                       {.name = "agg", .checkpoint = (dir / "agg").string(), .state_snapshot_interval = 2});
    for (const auto& b : batches) {
      in.add_data(b);
      q.process_all_available();
    }
    q.stop();
    // The groups the state still holds: those whose window ends after the watermark.
    const auto watermark = q.current_watermark();
    std::map<std::string, boost::json::object> last;
    for (const auto& r : sink.rows()) {
      const auto& w = sl::get<"window">(r);
      if (w.end.micros <= watermark) continue;
      boost::json::object key{{"window.start", w.start.micros}, {"user", sl::get<"user">(r)}};
      last[boost::json::serialize(key)] = {{"key", key},
                                           {"count", sl::get<"count">(r)},
                                           {"avg", sl::get<"avg(value)">(r)},
                                           {"items", sl::get<"items">(r)}};
    }
    std::ofstream out(dir / "agg_expected.jsonl");
    for (const auto& [k, v] : last) out << boost::json::serialize(v) << "\n";
    // Each batch's numRowsTotal, which `sluice checkpoint state --batch B` must reproduce.
    boost::json::object totals;
    for (const auto& p : q.recent_progress()) totals[std::to_string(p.batch_id)] = p.state_operators.at(0).num_rows_total;
    std::ofstream(dir / "agg_state_rows.json") << boost::json::serialize(totals) << "\n";
    std::cout << "agg: " << q.recent_progress().size() << " batches, watermark " << watermark << ", " << last.size()
              << " groups in state" << std::endl;
  }
  {
    sl::memory_stream<Event> in;
    sl::memory_sink<Event> sink;
    auto q = sl::start(in | sl::drop_duplicates(sl::col<"id">) | sink, sl::output_mode::append,
                       {.name = "dedup", .checkpoint = (dir / "dedup").string()});
    for (const auto& b : batches) {
      in.add_data(b);
      q.process_all_available();
    }
    q.stop();
    std::ofstream out(dir / "dedup_expected.txt");
    for (const auto& r : sink.rows()) out << r.id << "\n";
    std::cout << "dedup: " << sink.rows().size() << " ids" << std::endl;
  }
  {
    const auto input = dir / "input";
    std::filesystem::create_directories(input);
    for (int i = 0; i < 7; ++i)
      std::ofstream(input / ("part-" + std::to_string(i) + ".json"))
          << R"({"user":"u)" << i << R"(","ts":"1970-01-01T00:00:0)" << i << R"(Z","value":)" << i << R"(,"id":)" << i
          << R"(,"item":"x"})" << "\n";
    sl::memory_sink<Event> sink;
    auto q = sl::start(sl::files::json_lines<Event>(input, {.max_files_per_trigger = 2, .log_compact_interval = 3}) | sink,
                       sl::output_mode::append,
                       {.name = "files", .trigger = sl::trigger::available_now(), .checkpoint = (dir / "files").string()});
    q.await_termination();
    std::cout << "files: " << sink.rows().size() << " rows, " << q.recent_progress().size() << " batches" << std::endl;
  }
  return 0;
}
