/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * db/store.c against the real sqlite3 library, each test in its own mkdtemp
 * directory. What the store wrote is checked through a second, raw sqlite3
 * connection, so the tests do not trust the code they test to read it back.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
	mode = raw_text(f->path, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(policy_version(f->st), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
					  "AND name IN ('meta', 'units', 'rules', 'audit', "
					  "'lost_events')"),
			 5);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = "
					  "'trigger'"),
			 6);

	ug_store_close(f->st);
	f->st = NULL;
	/* Reopening, with or without CREATE, must not migrate again (it would fail on
	 * CREATE TABLE) nor reset the seeded counter. */
	assert_int_equal(ug_store_open(f->path, 0, &f->st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.0.0.0/8",
					   NULL),
			 0);
	assert_int_equal(policy_version(f->st), 2);
	ug_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ug_store_open(f->path, UG_STORE_CREATE, &f->st, err, sizeof(err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
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
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "0.0.0.0/0", &id),
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
	raw_exec(f->path, "PRAGMA user_version = 2");
	assert_int_equal(ug_store_open(f->path, 0, &st, err, sizeof(err)), -EPROTO);
	assert_null(st);
	assert_string_equal(err, "store schema version 2 is newer than this build (1)");
	assert_int_equal(ug_store_open(f->path, UG_STORE_CREATE, &st, NULL, 0), -EPROTO);
	assert_null(st);
	/* Refusing must not touch the store. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 2);
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
	return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

static void test_rule_add_list_del(void **state)
{
	struct fixture *f = *state;
	struct rule_list l = { 0 };
	int64_t a, b, c, d;

	assert_int_equal(ug_store_rule_add(f->st, "web.service", "egress", "deny", "10.0.0.0/8",
					   &a),
			 0);
	assert_int_equal(ug_store_rule_add(f->st, "api.service", "ingress", "allow",
					   "2001:db8::/32", &b),
			 0);
	assert_int_equal(ug_store_rule_add(f->st, "web.service", "bind", "allow", "0.0.0.0/0", &c),
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
	assert_int_equal(ug_store_rule_add(f->st, "web.service", "egress", "allow", "10.1.0.0/16",
					   &d),
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

	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.0.0.0/8", &id),
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
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.0.0.0/8", &a),
			 0);
	assert_int_equal(policy_version(f->st), 2);
	/* Existing target: only the rule. */
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.1.0.0/16", &b),
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

	assert_int_equal(ug_store_rule_add(f->st, "new.service", "sideways", "deny", "10.0.0.0/8",
					   &id),
			 -EINVAL);
	assert_int_equal(id, -7);
	assert_non_null(strstr(ug_store_errmsg(f->st), "CHECK constraint failed"));
	/* The units row inserted before the failing rule went with the rollback. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rules"), 0);
	assert_int_equal(policy_version(f->st), 0);

	assert_int_equal(ug_store_rule_add(f->st, "new.service", "egress", "maybe", "10.0.0.0/8",
					   &id),
			 -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM units"), 0);
	assert_int_equal(policy_version(f->st), 0);

	/* The store is still usable: no transaction was left open. */
	assert_int_equal(ug_store_rule_add(f->st, "new.service", "egress", "deny", "10.0.0.0/8",
					   &id),
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
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.0.0.0/8",
					   NULL),
			 -EBUSY);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ug_store_rule_add(f->st, "a.service", "egress", "deny", "10.0.0.0/8",
					   NULL),
			 0);
}

/* --- audit ------------------------------------------------------------------------------ */

struct audit_list {
	struct ug_audit_row rows[8];
	char *strs[8][9];
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
	return 0;
}

static void audit_list_free(struct audit_list *l)
{
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 9; j++)
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

	assert_int_equal(ug_store_lost_add(f->st, T0_SEC * 1000000 + 7, 17), 0);
	assert_int_equal(ug_store_lost_add(f->st, T0_SEC * 1000000 + 8, 1), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events"), 2);
	assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM lost_events"), 18);
	assert_int_equal(raw_int(f->path, "SELECT time_us FROM lost_events ORDER BY id LIMIT 1"),
			 T0_SEC * 1000000 + 7);
	t = raw_text(f->path, "SELECT time FROM lost_events ORDER BY id LIMIT 1");
	assert_string_equal(t, "2026-11-22T03:29:05.000007Z");
	free(t);

	assert_int_equal(ug_store_lost_add(f->st, 0, UINT64_MAX), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM lost_events"), 2);
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
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_add_list_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_del_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_constraint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_all_or_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_add, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
