/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Retention: rows of audit, rule_hits and accounting removed by age and by the store's size,
 * oldest first, in bounded batches; audit rows are counted into audit_summary before they go.
 */
#include <errno.h>
#include <stdint.h>

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

/* Run sql with ?1 = limit and ?2 = before; add the rows it changed to *n. */
static int prune_step(struct ug_store *st, const char *sql, int64_t limit, int64_t before,
		      int64_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, limit);
	sqlite3_bind_int64(stmt, 2, before);
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

static const char *const prune_sql[] = {
	"DELETE FROM audit WHERE id IN\n"
	"	(SELECT id FROM audit WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
	"DELETE FROM rule_hits WHERE id IN\n"
	"	(SELECT id FROM rule_hits WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
	"DELETE FROM accounting WHERE id IN\n"
	"	(SELECT id FROM accounting WHERE time_us < ?2 ORDER BY id LIMIT ?1)",
};

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
			ret = prune_step(st, prune_summary_sql, budget, before_us, NULL);
		if (!ret)
			ret = prune_step(st, prune_sql[t], budget, before_us, &n);
	}
	/* Too big: audit first, then rule hits, then accounting, until the
	 * pages in use fit (freed pages are reused by the next rows). */
	for (size_t t = 0; max_bytes > 0 && !ret && t < n_tables; t++) {
		int64_t before = n;

		ret = ug_store_used_bytes(st, &used);
		if (ret || used <= max_bytes)
			break;
		if (t == 0)
			ret = prune_step(st, prune_summary_sql, budget, INT64_MAX, NULL);
		if (!ret)
			ret = prune_step(st, prune_sql[t], budget, INT64_MAX, &n);
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
