/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent reports, for `unitguardctl status` and for a CLI waiting for a change to be
 * in force: the status rows (one per target), agent_state's facts, and the end of a pass
 * (both, with applied_version, in one transaction).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"

static int bind_status(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_status *s = (const struct ug_store_status *)rows + i;

	/* A TEXT PRIMARY KEY takes NULL in sqlite (a legacy quirk), so check it here. */
	if (!s->target) {
		db_set_err(st, "status[%zu]: no target", i);
		return -EINVAL;
	}
	sqlite3_bind_text(stmt, 1, s->target, -1, SQLITE_STATIC);
	db_bind_text(stmt, 2, s->cgroup);
	/* Bit-cast like audit.cgroup_id; 0 (unresolved) is stored as NULL and reads back 0. */
	if (s->cgroup_id)
		sqlite3_bind_int64(stmt, 3, (int64_t)s->cgroup_id);
	else
		sqlite3_bind_null(stmt, 3);
	db_bind_text(stmt, 4, s->mode);
	sqlite3_bind_int64(stmt, 5, s->generation);
	db_bind_text(stmt, 6, s->programs);
	sqlite3_bind_int(stmt, 7, s->enforced ? 1 : 0);
	db_bind_text(stmt, 8, s->reason);
	db_bind_text(stmt, 9, s->state);
	return 0;
}

/* updated_at comes from the column default; s->updated_at is ignored. */
int ug_store_status_replace(struct ug_store *st, const struct ug_store_status *rows, size_t n)
{
	static const char sql[] =
		"INSERT INTO status (target, cgroup, cgroup_id, mode, generation, programs,\n"
		"	enforced, reason, state)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

	if (!st || (n && !rows))
		return -EINVAL;
	return db_insert_rows(st, "DELETE FROM status", sql, "replace status", rows, n,
			      bind_status);
}

int ug_store_pass_commit(struct ug_store *st, const struct ug_store_status *rows, size_t n,
			 const char *const *gone, size_t n_gone, int64_t applied_version,
			 uint32_t generation)
{
	static const char upsert[] =
		"INSERT INTO status (target, cgroup, cgroup_id, mode, generation, programs,\n"
		"	enforced, reason, state)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)\n"
		"ON CONFLICT (target) DO UPDATE SET cgroup = excluded.cgroup,\n"
		"	cgroup_id = excluded.cgroup_id, mode = excluded.mode,\n"
		"	generation = excluded.generation, programs = excluded.programs,\n"
		"	enforced = excluded.enforced, reason = excluded.reason,\n"
		"	state = excluded.state, updated_at = excluded.updated_at";
	static const char del[] = "DELETE FROM status WHERE target = ?1";
	static const char kv[] =
		"INSERT INTO agent_state (key, value) VALUES (?1, ?2)\n"
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *stmt = NULL;
	char text[32];
	int rc, ret;

	if (!st || (n && !rows) || (n_gone && !gone))
		return -EINVAL;
	ret = db_tx_begin(st);
	if (ret)
		return ret;
	ret = db_prepare(st, upsert, &stmt);
	for (size_t i = 0; !ret && i < n; i++) {
		ret = bind_status(st, stmt, rows, i);
		if (!ret && (rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = db_fail(st, rc, "write status");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (!ret)
		ret = db_prepare(st, del, &stmt);
	for (size_t i = 0; !ret && i < n_gone; i++) {
		sqlite3_bind_text(stmt, 1, gone[i], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = db_fail(st, rc, "delete status");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (!ret)
		ret = db_prepare(st, kv, &stmt);
	for (int k = 0; !ret && k < 2; k++) {
		snprintf(text, sizeof(text), "%" PRId64,
			 k ? (int64_t)generation : applied_version);
		sqlite3_bind_text(stmt, 1, k ? "generation" : "applied_version", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = db_fail(st, rc, "write agent state");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	if (!ret)
		ret = db_tx_commit(st);
	if (ret)
		db_tx_rollback(st);
	return ret;
}

/* Ordered by target. Strings are valid only during the callback; a non-zero return from cb
 * stops the walk and is returned. */
int ug_store_status_list(struct ug_store *st, ug_store_status_cb cb, void *ctx)
{
	static const char sql[] =
		"SELECT target, cgroup, cgroup_id, mode, generation, programs, enforced, reason,\n"
		"	updated_at, state\n"
		"FROM status ORDER BY target";
	sqlite3_stmt *stmt = NULL;
	struct ug_store_status s;
	int rc, ret;

	if (!st || !cb)
		return -EINVAL;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		s = (struct ug_store_status){
			.target = db_text(stmt, 0),
			.cgroup = db_text(stmt, 1),
			.cgroup_id = (uint64_t)sqlite3_column_int64(stmt, 2),
			.mode = db_text(stmt, 3),
			.generation = (uint32_t)sqlite3_column_int64(stmt, 4),
			.programs = db_text(stmt, 5),
			.enforced = sqlite3_column_int(stmt, 6) != 0,
			.reason = db_text(stmt, 7),
			.updated_at = db_text(stmt, 8),
			.state = db_text(stmt, 9),
		};
		ret = cb(&s, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "list status");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_agent_set(struct ug_store *st, const char *key, const char *value)
{
	static const char sql[] =
		"INSERT INTO agent_state (key, value) VALUES (?1, ?2)\n"
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	if (!key || !value) {
		db_set_err(st, "agent state needs a key and a value");
		return -EINVAL;
	}
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "set agent state");
	sqlite3_finalize(stmt);
	return ret;
}

/*
 * Copies the value with its terminating NUL into buf. -ENOENT: no such key. -ERANGE (as
 * getcwd and the *_r lookups say it): the value and its NUL need more than len bytes; buf is
 * then the empty string (when len > 0), never a truncated value.
 */
int ug_store_agent_get(struct ug_store *st, const char *key, char *buf, size_t len)
{
	static const char sql[] = "SELECT value FROM agent_state WHERE key = ?1";
	sqlite3_stmt *stmt = NULL;
	const char *v;
	size_t n;
	int rc, ret;

	if (!st || !key || !buf)
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		db_set_err(st, "no agent state %s", key);
		ret = -ENOENT;
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		ret = db_fail(st, rc, "get agent state");
		goto finalize;
	}
	v = db_text(stmt, 0);
	if (!v) {
		/* NOT NULL column: only running out of memory gets here. */
		db_set_err(st, "get agent state %s: out of memory", key);
		ret = -ENOMEM;
		goto finalize;
	}
	n = (size_t)sqlite3_column_bytes(stmt, 0);
	if (n >= len) {
		db_set_err(st, "agent state %s needs %zu bytes, the buffer has %zu", key, n + 1,
			   len);
		ret = -ERANGE;
		goto finalize;
	}
	memcpy(buf, v, n + 1);
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}
