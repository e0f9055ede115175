// The console's status lines (manage/status_line.hpp): one line per query with batch, rates,
// watermark and lag; redrawn in place on a terminal, plain lines per batch otherwise.
#include <sluice/manage/status_line.hpp>
#include <sluice/sluice.hpp>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace sl = sluice;
using namespace std::chrono_literals;

namespace {
struct Tick {
  sl::timestamp ts;
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (ts, n))

std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (const auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}
}  // namespace

TEST_CASE("status line: batch, rows, rates, watermark, lag and state of a query", "[status_line]") {
  sl::managed_query q;
  q.name = "ticks";
  CHECK(sl::status_line(q) == "[ticks] no batch yet | active");
  sl::query_progress p;
  p.batch_id = 7;
  p.num_input_rows = 120;
  p.input_rows_per_second = 40.25;
  p.processed_rows_per_second = 1234.6;
  p.event_time.watermark = sl::timestamp{10'000'000};
  sl::source_progress s;
  s.metrics = {{"maxOffsetsBehindLatest", "17"}};
  p.sources.push_back(s);
  q.last_progress = p;
  CHECK(sl::status_line(q, sl::timestamp{22'500'000}) ==
        "[ticks] batch 7 | 120 rows | 40.2 rows/s in | 1235 rows/s processed | watermark 1970-01-01T00:00:10.000Z | "
        "lag 12.5 s, 17 offsets behind | active");
  q.active = false;
  q.exception = "boom";
  CHECK_THAT(sl::status_line(q), Catch::EndsWith("| failed: boom"));
}

TEST_CASE("status line: plain lines per batch when not a terminal, redrawn in place on one", "[status_line]") {
  for (const bool tty : {false, true}) {
    std::FILE* out = std::tmpfile();
    REQUIRE(out);
    {
      sl::query_manager streams;
      sl::console_status status(streams, out, tty, 20ms);
      CHECK(status.tty() == tty);
      sl::memory_stream<Tick> in;
      sl::memory_sink<Tick> sink;
      auto q = streams.start(in | sl::with_watermark(sl::col<"ts">, 1s) | sink, sl::output_mode::append, {.name = "ticks"});
      in.add_data({{sl::timestamp{5'000'000}, 1}, {sl::timestamp{6'000'000}, 2}});
      q.process_all_available();
      in.add_data({{sl::timestamp{7'000'000}, 3}});
      q.process_all_available();
      std::this_thread::sleep_for(100ms);  // a redraw on the terminal
      q.stop();
      status.stop();
    }
    const auto text = contents(out);
    std::fclose(out);
    INFO(text);
    if (!tty) {
      CHECK_THAT(text, Catch::Contains("[ticks] batch 0 | 2 rows |"));
      CHECK_THAT(text, Catch::Contains("[ticks] batch 1 | 1 rows |"));
      CHECK_THAT(text, Catch::Contains("| watermark 1970-01-01T00:00:05.000Z | lag "));
      CHECK_THAT(text, Catch::EndsWith("| stopped\n"));
      CHECK(text.find('\x1b') == std::string::npos);
    } else {
      CHECK_THAT(text, Catch::Contains("\x1b[2K[ticks] batch 1 | 1 rows |"));  // each line cleared, then drawn
      CHECK_THAT(text, Catch::Contains("\x1b[1F\x1b[2K[ticks]"));             // back up over the block
      CHECK_THAT(text, Catch::EndsWith("| stopped\n"));                        // the last redraw, after the end
    }
  }
}
