# Conan package, simdjson platform-provided (with_simdjson): sluice::header_only (and so
# sluice::sluice) links the system's.
if(NOT TARGET simdjson::simdjson)
  find_package(simdjson CONFIG REQUIRED)
endif()
set_property(TARGET sluice::header_only APPEND PROPERTY INTERFACE_LINK_LIBRARIES simdjson::simdjson)
