#!/usr/bin/env bash
# The whole benchmark suite, one command (about 9 minutes on a 2-core machine from an empty
# build directory, and about a minute more for Flink: well under 15):
#
#   benchmarks/run_all.sh            build + run everything, results in build/bench/results/
#   benchmarks/run_all.sh --smoke    build + run each program for a moment (what CI does)
#
# 1. configures and builds the benchmarks in their own build directory (Release, -O2):
#    every Google Benchmark program bench_* and sluice_spark_compare;
# 2. runs each bench_* (median of 3 repetitions of at least 0.5 s);
# 3. bench_kafka and bench_kafka_instances (1 vs 2 processes) against a broker of its own
#    (scripts/kafka.sh; SLUICE_BENCH_KAFKA=0 skips them);
# 4. the Spark comparison (benchmarks/spark/run.sh: seed 004's windowed aggregation in
#    sluice and in PySpark local[2] over the same files), when PySpark is installed or
#    installable (benchmarks/spark/install.sh; SLUICE_BENCH_SPARK=0 skips it);
# 5. the Flink comparison (benchmarks/flink/run.sh: the same query and files in PyFlink's
#    Table API, streaming mode, parallelism 2), when PyFlink is installed or installable in
#    its own venv (benchmarks/flink/install.sh, about 850 MB and a minute or two the first
#    time; SLUICE_BENCH_FLINK=0 skips it);
# 6. the compile-time suite (benchmarks/compile_time/compile_time.py).
# Everything printed goes to results/results-<UTC time>.md too, with the machine, the commit
# and the commands; the Google Benchmark programs also write JSON there.
#
# Environment: SLUICE_BENCH_BUILD (build dir, default build/bench), SLUICE_BENCH_JOBS (build
# jobs, default 2), SLUICE_BENCH_MIN_TIME (default 0.5), SLUICE_BENCH_REPETITIONS (default 3),
# SLUICE_BENCH_FILTER (regex on program names, e.g. 'decode|window'), SLUICE_BENCH_SPARK=0,
# SLUICE_BENCH_FLINK=0, SLUICE_BENCH_KAFKA=0,
# SLUICE_BENCH_COMPILE_TIME=0.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

smoke=0
if [[ "${1:-}" == "--smoke" ]]; then smoke=1; fi
build="${SLUICE_BENCH_BUILD:-build/bench}"
jobs="${SLUICE_BENCH_JOBS:-2}"
filter="${SLUICE_BENCH_FILTER:-.}"
results="$build/results"
mkdir -p "$results"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report="$results/results-$stamp.md"
[[ $smoke == 1 ]] && report="$results/smoke-$stamp.md"
start_s=$SECONDS

log() { echo "$@" | tee -a "$report"; }
section() { log ""; log "## $*"; log ""; }
run() {  # prints the command, runs it, copies its output into the report
  log '```'
  log "\$ $*"
  local rc=0 t0=$SECONDS
  "$@" 2>&1 | tee -a "$report" || rc=$?
  log '```'
  log "($((SECONDS - t0)) s)"
  return $rc
}

: >"$report"
log "# sluice benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
log ""
log "- machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GB"}') RAM, $(uname -sr)"
log "- compiler: $(${CXX:-g++} --version | head -1)"
log "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
log "- command: benchmarks/run_all.sh $*"

failed=()
section "Build"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  run cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DSLUICE_BUILD_BENCHMARKS=ON -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF
fi
# keep going past a program that does not build: the others still run, the summary says so
keep_going=(-k)
grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$build/CMakeCache.txt" && keep_going=(-k 0)
run cmake --build "$build" --target sluice_benchmarks -j "$jobs" -- "${keep_going[@]}" || failed+=("build")

section "Google Benchmark programs"
# Programs with many cases (84 in sliding_window: 7 ratios x 12) run each case once for at
# least 0.2 s: with 3 repetitions of 0.5 s they alone would take over 10 minutes.
many_cases="${SLUICE_BENCH_MANY_CASES:-bench_sliding_window}"
for exe in "$build"/benchmarks/bench_*; do
  [[ -x "$exe" ]] || continue
  name="$(basename "$exe")"
  [[ "$name" =~ $filter ]] || continue
  [[ "$name" == bench_kafka || "$name" == bench_kafka_instances ]] && continue  # not Google Benchmark programs: below, with a broker
  if [[ $smoke == 1 ]]; then
    run "$exe" --benchmark_min_time=0.01 || failed+=("$name")
  elif [[ " $many_cases " == *" $name "* ]]; then
    run "$exe" --benchmark_min_time=0.2 --benchmark_out="$results/$name-$stamp.json" \
      --benchmark_out_format=json || failed+=("$name")
  else
    run "$exe" --benchmark_min_time="${SLUICE_BENCH_MIN_TIME:-0.5}" \
      --benchmark_repetitions="${SLUICE_BENCH_REPETITIONS:-3}" --benchmark_report_aggregates_only=true \
      --benchmark_out="$results/$name-$stamp.json" --benchmark_out_format=json || failed+=("$name")
  fi
done

section "Kafka (a local broker, both sides in one run)"
# bench_kafka needs a broker: scripts/kafka.sh starts one of its own in the build directory
# (the jars come from scripts/deps/40-kafka.sh) and stops it afterwards.
if [[ ! -x "$build/benchmarks/bench_kafka" || ! "bench_kafka" =~ $filter ]]; then
  log "skipped (bench_kafka not built, or not selected)"
elif [[ "${SLUICE_BENCH_KAFKA:-1}" == 0 ]]; then
  log "skipped (SLUICE_BENCH_KAFKA=0)"
elif bash scripts/deps/40-kafka.sh >>"$report" 2>&1 && bash scripts/kafka.sh start --dir "$build/kafka-broker" --fresh >>"$report" 2>&1; then
  if [[ $smoke == 1 ]]; then
    run "$build/benchmarks/bench_kafka" --broker-dir "$build/kafka-broker" --records 2000 --repeat 1 --rates 2000 \
      --seconds 2 || failed+=("bench_kafka")
  else
    run "$build/benchmarks/bench_kafka" --broker-dir "$build/kafka-broker" --records 500000 --repeat 3 \
      --rates 2000,10000,30000,60000 --seconds 5 || failed+=("bench_kafka")
  fi
  # Scale-out: the same query as 1 and as 2 processes (instances) over a 6-partition topic.
  if [[ -x "$build/benchmarks/bench_kafka_instances" ]]; then
    if [[ $smoke == 1 ]]; then
      run "$build/benchmarks/bench_kafka_instances" --broker-dir "$build/kafka-broker" --records 3000 --repeat 1 \
        || failed+=("bench_kafka_instances")
    else
      run "$build/benchmarks/bench_kafka_instances" --broker-dir "$build/kafka-broker" --records 1000000 --repeat 3 \
        || failed+=("bench_kafka_instances")
    fi
  fi
  bash scripts/kafka.sh stop --dir "$build/kafka-broker" >>"$report" 2>&1 || true
else
  log "the Kafka broker could not be started (see above): bench_kafka did not run"
  failed+=("bench_kafka (no broker)")
fi

section "Against Spark (seed 004, same files, same cores)"
if [[ $smoke == 1 ]]; then
  # the sluice side on a small generated input: it must run and read every row
  tiny="$build/smoke-spark-input"
  run python3 benchmarks/spark/generate.py "$tiny" --files 3 --events-per-file 1000 &&
    run "$build/benchmarks/sluice_spark_compare" "$tiny" --out "$results/smoke-sluice-agg.json" --runs 1 ||
    failed+=("sluice_spark_compare")
elif [[ "${SLUICE_BENCH_SPARK:-1}" == 0 ]]; then
  log "skipped (SLUICE_BENCH_SPARK=0)"
elif bash benchmarks/spark/install.sh >>"$report" 2>&1; then
  if run bash benchmarks/spark/run.sh "$build" "$build/spark-compare"; then
    spark_result="$build/spark-compare/spark.json"
  else
    failed+=("spark comparison")
  fi
else
  log "PySpark could not be installed (see above): the Spark comparison did not run"
  failed+=("spark comparison (PySpark not installable)")
fi

section "Against Flink (seed 004, same files, same cores)"
if [[ $smoke == 1 ]]; then
  # not installed for a smoke run (850 MB); when it is there, both sides on the small input
  if [[ "${SLUICE_BENCH_FLINK:-1}" != 0 ]] && "${SLUICE_FLINK_VENV:-build/flink-venv}/bin/python" -c "import pyflink" 2>/dev/null; then
    run env PEERS_INPUT="$tiny" SPARK_FILES=3 SPARK_EVENTS_PER_FILE=1000 SLUICE_RUNS=1 FLINK_RUNS=1 bash benchmarks/flink/run.sh "$build" "$results/smoke-flink" ||
      failed+=("flink comparison")
  else
    log "skipped (PyFlink not installed: benchmarks/flink/install.sh)"
  fi
elif [[ "${SLUICE_BENCH_FLINK:-1}" == 0 ]]; then
  log "skipped (SLUICE_BENCH_FLINK=0)"
elif bash benchmarks/flink/install.sh >>"$report" 2>&1; then
  # Spark's result of this run, if any, goes in the same table (same files, checked the same way)
  run env SPARK_RESULT="${spark_result:-}" bash benchmarks/flink/run.sh "$build" "$build/flink-compare" ||
    failed+=("flink comparison")
else
  log "PyFlink could not be installed (see above): the Flink comparison did not run"
  failed+=("flink comparison (PyFlink not installable)")
fi

section "Compile time"
if [[ $smoke == 1 ]]; then
  run python3 benchmarks/compile_time/compile_time.py --out "$build/compile_time" --opt=-O0 --stages 1 ||
    failed+=("compile_time")
elif [[ "${SLUICE_BENCH_COMPILE_TIME:-1}" == 0 ]]; then
  log "skipped (SLUICE_BENCH_COMPILE_TIME=0)"
else
  run python3 benchmarks/compile_time/compile_time.py --out "$build/compile_time" --repeat 1 \
    --json "$results/compile-time-$stamp.json" || failed+=("compile_time")
fi

section "Summary"
log "total: $((SECONDS - start_s)) s"
if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  echo "results: $report" >&2
  exit 1
fi
log "all parts ran"
echo "results: $report" >&2
