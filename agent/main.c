// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardd: reads rules from the store, resolves each target to its cgroup,
 * hands the kernel one generation per change, and drains denials to the
 * journal and the audit table.
 */
#include <dirent.h>
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
#include "lock.h"
#include "log.h"
#include "lsm.h"
#include "net.h"
#include "policy.h"
#include "store.h"
#include "util.h"

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
	/* LSM side: its own path rules, denied families and hardening switches */
	struct ug_path_rule *paths;
	size_t n_paths;
	uint64_t deny_families;
	uint32_t family_rule[64]; /* store id of the rule denying family F */
	uint8_t harden;
	bool lsm_content;     /* has any of the above (own) */
	bool lsm_in_force;    /* its LSM policy is in the kernel */
	char lsm_why[600];    /* why its LSM policy is not in force */
};

struct agent {
	const char *db_path;
	const char *pin_dir;
	char cgroot[PATH_MAX];
	sd_bus *bus;
	struct ug_store *st;
	struct ug_net *net;
	struct ug_lsm *lsm;      /* NULL: BPF LSM unavailable, lsm_why says why */
	char lsm_why[512];
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
	uint32_t generation; /* last generation put in force, network and LSM alike */
	int store_lock, pin_lock; /* held while we run: one agent per store and per pins */
	/* Units for which we keep a systemd drop-in (BPFProgram=). */
	char (*dropins)[TARGET_MAX];
	size_t n_dropins;
};

#define UG_DROPIN_DIR "/run/systemd/system"
#define UG_DROPIN_NAME "50-unitguard.conf"

static void targets_free(struct agent *ag)
{
	for (size_t i = 0; i < ag->n_targets; i++) {
		free(ag->targets[i].rules);
		free(ag->targets[i].paths);
	}
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

static int load_lsm_rule(struct agent *ag, const struct ug_store_rule *r)
{
	const char *why = NULL;
	struct ug_path_rule pr;
	struct target *t;
	int action = ug_action_parse(r->action), family = -1, access = 0;

	memset(&pr, 0, sizeof(pr)); /* compared with memcmp() in lsm.c */
	if (strlen(r->target) >= TARGET_MAX || ug_target_parse(r->target, &why) < 0 ||
	    action < 0 || r->id <= 0 || r->id > UINT32_MAX)
		goto bad;
	if (!strcmp(r->direction, "family")) {
		family = ug_family_parse(r->prefix);
		if (family < 0 || family >= 64 || action != UG_ACT_DENY)
			goto bad;
	} else {
		if (ug_path_parse(r->prefix, pr.path, sizeof(pr.path), &why))
			goto bad;
		if (!strcmp(r->direction, "file")) {
			access = r->access ? ug_access_parse(r->access) : -1;
			if (access <= 0 || action != UG_ACT_DENY)
				goto bad;
		}
	}
	t = target_get(ag, r->target);
	if (!t)
		return -ENOMEM;
	t->lsm_content = true;
	if (family >= 0) {
		t->deny_families |= 1ULL << family;
		if (!t->family_rule[family] || r->id < t->family_rule[family])
			t->family_rule[family] = r->id;
		return 0;
	}
	pr.id = r->id;
	pr.kind = !strcmp(r->direction, "exec") ? UG_PATH_EXEC : UG_PATH_FILE;
	pr.action = action;
	pr.access = access;
	t->paths = reallocarray(t->paths, t->n_paths + 1, sizeof(*t->paths));
	if (!t->paths)
		return -ENOMEM;
	t->paths[t->n_paths++] = pr;
	return 0;
bad:
	ug_log(LOG_ERR, "agent: store rule %" PRId64 " (%s) is invalid (%s); NOT enforced", r->id,
	       r->direction, why ? why : "bad path, family, access, action or id");
	return 0;
}

/* The store is a boundary: a row that does not parse is refused, loudly. */
static int load_rule(const struct ug_store_rule *r, void *ctx)
{
	struct agent *ag = ctx;
	struct ug_rule rule;
	struct target *t;
	const char *why = NULL;
	int dir, action, proto = 0;

	if (!strcmp(r->direction, "exec") || !strcmp(r->direction, "file") ||
	    !strcmp(r->direction, "family"))
		return load_lsm_rule(ag, r);
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
	int harden = u->harden && u->harden[0] ? ug_harden_parse(u->harden, &why) : 0;
	struct target *t;

	if (strlen(u->target) >= TARGET_MAX || ug_target_parse(u->target, &why) < 0 || mode < 0 ||
	    eg < 0 || in < 0 || harden < 0) {
		ug_log(LOG_ERR, "agent: store unit '%s' is invalid (%s); its settings are NOT "
		       "enforced", u->target, why ? why : "bad mode or default posture");
		return 0;
	}
	/* A unit with nothing to enforce gets no program: keep it out. */
	if (mode == UG_MODE_ENFORCE && eg == UG_ACT_ALLOW && in == UG_ACT_ALLOW && !harden)
		return 0;
	t = target_get(ag, u->target);
	if (!t)
		return -ENOMEM;
	t->harden = harden;
	t->lsm_content |= harden != 0;
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
		ug_log(LOG_INFO, "agent: %s: enforcing %zu rules on %s", t->name,
		       t->n_rules + t->n_paths, t->cg.path);
	else if (t->err == -ENOENT)
		ug_log(LOG_WARNING, "agent: %s: no cgroup (not running); %zu rules kept for its "
		       "next start", t->name, t->n_rules + t->n_paths);
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
	char (*reasons)[800] = calloc(ag->n_targets ?: 1, sizeof(*reasons));
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
		r->enforced = !t->err && !t->why[0] && !t->lsm_why[0];
		if (t->err == -ENOENT)
			snprintf(reasons[n], sizeof(reasons[n]), "no cgroup: the unit is not running");
		else if (t->err == -ENOTUNIQ)
			snprintf(reasons[n], sizeof(reasons[n]), "several cgroups have this name; "
				 "use the absolute cgroup path as target");
		else if (t->err)
			snprintf(reasons[n], sizeof(reasons[n]), "%s", strerror(-t->err));
		else if (t->why[0] || t->lsm_why[0])
			snprintf(reasons[n], sizeof(reasons[n]), "%s%s%s", t->why,
				 t->why[0] && t->lsm_why[0] ? "; " : "", t->lsm_why);
		else if (t->inherits)
			snprintf(reasons[n], sizeof(reasons[n]), "programs attached at %s",
				 t->inherits);
		r->reason = reasons[n][0] ? reasons[n] : NULL;
		n++;
	}
	if (ag->lsm) {
		char hooks[256];

		ug_lsm_hooks(ag->lsm, hooks, sizeof(hooks));
		ug_store_agent_set(ag->st, "lsm_hooks", hooks);
	}
	if (ug_store_status_replace(ag->st, rows, n))
		ug_log(LOG_ERR, "agent: cannot write status: %s", ug_store_errmsg(ag->st));
	snprintf(gen, sizeof(gen), "%u", ag->generation);
	ug_store_agent_set(ag->st, "generation", gen);
out:
	free(rows);
	free(reasons);
}

/* Does t, or a policy cgroup above it, have network (or LSM) content? A unit
 * whose only setting is its mode matters only below such content. */
static bool has_side(const struct agent *ag, const struct target *t, bool lsm)
{
	if (lsm ? t->lsm_content : (t->n_rules || t->deny_default))
		return true;
	if (t->mode == UG_MODE_ENFORCE)
		return false;
	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (!a->err && is_below(t->cg.path, a->cg.path) &&
		    (lsm ? a->lsm_content : (a->n_rules || a->deny_default)))
			return true;
	}
	return false;
}

/* Settings bound from above: a slice's most relaxed mode (off > audit >
 * enforce), any default deny, hardening switch and denied family apply below. */
static void inherit(const struct agent *ag, const struct target *t, uint8_t *mode,
		    uint8_t *deny_default, uint8_t *harden, uint64_t *families)
{
	*mode = t->mode;
	*deny_default = t->deny_default;
	*harden = t->harden;
	*families = t->deny_families;
	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (a->err || !is_below(t->cg.path, a->cg.path))
			continue;
		if (a->mode > *mode)
			*mode = a->mode;
		*deny_default |= a->deny_default;
		*harden |= a->harden;
		*families |= a->deny_families;
	}
}

/* Rules of t (depth 0) followed by those of its policy ancestors, nearest
 * first, each tagged with its depth. t may be a not-yet-running unit placed
 * where its cgroup will be (apply_pending): its own rules come from t itself. */
static void *merge_rules(const struct agent *ag, const struct target *t, bool lsm, size_t *n_out)
{
	size_t size = lsm ? sizeof(struct ug_path_rule) : sizeof(struct ug_rule);
	size_t cap = lsm ? t->n_paths : t->n_rules, n = 0;
	uint8_t depth = 1;
	char *out;

	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (!a->err && is_below(t->cg.path, a->cg.path))
			cap += lsm ? a->n_paths : a->n_rules;
	}
	out = calloc(cap ?: 1, size);
	if (!out)
		return NULL;
	n = lsm ? t->n_paths : t->n_rules;
	if (n)
		memcpy(out, lsm ? (void *)t->paths : (void *)t->rules, n * size);
	for (size_t k = 0; k < n; k++) {
		if (lsm)
			((struct ug_path_rule *)out)[k].depth = 0;
		else
			((struct ug_rule *)out)[k].depth = 0;
	}
	for (int level = t->cg.level - 1; level >= 0; level--) {
		bool found = false;

		for (size_t j = 0; j < ag->n_targets; j++) {
			const struct target *a = &ag->targets[j];
			size_t na = lsm ? a->n_paths : a->n_rules;

			if (a->err || a->cg.level != level || !is_below(t->cg.path, a->cg.path))
				continue;
			found = true;
			for (size_t k = 0; k < na; k++, n++) {
				if (lsm) {
					struct ug_path_rule *r = (struct ug_path_rule *)out + n;

					*r = a->paths[k];
					r->depth = depth;
				} else {
					struct ug_rule *r = (struct ug_rule *)out + n;

					*r = a->rules[k];
					r->depth = depth;
				}
			}
		}
		if (found)
			depth++;
	}
	*n_out = n;
	return out;
}

static bool has_side_ancestor(const struct agent *ag, const struct target *t, bool lsm)
{
	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (a != t && !a->err && is_below(t->cg.path, a->cg.path) && has_side(ag, a, lsm))
			return true;
	}
	return false;
}

static int apply_net(struct agent *ag, uint32_t *changed)
{
	struct ug_net_unit *units = calloc(ag->n_targets ?: 1, sizeof(*units));
	size_t n = 0;
	int err;

	if (!units)
		return -ENOMEM;
	for (size_t i = 0; i < ag->n_targets; i++) {
		struct target *t = &ag->targets[i];
		struct ug_net_unit *u = &units[n];
		uint8_t harden;
		uint64_t families;

		if (t->err || !has_side(ag, t, false))
			continue;
		u->rules = merge_rules(ag, t, false, &u->n_rules);
		if (!u->rules) {
			err = -ENOMEM;
			goto out;
		}
		u->target = t->name;
		u->cg = t->cg;
		inherit(ag, t, &u->mode, &u->deny_default, &harden, &families);
		u->attach = !has_side_ancestor(ag, t, false);
		n++;
	}
	err = ug_net_apply(ag->net, units, n, ag->generation + 1);
	*changed = ug_net_units_changed(ag->net);
	for (size_t i = 0; i < n; i++) {
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
out:
	for (size_t i = 0; i < n; i++)
		free((void *)units[i].rules);
	free(units);
	return err;
}

static int apply_lsm(struct agent *ag, uint32_t *changed)
{
	struct ug_lsm_unitpol *units;
	size_t n = 0;
	int err;

	*changed = 0;
	if (!ag->lsm) {
		for (size_t i = 0; i < ag->n_targets; i++)
			if (!ag->targets[i].err && ag->targets[i].lsm_content)
				snprintf(ag->targets[i].lsm_why, sizeof(ag->targets[i].lsm_why),
					 "LSM rules NOT enforced: %s", ag->lsm_why);
		return 0;
	}
	units = calloc(ag->n_targets ?: 1, sizeof(*units));
	if (!units)
		return -ENOMEM;
	for (size_t i = 0; i < ag->n_targets; i++) {
		struct target *t = &ag->targets[i];
		struct ug_lsm_unitpol *u = &units[n];
		uint8_t deny_default;

		if (t->err || !has_side(ag, t, true))
			continue;
		u->paths = merge_rules(ag, t, true, &u->n_paths);
		if (!u->paths) {
			err = -ENOMEM;
			goto out;
		}
		u->target = t->name;
		u->cg = t->cg;
		inherit(ag, t, &u->mode, &deny_default, &u->harden, &u->deny_families);
		n++;
	}
	err = ug_lsm_apply(ag->lsm, units, n, ag->generation + 1);
	*changed = ug_lsm_units_changed(ag->lsm);
	for (size_t i = 0; i < n; i++) {
		struct target *t = target_by_cgid(ag, units[i].cg.id);

		if (!t)
			continue;
		t->lsm_in_force = !units[i].err;
		if (units[i].err)
			snprintf(t->lsm_why, sizeof(t->lsm_why), "LSM: %s", units[i].why);
		if (ug_lsm_unit_generation(ag->lsm, t->cg.id) > t->generation)
			t->generation = ug_lsm_unit_generation(ag->lsm, t->cg.id);
	}
out:
	for (size_t i = 0; i < n; i++)
		free((void *)units[i].paths);
	free(units);
	return err;
}

/* --- the start-up race --------------------------------------------------- */

/* Where a target's cgroup is, or (systemd) will be when it starts. */
static int future_cgroup(struct agent *ag, const struct target *t, struct ug_cgroup *cg,
			 uint64_t *parent)
{
	char dir[PATH_MAX];
	struct ug_cgroup pc;

	if (t->name[0] == '/')
		return -EOPNOTSUPP; /* a path target has no name systemd will create */
	if (!t->err) {
		*cg = t->cg;
		snprintf(dir, sizeof(dir), "%s", t->cg.path);
		*strrchr(dir, '/') = '\0';
		*parent = ug_cgroup_stat(ag->cgroot, dir, &pc) ? 0 : pc.id;
		return 0;
	}
	return ug_cgroup_future(ag->cgroot, ag->bus, t->name, cg, parent);
}

/* Policies by unit name for the cgroup_mkdir program: every unit target
 * with policy, running or not, so a (re)start is judged from its first
 * instruction. */
static int apply_pending(struct agent *ag)
{
	struct ug_net_pending *np = calloc(ag->n_targets ?: 1, sizeof(*np));
	struct ug_lsm_pending *lp = calloc(ag->n_targets ?: 1, sizeof(*lp));
	struct target *shadow = calloc(1, sizeof(*shadow));
	size_t nn = 0, nl = 0;
	int err = 0;

	if (!np || !lp || !shadow) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ag->n_targets; i++) {
		struct target *t = &ag->targets[i];
		uint8_t deny_default, harden, mode;
		uint64_t parent = 0, families;
		struct ug_cgroup cg;

		if (t->err == -EALREADY || future_cgroup(ag, t, &cg, &parent))
			continue;
		/* Judge it where it will be: a copy placed at that cgroup. */
		*shadow = *t;
		shadow->err = 0;
		shadow->cg = cg;
		if (has_side(ag, shadow, false)) {
			struct ug_net_pending *p = &np[nn];

			p->pol.rules = merge_rules(ag, shadow, false, &p->pol.n_rules);
			if (!p->pol.rules) {
				err = -ENOMEM;
				goto out;
			}
			p->name = t->name;
			p->parent_cgid = parent;
			p->level = cg.level;
			inherit(ag, shadow, &p->pol.mode, &p->pol.deny_default, &harden, &families);
			nn++;
		}
		if (ag->lsm && has_side(ag, shadow, true)) {
			struct ug_lsm_pending *p = &lp[nl];

			p->pol.paths = merge_rules(ag, shadow, true, &p->pol.n_paths);
			if (!p->pol.paths) {
				err = -ENOMEM;
				goto out;
			}
			p->name = t->name;
			p->parent_cgid = parent;
			p->level = cg.level;
			inherit(ag, shadow, &mode, &deny_default, &p->pol.harden,
				&p->pol.deny_families);
			p->pol.mode = mode;
			p->pol.target = t->name;
			nl++;
		}
	}
	err = ug_net_apply_pending(ag->net, np, nn, ag->generation + 1);
	if (ag->lsm)
		err = ug_lsm_apply_pending(ag->lsm, lp, nl, ag->generation + 1) ?: err;
out:
	for (size_t i = 0; np && i < nn; i++)
		free((void *)np[i].pol.rules);
	for (size_t i = 0; lp && i < nl; i++)
		free((void *)lp[i].pol.paths);
	free(np);
	free(lp);
	free(shadow);
	return err;
}

static const char *unit_section(const char *unit)
{
	static const struct {
		const char *suffix, *section;
	} map[] = {
		{ ".service", "Service" }, { ".socket", "Socket" }, { ".slice", "Slice" },
		{ ".scope", "Scope" },     { ".mount", "Mount" },   { ".swap", "Swap" },
	};
	const char *dot = strrchr(unit, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(dot, map[i].suffix))
			return map[i].section;
	return NULL;
}

static int write_dropin(struct agent *ag, const char *unit)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 8], prog[PATH_MAX];
	const char *type, *section = unit_section(unit);
	FILE *f;
	int err = 0;

	if (!section)
		return -EINVAL;
	if ((size_t)snprintf(dir, sizeof(dir), UG_DROPIN_DIR "/%s.d", unit) >= sizeof(dir) ||
	    (size_t)snprintf(path, sizeof(path), "%s/" UG_DROPIN_NAME, dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "# Written by unitguardd: systemd attaches unitguard's programs when it\n"
		   "# creates this unit's cgroup, before the unit's first instruction.\n"
		   "[%s]\n", section);
	for (int i = 0; !ug_net_prog_path(ag->net, i, prog, sizeof(prog), &type); i++)
		fprintf(f, "BPFProgram=%s:%s\n", type, prog);
	if (fflush(f) || ferror(f))
		err = -EIO;
	fclose(f);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void remove_dropin(const char *unit)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), UG_DROPIN_DIR "/%s.d", unit);
	snprintf(path, sizeof(path), "%s/" UG_DROPIN_NAME, dir);
	unlink(path);
	rmdir(dir); /* only if we made it and it is empty */
}

/*
 * systemd attaches cgroup programs itself, at cgroup creation, from
 * BPFProgram= (pinned programs). A drop-in per topmost unit target with
 * network policy closes the start-up race for the cgroup programs; the
 * cgroup_mkdir program does it for the map entries. Reload only if a
 * drop-in came or went.
 */
static void sync_dropins(struct agent *ag)
{
	char (*want)[TARGET_MAX] = calloc(ag->n_targets ?: 1, sizeof(*want));
	size_t n_want = 0;
	bool changed = false;

	if (!ag->bus || !want) {
		free(want);
		return;
	}
	for (size_t i = 0; i < ag->n_targets; i++) {
		struct target *t = &ag->targets[i], shadow;
		struct ug_cgroup cg;
		uint64_t parent;

		if (t->name[0] == '/' || t->err == -EALREADY || future_cgroup(ag, t, &cg, &parent))
			continue;
		shadow = *t;
		shadow.err = 0;
		shadow.cg = cg;
		if (has_side(ag, &shadow, false) && !has_side_ancestor(ag, &shadow, false))
			snprintf(want[n_want++], TARGET_MAX, "%s", t->name);
	}
	for (size_t i = 0; i < ag->n_dropins; i++) {
		bool keep = false;

		for (size_t j = 0; j < n_want && !keep; j++)
			keep = !strcmp(ag->dropins[i], want[j]);
		if (!keep) {
			remove_dropin(ag->dropins[i]);
			changed = true;
		}
	}
	for (size_t j = 0; j < n_want; j++) {
		bool have = false;

		for (size_t i = 0; i < ag->n_dropins && !have; i++)
			have = !strcmp(ag->dropins[i], want[j]);
		if (have)
			continue;
		if (write_dropin(ag, want[j]))
			ug_log(LOG_ERR, "agent: %s: cannot write its drop-in: a restart of it will "
			       "be enforced only once the agent sees its cgroup", want[j]);
		changed = true;
	}
	free(ag->dropins);
	ag->dropins = want;
	ag->n_dropins = n_want;
	if (changed) {
		sd_bus_error error = SD_BUS_ERROR_NULL;
		int err = sd_bus_call_method(ag->bus, "org.freedesktop.systemd1",
					     "/org/freedesktop/systemd1",
					     "org.freedesktop.systemd1.Manager", "Reload", &error,
					     NULL, NULL);

		if (err < 0)
			ug_log(LOG_ERR, "agent: systemd reload for our drop-ins failed: %s",
			       error.message ?: strerror(-err));
		sd_bus_error_free(&error);
	}
}

/* Build the desired policy from the store and hand it to the kernel. */
static int sync_policy(struct agent *ag)
{
	uint32_t net_changed = 0, lsm_changed = 0;
	int err, lerr;

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

	/* Pending first: a running cgroup shares its pending accounting slot. */
	lerr = apply_pending(ag);
	if (lerr)
		ug_log(LOG_WARNING, "agent: some units' policy is not kept for their next start "
		       "(see above)");
	err = apply_net(ag, &net_changed);
	lerr = apply_lsm(ag, &lsm_changed);
	sync_dropins(ag);
	err = err ?: lerr;
	if (net_changed || lsm_changed) {
		ag->generation++;
		if (ug_store_generation_add(ag->st, ag->generation, realtime_us(), ag->policy_version,
					    net_changed + lsm_changed))
			ug_log(LOG_ERR, "agent: cannot record generation %u: %s", ag->generation,
			       ug_store_errmsg(ag->st));
	}
	write_status(ag);
	ug_log(LOG_DEBUG, "agent: policy version %" PRId64 " in force as generation %u",
	       ag->policy_version, ag->generation);
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
	const char *name = ug_net_target(ag->net, cgid);

	return name || !ag->lsm ? name : ug_lsm_target(ag->lsm, cgid);
}

static int on_lsm_event(void *ctx, void *data, size_t size)
{
	struct agent *ag = ctx;

	ug_audit_lsm_record(ag->audit, data, size);
	return 0;
}

/* The family rule in force for a policy cgroup: its own or its slices'. */
static uint32_t family_rule(uint64_t cgid, int family, void *ctx)
{
	struct agent *ag = ctx;
	struct target *t = target_by_cgid(ag, cgid);
	uint32_t id = 0;

	if (!t || family < 0 || family >= 64)
		return 0;
	for (size_t j = 0; j < ag->n_targets; j++) {
		const struct target *a = &ag->targets[j];

		if (a->err || (a != t && !is_below(t->cg.path, a->cg.path)))
			continue;
		/* The nearest one names it: the deepest level wins. */
		if (a->family_rule[family] && (!id || a->cg.level >= t->cg.level))
			id = a->family_rule[family];
	}
	return id;
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
		.generation = sn->ag->generation,
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

static int lost_total(struct agent *ag, uint64_t *lost)
{
	uint64_t l = 0;
	int err = ug_net_counter(ag->net, UG_CNT_EVENTS_LOST, lost);

	if (!err && ag->lsm && !ug_lsm_counter(ag->lsm, UG_CNT_EVENTS_LOST, &l))
		*lost += l;
	return err;
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
		if (ag->lsm)
			ug_lsm_cleanup(ag->lsm);
		if (!lost_total(ag, &lost) && lost > ag->lost_seen) {
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

/* systemd finished starting or stopping something: look now rather than at
 * the next tick, so a stopped unit's entries and links go at once. */
static int on_job_removed(sd_bus_message *m, void *ctx, sd_bus_error *error)
{
	struct agent *ag = ctx;

	if (targets_changed(ag))
		sync_policy(ag);
	return 0;
}

/* Drop-ins an earlier agent left: known, so the first sync removes the
 * ones no longer wanted. */
static void find_dropins(struct agent *ag)
{
	struct dirent *de;
	DIR *d = opendir(UG_DROPIN_DIR);

	while (d && (de = readdir(d))) {
		char path[PATH_MAX + 32], (*n)[TARGET_MAX];
		size_t len = strlen(de->d_name);

		if (len < 3 || len >= TARGET_MAX + 2 || strcmp(de->d_name + len - 2, ".d"))
			continue;
		snprintf(path, sizeof(path), UG_DROPIN_DIR "/%s/" UG_DROPIN_NAME, de->d_name);
		if (access(path, F_OK))
			continue;
		n = reallocarray(ag->dropins, ag->n_dropins + 1, sizeof(*n));
		if (!n)
			break;
		ag->dropins = n;
		snprintf(ag->dropins[ag->n_dropins++], TARGET_MAX, "%.*s", (int)len - 2, de->d_name);
	}
	if (d)
		closedir(d);
}

static void remove_all_dropins(sd_bus *bus)
{
	struct agent tmp = {};

	find_dropins(&tmp);
	for (size_t i = 0; i < tmp.n_dropins; i++)
		remove_dropin(tmp.dropins[i]);
	if (tmp.n_dropins && bus)
		sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				   "org.freedesktop.systemd1.Manager", "Reload", NULL, NULL, NULL);
	free(tmp.dropins);
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

/*
 * One agent per store and per pin directory: a second one would adopt the
 * first one's pins and overwrite its policy. The locks are held until exit.
 */
static int take_locks(struct agent *ag)
{
	char path[PATH_MAX], dir[PATH_MAX];
	pid_t holder;
	int err;

	snprintf(dir, sizeof(dir), "%s", ag->db_path);
	if (ug_lock_path(ag->db_path, path, sizeof(path))) {
		ug_log(LOG_ERR, "agent: --db path too long");
		return -ENAMETOOLONG;
	}
	err = ug_mkdir_p(dirname(dir));
	if (!err)
		err = ug_lock_take(path, false, &ag->store_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the store %s is in use by another unitguardd (pid %d); "
		       "not starting", ag->db_path, (int)holder);
		return err;
	}
	if (err) {
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", path, strerror(-err));
		return err;
	}
	err = ug_mkdir_p(ag->pin_dir);
	if (!err)
		err = ug_lock_take(ag->pin_dir, true, &ag->pin_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the pin directory %s is in use by another unitguardd "
		       "(pid %d); not starting", ag->pin_dir, (int)holder);
		return err;
	}
	if (err)
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", ag->pin_dir, strerror(-err));
	return err;
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
		sd_bus *bus = NULL;

		/* Programs systemd attached (BPFProgram=) are not ours to detach:
		 * emptied maps make them judge nothing, and without the drop-ins
		 * the next start of the unit has none. */
		if (sd_booted() > 0 && sd_bus_open_system(&bus) < 0)
			bus = NULL;
		remove_all_dropins(bus);
		sd_bus_flush_close_unref(bus);
		err = ug_lsm_detach_all(ag.pin_dir);
		err = ug_net_detach_all(ag.pin_dir) ?: err;
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
	err = take_locks(&ag);
	if (err)
		return 1;
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
	err = ug_audit_new(ag.st,
			   &(struct ug_audit_ops){ .target = target_name,
						   .family_rule = family_rule, .ctx = &ag },
			   &ag.audit);
	if (err)
		goto out_store;
	err = ug_net_open(ag.pin_dir, on_event, &ag, &ag.net);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot load the network programs (%s); exiting. What is "
		       "pinned keeps enforcing.", strerror(-err));
		goto out_audit;
	}
	ag.generation = ug_net_generation(ag.net);
	/* Probe and say: without BPF LSM the network side still enforces. */
	err = ug_lsm_probe(ag.lsm_why, sizeof(ag.lsm_why));
	if (!err)
		err = ug_lsm_open(ag.pin_dir, &ag.lsm);
	if (!err)
		err = ug_net_ringbuf_add(ag.net, ug_lsm_events_map_fd(ag.lsm), on_lsm_event, &ag);
	if (err) {
		if (!ag.lsm_why[0])
			snprintf(ag.lsm_why, sizeof(ag.lsm_why), "%s", strerror(-err));
		ug_lsm_free(ag.lsm);
		ag.lsm = NULL;
		ug_log(LOG_WARNING, "lsm: BPF LSM is unavailable: %s. Exec, file, socket family and "
		       "hardening rules are NOT enforced; network rules are.", ag.lsm_why);
	} else {
		ug_log(LOG_INFO, "lsm: BPF LSM available");
		if (ug_lsm_generation(ag.lsm) > ag.generation)
			ag.generation = ug_lsm_generation(ag.lsm);
	}
	lost_total(&ag, &ag.lost_seen);

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
		char buf[32], lsm_state[600];

		snprintf(buf, sizeof(buf), "%d", getpid());
		ug_store_agent_set(ag.st, "pid", buf);
		snprintf(buf, sizeof(buf), "%" PRId64, ag.started_us);
		ug_store_agent_set(ag.st, "started_us", buf);
		ug_store_agent_set(ag.st, "heartbeat_us", buf);
		ug_store_agent_set(ag.st, "pin_dir", ag.pin_dir);
		if (ag.lsm)
			snprintf(lsm_state, sizeof(lsm_state), "available");
		else
			snprintf(lsm_state, sizeof(lsm_state), "unavailable: %s", ag.lsm_why);
		ug_store_agent_set(ag.st, "lsm", lsm_state);
	}
	if (ag.bus) {
		/* Hear about unit starts and stops from systemd itself. */
		if (sd_bus_match_signal(ag.bus, NULL, "org.freedesktop.systemd1",
					"/org/freedesktop/systemd1",
					"org.freedesktop.systemd1.Manager", "JobRemoved",
					on_job_removed, &ag) < 0 ||
		    sd_bus_call_method(ag.bus, "org.freedesktop.systemd1",
				       "/org/freedesktop/systemd1",
				       "org.freedesktop.systemd1.Manager", "Subscribe", NULL, NULL,
				       NULL) < 0 ||
		    sd_bus_attach_event(ag.bus, ev, SD_EVENT_PRIORITY_NORMAL) < 0)
			ug_log(LOG_WARNING, "agent: cannot follow systemd's unit events; unit starts "
			       "and stops are noticed within a second instead");
		find_dropins(&ag);
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
	ug_lsm_free(ag.lsm);
	ug_net_free(ag.net);
out_audit:
	ug_audit_free(ag.audit);
out_store:
	ug_store_close(ag.st);
	targets_free(&ag);
out_bus:
	free(ag.dropins);
	sd_bus_flush_close_unref(ag.bus);
	return err < 0 ? 1 : 0;
}
