// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inherit.h"
#include "unitguard.h"

bool ug_settings_net(const struct ug_settings *s)
{
	return s->net_rules || s->deny_default;
}

bool ug_settings_lsm(const struct ug_settings *s)
{
	return s->lsm_rules || s->families || s->harden;
}

/* Sorting needs the paths; qsort has no context argument. */
struct sorted {
	const char *path;
	size_t idx;
};

static int sorted_cmp(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* First (lowest index) entry with exactly this path, or -1. */
static ssize_t find(const struct sorted *s, size_t n, const char *path, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(s[mid].path, path, len);

		if (!c && s[mid].path[len])
			c = 1; /* longer than the prefix: sorts after it */
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && !strncmp(s[lo].path, path, len) && !s[lo].path[len])
		return (ssize_t)s[lo].idx;
	return -1;
}

int ug_inherit_build(const char *const *paths, size_t n, struct ug_inherit *out)
{
	struct sorted *s = calloc(n ?: 1, sizeof(*s));
	size_t m = 0;

	out->n = n;
	out->rep = calloc(n ?: 1, sizeof(*out->rep));
	out->parent = calloc(n ?: 1, sizeof(*out->parent));
	out->next = calloc(n ?: 1, sizeof(*out->next));
	if (!s || !out->rep || !out->parent || !out->next) {
		free(s);
		ug_inherit_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		out->rep[i] = (ssize_t)i;
		out->parent[i] = -1;
		out->next[i] = -1;
		if (paths[i])
			s[m++] = (struct sorted){ .path = paths[i], .idx = i };
	}
	qsort(s, m, sizeof(*s), sorted_cmp);
	for (size_t k = 0; k < m; k++) {
		const char *p = s[k].path;
		size_t len = strlen(p);

		out->rep[s[k].idx] = find(s, m, p, len);
		/* Ancestors: the path cut at each '/', longest first. */
		while (len > 0) {
			ssize_t a;

			while (len > 0 && p[len - 1] != '/')
				len--;
			if (len > 1)
				len--; /* drop the '/' itself, except the root's */
			else if (len == 1 && p[0] == '/' && p[1] == '\0')
				break;
			a = find(s, m, p, len);
			if (a >= 0) {
				out->parent[s[k].idx] = a;
				break;
			}
			if (len == 1)
				break;
		}
	}
	/* Equal paths are adjacent in s, in input order: chain them. */
	for (size_t k = 1; k < m; k++)
		if (!strcmp(s[k - 1].path, s[k].path))
			out->next[s[k - 1].idx] = (ssize_t)s[k].idx;
	free(s);
	return 0;
}

void ug_inherit_free(struct ug_inherit *h)
{
	free(h->rep);
	free(h->parent);
	free(h->next);
	h->rep = h->parent = h->next = NULL;
	h->n = 0;
}

static bool own_side(const struct ug_settings *s, bool lsm)
{
	return s->mode != UG_MODE_OFF && (lsm ? ug_settings_lsm(s) : ug_settings_net(s));
}

/* What node j brings to a policy cgroup, by its own mode. */
static void bring(struct ug_settings *out, const struct ug_settings *j)
{
	if (j->mode == UG_MODE_ENFORCE) {
		out->deny_default |= j->deny_default;
		out->harden |= j->harden;
		out->families |= j->families;
	} else if (j->mode == UG_MODE_AUDIT) {
		out->audit_default |= j->deny_default;
		out->harden_audit |= j->harden;
		out->families_audit |= j->families;
	} else {
		return;
	}
	out->net_rules |= j->net_rules;
	out->lsm_rules |= j->lsm_rules;
	/* A side is enforced once anything of it is (set to audit at the start). */
	if (j->mode == UG_MODE_ENFORCE && ug_settings_net(j))
		out->mode = UG_MODE_ENFORCE;
	if (j->mode == UG_MODE_ENFORCE && ug_settings_lsm(j))
		out->lsm_mode = UG_MODE_ENFORCE;
}

void ug_inherit_effective(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			  struct ug_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = UG_MODE_AUDIT;
	out->lsm_mode = UG_MODE_AUDIT;
	for (ssize_t a = h->rep[i]; a >= 0; a = h->parent[a])
		for (ssize_t j = h->rep[a]; j >= 0; j = h->next[j])
			bring(out, &own[j]);
	/* What one cgroup enforces is not also audited. */
	out->audit_default &= ~out->deny_default;
	out->harden_audit &= ~out->harden;
	out->families_audit &= ~out->families;
}

bool ug_inherit_has_side(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			 bool lsm)
{
	for (ssize_t j = h->rep[i]; j >= 0; j = h->next[j])
		if (own_side(&own[j], lsm))
			return true;
	return false;
}

bool ug_inherit_topmost(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
			bool lsm)
{
	if (!ug_inherit_has_side(h, own, i, lsm))
		return false;
	for (ssize_t p = h->parent[i]; p >= 0; p = h->parent[p])
		if (ug_inherit_has_side(h, own, (size_t)p, lsm))
			return false;
	return true;
}

ssize_t ug_inherit_chain(const struct ug_inherit *h, size_t i, size_t *chain, uint8_t *depth,
			 size_t max)
{
	size_t k = 0;
	uint8_t d = 0;

	for (ssize_t g = h->rep[i]; g >= 0; g = h->parent[g], d++) {
		for (ssize_t j = g; j >= 0; j = h->next[j]) {
			if (k == max)
				return -ENOSPC;
			chain[k] = (size_t)j;
			depth[k++] = d;
		}
	}
	return (ssize_t)k;
}
