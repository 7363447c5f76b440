// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardctl: edits the policy store and reads the audit trail. Every
 * argument is validated before the store is opened for writing, so bad input
 * changes nothing. Exit status: 0 success, 1 failure, 2 bad usage or input.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy.h"
#include "store.h"

#define EXIT_USAGE 2

static const char *db_path = UG_DEFAULT_DB;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: unitguardctl [--db PATH] COMMAND ...\n\n"
		"Commands:\n"
		"  rule add TARGET egress|ingress allow|deny PREFIX   add a rule, print its id\n"
		"  rule list [TARGET] [--json]                        list rules\n"
		"  rule del ID                                        delete a rule\n"
		"  audit [--unit TARGET] [--json]                     list recorded denials\n\n"
		"TARGET is a unit name (demo.service, web.slice, x.scope) or an absolute cgroup\n"
		"path below the cgroup2 root (/system.slice/demo.service). PREFIX is an IPv4 or\n"
		"IPv6 CIDR, or a bare address (= /32 or /128). The longest matching prefix\n"
		"decides; no match allows.\n\n"
		"Options:\n"
		"  --db PATH    policy store (default " UG_DEFAULT_DB ")\n"
		"  -h, --help   this text\n\n"
		"Examples:\n"
		"  unitguardctl rule add demo.service egress deny 10.0.0.0/8\n"
		"  unitguardctl rule add demo.service egress allow 10.1.0.0/16\n"
		"  unitguardctl rule list demo.service --json\n"
		"  unitguardctl audit --unit demo.service\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("unitguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static int open_store(unsigned flags, struct ug_store **st)
{
	char errbuf[256];
	int err = ug_store_open(db_path, flags, st, errbuf, sizeof(errbuf));

	if (err == -ENOENT && !(flags & UG_STORE_CREATE)) {
		fprintf(stderr, "unitguardctl: no store at %s (unitguardd creates it on start)\n",
			db_path);
		return 1;
	}
	if (err) {
		fprintf(stderr, "unitguardctl: cannot open the store %s: %s\n", db_path, errbuf);
		return 1;
	}
	return 0;
}

static int check_target(const char *target)
{
	const char *why = NULL;

	if (ug_target_parse(target, &why) < 0)
		return bad("invalid TARGET '%s': %s", target, why ? why : "not a unit name or path");
	return 0;
}

/* Parse options of a subcommand; positional arguments are left in argv[optind..]. */
struct sub_opts {
	bool json;
	const char *unit;
};

static int parse_sub(int argc, char **argv, bool allow_json, bool allow_unit, struct sub_opts *o)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "unit", required_argument, NULL, 'u' },
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	/* 0, not 1: glibc then re-initialises, dropping the "+" mode of main(). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j' && allow_json)
			o->json = true;
		else if (c == 'u' && allow_unit)
			o->unit = optarg;
		else
			return bad("%s: unknown option '%s'", argv[0], argv[optind - 1]);
	}
	return 0;
}

static int rule_add(int argc, char **argv)
{
	struct ug_prefix prefix;
	char canon[UG_PREFIX_STRLEN];
	const char *why = NULL;
	struct ug_store *st;
	struct sub_opts o;
	int64_t id;
	int err;

	err = parse_sub(argc, argv, false, false, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc != 4)
		return bad("rule add: expected TARGET DIRECTION ACTION PREFIX (%d arguments given)",
			   argc);
	err = check_target(argv[0]);
	if (err)
		return err;
	if (ug_dir_parse(argv[1]) < 0 || ug_dir_parse(argv[1]) == UG_DIR_BIND)
		return bad("invalid DIRECTION '%s': expected egress or ingress", argv[1]);
	if (ug_action_parse(argv[2]) < 0)
		return bad("invalid ACTION '%s': expected allow or deny", argv[2]);
	if (ug_prefix_parse(argv[3], &prefix, &why))
		return bad("invalid PREFIX '%s': %s", argv[3], why ? why : "not a CIDR");
	if (ug_prefix_format(&prefix, canon, sizeof(canon)))
		return bad("invalid PREFIX '%s'", argv[3]);

	if (open_store(UG_STORE_CREATE, &st))
		return 1;
	err = ug_store_rule_add(st, argv[0], argv[1], argv[2], canon, &id);
	if (err) {
		fprintf(stderr, "unitguardctl: rule add: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return 1;
	}
	ug_store_close(st);
	printf("%" PRId64 "\n", id);
	return 0;
}

static int print_rule(const struct ug_store_rule *r, void *ctx)
{
	json_object *arr = ctx, *o;

	if (!arr) {
		printf("%-6" PRId64 " %-32s %-8s %-6s %-43s %s\n", r->id, r->target, r->direction,
		       r->action, r->prefix, r->created_at);
		return 0;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "target", json_object_new_string(r->target));
	json_object_object_add(o, "direction", json_object_new_string(r->direction));
	json_object_object_add(o, "action", json_object_new_string(r->action));
	json_object_object_add(o, "prefix", json_object_new_string(r->prefix));
	json_object_object_add(o, "created_at", json_object_new_string(r->created_at));
	return json_object_array_add(arr, o) ? -ENOMEM : 0;
}

static int print_json(json_object *arr)
{
	const char *s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return 1;
	puts(s);
	return 0;
}

static int rule_list(int argc, char **argv)
{
	const char *target = NULL;
	json_object *arr = NULL;
	struct ug_store *st;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, true, false, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc > 1)
		return bad("rule list: expected at most one TARGET");
	if (argc == 1) {
		target = argv[0];
		err = check_target(target);
		if (err)
			return err;
	}
	if (open_store(0, &st))
		return 1;
	if (o.json)
		arr = json_object_new_array();
	else
		printf("%-6s %-32s %-8s %-6s %-43s %s\n", "ID", "TARGET", "DIR", "ACTION",
		       "PREFIX", "CREATED");
	err = ug_store_rules(st, target, print_rule, arr);
	if (err)
		fprintf(stderr, "unitguardctl: rule list: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	else if (arr)
		err = print_json(arr);
	json_object_put(arr);
	ug_store_close(st);
	return err ? 1 : 0;
}

static int rule_del(int argc, char **argv)
{
	struct ug_store *st;
	struct sub_opts o;
	char *end;
	long long id;
	int err;

	err = parse_sub(argc, argv, false, false, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc != 1)
		return bad("rule del: expected one rule ID");
	errno = 0;
	id = strtoll(argv[0], &end, 10);
	if (errno || end == argv[0] || *end || id <= 0 || argv[0][0] == '+' || argv[0][0] == ' ')
		return bad("invalid ID '%s': expected a positive rule id", argv[0]);
	if (open_store(0, &st))
		return 1;
	err = ug_store_rule_del(st, id);
	if (err == -ENOENT)
		fprintf(stderr, "unitguardctl: invalid ID '%s': no rule with this id\n", argv[0]);
	else if (err)
		fprintf(stderr, "unitguardctl: rule del: %s\n", ug_store_errmsg(st));
	ug_store_close(st);
	return err == -ENOENT ? EXIT_USAGE : err ? 1 : 0;
}

static void json_add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static int print_audit(const struct ug_store_audit *a, void *ctx)
{
	const struct ug_audit_row *r = &a->row;
	json_object *arr = ctx, *o;
	char rule[24];

	if (!arr) {
		if (r->rule_id)
			snprintf(rule, sizeof(rule), "%" PRId64, r->rule_id);
		else
			snprintf(rule, sizeof(rule), "default");
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5u %-7u %-15s %-7s %u\n", a->time,
		       r->unit ?: "-", r->verdict ?: "-", r->hook ?: "-", r->protocol ?: "-",
		       r->address ?: "-", r->port, r->pid, r->comm ?: "-", rule, r->generation);
		return 0;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_add_str(o, "time", a->time);
	json_add_str(o, "unit", r->unit);
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(r->cgroup_id));
	json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	json_object_object_add(o, "uid", json_object_new_int64(r->uid));
	json_add_str(o, "comm", r->comm);
	json_add_str(o, "family", r->family);
	json_add_str(o, "protocol", r->protocol);
	json_add_str(o, "address", r->address);
	json_object_object_add(o, "port", json_object_new_int64(r->port));
	json_add_str(o, "hook", r->hook);
	json_add_str(o, "direction", r->direction);
	json_add_str(o, "verdict", r->verdict);
	json_object_object_add(o, "rule_id", r->rule_id ? json_object_new_int64(r->rule_id) : NULL);
	json_object_object_add(o, "generation", json_object_new_int64(r->generation));
	return json_object_array_add(arr, o) ? -ENOMEM : 0;
}

static int audit(int argc, char **argv)
{
	json_object *arr = NULL;
	struct ug_store *st;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, true, true, &o);
	if (err)
		return err;
	if (optind != argc)
		return bad("audit: unexpected argument '%s'", argv[optind]);
	if (o.unit) {
		err = check_target(o.unit);
		if (err)
			return err;
	}
	if (open_store(0, &st))
		return 1;
	if (o.json)
		arr = json_object_new_array();
	else
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5s %-7s %-15s %-7s %s\n", "TIME",
		       "UNIT", "VERDICT", "HOOK", "PROTO", "ADDRESS", "PORT", "PID", "COMM",
		       "RULE", "GEN");
	err = ug_store_audit_list(st, o.unit, print_audit, arr);
	if (err)
		fprintf(stderr, "unitguardctl: audit: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	else if (arr)
		err = print_json(arr);
	json_object_put(arr);
	ug_store_close(st);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
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
		case 'h':
			usage(stdout);
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
	if (!strcmp(argv[0], "audit"))
		return audit(argc, argv);
	return bad("unknown command '%s' (expected rule or audit)", argv[0]);
}
