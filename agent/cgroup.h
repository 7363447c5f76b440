/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef UG_CGROUP_H
#define UG_CGROUP_H

#include <limits.h>
#include <stdint.h>

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

/* Fill *cg for the cgroup2 cgroup this process is in (/proc/self/cgroup),
 * below root. */
int ug_cgroup_self(const char *root, struct ug_cgroup *cg);

#endif
