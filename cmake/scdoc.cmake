# SPDX-License-Identifier: LGPL-2.1-or-later
# cmake -DSCDOC=... -DIN=X.scd -DOUT=X -DVERSION=... -P scdoc.cmake
# Renders one man page: @UG_VERSION@ in the source becomes the project's version,
# then scdoc turns it into roff. Written to a temporary file and renamed, so a
# failed render leaves no half-written page behind.
file(READ ${IN} text)
string(REPLACE "@UG_VERSION@" "${VERSION}" text "${text}")
file(WRITE ${OUT}.scd "${text}")
execute_process(COMMAND ${SCDOC} INPUT_FILE ${OUT}.scd OUTPUT_FILE ${OUT}.tmp
		RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
	file(REMOVE ${OUT}.tmp)
	message(FATAL_ERROR "scdoc: ${IN}: ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
