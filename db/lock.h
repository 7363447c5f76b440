/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One agent per store and per pin directory. The agent holds an exclusive
 * flock(2) on the store's lock file (STORE.lock) and on its pin directory for
 * as long as it runs; the kernel drops both when it dies, however it dies.
 * Anyone can ask who holds a lock without taking it (from /proc/locks), so
 * `unitguardctl status` decides "running" from the lock, not from a
 * timestamp.
 */
#ifndef UG_LOCK_H
#define UG_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* STORE.lock for the store at db_path; -ENAMETOOLONG if it does not fit. */
int ug_lock_path(const char *db_path, char *buf, size_t len);

/*
 * Take the exclusive lock on path (a directory when dir, else a file created
 * 0644 if missing, then holding our pid as text). *fd stays open while the
 * lock is held. -EBUSY when someone else holds it: *holder is its pid (0 if
 * unknown).
 */
int ug_lock_take(const char *path, bool dir, int *fd, pid_t *holder);

/*
 * Does someone hold the lock on path? 1 yes (*pid its pid, 0 when it cannot
 * be told), 0 no, a negative errno when it cannot be told (-ENOENT: no such
 * file: nobody ever took it). Asking takes a shared lock for a moment; an
 * agent starting at that instant waits for it (ug_lock_take).
 */
int ug_lock_holder(const char *path, pid_t *pid);

#endif
