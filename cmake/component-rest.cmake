# Component sluice::rest: the generic REST streaming source (Boost.Beast, Boost.JSON,
# OpenSSL). Header-only: Beast and Asio are Boost headers; TLS and OAuth 1.0a's HMAC-SHA1
# need OpenSSL (libssl-dev). Without OpenSSL the component is skipped with a warning.
option(SLUICE_WITH_REST "Build the REST source component (needs OpenSSL)" ON)

if(SLUICE_WITH_REST)
  find_package(OpenSSL QUIET)
  if(OpenSSL_FOUND)
    add_library(sluice_rest INTERFACE)
    add_library(sluice::rest ALIAS sluice_rest)
    set_target_properties(sluice_rest PROPERTIES EXPORT_NAME rest)
    target_link_libraries(sluice_rest INTERFACE sluice OpenSSL::SSL OpenSSL::Crypto)
    list(APPEND SLUICE_PROVIDED_COMPONENTS rest)
    set(SLUICE_HAS_REST ON)
    if(SLUICE_INSTALL)
      include(GNUInstallDirs)
      set(_sluice_rest_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/sluice")
      if(SLUICE_INSTALL_CMAKEDIR)
        set(_sluice_rest_cmakedir "${SLUICE_INSTALL_CMAKEDIR}")
      endif()
      install(TARGETS sluice_rest EXPORT sluiceRestTargets)
      install(EXPORT sluiceRestTargets
        NAMESPACE sluice::
        FILE sluice-rest-targets.cmake
        DESTINATION ${_sluice_rest_cmakedir})
    endif()
  else()
    message(WARNING "sluice: OpenSSL not found (libssl-dev): the rest component is not built. "
      "Run scripts/install-deps.sh.")
    set(SLUICE_HAS_REST OFF)
  endif()
endif()
