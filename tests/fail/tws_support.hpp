// The processor the transform_with_state compile-fail cases share: every event passed on.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "event.hpp"

struct Seen {
  void init(sl::processor_handle&) {}
  std::vector<Event> handle_input_rows(const std::string&, std::span<const Event> rows, const sl::timer_values&) {
    return {rows.begin(), rows.end()};
  }
};
