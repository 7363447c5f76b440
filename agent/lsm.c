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

#include "byname.h"
#include "log.h"
#include "flush.h"
#include "pins.h"
#include "util.h"
#include "lsm.h"
#include "lsm.skel.h"
#include "pinned.h"
#include "trie.h"
#include "unitpol.h"

#define SECURITYFS "/sys/kernel/security"
#define FREE_BUDGET 20000 /* entries deleted per cleanup call */

_Static_assert(sizeof(struct ug_path_entry) ==
		       sizeof(struct ug_path_key) + sizeof(struct ug_path_val),
	       "ug_path_entry must be key then value, unpadded: the trie engine packs them");

struct unit_state {
	struct ug_unitstate h;      /* target, cgroup, trie (val.trie), loaded */
	struct ug_lsm_unit val;     /* what ug_lsm_units holds for it */
	struct ug_path_rule *paths; /* copy, to see whether anything changed */
	size_t n_paths;
};

/*
 * A policy kept by unit name in ug_pending_lsm for a cgroup not made yet
 * (the start-up race, unitguard.h). The cgroup_mkdir program copies val into
 * ug_lsm_units for each new cgroup of that name: such copies share this trie
 * until the agent gives the running cgroup a trie of its own (ug_lsm_apply),
 * so whenever this trie is retired, the copies are moved to the new one.
 */
struct pending_state {
	struct ug_byname h;     /* name, place, trie (val.trie), loaded */
	struct ug_lsm_unit val; /* what ug_pending_lsm holds for it */
	struct ug_path_rule *paths;
	size_t n_paths;
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
	/* Kept by name; its fd: pin_dir/maps/ug_pending_lsm (the network object's). */
	struct ug_bynames pending;
	struct ug_tries *tries;
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
	uint32_t pending_changed; /* by the last apply_pending */
	uint32_t level_mask;
	/*
	 * The agent's own cgroup, judged by no LSM program (README, "The
	 * agent's lifeline"): a policy cgroup of mode off, the nearest one for
	 * the agent's tasks, written before any other in every apply; and kept
	 * by name, so that the cgroup a restart of the agent gets is exempt
	 * from its mkdir(2) on, before the new agent's first bpf() call.
	 */
	struct {
		bool on;
		bool applying; /* its own request is under way (not a unit's) */
		struct ug_cgroup cg;
		uint64_t parent_id;
		char name[UG_NAME_MAX];
		char target[TARGET_MAX];
	} self;
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

static struct pending_state *pend(const struct ug_lsm *lsm, size_t i)
{
	return (struct pending_state *)ug_byname_at(&lsm->pending, i);
}

void ug_lsm_cleanup(struct ug_lsm *lsm)
{
	ug_tries_collect(lsm->tries, false, FREE_BUDGET);
}

/* --- programs and links --------------------------------------------------- */

/* Does this policy (as the kernel has it) need hook program p? A switch or
 * family audited needs it as much as one enforced. */
static bool needs(const struct ug_lsm_unit *v, int p)
{
	uint8_t harden = v->harden | v->harden_audit;

	if (v->mode == UG_MODE_OFF)
		return false;
	switch (p) {
	case P_EXEC:
		return v->has_paths & (1u << UG_PATH_EXEC);
	case P_FILE_OPEN:
		return v->has_paths & (1u << UG_PATH_FILE);
	case P_SOCK_CREATE:
		return (v->deny_families | v->audit_families) != 0;
	case P_LOAD_DATA:
	case P_READ_FILE:
		return harden & UG_HARDEN_MODULE_LOAD;
	case P_BPF:
		return harden & UG_HARDEN_BPF;
	case P_PTRACE:
		return harden & UG_HARDEN_PTRACE;
	case P_SB_MOUNT:
	case P_MOVE_MOUNT:
	case P_SB_UMOUNT:
		return harden & UG_HARDEN_MOUNT;
	case P_PIVOT_ROOT:
		return harden & (UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW);
	case P_CHROOT:
	case P_USERNS:
		return harden & UG_HARDEN_PATH_VIEW;
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
	if (ug_pin_path(dir, sizeof(dir), lsm->pin_dir, UG_PIN_LSM_LINKS, NULL) ||
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
	if (lsm->pinned[p] &&
	    !ug_pin_path(path, sizeof(path), lsm->pin_dir, UG_PIN_LSM_LINKS, name) &&
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

/* --- units ----------------------------------------------------------------- */

static struct unit_state *unit_find(const struct ug_lsm *lsm, uint64_t cgid)
{
	return (struct unit_state *)ug_unitstate_find(lsm->units, lsm->n_units, sizeof(*lsm->units),
						      cgid);
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

	ug_byname_adopted(e, v->parent_cgid, v->level, v->val.trie, v->val.generation);
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

#define SELF_WHY "it is the agent's own cgroup, which no LSM rule may confine (its lifeline: " \
	"bpf(), its store and pins, D-Bus, its restart)"

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
	return loaded && v->mode == u->h.mode && v->harden == u->harden &&
	       v->harden_audit == u->harden_audit && v->deny_families == u->deny_families &&
	       v->audit_families == u->audit_families && n_paths == u->n_paths &&
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
		.audit_families = u->audit_families,
		.generation = generation,
		.mode = u->h.mode,
		.harden = u->harden,
		.harden_audit = u->harden_audit,
	};
	struct ug_path_entry *e = NULL;
	struct ug_path_rule *paths = NULL;
	size_t n = 0, written = 0;
	uint16_t id;
	int err;

	if (u->h.mode > UG_MODE_OFF) {
		snprintf(u->h.why, sizeof(u->h.why), "invalid mode %u", u->h.mode);
		return -EINVAL;
	}
	err = ug_path_compile(u->paths, u->n_paths, 0, &e, &n, u->h.why, sizeof(u->h.why));
	if (err)
		return err;
	/* A hook runs for a unit only when some entry can refuse something, or
	 * would (audited). */
	for (size_t i = 0; i < n; i++) {
		if (e[i].key.kind == UG_PATH_EXEC && e[i].val.all.action == UG_ACT_DENY)
			val.has_paths |= 1u << UG_PATH_EXEC;
		if (e[i].key.kind == UG_PATH_FILE && e[i].val.all.deny_access)
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
			snprintf(u->h.why, sizeof(u->h.why),
				 "ug_paths is full: %zu of %u entries used", ug_tries_used(lsm->tries),
				 ug_tries_capacity(lsm->tries));
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
static int unit_update(void *ctx, struct ug_unitstate *h, struct ug_unitpol *up,
		       uint32_t generation, size_t *entries)
{
	struct ug_lsm_unitpol *u = (struct ug_lsm_unitpol *)up;
	struct unit_state *s = (struct unit_state *)h;
	struct ug_lsm *lsm = ctx;
	struct staged st = {};
	int err;

	err = stage(lsm, u, s->h.cgid, generation, &st);
	if (err)
		return err;
	if (bpf_map_update_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &u->h.cg.id, &st.val,
				BPF_ANY)) {
		err = -errno;
		unstage(lsm, &st);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	ug_tries_put(lsm->tries, s->h.trie, s->h.cgid);
	s->h.trie = st.trie;
	s->h.generation = generation;
	s->val = st.val;
	free(s->paths);
	s->paths = st.paths;
	s->n_paths = u->n_paths;
	s->h.loaded = true;
	*entries = ug_tries_size(lsm->tries, s->h.trie);
	return 0;
}

static bool unit_same(void *ctx, const struct ug_unitstate *h, const struct ug_unitpol *u)
{
	const struct unit_state *s = (const struct unit_state *)h;

	(void)ctx;
	return pol_same(true, &s->val, s->paths, s->n_paths, (const struct ug_lsm_unitpol *)u);
}

static int unit_get(void *ctx, struct ug_unitpol *u, struct ug_unitstate **out)
{
	struct ug_lsm *lsm = ctx;

	if (lsm->self.on && u->cg.id == lsm->self.cg.id && !lsm->self.applying) {
		snprintf(u->why, sizeof(u->why), "%s", SELF_WHY);
		ug_log(LOG_ERR, "lsm: %s: its LSM policy is refused: %s", u->target, u->why);
		return -EPERM;
	}

	*out = ug_unitstate_get((void **)&lsm->units, &lsm->n_units, sizeof(*lsm->units),
				u->cg.id);
	return *out ? 0 : -ENOMEM;
}

static const struct ug_unitpol_ops unit_ops = {
	.side = "lsm", .rules = "path rules",
	.n_rules_at = offsetof(struct ug_lsm_unitpol, n_paths),
	.get = unit_get, .same = unit_same, .update = unit_update,
};

static void remember_gone(struct ug_lsm *lsm, const struct unit_state *s)
{
	unsigned i = lsm->gone_next++ % (sizeof(lsm->gone) / sizeof(lsm->gone[0]));

	lsm->gone[i].cgid = s->h.cgid;
	lsm->gone[i].generation = s->h.generation;
	snprintf(lsm->gone[i].target, sizeof(lsm->gone[i].target), "%s", s->h.target);
}

/* need[p] |= some policy in the kernel (a unit's or a pending entry's)
 * needs hook program p. Copies the cgroup_mkdir program made hold a pending
 * entry's policy, so they need nothing more. */
static void state_needs(const struct ug_lsm *lsm, bool need[N_PROGS])
{
	for (int p = 0; p < N_PROGS; p++) {
		for (size_t i = 0; i < lsm->n_units && !need[p]; i++)
			need[p] = needs(&lsm->units[i].val, p);
		for (size_t i = 0; i < lsm->pending.n && !need[p]; i++)
			need[p] = needs(&pend(lsm, i)->val, p);
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
	for (int p = 0; p < N_PROGS && !u->h.err; p++) {
		if (!errs[p] || !needs(v, p))
			continue;
		u->h.err = errs[p];
		snprintf(u->h.why, sizeof(u->h.why), "%s %s: %s",
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
			struct unit_state *s = unit_find(lsm, units[i].h.cg.id);

			if (s)
				hook_err(lsm, errs, &s->val, &units[i]);
		}
	}
	detach_unneeded(lsm);
	return first_err;
}

/* Write the exemption of the agent's own cgroup (self) if it is not in
 * force: before any unit's policy, which could otherwise judge the agent's
 * next bpf() call. Not counted as a change. */
static int self_apply(struct ug_lsm *lsm, const struct ug_unitpol_env *env, uint32_t generation,
		      size_t *entries, int *first_err)
{
	struct ug_lsm_unitpol u = {
		.h = {
			.target = lsm->self.target,
			.cg = { .id = lsm->self.cg.id, .level = lsm->self.cg.level },
			.mode = UG_MODE_OFF,
		},
	};
	int err;

	if (!lsm->self.on)
		return 0;
	lsm->self.applying = true;
	err = ug_unitpols_apply(&u, 1, sizeof(u), generation, ug_bynames_levels(&lsm->pending),
				&unit_ops, env, entries, first_err);
	lsm->self.applying = false;
	if (!err && u.h.err)
		ug_log(LOG_ERR, "lsm: cannot exempt the agent's own cgroup %s from LSM rules: %s",
		       lsm->self.target, u.h.why);
	return err < 0 ? err : 0;
}

int ug_lsm_apply(struct ug_lsm *lsm, struct ug_lsm_unitpol *units, size_t n,
		 uint32_t generation)
{
	struct ug_unitpol_env env = {
		.ctx = lsm, .tries = lsm->tries, .level_mask = &lsm->level_mask,
		.cfg_fd = bpf_map__fd(lsm->skel->maps.ug_lsm_config),
	};
	uint32_t n_changed;
	uint64_t t0 = ug_now_ns();
	size_t kept, entries = 0;
	bool changed = false;
	int first_err = 0, err;

	for (size_t i = 0; i < lsm->n_units; i++)
		lsm->units[i].h.seen = false;
	err = self_apply(lsm, &env, generation, &entries, &first_err);
	if (!err)
		err = ug_unitpols_apply(units, n, sizeof(*units), generation,
					ug_bynames_levels(&lsm->pending), &unit_ops, &env, &entries,
					&first_err);
	if (err < 0) {
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
		return err;
	}
	n_changed = err;

	/* Policy cgroups that no longer have LSM policy (or never got it in). */
	kept = 0;
	for (size_t i = 0; i < lsm->n_units; i++) {
		struct unit_state *s = &lsm->units[i];

		if (s->h.seen && (s->h.loaded || s->val.trie)) {
			lsm->units[kept++] = *s;
			continue;
		}
		if (s->h.seen) {
			/* New and refused: nothing of it is in the kernel. */
			free(s->paths);
			continue;
		}
		if (bpf_map_delete_elem(bpf_map__fd(lsm->skel->maps.ug_lsm_units), &s->h.cgid) &&
		    errno != ENOENT) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: %s: cannot remove its policy: %s", s->h.target,
			       strerror(-err));
			first_err = first_err ?: err;
			lsm->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "lsm: %s: no LSM policy left, removed", s->h.target);
		remember_gone(lsm, s);
		ug_tries_put(lsm->tries, s->h.trie, 0);
		free(s->paths);
		changed = true;
	}
	lsm->n_units = kept;

	err = sync_hooks(lsm, units, n);
	first_err = first_err ?: err;

	err = ug_unitpols_narrow(&env, lsm->units, lsm->n_units, sizeof(*lsm->units),
				 ug_bynames_levels(&lsm->pending));
	if (err)
		ug_log(LOG_ERR, "lsm: cannot update ug_lsm_config: %s", strerror(-err));
	first_err = first_err ?: err;

	lsm->last_changed = n_changed;
	if (changed || n_changed) {
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
	struct ug_lsm_unit v;
	bool started = false;
	uint64_t cgid;
	int first_err = 0;

	if (!n_rt)
		return 0;
	/* Collect first: changing entries while walking the hash could restart
	 * the walk. */
	while (ug_map_next(ufd, &cgid, sizeof(cgid), &v, &started)) {
		/* A unit the agent applied shares the trie, it was not copied. */
		if (unit_find(lsm, cgid) && unit_find(lsm, cgid)->h.loaded)
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
		if (s && !s->h.loaded) {
			ug_tries_put(lsm->tries, s->h.trie, s->h.cgid);
			s->val = r->del ? (struct ug_lsm_unit){ .mode = UG_MODE_OFF } : r->val;
			s->h.trie = s->val.trie;
			s->h.generation = s->val.generation;
			ug_tries_claim(lsm->tries, s->h.trie);
		}
	}
	free(hit);
	return first_err;
}

static bool pending_same(const struct ug_byname *e, const void *req)
{
	const struct pending_state *ps = (const struct pending_state *)e;

	return pol_same(e->loaded, &ps->val, ps->paths, ps->n_paths, req);
}

/* What the end of an apply_pending gathers: the copies to move, and whether
 * anything changed. */
struct sweep {
	struct ug_lsm *lsm;
	struct retarget *rt;
	size_t n_rt;
	bool changed;
};

static void pending_gone(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err)
{
	struct pending_state *ps = (struct pending_state *)e;
	struct sweep *sw = ctx;

	switch (how) {
	case UG_BYNAME_STUCK:
		ug_log(LOG_ERR, "lsm: %s: cannot remove its pending policy: %s", e->target,
		       strerror(-err));
		return;
	case UG_BYNAME_REMOVED:
		ug_log(LOG_INFO, "lsm: %s: no pending LSM policy left, removed", e->target);
		if (e->trie)
			sw->rt[sw->n_rt++] = (struct retarget){ .old = e->trie, .del = true };
		sw->changed = true;
		sw->lsm->pending_changed++;
		break;
	case UG_BYNAME_REFUSED:
		break;
	}
	free(ps->paths);
}

/*
 * After a restart the pending entries are adopted with loaded false, so the
 * first call rewrites each of them with a fresh trie (and moves the copies
 * made from them); later calls touch only what changed. Unlike the network
 * side, the hooks a new policy needs are attached between compiling it and
 * switching to it (2.), so the entries are staged first.
 */
static int apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation, bool with_self)
{
	struct sweep sw = { .lsm = lsm };
	bool need[N_PROGS] = {};
	int errs[N_PROGS], first_err = 0, hooks_err, err;
	struct staged *st = NULL;

	st = calloc(n ?: 1, sizeof(*st));
	sw.rt = calloc(lsm->pending.n + n + 1, sizeof(*sw.rt));
	if (!st || !sw.rt) {
		free(st);
		free(sw.rt);
		return -ENOMEM;
	}
	lsm->pending_changed = 0;
	ug_bynames_begin(&lsm->pending);

	/* 1. Compile and write the new tries of what changed. */
	for (size_t i = 0; i < n; i++) {
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct ug_byname *e;
		bool added;

		if (with_self && i > 0 && !strcmp(p[i].name, lsm->self.name)) {
			ug_unitpol_reset(&u->h);
			ug_unitpol_fail(&u->h, -EPERM, &first_err, "%s", SELF_WHY);
			ug_log(LOG_ERR, "lsm: %s: its LSM policy is not kept by name: %s",
			       u->h.target ? u->h.target : p[i].name, u->h.why);
			continue;
		}
		e = ug_bynames_want(&lsm->pending, p[i].name, p[i].parent_cgid, p[i].level, &u->h,
				    &first_err, pending_same, u, &added);
		if (!e)
			continue;
		err = stage(lsm, u, ug_byname_owner(e->name), generation, &st[i]);
		if (err) {
			ug_unitpol_fail(&u->h, err, &first_err, NULL);
			ug_log(LOG_ERR, "lsm: %s: cannot keep its LSM policy for its next start "
			       "(%zu path rules): %s; its previous one stays", e->target,
			       u->n_paths, u->h.why);
		}
	}

	/* 2. The hooks the new policies need, before any cgroup can get them. */
	state_needs(lsm, need);
	for (size_t i = 0; i < n; i++)
		for (int q = 0; q < N_PROGS; q++)
			need[q] = need[q] || (st[i].ok && needs(&st[i].val, q));
	hooks_err = attach_hooks(lsm, need, errs);
	first_err = first_err ?: hooks_err;

	/* 3. Switch each changed entry to its new trie in one map update. */
	for (size_t i = 0; i < n; i++) {
		struct ug_pending_lsm v = {
			.val = st[i].val,
			.parent_cgid = p[i].parent_cgid,
			.level = p[i].level,
		};
		struct ug_lsm_unitpol *u = &p[i].pol;
		struct pending_state *ps;

		if (!st[i].ok)
			continue;
		ps = (struct pending_state *)ug_byname_find(&lsm->pending, p[i].name);
		err = ug_byname_write(&lsm->pending, &ps->h, &v);
		if (err) {
			ug_unitpol_fail(&u->h, err, &first_err, "cannot update ug_pending_lsm: %s",
					strerror(-err));
			ug_log(LOG_ERR, "lsm: %s: %s", ps->h.target, u->h.why);
			unstage(lsm, &st[i]);
			continue;
		}
		if (ps->h.trie)
			sw.rt[sw.n_rt++] = (struct retarget){ .old = ps->h.trie, .val = v.val };
		ug_byname_switched(&lsm->pending, &ps->h, st[i].trie, p[i].parent_cgid, p[i].level,
				   generation);
		ps->val = st[i].val;
		free(ps->paths);
		ps->paths = st[i].paths;
		ps->n_paths = u->n_paths;
		sw.changed = true;
		/* The agent's own entry is not a policy change. */
		lsm->pending_changed += !(with_self && i == 0);
		ug_log(LOG_INFO, "lsm: %s: kept for its next start as %s, generation %u, %zu path "
		       "rules, %zu trie entries", ps->h.target, ps->h.name, generation, u->n_paths,
		       ug_tries_size(lsm->tries, ps->h.trie));
	}
	if (hooks_err) {
		for (size_t i = 0; i < n; i++) {
			const struct ug_byname *e;

			if (p[i].pol.h.err || !(e = ug_byname_find(&lsm->pending, p[i].name)))
				continue;
			hook_err(lsm, errs, &((const struct pending_state *)e)->val, &p[i].pol);
		}
	}

	/* 4. Names without pending policy any more. */
	err = ug_bynames_sweep(&lsm->pending, pending_gone, &sw);
	first_err = first_err ?: err;

	/* 5. Cgroups made from the old entries meanwhile. */
	err = retarget_copies(lsm, sw.rt, sw.n_rt);
	first_err = first_err ?: err;

	/* 6. Hooks nobody needs any more. */
	detach_unneeded(lsm);

	if (sw.changed && generation > lsm->generation)
		lsm->generation = generation;
	free(st);
	free(sw.rt);
	return first_err;
}

/* The agent's own cgroup (self) is kept by name too, first: the pending
 * entry a restart of the agent meets at its cgroup's mkdir(2). */
int ug_lsm_apply_pending(struct ug_lsm *lsm, struct ug_lsm_pending *p, size_t n,
			 uint32_t generation)
{
	struct ug_lsm_pending *all;
	int err;

	if (!lsm->self.on)
		return apply_pending(lsm, p, n, generation, false);
	all = calloc(n + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	all[0] = (struct ug_lsm_pending){
		.name = lsm->self.name,
		.parent_cgid = lsm->self.parent_id,
		.level = lsm->self.cg.level,
		.pol.h = { .target = lsm->self.target, .mode = UG_MODE_OFF },
	};
	if (n)
		memcpy(all + 1, p, n * sizeof(*p));
	err = apply_pending(lsm, all, n + 1, generation, true);
	if (n)
		memcpy(p, all + 1, n * sizeof(*p));
	if (all[0].pol.h.err)
		ug_log(LOG_ERR, "lsm: cannot keep the exemption of the agent's own cgroup %s for "
		       "the agent's next start: %s", lsm->self.target, all[0].pol.h.why);
	free(all);
	return err;
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
