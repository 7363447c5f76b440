// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * journalctl's time syntax, as far as an audit query needs it (timetext.h). The grammar of
 * dates and times is the one SQLite's date functions read, which did this work before
 * (fixed-width fields, any run of blanks or "T" between date and time, any number of
 * fraction digits, blanks before a zone and at the end), so that what was accepted stays
 * accepted, but for dates and times that do not exist (check()); the C library does the
 * calendar work (timegm, mktime).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "timetext.h"

#define US_PER_SEC 1000000LL

/* A date and time as written. */
struct civil {
	int year, mon, mday, hour, min, sec, usec;
	bool zone;    /* zone_min applies; else the time is local */
	int zone_min; /* east of UTC */
};

static int relative_us(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t us;
	} units[] = {
		{ "usec", 1 }, { "us", 1 }, { "msec", 1000 }, { "ms", 1000 },
		{ "seconds", 1000000 }, { "second", 1000000 }, { "sec", 1000000 }, { "s", 1000000 },
		{ "minutes", 60000000 }, { "minute", 60000000 }, { "min", 60000000 },
		{ "m", 60000000 }, { "hours", 3600000000LL }, { "hour", 3600000000LL },
		{ "hr", 3600000000LL }, { "h", 3600000000LL }, { "days", 86400000000LL },
		{ "day", 86400000000LL }, { "d", 86400000000LL }, { "weeks", 604800000000LL },
		{ "week", 604800000000LL }, { "w", 604800000000LL },
	};
	int64_t total = 0;
	bool any = false;

	while (*s) {
		char *end;
		long long v;
		size_t k;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || v > 1000000000LL)
			return -EINVAL;
		s = end;
		while (*s == ' ')
			s++;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			size_t len = strlen(units[k].unit);

			if (!strncmp(s, units[k].unit, len) && (s[len] < 'a' || s[len] > 'z'))
				break;
		}
		if (k == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		s += strlen(units[k].unit);
		if (__builtin_mul_overflow(v, units[k].us, &v) ||
		    __builtin_add_overflow(total, v, &total))
			return -EINVAL;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*out = total;
	return 0;
}

/* n decimal digits at s. */
static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Exactly n digits at *s, as a number; *s moves past them. */
static bool take(const char **s, size_t n, int *out)
{
	int v = 0;

	if (!digits(*s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (*s)[i] - '0';
	*s += n;
	*out = v;
	return true;
}

/* C's isspace in the C locale, without the locale. */
static bool blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* "HH:MM[:SS[.fraction]]", blanks, maybe a zone ("Z", "+HH:MM", "-HH:MM"), blanks, the
 * end. Syntax only: the values are judged by check(). */
static int parse_clock(const char *s, struct civil *c)
{
	int sign;

	if (!take(&s, 2, &c->hour) || *s++ != ':' || !take(&s, 2, &c->min))
		return -EINVAL;
	c->sec = c->usec = 0;
	if (*s == ':') {
		s++;
		if (!take(&s, 2, &c->sec))
			return -EINVAL;
		/* Microseconds: the digits past the sixth are dropped. */
		if (*s == '.' && digits(s + 1, 1)) {
			int scale = 100000;

			for (s++; digits(s, 1); s++, scale /= 10)
				c->usec += (*s - '0') * scale;
		}
	}
	while (blank(*s))
		s++;
	c->zone = false;
	if (*s == 'Z' || *s == 'z') {
		c->zone = true;
		c->zone_min = 0;
		s++;
	} else if (*s == '+' || *s == '-') {
		int h, m;

		sign = *s++ == '-' ? -1 : 1;
		if (!take(&s, 2, &h) || *s++ != ':' || !take(&s, 2, &m))
			return -EINVAL;
		if (h > 14 || m > 59)
			return -EINVAL;
		c->zone = true;
		c->zone_min = sign * (h * 60 + m);
	}
	while (blank(*s))
		s++;
	return *s ? -EINVAL : 0;
}

/* "YYYY-MM-DD", then blanks or "T"s, then nothing or a time (parse_clock). */
static int parse_date(const char *s, struct civil *c)
{
	if (!take(&s, 4, &c->year) || *s++ != '-' || !take(&s, 2, &c->mon) || *s++ != '-' ||
	    !take(&s, 2, &c->mday))
		return -EINVAL;
	while (blank(*s) || *s == 'T')
		s++;
	if (*s)
		return parse_clock(s, c);
	c->hour = c->min = c->sec = c->usec = 0;
	c->zone = false;
	return 0;
}

static int month_days(int year, int mon)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);

	return days[mon - 1] + (mon == 2 && leap);
}

/*
 * Does the date and time exist? Checked here because timegm and mktime (and SQLite's date
 * functions before them) carry an impossible one over: 2026-02-30 would be 2026-03-02, and
 * 24:00 the next day's midnight, a silently different --since than the one typed.
 */
static int check(const struct civil *c, const char *text, char *err, size_t errlen)
{
	static const char *const months[12] = {
		"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December",
	};
	static const struct {
		const char *name;
		int hi;
	} f[] = { { "hour", 23 }, { "minute", 59 }, { "second", 59 } };
	const int v[] = { c->hour, c->min, c->sec };

	if (c->mon < 1 || c->mon > 12) {
		ug_errbuf(err, errlen, "invalid time '%s': there is no month %02d", text, c->mon);
		return -EINVAL;
	}
	if (c->mday < 1) {
		ug_errbuf(err, errlen, "invalid time '%s': there is no day %02d", text, c->mday);
		return -EINVAL;
	}
	if (c->mday > month_days(c->year, c->mon)) {
		ug_errbuf(err, errlen, "invalid time '%s': %s %04d has %d days", text,
			  months[c->mon - 1], c->year, month_days(c->year, c->mon));
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (v[i] > f[i].hi) {
			ug_errbuf(err, errlen,
				  "invalid time '%s': %s %02d does not exist (00-%02d)", text,
				  f[i].name, v[i], f[i].hi);
			return -EINVAL;
		}
	}
	return 0;
}

/* The microseconds since the epoch of c, its date set. */
static int civil_us(const struct civil *c, int64_t *out)
{
	struct tm tm = {
		.tm_year = c->year - 1900,
		.tm_mon = c->mon - 1,
		.tm_mday = c->mday,
		.tm_hour = c->hour,
		.tm_min = c->min,
		.tm_sec = c->sec,
		.tm_isdst = -1,
	};
	time_t t;

	errno = 0;
	t = c->zone ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1 && errno)
		return -EINVAL;
	if (c->zone)
		t -= (time_t)c->zone_min * 60;
	*out = (int64_t)t * US_PER_SEC + c->usec;
	return 0;
}

/* The local calendar day of now_us, days later (or earlier); noon, so that no change of
 * daylight saving time moves it to another day. */
static int local_day(int64_t now_us, int days, struct civil *c)
{
	time_t t = (time_t)(now_us / US_PER_SEC - (now_us % US_PER_SEC < 0));
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -EINVAL;
	/* mktime carries the day over to the next month or year. */
	tm.tm_mday += days;
	tm.tm_hour = 12;
	tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	errno = 0;
	if (mktime(&tm) == (time_t)-1 && errno)
		return -EINVAL;
	*c = (struct civil){ .year = tm.tm_year + 1900, .mon = tm.tm_mon + 1,
			     .mday = tm.tm_mday };
	return 0;
}

int ug_time_parse(const char *text, int64_t now_us, int64_t *out, char *err, size_t errlen)
{
	static const struct {
		const char *word;
		int days;
	} days[] = { { "today", 0 }, { "yesterday", -1 }, { "tomorrow", 1 } };
	struct civil c;
	char buf[64], *ago;
	size_t len;
	int64_t rel;
	int ret;

	if (!text || !out)
		return -EINVAL;
	len = strlen(text);
	if (!len || len >= sizeof(buf))
		goto bad;
	memcpy(buf, text, len + 1);
	if (!strcmp(buf, "now")) {
		*out = now_us;
		return 0;
	}
	if (buf[0] == '@') {
		char *end;
		long long secs;

		errno = 0;
		secs = strtoll(buf + 1, &end, 10);
		if (errno || end == buf + 1 || *end || secs < 0 || secs > INT64_MAX / US_PER_SEC)
			goto bad;
		*out = secs * US_PER_SEC;
		return 0;
	}
	if ((buf[0] == '-' || buf[0] == '+') && !relative_us(buf + 1, &rel)) {
		if (buf[0] == '-' ? __builtin_sub_overflow(now_us, rel, &rel)
				  : __builtin_add_overflow(now_us, rel, &rel))
			goto bad;
		*out = rel;
		return 0;
	}
	ago = len > 4 ? buf + len - 4 : NULL;
	if (ago && !strcmp(ago, " ago")) {
		*ago = '\0';
		if (relative_us(buf, &rel) || __builtin_sub_overflow(now_us, rel, &rel))
			goto bad;
		*out = rel;
		return 0;
	}
	/* Local midnight, like journalctl. */
	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		if (strcmp(buf, days[i].word))
			continue;
		if (local_day(now_us, days[i].days, &c) || civil_us(&c, out))
			goto bad;
		return 0;
	}
	/* A time of day alone ("14:00", "14:00:05"): today's, as journalctl takes it. A
	 * date, and maybe a time: YYYY-MM-DD. */
	if (len >= 5 && digits(buf, 2) && buf[2] == ':' && digits(buf + 3, 2))
		ret = local_day(now_us, 0, &c) ?: parse_clock(buf, &c);
	else if (len >= 10 && digits(buf, 4) && buf[4] == '-')
		ret = parse_date(buf, &c);
	else
		goto bad;
	if (ret)
		goto bad;
	ret = check(&c, text, err, errlen);
	if (ret)
		return ret;
	if (civil_us(&c, out))
		goto bad;
	return 0;
bad:
	ug_errbuf(err, errlen, "invalid time '%s': expected e.g. now, today, yesterday, -1h, "
		  "\"2 days ago\", 2026-11-30, \"2026-11-30 14:00:00\", 2026-11-30T14:00:00Z or "
		  "@SECONDS", text);
	return -EINVAL;
}
