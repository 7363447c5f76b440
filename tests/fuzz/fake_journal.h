/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake sd_journal_send() of fake_journal.c: what it saw, and how it should fail. */
#ifndef UG_FAKE_JOURNAL_H
#define UG_FAKE_JOURNAL_H

/* Non-zero: sends fail with -ug_fake_journal_error, as without a journald (ENOENT). */
extern int ug_fake_journal_error;
/* Entries accepted so far. */
extern unsigned long ug_fake_journal_sent;
/* Longest field the fake formats, in bytes; longer ones are cut. */
#define UG_FAKE_JOURNAL_FIELD_MAX 4096
/* MESSAGE= of the last entry, accepted or not. */
extern char ug_fake_journal_last_message[UG_FAKE_JOURNAL_FIELD_MAX];

#endif /* UG_FAKE_JOURNAL_H */
