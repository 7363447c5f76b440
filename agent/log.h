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

#endif
