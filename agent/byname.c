// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "byname.h"
#include "pins.h"
#include "util.h"

struct ug_byname *ug_byname_at(const struct ug_bynames *t, size_t i)
{
	return (struct ug_byname *)((char *)t->v + i * t->size);
}

struct ug_byname *ug_byname_find(const struct ug_bynames *t, const char *name)
{
	size_t lo = 0, hi = t->n_sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ug_byname_at(t, mid)->name, name);

		if (!c)
			return ug_byname_at(t, mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = t->n_sorted; i < t->n; i++)
		if (!strcmp(ug_byname_at(t, i)->name, name))
			return ug_byname_at(t, i);
	return NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ug_byname *)a)->name, ((const struct ug_byname *)b)->name);
}

static void sort(struct ug_bynames *t)
{
	if (t->n) /* v is NULL until the first: qsort() wants a pointer */
		qsort(t->v, t->n, t->size, name_cmp);
	t->n_sorted = t->n;
}

void ug_bynames_free(struct ug_bynames *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->n_sorted = 0;
}

uint64_t ug_byname_owner(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h | 1ULL << 63; /* cgroup ids (inode numbers) stay below */
}

static void key_of(struct ug_pending_key *key, const char *name)
{
	size_t n = strnlen(name, sizeof(key->name) - 1);

	memset(key, 0, sizeof(*key));
	memcpy(key->name, name, n);
}

static struct ug_byname *add(struct ug_bynames *t, const char *name)
{
	struct ug_byname *e = ug_push(&t->v, &t->n, t->size);

	if (!e)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->target, sizeof(e->target), "%s", name);
	return e;
}

/* via: NULL or "" for none; a name that does not fit is cut (and so
 * compares unequal to any request: rewritten). */
static void set_via(struct ug_byname *e, const char *via)
{
	/* From a pinned map's value too: at most its bytes, terminated here. */
	snprintf(e->via, sizeof(e->via), "%.*s", (int)sizeof(e->via) - 1, via ? via : "");
}

void ug_byname_adopted(struct ug_byname *e, uint64_t parent_cgid, uint32_t level,
		       const char *via, uint16_t trie, uint32_t generation)
{
	e->parent_cgid = parent_cgid;
	e->level = level;
	set_via(e, via);
	e->trie = trie;
	e->generation = generation;
}

int ug_bynames_adopt(struct ug_bynames *t, size_t val_size,
		     int (*fill)(void *ctx, struct ug_byname *e, const void *val), void *ctx,
		     uint32_t *generation)
{
	_Alignas(8) char val[256];
	struct ug_pending_key key;
	bool started = false;
	int err;

	if (val_size > sizeof(val))
		return -E2BIG;
	while (ug_map_next(t->fd, &key, sizeof(key), val, &started)) {
		struct ug_byname *e;

		key.name[sizeof(key.name) - 1] = '\0';
		e = add(t, key.name);
		if (!e)
			return -ENOMEM;
		err = fill(ctx, e, val);
		if (err)
			return err;
		ug_tries_claim(t->tries, e->trie);
		if (e->generation > *generation)
			*generation = e->generation;
	}
	sort(t);
	return 0;
}

uint32_t ug_bynames_levels(const struct ug_bynames *t)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < t->n; i++) {
		uint32_t level = ug_byname_at(t, i)->level;

		if (level && level < UG_MAX_LEVELS)
			mask |= 1u << level;
	}
	return mask;
}

void ug_bynames_begin(struct ug_bynames *t)
{
	for (size_t i = 0; i < t->n; i++)
		ug_byname_at(t, i)->seen = false;
}

struct ug_byname *ug_bynames_want(struct ug_bynames *t, const char *name, uint64_t parent_cgid,
				  uint32_t level, const char *via, struct ug_unitpol *u,
				  int *first_err,
				  bool (*pol_same)(const struct ug_byname *e, const void *req),
				  const void *req, bool *added)
{
	struct ug_byname *e;
	bool same_place;

	*added = false;
	ug_unitpol_reset(u);
	if (!name || !name[0] || strchr(name, '/')) {
		ug_unitpol_fail(u, -EINVAL, first_err, "not a cgroup directory name");
		return NULL;
	}
	if (strlen(name) >= UG_NAME_MAX - 1) {
		ug_unitpol_fail(u, -ENAMETOOLONG, first_err,
				"unit name too long for the start-up race map");
		return NULL;
	}
	/* Names are not identity: an entry for "any parent" would give this
	 * policy to a cgroup of that name made anywhere (policy/plan.h). */
	if (!parent_cgid || !level) {
		ug_unitpol_fail(u, -EINVAL, first_err, "no parent cgroup to be made in");
		return NULL;
	}
	via = via ? via : "";
	if (strlen(via) >= UG_NAME_MAX - 1 || strchr(via, '/')) {
		ug_unitpol_fail(u, -EINVAL, first_err, "not a cgroup directory name: %s", via);
		return NULL;
	}
	if (level >= UG_MAX_LEVELS) {
		ug_unitpol_fail(u, -E2BIG, first_err,
				"its cgroup would be at level %u; at most level %d is supported",
				level, UG_MAX_LEVELS - 1);
		return NULL;
	}
	e = ug_byname_find(t, name);
	if (e && e->seen) {
		ug_unitpol_fail(u, -EEXIST, first_err, "a second pending policy for %s", name);
		return NULL;
	}
	if (!e) {
		e = add(t, name);
		if (!e) {
			ug_unitpol_fail(u, -ENOMEM, first_err, NULL);
			return NULL;
		}
		*added = true;
	}
	e->seen = true;
	if (u->target)
		snprintf(e->target, sizeof(e->target), "%s", u->target);
	same_place = e->loaded && e->parent_cgid == parent_cgid && e->level == level &&
		     !strcmp(e->via, via);
	if (u->keep)
		return ug_unitpol_kept(u, same_place, first_err), NULL;
	if (same_place && pol_same(e, req))
		return NULL;
	return e;
}

void ug_bynames_unadd(struct ug_bynames *t)
{
	t->n--;
	if (t->n_sorted > t->n)
		t->n_sorted = t->n;
}

int ug_byname_write(const struct ug_bynames *t, const struct ug_byname *e, const void *val)
{
	struct ug_pending_key key;

	key_of(&key, e->name);
	return bpf_map_update_elem(t->fd, &key, val, BPF_ANY) ? -errno : 0;
}

void ug_byname_switched(struct ug_bynames *t, struct ug_byname *e, uint16_t trie,
			uint64_t parent_cgid, uint32_t level, const char *via,
			uint32_t generation)
{
	/* From here on no new cgroup gets the old trie. */
	ug_tries_put(t->tries, e->trie, ug_byname_owner(e->name));
	e->trie = trie;
	e->parent_cgid = parent_cgid;
	e->level = level;
	set_via(e, via);
	e->generation = generation;
	e->loaded = true;
}

int ug_bynames_sweep(struct ug_bynames *t,
		     void (*gone)(void *ctx, struct ug_byname *e, enum ug_byname_end how, int err),
		     void *ctx)
{
	struct ug_pending_key key;
	int first_err = 0, err;
	size_t kept = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct ug_byname *e = ug_byname_at(t, i);

		if (e->seen && (e->loaded || e->trie)) {
			memmove(ug_byname_at(t, kept++), e, t->size);
			continue;
		}
		if (e->seen) {
			/* New and refused: nothing of it is in the kernel. */
			gone(ctx, e, UG_BYNAME_REFUSED, 0);
			continue;
		}
		key_of(&key, e->name);
		if (bpf_map_delete_elem(t->fd, &key) && errno != ENOENT) {
			/* Fail static: it stays in force, and is tried again next time. */
			err = -errno;
			gone(ctx, e, UG_BYNAME_STUCK, err);
			first_err = first_err ?: err;
			memmove(ug_byname_at(t, kept++), e, t->size);
			continue;
		}
		gone(ctx, e, UG_BYNAME_REMOVED, 0);
		ug_tries_put(t->tries, e->trie, 0);
	}
	t->n = kept;
	sort(t);
	return first_err;
}
