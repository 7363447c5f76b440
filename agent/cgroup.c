// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <ftw.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-bus.h>

#include "cgroup.h"
#include "unitguard.h"

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

static const char *unit_interface(const char *unit)
{
	static const struct {
		const char *suffix, *iface;
	} map[] = {
		{ ".service", "org.freedesktop.systemd1.Service" },
		{ ".socket", "org.freedesktop.systemd1.Socket" },
		{ ".slice", "org.freedesktop.systemd1.Slice" },
		{ ".scope", "org.freedesktop.systemd1.Scope" },
		{ ".mount", "org.freedesktop.systemd1.Mount" },
		{ ".swap", "org.freedesktop.systemd1.Swap" },
	};
	const char *dot = strrchr(unit, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(dot, map[i].suffix))
			return map[i].iface;
	return NULL;
}

static int resolve_bus(const char *root, sd_bus *bus, const char *unit, struct ug_cgroup *out)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *iface = unit_interface(unit);
	const char *objpath;
	char *cg = NULL, path[PATH_MAX];
	int err;

	if (!iface)
		return -EINVAL;
	err = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				 "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply,
				 "s", unit);
	if (err < 0) {
		/* Not loaded means not running: no cgroup to enforce on yet. */
		if (sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
			err = -ENOENT;
		goto out_error;
	}
	err = sd_bus_message_read(reply, "o", &objpath);
	if (err < 0)
		goto out_reply;
	err = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", objpath, iface,
					 "ControlGroup", &error, &cg);
	if (err < 0)
		goto out_reply;
	if (!cg[0]) {
		err = -ENOENT; /* loaded but inactive */
		goto out_cg;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s%s", root, cg) >= sizeof(path)) {
		err = -ENAMETOOLONG;
		goto out_cg;
	}
	err = ug_cgroup_stat(root, path, out);
out_cg:
	free(cg);
out_reply:
	sd_bus_message_unref(reply);
out_error:
	sd_bus_error_free(&error);
	return err;
}

/* nftw() has no user pointer: the search state lives here, used by one
 * search at a time (the agent is single-threaded). */
static struct {
	const char *name;
	char found[PATH_MAX];
	int matches;
} search;

static int search_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_D || ftw->level == 0)
		return FTW_CONTINUE;
	if (!strcmp(path + ftw->base, search.name)) {
		if (!search.matches++)
			snprintf(search.found, sizeof(search.found), "%s", path);
		/* A unit's own sub-cgroups cannot share its name meaningfully;
		 * do not descend. */
		return FTW_SKIP_SUBTREE;
	}
	return ftw->level >= UG_MAX_LEVELS ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
}

static int resolve_tree(const char *root, const char *name, struct ug_cgroup *out)
{
	int err;

	search.name = name;
	search.matches = 0;
	err = nftw(root, search_one, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	if (err < 0)
		return -errno;
	if (search.matches == 0)
		return -ENOENT;
	if (search.matches > 1)
		return -ENOTUNIQ;
	return ug_cgroup_stat(root, search.found, out);
}

int ug_cgroup_resolve(const char *root, sd_bus *bus, const char *target, struct ug_cgroup *out)
{
	char path[PATH_MAX];

	if (target[0] == '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", root, target) >= sizeof(path))
			return -ENAMETOOLONG;
		return ug_cgroup_stat(root, path, out);
	}
	if (bus)
		return resolve_bus(root, bus, target, out);
	return resolve_tree(root, target, out);
}

/* systemd's slice naming: "a-b-c.slice" lives at /a.slice/a-b.slice/a-b-c.slice. */
static int slice_path(const char *slice, char *buf, size_t len)
{
	size_t n = strlen(slice), off = 0;

	buf[0] = '\0';
	if (!strcmp(slice, "-.slice"))
		return 0;
	if (n < 7 || strcmp(slice + n - 6, ".slice"))
		return -EINVAL;
	for (size_t i = 0; i + 6 <= n; i++) {
		int w;

		if (slice[i] != '-' && i + 6 != n)
			continue;
		w = snprintf(buf + off, len - off, "/%.*s.slice", (int)i, slice);
		if (w < 0 || (size_t)w >= len - off)
			return -ENAMETOOLONG;
		off += w;
	}
	return 0;
}

int ug_cgroup_future(const char *root, sd_bus *bus, const char *unit, struct ug_cgroup *out,
		     uint64_t *parent_id)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *iface = unit_interface(unit), *objpath;
	char *slice = NULL, spath[PATH_MAX], full[PATH_MAX];
	struct ug_cgroup parent;
	int err;

	*parent_id = 0;
	if (!iface || !bus)
		return -EOPNOTSUPP;
	if (!strcmp(iface, "org.freedesktop.systemd1.Slice")) {
		err = slice_path(unit, spath, sizeof(spath));
		if (err)
			return err;
		goto compose;
	}
	err = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				 "org.freedesktop.systemd1.Manager", "LoadUnit", &error, &reply,
				 "s", unit);
	if (err < 0)
		goto out;
	err = sd_bus_message_read(reply, "o", &objpath);
	if (err < 0)
		goto out;
	err = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", objpath, iface, "Slice",
					 &error, &slice);
	if (err < 0)
		goto out;
	err = slice_path(slice[0] ? slice : "system.slice", spath, sizeof(spath));
	if (err)
		goto out;
	{
		size_t n = strlen(spath);

		if ((size_t)snprintf(spath + n, sizeof(spath) - n, "/%s", unit) >= sizeof(spath) - n) {
			err = -ENAMETOOLONG;
			goto out;
		}
	}
compose:
	if ((size_t)snprintf(full, sizeof(full), "%s%s", root, spath) >= sizeof(full)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->path, sizeof(out->path), "%s", full);
	for (const char *q = full + strlen(root); *q; q++)
		if (*q == '/' && q[1])
			out->level++;
	/* The parent is the path minus its last component. */
	{
		char *slash = strrchr(full, '/');

		if (slash && slash > full + strlen(root)) {
			*slash = '\0';
			if (!ug_cgroup_stat(root, full, &parent))
				*parent_id = parent.id;
		} else if (slash) {
			if (!ug_cgroup_stat(root, root, &parent))
				*parent_id = parent.id;
		}
	}
	err = 0;
out:
	free(slice);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&error);
	return err;
}
