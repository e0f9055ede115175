#!/usr/bin/env bash
# Installs PyFlink (apache-flink on PyPI) into a venv of its own, build/flink-venv, for the
# Flink comparison (benchmarks/flink/). Not run by scripts/install-deps.sh and not shared with
# the project venv: only this benchmark needs it, it is large (about 850 MB, the jars of
# apache-flink-libraries alone over 300 MB) and it pins its own versions of pyarrow, pandas
# and numpy. Java 17 must be on the PATH (Debian: openjdk-17-jre-headless).
# Idempotent: quick when the venv already holds the wanted version (a stamp file says so).
#
# Environment: SLUICE_FLINK_VENV (default <repo>/build/flink-venv), SLUICE_FLINK_VERSION
# (default 2.3.0).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${SLUICE_FLINK_VENV:-$repo/build/flink-venv}"
version="${SLUICE_FLINK_VERSION:-2.3.0}"
stamp="$venv/.sluice-apache-flink-$version"

if ! command -v java >/dev/null 2>&1; then
  echo "benchmarks/flink/install.sh: java not found (PyFlink needs Java 17: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
if [[ -f "$stamp" ]] && "$venv/bin/python" -c "import pyflink" 2>/dev/null; then
  exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
echo "benchmarks/flink/install.sh: installing apache-flink==$version into $venv (about 850 MB)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "apache-flink==$version"
"$venv/bin/python" -c "import pyflink" # fails loudly when the install is broken
rm -f "$venv"/.sluice-apache-flink-*
touch "$stamp"
