# Component sluice::delta: Delta Lake tables (Parquet through Apache Arrow C++).
#
# Arrow C++ and Parquet are looked for as system packages first
# (find_package(Arrow) / find_package(Parquet), e.g. from apache.org's apt
# repository, Conan or vcpkg); failing that, in the pyarrow wheel, which ships
# Arrow's headers and shared libraries. The wheel is found through
# SLUICE_PYARROW_DIR (the directory of the pyarrow package), or by asking the
# project's venv (build/venv, made by scripts/deps/30-delta.sh) or Python 3.
option(SLUICE_WITH_DELTA "Build the Delta Lake component (needs Arrow C++ and Parquet)" ON)

if(SLUICE_WITH_DELTA)
  set(_sluice_arrow_libs "")
  find_package(Arrow CONFIG QUIET)
  find_package(Parquet CONFIG QUIET)
  if(Arrow_FOUND AND Parquet_FOUND)
    set(_sluice_arrow_libs Parquet::parquet_shared Arrow::arrow_shared)
    set(SLUICE_ARROW_ORIGIN "system package (Arrow ${Arrow_VERSION})")
  else()
    if(NOT SLUICE_PYARROW_DIR)
      set(_sluice_pythons "${PROJECT_SOURCE_DIR}/build/venv/bin/python")
      find_package(Python3 COMPONENTS Interpreter QUIET)
      if(Python3_Interpreter_FOUND)
        list(APPEND _sluice_pythons "${Python3_EXECUTABLE}")
      endif()
      foreach(_py IN LISTS _sluice_pythons)
        if(EXISTS "${_py}")
          execute_process(
            COMMAND "${_py}" -c "import os, pyarrow; print(os.path.dirname(pyarrow.__file__))"
            OUTPUT_VARIABLE _sluice_pyarrow RESULT_VARIABLE _sluice_rc
            OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
          if(_sluice_rc EQUAL 0 AND _sluice_pyarrow)
            set(SLUICE_PYARROW_DIR "${_sluice_pyarrow}" CACHE PATH "Directory of the pyarrow package that provides Arrow C++")
            break()
          endif()
        endif()
      endforeach()
    endif()
    if(SLUICE_PYARROW_DIR)
      # The wheel has only versioned sonames (libarrow.so.2600): link them by full path.
      file(GLOB _sluice_libarrow "${SLUICE_PYARROW_DIR}/libarrow.so.[0-9]*")
      file(GLOB _sluice_libparquet "${SLUICE_PYARROW_DIR}/libparquet.so.[0-9]*")
      list(FILTER _sluice_libarrow EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
      list(FILTER _sluice_libparquet EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
      if(_sluice_libarrow AND _sluice_libparquet AND EXISTS "${SLUICE_PYARROW_DIR}/include/arrow/api.h")
        list(GET _sluice_libarrow 0 _sluice_libarrow)
        list(GET _sluice_libparquet 0 _sluice_libparquet)
        add_library(sluice_arrow_from_pyarrow INTERFACE)
        target_include_directories(sluice_arrow_from_pyarrow SYSTEM INTERFACE "${SLUICE_PYARROW_DIR}/include")
        target_link_libraries(sluice_arrow_from_pyarrow INTERFACE
          "${_sluice_libparquet}" "${_sluice_libarrow}"
          "-Wl,-rpath,${SLUICE_PYARROW_DIR}")
        set(_sluice_arrow_libs sluice_arrow_from_pyarrow)
        set(SLUICE_ARROW_ORIGIN "pyarrow wheel in ${SLUICE_PYARROW_DIR}")
      endif()
    endif()
  endif()

  if(_sluice_arrow_libs)
    message(STATUS "sluice: delta component uses Arrow C++ from the ${SLUICE_ARROW_ORIGIN}")
    add_library(sluice_delta INTERFACE)
    add_library(sluice::delta ALIAS sluice_delta)
    set_target_properties(sluice_delta PROPERTIES EXPORT_NAME delta)
    # Installed, the Arrow libraries are found again on the consumer's machine by
    # sluice-delta.cmake, which defines sluice::delta_arrow.
    target_link_libraries(sluice_delta INTERFACE sluice
      "$<BUILD_INTERFACE:${_sluice_arrow_libs}>" "$<INSTALL_INTERFACE:sluice::delta_arrow>")
    set(SLUICE_HAS_DELTA ON)
    list(APPEND SLUICE_PROVIDED_COMPONENTS delta)
    # Arrow's include directories, for checks that compile without linking (the
    # compile-fail tests of tests/CMakeLists.txt).
    if(TARGET sluice_arrow_from_pyarrow)
      set(SLUICE_DELTA_ARROW_INCLUDE_DIRS "${SLUICE_PYARROW_DIR}/include")
    else()
      get_target_property(_inc Arrow::arrow_shared INTERFACE_INCLUDE_DIRECTORIES)
      get_target_property(_pinc Parquet::parquet_shared INTERFACE_INCLUDE_DIRECTORIES)
      set(SLUICE_DELTA_ARROW_INCLUDE_DIRS "")
      foreach(_d IN LISTS _inc _pinc)
        if(_d)
          list(APPEND SLUICE_DELTA_ARROW_INCLUDE_DIRS "${_d}")
        endif()
      endforeach()
    endif()
    if(SLUICE_INSTALL)
      include(GNUInstallDirs)
      set(_sluice_delta_cmakedir "${CMAKE_INSTALL_DATADIR}/cmake/sluice")
      if(SLUICE_INSTALL_CMAKEDIR)
        set(_sluice_delta_cmakedir "${SLUICE_INSTALL_CMAKEDIR}")
      endif()
      install(TARGETS sluice_delta EXPORT sluiceDeltaTargets)
      install(EXPORT sluiceDeltaTargets
        NAMESPACE sluice::
        FILE sluice-delta-targets.cmake
        DESTINATION ${_sluice_delta_cmakedir})
      # Read by sluice-delta.cmake (installed by the loop in CMakeLists.txt).
      install(FILES "${PROJECT_SOURCE_DIR}/cmake/sluice-find-arrow.cmake" DESTINATION ${_sluice_delta_cmakedir})
    endif()
  else()
    message(WARNING "sluice: Arrow C++ / Parquet not found (no system package, no pyarrow): "
      "the delta component is not built. Run scripts/install-deps.sh, or set SLUICE_PYARROW_DIR.")
    set(SLUICE_HAS_DELTA OFF)
  endif()
endif()
