/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loader for bpf/lsm/lsm.bpf.c: probes for BPF LSM, owns the LSM skeleton,
 * its pinned maps and links, the per-unit path tries, and attaches only the
 * hooks some unit uses.
 */
#ifndef UG_LSM_H
#define UG_LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "cgroup.h"
#include "policy.h"
#include "unitpol.h"

struct ug_lsm;

/* The LSM policy of one policy cgroup, as the agent wants it. */
struct ug_lsm_unitpol {
	struct ug_unitpol h;    /* target, cgroup, mode, keep; the outcome */
	uint8_t harden;          /* UG_HARDEN_* refused */
	uint8_t harden_audit;    /* UG_HARDEN_* recorded only */
	uint64_t deny_families;  /* bit F: AF F denied */
	uint64_t audit_families; /* bit F: AF F recorded only */
	const struct ug_path_rule *paths; /* own and inherited, deterministic order */
	size_t n_paths;
};

/*
 * Is BPF LSM usable here? 0: yes. Otherwise a negative errno and `why` says
 * what is missing and how to fix it, e.g. "'bpf' is not in the active LSMs
 * (lockdown,capability,landlock): boot with lsm=lockdown,capability,landlock,bpf"
 * or "the kernel refused to load an LSM program: Operation not permitted".
 * Mounts securityfs at /sys/kernel/security if needed.
 */
int ug_lsm_probe(char *why, size_t len);

/* Load (reusing maps pinned under pin_dir/maps, pinning them on first start)
 * and adopt the LSM links pinned under pin_dir/lsm-links by an earlier agent,
 * switching them to the new programs in place. The ring buffer is NOT
 * consumed here: the caller adds ug_lsm_events_map_fd() to its ring buffer.
 * The agent's own cgroup (below cgroot, the cgroup2 mount) is found here:
 * every apply exempts it from LSM policy, and refuses a policy for it. */
int ug_lsm_open(const char *pin_dir, const char *cgroot, struct ug_lsm **out);
void ug_lsm_free(struct ug_lsm *lsm); /* user-space state only; NULL is fine */
int ug_lsm_events_map_fd(const struct ug_lsm *lsm);

/*
 * Make the kernel match units[] (complete desired set) and the agent's own
 * cgroup's exemption (first; a unit of mode off): per unit a fresh path
 * trie swapped in with one update of ug_lsm_units (as on the network side),
 * generation stamped on changed units; attach each hook program some unit
 * needs (exec: a unit with exec rules; file_open: file rules; socket_create:
 * families; module/bpf/ptrace/mount: that switch) and detach the others.
 */
int ug_lsm_apply(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n,
		 uint32_t generation);
void ug_lsm_cleanup(struct ug_lsm *lsm); /* delete retired tries */

/*
 * Policies kept by unit NAME for cgroups that do not exist yet (see
 * "The start-up race" in bpf/unitguard.h): the complete desired set. Each
 * gets a trie of its own and an entry in the pinned map ug_pending_lsm
 * (created by the network object) {val, parent_cgid, level}; the
 * tp_btf/cgroup_mkdir program copies val to ug_lsm_units for a new cgroup of
 * that name. Unchanged entries are left alone; changed ones get a fresh trie
 * and one map update; removed ones are deleted from the map (tries retired).
 * The agent's own cgroup's exemption is kept by its name too (first), and a
 * request for that name is refused.
 */
struct ug_lsm_pending {
	const char *name;     /* cgroup directory name (the unit name), < UG_NAME_MAX */
	uint64_t parent_cgid; /* the parent its cgroup will be made in (via: that
				 parent's parent); never 0 */
	uint32_t level;       /* that cgroup's level */
	const char *via;      /* NULL, or the slice it will be made in, not made yet */
	struct ug_lsm_unitpol pol; /* pol.h.cg is unused; pol.h.err/why are outputs */
};
int ug_lsm_apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation);

uint32_t ug_lsm_generation(const struct ug_lsm *lsm); /* highest in the maps */
uint32_t ug_lsm_units_changed(const struct ug_lsm *lsm); /* by the last apply */
uint32_t ug_lsm_pending_changed(const struct ug_lsm *lsm); /* by the last apply_pending */
uint32_t ug_lsm_unit_generation(const struct ug_lsm *lsm, uint64_t cgid);
const char *ug_lsm_target(const struct ug_lsm *lsm, uint64_t cgid);
/* Comma list of the attached hook programs, "" if none. */
void ug_lsm_hooks(const struct ug_lsm *lsm, char *buf, size_t len);
int ug_lsm_counter(const struct ug_lsm *lsm, int which, uint64_t *out); /* UG_CNT_* */
/* Have the kernel send the LSM side's aggregated counts (after ug_net_flush(),
 * with its window). */
int ug_lsm_flush(struct ug_lsm *lsm, uint32_t window);

/* Detach (BPF_LINK_DETACH) and remove everything under pin_dir/lsm-links. */
int ug_lsm_detach_all(const char *pin_dir);

#endif
