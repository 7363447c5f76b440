/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef UG_LOG_H
#define UG_LOG_H

#include <syslog.h>

/* Set by -v: LOG_DEBUG messages (and libbpf's debug output) are shown. */
extern int ug_verbose;

/*
 * Log one line to stderr. Under systemd (JOURNAL_STREAM set) the line gets a
 * "<N>" priority prefix that journald turns into PRIORITY=N. Messages start
 * with their subsystem: "net: failed to attach connect4: ...".
 */
void ug_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * ug_log() for a message the journal catalog explains: the journal entry
 * carries message_id (agent/messages.h) and, when unit is not NULL, the
 * target in UNITGUARD_UNIT and OBJECT_SYSTEMD_UNIT. Under systemd the entry
 * is sent natively instead of the stderr line; otherwise both are written,
 * as the denials are. Without journald, the line alone.
 */
void ug_log_id(int prio, const char *message_id, const char *unit, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
