// Records per second through sluice::rest from a local HTTP server over one kept-alive
// connection: the incremental strategy pages through `kTotal` records, `per_page` per response,
// typed (decoded into a struct) and untyped (JSON objects). The server is a small Beast
// server on 127.0.0.1 in this process (its own thread), serving pre-rendered pages so that
// the measurement is the client's: request, parse, strategy, decode, batch.
//
//   bench_rest_poll --benchmark_counters_tabular=true
// Rates are per wall-clock second (UseRealTime): the server thread and the waits count.
#include <benchmark/benchmark.h>

#include <sluice/rest.hpp>
#include <sluice/sluice.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>

namespace sl = sluice;
namespace rest = sluice::rest;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr std::int64_t kTotal = 100'000;

struct BenchRecord {
  std::int64_t id = 0;
  std::string name;
  double value = 0;
};
BOOST_DESCRIBE_STRUCT(BenchRecord, (), (id, name, value))

// GET /items?after=N&per_page=K -> {"items": [K records with id > N]}; keep-alive.
class page_server {
 public:
  page_server() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] {
      while (!stopping_) {
        tcp::socket socket(io_);
        boost::system::error_code ec;
        acceptor_.accept(socket, ec);
        if (ec || stopping_) continue;
        std::thread([this, s = std::move(socket)]() mutable { serve(s); }).detach();
      }
    });
  }
  ~page_server() {
    stopping_ = true;
    asio::io_context io;
    tcp::socket wake(io);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

 private:
  const std::string& page(std::int64_t after, std::int64_t per_page) {
    std::lock_guard lock(mutex_);
    auto& body = cache_[{after, per_page}];
    if (body.empty()) {
      body = "{\"items\":[";
      for (std::int64_t id = after + 1; id <= std::min(kTotal, after + per_page); ++id) {
        if (id > after + 1) body += ',';
        body += "{\"id\":" + std::to_string(id) + ",\"name\":\"record-" + std::to_string(id) +
                "\",\"value\":" + std::to_string(id * 0.5) + "}";
      }
      body += "]}";
    }
    return body;
  }
  void serve(tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      const std::string target(req.target());
      auto param = [&](const std::string& name) -> std::int64_t {
        const auto at = target.find(name + "=");
        return at == std::string::npos ? 0 : std::stoll(target.substr(at + name.size() + 1));
      };
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = page(param("after"), param("per_page"));
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::string> cache_;
};

page_server& server() {
  static page_server s;
  return s;
}

template <class Row>
void BM_rest_incremental(benchmark::State& state) {
  const auto per_page = state.range(0);
  rest::options o{.url = server().base() + "/items?after={last_id}&per_page=" + std::to_string(per_page),
                  .records_path = "/items",
                  .batch_size = per_page};
  std::int64_t records = 0, connections = 0, requests = 0;
  for (auto _ : state) {
    rest::source<Row, rest::incremental_strategy> src(o);
    auto start = src.initial_offset();
    for (;;) {
      const auto end = src.latest_offset(start, {});
      if (sl::offset_equal(end, start)) break;
      for (const auto& p : src.partitions(start, end))
        src.read(p, [&](const Row& r) {
          benchmark::DoNotOptimize(&r);
          ++records;
        });
      src.commit(end);
      start = end;
    }
    connections += src.metrics().connections_opened;
    requests += src.metrics().requests;
  }
  state.SetItemsProcessed(records);
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
  state.counters["connections/run"] = static_cast<double>(connections) / static_cast<double>(state.iterations());
  state.counters["requests/run"] = static_cast<double>(requests) / static_cast<double>(state.iterations());
}
}  // namespace

BENCHMARK_TEMPLATE(BM_rest_incremental, BenchRecord)->Arg(100)->Arg(1000)->Arg(10000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_rest_incremental, boost::json::object)->Arg(1000)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
