/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schema and its migrations, run forward on open.
 *
 * The schema lives here as SQL constants so the binary needs no files beside the database
 * itself. migrations[i] takes user_version i to i + 1 and sets user_version itself, so no
 * SQL is ever built from values; every value goes through sqlite3_bind_*().
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "internal.h"

/*
 * A units row's harden with each known switch cut out, commas and all:
 * ',' for a valid list. Twice, since replace() does not overlap (",bpf,bpf,"
 * leaves ",bpf," after one round).
 */
#define HARDEN_CUT                                                                      \
	", ',module-load,', ','), ',bpf,', ','), ',ptrace,', ','), ',mount,', ','),"    \
	" ',path-view,', ',')"
#define HARDEN_LEFT                                                                     \
	"replace(replace(replace(replace(replace(replace(replace(replace(replace("     \
	"replace(',' || NEW.harden || ','" HARDEN_CUT HARDEN_CUT
#define HARDEN_REFUSED                                                                  \
	"'units: harden must be a comma list of module-load, bpf, ptrace, mount, path-view'"

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
	 * pointed at nothing through, so that db_migrate() can name it after its
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

	/* 6 -> 7
	 * audit_units: the audit rows each unit has (unit '' where a row has
	 * none), kept by triggers, so that retention by size takes the rows of
	 * the unit with the most first (ug_store_prune) without counting the
	 * table each time: one unit's flood costs its own rows. */
	"CREATE TABLE audit_units (\n"
	"	unit TEXT PRIMARY KEY,\n"
	"	rows INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO audit_units (unit, rows)\n"
	"	SELECT ifnull(unit, ''), count(*) FROM audit GROUP BY 1;\n"
	"CREATE TRIGGER audit_units_ai AFTER INSERT ON audit BEGIN\n"
	"	INSERT INTO audit_units (unit, rows) VALUES (ifnull(NEW.unit, ''), 1)\n"
	"	ON CONFLICT (unit) DO UPDATE SET rows = rows + 1;\n"
	"END;\n"
	"CREATE TRIGGER audit_units_ad AFTER DELETE ON audit BEGIN\n"
	"	UPDATE audit_units SET rows = rows - 1 WHERE unit = ifnull(OLD.unit, '');\n"
	"END;\n"
	"CREATE TRIGGER audit_units_au AFTER UPDATE OF unit ON audit BEGIN\n"
	"	UPDATE audit_units SET rows = rows - 1 WHERE unit = ifnull(OLD.unit, '');\n"
	"	INSERT INTO audit_units (unit, rows) VALUES (ifnull(NEW.unit, ''), 1)\n"
	"	ON CONFLICT (unit) DO UPDATE SET rows = rows + 1;\n"
	"END;\n"
	"\n"
	"PRAGMA user_version = 7;\n",

	/* 7 -> 8
	 * harden is a comma list of known switches, no spaces, no empty items
	 * (policy/names.c, ug_harden_parse): anything else another program
	 * writes ("bpf,ptrace ") is refused here. A trigger, not a CHECK: sqlite
	 * cannot add a CHECK to a column that exists. */
	"CREATE TRIGGER units_harden_bi BEFORE INSERT ON units BEGIN\n"
	"	SELECT RAISE(ABORT, " HARDEN_REFUSED ") WHERE NEW.harden <> '' AND\n"
	"		" HARDEN_LEFT " <> ',';\n"
	"END;\n"
	"CREATE TRIGGER units_harden_bu BEFORE UPDATE OF harden ON units BEGIN\n"
	"	SELECT RAISE(ABORT, " HARDEN_REFUSED ") WHERE NEW.harden <> '' AND\n"
	"		" HARDEN_LEFT " <> ',';\n"
	"END;\n"
	"\n"
	"PRAGMA user_version = 8;\n",

	/* 8 -> 9
	 * audit_unit: a unit's rows in the order they were stored (an index
	 * holds the rowid after its columns), so that retention by size takes a
	 * unit's first rows, which lie together on a few pages: by time_us they
	 * are scattered (records reach the agent a little out of time order),
	 * and pruning 256 of them rewrote nearly every page of the table into
	 * the write-ahead log. */
	"CREATE INDEX audit_unit ON audit (unit);\n"
	"\n"
	"PRAGMA user_version = 9;\n",
};

#define UG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int db_user_version(struct ug_store *st, int *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	ret = db_prepare(st, "PRAGMA user_version", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = db_fail(st, rc, "read user_version");
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
	db_set_err(st, "store schema version %d is newer than this build (%d)", v,
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

	ret = db_prepare(st, "PRAGMA foreign_key_check", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		table = (const char *)sqlite3_column_text(stmt, 0);
		parent = (const char *)sqlite3_column_text(stmt, 2);
		db_set_err(st, "migration %d: foreign key check failed: %s row %lld refers to a "
			   "missing %s row", v, table ? table : "?",
			   (long long)sqlite3_column_int64(stmt, 1), parent ? parent : "?");
		ret = -EIO;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(st, rc, "foreign key check");
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
int db_migrate(struct ug_store *st)
{
	int ret, v, after;

	ret = db_user_version(st, &v);
	if (ret)
		return ret;
	if (v > UG_SCHEMA_VERSION)
		return newer_schema(st, v);

	while (v < UG_SCHEMA_VERSION) {
		ret = db_tx_begin(st);
		if (ret)
			return ret;
		ret = db_user_version(st, &v);
		if (ret)
			goto rollback;
		if (v > UG_SCHEMA_VERSION) {
			ret = newer_schema(st, v);
			goto rollback;
		}
		if (v == UG_SCHEMA_VERSION) {
			db_tx_rollback(st);
			break;
		}
		ret = db_exec(st, migrations[v], "migrate schema");
		if (ret)
			goto rollback;
		ret = db_user_version(st, &after);
		if (ret)
			goto rollback;
		/* A migration that forgets its user_version line would be rerun on every open. */
		if (after != v + 1) {
			db_set_err(st, "migration %d left user_version at %d", v, after);
			ret = -EIO;
			goto rollback;
		}
		ret = fk_check(st, v);
		if (ret)
			goto rollback;
		ret = db_tx_commit(st);
		if (ret)
			goto rollback;
		v = after;
	}
	return 0;

rollback:
	db_tx_rollback(st);
	return ret;
}

int db_schema_current(struct ug_store *st, int v, bool read_only)
{
	if (v > UG_SCHEMA_VERSION)
		return newer_schema(st, v);
	if (v == UG_SCHEMA_VERSION)
		return 0;
	if (!read_only)
		db_set_err(st, "store schema version %d is older than this build (%d) and was not "
			   "migrated", v, UG_SCHEMA_VERSION);
	else
		db_set_err(st, v ? "store schema version %d is older than this build (%d): "
			   "unitguardd, or a command that writes, brings it up to date"
			   : "not a unitguard store (schema version %d; this build's is %d)",
			   v, UG_SCHEMA_VERSION);
	return -EPROTO;
}

int ug_store_check_schema(struct ug_store *st)
{
	int v, ret;

	if (!st)
		return -EINVAL;
	ret = db_user_version(st, &v);
	return ret ? ret : db_schema_current(st, v, false);
}
