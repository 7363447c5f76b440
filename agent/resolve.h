/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where each target is. Two sources, and one rule for both: an answer that
 * cannot be had never removes what is known (fail static); only a fact does
 * (the cgroup is gone, systemd says the unit is not running).
 *  - The cgroup tree (cgindex.c), always: paths, ids, existence. Without
 *    systemd as PID 1 it also finds a unit by its cgroup's name: among the
 *    cgroups of that name, those owned by root (a delegated subtree's are its
 *    user's), and only if that leaves one. A name found twice keeps the
 *    cgroup it had, if that still exists.
 *  - systemd over D-Bus, with systemd as PID 1: a unit's ControlGroup and
 *    Slice, asked asynchronously (5 s timeout) when the unit is new, when
 *    systemd says a job of it finished, or when a cgroup of its name appears
 *    or its cgroup goes. While the bus is away (dbus restarted) answers are
 *    the last ones had; the agent reconnects with backoff.
 */
#ifndef UG_RESOLVE_H
#define UG_RESOLVE_H

#include <stdbool.h>

#include "cgindex.h"
#include "targets.h"

typedef struct sd_event sd_event;
struct ug_resolver;

/* on_change: something a pass depends on changed (an answer came, a cgroup
 * came or went): schedule one. */
int ug_resolver_new(const char *cgroot, sd_event *ev, bool systemd, struct targets *ts,
		    void (*on_change)(void *ctx), void *ctx, struct ug_resolver **out);
void ug_resolver_free(struct ug_resolver *r);

/* Bring t->w up to date from what is known now; ask systemd if needed.
 * Returns true when t's location changed. */
bool ug_resolve(struct ug_resolver *r, struct target *t);
/* Questions in flight: a pass that depends on them is not final yet. */
unsigned ug_resolver_asking(const struct ug_resolver *r);
/* Is systemd PID 1 and its bus connected (false: answers are last-known). */
bool ug_resolver_bus_up(const struct ug_resolver *r);
bool ug_resolver_systemd(const struct ug_resolver *r);
const struct ug_cgindex *ug_resolver_index(const struct ug_resolver *r);
/* Every ancestor of n below the root is a slice: where systemd puts units. */
bool ug_under_slices(const struct ug_cgindex *idx, const struct ug_cgnode *n);
const char *ug_resolver_root(const struct ug_resolver *r);
/* About once a second: retries, reconnecting, rewalking an incomplete index. */
void ug_resolver_tick(struct ug_resolver *r);

#endif
