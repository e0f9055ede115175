# Conan package, librdkafka platform-provided: sluice::kafka links the system's (pkg-config
# modules rdkafka and rdkafka++, as Debian's librdkafka-dev installs them).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SLUICE_RDKAFKA REQUIRED IMPORTED_TARGET rdkafka>=2.0)
pkg_check_modules(SLUICE_RDKAFKAXX QUIET IMPORTED_TARGET rdkafka++>=2.0)
set_property(TARGET sluice::kafka APPEND PROPERTY INTERFACE_LINK_LIBRARIES PkgConfig::SLUICE_RDKAFKA)
if(TARGET PkgConfig::SLUICE_RDKAFKAXX)
  set_property(TARGET sluice::kafka APPEND PROPERTY INTERFACE_LINK_LIBRARIES PkgConfig::SLUICE_RDKAFKAXX)
endif()
