/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
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
	[UG_HOOK_EXEC] = "exec",
	[UG_HOOK_FILE_OPEN] = "file_open",
	[UG_HOOK_SOCKET_CREATE] = "socket_create",
	[UG_HOOK_MODULE_LOAD] = "module_load",
	[UG_HOOK_BPF] = "bpf",
	[UG_HOOK_PTRACE] = "ptrace",
	[UG_HOOK_MOUNT] = "mount",
	[UG_HOOK_PATH_VIEW] = "path_view",
};

/* A hook added to enum ug_hook without a name would print as "unknown". */
_Static_assert(ARRAY_SIZE(hook_names) == UG_HOOK_MAX, "every hook needs a name");

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

/* --- protocols and ports ----------------------------------------------------- */

int ug_proto_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "tcp"))
		return IPPROTO_TCP;
	if (!strcmp(s, "udp"))
		return IPPROTO_UDP;
	/* Rules say "icmp" for both families; the compiler picks ICMPv6 for IPv6 prefixes. */
	if (!strcmp(s, "icmp"))
		return IPPROTO_ICMP;
	return -EINVAL;
}

const char *ug_proto_name(int proto)
{
	switch (proto) {
	case 0:
		return "any";
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return "unknown";
	}
}

#define PORT_DIGITS_MAX 5 /* "65535" */

/* Strict decimal, as for prefix lengths: no sign, no spaces, no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *out, const char **why)
{
	unsigned int v = 0;

	if (n == 0) {
		set_why(why, "empty port");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			set_why(why, "port is not a plain decimal number");
			return -EINVAL;
		}
	}
	if (n > 1 && s[0] == '0') {
		set_why(why, "port has a leading zero");
		return -EINVAL;
	}
	/* Checked before summing: a long run of digits must not overflow v. */
	if (n > PORT_DIGITS_MAX) {
		set_why(why, "port out of range (1-65535)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned int)(s[i] - '0');
	if (v < 1 || v > UINT16_MAX) {
		set_why(why, "port out of range (1-65535)");
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

int ug_ports_parse(const char *s, uint16_t *lo, uint16_t *hi, const char **why)
{
	const char *dash;
	uint16_t a, b;
	int r;

	if (!s || !*s) {
		set_why(why, "empty port");
		return -EINVAL;
	}
	if (!lo || !hi) {
		set_why(why, "no output given");
		return -EINVAL;
	}
	dash = strchr(s, '-');
	if (!dash) {
		r = parse_port(s, strlen(s), &a, why);
		if (r < 0)
			return r;
		b = a;
	} else {
		/* A second '-' lands in the upper bound and fails as a non-digit. */
		r = parse_port(s, (size_t)(dash - s), &a, why);
		if (r < 0)
			return r;
		r = parse_port(dash + 1, strlen(dash + 1), &b, why);
		if (r < 0)
			return r;
		if (a > b) {
			set_why(why, "port range reversed");
			return -EINVAL;
		}
	}
	*lo = a;
	*hi = b;
	return 0;
}

int ug_slice_path(const char *slice, char *buf, size_t len)
{
	size_t n = strlen(slice), off = 0;

	buf[0] = '\0';
	if (!strcmp(slice, "-.slice"))
		return 0;
	if (n < 7 || strcmp(slice + n - 6, ".slice"))
		return -EINVAL;
	for (size_t i = 0; i + 6 <= n; i++) {
		int w;

		if (slice[i] != '-' && i + 6 != n)
			continue;
		w = snprintf(buf + off, len - off, "/%.*s.slice", (int)i, slice);
		if (w < 0 || (size_t)w >= len - off)
			return -ENAMETOOLONG;
		off += w;
	}
	return 0;
}

int ug_rule_parse(int64_t id, const char *dir, const char *action, const char *prefix,
		  const char *proto, uint32_t port_lo, uint32_t port_hi, struct ug_rule *out,
		  const char **why)
{
	int d, a, p = 0;

	memset(out, 0, sizeof(*out));
	d = dir ? ug_dir_parse(dir) : -EINVAL;
	a = action ? ug_action_parse(action) : -EINVAL;
	if (proto)
		p = ug_proto_parse(proto);
	if (d < 0 || a < 0 || p < 0) {
		set_why(why, d < 0 ? "bad direction" : a < 0 ? "bad action" : "bad protocol");
		return -EINVAL;
	}
	if (id <= 0 || id > UINT32_MAX) {
		set_why(why, "rule id out of range");
		return -EINVAL;
	}
	if (port_lo > 65535 || port_hi > 65535 || (port_lo && port_hi < port_lo) ||
	    (!port_lo && port_hi) || (port_lo && p == IPPROTO_ICMP)) {
		set_why(why, "bad port range");
		return -EINVAL;
	}
	if (!prefix || ug_prefix_parse(prefix, &out->prefix, why)) {
		if (!prefix)
			set_why(why, "no prefix");
		return -EINVAL;
	}
	out->id = (uint32_t)id;
	out->dir = (uint8_t)d;
	out->action = (uint8_t)a;
	out->proto = (uint8_t)p;
	out->has_ports = port_lo != 0;
	out->port_lo = (uint16_t)port_lo;
	out->port_hi = (uint16_t)port_hi;
	return 0;
}

/* --- compile ----------------------------------------------------------------- */

/* A validated rule as the kernel will check it, with what dedup and ordering need. */
struct item {
	struct ug_lpm_key key;
	struct ug_match m;
	uint8_t depth;
};

/* One LPM entry being built: the items [start, start + count) that share its key. */
struct group {
	struct ug_lpm_key key;
	size_t start, count;
	bool v4; /* in the IPv4-mapped range: inherits only from its own kind */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

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

int ug_lpm_key_cmp(const struct ug_lpm_key *a, const struct ug_lpm_key *b)
{
	return key_cmp(a, b);
}

#define CMP(a, b)                                 \
	do {                                      \
		if ((a) != (b))                   \
			return (a) < (b) ? -1 : 1; \
	} while (0)

/* Qualifier identity: what makes two rules on one prefix the same rule. */
static int qual_cmp(const struct ug_match *a, const struct ug_match *b)
{
	CMP(a->flags, b->flags);
	CMP(a->port_lo, b->port_lo);
	CMP(a->port_hi, b->port_hi);
	CMP(a->proto, b->proto);
	return 0;
}

/* Same key and qualifier: the survivor sorts first (smallest depth, deny, lowest id). */
static int item_dedup_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int r = key_cmp(&a->key, &b->key);

	if (r)
		return r;
	r = qual_cmp(&a->m, &b->m);
	if (r)
		return r;
	CMP(a->depth, b->depth);
	CMP(a->m.action != UG_ACT_DENY, b->m.action != UG_ACT_DENY);
	CMP(a->m.rule_id, b->m.rule_id);
	return 0;
}

/* Same key: the order the kernel tries them in, most specific qualifier first. */
static int item_order_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	bool a_ports = a->m.flags & UG_MATCH_PORTS, b_ports = b->m.flags & UG_MATCH_PORTS;
	int r = key_cmp(&a->key, &b->key);

	if (r)
		return r;
	CMP(!a_ports, !b_ports);
	if (a_ports)
		CMP(a->m.port_hi - a->m.port_lo, b->m.port_hi - b->m.port_lo);
	CMP(a->m.proto == 0, b->m.proto == 0);
	CMP(a->m.action != UG_ACT_DENY, b->m.action != UG_ACT_DENY);
	CMP(a->depth, b->depth);
	CMP(a->m.rule_id, b->m.rule_id);
	/* Reached only by two rules sharing a store id; keeps the output independent of
	 * input order all the same. */
	return qual_cmp(&a->m, &b->m);
}

#undef CMP

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	return key_cmp(&a->key, &b->key);
}

/* Names what is wrong with a rule, or NULL. */
static const char *rule_problem(const struct ug_rule *r)
{
	unsigned int width = family_bits(r->prefix.family);

	if (r->id <= 0 || r->id > UINT32_MAX)
		return "id out of range (1-4294967295)";
	if (r->dir >= UG_DIR_MAX)
		return "unknown direction";
	if (r->action != UG_ACT_ALLOW && r->action != UG_ACT_DENY)
		return "unknown action";
	if (r->proto != 0 && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP &&
	    r->proto != IPPROTO_ICMP)
		return "protocol must be any, tcp, udp or icmp";
	if (r->has_ports) {
		if (r->proto != 0 && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
			return "ports need protocol tcp, udp or any";
		if (r->port_lo < 1)
			return "port out of range (1-65535)";
		if (r->port_lo > r->port_hi)
			return "port range reversed";
	}
	if (!width)
		return "unknown address family";
	if (r->prefix.len > width)
		return "prefix length out of range";
	if (!host_bits_zero(r->prefix.addr, r->prefix.len, width))
		return "host bits set beyond the prefix length";
	return NULL;
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

static unsigned int key_bits(const struct ug_lpm_key *k)
{
	return k->prefixlen - UG_LPM_HDR_BITS;
}

/* Does the key lie in ::ffff:0:0/96, where IPv4 rules live? */
static bool key_v4(const struct ug_lpm_key *k)
{
	return key_bits(k) >= V4MAPPED_BITS && bits_equal(k->addr, v4mapped, V4MAPPED_BITS);
}

static void item_init(struct item *it, const struct ug_rule *r, uint16_t trie)
{
	memset(it, 0, sizeof(*it));
	set_key(&it->key, trie, r->dir, &r->prefix);
	it->m.rule_id = (uint32_t)r->id;
	it->m.action = r->action;
	it->m.proto = r->proto;
	/* The kernel compares the packet's protocol; an IPv6 packet's ICMP is ICMPv6. A key in
	 * the v4-mapped range is IPv4 traffic however the prefix was spelled (an IPv6 spelling
	 * lands on the IPv4 rule's key), so its ICMP is ICMP. */
	if (r->proto == IPPROTO_ICMP && !key_v4(&it->key))
		it->m.proto = IPPROTO_ICMPV6;
	/* Ports of a rule without has_ports mean nothing; zero them so dedup and output agree. */
	if (r->has_ports) {
		it->m.flags = UG_MATCH_PORTS;
		it->m.port_lo = r->port_lo;
		it->m.port_hi = r->port_hi;
	}
	it->depth = r->depth;
}

/* The prefix an entry stands for, as the operator wrote it: IPv4 in the mapped range. */
static void key_prefix(const struct ug_lpm_key *k, struct ug_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (key_v4(k)) {
		p->family = AF_INET;
		p->len = (uint8_t)(key_bits(k) - V4MAPPED_BITS);
		memcpy(p->addr, k->addr + 12, 4);
	} else {
		p->family = AF_INET6;
		p->len = (uint8_t)key_bits(k);
		memcpy(p->addr, k->addr, sizeof(k->addr));
	}
}

/*
 * Does direction `dir` need the v4-mapped guard? Only an IPv6 rule can produce an entry
 * shorter than the mapped /96, and only an IPv4 0.0.0.0/0 rule an entry at it, so the keys
 * alone tell.
 */
static bool needs_guard(const struct group *g, size_t n, uint8_t dir)
{
	bool covered = false;

	for (size_t i = 0; i < n; i++) {
		unsigned int bits = key_bits(&g[i].key);

		if (g[i].key.dir != dir || bits > V4MAPPED_BITS ||
		    !bits_equal(g[i].key.addr, v4mapped, bits))
			continue;
		if (bits == V4MAPPED_BITS)
			return false;
		covered = true;
	}
	return covered;
}

/* Does h cover g, so that g's entry carries h's rules after its own? */
static bool group_covers(const struct group *h, const struct group *g)
{
	return h->key.dir == g->key.dir && h->v4 == g->v4 && h->key.prefixlen < g->key.prefixlen &&
	       bits_equal(h->key.addr, g->key.addr, key_bits(&h->key));
}

static bool match_all(const struct ug_match *m)
{
	return !m->proto && !(m->flags & UG_MATCH_PORTS);
}

/*
 * Fill entry e for group gi: its own rules, then those of the groups covering it, longest
 * first. g is sorted by key, so walking back from gi meets the covering prefixes longest first.
 */
static int build_entry(const struct item *it, const struct group *g, size_t gi,
		       struct ug_lpm_entry *e, char *err, size_t errlen)
{
	size_t n = 0;
	bool done = false;

	e->key = g[gi].key;
	for (size_t j = gi + 1; j-- > 0 && !done;) {
		if (g[j].key.dir != g[gi].key.dir)
			break;
		if (j != gi && !group_covers(&g[j], &g[gi]))
			continue;
		for (size_t k = g[j].start; k < g[j].start + g[j].count; k++) {
			if (n < UG_MATCHES_MAX)
				e->val.m[n] = it[k].m;
			n++;
			/* Nothing after a rule that matches everything can ever decide. */
			if (match_all(&it[k].m)) {
				done = true;
				break;
			}
		}
	}
	if (n > UG_MATCHES_MAX) {
		struct ug_prefix p;
		char buf[UG_PREFIX_STRLEN];

		key_prefix(&e->key, &p);
		if (ug_prefix_format(&p, buf, sizeof(buf)) < 0)
			snprintf(buf, sizeof(buf), "?");
		set_err(err, errlen, "%s (%s): %zu rules overlap, at most %d", buf,
			ug_dir_name(e->key.dir), n, UG_MATCHES_MAX);
		return -E2BIG;
	}
	e->val.n = (uint32_t)n;
	return 0;
}

int ug_compile(const struct ug_rule *rules, size_t n_rules, uint16_t trie,
	       struct ug_lpm_entry **out, size_t *n_out, char *err, size_t errlen)
{
	static const struct ug_prefix mapped = { .family = AF_INET6, .len = V4MAPPED_BITS,
						 .addr = { [10] = 0xff, [11] = 0xff } };
	struct ug_lpm_entry *res = NULL;
	struct group *g = NULL;
	struct item *it = NULL;
	size_t n_it = 0, n_g = 0;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!out || !n_out || (n_rules && !rules)) {
		set_err(err, errlen, "no rules or no output given");
		return -EINVAL;
	}
	*out = NULL;
	*n_out = 0;
	if (!n_rules)
		return 0;
	for (size_t i = 0; i < n_rules; i++) {
		const char *problem = rule_problem(&rules[i]);

		if (problem) {
			set_err(err, errlen, "rule %lld: %s", (long long)rules[i].id, problem);
			return -EINVAL;
		}
	}

	/* At most one guard entry per direction. */
	if (n_rules > SIZE_MAX / sizeof(*g) - UG_DIR_MAX) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	it = calloc(n_rules, sizeof(*it));
	g = calloc(n_rules + UG_DIR_MAX, sizeof(*g));
	if (!it || !g) {
		r = -ENOMEM;
		goto out;
	}

	for (size_t i = 0; i < n_rules; i++)
		item_init(&it[i], &rules[i], trie);
	/* Sorted so each (key, qualifier) survivor comes first: keep it, drop the rest. */
	qsort(it, n_rules, sizeof(*it), item_dedup_cmp);
	for (size_t i = 0; i < n_rules; i++) {
		if (n_it && !key_cmp(&it[n_it - 1].key, &it[i].key) &&
		    !qual_cmp(&it[n_it - 1].m, &it[i].m))
			continue;
		if (n_it != i)
			it[n_it] = it[i];
		n_it++;
	}
	qsort(it, n_it, sizeof(*it), item_order_cmp);

	for (size_t i = 0; i < n_it; i++) {
		if (!n_g || key_cmp(&g[n_g - 1].key, &it[i].key)) {
			g[n_g].key = it[i].key;
			g[n_g].start = i;
			n_g++;
		}
		g[n_g - 1].count++;
	}
	/* A guard added for one direction cannot change the answer for another. */
	for (uint8_t dir = 0; dir < UG_DIR_MAX; dir++) {
		if (!needs_guard(g, n_g, dir))
			continue;
		set_key(&g[n_g].key, trie, dir, &mapped);
		g[n_g].start = 0;
		g[n_g].count = 0;
		n_g++;
	}
	qsort(g, n_g, sizeof(*g), group_cmp);
	for (size_t i = 0; i < n_g; i++)
		g[i].v4 = key_v4(&g[i].key);

	/* calloc(): unused m[] slots and all padding stay zero, so entries compare with memcmp(). */
	res = calloc(n_g, sizeof(*res));
	if (!res) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_g; i++) {
		r = build_entry(it, g, i, &res[i], err, errlen);
		if (r < 0)
			goto out;
	}
	*out = res;
	*n_out = n_g;
	res = NULL;
out:
	if (r == -ENOMEM)
		set_err(err, errlen, "out of memory");
	free(res);
	free(g);
	free(it);
	return r;
}

/* --- LSM: paths, access, families, hardening ------------------------------- */

/* Stored bytes of a canonical path: the path plus the '/' that makes prefixes stop at
 * directory boundaries; "/" is stored as it is. */
static size_t path_stored_len(size_t len)
{
	return len == 1 ? 1 : len + 1;
}

int ug_path_parse(const char *s, char *out, size_t outlen, const char **why)
{
	const char *c, *end;
	size_t n;

	if (!s || !*s) {
		set_why(why, "empty path");
		return -EINVAL;
	}
	if (!out) {
		set_why(why, "no output given");
		return -EINVAL;
	}
	if (s[0] != '/') {
		set_why(why, "path is not absolute");
		return -EINVAL;
	}
	/* One trailing '/' is dropped, so input one byte longer than the longest path can
	 * still be valid; anything longer cannot, and need not be read to the end. */
	n = strnlen(s, UG_PATH_MAX);
	if (n >= UG_PATH_MAX) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e) {
			set_why(why, "path contains a space, control or non-ASCII character");
			return -EINVAL;
		}
	}
	/* A trailing '/' ends the loop at s + n instead of making an empty component;
	 * "//" and "/a//" still have one. */
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
	if (n > 1 && s[n - 1] == '/')
		n--;
	/* The kernel appends '/' to the path it looks up; a rule must leave it room. */
	if (path_stored_len(n) > UG_PATH_MAX - 1) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	if (n >= outlen) {
		set_why(why, "output buffer too small");
		return -EINVAL;
	}
	memmove(out, s, n);
	out[n] = '\0';
	return 0;
}

static const char *const access_names[] = {
	[UG_ACCESS_READ] = "read",
	[UG_ACCESS_WRITE] = "write",
	[UG_ACCESS_READ | UG_ACCESS_WRITE] = "any",
};

int ug_access_parse(const char *s)
{
	return name_lookup(access_names, ARRAY_SIZE(access_names), s);
}

const char *ug_access_name(int access)
{
	return name_of(access_names, ARRAY_SIZE(access_names), access);
}

/* Indexed by AF_* value; the kernel's names without the AF_ prefix, lower case. Numbers
 * rather than the AF_* macros: an older libc lacking one must not change the table. */
static const char *const family_names[] = {
	[1] = "unix",        [2] = "inet",       [3] = "ax25",      [4] = "ipx",
	[5] = "appletalk",   [6] = "netrom",     [7] = "bridge",    [8] = "atmpvc",
	[9] = "x25",         [10] = "inet6",     [11] = "rose",     [12] = "decnet",
	[13] = "netbeui",    [14] = "security",  [15] = "key",      [16] = "netlink",
	[17] = "packet",     [18] = "ash",       [19] = "econet",   [20] = "atmsvc",
	[21] = "rds",        [22] = "sna",       [23] = "irda",     [24] = "pppox",
	[25] = "wanpipe",    [26] = "llc",       [27] = "ib",       [28] = "mpls",
	[29] = "can",        [30] = "tipc",      [31] = "bluetooth", [32] = "iucv",
	[33] = "rxrpc",      [34] = "isdn",      [35] = "phonet",   [36] = "ieee802154",
	[37] = "caif",       [38] = "alg",       [39] = "nfc",      [40] = "vsock",
	[41] = "kcm",        [42] = "qipcrtr",   [43] = "smc",      [44] = "xdp",
	[45] = "mctp",
};

/* ug_lsm_unit.deny_families is a 64-bit mask. */
#define FAMILY_MAX 63

int ug_family_parse(const char *s)
{
	unsigned int v = 0;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	/* systemd's spelling (RestrictAddressFamilies=AF_PACKET): AF_ and the
	 * name in capitals. */
	if (!strncmp(s, "AF_", 3)) {
		char lower[16];

		n = strlen(s + 3);
		if (!n || n >= sizeof(lower))
			return -EINVAL;
		for (size_t i = 0; i <= n; i++) {
			if (s[3 + i] >= 'a' && s[3 + i] <= 'z')
				return -EINVAL;
			lower[i] = s[3 + i] >= 'A' && s[3 + i] <= 'Z' ? s[3 + i] - 'A' + 'a' : s[3 + i];
		}
		return name_lookup(family_names, ARRAY_SIZE(family_names), lower);
	}
	if (s[0] < '0' || s[0] > '9')
		return name_lookup(family_names, ARRAY_SIZE(family_names), s);
	/* Strict decimal, as for ports: no sign, no spaces, no leading zero. */
	n = strlen(s);
	if (n > 2 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v < 1 || v > FAMILY_MAX)
		return -EINVAL;
	return (int)v;
}

const char *ug_family_name(int family)
{
	return name_of(family_names, ARRAY_SIZE(family_names), family);
}

static const char *const harden_names[] = {
	"module-load", /* UG_HARDEN_MODULE_LOAD */
	"bpf",         /* UG_HARDEN_BPF */
	"ptrace",      /* UG_HARDEN_PTRACE */
	"mount",       /* UG_HARDEN_MOUNT */
	"path-view",   /* UG_HARDEN_PATH_VIEW */
};

#define HARDEN_ALL ((1 << ARRAY_SIZE(harden_names)) - 1)

int ug_harden_parse(const char *s, const char **why)
{
	const char *c, *end;
	int harden = 0;

	if (!s) {
		set_why(why, "no hardening list given");
		return -EINVAL;
	}
	/* "" is the empty list, what ug_harden_format() writes for none. */
	if (!*s)
		return 0;
	for (c = s;; c = end + 1) {
		size_t len, i;

		end = strchrnul(c, ',');
		len = (size_t)(end - c);
		if (!len) {
			set_why(why, "empty item in hardening list");
			return -EINVAL;
		}
		for (i = 0; i < ARRAY_SIZE(harden_names); i++)
			if (strlen(harden_names[i]) == len && !memcmp(harden_names[i], c, len))
				break;
		if (i == ARRAY_SIZE(harden_names)) {
			set_why(why, "unknown hardening item (expected module-load, bpf, ptrace, mount or path-view)");
			return -EINVAL;
		}
		/* A repeated item changes nothing: the list is a set. */
		harden |= 1 << i;
		if (!*end)
			return harden;
	}
}

int ug_harden_format(int harden, char *buf, size_t len)
{
	size_t used = 0;

	if (!buf || !len || harden < 0 || harden & ~HARDEN_ALL)
		return -EINVAL;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(harden_names); i++) {
		int w;

		if (!(harden & (1 << i)))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", harden_names[i]);
		if (w < 0)
			return -EINVAL;
		if ((size_t)w >= len - used)
			return -ENOSPC;
		used += (size_t)w;
	}
	return 0;
}

/* --- rule comments ---------------------------------------------------------- */

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

/* --- compile paths ---------------------------------------------------------- */

/* A validated path rule with its key. */
struct path_item {
	struct ug_path_key key;
	size_t len; /* stored path bytes */
	uint32_t id;
	uint8_t action, access, depth;
};

/* A file entry and its stored length, for the folding pass. */
struct path_fold {
	struct ug_path_entry *e;
	size_t len;
};

static int path_key_cmp(const struct ug_path_key *a, const struct ug_path_key *b)
{
	if (a->trie != b->trie)
		return a->trie < b->trie ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->path, b->path, sizeof(a->path));
}

int ug_path_key_cmp(const struct ug_path_key *a, const struct ug_path_key *b)
{
	return path_key_cmp(a, b);
}

#define CMP(a, b)                                 \
	do {                                      \
		if ((a) != (b))                   \
			return (a) < (b) ? -1 : 1; \
	} while (0)

/*
 * Key order, then within a key the rule that decides first: smallest depth, then (exec)
 * deny, then lowest id. For file rules every rule counts, but the first one denying an
 * access is the one named for it, and action is deny for all of them.
 */
static int path_item_cmp(const void *pa, const void *pb)
{
	const struct path_item *a = pa, *b = pb;
	int r = path_key_cmp(&a->key, &b->key);

	if (r)
		return r;
	CMP(a->depth, b->depth);
	CMP(a->action != UG_ACT_DENY, b->action != UG_ACT_DENY);
	CMP(a->id, b->id);
	/* Two rules sharing a store id: keep the output independent of input order. */
	CMP(a->access, b->access);
	return 0;
}

#undef CMP

/* Byte order of the stored paths: a prefix sorts right before the paths it covers, the
 * zero padding after it being lower than any path byte. */
static int path_fold_cmp(const void *pa, const void *pb)
{
	const struct path_fold *a = pa, *b = pb;

	return memcmp(a->e->key.path, b->e->key.path, sizeof(a->e->key.path));
}

/* Names what is wrong with a path rule, or NULL. */
static const char *path_rule_problem(const struct ug_path_rule *r, const char **why)
{
	char canon[UG_PATH_MAX];

	if (r->id <= 0 || r->id > UINT32_MAX)
		return "id out of range (1-4294967295)";
	if (r->kind == UG_PATH_EXEC) {
		if (r->action != UG_ACT_ALLOW && r->action != UG_ACT_DENY)
			return "unknown action";
	} else if (r->kind == UG_PATH_FILE) {
		/* Nothing to allow: an open is refused only when some rule denies it. */
		if (r->action != UG_ACT_DENY)
			return "file rules can only deny";
		if (!r->access || r->access & ~(UG_ACCESS_READ | UG_ACCESS_WRITE))
			return "access must be read, write or both";
	} else {
		return "unknown path rule kind";
	}
	if (!memchr(r->path, '\0', sizeof(r->path)))
		return "path is not NUL-terminated";
	if (ug_path_parse(r->path, canon, sizeof(canon), why) < 0)
		return "invalid path";
	/* Two spellings of one path would make two keys that never fold together. */
	if (strcmp(canon, r->path))
		return "path is not canonical";
	return NULL;
}

static void path_item_init(struct path_item *it, const struct ug_path_rule *r, uint16_t trie)
{
	size_t n = strlen(r->path);

	memset(it, 0, sizeof(*it));
	it->key.trie = trie;
	it->key.kind = r->kind;
	memcpy(it->key.path, r->path, n);
	if (n > 1)
		it->key.path[n] = '/';
	it->len = path_stored_len(n);
	it->key.prefixlen = (uint32_t)(UG_PATH_HDR_BITS + 8 * it->len);
	it->id = (uint32_t)r->id;
	it->action = r->action;
	/* Access means nothing to exec rules; zeroed so it cannot reach the output. */
	it->access = r->kind == UG_PATH_FILE ? r->access : 0;
	it->depth = r->depth;
}

/*
 * Fold each file entry's covering prefixes into it. In byte order the prefixes covering
 * an entry are exactly those still on the stack, so its parent (the nearest one) already
 * carries everything above it. Own rules are longer than any inherited one, so they name
 * the access they deny; the parent's names the rest.
 */
static int fold_files(struct ug_path_entry *e, size_t n, const size_t *len)
{
	struct path_fold *f, **stack;
	size_t top = 0;

	if (!n)
		return 0;
	f = calloc(n, sizeof(*f));
	stack = calloc(n, sizeof(*stack));
	if (!f || !stack) {
		free(f);
		free(stack);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		f[i].e = &e[i];
		f[i].len = len[i];
	}
	qsort(f, n, sizeof(*f), path_fold_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ug_path_val *v = &f[i].e->val;

		while (top && memcmp(stack[top - 1]->e->key.path, f[i].e->key.path,
				     stack[top - 1]->len))
			top--;
		if (top) {
			const struct ug_path_val *pv = &stack[top - 1]->e->val;

			if (!v->read_rule)
				v->read_rule = pv->read_rule;
			if (!v->write_rule)
				v->write_rule = pv->write_rule;
			v->deny_access |= pv->deny_access;
		}
		stack[top++] = &f[i];
	}
	free(f);
	free(stack);
	return 0;
}

int ug_path_compile(const struct ug_path_rule *rules, size_t n_rules, uint16_t trie,
		    struct ug_path_entry **out, size_t *n_out, char *err, size_t errlen)
{
	struct ug_path_entry *res = NULL;
	struct path_item *it = NULL;
	size_t n_e = 0, first_file = 0, *len = NULL;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!out || !n_out || (n_rules && !rules)) {
		set_err(err, errlen, "no rules or no output given");
		return -EINVAL;
	}
	*out = NULL;
	*n_out = 0;
	if (!n_rules)
		return 0;
	for (size_t i = 0; i < n_rules; i++) {
		const char *why = NULL, *problem = path_rule_problem(&rules[i], &why);

		if (problem && why)
			set_err(err, errlen, "rule %lld: %s: %s", (long long)rules[i].id, problem, why);
		else if (problem)
			set_err(err, errlen, "rule %lld: %s", (long long)rules[i].id, problem);
		if (problem)
			return -EINVAL;
	}

	it = calloc(n_rules, sizeof(*it));
	/* calloc(): padding and the path bytes after the key stay zero. */
	res = calloc(n_rules, sizeof(*res));
	len = calloc(n_rules, sizeof(*len));
	if (!it || !res || !len) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_rules; i++)
		path_item_init(&it[i], &rules[i], trie);
	/* Sorted by key, exec before file, and within a key the deciding rule first. */
	qsort(it, n_rules, sizeof(*it), path_item_cmp);

	for (size_t i = 0; i < n_rules; i++) {
		struct ug_path_val *v;

		if (!n_e || path_key_cmp(&res[n_e - 1].key, &it[i].key)) {
			res[n_e].key = it[i].key;
			len[n_e] = it[i].len;
			if (it[i].key.kind == UG_PATH_EXEC) {
				/* The first rule of an exec key decides; the others are dropped. */
				res[n_e].val.rule_id = it[i].id;
				res[n_e].val.action = it[i].action;
				first_file = n_e + 1;
			}
			n_e++;
		}
		if (it[i].key.kind != UG_PATH_FILE)
			continue;
		v = &res[n_e - 1].val;
		v->deny_access |= it[i].access;
		if ((it[i].access & UG_ACCESS_READ) && !v->read_rule)
			v->read_rule = it[i].id;
		if ((it[i].access & UG_ACCESS_WRITE) && !v->write_rule)
			v->write_rule = it[i].id;
	}
	r = fold_files(res + first_file, n_e - first_file, len + first_file);
	if (r < 0)
		goto out;
	*out = res;
	*n_out = n_e;
	res = NULL;
out:
	if (r == -ENOMEM)
		set_err(err, errlen, "out of memory");
	free(res);
	free(len);
	free(it);
	return r;
}
