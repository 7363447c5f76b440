// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Applying LSM policy kept by unit name for cgroups not made yet
 * (ug_lsm_apply_pending, "The start-up race" in bpf/unitguard.h): the
 * entries of ug_pending_lsm staged, their hooks attached, then switched to;
 * the cgroups the cgroup_mkdir program made from a retired entry moved to
 * its replacement; the agent's own cgroup kept by name first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "lsm_hooks.h"
#include "lsm_units.h"
#include "pins.h"
#include "util.h"

/* A pending entry's trie retired in this pass: what its copies get now. */
struct retarget {
	uint16_t old;
	bool del; /* the entry is gone: so are its copies */
	struct ug_lsm_unit val;
};

/*
 * Move the copies the cgroup_mkdir program made of pending entries (units
 * whose ug_lsm_units value points at a pending trie, and that have no trie
 * of their own yet) from each retired trie to its replacement, or delete
 * them with their entry: once the retired trie's id is reused they would
 * otherwise judge with another unit's rules.
 */
static int retarget_copies(struct ug_lsm *lsm, const struct retarget *rt, size_t n_rt)
{
	int ufd = bpf_map__fd(lsm->skel->maps.ug_lsm_units);
	struct {
		uint64_t cgid;
		size_t j;
	} *hit = NULL, *h;
	size_t n_hit = 0;
	struct ug_lsm_unit v;
	bool started = false;
	uint64_t cgid;
	int first_err = 0;

	if (!n_rt)
		return 0;
	/* Collect first: changing entries while walking the hash could restart
	 * the walk. */
	while (ug_map_next(ufd, &cgid, sizeof(cgid), &v, &started)) {
		/* A unit the agent applied shares the trie, it was not copied. */
		if (unit_find(lsm, cgid) && unit_find(lsm, cgid)->h.loaded)
			continue;
		for (size_t j = 0; j < n_rt; j++) {
			if (v.trie != rt[j].old)
				continue;
			h = reallocarray(hit, n_hit + 1, sizeof(*hit));
			if (!h) {
				free(hit);
				return -ENOMEM;
			}
			hit = h;
			hit[n_hit].cgid = cgid;
			hit[n_hit++].j = j;
			break;
		}
	}
	for (size_t i = 0; i < n_hit; i++) {
		const struct retarget *r = &rt[hit[i].j];
		struct unit_state *s = unit_find(lsm, hit[i].cgid);
		int err = 0;

		if (r->del) {
			if (bpf_map_delete_elem(ufd, &hit[i].cgid) && errno != ENOENT)
				err = -errno;
		} else if (bpf_map_update_elem(ufd, &hit[i].cgid, &r->val, BPF_EXIST) &&
			   errno != ENOENT) {
			err = -errno; /* ENOENT: the cgroup went meanwhile */
		}
		if (err) {
			ug_log(LOG_ERR, "lsm: cannot update the policy of cgroup %" PRIu64
			       " (made from a pending entry): %s", hit[i].cgid, strerror(-err));
			first_err = first_err ?: err;
			continue;
		}
		ug_log(LOG_DEBUG, "lsm: cgroup %" PRIu64 ": %s", hit[i].cgid,
		       r->del ? "its pending entry is gone, policy removed"
			      : "moved to its pending entry's new trie");
		/* An adopted unit state for it (after a restart) follows the map. */
		if (s && !s->h.loaded) {
			ug_tries_put(lsm->tries, s->h.trie, s->h.cgid);
			s->val = r->del ? (struct ug_lsm_unit){ .mode = UG_MODE_OFF } : r->val;
			s->h.trie = s->val.trie;
			s->h.generation = s->val.generation;
			ug_tries_claim(lsm->tries, s->h.trie);
		}
	}
	free(hit);
	return first_err;
}

static bool pending_same(const struct ug_byname *e, const void *req)
{
	const struct pending_state *ps = (const struct pending_state *)e;

	return lsm_pol_same(e->loaded, &ps->val, ps->paths, ps->n_paths, req);
}

/* What the end of an apply_pending gathers: the copies to move, and whether
 * anything changed. */
struct sweep {
	struct ug_lsm *lsm;
	struct retarget *rt;
	size_t n_rt;
	bool changed;
};

static void pending_gone(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err)
{
	struct pending_state *ps = (struct pending_state *)e;
	struct sweep *sw = ctx;

	switch (how) {
	case UG_BYNAME_STUCK:
		ug_log(LOG_ERR, "lsm: %s: cannot remove its pending policy: %s", e->target,
		       strerror(-err));
		return;
	case UG_BYNAME_REMOVED:
		ug_log(LOG_INFO, "lsm: %s: no pending LSM policy left, removed", e->target);
		if (e->trie)
			sw->rt[sw->n_rt++] = (struct retarget){ .old = e->trie, .del = true };
		sw->changed = true;
		sw->lsm->pending_changed++;
		break;
	case UG_BYNAME_REFUSED:
		break;
	}
	free(ps->paths);
}

/*
 * After a restart the pending entries are adopted with loaded false, so the
 * first call rewrites each of them with a fresh trie (and moves the copies
 * made from them); later calls touch only what changed. Unlike the network
 * side, the hooks a new policy needs are attached between compiling it and
 * switching to it (2.), so the entries are staged first.
 */
static int apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation, bool with_self)
{
	struct sweep sw = { .lsm = lsm };
	bool need[N_PROGS] = {};
	int errs[N_PROGS], first_err = 0, hooks_err, err;
	struct staged *st = NULL;

	st = calloc(n ?: 1, sizeof(*st));
	sw.rt = calloc(lsm->pending.n + n + 1, sizeof(*sw.rt));
	if (!st || !sw.rt) {
		free(st);
		free(sw.rt);
		return -ENOMEM;
	}
	lsm->pending_changed = 0;
	ug_bynames_begin(&lsm->pending);

	/* 1. Compile and write the new tries of what changed. */
	for (size_t i = 0; i < n; i++) {
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct ug_byname *e;
		bool added;

		if (with_self && i > 0 && !strcmp(p[i].name, lsm->self.name)) {
			ug_unitpol_reset(&u->h);
			ug_unitpol_fail(&u->h, -EPERM, &first_err, "%s", SELF_WHY);
			ug_log(LOG_ERR, "lsm: %s: its LSM policy is not kept by name: %s",
			       u->h.target ? u->h.target : p[i].name, u->h.why);
			continue;
		}
		e = ug_bynames_want(&lsm->pending, p[i].name, p[i].parent_cgid, p[i].level,
				    p[i].via, &u->h, &first_err, pending_same, u, &added);
		if (!e)
			continue;
		err = lsm_stage(lsm, u, ug_byname_owner(e->name), generation, &st[i]);
		if (err) {
			ug_unitpol_fail(&u->h, err, &first_err, NULL);
			ug_log(LOG_ERR, "lsm: %s: cannot keep its LSM policy for its next start "
			       "(%zu path rules): %s; its previous one stays", e->target,
			       u->n_paths, u->h.why);
		}
	}

	/* 2. The hooks the new policies need, before any cgroup can get them. */
	lsm_state_needs(lsm, need);
	for (size_t i = 0; i < n; i++)
		for (int q = 0; q < N_PROGS; q++)
			need[q] = need[q] || (st[i].ok && lsm_needs(&st[i].val, q));
	hooks_err = lsm_attach_hooks(lsm, need, errs);
	first_err = first_err ?: hooks_err;

	/* 3. Switch each changed entry to its new trie in one map update. */
	for (size_t i = 0; i < n; i++) {
		struct ug_pending_lsm v = {
			.val = st[i].val,
			.parent_cgid = p[i].parent_cgid,
			.level = p[i].level,
		};
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct pending_state *ps;

		if (!st[i].ok)
			continue;
		snprintf(v.via, sizeof(v.via), "%s", p[i].via ? p[i].via : "");
		ps = (struct pending_state *)ug_byname_find(&lsm->pending, p[i].name);
		err = ug_byname_write(&lsm->pending, &ps->h, &v);
		if (err) {
			ug_unitpol_fail(&u->h, err, &first_err, "cannot update ug_pending_lsm: %s",
					strerror(-err));
			ug_log(LOG_ERR, "lsm: %s: %s", ps->h.target, u->h.why);
			lsm_unstage(lsm, &st[i]);
			continue;
		}
		if (ps->h.trie)
			sw.rt[sw.n_rt++] = (struct retarget){ .old = ps->h.trie, .val = v.val };
		ug_byname_switched(&lsm->pending, &ps->h, st[i].trie, p[i].parent_cgid, p[i].level,
				   p[i].via, generation);
		ps->val = st[i].val;
		free(ps->paths);
		ps->paths = st[i].paths;
		ps->n_paths = u->n_paths;
		sw.changed = true;
		/* The agent's own entry is not a policy change. */
		lsm->pending_changed += !(with_self && i == 0);
		ug_log(LOG_INFO, "lsm: %s: kept for its next start as %s, generation %u, %zu path "
		       "rules, %zu trie entries", ps->h.target, ps->h.name, generation, u->n_paths,
		       ug_tries_size(lsm->tries, ps->h.trie));
	}
	if (hooks_err) {
		for (size_t i = 0; i < n; i++) {
			const struct ug_byname *e;

			if (p[i].pol.h.err || !(e = ug_byname_find(&lsm->pending, p[i].name)))
				continue;
			lsm_hook_err(lsm, errs, &((const struct pending_state *)e)->val, &p[i].pol);
		}
	}

	/* 4. Names without pending policy any more. */
	err = ug_bynames_sweep(&lsm->pending, pending_gone, &sw);
	first_err = first_err ?: err;

	/* 5. Cgroups made from the old entries meanwhile. */
	err = retarget_copies(lsm, sw.rt, sw.n_rt);
	first_err = first_err ?: err;

	/* 6. Hooks nobody needs any more. */
	lsm_detach_unneeded(lsm);

	if (sw.changed && generation > lsm->generation)
		lsm->generation = generation;
	free(st);
	free(sw.rt);
	return first_err;
}

/* The agent's own cgroup (self) is kept by name too, first: the pending
 * entry a restart of the agent meets at its cgroup's mkdir(2). */
int ug_lsm_apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation)
{
	struct ug_lsm_pending *all;
	int err;

	if (!lsm->self.on)
		return apply_pending(lsm, p, n, generation, false);
	all = calloc(n + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	all[0] = (struct ug_lsm_pending){
		.name = lsm->self.name,
		.parent_cgid = lsm->self.parent_id,
		.level = lsm->self.cg.level,
		.pol.h = { .target = lsm->self.target, .mode = UG_MODE_OFF },
	};
	if (n)
		memcpy(all + 1, p, n * sizeof(*p));
	err = apply_pending(lsm, all, n + 1, generation, true);
	if (n)
		memcpy(p, all + 1, n * sizeof(*p));
	if (all[0].pol.h.err)
		ug_log(LOG_ERR, "lsm: cannot keep the exemption of the agent's own cgroup %s for "
		       "the agent's next start: %s", lsm->self.target, all[0].pol.h.why);
	free(all);
	return err;
}
