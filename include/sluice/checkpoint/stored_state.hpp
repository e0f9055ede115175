// What the state store needs of an operator's state: its delta and snapshot in the binary
// form generated from the state types (serialize.hpp). The engine's stateful_control
// (engine/control.hpp) extends it; the checkpoint layer knows nothing of the graph.
#pragma once
#include <boost/json/object.hpp>

namespace sluice {

class binary_writer;
class binary_reader;

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
};

}  // namespace sluice
