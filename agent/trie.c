// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "log.h"
#include "trie.h"
#include "util.h"

#define N_IDS 65536
#define ID_OFF 4 /* the trie id's offset in every key: after prefixlen */
/* Readers of a retired trie are programs already running when it was
 * switched away from; they finish within microseconds. */
#define GRACE_NS (500 * 1000 * 1000ULL)
/* Below this a trie is written whole faster than a standby is worth its
 * memory (two syscalls a ~2 us per entry). */
#define STANDBY_MIN 4096
#define BUCKETS 4096

struct trie {
	uint16_t id;
	uint32_t refs;
	uint64_t digest;     /* of the content with trie id 0; 0: unknown (adopted) */
	char *e;             /* n entries, trie id 0 in memory; sorted unless adopted */
	size_t n;
	size_t deleted;      /* while being freed: entries [0, deleted) are gone */
	uint64_t owner;      /* whose it was last */
	uint64_t retired_ns; /* when it lost its last reference */
	bool adopted;        /* found in the map at start: values unknown */
	bool standby, freeing;
	struct trie *next;   /* in its digest bucket */
};

struct ug_tries {
	int fd;
	uint32_t cap;
	struct ug_tries_ops ops;
	size_t esz;
	struct trie *byid[N_IDS];
	struct trie *bucket[BUCKETS];
	struct trie **sb; /* standbys */
	size_t n_sb;
	size_t used;      /* sum over tries of n - deleted: entries in the map */
	size_t count, adopted;
	uint32_t next_id;
	char key[512]; /* a key with its trie id set, for map calls */
};

static void *entry(const struct ug_tries *t, const struct trie *tr, size_t i)
{
	return tr->e + i * t->esz;
}

static const void *value(const struct ug_tries *t, const void *e)
{
	return (const char *)e + t->ops.key_size;
}

static uint64_t digest_of(const struct ug_tries *t, const char *e, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < n * t->esz; i++)
		h = (h ^ (unsigned char)e[i]) * 0x100000001b3ULL;
	return h | 1; /* 0 is "unknown" */
}

static void *map_key(struct ug_tries *t, const void *e, uint16_t id)
{
	memcpy(t->key, e, t->ops.key_size);
	memcpy(t->key + ID_OFF, &id, sizeof(id));
	return t->key;
}

static void hash_add(struct ug_tries *t, struct trie *tr)
{
	struct trie **b = &t->bucket[tr->digest % BUCKETS];

	tr->next = *b;
	*b = tr;
}

static void hash_del(struct ug_tries *t, struct trie *tr)
{
	for (struct trie **pp = &t->bucket[tr->digest % BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == tr) {
			*pp = tr->next;
			tr->next = NULL;
			return;
		}
	}
}

static void release(struct ug_tries *t, const void *e)
{
	if (t->ops.release)
		t->ops.release(t->ops.ctx, value(t, e));
}

int ug_tries_new(int map_fd, uint32_t capacity, const struct ug_tries_ops *ops,
		 struct ug_tries **out)
{
	struct ug_tries *t;

	*out = NULL;
	if (ops->key_size > sizeof(t->key) || ops->key_size < ID_OFF + 2)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = map_fd;
	t->cap = capacity;
	t->ops = *ops;
	t->esz = ops->key_size + ops->val_size;
	t->next_id = 1;
	*out = t;
	return 0;
}

static void sb_del(struct ug_tries *t, struct trie *tr)
{
	for (size_t i = 0; i < t->n_sb; i++) {
		if (t->sb[i] == tr) {
			t->sb[i] = t->sb[--t->n_sb];
			break;
		}
	}
	tr->standby = false;
}

static int sb_add(struct ug_tries *t, struct trie *tr)
{
	struct trie **v = reallocarray(t->sb, t->n_sb + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	t->sb = v;
	t->sb[t->n_sb++] = tr;
	tr->standby = true;
	return 0;
}

static void trie_drop(struct ug_tries *t, struct trie *tr)
{
	if (!tr->freeing && tr->digest)
		hash_del(t, tr);
	if (tr->standby)
		sb_del(t, tr);
	t->used -= tr->n - tr->deleted;
	if (tr->adopted)
		t->adopted--;
	t->byid[tr->id] = NULL;
	t->count--;
	free(tr->e);
	free(tr);
}

void ug_tries_free(struct ug_tries *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < N_IDS; i++)
		if (t->byid[i])
			trie_drop(t, t->byid[i]);
	free(t->sb);
	free(t);
}

static struct trie *trie_new(struct ug_tries *t, uint16_t id)
{
	struct trie *tr = calloc(1, sizeof(*tr));

	if (!tr)
		return NULL;
	tr->id = id;
	t->byid[id] = tr;
	t->count++;
	return tr;
}

/* An unused id, round robin: a just-freed id is handed out last. */
static int id_alloc(struct ug_tries *t, uint16_t *id)
{
	for (uint32_t k = 0; k < N_IDS - 1; k++) {
		uint32_t i = (t->next_id + k - 1) % (N_IDS - 1) + 1;

		if (!t->byid[i]) {
			*id = (uint16_t)i;
			t->next_id = i % (N_IDS - 1) + 1;
			return 0;
		}
	}
	return -ENOSPC;
}

int ug_tries_adopt(struct ug_tries *t)
{
	char *key = calloc(1, t->ops.key_size), *next = calloc(1, t->ops.key_size);
	void *prev = NULL;
	int err = 0;

	if (!key || !next) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(t->fd, prev, next)) {
		struct trie *tr;
		uint16_t id;
		char *e;

		memcpy(key, next, t->ops.key_size);
		prev = key;
		memcpy(&id, key + ID_OFF, sizeof(id));
		tr = t->byid[id];
		if (!tr) {
			tr = trie_new(t, id);
			if (!tr) {
				err = -ENOMEM;
				break;
			}
			tr->adopted = true; /* retired_ns 0: quiet at once unless claimed */
			t->adopted++;
		}
		e = realloc(tr->e, (tr->n + 1) * t->esz);
		if (!e) {
			err = -ENOMEM;
			break;
		}
		tr->e = e;
		memset(entry(t, tr, tr->n), 0, t->esz);
		memcpy(entry(t, tr, tr->n), key, t->ops.key_size);
		memset((char *)entry(t, tr, tr->n) + ID_OFF, 0, 2);
		tr->n++;
		t->used++;
	}
out:
	free(key);
	free(next);
	return err;
}

void ug_tries_claim(struct ug_tries *t, uint16_t id)
{
	struct trie *tr = t->byid[id];

	if (!id)
		return;
	if (!tr) {
		/* Referred to, but holds no entry: keep the id taken. */
		tr = trie_new(t, id);
		if (!tr)
			return;
		tr->adopted = true;
		t->adopted++;
	}
	tr->refs++;
}

size_t ug_tries_adopted(const struct ug_tries *t)
{
	return t->adopted;
}

/* Delete entries [from, to) of tr from the map, releasing their values.
 * The caller accounts for them (tr->deleted, or the trie's drop). */
static void delete_range(struct ug_tries *t, struct trie *tr, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		void *e = entry(t, tr, i);

		if (bpf_map_delete_elem(t->fd, map_key(t, e, tr->id)) && errno != ENOENT)
			ug_log(LOG_WARNING, "%s: deleting an entry of trie %u: %s", t->ops.what,
			       tr->id, strerror(errno));
		if (!tr->adopted)
			release(t, e);
	}
}

/* Write e[0..n) as trie id; on error nothing of it stays. */
static int write_all(struct ug_tries *t, uint16_t id, char *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *x = e + i * t->esz;

		if (bpf_map_update_elem(t->fd, map_key(t, x, id), value(t, x), BPF_NOEXIST)) {
			int err = -errno;

			for (size_t j = 0; j < i; j++)
				bpf_map_delete_elem(t->fd, map_key(t, e + j * t->esz, id));
			return err;
		}
	}
	return 0;
}

static struct trie *find(const struct ug_tries *t, uint64_t digest, const char *e, size_t n)
{
	for (struct trie *tr = t->bucket[digest % BUCKETS]; tr; tr = tr->next)
		/* Empty tries have no entries to compare (and e may be NULL). */
		if (tr->digest == digest && tr->n == n && (!n || !memcmp(tr->e, e, n * t->esz)))
			return tr;
	return NULL;
}

/*
 * Bring standby s (no reader) to e[0..n), writing only what differs. On
 * error the standby's keys and e's are deleted and -errno returned; the
 * caller drops s (its values are released here) and still owns e.
 */
static int rewrite(struct ug_tries *t, struct trie *s, char *e, size_t n, size_t *written)
{
	size_t i = 0, j = 0;
	int err = 0;

	while (!err && (i < s->n || j < n)) {
		void *a = i < s->n ? entry(t, s, i) : NULL, *b = j < n ? e + j * t->esz : NULL;
		int c = !a ? 1 : !b ? -1 : t->ops.cmp(a, b);

		if (c < 0) {
			if (bpf_map_delete_elem(t->fd, map_key(t, a, s->id)) && errno != ENOENT)
				err = -errno;
			i++;
			continue;
		}
		if (c > 0 || memcmp(value(t, a), value(t, b), t->ops.val_size)) {
			if (bpf_map_update_elem(t->fd, map_key(t, b, s->id), value(t, b), BPF_ANY))
				err = -errno;
			else
				(*written)++;
		}
		i += c == 0;
		j++;
	}
	if (err) {
		/* What it holds now is neither: delete both sets of keys. */
		for (size_t k = 0; k < n; k++)
			bpf_map_delete_elem(t->fd, map_key(t, e + k * t->esz, s->id));
		delete_range(t, s, 0, s->n);
		return err;
	}
	/* Values that left: the standby's, where the new set differs. */
	for (i = 0, j = 0; i < s->n; i++) {
		void *a = entry(t, s, i);
		int c = 1;

		while (j < n && (c = t->ops.cmp(e + j * t->esz, a)) < 0)
			j++;
		if (c || memcmp(value(t, a), value(t, e + j * t->esz), t->ops.val_size))
			release(t, a);
		else
			release(t, e + j * t->esz); /* the same value: one reference is enough */
	}
	return 0;
}

int ug_tries_get(struct ug_tries *t, uint64_t owner, void *entries, size_t n, uint16_t *id,
		 size_t *written)
{
	char *e = entries;
	struct trie *tr, *standby = NULL;
	uint64_t digest;
	int err;

	for (size_t i = 0; i < n; i++)
		memset(e + i * t->esz + ID_OFF, 0, 2);
	digest = digest_of(t, e, n);
	tr = find(t, digest, e, n);
	if (tr) {
		/* Shared: its entries hold the references already. */
		for (size_t i = 0; i < n; i++)
			release(t, e + i * t->esz);
		free(e);
		tr->refs++;
		if (tr->standby)
			sb_del(t, tr);
		tr->owner = owner;
		*id = tr->id;
		return 0;
	}
	for (size_t i = 0; i < t->n_sb && !standby; i++)
		if (t->sb[i]->owner == owner)
			standby = t->sb[i];
	if (standby && t->used - standby->n + n <= t->cap) {
		sb_del(t, standby);
		hash_del(t, standby);
		err = rewrite(t, standby, e, n, written);
		if (!err) {
			t->used = t->used - standby->n + n;
			free(standby->e);
			standby->e = e;
			standby->n = n;
			standby->digest = digest;
			standby->refs = 1;
			hash_add(t, standby);
			*id = standby->id;
			return 0;
		}
		ug_log(LOG_WARNING, "%s: rewriting a standby trie failed (%s); writing a new one",
		       t->ops.what, strerror(-err));
		standby->digest = 0; /* out of the hash already */
		standby->freeing = true;
		trie_drop(t, standby);
	}
	if (t->used + n > t->cap)
		ug_tries_collect(t, true, 0); /* standbys are only a speed-up */
	if (t->used + n > t->cap)
		return -ENOSPC;
	err = id_alloc(t, id);
	if (err)
		return err;
	err = write_all(t, *id, e, n);
	if (err)
		return err;
	*written += n;
	tr = trie_new(t, *id);
	if (!tr) {
		for (size_t i = 0; i < n; i++)
			bpf_map_delete_elem(t->fd, map_key(t, e + i * t->esz, *id));
		return -ENOMEM;
	}
	t->used += n;
	tr->e = e;
	tr->n = n;
	tr->digest = digest;
	tr->refs = 1;
	tr->owner = owner;
	hash_add(t, tr);
	return 0;
}

void ug_tries_put(struct ug_tries *t, uint16_t id, uint64_t owner)
{
	struct trie *tr = id ? t->byid[id] : NULL;

	if (!tr || !tr->refs)
		return;
	if (--tr->refs)
		return;
	tr->retired_ns = ug_now_ns();
	tr->owner = owner; /* 0: no owner left, so no standby */
}

void ug_tries_collect(struct ug_tries *t, bool all, size_t budget)
{
	uint64_t now = ug_now_ns();
	size_t spent = 0;

	for (size_t i = 1; i < N_IDS; i++) {
		struct trie *tr = t->byid[i];
		size_t to;

		if (!tr || tr->refs || now - tr->retired_ns < GRACE_NS)
			continue;
		if (tr->standby && !all)
			continue;
		if (!tr->freeing && !all && !tr->adopted && tr->owner && tr->n >= STANDBY_MIN) {
			/* One standby per owner, the newest; the older is freed. */
			for (size_t k = 0; k < t->n_sb; k++) {
				if (t->sb[k]->owner == tr->owner) {
					sb_del(t, t->sb[k]);
					break;
				}
			}
			if (!sb_add(t, tr))
				continue;
		}
		if (!tr->freeing) {
			if (tr->digest)
				hash_del(t, tr);
			if (tr->standby)
				sb_del(t, tr);
			tr->freeing = true;
		}
		to = budget && tr->n - tr->deleted > budget - spent ? tr->deleted + (budget - spent)
								       : tr->n;
		delete_range(t, tr, tr->deleted, to);
		spent += to - tr->deleted;
		t->used -= to - tr->deleted;
		tr->deleted = to;
		if (tr->deleted == tr->n)
			trie_drop(t, tr);
		if (budget && spent >= budget)
			return;
	}
}

size_t ug_tries_used(const struct ug_tries *t)
{
	return t->used;
}

uint32_t ug_tries_capacity(const struct ug_tries *t)
{
	return t->cap;
}

size_t ug_tries_size(const struct ug_tries *t, uint16_t id)
{
	return t->byid[id] ? t->byid[id]->n : 0;
}

size_t ug_tries_count(const struct ug_tries *t)
{
	return t->count;
}
