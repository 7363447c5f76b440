// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The LSM loader's life and queries (lsm.h): probing for BPF LSM, loading
 * the object with its maps pinned, adopting what an earlier agent left (the
 * state in those maps and the links it pinned), finding the agent's own
 * cgroup that every apply exempts, the read-only questions the agent asks,
 * and --detach-all. Attaching hooks is lsm_hooks.c's; applying policy
 * lsm_units.c's (by cgroup) and lsm_pending.c's (by name).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flush.h"
#include "log.h"
#include "lsm_internal.h"
#include "pinned.h"
#include "pins.h"
#include "util.h"

#define SECURITYFS "/sys/kernel/security"
#define FREE_BUDGET 20000 /* entries deleted per cleanup call */

_Static_assert(sizeof(struct ug_path_entry) ==
		       sizeof(struct ug_path_key) + sizeof(struct ug_path_val),
	       "ug_path_entry must be key then value, unpadded: the trie engine packs them");

/* --- tries --------------------------------------------------------------- */

static int path_cmp(const void *a, const void *b)
{
	return ug_path_key_cmp(a, b);
}

void ug_lsm_cleanup(struct ug_lsm *lsm)
{
	ug_tries_collect(lsm->tries, false, FREE_BUDGET);
}

/* --- loading and adopting ------------------------------------------------- */

static int prog_index(const struct ug_lsm *lsm, const char *name)
{
	for (int i = 0; i < N_PROGS; i++)
		if (!strcmp(bpf_program__name(lsm->progs[i]), name))
			return i;
	return -1;
}

/*
 * Open and load the object, with its maps pinned under pin_dir/maps (none
 * when pin_dir is NULL: a probe). A kernel whose verifier refuses to walk
 * current->mm->exe_file still gets enforcement: the object is loaded again
 * without the executable's path in events (*exe false).
 */
static int skel_load(const char *pin_dir, struct ug_lsm_bpf **out, bool *exe)
{
	struct ug_lsm_bpf *skel;
	struct bpf_map *map;
	char path[PATH_MAX];
	int err = 0;

	*out = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		skel = ug_lsm_bpf__open();
		if (!skel)
			return -errno;
		skel->rodata->ug_want_exe = attempt == 0;
		bpf_object__for_each_map(map, skel->obj) {
			/* .rodata is per load; pin only the real maps. */
			if (!pin_dir || bpf_map__is_internal(map))
				continue;
			err = ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_MAPS,
					  bpf_map__name(map));
			if (err)
				goto err_skel;
			err = bpf_map__set_pin_path(map, path);
			if (err)
				goto err_skel;
		}
		err = ug_lsm_bpf__load(skel);
		if (!err) {
			*out = skel;
			*exe = attempt == 0;
			return 0;
		}
		ug_lsm_bpf__destroy(skel);
		/* Only a verifier refusal can be about the executable's path. */
		if (err != -EACCES && err != -EINVAL)
			return err;
	}
	return err;

err_skel:
	ug_lsm_bpf__destroy(skel);
	return err;
}

/*
 * Put our program p in the place of the pinned link at path (an earlier
 * agent's). Where the kernel cannot switch the link's program, the new one
 * is attached beside the old, its pin replaces the old pin in one rename,
 * and the old link goes when we close it: enforcement has no gap, and for a
 * moment two copies judge alike from the same maps.
 */
static int adopt_link(struct ug_lsm *lsm, int p, const char *path)
{
	const char *name = bpf_program__name(lsm->progs[p]);
	struct bpf_link *old, *link;
	char tmp[PATH_MAX];
	int err;

	old = bpf_link__open(path);
	if (!old) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: cannot open pinned link %s: %s", path, strerror(-err));
		return err;
	}
	err = bpf_link__update_program(old, lsm->progs[p]);
	if (!err) {
		lsm->links[p] = old;
		lsm->pinned[p] = true;
		return 0;
	}
	if (err != -EINVAL && err != -EOPNOTSUPP) {
		ug_log(LOG_ERR, "lsm: cannot switch pinned link %s to the new program: %s", path,
		       strerror(-err));
		goto err_old;
	}
	ug_log(LOG_DEBUG, "lsm: the kernel cannot switch the program of an LSM link (%s): "
	       "attaching %s beside the pinned one", strerror(-err), name);
	link = bpf_program__attach_lsm(lsm->progs[p]);
	if (!link) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: failed to attach %s: %s", name, strerror(-err));
		goto err_old;
	}
	/* bpffs refuses names with a dot. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s-new", path) >= sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto err_link;
	}
	if (bpf_obj_pin(bpf_link__fd(link), tmp)) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: failed to pin the %s link at %s: %s", name, tmp,
		       strerror(-err));
		goto err_link;
	}
	if (rename(tmp, path)) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: cannot replace %s: %s", path, strerror(-err));
		unlink(tmp);
		goto err_link;
	}
	bpf_link__destroy(old);
	lsm->links[p] = link;
	lsm->pinned[p] = true;
	return 0;

err_link:
	bpf_link__destroy(link);
err_old:
	bpf_link__destroy(old); /* still pinned: the old program keeps enforcing */
	return err;
}

/* Take over the links an earlier agent pinned under pin_dir/lsm-links. */
static int adopt_links(struct ug_lsm *lsm)
{
	char dir[PATH_MAX], path[PATH_MAX], names[N_PROGS * 2][NAME_MAX + 1];
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int err = ug_pin_opendir(dir, sizeof(dir), lsm->pin_dir, UG_PIN_LSM_LINKS, &d);

	if (err || !d)
		return err;
	/* Names first: adopting renames pins in this directory, and readdir may
	 * or may not show an entry created while it runs. */
	while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
		if (de->d_name[0] != '.')
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);

	for (size_t i = 0; i < n; i++) {
		int p;

		if (ug_pin_path(path, sizeof(path), dir, names[i], NULL))
			return -ENAMETOOLONG;
		p = prog_index(lsm, names[i]);
		if (p < 0) {
			/* A program this build no longer has, or the new pin of a
			 * switch that was interrupted: it would judge with stale code. */
			ug_log(LOG_WARNING, "lsm: detaching unknown pinned program %s", path);
			if (unlink(path))
				ug_log(LOG_WARNING, "lsm: cannot remove %s: %s", path,
				       strerror(errno));
			continue;
		}
		/* A link that cannot be taken over stays pinned: its program
		 * keeps enforcing from the same maps. Never a reason to stop. */
		if (!adopt_link(lsm, p, path))
			ug_log(LOG_INFO, "lsm: adopted the pinned %s link", names[i]);
	}
	return 0;
}

static void adopt_unit(void *ctx, struct ug_unitstate *h, const void *val)
{
	struct unit_state *s = (struct unit_state *)h;

	(void)ctx;
	s->val = *(const struct ug_lsm_unit *)val;
	h->trie = s->val.trie;
	h->generation = s->val.generation;
}

static int adopt_pending(void *ctx, struct ug_byname *e, const void *val)
{
	const struct ug_pending_lsm *v = val;
	struct pending_state *ps = (struct pending_state *)e;

	ug_byname_adopted(e, v->parent_cgid, v->level, v->via, v->val.trie, v->val.generation);
	ps->val = v->val;
	(void)ctx;
	return 0;
}

/*
 * Rebuild per-unit state from the pinned maps: each unit's policy and the
 * pending entries (ug_pending_lsm), each holding a reference to the trie it
 * uses; every trie in ug_paths (those no one refers to were left by an agent
 * killed mid-change: the first cleanup deletes them).
 */
static int adopt_maps(struct ug_lsm *lsm)
{
	int err = ug_tries_adopt(lsm->tries) ?:
		  ug_bynames_adopt(&lsm->pending, sizeof(struct ug_pending_lsm), adopt_pending,
				   NULL, &lsm->generation) ?:
		  ug_unitstates_adopt(bpf_map__fd(lsm->skel->maps.ug_lsm_units),
				      sizeof(struct ug_lsm_unit), (void **)&lsm->units,
				      &lsm->n_units, sizeof(*lsm->units), lsm->tries, adopt_unit,
				      NULL, &lsm->generation);

	if (err)
		return err;
	ug_level_mask_adopt(bpf_map__fd(lsm->skel->maps.ug_lsm_config), &lsm->level_mask);
	return 0;
}

/* The network object creates ug_pending_lsm; it must be loaded first. */
static int open_pending(struct ug_lsm *lsm)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int err;

	if (ug_pin_path(path, sizeof(path), lsm->pin_dir, UG_PIN_MAPS, "ug_pending_lsm"))
		return -ENAMETOOLONG;
	lsm->pending.fd = bpf_obj_get(path);
	if (lsm->pending.fd < 0) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: cannot open %s: %s%s", path, strerror(-err),
		       err == -ENOENT ? " (the network object, which creates it, must be "
					"loaded first)" : "");
		return err;
	}
	if (bpf_obj_get_info_by_fd(lsm->pending.fd, &info, &len)) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: cannot inspect %s: %s", path, strerror(-err));
		return err;
	}
	if (info.key_size != sizeof(struct ug_pending_key) ||
	    info.value_size != sizeof(struct ug_pending_lsm)) {
		ug_log(LOG_ERR, "lsm: %s has key/value sizes %u/%u, this build expects %zu/%zu "
		       "(pinned by an incompatible build? run unitguardd --detach-all)", path,
		       info.key_size, info.value_size, sizeof(struct ug_pending_key),
		       sizeof(struct ug_pending_lsm));
		return -EINVAL;
	}
	return 0;
}

/* Find the agent's own cgroup: what self_apply() exempts. */
static void self_init(struct ug_lsm *lsm, const char *cgroot)
{
	struct ug_cgroup parent;
	char dir[PATH_MAX], *slash;
	int err;

	err = ug_cgroup_self(cgroot, &lsm->self.cg);
	/* No policy cgroup is above the root cgroup: nothing to exempt. */
	if (!err && lsm->self.cg.level == 0)
		return;
	if (!err && lsm->self.cg.level >= UG_MAX_LEVELS)
		err = -E2BIG;
	if (!err) {
		snprintf(dir, sizeof(dir), "%s", lsm->self.cg.path);
		slash = strrchr(dir, '/');
		*slash = '\0';
		if ((size_t)snprintf(lsm->self.name, sizeof(lsm->self.name), "%s", slash + 1) >=
		    sizeof(lsm->self.name))
			err = -ENAMETOOLONG;
		else
			err = ug_cgroup_stat(cgroot, dir, &parent);
	}
	if (err) {
		ug_log(LOG_WARNING, "lsm: cannot find the agent's own cgroup (%s): it is not exempt "
		       "from LSM rules, and rules on a slice above it can stop the agent",
		       strerror(-err));
		return;
	}
	lsm->self.parent_id = parent.id;
	snprintf(lsm->self.target, sizeof(lsm->self.target), "%s (the agent)",
		 lsm->self.cg.path + strlen(cgroot));
	lsm->self.on = true;
	ug_log(LOG_INFO, "lsm: the agent's own cgroup %s (id %" PRIu64 ") is exempt from LSM rules",
	       lsm->self.cg.path + strlen(cgroot), lsm->self.cg.id);
}

int ug_lsm_open(const char *pin_dir, const char *cgroot, struct ug_lsm **out)
{
	char path[PATH_MAX];
	struct ug_lsm *lsm;
	bool exe = false;
	int err;

	*out = NULL;
	lsm = calloc(1, sizeof(*lsm));
	if (!lsm)
		return -ENOMEM;
	lsm->pending.fd = -1;
	lsm->pending.size = sizeof(struct pending_state);
	if ((size_t)snprintf(lsm->pin_dir, sizeof(lsm->pin_dir), "%s", pin_dir) >=
	    sizeof(lsm->pin_dir)) {
		err = -ENAMETOOLONG;
		goto err_free;
	}
	err = ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_MAPS, NULL) ?: ug_mkdir_p(path);
	if (err) {
		ug_log(LOG_ERR, "lsm: cannot create %s: %s", path, strerror(-err));
		goto err_free;
	}

	err = skel_load(pin_dir, &lsm->skel, &exe);
	if (err) {
		ug_log(LOG_ERR, "lsm: failed to load BPF programs: %s%s", strerror(-err),
		       err == -EINVAL ? " (maps pinned by an incompatible build? "
					"run unitguardd --detach-all)" : "");
		goto err_free;
	}
	err = ug_pin_flush(pin_dir, bpf_map__name(lsm->skel->maps.ug_lsm_events),
			   bpf_program__fd(lsm->skel->progs.ug_lsm_flush));
	if (err)
		ug_log(LOG_WARNING, "lsm: cannot pin the flush program: %s; an upgrade to another "
		       "layout will not carry over the counts held in the kernel", strerror(-err));
	if (!exe)
		ug_log(LOG_WARNING, "lsm: this kernel refuses resolving the acting executable in "
		       "LSM programs; events carry no executable path");
	lsm->progs[P_EXEC] = lsm->skel->progs.ug_exec;
	lsm->progs[P_FILE_OPEN] = lsm->skel->progs.ug_file_open;
	lsm->progs[P_SOCK_CREATE] = lsm->skel->progs.ug_sock_create;
	lsm->progs[P_LOAD_DATA] = lsm->skel->progs.ug_load_data;
	lsm->progs[P_READ_FILE] = lsm->skel->progs.ug_read_file;
	lsm->progs[P_BPF] = lsm->skel->progs.ug_bpf;
	lsm->progs[P_PTRACE] = lsm->skel->progs.ug_ptrace;
	lsm->progs[P_SB_MOUNT] = lsm->skel->progs.ug_sb_mount;
	lsm->progs[P_MOVE_MOUNT] = lsm->skel->progs.ug_move_mount;
	lsm->progs[P_SB_UMOUNT] = lsm->skel->progs.ug_sb_umount;
	lsm->progs[P_PIVOT_ROOT] = lsm->skel->progs.ug_sb_pivotroot;
	lsm->progs[P_CHROOT] = lsm->skel->progs.ug_path_chroot;
	lsm->progs[P_USERNS] = lsm->skel->progs.ug_userns_create;

	err = open_pending(lsm);
	if (err)
		goto err_free;
	err = ug_tries_new(bpf_map__fd(lsm->skel->maps.ug_paths),
			   bpf_map__max_entries(lsm->skel->maps.ug_paths),
			   &(struct ug_tries_ops){ .key_size = sizeof(struct ug_path_key),
						   .val_size = sizeof(struct ug_path_val),
						   .cmp = path_cmp, .what = "lsm" },
			   &lsm->tries);
	lsm->pending.tries = lsm->tries;
	if (!err) {
		err = adopt_maps(lsm);
		if (err)
			ug_log(LOG_ERR, "lsm: cannot read the pinned maps: %s", strerror(-err));
	}
	err = err ?: adopt_links(lsm);
	if (err)
		goto err_free;
	self_init(lsm, cgroot);
	*out = lsm;
	return 0;

err_free: /* every part not made yet is NULL (or -1): ug_lsm_free() copes */
	ug_lsm_free(lsm);
	return err;
}

void ug_lsm_free(struct ug_lsm *lsm)
{
	if (!lsm)
		return;
	for (int p = 0; p < N_PROGS; p++)
		bpf_link__destroy(lsm->links[p]); /* pinned: stays attached */
	for (size_t i = 0; i < lsm->n_units; i++)
		free(lsm->units[i].paths);
	free(lsm->units);
	for (size_t i = 0; i < lsm->pending.n; i++)
		free(pend(lsm, i)->paths);
	ug_bynames_free(&lsm->pending);
	if (lsm->pending.fd >= 0)
		close(lsm->pending.fd);
	ug_tries_free(lsm->tries);
	ug_lsm_bpf__destroy(lsm->skel);
	free(lsm);
}

int ug_lsm_events_map_fd(const struct ug_lsm *lsm)
{
	return bpf_map__fd(lsm->skel->maps.ug_lsm_events);
}

/* --- queries -------------------------------------------------------------- */

uint32_t ug_lsm_generation(const struct ug_lsm *lsm)
{
	return lsm->generation;
}

uint32_t ug_lsm_units_changed(const struct ug_lsm *lsm)
{
	return lsm->last_changed;
}

uint32_t ug_lsm_pending_changed(const struct ug_lsm *lsm)
{
	return lsm->pending_changed;
}

/* A cgroup the cgroup_mkdir program gave a pending entry's policy, that the
 * agent has not applied as a unit yet: that entry. */
static const struct pending_state *copy_of(const struct ug_lsm *lsm, uint64_t cgid,
					   struct ug_lsm_unit *v)
{
	if (bpf_map_lookup_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &cgid, v))
		return NULL;
	for (size_t i = 0; i < lsm->pending.n; i++)
		if (pend(lsm, i)->h.trie && pend(lsm, i)->h.trie == v->trie)
			return pend(lsm, i);
	return NULL;
}

uint32_t ug_lsm_unit_generation(const struct ug_lsm *lsm, uint64_t cgid)
{
	struct ug_lsm_unit v;

	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].h.cgid == cgid)
			return lsm->units[i].h.generation;
	if (copy_of(lsm, cgid, &v))
		return v.generation;
	return 0;
}

const char *ug_lsm_target(const struct ug_lsm *lsm, uint64_t cgid)
{
	const struct pending_state *ps;
	struct ug_lsm_unit v;

	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].h.cgid == cgid)
			return lsm->units[i].h.target;
	ps = copy_of(lsm, cgid, &v);
	if (ps)
		return ps->h.target;
	for (size_t i = 0; i < sizeof(lsm->gone) / sizeof(lsm->gone[0]); i++)
		if (lsm->gone[i].cgid == cgid)
			return lsm->gone[i].target;
	return NULL;
}

int ug_lsm_flush(struct ug_lsm *lsm, uint32_t window)
{
	return ug_flush_run(bpf_program__fd(lsm->skel->progs.ug_lsm_flush), window,
			    &lsm->flush_said, "LSM");
}

int ug_lsm_counter(const struct ug_lsm *lsm, int which, uint64_t *out)
{
	__u32 key = which;

	return ug_pinned_sum(bpf_map__fd(lsm->skel->maps.ug_lsm_counters), &key, out);
}

/* --- probe and detach ------------------------------------------------------ */

static int read_lsm_list(char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(SECURITYFS "/lsm", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* securityfs not mounted yet (it is not at boot on every system) */
		if (mount("securityfs", SECURITYFS, "securityfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) && errno != EBUSY)
			return -errno;
		fd = open(SECURITYFS "/lsm", O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; *p; p += strcspn(p, ","), p += *p == ',') {
		if (!strncmp(p, item, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

int ug_lsm_probe(char *why, size_t len)
{
	struct ug_lsm_bpf *skel;
	char lsms[512];
	bool exe;
	int err;

	why[0] = '\0';
	err = read_lsm_list(lsms, sizeof(lsms));
	if (err) {
		snprintf(why, len, "cannot read the active LSMs from " SECURITYFS "/lsm: %s",
			 strerror(-err));
		return err;
	}
	if (!list_has(lsms, "bpf")) {
		snprintf(why, len, "'bpf' is not in the active LSMs (%s): boot with lsm=%s%sbpf",
			 lsms, lsms, lsms[0] ? "," : "");
		return -EOPNOTSUPP;
	}
	/* The whole object, as the agent would load it: this also proves that
	 * the verifier takes every program, not only that LSM programs load. */
	err = skel_load(NULL, &skel, &exe);
	if (err) {
		/* 'bpf' is active, so lsm= is not the fix: the kernel refuses
		 * the program itself (seen on microVM kernels, for any LSM or
		 * fentry program: EPERM before the verifier runs). */
		snprintf(why, len,
			 "'bpf' is in the active LSMs (%s), but the kernel refused to load an LSM "
			 "program: %s; run on a kernel that loads BPF LSM programs, booted with "
			 "lsm=...,bpf (e.g. Debian 12's 6.1)",
			 lsms, strerror(-err));
		return err;
	}
	ug_lsm_bpf__destroy(skel);
	return 0;
}

/* Delete every key of the pinned map `name` (none pinned: nothing to do). */
static int empty_map(const char *pin_dir, const char *name, void *key)
{
	int fd = ug_pinned_map(pin_dir, name), err = 0;

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key)) {
			err = -errno;
			break;
		}
	close(fd);
	return err;
}

/* Empty the pinned policy: a program that stays attached (its link held
 * open by a running agent, which BPF_LINK_DETACH cannot force for LSM links)
 * then finds no unit and judges nothing. */
static int neutralize_maps(const char *pin_dir)
{
	struct ug_lsm_config cfg = {};
	struct ug_pending_key pkey;
	__u32 zero = 0;
	uint64_t key;
	int fd, err = 0;

	fd = ug_pinned_map(pin_dir, "ug_lsm_config");
	if (fd >= 0) {
		if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
			err = -errno;
		close(fd);
	} else if (fd != -ENOENT) {
		err = fd;
	}
	/* Pending entries before units: no new cgroup gets a policy again. */
	err = empty_map(pin_dir, "ug_pending_lsm", &pkey) ?: err;
	return empty_map(pin_dir, "ug_lsm_units", &key) ?: err;
}

int ug_lsm_detach_all(const char *pin_dir)
{
	char dir[PATH_MAX];
	int err;

	err = neutralize_maps(pin_dir);
	if (ug_pin_path(dir, sizeof(dir), pin_dir, UG_PIN_LSM_LINKS, NULL))
		return -ENAMETOOLONG;
	/* Kernels without BPF_LINK_DETACH for LSM links detach each when its pin
	 * and every descriptor are gone. */
	return ug_pin_remove_tree(dir, true) ?: err;
}
