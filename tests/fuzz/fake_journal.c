/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sd_journal_send() for the audit harness and its unit test, linked in place of
 * libsystemd's. Fuzzing the audit decoder against the real journald would write millions of
 * denial entries into the host's journal, which the e2e tests read back. This one formats
 * every field as libsystemd does, so a format string that does not match its arguments is
 * still caught by the sanitizers, checks that each field is one journald accepts, and keeps
 * nothing but counts.
 */
#include <errno.h>
#include <printf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <systemd/sd-journal.h>

#include "fake_journal.h"

int ug_fake_journal_error;
unsigned long ug_fake_journal_sent;
char ug_fake_journal_last_message[UG_FAKE_JOURNAL_FIELD_MAX];

/* journald's rule for a field name: A-Z, 0-9 and '_', not starting with a digit. */
static bool field_name_ok(const char *f, size_t n)
{
	if (!n || (f[0] >= '0' && f[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((f[i] >= 'A' && f[i] <= 'Z') || (f[i] >= '0' && f[i] <= '9') || f[i] == '_'))
			return false;
	return true;
}

/* Step ap past the arguments fmt consumes, as libsystemd does with parse_printf_format(). */
static void skip_args(const char *fmt, va_list *ap)
{
	int types[64];
	size_t n = parse_printf_format(fmt, sizeof(types) / sizeof(types[0]), types);

	if (n > sizeof(types) / sizeof(types[0]))
		abort();
	for (size_t i = 0; i < n; i++) {
		int t = types[i];

		if (t & PA_FLAG_PTR) {
			(void)va_arg(*ap, void *);
			continue;
		}
		switch (t & ~PA_FLAG_MASK) {
		case PA_INT:
		case PA_CHAR:
			if (t & PA_FLAG_LONG_LONG)
				(void)va_arg(*ap, long long);
			else if (t & PA_FLAG_LONG)
				(void)va_arg(*ap, long);
			else
				(void)va_arg(*ap, int);
			break;
		case PA_WCHAR:
			(void)va_arg(*ap, wint_t);
			break;
		case PA_STRING:
		case PA_WSTRING:
		case PA_POINTER:
			(void)va_arg(*ap, void *);
			break;
		case PA_FLOAT:
		case PA_DOUBLE:
			if (t & PA_FLAG_LONG_DOUBLE)
				(void)va_arg(*ap, long double);
			else
				(void)va_arg(*ap, double);
			break;
		default:
			abort();
		}
	}
}

/* The format strings are the caller's, checked by the compiler where they are written
 * (sd-journal.h declares the senders with the printf attribute). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int send_fields(const char *format, va_list *ap)
{
	char field[UG_FAKE_JOURNAL_FIELD_MAX];
	va_list aq;

	for (const char *f = format; f; f = va_arg(*ap, const char *)) {
		const char *eq;

		va_copy(aq, *ap);
		vsnprintf(field, sizeof(field), f, aq);
		va_end(aq);
		skip_args(f, ap);
		eq = strchr(field, '=');
		if (!eq || !field_name_ok(field, (size_t)(eq - field))) {
			fprintf(stderr, "fake journal: field journald refuses: %.80s\n", field);
			abort();
		}
		if (!strncmp(field, "MESSAGE=", 8))
			strcpy(ug_fake_journal_last_message, field + 8);
	}
	if (ug_fake_journal_error)
		return -ug_fake_journal_error;
	ug_fake_journal_sent++;
	return 0;
}
#pragma GCC diagnostic pop

/* What sd_journal_send() expands to, unless SD_JOURNAL_SUPPRESS_LOCATION is defined. */
int sd_journal_send_with_location(const char *file, const char *line, const char *func,
				  const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = send_fields(format, &ap);
	va_end(ap);
	return r;
}

#undef sd_journal_send
int sd_journal_send(const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = send_fields(format, &ap);
	va_end(ap);
	return r;
}
