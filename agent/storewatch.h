/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store, as the agent reads it: noticing policy changes (inotify on its
 * directory, and a second look just after the last event), a store file
 * replaced under the agent, and reading the targets with a backoff while the
 * store cannot be read. Fail static: until a read succeeds, the targets (and
 * so what is enforced) stay as the last read left them; and when the first
 * read at start fails, they come from the last known good copy of the
 * policy (db/snapshot.c), which the agent writes after each change it put
 * in force.
 */
#ifndef UG_STOREWATCH_H
#define UG_STOREWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "store.h"
#include "targets.h"

struct storewatch {
	struct ug_store *st;  /* borrowed */
	const char *db_path;
	struct targets ts;    /* as of the last successful read */
	struct gone *gone;    /* targets gone since gone_clear(), and where they were */
	size_t n_gone;
	char why[256];        /* "" when the store can be read, else why not */
	char lkg[PATH_MAX];   /* the last known good copy: db_path + ".lkg" */
	int64_t lkg_version;  /* of the copy written last (-1: none this run) */
	bool on_lkg;          /* ts came from the copy, not the store */
	bool opened_lkg;      /* st is the copy: the store could not be opened */
	bool dirty;           /* read at the next pass */
	bool read_once;       /* a read succeeded: until then nothing is known */
	uint64_t retry_ns;    /* CLOCK_MONOTONIC: not before */
	unsigned backoff;     /* seconds */
	sd_event *ev;
	sd_event_source *watch, *recheck;
	/* A change worth a pass: version is the store's policy version (-1 when
	 * it could not be read); reopened: the file was replaced. */
	void (*on_change)(void *ctx, int64_t version, bool reopened);
	void *ctx;
};

/* Watch db_path's directory on ev. 0 or a negative errno. */
int storewatch_start(struct storewatch *sw, sd_event *ev, struct ug_store *st,
		     const char *db_path, void (*on_change)(void *, int64_t, bool), void *ctx);
void storewatch_stop(struct storewatch *sw); /* the sources and what was read */

/* The store read into sw->ts (unless the backoff says not yet): 0, or a
 * negative errno with sw->why saying what is wrong and ts as it was. */
int storewatch_read(struct storewatch *sw);
/* About once a second: a store file replaced under us is opened anew; a
 * read that failed is retried (on_change). */
void storewatch_tick(struct storewatch *sw);
/* Forget the gone targets (once a pass has committed them). */
void storewatch_gone_clear(struct storewatch *sw);
/* The policy at `version` is in force: keep the last known good copy of it
 * (once per version; errors are logged, the old copy stays). */
void storewatch_in_force(struct storewatch *sw, int64_t version);
/* The last known good copy's path for db_path. */
void storewatch_lkg_path(const char *db_path, char *buf, size_t len);

#endif
