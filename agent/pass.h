/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One pass: store -> targets -> where -> plan -> kernel -> status and the
 * acknowledgement (pass.c). Its state, which only pass.c writes; others ask
 * for a pass through the functions below.
 */
#ifndef UG_PASS_H
#define UG_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct agent;

struct passes {
	sd_event_source *src;  /* the pass, at most once per loop iteration (main.c) */
	bool all_dirty;        /* recompile every target (first pass, SIGHUP, a loader that
				  lost what it was told to keep) */
	bool status_dirty;     /* rewrite every status row (the last write failed) */
	int64_t applied_version;       /* acknowledged; -1: none yet */
	uint32_t generation;           /* last put in force, network and LSM alike */
	uint32_t committed_generation; /* as last written to agent_state */
	char reported_store_why[256];  /* the store's state as the status rows say it */
	/* The family rules in force per running policy cgroup (the last plan),
	 * for the audit. */
	struct family_rules {
		uint64_t cgid;
		uint32_t rule[64];
	} *families;
	size_t n_families;
};

/* Run a pass soon (coalesced). */
void pass_schedule(struct agent *ag);
/* ... recompiling every target (SIGHUP). */
void pass_recompile_all(struct agent *ag);
/* ... rewriting every status row (the store file was replaced). */
void pass_rewrite_status(struct agent *ag);
/* 1 when it converged (every target placed and in force, acknowledged), 0
 * when not yet, or a negative errno with nothing changed. */
int pass_run(struct agent *ag);
void pass_free(struct passes *ps);

/* What the audit asks (struct ug_audit_ops). */
const char *pass_target_name(uint64_t cgid, void *ctx);
uint32_t pass_family_rule(uint64_t cgid, int family, void *ctx);

#endif
