# SPDX-License-Identifier: LGPL-2.1-or-later
# Build bpf/**/*.bpf.c with clang (CO-RE) and generate libbpf skeletons.
find_program(CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(UG_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpfgen)
file(MAKE_DIRECTORY ${UG_BPF_GEN_DIR})

# vmlinux.h is generated from the build machine's kernel BTF: the programs
# only read what CO-RE relocates, so they still load on other kernels.
set(UG_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF for vmlinux.h")
# Written to a temporary file and renamed, and owned by one target that
# every BPF object depends on: with a command output shared by several
# targets, a parallel make may run the command once per target, and a clang
# reading the file while another run rewrites it crashes.
add_custom_command(OUTPUT ${UG_BPF_GEN_DIR}/vmlinux.h
	COMMAND ${BPFTOOL} btf dump file ${UG_VMLINUX_BTF} format c > ${UG_BPF_GEN_DIR}/vmlinux.h.tmp
	COMMAND ${CMAKE_COMMAND} -E rename ${UG_BPF_GEN_DIR}/vmlinux.h.tmp ${UG_BPF_GEN_DIR}/vmlinux.h
	COMMENT "Generating vmlinux.h from ${UG_VMLINUX_BTF}")
add_custom_target(ug_vmlinux_h DEPENDS ${UG_BPF_GEN_DIR}/vmlinux.h)

file(GLOB UG_BPF_LIB_HEADERS ${CMAKE_SOURCE_DIR}/bpf/lib/*.bpf.h)
add_custom_target(ug_bpf_skels)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
	set(UG_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
	set(UG_BPF_ARCH arm64)
else()
	set(UG_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# ug_bpf_object(NAME SOURCE [HEADER...]): NAME.bpf.o and NAME.skel.h in
# UG_BPF_GEN_DIR; HEADERs are further files SOURCE includes.
function(ug_bpf_object name src)
	set(obj ${UG_BPF_GEN_DIR}/${name}.bpf.o)
	set(skel ${UG_BPF_GEN_DIR}/${name}.skel.h)
	add_custom_command(OUTPUT ${obj}
		COMMAND ${CLANG} -target bpf -mcpu=v3 -g -O2 -Wall -Werror -D__TARGET_ARCH_${UG_BPF_ARCH}
			-I${UG_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf
			-c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
		DEPENDS ${CMAKE_SOURCE_DIR}/${src} ${CMAKE_SOURCE_DIR}/bpf/unitguard.h
			${CMAKE_SOURCE_DIR}/bpf/unitguard_layout.h
			${UG_BPF_LIB_HEADERS} ${UG_BPF_GEN_DIR}/vmlinux.h ${ARGN}
		COMMENT "BPF ${src}")
	add_custom_command(OUTPUT ${skel}
		COMMAND ${BPFTOOL} gen skeleton ${obj} name ug_${name}_bpf > ${skel}
		DEPENDS ${obj}
		COMMENT "Skeleton ${name}.skel.h")
	add_custom_target(ug_bpf_${name} DEPENDS ${skel})
	add_dependencies(ug_bpf_${name} ug_vmlinux_h)
	add_dependencies(ug_bpf_skels ug_bpf_${name})
endfunction()
