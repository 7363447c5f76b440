/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers the loaders (net*.c, lsm*.c) and the rest of the agent share. */
#ifndef UG_UTIL_H
#define UG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A target's name and its NUL: a unit name (systemd's UNIT_NAME_MAX) or
 * "cgroup:ID". One size for every copy the agent keeps. */
#define TARGET_MAX 256

uint64_t ug_now_ns(void);      /* CLOCK_MONOTONIC */
int64_t ug_realtime_us(void); /* CLOCK_REALTIME: what the store's times count */

/* snprintf() for messages, where a cut-short text is acceptable: always
 * NUL-terminated, returns what snprintf() does. */
int ug_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "dir/a" or "dir/a/b" (b NULL: the first); -ENAMETOOLONG if it does not fit. */
int ug_pin_path(char *buf, size_t len, const char *dir, const char *a, const char *b);
/* mkdir -p with mode 0700 for what it creates. */
int ug_mkdir_p(const char *path);

/* Append a zeroed element of `size` bytes to the array *arr of *n: it, or
 * NULL (out of memory, *arr unchanged). */
void *ug_push(void **arr, size_t *n, size_t size);

/*
 * The executable of process pid into buf, only while pid is still the
 * process that started at start_ns (CLOCK_BOOTTIME, as the kernel's
 * start_boottime): 0; -ESRCH when it is gone or pid names another process
 * since; another -errno when /proc cannot say. buf is empty unless 0.
 */
int ug_proc_exe(uint32_t pid, uint64_t start_ns, char *buf, size_t len);

/* A set of small ids kept as a bitmap of n bits (trie ids, accounting slots). */
int ug_ids_alloc(uint8_t *bits, uint32_t first, uint32_t n, uint16_t *id); /* -ENOSPC */
void ug_ids_set(uint8_t *bits, uint16_t id);
void ug_ids_clear(uint8_t *bits, uint16_t id);
bool ug_ids_test(const uint8_t *bits, uint16_t id);

#endif
