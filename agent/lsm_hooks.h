/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hook programs the LSM policies in the kernel need (lsm_hooks.c), for
 * the files that apply policy. Not an interface: callers include lsm.h.
 */
#ifndef UG_LSM_HOOKS_H
#define UG_LSM_HOOKS_H

#include <stdbool.h>

#include "lsm_internal.h"

bool lsm_needs(const struct ug_lsm_unit *v, int p);
void lsm_state_needs(const struct ug_lsm *lsm, bool need[N_PROGS]);
int lsm_attach_hooks(struct ug_lsm *lsm, const bool need[N_PROGS], int errs[N_PROGS]);
void lsm_detach_unneeded(struct ug_lsm *lsm);
void lsm_hook_err(const struct ug_lsm *lsm, const int errs[N_PROGS],
		  const struct ug_lsm_unit *v, struct ug_lsm_unitpol *u);

#endif
