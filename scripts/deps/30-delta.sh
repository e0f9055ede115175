#!/usr/bin/env bash
# Delta Lake component: Apache Arrow C++ / Parquet, taken from the pyarrow wheel
# (Debian bookworm packages no Arrow), and the independent readers the tests use:
# delta-rs (`deltalake`) and DuckDB. Pinned, so the C++ ABI (libarrow.so.2600) is known.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

sluice_pip pyarrow==26.0.1 deltalake==1.6.6 duckdb==1.5.6
