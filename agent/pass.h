/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One pass: store -> targets -> where -> plan -> kernel -> status and the
 * acknowledgement (pass.c). Its state (struct passes, in agent.h) only
 * pass.c writes; others ask for a pass through the functions below.
 */
#ifndef UG_PASS_H
#define UG_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct passes;


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
