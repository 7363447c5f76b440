/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Aggregation of repeated denials (unitguard.h, "Aggregation"), for both
 * objects: the window map (the network object's; the LSM object shares it
 * through its pin) and the flush program's callback, made for each
 * object's key, value and send function by UG_FLUSH_AGG.
 */
#ifndef UG_AGG_BPF_H
#define UG_AGG_BPF_H

/*
 * An object's records: the ring buffer RING of RING_SIZE bytes they are sent
 * through, and the hash AGG (AGG_MAX entries of KEY -> VAL) where repeated
 * denials are counted until a flush sends them.
 */
#define UG_AGG_MAPS(RING, RING_SIZE, AGG, AGG_MAX, KEY, VAL)	\
	struct {						\
		__uint(type, BPF_MAP_TYPE_RINGBUF);		\
		__uint(max_entries, RING_SIZE);			\
	} RING SEC(".maps");					\
								\
	struct {						\
		__uint(type, BPF_MAP_TYPE_HASH);		\
		__uint(max_entries, AGG_MAX);			\
		__type(key, KEY);				\
		__type(value, VAL);				\
	} AGG SEC(".maps")

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ug_agg_cfg);
} ug_agg_cfg SEC(".maps");

/* The window a denial is counted in. */
static __always_inline __u32 agg_window(void)
{
	__u32 zero = 0;
	struct ug_agg_cfg *cfg = bpf_map_lookup_elem(&ug_agg_cfg, &zero);

	return cfg ? cfg->window : 0;
}

/* The head of record e for n denials of key k, whose entry (or would-be
 * entry) is v: the same in both objects' records. */
#define UG_RECORD_HEAD(e, k, v, n)	\
	do {				\
		(e)->ts_boot_ns = (v)->last_ns;	\
		(e)->first_ns = (v)->since_ns;	\
		(e)->count = (n);	\
		(e)->who = (k)->who;	\
	} while (0)

/* What a flush program run carries from entry to entry. */
struct flush_state {
	__u64 now;
	__u32 window;
	__u32 sent;
	__u32 full;
};

/*
 * NAME(map, key, value, state): send what the entry has pending as one
 * record (SEND(key, value, count) returns false when the ring has no room:
 * the count is put back and the walk stops); delete the entry once its
 * window is over, a window later, when no program still counts into it.
 * SHARE: the entry's unit's share it counts against (lib/lost.bpf.h,
 * UG_SHARE_NET or UG_SHARE_LSM), or -1 for none: then a record goes
 * whatever its unit sent, and a deleted entry is given back to no share.
 * Past the unit's records for this flush its count waits for the next one,
 * and the walk goes on with the other units' entries.
 */
#define UG_FLUSH_AGG_SHARED(NAME, KEY, VAL, SEND, SHARE)				\
static long NAME(struct bpf_map *map, KEY *k, VAL *v, struct flush_state *st)		\
{											\
	const int share = (SHARE);							\
	struct ug_share_val *s = share < 0 ? NULL					\
				 : bpf_map_lookup_elem(&ug_share, &k->who.unit_cgid);	\
	__u64 n = __atomic_exchange_n(&v->pending, 0, __ATOMIC_SEQ_CST);		\
											\
	if (n && share >= 0 && !ring_take(s, share)) {					\
		__sync_fetch_and_add(&v->pending, n);					\
		n = 0;									\
	}										\
	if (n) {									\
		if (!SEND(k, v, n)) {							\
			__sync_fetch_and_add(&v->pending, n);				\
			st->full = 1;							\
			return 1;							\
		}									\
		v->since_ns = st->now;							\
		st->sent++;								\
	}										\
	if (k->window + 1 < st->window && !v->pending &&				\
	    !bpf_map_delete_elem(map, k) && share >= 0)					\
		agg_put(s, share);							\
	return 0;									\
}

/* The same, counted against no unit's share. */
#define UG_FLUSH_AGG(NAME, KEY, VAL, SEND) UG_FLUSH_AGG_SHARED(NAME, KEY, VAL, SEND, -1)

#endif
