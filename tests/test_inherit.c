// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/inherit.c: what a policy cgroup inherits, and aliases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "inherit.h"
#include "unitguard.h"

static struct ug_inherit build(const char *const *paths, size_t n)
{
	struct ug_inherit h;

	assert_int_equal(ug_inherit_build(paths, n, &h), 0);
	return h;
}

static void parents_on_slash_boundaries(void **state)
{
	const char *paths[] = {
		"/system.slice/a.service",      /* 0 */
		"/system.slice",                /* 1 */
		"/system.slice/a.service/inner", /* 2 */
		"/system.slice/ab.service",     /* 3: not below 0 */
		"/system.slice/a-x.service",    /* 4: sorts between 0 and 2 */
		NULL,                           /* 5: placed nowhere */
		"/web.slice/web-app.slice/x.service", /* 6: its slices have no node */
	};
	struct ug_inherit h = build(paths, 7);

	assert_int_equal(h.parent[0], 1);
	assert_int_equal(h.parent[1], -1);
	assert_int_equal(h.parent[2], 0);
	assert_int_equal(h.parent[3], 1);
	assert_int_equal(h.parent[4], 1);
	assert_int_equal(h.parent[5], -1);
	assert_int_equal(h.rep[5], 5);
	assert_int_equal(h.parent[6], -1);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(h.rep[i], i);
	ug_inherit_free(&h);
}

/* Two spellings of one cgroup: every kind of rule and setting merges, each
 * governed by the mode of the target that brought it. */
static void aliases_merge_everything(void **state)
{
	const char *paths[] = { "/s.slice", "/s.slice/d.service", "/s.slice/d.service",
				"/s.slice/d.service/c" };
	struct ug_settings own[4] = {
		[0] = { .mode = UG_MODE_ENFORCE },
		[1] = { .mode = UG_MODE_ENFORCE, .net_rules = true },
		[2] = { .mode = UG_MODE_AUDIT, .harden = UG_HARDEN_BPF, .families = 1ULL << 17,
			.lsm_rules = true, .deny_default = 1u << UG_DIR_INGRESS },
		[3] = { .mode = UG_MODE_ENFORCE },
	};
	struct ug_inherit h = build(paths, 4);
	struct ug_settings e;
	size_t chain[8];
	uint8_t depth[8];

	assert_int_equal(h.rep[1], 1);
	assert_int_equal(h.rep[2], 1);
	assert_int_equal(h.parent[3], 1); /* the group's representative */
	ug_inherit_effective(&h, own, 2, &e);
	/* the network rules are 1's (enforce), the LSM side 2's (audit) */
	assert_int_equal(e.mode, UG_MODE_ENFORCE);
	assert_int_equal(e.lsm_mode, UG_MODE_AUDIT);
	assert_int_equal(e.harden, 0);
	assert_int_equal(e.harden_audit, UG_HARDEN_BPF);
	assert_true(e.families == 0 && e.families_audit == 1ULL << 17);
	assert_true(e.net_rules && e.lsm_rules);
	assert_int_equal(e.deny_default, 0);
	assert_int_equal(e.audit_default, 1u << UG_DIR_INGRESS);
	/* The alias alone would have no network rules: the group has. */
	assert_true(ug_inherit_has_side(&h, own, 2, false));
	assert_true(ug_inherit_topmost(&h, own, 2, false));
	assert_true(ug_inherit_topmost(&h, own, 1, true));
	/* Below the group: both members' rules at depth 1, the slice's at 2. */
	assert_int_equal(ug_inherit_chain(&h, 3, chain, depth, 8), 4);
	assert_int_equal(chain[0], 3);
	assert_int_equal(depth[0], 0);
	assert_int_equal(chain[1], 1);
	assert_int_equal(depth[1], 1);
	assert_int_equal(chain[2], 2);
	assert_int_equal(depth[2], 1);
	assert_int_equal(chain[3], 0);
	assert_int_equal(depth[3], 2);
	ug_inherit_free(&h);
}

/* Settings bind downwards, each by the mode of the cgroup that set it; depths
 * count policy cgroups, not levels. */
static void settings_and_depths(void **state)
{
	const char *paths[] = { "/a", "/a/b/c", "/a/b/c/d/e" };
	struct ug_settings own[3] = {
		[0] = { .mode = UG_MODE_OFF, .deny_default = 1u << UG_DIR_EGRESS },
		[1] = { .mode = UG_MODE_AUDIT, .net_rules = true, .families = 1 },
		[2] = { .mode = UG_MODE_ENFORCE, .harden = UG_HARDEN_MOUNT },
	};
	struct ug_inherit h = build(paths, 3);
	struct ug_settings e;
	size_t chain[4];
	uint8_t depth[4];

	ug_inherit_effective(&h, own, 2, &e);
	/* /a is off: its default deny is not brought; /a/b/c audits its own */
	assert_int_equal(e.mode, UG_MODE_AUDIT);
	assert_int_equal(e.deny_default, 0);
	assert_int_equal(e.audit_default, 0);
	assert_int_equal(e.harden, UG_HARDEN_MOUNT);
	assert_int_equal(e.lsm_mode, UG_MODE_ENFORCE);
	assert_true(e.families == 0 && e.families_audit == 1);
	/* an enforced ancestor's setting stays enforced below a cgroup in audit mode */
	own[0].mode = UG_MODE_ENFORCE;
	own[1].harden = UG_HARDEN_MOUNT | UG_HARDEN_BPF;
	ug_inherit_effective(&h, own, 2, &e);
	assert_int_equal(e.deny_default, 1u << UG_DIR_EGRESS);
	assert_int_equal(e.mode, UG_MODE_ENFORCE);
	assert_int_equal(e.harden, UG_HARDEN_MOUNT);
	assert_int_equal(e.harden_audit, UG_HARDEN_BPF);
	assert_int_equal(ug_inherit_chain(&h, 2, chain, depth, 4), 3);
	assert_int_equal(depth[1], 1);
	assert_int_equal(chain[2], 0);
	assert_int_equal(depth[2], 2);
	assert_int_equal(ug_inherit_chain(&h, 2, chain, depth, 2), -ENOSPC);
	ug_inherit_free(&h);
}

/* A mode alone changes nothing: a cgroup without content of its own (or in
 * mode off) has no policy of its own, and is judged by its ancestor's. */
static void mode_only_sides(void **state)
{
	const char *paths[] = { "/x", "/x/y", "/z" };
	struct ug_settings own[3] = {
		[0] = { .mode = UG_MODE_ENFORCE, .net_rules = true },
		[1] = { .mode = UG_MODE_AUDIT },
		[2] = { .mode = UG_MODE_AUDIT },
	};
	struct ug_inherit h = build(paths, 3);

	assert_false(ug_inherit_has_side(&h, own, 1, false));
	assert_false(ug_inherit_has_side(&h, own, 1, true));
	assert_false(ug_inherit_topmost(&h, own, 1, false));
	assert_true(ug_inherit_topmost(&h, own, 0, false));
	assert_false(ug_inherit_has_side(&h, own, 2, false));
	own[1].net_rules = true;
	assert_true(ug_inherit_has_side(&h, own, 1, false));
	own[1].mode = UG_MODE_OFF;
	assert_false(ug_inherit_has_side(&h, own, 1, false));
	own[0].mode = UG_MODE_OFF;
	assert_false(ug_inherit_has_side(&h, own, 0, false));
	ug_inherit_free(&h);
}

static void root_and_empty(void **state)
{
	const char *paths[] = { "/", "/a" };
	struct ug_inherit h = build(paths, 2);

	assert_int_equal(h.parent[1], 0);
	assert_int_equal(h.parent[0], -1);
	ug_inherit_free(&h);
	h = build(NULL, 0);
	ug_inherit_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parents_on_slash_boundaries),
		cmocka_unit_test(aliases_merge_everything),
		cmocka_unit_test(settings_and_depths),
		cmocka_unit_test(mode_only_sides),
		cmocka_unit_test(root_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
