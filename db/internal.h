/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files of db/ only; callers use store.h. One file per job:
 *   store.c      the handle (open, close, reopen)
 *   sql.c        the helpers below: errors, statements, transactions, values
 *   schema.c     the schema, its migrations, the version check
 *   rules.c      units, rules, policy_version, generations
 *   replace.c    the whole policy replaced (unitguardctl apply), with policy/filediff.c
 *   audit.c      audit rows, queries, reports, lost events
 *   retention.c  pruning by age and size
 *   accounting.c accounting snapshots and rule hits
 *   status.c     status rows and agent_state
 *   snapshot.c   the last known good policy copy
 * Helpers return 0 or a negative errno and leave the reason in st->err, like the API.
 */
#ifndef UG_DB_INTERNAL_H
#define UG_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "store.h"

/* "-2147481748-12-31T23:59:59.999999Z" is the longest gmtime_r can yield. */
#define UG_TIME_STRLEN 64

struct ug_store {
	sqlite3 *db;
	char err[512];
	char *path;
	dev_t dev; /* of the file opened, to notice it being replaced */
	ino_t ino;
	int busy_ms;
	unsigned flags; /* as opened: ug_store_reopen opens the same way */
};

/* --- sql.c ---------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
void db_set_err(struct ug_store *st, const char *fmt, ...);
/* Sets st->err from sqlite's message for rc and returns the errno for it. Must run straight
 * after the failing call: sqlite's message is per connection and the next call overwrites
 * it. */
int db_fail(struct ug_store *st, int rc, const char *what);
/* Only for constant SQL: nothing here ever carries a value. */
int db_exec(struct ug_store *st, const char *sql, const char *what);
int db_prepare(struct ug_store *st, const char *sql, sqlite3_stmt **stmt);
/* BEGIN IMMEDIATE: see store.c. */
int db_tx_begin(struct ug_store *st);
int db_tx_commit(struct ug_store *st);
/* Rolls back an open transaction, if any, keeping the error that got us here. */
void db_tx_rollback(struct ug_store *st);
/* time_us as ISO 8601 UTC with microseconds, into buf (UG_TIME_STRLEN). */
int db_format_time(struct ug_store *st, int64_t time_us, char *buf, size_t len);
/* Binds s, or NULL when s is NULL; s must live until the step (SQLITE_STATIC). */
void db_bind_text(sqlite3_stmt *stmt, int i, const char *s);
/* Binds the ISO text of time_us at i and time_us at i + 1. */
int db_bind_time(struct ug_store *st, sqlite3_stmt *stmt, int i, int64_t time_us);
const char *db_text(sqlite3_stmt *stmt, int i);
/* The one integer a constant query (or PRAGMA) returns. */
int db_query_int(struct ug_store *st, const char *sql, int64_t *out);

/*
 * Binds row i of rows to stmt. Text it makes up itself (the time) must be bound
 * SQLITE_TRANSIENT: its buffer is gone before the step.
 */
typedef int (*db_bind_row_fn)(struct ug_store *st, sqlite3_stmt *stmt, const void *rows,
			      size_t i);
/*
 * n rows through one INSERT, in one transaction: all or none. clear_sql, if not NULL, is a
 * constant statement run first in the same transaction (status_replace's DELETE); without it
 * n == 0 does nothing at all.
 */
int db_insert_rows(struct ug_store *st, const char *clear_sql, const char *sql,
		   const char *what, const void *rows, size_t n, db_bind_row_fn bind);

/* --- schema.c --------------------------------------------------------------------------- */

int db_user_version(struct ug_store *st, int *out);
/* Brings the schema to this build's version, one migration per transaction. */
int db_migrate(struct ug_store *st);
/* Is v this build's schema version? -EPROTO with the reason: newer; older (read_only: and
 * not to be migrated by this handle; 0: not a unitguard store at all). */
int db_schema_current(struct ug_store *st, int v, bool read_only);

/* --- rules.c ---------------------------------------------------------------------------- */

/*
 * What a policy write needs, prepared once per transaction and reset between rows. Units get
 * their defaults from the schema (the INSERT names only the target) and the UPDATE then sets
 * what the caller gave, so the defaults live in one place. The UPDATE's WHERE leaves a row it
 * would not change alone: a no-op unit_set must not fire units_au and bump policy_version.
 */
struct db_policy_stmts {
	sqlite3_stmt *unit_ins, *unit_upd, *unit_sel, *rule_ins;
};

int db_policy_stmts_prepare(struct ug_store *st, struct db_policy_stmts *ps, bool with_rules);
void db_policy_stmts_finalize(struct db_policy_stmts *ps);
/* Makes sure target has a units row, applies the non-NULL settings, returns its id. */
int db_unit_ensure(struct ug_store *st, struct db_policy_stmts *ps, const char *target,
		   const char *mode, const char *egress, const char *ingress,
		   const char *harden, const char *what, int64_t *id_out);
int db_rule_insert(struct ug_store *st, struct db_policy_stmts *ps, int64_t unit_id,
		   const struct ug_store_rule_spec *spec, const char *what, int64_t *id_out);
bool db_spec_complete(const struct ug_store_rule_spec *spec);

#endif /* UG_DB_INTERNAL_H */
