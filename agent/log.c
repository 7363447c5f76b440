// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

int ug_verbose;

/*
 * Is stderr the journal? systemd sets JOURNAL_STREAM to the device and inode
 * of the stream it connects; a stderr redirected elsewhere since (a shell in
 * a unit, `unitguardd 2>file`) no longer matches them.
 */
static bool stderr_is_journal(void)
{
	static int journal = -1;
	unsigned long long dev, ino;
	const char *e;
	struct stat st;

	if (journal >= 0)
		return journal;
	e = getenv("JOURNAL_STREAM");
	journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
		  !fstat(STDERR_FILENO, &st) && st.st_dev == dev && st.st_ino == ino;
	return journal;
}

static void __attribute__((format(printf, 2, 0))) log_line(int prio, const char *fmt, va_list ap)
{
	if (stderr_is_journal())
		fprintf(stderr, "<%d>", prio);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ug_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !ug_verbose)
		return;
	va_start(ap, fmt);
	log_line(prio, fmt, ap);
	va_end(ap);
}

void ug_log_id(int prio, const char *message_id, const char *unit, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int r;

	if (prio == LOG_DEBUG && !ug_verbose)
		return;
	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0) {
		/* No memory for the entry: the line without its id. */
		va_start(ap, fmt);
		log_line(prio, fmt, ap);
		va_end(ap);
		return;
	}
	/* OBJECT_SYSTEMD_UNIT: `journalctl -u UNIT` lists it; a path target has none. */
	if (unit)
		r = sd_journal_send("MESSAGE=%s", text, "MESSAGE_ID=%s", message_id,
				    "PRIORITY=%d", prio,
				    "SYSLOG_IDENTIFIER=%s", program_invocation_short_name,
				    "OBJECT_SYSTEMD_UNIT=%s", unit[0] == '/' ? "" : unit,
				    "UNITGUARD_UNIT=%s", unit, NULL);
	else
		r = sd_journal_send("MESSAGE=%s", text, "MESSAGE_ID=%s", message_id,
				    "PRIORITY=%d", prio,
				    "SYSLOG_IDENTIFIER=%s", program_invocation_short_name, NULL);
	/* Under systemd the entry replaces the stderr line, which could not carry
	 * the id; elsewhere the line is the operator's and the entry goes too. */
	if (r < 0 || !stderr_is_journal())
		ug_log(prio, "%s", text);
	free(text);
}
