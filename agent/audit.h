/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Denials from the ring buffer to the journal and the audit table. Journal
 * entries are rate-limited per unit (a flood becomes one "N more" entry);
 * the audit table gets every record, in batched transactions (every 250 ms,
 * or 1024 records), with the kernel's lost counts in the same transaction.
 * The records of a batch stay in their ring until it is committed
 * (ops.durable, agent/ring.h): an agent killed before that leaves them to
 * the next one, which journals and stores them; the table never has one
 * twice, the journal may (what was journaled before the kill).
 */
#ifndef UG_AUDIT_H
#define UG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "messages.h"
#include "store.h"

/* Journal entries per unit per second before the rest are summarised. */
#define UG_AUDIT_JOURNAL_BURST 50

/* Rows per transaction, stored (a batch: the queue holds one) or pruned:
 * what one transaction adds to the write-ahead log is what --audit-max-size
 * keeps room for (about 75 KiB of log for 256 rows, either way). */
#define UG_AUDIT_TX_ROWS 256

struct ug_audit;

/* What the audit pipeline asks the agent. */
struct ug_audit_ops {
	/* Target name of a policy cgroup; NULL when unknown. */
	const char *(*target)(uint64_t unit_cgid, void *ctx);
	/* Store id of the rule denying `family` for that policy cgroup; 0 if none. */
	uint32_t (*family_rule)(uint64_t unit_cgid, int family, void *ctx);
	/* n more denials were journaled but could not be stored (optional). */
	void (*unstored)(uint64_t n, void *ctx);
	/* Every record given so far, but one being given now, is stored or
	 * counted (optional): their rings may let them go. */
	void (*durable)(void *ctx);
	/* Where those records end (optional): up to max agent_state values
	 * written with the rows that store them (agent/ring.h, marks). */
	size_t (*marks)(struct ug_store_mark *m, size_t max, void *ctx);
	void *ctx;
};

int ug_audit_new(struct ug_store *st, const struct ug_audit_ops *ops, struct ug_audit **out);
/* Flushes, then frees. NULL is fine. */
void ug_audit_free(struct ug_audit *a);

/* One ring-buffer record; validated here. Returns 0 or -EINVAL for a record
 * that is not well formed (counted and logged, not stored). A record stamped
 * later than now is stored with the current time (logged once). When the
 * queue is full and the store cannot take it, the queue is counted as not
 * stored (ops.unstored) and let go (ops.durable). */
int ug_audit_record(struct ug_audit *a, const void *data, size_t size);     /* struct ug_event */
int ug_audit_lsm_record(struct ug_audit *a, const void *data, size_t size); /* struct ug_lsm_event */

/* Write queued rows to the store; emit the journal summaries that are due.
 * Call periodically. */
int ug_audit_flush(struct ug_audit *a);

/*
 * Retention (unitguardd --audit-max-size, --audit-max-age): keep the store's
 * files (database, write-ahead log, shared-memory index) within max_bytes,
 * the unit with the most audit rows losing its oldest first, and its audit,
 * accounting and rule_hits rows younger than max_age_us (0: no limit).
 * ug_audit_flush() prunes after each batch it stores; call ug_audit_retain()
 * once a second for age (budget: rows per table per call). 0, or the store's
 * error (said once; retried).
 */
void ug_audit_set_retention(struct ug_audit *a, int64_t max_bytes, int64_t max_age_us);
int ug_audit_retain(struct ug_audit *a, int64_t budget);

/* `count` more denials could not be recorded, and why ("ring buffer full"). */
void ug_audit_lost(struct ug_audit *a, uint64_t count, const char *why);

/* `count` denials were journaled but could not be stored (counted through
 * ops.unstored): record that in lost_events (kind "store") and the journal.
 * 0, or the store's error (then nothing was recorded: try again later). */
int ug_audit_unstored(struct ug_audit *a, uint64_t count);

#endif
