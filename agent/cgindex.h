/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An index of the cgroup2 tree: every cgroup by id, by path and by name, kept
 * current from inotify events (cgroup2 reports mkdir and rmdir; it refuses
 * renames), so finding a unit's cgroup costs a hash lookup instead of a walk
 * of the whole tree. One walk at start, and again only when the kernel says
 * events were lost (IN_Q_OVERFLOW).
 *
 * Failing to see is not absence. A cgroup leaves the index only on a fact:
 * its rmdir event, ENOENT on the directory itself, or a complete listing of
 * its parent without it. A directory that cannot be listed (EMFILE, ENOMEM)
 * keeps what was known below it and is listed again every tick; one that
 * cannot be watched (root's inotify watches used up) is listed every tick
 * and its watch tried again, until it holds.
 *
 * Delegated subtrees: a cgroup owned by someone other than root (a unit with
 * Delegate=yes and User=, a user's session manager) is indexed, but nothing
 * below it is, and it is not watched. Its user makes and removes cgroups
 * there at will; inotify watches count against the watching user (root, for
 * the agent), so watching them would let any delegated user spend root's
 * watch budget (fs.inotify.max_user_watches) and flood the agent's event
 * queue into a walk of the whole tree. Policy has no use for them: a
 * policy binds to a cgroup systemd names, or to a root-owned one (names made
 * by a user are not evidence), and what is below a guarded cgroup is judged
 * by it in the kernel (the programs walk the ancestors), without the agent
 * knowing it exists.
 */
#ifndef UG_CGINDEX_H
#define UG_CGINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ug_cgnode {
	uint64_t id;        /* the directory's inode number: the kernel's cgroup id */
	uint64_t parent_id; /* 0 for the root */
	int level;          /* 0 for the root */
	uid_t uid;          /* owner: who made it (root, or a delegated user) */
	bool delegated;     /* not root's: nothing below it is indexed */
	const char *path;   /* absolute */
	const char *name;   /* last component of path */
};

struct ug_cgindex;

/* A cgroup appeared (added) or disappeared. Called from ug_cgindex_new's walk,
 * ug_cgindex_process() and ug_cgindex_tick(); the node is valid only during
 * the call. */
typedef void (*ug_cgindex_cb)(void *ctx, const struct ug_cgnode *n, bool added);

/* Index the cgroup2 tree at root (levels below UG_MAX_LEVELS). Fails when
 * root itself cannot be read. */
int ug_cgindex_new(const char *root, ug_cgindex_cb cb, void *ctx, struct ug_cgindex **out);
void ug_cgindex_free(struct ug_cgindex *x); /* NULL is fine */

/* inotify descriptor for the event loop (readable: call process). */
int ug_cgindex_fd(const struct ug_cgindex *x);
/* Read pending events, update the index, report changes. */
int ug_cgindex_process(struct ug_cgindex *x);
/* Retry what failed: list the directories that could not be read or are
 * not watched, add the missing watches. Call about once a second. */
void ug_cgindex_tick(struct ug_cgindex *x);
/* Walk the whole tree again (what process does after lost events). */
void ug_cgindex_rewalk(struct ug_cgindex *x);

const struct ug_cgnode *ug_cgindex_by_id(const struct ug_cgindex *x, uint64_t id);
const struct ug_cgnode *ug_cgindex_by_path(const struct ug_cgindex *x, const char *path);
/* Cgroups named name: up to max of them in out; returns how many exist. */
size_t ug_cgindex_by_name(const struct ug_cgindex *x, const char *name,
			  const struct ug_cgnode **out, size_t max);
size_t ug_cgindex_count(const struct ug_cgindex *x);
/* Walks of the whole tree done so far (1 after ug_cgindex_new): for tests
 * and benchmarks. */
unsigned ug_cgindex_walks(const struct ug_cgindex *x);

/* Directories the index should watch but does not (a watch could not be
 * added), and those whose last listing failed: how many, and in *err the
 * errno of the latest such failure. For status. */
size_t ug_cgindex_unwatched(const struct ug_cgindex *x, int *err);
size_t ug_cgindex_unread(const struct ug_cgindex *x, int *err);
/* Is path's absence from the index a fact? False when a directory on its way
 * down could not be read, the nearest one the index has is not watched, or
 * is delegated (not indexed below). */
bool ug_cgindex_absent(const struct ug_cgindex *x, const char *path);

#endif
