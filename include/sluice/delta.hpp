// sluice::delta: Delta Lake tables (Parquet through Apache Arrow C++). Not part of
// <sluice/sluice.hpp>: include it, and link the CMake target sluice::delta.
//
//   stream | sl::delta::sink("data/events")          an exactly-once streaming sink (delta/sink.hpp)
//   sl::delta::read<User>("data/users")             a table as rows, for static tables (delta/read.hpp)
//   sl::delta::source<Event>("data/events") | ...   a table as a stream (delta/source.hpp)
//
// See docs/delta.md.
#pragma once
#include "sluice.hpp"
#include "delta/actions.hpp"
#include "delta/arrow_schema.hpp"
#include "delta/checkpoint_read.hpp"
#include "delta/checkpoint_write.hpp"
#include "delta/commit.hpp"
#include "delta/log.hpp"
#include "delta/parquet_read.hpp"
#include "delta/parquet_write.hpp"
#include "delta/read.hpp"
#include "delta/sink.hpp"
#include "delta/source.hpp"
