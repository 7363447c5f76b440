/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What both loaders (net*.c, lsm*.c) share about a unit's policy: the head of
 * the request the agent hands them, the outcome they hand back, and the
 * level mask that tells the programs which cgroup levels to look at.
 */
#ifndef UG_UNITPOL_H
#define UG_UNITPOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trie.h"
#include "util.h"

/* The policy of one policy cgroup (or one kept by name), as the agent wants
 * it; each loader embeds it as `h` and adds what its programs judge by. */
struct ug_unitpol {
	const char *target;
	struct {
		uint64_t id;  /* cgroup id */
		int level;    /* 0 for the cgroup2 root */
	} cg;
	uint8_t mode;         /* enum ug_mode */
	bool keep;            /* unchanged since the last apply: rules not given (-ESTALE
				 if the loader does not have it) */
	int err;              /* out: 0, or why this policy is not in force */
	char why[160];        /* out: the same, as text */
	uint32_t generation;  /* out: of the policy in force for it */
};

/* The head of a loader's state for one policy cgroup: its first member. */
struct ug_unitstate {
	char target[TARGET_MAX];
	uint64_t cgid;
	int level;     /* -1: adopted, not known yet */
	uint16_t trie; /* a reference held in the engine */
	uint32_t generation; /* of the policy in force for it */
	bool loaded;   /* the kernel has what the last apply asked for (false after adoption:
			  the first apply compiles it again) */
	bool seen;     /* wanted by the apply under way */
};

/* The state of cgroup cgid in the array *arr of *n states `size` bytes
 * apart (each loader's struct, its head first); NULL if none. */
struct ug_unitstate *ug_unitstate_find(void *arr, size_t n, size_t size, uint64_t cgid);
/* The same, made (zeroed, level -1) if there is none; NULL: out of memory. */
struct ug_unitstate *ug_unitstate_get(void **arr, size_t *n, size_t size, uint64_t cgid);

/*
 * After a restart: a state for each policy cgroup in the pinned map fd
 * (ug_units or ug_lsm_units, keyed by cgroup id), named for its id until the
 * agent resolves it. fill() copies the loader's part of the value val (of
 * val_size bytes, at most 256) and sets s->trie and
 * s->generation; the trie is claimed here and *generation raised to the
 * highest. Not loaded: the first apply compiles each again.
 */
int ug_unitstates_adopt(int fd, size_t val_size, void **arr, size_t *n, size_t size,
			struct ug_tries *tries,
			void (*fill)(void *ctx, struct ug_unitstate *s, const void *val), void *ctx,
			uint32_t *generation);

/* What a loader does to one policy cgroup, for ug_unitpols_apply(). */
struct ug_unitpol_ops {
	const char *side;  /* for messages: "net", "lsm" */
	const char *rules; /* what the requests hold, for messages: "rules", "path rules" */
	size_t n_rules_at; /* offsetof() the request's size_t count of them */
	/* The state of u's cgroup, found or made: 0 or a negative errno. */
	int (*get)(void *ctx, struct ug_unitpol *u, struct ug_unitstate **s);
	/* Does s (loaded) hold u's policy? */
	bool (*same)(void *ctx, const struct ug_unitstate *s, const struct ug_unitpol *u);
	/* Compile u and switch s to it in one map update (s->generation
	 * included); *written: trie entries written. 0, or a negative errno
	 * with s's previous policy in force (why in u->why, or strerror). */
	int (*update)(void *ctx, struct ug_unitstate *s, struct ug_unitpol *u, uint32_t generation,
		      size_t *written);
};

/* Where an apply writes, besides the loader's own state (ctx). */
struct ug_unitpol_env {
	void *ctx;              /* the loader, for ops */
	struct ug_tries *tries; /* its tries, for messages */
	int cfg_fd;             /* its level mask: ug_config or ug_lsm_config */
	uint32_t *level_mask;   /* as it last wrote it */
};

/*
 * The first half of an apply, the same on both sides. The n requests are
 * `size` bytes apart from first (each loader's struct, its head first).
 * Their outcome is reset; those at a level the programs do not look at are
 * refused (-E2BIG); the level mask is widened to the others' levels and
 * more_levels first, so a unit is visible the moment it is written. Then
 * each gets its state, is kept, or is compiled and switched to with
 * `generation`. Errors stay with their request and leave its previous policy
 * in force. Returns how many changed (*written: trie entries written), or
 * the negative errno of widening the mask, with nothing applied.
 */
int ug_unitpols_apply(void *first, size_t n, size_t size, uint32_t generation,
		      uint32_t more_levels, const struct ug_unitpol_ops *ops,
		      const struct ug_unitpol_env *env, size_t *written, int *first_err);

/* Before an apply looks at it: no outcome yet. */
void ug_unitpol_reset(struct ug_unitpol *u);

/*
 * u is refused: u->err = err, u->why says why (fmt, or strerror(-err) when
 * fmt is NULL and why is still empty), and the first error of the apply is
 * kept in *first_err. Returns err.
 */
int ug_unitpol_fail(struct ug_unitpol *u, int err, int *first_err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * u->keep: the caller believes the policy in force is current. True when the
 * loader has it (loaded); otherwise u fails with -ESTALE, so the caller
 * compiles it again.
 */
bool ug_unitpol_kept(struct ug_unitpol *u, bool loaded, int *first_err);

/*
 * The last step of an apply: narrow the level mask to the levels of the n
 * states (`size` bytes apart from first, each loader's struct, its head
 * first) and more_levels. A state whose level is unknown (adopted, and its
 * removal failed) keeps every level that was set: its policy is still in the
 * kernel. 0 or a negative errno.
 */
int ug_unitpols_narrow(const struct ug_unitpol_env *env, const void *first, size_t n, size_t size,
		       uint32_t more_levels);

/*
 * Write the level mask (ug_config or ug_lsm_config, both one __u32
 * level_mask first) at cfg_fd; *cached is what this agent wrote last. The
 * cgroup_mkdir program ORs in the level of each cgroup it gives a pending
 * policy, which the agent may not know as a unit yet: bits set in the
 * kernel since our last write are kept (a mkdir between our read and write
 * could still lose its bit: a window of microseconds, closed by the next
 * apply, which knows the cgroup as a unit).
 */
int ug_level_mask_set(int cfg_fd, uint32_t *cached, uint32_t mask);
/* The mask in the map (after a restart), in *cached; left alone if unreadable. */
void ug_level_mask_adopt(int cfg_fd, uint32_t *cached);

#endif
