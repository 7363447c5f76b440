// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What is counted and what the ring's reader needs: accounting slots in
 * ug_acct (allocated, pooled for the cgroup_mkdir program, reclaimed), the
 * final counts and names of removed policy cgroups, stats and rule hits, the
 * agent's counters, and the aggregation window's flush.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flush.h"
#include "log.h"
#include "pinned.h"
#include "net_internal.h"

#define FINAL_MAX 65536

/* Sum of one ug_acct slot over all CPUs. */
static int acct_read(const struct ug_net *net, uint16_t slot, int dir, struct ug_acct_val *sum)
{
	return ug_pinned_acct(bpf_map__fd(net->skel->maps.ug_acct), slot, dir, sum);
}

/* A fresh slot starts from zero: it may hold a removed cgroup's counts. */
int net_acct_alloc(struct ug_net *net, uint16_t *slot)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ug_acct_val *zero;

	if (ncpu < 0)
		return ncpu;
	for (uint32_t i = 0; i < UG_ACCT_SLOTS; i++) {
		if (ug_ids_test(net->acct_used, i))
			continue;
		zero = calloc(ncpu, sizeof(*zero));
		if (!zero)
			return -ENOMEM;
		for (int dir = 0; dir < 2; dir++) {
			__u32 idx = i * 2 + dir;

			if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_acct), &idx, zero,
						BPF_ANY)) {
				int err = -errno;

				free(zero);
				return err;
			}
		}
		free(zero);
		ug_ids_set(net->acct_used, i);
		*slot = i;
		return 0;
	}
	return -ENOSPC;
}

/*
 * Keep ug_acct_free full of zeroed slots: the cgroup_mkdir program gives one
 * to each cgroup it puts a policy on. Slots in the queue are marked used
 * here, owned by nobody until a cgroup takes one.
 */
void net_acct_pool_fill(struct ug_net *net)
{
	int fd = bpf_map__fd(net->skel->maps.ug_acct_free);
	uint16_t slot;

	while (!net_acct_alloc(net, &slot)) {
		__u32 v = slot;

		if (bpf_map_update_elem(fd, NULL, &v, BPF_ANY)) {
			ug_ids_clear(net->acct_used, slot); /* full (E2BIG): enough */
			break;
		}
	}
}

/*
 * Slots marked used that nothing holds: given by the cgroup_mkdir program to
 * a cgroup that went before the agent saw it. Every slot in use is in a
 * ug_units value, a pending entry, or the queue; the rest are freed. The
 * queue is emptied for a moment to be read (a cgroup made in that moment
 * counts in its policy's own slot).
 */
void net_acct_reclaim(struct ug_net *net)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int qfd = bpf_map__fd(net->skel->maps.ug_acct_free);
	int ufd = bpf_map__fd(net->skel->maps.ug_units);
	uint8_t held[UG_ACCT_SLOTS / 8] = {};
	__u64 keys[256], batch = 0;
	struct ug_unit_val vals[256];
	__u32 q[64];
	size_t n_q = 0;
	bool complete = true;
	void *in = NULL;
	int err;

	/* The queue first: from here on no cgroup takes a slot from it. */
	while (n_q < 64 && !bpf_map_lookup_and_delete_elem(qfd, NULL, &q[n_q]))
		n_q++;
	for (size_t i = 0; i < n_q; i++)
		if (q[i] < UG_ACCT_SLOTS)
			ug_ids_set(held, q[i]);
	do {
		__u32 count = 256;

		err = bpf_map_lookup_batch(ufd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT) {
			complete = false; /* cannot tell: free nothing */
			break;
		}
		for (__u32 k = 0; k < count; k++)
			if (vals[k].acct < UG_ACCT_SLOTS)
				ug_ids_set(held, vals[k].acct);
		in = &batch;
	} while (!err);
	for (size_t i = 0; i < net->n_units; i++)
		ug_ids_set(held, net->units[i].acct);
	for (size_t i = 0; i < net->pending.n; i++)
		ug_ids_set(held, pend(net, i)->acct);
	for (uint32_t i = 0; complete && i < UG_ACCT_SLOTS; i++)
		if (ug_ids_test(net->acct_used, i) && !ug_ids_test(held, i))
			ug_ids_clear(net->acct_used, i);
	for (size_t i = 0; i < n_q; i++)
		bpf_map_update_elem(qfd, NULL, &q[i], BPF_ANY);
}

/* After a restart: the slots in the queue are taken (by the queue). */
void net_acct_pool_adopt(struct ug_net *net)
{
	int fd = bpf_map__fd(net->skel->maps.ug_acct_free);
	__u32 v[64];
	size_t n = 0;

	while (n < 64 && !bpf_map_lookup_and_delete_elem(fd, NULL, &v[n]))
		n++;
	for (size_t i = 0; i < n; i++) {
		if (v[i] >= UG_ACCT_SLOTS || ug_ids_test(net->acct_used, v[i]))
			continue;
		ug_ids_set(net->acct_used, v[i]);
		bpf_map_update_elem(fd, NULL, &v[i], BPF_ANY);
	}
}

/* A removed cgroup's final counts, kept until a snapshot with them is
 * stored. At the cap the oldest go, counted: a store that cannot take them
 * must not make the agent grow without bound. */
static void keep_final(struct ug_net *net, const struct unit_state *s)
{
	struct final_counts *f;

	if (net->n_final == FINAL_MAX) {
		memmove(net->final, net->final + 1, (FINAL_MAX - 1) * sizeof(*net->final));
		net->n_final--;
		if (!net->final_dropped++)
			ug_log(LOG_ERR, "net: the final counts of more than %d removed cgroups wait "
			       "for the store: the oldest are dropped", FINAL_MAX);
	}
	f = ug_push((void **)&net->final, &net->n_final, sizeof(*f));
	if (!f) {
		net->final_dropped++;
		return;
	}
	snprintf(f->target, sizeof(f->target), "%s", s->h.target);
	f->st.cgid = s->h.cgid;
	f->st.generation = s->h.generation;
	if (acct_read(net, s->acct, 0, &f->st.acct[0]) || acct_read(net, s->acct, 1, &f->st.acct[1]))
		net->n_final--; /* nothing to tell */
}

/* Keep a removed cgroup's name (its denials may still be in the ring
 * buffer) and final counts (not yet in a snapshot); free its slot. */
void net_remember_gone(struct ug_net *net, const struct unit_state *s)
{
	unsigned i = net->gone_next++ % (sizeof(net->gone) / sizeof(net->gone[0]));

	net->gone[i].cgid = s->h.cgid;
	snprintf(net->gone[i].target, sizeof(net->gone[i].target), "%s", s->h.target);
	keep_final(net, s);
	for (size_t k = 0; k < net->pending.n; k++)
		if (pend(net, k)->acct == s->acct)
			return; /* the next cgroup of that name counts on */
	ug_ids_clear(net->acct_used, s->acct);
}

int ug_net_stats(struct ug_net *net, ug_net_stats_cb cb, void *ctx)
{
	struct ug_net_stats st;
	int err;

	for (size_t i = 0; i < net->n_units; i++) {
		const struct unit_state *s = &net->units[i];

		memset(&st, 0, sizeof(st));
		st.target = s->h.target;
		st.cgid = s->h.cgid;
		st.generation = s->h.generation;
		if ((err = acct_read(net, s->acct, 0, &st.acct[0])) ||
		    (err = acct_read(net, s->acct, 1, &st.acct[1])))
			return err;
		cb(&st, ctx);
	}
	for (size_t i = 0; i < net->n_final; i++) {
		net->final[i].st.target = net->final[i].target;
		net->final[i].sent = true;
		cb(&net->final[i].st, ctx);
	}
	return 0;
}

void ug_net_stats_stored(struct ug_net *net)
{
	size_t kept = 0;

	for (size_t i = 0; i < net->n_final; i++)
		if (!net->final[i].sent)
			net->final[kept++] = net->final[i];
	net->n_final = kept;
}

int ug_net_rule_hits(struct ug_net *net, void (*cb)(uint32_t rule_id, uint64_t hits, void *ctx),
		     void *ctx)
{
	int fd = bpf_map__fd(net->skel->maps.ug_rule_hits);
	__u32 key, next, *pkey = NULL;

	while (!bpf_map_get_next_key(fd, pkey, &next)) {
		uint64_t sum;
		int err;

		key = next;
		pkey = &key;
		err = ug_pinned_sum(fd, &key, &sum);
		if (err == -ENOMEM)
			return err;
		if (!err)
			cb(key, sum, ctx);
	}
	return 0;
}

int ug_net_events_map_fd(const struct ug_net *net)
{
	return bpf_map__fd(net->skel->maps.ug_events);
}

/*
 * Send what the kernel aggregated or lost since the last call into the ring
 * (ug_flush, bpf/cgroup/net.bpf.c). The window moves on once
 * a second; entries of windows that ended go. A restarted agent goes on from
 * the window in the map, so entries an earlier agent left are flushed, not
 * orphaned.
 */
int ug_net_flush(struct ug_net *net)
{
	uint64_t now = ug_now_ns();
	__u32 zero = 0;
	struct ug_agg_cfg cfg;

	if (!net->window_ns) {
		if (!bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_agg_cfg), &zero, &cfg))
			net->window = cfg.window + 1;
		net->window_ns = now;
	} else if (now - net->window_ns >= 1000000000ULL) {
		net->window++;
		net->window_ns = now;
	}
	return ug_flush_run(bpf_program__fd(net->skel->progs.ug_flush), net->window,
			    &net->flush_said, "network");
}

uint32_t ug_net_window(const struct ug_net *net)
{
	return net->window;
}

int ug_net_counter(const struct ug_net *net, int which, uint64_t *out)
{
	__u32 key = which;

	return ug_pinned_sum(bpf_map__fd(net->skel->maps.ug_counters), &key, out);
}

int ug_net_counter_add(struct ug_net *net, int which, uint64_t n)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u32 key = which;
	uint64_t *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	/* Only the agent writes this slot: CPU 0's value carries the total. */
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_counters), &key, vals) ||
	    (vals[0] += n,
	     bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_counters), &key, vals, BPF_ANY)))
		err = -errno;
	free(vals);
	return err;
}

const char *ug_net_target(const struct ug_net *net, uint64_t cgid)
{
	struct ug_unit_val v;

	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].h.cgid == cgid)
			return net->units[i].h.target;
	for (size_t i = 0; i < sizeof(net->gone) / sizeof(net->gone[0]); i++)
		if (net->gone[i].cgid == cgid)
			return net->gone[i].target;
	/* A cgroup the cgroup_mkdir program gave a policy kept by name, before
	 * the agent has placed it (a unit's first moments): its trie says whose. */
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_units), &cgid, &v))
		return NULL;
	for (size_t i = 0; i < net->pending.n; i++)
		if (pend(net, i)->h.trie == v.trie)
			return pend(net, i)->h.target;
	return NULL;
}
