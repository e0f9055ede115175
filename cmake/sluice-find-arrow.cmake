# Defines sluice::delta_arrow (Apache Arrow C++ and Parquet, for sluice::delta) on a consumer's
# machine, or sets _sluice_why and leaves it undefined. Used by sluice-delta.cmake (an install)
# and by the Conan package when Arrow is platform-provided. Looked for QUIETly: a system
# package first (find_package(Arrow) / find_package(Parquet): apache.org's apt repository,
# Conan, vcpkg), else the pyarrow wheel (its headers and shared libraries), found through
# SLUICE_PYARROW_DIR or the Python 3 interpreter.
if(TARGET sluice::delta_arrow)
  return()
endif()
find_package(Arrow CONFIG QUIET)
find_package(Parquet CONFIG QUIET)
if(Arrow_FOUND AND Parquet_FOUND)
  add_library(sluice::delta_arrow INTERFACE IMPORTED)
  set_target_properties(sluice::delta_arrow PROPERTIES
    INTERFACE_LINK_LIBRARIES "Parquet::parquet_shared;Arrow::arrow_shared")
  return()
endif()
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
