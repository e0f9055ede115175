// <sluice/range_v3.hpp>: range-v3 views in and out of a streaming query. A lazily generated
// range of orders is the source (sl::from_range: the offset is the position, 25 rows per
// batch), flat_map expands each order into its items with a range-v3 view, a static table of
// products built from a view is joined in, and the memory sink's rows are read back through a
// range-v3 pipeline.
#include <sluice/range_v3.hpp>
#include <sluice/sluice.hpp>

#include <range/v3/numeric/accumulate.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

#include <cstdint>
#include <iostream>
#include <string>

namespace sl = sluice;
namespace rv = ranges::views;

struct Order {
  std::int64_t order_id;
  std::int64_t items;
};
BOOST_DESCRIBE_STRUCT(Order, (), (order_id, items))

struct Item {
  std::int64_t order_id;
  std::int64_t product_id;
};
BOOST_DESCRIBE_STRUCT(Item, (), (order_id, product_id))

struct Product {
  std::int64_t product_id;
  double price;
};
BOOST_DESCRIBE_STRUCT(Product, (), (product_id, price))

int main() {
  // 100 orders of 1 to 3 items, generated on demand.
  auto orders = rv::iota(0, 100) | rv::transform([](int i) { return Order{i, 1 + i % 3}; });
  sl::static_table products(rv::iota(0, 5) | rv::transform([](int p) { return Product{p, 1.5 * (p + 1)}; }));

  auto items = sl::from_range(orders, {.max_rows_per_trigger = 25}) | sl::flat_map([](const Order& o) {
                 return rv::iota(0, static_cast<int>(o.items)) |
                        rv::transform([id = o.order_id](int k) { return Item{id, (id + k) % 5}; });
               }) |
               sl::join(products, sl::col<"product_id">);
  sl::memory_sink<decltype(items)::row_type> out;
  auto query = sl::start(items | out, sl::output_mode::append,
                         {.name = "range_v3_pipeline", .trigger = sl::trigger::available_now()});
  query.await_termination();

  // The result, through range-v3: revenue of the expensive items.
  auto expensive = out.view() | rv::filter([](const auto& r) { return sl::get<"price">(r) > 5.0; });
  const double revenue =
      ranges::accumulate(expensive | rv::transform([](const auto& r) { return sl::get<"price">(r); }), 0.0);
  std::cout << out.batches().size() << " batches, " << out.rows().size() << " items, "
            << ranges::distance(expensive) << " expensive ones worth " << revenue << "\n";
  return out.batches().size() == 4 && out.rows().size() == 199 ? 0 : 1;
}
