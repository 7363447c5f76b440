/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pin directory's layout, and reading the counters the BPF programs keep
 * in pinned maps. Shared by the agent (agent/net.c, agent/lsm.c), which pins,
 * and the CLI and the metrics exporter, which read what it pinned: one copy
 * of the names, so the readers cannot drift from the writer.
 *
 *   <pin dir>/maps/<map name>        every map of both objects (UG_LAYOUT_MAP marks
 *                                    this build's layout)
 *   <pin dir>/links/<cgroup id>/<program>   cgroup program links, per attach point
 *   <pin dir>/tp-links/<program>     cgroup_mkdir/rmdir tracing links
 *   <pin dir>/lsm-links/<program>    LSM hook links
 *   <pin dir>/flush/<ring map name>  the flush program that sends into that ring what is
 *                                    counted in the kernel and not yet sent (unitguard.h,
 *                                    "Across layouts"): how a later build of any layout
 *                                    carries these counts over at a migration
 *   <pin dir>/progs/                 programs pinned by older builds (removed at start)
 *   <pin dir>/old-<ms>/              an older layout moved aside by a migration
 */
#ifndef UG_PINNED_H
#define UG_PINNED_H

#include <stdint.h>

#include "unitguard.h"

#define UG_PIN_DEFAULT_DIR "/sys/fs/bpf/unitguard"
#define UG_PIN_MAPS "maps"
#define UG_PIN_LINKS "links"
#define UG_PIN_TP_LINKS "tp-links"
#define UG_PIN_LSM_LINKS "lsm-links"
#define UG_PIN_PROGS "progs"
#define UG_PIN_FLUSH "flush"
#define UG_PIN_OLD_PREFIX "old-"

/* Open pin_dir/maps/<name>: a map fd, or a negative errno (-ENOENT: not pinned). */
int ug_pinned_map(const char *pin_dir, const char *name);

/* Sum over CPUs of the __u64 at key in a per-CPU map (ug_counters,
 * ug_lsm_counters, ug_rule_hits): 0, or a negative errno (-ENOENT: no such key). */
int ug_pinned_sum(int fd, const void *key, uint64_t *sum);

/* Sum over CPUs of one direction (0 egress, 1 ingress) of accounting slot
 * `slot` in ug_acct. */
int ug_pinned_acct(int fd, uint16_t slot, int dir, struct ug_acct_val *sum);

#endif
