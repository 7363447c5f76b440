/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a whole policy needs of the kernel's network maps, counted the way
 * unitguardd writes it (agent/pass.c, agent/net.c): one trie per policy
 * cgroup with network policy, holding its own rules and its ancestors'
 * (policy/inherit.h); identical tries written once; an entry that several
 * rules can decide points at a match list, identical lists written once.
 * Pure: no I/O. unitguardctl refuses a policy file that does not fit before
 * it writes anything.
 */
#ifndef UG_NEED_H
#define UG_NEED_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

struct ug_need_target {
	const char *path;            /* canonical cgroup path; NULL: not known (own rules only) */
	const struct ug_rule *rules; /* its network rules (ids as the store gives them) */
	size_t n_rules;
	bool deny_default;           /* a default deny: network policy even without rules */
};

struct ug_need {
	size_t groups;  /* policy cgroups with network policy */
	size_t tries;   /* distinct tries */
	size_t entries; /* LPM entries of the distinct tries */
	size_t lists;   /* distinct match lists */
};

/*
 * Count what targets t[0..n) need. 0, or -ENOMEM, or the compiler's error
 * for a policy cgroup it refuses (*bad: that target's index; why: the
 * compiler's words).
 */
int ug_need_net(const struct ug_need_target *t, size_t n, struct ug_need *out, size_t *bad,
		char *why, size_t whylen);

#endif
