/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the .c files of policy/ (parsers, compilers, the policy
 * file). Not an interface: callers include policy.h or file.h.
 */
#ifndef UG_POLICY_INTERNAL_H
#define UG_POLICY_INTERNAL_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Three-way compare of two fields, for qsort() orders built field by field. */
#define CMP(a, b)                                 \
	do {                                      \
		if ((a) != (b))                   \
			return (a) < (b) ? -1 : 1; \
	} while (0)

static inline void set_why(const char **why, const char *msg)
{
	if (why)
		*why = msg;
}

static inline void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static inline unsigned int family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

/* Do the first `bits` bits of a and b agree? */
static inline bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest)));
}

/* Are all bits of addr from bit `len` up to bit `width` zero? */
static inline bool host_bits_zero(const uint8_t *addr, unsigned int len, unsigned int width)
{
	for (unsigned int i = len; i < width; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

/* Stored bytes of a canonical path: the path plus the '/' that makes prefixes stop at
 * directory boundaries; "/" is stored as it is. */
static inline size_t path_stored_len(size_t len)
{
	return len == 1 ? 1 : len + 1;
}

#endif /* UG_POLICY_INTERNAL_H */
