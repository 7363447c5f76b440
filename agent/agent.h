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
#include "pass.h"
#include "resolve.h"
#include "store.h"
#include "storewatch.h"

struct ug_audit;
struct metrics;

struct agent {
	const char *db_path, *pin_dir; /* main.c: options */
	char cgroot[PATH_MAX];         /* main.c: the cgroup2 mount */
	sd_event *ev;                  /* main.c */
	struct ug_store *st;           /* main.c opens it; storewatch.c notices changes */
	struct storewatch sw;          /* storewatch.c: reading the store, its targets */
	struct ug_resolver *res;       /* resolve.c: where each target is */
	struct ug_net *net;            /* net.c */
	struct ug_lsm *lsm;            /* lsm.c; NULL: BPF LSM unavailable, lsm_why says why */
	char lsm_why[512];
	struct ug_audit *audit;        /* audit.c */
	struct passes ps;              /* pass.c */
	struct health health;          /* health.c */
	struct metrics *metrics;       /* metrics.c */
};

#endif
