# Optional CUDA toolkit (not a Debian package: /usr/local/cuda on these machines, or CUDA_HOME).
# Without it the agent still traces CUDA programs through uprobes; what needs the toolkit is left
# out, and said so here:
#   ZT_NVCC        nvcc, for the CUDA test programs (tests/workloads/cuda)
#   ZT_HAVE_CUPTI  CUPTI headers and library, for the injection library (agent/cuda/injection)
# zt_add_cuda_program(<target> SOURCES <.cu...> [CUDART static|shared] [SHARED]) builds a program
# (or with SHARED a shared library) with nvcc at build time.
set(ZT_CUDA_HOME "$ENV{CUDA_HOME}")
if(NOT ZT_CUDA_HOME)
  set(ZT_CUDA_HOME /usr/local/cuda)
endif()
find_program(ZT_NVCC nvcc HINTS ${ZT_CUDA_HOME}/bin NO_DEFAULT_PATH)
find_program(ZT_NVCC nvcc)
find_path(ZT_CUPTI_INCLUDE_DIR cupti.h
          HINTS ${ZT_CUDA_HOME}/include ${ZT_CUDA_HOME}/extras/CUPTI/include
                ${ZT_CUDA_HOME}/targets/x86_64-linux/include)
find_path(ZT_CUDA_INCLUDE_DIR cuda.h HINTS ${ZT_CUDA_HOME}/include ${ZT_CUDA_HOME}/targets/x86_64-linux/include)
find_library(ZT_CUPTI_LIBRARY cupti HINTS ${ZT_CUDA_HOME}/lib64 ${ZT_CUDA_HOME}/extras/CUPTI/lib64
             ${ZT_CUDA_HOME}/targets/x86_64-linux/lib)

if(ZT_NVCC)
  message(STATUS "CUDA: nvcc ${ZT_NVCC}: CUDA test programs are built")
else()
  message(STATUS "CUDA: no nvcc (set CUDA_HOME): the CUDA test programs and their e2e tests are LEFT OUT")
endif()
if(ZT_CUPTI_INCLUDE_DIR AND ZT_CUPTI_LIBRARY AND ZT_CUDA_INCLUDE_DIR)
  set(ZT_HAVE_CUPTI ON)
  message(STATUS "CUDA: CUPTI ${ZT_CUPTI_LIBRARY}: the injection library (libzerotrace_cupti.so) is built")
else()
  set(ZT_HAVE_CUPTI OFF)
  message(STATUS "CUDA: no CUPTI headers/library: the injection library is LEFT OUT (uprobes still work)")
endif()

function(zt_add_cuda_program target)
  cmake_parse_arguments(ARG "SHARED" "CUDART" "SOURCES;OPTIONS" ${ARGN})
  if(NOT ZT_NVCC)
    return()
  endif()
  if(NOT ARG_CUDART)
    set(ARG_CUDART static)
  endif()
  set(sources)
  foreach(s ${ARG_SOURCES})
    list(APPEND sources ${CMAKE_CURRENT_SOURCE_DIR}/${s})
  endforeach()
  # In a directory of their own: Ninja names the target itself <dir>/<target>.
  if(ARG_SHARED)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/cuda-bin/lib${target}.so)
    set(kind -shared -Xcompiler -fPIC)
  else()
    set(out ${CMAKE_CURRENT_BINARY_DIR}/cuda-bin/${target})
    set(kind)
  endif()
  # nvcc keeps .symtab unless stripped: kernel host stubs are local symbols found there.
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/cuda-bin
    COMMAND ${ZT_NVCC} -std=c++17 -O2 -g -cudart ${ARG_CUDART} ${kind} ${ARG_OPTIONS} -o ${out} ${sources}
    DEPENDS ${sources}
    COMMENT "nvcc ${target} (cudart ${ARG_CUDART})"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${out})
  set_target_properties(${target} PROPERTIES OUTPUT_FILE ${out})
endfunction()
