/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The object's counters (unitguard.h, enum ug_counter): a per-CPU array the
 * agent sums. Each object has its own, pinned under its own name: the
 * includer names it in UG_COUNTERS_MAP (ug_counters in the network object,
 * ug_lsm_counters in the LSM one) before including this file.
 */
#ifndef UG_COUNTERS_BPF_H
#define UG_COUNTERS_BPF_H

#ifndef UG_COUNTERS_MAP
#error "define UG_COUNTERS_MAP (the object's counters map) before including counters.bpf.h"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} UG_COUNTERS_MAP SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&UG_COUNTERS_MAP, &which);

	if (c)
		*c += 1;
}

/* A global function, not inlined: the verifier checks it once, on its own.
 * It runs only when an update failed. */
__noinline int count_update_failed(void)
{
	count(UG_CNT_MAP_UPDATE_FAILED);
	return 0;
}

/*
 * bpf_map_update_elem() for the updates whose failure the program can do
 * nothing about (a map full, an entry made meanwhile by another CPU): the
 * failure is counted (UG_CNT_MAP_UPDATE_FAILED), so that it is not silent.
 * Updates with a fallback of their own call the helper directly.
 */
static __always_inline long update_counted(void *map, const void *key, const void *val,
					   __u64 flags)
{
	long err = bpf_map_update_elem(map, key, val, flags);

	if (err)
		count_update_failed();
	return err;
}

#endif
