// Built against an installed sluice with its admin component
// (find_package(sluice CONFIG COMPONENTS admin)): a query under a query_manager, served by
// the admin endpoint on a free loopback port, and its metrics. Exits with 0 only if the
// endpoint starts and the metrics name the query.
#include <sluice/admin.hpp>
#include <sluice/sluice.hpp>

#include <iostream>

namespace sl = sluice;

int main() {
  sl::query_manager streams;
  sl::memory_stream<sl::rate_row> in;
  sl::memory_sink<sl::rate_row> sink;
  auto q = streams.start(in | sink, sl::output_mode::append, {.name = "consumer-admin"});
  in.add_data({{sl::timestamp{0}, 1}, {sl::timestamp{1}, 2}});
  q.process_all_available();
  sl::admin_server admin(streams);
  const std::string metrics = sl::prometheus_text(streams);
  if (admin.port() == 0 ||
      metrics.find("sluice_streaming_records_processed_total{query_id=\"" + q.id() +
                   "\",query_name=\"consumer-admin\"} 2\n") == std::string::npos) {
    std::cerr << "sluice consumer: unexpected admin endpoint or metrics:\n" << metrics;
    return 1;
  }
  std::cout << "sluice consumer: admin endpoint on " << admin.url() << "\n";
  return 0;
}
