# Conan package, Boost platform-provided ([platform_requires]): CMakeDeps writes no Boost
# config then, so find the system's (headers and Boost.JSON) and link it to sluice::header_only
# (which sluice::sluice links).
if(NOT TARGET Boost::json)
  find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS json)
endif()
set_property(TARGET sluice::header_only APPEND PROPERTY INTERFACE_LINK_LIBRARIES Boost::headers Boost::json)
