# Component sluice::admin: the admin HTTP endpoint (<sluice/admin.hpp>: queries, stop,
# Prometheus metrics) on Boost.Beast. Header-only and without dependencies beyond Boost's
# headers, so always built; a component of its own because Beast is heavy to compile and
# <sluice/sluice.hpp> must stay light.
add_library(sluice_admin INTERFACE)
add_library(sluice::admin ALIAS sluice_admin)
set_target_properties(sluice_admin PROPERTIES EXPORT_NAME admin)
target_link_libraries(sluice_admin INTERFACE sluice)
list(APPEND SLUICE_PROVIDED_COMPONENTS admin)
set(SLUICE_HAS_ADMIN ON)
if(SLUICE_INSTALL)
  include(GNUInstallDirs)
  set(_sluice_admin_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/sluice")
  if(SLUICE_INSTALL_CMAKEDIR)
    set(_sluice_admin_cmakedir "${SLUICE_INSTALL_CMAKEDIR}")
  endif()
  install(TARGETS sluice_admin EXPORT sluiceAdminTargets)
  install(EXPORT sluiceAdminTargets
    NAMESPACE sluice::
    FILE sluice-admin-targets.cmake
    DESTINATION ${_sluice_admin_cmakedir})
endif()
