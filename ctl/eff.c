// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A target's effective policy, built from the store as the agent builds it,
 * for explain and show.
 */
#include <stdarg.h>

#include "eff.h"

void eff_free(struct eff *f)
{
	for (size_t k = 0; k < f->n; k++) {
		free(f->v[k].name);
		free(f->v[k].path);
		free(f->v[k].state);
		ug_own_rules_free(&f->v[k].rows);
	}
	for (size_t k = 0; k < f->n_c; k++)
		free(f->c[k].text);
	free(f->v);
	free(f->c);
	free(f->own);
	ug_inherit_free(&f->h);
	free(f->chain);
	free(f->depth);
	free(f->rules);
	free(f->origin);
	free(f->paths);
	free(f->porigin);
	free(f->ent);
	free(f->pent);
	ug_store_close(f->st);
}

struct eff_load {
	struct eff *f;
	struct eff_node *t;
};

/* A rule row, read as the agent reads it (policy/row.c): an invalid one is not enforced. */
static int eff_rule(const struct ug_store_rule *r, void *ctx)
{
	struct eff_load *l = ctx;
	struct eff_comment *c;
	int err;

	if (r->comment) {
		c = grow(&l->f->c, &l->f->n_c, sizeof(*c));
		if (!c || !(c->text = strdup(r->comment)))
			return -ENOMEM;
		c->id = r->id;
	}
	err = ug_own_rules_add(&l->t->rows, &UG_RULE_ROW(r), NULL);
	return err == -EINVAL ? 0 : err;
}

static int eff_unit(const struct ug_store_unit *u, void *ctx)
{
	struct eff *f = ctx;
	struct eff_load l = { .f = f };
	int err;

	if (!u->target || ug_target_parse(u->target, NULL) < 0)
		return 0; /* the agent refuses it too */
	l.t = grow(&f->v, &f->n, sizeof(*l.t));
	if (!l.t || !(l.t->name = strdup(u->target)))
		return -ENOMEM;
	l.t->bad = ug_settings_parse(u->mode, u->default_egress, u->default_ingress, u->harden,
				     &l.t->own, NULL) < 0;
	err = ug_store_unit_rules(f->st, u->id, eff_rule, &l);
	ug_own_rules_settings(&l.t->rows, &l.t->own);
	return err;
}

static int eff_status(const struct ug_store_status *s, void *ctx)
{
	struct eff *f = ctx;

	for (size_t k = 0; k < f->n; k++) {
		if (strcmp(f->v[k].name, s->target))
			continue;
		free(f->v[k].path);
		free(f->v[k].state);
		f->v[k].path = s->cgroup ? strdup(s->cgroup) : NULL;
		f->v[k].state = s->state ? strdup(s->state) : NULL;
		if ((s->cgroup && !f->v[k].path) || (s->state && !f->v[k].state))
			return -ENOMEM;
	}
	return 0;
}

static int eff_own_rules(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	const struct eff *f = ctx;

	*rules = lsm ? (const void *)f->v[j].rows.paths : (const void *)f->v[j].rows.rules;
	*n = lsm ? f->v[j].rows.n_paths : f->v[j].rows.n_rules;
	return 0;
}

/* The nearest policy cgroup of a side at or above the target; -1: none. */
static ssize_t governing(const struct eff *f, bool lsm)
{
	for (ssize_t a = (ssize_t)f->self; a >= 0; a = f->h.parent[a])
		if (ug_inherit_has_side(&f->h, f->own, (size_t)a, lsm))
			return a;
	return -1;
}

/*
 * Read the store and build target's effective policy: what the agent's pass builds
 * (policy/inherit.c, ug_effective_rules) and compiles (ug_compile, ug_path_compile).
 * Returns 0, or an exit status with the reason printed.
 */
int eff_load(struct eff *f, const char *cmd, const char *target)
{
	const char **paths = NULL;
	char cerr[256] = "";
	bool found = false;
	int err;

	memset(f, 0, sizeof(*f));
	if (open_store(UG_STORE_READONLY, &f->st))
		return 1;
	err = ug_store_units(f->st, eff_unit, f);
	if (!err)
		err = ug_store_status_list(f->st, eff_status, f);
	if (err) {
		fprintf(stderr, "unitguardctl: %s: %s\n", cmd,
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(f->st));
		return 1;
	}
	for (size_t k = 0; k < f->n && !found; k++)
		if (!strcmp(f->v[k].name, target))
			found = true, f->self = k;
	if (!found) {
		fprintf(stderr, "unitguardctl: %s: no unit '%s' in the store\n", cmd, target);
		return EXIT_USAGE;
	}
	paths = calloc(f->n, sizeof(*paths));
	f->own = calloc(f->n, sizeof(*f->own));
	f->chain = calloc(f->n, sizeof(*f->chain));
	f->depth = calloc(f->n, sizeof(*f->depth));
	err = paths && f->own && f->chain && f->depth ? 0 : -ENOMEM;
	for (size_t k = 0; !err && k < f->n; k++) {
		paths[k] = f->v[k].path;
		f->own[k] = f->v[k].own;
	}
	if (!err)
		err = ug_inherit_build(paths, f->n, &f->h);
	free(paths);
	if (!err) {
		ssize_t n = ug_inherit_chain(&f->h, f->self, f->chain, f->depth, f->n);

		err = n < 0 ? (int)n : 0;
		f->n_chain = n < 0 ? 0 : (size_t)n;
	}
	/* Each side is judged by the nearest policy cgroup of that side at or
	 * above the target (the kernel's walk): a target without policy of its
	 * own (or in mode off) by its ancestor's. */
	if (!err) {
		ssize_t gn = governing(f, false), gl = governing(f, true);
		struct ug_settings e;

		f->net = gn >= 0;
		f->lsm = gl >= 0;
		ug_inherit_effective(&f->h, f->own, gn >= 0 ? (size_t)gn : f->self, &f->e);
		ug_inherit_effective(&f->h, f->own, gl >= 0 ? (size_t)gl : f->self, &e);
		f->e.lsm_mode = e.lsm_mode;
		f->e.harden = e.harden;
		f->e.harden_audit = e.harden_audit;
		f->e.families = e.families;
		f->e.families_audit = e.families_audit;
		if (gn >= 0)
			err = ug_effective_rules(&f->h, f->own, (size_t)gn, false, eff_own_rules, f,
						 (void **)&f->rules, &f->n_rules, &f->origin);
		if (!err && gl >= 0)
			err = ug_effective_rules(&f->h, f->own, (size_t)gl, true, eff_own_rules, f,
						 (void **)&f->paths, &f->n_paths, &f->porigin);
	}
	if (err) {
		fprintf(stderr, "unitguardctl: %s: %s\n", cmd, strerror(-err));
		return 1;
	}
	/* The compiler the agent uses: a policy it refuses is not in force (the agent keeps
	 * the previous one), and there is nothing to explain from it. */
	err = ug_compile(f->rules, f->n_rules, 1, &f->ent, &f->n_ent, cerr, sizeof(cerr));
	if (!err)
		err = ug_path_compile(f->paths, f->n_paths, 1, &f->pent, &f->n_pent, cerr,
				      sizeof(cerr));
	if (err) {
		struct esc e = { 0 };

		fprintf(stderr, "unitguardctl: %s: the policy of '%s' does not compile (%s): the "
			"agent refuses it and keeps what it had in force\n", cmd,
			esc(&e, target), esc(&e, cerr[0] ? cerr : strerror(-err)));
		esc_free(&e);
		return 1;
	}
	return 0;
}

const char *eff_comment(const struct eff *f, int64_t id)
{
	for (size_t k = 0; k < f->n_c; k++)
		if (f->c[k].id == id)
			return f->c[k].text;
	return NULL;
}

/* Depth of node j in the target's chain; -1 when it is not one of its policy cgroups. */
static int eff_depth(const struct eff *f, size_t j)
{
	for (size_t k = 0; k < f->n_chain; k++)
		if (f->chain[k] == j)
			return f->depth[k];
	return -1;
}

static const char *eff_relation(const struct eff *f, size_t j)
{
	return j == f->self ? "self" : eff_depth(f, j) == 0 ? "alias" : "ancestor";
}

/* Where a rule or setting comes from, in words (escaped into e). */
void eff_from_text(const struct eff *f, size_t j, struct esc *e, char *buf, size_t len)
{
	const struct eff_node *t = &f->v[j];
	int d = eff_depth(f, j);

	if (j == f->self)
		snprintf(buf, len, "%s itself", esc(e, t->name));
	else if (d == 0)
		snprintf(buf, len, "%s (an alias: the same cgroup)", esc(e, t->name));
	else
		snprintf(buf, len, "%s (policy ancestor %d, at %s)", esc(e, t->name), d,
			 esc(e, t->path ?: "?"));
}

json_object *eff_from_json(const struct eff *f, size_t j)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_add_str(o, "target", f->v[j].name);
	json_add_str(o, "relation", eff_relation(f, j));
	json_object_object_add(o, "depth", json_object_new_int(eff_depth(f, j)));
	json_add_str(o, "cgroup", f->v[j].path);
	return o;
}

/*
 * The nearest of the target's policy cgroups in mode `mode` whose own settings satisfy
 * pred; -1: none. A mode governs what its cgroup sets: a setting in force is set by a
 * cgroup in enforce mode, one only audited by a cgroup in audit mode, and a cgroup in
 * mode off sets nothing.
 */
ssize_t eff_setter(const struct eff *f, bool (*pred)(const struct ug_settings *, uint64_t),
		   uint64_t arg, uint8_t mode)
{
	for (size_t k = 0; k < f->n_chain; k++) {
		const struct ug_settings *s = &f->v[f->chain[k]].own;

		if (s->mode == mode && pred(s, arg))
			return (ssize_t)f->chain[k];
	}
	return -1;
}

bool sets_deny(const struct ug_settings *s, uint64_t dir)
{
	return s->deny_default & (1u << dir);
}

bool sets_harden(const struct ug_settings *s, uint64_t bit)
{
	return s->harden & bit;
}

bool sets_family(const struct ug_settings *s, uint64_t family)
{
	return s->families & (1ULL << family);
}

/* A notes array (JSON) or lines "note: ..." (text), escaped. */
void eff_note(json_object *notes, const char *fmt, ...)
{
	char buf[600];
	struct esc e = { 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (notes)
		json_object_array_add(notes, json_object_new_string(buf));
	else
		printf("note: %s\n", esc(&e, buf));
	esc_free(&e);
}

/* What is said of every explanation: placement, state, rows the agent refuses. */
void eff_notes(const struct eff *f, json_object *notes)
{
	const struct eff_node *t = &f->v[f->self];

	if (!t->path)
		eff_note(notes, "%s has no cgroup in the agent's status (%s): its slices and other "
			 "policy cgroups above it were not considered, only its own policy",
			 t->name, t->state ? "not running" : "the agent never placed it");
	if (t->state && strcmp(t->state, "enforced"))
		eff_note(notes, "the agent's status of %s is '%s' (see unitguardctl status): this "
			 "is the policy in the store, not necessarily the one in force", t->name,
			 t->state);
	for (size_t k = 0; k < f->n_chain; k++) {
		const struct eff_node *a = &f->v[f->chain[k]];

		if (a->rows.invalid)
			eff_note(notes, "%s has %u invalid rules in the store: the agent does not "
				 "enforce them, and they are not considered here", a->name,
				 a->rows.invalid);
		if (a->bad)
			eff_note(notes, "%s has invalid settings in the store: the agent enforces "
				 "the defaults (enforce, allow) for it", a->name);
	}
}

const char *eff_rule_mode(bool audit)
{
	return ug_mode_name(audit ? UG_MODE_AUDIT : UG_MODE_ENFORCE);
}

/* A network rule as JSON: its fields, comment and origin. */
json_object *eff_rule_json(const struct eff *f, size_t k)
{
	const struct ug_rule *r = &f->rules[k];
	json_object *o = json_object_new_object();
	char prefix[UG_PREFIX_STRLEN];

	if (!o)
		return NULL;
	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_add_str(o, "direction", ug_dir_name(r->dir));
	json_add_str(o, "action", ug_action_name(r->action));
	json_add_str(o, "mode", eff_rule_mode(r->audit));
	json_add_str(o, "prefix", prefix);
	json_add_str(o, "proto", r->proto ? ug_proto_name(r->proto) : NULL);
	json_object_object_add(o, "port_lo", r->has_ports ? json_object_new_int(r->port_lo) : NULL);
	json_object_object_add(o, "port_hi", r->has_ports ? json_object_new_int(r->port_hi) : NULL);
	json_add_str(o, "comment", eff_comment(f, r->id));
	json_object_object_add(o, "from", eff_from_json(f, f->origin[k]));
	return o;
}

/* An exec or file rule as JSON: its fields, comment and origin. */
json_object *eff_path_json(const struct eff *f, size_t k)
{
	const struct ug_path_rule *r = &f->paths[k];
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_add_str(o, "kind", r->kind == UG_PATH_EXEC ? "exec" : "file");
	json_add_str(o, "action", ug_action_name(r->action));
	json_add_str(o, "mode", eff_rule_mode(r->audit));
	json_add_str(o, "path", r->path);
	json_add_str(o, "access", r->kind == UG_PATH_FILE ? ug_access_name(r->access) : NULL);
	json_add_str(o, "comment", eff_comment(f, r->id));
	json_object_object_add(o, "from", eff_from_json(f, f->porigin[k]));
	return o;
}

ssize_t eff_find_rule(const struct eff *f, uint32_t id)
{
	for (size_t k = 0; k < f->n_rules; k++)
		if (f->rules[k].id == id)
			return (ssize_t)k;
	return -1;
}

ssize_t eff_find_path(const struct eff *f, uint32_t id)
{
	for (size_t k = 0; k < f->n_paths; k++)
		if (f->paths[k].id == id)
			return (ssize_t)k;
	return -1;
}
