/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Report: what a pass achieved, per target, as its status row (state and
 * reason) and in the journal when that changes. The decisions were made by
 * the plan (policy/plan.h) and the loaders (agent/apply.h); this says them.
 */
#ifndef UG_REPORT_H
#define UG_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"
#include "plan.h"
#include "state.h"
#include "store.h"
#include "targets.h"

#define UG_REASON_MAX 600

struct report_in {
	struct target *const *t;          /* the targets, as planned */
	const struct ug_plan_target *pt;  /* their facts */
	const struct ug_plan *plan;
	const struct ug_apply_out *ap;
	const char *lsm_why;              /* NULL: BPF LSM available */
	const char *store_why;            /* "" unless the store cannot be read */
	bool all;                         /* write every target's row (the last write failed,
					     or the agent's own state changed) */
};

/* Rows (with reasons[i] of UG_REASON_MAX) for the targets whose outcome is
 * new, each logged when its state or reason changed; their state recorded in
 * the target. Returns how many rows were written into rows[]. */
size_t report_rows(const struct report_in *in, struct ug_store_status *rows,
		   char (*reasons)[UG_REASON_MAX]);

#endif
