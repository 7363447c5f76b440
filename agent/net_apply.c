// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Each generation's map writes: per policy cgroup (ug_units) and per policy
 * kept by name (ug_pending_net), a trie built and switched to in one update;
 * cgroups made from a name's policy moved along with it; and the cleanup
 * that retires old tries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "net_internal.h"

/* Entries deleted per cleanup call: freeing a big trie must not stall the
 * event loop (a delete is a syscall of a few microseconds). */
#define FREE_BUDGET 20000

static struct unit_state *unit_find(const struct ug_net *net, uint64_t cgid)
{
	return (struct unit_state *)ug_unitstate_find(net->units, net->n_units, sizeof(*net->units),
						      cgid);
}

static bool unit_same(void *ctx, const struct ug_unitstate *h, const struct ug_unitpol *up)
{
	const struct unit_state *s = (const struct unit_state *)h;
	const struct ug_net_unit *u = (const struct ug_net_unit *)up;

	(void)ctx;
	return s->mode == u->h.mode && s->deny_default == u->deny_default &&
	       s->audit_default == u->audit_default && s->n_rules == u->n_rules &&
	       s->digest == net_rules_digest(u->rules, u->n_rules);
}

/* UG_UNIT_NO_L4 when no rule needs the transport header: none has ports,
 * none is a bind rule (a TCP SYN meets the bind rules at packet level). */
static uint16_t unit_flags(const struct ug_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].has_ports || rules[i].dir == UG_DIR_BIND)
			return 0;
	return UG_UNIT_NO_L4;
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(void *ctx, struct ug_unitstate *h, struct ug_unitpol *up,
		       uint32_t generation, size_t *written)
{
	struct unit_state *s = (struct unit_state *)h;
	struct ug_net_unit *u = (struct ug_net_unit *)up;
	struct ug_net *net = ctx;
	struct ug_unit_val val = {
		.generation = generation,
		.mode = u->h.mode,
		.deny_default = u->deny_default,
		.audit_default = u->audit_default,
		.acct = s->acct,
		.flags = unit_flags(u->rules, u->n_rules),
	};
	uint16_t id;
	int err;

	err = net_trie_for(net, s->h.cgid, u->rules, u->n_rules, &id, u->h.why, sizeof(u->h.why),
		       written);
	if (err)
		return err;
	val.trie = id;
	net->gen_dirty = true;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_units), &u->h.cg.id, &val,
				BPF_ANY)) {
		err = -errno;
		ug_tries_put(net->tries, id, s->h.cgid);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	ug_tries_put(net->tries, s->h.trie, s->h.cgid);
	s->h.trie = id;
	s->digest = net_rules_digest(u->rules, u->n_rules);
	s->n_rules = u->n_rules;
	s->mode = u->h.mode;
	s->deny_default = u->deny_default;
	s->audit_default = u->audit_default;
	s->h.generation = generation;
	s->h.loaded = true;
	return 0;
}

/* The state of u's cgroup, made if there is none (with its accounting slot). */
static int unit_get(void *ctx, struct ug_unitpol *u, struct ug_unitstate **out)
{
	struct ug_net *net = ctx;
	struct unit_state *s = unit_find(net, u->cg.id);
	struct ug_unit_val old;
	int err = 0;

	if (s) {
		*out = &s->h;
		return 0;
	}
	s = ug_push((void **)&net->units, &net->n_units, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->h.cgid = u->cg.id;
	/* The cgroup_mkdir program already gave it a policy, and a slot of
	 * its own: keep counting there. */
	if (!bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_units), &u->cg.id, &old) &&
	    old.acct < UG_ACCT_SLOTS && ug_ids_test(net->acct_used, old.acct))
		s->acct = old.acct;
	else
		err = net_acct_alloc(net, &s->acct);
	if (err) {
		net->n_units--; /* s is the last */
		snprintf(u->why, sizeof(u->why), "no accounting slot: %s", strerror(-err));
		return err;
	}
	*out = &s->h;
	return 0;
}

static const struct ug_unitpol_ops unit_ops = {
	.side = "net", .rules = "rules", .n_rules_at = offsetof(struct ug_net_unit, n_rules),
	.get = unit_get, .same = unit_same, .update = unit_update,
};

/*
 * After a change to ug_units is complete: every verdict a socket keeps for
 * its flow (net.bpf.c, ug_sk_v) is stale (unitguard.h, ug_config.gen). Run
 * in the kernel, atomically. When it cannot be: the error, so that the pass
 * does not report the change in force (sockets would go on with the verdict
 * reached before it), and it is tried again at every apply and cleanup.
 */
static int net_gen_bump(struct ug_net *net)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	int err = 0;

	if (!net->gen_dirty)
		return 0;
	if (bpf_prog_test_run_opts(bpf_program__fd(net->skel->progs.ug_gen_bump), &opts))
		err = -errno;
	else if (opts.retval)
		err = -ENOENT;
	if (err) {
		if (!net->gen_said)
			ug_log(LOG_ERR, "net: cannot mark the verdicts kept on sockets as stale: %s; "
			       "established flows may keep the verdict of the policy before",
			       strerror(-err));
		net->gen_said = true;
		return err;
	}
	net->gen_said = false;
	net->gen_dirty = false;
	return 0;
}

int ug_net_apply(struct ug_net *net, struct ug_net_unit *units, size_t n,
		 struct ug_net_point *points, size_t n_points, uint32_t generation)
{
	struct ug_unitpol_env env = {
		.ctx = net, .tries = net->tries, .level_mask = &net->level_mask,
		.cfg_fd = bpf_map__fd(net->skel->maps.ug_config),
	};
	uint32_t n_changed;
	uint64_t t0 = ug_now_ns();
	int first_err = 0, err;
	bool changed = false;
	size_t kept, written = 0;

	for (size_t i = 0; i < net->n_units; i++)
		net->units[i].h.seen = false;
	err = ug_unitpols_apply(units, n, sizeof(*units), generation,
				ug_bynames_levels(&net->pending), &unit_ops, &env, &written,
				&first_err);
	if (err < 0)
		return err;
	n_changed = err;

	/* Policy cgroups that no longer have rules. Unlike the LSM side, a new
	 * unit whose policy was refused keeps its state: it holds an accounting
	 * slot, perhaps the one the cgroup_mkdir program gave its cgroup. */
	kept = 0;
	for (size_t i = 0; i < net->n_units; i++) {
		struct unit_state *s = &net->units[i];

		if (s->h.seen) {
			net->units[kept++] = *s;
			continue;
		}
		net->gen_dirty = true;
		if (bpf_map_delete_elem(bpf_map__fd(net->skel->maps.ug_units), &s->h.cgid) &&
		    errno != ENOENT) {
			ug_log(LOG_ERR, "net: %s: cannot remove its policy: %s", s->h.target,
			       strerror(errno));
			first_err = first_err ?: -errno;
			net->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "net: %s: no rules left, policy removed", s->h.target);
		net_remember_gone(net, s);
		ug_tries_put(net->tries, s->h.trie, 0);
		changed = true;
	}
	net->n_units = kept;

	/* Attach where wanted before detaching elsewhere: a new, higher point
	 * covers its cgroups before the lower points' links go. */
	for (size_t i = 0; i < net->n_att; i++)
		net->att[i].wanted = false;
	for (size_t i = 0; i < n_points; i++) {
		struct attachment *a;

		points[i].err = net_attach(net, &points[i]);
		first_err = first_err ?: points[i].err;
		a = net_att_find(net, points[i].id);
		if (a)
			a->wanted = true;
	}
	kept = 0;
	for (size_t i = 0; i < net->n_att; i++) {
		if (net->att[i].wanted) {
			net->att[kept++] = net->att[i];
			continue;
		}
		net_detach(net, &net->att[i]);
	}
	net->n_att = kept;

	/* Narrowed last: to the policy cgroups still in the kernel (one whose
	 * removal failed keeps its level). */
	err = ug_unitpols_narrow(&env, net->units, net->n_units, sizeof(*net->units),
				 ug_bynames_levels(&net->pending));
	first_err = first_err ?: err;
	first_err = first_err ?: net_gen_bump(net);
	net->last_changed = n_changed;
	if (changed || n_changed) {
		net->generation = generation;
		ug_log(LOG_INFO, "net: generation %u applied in %.3f ms (%u units changed, %zu "
		       "trie entries written)", generation, (ug_now_ns() - t0) / 1e6, n_changed,
		       written);
	}
	return first_err;
}

uint32_t ug_net_unit_generation(const struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].h.cgid == cgid)
			return net->units[i].h.generation;
	return 0;
}

uint32_t ug_net_units_changed(const struct ug_net *net)
{
	return net->last_changed;
}

uint32_t ug_net_pending_changed(const struct ug_net *net)
{
	return net->pending_changed;
}

/* Does the entry hold the policy of request req (a struct ug_net_pending)? */
static bool pending_same(const struct ug_byname *e, const void *req)
{
	const struct pending_state *ps = (const struct pending_state *)e;
	const struct ug_net_pending *p = req;

	return ps->mode == p->pol.h.mode && ps->deny_default == p->pol.deny_default &&
	       ps->audit_default == p->pol.audit_default && ps->n_rules == p->pol.n_rules &&
	       ps->digest == net_rules_digest(p->pol.rules, p->pol.n_rules);
}

/*
 * Cgroups the cgroup_mkdir program gave a pending policy, before the agent
 * saw them, point at the pending trie. Before that trie is retired, point
 * them at its successor (or drop them with it), else they would later read a
 * deleted trie, or a reused id's rules. 0, or a negative errno when some
 * could not be moved: they still read old_trie (hold_copies()).
 */
static int move_copies(struct ug_net *net, uint16_t old_trie, const struct ug_unit_val *to)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int fd = bpf_map__fd(net->skel->maps.ug_units);
	__u64 keys[256], batch = 0, *hit = NULL, key, *pkey = NULL;
	struct ug_unit_val vals[256];
	size_t n_hit = 0;
	void *in = NULL;
	int err, ret = 0;

	if (!old_trie)
		return 0;
	net->gen_dirty = true;
	/* Read in batches (one syscall per 256 entries), change afterwards. */
	do {
		__u32 count = 256;

		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT) {
			/* No batch lookups: one by one. */
			count = 0;
			n_hit = 0;
			while (!bpf_map_get_next_key(fd, pkey, &key)) {
				pkey = &key;
				if (!bpf_map_lookup_elem(fd, &key, &vals[0]) && vals[0].trie == old_trie &&
				    !unit_find(net, key)) {
					__u64 *h = reallocarray(hit, n_hit + 1, sizeof(*hit));

					if (!h) {
						ret = -ENOMEM;
						break;
					}
					hit = h;
					hit[n_hit++] = key;
				}
			}
			break;
		}
		for (__u32 k = 0; k < count; k++) {
			__u64 *h;

			if (vals[k].trie != old_trie || unit_find(net, keys[k]))
				continue;
			h = reallocarray(hit, n_hit + 1, sizeof(*hit));
			if (!h) {
				ret = -ENOMEM;
				break;
			}
			hit = h;
			hit[n_hit++] = keys[k];
		}
		in = &batch;
	} while (!err && !ret);
	for (size_t k = 0; k < n_hit; k++) {
		/* ENOENT: the cgroup went meanwhile, its entry with it. */
		if ((to ? bpf_map_update_elem(fd, &hit[k], to, BPF_EXIST)
			: bpf_map_delete_elem(fd, &hit[k])) && errno != ENOENT)
			ret = ret ?: -errno;
	}
	free(hit);
	return ret;
}

/* Copies of name's policy that could not be moved keep reading trie: it is
 * kept (a reference of its own) until they are, retried at each cleanup. */
static void hold_copies(struct ug_net *net, uint16_t trie, const char *name, int err)
{
	struct stuck *s = ug_push((void **)&net->stuck, &net->n_stuck, sizeof(*s));

	ug_log(LOG_ERR, "net: cgroups made from %s's policy kept by name could not be moved to "
	       "its new rules (%s): they keep its previous ones until they can", name,
	       strerror(-err));
	if (!s)
		return; /* without a reference, the trie goes after its grace period */
	s->trie = trie;
	snprintf(s->name, sizeof(s->name), "%s", name);
	ug_tries_claim(net->tries, trie);
}

/* Held copies moved where their policy kept by name now is (or dropped with it). */
static void retry_copies(struct ug_net *net)
{
	size_t kept = 0;

	for (size_t i = 0; i < net->n_stuck; i++) {
		struct stuck *s = &net->stuck[i];
		struct ug_byname *e = ug_byname_find(&net->pending, s->name);
		struct ug_pending_key key = {};
		struct ug_pending_net v;
		const struct ug_unit_val *to = NULL;

		memcpy(key.name, s->name, strnlen(s->name, sizeof(key.name) - 1));
		if (e && !bpf_map_lookup_elem(net->pending.fd, &key, &v))
			to = &v.val;
		if (move_copies(net, s->trie, to)) {
			net->stuck[kept++] = *s;
			continue;
		}
		ug_tries_put(net->tries, s->trie, ug_byname_owner(s->name));
		ug_log(LOG_NOTICE, "net: the cgroups made from %s's policy kept by name are on its "
		       "rules in force now", s->name);
	}
	net->n_stuck = kept;
}

static int pending_write(struct ug_net *net, struct pending_state *ps, struct ug_net_pending *p,
			 uint32_t generation)
{
	struct ug_pending_net val = {
		.val = { .generation = generation, .mode = p->pol.h.mode,
			 .deny_default = p->pol.deny_default,
			 .audit_default = p->pol.audit_default, .acct = ps->acct,
			 .flags = unit_flags(p->pol.rules, p->pol.n_rules) },
		.parent_cgid = p->parent_cgid,
		.level = p->level,
	};
	uint64_t owner = ug_byname_owner(ps->h.name);
	size_t written = 0;
	uint16_t id;
	int err;

	err = net_trie_for(net, owner, p->pol.rules, p->pol.n_rules, &id, p->pol.h.why,
		       sizeof(p->pol.h.why), &written);
	if (err)
		return err;
	val.val.trie = id;
	snprintf(val.via, sizeof(val.via), "%s", p->via ? p->via : "");
	err = ug_byname_write(&net->pending, &ps->h, &val);
	if (err) {
		ug_tries_put(net->tries, id, owner);
		return err;
	}
	err = move_copies(net, ps->h.trie, &val.val);
	if (err)
		hold_copies(net, ps->h.trie, ps->h.name, err);
	ug_byname_switched(&net->pending, &ps->h, id, p->parent_cgid, p->level, p->via, generation);
	ps->digest = net_rules_digest(p->pol.rules, p->pol.n_rules);
	ps->n_rules = p->pol.n_rules;
	ps->mode = p->pol.h.mode;
	ps->deny_default = p->pol.deny_default;
	ps->audit_default = p->pol.audit_default;
	return 0;
}

/* Is an accounting slot still used by a running cgroup's state? */
static bool acct_in_use(const struct ug_net *net, uint16_t slot)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].acct == slot)
			return true;
	return false;
}

static void pending_gone(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err)
{
	struct pending_state *ps = (struct pending_state *)e;
	struct ug_net *net = ctx;

	if (how == UG_BYNAME_STUCK) {
		ug_log(LOG_ERR, "net: %s: cannot remove its pending policy: %s", e->target,
		       strerror(-err));
		return;
	}
	if (how == UG_BYNAME_REMOVED) {
		err = move_copies(net, e->trie, NULL);
		if (err)
			hold_copies(net, e->trie, e->name, err);
		net->pending_changed++;
	}
	if (ps->has_acct && !acct_in_use(net, ps->acct))
		ug_ids_clear(net->acct_used, ps->acct);
}

/*
 * Each changed entry is compiled and switched to at once: the network
 * programs are attached at points, not per policy, so there is nothing to
 * attach first (the LSM side stages its entries and attaches their hooks
 * before switching). Each gets an accounting slot of its own when added.
 */
int ug_net_apply_pending(struct ug_net *net, struct ug_net_pending *p, size_t n,
			 uint32_t generation)
{
	int first_err = 0, err;

	net->pending_changed = 0;
	ug_bynames_begin(&net->pending);
	for (size_t i = 0; i < n; i++) {
		struct ug_unitpol *u = &p[i].pol.h;
		struct pending_state *ps;
		bool added;

		ps = (struct pending_state *)ug_bynames_want(&net->pending, p[i].name,
							     p[i].parent_cgid, p[i].level, p[i].via, u,
							     &first_err, pending_same, &p[i],
							     &added);
		if (!ps)
			continue;
		/* Its own slot: where new cgroups count when the pool of fresh
		 * slots is empty. */
		if (added) {
			err = net_acct_alloc(net, &ps->acct);
			if (err) {
				ug_bynames_unadd(&net->pending);
				ug_unitpol_fail(u, err, &first_err, "no accounting slot: %s",
						strerror(-err));
				continue;
			}
			ps->has_acct = true;
		}
		err = pending_write(net, ps, &p[i], generation);
		if (err) {
			ug_unitpol_fail(u, err, &first_err, NULL);
			ug_log(LOG_ERR, "net: %s: cannot keep its policy for its next start: %s",
			       ps->h.target, u->why);
			continue;
		}
		net->pending_changed++;
	}
	err = ug_bynames_sweep(&net->pending, pending_gone, net);
	return first_err ?: err;
}

uint32_t ug_net_generation(const struct ug_net *net)
{
	return net->generation;
}

void ug_net_cleanup(struct ug_net *net)
{
	if (++net->cleanups % 30 == 0)
		net_acct_reclaim(net);
	net_acct_pool_fill(net);
	retry_copies(net);
	net_gen_bump(net);
	ug_tries_collect(net->tries, false, FREE_BUDGET);
	/* The tries a killed agent left are gone: so is what they pointed at. */
	if (net->adoption_held && !ug_tries_adopted(net->tries)) {
		net->adoption_held = false;
		for (uint32_t i = 1; i < N_LISTS; i++)
			if (net->lists[i] && net->lists[i]->adopted) {
				net->lists[i]->adopted = false;
				net_list_put(net, i);
			}
	}
}
