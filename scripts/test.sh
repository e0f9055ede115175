#!/usr/bin/env bash
# THE test command: installs what it needs (Debian packages; Python packages in the
# build/venv venv; json-server from npm), builds everything (release preset, -O2,
# benchmarks included), runs all tests (unit, compile-fail, examples, crash, the REST and
# Delta components against real servers and readers, Kafka against a real broker, each
# benchmark for a moment), then installs sluice to a temporary prefix and builds and runs
# tests/consumer against it, and creates the Conan package (scripts/conan-create.sh), running
# its test_package.
# Extra arguments are passed to ctest (e.g. `-R fail.` or `-L unit`).
# Environment: SLUICE_JOBS (default 2), SLUICE_SKIP_DEPS=1 (skip install-deps).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${SLUICE_JOBS:-2}"

bash scripts/install-deps.sh

echo "==> configure (release preset)"
cmake --preset release -DSLUICE_BUILD_TESTS=ON -DSLUICE_BUILD_EXAMPLES=ON -DSLUICE_BUILD_BENCHMARKS=ON

echo "==> build"
cmake --build --preset release -j "$jobs"

echo "==> test"
ctest --preset release --output-on-failure -j "$jobs" "$@"

echo "==> install + external consumer (find_package(sluice CONFIG))"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sluice-consumer.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cmake --install build/release --prefix "$tmp/prefix"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# The consumer also uses the delta and rest components; Arrow C++ comes from the venv's pyarrow.
pyarrow_dir="$("${SLUICE_VENV:-build/venv}/bin/python" -c 'import os, pyarrow; print(os.path.dirname(pyarrow.__file__))')"
cmake -S tests/consumer -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" "${launcher[@]}" \
  -DSLUICE_CONSUMER_REQUIRE_COMPONENTS=ON -DSLUICE_PYARROW_DIR="$pyarrow_dir"
cmake --build "$tmp/build" -j "$jobs"
"$tmp/build/sluice_consumer"
"$tmp/build/sluice_consumer_header_only"
"$tmp/build/sluice_consumer_components" "$tmp"
"$tmp/build/sluice_consumer_kafka"
"$tmp/build/sluice_consumer_admin"
"$tmp/build/sluice_consumer_app"
"$tmp/prefix/bin/sluice" --help >/dev/null  # the installed command runs

echo "==> conan create (offline, system libraries; default options, every component, header-only)"
bash scripts/conan-create.sh

echo "==> all tests passed"
