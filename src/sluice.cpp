// sluice::sluice: the engine's non-template functions, compiled once for every program that
// links the target (which defines SLUICE_SEPARATE_COMPILATION for it and for them).
#include <sluice/src.hpp>
