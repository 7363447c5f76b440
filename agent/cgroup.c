// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"

int ug_cgroup_root(char *buf, size_t len)
{
	struct mntent *m;
	int err = -ENOENT;
	FILE *f;

	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		if ((size_t)snprintf(buf, len, "%s", m->mnt_dir) >= len)
			err = -ENAMETOOLONG;
		else
			err = 0;
		break;
	}
	endmntent(f);
	return err;
}

int ug_cgroup_stat(const char *root, const char *path, struct ug_cgroup *cg)
{
	size_t rlen = strlen(root);
	struct stat st;
	const char *p;

	if (strncmp(path, root, rlen) || (path[rlen] != '/' && path[rlen] != '\0'))
		return -EINVAL;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((size_t)snprintf(cg->path, sizeof(cg->path), "%s", path) >= sizeof(cg->path))
		return -ENAMETOOLONG;
	cg->id = st.st_ino;
	cg->level = 0;
	for (p = path + rlen; *p; p++)
		if (*p == '/' && p[1])
			cg->level++;
	return 0;
}

int ug_cgroup_self(const char *root, struct ug_cgroup *cg)
{
	char line[PATH_MAX + 8], path[PATH_MAX], *rel = NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return -errno;
	/* cgroup2 is hierarchy 0, with no controller list: "0::/PATH". */
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			rel = line + 3;
			break;
		}
	}
	fclose(f);
	if (!rel)
		return -ENOENT;
	rel[strcspn(rel, "\n")] = '\0';
	if (rel[0] != '/')
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s%s", root, strcmp(rel, "/") ? rel : "") >=
	    sizeof(path))
		return -ENAMETOOLONG;
	return ug_cgroup_stat(root, path, cg);
}
