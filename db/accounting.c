/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent counts, as it writes it: accounting snapshots (per policy cgroup and
 * direction, packets and bytes allowed, dropped and audited) and hits per rule.
 */
#include <errno.h>
#include <stdint.h>

#include <sqlite3.h>

#include "internal.h"

static int bind_acct(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_acct *a = (const struct ug_store_acct *)rows + i;
	int ret;

	ret = db_bind_time(st, stmt, 1, a->time_us);
	if (ret)
		return ret;
	/* NULL unit or direction: the NOT NULL constraint refuses the row. */
	db_bind_text(stmt, 3, a->unit);
	sqlite3_bind_int64(stmt, 4, (int64_t)a->cgroup_id);
	db_bind_text(stmt, 5, a->direction);
	/* Counters are bit-cast like cgroup_id. */
	sqlite3_bind_int64(stmt, 6, (int64_t)a->allowed_packets);
	sqlite3_bind_int64(stmt, 7, (int64_t)a->allowed_bytes);
	sqlite3_bind_int64(stmt, 8, (int64_t)a->dropped_packets);
	sqlite3_bind_int64(stmt, 9, (int64_t)a->dropped_bytes);
	sqlite3_bind_int64(stmt, 10, (int64_t)a->audited_packets);
	sqlite3_bind_int64(stmt, 11, (int64_t)a->audited_bytes);
	sqlite3_bind_int64(stmt, 12, a->generation);
	return 0;
}

int ug_store_accounting_insert(struct ug_store *st, const struct ug_store_acct *rows, size_t n)
{
	static const char sql[] =
		"INSERT INTO accounting (time, time_us, unit, cgroup_id, direction,\n"
		"	allowed_packets, allowed_bytes, dropped_packets, dropped_bytes,\n"
		"	audited_packets, audited_bytes, generation)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

	if (!st || (n && !rows))
		return -EINVAL;
	return db_insert_rows(st, NULL, sql, "insert accounting row", rows, n, bind_acct);
}

static int bind_hits(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_hits *h = (const struct ug_store_hits *)rows + i;
	int ret;

	ret = db_bind_time(st, stmt, 1, h->time_us);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 3, h->rule_id);
	sqlite3_bind_int64(stmt, 4, (int64_t)h->hits);
	sqlite3_bind_int64(stmt, 5, h->generation);
	return 0;
}

int ug_store_rule_hits_insert(struct ug_store *st, const struct ug_store_hits *rows, size_t n)
{
	static const char sql[] =
		"INSERT INTO rule_hits (time, time_us, rule_id, hits, generation)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5)";

	if (!st || (n && !rows))
		return -EINVAL;
	return db_insert_rows(st, NULL, sql, "insert rule hits", rows, n, bind_hits);
}
