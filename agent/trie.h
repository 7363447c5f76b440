/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tries of one LPM map (ug_lpm for the network side, ug_paths for the
 * LSM side): one engine for both loaders.
 *
 * A trie is a set of entries under one trie id (the u16 at offset 4 of every
 * key, right after prefixlen). Policy cgroups and policies kept by name refer
 * to a trie by id (ug_units, ug_pending_*): switching one of them to another
 * trie is one map update, so a decision sees the old or the new rules, never
 * a mix (unitguard.h, "Atomic generations").
 *
 * Tries are shared by content: a policy kept by a unit's name and the unit's
 * running cgroup compile to the same entries, and so do units under one slice
 * with no rules of their own; each gets the same trie, counted. A trie nobody
 * refers to any more is retired: programs that looked it up just before the
 * switch may still be reading it, so it is deleted only after a grace period,
 * a bounded number of entries per call. A big one is kept as its last
 * owner's standby instead, so that owner's next change writes only the
 * entries that differ.
 */
#ifndef UG_TRIE_H
#define UG_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ug_tries;

struct ug_tries_ops {
	size_t key_size;  /* with prefixlen (u32) and trie id (u16) first */
	size_t val_size;  /* an entry is key_size + val_size bytes, packed */
	/* Order of the compiler's output (entries compare by key only). */
	int (*cmp)(const void *key_a, const void *key_b);
	/* An entry's value left the kernel (deleted or overwritten); NULL: none. */
	void (*release)(void *ctx, const void *val);
	void *ctx;
	const char *what; /* "net", "lsm": messages */
};

int ug_tries_new(int map_fd, uint32_t capacity, const struct ug_tries_ops *ops,
		 struct ug_tries **out);
/* User-space state only: the map keeps what it holds. NULL is fine. */
void ug_tries_free(struct ug_tries *t);

/*
 * After a restart: every trie in the map, by its keys (values unknown), as
 * retired with no reference. Claim the ones policies still refer to with
 * ug_tries_claim() before the first ug_tries_collect(); the others (left by
 * an agent killed mid-change) are deleted by it.
 */
int ug_tries_adopt(struct ug_tries *t);
void ug_tries_claim(struct ug_tries *t, uint16_t id);
/* Tries adopted and not yet deleted (their values are unknown). */
size_t ug_tries_adopted(const struct ug_tries *t);

/*
 * A trie holding exactly entries[0..n) (sorted by ops->cmp; their trie ids
 * are overwritten): an existing one with the same content, or one written to
 * the map (rewriting owner's standby when it has one). Takes a reference
 * (*id). On success the engine owns entries (and the values' references:
 * released when an entry leaves, or at once when an existing trie is shared);
 * on error the caller still does, and nothing of it is in the map.
 * *written: map updates made.
 */
int ug_tries_get(struct ug_tries *t, uint64_t owner, void *entries, size_t n, uint16_t *id,
		 size_t *written);
/* Drop a reference; at none the trie is retired. owner: whose it was. */
void ug_tries_put(struct ug_tries *t, uint16_t id, uint64_t owner);
/* Retired tries past their grace period: deleted (at most budget entries per
 * call; 0: no limit), or kept as a standby. all: keep no standby (the map is
 * full). Call about once a second. */
void ug_tries_collect(struct ug_tries *t, bool all, size_t budget);

/* Entries in the map, and how many it can hold. */
size_t ug_tries_used(const struct ug_tries *t);
uint32_t ug_tries_capacity(const struct ug_tries *t);
/* Entries of trie id (0 if there is none). */
size_t ug_tries_size(const struct ug_tries *t, uint16_t id);
/* Distinct tries alive (referenced, retired or standby). */
size_t ug_tries_count(const struct ug_tries *t);

#endif
