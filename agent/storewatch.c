// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Noticing policy changes in the store: inotify on its directory (main.c
 * sets it up), a second look just after the last event, and a store file
 * replaced under the agent.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>

#include "agent.h"
#include "log.h"

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
