/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Longer input cannot be a valid prefix; the bound keeps the copy on the stack. */
#define PREFIX_INPUT_MAX 64
#define PATH_MAX_LEN 4096
#define UNIT_NAME_MAX 255

/* IPv4 addresses live in the v4-mapped range: 80 zero bits, 16 one bits. */
#define V4MAPPED_BITS 96
static const uint8_t v4mapped[16] = { [10] = 0xff, [11] = 0xff };

static void set_why(const char **why, const char *msg)
{
	if (why)
		*why = msg;
}

static unsigned int family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

/* Do the first `bits` bits of a and b agree? */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return !((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest)));
}

/* Are all bits of addr from bit `len` up to bit `width` zero? */
static bool host_bits_zero(const uint8_t *addr, unsigned int len, unsigned int width)
{
	for (unsigned int i = len; i < width; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static bool prefix_valid(const struct ug_prefix *p)
{
	unsigned int width = family_bits(p->family);

	return width && p->len <= width && host_bits_zero(p->addr, p->len, width);
}

/* Strict decimal: 1-3 digits, no sign, no spaces, no leading zero (no "010" read as octal). */
static int parse_len(const char *s, unsigned int max, unsigned int *out, const char **why)
{
	size_t n = strlen(s);
	unsigned int v = 0;

	if (n == 0) {
		set_why(why, "empty prefix length");
		return -EINVAL;
	}
	if (n > 3) {
		set_why(why, "prefix length too long");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			set_why(why, "prefix length is not a plain decimal number");
			return -EINVAL;
		}
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (n > 1 && s[0] == '0') {
		set_why(why, "prefix length has a leading zero");
		return -EINVAL;
	}
	if (v > max) {
		set_why(why, max == 32 ? "prefix length out of range (0-32)" :
					 "prefix length out of range (0-128)");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int ug_prefix_parse(const char *s, struct ug_prefix *out, const char **why)
{
	char buf[PREFIX_INPUT_MAX + 1];
	struct ug_prefix p;
	char *slash;
	unsigned int len;
	size_t n;
	int r;

	if (!s || !*s) {
		set_why(why, "empty prefix");
		return -EINVAL;
	}
	if (!out) {
		set_why(why, "no output given");
		return -EINVAL;
	}
	n = strnlen(s, PREFIX_INPUT_MAX + 1);
	if (n > PREFIX_INPUT_MAX) {
		set_why(why, "prefix text too long");
		return -EINVAL;
	}
	memcpy(buf, s, n + 1);

	memset(&p, 0, sizeof(p));
	/* inet_pton never accepts ':' in IPv4 text, so ':' alone picks the family. */
	p.family = strchr(buf, ':') ? AF_INET6 : AF_INET;

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(p.family, buf, p.addr) != 1) {
		set_why(why, p.family == AF_INET ? "invalid IPv4 address" : "invalid IPv6 address");
		return -EINVAL;
	}

	len = family_bits(p.family);
	if (slash) {
		r = parse_len(slash + 1, len, &len, why);
		if (r < 0)
			return r;
	}
	p.len = (uint8_t)len;

	if (!host_bits_zero(p.addr, p.len, family_bits(p.family))) {
		set_why(why, "host bits set beyond the prefix length");
		return -EINVAL;
	}
	/* IPv4 is matched in the mapped range: an IPv6 rule inside it would
	 * silently be an IPv4 rule. Make the operator say so. */
	if (p.family == AF_INET6 && p.len >= 96 && !memcmp(p.addr, v4mapped_prefix, 12)) {
		set_why(why, "IPv4-mapped IPv6 prefix: write it as an IPv4 prefix");
		return -EINVAL;
	}
	*out = p;
	return 0;
}

int ug_prefix_format(const struct ug_prefix *p, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (!p || !buf || !family_bits(p->family) || p->len > family_bits(p->family))
		return -EINVAL;
	if (!inet_ntop(p->family, p->addr, addr, sizeof(addr)))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%u", addr, (unsigned int)p->len);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return 0;
}

int ug_prefix_contains(const struct ug_prefix *a, const struct ug_prefix *b)
{
	unsigned int width;

	if (!a || !b || a->family != b->family)
		return 0;
	width = family_bits(a->family);
	if (!width || a->len > width || b->len > width || a->len > b->len)
		return 0;
	return bits_equal(a->addr, b->addr, a->len);
}

static int name_lookup(const char *const *names, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -EINVAL;
}

static const char *name_of(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || !names[v])
		return "unknown";
	return names[v];
}

static const char *const dir_names[] = {
	[UG_DIR_EGRESS] = "egress",
	[UG_DIR_INGRESS] = "ingress",
	[UG_DIR_BIND] = "bind",
};

static const char *const action_names[] = {
	[UG_ACT_ALLOW] = "allow",
	[UG_ACT_DENY] = "deny",
};

static const char *const mode_names[] = {
	[UG_MODE_ENFORCE] = "enforce",
	[UG_MODE_AUDIT] = "audit",
	[UG_MODE_OFF] = "off",
};

static const char *const hook_names[] = {
	[UG_HOOK_NONE] = "none",
	[UG_HOOK_CONNECT4] = "connect4",
	[UG_HOOK_CONNECT6] = "connect6",
	[UG_HOOK_SENDMSG4] = "sendmsg4",
	[UG_HOOK_SENDMSG6] = "sendmsg6",
	[UG_HOOK_EGRESS_SKB] = "egress_skb",
	[UG_HOOK_INGRESS_SKB] = "ingress_skb",
	[UG_HOOK_BIND4] = "bind4",
	[UG_HOOK_BIND6] = "bind6",
};

static const char *const verdict_names[] = {
	[UG_VERDICT_DENY] = "deny",
	[UG_VERDICT_AUDIT] = "audit",
};

int ug_dir_parse(const char *s)
{
	return name_lookup(dir_names, ARRAY_SIZE(dir_names), s);
}

const char *ug_dir_name(int dir)
{
	return name_of(dir_names, ARRAY_SIZE(dir_names), dir);
}

int ug_action_parse(const char *s)
{
	return name_lookup(action_names, ARRAY_SIZE(action_names), s);
}

const char *ug_action_name(int action)
{
	/* Compiled entries carry UG_ACT_DEFAULT; dumps of them should read sensibly. */
	if (action == UG_ACT_DEFAULT)
		return "default";
	return name_of(action_names, ARRAY_SIZE(action_names), action);
}

int ug_mode_parse(const char *s)
{
	return name_lookup(mode_names, ARRAY_SIZE(mode_names), s);
}

const char *ug_mode_name(int mode)
{
	return name_of(mode_names, ARRAY_SIZE(mode_names), mode);
}

const char *ug_hook_name(int hook)
{
	return name_of(hook_names, ARRAY_SIZE(hook_names), hook);
}

const char *ug_verdict_name(int verdict)
{
	return name_of(verdict_names, ARRAY_SIZE(verdict_names), verdict);
}

static int path_parse(const char *s, const char **why)
{
	size_t n = strnlen(s, PATH_MAX_LEN);
	const char *c, *end;

	if (n >= PATH_MAX_LEN) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	if (n == 1) {
		set_why(why, "the cgroup root is not a valid target");
		return -EINVAL;
	}
	if (s[n - 1] == '/') {
		set_why(why, "trailing '/' in path");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e) {
			set_why(why, "path contains a space, control or non-ASCII character");
			return -EINVAL;
		}
	}
	/* s[0] is '/' and the last byte is not, so every component ends before s + n. */
	for (c = s + 1; c < s + n; c = end + 1) {
		end = strchrnul(c, '/');
		if (end == c) {
			set_why(why, "empty path component");
			return -EINVAL;
		}
		if ((end - c == 1 && c[0] == '.') || (end - c == 2 && c[0] == '.' && c[1] == '.')) {
			set_why(why, "'.' or '..' path component");
			return -EINVAL;
		}
	}
	return UG_TARGET_PATH;
}

static bool unit_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(":_.\\@-", c));
}

static int unit_parse(const char *s, const char **why)
{
	/* Only unit types that own a cgroup can be targets. */
	static const char *const suffixes[] = {
		".service", ".socket", ".slice", ".scope", ".mount", ".swap",
	};
	size_t n = strnlen(s, UNIT_NAME_MAX + 1);
	const char *dot, *at;
	bool suffix_ok = false;

	if (n > UNIT_NAME_MAX) {
		set_why(why, "unit name too long (max 255)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!unit_char_ok(s[i])) {
			set_why(why, "invalid character in unit name");
			return -EINVAL;
		}
	}
	dot = strrchr(s, '.');
	if (!dot) {
		set_why(why, "unit name has no type suffix");
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (!strcmp(dot, suffixes[i]))
			suffix_ok = true;
	if (!suffix_ok) {
		set_why(why, "unit type must be service, socket, slice, scope, mount or swap");
		return -EINVAL;
	}
	if (dot == s) {
		set_why(why, "unit name is empty before the type suffix");
		return -EINVAL;
	}
	/* "-.slice" is systemd's name for the cgroup root. */
	if (!strcmp(s, "-.slice")) {
		set_why(why, "the root slice is the cgroup root, not a valid target");
		return -EINVAL;
	}
	at = strchr(s, '@');
	if (at) {
		if (strchr(at + 1, '@')) {
			set_why(why, "more than one '@' in unit name");
			return -EINVAL;
		}
		if (at == s || at > dot) {
			set_why(why, "misplaced '@' in unit name");
			return -EINVAL;
		}
		/* A template ("foo@.service") has no cgroup; only its instances do. */
		if (at + 1 == dot) {
			set_why(why, "template unit without an instance has no cgroup");
			return -EINVAL;
		}
	}
	return UG_TARGET_UNIT;
}

int ug_target_parse(const char *s, const char **why)
{
	if (!s || !*s) {
		set_why(why, "empty target");
		return -EINVAL;
	}
	if (s[0] == '/')
		return path_parse(s, why);
	return unit_parse(s, why);
}

/* A candidate entry and what decides between candidates for the same key. */
struct cand {
	struct ug_lpm_entry e;
	uint8_t depth;
};

/*
 * Key order: trie, dir, prefixlen, then address bytes. Comparing fields rather than memcmp() on
 * the key keeps the order independent of host byte order.
 */
static int key_cmp(const struct ug_lpm_key *a, const struct ug_lpm_key *b)
{
	if (a->trie != b->trie)
		return a->trie < b->trie ? -1 : 1;
	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* Same key: the winner sorts first. */
static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	int r = key_cmp(&a->e.key, &b->e.key);

	if (r)
		return r;
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->e.val.action != b->e.val.action)
		return a->e.val.action == UG_ACT_DENY ? -1 : 1;
	if (a->e.val.rule_id != b->e.val.rule_id)
		return a->e.val.rule_id < b->e.val.rule_id ? -1 : 1;
	return 0;
}

static bool rule_valid(const struct ug_rule *r)
{
	return r->id > 0 && r->id <= UINT32_MAX && r->dir < UG_DIR_MAX &&
	       (r->action == UG_ACT_ALLOW || r->action == UG_ACT_DENY) && prefix_valid(&r->prefix);
}

static void set_key(struct ug_lpm_key *k, uint16_t trie, uint8_t dir, const struct ug_prefix *p)
{
	memset(k, 0, sizeof(*k));
	k->trie = trie;
	k->dir = dir;
	if (p->family == AF_INET) {
		memcpy(k->addr, v4mapped, sizeof(k->addr));
		memcpy(k->addr + 12, p->addr, 4);
		k->prefixlen = UG_LPM_HDR_BITS + V4MAPPED_BITS + p->len;
	} else {
		memcpy(k->addr, p->addr, sizeof(k->addr));
		k->prefixlen = UG_LPM_HDR_BITS + p->len;
	}
}

/*
 * Does direction `dir` need the v4-mapped guard? Entries are deduplicated. Only an
 * IPv6 rule can produce an entry shorter than the mapped /96, so the keys alone tell.
 */
static bool needs_guard(const struct cand *c, size_t n, uint8_t dir)
{
	bool covered = false;

	for (size_t i = 0; i < n; i++) {
		unsigned int bits = c[i].e.key.prefixlen - UG_LPM_HDR_BITS;

		if (c[i].e.key.dir != dir || bits > V4MAPPED_BITS ||
		    !bits_equal(c[i].e.key.addr, v4mapped, bits))
			continue;
		if (bits == V4MAPPED_BITS)
			return false;
		covered = true;
	}
	return covered;
}

int ug_compile(const struct ug_rule *rules, size_t n_rules, uint16_t trie,
	       struct ug_lpm_entry **out, size_t *n_out)
{
	static const struct ug_prefix mapped = { .family = AF_INET6, .len = V4MAPPED_BITS,
						 .addr = { [10] = 0xff, [11] = 0xff } };
	struct ug_lpm_entry *res;
	struct cand *c;
	size_t n = 0;

	if (!out || !n_out || (n_rules && !rules))
		return -EINVAL;
	*out = NULL;
	*n_out = 0;
	if (!n_rules)
		return 0;
	for (size_t i = 0; i < n_rules; i++)
		if (!rule_valid(&rules[i]))
			return -EINVAL;

	/* At most one guard entry per direction. */
	if (n_rules > (SIZE_MAX / sizeof(*c)) - UG_DIR_MAX)
		return -ENOMEM;
	c = calloc(n_rules + UG_DIR_MAX, sizeof(*c));
	if (!c)
		return -ENOMEM;

	for (size_t i = 0; i < n_rules; i++) {
		set_key(&c[i].e.key, trie, rules[i].dir, &rules[i].prefix);
		c[i].e.val.rule_id = (uint32_t)rules[i].id;
		c[i].e.val.action = rules[i].action;
		c[i].depth = rules[i].depth;
	}
	qsort(c, n_rules, sizeof(*c), cand_cmp);
	/* Sorted so each key's winner comes first: keep it, drop the rest. */
	for (size_t i = 0; i < n_rules; i++) {
		if (n && !key_cmp(&c[n - 1].e.key, &c[i].e.key))
			continue;
		if (n != i)
			c[n] = c[i];
		n++;
	}

	/* A guard added for one direction cannot change the answer for another. */
	for (uint8_t dir = 0; dir < UG_DIR_MAX; dir++) {
		if (!needs_guard(c, n, dir))
			continue;
		memset(&c[n], 0, sizeof(c[n]));
		set_key(&c[n].e.key, trie, dir, &mapped);
		c[n].e.val.action = UG_ACT_DEFAULT;
		n++;
	}
	qsort(c, n, sizeof(*c), cand_cmp);

	res = calloc(n, sizeof(*res));
	if (!res) {
		free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		res[i] = c[i].e;
	free(c);
	*out = res;
	*n_out = n;
	return 0;
}
