#!/usr/bin/env bash
# `conan create` of conanfile.py, offline: every requirement is platform-provided
# (conan/profiles/platform: Debian's Boost, OpenSSL, simdjson, librdkafka; Arrow C++ from the
# venv's pyarrow), ConanCenter is disabled, and the Conan home is build/conan-home, so nothing
# outside the tree is touched. Creates the package three times: with the default options (the
# core: headers and the compiled engine), with every component, and in the pure header form
# (header_only=True), each time building and running test_package/.
# Environment: SLUICE_VENV (default build/venv), where scripts/deps/40-conan.sh put conan.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${SLUICE_VENV:-build/venv}"
conan="$venv/bin/conan"
export CONAN_HOME="$PWD/build/conan-home"
mkdir -p "$CONAN_HOME"

if [[ ! -f "$CONAN_HOME/profiles/default" ]]; then
  "$conan" profile detect >/dev/null
fi
if "$conan" remote list --format=json | grep -q '"conancenter"'; then
  "$conan" remote disable conancenter >/dev/null
fi
# Arrow C++ for with_delta: the pyarrow wheel (the profile passes it to the test package).
SLUICE_PYARROW_DIR="$("$venv/bin/python" -c 'import os, pyarrow; print(os.path.dirname(pyarrow.__file__))')"
export SLUICE_PYARROW_DIR
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

profile=conan/profiles/platform
all=(-o "sluice/*:with_rest=True" -o "sluice/*:with_delta=True" -o "sluice/*:with_simdjson=True"
     -o "sluice/*:with_app=True")
# The Kafka component, once this tree has it.
if [[ -f cmake/component-kafka.cmake ]]; then
  all+=(-o "sluice/*:with_kafka=True")
fi

echo "==> conan create (default options)"
"$conan" create . -pr:h "$profile" -pr:b "$profile" --build=missing
echo "==> conan create (all components: ${all[*]})"
"$conan" create . -pr:h "$profile" -pr:b "$profile" --build=missing "${all[@]}"
echo "==> conan create (header_only=True: the pure header form)"
"$conan" create . -pr:h "$profile" -pr:b "$profile" --build=missing -o "sluice/*:header_only=True"
