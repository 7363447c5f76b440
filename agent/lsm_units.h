/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Comparing and staging an LSM policy (lsm_units.c), shared with
 * lsm_pending.c. Not an interface: callers include lsm.h.
 */
#ifndef UG_LSM_UNITS_H
#define UG_LSM_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_internal.h"

/* A policy compiled into a trie (written to ug_paths, or an existing one with
 * the same entries), not yet switched to. */
struct staged {
	uint16_t trie;              /* a reference held in the engine */
	uint64_t owner;
	struct ug_lsm_unit val;     /* with .trie set */
	struct ug_path_rule *paths; /* copy of u->paths */
	bool ok;
};

bool lsm_pol_same(bool loaded, const struct ug_lsm_unit *v, const struct ug_path_rule *paths,
		  size_t n_paths, const struct ug_lsm_unitpol *u);
int lsm_stage(struct ug_lsm *lsm, struct ug_lsm_unitpol *u, uint64_t owner,
	      uint32_t generation, struct staged *st);
void lsm_unstage(struct ug_lsm *lsm, struct staged *st);

#endif
