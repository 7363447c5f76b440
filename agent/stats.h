/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cumulative counters (per unit and direction, per rule) into the store's
 * accounting and rule_hits tables. */
#ifndef UG_STATS_H
#define UG_STATS_H

#include <stdint.h>

#include "net.h"
#include "store.h"

/* One snapshot of net's counters into st, stamped with generation (the
 * rule hits'). Errors are logged: a snapshot missed is taken next time. */
void stats_snapshot(struct ug_net *net, struct ug_store *st, uint32_t generation);

#endif
