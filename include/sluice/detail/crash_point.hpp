// Crash points for the crash tests: with SLUICE_CRASH_AT=<point>:<n> in the environment, the
// process kills itself (SIGKILL, no clean-up) the n-th time it reaches <point>. Without the
// variable a crash point costs one branch on a cached flag. Points: after_offsets (offsets/N
// durable, batch not run), after_sink (sink took batch N, state not saved), after_state (state
// saved, no commit), after_commit, and the sinks' own (e.g. files_sink_data_written). With
// SLUICE_CRASH_SIGNAL=STOP the process stops itself instead (SIGSTOP: a stall, resumed by SIGCONT).
#pragma once
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sluice::detail {

struct crash_spec {
  std::string point;
  long at = 0;
};

inline const crash_spec& crash_setting() {
  static const crash_spec spec = [] {
    crash_spec s;
    if (const char* v = std::getenv("SLUICE_CRASH_AT")) {
      std::string text(v);
      if (auto colon = text.rfind(':'); colon != std::string::npos) {
        s.point = text.substr(0, colon);
        s.at = std::strtol(text.c_str() + colon + 1, nullptr, 10);
      }
    }
    return s;
  }();
  return spec;
}

inline void crash_point(std::string_view point) {
  const auto& spec = crash_setting();
  if (spec.at <= 0 || spec.point != point) return;
  static std::atomic<long> reached{0};
  if (++reached != spec.at) return;
  const char* sig = std::getenv("SLUICE_CRASH_SIGNAL");
  ::kill(::getpid(), sig && std::string_view(sig) == "STOP" ? SIGSTOP : SIGKILL);
}

}  // namespace sluice::detail
