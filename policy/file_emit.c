// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Writing the policy file (file.h): libyaml's emitter, fed events into a
 * growing buffer. Every value is checked against the schema
 * (file_schema.h) as the reader would check it and written canonical, keys
 * in table order, so the output always reads back to what was given.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "file.h"
#include "file_schema.h"
#include "internal.h"
#include "policy.h"

struct out_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

struct emitter {
	yaml_emitter_t yaml;
	struct out_buf out;
	const struct ug_policy_file *pf;
	const void **rules_sorted; /* by target, then array order */
	char *err;
	size_t errlen;
};

#define emit_fail(e, ...) (set_err((e)->err, (e)->errlen, __VA_ARGS__), -EINVAL)

static int write_out(void *data, unsigned char *bytes, size_t size)
{
	struct out_buf *o = data;

	/* One spare byte so the result can always be NUL-terminated. */
	if (o->cap - o->len <= size) {
		size_t cap = o->cap ? o->cap : 4096;
		char *d;

		while (cap - o->len <= size)
			cap *= 2;
		d = realloc(o->data, cap);
		if (!d) {
			o->oom = true;
			return 0;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, bytes, size);
	o->len += size;
	o->data[o->len] = '\0';
	return 1;
}

/* Hand an event to libyaml, which frees it either way; ok is what initialising it returned. */
static int emit_event(struct emitter *e, yaml_event_t *ev, int ok)
{
	if (ok && yaml_emitter_emit(&e->yaml, ev))
		return 0;
	if (!ok || e->out.oom || e->yaml.error == YAML_MEMORY_ERROR)
		return pf_oom(e->err, e->errlen);
	return emit_fail(e, "YAML emitter: %s",
			 e->yaml.problem ? e->yaml.problem : "unknown error");
}

static int emit_scalar(struct emitter *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	/* Implicit both ways: no tags in the output, and a plain scalar is
	 * still read back as the same text. */
	return emit_event(e, &ev,
			  yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, -1,
						       1, 1, style));
}

/* key: value, libyaml quoting a plain value if it must. */
static int emit_pair(struct emitter *e, const char *key, const char *value,
		     yaml_scalar_style_t style)
{
	int r = emit_scalar(e, key, YAML_PLAIN_SCALAR_STYLE);

	return r < 0 ? r : emit_scalar(e, value, style);
}

/* A structural event: stream, document, mapping or sequence, start or end. */
static int emit_mark(struct emitter *e, yaml_event_type_t type, bool flow)
{
	yaml_event_t ev;
	int ok = 0;

	switch (type) {
	case YAML_STREAM_START_EVENT:
		ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
		break;
	case YAML_STREAM_END_EVENT:
		ok = yaml_stream_end_event_initialize(&ev);
		break;
	case YAML_DOCUMENT_START_EVENT:
		ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		break;
	case YAML_DOCUMENT_END_EVENT:
		ok = yaml_document_end_event_initialize(&ev, 1);
		break;
	case YAML_MAPPING_START_EVENT:
		ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE);
		break;
	case YAML_MAPPING_END_EVENT:
		ok = yaml_mapping_end_event_initialize(&ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  flow ? YAML_FLOW_SEQUENCE_STYLE :
								 YAML_BLOCK_SEQUENCE_STYLE);
		break;
	case YAML_SEQUENCE_END_EVENT:
		ok = yaml_sequence_end_event_initialize(&ev);
		break;
	default:
		break;
	}
	return emit_event(e, &ev, ok);
}

/* Check value v of key in unit or rule idx as parse would: *c gets its canonical text. */
static int emit_check(struct emitter *e, const char *what, size_t idx, const struct pf_key *key,
		      const char *v, char cbuf[CANON_BUF], const char **c)
{
	char msg[MSG_MAX];

	if (!v)
		return emit_fail(e, "%s %zu: no %s", what, idx, key->name);
	*c = pf_canon(key->kind, key->name, v, cbuf, msg, sizeof(msg));
	return *c ? 0 : emit_fail(e, "%s %zu: %s", what, idx, msg);
}

/* harden: [module-load, bpf], flow style: a list of a few words reads best on one line. */
static int emit_harden(struct emitter *e, const char *c)
{
	char items[CANON_BUF];
	int r;

	r = emit_scalar(e, "harden", YAML_PLAIN_SCALAR_STYLE);
	if (!r)
		r = emit_mark(e, YAML_SEQUENCE_START_EVENT, true);
	/* c holds canonical names only; cut a copy into items in place. */
	snprintf(items, sizeof(items), "%s", c);
	for (char *item = items, *end; !r && *item; item = end + 1) {
		bool last;

		end = strchrnul(item, ',');
		last = !*end;
		*end = '\0';
		r = emit_scalar(e, item, YAML_PLAIN_SCALAR_STYLE);
		if (last)
			break;
	}
	return r < 0 ? r : emit_mark(e, YAML_SEQUENCE_END_EVENT, false);
}

static int emit_port(struct emitter *e, const struct ug_file_rule *rule, size_t idx)
{
	const char *problem = pf_port_problem(rule->proto, rule->port_lo, rule->port_hi);
	bool single = rule->port_lo == rule->port_hi;
	char ports[16];

	if (problem)
		return emit_fail(e, "rule %zu: %s", idx, problem);
	if (!rule->port_lo)
		return 0;
	/* A single port reads best as a YAML int; a range must be quoted
	 * text for tools that are not us. */
	if (single)
		snprintf(ports, sizeof(ports), "%u", rule->port_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", rule->port_lo, rule->port_hi);
	return emit_pair(e, "port", ports,
			 single ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static int emit_rules(struct emitter *e, const char *target);

/*
 * The keys of obj, unit or rule idx, that the kinds of rule `kinds` take,
 * in table order, each checked and canonical; absent optional ones left out.
 */
static int emit_keys(struct emitter *e, const struct pf_key *keys, size_t n, const void *obj,
		     unsigned int kinds, const char *what, size_t idx)
{
	char cbuf[CANON_BUF];
	const char *v, *c;
	int r = 0;

	for (const struct pf_key *key = keys; !r && key < keys + n; key++) {
		if (!(key->rules & kinds))
			continue;
		if (key->kind == K_RULES) {
			r = emit_rules(e, pf_target_of(obj));
			continue;
		}
		if (key->kind == K_PORT) {
			r = emit_port(e, obj, idx);
			continue;
		}
		v = pf_value(obj, key);
		/* access is always written: "any" as the default is easy to miss when reading. */
		if (!v && key->kind == K_ACCESS)
			v = "any";
		if (!v && !key->required)
			continue;
		r = emit_check(e, what, idx, key, v, cbuf, &c);
		if (r)
			break;
		if (key->kind == K_HARDEN)
			r = emit_harden(e, c);
		else
			/* A comment is quoted, so one like "true" or "443" stays text for
			 * other YAML readers too. */
			r = emit_pair(e, key->name, c,
				      key->kind == K_COMMENT ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
							       YAML_PLAIN_SCALAR_STYLE);
	}
	return r;
}

static int emit_rule(struct emitter *e, const struct ug_file_rule *rule)
{
	size_t idx = (size_t)(rule - e->pf->rules);
	const char *dir, *action;
	enum pf_rkind kind;
	char cbuf[CANON_BUF];
	int r;

	/* direction and action first: they decide which other keys belong. */
	r = emit_check(e, "rule", idx, &pf_rule_keys[RULE_DIRECTION], rule->direction, cbuf, &dir);
	if (!r)
		r = emit_check(e, "rule", idx, &pf_rule_keys[RULE_ACTION], rule->action, cbuf,
			       &action);
	if (r)
		return r;
	kind = pf_rule_kind(dir);
	/* What parse refuses beyond the values: a key another kind of rule takes,
	 * an allow that cannot be. prefix, path and family share one field, which
	 * is always this kind's. */
	for (const struct pf_key *key = pf_rule_keys; key < pf_rule_keys + KEYS_MAX; key++) {
		bool set;

		if (key->rules & (1u << kind) || key->off == pf_rule_keys[RULE_PREFIX].off)
			continue;
		set = key->kind == K_PORT ? rule->port_lo || rule->port_hi : !!pf_value(rule, key);
		if (set)
			return emit_fail(e, "rule %zu: %s is only for %s, not %s rules", idx,
					 key->name, key->owner, rule->direction);
	}
	if ((kind == RK_FILE || kind == RK_FAMILY) && strcmp(action, "deny"))
		return emit_fail(e, "rule %zu: %s rules can only deny", idx, rule->direction);

	r = emit_mark(e, YAML_MAPPING_START_EVENT, false);
	if (!r)
		r = emit_keys(e, pf_rule_keys, KEYS_MAX, rule, 1u << kind, "rule", idx);
	return r < 0 ? r : emit_mark(e, YAML_MAPPING_END_EVENT, false);
}

/* The rules of target, if any, as a sequence under "rules". */
static int emit_rules(struct emitter *e, const char *target)
{
	size_t n, first = pf_find_target(e->rules_sorted, e->pf->n_rules, target, &n);
	int r;

	if (!n)
		return 0;
	r = emit_scalar(e, "rules", YAML_PLAIN_SCALAR_STYLE);
	if (!r)
		r = emit_mark(e, YAML_SEQUENCE_START_EVENT, false);
	for (size_t i = first; !r && i < first + n; i++)
		r = emit_rule(e, e->rules_sorted[i]);
	return r < 0 ? r : emit_mark(e, YAML_SEQUENCE_END_EVENT, false);
}

static int emit_unit(struct emitter *e, const struct ug_file_unit *unit, size_t idx)
{
	int r = emit_mark(e, YAML_MAPPING_START_EVENT, false);

	if (!r)
		r = emit_keys(e, pf_unit_keys, UNIT_KEYS, unit, R_ALL, "unit", idx);
	return r < 0 ? r : emit_mark(e, YAML_MAPPING_END_EVENT, false);
}

static int emit_document(struct emitter *e, const void **units_sorted)
{
	const struct ug_policy_file *pf = e->pf;
	int r;

	r = emit_mark(e, YAML_STREAM_START_EVENT, false);
	if (!r)
		r = emit_mark(e, YAML_DOCUMENT_START_EVENT, false);
	if (!r)
		r = emit_mark(e, YAML_MAPPING_START_EVENT, false);
	if (!r)
		r = emit_pair(e, "version", "1", YAML_PLAIN_SCALAR_STYLE);
	if (!r)
		r = emit_scalar(e, "units", YAML_PLAIN_SCALAR_STYLE);
	if (!r)
		r = emit_mark(e, YAML_SEQUENCE_START_EVENT, false);
	for (size_t i = 0; !r && i < pf->n_units; i++)
		r = emit_unit(e, &pf->units[i], i);
	for (size_t i = 0; !r && i < pf->n_rules; i++) {
		const struct ug_file_rule *rule = &pf->rules[i];
		const struct ug_file_unit orphan = { .target = rule->target };
		char cbuf[CANON_BUF];
		const char *c;
		size_t n, first;

		pf_find_target(units_sorted, pf->n_units, rule->target, &n);
		if (n)
			continue;
		/* Orphan: a unit of its own, at the first rule with its target. */
		first = pf_find_target(e->rules_sorted, pf->n_rules, rule->target, &n);
		if (e->rules_sorted[first] != rule)
			continue;
		r = emit_check(e, "rule", i, &pf_unit_keys[UNIT_TARGET], rule->target, cbuf, &c);
		if (!r)
			r = emit_unit(e, &orphan, 0);
	}
	if (!r)
		r = emit_mark(e, YAML_SEQUENCE_END_EVENT, false);
	if (!r)
		r = emit_mark(e, YAML_MAPPING_END_EVENT, false);
	if (!r)
		r = emit_mark(e, YAML_DOCUMENT_END_EVENT, false);
	return r < 0 ? r : emit_mark(e, YAML_STREAM_END_EVENT, false);
}

/* Targets first: sorting and grouping need them all present and valid. */
static int check_targets(struct emitter *e)
{
	const struct ug_policy_file *pf = e->pf;
	char cbuf[CANON_BUF];
	const char *c;
	int r;

	for (size_t i = 0; i < pf->n_units; i++) {
		r = emit_check(e, "unit", i, &pf_unit_keys[UNIT_TARGET], pf->units[i].target, cbuf,
			       &c);
		if (r)
			return r;
	}
	for (size_t i = 0; i < pf->n_rules; i++)
		if (!pf->rules[i].target)
			return emit_fail(e, "rule %zu: no target", i);
	return 0;
}

int ug_policy_file_emit(const struct ug_policy_file *pf, char **out, size_t *out_len, char *err,
			size_t errlen)
{
	struct emitter e = { .pf = pf, .err = err, .errlen = errlen };
	const struct ug_file_unit *dup, *first = NULL;
	const void **units_sorted = NULL;
	char shown[SHOW_BUF];
	int r;

	set_err(err, errlen, "%s", "");
	if (!pf || !out || !out_len) {
		set_err(err, errlen, "no input or output given");
		return -EINVAL;
	}
	*out = NULL;
	*out_len = 0;
	r = check_targets(&e);
	if (r < 0)
		return r;

	units_sorted = pf_sort_by_target(pf->units, pf->n_units, sizeof(*pf->units));
	e.rules_sorted = pf_sort_by_target(pf->rules, pf->n_rules, sizeof(*pf->rules));
	if (!units_sorted || !e.rules_sorted) {
		r = pf_oom(err, errlen);
		goto free_sorted;
	}
	dup = pf_find_duplicate(units_sorted, pf->n_units, &first);
	if (dup) {
		r = emit_fail(&e, "unit %zu: duplicate target '%s' (first at unit %zu)",
			      (size_t)(dup - pf->units), pf_show(dup->target, shown),
			      (size_t)(first - pf->units));
		goto free_sorted;
	}
	if (!yaml_emitter_initialize(&e.yaml)) {
		r = pf_oom(err, errlen);
		goto free_sorted;
	}
	yaml_emitter_set_output(&e.yaml, write_out, &e.out);
	yaml_emitter_set_unicode(&e.yaml, 1);
	/* No folding: a long comment stays on one line. */
	yaml_emitter_set_width(&e.yaml, -1);
	r = emit_document(&e, units_sorted);
	yaml_emitter_delete(&e.yaml);
	if (r < 0) {
		free(e.out.data);
		goto free_sorted;
	}
	*out = e.out.data;
	*out_len = e.out.len;
free_sorted:
	free(units_sorted);
	free(e.rules_sorted);
	return r;
}
