// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "log.h"

void health_init(struct health *h, struct ug_store *st, struct ug_net *net, struct ug_lsm *lsm)
{
	char buf[32];

	h->st = st;
	h->net = net;
	h->lsm = lsm;
	if (!ug_store_agent_get(st, "lost_reported", buf, sizeof(buf)))
		h->lost_seen = strtoull(buf, NULL, 10);
}

static int lost_total(struct health *h, uint64_t *lost)
{
	uint64_t l = 0;
	int err = ug_net_counter(h->net, UG_CNT_EVENTS_LOST, lost);

	if (!err && h->lsm && !ug_lsm_counter(h->lsm, UG_CNT_EVENTS_LOST, &l))
		*lost += l;
	return err;
}

/*
 * Denials the kernel could not record (ring buffer full) are counted in the
 * pinned maps, which outlive the agent: what was reported last is kept in
 * the store, so losses while no agent ran are reported too.
 */
static void report_lost(struct health *h)
{
	char buf[32];
	uint64_t lost;

	if (!h->audit || lost_total(h, &lost))
		return;
	if (lost < h->lost_seen)
		h->lost_seen = 0; /* the maps were made anew (--detach-all) */
	if (lost == h->lost_seen)
		return;
	ug_audit_lost(h->audit, lost - h->lost_seen, "ring buffer full");
	h->lost_seen = lost;
	snprintf(buf, sizeof(buf), "%" PRIu64, lost);
	ug_store_agent_set(h->st, "lost_reported", buf);
}

/* Map use against capacity, for status: "used/capacity" per map. */
static void write_usage(struct health *h)
{
	struct ug_net_usage u;
	uint64_t failed = 0; /* updates the programs could not make (a map full) */
	char buf[160];

	ug_net_usage(h->net, &u);
	ug_net_counter(h->net, UG_CNT_MAP_UPDATE_FAILED, &failed);
	snprintf(buf, sizeof(buf), "ug_lpm %zu/%zu, ug_lists %zu/%zu, ug_units %zu/%zu, %zu tries, "
		 "%" PRIu64 " updates failed", u.lpm_used, u.lpm_cap, u.lists_used, u.lists_cap,
		 u.units_used, u.units_cap, u.tries, failed);
	if (strcmp(buf, h->usage)) {
		ug_store_agent_set(h->st, "maps", buf);
		snprintf(h->usage, sizeof(h->usage), "%s", buf);
	}
}

/*
 * Cgroup directories the index cannot watch or read, for status ("" when it
 * sees the whole tree): while they last, units made there are found a second
 * late, and what was known below an unreadable one is kept as it was.
 */
static void write_cgroups(struct health *h)
{
	int werr, rerr;
	size_t unwatched, unread;
	char buf[sizeof(h->cgroups)];
	int n = 0;

	if (!h->idx)
		return;
	unwatched = ug_cgindex_unwatched(h->idx, &werr);
	unread = ug_cgindex_unread(h->idx, &rerr);
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
	if (h->cgroups_written && !strcmp(buf, h->cgroups))
		return;
	if (!ug_store_agent_set(h->st, "cgroups", buf)) {
		snprintf(h->cgroups, sizeof(h->cgroups), "%s", buf);
		h->cgroups_written = true;
	}
}

void health_on_unstored(uint64_t n, void *ctx)
{
	struct health *h = ctx;

	if (ug_net_counter_add(h->net, UG_CNT_AUDIT_UNSTORED, n))
		ug_log(LOG_ERR, "audit: cannot count %" PRIu64 " unstored denials in the pinned "
		       "counters", n);
}

/*
 * Denials journaled but not stored are counted in the pinned map (it
 * outlives the agent and works when the store does not); what was recorded
 * in the store is kept there. The difference goes to the store once it can
 * take it, also after a restart.
 */
static void report_unstored(struct health *h)
{
	uint64_t total, reported = 0;
	char buf[32];

	if (!h->audit || ug_net_counter(h->net, UG_CNT_AUDIT_UNSTORED, &total))
		return;
	if (!ug_store_agent_get(h->st, "unstored_reported", buf, sizeof(buf)))
		reported = strtoull(buf, NULL, 10);
	if (total < reported)
		reported = 0; /* the maps were made anew (--detach-all) */
	if (total == reported || ug_audit_unstored(h->audit, total - reported))
		return;
	snprintf(buf, sizeof(buf), "%" PRIu64, total);
	ug_store_agent_set(h->st, "unstored_reported", buf);
}

void health_report(struct health *h)
{
	report_lost(h);
	report_unstored(h);
	write_usage(h);
	write_cgroups(h);
}
