// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One pass: what the store says, placed where the resolver says, combined as
 * policy/inherit.c says, handed to the kernel (net.c, lsm.c), and reported
 * (status rows, and the applied policy version the CLI waits for).
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
 *
 * Where the programs are attached: at the parent of every topmost guarded
 * cgroup (its slice, for a unit), so a unit that starts or restarts there is
 * covered from its first instruction, with no help from PID 1. A cgroup
 * directly below the cgroup2 root gets them on itself (never the whole host).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "agent.h"
#include "effective.h"
#include "inherit.h"
#include "log.h"
#include "messages.h"
#include "util.h"

struct group_out {
	int net_err, lsm_err, pend_err;
	char net_why[160], lsm_why[160], pend_why[160];
	bool net_in, lsm_in, pend_in; /* part of the desired state */
	const char *point;            /* where its programs are attached */
	bool no_point;                /* topmost, but nowhere to attach yet */
	bool pend_conflict;
};

struct build {
	struct agent *ag;
	size_t n;
	struct target **t;
	const char **loc;
	struct ug_settings *own;
	struct ug_inherit h;
	bool *dirty, *has_child;
	struct group_out *out;
	size_t merged; /* rules merged this pass */
	/* desired state */
	struct ug_net_unit *nu;
	size_t n_nu;
	struct ug_net_pending *np;
	size_t n_np;
	struct ug_lsm_unitpol *lu;
	size_t n_lu;
	struct ug_lsm_pending *lp;
	size_t n_lp;
	struct ug_net_point *pts;
	size_t n_pts;
	char **pt_paths;
	ssize_t *nu_group, *np_group, *lu_group, *lp_group; /* group of each entry */
	bool *np_shared, *lp_shared; /* rules are the running unit's array */
};

static int on_pass(sd_event_source *s, void *ctx)
{
	struct agent *ag = ctx;

	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	pass_run(ag);
	return 0;
}

void pass_schedule(struct agent *ag)
{
	if (!ag->pass_src &&
	    sd_event_add_defer(ag->ev, &ag->pass_src, on_pass, ag) < 0) {
		ug_log(LOG_ERR, "agent: cannot schedule a pass");
		return;
	}
	sd_event_source_set_enabled(ag->pass_src, SD_EVENT_ONESHOT);
}

/* --- store ------------------------------------------------------------------ */

static int store_read(struct agent *ag)
{
	struct gone *gone = NULL;
	size_t n_gone = 0;
	int err;

	if (ug_now_ns() < ag->store_retry_ns)
		return -EAGAIN;
	err = targets_sync(&ag->ts, ag->st, &gone, &n_gone);
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", ug_store_errmsg(ag->st));
		if (strcmp(why, ag->store_why))
			ug_log(LOG_ERR, "agent: cannot read the store %s: %s; the policy in force "
			       "stays as it is until it can", ag->db_path, why);
		snprintf(ag->store_why, sizeof(ag->store_why), "%s", why);
		ag->store_backoff = ag->store_backoff ? ag->store_backoff * 2 : 1;
		if (ag->store_backoff > 30)
			ag->store_backoff = 30;
		ag->store_retry_ns = ug_now_ns() + ag->store_backoff * 1000000000ULL;
		return err;
	}
	if (ag->store_why[0])
		ug_log(LOG_NOTICE, "agent: the store can be read again");
	ag->store_why[0] = '\0';
	ag->store_backoff = 0;
	ag->store_read_once = true;
	for (size_t i = 0; i < n_gone; i++) {
		struct gone *g = reallocarray(ag->gone, ag->n_gone + 1, sizeof(*g));

		if (!g || !gone[i].name) {
			free(gone[i].name);
			free(gone[i].loc);
			continue;
		}
		ag->gone = g;
		ag->gone[ag->n_gone++] = gone[i];
	}
	free(gone);
	return 0;
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
	struct target *t = targets_find(&ag->ts, s->target);
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

/* --- building the desired state --------------------------------------------- */

static bool below(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);

	return !strncmp(path, ancestor, n) && path[n] == '/';
}

static void build_free(struct build *b)
{
	for (size_t i = 0; i < b->n_nu; i++)
		free((void *)b->nu[i].rules);
	for (size_t i = 0; i < b->n_np; i++)
		if (!b->np_shared[i])
			free((void *)b->np[i].pol.rules);
	for (size_t i = 0; i < b->n_lu; i++)
		free((void *)b->lu[i].paths);
	for (size_t i = 0; i < b->n_lp; i++)
		if (!b->lp_shared[i])
			free((void *)b->lp[i].pol.paths);
	for (size_t i = 0; i < b->n_pts; i++)
		free(b->pt_paths[i]);
	free(b->pt_paths);
	free(b->pts);
	free(b->nu);
	free(b->np);
	free(b->lu);
	free(b->lp);
	free(b->nu_group);
	free(b->np_group);
	free(b->lu_group);
	free(b->lp_group);
	free(b->np_shared);
	free(b->lp_shared);
	free(b->t);
	free(b->loc);
	free(b->own);
	free(b->dirty);
	free(b->has_child);
	free(b->out);
	ug_inherit_free(&b->h);
}

/* The head of a policy request for target t (its cgroup unused by a policy
 * kept by name); dirty: its rules are given, not kept. */
static void unitpol_init(struct ug_unitpol *h, const struct target *t, uint8_t mode, bool dirty)
{
	h->target = t->name;
	h->cg.id = t->w.id;
	h->cg.level = t->w.level;
	h->mode = mode;
	h->keep = !dirty;
}

/* A target's own rules, loaded on demand (freed after the pass). */
static int own_rules(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	struct build *b = ctx;
	struct target *m = b->t[j];
	int err = targets_rules(&b->ag->ts, b->ag->st, m);

	if (err)
		return err;
	*rules = lsm ? (const void *)m->paths : (const void *)m->rules;
	*n = lsm ? m->n_paths : m->n_net;
	return 0;
}

/* Rules of group i's policy cgroup: its own and its ancestors', with depths
 * (what `unitguardctl explain` builds too). */
static int merged(struct build *b, size_t i, bool lsm, void **out, size_t *n_out)
{
	int err = ug_effective_rules(&b->h, i, lsm, own_rules, b, out, n_out, NULL);

	if (!err)
		b->merged += *n_out;
	return err;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The parent cgroup of path, from the index; NULL when it is not there. */
static const struct ug_cgnode *parent_node(const struct agent *ag, const char *path)
{
	char dir[PATH_MAX];
	char *s;

	snprintf(dir, sizeof(dir), "%s", path);
	s = strrchr(dir, '/');
	if (!s)
		return NULL;
	*s = '\0';
	return ug_cgindex_by_path(ug_resolver_index(ag->res), dir);
}

static int levels_below_root(const struct agent *ag, const char *path)
{
	int level = 0;

	for (const char *p = path + strlen(ag->cgroot); *p; p++)
		if (*p == '/' && p[1])
			level++;
	return level;
}

/* Where group i's programs go: its parent, or itself below the root. */
static int add_point(struct build *b, size_t i)
{
	const struct agent *ag = b->ag;
	const struct ug_cgnode *n = parent_node(ag, b->loc[i]);

	if (n && n->level == 0)
		n = ug_cgindex_by_path(ug_resolver_index(ag->res), b->loc[i]);
	if (!n) {
		b->out[i].no_point = true;
		return 0;
	}
	for (size_t k = 0; k < b->n_pts; k++) {
		if (b->pts[k].id == n->id) {
			b->out[i].point = b->pt_paths[k];
			return 0;
		}
	}
	b->pt_paths[b->n_pts] = strdup(n->path);
	if (!b->pt_paths[b->n_pts])
		return -ENOMEM;
	b->pts[b->n_pts] = (struct ug_net_point){ .id = n->id, .path = b->pt_paths[b->n_pts] };
	b->out[i].point = b->pt_paths[b->n_pts++];
	return 0;
}

/*
 * A point below another one would make its cgroups run the programs twice:
 * it goes, and what was attached there is at the topmost point above it.
 * Which points are covered is decided first, over the whole list, and only
 * then are they freed (freeing as it went, it read points freed before: a
 * point covered by one that is itself covered).
 */
static int prune_points(struct build *b)
{
	bool *covered = calloc(b->n_pts ?: 1, sizeof(*covered));
	size_t kept = 0;

	if (!covered)
		return -ENOMEM;
	for (size_t k = 0; k < b->n_pts; k++)
		for (size_t j = 0; j < b->n_pts && !covered[k]; j++)
			covered[k] = j != k && below(b->pt_paths[k], b->pt_paths[j]);
	for (size_t k = 0; k < b->n_pts; k++) {
		const char *top = NULL;

		if (!covered[k])
			continue;
		for (size_t j = 0; j < b->n_pts && !top; j++)
			if (!covered[j] && below(b->pt_paths[k], b->pt_paths[j]))
				top = b->pt_paths[j];
		for (size_t i = 0; i < b->n; i++)
			if (b->out[i].point == b->pt_paths[k])
				b->out[i].point = top;
	}
	for (size_t k = 0; k < b->n_pts; k++) {
		if (covered[k]) {
			free(b->pt_paths[k]);
			continue;
		}
		b->pts[kept] = b->pts[k];
		b->pt_paths[kept++] = b->pt_paths[k];
	}
	b->n_pts = kept;
	free(covered);
	return 0;
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

/*
 * A policy kept by name is keyed by the cgroup's directory name: two groups
 * whose cgroups share a name (two path targets /a/x and /b/x, or a unit and
 * a path) cannot both have one. The first in target order keeps it; the
 * others are told (pend_conflict).
 */
static int pending_names(struct build *b)
{
	struct named *v = calloc(b->n ?: 1, sizeof(*v));
	size_t m = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		if (b->h.rep[i] != (ssize_t)i)
			continue;
		if (b->loc[i])
			v[m++] = (struct named){ basename_of(b->loc[i]), i };
		else if (b->t[i]->name[0] != '/')
			v[m++] = (struct named){ b->t[i]->name, i };
	}
	qsort(v, m, sizeof(*v), named_cmp);
	for (size_t k = 1; k < m; k++)
		if (!strcmp(v[k - 1].name, v[k].name))
			b->out[v[k].group].pend_conflict = true;
	free(v);
	return 0;
}

static int build(struct build *b)
{
	struct agent *ag = b->ag;
	size_t n = ag->ts.n;
	int err;

	b->n = n;
	b->t = calloc(n ?: 1, sizeof(*b->t));
	b->loc = calloc(n ?: 1, sizeof(*b->loc));
	b->own = calloc(n ?: 1, sizeof(*b->own));
	b->dirty = calloc(n ?: 1, sizeof(*b->dirty));
	b->has_child = calloc(n ?: 1, sizeof(*b->has_child));
	b->out = calloc(n ?: 1, sizeof(*b->out));
	b->nu = calloc(n ?: 1, sizeof(*b->nu));
	b->np = calloc(n ?: 1, sizeof(*b->np));
	b->lu = calloc(n ?: 1, sizeof(*b->lu));
	b->lp = calloc(n ?: 1, sizeof(*b->lp));
	b->pts = calloc(n ?: 1, sizeof(*b->pts));
	b->pt_paths = calloc(n ?: 1, sizeof(*b->pt_paths));
	b->nu_group = calloc(n ?: 1, sizeof(*b->nu_group));
	b->np_group = calloc(n ?: 1, sizeof(*b->np_group));
	b->lu_group = calloc(n ?: 1, sizeof(*b->lu_group));
	b->lp_group = calloc(n ?: 1, sizeof(*b->lp_group));
	b->np_shared = calloc(n ?: 1, sizeof(*b->np_shared));
	b->lp_shared = calloc(n ?: 1, sizeof(*b->lp_shared));
	if (!b->t || !b->loc || !b->own || !b->dirty || !b->has_child || !b->out ||
	    !b->nu || !b->np || !b->lu || !b->lp || !b->pts || !b->pt_paths || !b->nu_group ||
	    !b->np_group || !b->lu_group || !b->lp_group || !b->np_shared || !b->lp_shared)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		struct target *t = ag->ts.v[i];
		const struct ug_cgnode *p;
		uint64_t parent;
		bool moved;

		ug_resolve(ag->res, t);
		b->t[i] = t;
		b->loc[i] = t->w.path ?: t->w.future;
		/* Moved since the last pass (answers also arrive between passes):
		 * its cgroup, where it will be, or the id of its parent. */
		p = b->loc[i] ? parent_node(ag, b->loc[i]) : NULL;
		parent = p ? p->id : 0;
		moved = t->last_id != t->w.id || t->last_parent != parent ||
			!((!t->last_loc && !b->loc[i]) ||
			  (t->last_loc && b->loc[i] && !strcmp(t->last_loc, b->loc[i])));
		if (moved) {
			free(t->last_loc);
			t->last_loc = b->loc[i] ? strdup(b->loc[i]) : NULL;
			t->last_id = t->w.id;
			t->last_parent = parent;
		}
		b->own[i] = t->own;
		/* A refused or failed policy is tried again; so is everything
		 * once the loaders had an error they could not pin on a unit. */
		b->dirty[i] = ag->all_dirty || t->changed || moved ||
			      !strcmp(t->state, "refused") || !t->state[0];
		/* What it inherited from a target that is gone changes. */
		for (size_t k = 0; k < ag->n_gone && !b->dirty[i] && b->loc[i]; k++)
			b->dirty[i] = ag->gone[k].loc && below(b->loc[i], ag->gone[k].loc);
	}
	err = ug_inherit_build(b->loc, n, &b->h);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		if (b->h.parent[i] >= 0)
			b->has_child[b->h.parent[i]] = true;
	/* A group is dirty when any member is; below a changed policy cgroup,
	 * everything inherits the change. */
	for (size_t i = 0; i < n; i++)
		if (b->dirty[i])
			b->dirty[b->h.rep[i]] = true;
	for (size_t i = 0; i < n; i++) {
		if (b->dirty[b->h.rep[i]])
			continue;
		for (ssize_t g = b->h.parent[b->h.rep[i]]; g >= 0; g = b->h.parent[g]) {
			if (b->dirty[g]) {
				b->dirty[b->h.rep[i]] = true;
				break;
			}
		}
	}
	err = pending_names(b);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		struct target *t = b->t[i];
		struct group_out *o = &b->out[i];
		bool net, lsm, dirty = false;
		struct ug_settings e;

		if (b->h.rep[i] != (ssize_t)i)
			continue;
		dirty = b->dirty[i];
		/* Not placed: a unit not running, that systemd cannot place
		 * (no systemd, or not reachable). Its own policy is still kept
		 * by name, for any new cgroup of that name. */
		if (!b->loc[i] && (t->name[0] == '/' || t->w.err != -ENOENT))
			continue;
		net = ug_inherit_has_side(&b->h, b->own, i, false);
		lsm = ug_inherit_has_side(&b->h, b->own, i, true);
		ug_inherit_effective(&b->h, b->own, i, &e);

		if (net && t->w.path) {
			struct ug_net_unit *u = &b->nu[b->n_nu];

			unitpol_init(&u->h, t, e.mode, dirty);
			u->deny_default = e.deny_default;
			if (dirty) {
				err = merged(b, i, false, (void **)&u->rules, &u->n_rules);
				if (err)
					return err;
			}
			b->nu_group[b->n_nu++] = (ssize_t)i;
			o->net_in = true;
		}
		if (lsm && t->w.path && ag->lsm) {
			struct ug_lsm_unitpol *u = &b->lu[b->n_lu];

			unitpol_init(&u->h, t, e.mode, dirty);
			u->harden = e.harden;
			u->deny_families = e.families;
			if (dirty) {
				err = merged(b, i, true, (void **)&u->paths, &u->n_paths);
				if (err)
					return err;
			}
			b->lu_group[b->n_lu++] = (ssize_t)i;
			o->lsm_in = true;
		}
		/* Kept by name for the cgroup's next creation (the start-up race). */
		if ((net || (lsm && ag->lsm)) &&
		    strlen(b->loc[i] ? basename_of(b->loc[i]) : t->name) < UG_NAME_MAX) {
			const struct ug_cgnode *p = b->loc[i] ? parent_node(ag, b->loc[i]) : NULL;
			const char *name = b->loc[i] ? basename_of(b->loc[i]) : t->name;
			uint32_t level = b->loc[i] ? (uint32_t)levels_below_root(ag, b->loc[i]) : 0;

			if (o->pend_conflict) {
				/* another group has this name: see pending_names() */
			} else {
				if (net) {
					struct ug_net_pending *pn = &b->np[b->n_np];

					pn->name = name;
					pn->parent_cgid = p ? p->id : 0;
					pn->level = level;
					unitpol_init(&pn->pol.h, t, e.mode, dirty);
					pn->pol.deny_default = e.deny_default;
					if (dirty && b->n_nu && b->nu_group[b->n_nu - 1] == (ssize_t)i) {
						/* Where it runs is where it will be: the
						 * same rules (shared, freed with the unit's). */
						pn->pol.rules = b->nu[b->n_nu - 1].rules;
						pn->pol.n_rules = b->nu[b->n_nu - 1].n_rules;
						b->np_shared[b->n_np] = true;
					} else if (dirty) {
						err = merged(b, i, false, (void **)&pn->pol.rules,
							     &pn->pol.n_rules);
						if (err)
							return err;
					}
					b->np_group[b->n_np++] = (ssize_t)i;
				}
				if (lsm && ag->lsm) {
					struct ug_lsm_pending *pl = &b->lp[b->n_lp];

					pl->name = name;
					pl->parent_cgid = p ? p->id : 0;
					pl->level = level;
					unitpol_init(&pl->pol.h, t, e.mode, dirty);
					pl->pol.harden = e.harden;
					pl->pol.deny_families = e.families;
					if (dirty && b->n_lu && b->lu_group[b->n_lu - 1] == (ssize_t)i) {
						pl->pol.paths = b->lu[b->n_lu - 1].paths;
						pl->pol.n_paths = b->lu[b->n_lu - 1].n_paths;
						b->lp_shared[b->n_lp] = true;
					} else if (dirty) {
						err = merged(b, i, true, (void **)&pl->pol.paths,
							     &pl->pol.n_paths);
						if (err)
							return err;
					}
					b->lp_group[b->n_lp++] = (ssize_t)i;
				}
				o->pend_in = true;
			}
		}
		if (net && b->loc[i] && ug_inherit_topmost(&b->h, b->own, i, false)) {
			err = add_point(b, i);
			if (err)
				return err;
		}
		/* Rules nothing below inherits are not needed again this pass. */
		if (!b->has_child[i])
			for (ssize_t j = (ssize_t)i; j >= 0; j = b->h.next[j])
				targets_unload(b->t[j]);
	}
	err = prune_points(b);
	if (err)
		return err;
	/* Groups below a point: where their programs are. */
	for (size_t i = 0; i < n; i++) {
		ssize_t r = b->h.rep[i];

		if (b->out[r].point || !b->loc[r])
			continue;
		for (size_t k = 0; k < b->n_pts; k++)
			if (!strcmp(b->loc[r], b->pt_paths[k]) || below(b->loc[r], b->pt_paths[k]))
				b->out[r].point = b->pt_paths[k];
	}
	return 0;
}

/* --- status ------------------------------------------------------------------- */

static void outcome(struct build *b, size_t i, struct ug_store_status *row, char *reason,
		    size_t rlen)
{
	struct agent *ag = b->ag;
	struct target *t = b->t[i];
	ssize_t r = b->h.rep[i];
	const struct target *rt = b->t[r];
	const struct group_out *o = &b->out[r];
	const char *state = "enforced";
	size_t off = 0;

#define NOTE(...)                                                                          \
	do {                                                                               \
		int w_ = snprintf(reason + off, rlen - off, "%s", off ? "; " : "");        \
		if (w_ > 0 && (size_t)w_ < rlen - off)                                     \
			off += w_;                                                         \
		w_ = snprintf(reason + off, rlen - off, __VA_ARGS__);                      \
		if (w_ > 0 && (size_t)w_ < rlen - off)                                     \
			off += w_;                                                         \
	} while (0)

	reason[0] = '\0';
	if (r != (ssize_t)i)
		NOTE("the same cgroup as %s: its rules and settings are merged", rt->name);
	if (t->w.err && t->w.err != -ENOENT && !t->w.path) {
		state = "unresolved";
		NOTE("%s", t->w.why[0] ? t->w.why : strerror(-t->w.err));
	} else if (!rt->w.path) {
		state = "waiting";
		NOTE("no cgroup: not running");
		if (o->pend_in && !o->pend_err && b->loc[r] && o->point)
			NOTE("in force from its next start, at %s", b->loc[r]);
		else if (o->pend_in && !o->pend_err)
			NOTE("in force once its cgroup appears (from its first instruction where "
			     "the programs are attached above it already)");
		if (t->w.why[0])
			NOTE("%s", t->w.why);
	} else if (t->w.why[0]) {
		NOTE("%s", t->w.why);
	}
	if (o->net_err || o->lsm_err || o->pend_err) {
		state = "refused";
		if (o->net_err)
			NOTE("%s (the previous policy stays in force)", o->net_why);
		if (o->lsm_err)
			NOTE("LSM: %s (the previous policy stays in force)", o->lsm_why);
		if (o->pend_err)
			NOTE("not kept for its next start: %s", o->pend_why);
	}
	if (o->pend_conflict)
		NOTE("another target's cgroup has the name %s: its next start is covered only "
		     "once the agent sees it", basename_of(b->loc[r]));
	if (o->no_point && b->loc[r])
		NOTE("nowhere to attach its programs yet (%s does not exist): they are attached "
		     "when its cgroup appears", b->loc[r]);
	if (t->invalid) {
		if (!strcmp(state, "enforced") || !strcmp(state, "waiting"))
			state = "partial";
		NOTE("%u invalid rules in the store are NOT enforced", t->invalid);
	}
	if (!ag->lsm && (rt->own.lsm_rules || rt->own.families || rt->own.harden)) {
		if (!strcmp(state, "enforced") || !strcmp(state, "waiting"))
			state = "partial";
		NOTE("LSM rules NOT enforced: %s", ag->lsm_why);
	}
	if (ag->store_why[0])
		NOTE("the store cannot be read (%s): this is the policy of an earlier read",
		     ag->store_why);
	if (!strcmp(state, "enforced") && o->point && strcmp(o->point, rt->w.path ?: ""))
		NOTE("programs attached at %s", o->point);
#undef NOTE
	memset(row, 0, sizeof(*row));
	row->target = t->name;
	row->cgroup = rt->w.path;
	row->cgroup_id = rt->w.path ? rt->w.id : 0;
	row->mode = ug_mode_name(rt->own.mode);
	row->generation = t->generation;
	row->programs = o->point && (o->net_in || o->pend_in) ? ug_net_prog_names : NULL;
	row->enforced = !strcmp(state, "enforced") || !strcmp(state, "partial");
	row->reason = reason[0] ? reason : NULL;
	row->state = state;
}

static void report(const struct target *t, const char *state, const char *reason)
{
	int prio = !strcmp(state, "enforced") ? LOG_INFO
		   : !strcmp(state, "waiting") ? LOG_NOTICE
					       : LOG_ERR;

	if (!strcmp(state, "enforced") || !strcmp(state, "waiting"))
		ug_log(prio, "agent: %s: %s%s%s", t->name, state, reason[0] ? ": " : "", reason);
	else
		ug_log_id(prio, UG_MESSAGE_NOT_ENFORCED, t->name,
			  "agent: %s: %s, NOT fully enforced: %s", t->name, state, reason);
}

/* --- the pass ------------------------------------------------------------------- */

int pass_run(struct agent *ag)
{
	struct ug_store_status *rows = NULL;
	char (*reasons)[600] = NULL;
	uint32_t changed, gen = ag->generation + 1;
	struct build b = { .ag = ag };
	uint64_t t0 = ug_now_ns();
	bool global;
	const char **gone_names = NULL;
	size_t n_rows = 0, n_enforced = 0, n_waiting = 0;
	int64_t ack;
	int err;

	if (ag->store_dirty) {
		bool first = !ag->store_read_once;

		err = store_read(ag);
		if (!err)
			ag->store_dirty = false;
		if (!err && first)
			seed_from_status(ag);
	}
	if (!ag->store_read_once)
		return 0; /* nothing known yet: the kernel keeps what it has */
	err = build(&b);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot build the desired policy: %s; nothing changed",
		       strerror(-err));
		ag->all_dirty = true;
		goto out;
	}
	/* By name first: a running cgroup shares its pending accounting slot. */
	err = ug_net_apply_pending(ag->net, b.np, b.n_np, gen);
	if (ag->lsm)
		err = ug_lsm_apply_pending(ag->lsm, b.lp, b.n_lp, gen) ?: err;
	err = ug_net_apply(ag->net, b.nu, b.n_nu, b.pts, b.n_pts, gen) ?: err;
	if (ag->lsm)
		err = ug_lsm_apply(ag->lsm, b.lu, b.n_lu, gen) ?: err;
	changed = ug_net_units_changed(ag->net) + ug_net_pending_changed(ag->net);
	if (ag->lsm)
		changed += ug_lsm_units_changed(ag->lsm) + ug_lsm_pending_changed(ag->lsm);
	if (changed) {
		ag->generation = gen;
		if (ug_store_generation_add(ag->st, gen, realtime_us(), ag->ts.policy_version,
					    changed))
			ug_log(LOG_ERR, "agent: cannot record generation %u: %s", gen,
			       ug_store_errmsg(ag->st));
	}
	ag->all_dirty = false;
	/* An older pinned generation judged beside this one until now. */
	if (!err && ug_net_migrating(ag->net))
		ug_net_migrated(ag->net);
	/* A loader did not have what this pass thought it had: everything is
	 * compiled again at once (never left as it is). */
	for (size_t k = 0; k < b.n_nu; k++)
		ag->all_dirty |= b.nu[k].h.err == -ESTALE;
	for (size_t k = 0; k < b.n_np; k++)
		ag->all_dirty |= b.np[k].pol.h.err == -ESTALE;
	for (size_t k = 0; k < b.n_lu; k++)
		ag->all_dirty |= b.lu[k].h.err == -ESTALE;
	for (size_t k = 0; k < b.n_lp; k++)
		ag->all_dirty |= b.lp[k].pol.h.err == -ESTALE;
	if (ag->all_dirty) {
		ug_log(LOG_WARNING, "agent: a loader had lost what it was told to keep; compiling "
		       "everything again");
		pass_schedule(ag);
	}

	/* What each group got. */
	for (size_t k = 0; k < b.n_np; k++) {
		struct group_out *o = &b.out[b.np_group[k]];

		o->pend_err = b.np[k].pol.h.err;
		snprintf(o->pend_why, sizeof(o->pend_why), "%s", b.np[k].pol.h.why);
	}
	for (size_t k = 0; k < b.n_lp; k++) {
		struct group_out *o = &b.out[b.lp_group[k]];

		if (!o->pend_err) {
			o->pend_err = b.lp[k].pol.h.err;
			snprintf(o->pend_why, sizeof(o->pend_why), "%s", b.lp[k].pol.h.why);
		}
	}
	for (size_t k = 0; k < b.n_nu; k++) {
		struct group_out *o = &b.out[b.nu_group[k]];

		o->net_err = b.nu[k].h.err;
		snprintf(o->net_why, sizeof(o->net_why), "%s", b.nu[k].h.why);
		if (!o->net_err)
			b.t[b.nu_group[k]]->generation = b.nu[k].h.generation;
	}
	for (size_t k = 0; k < b.n_lu; k++) {
		struct group_out *o = &b.out[b.lu_group[k]];
		uint32_t g;

		o->lsm_err = b.lu[k].h.err;
		snprintf(o->lsm_why, sizeof(o->lsm_why), "%s", b.lu[k].h.why);
		g = b.lu[k].h.generation;
		if (!o->lsm_err && g > b.t[b.lu_group[k]]->generation)
			b.t[b.lu_group[k]]->generation = g;
	}
	for (size_t k = 0; k < b.n_pts; k++) {
		if (!b.pts[k].err)
			continue;
		for (size_t i = 0; i < b.n; i++) {
			struct group_out *o = &b.out[i];

			if (o->point == b.pt_paths[k] && !o->net_err) {
				o->net_err = b.pts[k].err;
				snprintf(o->net_why, sizeof(o->net_why), "cannot attach the programs "
					 "at %s: %s", b.pts[k].path, strerror(-b.pts[k].err));
			}
		}
	}

	/* Status rows that changed, and the acknowledgement. */
	rows = calloc(b.n ?: 1, sizeof(*rows));
	reasons = calloc(b.n ?: 1, sizeof(*reasons));
	if (!rows || !reasons) {
		ag->status_dirty = true;
		goto out;
	}
	/* What is said of a target changes when it or what it inherits
	 * changed, or with the agent's own state (the store, LSM, errors). */
	global = ag->status_dirty || strcmp(ag->store_why, ag->reported_store_why);
	snprintf(ag->reported_store_why, sizeof(ag->reported_store_why), "%s", ag->store_why);
	for (size_t i = 0; i < b.n; i++) {
		struct target *t = b.t[i];
		struct ug_store_status *row = &rows[n_rows];
		const struct group_out *o = &b.out[b.h.rep[i]];

		if (!global && t->reported && !b.dirty[b.h.rep[i]] && !t->w.why[0] &&
		    !o->net_err && !o->lsm_err && !o->pend_err && strcmp(t->state, "refused") &&
		    strcmp(t->state, "unresolved"))
			continue;
		outcome(&b, i, row, reasons[n_rows], sizeof(reasons[n_rows]));
		if (!ag->status_dirty && t->reported && !strcmp(t->state, row->state) &&
		    !strcmp(t->reason, reasons[n_rows]) && !t->changed)
			continue;
		if (strcmp(t->state, row->state) || strcmp(t->reason, reasons[n_rows]))
			report(t, row->state, reasons[n_rows]);
		snprintf(t->state, sizeof(t->state), "%s", row->state);
		snprintf(t->reason, sizeof(t->reason), "%s", reasons[n_rows]);
		t->reported = true;
		n_rows++;
	}
	/* Final once every question about where the targets are is answered. */
	ack = ug_resolver_asking(ag->res) || ag->store_dirty || ag->all_dirty
		      ? ag->applied_version
		      : ag->ts.policy_version;
	/* Nothing new to say: write nothing (our own writes wake us up). */
	if (!n_rows && !ag->n_gone && ack == ag->applied_version &&
	    ag->generation == ag->committed_generation && !ag->status_dirty)
		goto done;
	gone_names = calloc(ag->n_gone ?: 1, sizeof(*gone_names));
	for (size_t i = 0; gone_names && i < ag->n_gone; i++)
		gone_names[i] = ag->gone[i].name;
	if (!gone_names ||
	    ug_store_pass_commit(ag->st, rows, n_rows, gone_names, ag->n_gone, ack,
				 ag->generation)) {
		ug_log(LOG_ERR, "agent: cannot write status: %s", ug_store_errmsg(ag->st));
		ag->status_dirty = true;
		for (size_t i = 0; i < b.n; i++)
			b.t[i]->reported = false;
	} else {
		ag->status_dirty = false;
		ag->applied_version = ack;
		metrics_applied(ag, ack);
		ag->committed_generation = ag->generation;
		for (size_t i = 0; i < ag->n_gone; i++) {
			free(ag->gone[i].name);
			free(ag->gone[i].loc);
		}
		ag->n_gone = 0;
	}
done:
	for (size_t i = 0; i < b.n; i++) {
		b.t[i]->changed = false;
		n_enforced += !strcmp(b.t[i]->state, "enforced");
		n_waiting += !strcmp(b.t[i]->state, "waiting");
	}
	/* systemctl status shows it. */
	sd_notifyf(0, "STATUS=generation %u: %zu targets enforced, %zu kept for their unit's "
		   "start, %zu NOT in force", ag->generation, n_enforced, n_waiting,
		   b.n - n_enforced - n_waiting);
	/* At boot, units ordered after the agent start once it is ready: only
	 * when every target's place is known and its policy is in the kernel. */
	if (!ag->ready && ack == ag->ts.policy_version && ack == ag->applied_version)
		agent_ready(ag, NULL);
	ug_log(LOG_DEBUG, "agent: pass done in %.3f ms: policy version %" PRId64 " (acknowledged %"
	       PRId64 "), generation %u, %zu targets, %zu status rows written",
	       (ug_now_ns() - t0) / 1e6, ag->ts.policy_version, ack, ag->generation, b.n, n_rows);
out:
	for (size_t i = 0; i < ag->ts.n; i++)
		targets_unload(ag->ts.v[i]);
	free(rows);
	free(reasons);
	free(gone_names);
	build_free(&b);
	/* After a pass that read many rules, give the memory back. */
	if (b.merged > 10000)
		malloc_trim(0);
	return err;
}

/* --- what the audit asks -------------------------------------------------------- */

const char *pass_target_name(uint64_t cgid, void *ctx)
{
	struct agent *ag = ctx;
	const char *name = ug_net_target(ag->net, cgid);

	return name || !ag->lsm ? name : ug_lsm_target(ag->lsm, cgid);
}

/* The family rule in force for a policy cgroup: its own, or the nearest
 * ancestor's (by path: the last pass placed every target). */
uint32_t pass_family_rule(uint64_t cgid, int family, void *ctx)
{
	struct agent *ag = ctx;
	const struct target *t = NULL;
	size_t best = 0;
	uint32_t id = 0;

	if (family < 0 || family >= 64)
		return 0;
	for (size_t i = 0; i < ag->ts.n && !t; i++)
		if (ag->ts.v[i]->w.path && ag->ts.v[i]->w.id == cgid)
			t = ag->ts.v[i];
	if (!t)
		return 0;
	for (size_t i = 0; i < ag->ts.n; i++) {
		const struct target *a = ag->ts.v[i];
		size_t len;

		if (!a->family_rule[family] || !a->w.path)
			continue;
		if (strcmp(a->w.path, t->w.path) && !below(t->w.path, a->w.path))
			continue;
		len = strlen(a->w.path);
		if (!id || len > best || (len == best && a->family_rule[family] < id)) {
			id = a->family_rule[family];
			best = len;
		}
	}
	return id;
}
