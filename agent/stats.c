// SPDX-License-Identifier: LGPL-2.1-or-later
/* Cumulative counters (per unit and direction, per rule) into the store's
 * accounting and rule_hits tables, every --stats-interval and at exit. */
#include <stdlib.h>

#include "log.h"
#include "stats.h"
#include "util.h"

struct snapshot {
	uint32_t generation;
	int64_t now_us;
	bool short_of_memory; /* a row was left out */
	struct ug_store_acct *acct;
	size_t n_acct, cap_acct;
	struct ug_store_hits *hits;
	size_t n_hits, cap_hits;
};

static void snap_unit(const struct ug_net_stats *st, void *ctx)
{
	struct snapshot *sn = ctx;

	for (int dir = 0; dir < 2; dir++) {
		const struct ug_acct_val *v = &st->acct[dir];
		struct ug_store_acct *r;

		if (sn->n_acct == sn->cap_acct) {
			size_t cap = sn->cap_acct ? sn->cap_acct * 2 : 64;
			struct ug_store_acct *a = reallocarray(sn->acct, cap, sizeof(*a));

			if (!a) {
				sn->short_of_memory = true;
				return;
			}
			sn->acct = a;
			sn->cap_acct = cap;
		}
		r = &sn->acct[sn->n_acct++];
		*r = (struct ug_store_acct){
			.time_us = sn->now_us,
			.unit = st->target,
			.cgroup_id = st->cgid,
			.direction = dir ? "ingress" : "egress",
			.allowed_packets = v->packets[UG_ACCT_ALLOWED],
			.allowed_bytes = v->bytes[UG_ACCT_ALLOWED],
			.dropped_packets = v->packets[UG_ACCT_DROPPED],
			.dropped_bytes = v->bytes[UG_ACCT_DROPPED],
			.audited_packets = v->packets[UG_ACCT_AUDITED],
			.audited_bytes = v->bytes[UG_ACCT_AUDITED],
			.generation = st->generation,
		};
	}
}

static void snap_hit(uint32_t rule_id, uint64_t hits, void *ctx)
{
	struct snapshot *sn = ctx;

	if (sn->n_hits == sn->cap_hits) {
		size_t cap = sn->cap_hits ? sn->cap_hits * 2 : 64;
		struct ug_store_hits *h = reallocarray(sn->hits, cap, sizeof(*h));

		if (!h)
			return;
		sn->hits = h;
		sn->cap_hits = cap;
	}
	sn->hits[sn->n_hits++] = (struct ug_store_hits){
		.time_us = sn->now_us,
		.rule_id = rule_id,
		.hits = hits,
		.generation = sn->generation,
	};
}

void stats_snapshot(struct ug_net *net, struct ug_store *st, uint32_t generation)
{
	struct snapshot sn = { .generation = generation, .now_us = ug_realtime_us() };

	if (ug_net_stats(net, snap_unit, &sn) || ug_net_rule_hits(net, snap_hit, &sn))
		ug_log(LOG_ERR, "agent: cannot read the counters");
	if (sn.n_acct && ug_store_accounting_insert(st, sn.acct, sn.n_acct))
		ug_log(LOG_ERR, "agent: cannot write accounting: %s", ug_store_errmsg(st));
	else if (!sn.short_of_memory)
		ug_net_stats_stored(net); /* else the final counts go in the next one */
	if (sn.n_hits && ug_store_rule_hits_insert(st, sn.hits, sn.n_hits))
		ug_log(LOG_ERR, "agent: cannot write rule hits: %s", ug_store_errmsg(st));
	free(sn.acct);
	free(sn.hits);
}
