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
#include "lsm.h"
#include "lsm.skel.h"

#define N_TRIES 65536
/* Readers of a retired trie are BPF programs already running when it was
 * swapped out; they finish within microseconds. */
#define RETIRE_GRACE_NS (500 * 1000 * 1000ULL)
#define TARGET_MAX 256
#define LINKS_DIR "lsm-links"
#define SECURITYFS "/sys/kernel/security"

struct trie {
	uint16_t id;
	struct ug_path_entry *entries; /* adopted tries: keys only */
	size_t n, cap;
	uint64_t retired_ns;
};

struct unit_state {
	char target[TARGET_MAX];
	uint64_t cgid;
	int level; /* -1: adopted, not known yet */
	struct ug_lsm_unit val; /* what ug_lsm_units holds for it */
	struct ug_path_rule *paths; /* copy, to see whether anything changed */
	size_t n_paths;
	struct trie trie;
	bool loaded; /* paths above are what the kernel has (false after adoption) */
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
	N_PROGS,
};

struct ug_lsm {
	struct ug_lsm_bpf *skel;
	char pin_dir[PATH_MAX];
	struct bpf_program *progs[N_PROGS];
	struct bpf_link *links[N_PROGS];
	bool pinned[N_PROGS];
	struct unit_state *units;
	size_t n_units;
	struct trie *retired;
	size_t n_retired;
	uint8_t trie_used[N_TRIES / 8];
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int pin_path(char *buf, size_t len, const char *dir, const char *a, const char *b)
{
	int n = b ? snprintf(buf, len, "%s/%s/%s", dir, a, b) : snprintf(buf, len, "%s/%s", dir, a);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* --- tries --------------------------------------------------------------- */

static int trie_alloc(struct ug_lsm *lsm, uint16_t *id)
{
	for (uint32_t i = 1; i < N_TRIES; i++) {
		if (!(lsm->trie_used[i / 8] & (1u << (i % 8)))) {
			lsm->trie_used[i / 8] |= 1u << (i % 8);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static void trie_mark(struct ug_lsm *lsm, uint16_t id)
{
	lsm->trie_used[id / 8] |= 1u << (id % 8);
}

static void trie_release_id(struct ug_lsm *lsm, uint16_t id)
{
	lsm->trie_used[id / 8] &= ~(1u << (id % 8));
}

static void trie_delete_entries(struct ug_lsm *lsm, const struct trie *t)
{
	int fd = bpf_map__fd(lsm->skel->maps.ug_paths);

	for (size_t i = 0; i < t->n; i++)
		if (bpf_map_delete_elem(fd, &t->entries[i].key) && errno != ENOENT)
			ug_log(LOG_WARNING, "lsm: deleting an entry of path trie %u: %s", t->id,
			       strerror(errno));
}

static int trie_write(struct ug_lsm *lsm, const struct trie *t)
{
	int fd = bpf_map__fd(lsm->skel->maps.ug_paths);

	for (size_t i = 0; i < t->n; i++) {
		if (bpf_map_update_elem(fd, &t->entries[i].key, &t->entries[i].val, BPF_ANY)) {
			int err = -errno;
			/* Leave nothing half-written behind. */
			struct trie partial = *t;

			partial.n = i;
			trie_delete_entries(lsm, &partial);
			return err;
		}
	}
	return 0;
}

/* Remember a key found in the pinned trie map, so it can be deleted later. */
static int trie_push_key(struct trie *t, const struct ug_path_key *key)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct ug_path_entry *e = reallocarray(t->entries, cap, sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->entries = e;
		t->cap = cap;
	}
	memset(&t->entries[t->n], 0, sizeof(t->entries[t->n]));
	t->entries[t->n++].key = *key;
	return 0;
}

static int retire(struct ug_lsm *lsm, struct trie *t)
{
	struct trie *r;

	if (!t->id && !t->n)
		return 0;
	r = reallocarray(lsm->retired, lsm->n_retired + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	lsm->retired = r;
	t->retired_ns = now_ns();
	lsm->retired[lsm->n_retired++] = *t;
	memset(t, 0, sizeof(*t));
	return 0;
}

void ug_lsm_cleanup(struct ug_lsm *lsm)
{
	uint64_t now = now_ns();
	size_t kept = 0;

	for (size_t i = 0; i < lsm->n_retired; i++) {
		struct trie *t = &lsm->retired[i];

		if (now - t->retired_ns < RETIRE_GRACE_NS) {
			lsm->retired[kept++] = *t;
			continue;
		}
		trie_delete_entries(lsm, t);
		trie_release_id(lsm, t->id);
		free(t->entries);
	}
	lsm->n_retired = kept;
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
		return v->harden & UG_HARDEN_MOUNT;
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
			err = pin_path(path, sizeof(path), pin_dir, "maps", bpf_map__name(map));
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
	if (pin_path(dir, sizeof(dir), lsm->pin_dir, LINKS_DIR, NULL) ||
	    pin_path(path, sizeof(path), dir, name, NULL))
		return -ENAMETOOLONG;
	err = mkdir_p(dir);
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
	if (lsm->pinned[p] && !pin_path(path, sizeof(path), lsm->pin_dir, LINKS_DIR, name) &&
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
	int err = 0;
	DIR *d;

	if (pin_path(dir, sizeof(dir), lsm->pin_dir, LINKS_DIR, NULL))
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

	for (size_t i = 0; i < n && !err; i++) {
		int p;

		if (pin_path(path, sizeof(path), dir, names[i], NULL))
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
		err = adopt_link(lsm, p, path);
		if (!err)
			ug_log(LOG_INFO, "lsm: adopted the pinned %s link", names[i]);
	}
	return err;
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

/*
 * Rebuild per-unit state from the pinned maps: each unit's policy and the
 * keys of its trie, and the keys of tries no unit refers to (left by an
 * agent that died between writing a trie and deleting the old one).
 */
static int adopt_maps(struct ug_lsm *lsm)
{
	int ufd = bpf_map__fd(lsm->skel->maps.ug_lsm_units);
	int pfd = bpf_map__fd(lsm->skel->maps.ug_paths);
	struct ug_path_key key, next, *pkey = NULL;
	uint64_t cgid, ncgid, *pcg = NULL;
	struct trie *orphans = NULL;
	int32_t *owner; /* trie id -> unit index, or -2 - orphan index; -1: unseen */
	size_t n_orphans = 0;
	struct ug_lsm_config cfg;
	__u32 zero = 0;
	int err = 0;

	owner = malloc(N_TRIES * sizeof(*owner));
	if (!owner)
		return -ENOMEM;
	for (size_t i = 0; i < N_TRIES; i++)
		owner[i] = -1;

	while (!bpf_map_get_next_key(ufd, pcg, &ncgid)) {
		struct ug_lsm_unit v;
		struct unit_state *s;

		cgid = ncgid;
		pcg = &cgid;
		if (bpf_map_lookup_elem(ufd, &cgid, &v))
			continue;
		s = unit_add(lsm, cgid);
		if (!s) {
			err = -ENOMEM;
			goto err_orphans;
		}
		snprintf(s->target, sizeof(s->target), "cgroup:%" PRIu64, cgid);
		s->val = v;
		s->trie.id = v.trie;
		owner[v.trie] = (int32_t)(lsm->n_units - 1);
		trie_mark(lsm, v.trie);
		if (v.generation > lsm->generation)
			lsm->generation = v.generation;
	}

	while (!bpf_map_get_next_key(pfd, pkey, &next)) {
		struct trie *t;

		key = next;
		pkey = &key;
		if (owner[key.trie] == -1) {
			t = reallocarray(orphans, n_orphans + 1, sizeof(*t));
			if (!t) {
				err = -ENOMEM;
				goto err_orphans;
			}
			orphans = t;
			memset(&orphans[n_orphans], 0, sizeof(*orphans));
			orphans[n_orphans].id = key.trie;
			owner[key.trie] = -2 - (int32_t)n_orphans++;
		}
		t = owner[key.trie] >= 0 ? &lsm->units[owner[key.trie]].trie
					 : &orphans[-2 - owner[key.trie]];
		err = trie_push_key(t, &key);
		if (err)
			goto err_orphans;
	}
	for (size_t i = 0; i < n_orphans; i++) {
		trie_mark(lsm, orphans[i].id);
		err = retire(lsm, &orphans[i]);
		if (err)
			goto err_orphans;
	}

	if (!bpf_map_lookup_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_config), &zero, &cfg))
		lsm->level_mask = cfg.level_mask;
	free(orphans);
	free(owner);
	return 0;

err_orphans:
	for (size_t i = 0; i < n_orphans; i++)
		free(orphans[i].entries);
	free(orphans);
	free(owner);
	return err;
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
	if ((size_t)snprintf(lsm->pin_dir, sizeof(lsm->pin_dir), "%s", pin_dir) >=
	    sizeof(lsm->pin_dir)) {
		err = -ENAMETOOLONG;
		goto err_free;
	}
	err = pin_path(path, sizeof(path), pin_dir, "maps", NULL) ?: mkdir_p(path);
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
	for (size_t i = 0; i < lsm->n_units; i++) {
		free(lsm->units[i].paths);
		free(lsm->units[i].trie.entries);
	}
	free(lsm->units);
	for (size_t i = 0; i < lsm->n_retired; i++)
		free(lsm->retired[i].entries);
	free(lsm->retired);
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

static bool unit_same(const struct unit_state *s, const struct ug_lsm_unitpol *u)
{
	return s->loaded && s->val.mode == u->mode && s->val.harden == u->harden &&
	       s->val.deny_families == u->deny_families && s->n_paths == u->n_paths &&
	       paths_same(s->paths, u->paths, u->n_paths);
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(struct ug_lsm *lsm, struct unit_state *s, struct ug_lsm_unitpol *u,
		       uint32_t generation)
{
	struct ug_lsm_unit val = {
		.deny_families = u->deny_families,
		.generation = generation,
		.mode = u->mode,
		.harden = u->harden,
	};
	struct ug_path_rule *paths = NULL;
	struct trie t = {};
	int err;

	if (u->mode > UG_MODE_OFF) {
		snprintf(u->why, sizeof(u->why), "invalid mode %u", u->mode);
		return -EINVAL;
	}
	err = trie_alloc(lsm, &t.id);
	if (err)
		return err;
	err = ug_path_compile(u->paths, u->n_paths, t.id, &t.entries, &t.n, u->why,
			      sizeof(u->why));
	if (err)
		goto err_id;
	t.cap = t.n;
	/* A hook runs for a unit only when some entry can refuse something. */
	for (size_t i = 0; i < t.n; i++) {
		const struct ug_path_entry *e = &t.entries[i];

		if (e->key.kind == UG_PATH_EXEC && e->val.action == UG_ACT_DENY)
			val.has_paths |= 1u << UG_PATH_EXEC;
		if (e->key.kind == UG_PATH_FILE && e->val.deny_access)
			val.has_paths |= 1u << UG_PATH_FILE;
	}
	if (u->n_paths) {
		paths = malloc(u->n_paths * sizeof(*paths));
		if (!paths) {
			err = -ENOMEM;
			goto err_entries;
		}
		memcpy(paths, u->paths, u->n_paths * sizeof(*paths));
	}
	err = trie_write(lsm, &t);
	if (err)
		goto err_paths;
	val.trie = t.id;
	if (bpf_map_update_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &u->cg.id, &val,
				BPF_ANY)) {
		err = -errno;
		trie_delete_entries(lsm, &t);
		goto err_paths;
	}
	/* From here on no new decision reads the old trie. */
	retire(lsm, &s->trie);
	s->trie = t;
	s->val = val;
	free(s->paths);
	s->paths = paths;
	s->n_paths = u->n_paths;
	s->loaded = true;
	return 0;

err_paths:
	free(paths);
err_entries:
	free(t.entries);
err_id:
	trie_release_id(lsm, t.id);
	return err;
}

static int set_level_mask(struct ug_lsm *lsm, uint32_t mask)
{
	struct ug_lsm_config cfg = { .level_mask = mask };
	__u32 zero = 0;

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

/* Attach every hook some unit's policy in the kernel needs, then detach the
 * others. A unit whose hook could not be attached is told so. */
static int sync_hooks(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n)
{
	bool need[N_PROGS] = {};
	int first_err = 0;

	for (size_t i = 0; i < lsm->n_units; i++)
		for (int p = 0; p < N_PROGS; p++)
			need[p] = need[p] || needs(&lsm->units[i].val, p);

	for (int p = 0; p < N_PROGS; p++) {
		int err;

		if (!need[p])
			continue;
		err = attach(lsm, p);
		if (!err)
			continue;
		first_err = first_err ?: err;
		for (size_t i = 0; i < n; i++) {
			struct unit_state *s = unit_find(lsm, units[i].cg.id);

			if (!s || !needs(&s->val, p) || units[i].err)
				continue;
			units[i].err = err;
			snprintf(units[i].why, sizeof(units[i].why), "%s %s: %s",
				 lsm->links[p] ? "cannot pin" : "cannot attach",
				 bpf_program__name(lsm->progs[p]), strerror(-err));
		}
	}
	for (int p = 0; p < N_PROGS; p++)
		if (!need[p] && lsm->links[p])
			detach(lsm, p);
	return first_err;
}

int ug_lsm_apply(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n,
		 uint32_t generation)
{
	uint32_t want_mask = 0, kept_mask = 0, n_changed = 0;
	uint64_t t0 = now_ns();
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
		if (unit_same(s, u))
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
		entries += s->trie.n;
		ug_log(LOG_INFO, "lsm: %s: generation %u, %zu path rules, %zu trie entries", u->target,
		       generation, u->n_paths, s->trie.n);
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
		retire(lsm, &s->trie);
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
	err = set_level_mask(lsm, kept_mask);
	if (err)
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
	first_err = first_err ?: err;

	lsm->last_changed = n_changed;
	if (changed) {
		if (generation > lsm->generation)
			lsm->generation = generation;
		ug_log(LOG_INFO, "lsm: generation %u applied in %.3f ms (%u units changed, %zu "
		       "trie entries written)", generation, (now_ns() - t0) / 1e6, n_changed,
		       entries);
	}
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

uint32_t ug_lsm_unit_generation(const struct ug_lsm *lsm, uint64_t cgid)
{
	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].cgid == cgid)
			return lsm->units[i].val.generation;
	return 0;
}

const char *ug_lsm_target(const struct ug_lsm *lsm, uint64_t cgid)
{
	for (size_t i = 0; i < lsm->n_units; i++)
		if (lsm->units[i].cgid == cgid)
			return lsm->units[i].target;
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
		snprintf(why, len, "the kernel refused to load an LSM program: %s", strerror(-err));
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

	if (pin_path(path, sizeof(path), pin_dir, "maps", "ug_lsm_config"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
			err = -errno;
		close(fd);
	} else if (errno != ENOENT) {
		err = -errno;
	}
	if (pin_path(path, sizeof(path), pin_dir, "maps", "ug_lsm_units"))
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
	if (pin_path(dir, sizeof(dir), pin_dir, LINKS_DIR, NULL))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? err : -errno;
	while ((de = readdir(d))) {
		struct bpf_link *link;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (pin_path(path, sizeof(path), dir, de->d_name, NULL)) {
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
