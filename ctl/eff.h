/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unitguardctl explain and show: a target's effective policy, read from the
 * store and built the way the agent builds it (eff.c).
 */
#ifndef UG_CTL_EFF_H
#define UG_CTL_EFF_H

#include "ctl.h"
#include "effective.h"
#include "row.h"

/*
 * A target as the agent sees it: its own settings and rules, validated as the agent
 * validates them (policy/effective.c), and the cgroup its last status row placed it at.
 */
struct eff_node {
	char *name;
	char *path;  /* the status row's cgroup; NULL: not placed (never, or not running) */
	char *state; /* the status row's state; NULL: no row */
	struct ug_settings own;
	bool bad;    /* invalid settings: the agent enforces the defaults */
	struct ug_own_rules rows; /* its valid rules, denied families, invalid rows */
};

struct eff_comment {
	int64_t id;
	char *text;
};

/* One target's effective policy, built the way agent/pass.c builds it. */
struct eff {
	struct ug_store *st;
	struct eff_node *v;
	size_t n;
	struct eff_comment *c;
	size_t n_c;
	struct ug_settings *own; /* v[k].own, for policy/inherit.c */
	struct ug_inherit h;
	size_t self;
	size_t *chain; /* its policy cgroups, nearest first (ug_inherit_chain) */
	uint8_t *depth;
	size_t n_chain;
	struct ug_settings e; /* effective settings */
	bool net, lsm;        /* it has network / exec-file policy */
	struct ug_rule *rules;
	size_t n_rules, *origin;
	struct ug_path_rule *paths;
	size_t n_paths, *porigin;
	struct ug_lpm_entry *ent;
	size_t n_ent;
	struct ug_path_entry *pent;
	size_t n_pent;
	int err;
};

int eff_load(struct eff *f, const char *cmd, const char *target);
void eff_free(struct eff *f);
const char *eff_comment(const struct eff *f, int64_t id);
void eff_from_text(const struct eff *f, size_t j, struct esc *e, char *buf, size_t len);
json_object *eff_from_json(const struct eff *f, size_t j);
ssize_t eff_setter(const struct eff *f, bool (*pred)(const struct ug_settings *, uint64_t),
		   uint64_t arg, uint8_t mode);
bool sets_deny(const struct ug_settings *s, uint64_t dir);
bool sets_harden(const struct ug_settings *s, uint64_t bit);
bool sets_family(const struct ug_settings *s, uint64_t family);
void eff_note(json_object *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void eff_notes(const struct eff *f, json_object *notes);
json_object *eff_rule_json(const struct eff *f, size_t k);
/* The mode that governs a merged rule: its cgroup's (audit: it only says what
 * would be denied; rules of cgroups in mode off are not merged at all). */
const char *eff_rule_mode(bool audit);
json_object *eff_path_json(const struct eff *f, size_t k);
ssize_t eff_find_rule(const struct eff *f, uint32_t id);
ssize_t eff_find_path(const struct eff *f, uint32_t id);

#endif
