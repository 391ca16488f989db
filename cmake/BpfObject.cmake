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
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
              -I${ZT_BPF_GEN_DIR} ${incs} -isystem /usr/include/${ZT_MULTIARCH}
              -c ${abs} -o ${obj}
      DEPENDS ${abs} ${ZT_BPF_GEN_DIR}/vmlinux.h ${ARG_DEPENDS}
      IMPLICIT_DEPENDS C ${abs}
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
