# weft_add_module(<name> SOURCES ... [DEPS ...])
#
# Declares library target weft_<name> (alias weft::<name>) whose public
# headers live in <name>/include/weft/<name>/, installs and exports it, and
# registers each public header for the stand-alone compile check
# (tests/header_check), which proves every header includes what it uses.
function(weft_add_module name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target weft_${name})
  add_library(${target} ${arg_SOURCES})
  add_library(weft::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME weft_${name})
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  target_link_libraries(${target} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  # One export set per module, so that find_package(weft COMPONENTS x)
  # loads (and finds the dependencies of) only the modules asked for.
  install(TARGETS ${target} EXPORT weft_${name}_targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT weft_${name}_targets NAMESPACE weft::
    FILE weft-${name}-targets.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  file(GLOB_RECURSE headers RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}/include
       CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/include/*.hpp)
  set_property(GLOBAL APPEND PROPERTY WEFT_PUBLIC_HEADERS_${name} ${headers})
  set_property(GLOBAL APPEND PROPERTY WEFT_MODULES ${name})
endfunction()
