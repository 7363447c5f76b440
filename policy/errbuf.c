// SPDX-License-Identifier: LGPL-2.1-or-later
/* The message a pure function leaves for its caller (errbuf.h). */
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

void ug_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
