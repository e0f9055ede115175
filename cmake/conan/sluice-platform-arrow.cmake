# Conan package, Arrow platform-provided: sluice::delta links Arrow C++ and Parquet found as an
# install of sluice finds them (a system package, else pyarrow through SLUICE_PYARROW_DIR).
include("${CMAKE_CURRENT_LIST_DIR}/sluice-find-arrow.cmake")
if(NOT TARGET sluice::delta_arrow)
  message(FATAL_ERROR "sluice (Conan): ${_sluice_why}")
endif()
set_property(TARGET sluice::delta APPEND PROPERTY INTERFACE_LINK_LIBRARIES sluice::delta_arrow)
