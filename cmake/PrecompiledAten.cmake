# modelslim_precompile_aten(target HEADERS header... SCAN dir...): a precompiled header holding HEADERS
# (<ATen/ATen.h> first) for the target's sources that parse all of <ATen/ATen.h>, about 8 CPU-s less per
# file (docs/build-time.md). A source counts when it includes <ATen/ATen.h>, or a header under a SCAN
# directory that does, by name. The others (most only need <ATen/core/Tensor.h>) compile without it: loading
# the 280 MB header costs them more than it saves. So do sources with compile options or definitions of their
# own (OpenMP, Gloo's USE_* macros), which would invalidate it. MODELSLIM_PCH=OFF: no precompiled headers.
# MODELSLIM_UNITY_BUILD=ON: no precompiled header either; modelslim_group_aten_sources below puts the all-ATen
# files into batches of their own instead, so each batch parses ATen once anyway.
function(modelslim_precompile_aten target)
  cmake_parse_arguments(arg "" "" "HEADERS;SCAN" ${ARGN})
  if(MODELSLIM_UNITY_BUILD)
    modelslim_group_aten_sources(${target} SCAN ${arg_SCAN})
    return()
  endif()
  if(NOT MODELSLIM_PCH)
    return()
  endif()
  modelslim_classify_aten_sources(${target} heavy light SCAN ${arg_SCAN})
  foreach(source ${light})
    set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endforeach()
  if(heavy)
    target_precompile_headers(${target} PRIVATE ${arg_HEADERS})
  endif()
endfunction()

# modelslim_group_aten_sources(target SCAN dir...): under MODELSLIM_UNITY_BUILD, reorders the target's sources
# so that those parsing all of ATen come first: unity batches follow the source order, so the all-ATen files
# share batches and the <ATen/core/Tensor.h>-only files share the others (a batch costs about what its
# heaviest file's headers cost). Without unity builds it does nothing.
function(modelslim_group_aten_sources target)
  cmake_parse_arguments(arg "" "" "SCAN" ${ARGN})
  if(NOT MODELSLIM_UNITY_BUILD)
    return()
  endif()
  modelslim_classify_aten_sources(${target} heavy light SCAN ${arg_SCAN})
  set_property(TARGET ${target} PROPERTY SOURCES ${heavy} ${light})
endfunction()

# modelslim_classify_aten_sources(target heavy_var light_var SCAN dir...): the target's sources (absolute
# paths, in order) split into those that include <ATen/ATen.h> (or a SCAN header that does, by name) and have
# no compile options or definitions of their own, and all the others.
function(modelslim_classify_aten_sources target heavy_var light_var)
  cmake_parse_arguments(arg "" "" "SCAN" ${ARGN})
  set(markers "ATen/ATen\\.h")
  foreach(dir ${arg_SCAN})
    file(GLOB_RECURSE headers ${dir}/*.hpp)
    foreach(header ${headers})
      file(STRINGS ${header} aten_lines REGEX "#include <ATen/ATen\\.h>")
      if(aten_lines)
        get_filename_component(name ${header} NAME)
        string(REPLACE "." "\\." name ${name})
        list(APPEND markers "([^\">]*/)?${name}")
      endif()
    endforeach()
  endforeach()
  string(JOIN "|" regex ${markers})
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(heavy)
  set(light)
  foreach(source ${sources})
    if(NOT IS_ABSOLUTE ${source})
      set(source ${source_dir}/${source})
    endif()
    get_source_file_property(options ${source} TARGET_DIRECTORY ${target} COMPILE_OPTIONS)
    get_source_file_property(definitions ${source} TARGET_DIRECTORY ${target} COMPILE_DEFINITIONS)
    file(STRINGS ${source} aten_lines REGEX "#include [<\"](${regex})[>\"]")
    if(aten_lines AND NOT options AND NOT definitions)
      list(APPEND heavy ${source})
    else()
      list(APPEND light ${source})
    endif()
  endforeach()
  set(${heavy_var} ${heavy} PARENT_SCOPE)
  set(${light_var} ${light} PARENT_SCOPE)
endfunction()
