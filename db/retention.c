/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Retention: rows of audit, rule_hits and accounting removed by age and by the store's size,
 * oldest first, in bounded batches; audit rows are counted into audit_summary before they go.
 * By size, the audit rows of the unit with the most go first (audit_units): a unit flooding
 * the audit prunes its own history, not the others'. The write-ahead log is kept within its
 * share of the size here too (ug_store_wal_bound).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "internal.h"

int ug_store_used_bytes(struct ug_store *st, int64_t *out)
{
	int64_t pages, free_pages, size;
	int ret;

	if (!st || !out)
		return -EINVAL;
	ret = db_query_int(st, "PRAGMA page_count", &pages);
	if (!ret)
		ret = db_query_int(st, "PRAGMA freelist_count", &free_pages);
	if (!ret)
		ret = db_query_int(st, "PRAGMA page_size", &size);
	if (!ret)
		*out = (pages - free_pages) * size;
	return ret;
}

/* Run sql with ?1 = limit, ?2 = before and ?3 = unit (when not NULL); add the rows it changed
 * to *n. */
static int prune_step(struct ug_store *st, const char *sql, int64_t limit, int64_t before,
		      const char *unit, int64_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, limit);
	sqlite3_bind_int64(stmt, 2, before);
	if (unit)
		sqlite3_bind_text(stmt, 3, unit, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "prune");
	if (!ret && n)
		*n += sqlite3_changes(st->db);
	sqlite3_finalize(stmt);
	return ret;
}

/*
 * The oldest rows first (by id: rows are written in time order). Audit rows
 * are counted into audit_summary before they go. ?1: at most this many rows;
 * ?2: only rows older than this time_us (INT64_MAX: any age).
 */
static const char prune_summary_sql[] =
	"INSERT INTO audit_summary (unit, day, verdict, count)\n"
	"SELECT ifnull(unit, ''), substr(time, 1, 10), ifnull(verdict, ''), sum(count)\n"
	"FROM (SELECT unit, time, verdict, count FROM audit WHERE time_us < ?2 "
	"ORDER BY id LIMIT ?1)\n"
	"WHERE true GROUP BY 1, 2, 3\n"
	"ON CONFLICT (unit, day, verdict) DO UPDATE SET count = count + excluded.count";

/* The oldest row's time_us, per table (rowid order: O(1)). */
static const char *const oldest_sql[] = {
	"SELECT ifnull((SELECT time_us FROM audit ORDER BY id LIMIT 1), 9223372036854775807)",
	"SELECT ifnull((SELECT time_us FROM rule_hits ORDER BY id LIMIT 1), 9223372036854775807)",
	"SELECT ifnull((SELECT time_us FROM accounting ORDER BY id LIMIT 1), 9223372036854775807)",
};

/* The same for one unit's rows by size: ?3 is its audit_units name ('' for rows without a
 * unit); the first stored first, by the audit_unit index (unit, then rowid): they lie
 * together, so a pruning rewrites few pages. */
static const char prune_unit_summary_sql[] =
	"INSERT INTO audit_summary (unit, day, verdict, count)\n"
	"SELECT ifnull(unit, ''), substr(time, 1, 10), ifnull(verdict, ''), sum(count)\n"
	"FROM (SELECT unit, time, verdict, count FROM audit INDEXED BY audit_unit\n"
	"	WHERE unit IS nullif(?3, '') ORDER BY id LIMIT ?1)\n"
	"WHERE true GROUP BY 1, 2, 3\n"
	"ON CONFLICT (unit, day, verdict) DO UPDATE SET count = count + excluded.count";

static const char prune_unit_sql[] =
	"DELETE FROM audit WHERE id IN\n"
	"	(SELECT id FROM audit INDEXED BY audit_unit WHERE unit IS nullif(?3, '')\n"
	"	ORDER BY id LIMIT ?1)";

/* The unit with the most audit rows. */
static const char biggest_sql[] =
	"SELECT unit FROM audit_units WHERE rows > 0 ORDER BY rows DESC, unit LIMIT 1";

static const char *const prune_sql[] = {
	"DELETE FROM audit WHERE id IN\n"
	"	(SELECT id FROM audit WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
	"DELETE FROM rule_hits WHERE id IN\n"
	"	(SELECT id FROM rule_hits WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
	"DELETE FROM accounting WHERE id IN\n"
	"	(SELECT id FROM accounting WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
};

/* Up to budget of the oldest audit rows of the unit with the most, counted into audit_summary
 * first; added to *n. */
static int prune_biggest(struct ug_store *st, int64_t budget, int64_t *n)
{
	sqlite3_stmt *stmt = NULL;
	char *unit = NULL;
	int rc, ret;

	ret = db_prepare(st, biggest_sql, &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && !(unit = strdup(db_text(stmt, 0) ? db_text(stmt, 0) : "")))
		ret = -ENOMEM;
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_fail(st, rc, "prune");
	sqlite3_finalize(stmt);
	if (!ret && unit)
		ret = prune_step(st, prune_unit_summary_sql, budget, INT64_MAX, unit, NULL);
	if (!ret && unit)
		ret = prune_step(st, prune_unit_sql, budget, INT64_MAX, unit, n);
	free(unit);
	return ret;
}

int ug_store_prune(struct ug_store *st, int64_t max_bytes, int64_t before_us, int64_t budget,
		   int64_t *pruned)
{
	const size_t n_tables = sizeof(prune_sql) / sizeof(prune_sql[0]);
	int64_t used = 0, n = 0;
	int ret;

	if (!st || budget <= 0)
		return -EINVAL;
	ret = db_tx_begin(st);
	if (ret)
		return ret;
	/* Too old, in every table. The oldest row is looked at first: the
	 * delete would scan the whole table to find that nothing is old. */
	for (size_t t = 0; before_us > 0 && !ret && t < n_tables; t++) {
		int64_t oldest = 0;

		ret = db_query_int(st, oldest_sql[t], &oldest);
		if (ret || oldest >= before_us)
			continue;
		if (t == 0)
			ret = prune_step(st, prune_summary_sql, budget, before_us, NULL, NULL);
		if (!ret)
			ret = prune_step(st, prune_sql[t], budget, before_us, NULL, &n);
	}
	/* Too big: audit first, the biggest unit's, then rule hits, then
	 * accounting, until the pages in use fit (freed pages are reused by the
	 * next rows). */
	for (size_t t = 0; max_bytes > 0 && !ret && t < n_tables; t++) {
		int64_t before = n;

		ret = ug_store_used_bytes(st, &used);
		if (ret || used <= max_bytes)
			break;
		if (t == 0)
			ret = prune_biggest(st, budget, &n);
		else
			ret = prune_step(st, prune_sql[t], budget, INT64_MAX, NULL, &n);
		/* This table had rows to give: the next call goes on with it. */
		if (!ret && n > before)
			break;
	}
	if (!ret)
		ret = db_tx_commit(st);
	if (ret) {
		db_tx_rollback(st);
		return ret;
	}
	if (pruned)
		*pruned = n;
	return 0;
}

int ug_store_disk_bytes(struct ug_store *st, int64_t *out)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char path[4096];
	struct stat sb;
	int64_t sum = 0;

	if (!st || !out)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", st->path, suffix[i]) >= sizeof(path))
			return -ENAMETOOLONG;
		if (!stat(path, &sb))
			sum += sb.st_size;
		else if (errno != ENOENT)
			return -errno;
	}
	*out = sum;
	return 0;
}

int ug_store_wal_bound(struct ug_store *st, int64_t wal_max)
{
	char path[4096], sql[96];
	int64_t page = 0;
	struct stat sb;
	int rc, ret;

	if (!st || wal_max < 0)
		return -EINVAL;
	if (!wal_max)
		return 0;
	/* SQLite's own bounds first (per connection, set every time: cheap, and
	 * right after a reopen): its automatic checkpoint at half the share, and
	 * the log truncated to the share when it is reset. */
	ret = db_query_int(st, "PRAGMA page_size", &page);
	if (ret)
		return ret;
	snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %lld",
		 (long long)(page > 0 ? wal_max / 2 / page : 1000));
	ret = db_exec(st, sql, "set wal_autocheckpoint");
	if (ret)
		return ret;
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %lld", (long long)wal_max);
	ret = db_query_int(st, sql, &page);
	if (ret)
		return ret;
	/* The automatic checkpoint copies the log into the database but leaves
	 * the file as large as it grew: truncate it here, once it holds more
	 * than a few pages, so that it never holds more than about one
	 * transaction (a batch of rows, or a pruning) beyond them. */
	if ((size_t)snprintf(path, sizeof(path), "%s-wal", st->path) >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &sb) || sb.st_size <= wal_max / 8)
		return 0;
	/* Waiting a little for readers (a query's snapshot is short), not for
	 * a long one: the loop goes on, the next call tries again. */
	sqlite3_busy_timeout(st->db, st->busy_ms < 20 ? st->busy_ms : 20);
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(st->db, st->busy_ms);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		db_set_err(st, "the write-ahead log is in use by a reader or writer");
		return -EBUSY;
	}
	return rc == SQLITE_OK ? 0 : db_fail(st, rc, "checkpoint");
}
