/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The times `unitguardctl audit --since/--until` take, in journalctl's syntax, to
 * microseconds since the epoch. Pure: no I/O but what the C library reads to know the
 * local time zone (TZ, /etc/localtime), which "today" and a time without a zone need, as
 * they do for journalctl.
 */
#ifndef UG_TIMETEXT_H
#define UG_TIMETEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * text is one of:
 *  - "now"; "today", "yesterday", "tomorrow": local midnight;
 *  - a relative time: "-1h", "+30min", "2 days ago", "1h 30min ago";
 *  - "@SECONDS": seconds since the epoch;
 *  - a time of day, today's: "14:00", "14:00:05", "14:00:05.25";
 *  - a date, maybe with a time: "2026-11-30", "2026-11-30 14:00[:05[.123456]]" (or a "T"
 *    between them).
 * A time of day is local unless a zone follows it: "Z" or "+01:00" / "-05:30". now_us is
 * what relative times, "today" and a time of day alone count from. A date or time that
 * does not exist (2026-02-30, month 13, hour 24, minute 60) is refused, never carried
 * over into the next day or month. *out is written only on success; -EINVAL otherwise,
 * with err (errlen > 0) saying why and what is accepted.
 */
int ug_time_parse(const char *text, int64_t now_us, int64_t *out, char *err, size_t errlen);

#endif /* UG_TIMETEXT_H */
