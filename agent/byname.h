/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policies kept by unit NAME for cgroups not made yet (the start-up race,
 * bpf/unitguard.h), the part both loaders share: an entry per name in a
 * pinned hash map (ug_pending_net, ug_pending_lsm) keyed by struct
 * ug_pending_key, a trie of its own per entry, named by an owner derived from
 * the name, and the bookkeeping of an apply: which names are wanted, which are
 * unchanged, which go. What an entry's value holds, and what must follow when
 * its trie changes (the copies the cgroup_mkdir program made), is the
 * loader's.
 */
#ifndef UG_BYNAME_H
#define UG_BYNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trie.h"
#include "util.h"
#include "unitguard.h"
#include "unitpol.h"

/* The head of a loader's entry: its first member. */
struct ug_byname {
	char name[UG_NAME_MAX]; /* the cgroup directory name: the unit name */
	char target[TARGET_MAX];       /* the unit, for messages */
	uint64_t parent_cgid;   /* the parent its cgroup will be made in (or, via set,
				   that parent's parent); never 0 */
	uint32_t level;         /* that cgroup's level */
	char via[UG_NAME_MAX];  /* "", or the name of the slice it will be made in, not
				   made yet (bpf/unitguard.h) */
	uint16_t trie;          /* a reference held in the engine; 0: none in the kernel */
	uint32_t generation;
	bool loaded; /* the kernel has what the last apply asked for (false after adoption:
			the first apply writes it again) */
	bool seen;   /* wanted by the apply under way */
};

/* A loader's entries: elements of `size` bytes, each starting with struct
 * ug_byname; [0, n_sorted) sorted by name (bsearch), later ones few. */
struct ug_bynames {
	void *v;
	size_t n, n_sorted, size;
	int fd;                 /* the pinned map */
	struct ug_tries *tries; /* where the entries' tries are */
};

struct ug_byname *ug_byname_at(const struct ug_bynames *t, size_t i);
struct ug_byname *ug_byname_find(const struct ug_bynames *t, const char *name);
void ug_bynames_free(struct ug_bynames *t); /* the array only */

/* Tries of policies kept by name belong to the name, not to a cgroup id. */
uint64_t ug_byname_owner(const char *name);

/*
 * Entries from the pinned map, after a restart: for each, add() fills e from
 * the map value val (val_size bytes, at most 256), its head
 * with ug_byname_adopted(); its trie is claimed here, and *generation raised
 * to the highest (a pass that changed only policies kept by name must not
 * have its generation handed out again).
 */
int ug_bynames_adopt(struct ug_bynames *t, size_t val_size,
		     int (*add)(void *ctx, struct ug_byname *e, const void *val), void *ctx,
		     uint32_t *generation);
void ug_byname_adopted(struct ug_byname *e, uint64_t parent_cgid, uint32_t level,
		       const char *via, uint16_t trie, uint32_t generation);

/* The levels the entries' cgroups will be made at (those given): the
 * cgroup_mkdir program widens the level mask itself, this only keeps the
 * agent's narrowing from racing it. */
uint32_t ug_bynames_levels(const struct ug_bynames *t);

/* Start of an apply: nothing is wanted yet. */
void ug_bynames_begin(struct ug_bynames *t);

/*
 * Request u for name (placed at parent_cgid/level, via: NULL or "" when
 * parent_cgid is its parent, else the name of the slice between) is wanted. Checks the
 * name (one cgroup directory name that fits the map key) and level, finds or
 * adds its entry (*added), marks it seen. Returns the entry when it must be
 * written; NULL when u was refused (u->err, first_err) or is kept unchanged
 * (u->keep, and the entry is loaded at the same place). pol_same: does the
 * entry hold u's policy (the loader's comparison), asked only when loaded at
 * the same place.
 */
struct ug_byname *ug_bynames_want(struct ug_bynames *t, const char *name, uint64_t parent_cgid,
				  uint32_t level, const char *via, struct ug_unitpol *u,
				  int *first_err,
				  bool (*pol_same)(const struct ug_byname *e, const void *req),
				  const void *req, bool *added);
/* Forget the entry ug_bynames_want() just added (its loader could not set it up). */
void ug_bynames_unadd(struct ug_bynames *t);

/* Write val for e's name into the map: 0 or a negative errno. */
int ug_byname_write(const struct ug_bynames *t, const struct ug_byname *e, const void *val);
/* e's map entry now uses trie (written with ug_byname_write()): its old
 * trie is let go, the rest of the head recorded. */
void ug_byname_switched(struct ug_bynames *t, struct ug_byname *e, uint16_t trie,
			uint64_t parent_cgid, uint32_t level, const char *via,
			uint32_t generation);

enum ug_byname_end {
	UG_BYNAME_REFUSED, /* wanted, but never got into the kernel: forgotten */
	UG_BYNAME_REMOVED, /* not wanted: deleted from the map (e->trie still held) */
	UG_BYNAME_STUCK,   /* not wanted, but the delete failed (err): kept, in force */
};

/*
 * End of an apply: every entry not wanted is deleted from the map, and the
 * table keeps the others. gone() is told of each entry that leaves or could
 * not (to free the loader's part, move the cgroups copied from it, and log);
 * after it, a removed entry's trie is let go. Returns the first error.
 */
int ug_bynames_sweep(struct ug_bynames *t,
		     void (*gone)(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err),
		     void *ctx);

#endif
