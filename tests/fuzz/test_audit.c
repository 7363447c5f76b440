/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Regression tests for the ring-buffer record decoder (agent/audit.c), for what the audit
 * harness found. The journal is fake_journal.c, so nothing reaches the host's journald.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h"
#include "fake_journal.h"
#include "store.h"
#include "unitguard.h"

struct fixture {
	char dir[64], path[96];
	struct ug_store *st;
	struct ug_audit *a;
};

static const char *target(uint64_t cgid, void *ctx)
{
	return "demo.service";
}

static uint32_t family_rule(uint64_t cgid, int family, void *ctx)
{
	return 0;
}

static int setup(void **state)
{
	static const struct ug_audit_ops ops = { .target = target, .family_rule = family_rule };
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ug-test-audit.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/audit.db", f->dir);
	if (ug_store_open(f->path, UG_STORE_CREATE, &f->st, err, sizeof(err)))
		fail_msg("cannot open %s: %s", f->path, err);
	assert_int_equal(ug_audit_new(f->st, &ops, &f->a), 0);
	ug_fake_journal_error = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	struct fixture *f = *state;
	char p[128];

	ug_audit_free(f->a);
	ug_store_close(f->st);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct ug_event event(uint64_t ts_boot_ns, uint32_t rule_id)
{
	struct ug_event ev = {
		.ts_boot_ns = ts_boot_ns, .first_ns = ts_boot_ns, .count = 1,
		.who = { .cgid = 42, .unit_cgid = 42, .pid = 1, .rule_id = rule_id },
		.comm = "curl", .addr = { [10] = 0xff, [11] = 0xff, 10, 1, 2, 3 }, .port = 443,
		.family = AF_INET, .proto = 6, .hook = UG_HOOK_CONNECT4,
		.verdict = UG_VERDICT_DENY, .dir = UG_DIR_EGRESS,
	};

	return ev;
}

struct rows {
	size_t n;
	int64_t time_us[8];
	int64_t rule_id[8];
	uint64_t count[8];
	int64_t first_time_us[8];
};

/* One integer from the store, read by SQLite itself, not by the store's code. */
static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static int collect(const struct ug_store_audit *a, void *ctx)
{
	struct rows *r = ctx;

	if (r->n < 8) {
		r->time_us[r->n] = a->row.time_us;
		r->rule_id[r->n] = a->row.rule_id;
		r->count[r->n] = a->row.count;
		r->first_time_us[r->n] = a->row.first_time_us;
	}
	r->n++;
	return 0;
}

/*
 * Found by fuzzing (fuzz_audit), issue 14 (a): a record stamped later than now cannot be
 * the kernel's, but validate() let its stamp through. Added to the clock offset it
 * overflowed an int64_t (INT64_MAX; undefined behaviour, which the sanitizer build aborts
 * on) or filed the row some 235 years before 1970 (bit 63 set) or at the boot (all bits
 * set). Now such a record is stored at the current time.
 */
static void test_future_stamp(void **state)
{
	static const uint64_t stamps[] = { INT64_MAX, (uint64_t)1 << 63, UINT64_MAX };
	struct fixture *f = *state;
	struct rows rows = { 0 };
	int64_t before = clock_us(CLOCK_REALTIME), after;
	struct ug_event ev;

	for (size_t i = 0; i < 3; i++) {
		ev = event(stamps[i], (uint32_t)i + 1);
		assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	}
	assert_int_equal(ug_audit_flush(f->a), 0);
	/* A good stamp after them is still read as it is. */
	ev = event((uint64_t)(clock_us(CLOCK_BOOTTIME) * 1000), 4);
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_flush(f->a), 0);
	after = clock_us(CLOCK_REALTIME);

	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rows.rule_id[i], i + 1);
		if (rows.time_us[i] < before || rows.time_us[i] > after)
			fail_msg("row %zu: time %lld us, not within %lld .. %lld", i,
				 (long long)rows.time_us[i], (long long)before, (long long)after);
	}
}

/* The conversion itself: a stamp two seconds old is two seconds before now; one at boot is
 * the boot's wall-clock time. */
static void test_stamp_conversion(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	int64_t boot_us = clock_us(CLOCK_BOOTTIME), now_us = clock_us(CLOCK_REALTIME);
	struct ug_event ev;

	ev = event((uint64_t)(boot_us - 2000000) * 1000, 1);
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_string_equal(ug_fake_journal_last_message,
			    "unitguard: demo.service: denied egress connect4 tcp to 10.1.2.3 "
			    "port 443 (pid 1 curl), rule 1");
	ev = event(0, 2);
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 2);
	/* The clocks are read again inside: allow for the time this test takes. */
	assert_in_range(rows.time_us[0], now_us - 2000000 - 250000, now_us - 2000000 + 250000);
	assert_in_range(rows.time_us[1], now_us - boot_us - 250000, now_us - boot_us + 250000);
}

/* Without journald every record still reaches the audit table. */
static void test_journal_down(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	struct ug_event ev = event(0, 7);

	ug_fake_journal_error = ENOENT;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.rule_id[0], 7);
	ug_fake_journal_error = 0;
}

/* A packet whose IPv6 header chain could not be walked is journaled as such; a flag
 * the programs never set makes the record malformed, stored nowhere. */
static void test_event_flags(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	struct ug_event ev = event(0, 0);

	ev.hook = UG_HOOK_EGRESS_SKB;
	ev.proto = 60;
	ev.port = 0;
	ev.flags = UG_EV_F_UNPARSED;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_string_equal(ug_fake_journal_last_message,
			    "unitguard: demo.service: denied egress egress_skb 60 to 10.1.2.3 "
			    "port 0 (pid 1 curl), IPv6 header chain not walkable");
	ev.flags = 0x80;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), -EINVAL);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 1);
}

/* A record of 5 denials over 3 s (the kernel's aggregation, unitguard.h) is one row
 * with count 5 and both times; a count of 0 is no record. */
static void test_aggregated(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	uint64_t now_ns = (uint64_t)clock_us(CLOCK_BOOTTIME) * 1000;
	struct ug_event ev = event(now_ns, 7);

	ev.first_ns = now_ns - 3000000000ULL;
	ev.count = 5;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_string_equal(ug_fake_journal_last_message,
			    "unitguard: demo.service: denied egress connect4 tcp to 10.1.2.3 "
			    "port 443 (pid 1 curl), rule 7 (5 times in 3.0 s)");
	ev.count = 0;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), -EINVAL);
	/* A count the store's signed integer cannot hold is no record either. */
	ev.count = (uint64_t)INT64_MAX + 1;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), -EINVAL);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.count[0], 5);
	assert_in_range(rows.time_us[0] - rows.first_time_us[0], 2999000, 3001000);
	assert_int_equal(sql_int(f->path, "SELECT total FROM audit_totals "
					  "WHERE unit = 'demo.service'"), 5);
}

/* A unit's lost count is a lost_events row of that unit, not an audit row, and counts in
 * audit_totals; a lost record carrying anything else is malformed. */
static void test_lost_record(void **state)
{
	struct fixture *f = *state;
	struct ug_event ev = { .ts_boot_ns = 1, .first_ns = 1, .count = 9,
			       .who = { .unit_cgid = 42 }, .flags = UG_EV_F_LOST };
	struct ug_event bad = ev;

	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	bad.port = 80;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.count = 0;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.flags |= UG_EV_F_UNPARSED;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.who.unit_cgid = 0;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.count = (uint64_t)INT64_MAX + 1;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.who.pid = 1;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	bad = ev;
	bad.addr[15] = 1;
	assert_int_equal(ug_audit_record(f->a, &bad, sizeof(bad)), -EINVAL);
	ev = event(0, 7);
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(sql_int(f->path, "SELECT sum(count) FROM lost_events "
					  "WHERE unit = 'demo.service' AND kind = 'ringbuf'"), 9);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM audit"), 1);
	assert_int_equal(sql_int(f->path, "SELECT lost FROM audit_totals "
					  "WHERE unit = 'demo.service'"), 9);
	assert_int_equal(sql_int(f->path, "SELECT total FROM audit_totals "
					  "WHERE unit = 'demo.service'"), 10);
}

/*
 * LSM records: aggregated like network ones (count, first time), and both path flags are
 * accepted. Before schema 6 a record with "path unreadable" (UG_LSM_F_NO_PATH) was dropped
 * as malformed, and "path too long" was journaled as an IPv6 header chain.
 */
static void test_lsm_record(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	uint64_t now_ns = (uint64_t)clock_us(CLOCK_BOOTTIME) * 1000;
	struct ug_lsm_event ev = {
		.ts_boot_ns = now_ns, .first_ns = now_ns - 2000000000ULL, .count = 3,
		.who = { .cgid = 42, .unit_cgid = 42, .pid = 7 }, .hook = UG_HOOK_FILE_OPEN,
		.verdict = UG_VERDICT_DENY, .access = UG_ACCESS_READ, .flags = UG_LSM_F_NO_PATH,
		.comm = "cat",
	};

	assert_int_equal(ug_audit_lsm_record(f->a, &ev, sizeof(ev)), 0);
	assert_string_equal(ug_fake_journal_last_message,
			    "unitguard: demo.service: denied file_open path unreadable (pid 7 cat), "
			    "path unreadable (3 times in 2.0 s)");
	ev.flags = UG_LSM_F_TOO_LONG;
	ev.count = 1;
	ev.first_ns = now_ns;
	assert_int_equal(ug_audit_lsm_record(f->a, &ev, sizeof(ev)), 0);
	assert_null(strstr(ug_fake_journal_last_message, "IPv6"));
	ev.flags = 0x4;
	assert_int_equal(ug_audit_lsm_record(f->a, &ev, sizeof(ev)), -EINVAL);
	ev.flags = 0;
	ev.count = 0;
	assert_int_equal(ug_audit_lsm_record(f->a, &ev, sizeof(ev)), -EINVAL);
	ev.count = (uint64_t)INT64_MAX + 1;
	assert_int_equal(ug_audit_lsm_record(f->a, &ev, sizeof(ev)), -EINVAL);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(ug_store_audit_list(f->st, "demo.service", collect, &rows), 0);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.count[0], 3);
	assert_in_range(rows.time_us[0] - rows.first_time_us[0], 1999000, 2001000);
	assert_int_equal(sql_int(f->path, "SELECT total FROM audit_totals"), 4);
}

/* What the audit told the agent: records let go, counted not stored, marks asked. */
static struct {
	int durable;
	uint64_t unstored;
	int marks;
} told;

static void on_durable(void *ctx)
{
	told.durable++;
}

static void on_unstored(uint64_t n, void *ctx)
{
	told.unstored += n;
}

static size_t on_marks(struct ug_store_mark *m, size_t max, void *ctx)
{
	static char value[32];

	assert_true(max >= 1);
	snprintf(value, sizeof(value), "mark %d", ++told.marks);
	m[0] = (struct ug_store_mark){ .key = "audit_ring_net", .value = value };
	return 1;
}

static void use_told(struct fixture *f)
{
	static const struct ug_audit_ops ops = { .target = target, .family_rule = family_rule,
						 .durable = on_durable, .unstored = on_unstored,
						 .marks = on_marks };

	memset(&told, 0, sizeof(told));
	ug_audit_free(f->a);
	assert_int_equal(ug_audit_new(f->st, &ops, &f->a), 0);
}

/*
 * Issue 21.7: records are let go from their ring only once their rows are committed,
 * with the ring's mark in the same transaction; a lost count is stored in that
 * transaction too, not before it.
 */
static void test_durable(void **state)
{
	struct fixture *f = *state;
	struct ug_event ev = event(1, 7);
	struct ug_event lost = { .ts_boot_ns = 1, .first_ns = 1, .count = 9,
				 .who = { .unit_cgid = 42 }, .flags = UG_EV_F_LOST };
	char buf[32];

	use_told(f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_record(f->a, &lost, sizeof(lost)), 0);
	assert_int_equal(told.durable, 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM lost_events"), 0);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(told.durable, 1);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(sql_int(f->path, "SELECT sum(count) FROM lost_events WHERE "
					  "unit = 'demo.service'"), 9);
	assert_int_equal(ug_store_agent_get(f->st, "audit_ring_net", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "mark 1");
	/* Nothing queued: nothing to commit; what was given (a malformed record) may go. */
	ev.family = 99;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), -EINVAL);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(told.durable, 2);
	assert_int_equal(told.marks, 1);
	assert_int_equal(told.unstored, 0);
}

/*
 * The store cannot take rows (another writer holds it): the queue is kept until it is
 * full; then its denials are counted as not stored and let go, and the queue takes the
 * next ones, stored once the store works again. Every denial is stored or counted once.
 */
static void test_store_down(void **state)
{
	struct fixture *f = *state;
	struct ug_event ev = event(1, 7);
	sqlite3 *db;

	use_told(f);
	ug_store_set_busy_timeout(f->st, 1);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ev.count = 2;
	for (int i = 0; i < UG_AUDIT_TX_ROWS; i++)
		assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(ug_audit_flush(f->a), -EBUSY);
	assert_int_equal(told.durable, 0);
	assert_int_equal(told.unstored, 0);
	ev.count = 3;
	assert_int_equal(ug_audit_record(f->a, &ev, sizeof(ev)), 0);
	assert_int_equal(told.durable, 1);
	assert_int_equal(told.unstored, 2 * UG_AUDIT_TX_ROWS);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ug_audit_flush(f->a), 0);
	assert_int_equal(told.durable, 2);
	assert_int_equal(sql_int(f->path, "SELECT sum(count) FROM audit"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_future_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp_conversion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aggregated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsm_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_down, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
