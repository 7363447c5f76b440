/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent reports about itself, into the store and the journal:
 * denials the kernel could not record or the store could not take, how full
 * the maps are, and what of the cgroup tree it cannot see. The counts live
 * in the pinned maps, which outlive the agent, so what happened while no
 * agent ran is reported too.
 */
#ifndef UG_HEALTH_H
#define UG_HEALTH_H

#include <stdint.h>

#include "audit.h"
#include "cgindex.h"
#include "lsm.h"
#include "net.h"
#include "store.h"

struct health {
	struct ug_store *st; /* borrowed, like the rest */
	struct ug_net *net;
	struct ug_lsm *lsm;  /* NULL: no BPF LSM */
	struct ug_audit *audit;
	const struct ug_cgindex *idx; /* NULL until the resolver has one */
	uint64_t lost_seen;  /* lost denials reported so far (agent_state lost_reported) */
	char usage[160];     /* map use as last written (agent_state "maps") */
	char cgroups[320];   /* what the cgroup index cannot see, as last written (agent_state
				"cgroups"); cgroups_written: once */
	bool cgroups_written;
};

/* Take over what the last agent reported. */
void health_init(struct health *h, struct ug_store *st, struct ug_net *net, struct ug_lsm *lsm);
/* Once a second: lost and unstored denials, map use, what the index cannot see. */
void health_report(struct health *h);
/* ug_audit_ops.unstored: n denials journaled but not stored (ctx: the health). */
void health_on_unstored(uint64_t n, void *ctx);

#endif
