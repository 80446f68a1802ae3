# weft_add_test(<name> SOURCES ... [LIBS ...] [LABELS ...] [TIMEOUT s])
#
# One doctest binary per call, registered with ctest as one test named
# <name>. The doctest main comes from tests/support/doctest_main.cpp.
# Labels: 'unit' (default), 'stress', 'integration'; the build driver can
# select with ctest -L.
function(weft_add_test name)
  cmake_parse_arguments(arg "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE weft_test_main ${arg_LIBS})
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT arg_LABELS)
    set(arg_LABELS unit)
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT})
endfunction()
