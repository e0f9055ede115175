#!/usr/bin/env bash
# Seed 004's windowed aggregation in sluice and in PyFlink (Table API, local mini-cluster)
# over the same generated JSON files as the Spark comparison (benchmarks/spark/), same cores;
# checks that both read every row and that the aggregates agree, then prints events/s and
# the ratio. With SPARK_RESULT (spark_agg.py's result file, from benchmarks/spark/run.sh
# over the same files) Spark is checked and printed in the same table.
#
#   benchmarks/flink/run.sh [BUILD_DIR] [RESULTS_DIR]
#
# BUILD_DIR (default build/bench) must hold sluice_spark_compare (target of the same name,
# configured with -DSLUICE_BUILD_BENCHMARKS=ON). PyFlink comes from its own venv
# (benchmarks/flink/install.sh puts it in build/flink-venv). Environment: SPARK_FILES (20),
# SPARK_EVENTS_PER_FILE (100000) and PEERS_INPUT (BUILD_DIR/spark-compare/input: the files
# are generated once for both peers), FLINK_PARALLELISM (2, also sluice's parallelism and
# decode_threads), FLINK_RUNS (2), FLINK_MODE (streaming; batch for Flink's batch execution
# mode), SLUICE_RUNS (3), SLUICE_FLINK_VENV, SPARK_RESULT.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$(realpath -m "${1:-$repo/build/bench}")"
results="$(realpath -m "${2:-$build/flink-compare}")"
venv_python="${SLUICE_FLINK_VENV:-$repo/build/flink-venv}/bin/python"
cores="${FLINK_PARALLELISM:-2}"
mkdir -p "$results"
source "$repo/benchmarks/spark/peers.sh"

peers_check_sluice "$build"
if ! "$venv_python" -c "import pyflink" 2>/dev/null; then
  echo "flink/run.sh: PyFlink is not installed: run benchmarks/flink/install.sh" >&2
  exit 1
fi

data="$(realpath -m "${PEERS_INPUT:-$build/spark-compare/input}")"
peers_generate "$data"

echo "== sluice, parallelism $cores, decode_threads $cores" >&2
"$build/benchmarks/sluice_spark_compare" "$data" --out "$results/sluice.json" --runs "${SLUICE_RUNS:-3}" \
  --decode-threads "$cores" --parallelism "$cores"
echo "== PyFlink ${FLINK_MODE:-streaming} mode, parallelism $cores" >&2
"$venv_python" "$here/flink_agg.py" "$data" --out "$results/flink.json" --parallelism "$cores" \
  --runs "${FLINK_RUNS:-2}" --mode "${FLINK_MODE:-streaming}"
peers=("$results/flink.json")
if [[ -n "${SPARK_RESULT:-}" && -f "$SPARK_RESULT" ]]; then peers+=("$SPARK_RESULT"); fi
python3 "$repo/benchmarks/spark/compare.py" "$results/sluice.json" "${peers[@]}" --json "$results/summary.json"
