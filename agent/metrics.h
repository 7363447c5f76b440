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

struct agent;
struct ug_httpd;

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

/* A policy change not yet acknowledged: since when the agent has seen it. */
struct apply_clock {
	struct ug_latency hist;
	bool pending;
	int64_t version;  /* the policy version seen */
	uint64_t seen_ns; /* CLOCK_MONOTONIC */
	bool unsaved;     /* hist is newer than agent_state's copy */
};

/* The store's policy version is now `version` (main.c, check_store). */
void metrics_change_seen(struct agent *ag, int64_t version);
/* A pass committed the acknowledgement of `ack` (pass.c). */
void metrics_applied(struct agent *ag, int64_t ack);

/*
 * Takes the latency histogram over from the last agent (agent_state), and,
 * with l, starts the listener on a thread of its own. Call it once signals
 * are blocked (the thread inherits the mask; the loop's signalfd must get
 * them). A listener that cannot start is logged; the agent runs on without it.
 */
void metrics_start(struct agent *ag, const struct metrics_listen *l);
void metrics_stop(struct agent *ag); /* idempotent */

#endif
