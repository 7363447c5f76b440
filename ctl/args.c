// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The options of unitguardctl, before the command and after it, and what
 * every command does before it runs: parse its options, count its
 * arguments, check its TARGET.
 */
#include <stddef.h>

#include "ctl.h"

enum opt_kind {
	O_STR,    /* a value, into a const char * of struct sub_opts */
	O_FLAG,   /* a bool of struct sub_opts */
	O_WAIT,   /* --wait, --no-wait, --timeout: the global setting, wherever given */
	O_HELP,   /* the command's --help */
	O_GLOBAL, /* before the command only */
};

#define FIELD(f) offsetof(struct sub_opts, f)

/*
 * Every option: its getopt_long() entry, the commands that take it after
 * their name (OPT_*), whether it is taken before the command too, and
 * where its value goes. The order is the one getopt_long() always saw.
 */
static const struct opt_def {
	const char *name;
	int has_arg, key;
	unsigned cmds;
	bool global;
	enum opt_kind kind;
	size_t field;
} defs[] = {
	{ "json", no_argument, 'j', OPT_JSON, true, O_FLAG, FIELD(json) },
	{ "unit", required_argument, 'u', OPT_UNIT, false, O_STR, FIELD(unit) },
	{ "proto", required_argument, 'P', OPT_RULE | OPT_EXPLAIN, false, O_STR, FIELD(proto) },
	{ "port", required_argument, 'p', OPT_RULE | OPT_EXPLAIN, false, O_STR, FIELD(port) },
	{ "comment", required_argument, 'c', OPT_RULE, false, O_STR, FIELD(comment) },
	{ "mode", required_argument, 'm', OPT_POSTURE, false, O_STR, FIELD(mode) },
	{ "default-egress", required_argument, 'e', OPT_POSTURE, false, O_STR, FIELD(def_egress) },
	{ "default-ingress", required_argument, 'i', OPT_POSTURE, false, O_STR,
	  FIELD(def_ingress) },
	{ "access", required_argument, 'a', OPT_RULE | OPT_EXPLAIN, false, O_STR, FIELD(access) },
	{ "harden", required_argument, 'H', OPT_POSTURE, false, O_STR, FIELD(harden) },
	{ "no-harden", required_argument, 'N', OPT_POSTURE, false, O_STR, FIELD(no_harden) },
	{ "no-wait", no_argument, 'W', OPT_WAIT, true, O_WAIT, 0 },
	{ "wait", no_argument, 'w', OPT_WAIT, true, O_WAIT, 0 },
	{ "timeout", required_argument, 'T', OPT_WAIT, true, O_WAIT, 0 },
	{ "check", no_argument, 'C', OPT_CHECK, false, O_FLAG, FIELD(check) },
	{ "diff", no_argument, 'D', OPT_CHECK, false, O_FLAG, FIELD(diff) },
	{ "help", no_argument, 'h', ~0u, true, O_HELP, 0 },
	{ "since", required_argument, 'S', OPT_AUDIT, false, O_STR, FIELD(since) },
	{ "until", required_argument, 'U', OPT_AUDIT, false, O_STR, FIELD(until) },
	{ "follow", no_argument, 'f', OPT_AUDIT, false, O_FLAG, FIELD(follow) },
	{ "summary", no_argument, 's', OPT_AUDIT, false, O_FLAG, FIELD(summary) },
	{ "dir", required_argument, 'r', OPT_EXPLAIN, false, O_STR, FIELD(dir) },
	{ "reply", no_argument, 'R', OPT_EXPLAIN, false, O_FLAG, FIELD(reply) },
	{ "db", required_argument, 'd', 0, true, O_GLOBAL, 0 },
	{ "version", no_argument, 'V', 0, true, O_GLOBAL, 0 },
};

/* getopt_long()'s table of the options before the command (global) or after it. */
const struct option *options_table(bool global)
{
	static struct option t[2][ARRAY_SIZE(defs) + 1];
	struct option *o = t[global];

	if (o->name)
		return o;
	for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
		if (global ? defs[i].global : defs[i].cmds != 0)
			*o++ = (struct option){ defs[i].name, defs[i].has_arg, NULL, defs[i].key };
	return t[global];
}

static const struct opt_def *opt_def(int key)
{
	for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
		if (defs[i].key == key)
			return &defs[i];
	return NULL;
}

/*
 * The options of command name (those in allowed); its arguments are left in
 * argv[optind..]. 0 or an exit status, the reason printed.
 */
static int parse_sub(int argc, char **argv, unsigned allowed, struct sub_opts *o,
		     const char *name)
{
	const struct opt_def *d;
	int c;

	memset(o, 0, sizeof(*o));
	/* 0, not 1: glibc then re-initialises, dropping the "+" mode of main(). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", options_table(false), NULL)) != -1) {
		d = opt_def(c);
		if (d && d->kind == O_HELP) {
			command_help(name);
			exit(0);
		}
		if (d && (d->cmds & allowed)) {
			if (d->kind == O_STR)
				*(const char **)((char *)o + d->field) = optarg;
			else if (d->kind == O_FLAG)
				*(bool *)((char *)o + d->field) = true;
			else if (parse_wait_opt(c, optarg))
				return EXIT_USAGE;
		} else if (c == '?' && optopt) {
			return bad("%s: option '%s' needs a value or is unknown", argv[0],
				   argv[optind - 1]);
		} else {
			return bad("%s: unknown option '%s'", argv[0], argv[optind - 1]);
		}
	}
	if (arg_json && !(allowed & OPT_JSON))
		return bad("%s: --json: this command has no JSON output", argv[0]);
	o->json |= arg_json;
	return 0;
}

int verb_run(const struct verb *v, int argc, char **argv)
{
	struct sub_opts o;
	int err = parse_sub(argc, argv, v->opts, &o, v->name);

	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc < v->min_args || argc > v->max_args) {
		if (!v->expected)
			return bad("%s: unexpected argument '%s'", v->name, argv[0]);
		if (v->flags & VERB_COUNT)
			return bad("%s: %s (%d arguments given)", v->name, v->expected, argc);
		return bad("%s: %s", v->name, v->expected);
	}
	if ((v->flags & VERB_TARGET) && argc > 0) {
		err = check_target(argv[0]);
		if (err)
			return err;
	}
	return v->run(argc, argv, &o);
}

int check_target(const char *target)
{
	const char *why = NULL;

	if (ug_target_parse(target, &why) < 0)
		return bad("invalid TARGET '%s': %s", target, why ? why : "not a unit name or path");
	return 0;
}

/* --wait, --no-wait, --timeout SECS: before the command or after it, the last one counts. */
int parse_wait_opt(int c, const char *arg)
{
	char *end;

	if (c == 'W' || c == 'w') {
		arg_no_wait = c == 'W';
		return 0;
	}
	errno = 0;
	arg_timeout = strtod(arg, &end);
	if (errno || end == arg || *end || !(arg_timeout > 0 && arg_timeout <= 86400)) {
		bad("invalid --timeout '%s': expected seconds, more than 0 and at most 86400", arg);
		return -1;
	}
	return 0;
}
