/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Apply: a plan (policy/plan.h) handed to the loaders, side by side, kept by
 * name first (a running cgroup shares its entry's accounting slot), then the
 * running cgroups and the attach points; and what came of it per group.
 * Nothing here decides what should be enforced: the plan did.
 */
#ifndef UG_APPLY_H
#define UG_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "lsm.h"
#include "net.h"
#include "plan.h"

/* What came of one group's plan. */
struct ug_applied {
	int net_err, lsm_err, pend_err; /* 0, or why that part is not in force */
	char net_why[160], lsm_why[160], pend_why[160];
	uint32_t generation; /* of the policy in force for its running cgroup */
};

struct ug_apply_out {
	struct ug_applied *g; /* [n_groups] */
	uint32_t changed;     /* policies the loaders changed (running and kept by name) */
	bool stale;           /* a loader lacked what it was told to keep: compile all again */
	int err;              /* the first error, 0 */
};

/* Apply plan p of targets t (lsm: NULL when BPF LSM is unavailable) with
 * `generation` for what changes. -ENOMEM before anything was applied, else
 * 0 with the outcome in *out (free with ug_apply_out_free()). */
int ug_apply(struct ug_net *net, struct ug_lsm *lsm, const struct ug_plan *p,
	     const struct ug_plan_target *t, uint32_t generation, struct ug_apply_out *out);
void ug_apply_out_free(struct ug_apply_out *out);

#endif
