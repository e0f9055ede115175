#!/usr/bin/env bash
# Delta Lake component: Apache Arrow C++ / Parquet, taken from the pyarrow wheel
# (Debian bookworm packages no Arrow), and the independent readers the tests use:
# delta-rs (`deltalake`), DuckDB, and Apache Spark with delta-spark (pyspark 3.5 runs on
# the machine's Java 17; delta-spark's jars come from Maven Central when a test first
# starts Spark). Pinned, so the C++ ABI (libarrow.so.2600) is known.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

sluice_pip pyarrow==26.0.1 deltalake==1.6.6 duckdb==1.5.6 pyspark==3.5.5 delta-spark==3.3.2
