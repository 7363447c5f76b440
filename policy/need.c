// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inherit.h"
#include "need.h"

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

/* A trie or a list: its digest, and what it weighs (entries; 1 for a list). */
struct seen {
	uint64_t digest;
	size_t size;
};

static int seen_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct seen *)a)->digest, y = ((const struct seen *)b)->digest;

	return x < y ? -1 : x > y;
}

/* Distinct items of v[0..n) (sorted in place), and their summed size. */
static size_t distinct(struct seen *v, size_t n, size_t *size)
{
	size_t d = 0;

	*size = 0;
	if (n) /* v is NULL when nothing was gathered */
		qsort(v, n, sizeof(*v), seen_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && v[i].digest == v[i - 1].digest)
			continue;
		d++;
		*size += v[i].size;
	}
	return d;
}

/* Append to a set being gathered (grown by doubling). */
static int push(struct seen **v, size_t *n, size_t *cap, uint64_t digest, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct seen *p = reallocarray(*v, c, sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = (struct seen){ digest, size };
	return 0;
}

/*
 * Tries are told apart by a 64-bit digest of their entries (and their
 * count), as lists are by a digest of their matches: the agent compares
 * them in full, so a collision here could only undercount, with odds of
 * about n^2 / 2^64.
 */
int ug_need_net(const struct ug_need_target *t, size_t n, struct ug_need *out, size_t *bad,
		char *why, size_t whylen)
{
	const char **paths = calloc(n ?: 1, sizeof(*paths));
	struct ug_settings *own = calloc(n ?: 1, sizeof(*own));
	size_t *chain = calloc(n ?: 1, sizeof(*chain));
	uint8_t *depth = calloc(n ?: 1, sizeof(*depth));
	struct seen *tries = NULL, *lists = NULL;
	size_t n_tries = 0, cap_tries = 0, n_lists = 0, cap_lists = 0;
	struct ug_inherit h = {};
	struct ug_rule *rules = NULL;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!paths || !own || !chain || !depth)
		goto out;
	for (size_t i = 0; i < n; i++) {
		paths[i] = t[i].path;
		own[i].net_rules = t[i].n_rules > 0;
		own[i].deny_default = t[i].deny_default ? 1 : 0;
	}
	err = ug_inherit_build(paths, n, &h);
	if (err)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct ug_lpm_entry *e = NULL;
		size_t total = 0, k = 0, n_e = 0;
		ssize_t n_c;
		uint64_t d;

		if (h.rep[i] != (ssize_t)i || !ug_inherit_has_side(&h, own, i, false))
			continue;
		n_c = ug_inherit_chain(&h, i, chain, depth, n);
		if (n_c < 0) {
			err = (int)n_c;
			goto out;
		}
		for (ssize_t c = 0; c < n_c; c++)
			total += t[chain[c]].n_rules;
		free(rules);
		rules = calloc(total ?: 1, sizeof(*rules));
		if (!rules) {
			err = -ENOMEM;
			goto out;
		}
		for (ssize_t c = 0; c < n_c; c++) {
			for (size_t j = 0; j < t[chain[c]].n_rules; j++, k++) {
				rules[k] = t[chain[c]].rules[j];
				rules[k].depth = depth[c];
			}
		}
		err = ug_compile(rules, total, 0, &e, &n_e, why, whylen);
		if (err) {
			if (bad)
				*bad = i;
			goto out;
		}
		out->groups++;
		d = fnv(&n_e, sizeof(n_e), 0xcbf29ce484222325ULL);
		d = fnv(e, n_e * sizeof(*e), d);
		err = push(&tries, &n_tries, &cap_tries, d, n_e);
		for (size_t j = 0; j < n_e && !err; j++)
			if (e[j].val.n > 1)
				err = push(&lists, &n_lists, &cap_lists,
					   fnv(&e[j].val, sizeof(e[j].val), 0xcbf29ce484222325ULL), 1);
		free(e);
		if (err)
			goto out;
	}
	out->tries = distinct(tries, n_tries, &out->entries);
	out->lists = distinct(lists, n_lists, &n_lists);
	err = 0;
out:
	free(rules);
	free(tries);
	free(lists);
	ug_inherit_free(&h);
	free(paths);
	free(own);
	free(chain);
	free(depth);
	return err;
}
