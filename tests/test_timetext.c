// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/timetext.c: journalctl's time syntax, as `audit --since/--until` take it. Local
 * times are read in a fixed zone with daylight saving time (Central European, as a POSIX TZ
 * rule, so no tzdata is needed): the results do not depend on the machine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timetext.h"

#define US 1000000LL
/* 2026-11-30T14:00:00Z, a Monday; 15:00 in Berlin (CET, UTC+1). */
#define NOV30_14Z (1796047200LL * US)
/* 2026-03-29T00:00:00Z: Berlin's clocks went from 02:00 CET to 03:00 CEST at 01:00Z. */
#define MAR29_0Z (1774742400LL * US)

static int set_zone(void **state)
{
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return 0;
}

static int64_t parse_ok(const char *text, int64_t now)
{
	char err[256] = "";
	int64_t t = 42;

	if (ug_time_parse(text, now, &t, err, sizeof(err)))
		fail_msg("'%s' was refused: %s", text, err);
	return t;
}

static void relative(void **state)
{
	const int64_t now = NOV30_14Z + 123456;

	assert_int_equal(parse_ok("now", now), now);
	assert_int_equal(parse_ok("-1h", now), now - 3600 * US);
	assert_int_equal(parse_ok("+30min", now), now + 1800 * US);
	assert_int_equal(parse_ok("2 days ago", now), now - 2 * 86400 * US);
	assert_int_equal(parse_ok("1h 30min ago", now), now - 5400 * US);
	assert_int_equal(parse_ok("-1w2d", now), now - 9 * 86400 * US);
	assert_int_equal(parse_ok("-5us", now), now - 5);
	assert_int_equal(parse_ok("@1764500000", now), 1764500000LL * US);
}

static void absolute(void **state)
{
	const int64_t now = NOV30_14Z;

	assert_int_equal(parse_ok("2026-11-30T14:00:00Z", now), NOV30_14Z);
	assert_int_equal(parse_ok("2026-11-30 14:00:00+01:00", now), NOV30_14Z - 3600 * US);
	assert_int_equal(parse_ok("2026-11-30 14:00-05:30", now), NOV30_14Z + 19800 * US);
	assert_int_equal(parse_ok("2026-11-30T14:00:00.5Z", now), NOV30_14Z + 500000);
	/* To the microsecond; digits past the sixth are dropped. */
	assert_int_equal(parse_ok("2026-11-30T14:00:00.123456Z", now), NOV30_14Z + 123456);
	assert_int_equal(parse_ok("2026-11-30T14:00:00.1234567z", now), NOV30_14Z + 123456);
	/* Blanks and "T"s between date and time, blanks before the zone and at the end, as
	 * SQLite's date functions took them (they read these times before). */
	assert_int_equal(parse_ok("2026-11-30  14:00 Z ", now), NOV30_14Z);
	assert_int_equal(parse_ok("2026-11-30\tT14:00Z", now), NOV30_14Z);
	/* Without a zone: local time. Berlin is UTC+1 in November, UTC+2 in June. */
	assert_int_equal(parse_ok("2026-11-30 14:00", now), NOV30_14Z - 3600 * US);
	assert_int_equal(parse_ok("2026-11-30", now), NOV30_14Z - 15 * 3600 * US);
	assert_int_equal(parse_ok("2026-11-30T", now), NOV30_14Z - 15 * 3600 * US);
	assert_int_equal(parse_ok("2026-06-30 14:00:00", now),
			 NOV30_14Z - 153 * 86400 * US - 2 * 3600 * US);
	/* Leap days that exist. */
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z", now), 1709164800LL * US);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z", now), 951782400LL * US);
}

/* today, yesterday, tomorrow and a time of day alone: the local day of now. */
static void local_days(void **state)
{
	/* 2026-12-01 00:30 in Berlin: the UTC date is still the 30th. */
	const int64_t late = NOV30_14Z + 9 * 3600 * US + 1800 * US;
	/* 2026-03-30 12:00 in Berlin, the day after clocks moved. */
	const int64_t spring = MAR29_0Z + 86400 * US + 10 * 3600 * US;

	assert_int_equal(parse_ok("today", NOV30_14Z), NOV30_14Z - 15 * 3600 * US);
	assert_int_equal(parse_ok("yesterday", NOV30_14Z), NOV30_14Z - 39 * 3600 * US);
	assert_int_equal(parse_ok("tomorrow", NOV30_14Z), NOV30_14Z + 9 * 3600 * US);
	assert_int_equal(parse_ok("today", late), NOV30_14Z + 9 * 3600 * US);
	assert_int_equal(parse_ok("14:00", NOV30_14Z), NOV30_14Z - 3600 * US);
	assert_int_equal(parse_ok("14:00", late), NOV30_14Z + 23 * 3600 * US);
	assert_int_equal(parse_ok("14:00:05.25Z", NOV30_14Z), NOV30_14Z + 5 * US + 250000);
	/* Midnight CEST on the 30th, midnight CET on the 29th: the day that had 23 hours. */
	assert_int_equal(parse_ok("today", spring), MAR29_0Z + 22 * 3600 * US);
	assert_int_equal(parse_ok("yesterday", spring), MAR29_0Z - 3600 * US);
}

static void refused(void **state)
{
	static const char *const bad[] = {
		"", "later", "-1x", "-", "-h", "2026-13-45", "@", "@-5", "1h", "ago",
		"-99999999999h", "2460000", "+15250000w", "14", "1:00", "2026-11-30Z",
		"2026-11-30 1:00", "2026-11-30 14:00:5", "2026-11-30 14:00:05.",
		"2026-11-30 14:00+15:00", "2026-11-30 14:00+01:60", "2026-11-30 14:00+1:00",
		"2026-11-30 14:00 x", "2026-11-30x14:00", "26-11-30", "2026/11/30",
		"25:00", "14:60", "2026-11-30 14:00:60", "2026-00-10", "2026-11-00", "2026-11-32",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;

		err[0] = '\0';
		if (ug_time_parse(bad[i], NOV30_14Z, &t, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted as %lld", bad[i], (long long)t);
		assert_int_equal(t, 42);
		if (!strstr(err, "invalid time"))
			fail_msg("'%s': no message: %s", bad[i], err);
	}
	assert_int_equal(ug_time_parse(NULL, 0, &(int64_t){ 0 }, err, sizeof(err)), -EINVAL);
	assert_int_equal(ug_time_parse("now", 0, NULL, err, sizeof(err)), -EINVAL);
	/* No buffer for the message: still refused. */
	assert_int_equal(ug_time_parse("later", 0, &(int64_t){ 0 }, NULL, 0), -EINVAL);
}

/*
 * Issue 21 item 8: a date or time that does not exist is refused with a message that says
 * so, not carried over (SQLite's date functions read 2026-02-30 as 2026-03-02 and 24:00 as
 * the next day's midnight).
 */
static void impossible(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "2026-02-30", "February 2026 has 28 days" },
		{ "2026-02-29 12:00", "February 2026 has 28 days" },
		{ "1900-02-29T00:00Z", "February 1900 has 28 days" },
		{ "2028-02-30", "February 2028 has 29 days" },
		{ "2026-04-31", "April 2026 has 30 days" },
		{ "2026-11-31T14:00:00Z", "November 2026 has 30 days" },
		{ "2026-13-01", "there is no month 13" },
		{ "2026-00-01", "there is no month 00" },
		{ "2026-11-00", "there is no day 00" },
		{ "2026-11-30 24:00", "hour 24 does not exist (00-23)" },
		{ "24:00", "hour 24 does not exist (00-23)" },
		{ "2026-11-30 25:00", "hour 25 does not exist (00-23)" },
		{ "2026-11-30 14:60", "minute 60 does not exist (00-59)" },
		{ "2026-11-30 14:00:60Z", "second 60 does not exist (00-59)" },
	};
	char err[256], want[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;

		err[0] = '\0';
		if (ug_time_parse(bad[i].text, NOV30_14Z, &t, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted as %lld", bad[i].text, (long long)t);
		assert_int_equal(t, 42);
		snprintf(want, sizeof(want), "invalid time '%s': %s", bad[i].text, bad[i].why);
		assert_string_equal(err, want);
	}
	/* The last day of each month is there. */
	assert_int_equal(parse_ok("2026-02-28T00:00Z", 0), 1772236800LL * US);
	assert_int_equal(parse_ok("2028-02-29T00:00Z", 0), 1835395200LL * US);
	assert_int_equal(parse_ok("2026-04-30T23:59:59Z", 0), 1777593599LL * US);
	assert_int_equal(parse_ok("2026-12-31T00:00Z", 0), 1798675200LL * US);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relative),
		cmocka_unit_test(absolute),
		cmocka_unit_test(local_days),
		cmocka_unit_test(refused),
		cmocka_unit_test(impossible),
	};

	return cmocka_run_group_tests(tests, set_zone, NULL);
}
