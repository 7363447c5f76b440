/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent says of a target in its status row (the store's status
 * table, `unitguardctl status`, the metrics): one enum, one name table, used
 * by the agent that writes the rows and by everything that reads them.
 */
#ifndef UG_STATE_H
#define UG_STATE_H

#include <stdbool.h>

enum ug_state {
	UG_STATE_ENFORCED,   /* its policy is in force */
	UG_STATE_PARTIAL,    /* in force, but not all of it (invalid rows, no BPF LSM) */
	UG_STATE_WAITING,    /* not running: kept for its next start, or applied once its
				cgroup appears */
	UG_STATE_REFUSED,    /* the kernel refused its policy: the previous one stays */
	UG_STATE_UNRESOLVED, /* where it runs cannot be told */
	UG_STATE_MAX,
};

/* The state's name in the status table; NULL for a value out of range. */
const char *ug_state_to_string(enum ug_state s);
/* The state of a name, or -EINVAL. */
int ug_state_from_string(const char *s);
/* enforced or partial: the target's policy (or most of it) is in force. */
bool ug_state_in_force(enum ug_state s);

#endif
