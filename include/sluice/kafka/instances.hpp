// Static scale-out over Kafka partitions (docs/scaling.md): several processes run the same
// query over the same topics, each as one instance of `count`, each with a checkpoint of its
// own. Partition p of every topic belongs to instance p % count.
//
// Why p % count: it is stable (a partition added later goes where the rule says, and nothing
// else moves), it needs no coordination, and it keeps co-partitioned topics together --
// partition p of every topic is on the same instance, as Kafka Streams requires of the two
// sides of a join -- so a query that joins or unions two topics keyed alike stays local.
#pragma once
#include <cstdint>
#include <string>

#include "client.hpp"

namespace sluice::kafka {

struct instance_spec {
  std::int32_t index = 0;  // this process, 0 .. count - 1
  std::int32_t count = 1;  // how many processes share the topics (1: this one reads everything)

  bool owns(std::int32_t partition) const { return partition % count == index; }
  std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }
  friend bool operator==(const instance_spec&, const instance_spec&) = default;
};

inline void validate(const instance_spec& i, const std::string& where) {
  if (i.count < 1 || i.index < 0 || i.index >= i.count)
    throw kafka_error(where + ": instance {index " + std::to_string(i.index) + ", count " + std::to_string(i.count) +
                      "}: count must be at least 1 and index in [0, count)");
}

}  // namespace sluice::kafka
