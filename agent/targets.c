// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effective.h"
#include "log.h"
#include "row.h"
#include "targets.h"

/* What one read of a unit's rules yields. */
struct loaded {
	const char *target;
	struct ug_own_rules own;
};

static void loaded_free(struct loaded *l)
{
	ug_own_rules_free(&l->own);
}

/* One row, read as policy/row.c reads it: a row that does not parse is not enforced. */
static int load_rule(const struct ug_store_rule *r, void *ctx)
{
	struct loaded *l = ctx;
	const char *why = NULL;
	int err = ug_own_rules_add(&l->own, &UG_RULE_ROW(r), &why);

	if (err != -EINVAL)
		return err;
	ug_log(LOG_ERR, "agent: store rule %" PRId64 " of %s (%s) is invalid (%s); NOT enforced",
	       r->id, l->target, r->direction ? r->direction : "no direction",
	       why ? why : "bad direction, action, protocol, ports, path, family or id");
	return 0;
}

static int read_rules(struct ug_store *st, int64_t unit_id, const char *target, struct loaded *l)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->target = target;
	err = ug_store_unit_rules(st, unit_id, load_rule, l);
	if (err)
		loaded_free(l);
	return err;
}

/* The store's view of one units row, validated. */
struct row {
	char name[TARGET_MAX];
	int64_t id, rev;
	struct ug_settings s;
	unsigned bad; /* UG_SET_* columns that did not parse (their last valid value kept) */
};

struct rows {
	struct row *v;
	size_t n, cap;
	const struct targets *ts; /* the last valid read */
	int64_t *bad_ids;         /* rows whose target does not parse */
	size_t n_bad;
};

/* The target the store's units row `id` was at the last read, or NULL. */
static struct target *by_unit_id(const struct targets *ts, int64_t id)
{
	for (size_t i = 0; i < ts->n; i++)
		if (ts->v[i]->unit_id == id)
			return ts->v[i];
	return NULL;
}

void targets_bad_columns(unsigned bad, char *buf, size_t len)
{
	static const char *const names[] = { "mode", "default_egress", "default_ingress",
					      "harden" };
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < 4; k++) {
		int w;

		if (!(bad & 1u << k))
			continue;
		w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[k]);
		if (w > 0 && (size_t)w < len - off)
			off += (size_t)w;
	}
}

static int collect_unit(const struct ug_store_unit *u, void *ctx)
{
	struct rows *rs = ctx;
	const struct target *last;
	const char *why = NULL;
	struct row *r;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct row *v = reallocarray(rs->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	r = &rs->v[rs->n];
	memset(r, 0, sizeof(*r));
	if (!u->target || strlen(u->target) >= TARGET_MAX ||
	    ug_target_parse(u->target, &why) < 0) {
		/* Unknown, not gone: what that row was stays in force. */
		int64_t *v = reallocarray(rs->bad_ids, rs->n_bad + 1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		rs->bad_ids = v;
		rs->bad_ids[rs->n_bad++] = u->id;
		ug_log(LOG_ERR, "agent: store unit %" PRId64 " has an invalid target (%s); what "
		       "it was last stays in force, changes to it are NOT", u->id,
		       why ? why : "too long or missing");
		return 0;
	}
	snprintf(r->name, sizeof(r->name), "%s", u->target);
	r->id = u->id;
	r->rev = u->rev;
	last = targets_find(rs->ts, u->target);
	r->bad = ug_settings_parse_each(u->mode, u->default_egress, u->default_ingress, u->harden,
					last && last->unit_id == u->id ? &last->own : NULL, &r->s);
	if (r->bad) {
		char cols[80];

		targets_bad_columns(r->bad, cols, sizeof(cols));
		ug_log(LOG_ERR, "agent: store unit '%s' has invalid settings (%s); for those the "
		       "last valid value is enforced (the default if none was)", u->target, cols);
	}
	rs->n++;
	return 0;
}

static bool settings_same(const struct ug_settings *a, const struct ug_settings *b)
{
	return a->mode == b->mode && a->deny_default == b->deny_default && a->harden == b->harden;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct target *const *)a)->name, (*(struct target *const *)b)->name);
}

struct target *targets_find(const struct targets *ts, const char *name)
{
	size_t lo = 0, hi = ts->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ts->v[mid]->name, name);

		if (!c)
			return ts->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void target_free(struct target *t)
{
	if (!t)
		return;
	targets_unload(t);
	free(t->w.path);
	free(t->w.future);
	free(t->last_loc);
	free(t);
}

/* A target built from a row and its freshly read rules. */
static struct target *target_new(const struct row *r, struct loaded *l)
{
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", r->name);
	t->unit_id = r->id;
	t->rev = r->rev;
	t->own = r->s;
	t->bad_settings = r->bad;
	ug_own_rules_settings(&l->own, &t->own);
	memcpy(t->family_rule, l->own.family_rule, sizeof(t->family_rule));
	t->n_net = l->own.n_rules;
	t->n_paths = l->own.n_paths;
	t->invalid = l->own.invalid;
	t->rules = l->own.rules;
	t->paths = l->own.paths;
	t->loaded = true;
	t->changed = true;
	t->w.err = -ENOENT;
	t->w.stale = true;
	t->state = -1;
	l->own.rules = NULL;
	l->own.paths = NULL;
	return t;
}

/* Nothing to enforce and nothing set: not a target (it gets no program). */
static bool empty(const struct target *t)
{
	return !t->n_net && !t->n_paths && !t->own.families && !t->invalid && !t->bad_settings &&
	       t->own.mode == UG_MODE_ENFORCE && !t->own.deny_default && !t->own.harden;
}

int targets_sync(struct targets *ts, struct ug_store *st, struct gone **gone, size_t *n_gone)
{
	struct rows rs = { .ts = ts };
	struct target **next = NULL, **fresh = NULL;
	struct gone *names = NULL;
	size_t n_next = 0, n_fresh = 0, n_names = 0;
	int64_t version;
	int err;

	*gone = NULL;
	*n_gone = 0;
	/* A newer schema means a newer build owns the store: do not guess at it. */
	err = ug_store_check_schema(st);
	if (!err)
		err = ug_store_policy_version(st, &version);
	if (!err)
		err = ug_store_units(st, collect_unit, &rs);
	if (err)
		goto out;
	next = calloc(rs.n ?: 1, sizeof(*next));
	fresh = calloc(rs.n ?: 1, sizeof(*fresh));
	if (!next || !fresh) {
		err = -ENOMEM;
		goto out;
	}
	/* Rows come ordered by target, so next[] is sorted by name. */
	for (size_t i = 0; i < rs.n; i++) {
		const struct row *r = &rs.v[i];
		struct target *old = targets_find(ts, r->name), *t;
		struct loaded l;

		if (old && old->unit_id == r->id && old->rev == r->rev &&
		    settings_same(&old->own, &r->s) && old->bad_settings == r->bad) {
			old->changed |= old->bad_row; /* its status says so no more */
			old->bad_row = false;
			next[n_next++] = old;
			continue;
		}
		err = read_rules(st, r->id, r->name, &l);
		if (err)
			goto out;
		t = target_new(r, &l);
		loaded_free(&l);
		if (!t) {
			err = -ENOMEM;
			goto out;
		}
		fresh[n_fresh++] = t;
		if (empty(t))
			continue; /* settings back to defaults and no rules: not a target */
		next[n_next++] = t;
	}
	/* Rows whose target no longer parses: what they were stays, as it was. */
	if (rs.n_bad) {
		struct target **v = reallocarray(next, n_next + rs.n_bad, sizeof(*v));

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		next = v;
	}
	for (size_t k = 0; k < rs.n_bad; k++) {
		struct target *old = by_unit_id(ts, rs.bad_ids[k]);
		bool dup = false;

		for (size_t j = 0; old && j < n_next && !dup; j++)
			dup = next[j] == old || !strcmp(next[j]->name, old->name);
		if (!old || dup)
			continue;
		old->changed |= !old->bad_row; /* its status must say so */
		old->bad_row = true;
		next[n_next++] = old;
	}
	if (rs.n_bad)
		qsort(next, n_next, sizeof(*next), name_cmp);
	/* Commit: nothing below fails. Replaced targets hand over where they are. */
	names = calloc(ts->n ?: 1, sizeof(*names));
	if (!names) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n_next; k++)
		next[k]->seen = true;
	for (size_t i = 0; i < ts->n; i++) {
		struct target *old = ts->v[i], *now = NULL;

		if (old->seen)
			continue;
		for (size_t k = 0; k < n_fresh && !now; k++)
			if (!strcmp(fresh[k]->name, old->name))
				now = fresh[k];
		if (now) {
			now->w = old->w;
			memset(&old->w, 0, sizeof(old->w));
			now->last_loc = old->last_loc;
			now->last_id = old->last_id;
			now->last_parent = old->last_parent;
			old->last_loc = NULL;
			now->state = old->state;
			now->generation = old->generation;
		}
		if (!now || empty(now)) {
			const char *loc = now ? now->w.path ?: now->w.future
					      : old->w.path ?: old->w.future;

			names[n_names].name = strdup(old->name); /* NULL on ENOMEM: skipped */
			names[n_names++].loc = loc ? strdup(loc) : NULL;
		}
		target_free(old);
	}
	for (size_t k = 0; k < n_fresh; k++)
		if (!fresh[k]->seen)
			target_free(fresh[k]);
	for (size_t k = 0; k < n_next; k++)
		next[k]->seen = false;
	free(fresh);
	fresh = NULL;
	free(ts->v);
	ts->v = next;
	ts->n = n_next;
	next = NULL;
	ts->policy_version = version;
	*gone = names;
	*n_gone = n_names;
	names = NULL;
out:
	if (fresh)
		for (size_t k = 0; k < n_fresh; k++)
			target_free(fresh[k]);
	free(fresh);
	free(next);
	free(names);
	free(rs.v);
	free(rs.bad_ids);
	return err;
}

void targets_forget_revs(struct targets *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		ts->v[i]->rev = -1;
}

int targets_rules(struct targets *ts, struct ug_store *st, struct target *t)
{
	struct loaded l;
	int err;

	if (t->loaded)
		return 0;
	err = read_rules(st, t->unit_id, t->name, &l);
	if (err)
		return err;
	/* What the counts were taken from may have changed since: the next
	 * sync sees the new rev and reads the target again. */
	t->rules = l.own.rules;
	t->paths = l.own.paths;
	t->n_net = l.own.n_rules;
	t->n_paths = l.own.n_paths;
	t->loaded = true;
	return 0;
}

void targets_unload(struct target *t)
{
	free(t->rules);
	free(t->paths);
	t->rules = NULL;
	t->paths = NULL;
	t->loaded = false;
}

void targets_free(struct targets *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		target_free(ts->v[i]);
	free(ts->v);
	ts->v = NULL;
	ts->n = 0;
}
