// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "effective.h"
#include "row.h"

/* A family row: deny one family (a name or a number below 64), with an id the maps can hold. */
static int family_parse(const struct ug_rule_row *row, struct ug_row_rule *out)
{
	int family = row->prefix ? ug_family_parse(row->prefix) : -EINVAL;

	if (row->id <= 0 || row->id > UINT32_MAX || family < 0 || family >= 64 || !row->action ||
	    ug_action_parse(row->action) != UG_ACT_DENY)
		return -EINVAL;
	out->family.af = (uint8_t)family;
	out->family.rule_id = (uint32_t)row->id;
	return 0;
}

int ug_rule_row_classify(const struct ug_rule_row *row, struct ug_row_rule *out,
			 const char **why)
{
	const char *d = row->direction;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = NULL;
	if (!d)
		return -EINVAL;
	if (!strcmp(d, "family")) {
		out->kind = UG_ROW_FAMILY;
		return family_parse(row, out);
	}
	if (!strcmp(d, "exec") || !strcmp(d, "file")) {
		out->kind = UG_ROW_PATH;
		return ug_path_rule_parse(row->id, d, row->action, row->prefix, row->access,
					  &out->path, why);
	}
	out->kind = UG_ROW_NET;
	return ug_rule_parse(row->id, d, row->action, row->prefix, row->proto, row->port_lo,
			     row->port_hi, &out->net, why);
}

/* Room for one more element of size in *v (n used of *cap), doubling from first. */
static int reserve(void *v, size_t n, size_t *cap, size_t first, size_t size)
{
	size_t c = *cap ? *cap * 2 : first;
	void *p;

	if (n < *cap)
		return 0;
	p = reallocarray(*(void **)v, c, size);
	if (!p)
		return -ENOMEM;
	*(void **)v = p;
	*cap = c;
	return 0;
}

int ug_own_rules_add(struct ug_own_rules *o, const struct ug_rule_row *row, const char **why)
{
	struct ug_row_rule r;
	uint8_t af;

	if (ug_rule_row_classify(row, &r, why)) {
		o->invalid++;
		return -EINVAL;
	}
	switch (r.kind) {
	case UG_ROW_FAMILY:
		af = r.family.af;
		o->families |= 1ULL << af;
		if (!o->family_rule[af] || r.family.rule_id < o->family_rule[af])
			o->family_rule[af] = r.family.rule_id;
		return 0;
	case UG_ROW_PATH:
		if (reserve(&o->paths, o->n_paths, &o->cap_paths, 8, sizeof(*o->paths)))
			return -ENOMEM;
		o->paths[o->n_paths++] = r.path;
		return 0;
	default:
		if (reserve(&o->rules, o->n_rules, &o->cap_rules, 16, sizeof(*o->rules)))
			return -ENOMEM;
		o->rules[o->n_rules++] = r.net;
		return 0;
	}
}

void ug_own_rules_settings(const struct ug_own_rules *o, struct ug_settings *s)
{
	s->families = o->families;
	s->net_rules = o->n_rules > 0;
	s->lsm_rules = o->n_paths > 0;
}

void ug_own_rules_free(struct ug_own_rules *o)
{
	free(o->rules);
	free(o->paths);
	memset(o, 0, sizeof(*o));
}
