// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/filediff.c: the difference `unitguardctl apply` writes, rows in and changes out, with
 * no store. test_store's test_replace_* check the same through SQL. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "filediff.h"

/* What the store holds in these tests. Ids in order, with gaps, as AUTOINCREMENT leaves. */
static const struct ug_store_unit have_units[] = {
	{ .id = 1, .target = "a.service", .mode = "audit", .default_egress = "allow",
	  .default_ingress = "allow", .harden = "" },
	{ .id = 2, .target = "b.service", .mode = "enforce", .default_egress = "deny",
	  .default_ingress = "allow", .harden = "bpf" },
	{ .id = 5, .target = "web.slice", .mode = "enforce", .default_egress = "allow",
	  .default_ingress = "allow", .harden = "" },
};

static const struct ug_apply_rule have_rules[] = {
	{ 10, { .target = "a.service", .direction = "egress", .action = "deny",
		.prefix = "10.0.0.0/8", .comment = "lan" } },
	{ 11, { .target = "a.service", .direction = "egress", .action = "allow",
		.prefix = "10.1.0.0/16", .proto = "tcp", .port_lo = 443, .port_hi = 443 } },
	{ 13, { .target = "b.service", .direction = "file", .action = "deny",
		.prefix = "/etc/shadow", .access = "read" } },
	{ 14, { .target = "web.slice", .direction = "ingress", .action = "deny",
		.prefix = "::/0" } },
	{ 20, { .target = "a.service", .direction = "bind", .action = "deny",
		.prefix = "0.0.0.0/0", .proto = "udp", .port_lo = 1, .port_hi = 1023 } },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The input that is what the store holds: units as a policy file gives them (defaults left
 * out), the rules in the order stored. */
static const struct ug_store_unit same_units[] = {
	{ .target = "a.service", .mode = "audit" },
	{ .target = "b.service", .default_egress = "deny", .harden = "bpf" },
	{ .target = "web.slice" },
};

static struct ug_store_rule_spec same_rules[N(have_rules)];

static int setup(void **state)
{
	for (size_t i = 0; i < N(have_rules); i++)
		same_rules[i] = have_rules[i].spec;
	return 0;
}

/* The plan's changes, one line each (as test_store's log_change). */
static void describe(const struct ug_store_change *c, char *buf, size_t len)
{
	static const char *const kinds[] = { "unit+", "unit-", "unit~", "rule+", "rule-",
					     "comment~" };
	int n = snprintf(buf, len, "%s %s", kinds[c->kind], c->target);

	if (c->field)
		n += snprintf(buf + n, len - n, " %s", c->field);
	if (c->rule)
		n += snprintf(buf + n, len - n, " %s %s %s", c->rule->direction, c->rule->action,
			      c->rule->prefix);
	if (c->rule_id)
		n += snprintf(buf + n, len - n, " #%lld", (long long)c->rule_id);
	if (c->old_value || c->new_value)
		snprintf(buf + n, len - n, " %s>%s", c->old_value ?: "NULL",
			 c->new_value ?: "NULL");
}

static void assert_changes(const struct ug_apply_plan *p, const char *const *want, size_t n)
{
	char line[256];

	for (size_t i = 0; i < p->n_changes; i++) {
		describe(&p->changes[i], line, sizeof(line));
		if (i >= n)
			fail_msg("unexpected change %zu: %s", i, line);
		if (strcmp(line, want[i]))
			fail_msg("change %zu: '%s', want '%s'", i, line, want[i]);
	}
	if (p->n_changes != n)
		fail_msg("%zu changes, want %zu", p->n_changes, n);
}

static void plan_ok(const struct ug_store_unit *units, size_t n_units,
		    const struct ug_store_rule_spec *rules, size_t n_rules, struct ug_apply_plan *p)
{
	char err[256] = "";

	if (ug_apply_plan(have_units, N(have_units), have_rules, N(have_rules), units, n_units,
			  rules, n_rules, p, err, sizeof(err)))
		fail_msg("plan failed: %s", err);
}

/* Identical input: no change; every rule keeps its id, every unit is written as it is. */
static void identical(void **state)
{
	struct ug_apply_plan p;

	plan_ok(same_units, N(same_units), same_rules, N(same_rules), &p);
	assert_int_equal(p.n_changes, 0);
	for (size_t j = 0; j < N(same_rules); j++)
		assert_int_equal(p.rule_id[j], have_rules[j].id);
	assert_int_equal(p.n_units, 3);
	assert_string_equal(p.units[0].target, "a.service");
	assert_string_equal(p.units[0].set[0], "audit");
	assert_string_equal(p.units[0].set[1], "allow"); /* the default, filled in */
	assert_string_equal(p.units[1].set[3], "bpf");
	assert_string_equal(p.units[p.rule_unit[3]].target, "web.slice");
	ug_apply_plan_free(&p);

	/* Nothing and nothing. */
	assert_int_equal(ug_apply_plan(NULL, 0, NULL, 0, NULL, 0, NULL, 0, &p, NULL, 0), 0);
	assert_int_equal(p.n_changes, 0);
	assert_int_equal(p.n_units, 0);
	ug_apply_plan_free(&p);
	ug_apply_plan_free(NULL);
}

/* The same rules in another order, units left to the rules: still nothing to do, and each
 * rule is paired with its stored self whatever its place. */
static void reordered(void **state)
{
	const struct ug_store_unit units[] = {
		{ .target = "web.slice" },
		{ .target = "b.service", .harden = "bpf", .default_egress = "deny" },
		{ .target = "a.service", .mode = "audit" },
	};
	const size_t perm[] = { 4, 2, 0, 3, 1 };
	struct ug_store_rule_spec rules[N(perm)];
	struct ug_apply_plan p;

	for (size_t j = 0; j < N(perm); j++)
		rules[j] = have_rules[perm[j]].spec;
	plan_ok(units, N(units), rules, N(rules), &p);
	assert_int_equal(p.n_changes, 0);
	for (size_t j = 0; j < N(perm); j++) {
		assert_int_equal(p.rule_id[j], have_rules[perm[j]].id);
		assert_string_equal(p.units[p.rule_unit[j]].target, rules[j].target);
	}
	/* Written in the order of units[]. */
	assert_string_equal(p.units[0].target, "web.slice");
	assert_string_equal(p.units[2].target, "a.service");
	ug_apply_plan_free(&p);
}

/* A rule is its target, direction, action, prefix, proto, ports and access: a difference in
 * any of them makes another rule (the stored one deleted, the wanted one new), a different
 * comment does not. */
static void rule_identity(void **state)
{
	static const char *const fields[] = { "target", "direction", "action", "prefix",
					      "proto", "port_lo", "port_hi", "access" };
	struct ug_store_rule_spec rules[N(have_rules)];
	struct ug_apply_plan p;

	for (size_t f = 0; f < N(fields); f++) {
		/* have_rules[1] (a.service egress allow 10.1.0.0/16 tcp 443) or, for access,
		 * have_rules[2] (the file rule), one field changed. */
		size_t k = f == 7 ? 2 : 1;
		struct ug_store_rule_spec *r = &rules[k];
		size_t adds = 0, dels = 0;

		memcpy(rules, same_rules, sizeof(rules));
		if (f == 0)
			r->target = "b.service";
		else if (f == 1)
			r->direction = "ingress";
		else if (f == 2)
			r->action = "deny";
		else if (f == 3)
			r->prefix = "10.2.0.0/16";
		else if (f == 4)
			r->proto = NULL;
		else if (f == 5)
			r->port_lo = 442;
		else if (f == 6)
			r->port_hi = 444;
		else
			r->access = "any";
		plan_ok(same_units, N(same_units), rules, N(rules), &p);
		for (size_t i = 0; i < p.n_changes; i++) {
			const struct ug_store_change *c = &p.changes[i];

			if (c->kind == UG_CHANGE_RULE_ADD && c->rule == r && !c->rule_id)
				adds++;
			else if (c->kind == UG_CHANGE_RULE_DEL && c->rule_id == have_rules[k].id)
				dels++;
			else
				fail_msg("%s: unexpected change kind %d", fields[f], c->kind);
		}
		if (adds != 1 || dels != 1 || p.n_changes != 2)
			fail_msg("%s: %zu adds, %zu deletes of %zu changes", fields[f], adds, dels,
				 p.n_changes);
		assert_int_equal(p.rule_id[k], 0);
		/* The others keep their ids. */
		for (size_t j = 0; j < N(rules); j++)
			if (j != k)
				assert_int_equal(p.rule_id[j], have_rules[j].id);
		ug_apply_plan_free(&p);
	}
}

/* A changed comment is the same rule: its id stays, the comment is updated in place. */
static void comment_changed(void **state)
{
	struct ug_store_rule_spec rules[N(have_rules)];
	static const char *const want[] = {
		"comment~ a.service egress deny 10.0.0.0/8 #10 lan>LAN",
		"comment~ a.service egress allow 10.1.0.0/16 #11 NULL>https",
	};
	struct ug_apply_plan p;

	memcpy(rules, same_rules, sizeof(rules));
	rules[0].comment = "LAN";
	rules[1].comment = "https";
	plan_ok(same_units, N(same_units), rules, N(rules), &p);
	assert_changes(&p, want, N(want));
	assert_int_equal(p.rule_id[0], 10);
	assert_int_equal(p.rule_id[1], 11);
	/* The change names the wanted rule: its comment is the new one. */
	assert_ptr_equal(p.changes[0].rule, &rules[0]);
	ug_apply_plan_free(&p);

	/* A comment removed. */
	memcpy(rules, same_rules, sizeof(rules));
	rules[0].comment = NULL;
	plan_ok(same_units, N(same_units), rules, N(rules), &p);
	assert_int_equal(p.n_changes, 1);
	assert_int_equal(p.changes[0].kind, UG_CHANGE_RULE_COMMENT);
	assert_string_equal(p.changes[0].old_value, "lan");
	assert_null(p.changes[0].new_value);
	ug_apply_plan_free(&p);
}

/* A unit the input lacks goes, with each of its rules; the others stay as they are. */
static void unit_removed(void **state)
{
	static const char *const want[] = {
		"unit- a.service",
		"rule- a.service egress deny 10.0.0.0/8 #10",
		"rule- a.service egress allow 10.1.0.0/16 #11",
		"rule- a.service bind deny 0.0.0.0/0 #20",
	};
	const struct ug_store_rule_spec rules[] = { same_rules[2], same_rules[3] };
	struct ug_apply_plan p;

	plan_ok(&same_units[1], 2, rules, N(rules), &p);
	assert_changes(&p, want, N(want));
	assert_int_equal(p.n_units, 2);
	assert_string_equal(p.units[0].target, "b.service");
	assert_int_equal(p.rule_id[0], 13);
	assert_int_equal(p.rule_id[1], 14);
	ug_apply_plan_free(&p);
}

/* Rules listed twice are two rules: identical rules pair one to one, the oldest stored with
 * the first wanted. */
static void duplicates(void **state)
{
	const struct ug_store_rule_spec twice[] = { same_rules[0], same_rules[1], same_rules[2],
						    same_rules[3], same_rules[4], same_rules[0] };
	static const char *const want[] = { "rule+ a.service egress deny 10.0.0.0/8" };
	const struct ug_apply_rule dup_have[] = { have_rules[0], { 30, have_rules[0].spec } };
	struct ug_apply_plan p;
	char err[256];

	/* The file lists a stored rule twice: the first keeps its id, the second is new. */
	plan_ok(same_units, N(same_units), twice, N(twice), &p);
	assert_changes(&p, want, N(want));
	assert_int_equal(p.rule_id[0], 10);
	assert_int_equal(p.rule_id[5], 0);
	assert_ptr_equal(p.changes[0].rule, &twice[5]);
	ug_apply_plan_free(&p);

	/* The store holds it twice (ids 10 and 30), the file once: 10 stays, 30 goes. */
	assert_int_equal(ug_apply_plan(have_units, 1, dup_have, 2, same_units, 1, same_rules, 1,
				       &p, err, sizeof(err)),
			 0);
	assert_int_equal(p.n_changes, 1);
	assert_int_equal(p.changes[0].kind, UG_CHANGE_RULE_DEL);
	assert_int_equal(p.changes[0].rule_id, 30);
	assert_int_equal(p.rule_id[0], 10);
	ug_apply_plan_free(&p);

	/* Both twice: both pairs kept, in order. */
	{
		const struct ug_store_rule_spec two[] = { same_rules[0], same_rules[0] };

		assert_int_equal(ug_apply_plan(have_units, 1, dup_have, 2, same_units, 1, two, 2,
					       &p, err, sizeof(err)),
				 0);
		assert_int_equal(p.n_changes, 0);
		assert_int_equal(p.rule_id[0], 10);
		assert_int_equal(p.rule_id[1], 30);
		ug_apply_plan_free(&p);
	}
}

/* Units: settings that differ, new units (and those only rules name), in order: by target;
 * per target the unit, rules deleted, comments, rules added. */
static void units_and_order(void **state)
{
	const struct ug_store_unit units[] = {
		{ .target = "web.slice", .mode = "off" },
		{ .target = "a.service", .mode = "audit", .harden = "ptrace" },
		{ .target = "new.service", .default_ingress = "deny", .mode = "enforce" },
		{ .target = "b.service", .default_egress = "deny", .harden = "bpf" },
	};
	const struct ug_store_rule_spec rules[] = {
		{ .target = "z.service", .direction = "egress", .action = "deny",
		  .prefix = "10.9.0.0/16" },
		same_rules[4],
		{ .target = "a.service", .direction = "egress", .action = "deny",
		  .prefix = "10.0.0.0/8", .comment = "LAN" },
		{ .target = "new.service", .direction = "exec", .action = "deny",
		  .prefix = "/usr/bin/nc" },
		{ .target = "m.service", .direction = "family", .action = "deny",
		  .prefix = "packet" },
		{ .target = "z.service", .direction = "egress", .action = "allow",
		  .prefix = "10.9.1.0/24" },
		same_rules[2],
	};
	static const char *const want[] = {
		"unit~ a.service harden >ptrace",
		"rule- a.service egress allow 10.1.0.0/16 #11",
		"comment~ a.service egress deny 10.0.0.0/8 #10 lan>LAN",
		"unit+ m.service",
		"rule+ m.service family deny packet",
		"unit+ new.service",
		"unit~ new.service default-ingress NULL>deny",
		"rule+ new.service exec deny /usr/bin/nc",
		"unit~ web.slice mode enforce>off",
		"rule- web.slice ingress deny ::/0 #14",
		"unit+ z.service",
		"rule+ z.service egress deny 10.9.0.0/16",
		"rule+ z.service egress allow 10.9.1.0/24",
	};
	/* units[] first, in their order; then the units only rules name, by first rule. */
	static const char *const order[] = { "web.slice", "a.service", "new.service",
					     "b.service", "z.service", "m.service" };
	struct ug_apply_plan p;

	plan_ok(units, N(units), rules, N(rules), &p);
	assert_changes(&p, want, N(want));
	assert_int_equal(p.n_units, N(order));
	for (size_t i = 0; i < N(order); i++)
		assert_string_equal(p.units[i].target, order[i]);
	assert_int_equal(p.units[4].order, N(units) + 0);
	assert_int_equal(p.units[5].order, N(units) + 4);
	assert_string_equal(p.units[4].set[0], "enforce");
	for (size_t j = 0; j < N(rules); j++)
		assert_string_equal(p.units[p.rule_unit[j]].target, rules[j].target);
	assert_int_equal(p.rule_id[1], 20);
	assert_int_equal(p.rule_id[2], 10);
	assert_int_equal(p.rule_id[6], 13);
	ug_apply_plan_free(&p);
}

/* A stored setting that is NULL reads as "" (harden), and a unit whose settings are the
 * defaults is new without any setting to report. */
static void stored_null_setting(void **state)
{
	const struct ug_store_unit have[] = { { .id = 1, .target = "a.service", .mode = "enforce",
						.default_egress = "allow",
						.default_ingress = "allow" } };
	const struct ug_store_unit want[] = { { .target = "a.service" } };
	struct ug_apply_plan p;

	assert_int_equal(ug_apply_plan(have, 1, NULL, 0, want, 1, NULL, 0, &p, NULL, 0), 0);
	assert_int_equal(p.n_changes, 0);
	ug_apply_plan_free(&p);
	assert_int_equal(ug_apply_plan(NULL, 0, NULL, 0, want, 1, NULL, 0, &p, NULL, 0), 0);
	assert_int_equal(p.n_changes, 1);
	assert_int_equal(p.changes[0].kind, UG_CHANGE_UNIT_ADD);
	ug_apply_plan_free(&p);
}

static void bad_input(void **state)
{
	const struct ug_store_unit twice[] = { { .target = "a.service" }, { .target = "b.service" },
					       { .target = "a.service", .mode = "off" } };
	const struct ug_store_unit no_target[] = { { .target = "a.service" }, { .mode = "off" } };
	struct ug_store_rule_spec rule = same_rules[0];
	const struct ug_apply_rule bad_have[] = { { 7, { .target = "a.service" } } };
	struct ug_apply_plan p = { .n_changes = 99 };
	char err[256];

	assert_int_equal(ug_apply_check(twice, 3, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "units[2]: unit a.service is listed twice");
	assert_int_equal(ug_apply_plan(NULL, 0, NULL, 0, twice, 3, NULL, 0, &p, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "units[2]: unit a.service is listed twice");
	assert_int_equal(p.n_changes, 0);
	assert_null(p.changes);
	/* A rule naming a unit units[] has is no second listing. */
	assert_int_equal(ug_apply_check(twice, 2, &rule, 1, err, sizeof(err)), 0);

	assert_int_equal(ug_apply_check(no_target, 2, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "units[1]: no target");
	rule.prefix = NULL;
	assert_int_equal(ug_apply_check(NULL, 0, &rule, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rules[0]: no target, direction, action or prefix");
	assert_int_equal(ug_apply_check(NULL, 1, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(ug_apply_check(NULL, 0, NULL, 1, NULL, 0), -EINVAL);
	assert_int_equal(ug_apply_check(NULL, 0, NULL, 0, NULL, 0), 0);

	/* Stored rows the store would never give. */
	assert_int_equal(ug_apply_plan(NULL, 0, bad_have, 1, NULL, 0, NULL, 0, &p, err,
				       sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "stored rule 7 has no target, direction, action or prefix");
	assert_int_equal(ug_apply_plan(NULL, 1, NULL, 0, NULL, 0, NULL, 0, &p, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ug_apply_plan(NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, err, sizeof(err)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identical),
		cmocka_unit_test(reordered),
		cmocka_unit_test(rule_identity),
		cmocka_unit_test(comment_changed),
		cmocka_unit_test(unit_removed),
		cmocka_unit_test(duplicates),
		cmocka_unit_test(units_and_order),
		cmocka_unit_test(stored_null_setting),
		cmocka_unit_test(bad_input),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
