# sluice::delta for find_package(sluice COMPONENTS delta): Delta Lake tables, Parquet through
# Apache Arrow C++, found by sluice-find-arrow.cmake as when sluice was built. When it is not
# there, only this component is reported as not found (sluice_delta_FOUND stays FALSE).
include("${CMAKE_CURRENT_LIST_DIR}/sluice-find-arrow.cmake")
if(NOT TARGET sluice::delta_arrow)
  return()
endif()
if(NOT TARGET sluice::delta)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-delta-targets.cmake")
endif()
set(sluice_delta_FOUND TRUE)
