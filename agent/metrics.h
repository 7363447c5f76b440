/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's side of the metrics (metrics/prom.h formats them): the apply
 * latency it measures, and the opt-in HTTP listener (--metrics-listen).
 */
#ifndef UG_AGENT_METRICS_H
#define UG_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "prom.h"

struct ug_store;
struct metrics;

struct metrics_listen {
	struct sockaddr_storage addr;
	socklen_t len;
	char text[64]; /* ADDR:PORT as given, for messages */
};

/*
 * "IPV4:PORT" or "[IPV6]:PORT": a numeric address (no host names, no zone
 * index), a port 1-65535. -EINVAL with why (one phrase) otherwise.
 */
int metrics_parse_listen(const char *s, struct metrics_listen *out, char *why, size_t len);

/*
 * Takes the latency histogram over from the last agent (agent_state of st,
 * which the metrics keep writing), and, with l, starts the listener on a
 * thread of its own (reading db_path and pin_dir itself). Call it once
 * signals are blocked (the thread inherits the mask; the loop's signalfd
 * must get them). A listener that cannot start is logged; the agent runs on
 * without it. NULL only when out of memory.
 */
struct metrics *metrics_start(struct ug_store *st, const char *db_path, const char *pin_dir,
			      const struct metrics_listen *l);
void metrics_stop(struct metrics *m); /* NULL is fine */

/* The store's policy version is now `version`, and `applied` is what the
 * agent acknowledged last (-1: nothing yet): a change seen, or not. */
void metrics_change_seen(struct metrics *m, int64_t version, int64_t applied);
/* A pass committed the acknowledgement of `ack`. */
void metrics_applied(struct metrics *m, int64_t ack);

#endif
