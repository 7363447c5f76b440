/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The LSM object's per-unit maps (unitguard.h, ug_lsm_units and
 * ug_lsm_config). The network object has them too: its cgroup_mkdir
 * program puts a starting unit's LSM policy in force and its rmdir program
 * and flush read them; the agent makes both objects share one copy through
 * the pins, which needs the same definition in both.
 */
#ifndef UG_MAPS_BPF_H
#define UG_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ug_lsm_config);
} ug_lsm_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct ug_lsm_unit);
} ug_lsm_units SEC(".maps");

#endif
