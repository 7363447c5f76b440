// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Starting the network loader: the skeleton loaded on the maps pinned by an
 * earlier agent (or pinned afresh), that agent's links switched to this
 * build's programs and its per-unit state rebuilt from the maps; or, when
 * the pinned maps are of an older layout, that whole generation moved aside
 * to keep enforcing until this agent's policy is in force.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flush.h"
#include "log.h"
#include "pins.h"
#include "pinned.h"
#include "net_internal.h"

/*
 * Take over the links an earlier agent pinned: point each at our program.
 * Whatever state they are in, one cgroup's links never stop the agent: a
 * link whose cgroup is gone (the unit stopped while no agent ran: the kernel
 * says ENOLINK) is dropped; one that cannot be switched keeps its old
 * program, which still enforces from the same pinned maps.
 */
static int adopt_links(struct ug_net *net)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = ug_pin_opendir(dir, sizeof(dir), net->pin_dir, UG_PIN_LINKS, &d);

	if (err || !d)
		return err;
	while ((de = readdir(d))) {
		struct attachment *a;
		struct dirent *le;
		unsigned kept = 0, dropped = 0;
		char *end;
		uint64_t cgid;
		DIR *ld;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		cgid = strtoull(de->d_name, &end, 10);
		if (errno || *end || !cgid ||
		    ug_pin_path(path, sizeof(path), dir, de->d_name, NULL)) {
			ug_log(LOG_WARNING, "net: ignoring unexpected pin %s/%s", dir, de->d_name);
			continue;
		}
		ld = opendir(path);
		if (!ld) {
			ug_log(LOG_WARNING, "net: cannot read %s: %s", path, strerror(errno));
			continue;
		}
		a = net_att_add(net, cgid);
		if (!a) {
			closedir(ld);
			closedir(d);
			return -ENOMEM;
		}
		while ((le = readdir(ld))) {
			char lpath[PATH_MAX];
			struct bpf_link *link;
			int i;

			if (le->d_name[0] == '.' ||
			    ug_pin_path(lpath, sizeof(lpath), path, le->d_name, NULL))
				continue;
			link = bpf_link__open(lpath);
			if (!link) {
				ug_log(LOG_WARNING, "net: cannot open pinned link %s (%s): removing "
				       "the pin", lpath, strerror(errno));
				unlink(lpath);
				continue;
			}
			i = net_prog_index(net, le->d_name);
			if (i < 0 || a->links[i]) {
				/* A program this build no longer has: its link would
				 * judge with stale code. */
				ug_log(LOG_WARNING, "net: detaching unknown pinned program %s", lpath);
				bpf_link__detach(link);
				bpf_link__unpin(link);
				bpf_link__destroy(link);
				continue;
			}
			err = bpf_link__update_program(link, net->progs[i]);
			if (err == -ENOLINK) {
				bpf_link__unpin(link);
				bpf_link__destroy(link);
				dropped++;
				continue;
			}
			if (err)
				ug_log(LOG_WARNING, "net: cannot switch pinned link %s to the new "
				       "program (%s): the old program keeps enforcing", lpath,
				       strerror(-err));
			a->links[i] = link;
			kept++;
		}
		closedir(ld);
		if (dropped)
			ug_log(LOG_INFO, "net: cgroup %" PRIu64 " is gone: dropped its %u pinned "
			       "links", cgid, dropped);
		if (kept) {
			ug_log(LOG_INFO, "net: adopted the programs attached to cgroup %" PRIu64,
			       cgid);
		} else {
			rmdir(path);
			net->n_att--; /* a is the last one: nothing of it is left */
		}
	}
	closedir(d);
	return 0;
}

static void adopt_unit(void *ctx, struct ug_unitstate *h, const void *val)
{
	const struct ug_unit_val *v = val;
	struct unit_state *s = (struct unit_state *)h;
	struct ug_net *net = ctx;

	h->trie = v->trie;
	h->generation = v->generation;
	s->mode = v->mode;
	s->deny_default = v->deny_default;
	s->audit_default = v->audit_default;
	s->acct = v->acct;
	ug_ids_set(net->acct_used, v->acct);
}

static int adopt_pending(void *ctx, struct ug_byname *e, const void *val)
{
	const struct ug_pending_net *v = val;
	struct pending_state *ps = (struct pending_state *)e;
	struct ug_net *net = ctx;

	ug_byname_adopted(e, v->parent_cgid, v->level, v->via, v->val.trie, v->val.generation);
	ps->mode = v->val.mode;
	ps->deny_default = v->val.deny_default;
	ps->audit_default = v->val.audit_default;
	ps->acct = v->val.acct;
	ps->has_acct = true;
	ug_ids_set(net->acct_used, v->val.acct);
	return 0;
}

/*
 * Rebuild per-unit state from the pinned maps: the policies of cgroups and
 * of names, each holding a reference to the trie it uses; every trie in the
 * map (tries no one refers to were left by an agent killed mid-change: the
 * first cleanup deletes them); the rule lists. Adopted state is marked not
 * loaded: the first apply compiles it again.
 */
static int adopt_maps(struct ug_net *net)
{
	int err = ug_tries_adopt(net->tries);

	if (!err)
		err = net_adopt_lists(net);
	if (!err)
		err = ug_unitstates_adopt(bpf_map__fd(net->skel->maps.ug_units),
					  sizeof(struct ug_unit_val), (void **)&net->units,
					  &net->n_units, sizeof(*net->units), net->tries,
					  adopt_unit, net, &net->generation);
	if (!err)
		err = ug_bynames_adopt(&net->pending, sizeof(struct ug_pending_net), adopt_pending,
				       net, &net->generation);
	if (err)
		return err;
	net_acct_pool_adopt(net);
	ug_level_mask_adopt(bpf_map__fd(net->skel->maps.ug_config), &net->level_mask);
	/* Verdicts sockets keep were reached by the earlier agent's programs:
	 * stale at our first apply, whatever it changes. */
	net->gen_dirty = true;
	return 0;
}

/*
 * Migration. Maps pinned by a build with another layout (no UG_LAYOUT_MAP
 * among them) cannot be reused, and removing them would end enforcement.
 * So the whole pinned generation (maps, links, tracepoint and LSM links) is
 * moved aside into old-<time>/, where it keeps enforcing: its programs hold
 * its maps. This agent starts afresh beside it, and once its first pass has
 * put every policy in force (ug_net_migrated), the old generation is let go.
 * Meanwhile both judge the same traffic, with the same rules.
 */
static int migrate_aside(struct ug_net *net)
{
	static const char *const dirs[] = { UG_PIN_MAPS, UG_PIN_LINKS, UG_PIN_TP_LINKS,
					    UG_PIN_LSM_LINKS, UG_PIN_PROGS, UG_PIN_FLUSH };
	char old[PATH_MAX], from[PATH_MAX], to[PATH_MAX], stamp[32];
	int err;

	snprintf(stamp, sizeof(stamp), UG_PIN_OLD_PREFIX "%llu",
		 (unsigned long long)(ug_now_ns() / 1000000));
	if (ug_pin_path(old, sizeof(old), net->pin_dir, stamp, NULL))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(old);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (ug_pin_path(from, sizeof(from), net->pin_dir, dirs[i], NULL) ||
		    ug_pin_path(to, sizeof(to), old, dirs[i], NULL))
			return -ENAMETOOLONG;
		if (rename(from, to) && errno != ENOENT) {
			err = -errno;
			ug_log(LOG_ERR, "net: cannot move %s aside: %s", from, strerror(-err));
			return err;
		}
	}
	ug_log(LOG_WARNING, "net: the pinned maps are of an older layout: moved them aside to %s; "
	       "they keep enforcing until this agent's policy is in force", old);
	return 0;
}

/* Do the pinned maps have this build's layout? 1 yes, 0 none pinned, -1 no. */
static int layout_check(const char *pin_dir)
{
	char dir[PATH_MAX], marker[PATH_MAX];
	struct dirent *de;
	bool any = false;
	DIR *d;

	if (ug_pin_path(dir, sizeof(dir), pin_dir, UG_PIN_MAPS, NULL) ||
	    ug_pin_path(marker, sizeof(marker), pin_dir, UG_PIN_MAPS, UG_LAYOUT_MAP))
		return 0;
	if (!access(marker, F_OK))
		return 1;
	d = opendir(dir);
	while (d && (de = readdir(d)))
		any |= de->d_name[0] != '.';
	if (d)
		closedir(d);
	return any ? -1 : 0;
}

bool ug_net_migrating(const struct ug_net *net)
{
	return net->old_pending;
}

/* Does DIR hold at least one entry? */
static bool has_entries(const char *dir)
{
	struct dirent *de;
	bool any = false;
	DIR *d = opendir(dir);

	while (d && !any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	if (d)
		closedir(d);
	return any;
}

/*
 * The denials an older generation's programs counted that no agent stored:
 * this build cannot read its layout, but counts them, so that stored +
 * pruned + lost still adds up across an upgrade. A generation that pinned
 * its flush programs (unitguard.h, "Across layouts") has them send what its
 * maps hold (aggregated repeats, per-unit lost counts) until nothing is
 * left, and its records say how many denials each stands for. One pinned
 * by a build from before that contract: each record waiting in its rings
 * counts one, and its maps' counts are not seen.
 */
static uint64_t drain_old(const char *old)
{
	static const char *const rings[] = { "ug_events", "ug_lsm_events" };
	enum { N = sizeof(rings) / sizeof(rings[0]) };
	char path[PATH_MAX];
	int fd[N], round;
	bool headed = false, busy = true;
	uint64_t n = 0;

	for (int i = 0; i < N; i++) {
		fd[i] = -1;
		if (!ug_pin_path(path, sizeof(path), old, UG_PIN_FLUSH, rings[i]) &&
		    (fd[i] = bpf_obj_get(path)) >= 0)
			headed = true;
	}
	/* Each round sends at least one record while anything is left; the
	 * bound is for a program that misbehaves. */
	for (round = 0; busy && round < 100000; round++) {
		busy = false;
		for (int i = 0; i < N; i++) {
			uint32_t sent = 0;
			bool full = false;

			if (!ug_pin_path(path, sizeof(path), old, UG_PIN_MAPS, rings[i]))
				ug_pin_ring_drain(path, headed, &n);
			if (fd[i] >= 0 && !ug_flush_once(fd[i], UG_WINDOW_END, &sent, &full))
				busy |= sent || full;
		}
	}
	for (int i = 0; i < N; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	if (busy)
		ug_log(LOG_ERR, "net: the older generation in %s still had counts to send after "
		       "%d rounds: what is left is not counted", old, round);
	return n;
}

/* One older generation goes: its cgroup links are detached (this agent's
 * replace them), the rest goes with its last pin. Its LSM links stay while
 * keep_lsm: then nothing else enforces exec, file, family and hardening
 * rules, and an error never removes enforcement (fail static). They keep
 * the older policy, frozen, until an agent with an LSM side in force or
 * --detach-all lets them go. */
static uint64_t let_go(const char *old, bool keep_lsm)
{
	static const char *const rest[] = { UG_PIN_LINKS, UG_PIN_TP_LINKS, UG_PIN_MAPS,
					    UG_PIN_PROGS, UG_PIN_FLUSH };
	char path[PATH_MAX];
	uint64_t left;
	int err = 0;

	/* Its cgroup links are detached first: no more denials come in on that
	 * side. Then what it counted and no agent stored is carried over. */
	if (!ug_pin_path(path, sizeof(path), old, UG_PIN_LINKS, NULL))
		ug_pin_remove_tree(path, true);
	left = drain_old(old);
	if (ug_pin_path(path, sizeof(path), old, UG_PIN_LSM_LINKS, NULL))
		return left;
	if (!keep_lsm || !has_entries(path)) {
		err = ug_pin_remove_tree(old, false);
		if (err)
			ug_log(LOG_WARNING, "net: removing %s: %s", old, strerror(-err));
		else
			ug_log(LOG_NOTICE, "net: this agent's policy is in force: the older "
			       "pinned generation (%s) is gone", old);
		return left;
	}
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		if (!ug_pin_path(path, sizeof(path), old, rest[i], NULL))
			err = ug_pin_remove_tree(path, i == 0) ?: err;
	if (err)
		ug_log(LOG_WARNING, "net: removing the older generation in %s: %s", old,
		       strerror(-err));
	ug_log(LOG_ERR, "net: the older generation's LSM links in %s/%s are kept: this "
	       "agent has no LSM side in force, and they are all that enforces exec, file, "
	       "family and hardening rules. They enforce the policy of that generation, "
	       "frozen: rule changes since are NOT applied to them, and their denials are "
	       "NOT recorded (this build cannot read their records); an agent whose LSM side "
	       "loads, or --detach-all, ends them", old, UG_PIN_LSM_LINKS);
	return left;
}

uint64_t ug_net_migrated(struct ug_net *net, bool keep_lsm)
{
	char old[PATH_MAX];
	struct dirent *de;
	uint64_t left = 0;
	DIR *d;

	if (!net->old_pending)
		return 0;
	net->old_pending = false;
	d = opendir(net->pin_dir);
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, UG_PIN_OLD_PREFIX, strlen(UG_PIN_OLD_PREFIX)) &&
		    !ug_pin_path(old, sizeof(old), net->pin_dir, de->d_name, NULL))
			left += let_go(old, keep_lsm);
	if (d)
		closedir(d);
	return left;
}

/* Older generations under pin_dir: moved aside by this start, or kept by an
 * earlier one (their LSM links). */
static bool any_old(const char *pin_dir)
{
	struct dirent *de;
	bool any = false;
	DIR *d = opendir(pin_dir);

	while (d && !any && (de = readdir(d)))
		any = !strncmp(de->d_name, UG_PIN_OLD_PREFIX, strlen(UG_PIN_OLD_PREFIX));
	if (d)
		closedir(d);
	return any;
}

int ug_net_open(const char *pin_dir, struct ug_net **out)
{
	struct ug_net *net;
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[PATH_MAX];
	int err, i = 0;

	*out = NULL;
	net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	if ((size_t)snprintf(net->pin_dir, sizeof(net->pin_dir), "%s", pin_dir) >=
	    sizeof(net->pin_dir)) {
		err = -ENAMETOOLONG;
		goto err_free;
	}
	err = ug_mkdir_p(pin_dir);
	if (err) {
		ug_log(LOG_ERR, "net: cannot create %s: %s", pin_dir, strerror(-err));
		goto err_free;
	}
	if (layout_check(pin_dir) < 0) {
		err = migrate_aside(net);
		if (err)
			goto err_free;
	}
	net->old_pending = any_old(pin_dir);
	if (ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_MAPS, NULL) || (err = ug_mkdir_p(path))) {
		err = err ?: -ENAMETOOLONG;
		goto err_free;
	}

	net->skel = ug_net_bpf__open();
	if (!net->skel) {
		err = -errno;
		ug_log(LOG_ERR, "net: failed to open BPF object: %s", strerror(-err));
		goto err_free;
	}
	bpf_object__for_each_map(map, net->skel->obj) {
		if (ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_MAPS, bpf_map__name(map))) {
			err = -ENAMETOOLONG;
			goto err_skel;
		}
		/* .rodata/.bss would be per-load: we have none; pin only real maps. */
		if (bpf_map__is_internal(map))
			continue;
		err = bpf_map__set_pin_path(map, path);
		if (err)
			goto err_skel;
	}
	err = ug_net_bpf__load(net->skel);
	if (err) {
		ug_log(LOG_ERR, "net: failed to load BPF programs: %s%s", strerror(-err),
		       err == -EINVAL ? " (maps pinned by an incompatible build? "
					"run unitguardd --detach-all)" : "");
		goto err_skel;
	}
	bpf_object__for_each_program(prog, net->skel->obj) {
		if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING)
			continue; /* cgroup_mkdir/rmdir: see net_attach_tracepoints() */
		if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL)
			continue; /* ug_flush, ug_gen_bump: run by the agent */
		if (i == N_PROGS) {
			err = -E2BIG;
			goto err_skel;
		}
		net->progs[i++] = prog;
	}
	/* For a later build's migration (unitguard.h, "Across layouts"). */
	err = ug_pin_flush(pin_dir, bpf_map__name(net->skel->maps.ug_events),
			   bpf_program__fd(net->skel->progs.ug_flush));
	if (err)
		ug_log(LOG_WARNING, "net: cannot pin the flush program: %s; an upgrade to another "
		       "layout will not carry over the counts held in the kernel", strerror(-err));

	err = ug_tries_new(bpf_map__fd(net->skel->maps.ug_lpm),
			   bpf_map__max_entries(net->skel->maps.ug_lpm),
			   &(struct ug_tries_ops){ .key_size = sizeof(struct ug_lpm_key),
						   .val_size = sizeof(struct ug_match),
						   .cmp = net_key_cmp, .release = net_release_val,
						   .ctx = net, .what = "net" },
			   &net->tries);
	if (err)
		goto err_state;
	net->pending.fd = bpf_map__fd(net->skel->maps.ug_pending_net);
	net->pending.size = sizeof(struct pending_state);
	net->pending.tries = net->tries;
	err = adopt_maps(net);
	if (err)
		goto err_state;
	err = adopt_links(net);
	if (err)
		goto err_state;
	err = net_attach_tracepoints(net);
	if (err)
		goto err_state;
	net_unpin_old_programs(net);
	*out = net;
	return 0;

err_state:
err_skel:
	ug_net_free(net);
	return err;
err_free:
	free(net);
	return err;
}
