// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Rule lists and tries: compiles a unit's rules into trie entries, shares the
 * lists of entries with several rules in ug_lists (one copy per distinct
 * list, reference counted), and gets a trie holding them from the engine
 * (agent/trie.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "net_internal.h"

/* What the engine stores and the map holds: a key and its narrow value. */
struct ug_lpm_kv {
	struct ug_lpm_key key;
	struct ug_match val;
};
_Static_assert(sizeof(struct ug_lpm_kv) == sizeof(struct ug_lpm_key) + sizeof(struct ug_match),
	       "ug_lpm_kv must be key then value, unpadded: the engine packs them");

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

void net_list_put(struct ug_net *net, uint32_t id)
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
void net_release_val(void *ctx, const void *val)
{
	const struct ug_match *m = val;

	if (m->flags & UG_LPM_LIST)
		net_list_put(ctx, m->rule_id);
}

int net_key_cmp(const void *a, const void *b)
{
	return ug_lpm_key_cmp(a, b);
}

/* Lists a killed agent left: kept, since the tries it left may point at
 * them, until every adopted trie is gone (their values are not known). */
int net_adopt_lists(struct ug_net *net)
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
			net_release_val(net, &kv[k].val);
		free(kv);
		return err;
	}
	*out = kv;
	return 0;
}

uint64_t net_rules_digest(const struct ug_rule *rules, size_t n)
{
	return fnv(rules, n * sizeof(*rules), 0xcbf29ce484222325ULL);
}

/*
 * A trie holding the compiled rules (an existing one with the same entries,
 * or a new one, from the owner's standby when it has one). why: the
 * compiler's complaint. *written: map updates made.
 */
int net_trie_for(struct ug_net *net, uint64_t owner, const struct ug_rule *rules, size_t n,
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
			net_release_val(net, &kv[i].val);
		free(kv);
		if (err == -ENOSPC)
			snprintf(why, whylen, "ug_lpm is full: %zu of %u entries used, %zu more needed",
				 ug_tries_used(net->tries), ug_tries_capacity(net->tries), n_e);
	}
	return err;
}
