/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit trail: denials stored and queried (--since, --until, --follow), the report
 * views, and the denials that could not be recorded (lost_events). Their removal by age
 * and size is retention.c.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"
#include "timetext.h"

static int bind_audit(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_audit_row *a = (const struct ug_audit_row *)rows + i;
	int ret;

	ret = db_bind_time(st, stmt, 1, a->time_us);
	if (ret)
		return ret;
	db_bind_text(stmt, 3, a->unit);
	/* Bit-cast; see the audit table. */
	sqlite3_bind_int64(stmt, 4, (int64_t)a->cgroup_id);
	sqlite3_bind_int64(stmt, 5, a->pid);
	sqlite3_bind_int64(stmt, 6, a->uid);
	db_bind_text(stmt, 7, a->comm);
	db_bind_text(stmt, 8, a->family);
	db_bind_text(stmt, 9, a->protocol);
	db_bind_text(stmt, 10, a->address);
	sqlite3_bind_int64(stmt, 11, a->port);
	db_bind_text(stmt, 12, a->hook);
	db_bind_text(stmt, 13, a->direction);
	db_bind_text(stmt, 14, a->verdict);
	if (a->rule_id)
		sqlite3_bind_int64(stmt, 15, a->rule_id);
	else
		sqlite3_bind_null(stmt, 15);
	sqlite3_bind_int64(stmt, 16, a->generation);
	db_bind_text(stmt, 17, a->path);
	db_bind_text(stmt, 18, a->exe);
	db_bind_text(stmt, 19, a->detail);
	sqlite3_bind_int64(stmt, 20, a->count ? a->count : 1);
	if (a->first_time_us && a->first_time_us < a->time_us)
		return db_bind_time(st, stmt, 21, a->first_time_us);
	sqlite3_bind_null(stmt, 21);
	sqlite3_bind_null(stmt, 22);
	return 0;
}

static const char insert_audit_sql[] =
	"INSERT INTO audit (time, time_us, unit, cgroup_id, pid, uid, comm, family,\n"
	"	protocol, address, port, hook, direction, verdict, rule_id, generation,\n"
	"	path, exe, detail, count, first_time, first_time_us)\n"
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,\n"
	"	?17, ?18, ?19, ?20, ?21, ?22)";

static const char insert_lost_sql[] =
	"INSERT INTO lost_events (time, time_us, count, kind, unit) VALUES (?1, ?2, ?3, 'ringbuf', ?4)";

static int bind_lost(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_lost_row *l = (const struct ug_lost_row *)rows + i;
	int ret;

	if (l->count > INT64_MAX) {
		db_set_err(st, "lost event count %llu does not fit the store",
			   (unsigned long long)l->count);
		return -EINVAL;
	}
	ret = db_bind_time(st, stmt, 1, l->time_us);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 3, (int64_t)l->count);
	db_bind_text(stmt, 4, l->unit);
	return 0;
}

static const char set_mark_sql[] =
	"INSERT INTO agent_state (key, value) VALUES (?1, ?2)\n"
	"ON CONFLICT (key) DO UPDATE SET value = excluded.value";

static int bind_mark(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_mark *m = (const struct ug_store_mark *)rows + i;

	if (!m->key || !m->value) {
		db_set_err(st, "agent state needs a key and a value");
		return -EINVAL;
	}
	sqlite3_bind_text(stmt, 1, m->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, m->value, -1, SQLITE_STATIC);
	return 0;
}

/* Each of n rows through sql, in the caller's transaction. */
static int insert_each(struct ug_store *st, const char *sql, const char *what, const void *rows,
		       size_t n, db_bind_row_fn bind)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	if (!n)
		return 0;
	ret = db_prepare(st, sql, &stmt);
	for (size_t i = 0; !ret && i < n; i++) {
		ret = bind(st, stmt, rows, i);
		if (ret)
			break;
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			ret = db_fail(st, rc, what);
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_audit_write(struct ug_store *st, const struct ug_audit_row *rows, size_t n,
			 const struct ug_lost_row *lost, size_t n_lost,
			 const struct ug_store_mark *marks, size_t n_marks)
{
	int ret;

	if (!st || (n && !rows) || (n_lost && !lost) || (n_marks && !marks))
		return -EINVAL;
	if (!n && !n_lost)
		return 0;
	ret = db_tx_begin(st);
	if (ret)
		return ret;
	ret = insert_each(st, insert_audit_sql, "insert audit row", rows, n, bind_audit);
	if (!ret)
		ret = insert_each(st, insert_lost_sql, "insert lost events", lost, n_lost,
				  bind_lost);
	if (!ret)
		ret = insert_each(st, set_mark_sql, "set agent state", marks, n_marks, bind_mark);
	if (!ret)
		ret = db_tx_commit(st);
	if (ret)
		db_tx_rollback(st);
	return ret;
}

int ug_store_audit_insert(struct ug_store *st, const struct ug_audit_row *rows, size_t n)
{
	return ug_store_audit_write(st, rows, n, NULL, 0, NULL, 0);
}

int ug_store_audit_query(struct ug_store *st, const struct ug_audit_filter *f,
			 ug_store_audit_cb cb, void *ctx)
{
	/* A row is in [since, until) when any of the denials it counts is. */
	static const char sql[] =
		"SELECT id, time, time_us, unit, cgroup_id, pid, uid, comm, family, protocol,\n"
		"	address, port, hook, direction, verdict, rule_id, generation, path, exe,\n"
		"	detail, count, ifnull(first_time_us, time_us) FROM audit\n"
		"WHERE (?1 IS NULL OR unit = ?1) AND time_us >= ?2\n"
		"	AND ifnull(first_time_us, time_us) < ?3 AND id > ?4\n"
		"ORDER BY id";
	sqlite3_stmt *stmt = NULL;
	struct ug_store_audit a;
	int rc, ret;

	if (!st || !f || !cb)
		return -EINVAL;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	db_bind_text(stmt, 1, f->unit);
	sqlite3_bind_int64(stmt, 2, f->has_since ? f->since_us : INT64_MIN);
	sqlite3_bind_int64(stmt, 3, f->has_until ? f->until_us : INT64_MAX);
	sqlite3_bind_int64(stmt, 4, f->after_id);

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		/* NULL integer columns read back as 0, which is what rule_id 0 means. */
		a = (struct ug_store_audit){
			.id = sqlite3_column_int64(stmt, 0),
			.time = db_text(stmt, 1),
			.row = {
				.time_us = sqlite3_column_int64(stmt, 2),
				.unit = db_text(stmt, 3),
				.cgroup_id = (uint64_t)sqlite3_column_int64(stmt, 4),
				.pid = (uint32_t)sqlite3_column_int64(stmt, 5),
				.uid = (uint32_t)sqlite3_column_int64(stmt, 6),
				.comm = db_text(stmt, 7),
				.family = db_text(stmt, 8),
				.protocol = db_text(stmt, 9),
				.address = db_text(stmt, 10),
				.port = (uint32_t)sqlite3_column_int64(stmt, 11),
				.hook = db_text(stmt, 12),
				.direction = db_text(stmt, 13),
				.verdict = db_text(stmt, 14),
				.rule_id = sqlite3_column_int64(stmt, 15),
				.generation = (uint32_t)sqlite3_column_int64(stmt, 16),
				.path = db_text(stmt, 17),
				.exe = db_text(stmt, 18),
				.detail = db_text(stmt, 19),
				.count = (uint64_t)sqlite3_column_int64(stmt, 20),
				.first_time_us = sqlite3_column_int64(stmt, 21),
			},
		};
		ret = cb(&a, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "list audit");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_audit_list(struct ug_store *st, const char *unit, ug_store_audit_cb cb, void *ctx)
{
	return ug_store_audit_query(st, &(struct ug_audit_filter){ .unit = unit }, cb, ctx);
}

int ug_store_audit_max_id(struct ug_store *st, int64_t *out)
{
	if (!st || !out)
		return -EINVAL;
	return db_query_int(st, "SELECT ifnull(max(id), 0) FROM audit", out);
}

/*
 * The reports: each view of schema 6, biggest first, at most `limit` rows
 * ("audit_hourly": newest first). Only these names reach SQL.
 */
static const struct {
	const char *name;
	const char *sql;
} reports[] = {
	{ "totals", "SELECT * FROM audit_totals WHERE (?1 IS NULL OR unit = ?1)\n"
		    "ORDER BY total DESC LIMIT ?2" },
	{ "hourly", "SELECT * FROM audit_hourly WHERE (?1 IS NULL OR unit = ?1)\n"
		    "ORDER BY hour DESC, denials DESC LIMIT ?2" },
	{ "destinations", "SELECT * FROM audit_destinations WHERE (?1 IS NULL OR unit = ?1)\n"
			  "ORDER BY denials DESC LIMIT ?2" },
	{ "paths", "SELECT * FROM audit_paths WHERE (?1 IS NULL OR unit = ?1)\n"
		   "ORDER BY denials DESC LIMIT ?2" },
	{ "rules", "SELECT * FROM audit_rules WHERE (?1 IS NULL OR unit = ?1)\n"
		   "ORDER BY denials DESC LIMIT ?2" },
	{ "would_deny", "SELECT * FROM audit_would_deny WHERE (?1 IS NULL OR unit = ?1)\n"
			"ORDER BY denials DESC LIMIT ?2" },
};

const char *ug_store_report_name(size_t i)
{
	return i < sizeof(reports) / sizeof(reports[0]) ? reports[i].name : NULL;
}

int ug_store_report(struct ug_store *st, const char *name, const char *unit, int64_t limit,
		    ug_store_report_cb cb, void *ctx)
{
	const char *cols[UG_REPORT_COLS_MAX], *vals[UG_REPORT_COLS_MAX];
	sqlite3_stmt *stmt = NULL;
	size_t i = 0;
	int rc, ret, n;

	if (!st || !name || !cb)
		return -EINVAL;
	while (i < sizeof(reports) / sizeof(reports[0]) && strcmp(reports[i].name, name))
		i++;
	if (i == sizeof(reports) / sizeof(reports[0])) {
		db_set_err(st, "no report named '%s'", name);
		return -ENOENT;
	}
	ret = db_prepare(st, reports[i].sql, &stmt);
	if (ret)
		return ret;
	db_bind_text(stmt, 1, unit);
	sqlite3_bind_int64(stmt, 2, limit > 0 ? limit : -1);
	n = sqlite3_column_count(stmt);
	if (n > UG_REPORT_COLS_MAX)
		n = UG_REPORT_COLS_MAX;
	for (int c = 0; c < n; c++)
		cols[c] = sqlite3_column_name(stmt, c);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int c = 0; c < n; c++)
			vals[c] = db_text(stmt, c);
		ret = cb(n, cols, vals, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "report");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* The parser is policy/timetext.c; this keeps its message where ug_store_errmsg() finds it. */
int ug_store_parse_time(struct ug_store *st, const char *text, int64_t now_us, int64_t *out)
{
	if (!st || !text || !out)
		return -EINVAL;
	return ug_time_parse(text, now_us, out, st->err, sizeof(st->err));
}

int ug_store_lost_add(struct ug_store *st, int64_t time_us, uint64_t count, const char *kind,
		      const char *unit)
{
	static const char sql[] =
		"INSERT INTO lost_events (time, time_us, count, kind, unit) "
		"VALUES (?1, ?2, ?3, ?4, ?5)";
	char when[UG_TIME_STRLEN];
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	if (count > INT64_MAX) {
		db_set_err(st, "lost event count %llu does not fit the store",
			   (unsigned long long)count);
		return -EINVAL;
	}
	ret = db_format_time(st, time_us, when, sizeof(when));
	if (ret)
		return ret;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, when, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, time_us);
	sqlite3_bind_int64(stmt, 3, (int64_t)count);
	sqlite3_bind_text(stmt, 4, kind ? kind : "ringbuf", -1, SQLITE_STATIC);
	db_bind_text(stmt, 5, unit);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "insert lost events");
	sqlite3_finalize(stmt);
	return ret;
}
