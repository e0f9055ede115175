# Shared by benchmarks/spark/run.sh and benchmarks/flink/run.sh (sourced, not run).
#
#   peers_check_sluice BUILD_DIR   fails, saying how to build it, unless BUILD_DIR holds
#                                  sluice_spark_compare
#   peers_generate DIR             seed 004's files in DIR (SPARK_FILES x SPARK_EVENTS_PER_FILE,
#                                  default 20 x 100000; quick when DIR already holds them)

peers_check_sluice() {
  if [[ ! -x "$1/benchmarks/sluice_spark_compare" ]]; then
    echo "$1/benchmarks/sluice_spark_compare not built (target sluice_spark_compare, configured with -DSLUICE_BUILD_BENCHMARKS=ON)" >&2
    return 1
  fi
}

peers_generate() {
  echo "== generating ${SPARK_FILES:-20} x ${SPARK_EVENTS_PER_FILE:-100000} events (seed 004's generator) into $1" >&2
  python3 "$(dirname "${BASH_SOURCE[0]}")/generate.py" "$1" --files "${SPARK_FILES:-20}" \
    --events-per-file "${SPARK_EVENTS_PER_FILE:-100000}"
  du -sh "$1" >&2
}
