// What a source does with a record it cannot read, shared by the file sources (dead letters
// in a directory) and Kafka's decode_json (dead letters to a topic): fail (the default: the
// batch fails with an error naming the record), skip (dropped and counted), or dead-letter it
// to a Target and go on.
#pragma once
#include <utility>

namespace sluice {

enum class bad_record { fail, skip };

template <class Target>
class bad_record_policy_for {
 public:
  enum class kind { fail, skip, dead_letter };
  bad_record_policy_for(bad_record b = bad_record::fail)  // NOLINT: implicit on purpose
      : kind_(b == bad_record::fail ? kind::fail : kind::skip) {}
  static bad_record_policy_for dead_letter(Target to) {
    bad_record_policy_for p;
    p.kind_ = kind::dead_letter;
    p.target_ = std::move(to);
    return p;
  }
  kind which() const { return kind_; }
  // Where dead letters go (empty unless which() is dead_letter).
  const Target& target() const { return target_; }

 private:
  kind kind_ = kind::fail;
  Target target_{};
};

}  // namespace sluice
