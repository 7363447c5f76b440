/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Each unit's share of the audit (unitguard.h, ug_share), for both objects:
 * its entries in the aggregation maps, its records in the rings per flush,
 * and the count of its denials that could not be recorded. The map is the
 * network object's; the LSM object shares it through its pin. The includer
 * includes counters.bpf.h first.
 *
 * A record costs its unit's share, never anyone else's: a unit flooding
 * distinct denials uses up its own entries and its own records per flush,
 * and past them its denials are counted (pending in an entry, or lost), so
 * another unit's denials still find entries and room in the ring.
 *
 * For the LSM object (bpf/lsm/lsm.bpf.c), the same calls with UG_SHARE_LSM:
 * agg_take() before making an ug_lsm_agg entry (agg_put() when it could not
 * be made), ring_take() before each send, and UG_FLUSH_AGG_SHARED(...,
 * UG_SHARE_LSM) for its flush (lib/agg.bpf.h), which gives entries back.
 */
#ifndef UG_LOST_BPF_H
#define UG_LOST_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * UG_UNITS_MAX);
	__type(key, __u64);
	__type(value, struct ug_share_val);
} ug_share SEC(".maps");

/* unit_cgid's share, made on first use; NULL only when the map is full
 * (more units than both objects can hold: cannot happen). */
static __always_inline struct ug_share_val *share_of(__u64 unit_cgid)
{
	struct ug_share_val zero = {}, *s = bpf_map_lookup_elem(&ug_share, &unit_cgid);

	if (s)
		return s;
	/* -EEXIST: made meanwhile by another CPU; the lookup finds it. */
	bpf_map_update_elem(&ug_share, &unit_cgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&ug_share, &unit_cgid);
}

/*
 * One more aggregation entry for the unit of share s, in map `which`
 * (UG_SHARE_NET, UG_SHARE_LSM), if its share has one. Checked before the
 * atomic add: a flooding unit past its share then costs no contended write.
 */
static __always_inline bool agg_take(struct ug_share_val *s, __u32 which)
{
	__u32 cap = which == UG_SHARE_NET ? UG_SHARE_AGG_NET : UG_SHARE_AGG_LSM;

	if (!s)
		return true; /* no share to keep: as without one */
	if (which > 1 || s->agg[which & 1] >= cap)
		return false;
	if (__sync_fetch_and_add(&s->agg[which & 1], 1) < cap)
		return true;
	__sync_fetch_and_sub(&s->agg[which & 1], 1);
	return false;
}

/* An entry agg_take() counted is gone (or was never made). */
static __always_inline void agg_put(struct ug_share_val *s, __u32 which)
{
	if (s && which <= 1 && s->agg[which & 1])
		__sync_fetch_and_sub(&s->agg[which & 1], 1);
}

/* One more record of the unit into ring `which` in this flush window, if
 * its share has room. */
static __always_inline bool ring_take(struct ug_share_val *s, __u32 which)
{
	__u32 cap = which == UG_SHARE_NET ? UG_SHARE_RING_NET : UG_SHARE_RING_LSM;

	if (!s)
		return true;
	if (which > 1 || s->ring[which & 1] >= cap)
		return false;
	return __sync_fetch_and_add(&s->ring[which & 1], 1) < cap;
}

/* A denial of the unit of share s that could not be recorded. */
static __always_inline void lost_in(struct ug_share_val *s)
{
	if (s)
		__sync_fetch_and_add(&s->lost, 1);
	else
		count(UG_CNT_EVENTS_LOST); /* map full: counted, but for no unit */
}

/* A denial of unit_cgid's unit that the ring had no room for. */
static __always_inline void lost(__u64 unit_cgid)
{
	lost_in(share_of(unit_cgid));
}

#endif
