// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "util.h"
#include "net.h"
#include "net.skel.h"

#define N_TRIES 65536
/* Readers of a retired trie are BPF programs already running when it was
 * swapped out; they finish within microseconds. */
#define RETIRE_GRACE_NS (500 * 1000 * 1000ULL)
#define TARGET_MAX 256

struct trie {
	uint16_t id;
	struct ug_lpm_entry *entries;
	size_t n;
	uint64_t retired_ns;
	/* Whose policy it holds (a cgroup id, or owner_of_name()); 0: nobody's.
	 * A retired trie is kept, past its grace period, as its owner's standby:
	 * the owner's next change rewrites only the entries that differ. */
	uint64_t owner;
	bool sorted; /* entries in ug_lpm_key_cmp() order (false: adopted from the map) */
	bool synced; /* a standby that holds what its owner's live trie holds */
};

struct unit_state {
	char target[TARGET_MAX];
	uint64_t cgid;
	int level;
	uint8_t mode, deny_default;
	struct ug_rule *rules; /* copy, to see whether anything changed */
	size_t n_rules;
	struct trie trie;
	uint16_t acct; /* slot in ug_acct, for the cgroup's lifetime as a policy cgroup */
	uint32_t generation;
	bool loaded; /* rules/mode above are what the kernel has (false after adoption) */
	bool seen;
};

/* A policy kept by unit name for cgroups not made yet (unitguard.h). */
struct pending_state {
	char name[UG_NAME_MAX];
	uint64_t parent_cgid;
	uint32_t level;
	uint8_t mode, deny_default;
	struct ug_rule *rules;
	size_t n_rules;
	struct trie trie;
	uint16_t acct; /* shared with the running cgroup of that name */
	uint32_t generation;
	bool seen;
};

#define N_PROGS 8

struct attachment {
	uint64_t cgid;
	struct bpf_link *links[N_PROGS];
	bool wanted;
};

struct ug_net {
	struct ug_net_bpf *skel;
	struct ring_buffer *rb;
	char pin_dir[PATH_MAX];
	struct bpf_program *progs[N_PROGS];
	struct bpf_link *tp_links[2];
	struct unit_state *units;
	size_t n_units;
	struct attachment *att;
	size_t n_att;
	struct trie *retired;
	size_t n_retired;
	uint8_t trie_used[N_TRIES / 8];
	uint8_t acct_used[UG_ACCT_SLOTS / 8];
	struct pending_state *pending;
	size_t n_pending;
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
	uint32_t pending_changed; /* policies by name changed by the last apply_pending */
	uint32_t level_mask;
	/* Names of policy cgroups removed recently: their denials may still sit
	 * in the ring buffer. */
	struct {
		uint64_t cgid;
		char target[TARGET_MAX];
		uint32_t generation;
		struct ug_acct_val acct[2]; /* final counts, reported once by ug_net_stats() */
		bool unreported;
	} gone[64];
	unsigned gone_next;
};

/* Sum of one ug_acct slot over all CPUs. */
static int acct_read(const struct ug_net *net, uint16_t slot, int dir, struct ug_acct_val *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 idx = (__u32)slot * 2 + dir;
	struct ug_acct_val *v;

	if (ncpu < 0)
		return ncpu;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_acct), &idx, v)) {
		free(v);
		return -errno;
	}
	memset(sum, 0, sizeof(*sum));
	for (int c = 0; c < ncpu; c++)
		for (int k = 0; k < UG_ACCT_MAX; k++) {
			sum->packets[k] += v[c].packets[k];
			sum->bytes[k] += v[c].bytes[k];
		}
	free(v);
	return 0;
}

/* A fresh slot starts from zero: it may hold a removed cgroup's counts. */
static int acct_alloc(struct ug_net *net, uint16_t *slot)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ug_acct_val *zero;

	if (ncpu < 0)
		return ncpu;
	for (uint32_t i = 0; i < UG_ACCT_SLOTS; i++) {
		if (ug_ids_test(net->acct_used, i))
			continue;
		zero = calloc(ncpu, sizeof(*zero));
		if (!zero)
			return -ENOMEM;
		for (int dir = 0; dir < 2; dir++) {
			__u32 idx = i * 2 + dir;

			if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_acct), &idx, zero,
						BPF_ANY)) {
				int err = -errno;

				free(zero);
				return err;
			}
		}
		free(zero);
		ug_ids_set(net->acct_used, i);
		*slot = i;
		return 0;
	}
	return -ENOSPC;
}

static void trie_delete_entries(struct ug_net *net, const struct trie *t)
{
	int fd = bpf_map__fd(net->skel->maps.ug_lpm);

	for (size_t i = 0; i < t->n; i++)
		if (bpf_map_delete_elem(fd, &t->entries[i].key) && errno != ENOENT)
			ug_log(LOG_WARNING, "net: deleting an entry of trie %u: %s", t->id,
			       strerror(errno));
}

static int trie_write(struct ug_net *net, const struct trie *t)
{
	int fd = bpf_map__fd(net->skel->maps.ug_lpm);

	for (size_t i = 0; i < t->n; i++) {
		if (bpf_map_update_elem(fd, &t->entries[i].key, &t->entries[i].val, BPF_ANY)) {
			int err = -errno;

			/* Leave nothing half-written behind. */
			struct trie partial = *t;

			partial.n = i;
			trie_delete_entries(net, &partial);
			return err;
		}
	}
	return 0;
}

static int retire(struct ug_net *net, struct trie *t)
{
	struct trie *r;

	if (!t->id)
		return 0;
	r = reallocarray(net->retired, net->n_retired + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	net->retired = r;
	t->retired_ns = ug_now_ns();
	t->synced = false; /* it holds the generation before the switch */
	net->retired[net->n_retired++] = *t;
	memset(t, 0, sizeof(*t));
	return 0;
}

static const struct trie *owner_trie(const struct ug_net *net, uint64_t owner);
static int entry_cmp(const void *a, const void *b);
static int trie_rewrite(struct ug_net *net, struct trie *s, struct ug_lpm_entry *e, size_t n,
			size_t *written);

/* Past its grace period no program reads a retired trie: it may be reused. */
static bool trie_quiet(const struct trie *t, uint64_t now)
{
	return now - t->retired_ns >= RETIRE_GRACE_NS;
}

static void trie_free(struct ug_net *net, struct trie *t)
{
	trie_delete_entries(net, t);
	ug_ids_clear(net->trie_used, t->id);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

/*
 * Bring a standby up to date with its owner's live trie, off the path of a
 * change: the owner's next change then writes only what it changes.
 */
static void standby_sync(struct ug_net *net, struct trie *t, const struct trie *live)
{
	struct ug_lpm_entry *e = NULL;
	size_t written = 0;

	if (live->n) {
		e = malloc(live->n * sizeof(*e));
		if (!e)
			return; /* try again at the next cleanup */
		memcpy(e, live->entries, live->n * sizeof(*e));
		/* Same order: the trie id is the first sort key. */
		for (size_t i = 0; i < live->n; i++)
			e[i].key.trie = t->id;
		if (!live->sorted)
			qsort(e, live->n, sizeof(*e), entry_cmp);
	}
	if (trie_rewrite(net, t, e, live->n, &written)) {
		free(e); /* trie_rewrite() deleted the standby and freed its id */
		return;
	}
	t->synced = true;
}

/*
 * Retired tries past their grace period: the newest of a live owner stays as
 * its standby, brought up to date; the others are deleted. all: delete every
 * one past the grace period (the map is full).
 */
static void retired_collect(struct ug_net *net, bool all)
{
	uint64_t now = ug_now_ns();
	size_t kept = 0;

	for (size_t i = 0; i < net->n_retired; i++) {
		struct trie *t = &net->retired[i];
		const struct trie *live = NULL;
		bool newer = false;

		for (size_t j = 0; j < net->n_retired && !newer; j++)
			newer = j != i && net->retired[j].owner == t->owner &&
				net->retired[j].retired_ns > t->retired_ns;
		if (!trie_quiet(t, now)) {
			net->retired[kept++] = *t;
			continue;
		}
		if (!all && t->owner && !newer)
			live = owner_trie(net, t->owner);
		if (!live) {
			trie_free(net, t);
			continue;
		}
		if (!t->synced) {
			standby_sync(net, t, live);
			if (!t->id)
				continue; /* the rewrite failed and deleted it */
		}
		net->retired[kept++] = *t;
	}
	net->n_retired = kept;
}

void ug_net_cleanup(struct ug_net *net)
{
	retired_collect(net, false);
}

static int entry_cmp(const void *a, const void *b)
{
	return ug_lpm_key_cmp(&((const struct ug_lpm_entry *)a)->key,
			      &((const struct ug_lpm_entry *)b)->key);
}

/*
 * Bring the standby trie s (no reader) to the entries e[n], compiled under
 * its id: delete what is gone, write what is new or changed. On error the
 * trie is deleted whole (old and new keys) and its id freed.
 */
static int trie_rewrite(struct ug_net *net, struct trie *s, struct ug_lpm_entry *e, size_t n,
			size_t *written)
{
	int fd = bpf_map__fd(net->skel->maps.ug_lpm);
	size_t i = 0, j = 0;
	int err = 0;

	if (!s->sorted)
		qsort(s->entries, s->n, sizeof(*s->entries), entry_cmp);
	while (!err && (i < s->n || j < n)) {
		int c = i == s->n ? 1 : j == n ? -1 : ug_lpm_key_cmp(&s->entries[i].key, &e[j].key);

		if (c < 0) {
			if (bpf_map_delete_elem(fd, &s->entries[i].key) && errno != ENOENT)
				err = -errno;
			i++;
			continue;
		}
		if (c > 0 || memcmp(&s->entries[i].val, &e[j].val, sizeof(e[j].val))) {
			if (bpf_map_update_elem(fd, &e[j].key, &e[j].val, BPF_ANY))
				err = -errno;
			else
				(*written)++;
		}
		i += c == 0;
		j++;
	}
	if (err) {
		struct trie fresh = { .id = s->id, .entries = e, .n = n };

		trie_delete_entries(net, &fresh);
		trie_free(net, s);
		return err;
	}
	free(s->entries);
	s->entries = e;
	s->n = n;
	s->sorted = true;
	return 0;
}

/* The owner's newest retired trie past its grace period, taken off the
 * retired list; false if there is none. */
static bool standby_take(struct ug_net *net, uint64_t owner, struct trie *out)
{
	uint64_t now = ug_now_ns();
	size_t best = SIZE_MAX;

	for (size_t i = 0; i < net->n_retired; i++) {
		const struct trie *t = &net->retired[i];

		if (t->owner == owner && trie_quiet(t, now) &&
		    (best == SIZE_MAX || t->retired_ns > net->retired[best].retired_ns))
			best = i;
	}
	if (best == SIZE_MAX)
		return false;
	*out = net->retired[best];
	net->retired[best] = net->retired[--net->n_retired];
	return true;
}

/*
 * A trie holding the compiled rules under an id no program reads yet, for
 * the owner to switch to: its standby brought up to date when there is one,
 * else a fresh id written whole. *written counts the map updates. On error
 * nothing of the new trie is left in the map.
 */
static int trie_build(struct ug_net *net, uint64_t owner, const struct ug_rule *rules,
		      size_t n_rules, struct trie *out, char *why, size_t whylen, size_t *written)
{
	struct trie t = {};
	int err;

	if (standby_take(net, owner, &t)) {
		struct ug_lpm_entry *e;
		size_t n;

		err = ug_compile(rules, n_rules, t.id, &e, &n, why, whylen);
		if (err) {
			/* Compiling does not depend on the id: keep the standby. */
			net->retired[net->n_retired++] = t;
			return err;
		}
		err = trie_rewrite(net, &t, e, n, written);
		if (!err) {
			t.owner = owner;
			t.retired_ns = 0;
			t.synced = false;
			*out = t;
			return 0;
		}
		free(e);
		ug_log(LOG_WARNING, "net: rewriting a standby trie failed (%s); writing a new one",
		       strerror(-err));
		memset(&t, 0, sizeof(t));
	}

	err = ug_ids_alloc(net->trie_used, 1, N_TRIES, &t.id);
	if (err)
		return err;
	err = ug_compile(rules, n_rules, t.id, &t.entries, &t.n, why, whylen);
	if (err)
		goto err_id;
	err = trie_write(net, &t);
	if (err == -ENOSPC || err == -ENOMEM || err == -E2BIG) {
		/* The map is full: standbys are only a speed-up. */
		retired_collect(net, true);
		err = trie_write(net, &t);
	}
	if (err)
		goto err_entries;
	*written += t.n;
	t.owner = owner;
	t.sorted = true;
	*out = t;
	return 0;

err_entries:
	free(t.entries);
err_id:
	ug_ids_clear(net->trie_used, t.id);
	return err;
}

static int prog_index(const struct ug_net *net, const char *name)
{
	for (int i = 0; i < N_PROGS; i++)
		if (!strcmp(bpf_program__name(net->progs[i]), name))
			return i;
	return -1;
}

static struct attachment *att_find(struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_att; i++)
		if (net->att[i].cgid == cgid)
			return &net->att[i];
	return NULL;
}

static struct attachment *att_add(struct ug_net *net, uint64_t cgid)
{
	struct attachment *a = reallocarray(net->att, net->n_att + 1, sizeof(*a));

	if (!a)
		return NULL;
	net->att = a;
	a = &net->att[net->n_att++];
	memset(a, 0, sizeof(*a));
	a->cgid = cgid;
	return a;
}

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

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, "links", NULL))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
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
		a = att_add(net, cgid);
		if (!a) {
			closedir(ld);
			closedir(d);
			return -ENOMEM;
		}
		while ((le = readdir(ld))) {
			char lpath[PATH_MAX];
			struct bpf_link *link;
			int i, err;

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
			i = prog_index(net, le->d_name);
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

/* Rebuild per-unit state from the pinned maps: tries still in use, and
 * entries of tries no unit refers to (left by an agent that died). */
static int adopt_maps(struct ug_net *net)
{
	int ufd = bpf_map__fd(net->skel->maps.ug_units);
	int lfd = bpf_map__fd(net->skel->maps.ug_lpm);
	struct ug_lpm_key key, next, *pkey = NULL;
	uint64_t cgid, ncgid, *pcg = NULL;
	struct trie orphans[64];
	size_t n_orphans = 0;
	__u32 zero = 0;
	struct ug_config cfg;
	int err;

	while (!bpf_map_get_next_key(ufd, pcg, &ncgid)) {
		struct ug_unit_val v;
		struct unit_state *u;

		cgid = ncgid;
		pcg = &cgid;
		if (bpf_map_lookup_elem(ufd, &cgid, &v))
			continue;
		u = reallocarray(net->units, net->n_units + 1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		net->units = u;
		u = &net->units[net->n_units++];
		memset(u, 0, sizeof(*u));
		snprintf(u->target, sizeof(u->target), "cgroup:%" PRIu64, cgid);
		u->cgid = cgid;
		u->mode = v.mode;
		u->deny_default = v.deny_default;
		u->trie.id = v.trie;
		u->trie.owner = cgid;
		u->acct = v.acct;
		ug_ids_set(net->acct_used, v.acct);
		u->generation = v.generation;
		/* Not loaded: the first apply rewrites it under a new trie. */
		u->level = -1;
		ug_ids_set(net->trie_used, v.trie);
		if (v.generation > net->generation)
			net->generation = v.generation;
	}

	/* Every trie's keys: a unit's, so that retiring it later deletes them
	 * (else a reused trie id would inherit stale rules); an orphan's (left
	 * by an agent that died mid-change), so that cleanup deletes them. */
	while (!bpf_map_get_next_key(lfd, pkey, &next)) {
		struct trie *t = NULL;
		struct ug_lpm_entry *e;

		key = next;
		pkey = &key;
		for (size_t i = 0; i < net->n_units && !t; i++)
			if (net->units[i].trie.id == key.trie)
				t = &net->units[i].trie;
		for (size_t i = 0; i < n_orphans && !t; i++)
			if (orphans[i].id == key.trie)
				t = &orphans[i];
		if (!t) {
			if (n_orphans == sizeof(orphans) / sizeof(orphans[0]))
				continue; /* the next start collects the rest */
			t = &orphans[n_orphans++];
			memset(t, 0, sizeof(*t));
			t->id = key.trie;
		}
		e = reallocarray(t->entries, t->n + 1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->entries = e;
		memset(&e[t->n], 0, sizeof(e[t->n]));
		e[t->n].key = key;
		t->n++;
	}
	for (size_t i = 0; i < n_orphans; i++) {
		ug_ids_set(net->trie_used, orphans[i].id);
		err = retire(net, &orphans[i]);
		if (err)
			return err;
	}

	if (!bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_config), &zero, &cfg))
		net->level_mask = cfg.level_mask;
	return 0;
}

/*
 * The cgroup_mkdir/rmdir programs run for every cgroup on the host and must
 * keep running while the agent is down, so their links are pinned. A
 * restarted agent attaches its own copy first, moves the pin over to it, and
 * only then lets the old link go: no moment without one. (Tracing links
 * cannot be switched to another program in place on 6.1.)
 */
static int attach_tracepoints(struct ug_net *net)
{
	struct bpf_program *tps[] = { net->skel->progs.ug_cgroup_mkdir,
				      net->skel->progs.ug_cgroup_rmdir };
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int err;

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, "tp-links", NULL))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		const char *name = bpf_program__name(tps[i]);
		struct bpf_link *old, *link;

		if (ug_pin_path(path, sizeof(path), dir, name, NULL) ||
		    /* bpffs refuses names with a dot */
		    (size_t)snprintf(tmp, sizeof(tmp), "%s_new", path) >= sizeof(tmp))
			return -ENAMETOOLONG;
		/* None on first start: a normal state, not a libbpf error. */
		old = access(path, F_OK) ? NULL : bpf_link__open(path);
		link = bpf_program__attach(tps[i]);
		if (!link) {
			err = -errno;
			ug_log(LOG_ERR, "net: failed to attach %s: %s", name, strerror(-err));
			bpf_link__destroy(old);
			return err;
		}
		unlink(tmp);
		err = bpf_link__pin(link, tmp);
		if (!err && rename(tmp, path))
			err = -errno;
		if (err) {
			ug_log(LOG_ERR, "net: failed to pin %s: %s", path, strerror(-err));
			bpf_link__destroy(link);
			bpf_link__destroy(old);
			return err;
		}
		net->tp_links[i] = link;
		bpf_link__destroy(old); /* its pin is gone: this frees it */
	}
	return 0;
}

/*
 * Earlier builds pinned the programs under progs/ for systemd's BPFProgram=
 * drop-ins. Programs are now attached by the agent only (at the parents of
 * guarded units), so a stale copy there could only be attached a second
 * time by a unit that still has an old drop-in: remove it.
 */
const char *const ug_net_prog_names = "connect4,connect6,sendmsg4,sendmsg6,bind4,bind6,"
				       "egress_skb,ingress_skb";

static void unpin_old_programs(struct ug_net *net)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, "progs", NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !ug_pin_path(path, sizeof(path), dir, de->d_name, NULL))
			unlink(path);
	closedir(d);
	rmdir(dir);
}

int ug_net_open(const char *pin_dir, ring_buffer_sample_fn on_event, void *ctx,
		struct ug_net **out)
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
	if (ug_pin_path(path, sizeof(path), pin_dir, "maps", NULL) || (err = ug_mkdir_p(path))) {
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
		if (ug_pin_path(path, sizeof(path), pin_dir, "maps", bpf_map__name(map))) {
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
			continue; /* cgroup_mkdir/rmdir: see attach_tracepoints() */
		if (i == N_PROGS) {
			err = -E2BIG;
			goto err_skel;
		}
		net->progs[i++] = prog;
	}

	err = adopt_maps(net);
	if (err)
		goto err_state;
	err = adopt_links(net);
	if (err)
		goto err_state;
	err = attach_tracepoints(net);
	if (err)
		goto err_state;
	unpin_old_programs(net);

	net->rb = ring_buffer__new(bpf_map__fd(net->skel->maps.ug_events), on_event, ctx, NULL);
	if (!net->rb) {
		err = -errno;
		ug_log(LOG_ERR, "net: failed to set up the ring buffer: %s", strerror(-err));
		goto err_state;
	}
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

void ug_net_free(struct ug_net *net)
{
	if (!net)
		return;
	ring_buffer__free(net->rb);
	for (size_t i = 0; i < sizeof(net->tp_links) / sizeof(net->tp_links[0]); i++)
		bpf_link__destroy(net->tp_links[i]); /* pinned: stays attached */
	for (size_t i = 0; i < net->n_att; i++)
		for (int p = 0; p < N_PROGS; p++)
			bpf_link__destroy(net->att[i].links[p]); /* pinned: stays attached */
	free(net->att);
	for (size_t i = 0; i < net->n_units; i++) {
		free(net->units[i].rules);
		free(net->units[i].trie.entries);
	}
	free(net->units);
	for (size_t i = 0; i < net->n_retired; i++)
		free(net->retired[i].entries);
	free(net->retired);
	for (size_t i = 0; i < net->n_pending; i++) {
		free(net->pending[i].rules);
		free(net->pending[i].trie.entries);
	}
	free(net->pending);
	ug_net_bpf__destroy(net->skel);
	free(net);
}

static struct unit_state *unit_find(struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].cgid == cgid)
			return &net->units[i];
	return NULL;
}

static bool unit_same(const struct unit_state *s, const struct ug_net_unit *u)
{
	return s->loaded && s->mode == u->mode && s->deny_default == u->deny_default &&
	       s->n_rules == u->n_rules &&
	       (!u->n_rules || !memcmp(s->rules, u->rules, u->n_rules * sizeof(*u->rules)));
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(struct ug_net *net, struct unit_state *s, struct ug_net_unit *u,
		       uint32_t generation, size_t *written)
{
	struct ug_unit_val val = {
		.generation = generation,
		.mode = u->mode,
		.deny_default = u->deny_default,
		.acct = s->acct,
	};
	struct ug_rule *rules = NULL;
	struct trie t = {};
	int err;

	if (u->n_rules) {
		rules = malloc(u->n_rules * sizeof(*rules));
		if (!rules)
			return -ENOMEM;
		memcpy(rules, u->rules, u->n_rules * sizeof(*rules));
	}
	err = trie_build(net, s->cgid, u->rules, u->n_rules, &t, u->why, sizeof(u->why), written);
	if (err) {
		free(rules);
		return err;
	}
	val.trie = t.id;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_units), &u->cg.id, &val, BPF_ANY)) {
		err = -errno;
		trie_free(net, &t);
		free(rules);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	retire(net, &s->trie);
	s->trie = t;
	free(s->rules);
	s->rules = rules;
	s->n_rules = u->n_rules;
	s->mode = u->mode;
	s->deny_default = u->deny_default;
	s->generation = generation;
	s->loaded = true;
	return 0;
}

static int set_level_mask(struct ug_net *net, uint32_t mask)
{
	struct ug_config cfg = { .level_mask = mask };
	__u32 zero = 0;

	if (mask == net->level_mask)
		return 0;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_config), &zero, &cfg, BPF_ANY))
		return -errno;
	net->level_mask = mask;
	return 0;
}

/* Attach every program at a point (pinned, so it outlives the agent). */
static int attach(struct ug_net *net, struct ug_net_point *pt)
{
	char dir[PATH_MAX], path[PATH_MAX], id[32];
	struct attachment *a = att_find(net, pt->id);
	int cgfd, err = 0;

	if (!a && !(a = att_add(net, pt->id)))
		return -ENOMEM;
	snprintf(id, sizeof(id), "%" PRIu64, pt->id);
	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, "links", id))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (err)
		return err;
	cgfd = open(pt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -errno;
	for (int i = 0; i < N_PROGS; i++) {
		if (a->links[i])
			continue;
		a->links[i] = bpf_program__attach_cgroup(net->progs[i], cgfd);
		if (!a->links[i]) {
			err = -errno;
			ug_log(LOG_ERR, "net: failed to attach %s to %s: %s",
			       bpf_program__name(net->progs[i]), pt->path, strerror(-err));
			break;
		}
		if (ug_pin_path(path, sizeof(path), dir, bpf_program__name(net->progs[i]), NULL) ||
		    (err = bpf_link__pin(a->links[i], path))) {
			err = err ?: -ENAMETOOLONG;
			ug_log(LOG_ERR, "net: failed to pin link at %s: %s", path, strerror(-err));
			break;
		}
		ug_log(LOG_DEBUG, "net: attached %s to %s", bpf_program__name(net->progs[i]),
		       pt->path);
	}
	close(cgfd);
	/* Check the id is still the one we were given: a cgroup removed and made
	 * again under the same path in between would be another cgroup. */
	return err;
}

static void detach(struct ug_net *net, struct attachment *a)
{
	char dir[PATH_MAX], id[32];

	for (int i = 0; i < N_PROGS; i++) {
		if (!a->links[i])
			continue;
		bpf_link__unpin(a->links[i]);
		bpf_link__destroy(a->links[i]);
		a->links[i] = NULL;
	}
	snprintf(id, sizeof(id), "%" PRIu64, a->cgid);
	if (!ug_pin_path(dir, sizeof(dir), net->pin_dir, "links", id))
		rmdir(dir);
	ug_log(LOG_INFO, "net: detached from cgroup %" PRIu64, a->cgid);
}

static struct pending_state *pending_find(struct ug_net *net, const char *name)
{
	for (size_t i = 0; i < net->n_pending; i++)
		if (!strcmp(net->pending[i].name, name))
			return &net->pending[i];
	return NULL;
}

/* Keep a removed cgroup's name (its denials may still be in the ring
 * buffer) and final counts (not yet in a snapshot); free its slot. */
static void remember_gone(struct ug_net *net, const struct unit_state *s)
{
	unsigned i = net->gone_next++ % (sizeof(net->gone) / sizeof(net->gone[0]));

	net->gone[i].cgid = s->cgid;
	net->gone[i].generation = s->generation;
	snprintf(net->gone[i].target, sizeof(net->gone[i].target), "%s", s->target);
	net->gone[i].unreported = !acct_read(net, s->acct, 0, &net->gone[i].acct[0]) &&
				  !acct_read(net, s->acct, 1, &net->gone[i].acct[1]);
	for (size_t k = 0; k < net->n_pending; k++)
		if (net->pending[k].acct == s->acct)
			return; /* the next cgroup of that name counts on */
	ug_ids_clear(net->acct_used, s->acct);
}

int ug_net_apply(struct ug_net *net, struct ug_net_unit *units, size_t n,
		 struct ug_net_point *points, size_t n_points, uint32_t generation)
{
	uint32_t new_mask = 0, n_changed = 0;
	uint64_t t0 = ug_now_ns();
	int first_err = 0, err;
	bool changed = false;
	size_t kept, written = 0;

	for (size_t i = 0; i < net->n_units; i++)
		net->units[i].seen = false;
	for (size_t i = 0; i < n; i++)
		new_mask |= 1u << units[i].cg.level;
	/* Levels where the cgroup_mkdir program may install a pending policy
	 * the agent has not seen yet must stay in the mask. */
	for (size_t i = 0; i < net->n_pending; i++)
		new_mask |= 1u << (net->pending[i].level % UG_MAX_LEVELS);
	/* Widen the mask first, so a unit is visible the moment it is written. */
	err = set_level_mask(net, net->level_mask | new_mask);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		struct ug_net_unit *u = &units[i];
		struct unit_state *s = unit_find(net, u->cg.id);

		u->err = 0;
		u->why[0] = '\0';
		if (!s) {
			s = reallocarray(net->units, net->n_units + 1, sizeof(*s));
			if (!s) {
				u->err = -ENOMEM;
				continue;
			}
			net->units = s;
			s = &net->units[net->n_units];
			memset(s, 0, sizeof(*s));
			s->cgid = u->cg.id;
			/* The cgroup_mkdir program already installed the pending
			 * policy with the pending slot: keep counting there. */
			if (pending_find(net, u->target))
				s->acct = pending_find(net, u->target)->acct;
			else
				u->err = acct_alloc(net, &s->acct);
			if (u->err) {
				snprintf(u->why, sizeof(u->why), "no accounting slot: %s",
					 strerror(-u->err));
				first_err = first_err ?: u->err;
				continue;
			}
			net->n_units++;
		}
		s->seen = true;
		snprintf(s->target, sizeof(s->target), "%s", u->target);
		s->level = u->cg.level;
		if (u->keep) {
			if (s->loaded)
				continue;
			/* The caller thought this was in force already. */
			u->err = -ESTALE;
			snprintf(u->why, sizeof(u->why), "its policy must be compiled again");
			first_err = first_err ?: u->err;
			continue;
		}
		if (unit_same(s, u))
			continue;
		u->err = unit_update(net, s, u, generation, &written);
		if (u->err) {
			if (!u->why[0])
				snprintf(u->why, sizeof(u->why), "%s", strerror(-u->err));
			ug_log(LOG_ERR, "net: %s: cannot load its %zu rules: %s; its previous "
			       "policy stays in force", u->target, u->n_rules, u->why);
			first_err = first_err ?: u->err;
			continue;
		}
		changed = true;
		n_changed++;
		ug_log(LOG_INFO, "net: %s: generation %u, %zu rules, %zu trie entries", u->target,
		       generation, u->n_rules, s->trie.n);
	}

	/* Policy cgroups that no longer have rules. */
	kept = 0;
	for (size_t i = 0; i < net->n_units; i++) {
		struct unit_state *s = &net->units[i];

		if (s->seen) {
			net->units[kept++] = *s;
			continue;
		}
		if (bpf_map_delete_elem(bpf_map__fd(net->skel->maps.ug_units), &s->cgid) &&
		    errno != ENOENT) {
			ug_log(LOG_ERR, "net: %s: cannot remove its policy: %s", s->target,
			       strerror(errno));
			first_err = first_err ?: -errno;
			net->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "net: %s: no rules left, policy removed", s->target);
		remember_gone(net, s);
		retire(net, &s->trie);
		free(s->rules);
		changed = true;
	}
	net->n_units = kept;

	/* Attach where wanted before detaching elsewhere: a new, higher point
	 * covers its cgroups before the lower points' links go. */
	for (size_t i = 0; i < net->n_att; i++)
		net->att[i].wanted = false;
	for (size_t i = 0; i < n_points; i++) {
		struct attachment *a;

		points[i].err = attach(net, &points[i]);
		first_err = first_err ?: points[i].err;
		a = att_find(net, points[i].id);
		if (a)
			a->wanted = true;
	}
	kept = 0;
	for (size_t i = 0; i < net->n_att; i++) {
		if (net->att[i].wanted) {
			net->att[kept++] = net->att[i];
			continue;
		}
		detach(net, &net->att[i]);
	}
	net->n_att = kept;

	err = set_level_mask(net, new_mask);
	first_err = first_err ?: err;
	net->last_changed = n_changed;
	if (changed) {
		net->generation = generation;
		ug_log(LOG_INFO, "net: generation %u applied in %.3f ms (%u units changed, %zu "
		       "trie entries written)", generation, (ug_now_ns() - t0) / 1e6, n_changed,
		       written);
	}
	return first_err;
}

uint32_t ug_net_unit_generation(const struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].cgid == cgid)
			return net->units[i].generation;
	return 0;
}

uint32_t ug_net_units_changed(const struct ug_net *net)
{
	return net->last_changed;
}

uint32_t ug_net_pending_changed(const struct ug_net *net)
{
	return net->pending_changed;
}

int ug_net_stats(struct ug_net *net, ug_net_stats_cb cb, void *ctx)
{
	struct ug_net_stats st;
	int err;

	for (size_t i = 0; i < net->n_units; i++) {
		const struct unit_state *s = &net->units[i];

		memset(&st, 0, sizeof(st));
		st.target = s->target;
		st.cgid = s->cgid;
		st.generation = s->generation;
		if ((err = acct_read(net, s->acct, 0, &st.acct[0])) ||
		    (err = acct_read(net, s->acct, 1, &st.acct[1])))
			return err;
		cb(&st, ctx);
	}
	for (size_t i = 0; i < sizeof(net->gone) / sizeof(net->gone[0]); i++) {
		if (!net->gone[i].unreported)
			continue;
		memset(&st, 0, sizeof(st));
		st.target = net->gone[i].target;
		st.cgid = net->gone[i].cgid;
		st.generation = net->gone[i].generation;
		memcpy(st.acct, net->gone[i].acct, sizeof(st.acct));
		cb(&st, ctx);
		net->gone[i].unreported = false;
	}
	return 0;
}

int ug_net_rule_hits(struct ug_net *net, void (*cb)(uint32_t rule_id, uint64_t hits, void *ctx),
		     void *ctx)
{
	int fd = bpf_map__fd(net->skel->maps.ug_rule_hits);
	int ncpu = libbpf_num_possible_cpus();
	__u32 key, next, *pkey = NULL;
	uint64_t *v;

	if (ncpu < 0)
		return ncpu;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, pkey, &next)) {
		uint64_t sum = 0;

		key = next;
		pkey = &key;
		if (bpf_map_lookup_elem(fd, &key, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
		cb(key, sum, ctx);
	}
	free(v);
	return 0;
}

static bool pending_same(const struct pending_state *ps, const struct ug_net_pending *p)
{
	return ps->trie.id && ps->parent_cgid == p->parent_cgid && ps->level == p->level &&
	       ps->mode == p->pol.mode && ps->deny_default == p->pol.deny_default &&
	       ps->n_rules == p->pol.n_rules &&
	       (!p->pol.n_rules ||
		!memcmp(ps->rules, p->pol.rules, p->pol.n_rules * sizeof(*ps->rules)));
}

/*
 * Cgroups the cgroup_mkdir program gave a pending policy, before the agent
 * saw them, point at the pending trie. Before that trie is retired, point
 * them at its successor (or drop them with it), else they would later read a
 * deleted trie, or a reused id's rules.
 */
static void move_copies(struct ug_net *net, uint16_t old_trie, const struct ug_unit_val *to)
{
	int fd = bpf_map__fd(net->skel->maps.ug_units);
	__u64 key, next, *pkey = NULL;
	struct ug_unit_val v;

	if (!old_trie)
		return;
	while (!bpf_map_get_next_key(fd, pkey, &next)) {
		key = next;
		pkey = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || v.trie != old_trie || unit_find(net, key))
			continue;
		if (to)
			bpf_map_update_elem(fd, &key, to, BPF_EXIST);
		else
			bpf_map_delete_elem(fd, &key);
	}
}

/* Pending policies own their tries under a name, not a cgroup id. */
static uint64_t owner_of_name(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h | 1ULL << 63; /* cgroup ids (inode numbers) stay below */
}

/* The owner's live trie, or NULL when the owner is gone. */
static const struct trie *owner_trie(const struct ug_net *net, uint64_t owner)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].cgid == owner)
			return &net->units[i].trie;
	for (size_t i = 0; i < net->n_pending; i++)
		if (owner_of_name(net->pending[i].name) == owner)
			return &net->pending[i].trie;
	return NULL;
}

static int pending_write(struct ug_net *net, struct pending_state *ps, struct ug_net_pending *p,
			 uint32_t generation)
{
	struct ug_pending_net val = {
		.val = { .generation = generation, .mode = p->pol.mode,
			 .deny_default = p->pol.deny_default, .acct = ps->acct },
		.parent_cgid = p->parent_cgid,
		.level = p->level,
	};
	struct ug_pending_key key = {};
	struct ug_rule *rules = NULL;
	struct trie t = {};
	size_t written = 0;
	int err;

	snprintf(key.name, sizeof(key.name), "%s", ps->name);
	if (p->pol.n_rules) {
		rules = malloc(p->pol.n_rules * sizeof(*rules));
		if (!rules)
			return -ENOMEM;
		memcpy(rules, p->pol.rules, p->pol.n_rules * sizeof(*rules));
	}
	err = trie_build(net, owner_of_name(ps->name), p->pol.rules, p->pol.n_rules, &t,
			 p->pol.why, sizeof(p->pol.why), &written);
	if (err) {
		free(rules);
		return err;
	}
	val.val.trie = t.id;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_pending_net), &key, &val,
				BPF_ANY)) {
		err = -errno;
		trie_free(net, &t);
		free(rules);
		return err;
	}
	move_copies(net, ps->trie.id, &val.val);
	retire(net, &ps->trie);
	ps->trie = t;
	free(ps->rules);
	ps->rules = rules;
	ps->n_rules = p->pol.n_rules;
	ps->mode = p->pol.mode;
	ps->deny_default = p->pol.deny_default;
	ps->parent_cgid = p->parent_cgid;
	ps->level = p->level;
	ps->generation = generation;
	return 0;
}

/* Is an accounting slot still used by a running cgroup's state? */
static bool acct_in_use(const struct ug_net *net, uint16_t slot)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].acct == slot)
			return true;
	return false;
}

int ug_net_apply_pending(struct ug_net *net, struct ug_net_pending *p, size_t n,
			 uint32_t generation)
{
	struct ug_pending_key key;
	int first_err = 0;
	size_t kept = 0;

	net->pending_changed = 0;
	for (size_t i = 0; i < net->n_pending; i++)
		net->pending[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		struct pending_state *ps;

		p[i].pol.err = 0;
		p[i].pol.why[0] = '\0';
		if (strlen(p[i].name) >= UG_NAME_MAX) {
			p[i].pol.err = -ENAMETOOLONG;
			snprintf(p[i].pol.why, sizeof(p[i].pol.why),
				 "unit name too long for the start-up race map");
			continue;
		}
		ps = pending_find(net, p[i].name);
		if (!ps) {
			ps = reallocarray(net->pending, net->n_pending + 1, sizeof(*ps));
			if (!ps)
				return -ENOMEM;
			net->pending = ps;
			ps = &net->pending[net->n_pending];
			memset(ps, 0, sizeof(*ps));
			snprintf(ps->name, sizeof(ps->name), "%s", p[i].name);
			/* Share the running cgroup's slot, so counts continue. */
			bool shared = false;

			for (size_t u = 0; u < net->n_units && !shared; u++)
				if (!strcmp(net->units[u].target, p[i].name)) {
					ps->acct = net->units[u].acct;
					shared = true;
				}
			if (!shared) {
				int err = acct_alloc(net, &ps->acct);

				if (err) {
					p[i].pol.err = err;
					first_err = first_err ?: err;
					continue;
				}
			}
			net->n_pending++;
		}
		ps->seen = true;
		if (p[i].pol.keep) {
			if (ps->trie.id && ps->parent_cgid == p[i].parent_cgid &&
			    ps->level == p[i].level)
				continue;
			p[i].pol.err = -ESTALE;
			snprintf(p[i].pol.why, sizeof(p[i].pol.why),
				 "its policy must be compiled again");
			first_err = first_err ?: p[i].pol.err;
			continue;
		}
		if (pending_same(ps, &p[i]))
			continue;
		p[i].pol.err = pending_write(net, ps, &p[i], generation);
		if (p[i].pol.err) {
			ug_log(LOG_ERR, "net: %s: cannot keep its policy for its next start: %s",
			       ps->name, p[i].pol.why[0] ? p[i].pol.why : strerror(-p[i].pol.err));
			first_err = first_err ?: p[i].pol.err;
			continue;
		}
		net->pending_changed++;
	}
	for (size_t i = 0; i < net->n_pending; i++) {
		struct pending_state *ps = &net->pending[i];

		if (ps->seen) {
			net->pending[kept++] = *ps;
			continue;
		}
		memset(&key, 0, sizeof(key));
		snprintf(key.name, sizeof(key.name), "%s", ps->name);
		bpf_map_delete_elem(bpf_map__fd(net->skel->maps.ug_pending_net), &key);
		move_copies(net, ps->trie.id, NULL);
		retire(net, &ps->trie);
		free(ps->rules);
		net->pending_changed++;
		if (!acct_in_use(net, ps->acct))
			ug_ids_clear(net->acct_used, ps->acct);
	}
	net->n_pending = kept;
	return first_err;
}

uint32_t ug_net_generation(const struct ug_net *net)
{
	return net->generation;
}

int ug_net_ringbuf_add(struct ug_net *net, int map_fd, ring_buffer_sample_fn fn, void *ctx)
{
	return ring_buffer__add(net->rb, map_fd, fn, ctx);
}

int ug_net_events_fd(const struct ug_net *net)
{
	return ring_buffer__epoll_fd(net->rb);
}

int ug_net_poll_events(struct ug_net *net)
{
	int n = ring_buffer__consume(net->rb);

	return n < 0 ? n : 0;
}

int ug_net_counter(const struct ug_net *net, int which, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = which;
	uint64_t *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_counters), &key, vals)) {
		free(vals);
		return -errno;
	}
	*out = 0;
	for (int i = 0; i < ncpu; i++)
		*out += vals[i];
	free(vals);
	return 0;
}

const char *ug_net_target(const struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].cgid == cgid)
			return net->units[i].target;
	for (size_t i = 0; i < sizeof(net->gone) / sizeof(net->gone[0]); i++)
		if (net->gone[i].cgid == cgid)
			return net->gone[i].target;
	return NULL;
}

/*
 * Remove a pin tree. A pinned link is detached first (BPF_LINK_DETACH): a
 * running agent may still hold it open, and unpinning alone would leave its
 * program attached.
 */
static int remove_tree(const char *path, bool links)
{
	struct dirent *de;
	int err = 0;
	DIR *d = opendir(path);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		struct bpf_link *link;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ug_pin_path(child, sizeof(child), path, de->d_name, NULL)) {
			err = -ENAMETOOLONG;
			continue;
		}
		if (lstat(child, &st)) {
			err = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			err = remove_tree(child, links) ?: err;
			continue;
		}
		link = links ? bpf_link__open(child) : NULL;
		if (link) {
			if (bpf_link__detach(link))
				err = -errno;
			bpf_link__destroy(link);
		}
		if (unlink(child))
			err = -errno;
	}
	closedir(d);
	if (rmdir(path) && errno != ENOENT)
		err = -errno;
	return err;
}

/* Delete every key of a pinned map, if it is there. */
static void empty_pinned(const char *pin_dir, const char *name, size_t key_size)
{
	char path[PATH_MAX], key[256], next[256];
	int fd;

	if (ug_pin_path(path, sizeof(path), pin_dir, "maps", name) || key_size > sizeof(key))
		return;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
	close(fd);
}

int ug_net_detach_all(const char *pin_dir)
{
	char links[PATH_MAX];
	int err;

	/* Programs someone else still holds (systemd's BPFProgram=, a running
	 * agent's tracepoint links) then find no policy and judge nothing. */
	empty_pinned(pin_dir, "ug_pending_net", sizeof(struct ug_pending_key));
	empty_pinned(pin_dir, "ug_units", sizeof(__u64));

	if (ug_pin_path(links, sizeof(links), pin_dir, "links", NULL))
		return -ENAMETOOLONG;
	err = remove_tree(links, true);
	return remove_tree(pin_dir, false) ?: err;
}
