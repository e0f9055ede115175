# Conan package, OpenSSL platform-provided: sluice::rest links the system's.
find_package(OpenSSL REQUIRED)
set_property(TARGET sluice::rest APPEND PROPERTY INTERFACE_LINK_LIBRARIES OpenSSL::SSL OpenSSL::Crypto)
