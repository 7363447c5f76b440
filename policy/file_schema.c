// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The policy file's schema (file_schema.h): the key tables, the checks that
 * make every value canonical, and the order by target that keeps units'
 * targets unique and groups rules under them. Shared by the reader (file.c)
 * and the writer (file_emit.c), so what one accepts the other writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_schema.h"
#include "internal.h"

#define UNIT(f) offsetof(struct ug_file_unit, f)
#define RULE(f) offsetof(struct ug_file_rule, f)
/* Keys every mapping of the table may have, or must. */
#define OPTIONAL(name, kind, off) { name, kind, off, R_ALL, false, NULL }
#define REQUIRED(name, kind, off) { name, kind, off, R_ALL, true, NULL }
#define NET "network rules"
#define PATHS "exec and file rules"

const struct pf_key pf_top_keys[TOP_KEYS] = {
	[TOP_VERSION] = REQUIRED("version", K_VERSION, 0),
	[TOP_UNITS] = REQUIRED("units", K_UNITS, 0),
};

const struct pf_key pf_unit_keys[UNIT_KEYS] = {
	[UNIT_TARGET] = REQUIRED("target", K_TARGET, UNIT(target)),
	[UNIT_MODE] = OPTIONAL("mode", K_MODE, UNIT(mode)),
	[UNIT_DEFAULT_EGRESS] = OPTIONAL("default-egress", K_POSTURE, UNIT(default_egress)),
	[UNIT_DEFAULT_INGRESS] = OPTIONAL("default-ingress", K_POSTURE, UNIT(default_ingress)),
	[UNIT_HARDEN] = OPTIONAL("harden", K_HARDEN, UNIT(harden)),
	[UNIT_RULES] = OPTIONAL("rules", K_RULES, 0),
};

/* What a rule matches is kept in prefix whatever the key (file.h): no kind
 * of rule takes two of prefix, path and family. */
const struct pf_key pf_rule_keys[RULE_KEYS] = {
	[RULE_DIRECTION] = REQUIRED("direction", K_DIRECTION, RULE(direction)),
	[RULE_ACTION] = REQUIRED("action", K_ACTION, RULE(action)),
	[RULE_PREFIX] = { "prefix", K_PREFIX, RULE(prefix), R_NET, true, NET },
	[RULE_PROTO] = { "proto", K_PROTO, RULE(proto), R_NET, false, NET },
	[RULE_PORT] = { "port", K_PORT, 0, R_NET, false, NET },
	[RULE_PATH] = { "path", K_PATH, RULE(prefix), R_EXEC | R_FILE, true, PATHS },
	[RULE_ACCESS] = { "access", K_ACCESS, RULE(access), R_FILE, false, "file rules" },
	[RULE_FAMILY] = { "family", K_FAMILY, RULE(prefix), R_FAMILY, true, "family rules" },
	[RULE_COMMENT] = OPTIONAL("comment", K_COMMENT, RULE(comment)),
};

static const char *const rkind_dirs[] = {
	[RK_EXEC] = "exec", [RK_FILE] = "file", [RK_FAMILY] = "family",
};

#define HARDEN_EXPECTED "module-load, bpf, ptrace, mount or path-view"

_Static_assert(offsetof(struct ug_file_unit, target) == 0 &&
		       offsetof(struct ug_file_rule, target) == 0,
	       "pf_target_of() reads the target at the start of either");

/* Control characters would break the line, and a long value would push out
 * the rest of the message. The cut backs off to a UTF-8 character boundary. */
const char *pf_show(const char *s, char buf[SHOW_BUF])
{
	size_t n;

	for (n = 0; s[n] && n < SHOW_MAX; n++)
		buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
	if (!s[n]) {
		buf[n] = '\0';
		return buf;
	}
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf + n, "...", 4);
	return buf;
}

enum pf_rkind pf_rule_kind(const char *direction)
{
	for (size_t i = 0; i < ARRAY_SIZE(rkind_dirs); i++)
		if (rkind_dirs[i] && !strcmp(direction, rkind_dirs[i]))
			return (enum pf_rkind)i;
	return RK_NET;
}

/* ug_harden_parse() cannot quote the item back, so the message is made here. */
int pf_harden_item(const char *item, size_t len, int *bits, char *msg, size_t msglen)
{
	char buf[SHOW_MAX + 2], shown[SHOW_BUF];
	size_t n = len < SHOW_MAX + 1 ? len : SHOW_MAX + 1;
	int r = -EINVAL;

	/* No name is that long: a cut copy fails all the same, and pf_show()
	 * still marks it as cut. */
	memcpy(buf, item, n);
	buf[n] = '\0';
	/* "" and "a,b" are lists to ug_harden_parse(), not items. */
	if (n && !strchr(buf, ','))
		r = ug_harden_parse(buf, NULL);
	if (r < 0) {
		snprintf(msg, msglen, "invalid harden item '%s' (expected %s)", pf_show(buf, shown),
			 HARDEN_EXPECTED);
		return -EINVAL;
	}
	*bits |= r;
	return 0;
}

const char *pf_harden_format(int bits, char cbuf[CANON_BUF], char *msg, size_t msglen)
{
	if (ug_harden_format(bits, cbuf, CANON_BUF) < 0) {
		snprintf(msg, msglen, "harden cannot be formatted");
		return NULL;
	}
	return cbuf;
}

const char *pf_canon(enum pf_kind k, const char *key, const char *v, char cbuf[CANON_BUF],
		     char *msg, size_t msglen)
{
	char shown[SHOW_BUF];
	const char *why = NULL, *expected = NULL, *c, *end;
	struct ug_prefix p;
	int r, bits = 0;

	switch (k) {
	case K_TARGET:
		if (ug_target_parse(v, &why) < 0)
			break;
		return v;
	case K_MODE:
		r = ug_mode_parse(v);
		if (r >= 0)
			return ug_mode_name(r);
		expected = "enforce, audit or off";
		break;
	case K_POSTURE:
	case K_ACTION:
		r = ug_action_parse(v);
		if (r >= 0)
			return ug_action_name(r);
		expected = "allow or deny";
		break;
	case K_DIRECTION:
		r = ug_dir_parse(v);
		if (r >= 0)
			return ug_dir_name(r);
		r = (int)pf_rule_kind(v);
		if (r != RK_NET)
			return rkind_dirs[r];
		expected = "egress, ingress, bind, exec, file or family";
		break;
	case K_PREFIX:
		if (ug_prefix_parse(v, &p, &why) < 0)
			break;
		if (ug_prefix_format(&p, cbuf, CANON_BUF) < 0) {
			why = "cannot be formatted";
			break;
		}
		return cbuf;
	case K_PATH:
		if (ug_path_parse(v, cbuf, CANON_BUF, &why) < 0)
			break;
		return cbuf;
	case K_ACCESS:
		r = ug_access_parse(v);
		if (r >= 0)
			return ug_access_name(r);
		expected = "read, write or any";
		break;
	case K_FAMILY:
		r = ug_family_parse(v);
		if (r < 0) {
			expected = "a socket family name such as packet or netlink, or 1-63";
			break;
		}
		/* A number is canonical only for a family without a name. */
		if (!strcmp(ug_family_name(r), "unknown")) {
			snprintf(cbuf, CANON_BUF, "%d", r);
			return cbuf;
		}
		return ug_family_name(r);
	case K_PROTO:
		/* 0 is "any", which the file spells by leaving proto out. */
		r = ug_proto_parse(v);
		if (r > 0)
			return ug_proto_name(r);
		expected = "tcp, udp or icmp";
		break;
	case K_COMMENT:
		/* Free text, but `rule list` prints it: checked as `rule add --comment` is. */
		if (ug_comment_validate(v, &why) == 0)
			return v;
		snprintf(msg, msglen, "invalid comment: %s", why);
		return NULL;
	case K_VERSION:
		if (!strcmp(v, "1"))
			return v;
		snprintf(msg, msglen, "unsupported version %s (expected 1)", pf_show(v, shown));
		return NULL;
	case K_HARDEN:
		/* A comma string, "module-load,bpf"; "" is the empty list. */
		for (c = v; *v; c = end + 1) {
			end = strchrnul(c, ',');
			if (pf_harden_item(c, (size_t)(end - c), &bits, msg, msglen) < 0)
				return NULL;
			if (!*end)
				break;
		}
		return pf_harden_format(bits, cbuf, msg, msglen);
	case K_PORT:
	case K_UNITS:
	case K_RULES:
		break;
	}
	if (expected)
		snprintf(msg, msglen, "invalid %s '%s' (expected %s)", key, pf_show(v, shown),
			 expected);
	else
		snprintf(msg, msglen, "invalid %s '%s': %s", key, pf_show(v, shown),
			 why ? why : "not valid");
	return NULL;
}

const char *pf_port_problem(const char *proto, uint16_t lo, uint16_t hi)
{
	if (!lo && !hi)
		return NULL;
	if (!lo || lo > hi)
		return "invalid port range";
	if (proto && !strcmp(proto, "icmp"))
		return "port needs proto tcp or udp (or none)";
	return NULL;
}

static int by_target(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;
	int r = strcmp(pf_target_of(x), pf_target_of(y));

	return r ? r : (x > y) - (x < y);
}

const void **pf_sort_by_target(const void *base, size_t n, size_t size)
{
	const void **s = calloc(n ? n : 1, sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = (const char *)base + i * size;
	qsort(s, n, sizeof(*s), by_target);
	return s;
}

size_t pf_find_target(const void **sorted, size_t n, const char *target, size_t *count)
{
	size_t lo = 0, hi = n, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(pf_target_of(sorted[mid]), target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < n && !strcmp(pf_target_of(sorted[end]), target); end++)
		;
	*count = end - lo;
	return lo;
}

const struct ug_file_unit *pf_find_duplicate(const void **sorted, size_t n,
					     const struct ug_file_unit **first)
{
	const struct ug_file_unit *dup = NULL;

	for (size_t i = 1; i < n; i++) {
		if (strcmp(pf_target_of(sorted[i]), pf_target_of(sorted[i - 1])))
			continue;
		/* Only the second of a group: the third is later still. */
		if (i >= 2 && !strcmp(pf_target_of(sorted[i]), pf_target_of(sorted[i - 2])))
			continue;
		if (!dup || (const void *)sorted[i] < (const void *)dup) {
			dup = sorted[i];
			*first = sorted[i - 1];
		}
	}
	return dup;
}
