/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Free text that reaches a terminal: rule comments are checked on the way in
 * (ug_comment_validate()), and whatever is printed from the store or the
 * kernel is escaped on the way out (ug_text_escape()). Both judge code points
 * with the same predicates, so what one refuses the other escapes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

/* The code point of the UTF-8 sequence at s, its length in *len; -1 when the sequence is
 * not well formed (a NUL ends it early and fails the continuation test). */
static long utf8_next(const unsigned char *s, size_t *len)
{
	unsigned int n, i;
	long cp;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 3;
		cp = s[0] & 0x07;
	} else {
		return -1; /* a continuation byte, 0xc0/0xc1 (overlong) or beyond U+10FFFF */
	}
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong three- and four-byte forms, surrogates, and the rest of 0xf4's range. */
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n + 1;
	return cp;
}

/* What a terminal would act on rather than show (ug_comment_validate() names them). */
static bool cp_control(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static bool cp_separator(long cp)
{
	return cp == 0x2028 || cp == 0x2029;
}

static bool cp_bidi(long cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t ug_text_escape(const char *s, char *out, size_t len)
{
	const unsigned char *c = (const unsigned char *)s;
	size_t n = 0, k;
	char tmp[8];

	for (; *c; c += k) {
		long cp = utf8_next(c, &k);
		const char *e = tmp;

		if (cp < 0) {
			k = 1;
			snprintf(tmp, sizeof(tmp), "\\x%02x", c[0]);
		} else if (cp == '\\') {
			e = "\\\\";
		} else if (cp == '\n') {
			e = "\\n";
		} else if (cp == '\t') {
			e = "\\t";
		} else if (cp == '\r') {
			e = "\\r";
		} else if (cp < 0x80 && cp_control(cp)) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned int)cp & 0xff);
		} else if (cp_control(cp) || cp_separator(cp) || cp_bidi(cp)) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned int)cp & 0xffff);
		} else {
			memcpy(tmp, c, k);
			tmp[k] = '\0';
		}
		for (; *e; e++, n++)
			if (n + 1 < len)
				out[n] = *e;
	}
	if (len)
		out[n < len ? n : len - 1] = '\0';
	return n;
}

int ug_comment_validate(const char *s, const char **why)
{
	const unsigned char *c;
	size_t len;

	if (!s) {
		set_why(why, "no comment given");
		return -EINVAL;
	}
	_Static_assert(UG_COMMENT_MAX == 1024, "the message below names the limit");
	if (strnlen(s, UG_COMMENT_MAX + 1) > UG_COMMENT_MAX) {
		set_why(why, "longer than 1024 bytes");
		return -EINVAL;
	}
	for (c = (const unsigned char *)s; *c; c += len) {
		long cp = utf8_next(c, &len);

		if (cp < 0) {
			set_why(why, "not valid UTF-8");
			return -EINVAL;
		}
		if (cp_control(cp)) {
			set_why(why, "contains a control character (newline, tab, escape, ...)");
			return -EINVAL;
		}
		if (cp_separator(cp)) {
			set_why(why, "contains a Unicode line or paragraph separator");
			return -EINVAL;
		}
		if (cp_bidi(cp)) {
			set_why(why, "contains a Unicode bidirectional control");
			return -EINVAL;
		}
	}
	return 0;
}
