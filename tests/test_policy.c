/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "rule_order.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct ug_prefix pfx(const char *s)
{
	struct ug_prefix p;
	const char *why = NULL;

	if (ug_prefix_parse(s, &p, &why) < 0) {
		/* The parser refuses IPv4-mapped IPv6 text, but the compiler must
		 * still be right about such a prefix: build it by hand. */
		char buf[64], *slash;

		if (!why || !strstr(why, "IPv4-mapped"))
			fail_msg("test setup: cannot parse \"%s\": %s", s, why);
		snprintf(buf, sizeof(buf), "%s", s);
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
		memset(&p, 0, sizeof(p));
		p.family = AF_INET6;
		p.len = slash ? (uint8_t)atoi(slash + 1) : 128;
		assert_int_equal(inet_pton(AF_INET6, buf, p.addr), 1);
	}
	return p;
}

/* A rule on any protocol, without ports. */
static struct ug_rule rule(int64_t id, int dir, int action, int depth, const char *prefix)
{
	struct ug_rule r = {
		.id = id, .dir = (uint8_t)dir, .action = (uint8_t)action, .depth = (uint8_t)depth,
	};

	r.prefix = pfx(prefix);
	return r;
}

/* A rule with a protocol (0: any) and ports ("22", "20-30"; NULL: none). */
static struct ug_rule rulep(int64_t id, int dir, int action, int depth, const char *prefix,
			    int proto, const char *ports)
{
	struct ug_rule r = rule(id, dir, action, depth, prefix);
	const char *why = NULL;

	r.proto = (uint8_t)proto;
	if (ports) {
		if (ug_ports_parse(ports, &r.port_lo, &r.port_hi, &why) < 0)
			fail_msg("test setup: cannot parse ports \"%s\": %s", ports, why);
		r.has_ports = 1;
	}
	return r;
}

/* The v4-mapped form of an IPv4 text address, as the compiler must write it. */
static void mapped(const char *v4, uint8_t out[16])
{
	memset(out, 0, 16);
	out[10] = 0xff;
	out[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, v4, out + 12), 1);
}

static void v6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* --- prefixes --------------------------------------------------------------- */

static const struct {
	const char *in;
	int family;
	int len;
	const char *canon;
} good_prefixes[] = {
	{ "10.0.0.0/8", AF_INET, 8, "10.0.0.0/8" },
	{ "10.1.2.3/32", AF_INET, 32, "10.1.2.3/32" },
	{ "10.1.2.3", AF_INET, 32, "10.1.2.3/32" },
	{ "0.0.0.0/0", AF_INET, 0, "0.0.0.0/0" },
	{ "192.168.0.0/16", AF_INET, 16, "192.168.0.0/16" },
	{ "10.128.0.0/9", AF_INET, 9, "10.128.0.0/9" },
	{ "255.255.255.255/32", AF_INET, 32, "255.255.255.255/32" },
	{ "2001:db8::/32", AF_INET6, 32, "2001:db8::/32" },
	{ "2001:DB8:0:0::/32", AF_INET6, 32, "2001:db8::/32" },
	{ "::/0", AF_INET6, 0, "::/0" },
	{ "::1", AF_INET6, 128, "::1/128" },
	{ "::1/128", AF_INET6, 128, "::1/128" },
	{ "fe80::/10", AF_INET6, 10, "fe80::/10" },
	{ "::fffe:0:0/95", AF_INET6, 95, "::fffe:0:0/95" },
	{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128", AF_INET6, 128,
	  "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128" },
};

static const struct {
	const char *in;
	const char *why; /* substring expected in *why */
} bad_prefixes[] = {
	{ "", "empty" },
	{ "10.0.0.0/33", "out of range (0-32)" },
	{ "10.0.0.0/99", "out of range (0-32)" },
	{ "2001:db8::/129", "out of range (0-128)" },
	{ "2001:db8::/999", "out of range (0-128)" },
	{ "10.0.0.0/1000", "too long" },
	{ "10.0.0.1/8", "host bits" },
	{ "10.128.0.0/8", "host bits" },
	{ "2001:db8::1/64", "host bits" },
	{ "::1/127", "host bits" },
	{ "10.0.0.0/8x", "decimal" },
	{ "10.0.0.0/x8", "decimal" },
	{ "10.0.0.0/-8", "decimal" },
	{ "10.0.0.0/+8", "decimal" },
	{ "10.0.0.0/ 8", "decimal" },
	{ "10.0.0.0/8 ", "decimal" },
	{ "10.0.0.0//8", "decimal" },
	{ "10.0.0.0/8/8", "decimal" },
	{ "10.0.0.0/", "empty prefix length" },
	{ "10.0.0.0/08", "leading zero" },
	{ " 10.0.0.0/8", "IPv4" },
	{ "10.0.0.0 /8", "IPv4" },
	{ "/8", "IPv4" },
	{ "/", "IPv4" },
	{ "10.0.0/8", "IPv4" },
	{ "10.0.0.256/32", "IPv4" },
	{ "010.0.0.0/8", "IPv4" },
	{ "0x0a.0.0.0/8", "IPv4" },
	{ "example.com", "IPv4" },
	{ "fe80::1%eth0", "IPv6" },
	{ "2001:db8:::/32", "IPv6" },
	{ "1:2:3:4:5:6:7:8:9/128", "IPv6" },
	{ "::ffff:10.0.0.256", "IPv6" },
	{ "::ffff:10.0.0.1", "IPv4-mapped" },
	{ "::ffff:0:0/96", "IPv4-mapped" },
	{ "::ffff:10.0.0.0/104", "IPv4-mapped" },
	{ "000000000000000000000000000000000000000000000000000000000000010.0.0.0/8", "too long" },
};

static void test_prefix_parse_good(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_prefixes); i++) {
		struct ug_prefix p;
		const char *why = NULL;
		char buf[UG_PREFIX_STRLEN];

		memset(&p, 0xaa, sizeof(p));
		if (ug_prefix_parse(good_prefixes[i].in, &p, &why) != 0)
			fail_msg("\"%s\" rejected: %s", good_prefixes[i].in, why);
		assert_int_equal(p.family, good_prefixes[i].family);
		assert_int_equal(p.len, good_prefixes[i].len);
		if (p.family == AF_INET)
			for (int b = 4; b < 16; b++)
				assert_int_equal(p.addr[b], 0);
		assert_int_equal(ug_prefix_format(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, good_prefixes[i].canon);
	}
}

static void test_prefix_parse_bad(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_prefixes); i++) {
		struct ug_prefix p;
		const char *why = NULL;
		int r = ug_prefix_parse(bad_prefixes[i].in, &p, &why);

		if (r != -EINVAL)
			fail_msg("\"%s\" gave %d, want -EINVAL", bad_prefixes[i].in, r);
		assert_non_null(why);
		if (!strstr(why, bad_prefixes[i].why))
			fail_msg("\"%s\": why \"%s\" lacks \"%s\"", bad_prefixes[i].in, why,
				 bad_prefixes[i].why);
		/* Callers may not care why. */
		assert_int_equal(ug_prefix_parse(bad_prefixes[i].in, &p, NULL), -EINVAL);
	}
}

static void test_prefix_parse_values(void **state)
{
	struct ug_prefix p;
	const uint8_t a4[16] = { 10, 1, 2, 3 };
	uint8_t a6[16];

	assert_int_equal(ug_prefix_parse("10.1.2.3/32", &p, NULL), 0);
	assert_memory_equal(p.addr, a4, 16);

	assert_int_equal(ug_prefix_parse("2001:db8::/32", &p, NULL), 0);
	v6("2001:db8::", a6);
	assert_memory_equal(p.addr, a6, 16);
	assert_int_equal(p.addr[0], 0x20);
	assert_int_equal(p.addr[1], 0x01);
	assert_int_equal(p.addr[2], 0x0d);
	assert_int_equal(p.addr[3], 0xb8);
}

static void test_prefix_parse_null(void **state)
{
	struct ug_prefix p;
	const char *why = NULL;

	assert_int_equal(ug_prefix_parse(NULL, &p, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(ug_prefix_parse(NULL, &p, NULL), -EINVAL);
	why = NULL;
	assert_int_equal(ug_prefix_parse("10.0.0.0/8", NULL, &why), -EINVAL);
	assert_non_null(why);
}

static void test_prefix_round_trip(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_prefixes); i++) {
		struct ug_prefix a, b;
		char buf[UG_PREFIX_STRLEN], buf2[UG_PREFIX_STRLEN];

		assert_int_equal(ug_prefix_parse(good_prefixes[i].in, &a, NULL), 0);
		assert_int_equal(ug_prefix_format(&a, buf, sizeof(buf)), 0);
		assert_int_equal(ug_prefix_parse(buf, &b, NULL), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(ug_prefix_format(&b, buf2, sizeof(buf2)), 0);
		assert_string_equal(buf, buf2);
	}
}

static void test_prefix_format_errors(void **state)
{
	struct ug_prefix p = pfx("10.0.0.0/8");
	struct ug_prefix longest = pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	char buf[UG_PREFIX_STRLEN];

	/* "10.0.0.0/8" is 10 characters: 11 bytes fit, 10 do not. */
	assert_int_equal(ug_prefix_format(&p, buf, 11), 0);
	assert_string_equal(buf, "10.0.0.0/8");
	assert_int_equal(ug_prefix_format(&p, buf, 10), -ENOSPC);
	assert_int_equal(ug_prefix_format(&p, buf, 0), -ENOSPC);

	/* The longest text must fit in UG_PREFIX_STRLEN. */
	assert_int_equal(ug_prefix_format(&longest, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");

	p.family = 0;
	assert_int_equal(ug_prefix_format(&p, buf, sizeof(buf)), -EINVAL);
	p = pfx("10.0.0.0/8");
	p.len = 33;
	assert_int_equal(ug_prefix_format(&p, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ug_prefix_format(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_prefix_contains(void **state)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "10.0.0.0/8", 1 },
		{ "10.0.0.0/8", "10.1.0.0/16", 1 },
		{ "10.1.0.0/16", "10.0.0.0/8", 0 },
		{ "10.0.0.0/16", "10.0.0.0/8", 0 },
		{ "10.0.0.0/8", "11.0.0.0/8", 0 },
		{ "10.0.0.0/8", "11.0.0.1", 0 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "10.0.0.0/9", "10.127.0.0/16", 1 },
		{ "10.0.0.0/9", "10.128.0.0/16", 0 },
		{ "10.0.0.0/8", "::ffff:10.0.0.1", 0 },
		{ "::/0", "10.0.0.1", 0 },
		{ "::/0", "::ffff:10.0.0.1", 1 },
		{ "2001:db8::/32", "2001:db8:1::/48", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "2001:db8::/33", "2001:db8:8000::1", 0 },
		{ "::1", "::1", 1 },
		{ "::1", "::2", 0 },
	};
	struct ug_prefix p = pfx("10.0.0.0/8"), q = pfx("::/0");

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ug_prefix a = pfx(cases[i].a), b = pfx(cases[i].b);

		if (!!ug_prefix_contains(&a, &b) != cases[i].want)
			fail_msg("contains(%s, %s) != %d", cases[i].a, cases[i].b, cases[i].want);
	}
	assert_false(ug_prefix_contains(NULL, &p));
	assert_false(ug_prefix_contains(&p, NULL));
	/* A corrupt length never claims containment. */
	q.len = 200;
	assert_false(ug_prefix_contains(&q, &q));
}

/* --- names ------------------------------------------------------------------ */

static void test_dir_action_mode(void **state)
{
	assert_int_equal(ug_dir_parse("egress"), UG_DIR_EGRESS);
	assert_int_equal(ug_dir_parse("ingress"), UG_DIR_INGRESS);
	assert_int_equal(ug_dir_parse("bind"), UG_DIR_BIND);
	assert_int_equal(ug_dir_parse("Egress"), -EINVAL);
	assert_int_equal(ug_dir_parse("egress "), -EINVAL);
	assert_int_equal(ug_dir_parse(""), -EINVAL);
	assert_int_equal(ug_dir_parse(NULL), -EINVAL);

	assert_int_equal(ug_action_parse("allow"), UG_ACT_ALLOW);
	assert_int_equal(ug_action_parse("deny"), UG_ACT_DENY);
	assert_int_equal(ug_action_parse("default"), -EINVAL);
	assert_int_equal(ug_action_parse("DENY"), -EINVAL);
	assert_int_equal(ug_action_parse(NULL), -EINVAL);

	assert_int_equal(ug_mode_parse("enforce"), UG_MODE_ENFORCE);
	assert_int_equal(ug_mode_parse("audit"), UG_MODE_AUDIT);
	assert_int_equal(ug_mode_parse("off"), UG_MODE_OFF);
	assert_int_equal(ug_mode_parse("on"), -EINVAL);
	assert_int_equal(ug_mode_parse(NULL), -EINVAL);

	assert_string_equal(ug_dir_name(UG_DIR_EGRESS), "egress");
	assert_string_equal(ug_dir_name(UG_DIR_INGRESS), "ingress");
	assert_string_equal(ug_dir_name(UG_DIR_BIND), "bind");
	assert_string_equal(ug_dir_name(UG_DIR_MAX), "unknown");
	assert_string_equal(ug_dir_name(-1), "unknown");

	assert_string_equal(ug_action_name(UG_ACT_ALLOW), "allow");
	assert_string_equal(ug_action_name(UG_ACT_DENY), "deny");
	/* a verdict, never a rule's action: named, not parsed */
	assert_string_equal(ug_action_name(UG_ACT_AUDIT), "audit");
	assert_true(ug_action_parse("audit") < 0);
	assert_string_equal(ug_action_name(3), "unknown");
	assert_string_equal(ug_action_name(-1), "unknown");

	assert_string_equal(ug_mode_name(UG_MODE_ENFORCE), "enforce");
	assert_string_equal(ug_mode_name(UG_MODE_AUDIT), "audit");
	assert_string_equal(ug_mode_name(UG_MODE_OFF), "off");
	assert_string_equal(ug_mode_name(3), "unknown");

	/* Every name parses back to its value. */
	for (int d = 0; d < UG_DIR_MAX; d++)
		assert_int_equal(ug_dir_parse(ug_dir_name(d)), d);
	for (int m = 0; m <= UG_MODE_OFF; m++)
		assert_int_equal(ug_mode_parse(ug_mode_name(m)), m);
}

static void test_hook_verdict_names(void **state)
{
	static const char *const hooks[] = {
		"none", "connect4", "connect6", "sendmsg4", "sendmsg6",
		"egress_skb", "ingress_skb", "bind4", "bind6",
		"exec", "file_open", "socket_create", "module_load", "bpf", "ptrace", "mount",
		"path_view",
	};

	assert_int_equal(ARRAY_SIZE(hooks), UG_HOOK_MAX);
	for (int h = 0; h < UG_HOOK_MAX; h++)
		assert_string_equal(ug_hook_name(h), hooks[h]);
	assert_string_equal(ug_hook_name(UG_HOOK_CONNECT4), "connect4");
	assert_string_equal(ug_hook_name(UG_HOOK_INGRESS_SKB), "ingress_skb");
	assert_string_equal(ug_hook_name(UG_HOOK_EXEC), "exec");
	assert_string_equal(ug_hook_name(UG_HOOK_FILE_OPEN), "file_open");
	assert_string_equal(ug_hook_name(UG_HOOK_SOCKET_CREATE), "socket_create");
	assert_string_equal(ug_hook_name(UG_HOOK_MODULE_LOAD), "module_load");
	assert_string_equal(ug_hook_name(UG_HOOK_BPF), "bpf");
	assert_string_equal(ug_hook_name(UG_HOOK_PTRACE), "ptrace");
	assert_string_equal(ug_hook_name(UG_HOOK_MOUNT), "mount");
	/* The network directions stay the only ones ug_dir_parse() knows. */
	assert_int_equal(ug_dir_parse("exec"), -EINVAL);
	assert_int_equal(ug_dir_parse("file"), -EINVAL);
	assert_int_equal(ug_dir_parse("family"), -EINVAL);
	assert_string_equal(ug_hook_name(UG_HOOK_MAX), "unknown");
	assert_string_equal(ug_hook_name(-1), "unknown");
	assert_string_equal(ug_hook_name(1000), "unknown");

	assert_string_equal(ug_verdict_name(UG_VERDICT_DENY), "deny");
	assert_string_equal(ug_verdict_name(UG_VERDICT_AUDIT), "audit");
	assert_string_equal(ug_verdict_name(0), "unknown");
	assert_string_equal(ug_verdict_name(3), "unknown");
	assert_string_equal(ug_verdict_name(-5), "unknown");
}

/* --- targets ---------------------------------------------------------------- */

static void test_target_good(void **state)
{
	static const struct {
		const char *in;
		int kind;
	} cases[] = {
		{ "demo.service", UG_TARGET_UNIT },
		{ "web.slice", UG_TARGET_UNIT },
		{ "system-getty.slice", UG_TARGET_UNIT },
		{ "foo@1.service", UG_TARGET_UNIT },
		{ "getty@tty1.service", UG_TARGET_UNIT },
		{ "foo@a.b.service", UG_TARGET_UNIT },
		{ "x.scope", UG_TARGET_UNIT },
		{ "sshd.socket", UG_TARGET_UNIT },
		{ "home.mount", UG_TARGET_UNIT },
		{ "dev-sda2.swap", UG_TARGET_UNIT },
		{ "a.b.service", UG_TARGET_UNIT },
		{ "A_b:c-d.service", UG_TARGET_UNIT },
		{ "dev-disk-by\\x2duuid-1.swap", UG_TARGET_UNIT },
		{ "/system.slice/demo.service", UG_TARGET_PATH },
		{ "/a", UG_TARGET_PATH },
		{ "/user.slice/user-1000.slice/user@1000.service/app.slice", UG_TARGET_PATH },
		{ "/a/.hidden/b", UG_TARGET_PATH },
		{ "/a/.../b", UG_TARGET_PATH },
		{ "/a/~!#$%^&*()", UG_TARGET_PATH },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		int r = ug_target_parse(cases[i].in, &why);

		if (r != cases[i].kind)
			fail_msg("\"%s\" gave %d (%s), want %d", cases[i].in, r, why,
				 cases[i].kind);
	}
}

static void test_target_bad(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
		{ "", "empty" },
		{ "demo", "suffix" },
		{ "demo.target", "unit type" },
		{ "demo.timer", "unit type" },
		{ "demo.path", "unit type" },
		{ "demo.service.bak", "unit type" },
		{ ".service", "empty before" },
		{ "demo.", "unit type" },
		{ "foo@.service", "template" },
		{ "@foo.service", "'@'" },
		{ "foo@1@2.service", "more than one '@'" },
		{ "foo.service@1", "unit type" },
		{ "de mo.service", "invalid character" },
		{ "demo.service\n", "invalid character" },
		{ "dëmo.service", "invalid character" },
		{ "demo/x.service", "invalid character" },
		{ "-.slice", "root" },
		{ "/", "cgroup root" },
		{ "//", "trailing" },
		{ "/a/", "trailing" },
		{ "/a//b", "empty path component" },
		{ "//a", "empty path component" },
		{ "/a/./b", "'.'" },
		{ "/a/../b", "'..'" },
		{ "/..", "'..'" },
		{ "/.", "'.'" },
		{ "/a b", "character" },
		{ "/a\tb", "character" },
		{ "/a\x7f", "character" },
		{ "/a\xc3\xa9", "character" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		int r = ug_target_parse(cases[i].in, &why);

		if (r != -EINVAL)
			fail_msg("\"%s\" gave %d, want -EINVAL", cases[i].in, r);
		assert_non_null(why);
		if (!strstr(why, cases[i].why))
			fail_msg("\"%s\": why \"%s\" lacks \"%s\"", cases[i].in, why, cases[i].why);
		assert_int_equal(ug_target_parse(cases[i].in, NULL), -EINVAL);
	}
	assert_int_equal(ug_target_parse(NULL, NULL), -EINVAL);
}

static void test_target_lengths(void **state)
{
	char unit[300], path[4200];
	const char *why = NULL;

	/* 255 characters: 247 + ".service" is the longest valid unit name. */
	memset(unit, 'a', 247);
	strcpy(unit + 247, ".service");
	assert_int_equal(strlen(unit), 255);
	assert_int_equal(ug_target_parse(unit, NULL), UG_TARGET_UNIT);
	memset(unit, 'a', 248);
	strcpy(unit + 248, ".service");
	assert_int_equal(ug_target_parse(unit, &why), -EINVAL);
	assert_non_null(strstr(why, "too long"));

	/* Path length must stay below 4096. */
	path[0] = '/';
	memset(path + 1, 'a', 4094);
	path[4095] = '\0';
	assert_int_equal(ug_target_parse(path, NULL), UG_TARGET_PATH);
	memset(path + 1, 'a', 4095);
	path[4096] = '\0';
	why = NULL;
	assert_int_equal(ug_target_parse(path, &why), -EINVAL);
	assert_non_null(strstr(why, "too long"));
}

/* --- protocols and ports ---------------------------------------------------- */

static void test_proto_names(void **state)
{
	static const char *const bad[] = {
		"", "any", "TCP", "Udp", "icmpv6", "ipv6-icmp", "tcp ", " tcp", "6", "sctp", "tcp,udp",
	};

	assert_int_equal(ug_proto_parse("tcp"), IPPROTO_TCP);
	assert_int_equal(ug_proto_parse("udp"), IPPROTO_UDP);
	assert_int_equal(ug_proto_parse("icmp"), IPPROTO_ICMP);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (ug_proto_parse(bad[i]) != -EINVAL)
			fail_msg("proto \"%s\" accepted", bad[i]);
	assert_int_equal(ug_proto_parse(NULL), -EINVAL);

	assert_string_equal(ug_proto_name(0), "any");
	assert_string_equal(ug_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(ug_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(ug_proto_name(IPPROTO_ICMP), "icmp");
	assert_string_equal(ug_proto_name(IPPROTO_ICMPV6), "icmpv6");
	assert_string_equal(ug_proto_name(IPPROTO_SCTP), "unknown");
	assert_string_equal(ug_proto_name(-1), "unknown");
	assert_string_equal(ug_proto_name(256 + IPPROTO_TCP), "unknown");

	assert_int_equal(ug_proto_parse(ug_proto_name(IPPROTO_TCP)), IPPROTO_TCP);
	assert_int_equal(ug_proto_parse(ug_proto_name(IPPROTO_UDP)), IPPROTO_UDP);
	assert_int_equal(ug_proto_parse(ug_proto_name(IPPROTO_ICMP)), IPPROTO_ICMP);
}

static void test_ports_parse_good(void **state)
{
	static const struct {
		const char *in;
		uint16_t lo, hi;
	} cases[] = {
		{ "22", 22, 22 },
		{ "1", 1, 1 },
		{ "65535", 65535, 65535 },
		{ "1-65535", 1, 65535 },
		{ "8000-8080", 8000, 8080 },
		{ "22-22", 22, 22 },
		{ "9-10", 9, 10 },
		{ "10000-65535", 10000, 65535 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint16_t lo = 0xabcd, hi = 0xabcd;
		const char *why = NULL;

		if (ug_ports_parse(cases[i].in, &lo, &hi, &why) != 0)
			fail_msg("ports \"%s\" rejected: %s", cases[i].in, why);
		if (lo != cases[i].lo || hi != cases[i].hi)
			fail_msg("ports \"%s\" gave %u-%u, want %u-%u", cases[i].in, lo, hi,
				 cases[i].lo, cases[i].hi);
		assert_int_equal(ug_ports_parse(cases[i].in, &lo, &hi, NULL), 0);
	}
}

static void test_ports_parse_bad(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
		{ "", "empty port" },
		{ "-", "empty port" },
		{ "-22", "empty port" },
		{ "22-", "empty port" },
		{ "0", "port out of range (1-65535)" },
		{ "65536", "port out of range (1-65535)" },
		{ "99999", "port out of range (1-65535)" },
		{ "123456", "port out of range (1-65535)" },
		{ "99999999999999999999", "port out of range (1-65535)" },
		{ "1-65536", "port out of range (1-65535)" },
		{ "0-22", "port out of range (1-65535)" },
		{ "22-21", "port range reversed" },
		{ "65535-1", "port range reversed" },
		{ "00", "leading zero" },
		{ "022", "leading zero" },
		{ "22-023", "leading zero" },
		{ "0001", "leading zero" },
		{ " 22", "plain decimal" },
		{ "22 ", "plain decimal" },
		{ "2 2", "plain decimal" },
		{ "22 - 23", "plain decimal" },
		{ "+22", "plain decimal" },
		{ "22--23", "plain decimal" },
		{ "1-2-3", "plain decimal" },
		{ "0x16", "plain decimal" },
		{ "22,23", "plain decimal" },
		{ "22:23", "plain decimal" },
		{ "ssh", "plain decimal" },
		{ "22\n", "plain decimal" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint16_t lo = 0xabcd, hi = 0xabcd;
		const char *why = NULL;
		int r = ug_ports_parse(cases[i].in, &lo, &hi, &why);

		if (r != -EINVAL)
			fail_msg("ports \"%s\" gave %d, want -EINVAL", cases[i].in, r);
		assert_non_null(why);
		if (!strstr(why, cases[i].why))
			fail_msg("ports \"%s\": why \"%s\" lacks \"%s\"", cases[i].in, why,
				 cases[i].why);
		/* Nothing is written on failure. */
		assert_int_equal(lo, 0xabcd);
		assert_int_equal(hi, 0xabcd);
		assert_int_equal(ug_ports_parse(cases[i].in, &lo, &hi, NULL), -EINVAL);
	}

	{
		uint16_t lo, hi;
		const char *why = NULL;

		assert_int_equal(ug_ports_parse(NULL, &lo, &hi, &why), -EINVAL);
		assert_non_null(why);
		assert_int_equal(ug_ports_parse("22", NULL, &hi, NULL), -EINVAL);
		assert_int_equal(ug_ports_parse("22", &lo, NULL, NULL), -EINVAL);
	}
}

/* --- compile ---------------------------------------------------------------- */

#define TRIE 0x1234
#define DEFAULT (-1) /* no rule matched: the unit's default posture decides */

static int key_order(const struct ug_lpm_key *a, const struct ug_lpm_key *b)
{
	if (a->trie != b->trie)
		return a->trie < b->trie ? -1 : 1;
	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->addr, b->addr, 16);
}

/* Compile and require success and a well-formed result; the caller frees. */
static struct ug_lpm_entry *compile_ok(const struct ug_rule *r, size_t n, size_t *n_out)
{
	static const struct ug_match zero;
	struct ug_lpm_entry *out = NULL;
	char err[256] = "";
	int ret = ug_compile(r, n, TRIE, &out, n_out, err, sizeof(err));

	if (ret != 0)
		fail_msg("compile failed: %d (%s)", ret, err);
	assert_non_null(out);
	assert_string_equal(err, "");
	for (size_t i = 0; i < *n_out; i++) {
		const struct ug_lpm_entry *e = &out[i];

		assert_int_equal(e->key.trie, TRIE);
		assert_int_equal(e->key.pad, 0);
		assert_true(e->key.prefixlen >= UG_LPM_HDR_BITS);
		assert_true(e->key.prefixlen <= UG_LPM_HDR_BITS + 128);
		assert_true(e->key.dir < UG_DIR_MAX);
		assert_int_equal(e->val.pad, 0);
		assert_true(e->val.n <= UG_MATCHES_MAX);
		for (size_t j = 0; j < e->val.n; j++) {
			const struct ug_match *m = &e->val.m[j];

			assert_int_equal(m->pad, 0);
			assert_true(m->rule_id > 0);
			assert_true(m->action == UG_ACT_ALLOW || m->action == UG_ACT_DENY);
			assert_true(m->flags == 0 || m->flags == UG_MATCH_PORTS);
			if (m->flags) {
				assert_true(m->port_lo >= 1 && m->port_lo <= m->port_hi);
			} else {
				assert_int_equal(m->port_lo, 0);
				assert_int_equal(m->port_hi, 0);
			}
		}
		/* Unused slots are zero, so whole values compare with memcmp(). */
		for (size_t j = e->val.n; j < UG_MATCHES_MAX; j++)
			assert_memory_equal(&e->val.m[j], &zero, sizeof(zero));
		/* Strictly sorted: sorted and no key twice. */
		if (i)
			assert_true(key_order(&out[i - 1].key, &e->key) < 0);
	}
	return out;
}

/* The key the compiler must write for a prefix text (IPv4: v4-mapped). */
static struct ug_lpm_key key_of(int dir, const char *prefix)
{
	struct ug_prefix p = pfx(prefix);
	struct ug_lpm_key k;

	memset(&k, 0, sizeof(k));
	k.trie = TRIE;
	k.dir = (uint8_t)dir;
	if (p.family == AF_INET) {
		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		memcpy(k.addr + 12, p.addr, 4);
		k.prefixlen = UG_LPM_HDR_BITS + 96 + p.len;
	} else {
		memcpy(k.addr, p.addr, 16);
		k.prefixlen = UG_LPM_HDR_BITS + p.len;
	}
	return k;
}

static const struct ug_lpm_entry *find(const struct ug_lpm_entry *e, size_t n, int dir,
				       const char *prefix)
{
	struct ug_lpm_key k = key_of(dir, prefix);

	for (size_t i = 0; i < n; i++)
		if (!memcmp(&e[i].key, &k, sizeof(k)))
			return &e[i];
	fail_msg("no entry for %s (%s)", prefix, ug_dir_name(dir));
	return NULL;
}

static void expect_ids(const struct ug_lpm_entry *e, const uint32_t *ids, size_t n)
{
	bool ok = e->val.n == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = e->val.m[i].rule_id == ids[i];
	if (!ok) {
		char got[256] = "", want[256] = "";
		size_t g = 0, w = 0;

		for (size_t i = 0; i < e->val.n && i < UG_MATCHES_MAX; i++)
			g += (size_t)snprintf(got + g, sizeof(got) - g, " %u", e->val.m[i].rule_id);
		for (size_t i = 0; i < n; i++)
			w += (size_t)snprintf(want + w, sizeof(want) - w, " %u", ids[i]);
		fail_msg("entry /%u: rule ids [%s ] want [%s ]",
			 e->key.prefixlen - UG_LPM_HDR_BITS, got, want);
	}
}

#define EXPECT_IDS(e, ...)                                 \
	expect_ids((e), (const uint32_t[]){ __VA_ARGS__ }, \
		   ARRAY_SIZE(((const uint32_t[]){ __VA_ARGS__ })))

/* lo < 0: no ports. */
static void expect_match(const struct ug_match *m, uint32_t id, int action, int proto, int lo,
			 int hi)
{
	assert_int_equal(m->rule_id, id);
	assert_int_equal(m->action, action);
	assert_int_equal(m->proto, proto);
	if (lo < 0) {
		assert_int_equal(m->flags, 0);
		assert_int_equal(m->port_lo, 0);
		assert_int_equal(m->port_hi, 0);
	} else {
		assert_int_equal(m->flags, UG_MATCH_PORTS);
		assert_int_equal(m->port_lo, lo);
		assert_int_equal(m->port_hi, hi);
	}
	assert_int_equal(m->pad, 0);
}

/* An address text as the kernel looks it up: IPv4 v4-mapped. */
static void lookup_addr(const char *s, uint8_t out[16])
{
	if (strchr(s, ':'))
		v6(s, out);
	else
		mapped(s, out);
}

static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	for (unsigned int i = 0; i < bits; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return false;
	return true;
}

/*
 * Reference matcher, as the kernel decides: one longest-prefix lookup over the entries, then
 * the first rule of that entry's list that matches. Returns the action or DEFAULT.
 */
static int decide(const struct ug_lpm_entry *e, size_t n, int dir, const char *addr, int proto,
		  int port, uint32_t *id)
{
	const struct ug_lpm_entry *best = NULL;
	bool has_port = proto == IPPROTO_TCP || proto == IPPROTO_UDP;
	uint8_t a[16];

	lookup_addr(addr, a);
	*id = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].key.trie != TRIE || e[i].key.dir != dir ||
		    !bits_match(e[i].key.addr, a, e[i].key.prefixlen - UG_LPM_HDR_BITS))
			continue;
		if (!best || e[i].key.prefixlen > best->key.prefixlen)
			best = &e[i];
	}
	if (!best)
		return DEFAULT;
	for (uint32_t i = 0; i < best->val.n; i++) {
		const struct ug_match *m = &best->val.m[i];

		if (m->proto && m->proto != proto)
			continue;
		if ((m->flags & UG_MATCH_PORTS) &&
		    (!has_port || port < m->port_lo || port > m->port_hi))
			continue;
		*id = m->rule_id;
		return m->action;
	}
	return DEFAULT;
}

static void test_compile_empty(void **state)
{
	struct ug_lpm_entry *out = (struct ug_lpm_entry *)1;
	char err[64] = "junk";
	size_t n = 99;

	assert_int_equal(ug_compile(NULL, 0, 0, &out, &n, err, sizeof(err)), 0);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_string_equal(err, "");
	out = (struct ug_lpm_entry *)1;
	n = 99;
	assert_int_equal(ug_compile(NULL, 0, 0, &out, &n, NULL, 0), 0);
	assert_null(out);
	assert_int_equal(n, 0);
}

/* The example in policy.h: "deny 10.0.0.0/8 port 22" with "allow 10.1.0.0/16". */
static void test_compile_issue_example(void **state)
{
	const struct ug_rule r[] = {
		rulep(1, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", 0, "22"),
		rule(2, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.1.0.0/16"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	/* Sorted: the /8 first. */
	assert_ptr_equal(find(e, n, UG_DIR_EGRESS, "10.0.0.0/8"), &e[0]);
	assert_int_equal(e[0].val.n, 1);
	expect_match(&e[0].val.m[0], 1, UG_ACT_DENY, 0, 22, 22);
	/* The /16's allow matches everything: the /8's deny can never be reached from it. */
	assert_ptr_equal(find(e, n, UG_DIR_EGRESS, "10.1.0.0/16"), &e[1]);
	assert_int_equal(e[1].val.n, 1);
	expect_match(&e[1].val.m[0], 2, UG_ACT_ALLOW, 0, -1, -1);
	free(e);
}

static void test_compile_longest_prefix(void **state)
{
	const struct ug_rule r[] = {
		rule(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.1.2.3/32"),
		rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
	};
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS + 96 + 8);
	assert_int_equal(e[0].key.dir, UG_DIR_EGRESS);
	mapped("10.0.0.0", a);
	assert_memory_equal(e[0].key.addr, a, 16);
	assert_int_equal(e[0].val.n, 1);
	expect_match(&e[0].val.m[0], 1, UG_ACT_ALLOW, 0, -1, -1);

	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 128);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	mapped("10.1.2.3", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	/* Its own catch-all ends the list before the /8's. */
	assert_int_equal(e[1].val.n, 1);
	expect_match(&e[1].val.m[0], 2, UG_ACT_DENY, 0, -1, -1);
	free(e);
}

static void test_compile_v4_mapped_bytes(void **state)
{
	const struct ug_rule r[] = {
		rulep(9, UG_DIR_INGRESS, UG_ACT_DENY, 0, "192.168.1.0/24", IPPROTO_TCP, "8000-8080"),
	};
	const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 0 };
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, 1, &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, 32 + 96 + 24);
	assert_int_equal(e[0].key.dir, UG_DIR_INGRESS);
	assert_memory_equal(e[0].key.addr, want, 16);
	assert_int_equal(e[0].val.n, 1);
	expect_match(&e[0].val.m[0], 9, UG_ACT_DENY, IPPROTO_TCP, 8000, 8080);
	free(e);
}

static void test_compile_ipv6_plain(void **state)
{
	const struct ug_rule r[] = {
		rulep(4, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "2001:db8::/32", IPPROTO_UDP, "53"),
	};
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, 1, &n);

	/* 2000::/3 territory does not cover ::ffff:0:0/96: no guard. */
	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS + 32);
	v6("2001:db8::", a);
	assert_memory_equal(e[0].key.addr, a, 16);
	assert_int_equal(e[0].val.n, 1);
	expect_match(&e[0].val.m[0], 4, UG_ACT_ALLOW, IPPROTO_UDP, 53, 53);
	free(e);
}

static void test_compile_inheritance(void **state)
{
	const struct ug_rule r[] = {
		rulep(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_TCP, "80"),
		rule(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8"),
		rule(3, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "0.0.0.0/0"),
		rulep(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.1.0.0/16", IPPROTO_UDP, NULL),
		rulep(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.1.2.0/24", IPPROTO_TCP, "22"),
		rulep(6, UG_DIR_EGRESS, UG_ACT_DENY, 0, "192.168.0.0/16", IPPROTO_TCP, NULL),
		rulep(7, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.2.0.0/16", IPPROTO_UDP, NULL),
		/* Another direction never contributes. */
		rulep(8, UG_DIR_INGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_UDP, NULL),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 7);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "0.0.0.0/0"), 3);
	/* The /8's catch-all (2) stops the list: the /0 cannot decide below it. */
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "10.0.0.0/8"), 1, 2);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "10.1.0.0/16"), 4, 1, 2);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "10.1.2.0/24"), 5, 4, 1, 2);
	/* A sibling /16 does not see 10.1.0.0/16's rule. */
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "10.2.0.0/16"), 7, 1, 2);
	/* No catch-all of its own or in between: reaches the /0. */
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "192.168.0.0/16"), 6, 3);
	EXPECT_IDS(find(e, n, UG_DIR_INGRESS, "10.0.0.0/8"), 8);

	/* Inherited entries are copied whole. */
	expect_match(&find(e, n, UG_DIR_EGRESS, "10.1.2.0/24")->val.m[2], 1, UG_ACT_ALLOW,
		     IPPROTO_TCP, 80, 80);
	free(e);
}

static void test_compile_inheritance_ipv6(void **state)
{
	const struct ug_rule r[] = {
		rule(10, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::/0"),
		rulep(11, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "2001:db8::/32", IPPROTO_TCP, NULL),
		rulep(12, UG_DIR_EGRESS, UG_ACT_DENY, 0, "2001:db8:1::/48", IPPROTO_TCP, "22"),
		rule(13, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	/* ::/0, the guard, 10.0.0.0/8, 2001:db8::/32, 2001:db8:1::/48. */
	assert_int_equal(n, 5);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "::/0"), 10);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "2001:db8::/32"), 11, 10);
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "2001:db8:1::/48"), 12, 11, 10);
	/* IPv4 entries never inherit IPv6 rules, ::/0 included. */
	EXPECT_IDS(find(e, n, UG_DIR_EGRESS, "10.0.0.0/8"), 13);
	assert_int_equal(find(e, n, UG_DIR_EGRESS, "0.0.0.0/0")->val.n, 0);
	free(e);
}

static void test_compile_specificity_order(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rulep(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_TCP, NULL),
		rulep(3, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_UDP, NULL),
		rulep(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", 0, "1-1024"),
		rulep(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_TCP, "22"),
		rulep(6, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_TCP, "20-30"),
		rulep(7, UG_DIR_EGRESS, UG_ACT_ALLOW, 1, "10.0.0.0/8", IPPROTO_UDP, "53"),
		rulep(9, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", 0, "443"),
		rulep(12, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_TCP, "8080"),
		rulep(20, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_TCP, "25"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	/*
	 * Single ports (width 0) first: with a protocol (deny 12, then the allows by depth,
	 * then id: 5, 20, 7), then any protocol (9); then 20-30 (6), 1-1024 (4); then no ports:
	 * with a protocol (deny 2, allow 3), then the catch-all (1).
	 */
	EXPECT_IDS(&e[0], 12, 5, 20, 7, 9, 6, 4, 2, 3, 1);
	expect_match(&e[0].val.m[0], 12, UG_ACT_DENY, IPPROTO_TCP, 8080, 8080);
	expect_match(&e[0].val.m[4], 9, UG_ACT_DENY, 0, 443, 443);
	expect_match(&e[0].val.m[5], 6, UG_ACT_DENY, IPPROTO_TCP, 20, 30);
	expect_match(&e[0].val.m[6], 4, UG_ACT_DENY, 0, 1, 1024);
	expect_match(&e[0].val.m[7], 2, UG_ACT_DENY, IPPROTO_TCP, -1, -1);
	expect_match(&e[0].val.m[9], 1, UG_ACT_ALLOW, 0, -1, -1);
	free(e);
}

static void test_compile_dedup_depth(void **state)
{
	/* The slice (depth 1) denies with the lower id; the unit's own allow must still win. */
	const struct ug_rule r[] = {
		rule(1, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(2, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(3, UG_DIR_EGRESS, UG_ACT_DENY, 2, "10.0.0.0/8"),
		/* Identical qualifier: the unit's allow replaces the slice's deny. */
		rulep(4, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8", IPPROTO_TCP, "22"),
		rulep(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_TCP, "22"),
		/* Same ports, another protocol: a different rule, kept. */
		rulep(6, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8", IPPROTO_UDP, "22"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	EXPECT_IDS(&e[0], 6, 5, 2);
	free(e);
}

static void test_compile_slice_port_beside_unit_catch_all(void **state)
{
	const struct ug_rule r[] = {
		rule(2, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rulep(4, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8", IPPROTO_TCP, "22"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	/* The unit's catch-all does not erase the slice's narrower rule; that rule goes first. */
	assert_int_equal(n, 1);
	assert_int_equal(e[0].val.n, 2);
	expect_match(&e[0].val.m[0], 4, UG_ACT_DENY, IPPROTO_TCP, 22, 22);
	expect_match(&e[0].val.m[1], 2, UG_ACT_ALLOW, 0, -1, -1);
	free(e);
}

static void test_compile_dedup_deny_then_id(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_BIND, UG_ACT_ALLOW, 1, "10.0.0.0/8"),
		rule(7, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(5, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(6, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rulep(9, UG_DIR_BIND, UG_ACT_ALLOW, 0, "10.0.0.0/8", 0, "80"),
		rulep(8, UG_DIR_BIND, UG_ACT_ALLOW, 0, "10.0.0.0/8", 0, "80"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.dir, UG_DIR_BIND);
	EXPECT_IDS(&e[0], 8, 5);
	assert_int_equal(e[0].val.m[1].action, UG_ACT_DENY);
	free(e);
}

static void test_compile_same_key_lowest_id(void **state)
{
	/* An IPv4 rule and its v4-mapped IPv6 spelling land on the same key. */
	const struct ug_rule r[] = {
		rule(8, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(3, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "::ffff:10.0.0.0/104"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS + 104);
	EXPECT_IDS(&e[0], 3);
	free(e);
}

static void test_compile_ports_ignored_without_flag(void **state)
{
	/* Port fields of a rule without has_ports mean nothing and must not leak out. */
	struct ug_rule r[] = {
		rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(2, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8"),
	};
	size_t n;
	struct ug_lpm_entry *e;

	r[0].port_lo = 30;
	r[0].port_hi = 20;
	r[1].port_lo = 22;
	r[1].port_hi = 22;
	e = compile_ok(r, ARRAY_SIZE(r), &n);
	/* Both are the same catch-all: the unit's wins. */
	assert_int_equal(n, 1);
	assert_int_equal(e[0].val.n, 1);
	expect_match(&e[0].val.m[0], 1, UG_ACT_ALLOW, 0, -1, -1);
	free(e);
}

static void test_compile_icmp(void **state)
{
	const struct ug_rule r[] = {
		rulep(1, UG_DIR_INGRESS, UG_ACT_ALLOW, 0, "2001:db8::/32", IPPROTO_ICMP, NULL),
		rulep(2, UG_DIR_INGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_ICMP, NULL),
		/* Identical after the mapping: one survives. */
		rulep(3, UG_DIR_INGRESS, UG_ACT_DENY, 1, "2001:db8::/32", IPPROTO_ICMP, NULL),
		rule(4, UG_DIR_INGRESS, UG_ACT_DENY, 0, "2001:db8::/32"),
	};
	const struct ug_lpm_entry *v6e, *v4e;
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	v6e = find(e, n, UG_DIR_INGRESS, "2001:db8::/32");
	assert_int_equal(v6e->val.n, 2);
	expect_match(&v6e->val.m[0], 1, UG_ACT_ALLOW, IPPROTO_ICMPV6, -1, -1);
	expect_match(&v6e->val.m[1], 4, UG_ACT_DENY, 0, -1, -1);
	assert_string_equal(ug_proto_name(v6e->val.m[0].proto), "icmpv6");
	v4e = find(e, n, UG_DIR_INGRESS, "10.0.0.0/8");
	assert_int_equal(v4e->val.n, 1);
	expect_match(&v4e->val.m[0], 2, UG_ACT_DENY, IPPROTO_ICMP, -1, -1);
	free(e);
}

/*
 * Found by fuzzing (fuzz_compile): an ICMP rule spelled as v4-mapped IPv6 lands on the key
 * of its IPv4 spelling, where the kernel sees IPv4 packets, but was written as ICMPv6 and
 * so could never match. It is ICMP there, the same rule as its IPv4 spelling.
 */
static void test_compile_icmp_v4_mapped(void **state)
{
	const struct ug_rule r[] = {
		rulep(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "::ffff:10.0.0.0/104", IPPROTO_ICMP, NULL),
		rulep(6, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", IPPROTO_ICMP, NULL),
		rulep(7, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::ffff:0:0/96", IPPROTO_ICMP, NULL),
		rulep(8, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::/0", IPPROTO_ICMP, NULL),
	};
	const struct ug_lpm_entry *x;
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	/* One rule after the mapping: the lower id survives. */
	x = find(e, n, UG_DIR_EGRESS, "10.0.0.0/8");
	assert_int_equal(x->val.n, 2);
	expect_match(&x->val.m[0], 5, UG_ACT_ALLOW, IPPROTO_ICMP, -1, -1);
	expect_match(&x->val.m[1], 7, UG_ACT_DENY, IPPROTO_ICMP, -1, -1);
	/* Outside the mapped range, IPv6 traffic: ICMPv6. */
	x = find(e, n, UG_DIR_EGRESS, "::/0");
	assert_int_equal(x->val.n, 1);
	expect_match(&x->val.m[0], 8, UG_ACT_DENY, IPPROTO_ICMPV6, -1, -1);
	free(e);
}

static void test_compile_dirs_separate(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(2, UG_DIR_INGRESS, UG_ACT_DENY, 0, "10.0.0.0/8"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	assert_int_equal(e[0].key.dir, UG_DIR_EGRESS);
	EXPECT_IDS(&e[0], 1);
	assert_int_equal(e[1].key.dir, UG_DIR_INGRESS);
	EXPECT_IDS(&e[1], 2);
	free(e);
}

static void test_compile_e2big(void **state)
{
	struct ug_rule r[20];
	struct ug_lpm_entry *out;
	char err[256], ports[8];
	size_t n;

	for (int i = 0; i < 17; i++) {
		snprintf(ports, sizeof(ports), "%d", 100 + i);
		r[i] = rulep(i + 1, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_TCP, ports);
	}

	/* Sixteen fit. */
	out = compile_ok(r, 16, &n);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].val.n, 16);
	free(out);

	out = (struct ug_lpm_entry *)1;
	n = 99;
	assert_int_equal(ug_compile(r, 17, TRIE, &out, &n, err, sizeof(err)), -E2BIG);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_string_equal(err, "10.0.0.0/8 (egress): 17 rules overlap, at most 16");
	assert_int_equal(ug_compile(r, 17, TRIE, &out, &n, NULL, 0), -E2BIG);
	/* A short buffer still gets a terminated string. */
	assert_int_equal(ug_compile(r, 17, TRIE, &out, &n, err, 5), -E2BIG);
	assert_string_equal(err, "10.0");

	/* Inherited rules count, up to and including the first catch-all. */
	r[15] = rule(16, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8");
	r[16] = rule(17, UG_DIR_EGRESS, UG_ACT_DENY, 0, "0.0.0.0/0");
	out = compile_ok(r, 17, &n);
	assert_int_equal(n, 2);
	assert_int_equal(find(out, n, UG_DIR_EGRESS, "10.0.0.0/8")->val.n, 16);
	free(out);
	r[17] = rulep(18, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.1.0.0/16", IPPROTO_UDP, NULL);
	assert_int_equal(ug_compile(r, 18, TRIE, &out, &n, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "10.1.0.0/16 (egress): 17 rules overlap, at most 16");
	/* A catch-all of its own keeps the /16 short. */
	r[17] = rule(18, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.1.0.0/16");
	out = compile_ok(r, 18, &n);
	EXPECT_IDS(find(out, n, UG_DIR_EGRESS, "10.1.0.0/16"), 18);
	free(out);

	/* IPv6 prefixes are named as IPv6. */
	for (int i = 0; i < 17; i++) {
		snprintf(ports, sizeof(ports), "%d", 100 + i);
		r[i] = rulep(i + 1, UG_DIR_INGRESS, UG_ACT_ALLOW, 0, "2001:db8::/32", 0, ports);
	}
	assert_int_equal(ug_compile(r, 17, TRIE, &out, &n, err, sizeof(err)), -E2BIG);
	assert_string_equal(err, "2001:db8::/32 (ingress): 17 rules overlap, at most 16");
}

static void test_compile_guard_present(void **state)
{
	const struct ug_rule r[] = { rule(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::/0") };
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, 1, &n);

	assert_int_equal(n, 2);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS);
	memset(a, 0, 16);
	assert_memory_equal(e[0].key.addr, a, 16);
	EXPECT_IDS(&e[0], 4);
	assert_int_equal(e[0].val.m[0].action, UG_ACT_DENY);

	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	mapped("0.0.0.0", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	assert_int_equal(e[1].val.n, 0);
	free(e);
}

static void test_compile_guard_partial_cover(void **state)
{
	/* ::/1 and ::fffe:0:0/95 also cover the mapped range; 8000::/1 does not. */
	static const struct {
		const char *prefix;
		int guard;
	} cases[] = {
		{ "::/0", 1 },
		{ "::/1", 1 },
		{ "::/80", 1 },
		{ "::fffe:0:0/95", 1 },
		{ "8000::/1", 0 },
		{ "::/81", 0 },
		{ "::ffff:0:0/96", 0 },  /* an explicit rule at the mapped /96 itself */
		{ "::ffff:10.0.0.0/104", 0 },
		{ "::ffff:0.0.0.0", 0 },
		{ "0.0.0.0/32", 0 },
		{ "::1", 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct ug_rule r[] = {
			rule(1, UG_DIR_INGRESS, UG_ACT_ALLOW, 0, cases[i].prefix),
		};
		size_t n, guards = 0;
		struct ug_lpm_entry *e = compile_ok(r, 1, &n);

		for (size_t j = 0; j < n; j++)
			if (e[j].val.n == 0) {
				guards++;
				assert_int_equal(e[j].key.prefixlen, UG_LPM_HDR_BITS + 96);
				assert_int_equal(e[j].key.dir, UG_DIR_INGRESS);
			}
		if (guards != (size_t)cases[i].guard || n != 1 + guards)
			fail_msg("%s: %zu entries, %zu guards, want guard=%d", cases[i].prefix, n,
				 guards, cases[i].guard);
		free(e);
	}
}

static void test_compile_guard_absent(void **state)
{
	const struct ug_rule r[] = {
		rule(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::/0"),
		rulep(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 1, "0.0.0.0/0", IPPROTO_TCP, NULL),
	};
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS);
	EXPECT_IDS(&e[0], 4);
	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	mapped("0.0.0.0", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	/* No catch-all at the IPv4 /0, and still the IPv6 ::/0 deny is not inherited. */
	assert_int_equal(e[1].val.n, 1);
	expect_match(&e[1].val.m[0], 5, UG_ACT_ALLOW, IPPROTO_TCP, -1, -1);
	free(e);
}

static void test_compile_guard_per_dir(void **state)
{
	/* The IPv4 /0 in ingress does not stop the egress ::/0 from reaching IPv4. */
	const struct ug_rule r[] = {
		rule(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "::/0"),
		rule(5, UG_DIR_INGRESS, UG_ACT_ALLOW, 0, "0.0.0.0/0"),
		rule(6, UG_DIR_INGRESS, UG_ACT_DENY, 0, "::/0"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 4);
	assert_int_equal(e[0].key.dir, UG_DIR_EGRESS);
	EXPECT_IDS(&e[0], 4);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	assert_int_equal(e[1].val.n, 0);
	assert_int_equal(e[2].key.dir, UG_DIR_INGRESS);
	EXPECT_IDS(&e[2], 6);
	assert_int_equal(e[3].key.dir, UG_DIR_INGRESS);
	assert_int_equal(e[3].key.prefixlen, UG_LPM_HDR_BITS + 96);
	EXPECT_IDS(&e[3], 5);
	assert_int_equal(e[3].val.m[0].action, UG_ACT_ALLOW);
	free(e);
}

static void test_compile_sorted(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_BIND, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "192.168.0.0/16"),
		rulep(3, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/16", IPPROTO_TCP, "443"),
		rule(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "2001:db8::/32"),
		rule(5, UG_DIR_INGRESS, UG_ACT_DENY, 0, "10.0.0.1"),
		rule(6, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8"),
		rulep(7, UG_DIR_EGRESS, UG_ACT_DENY, 2, "10.0.0.0/8", IPPROTO_UDP, "53"),
		rulep(8, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8", 0, "53"),
	};
	/* dir, then prefixlen, then address bytes; first rule of each list. */
	static const uint32_t want_ids[] = { 4, 7, 3, 2, 5, 1 };
	struct ug_rule rev[ARRAY_SIZE(r)];
	struct ug_lpm_entry *e, *e2;
	size_t n, n2;

	e = compile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, ARRAY_SIZE(want_ids));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(e[i].val.m[0].rule_id, want_ids[i]);
	EXPECT_IDS(&e[1], 7, 8, 6);
	EXPECT_IDS(&e[2], 3, 7, 8, 6);

	/* Input order must not matter, down to the last byte. */
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		rev[i] = r[ARRAY_SIZE(r) - 1 - i];
	e2 = compile_ok(rev, ARRAY_SIZE(rev), &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(e, e2, n * sizeof(*e));
	free(e);
	free(e2);
}

static void test_compile_id_bounds(void **state)
{
	struct ug_rule r = rule(UINT32_MAX, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8");
	size_t n;
	struct ug_lpm_entry *e = compile_ok(&r, 1, &n);

	assert_int_equal(n, 1);
	EXPECT_IDS(&e[0], UINT32_MAX);
	free(e);
}

static void test_compile_invalid(void **state)
{
	static const struct {
		const char *err;
	} cases[] = {
		{ "rule 0: id out of range" },
		{ "rule -1: id out of range" },
		{ "rule 4294967296: id out of range" },
		{ "rule 2: unknown direction" },
		{ "rule 2: unknown action" },
		{ "rule 2: unknown action" },
		{ "rule 2: protocol must be any, tcp, udp or icmp" },
		{ "rule 2: protocol must be any, tcp, udp or icmp" },
		{ "rule 2: ports need protocol tcp, udp or any" },
		{ "rule 2: port out of range (1-65535)" },
		{ "rule 2: port range reversed" },
		{ "rule 2: unknown address family" },
		{ "rule 2: prefix length out of range" },
		{ "rule 2: prefix length out of range" },
		{ "rule 2: host bits set" },
		{ "rule 2: host bits set" },
		{ "rule 2: ports need protocol tcp, udp or any" },
	};
	const struct ug_rule good = rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8");
	struct ug_lpm_entry *out = NULL;
	char err[256];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		/* The bad rule after a good one: nothing half-done leaks out. */
		struct ug_rule pair[2] = { good, good };
		struct ug_rule *b = &pair[1];

		b->id = 2;
		switch (i) {
		case 0: b->id = 0; break;
		case 1: b->id = -1; break;
		case 2: b->id = (int64_t)UINT32_MAX + 1; break;
		case 3: b->dir = UG_DIR_MAX; break;
		case 4: b->action = 2; break;
		case 5: b->action = 0xff; break;
		case 6: b->proto = IPPROTO_ICMPV6; break;
		case 7: b->proto = IPPROTO_SCTP; break;
		case 8: *b = rulep(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_ICMP,
				   "22"); break;
		case 9: *b = rulep(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", 0, "22");
			b->port_lo = 0; b->port_hi = 0; break;
		case 10: *b = rulep(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8", IPPROTO_TCP,
				    "22"); b->port_lo = 23; break;
		case 11: b->prefix.family = 0; break;
		case 12: b->prefix.len = 33; break;
		case 13: b->prefix = pfx("::/0"); b->prefix.len = 129; break;
		case 14: b->prefix.addr[3] = 1; break;
		case 15: b->prefix = pfx("::/0"); b->prefix.addr[15] = 1; break;
		case 16: *b = rulep(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "2001:db8::/32",
				    IPPROTO_ICMP, "1-10"); break;
		}
		out = (struct ug_lpm_entry *)1;
		n = 99;
		memset(err, 'x', sizeof(err));
		if (ug_compile(pair, 2, 0, &out, &n, err, sizeof(err)) != -EINVAL)
			fail_msg("bad rule %zu accepted", i);
		assert_null(out);
		assert_int_equal(n, 0);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) || strchr(err, '\n'))
			fail_msg("bad rule %zu: err \"%s\", want \"%s...\"", i, err, cases[i].err);
		/* Callers may not care why. */
		assert_int_equal(ug_compile(pair, 2, 0, &out, &n, NULL, 0), -EINVAL);
		assert_int_equal(ug_compile(pair, 2, 0, &out, &n, err, 0), -EINVAL);
	}

	assert_int_equal(ug_compile(NULL, 1, 0, &out, &n, NULL, 0), -EINVAL);
	assert_int_equal(ug_compile(&good, 1, 0, NULL, &n, NULL, 0), -EINVAL);
	assert_int_equal(ug_compile(&good, 1, 0, &out, NULL, NULL, 0), -EINVAL);
}

/* --- decisions -------------------------------------------------------------- */

struct rspec {
	int64_t id;
	int dir, action, depth;
	const char *prefix;
	int proto;
	const char *ports;
};

struct pspec {
	int dir;
	const char *addr;
	int proto, port;
	int action; /* or DEFAULT */
	uint32_t id;
};

#define E UG_DIR_EGRESS
#define I UG_DIR_INGRESS
#define B UG_DIR_BIND
#define ALLOW UG_ACT_ALLOW
#define DENY UG_ACT_DENY
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define ICMP IPPROTO_ICMP
#define ICMP6 IPPROTO_ICMPV6

static const struct scenario {
	const char *name;
	struct rspec r[10]; /* up to id 0 */
	struct pspec p[16]; /* up to addr NULL */
} scenarios[] = {
	{ "policy.h example",
	  { { 1, E, DENY, 0, "10.0.0.0/8", 0, "22" }, { 2, E, ALLOW, 0, "10.1.0.0/16", 0, NULL } },
	  { { E, "10.1.2.3", TCP, 22, ALLOW, 2 },
	    { E, "10.2.0.1", TCP, 22, DENY, 1 },
	    { E, "10.2.0.1", UDP, 22, DENY, 1 },
	    { E, "10.2.0.1", TCP, 80, DEFAULT, 0 },
	    { E, "10.2.0.1", ICMP, 0, DEFAULT, 0 },
	    { E, "10.1.2.3", ICMP, 0, ALLOW, 2 },
	    { E, "11.0.0.1", TCP, 22, DEFAULT, 0 },
	    { I, "10.2.0.1", TCP, 22, DEFAULT, 0 } } },
	{ "unit refines slice",
	  { { 3, E, DENY, 1, "10.0.0.0/8", TCP, "22" },
	    { 4, E, ALLOW, 0, "10.0.0.0/8", 0, NULL },
	    { 5, E, DENY, 1, "10.0.0.0/8", 0, NULL },
	    { 6, E, DENY, 1, "10.0.0.0/8", UDP, "53" },
	    { 7, E, ALLOW, 0, "10.0.0.0/8", UDP, "53" } },
	  { { E, "10.0.0.1", TCP, 22, DENY, 3 },
	    { E, "10.0.0.1", UDP, 22, ALLOW, 4 },
	    { E, "10.0.0.1", TCP, 80, ALLOW, 4 },
	    { E, "10.0.0.1", UDP, 53, ALLOW, 7 },
	    { E, "11.0.0.1", TCP, 80, DEFAULT, 0 } } },
	{ "IPv6 never decides IPv4",
	  { { 1, E, DENY, 0, "::/0", 0, NULL }, { 2, E, ALLOW, 0, "10.0.0.0/8", 0, NULL } },
	  { { E, "10.0.0.1", TCP, 80, ALLOW, 2 },
	    { E, "11.0.0.1", TCP, 80, DEFAULT, 0 },
	    { E, "0.0.0.0", UDP, 53, DEFAULT, 0 },
	    { E, "2001:db8::1", TCP, 80, DENY, 1 },
	    { E, "::1", TCP, 80, DENY, 1 },
	    { E, "::fffe:0:1", TCP, 80, DENY, 1 } } },
	{ "ICMP both families",
	  { { 1, I, ALLOW, 0, "2001:db8::/32", ICMP, NULL },
	    { 2, I, DENY, 0, "10.0.0.0/8", ICMP, NULL },
	    { 3, I, DENY, 0, "::/0", 0, NULL },
	    { 4, I, ALLOW, 0, "0.0.0.0/0", 0, NULL } },
	  { { I, "2001:db8::1", ICMP6, 0, ALLOW, 1 },
	    { I, "2001:db8::1", TCP, 22, DENY, 3 },
	    { I, "2001:db9::1", ICMP6, 0, DENY, 3 },
	    { I, "10.0.0.1", ICMP, 0, DENY, 2 },
	    { I, "10.0.0.1", TCP, 22, ALLOW, 4 },
	    { I, "11.0.0.1", ICMP, 0, ALLOW, 4 } } },
	{ "specificity on one prefix",
	  { { 1, B, DENY, 0, "10.0.0.0/8", TCP, NULL },
	    { 2, B, ALLOW, 0, "10.0.0.0/8", TCP, "443" },
	    { 3, B, ALLOW, 0, "10.0.0.0/8", 0, NULL },
	    { 4, B, DENY, 0, "10.0.0.0/8", UDP, "1-1024" },
	    { 5, B, ALLOW, 0, "10.0.0.0/8", 0, "1000-1100" } },
	  { { B, "10.0.0.1", TCP, 443, ALLOW, 2 },
	    { B, "10.0.0.1", TCP, 80, DENY, 1 },
	    { B, "10.0.0.1", TCP, 1050, ALLOW, 5 },
	    { B, "10.0.0.1", UDP, 53, DENY, 4 },
	    /* The narrower range goes first, even without a protocol. */
	    { B, "10.0.0.1", UDP, 1010, ALLOW, 5 },
	    { B, "10.0.0.1", UDP, 1050, ALLOW, 5 },
	    { B, "10.0.0.1", UDP, 5353, ALLOW, 3 },
	    { B, "10.0.0.1", ICMP, 0, ALLOW, 3 } } },
	{ "inheritance without catch-all",
	  { { 1, E, ALLOW, 0, "10.0.0.0/8", TCP, "22" },
	    { 2, E, DENY, 0, "10.1.0.0/16", UDP, NULL },
	    { 3, E, ALLOW, 0, "10.1.2.0/24", UDP, "53" },
	    { 4, E, DENY, 0, "0.0.0.0/0", 0, NULL } },
	  { { E, "10.1.2.3", UDP, 53, ALLOW, 3 },
	    { E, "10.1.2.3", UDP, 54, DENY, 2 },
	    { E, "10.1.2.3", TCP, 22, ALLOW, 1 },
	    { E, "10.1.2.3", TCP, 23, DENY, 4 },
	    { E, "10.1.3.1", UDP, 53, DENY, 2 },
	    { E, "10.2.0.1", UDP, 53, DENY, 4 },
	    { E, "10.2.0.1", TCP, 22, ALLOW, 1 },
	    { E, "192.0.2.1", TCP, 22, DENY, 4 },
	    { E, "2001:db8::1", TCP, 22, DEFAULT, 0 } } },
	{ "directions",
	  { { 1, E, DENY, 0, "10.0.0.0/8", 0, NULL }, { 2, I, ALLOW, 0, "10.0.0.0/8", 0, NULL } },
	  { { E, "10.0.0.1", TCP, 80, DENY, 1 },
	    { I, "10.0.0.1", TCP, 80, ALLOW, 2 },
	    { B, "10.0.0.1", TCP, 80, DEFAULT, 0 } } },
};

static size_t build_rules(const struct rspec *s, size_t max, struct ug_rule *out)
{
	size_t n = 0;

	for (; n < max && s[n].id; n++)
		out[n] = rulep(s[n].id, s[n].dir, s[n].action, s[n].depth, s[n].prefix, s[n].proto,
			       s[n].ports);
	return n;
}

static void test_decisions(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++) {
		const struct scenario *sc = &scenarios[i];
		struct ug_rule r[ARRAY_SIZE(sc->r)];
		size_t nr = build_rules(sc->r, ARRAY_SIZE(sc->r), r), n;
		struct ug_lpm_entry *e = compile_ok(r, nr, &n);

		for (size_t j = 0; j < ARRAY_SIZE(sc->p) && sc->p[j].addr; j++) {
			const struct pspec *p = &sc->p[j];
			uint32_t id;
			int act = decide(e, n, p->dir, p->addr, p->proto, p->port, &id);

			if (act != p->action || id != p->id)
				fail_msg("%s: %s %s %s/%d: got %d (rule %u), want %d (rule %u)",
					 sc->name, ug_dir_name(p->dir), p->addr,
					 ug_proto_name(p->proto), p->port, act, id, p->action,
					 p->id);
		}
		free(e);
	}
}

/*
 * The documented semantics read straight from the rules, without entries, lists or
 * guards: the longest prefix with a matching rule decides; on it, the rules that survive
 * dedup, in specificity order.
 */
static bool same_qualifier(const struct ug_rule *a, const struct ug_rule *b)
{
	return a->proto == b->proto && !!a->has_ports == !!b->has_ports &&
	       (!a->has_ports || (a->port_lo == b->port_lo && a->port_hi == b->port_hi));
}

static bool same_prefix(const struct ug_rule *a, const struct ug_rule *b)
{
	return a->prefix.family == b->prefix.family && a->prefix.len == b->prefix.len &&
	       !memcmp(a->prefix.addr, b->prefix.addr, 16);
}

static int oracle(const struct ug_rule *r, size_t n, int dir, const char *addr, int proto,
		  int port, uint32_t *id)
{
	struct ug_prefix a = pfx(addr);
	const struct ug_rule *best = NULL;
	bool has_port = proto == IPPROTO_TCP || proto == IPPROTO_UDP;

	*id = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ug_rule *x = &r[i];
		int rp = x->proto;
		bool dropped = false;

		if (x->dir != dir || !ug_prefix_contains(&x->prefix, &a))
			continue;
		if (rp == IPPROTO_ICMP && a.family == AF_INET6)
			rp = IPPROTO_ICMPV6;
		if (rp && rp != proto)
			continue;
		if (x->has_ports && (!has_port || port < x->port_lo || port > x->port_hi))
			continue;
		for (size_t j = 0; j < n && !dropped; j++)
			dropped = j != i && r[j].dir == dir && same_prefix(&r[j], x) &&
				  same_qualifier(&r[j], x) && ref_overrides(&r[j], x);
		if (dropped)
			continue;
		if (!best || x->prefix.len > best->prefix.len ||
		    (x->prefix.len == best->prefix.len && ref_tried_first(x, best)))
			best = x;
	}
	if (!best)
		return DEFAULT;
	*id = (uint32_t)best->id;
	return best->action;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t bound)
{
	/* xorshift32: reproducible across libcs, unlike rand(). */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % bound;
}

static void test_decisions_match_semantics(void **state)
{
	static const char *const prefixes[] = {
		"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32",
		"::/0", "::/1", "2001:db8::/32", "2001:db8:1::/48",
	};
	static const int protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	static const char *const ports[] = { NULL, "22", "20-30", "53", "80", "1-1024" };
	static const char *const addrs[] = {
		"10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.1", "11.0.0.1",
		"2001:db8:1::1", "2001:db8:2::1", "2001:db9::1", "9000::1",
	};
	static const int pkt_ports[] = { 22, 25, 53, 80, 2000 };
	size_t decisions = 0;

	for (int round = 0; round < 400; round++) {
		struct ug_rule r[12], rev[12];
		size_t nr = 1 + rnd(ARRAY_SIZE(r)), n, n2;
		struct ug_lpm_entry *e, *e2;

		for (size_t i = 0; i < nr; i++) {
			int proto = protos[rnd(ARRAY_SIZE(protos))];
			const char *p = proto == IPPROTO_ICMP ? NULL : ports[rnd(ARRAY_SIZE(ports))];

			/* Distinct ids in a shuffled order, so id tie-breaks are exercised. */
			r[i] = rulep((int64_t)rnd(40) * 16 + (int64_t)i + 1, (int)rnd(UG_DIR_MAX),
				     (int)rnd(2), (int)rnd(3), prefixes[rnd(ARRAY_SIZE(prefixes))],
				     proto, p);
		}
		e = compile_ok(r, nr, &n);
		for (size_t i = 0; i < nr; i++)
			rev[i] = r[nr - 1 - i];
		e2 = compile_ok(rev, nr, &n2);
		assert_int_equal(n, n2);
		assert_memory_equal(e, e2, n * sizeof(*e));
		free(e2);

		for (int dir = 0; dir < UG_DIR_MAX; dir++) {
			for (size_t a = 0; a < ARRAY_SIZE(addrs); a++) {
				bool is6 = strchr(addrs[a], ':') != NULL;
				const int pp[] = { IPPROTO_TCP, IPPROTO_UDP,
						   is6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP };

				for (size_t k = 0; k < ARRAY_SIZE(pp); k++) {
					for (size_t q = 0; q < ARRAY_SIZE(pkt_ports); q++) {
						int port = pp[k] == pp[2] ? 0 : pkt_ports[q];
						uint32_t got_id, want_id;
						int got = decide(e, n, dir, addrs[a], pp[k], port,
								 &got_id);
						int want = oracle(r, nr, dir, addrs[a], pp[k], port,
								  &want_id);

						decisions++;
						if (got != want || got_id != want_id)
							fail_msg("round %d: %s %s %s/%d: got %d "
								 "(rule %u), want %d (rule %u)",
								 round, ug_dir_name(dir), addrs[a],
								 ug_proto_name(pp[k]), port, got,
								 got_id, want, want_id);
					}
				}
			}
		}
		free(e);
	}
	assert_true(decisions > 10000);
}

/* --- LSM: paths ------------------------------------------------------------- */

/* The longest canonical path: stored with its '/', it fills UG_PATH_MAX - 1 bytes. */
#define PATH_LONGEST (UG_PATH_MAX - 2)

/* "/" followed by n - 1 'a's, plus tail: an n-byte path before the tail. */
static char *long_path(char *buf, size_t n, const char *tail)
{
	buf[0] = '/';
	memset(buf + 1, 'a', n - 1);
	strcpy(buf + n, tail);
	return buf;
}

static void test_path_parse_good(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/", "/" },
		{ "/usr/bin", "/usr/bin" },
		{ "/usr/bin/", "/usr/bin" },
		{ "/etc/", "/etc" },
		{ "/etc/ssh/sshd_config", "/etc/ssh/sshd_config" },
		{ "/.hidden", "/.hidden" },
		{ "/a/...", "/a/..." },
		{ "/..a/b..", "/..a/b.." },
		{ "/x~y/@z:1/#h", "/x~y/@z:1/#h" },
		{ "/!/\x7e/\x21", "/!/~/!" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[UG_PATH_MAX];
		const char *why = "untouched";

		memset(out, 'x', sizeof(out));
		if (ug_path_parse(cases[i].in, out, sizeof(out), &why) != 0)
			fail_msg("'%s' refused: %s", cases[i].in, why);
		assert_string_equal(out, cases[i].out);
		assert_string_equal(why, "untouched");
		/* Canonical text is a fixed point. */
		assert_int_equal(ug_path_parse(out, out, sizeof(out), NULL), 0);
		assert_string_equal(out, cases[i].out);
	}
}

static void test_path_parse_bad(void **state)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "", "empty path" },
		{ "usr/bin", "path is not absolute" },
		{ "./usr", "path is not absolute" },
		{ "~/x", "path is not absolute" },
		{ "/.", "'.' or '..' path component" },
		{ "/..", "'.' or '..' path component" },
		{ "/./", "'.' or '..' path component" },
		{ "/usr/../etc", "'.' or '..' path component" },
		{ "/usr/./bin", "'.' or '..' path component" },
		{ "/usr/bin/..", "'.' or '..' path component" },
		{ "/usr/bin/../", "'.' or '..' path component" },
		{ "//", "empty path component" },
		{ "//usr", "empty path component" },
		{ "/usr//bin", "empty path component" },
		{ "/usr/bin//", "empty path component" },
		{ "/usr bin", "path contains a space" },
		{ "/usr/bin ", "path contains a space" },
		{ " /usr", "path is not absolute" },
		{ "/usr\tbin", "path contains a space" },
		{ "/usr\n", "path contains a space" },
		{ "/caf\xc3\xa9", "path contains a space" },
		{ "/x\x7f", "path contains a space" },
		{ "/x\x80", "path contains a space" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[UG_PATH_MAX];
		const char *why = NULL;

		memset(out, 'x', sizeof(out));
		if (ug_path_parse(cases[i].in, out, sizeof(out), &why) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_non_null(why);
		if (strncmp(why, cases[i].why, strlen(cases[i].why)))
			fail_msg("case %zu: why '%s', want '%s...'", i, why, cases[i].why);
		/* why is optional. */
		assert_int_equal(ug_path_parse(cases[i].in, out, sizeof(out), NULL), -EINVAL);
	}

	{
		char out[UG_PATH_MAX];
		const char *why = NULL;

		assert_int_equal(ug_path_parse(NULL, out, sizeof(out), &why), -EINVAL);
		assert_string_equal(why, "empty path");
		assert_int_equal(ug_path_parse("/usr", NULL, 0, &why), -EINVAL);
		assert_string_equal(why, "no output given");
	}
}

static void test_path_parse_lengths(void **state)
{
	static char in[20000];
	char out[UG_PATH_MAX];
	const char *why = NULL;

	/* PATH_LONGEST bytes: stored with its '/' it takes UG_PATH_MAX - 1. */
	assert_int_equal(PATH_LONGEST, 246);
	long_path(in, PATH_LONGEST, "");
	assert_int_equal(ug_path_parse(in, out, sizeof(out), &why), 0);
	assert_int_equal(strlen(out), PATH_LONGEST);
	assert_string_equal(out, in);
	/* The same with the trailing '/' that canonicalisation drops. */
	long_path(in, PATH_LONGEST, "/");
	assert_int_equal(ug_path_parse(in, out, sizeof(out), &why), 0);
	assert_int_equal(strlen(out), PATH_LONGEST);
	/* One byte more, with or without the '/'. */
	long_path(in, PATH_LONGEST + 1, "");
	assert_int_equal(ug_path_parse(in, out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "path too long");
	long_path(in, PATH_LONGEST + 1, "/");
	why = NULL;
	assert_int_equal(ug_path_parse(in, out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "path too long");
	long_path(in, UG_PATH_MAX, "");
	assert_int_equal(ug_path_parse(in, out, sizeof(out), NULL), -EINVAL);
	/* Far too long, and bad beyond the bound: still just too long. */
	long_path(in, sizeof(in) - 2, "");
	in[sizeof(in) - 3] = ' ';
	why = NULL;
	assert_int_equal(ug_path_parse(in, out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "path too long");

	/* The output needs the canonical text and its NUL, no more. */
	assert_int_equal(ug_path_parse("/usr/bin/", out, 9, NULL), 0);
	assert_string_equal(out, "/usr/bin");
	memset(out, 'x', sizeof(out));
	why = NULL;
	assert_int_equal(ug_path_parse("/usr/bin", out, 8, &why), -EINVAL);
	assert_string_equal(why, "output buffer too small");
	assert_int_equal(ug_path_parse("/", out, 1, NULL), -EINVAL);
	assert_int_equal(ug_path_parse("/", out, 2, NULL), 0);
	assert_string_equal(out, "/");

	/* In place. */
	strcpy(in, "/var/lib/");
	assert_int_equal(ug_path_parse(in, in, sizeof(in), NULL), 0);
	assert_string_equal(in, "/var/lib");
}

static void test_access_names(void **state)
{
	assert_int_equal(ug_access_parse("read"), UG_ACCESS_READ);
	assert_int_equal(ug_access_parse("write"), UG_ACCESS_WRITE);
	assert_int_equal(ug_access_parse("any"), UG_ACCESS_READ | UG_ACCESS_WRITE);
	assert_int_equal(ug_access_parse("Read"), -EINVAL);
	assert_int_equal(ug_access_parse("rw"), -EINVAL);
	assert_int_equal(ug_access_parse("read,write"), -EINVAL);
	assert_int_equal(ug_access_parse("unknown"), -EINVAL);
	assert_int_equal(ug_access_parse(""), -EINVAL);
	assert_int_equal(ug_access_parse(NULL), -EINVAL);

	assert_string_equal(ug_access_name(UG_ACCESS_READ), "read");
	assert_string_equal(ug_access_name(UG_ACCESS_WRITE), "write");
	assert_string_equal(ug_access_name(3), "any");
	assert_string_equal(ug_access_name(0), "unknown");
	assert_string_equal(ug_access_name(4), "unknown");
	assert_string_equal(ug_access_name(-1), "unknown");
	for (int a = 1; a <= 3; a++)
		assert_int_equal(ug_access_parse(ug_access_name(a)), a);
}

static void test_family_names(void **state)
{
	static const char *const names[] = {
		NULL,        "unix",      "inet",     "ax25",       "ipx",     "appletalk",
		"netrom",    "bridge",    "atmpvc",   "x25",        "inet6",   "rose",
		"decnet",    "netbeui",   "security", "key",        "netlink", "packet",
		"ash",       "econet",    "atmsvc",   "rds",        "sna",     "irda",
		"pppox",     "wanpipe",   "llc",      "ib",         "mpls",    "can",
		"tipc",      "bluetooth", "iucv",     "rxrpc",      "isdn",    "phonet",
		"ieee802154", "caif",     "alg",      "nfc",        "vsock",   "kcm",
		"qipcrtr",   "smc",       "xdp",      "mctp",
	};
	static const char *const bad[] = {
		"", "0", "64", "100", "017", "01", "+1", "-1", "1a", " 1", "1 ", "0x11",
		"Packet", "PACKET", "af_packet", "AF_packet", "AF_Packet", "AF_", "AF_UNKNOWN",
		"AF_PACKET ", "AF_1", "AF_AF_PACKET", "unknown", "unspec", "packet ",
	};
	char num[8];

	assert_int_equal(ARRAY_SIZE(names), 46);
	for (int f = 1; f < (int)ARRAY_SIZE(names); f++) {
		assert_int_equal(ug_family_parse(names[f]), f);
		assert_string_equal(ug_family_name(f), names[f]);
	}
	/* systemd's spelling, as in RestrictAddressFamilies=. */
	assert_int_equal(ug_family_parse("AF_PACKET"), AF_PACKET);
	assert_int_equal(ug_family_parse("AF_INET6"), AF_INET6);
	assert_int_equal(ug_family_parse("AF_IEEE802154"), 36);
	/* The values are the kernel's. */
	assert_int_equal(ug_family_parse("unix"), AF_UNIX);
	assert_int_equal(ug_family_parse("inet"), AF_INET);
	assert_int_equal(ug_family_parse("inet6"), AF_INET6);
	assert_int_equal(ug_family_parse("netlink"), AF_NETLINK);
	assert_int_equal(ug_family_parse("packet"), AF_PACKET);
	assert_int_equal(ug_family_parse("bluetooth"), AF_BLUETOOTH);
	assert_int_equal(ug_family_parse("can"), AF_CAN);
	assert_int_equal(ug_family_parse("alg"), AF_ALG);
	assert_int_equal(ug_family_parse("vsock"), AF_VSOCK);
	assert_int_equal(ug_family_parse("key"), AF_KEY);
	assert_int_equal(ug_family_parse("xdp"), AF_XDP);
	assert_int_equal(ug_family_parse("qipcrtr"), AF_QIPCRTR);
	assert_int_equal(ug_family_parse("smc"), AF_SMC);
#ifdef AF_MCTP
	assert_int_equal(ug_family_parse("mctp"), AF_MCTP);
#endif

	/* Every number 1-63, named or not. */
	for (int f = 1; f <= 63; f++) {
		snprintf(num, sizeof(num), "%d", f);
		assert_int_equal(ug_family_parse(num), f);
	}
	assert_string_equal(ug_family_name(46), "unknown");
	assert_string_equal(ug_family_name(63), "unknown");
	assert_string_equal(ug_family_name(0), "unknown");
	assert_string_equal(ug_family_name(-1), "unknown");
	assert_string_equal(ug_family_name(1000), "unknown");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (ug_family_parse(bad[i]) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(ug_family_parse(NULL), -EINVAL);
}

static void test_comment_validate(void **state)
{
	static const char *const good[] = {
		"", "https to the internal range", "a: b # c", "back\\slash \"quoted\" 'too'",
		"caf\xc3\xa9", /* e-acute */
		"\xe2\x86\x92 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x92", /* arrow, CJK, emoji */
		"\xc2\xa0nbsp", "\xc2\xa1", /* the first printable code points after C1 */
		"\xe2\x80\x8f", /* U+200F RIGHT-TO-LEFT MARK: a mark, not an override */
		"\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", /* U+FFFD, U+10FFFF */
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "two\nlines", "control character" },
		{ "cr\r", "control character" },
		{ "tab\there", "control character" },
		{ "\x1b[2J\x1b[31mred", "control character" },
		{ "bell\a", "control character" },
		{ "del\x7f", "control character" },
		{ "\xc2\x85", "control character" },          /* U+0085 NEXT LINE */
		{ "\xc2\x9b" "2J", "control character" },     /* U+009B, a one-byte CSI */
		{ "\xe2\x80\xa8", "line or paragraph separator" },
		{ "\xe2\x80\xa9", "line or paragraph separator" },
		{ "\xe2\x80\xae" "evil", "bidirectional control" }, /* U+202E RLO */
		{ "\xe2\x80\xaa", "bidirectional control" },        /* U+202A LRE */
		{ "\xe2\x81\xa6", "bidirectional control" },        /* U+2066 LRI */
		{ "\xe2\x81\xa9", "bidirectional control" },        /* U+2069 PDI */
		{ "\xc3(", "not valid UTF-8" },
		{ "\xc3", "not valid UTF-8" },                  /* cut short */
		{ "\x80", "not valid UTF-8" },                  /* a lone continuation byte */
		{ "\xc0\xaf", "not valid UTF-8" },              /* overlong '/' */
		{ "\xe0\x80\xaf", "not valid UTF-8" },          /* overlong '/' */
		{ "\xf0\x80\x80\xaf", "not valid UTF-8" },      /* overlong '/' */
		{ "\xed\xa0\x80", "not valid UTF-8" },          /* a surrogate */
		{ "\xf4\x90\x80\x80", "not valid UTF-8" },      /* above U+10FFFF */
		{ "\xff", "not valid UTF-8" },
	};
	char longest[UG_COMMENT_MAX + 2];
	const char *why;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		why = "untouched";
		if (ug_comment_validate(good[i], &why))
			fail_msg("good comment %zu refused: %s", i, why);
		assert_string_equal(why, "untouched");
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		why = NULL;
		if (ug_comment_validate(bad[i].in, &why) != -EINVAL || !why ||
		    !strstr(why, bad[i].why))
			fail_msg("bad comment %zu: why '%s', want '%s'", i, why, bad[i].why);
		assert_int_equal(ug_comment_validate(bad[i].in, NULL), -EINVAL);
	}
	memset(longest, 'x', UG_COMMENT_MAX);
	longest[UG_COMMENT_MAX] = '\0';
	assert_int_equal(ug_comment_validate(longest, NULL), 0);
	longest[UG_COMMENT_MAX] = 'x';
	longest[UG_COMMENT_MAX + 1] = '\0';
	assert_int_equal(ug_comment_validate(longest, &why), -EINVAL);
	assert_string_equal(why, "longer than 1024 bytes");
	assert_int_equal(ug_comment_validate(NULL, &why), -EINVAL);
}

/* Issue 10: what the CLI prints of stored text cannot drive a terminal. */
static void test_text_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "plain text", "plain text" },
		{ "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\x92" },
		{ "two\nlines\ttab\rcr", "two\\nlines\\ttab\\rcr" },
		{ "\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred" },
		{ "bell\a del\x7f", "bell\\x07 del\\x7f" },
		{ "back\\slash \\x1b", "back\\\\slash \\\\x1b" }, /* an escape cannot be forged */
		{ "\xc2\x85" "nel \xc2\x9b" "2J", "\\u0085nel \\u009b2J" },
		{ "\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029" },
		{ "\xe2\x80\xae" "evil \xe2\x81\xa6", "\\u202eevil \\u2066" },
		{ "\xc3(", "\\xc3(" },
		{ "cut \xc3", "cut \\xc3" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" }, /* a surrogate: three bad bytes */
		{ "\xff\xfe", "\\xff\\xfe" },
	};
	char out[128], small[6];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = ug_text_escape(cases[i].in, out, sizeof(out));

		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
		assert_true(n <= 4 * strlen(cases[i].in));
		/* What it prints is text the comment check accepts. */
		assert_int_equal(ug_comment_validate(out, NULL), 0);
	}
	/* Cut short like snprintf, never in the middle of nothing: the length is the whole. */
	assert_int_equal(ug_text_escape("a\nbcdef", small, sizeof(small)), 8);
	assert_string_equal(small, "a\\nbc");
	assert_int_equal(ug_text_escape("\n", NULL, 0), 2);
}

static void test_harden_parse_format(void **state)
{
	static const struct {
		const char *in;
		int want;
	} good[] = {
		{ "", 0 },
		{ "module-load", UG_HARDEN_MODULE_LOAD },
		{ "bpf", UG_HARDEN_BPF },
		{ "ptrace", UG_HARDEN_PTRACE },
		{ "mount", UG_HARDEN_MOUNT },
		{ "module-load,bpf", UG_HARDEN_MODULE_LOAD | UG_HARDEN_BPF },
		{ "mount,module-load", UG_HARDEN_MOUNT | UG_HARDEN_MODULE_LOAD },
		{ "bpf,bpf", UG_HARDEN_BPF },
		{ "ptrace,mount,bpf,module-load", 0xf },
		{ "path-view,mount", 0x18 },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "bpf,", "empty item" },
		{ ",bpf", "empty item" },
		{ ",", "empty item" },
		{ "bpf,,mount", "empty item" },
		{ "BPF", "unknown hardening item" },
		{ "bpf ", "unknown hardening item" },
		{ " bpf", "unknown hardening item" },
		{ "bpf, mount", "unknown hardening item" },
		{ "module_load", "unknown hardening item" },
		{ "modules", "unknown hardening item" },
		{ "all", "unknown hardening item" },
		{ "bpf,ptrace,mountx", "unknown hardening item" },
		{ "bp", "unknown hardening item" },
	};
	static const struct {
		int in;
		const char *out;
	} fmt[] = {
		{ 0, "" },
		{ UG_HARDEN_MODULE_LOAD, "module-load" },
		{ UG_HARDEN_BPF, "bpf" },
		{ UG_HARDEN_PTRACE, "ptrace" },
		{ UG_HARDEN_MOUNT, "mount" },
		{ UG_HARDEN_MODULE_LOAD | UG_HARDEN_PTRACE, "module-load,ptrace" },
		{ UG_HARDEN_MOUNT | UG_HARDEN_BPF, "bpf,mount" },
		{ 0xf, "module-load,bpf,ptrace,mount" },
		{ 0x1f, "module-load,bpf,ptrace,mount,path-view" },
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const char *why = "untouched";

		assert_int_equal(ug_harden_parse(good[i].in, &why), good[i].want);
		assert_string_equal(why, "untouched");
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *why = NULL;

		if (ug_harden_parse(bad[i].in, &why) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].in);
		assert_non_null(why);
		if (strncmp(why, bad[i].why, strlen(bad[i].why)))
			fail_msg("'%s': why '%s', want '%s...'", bad[i].in, why, bad[i].why);
		assert_int_equal(ug_harden_parse(bad[i].in, NULL), -EINVAL);
	}
	assert_int_equal(ug_harden_parse(NULL, NULL), -EINVAL);

	for (size_t i = 0; i < ARRAY_SIZE(fmt); i++) {
		size_t n = strlen(fmt[i].out);

		memset(buf, 'x', sizeof(buf));
		assert_int_equal(ug_harden_format(fmt[i].in, buf, sizeof(buf)), 0);
		assert_string_equal(buf, fmt[i].out);
		/* Exactly enough room, then one byte short. */
		assert_int_equal(ug_harden_format(fmt[i].in, buf, n + 1), 0);
		assert_string_equal(buf, fmt[i].out);
		if (n)
			assert_int_equal(ug_harden_format(fmt[i].in, buf, n), -ENOSPC);
	}
	/* Every set formats and parses back. */
	for (int h = 0; h <= 0x1f; h++) {
		assert_int_equal(ug_harden_format(h, buf, sizeof(buf)), 0);
		assert_int_equal(ug_harden_parse(buf, NULL), h);
	}
	assert_int_equal(ug_harden_format(0x20, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ug_harden_format(-1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ug_harden_format(1, NULL, 8), -EINVAL);
	assert_int_equal(ug_harden_format(1, buf, 0), -EINVAL);
}

/* --- compile paths ---------------------------------------------------------- */

#define PTRIE 0x4321
#define EXEC UG_PATH_EXEC
#define FILE_ UG_PATH_FILE
#define RD UG_ACCESS_READ
#define WR UG_ACCESS_WRITE
#define RW (UG_ACCESS_READ | UG_ACCESS_WRITE)

static struct ug_path_rule prule(int64_t id, int kind, int action, int access, int depth,
				 const char *path)
{
	struct ug_path_rule r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = (uint8_t)kind;
	r.action = (uint8_t)action;
	r.access = (uint8_t)access;
	r.depth = (uint8_t)depth;
	assert_true(strlen(path) < sizeof(r.path));
	strcpy(r.path, path);
	return r;
}

/* Exec rule; file rule (always deny). */
#define XR(id, action, depth, path) prule(id, EXEC, action, 0, depth, path)
#define FR(id, access, depth, path) prule(id, FILE_, UG_ACT_DENY, access, depth, path)

static int path_key_order(const struct ug_path_key *a, const struct ug_path_key *b)
{
	if (a->trie != b->trie)
		return a->trie < b->trie ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->path, b->path, sizeof(a->path));
}

/* Compile and require success and well-formed entries; the caller frees. */
static struct ug_path_entry *pcompile_ok(const struct ug_path_rule *r, size_t n, size_t *n_out)
{
	struct ug_path_entry *out = NULL;
	char err[256] = "";
	int ret = ug_path_compile(r, n, PTRIE, &out, n_out, err, sizeof(err));
	bool any_audit = false;

	if (ret != 0)
		fail_msg("path compile failed: %d (%s)", ret, err);
	assert_string_equal(err, "");
	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		any_audit |= r[i].audit;
	for (size_t i = 0; i < *n_out; i++) {
		const struct ug_path_entry *e = &out[i];
		size_t len = (e->key.prefixlen - UG_PATH_HDR_BITS) / 8;

		assert_int_equal(e->key.trie, PTRIE);
		assert_int_equal(e->key.pad, 0);
		assert_true(e->key.kind == EXEC || e->key.kind == FILE_);
		assert_int_equal((e->key.prefixlen - UG_PATH_HDR_BITS) % 8, 0);
		assert_true(len >= 1 && len <= UG_PATH_MAX - 1);
		/* Stored bytes: "/" or a path ending in '/', then zeros. */
		assert_int_equal(e->key.path[0], '/');
		assert_int_equal(e->key.path[len - 1], '/');
		assert_int_equal(strnlen((const char *)e->key.path, UG_PATH_MAX), len);
		for (size_t j = len; j < UG_PATH_MAX; j++)
			assert_int_equal(e->key.path[j], 0);
		assert_int_equal(e->val.enforced.pad[0], 0);
		assert_int_equal(e->val.enforced.pad[1], 0);
		/* Without audited rules the two readings are one. */
		if (!any_audit)
			assert_memory_equal(&e->val.all, &e->val.enforced, sizeof(e->val.all));
		assert_int_equal(e->val.all.pad[0], 0);
		assert_int_equal(e->val.all.pad[1], 0);
		if (any_audit) {
			/* Every entry is some rule's: the reading of all has one. */
			assert_true(e->key.kind == EXEC ? e->val.all.rule_id > 0
							: e->val.all.deny_access > 0);
		} else if (e->key.kind == EXEC) {
			const uint8_t act = e->val.enforced.action;

			assert_true(e->val.enforced.rule_id > 0);
			assert_true(act == UG_ACT_ALLOW || act == UG_ACT_DENY);
			assert_int_equal(e->val.enforced.read_rule, 0);
			assert_int_equal(e->val.enforced.write_rule, 0);
			assert_int_equal(e->val.enforced.deny_access, 0);
		} else {
			assert_int_equal(e->val.enforced.rule_id, 0);
			assert_int_equal(e->val.enforced.action, 0);
			assert_true(e->val.enforced.deny_access >= 1 && e->val.enforced.deny_access <= RW);
			assert_int_equal(!!e->val.enforced.read_rule, !!(e->val.enforced.deny_access & RD));
			assert_int_equal(!!e->val.enforced.write_rule, !!(e->val.enforced.deny_access & WR));
		}
		if (i)
			assert_true(path_key_order(&out[i - 1].key, &e->key) < 0);
	}
	return out;
}

static const struct ug_path_entry *pfind(const struct ug_path_entry *e, size_t n, int kind,
					 const char *path)
{
	char stored[UG_PATH_MAX + 1];

	snprintf(stored, sizeof(stored), "%s%s", path, strcmp(path, "/") ? "/" : "");
	for (size_t i = 0; i < n; i++)
		if (e[i].key.kind == kind &&
		    e[i].key.prefixlen == UG_PATH_HDR_BITS + 8 * strlen(stored) &&
		    !memcmp(e[i].key.path, stored, strlen(stored)))
			return &e[i];
	fail_msg("no %s entry for %s", kind == EXEC ? "exec" : "file", path);
	return NULL;
}

/*
 * What the kernel does with the entries: look up path + "/" and take the entry whose
 * stored bytes are its longest prefix. NULL when no entry matches.
 */
static const struct ug_path_entry *plookup(const struct ug_path_entry *e, size_t n, int kind,
					   const char *path)
{
	const struct ug_path_entry *best = NULL;
	char key[UG_PATH_MAX + 2];
	size_t klen;

	assert_true(strlen(path) < UG_PATH_MAX);
	snprintf(key, sizeof(key), "%s/", path);
	klen = strlen(key);
	for (size_t i = 0; i < n; i++) {
		size_t len = (e[i].key.prefixlen - UG_PATH_HDR_BITS) / 8;

		if (e[i].key.trie != PTRIE || e[i].key.kind != kind || len > klen ||
		    memcmp(e[i].key.path, key, len))
			continue;
		if (!best || e[i].key.prefixlen > best->key.prefixlen)
			best = &e[i];
	}
	return best;
}

/* Exec decision for path: action and rule, or DEFAULT and 0. */
static int pexec(const struct ug_path_entry *e, size_t n, const char *path, uint32_t *id)
{
	const struct ug_path_entry *m = plookup(e, n, EXEC, path);

	*id = m ? m->val.enforced.rule_id : 0;
	return m ? m->val.enforced.action : DEFAULT;
}

/* File decision for path: denied access bits, and the rule naming each. */
static int pfile(const struct ug_path_entry *e, size_t n, const char *path, uint32_t *rd,
		 uint32_t *wr)
{
	const struct ug_path_entry *m = plookup(e, n, FILE_, path);

	*rd = m ? m->val.enforced.read_rule : 0;
	*wr = m ? m->val.enforced.write_rule : 0;
	return m ? m->val.enforced.deny_access : 0;
}

#define EXPECT_EXEC(e, n, path, action, id)                                          \
	do {                                                                         \
		uint32_t got_id_;                                                    \
		int got_ = pexec(e, n, path, &got_id_);                              \
		if (got_ != (action) || got_id_ != (uint32_t)(id))                   \
			fail_msg("exec %s: got %d (rule %u), want %d (rule %u)", path, \
				 got_, got_id_, (int)(action), (uint32_t)(id));      \
	} while (0)

#define EXPECT_FILE(e, n, path, access, rd, wr)                                           \
	do {                                                                              \
		uint32_t rd_, wr_;                                                        \
		int got_ = pfile(e, n, path, &rd_, &wr_);                                 \
		if (got_ != (access) || rd_ != (uint32_t)(rd) || wr_ != (uint32_t)(wr))   \
			fail_msg("file %s: got %d (read %u, write %u), want %d (%u, %u)", \
				 path, got_, rd_, wr_, (int)(access), (uint32_t)(rd),     \
				 (uint32_t)(wr));                                         \
	} while (0)

static void test_path_compile_empty(void **state)
{
	struct ug_path_entry *out = (struct ug_path_entry *)1;
	size_t n = 99;
	char err[64] = "x";

	assert_int_equal(ug_path_compile(NULL, 0, PTRIE, &out, &n, err, sizeof(err)), 0);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_string_equal(err, "");
}

static void test_path_compile_key_bytes(void **state)
{
	const struct ug_path_rule r[] = {
		XR(1, UG_ACT_DENY, 0, "/"),
		XR(2, UG_ACT_ALLOW, 0, "/usr/bin"),
	};
	struct ug_path_entry *e;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 2);
	/* "/" is stored as itself, "/usr/bin" with a '/' added. */
	assert_int_equal(e[0].key.prefixlen, UG_PATH_HDR_BITS + 8);
	assert_memory_equal(e[0].key.path, "/\0", 2);
	assert_int_equal(e[0].key.kind, EXEC);
	assert_int_equal(e[0].val.enforced.rule_id, 1);
	assert_int_equal(e[0].val.enforced.action, UG_ACT_DENY);
	assert_int_equal(e[1].key.prefixlen, UG_PATH_HDR_BITS + 8 * 9);
	assert_memory_equal(e[1].key.path, "/usr/bin/\0", 10);
	assert_int_equal(e[1].val.enforced.rule_id, 2);
	assert_int_equal(e[1].val.enforced.action, UG_ACT_ALLOW);
	free(e);
}

/* The longest path compiles and fills the key up to the last byte the kernel lookup keeps. */
static void test_path_compile_longest(void **state)
{
	char path[UG_PATH_MAX];
	struct ug_path_rule r;
	struct ug_path_entry *e;
	size_t n;

	long_path(path, PATH_LONGEST, "");
	r = FR(7, WR, 0, path);
	e = pcompile_ok(&r, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, UG_PATH_HDR_BITS + 8 * (UG_PATH_MAX - 1));
	assert_int_equal(e[0].key.path[PATH_LONGEST], '/');
	assert_int_equal(e[0].key.path[UG_PATH_MAX - 1], 0);
	EXPECT_FILE(e, n, path, WR, 0, 7);
	free(e);
}

static void test_path_compile_boundary(void **state)
{
	const struct ug_path_rule r[] = {
		FR(1, RD, 0, "/etc"),
		XR(2, UG_ACT_DENY, 0, "/etc"),
	};
	struct ug_path_entry *e;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 2);
	/* Exec before file: the kind is in the key. */
	assert_int_equal(e[0].key.kind, EXEC);
	assert_int_equal(e[1].key.kind, FILE_);
	assert_memory_equal(e[1].key.path, "/etc/\0", 6);
	assert_int_equal(e[1].key.prefixlen, UG_PATH_HDR_BITS + 40);

	EXPECT_FILE(e, n, "/etc", RD, 1, 0);
	EXPECT_FILE(e, n, "/etc/passwd", RD, 1, 0);
	EXPECT_FILE(e, n, "/etc/ssh/sshd_config", RD, 1, 0);
	EXPECT_FILE(e, n, "/etcfoo", 0, 0, 0);
	EXPECT_FILE(e, n, "/etcfoo/passwd", 0, 0, 0);
	EXPECT_FILE(e, n, "/etc.d", 0, 0, 0);
	EXPECT_FILE(e, n, "/et", 0, 0, 0);
	EXPECT_FILE(e, n, "/", 0, 0, 0);
	EXPECT_EXEC(e, n, "/etc/init.d/x", UG_ACT_DENY, 2);
	EXPECT_EXEC(e, n, "/etcfoo", DEFAULT, 0);
	EXPECT_EXEC(e, n, "/usr/bin/ls", DEFAULT, 0);
	free(e);
}

static void test_path_compile_exec_allow_inside_deny(void **state)
{
	const struct ug_path_rule r[] = {
		XR(1, UG_ACT_DENY, 0, "/"),
		XR(2, UG_ACT_ALLOW, 0, "/usr/bin"),
		XR(3, UG_ACT_DENY, 0, "/usr/bin/su"),
	};
	struct ug_path_entry *e;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 3);
	EXPECT_EXEC(e, n, "/usr/bin/ls", UG_ACT_ALLOW, 2);
	EXPECT_EXEC(e, n, "/usr/bin", UG_ACT_ALLOW, 2);
	EXPECT_EXEC(e, n, "/usr/bin/su", UG_ACT_DENY, 3);
	EXPECT_EXEC(e, n, "/usr/bin/sudo", UG_ACT_ALLOW, 2);
	EXPECT_EXEC(e, n, "/usr/binx", UG_ACT_DENY, 1);
	EXPECT_EXEC(e, n, "/usr/sbin/init", UG_ACT_DENY, 1);
	EXPECT_EXEC(e, n, "/bin/sh", UG_ACT_DENY, 1);
	EXPECT_EXEC(e, n, "/tmp/x", UG_ACT_DENY, 1);
	/* No file entries: exec rules never reach file_open. */
	EXPECT_FILE(e, n, "/usr/bin/ls", 0, 0, 0);
	free(e);
}

static void test_path_compile_file_folding(void **state)
{
	const struct ug_path_rule r[] = {
		FR(5, WR, 0, "/var"),
		FR(7, RD, 0, "/var/secret"),
		FR(9, WR, 0, "/var/secret/x"),
		FR(11, RW, 0, "/srv"),
		FR(12, RD, 0, "/srv/www"),
	};
	struct ug_path_entry *e;
	const struct ug_path_entry *x;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 5);
	/* The entries themselves, not only the lookups. */
	x = pfind(e, n, FILE_, "/var");
	assert_int_equal(x->val.enforced.deny_access, WR);
	assert_int_equal(x->val.enforced.read_rule, 0);
	assert_int_equal(x->val.enforced.write_rule, 5);
	x = pfind(e, n, FILE_, "/var/secret");
	assert_int_equal(x->val.enforced.deny_access, RW);
	assert_int_equal(x->val.enforced.read_rule, 7);
	assert_int_equal(x->val.enforced.write_rule, 5);
	x = pfind(e, n, FILE_, "/var/secret/x");
	assert_int_equal(x->val.enforced.deny_access, RW);
	assert_int_equal(x->val.enforced.read_rule, 7);
	assert_int_equal(x->val.enforced.write_rule, 9);
	x = pfind(e, n, FILE_, "/srv/www");
	assert_int_equal(x->val.enforced.deny_access, RW);
	assert_int_equal(x->val.enforced.read_rule, 12);
	assert_int_equal(x->val.enforced.write_rule, 11);

	EXPECT_FILE(e, n, "/var/log/syslog", WR, 0, 5);
	EXPECT_FILE(e, n, "/var/secret/key", RW, 7, 5);
	EXPECT_FILE(e, n, "/var/secret/x/y", RW, 7, 9);
	EXPECT_FILE(e, n, "/var/secretx", WR, 0, 5);
	EXPECT_FILE(e, n, "/srv/www/index.html", RW, 12, 11);
	EXPECT_FILE(e, n, "/srv/ftp", RW, 11, 11);
	EXPECT_FILE(e, n, "/usr", 0, 0, 0);
	free(e);
}

static void test_path_compile_depth(void **state)
{
	const struct ug_path_rule r[] = {
		/* Same path: the unit's own rule beats its slice's, whatever the action. */
		XR(3, UG_ACT_DENY, 1, "/opt"),
		XR(8, UG_ACT_ALLOW, 0, "/opt"),
		/* Same path and depth: deny, then lowest id. */
		XR(20, UG_ACT_ALLOW, 1, "/srv"),
		XR(21, UG_ACT_DENY, 1, "/srv"),
		XR(31, UG_ACT_ALLOW, 2, "/home"),
		XR(30, UG_ACT_ALLOW, 2, "/home"),
		/* Longer wins over depth: an ancestor's longer rule decides below it. */
		XR(40, UG_ACT_DENY, 0, "/data"),
		XR(41, UG_ACT_ALLOW, 3, "/data/pub"),
		/* File: read named by the smaller depth, then the lower id. */
		FR(50, RD, 2, "/etc"),
		FR(55, RD, 0, "/etc"),
		FR(57, RW, 0, "/etc"),
		FR(60, WR, 1, "/etc/ssh"),
		FR(61, WR, 1, "/etc/ssh"),
		FR(62, RD, 0, "/etc/ssh"),
	};
	struct ug_path_entry *e;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 7);
	EXPECT_EXEC(e, n, "/opt/x", UG_ACT_ALLOW, 8);
	EXPECT_EXEC(e, n, "/srv/x", UG_ACT_DENY, 21);
	EXPECT_EXEC(e, n, "/home/x", UG_ACT_ALLOW, 30);
	EXPECT_EXEC(e, n, "/data/x", UG_ACT_DENY, 40);
	EXPECT_EXEC(e, n, "/data/pub/x", UG_ACT_ALLOW, 41);
	EXPECT_FILE(e, n, "/etc/passwd", RW, 55, 57);
	EXPECT_FILE(e, n, "/etc/ssh/key", RW, 62, 60);
	free(e);
}

/* Rules of cgroups in audit mode (issue 21.2): the enforced reading leaves
 * them out, the reading of all has them, and neither relaxes the other. */
static void test_path_compile_audit(void **state)
{
	struct ug_path_rule r[] = {
		XR(1, UG_ACT_DENY, 1, "/opt"),     /* the slice's, enforced */
		XR(2, UG_ACT_ALLOW, 0, "/opt/ok"), /* the unit's, audited */
		XR(3, UG_ACT_DENY, 0, "/srv"),     /* audited */
		FR(4, WR, 1, "/etc"),              /* enforced */
		FR(5, RD, 0, "/etc"),              /* audited */
		FR(6, RW, 0, "/etc/app"),          /* audited */
	};
	const struct ug_path_entry *m;
	struct ug_path_entry *e;
	size_t n;

	(void)state;
	r[1].audit = r[2].audit = r[4].audit = r[5].audit = 1;
	e = pcompile_ok(r, sizeof(r) / sizeof(r[0]), &n);
	/* an audited allow does not relax the slice's enforced deny */
	m = plookup(e, n, EXEC, "/opt/ok/tool");
	assert_non_null(m);
	assert_int_equal(m->val.enforced.action, UG_ACT_DENY);
	assert_int_equal(m->val.enforced.rule_id, 1);
	assert_int_equal(m->val.all.action, UG_ACT_ALLOW);
	assert_int_equal(m->val.all.rule_id, 2);
	/* an audited deny with nothing enforced above it refuses nothing */
	m = plookup(e, n, EXEC, "/srv/x");
	assert_non_null(m);
	assert_int_equal(m->val.enforced.action, UG_ACT_ALLOW);
	assert_int_equal(m->val.enforced.rule_id, 0);
	assert_int_equal(m->val.all.action, UG_ACT_DENY);
	assert_int_equal(m->val.all.rule_id, 3);
	m = plookup(e, n, EXEC, "/opt/x");
	assert_int_equal(m->val.enforced.rule_id, 1);
	assert_int_equal(m->val.all.rule_id, 1);
	/* file: write enforced, read audited; the covering enforced write
	 * folds into /etc/app/'s enforced reading */
	m = plookup(e, n, FILE_, "/etc/x");
	assert_int_equal(m->val.enforced.deny_access, WR);
	assert_int_equal(m->val.enforced.read_rule, 0);
	assert_int_equal(m->val.enforced.write_rule, 4);
	assert_int_equal(m->val.all.deny_access, RW);
	assert_int_equal(m->val.all.read_rule, 5);
	assert_int_equal(m->val.all.write_rule, 4);
	m = plookup(e, n, FILE_, "/etc/app/x");
	assert_int_equal(m->val.enforced.deny_access, WR);
	assert_int_equal(m->val.enforced.write_rule, 4);
	assert_int_equal(m->val.all.deny_access, RW);
	assert_int_equal(m->val.all.read_rule, 6);
	assert_int_equal(m->val.all.write_rule, 6);
	free(e);
}

static void test_path_compile_root(void **state)
{
	const struct ug_path_rule r[] = {
		FR(1, RD, 0, "/"),
		FR(2, WR, 0, "/tmp"),
		XR(3, UG_ACT_ALLOW, 0, "/"),
	};
	struct ug_path_entry *e;
	const struct ug_path_entry *x;
	size_t n;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, 3);
	x = pfind(e, n, FILE_, "/");
	assert_int_equal(x->key.prefixlen, UG_PATH_HDR_BITS + 8);
	assert_int_equal(x->val.enforced.deny_access, RD);
	assert_int_equal(x->val.enforced.read_rule, 1);
	x = pfind(e, n, FILE_, "/tmp");
	assert_int_equal(x->val.enforced.deny_access, RW);
	assert_int_equal(x->val.enforced.read_rule, 1);
	assert_int_equal(x->val.enforced.write_rule, 2);
	EXPECT_FILE(e, n, "/", RD, 1, 0);
	EXPECT_FILE(e, n, "/etc/passwd", RD, 1, 0);
	EXPECT_FILE(e, n, "/tmpfoo", RD, 1, 0);
	EXPECT_FILE(e, n, "/tmp/x", RW, 1, 2);
	EXPECT_EXEC(e, n, "/", UG_ACT_ALLOW, 3);
	EXPECT_EXEC(e, n, "/any/thing", UG_ACT_ALLOW, 3);
	free(e);
}

static void test_path_compile_sorted(void **state)
{
	const struct ug_path_rule r[] = {
		FR(1, RD, 0, "/b"),       XR(2, UG_ACT_DENY, 0, "/zz"),
		FR(3, WR, 0, "/a"),       XR(4, UG_ACT_ALLOW, 0, "/a/b"),
		XR(5, UG_ACT_DENY, 0, "/"), FR(6, RW, 1, "/a/b/c"),
		FR(7, RD, 0, "/b"),       XR(8, UG_ACT_ALLOW, 2, "/zz"),
		/* Access on an exec rule means nothing and must not change the output. */
		prule(9, EXEC, UG_ACT_DENY, RW, 0, "/y"),
	};
	/* kind, then prefixlen, then bytes. */
	static const char *const want[] = {
		"/", "/y/", "/zz/", "/a/b/", "/a/", "/b/", "/a/b/c/",
	};
	struct ug_path_rule rev[ARRAY_SIZE(r)];
	struct ug_path_entry *e, *e2;
	size_t n, n2;

	e = pcompile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal((const char *)e[i].key.path, want[i]);
	assert_int_equal(e[1].val.enforced.rule_id, 9);
	assert_int_equal(e[1].val.enforced.deny_access, 0);

	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		rev[i] = r[ARRAY_SIZE(r) - 1 - i];
	e2 = pcompile_ok(rev, ARRAY_SIZE(rev), &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(e, e2, n * sizeof(*e));
	free(e);
	free(e2);
}

static void test_path_compile_invalid(void **state)
{
	static const char *const errs[] = {
		"rule 0: id out of range",
		"rule -1: id out of range",
		"rule 4294967296: id out of range",
		"rule 2: unknown path rule kind",
		"rule 2: unknown action",
		"rule 2: file rules can only deny",
		"rule 2: access must be read, write or both",
		"rule 2: access must be read, write or both",
		"rule 2: invalid path: path is not absolute",
		"rule 2: invalid path: empty path",
		"rule 2: path is not canonical",
		"rule 2: invalid path: empty path component",
		"rule 2: invalid path: '.' or '..' path component",
		"rule 2: invalid path: path contains a space",
		"rule 2: path is not NUL-terminated",
		"rule 2: invalid path: path too long",
	};
	const struct ug_path_rule good = XR(1, UG_ACT_ALLOW, 0, "/usr");
	struct ug_path_entry *out;
	char err[256];
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		/* The bad rule after a good one: nothing half-done leaks out. */
		struct ug_path_rule pair[2] = { good, good };
		struct ug_path_rule *b = &pair[1];

		b->id = 2;
		switch (i) {
		case 0: b->id = 0; break;
		case 1: b->id = -1; break;
		case 2: b->id = (int64_t)UINT32_MAX + 1; break;
		case 3: b->kind = 2; break;
		case 4: b->action = 2; break;
		case 5: *b = prule(2, FILE_, UG_ACT_ALLOW, RD, 0, "/etc"); break;
		case 6: *b = prule(2, FILE_, UG_ACT_DENY, 0, 0, "/etc"); break;
		case 7: *b = prule(2, FILE_, UG_ACT_DENY, 4 | RD, 0, "/etc"); break;
		case 8: strcpy(b->path, "usr/bin"); break;
		case 9: b->path[0] = '\0'; break;
		case 10: strcpy(b->path, "/usr/"); break;
		case 11: strcpy(b->path, "/usr//bin"); break;
		case 12: strcpy(b->path, "/usr/../etc"); break;
		case 13: strcpy(b->path, "/usr/my bin"); break;
		case 14: memset(b->path, 'a', sizeof(b->path)); b->path[0] = '/'; break;
		case 15: long_path(b->path, PATH_LONGEST + 1, ""); break;
		}
		out = (struct ug_path_entry *)1;
		n = 99;
		memset(err, 'x', sizeof(err));
		if (ug_path_compile(pair, 2, PTRIE, &out, &n, err, sizeof(err)) != -EINVAL)
			fail_msg("bad path rule %zu accepted", i);
		assert_null(out);
		assert_int_equal(n, 0);
		if (strncmp(err, errs[i], strlen(errs[i])) || strchr(err, '\n'))
			fail_msg("bad path rule %zu: err \"%s\", want \"%s...\"", i, err, errs[i]);
		assert_int_equal(ug_path_compile(pair, 2, PTRIE, &out, &n, NULL, 0), -EINVAL);
	}

	assert_int_equal(ug_path_compile(NULL, 1, 0, &out, &n, NULL, 0), -EINVAL);
	assert_int_equal(ug_path_compile(&good, 1, 0, NULL, &n, NULL, 0), -EINVAL);
	assert_int_equal(ug_path_compile(&good, 1, 0, &out, NULL, NULL, 0), -EINVAL);
}

/*
 * The documented semantics read straight from the rules, with string logic instead of
 * stored bytes: a rule covers a path when it is "/", the path itself, or a directory
 * above it.
 */
static bool rule_covers(const char *rule, const char *path)
{
	size_t n = strlen(rule);

	if (!strcmp(rule, "/"))
		return true;
	return !strncmp(rule, path, n) && (path[n] == '\0' || path[n] == '/');
}

/* Does a decide before b, a and b being rules of one kind covering one path? */
static bool path_rule_beats(const struct ug_path_rule *a, const struct ug_path_rule *b)
{
	size_t la = strlen(a->path), lb = strlen(b->path);

	if (la != lb)
		return la > lb;
	if (a->depth != b->depth)
		return a->depth < b->depth;
	if (a->kind == EXEC && a->action != b->action)
		return a->action == UG_ACT_DENY;
	return a->id < b->id;
}

static int oracle_exec(const struct ug_path_rule *r, size_t n, const char *path, uint32_t *id)
{
	const struct ug_path_rule *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (r[i].kind == EXEC && rule_covers(r[i].path, path) &&
		    (!best || path_rule_beats(&r[i], best)))
			best = &r[i];
	*id = best ? (uint32_t)best->id : 0;
	return best ? best->action : DEFAULT;
}

static int oracle_file(const struct ug_path_rule *r, size_t n, const char *path, uint32_t *rd,
		       uint32_t *wr)
{
	const struct ug_path_rule *best_rd = NULL, *best_wr = NULL;
	int access = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].kind != FILE_ || !rule_covers(r[i].path, path))
			continue;
		access |= r[i].access;
		if ((r[i].access & RD) && (!best_rd || path_rule_beats(&r[i], best_rd)))
			best_rd = &r[i];
		if ((r[i].access & WR) && (!best_wr || path_rule_beats(&r[i], best_wr)))
			best_wr = &r[i];
	}
	*rd = best_rd ? (uint32_t)best_rd->id : 0;
	*wr = best_wr ? (uint32_t)best_wr->id : 0;
	return access;
}

static void test_path_decisions_match_semantics(void **state)
{
	static const char *const paths[] = {
		"/", "/etc", "/etcfoo", "/etc/ssh", "/etc/ssh/sshd_config", "/usr", "/usr/bin",
		"/usr/binx", "/usr/bin/ls", "/var", "/var/lib", "/a", "/a/b", "/ab", "/a/b/c",
		"/a.b", "/a-",
	};
	static const char *const queries[] = {
		"/", "/etc", "/etc/passwd", "/etcfoo", "/etcfoo/x", "/etc/ssh", "/etc/sshx",
		"/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/x", "/usr", "/usr/bin",
		"/usr/bin/ls", "/usr/bin/lsx", "/usr/binx", "/usr/bi", "/var/lib/x", "/var/li",
		"/a", "/a/b", "/a/bc", "/ab", "/ab/c", "/a/b/c/d", "/a.b/x", "/a-", "/a", "/zz",
	};
	size_t decisions = 0;

	for (int round = 0; round < 500; round++) {
		struct ug_path_rule r[14], rev[14];
		size_t nr = 1 + rnd(ARRAY_SIZE(r)), n, n2;
		struct ug_path_entry *e, *e2;

		for (size_t i = 0; i < nr; i++) {
			/* Distinct ids in a shuffled order, so id tie-breaks are exercised. */
			int64_t id = (int64_t)rnd(40) * 16 + (int64_t)i + 1;
			const char *p = paths[rnd(ARRAY_SIZE(paths))];

			if (rnd(2))
				r[i] = XR(id, (int)rnd(2), (int)rnd(3), p);
			else
				r[i] = FR(id, 1 + (int)rnd(3), (int)rnd(3), p);
		}
		e = pcompile_ok(r, nr, &n);
		for (size_t i = 0; i < nr; i++)
			rev[i] = r[nr - 1 - i];
		e2 = pcompile_ok(rev, nr, &n2);
		assert_int_equal(n, n2);
		assert_memory_equal(e, e2, n * sizeof(*e));
		free(e2);

		for (size_t q = 0; q < ARRAY_SIZE(queries); q++) {
			uint32_t got_id, want_id, got_rd, got_wr, want_rd, want_wr;
			int got = pexec(e, n, queries[q], &got_id);
			int want = oracle_exec(r, nr, queries[q], &want_id);

			if (got != want || got_id != want_id)
				fail_msg("round %d: exec %s: got %d (rule %u), want %d (rule %u)",
					 round, queries[q], got, got_id, want, want_id);
			got = pfile(e, n, queries[q], &got_rd, &got_wr);
			want = oracle_file(r, nr, queries[q], &want_rd, &want_wr);
			if (got != want || got_rd != want_rd || got_wr != want_wr)
				fail_msg("round %d: file %s: got %d (%u, %u), want %d (%u, %u)",
					 round, queries[q], got, got_rd, got_wr, want, want_rd,
					 want_wr);
			decisions += 2;
		}
		free(e);
	}
	assert_true(decisions > 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_good),
		cmocka_unit_test(test_prefix_parse_bad),
		cmocka_unit_test(test_prefix_parse_values),
		cmocka_unit_test(test_prefix_parse_null),
		cmocka_unit_test(test_prefix_round_trip),
		cmocka_unit_test(test_prefix_format_errors),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_dir_action_mode),
		cmocka_unit_test(test_hook_verdict_names),
		cmocka_unit_test(test_target_good),
		cmocka_unit_test(test_target_bad),
		cmocka_unit_test(test_target_lengths),
		cmocka_unit_test(test_proto_names),
		cmocka_unit_test(test_ports_parse_good),
		cmocka_unit_test(test_ports_parse_bad),
		cmocka_unit_test(test_compile_empty),
		cmocka_unit_test(test_compile_issue_example),
		cmocka_unit_test(test_compile_longest_prefix),
		cmocka_unit_test(test_compile_v4_mapped_bytes),
		cmocka_unit_test(test_compile_ipv6_plain),
		cmocka_unit_test(test_compile_inheritance),
		cmocka_unit_test(test_compile_inheritance_ipv6),
		cmocka_unit_test(test_compile_specificity_order),
		cmocka_unit_test(test_compile_dedup_depth),
		cmocka_unit_test(test_compile_slice_port_beside_unit_catch_all),
		cmocka_unit_test(test_compile_dedup_deny_then_id),
		cmocka_unit_test(test_compile_same_key_lowest_id),
		cmocka_unit_test(test_compile_ports_ignored_without_flag),
		cmocka_unit_test(test_compile_icmp),
		cmocka_unit_test(test_compile_icmp_v4_mapped),
		cmocka_unit_test(test_compile_dirs_separate),
		cmocka_unit_test(test_compile_e2big),
		cmocka_unit_test(test_compile_guard_present),
		cmocka_unit_test(test_compile_guard_partial_cover),
		cmocka_unit_test(test_compile_guard_absent),
		cmocka_unit_test(test_compile_guard_per_dir),
		cmocka_unit_test(test_compile_sorted),
		cmocka_unit_test(test_compile_id_bounds),
		cmocka_unit_test(test_compile_invalid),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_decisions_match_semantics),
		cmocka_unit_test(test_path_parse_good),
		cmocka_unit_test(test_path_parse_bad),
		cmocka_unit_test(test_path_parse_lengths),
		cmocka_unit_test(test_access_names),
		cmocka_unit_test(test_family_names),
		cmocka_unit_test(test_harden_parse_format),
		cmocka_unit_test(test_comment_validate),
		cmocka_unit_test(test_text_escape),
		cmocka_unit_test(test_path_compile_empty),
		cmocka_unit_test(test_path_compile_key_bytes),
		cmocka_unit_test(test_path_compile_longest),
		cmocka_unit_test(test_path_compile_boundary),
		cmocka_unit_test(test_path_compile_exec_allow_inside_deny),
		cmocka_unit_test(test_path_compile_file_folding),
		cmocka_unit_test(test_path_compile_depth),
		cmocka_unit_test(test_path_compile_audit),
		cmocka_unit_test(test_path_compile_root),
		cmocka_unit_test(test_path_compile_sorted),
		cmocka_unit_test(test_path_compile_invalid),
		cmocka_unit_test(test_path_decisions_match_semantics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
