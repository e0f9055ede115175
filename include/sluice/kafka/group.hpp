// Consumer-group instances (source_options::consumer_group, docs/scaling.md): how a source in a
// group hands its batch's offsets to the exactly-once sink of the same query, which commits
// them to the group inside the batch's transaction (Kafka Streams' exactly-once: the output and
// the input offsets in one transaction). A partition that moves to another instance is read
// there from the group's committed offset, which is then exactly where this instance's
// committed output ends. The rebalance callback itself is in source.hpp, with the source's state,
// and so is the fencing: the offsets carry the member's generation and member id (KIP-447).
#pragma once
#include <librdkafka/rdkafka.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace sluice::kafka::detail {

// The broker's answers to offsets sent with a member's metadata that is not the group's current
// one: a member thrown out (or replaced by the same group.instance.id), or a generation behind.
inline bool group_fencing_code(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
         code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID || code == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

// query id -> (source, a function adding its batch's offsets to the producer's transaction).
using txn_offsets_fn = std::function<rd_kafka_error_t*(rd_kafka_t* producer, int timeout_ms)>;

struct txn_offsets_registry {
  std::mutex mutex;
  std::multimap<std::string, std::pair<const void*, txn_offsets_fn>> by_query;

  static txn_offsets_registry& instance() {
    static txn_offsets_registry r;
    return r;
  }
  void add(const std::string& query_id, const void* owner, txn_offsets_fn f) {
    std::lock_guard lock(mutex);
    remove_locked(owner);
    by_query.emplace(query_id, std::make_pair(owner, std::move(f)));
  }
  void remove(const void* owner) {
    std::lock_guard lock(mutex);
    remove_locked(owner);
  }
  // Adds every registered source's offsets of `query_id` to the open transaction; the first error.
  rd_kafka_error_t* send(const std::string& query_id, rd_kafka_t* producer, int timeout_ms) {
    std::lock_guard lock(mutex);
    auto [a, b] = by_query.equal_range(query_id);
    for (auto it = a; it != b; ++it)
      if (rd_kafka_error_t* e = it->second.second(producer, timeout_ms)) return e;
    return nullptr;
  }

 private:
  void remove_locked(const void* owner) {
    for (auto it = by_query.begin(); it != by_query.end();)
      it = it->second.first == owner ? by_query.erase(it) : std::next(it);
  }
};

}  // namespace sluice::kafka::detail
