// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The floor under the agent's apply times: what compiling N /32 rules costs
 * (ug_compile(), the agent's own compiler), and what the kernel takes to
 * insert N entries of unitguard's key and value size into a fresh LPM trie,
 * one bpf_map_update_elem() each, and to overwrite 100 of them. No program
 * reads the map. Prints "key=value" pairs, times in ms (best of REPEAT).
 *
 * Usage: lpm_floor N REPEAT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "policy.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double min(double a, double b)
{
	return a < b ? a : b;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	double compile = 1e9, insert = 1e9, update = 1e9;
	struct ug_lpm_entry *e = NULL;
	struct ug_rule *rules;
	size_t n_e = 0;
	char err[256];
	long n, repeat;

	if (argc != 3 || (n = strtol(argv[1], NULL, 10)) < 100 || n > 2000000 ||
	    (repeat = strtol(argv[2], NULL, 10)) < 1 || repeat > 100) {
		fprintf(stderr, "usage: lpm_floor N(100-2000000) REPEAT(1-100)\n");
		return 2;
	}
	rules = calloc(n, sizeof(*rules));
	if (!rules)
		return 1;
	srand(1);
	for (long i = 0; i < n; i++) {
		/* Distinct and scattered: an odd multiplier permutes 24 bits. */
		uint32_t a = htonl(0x0a000000u | (((uint32_t)i * 2654435761u) & 0xffffff));

		rules[i].id = i + 1;
		rules[i].dir = UG_DIR_EGRESS;
		rules[i].action = UG_ACT_DENY;
		rules[i].prefix.family = AF_INET;
		rules[i].prefix.len = 32;
		memcpy(rules[i].prefix.addr, &a, 4);
	}
	for (long r = 0; r < repeat; r++) {
		double t0 = now_ms();
		int fd;

		free(e);
		if (ug_compile(rules, n, 1, &e, &n_e, err, sizeof(err))) {
			fprintf(stderr, "lpm_floor: compile: %s\n", err);
			return 1;
		}
		compile = min(compile, now_ms() - t0);
		fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "ug_lpm_floor", sizeof(e->key),
				    sizeof(e->val), n_e > 262144 ? n_e : 262144, &opts);
		if (fd < 0) {
			fprintf(stderr, "lpm_floor: map: %s\n", strerror(errno));
			return 1;
		}
		t0 = now_ms();
		for (size_t i = 0; i < n_e; i++)
			if (bpf_map_update_elem(fd, &e[i].key, &e[i].val, BPF_ANY)) {
				fprintf(stderr, "lpm_floor: insert: %s\n", strerror(errno));
				return 1;
			}
		insert = min(insert, now_ms() - t0);
		t0 = now_ms();
		for (size_t i = 0; i < 100; i++)
			if (bpf_map_update_elem(fd, &e[i].key, &e[i].val, BPF_ANY)) {
				fprintf(stderr, "lpm_floor: update: %s\n", strerror(errno));
				return 1;
			}
		update = min(update, now_ms() - t0);
		close(fd);
	}
	printf("entries=%zu compile_ms=%.2f insert_ms=%.2f update100_ms=%.3f\n", n_e, compile,
	       insert, update);
	free(e);
	free(rules);
	return 0;
}
