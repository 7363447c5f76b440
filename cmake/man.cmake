# SPDX-License-Identifier: LGPL-2.1-or-later
# Man pages: scdoc sources in packaging/man/NAME.SECTION.scd, rendered into
# BUILD/man/NAME.SECTION at build time and installed to MANDIR/manSECTION.
find_program(SCDOC scdoc)
if(NOT SCDOC)
	message(FATAL_ERROR "scdoc not found: it renders the man pages from packaging/man/*.scd "
		"(Debian: apt-get install scdoc; packaging/deps.sh installs it)")
endif()

set(UG_MAN_PAGES unitguardd.8 unitguardctl.8 unitguard.policy.5 unitguard.7)
set(UG_MAN_DIR ${CMAKE_BINARY_DIR}/man)
file(MAKE_DIRECTORY ${UG_MAN_DIR})
set(outs)
foreach(page ${UG_MAN_PAGES})
	string(REGEX MATCH "[0-9]$" section ${page})
	set(src ${CMAKE_SOURCE_DIR}/packaging/man/${page}.scd)
	set(out ${UG_MAN_DIR}/${page})
	add_custom_command(OUTPUT ${out}
		COMMAND ${CMAKE_COMMAND} -DSCDOC=${SCDOC} -DIN=${src} -DOUT=${out}
			-DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/scdoc.cmake
		DEPENDS ${src} ${CMAKE_SOURCE_DIR}/cmake/scdoc.cmake
		COMMENT "Man page ${page}")
	list(APPEND outs ${out})
	install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(ug_man ALL DEPENDS ${outs})
