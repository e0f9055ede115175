# sluice::kafka for find_package(sluice COMPONENTS kafka): the Kafka source and sink.
# librdkafka is looked for QUIETly: when it is missing only this component is reported as
# not found (sluice_kafka_FOUND stays FALSE), not the whole package.
find_library(_sluice_rdkafka_library NAMES rdkafka)
find_path(_sluice_rdkafka_include NAMES librdkafka/rdkafka.h)
if(NOT _sluice_rdkafka_library OR NOT _sluice_rdkafka_include)
  set(_sluice_why "component 'kafka' needs librdkafka (librdkafka-dev), which was not found")
  return()
endif()
if(NOT TARGET sluice::kafka)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-kafka-targets.cmake")
endif()
set(sluice_kafka_FOUND TRUE)
