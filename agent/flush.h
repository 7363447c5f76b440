/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef UG_FLUSH_H
#define UG_FLUSH_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Run a flush program (ug_flush, ug_lsm_flush: unitguard.h, "Aggregation")
 * for `window`. A failure is logged once per run of failures (*said), naming
 * what: repeated denials then stay counted in the kernel, unreported.
 */
int ug_flush_run(int prog_fd, uint32_t window, bool *said, const char *what);

/* Run a flush program once: records it sent and whether the ring was full
 * (the rest waits), or a negative errno. */
int ug_flush_once(int prog_fd, uint32_t window, uint32_t *sent, bool *full);

#endif
