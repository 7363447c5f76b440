/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loader for bpf/cgroup/net.bpf.c: owns its skeleton, its pinned maps and
 * links, the per-unit tries, and the switch from one generation to the next.
 */
#ifndef UG_NET_H
#define UG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "cgroup.h"
#include "policy.h"
#include "unitpol.h"

struct ug_net;

/* The policy of one policy cgroup, as the agent wants it. */
struct ug_net_unit {
	struct ug_unitpol h;  /* target, cgroup, mode, keep; the outcome */
	uint8_t deny_default; /* bit (1 << enum ug_dir): default deny */
	uint8_t audit_default; /* bit (1 << enum ug_dir): default deny of a cgroup in audit mode */
	const struct ug_rule *rules; /* its own and inherited, deterministic order */
	size_t n_rules;
};

/*
 * Load the programs, reusing maps pinned under pin_dir (creating and pinning
 * them on first start), and take over the links pinned there by an earlier
 * agent: each link is switched to the newly loaded program in place, so
 * enforcement has no gap and no cgroup gets a second copy. The ring buffer is
 * NOT consumed here: the caller reads ug_net_events_map_fd() (agent/ring.h).
 */
int ug_net_open(const char *pin_dir, struct ug_net **out);
/* Frees user-space state only: pinned programs keep enforcing. NULL is fine. */
void ug_net_free(struct ug_net *net);

/*
 * Pins of an older layout were moved aside at open (they keep enforcing), or
 * an earlier start kept an older generation's LSM links; call
 * ug_net_migrated() once a pass has put every policy in force, so the older
 * generations go. keep_lsm: this agent has no LSM side in force, so their LSM
 * links stay (fail static). Returns the denials their rings held, not stored
 * (to count as lost). Both are no-ops otherwise.
 */
bool ug_net_migrating(const struct ug_net *net);
uint64_t ug_net_migrated(struct ug_net *net, bool keep_lsm);

/* A cgroup the programs are attached to: every cgroup below it runs them. */
struct ug_net_point {
	uint64_t id;
	const char *path;
	int err; /* out */
};

/*
 * Make the kernel state match units[] and points[] (the complete desired
 * sets); units whose policy changes are stamped with `generation` (the
 * agent's counter, shared with the LSM side). The programs are attached at
 * every point before those at points no longer wanted are detached.
 * Returns 0, or the first error; per-unit errors are in units[i].err and
 * leave that unit's previous policy in force.
 */
int ug_net_apply(struct ug_net *net, struct ug_net_unit *units, size_t n,
		 struct ug_net_point *points, size_t n_points, uint32_t generation);
/*
 * Policies kept by unit NAME for cgroups not made yet (the start-up race,
 * unitguard.h): the complete desired set. Each has a trie of its own and an
 * entry in ug_pending_net, which the cgroup_mkdir program copies to
 * ug_units for a new cgroup of that name (with that parent and level, when
 * given). Call before ug_net_apply(), so a unit's running cgroup shares its
 * pending entry's accounting slot.
 */
struct ug_net_pending {
	const char *name;     /* cgroup directory name: the unit name */
	uint64_t parent_cgid; /* the parent its cgroup will be made in (via: that
				 parent's parent); never 0 */
	uint32_t level;       /* that cgroup's level */
	const char *via;      /* NULL, or the name of the slice it will be made in, not made
				 yet (bpf/unitguard.h, "The start-up race") */
	struct ug_net_unit pol; /* pol.h.cg unused; pol.h.err/why out */
};
int ug_net_apply_pending(struct ug_net *net, struct ug_net_pending *p, size_t n,
			 uint32_t generation);

/*
 * Tries retired long enough ago that no program can still read them: keep
 * the newest of each unit (and of each policy kept by name) as its standby,
 * synced to its live trie, so its next change writes only the difference;
 * delete the rest. Call it about once a second.
 */
void ug_net_cleanup(struct ug_net *net);

/* Highest generation in force (found in the maps on adoption). */
uint32_t ug_net_generation(const struct ug_net *net);
/* Generation of the policy in force for a policy cgroup; 0 if none. */
uint32_t ug_net_unit_generation(const struct ug_net *net, uint64_t cgid);
/* Policy cgroups whose policy the last ug_net_apply() changed, and policies
 * kept by name that the last ug_net_apply_pending() changed. */
uint32_t ug_net_units_changed(const struct ug_net *net);
uint32_t ug_net_pending_changed(const struct ug_net *net);

/* Counters of one policy cgroup, summed over CPUs. */
struct ug_net_stats {
	const char *target;
	uint64_t cgid;
	uint32_t generation;
	struct ug_acct_val acct[2]; /* [0] egress, [1] ingress */
};
typedef void (*ug_net_stats_cb)(const struct ug_net_stats *s, void *ctx);
/* Every current policy cgroup, and each one removed whose final counts are
 * not stored yet (ug_net_stats_stored()). */
int ug_net_stats(struct ug_net *net, ug_net_stats_cb cb, void *ctx);
/* The last ug_net_stats()'s rows are in the store: the final counts it
 * handed out are forgotten (until then they are handed out again). */
void ug_net_stats_stored(struct ug_net *net);
/* Decisions per rule since the rule first decided (cumulative). */
int ug_net_rule_hits(struct ug_net *net, void (*cb)(uint32_t rule_id, uint64_t hits, void *ctx),
		     void *ctx);
int ug_net_events_map_fd(const struct ug_net *net);
/* Have the kernel send its aggregated and lost counts into the ring: every
 * 250 ms, and before exiting, with the ring drained before and after. */
int ug_net_flush(struct ug_net *net);
/* The aggregation window the last ug_net_flush() used. */
uint32_t ug_net_window(const struct ug_net *net);
/* Sum over CPUs of a ug_counter. */
int ug_net_counter(const struct ug_net *net, int which, uint64_t *out);
/* Add n to a counter the agent keeps in the pinned map (it outlives the
 * agent): UG_CNT_AUDIT_UNSTORED. */
int ug_net_counter_add(struct ug_net *net, int which, uint64_t n);
/* Target whose policy cgroup has this id (current or recently removed); NULL if none. */
const char *ug_net_target(const struct ug_net *net, uint64_t cgid);

/* Map use against capacity, for status (entries). */
struct ug_net_usage {
	size_t lpm_used, lpm_cap;     /* ug_lpm: trie entries */
	size_t lists_used, lists_cap; /* ug_lists: shared rule lists */
	size_t units_used, units_cap; /* ug_units: policy cgroups the agent applied */
	size_t tries;                 /* tries alive (in use, retiring or standby) */
};
void ug_net_usage(const struct ug_net *net, struct ug_net_usage *u);

/* Comma list of the cgroup programs, for status. */
extern const char *const ug_net_prog_names;

/* Remove every pin under pin_dir: all unitguard network enforcement ends. */
int ug_net_detach_all(const char *pin_dir);

#endif
