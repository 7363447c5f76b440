/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the libFuzzer harnesses share. A broken invariant is reported like a sanitizer
 * finding: a message on stderr, then abort(), which libFuzzer records as a crash with the
 * input that caused it.
 */
#ifndef UG_FUZZ_H
#define UG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define fuzz_check(cond, ...)                                                       \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz: %s:%d: check '%s' failed: ", __FILE__, \
				__LINE__, #cond);                                   \
			fprintf(stderr, __VA_ARGS__);                               \
			fputc('\n', stderr);                                        \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* Reads bytes off the front of the input; past its end, zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);

	return (uint16_t)(v | fuzz_u8(in) << 8);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/*
 * The next n bytes in a buffer of exactly n bytes (zero-padded past the input's end), so
 * AddressSanitizer sees any read beyond what the code was given. NULL only for n == 0.
 */
static inline uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n)
{
	uint8_t *b = n ? calloc(1, n) : NULL;
	size_t take = n < in->n ? n : in->n;

	if (n && !b)
		abort();
	if (take)
		memcpy(b, in->p, take);
	in->p += take;
	in->n -= take;
	return b;
}

/* The rest of the input as a C string of exactly its length + 1 bytes (it ends at the first
 * NUL, as the code reading it would see it). */
static inline char *fuzz_string(struct fuzz_in *in)
{
	char *s = malloc(in->n + 1);

	if (!s)
		abort();
	if (in->n)
		memcpy(s, in->p, in->n);
	s[in->n] = '\0';
	in->p += in->n;
	in->n = 0;
	return s;
}

#endif /* UG_FUZZ_H */
