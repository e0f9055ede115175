# sluice::admin for find_package(sluice COMPONENTS admin): the admin HTTP endpoint
# (Boost.Beast, part of Boost's headers: nothing more to find).
if(NOT TARGET sluice::admin)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-admin-targets.cmake")
endif()
set(sluice_admin_FOUND TRUE)
