// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardd: reads rules from the store, resolves each target to its cgroup,
 * hands the kernel one generation per change, and drains denials to the
 * journal and the audit table.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "audit.h"
#include "cgroup.h"
#include "log.h"
#include "net.h"
#include "policy.h"
#include "store.h"

#define UG_DEFAULT_BPFFS "/sys/fs/bpf"
#define UG_DEFAULT_PIN_DIR UG_DEFAULT_BPFFS "/unitguard"
#define TARGET_MAX 256

struct target {
	char name[TARGET_MAX];
	struct ug_rule *rules;
	size_t n_rules;
	uint8_t mode;         /* its own setting (units table) */
	uint8_t deny_default; /* its own setting: bit (1 << dir) */
	struct ug_cgroup cg;
	int err; /* resolution: 0, -ENOENT (not running), ... */
	char why[160]; /* what is not enforced and why, for status */
	bool attached; /* the programs are attached to this cgroup */
	const char *inherits; /* attached at this ancestor instead */
	uint32_t generation;
};

struct agent {
	const char *db_path;
	const char *pin_dir;
	char cgroot[PATH_MAX];
	sd_bus *bus;
	struct ug_store *st;
	struct ug_net *net;
	struct ug_audit *audit;
	int64_t policy_version;
	struct target *targets;
	size_t n_targets;
	/* Last problem logged per target, so a pending unit is reported when it
	 * changes state, not every second. */
	struct {
		char name[TARGET_MAX];
		int err;
	} reported[256];
	size_t n_reported;
	uint64_t lost_seen;
	unsigned stats_interval; /* seconds between accounting snapshots */
	uint64_t last_stats_us;
	int64_t started_us;
};

static void targets_free(struct agent *ag)
{
	for (size_t i = 0; i < ag->n_targets; i++)
		free(ag->targets[i].rules);
	free(ag->targets);
	ag->targets = NULL;
	ag->n_targets = 0;
}

static struct target *target_get(struct agent *ag, const char *name)
{
	struct target *t;

	for (size_t i = 0; i < ag->n_targets; i++)
		if (!strcmp(ag->targets[i].name, name))
			return &ag->targets[i];
	t = reallocarray(ag->targets, ag->n_targets + 1, sizeof(*t));
	if (!t)
		return NULL;
	ag->targets = t;
	t = &ag->targets[ag->n_targets++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = UG_MODE_ENFORCE;
	return t;
}

/* The store is a boundary: a row that does not parse is refused, loudly. */
static int load_rule(const struct ug_store_rule *r, void *ctx)
{
	struct agent *ag = ctx;
	struct ug_rule rule;
	struct target *t;
	const char *why = NULL;
	int dir, action, proto = 0;

	memset(&rule, 0, sizeof(rule)); /* compared with memcmp() in net.c */
	dir = ug_dir_parse(r->direction);
	action = ug_action_parse(r->action);
	if (r->proto)
		proto = ug_proto_parse(r->proto);
	if (strlen(r->target) >= TARGET_MAX || ug_target_parse(r->target, &why) < 0 || dir < 0 ||
	    action < 0 || proto < 0 || ug_prefix_parse(r->prefix, &rule.prefix, &why) ||
	    r->id <= 0 || r->id > UINT32_MAX || r->port_lo > 65535 || r->port_hi > 65535 ||
	    (r->port_lo && r->port_hi < r->port_lo) || (!r->port_lo && r->port_hi)) {
		ug_log(LOG_ERR, "agent: store rule %" PRId64 " is invalid (%s); NOT enforced",
		       r->id, why ? why : "bad direction, action, protocol, ports or id");
		return 0;
	}
	rule.id = r->id;
	rule.dir = dir;
	rule.action = action;
	rule.proto = proto;
	rule.has_ports = r->port_lo != 0;
	rule.port_lo = r->port_lo;
	rule.port_hi = r->port_hi;
	t = target_get(ag, r->target);
	if (!t)
		return -ENOMEM;
	t->rules = reallocarray(t->rules, t->n_rules + 1, sizeof(*t->rules));
	if (!t->rules)
		return -ENOMEM;
	t->rules[t->n_rules++] = rule;
	return 0;
}

static int load_unit(const struct ug_store_unit *u, void *ctx)
{
	struct agent *ag = ctx;
	const char *why = NULL;
	int mode = ug_mode_parse(u->mode);
	int eg = ug_action_parse(u->default_egress), in = ug_action_parse(u->default_ingress);
	struct target *t;

	if (strlen(u->target) >= TARGET_MAX || ug_target_parse(u->target, &why) < 0 || mode < 0 ||
	    eg < 0 || in < 0) {
		ug_log(LOG_ERR, "agent: store unit '%s' is invalid (%s); its settings are NOT "
		       "enforced", u->target, why ? why : "bad mode or default posture");
		return 0;
	}
	/* A unit with nothing to enforce gets no program: keep it out. */
	if (mode == UG_MODE_ENFORCE && eg == UG_ACT_ALLOW && in == UG_ACT_ALLOW)
		return 0;
	t = target_get(ag, u->target);
	if (!t)
		return -ENOMEM;
	t->mode = mode;
	t->deny_default = (eg == UG_ACT_DENY ? 1u << UG_DIR_EGRESS : 0) |
			  (in == UG_ACT_DENY ? 1u << UG_DIR_INGRESS : 0);
	return 0;
}

static void report(struct agent *ag, const struct target *t)
{
	size_t i;

	for (i = 0; i < ag->n_reported; i++)
		if (!strcmp(ag->reported[i].name, t->name))
			break;
	if (i < ag->n_reported && ag->reported[i].err == t->err)
		return;
	if (i == ag->n_reported) {
		if (ag->n_reported == sizeof(ag->reported) / sizeof(ag->reported[0]))
			i = 0; /* forget the oldest: worst case a repeated line */
		else
			ag->n_reported++;
		snprintf(ag->reported[i].name, sizeof(ag->reported[i].name), "%s", t->name);
	}
	ag->reported[i].err = t->err;

	if (!t->err)
		ug_log(LOG_INFO, "agent: %s: enforcing %zu rules on %s", t->name, t->n_rules,
		       t->cg.path);
	else if (t->err == -ENOENT)
		ug_log(LOG_WARNING, "agent: %s: no cgroup (not running); its %zu rules are NOT "
		       "enforced until it exists", t->name, t->n_rules);
	else if (t->err == -ENOTUNIQ)
		ug_log(LOG_ERR, "agent: %s: several cgroups have this name; NOT enforced (use the "
		       "absolute cgroup path as target)", t->name);
	else
		ug_log(LOG_ERR, "agent: %s: NOT enforced: %s", t->name, strerror(-t->err));
}

static bool is_below(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);

	return !strncmp(path, ancestor, n) && path[n] == '/';
}

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct target *target_by_cgid(struct agent *ag, uint64_t cgid)
{
	for (size_t i = 0; i < ag->n_targets; i++)
		if (!ag->targets[i].err && ag->targets[i].cg.id == cgid)
			return &ag->targets[i];
	return NULL;
}

static const char *topmost_ancestor(const struct agent *ag, const struct target *t)
{
	const struct target *top = NULL;

	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (!a->err && is_below(t->cg.path, a->cg.path) &&
		    (!top || a->cg.level < top->cg.level))
			top = a;
	}
	return top ? top->name : NULL;
}

static const char *const prog_names = "connect4,connect6,sendmsg4,sendmsg6,bind4,bind6,"
				      "egress_skb,ingress_skb";

/* What `unitguardctl status` shows: per target, what is enforced and why not. */
static void write_status(struct agent *ag)
{
	struct ug_store_status *rows = calloc(ag->n_targets ?: 1, sizeof(*rows));
	char (*reasons)[256] = calloc(ag->n_targets ?: 1, sizeof(*reasons));
	char gen[16];
	size_t n = 0;

	if (!rows || !reasons)
		goto out;
	for (size_t i = 0; i < ag->n_targets; i++) {
		const struct target *t = &ag->targets[i];
		struct ug_store_status *r = &rows[n];

		if (t->err == -EALREADY)
			continue;
		r->target = t->name;
		r->mode = ug_mode_name(t->mode);
		if (!t->err) {
			r->cgroup = t->cg.path;
			r->cgroup_id = t->cg.id;
			r->generation = t->generation;
			r->programs = t->attached ? prog_names : NULL;
		}
		r->enforced = !t->err && !t->why[0];
		if (t->err == -ENOENT)
			snprintf(reasons[n], sizeof(reasons[n]), "no cgroup: the unit is not running");
		else if (t->err == -ENOTUNIQ)
			snprintf(reasons[n], sizeof(reasons[n]), "several cgroups have this name; "
				 "use the absolute cgroup path as target");
		else if (t->err)
			snprintf(reasons[n], sizeof(reasons[n]), "%s", strerror(-t->err));
		else if (t->why[0])
			snprintf(reasons[n], sizeof(reasons[n]), "%s", t->why);
		else if (t->inherits)
			snprintf(reasons[n], sizeof(reasons[n]), "programs attached at %s",
				 t->inherits);
		r->reason = reasons[n][0] ? reasons[n] : NULL;
		n++;
	}
	if (ug_store_status_replace(ag->st, rows, n))
		ug_log(LOG_ERR, "agent: cannot write status: %s", ug_store_errmsg(ag->st));
	snprintf(gen, sizeof(gen), "%u", ug_net_generation(ag->net));
	ug_store_agent_set(ag->st, "generation", gen);
out:
	free(rows);
	free(reasons);
}

/* Build the desired policy from the store and hand it to the kernel. */
static int sync_policy(struct agent *ag)
{
	struct ug_net_unit *units = NULL;
	struct ug_rule **merged = NULL;
	size_t n_units = 0;
	int err;

	targets_free(ag);
	err = ug_store_policy_version(ag->st, &ag->policy_version);
	if (!err)
		err = ug_store_units(ag->st, load_unit, ag);
	if (!err)
		err = ug_store_rules(ag->st, NULL, load_rule, ag);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot read the store: %s", ug_store_errmsg(ag->st));
		return err;
	}

	for (size_t i = 0; i < ag->n_targets; i++) {
		struct target *t = &ag->targets[i];

		t->err = ug_cgroup_resolve(ag->cgroot, ag->bus, t->name, &t->cg);
		if (!t->err && t->cg.level >= UG_MAX_LEVELS)
			t->err = -ELOOP;
		/* Two names for one cgroup: the first (in store order) carries both. */
		for (size_t j = 0; !t->err && j < i; j++) {
			struct target *o = &ag->targets[j];
			struct ug_rule *r;

			if (o->err || o->cg.id != t->cg.id)
				continue;
			r = reallocarray(o->rules, o->n_rules + t->n_rules ?: 1, sizeof(*r));
			if (!r)
				return -ENOMEM;
			if (t->n_rules)
				memcpy(r + o->n_rules, t->rules, t->n_rules * sizeof(*r));
			o->rules = r;
			o->n_rules += t->n_rules;
			t->err = -EALREADY;
		}
		if (t->err != -EALREADY)
			report(ag, t);
	}

	units = calloc(ag->n_targets ?: 1, sizeof(*units));
	merged = calloc(ag->n_targets ?: 1, sizeof(*merged));
	if (!units || !merged) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ag->n_targets; i++) {
		const struct target *t = &ag->targets[i];
		struct ug_net_unit *u;
		size_t n = 0, cap = t->n_rules;
		int ancestors = 0;

		if (t->err)
			continue;
		for (size_t j = 0; j < ag->n_targets; j++)
			if (!ag->targets[j].err && is_below(t->cg.path, ag->targets[j].cg.path))
				cap += ag->targets[j].n_rules;
		merged[n_units] = calloc(cap ?: 1, sizeof(struct ug_rule));
		if (!merged[n_units]) {
			err = -ENOMEM;
			goto out;
		}
		if (t->n_rules)
			memcpy(merged[n_units], t->rules, t->n_rules * sizeof(struct ug_rule));
		n = t->n_rules;
		/* Inherited rules, nearest ancestor first: depth = its rank. */
		for (int level = t->cg.level - 1; level >= 0; level--) {
			for (size_t j = 0; j < ag->n_targets; j++) {
				const struct target *a = &ag->targets[j];

				if (a->err || a->cg.level != level || !is_below(t->cg.path, a->cg.path))
					continue;
				ancestors++;
				for (size_t k = 0; k < a->n_rules; k++) {
					merged[n_units][n] = a->rules[k];
					merged[n_units][n].depth = ancestors;
					n++;
				}
			}
		}
		u = &units[n_units];
		u->target = t->name;
		u->cg = t->cg;
		u->mode = t->mode;
		u->deny_default = t->deny_default;
		/* A slice's settings bind what is below it: the most relaxed mode
		 * (off > audit > enforce) and any default deny win. */
		for (size_t j = 0; j < ag->n_targets; j++) {
			const struct target *a = &ag->targets[j];

			if (a->err || !is_below(t->cg.path, a->cg.path))
				continue;
			if (a->mode > u->mode)
				u->mode = a->mode;
			u->deny_default |= a->deny_default;
		}
		u->rules = merged[n_units];
		u->n_rules = n;
		u->attach = ancestors == 0;
		n_units++;
	}

	err = ug_net_apply(ag->net, units, n_units);
	for (size_t i = 0; i < n_units; i++) {
		struct target *t = target_by_cgid(ag, units[i].cg.id);

		if (!t)
			continue;
		t->attached = units[i].attach && !units[i].err;
		t->generation = ug_net_unit_generation(ag->net, units[i].cg.id);
		if (units[i].err)
			snprintf(t->why, sizeof(t->why), "%s", units[i].why);
		if (!units[i].attach)
			t->inherits = topmost_ancestor(ag, t);
	}
	if (ug_net_units_changed(ag->net) &&
	    ug_store_generation_add(ag->st, ug_net_generation(ag->net), realtime_us(),
				    ag->policy_version, ug_net_units_changed(ag->net)))
		ug_log(LOG_ERR, "agent: cannot record generation %u: %s",
		       ug_net_generation(ag->net), ug_store_errmsg(ag->st));
	write_status(ag);
	ug_log(LOG_DEBUG, "agent: policy version %" PRId64 " applied as generation %u",
	       ag->policy_version, ug_net_generation(ag->net));
out:
	for (size_t i = 0; merged && i < n_units; i++)
		free(merged[i]);
	free(merged);
	free(units);
	return err;
}

/* Does any target need another look: pending, or its cgroup gone or replaced? */
static bool targets_changed(const struct agent *ag)
{
	for (size_t i = 0; i < ag->n_targets; i++) {
		const struct target *t = &ag->targets[i];
		struct stat st;

		if (t->err == -EALREADY)
			continue;
		if (t->err)
			return true;
		if (stat(t->cg.path, &st) || st.st_ino != t->cg.id)
			return true;
	}
	return false;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *ag = ctx;

	ug_audit_record(ag->audit, data, size);
	return 0;
}

static const char *target_name(uint64_t cgid, void *ctx)
{
	struct agent *ag = ctx;

	return ug_net_target(ag->net, cgid);
}

static int on_ringbuf(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	struct agent *ag = ctx;
	int err = ug_net_poll_events(ag->net);

	if (err)
		ug_log(LOG_ERR, "audit: reading the ring buffer: %s", strerror(-err));
	return 0;
}

static int on_store_change(sd_event_source *s, const struct inotify_event *ev, void *ctx)
{
	struct agent *ag = ctx;
	int64_t v;

	/* Our own audit writes land here too: only a policy change matters. */
	if (ug_store_policy_version(ag->st, &v)) {
		ug_log(LOG_ERR, "agent: cannot read the store: %s", ug_store_errmsg(ag->st));
		return 0;
	}
	if (v != ag->policy_version)
		sync_policy(ag);
	return 0;
}

struct snapshot {
	struct agent *ag;
	int64_t now_us;
	struct ug_store_acct *acct;
	size_t n_acct, cap_acct;
	struct ug_store_hits *hits;
	size_t n_hits, cap_hits;
};

static void snap_unit(const struct ug_net_stats *st, void *ctx)
{
	struct snapshot *sn = ctx;

	for (int dir = 0; dir < 2; dir++) {
		const struct ug_acct_val *v = &st->acct[dir];
		struct ug_store_acct *r;

		if (sn->n_acct == sn->cap_acct) {
			size_t cap = sn->cap_acct ? sn->cap_acct * 2 : 64;
			struct ug_store_acct *a = reallocarray(sn->acct, cap, sizeof(*a));

			if (!a)
				return;
			sn->acct = a;
			sn->cap_acct = cap;
		}
		r = &sn->acct[sn->n_acct++];
		*r = (struct ug_store_acct){
			.time_us = sn->now_us,
			.unit = st->target,
			.cgroup_id = st->cgid,
			.direction = dir ? "ingress" : "egress",
			.allowed_packets = v->packets[UG_ACCT_ALLOWED],
			.allowed_bytes = v->bytes[UG_ACCT_ALLOWED],
			.dropped_packets = v->packets[UG_ACCT_DROPPED],
			.dropped_bytes = v->bytes[UG_ACCT_DROPPED],
			.audited_packets = v->packets[UG_ACCT_AUDITED],
			.audited_bytes = v->bytes[UG_ACCT_AUDITED],
			.generation = st->generation,
		};
	}
}

static void snap_hit(uint32_t rule_id, uint64_t hits, void *ctx)
{
	struct snapshot *sn = ctx;

	if (sn->n_hits == sn->cap_hits) {
		size_t cap = sn->cap_hits ? sn->cap_hits * 2 : 64;
		struct ug_store_hits *h = reallocarray(sn->hits, cap, sizeof(*h));

		if (!h)
			return;
		sn->hits = h;
		sn->cap_hits = cap;
	}
	sn->hits[sn->n_hits++] = (struct ug_store_hits){
		.time_us = sn->now_us,
		.rule_id = rule_id,
		.hits = hits,
		.generation = ug_net_generation(sn->ag->net),
	};
}

/* Cumulative counters into the accounting and rule_hits tables. */
static void snapshot_stats(struct agent *ag)
{
	struct snapshot sn = { .ag = ag, .now_us = realtime_us() };

	if (ug_net_stats(ag->net, snap_unit, &sn) || ug_net_rule_hits(ag->net, snap_hit, &sn))
		ug_log(LOG_ERR, "agent: cannot read the counters");
	if (sn.n_acct && ug_store_accounting_insert(ag->st, sn.acct, sn.n_acct))
		ug_log(LOG_ERR, "agent: cannot write accounting: %s", ug_store_errmsg(ag->st));
	if (sn.n_hits && ug_store_rule_hits_insert(ag->st, sn.hits, sn.n_hits))
		ug_log(LOG_ERR, "agent: cannot write rule hits: %s", ug_store_errmsg(ag->st));
	free(sn.acct);
	free(sn.hits);
	ag->last_stats_us = sn.now_us;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *ctx)
{
	static unsigned ticks;
	struct agent *ag = ctx;
	char buf[32];
	uint64_t lost;

	ug_audit_flush(ag->audit);
	if (++ticks % 4 == 0) {
		/* Once a second: what inotify cannot tell us. */
		if (targets_changed(ag))
			sync_policy(ag);
		ug_net_cleanup(ag->net);
		if (!ug_net_counter(ag->net, UG_CNT_EVENTS_LOST, &lost) && lost > ag->lost_seen) {
			ug_audit_lost(ag->audit, lost - ag->lost_seen);
			ag->lost_seen = lost;
		}
		snprintf(buf, sizeof(buf), "%" PRId64, realtime_us());
		ug_store_agent_set(ag->st, "heartbeat_us", buf);
		if (realtime_us() - (int64_t)ag->last_stats_us >= (int64_t)ag->stats_interval * 1000000)
			snapshot_stats(ag);
	}
	sd_event_source_set_time(s, usec + 250 * 1000);
	return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	ug_log(LOG_INFO, "agent: SIGHUP, re-reading the store");
	sync_policy(ctx);
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !ug_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* bpffs must be mounted where we pin; mount it when it is not. */
static int ensure_bpffs(const char *pin_dir)
{
	struct statfs sfs;

	if (strncmp(pin_dir, UG_DEFAULT_BPFFS "/", strlen(UG_DEFAULT_BPFFS) + 1))
		return 0; /* a custom location: the operator mounted it */
	if (!statfs(UG_DEFAULT_BPFFS, &sfs) && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", UG_DEFAULT_BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return -errno;
	ug_log(LOG_INFO, "agent: mounted bpffs at " UG_DEFAULT_BPFFS);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: unitguardd [OPTIONS]\n"
		"Per-unit network policy agent: enforces the rules in the store with BPF.\n\n"
		"  --db PATH        policy store (default " UG_DEFAULT_DB ")\n"
		"  --pin-dir DIR    bpffs directory for pinned programs and maps\n"
		"                   (default " UG_DEFAULT_PIN_DIR ")\n"
		"  --stats-interval SECONDS\n"
		"                   accounting snapshots into the store every SECONDS (default 60)\n"
		"  --detach-all     remove every pinned program and map, ending enforcement, and exit\n"
		"  -v, --verbose    debug messages, including libbpf's\n"
		"  -h, --help       this text\n\n"
		"Examples:\n"
		"  unitguardd                          run on the default store\n"
		"  unitguardd --db /tmp/ug.db -v       run on another store, verbosely\n"
		"  unitguardd --detach-all             stop enforcing (programs stay attached\n"
		"                                      when the agent merely exits)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "detach-all", no_argument, NULL, 'D' },
		{ "stats-interval", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct agent ag = { .db_path = UG_DEFAULT_DB, .pin_dir = UG_DEFAULT_PIN_DIR,
			    .stats_interval = 60 };
	char *end;
	char errbuf[256], dbdir[PATH_MAX];
	sd_event_source *tick = NULL;
	bool detach_all = false;
	sd_event *ev = NULL;
	uint64_t now;
	int c, err;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ag.db_path = optarg;
			break;
		case 'p':
			ag.pin_dir = optarg;
			break;
		case 'D':
			detach_all = true;
			break;
		case 's':
			errno = 0;
			ag.stats_interval = strtoul(optarg, &end, 10);
			if (errno || *end || !optarg[0] || ag.stats_interval < 1 ||
			    ag.stats_interval > 86400) {
				fprintf(stderr, "unitguardd: invalid --stats-interval '%s': expected "
					"1-86400 seconds\n", optarg);
				return 2;
			}
			break;
		case 'v':
			ug_verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "unitguardd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (ag.pin_dir[0] != '/' || strlen(ag.pin_dir) >= PATH_MAX - 64) {
		fprintf(stderr, "unitguardd: --pin-dir must be an absolute path\n");
		return 2;
	}
	libbpf_set_print(libbpf_print);

	if (detach_all) {
		err = ug_net_detach_all(ag.pin_dir);
		if (err) {
			ug_log(LOG_ERR, "agent: detach-all: %s", strerror(-err));
			return 1;
		}
		ug_log(LOG_NOTICE, "agent: removed %s: unitguard no longer enforces anything",
		       ag.pin_dir);
		return 0;
	}

	err = ensure_bpffs(ag.pin_dir);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot mount bpffs at " UG_DEFAULT_BPFFS ": %s",
		       strerror(-err));
		return 1;
	}
	err = ug_cgroup_root(ag.cgroot, sizeof(ag.cgroot));
	if (err) {
		ug_log(LOG_ERR, "cgroup: no cgroup2 hierarchy is mounted: network policy CANNOT be "
		       "enforced");
		return 1;
	}
	if (sd_booted() > 0) {
		err = sd_bus_open_system(&ag.bus);
		if (err < 0) {
			ug_log(LOG_ERR, "agent: systemd is PID 1 but its bus is unreachable: %s",
			       strerror(-err));
			return 1;
		}
		ug_log(LOG_INFO, "agent: units resolved through systemd; cgroup2 at %s", ag.cgroot);
	} else {
		ug_log(LOG_INFO, "agent: systemd is not PID 1: units resolved by cgroup name "
		       "below %s", ag.cgroot);
	}

	err = ug_store_open(ag.db_path, UG_STORE_CREATE, &ag.st, errbuf, sizeof(errbuf));
	if (err) {
		ug_log(LOG_ERR, "agent: cannot open the store %s: %s", ag.db_path, errbuf);
		goto out_bus;
	}
	err = ug_audit_new(ag.st, target_name, &ag, &ag.audit);
	if (err)
		goto out_store;
	err = ug_net_open(ag.pin_dir, on_event, &ag, &ag.net);
	if (err)
		goto out_audit;
	ug_net_counter(ag.net, UG_CNT_EVENTS_LOST, &ag.lost_seen);

	err = sd_event_default(&ev);
	if (err < 0)
		goto out_net;
	{
		sigset_t ss;

		sigemptyset(&ss);
		sigaddset(&ss, SIGTERM);
		sigaddset(&ss, SIGINT);
		sigaddset(&ss, SIGHUP);
		sigprocmask(SIG_BLOCK, &ss, NULL);
	}
	snprintf(dbdir, sizeof(dbdir), "%s", ag.db_path);
	if ((err = sd_event_add_signal(ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ev, NULL, SIGINT, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ev, NULL, SIGHUP, on_hup, &ag)) < 0 ||
	    (err = sd_event_add_io(ev, NULL, ug_net_events_fd(ag.net), EPOLLIN, on_ringbuf,
				   &ag)) < 0 ||
	    (err = sd_event_add_inotify(ev, NULL, dirname(dbdir),
					IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE,
					on_store_change, &ag)) < 0 ||
	    (err = sd_event_now(ev, CLOCK_MONOTONIC, &now)) < 0 ||
	    (err = sd_event_add_time(ev, &tick, CLOCK_MONOTONIC, now + 250 * 1000, 0, on_tick,
				     &ag)) < 0 ||
	    (err = sd_event_source_set_enabled(tick, SD_EVENT_ON)) < 0) {
		ug_log(LOG_ERR, "agent: event loop setup: %s", strerror(-err));
		goto out_event;
	}

	ag.started_us = realtime_us();
	ag.last_stats_us = ag.started_us;
	{
		char buf[32];

		snprintf(buf, sizeof(buf), "%d", getpid());
		ug_store_agent_set(ag.st, "pid", buf);
		snprintf(buf, sizeof(buf), "%" PRId64, ag.started_us);
		ug_store_agent_set(ag.st, "started_us", buf);
		ug_store_agent_set(ag.st, "heartbeat_us", buf);
		ug_store_agent_set(ag.st, "pin_dir", ag.pin_dir);
		ug_store_agent_set(ag.st, "lsm", "unavailable: this build has no BPF LSM programs");
	}
	err = sync_policy(&ag);
	if (err)
		ug_log(LOG_WARNING, "agent: started with errors; see above for what is NOT "
		       "enforced");
	sd_notify(0, "READY=1");
	ug_log(LOG_INFO, "agent: running (store %s, pins %s)", ag.db_path, ag.pin_dir);
	err = sd_event_loop(ev);
	if (err < 0)
		ug_log(LOG_ERR, "agent: event loop: %s", strerror(-err));
	else
		ug_log(LOG_INFO, "agent: exiting; pinned programs keep enforcing");
	sd_notify(0, "STOPPING=1");
	ug_net_poll_events(ag.net);
	snapshot_stats(&ag);
	ug_store_agent_set(ag.st, "pid", "0");

out_event:
	sd_event_source_unref(tick);
	sd_event_unref(ev);
out_net:
	ug_net_poll_events(ag.net);
	ug_net_free(ag.net);
out_audit:
	ug_audit_free(ag.audit);
out_store:
	ug_store_close(ag.st);
	targets_free(&ag);
out_bus:
	sd_bus_flush_close_unref(ag.bus);
	return err < 0 ? 1 : 0;
}
