/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every MESSAGE_ID the agent journals, in one place. Each has an entry in
 * packaging/unitguard.catalog (installed to /usr/lib/systemd/catalog/), which
 * `journalctl -x` shows beside the entry: what it means and what to do.
 * tests/packaging/catalog.sh fails when an id here has no entry there, when
 * a "MESSAGE_ID=" is written anywhere else, or when an entry names no id here.
 * New ids come from `systemd-id128 new`; an id never changes meaning.
 */
#ifndef UG_MESSAGES_H
#define UG_MESSAGES_H

/* A denial (or would-be denial in audit mode): agent/audit.c. */
#define UG_MESSAGE_DENIAL "e4f7245c5540461cabebc455afe162d5"
/* Denials not journaled one by one (rate limit), or journaled but not stored. */
#define UG_MESSAGE_SUMMARY "4ee33560b8d445539b5d6420e673f630"
/* Denials the kernel could not record: its ring buffer was full. */
#define UG_MESSAGE_LOST "754f6b83adbd4490a9c78bfc86959adf"
/* A target's policy is not (fully) in force: partial, refused or unresolved. */
#define UG_MESSAGE_NOT_ENFORCED "d48923ed14c04ca0bc2beeb7d0999c79"
/* BPF LSM unavailable: exec, file, family and hardening rules not enforced. */
#define UG_MESSAGE_LSM_UNAVAILABLE "6326f010233d49e5bc9051c8aa39b3a3"
/* The store cannot be read at start: the last known good policy is enforced. */
#define UG_MESSAGE_LAST_KNOWN_GOOD "e7bbe875d2204332a3f602d4969fbe69"

#endif
