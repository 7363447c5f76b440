/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan: what the kernel should hold, worked out from the targets, where
 * the resolver placed them, and what the kernel offers. Pure: facts in, a
 * plan out; no I/O (a target's own rules are read through a callback, which
 * the tests serve from memory). agent/pass.c gathers the facts, agent/apply.c
 * hands the plan to the loaders, agent/report.c says what came of it.
 *
 * The binding rules, stated once (README "Who a policy reaches"):
 *  - A policy reaches a cgroup only where the agent knows it is that
 *    target's: systemd said so, the target is that cgroup's absolute path,
 *    or, without systemd, it is the one root-owned cgroup of that name whose
 *    ancestors are all slices (where systemd would put it; a cgroup below a
 *    .service or .scope is never a unit): ug_bind_pick().
 *  - A policy kept by name for a cgroup not made yet (the start-up race)
 *    always names the parent its cgroup will be made in, by id: a cgroup of
 *    that name made anywhere else (a child of another unit, a delegated
 *    subtree) gets nothing. A parent not made yet is named only when it is
 *    a slice directly below a slice or the root, both known (a template
 *    instance's slice, which systemd makes with the first instance): slices
 *    are never delegated, so nobody but systemd makes a cgroup there. A
 *    target whose parent is not known, or does not exist yet and is not such
 *    a slice, is not kept by name: it is applied once its cgroup appears and
 *    the agent has seen it (status says so).
 *  - Two groups whose cgroups share a directory name cannot both be kept by
 *    name (the map is keyed by name): the first in target order is.
 * Inheritance and aliases: policy/inherit.h.
 */
#ifndef UG_PLAN_H
#define UG_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "effective.h"
#include "inherit.h"

/* A cgroup as the index knows it. */
struct ug_plan_cg {
	uint64_t id;      /* 0: not in the index */
	int level;        /* 0: the cgroup2 root */
	const char *path; /* absolute */
	bool systemds;    /* root's, not delegated, and every ancestor a slice: where
			     only systemd makes cgroups (set for grand only) */
};

/* One target as the planner sees it: what the store says, where it is. */
struct ug_plan_target {
	const char *name;          /* unit, slice, scope ... or an absolute cgroup path ('/') */
	struct ug_settings own;    /* its own settings (net_rules/lsm_rules: has such rules) */
	const uint32_t *family_rule; /* [64]: store id of its rule denying family F; 0: none */
	bool dirty;                /* recompile it: its rules, settings or place changed, or
				      its last apply failed */
	/* Where (agent/resolve.c, and the index): */
	bool running;              /* at.path is its running cgroup */
	const char *loc;           /* its cgroup, or where it will be made; NULL: unknown */
	int level;                 /* of loc (its depth below the cgroup2 root) */
	struct ug_plan_cg at;      /* loc itself, if it exists */
	struct ug_plan_cg parent;  /* loc's parent, if it exists */
	struct ug_plan_cg grand;   /* else loc's parent's parent, if it exists */
};

/* Why a group is not kept by name for its cgroup's next creation. */
enum ug_plan_nopend {
	UG_NOPEND_NONE = 0,   /* it is (or needs nothing kept) */
	UG_NOPEND_UNKNOWN,    /* where its cgroup will be made is not known */
	UG_NOPEND_NO_PARENT,  /* the parent its cgroup will be made in does not exist yet */
	UG_NOPEND_CONFLICT,   /* another group's cgroup has the same name */
	UG_NOPEND_TOO_LONG,   /* the name does not fit the map key */
};

/* One side (network or LSM) of a group's policy. */
struct ug_plan_side {
	bool has;      /* the group has policy of this side (own or inherited) */
	bool run;      /* for its running cgroup */
	bool pend;     /* kept by name */
	void *rules;   /* dirty groups: merged rules (struct ug_rule / ug_path_rule) */
	size_t n_rules;
};

/* One policy cgroup: the targets placed at one path (aliases), or one
 * unplaced target. */
struct ug_plan_group {
	size_t rep;                 /* its first target (the inputs' index) */
	bool dirty;                 /* rules given (not kept) */
	struct ug_settings eff;     /* effective settings */
	struct ug_plan_side net, lsm;
	/* kept by name: */
	const char *pend_name;      /* loc's last component, or the target's name */
	uint64_t pend_parent;       /* never 0: its parent, or (pend_via) its grandparent */
	uint32_t pend_level;
	char pend_via[128];         /* "", or the name of its parent, a slice not made yet */
	enum ug_plan_nopend nopend;
	/* where the network programs run for it: */
	ssize_t point;              /* index into points; -1: none */
	bool no_point;              /* topmost, but nowhere to attach yet */
	uint32_t family_rule[64];   /* rule denying family F: its own or the nearest
				       ancestor's (smallest id at one level) */
};

/* A cgroup the network programs are attached at: every cgroup below runs them. */
struct ug_plan_point {
	uint64_t id;
	const char *path;
};

struct ug_plan {
	size_t n;                   /* targets */
	struct ug_inherit h;        /* relations of the targets' locs */
	ssize_t *group;             /* group[i]: index into groups of target i's group; -1:
				       nothing to plan for it */
	struct ug_plan_group *groups;
	size_t n_groups;
	struct ug_plan_point *points;
	size_t n_points;
	size_t merged;              /* rules merged (for memory trimming) */
};

/* What the kernel offers and what else the planner needs. */
struct ug_plan_env {
	bool lsm;                   /* BPF LSM available */
	const char *const *gone;    /* locs of targets gone since the last pass: what was
				       below them inherited from them (dirty) */
	size_t n_gone;
	ug_own_rules_fn own_rules;  /* a target's own rules (effective.h) */
	void *ctx;
	/* Called for a target whose rules nothing below inherits, once its
	 * group's rules are merged: the caller may free them. May be NULL. */
	void (*done_with)(size_t i, void *ctx);
};

/*
 * Plan for targets t[0..n) (sorted by name, as the store lists them). 0, or
 * -ENOMEM / what own_rules returned, with *p freed. Free with ug_plan_free().
 */
int ug_plan_build(const struct ug_plan_target *t, size_t n, const struct ug_plan_env *env,
		  struct ug_plan *p);
void ug_plan_free(struct ug_plan *p);

/* The group of the policy cgroup placed at id (running), or NULL. */
const struct ug_plan_group *ug_plan_group_at(const struct ug_plan *p,
					     const struct ug_plan_target *t, uint64_t id);

/* A cgroup of the target's name, as the index knows it, for ug_bind_pick(). */
struct ug_bind_cand {
	uint64_t id;
	const char *path;  /* absolute */
	uint32_t uid;      /* owner of the directory */
	bool under_slices; /* every ancestor below the cgroup2 root is a .slice */
};

/*
 * Without systemd: which of the n cgroups named after a unit is that unit's.
 * Eligible: owned by root and placed where systemd would put a unit (every
 * ancestor a slice, or the root). Returns the index of the one eligible
 * candidate; -ENOENT when none is; -ENOTUNIQ when several are, unless
 * kept_id (the cgroup it had) is one of them, whose index is returned.
 */
ssize_t ug_bind_pick(const struct ug_bind_cand *c, size_t n, uint64_t kept_id);

/* Is this cgroup directory name a slice's ("x.slice")? */
bool ug_is_slice_name(const char *name);

#endif
