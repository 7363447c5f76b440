/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Cgroups for both objects: which policy cgroup governs a socket or task
 * (the ancestor walk), and the kernfs_node shim for walking up by hand.
 */
#ifndef UG_CGROUP_BPF_H
#define UG_CGROUP_BPF_H

/* kernfs_node.parent became __parent (RCU-annotated) in 6.15. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node___new, __parent))
		return BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static __always_inline __u64 kn_parent_id(struct kernfs_node *kn)
{
	struct kernfs_node *p = kn_parent(kn);

	return p ? BPF_CORE_READ(p, id) : 0;
}

/*
 * The nearest policy cgroup at or above the socket's or task's cgroup: its
 * value in units (hash, cgroup id -> policy), its id in *unit_cgid. config
 * is an array whose one value starts with the level mask (ug_config,
 * ug_lsm_config; unitguard.h asserts the offset): only the levels it names
 * are looked up, deepest first.
 *
 * at_skb is a constant at every call site: packet hooks use the skb's
 * cgroup, socket and LSM hooks the calling task's. It must be a constant so
 * the compiler drops the other branch: older kernels (6.1) refuse
 * bpf_get_current_cgroup_id() in cgroup_skb programs even on a path that is
 * never taken, and LSM programs may not call bpf_skb_ancestor_cgroup_id().
 */
static __always_inline void *find_unit_in(void *config, void *units, const bool at_skb,
					  struct __sk_buff *skb, __u64 *unit_cgid)
{
	__u32 zero = 0, mask;
	__u32 *level_mask = bpf_map_lookup_elem(config, &zero);

	if (!level_mask)
		return NULL;
	mask = *level_mask;

	for (int level = UG_MAX_LEVELS - 1; level >= 0; level--) {
		void *u;
		__u64 id;

		if (!(mask & (1u << level)))
			continue;
		id = at_skb ? bpf_skb_ancestor_cgroup_id(skb, level)
			    : bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			continue;
		u = bpf_map_lookup_elem(units, &id);
		if (u) {
			*unit_cgid = id;
			return u;
		}
	}
	return NULL;
}

#endif
