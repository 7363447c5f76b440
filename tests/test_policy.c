/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

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

static struct ug_rule rule(int64_t id, int dir, int action, int depth, const char *prefix)
{
	struct ug_rule r = {
		.id = id, .dir = (uint8_t)dir, .action = (uint8_t)action, .depth = (uint8_t)depth,
	};

	r.prefix = pfx(prefix);
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
	assert_string_equal(ug_action_name(UG_ACT_DEFAULT), "default");
	assert_string_equal(ug_action_name(2), "unknown");
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
	};

	assert_int_equal(ARRAY_SIZE(hooks), UG_HOOK_MAX);
	for (int h = 0; h < UG_HOOK_MAX; h++)
		assert_string_equal(ug_hook_name(h), hooks[h]);
	assert_string_equal(ug_hook_name(UG_HOOK_CONNECT4), "connect4");
	assert_string_equal(ug_hook_name(UG_HOOK_INGRESS_SKB), "ingress_skb");
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

/* --- compile ---------------------------------------------------------------- */

/* Compile and require success; the caller frees. */
static struct ug_lpm_entry *compile_ok(const struct ug_rule *r, size_t n, size_t *n_out)
{
	struct ug_lpm_entry *out = NULL;

	assert_int_equal(ug_compile(r, n, 0x1234, &out, n_out), 0);
	assert_non_null(out);
	for (size_t i = 0; i < *n_out; i++) {
		assert_int_equal(out[i].key.trie, 0x1234);
		assert_int_equal(out[i].key.pad, 0);
		assert_true(out[i].key.prefixlen >= UG_LPM_HDR_BITS);
		assert_true(out[i].key.prefixlen <= UG_LPM_HDR_BITS + 128);
		assert_int_equal(out[i].val.pad[0] | out[i].val.pad[1] | out[i].val.pad[2], 0);
	}
	return out;
}

static void test_compile_empty(void **state)
{
	struct ug_lpm_entry *out = (struct ug_lpm_entry *)1;
	size_t n = 99;

	assert_int_equal(ug_compile(NULL, 0, 0, &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);
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
	assert_int_equal(e[0].val.rule_id, 1);
	assert_int_equal(e[0].val.action, UG_ACT_ALLOW);

	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 128);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	mapped("10.1.2.3", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	assert_int_equal(e[1].val.rule_id, 2);
	assert_int_equal(e[1].val.action, UG_ACT_DENY);
	free(e);
}

static void test_compile_v4_mapped_bytes(void **state)
{
	const struct ug_rule r[] = { rule(9, UG_DIR_INGRESS, UG_ACT_DENY, 0, "192.168.1.0/24") };
	const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 0 };
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, 1, &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, 32 + 96 + 24);
	assert_int_equal(e[0].key.dir, UG_DIR_INGRESS);
	assert_memory_equal(e[0].key.addr, want, 16);
	assert_int_equal(e[0].val.rule_id, 9);
	free(e);
}

static void test_compile_ipv6_plain(void **state)
{
	const struct ug_rule r[] = { rule(4, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "2001:db8::/32") };
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, 1, &n);

	/* 2000::/3 territory does not cover ::ffff:0:0/96: no guard. */
	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS + 32);
	v6("2001:db8::", a);
	assert_memory_equal(e[0].key.addr, a, 16);
	free(e);
}

static void test_compile_depth_override(void **state)
{
	/* The slice (depth 1) denies with the lower id; the unit's own allow must still win. */
	const struct ug_rule r[] = {
		rule(1, UG_DIR_EGRESS, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(2, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(3, UG_DIR_EGRESS, UG_ACT_DENY, 2, "10.0.0.0/8"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].val.rule_id, 2);
	assert_int_equal(e[0].val.action, UG_ACT_ALLOW);
	free(e);
}

static void test_compile_deny_beats_allow(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_BIND, UG_ACT_ALLOW, 1, "10.0.0.0/8"),
		rule(7, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(5, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
		rule(6, UG_DIR_BIND, UG_ACT_DENY, 1, "10.0.0.0/8"),
	};
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 1);
	assert_int_equal(e[0].key.dir, UG_DIR_BIND);
	assert_int_equal(e[0].val.action, UG_ACT_DENY);
	assert_int_equal(e[0].val.rule_id, 5);
	free(e);
}

static void test_compile_same_action_lowest_id(void **state)
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
	assert_int_equal(e[0].val.rule_id, 3);
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
	assert_int_equal(e[0].val.rule_id, 1);
	assert_int_equal(e[1].key.dir, UG_DIR_INGRESS);
	assert_int_equal(e[1].val.rule_id, 2);
	free(e);
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
	assert_int_equal(e[0].val.rule_id, 4);
	assert_int_equal(e[0].val.action, UG_ACT_DENY);

	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	mapped("0.0.0.0", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	assert_int_equal(e[1].val.rule_id, 0);
	assert_int_equal(e[1].val.action, UG_ACT_DEFAULT);
	free(e);
}

static void test_compile_guard_partial_cover(void **state)
{
	/* ::/1 and ::ffff:0:0/95 also cover the mapped range; 8000::/1 does not. */
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
			if (e[j].val.action == UG_ACT_DEFAULT) {
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
		rule(5, UG_DIR_EGRESS, UG_ACT_ALLOW, 1, "0.0.0.0/0"),
	};
	uint8_t a[16];
	size_t n;
	struct ug_lpm_entry *e = compile_ok(r, ARRAY_SIZE(r), &n);

	assert_int_equal(n, 2);
	assert_int_equal(e[0].key.prefixlen, UG_LPM_HDR_BITS);
	assert_int_equal(e[0].val.rule_id, 4);
	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	mapped("0.0.0.0", a);
	assert_memory_equal(e[1].key.addr, a, 16);
	assert_int_equal(e[1].val.rule_id, 5);
	assert_int_equal(e[1].val.action, UG_ACT_ALLOW);
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
	assert_int_equal(e[0].val.rule_id, 4);
	assert_int_equal(e[1].key.dir, UG_DIR_EGRESS);
	assert_int_equal(e[1].key.prefixlen, UG_LPM_HDR_BITS + 96);
	assert_int_equal(e[1].val.action, UG_ACT_DEFAULT);
	assert_int_equal(e[1].val.rule_id, 0);
	assert_int_equal(e[2].key.dir, UG_DIR_INGRESS);
	assert_int_equal(e[2].val.rule_id, 6);
	assert_int_equal(e[3].key.dir, UG_DIR_INGRESS);
	assert_int_equal(e[3].key.prefixlen, UG_LPM_HDR_BITS + 96);
	assert_int_equal(e[3].val.rule_id, 5);
	assert_int_equal(e[3].val.action, UG_ACT_ALLOW);
	free(e);
}

static void test_compile_sorted(void **state)
{
	const struct ug_rule r[] = {
		rule(1, UG_DIR_BIND, UG_ACT_ALLOW, 0, "10.0.0.0/8"),
		rule(2, UG_DIR_EGRESS, UG_ACT_DENY, 0, "192.168.0.0/16"),
		rule(3, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/16"),
		rule(4, UG_DIR_EGRESS, UG_ACT_DENY, 0, "2001:db8::/32"),
		rule(5, UG_DIR_INGRESS, UG_ACT_DENY, 0, "10.0.0.1"),
		rule(6, UG_DIR_EGRESS, UG_ACT_DENY, 0, "10.0.0.0/8"),
	};
	/* dir, then prefixlen, then address bytes. */
	static const uint32_t want_ids[] = { 4, 6, 3, 2, 5, 1 };
	struct ug_rule rev[ARRAY_SIZE(r)];
	struct ug_lpm_entry *e, *e2;
	size_t n, n2;

	e = compile_ok(r, ARRAY_SIZE(r), &n);
	assert_int_equal(n, ARRAY_SIZE(want_ids));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(e[i].val.rule_id, want_ids[i]);

	/* Input order must not matter. */
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
	assert_int_equal(e[0].val.rule_id, UINT32_MAX);
	free(e);
}

static void test_compile_invalid(void **state)
{
	const struct ug_rule good = rule(1, UG_DIR_EGRESS, UG_ACT_ALLOW, 0, "10.0.0.0/8");
	struct ug_lpm_entry *out = NULL;
	size_t n = 0;

	for (int i = 0; i < 11; i++) {
		/* The bad rule after a good one: nothing half-done leaks out. */
		struct ug_rule pair[2] = { good, good };
		struct ug_rule *b = &pair[1];

		switch (i) {
		case 0: b->id = 0; break;
		case 1: b->id = -1; break;
		case 2: b->id = (int64_t)UINT32_MAX + 1; break;
		case 3: b->dir = UG_DIR_MAX; break;
		case 4: b->action = 2; break;
		case 5: b->action = UG_ACT_DEFAULT; break;
		case 6: b->prefix.family = 0; break;
		case 7: b->prefix.len = 33; break;
		case 8: b->prefix = pfx("::/0"); b->prefix.len = 129; break;
		case 9: b->prefix.addr[3] = 1; break; /* host bits */
		case 10: b->prefix = pfx("::/0"); b->prefix.addr[15] = 1; break;
		}
		out = (struct ug_lpm_entry *)1;
		n = 99;
		if (ug_compile(pair, 2, 0, &out, &n) != -EINVAL)
			fail_msg("bad rule %d accepted", i);
		assert_null(out);
		assert_int_equal(n, 0);
	}

	assert_int_equal(ug_compile(NULL, 1, 0, &out, &n), -EINVAL);
	assert_int_equal(ug_compile(&good, 1, 0, NULL, &n), -EINVAL);
	assert_int_equal(ug_compile(&good, 1, 0, &out, NULL), -EINVAL);
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
		cmocka_unit_test(test_compile_empty),
		cmocka_unit_test(test_compile_longest_prefix),
		cmocka_unit_test(test_compile_v4_mapped_bytes),
		cmocka_unit_test(test_compile_ipv6_plain),
		cmocka_unit_test(test_compile_depth_override),
		cmocka_unit_test(test_compile_deny_beats_allow),
		cmocka_unit_test(test_compile_same_action_lowest_id),
		cmocka_unit_test(test_compile_dirs_separate),
		cmocka_unit_test(test_compile_guard_present),
		cmocka_unit_test(test_compile_guard_partial_cover),
		cmocka_unit_test(test_compile_guard_absent),
		cmocka_unit_test(test_compile_guard_per_dir),
		cmocka_unit_test(test_compile_sorted),
		cmocka_unit_test(test_compile_id_bounds),
		cmocka_unit_test(test_compile_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
