/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LSM loader's state, shared by its files (lsm.c, lsm_hooks.c,
 * lsm_units.c, lsm_pending.c): struct ug_lsm and the per-unit and per-name
 * state it keeps. Not an interface: callers include lsm.h.
 */
#ifndef UG_LSM_INTERNAL_H
#define UG_LSM_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "byname.h"
#include "cgroup.h"
#include "lsm.h"
#include "lsm.skel.h"
#include "trie.h"
#include "unitpol.h"
#include "util.h"

struct unit_state {
	struct ug_unitstate h;      /* target, cgroup, trie (val.trie), loaded */
	struct ug_lsm_unit val;     /* what ug_lsm_units holds for it */
	struct ug_path_rule *paths; /* copy, to see whether anything changed */
	size_t n_paths;
};

/*
 * A policy kept by unit name in ug_pending_lsm for a cgroup not made yet
 * (the start-up race, unitguard.h). The cgroup_mkdir program copies val into
 * ug_lsm_units for each new cgroup of that name: such copies share this trie
 * until the agent gives the running cgroup a trie of its own (ug_lsm_apply),
 * so whenever this trie is retired, the copies are moved to the new one.
 */
struct pending_state {
	struct ug_byname h;     /* name, place, trie (val.trie), loaded */
	struct ug_lsm_unit val; /* what ug_pending_lsm holds for it */
	struct ug_path_rule *paths;
	size_t n_paths;
};

enum prog {
	P_EXEC,
	P_FILE_OPEN,
	P_SOCK_CREATE,
	P_LOAD_DATA,
	P_READ_FILE,
	P_BPF,
	P_PTRACE,
	P_SB_MOUNT,
	P_MOVE_MOUNT,
	P_SB_UMOUNT,
	P_PIVOT_ROOT,
	P_CHROOT,
	P_USERNS,
	N_PROGS,
};

struct ug_lsm {
	struct ug_lsm_bpf *skel;
	bool flush_said; /* ug_lsm_flush failing: said once */
	char pin_dir[PATH_MAX];
	struct bpf_program *progs[N_PROGS];
	struct bpf_link *links[N_PROGS];
	bool pinned[N_PROGS];
	struct unit_state *units;
	size_t n_units;
	/* Kept by name; its fd: pin_dir/maps/ug_pending_lsm (the network object's). */
	struct ug_bynames pending;
	struct ug_tries *tries;
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
	uint32_t pending_changed; /* by the last apply_pending */
	uint32_t level_mask;
	/*
	 * The agent's own cgroup, judged by no LSM program (README, "The
	 * agent's lifeline"): a policy cgroup of mode off, the nearest one for
	 * the agent's tasks, written before any other in every apply; and kept
	 * by name, so that the cgroup a restart of the agent gets is exempt
	 * from its mkdir(2) on, before the new agent's first bpf() call.
	 */
	struct {
		bool on;
		bool applying; /* its own request is under way (not a unit's) */
		struct ug_cgroup cg;
		uint64_t parent_id;
		char name[UG_NAME_MAX];
		char target[TARGET_MAX];
	} self;
	/* Names of policy cgroups removed recently: their denials may still sit
	 * in the ring buffer. */
	struct {
		uint64_t cgid;
		char target[TARGET_MAX];
		uint32_t generation;
	} gone[64];
	unsigned gone_next;
};

#define SELF_WHY "it is the agent's own cgroup, which no LSM rule may confine (its lifeline: " \
	"bpf(), its store and pins, D-Bus, its restart)"

static inline struct pending_state *pend(const struct ug_lsm *lsm, size_t i)
{
	return (struct pending_state *)ug_byname_at(&lsm->pending, i);
}

static inline struct unit_state *unit_find(const struct ug_lsm *lsm, uint64_t cgid)
{
	return (struct unit_state *)ug_unitstate_find(lsm->units, lsm->n_units, sizeof(*lsm->units),
						      cgid);
}

#endif
