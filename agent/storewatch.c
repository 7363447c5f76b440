// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The store, as the agent reads it: noticing policy changes (inotify on its
 * directory, which main.c sets up, and a second look just after the last
 * event), a store file replaced under the agent, and reading it with a
 * backoff while it cannot be read (the policy in force stays meanwhile).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "agent.h"
#include "log.h"
#include "util.h"

int store_read(struct agent *ag)
{
	struct gone *gone = NULL;
	size_t n_gone = 0;
	int err;

	if (ug_now_ns() < ag->store_retry_ns)
		return -EAGAIN;
	err = targets_sync(&ag->ts, ag->st, &gone, &n_gone);
	if (err) {
		char why[256];

		snprintf(why, sizeof(why), "%s", ug_store_errmsg(ag->st));
		if (strcmp(why, ag->store_why))
			ug_log(LOG_ERR, "agent: cannot read the store %s: %s; the policy in force "
			       "stays as it is until it can", ag->db_path, why);
		snprintf(ag->store_why, sizeof(ag->store_why), "%s", why);
		ag->store_backoff = ag->store_backoff ? ag->store_backoff * 2 : 1;
		if (ag->store_backoff > 30)
			ag->store_backoff = 30;
		ag->store_retry_ns = ug_now_ns() + ag->store_backoff * 1000000000ULL;
		return err;
	}
	if (ag->store_why[0])
		ug_log(LOG_NOTICE, "agent: the store can be read again");
	ag->store_why[0] = '\0';
	ag->store_backoff = 0;
	ag->store_read_once = true;
	for (size_t i = 0; i < n_gone; i++) {
		struct gone *g = reallocarray(ag->gone, ag->n_gone + 1, sizeof(*g));

		if (!g || !gone[i].name) {
			free(gone[i].name);
			free(gone[i].loc);
			continue;
		}
		ag->gone = g;
		ag->gone[ag->n_gone++] = gone[i];
	}
	free(gone);
	return 0;
}

void gone_clear(struct agent *ag)
{
	for (size_t i = 0; i < ag->n_gone; i++) {
		free(ag->gone[i].name);
		free(ag->gone[i].loc);
	}
	ag->n_gone = 0;
}

static void check_store(struct agent *ag)
{
	int64_t v;

	/* Our own audit writes land here too: only a policy change matters. */
	if (ug_store_policy_version(ag->st, &v)) {
		ag->store_dirty = true; /* the pass says what is wrong, once */
		pass_schedule(ag);
		return;
	}
	metrics_change_seen(ag, v);
	if (v != ag->ts.policy_version || ag->store_why[0]) {
		/* Someone touched the store: if it was unreadable, try now rather
		 * than at the end of the backoff. */
		ag->store_retry_ns = 0;
		ag->store_dirty = true;
		pass_schedule(ag);
	}
}

static int on_store_recheck(sd_event_source *s, uint64_t usec, void *ctx)
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
int on_store_change(sd_event_source *s, const struct inotify_event *ev, void *ctx)
{
	struct agent *ag = ctx;
	uint64_t now;

	check_store(ag);
	if (sd_event_now(ag->ev, CLOCK_MONOTONIC, &now) < 0)
		return 0;
	if (!ag->recheck_src) {
		/* Accuracy 1 us: 0 would mean sd-event's default, 250 ms. */
		if (sd_event_add_time(ag->ev, &ag->recheck_src, CLOCK_MONOTONIC, now + 3000, 1,
				      on_store_recheck, ag) < 0)
			return 0;
	} else {
		sd_event_source_set_time(ag->recheck_src, now + 3000);
	}
	sd_event_source_set_enabled(ag->recheck_src, SD_EVENT_ONESHOT);
	return 0;
}

/*
 * The store's file replaced under us (restored from a backup, moved away,
 * swapped for another): our handle reads the old file. Open the new one;
 * until that works, the policy in force stays and the reason is logged once.
 */
void check_store_file(struct agent *ag)
{
	if (ug_store_replaced(ag->st) != 1)
		return;
	if (ug_store_reopen(ag->st)) {
		if (strcmp(ag->store_why, ug_store_errmsg(ag->st)))
			ug_log(LOG_ERR, "agent: the store %s was replaced and cannot be opened: %s; "
			       "the policy in force stays as it is until it can", ag->db_path,
			       ug_store_errmsg(ag->st));
		snprintf(ag->store_why, sizeof(ag->store_why), "%s", ug_store_errmsg(ag->st));
		return;
	}
	ug_log(LOG_NOTICE, "agent: the store %s was replaced: reading the new one", ag->db_path);
	ag->store_why[0] = '\0';
	ag->store_retry_ns = 0;
	ag->store_dirty = true;
	ag->status_dirty = true;
	pass_schedule(ag);
}
