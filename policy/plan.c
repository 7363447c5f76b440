// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "unitguard.h"

_Static_assert(sizeof(((struct ug_plan_group *)0)->pend_via) == UG_NAME_MAX,
	       "pend_via holds a cgroup directory name as the pending maps do");

bool ug_is_slice_name(const char *name)
{
	size_t n = strlen(name);

	return n > 6 && !strcmp(name + n - 6, ".slice");
}

ssize_t ug_bind_pick(const struct ug_bind_cand *c, size_t n, uint64_t kept_id)
{
	ssize_t one = -ENOENT;
	size_t eligible = 0;

	for (size_t i = 0; i < n; i++) {
		if (c[i].uid != 0 || !c[i].under_slices)
			continue;
		eligible++;
		if (one < 0)
			one = (ssize_t)i;
	}
	if (eligible <= 1)
		return one;
	for (size_t i = 0; i < n; i++)
		if (kept_id && c[i].id == kept_id && c[i].uid == 0 && c[i].under_slices)
			return (ssize_t)i;
	return -ENOTUNIQ;
}

static bool below(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);

	return !strncmp(path, ancestor, n) && path[n] == '/';
}

static const char *last_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * A target whose parent cgroup is not made yet: kept by name only when that
 * parent will be a slice directly below a slice or the root, the grandparent
 * known and a cgroup only systemd makes children in (plan.h, the binding
 * rules). Writes the parent's name to via.
 */
static bool via_slice(const struct ug_plan_target *rt, char *via, size_t len)
{
	const char *name = last_name(rt->loc), *p;
	size_t n;

	if (!rt->grand.id || !rt->grand.path || !rt->grand.systemds ||
	    rt->grand.level != rt->level - 2 || name == rt->loc)
		return false;
	/* The parent's name: the component before the last. */
	for (p = name - 1; p > rt->loc && p[-1] != '/'; p--)
		;
	n = (size_t)(name - 1 - p);
	/* The grandparent must be the cgroup loc names above that parent. */
	if (n + 1 >= len || p == rt->loc || strlen(rt->grand.path) != (size_t)(p - 1 - rt->loc) ||
	    strncmp(rt->grand.path, rt->loc, (size_t)(p - 1 - rt->loc)))
		return false;
	memcpy(via, p, n);
	via[n] = '\0';
	if (ug_is_slice_name(via) &&
	    (!rt->grand.level || ug_is_slice_name(last_name(rt->grand.path))))
		return true;
	via[0] = '\0';
	return false;
}

void ug_plan_free(struct ug_plan *p)
{
	for (size_t g = 0; g < p->n_groups; g++) {
		free(p->groups[g].net.rules);
		free(p->groups[g].lsm.rules);
	}
	free(p->groups);
	free(p->group);
	free(p->points);
	ug_inherit_free(&p->h);
	memset(p, 0, sizeof(*p));
}

/* Rules of group g's policy cgroup: its own and its ancestors', with depths
 * and the mode of the cgroup each came from. */
static int merge(struct ug_plan *p, const struct ug_settings *own, const struct ug_plan_env *env,
		 struct ug_plan_group *g, bool lsm)
{
	struct ug_plan_side *s = lsm ? &g->lsm : &g->net;
	int err = ug_effective_rules(&p->h, own, g->rep, lsm, env->own_rules, env->ctx, &s->rules,
				     &s->n_rules, NULL);

	if (!err)
		p->merged += s->n_rules;
	return err;
}

/*
 * Dirty: a group is dirty when any member is; below a dirty policy cgroup,
 * everything inherits the change; below a gone target, what was inherited
 * from it changes.
 */
static void mark_dirty(const struct ug_plan_target *t, const struct ug_plan_env *env,
		       struct ug_plan *p, bool *dirty)
{
	for (size_t i = 0; i < p->n; i++) {
		dirty[i] = t[i].dirty;
		for (size_t k = 0; k < env->n_gone && !dirty[i] && t[i].loc; k++)
			dirty[i] = env->gone[k] && below(t[i].loc, env->gone[k]);
	}
	for (size_t i = 0; i < p->n; i++)
		if (dirty[i])
			dirty[p->h.rep[i]] = true;
	for (size_t i = 0; i < p->n; i++) {
		ssize_t r = p->h.rep[i];

		for (ssize_t a = p->h.parent[r]; a >= 0 && !dirty[r]; a = p->h.parent[a])
			dirty[r] = dirty[a];
	}
}

struct named {
	const char *name;
	size_t group;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->group < y->group ? -1 : x->group > y->group;
}

/* Kept by name is keyed by the directory name: of the groups that would
 * share one, the first in target order keeps it. */
static int name_conflicts(struct ug_plan *p)
{
	struct named *v = calloc(p->n_groups ?: 1, sizeof(*v));
	size_t m = 0;

	if (!v)
		return -ENOMEM;
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].pend_name)
			v[m++] = (struct named){ p->groups[g].pend_name, g };
	qsort(v, m, sizeof(*v), named_cmp);
	for (size_t k = 1; k < m; k++) {
		if (strcmp(v[k - 1].name, v[k].name))
			continue;
		p->groups[v[k].group].nopend = UG_NOPEND_CONFLICT;
		p->groups[v[k].group].pend_name = NULL;
	}
	free(v);
	return 0;
}

/* Where group g's network programs go: its parent, or itself directly
 * below the root (the whole host never runs them). */
static void add_point(struct ug_plan *p, const struct ug_plan_target *rt, struct ug_plan_group *g)
{
	char via[UG_NAME_MAX];
	const struct ug_plan_cg *at = rt->parent.id && rt->parent.level > 0 ? &rt->parent
				      : rt->parent.id && rt->at.id	     ? &rt->at
									     : NULL;

	/* Its slice not made yet: above it, so that its first instruction
	 * runs the programs. */
	if (!rt->parent.id && rt->grand.level > 0 && via_slice(rt, via, sizeof(via)))
		at = &rt->grand;

	if (!at) {
		g->no_point = true;
		return;
	}
	for (size_t k = 0; k < p->n_points; k++) {
		if (p->points[k].id == at->id) {
			g->point = (ssize_t)k;
			return;
		}
	}
	p->points[p->n_points] = (struct ug_plan_point){ .id = at->id, .path = at->path };
	g->point = (ssize_t)p->n_points++;
}

/*
 * A point below another would make its cgroups run the programs twice: it
 * goes, and its groups are served by the topmost point above it (the one
 * uncovered point it is below). Which are covered is decided over the whole
 * list first, then the list is compacted.
 */
static int prune_points(struct ug_plan *p, const struct ug_plan_target *t)
{
	bool *covered = calloc(p->n_points ?: 1, sizeof(*covered));
	ssize_t *to = calloc(p->n_points ?: 1, sizeof(*to));
	size_t kept = 0;

	if (!covered || !to) {
		free(covered);
		free(to);
		return -ENOMEM;
	}
	for (size_t k = 0; k < p->n_points; k++)
		for (size_t j = 0; j < p->n_points && !covered[k]; j++)
			covered[k] = j != k && below(p->points[k].path, p->points[j].path);
	for (size_t k = 0; k < p->n_points; k++)
		if (!covered[k])
			to[k] = (ssize_t)kept++;
	for (size_t k = 0; k < p->n_points; k++)
		for (size_t j = 0; j < p->n_points && covered[k]; j++)
			if (!covered[j] && below(p->points[k].path, p->points[j].path))
				to[k] = to[j];
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].point >= 0)
			p->groups[g].point = to[p->groups[g].point];
	for (size_t k = 0, m = 0; k < p->n_points; k++)
		if (!covered[k])
			p->points[m++] = p->points[k];
	p->n_points = kept;
	free(covered);
	free(to);
	/* Groups below a point that are not topmost: where their programs are. */
	for (size_t g = 0; g < p->n_groups; g++) {
		const char *loc = t[p->groups[g].rep].loc;

		if (p->groups[g].point >= 0 || !loc)
			continue;
		for (size_t k = 0; k < p->n_points; k++)
			if (!strcmp(loc, p->points[k].path) || below(loc, p->points[k].path))
				p->groups[g].point = (ssize_t)k;
	}
	return 0;
}

/* The family rule that decides family F for group g: of the cgroups whose
 * mode decides it (enforce where F is enforced, else audit), its own
 * (aliases merged, the smallest id), else the nearest ancestor group's. */
static void pick_family_rules(const struct ug_plan_target *t, const struct ug_plan *p,
			 struct ug_plan_group *g)
{
	for (int f = 0; f < 64; f++) {
		uint8_t mode = g->eff.families & (1ULL << f) ? UG_MODE_ENFORCE : UG_MODE_AUDIT;

		for (ssize_t a = (ssize_t)g->rep; a >= 0 && !g->family_rule[f]; a = p->h.parent[a]) {
			for (ssize_t j = p->h.rep[a]; j >= 0; j = p->h.next[j]) {
				uint32_t id = t[j].family_rule ? t[j].family_rule[f] : 0;

				if (id && t[j].own.mode == mode &&
				    (!g->family_rule[f] || id < g->family_rule[f]))
					g->family_rule[f] = id;
			}
		}
	}
}

/* One group: what it has, what it gets, where it is kept by name. */
static void plan_group(const struct ug_plan_target *t, const struct ug_settings *own,
		       const struct ug_plan_env *env, struct ug_plan *p, struct ug_plan_group *g)
{
	const struct ug_plan_target *rt = &t[g->rep];

	g->net.has = ug_inherit_has_side(&p->h, own, g->rep, false);
	g->lsm.has = env->lsm && ug_inherit_has_side(&p->h, own, g->rep, true);
	ug_inherit_effective(&p->h, own, g->rep, &g->eff);
	g->point = -1;
	if (g->net.has && rt->loc && ug_inherit_topmost(&p->h, own, g->rep, false))
		add_point(p, rt, g);
	pick_family_rules(t, p, g);

	g->net.run = g->net.has && rt->running;
	g->lsm.run = g->lsm.has && rt->running;
	if (!g->net.has && !g->lsm.has)
		return;
	if (!rt->loc)
		g->nopend = UG_NOPEND_UNKNOWN;
	else if (!rt->parent.id && !via_slice(rt, g->pend_via, sizeof(g->pend_via)))
		g->nopend = UG_NOPEND_NO_PARENT;
	else if (strlen(last_name(rt->loc)) >= UG_NAME_MAX - 1)
		g->nopend = UG_NOPEND_TOO_LONG;
	else {
		g->pend_name = last_name(rt->loc);
		g->pend_parent = rt->parent.id ?: rt->grand.id;
		g->pend_level = (uint32_t)rt->level;
	}
}

int ug_plan_build(const struct ug_plan_target *t, size_t n, const struct ug_plan_env *env,
		  struct ug_plan *p)
{
	const char **locs = calloc(n ?: 1, sizeof(*locs));
	bool *dirty = calloc(n ?: 1, sizeof(*dirty)), *has_child = calloc(n ?: 1, sizeof(*dirty));
	struct ug_settings *own = calloc(n ?: 1, sizeof(*own));
	int err = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->n = n;
	p->group = calloc(n ?: 1, sizeof(*p->group));
	p->groups = calloc(n ?: 1, sizeof(*p->groups));
	p->points = calloc(n ?: 1, sizeof(*p->points));
	if (!locs || !dirty || !has_child || !own || !p->group || !p->groups || !p->points)
		goto out;
	for (size_t i = 0; i < n; i++) {
		locs[i] = t[i].loc;
		own[i] = t[i].own;
	}
	err = ug_inherit_build(locs, n, &p->h);
	if (err)
		goto out;
	mark_dirty(t, env, p, dirty);
	for (size_t i = 0; i < n; i++)
		if (p->h.parent[i] >= 0)
			has_child[p->h.parent[i]] = true;

	for (size_t i = 0; i < n; i++) {
		struct ug_plan_group *g;

		if (p->h.rep[i] != (ssize_t)i)
			continue;
		g = &p->groups[p->n_groups];
		g->rep = i;
		g->dirty = dirty[i];
		plan_group(t, own, env, p, g);
		for (ssize_t j = (ssize_t)i; j >= 0; j = p->h.next[j])
			p->group[j] = (ssize_t)p->n_groups;
		p->n_groups++;
	}
	err = name_conflicts(p);
	if (!err)
		err = prune_points(p, t);
	if (err)
		goto out;
	for (size_t k = 0; k < p->n_groups; k++) {
		struct ug_plan_group *g = &p->groups[k];

		g->net.pend = g->net.has && g->pend_name;
		g->lsm.pend = g->lsm.has && g->pend_name;
		if (g->dirty && (g->net.run || g->net.pend) && (err = merge(p, own, env, g, false)))
			goto out;
		if (g->dirty && (g->lsm.run || g->lsm.pend) && (err = merge(p, own, env, g, true)))
			goto out;
		/* Rules nothing below inherits are not needed again. */
		if (env->done_with && !has_child[g->rep])
			for (ssize_t j = (ssize_t)g->rep; j >= 0; j = p->h.next[j])
				env->done_with((size_t)j, env->ctx);
	}
out:
	if (err)
		ug_plan_free(p);
	free(locs);
	free(dirty);
	free(has_child);
	free(own);
	return err;
}

const struct ug_plan_group *ug_plan_group_at(const struct ug_plan *p,
					     const struct ug_plan_target *t, uint64_t id)
{
	for (size_t g = 0; g < p->n_groups; g++) {
		const struct ug_plan_target *rt = &t[p->groups[g].rep];

		if (rt->running && rt->at.id == id)
			return &p->groups[g];
	}
	return NULL;
}
