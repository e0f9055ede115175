# Builds and runs a typed pipeline against the package, with the components the package was
# created with (conan create . -o "sluice/*:with_rest=True" ...), in the package's mode (the
# compiled engine by default, -o "sluice/*:header_only=True" the pure header form).
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout


class SluiceTestConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps"
    test_type = "explicit"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        options = self.dependencies["sluice"].options
        tc = CMakeToolchain(self)
        for name in ("header_only", "with_rest", "with_delta", "with_kafka", "with_simdjson", "with_app"):
            tc.cache_variables["SLUICE_TEST_" + name.upper()] = bool(options.get_safe(name))
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if can_run(self):
            binary = os.path.join(self.cpp.build.bindir, "test_package")
            self.run(f'"{binary}" "{self.build_folder}"', env="conanrun")
