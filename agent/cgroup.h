/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef UG_CGROUP_H
#define UG_CGROUP_H

#include <limits.h>
#include <stdint.h>

typedef struct sd_bus sd_bus;

struct ug_cgroup {
	char path[PATH_MAX]; /* absolute path in the filesystem */
	uint64_t id;         /* cgroup id: the directory's inode number on cgroup2 */
	int level;           /* 0 for the cgroup2 root */
};

/* Mount point of the cgroup2 hierarchy (/sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on hybrid hosts). -ENOENT when none. */
int ug_cgroup_root(char *buf, size_t len);

/* Fill *cg for an existing cgroup directory below root. */
int ug_cgroup_stat(const char *root, const char *path, struct ug_cgroup *cg);

/*
 * Resolve a TARGET (unit name or absolute cgroup path, already validated) to
 * its cgroup. With bus (systemd as PID 1) a unit is asked for its
 * ControlGroup; without it the cgroup2 tree is searched for a directory of
 * that name. -ENOENT: not there (unit not running); -ENOTUNIQ: the name
 * appears more than once in the tree, so we will not guess.
 */
int ug_cgroup_resolve(const char *root, sd_bus *bus, const char *target, struct ug_cgroup *out);

/*
 * Where a unit's cgroup will be when it starts (systemd only): its slice's
 * cgroup (from the unit's Slice property, default system.slice) plus its
 * name. *parent_id is the slice cgroup's id, or 0 if the slice has no cgroup
 * yet. out->id is 0.
 */
int ug_cgroup_future(const char *root, sd_bus *bus, const char *unit, struct ug_cgroup *out,
		     uint64_t *parent_id);

#endif
