// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardctl: edits the policy store and reads the audit trail. Every
 * argument is validated before the store is opened for writing, so bad input
 * changes nothing. Exit status: 0 success, 1 failure, 2 bad usage or input.
 */
#include "ctl.h"

const char *db_path = UG_DEFAULT_DB;
/* Commands that change policy wait for the agent to put it in force. */
bool no_wait;
double wait_timeout = 10;
/* What the command did to the store, for in_force()'s reports. */
const char *written = "written to the store";
/* --json before the command: JSON (JSON Lines for streams) from any command
 * that has it; refused by one that does not. */
bool json_global;

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	/* '+': stop at the command; its options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!optarg[0])
				return bad("invalid --db: empty path");
			db_path = optarg;
			break;
		case 'W':
		case 'w':
		case 'T':
			if (parse_wait_opt(c, optarg))
				return EXIT_USAGE;
			break;
		case 'j':
			json_global = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("unitguardctl %s\n", UG_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argv += optind;
	argc -= optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	snprintf(cmd_name, sizeof(cmd_name), "%s%s%s", argv[0],
		 argc > 1 && (!strcmp(argv[0], "rule") || !strcmp(argv[0], "unit")) ? " " : "",
		 argc > 1 && (!strcmp(argv[0], "rule") || !strcmp(argv[0], "unit")) ? argv[1] : "");
	if (!strcmp(argv[0], "rule")) {
		if (argc < 2)
			return bad("rule: expected add, list or del");
		if (!strcmp(argv[1], "add"))
			return rule_add(argc - 1, argv + 1);
		if (!strcmp(argv[1], "list"))
			return rule_list(argc - 1, argv + 1);
		if (!strcmp(argv[1], "del"))
			return rule_del(argc - 1, argv + 1);
		return bad("rule: unknown subcommand '%s' (expected add, list or del)", argv[1]);
	}
	if (!strcmp(argv[0], "unit")) {
		if (argc >= 2 && !strcmp(argv[1], "set"))
			return unit_set(argc - 1, argv + 1);
		if (argc >= 2 && !strcmp(argv[1], "list"))
			return unit_list(argc - 1, argv + 1, false);
		if (argc >= 2 && !strcmp(argv[1], "show"))
			return unit_list(argc - 1, argv + 1, true);
		if (argc >= 2 && !strcmp(argv[1], "del"))
			return unit_del(argc - 1, argv + 1);
		return bad("unit: expected set, list, show or del");
	}
	if (!strcmp(argv[0], "audit"))
		return audit(argc, argv);
	if (!strcmp(argv[0], "stats"))
		return stats(argc, argv);
	if (!strcmp(argv[0], "status"))
		return status(argc, argv);
	if (!strcmp(argv[0], "apply"))
		return apply(argc, argv);
	if (!strcmp(argv[0], "export"))
		return export(argc, argv);
	if (!strcmp(argv[0], "metrics"))
		return metrics(argc, argv);
	if (!strcmp(argv[0], "explain"))
		return explain(argc, argv);
	if (!strcmp(argv[0], "show"))
		return show(argc, argv);
	return bad("unknown command '%s' (expected rule, unit, audit, stats, status, apply, "
		   "export, metrics, explain or show)", argv[0]);
}
