/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's state, shared by main.c (lifecycle, event loop), pass.c (store
 * to kernel), stats.c (counters to the store), storewatch.c and health.c. */
#ifndef UG_AGENT_H
#define UG_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "audit.h"
#include "lsm.h"
#include "metrics.h"
#include "net.h"
#include "resolve.h"
#include "store.h"
#include "targets.h"

struct agent {
	const char *db_path;
	const char *pin_dir;
	char cgroot[PATH_MAX];
	sd_event *ev;
	struct ug_store *st;
	struct ug_net *net;
	struct ug_lsm *lsm; /* NULL: BPF LSM unavailable, lsm_why says why */
	struct ring_buffer *lsm_rb; /* its denials; drained apart from the network's */
	char lsm_why[512];
	struct ug_audit *audit;
	struct ug_resolver *res;
	struct targets ts;
	int store_lock, pin_lock; /* held while we run: one agent per store and per pins */

	/* Passes: scheduled by events, run once per loop iteration at most. */
	sd_event_source *pass_src;
	sd_event_source *recheck_src; /* the store once more, after its last event */
	bool store_dirty;     /* read the store at the next pass */
	bool all_dirty;       /* recompile every target (first pass, after an error) */
	int64_t applied_version;
	uint32_t committed_generation; /* as last written to agent_state */
	uint32_t generation;  /* last generation put in force, network and LSM alike */
	char store_why[256];  /* the store cannot be read: why (logged once) */
	char reported_store_why[256]; /* as the status rows say it */
	char usage[160];      /* map use as last written (agent_state "maps") */
	char cgroups[320];    /* what the cgroup index cannot see, as last written
				 (agent_state "cgroups"); cgroups_written: once */
	bool cgroups_written;
	uint64_t store_retry_ns;
	unsigned store_backoff;
	/* Since the last pass: targets gone from the store, and where they were
	 * (what was below them inherited from them). */
	struct gone *gone;
	size_t n_gone;
	bool store_read_once; /* until then a pass changes nothing in the kernel */
	bool status_dirty;    /* rewrite every status row (the last write failed) */

	/* Counters */
	int drain_left; /* records this drain may still read (main.c, drain()) */
	uint64_t lost_seen;
	unsigned stats_interval; /* seconds between accounting snapshots */
	int64_t audit_max_bytes; /* --audit-max-size; 0: none */
	int64_t audit_max_age_us; /* --audit-max-age; 0: none */
	uint64_t last_stats_us;
	int64_t started_us;
	bool ready; /* READY=1 sent (agent_ready()) */

	/* Metrics (metrics.c): the apply latency, the HTTP listener (or NULL). */
	struct apply_clock apply;
	struct ug_httpd *httpd;
};

/* Tell systemd the agent is ready (READY=1), once: WHY says what is not in
 * force yet, or NULL when everything is. */
void agent_ready(struct agent *ag, const char *why);

/* Run a pass soon (coalesced: once per event loop iteration). */
void pass_schedule(struct agent *ag);
/* Store -> targets -> where -> inheritance -> kernel -> status and ack. */
int pass_run(struct agent *ag);
/* Target name of a policy cgroup, for the audit; the family rule in force. */
const char *pass_target_name(uint64_t cgid, void *ctx);
uint32_t pass_family_rule(uint64_t cgid, int family, void *ctx);

/* storewatch.c: a policy change in the store (inotify on its directory)
 * schedules a pass; a store file replaced under the agent is reopened. */
struct inotify_event;
int on_store_change(sd_event_source *s, const struct inotify_event *ev, void *ctx);
void check_store_file(struct agent *ag);

/* health.c: lost and unstored denials, map use and what the cgroup index
 * cannot see, into the store (once a second); on_unstored counts denials the audit could not store. */
void report_lost(struct agent *ag);
void report_unstored(struct agent *ag);
void write_usage(struct agent *ag);
void write_cgroups(struct agent *ag);
void on_unstored(uint64_t n, void *ctx);

/* stats.c: cumulative counters into the accounting and rule_hits tables. */
void stats_snapshot(struct agent *ag);
int64_t realtime_us(void);

#endif
