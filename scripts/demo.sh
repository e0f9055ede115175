#!/usr/bin/env bash
# THE main-job command: builds sluice_demo (release preset, -O2) and runs it.
# Arguments are passed to the demo; with none it runs on embedded defaults.
# The demo runs in the directory you call this script from.
# Environment: SLUICE_JOBS (default 2), SLUICE_SKIP_DEPS=1 (skip install-deps).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${SLUICE_JOBS:-2}"

if [[ ! -f "$root/examples/demo.cpp" ]]; then
  echo "demo.sh: examples/demo.cpp does not exist yet" >&2
  exit 1
fi

(
  cd "$root"
  bash scripts/install-deps.sh
  cmake --preset release -DSLUICE_BUILD_EXAMPLES=ON >/dev/null
  cmake --build --preset release -j "$jobs" --target sluice_demo
)

exec "$root/build/release/examples/sluice_demo" "$@"
