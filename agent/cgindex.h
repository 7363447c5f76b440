/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An index of the cgroup2 tree: every cgroup by id, by path and by name, kept
 * current from inotify events (cgroup2 reports mkdir and rmdir; it refuses
 * renames), so finding a unit's cgroup costs a hash lookup instead of a walk
 * of the whole tree. One walk at start, and again only when the kernel says
 * events were lost (IN_Q_OVERFLOW) or inotify watches ran out.
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
	const char *path;   /* absolute */
	const char *name;   /* last component of path */
};

struct ug_cgindex;

/* A cgroup appeared (added) or disappeared. Called from ug_cgindex_new's walk
 * and ug_cgindex_process(); the node is valid only during the call. */
typedef void (*ug_cgindex_cb)(void *ctx, const struct ug_cgnode *n, bool added);

/* Index the cgroup2 tree at root (levels below UG_MAX_LEVELS). */
int ug_cgindex_new(const char *root, ug_cgindex_cb cb, void *ctx, struct ug_cgindex **out);
void ug_cgindex_free(struct ug_cgindex *x); /* NULL is fine */

/* inotify descriptor for the event loop (readable: call process). */
int ug_cgindex_fd(const struct ug_cgindex *x);
/* Read pending events, update the index, report changes. */
int ug_cgindex_process(struct ug_cgindex *x);
/* Walk the tree again if the index may be incomplete (no watches left);
 * call about once a second. */
void ug_cgindex_tick(struct ug_cgindex *x);

const struct ug_cgnode *ug_cgindex_by_id(const struct ug_cgindex *x, uint64_t id);
const struct ug_cgnode *ug_cgindex_by_path(const struct ug_cgindex *x, const char *path);
/* Cgroups named name: up to max of them in out; returns how many exist. */
size_t ug_cgindex_by_name(const struct ug_cgindex *x, const char *name,
			  const struct ug_cgnode **out, size_t max);
size_t ug_cgindex_count(const struct ug_cgindex *x);
/* Walks done so far (1 after ug_cgindex_new): for tests and benchmarks. */
unsigned ug_cgindex_walks(const struct ug_cgindex *x);

#endif
