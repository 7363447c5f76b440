// SPDX-License-Identifier: LGPL-2.1-or-later
/* unitguardd's options: parsed and checked here, used by main.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"
#include "store.h"

/* "0", or N with K, M, G or T (powers of 1024), from 1M to 1T. */
static int parse_size(const char *s, int64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long n;
	const char *u;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (!*end && n == 0) {
		*out = 0;
		return 0;
	}
	if (!*end || end[1] || !(u = strchr(units, *end)))
		return -EINVAL;
	for (int i = 0; i <= u - units; i++) {
		if (n > (1ULL << 40))
			return -EINVAL;
		n *= 1024;
	}
	if (n < (1ULL << 20) || n > (1ULL << 40))
		return -EINVAL;
	*out = (int64_t)n;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: unitguardd [OPTIONS]\n"
		"Per-unit policy agent: enforces the rules in the store with BPF.\n\n"
		"  --db PATH        policy store (default " UG_DEFAULT_DB ")\n"
		"  --pin-dir DIR    bpffs directory for pinned programs and maps\n"
		"                   (default " UG_DEFAULT_PIN_DIR ")\n"
		"  --stats-interval SECONDS\n"
		"                   accounting snapshots into the store every SECONDS (default 60)\n"
		"  --audit-max-size SIZE\n"
		"                   keep the store's audit, accounting and rule_hits rows within\n"
		"                   SIZE (1M-1T, K/M/G/T suffix; default 1G; 0: no limit), oldest first\n"
		"  --audit-max-age DAYS\n"
		"                   and none older than DAYS (default 30; 0: no limit); pruned\n"
		"                   audit rows are counted in audit_summary\n"
		"  --metrics-listen ADDR:PORT\n"
		"                   serve Prometheus metrics at http://ADDR:PORT/metrics (off by\n"
		"                   default); ADDR a numeric IPv4 address or an IPv6 one in\n"
		"                   brackets: 127.0.0.1:9187, [::1]:9187\n"
		"  --detach-all     remove every pinned program and map, ending enforcement, and exit\n"
		"  -v, --verbose    debug messages, including libbpf's\n"
		"  -h, --help       this text\n\n"
		"One agent runs per store and per pin directory; a second one is refused.\n\n"
		"Examples:\n"
		"  unitguardd                          run on the default store\n"
		"  unitguardd -v                       the same, with debug messages\n"
		"  unitguardd --metrics-listen 127.0.0.1:9187\n"
		"                                      and metrics for Prometheus on loopback\n"
		"  unitguardd --detach-all             stop enforcing (programs stay attached\n"
		"                                      when the agent merely exits)\n");
}

int parse_argv(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "detach-all", no_argument, NULL, 'D' },
		{ "stats-interval", required_argument, NULL, 's' },
		{ "audit-max-size", required_argument, NULL, 'S' },
		{ "audit-max-age", required_argument, NULL, 'A' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	char errbuf[256];
	unsigned long n;
	char *end;
	int c;

	*o = (struct options){ .db_path = UG_DEFAULT_DB, .pin_dir = UG_DEFAULT_PIN_DIR,
			       .stats_interval = 60, .audit_max_bytes = (int64_t)1 << 30,
			       .audit_max_age_us = (int64_t)30 * 86400 * 1000000 };
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->db_path = optarg;
			break;
		case 'p':
			o->pin_dir = optarg;
			break;
		case 'D':
			o->detach_all = true;
			break;
		case 's':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !optarg[0] || n < 1 || n > 86400) {
				fprintf(stderr, "unitguardd: invalid --stats-interval '%s': expected "
					"1-86400 seconds\n", optarg);
				return -1;
			}
			o->stats_interval = (unsigned)n;
			break;
		case 'S':
			if (parse_size(optarg, &o->audit_max_bytes)) {
				fprintf(stderr, "unitguardd: invalid --audit-max-size '%s': expected "
					"0 (no limit) or 1M-1T, e.g. 512M or 2G\n", optarg);
				return -1;
			}
			break;
		case 'A':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !optarg[0] || optarg[0] == '-' || n > 36500) {
				fprintf(stderr, "unitguardd: invalid --audit-max-age '%s': expected "
					"0 (no limit) or 1-36500 days\n", optarg);
				return -1;
			}
			o->audit_max_age_us = (int64_t)n * 86400 * 1000000;
			break;
		case 'M':
			if (metrics_parse_listen(optarg, &o->listen, errbuf, sizeof(errbuf))) {
				fprintf(stderr, "unitguardd: invalid --metrics-listen '%s': %s; "
					"expected IPV4:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9187 or "
					"[::1]:9187\n", optarg, errbuf);
				return -1;
			}
			o->listen_set = true;
			break;
		case 'v':
			ug_verbose = 1;
			break;
		case 'V':
			printf("unitguardd %s\n", UG_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "unitguardd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->pin_dir[0] != '/' || strlen(o->pin_dir) >= PATH_MAX - 64) {
		fprintf(stderr, "unitguardd: --pin-dir must be an absolute path\n");
		return -1;
	}
	return 0;
}
