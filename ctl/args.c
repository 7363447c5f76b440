// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A command's options and arguments.
 */
#include "ctl.h"

int parse_sub(int argc, char **argv, unsigned allowed, struct sub_opts *o)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "unit", required_argument, NULL, 'u' },
		{ "proto", required_argument, NULL, 'P' },
		{ "port", required_argument, NULL, 'p' },
		{ "comment", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "default-egress", required_argument, NULL, 'e' },
		{ "default-ingress", required_argument, NULL, 'i' },
		{ "access", required_argument, NULL, 'a' },
		{ "harden", required_argument, NULL, 'H' },
		{ "no-harden", required_argument, NULL, 'N' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "check", no_argument, NULL, 'C' },
		{ "diff", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "follow", no_argument, NULL, 'f' },
		{ "summary", no_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'r' },
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	/* 0, not 1: glibc then re-initialises, dropping the "+" mode of main(). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h') {
			command_help();
			exit(0);
		}
		if (c == 'j' && (allowed & OPT_JSON))
			o->json = true;
		else if (c == 'u' && (allowed & OPT_UNIT))
			o->unit = optarg;
		else if (c == 'P' && (allowed & (OPT_RULE | OPT_EXPLAIN)))
			o->proto = optarg;
		else if (c == 'p' && (allowed & (OPT_RULE | OPT_EXPLAIN)))
			o->port = optarg;
		else if (c == 'c' && (allowed & OPT_RULE))
			o->comment = optarg;
		else if (c == 'm' && (allowed & OPT_POSTURE))
			o->mode = optarg;
		else if (c == 'e' && (allowed & OPT_POSTURE))
			o->def_egress = optarg;
		else if (c == 'i' && (allowed & OPT_POSTURE))
			o->def_ingress = optarg;
		else if (c == 'a' && (allowed & (OPT_RULE | OPT_EXPLAIN)))
			o->access = optarg;
		else if (c == 'r' && (allowed & OPT_EXPLAIN))
			o->dir = optarg;
		else if (c == 'H' && (allowed & OPT_POSTURE))
			o->harden = optarg;
		else if (c == 'N' && (allowed & OPT_POSTURE))
			o->no_harden = optarg;
		else if (c == 'C' && (allowed & OPT_CHECK))
			o->check = true;
		else if (c == 'D' && (allowed & OPT_CHECK))
			o->diff = true;
		else if (c == 'S' && (allowed & OPT_AUDIT))
			o->since = optarg;
		else if (c == 'U' && (allowed & OPT_AUDIT))
			o->until = optarg;
		else if (c == 'f' && (allowed & OPT_AUDIT))
			o->follow = true;
		else if (c == 's' && (allowed & OPT_AUDIT))
			o->summary = true;
		else if ((c == 'W' || c == 'w' || c == 'T') && (allowed & OPT_WAIT)) {
			if (parse_wait_opt(c, optarg))
				return EXIT_USAGE;
		}
		else if (c == '?' && optopt)
			return bad("%s: option '%s' needs a value or is unknown", argv[0],
				   argv[optind - 1]);
		else
			return bad("%s: unknown option '%s'", argv[0], argv[optind - 1]);
	}
	if (json_global && !(allowed & OPT_JSON))
		return bad("%s: --json: this command has no JSON output", argv[0]);
	o->json |= json_global;
	return 0;
}

/* A command of one TARGET and options: parsed and the target checked; 0 or an exit status. */
int parse_target_cmd(int argc, char **argv, unsigned allowed, struct sub_opts *o,
			    const char *cmd, const char **target)
{
	int err = parse_sub(argc, argv, allowed, o);

	if (err)
		return err;
	if (argc - optind != 1)
		return bad("%s: expected one TARGET", cmd);
	*target = argv[optind];
	return check_target(*target);
}

int check_target(const char *target)
{
	const char *why = NULL;

	if (ug_target_parse(target, &why) < 0)
		return bad("invalid TARGET '%s': %s", target, why ? why : "not a unit name or path");
	return 0;
}

int parse_wait_opt(int c, const char *arg)
{
	char *end;

	/* The last of --wait and --no-wait counts. */
	if (c == 'W' || c == 'w') {
		no_wait = c == 'W';
		return 0;
	}
	errno = 0;
	wait_timeout = strtod(arg, &end);
	if (errno || end == arg || *end || !(wait_timeout > 0 && wait_timeout <= 86400)) {
		bad("invalid --timeout '%s': expected seconds, more than 0 and at most 86400", arg);
		return -1;
	}
	return 0;
}
