# sluice::app for find_package(sluice COMPONENTS app): applications configured from YAML.
# yaml-cpp is looked for QUIETly: when it is missing only this component is reported as not
# found (sluice_app_FOUND stays FALSE), not the whole package. It needs the admin component.
find_package(yaml-cpp QUIET)
if(NOT yaml-cpp_FOUND OR NOT TARGET yaml-cpp)
  set(_sluice_why "component 'app' needs yaml-cpp (libyaml-cpp-dev), which was not found")
  return()
endif()
if(NOT TARGET sluice::admin)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-admin-targets.cmake")
endif()
if(NOT TARGET sluice::app)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-app-targets.cmake")
endif()
set(sluice_app_FOUND TRUE)
