// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "flush.h"
#include "util.h"
#include "lsm.h"
#include "lsm.skel.h"
#include "trie.h"

#define TARGET_MAX 256
#define LINKS_DIR "lsm-links"
#define SECURITYFS "/sys/kernel/security"
#define FREE_BUDGET 20000 /* entries deleted per cleanup call */

_Static_assert(sizeof(struct ug_path_entry) ==
		       sizeof(struct ug_path_key) + sizeof(struct ug_path_val),
	       "ug_path_entry must be key then value, unpadded: the trie engine packs them");

struct unit_state {
	char target[TARGET_MAX];
	uint64_t cgid;
	int level; /* -1: adopted, not known yet */
	struct ug_lsm_unit val; /* what ug_lsm_units holds for it */
	struct ug_path_rule *paths; /* copy, to see whether anything changed */
	size_t n_paths;
	uint16_t trie; /* a reference held in the engine (val.trie) */
	bool loaded; /* paths above are what the kernel has (false after adoption) */
	bool seen;
};

/*
 * A policy kept by unit name in ug_pending_lsm for a cgroup not made yet
 * (the start-up race, unitguard.h). The cgroup_mkdir program copies val into
 * ug_lsm_units for each new cgroup of that name: such copies share this trie
 * until the agent gives the running cgroup a trie of its own (ug_lsm_apply),
 * so whenever this trie is retired, the copies are moved to the new one.
 */
struct pending_state {
	char name[UG_NAME_MAX];
	char target[TARGET_MAX];
	uint64_t parent_cgid;
	uint32_t level;
	struct ug_lsm_unit val; /* what ug_pending_lsm holds for it */
	struct ug_path_rule *paths;
	size_t n_paths;
	uint16_t trie; /* a reference held in the engine */
	bool loaded; /* false after adoption: the first apply rewrites it */
	bool seen;
};

enum prog {
	P_EXEC,
	P_FILE_OPEN,
	P_SOCK_CREATE,
	P_LOAD_DATA,
	P_READ_FILE,
	P_BPF,
	P_PTRACE,
	P_SB_MOUNT,
	P_MOVE_MOUNT,
	P_SB_UMOUNT,
	P_PIVOT_ROOT,
	P_CHROOT,
	P_USERNS,
	N_PROGS,
};

struct ug_lsm {
	struct ug_lsm_bpf *skel;
	bool flush_said; /* ug_lsm_flush failing: said once */
	char pin_dir[PATH_MAX];
	struct bpf_program *progs[N_PROGS];
	struct bpf_link *links[N_PROGS];
	bool pinned[N_PROGS];
	struct unit_state *units;
	size_t n_units;
	int pending_fd; /* pin_dir/maps/ug_pending_lsm (the network object's) */
	struct pending_state *pending;
	size_t n_pending;
	struct ug_tries *tries;
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
	uint32_t pending_changed; /* by the last apply_pending */
	uint32_t level_mask;
	/* Names of policy cgroups removed recently: their denials may still sit
	 * in the ring buffer. */
	struct {
		uint64_t cgid;
		char target[TARGET_MAX];
		uint32_t generation;
	} gone[64];
	unsigned gone_next;
};

/* --- tries --------------------------------------------------------------- */

static int path_cmp(const void *a, const void *b)
{
	return ug_path_key_cmp(a, b);
}

/* Policies kept by name own their tries under a name, not a cgroup id. */
static uint64_t owner_of_name(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h | 1ULL << 63; /* cgroup ids (inode numbers) stay below */
}

void ug_lsm_cleanup(struct ug_lsm *lsm)
{
	ug_tries_collect(lsm->tries, false, FREE_BUDGET);
}

/* --- programs and links --------------------------------------------------- */

/* Does this policy (as the kernel has it) need hook program p? */
static bool needs(const struct ug_lsm_unit *v, int p)
{
	if (v->mode == UG_MODE_OFF)
		return false;
	switch (p) {
	case P_EXEC:
		return v->has_paths & (1u << UG_PATH_EXEC);
	case P_FILE_OPEN:
		return v->has_paths & (1u << UG_PATH_FILE);
	case P_SOCK_CREATE:
		return v->deny_families != 0;
	case P_LOAD_DATA:
	case P_READ_FILE:
		return v->harden & UG_HARDEN_MODULE_LOAD;
	case P_BPF:
		return v->harden & UG_HARDEN_BPF;
	case P_PTRACE:
		return v->harden & UG_HARDEN_PTRACE;
	case P_SB_MOUNT:
	case P_MOVE_MOUNT:
	case P_SB_UMOUNT:
		return v->harden & UG_HARDEN_MOUNT;
	case P_PIVOT_ROOT:
		return v->harden & (UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW);
	case P_CHROOT:
	case P_USERNS:
		return v->harden & UG_HARDEN_PATH_VIEW;
	}
	return false;
}

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
			err = ug_pin_path(path, sizeof(path), pin_dir, "maps", bpf_map__name(map));
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

/* Make program p attached and pinned at pin_dir/lsm-links/<name>. */
static int attach(struct ug_lsm *lsm, int p)
{
	const char *name = bpf_program__name(lsm->progs[p]);
	char dir[PATH_MAX], path[PATH_MAX];
	int err;

	if (!lsm->links[p]) {
		lsm->links[p] = bpf_program__attach_lsm(lsm->progs[p]);
		if (!lsm->links[p]) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: failed to attach %s: %s", name, strerror(-err));
			return err;
		}
		ug_log(LOG_INFO, "lsm: attached %s", name);
	}
	if (lsm->pinned[p])
		return 0;
	/* Not pinned, the program would stop enforcing when the agent exits. */
	if (ug_pin_path(dir, sizeof(dir), lsm->pin_dir, LINKS_DIR, NULL) ||
	    ug_pin_path(path, sizeof(path), dir, name, NULL))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (!err && bpf_obj_pin(bpf_link__fd(lsm->links[p]), path))
		err = -errno;
	if (err) {
		ug_log(LOG_ERR, "lsm: failed to pin the %s link at %s: %s", name, path,
		       strerror(-err));
		return err;
	}
	lsm->pinned[p] = true;
	return 0;
}

/*
 * LSM links are tracing links: the kernel (6.1 at least) implements neither
 * BPF_LINK_DETACH nor BPF_LINK_UPDATE for them. The program is detached when
 * the last reference goes: the pin and every open descriptor.
 */
static void detach(struct ug_lsm *lsm, int p)
{
	const char *name = bpf_program__name(lsm->progs[p]);
	char path[PATH_MAX];

	if (bpf_link__detach(lsm->links[p]) && errno != EOPNOTSUPP && errno != EINVAL)
		ug_log(LOG_WARNING, "lsm: BPF_LINK_DETACH of %s: %s", name, strerror(errno));
	if (lsm->pinned[p] && !ug_pin_path(path, sizeof(path), lsm->pin_dir, LINKS_DIR, name) &&
	    unlink(path) && errno != ENOENT)
		ug_log(LOG_WARNING, "lsm: cannot remove %s: %s", path, strerror(errno));
	bpf_link__destroy(lsm->links[p]);
	lsm->links[p] = NULL;
	lsm->pinned[p] = false;
	ug_log(LOG_INFO, "lsm: detached %s", name);
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

	if (ug_pin_path(dir, sizeof(dir), lsm->pin_dir, LINKS_DIR, NULL))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
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

/* --- units ----------------------------------------------------------------- */

static struct unit_state *unit_find(struct ug_lsm *lsm, uint64_t cgid)
{
	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].cgid == cgid)
			return &lsm->units[i];
	return NULL;
}

static struct unit_state *unit_add(struct ug_lsm *lsm, uint64_t cgid)
{
	struct unit_state *s = reallocarray(lsm->units, lsm->n_units + 1, sizeof(*s));

	if (!s)
		return NULL;
	lsm->units = s;
	s = &lsm->units[lsm->n_units++];
	memset(s, 0, sizeof(*s));
	s->cgid = cgid;
	s->level = -1;
	return s;
}

static struct pending_state *pending_find(struct ug_lsm *lsm, const char *name)
{
	for (size_t i = 0; i < lsm->n_pending; i++)
		if (!strcmp(lsm->pending[i].name, name))
			return &lsm->pending[i];
	return NULL;
}

static struct pending_state *pending_add(struct ug_lsm *lsm, const char *name)
{
	struct pending_state *ps = reallocarray(lsm->pending, lsm->n_pending + 1, sizeof(*ps));

	if (!ps)
		return NULL;
	lsm->pending = ps;
	ps = &lsm->pending[lsm->n_pending++];
	memset(ps, 0, sizeof(*ps));
	snprintf(ps->name, sizeof(ps->name), "%s", name);
	snprintf(ps->target, sizeof(ps->target), "%s", name);
	return ps;
}

static void pending_key(struct ug_pending_key *key, const char *name)
{
	size_t n = strnlen(name, sizeof(key->name) - 1);

	memset(key, 0, sizeof(*key));
	memcpy(key->name, name, n);
}

/*
 * Rebuild per-unit state from the pinned maps: each unit's policy and the
 * pending entries (ug_pending_lsm), each holding a reference to the trie it
 * uses; every trie in ug_paths (those no one refers to were left by an agent
 * killed mid-change: the first cleanup deletes them).
 */
static int adopt_maps(struct ug_lsm *lsm)
{
	int ufd = bpf_map__fd(lsm->skel->maps.ug_lsm_units);
	struct ug_pending_key nk, nnk, *pnk = NULL;
	uint64_t cgid, ncgid, *pcg = NULL;
	struct ug_lsm_config cfg;
	__u32 zero = 0;
	int err;

	err = ug_tries_adopt(lsm->tries);
	if (err)
		return err;
	while (!bpf_map_get_next_key(lsm->pending_fd, pnk, &nnk)) {
		struct ug_pending_lsm v;
		struct pending_state *ps;

		nk = nnk;
		pnk = &nk;
		nk.name[sizeof(nk.name) - 1] = '\0';
		if (bpf_map_lookup_elem(lsm->pending_fd, &nk, &v))
			continue;
		ps = pending_add(lsm, nk.name);
		if (!ps)
			return -ENOMEM;
		ps->parent_cgid = v.parent_cgid;
		ps->level = v.level;
		ps->val = v.val;
		ps->trie = v.val.trie;
		ug_tries_claim(lsm->tries, v.val.trie);
		if (v.val.generation > lsm->generation)
			lsm->generation = v.val.generation;
	}
	while (!bpf_map_get_next_key(ufd, pcg, &ncgid)) {
		struct ug_lsm_unit v;
		struct unit_state *s;

		cgid = ncgid;
		pcg = &cgid;
		if (bpf_map_lookup_elem(ufd, &cgid, &v))
			continue;
		s = unit_add(lsm, cgid);
		if (!s)
			return -ENOMEM;
		snprintf(s->target, sizeof(s->target), "cgroup:%" PRIu64, cgid);
		s->val = v;
		s->trie = v.trie;
		ug_tries_claim(lsm->tries, v.trie);
		if (v.generation > lsm->generation)
			lsm->generation = v.generation;
	}
	if (!bpf_map_lookup_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_config), &zero, &cfg))
		lsm->level_mask = cfg.level_mask;
	return 0;
}

/* The network object creates ug_pending_lsm; it must be loaded first. */
static int open_pending(struct ug_lsm *lsm)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int err;

	if (ug_pin_path(path, sizeof(path), lsm->pin_dir, "maps", "ug_pending_lsm"))
		return -ENAMETOOLONG;
	lsm->pending_fd = bpf_obj_get(path);
	if (lsm->pending_fd < 0) {
		err = -errno;
		ug_log(LOG_ERR, "lsm: cannot open %s: %s%s", path, strerror(-err),
		       err == -ENOENT ? " (the network object, which creates it, must be "
					"loaded first)" : "");
		return err;
	}
	if (bpf_obj_get_info_by_fd(lsm->pending_fd, &info, &len)) {
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

int ug_lsm_open(const char *pin_dir, struct ug_lsm **out)
{
	char path[PATH_MAX];
	struct ug_lsm *lsm;
	bool exe = false;
	int err;

	*out = NULL;
	lsm = calloc(1, sizeof(*lsm));
	if (!lsm)
		return -ENOMEM;
	lsm->pending_fd = -1;
	if ((size_t)snprintf(lsm->pin_dir, sizeof(lsm->pin_dir), "%s", pin_dir) >=
	    sizeof(lsm->pin_dir)) {
		err = -ENAMETOOLONG;
		goto err_free;
	}
	err = ug_pin_path(path, sizeof(path), pin_dir, "maps", NULL) ?: ug_mkdir_p(path);
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
		goto err_state;
	err = ug_tries_new(bpf_map__fd(lsm->skel->maps.ug_paths),
			   bpf_map__max_entries(lsm->skel->maps.ug_paths),
			   &(struct ug_tries_ops){ .key_size = sizeof(struct ug_path_key),
						   .val_size = sizeof(struct ug_path_val),
						   .cmp = path_cmp, .what = "lsm" },
			   &lsm->tries);
	if (err)
		goto err_state;
	err = adopt_maps(lsm);
	if (err) {
		ug_log(LOG_ERR, "lsm: cannot read the pinned maps: %s", strerror(-err));
		goto err_state;
	}
	err = adopt_links(lsm);
	if (err)
		goto err_state;
	*out = lsm;
	return 0;

err_state:
	ug_lsm_free(lsm);
	return err;
err_free:
	free(lsm);
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
	for (size_t i = 0; i < lsm->n_pending; i++)
		free(lsm->pending[i].paths);
	free(lsm->pending);
	if (lsm->pending_fd >= 0)
		close(lsm->pending_fd);
	ug_tries_free(lsm->tries);
	ug_lsm_bpf__destroy(lsm->skel);
	free(lsm);
}

int ug_lsm_events_map_fd(const struct ug_lsm *lsm)
{
	return bpf_map__fd(lsm->skel->maps.ug_lsm_events);
}

static bool paths_same(const struct ug_path_rule *a, const struct ug_path_rule *b, size_t n)
{
	/* Field by field: padding and the bytes after each path's NUL are the
	 * caller's and may differ without meaning anything. */
	for (size_t i = 0; i < n; i++)
		if (a[i].id != b[i].id || a[i].kind != b[i].kind || a[i].action != b[i].action ||
		    a[i].access != b[i].access || a[i].depth != b[i].depth ||
		    strncmp(a[i].path, b[i].path, sizeof(a[i].path)))
			return false;
	return true;
}

/* Is the policy the kernel has (v, paths: a copy of what it was compiled
 * from) what u asks for? */
static bool pol_same(bool loaded, const struct ug_lsm_unit *v, const struct ug_path_rule *paths,
		     size_t n_paths, const struct ug_lsm_unitpol *u)
{
	return loaded && v->mode == u->mode && v->harden == u->harden &&
	       v->deny_families == u->deny_families && n_paths == u->n_paths &&
	       paths_same(paths, u->paths, u->n_paths);
}

/* A policy compiled into a trie (written to ug_paths, or an existing one with
 * the same entries), not yet switched to. */
struct staged {
	uint16_t trie;              /* a reference held in the engine */
	uint64_t owner;
	struct ug_lsm_unit val;     /* with .trie set */
	struct ug_path_rule *paths; /* copy of u->paths */
	bool ok;
};

static int stage(struct ug_lsm *lsm, struct ug_lsm_unitpol *u, uint64_t owner,
		 uint32_t generation, struct staged *st)
{
	struct ug_lsm_unit val = {
		.deny_families = u->deny_families,
		.generation = generation,
		.mode = u->mode,
		.harden = u->harden,
	};
	struct ug_path_entry *e = NULL;
	struct ug_path_rule *paths = NULL;
	size_t n = 0, written = 0;
	uint16_t id;
	int err;

	if (u->mode > UG_MODE_OFF) {
		snprintf(u->why, sizeof(u->why), "invalid mode %u", u->mode);
		return -EINVAL;
	}
	err = ug_path_compile(u->paths, u->n_paths, 0, &e, &n, u->why, sizeof(u->why));
	if (err)
		return err;
	/* A hook runs for a unit only when some entry can refuse something. */
	for (size_t i = 0; i < n; i++) {
		if (e[i].key.kind == UG_PATH_EXEC && e[i].val.action == UG_ACT_DENY)
			val.has_paths |= 1u << UG_PATH_EXEC;
		if (e[i].key.kind == UG_PATH_FILE && e[i].val.deny_access)
			val.has_paths |= 1u << UG_PATH_FILE;
	}
	if (u->n_paths) {
		paths = malloc(u->n_paths * sizeof(*paths));
		if (!paths) {
			free(e);
			return -ENOMEM;
		}
		memcpy(paths, u->paths, u->n_paths * sizeof(*paths));
	}
	err = ug_tries_get(lsm->tries, owner, e, n, &id, &written);
	if (err) {
		if (err == -ENOSPC)
			snprintf(u->why, sizeof(u->why), "ug_paths is full: %zu of %u entries used",
				 ug_tries_used(lsm->tries), ug_tries_capacity(lsm->tries));
		free(e);
		free(paths);
		return err;
	}
	val.trie = id;
	st->trie = id;
	st->owner = owner;
	st->val = val;
	st->paths = paths;
	st->ok = true;
	return 0;
}

/* Undo stage(): nothing refers to the trie yet. */
static void unstage(struct ug_lsm *lsm, struct staged *st)
{
	ug_tries_put(lsm->tries, st->trie, st->owner);
	free(st->paths);
	memset(st, 0, sizeof(*st));
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(struct ug_lsm *lsm, struct unit_state *s, struct ug_lsm_unitpol *u,
		       uint32_t generation)
{
	struct staged st = {};
	int err;

	err = stage(lsm, u, s->cgid, generation, &st);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &u->cg.id, &st.val,
				BPF_ANY)) {
		err = -errno;
		unstage(lsm, &st);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	ug_tries_put(lsm->tries, s->trie, s->cgid);
	s->trie = st.trie;
	s->val = st.val;
	free(s->paths);
	s->paths = st.paths;
	s->n_paths = u->n_paths;
	s->loaded = true;
	return 0;
}

/*
 * The cgroup_mkdir program ORs the level of each cgroup it gives a pending
 * policy into the mask; the agent may not know that cgroup yet. Bits set in
 * the kernel since our last write are kept (a mkdir between our read and
 * write could still lose its bit: a window of microseconds, closed by the
 * next apply, which knows the cgroup as a unit).
 */
static int set_level_mask(struct ug_lsm *lsm, uint32_t mask)
{
	struct ug_lsm_config cfg;
	__u32 zero = 0;

	if (!bpf_map_lookup_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_config), &zero, &cfg))
		mask |= cfg.level_mask & ~lsm->level_mask;
	memset(&cfg, 0, sizeof(cfg));
	cfg.level_mask = mask;
	if (mask == lsm->level_mask)
		return 0;
	if (bpf_map_update_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_config), &zero, &cfg, BPF_ANY))
		return -errno;
	lsm->level_mask = mask;
	return 0;
}

static void remember_gone(struct ug_lsm *lsm, const struct unit_state *s)
{
	unsigned i = lsm->gone_next++ % (sizeof(lsm->gone) / sizeof(lsm->gone[0]));

	lsm->gone[i].cgid = s->cgid;
	lsm->gone[i].generation = s->val.generation;
	snprintf(lsm->gone[i].target, sizeof(lsm->gone[i].target), "%s", s->target);
}

/* need[p] |= some policy in the kernel (a unit's or a pending entry's)
 * needs hook program p. Copies the cgroup_mkdir program made hold a pending
 * entry's policy, so they need nothing more. */
static void state_needs(const struct ug_lsm *lsm, bool need[N_PROGS])
{
	for (int p = 0; p < N_PROGS; p++) {
		for (size_t i = 0; i < lsm->n_units && !need[p]; i++)
			need[p] = needs(&lsm->units[i].val, p);
		for (size_t i = 0; i < lsm->n_pending && !need[p]; i++)
			need[p] = needs(&lsm->pending[i].val, p);
	}
}

/* Attach each program in need[]; errs[p]: why p is not attached, or 0. */
static int attach_hooks(struct ug_lsm *lsm, const bool need[N_PROGS], int errs[N_PROGS])
{
	int first_err = 0;

	for (int p = 0; p < N_PROGS; p++) {
		errs[p] = need[p] ? attach(lsm, p) : 0;
		first_err = first_err ?: errs[p];
	}
	return first_err;
}

/* Detach the programs no policy in the kernel needs. */
static void detach_unneeded(struct ug_lsm *lsm)
{
	bool need[N_PROGS] = {};

	state_needs(lsm, need);
	for (int p = 0; p < N_PROGS; p++)
		if (!need[p] && lsm->links[p])
			detach(lsm, p);
}

/* Tell a policy (v: as the kernel has it) that a hook it needs is missing. */
static void hook_err(const struct ug_lsm *lsm, const int errs[N_PROGS],
		     const struct ug_lsm_unit *v, struct ug_lsm_unitpol *u)
{
	for (int p = 0; p < N_PROGS && !u->err; p++) {
		if (!errs[p] || !needs(v, p))
			continue;
		u->err = errs[p];
		snprintf(u->why, sizeof(u->why), "%s %s: %s",
			 lsm->links[p] ? "cannot pin" : "cannot attach",
			 bpf_program__name(lsm->progs[p]), strerror(-errs[p]));
	}
}

/* Attach every hook some policy in the kernel (units' and pending entries')
 * needs, then detach the others. A unit whose hook could not be attached is
 * told so. */
static int sync_hooks(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n)
{
	bool need[N_PROGS] = {};
	int errs[N_PROGS], first_err;

	state_needs(lsm, need);
	first_err = attach_hooks(lsm, need, errs);
	if (first_err) {
		for (size_t i = 0; i < n; i++) {
			struct unit_state *s = unit_find(lsm, units[i].cg.id);

			if (s)
				hook_err(lsm, errs, &s->val, &units[i]);
		}
	}
	detach_unneeded(lsm);
	return first_err;
}

int ug_lsm_apply(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n,
		 uint32_t generation)
{
	uint32_t want_mask = 0, kept_mask = 0, n_changed = 0;
	uint64_t t0 = ug_now_ns();
	size_t kept, entries = 0;
	bool changed = false;
	int first_err = 0, err;

	for (size_t i = 0; i < lsm->n_units; i++)
		lsm->units[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		units[i].err = 0;
		units[i].why[0] = '\0';
		if (units[i].cg.level >= 0 && units[i].cg.level < UG_MAX_LEVELS)
			want_mask |= 1u << units[i].cg.level;
	}
	/* Widen the mask first, so a unit is visible the moment it is written. */
	err = set_level_mask(lsm, lsm->level_mask | want_mask);
	if (err) {
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
		return err;
	}

	for (size_t i = 0; i < n; i++) {
		struct ug_lsm_unitpol *u = &units[i];
		struct unit_state *s;

		if (u->cg.level < 0 || u->cg.level >= UG_MAX_LEVELS) {
			u->err = -E2BIG;
			snprintf(u->why, sizeof(u->why),
				 "its cgroup is at level %d; at most level %d is supported",
				 u->cg.level, UG_MAX_LEVELS - 1);
			first_err = first_err ?: u->err;
			continue;
		}
		s = unit_find(lsm, u->cg.id);
		if (!s && !(s = unit_add(lsm, u->cg.id))) {
			u->err = -ENOMEM;
			snprintf(u->why, sizeof(u->why), "%s", strerror(ENOMEM));
			first_err = first_err ?: u->err;
			continue;
		}
		s->seen = true;
		snprintf(s->target, sizeof(s->target), "%s", u->target);
		s->level = u->cg.level;
		u->generation = s->val.generation;
		if (u->keep) {
			if (s->loaded)
				continue;
			u->err = -ESTALE;
			snprintf(u->why, sizeof(u->why), "its policy must be compiled again");
			first_err = first_err ?: u->err;
			continue;
		}
		if (pol_same(s->loaded, &s->val, s->paths, s->n_paths, u))
			continue;
		u->err = unit_update(lsm, s, u, generation);
		if (u->err) {
			if (!u->why[0])
				snprintf(u->why, sizeof(u->why), "%s", strerror(-u->err));
			ug_log(LOG_ERR, "lsm: %s: cannot load its LSM policy (%zu path rules): %s; "
			       "its previous policy stays in force", u->target, u->n_paths, u->why);
			first_err = first_err ?: u->err;
			continue;
		}
		changed = true;
		n_changed++;
		u->generation = s->val.generation;
		entries += ug_tries_size(lsm->tries, s->trie);
		ug_log(LOG_INFO, "lsm: %s: generation %u, %zu path rules, %zu trie entries", u->target,
		       generation, u->n_paths, ug_tries_size(lsm->tries, s->trie));
	}

	/* Policy cgroups that no longer have LSM policy (or never got it in). */
	kept = 0;
	for (size_t i = 0; i < lsm->n_units; i++) {
		struct unit_state *s = &lsm->units[i];

		if (s->seen && (s->loaded || s->val.trie)) {
			lsm->units[kept++] = *s;
			continue;
		}
		if (s->seen) {
			/* New and refused: nothing of it is in the kernel. */
			free(s->paths);
			continue;
		}
		if (bpf_map_delete_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &s->cgid) &&
		    errno != ENOENT) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: %s: cannot remove its policy: %s", s->target,
			       strerror(-err));
			first_err = first_err ?: err;
			lsm->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "lsm: %s: no LSM policy left, removed", s->target);
		remember_gone(lsm, s);
		ug_tries_put(lsm->tries, s->trie, 0);
		free(s->paths);
		changed = true;
	}
	lsm->n_units = kept;

	err = sync_hooks(lsm, units, n);
	first_err = first_err ?: err;

	/* Narrow the mask last. A unit whose level is unknown (adopted, and its
	 * removal failed) keeps every level that was set. */
	for (size_t i = 0; i < lsm->n_units; i++)
		kept_mask |= lsm->units[i].level >= 0 ? 1u << lsm->units[i].level
						      : lsm->level_mask;
	/* And the levels pending entries will be made at (the mkdir program
	 * widens the mask itself; this only keeps narrowing from racing it). */
	for (size_t i = 0; i < lsm->n_pending; i++)
		if (lsm->pending[i].level && lsm->pending[i].level < UG_MAX_LEVELS)
			kept_mask |= 1u << lsm->pending[i].level;
	err = set_level_mask(lsm, kept_mask);
	if (err)
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
	first_err = first_err ?: err;

	lsm->last_changed = n_changed;
	if (changed) {
		if (generation > lsm->generation)
			lsm->generation = generation;
		ug_log(LOG_INFO, "lsm: generation %u applied in %.3f ms (%u units changed, %zu "
		       "trie entries written)", generation, (ug_now_ns() - t0) / 1e6, n_changed,
		       entries);
	}
	return first_err;
}

/* A pending entry's trie retired in this pass: what its copies get now. */
struct retarget {
	uint16_t old;
	bool del; /* the entry is gone: so are its copies */
	struct ug_lsm_unit val;
};

/*
 * Move the copies the cgroup_mkdir program made of pending entries (units
 * whose ug_lsm_units value points at a pending trie, and that have no trie
 * of their own yet) from each retired trie to its replacement, or delete
 * them with their entry: once the retired trie's id is reused they would
 * otherwise judge with another unit's rules.
 */
static int retarget_copies(struct ug_lsm *lsm, const struct retarget *rt, size_t n_rt)
{
	int ufd = bpf_map__fd(lsm->skel->maps.ug_lsm_units);
	struct {
		uint64_t cgid;
		size_t j;
	} *hit = NULL, *h;
	size_t n_hit = 0;
	uint64_t cgid, ncgid, *pcg = NULL;
	int first_err = 0;

	if (!n_rt)
		return 0;
	/* Collect first: changing entries while walking the hash could restart
	 * the walk. */
	while (!bpf_map_get_next_key(ufd, pcg, &ncgid)) {
		struct ug_lsm_unit v;

		cgid = ncgid;
		pcg = &cgid;
		if (bpf_map_lookup_elem(ufd, &cgid, &v))
			continue;
		/* A unit the agent applied shares the trie, it was not copied. */
		if (unit_find(lsm, cgid) && unit_find(lsm, cgid)->loaded)
			continue;
		for (size_t j = 0; j < n_rt; j++) {
			if (v.trie != rt[j].old)
				continue;
			h = reallocarray(hit, n_hit + 1, sizeof(*hit));
			if (!h) {
				free(hit);
				return -ENOMEM;
			}
			hit = h;
			hit[n_hit].cgid = cgid;
			hit[n_hit++].j = j;
			break;
		}
	}
	for (size_t i = 0; i < n_hit; i++) {
		const struct retarget *r = &rt[hit[i].j];
		struct unit_state *s = unit_find(lsm, hit[i].cgid);
		int err = 0;

		if (r->del) {
			if (bpf_map_delete_elem(ufd, &hit[i].cgid) && errno != ENOENT)
				err = -errno;
		} else if (bpf_map_update_elem(ufd, &hit[i].cgid, &r->val, BPF_EXIST) &&
			   errno != ENOENT) {
			err = -errno; /* ENOENT: the cgroup went meanwhile */
		}
		if (err) {
			ug_log(LOG_ERR, "lsm: cannot update the policy of cgroup %" PRIu64
			       " (made from a pending entry): %s", hit[i].cgid, strerror(-err));
			first_err = first_err ?: err;
			continue;
		}
		ug_log(LOG_DEBUG, "lsm: cgroup %" PRIu64 ": %s", hit[i].cgid,
		       r->del ? "its pending entry is gone, policy removed"
			      : "moved to its pending entry's new trie");
		/* An adopted unit state for it (after a restart) follows the map. */
		if (s && !s->loaded) {
			ug_tries_put(lsm->tries, s->trie, s->cgid);
			s->val = r->del ? (struct ug_lsm_unit){ .mode = UG_MODE_OFF } : r->val;
			s->trie = r->del ? 0 : r->val.trie;
			ug_tries_claim(lsm->tries, s->trie);
		}
	}
	free(hit);
	return first_err;
}

/*
 * After a restart the pending entries are adopted with loaded false, so the
 * first call rewrites each of them with a fresh trie (and moves the copies
 * made from them); later calls touch only what changed.
 */
int ug_lsm_apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation)
{
	bool need[N_PROGS] = {}, changed = false;
	int errs[N_PROGS], first_err = 0, err;
	struct retarget *rt = NULL;
	struct staged *st = NULL;
	size_t n_rt = 0, kept;

	st = calloc(n ?: 1, sizeof(*st));
	rt = calloc(lsm->n_pending + n + 1, sizeof(*rt));
	if (!st || !rt) {
		free(st);
		free(rt);
		return -ENOMEM;
	}
	lsm->pending_changed = 0;
	for (size_t i = 0; i < lsm->n_pending; i++)
		lsm->pending[i].seen = false;

	/* 1. Compile and write the new tries of what changed. */
	for (size_t i = 0; i < n; i++) {
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct pending_state *ps;

		u->err = 0;
		u->why[0] = '\0';
		if (!p[i].name || !p[i].name[0] || strchr(p[i].name, '/')) {
			u->err = -EINVAL;
			snprintf(u->why, sizeof(u->why), "not a cgroup directory name");
		} else if (strlen(p[i].name) >= UG_NAME_MAX) {
			u->err = -ENAMETOOLONG;
			snprintf(u->why, sizeof(u->why),
				 "unit name too long for the start-up race map");
		} else if (p[i].level >= UG_MAX_LEVELS) {
			u->err = -E2BIG;
			snprintf(u->why, sizeof(u->why),
				 "its cgroup would be at level %u; at most level %d is supported",
				 p[i].level, UG_MAX_LEVELS - 1);
		}
		if (u->err) {
			first_err = first_err ?: u->err;
			continue;
		}
		ps = pending_find(lsm, p[i].name);
		if (ps && ps->seen) {
			u->err = -EEXIST;
			snprintf(u->why, sizeof(u->why), "a second pending policy for %s",
				 p[i].name);
			first_err = first_err ?: u->err;
			continue;
		}
		if (!ps && !(ps = pending_add(lsm, p[i].name))) {
			u->err = -ENOMEM;
			snprintf(u->why, sizeof(u->why), "%s", strerror(ENOMEM));
			first_err = first_err ?: u->err;
			continue;
		}
		ps->seen = true;
		if (u->target)
			snprintf(ps->target, sizeof(ps->target), "%s", u->target);
		if (u->keep) {
			if (ps->loaded && ps->parent_cgid == p[i].parent_cgid &&
			    ps->level == p[i].level)
				continue;
			u->err = -ESTALE;
			snprintf(u->why, sizeof(u->why), "its policy must be compiled again");
			first_err = first_err ?: u->err;
			continue;
		}
		if (ps->parent_cgid == p[i].parent_cgid && ps->level == p[i].level &&
		    pol_same(ps->loaded, &ps->val, ps->paths, ps->n_paths, u))
			continue;
		u->err = stage(lsm, u, owner_of_name(ps->name), generation, &st[i]);
		if (u->err) {
			if (!u->why[0])
				snprintf(u->why, sizeof(u->why), "%s", strerror(-u->err));
			ug_log(LOG_ERR, "lsm: %s: cannot keep its LSM policy for its next start "
			       "(%zu path rules): %s; its previous one stays", ps->target,
			       u->n_paths, u->why);
			first_err = first_err ?: u->err;
		}
	}

	/* 2. The hooks the new policies need, before any cgroup can get them. */
	state_needs(lsm, need);
	for (size_t i = 0; i < n; i++)
		for (int q = 0; q < N_PROGS; q++)
			need[q] = need[q] || (st[i].ok && needs(&st[i].val, q));
	err = attach_hooks(lsm, need, errs);
	first_err = first_err ?: err;

	/* 3. Switch each changed entry to its new trie in one map update. */
	for (size_t i = 0; i < n; i++) {
		struct ug_pending_lsm v = {
			.val = st[i].val,
			.parent_cgid = p[i].parent_cgid,
			.level = p[i].level,
		};
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct ug_pending_key key;
		struct pending_state *ps;

		if (!st[i].ok)
			continue;
		ps = pending_find(lsm, p[i].name);
		pending_key(&key, ps->name);
		if (bpf_map_update_elem(lsm->pending_fd, &key, &v, BPF_ANY)) {
			u->err = -errno;
			snprintf(u->why, sizeof(u->why), "cannot update ug_pending_lsm: %s",
				 strerror(-u->err));
			ug_log(LOG_ERR, "lsm: %s: %s", ps->target, u->why);
			first_err = first_err ?: u->err;
			unstage(lsm, &st[i]);
			continue;
		}
		/* From here on no new cgroup gets the old trie. */
		if (ps->trie)
			rt[n_rt++] = (struct retarget){ .old = ps->trie, .val = v.val };
		ug_tries_put(lsm->tries, ps->trie, owner_of_name(ps->name));
		ps->trie = st[i].trie;
		ps->val = st[i].val;
		free(ps->paths);
		ps->paths = st[i].paths;
		ps->n_paths = u->n_paths;
		ps->parent_cgid = p[i].parent_cgid;
		ps->level = p[i].level;
		ps->loaded = true;
		changed = true;
		lsm->pending_changed++;
		ug_log(LOG_INFO, "lsm: %s: kept for its next start as %s, generation %u, %zu path "
		       "rules, %zu trie entries", ps->target, ps->name, generation, u->n_paths,
		       ug_tries_size(lsm->tries, ps->trie));
	}
	if (err) {
		for (size_t i = 0; i < n; i++) {
			struct pending_state *ps;

			if (p[i].pol.err || !(ps = pending_find(lsm, p[i].name)))
				continue;
			hook_err(lsm, errs, &ps->val, &p[i].pol);
		}
	}

	/* 4. Names without pending policy any more. */
	kept = 0;
	for (size_t i = 0; i < lsm->n_pending; i++) {
		struct pending_state *ps = &lsm->pending[i];
		struct ug_pending_key key;

		if (ps->seen && (ps->loaded || ps->val.trie)) {
			lsm->pending[kept++] = *ps;
			continue;
		}
		if (ps->seen) {
			/* New and refused: nothing of it is in the kernel. */
			free(ps->paths);
			continue;
		}
		pending_key(&key, ps->name);
		if (bpf_map_delete_elem(lsm->pending_fd, &key) && errno != ENOENT) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: %s: cannot remove its pending policy: %s", ps->target,
			       strerror(-err));
			first_err = first_err ?: err;
			lsm->pending[kept++] = *ps;
			continue;
		}
		ug_log(LOG_INFO, "lsm: %s: no pending LSM policy left, removed", ps->target);
		if (ps->trie)
			rt[n_rt++] = (struct retarget){ .old = ps->trie, .del = true };
		ug_tries_put(lsm->tries, ps->trie, 0);
		free(ps->paths);
		changed = true;
		lsm->pending_changed++;
	}
	lsm->n_pending = kept;

	/* 5. Cgroups made from the old entries meanwhile. */
	err = retarget_copies(lsm, rt, n_rt);
	first_err = first_err ?: err;

	/* 6. Hooks nobody needs any more. */
	detach_unneeded(lsm);

	if (changed && generation > lsm->generation)
		lsm->generation = generation;
	free(st);
	free(rt);
	return first_err;
}

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
	for (size_t i = 0; i < lsm->n_pending; i++)
		if (lsm->pending[i].trie && lsm->pending[i].trie == v->trie)
			return &lsm->pending[i];
	return NULL;
}

uint32_t ug_lsm_unit_generation(const struct ug_lsm *lsm, uint64_t cgid)
{
	struct ug_lsm_unit v;

	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].cgid == cgid)
			return lsm->units[i].val.generation;
	if (copy_of(lsm, cgid, &v))
		return v.generation;
	return 0;
}

const char *ug_lsm_target(const struct ug_lsm *lsm, uint64_t cgid)
{
	const struct pending_state *ps;
	struct ug_lsm_unit v;

	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].cgid == cgid)
			return lsm->units[i].target;
	ps = copy_of(lsm, cgid, &v);
	if (ps)
		return ps->target;
	for (size_t i = 0; i < sizeof(lsm->gone) / sizeof(lsm->gone[0]); i++)
		if (lsm->gone[i].cgid == cgid)
			return lsm->gone[i].target;
	return NULL;
}

void ug_lsm_hooks(const struct ug_lsm *lsm, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (int p = 0; p < N_PROGS; p++) {
		int w;

		if (!lsm->links[p])
			continue;
		w = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			     bpf_program__name(lsm->progs[p]));
		if (w < 0 || (size_t)w >= len - off)
			return; /* truncated */
		off += w;
	}
}

int ug_lsm_flush(struct ug_lsm *lsm, uint32_t window)
{
	return ug_flush_run(bpf_program__fd(lsm->skel->progs.ug_lsm_flush), window,
			    &lsm->flush_said, "LSM");
}

int ug_lsm_counter(const struct ug_lsm *lsm, int which, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = which;
	uint64_t *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_counters), &key, vals)) {
		int err = -errno;

		free(vals);
		return err;
	}
	*out = 0;
	for (int i = 0; i < ncpu; i++)
		*out += vals[i];
	free(vals);
	return 0;
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

/* Empty the pinned policy: a program that stays attached (its link held
 * open by a running agent, which BPF_LINK_DETACH cannot force for LSM links)
 * then finds no unit and judges nothing. */
static int neutralize_maps(const char *pin_dir)
{
	struct ug_lsm_config cfg = {};
	char path[PATH_MAX];
	uint64_t key;
	__u32 zero = 0;
	int fd, err = 0;

	if (ug_pin_path(path, sizeof(path), pin_dir, "maps", "ug_lsm_config"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
			err = -errno;
		close(fd);
	} else if (errno != ENOENT) {
		err = -errno;
	}
	/* Pending entries before units: no new cgroup gets a policy again. */
	if (ug_pin_path(path, sizeof(path), pin_dir, "maps", "ug_pending_lsm"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct ug_pending_key pkey;

		while (!bpf_map_get_next_key(fd, NULL, &pkey))
			if (bpf_map_delete_elem(fd, &pkey)) {
				err = -errno;
				break;
			}
		close(fd);
	} else if (errno != ENOENT) {
		err = -errno;
	}
	if (ug_pin_path(path, sizeof(path), pin_dir, "maps", "ug_lsm_units"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? err : -errno;
	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key)) {
			err = -errno;
			break;
		}
	close(fd);
	return err;
}

int ug_lsm_detach_all(const char *pin_dir)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	int err;
	DIR *d;

	err = neutralize_maps(pin_dir);
	if (ug_pin_path(dir, sizeof(dir), pin_dir, LINKS_DIR, NULL))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? err : -errno;
	while ((de = readdir(d))) {
		struct bpf_link *link;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ug_pin_path(path, sizeof(path), dir, de->d_name, NULL)) {
			err = -ENAMETOOLONG;
			continue;
		}
		link = bpf_link__open(path);
		if (link) {
			/* Kernels without BPF_LINK_DETACH for LSM links detach it when
			 * the pin below and every descriptor are gone. */
			if (bpf_link__detach(link) && errno != EOPNOTSUPP && errno != EINVAL)
				err = -errno;
			bpf_link__destroy(link);
		}
		if (unlink(path))
			err = -errno;
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT)
		err = -errno;
	return err;
}
