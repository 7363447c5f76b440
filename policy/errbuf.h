/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The message a pure function leaves for its caller: policy/ functions take a buffer
 * (err, errlen) that may be NULL or empty when the caller wants only the error code.
 */
#ifndef UG_ERRBUF_H
#define UG_ERRBUF_H

#include <stddef.h>

/* Formats into err, truncated to errlen; does nothing when err is NULL or errlen 0. */
__attribute__((format(printf, 3, 4)))
void ug_errbuf(char *err, size_t errlen, const char *fmt, ...);

#endif /* UG_ERRBUF_H */
