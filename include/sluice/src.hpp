// The separately compiled part of sluice: include this in exactly ONE source file of a program
// built with SLUICE_SEPARATE_COMPILATION defined (everywhere: the library target sluice::sluice
// does both, from its src/sluice.cpp):
//
//   // sluice.cpp
//   #include <sluice/src.hpp>
//
// It defines the engine's non-template functions (the micro-batch loop, recovery, checkpoint
// logs, progress JSON), which the headers then only declare. See impl/config.hpp.
#pragma once

#if !defined(SLUICE_SEPARATE_COMPILATION)
#error "sluice/src.hpp is for separate compilation: define SLUICE_SEPARATE_COMPILATION for every translation unit of the program (or link the CMake target sluice::sluice)"
#endif

#include "impl/codec.ipp"
#include "impl/file_io.ipp"
#include "impl/checkpoint.ipp"
#include "impl/state_store.ipp"
#include "impl/progress.ipp"
#include "impl/workers.ipp"
#include "impl/query.ipp"
