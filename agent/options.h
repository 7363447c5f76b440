/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* unitguardd's command line: what each option sets, and its checks. */
#ifndef UG_OPTIONS_H
#define UG_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

#define UG_DEFAULT_PIN_DIR "/sys/fs/bpf/unitguard"

struct options {
	const char *db_path, *pin_dir;
	unsigned stats_interval;  /* seconds between accounting snapshots */
	int64_t audit_max_bytes;  /* --audit-max-size; 0: none */
	int64_t audit_max_age_us; /* --audit-max-age; 0: none */
	struct metrics_listen listen;
	bool listen_set, detach_all;
};

/* 0: run; 1: done (--help, --version printed); -1: bad usage (said on stderr). */
int parse_argv(int argc, char **argv, struct options *o);

#endif
