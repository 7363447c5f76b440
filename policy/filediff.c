// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The apply difference (filediff.h). Both sides' rules are sorted on the fields that decide
 * and walked together, so pairing 10 000 stored rules with 10 000 wanted ones costs a sort,
 * not a product; units are found by binary search on their targets.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filediff.h"
#include "errbuf.h"

/* What a units row gets when the input does not say (the schema's defaults). */
static const char *const unit_defaults[4] = { "enforce", "allow", "allow", "" };
static const char *const unit_fields[4] = { "mode", "default-egress", "default-ingress",
					    "harden" };

struct change {
	struct ug_store_change c;
	size_t seq;
};

/* Everything a plan is made from; the arrays are freed by work_free. */
struct work {
	const struct ug_store_unit **hu;  /* stored units, by target */
	const struct ug_apply_rule **hr;  /* stored rules, by the fields that decide, then id */
	const struct ug_store_rule_spec **wr; /* wanted rules, likewise, then input order */
	size_t *twin;                     /* per stored rule: its wanted rule, or SIZE_MAX */
	struct ug_apply_unit *wu;         /* wanted units, by target */
	size_t n_wu;
	struct change *ch;
	size_t n_ch, cap;
};

static int oom(char *err, size_t errlen)
{
	ug_errbuf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* qsort() must not see NULL, even for nothing. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int cmp_null_first(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static bool spec_complete(const struct ug_store_rule_spec *spec)
{
	return spec->target && spec->direction && spec->action && spec->prefix;
}

/* The fields that decide (store.h): two rules equal here are the same rule. */
static int rule_key_cmp(const struct ug_store_rule_spec *a, const struct ug_store_rule_spec *b)
{
	int c;

	if ((c = strcmp(a->target, b->target)) || (c = strcmp(a->direction, b->direction)) ||
	    (c = strcmp(a->action, b->action)) || (c = strcmp(a->prefix, b->prefix)) ||
	    (c = cmp_null_first(a->proto, b->proto)) || (c = cmp_null_first(a->access, b->access)))
		return c;
	if (a->port_lo != b->port_lo)
		return a->port_lo < b->port_lo ? -1 : 1;
	if (a->port_hi != b->port_hi)
		return a->port_hi < b->port_hi ? -1 : 1;
	return 0;
}

/* Equal rules in id order (stored) or input order (wanted, all in one array): the oldest
 * stored one pairs with the first wanted one. */
static int have_rule_cmp(const void *x, const void *y)
{
	const struct ug_apply_rule *a = *(const struct ug_apply_rule *const *)x;
	const struct ug_apply_rule *b = *(const struct ug_apply_rule *const *)y;
	int c = rule_key_cmp(&a->spec, &b->spec);

	if (c)
		return c;
	return (a->id > b->id) - (a->id < b->id);
}

static int want_rule_cmp(const void *x, const void *y)
{
	const struct ug_store_rule_spec *a = *(const struct ug_store_rule_spec *const *)x;
	const struct ug_store_rule_spec *b = *(const struct ug_store_rule_spec *const *)y;
	int c = rule_key_cmp(a, b);

	return c ? c : (a > b) - (a < b);
}

static int have_unit_cmp(const void *x, const void *y)
{
	const struct ug_store_unit *a = *(const struct ug_store_unit *const *)x;
	const struct ug_store_unit *b = *(const struct ug_store_unit *const *)y;
	int c = strcmp(a->target, b->target);

	return c ? c : (a > b) - (a < b);
}

static int want_unit_cmp(const void *x, const void *y)
{
	const struct ug_apply_unit *a = x, *b = y;
	int c = strcmp(a->target, b->target);

	return c ? c : (a->order > b->order) - (a->order < b->order);
}

static int want_unit_order_cmp(const void *x, const void *y)
{
	const struct ug_apply_unit *a = x, *b = y;

	return (a->order > b->order) - (a->order < b->order);
}

static int change_cmp(const void *x, const void *y)
{
	const struct change *a = x, *b = y;
	int c = strcmp(a->c.target, b->c.target);

	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* The first of v[0..n) (sorted by target) with this target, whatever its order. */
static struct ug_apply_unit *want_find(struct ug_apply_unit *v, size_t n, const char *target)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].target, target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(v[lo].target, target) ? &v[lo] : NULL;
}

/* The index in v[0..n) (sorted by order, each order once) of the unit with this order. */
static size_t order_index(const struct ug_apply_unit *v, size_t n, size_t order)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].order < order)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct ug_store_unit *have_find(const struct ug_store_unit **v, size_t n,
					      const char *target)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid]->target, target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(v[lo]->target, target) ? v[lo] : NULL;
}

static void unit_settings(const struct ug_store_unit *u, const char *set[4])
{
	set[0] = u->mode;
	set[1] = u->default_egress;
	set[2] = u->default_ingress;
	set[3] = u->harden;
}

static int check_input(const struct ug_store_unit *units, size_t n_units,
		       const struct ug_store_rule_spec *rules, size_t n_rules, char *err,
		       size_t errlen)
{
	if ((n_units && !units) || (n_rules && !rules)) {
		ug_errbuf(err, errlen, "apply: NULL units or rules with a non-zero count");
		return -EINVAL;
	}
	for (size_t i = 0; i < n_units; i++) {
		if (!units[i].target) {
			ug_errbuf(err, errlen, "units[%zu]: no target", i);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n_rules; i++) {
		if (!spec_complete(&rules[i])) {
			ug_errbuf(err, errlen,
				  "rules[%zu]: no target, direction, action or prefix", i);
			return -EINVAL;
		}
	}
	return 0;
}

/* The units the input wants, by target, into w->wu; a target listed twice in units[] is
 * an error. Input checked by check_input. */
static int want_units(struct work *w, const struct ug_store_unit *units, size_t n_units,
		      const struct ug_store_rule_spec *rules, size_t n_rules, char *err,
		      size_t errlen)
{
	size_t n = n_units;

	w->wu = calloc(n_units + n_rules ?: 1, sizeof(*w->wu));
	if (!w->wu)
		return oom(err, errlen);
	for (size_t i = 0; i < n_units; i++) {
		const char *set[4];

		unit_settings(&units[i], set);
		w->wu[i] = (struct ug_apply_unit){ .target = units[i].target, .order = i };
		for (int k = 0; k < 4; k++)
			w->wu[i].set[k] = set[k] ?: unit_defaults[k];
	}
	sort(w->wu, n_units, sizeof(*w->wu), want_unit_cmp);
	for (size_t i = 1; i < n_units; i++) {
		if (!strcmp(w->wu[i].target, w->wu[i - 1].target)) {
			ug_errbuf(err, errlen, "units[%zu]: unit %s is listed twice",
				  w->wu[i].order, w->wu[i].target);
			return -EINVAL;
		}
	}
	/* A rule's target that units[] lacks: a unit with the defaults, made in the order
	 * of first appearance. Most rules follow their unit's: check the last one first. */
	for (size_t i = 0; i < n_rules; i++) {
		const char *t = rules[i].target;

		if ((n > n_units && !strcmp(w->wu[n - 1].target, t)) ||
		    want_find(w->wu, n_units, t))
			continue;
		w->wu[n] = (struct ug_apply_unit){ .target = t, .order = n_units + i };
		memcpy(w->wu[n].set, unit_defaults, sizeof(unit_defaults));
		n++;
	}
	sort(w->wu, n, sizeof(*w->wu), want_unit_cmp);
	/* Keep the first appearance of each extra target only. */
	w->n_wu = 0;
	for (size_t i = 0; i < n; i++)
		if (!w->n_wu || strcmp(w->wu[w->n_wu - 1].target, w->wu[i].target))
			w->wu[w->n_wu++] = w->wu[i];
	return 0;
}

static void work_free(struct work *w)
{
	free(w->hu);
	free(w->hr);
	free(w->wr);
	free(w->twin);
	free(w->wu);
	free(w->ch);
	*w = (struct work){ 0 };
}

int ug_apply_check(const struct ug_store_unit *units, size_t n_units,
		   const struct ug_store_rule_spec *rules, size_t n_rules, char *err,
		   size_t errlen)
{
	struct work w = { 0 };
	int ret;

	ret = check_input(units, n_units, rules, n_rules, err, errlen);
	if (!ret)
		ret = want_units(&w, units, n_units, rules, n_rules, err, errlen);
	work_free(&w);
	return ret;
}

static int change_add(struct work *w, const struct ug_store_change *c)
{
	if (w->n_ch == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct change *v = reallocarray(w->ch, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->ch = v;
		w->cap = cap;
	}
	w->ch[w->n_ch] = (struct change){ .c = *c, .seq = w->n_ch };
	w->n_ch++;
	return 0;
}

/* Pair stored and wanted rules: w->twin per stored rule, plan->rule_id per wanted one. */
static int pair_rules(struct work *w, const struct ug_apply_rule *have, size_t n_have,
		      const struct ug_store_rule_spec *rules, size_t n_rules,
		      struct ug_apply_plan *plan)
{
	size_t i, j;

	w->hr = calloc(n_have ?: 1, sizeof(*w->hr));
	w->twin = calloc(n_have ?: 1, sizeof(*w->twin));
	w->wr = calloc(n_rules ?: 1, sizeof(*w->wr));
	if (!w->hr || !w->twin || !w->wr)
		return -ENOMEM;
	for (i = 0; i < n_have; i++) {
		w->hr[i] = &have[i];
		w->twin[i] = SIZE_MAX;
	}
	for (j = 0; j < n_rules; j++)
		w->wr[j] = &rules[j];
	sort(w->hr, n_have, sizeof(*w->hr), have_rule_cmp);
	sort(w->wr, n_rules, sizeof(*w->wr), want_rule_cmp);
	for (i = 0, j = 0; i < n_have && j < n_rules;) {
		int cmp = rule_key_cmp(&w->hr[i]->spec, w->wr[j]);

		if (cmp < 0) {
			i++;
		} else if (cmp > 0) {
			j++;
		} else {
			w->twin[w->hr[i] - have] = (size_t)(w->wr[j] - rules);
			plan->rule_id[w->wr[j] - rules] = w->hr[i]->id;
			i++;
			j++;
		}
	}
	return 0;
}

/* Every change, in the order store.h gives (then sorted by target). */
static int list_changes(struct work *w, size_t n_hu, const struct ug_apply_rule *have,
			size_t n_have,
			const struct ug_store_rule_spec *rules, size_t n_rules,
			const struct ug_apply_plan *plan)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < n_hu; i++)
		if (!want_find(w->wu, w->n_wu, w->hu[i]->target))
			ret = change_add(w, &(struct ug_store_change){
				.kind = UG_CHANGE_UNIT_DEL, .target = w->hu[i]->target });
	for (size_t i = 0; !ret && i < w->n_wu; i++) {
		const struct ug_apply_unit *u = &w->wu[i];
		const struct ug_store_unit *had = have_find(w->hu, n_hu, u->target);
		const char *set[4] = { 0 };

		if (had)
			unit_settings(had, set);
		else
			ret = change_add(w, &(struct ug_store_change){
				.kind = UG_CHANGE_UNIT_ADD, .target = u->target });
		for (int k = 0; !ret && k < 4; k++) {
			const char *old = had ? set[k] ?: "" : NULL;

			if (had ? !strcmp(old, u->set[k]) : !strcmp(u->set[k], unit_defaults[k]))
				continue;
			ret = change_add(w, &(struct ug_store_change){
				.kind = UG_CHANGE_UNIT_SET, .target = u->target,
				.field = unit_fields[k], .old_value = old,
				.new_value = u->set[k] });
		}
	}
	for (size_t i = 0; !ret && i < n_have; i++)
		if (w->twin[i] == SIZE_MAX)
			ret = change_add(w, &(struct ug_store_change){
				.kind = UG_CHANGE_RULE_DEL, .target = have[i].spec.target,
				.rule = &have[i].spec, .rule_id = have[i].id });
	for (size_t i = 0; !ret && i < n_have; i++) {
		const struct ug_store_rule_spec *with;

		if (w->twin[i] == SIZE_MAX)
			continue;
		with = &rules[w->twin[i]];
		if (!cmp_null_first(have[i].spec.comment, with->comment))
			continue;
		ret = change_add(w, &(struct ug_store_change){
			.kind = UG_CHANGE_RULE_COMMENT, .target = have[i].spec.target,
			.rule = with, .rule_id = have[i].id,
			.old_value = have[i].spec.comment, .new_value = with->comment });
	}
	for (size_t j = 0; !ret && j < n_rules; j++)
		if (!plan->rule_id[j])
			ret = change_add(w, &(struct ug_store_change){
				.kind = UG_CHANGE_RULE_ADD, .target = rules[j].target,
				.rule = &rules[j] });
	return ret;
}

int ug_apply_plan(const struct ug_store_unit *have_units, size_t n_have_units,
		  const struct ug_apply_rule *have_rules, size_t n_have_rules,
		  const struct ug_store_unit *units, size_t n_units,
		  const struct ug_store_rule_spec *rules, size_t n_rules,
		  struct ug_apply_plan *plan, char *err, size_t errlen)
{
	struct ug_apply_plan p = { 0 };
	struct work w = { 0 };
	size_t i;
	int ret;

	if (!plan || (n_have_units && !have_units) || (n_have_rules && !have_rules)) {
		ug_errbuf(err, errlen,
			  "apply: no plan, or NULL stored rows with a non-zero count");
		return -EINVAL;
	}
	*plan = p;
	for (i = 0; i < n_have_units; i++) {
		if (!have_units[i].target) {
			ug_errbuf(err, errlen, "stored unit %lld has no target",
				  (long long)have_units[i].id);
			return -EINVAL;
		}
	}
	for (i = 0; i < n_have_rules; i++) {
		if (!spec_complete(&have_rules[i].spec)) {
			ug_errbuf(err, errlen, "stored rule %lld has no target, direction, "
				  "action or prefix", (long long)have_rules[i].id);
			return -EINVAL;
		}
	}
	ret = check_input(units, n_units, rules, n_rules, err, errlen);
	if (!ret)
		ret = want_units(&w, units, n_units, rules, n_rules, err, errlen);
	if (ret)
		goto out;

	w.hu = calloc(n_have_units ?: 1, sizeof(*w.hu));
	p.rule_id = calloc(n_rules ?: 1, sizeof(*p.rule_id));
	p.rule_unit = calloc(n_rules ?: 1, sizeof(*p.rule_unit));
	p.units = calloc(w.n_wu ?: 1, sizeof(*p.units));
	if (!w.hu || !p.rule_id || !p.rule_unit || !p.units)
		goto oom;
	for (i = 0; i < n_have_units; i++)
		w.hu[i] = &have_units[i];
	sort(w.hu, n_have_units, sizeof(*w.hu), have_unit_cmp);
	if (pair_rules(&w, have_rules, n_have_rules, rules, n_rules, &p) ||
	    list_changes(&w, n_have_units, have_rules, n_have_rules, rules, n_rules, &p))
		goto oom;

	/* The units in the order to write them; each rule's unit found by its target, then
	 * by its order there. */
	if (w.n_wu)
		memcpy(p.units, w.wu, w.n_wu * sizeof(*p.units));
	p.n_units = w.n_wu;
	sort(p.units, p.n_units, sizeof(*p.units), want_unit_order_cmp);
	for (size_t j = 0; j < n_rules; j++)
		p.rule_unit[j] = order_index(p.units, p.n_units,
					     want_find(w.wu, w.n_wu, rules[j].target)->order);

	sort(w.ch, w.n_ch, sizeof(*w.ch), change_cmp);
	p.changes = calloc(w.n_ch ?: 1, sizeof(*p.changes));
	if (!p.changes)
		goto oom;
	for (i = 0; i < w.n_ch; i++)
		p.changes[i] = w.ch[i].c;
	p.n_changes = w.n_ch;
	*plan = p;
	work_free(&w);
	return 0;

oom:
	ret = oom(err, errlen);
out:
	ug_apply_plan_free(&p);
	work_free(&w);
	return ret;
}

void ug_apply_plan_free(struct ug_apply_plan *plan)
{
	if (!plan)
		return;
	free(plan->units);
	free(plan->rule_unit);
	free(plan->rule_id);
	free(plan->changes);
	*plan = (struct ug_apply_plan){ 0 };
}
