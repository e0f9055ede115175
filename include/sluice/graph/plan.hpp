// The public sink interface. A sink descriptor (what the user pipes into) binds to the
// pipeline's row type; the bound sink receives each batch once with its id:
//
//   struct my_sink {
//     using is_sink_descriptor = void;
//     template <class Row> auto bind() &&;      // static_assert here what rows you accept
//   };
//   struct my_bound_sink {
//     void start(const sluice::sink_context&);  // optional: query id and output mode
//     void add_batch(std::int64_t batch_id, std::span<const Row> rows);
//     std::string description() const;
//     static constexpr bool supports(sluice::output_mode_kind);  // optional, default: all
//   };
//
// add_batch must be idempotent per batch id: after a failure a batch may be offered again.
// sinks/two_phase.hpp adapts a sink written in two phases (writers, then commit or abort),
// after Spark's DataSource V2 writers, to this protocol, and makes it exactly once.
#pragma once
//
// query_plan<Node, Sink> is what `node | sink` yields (graph/pipe.hpp) and sl::start takes.
#pragma once
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "node.hpp"
#include "protocol.hpp"

namespace sluice {

struct sink_context {
  std::string query_id;
  std::string query_name;
  output_mode_kind mode = output_mode_kind::append;
};

template <class D>
concept sink_descriptor = requires { typename std::remove_cvref_t<D>::is_sink_descriptor; };

template <class S, class Row>
concept bound_sink_for = requires(S& s, std::int64_t id, std::span<const Row> rows, const S& cs) {
  s.add_batch(id, rows);
  { cs.description() } -> std::convertible_to<std::string>;
};

template <class S>
constexpr bool sink_supports(output_mode_kind m) {
  if constexpr (requires { S::supports(m); }) return S::supports(m);
  else return true;
}

// Hands a batch's rows to the sink, given as one span per partition (one when the batch ran on
// one thread). A sink that takes one batch gets the partitions joined (in `scratch`, reused).
template <class Sink, class Row>
void deliver_batch(Sink& sink, const batch_context& ctx, std::span<const std::span<const Row>> parts,
                   std::vector<Row>& scratch) {
  if (parts.size() == 1) {
    sink.add_batch(ctx.batch_id, parts[0]);
    return;
  }
  scratch.clear();
  std::size_t n = 0;
  for (const auto& p : parts) n += p.size();
  scratch.reserve(n);
  for (const auto& p : parts) scratch.insert(scratch.end(), p.begin(), p.end());
  sink.add_batch(ctx.batch_id, std::span<const Row>(scratch.data(), scratch.size()));
}

// A complete query: a graph ending in a sink, ready for sl::start.
template <class Node, class Sink>
struct query_plan {
  using row_type = typename Node::row_type;
  using sink_type = Sink;
  static constexpr graph_props props = Node::props;
  using stages = typename Node::stages;
  Node node;
  Sink sink;
};

namespace detail {
template <class T>
inline constexpr bool is_query_plan_v = false;
template <class N, class S>
inline constexpr bool is_query_plan_v<query_plan<N, S>> = true;
}  // namespace detail

}  // namespace sluice
