# Component sluice::kafka: the Kafka source and sink over librdkafka's C API (Debian's
# librdkafka-dev, found with pkg-config). Header-only on sluice's side. Without librdkafka
# the component is skipped with a warning.
option(SLUICE_WITH_KAFKA "Build the Kafka component (needs librdkafka)" ON)

if(SLUICE_WITH_KAFKA)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(RDKAFKA QUIET IMPORTED_TARGET GLOBAL rdkafka)
  endif()
  if(RDKAFKA_FOUND)
    add_library(sluice_kafka INTERFACE)
    add_library(sluice::kafka ALIAS sluice_kafka)
    set_target_properties(sluice_kafka PROPERTIES EXPORT_NAME kafka)
    # Linked by name, not through the imported pkg-config target, so the exported target
    # needs nothing but the library on the consumer's side (cmake/sluice-kafka.cmake).
    target_include_directories(sluice_kafka INTERFACE ${RDKAFKA_INCLUDE_DIRS})
    target_link_directories(sluice_kafka INTERFACE ${RDKAFKA_LIBRARY_DIRS})
    target_link_libraries(sluice_kafka INTERFACE sluice ${RDKAFKA_LIBRARIES})
    list(APPEND SLUICE_PROVIDED_COMPONENTS kafka)
    set(SLUICE_HAS_KAFKA ON)
    if(SLUICE_INSTALL)
      include(GNUInstallDirs)
      set(_sluice_kafka_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/sluice")
      if(SLUICE_INSTALL_CMAKEDIR)
        set(_sluice_kafka_cmakedir "${SLUICE_INSTALL_CMAKEDIR}")
      endif()
      install(TARGETS sluice_kafka EXPORT sluiceKafkaTargets)
      install(EXPORT sluiceKafkaTargets
        NAMESPACE sluice::
        FILE sluice-kafka-targets.cmake
        DESTINATION ${_sluice_kafka_cmakedir})
    endif()
  else()
    message(WARNING "sluice: librdkafka not found (librdkafka-dev, pkg-config rdkafka): the kafka component is not "
      "built. Run scripts/install-deps.sh.")
    set(SLUICE_HAS_KAFKA OFF)
  endif()
endif()
