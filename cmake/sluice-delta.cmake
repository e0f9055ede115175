# sluice::delta for find_package(sluice COMPONENTS delta): Delta Lake tables, Parquet through
# Apache Arrow C++. Arrow and Parquet are looked for QUIETly, as when sluice was built: a
# system package first (find_package(Arrow) / find_package(Parquet): apache.org's apt
# repository, Conan, vcpkg), else the pyarrow wheel (its headers and shared libraries), found
# through SLUICE_PYARROW_DIR or the Python 3 interpreter. When neither is there, only this
# component is reported as not found (sluice_delta_FOUND stays FALSE).
if(NOT TARGET sluice::delta_arrow)
  find_package(Arrow CONFIG QUIET)
  find_package(Parquet CONFIG QUIET)
  if(Arrow_FOUND AND Parquet_FOUND)
    add_library(sluice::delta_arrow INTERFACE IMPORTED)
    set_target_properties(sluice::delta_arrow PROPERTIES
      INTERFACE_LINK_LIBRARIES "Parquet::parquet_shared;Arrow::arrow_shared")
  else()
    if(NOT SLUICE_PYARROW_DIR)
      find_package(Python3 COMPONENTS Interpreter QUIET)
      if(Python3_Interpreter_FOUND)
        execute_process(
          COMMAND "${Python3_EXECUTABLE}" -c "import os, pyarrow; print(os.path.dirname(pyarrow.__file__))"
          OUTPUT_VARIABLE _sluice_pyarrow RESULT_VARIABLE _sluice_rc
          OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        if(_sluice_rc EQUAL 0 AND _sluice_pyarrow)
          set(SLUICE_PYARROW_DIR "${_sluice_pyarrow}")
        endif()
      endif()
    endif()
    set(_sluice_libarrow "")
    set(_sluice_libparquet "")
    if(SLUICE_PYARROW_DIR)
      file(GLOB _sluice_libarrow "${SLUICE_PYARROW_DIR}/libarrow.so.[0-9]*")
      file(GLOB _sluice_libparquet "${SLUICE_PYARROW_DIR}/libparquet.so.[0-9]*")
      list(FILTER _sluice_libarrow EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
      list(FILTER _sluice_libparquet EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
    endif()
    if(NOT _sluice_libarrow OR NOT _sluice_libparquet OR NOT EXISTS "${SLUICE_PYARROW_DIR}/include/arrow/api.h")
      set(_sluice_why "component 'delta' needs Apache Arrow C++ and Parquet (a system package, or the pyarrow wheel through SLUICE_PYARROW_DIR), which were not found")
      return()
    endif()
    list(GET _sluice_libarrow 0 _sluice_libarrow)
    list(GET _sluice_libparquet 0 _sluice_libparquet)
    add_library(sluice::delta_arrow INTERFACE IMPORTED)
    set_target_properties(sluice::delta_arrow PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${SLUICE_PYARROW_DIR}/include"
      INTERFACE_LINK_LIBRARIES "${_sluice_libparquet};${_sluice_libarrow};-Wl,-rpath,${SLUICE_PYARROW_DIR}")
  endif()
endif()
if(NOT TARGET sluice::delta)
  include("${CMAKE_CURRENT_LIST_DIR}/sluice-delta-targets.cmake")
endif()
set(sluice_delta_FOUND TRUE)
