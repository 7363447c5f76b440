// SPDX-License-Identifier: LGPL-2.1-or-later
/* metrics/prom.c: the apply latency histogram's encoding (agent_state, which a
 * raw sqlite3 session can write) and label value escaping. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "prom.h"

static void latency_round_trip(void **state)
{
	struct ug_latency h = { 0 }, back = { 0 };
	char buf[512];

	(void)state;
	ug_latency_observe(&h, 0);      /* <= 1 ms */
	ug_latency_observe(&h, 1000);   /* on the bound: that bucket (le) */
	ug_latency_observe(&h, 1001);   /* the next */
	ug_latency_observe(&h, 60000000); /* past 10 s: +Inf */
	assert_int_equal(h.count, 4);
	assert_int_equal(h.sum_us, 60002001);
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[UG_LATENCY_BUCKETS], 1);
	assert_int_equal(ug_latency_encode(&h, buf, sizeof(buf)), 0);
	assert_int_equal(ug_latency_decode(buf, &back), 0);
	assert_memory_equal(&h, &back, sizeof(h));
	assert_int_equal(ug_latency_encode(&h, buf, 10), -ENOSPC);
}

static void latency_refuses_what_an_agent_does_not_write(void **state)
{
	static const char *const bad[] = {
		"",
		"1 1 5 1 0 0 0 0 0 0 0 0 0 0 0 0",      /* a bucket short */
		"1 1 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0",  /* one too many */
		"1 2 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0",    /* buckets do not add up to count */
		"2 1 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0",    /* another format */
		"1 1 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0 ",   /* trailing space */
		"1 1 5 -1 0 0 0 0 0 0 0 0 0 0 0 0 2",   /* negative */
		"1  1 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0",   /* two spaces */
		"1 1 5 99999999999999999999 0 0 0 0 0 0 0 0 0 0 0 0 0", /* past u64 */
		"1 0 0 18446744073709551615 1 0 0 0 0 0 0 0 0 0 0 0 0", /* the sum wraps */
	};
	struct ug_latency h = { .count = 7 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ug_latency_decode(bad[i], &h), -EINVAL);
		assert_int_equal(h.count, 7); /* untouched */
	}
	assert_int_equal(ug_latency_decode("1 1 5 1 0 0 0 0 0 0 0 0 0 0 0 0 0", &h), 0);
	assert_int_equal(h.count, 1);
}

static char *label(const char *v)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(f);
	ug_prom_label_value(f, v);
	fclose(f);
	return buf;
}

static void label_values_escaped_and_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "demo.service", "demo.service" },
		{ "a\\b\"c\nd", "a\\\\b\\\"c\\nd" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },               /* UTF-8 kept */
		{ "x\xffy", "x\xef\xbf\xbdy" },                 /* not UTF-8 */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },     /* overlong '/' */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* a surrogate */
		{ "end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd" }, /* cut short */
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = label(cases[i].in);

		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(latency_round_trip),
		cmocka_unit_test(latency_refuses_what_an_agent_does_not_write),
		cmocka_unit_test(label_values_escaped_and_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
