/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-unit counts of denials the ring buffer had no room for (unitguard.h,
 * ug_lost), for both objects: the map is the network object's, and the LSM
 * object shares it through its pin. The includer includes counters.bpf.h
 * first.
 */
#ifndef UG_LOST_BPF_H
#define UG_LOST_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * UG_UNITS_MAX);
	__type(key, __u64);
	__type(value, struct ug_lost_val);
} ug_lost SEC(".maps");

/* A denial of unit_cgid's unit that the ring had no room for. */
static __always_inline void lost(__u64 unit_cgid)
{
	struct ug_lost_val one = { .n = 1 }, *v = bpf_map_lookup_elem(&ug_lost, &unit_cgid);

	if (v) {
		__sync_fetch_and_add(&v->n, 1);
		return;
	}
	if (!bpf_map_update_elem(&ug_lost, &unit_cgid, &one, BPF_NOEXIST))
		return;
	v = bpf_map_lookup_elem(&ug_lost, &unit_cgid); /* made meanwhile by another CPU */
	if (v)
		__sync_fetch_and_add(&v->n, 1);
	else
		count(UG_CNT_EVENTS_LOST); /* map full: counted, but for no unit */
}

#endif
