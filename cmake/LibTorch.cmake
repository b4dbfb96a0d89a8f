# Imports Debian's CPU LibTorch as LibTorch::LibTorch without its heavyweight package config.
if(NOT TARGET LibTorch::LibTorch)
  find_path(LIBTORCH_INCLUDE_DIR ATen/ATen.h PATHS /usr/include REQUIRED)
  find_library(LIBTORCH_TORCH_LIBRARY torch REQUIRED)
  find_library(LIBTORCH_TORCH_CPU_LIBRARY torch_cpu REQUIRED)
  find_library(LIBTORCH_C10_LIBRARY c10 REQUIRED)
  # Debian builds c10 against glog; its logging macros in the headers need it at link time.
  find_library(LIBTORCH_GLOG_LIBRARY glog REQUIRED)
  add_library(LibTorch::LibTorch INTERFACE IMPORTED)
  set_target_properties(LibTorch::LibTorch PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${LIBTORCH_INCLUDE_DIR};${LIBTORCH_INCLUDE_DIR}/torch/csrc/api/include"
    INTERFACE_LINK_LIBRARIES "${LIBTORCH_TORCH_CPU_LIBRARY};${LIBTORCH_C10_LIBRARY};${LIBTORCH_GLOG_LIBRARY}")
endif()
