// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * apply and export: the whole policy as a YAML file.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "file.h"
#include "need.h"

/*
 * The whole file, at most UG_POLICY_FILE_MAX bytes: a bigger regular file is
 * refused before reading, a pipe after reading one byte more; a read error
 * (a directory: EISDIR) is an error, not an empty file.
 */
static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	size_t cap = UG_POLICY_FILE_MAX + 1, n = 0;
	struct stat sb;
	char *b;
	int err = 0;

	if (!f)
		return -errno;
	if (!fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) && sb.st_size > UG_POLICY_FILE_MAX)
		err = -EFBIG;
	b = err ? NULL : malloc(cap);
	if (!err && !b)
		err = -ENOMEM;
	while (!err) {
		size_t got = fread(b + n, 1, cap - n, f);

		n += got;
		if (ferror(f))
			err = errno ? -errno : -EIO;
		else if (n > UG_POLICY_FILE_MAX)
			err = -EFBIG;
		else if (!got || feof(f))
			break;
	}
	if (f != stdin)
		fclose(f);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * Does the file fit the kernel's maps? Counted as the agent will write it
 * (policy/need.h), where each target will be: a path target at its path, a
 * target the agent has placed where the status table says, a slice where
 * systemd puts slices; any other (a unit never seen running) with its own
 * rules only. Against the capacity and use the running agent reports
 * (status), or this build's capacities. Strict: the agent writes a unit's
 * new trie before it frees the old one, so the new policy must fit beside
 * what is in force now. Prints what it needs; EXIT_USAGE when it does not
 * fit.
 */
struct placed {
	char *target, *cgroup;
};

static int placed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct placed *)a)->target, ((const struct placed *)b)->target);
}

struct placed_list {
	struct placed *v;
	size_t n;
	int err;
};

static int collect_placed(const struct ug_store_status *s, void *ctx)
{
	struct placed_list *l = ctx;
	struct placed *p;

	if (!s->target || !s->cgroup)
		return 0;
	p = reallocarray(l->v, l->n + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->v = p;
	p[l->n].target = strdup(s->target);
	p[l->n].cgroup = strdup(s->cgroup);
	if (!p[l->n].target || !p[l->n].cgroup) {
		free(p[l->n].target);
		free(p[l->n].cgroup);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int check_fits(const struct ug_policy_file *pf, struct ug_store *st)
{
	struct ug_need_target *t = calloc(pf->n_units ?: 1, sizeof(*t));
	struct ug_rule *rules = calloc(pf->n_rules ?: 1, sizeof(*rules));
	char (*slices)[PATH_MAX] = calloc(pf->n_units ?: 1, sizeof(*slices));
	size_t lpm_used = 0, lpm_cap = UG_LPM_MAX, lists_used = 0, lists_cap = UG_LISTS_MAX;
	size_t units_used = 0, units_cap = UG_UNITS_MAX, bad_i = 0, r = 0, last = 0;
	struct placed_list pl = {};
	struct ug_need need;
	char maps[160] = "", why[256] = "";
	bool fits, reported = false;
	int err = -ENOMEM;

	if (!t || !rules || !slices)
		goto out;
	if (st) {
		if (ug_store_status_list(st, collect_placed, &pl) < 0)
			fprintf(stderr, "unitguardctl: cannot read where the agent placed the units: "
				"%s; counting them as not running\n", ug_store_errmsg(st));
		if (pl.n)
			qsort(pl.v, pl.n, sizeof(*pl.v), placed_cmp);
		if (!ug_store_agent_get(st, "maps", maps, sizeof(maps)) &&
		    sscanf(maps, "ug_lpm %zu/%zu, ug_lists %zu/%zu, ug_units %zu/%zu", &lpm_used,
			   &lpm_cap, &lists_used, &lists_cap, &units_used, &units_cap) == 6)
			reported = true;
	}
	/* The file lists each unit's rules together, in file order: ids as a
	 * fresh store would give them (what is shared depends only on which
	 * rules are the same rule). */
	for (size_t i = 0; i < pf->n_units; i++) {
		const struct ug_file_unit *u = &pf->units[i];
		struct placed key = { .target = u->target }, *p;

		t[i].deny_default = (u->default_egress && !strcmp(u->default_egress, "deny")) ||
				    (u->default_ingress && !strcmp(u->default_ingress, "deny"));
		if (u->target[0] == '/')
			t[i].path = u->target;
		else if (pl.n && (p = bsearch(&key, pl.v, pl.n, sizeof(*pl.v), placed_cmp)))
			t[i].path = p->cgroup;
		else if (!ug_slice_path(u->target, slices[i], sizeof(slices[i])))
			t[i].path = slices[i];
	}
	for (size_t k = 0; k < pf->n_rules; k++) {
		const struct ug_file_rule *fr = &pf->rules[k];
		const char *w = NULL;
		size_t i;

		if (ug_dir_parse(fr->direction) < 0)
			continue; /* exec, file, family: the LSM's maps */
		/* A unit's rules are together: most lookups are the last one. */
		i = last < pf->n_units && !strcmp(pf->units[last].target, fr->target) ? last : 0;
		for (; i < pf->n_units && strcmp(pf->units[i].target, fr->target); i++)
			;
		last = i;
		if (i == pf->n_units || ug_rule_parse((int64_t)k + 1, fr->direction, fr->action,
						      fr->prefix, fr->proto, fr->port_lo, fr->port_hi,
						      &rules[r], &w)) {
			fprintf(stderr, "unitguardctl: apply: rule %zu: %s\n", k + 1,
				w ? w : "not a network rule of a unit in the file");
			err = -EINVAL;
			goto out;
		}
		if (!t[i].rules)
			t[i].rules = &rules[r];
		t[i].n_rules++;
		r++;
	}
	err = ug_need_net(t, pf->n_units, &need, &bad_i, why, sizeof(why));
	if (err == -ENOMEM)
		goto out;
	if (err) {
		fprintf(stderr, "unitguardctl: apply: %s: %s (nothing changed)\n",
			pf->units[bad_i].target, why);
		goto out;
	}
	fits = need.entries + lpm_used <= lpm_cap && need.lists + lists_used <= lists_cap &&
	       need.groups <= units_cap;
	fprintf(fits ? stdout : stderr,
		"%s%zu policy cgroups with network policy (ug_units holds %zu), %zu distinct tries "
		"with %zu entries in all (ug_lpm: %zu in use of %zu%s), %zu match lists (ug_lists: "
		"%zu in use of %zu)%s\n",
		fits ? "needs " : "unitguardctl: apply: does not fit, nothing changed: needs ",
		need.groups, units_cap, need.tries, need.entries, lpm_used, lpm_cap,
		reported ? ", as the agent reports" : "; no agent has reported its maps",
		need.lists, lists_used, lists_cap,
		fits ? "" : "; the agent writes a unit's new trie before it frees the old one, "
			    "so a new policy must fit beside the one in force");
	err = fits ? 0 : -ENOSPC;
out:
	if (err == -ENOMEM)
		fprintf(stderr, "unitguardctl: apply: out of memory\n");
	for (size_t i = 0; i < pl.n; i++) {
		free(pl.v[i].target);
		free(pl.v[i].cgroup);
	}
	free(pl.v);
	free(t);
	free(rules);
	free(slices);
	return err;
}

/* apply: how many changes of each kind. */
struct change_count {
	size_t n[UG_CHANGE_RULE_COMMENT + 1];
	size_t units_set; /* units kept whose settings changed, each once */
	char last[PATH_MAX];
};

static int count_change(const struct ug_store_change *c, void *ctx)
{
	struct change_count *cc = ctx;

	cc->n[c->kind]++;
	/* Changes come ordered by target; old_value NULL: a new unit's settings. */
	if (c->kind == UG_CHANGE_UNIT_SET && c->old_value && strcmp(cc->last, c->target)) {
		cc->units_set++;
		snprintf(cc->last, sizeof(cc->last), "%s", c->target);
	}
	return 0;
}

/* The file's units and rules as the store takes them (pointing into pf). */
static int file_specs(const struct ug_policy_file *pf, struct ug_store_unit **units,
		      struct ug_store_rule_spec **rules)
{
	*units = calloc(pf->n_units ?: 1, sizeof(**units));
	*rules = calloc(pf->n_rules ?: 1, sizeof(**rules));
	if (!*units || !*rules) {
		free(*units);
		free(*rules);
		*units = NULL;
		*rules = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < pf->n_units; i++)
		(*units)[i] = (struct ug_store_unit){
			.target = pf->units[i].target,
			.mode = pf->units[i].mode,
			.default_egress = pf->units[i].default_egress,
			.default_ingress = pf->units[i].default_ingress,
			.harden = pf->units[i].harden,
		};
	for (size_t i = 0; i < pf->n_rules; i++)
		(*rules)[i] = (struct ug_store_rule_spec){
			.target = pf->rules[i].target,
			.direction = pf->rules[i].direction,
			.action = pf->rules[i].action,
			.prefix = pf->rules[i].prefix,
			.access = pf->rules[i].access,
			.proto = pf->rules[i].proto,
			.port_lo = pf->rules[i].port_lo,
			.port_hi = pf->rules[i].port_hi,
			.comment = pf->rules[i].comment,
		};
	return 0;
}

/* A rule as `rule add` takes it (after the target), escaped. */
static void print_rule_words(struct esc *e, const struct ug_store_rule_spec *r)
{
	char ports[16];

	printf("%s %s %s %s", esc(e, r->target), esc(e, r->direction), esc(e, r->action),
	       esc(e, r->prefix));
	if (r->proto)
		printf(" --proto %s", esc(e, r->proto));
	if (r->port_lo) {
		ports_text(r->port_lo, r->port_hi, ports, sizeof(ports));
		printf(" --port %s", ports);
	}
	if (r->access)
		printf(" --access %s", esc(e, r->access));
}

/* apply --diff: one line per change; "+" added, "-" deleted, "~" changed. */
static int print_change(const struct ug_store_change *c, void *ctx)
{
	const char *old = c->old_value, *new = c->new_value;
	struct esc e = { 0 };

	switch (c->kind) {
	case UG_CHANGE_UNIT_ADD:
		printf("+ unit %s\n", esc(&e, c->target));
		break;
	case UG_CHANGE_UNIT_DEL:
		printf("- unit %s\n", esc(&e, c->target));
		break;
	case UG_CHANGE_UNIT_SET:
		/* harden "" is no switch at all. */
		if (old && !old[0])
			old = "none";
		if (!new[0])
			new = "none";
		if (old)
			printf("~ unit %s: %s %s -> %s\n", esc(&e, c->target), c->field,
			       esc(&e, old), esc(&e, new));
		else
			printf("+ unit %s: %s %s\n", esc(&e, c->target), c->field, esc(&e, new));
		break;
	case UG_CHANGE_RULE_ADD:
	case UG_CHANGE_RULE_DEL:
		if (c->kind == UG_CHANGE_RULE_ADD)
			printf("+ rule ");
		else
			printf("- rule %" PRId64 " ", c->rule_id);
		print_rule_words(&e, c->rule);
		if (c->rule->comment)
			printf(" --comment \"%s\"", esc(&e, c->rule->comment));
		putchar('\n');
		break;
	case UG_CHANGE_RULE_COMMENT:
		printf("~ rule %" PRId64 " ", c->rule_id);
		print_rule_words(&e, c->rule);
		printf(": comment %s%s%s -> %s%s%s\n", old ? "\"" : "", old ? esc(&e, old) : "none",
		       old ? "\"" : "", new ? "\"" : "", new ? esc(&e, new) : "none",
		       new ? "\"" : "");
		break;
	}
	esc_free(&e);
	return 0;
}

/*
 * apply --diff FILE: what apply would change, nothing written. Exit status as diff(1)'s:
 * 0 no difference, 1 differences, 2 trouble (bad input, a store that cannot be read). No
 * store yet: everything in the file is new.
 */
static int apply_diff(const struct ug_policy_file *pf)
{
	struct ug_store_rule_spec *rules;
	struct ug_store_unit *units;
	struct ug_store *st;
	size_t n = 0;
	int err;

	if (open_store_if_any(&st))
		return EXIT_USAGE;
	err = file_specs(pf, &units, &rules);
	if (!err)
		err = ug_store_replace_changes(st, units, pf->n_units, rules, pf->n_rules,
					       UG_REPLACE_DRY_RUN, print_change, NULL, &n);
	if (err)
		fprintf(stderr, "unitguardctl: apply --diff: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	free(units);
	free(rules);
	ug_store_close(st);
	return err ? EXIT_USAGE : n ? 1 : 0;
}

/* apply FILE [--check|--diff]: the store made to hold the file's policy, writing what differs. */
int apply(int argc, char **argv, const struct sub_opts *o)
{
	struct ug_store_rule_spec *rules = NULL;
	struct ug_store_unit *units = NULL;
	struct change_count cc = { 0 };
	struct ug_policy_file pf = {};
	char err_text[512], *buf = NULL;
	const char *done = NULL;
	size_t len = 0, n_changes = 0;
	struct ug_store *st;
	int err;

	if (o->check && o->diff)
		return bad("apply: --check and --diff exclude each other");
	err = read_file(argv[0], &buf, &len);
	if (err)
		return bad("apply: cannot read %s: %s", argv[0], strerror(-err));
	err = ug_policy_file_parse(buf, len, &pf, err_text, sizeof(err_text));
	free(buf);
	if (err)
		return bad("invalid FILE %s: %s", argv[0], err_text);
	if (o->diff) {
		err = apply_diff(&pf);
		ug_policy_file_free(&pf);
		return err;
	}

	/* --check reads an existing store (where units are, what is in use);
	 * apply creates it. */
	if (o->check) {
		if (open_store_if_any(&st)) {
			ug_policy_file_free(&pf);
			return 1;
		}
	} else if (open_store(UG_STORE_CREATE, &st)) {
		ug_policy_file_free(&pf);
		return 1;
	}
	err = check_fits(&pf, st);
	if (err || o->check) {
		if (!err)
			printf("%s fits: %zu units, %zu rules (--check: nothing written)\n", argv[0],
			       pf.n_units, pf.n_rules);
		if (st)
			ug_store_close(st);
		ug_policy_file_free(&pf);
		return err == -ENOMEM ? 1 : err ? EXIT_USAGE : 0;
	}

	err = file_specs(&pf, &units, &rules);
	if (!err)
		err = ug_store_replace_changes(st, units, pf.n_units, rules, pf.n_rules, 0,
					       count_change, &cc, &n_changes);
	if (err == -ENOMEM) {
		fprintf(stderr, "unitguardctl: apply: %s (nothing changed)\n", strerror(ENOMEM));
	} else if (err) {
		fprintf(stderr, "unitguardctl: apply: %s (nothing changed)\n", ug_store_errmsg(st));
	} else {
		const char **targets = calloc(pf.n_units ?: 1, sizeof(*targets));

		if (!n_changes) {
			printf("unchanged: the store holds this policy already (%zu units, %zu "
			       "rules); nothing written\n", pf.n_units, pf.n_rules);
			done = "the store holds this policy already";
		} else {
			printf("applied %zu units, %zu rules: rules %zu added, %zu deleted, %zu "
			       "kept with their ids (%zu comments changed); units %zu added, %zu "
			       "deleted, %zu with settings changed\n", pf.n_units, pf.n_rules,
			       cc.n[UG_CHANGE_RULE_ADD], cc.n[UG_CHANGE_RULE_DEL],
			       pf.n_rules - cc.n[UG_CHANGE_RULE_ADD], cc.n[UG_CHANGE_RULE_COMMENT],
			       cc.n[UG_CHANGE_UNIT_ADD], cc.n[UG_CHANGE_UNIT_DEL], cc.units_set);
		}
		fflush(stdout);
		for (size_t i = 0; targets && i < pf.n_units; i++)
			targets[i] = pf.units[i].target;
		err = in_force(st, targets, targets ? pf.n_units : 0, done);
		free(targets);
		if (err) {
			ug_store_close(st);
			free(units);
			free(rules);
			ug_policy_file_free(&pf);
			return err;
		}
	}
	ug_store_close(st);
	free(units);
	free(rules);
	ug_policy_file_free(&pf);
	return err ? 1 : 0;
}

/* export: the store's policy, copied into a policy file's structures. */
struct export_ctx {
	struct ug_policy_file pf;
	int err;
};

/* A copy of s (NULL: NULL); out of memory: NULL, and c->err says so. */
static char *dup_str(struct export_ctx *c, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		c->err = -ENOMEM;
	return d;
}

static int export_unit(const struct ug_store_unit *u, void *ctx)
{
	struct export_ctx *c = ctx;
	struct ug_file_unit *fu = grow(&c->pf.units, &c->pf.n_units, sizeof(*fu));

	if (!fu)
		return -ENOMEM;
	*fu = (struct ug_file_unit){
		.target = dup_str(c, u->target),
		.mode = dup_str(c, u->mode),
		.default_egress = dup_str(c, u->default_egress),
		.default_ingress = dup_str(c, u->default_ingress),
		.harden = u->harden && u->harden[0] ? dup_str(c, u->harden) : NULL,
	};
	return c->err;
}

static int export_rule(const struct ug_store_rule *r, void *ctx)
{
	struct export_ctx *c = ctx;
	struct ug_file_rule *fr = grow(&c->pf.rules, &c->pf.n_rules, sizeof(*fr));

	if (!fr)
		return -ENOMEM;
	*fr = (struct ug_file_rule){
		.target = dup_str(c, r->target),
		.direction = dup_str(c, r->direction),
		.action = dup_str(c, r->action),
		.prefix = dup_str(c, r->prefix),
		.access = dup_str(c, r->access),
		.proto = dup_str(c, r->proto),
		.port_lo = r->port_lo,
		.port_hi = r->port_hi,
		.comment = dup_str(c, r->comment),
	};
	return c->err;
}

/* export [FILE]: the store's policy as YAML, to FILE (written whole or not at all) or stdout. */
int export(int argc, char **argv, const struct sub_opts *o)
{
	struct export_ctx c = {};
	char err_text[512], *out = NULL, tmp[4096];
	struct ug_store *st;
	size_t len = 0;
	int err;
	FILE *f;

	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	err = ug_store_units(st, export_unit, &c);
	if (!err)
		err = ug_store_rules(st, NULL, export_rule, &c);
	if (err) {
		fprintf(stderr, "unitguardctl: export: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
		goto out;
	}
	err = ug_policy_file_emit(&c.pf, &out, &len, err_text, sizeof(err_text));
	if (err) {
		fprintf(stderr, "unitguardctl: export: %s\n", err_text);
		goto out;
	}
	if (argc == 0 || !strcmp(argv[0], "-")) {
		err = fwrite(out, 1, len, stdout) == len ? 0 : -EIO;
		goto out;
	}
	/* Write beside the target and rename: never a half-written file. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", argv[0], getpid()) >= sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	f = fopen(tmp, "wex");
	if (!f || fwrite(out, 1, len, f) != len || fflush(f) || fsync(fileno(f))) {
		err = -errno ?: -EIO;
		if (f)
			fclose(f);
		unlink(tmp);
		fprintf(stderr, "unitguardctl: export: cannot write %s: %s\n", argv[0],
			strerror(-err));
		goto out;
	}
	fclose(f);
	if (rename(tmp, argv[0])) {
		err = -errno;
		unlink(tmp);
		fprintf(stderr, "unitguardctl: export: cannot write %s: %s\n", argv[0],
			strerror(-err));
	}
out:
	free(out);
	ug_policy_file_free(&c.pf);
	ug_store_close(st);
	return err ? 1 : 0;
}
