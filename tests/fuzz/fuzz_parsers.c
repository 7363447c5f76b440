/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The text parsers of policy/policy.h, which see every argument of `unitguardctl rule add`
 * and `unit set`, every value of a policy file, and whatever a raw `sqlite3` session put in
 * the store. The first input byte picks the parser, the rest is its text. Beyond not
 * crashing: what a parser accepts is in range and canonical, and canonical text parses
 * back to itself.
 */
#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>
#include <wctype.h>

#include "fuzz.h"
#include "policy.h"

static void prefix(const char *s)
{
	char buf[UG_PREFIX_STRLEN];
	struct ug_prefix p, q;
	const char *why = NULL;
	unsigned int width;

	if (ug_prefix_parse(s, &p, &why)) {
		fuzz_check(why, "refused without a reason");
		return;
	}
	fuzz_check(p.family == 2 || p.family == 10, "family %u", p.family); /* AF_INET(6) */
	width = p.family == 2 ? 32 : 128;
	fuzz_check(p.len <= width, "length %u", p.len);
	for (unsigned int i = p.len; i < width; i++)
		fuzz_check(!(p.addr[i / 8] & (0x80 >> (i % 8))), "host bit %u set", i);
	if (p.family == 2)
		for (unsigned int i = 4; i < 16; i++)
			fuzz_check(!p.addr[i], "IPv4 address byte %u set", i);
	fuzz_check(ug_prefix_contains(&p, &p), "a prefix does not contain itself");
	fuzz_check(ug_prefix_format(&p, buf, sizeof(buf)) == 0, "cannot format");
	fuzz_check(ug_prefix_parse(buf, &q, NULL) == 0 && !memcmp(&p, &q, sizeof(p)),
		   "%s does not parse back", buf);
}

static void ports(const char *s)
{
	uint16_t lo = 0, hi = 0;
	const char *why = NULL;

	if (ug_ports_parse(s, &lo, &hi, &why)) {
		fuzz_check(why, "refused without a reason");
		return;
	}
	fuzz_check(lo >= 1 && lo <= hi, "ports %u-%u", lo, hi);
}

/* outlen comes from the input: the output buffer is exactly that big, so ASan sees an
 * overflow of it. */
static void path(const char *s, size_t outlen)
{
	char *out = malloc(outlen ? outlen : 1), again[UG_PATH_MAX];
	const char *why = NULL;
	size_t n;

	if (!out)
		abort();
	if (ug_path_parse(s, out, outlen, &why)) {
		fuzz_check(why, "refused without a reason");
		free(out);
		return;
	}
	n = strnlen(out, outlen);
	fuzz_check(n < outlen, "output not terminated within its buffer");
	/* Room for the '/' the kernel appends, and the key's own '/'. */
	fuzz_check(n + 1 <= UG_PATH_MAX - 1, "%zu-byte path", n);
	fuzz_check(out[0] == '/' && (n == 1 || out[n - 1] != '/'), "not canonical: %s", out);
	fuzz_check(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../"),
		   "not canonical: %s", out);
	for (size_t i = 0; i < n; i++)
		fuzz_check(out[i] >= 0x21 && out[i] <= 0x7e, "byte 0x%02x", (unsigned char)out[i]);
	fuzz_check(ug_path_parse(out, again, sizeof(again), NULL) == 0 && !strcmp(out, again),
		   "%s is not a fixed point", out);
	free(out);
}

static void target(const char *s)
{
	const char *why = NULL;
	int r = ug_target_parse(s, &why);

	if (r < 0) {
		fuzz_check(r == -EINVAL && why, "refused with %d", r);
		return;
	}
	fuzz_check(r == UG_TARGET_UNIT || r == UG_TARGET_PATH, "kind %d", r);
	fuzz_check((r == UG_TARGET_PATH) == (s[0] == '/'), "kind %d for %s", r, s);
	fuzz_check(strlen(s) < 4096, "%zu-byte target", strlen(s));
	for (const char *c = s; *c; c++)
		fuzz_check(*c >= 0x21 && *c <= 0x7e, "byte 0x%02x in a target", (unsigned char)*c);
}

static void family(const char *s)
{
	int f = ug_family_parse(s);
	const char *name;

	if (f < 0)
		return;
	fuzz_check(f >= 1 && f <= 63, "family %d", f);
	name = ug_family_name(f);
	if (strcmp(name, "unknown"))
		fuzz_check(ug_family_parse(name) == f, "%s does not name %d", name, f);
}

static void harden(const char *s)
{
	char buf[64];
	const char *why = NULL;
	int h = ug_harden_parse(s, &why);

	if (h < 0) {
		fuzz_check(why, "refused without a reason");
		return;
	}
	fuzz_check(h <= (UG_HARDEN_MODULE_LOAD | UG_HARDEN_BPF | UG_HARDEN_PTRACE |
			 UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW), "bits 0x%x", h);
	fuzz_check(ug_harden_format(h, buf, sizeof(buf)) == 0, "cannot format 0x%x", h);
	fuzz_check(ug_harden_parse(buf, NULL) == h, "%s does not parse back", buf);
}

/* The name lookups: a name found names back to itself. */
static void names(const char *s)
{
	int v;

	v = ug_dir_parse(s);
	fuzz_check(v < 0 || !strcmp(ug_dir_name(v), s), "dir %s", s);
	v = ug_action_parse(s);
	fuzz_check(v < 0 || !strcmp(ug_action_name(v), s), "action %s", s);
	v = ug_mode_parse(s);
	fuzz_check(v < 0 || !strcmp(ug_mode_name(v), s), "mode %s", s);
	v = ug_access_parse(s);
	fuzz_check(v < 0 || (v >= 1 && v <= 3 && !strcmp(ug_access_name(v), s)), "access %s", s);
	v = ug_proto_parse(s);
	fuzz_check(v < 0 || !strcmp(ug_proto_name(v), s), "proto %s", s);
}

/*
 * A comment the validator accepts must be one `rule add --comment` accepts too (at most
 * 1024 bytes, no newline), and glibc, decoding it as UTF-8, must find neither a bad
 * sequence nor a control character in it. Printable ASCII within the limit is accepted.
 */
static void comment(const char *s)
{
	const char *why = NULL;
	size_t n = strlen(s), off = 0;
	bool ascii = n <= UG_COMMENT_MAX;
	mbstate_t st = { 0 };

	for (size_t i = 0; i < n; i++)
		ascii &= s[i] >= 0x20 && s[i] < 0x7f;
	if (ug_comment_validate(s, &why)) {
		fuzz_check(why, "refused without a reason");
		fuzz_check(!ascii, "printable ASCII refused: %s", why);
		return;
	}
	fuzz_check(n <= UG_COMMENT_MAX && !strchr(s, '\n'), "the CLI's own check refuses it");
	while (off < n) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + off, n - off, &st);

		fuzz_check(k != (size_t)-1 && k != (size_t)-2 && k != 0, "bad UTF-8 at byte %zu",
			   off);
		fuzz_check(!iswcntrl((wint_t)wc), "control character U+%04X at byte %zu",
			   (unsigned int)wc, off);
		off += k;
	}
}

/* Two prefixes, split at the first NUL: containment agrees with the addresses' bits. */
static void contains(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	struct fuzz_in in;
	struct ug_prefix a, b;
	char *sa, *sb;
	bool want;

	if (!nul)
		return;
	in = (struct fuzz_in){ data, (size_t)(nul - data) };
	sa = fuzz_string(&in);
	in = (struct fuzz_in){ nul + 1, size - (size_t)(nul - data) - 1 };
	sb = fuzz_string(&in);
	if (!ug_prefix_parse(sa, &a, NULL) && !ug_prefix_parse(sb, &b, NULL)) {
		want = a.family == b.family && a.len <= b.len;
		for (unsigned int i = 0; want && i < a.len; i++)
			want = !((a.addr[i / 8] ^ b.addr[i / 8]) & (0x80 >> (i % 8)));
		fuzz_check(ug_prefix_contains(&a, &b) == want, "%s contains %s: got %d", sa, sb,
			   !want);
	}
	free(sa);
	free(sb);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* For mbrtowc() and iswcntrl() in comment(). */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t which = fuzz_u8(&in);
	size_t outlen = 0;
	char *s;

	if (which % 10 == 9) {
		contains(in.p, in.n);
		return 0;
	}
	if (which % 10 == 2) {
		/* The output buffer: mostly the usual size, sometimes cut short. */
		outlen = fuzz_u8(&in);
		outlen = outlen & 0x80 ? outlen & 0x7f : UG_PATH_MAX;
	}
	s = fuzz_string(&in);
	switch (which % 10) {
	case 0:
		prefix(s);
		break;
	case 1:
		ports(s);
		break;
	case 2:
		path(s, outlen);
		break;
	case 3:
		target(s);
		break;
	case 4:
		family(s);
		break;
	case 5:
		harden(s);
		break;
	case 6:
		names(s);
		break;
	case 7:
	case 8:
		comment(s);
		break;
	}
	free(s);
	return 0;
}
