// expect: sluice rule \[append-aggregation-needs-watermark\]
// The watermark is on one time column, the window over another: the window key does not
// carry the watermark, so its groups never close in append mode.
#include "event.hpp"

struct Order {
  std::string order_id;
  sl::timestamp created_at;
  sl::timestamp shipped_at;
  double amount;
};
BOOST_DESCRIBE_STRUCT(Order, (), (order_id, created_at, shipped_at, amount))

int main() {
  sl::memory_stream<Order> orders;
  auto stats = orders
      | sl::with_watermark(sl::col<"created_at">, 10min)
      | sl::group_by(sl::window(sl::col<"shipped_at">, 1h))
      | sl::aggregate(sl::count(), sl::sum(sl::col<"amount">));
  auto query = sl::start(stats | sl::console(), sl::output_mode::append);
  query.stop();
}
