# Conan package, yaml-cpp platform-provided (with_app): sluice::app links the system's
# (Debian's libyaml-cpp-dev, whose CMake config defines the target yaml-cpp).
if(NOT TARGET yaml-cpp)
  find_package(yaml-cpp CONFIG REQUIRED)
endif()
set_property(TARGET sluice::app APPEND PROPERTY INTERFACE_LINK_LIBRARIES yaml-cpp)
