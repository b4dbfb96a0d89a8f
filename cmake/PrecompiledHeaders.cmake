# LibTorch's <ATen/ATen.h> costs most of the compile time of every file that includes it; a target whose
# files mostly need it parses it once, into a precompiled header, instead of once per file.
# ccache caches compiles that use it only with sloppiness pch_defines,time_macros (cmake/CompilerCache.cmake).
option(MODELSLIM_PCH "Precompile <ATen/ATen.h> once per target (MODELSLIM_PCH=OFF to check includes)" ON)
function(modelslim_torch_pch target)
  if(MODELSLIM_PCH)
    target_precompile_headers(${target} PRIVATE <ATen/ATen.h>)
  endif()
endfunction()
