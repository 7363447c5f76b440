/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * db/ against the real sqlite3 library, each test in its own mkdtemp
 * directory. What the store wrote is checked through a second, raw sqlite3
 * connection, so the tests do not trust the code they test to read it back.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

/* 2026-11-22T03:29:05Z */
#define T0_SEC 1795318145LL

struct fixture {
	char dir[256]; /* short, so every path built from it fits PATH_MAX */
	char path[PATH_MAX]; /* dir/state/ug.db: state/ does not exist yet */
	struct ug_store *st;
};

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/ug-test-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state/ug.db", f->dir);
	if (ug_store_open(f->path, UG_STORE_CREATE, &f->st, err, sizeof(err)) != 0) {
		/* cmocka skips teardown when setup fails: do not leave the directory behind. */
		nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(f);
		fail_msg("ug_store_open: %s", err);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ug_store_close(f->st);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *stmt = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* Caller frees. */
static char *raw_text(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *stmt = NULL;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = strdup((const char *)sqlite3_column_text(stmt, 0));
	assert_non_null(v);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static int64_t policy_version(struct ug_store *st)
{
	int64_t v = -1;

	assert_int_equal(ug_store_policy_version(st, &v), 0);
	return v;
}

/* A rule without proto, ports or comment, as v1 stored them. */
static int add_rule(struct ug_store *st, const char *target, const char *direction,
		    const char *action, const char *prefix, int64_t *id)
{
	const struct ug_store_rule_spec spec = {
		.target = target,
		.direction = direction,
		.action = action,
		.prefix = prefix,
	};

	return ug_store_rule_add(st, &spec, id);
}

static void assert_file_absent(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

/* --- open, create, migrate ------------------------------------------------------------- */

static void test_create_and_reopen(void **state)
{
	struct fixture *f = *state;
	char parent[PATH_MAX], err[256] = "untouched";
	struct stat sb;
	char *mode;

	snprintf(parent, sizeof(parent), "%s/state", f->dir);
	assert_int_equal(stat(parent, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9);
	mode = raw_text(f->path, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(policy_version(f->st), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
					  "AND name IN ('meta', 'units', 'rules', 'audit', "
					  "'lost_events', 'status', 'agent_state', 'accounting', "
					  "'rule_hits', 'generations', 'audit_units')"),
			 11);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = "
					  "'trigger'"),
			 18);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = "
					  "'index' AND name = 'accounting_unit_time'"),
			 1);
	/* The v3 rebuild of rules leaves nothing of its scaffolding behind. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name = "
					  "'rules_new'"),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_sequence WHERE name = "
					  "'rules_new'"),
			 0);

	ug_store_close(f->st);
	f->st = NULL;
	/* Reopening, with or without CREATE, must not migrate again (it would fail on
	 * CREATE TABLE) nor reset the seeded counter. */
	assert_int_equal(ug_store_open(f->path, 0, &f->st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL),
			 0);
	assert_int_equal(policy_version(f->st), 2);
	ug_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ug_store_open(f->path, UG_STORE_CREATE, &f->st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9);
	assert_int_equal(policy_version(f->st), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM meta"), 1);
}

static void test_foreign_keys_on(void **state)
{
	struct fixture *f = *state;
	int64_t id;

	/* foreign_keys is per connection, so only the store's own connection can show it is
	 * on: this trigger runs inside the store's INSERT, and the ON DELETE CASCADE then
	 * takes the new rule with its unit. With foreign keys off the rule would stay,
	 * pointing at nothing. */
	raw_exec(f->path, "CREATE TRIGGER drop_unit AFTER INSERT ON rules WHEN NEW.prefix = "
			  "'0.0.0.0/0' BEGIN DELETE FROM units WHERE id = NEW.unit_id; END");
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "0.0.0.0/0", &id),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
	assert_int_equal(ug_store_rule_del(f->st, id), -ENOENT);
}

static void test_missing_grandparent(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], missing[PATH_MAX], err[256] = "";

	snprintf(missing, sizeof(missing), "%s/nope", f->dir);
	snprintf(path, sizeof(path), "%s/nope/state/ug.db", f->dir);
	assert_int_equal(ug_store_open(path, UG_STORE_CREATE, &st, err, sizeof(err)), -ENOENT);
	assert_null(st);
	assert_non_null(strstr(err, "parent directory does not exist"));
	assert_file_absent(missing);
}

static void test_missing_without_create(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], side[PATH_MAX + 8], err[256] = "";

	snprintf(path, sizeof(path), "%s/state/other.db", f->dir);
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), -ENOENT);
	assert_null(st);
	assert_non_null(strstr(err, "does not exist"));
	assert_file_absent(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	assert_file_absent(side);
	snprintf(side, sizeof(side), "%s-journal", path);
	assert_file_absent(side);

	/* Nor does it create a missing directory. */
	snprintf(path, sizeof(path), "%s/elsewhere/ug.db", f->dir);
	assert_int_equal(ug_store_open(path, 0, &st, NULL, 0), -ENOENT);
	assert_null(st);
	snprintf(path, sizeof(path), "%s/elsewhere", f->dir);
	assert_file_absent(path);
}

static void test_newer_version_refused(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char err[256] = "";

	ug_store_close(f->st);
	f->st = NULL;
	raw_exec(f->path, "PRAGMA user_version = 10");
	assert_int_equal(ug_store_open(f->path, 0, &st, err, sizeof(err)), -EPROTO);
	assert_null(st);
	assert_string_equal(err, "store schema version 10 is newer than this build (9)");
	assert_int_equal(ug_store_open(f->path, UG_STORE_CREATE, &st, NULL, 0), -EPROTO);
	assert_null(st);
	/* Refusing must not touch the store. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 10);
}

static void test_not_a_database(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], err[256] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not an sqlite database\n", fp);
	fclose(fp);
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), -EIO);
	assert_null(st);
	assert_string_not_equal(err, "");
}

static void make_v1_store(const char *path, const char *extra_sql);

static int count_rows(const struct ug_store_rule *r, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static bool exists(const char *path, const char *suffix)
{
	char p[PATH_MAX + 16];
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return !stat(p, &sb);
}

/*
 * Issue 10: the read commands open the store read-only. Nothing is created, migrated or
 * written, a missing or empty file stays as it is, and writing through such a handle
 * fails. (A reader without write access to the directory: e2e/readonly.)
 */
static void test_open_readonly(void **state)
{
	struct fixture *f = *state;
	struct ug_store *ro = (struct ug_store *)0x1;
	const struct ug_store_unit unit = { .target = "b.service" };
	char path[PATH_MAX], err[256] = "";
	struct stat sb;
	int64_t v;
	size_t n;
	int rules = 0;
	FILE *fp;

	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL), 0);
	v = policy_version(f->st);
	assert_int_equal(ug_store_open(f->path, UG_STORE_READONLY, &ro, err, sizeof(err)), 0);
	assert_int_equal(ug_store_rules(ro, NULL, count_rows, &rules), 0);
	assert_int_equal(rules, 1);
	assert_int_equal(add_rule(ro, "a.service", "egress", "deny", "10.1.0.0/16", NULL),
			 -EACCES);
	assert_int_equal(ug_store_unit_set(ro, "a.service", "audit", NULL, NULL, NULL), -EACCES);
	/* apply --diff reads through such a handle. */
	assert_int_equal(ug_store_replace_changes(ro, &unit, 1, NULL, 0, UG_REPLACE_DRY_RUN, NULL,
						  NULL, &n),
			 0);
	assert_int_equal(n, 3); /* a.service and its rule go, b.service comes */
	assert_int_equal(ug_store_replace(ro, &unit, 1, NULL, 0), -EACCES);
	ug_store_close(ro);
	assert_int_equal(policy_version(f->st), v);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 1);

	/* Missing: nothing created. */
	snprintf(path, sizeof(path), "%s/state/none.db", f->dir);
	assert_int_equal(ug_store_open(path, UG_STORE_READONLY, &ro, err, sizeof(err)), -ENOENT);
	assert_null(ro);
	assert_file_absent(path);

	/* Empty: left empty, no -wal or -shm beside it. */
	snprintf(path, sizeof(path), "%s/state/empty.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(ug_store_open(path, UG_STORE_READONLY, &ro, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is empty"));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_false(exists(path, "-wal"));
	assert_false(exists(path, "-shm"));

	/* An older schema is not migrated by a reader; an SQLite file that is not a store is
	 * said to be one. */
	snprintf(path, sizeof(path), "%s/state/v1.db", f->dir);
	make_v1_store(path, NULL);
	assert_int_equal(ug_store_open(path, UG_STORE_READONLY, &ro, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "store schema version 1 is older than this build"));
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);
	snprintf(path, sizeof(path), "%s/state/other.db", f->dir);
	{
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
						 SQLITE_OPEN_CREATE, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(ug_store_open(path, UG_STORE_READONLY, &ro, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not a unitguard store"));
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 0);

	/* Newer: refused as by a writer. */
	raw_exec(f->path, "PRAGMA user_version = 99");
	assert_int_equal(ug_store_open(f->path, UG_STORE_READONLY, &ro, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "newer than this build"));

	assert_int_equal(ug_store_open(f->path, UG_STORE_READONLY | UG_STORE_CREATE, &ro, NULL, 0),
			 -EINVAL);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char err[64] = "x";

	assert_int_equal(ug_store_open(NULL, UG_STORE_CREATE, &st, err, sizeof(err)), -EINVAL);
	assert_null(st);
	assert_int_equal(ug_store_open(f->path, 0, NULL, NULL, 0), -EINVAL);
	assert_int_equal(ug_store_open(f->path, 1u << 7, &st, NULL, 0), -EINVAL);
	ug_store_close(NULL);
	assert_non_null(ug_store_errmsg(NULL));
}

/* --- rules ------------------------------------------------------------------------------ */

struct seen_rule {
	int64_t id;
	char target[64], direction[16], action[16], prefix[64], created_at[40];
	char proto[16], comment[64], access[16]; /* "(null)" when NULL */
	uint32_t port_lo, port_hi;
};

struct rule_list {
	struct seen_rule r[16];
	int n;
	int stop_after; /* 0: never */
};

static int collect_rule(const struct ug_store_rule *r, void *ctx)
{
	struct rule_list *l = ctx;
	struct seen_rule *s;

	assert_true(l->n < 16);
	s = &l->r[l->n++];
	s->id = r->id;
	snprintf(s->target, sizeof(s->target), "%s", r->target);
	snprintf(s->direction, sizeof(s->direction), "%s", r->direction);
	snprintf(s->action, sizeof(s->action), "%s", r->action);
	snprintf(s->prefix, sizeof(s->prefix), "%s", r->prefix);
	snprintf(s->created_at, sizeof(s->created_at), "%s", r->created_at);
	snprintf(s->proto, sizeof(s->proto), "%s", r->proto ? r->proto : "(null)");
	snprintf(s->comment, sizeof(s->comment), "%s", r->comment ? r->comment : "(null)");
	snprintf(s->access, sizeof(s->access), "%s", r->access ? r->access : "(null)");
	s->port_lo = r->port_lo;
	s->port_hi = r->port_hi;
	return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

static void test_rule_add_list_del(void **state)
{
	struct fixture *f = *state;
	struct rule_list l = { 0 };
	int64_t a, b, c, d;

	assert_int_equal(add_rule(f->st, "web.service", "egress", "deny", "10.0.0.0/8", &a),
			 0);
	assert_int_equal(add_rule(f->st, "api.service", "ingress", "allow", "2001:db8::/32", &b),
			 0);
	assert_int_equal(add_rule(f->st, "web.service", "bind", "allow", "0.0.0.0/0", &c),
			 0);
	assert_true(a > 0);
	assert_true(b > a);
	assert_true(c > b);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 2);

	assert_int_equal(ug_store_rules(f->st, NULL, collect_rule, &l), 0);
	assert_int_equal(l.n, 3);
	/* By target, then id. */
	assert_int_equal(l.r[0].id, b);
	assert_string_equal(l.r[0].target, "api.service");
	assert_string_equal(l.r[0].direction, "ingress");
	assert_string_equal(l.r[0].action, "allow");
	assert_string_equal(l.r[0].prefix, "2001:db8::/32");
	assert_int_equal(l.r[1].id, a);
	assert_string_equal(l.r[1].target, "web.service");
	assert_string_equal(l.r[1].direction, "egress");
	assert_string_equal(l.r[1].action, "deny");
	assert_string_equal(l.r[1].prefix, "10.0.0.0/8");
	assert_int_equal(l.r[2].id, c);
	assert_string_equal(l.r[2].direction, "bind");
	assert_string_equal(l.r[2].prefix, "0.0.0.0/0");
	for (int i = 0; i < 3; i++) {
		assert_string_equal(l.r[i].proto, "(null)");
		assert_string_equal(l.r[i].comment, "(null)");
		assert_string_equal(l.r[i].access, "(null)");
		assert_int_equal(l.r[i].port_lo, 0);
		assert_int_equal(l.r[i].port_hi, 0);
	}
	/* 2026-11-22T03:29:05.123Z */
	assert_int_equal(strlen(l.r[0].created_at), 24);
	assert_int_equal(l.r[0].created_at[10], 'T');
	assert_int_equal(l.r[0].created_at[23], 'Z');

	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_rules(f->st, "web.service", collect_rule, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.r[0].id, a);
	assert_int_equal(l.r[1].id, c);

	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_rules(f->st, "nobody.service", collect_rule, &l), 0);
	assert_int_equal(l.n, 0);

	/* A non-zero callback return stops the walk and comes back unchanged. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	assert_int_equal(ug_store_rules(f->st, NULL, collect_rule, &l), 42);
	assert_int_equal(l.n, 1);

	/* Deleting the newest rule must not free its id for the next one. */
	assert_int_equal(ug_store_rule_del(f->st, c), 0);
	assert_int_equal(add_rule(f->st, "web.service", "egress", "allow", "10.1.0.0/16", &d),
			 0);
	assert_true(d > c);
	assert_int_equal(ug_store_rule_del(f->st, c), -ENOENT);

	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_rules(f->st, "web.service", collect_rule, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.r[0].id, a);
	assert_int_equal(l.r[1].id, d);
	assert_string_equal(l.r[1].prefix, "10.1.0.0/16");
}

static void test_rule_del_unknown(void **state)
{
	struct fixture *f = *state;
	int64_t id, before;

	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", &id),
			 0);
	before = policy_version(f->st);
	assert_int_equal(ug_store_rule_del(f->st, id + 1000), -ENOENT);
	assert_non_null(strstr(ug_store_errmsg(f->st), "no rule with id"));
	assert_int_equal(policy_version(f->st), before);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 1);
}

static void test_policy_version(void **state)
{
	struct fixture *f = *state;
	int64_t a, b;

	assert_int_equal(policy_version(f->st), 0);
	/* New target: the units row and the rule each bump it. */
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", &a),
			 0);
	assert_int_equal(policy_version(f->st), 2);
	/* Existing target: only the rule. */
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.1.0.0/16", &b),
			 0);
	assert_int_equal(policy_version(f->st), 3);
	assert_int_equal(ug_store_rule_del(f->st, a), 0);
	assert_int_equal(policy_version(f->st), 4);

	/* A raw session bypassing the store is seen too, by this open handle. */
	raw_exec(f->path, "UPDATE rules SET prefix = '10.2.0.0/16'");
	assert_int_equal(policy_version(f->st), 5);
	raw_exec(f->path, "INSERT INTO units (target) VALUES ('b.service')");
	assert_int_equal(policy_version(f->st), 6);
	raw_exec(f->path, "DELETE FROM units WHERE target = 'b.service'");
	assert_int_equal(policy_version(f->st), 7);
}

static void test_check_constraint(void **state)
{
	struct fixture *f = *state;
	int64_t id = -7;

	assert_int_equal(add_rule(f->st, "new.service", "sideways", "deny", "10.0.0.0/8", &id),
			 -EINVAL);
	assert_int_equal(id, -7);
	assert_non_null(strstr(ug_store_errmsg(f->st), "CHECK constraint failed"));
	/* The units row inserted before the failing rule went with the rollback. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
	assert_int_equal(policy_version(f->st), 0);

	assert_int_equal(add_rule(f->st, "new.service", "egress", "maybe", "10.0.0.0/8", &id),
			 -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(policy_version(f->st), 0);

	/* The store is still usable: no transaction was left open. */
	assert_int_equal(add_rule(f->st, "new.service", "egress", "deny", "10.0.0.0/8", &id),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 1);
}

static void test_busy(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = raw_open(f->path);
	int64_t v;

	sqlite3_busy_timeout(db, 0);
	/* Holding the write lock: the store's reads still work (WAL), its writes wait out the
	 * 5 s busy timeout and then give up. */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(ug_store_policy_version(f->st, &v), 0);
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL),
			 -EBUSY);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL),
			 0);
}

/* --- audit ------------------------------------------------------------------------------ */

struct audit_list {
	struct ug_audit_row rows[8];
	char *strs[8][12];
	char time[8][40];
	int64_t id[8];
	int n;
};

static const char *keep(struct audit_list *l, int i, int j, const char *s)
{
	if (!s)
		return NULL;
	l->strs[i][j] = strdup(s);
	assert_non_null(l->strs[i][j]);
	return l->strs[i][j];
}

static int collect_audit(const struct ug_store_audit *a, void *ctx)
{
	struct audit_list *l = ctx;
	struct ug_audit_row *r;
	int i = l->n++;

	assert_true(i < 8);
	l->id[i] = a->id;
	snprintf(l->time[i], sizeof(l->time[i]), "%s", a->time);
	r = &l->rows[i];
	*r = a->row;
	r->unit = keep(l, i, 0, a->row.unit);
	r->comm = keep(l, i, 1, a->row.comm);
	r->family = keep(l, i, 2, a->row.family);
	r->protocol = keep(l, i, 3, a->row.protocol);
	r->address = keep(l, i, 4, a->row.address);
	r->hook = keep(l, i, 5, a->row.hook);
	r->direction = keep(l, i, 6, a->row.direction);
	r->verdict = keep(l, i, 7, a->row.verdict);
	r->path = keep(l, i, 8, a->row.path);
	r->exe = keep(l, i, 9, a->row.exe);
	r->detail = keep(l, i, 10, a->row.detail);
	return 0;
}

static void audit_list_free(struct audit_list *l)
{
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 12; j++)
			free(l->strs[i][j]);
	memset(l, 0, sizeof(*l));
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static void assert_row_equal(const struct ug_audit_row *got, const struct ug_audit_row *want)
{
	assert_int_equal(got->time_us, want->time_us);
	assert_str_or_null(got->unit, want->unit);
	assert_int_equal(got->cgroup_id, want->cgroup_id);
	assert_int_equal(got->pid, want->pid);
	assert_int_equal(got->uid, want->uid);
	assert_str_or_null(got->comm, want->comm);
	assert_str_or_null(got->family, want->family);
	assert_str_or_null(got->protocol, want->protocol);
	assert_str_or_null(got->address, want->address);
	assert_int_equal(got->port, want->port);
	assert_str_or_null(got->hook, want->hook);
	assert_str_or_null(got->direction, want->direction);
	assert_str_or_null(got->verdict, want->verdict);
	assert_int_equal(got->rule_id, want->rule_id);
	assert_int_equal(got->generation, want->generation);
	assert_str_or_null(got->path, want->path);
	assert_str_or_null(got->exe, want->exe);
	assert_str_or_null(got->detail, want->detail);
}

static const struct ug_audit_row audit_rows[] = {
	{
		.time_us = T0_SEC * 1000000 + 123456,
		.unit = "web.service",
		.cgroup_id = 4242,
		.pid = 1234,
		.uid = 33,
		.comm = "curl",
		.family = "ipv4",
		.protocol = "tcp",
		.address = "10.1.2.3",
		.port = 443,
		.hook = "connect4",
		.direction = "egress",
		.verdict = "deny",
		.rule_id = 7,
		.generation = 3,
	},
	{
		/* The default posture decided, no comm, and a cgroup id past INT64_MAX and a uid
		 * past INT32_MAX to show the casts round-trip. */
		.time_us = T0_SEC * 1000000 + 5,
		.unit = "api.service",
		.cgroup_id = UINT64_MAX - 1,
		.pid = UINT32_MAX,
		.uid = 4294967294u,
		.family = "ipv6",
		.protocol = "udp",
		.address = "2001:db8::1",
		.port = 53,
		.hook = "sendmsg6",
		.direction = "egress",
		.verdict = "audit",
		.rule_id = 0,
		.generation = UINT32_MAX,
	},
	{
		/* Before the epoch: the fraction must still be positive. */
		.time_us = -1,
		.unit = "web.service",
		.protocol = "132",
		.verdict = "deny",
	},
};

static const char *const audit_times[] = {
	"2026-11-22T03:29:05.123456Z",
	"2026-11-22T03:29:05.000005Z",
	"1969-12-31T23:59:59.999999Z",
};

static void test_audit_round_trip(void **state)
{
	struct fixture *f = *state;
	struct audit_list l = { 0 };
	int64_t before = policy_version(f->st);

	assert_int_equal(ug_store_audit_insert(f->st, audit_rows, 3), 0);
	assert_int_equal(ug_store_audit_insert(f->st, audit_rows, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE rule_id IS NULL"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE comm IS NULL"), 2);
	/* Audit is not policy. */
	assert_int_equal(policy_version(f->st), before);

	assert_int_equal(ug_store_audit_list(f->st, NULL, collect_audit, &l), 0);
	assert_int_equal(l.n, 3);
	for (int i = 0; i < 3; i++) {
		if (i)
			assert_true(l.id[i] > l.id[i - 1]);
		assert_string_equal(l.time[i], audit_times[i]);
		assert_row_equal(&l.rows[i], &audit_rows[i]);
	}
	audit_list_free(&l);

	assert_int_equal(ug_store_audit_list(f->st, "web.service", collect_audit, &l), 0);
	assert_int_equal(l.n, 2);
	assert_row_equal(&l.rows[0], &audit_rows[0]);
	assert_row_equal(&l.rows[1], &audit_rows[2]);
	audit_list_free(&l);

	assert_int_equal(ug_store_audit_list(f->st, "nobody.service", collect_audit, &l), 0);
	assert_int_equal(l.n, 0);
}

static void test_audit_all_or_none(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[3] = { audit_rows[0], audit_rows[1], audit_rows[0] };

	/* The audit table has no constraint to trip, so an operator-style trigger makes the
	 * second row fail after the first was written. */
	raw_exec(f->path, "CREATE TRIGGER boom BEFORE INSERT ON audit WHEN NEW.unit = 'boom' "
			  "BEGIN SELECT RAISE(ABORT, 'boom'); END");
	rows[1].unit = "boom";
	assert_int_equal(ug_store_audit_insert(f->st, rows, 3), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "boom"));
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 0);

	rows[1].unit = "fine.service";
	assert_int_equal(ug_store_audit_insert(f->st, rows, 3), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 3);
}

static void test_lost_add(void **state)
{
	struct fixture *f = *state;
	char *t;

	assert_int_equal(ug_store_lost_add(f->st, T0_SEC * 1000000 + 7, 17, NULL, "a.service"), 0);
	assert_int_equal(ug_store_lost_add(f->st, T0_SEC * 1000000 + 8, 1, "store", NULL), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events"), 2);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM lost_events"), 18);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events WHERE kind = 'store'"),
			 1);
	assert_int_equal(raw_int(f->path, "SELECT count FROM lost_events WHERE kind = 'ringbuf'"),
			 17);
	assert_int_equal(raw_int(f->path, "SELECT time_us FROM lost_events ORDER BY id LIMIT 1"),
			 T0_SEC * 1000000 + 7);
	t = raw_text(f->path, "SELECT time FROM lost_events ORDER BY id LIMIT 1");
	assert_string_equal(t, "2026-11-22T03:29:05.000007Z");
	free(t);

	assert_int_equal(ug_store_lost_add(f->st, 0, UINT64_MAX, NULL, NULL), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events"), 2);
}

/* --- schema v2: migration ------------------------------------------------------------------ */

/* migrations[0] of db/schema.c as v1 shipped it, copied so a v1 store can be built without the
 * store's help. Do not edit: it must stay what v1 wrote. */
static const char v1_schema[] =
	"CREATE TABLE meta (\n"
	"	key TEXT PRIMARY KEY,\n"
	"	value INTEGER NOT NULL\n"
	");\n"
	"INSERT INTO meta (key, value) VALUES ('policy_version', 0);\n"
	"CREATE TABLE units (\n"
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"	target TEXT NOT NULL UNIQUE,\n"
	"	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
	");\n"
	"CREATE TABLE rules (\n"
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"	unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,\n"
	"	direction TEXT NOT NULL CHECK (direction IN ('egress', 'ingress', 'bind')),\n"
	"	action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),\n"
	"	prefix TEXT NOT NULL,\n"
	"	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
	");\n"
	"CREATE INDEX rules_unit_id ON rules (unit_id);\n"
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
	"CREATE TABLE lost_events (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	count INTEGER NOT NULL\n"
	");\n"
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
	"PRAGMA user_version = 1;\n";

/* A v1 store at path, as a v1 agent left it: WAL, one unit with one rule, one audit row. */
static void make_v1_store(const char *path, const char *extra_sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
			 SQLITE_OK);
	if (sqlite3_exec(db, v1_schema, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("v1 schema: %s", msg ? msg : "?");
	if (sqlite3_exec(db,
			 "INSERT INTO units (target) VALUES ('web.service');\n"
			 "INSERT INTO rules (unit_id, direction, action, prefix)\n"
			 "	SELECT id, 'egress', 'deny', '10.0.0.0/8' FROM units;\n"
			 "INSERT INTO audit (time, time_us, unit, verdict, rule_id)\n"
			 "	VALUES ('2026-11-22T03:29:05.000000Z', 1795318145000000,\n"
			 "		'web.service', 'deny', 1);\n",
			 NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("v1 rows: %s", msg ? msg : "?");
	if (extra_sql && sqlite3_exec(db, extra_sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", extra_sql, msg ? msg : "?");
	sqlite3_close(db);
}

struct seen_unit {
	int64_t id;
	char target[64], mode[16], egress[16], ingress[16], harden[64];
};

struct unit_list {
	struct seen_unit u[16];
	int n;
	int stop_after; /* 0: never */
};

static int collect_unit(const struct ug_store_unit *u, void *ctx)
{
	struct unit_list *l = ctx;
	struct seen_unit *s;

	assert_true(l->n < 16);
	s = &l->u[l->n++];
	s->id = u->id;
	snprintf(s->target, sizeof(s->target), "%s", u->target);
	snprintf(s->mode, sizeof(s->mode), "%s", u->mode);
	snprintf(s->egress, sizeof(s->egress), "%s", u->default_egress);
	snprintf(s->ingress, sizeof(s->ingress), "%s", u->default_ingress);
	snprintf(s->harden, sizeof(s->harden), "%s", u->harden ? u->harden : "(null)");
	return l->stop_after && l->n == l->stop_after ? 43 : 0;
}

static void assert_unit_harden(const struct seen_unit *u, const char *target, const char *mode,
			       const char *egress, const char *ingress, const char *harden)
{
	assert_string_equal(u->target, target);
	assert_string_equal(u->mode, mode);
	assert_string_equal(u->egress, egress);
	assert_string_equal(u->ingress, ingress);
	assert_string_equal(u->harden, harden);
}

/* A unit without hardening, which is what every unit before v3 had. */
static void assert_unit(const struct seen_unit *u, const char *target, const char *mode,
			const char *egress, const char *ingress)
{
	assert_unit_harden(u, target, mode, egress, ingress, "");
}

static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_rule_spec ssh = {
		.target = "web.service", .direction = "egress", .action = "allow",
		.prefix = "10.1.0.0/16", .proto = "tcp", .port_lo = 22, .port_hi = 22,
		.comment = "ssh",
	};
	const struct ug_store_rule_spec bad = {
		.target = "web.service", .direction = "egress", .action = "allow",
		.prefix = "10.1.0.0/16", .proto = "icmp", .port_lo = 22, .port_hi = 22,
	};
	struct rule_list l = { 0 };
	struct unit_list ul = { 0 };
	struct ug_store *st = NULL;
	char path[PATH_MAX], err[256] = "";
	int64_t id;

	snprintf(path, sizeof(path), "%s/v1.db", f->dir);
	make_v1_store(path, NULL);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(path, "SELECT value FROM meta"), 2);

	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	/* Adding columns and rebuilding rules are not policy changes. */
	assert_int_equal(policy_version(st), 2);

	assert_int_equal(ug_store_rules(st, NULL, collect_rule, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.r[0].id, 1);
	assert_string_equal(l.r[0].target, "web.service");
	assert_string_equal(l.r[0].direction, "egress");
	assert_string_equal(l.r[0].action, "deny");
	assert_string_equal(l.r[0].prefix, "10.0.0.0/8");
	assert_string_equal(l.r[0].proto, "(null)");
	assert_int_equal(l.r[0].port_lo, 0);
	assert_int_equal(l.r[0].port_hi, 0);
	assert_string_equal(l.r[0].comment, "(null)");
	assert_int_equal(ug_store_units(st, collect_unit, &ul), 0);
	assert_int_equal(ul.n, 1);
	assert_unit(&ul.u[0], "web.service", "enforce", "allow", "allow");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM audit WHERE rule_id = 1"), 1);
	/* v7 counted the rows the store had per unit. */
	assert_int_equal(raw_int(path, "SELECT rows FROM audit_units WHERE unit = 'web.service'"),
			 1);

	/* The v2 columns, triggers and tables work on the migrated store. */
	assert_int_equal(ug_store_rule_add(st, &ssh, &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(ug_store_rule_add(st, &bad, NULL), -EINVAL);
	assert_int_equal(ug_store_agent_set(st, "pid", "1"), 0);
	assert_int_equal(ug_store_generation_add(st, 1, T0_SEC * 1000000, 3, 1), 0);
	assert_int_equal(policy_version(st), 3);
	ug_store_close(st);
	st = NULL;

	/* Reopening does not migrate again. */
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM rules"), 2);
	assert_int_equal(policy_version(st), 3);
	ug_store_close(st);
}

static void test_migration_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], err[256] = "";

	/* An operator's own "status" table makes the v2 CREATE TABLE fail after its ALTERs. */
	snprintf(path, sizeof(path), "%s/v1.db", f->dir);
	make_v1_store(path, "CREATE TABLE status (x)");
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), -EIO);
	assert_null(st);
	assert_non_null(strstr(err, "migrate schema"));
	assert_non_null(strstr(err, "status"));
	/* None of the migration stayed. */
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('units') WHERE "
				       "name = 'mode'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('rules') WHERE "
				       "name = 'proto'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
				       "'trigger'"),
			 6);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM rules"), 1);

	raw_exec(path, "DROP TABLE status");
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	ug_store_close(st);
}

/* --- schema v2: rules with proto, ports, comment ------------------------------------------- */

static const struct ug_store_rule_spec v2_specs[] = {
	{ .target = "web.service", .direction = "egress", .action = "allow",
	  .prefix = "10.0.0.0/8", .proto = "tcp", .port_lo = 443, .port_hi = 443,
	  .comment = "https" },
	{ .target = "web.service", .direction = "egress", .action = "deny",
	  .prefix = "0.0.0.0/0", .proto = "udp", .port_lo = 1, .port_hi = 65535 },
	{ .target = "web.service", .direction = "egress", .action = "allow",
	  .prefix = "192.0.2.0/24", .proto = "icmp", .comment = "ping" },
	/* Ports with any protocol. */
	{ .target = "web.service", .direction = "ingress", .action = "allow", .prefix = "::/0",
	  .port_lo = 8000, .port_hi = 8080, .comment = "alt http" },
	/* An empty comment is not NULL. */
	{ .target = "web.service", .direction = "bind", .action = "allow",
	  .prefix = "0.0.0.0/0", .comment = "" },
};
#define N_V2_SPECS (sizeof(v2_specs) / sizeof(v2_specs[0]))

static void assert_rule_is(const struct seen_rule *r, const struct ug_store_rule_spec *s)
{
	assert_string_equal(r->target, s->target);
	assert_string_equal(r->direction, s->direction);
	assert_string_equal(r->action, s->action);
	assert_string_equal(r->prefix, s->prefix);
	assert_string_equal(r->proto, s->proto ? s->proto : "(null)");
	assert_int_equal(r->port_lo, s->port_lo);
	assert_int_equal(r->port_hi, s->port_hi);
	assert_string_equal(r->comment, s->comment ? s->comment : "(null)");
	assert_string_equal(r->access, s->access ? s->access : "(null)");
}

static void test_rule_spec_round_trip(void **state)
{
	struct fixture *f = *state;
	struct rule_list l = { 0 };
	int64_t ids[N_V2_SPECS];

	for (size_t i = 0; i < N_V2_SPECS; i++)
		assert_int_equal(ug_store_rule_add(f->st, &v2_specs[i], &ids[i]), 0);
	assert_int_equal(ug_store_rules(f->st, "web.service", collect_rule, &l), 0);
	assert_int_equal(l.n, N_V2_SPECS);
	for (size_t i = 0; i < N_V2_SPECS; i++) {
		assert_int_equal(l.r[i].id, ids[i]);
		assert_rule_is(&l.r[i], &v2_specs[i]);
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE proto IS NULL"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE comment IS NULL"), 1);
}

static void test_rule_spec_rejected(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *proto;
		uint32_t lo, hi;
		const char *msg;
	} bad[] = {
		{ "tcp", 443, 80, "port_hi must not be below port_lo" },
		{ "tcp", 80, 0, "port_hi must not be below port_lo" },
		{ "icmp", 80, 80, "ports need proto tcp, udp or any" },
		{ NULL, 0, 80, "port_hi must be 0 when port_lo is 0" },
		{ "udp", 0, 53, "port_hi must be 0 when port_lo is 0" },
		{ "sctp", 0, 0, "CHECK constraint failed" },
		{ "TCP", 0, 0, "CHECK constraint failed" },
		{ "tcp", 70000, 70000, "CHECK constraint failed" },
		{ "tcp", 1, 65536, "CHECK constraint failed" },
	};
	struct ug_store_rule_spec spec = {
		.target = "new.service", .direction = "egress", .action = "deny",
		.prefix = "10.0.0.0/8", .comment = "x",
	};
	int64_t id = -7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec.proto = bad[i].proto;
		spec.port_lo = bad[i].lo;
		spec.port_hi = bad[i].hi;
		assert_int_equal(ug_store_rule_add(f->st, &spec, &id), -EINVAL);
		assert_int_equal(id, -7);
		if (!strstr(ug_store_errmsg(f->st), bad[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ug_store_errmsg(f->st),
				 bad[i].msg);
		/* Not even the units row the rule would have created. */
		assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
		assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
		assert_int_equal(policy_version(f->st), 0);
	}

	/* Incomplete specs never reach sqlite. */
	assert_int_equal(ug_store_rule_add(f->st, NULL, &id), -EINVAL);
	spec = (struct ug_store_rule_spec){ .target = "new.service", .direction = "egress",
					    .action = "deny" };
	assert_int_equal(ug_store_rule_add(f->st, &spec, &id), -EINVAL);
	assert_int_equal(id, -7);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);

	/* A rejected rule for an existing unit leaves that unit and its rules alone. */
	assert_int_equal(ug_store_rule_add(f->st, &v2_specs[0], &id), 0);
	spec = v2_specs[0];
	spec.port_hi = 1;
	assert_int_equal(ug_store_rule_add(f->st, &spec, NULL), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 1);
	assert_int_equal(policy_version(f->st), 2);
}

/* sqlite3_exec's result for sql on a fresh connection; its message goes to msg. */
static int raw_rc(const char *path, const char *sql, char *msg, size_t len)
{
	sqlite3 *db = raw_open(path);
	char *m = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &m);

	snprintf(msg, len, "%s", m ? m : "");
	sqlite3_free(m);
	sqlite3_close(db);
	return rc;
}

/* harden must be a comma list of known switches, whoever writes it (issue 21:
 * "bpf,ptrace " once reset every setting of the unit in the agent). */
static void test_harden_trigger_raw(void **state)
{
	static const char *const bad[] = { "bpf,ptrace ", "bpf,,ptrace", ",bpf", "bpf,", "kexec",
					   "BPF", " " };
	static const char *const good[] = { "", "bpf", "bpf,bpf", "module-load,path-view,mount",
					    "ptrace,bpf,ptrace" };
	struct fixture *f = *state;
	char msg[256], sql[128];

	raw_exec(f->path, "INSERT INTO units (target) VALUES ('h.service')");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE units SET harden = '%s'", bad[i]);
		assert_int_equal(raw_rc(f->path, sql, msg, sizeof(msg)), SQLITE_CONSTRAINT);
		assert_non_null(strstr(msg, "harden must be a comma list"));
		snprintf(sql, sizeof(sql), "INSERT INTO units (target, harden) VALUES ('i.service', "
			 "'%s')", bad[i]);
		assert_int_equal(raw_rc(f->path, sql, msg, sizeof(msg)), SQLITE_CONSTRAINT);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE units SET harden = '%s'", good[i]);
		assert_int_equal(raw_rc(f->path, sql, msg, sizeof(msg)), SQLITE_OK);
	}
}

static void test_port_triggers_raw(void **state)
{
	struct fixture *f = *state;
	char msg[256];
	int64_t id, v;

	/* The consistency triggers hold against an operator's raw session too. */
	assert_int_equal(ug_store_rule_add(f->st, &v2_specs[0], &id), 0);
	v = policy_version(f->st);
	assert_int_equal(raw_rc(f->path, "UPDATE rules SET proto = 'icmp'", msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "ports need proto"));
	assert_int_equal(raw_rc(f->path, "UPDATE rules SET port_hi = 10", msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "below port_lo"));
	assert_int_equal(raw_rc(f->path, "UPDATE rules SET port_lo = 0", msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_int_equal(raw_rc(f->path, "UPDATE rules SET port_lo = 1.5", msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "integers"));
	assert_int_equal(raw_rc(f->path,
				"INSERT INTO rules (unit_id, direction, action, prefix, port_lo, "
				"port_hi) SELECT id, 'egress', 'deny', '::/0', 'x', 'x' FROM units",
				msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_int_equal(policy_version(f->st), v);
	assert_int_equal(raw_int(f->path, "SELECT port_lo * 100000 + port_hi FROM rules"),
			 443 * 100000 + 443);

	/* Consistent changes pass; text digits get INTEGER affinity before the trigger. */
	raw_exec(f->path, "UPDATE rules SET proto = 'icmp', port_lo = 0, port_hi = 0");
	raw_exec(f->path, "INSERT INTO rules (unit_id, direction, action, prefix, proto, "
			  "port_lo, port_hi) SELECT id, 'egress', 'deny', '::/0', 'udp', '53', "
			  "'54' FROM units");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE typeof(port_lo) = "
					  "'integer' AND port_hi = 54"),
			 1);
	assert_int_equal(policy_version(f->st), v + 2);
}

/* --- units ----------------------------------------------------------------------------------- */

static void test_unit_set(void **state)
{
	struct fixture *f = *state;
	struct unit_list l = { 0 };
	int64_t v;

	/* New, all NULL: the defaults. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_int_equal(l.n, 1);
	assert_unit(&l.u[0], "a.service", "enforce", "allow", "allow");
	v = policy_version(f->st);
	assert_int_equal(v, 1);

	/* Nothing to change: no write, no bump. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "enforce", "allow", NULL, NULL), 0);
	assert_int_equal(policy_version(f->st), v);

	/* NULL keeps what is there. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "audit", NULL, NULL, NULL), 0);
	assert_int_equal(policy_version(f->st), v + 1);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, "deny", NULL, NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, "deny", NULL), 0);
	assert_int_equal(policy_version(f->st), v + 3);
	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_unit(&l.u[0], "a.service", "audit", "deny", "deny");

	/* Adding a rule keeps the unit's settings. */
	assert_int_equal(add_rule(f->st, "a.service", "egress", "allow", "10.0.0.0/8", NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "off", NULL, "allow", NULL), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_unit(&l.u[0], "a.service", "off", "deny", "allow");

	/* New, everything given. */
	assert_int_equal(ug_store_unit_set(f->st, "b.service", "audit", "deny", "deny", NULL), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_int_equal(l.n, 2);
	assert_unit(&l.u[1], "b.service", "audit", "deny", "deny");

	/* A bad value writes nothing: not the new row, not the other fields. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_unit_set(f->st, "c.service", "loud", NULL, NULL, NULL), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "CHECK constraint failed"));
	assert_int_equal(ug_store_unit_set(f->st, "b.service", "enforce", "maybe", NULL, NULL),
			 -EINVAL);
	assert_int_equal(ug_store_unit_set(f->st, NULL, "audit", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(policy_version(f->st), v);
	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_int_equal(l.n, 2);
	assert_unit(&l.u[1], "b.service", "audit", "deny", "deny");
}

static void test_units_listing(void **state)
{
	struct fixture *f = *state;
	struct unit_list l = { 0 };
	int64_t a_id;

	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_int_equal(l.n, 0);

	assert_int_equal(add_rule(f->st, "web.service", "egress", "deny", "10.0.0.0/8", NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "api.service", "audit", NULL, NULL, NULL), 0);
	raw_exec(f->path, "INSERT INTO units (target, default_egress) VALUES ('b.slice', 'deny')");
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0);
	assert_int_equal(l.n, 3);
	assert_unit(&l.u[0], "api.service", "audit", "allow", "allow");
	assert_unit(&l.u[1], "b.slice", "enforce", "deny", "allow");
	assert_unit(&l.u[2], "web.service", "enforce", "allow", "allow");
	a_id = raw_int(f->path, "SELECT id FROM units WHERE target = 'api.service'");
	assert_int_equal(l.u[0].id, a_id);

	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(ug_store_units(f->st, collect_unit, &l), 43);
	assert_int_equal(l.n, 2);
	assert_int_equal(ug_store_units(f->st, NULL, NULL), -EINVAL);
}

/* --- replace --------------------------------------------------------------------------------- */

/* Every units and rules row, ids included, as one string. Caller frees. */
static char *policy_dump(const char *path)
{
	return raw_text(path,
			"SELECT ifnull((SELECT group_concat(x, ';') FROM (SELECT quote(id) || ',' "
			"|| target || ',' || mode || ',' || default_egress || ',' || "
			"default_ingress || ',' || quote(harden) AS x FROM units ORDER BY id)), "
			"'') || ' | ' || ifnull((SELECT group_concat(x, ';') FROM (SELECT id || "
			"',' || unit_id || ',' || direction || ',' || action || ',' || prefix || "
			"',' || quote(proto) || ',' || port_lo || ',' || port_hi || ',' || "
			"quote(comment) || ',' || quote(access) AS x FROM rules ORDER BY id)), "
			"'')");
}

static void seed_policy(struct fixture *f)
{
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL), 0);
	assert_int_equal(ug_store_rule_add(f->st, &v2_specs[0], NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "audit", "deny", NULL, NULL), 0);
	assert_int_equal(ug_store_unit_set(f->st, "idle.service", NULL, NULL, "deny", NULL), 0);
}

static void test_replace(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_unit units[] = {
		{ .target = "b.service", .mode = "audit", .default_egress = "deny" },
		{ .target = "c.service" },
		/* id is ignored; NULL fields get the defaults, not a.service's old settings. */
		{ .id = 999, .target = "a.service", .default_ingress = "deny" },
	};
	const struct ug_store_rule_spec rules[] = {
		{ .target = "b.service", .direction = "egress", .action = "allow",
		  .prefix = "10.0.0.0/8", .proto = "tcp", .port_lo = 22, .port_hi = 22,
		  .comment = "ssh" },
		/* Not in units[]: created with the defaults. */
		{ .target = "d.service", .direction = "ingress", .action = "deny",
		  .prefix = "::/0" },
		{ .target = "a.service", .direction = "egress", .action = "allow",
		  .prefix = "0.0.0.0/0", .proto = "udp", .port_lo = 53, .port_hi = 53 },
		{ .target = "b.service", .direction = "bind", .action = "deny",
		  .prefix = "0.0.0.0/0" },
	};
	struct unit_list ul = { 0 };
	struct rule_list rl = { 0 };
	int64_t v, old_max_rule;

	seed_policy(f);
	old_max_rule = raw_int(f->path, "SELECT max(id) FROM rules");
	v = policy_version(f->st);

	assert_int_equal(ug_store_replace(f->st, units, 3, rules, 4), 0);
	assert_true(policy_version(f->st) > v);

	assert_int_equal(ug_store_units(f->st, collect_unit, &ul), 0);
	assert_int_equal(ul.n, 4);
	assert_unit(&ul.u[0], "a.service", "enforce", "allow", "deny");
	assert_int_not_equal(ul.u[0].id, 999);
	assert_unit(&ul.u[1], "b.service", "audit", "deny", "allow");
	assert_unit(&ul.u[2], "c.service", "enforce", "allow", "allow");
	assert_unit(&ul.u[3], "d.service", "enforce", "allow", "allow");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units WHERE target = "
					  "'idle.service'"),
			 0);

	assert_int_equal(ug_store_rules(f->st, NULL, collect_rule, &rl), 0);
	assert_int_equal(rl.n, 4);
	assert_rule_is(&rl.r[0], &rules[2]);
	assert_rule_is(&rl.r[1], &rules[0]);
	assert_rule_is(&rl.r[2], &rules[3]);
	assert_rule_is(&rl.r[3], &rules[1]);
	/* Old ids are not handed out again. */
	for (int i = 0; i < rl.n; i++)
		assert_true(rl.r[i].id > old_max_rule);

	/* Replacing with nothing empties the policy. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_replace(f->st, NULL, 0, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
	assert_true(policy_version(f->st) > v);

	/* Units only. */
	assert_int_equal(ug_store_replace(f->st, units, 1, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 1);
}

static void test_replace_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct ug_store_unit units[] = {
		{ .target = "b.service", .mode = "audit" },
		{ .target = "c.service" },
	};
	struct ug_store_rule_spec rules[] = {
		{ .target = "b.service", .direction = "egress", .action = "allow",
		  .prefix = "10.0.0.0/8" },
		{ .target = "e.service", .direction = "egress", .action = "allow",
		  .prefix = "10.0.0.0/8", .proto = "icmp", .port_lo = 7, .port_hi = 7 },
		{ .target = "c.service", .direction = "ingress", .action = "deny",
		  .prefix = "::/0" },
	};
	char *before, *after;
	int64_t v;

	seed_policy(f);
	before = policy_dump(f->path);
	v = policy_version(f->st);

#define ASSERT_UNCHANGED()                                      \
	do {                                                    \
		after = policy_dump(f->path);                   \
		assert_string_equal(after, before);             \
		free(after);                                    \
		assert_int_equal(policy_version(f->st), v);     \
	} while (0)

	/* A bad rule in the middle, after the DELETEs and the first inserts. */
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "rules[1]"));
	assert_non_null(strstr(ug_store_errmsg(f->st), "ports need proto"));
	ASSERT_UNCHANGED();

	/* The last rule bad. */
	rules[1].proto = "tcp";
	rules[2].direction = "sideways";
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "rules[2]"));
	ASSERT_UNCHANGED();
	rules[2].direction = "ingress";

	/* A bad unit. */
	units[1].default_ingress = "maybe";
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "units[1]"));
	ASSERT_UNCHANGED();
	units[1].default_ingress = NULL;

	/* A unit listed twice. */
	units[1].target = "b.service";
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "listed twice"));
	ASSERT_UNCHANGED();

	/* Incomplete input, refused before the transaction. */
	units[1].target = NULL;
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	units[1].target = "c.service";
	rules[0].prefix = NULL;
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), -EINVAL);
	rules[0].prefix = "10.0.0.0/8";
	assert_int_equal(ug_store_replace(f->st, NULL, 1, rules, 3), -EINVAL);
	assert_int_equal(ug_store_replace(f->st, units, 2, NULL, 3), -EINVAL);
	ASSERT_UNCHANGED();
#undef ASSERT_UNCHANGED

	/* No transaction was left open: the fixed input goes through. */
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 3), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 3);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 3);
	free(before);
}

/* What ug_store_replace_changes reported, one line per change. */
struct change_log {
	char text[32][160];
	int64_t ids[32];
	int n;
};

static int log_change(const struct ug_store_change *c, void *ctx)
{
	static const char *const kinds[] = { "unit+", "unit-", "unit~", "rule+", "rule-",
					     "comment~" };
	struct change_log *l = ctx;

	assert_true(l->n < 32);
	l->ids[l->n] = c->rule_id;
	snprintf(l->text[l->n++], sizeof(l->text[0]), "%s %s%s%s%s%s%s%s%s%s", kinds[c->kind],
		 c->target, c->field ? " " : "", c->field ?: "", c->rule ? " " : "",
		 c->rule ? c->rule->direction : "", c->rule ? " " : "",
		 c->rule ? c->rule->prefix : "",
		 c->old_value || c->new_value ? " " : "",
		 c->old_value || c->new_value ? "~" : "");
	if (c->old_value || c->new_value) {
		size_t n = strlen(l->text[l->n - 1]);

		snprintf(l->text[l->n - 1] + n - 1, sizeof(l->text[0]) - n + 1, "%s>%s",
			 c->old_value ?: "NULL", c->new_value ?: "NULL");
	}
	return 0;
}

static int64_t rule_id_of(const char *path, const char *target, const char *prefix,
			  const char *proto_sql)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT ifnull(min(r.id), 0) FROM rules r JOIN units u ON u.id = r.unit_id "
		 "WHERE u.target = '%s' AND r.prefix = '%s' AND r.proto %s",
		 target, prefix, proto_sql);
	return raw_int(path, sql);
}

/*
 * Issue 10: an apply keeps the ids of the rules it does not change (audit rows and rule
 * hits name them), writes only the difference, and an identical input writes nothing.
 */
static void test_replace_keeps_ids(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_rule_spec seed[] = {
		{ .target = "a.service", .direction = "egress", .action = "deny",
		  .prefix = "10.0.0.0/8", .comment = "x" },
		{ .target = "a.service", .direction = "ingress", .action = "deny",
		  .prefix = "::/0" },
		{ .target = "b.service", .direction = "bind", .action = "deny",
		  .prefix = "0.0.0.0/0" },
		{ .target = "a.service", .direction = "file", .action = "deny",
		  .prefix = "/etc/shadow", .access = "read" },
	};
	const struct ug_store_unit same_units[] = {
		{ .target = "b.service" },
		{ .target = "a.service", .mode = "audit", .harden = "" },
	};
	/* The same rules in another order. */
	const struct ug_store_rule_spec same[] = { seed[3], seed[2], seed[0], seed[1] };
	const struct ug_store_unit units[] = {
		{ .target = "a.service" },
		{ .target = "b.service" },
		{ .target = "c.service", .default_egress = "deny" },
	};
	const struct ug_store_rule_spec rules[] = {
		/* seed[0] with another comment: the same rule. */
		{ .target = "a.service", .direction = "egress", .action = "deny",
		  .prefix = "10.0.0.0/8", .comment = "y" },
		/* seed[0] for TCP only: another rule. */
		{ .target = "a.service", .direction = "egress", .action = "deny",
		  .prefix = "10.0.0.0/8", .proto = "tcp" },
		/* seed[2] twice: one is the stored one, the other new. */
		seed[2], seed[2],
		/* seed[3] with another access: another rule. */
		{ .target = "a.service", .direction = "file", .action = "deny",
		  .prefix = "/etc/shadow", .access = "any" },
		{ .target = "c.service", .direction = "egress", .action = "allow",
		  .prefix = "10.1.0.0/16" },
	};
	static const char *const want[] = {
		"unit~ a.service mode audit>enforce",
		"rule- a.service ingress ::/0",
		"rule- a.service file /etc/shadow",
		"comment~ a.service egress 10.0.0.0/8 x>y",
		"rule+ a.service egress 10.0.0.0/8",
		"rule+ a.service file /etc/shadow",
		"rule+ b.service bind 0.0.0.0/0",
		"unit+ c.service",
		"unit~ c.service default-egress NULL>deny",
		"rule+ c.service egress 10.1.0.0/16",
	};
	struct change_log log = { 0 }, dry = { 0 };
	int64_t ids[4], a_id, v, max_id;
	char *before, *after, *created;
	size_t n = 99;

	for (int i = 0; i < 4; i++)
		assert_int_equal(ug_store_rule_add(f->st, &seed[i], &ids[i]), 0);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "audit", NULL, NULL, NULL), 0);
	a_id = raw_int(f->path, "SELECT id FROM units WHERE target = 'a.service'");
	created = raw_text(f->path, "SELECT group_concat(created_at) FROM rules");

	/* Identical input, in another order: nothing written, no change reported. */
	before = policy_dump(f->path);
	v = policy_version(f->st);
	assert_int_equal(ug_store_replace_changes(f->st, same_units, 2, same, 4, 0, log_change,
						  &log, &n),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(policy_version(f->st), v);
	after = policy_dump(f->path);
	assert_string_equal(after, before);
	free(after);
	after = raw_text(f->path, "SELECT group_concat(created_at) FROM rules");
	assert_string_equal(after, created);
	free(after);
	free(created);
	/* The plain call is the same thing. */
	assert_int_equal(ug_store_replace(f->st, same_units, 2, same, 4), 0);
	assert_int_equal(policy_version(f->st), v);

	/* A dry run of a real change: reported, nothing written. */
	assert_int_equal(ug_store_replace_changes(f->st, units, 3, rules, 6, UG_REPLACE_DRY_RUN,
						  log_change, &dry, &n),
			 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (int i = 0; i < dry.n; i++) {
		assert_string_equal(dry.text[i], want[i]);
		/* No ids for what is not written. */
		if (!strncmp(want[i], "rule+", 5))
			assert_int_equal(dry.ids[i], 0);
	}
	assert_int_equal(dry.ids[1], ids[1]);
	assert_int_equal(dry.ids[3], ids[0]);
	after = policy_dump(f->path);
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(policy_version(f->st), v);

	/* The change itself: the same report, with the new rules' ids. */
	max_id = raw_int(f->path, "SELECT max(id) FROM rules");
	assert_int_equal(ug_store_replace_changes(f->st, units, 3, rules, 6, 0, log_change, &log,
						  &n),
			 0);
	assert_int_equal(log.n, dry.n);
	for (int i = 0; i < log.n; i++) {
		assert_string_equal(log.text[i], want[i]);
		if (!strncmp(want[i], "rule+", 5))
			assert_true(log.ids[i] > max_id);
	}
	assert_true(policy_version(f->st) > v);
	/* Kept: seed[0] (comment updated in place) and seed[2]; their units' rows too. */
	assert_int_equal(rule_id_of(f->path, "a.service", "10.0.0.0/8", "IS NULL"), ids[0]);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE comment = 'y'"), 1);
	assert_int_equal(rule_id_of(f->path, "b.service", "0.0.0.0/0", "IS NULL"), ids[2]);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules r JOIN units u ON "
					  "u.id = r.unit_id WHERE u.target = 'b.service'"),
			 2);
	assert_int_equal(raw_int(f->path, "SELECT id FROM units WHERE target = 'a.service'"),
			 a_id);
	/* Gone: seed[1] and seed[3]. */
	{
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM rules WHERE id IN (%lld, %lld)",
			 (long long)ids[1], (long long)ids[3]);
		assert_int_equal(raw_int(f->path, sql), 0);
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 6);
	after = raw_text(f->path, "SELECT mode FROM units WHERE target = 'a.service'");
	assert_string_equal(after, "enforce");
	free(after);

	/* The same input again: nothing to do. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_replace_changes(f->st, units, 3, rules, 6, 0, NULL, NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(policy_version(f->st), v);

	/* A unit the input lacks goes, with its rules, reported one by one. */
	log.n = 0;
	assert_int_equal(ug_store_replace_changes(f->st, units, 2, rules, 5, 0, log_change, &log,
						  &n),
			 0);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.text[0], "unit- c.service");
	assert_string_equal(log.text[1], "rule- c.service egress 10.1.0.0/16");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units WHERE target = 'c.service'"),
			 0);

	/* No store yet (apply --diff before the first apply): all of it is new. */
	log.n = 0;
	assert_int_equal(ug_store_replace_changes(NULL, &units[2], 1, &rules[5], 1,
						  UG_REPLACE_DRY_RUN, log_change, &log, &n),
			 0);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.text[0], "unit+ c.service");
	assert_string_equal(log.text[1], "unit~ c.service default-egress NULL>deny");
	assert_string_equal(log.text[2], "rule+ c.service egress 10.1.0.0/16");
	assert_int_equal(ug_store_replace_changes(NULL, units, 1, NULL, 0, 0, NULL, NULL, NULL),
			 -EINVAL);
	free(before);
}

/* --- schema v3: migration ------------------------------------------------------------------ */

/* migrations[1] of db/schema.c as v2 shipped it, copied like v1_schema. Do not edit. */
static const char v2_schema[] =
	"ALTER TABLE units ADD COLUMN mode TEXT NOT NULL DEFAULT 'enforce'\n"
	"	CHECK (mode IN ('enforce', 'audit', 'off'));\n"
	"ALTER TABLE units ADD COLUMN default_egress TEXT NOT NULL DEFAULT 'allow'\n"
	"	CHECK (default_egress IN ('allow', 'deny'));\n"
	"ALTER TABLE units ADD COLUMN default_ingress TEXT NOT NULL DEFAULT 'allow'\n"
	"	CHECK (default_ingress IN ('allow', 'deny'));\n"
	"ALTER TABLE rules ADD COLUMN proto TEXT\n"
	"	CHECK (proto IS NULL OR proto IN ('tcp', 'udp', 'icmp'));\n"
	"ALTER TABLE rules ADD COLUMN port_lo INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (port_lo BETWEEN 0 AND 65535);\n"
	"ALTER TABLE rules ADD COLUMN port_hi INTEGER NOT NULL DEFAULT 0\n"
	"	CHECK (port_hi BETWEEN 0 AND 65535);\n"
	"ALTER TABLE rules ADD COLUMN comment TEXT;\n"
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
	"CREATE TABLE agent_state (\n"
	"	key TEXT PRIMARY KEY,\n"
	"	value TEXT NOT NULL\n"
	");\n"
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
	"CREATE TABLE rule_hits (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	rule_id INTEGER NOT NULL,\n"
	"	hits INTEGER NOT NULL,\n"
	"	generation INTEGER\n"
	");\n"
	"CREATE TABLE generations (\n"
	"	generation INTEGER PRIMARY KEY,\n"
	"	time TEXT NOT NULL,\n"
	"	time_us INTEGER NOT NULL,\n"
	"	policy_version INTEGER,\n"
	"	units_changed INTEGER\n"
	");\n"
	"PRAGMA user_version = 2;\n";

/*
 * A v2 store at path, as a v2 agent left it: make_v1_store's unit, rule 1 and audit row, then
 * migrations[1], then extra_sql (through a raw connection: foreign keys off).
 */
static void make_v2_store(const char *path, const char *extra_sql)
{
	sqlite3 *db;
	char *msg = NULL;

	make_v1_store(path, NULL);
	db = raw_open(path);
	if (sqlite3_exec(db, v2_schema, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("v2 schema: %s", msg ? msg : "?");
	if (extra_sql && sqlite3_exec(db, extra_sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", extra_sql, msg ? msg : "?");
	sqlite3_close(db);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 2);
}

/* Every rules row in its v2 columns, created_at included. Caller frees. */
static char *rules_v2_dump(const char *path)
{
	return raw_text(path, "SELECT ifnull(group_concat(x, ';'), '') FROM (SELECT id || ',' "
			      "|| unit_id || ',' || direction || ',' || action || ',' || prefix "
			      "|| ',' || created_at || ',' || quote(proto) || ',' || "
			      "quote(port_lo) || ',' || quote(port_hi) || ',' || quote(comment) "
			      "AS x FROM rules ORDER BY id)");
}

static const char v2_rows[] =
	"UPDATE units SET mode = 'audit', default_egress = 'deny';\n"
	"INSERT INTO units (target) VALUES ('api.service');\n"
	/* 2 .. 5 */
	"INSERT INTO rules (unit_id, direction, action, prefix, proto, port_lo, port_hi, comment)\n"
	"	SELECT id, 'egress', 'allow', '10.1.0.0/16', 'tcp', 22, 22, 'ssh' FROM units\n"
	"	WHERE target = 'web.service';\n"
	"INSERT INTO rules (unit_id, direction, action, prefix, port_lo, port_hi)\n"
	"	SELECT id, 'ingress', 'allow', '::/0', 8000, 8080 FROM units\n"
	"	WHERE target = 'api.service';\n"
	"INSERT INTO rules (unit_id, direction, action, prefix, proto, comment)\n"
	"	SELECT id, 'bind', 'deny', '0.0.0.0/0', 'udp', '' FROM units\n"
	"	WHERE target = 'web.service';\n"
	"INSERT INTO rules (unit_id, direction, action, prefix)\n"
	"	SELECT id, 'egress', 'deny', '192.0.2.0/24' FROM units\n"
	"	WHERE target = 'api.service';\n"
	/* The newest rule goes: id 5 must never come back. */
	"DELETE FROM rules WHERE id = 5;\n";

static void test_migrate_from_v2(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_rule_spec shadow = {
		.target = "web.service", .direction = "file", .action = "deny",
		.prefix = "/etc/shadow", .access = "read",
	};
	struct rule_list l = { 0 };
	struct unit_list ul = { 0 };
	struct ug_store *st = NULL;
	char path[PATH_MAX], err[256] = "", msg[256];
	char *before, *after, *t;
	int64_t v, id;

	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	make_v2_store(path, v2_rows);
	assert_int_equal(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'rules'"), 5);
	assert_int_equal(raw_int(path, "SELECT max(id) FROM rules"), 4);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
				       "'trigger'"),
			 8);
	before = rules_v2_dump(path);
	v = raw_int(path, "SELECT value FROM meta WHERE key = 'policy_version'");

	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	/* The rebuild copied rows, it did not change policy. */
	assert_int_equal(policy_version(st), v);

	/* Every row as it was, ids and created_at included; access is new and NULL. */
	after = rules_v2_dump(path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM rules WHERE access IS NULL"), 4);
	assert_int_equal(ug_store_rules(st, NULL, collect_rule, &l), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.r[0].id, 3); /* api.service first */
	assert_int_equal(l.r[0].port_lo, 8000);
	assert_int_equal(l.r[0].port_hi, 8080);
	assert_int_equal(l.r[1].id, 1);
	assert_int_equal(l.r[2].id, 2);
	assert_string_equal(l.r[2].proto, "tcp");
	assert_string_equal(l.r[2].comment, "ssh");
	assert_int_equal(l.r[3].id, 4);
	assert_string_equal(l.r[3].proto, "udp");
	assert_string_equal(l.r[3].comment, "");
	for (int i = 0; i < l.n; i++)
		assert_string_equal(l.r[i].access, "(null)");

	/* Units keep their settings and get no hardening. */
	assert_int_equal(ug_store_units(st, collect_unit, &ul), 0);
	assert_int_equal(ul.n, 2);
	assert_unit(&ul.u[0], "api.service", "enforce", "allow", "allow");
	assert_unit(&ul.u[1], "web.service", "audit", "deny", "allow");
	/* The audit trail too, with the new columns NULL. */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM audit WHERE rule_id = 1 AND path IS "
				       "NULL AND exe IS NULL AND detail IS NULL"),
			 1);

	/* No scaffolding left; the sequence moved over with the table. */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
				       "'rules_new'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_sequence WHERE name = "
				       "'rules_new'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_sequence WHERE name = "
				       "'rules'"),
			 1);
	assert_int_equal(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'rules'"), 5);

	/* The index, every trigger and the foreign key are back on the new table. */
	t = raw_text(path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
			   "WHERE type = 'trigger' AND tbl_name = 'rules' ORDER BY name)");
	assert_string_equal(t, "rules_ad,rules_ai,rules_au,rules_kind_bi,rules_kind_bu,"
			       "rules_ports_bi,rules_ports_bu,rules_rev_ad,rules_rev_ai,rules_rev_au");
	free(t);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
				       "AND name = 'rules_unit_id' AND tbl_name = 'rules'"),
			 1);
	t = raw_text(path, "SELECT group_concat(\"table\" || ',' || \"from\" || ',' || \"to\" || "
			   "',' || on_delete, ';') FROM pragma_foreign_key_list('rules')");
	assert_string_equal(t, "units,unit_id,id,CASCADE");
	free(t);

	/* Ids are not reused: 5 was issued and deleted before the migration. */
	assert_int_equal(add_rule(st, "web.service", "egress", "deny", "10.9.0.0/16", &id), 0);
	assert_int_equal(id, 6);
	assert_int_equal(policy_version(st), v + 1);
	/* The policy_version triggers fire on insert (above), update and delete. */
	raw_exec(path, "UPDATE rules SET comment = 'x' WHERE id = 1");
	assert_int_equal(policy_version(st), v + 2);
	assert_int_equal(ug_store_rule_del(st, 6), 0);
	assert_int_equal(policy_version(st), v + 3);
	raw_exec(path, "DELETE FROM rules WHERE id = 4");
	assert_int_equal(policy_version(st), v + 4);

	/* The port triggers still hold, on update and insert. */
	assert_int_equal(raw_rc(path, "UPDATE rules SET proto = 'icmp' WHERE id = 2", msg,
				sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "ports need proto"));
	assert_int_equal(raw_rc(path,
				"INSERT INTO rules (unit_id, direction, action, prefix, proto, "
				"port_lo, port_hi) SELECT id, 'egress', 'deny', '::/0', 'tcp', 90, "
				"80 FROM units WHERE target = 'web.service'",
				msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "below port_lo"));
	assert_int_equal(policy_version(st), v + 4);

	/* The new kinds, on the migrated table; 6 is gone for good as well. */
	assert_int_equal(ug_store_rule_add(st, &shadow, &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(raw_rc(path, "UPDATE rules SET access = NULL WHERE id = 7", msg,
				sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_non_null(strstr(msg, "file rules need access"));

	/* The cascade still takes a unit's rules with it. */
	raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM units WHERE target = 'api.service'");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM rules WHERE id = 3"), 0);
	ug_store_close(st);
	st = NULL;

	/* Reopening does not migrate again. */
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM rules"), 3);
	assert_int_equal(add_rule(st, "web.service", "bind", "deny", "0.0.0.0/0", &id), 0);
	assert_int_equal(id, 8);
	ug_store_close(st);
}

static void test_migrate_v2_sequence_only(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = NULL;
	char path[PATH_MAX], err[256] = "";
	int64_t id;

	/* Every rule deleted: the copy leaves rules_new no sequence of its own, and the old one
	 * must still carry over. */
	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	make_v2_store(path, "INSERT INTO rules (unit_id, direction, action, prefix)\n"
			    "	SELECT id, 'egress', 'deny', '::/0' FROM units;\n"
			    "DELETE FROM rules;\n");
	assert_int_equal(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'rules'"), 2);
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'rules'"), 2);
	assert_int_equal(add_rule(st, "web.service", "egress", "deny", "10.0.0.0/8", &id), 0);
	assert_int_equal(id, 3);
	ug_store_close(st);
}

static void test_migrate_v2_view_kept(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = NULL;
	char path[PATH_MAX], err[256] = "";

	/* An operator's view naming rules survives the DROP and the RENAME. */
	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	make_v2_store(path, "CREATE VIEW deny_rules AS SELECT id, prefix FROM rules WHERE "
			    "action = 'deny'");
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM deny_rules"), 1);
	assert_int_equal(add_rule(st, "web.service", "egress", "deny", "10.0.0.0/8", NULL), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM deny_rules"), 2);
	ug_store_close(st);
}

static void test_migrate_v2_dangling_rule(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], err[256] = "";
	char *before, *after;

	/* A raw session without foreign keys left a rule pointing at no unit. The rebuild
	 * would carry it over; the migration refuses instead and says which row. */
	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	make_v2_store(path, "INSERT INTO rules (unit_id, direction, action, prefix)\n"
			    "	VALUES (999, 'egress', 'deny', '10.0.0.0/8')");
	before = rules_v2_dump(path);
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), -EIO);
	assert_null(st);
	assert_string_equal(err, "migration 2: foreign key check failed: rules row 2 refers to a "
				 "missing units row");
	/* Nothing of the migration stayed. */
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 2);
	after = rules_v2_dump(path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('units') WHERE "
				       "name = 'harden'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('rules') WHERE "
				       "name = 'access'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
				       "'rules_new'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
				       "'trigger'"),
			 8);

	/* Fixed by hand, the store opens. */
	raw_exec(path, "DELETE FROM rules WHERE id = 2");
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'rules'"), 2);
	ug_store_close(st);
}

static void test_migrate_v2_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ug_store *st = (struct ug_store *)0x1;
	char path[PATH_MAX], err[256] = "";
	char *before, *after;

	/* An operator's own rules_new makes the rebuild fail after the ADD COLUMNs. */
	snprintf(path, sizeof(path), "%s/v2.db", f->dir);
	make_v2_store(path, "CREATE TABLE rules_new (x)");
	before = rules_v2_dump(path);
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), -EIO);
	assert_null(st);
	assert_non_null(strstr(err, "migrate schema"));
	assert_non_null(strstr(err, "rules_new"));
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('units') WHERE "
				       "name = 'harden'"),
			 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('audit') WHERE "
				       "name = 'path'"),
			 0);
	after = rules_v2_dump(path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
				       "'trigger'"),
			 8);

	raw_exec(path, "DROP TABLE rules_new");
	assert_int_equal(ug_store_open(path, 0, &st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 9);
	ug_store_close(st);
}

/* --- schema v3: exec, file and family rules ------------------------------------------------ */

static const struct ug_store_rule_spec lsm_specs[] = {
	{ .target = "web.service", .direction = "exec", .action = "allow",
	  .prefix = "/usr/bin/curl", .comment = "fetch" },
	{ .target = "web.service", .direction = "exec", .action = "deny", .prefix = "/usr/bin/nc" },
	{ .target = "web.service", .direction = "file", .action = "deny", .prefix = "/etc/shadow",
	  .access = "read" },
	{ .target = "web.service", .direction = "file", .action = "deny", .prefix = "/etc",
	  .access = "write" },
	{ .target = "web.service", .direction = "file", .action = "deny", .prefix = "/root",
	  .access = "any", .comment = "" },
	{ .target = "web.service", .direction = "family", .action = "deny", .prefix = "packet" },
};
#define N_LSM_SPECS (sizeof(lsm_specs) / sizeof(lsm_specs[0]))

static void test_lsm_rules(void **state)
{
	struct fixture *f = *state;
	struct rule_list l = { 0 };
	int64_t ids[N_LSM_SPECS];

	for (size_t i = 0; i < N_LSM_SPECS; i++)
		assert_int_equal(ug_store_rule_add(f->st, &lsm_specs[i], &ids[i]), 0);
	/* Network rules sit beside them as before. */
	assert_int_equal(ug_store_rule_add(f->st, &v2_specs[0], NULL), 0);
	assert_int_equal(ug_store_rules(f->st, "web.service", collect_rule, &l), 0);
	assert_int_equal(l.n, N_LSM_SPECS + 1);
	for (size_t i = 0; i < N_LSM_SPECS; i++) {
		assert_int_equal(l.r[i].id, ids[i]);
		assert_rule_is(&l.r[i], &lsm_specs[i]);
	}
	assert_rule_is(&l.r[N_LSM_SPECS], &v2_specs[0]);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE access IS NULL"), 4);
	assert_int_equal(policy_version(f->st), 1 + N_LSM_SPECS + 1);
}

static void test_lsm_rules_rejected(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *direction, *action, *access, *proto;
		uint32_t lo, hi;
		const char *msg;
	} bad[] = {
		{ "file", "deny", NULL, NULL, 0, 0, "file rules need access read, write or any" },
		{ "file", "deny", "READ", NULL, 0, 0, "CHECK constraint failed" },
		{ "file", "deny", "exec", NULL, 0, 0, "CHECK constraint failed" },
		{ "egress", "deny", "read", NULL, 0, 0, "access is only for file rules" },
		{ "bind", "allow", "any", "tcp", 80, 80, "access is only for file rules" },
		{ "exec", "allow", "read", NULL, 0, 0, "access is only for file rules" },
		{ "family", "deny", "any", NULL, 0, 0, "access is only for file rules" },
		{ "exec", "allow", NULL, "tcp", 0, 0, "take no proto or ports" },
		{ "exec", "deny", NULL, NULL, 80, 80, "take no proto or ports" },
		{ "file", "deny", "read", "tcp", 443, 443, "take no proto or ports" },
		{ "file", "deny", "write", NULL, 1, 65535, "take no proto or ports" },
		{ "family", "deny", NULL, "icmp", 0, 0, "take no proto or ports" },
		{ "file", "allow", "read", NULL, 0, 0, "file and family rules can only deny" },
		{ "family", "allow", NULL, NULL, 0, 0, "file and family rules can only deny" },
		{ "Exec", "allow", NULL, NULL, 0, 0, "CHECK constraint failed" },
		{ "process", "deny", NULL, NULL, 0, 0, "CHECK constraint failed" },
	};
	struct ug_store_rule_spec spec = {
		.target = "new.service", .prefix = "/usr/bin/nc", .comment = "x",
	};
	int64_t id = -7;
	char *before, *after;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec.direction = bad[i].direction;
		spec.action = bad[i].action;
		spec.access = bad[i].access;
		spec.proto = bad[i].proto;
		spec.port_lo = bad[i].lo;
		spec.port_hi = bad[i].hi;
		assert_int_equal(ug_store_rule_add(f->st, &spec, &id), -EINVAL);
		assert_int_equal(id, -7);
		if (!strstr(ug_store_errmsg(f->st), bad[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ug_store_errmsg(f->st),
				 bad[i].msg);
		assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
		assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
		assert_int_equal(policy_version(f->st), 0);
	}

	/* A rejected rule for an existing unit leaves it and its rules alone. */
	assert_int_equal(ug_store_rule_add(f->st, &lsm_specs[2], NULL), 0);
	before = policy_dump(f->path);
	spec = lsm_specs[2];
	spec.access = NULL;
	assert_int_equal(ug_store_rule_add(f->st, &spec, NULL), -EINVAL);
	after = policy_dump(f->path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(policy_version(f->st), 2);
}

static void test_lsm_triggers_raw(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *sql, *msg;
	} bad[] = {
		{ "UPDATE rules SET access = NULL WHERE direction = 'file'", "need access" },
		{ "UPDATE rules SET access = 'exec' WHERE direction = 'file'", "CHECK constraint" },
		{ "UPDATE rules SET action = 'allow' WHERE direction = 'file'", "can only deny" },
		{ "UPDATE rules SET proto = 'udp' WHERE direction = 'file'", "no proto or ports" },
		{ "UPDATE rules SET port_lo = 1, port_hi = 2 WHERE direction = 'exec'",
		  "no proto or ports" },
		{ "UPDATE rules SET action = 'allow' WHERE direction = 'family'", "can only deny" },
		{ "UPDATE rules SET access = 'read' WHERE direction = 'egress'",
		  "only for file rules" },
		{ "UPDATE rules SET direction = 'file' WHERE direction = 'exec'", "need access" },
		{ "UPDATE rules SET direction = 'family' WHERE direction = 'egress'",
		  "no proto or ports" },
		{ "INSERT INTO rules (unit_id, direction, action, prefix) SELECT id, 'file', "
		  "'deny', '/etc' FROM units",
		  "need access" },
		{ "INSERT INTO rules (unit_id, direction, action, prefix, access) SELECT id, "
		  "'exec', 'deny', '/bin/sh', 'any' FROM units",
		  "only for file rules" },
	};
	char msg[256], *before, *after;
	int64_t v;

	assert_int_equal(ug_store_rule_add(f->st, &lsm_specs[0], NULL), 0); /* exec */
	assert_int_equal(ug_store_rule_add(f->st, &lsm_specs[2], NULL), 0); /* file */
	assert_int_equal(ug_store_rule_add(f->st, &lsm_specs[5], NULL), 0); /* family */
	assert_int_equal(ug_store_rule_add(f->st, &v2_specs[0], NULL), 0);  /* egress, tcp 443 */
	before = policy_dump(f->path);
	v = policy_version(f->st);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(raw_rc(f->path, bad[i].sql, msg, sizeof(msg)), SQLITE_CONSTRAINT);
		if (!strstr(msg, bad[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, msg, bad[i].msg);
	}
	after = policy_dump(f->path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(policy_version(f->st), v);

	/* Consistent changes pass. */
	raw_exec(f->path, "UPDATE rules SET access = 'any' WHERE direction = 'file'");
	raw_exec(f->path, "UPDATE rules SET direction = 'file', access = 'write', action = 'deny' "
			  "WHERE direction = 'exec'");
	raw_exec(f->path, "UPDATE rules SET direction = 'exec', proto = NULL, port_lo = 0, "
			  "port_hi = 0, action = 'allow' WHERE direction = 'egress'");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules WHERE direction = 'file'"),
			 2);
	assert_int_equal(policy_version(f->st), v + 3);
}

/* --- schema v3: unit hardening, replace, audit ---------------------------------------------- */

static void test_unit_harden(void **state)
{
	struct fixture *f = *state;
	struct unit_list l = { 0 };
	int64_t v;
	char msg[256];

#define UNITS()                                                         \
	do {                                                            \
		memset(&l, 0, sizeof(l));                               \
		assert_int_equal(ug_store_units(f->st, collect_unit, &l), 0); \
	} while (0)

	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, NULL), 0);
	UNITS();
	assert_unit_harden(&l.u[0], "a.service", "enforce", "allow", "allow", "");
	v = policy_version(f->st);

	/* Set, then set again to the same: one write, one bump. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL,
					   "module-load,bpf"),
			 0);
	assert_int_equal(policy_version(f->st), v + 1);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL,
					   "module-load,bpf"),
			 0);
	assert_int_equal(policy_version(f->st), v + 1);
	UNITS();
	assert_unit_harden(&l.u[0], "a.service", "enforce", "allow", "allow", "module-load,bpf");

	/* NULL keeps it, whatever else changes; so does adding a rule. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", "audit", "deny", NULL, NULL), 0);
	assert_int_equal(add_rule(f->st, "a.service", "egress", "deny", "10.0.0.0/8", NULL), 0);
	UNITS();
	assert_unit_harden(&l.u[0], "a.service", "audit", "deny", "allow", "module-load,bpf");

	/* Only the hardening changes: the others are kept. */
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, "ptrace"), 0);
	UNITS();
	assert_unit_harden(&l.u[0], "a.service", "audit", "deny", "allow", "ptrace");

	/* "" clears it. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, ""), 0);
	assert_int_equal(policy_version(f->st), v + 1);
	UNITS();
	assert_unit_harden(&l.u[0], "a.service", "audit", "deny", "allow", "");

	/* A new unit with everything given. */
	assert_int_equal(ug_store_unit_set(f->st, "b.service", "off", "deny", "deny",
					   "module-load,bpf,ptrace,mount"),
			 0);
	UNITS();
	assert_int_equal(l.n, 2);
	assert_unit_harden(&l.u[1], "b.service", "off", "deny", "deny",
			   "module-load,bpf,ptrace,mount");

	/* A bad field next to a good harden writes neither. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_unit_set(f->st, "b.service", "loud", NULL, NULL, "bpf"),
			 -EINVAL);
	assert_int_equal(policy_version(f->st), v);
	UNITS();
	assert_unit_harden(&l.u[1], "b.service", "off", "deny", "deny",
			   "module-load,bpf,ptrace,mount");
	/* NOT NULL holds against a raw session. */
	assert_int_equal(raw_rc(f->path, "UPDATE units SET harden = NULL", msg, sizeof(msg)),
			 SQLITE_CONSTRAINT);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units WHERE harden = ''"), 1);
#undef UNITS
}

static void test_replace_lsm(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_unit units[] = {
		{ .target = "web.service", .mode = "audit", .harden = "module-load,bpf" },
		/* NULL harden on replace: the default, not what the unit had before. */
		{ .target = "a.service" },
	};
	struct ug_store_rule_spec rules[] = {
		lsm_specs[0], lsm_specs[2], lsm_specs[5], v2_specs[0],
		{ .target = "db.service", .direction = "file", .action = "deny",
		  .prefix = "/var/lib/db", .access = "write" },
	};
	struct unit_list ul = { 0 };
	struct rule_list rl = { 0 };
	char *before, *after;
	int64_t v;

	seed_policy(f);
	assert_int_equal(ug_store_unit_set(f->st, "a.service", NULL, NULL, NULL, "ptrace"), 0);

	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 5), 0);
	assert_int_equal(ug_store_units(f->st, collect_unit, &ul), 0);
	assert_int_equal(ul.n, 3);
	assert_unit_harden(&ul.u[0], "a.service", "enforce", "allow", "allow", "");
	assert_unit_harden(&ul.u[1], "db.service", "enforce", "allow", "allow", "");
	assert_unit_harden(&ul.u[2], "web.service", "audit", "allow", "allow",
			   "module-load,bpf");
	assert_int_equal(ug_store_rules(f->st, NULL, collect_rule, &rl), 0);
	assert_int_equal(rl.n, 5);
	assert_rule_is(&rl.r[0], &rules[4]);
	/* seed_policy's v2_specs[0] is the same rule: it keeps its (older) id. */
	assert_rule_is(&rl.r[1], &rules[3]);
	assert_int_equal(rl.r[1].id, 2);
	for (int i = 2; i < 5; i++)
		assert_rule_is(&rl.r[i], &rules[i - 2]);

	/* A bad LSM rule last: all or nothing still. */
	before = policy_dump(f->path);
	v = policy_version(f->st);
	rules[4].access = NULL;
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 5), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "rules[4]"));
	assert_non_null(strstr(ug_store_errmsg(f->st), "file rules need access"));
	rules[4].access = "write";
	rules[2].action = "allow";
	assert_int_equal(ug_store_replace(f->st, units, 2, rules, 5), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "rules[2]"));
	after = policy_dump(f->path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_int_equal(policy_version(f->st), v);
}

static void test_audit_lsm(void **state)
{
	struct fixture *f = *state;
	const struct ug_audit_row rows[] = {
		{ .time_us = T0_SEC * 1000000 + 1, .unit = "web.service", .cgroup_id = 4242,
		  .pid = 77, .uid = 33, .comm = "sh", .hook = "file_open", .verdict = "deny",
		  .rule_id = 12, .generation = 4, .path = "/etc/shadow", .exe = "/usr/bin/dash",
		  .detail = "access=read" },
		{ .time_us = T0_SEC * 1000000 + 2, .unit = "web.service", .hook = "socket_create",
		  .verdict = "audit", .detail = "family=packet" },
		{ .time_us = T0_SEC * 1000000 + 3, .unit = "web.service", .hook = "bprm_check",
		  .verdict = "deny", .exe = "", .detail = "path too long" },
	};
	struct audit_list l = { 0 };

	assert_int_equal(ug_store_audit_insert(f->st, rows, 3), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE path IS NULL"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE exe IS NULL"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE detail IS NULL"), 0);
	assert_int_equal(ug_store_audit_list(f->st, "web.service", collect_audit, &l), 0);
	assert_int_equal(l.n, 3);
	for (int i = 0; i < 3; i++)
		assert_row_equal(&l.rows[i], &rows[i]);
	audit_list_free(&l);
	assert_int_equal(policy_version(f->st), 0);
}

/* --- status and agent state ------------------------------------------------------------------ */

struct seen_status {
	char target[64], cgroup[64], mode[16], programs[64], reason[64], updated_at[40];
	uint64_t cgroup_id;
	uint32_t generation;
	int enforced;
};

struct status_list {
	struct seen_status s[8];
	int n;
};

static int collect_status(const struct ug_store_status *s, void *ctx)
{
	struct status_list *l = ctx;
	struct seen_status *o;

	assert_true(l->n < 8);
	o = &l->s[l->n++];
	snprintf(o->target, sizeof(o->target), "%s", s->target);
	snprintf(o->cgroup, sizeof(o->cgroup), "%s", s->cgroup ? s->cgroup : "(null)");
	snprintf(o->mode, sizeof(o->mode), "%s", s->mode ? s->mode : "(null)");
	snprintf(o->programs, sizeof(o->programs), "%s", s->programs ? s->programs : "(null)");
	snprintf(o->reason, sizeof(o->reason), "%s", s->reason ? s->reason : "(null)");
	snprintf(o->updated_at, sizeof(o->updated_at), "%s",
		 s->updated_at ? s->updated_at : "(null)");
	o->cgroup_id = s->cgroup_id;
	o->generation = s->generation;
	o->enforced = s->enforced;
	return 0;
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_status rows[] = {
		{ .target = "web.service", .cgroup = "/system.slice/web.service",
		  .cgroup_id = UINT64_MAX - 1, .mode = "enforce", .generation = 7,
		  .programs = "connect4,connect6", .enforced = 1,
		  .updated_at = "ignored" },
		{ .target = "api.service", .mode = "audit", .generation = UINT32_MAX,
		  .reason = "unit is not running" },
		{ .target = "x.service", .enforced = 5 },
	};
	struct ug_store_status bad[2] = { rows[0], rows[0] };
	struct status_list l = { 0 };
	int64_t v = policy_version(f->st);

	assert_int_equal(ug_store_status_list(f->st, collect_status, &l), 0);
	assert_int_equal(l.n, 0);

	assert_int_equal(ug_store_status_replace(f->st, rows, 3), 0);
	assert_int_equal(ug_store_status_list(f->st, collect_status, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.s[0].target, "api.service");
	assert_string_equal(l.s[0].cgroup, "(null)");
	assert_int_equal(l.s[0].cgroup_id, 0);
	assert_string_equal(l.s[0].mode, "audit");
	assert_int_equal(l.s[0].generation, UINT32_MAX);
	assert_string_equal(l.s[0].programs, "(null)");
	assert_int_equal(l.s[0].enforced, 0);
	assert_string_equal(l.s[0].reason, "unit is not running");
	assert_string_equal(l.s[1].target, "web.service");
	assert_string_equal(l.s[1].cgroup, "/system.slice/web.service");
	assert_true(l.s[1].cgroup_id == UINT64_MAX - 1);
	assert_string_equal(l.s[1].mode, "enforce");
	assert_int_equal(l.s[1].generation, 7);
	assert_string_equal(l.s[1].programs, "connect4,connect6");
	assert_int_equal(l.s[1].enforced, 1);
	assert_string_equal(l.s[1].reason, "(null)");
	assert_string_equal(l.s[2].mode, "(null)");
	assert_int_equal(l.s[2].enforced, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(strlen(l.s[i].updated_at), 24);
		assert_int_equal(l.s[i].updated_at[10], 'T');
		assert_int_equal(l.s[i].updated_at[23], 'Z');
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status WHERE cgroup_id IS NULL"),
			 2);
	assert_int_equal(raw_int(f->path, "SELECT enforced FROM status WHERE target = "
					  "'x.service'"),
			 1);

	/* Replace drops what is not listed again. */
	assert_int_equal(ug_store_status_replace(f->st, &rows[1], 1), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(ug_store_status_list(f->st, collect_status, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].target, "api.service");

	/* All or nothing: a duplicate or a NULL target keeps the old rows. */
	assert_int_equal(ug_store_status_replace(f->st, bad, 2), -EINVAL);
	bad[1].target = NULL;
	assert_int_equal(ug_store_status_replace(f->st, bad, 2), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "status[1]"));
	assert_int_equal(ug_store_status_replace(f->st, NULL, 2), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status WHERE target = "
					  "'api.service'"),
			 1);

	assert_int_equal(ug_store_status_replace(f->st, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status"), 0);
	/* Status is not policy. */
	assert_int_equal(policy_version(f->st), v);
}

static void test_agent_state(void **state)
{
	struct fixture *f = *state;
	char buf[32] = "untouched";
	char small[4] = "abc";

	assert_int_equal(ug_store_agent_get(f->st, "pid", buf, sizeof(buf)), -ENOENT);
	assert_non_null(strstr(ug_store_errmsg(f->st), "pid"));

	assert_int_equal(ug_store_agent_set(f->st, "pid", "1234"), 0);
	assert_int_equal(ug_store_agent_set(f->st, "lsm", "bpf"), 0);
	assert_int_equal(ug_store_agent_get(f->st, "pid", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1234");
	assert_int_equal(ug_store_agent_set(f->st, "pid", "98765"), 0);
	assert_int_equal(ug_store_agent_get(f->st, "pid", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "98765");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM agent_state"), 2);
	assert_int_equal(ug_store_agent_set(f->st, "empty", ""), 0);
	assert_int_equal(ug_store_agent_get(f->st, "empty", small, 1), 0);
	assert_string_equal(small, "");

	/* Exactly fits with its NUL; one byte short is -ERANGE and an empty buffer, not a
	 * truncated value. */
	assert_int_equal(ug_store_agent_get(f->st, "lsm", small, 4), 0);
	assert_string_equal(small, "bpf");
	assert_int_equal(ug_store_agent_get(f->st, "pid", small, 4), -ERANGE);
	assert_string_equal(small, "");
	assert_int_equal(ug_store_agent_get(f->st, "pid", small, 0), -ERANGE);

	assert_int_equal(ug_store_agent_set(f->st, "pid", NULL), -EINVAL);
	assert_int_equal(ug_store_agent_set(f->st, NULL, "x"), -EINVAL);
	assert_int_equal(ug_store_agent_get(f->st, "pid", NULL, 4), -EINVAL);
	assert_int_equal(ug_store_agent_get(f->st, "pid", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "98765");
	assert_int_equal(policy_version(f->st), 0);
}

/* --- accounting, rule hits, generations ----------------------------------------------------- */

static void test_accounting(void **state)
{
	struct fixture *f = *state;
	struct ug_store_acct rows[] = {
		{ .time_us = T0_SEC * 1000000 + 1, .unit = "web.service", .cgroup_id = 4242,
		  .direction = "egress", .allowed_packets = 1, .allowed_bytes = 2,
		  .dropped_packets = 3, .dropped_bytes = 4, .audited_packets = 5,
		  .audited_bytes = 6, .generation = 7 },
		{ .time_us = T0_SEC * 1000000 + 2, .unit = "api.service",
		  .cgroup_id = UINT64_MAX, .direction = "ingress",
		  .allowed_packets = UINT64_MAX, .allowed_bytes = UINT64_MAX - 1,
		  .dropped_packets = (uint64_t)INT64_MAX + 1, .dropped_bytes = 0,
		  .audited_packets = 0, .audited_bytes = 1, .generation = UINT32_MAX },
	};
	char *t;

	assert_int_equal(ug_store_accounting_insert(f->st, rows, 2), 0);
	assert_int_equal(ug_store_accounting_insert(f->st, rows, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounting"), 2);
	t = raw_text(f->path, "SELECT time || '|' || time_us || '|' || unit || '|' || cgroup_id "
			      "|| '|' || direction || '|' || allowed_packets || '|' || "
			      "allowed_bytes || '|' || dropped_packets || '|' || dropped_bytes || "
			      "'|' || audited_packets || '|' || audited_bytes || '|' || generation "
			      "FROM accounting ORDER BY id LIMIT 1");
	assert_string_equal(t, "2026-11-22T03:29:05.000001Z|1795318145000001|web.service|4242|"
			       "egress|1|2|3|4|5|6|7");
	free(t);
	/* The u64s come back bit for bit through the int64 cast. */
	assert_true((uint64_t)raw_int(f->path, "SELECT cgroup_id FROM accounting WHERE unit = "
					       "'api.service'") == UINT64_MAX);
	assert_true((uint64_t)raw_int(f->path, "SELECT allowed_packets FROM accounting WHERE "
					       "unit = 'api.service'") == UINT64_MAX);
	assert_true((uint64_t)raw_int(f->path, "SELECT allowed_bytes FROM accounting WHERE "
					       "unit = 'api.service'") == UINT64_MAX - 1);
	assert_true((uint64_t)raw_int(f->path, "SELECT dropped_packets FROM accounting WHERE "
					       "unit = 'api.service'") == (uint64_t)INT64_MAX + 1);
	assert_int_equal(raw_int(f->path, "SELECT generation FROM accounting WHERE unit = "
					  "'api.service'"),
			 UINT32_MAX);

	/* All or none: a row without a unit fails the batch. */
	rows[1].unit = NULL;
	assert_int_equal(ug_store_accounting_insert(f->st, rows, 2), -EINVAL);
	assert_non_null(strstr(ug_store_errmsg(f->st), "NOT NULL"));
	assert_int_equal(ug_store_accounting_insert(f->st, NULL, 1), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounting"), 2);
	assert_int_equal(policy_version(f->st), 0);
}

static void test_rule_hits(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_hits rows[] = {
		{ .time_us = T0_SEC * 1000000 + 9, .rule_id = 3, .hits = 17, .generation = 2 },
		{ .time_us = -1, .rule_id = 4, .hits = UINT64_MAX, .generation = UINT32_MAX },
	};
	char *t;

	assert_int_equal(ug_store_rule_hits_insert(f->st, rows, 2), 0);
	assert_int_equal(ug_store_rule_hits_insert(f->st, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rule_hits"), 2);
	t = raw_text(f->path, "SELECT time || '|' || time_us || '|' || rule_id || '|' || hits || "
			      "'|' || generation FROM rule_hits ORDER BY id LIMIT 1");
	assert_string_equal(t, "2026-11-22T03:29:05.000009Z|1795318145000009|3|17|2");
	free(t);
	t = raw_text(f->path, "SELECT time FROM rule_hits WHERE rule_id = 4");
	assert_string_equal(t, "1969-12-31T23:59:59.999999Z");
	free(t);
	assert_true((uint64_t)raw_int(f->path, "SELECT hits FROM rule_hits WHERE rule_id = 4") ==
		    UINT64_MAX);
	assert_int_equal(raw_int(f->path, "SELECT generation FROM rule_hits WHERE rule_id = 4"),
			 UINT32_MAX);

	/* A trigger makes the second row fail: the first goes too. */
	raw_exec(f->path, "CREATE TRIGGER boom BEFORE INSERT ON rule_hits WHEN NEW.rule_id = 4 "
			  "BEGIN SELECT RAISE(ABORT, 'boom'); END");
	assert_int_equal(ug_store_rule_hits_insert(f->st, rows, 2), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rule_hits"), 2);
	assert_int_equal(policy_version(f->st), 0);
}

static void test_generations(void **state)
{
	struct fixture *f = *state;
	char *t;

	assert_int_equal(ug_store_generation_add(f->st, 1, T0_SEC * 1000000 + 1, 5, 2), 0);
	assert_int_equal(ug_store_generation_add(f->st, 2, T0_SEC * 1000000 + 2, 6, 1), 0);
	assert_int_equal(ug_store_generation_add(f->st, UINT32_MAX, T0_SEC * 1000000 + 3, 7,
						 UINT32_MAX),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM generations"), 3);
	t = raw_text(f->path, "SELECT time || '|' || time_us || '|' || policy_version || '|' || "
			      "units_changed FROM generations WHERE generation = 2");
	assert_string_equal(t, "2026-11-22T03:29:05.000002Z|1795318145000002|6|1");
	free(t);
	assert_int_equal(raw_int(f->path, "SELECT units_changed FROM generations WHERE "
					  "generation = 4294967295"),
			 UINT32_MAX);

	/* The same generation again replaces its row. */
	assert_int_equal(ug_store_generation_add(f->st, 1, T0_SEC * 1000000 + 9, 8, 4), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM generations"), 3);
	t = raw_text(f->path, "SELECT time || '|' || policy_version || '|' || units_changed FROM "
			      "generations WHERE generation = 1");
	assert_string_equal(t, "2026-11-22T03:29:05.000009Z|8|4");
	free(t);
	assert_int_equal(policy_version(f->st), 0);
}

/* --- v4: per-unit revision, rules by unit, the pass commit ----------------------------------- */

static int64_t unit_rev(const char *path, const char *target)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT rev FROM units WHERE target = '%s'", target);
	return raw_int(path, sql);
}

static int count_rule(const struct ug_store_rule *r, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_unit_rev(void **state)
{
	struct fixture *f = *state;
	int64_t id1, id2, web_id, v;
	int n = 0;

	assert_int_equal(add_rule(f->st, "web.service", "egress", "deny", "10.0.0.0/8", &id1), 0);
	assert_int_equal(unit_rev(f->path, "web.service"), 1);
	assert_int_equal(add_rule(f->st, "web.service", "egress", "deny", "10.1.0.0/16", &id2), 0);
	assert_int_equal(add_rule(f->st, "api.service", "egress", "deny", "10.1.0.0/16", NULL), 0);
	assert_int_equal(unit_rev(f->path, "web.service"), 2);
	assert_int_equal(unit_rev(f->path, "api.service"), 1);
	/* Settings are not rules: policy_version moves, rev does not. */
	v = policy_version(f->st);
	assert_int_equal(ug_store_unit_set(f->st, "web.service", "audit", NULL, NULL, NULL), 0);
	assert_int_equal(policy_version(f->st), v + 1);
	assert_int_equal(unit_rev(f->path, "web.service"), 2);
	/* One rule change bumps policy_version once, even with the rev trigger. */
	assert_int_equal(ug_store_rule_del(f->st, id1), 0);
	assert_int_equal(policy_version(f->st), v + 2);
	assert_int_equal(unit_rev(f->path, "web.service"), 3);
	/* A raw sqlite3 session too. */
	raw_exec(f->path, "UPDATE rules SET prefix = '10.2.0.0/16' WHERE direction = 'egress' AND "
			  "prefix = '10.1.0.0/16' AND unit_id = (SELECT id FROM units WHERE "
			  "target = 'api.service')");
	assert_int_equal(unit_rev(f->path, "api.service"), 2);
	assert_int_equal(unit_rev(f->path, "web.service"), 3);

	web_id = raw_int(f->path, "SELECT id FROM units WHERE target = 'web.service'");
	assert_int_equal(ug_store_unit_rules(f->st, web_id, count_rule, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(ug_store_unit_rules(f->st, web_id + 100, count_rule, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ug_store_unit_rules(f->st, web_id, NULL, NULL), -EINVAL);
	(void)id2;
}

static void test_pass_commit(void **state)
{
	struct fixture *f = *state;
	const struct ug_store_status rows[] = {
		{ .target = "a.service", .enforced = 1, .state = "enforced", .generation = 3 },
		{ .target = "b.service", .state = "waiting", .reason = "not running" },
	};
	struct ug_store_status again = { .target = "a.service", .state = "refused",
					 .reason = "too many rules" };
	const char *gone[] = { "b.service", "never.service" };
	char buf[32];

	assert_int_equal(ug_store_pass_commit(f->st, rows, 2, NULL, 0, 17, 3), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status"), 2);
	assert_int_equal(ug_store_agent_get(f->st, "applied_version", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "17");
	assert_int_equal(ug_store_agent_get(f->st, "generation", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3");
	/* Upsert one, delete one that exists and one that does not. */
	assert_int_equal(ug_store_pass_commit(f->st, &again, 1, gone, 2, 18, 4), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status"), 1);
	buf[0] = '\0';
	{
		char *t = raw_text(f->path, "SELECT state || '|' || reason || '|' || enforced FROM "
					    "status WHERE target = 'a.service'");

		assert_string_equal(t, "refused|too many rules|0");
		free(t);
	}
	/* All or nothing: a row without a target fails the whole pass. */
	{
		struct ug_store_status bad[2] = { rows[0], { .target = NULL } };

		assert_int_equal(ug_store_pass_commit(f->st, bad, 2, NULL, 0, 19, 5), -EINVAL);
		assert_int_equal(ug_store_agent_get(f->st, "applied_version", buf, sizeof(buf)),
				 0);
		assert_string_equal(buf, "18");
		assert_int_equal(raw_int(f->path, "SELECT count(*) FROM status"), 1);
	}
}

/* The time parser is policy/timetext.c's (tests/test_timetext.c); the store passes its
 * message on. */
static void test_parse_time(void **state)
{
	struct fixture *f = *state;
	int64_t t = 42;

	assert_int_equal(ug_store_parse_time(f->st, "@1764500000", 0, &t), 0);
	assert_int_equal(t, 1764500000LL * 1000000);
	t = 42;
	assert_int_equal(ug_store_parse_time(f->st, "later", 0, &t), -EINVAL);
	assert_int_equal(t, 42);
	assert_non_null(strstr(ug_store_errmsg(f->st), "invalid time 'later'"));
	assert_int_equal(ug_store_parse_time(NULL, "now", 0, &t), -EINVAL);
}

struct report {
	int rows;
	char first[8][64]; /* the first row, column by column */
	char cols[8][32];
};

static int collect_report(int n, const char *const *cols, const char *const *vals, void *ctx)
{
	struct report *r = ctx;

	if (!r->rows++)
		for (int c = 0; c < n && c < 8; c++) {
			snprintf(r->cols[c], sizeof(r->cols[c]), "%s", cols[c]);
			snprintf(r->first[c], sizeof(r->first[c]), "%s", vals[c] ? vals[c] : "NULL");
		}
	return 0;
}

/* The reports count denials (the count column), not rows, and totals adds what was
 * pruned and lost: the accounting identity per unit. */
static void test_reports(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[3] = { audit_rows[0], audit_rows[0], audit_rows[1] };
	struct report r = { 0 };
	int64_t pruned = 0;

	rows[0].count = 5;
	rows[1].count = 7;
	rows[1].address = "10.9.9.9";
	assert_int_equal(ug_store_audit_insert(f->st, rows, 3), 0);
	assert_int_equal(ug_store_lost_add(f->st, T0_SEC * 1000000, 11, "ringbuf", "web.service"), 0);

	assert_int_equal(ug_store_report(f->st, "destinations", "web.service", 10, collect_report, &r),
			 0);
	assert_int_equal(r.rows, 2);
	assert_string_equal(r.cols[4], "port");
	assert_string_equal(r.first[3], "10.9.9.9"); /* 7 denials before 5 */
	assert_string_equal(r.cols[5], "denials");
	assert_string_equal(r.first[5], "7");

	memset(&r, 0, sizeof(r));
	assert_int_equal(ug_store_report(f->st, "totals", "web.service", 0, collect_report, &r), 0);
	assert_int_equal(r.rows, 1);
	assert_string_equal(r.first[1], "12"); /* recorded */
	assert_string_equal(r.first[3], "11"); /* lost */
	assert_string_equal(r.first[4], "23"); /* total */

	/* Pruning keeps the total. */
	assert_int_equal(ug_store_prune(f->st, 0, INT64_MAX, 100, &pruned), 0);
	assert_int_equal(pruned, 3);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ug_store_report(f->st, "totals", "web.service", 0, collect_report, &r), 0);
	assert_string_equal(r.first[1], "0"); /* no rows left */
	assert_string_equal(r.first[2], "12");
	assert_string_equal(r.first[4], "23");

	assert_int_equal(ug_store_report(f->st, "nope; DROP TABLE audit", NULL, 0, collect_report,
					 &r), -ENOENT);
	for (size_t i = 0; ug_store_report_name(i); i++)
		assert_int_equal(ug_store_report(f->st, ug_store_report_name(i), NULL, 5,
						 collect_report, &r), 0);
}

/*
 * Retention: rows older than the cut go, oldest first, at most budget per call; audit
 * rows are counted into audit_summary per unit, day and verdict before they go, so
 * rows + summary counts stay what was stored. A size limit below what is in use
 * takes the oldest audit rows.
 */
static void test_prune(void **state)
{
	struct fixture *f = *state;
	const int64_t day1 = 1764460800000000; /* 2025-11-30T00:00:00Z */
	const int64_t day2 = day1 + 86400000000LL;
	struct ug_audit_row rows[10];
	int64_t pruned = -1, used = 0;

	for (int i = 0; i < 10; i++)
		rows[i] = (struct ug_audit_row){ .time_us = (i < 5 ? day1 : day2) + i, .unit = "a.service",
						 .family = "ipv4", .protocol = "tcp", .address = "10.0.0.1",
						 .hook = "connect4", .direction = "egress",
						 .verdict = i == 9 ? "audit" : "deny" };
	rows[4].unit = NULL;
	assert_int_equal(ug_store_audit_insert(f->st, rows, 10), 0);

	/* Age: the 5 rows of day 1, in two calls of budget 3. */
	assert_int_equal(ug_store_prune(f->st, 0, day2, 3, &pruned), 0);
	assert_int_equal(pruned, 3);
	assert_int_equal(ug_store_prune(f->st, 0, day2, 3, &pruned), 0);
	assert_int_equal(pruned, 2);
	assert_int_equal(ug_store_prune(f->st, 0, day2, 3, &pruned), 0);
	assert_int_equal(pruned, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 5);
	assert_int_equal(raw_int(f->path, "SELECT count FROM audit_summary WHERE unit = 'a.service' "
				       "AND day = '2025-11-30' AND verdict = 'deny'"), 4);
	assert_int_equal(raw_int(f->path, "SELECT count FROM audit_summary WHERE unit = '' "
				       "AND day = '2025-11-30'"), 1);

	/* Size: any limit below what is in use takes the oldest audit rows. */
	assert_int_equal(ug_store_used_bytes(f->st, &used), 0);
	assert_true(used > 0);
	assert_int_equal(ug_store_prune(f->st, used, 0, 3, &pruned), 0);
	assert_int_equal(pruned, 0);
	assert_int_equal(ug_store_prune(f->st, 1, 0, 3, &pruned), 0);
	assert_int_equal(pruned, 3);
	assert_int_equal(raw_int(f->path, "SELECT min(time_us) FROM audit"), day2 + 8);
	assert_int_equal(raw_int(f->path, "SELECT count FROM audit_summary WHERE day = '2025-12-01' "
				       "AND verdict = 'deny'"), 3);
	/* Nothing lost: rows + summary counts = 10. */
	assert_int_equal(raw_int(f->path, "SELECT (SELECT count(*) FROM audit) + "
				       "(SELECT sum(count) FROM audit_summary)"), 10);
	assert_int_equal(ug_store_prune(f->st, 0, 0, 0, NULL), -EINVAL);
}

/*
 * By size, the unit with the most audit rows loses its oldest first, even when another
 * unit's rows are older: a flood prunes its own unit's history (issue 21.6). audit_units
 * follows every insert and delete.
 */
static void test_prune_biggest_first(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[13];
	int64_t pruned = -1;

	for (int i = 0; i < 13; i++)
		rows[i] = (struct ug_audit_row){ .time_us = T0_SEC * 1000000 + i,
						 .unit = i < 3 ? "quiet.service" : "flood.service",
						 .hook = "connect4", .verdict = "deny", .port = i };
	rows[12].unit = NULL;
	assert_int_equal(ug_store_audit_insert(f->st, rows, 13), 0);
	assert_int_equal(raw_int(f->path, "SELECT rows FROM audit_units WHERE unit = "
					  "'flood.service'"), 9);
	assert_int_equal(raw_int(f->path, "SELECT rows FROM audit_units WHERE unit = ''"), 1);
	/* The three oldest rows are quiet.service's; flood.service has the most. */
	assert_int_equal(ug_store_prune(f->st, 1, 0, 4, &pruned), 0);
	assert_int_equal(pruned, 4);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE unit = "
					  "'quiet.service'"), 3);
	assert_int_equal(raw_int(f->path, "SELECT min(port) FROM audit WHERE unit = "
					  "'flood.service'"), 7);
	assert_int_equal(raw_int(f->path, "SELECT rows FROM audit_units WHERE unit = "
					  "'flood.service'"), 5);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM audit_summary WHERE unit = "
					  "'flood.service'"), 4);
	/* Even: then the one that has most still. */
	assert_int_equal(ug_store_prune(f->st, 1, 0, 2, &pruned), 0);
	assert_int_equal(ug_store_prune(f->st, 1, 0, 1, &pruned), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE unit = "
					  "'flood.service'"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE unit = "
					  "'quiet.service'"), 3);
	/* Rows without a unit are a unit of their own ('' in audit_units). */
	assert_int_equal(ug_store_prune(f->st, 1, 0, 3, &pruned), 0);
	assert_int_equal(ug_store_prune(f->st, 1, 0, 3, &pruned), 0);
	assert_int_equal(ug_store_prune(f->st, 1, 0, 3, &pruned), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count FROM audit_summary WHERE unit = ''"), 1);
	assert_int_equal(raw_int(f->path, "SELECT sum(rows) FROM audit_units"), 0);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM audit_summary"), 13);
}

/*
 * By size, a unit's rows go in the order they were stored, not by time_us: records reach
 * the agent a little out of time order, and a unit's oldest by time lie scattered over the
 * table, so pruning them rewrote nearly every page into the write-ahead log (e2e/retention
 * overshot its 2 MiB by that). Stored first, pruned first: they lie together.
 */
static void test_prune_stored_order(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[8];
	int64_t pruned = -1;

	/* Stored newest time first. */
	for (int i = 0; i < 8; i++)
		rows[i] = (struct ug_audit_row){ .time_us = T0_SEC * 1000000 + 100 - i,
						 .unit = "flood.service", .hook = "connect4",
						 .verdict = "deny", .port = i };
	assert_int_equal(ug_store_audit_insert(f->st, rows, 8), 0);
	assert_int_equal(ug_store_prune(f->st, 1, 0, 3, &pruned), 0);
	assert_int_equal(pruned, 3);
	assert_int_equal(raw_int(f->path, "SELECT min(port) FROM audit"), 3);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM audit_summary"), 3);
	/* The planner is told which index: without it, a unit's rows would be sorted whole. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = "
					  "'index' AND name = 'audit_unit'"), 1);
}

/* Audit rows, the kernel's lost counts and where their records end in the rings are
 * written in one transaction: all or none (a crash between them would count denials
 * twice, or none). */
static void test_audit_write(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[2] = { audit_rows[0], audit_rows[1] };
	struct ug_lost_row lost[2] = {
		{ .time_us = T0_SEC * 1000000, .count = 5, .unit = "web.service" },
		{ .time_us = T0_SEC * 1000000, .count = (uint64_t)INT64_MAX + 1, .unit = "x" },
	};

	const struct ug_store_mark marks[2] = { { "ring_net", "b 1 64" }, { "ring_lsm", NULL } };
	char buf[32];

	assert_int_equal(ug_store_audit_write(f->st, rows, 2, lost, 2, marks, 1), -EINVAL);
	assert_int_equal(ug_store_audit_write(f->st, rows, 2, lost, 1, marks, 2), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events"), 0);
	assert_int_equal(ug_store_agent_get(f->st, "ring_net", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(ug_store_audit_write(f->st, rows, 2, lost, 1, marks, 1), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count FROM lost_events WHERE kind = 'ringbuf' "
					  "AND unit = 'web.service'"), 5);
	assert_int_equal(ug_store_agent_get(f->st, "ring_net", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "b 1 64");
	assert_int_equal(ug_store_audit_write(f->st, NULL, 0, lost, 1, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM lost_events"), 10);
	assert_int_equal(ug_store_audit_write(f->st, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(ug_store_audit_write(f->st, NULL, 1, NULL, 0, NULL, 0), -EINVAL);
}

/* The write-ahead log is truncated once past an eighth of its share, and counted on disk. */
static void test_wal_bound(void **state)
{
	struct fixture *f = *state;
	struct ug_audit_row rows[2000];
	int64_t disk = 0, used;
	char wal[PATH_MAX + 8];
	struct stat sb;

	for (int i = 0; i < 2000; i++)
		rows[i] = (struct ug_audit_row){ .time_us = T0_SEC * 1000000 + i,
						 .unit = "web.service", .hook = "connect4",
						 .verdict = "deny", .address = "10.0.0.1", .port = i };
	assert_int_equal(ug_store_audit_insert(f->st, rows, 2000), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 128 * 1024);
	assert_int_equal(ug_store_disk_bytes(f->st, &disk), 0);
	used = sb.st_size;
	assert_int_equal(stat(f->path, &sb), 0);
	used += sb.st_size;
	snprintf(wal, sizeof(wal), "%s-shm", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(disk, used + sb.st_size);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	/* A share of more than eight times the log: nothing to do. */
	assert_int_equal(ug_store_wal_bound(f->st, 8 * sb.st_size + 8192), 0);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 128 * 1024);
	/* A reader's snapshot keeps the log: -EBUSY, and it is still there. */
	{
		sqlite3 *rd = NULL;
		sqlite3_stmt *stmt = NULL;

		assert_int_equal(sqlite3_open_v2(f->path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(rd, "SELECT id FROM audit", -1, &stmt, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_int_equal(ug_store_wal_bound(f->st, 128 * 1024), -EBUSY);
		sqlite3_finalize(stmt);
		sqlite3_close(rd);
	}
	assert_int_equal(ug_store_wal_bound(f->st, 128 * 1024), 0);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 2000);
	assert_int_equal(ug_store_wal_bound(f->st, -1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_grandparent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_without_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_add_list_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_del_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_constraint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_all_or_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_failure_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_spec_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_spec_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_triggers_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_harden_trigger_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unit_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_units_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unit_rev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_keeps_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_sequence_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_view_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_dangling_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_failure_rolls_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lsm_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsm_rules_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsm_triggers_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unit_harden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_lsm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_lsm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_biggest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_stored_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
