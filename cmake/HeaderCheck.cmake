# Every public header compiles on its own: one generated translation unit per header, which includes it
# twice (the second include checks the include guard), built with the library's own include paths. A header
# that relies on its includer for a type fails the build here, with the header's name in the file name.
# Only parsed (-O0 -g0): inline functions that nothing calls generate no code.
function(modelslim_check_headers target include_dir)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS RELATIVE ${include_dir} ${include_dir}/*.hpp)
  set(sources)
  foreach(header ${headers})
    set(source ${CMAKE_BINARY_DIR}/header_check/${header}.cpp)
    file(CONFIGURE OUTPUT ${source} CONTENT "#include \"${header}\"\n#include \"${header}\"\n" @ONLY)
    list(APPEND sources ${source})
  endforeach()
  add_library(${target}_header_check OBJECT ${sources})
  target_link_libraries(${target}_header_check PRIVATE ${target})
  target_compile_options(${target}_header_check PRIVATE -O0 -g0)
  # One header per translation unit, also in a unity build (batching them would hide a missing include).
  set_target_properties(${target}_header_check PROPERTIES UNITY_BUILD OFF)
endfunction()
