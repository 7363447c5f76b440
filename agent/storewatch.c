// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "log.h"
#include "messages.h"
#include "storewatch.h"
#include "util.h"

void storewatch_lkg_path(const char *db_path, char *buf, size_t len)
{
	ug_fmt(buf, len, "%s.lkg", db_path);
}

/*
 * The first read failed (at start, at boot): rather than nothing, the policy
 * the last agent put in force, from its copy, loudly. 0 when the targets
 * came from it.
 */
static int read_lkg(struct storewatch *sw, struct gone **gone, size_t *n_gone)
{
	struct ug_store *copy = NULL;
	char err[256];
	int ret;

	ret = ug_store_open(sw->lkg, UG_STORE_READONLY, &copy, err, sizeof(err));
	if (!ret) {
		targets_forget_revs(&sw->ts);
		ret = targets_sync(&sw->ts, copy, gone, n_gone);
	}
	if (ret) {
		ug_log(LOG_ERR, "agent: no last known good policy to enforce either (%s: %s)",
		       sw->lkg, copy ? ug_store_errmsg(copy) : err);
		ug_store_close(copy);
		return ret;
	}
	ug_log_id(LOG_CRIT, UG_MESSAGE_LAST_KNOWN_GOOD, NULL, "agent: the store %s cannot be "
		  "read (%s): enforcing the last known good policy (policy version %" PRId64
		  ", from %s) until it can; changes to the store are NOT applied meanwhile",
		  sw->db_path, sw->why, sw->ts.policy_version, sw->lkg);
	ug_store_close(copy);
	sw->on_lkg = true;
	return 0;
}

int storewatch_read(struct storewatch *sw)
{
	struct gone *gone = NULL;
	size_t n_gone = 0;
	int err;

	if (ug_now_ns() < sw->retry_ns)
		return -EAGAIN;
	if (sw->on_lkg && !sw->opened_lkg)
		targets_forget_revs(&sw->ts); /* what the copy said is not the store's */
	err = sw->opened_lkg ? -EIO : targets_sync(&sw->ts, sw->st, &gone, &n_gone);
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", sw->opened_lkg ? sw->why : ug_store_errmsg(sw->st));
		if (strcmp(why, sw->why))
			ug_log(LOG_ERR, "agent: cannot read the store %s: %s; the policy in force "
			       "stays as it is until it can", sw->db_path, why);
		snprintf(sw->why, sizeof(sw->why), "%s", why);
		sw->backoff = sw->backoff ? sw->backoff * 2 : 1;
		if (sw->backoff > 30)
			sw->backoff = 30;
		sw->retry_ns = ug_now_ns() + sw->backoff * 1000000000ULL;
		if (sw->read_once || read_lkg(sw, &gone, &n_gone))
			return err;
		/* In force from the copy; the store is still to be read. */
		sw->read_once = true;
		err = 0;
		goto gone;
	}
	if (sw->on_lkg)
		ug_log(LOG_NOTICE, "agent: the store can be read again: its policy replaces the "
		       "last known good one");
	else if (sw->why[0])
		ug_log(LOG_NOTICE, "agent: the store can be read again");
	sw->on_lkg = false;
	sw->why[0] = '\0';
	sw->backoff = 0;
	sw->read_once = true;
	sw->dirty = false;
gone:
	for (size_t i = 0; i < n_gone; i++) {
		struct gone *g = reallocarray(sw->gone, sw->n_gone + 1, sizeof(*g));

		if (!g || !gone[i].name) {
			free(gone[i].name);
			free(gone[i].loc);
			continue;
		}
		sw->gone = g;
		sw->gone[sw->n_gone++] = gone[i];
	}
	free(gone);
	return err;
}

void storewatch_in_force(struct storewatch *sw, int64_t version)
{
	if (sw->on_lkg || sw->opened_lkg || version == sw->lkg_version)
		return;
	if (ug_store_save_policy(sw->st, sw->lkg, version)) {
		ug_log(LOG_WARNING, "agent: cannot keep the last known good policy in %s: %s; the "
		       "older copy stays", sw->lkg, ug_store_errmsg(sw->st));
		return;
	}
	sw->lkg_version = version;
}

void storewatch_gone_clear(struct storewatch *sw)
{
	for (size_t i = 0; i < sw->n_gone; i++) {
		free(sw->gone[i].name);
		free(sw->gone[i].loc);
	}
	sw->n_gone = 0;
}

static void check_store(struct storewatch *sw)
{
	int64_t v;

	/* Our own audit writes land here too: only a policy change matters. */
	if (ug_store_policy_version(sw->st, &v)) {
		sw->dirty = true; /* the pass says what is wrong, once */
		sw->on_change(sw->ctx, -1, false);
		return;
	}
	if (v != sw->ts.policy_version || sw->why[0]) {
		/* Someone touched the store: if it was unreadable, try now rather
		 * than at the end of the backoff. */
		sw->retry_ns = 0;
		sw->dirty = true;
	}
	sw->on_change(sw->ctx, v, false);
}

static int on_recheck(sd_event_source *s, uint64_t usec, void *ctx)
{
	check_store(ctx);
	return 0;
}

/*
 * A writer's WAL frames reach the file (the inotify event) a moment before
 * its commit is published in the shared-memory index, which makes no event:
 * a reader woken by the last write can still see the old version. So look
 * once more shortly after the last event.
 */
static int on_store_change(sd_event_source *s, const struct inotify_event *ev, void *ctx)
{
	struct storewatch *sw = ctx;
	uint64_t now;

	check_store(sw);
	if (sd_event_now(sw->ev, CLOCK_MONOTONIC, &now) < 0)
		return 0;
	if (!sw->recheck) {
		/* Accuracy 1 us: 0 would mean sd-event's default, 250 ms. */
		if (sd_event_add_time(sw->ev, &sw->recheck, CLOCK_MONOTONIC, now + 3000, 1,
				      on_recheck, sw) < 0)
			return 0;
	} else {
		sd_event_source_set_time(sw->recheck, now + 3000);
	}
	sd_event_source_set_enabled(sw->recheck, SD_EVENT_ONESHOT);
	return 0;
}

/*
 * The store's file replaced under us (restored from a backup, moved away,
 * swapped for another): our handle reads the old file. Open the new one;
 * until that works, the policy in force stays and the reason is logged once.
 */
void storewatch_tick(struct storewatch *sw)
{
	if (sw->opened_lkg) {
		struct ug_store *real = NULL;
		char err[256];

		/* The store could not be opened at start: try again, and once it
		 * opens, every holder of st goes on with it. */
		if (ug_store_open(sw->db_path, 0, &real, err, sizeof(err))) {
			ug_fmt(sw->why, sizeof(sw->why), "cannot be opened: %s", err);
			return;
		}
		ug_store_take(sw->st, real);
		sw->opened_lkg = false;
		sw->retry_ns = 0;
		sw->dirty = true;
		sw->on_change(sw->ctx, -1, true);
		return;
	}
	if (ug_store_replaced(sw->st) == 1) {
		if (ug_store_reopen(sw->st)) {
			if (strcmp(sw->why, ug_store_errmsg(sw->st)))
				ug_log(LOG_ERR, "agent: the store %s was replaced and cannot be "
				       "opened: %s; the policy in force stays as it is until it can",
				       sw->db_path, ug_store_errmsg(sw->st));
			snprintf(sw->why, sizeof(sw->why), "%s", ug_store_errmsg(sw->st));
			return;
		}
		ug_log(LOG_NOTICE, "agent: the store %s was replaced: reading the new one",
		       sw->db_path);
		sw->why[0] = '\0';
		sw->retry_ns = 0;
		sw->dirty = true;
		sw->on_change(sw->ctx, -1, true);
		return;
	}
	if (sw->dirty)
		sw->on_change(sw->ctx, -1, false);
}

int storewatch_start(struct storewatch *sw, sd_event *ev, struct ug_store *st,
		     const char *db_path, void (*on_change)(void *, int64_t, bool), void *ctx)
{
	char dir[PATH_MAX];

	sw->st = st;
	sw->db_path = db_path;
	sw->ev = ev;
	sw->on_change = on_change;
	sw->ctx = ctx;
	sw->dirty = true;
	sw->lkg_version = -1;
	storewatch_lkg_path(db_path, sw->lkg, sizeof(sw->lkg));
	snprintf(dir, sizeof(dir), "%s", db_path);
	return sd_event_add_inotify(ev, &sw->watch, dirname(dir),
				    IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE,
				    on_store_change, sw);
}

void storewatch_stop(struct storewatch *sw)
{
	sw->watch = sd_event_source_unref(sw->watch);
	sw->recheck = sd_event_source_unref(sw->recheck);
	storewatch_gone_clear(sw);
	free(sw->gone);
	sw->gone = NULL;
	targets_free(&sw->ts);
}
