// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "plan.h"
#include "resolve.h"
#include "unitguard.h"
#include "util.h"

/* PID 1's direct D-Bus socket (no bus daemon), root only. */
#define UG_SYSTEMD_PRIVATE "/run/systemd/private"
#define ASK_TIMEOUT_US (5 * 1000 * 1000ULL)
#define BACKOFF_MAX_S 30
/* Questions in flight at once (two calls each). A bus daemon limits the
 * replies one connection may await (dbus-daemon's system bus: 128); past
 * it every further call fails at once. The rest wait for a free place:
 * each answer makes a pass, and the pass asks the next ones. */
#define ASK_MAX 32

/* One question to systemd about one unit: two property reads in flight. */
struct question {
	struct ug_resolver *r;
	struct question *next;
	char name[TARGET_MAX];
	uint64_t serial;
	sd_bus_slot *slot[2]; /* ControlGroup, Slice */
	char *value[2];
	int err;
	char why[160];
};

struct ug_resolver {
	char root[PATH_MAX];
	sd_event *ev;
	struct ug_cgindex *idx;
	sd_event_source *idx_src;
	bool systemd;
	sd_bus *bus; /* NULL while disconnected */
	uint64_t reconnect_ns;
	unsigned reconnect_backoff;
	bool bus_down_logged;
	struct question *questions;
	unsigned asking;
	uint64_t serial;
	struct targets *ts;
	void (*on_change)(void *ctx);
	void *ctx;
	bool in_new; /* index callbacks during the first walk: nothing to tell yet */
};

static void set_str(char **dst, const char *src)
{
	if ((!*dst && !src) || (*dst && src && !strcmp(*dst, src)))
		return;
	free(*dst);
	*dst = src ? strdup(src) : NULL; /* NULL on ENOMEM: "unknown", asked again */
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* --- the cgroup tree ------------------------------------------------------ */

bool ug_under_slices(const struct ug_cgindex *idx, const struct ug_cgnode *n)
{
	for (const struct ug_cgnode *a = ug_cgindex_by_id(idx, n->parent_id); a && a->level > 0;
	     a = ug_cgindex_by_id(idx, a->parent_id))
		if (!ug_is_slice_name(a->name))
			return false;
	return true;
}

static void on_cgroup(void *ctx, const struct ug_cgnode *n, bool added)
{
	struct ug_resolver *r = ctx;
	bool relevant = false;
	struct target *t;

	if (r->in_new)
		return;
	/* A cgroup of a target's name came or went where a unit's cgroup can
	 * be, or a target's own cgroup went: ask again. A slice appearing may
	 * give a unit's programs a place to be attached at. One named after a
	 * unit anywhere else is nobody's business (and a storm of them must
	 * not make a storm of passes). */
	t = targets_find(r->ts, n->name);
	if (t && ug_under_slices(r->idx, n)) {
		t->w.stale = true;
		t->w.ask_after_ns = 0;
		relevant = true;
	}
	if (!added) {
		for (size_t i = 0; i < r->ts->n; i++) {
			if (r->ts->v[i]->w.path && r->ts->v[i]->w.id == n->id) {
				r->ts->v[i]->w.stale = true;
				relevant = true;
			}
		}
	}
	relevant |= ug_is_slice_name(n->name) && ug_under_slices(r->idx, n);
	if (relevant)
		r->on_change(r->ctx);
}

static int on_index(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	struct ug_resolver *r = ctx;
	int err = ug_cgindex_process(r->idx);

	if (err)
		ug_log(LOG_ERR, "cgroup: reading cgroup events: %s", strerror(-err));
	return 0;
}

/* Put t at the cgroup node n (running), or nowhere. */
static void place(struct target *t, const struct ug_cgnode *n)
{
	set_str(&t->w.path, n ? n->path : NULL);
	t->w.id = n ? n->id : 0;
	t->w.level = n ? n->level : 0;
}

/*
 * Without systemd: the one cgroup of that name the binding rule accepts
 * (ug_bind_pick(): root's, where systemd would put it). A cgroup of the
 * name anywhere else (a child of another unit, a delegated subtree) is not
 * evidence, however many there are.
 */
static void resolve_tree(struct ug_resolver *r, struct target *t, const char *note)
{
	size_t n = ug_cgindex_by_name(r->idx, t->name, NULL, 0), m = 0;
	const struct ug_cgnode **c = calloc(n ?: 1, sizeof(*c));
	struct ug_bind_cand *cand = calloc(n ?: 1, sizeof(*cand));
	const struct ug_cgnode *other = NULL, *two[2] = {};
	ssize_t k;

	if (!c || !cand) {
		/* Not an answer: keep what it had. */
		free(c);
		free(cand);
		return;
	}
	n = ug_cgindex_by_name(r->idx, t->name, c, n);
	for (size_t i = 0; i < n; i++) {
		cand[i] = (struct ug_bind_cand){ .id = c[i]->id, .path = c[i]->path,
						 .uid = c[i]->uid,
						 .under_slices = ug_under_slices(r->idx, c[i]) };
		if (cand[i].uid == 0 && cand[i].under_slices) {
			if (m < 2)
				two[m] = c[i];
			m++;
		} else if (!other)
			other = c[i];
	}
	k = ug_bind_pick(cand, n, t->w.path ? t->w.id : 0);
	t->w.kept = false;
	t->w.why[0] = '\0';
	if (k >= 0) {
		t->w.kept = m > 1;
		if (m > 1)
			ug_fmt(t->w.why, sizeof(t->w.why), "several cgroups are named %s where a "
				 "unit's can be (%s, %s%s); kept the one it had", t->name,
				 two[0]->path, two[1]->path, m > 2 ? ", ..." : "");
		else if (note)
			ug_fmt(t->w.why, sizeof(t->w.why), "%s", note);
		place(t, c[k]);
		t->w.err = 0;
	} else if (k == -ENOTUNIQ) {
		place(t, NULL);
		t->w.err = -ENOTUNIQ;
		ug_fmt(t->w.why, sizeof(t->w.why), "several cgroups are named %s where a unit's "
			 "can be (%s, %s%s); use the absolute cgroup path as target", t->name,
			 two[0]->path, two[1]->path, m > 2 ? ", ..." : "");
	} else {
		place(t, NULL);
		t->w.err = -ENOENT;
		if (other)
			ug_fmt(t->w.why, sizeof(t->w.why), "the cgroup %s is not where a unit's cgroup "
				 "is made (only root's, below slices or the root, are): ignored",
				 other->path);
	}
	/* Where it ran last is where it will most likely run again. */
	if (t->w.path)
		set_str(&t->w.future, t->w.path);
	free(c);
	free(cand);
}

/* --- systemd --------------------------------------------------------------- */

static const char *unit_interface(const char *unit)
{
	static const struct {
		const char *suffix, *iface;
	} map[] = {
		{ ".service", "org.freedesktop.systemd1.Service" },
		{ ".socket", "org.freedesktop.systemd1.Socket" },
		{ ".slice", "org.freedesktop.systemd1.Slice" },
		{ ".scope", "org.freedesktop.systemd1.Scope" },
		{ ".mount", "org.freedesktop.systemd1.Mount" },
		{ ".swap", "org.freedesktop.systemd1.Swap" },
	};
	const char *dot = strrchr(unit, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(dot, map[i].suffix))
			return map[i].iface;
	return NULL;
}

static void question_free(struct question *q)
{
	for (int k = 0; k < 2; k++) {
		sd_bus_slot_unref(q->slot[k]);
		free(q->value[k]);
	}
	free(q);
}

static void question_unlink(struct ug_resolver *r, struct question *q)
{
	for (struct question **pp = &r->questions; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	r->asking--;
}

/* Both answers are in (or the question failed): update the target. */
static void answered(struct ug_resolver *r, struct question *q)
{
	struct target *t = targets_find(r->ts, q->name);
	char future[PATH_MAX], spath[PATH_MAX];
	const char *cg = q->value[0], *slice = q->value[1];

	question_unlink(r, q);
	if (!t || t->w.serial != q->serial)
		goto out; /* the target went, or a newer question is out */
	t->w.asking = false;
	if (q->err) {
		/* No answer is not an answer: keep what we know, ask again later. */
		t->w.stale = true;
		t->w.backoff = t->w.backoff ? t->w.backoff * 2 : 1;
		if (t->w.backoff > BACKOFF_MAX_S)
			t->w.backoff = BACKOFF_MAX_S;
		t->w.ask_after_ns = ug_now_ns() + t->w.backoff * 1000000000ULL;
		t->w.kept = t->w.path != NULL;
		t->w.err = t->w.path ? 0 : q->err;
		ug_fmt(t->w.why, sizeof(t->w.why), "systemd did not answer for %s: %s%s", t->name,
			 q->why, t->w.path ? "; kept the cgroup it had" : "");
		goto changed;
	}
	t->w.backoff = 0;
	t->w.kept = false;
	t->w.why[0] = '\0';
	future[0] = '\0';
	if (cg && cg[0]) {
		const struct ug_cgnode *n;

		if (ug_fmt(future, sizeof(future), "%s%s", r->root, cg) >= (int)sizeof(future))
			future[0] = '\0';
		n = future[0] ? ug_cgindex_by_path(r->idx, future) : NULL;
		place(t, n);
		/* Not in the index yet: its mkdir event is on its way, and asks again. */
		t->w.err = n ? 0 : -ENOENT;
	} else {
		const struct ug_cgnode *old = t->w.path ? ug_cgindex_by_id(r->idx, t->w.id) : NULL;

		if (old) {
			/* Stopping: its cgroup goes when its last process has. */
			t->w.kept = true;
			t->w.err = 0;
			ug_fmt(t->w.why, sizeof(t->w.why), "systemd says %s is not running; its "
				 "cgroup is still there", t->name);
		} else {
			place(t, NULL);
			t->w.err = -ENOENT;
		}
		if (ug_is_slice_name(t->name)) {
			if (!ug_slice_path(t->name, spath, sizeof(spath)) &&
			    ug_fmt(future, sizeof(future), "%s%s", r->root, spath) >=
				    (int)sizeof(future))
				future[0] = '\0';
		} else if (!ug_slice_path(slice && slice[0] ? slice : "system.slice", spath,
				       sizeof(spath)) &&
			   ug_fmt(future, sizeof(future), "%s%s/%s", r->root, spath, t->name) >=
				   (int)sizeof(future)) {
			future[0] = '\0';
		}
	}
	set_str(&t->w.future, future[0] ? future : NULL);
changed:
	r->on_change(r->ctx);
out:
	question_free(q);
}

static int on_property(sd_bus_message *m, void *ctx, sd_bus_error *error)
{
	struct question *q = ctx;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	int k = sd_bus_get_current_slot(sd_bus_message_get_bus(m)) == q->slot[0] ? 0 : 1;
	const char *s;
	int err;

	q->slot[k] = sd_bus_slot_unref(q->slot[k]);
	if (e) {
		if (!q->err) {
			q->err = -EHOSTDOWN;
			snprintf(q->why, sizeof(q->why), "%s", e->message ?: e->name);
		}
	} else if ((err = sd_bus_message_read(m, "v", "s", &s)) < 0) {
		if (!q->err) {
			q->err = err;
			snprintf(q->why, sizeof(q->why), "unexpected reply: %s", strerror(-err));
		}
	} else {
		q->value[k] = strdup(s);
		if (!q->value[k] && !q->err) {
			q->err = -ENOMEM;
			snprintf(q->why, sizeof(q->why), "%s", strerror(ENOMEM));
		}
	}
	if (!q->slot[0] && !q->slot[1])
		answered(q->r, q);
	return 0;
}

static void ask(struct ug_resolver *r, struct target *t)
{
	static const char *const props[2] = { "ControlGroup", "Slice" };
	const char *iface = unit_interface(t->name);
	struct question *q;
	char *objpath = NULL;
	int err = 0;

	if (!iface || !r->bus)
		return;
	q = calloc(1, sizeof(*q));
	if (!q)
		return;
	q->r = r;
	snprintf(q->name, sizeof(q->name), "%s", t->name);
	q->serial = ++r->serial;
	/* Reading a property of a unit's object loads the unit if needed. */
	err = sd_bus_path_encode("/org/freedesktop/systemd1/unit", t->name, &objpath);
	for (int k = 0; !err && k < 2; k++) {
		sd_bus_message *m = NULL;

		err = sd_bus_message_new_method_call(r->bus, &m, "org.freedesktop.systemd1", objpath,
						     "org.freedesktop.DBus.Properties", "Get");
		if (err >= 0)
			err = sd_bus_message_append(m, "ss", iface, props[k]);
		if (err >= 0)
			err = sd_bus_call_async(r->bus, &q->slot[k], m, on_property, q,
						ASK_TIMEOUT_US);
		sd_bus_message_unref(m);
		err = err < 0 ? err : 0;
	}
	free(objpath);
	if (err) {
		ug_log(LOG_WARNING, "agent: cannot ask systemd about %s: %s", t->name, strerror(-err));
		question_free(q);
		return;
	}
	q->next = r->questions;
	r->questions = q;
	r->asking++;
	t->w.asking = true;
	t->w.stale = false;
	t->w.serial = q->serial;
}

static void bus_drop(struct ug_resolver *r, const char *why)
{
	/* Questions in flight die with the connection: their targets keep
	 * what they had and are asked again once it is back. */
	while (r->questions) {
		struct question *q = r->questions;
		struct target *t = targets_find(r->ts, q->name);

		if (t && t->w.serial == q->serial) {
			t->w.asking = false;
			t->w.stale = true;
		}
		question_unlink(r, q);
		question_free(q);
	}
	sd_bus_flush_close_unref(r->bus);
	r->bus = NULL;
	r->reconnect_backoff = r->reconnect_backoff ? r->reconnect_backoff * 2 : 1;
	if (r->reconnect_backoff > BACKOFF_MAX_S)
		r->reconnect_backoff = BACKOFF_MAX_S;
	r->reconnect_ns = ug_now_ns() + r->reconnect_backoff * 1000000000ULL;
	if (!r->bus_down_logged)
		ug_log(LOG_ERR, "agent: lost the connection to systemd (%s); every unit keeps its "
		       "policy, new answers wait for the bus to come back", why);
	r->bus_down_logged = true;
}

static int on_disconnected(sd_bus_message *m, void *ctx, sd_bus_error *error)
{
	struct ug_resolver *r = ctx;

	bus_drop(r, "the bus went away");
	r->on_change(r->ctx);
	return 0;
}

/* systemd finished starting or stopping a unit: ask about it again now. */
static int on_job_removed(sd_bus_message *m, void *ctx, sd_bus_error *error)
{
	struct ug_resolver *r = ctx;
	const char *unit = NULL, *path, *result;
	uint32_t id;
	struct target *t;

	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0 || !unit)
		return 0;
	t = targets_find(r->ts, unit);
	if (t) {
		t->w.stale = true;
		t->w.ask_after_ns = 0;
		r->on_change(r->ctx);
	}
	return 0;
}

/*
 * systemd's own socket first: PID 1 answers there from its first moments, so
 * the agent can resolve units early in boot, before dbus.service (which is
 * ordered after sysinit.target, as are the units the agent guards), and a
 * restart of the bus daemon does not concern it. Only root may connect; any
 * other caller (tests, a non-root agent) goes through the system bus.
 */
static int open_systemd(sd_bus **out)
{
	sd_bus *bus = NULL;
	int err;

	*out = NULL;
	if (geteuid() == 0 && access(UG_SYSTEMD_PRIVATE, F_OK) == 0) {
		err = sd_bus_new(&bus);
		if (err >= 0)
			err = sd_bus_set_address(bus, "unix:path=" UG_SYSTEMD_PRIVATE);
		if (err >= 0)
			err = sd_bus_start(bus);
		if (err >= 0) {
			*out = bus;
			return 1;
		}
		sd_bus_unref(bus);
		ug_log(LOG_DEBUG, "agent: cannot connect to %s (%s); trying the system bus",
		       UG_SYSTEMD_PRIVATE, strerror(-err));
	}
	return sd_bus_open_system(out);
}

static int bus_connect(struct ug_resolver *r)
{
	sd_bus *bus = NULL;
	int err, private;

	err = private = open_systemd(&bus);
	if (err >= 0)
		err = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local",
					  "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
					  "Disconnected", on_disconnected, r);
	if (err >= 0)
		/* A direct peer's messages carry no sender: match on the path. */
		err = sd_bus_match_signal_async(bus, NULL,
						private > 0 ? NULL : "org.freedesktop.systemd1",
						"/org/freedesktop/systemd1",
						"org.freedesktop.systemd1.Manager", "JobRemoved",
						on_job_removed, NULL, r);
	if (err >= 0)
		err = sd_bus_call_method_async(bus, NULL, "org.freedesktop.systemd1",
					       "/org/freedesktop/systemd1",
					       "org.freedesktop.systemd1.Manager", "Subscribe", NULL,
					       NULL, NULL);
	if (err >= 0)
		err = sd_bus_attach_event(bus, r->ev, SD_EVENT_PRIORITY_NORMAL);
	if (err < 0) {
		sd_bus_flush_close_unref(bus);
		return err;
	}
	r->bus = bus;
	if (r->bus_down_logged)
		ug_log(LOG_NOTICE, "agent: connected to systemd again; asking about every unit");
	else
		ug_log(LOG_INFO, "agent: units are resolved through systemd over D-Bus (%s)",
		       private > 0 ? UG_SYSTEMD_PRIVATE : "the system bus");
	r->bus_down_logged = false;
	r->reconnect_backoff = 0;
	for (size_t i = 0; i < r->ts->n; i++) {
		r->ts->v[i]->w.stale = true;
		r->ts->v[i]->w.ask_after_ns = 0;
	}
	return 0;
}

/* --- the resolver ---------------------------------------------------------- */

int ug_resolver_new(const char *cgroot, sd_event *ev, bool systemd, struct targets *ts,
		    void (*on_change)(void *ctx), void *ctx, struct ug_resolver **out)
{
	struct ug_resolver *r = calloc(1, sizeof(*r));
	int err;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	snprintf(r->root, sizeof(r->root), "%s", cgroot);
	r->ev = ev;
	r->systemd = systemd;
	r->ts = ts;
	r->on_change = on_change;
	r->ctx = ctx;
	r->in_new = true;
	err = ug_cgindex_new(cgroot, on_cgroup, r, &r->idx);
	r->in_new = false;
	if (err) {
		ug_log(LOG_ERR, "cgroup: cannot index the cgroup tree at %s: %s", cgroot,
		       strerror(-err));
		goto err;
	}
	err = sd_event_add_io(ev, &r->idx_src, ug_cgindex_fd(r->idx), EPOLLIN, on_index, r);
	if (err < 0)
		goto err;
	ug_log(LOG_INFO, "cgroup: %zu cgroups indexed below %s", ug_cgindex_count(r->idx), cgroot);
	if (systemd) {
		err = bus_connect(r);
		if (err < 0)
			bus_drop(r, strerror(-err));
	}
	*out = r;
	return 0;
err:
	ug_resolver_free(r);
	return err < 0 ? err : -EINVAL;
}

void ug_resolver_free(struct ug_resolver *r)
{
	if (!r)
		return;
	while (r->questions) {
		struct question *q = r->questions;

		question_unlink(r, q);
		question_free(q);
	}
	sd_bus_flush_close_unref(r->bus);
	sd_event_source_unref(r->idx_src);
	ug_cgindex_free(r->idx);
	free(r);
}

bool ug_resolve(struct ug_resolver *r, struct target *t)
{
	char *old_path = t->w.path ? strdup(t->w.path) : NULL;
	char *old_future = t->w.future ? strdup(t->w.future) : NULL;
	uint64_t old_id = t->w.id;
	bool moved;

	if (t->name[0] == '/') {
		/* A cgroup path: it is where it is, systemd or not. */
		char full[PATH_MAX];

		const struct ug_cgnode *n;

		ug_fmt(full, sizeof(full), "%s%s", r->root, t->name);
		n = ug_cgindex_by_path(r->idx, full);
		t->w.kept = false;
		t->w.why[0] = '\0';
		if (n || ug_cgindex_absent(r->idx, full)) {
			place(t, n);
			t->w.err = n ? 0 : -ENOENT;
		} else {
			/* Not seen is not gone: a directory on its way cannot be
			 * read or watched now. What it had stays. */
			t->w.kept = t->w.path != NULL;
			t->w.err = t->w.path ? 0 : -EAGAIN;
			ug_fmt(t->w.why, sizeof(t->w.why), "the cgroup tree above %s cannot be seen "
				 "now%s", full, t->w.path ? "; kept the cgroup it had" : "");
		}
		set_str(&t->w.future, full);
	} else if (!r->systemd) {
		resolve_tree(r, t, NULL);
	} else {
		/* A cgroup that is gone is a fact, whatever the bus says. */
		if (t->w.path && !ug_cgindex_by_id(r->idx, t->w.id)) {
			place(t, NULL);
			t->w.err = -ENOENT;
			t->w.kept = false;
			t->w.stale = true;
		}
		if (r->bus && t->w.stale && !t->w.asking && r->asking < ASK_MAX &&
		    ug_now_ns() >= t->w.ask_after_ns)
			ask(r, t);
		if (!r->bus && !t->w.path && t->w.err != -ENOENT) {
			/* Never known, and systemd cannot be asked: the tree, loudly. */
			resolve_tree(r, t, "resolved by its cgroup's name while systemd is "
					   "unreachable");
		}
		if (!r->bus && t->w.err == -ENOENT && !t->w.future)
			ug_fmt(t->w.why, sizeof(t->w.why), "systemd is unreachable: where %s "
				 "will run is not known", t->name);
	}
	moved = !same_str(old_path, t->w.path) || old_id != t->w.id ||
		!same_str(old_future, t->w.future);
	free(old_path);
	free(old_future);
	return moved;
}

unsigned ug_resolver_asking(const struct ug_resolver *r)
{
	return r->asking;
}

bool ug_resolver_bus_up(const struct ug_resolver *r)
{
	return r->bus != NULL;
}

bool ug_resolver_systemd(const struct ug_resolver *r)
{
	return r->systemd;
}

const struct ug_cgindex *ug_resolver_index(const struct ug_resolver *r)
{
	return r->idx;
}

const char *ug_resolver_root(const struct ug_resolver *r)
{
	return r->root;
}

void ug_resolver_tick(struct ug_resolver *r)
{
	bool retry = false;

	ug_cgindex_tick(r->idx);
	if (r->systemd && !r->bus && ug_now_ns() >= r->reconnect_ns) {
		int err = bus_connect(r);

		if (err < 0)
			bus_drop(r, strerror(-err));
		else
			retry = true;
	}
	for (size_t i = 0; r->bus && i < r->ts->n; i++) {
		struct target *t = r->ts->v[i];

		if (t->w.stale && !t->w.asking && ug_now_ns() >= t->w.ask_after_ns)
			retry = true;
	}
	if (retry)
		r->on_change(r->ctx);
}
