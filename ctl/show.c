// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * show: a target's effective policy, in the order its rules decide.
 */
#include <netinet/in.h>

#include "ctl.h"
#include "eff.h"

/* Does an LPM entry stand for rule r's own prefix (not one it inherits from)? */
static bool entry_is_prefix(const struct ug_lpm_entry *en, const struct ug_rule *r)
{
	uint8_t addr[16] = { 0 };
	unsigned int bits = r->prefix.len;

	if (r->prefix.family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, r->prefix.addr, 4);
		bits += 96;
	} else {
		memcpy(addr, r->prefix.addr, 16);
	}
	return en->key.dir == r->dir && en->key.prefixlen == UG_LPM_HDR_BITS + bits &&
	       !memcmp(en->key.addr, addr, 16);
}

/* Longest prefix first within a direction: the order in which prefixes decide. */
static int entry_show_cmp(const void *pa, const void *pb)
{
	const struct ug_lpm_entry *a = pa, *b = pb;

	if (a->key.dir != b->key.dir)
		return a->key.dir < b->key.dir ? -1 : 1;
	if (a->key.prefixlen != b->key.prefixlen)
		return a->key.prefixlen > b->key.prefixlen ? -1 : 1;
	return memcmp(a->key.addr, b->key.addr, 16);
}

/* Exec/file rules in the order they decide: kind, longest path, nearest, deny, id. */
static const struct eff *path_sort_ctx;

static int path_show_cmp(const void *pa, const void *pb)
{
	const struct ug_path_rule *a = &path_sort_ctx->paths[*(const size_t *)pa];
	const struct ug_path_rule *b = &path_sort_ctx->paths[*(const size_t *)pb];
	size_t la = strlen(a->path), lb = strlen(b->path);

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (la != lb)
		return la > lb ? -1 : 1;
	if (strcmp(a->path, b->path))
		return strcmp(a->path, b->path);
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->action != b->action)
		return a->action == UG_ACT_DENY ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static const char *const show_net_cols[] = { "DIR", "PREFIX", "ID", "ACTION", "MODE", "PROTO",
					     "PORT", "FROM", "COMMENT" };
static const char *const show_path_cols[] = { "KIND", "PATH", "ID", "ACTION", "MODE", "ACCESS",
					      "FROM", "COMMENT" };

/* o (NULL: out of memory) with whether its rule decides, appended to arr. */
static int json_add_decides(json_object *arr, json_object *o, bool decides)
{
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "decides", json_object_new_boolean(decides));
	return json_object_array_add(arr, o) ? -ENOMEM : 0;
}

/* One network rule of `show`: a table row or a JSON element. */
static int show_net_rule(const struct eff *f, size_t k, bool decides, struct table *tab,
			 json_object *arr)
{
	const struct ug_rule *r = &f->rules[k];
	char prefix[UG_PREFIX_STRLEN], ports[16], id[24];
	struct esc e = { 0 };

	if (arr)
		return json_add_decides(arr, eff_rule_json(f, k), decides);
	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	ports_text(r->has_ports ? r->port_lo : 0, r->port_hi, ports, sizeof(ports));
	snprintf(id, sizeof(id), "%" PRId64 "%s", r->id, decides ? "" : "*");
	{
		const char *cells[] = { ug_dir_name(r->dir), prefix, id, ug_action_name(r->action),
					eff_rule_mode(r->audit),
					r->proto ? ug_proto_name(r->proto) : "any", ports,
					esc(&e, f->v[f->origin[k]].name),
					esc(&e, eff_comment(f, r->id)) };

		return table_row(tab, cells, NULL, &e);
	}
}

static int show_path_rule(const struct eff *f, size_t k, bool decides, struct table *tab,
			  json_object *arr)
{
	const struct ug_path_rule *r = &f->paths[k];
	const char *kind = r->kind == UG_PATH_EXEC ? "exec" : "file";
	const char *access = r->kind == UG_PATH_FILE ? ug_access_name(r->access) : NULL;
	struct esc e = { 0 };
	char id[24];

	if (arr)
		return json_add_decides(arr, eff_path_json(f, k), decides);
	snprintf(id, sizeof(id), "%" PRId64 "%s", r->id, decides ? "" : "*");
	{
		const char *cells[] = { kind, esc(&e, r->path), id, ug_action_name(r->action),
					eff_rule_mode(r->audit), access ?: "",
					esc(&e, f->v[f->porigin[k]].name),
					esc(&e, eff_comment(f, r->id)) };

		return table_row(tab, cells, NULL, &e);
	}
}

/*
 * The rules in the order they decide, from the compiler's own output: each compiled
 * prefix, longest first, with its own rules in the order the kernel tries them. A rule
 * found in no entry never decides (an identical rule nearer the target wins, or a
 * rule before it on its prefix matches everything it would).
 */
static int show_net_rules(const struct eff *f, struct table *tab, json_object *arr)
{
	struct ug_lpm_entry *ent = malloc((f->n_ent ?: 1) * sizeof(*ent));
	bool *listed = calloc(f->n_rules ?: 1, sizeof(*listed));
	int err = ent && listed ? 0 : -ENOMEM;

	if (!err) {
		memcpy(ent, f->ent, f->n_ent * sizeof(*ent));
		qsort(ent, f->n_ent, sizeof(*ent), entry_show_cmp);
	}
	for (size_t i = 0; !err && i < f->n_ent; i++) {
		for (uint32_t m = 0; !err && m < ent[i].val.n && m < UG_MATCHES_MAX; m++) {
			ssize_t k = eff_find_rule(f, ent[i].val.m[m].rule_id);

			if (k < 0 || listed[k] || !entry_is_prefix(&ent[i], &f->rules[k]))
				continue;
			listed[k] = true;
			err = show_net_rule(f, (size_t)k, true, tab, arr);
		}
	}
	for (size_t k = 0; !err && k < f->n_rules; k++)
		if (!listed[k])
			err = show_net_rule(f, k, false, tab, arr);
	free(ent);
	free(listed);
	return err;
}

static int show_path_rules(struct eff *f, struct table *tab, json_object *arr)
{
	size_t *order = calloc(f->n_paths ?: 1, sizeof(*order));
	int err = order ? 0 : -ENOMEM;

	for (size_t k = 0; order && k < f->n_paths; k++)
		order[k] = k;
	if (order) {
		path_sort_ctx = f;
		qsort(order, f->n_paths, sizeof(*order), path_show_cmp);
	}
	for (size_t i = 0; !err && i < f->n_paths; i++) {
		const struct ug_path_rule *r = &f->paths[order[i]];
		/* exec: the first rule on a path decides it; file rules all add up. */
		bool decides = r->kind == UG_PATH_FILE || !i ||
			       f->paths[order[i - 1]].kind != r->kind ||
			       strcmp(f->paths[order[i - 1]].path, r->path);

		err = show_path_rule(f, order[i], decides, tab, arr);
	}
	free(order);
	return err;
}

/* "value (set on X)" for a setting, and its JSON, {value, mode, from}: a member key of
 * top, or an element of top when that is an array. mode is that of the cgroup that set it
 * (null: none did; the mode setting has none). Returns the JSON object (NULL in text). */
static json_object *show_setting(const struct eff *f, json_object *top, const char *key,
				 const char *value, ssize_t from)
{
	char text[600], name[64];
	struct esc e = { 0 };

	/* default_egress in JSON, "default egress" in text */
	snprintf(name, sizeof(name), "%s", key);
	for (char *c = name; *c; c++)
		if (*c == '_')
			*c = ' ';
	if (top) {
		json_object *o = json_object_new_object();

		json_add_str(o, "value", value);
		if (strcmp(key, "mode"))
			json_add_str(o, "mode",
				     from >= 0 ? ug_mode_name(f->v[from].own.mode) : NULL);
		json_object_object_add(o, "from", from >= 0 ? eff_from_json(f, (size_t)from) : NULL);
		if (json_object_is_type(top, json_type_array))
			json_object_array_add(top, o);
		else
			json_object_object_add(top, key, o);
		return o;
	}
	if (from >= 0) {
		eff_from_text(f, (size_t)from, &e, text, sizeof(text));
		printf("%s: %s (set on %s)\n", name, value, text);
	} else {
		printf("%s: %s\n", name, value);
	}
	esc_free(&e);
	return NULL;
}

/* The mode of the cgroup that set a setting: enforce when it is in force, else audit. */
#define SET_BY(enforced) ((enforced) ? UG_MODE_ENFORCE : UG_MODE_AUDIT)

/* show TARGET: the effective policy, after inheritance, as the agent compiles it. */
int show(int argc, char **argv, const struct sub_opts *o)
{
	json_object *top = NULL, *notes = NULL, *arr = NULL, *parr = NULL, *list;
	json_object *harden = NULL, *families = NULL;
	struct table tab = { 0 }, ptab = { 0 };
	const char *target = argv[0];
	struct esc e = { 0 };
	struct eff f;
	char text[600];
	bool enforced;
	int err;

	err = eff_load(&f, "show", target);
	if (err) {
		eff_free(&f);
		return err;
	}
	if (o->json) {
		top = json_object_new_object();
		notes = json_object_new_array();
		arr = json_object_new_array();
		parr = json_object_new_array();
		list = json_object_new_array();
		if (!top || !notes || !arr || !parr || !list) {
			json_object_put(list);
			err = -ENOMEM;
			goto out;
		}
		json_add_str(top, "target", target);
		json_add_str(top, "cgroup", f.v[f.self].path);
		for (size_t k = 0; k < f.n_chain; k++)
			json_object_array_add(list, eff_from_json(&f, f.chain[k]));
		json_object_object_add(top, "policy_cgroups", list);
		json_object_object_add(top, "network_policy", json_object_new_boolean(f.net));
		json_object_object_add(top, "lsm_policy", json_object_new_boolean(f.lsm));
	} else {
		printf("target: %s\n", esc(&e, target));
		printf("cgroup: %s\n", esc(&e, f.v[f.self].path ?: "(not placed)"));
		for (size_t k = 0; k < f.n_chain; k++) {
			eff_from_text(&f, f.chain[k], &e, text, sizeof(text));
			printf("%s%s", k ? ", " : "policy cgroups (nearest first): ", text);
		}
		printf("\nnetwork policy: %s\nexec/file policy: %s\n", f.net ? "yes" : "no",
		       f.lsm ? "yes" : "no");
	}
	/* A mode governs the rules and settings of the cgroup that set it: the
	 * target's own, and each rule's (MODE) and setting's below. */
	show_setting(&f, top, "mode", ug_mode_name(f.v[f.self].own.mode),
		     f.v[f.self].own.mode == UG_MODE_ENFORCE ? -1 : (ssize_t)f.self);
	for (int dir = UG_DIR_EGRESS; dir <= UG_DIR_INGRESS; dir++) {
		bool deny = f.e.deny_default & (1u << dir), audit = f.e.audit_default & (1u << dir);

		show_setting(&f, top, dir == UG_DIR_EGRESS ? "default_egress" : "default_ingress",
			     deny || audit ? (audit && !top ? "deny, audited" : "deny") : "allow",
			     deny || audit ? eff_setter(&f, sets_deny, dir, SET_BY(deny)) : -1);
	}
	if (top) {
		json_object_object_add(top, "harden", harden = json_object_new_array());
		json_object_object_add(top, "denied_families", families = json_object_new_array());
	}
	for (unsigned bit = 1; bit <= 0x80; bit <<= 1) {
		char name[64];

		if (!((f.e.harden | f.e.harden_audit) & bit) ||
		    ug_harden_format((int)bit, name, sizeof(name)))
			continue;
		enforced = f.e.harden & bit;
		if (!enforced && !top)
			strncat(name, " (audited)", sizeof(name) - strlen(name) - 1);
		show_setting(&f, harden, "harden", name,
			     eff_setter(&f, sets_harden, bit, SET_BY(enforced)));
	}
	for (int fam = 0; fam < 64; fam++) {
		json_object *j;
		uint32_t rule;
		ssize_t s;

		if (!((f.e.families | f.e.families_audit) & (1ULL << fam)))
			continue;
		enforced = f.e.families & (1ULL << fam);
		s = eff_setter(&f, sets_family, (uint64_t)fam, SET_BY(enforced));
		rule = s >= 0 ? f.v[s].rows.family_rule[fam] : 0;
		snprintf(text, sizeof(text), "%s (rule %u%s)", ug_family_name(fam), rule,
			 enforced ? "" : ", audited");
		j = show_setting(&f, families, "denied family", top ? ug_family_name(fam) : text, s);
		if (j)
			json_object_object_add(j, "rule", json_object_new_int64(rule));
	}
	if (top) {
		err = show_net_rules(&f, NULL, arr);
		if (!err)
			err = show_path_rules(&f, NULL, parr);
		eff_notes(&f, notes);
		json_object_object_add(top, "rules", arr);
		json_object_object_add(top, "path_rules", parr);
		json_object_object_add(top, "notes", notes);
		arr = parr = notes = NULL;
		if (!err)
			err = print_json(top) ? -EIO : 0;
		goto out;
	}
	err = table_new(&tab, show_net_cols, ARRAY_SIZE(show_net_cols), 1u << 2);
	if (!err)
		err = table_new(&ptab, show_path_cols, ARRAY_SIZE(show_path_cols), 1u << 2);
	if (!err)
		err = show_net_rules(&f, &tab, NULL);
	if (!err)
		err = show_path_rules(&f, &ptab, NULL);
	if (!err) {
		printf("\nnetwork rules, in the order they decide (longest prefix first; on one "
		       "prefix, in the order the kernel tries them; * never decides):\n");
		err = table_print(&tab);
	}
	if (!err && f.n_paths) {
		printf("\nexec/file rules (longest path first; * never decides):\n");
		err = table_print(&ptab);
	}
	if (!err)
		eff_notes(&f, NULL);
out:
	if (err)
		fprintf(stderr, "unitguardctl: show: %s\n", strerror(-err));
	esc_free(&e);
	if (tab.tb)
		table_free(&tab);
	if (ptab.tb)
		table_free(&ptab);
	json_object_put(top);
	json_object_put(notes);
	json_object_put(arr);
	json_object_put(parr);
	eff_free(&f);
	return err ? 1 : 0;
}
