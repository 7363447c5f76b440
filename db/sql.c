// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every part of db/ uses to talk SQL (internal.h): errors mapped to
 * errnos with the reason kept in the handle, statements, transactions,
 * binding and reading values, times. Below everything else in db/: it calls
 * nothing of theirs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "internal.h"

void db_set_err(struct ug_store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
}

static int map_rc(struct ug_store *st, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN: {
		int e = st->db ? sqlite3_system_errno(st->db) : 0;

		return e == EACCES || e == EPERM ? -EACCES : -ENOENT;
	}
	default:
		return -EIO;
	}
}

int db_fail(struct ug_store *st, int rc, const char *what)
{
	db_set_err(st, "%s: %s", what, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return map_rc(st, rc);
}

int db_exec(struct ug_store *st, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		db_set_err(st, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return map_rc(st, rc);
	}
	return 0;
}

int db_prepare(struct ug_store *st, const char *sql, sqlite3_stmt **stmt)
{
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, rc, "prepare");
	return 0;
}

/* IMMEDIATE: take the write lock up front, so a conflicting writer shows up as a busy wait
 * here rather than as SQLITE_BUSY halfway through, when a read lock cannot be upgraded. */
int db_tx_begin(struct ug_store *st)
{
	return db_exec(st, "BEGIN IMMEDIATE", "begin transaction");
}

int db_tx_commit(struct ug_store *st)
{
	return db_exec(st, "COMMIT", "commit");
}

/* Keeps the message of the error that got us here; some errors (SQLITE_FULL, NOMEM) have
 * already rolled back, and ROLLBACK would then fail with a confusing one of its own. */
void db_tx_rollback(struct ug_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Floor division: a time before 1970 must not print a negative fraction. */
int db_format_time(struct ug_store *st, int64_t time_us, char *buf, size_t len)
{
	int64_t sec = time_us / 1000000, usec = time_us % 1000000;
	struct tm tm;
	time_t t;
	int n;

	if (usec < 0) {
		usec += 1000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		db_set_err(st, "time %lld us is out of range", (long long)time_us);
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec);
	if (n < 0 || (size_t)n >= len) {
		db_set_err(st, "time %lld us does not fit the buffer", (long long)time_us);
		return -EINVAL;
	}
	return 0;
}

void db_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

int db_insert_rows(struct ug_store *st, const char *clear_sql, const char *sql,
		   const char *what, const void *rows, size_t n, db_bind_row_fn bind)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;
	size_t i;

	if (!n && !clear_sql)
		return 0;

	ret = db_tx_begin(st);
	if (ret)
		return ret;
	if (clear_sql) {
		ret = db_exec(st, clear_sql, what);
		if (ret)
			goto rollback;
	}
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		goto rollback;

	for (i = 0; i < n; i++) {
		ret = bind(st, stmt, rows, i);
		if (ret)
			goto rollback;
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE) {
			ret = db_fail(st, rc, what);
			goto rollback;
		}
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;

	ret = db_tx_commit(st);
	if (ret)
		goto rollback;
	return 0;

rollback:
	sqlite3_finalize(stmt);
	db_tx_rollback(st);
	return ret;
}

int db_bind_time(struct ug_store *st, sqlite3_stmt *stmt, int i, int64_t time_us)
{
	char when[UG_TIME_STRLEN];
	int ret;

	ret = db_format_time(st, time_us, when, sizeof(when));
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, i, when, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, i + 1, time_us);
	return 0;
}

int db_query_int(struct ug_store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		ret = 0;
	} else {
		ret = db_fail(st, rc, sql);
	}
	sqlite3_finalize(stmt);
	return ret;
}

const char *db_text(sqlite3_stmt *stmt, int i)
{
	return (const char *)sqlite3_column_text(stmt, i);
}
