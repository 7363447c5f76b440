// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * status, stats, metrics: what the agent enforces and counts.
 */
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ctl.h"
#include "gaps.h"
#include "pinned.h"
#include "prom.h"

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- live counters from the agent's pinned maps ---------------------------- */

struct live {
	int units_fd, acct_fd, hits_fd;
};

static void live_close(struct live *l)
{
	if (l->units_fd >= 0)
		close(l->units_fd);
	if (l->acct_fd >= 0)
		close(l->acct_fd);
	if (l->hits_fd >= 0)
		close(l->hits_fd);
}

/* The agent records where it pins; -ENOENT when nothing is pinned there. */
static int live_open(struct ug_store *st, struct live *l)
{
	char dir[256];
	int err;

	if (ug_store_agent_get(st, "pin_dir", dir, sizeof(dir)))
		snprintf(dir, sizeof(dir), UG_PIN_DEFAULT_DIR);
	l->units_fd = ug_pinned_map(dir, "ug_units");
	l->acct_fd = ug_pinned_map(dir, "ug_acct");
	l->hits_fd = ug_pinned_map(dir, "ug_rule_hits");
	err = l->units_fd < 0 ? l->units_fd : l->acct_fd < 0 ? l->acct_fd : l->hits_fd;
	if (err < 0) {
		live_close(l);
		fprintf(stderr, "unitguardctl: no counters pinned under %s: %s (is unitguardd "
			"running, and are you root?)\n", dir, strerror(-err));
		return err;
	}
	return 0;
}

static int live_unit(const struct live *l, uint64_t cgid, struct ug_unit_val *uv,
		     struct ug_acct_val sum[2])
{
	if (bpf_map_lookup_elem(l->units_fd, &cgid, uv))
		return -errno;
	return ug_pinned_acct(l->acct_fd, uv->acct, 0, &sum[0]) ?:
	       ug_pinned_acct(l->acct_fd, uv->acct, 1, &sum[1]);
}

/* A rule that never decided has no entry: 0 hits. */
static int live_hits(const struct live *l, uint32_t rule_id, uint64_t *hits)
{
	int err = ug_pinned_sum(l->hits_fd, &rule_id, hits);

	if (err == -ENOMEM)
		return err;
	if (err)
		*hits = 0;
	return 0;
}

static json_object *acct_json(const struct ug_acct_val *a)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "allowed_packets", json_object_new_uint64(a->packets[UG_ACCT_ALLOWED]));
	json_object_object_add(o, "allowed_bytes", json_object_new_uint64(a->bytes[UG_ACCT_ALLOWED]));
	json_object_object_add(o, "dropped_packets", json_object_new_uint64(a->packets[UG_ACCT_DROPPED]));
	json_object_object_add(o, "dropped_bytes", json_object_new_uint64(a->bytes[UG_ACCT_DROPPED]));
	json_object_object_add(o, "audited_packets", json_object_new_uint64(a->packets[UG_ACCT_AUDITED]));
	json_object_object_add(o, "audited_bytes", json_object_new_uint64(a->bytes[UG_ACCT_AUDITED]));
	return o;
}

struct stats_ctx {
	const char *target;
	struct live live;
	json_object *units, *rules;
	struct ug_store *st;
};

static int stats_unit(const struct ug_store_status *s, void *ctx)
{
	struct stats_ctx *c = ctx;
	struct ug_acct_val a[2];
	struct ug_unit_val uv;
	json_object *o;

	if (c->target && strcmp(c->target, s->target))
		return 0;
	if (!s->cgroup_id || live_unit(&c->live, s->cgroup_id, &uv, a))
		return 0; /* not in the kernel: status says why */
	if (!c->units) {
		struct esc e = { 0 };

		for (int dir = 0; dir < 2; dir++)
			printf("%-28s %-8s %12" PRIu64 " %14" PRIu64 " %12" PRIu64 " %14" PRIu64
			       " %12" PRIu64 " %14" PRIu64 " %6u\n", esc(&e, s->target),
			       dir ? "ingress" : "egress", (uint64_t)a[dir].packets[UG_ACCT_ALLOWED],
			       (uint64_t)a[dir].bytes[UG_ACCT_ALLOWED], (uint64_t)a[dir].packets[UG_ACCT_DROPPED],
			       (uint64_t)a[dir].bytes[UG_ACCT_DROPPED], (uint64_t)a[dir].packets[UG_ACCT_AUDITED],
			       (uint64_t)a[dir].bytes[UG_ACCT_AUDITED], uv.generation);
		esc_free(&e);
		return 0;
	}
	o = json_object_new_object();
	json_add_str(o, "unit", s->target);
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(s->cgroup_id));
	json_object_object_add(o, "generation", json_object_new_int64(uv.generation));
	json_object_object_add(o, "egress", acct_json(&a[0]));
	json_object_object_add(o, "ingress", acct_json(&a[1]));
	return json_object_array_add(c->units, o) ? -ENOMEM : 0;
}

static int stats_rule(const struct ug_store_rule *r, void *ctx)
{
	struct stats_ctx *c = ctx;
	uint64_t hits;
	json_object *o;

	if (live_hits(&c->live, (uint32_t)r->id, &hits))
		return -ENOMEM;
	if (!c->rules) {
		struct esc e = { 0 };

		printf("%-6" PRId64 " %-28s %-8s %-6s %-43s %12" PRIu64 "\n", r->id,
		       esc(&e, r->target), esc(&e, r->direction), esc(&e, r->action),
		       esc(&e, r->prefix), hits);
		esc_free(&e);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_add_str(o, "target", r->target);
	json_object_object_add(o, "hits", json_object_new_uint64(hits));
	return json_object_array_add(c->rules, o) ? -ENOMEM : 0;
}

/* stats [TARGET]: packets, bytes and rule hits from the agent's pinned maps. */
int stats(int argc, char **argv, const struct sub_opts *o)
{
	struct stats_ctx c = { .target = argc ? argv[0] : NULL };
	json_object *top = NULL;
	int err;

	if (open_store(UG_STORE_READONLY, &c.st))
		return 1;
	if (live_open(c.st, &c.live)) {
		ug_store_close(c.st);
		return 1;
	}
	if (o->json) {
		top = json_object_new_object();
		c.units = json_object_new_array();
		c.rules = json_object_new_array();
		json_object_object_add(top, "units", c.units);
		json_object_object_add(top, "rules", c.rules);
	} else {
		printf("%-28s %-8s %12s %14s %12s %14s %12s %14s %6s\n", "UNIT", "DIR",
		       "ALLOWED_PKTS", "ALLOWED_BYTES", "DROPPED_PKTS", "DROPPED_BYTES",
		       "AUDITED_PKTS", "AUDITED_BYTES", "GEN");
	}
	err = ug_store_status_list(c.st, stats_unit, &c);
	if (!err && !o->json)
		printf("\n%-6s %-28s %-8s %-6s %-43s %12s\n", "RULE", "TARGET", "DIR", "ACTION",
		       "PREFIX", "HITS");
	if (!err)
		err = ug_store_rules(c.st, c.target, stats_rule, &c);
	if (err)
		fprintf(stderr, "unitguardctl: stats: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(c.st));
	else if (top)
		err = print_json(top);
	json_object_put(top);
	live_close(&c.live);
	ug_store_close(c.st);
	return err ? 1 : 0;
}

/* --- metrics: metrics/prom.c, the same text as unitguardd --metrics-listen ---- */

int metrics(int argc, char **argv, const struct sub_opts *o)
{
	struct ug_store *st;
	char err[512], *text;
	size_t len;
	int ret;

	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	/* All or nothing: a half text must not reach a collector's file. */
	ret = ug_prom_render(&(struct ug_prom_src){ .st = st, .db_path = arg_db_path }, &text, &len,
			     err, sizeof(err));
	ug_store_close(st);
	if (ret) {
		fprintf(stderr, "unitguardctl: metrics: %s\n", err);
		return 1;
	}
	ret = fwrite(text, 1, len, stdout) != len || fflush(stdout) ? 1 : 0;
	if (ret)
		fprintf(stderr, "unitguardctl: metrics: cannot write: %s\n", strerror(errno));
	free(text);
	return ret;
}

/* --- status ----------------------------------------------------------------- */

/*
 * What each target's rules leave open (policy/gaps.c): its own rules and
 * those of the targets whose cgroup is above its own (what it inherits).
 */
struct lim_entry {
	char *target;
	char *cgroup; /* NULL: not placed; its own rules only */
	struct ug_limits eff; /* its own rules and settings, and those it inherits */
};

struct status_ctx {
	json_object *arr;
	struct table tab;
	struct live live;
	bool have_live;
	int not_enforced;
	int not_in_force; /* neither enforced nor waiting for its unit's start */
	struct lim_entry *lim;
	size_t n_lim;
	size_t last; /* rules come ordered by target: the last one found */
	unsigned shown; /* bit k: limit k was shown */
};

static struct lim_entry *lim_find(struct status_ctx *c, const char *target)
{
	if (c->last < c->n_lim && !strcmp(c->lim[c->last].target, target))
		return &c->lim[c->last];
	for (size_t i = 0; i < c->n_lim; i++) {
		if (!strcmp(c->lim[i].target, target)) {
			c->last = i;
			return &c->lim[i];
		}
	}
	return NULL;
}

static int lim_status(const struct ug_store_status *s, void *ctx)
{
	struct status_ctx *c = ctx;
	struct lim_entry *v = realloc(c->lim, (c->n_lim + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->lim = v;
	v = &c->lim[c->n_lim];
	*v = (struct lim_entry){ .target = strdup(s->target),
				 .cgroup = s->cgroup ? strdup(s->cgroup) : NULL };
	if (!v->target || (s->cgroup && !v->cgroup)) {
		free(v->target);
		free(v->cgroup);
		return -ENOMEM;
	}
	c->n_lim++;
	return 0;
}

/* Whether e counts what a sets: a is e, or a's cgroup is above e's (e inherits it). */
static bool lim_inherits(const struct lim_entry *e, const struct lim_entry *a)
{
	size_t n = a->cgroup ? strlen(a->cgroup) : 0;

	return e == a || (e->cgroup && a->cgroup && !strncmp(a->cgroup, e->cgroup, n) &&
			  e->cgroup[n] == '/');
}

/* A rule (r) or a unit's settings (u) of entry a, counted for a and every target below it. */
static void lim_feed(struct status_ctx *c, const struct lim_entry *a,
		     const struct ug_store_rule *r, bool symlink, const struct ug_store_unit *u)
{
	for (size_t i = 0; i < c->n_lim; i++) {
		struct ug_limits *l = &c->lim[i].eff;

		if (!lim_inherits(&c->lim[i], a))
			continue;
		if (r)
			ug_limits_add_rule(l, r->direction, r->action, r->prefix, r->access);
		l->symlink |= symlink;
		if (u && (!strcmp(u->default_egress, "deny") ||
			  !strcmp(u->default_ingress, "deny")))
			ug_limits_add_default_deny(l);
		if (u && u->harden)
			ug_limits_add_harden(l, ug_harden_parse(u->harden, NULL));
	}
}

static int lim_rule(const struct ug_store_rule *r, void *ctx)
{
	const struct lim_entry *a = lim_find(ctx, r->target);
	char real[PATH_MAX];

	if (a)
		lim_feed(ctx, a, r,
			 (!strcmp(r->direction, "exec") || !strcmp(r->direction, "file")) &&
				 resolves_elsewhere(r->prefix, real, sizeof(real)),
			 NULL);
	return 0;
}

static int lim_unit(const struct ug_store_unit *u, void *ctx)
{
	const struct lim_entry *a = lim_find(ctx, u->target);

	if (a)
		lim_feed(ctx, a, NULL, false, u);
	return 0;
}

static int lim_load(struct ug_store *st, struct status_ctx *c)
{
	int err = ug_store_status_list(st, lim_status, c);

	if (!err)
		err = ug_store_rules(st, NULL, lim_rule, c);
	if (!err)
		err = ug_store_units(st, lim_unit, c);
	return err;
}

static void lim_free(struct status_ctx *c)
{
	for (size_t i = 0; i < c->n_lim; i++) {
		free(c->lim[i].target);
		free(c->lim[i].cgroup);
	}
	free(c->lim);
}

static int status_row(const struct ug_store_status *s, void *ctx)
{
	struct status_ctx *c = ctx;
	struct ug_acct_val a[2] = {};
	struct esc e = { 0 };
	struct ug_unit_val uv;
	bool live = c->have_live && s->cgroup_id && !live_unit(&c->live, s->cgroup_id, &uv, a);
	json_object *o;

	const struct lim_entry *lim = lim_find(c, s->target);
	json_object *open = NULL;
	char open_text[256] = "";

	for (int k = 0; lim && k < UG_LIMIT_MAX; k++) {
		if (!ug_limits_open(&lim->eff, k))
			continue;
		c->shown |= 1u << k;
		if (c->arr) {
			if (!open)
				open = json_object_new_array();
			json_object_array_add(open, json_object_new_string(ug_limit_name(k)));
		} else {
			size_t n = strlen(open_text);

			snprintf(open_text + n, sizeof(open_text) - n, "%s%s", n ? ", " : "",
				 ug_limit_name(k));
		}
	}
	if (!s->enforced)
		c->not_enforced++;
	/* Kept for a unit's next start is in force as far as it can be. */
	if (!s->state || (strcmp(s->state, "enforced") && strcmp(s->state, "waiting")))
		c->not_in_force++;
	if (!c->arr) {
		char gen[16], eg[24], in[24], *under = NULL;
		const char *cells[] = { esc(&e, s->target), esc(&e, s->mode) ?: "-",
					s->enforced ? "yes" : "NO", gen,
					s->programs ? "attached" : "-", eg, in,
					esc(&e, s->reason) };
		size_t len = 0;
		FILE *m;
		int err;

		snprintf(gen, sizeof(gen), "%u", s->generation);
		snprintf(eg, sizeof(eg), "%" PRIu64, (uint64_t)a[0].packets[UG_ACCT_DROPPED]);
		snprintf(in, sizeof(in), "%" PRIu64, (uint64_t)a[1].packets[UG_ACCT_DROPPED]);
		/* Where it is and what it leaves open, under its row. */
		m = open_memstream(&under, &len);
		if (!m) {
			esc_free(&e);
			return -ENOMEM;
		}
		if (s->cgroup)
			fprintf(m, "    cgroup %s (id %" PRIu64 ")%s%s\n", esc(&e, s->cgroup),
				s->cgroup_id, s->programs ? ", programs: " : "",
				esc(&e, s->programs) ?: "");
		if (open_text[0])
			fprintf(m, "    open: %s\n", open_text);
		err = fclose(m) ? -ENOMEM : table_row(&c->tab, cells, len ? under : NULL, &e);
		free(under);
		esc_free(&e);
		return err;
	}
	o = json_object_new_object();
	json_add_str(o, "target", s->target);
	json_add_str(o, "cgroup", s->cgroup);
	json_object_object_add(o, "cgroup_id", s->cgroup_id ? json_object_new_uint64(s->cgroup_id) : NULL);
	json_add_str(o, "mode", s->mode);
	json_object_object_add(o, "generation", json_object_new_int64(s->generation));
	json_add_str(o, "programs", s->programs);
	json_object_object_add(o, "enforced", json_object_new_boolean(s->enforced));
	json_add_str(o, "reason", s->reason);
	if (live) {
		json_object_object_add(o, "egress", acct_json(&a[0]));
		json_object_object_add(o, "ingress", acct_json(&a[1]));
	}
	json_add_str(o, "updated_at", s->updated_at);
	json_object_object_add(o, "open", open ? open : json_object_new_array());
	return json_object_array_add(c->arr, o) ? -ENOMEM : 0;
}

static const char *const status_cols[] = { "TARGET",   "MODE",       "ENF",        "GEN",
					   "PROGRAMS", "EG_DROPPED", "IN_DROPPED", "NOTE" };

/* status: what the agent enforces where, and what it does not; exit 3 when not all is. */
int status(int argc, char **argv, const struct sub_opts *o)
{
	char pid[32] = "0", beat[32] = "0", gen[32] = "0", lsm[256] = "unknown", maps[160] = "";
	char cgroups[320] = "";
	struct status_ctx c = {};
	json_object *top = NULL;
	struct ug_store *st;
	bool running;
	double age;
	int err = 0;

	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	ug_store_agent_get(st, "heartbeat_us", beat, sizeof(beat));
	ug_store_agent_get(st, "generation", gen, sizeof(gen));
	ug_store_agent_get(st, "lsm", lsm, sizeof(lsm));
	ug_store_agent_get(st, "maps", maps, sizeof(maps));
	ug_store_agent_get(st, "cgroups", cgroups, sizeof(cgroups));
	/* Running means holding the store's lock, which the kernel drops when
	 * the agent dies; the heartbeat is only shown (a clock step or a forged
	 * row can put it anywhere, so it is read as a double, never overflowing). */
	snprintf(pid, sizeof(pid), "%d", (int)agent_pid());
	running = atoi(pid) > 0;
	age = ((double)now_us() - (double)strtoll(beat, NULL, 10)) / 1e6;
	if (age < 0)
		age = 0;
	c.have_live = running && !live_open(st, &c.live);
	if (o->json) {
		top = json_object_new_object();
		c.arr = json_object_new_array();
		json_object_object_add(top, "agent_running", json_object_new_boolean(running));
		json_object_object_add(top, "agent_pid", json_object_new_int(atoi(pid)));
		json_object_object_add(top, "generation", json_object_new_int64(strtoll(gen, NULL, 10)));
		json_add_str(top, "lsm", lsm);
		json_add_str(top, "maps", maps[0] ? maps : NULL);
		json_add_str(top, "cgroups", cgroups[0] ? cgroups : NULL);
		json_object_object_add(top, "units", c.arr);
	} else {
		struct esc e = { 0 };

		if (running)
			printf("agent: running (pid %s, heartbeat %.1f s ago), generation %s\n", pid,
			       age, esc(&e, gen));
		else if (strtoll(beat, NULL, 10) <= 0)
			printf("agent: NOT RUNNING (never ran on this store)\n");
		else
			printf("agent: NOT RUNNING (last heartbeat %.0f s ago): pinned programs keep "
			       "enforcing the last policy; store changes are NOT applied\n", age);
		printf("network (cgroup BPF): available\nlsm: %s\n", esc(&e, lsm));
		if (maps[0])
			printf("maps (entries used/capacity): %s\n", esc(&e, maps));
		if (cgroups[0])
			printf("cgroups: %s\n", esc(&e, cgroups));
		esc_free(&e);
		putchar('\n');
		err = table_new(&c.tab, status_cols, ARRAY_SIZE(status_cols),
				1u << 3 | 1u << 5 | 1u << 6);
	}
	if (!err)
		err = lim_load(st, &c);
	if (!err)
		err = ug_store_status_list(st, status_row, &c);
	if (!err && !top)
		err = table_print(&c.tab);
	if (!err && c.shown) {
		json_object *lims = top ? json_object_new_object() : NULL;

		if (!top)
			printf("\nWays around these rules left open (README, \"What the rules do not "
			       "cover\"):\n");
		for (int k = 0; k < UG_LIMIT_MAX; k++) {
			if (!(c.shown & (1u << k)))
				continue;
			if (lims)
				json_object_object_add(lims, ug_limit_name(k),
						       json_object_new_string(ug_limit_text(k)));
			else
				printf("  %-15s %s\n", ug_limit_name(k), ug_limit_text(k));
		}
		if (top)
			json_object_object_add(top, "open", lims);
	}
	if (err)
		fprintf(stderr, "unitguardctl: status: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	else if (top)
		err = print_json(top);
	else if (c.not_enforced)
		printf("\n%d target(s) NOT enforced: see NOTE\n", c.not_enforced);
	lim_free(&c);
	json_object_put(top);
	if (c.tab.tb)
		table_free(&c.tab);
	if (c.have_live)
		live_close(&c.live);
	ug_store_close(st);
	/* Like systemctl is-active: scripts and monitors read the exit status. */
	return err ? 1 : !running || c.not_in_force ? EXIT_NOT_IN_FORCE : 0;
}
