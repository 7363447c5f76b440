// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/row.c: what one row of the store's rules table is, as the agent
 * (agent/targets.c) and unitguardctl explain/show both read it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <cmocka.h>

#include "effective.h"
#include "row.h"

static struct ug_rule_row net(int64_t id, const char *dir, const char *action, const char *prefix)
{
	return (struct ug_rule_row){
		.id = id, .direction = dir, .action = action, .prefix = prefix
	};
}

static struct ug_rule_row path(int64_t id, const char *kind, const char *action, const char *p,
			       const char *access)
{
	return (struct ug_rule_row){
		.id = id, .direction = kind, .action = action, .prefix = p, .access = access
	};
}

static struct ug_rule_row family(int64_t id, const char *action, const char *name)
{
	return (struct ug_rule_row){
		.id = id, .direction = "family", .action = action, .prefix = name
	};
}

/* -EINVAL from classify, and why as it says. */
static int classify(struct ug_rule_row row, struct ug_row_rule *out, const char **why)
{
	*why = "not reset";
	return ug_rule_row_classify(&row, out, why);
}

static void network_rows_are_network_rules(void **state)
{
	struct ug_rule_row row = net(7, "egress", "deny", "10.0.0.0/8");
	struct ug_row_rule r;
	struct ug_rule want;
	const char *why;

	row.proto = "tcp";
	row.port_lo = 22;
	row.port_hi = 23;
	assert_int_equal(classify(row, &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_NET);
	assert_null(why);
	assert_int_equal(ug_rule_parse(7, "egress", "deny", "10.0.0.0/8", "tcp", 22, 23, &want,
				       NULL), 0);
	assert_memory_equal(&r.net, &want, sizeof(want));
	assert_int_equal(classify(net(8, "bind", "allow", "::/0"), &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_NET);
	assert_int_equal(r.net.dir, UG_DIR_BIND);
	/* invalid, with the parser's reason */
	assert_int_equal(classify(net(7, "egress", "deny", "10.0.0.1/8"), &r, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(classify(net(0, "egress", "deny", "10.0.0.0/8"), &r, &why), -EINVAL);
	/* any direction but exec, file and family is read as a network rule's, and refused */
	assert_int_equal(classify(net(7, "sideways", "deny", "10.0.0.0/8"), &r, &why), -EINVAL);
	assert_int_equal(r.kind, UG_ROW_NET);
	/* no direction: invalid, nothing more to say */
	assert_int_equal(classify(net(7, NULL, "deny", "10.0.0.0/8"), &r, &why), -EINVAL);
	assert_null(why);
}

static void exec_and_file_rows_are_path_rules(void **state)
{
	struct ug_row_rule r;
	const char *why;

	assert_int_equal(classify(path(3, "exec", "allow", "/usr/bin/", NULL), &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_PATH);
	assert_int_equal(r.path.kind, UG_PATH_EXEC);
	assert_int_equal(r.path.action, UG_ACT_ALLOW);
	assert_string_equal(r.path.path, "/usr/bin");
	assert_int_equal(r.path.id, 3);
	assert_int_equal(classify(path(4, "file", "deny", "/etc/shadow", "read"), &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_PATH);
	assert_int_equal(r.path.kind, UG_PATH_FILE);
	assert_int_equal(r.path.access, UG_ACCESS_READ);
	/* a network rule's fields do not make it one */
	assert_int_equal(classify((struct ug_rule_row){ .id = 5, .direction = "exec",
							.action = "deny", .prefix = "/bin",
							.proto = "tcp" }, &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_PATH);
	assert_int_equal(classify(path(4, "file", "allow", "/etc", "read"), &r, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(classify(path(4, "file", "deny", "/etc", NULL), &r, &why), -EINVAL);
	assert_int_equal(classify(path(4, "exec", "deny", "relative", NULL), &r, &why), -EINVAL);
	assert_int_equal(classify(path(4, "exec", "maybe", "/bin", NULL), &r, &why), -EINVAL);
	assert_int_equal(classify(path(0, "exec", "deny", "/bin", NULL), &r, &why), -EINVAL);
}

static void family_rows_deny_a_family(void **state)
{
	struct ug_row_rule r;
	const char *why;

	assert_int_equal(classify(family(9, "deny", "packet"), &r, &why), 0);
	assert_int_equal(r.kind, UG_ROW_FAMILY);
	assert_int_equal(r.family.af, 17);
	assert_int_equal(r.family.rule_id, 9);
	assert_null(why);
	assert_int_equal(classify(family(UINT32_MAX, "deny", "40"), &r, &why), 0);
	assert_int_equal(r.family.af, 40);
	assert_int_equal(r.family.rule_id, UINT32_MAX);
	assert_int_equal(classify(family(9, "deny", "AF_NETLINK"), &r, &why), 0);
	assert_int_equal(r.family.af, 16);
	/* each check: the family, the action, the id; none has a reason of its own */
	assert_int_equal(classify(family(9, "deny", "nosuch"), &r, &why), -EINVAL);
	assert_null(why);
	assert_int_equal(r.kind, UG_ROW_FAMILY);
	assert_int_equal(classify(family(9, "deny", "64"), &r, &why), -EINVAL);
	assert_int_equal(classify(family(9, "deny", NULL), &r, &why), -EINVAL);
	assert_int_equal(classify(family(9, "allow", "packet"), &r, &why), -EINVAL);
	assert_int_equal(classify(family(9, "maybe", "packet"), &r, &why), -EINVAL);
	assert_int_equal(classify(family(9, NULL, "packet"), &r, &why), -EINVAL);
	assert_int_equal(classify(family(0, "deny", "packet"), &r, &why), -EINVAL);
	assert_int_equal(classify(family(-1, "deny", "packet"), &r, &why), -EINVAL);
	assert_int_equal(classify(family((int64_t)UINT32_MAX + 1, "deny", "packet"), &r, &why),
			 -EINVAL);
}

static void own_rules_collect_a_targets_rows(void **state)
{
	struct ug_own_rules o = { 0 };
	struct ug_rule_row row;
	struct ug_settings s = { .mode = UG_MODE_AUDIT };
	const char *why = NULL;
	char prefix[32];

	/* more than the first allocation of each kind, in row order */
	for (int i = 0; i < 40; i++) {
		snprintf(prefix, sizeof(prefix), "10.0.%d.0/24", i);
		row = net(100 + i, "egress", "deny", prefix);
		assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
		snprintf(prefix, sizeof(prefix), "/p/%d", i);
		row = path(200 + i, "exec", "deny", prefix, NULL);
		assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
	}
	assert_int_equal(o.n_rules, 40);
	assert_int_equal(o.n_paths, 40);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(o.rules[i].id, 100 + i);
		assert_int_equal(o.paths[i].id, 200 + i);
	}
	/* a family denied twice: the lowest id names it, whatever the order */
	row = family(30, "deny", "packet");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
	row = family(20, "deny", "packet");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
	row = family(25, "deny", "packet");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
	row = family(5, "deny", "netlink");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), 0);
	assert_int_equal(o.families, 1ULL << 17 | 1ULL << 16);
	assert_int_equal(o.family_rule[17], 20);
	assert_int_equal(o.family_rule[16], 5);
	/* invalid rows are counted, and nothing else changes */
	row = net(1, "egress", "deny", "10.0.0.1/8");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), -EINVAL);
	assert_non_null(why);
	row = family(2, "allow", "vsock");
	assert_int_equal(ug_own_rules_add(&o, &row, &why), -EINVAL);
	row = path(3, "file", "deny", "/etc", NULL);
	assert_int_equal(ug_own_rules_add(&o, &row, &why), -EINVAL);
	assert_int_equal(o.invalid, 3);
	assert_int_equal(o.n_rules, 40);
	assert_int_equal(o.n_paths, 40);
	assert_int_equal(o.families, 1ULL << 17 | 1ULL << 16);
	/* what the rules make of the settings; the rest is left as it was */
	ug_own_rules_settings(&o, &s);
	assert_int_equal(s.families, o.families);
	assert_true(s.net_rules);
	assert_true(s.lsm_rules);
	assert_int_equal(s.mode, UG_MODE_AUDIT);
	ug_own_rules_free(&o);
	assert_null(o.rules);
	assert_int_equal(o.n_rules, 0);
	assert_int_equal(o.invalid, 0);
	ug_own_rules_settings(&o, &s);
	assert_int_equal(s.families, 0);
	assert_false(s.net_rules);
	assert_false(s.lsm_rules);
}

/* UG_RULE_ROW takes every field the classification reads from a store row. */
static void a_store_rows_fields_are_taken(void **state)
{
	/* db/store.h's struct ug_store_rule, as far as the macro sees it */
	struct {
		int64_t id;
		const char *target, *direction, *action, *prefix, *access, *proto;
		uint32_t port_lo, port_hi;
		const char *comment;
	} r = { 7, "demo.service", "egress", "deny", "10.0.0.0/8", "read", "udp", 53, 54, "c" };
	struct ug_rule_row row = UG_RULE_ROW(&r);

	assert_int_equal(row.id, 7);
	assert_string_equal(row.direction, "egress");
	assert_string_equal(row.action, "deny");
	assert_string_equal(row.prefix, "10.0.0.0/8");
	assert_string_equal(row.access, "read");
	assert_string_equal(row.proto, "udp");
	assert_int_equal(row.port_lo, 53);
	assert_int_equal(row.port_hi, 54);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(network_rows_are_network_rules),
		cmocka_unit_test(exec_and_file_rows_are_path_rules),
		cmocka_unit_test(family_rows_deny_a_family),
		cmocka_unit_test(own_rules_collect_a_targets_rows),
		cmocka_unit_test(a_store_rows_fields_are_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
