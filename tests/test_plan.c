// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/plan.c: binding, placement, inheritance and what is kept by name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "unitguard.h"

/* --- binding: which cgroup of a unit's name is the unit's ------------------ */

static void bind_only_roots_cgroup_below_slices(void **state)
{
	struct ug_bind_cand c[] = {
		{ .id = 10, .path = "/r/system.slice/a.service/b.service", .uid = 0 },
		{ .id = 11, .path = "/r/u.slice/b.service", .uid = 1000, .under_slices = true },
		{ .id = 12, .path = "/r/system.slice/b.service", .uid = 0, .under_slices = true },
	};

	assert_int_equal(ug_bind_pick(c, 3, 0), 2);
	/* Not below slices (a child of another unit), or not root's: none. */
	assert_int_equal(ug_bind_pick(c, 2, 0), -ENOENT);
	/* However many there are. */
	assert_int_equal(ug_bind_pick(NULL, 0, 0), -ENOENT);
}

static void bind_two_eligible_keep_the_one_it_had(void **state)
{
	struct ug_bind_cand c[] = {
		{ .id = 20, .path = "/r/b.service", .uid = 0, .under_slices = true },
		{ .id = 21, .path = "/r/x.slice/b.service", .uid = 0, .under_slices = true },
		{ .id = 22, .path = "/r/x.slice/a.service/b.service", .uid = 0 },
	};

	assert_int_equal(ug_bind_pick(c, 3, 0), -ENOTUNIQ);
	assert_int_equal(ug_bind_pick(c, 3, 21), 1);
	/* What it had is kept only if it could be the unit's. */
	assert_int_equal(ug_bind_pick(c, 3, 22), -ENOTUNIQ);
	assert_true(ug_is_slice_name("x.slice"));
	assert_false(ug_is_slice_name(".slice"));
	assert_false(ug_is_slice_name("x.slice.service"));
}

/* --- plans ---------------------------------------------------------------- */

struct fixture {
	struct ug_plan_target t[8];
	struct ug_rule rules[8][2];
	size_t n_rules[8];
	uint32_t family[8][64];
	unsigned done[8];
	size_t n;
};

static int own_rules(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	struct fixture *f = ctx;

	*rules = lsm ? NULL : f->rules[j];
	*n = lsm ? 0 : f->n_rules[j];
	return 0;
}

static void done_with(size_t j, void *ctx)
{
	struct fixture *f = ctx;

	f->done[j]++;
}

/* Target i: name, where, its parent; one network rule (id 100 + i) unless
 * rules is false. */
static struct ug_plan_target *add(struct fixture *f, const char *name, const char *loc,
				  bool running, uint64_t id, uint64_t parent, bool rules)
{
	size_t i = f->n++;
	struct ug_plan_target *t = &f->t[i];
	int level = 0;

	for (const char *p = loc ? loc + 2 : ""; *p; p++) /* below "/r" */
		level += *p == '/';
	*t = (struct ug_plan_target){
		.name = name, .loc = loc, .running = running, .level = level, .dirty = true,
		.family_rule = f->family[i],
		.at = { .id = running ? id : 0, .level = level, .path = loc },
		.parent = { .id = parent, .level = level - 1 },
	};
	if (loc && parent) {
		static char parents[8][128];

		snprintf(parents[i], sizeof(parents[i]), "%s", loc);
		*strrchr(parents[i], '/') = '\0';
		t->parent.path = parents[i];
	}
	if (rules) {
		t->own.net_rules = true;
		f->rules[i][0] = (struct ug_rule){ .id = 100 + (int64_t)i, .action = UG_ACT_DENY };
		f->n_rules[i] = 1;
	}
	return t;
}

static void plan(struct fixture *f, struct ug_plan *p, bool lsm)
{
	struct ug_plan_env env = { .lsm = lsm, .own_rules = own_rules, .done_with = done_with,
				   .ctx = f };

	assert_int_equal(ug_plan_build(f->t, f->n, &env, p), 0);
}

static const struct ug_plan_group *group_of(const struct ug_plan *p, size_t i)
{
	assert_true(p->group[i] >= 0);
	return &p->groups[p->group[i]];
}

/* A running unit: in force at its cgroup, kept by name bound to its slice,
 * programs at the slice. */
static void running_unit(void **state)
{
	struct fixture f = {};
	struct ug_plan p;
	const struct ug_plan_group *g;

	add(&f, "a.service", "/r/system.slice/a.service", true, 30, 3, true);
	plan(&f, &p, true);
	g = group_of(&p, 0);
	assert_true(g->net.has && g->net.run && g->net.pend);
	assert_false(g->lsm.has);
	assert_string_equal(g->pend_name, "a.service");
	assert_int_equal(g->pend_parent, 3);
	assert_int_equal(g->pend_level, 2);
	assert_int_equal(g->nopend, UG_NOPEND_NONE);
	assert_int_equal(p.n_points, 1);
	assert_int_equal(p.points[0].id, 3);
	assert_int_equal(g->point, 0);
	assert_int_equal(g->net.n_rules, 1);
	assert_int_equal(((struct ug_rule *)g->net.rules)[0].id, 100);
	assert_int_equal(f.done[0], 1);
	ug_plan_free(&p);
}

/* Not running: kept by name only where the parent it will be made in is
 * known and exists. */
static void not_running_binds_its_parent(void **state)
{
	struct fixture f = {};
	struct ug_plan p;

	add(&f, "b.service", "/r/system.slice/b.service", false, 0, 3, true);
	add(&f, "c.service", NULL, false, 0, 0, true);                  /* never placed */
	add(&f, "d.service", "/r/new.slice/d.service", false, 0, 0, true); /* slice not made */
	plan(&f, &p, false);
	assert_true(group_of(&p, 0)->net.pend);
	assert_false(group_of(&p, 0)->net.run);
	assert_int_equal(group_of(&p, 0)->pend_parent, 3);
	assert_int_equal(group_of(&p, 0)->point, 0);
	assert_false(group_of(&p, 1)->net.pend);
	assert_int_equal(group_of(&p, 1)->nopend, UG_NOPEND_UNKNOWN);
	assert_int_equal(group_of(&p, 1)->point, -1);
	assert_false(group_of(&p, 2)->net.pend);
	assert_int_equal(group_of(&p, 2)->nopend, UG_NOPEND_NO_PARENT);
	assert_true(group_of(&p, 2)->no_point);
	/* Nothing kept by name and nothing running: no rules read. */
	assert_null(group_of(&p, 1)->net.rules);
	for (size_t g = 0; g < p.n_groups; g++)
		assert_true(!p.groups[g].net.pend || p.groups[g].pend_parent);
	ug_plan_free(&p);
}

/* A parent not made yet (a template instance's slice): kept by name, naming
 * the grandparent and the slice's name, only where that parent will be a
 * slice directly below a slice or the root; anything else is not kept. */
static void parent_not_made_yet_via_its_slice(void **state)
{
	static const struct ug_plan_cg sys = { .id = 3, .level = 1, .path = "/r/system.slice",
					       .systemds = true };
	static const struct ug_plan_cg root = { .id = 1, .level = 0, .path = "/r",
						.systemds = true };
	static const struct ug_plan_cg unit = { .id = 7, .level = 1, .path = "/r/u.service" };
	/* A slice a delegated user or a container's own systemd made. */
	static const struct ug_plan_cg theirs = { .id = 8, .level = 1, .path = "/r/t.slice" };
	struct fixture f = {};
	struct ug_plan p;

	add(&f, "e@1.service", "/r/system.slice/system-e.slice/e@1.service", false, 0, 0, true)
		->grand = sys;
	add(&f, "h.service", "/r/x.slice/h.service", false, 0, 0, true)->grand = root;
	/* The parent would be a unit's cgroup, which may be delegated. */
	add(&f, "c.service", "/r/system.slice/f.service/c.service", false, 0, 0, true)->grand = sys;
	/* The grandparent is not a slice: a unit's, maybe delegated. */
	add(&f, "g.service", "/r/u.service/x.slice/g.service", false, 0, 0, true)->grand = unit;
	/* A grandparent that is not where loc says (stale index): nothing. */
	add(&f, "i.service", "/r/a.slice/b.slice/i.service", false, 0, 0, true)->grand = sys;
	add(&f, "j.service", "/r/t.slice/x.slice/j.service", false, 0, 0, true)->grand = theirs;
	/* A slice name the kernel's copy could cut (UG_NAME_MAX - 1 bytes). */
	static char long_via[UG_NAME_MAX + 64];
	memcpy(long_via, "/r/system.slice/", 16);
	memset(long_via + 16, 'z', UG_NAME_MAX - 1 - 6);
	memcpy(long_via + 16 + UG_NAME_MAX - 1 - 6, ".slice/k.service", 17);
	add(&f, "k.service", long_via, false, 0, 0, true)->grand = sys;
	plan(&f, &p, false);
	assert_true(group_of(&p, 0)->net.pend);
	assert_string_equal(group_of(&p, 0)->pend_name, "e@1.service");
	assert_int_equal(group_of(&p, 0)->pend_parent, 3);
	assert_string_equal(group_of(&p, 0)->pend_via, "system-e.slice");
	assert_int_equal(group_of(&p, 0)->pend_level, 3);
	/* Its programs above its slice-to-be, at system.slice. */
	assert_true(group_of(&p, 0)->point >= 0);
	assert_int_equal(p.points[group_of(&p, 0)->point].id, 3);
	assert_true(group_of(&p, 1)->net.pend);
	assert_int_equal(group_of(&p, 1)->pend_parent, 1);
	assert_string_equal(group_of(&p, 1)->pend_via, "x.slice");
	for (size_t i = 2; i < 7; i++) {
		assert_false(group_of(&p, i)->net.pend);
		assert_int_equal(group_of(&p, i)->nopend, UG_NOPEND_NO_PARENT);
		assert_string_equal(group_of(&p, i)->pend_via, "");
	}
	ug_plan_free(&p);

	/* Once the slice is made, the entry names it directly. */
	f.t[0].parent = (struct ug_plan_cg){ .id = 9, .level = 2,
					     .path = "/r/system.slice/system-e.slice" };
	plan(&f, &p, false);
	assert_int_equal(group_of(&p, 0)->pend_parent, 9);
	assert_string_equal(group_of(&p, 0)->pend_via, "");
	ug_plan_free(&p);
}

/* Two cgroups of one name (a path target's and a unit's): the first keeps
 * the name; a name too long for the map is not kept. */
static void by_name_conflicts_and_length(void **state)
{
	static char long_name[UG_NAME_MAX + 16];
	static char long_loc[UG_NAME_MAX + 64];
	struct fixture f = {};
	struct ug_plan p;

	memset(long_name, 'x', sizeof(long_name) - 1);
	memcpy(long_name + sizeof(long_name) - 9, ".service", 9);
	snprintf(long_loc, sizeof(long_loc), "/r/system.slice/%s", long_name);
	add(&f, "/x.slice/k.service", "/r/x.slice/k.service", false, 0, 5, true);
	add(&f, "k.service", "/r/system.slice/k.service", false, 0, 3, true);
	add(&f, long_name, long_loc, false, 0, 3, true);
	/* The kernel's copy of a name of UG_NAME_MAX - 1 bytes or more may be
	 * cut, so it would match longer ones: the longest kept is one less. */
	static char edge[2][UG_NAME_MAX], edge_loc[2][2 * UG_NAME_MAX + 32];
	for (int k = 0; k < 2; k++) {
		size_t len = UG_NAME_MAX - 1 - (size_t)k; /* 127, then 126 */

		memset(edge[k], 'y', len);
		memcpy(edge[k] + len - 8, ".service", 8);
		snprintf(edge_loc[k], sizeof(edge_loc[k]), "/r/system.slice/%s", edge[k]);
		add(&f, edge[k], edge_loc[k], false, 0, 3, true);
	}
	plan(&f, &p, false);
	assert_true(group_of(&p, 0)->net.pend);
	assert_false(group_of(&p, 1)->net.pend);
	assert_int_equal(group_of(&p, 1)->nopend, UG_NOPEND_CONFLICT);
	assert_int_equal(group_of(&p, 2)->nopend, UG_NOPEND_TOO_LONG);
	assert_int_equal(group_of(&p, 3)->nopend, UG_NOPEND_TOO_LONG);
	assert_true(group_of(&p, 4)->net.pend);
	assert_int_equal(strlen(group_of(&p, 4)->pend_name), UG_NAME_MAX - 2);
	ug_plan_free(&p);
}

/* Aliases are one group; a unit below a slice inherits its rules; a clean
 * group is kept (no rules read), a dirty ancestor makes it dirty. */
static void aliases_inheritance_and_dirt(void **state)
{
	struct fixture f = {};
	struct ug_plan p;
	const struct ug_plan_group *g;
	const struct ug_rule *r;

	add(&f, "/web.slice/w.service", "/r/web.slice/w.service", true, 40, 4, true);
	add(&f, "w.service", "/r/web.slice/w.service", true, 40, 4, true);
	add(&f, "web.slice", "/r/web.slice", true, 4, 1, true);
	for (size_t i = 0; i < f.n; i++)
		f.t[i].dirty = false;
	plan(&f, &p, false);
	assert_int_equal(p.n_groups, 2);
	assert_int_equal(p.group[0], p.group[1]);
	assert_false(group_of(&p, 0)->dirty);
	assert_null(group_of(&p, 0)->net.rules);
	assert_false(group_of(&p, 2)->dirty);
	ug_plan_free(&p);

	f.t[2].dirty = true; /* the slice changed */
	plan(&f, &p, false);
	g = group_of(&p, 1);
	assert_true(g->dirty);
	assert_int_equal(g->net.n_rules, 3);
	r = g->net.rules;
	assert_int_equal(r[0].id, 100);
	assert_int_equal(r[0].depth, 0);
	assert_int_equal(r[1].id, 101);
	assert_int_equal(r[1].depth, 0);
	assert_int_equal(r[2].id, 102);
	assert_int_equal(r[2].depth, 1);
	/* The slice is at level 1: its programs go on itself; the unit is
	 * served by the slice's point. */
	assert_int_equal(p.n_points, 1);
	assert_int_equal(p.points[0].id, 4);
	assert_int_equal(g->point, 0);
	ug_plan_free(&p);

	f.t[2].dirty = false; /* a target gone from above the unit */
	{
		const char *gone[] = { "/r/web.slice" };
		struct ug_plan_env env = { .own_rules = own_rules, .ctx = &f, .gone = gone,
					   .n_gone = 1 };

		f.n = 2;
		assert_int_equal(ug_plan_build(f.t, f.n, &env, &p), 0);
		assert_true(group_of(&p, 0)->dirty);
		ug_plan_free(&p);
	}
}

/* Points below other points go; their groups run the upper one's programs. */
static void nested_points_prune(void **state)
{
	struct fixture f = {};
	struct ug_plan p;

	add(&f, "aa.service", "/r/u.slice/sub.slice/aa.service", true, 50, 6, true);
	add(&f, "bb.service", "/r/u.slice/bb.service", true, 51, 5, true);
	add(&f, "cc.service", "/r/v.slice/cc.service", true, 52, 7, true);
	plan(&f, &p, false);
	assert_int_equal(p.n_points, 2);
	assert_int_equal(p.points[group_of(&p, 0)->point].id, 5);
	assert_int_equal(p.points[group_of(&p, 1)->point].id, 5);
	assert_int_equal(p.points[group_of(&p, 2)->point].id, 7);
	ug_plan_free(&p);
}

/* Family rules: the own (smallest id of its aliases), else the nearest
 * ancestor's. Without BPF LSM, no LSM side. */
static void family_rules_and_lsm(void **state)
{
	struct fixture f = {};
	struct ug_plan p;

	add(&f, "s.slice", "/r/s.slice", true, 8, 1, false);
	add(&f, "u.service", "/r/s.slice/u.service", true, 80, 8, false);
	add(&f, "/s.slice/u.service", "/r/s.slice/u.service", true, 80, 8, false);
	f.family[0][10] = 7;
	f.family[0][16] = 9;
	f.family[1][16] = 11;
	f.family[2][16] = 12;
	f.t[0].own.families = 1ULL << 10 | 1ULL << 16;
	f.t[1].own.families = 1ULL << 16;
	f.t[2].own.families = 1ULL << 16;
	plan(&f, &p, true);
	assert_int_equal(group_of(&p, 1)->family_rule[16], 11);
	assert_int_equal(group_of(&p, 1)->family_rule[10], 7);
	assert_int_equal(group_of(&p, 0)->family_rule[16], 9);
	assert_true(group_of(&p, 1)->lsm.has && group_of(&p, 1)->lsm.run);
	assert_ptr_equal(ug_plan_group_at(&p, f.t, 80), group_of(&p, 1));
	assert_null(ug_plan_group_at(&p, f.t, 81));
	ug_plan_free(&p);
	plan(&f, &p, false);
	assert_false(group_of(&p, 1)->lsm.has);
	assert_false(group_of(&p, 1)->lsm.run);
	ug_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bind_only_roots_cgroup_below_slices),
		cmocka_unit_test(bind_two_eligible_keep_the_one_it_had),
		cmocka_unit_test(running_unit),
		cmocka_unit_test(not_running_binds_its_parent),
		cmocka_unit_test(parent_not_made_yet_via_its_slice),
		cmocka_unit_test(by_name_conflicts_and_length),
		cmocka_unit_test(aliases_inheritance_and_dirt),
		cmocka_unit_test(nested_points_prune),
		cmocka_unit_test(family_rules_and_lsm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
