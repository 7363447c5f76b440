// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/need.c: what a policy needs of the network maps, counted as the
 * agent writes it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "need.h"

static struct ug_rule rule(int64_t id, const char *dir, const char *action, const char *prefix)
{
	struct ug_rule r;

	assert_int_equal(ug_rule_parse(id, dir, action, prefix, NULL, 0, 0, &r, NULL), 0);
	return r;
}

/* A slice's rules count once per policy cgroup below it: each compiles its
 * own trie from its own rules and the slice's. */
static void inherited_rules_count_per_child(void **state)
{
	struct ug_rule slice[] = { rule(1, "egress", "deny", "10.0.0.0/8"),
				   rule(2, "egress", "deny", "172.16.0.0/12") };
	struct ug_rule a[] = { rule(3, "egress", "allow", "10.1.0.0/16") };
	struct ug_rule b[] = { rule(4, "egress", "allow", "10.2.0.0/16") };
	struct ug_need_target t[] = {
		{ "/web.slice", slice, 2, false },
		{ "/web.slice/a.service", a, 1, false },
		{ "/web.slice/b.service", b, 1, false },
	};
	struct ug_need n;

	assert_int_equal(ug_need_net(t, 3, &n, NULL, NULL, 0), 0);
	assert_int_equal(n.groups, 3);
	assert_int_equal(n.tries, 3);
	assert_int_equal(n.entries, 2 + 3 + 3);
	assert_int_equal(n.lists, 0);
	(void)state;
}

/* Children without rules of their own inherit one and the same trie: it is
 * written once. */
static void identical_tries_are_shared(void **state)
{
	struct ug_rule slice[] = { rule(1, "egress", "deny", "10.0.0.0/8") };
	struct ug_need_target t[] = {
		{ "/web.slice", slice, 1, false },
		{ "/web.slice/a.service", NULL, 0, true },
		{ "/web.slice/b.service", NULL, 0, true },
		/* Nothing of its own: no policy cgroup; the slice's decides for it. */
		{ "/web.slice/c.service", NULL, 0, false },
	};
	struct ug_need n;

	assert_int_equal(ug_need_net(t, 4, &n, NULL, NULL, 0), 0);
	assert_int_equal(n.groups, 3);
	assert_int_equal(n.tries, 1);
	assert_int_equal(n.entries, 1);
	(void)state;
}

/* Not placed: its own rules only; a default deny alone is a policy cgroup
 * with an empty trie; targets without network policy need nothing. */
static void unplaced_and_empty(void **state)
{
	struct ug_rule s[] = { rule(1, "egress", "deny", "10.0.0.0/8") };
	struct ug_rule x[] = { rule(2, "ingress", "deny", "192.168.0.0/16"),
			       rule(3, "egress", "deny", "192.168.0.0/16") };
	struct ug_need_target t[] = {
		{ "/web.slice", s, 1, false },
		{ NULL, x, 2, false },
		{ NULL, NULL, 0, true },
		{ NULL, NULL, 0, false },
	};
	struct ug_need n;

	assert_int_equal(ug_need_net(t, 4, &n, NULL, NULL, 0), 0);
	assert_int_equal(n.groups, 3);
	assert_int_equal(n.tries, 3);
	assert_int_equal(n.entries, 1 + 2 + 0);
	(void)state;
}

/* An entry more than one rule can decide points at a list; the same rules
 * give the same list, whatever trie it is in. */
static void lists_are_shared(void **state)
{
	struct ug_rule r[] = { rule(1, "egress", "deny", "10.0.0.0/8"),
			       rule(2, "egress", "allow", "10.1.0.0/16") };
	struct ug_need_target t[] = {
		{ "/x.slice", r, 2, false },
		{ "/x.slice/a.service", NULL, 0, true },
		{ "/y.service", r, 2, false },
	};
	struct ug_need n;

	r[1].has_ports = 1;
	r[1].proto = 6;
	r[1].port_lo = r[1].port_hi = 22;
	assert_int_equal(ug_need_net(t, 3, &n, NULL, NULL, 0), 0);
	assert_int_equal(n.groups, 3);
	assert_int_equal(n.tries, 1);
	assert_int_equal(n.entries, 2);
	assert_int_equal(n.lists, 1);
	(void)state;
}

/* A policy cgroup the compiler refuses: its index and the compiler's words. */
static void compile_error_names_the_target(void **state)
{
	struct ug_rule r[UG_MATCHES_MAX + 1];
	struct ug_need_target t[] = {
		{ "/ok.service", NULL, 0, true },
		{ "/bad.service", r, UG_MATCHES_MAX + 1, false },
	};
	struct ug_need n;
	char why[256] = "";
	size_t bad = 99;

	for (int i = 0; i <= UG_MATCHES_MAX; i++) {
		r[i] = rule(i + 1, "egress", "deny", "10.0.0.0/8");
		r[i].proto = 6;
		r[i].has_ports = 1;
		r[i].port_lo = r[i].port_hi = (uint16_t)(i + 1);
	}
	assert_int_not_equal(ug_need_net(t, 2, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(bad, 1);
	assert_true(why[0] != '\0');
	(void)state;
}

static void rule_parse_refuses_bad_fields(void **state)
{
	struct ug_rule r;
	const char *why = NULL;

	assert_int_equal(ug_rule_parse(1, "exec", "deny", "10.0.0.0/8", NULL, 0, 0, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse(0, "egress", "deny", "10.0.0.0/8", NULL, 0, 0, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse((int64_t)1 << 32, "egress", "deny", "10.0.0.0/8", NULL, 0, 0, &r,
				       &why), -EINVAL);
	assert_int_equal(ug_rule_parse(1, "egress", "deny", "10.0.0.0/8", "icmp", 1, 1, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse(1, "egress", "deny", "10.0.0.0/8", "tcp", 0, 5, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse(1, "egress", "deny", "10.0.0.0/8", "tcp", 9, 5, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse(1, "egress", "deny", "10.0.0.0/33", NULL, 0, 0, &r, &why), -EINVAL);
	assert_int_equal(ug_rule_parse(1, "egress", "deny", "10.0.0.0/8", "tcp", 5, 9, &r, &why), 0);
	assert_int_equal(r.port_lo, 5);
	assert_int_equal(r.port_hi, 9);
	assert_int_equal(r.has_ports, 1);
	(void)state;
}

static void slice_paths(void **state)
{
	char buf[64];

	assert_int_equal(ug_slice_path("a-b-c.slice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a.slice/a-b.slice/a-b-c.slice");
	assert_int_equal(ug_slice_path("-.slice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(ug_slice_path("demo.service", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ug_slice_path("a-b-c.slice", buf, 10), -ENAMETOOLONG);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inherited_rules_count_per_child),
		cmocka_unit_test(identical_tries_are_shared),
		cmocka_unit_test(unplaced_and_empty),
		cmocka_unit_test(lists_are_shared),
		cmocka_unit_test(compile_error_names_the_target),
		cmocka_unit_test(rule_parse_refuses_bad_fields),
		cmocka_unit_test(slice_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
