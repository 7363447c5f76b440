/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network rules from text: IP prefixes, protocols and port ranges, and
 * ug_rule_parse(), which builds the compiler's struct ug_rule out of the
 * strings the store and the policy file hold. Strict on purpose: one
 * spelling per value (no octal-looking "010", no host bits, no IPv4-mapped
 * IPv6), so two texts that mean the same rule cannot slip past dedup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "policy.h"

/* Longer input cannot be a valid prefix; the bound keeps the copy on the stack. */
#define PREFIX_INPUT_MAX 64

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
