// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the agent reports about itself, into the store and the journal:
 * denials the kernel could not record or the store could not take, how full
 * the maps are, and what of the cgroup tree it cannot see. The counts live
 * in the pinned maps, which outlive the agent, so what happened while no
 * agent ran is reported too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

static int lost_total(struct agent *ag, uint64_t *lost)
{
	uint64_t l = 0;
	int err = ug_net_counter(ag->net, UG_CNT_EVENTS_LOST, lost);

	if (!err && ag->lsm && !ug_lsm_counter(ag->lsm, UG_CNT_EVENTS_LOST, &l))
		*lost += l;
	return err;
}

/*
 * Denials the kernel could not record (ring buffer full) are counted in the
 * pinned maps, which outlive the agent: what was reported last is kept in
 * the store, so losses while no agent ran are reported too.
 */
void report_lost(struct agent *ag)
{
	char buf[32];
	uint64_t lost;

	if (lost_total(ag, &lost))
		return;
	if (lost < ag->lost_seen)
		ag->lost_seen = 0; /* the maps were made anew (--detach-all) */
	if (lost == ag->lost_seen)
		return;
	ug_audit_lost(ag->audit, lost - ag->lost_seen);
	ag->lost_seen = lost;
	snprintf(buf, sizeof(buf), "%" PRIu64, lost);
	ug_store_agent_set(ag->st, "lost_reported", buf);
}

/* Map use against capacity, for status: "used/capacity" per map. */
void write_usage(struct agent *ag)
{
	struct ug_net_usage u;
	uint64_t failed = 0; /* updates the programs could not make (a map full) */
	char buf[160];

	ug_net_usage(ag->net, &u);
	ug_net_counter(ag->net, UG_CNT_MAP_UPDATE_FAILED, &failed);
	snprintf(buf, sizeof(buf), "ug_lpm %zu/%zu, ug_lists %zu/%zu, ug_units %zu/%zu, %zu tries, "
		 "%" PRIu64 " updates failed", u.lpm_used, u.lpm_cap, u.lists_used, u.lists_cap,
		 u.units_used, u.units_cap, u.tries, failed);
	if (strcmp(buf, ag->usage)) {
		ug_store_agent_set(ag->st, "maps", buf);
		snprintf(ag->usage, sizeof(ag->usage), "%s", buf);
	}
}

/*
 * Cgroup directories the index cannot watch or read, for status ("" when it
 * sees the whole tree): while they last, units made there are found a second
 * late, and what was known below an unreadable one is kept as it was.
 */
void write_cgroups(struct agent *ag)
{
	const struct ug_cgindex *x = ug_resolver_index(ag->res);
	int werr, rerr;
	size_t unwatched = ug_cgindex_unwatched(x, &werr), unread = ug_cgindex_unread(x, &rerr);
	char buf[sizeof(ag->cgroups)];
	int n = 0;

	buf[0] = '\0';
	if (unwatched)
		n = snprintf(buf, sizeof(buf), "%zu cgroup director%s not watched (%s): listed every "
			     "second instead", unwatched, unwatched == 1 ? "y" : "ies",
			     werr == ENOSPC ? "root's inotify watches are used up: raise "
					      "fs.inotify.max_user_watches" : strerror(werr));
	if (unread && n >= 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, "%s%zu cgroup director%s could not be read (%s): "
			 "the cgroups known below kept, read again every second", n ? "; " : "",
			 unread, unread == 1 ? "y" : "ies", strerror(rerr));
	if (ag->cgroups_written && !strcmp(buf, ag->cgroups))
		return;
	if (!ug_store_agent_set(ag->st, "cgroups", buf)) {
		snprintf(ag->cgroups, sizeof(ag->cgroups), "%s", buf);
		ag->cgroups_written = true;
	}
}

void on_unstored(uint64_t n, void *ctx)
{
	struct agent *ag = ctx;

	if (ug_net_counter_add(ag->net, UG_CNT_AUDIT_UNSTORED, n))
		ug_log(LOG_ERR, "audit: cannot count %" PRIu64 " unstored denials in the pinned "
		       "counters", n);
}

/*
 * Denials journaled but not stored are counted in the pinned map (it
 * outlives the agent and works when the store does not); what was recorded
 * in the store is kept there. The difference goes to the store once it can
 * take it, also after a restart.
 */
void report_unstored(struct agent *ag)
{
	uint64_t total, reported = 0;
	char buf[32];

	if (ug_net_counter(ag->net, UG_CNT_AUDIT_UNSTORED, &total))
		return;
	if (!ug_store_agent_get(ag->st, "unstored_reported", buf, sizeof(buf)))
		reported = strtoull(buf, NULL, 10);
	if (total < reported)
		reported = 0; /* the maps were made anew (--detach-all) */
	if (total == reported || ug_audit_unstored(ag->audit, total - reported))
		return;
	snprintf(buf, sizeof(buf), "%" PRIu64, total);
	ug_store_agent_set(ag->st, "unstored_reported", buf);
}
