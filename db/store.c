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
#include <inttypes.h>
#include <limits.h>
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
#include "timetext.h"

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

	/* 1 -> 2 */
	"ALTER TABLE units ADD COLUMN mode TEXT NOT NULL DEFAULT 'enforce'\n"
	"	CHECK (mode IN ('enforce', 'audit', 'off'));\n"
	"ALTER TABLE units ADD COLUMN default_egress TEXT NOT NULL DEFAULT 'allow'\n"
	"	CHECK (default_egress IN ('allow', 'deny'));\n"
	"ALTER TABLE units ADD COLUMN default_ingress TEXT NOT NULL DEFAULT 'allow'\n"
	"	CHECK (default_ingress IN ('allow', 'deny'));\n"
	"\n"
	/* proto NULL: any protocol. port_lo 0: no port qualifier. */
	"ALTER TABLE rules ADD COLUMN proto TEXT\n"
	"	CHECK (proto IS NULL OR proto IN ('tcp', 'udp', 'icmp'));\n"
	"ALTER TABLE rules ADD COLUMN port_lo INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (port_lo BETWEEN 0 AND 65535);\n"
	"ALTER TABLE rules ADD COLUMN port_hi INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (port_hi BETWEEN 0 AND 65535);\n"
	"ALTER TABLE rules ADD COLUMN comment TEXT;\n"
	"\n"
	/* ADD COLUMN cannot add a table CHECK spanning columns, so these
	 * triggers hold it, for a raw sqlite3 session too. Column affinity is
	 * applied before BEFORE triggers run, so '80' compares as 80; the
	 * typeof test keeps out 1.5 and 'abc', which INTEGER affinity keeps as
	 * they are. RAISE(ABORT) is SQLITE_CONSTRAINT, like a CHECK. */
	"CREATE TRIGGER rules_ports_bi BEFORE INSERT ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: port_lo and port_hi must be integers')\n"
	"	WHERE typeof(NEW.port_lo) <> 'integer' OR typeof(NEW.port_hi) <> 'integer';\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must be 0 when port_lo is 0')\n"
	"	WHERE NEW.port_lo = 0 AND NEW.port_hi <> 0;\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must not be below port_lo')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.port_hi < NEW.port_lo;\n"
	"	SELECT RAISE(ABORT, 'rules: ports need proto tcp, udp or any')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.proto IS NOT NULL\n"
	"		AND NEW.proto NOT IN ('tcp', 'udp');\n"
	"END;\n"
	"CREATE TRIGGER rules_ports_bu BEFORE UPDATE ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: port_lo and port_hi must be integers')\n"
	"	WHERE typeof(NEW.port_lo) <> 'integer' OR typeof(NEW.port_hi) <> 'integer';\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must be 0 when port_lo is 0')\n"
	"	WHERE NEW.port_lo = 0 AND NEW.port_hi <> 0;\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must not be below port_lo')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.port_hi < NEW.port_lo;\n"
	"	SELECT RAISE(ABORT, 'rules: ports need proto tcp, udp or any')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.proto IS NOT NULL\n"
	"		AND NEW.proto NOT IN ('tcp', 'udp');\n"
	"END;\n"
	"\n"
	/* Written by the agent, read by unitguardctl status. cgroup_id is
	 * bit-cast like audit.cgroup_id, and NULL when unresolved. */
	"CREATE TABLE status (\n"
	"	target TEXT PRIMARY KEY,\n"
	"	cgroup TEXT,\n"
	"	cgroup_id INTEGER,\n"
	"	mode TEXT,\n"
	"	generation INTEGER,\n"
	"	programs TEXT,\n"
	"	enforced INTEGER NOT NULL,\n"
	"	reason TEXT,\n"
	"	updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
	");\n"
	"\n"
	"CREATE TABLE agent_state (\n"
	"	key TEXT PRIMARY KEY,\n"
	"	value TEXT NOT NULL\n"
	");\n"
	"\n"
	/* Counters are u64 bit-cast to sqlite's int64, like cgroup_id. */
	"CREATE TABLE accounting (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	unit TEXT NOT NULL,\n"
	"	cgroup_id INTEGER,\n"
	"	direction TEXT NOT NULL,\n"
	"	allowed_packets INTEGER NOT NULL,\n"
	"	allowed_bytes INTEGER NOT NULL,\n"
	"	dropped_packets INTEGER NOT NULL,\n"
	"	dropped_bytes INTEGER NOT NULL,\n"
	"	audited_packets INTEGER NOT NULL,\n"
	"	audited_bytes INTEGER NOT NULL,\n"
	"	generation INTEGER\n"
	");\n"
	"CREATE INDEX accounting_unit_time ON accounting (unit, time_us);\n"
	"\n"
	/* No foreign key on rule_id, as for audit: history outlives rules. */
	"CREATE TABLE rule_hits (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	rule_id INTEGER NOT NULL,\n"
	"	hits INTEGER NOT NULL,\n"
	"	generation INTEGER\n"
	");\n"
	"\n"
	"CREATE TABLE generations (\n"
	"	generation INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	policy_version INTEGER,\n"
	"	units_changed INTEGER\n"
	");\n"
	"\n"
	"PRAGMA user_version = 2;\n",

	/* 2 -> 3 */
	/* harden: a canonical comma list; the store keeps it as it is given. */
	"ALTER TABLE units ADD COLUMN harden TEXT NOT NULL DEFAULT '';\n"
	"\n"
	"ALTER TABLE audit ADD COLUMN path TEXT;\n"
	"ALTER TABLE audit ADD COLUMN exe TEXT;\n"
	"ALTER TABLE audit ADD COLUMN detail TEXT;\n"
	"\n"
	/*
	 * sqlite cannot change a CHECK constraint, so rules is rebuilt: new table, copy, drop,
	 * rename. Columns keep the order v2's ADD COLUMNs gave them; access comes last.
	 *
	 * foreign_keys is on and cannot change inside this transaction. Nothing references
	 * rules, so the DROP (an implicit DELETE, which fires no triggers) breaks nothing;
	 * defer_foreign_keys (reset by COMMIT or ROLLBACK) lets a copy of a row that already
	 * pointed at nothing through, so that migrate() can name it after its
	 * foreign_key_check rather than the INSERT failing without saying which row.
	 *
	 * legacy_alter_table: since 3.26 RENAME re-resolves every view and trigger in the
	 * schema, and one of an operator's naming rules (gone after the DROP) would make it
	 * fail. Left on only if this script fails, and then the handle is closed.
	 *
	 * AUTOINCREMENT: the copy sets rules_new's sequence to its max(id) only, which
	 * would hand out again the ids of the newest rules deleted before this migration.
	 * So it takes over rules' sequence (DROP removes rules' row, RENAME carries
	 * rules_new's over to the new name).
	 *
	 * DROP TABLE also dropped the index and every trigger on rules: all recreated below,
	 * the v1 and v2 ones as they were. An operator's own triggers or indexes on rules are
	 * not.
	 */
	"PRAGMA defer_foreign_keys = ON;\n"
	"PRAGMA legacy_alter_table = ON;\n"
	"CREATE TABLE rules_new (\n"
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"	unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,\n"
	"	direction TEXT NOT NULL CHECK (direction IN ('egress', 'ingress', 'bind',\n"
	"		'exec', 'file', 'family')),\n"
	"	action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),\n"
	"	prefix TEXT NOT NULL,\n"
	"	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
	"	proto TEXT CHECK (proto IS NULL OR proto IN ('tcp', 'udp', 'icmp')),\n"
	"	port_lo INTEGER NOT NULL DEFAULT 0 CHECK (port_lo BETWEEN 0 AND 65535),\n"
	"	port_hi INTEGER NOT NULL DEFAULT 0 CHECK (port_hi BETWEEN 0 AND 65535),\n"
	"	comment TEXT,\n"
	"	access TEXT CHECK (access IS NULL OR access IN ('read', 'write', 'any'))\n"
	");\n"
	"INSERT INTO rules_new (id, unit_id, direction, action, prefix, created_at, proto,\n"
	"	port_lo, port_hi, comment)\n"
	"SELECT id, unit_id, direction, action, prefix, created_at, proto, port_lo, port_hi,\n"
	"	comment\n"
	"FROM rules ORDER BY id;\n"
	"DELETE FROM sqlite_sequence WHERE name = 'rules_new';\n"
	"INSERT INTO sqlite_sequence (name, seq)\n"
	"SELECT 'rules_new', max(\n"
	"	ifnull((SELECT max(seq) FROM sqlite_sequence WHERE name = 'rules'), 0),\n"
	"	ifnull((SELECT max(id) FROM rules_new), 0));\n"
	"DROP TABLE rules;\n"
	"ALTER TABLE rules_new RENAME TO rules;\n"
	"PRAGMA legacy_alter_table = OFF;\n"
	"CREATE INDEX rules_unit_id ON rules (unit_id);\n"
	"\n"
	"CREATE TRIGGER rules_ai AFTER INSERT ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_au AFTER UPDATE ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_ad AFTER DELETE ON rules BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_ports_bi BEFORE INSERT ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: port_lo and port_hi must be integers')\n"
	"	WHERE typeof(NEW.port_lo) <> 'integer' OR typeof(NEW.port_hi) <> 'integer';\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must be 0 when port_lo is 0')\n"
	"	WHERE NEW.port_lo = 0 AND NEW.port_hi <> 0;\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must not be below port_lo')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.port_hi < NEW.port_lo;\n"
	"	SELECT RAISE(ABORT, 'rules: ports need proto tcp, udp or any')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.proto IS NOT NULL\n"
	"		AND NEW.proto NOT IN ('tcp', 'udp');\n"
	"END;\n"
	"CREATE TRIGGER rules_ports_bu BEFORE UPDATE ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: port_lo and port_hi must be integers')\n"
	"	WHERE typeof(NEW.port_lo) <> 'integer' OR typeof(NEW.port_hi) <> 'integer';\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must be 0 when port_lo is 0')\n"
	"	WHERE NEW.port_lo = 0 AND NEW.port_hi <> 0;\n"
	"	SELECT RAISE(ABORT, 'rules: port_hi must not be below port_lo')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.port_hi < NEW.port_lo;\n"
	"	SELECT RAISE(ABORT, 'rules: ports need proto tcp, udp or any')\n"
	"	WHERE NEW.port_lo <> 0 AND NEW.proto IS NOT NULL\n"
	"		AND NEW.proto NOT IN ('tcp', 'udp');\n"
	"END;\n"
	"\n"
	/* What each kind of rule may carry, as triggers for their clearer messages (a table
	 * CHECK only names itself). exec rules may allow or deny; file and family rules only
	 * deny. NULL direction or action are left to their NOT NULL constraints. */
	"CREATE TRIGGER rules_kind_bi BEFORE INSERT ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: access is only for file rules')\n"
	"	WHERE NEW.access IS NOT NULL AND NEW.direction <> 'file';\n"
	"	SELECT RAISE(ABORT, 'rules: file rules need access read, write or any')\n"
	"	WHERE NEW.direction = 'file' AND NEW.access IS NULL;\n"
	"	SELECT RAISE(ABORT, 'rules: exec, file and family rules take no proto or ports')\n"
	"	WHERE NEW.direction IN ('exec', 'file', 'family') AND (NEW.proto IS NOT NULL\n"
	"		OR NEW.port_lo IS NOT 0 OR NEW.port_hi IS NOT 0);\n"
	"	SELECT RAISE(ABORT, 'rules: file and family rules can only deny')\n"
	"	WHERE NEW.direction IN ('file', 'family') AND NEW.action <> 'deny';\n"
	"END;\n"
	"CREATE TRIGGER rules_kind_bu BEFORE UPDATE ON rules BEGIN\n"
	"	SELECT RAISE(ABORT, 'rules: access is only for file rules')\n"
	"	WHERE NEW.access IS NOT NULL AND NEW.direction <> 'file';\n"
	"	SELECT RAISE(ABORT, 'rules: file rules need access read, write or any')\n"
	"	WHERE NEW.direction = 'file' AND NEW.access IS NULL;\n"
	"	SELECT RAISE(ABORT, 'rules: exec, file and family rules take no proto or ports')\n"
	"	WHERE NEW.direction IN ('exec', 'file', 'family') AND (NEW.proto IS NOT NULL\n"
	"		OR NEW.port_lo IS NOT 0 OR NEW.port_hi IS NOT 0);\n"
	"	SELECT RAISE(ABORT, 'rules: file and family rules can only deny')\n"
	"	WHERE NEW.direction IN ('file', 'family') AND NEW.action <> 'deny';\n"
	"END;\n"
	"\n"
	"PRAGMA user_version = 3;\n",

	/* 3 -> 4
	 * rev: bumped by every change to a unit's rules, whoever makes it, so the
	 * agent re-reads (and recompiles) only the units a change touched.
	 * status.state: what the CLI reports when it waits for a change to be in
	 * force (enforced, waiting, refused, unresolved, partial). */
	"ALTER TABLE units ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;\n"
	/* A rev bump is part of a rules change, which bumps policy_version itself. */
	"DROP TRIGGER units_au;\n"
	"CREATE TRIGGER units_au AFTER UPDATE ON units WHEN OLD.rev IS NEW.rev BEGIN\n"
	"	UPDATE meta SET value = value + 1 WHERE key = 'policy_version';\n"
	"END;\n"
	"CREATE TRIGGER rules_rev_ai AFTER INSERT ON rules BEGIN\n"
	"	UPDATE units SET rev = rev + 1 WHERE id = NEW.unit_id;\n"
	"END;\n"
	"CREATE TRIGGER rules_rev_au AFTER UPDATE ON rules BEGIN\n"
	"	UPDATE units SET rev = rev + 1 WHERE id IN (OLD.unit_id, NEW.unit_id);\n"
	"END;\n"
	"CREATE TRIGGER rules_rev_ad AFTER DELETE ON rules BEGIN\n"
	"	UPDATE units SET rev = rev + 1 WHERE id = OLD.unit_id;\n"
	"END;\n"
	"ALTER TABLE status ADD COLUMN state TEXT;\n"
	/* kind: 'ringbuf' (the kernel could not record a denial) or 'store' (a
	 * denial was journaled but could not be written here: disk full, ...). */
	"ALTER TABLE lost_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'ringbuf'\n"
	"	CHECK (kind IN ('ringbuf', 'store'));\n"
	"\n"
	"PRAGMA user_version = 4;\n",

	/* 4 -> 5
	 * audit_summary: the audit rows that retention removed, counted per unit,
	 * day (UTC, of the row's time) and verdict, so that counts over long
	 * periods stay true (ug_store_prune). unit and verdict '' where the row
	 * had none. */
	"CREATE TABLE audit_summary (\n"
	"	unit TEXT NOT NULL,\n"
	"	day TEXT NOT NULL,\n"
	"	verdict TEXT NOT NULL,\n"
	"	count INTEGER NOT NULL,\n"
	"	PRIMARY KEY (unit, day, verdict)\n"
	");\n"
	"\n"
	"PRAGMA user_version = 5;\n",

	/* 5 -> 6
	 * Aggregation (bpf/unitguard.h): an audit row stands for `count` denials
	 * of one identity, the first no earlier than first_time, the last at
	 * time. A lost_events row of kind 'ringbuf' names the unit whose denials
	 * were lost (NULL: rows of older versions, or no unit known). For every
	 * unit: denials made = audit_totals.total. */
	"ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;\n"
	"ALTER TABLE audit ADD COLUMN first_time TEXT;\n"
	"ALTER TABLE audit ADD COLUMN first_time_us INTEGER;\n"
	"ALTER TABLE lost_events ADD COLUMN unit TEXT;\n"
	"\n"
	/* Reports (README, "Audit reports"). */
	"CREATE VIEW audit_hourly AS\n"
	"	SELECT unit, substr(time, 1, 13) || ':00:00Z' AS hour, verdict,\n"
	"		sum(count) AS denials, count(*) AS records\n"
	"	FROM audit GROUP BY unit, hour, verdict;\n"
	"CREATE VIEW audit_destinations AS\n"
	"	SELECT unit, direction, protocol, address, port, sum(count) AS denials,\n"
	"		min(ifnull(first_time, time)) AS first_time, max(time) AS last_time\n"
	"	FROM audit WHERE address IS NOT NULL\n"
	"	GROUP BY unit, direction, protocol, address, port;\n"
	"CREATE VIEW audit_paths AS\n"
	"	SELECT unit, hook, path, sum(count) AS denials,\n"
	"		min(ifnull(first_time, time)) AS first_time, max(time) AS last_time\n"
	"	FROM audit WHERE path IS NOT NULL GROUP BY unit, hook, path;\n"
	"CREATE VIEW audit_rules AS\n"
	"	SELECT a.unit, a.rule_id, r.direction AS rule_direction, r.action AS rule_action,\n"
	"		r.prefix AS rule_prefix, u.target AS rule_target, sum(a.count) AS denials,\n"
	"		max(a.time) AS last_time\n"
	"	FROM audit a LEFT JOIN rules r ON r.id = a.rule_id\n"
	"		LEFT JOIN units u ON u.id = r.unit_id\n"
	"	GROUP BY a.unit, a.rule_id;\n"
	"CREATE VIEW audit_would_deny AS\n"
	"	SELECT unit, hook, direction, protocol, address, port, path, rule_id,\n"
	"		sum(count) AS denials, max(time) AS last_time\n"
	"	FROM audit WHERE verdict = 'audit'\n"
	"	GROUP BY unit, hook, direction, protocol, address, port, path, rule_id;\n"
	"CREATE VIEW audit_totals AS\n"
	"	SELECT unit, sum(recorded) AS recorded, sum(pruned) AS pruned, sum(lost) AS lost,\n"
	"		sum(recorded) + sum(pruned) + sum(lost) AS total\n"
	"	FROM (SELECT unit, count AS recorded, 0 AS pruned, 0 AS lost FROM audit\n"
	"		UNION ALL SELECT nullif(unit, ''), 0, count, 0 FROM audit_summary\n"
	"		UNION ALL SELECT unit, 0, 0, count FROM lost_events WHERE kind = 'ringbuf')\n"
	"	GROUP BY unit;\n"
	"\n"
	"PRAGMA user_version = 6;\n",
};

#define UG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct ug_store {
	sqlite3 *db;
	char err[512];
	char *path;
	dev_t dev; /* of the file opened, to notice it being replaced */
	ino_t ino;
	int busy_ms;
	unsigned flags; /* as opened: ug_store_reopen opens the same way */
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
 * Run inside each migration's transaction, before its COMMIT: a migration must leave no
 * row pointing at nothing. COMMIT alone would not say so for migrations[2]: with foreign keys
 * deferred, copying a dangling rules row counts one violation and the DROP's implicit DELETE
 * of the original uncounts it. Names the first offender, so the operator can fix it with
 * sqlite3 and open again.
 */
static int fk_check(struct ug_store *st, int v)
{
	sqlite3_stmt *stmt = NULL;
	const char *table, *parent;
	int rc, ret;

	ret = prepare(st, "PRAGMA foreign_key_check", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		table = (const char *)sqlite3_column_text(stmt, 0);
		parent = (const char *)sqlite3_column_text(stmt, 2);
		set_err(st, "migration %d: foreign key check failed: %s row %lld refers to a "
			"missing %s row", v, table ? table : "?",
			(long long)sqlite3_column_int64(stmt, 1), parent ? parent : "?");
		ret = -EIO;
	} else if (rc != SQLITE_DONE) {
		ret = fail(st, rc, "foreign key check");
	} else {
		ret = 0;
	}
	sqlite3_finalize(stmt);
	return ret;
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
		ret = fk_check(st, v);
		if (ret)
			goto rollback;
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

/* path as the path of a file: URI (RFC 3986), every byte but the unreserved ones and '/'
 * percent-encoded. Caller frees; NULL when out of memory. */
static char *file_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(path), k = 5;
	char *u = malloc(5 + 3 * n + strlen(query) + 1);

	if (!u)
		return NULL;
	memcpy(u, "file:", 5);
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("/-._~", *c)) {
			u[k++] = (char)*c;
		} else {
			u[k++] = '%';
			u[k++] = hex[*c >> 4];
			u[k++] = hex[*c & 15];
		}
	}
	strcpy(u + k, query);
	return u;
}

/* UG_STORE_READONLY (store.h): read, as whoever may read the file; never write. */
static int open_readonly(struct ug_store *st, const char *path)
{
	char wal[PATH_MAX], *uri;
	struct stat sb;
	int rc, ret, v;

	if (stat(path, &sb) < 0) {
		ret = -errno;
		set_err(st, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* sqlite takes an empty file for an empty database; a writer would make it a store. */
	if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
		set_err(st, "%s is empty (0 bytes): not a store yet", path);
		return -ENOENT;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "open");
	sqlite3_extended_result_codes(st->db, 1);
	rc = sqlite3_busy_timeout(st->db, UG_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return fail(st, rc, "set busy timeout");
	/* The first read is where a WAL store without a -shm we may open fails. */
	ret = user_version(st, &v);
	if (ret && snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal)) {
		return ret;
	} else if (ret && !access(wal, F_OK)) {
		size_t n = strlen(st->err);

		snprintf(st->err + n, sizeof(st->err) - n, " (reading a WAL store takes read "
			 "access to %s and %s-shm, or write access to their directory)", wal,
			 path);
		return ret;
	} else if (ret && ((sqlite3_errcode(st->db) & 0xff) == SQLITE_READONLY ||
			   (sqlite3_errcode(st->db) & 0xff) == SQLITE_CANTOPEN)) {
		/* No -shm to be had, and no -wal: what is committed is all in the file. */
		sqlite3_close(st->db);
		st->db = NULL;
		uri = file_uri(path, "?immutable=1");
		if (!uri) {
			set_err(st, "out of memory");
			return -ENOMEM;
		}
		rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
		free(uri);
		if (rc != SQLITE_OK)
			return fail(st, rc, "open");
		sqlite3_extended_result_codes(st->db, 1);
		ret = user_version(st, &v);
	}
	if (ret)
		return ret;
	if (v > UG_SCHEMA_VERSION)
		return newer_schema(st, v);
	if (v < UG_SCHEMA_VERSION) {
		set_err(st, v ? "store schema version %d is older than this build (%d): "
			"unitguardd, or a command that writes, brings it up to date"
			: "not a unitguard store (schema version %d; this build's is %d)",
			v, UG_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
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
	} else {
		struct stat sb;

		if (stat(path, &sb) < 0) {
			int e = errno;

			/* sqlite would only say "unable to open database file". */
			if (e == ENOENT)
				set_err(st, "%s does not exist", path);
			else
				set_err(st, "%s: %s", path, strerror(e));
			return -e;
		}
		/* An empty file is a valid empty database to sqlite: only a command
		 * that creates the store may make one of it. */
		if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
			set_err(st, "%s is empty: not a unitguard store", path);
			return -ENOENT;
		}
	}
	if (flags & UG_STORE_READONLY)
		return open_readonly(st, path);

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

/* Remember which file is open, to tell when the path points at another. */
static void note_file(struct ug_store *st)
{
	struct stat sb;

	if (!stat(st->path, &sb)) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
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
	if (!path || !*path || !out || (flags & ~(unsigned)(UG_STORE_CREATE | UG_STORE_READONLY)) ||
	    (flags & UG_STORE_CREATE && flags & UG_STORE_READONLY)) {
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
	st->busy_ms = UG_BUSY_TIMEOUT_MS;
	st->flags = flags & UG_STORE_READONLY;
	st->path = strdup(path);
	if (!st->path) {
		set_err(st, "out of memory");
		ret = -ENOMEM;
		goto close_store;
	}
	ret = open_db(st, path, flags);
	if (ret)
		goto close_store;
	note_file(st);
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
	free(st->path);
	free(st);
}

int ug_store_replaced(struct ug_store *st)
{
	struct stat sb;

	if (!st)
		return -EINVAL;
	if (stat(st->path, &sb))
		return 1;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

int ug_store_reopen(struct ug_store *st)
{
	struct ug_store fresh = { .busy_ms = st->busy_ms, .flags = st->flags };
	int ret;

	ret = open_db(&fresh, st->path, st->flags);
	if (!ret && st->busy_ms != UG_BUSY_TIMEOUT_MS &&
	    sqlite3_busy_timeout(fresh.db, st->busy_ms) != SQLITE_OK)
		ret = -EIO;
	if (ret) {
		snprintf(st->err, sizeof(st->err), "%s", fresh.err);
		sqlite3_close(fresh.db);
		return ret;
	}
	sqlite3_close(st->db);
	st->db = fresh.db;
	note_file(st);
	return 0;
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

/*
 * What a policy write needs, prepared once per transaction and reset between rows. Units get
 * their defaults from the schema (the INSERT names only the target) and the UPDATE then sets
 * what the caller gave, so the defaults live in one place. The UPDATE's WHERE leaves a row it
 * would not change alone: a no-op unit_set must not fire units_au and bump policy_version.
 */
struct policy_stmts {
	sqlite3_stmt *unit_ins, *unit_upd, *unit_sel, *rule_ins;
};

static void policy_stmts_finalize(struct policy_stmts *ps)
{
	sqlite3_finalize(ps->unit_ins);
	sqlite3_finalize(ps->unit_upd);
	sqlite3_finalize(ps->unit_sel);
	sqlite3_finalize(ps->rule_ins);
	*ps = (struct policy_stmts){ 0 };
}

static int policy_stmts_prepare(struct ug_store *st, struct policy_stmts *ps, bool with_rules)
{
	/* DO NOTHING rather than INSERT OR IGNORE: IGNORE would also swallow a NOT NULL or CHECK
	 * violation and leave us looking up a unit that was never written. */
	static const char unit_ins[] =
		"INSERT INTO units (target) VALUES (?1) ON CONFLICT (target) DO NOTHING";
	static const char unit_upd[] =
		"UPDATE units SET mode = coalesce(?2, mode),\n"
		"	default_egress = coalesce(?3, default_egress),\n"
		"	default_ingress = coalesce(?4, default_ingress),\n"
		"	harden = coalesce(?5, harden)\n"
		"WHERE target = ?1 AND (mode IS NOT coalesce(?2, mode)\n"
		"	OR default_egress IS NOT coalesce(?3, default_egress)\n"
		"	OR default_ingress IS NOT coalesce(?4, default_ingress)\n"
		"	OR harden IS NOT coalesce(?5, harden))";
	static const char unit_sel[] = "SELECT id FROM units WHERE target = ?1";
	static const char rule_ins[] =
		"INSERT INTO rules (unit_id, direction, action, prefix, proto, port_lo, port_hi,\n"
		"	comment, access)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	int ret;

	*ps = (struct policy_stmts){ 0 };
	ret = prepare(st, unit_ins, &ps->unit_ins);
	if (!ret)
		ret = prepare(st, unit_upd, &ps->unit_upd);
	if (!ret)
		ret = prepare(st, unit_sel, &ps->unit_sel);
	if (!ret && with_rules)
		ret = prepare(st, rule_ins, &ps->rule_ins);
	if (ret)
		policy_stmts_finalize(ps);
	return ret;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

/*
 * Makes sure target has a units row, applies the non-NULL settings and returns its id.
 * fresh: the row must not exist yet (ug_store_replace, after its DELETE), so a target listed
 * twice is an error rather than a silent merge. Runs inside the caller's transaction.
 */
static int unit_ensure(struct ug_store *st, struct policy_stmts *ps, const char *target,
		       const char *mode, const char *egress, const char *ingress,
		       const char *harden, bool fresh, const char *what, int64_t *id_out)
{
	int rc;

	sqlite3_bind_text(ps->unit_ins, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(ps->unit_ins);
	if (rc != SQLITE_DONE)
		return fail(st, rc, what);
	sqlite3_reset(ps->unit_ins);
	/* Counts only rows the INSERT itself wrote, not the triggers' meta update. */
	if (fresh && sqlite3_changes(st->db) == 0) {
		set_err(st, "%s: unit %s is listed twice", what, target);
		return -EINVAL;
	}

	if (mode || egress || ingress || harden) {
		sqlite3_bind_text(ps->unit_upd, 1, target, -1, SQLITE_STATIC);
		bind_text_or_null(ps->unit_upd, 2, mode);
		bind_text_or_null(ps->unit_upd, 3, egress);
		bind_text_or_null(ps->unit_upd, 4, ingress);
		bind_text_or_null(ps->unit_upd, 5, harden);
		rc = sqlite3_step(ps->unit_upd);
		if (rc != SQLITE_DONE)
			return fail(st, rc, what);
		sqlite3_reset(ps->unit_upd);
	}

	sqlite3_bind_text(ps->unit_sel, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(ps->unit_sel);
	if (rc == SQLITE_DONE) {
		set_err(st, "%s: unit %s vanished inside its own transaction", what, target);
		return -EIO;
	}
	if (rc != SQLITE_ROW)
		return fail(st, rc, what);
	*id_out = sqlite3_column_int64(ps->unit_sel, 0);
	sqlite3_reset(ps->unit_sel);
	return 0;
}

/* The CHECK constraints and the rules_ports_* and rules_kind_* triggers judge the values; a
 * port above 65535 reaches them intact as an int64 and fails there. */
static int rule_insert(struct ug_store *st, struct policy_stmts *ps, int64_t unit_id,
		       const struct ug_store_rule_spec *spec, const char *what, int64_t *id_out)
{
	sqlite3_stmt *stmt = ps->rule_ins;
	int rc;

	sqlite3_bind_int64(stmt, 1, unit_id);
	sqlite3_bind_text(stmt, 2, spec->direction, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, spec->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, spec->prefix, -1, SQLITE_STATIC);
	bind_text_or_null(stmt, 5, spec->proto);
	sqlite3_bind_int64(stmt, 6, spec->port_lo);
	sqlite3_bind_int64(stmt, 7, spec->port_hi);
	bind_text_or_null(stmt, 8, spec->comment);
	bind_text_or_null(stmt, 9, spec->access);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return fail(st, rc, what);
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(st->db);
	sqlite3_reset(stmt);
	return 0;
}

static bool spec_complete(const struct ug_store_rule_spec *spec)
{
	return spec && spec->target && spec->direction && spec->action && spec->prefix;
}

int ug_store_rule_add(struct ug_store *st, const struct ug_store_rule_spec *spec,
		      int64_t *id_out)
{
	struct policy_stmts ps = { 0 };
	int64_t unit_id, id;
	int ret;

	if (!st)
		return -EINVAL;
	if (!spec_complete(spec)) {
		set_err(st, "rule without target, direction, action or prefix");
		return -EINVAL;
	}

	ret = tx_begin(st);
	if (ret)
		return ret;
	ret = policy_stmts_prepare(st, &ps, true);
	if (ret)
		goto rollback;
	ret = unit_ensure(st, &ps, spec->target, NULL, NULL, NULL, NULL, false,
			  "insert unit", &unit_id);
	if (ret)
		goto rollback;
	ret = rule_insert(st, &ps, unit_id, spec, "insert rule", &id);
	if (ret)
		goto rollback;
	policy_stmts_finalize(&ps);

	ret = tx_commit(st);
	if (ret)
		goto rollback;
	if (id_out)
		*id_out = id;
	return 0;

rollback:
	policy_stmts_finalize(&ps);
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

static int rule_rows(struct ug_store *st, sqlite3_stmt *stmt, ug_store_rule_cb cb, void *ctx);

int ug_store_unit_rules(struct ug_store *st, int64_t unit_id, ug_store_rule_cb cb, void *ctx)
{
	static const char sql[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"WHERE r.unit_id = ?1\n"
		"ORDER BY r.id";
	sqlite3_stmt *stmt = NULL;
	int ret;

	if (!st || !cb)
		return -EINVAL;
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, unit_id);
	return rule_rows(st, stmt, cb, ctx);
}

int ug_store_rules(struct ug_store *st, const char *target, ug_store_rule_cb cb, void *ctx)
{
	/* Two texts rather than "?1 IS NULL OR ...", which would keep the planner off the
	 * index on units.target. */
	static const char all[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"ORDER BY u.target, r.id";
	static const char one[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"WHERE u.target = ?1\n"
		"ORDER BY u.target, r.id";
	sqlite3_stmt *stmt = NULL;
	int ret;

	if (!st || !cb)
		return -EINVAL;
	ret = prepare(st, target ? one : all, &stmt);
	if (ret)
		return ret;
	if (target)
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
	return rule_rows(st, stmt, cb, ctx);
}

/* Step a rules query, call cb per row; finalizes stmt. */
static int rule_rows(struct ug_store *st, sqlite3_stmt *stmt, ug_store_rule_cb cb, void *ctx)
{
	struct ug_store_rule r;
	int rc, ret;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r = (struct ug_store_rule){
			.id = sqlite3_column_int64(stmt, 0),
			.target = (const char *)sqlite3_column_text(stmt, 1),
			.direction = (const char *)sqlite3_column_text(stmt, 2),
			.action = (const char *)sqlite3_column_text(stmt, 3),
			.prefix = (const char *)sqlite3_column_text(stmt, 4),
			.proto = (const char *)sqlite3_column_text(stmt, 5),
			.port_lo = (uint32_t)sqlite3_column_int64(stmt, 6),
			.port_hi = (uint32_t)sqlite3_column_int64(stmt, 7),
			.comment = (const char *)sqlite3_column_text(stmt, 8),
			.created_at = (const char *)sqlite3_column_text(stmt, 9),
			.access = (const char *)sqlite3_column_text(stmt, 10),
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

/*
 * Binds row i of rows to stmt. Text it makes up itself (the time) must be bound
 * SQLITE_TRANSIENT: its buffer is gone before the step.
 */
typedef int (*bind_row_fn)(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i);

/*
 * n rows through one INSERT, in one transaction: all or none. clear_sql, if not NULL, is a
 * constant statement run first in the same transaction (status_replace's DELETE); without it
 * n == 0 does nothing at all.
 */
static int insert_rows(struct ug_store *st, const char *clear_sql, const char *sql,
		       const char *what, const void *rows, size_t n, bind_row_fn bind)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;
	size_t i;

	if (!n && !clear_sql)
		return 0;

	ret = tx_begin(st);
	if (ret)
		return ret;
	if (clear_sql) {
		ret = exec(st, clear_sql, what);
		if (ret)
			goto rollback;
	}
	ret = prepare(st, sql, &stmt);
	if (ret)
		goto rollback;

	for (i = 0; i < n; i++) {
		ret = bind(st, stmt, rows, i);
		if (ret)
			goto rollback;
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE) {
			ret = fail(st, rc, what);
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

/* Binds the ISO text at i and time_us at i + 1. */
static int bind_time(struct ug_store *st, sqlite3_stmt *stmt, int i, int64_t time_us)
{
	char when[UG_TIME_STRLEN];
	int ret;

	ret = format_time(st, time_us, when, sizeof(when));
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, i, when, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, i + 1, time_us);
	return 0;
}

static int bind_audit(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_audit_row *a = (const struct ug_audit_row *)rows + i;
	int ret;

	ret = bind_time(st, stmt, 1, a->time_us);
	if (ret)
		return ret;
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
	bind_text_or_null(stmt, 17, a->path);
	bind_text_or_null(stmt, 18, a->exe);
	bind_text_or_null(stmt, 19, a->detail);
	sqlite3_bind_int64(stmt, 20, a->count ? a->count : 1);
	if (a->first_time_us && a->first_time_us < a->time_us)
		return bind_time(st, stmt, 21, a->first_time_us);
	sqlite3_bind_null(stmt, 21);
	sqlite3_bind_null(stmt, 22);
	return 0;
}

/* --- retention -------------------------------------------------------------- */

static int pragma_int(struct ug_store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		ret = 0;
	} else {
		ret = fail(st, rc, sql);
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_used_bytes(struct ug_store *st, int64_t *out)
{
	int64_t pages, free_pages, size;
	int ret;

	if (!st || !out)
		return -EINVAL;
	ret = pragma_int(st, "PRAGMA page_count", &pages);
	if (!ret)
		ret = pragma_int(st, "PRAGMA freelist_count", &free_pages);
	if (!ret)
		ret = pragma_int(st, "PRAGMA page_size", &size);
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

	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, limit);
	sqlite3_bind_int64(stmt, 2, before);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "prune");
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
	"FROM (SELECT unit, time, verdict, count FROM audit WHERE time_us < ?2 ORDER BY id LIMIT ?1)\n"
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
	int64_t used = 0, n = 0;
	int ret;

	if (!st || budget <= 0)
		return -EINVAL;
	ret = tx_begin(st);
	if (ret)
		return ret;
	/* Too old, in every table. The oldest row is looked at first: the
	 * delete would scan the whole table to find that nothing is old. */
	for (size_t t = 0; before_us > 0 && !ret && t < sizeof(prune_sql) / sizeof(prune_sql[0]); t++) {
		int64_t oldest = 0;

		ret = pragma_int(st, oldest_sql[t], &oldest);
		if (ret || oldest >= before_us)
			continue;
		if (t == 0)
			ret = prune_step(st, prune_summary_sql, budget, before_us, NULL);
		if (!ret)
			ret = prune_step(st, prune_sql[t], budget, before_us, &n);
	}
	/* Too big: audit first, then rule hits, then accounting, until the
	 * pages in use fit (freed pages are reused by the next rows). */
	for (size_t t = 0; max_bytes > 0 && !ret && t < sizeof(prune_sql) / sizeof(prune_sql[0]); t++) {
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
		ret = tx_commit(st);
	if (ret) {
		tx_rollback(st);
		return ret;
	}
	if (pruned)
		*pruned = n;
	return 0;
}

int ug_store_audit_insert(struct ug_store *st, const struct ug_audit_row *rows, size_t n)
{
	static const char sql[] =
		"INSERT INTO audit (time, time_us, unit, cgroup_id, pid, uid, comm, family,\n"
		"	protocol, address, port, hook, direction, verdict, rule_id, generation,\n"
		"	path, exe, detail, count, first_time, first_time_us)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,\n"
		"	?17, ?18, ?19, ?20, ?21, ?22)";

	if (!st || (n && !rows))
		return -EINVAL;
	return insert_rows(st, NULL, sql, "insert audit row", rows, n, bind_audit);
}

static const char *column_text(sqlite3_stmt *stmt, int i)
{
	return (const char *)sqlite3_column_text(stmt, i);
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
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	bind_text_or_null(stmt, 1, f->unit);
	sqlite3_bind_int64(stmt, 2, f->has_since ? f->since_us : INT64_MIN);
	sqlite3_bind_int64(stmt, 3, f->has_until ? f->until_us : INT64_MAX);
	sqlite3_bind_int64(stmt, 4, f->after_id);

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
				.path = column_text(stmt, 17),
				.exe = column_text(stmt, 18),
				.detail = column_text(stmt, 19),
				.count = (uint64_t)sqlite3_column_int64(stmt, 20),
				.first_time_us = sqlite3_column_int64(stmt, 21),
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

int ug_store_audit_list(struct ug_store *st, const char *unit, ug_store_audit_cb cb, void *ctx)
{
	return ug_store_audit_query(st, &(struct ug_audit_filter){ .unit = unit }, cb, ctx);
}

int ug_store_audit_max_id(struct ug_store *st, int64_t *out)
{
	if (!st || !out)
		return -EINVAL;
	return pragma_int(st, "SELECT ifnull(max(id), 0) FROM audit", out);
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
		set_err(st, "no report named '%s'", name);
		return -ENOENT;
	}
	ret = prepare(st, reports[i].sql, &stmt);
	if (ret)
		return ret;
	bind_text_or_null(stmt, 1, unit);
	sqlite3_bind_int64(stmt, 2, limit > 0 ? limit : -1);
	n = sqlite3_column_count(stmt);
	if (n > UG_REPORT_COLS_MAX)
		n = UG_REPORT_COLS_MAX;
	for (int c = 0; c < n; c++)
		cols[c] = sqlite3_column_name(stmt, c);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int c = 0; c < n; c++)
			vals[c] = column_text(stmt, c);
		ret = cb(n, cols, vals, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "report");
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
		"INSERT INTO lost_events (time, time_us, count, kind, unit) VALUES (?1, ?2, ?3, ?4, ?5)";
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
	sqlite3_bind_text(stmt, 4, kind ? kind : "ringbuf", -1, SQLITE_STATIC);
	bind_text_or_null(stmt, 5, unit);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "insert lost events");
	sqlite3_finalize(stmt);
	return ret;
}

/* --- units ------------------------------------------------------------------------------ */

int ug_store_unit_set(struct ug_store *st, const char *target, const char *mode,
		      const char *default_egress, const char *default_ingress,
		      const char *harden)
{
	struct policy_stmts ps = { 0 };
	int64_t id;
	int ret;

	if (!st)
		return -EINVAL;
	if (!target) {
		set_err(st, "unit without target");
		return -EINVAL;
	}

	ret = tx_begin(st);
	if (ret)
		return ret;
	ret = policy_stmts_prepare(st, &ps, false);
	if (ret)
		goto rollback;
	ret = unit_ensure(st, &ps, target, mode, default_egress, default_ingress, harden,
			  false, "set unit", &id);
	if (ret)
		goto rollback;
	policy_stmts_finalize(&ps);

	ret = tx_commit(st);
	if (ret)
		goto rollback;
	return 0;

rollback:
	policy_stmts_finalize(&ps);
	tx_rollback(st);
	return ret;
}

int ug_store_unit_del(struct ug_store *st, const char *target)
{
	static const char sql[] = "DELETE FROM units WHERE target = ?1";
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st || !target)
		return -EINVAL;
	ret = tx_begin(st);
	if (ret)
		return ret;
	/* Its rules first, by their own triggers (the cascade would not run
	 * them), then the unit. */
	ret = prepare(st, "DELETE FROM rules WHERE unit_id = (SELECT id FROM units WHERE target = ?1)",
		      &stmt);
	if (!ret) {
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "delete the unit's rules");
		sqlite3_finalize(stmt);
		stmt = NULL;
	}
	if (!ret)
		ret = prepare(st, sql, &stmt);
	if (!ret) {
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "delete unit");
		if (!ret && !sqlite3_changes(st->db)) {
			set_err(st, "no unit '%s' in the store", target);
			ret = -ENOENT;
		}
		sqlite3_finalize(stmt);
	}
	if (!ret)
		ret = tx_commit(st);
	if (ret)
		tx_rollback(st);
	return ret;
}

int ug_store_units(struct ug_store *st, ug_store_unit_cb cb, void *ctx)
{
	static const char sql[] =
		"SELECT id, target, mode, default_egress, default_ingress, harden, rev FROM units\n"
		"ORDER BY target";
	sqlite3_stmt *stmt = NULL;
	struct ug_store_unit u;
	int rc, ret;

	if (!st || !cb)
		return -EINVAL;
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		u = (struct ug_store_unit){
			.id = sqlite3_column_int64(stmt, 0),
			.target = column_text(stmt, 1),
			.mode = column_text(stmt, 2),
			.default_egress = column_text(stmt, 3),
			.default_ingress = column_text(stmt, 4),
			.harden = column_text(stmt, 5),
			.rev = sqlite3_column_int64(stmt, 6),
		};
		ret = cb(&u, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "list units");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* --- replace: only the difference --------------------------------------------------------- */

/* Every units and rules row, as policy/apply.c takes them; strings owned. */
struct stored {
	struct ug_store_unit *units;
	size_t n_units;
	struct ug_apply_rule *rules;
	size_t n_rules;
};

static void stored_free(struct stored *s)
{
	for (size_t i = 0; i < s->n_units; i++) {
		struct ug_store_unit *u = &s->units[i];

		free((char *)u->target);
		free((char *)u->mode);
		free((char *)u->default_egress);
		free((char *)u->default_ingress);
		free((char *)u->harden);
	}
	for (size_t i = 0; i < s->n_rules; i++) {
		struct ug_store_rule_spec *r = &s->rules[i].spec;

		free((char *)r->target);
		free((char *)r->direction);
		free((char *)r->action);
		free((char *)r->prefix);
		free((char *)r->access);
		free((char *)r->proto);
		free((char *)r->comment);
	}
	free(s->units);
	free(s->rules);
}

static char *dup_col(sqlite3_stmt *stmt, int i, bool *oom)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Room for one more row in *v (of *n, *cap); false when out of memory. */
static bool grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
	void *p;

	if (n < *cap)
		return true;
	p = reallocarray(*v, *cap ? 2 * *cap : first, size);
	if (!p)
		return false;
	*v = p;
	*cap = *cap ? 2 * *cap : first;
	return true;
}

/* Every units and rules row (rules in id order), read inside the caller's transaction. */
static int replace_load(struct ug_store *st, struct stored *s)
{
	static const char units_sql[] =
		"SELECT id, target, mode, default_egress, default_ingress, harden FROM units\n"
		"ORDER BY target";
	static const char rules_sql[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id ORDER BY r.id";
	sqlite3_stmt *stmt = NULL;
	size_t cap = 0;
	bool oom = false;
	int rc, ret;

	ret = prepare(st, units_sql, &stmt);
	if (ret)
		return ret;
	while (!oom && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (!grow((void **)&s->units, &cap, s->n_units, sizeof(*s->units), 64)) {
			oom = true;
			break;
		}
		s->units[s->n_units++] = (struct ug_store_unit){
			.id = sqlite3_column_int64(stmt, 0),
			.target = dup_col(stmt, 1, &oom),
			.mode = dup_col(stmt, 2, &oom),
			.default_egress = dup_col(stmt, 3, &oom),
			.default_ingress = dup_col(stmt, 4, &oom),
			.harden = dup_col(stmt, 5, &oom),
		};
	}
	sqlite3_finalize(stmt);
	if (oom)
		goto oom;
	if (rc != SQLITE_DONE)
		return fail(st, rc, "read units");

	ret = prepare(st, rules_sql, &stmt);
	if (ret)
		return ret;
	cap = 0;
	while (!oom && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct ug_apply_rule *r;

		if (!grow((void **)&s->rules, &cap, s->n_rules, sizeof(*s->rules), 256)) {
			oom = true;
			break;
		}
		r = &s->rules[s->n_rules++];
		*r = (struct ug_apply_rule){
			.id = sqlite3_column_int64(stmt, 0),
			.spec = {
				.target = dup_col(stmt, 1, &oom),
				.direction = dup_col(stmt, 2, &oom),
				.action = dup_col(stmt, 3, &oom),
				.prefix = dup_col(stmt, 4, &oom),
				.proto = dup_col(stmt, 5, &oom),
				.port_lo = (uint32_t)sqlite3_column_int64(stmt, 6),
				.port_hi = (uint32_t)sqlite3_column_int64(stmt, 7),
				.comment = dup_col(stmt, 8, &oom),
				.access = dup_col(stmt, 9, &oom),
			},
		};
		if (!oom && !spec_complete(&r->spec)) {
			set_err(st, "rule %lld has no target, direction, action or prefix",
				(long long)r->id);
			sqlite3_finalize(stmt);
			return -EIO;
		}
	}
	sqlite3_finalize(stmt);
	if (oom)
		goto oom;
	if (rc != SQLITE_DONE)
		return fail(st, rc, "read rules");
	return 0;
oom:
	set_err(st, "out of memory");
	return -ENOMEM;
}

/* Step a statement the caller bound, and reset it for the next row. */
static int step_reset(struct ug_store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : fail(st, rc, what);
}

/* Write the plan, inside the caller's BEGIN IMMEDIATE. plan->rule_id gets the new rules'
 * ids. */
static int replace_write(struct ug_store *st, struct ug_apply_plan *plan,
			 const struct ug_store_rule_spec *rules, size_t n_rules, size_t n_units)
{
	sqlite3_stmt *rule_del = NULL, *unit_del = NULL, *comment = NULL;
	const struct ug_store_change *c = plan->changes;
	struct policy_stmts ps = { 0 };
	int64_t *unit_ids;
	char what[64];
	size_t i;
	int ret;

	unit_ids = calloc(plan->n_units ?: 1, sizeof(*unit_ids));
	if (!unit_ids) {
		set_err(st, "out of memory");
		return -ENOMEM;
	}
	ret = prepare(st, "DELETE FROM rules WHERE id = ?1", &rule_del);
	if (!ret)
		ret = prepare(st, "DELETE FROM units WHERE target = ?1", &unit_del);
	if (!ret)
		ret = prepare(st, "UPDATE rules SET comment = ?2 WHERE id = ?1", &comment);
	if (!ret)
		ret = policy_stmts_prepare(st, &ps, true);
	/* Rules first, by their own triggers (the cascade would not run them). */
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_RULE_DEL)
			continue;
		sqlite3_bind_int64(rule_del, 1, c[i].rule_id);
		ret = step_reset(st, rule_del, "delete rule");
	}
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_UNIT_DEL)
			continue;
		sqlite3_bind_text(unit_del, 1, c[i].target, -1, SQLITE_STATIC);
		ret = step_reset(st, unit_del, "delete unit");
	}
	/* Units in the order given (new ones' ids follow it); settings only where they
	 * differ (unit_ensure's UPDATE leaves an equal row alone). */
	for (i = 0; !ret && i < plan->n_units; i++) {
		const struct ug_apply_unit *u = &plan->units[i];

		if (u->order < n_units)
			snprintf(what, sizeof(what), "units[%zu]", u->order);
		else
			snprintf(what, sizeof(what), "rules[%zu]", u->order - n_units);
		ret = unit_ensure(st, &ps, u->target, u->set[0], u->set[1], u->set[2], u->set[3],
				  false, what, &unit_ids[i]);
	}
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_RULE_COMMENT)
			continue;
		sqlite3_bind_int64(comment, 1, c[i].rule_id);
		bind_text_or_null(comment, 2, c[i].new_value);
		ret = step_reset(st, comment, "update comment");
	}
	for (i = 0; !ret && i < n_rules; i++) {
		if (plan->rule_id[i])
			continue;
		snprintf(what, sizeof(what), "rules[%zu]", i);
		ret = rule_insert(st, &ps, unit_ids[plan->rule_unit[i]], &rules[i], what,
				  &plan->rule_id[i]);
	}
	free(unit_ids);
	sqlite3_finalize(rule_del);
	sqlite3_finalize(unit_del);
	sqlite3_finalize(comment);
	policy_stmts_finalize(&ps);
	return ret;
}

/*
 * One BEGIN IMMEDIATE around read, plan and write: a reader sees the old policy or the new
 * one, never half of each; any failure rolls back to the old one; and no other writer can
 * change the store between the read the plan is made from and the write. AUTOINCREMENT
 * keeps deleted ids from coming back. Each row written bumps policy_version through the
 * triggers; nothing written, nothing bumped. The difference itself is policy/apply.c's.
 */
int ug_store_replace_changes(struct ug_store *st, const struct ug_store_unit *units,
			     size_t n_units, const struct ug_store_rule_spec *rules, size_t n_rules,
			     unsigned flags, ug_store_change_cb cb, void *ctx, size_t *n_changes)
{
	bool dry = flags & UG_REPLACE_DRY_RUN;
	struct ug_store none = { 0 }; /* st NULL: against an empty store */
	struct ug_apply_plan plan = { 0 };
	struct stored have = { 0 };
	size_t i;
	int ret;

	if (!st && !dry)
		return -EINVAL;
	if (!st)
		st = &none;
	if (n_changes)
		*n_changes = 0;
	if (flags & ~(unsigned)UG_REPLACE_DRY_RUN) {
		set_err(st, "replace: unknown flags");
		return -EINVAL;
	}
	/* Checked up front, so a NULL never reaches a statement that would take it for "keep",
	 * and bad input is refused before any lock is taken. */
	ret = ug_apply_check(units, n_units, rules, n_rules, st->err, sizeof(st->err));
	if (ret)
		return ret;

	/* A dry run reads one snapshot and takes no write lock. */
	ret = !st->db ? 0 : dry ? exec(st, "BEGIN", "begin transaction") : tx_begin(st);
	if (ret)
		return ret;
	if (st->db)
		ret = replace_load(st, &have);
	if (!ret)
		ret = ug_apply_plan(have.units, have.n_units, have.rules, have.n_rules, units,
				    n_units, rules, n_rules, &plan, st->err, sizeof(st->err));
	if (!ret && !dry && plan.n_changes)
		ret = replace_write(st, &plan, rules, n_rules, n_units);
	if (!ret && !dry)
		ret = tx_commit(st);
	if (st->db)
		tx_rollback(st);
	if (ret)
		goto out;

	for (i = 0; !ret && cb && i < plan.n_changes; i++) {
		struct ug_store_change *c = &plan.changes[i];

		if (c->kind == UG_CHANGE_RULE_ADD)
			c->rule_id = dry ? 0 : plan.rule_id[c->rule - rules];
		ret = cb(c, ctx);
	}
	if (n_changes)
		*n_changes = plan.n_changes;
out:
	ug_apply_plan_free(&plan);
	stored_free(&have);
	return ret;
}

int ug_store_replace(struct ug_store *st, const struct ug_store_unit *units, size_t n_units,
		     const struct ug_store_rule_spec *rules, size_t n_rules)
{
	return ug_store_replace_changes(st, units, n_units, rules, n_rules, 0, NULL, NULL, NULL);
}

/* --- status and agent state --------------------------------------------------------------- */

static int bind_status(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_status *s = (const struct ug_store_status *)rows + i;

	/* A TEXT PRIMARY KEY takes NULL in sqlite (a legacy quirk), so check it here. */
	if (!s->target) {
		set_err(st, "status[%zu]: no target", i);
		return -EINVAL;
	}
	sqlite3_bind_text(stmt, 1, s->target, -1, SQLITE_STATIC);
	bind_text_or_null(stmt, 2, s->cgroup);
	/* Bit-cast like audit.cgroup_id; 0 (unresolved) is stored as NULL and reads back 0. */
	if (s->cgroup_id)
		sqlite3_bind_int64(stmt, 3, (int64_t)s->cgroup_id);
	else
		sqlite3_bind_null(stmt, 3);
	bind_text_or_null(stmt, 4, s->mode);
	sqlite3_bind_int64(stmt, 5, s->generation);
	bind_text_or_null(stmt, 6, s->programs);
	sqlite3_bind_int(stmt, 7, s->enforced ? 1 : 0);
	bind_text_or_null(stmt, 8, s->reason);
	bind_text_or_null(stmt, 9, s->state);
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
	return insert_rows(st, "DELETE FROM status", sql, "replace status", rows, n,
			   bind_status);
}

int ug_store_check_schema(struct ug_store *st)
{
	int v, ret;

	if (!st)
		return -EINVAL;
	ret = user_version(st, &v);
	if (ret)
		return ret;
	if (v > UG_SCHEMA_VERSION)
		return newer_schema(st, v);
	if (v < UG_SCHEMA_VERSION) {
		set_err(st, "store schema version %d is older than this build (%d) and was not "
			"migrated", v, UG_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

int ug_store_set_busy_timeout(struct ug_store *st, int ms)
{
	int rc;

	if (!st || ms < 0)
		return -EINVAL;
	rc = sqlite3_busy_timeout(st->db, ms);
	if (rc != SQLITE_OK)
		return fail(st, rc, "set busy timeout");
	st->busy_ms = ms;
	return 0;
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
	ret = tx_begin(st);
	if (ret)
		return ret;
	ret = prepare(st, upsert, &stmt);
	for (size_t i = 0; !ret && i < n; i++) {
		ret = bind_status(st, stmt, rows, i);
		if (!ret && (rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = fail(st, rc, "write status");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (!ret)
		ret = prepare(st, del, &stmt);
	for (size_t i = 0; !ret && i < n_gone; i++) {
		sqlite3_bind_text(stmt, 1, gone[i], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = fail(st, rc, "delete status");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (!ret)
		ret = prepare(st, kv, &stmt);
	for (int k = 0; !ret && k < 2; k++) {
		snprintf(text, sizeof(text), "%" PRId64,
			 k ? (int64_t)generation : applied_version);
		sqlite3_bind_text(stmt, 1, k ? "generation" : "applied_version", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(stmt)) != SQLITE_DONE)
			ret = fail(st, rc, "write agent state");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	if (!ret)
		ret = tx_commit(st);
	if (ret)
		tx_rollback(st);
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
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		s = (struct ug_store_status){
			.target = column_text(stmt, 0),
			.cgroup = column_text(stmt, 1),
			.cgroup_id = (uint64_t)sqlite3_column_int64(stmt, 2),
			.mode = column_text(stmt, 3),
			.generation = (uint32_t)sqlite3_column_int64(stmt, 4),
			.programs = column_text(stmt, 5),
			.enforced = sqlite3_column_int(stmt, 6) != 0,
			.reason = column_text(stmt, 7),
			.updated_at = column_text(stmt, 8),
			.state = column_text(stmt, 9),
		};
		ret = cb(&s, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "list status");
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
		set_err(st, "agent state needs a key and a value");
		return -EINVAL;
	}
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "set agent state");
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
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		set_err(st, "no agent state %s", key);
		ret = -ENOENT;
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		ret = fail(st, rc, "get agent state");
		goto finalize;
	}
	v = column_text(stmt, 0);
	if (!v) {
		/* NOT NULL column: only running out of memory gets here. */
		set_err(st, "get agent state %s: out of memory", key);
		ret = -ENOMEM;
		goto finalize;
	}
	n = (size_t)sqlite3_column_bytes(stmt, 0);
	if (n >= len) {
		set_err(st, "agent state %s needs %zu bytes, the buffer has %zu", key, n + 1, len);
		ret = -ERANGE;
		goto finalize;
	}
	memcpy(buf, v, n + 1);
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* --- accounting and generations -------------------------------------------------------------- */

static int bind_acct(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_acct *a = (const struct ug_store_acct *)rows + i;
	int ret;

	ret = bind_time(st, stmt, 1, a->time_us);
	if (ret)
		return ret;
	/* NULL unit or direction: the NOT NULL constraint refuses the row. */
	bind_text_or_null(stmt, 3, a->unit);
	sqlite3_bind_int64(stmt, 4, (int64_t)a->cgroup_id);
	bind_text_or_null(stmt, 5, a->direction);
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
	return insert_rows(st, NULL, sql, "insert accounting row", rows, n, bind_acct);
}

static int bind_hits(struct ug_store *st, sqlite3_stmt *stmt, const void *rows, size_t i)
{
	const struct ug_store_hits *h = (const struct ug_store_hits *)rows + i;
	int ret;

	ret = bind_time(st, stmt, 1, h->time_us);
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
	return insert_rows(st, NULL, sql, "insert rule hits", rows, n, bind_hits);
}

/* OR REPLACE: a generation number recorded again replaces the earlier row. */
int ug_store_generation_add(struct ug_store *st, uint32_t generation, int64_t time_us,
			    int64_t policy_version, uint32_t units_changed)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO generations (generation, time, time_us, policy_version,\n"
		"	units_changed)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	ret = prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, generation);
	ret = bind_time(st, stmt, 2, time_us);
	if (ret)
		goto finalize;
	sqlite3_bind_int64(stmt, 4, policy_version);
	sqlite3_bind_int64(stmt, 5, units_changed);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : fail(st, rc, "add generation");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}
