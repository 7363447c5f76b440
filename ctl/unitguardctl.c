// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardctl: edits the policy store and reads the audit trail. Every
 * argument is validated before the store is opened for writing, so bad input
 * changes nothing. Exit status: 0 success, 1 failure, 2 bad usage or input,
 * 3 written but not in force. One file per family of commands (rule.c,
 * unit.c, explain.c and show.c, audit.c, status.c, apply.c); this one holds
 * the options before the command and the table of commands.
 */
#include "ctl.h"

const char *arg_db_path = UG_DEFAULT_DB;
/* Commands that change policy wait for the agent to put it in force. */
bool arg_no_wait;
double arg_timeout = 10;
/* --json before the command: JSON (JSON Lines for streams) from any command
 * that has it; refused by one that does not. */
bool arg_json;

/*
 * Every command: name, options (OPT_*), the least and most arguments after
 * the options, VERB_* flags, what is said when the count is wrong, and the
 * function that runs it (in rule.c, unit.c, audit.c, status.c, apply.c,
 * explain.c, show.c).
 */
static const struct verb verbs[] = {
	{ "rule add", OPT_RULE | OPT_WAIT, 4, 4, VERB_TARGET | VERB_COUNT,
	  "expected TARGET DIRECTION ACTION PREFIX", rule_add },
	{ "rule list", OPT_JSON, 0, 1, VERB_TARGET, "expected at most one TARGET", rule_list },
	{ "rule del", OPT_WAIT, 1, 1, 0, "expected one rule ID", rule_del },
	{ "unit set", OPT_POSTURE | OPT_WAIT, 1, 1, VERB_TARGET, "expected one TARGET", unit_set },
	{ "unit list", OPT_JSON, 0, 0, 0, "takes no argument", unit_list },
	{ "unit show", OPT_JSON, 1, 1, VERB_TARGET, "expected one TARGET", unit_show },
	{ "unit del", OPT_WAIT, 1, 1, VERB_TARGET, "expected one TARGET", unit_del },
	{ "audit", OPT_JSON | OPT_UNIT | OPT_AUDIT, 0, 0, 0, NULL, audit },
	{ "stats", OPT_JSON, 0, 1, VERB_TARGET, "expected at most one TARGET", stats },
	{ "status", OPT_JSON, 0, 0, 0, NULL, status },
	{ "apply", OPT_WAIT | OPT_CHECK, 1, 1, 0, "expected one FILE (or - for standard input)",
	  apply },
	{ "export", 0, 0, 1, 0, "expected at most one FILE", export },
	{ "metrics", 0, 0, 0, 0, NULL, metrics },
	{ "explain", OPT_JSON | OPT_EXPLAIN, 2, 2, VERB_TARGET,
	  "expected TARGET and an ADDRESS or a PATH", explain },
	{ "show", OPT_JSON, 1, 1, VERB_TARGET, "expected one TARGET", show },
};

/* The options before the command: 1 to run it, 0 done (--help, --version), or -EINVAL. */
static int parse_argv(int argc, char **argv)
{
	int c;

	/* '+': stop at the command; its options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+h", options_table(true), NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!optarg[0]) {
				bad("invalid --db: empty path");
				return -EINVAL;
			}
			arg_db_path = optarg;
			break;
		case 'W':
		case 'w':
		case 'T':
			if (parse_wait_opt(c, optarg))
				return -EINVAL;
			break;
		case 'j':
			arg_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("unitguardctl %s\n", UG_VERSION);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 1;
}

/* Run the command argv[0] (argv[0] argv[1] for rule and unit). */
static int dispatch_verb(int argc, char **argv)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		const char *name = verbs[i].name, *sub = strchr(name, ' ');
		size_t n = sub ? (size_t)(sub - name) : strlen(name);

		if (strncmp(argv[0], name, n) || argv[0][n])
			continue;
		if (!sub)
			return verb_run(&verbs[i], argc, argv);
		if (argc >= 2 && !strcmp(argv[1], sub + 1))
			return verb_run(&verbs[i], argc - 1, argv + 1);
	}
	if (!strcmp(argv[0], "rule"))
		return argc < 2 ? bad("rule: expected add, list or del")
				: bad("rule: unknown subcommand '%s' (expected add, list or del)",
				      argv[1]);
	if (!strcmp(argv[0], "unit"))
		return bad("unit: expected set, list, show or del");
	return bad("unknown command '%s' (expected rule, unit, audit, stats, status, apply, "
		   "export, metrics, explain or show)", argv[0]);
}

int main(int argc, char **argv)
{
	int r = parse_argv(argc, argv);

	if (r <= 0)
		return r < 0 ? EXIT_USAGE : 0;
	return dispatch_verb(argc - optind, argv + optind);
}
