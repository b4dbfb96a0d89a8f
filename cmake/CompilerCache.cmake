# ccache when present. The test executables use a precompiled header (tests/CMakeLists.txt): ccache caches
# the files that include one only with sloppiness pch_defines,time_macros (without, it counts them "could not
# use precompiled header" and always compiles them), so the launcher adds those to the configured sloppiness.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  execute_process(COMMAND ${CCACHE_PROGRAM} --get-config sloppiness OUTPUT_VARIABLE ccache_sloppiness
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  string(REPLACE " " "" ccache_sloppiness "pch_defines,time_macros,${ccache_sloppiness}")
  string(REGEX REPLACE ",$" "" ccache_sloppiness "${ccache_sloppiness}")
  set(CMAKE_CXX_COMPILER_LAUNCHER env CCACHE_SLOPPINESS=${ccache_sloppiness} ${CCACHE_PROGRAM})
endif()
