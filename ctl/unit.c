// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit set, unit list, unit show, unit del.
 */
#include "ctl.h"

struct unit_find {
	const char *target;
	char harden[64];
};

static int find_unit(const struct ug_store_unit *u, void *ctx)
{
	struct unit_find *f = ctx;

	if (!strcmp(u->target, f->target))
		snprintf(f->harden, sizeof(f->harden), "%s", u->harden ?: "");
	return 0;
}

/* unit set TARGET [options]: settings changed, in force when the command returns. */
int unit_set(int argc, char **argv, const struct sub_opts *o)
{
	const char *why = NULL;
	char harden[64] = "";
	struct ug_store *st;
	int err;

	if (!o->mode && !o->def_egress && !o->def_ingress && !o->harden && !o->no_harden)
		return bad("unit set: nothing to set (--mode, --default-egress, --default-ingress, "
			   "--harden, --no-harden)");
	if (o->harden && ug_harden_parse(o->harden, &why) < 0)
		return bad("invalid --harden '%s': %s", o->harden, why ? why : "expected "
			   "module-load,bpf,ptrace,mount,path-view");
	if (o->no_harden && ug_harden_parse(o->no_harden, &why) < 0)
		return bad("invalid --no-harden '%s': %s", o->no_harden, why ? why : "expected "
			   "module-load,bpf,ptrace,mount,path-view");
	if (o->mode && ug_mode_parse(o->mode) < 0)
		return bad("invalid --mode '%s': expected enforce, audit or off", o->mode);
	if (o->def_egress && ug_action_parse(o->def_egress) < 0)
		return bad("invalid --default-egress '%s': expected allow or deny", o->def_egress);
	if (o->def_ingress && ug_action_parse(o->def_ingress) < 0)
		return bad("invalid --default-ingress '%s': expected allow or deny",
			   o->def_ingress);
	if (open_store(UG_STORE_CREATE, &st))
		return 1;
	if (o->harden || o->no_harden) {
		/* Switches are added and removed, not replaced: read the current set. */
		struct unit_find f = { .target = argv[0] };
		int cur = 0;

		err = ug_store_units(st, find_unit, &f);
		if (!err && f.harden[0] && (cur = ug_harden_parse(f.harden, &why)) < 0)
			cur = 0;
		if (o->harden)
			cur |= ug_harden_parse(o->harden, &why);
		if (o->no_harden)
			cur &= ~ug_harden_parse(o->no_harden, &why);
		ug_harden_format(cur, harden, sizeof(harden));
	}
	err = ug_store_unit_set(st, argv[0], o->mode, o->def_egress, o->def_ingress,
				o->harden || o->no_harden ? harden : NULL);
	if (err) {
		fprintf(stderr, "unitguardctl: unit set: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return 1;
	}
	err = in_force(st, (const char *const *)argv, 1, NULL);
	ug_store_close(st);
	return err;
}

/* unit list and unit show: one unit's settings, as a table row or JSON. */
struct unit_print {
	struct ug_store *st;
	const char *only; /* unit show: this target */
	json_object *arr;
	struct table tab;
	int found;
	int err;
};

static const char *const unit_cols[] = { "TARGET", "MODE", "EGRESS", "INGRESS", "RULES",
					 "HARDEN" };

static int count_rule(const struct ug_store_rule *r, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int print_unit(const struct ug_store_unit *u, void *ctx)
{
	struct unit_print *p = ctx;
	struct esc e = { 0 };
	json_object *o;
	int rules = 0, err;

	if (p->only && strcmp(u->target, p->only))
		return 0;
	p->found++;
	err = ug_store_unit_rules(p->st, u->id, count_rule, &rules);
	if (err)
		return err;
	if (!p->arr) {
		char n[16];
		const char *cells[] = { esc(&e, u->target), esc(&e, u->mode),
					esc(&e, u->default_egress), esc(&e, u->default_ingress), n,
					u->harden && u->harden[0] ? esc(&e, u->harden) : "-" };

		snprintf(n, sizeof(n), "%d", rules);
		return table_row(&p->tab, cells, NULL, &e);
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_add_str(o, "target", u->target);
	json_add_str(o, "mode", u->mode);
	json_add_str(o, "default_egress", u->default_egress);
	json_add_str(o, "default_ingress", u->default_ingress);
	json_add_str(o, "harden", u->harden);
	json_object_object_add(o, "rules", json_object_new_int(rules));
	return json_object_array_add(p->arr, o) ? -ENOMEM : 0;
}

/* unit list, or unit show of target only: the units' settings, then (show) its rules. */
static int units_print(const char *only, bool json)
{
	struct unit_print p = { .only = only };
	struct rule_out rules = { 0 };
	bool show = only;
	json_object *top = NULL;
	int err;

	if (open_store(UG_STORE_READONLY, &p.st))
		return 1;
	if (json)
		err = (p.arr = json_object_new_array()) ? 0 : -ENOMEM;
	else
		err = table_new(&p.tab, unit_cols, ARRAY_SIZE(unit_cols), 1u << 4);
	if (!err)
		err = ug_store_units(p.st, print_unit, &p);
	if (!err && show && !p.found) {
		fprintf(stderr, "unitguardctl: unit show: no unit '%s' in the store\n", only);
		err = -ENOENT;
	} else if (!err && show) {
		err = rule_out_init(&rules, json);
		if (!err)
			err = ug_store_rules(p.st, only, print_rule, &rules);
	}
	if (err && err != -ENOENT)
		fprintf(stderr, "unitguardctl: unit %s: %s\n", show ? "show" : "list",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(p.st));
	if (!err && p.arr) {
		if (show) {
			top = json_object_get(json_object_array_get_idx(p.arr, 0));
			json_object_object_add(top, "rule_list", rules.arr);
			rules.arr = NULL;
			err = print_json(top);
		} else {
			err = print_json(p.arr);
		}
	} else if (!err) {
		err = table_print(&p.tab);
		if (!err && show) {
			putchar('\n');
			err = table_print(&rules.tab);
		}
	}
	json_object_put(top);
	rule_out_free(&rules);
	json_object_put(p.arr);
	if (p.tab.tb)
		table_free(&p.tab);
	ug_store_close(p.st);
	return err == -ENOENT ? EXIT_USAGE : err ? 1 : 0;
}

/* unit list: every unit's settings and rule count. */
int unit_list(int argc, char **argv, const struct sub_opts *o)
{
	return units_print(NULL, o->json);
}

/* unit show TARGET: its settings, then its rules. */
int unit_show(int argc, char **argv, const struct sub_opts *o)
{
	return units_print(argv[0], o->json);
}

/* unit del TARGET: the unit and its rules go; in force when the command returns. */
int unit_del(int argc, char **argv, const struct sub_opts *o)
{
	struct ug_store *st;
	int err;

	if (open_store(0, &st))
		return 1;
	err = ug_store_unit_del(st, argv[0]);
	if (err) {
		fprintf(stderr, "unitguardctl: unit del: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return err == -ENOENT ? EXIT_USAGE : 1;
	}
	err = in_force(st, NULL, 0, NULL);
	ug_store_close(st);
	return err;
}
