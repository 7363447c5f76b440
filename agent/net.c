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

#include "byname.h"
#include "log.h"
#include "flush.h"
#include "pins.h"
#include "util.h"
#include "net.h"
#include "pinned.h"
#include "trie.h"
#include "unitpol.h"
#include "net.skel.h"

#define N_LISTS UG_LISTS_MAX
#define N_LIST_PTRS N_LISTS
#define LIST_BUCKETS 4096
/* Entries deleted per cleanup call: freeing a big trie must not stall the
 * event loop (a delete is a syscall of a few microseconds). */
#define FREE_BUDGET 20000

/* What the engine stores and the map holds: a key and its narrow value. */
struct ug_lpm_kv {
	struct ug_lpm_key key;
	struct ug_match val;
};
_Static_assert(sizeof(struct ug_lpm_kv) == sizeof(struct ug_lpm_key) + sizeof(struct ug_match),
	       "ug_lpm_kv must be key then value, unpadded: the engine packs them");

struct unit_state {
	struct ug_unitstate h; /* target, cgroup, trie, loaded (the fields below too) */
	uint8_t mode, deny_default, audit_default;
	uint64_t digest; /* of the rules it was compiled from, to see a change */
	size_t n_rules;
	uint16_t acct;   /* slot in ug_acct, for the cgroup's lifetime as a policy cgroup */
};

/* A policy kept by unit name for cgroups not made yet (unitguard.h). */
struct pending_state {
	struct ug_byname h; /* name, place, trie, generation, loaded */
	uint8_t mode, deny_default, audit_default;
	uint64_t digest;
	size_t n_rules;
	uint16_t acct; /* shared with the running cgroup of that name */
	bool has_acct; /* acct is set (an entry refused at once never gets one) */
};

/* A rule list in ug_lists, shared by every entry that has it. */
struct list {
	uint32_t id, refs;
	uint64_t digest;
	bool adopted; /* found at start: held until every adopted trie is gone */
	struct ug_match_list v;
	struct list *next;
};

#define N_PROGS 8

struct attachment {
	uint64_t cgid;
	struct bpf_link *links[N_PROGS];
	bool wanted;
};

struct ug_net {
	struct ug_net_bpf *skel;
	char pin_dir[PATH_MAX];
	bool old_pending;       /* older pinned generations (old-*) wait to be let go */
	struct bpf_program *progs[N_PROGS];
	struct bpf_link *tp_links[2];
	struct unit_state *units;
	size_t n_units;
	struct attachment *att;
	size_t n_att;
	struct ug_tries *tries;
	struct list *lists[N_LIST_PTRS];
	struct list *list_bucket[LIST_BUCKETS];
	uint32_t next_list;
	bool adoption_held; /* adopted lists still held for adopted tries */
	unsigned cleanups;
	uint8_t acct_used[UG_ACCT_SLOTS / 8];
	struct ug_bynames pending; /* ug_pending_net */
	uint32_t generation;
	uint32_t last_changed; /* units changed by the last apply */
	uint32_t pending_changed; /* policies by name changed by the last apply_pending */
	uint32_t level_mask;
	uint32_t window; /* aggregation window (unitguard.h): advanced once a second */
	uint64_t window_ns;
	bool flush_said; /* ug_flush failing: said once */
	/* Names of policy cgroups removed recently: their denials may still sit
	 * in the ring buffer. */
	struct {
		uint64_t cgid;
		char target[TARGET_MAX];
	} gone[64];
	unsigned gone_next;
	/* Final counts of removed policy cgroups, until a snapshot that holds
	 * them is stored (ug_net_stats_stored()); the oldest go past the cap,
	 * counted in final_dropped. */
	struct final_counts {
		struct ug_net_stats st;
		char target[TARGET_MAX];
		bool sent; /* handed out by the last ug_net_stats() */
	} *final;
	size_t n_final;
	uint64_t final_dropped;
	/* Tries kept for cgroups the cgroup_mkdir program made from a policy
	 * kept by name, which could not be moved to its next trie: held until
	 * they are (move_copies()). */
	struct stuck {
		uint16_t trie;
		char name[UG_NAME_MAX];
	} *stuck;
	size_t n_stuck;
};

#define FINAL_MAX 65536

/* Sum of one ug_acct slot over all CPUs. */
static int acct_read(const struct ug_net *net, uint16_t slot, int dir, struct ug_acct_val *sum)
{
	return ug_pinned_acct(bpf_map__fd(net->skel->maps.ug_acct), slot, dir, sum);
}

static struct pending_state *pend(const struct ug_net *net, size_t i)
{
	return (struct pending_state *)ug_byname_at(&net->pending, i);
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

/*
 * Keep ug_acct_free full of zeroed slots: the cgroup_mkdir program gives one
 * to each cgroup it puts a policy on. Slots in the queue are marked used
 * here, owned by nobody until a cgroup takes one.
 */
static void acct_pool_fill(struct ug_net *net)
{
	int fd = bpf_map__fd(net->skel->maps.ug_acct_free);
	uint16_t slot;

	while (!acct_alloc(net, &slot)) {
		__u32 v = slot;

		if (bpf_map_update_elem(fd, NULL, &v, BPF_ANY)) {
			ug_ids_clear(net->acct_used, slot); /* full (E2BIG): enough */
			break;
		}
	}
}

/*
 * Slots marked used that nothing holds: given by the cgroup_mkdir program to
 * a cgroup that went before the agent saw it. Every slot in use is in a
 * ug_units value, a pending entry, or the queue; the rest are freed. The
 * queue is emptied for a moment to be read (a cgroup made in that moment
 * counts in its policy's own slot).
 */
static void acct_reclaim(struct ug_net *net)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int qfd = bpf_map__fd(net->skel->maps.ug_acct_free);
	int ufd = bpf_map__fd(net->skel->maps.ug_units);
	uint8_t held[UG_ACCT_SLOTS / 8] = {};
	__u64 keys[256], batch = 0;
	struct ug_unit_val vals[256];
	__u32 q[64];
	size_t n_q = 0;
	bool complete = true;
	void *in = NULL;
	int err;

	/* The queue first: from here on no cgroup takes a slot from it. */
	while (n_q < 64 && !bpf_map_lookup_and_delete_elem(qfd, NULL, &q[n_q]))
		n_q++;
	for (size_t i = 0; i < n_q; i++)
		if (q[i] < UG_ACCT_SLOTS)
			ug_ids_set(held, q[i]);
	do {
		__u32 count = 256;

		err = bpf_map_lookup_batch(ufd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT) {
			complete = false; /* cannot tell: free nothing */
			break;
		}
		for (__u32 k = 0; k < count; k++)
			if (vals[k].acct < UG_ACCT_SLOTS)
				ug_ids_set(held, vals[k].acct);
		in = &batch;
	} while (!err);
	for (size_t i = 0; i < net->n_units; i++)
		ug_ids_set(held, net->units[i].acct);
	for (size_t i = 0; i < net->pending.n; i++)
		ug_ids_set(held, pend(net, i)->acct);
	for (uint32_t i = 0; complete && i < UG_ACCT_SLOTS; i++)
		if (ug_ids_test(net->acct_used, i) && !ug_ids_test(held, i))
			ug_ids_clear(net->acct_used, i);
	for (size_t i = 0; i < n_q; i++)
		bpf_map_update_elem(qfd, NULL, &q[i], BPF_ANY);
}

/* After a restart: the slots in the queue are taken (by the queue). */
static void acct_pool_adopt(struct ug_net *net)
{
	int fd = bpf_map__fd(net->skel->maps.ug_acct_free);
	__u32 v[64];
	size_t n = 0;

	while (n < 64 && !bpf_map_lookup_and_delete_elem(fd, NULL, &v[n]))
		n++;
	for (size_t i = 0; i < n; i++) {
		if (v[i] >= UG_ACCT_SLOTS || ug_ids_test(net->acct_used, v[i]))
			continue;
		ug_ids_set(net->acct_used, v[i]);
		bpf_map_update_elem(fd, NULL, &v[i], BPF_ANY);
	}
}

/* --- rule lists (ug_lists) ----------------------------------------------- */

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	for (const unsigned char *c = p; n--; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h;
}

static struct list *list_find(const struct ug_net *net, uint64_t digest,
			      const struct ug_match_list *v)
{
	for (struct list *l = net->list_bucket[digest % LIST_BUCKETS]; l; l = l->next)
		if (l->digest == digest && !memcmp(&l->v, v, sizeof(*v)))
			return l;
	return NULL;
}

static void list_link(struct ug_net *net, struct list *l)
{
	struct list **b = &net->list_bucket[l->digest % LIST_BUCKETS];

	l->next = *b;
	*b = l;
	net->lists[l->id] = l;
}

static void list_unlink(struct ug_net *net, struct list *l)
{
	for (struct list **pp = &net->list_bucket[l->digest % LIST_BUCKETS]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	net->lists[l->id] = NULL;
}

/* A reference to the list holding v (its unused slots zero), written first. */
static int list_get(struct ug_net *net, const struct ug_match_list *v, uint32_t *id)
{
	uint64_t digest = fnv(v, sizeof(*v), 0xcbf29ce484222325ULL);
	struct list *l = list_find(net, digest, v);
	uint32_t free_id = 0;

	if (l) {
		l->refs++;
		*id = l->id;
		return 0;
	}
	/* Round robin: a just-freed id is handed out last. */
	for (uint32_t k = 0; k < N_LISTS - 1 && !free_id; k++) {
		uint32_t i = (net->next_list + k - 1) % (N_LISTS - 1) + 1;

		if (!net->lists[i])
			free_id = i;
	}
	if (!free_id)
		return -ENOSPC;
	net->next_list = free_id % (N_LISTS - 1) + 1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->id = free_id;
	l->refs = 1;
	l->digest = digest;
	l->v = *v;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_lists), &l->id, &l->v,
				BPF_NOEXIST)) {
		int err = -errno;

		free(l);
		return err;
	}
	list_link(net, l);
	*id = l->id;
	return 0;
}

static void list_put(struct ug_net *net, uint32_t id)
{
	struct list *l = id < N_LISTS ? net->lists[id] : NULL;

	if (!l || --l->refs)
		return;
	/* No entry points at it any more: they were deleted first. */
	bpf_map_delete_elem(bpf_map__fd(net->skel->maps.ug_lists), &l->id);
	list_unlink(net, l);
	free(l);
}

/* The engine's callback: an entry's value left the kernel. */
static void release_val(void *ctx, const void *val)
{
	const struct ug_match *m = val;

	if (m->flags & UG_LPM_LIST)
		list_put(ctx, m->rule_id);
}

static int key_cmp(const void *a, const void *b)
{
	return ug_lpm_key_cmp(a, b);
}

/* Lists a killed agent left: kept, since the tries it left may point at
 * them, until every adopted trie is gone (their values are not known). */
static int adopt_lists(struct ug_net *net)
{
	int fd = bpf_map__fd(net->skel->maps.ug_lists);
	uint32_t key, next, *pkey = NULL;

	while (!bpf_map_get_next_key(fd, pkey, &next)) {
		struct list *l;

		key = next;
		pkey = &key;
		if (!key || key >= N_LISTS || net->lists[key])
			continue;
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		if (bpf_map_lookup_elem(fd, &key, &l->v)) {
			free(l);
			continue;
		}
		l->id = key;
		l->refs = 1;
		l->adopted = true;
		l->digest = fnv(&l->v, sizeof(l->v), 0xcbf29ce484222325ULL);
		list_link(net, l);
	}
	net->adoption_held = true;
	return 0;
}

/*
 * The compiler's entries (every rule of an entry) as the map holds them: the
 * only rule inline (its own flags kept), several as a shared list. On error every
 * list reference taken here is dropped.
 */
static int narrow(struct ug_net *net, const struct ug_lpm_entry *w, size_t n,
		  struct ug_lpm_kv **out)
{
	struct ug_lpm_kv *kv = malloc((n ?: 1) * sizeof(*kv));
	int err = 0;
	size_t i;

	if (!kv)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		kv[i].key = w[i].key;
		memset(&kv[i].val, 0, sizeof(kv[i].val));
		if (w[i].val.n == 0) {
			kv[i].val.flags = UG_LPM_NONE;
		} else if (w[i].val.n == 1) {
			kv[i].val = w[i].val.m[0];
			kv[i].val.flags &= UG_MATCH_PORTS | UG_MATCH_AUDIT;
			kv[i].val.pad = 0;
		} else {
			struct ug_match_list v = { .n = w[i].val.n };

			memcpy(v.m, w[i].val.m, w[i].val.n * sizeof(v.m[0]));
			err = list_get(net, &v, &kv[i].val.rule_id);
			kv[i].val.flags = UG_LPM_LIST;
		}
	}
	if (err) {
		for (size_t k = 0; k + 1 < i; k++)
			release_val(net, &kv[k].val);
		free(kv);
		return err;
	}
	*out = kv;
	return 0;
}

static uint64_t rules_digest(const struct ug_rule *rules, size_t n)
{
	return fnv(rules, n * sizeof(*rules), 0xcbf29ce484222325ULL);
}

/*
 * A trie holding the compiled rules (an existing one with the same entries,
 * or a new one, from the owner's standby when it has one). why: the
 * compiler's complaint. *written: map updates made.
 */
static int trie_for(struct ug_net *net, uint64_t owner, const struct ug_rule *rules, size_t n,
		    uint16_t *id, char *why, size_t whylen, size_t *written)
{
	struct ug_lpm_entry *w = NULL;
	struct ug_lpm_kv *kv = NULL;
	size_t n_e = 0;
	int err;

	err = ug_compile(rules, n, 0, &w, &n_e, why, whylen);
	if (err)
		return err;
	err = narrow(net, w, n_e, &kv);
	free(w);
	if (err)
		return err;
	err = ug_tries_get(net->tries, owner, kv, n_e, id, written);
	if (err) {
		for (size_t i = 0; i < n_e; i++)
			release_val(net, &kv[i].val);
		free(kv);
		if (err == -ENOSPC)
			snprintf(why, whylen, "ug_lpm is full: %zu of %u entries used, %zu more needed",
				 ug_tries_used(net->tries), ug_tries_capacity(net->tries), n_e);
	}
	return err;
}

static void retry_copies(struct ug_net *net);

void ug_net_cleanup(struct ug_net *net)
{
	if (++net->cleanups % 30 == 0)
		acct_reclaim(net);
	acct_pool_fill(net);
	retry_copies(net);
	ug_tries_collect(net->tries, false, FREE_BUDGET);
	/* The tries a killed agent left are gone: so is what they pointed at. */
	if (net->adoption_held && !ug_tries_adopted(net->tries)) {
		net->adoption_held = false;
		for (uint32_t i = 1; i < N_LISTS; i++)
			if (net->lists[i] && net->lists[i]->adopted) {
				net->lists[i]->adopted = false;
				list_put(net, i);
			}
	}
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
	struct attachment *a = ug_push((void **)&net->att, &net->n_att, sizeof(*a));

	if (a)
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
		a = att_add(net, cgid);
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

	ug_byname_adopted(e, v->parent_cgid, v->level, v->val.trie, v->val.generation);
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
		err = adopt_lists(net);
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
	acct_pool_adopt(net);
	ug_level_mask_adopt(bpf_map__fd(net->skel->maps.ug_config), &net->level_mask);
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

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_TP_LINKS, NULL))
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

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_PROGS, NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !ug_pin_path(path, sizeof(path), dir, de->d_name, NULL))
			unlink(path);
	closedir(d);
	rmdir(dir);
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
					    UG_PIN_LSM_LINKS, UG_PIN_PROGS };
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

/* One older generation goes: its cgroup links are detached (this agent's
 * replace them), the rest goes with its last pin. Its LSM links stay while
 * keep_lsm: then nothing else enforces exec, file, family and hardening
 * rules, and an error never removes enforcement (fail static). They keep
 * the older policy, frozen, until an agent with an LSM side in force or
 * --detach-all lets them go. */
static void let_go(const char *old, bool keep_lsm)
{
	static const char *const rest[] = { UG_PIN_LINKS, UG_PIN_TP_LINKS, UG_PIN_MAPS,
					    UG_PIN_PROGS };
	char path[PATH_MAX];
	int err = 0;

	if (ug_pin_path(path, sizeof(path), old, UG_PIN_LSM_LINKS, NULL))
		return;
	if (!keep_lsm || !has_entries(path)) {
		if (!ug_pin_path(path, sizeof(path), old, UG_PIN_LINKS, NULL))
			ug_pin_remove_tree(path, true);
		err = ug_pin_remove_tree(old, false);
		if (err)
			ug_log(LOG_WARNING, "net: removing %s: %s", old, strerror(-err));
		else
			ug_log(LOG_NOTICE, "net: this agent's policy is in force: the older "
			       "pinned generation (%s) is gone", old);
		return;
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
	       "frozen: rule changes since are NOT applied to them; an agent whose LSM side "
	       "loads, or --detach-all, ends them", old, UG_PIN_LSM_LINKS);
}

void ug_net_migrated(struct ug_net *net, bool keep_lsm)
{
	char old[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (!net->old_pending)
		return;
	net->old_pending = false;
	d = opendir(net->pin_dir);
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, UG_PIN_OLD_PREFIX, strlen(UG_PIN_OLD_PREFIX)) &&
		    !ug_pin_path(old, sizeof(old), net->pin_dir, de->d_name, NULL))
			let_go(old, keep_lsm);
	if (d)
		closedir(d);
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
			continue; /* cgroup_mkdir/rmdir: see attach_tracepoints() */
		if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL)
			continue; /* ug_flush: run by ug_net_flush() */
		if (i == N_PROGS) {
			err = -E2BIG;
			goto err_skel;
		}
		net->progs[i++] = prog;
	}

	err = ug_tries_new(bpf_map__fd(net->skel->maps.ug_lpm),
			   bpf_map__max_entries(net->skel->maps.ug_lpm),
			   &(struct ug_tries_ops){ .key_size = sizeof(struct ug_lpm_key),
						   .val_size = sizeof(struct ug_match),
						   .cmp = key_cmp, .release = release_val,
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
	err = attach_tracepoints(net);
	if (err)
		goto err_state;
	unpin_old_programs(net);
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
	for (size_t i = 0; i < sizeof(net->tp_links) / sizeof(net->tp_links[0]); i++)
		bpf_link__destroy(net->tp_links[i]); /* pinned: stays attached */
	for (size_t i = 0; i < net->n_att; i++)
		for (int p = 0; p < N_PROGS; p++)
			bpf_link__destroy(net->att[i].links[p]); /* pinned: stays attached */
	free(net->att);
	free(net->units);
	free(net->final);
	free(net->stuck);
	ug_bynames_free(&net->pending);
	ug_tries_free(net->tries);
	for (uint32_t i = 0; i < N_LISTS; i++)
		free(net->lists[i]);
	ug_net_bpf__destroy(net->skel);
	free(net);
}

static struct unit_state *unit_find(const struct ug_net *net, uint64_t cgid)
{
	return (struct unit_state *)ug_unitstate_find(net->units, net->n_units, sizeof(*net->units),
						      cgid);
}

static bool unit_same(void *ctx, const struct ug_unitstate *h, const struct ug_unitpol *up)
{
	const struct unit_state *s = (const struct unit_state *)h;
	const struct ug_net_unit *u = (const struct ug_net_unit *)up;

	(void)ctx;
	return s->mode == u->h.mode && s->deny_default == u->deny_default &&
	       s->audit_default == u->audit_default && s->n_rules == u->n_rules &&
	       s->digest == rules_digest(u->rules, u->n_rules);
}

/* UG_UNIT_NO_L4 when no rule needs the transport header: none has ports,
 * none is a bind rule (a TCP SYN meets the bind rules at packet level). */
static uint16_t unit_flags(const struct ug_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].has_ports || rules[i].dir == UG_DIR_BIND)
			return 0;
	return UG_UNIT_NO_L4;
}

/* Build the unit's new trie and switch the unit to it in one map update. */
static int unit_update(void *ctx, struct ug_unitstate *h, struct ug_unitpol *up,
		       uint32_t generation, size_t *written)
{
	struct unit_state *s = (struct unit_state *)h;
	struct ug_net_unit *u = (struct ug_net_unit *)up;
	struct ug_net *net = ctx;
	struct ug_unit_val val = {
		.generation = generation,
		.mode = u->h.mode,
		.deny_default = u->deny_default,
		.audit_default = u->audit_default,
		.acct = s->acct,
		.flags = unit_flags(u->rules, u->n_rules),
	};
	uint16_t id;
	int err;

	err = trie_for(net, s->h.cgid, u->rules, u->n_rules, &id, u->h.why, sizeof(u->h.why),
		       written);
	if (err)
		return err;
	val.trie = id;
	if (bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_units), &u->h.cg.id, &val,
				BPF_ANY)) {
		err = -errno;
		ug_tries_put(net->tries, id, s->h.cgid);
		return err;
	}
	/* From here on no new decision reads the old trie. */
	ug_tries_put(net->tries, s->h.trie, s->h.cgid);
	s->h.trie = id;
	s->digest = rules_digest(u->rules, u->n_rules);
	s->n_rules = u->n_rules;
	s->mode = u->h.mode;
	s->deny_default = u->deny_default;
	s->audit_default = u->audit_default;
	s->h.generation = generation;
	s->h.loaded = true;
	return 0;
}

/* The state of u's cgroup, made if there is none (with its accounting slot). */
static int unit_get(void *ctx, struct ug_unitpol *u, struct ug_unitstate **out)
{
	struct ug_net *net = ctx;
	struct unit_state *s = unit_find(net, u->cg.id);
	struct ug_unit_val old;
	int err = 0;

	if (s) {
		*out = &s->h;
		return 0;
	}
	s = ug_push((void **)&net->units, &net->n_units, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->h.cgid = u->cg.id;
	/* The cgroup_mkdir program already gave it a policy, and a slot of
	 * its own: keep counting there. */
	if (!bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_units), &u->cg.id, &old) &&
	    old.acct < UG_ACCT_SLOTS && ug_ids_test(net->acct_used, old.acct))
		s->acct = old.acct;
	else
		err = acct_alloc(net, &s->acct);
	if (err) {
		net->n_units--; /* s is the last */
		snprintf(u->why, sizeof(u->why), "no accounting slot: %s", strerror(-err));
		return err;
	}
	*out = &s->h;
	return 0;
}

static const struct ug_unitpol_ops unit_ops = {
	.side = "net", .rules = "rules", .n_rules_at = offsetof(struct ug_net_unit, n_rules),
	.get = unit_get, .same = unit_same, .update = unit_update,
};

/* Attach every program at a point (pinned, so it outlives the agent). */
static int attach(struct ug_net *net, struct ug_net_point *pt)
{
	char dir[PATH_MAX], path[PATH_MAX], id[32];
	struct attachment *a = att_find(net, pt->id);
	int cgfd, err = 0;
	struct stat sb;

	if (!a && !(a = att_add(net, pt->id)))
		return -ENOMEM;
	snprintf(id, sizeof(id), "%" PRIu64, pt->id);
	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_LINKS, id))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (err)
		return err;
	cgfd = open(pt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -errno;
	/* The cgroup opened must be the one planned: one removed and made again
	 * under the same path since is another cgroup (the next pass sees it).
	 * The programs go on what cgfd is, whatever the path is by then. */
	if (fstat(cgfd, &sb))
		err = -errno;
	else if (sb.st_ino != pt->id)
		err = -ESTALE;
	if (err) {
		close(cgfd);
		if (err == -ESTALE)
			ug_log(LOG_WARNING, "net: %s is not cgroup %" PRIu64 " any more: not attached "
			       "there", pt->path, pt->id);
		return err;
	}
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
	if (!ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_LINKS, id))
		rmdir(dir);
	ug_log(LOG_INFO, "net: detached from cgroup %" PRIu64, a->cgid);
}

/* A removed cgroup's final counts, kept until a snapshot with them is
 * stored. At the cap the oldest go, counted: a store that cannot take them
 * must not make the agent grow without bound. */
static void keep_final(struct ug_net *net, const struct unit_state *s)
{
	struct final_counts *f;

	if (net->n_final == FINAL_MAX) {
		memmove(net->final, net->final + 1, (FINAL_MAX - 1) * sizeof(*net->final));
		net->n_final--;
		if (!net->final_dropped++)
			ug_log(LOG_ERR, "net: the final counts of more than %d removed cgroups wait "
			       "for the store: the oldest are dropped", FINAL_MAX);
	}
	f = ug_push((void **)&net->final, &net->n_final, sizeof(*f));
	if (!f) {
		net->final_dropped++;
		return;
	}
	snprintf(f->target, sizeof(f->target), "%s", s->h.target);
	f->st.cgid = s->h.cgid;
	f->st.generation = s->h.generation;
	if (acct_read(net, s->acct, 0, &f->st.acct[0]) || acct_read(net, s->acct, 1, &f->st.acct[1]))
		net->n_final--; /* nothing to tell */
}

/* Keep a removed cgroup's name (its denials may still be in the ring
 * buffer) and final counts (not yet in a snapshot); free its slot. */
static void remember_gone(struct ug_net *net, const struct unit_state *s)
{
	unsigned i = net->gone_next++ % (sizeof(net->gone) / sizeof(net->gone[0]));

	net->gone[i].cgid = s->h.cgid;
	snprintf(net->gone[i].target, sizeof(net->gone[i].target), "%s", s->h.target);
	keep_final(net, s);
	for (size_t k = 0; k < net->pending.n; k++)
		if (pend(net, k)->acct == s->acct)
			return; /* the next cgroup of that name counts on */
	ug_ids_clear(net->acct_used, s->acct);
}

int ug_net_apply(struct ug_net *net, struct ug_net_unit *units, size_t n,
		 struct ug_net_point *points, size_t n_points, uint32_t generation)
{
	struct ug_unitpol_env env = {
		.ctx = net, .tries = net->tries, .level_mask = &net->level_mask,
		.cfg_fd = bpf_map__fd(net->skel->maps.ug_config),
	};
	uint32_t n_changed;
	uint64_t t0 = ug_now_ns();
	int first_err = 0, err;
	bool changed = false;
	size_t kept, written = 0;

	for (size_t i = 0; i < net->n_units; i++)
		net->units[i].h.seen = false;
	err = ug_unitpols_apply(units, n, sizeof(*units), generation,
				ug_bynames_levels(&net->pending), &unit_ops, &env, &written,
				&first_err);
	if (err < 0)
		return err;
	n_changed = err;

	/* Policy cgroups that no longer have rules. Unlike the LSM side, a new
	 * unit whose policy was refused keeps its state: it holds an accounting
	 * slot, perhaps the one the cgroup_mkdir program gave its cgroup. */
	kept = 0;
	for (size_t i = 0; i < net->n_units; i++) {
		struct unit_state *s = &net->units[i];

		if (s->h.seen) {
			net->units[kept++] = *s;
			continue;
		}
		if (bpf_map_delete_elem(bpf_map__fd(net->skel->maps.ug_units), &s->h.cgid) &&
		    errno != ENOENT) {
			ug_log(LOG_ERR, "net: %s: cannot remove its policy: %s", s->h.target,
			       strerror(errno));
			first_err = first_err ?: -errno;
			net->units[kept++] = *s;
			continue;
		}
		ug_log(LOG_INFO, "net: %s: no rules left, policy removed", s->h.target);
		remember_gone(net, s);
		ug_tries_put(net->tries, s->h.trie, 0);
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

	/* Narrowed last: to the policy cgroups still in the kernel (one whose
	 * removal failed keeps its level). */
	err = ug_unitpols_narrow(&env, net->units, net->n_units, sizeof(*net->units),
				 ug_bynames_levels(&net->pending));
	first_err = first_err ?: err;
	net->last_changed = n_changed;
	if (changed || n_changed) {
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
		if (net->units[i].h.cgid == cgid)
			return net->units[i].h.generation;
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
		st.target = s->h.target;
		st.cgid = s->h.cgid;
		st.generation = s->h.generation;
		if ((err = acct_read(net, s->acct, 0, &st.acct[0])) ||
		    (err = acct_read(net, s->acct, 1, &st.acct[1])))
			return err;
		cb(&st, ctx);
	}
	for (size_t i = 0; i < net->n_final; i++) {
		net->final[i].st.target = net->final[i].target;
		net->final[i].sent = true;
		cb(&net->final[i].st, ctx);
	}
	return 0;
}

void ug_net_stats_stored(struct ug_net *net)
{
	size_t kept = 0;

	for (size_t i = 0; i < net->n_final; i++)
		if (!net->final[i].sent)
			net->final[kept++] = net->final[i];
	net->n_final = kept;
}

int ug_net_rule_hits(struct ug_net *net, void (*cb)(uint32_t rule_id, uint64_t hits, void *ctx),
		     void *ctx)
{
	int fd = bpf_map__fd(net->skel->maps.ug_rule_hits);
	__u32 key, next, *pkey = NULL;

	while (!bpf_map_get_next_key(fd, pkey, &next)) {
		uint64_t sum;
		int err;

		key = next;
		pkey = &key;
		err = ug_pinned_sum(fd, &key, &sum);
		if (err == -ENOMEM)
			return err;
		if (!err)
			cb(key, sum, ctx);
	}
	return 0;
}

/* Does the entry hold the policy of request req (a struct ug_net_pending)? */
static bool pending_same(const struct ug_byname *e, const void *req)
{
	const struct pending_state *ps = (const struct pending_state *)e;
	const struct ug_net_pending *p = req;

	return ps->mode == p->pol.h.mode && ps->deny_default == p->pol.deny_default &&
	       ps->audit_default == p->pol.audit_default && ps->n_rules == p->pol.n_rules &&
	       ps->digest == rules_digest(p->pol.rules, p->pol.n_rules);
}

/*
 * Cgroups the cgroup_mkdir program gave a pending policy, before the agent
 * saw them, point at the pending trie. Before that trie is retired, point
 * them at its successor (or drop them with it), else they would later read a
 * deleted trie, or a reused id's rules. 0, or a negative errno when some
 * could not be moved: they still read old_trie (hold_copies()).
 */
static int move_copies(struct ug_net *net, uint16_t old_trie, const struct ug_unit_val *to)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int fd = bpf_map__fd(net->skel->maps.ug_units);
	__u64 keys[256], batch = 0, *hit = NULL, key, *pkey = NULL;
	struct ug_unit_val vals[256];
	size_t n_hit = 0;
	void *in = NULL;
	int err, ret = 0;

	if (!old_trie)
		return 0;
	/* Read in batches (one syscall per 256 entries), change afterwards. */
	do {
		__u32 count = 256;

		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT) {
			/* No batch lookups: one by one. */
			count = 0;
			n_hit = 0;
			while (!bpf_map_get_next_key(fd, pkey, &key)) {
				pkey = &key;
				if (!bpf_map_lookup_elem(fd, &key, &vals[0]) && vals[0].trie == old_trie &&
				    !unit_find(net, key)) {
					__u64 *h = reallocarray(hit, n_hit + 1, sizeof(*hit));

					if (!h) {
						ret = -ENOMEM;
						break;
					}
					hit = h;
					hit[n_hit++] = key;
				}
			}
			break;
		}
		for (__u32 k = 0; k < count; k++) {
			__u64 *h;

			if (vals[k].trie != old_trie || unit_find(net, keys[k]))
				continue;
			h = reallocarray(hit, n_hit + 1, sizeof(*hit));
			if (!h) {
				ret = -ENOMEM;
				break;
			}
			hit = h;
			hit[n_hit++] = keys[k];
		}
		in = &batch;
	} while (!err && !ret);
	for (size_t k = 0; k < n_hit; k++) {
		/* ENOENT: the cgroup went meanwhile, its entry with it. */
		if ((to ? bpf_map_update_elem(fd, &hit[k], to, BPF_EXIST)
			: bpf_map_delete_elem(fd, &hit[k])) && errno != ENOENT)
			ret = ret ?: -errno;
	}
	free(hit);
	return ret;
}

/* Copies of name's policy that could not be moved keep reading trie: it is
 * kept (a reference of its own) until they are, retried at each cleanup. */
static void hold_copies(struct ug_net *net, uint16_t trie, const char *name, int err)
{
	struct stuck *s = ug_push((void **)&net->stuck, &net->n_stuck, sizeof(*s));

	ug_log(LOG_ERR, "net: cgroups made from %s's policy kept by name could not be moved to "
	       "its new rules (%s): they keep its previous ones until they can", name,
	       strerror(-err));
	if (!s)
		return; /* without a reference, the trie goes after its grace period */
	s->trie = trie;
	snprintf(s->name, sizeof(s->name), "%s", name);
	ug_tries_claim(net->tries, trie);
}

/* Held copies moved where their policy kept by name now is (or dropped with it). */
static void retry_copies(struct ug_net *net)
{
	size_t kept = 0;

	for (size_t i = 0; i < net->n_stuck; i++) {
		struct stuck *s = &net->stuck[i];
		struct ug_byname *e = ug_byname_find(&net->pending, s->name);
		struct ug_pending_key key = {};
		struct ug_pending_net v;
		const struct ug_unit_val *to = NULL;

		memcpy(key.name, s->name, strnlen(s->name, sizeof(key.name) - 1));
		if (e && !bpf_map_lookup_elem(net->pending.fd, &key, &v))
			to = &v.val;
		if (move_copies(net, s->trie, to)) {
			net->stuck[kept++] = *s;
			continue;
		}
		ug_tries_put(net->tries, s->trie, ug_byname_owner(s->name));
		ug_log(LOG_NOTICE, "net: the cgroups made from %s's policy kept by name are on its "
		       "rules in force now", s->name);
	}
	net->n_stuck = kept;
}

static int pending_write(struct ug_net *net, struct pending_state *ps, struct ug_net_pending *p,
			 uint32_t generation)
{
	struct ug_pending_net val = {
		.val = { .generation = generation, .mode = p->pol.h.mode,
			 .deny_default = p->pol.deny_default,
			 .audit_default = p->pol.audit_default, .acct = ps->acct,
			 .flags = unit_flags(p->pol.rules, p->pol.n_rules) },
		.parent_cgid = p->parent_cgid,
		.level = p->level,
	};
	uint64_t owner = ug_byname_owner(ps->h.name);
	size_t written = 0;
	uint16_t id;
	int err;

	err = trie_for(net, owner, p->pol.rules, p->pol.n_rules, &id, p->pol.h.why,
		       sizeof(p->pol.h.why), &written);
	if (err)
		return err;
	val.val.trie = id;
	err = ug_byname_write(&net->pending, &ps->h, &val);
	if (err) {
		ug_tries_put(net->tries, id, owner);
		return err;
	}
	err = move_copies(net, ps->h.trie, &val.val);
	if (err)
		hold_copies(net, ps->h.trie, ps->h.name, err);
	ug_byname_switched(&net->pending, &ps->h, id, p->parent_cgid, p->level, generation);
	ps->digest = rules_digest(p->pol.rules, p->pol.n_rules);
	ps->n_rules = p->pol.n_rules;
	ps->mode = p->pol.h.mode;
	ps->deny_default = p->pol.deny_default;
	ps->audit_default = p->pol.audit_default;
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

static void pending_gone(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err)
{
	struct pending_state *ps = (struct pending_state *)e;
	struct ug_net *net = ctx;

	if (how == UG_BYNAME_STUCK) {
		ug_log(LOG_ERR, "net: %s: cannot remove its pending policy: %s", e->target,
		       strerror(-err));
		return;
	}
	if (how == UG_BYNAME_REMOVED) {
		err = move_copies(net, e->trie, NULL);
		if (err)
			hold_copies(net, e->trie, e->name, err);
		net->pending_changed++;
	}
	if (ps->has_acct && !acct_in_use(net, ps->acct))
		ug_ids_clear(net->acct_used, ps->acct);
}

/*
 * Each changed entry is compiled and switched to at once: the network
 * programs are attached at points, not per policy, so there is nothing to
 * attach first (the LSM side stages its entries and attaches their hooks
 * before switching). Each gets an accounting slot of its own when added.
 */
int ug_net_apply_pending(struct ug_net *net, struct ug_net_pending *p, size_t n,
			 uint32_t generation)
{
	int first_err = 0, err;

	net->pending_changed = 0;
	ug_bynames_begin(&net->pending);
	for (size_t i = 0; i < n; i++) {
		struct ug_unitpol *u = &p[i].pol.h;
		struct pending_state *ps;
		bool added;

		ps = (struct pending_state *)ug_bynames_want(&net->pending, p[i].name,
							     p[i].parent_cgid, p[i].level, u,
							     &first_err, pending_same, &p[i],
							     &added);
		if (!ps)
			continue;
		/* Its own slot: where new cgroups count when the pool of fresh
		 * slots is empty. */
		if (added) {
			err = acct_alloc(net, &ps->acct);
			if (err) {
				ug_bynames_unadd(&net->pending);
				ug_unitpol_fail(u, err, &first_err, "no accounting slot: %s",
						strerror(-err));
				continue;
			}
			ps->has_acct = true;
		}
		err = pending_write(net, ps, &p[i], generation);
		if (err) {
			ug_unitpol_fail(u, err, &first_err, NULL);
			ug_log(LOG_ERR, "net: %s: cannot keep its policy for its next start: %s",
			       ps->h.target, u->why);
			continue;
		}
		net->pending_changed++;
	}
	err = ug_bynames_sweep(&net->pending, pending_gone, net);
	return first_err ?: err;
}

void ug_net_usage(const struct ug_net *net, struct ug_net_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->lpm_used = ug_tries_used(net->tries);
	u->lpm_cap = ug_tries_capacity(net->tries);
	for (uint32_t i = 1; i < N_LISTS; i++)
		u->lists_used += net->lists[i] != NULL;
	u->lists_cap = bpf_map__max_entries(net->skel->maps.ug_lists);
	u->units_used = net->n_units;
	u->units_cap = bpf_map__max_entries(net->skel->maps.ug_units);
	u->tries = ug_tries_count(net->tries);
}

uint32_t ug_net_generation(const struct ug_net *net)
{
	return net->generation;
}

int ug_net_events_map_fd(const struct ug_net *net)
{
	return bpf_map__fd(net->skel->maps.ug_events);
}

/*
 * Send what the kernel aggregated or lost since the last call into the ring
 * (ug_flush, bpf/cgroup/net.bpf.c). The window moves on once
 * a second; entries of windows that ended go. A restarted agent goes on from
 * the window in the map, so entries an earlier agent left are flushed, not
 * orphaned.
 */
int ug_net_flush(struct ug_net *net)
{
	uint64_t now = ug_now_ns();
	__u32 zero = 0;
	struct ug_agg_cfg cfg;

	if (!net->window_ns) {
		if (!bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_agg_cfg), &zero, &cfg))
			net->window = cfg.window + 1;
		net->window_ns = now;
	} else if (now - net->window_ns >= 1000000000ULL) {
		net->window++;
		net->window_ns = now;
	}
	return ug_flush_run(bpf_program__fd(net->skel->progs.ug_flush), net->window,
			    &net->flush_said, "network");
}

uint32_t ug_net_window(const struct ug_net *net)
{
	return net->window;
}

int ug_net_counter(const struct ug_net *net, int which, uint64_t *out)
{
	__u32 key = which;

	return ug_pinned_sum(bpf_map__fd(net->skel->maps.ug_counters), &key, out);
}

int ug_net_counter_add(struct ug_net *net, int which, uint64_t n)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u32 key = which;
	uint64_t *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	/* Only the agent writes this slot: CPU 0's value carries the total. */
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_counters), &key, vals) ||
	    (vals[0] += n,
	     bpf_map_update_elem(bpf_map__fd(net->skel->maps.ug_counters), &key, vals, BPF_ANY)))
		err = -errno;
	free(vals);
	return err;
}

const char *ug_net_target(const struct ug_net *net, uint64_t cgid)
{
	struct ug_unit_val v;

	for (size_t i = 0; i < net->n_units; i++)
		if (net->units[i].h.cgid == cgid)
			return net->units[i].h.target;
	for (size_t i = 0; i < sizeof(net->gone) / sizeof(net->gone[0]); i++)
		if (net->gone[i].cgid == cgid)
			return net->gone[i].target;
	/* A cgroup the cgroup_mkdir program gave a policy kept by name, before
	 * the agent has placed it (a unit's first moments): its trie says whose. */
	if (bpf_map_lookup_elem(bpf_map__fd(net->skel->maps.ug_units), &cgid, &v))
		return NULL;
	for (size_t i = 0; i < net->pending.n; i++)
		if (pend(net, i)->h.trie == v.trie)
			return pend(net, i)->h.target;
	return NULL;
}

/* Delete every key of a pinned map, if it is there. */
static void empty_pinned(const char *pin_dir, const char *name, size_t key_size)
{
	char key[256], next[256];
	int fd;

	if (key_size > sizeof(key) || (fd = ug_pinned_map(pin_dir, name)) < 0)
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
	struct dirent *de;
	int err;
	DIR *d;

	/* Older generations moved aside by a migration: detach their links. */
	d = opendir(pin_dir);
	while (d && (de = readdir(d))) {
		char old[PATH_MAX];

		if (!strncmp(de->d_name, UG_PIN_OLD_PREFIX, strlen(UG_PIN_OLD_PREFIX)) &&
		    !ug_pin_path(old, sizeof(old), pin_dir, de->d_name, UG_PIN_LINKS))
			ug_pin_remove_tree(old, true);
	}
	if (d)
		closedir(d);

	/* Programs someone else still holds (systemd's BPFProgram=, a running
	 * agent's tracepoint links) then find no policy and judge nothing. */
	empty_pinned(pin_dir, "ug_pending_net", sizeof(struct ug_pending_key));
	empty_pinned(pin_dir, "ug_units", sizeof(__u64));

	if (ug_pin_path(links, sizeof(links), pin_dir, UG_PIN_LINKS, NULL))
		return -ENAMETOOLONG;
	err = ug_pin_remove_tree(links, true);
	return ug_pin_remove_tree(pin_dir, false) ?: err;
}
