# sluice::rest for find_package(sluice COMPONENTS rest): the REST streaming source.
# Its dependencies are looked for QUIETly: when one is missing only this component is
# reported as not found (sluice_rest_FOUND stays FALSE), not the whole package.
find_package(OpenSSL QUIET)
if(NOT OpenSSL_FOUND)
  set(_sluice_why "component 'rest' needs OpenSSL (libssl-dev), which was not found")
  return()
endif()
if(NOT TARGET sluice::rest)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-rest-targets.cmake")
endif()
set(sluice_rest_FOUND TRUE)
