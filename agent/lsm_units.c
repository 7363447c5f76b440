// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Applying LSM policy to running policy cgroups (ug_lsm_apply): each unit's
 * paths, families and hardening switches compiled into a trie of its own
 * and switched to with one update of ug_lsm_units, the agent's own cgroup
 * exempted first, units without policy removed, and the hook programs made
 * to match. Staging a policy is shared with lsm_pending.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "lsm_hooks.h"
#include "lsm_units.h"
#include "util.h"

static bool paths_same(const struct ug_path_rule *a, const struct ug_path_rule *b, size_t n)
{
	/* Field by field: padding and the bytes after each path's NUL are the
	 * caller's and may differ without meaning anything. */
	for (size_t i = 0; i < n; i++)
		if (a[i].id != b[i].id || a[i].kind != b[i].kind || a[i].action != b[i].action ||
		    a[i].access != b[i].access || a[i].depth != b[i].depth ||
		    strncmp(a[i].path, b[i].path, sizeof(a[i].path)))
			return false;
	return true;
}

/* Is the policy the kernel has (v, paths: a copy of what it was compiled
 * from) what u asks for? */
bool lsm_pol_same(bool loaded, const struct ug_lsm_unit *v, const struct ug_path_rule *paths,
		  size_t n_paths, const struct ug_lsm_unitpol *u)
{
	return loaded && v->mode == u->h.mode && v->harden == u->harden &&
	       v->harden_audit == u->harden_audit && v->deny_families == u->deny_families &&
	       v->audit_families == u->audit_families && n_paths == u->n_paths &&
	       paths_same(paths, u->paths, u->n_paths);
}

int lsm_stage(struct ug_lsm *lsm, struct ug_lsm_unitpol *u, uint64_t owner,
	      uint32_t generation, struct staged *st)
{
	struct ug_lsm_unit val = {
		.deny_families = u->deny_families,
		.audit_families = u->audit_families,
		.generation = generation,
		.mode = u->h.mode,
		.harden = u->harden,
		.harden_audit = u->harden_audit,
	};
	struct ug_path_entry *e = NULL;
	struct ug_path_rule *paths = NULL;
	size_t n = 0, written = 0;
	uint16_t id;
	int err;

	if (u->h.mode > UG_MODE_OFF) {
		snprintf(u->h.why, sizeof(u->h.why), "invalid mode %u", u->h.mode);
		return -EINVAL;
	}
	err = ug_path_compile(u->paths, u->n_paths, 0, &e, &n, u->h.why, sizeof(u->h.why));
	if (err)
		return err;
	/* A hook runs for a unit only when some entry can refuse something, or
	 * would (audited). */
	for (size_t i = 0; i < n; i++) {
		if (e[i].key.kind == UG_PATH_EXEC && e[i].val.all.action == UG_ACT_DENY)
			val.has_paths |= 1u << UG_PATH_EXEC;
		if (e[i].key.kind == UG_PATH_FILE && e[i].val.all.deny_access)
			val.has_paths |= 1u << UG_PATH_FILE;
	}
	if (u->n_paths) {
		paths = malloc(u->n_paths * sizeof(*paths));
		if (!paths) {
			free(e);
			return -ENOMEM;
		}
		memcpy(paths, u->paths, u->n_paths * sizeof(*paths));
	}
	err = ug_tries_get(lsm->tries, owner, e, n, &id, &written);
	if (err) {
		if (err == -ENOSPC)
			snprintf(u->h.why, sizeof(u->h.why),
				 "ug_paths is full: %zu of %u entries used", ug_tries_used(lsm->tries),
				 ug_tries_capacity(lsm->tries));
		free(e);
		free(paths);
		return err;
	}
	val.trie = id;
	st->trie = id;
	st->owner = owner;
	st->val = val;
	st->paths = paths;
	st->ok = true;
	return 0;
}

/* Undo lsm_stage(): nothing refers to the trie yet. */
void lsm_unstage(struct ug_lsm *lsm, struct staged *st)
{
	ug_tries_put(lsm->tries, st->trie, st->owner);
	free(st->paths);
	memset(st, 0, sizeof(*st));
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(void *ctx, struct ug_unitstate *h, struct ug_unitpol *up,
		       uint32_t generation, size_t *entries)
{
	struct ug_lsm_unitpol *u = (struct ug_lsm_unitpol *)up;
	struct unit_state *s = (struct unit_state *)h;
	struct ug_lsm *lsm = ctx;
	struct staged st = {};
	int err;

	err = lsm_stage(lsm, u, s->h.cgid, generation, &st);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &u->h.cg.id, &st.val,
				BPF_ANY)) {
		err = -errno;
		lsm_unstage(lsm, &st);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	ug_tries_put(lsm->tries, s->h.trie, s->h.cgid);
	s->h.trie = st.trie;
	s->h.generation = generation;
	s->val = st.val;
	free(s->paths);
	s->paths = st.paths;
	s->n_paths = u->n_paths;
	s->h.loaded = true;
	*entries = ug_tries_size(lsm->tries, s->h.trie);
	return 0;
}

static bool unit_same(void *ctx, const struct ug_unitstate *h, const struct ug_unitpol *u)
{
	const struct unit_state *s = (const struct unit_state *)h;

	(void)ctx;
	return lsm_pol_same(true, &s->val, s->paths, s->n_paths, (const struct ug_lsm_unitpol *)u);
}

static int unit_get(void *ctx, struct ug_unitpol *u, struct ug_unitstate **out)
{
	struct ug_lsm *lsm = ctx;

	if (lsm->self.on && u->cg.id == lsm->self.cg.id && !lsm->self.applying) {
		snprintf(u->why, sizeof(u->why), "%s", SELF_WHY);
		ug_log(LOG_ERR, "lsm: %s: its LSM policy is refused: %s", u->target, u->why);
		return -EPERM;
	}

	*out = ug_unitstate_get((void **)&lsm->units, &lsm->n_units, sizeof(*lsm->units),
				u->cg.id);
	return *out ? 0 : -ENOMEM;
}

static const struct ug_unitpol_ops unit_ops = {
	.side = "lsm", .rules = "path rules",
	.n_rules_at = offsetof(struct ug_lsm_unitpol, n_paths),
	.get = unit_get, .same = unit_same, .update = unit_update,
};

static void remember_gone(struct ug_lsm *lsm, const struct unit_state *s)
{
	unsigned i = lsm->gone_next++ % (sizeof(lsm->gone) / sizeof(lsm->gone[0]));

	lsm->gone[i].cgid = s->h.cgid;
	lsm->gone[i].generation = s->h.generation;
	snprintf(lsm->gone[i].target, sizeof(lsm->gone[i].target), "%s", s->h.target);
}

/* Attach every hook some policy in the kernel (units' and pending entries')
 * needs, then detach the others. A unit whose hook could not be attached is
 * told so. */
static int sync_hooks(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n)
{
	bool need[N_PROGS] = {};
	int errs[N_PROGS], first_err;

	lsm_state_needs(lsm, need);
	first_err = lsm_attach_hooks(lsm, need, errs);
	if (first_err) {
		for (size_t i = 0; i < n; i++) {
			struct unit_state *s = unit_find(lsm, units[i].h.cg.id);

			if (s)
				lsm_hook_err(lsm, errs, &s->val, &units[i]);
		}
	}
	lsm_detach_unneeded(lsm);
	return first_err;
}

/* Write the exemption of the agent's own cgroup (self) if it is not in
 * force: before any unit's policy, which could otherwise judge the agent's
 * next bpf() call. Not counted as a change. */
static int self_apply(struct ug_lsm *lsm, const struct ug_unitpol_env *env, uint32_t generation,
		      size_t *entries, int *first_err)
{
	struct ug_lsm_unitpol u = {
		.h = {
			.target = lsm->self.target,
			.cg = { .id = lsm->self.cg.id, .level = lsm->self.cg.level },
			.mode = UG_MODE_OFF,
		},
	};
	int err;

	if (!lsm->self.on)
		return 0;
	lsm->self.applying = true;
	err = ug_unitpols_apply(&u, 1, sizeof(u), generation, ug_bynames_levels(&lsm->pending),
				&unit_ops, env, entries, first_err);
	lsm->self.applying = false;
	if (!err && u.h.err)
		ug_log(LOG_ERR, "lsm: cannot exempt the agent's own cgroup %s from LSM rules: %s",
		       lsm->self.target, u.h.why);
	return err < 0 ? err : 0;
}

int ug_lsm_apply(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n,
		 uint32_t generation)
{
	struct ug_unitpol_env env = {
		.ctx = lsm, .tries = lsm->tries, .level_mask = &lsm->level_mask,
		.cfg_fd = bpf_map__fd(lsm->skel->maps.ug_lsm_config),
	};
	uint32_t n_changed;
	uint64_t t0 = ug_now_ns();
	size_t kept, entries = 0;
	bool changed = false;
	int first_err = 0, err;

	for (size_t i = 0; i < lsm->n_units; i++)
		lsm->units[i].h.seen = false;
	err = self_apply(lsm, &env, generation, &entries, &first_err);
	if (!err)
		err = ug_unitpols_apply(units, n, sizeof(*units), generation,
					ug_bynames_levels(&lsm->pending), &unit_ops, &env, &entries,
					&first_err);
	if (err < 0) {
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
		return err;
	}
	n_changed = err;

	/* Policy cgroups that no longer have LSM policy (or never got it in). */
	kept = 0;
	for (size_t i = 0; i < lsm->n_units; i++) {
		struct unit_state *s = &lsm->units[i];

		if (s->h.seen && (s->h.loaded || s->val.trie)) {
			lsm->units[kept++] = *s;
			continue;
		}
		if (s->h.seen) {
			/* New and refused: nothing of it is in the kernel. */
			free(s->paths);
			continue;
		}
		if (bpf_map_delete_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &s->h.cgid) &&
		    errno != ENOENT) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: %s: cannot remove its policy: %s", s->h.target,
			       strerror(-err));
			first_err = first_err ?: err;
			lsm->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "lsm: %s: no LSM policy left, removed", s->h.target);
		remember_gone(lsm, s);
		ug_tries_put(lsm->tries, s->h.trie, 0);
		free(s->paths);
		changed = true;
	}
	lsm->n_units = kept;

	err = sync_hooks(lsm, units, n);
	first_err = first_err ?: err;

	err = ug_unitpols_narrow(&env, lsm->units, lsm->n_units, sizeof(*lsm->units),
				 ug_bynames_levels(&lsm->pending));
	if (err)
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
	first_err = first_err ?: err;

	lsm->last_changed = n_changed;
	if (changed || n_changed) {
		if (generation > lsm->generation)
			lsm->generation = generation;
		ug_log(LOG_INFO, "lsm: generation %u applied in %.3f ms (%u units changed, %zu "
		       "trie entries written)", generation, (ug_now_ns() - t0) / 1e6, n_changed,
		       entries);
	}
	return first_err;
}
