// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * agent/ring.c against a real BPF ring buffer: records read are not let go
 * until released, so a reader that dies before releasing leaves them to the
 * next one; a mark skips what was stored; and the units' shares of the audit
 * (bpf/lib/lost.bpf.h) stop at their caps. The producer and the shares are
 * tests/bpf/test_ring.bpf.c, run with BPF_PROG_TEST_RUN. Needs CAP_BPF;
 * exits 77 when the object cannot be loaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ring.h"
#include "unitguard.h"
#include "test_ring.h"
#include "test_ring.skel.h"

static struct ug_test_ring_bpf *skel;

static void produce(uint32_t first, uint32_t n, uint32_t discard)
{
	struct ug_test_produce c = { .first = first, .n = n, .discard = discard };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c));

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.produce), &o), 0);
	assert_int_equal(o.retval, 0);
}

/* What a reader saw: the records' numbers. */
struct seen {
	uint32_t v[64];
	int n;
	int stop_at;           /* stop after this record (0: never) */
	struct ug_ring **self; /* released in the callback of record release_at */
	uint32_t release_at;
};

static int collect(void *ctx, void *data, size_t size)
{
	struct seen *s = ctx;
	uint32_t v;

	assert_int_equal(size, 16);
	memcpy(&v, data, sizeof(v));
	assert_true(s->n < 64);
	s->v[s->n++] = v;
	if (s->self && v == s->release_at)
		ug_ring_release(*s->self);
	return s->stop_at && v == (uint32_t)s->stop_at;
}

static struct ug_ring *ring_open(struct seen *s)
{
	struct ug_ring *r = NULL;

	memset(s, 0, sizeof(*s));
	assert_int_equal(ug_ring_new(bpf_map__fd(skel->maps.ring), collect, s, &r), 0);
	return r;
}

/* Empty the ring for the next test. */
static void drain_all(void)
{
	struct seen s;
	struct ug_ring *r = ring_open(&s);

	ug_ring_read(r, 1000);
	ug_ring_release(r);
	ug_ring_free(r);
}

/* Read, not released: a reader that goes away (dies) leaves the records to the
 * next one; released, they are gone. */
static void test_hold_release(void **state)
{
	struct seen s;
	struct ug_ring *r;

	drain_all();
	produce(1, 10, 0);
	r = ring_open(&s);
	assert_false(ug_ring_held(r));
	assert_int_equal(ug_ring_read(r, 100), 10);
	assert_int_equal(s.v[0], 1);
	assert_int_equal(s.v[9], 10);
	assert_true(ug_ring_held(r));
	/* Reading on goes past what is held: nothing new. */
	assert_int_equal(ug_ring_read(r, 100), 0);
	ug_ring_free(r);

	r = ring_open(&s);
	assert_int_equal(ug_ring_read(r, 4), 4);
	assert_int_equal(s.v[0], 1);
	assert_int_equal(ug_ring_read(r, 100), 6);
	ug_ring_release(r);
	assert_false(ug_ring_held(r));
	ug_ring_free(r);

	r = ring_open(&s);
	assert_int_equal(ug_ring_read(r, 100), 0);
	ug_ring_free(r);
}

/* Released in a record's callback: that record is not dealt with yet, and is
 * left to the next reader with those after it. A callback can stop the read. */
static void test_release_in_callback(void **state)
{
	struct seen s;
	struct ug_ring *r;

	drain_all();
	produce(1, 8, 0);
	r = ring_open(&s);
	s.self = &r;
	s.release_at = 5;
	s.stop_at = 6;
	assert_int_equal(ug_ring_read(r, 100), 6);
	ug_ring_free(r);
	r = ring_open(&s);
	assert_int_equal(ug_ring_read(r, 100), 4);
	assert_int_equal(s.v[0], 5);
	assert_int_equal(s.v[3], 8);
	ug_ring_release(r);
	ug_ring_free(r);
}

/* A discarded record is skipped, the next ones read. */
static void test_discard(void **state)
{
	struct seen s;
	struct ug_ring *r;

	drain_all();
	produce(1, 4, 2);
	r = ring_open(&s);
	assert_int_equal(ug_ring_read(r, 100), 3);
	assert_int_equal(s.v[1], 3);
	ug_ring_release(r);
	ug_ring_free(r);
}

/* A mark committed with the rows says where their records end: the next reader
 * skips them even though they were never released. Marks of another ring,
 * another boot, or positions it never had move nothing. */
static void test_mark_resume(void **state)
{
	char mark[UG_RING_MARK_MAX], other[UG_RING_MARK_MAX + 16], boot[40];
	unsigned long pos;
	unsigned id;
	struct seen s;
	struct ug_ring *r;

	drain_all();
	produce(1, 6, 0);
	r = ring_open(&s);
	s.stop_at = 4;
	assert_int_equal(ug_ring_read(r, 100), 4);
	assert_int_equal(ug_ring_mark(r, mark, sizeof(mark)), 0);
	assert_int_equal(ug_ring_mark(r, other, 8), -ENAMETOOLONG);
	ug_ring_free(r); /* killed before releasing */

	r = ring_open(&s);
	assert_int_equal(sscanf(mark, "%39s %u %lu", boot, &id, &pos), 3);
	snprintf(other, sizeof(other), "%s %u %lu", boot, id + 1, pos);
	assert_int_equal(ug_ring_resume(r, other), -ESTALE);
	snprintf(other, sizeof(other), "00000000-0000-0000-0000-000000000000 %u %lu", id, pos);
	assert_int_equal(ug_ring_resume(r, other), -ESTALE);
	snprintf(other, sizeof(other), "%s %u %lu", boot, id, pos + 4096);
	assert_int_equal(ug_ring_resume(r, other), -ESTALE);
	snprintf(other, sizeof(other), "%s %u %lu", boot, id, pos + 4);
	assert_int_equal(ug_ring_resume(r, other), -ESTALE);
	assert_int_equal(ug_ring_resume(r, "garbage"), -ESTALE);
	snprintf(other, sizeof(other), "%s x", mark);
	assert_int_equal(ug_ring_resume(r, other), -ESTALE);
	assert_int_equal(ug_ring_resume(r, mark), 1);
	assert_int_equal(ug_ring_read(r, 100), 2);
	assert_int_equal(s.v[0], 5);
	/* Behind the consumer: already let go, nothing to do. */
	ug_ring_release(r);
	assert_int_equal(ug_ring_resume(r, mark), 0);
	produce(7, 1, 0);
	assert_int_equal(ug_ring_read(r, 100), 1);
	assert_int_equal(s.v[2], 7);
	ug_ring_release(r);
	ug_ring_free(r);
}

/* n times op on the share of unit cgid in which: how many succeeded. */
static uint32_t share_op(uint64_t cgid, uint32_t op, uint32_t which, uint32_t n)
{
	uint32_t ok = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct ug_test_share c = { .cgid = cgid, .op = op, .which = which };
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &c, .ctx_size_in = sizeof(c));

		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.share), &o),
				 0);
		ok += c.ok;
	}
	return ok;
}

/* Each unit's share of the aggregation maps and of the rings stops at its cap,
 * per unit and per map; an entry given back can be taken again; lost denials
 * are counted for their unit. */
static void test_shares(void **state)
{
	struct ug_share_val v;
	uint64_t a = 1001, b = 1002;

	assert_int_equal(share_op(a, UG_TEST_AGG_TAKE, UG_SHARE_NET, UG_SHARE_AGG_NET + 10),
			 UG_SHARE_AGG_NET);
	assert_int_equal(share_op(a, UG_TEST_AGG_TAKE, UG_SHARE_NET, 1), 0);
	assert_int_equal(share_op(b, UG_TEST_AGG_TAKE, UG_SHARE_NET, 3), 3);
	assert_int_equal(share_op(a, UG_TEST_AGG_TAKE, UG_SHARE_LSM, UG_SHARE_AGG_LSM + 1),
			 UG_SHARE_AGG_LSM);
	assert_int_equal(share_op(a, UG_TEST_AGG_PUT, UG_SHARE_NET, 2), 2);
	assert_int_equal(share_op(a, UG_TEST_AGG_TAKE, UG_SHARE_NET, 5), 2);
	assert_int_equal(share_op(a, UG_TEST_RING_TAKE, UG_SHARE_NET, UG_SHARE_RING_NET + 7),
			 UG_SHARE_RING_NET);
	assert_int_equal(share_op(a, UG_TEST_RING_TAKE, UG_SHARE_LSM, UG_SHARE_RING_LSM + 7),
			 UG_SHARE_RING_LSM);
	assert_int_equal(share_op(b, UG_TEST_RING_TAKE, UG_SHARE_NET, 5), 5);
	assert_int_equal(share_op(a, UG_TEST_AGG_TAKE, 2, 1), 0);
	assert_int_equal(share_op(a, UG_TEST_LOST, 0, 9), 9);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.ug_share), &a, &v), 0);
	assert_int_equal(v.lost, 9);
	assert_int_equal(v.agg[UG_SHARE_NET], UG_SHARE_AGG_NET);
	assert_int_equal(v.agg[UG_SHARE_LSM], UG_SHARE_AGG_LSM);
	assert_int_equal(v.ring[UG_SHARE_NET], UG_SHARE_RING_NET);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.ug_share), &b, &v), 0);
	assert_int_equal(v.lost, 0);
	assert_int_equal(v.agg[UG_SHARE_NET], 3);
	/* Given back past zero: stays at zero. */
	assert_int_equal(share_op(b, UG_TEST_AGG_PUT, UG_SHARE_NET, 5), 5);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.ug_share), &b, &v), 0);
	assert_int_equal(v.agg[UG_SHARE_NET], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_release),
		cmocka_unit_test(test_release_in_callback),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_mark_resume),
		cmocka_unit_test(test_shares),
	};
	int ret;

	skel = ug_test_ring_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_ring: cannot load the test BPF object: %s (needs CAP_BPF); "
			"skipped\n", strerror(errno));
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ug_test_ring_bpf__destroy(skel);
	return ret;
}
