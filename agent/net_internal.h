/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the net_*.c files share: the loader's state (struct ug_net) and the
 * functions one of them calls in another. Not an interface: callers include
 * net.h.
 */
#ifndef UG_NET_INTERNAL_H
#define UG_NET_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byname.h"
#include "net.h"
#include "trie.h"
#include "unitpol.h"
#include "util.h"
#include "net.skel.h"

#define N_LISTS UG_LISTS_MAX
#define N_LIST_PTRS N_LISTS
#define LIST_BUCKETS 4096

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
	bool gen_dirty;  /* ug_units changed since ug_config.gen was last bumped (net_gen_bump) */
	bool gen_said;   /* the bump failing: said once */
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

static inline struct pending_state *pend(const struct ug_net *net, size_t i)
{
	return (struct pending_state *)ug_byname_at(&net->pending, i);
}

/* net_lists.c: rule lists and the tries built from compiled rules */
void net_list_put(struct ug_net *net, uint32_t id);
void net_release_val(void *ctx, const void *val);
int net_key_cmp(const void *a, const void *b);
int net_adopt_lists(struct ug_net *net);
uint64_t net_rules_digest(const struct ug_rule *rules, size_t n);
int net_trie_for(struct ug_net *net, uint64_t owner, const struct ug_rule *rules, size_t n,
		 uint16_t *id, char *why, size_t whylen, size_t *written);

/* net_acct.c: accounting slots, final counts */
int net_acct_alloc(struct ug_net *net, uint16_t *slot);
void net_acct_pool_fill(struct ug_net *net);
void net_acct_reclaim(struct ug_net *net);
void net_acct_pool_adopt(struct ug_net *net);
void net_remember_gone(struct ug_net *net, const struct unit_state *s);

/* net_attach.c: the programs' links */
int net_prog_index(const struct ug_net *net, const char *name);
struct attachment *net_att_find(struct ug_net *net, uint64_t cgid);
struct attachment *net_att_add(struct ug_net *net, uint64_t cgid);
int net_attach_tracepoints(struct ug_net *net);
void net_unpin_old_programs(struct ug_net *net);
int net_attach(struct ug_net *net, struct ug_net_point *pt);
void net_detach(struct ug_net *net, struct attachment *a);

#endif
