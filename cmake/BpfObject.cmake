# Compiles BPF C programs against a vmlinux.h generated from the running kernel's BTF and turns
# each object into a libbpf skeleton header. Everything generated lives in the build tree.
#
#   zt_add_bpf_skeleton(<target> SOURCES a.bpf.c b.bpf.c INCLUDES dir...)
#
# creates the INTERFACE library <target> whose include directory holds `<name>.skel.h` for each
# source (a.bpf.c -> a.skel.h).

find_program(BPF_CLANG NAMES clang clang-19 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(ZT_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "BTF file vmlinux.h is generated from")
set(ZT_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${ZT_BPF_GEN_DIR})

if(NOT EXISTS ${ZT_VMLINUX_BTF})
  message(FATAL_ERROR "No kernel BTF at ${ZT_VMLINUX_BTF}: zerotrace needs CONFIG_DEBUG_INFO_BTF "
                      "(set ZT_VMLINUX_BTF to a BTF file of the target kernel to build elsewhere).")
endif()

add_custom_command(
  OUTPUT ${ZT_BPF_GEN_DIR}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${ZT_VMLINUX_BTF} format c > ${ZT_BPF_GEN_DIR}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${ZT_VMLINUX_BTF}"
  VERBATIM)
add_custom_target(zt_vmlinux_h DEPENDS ${ZT_BPF_GEN_DIR}/vmlinux.h)

# bpf_tracing.h reads registers by architecture (__TARGET_ARCH_*): the one being built for.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(ZT_BPF_DEFAULT_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(ZT_BPF_DEFAULT_ARCH arm64)
else()
  set(ZT_BPF_DEFAULT_ARCH "")
endif()
set(ZT_BPF_TARGET_ARCH "${ZT_BPF_DEFAULT_ARCH}" CACHE STRING "__TARGET_ARCH_ of the BPF programs (x86, arm64)")
if(NOT ZT_BPF_TARGET_ARCH)
  message(FATAL_ERROR "BPF programs: no target architecture known for ${CMAKE_SYSTEM_PROCESSOR}; "
                      "set ZT_BPF_TARGET_ARCH (x86, arm64, ...)")
endif()
set(ZT_BPF_WARNING_FLAGS -Wall)
if(ZEROTRACE_WERROR)
  list(APPEND ZT_BPF_WARNING_FLAGS -Werror)
endif()

# clang needs the host's multiarch include dir for the few libc headers BPF code may pull in.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch OUTPUT_VARIABLE ZT_MULTIARCH
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)

function(zt_add_bpf_skeleton target)
  cmake_parse_arguments(ARG "" "" "SOURCES;INCLUDES;DEPENDS" ${ARGN})
  set(headers)
  foreach(src ${ARG_SOURCES})
    get_filename_component(abs ${src} ABSOLUTE)
    get_filename_component(stem ${src} NAME_WE)  # sockets.bpf.c -> sockets
    set(obj ${ZT_BPF_GEN_DIR}/${stem}.bpf.o)
    set(skel ${ZT_BPF_GEN_DIR}/${stem}.skel.h)
    set(incs)
    foreach(inc ${ARG_INCLUDES})
      list(APPEND incs -I${inc})
    endforeach()
    # clang writes the headers it read into a depfile, so editing any of them rebuilds the object.
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${ZT_BPF_TARGET_ARCH} ${ZT_BPF_WARNING_FLAGS}
              -I${ZT_BPF_GEN_DIR} ${incs} -isystem /usr/include/${ZT_MULTIARCH}
              -MD -MF ${obj}.d -c ${abs} -o ${obj}
      DEPENDS ${abs} ${ZT_BPF_GEN_DIR}/vmlinux.h ${ARG_DEPENDS}
      DEPFILE ${obj}.d
      COMMENT "BPF ${stem}.bpf.c"
      VERBATIM)
    add_custom_command(
      OUTPUT ${skel}
      COMMAND ${BPFTOOL} gen skeleton ${obj} name ${stem}_bpf > ${skel}
      DEPENDS ${obj}
      COMMENT "Skeleton ${stem}.skel.h"
      VERBATIM)
    list(APPEND headers ${skel})
  endforeach()
  add_custom_target(${target}_gen DEPENDS ${headers})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} SYSTEM INTERFACE ${ZT_BPF_GEN_DIR})
  target_link_libraries(${target} INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF)
endfunction()
