/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a policy cgroup inherits from the policy cgroups above it. Pure: paths
 * and settings in, relations and merged settings out; no I/O.
 *
 * The rules, stated once (README "Slices and nesting"):
 *  - Targets are placed at cgroup paths (where their cgroup is, or where
 *    systemd will create it). Targets at the same path are one policy cgroup
 *    (two spellings of one unit: "demo.service" and its absolute path); the
 *    first in input order represents the group, and every kind of rule and
 *    setting of the others is merged into it.
 *  - A policy cgroup's ancestors are the policy cgroups whose path is a
 *    proper prefix of its own on a '/' boundary, nearest first.
 *  - A mode governs what the cgroup that set it brings (its rules, default
 *    denies, hardening switches, denied families), and nothing else: a unit in
 *    audit mode audits its own rules while its slice's enforced ones stay
 *    enforced on it; one in mode off brings nothing. Settings bind
 *    downwards: the union of what every cgroup on the path brings, enforced
 *    where one in enforce mode brought it, else audited.
 *  - Rules are the cgroup's own (depth 0) followed by each ancestor's, the
 *    nearest at depth 1, the next at depth 2 ...; the compiler lets a smaller
 *    depth win a tie on the same prefix and qualifier.
 *  - A cgroup has network policy of its own when it (not in mode off) has
 *    network rules or a default deny, LSM policy when it has path rules,
 *    denied families or hardening switches. A cgroup without policy of its
 *    own is judged by its nearest policy ancestor's (the kernel's walk), so
 *    it needs no entry of its own: a mode alone changes nothing.
 *  - The topmost policy cgroups of a side (no ancestor with that side) are
 *    where the programs of that side must cover from.
 */
#ifndef UG_INHERIT_H
#define UG_INHERIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A target's own settings and what it has, as the store says; or, from
 * ug_inherit_effective(), what a policy cgroup is judged by (enforced, and
 * in the *_audit fields what is only audited).
 */
struct ug_settings {
	uint8_t mode;         /* own: enum ug_mode. Effective: the network side's: audit when
				 all of its rules and default denies come from cgroups in audit
				 mode, else enforce */
	uint8_t deny_default; /* bit (1 << enum ug_dir) */
	uint8_t harden;       /* UG_HARDEN_* */
	uint64_t families;    /* bit F: AF F denied */
	bool net_rules;       /* has network rules */
	bool lsm_rules;       /* has exec/file rules */
	/* Effective only: */
	uint8_t lsm_mode;      /* the LSM side's mode, as mode for the network side */
	uint8_t audit_default; /* default denies only cgroups in audit mode set */
	uint8_t harden_audit;  /* switches only cgroups in audit mode set */
	uint64_t families_audit;
};

/* Whether s has something of a side of its own. */
bool ug_settings_net(const struct ug_settings *s);
bool ug_settings_lsm(const struct ug_settings *s);


struct ug_inherit {
	size_t n;
	ssize_t *rep;    /* rep[i]: the first node at i's path (i itself when none is earlier) */
	ssize_t *parent; /* parent[i]: nearest ancestor representative of rep[i]; -1: none */
	ssize_t *next;   /* next[i]: the next node of i's group in input order; -1: none */
};

/*
 * Relate n nodes by their paths (absolute, canonical: no trailing '/', no
 * "//"; NULL: the node is placed nowhere and relates to nothing, rep[i] = i,
 * parent[i] = -1). -ENOMEM, or 0. Free with ug_inherit_free().
 */
int ug_inherit_build(const char *const *paths, size_t n, struct ug_inherit *out);
void ug_inherit_free(struct ug_inherit *h);

/* The effective settings of node i: what its group (every alias) and its
 * ancestors bring, each by its own mode. own[] is indexed like the paths
 * given to build. */
void ug_inherit_effective(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			  struct ug_settings *out);

/* Does node i (its group) have network / LSM policy of its own, and is it
 * the topmost one of that side on its path? */
bool ug_inherit_has_side(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			 bool lsm);
bool ug_inherit_topmost(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			bool lsm);

/*
 * The nodes whose rules a policy cgroup is compiled from, in order: node i's
 * group (its aliases, depth 0), then each ancestor group (depth 1, 2 ...).
 * chain[k] is a node index, depth[k] its depth. Returns the count, or
 * -ENOSPC when max is too small. Groups list their members in input order.
 */
ssize_t ug_inherit_chain(const struct ug_inherit *h, size_t i, size_t *chain, uint8_t *depth,
			 size_t max);

#endif
