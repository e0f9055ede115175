#!/usr/bin/env bash
# Seed 004's windowed aggregation in sluice and in PySpark local mode over the same generated
# JSON files, same cores; checks that the aggregates agree and prints events/s and the ratio.
# sluice runs twice: on one thread (parallelism 1, decode_threads 1), then on SPARK_CORES
# threads (parallelism and decode_threads SPARK_CORES), as Spark's local[SPARK_CORES].
#
#   benchmarks/spark/run.sh [BUILD_DIR] [RESULTS_DIR]
#
# BUILD_DIR (default build/bench) must hold sluice_spark_compare (target of the same name,
# configured with -DSLUICE_BUILD_BENCHMARKS=ON). PySpark comes from the project venv
# (benchmarks/spark/install.sh puts it there). Environment: SPARK_FILES (20),
# SPARK_EVENTS_PER_FILE (100000), SPARK_CORES (2), SPARK_RUNS (2), SLUICE_RUNS (3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$(realpath -m "${1:-$repo/build/bench}")"
results="$(realpath -m "${2:-$build/spark-compare}")"
venv_python="${SLUICE_VENV:-$repo/build/venv}/bin/python"
mkdir -p "$results"
source "$repo/benchmarks/spark/peers.sh"

peers_check_sluice "$build"
if ! "$venv_python" -c "import pyspark" 2>/dev/null; then
  echo "spark/run.sh: PySpark is not installed in the venv: run benchmarks/spark/install.sh" >&2
  exit 1
fi

data="$results/input"
peers_generate "$data"

echo "== sluice, parallelism 1, decode_threads 1" >&2
"$build/benchmarks/sluice_spark_compare" "$data" --out "$results/sluice-1.json" --runs "${SLUICE_RUNS:-3}" \
  --decode-threads 1 --parallelism 1
echo "== sluice, parallelism ${SPARK_CORES:-2}, decode_threads ${SPARK_CORES:-2}" >&2
"$build/benchmarks/sluice_spark_compare" "$data" --out "$results/sluice.json" --runs "${SLUICE_RUNS:-3}" \
  --decode-threads "${SPARK_CORES:-2}" --parallelism "${SPARK_CORES:-2}"
echo "== PySpark local[${SPARK_CORES:-2}]" >&2
"$venv_python" "$here/spark_agg.py" "$data" --out "$results/spark.json" --cores "${SPARK_CORES:-2}" \
  --runs "${SPARK_RUNS:-2}"
python3 "$here/compare.py" "$results/sluice.json" "$results/spark.json" --json "$results/summary.json" \
  --also "$results/sluice-1.json"
