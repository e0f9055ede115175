// <sluice/hana.hpp>: rows as Hana Structs and a plan's stages as a Hana sequence.
// Prints the rows of a windowed aggregation field by field without naming a field, and checks
// the pipeline at compile time (how many stages, which ones keep state, the row after each).
#include <sluice/hana.hpp>
#include <sluice/sluice.hpp>

#include <boost/hana/count_if.hpp>
#include <boost/hana/fuse.hpp>
#include <boost/hana/length.hpp>

#include <cstdint>
#include <iostream>
#include <string>
#include <type_traits>

using namespace std::chrono_literals;
namespace sl = sluice;
namespace hana = boost::hana;

struct Event {
  std::string event_type;
  sl::timestamp timestamp;
  double value;
};
BOOST_DESCRIBE_STRUCT(Event, (), (event_type, timestamp, value))

// Any row, described or generated: "name=value" for each field, through Hana.
template <class Row>
void print_row(const Row& row) {
  hana::for_each(row, hana::fuse([](auto name, const auto& value) {
                   std::cout << hana::to<const char*>(name) << "=";
                   if constexpr (std::is_arithmetic_v<std::decay_t<decltype(value)>>) std::cout << value << " ";
                   else std::cout << sl::to_json(value) << " ";
                 }));
  std::cout << "\n";
}

int main() {
  sl::memory_stream<Event> events;
  auto at = [](const char* text) { return *sl::parse_timestamp(text); };
  events.add_data({{"click", at("2024-01-15T10:01:00"), 12.5},
                   {"view", at("2024-01-15T10:03:30"), 40.0},
                   {"click", at("2024-01-15T10:04:10"), 27.5}});

  auto stats = events | sl::filter([](const Event& e) { return e.value > 0; }) |
               sl::with_watermark(sl::col<"timestamp">, 10min) |
               sl::group_by(sl::window(sl::col<"timestamp">, 5min), sl::col<"event_type">) |
               sl::aggregate(sl::count().as<"n">(), sl::avg(sl::col<"value">).as<"avg_value">());
  sl::memory_sink<decltype(stats)::row_type> out;
  auto plan = stats | out;

  // Compile-time checks over the pipeline's own stages.
  constexpr auto stages = decltype(sl::stages(plan)){};
  static_assert(decltype(hana::length(stages))::value == 3, "filter, watermark, aggregate");
  constexpr auto stateful = hana::count_if(stages, [](auto t) {
    return hana::bool_c<decltype(t)::type::kind == sl::stage_kind::stateful>;
  });
  static_assert(stateful == hana::size_c<1>, "one stateful stage: the aggregation");

  auto query = sl::start(std::move(plan), sl::output_mode::complete,
                         {.name = "hana_rows", .trigger = sl::trigger::available_now()});
  query.await_termination();
  for (const auto& row : out.rows()) print_row(row);
  return out.rows().size() == 2 ? 0 : 1;
}
