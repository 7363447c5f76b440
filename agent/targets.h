/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy targets as the store has them, read incrementally: the units
 * table every time (its rev column says whose rules changed), the rules only
 * of the units that changed. The store is a boundary: every row is validated
 * here, and a row that does not parse is refused, loudly, never guessed at.
 */
#ifndef UG_TARGETS_H
#define UG_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inherit.h"
#include "policy.h"
#include "store.h"
#include "util.h"

/* Where a target is, or will be, in the cgroup tree (resolve.c). */
struct where {
	char *path;       /* its running cgroup (absolute); NULL: none known */
	uint64_t id;      /* of path */
	int level;
	char *future;     /* where its cgroup will be at its next start: systemd's
			     answer, or where it last ran; NULL: unknown */
	int err;          /* 0; -ENOENT: not running (a fact); -ENOTUNIQ; -EHOSTDOWN:
			     systemd unreachable; ... */
	char why[200];    /* what is wrong, for status and logs */
	bool kept;        /* path is a last-known answer kept because the current
			     one could not be had (fail static) */
	/* systemd: a question in flight, and when to ask again */
	bool asking, stale;
	uint64_t ask_after_ns;
	unsigned backoff;
	uint64_t serial;  /* answers to older questions are ignored */
};

struct target {
	char name[TARGET_MAX];
	int64_t unit_id, rev;       /* as last read */
	struct ug_settings own;     /* its own settings; net_rules/lsm_rules from its rules */
	uint32_t family_rule[64];   /* store id of the rule denying family F */
	size_t n_net, n_paths;      /* its valid rules */
	unsigned invalid;           /* rows refused as invalid */
	unsigned bad_settings;      /* UG_SET_* columns of its units row that do not parse:
				       their last valid value is kept */
	bool bad_row;               /* its units row's target no longer parses: kept as it
				       was at the last valid read */
	bool changed;               /* settings or rules changed in the last read */
	bool seen;
	/* Own rules, loaded on demand (targets_rules), freed after a pass. */
	struct ug_rule *rules;
	struct ug_path_rule *paths;
	bool loaded;
	struct where w;
	/* Where the last pass put it, to see it move. */
	char *last_loc;
	uint64_t last_id, last_parent;
	/* The last pass's outcome, for status. */
	int state;                  /* enum ug_state; -1: none yet */
	char reason[600];
	bool reported; /* status row written with this outcome */
	uint32_t generation;
};

struct targets {
	struct target **v; /* by name, sorted */
	size_t n;
	int64_t policy_version; /* as of the last successful read */
};

/* A target the store no longer has, and where it was (NULL: nowhere known). */
struct gone {
	char *name;
	char *loc;
};

/*
 * Bring ts up to date with the store: new targets added, gone ones removed
 * (appended to *gone, n_gone; the caller frees each name, loc and the
 * array), and targets whose settings or rules changed marked changed (with
 * their rules loaded). On error nothing is changed: the targets (and so what
 * is enforced) stay as they were.
 */
int targets_sync(struct targets *ts, struct ug_store *st, struct gone **gone, size_t *n_gone);
/* The next sync reads every target anew (its rows come from another file:
 * ids and revs say nothing about what was read before). */
void targets_forget_revs(struct targets *ts);
/* Load t's own rules if they are not (they are freed by targets_unload). */
int targets_rules(struct targets *ts, struct ug_store *st, struct target *t);
void targets_unload(struct target *t);
/* The names of the UG_SET_* columns in bad, comma separated. */
void targets_bad_columns(unsigned bad, char *buf, size_t len);
struct target *targets_find(const struct targets *ts, const char *name);
void targets_free(struct targets *ts);

#endif
