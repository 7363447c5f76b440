// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "messages.h"
#include "net.h"
#include "report.h"

/* A reason: notes joined with "; ", cut at its end. */
struct notes {
	char *buf;
	size_t len, off;
};

static void note(struct notes *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct notes *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (n->off) {
		w = snprintf(n->buf + n->off, n->len - n->off, "; ");
		if (w > 0 && (size_t)w < n->len - n->off)
			n->off += (size_t)w;
	}
	va_start(ap, fmt);
	w = vsnprintf(n->buf + n->off, n->len - n->off, fmt, ap);
	va_end(ap);
	if (w > 0 && (size_t)w < n->len - n->off)
		n->off += (size_t)w;
}

static const char *last_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Where it is not running: what happens at its next start. */
static void next_start(struct notes *n, const struct ug_plan_target *rp,
		       const struct ug_plan_group *g, const struct ug_applied *a,
		       const char *point)
{
	bool kept = (g->net.pend || g->lsm.pend) && !a->pend_err;

	if (kept && rp->loc && point)
		note(n, "in force from its next start, at %s", rp->loc);
	else if (kept)
		note(n, "in force once its cgroup appears (from its first instruction where "
		     "the programs are attached above it already)");
	else if (g->nopend == UG_NOPEND_UNKNOWN)
		note(n, "where its cgroup will be made is not known: in force once it appears "
		     "and the agent has placed it");
	else if (g->nopend == UG_NOPEND_NO_PARENT)
		note(n, "the cgroup it will be made in does not exist yet: in force once its "
		     "cgroup appears and the agent has placed it");
}

static enum ug_state outcome(const struct report_in *in, size_t i, char *reason, size_t len)
{
	const struct target *t = in->t[i];
	ssize_t gi = in->plan->group[i];
	const struct ug_plan_group *g = &in->plan->groups[gi];
	const struct ug_applied *a = &in->ap->g[gi];
	const struct target *rt = in->t[g->rep];
	const struct ug_plan_target *rp = &in->pt[g->rep];
	const char *point = g->point >= 0 ? in->plan->points[g->point].path : NULL;
	enum ug_state state = UG_STATE_ENFORCED;
	struct notes n = { reason, len, 0 };

	reason[0] = '\0';
	if (g->rep != i)
		note(&n, "the same cgroup as %s: its rules and settings are merged", rt->name);
	if (t->w.err && t->w.err != -ENOENT && !t->w.path) {
		state = UG_STATE_UNRESOLVED;
		note(&n, "%s", t->w.why[0] ? t->w.why : strerror(-t->w.err));
	} else if (!rt->w.path) {
		state = UG_STATE_WAITING;
		note(&n, "no cgroup: not running");
		next_start(&n, rp, g, a, point);
		if (t->w.why[0])
			note(&n, "%s", t->w.why);
	} else if (t->w.why[0]) {
		note(&n, "%s", t->w.why);
	}
	if (a->net_err || a->lsm_err || a->pend_err) {
		state = UG_STATE_REFUSED;
		if (a->net_err)
			note(&n, "%s (the previous policy stays in force)", a->net_why);
		if (a->lsm_err)
			note(&n, "LSM: %s (the previous policy stays in force)", a->lsm_why);
		if (a->pend_err)
			note(&n, "not kept for its next start: %s", a->pend_why);
	}
	if (g->nopend == UG_NOPEND_CONFLICT)
		note(&n, "another target's cgroup has the name %s: its next start is covered only "
		     "once the agent sees it", last_name(rp->loc));
	else if (g->nopend == UG_NOPEND_TOO_LONG)
		note(&n, "its cgroup's name is too long to be kept by name: its next start is "
		     "covered only once the agent sees it");
	if (g->no_point && rp->loc)
		note(&n, "nowhere to attach its programs yet (%s does not exist): they are attached "
		     "when its cgroup appears", rp->loc);
	if (t->bad_row) {
		if (state == UG_STATE_ENFORCED || state == UG_STATE_WAITING)
			state = UG_STATE_PARTIAL;
		note(&n, "its units row in the store names no valid target: the policy it had "
		     "stays in force, changes to it are NOT applied");
	}
	if (t->bad_settings) {
		char cols[80];

		if (state == UG_STATE_ENFORCED || state == UG_STATE_WAITING)
			state = UG_STATE_PARTIAL;
		targets_bad_columns(t->bad_settings, cols, sizeof(cols));
		note(&n, "invalid settings in the store (%s): for those the last valid value is "
		     "enforced", cols);
	}
	if (t->invalid) {
		if (state == UG_STATE_ENFORCED || state == UG_STATE_WAITING)
			state = UG_STATE_PARTIAL;
		note(&n, "%u invalid rules in the store are NOT enforced", t->invalid);
	}
	if (in->lsm_why && ug_settings_lsm(&rt->own)) {
		if (state == UG_STATE_ENFORCED || state == UG_STATE_WAITING)
			state = UG_STATE_PARTIAL;
		note(&n, "LSM rules NOT enforced: %s", in->lsm_why);
	}
	if (in->store_why[0])
		note(&n, "the store cannot be read (%s): this is the policy of an earlier read",
		     in->store_why);
	if (state == UG_STATE_ENFORCED && point && strcmp(point, rt->w.path ?: ""))
		note(&n, "programs attached at %s", point);
	return state;
}

static void log_state(const struct target *t, enum ug_state s, const char *reason)
{
	const char *name = ug_state_to_string(s);

	if (s == UG_STATE_ENFORCED || s == UG_STATE_WAITING)
		ug_log(s == UG_STATE_ENFORCED ? LOG_INFO : LOG_NOTICE, "agent: %s: %s%s%s", t->name,
		       name, reason[0] ? ": " : "", reason);
	else
		ug_log_id(LOG_ERR, UG_MESSAGE_NOT_ENFORCED, t->name,
			  "agent: %s: %s, NOT fully enforced: %s", t->name, name, reason);
}

/* Is there anything new to say of target i? */
static bool may_have_changed(const struct report_in *in, size_t i)
{
	const struct target *t = in->t[i];
	ssize_t gi = in->plan->group[i];
	const struct ug_applied *a = &in->ap->g[gi];

	return in->all || !t->reported || in->plan->groups[gi].dirty || t->w.why[0] ||
	       a->net_err || a->lsm_err || a->pend_err || t->state == UG_STATE_REFUSED ||
	       t->state == UG_STATE_UNRESOLVED;
}

size_t report_rows(const struct report_in *in, struct ug_store_status *rows,
		   char (*reasons)[UG_REASON_MAX])
{
	size_t n_rows = 0;

	for (size_t i = 0; i < in->plan->n; i++) {
		struct target *t = in->t[i];
		const struct ug_plan_group *g = &in->plan->groups[in->plan->group[i]];
		const struct target *rt = in->t[g->rep];
		const struct ug_applied *a = &in->ap->g[in->plan->group[i]];
		struct ug_store_status *row = &rows[n_rows];
		char *reason = reasons[n_rows];
		enum ug_state s;

		if (a->generation)
			t->generation = a->generation;
		if (!may_have_changed(in, i))
			continue;
		s = outcome(in, i, reason, UG_REASON_MAX);
		if (!in->all && t->reported && (int)s == t->state && !strcmp(t->reason, reason) &&
		    !t->changed)
			continue;
		if ((int)s != t->state || strcmp(t->reason, reason))
			log_state(t, s, reason);
		t->state = (int)s;
		snprintf(t->reason, sizeof(t->reason), "%s", reason);
		t->reported = true;
		*row = (struct ug_store_status){
			.target = t->name,
			.cgroup = rt->w.path,
			.cgroup_id = rt->w.path ? rt->w.id : 0,
			.mode = ug_mode_name(rt->own.mode),
			.generation = t->generation,
			.programs = g->point >= 0 && (g->net.run || g->net.pend) ? ug_net_prog_names
										 : NULL,
			.enforced = ug_state_in_force(s),
			.reason = reason[0] ? reason : NULL,
			.state = ug_state_to_string(s),
		};
		n_rows++;
	}
	return n_rows;
}
