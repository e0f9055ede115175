#!/usr/bin/env bash
# Installs PySpark into the project's venv (build/venv) for the Spark comparison
# (benchmarks/spark/). Not run by scripts/install-deps.sh: only this benchmark needs it
# (about 300 MB). Java 17 must be on the PATH (Debian: openjdk-17-jre-headless).
# Idempotent: quick when PySpark is already installed.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/deps/_lib.sh"
sluice_pip "pyspark==3.5.*"
if ! command -v java >/dev/null 2>&1; then
  echo "benchmarks/spark/install.sh: java not found (PySpark needs Java 17: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
