/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent: its parts, each owned by the file named beside it. main.c
 * makes them and runs the loop; pass.c coordinates them for one pass.
 */
#ifndef UG_AGENT_H
#define UG_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "health.h"
#include "lsm.h"
#include "net.h"
#include "resolve.h"
#include "store.h"
#include "storewatch.h"

struct ug_audit;
struct metrics;

/* pass.c's state (pass.h): only pass.c writes it. */
struct passes {
	sd_event_source *src;  /* the pass, at most once per loop iteration (main.c) */
	bool all_dirty;        /* recompile every target (first pass, SIGHUP, a loader that
				  lost what it was told to keep) */
	bool status_dirty;     /* rewrite every status row (the last write failed) */
	int64_t applied_version;       /* acknowledged; -1: none yet */
	uint32_t generation;           /* last put in force, network and LSM alike */
	uint32_t committed_generation; /* as last written to agent_state */
	char reported_store_why[256];  /* the store's state as the status rows say it */
	/* The family rules in force per running policy cgroup (the last plan),
	 * for the audit. */
	struct family_rules {
		uint64_t cgid;
		uint32_t rule[64];
	} *families;
	size_t n_families;
};


struct agent {
	const char *db_path, *pin_dir; /* main.c: options */
	char cgroot[PATH_MAX];         /* main.c: the cgroup2 mount */
	sd_event *ev;                  /* main.c */
	struct ug_store *st;           /* main.c opens it; storewatch.c notices changes */
	struct storewatch sw;          /* storewatch.c: reading the store, its targets */
	struct ug_resolver *res;       /* resolve.c: where each target is */
	struct ug_net *net;            /* net*.c */
	struct ug_lsm *lsm;            /* lsm*.c; NULL: BPF LSM unavailable, lsm_why says why */
	char lsm_why[512];
	struct ug_audit *audit;        /* audit.c */
	struct passes ps;              /* pass.c */
	struct health health;          /* health.c */
	struct metrics *metrics;       /* metrics.c */
};

#endif
