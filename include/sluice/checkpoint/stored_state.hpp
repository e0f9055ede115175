// What the state store needs of an operator's state: its delta and snapshot in the binary
// form generated from the state types (serialize.hpp). The engine's stateful_control
// (engine/control.hpp) extends it; the checkpoint layer knows nothing of the graph.
#pragma once
#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

class binary_writer;
class binary_reader;

// What one state partition's files hold of a committed version: its base snapshot's version
// (-1: none, the partition starts empty) and how many deltas follow it. A batch writes a delta
// only for the partitions it changed, so versions without one are not all losses: the commit
// entry records this per partition ("stateFiles", docs/checkpoints.md), and a restore that
// finds another count refuses the checkpoint.
struct state_partition_files {
  std::int64_t snapshot = -1;
  std::int64_t deltas = 0;
  bool operator==(const state_partition_files&) const = default;
};

class stored_state {
 public:
  virtual ~stored_state() = default;
  // After finish(): the groups the batch changed (updated or removed).
  virtual void write_delta(binary_writer& out) const = 0;
  virtual void write_snapshot(binary_writer& out) const = 0;
  virtual void load_snapshot(binary_reader& in) = 0;
  virtual void apply_delta(binary_reader& in) = 0;
  // The binary form of the state files as JSON (codec/state_layout.hpp), for tools that
  // read a checkpoint without the query's types; empty: not described.
  virtual boost::json::object state_layout() const { return {}; }

  // ---- state kept in partitions by key hash (Spark's state/<op>/<partition>/): their number,
  // 0 for one state in state/<op>/ (the only layout before partitions, still read: the
  // whole-state calls above then restore it, spreading its keys over the partitions). Each
  // partition's delta and snapshot have the whole state's form.
  virtual std::size_t state_partitions() const { return 0; }
  // Empties the state into n partitions, before a restore from their files.
  virtual void reset_partitions(std::size_t n) { (void)n; }
  virtual void write_partition_delta(std::size_t partition, binary_writer& out) const {
    (void)partition;
    write_delta(out);
  }
  virtual void write_partition_snapshot(std::size_t partition, binary_writer& out) const {
    (void)partition;
    write_snapshot(out);
  }
  virtual void load_partition_snapshot(std::size_t partition, binary_reader& in) {
    (void)partition;
    load_snapshot(in);
  }
  virtual void apply_partition_delta(std::size_t partition, binary_reader& in) {
    (void)partition;
    apply_delta(in);
  }
  // True when the batch changed nothing in the partition (its delta would be empty): the
  // partition then writes no delta for it.
  virtual bool partition_unchanged(std::size_t partition) const {
    (void)partition;
    return false;
  }
  // Per partition, its files after the last save or restore (kept by checkpoint/state_store).
  std::vector<state_partition_files> partition_files;
  // Set when the partitions' files cannot rebuild the state (restored from the unpartitioned
  // layout, or spread over another number of partitions): the next save writes a snapshot of
  // every partition, and clears it.
  bool full_snapshot_due = false;
};

}  // namespace sluice
