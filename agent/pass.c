// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One pass: the store read (storewatch.c), every target placed (resolve.c),
 * the facts gathered for the planner (policy/plan.c, pure: what should be
 * enforced where), the plan applied (apply.c: the loaders) and reported
 * (report.c: status rows), then the acknowledgement the CLI waits for.
 *
 * Fail static: a pass never removes a cgroup's policy because something
 * could not be read or asked. The store unreadable: the pass changes nothing
 * in the kernel. A target whose place cannot be told: it keeps the cgroup it
 * had (resolve.c). Only a fact removes policy: the rules were deleted, or the
 * cgroup is gone.
 *
 * Cost: a pass recompiles only the targets that changed (their rules, their
 * settings, where they are) and those below them; the others are handed to
 * the loaders as "keep", without reading their rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "agent.h"
#include "apply.h"
#include "log.h"
#include "metrics.h"
#include "pass.h"
#include "plan.h"
#include "report.h"
#include "util.h"

void pass_schedule(struct agent *ag)
{
	if (ag->ps.src)
		sd_event_source_set_enabled(ag->ps.src, SD_EVENT_ONESHOT);
}

void pass_recompile_all(struct agent *ag)
{
	ag->ps.all_dirty = true;
	ag->sw.dirty = true;
	pass_schedule(ag);
}

void pass_rewrite_status(struct agent *ag)
{
	ag->ps.status_dirty = true;
	pass_schedule(ag);
}

void pass_free(struct passes *ps)
{
	free(ps->families);
	ps->families = NULL;
	ps->n_families = 0;
}

/*
 * The places the last agent reported (status rows), for targets that cannot
 * be placed yet: after a restart, until systemd answers (or with a second
 * cgroup of a unit's name), a unit keeps the cgroup it had, if that cgroup
 * is still there with the same id; the kernel keeps enforcing on it.
 */
static int seed_row(const struct ug_store_status *s, void *ctx)
{
	struct agent *ag = ctx;
	struct target *t = targets_find(&ag->sw.ts, s->target);
	const struct ug_cgnode *n;

	if (!t || t->w.path || !s->cgroup || !s->cgroup_id)
		return 0;
	n = ug_cgindex_by_id(ug_resolver_index(ag->res), s->cgroup_id);
	if (!n || strcmp(n->path, s->cgroup))
		return 0;
	t->w.path = strdup(n->path);
	t->w.future = strdup(n->path);
	t->w.id = n->id;
	t->w.level = n->level;
	t->w.err = t->w.path ? 0 : -ENOENT;
	t->w.kept = true;
	t->w.stale = true;
	return 0;
}

static void seed_from_status(struct agent *ag)
{
	if (ug_store_status_list(ag->st, seed_row, ag))
		ug_log(LOG_WARNING, "agent: cannot read the last status (%s): units systemd or the "
		       "cgroup tree cannot place at once are NOT enforced until they can be",
		       ug_store_errmsg(ag->st));
}

/* --- facts for the planner ---------------------------------------------------- */

static struct ug_plan_cg cg_of(const struct ug_cgnode *n)
{
	return n ? (struct ug_plan_cg){ .id = n->id, .level = n->level, .path = n->path }
		 : (struct ug_plan_cg){ 0 };
}

/* The parent cgroup of path, from the index; NULL when it is not there. */
static const struct ug_cgnode *parent_node(const struct ug_cgindex *idx, const char *path)
{
	char dir[PATH_MAX];
	char *s;

	snprintf(dir, sizeof(dir), "%s", path);
	s = strrchr(dir, '/');
	if (!s)
		return NULL;
	*s = '\0';
	return ug_cgindex_by_path(idx, dir);
}

static int levels_below(const char *root, const char *path)
{
	int level = 0;

	for (const char *p = path + strlen(root); *p; p++)
		if (*p == '/' && p[1])
			level++;
	return level;
}

/* Target t placed now (resolve.c), and what the planner needs to know of it. */
static void gather(struct agent *ag, struct target *t, struct ug_plan_target *pt)
{
	const struct ug_cgindex *idx = ug_resolver_index(ag->res);
	const struct ug_cgnode *parent;
	const char *loc;
	bool moved;

	ug_resolve(ag->res, t);
	loc = t->w.path ?: t->w.future;
	parent = loc ? parent_node(idx, loc) : NULL;
	*pt = (struct ug_plan_target){
		.name = t->name,
		.own = t->own,
		.family_rule = t->family_rule,
		.running = t->w.path != NULL,
		.loc = loc,
		.level = loc ? levels_below(ag->cgroot, loc) : 0,
		.parent = cg_of(parent),
	};
	if (loc && !parent) {
		char dir[PATH_MAX];
		char *s;

		snprintf(dir, sizeof(dir), "%s", loc);
		s = strrchr(dir, '/');
		if (s) {
			const struct ug_cgnode *g;

			*s = '\0';
			g = parent_node(idx, dir);
			pt->grand = cg_of(g);
			pt->grand.systemds = g && !g->uid && !g->delegated &&
					     ug_under_slices(idx, g);
		}
	}
	if (t->w.path)
		pt->at = (struct ug_plan_cg){ .id = t->w.id, .level = t->w.level, .path = t->w.path };
	else if (loc)
		pt->at = cg_of(ug_cgindex_by_path(idx, loc));
	/* Moved since the last pass (answers also arrive between passes): its
	 * cgroup, where it will be, or the id of its parent. */
	moved = t->last_id != t->w.id || t->last_parent != (pt->parent.id ?: pt->grand.id) ||
		!((!t->last_loc && !loc) || (t->last_loc && loc && !strcmp(t->last_loc, loc)));
	if (moved) {
		free(t->last_loc);
		t->last_loc = loc ? strdup(loc) : NULL;
		t->last_id = t->w.id;
		t->last_parent = pt->parent.id ?: pt->grand.id;
	}
	/* A refused or failed policy is tried again; so is everything once the
	 * loaders had an error they could not pin on a unit. */
	pt->dirty = ag->ps.all_dirty || t->changed || moved || t->state == UG_STATE_REFUSED ||
		    t->state < 0;
}

/* A target's own rules, loaded on demand (freed once nothing needs them). */
static int load_own_rules(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	struct agent *ag = ctx;
	struct target *t = ag->sw.ts.v[j];
	int err = targets_rules(&ag->sw.ts, ag->st, t);

	if (err)
		return err;
	*rules = lsm ? (const void *)t->paths : (const void *)t->rules;
	*n = lsm ? t->n_paths : t->n_net;
	return 0;
}

static void unload_rules(size_t j, void *ctx)
{
	struct agent *ag = ctx;

	targets_unload(ag->sw.ts.v[j]);
}

/* The family rules of each running policy cgroup, for the audit. */
static void keep_family_rules(struct agent *ag, const struct ug_plan *p,
			      const struct ug_plan_target *pt)
{
	struct family_rules *v = calloc(p->n_groups ?: 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return; /* the audit names the last table's rules */
	for (size_t g = 0; g < p->n_groups; g++) {
		const struct ug_plan_target *rt = &pt[p->groups[g].rep];

		if (!rt->running)
			continue;
		v[n].cgid = rt->at.id;
		memcpy(v[n++].rule, p->groups[g].family_rule, sizeof(v->rule));
	}
	free(ag->ps.families);
	ag->ps.families = v;
	ag->ps.n_families = n;
}

/* --- the pass ------------------------------------------------------------------- */

/* Status rows that changed and the acknowledgement, in one transaction. */
static void commit(struct agent *ag, const struct report_in *in, int64_t ack)
{
	struct passes *ps = &ag->ps;
	struct storewatch *sw = &ag->sw;
	struct ug_store_status *rows = calloc(in->plan->n ?: 1, sizeof(*rows));
	char (*reasons)[UG_REASON_MAX] = calloc(in->plan->n ?: 1, sizeof(*reasons));
	const char **gone = calloc(sw->n_gone ?: 1, sizeof(*gone));
	size_t n_rows;

	if (!rows || !reasons || !gone) {
		ps->status_dirty = true;
		goto out;
	}
	n_rows = report_rows(in, rows, reasons);
	/* On the last known good copy: the store cannot take status (the
	 * journal says what is in force); written once it is back. */
	if (sw->on_lkg) {
		ps->status_dirty = true;
		goto out;
	}
	/* Nothing new to say: write nothing (our own writes wake us up). */
	if (!n_rows && !sw->n_gone && ack == ps->applied_version &&
	    ps->generation == ps->committed_generation && !ps->status_dirty)
		goto out;
	for (size_t i = 0; i < sw->n_gone; i++)
		gone[i] = sw->gone[i].name;
	if (ug_store_pass_commit(ag->st, rows, n_rows, gone, sw->n_gone, ack, ps->generation)) {
		ug_log(LOG_ERR, "agent: cannot write status: %s", ug_store_errmsg(ag->st));
		ps->status_dirty = true;
		for (size_t i = 0; i < sw->ts.n; i++)
			sw->ts.v[i]->reported = false;
		goto out;
	}
	ps->status_dirty = false;
	ps->applied_version = ack;
	metrics_applied(ag->metrics, ack);
	if (ack == sw->ts.policy_version)
		storewatch_in_force(sw, ack);
	ps->committed_generation = ps->generation;
	storewatch_gone_clear(sw);
out:
	free(rows);
	free(reasons);
	free(gone);
}

static void tell_systemd(const struct agent *ag)
{
	const struct targets *ts = &ag->sw.ts;
	size_t enforced = 0, waiting = 0;

	for (size_t i = 0; i < ts->n; i++) {
		enforced += ts->v[i]->state == UG_STATE_ENFORCED;
		waiting += ts->v[i]->state == UG_STATE_WAITING;
	}
	sd_notifyf(0, "STATUS=generation %u: %zu targets enforced, %zu kept for their unit's "
		   "start, %zu NOT in force", ag->ps.generation, enforced, waiting,
		   ts->n - enforced - waiting);
}

int pass_run(struct agent *ag)
{
	struct passes *ps = &ag->ps;
	struct storewatch *sw = &ag->sw;
	struct targets *ts = &sw->ts;
	uint32_t gen = ps->generation + 1;
	struct ug_plan_target *pt = NULL;
	struct ug_apply_out ap = {};
	struct ug_plan plan = {};
	const char **gone = NULL;
	uint64_t t0 = ug_now_ns();
	bool placed;
	int64_t ack;
	int err;

	if (sw->dirty) {
		bool first = !sw->read_once;

		if (!storewatch_read(sw) && first)
			seed_from_status(ag);
	}
	if (!sw->read_once)
		return 0; /* nothing known yet: the kernel keeps what it has */
	pt = calloc(ts->n ?: 1, sizeof(*pt));
	gone = calloc(sw->n_gone ?: 1, sizeof(*gone));
	err = pt && gone ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < ts->n; i++)
		gather(ag, ts->v[i], &pt[i]);
	for (size_t i = 0; !err && i < sw->n_gone; i++)
		gone[i] = sw->gone[i].loc;
	if (!err)
		err = ug_plan_build(pt, ts->n,
				    &(struct ug_plan_env){ .lsm = ag->lsm != NULL, .gone = gone,
							   .n_gone = sw->n_gone,
							   .own_rules = load_own_rules,
							   .done_with = unload_rules, .ctx = ag },
				    &plan);
	if (!err)
		err = ug_apply(ag->net, ag->lsm, &plan, pt, gen, &ap);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot build the desired policy: %s; nothing changed",
		       strerror(-err));
		ps->all_dirty = true;
		goto out;
	}
	if (ap.changed) {
		ps->generation = gen;
		if (ug_store_generation_add(ag->st, gen, ug_realtime_us(), ts->policy_version,
					    ap.changed))
			ug_log(LOG_ERR, "agent: cannot record generation %u: %s", gen,
			       ug_store_errmsg(ag->st));
	}
	/* An older pinned generation judged beside this one until now. */
	if (!ap.err && ug_net_migrating(ag->net)) {
		uint64_t left = ug_net_migrated(ag->net, !ag->lsm);

		if (left)
			ug_audit_lost(ag->audit, left, "left in an older generation's ring");
	}
	/* A loader did not have what this pass thought it had: everything is
	 * compiled again at once (never left as it is). */
	ps->all_dirty = ap.stale;
	if (ap.stale) {
		ug_log(LOG_WARNING, "agent: a loader had lost what it was told to keep; compiling "
		       "everything again");
		pass_schedule(ag);
	}
	keep_family_rules(ag, &plan, pt);

	/* Final once every question about where the targets are is answered. */
	placed = !ug_resolver_asking(ag->res) && !ps->all_dirty;
	ack = placed && !sw->dirty ? ts->policy_version : ps->applied_version;
	commit(ag,
	       &(struct report_in){ .t = ts->v, .pt = pt, .plan = &plan, .ap = &ap,
				    .lsm_why = ag->lsm ? NULL : ag->lsm_why,
				    .store_why = sw->why,
				    .all = ps->status_dirty ||
					   strcmp(sw->why, ps->reported_store_why) },
	       ack);
	snprintf(ps->reported_store_why, sizeof(ps->reported_store_why), "%s", sw->why);
	for (size_t i = 0; i < ts->n; i++)
		ts->v[i]->changed = false;
	tell_systemd(ag);
	ug_log(LOG_DEBUG, "agent: pass done in %.3f ms: policy version %" PRId64 " (acknowledged %"
	       PRId64 "), generation %u, %zu targets", (ug_now_ns() - t0) / 1e6,
	       ts->policy_version, ack, ps->generation, ts->n);
	/* Converged: every target's place is known and its policy in the kernel
	 * (from the last known good copy: the store says nothing, it cannot be
	 * read, and nothing is acknowledged in it). */
	err = sw->on_lkg ? placed : ack == ts->policy_version && ack == ps->applied_version;
out:
	for (size_t i = 0; i < ts->n; i++)
		targets_unload(ts->v[i]);
	/* After a pass that read many rules, give the memory back. */
	if (plan.merged > 10000)
		malloc_trim(0);
	ug_apply_out_free(&ap);
	ug_plan_free(&plan);
	free(pt);
	free(gone);
	return err;
}

/* --- what the audit asks -------------------------------------------------------- */

const char *pass_target_name(uint64_t cgid, void *ctx)
{
	struct agent *ag = ctx;
	const char *name = ug_net_target(ag->net, cgid);

	return name || !ag->lsm ? name : ug_lsm_target(ag->lsm, cgid);
}

/* The family rule in force for a policy cgroup, as the last pass planned it. */
uint32_t pass_family_rule(uint64_t cgid, int family, void *ctx)
{
	struct agent *ag = ctx;

	if (family < 0 || family >= 64)
		return 0;
	for (size_t i = 0; i < ag->ps.n_families; i++)
		if (ag->ps.families[i].cgid == cgid)
			return ag->ps.families[i].rule[family];
	return 0;
}
