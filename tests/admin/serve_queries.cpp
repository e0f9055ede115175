// A running process for the admin endpoint's end-to-end tests (scrape_test.py, the CLI test):
// two queries under a query_manager with the admin endpoint on a free loopback port.
//   "rates":   rate source -> watermark 2 s -> 1 s tumbling window counts (state, watermark)
//   "passing": rate source -> expectations (even values: warn; multiples of 5: dropped) ->
//              console-less memory sink
// Prints "admin: <url>" once serving; exits 0 when both queries were stopped (POST
// /queries/{id}/stop), or after --max-seconds (default 120) as a safety bound. With
// --linger, it keeps serving the stopped queries until its standard input closes (the page
// test reads the final numbers of both).
#include <sluice/admin.hpp>
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

namespace sl = sluice;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  int max_seconds = 120;
  std::string token;
  bool linger = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--linger") linger = true;
    else if (a == "--max-seconds" && i + 1 < argc) max_seconds = std::atoi(argv[++i]);
    else if (a == "--token" && i + 1 < argc) token = argv[++i];
  }
  sl::query_manager streams;
  using counts = sl::row<sl::field<"window", sl::time_window>, sl::field<"count", std::int64_t>>;
  sl::memory_sink<counts> window_sink;
  sl::memory_sink<sl::rate_row> rows_sink;
  auto rates = streams.start(sl::rate({.rows_per_second = 200}) | sl::with_watermark(sl::col<"timestamp">, 2s) |
                                 sl::group_by(sl::window(sl::col<"timestamp">, 1s)) | sl::aggregate(sl::count()) |
                                 window_sink,
                             sl::output_mode::append,
                             {.name = "rates", .trigger = sl::trigger::processing_time(200ms)});
  auto passing = streams.start(sl::rate({.rows_per_second = 50}) |
                                   sl::expect("even_value", [](const sl::rate_row& r) { return r.value % 2 == 0; }) |
                                   sl::expect_or_drop("not_multiple_of_5",
                                                      [](const sl::rate_row& r) { return r.value % 5 != 0; }) |
                                   rows_sink,
                               sl::output_mode::append,
                               {.name = "passing", .trigger = sl::trigger::processing_time(300ms)});
  sl::admin_server admin(streams, {.bearer_token = token});
  std::cout << "admin: " << admin.url() << std::endl;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  while (!streams.active().empty() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
  const bool stopped = streams.active().empty();
  if (stopped && linger) {
    std::cout << "all queries stopped, serving until stdin closes" << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
    }
  }
  std::this_thread::sleep_for(500ms);  // the answer to the last POST .../stop is on its way
  std::cout << (stopped ? "all queries stopped" : "time limit reached") << std::endl;
  return stopped ? 0 : 3;
}
