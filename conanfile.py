# Conan 2 recipe for sluice (conan-center style): the headers and the engine compiled once (a
# static library, libsluice), with components that map to the CMake targets of an install
# (sluice::sluice, sluice::header_only, sluice::rest, sluice::delta, sluice::kafka, sluice::app); with
# header_only=True the pure header form, one package for every configuration.
# docs/install.md shows how to use it with ConanCenter and offline.
#
# Dependencies are declared as a ConanCenter user gets them. When a profile provides one
# through [platform_requires] (conan/profiles/platform: Debian's Boost, OpenSSL, simdjson,
# librdkafka, yaml-cpp and Arrow from pyarrow), it has no package and CMakeDeps writes no config for it;
# the package then carries a small CMake build module per such dependency (cmake/conan/) that
# finds it on the system and links it to the component, as the install's own config does.
import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load

required_conan_version = ">=2.0"


class SluiceConan(ConanFile):
    name = "sluice"
    description = "Spark Structured Streaming for C++20: typed streaming queries on a micro-batch engine"
    # No license file in the tree yet: set `license` (and package it below) once there is one.
    topics = ("streaming", "spark", "structured-streaming", "header-only", "micro-batch")
    # "header-library" with header_only=True (configure()). Conan warns that an explicit type
    # takes precedence over a header_only option: here the recipe itself follows the option.
    package_type = "static-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "header_only": [True, False],
        "with_rest": [True, False],
        "with_delta": [True, False],
        "with_kafka": [True, False],
        "with_simdjson": [True, False],
        "with_app": [True, False],
    }
    default_options = {
        "header_only": False,
        "with_rest": False,
        "with_delta": False,
        "with_kafka": False,
        "with_simdjson": False,
        "with_app": False,
    }
    no_copy_source = True
    exports_sources = (
        "CMakeLists.txt",
        "include/*",
        "src/*",
        "cmake/*",
    )
    # The components' options do not change the library (src/sluice.cpp includes none of
    # their headers): one binary for all of them (package_id()).
    _component_options = ("with_rest", "with_delta", "with_kafka", "with_simdjson", "with_app")

    # The dependency of each option, and the build module that finds it when it is
    # platform-provided. Boost is the core's.
    _platform_modules = {
        "boost": "sluice-platform-boost.cmake",
        "openssl": "sluice-platform-openssl.cmake",
        "arrow": "sluice-platform-arrow.cmake",
        "librdkafka": "sluice-platform-rdkafka.cmake",
        "simdjson": "sluice-platform-simdjson.cmake",
        "yaml-cpp": "sluice-platform-yaml-cpp.cmake",
    }

    def set_version(self):
        # The version is CMake's: project(sluice VERSION x.y.z) in CMakeLists.txt.
        if self.version:
            return
        text = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*sluice\s+VERSION\s+([0-9][0-9.]*)", text)
        if not match:
            raise ConanException("sluice: no `project(sluice VERSION x.y.z)` in CMakeLists.txt")
        self.version = match.group(1)

    def configure(self):
        if self.options.header_only:
            self.package_type = "header-library"
        if self.options.with_delta:
            self.options["arrow"].parquet = True

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # Boost.Describe, Mp11, Beast and Asio are headers; Boost.JSON is a compiled library.
        self.requires("boost/[>=1.81]", transitive_headers=True, transitive_libs=True)
        if self.options.with_rest:
            self.requires("openssl/[>=1.1 <4]", transitive_headers=True, transitive_libs=True)
        if self.options.with_delta:
            self.requires("arrow/[>=15]", transitive_headers=True, transitive_libs=True)
        if self.options.with_kafka:
            self.requires("librdkafka/[>=2.0]", transitive_headers=True, transitive_libs=True)
        if self.options.with_simdjson:
            self.requires("simdjson/[>=3.0]", transitive_headers=True, transitive_libs=True)
        if self.options.with_app:
            self.requires("yaml-cpp/[>=0.7]", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        if self.info.options.header_only:
            # Headers only: one package for every configuration. The options stay in the id
            # only through the requirements they add.
            self.info.clear()
            return
        for name in self._component_options:
            self.info.options.rm_safe(name)

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)

    def source(self):
        pass

    def generate(self):
        if self.options.header_only:
            return
        tc = CMakeToolchain(self)
        # Only the library: no tests, tools or install rules, and no components (they are
        # headers; their dependencies are the consumer's).
        for name in ("SLUICE_BUILD_TESTS", "SLUICE_BUILD_EXAMPLES", "SLUICE_BUILD_BENCHMARKS",
                     "SLUICE_BUILD_TOOLS", "SLUICE_INSTALL", "SLUICE_WITH_REST", "SLUICE_WITH_DELTA",
                     "SLUICE_WITH_KAFKA"):
            tc.cache_variables[name] = False
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        if self.options.header_only:
            return
        cmake = CMake(self)
        cmake.configure()
        cmake.build(target="sluice")

    def package(self):
        if self.options.with_kafka and not os.path.isfile(
                os.path.join(self.source_folder, "cmake", "component-kafka.cmake")):
            # Checked here rather than in validate(): only the exported sources know.
            raise ConanInvalidConfiguration(
                "sluice: with_kafka=True, but this sluice source tree has no Kafka component yet "
                "(cmake/component-kafka.cmake)")
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        if not self.options.header_only:
            lib = os.path.join(self.package_folder, "lib")
            for pattern in ("*.a", "*.lib"):
                copy(self, pattern, self.build_folder, lib, keep_path=False)
        modules = os.path.join(self.package_folder, "lib", "cmake", "sluice")
        copy(self, "*.cmake", os.path.join(self.source_folder, "cmake", "conan"), modules)
        copy(self, "sluice-find-arrow.cmake", os.path.join(self.source_folder, "cmake"), modules)

    def _host_requirements(self):
        # (name, packaged) of the direct host requirements. A platform-provided one is in the
        # graph without a package folder (and not in dependencies.host): CMakeDeps writes
        # nothing for it.
        return [(str(req.ref.name), dep.package_folder is not None)
                for req, dep in self.dependencies.items() if req.direct and not req.build]

    def _dependency(self, name):
        return (name, True) in self._host_requirements()

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "sluice")
        # The package-wide target aggregates the components; the core one is sluice::sluice.
        self.cpp_info.set_property("cmake_target_name", "sluice::all")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        modules_dir = os.path.join("lib", "cmake", "sluice")
        build_modules = []

        def component(name, target, dependency, conan_requires, requires=("core",)):
            comp = self.cpp_info.components[name]
            comp.set_property("cmake_target_name", target)
            comp.bindirs = []
            comp.libdirs = []
            comp.requires = list(requires)
            if dependency is not None:
                if self._dependency(dependency):
                    comp.requires += conan_requires
                else:  # platform-provided: the build module finds it and links it
                    build_modules.append(os.path.join(modules_dir, self._platform_modules[dependency]))
            return comp

        # sluice::header_only: the headers and their dependencies, no library, no macro.
        headers = component("headers", "sluice::header_only", "boost", ["boost::headers", "boost::json"],
                            requires=())
        if self.settings.os in ("Linux", "FreeBSD"):
            headers.system_libs = ["pthread"]
        if self.options.with_simdjson:
            # Decodes JSON lines with simdjson (the source tree's sluice::simdjson target).
            headers.defines = ["SLUICE_HAS_SIMDJSON=1"]
            if self._dependency("simdjson"):
                headers.requires.append("simdjson::simdjson")
            else:
                build_modules.append(os.path.join(modules_dir, self._platform_modules["simdjson"]))
        # sluice::sluice: the engine compiled once (libsluice), which every translation unit
        # of the program must know: SLUICE_SEPARATE_COMPILATION. The components link it.
        # With header_only=True it is the header form itself.
        core = component("core", "sluice::sluice", None, [], requires=("headers",))
        if not self.options.header_only:
            core.libs = ["sluice"]
            core.libdirs = ["lib"]
            core.defines = ["SLUICE_SEPARATE_COMPILATION"]
            # The name of the source tree's opt-in library in 0.1, kept for one release.
            core.set_property("cmake_target_aliases", ["sluice::compiled"])
        if self.options.with_rest:
            component("rest", "sluice::rest", "openssl", ["openssl::ssl", "openssl::crypto"])
        if self.options.with_delta:
            component("delta", "sluice::delta", "arrow", ["arrow::libarrow", "arrow::libparquet"])
        if self.options.with_kafka:
            component("kafka", "sluice::kafka", "librdkafka", ["librdkafka::rdkafka"])
        if self.options.with_app:
            # The admin endpoint it serves is Boost.Beast, in the core's headers.
            component("app", "sluice::app", "yaml-cpp", ["yaml-cpp::yaml-cpp"])

        # Declared, but not linked through requires: found by the build modules instead.
        platform = [name for name, packaged in self._host_requirements() if not packaged]
        if platform:
            self.cpp_info.ignored_requires = platform
        # Build modules run after the targets exist; Boost's first (others link to the headers).
        build_modules.sort(key=lambda m: not m.endswith("sluice-platform-boost.cmake"))
        if build_modules:
            self.cpp_info.set_property("cmake_build_modules", build_modules)
