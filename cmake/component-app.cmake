# Component sluice::app: applications whose pipelines are configured from a YAML file
# (<sluice/app.hpp>: sl::app, named pipelines, `my_app run pipeline.yaml` under the query
# manager with the admin endpoint). Header-only on sluice's side; links yaml-cpp (Debian's
# libyaml-cpp-dev). Without yaml-cpp the component is skipped with a warning.
option(SLUICE_WITH_APP "Build the app component (needs yaml-cpp)" ON)

if(SLUICE_WITH_APP)
  find_package(yaml-cpp QUIET)
  if(yaml-cpp_FOUND AND TARGET yaml-cpp)
    add_library(sluice_app INTERFACE)
    add_library(sluice::app ALIAS sluice_app)
    set_target_properties(sluice_app PROPERTIES EXPORT_NAME app)
    target_link_libraries(sluice_app INTERFACE sluice_admin yaml-cpp)
    list(APPEND SLUICE_PROVIDED_COMPONENTS app)
    set(SLUICE_HAS_APP ON)
    if(SLUICE_INSTALL)
      include(GNUInstallDirs)
      set(_sluice_app_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/sluice")
      if(SLUICE_INSTALL_CMAKEDIR)
        set(_sluice_app_cmakedir "${SLUICE_INSTALL_CMAKEDIR}")
      endif()
      install(TARGETS sluice_app EXPORT sluiceAppTargets)
      install(EXPORT sluiceAppTargets
        NAMESPACE sluice::
        FILE sluice-app-targets.cmake
        DESTINATION ${_sluice_app_cmakedir})
    endif()
  else()
    message(WARNING "sluice: yaml-cpp not found (libyaml-cpp-dev): the app component is not built. "
      "Run scripts/install-deps.sh.")
    set(SLUICE_HAS_APP OFF)
  endif()
endif()
