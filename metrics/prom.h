/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * metrics/: what unitguard knows, in Prometheus' text exposition format
 * (version 0.0.4). One formatter for both ways out: `unitguardctl metrics`
 * (stdout, for node_exporter's textfile collector) and the agent's opt-in
 * HTTP listener (`unitguardd --metrics-listen`). It reads only the store and
 * the pinned maps, never the agent's memory, so the agent may run it on a
 * thread of its own with a store connection of its own.
 */
#ifndef UG_PROM_H
#define UG_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

#define UG_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Apply latency: from the moment the agent sees the store's policy version
 * move (inotify on the store, milliseconds after the writer's commit) to the
 * commit of the acknowledgement that covers it (agent_state.applied_version,
 * what `unitguardctl rule add` waits for). The agent keeps the histogram and
 * writes it to agent_state under UG_LATENCY_KEY after every apply; the
 * formatter reads it from there.
 */
#define UG_LATENCY_KEY "apply_latency"
#define UG_LATENCY_BUCKETS 13 /* finite upper bounds; one more bucket for +Inf */

struct ug_latency {
	uint64_t bucket[UG_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t count;
	uint64_t sum_us;
};

/* The finite upper bound of bucket i, in microseconds. */
uint64_t ug_latency_bound_us(size_t i);
void ug_latency_observe(struct ug_latency *h, uint64_t us);
/* As text for agent_state; -ENOSPC when len is too small (512 always is enough). */
int ug_latency_encode(const struct ug_latency *h, char *buf, size_t len);
/* -EINVAL unless text is what encode wrote (a raw sqlite3 session can write
 * anything): then *h is untouched. */
int ug_latency_decode(const char *text, struct ug_latency *h);

/* A label value, escaped as the format says (\\, \", \n); bytes that are not
 * UTF-8 become U+FFFD, which a scraper would otherwise refuse the whole text for. */
void ug_prom_label_value(FILE *f, const char *v);

struct ug_prom_src {
	struct ug_store *st;
	const char *db_path; /* its lock file says whether an agent runs */
	const char *pin_dir; /* NULL: where the agent says it pins (agent_state), or the default */
};

/*
 * The whole text, all or nothing: *out (malloc'd, *len bytes) on success; a
 * negative errno and one line in err otherwise. Counters of units not in the
 * kernel are left out (status says why); pinned maps absent (no agent ever
 * ran on this pin directory): no counters, the rest as it is.
 */
int ug_prom_render(const struct ug_prom_src *src, char **out, size_t *len, char *err,
		   size_t errlen);

#endif
