/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SQLite policy and audit store. See store.h for the contract.
 *
 * The schema lives here as SQL constants so the binary needs no files
 * beside the database itself. migrations[i] takes user_version i to i + 1
 * and sets user_version itself, so no SQL is ever built from values; every
 * value goes through sqlite3_bind_*(). Statements are prepared per call:
 * the store is not on a hot path and this keeps close() trivial.
 *
 * A handle is not thread safe (errmsg lives in it); give each thread its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define UG_BUSY_TIMEOUT_MS 5000

/* "-2147481748-12-31T23:59:59.999999Z" is the longest gmtime_r can yield. */
#define UG_TIME_STRLEN 64

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta (\n"
	"	key TEXT PRIMARY KEY,\n"
	"	value INTEGER NOT NULL\n"
	");\n"
	"INSERT INTO meta (key, value) VALUES ('policy_version', 0);\n"
	"\n"
	"CREATE TABLE units (\n"
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"	target TEXT NOT NULL UNIQUE,\n"
	"	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
	");\n"
	"\n"
	/* AUTOINCREMENT: audit rows keep pointing at a deleted rule's id, so
	 * an id must never be handed out again. */
	"CREATE TABLE rules (\n"
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"	unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,\n"
	"	direction TEXT NOT NULL CHECK (direction IN ('egress', 'ingress', 'bind')),\n"
	"	action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),\n"
	"	prefix TEXT NOT NULL,\n"
	"	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
	");\n"
	"CREATE INDEX rules_unit_id ON rules (unit_id);\n"
	"\n"
	/* time is written by us from time_us (microseconds, which sqlite's
	 * strftime cannot produce). cgroup_id is a u64 bit-cast to sqlite's
	 * signed 64-bit integer: real cgroup ids are inode numbers and stay
	 * positive, anything above INT64_MAX reads back negative here but
	 * round-trips exactly through this API. rule_id is NULL when the
	 * default posture decided. No foreign key on rule_id: the audit trail
	 * must outlive the rules it names. */
	"CREATE TABLE audit (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	unit TEXT,\n"
	"	cgroup_id INTEGER,\n"
	"	pid INTEGER,\n"
	"	uid INTEGER,\n"
	"	comm TEXT,\n"
	"	family TEXT,\n"
	"	protocol TEXT,\n"
	"	address TEXT,\n"
	"	port INTEGER,\n"
	"	hook TEXT,\n"
	"	direction TEXT,\n"
	"	verdict TEXT,\n"
	"	rule_id INTEGER,\n"
	"	generation INTEGER\n"
	");\n"
	"CREATE INDEX audit_unit_time ON audit (unit, time_us);\n"
	"\n"
	"CREATE TABLE lost_events (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	count INTEGER NOT NULL\n"
	");\n"
	"\n"
	/* Triggers rather than C code, so an operator's raw sqlite3 session
	 * bumps the version too and the agent notices it. */
	"CREATE TRIGGER units_ai AFTER INSERT ON units BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER units_au AFTER UPDATE ON units BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER units_ad AFTER DELETE ON units BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_ai AFTER INSERT ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_au AFTER UPDATE ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_ad AFTER DELETE ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"\n"
	"PRAGMA user_version = 1;\n",
};

#define UG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct ug_store {
	sqlite3 *db;
	char err[512];
};

__attribute__((format(printf, 2, 3)))
static void set_err(struct ug_store *st, const char *fmt, ...)
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

/* Must run straight after the failing call: sqlite's message is per connection and the next
 * call overwrites it. */
static int fail(struct ug_store *st, int rc, const char *what)
{
	set_err(st, "%s: %s", what, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return map_rc(st, rc);
}

/* Only for constant SQL: nothing here ever carries a value. */
static int exec(struct ug_store *st, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		set_err(st, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return map_rc(st, rc);
	}
	return 0;
}

static int prepare(struct ug_store *st, const char *sql, sqlite3_stmt **stmt)
{
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "prepare");
	return 0;
}

/* IMMEDIATE: take the write lock up front, so a conflicting writer shows up as a busy wait
 * here rather than as SQLITE_BUSY halfway through, when a read lock cannot be upgraded. */
static int tx_begin(struct ug_store *st)
{
	return exec(st, "BEGIN IMMEDIATE", "begin transaction");
}

static int tx_commit(struct ug_store *st)
{
	return exec(st, "COMMIT", "commit");
}

/* Keeps the message of the error that got us here; some errors (SQLITE_FULL, NOMEM) have
 * already rolled back, and ROLLBACK would then fail with a confusing one of its own. */
static void tx_rollback(struct ug_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Floor division: a time before 1970 must not print a negative fraction. */
static int format_time(struct ug_store *st, int64_t time_us, char *buf, size_t len)
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
		set_err(st, "time %lld us is out of range", (long long)time_us);
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec);
	if (n < 0 || (size_t)n >= len) {
		set_err(st, "time %lld us does not fit the buffer", (long long)time_us);
		return -EINVAL;
	}
	return 0;
}

static int user_version(struct ug_store *st, int *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = prepare(st, "PRAGMA user_version", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = fail(st, rc, "read user_version");
		goto finalize;
	}
	*out = sqlite3_column_int(stmt, 0);
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

static int newer_schema(struct ug_store *st, int v)
{
	set_err(st, "store schema version %d is newer than this build (%d)", v,
		UG_SCHEMA_VERSION);
	return -EPROTO;
}

/*
 * The version is read again under the write lock: another process may have opened the same
 * store and migrated it between our first look and our BEGIN IMMEDIATE.
 */
static int migrate(struct ug_store *st)
{
	int ret, v, after;

	ret = user_version(st, &v);
	if (ret)
		return ret;
	if (v > UG_SCHEMA_VERSION)
		return newer_schema(st, v);

	while (v < UG_SCHEMA_VERSION) {
		ret = tx_begin(st);
		if (ret)
			return ret;
		ret = user_version(st, &v);
		if (ret)
			goto rollback;
		if (v > UG_SCHEMA_VERSION) {
			ret = newer_schema(st, v);
			goto rollback;
		}
		if (v == UG_SCHEMA_VERSION) {
			tx_rollback(st);
			break;
		}
		ret = exec(st, migrations[v], "migrate schema");
		if (ret)
			goto rollback;
		ret = user_version(st, &after);
		if (ret)
			goto rollback;
		/* A migration that forgets its user_version line would be rerun on every open. */
		if (after != v + 1) {
			set_err(st, "migration %d left user_version at %d", v, after);
			ret = -EIO;
			goto rollback;
		}
		ret = tx_commit(st);
		if (ret)
			goto rollback;
		v = after;
	}
	return 0;

rollback:
	tx_rollback(st);
	return ret;
}

/*
 * Only the last component is created: a missing /var/lib means a broken system or a typo, and
 * silently building a tree for it would hide that.
 */
static int make_parent_dir(struct ug_store *st, const char *path)
{
	char *dir, *slash;
	struct stat sb;
	int ret = 0;

	dir = strdup(path);
	if (!dir) {
		set_err(st, "out of memory");
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		goto free_dir;
	*slash = '\0';
	if (stat(dir, &sb) == 0)
		goto free_dir;
	if (errno != ENOENT) {
		ret = -errno;
		set_err(st, "%s: %s", dir, strerror(-ret));
		goto free_dir;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		if (ret == -ENOENT)
			set_err(st, "cannot create %s: its parent directory does not exist", dir);
		else
			set_err(st, "cannot create %s: %s", dir, strerror(-ret));
	}
free_dir:
	free(dir);
	return ret;
}

/*
 * Creating the file ourselves gives it mode 0600 without touching the process-wide umask;
 * sqlite then gives its -wal and -shm files the same mode. An empty file is a valid empty
 * database. An existing file keeps whatever mode its owner chose.
 */
static int create_file(struct ug_store *st, const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int e = errno;

		if (e == EEXIST)
			return 0;
		set_err(st, "cannot create %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int set_wal(struct ug_store *st)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	int rc, ret;

	ret = prepare(st, "PRAGMA journal_mode = WAL", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = fail(st, rc, "set journal_mode");
		goto finalize;
	}
	/* sqlite answers with the mode it ended up in rather than failing. */
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || strcasecmp(mode, "wal") != 0) {
		set_err(st, "cannot enable WAL: journal_mode is %s", mode ? mode : "unknown");
		ret = -EIO;
		goto finalize;
	}
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

static int open_db(struct ug_store *st, const char *path, unsigned flags)
{
	int oflags = SQLITE_OPEN_READWRITE;
	int rc, ret;

	if (flags & UG_STORE_CREATE) {
		ret = make_parent_dir(st, path);
		if (ret)
			return ret;
		ret = create_file(st, path);
		if (ret)
			return ret;
		oflags |= SQLITE_OPEN_CREATE;
	} else if (access(path, F_OK) < 0) {
		int e = errno;

		/* sqlite would only say "unable to open database file". */
		if (e == ENOENT)
			set_err(st, "%s does not exist", path);
		else
			set_err(st, "%s: %s", path, strerror(e));
		return -e;
	}

	rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		ret = fail(st, rc, "open");
		if (ret == -ENOENT && !(flags & UG_STORE_CREATE))
			set_err(st, "%s does not exist", path);
		return ret;
	}
	sqlite3_extended_result_codes(st->db, 1);

	/* sqlite falls back to read-only when it may not write; every later write would fail,
	 * and even reading a WAL store needs write access to its -shm file. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		set_err(st, "%s: no write permission", path);
		return -EACCES;
	}
	/* Before WAL: switching the journal mode itself may have to wait for a lock. */
	rc = sqlite3_busy_timeout(st->db, UG_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return fail(st, rc, "set busy timeout");
	ret = set_wal(st);
	if (ret)
		return ret;
	/* Outside any transaction: inside one, PRAGMA foreign_keys is a silent no-op. */
	ret = exec(st, "PRAGMA foreign_keys = ON", "enable foreign keys");
	if (ret)
		return ret;
	/* In WAL mode NORMAL is still safe against corruption; a power cut may lose only the
	 * last commits. */
	ret = exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");
	if (ret)
		return ret;
	return migrate(st);
}

int ug_store_open(const char *path, unsigned flags, struct ug_store **out, char *errbuf,
		  size_t errlen)
{
	struct ug_store *st;
	int ret;

	if (out)
		*out = NULL;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!path || !*path || !out || (flags & ~(unsigned)UG_STORE_CREATE)) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "invalid argument");
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = open_db(st, path, flags);
	if (ret)
		goto close_store;
	*out = st;
	return 0;

close_store:
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", st->err);
	ug_store_close(st);
	return ret;
}

void ug_store_close(struct ug_store *st)
{
	if (!st)
		return;
	/* Every statement is finalized by the call that prepared it, so this cannot be BUSY. */
	sqlite3_close(st->db);
	free(st);
}

const char *ug_store_errmsg(const struct ug_store *st)
{
	return st ? st->err : "no store";
}

int ug_store_policy_version(struct ug_store *st, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st || !out)
		return -EINVAL;
	ret = prepare(st, "SELECT value FROM meta WHERE key = 'policy_version'", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		set_err(st, "meta has no policy_version row");
		ret = -EIO;
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		ret = fail(st, rc, "read policy_version");
		goto finalize;
	}
	*out = sqlite3_column_int64(stmt, 0);
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_rule_add(struct ug_store *st, const char *target, const char *direction,
		      const char *action, const char *prefix, int64_t *id_out)
{
	/* DO NOTHING rather than INSERT OR IGNORE: IGNORE would also swallow a NOT NULL or CHECK
	 * violation and leave us looking up a unit that was never written. */
	static const char ins_unit[] =
		"INSERT INTO units (target) VALUES (?1) ON CONFLICT (target) DO NOTHING";
	static const char sel_unit[] = "SELECT id FROM units WHERE target = ?1";
	static const char ins_rule[] =
		"INSERT INTO rules (unit_id, direction, action, prefix) VALUES (?1, ?2, ?3, ?4)";
	sqlite3_stmt *stmt = NULL;
	int64_t unit_id, id;
	int rc, ret;

	if (!st || !target || !direction || !action || !prefix)
		return -EINVAL;

	ret = tx_begin(st);
	if (ret)
		return ret;

	ret = prepare(st, ins_unit, &stmt);
	if (ret)
		goto rollback;
	sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = fail(st, rc, "insert unit");
		goto rollback;
	}
	sqlite3_finalize(stmt);

	ret = prepare(st, sel_unit, &stmt);
	if (ret)
		goto rollback;
	sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		set_err(st, "unit %s vanished inside its own transaction", target);
		ret = -EIO;
		goto rollback;
	}
	if (rc != SQLITE_ROW) {
		ret = fail(st, rc, "look up unit");
		goto rollback;
	}
	unit_id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);

	ret = prepare(st, ins_rule, &stmt);
	if (ret)
		goto rollback;
	sqlite3_bind_int64(stmt, 1, unit_id);
	sqlite3_bind_text(stmt, 2, direction, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, prefix, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = fail(st, rc, "insert rule");
		goto rollback;
	}
	id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	stmt = NULL;

	ret = tx_commit(st);
	if (ret)
		goto rollback;
	if (id_out)
		*id_out = id;
	return 0;

rollback:
	sqlite3_finalize(stmt);
	tx_rollback(st);
	return ret;
}

int ug_store_rule_del(struct ug_store *st, int64_t id)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	ret = prepare(st, "DELETE FROM rules WHERE id = ?1", &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = fail(st, rc, "delete rule");
		goto finalize;
	}
	/* Counts only rows the DELETE itself removed, not the triggers' meta update. */
	if (sqlite3_changes(st->db) == 0) {
		set_err(st, "no rule with id %lld", (long long)id);
		ret = -ENOENT;
		goto finalize;
	}
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_rules(struct ug_store *st, const char *target, ug_store_rule_cb cb, void *ctx)
{
	/* Two texts rather than "?1 IS NULL OR ...", which would keep the planner off the
	 * index on units.target. */
	static const char all[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.created_at\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"ORDER BY u.target, r.id";
	static const char one[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.created_at\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"WHERE u.target = ?1\n"
		"ORDER BY u.target, r.id";
	sqlite3_stmt *stmt = NULL;
	struct ug_store_rule r;
	int rc, ret;

	if (!st || !cb)
		return -EINVAL;
	ret = prepare(st, target ? one : all, &stmt);
	if (ret)
		return ret;
	if (target)
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r = (struct ug_store_rule){
			.id = sqlite3_column_int64(stmt, 0),
			.target = (const char *)sqlite3_column_text(stmt, 1),
			.direction = (const char *)sqlite3_column_text(stmt, 2),
			.action = (const char *)sqlite3_column_text(stmt, 3),
			.prefix = (const char *)sqlite3_column_text(stmt, 4),
			.created_at = (const char *)sqlite3_column_text(stmt, 5),
		};
		ret = cb(&r, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "list rules");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

int ug_store_audit_insert(struct ug_store *st, const struct ug_audit_row *rows, size_t n)
{
	static const char sql[] =
		"INSERT INTO audit (time, time_us, unit, cgroup_id, pid, uid, comm, family,\n"
		"	protocol, address, port, hook, direction, verdict, rule_id, generation)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
	char when[UG_TIME_STRLEN];
	sqlite3_stmt *stmt = NULL;
	int rc, ret;
	size_t i;

	if (!st || (n && !rows))
		return -EINVAL;
	if (!n)
		return 0;

	ret = tx_begin(st);
	if (ret)
		return ret;
	ret = prepare(st, sql, &stmt);
	if (ret)
		goto rollback;

	for (i = 0; i < n; i++) {
		const struct ug_audit_row *a = &rows[i];

		ret = format_time(st, a->time_us, when, sizeof(when));
		if (ret)
			goto rollback;
		sqlite3_bind_text(stmt, 1, when, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, a->time_us);
		bind_text_or_null(stmt, 3, a->unit);
		/* Bit-cast; see the audit table. */
		sqlite3_bind_int64(stmt, 4, (int64_t)a->cgroup_id);
		sqlite3_bind_int64(stmt, 5, a->pid);
		sqlite3_bind_int64(stmt, 6, a->uid);
		bind_text_or_null(stmt, 7, a->comm);
		bind_text_or_null(stmt, 8, a->family);
		bind_text_or_null(stmt, 9, a->protocol);
		bind_text_or_null(stmt, 10, a->address);
		sqlite3_bind_int64(stmt, 11, a->port);
		bind_text_or_null(stmt, 12, a->hook);
		bind_text_or_null(stmt, 13, a->direction);
		bind_text_or_null(stmt, 14, a->verdict);
		if (a->rule_id)
			sqlite3_bind_int64(stmt, 15, a->rule_id);
		else
			sqlite3_bind_null(stmt, 15);
		sqlite3_bind_int64(stmt, 16, a->generation);

		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE) {
			ret = fail(st, rc, "insert audit row");
			goto rollback;
		}
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;

	ret = tx_commit(st);
	if (ret)
		goto rollback;
	return 0;

rollback:
	sqlite3_finalize(stmt);
	tx_rollback(st);
	return ret;
}

static const char *column_text(sqlite3_stmt *stmt, int i)
{
	return (const char *)sqlite3_column_text(stmt, i);
}

int ug_store_audit_list(struct ug_store *st, const char *unit, ug_store_audit_cb cb, void *ctx)
{
#define AUDIT_COLUMNS                                                                      \
	"SELECT id, time, time_us, unit, cgroup_id, pid, uid, comm, family, protocol, "    \
	"address, port, hook, direction, verdict, rule_id, generation FROM audit\n"
	static const char all[] = AUDIT_COLUMNS "ORDER BY id";
	static const char one[] = AUDIT_COLUMNS "WHERE unit = ?1 ORDER BY id";
#undef AUDIT_COLUMNS
	sqlite3_stmt *stmt = NULL;
	struct ug_store_audit a;
	int rc, ret;

	if (!st || !cb)
		return -EINVAL;
	ret = prepare(st, unit ? one : all, &stmt);
	if (ret)
		return ret;
	if (unit)
		sqlite3_bind_text(stmt, 1, unit, -1, SQLITE_STATIC);

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		/* NULL integer columns read back as 0, which is what rule_id 0 means. */
		a = (struct ug_store_audit){
			.id = sqlite3_column_int64(stmt, 0),
			.time = column_text(stmt, 1),
			.row = {
				.time_us = sqlite3_column_int64(stmt, 2),
				.unit = column_text(stmt, 3),
				.cgroup_id = (uint64_t)sqlite3_column_int64(stmt, 4),
				.pid = (uint32_t)sqlite3_column_int64(stmt, 5),
				.uid = (uint32_t)sqlite3_column_int64(stmt, 6),
				.comm = column_text(stmt, 7),
				.family = column_text(stmt, 8),
				.protocol = column_text(stmt, 9),
				.address = column_text(stmt, 10),
				.port = (uint32_t)sqlite3_column_int64(stmt, 11),
				.hook = column_text(stmt, 12),
				.direction = column_text(stmt, 13),
				.verdict = column_text(stmt, 14),
				.rule_id = sqlite3_column_int64(stmt, 15),
				.generation = (uint32_t)sqlite3_column_int64(stmt, 16),
			},
		};
		ret = cb(&a, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "list audit");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_lost_add(struct ug_store *st, int64_t time_us, uint64_t count)
{
	static const char sql[] =
		"INSERT INTO lost_events (time, time_us, count) VALUES (?1, ?2, ?3)";
	char when[UG_TIME_STRLEN];
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	if (count > INT64_MAX) {
		set_err(st, "lost event count %llu does not fit the store",
			(unsigned long long)count);
		return -EINVAL;
	}
	ret = format_time(st, time_us, when, sizeof(when));
	if (ret)
		return ret;
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, when, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, time_us);
	sqlite3_bind_int64(stmt, 3, (int64_t)count);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "insert lost events");
	sqlite3_finalize(stmt);
	return ret;
}
