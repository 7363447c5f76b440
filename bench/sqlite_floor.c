// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sqlite_floor DB N: insert N audit rows like the agent's into a fresh store
 * at DB, in transactions of 256 (the agent's batch, TX_ROWS in
 * agent/audit.c) through the same code (ug_store_audit_insert), and nothing
 * else: no ring, no journal, no retention. Prints "rows N seconds S bytes B" (B: the file's size after).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

#define BATCH 256

int main(int argc, char **argv)
{
	struct ug_audit_row rows[BATCH];
	char err[256], addrs[BATCH][16];
	struct ug_store *st;
	struct timespec t0, t1;
	struct stat sb;
	long n;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: sqlite_floor DB N\n");
		return 2;
	}
	if (ug_store_open(argv[1], UG_STORE_CREATE, &st, err, sizeof(err))) {
		fprintf(stderr, "sqlite_floor: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long done = 0; done < n;) {
		size_t b = n - done < BATCH ? (size_t)(n - done) : BATCH;

		clock_gettime(CLOCK_REALTIME, &t1);
		for (size_t i = 0; i < b; i++) {
			snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.2");
			rows[i] = (struct ug_audit_row){
				.time_us = (int64_t)t1.tv_sec * 1000000 + t1.tv_nsec / 1000,
				.unit = "ugflood.service", .cgroup_id = 4242, .pid = 1000 + (uint32_t)i,
				.uid = 0, .comm = "ugprobe", .family = "ipv4", .protocol = "udp",
				.address = addrs[i], .port = (uint32_t)(1000 + (done + i) % 60000),
				.hook = "sendmsg4", .direction = "egress", .verdict = "deny",
				.rule_id = 1, .generation = 1, .count = 1,
			};
		}
		if (ug_store_audit_insert(st, rows, b)) {
			fprintf(stderr, "sqlite_floor: %s\n", ug_store_errmsg(st));
			return 1;
		}
		done += (long)b;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ug_store_close(st);
	if (stat(argv[1], &sb))
		sb.st_size = 0;
	printf("rows %ld seconds %.3f bytes %lld\n", n,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (long long)sb.st_size);
	return 0;
}
