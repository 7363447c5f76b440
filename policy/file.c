// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading the policy file (file.h): a recursive descent over libyaml's
 * events, driven by the key tables of file_schema.h. Events rather than
 * yaml_parser_load(), which resolves aliases silently and keeps no anchors:
 * both must be refused.
 *
 * Why libyaml and tables, and not a schema loader: libcyaml (Debian 12 has
 * 1.3.1) loads YAML into structs from a schema, but users would get worse
 * errors. It reports through a log callback, as a multi-line backtrace
 * ("Load: Invalid ENUM value: loud", "in mapping field 'mode' (line: 4,
 * column: 11)", "in sequence entry '1' ..."); for an unknown key it names
 * the line of the mapping, for a duplicate key the first occurrence, for a
 * missing key the last key it read. It cannot check a value as it reads it
 * (validation callbacks came in 1.4), so a bad prefix or path would be found
 * after loading, when no line is known any more, and the user would lose
 * "line 7: invalid prefix '10.0.0.0/33': prefix length out of range
 * (0-32)". Nor can it take "a sequence or one string" (harden), and it
 * accepts anchors. The events carry the line of every key and value, and the
 * tables keep the walk short.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "file.h"
#include "file_schema.h"
#include "internal.h"
#include "policy.h"

struct parser {
	yaml_parser_t yaml;
	yaml_event_t ev; /* the current event, valid when have_ev */
	bool have_ev;
	const char *buf;
	size_t len;
	char *err;
	size_t errlen;
	struct ug_policy_file pf; /* being built; freed by the caller on error */
	size_t units_cap, rules_cap;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct parser *p, int line, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(p->err, p->errlen, "line %d: %s", line, msg);
	return -EINVAL;
}

static int mark_line(const yaml_mark_t *m)
{
	return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int cur_line(const struct parser *p)
{
	return mark_line(&p->ev.start_mark);
}

static const char *kind_of(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "a scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int syntax_error(struct parser *p)
{
	const char *problem = p->yaml.problem ? p->yaml.problem : "unknown error";
	int line;

	if (p->yaml.error == YAML_MEMORY_ERROR)
		return pf_oom(p->err, p->errlen);
	if (p->yaml.error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		size_t end = p->yaml.problem_offset < p->len ? p->yaml.problem_offset : p->len;

		line = 1;
		for (size_t i = 0; i < end; i++)
			if (p->buf[i] == '\n' && line < INT32_MAX)
				line++;
		return fail(p, line, "YAML syntax error: %s", problem);
	}
	line = mark_line(&p->yaml.problem_mark);
	if (p->yaml.context)
		return fail(p, line, "YAML syntax error: %s (%s at line %d)", problem,
			    p->yaml.context, mark_line(&p->yaml.context_mark));
	return fail(p, line, "YAML syntax error: %s", problem);
}

/* Move to the next event; refuse aliases and anchors on the way. */
static int next(struct parser *p)
{
	char shown[SHOW_BUF];
	const yaml_char_t *anchor;

	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = false;
	}
	if (!yaml_parser_parse(&p->yaml, &p->ev))
		return syntax_error(p);
	p->have_ev = true;

	switch (p->ev.type) {
	case YAML_ALIAS_EVENT:
		return fail(p, cur_line(p), "aliases are not supported ('*%s')",
			    pf_show((const char *)p->ev.data.alias.anchor, shown));
	case YAML_SCALAR_EVENT:
		anchor = p->ev.data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = p->ev.data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = p->ev.data.mapping_start.anchor;
		break;
	default:
		return 0;
	}
	if (anchor)
		return fail(p, cur_line(p), "anchors are not supported ('&%s')",
			    pf_show((const char *)anchor, shown));
	return 0;
}

/* The current event, a scalar value of key, as a new string. */
static int take_scalar(struct parser *p, const char *key, char **out)
{
	const char *v = (const char *)p->ev.data.scalar.value;
	size_t n;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, cur_line(p), "'%s' must be a scalar, not %s", key, kind_of(&p->ev));
	n = p->ev.data.scalar.length;
	/* A double-quoted "\0" would silently cut the C string short. */
	if (memchr(v, '\0', n))
		return fail(p, cur_line(p), "'%s' contains a NUL character", key);
	*out = strndup(v, n);
	if (!*out)
		return pf_oom(p->err, p->errlen);
	return 0;
}

/* The current event as a value of key, checked and stored canonical in *out (if out). */
static int take_field(struct parser *p, const struct pf_key *key, char **out)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	int line = cur_line(p), r;
	const char *c;
	char *v;

	r = take_scalar(p, key->name, &v);
	if (r < 0)
		return r;
	c = pf_canon(key->kind, key->name, v, cbuf, msg, sizeof(msg));
	if (!c) {
		r = fail(p, line, "%s", msg);
	} else if (out) {
		/* Only a rule whose check will fail sets a slot twice (prefix and path). */
		free(*out);
		*out = strdup(c);
		if (!*out)
			r = pf_oom(p->err, p->errlen);
	}
	free(v);
	return r;
}

static int take_port(struct parser *p, struct ug_file_rule *rule)
{
	char shown[SHOW_BUF];
	const char *why = NULL;
	int line = cur_line(p), r;
	char *v;

	/* Plain 443, plain 1000-2000 and quoted "1000-2000" are all one
	 * scalar text to ug_ports_parse: YAML typing plays no part. */
	r = take_scalar(p, "port", &v);
	if (r < 0)
		return r;
	if (ug_ports_parse(v, &rule->port_lo, &rule->port_hi, &why) < 0)
		r = fail(p, line, "invalid port '%s': %s", pf_show(v, shown),
			 why ? why : "not valid");
	free(v);
	return r;
}

/* harden: a sequence of names, or one comma string; stored canonical. */
static int take_harden(struct parser *p, const struct pf_key *key, char **out)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	int bits = 0, r;
	char *v;

	if (p->ev.type == YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p),
			    "'harden' must be a sequence or a scalar, not a mapping");
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return take_field(p, key, out);
	while ((r = next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		int line = cur_line(p);

		if (p->ev.type != YAML_SCALAR_EVENT)
			return fail(p, line, "'harden' items must be scalars, not %s",
				    kind_of(&p->ev));
		r = take_scalar(p, "harden", &v);
		if (r < 0)
			return r;
		r = pf_harden_item(v, strlen(v), &bits, msg, sizeof(msg));
		free(v);
		if (r < 0)
			return fail(p, line, "%s", msg);
	}
	if (r < 0)
		return r;
	if (!pf_harden_format(bits, cbuf, msg, sizeof(msg)))
		return fail(p, cur_line(p), "%s", msg);
	*out = strdup(cbuf);
	return *out ? 0 : pf_oom(p->err, p->errlen);
}

static int parse_sequence(struct parser *p, const char *key, int (*item)(struct parser *p))
{
	int r;

	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, cur_line(p), "'%s' must be a sequence, not %s", key,
			    kind_of(&p->ev));
	while ((r = next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		r = item(p);
		if (r < 0)
			return r;
	}
	return r;
}

static int parse_unit(struct parser *p);
static int parse_rule(struct parser *p);

/*
 * After a mapping start: read its keys (known, each once) and their values
 * into obj, the unit or rule being built. key_line[k] gets the line of key
 * k's value, 0 when absent.
 */
static int parse_mapping(struct parser *p, const struct pf_key *keys, size_t n, void *obj,
			 int *key_line)
{
	char shown[SHOW_BUF], expected[MSG_MAX / 2];
	unsigned int seen = 0;
	size_t k, len, used;
	const char *name;
	int r;

	while ((r = next(p)) == 0 && p->ev.type != YAML_MAPPING_END_EVENT) {
		if (p->ev.type != YAML_SCALAR_EVENT)
			return fail(p, cur_line(p), "a mapping key must be a scalar, not %s",
				    kind_of(&p->ev));
		name = (const char *)p->ev.data.scalar.value;
		len = p->ev.data.scalar.length;
		for (k = 0; k < n; k++)
			if (strlen(keys[k].name) == len && !memcmp(keys[k].name, name, len))
				break;
		if (k == n) {
			used = 0;
			for (size_t i = 0; i < n && used < sizeof(expected); i++)
				used += (size_t)snprintf(expected + used, sizeof(expected) - used,
							 "%s%s", i ? ", " : "", keys[i].name);
			return fail(p, cur_line(p), "unknown key '%s' (expected %s)",
				    pf_show(name, shown), expected);
		}
		if (seen & (1u << k))
			return fail(p, cur_line(p), "duplicate key '%s'", keys[k].name);
		seen |= 1u << k;
		r = next(p);
		if (r < 0)
			return r;
		key_line[k] = cur_line(p);
		switch (keys[k].kind) {
		case K_UNITS:
			r = parse_sequence(p, keys[k].name, parse_unit);
			break;
		case K_RULES:
			r = parse_sequence(p, keys[k].name, parse_rule);
			break;
		case K_PORT:
			r = take_port(p, obj);
			break;
		case K_HARDEN:
			r = take_harden(p, &keys[k], pf_slot(obj, &keys[k]));
			break;
		case K_VERSION:
			r = take_field(p, &keys[k], NULL);
			break;
		default:
			r = take_field(p, &keys[k], pf_slot(obj, &keys[k]));
		}
		if (r < 0)
			return r;
	}
	return r;
}

/*
 * Return arr with room for one more element beyond n, reallocated when
 * full, or NULL (arr untouched) when out of memory.
 */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return arr;
	new_cap = *cap ? *cap * 2 : 8;
	p = reallocarray(arr, new_cap, size);
	if (p)
		*cap = new_cap;
	return p;
}

/*
 * The first key, in table order, that every mapping of the given kinds of
 * rule (R_ALL: every mapping) must have and key_line says is missing; NULL
 * when none is.
 */
static const char *missing(const struct pf_key *keys, size_t n, unsigned int kinds,
			   const int *key_line)
{
	for (size_t k = 0; k < n; k++)
		if (keys[k].required && (keys[k].rules & kinds) == kinds && !key_line[k])
			return keys[k].name;
	return NULL;
}

/* The checks that need the whole rule: the direction decides which keys belong. */
static int check_rule(struct parser *p, struct ug_file_rule *rule, const int *key_line)
{
	size_t bad = KEYS_MAX;
	const char *absent;
	enum pf_rkind kind;

	absent = missing(pf_rule_keys, KEYS_MAX, R_ALL, key_line);
	if (absent)
		return fail(p, rule->line, "rule has no '%s'", absent);
	kind = pf_rule_kind(rule->direction);
	/* Of the keys that do not belong, blame the first in the file. */
	for (size_t k = 0; k < KEYS_MAX; k++)
		if (key_line[k] && !(pf_rule_keys[k].rules & (1u << kind)) &&
		    (bad == KEYS_MAX || key_line[k] < key_line[bad]))
			bad = k;
	if (bad < KEYS_MAX)
		return fail(p, key_line[bad], "'%s' is only for %s, not %s rules",
			    pf_rule_keys[bad].name, pf_rule_keys[bad].owner, rule->direction);
	/* Nothing to allow: what these rules do not deny is allowed already. */
	if ((kind == RK_FILE || kind == RK_FAMILY) && strcmp(rule->action, "deny"))
		return fail(p, key_line[RULE_ACTION], "%s rules can only deny", rule->direction);
	absent = missing(pf_rule_keys, KEYS_MAX, 1u << kind, key_line);
	if (absent)
		return fail(p, rule->line, "rule has no '%s'", absent);
	/* Checked at the end: proto may come after port. */
	if (pf_port_problem(rule->proto, rule->port_lo, rule->port_hi))
		return fail(p, key_line[RULE_PORT], "port needs proto tcp or udp (or none)");
	if (kind == RK_FILE && !rule->access) {
		rule->access = strdup("any");
		if (!rule->access)
			return pf_oom(p->err, p->errlen);
	}
	return 0;
}

static int parse_rule(struct parser *p)
{
	int key_line[KEYS_MAX] = { 0 }, r;
	struct ug_file_rule *rules, *rule;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "a rule must be a mapping, not %s", kind_of(&p->ev));
	rules = grow(p->pf.rules, &p->rules_cap, p->pf.n_rules, sizeof(*rules));
	if (!rules)
		return pf_oom(p->err, p->errlen);
	p->pf.rules = rules;
	rule = &rules[p->pf.n_rules++];
	memset(rule, 0, sizeof(*rule));
	rule->line = cur_line(p);
	r = parse_mapping(p, pf_rule_keys, KEYS_MAX, rule, key_line);
	return r < 0 ? r : check_rule(p, rule, key_line);
}

static int parse_unit(struct parser *p)
{
	int key_line[KEYS_MAX] = { 0 }, r;
	size_t first_rule = p->pf.n_rules;
	struct ug_file_unit *units, *unit;
	const char *absent;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "a unit must be a mapping, not %s", kind_of(&p->ev));
	/* Only rules grow below, so this pointer stays good. */
	units = grow(p->pf.units, &p->units_cap, p->pf.n_units, sizeof(*units));
	if (!units)
		return pf_oom(p->err, p->errlen);
	p->pf.units = units;
	unit = &units[p->pf.n_units++];
	memset(unit, 0, sizeof(*unit));
	unit->line = cur_line(p);
	r = parse_mapping(p, pf_unit_keys, UNIT_KEYS, unit, key_line);
	if (r < 0)
		return r;
	absent = missing(pf_unit_keys, UNIT_KEYS, R_ALL, key_line);
	if (absent)
		return fail(p, unit->line, "unit has no '%s'", absent);
	/* target may come after rules in the mapping, so fill it in now. */
	for (size_t i = first_rule; i < p->pf.n_rules; i++) {
		p->pf.rules[i].target = strdup(unit->target);
		if (!p->pf.rules[i].target)
			return pf_oom(p->err, p->errlen);
	}
	return 0;
}

static int parse_stream(struct parser *p)
{
	int key_line[TOP_KEYS] = { 0 }, line, r;
	const char *absent;

	r = next(p); /* stream start */
	if (!r)
		r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return fail(p, 1, "empty policy file (expected 'version' and 'units')");
	r = next(p); /* past document start, to the root node */
	if (r < 0)
		return r;
	line = cur_line(p);
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, line,
			    "the top level must be a mapping with 'version' and 'units', not %s",
			    kind_of(&p->ev));
	r = parse_mapping(p, pf_top_keys, TOP_KEYS, &p->pf, key_line);
	if (r < 0)
		return r;
	absent = missing(pf_top_keys, TOP_KEYS, R_ALL, key_line);
	if (absent)
		return fail(p, line, "missing '%s'", absent);
	r = next(p); /* document end */
	/* Read on to the stream end: a syntax error after the first document
	 * must not go unnoticed. */
	if (!r)
		r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return fail(p, cur_line(p), "more than one YAML document");
	return 0;
}

static int check_unique_targets(struct parser *p)
{
	const struct ug_file_unit *dup, *first = NULL;
	char shown[SHOW_BUF];
	const void **sorted;
	int r = 0;

	sorted = pf_sort_by_target(p->pf.units, p->pf.n_units, sizeof(*p->pf.units));
	if (!sorted)
		return pf_oom(p->err, p->errlen);
	dup = pf_find_duplicate(sorted, p->pf.n_units, &first);
	if (dup)
		r = fail(p, dup->line, "duplicate target '%s' (first at line %d)",
			 pf_show(dup->target, shown), first->line);
	free(sorted);
	return r;
}

int ug_policy_file_parse(const char *buf, size_t len, struct ug_policy_file *out, char *err,
			 size_t errlen)
{
	struct parser p = { .buf = buf, .len = len, .err = err, .errlen = errlen };
	int r;

	set_err(err, errlen, "%s", "");
	if (!out || (!buf && len)) {
		set_err(err, errlen, "no input or output given");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (len > UG_POLICY_FILE_MAX) {
		set_err(err, errlen, "policy file too large (%zu bytes, at most %u)", len,
			UG_POLICY_FILE_MAX);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&p.yaml))
		return pf_oom(err, errlen);
	yaml_parser_set_input_string(&p.yaml, (const unsigned char *)(buf ? buf : ""), len);

	r = parse_stream(&p);
	if (!r)
		r = check_unique_targets(&p);

	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yaml);
	if (r < 0) {
		ug_policy_file_free(&p.pf);
		return r;
	}
	*out = p.pf;
	return 0;
}

void ug_policy_file_free(struct ug_policy_file *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->n_units; i++) {
		free(pf->units[i].target);
		free(pf->units[i].mode);
		free(pf->units[i].default_egress);
		free(pf->units[i].default_ingress);
		free(pf->units[i].harden);
	}
	for (size_t i = 0; i < pf->n_rules; i++) {
		free(pf->rules[i].target);
		free(pf->rules[i].direction);
		free(pf->rules[i].action);
		free(pf->rules[i].prefix);
		free(pf->rules[i].access);
		free(pf->rules[i].proto);
		free(pf->rules[i].comment);
	}
	free(pf->units);
	free(pf->rules);
	memset(pf, 0, sizeof(*pf));
}
