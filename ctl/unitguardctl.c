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

#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <libsmartcols/libsmartcols.h>

#include "effective.h"
#include "file.h"
#include "gaps.h"
#include "need.h"
#include "lock.h"
#include "pinned.h"
#include "policy.h"
#include "prom.h"
#include "store.h"

#define EXIT_USAGE 2
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EXIT_NOT_IN_FORCE 3

static const char *db_path = UG_DEFAULT_DB;
/* Commands that change policy wait for the agent to put it in force. */
static bool no_wait;
static double wait_timeout = 10;
/* What the command did to the store, for in_force()'s reports. */
static const char *written = "written to the store";

static const char usage_text[] =
		"Usage: unitguardctl [--db PATH] COMMAND ...\n\n"
		"Commands:\n"
		"  rule add TARGET egress|ingress|bind allow|deny PREFIX\n"
		"           [--proto tcp|udp|icmp] [--port N[-M]] [--comment TEXT]\n"
		"                                     add a rule, print its id\n"
		"  rule add TARGET exec allow|deny PATH\n"
		"  rule add TARGET file deny PATH [--access read|write|any]\n"
		"  rule add TARGET family deny FAMILY      (packet, netlink, ... or a number)\n"
		"  rule list [TARGET] [--json]        list rules\n"
		"  rule del ID                        delete a rule\n"
		"  unit set TARGET [--mode enforce|audit|off] [--default-egress allow|deny]\n"
		"           [--default-ingress allow|deny] [--harden LIST] [--no-harden LIST]\n"
		"                                     set a unit's mode, default posture and\n"
		"                                     hardening (module-load,bpf,ptrace,mount,path-view)\n"
		"  unit list [--json]                 units with their settings and rule counts\n"
		"  unit show TARGET [--json]          one unit's settings and rules\n"
		"  unit del TARGET                    delete a unit and all its rules\n"
		"  show TARGET [--json]               the effective policy after inheritance: mode,\n"
		"                                     default postures, hardening, denied families\n"
		"                                     and the rules in the order they decide, each\n"
		"                                     with where it comes from (itself, an alias,\n"
		"                                     a slice or other policy cgroup above it)\n"
		"  explain TARGET ADDRESS [--dir egress|ingress|bind] [--proto tcp|udp|icmp]\n"
		"           [--port N] [--json]       what the kernel decides for that operation\n"
		"                                     (default egress, tcp), the rule that decides\n"
		"                                     and where it comes from, or the default\n"
		"                                     posture and who set it\n"
		"  explain TARGET PATH [--access exec|read|write|any] [--json]\n"
		"                                     the same for an exec (the default) or open\n"
		"                                     of PATH (an argument starting with '/')\n"
		"  audit [--unit TARGET] [--since TIME] [--until TIME] [--follow] [--json]\n"
		"                                     list recorded denials (TIME as journalctl\n"
		"                                     takes it: -1h, today, 2026-11-30 14:00, ...)\n"
		"  audit --summary [--unit TARGET] [--json]\n"
		"                                     the report views: totals, hourly, destinations,\n"
		"                                     paths, rules, would_deny\n"
		"  stats [TARGET] [--json]            packets, bytes and rule hits, live\n"
		"  status [--json]                    what is enforced, where, and what is not;\n"
		"                                     exit 3 when the agent is not running or a\n"
		"                                     target is not in force\n"
		"  apply FILE [--check|--diff]        replace the whole policy from a YAML file,\n"
		"                                     writing only the difference (unchanged\n"
		"                                     rules keep their ids; an identical file\n"
		"                                     writes nothing); --check: only say whether\n"
		"                                     it is valid and fits the kernel's maps\n"
		"                                     (apply checks too); --diff: only print\n"
		"                                     what would change (+ added, - deleted,\n"
		"                                     ~ changed), exit 0 nothing, 1 something,\n"
		"                                     2 bad file or store, like diff(1)\n"
		"  export [FILE]                      write the policy as YAML (default stdout)\n"
		"  metrics                            the agent, each unit's state, packets, bytes,\n"
		"                                     denials, and the apply latency, in Prometheus\n"
		"                                     text format; for a textfile collector, write\n"
		"                                     it atomically: metrics >F.tmp && mv F.tmp F.prom\n\n"
		"TARGET is a unit name (demo.service, web.slice, x.scope) or an absolute cgroup\n"
		"path below the cgroup2 root (/system.slice/demo.service). PREFIX is an IPv4 or\n"
		"IPv6 CIDR, or a bare address (= /32 or /128). The longest prefix with a rule\n"
		"matching the protocol and port decides; no match: the default posture.\n\n"
		"Commands that change policy (rule add, rule del, unit set, unit del, apply)\n"
		"return once unitguardd has put the change in force in the kernel (--wait, the\n"
		"default), or fail with its reason. The other commands only read the store\n"
		"(read-only: any user who may read it can run them; nothing is created).\n\n"
		"Options:\n"
		"  --db PATH        policy store (default " UG_DEFAULT_DB ")\n"
		"  --wait           wait until the change is in force (the default)\n"
		"  --no-wait        only write the store; do not wait for the agent\n"
		"  --timeout SECS   how long to wait for the agent (default 10)\n"
		"  --json           JSON output (JSON Lines for streams) from every command\n"
		"                   that has it, as COMMAND --json; refused by the others\n"
		"  -h, --help       this text\n"
		"  --version        the version\n\n"
		"Exit status: 0 in force (or kept for a unit's next start); 1 failure; 2 bad\n"
		"input, nothing written; 3 written to the store but NOT (fully) in force: the\n"
		"agent is not running, timed out, or refused it (the reason is printed).\n\n"
		"Examples:\n"
		"  unitguardctl rule add demo.service egress deny 10.0.0.0/8\n"
		"  unitguardctl rule add demo.service egress allow 10.1.0.0/16\n"
		"  unitguardctl rule add demo.service egress deny 10.0.0.0/8 --proto tcp --port 22\n"
		"  unitguardctl unit set demo.service --mode audit --default-egress deny\n"
		"  unitguardctl rule add demo.service exec deny /usr/bin/curl\n"
		"  unitguardctl rule add demo.service file deny /etc/shadow --access read\n"
		"  unitguardctl rule add demo.service family deny packet\n"
		"  unitguardctl unit set demo.service --harden module-load,bpf,ptrace,mount\n"
		"  unitguardctl rule list demo.service --json\n"
		"  unitguardctl explain demo.service 10.1.2.3 --port 22\n"
		"  unitguardctl show demo.service\n"
		"  unitguardctl apply --diff policy.yaml && echo nothing to change\n"
		"  unitguardctl audit --unit demo.service\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* The command being run ("rule add", "audit", ...), for its --help. */
static char cmd_name[32];

/*
 * COMMAND --help: its lines of the usage text (those naming it, and their
 * continuation lines), then the options every command takes.
 */
static void command_help(void)
{
	const char *line = usage_text, *next;
	size_t n = strlen(cmd_name);
	bool in = false, any = false;

	printf("Usage: unitguardctl [--db PATH] %s ...\n\n", cmd_name);
	for (; *line; line = next + 1) {
		next = strchr(line, '\n');
		if (!next)
			break;
		if (!strncmp(line, "  ", 2) && line[2] != ' ')
			in = !strncmp(line + 2, cmd_name, n) && (line[2 + n] == ' ' || line[2 + n] == '\n');
		else if (strncmp(line, "    ", 4))
			in = false;
		if (in && line < strstr(usage_text, "Options:")) {
			printf("%.*s\n", (int)(next - line), line);
			any = true;
		}
	}
	if (!any)
		printf("  (see unitguardctl --help)\n");
	printf("\nOptions of every command: --db PATH, --wait, --no-wait, --timeout SECS (see "
	       "unitguardctl --help).\n");
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

/*
 * Text from the store or the kernel (comments, unit names, paths, a process's comm) is
 * printed through esc(), so that it cannot drive the terminal (ug_text_escape). The
 * escaped copies live in *e until esc_free(): one struct esc per printed row.
 */
struct esc {
	char *p[24];
	int n;
};

/* A malloc()'d escaped copy of s; NULL when out of memory. */
static char *esc_dup(const char *s)
{
	size_t n = ug_text_escape(s, NULL, 0);
	char *buf = malloc(n + 1);

	if (buf)
		ug_text_escape(s, buf, n + 1);
	return buf;
}

static const char *esc(struct esc *e, const char *s)
{
	char *buf;

	/* Every escape is longer than what it stands for: the same length, nothing to do. */
	if (!s || ug_text_escape(s, NULL, 0) == strlen(s))
		return s;
	if (e->n == (int)(sizeof(e->p) / sizeof(e->p[0])) || !(buf = esc_dup(s)))
		return "(not shown: out of memory)";
	e->p[e->n++] = buf;
	return buf;
}

static void esc_free(struct esc *e)
{
	while (e->n)
		free(e->p[--e->n]);
}

/*
 * A plain table (rule list, unit list and show, status): columns sized to their content
 * by libsmartcols, never cut or wrapped whatever the terminal, so a script reads the same
 * lines everywhere. Cells come escaped (esc()) and are not encoded again. A row may carry
 * lines of its own, printed under it (status's cgroup and open lines).
 */
struct table {
	struct libscols_table *tb;
	const char *const *names;
	size_t n;
	char **under; /* per row: text printed under it, or NULL */
	size_t rows;
};

/* right: bit i set, column i is aligned to the right (numbers). */
static int table_new(struct table *t, const char *const *names, size_t n, unsigned right)
{
	*t = (struct table){ .names = names, .n = n };
	t->tb = scols_new_table();
	if (!t->tb)
		return -ENOMEM;
	scols_table_enable_noencoding(t->tb, 1);
	scols_table_set_termforce(t->tb, SCOLS_TERMFORCE_NEVER);
	for (size_t i = 0; i < n; i++)
		if (!scols_table_new_column(t->tb, names[i], 0,
					    right & (1u << i) ? SCOLS_FL_RIGHT : 0))
			return -ENOMEM;
	return 0;
}

static int table_row(struct table *t, const char *const *cells, const char *under)
{
	struct libscols_line *ln = scols_table_new_line(t->tb, NULL);
	char **u = reallocarray(t->under, t->rows + 1, sizeof(*u));

	if (!ln || !u)
		return -ENOMEM;
	t->under = u;
	u[t->rows] = under ? strdup(under) : NULL;
	t->rows++;
	if (under && !u[t->rows - 1])
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		if (scols_line_set_data(ln, i, cells[i] ?: ""))
			return -ENOMEM;
	return 0;
}

static int table_print(struct table *t)
{
	char *text = NULL, *line, *next;
	size_t i = 0;

	/* libsmartcols prints nothing at all for no rows: the header still says what is
	 * listed. */
	if (!t->rows) {
		for (size_t c = 0; c < t->n; c++)
			printf("%s%s", t->names[c], c + 1 < t->n ? " " : "\n");
		return 0;
	}
	if (scols_print_table_to_string(t->tb, &text) || !text)
		return -ENOMEM;
	/* The header, then one line per row: nothing wraps. */
	for (line = text; line && *line; line = next, i++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		puts(line);
		if (i && i <= t->rows && t->under[i - 1])
			fputs(t->under[i - 1], stdout);
	}
	free(text);
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows; i++)
		free(t->under[i]);
	free(t->under);
	scols_unref_table(t->tb);
	t->tb = NULL;
}

static int open_store(unsigned flags, struct ug_store **st)
{
	char errbuf[256];
	int err = ug_store_open(db_path, flags, st, errbuf, sizeof(errbuf));

	struct stat sb;

	if (err == -ENOENT && !(flags & UG_STORE_CREATE)) {
		/* An empty file is left as it is: only a writer makes it a store. */
		fprintf(stderr, "unitguardctl: no store at %s%s (unitguardd creates it on start)\n",
			db_path, !stat(db_path, &sb) ? ": the file is empty" : "");
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

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Pid of the agent holding the store's lock; 0 when none runs. */
static pid_t agent_pid(void)
{
	char path[PATH_MAX];
	pid_t pid;

	if (ug_lock_path(db_path, path, sizeof(path)) || ug_lock_holder(path, &pid) != 1)
		return 0;
	return pid > 0 ? pid : INT32_MAX; /* running, pid unknown */
}

struct outcome {
	const char *const *targets;
	size_t n;
	int rc;
};

static int check_outcome(const struct ug_store_status *s, void *ctx)
{
	struct outcome *o = ctx;
	struct esc e = { 0 };
	bool mine = false;

	for (size_t i = 0; i < o->n && !mine; i++)
		mine = !strcmp(o->targets[i], s->target);
	if (!mine || !s->state || !strcmp(s->state, "enforced"))
		return 0;
	if (!strcmp(s->state, "waiting")) {
		fprintf(stderr, "unitguardctl: %s: %s\n", esc(&e, s->target),
			esc(&e, s->reason) ?: "not running");
		esc_free(&e);
		return 0;
	}
	fprintf(stderr, "unitguardctl: %s: NOT %sin force (%s): %s\n", esc(&e, s->target),
		strcmp(s->state, "partial") ? "" : "fully ", esc(&e, s->state),
		esc(&e, s->reason) ?: "no reason given");
	esc_free(&e);
	o->rc = EXIT_NOT_IN_FORCE;
	return 0;
}

/*
 * The write is committed: wait until the agent acknowledges a policy version
 * at least as new (agent_state.applied_version, written at the end of the
 * pass that put it in the kernel), then report what it says of the targets
 * this command touched. Never a guess: no agent, no acknowledgement.
 */
static int in_force(struct ug_store *st, const char *const *targets, size_t n)
{
	int64_t want, deadline = mono_us() + (int64_t)(wait_timeout * 1e6), sleep_us = 1000;
	struct outcome o = { .targets = targets, .n = n };
	char buf[32], lock[PATH_MAX];
	pid_t pid;
	int err;

	if (no_wait)
		return 0;
	ug_lock_path(db_path, lock, sizeof(lock));
	err = ug_store_policy_version(st, &want);
	if (err) {
		fprintf(stderr, "unitguardctl: %s, but cannot read the policy version back: "
			"%s\n", written, ug_store_errmsg(st));
		return EXIT_NOT_IN_FORCE;
	}
	for (;;) {
		pid = agent_pid();
		if (!pid) {
			fprintf(stderr, "unitguardctl: %s, but NOT in force: unitguardd is not "
				"running (nothing holds %s)\n", written, lock);
			return EXIT_NOT_IN_FORCE;
		}
		if (!ug_store_agent_get(st, "applied_version", buf, sizeof(buf)) &&
		    strtoll(buf, NULL, 10) >= want)
			break;
		if (mono_us() >= deadline) {
			fprintf(stderr, "unitguardctl: %s, but unitguardd (pid %d) did not "
				"confirm it in force within %g s (--timeout)\n", written, (int)pid,
				wait_timeout);
			return EXIT_NOT_IN_FORCE;
		}
		usleep(sleep_us);
		if (sleep_us < 20000)
			sleep_us *= 2;
	}
	if (n && ug_store_status_list(st, check_outcome, &o)) {
		fprintf(stderr, "unitguardctl: in force, but cannot read status: %s\n",
			ug_store_errmsg(st));
		return EXIT_NOT_IN_FORCE;
	}
	return o.rc;
}

/* Parse options of a subcommand; positional arguments are left in argv[optind..]. */
struct sub_opts {
	bool json;
	const char *unit, *proto, *port, *comment, *mode, *def_egress, *def_ingress;
	const char *access, *harden, *no_harden;
	const char *since, *until;
	const char *dir;
	bool check, diff, follow, summary;
};

static int parse_wait_opt(int c, const char *arg);

/* --json before the command: JSON (JSON Lines for streams) from any command
 * that has it; refused by one that does not. */
static bool json_global;

enum {
	OPT_JSON = 1 << 0,
	OPT_UNIT = 1 << 1,
	OPT_RULE = 1 << 2, /* --proto --port --comment */
	OPT_POSTURE = 1 << 3, /* --mode --default-egress --default-ingress */
	OPT_WAIT = 1 << 4,    /* --wait --no-wait --timeout */
	OPT_CHECK = 1 << 5,   /* --check --diff */
	OPT_AUDIT = 1 << 6,   /* --since --until --follow --summary */
	OPT_EXPLAIN = 1 << 7, /* --dir --proto --port --access */
};

static int parse_sub(int argc, char **argv, unsigned allowed, struct sub_opts *o)
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
static int parse_target_cmd(int argc, char **argv, unsigned allowed, struct sub_opts *o,
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

static int store_rule(const struct ug_store_rule_spec *spec)
{
	struct ug_store *st;
	int64_t id;
	int err;

	if (open_store(UG_STORE_CREATE, &st))
		return 1;
	err = ug_store_rule_add(st, spec, &id);
	if (err) {
		fprintf(stderr, "unitguardctl: rule add: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return 1;
	}
	/* The id first: the rule exists whatever the agent says. */
	printf("%" PRId64 "\n", id);
	fflush(stdout);
	err = in_force(st, &spec->target, 1);
	ug_store_close(st);
	return err;
}

/*
 * The LSM hooks see a file by the path the kernel resolved: a rule on a path
 * through a symlink (/bin/sh on merged-/usr Debian 12 is /usr/bin/sh) never
 * matches. Writes the resolved path to real when it differs; false when the
 * path resolves to itself or cannot be resolved (it need not exist).
 */
static bool resolves_elsewhere(const char *path, char *real, size_t len)
{
	char buf[PATH_MAX];

	if (!realpath(path, buf) || !strcmp(buf, path))
		return false;
	snprintf(real, len, "%s", buf);
	return true;
}

/* exec allow|deny PATH; file deny PATH [--access]; family deny FAMILY */
static int lsm_rule_add(char **argv, const struct sub_opts *o)
{
	char path[UG_PATH_MAX];
	const char *why = NULL, *access = NULL, *value;
	int action = ug_action_parse(argv[2]), family;

	if (o->proto || o->port)
		return bad("invalid --%s: only for network rules", o->proto ? "proto" : "port");
	if (action < 0)
		return bad("invalid ACTION '%s': expected allow or deny", argv[2]);
	if (strcmp(argv[1], "exec") && action != UG_ACT_DENY)
		return bad("invalid ACTION '%s': %s rules only deny", argv[2], argv[1]);
	if (o->access && strcmp(argv[1], "file"))
		return bad("invalid --access: only for file rules");
	if (o->comment && ug_comment_validate(o->comment, &why))
		return bad("invalid --comment: %s", why);
	if (!strcmp(argv[1], "family")) {
		family = ug_family_parse(argv[3]);
		if (family < 0 || family >= 64)
			return bad("invalid FAMILY '%s': expected a name (packet, netlink, ...) or "
				   "1-63", argv[3]);
		value = ug_family_name(family);
		if (!strcmp(value, "unknown"))
			value = argv[3];
	} else {
		char real[PATH_MAX];

		if (ug_path_parse(argv[3], path, sizeof(path), &why))
			return bad("invalid PATH '%s': %s", argv[3], why ? why : "not a path");
		value = path;
		if (resolves_elsewhere(path, real, sizeof(real)))
			fprintf(stderr, "unitguardctl: warning: %s resolves to %s: the kernel "
				"sees the resolved path, so this rule never matches; write %s\n",
				path, real, real);
		if (!strcmp(argv[1], "file")) {
			int a = ug_access_parse(o->access ? o->access : "any");

			if (a <= 0)
				return bad("invalid --access '%s': expected read, write or any",
					   o->access);
			access = ug_access_name(a);
		}
	}
	return store_rule(&(struct ug_store_rule_spec){
		.target = argv[0],
		.direction = argv[1],
		.action = argv[2],
		.prefix = value,
		.access = access,
		.comment = o->comment,
	});
}

static int rule_add(int argc, char **argv)
{
	struct ug_store_rule_spec spec = {};
	struct ug_prefix prefix;
	char canon[UG_PREFIX_STRLEN];
	const char *why = NULL;
	uint16_t lo = 0, hi = 0;
	struct sub_opts o;
	int err, proto = 0;

	err = parse_sub(argc, argv, OPT_RULE | OPT_WAIT, &o);
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
	if (!strcmp(argv[1], "exec") || !strcmp(argv[1], "file") || !strcmp(argv[1], "family"))
		return lsm_rule_add(argv, &o);
	if (ug_dir_parse(argv[1]) < 0)
		return bad("invalid DIRECTION '%s': expected egress, ingress, bind, exec, file or "
			   "family", argv[1]);
	if (o.access)
		return bad("invalid --access: only for file rules");
	if (ug_action_parse(argv[2]) < 0)
		return bad("invalid ACTION '%s': expected allow or deny", argv[2]);
	if (ug_prefix_parse(argv[3], &prefix, &why))
		return bad("invalid PREFIX '%s': %s", argv[3], why ? why : "not a CIDR");
	if (ug_prefix_format(&prefix, canon, sizeof(canon)))
		return bad("invalid PREFIX '%s'", argv[3]);
	if (o.proto && (proto = ug_proto_parse(o.proto)) < 0)
		return bad("invalid --proto '%s': expected tcp, udp or icmp", o.proto);
	if (o.port && ug_ports_parse(o.port, &lo, &hi, &why))
		return bad("invalid --port '%s': %s", o.port, why ? why : "expected N or N-M");
	if (o.port && proto == IPPROTO_ICMP)
		return bad("invalid --port '%s': ICMP has no ports", o.port);
	if (o.comment && ug_comment_validate(o.comment, &why))
		return bad("invalid --comment: %s", why);

	spec = (struct ug_store_rule_spec){
		.target = argv[0],
		.direction = argv[1],
		.action = argv[2],
		.prefix = canon,
		.proto = o.proto,
		.port_lo = lo,
		.port_hi = hi,
		.comment = o.comment,
	};
	return store_rule(&spec);
}

static void ports_text(uint32_t lo, uint32_t hi, char *buf, size_t len)
{
	if (!lo)
		snprintf(buf, len, "any");
	else if (lo == hi)
		snprintf(buf, len, "%u", lo);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
}

static void json_add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static int print_json(json_object *arr);

/* rule list and unit show: rows of a table, or a JSON array. */
struct rule_out {
	json_object *arr;
	struct table tab;
};

static const char *const rule_cols[] = { "ID",     "TARGET", "DIR",  "ACTION",
					 "PREFIX", "PROTO",  "PORT", "COMMENT" };

static int rule_out_init(struct rule_out *out, bool json)
{
	memset(out, 0, sizeof(*out));
	if (json) {
		out->arr = json_object_new_array();
		return out->arr ? 0 : -ENOMEM;
	}
	return table_new(&out->tab, rule_cols, ARRAY_SIZE(rule_cols), 1u << 0);
}

static int rule_out_print(struct rule_out *out)
{
	return out->arr ? print_json(out->arr) : table_print(&out->tab);
}

static void rule_out_free(struct rule_out *out)
{
	json_object_put(out->arr);
	if (out->tab.tb)
		table_free(&out->tab);
}

static int print_rule(const struct ug_store_rule *r, void *ctx)
{
	struct rule_out *out = ctx;
	json_object *arr = out->arr, *o;
	char ports[16], id[24];
	struct esc e = { 0 };
	int err;

	ports_text(r->port_lo, r->port_hi, ports, sizeof(ports));
	if (!arr) {
		/* The store is written by others too (a raw sqlite3 session): what
		 * it holds is printed escaped. */
		const char *cells[] = { id, esc(&e, r->target), esc(&e, r->direction),
					esc(&e, r->action), esc(&e, r->prefix),
					esc(&e, r->access ?: r->proto ?: "any"),
					r->access ? "" : ports, esc(&e, r->comment) };

		snprintf(id, sizeof(id), "%" PRId64, r->id);
		err = table_row(&out->tab, cells, NULL);
		esc_free(&e);
		return err;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "target", json_object_new_string(r->target));
	json_object_object_add(o, "direction", json_object_new_string(r->direction));
	json_object_object_add(o, "action", json_object_new_string(r->action));
	json_object_object_add(o, "prefix", json_object_new_string(r->prefix));
	json_add_str(o, "proto", r->proto);
	json_add_str(o, "access", r->access);
	json_object_object_add(o, "port_lo", r->port_lo ? json_object_new_int64(r->port_lo) : NULL);
	json_object_object_add(o, "port_hi", r->port_lo ? json_object_new_int64(r->port_hi) : NULL);
	json_add_str(o, "comment", r->comment);
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
	struct rule_out out;
	struct ug_store *st;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, OPT_JSON, &o);
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
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	err = rule_out_init(&out, o.json);
	if (!err)
		err = ug_store_rules(st, target, print_rule, &out);
	if (!err)
		err = rule_out_print(&out);
	if (err)
		fprintf(stderr, "unitguardctl: rule list: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	rule_out_free(&out);
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

	err = parse_sub(argc, argv, OPT_WAIT, &o);
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
	else
		err = -in_force(st, NULL, 0);
	ug_store_close(st);
	return err == -ENOENT ? EXIT_USAGE : err == -EXIT_NOT_IN_FORCE ? EXIT_NOT_IN_FORCE
					 : err ? 1 : 0;
}

/* How audit rows are printed: a table, a JSON array, or JSON Lines. */
struct audit_out {
	enum { OUT_TABLE, OUT_ARRAY, OUT_LINES } form;
	size_t n;
	int64_t last_id;
};

static int print_audit(const struct ug_store_audit *a, void *ctx)
{
	const struct ug_audit_row *r = &a->row;
	struct audit_out *out = ctx;
	struct esc e = { 0 };
	const char *text;
	json_object *o;
	char rule[24];
	int err = 0;

	out->last_id = a->id;
	if (out->form == OUT_TABLE) {
		if (r->rule_id)
			snprintf(rule, sizeof(rule), "%" PRId64, r->rule_id);
		else
			snprintf(rule, sizeof(rule), "default");
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5u %-7u %-15s %-7s %-5u %" PRIu64 "\n",
		       esc(&e, a->time), esc(&e, r->unit) ?: "-", esc(&e, r->verdict) ?: "-",
		       esc(&e, r->hook) ?: "-", esc(&e, r->protocol) ?: "-",
		       esc(&e, r->address ?: r->path ?: r->detail) ?: "-", r->port, r->pid,
		       esc(&e, r->comm) ?: "-", rule, r->generation, r->count);
		esc_free(&e);
		out->n++;
		return 0;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_add_str(o, "time", a->time);
	json_object_object_add(o, "time_us", json_object_new_int64(r->time_us));
	json_object_object_add(o, "first_time_us", json_object_new_int64(r->first_time_us));
	json_object_object_add(o, "count", json_object_new_uint64(r->count));
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
	json_add_str(o, "path", r->path);
	json_add_str(o, "exe", r->exe);
	json_add_str(o, "detail", r->detail);
	/* Row by row, never the whole table in memory. */
	text = json_object_to_json_string_ext(o, out->form == OUT_LINES ? JSON_C_TO_STRING_PLAIN
						 : JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		err = -ENOMEM;
	else if (out->form == OUT_LINES)
		printf("%s\n", text);
	else
		printf("%s%s", out->n ? ",\n" : "[\n", text);
	out->n++;
	json_object_put(o);
	return err;
}

/* One report as a table (columns sized to the content) or a JSON array. */
struct report_rows {
	int n;
	char cols[UG_REPORT_COLS_MAX][32];
	char **cells; /* rows * n, owned */
	size_t rows;
	int err;
};

static int keep_report_row(int n, const char *const *cols, const char *const *vals, void *ctx)
{
	struct report_rows *r = ctx;
	char **cells = reallocarray(r->cells, (r->rows + 1) * n, sizeof(*cells));

	if (!cells)
		return -ENOMEM;
	r->cells = cells;
	r->n = n;
	for (int c = 0; c < n; c++) {
		snprintf(r->cols[c], sizeof(r->cols[c]), "%s", cols[c]);
		cells[r->rows * n + c] = strdup(vals[c] ? vals[c] : "-");
		if (!cells[r->rows * n + c])
			r->err = -ENOMEM;
	}
	r->rows++;
	return r->err;
}

static int print_report(const char *name, struct report_rows *r, json_object *all)
{
	json_object *arr;
	int width[UG_REPORT_COLS_MAX];

	if (all) {
		arr = json_object_new_array();
		if (!arr)
			return -ENOMEM;
		for (size_t i = 0; i < r->rows; i++) {
			json_object *o = json_object_new_object();

			if (!o)
				return -ENOMEM;
			for (int c = 0; c < r->n; c++) {
				const char *v = r->cells[i * r->n + c];

				json_object_object_add(o, r->cols[c], strcmp(v, "-") ?
						       json_object_new_string(v) : NULL);
			}
			json_object_array_add(arr, o);
		}
		json_object_object_add(all, name, arr);
		return 0;
	}
	printf("== %s ==\n", name);
	if (!r->rows) {
		printf("(none)\n\n");
		return 0;
	}
	/* Escaped in place for the table (JSON above takes them as they are). */
	for (size_t k = 0; k < r->rows * r->n; k++) {
		char *x = esc_dup(r->cells[k]);

		if (!x)
			return -ENOMEM;
		free(r->cells[k]);
		r->cells[k] = x;
	}
	for (int c = 0; c < r->n; c++) {
		width[c] = (int)strlen(r->cols[c]);
		for (size_t i = 0; i < r->rows; i++)
			if ((int)strlen(r->cells[i * r->n + c]) > width[c])
				width[c] = (int)strlen(r->cells[i * r->n + c]);
	}
	for (int c = 0; c < r->n; c++)
		printf("%-*s%s", width[c], r->cols[c], c + 1 < r->n ? "  " : "\n");
	for (size_t i = 0; i < r->rows; i++)
		for (int c = 0; c < r->n; c++)
			printf("%-*s%s", width[c], r->cells[i * r->n + c], c + 1 < r->n ? "  " : "\n");
	printf("\n");
	return 0;
}

/* audit --summary: every report of the store (db/store.h), 20 rows each. */
static int audit_summary(struct ug_store *st, const char *unit, bool json)
{
	json_object *all = json ? json_object_new_object() : NULL;
	int err = 0;

	if (json && !all)
		return 1;
	for (size_t i = 0; !err && ug_store_report_name(i); i++) {
		struct report_rows r = { 0 };

		err = ug_store_report(st, ug_store_report_name(i), unit, 20, keep_report_row, &r);
		if (err)
			fprintf(stderr, "unitguardctl: audit --summary: %s\n",
				err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
		else
			err = print_report(ug_store_report_name(i), &r, all);
		for (size_t k = 0; k < r.rows * r.n; k++)
			free(r.cells[k]);
		free(r.cells);
	}
	if (!err && all)
		err = print_json(all);
	json_object_put(all);
	return err ? 1 : 0;
}

static volatile sig_atomic_t stop_follow;

static void on_stop_signal(int sig)
{
	stop_follow = 1;
}

static int audit(int argc, char **argv)
{
	struct audit_out out = { .form = OUT_TABLE };
	struct ug_audit_filter f = { 0 };
	struct ug_store *st;
	struct sub_opts o;
	struct timespec ts;
	int64_t now, max_id = 0;
	int err;

	err = parse_sub(argc, argv, OPT_JSON | OPT_UNIT | OPT_AUDIT, &o);
	if (err)
		return err;
	if (optind != argc)
		return bad("audit: unexpected argument '%s'", argv[optind]);
	if (o.unit) {
		err = check_target(o.unit);
		if (err)
			return err;
	}
	if (o.summary && (o.follow || o.since || o.until))
		return bad("audit: --summary reports over the whole store; it takes no --since, "
			   "--until or --follow (query the views with sqlite3 for a period)");
	if (o.follow && o.until)
		return bad("audit: --follow and --until exclude each other");
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	if (o.summary) {
		err = audit_summary(st, o.unit, o.json);
		ug_store_close(st);
		return err;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (int i = 0; i < 2; i++) {
		const char *text = i ? o.until : o.since;

		if (!text)
			continue;
		*(i ? &f.has_until : &f.has_since) = true;
		if (ug_store_parse_time(st, text, now, i ? &f.until_us : &f.since_us)) {
			fprintf(stderr, "unitguardctl: audit: --%s: %s\n", i ? "until" : "since",
				ug_store_errmsg(st));
			ug_store_close(st);
			return EXIT_USAGE;
		}
	}
	f.unit = o.unit;
	if (o.json)
		out.form = o.follow ? OUT_LINES : OUT_ARRAY;
	else
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5s %-7s %-15s %-7s %-5s %s\n", "TIME",
		       "UNIT", "VERDICT", "HOOK", "PROTO", "ADDRESS/PATH", "PORT", "PID", "COMM",
		       "RULE", "GEN", "COUNT");
	/* Where following starts: read before the rows are listed, so a row
	 * stored meanwhile is printed once, by one or the other. */
	if (o.follow)
		err = ug_store_audit_max_id(st, &max_id);
	if (!err)
		err = ug_store_audit_query(st, &f, print_audit, &out);
	if (out.form == OUT_ARRAY && !err)
		printf("%s]\n", out.n ? "\n" : "[");
	if (o.follow && !err) {
		/* Like journalctl -f: new rows as the agent stores them, until a
		 * signal. Only rows after the last one seen. */
		signal(SIGINT, on_stop_signal);
		signal(SIGTERM, on_stop_signal);
		signal(SIGPIPE, on_stop_signal);
		f.after_id = out.last_id > max_id ? out.last_id : max_id;
		while (!stop_follow && !err) {
			fflush(stdout);
			usleep(200 * 1000);
			/* Ids start again at 1 when retention emptied the table. */
			err = ug_store_audit_max_id(st, &max_id);
			if (!err && max_id < f.after_id)
				f.after_id = 0;
			if (!err)
				err = ug_store_audit_query(st, &f, print_audit, &out);
			if (!err && out.last_id > f.after_id)
				f.after_id = out.last_id;
			if (err == -EBUSY)
				err = 0; /* the agent is writing: next time */
		}
	}
	if (err)
		fprintf(stderr, "unitguardctl: audit: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	ug_store_close(st);
	return err ? 1 : 0;
}

struct unit_find {
	const char *target;
	char harden[64];
};

static int find_unit(const struct ug_store_unit *u, void *ctx)
{
	struct unit_find *f = ctx;

	if (!strcmp(u->target, f->target))
		snprintf(f->harden, sizeof(f->harden), "%s", u->harden ?: "");
	return 0;
}

static int unit_set(int argc, char **argv)
{
	const char *why = NULL;
	char harden[64] = "";
	struct ug_store *st;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, OPT_POSTURE | OPT_WAIT, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc != 1)
		return bad("unit set: expected one TARGET");
	err = check_target(argv[0]);
	if (err)
		return err;
	if (!o.mode && !o.def_egress && !o.def_ingress && !o.harden && !o.no_harden)
		return bad("unit set: nothing to set (--mode, --default-egress, --default-ingress, "
			   "--harden, --no-harden)");
	if (o.harden && ug_harden_parse(o.harden, &why) < 0)
		return bad("invalid --harden '%s': %s", o.harden, why ? why : "expected "
			   "module-load,bpf,ptrace,mount,path-view");
	if (o.no_harden && ug_harden_parse(o.no_harden, &why) < 0)
		return bad("invalid --no-harden '%s': %s", o.no_harden, why ? why : "expected "
			   "module-load,bpf,ptrace,mount,path-view");
	if (o.mode && ug_mode_parse(o.mode) < 0)
		return bad("invalid --mode '%s': expected enforce, audit or off", o.mode);
	if (o.def_egress && ug_action_parse(o.def_egress) < 0)
		return bad("invalid --default-egress '%s': expected allow or deny", o.def_egress);
	if (o.def_ingress && ug_action_parse(o.def_ingress) < 0)
		return bad("invalid --default-ingress '%s': expected allow or deny", o.def_ingress);
	if (open_store(UG_STORE_CREATE, &st))
		return 1;
	if (o.harden || o.no_harden) {
		/* Switches are added and removed, not replaced: read the current set. */
		struct unit_find f = { .target = argv[0] };
		int cur = 0;

		err = ug_store_units(st, find_unit, &f);
		if (!err && f.harden[0] && (cur = ug_harden_parse(f.harden, &why)) < 0)
			cur = 0;
		if (o.harden)
			cur |= ug_harden_parse(o.harden, &why);
		if (o.no_harden)
			cur &= ~ug_harden_parse(o.no_harden, &why);
		ug_harden_format(cur, harden, sizeof(harden));
	}
	err = ug_store_unit_set(st, argv[0], o.mode, o.def_egress, o.def_ingress,
				o.harden || o.no_harden ? harden : NULL);
	if (err) {
		fprintf(stderr, "unitguardctl: unit set: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return 1;
	}
	err = in_force(st, (const char *const *)argv, 1);
	ug_store_close(st);
	return err;
}

/* unit list and unit show: one unit's settings, as a table row or JSON. */
struct unit_print {
	struct ug_store *st;
	const char *only; /* unit show: this target */
	json_object *arr;
	struct table tab;
	int found;
	int err;
};

static const char *const unit_cols[] = { "TARGET", "MODE", "EGRESS", "INGRESS", "RULES",
					 "HARDEN" };

static int count_rule(const struct ug_store_rule *r, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int print_unit(const struct ug_store_unit *u, void *ctx)
{
	struct unit_print *p = ctx;
	struct esc e = { 0 };
	json_object *o;
	int rules = 0, err;

	if (p->only && strcmp(u->target, p->only))
		return 0;
	p->found++;
	err = ug_store_unit_rules(p->st, u->id, count_rule, &rules);
	if (err)
		return err;
	if (!p->arr) {
		char n[16];
		const char *cells[] = { esc(&e, u->target), esc(&e, u->mode),
					esc(&e, u->default_egress), esc(&e, u->default_ingress), n,
					u->harden && u->harden[0] ? esc(&e, u->harden) : "-" };

		snprintf(n, sizeof(n), "%d", rules);
		err = table_row(&p->tab, cells, NULL);
		esc_free(&e);
		return err;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_add_str(o, "target", u->target);
	json_add_str(o, "mode", u->mode);
	json_add_str(o, "default_egress", u->default_egress);
	json_add_str(o, "default_ingress", u->default_ingress);
	json_add_str(o, "harden", u->harden);
	json_object_object_add(o, "rules", json_object_new_int(rules));
	return json_object_array_add(p->arr, o) ? -ENOMEM : 0;
}

/* unit list [--json]; unit show TARGET [--json]: the unit's settings, then its rules. */
static int unit_list(int argc, char **argv, bool show)
{
	struct unit_print p = { 0 };
	struct rule_out rules = { 0 };
	json_object *top = NULL;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, OPT_JSON, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (show ? argc != 1 : argc != 0)
		return bad(show ? "unit show: expected one TARGET" : "unit list: takes no argument");
	if (show && (err = check_target(argv[0])))
		return err;
	p.only = show ? argv[0] : NULL;
	if (open_store(UG_STORE_READONLY, &p.st))
		return 1;
	if (o.json)
		err = (p.arr = json_object_new_array()) ? 0 : -ENOMEM;
	else
		err = table_new(&p.tab, unit_cols, ARRAY_SIZE(unit_cols), 1u << 4);
	if (!err)
		err = ug_store_units(p.st, print_unit, &p);
	if (!err && show && !p.found) {
		fprintf(stderr, "unitguardctl: unit show: no unit '%s' in the store\n", argv[0]);
		err = -ENOENT;
	} else if (!err && show) {
		err = rule_out_init(&rules, o.json);
		if (!err)
			err = ug_store_rules(p.st, argv[0], print_rule, &rules);
	}
	if (err && err != -ENOENT)
		fprintf(stderr, "unitguardctl: unit %s: %s\n", show ? "show" : "list",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(p.st));
	if (!err && p.arr) {
		if (show) {
			top = json_object_get(json_object_array_get_idx(p.arr, 0));
			json_object_object_add(top, "rule_list", rules.arr);
			rules.arr = NULL;
			err = print_json(top);
		} else {
			err = print_json(p.arr);
		}
	} else if (!err) {
		err = table_print(&p.tab);
		if (!err && show) {
			putchar('\n');
			err = table_print(&rules.tab);
		}
	}
	json_object_put(top);
	rule_out_free(&rules);
	json_object_put(p.arr);
	if (p.tab.tb)
		table_free(&p.tab);
	ug_store_close(p.st);
	return err == -ENOENT ? EXIT_USAGE : err ? 1 : 0;
}

/* unit del TARGET: the unit and its rules go; in force when the command returns. */
static int unit_del(int argc, char **argv)
{
	struct ug_store *st;
	struct sub_opts o;
	const char *target;
	int err;

	err = parse_target_cmd(argc, argv, OPT_WAIT, &o, "unit del", &target);
	if (err)
		return err;
	if (open_store(0, &st))
		return 1;
	err = ug_store_unit_del(st, target);
	if (err) {
		fprintf(stderr, "unitguardctl: unit del: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return err == -ENOENT ? EXIT_USAGE : 1;
	}
	err = in_force(st, NULL, 0);
	ug_store_close(st);
	return err;
}

/* --- live counters from the agent's pinned maps ---------------------------- */

struct live {
	int units_fd, acct_fd, hits_fd;
};

static void live_close(struct live *l)
{
	if (l->units_fd >= 0)
		close(l->units_fd);
	if (l->acct_fd >= 0)
		close(l->acct_fd);
	if (l->hits_fd >= 0)
		close(l->hits_fd);
}

/* The agent records where it pins; -ENOENT when nothing is pinned there. */
static int live_open(struct ug_store *st, struct live *l)
{
	char dir[256];
	int err;

	if (ug_store_agent_get(st, "pin_dir", dir, sizeof(dir)))
		snprintf(dir, sizeof(dir), UG_PIN_DEFAULT_DIR);
	l->units_fd = ug_pinned_map(dir, "ug_units");
	l->acct_fd = ug_pinned_map(dir, "ug_acct");
	l->hits_fd = ug_pinned_map(dir, "ug_rule_hits");
	err = l->units_fd < 0 ? l->units_fd : l->acct_fd < 0 ? l->acct_fd : l->hits_fd;
	if (err < 0) {
		live_close(l);
		fprintf(stderr, "unitguardctl: no counters pinned under %s: %s (is unitguardd "
			"running, and are you root?)\n", dir, strerror(-err));
		return err;
	}
	return 0;
}

static int live_unit(const struct live *l, uint64_t cgid, struct ug_unit_val *uv,
		     struct ug_acct_val sum[2])
{
	if (bpf_map_lookup_elem(l->units_fd, &cgid, uv))
		return -errno;
	return ug_pinned_acct(l->acct_fd, uv->acct, 0, &sum[0]) ?:
	       ug_pinned_acct(l->acct_fd, uv->acct, 1, &sum[1]);
}

/* A rule that never decided has no entry: 0 hits. */
static int live_hits(const struct live *l, uint32_t rule_id, uint64_t *hits)
{
	int err = ug_pinned_sum(l->hits_fd, &rule_id, hits);

	if (err == -ENOMEM)
		return err;
	if (err)
		*hits = 0;
	return 0;
}

static json_object *acct_json(const struct ug_acct_val *a)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "allowed_packets", json_object_new_uint64(a->packets[UG_ACCT_ALLOWED]));
	json_object_object_add(o, "allowed_bytes", json_object_new_uint64(a->bytes[UG_ACCT_ALLOWED]));
	json_object_object_add(o, "dropped_packets", json_object_new_uint64(a->packets[UG_ACCT_DROPPED]));
	json_object_object_add(o, "dropped_bytes", json_object_new_uint64(a->bytes[UG_ACCT_DROPPED]));
	json_object_object_add(o, "audited_packets", json_object_new_uint64(a->packets[UG_ACCT_AUDITED]));
	json_object_object_add(o, "audited_bytes", json_object_new_uint64(a->bytes[UG_ACCT_AUDITED]));
	return o;
}

struct stats_ctx {
	const char *target;
	struct live live;
	json_object *units, *rules;
	struct ug_store *st;
};

static int stats_unit(const struct ug_store_status *s, void *ctx)
{
	struct stats_ctx *c = ctx;
	struct ug_acct_val a[2];
	struct ug_unit_val uv;
	json_object *o;

	if (c->target && strcmp(c->target, s->target))
		return 0;
	if (!s->cgroup_id || live_unit(&c->live, s->cgroup_id, &uv, a))
		return 0; /* not in the kernel: status says why */
	if (!c->units) {
		struct esc e = { 0 };

		for (int dir = 0; dir < 2; dir++)
			printf("%-28s %-8s %12" PRIu64 " %14" PRIu64 " %12" PRIu64 " %14" PRIu64
			       " %12" PRIu64 " %14" PRIu64 " %6u\n", esc(&e, s->target),
			       dir ? "ingress" : "egress", (uint64_t)a[dir].packets[UG_ACCT_ALLOWED],
			       (uint64_t)a[dir].bytes[UG_ACCT_ALLOWED], (uint64_t)a[dir].packets[UG_ACCT_DROPPED],
			       (uint64_t)a[dir].bytes[UG_ACCT_DROPPED], (uint64_t)a[dir].packets[UG_ACCT_AUDITED],
			       (uint64_t)a[dir].bytes[UG_ACCT_AUDITED], uv.generation);
		esc_free(&e);
		return 0;
	}
	o = json_object_new_object();
	json_add_str(o, "unit", s->target);
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(s->cgroup_id));
	json_object_object_add(o, "generation", json_object_new_int64(uv.generation));
	json_object_object_add(o, "egress", acct_json(&a[0]));
	json_object_object_add(o, "ingress", acct_json(&a[1]));
	return json_object_array_add(c->units, o) ? -ENOMEM : 0;
}

static int stats_rule(const struct ug_store_rule *r, void *ctx)
{
	struct stats_ctx *c = ctx;
	uint64_t hits;
	json_object *o;

	if (live_hits(&c->live, (uint32_t)r->id, &hits))
		return -ENOMEM;
	if (!c->rules) {
		struct esc e = { 0 };

		printf("%-6" PRId64 " %-28s %-8s %-6s %-43s %12" PRIu64 "\n", r->id,
		       esc(&e, r->target), esc(&e, r->direction), esc(&e, r->action),
		       esc(&e, r->prefix), hits);
		esc_free(&e);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_add_str(o, "target", r->target);
	json_object_object_add(o, "hits", json_object_new_uint64(hits));
	return json_object_array_add(c->rules, o) ? -ENOMEM : 0;
}

static int stats(int argc, char **argv)
{
	struct stats_ctx c = {};
	json_object *top = NULL;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, OPT_JSON, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc > 1)
		return bad("stats: expected at most one TARGET");
	if (argc == 1) {
		c.target = argv[0];
		err = check_target(c.target);
		if (err)
			return err;
	}
	if (open_store(UG_STORE_READONLY, &c.st))
		return 1;
	if (live_open(c.st, &c.live)) {
		ug_store_close(c.st);
		return 1;
	}
	if (o.json) {
		top = json_object_new_object();
		c.units = json_object_new_array();
		c.rules = json_object_new_array();
		json_object_object_add(top, "units", c.units);
		json_object_object_add(top, "rules", c.rules);
	} else {
		printf("%-28s %-8s %12s %14s %12s %14s %12s %14s %6s\n", "UNIT", "DIR",
		       "ALLOWED_PKTS", "ALLOWED_BYTES", "DROPPED_PKTS", "DROPPED_BYTES",
		       "AUDITED_PKTS", "AUDITED_BYTES", "GEN");
	}
	err = ug_store_status_list(c.st, stats_unit, &c);
	if (!err && !o.json)
		printf("\n%-6s %-28s %-8s %-6s %-43s %12s\n", "RULE", "TARGET", "DIR", "ACTION",
		       "PREFIX", "HITS");
	if (!err)
		err = ug_store_rules(c.st, c.target, stats_rule, &c);
	if (err)
		fprintf(stderr, "unitguardctl: stats: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(c.st));
	else if (top)
		err = print_json(top);
	json_object_put(top);
	live_close(&c.live);
	ug_store_close(c.st);
	return err ? 1 : 0;
}

/* --- metrics: metrics/prom.c, the same text as unitguardd --metrics-listen ---- */

static int metrics(int argc, char **argv)
{
	struct ug_store *st;
	struct sub_opts o;
	char err[512], *text;
	size_t len;
	int ret;

	ret = parse_sub(argc, argv, 0, &o);
	if (ret)
		return ret;
	if (optind != argc)
		return bad("metrics: unexpected argument '%s'", argv[optind]);
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	/* All or nothing: a half text must not reach a collector's file. */
	ret = ug_prom_render(&(struct ug_prom_src){ .st = st, .db_path = db_path }, &text, &len,
			     err, sizeof(err));
	ug_store_close(st);
	if (ret) {
		fprintf(stderr, "unitguardctl: metrics: %s\n", err);
		return 1;
	}
	ret = fwrite(text, 1, len, stdout) != len || fflush(stdout) ? 1 : 0;
	if (ret)
		fprintf(stderr, "unitguardctl: metrics: cannot write: %s\n", strerror(errno));
	free(text);
	return ret;
}

/* --- status ----------------------------------------------------------------- */

/*
 * What each target's rules leave open (policy/gaps.c): its own rules and
 * those of the targets whose cgroup is above its own (what it inherits).
 */
struct lim_entry {
	char *target;
	char *cgroup; /* NULL: not placed; its own rules only */
	struct ug_limits own, eff;
};

struct status_ctx {
	json_object *arr;
	struct table tab;
	struct live live;
	bool have_live;
	int not_enforced;
	int not_in_force; /* neither enforced nor waiting for its unit's start */
	struct lim_entry *lim;
	size_t n_lim;
	size_t last; /* rules come ordered by target: the last one found */
	unsigned shown; /* bit k: limit k was shown */
};

static struct lim_entry *lim_find(struct status_ctx *c, const char *target)
{
	if (c->last < c->n_lim && !strcmp(c->lim[c->last].target, target))
		return &c->lim[c->last];
	for (size_t i = 0; i < c->n_lim; i++) {
		if (!strcmp(c->lim[i].target, target)) {
			c->last = i;
			return &c->lim[i];
		}
	}
	return NULL;
}

static int lim_status(const struct ug_store_status *s, void *ctx)
{
	struct status_ctx *c = ctx;
	struct lim_entry *v = realloc(c->lim, (c->n_lim + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->lim = v;
	v = &c->lim[c->n_lim];
	*v = (struct lim_entry){ .target = strdup(s->target),
				 .cgroup = s->cgroup ? strdup(s->cgroup) : NULL };
	if (!v->target || (s->cgroup && !v->cgroup)) {
		free(v->target);
		free(v->cgroup);
		return -ENOMEM;
	}
	c->n_lim++;
	return 0;
}

static int lim_rule(const struct ug_store_rule *r, void *ctx)
{
	struct lim_entry *e = lim_find(ctx, r->target);
	char real[PATH_MAX];

	if (!e)
		return 0;
	ug_limits_add_rule(&e->own, r->direction, r->action, r->prefix, r->access);
	if ((!strcmp(r->direction, "exec") || !strcmp(r->direction, "file")) &&
	    resolves_elsewhere(r->prefix, real, sizeof(real)))
		e->own.symlink = true;
	return 0;
}

static int lim_unit(const struct ug_store_unit *u, void *ctx)
{
	struct lim_entry *e = lim_find(ctx, u->target);

	if (e && (!strcmp(u->default_egress, "deny") || !strcmp(u->default_ingress, "deny")))
		ug_limits_add_default_deny(&e->own);
	if (e && u->harden)
		ug_limits_add_harden(&e->own, ug_harden_parse(u->harden, NULL));
	return 0;
}

/* What a target inherits from a policy cgroup above it. */
static void lim_merge(struct ug_limits *to, const struct ug_limits *from)
{
	to->net |= from->net;
	to->egress4 |= from->egress4;
	to->nat64 |= from->nat64;
	to->bind |= from->bind;
	to->packet |= from->packet;
	to->xdp |= from->xdp;
	to->tun |= from->tun;
	to->file_write |= from->file_write;
	to->paths |= from->paths;
	to->exec_deny |= from->exec_deny;
	to->any |= from->any;
	to->symlink |= from->symlink;
	to->path_view |= from->path_view;
}

static int lim_load(struct ug_store *st, struct status_ctx *c)
{
	int err = ug_store_status_list(st, lim_status, c);

	if (!err)
		err = ug_store_rules(st, NULL, lim_rule, c);
	if (!err)
		err = ug_store_units(st, lim_unit, c);
	if (err)
		return err;
	for (size_t i = 0; i < c->n_lim; i++) {
		struct lim_entry *e = &c->lim[i];

		e->eff = e->own;
		for (size_t j = 0; e->cgroup && j < c->n_lim; j++) {
			const char *a = c->lim[j].cgroup;
			size_t n = a ? strlen(a) : 0;

			if (j != i && a && !strncmp(a, e->cgroup, n) && e->cgroup[n] == '/')
				lim_merge(&e->eff, &c->lim[j].own);
		}
	}
	return 0;
}

static void lim_free(struct status_ctx *c)
{
	for (size_t i = 0; i < c->n_lim; i++) {
		free(c->lim[i].target);
		free(c->lim[i].cgroup);
	}
	free(c->lim);
}

static int status_row(const struct ug_store_status *s, void *ctx)
{
	struct status_ctx *c = ctx;
	struct ug_acct_val a[2] = {};
	struct esc e = { 0 };
	struct ug_unit_val uv;
	bool live = c->have_live && s->cgroup_id && !live_unit(&c->live, s->cgroup_id, &uv, a);
	json_object *o;

	const struct lim_entry *lim = lim_find(c, s->target);
	json_object *open = NULL;
	char open_text[256] = "";

	for (int k = 0; lim && k < UG_LIMIT_MAX; k++) {
		if (!ug_limits_open(&lim->eff, k))
			continue;
		c->shown |= 1u << k;
		if (c->arr) {
			if (!open)
				open = json_object_new_array();
			json_object_array_add(open, json_object_new_string(ug_limit_name(k)));
		} else {
			size_t n = strlen(open_text);

			snprintf(open_text + n, sizeof(open_text) - n, "%s%s", n ? ", " : "",
				 ug_limit_name(k));
		}
	}
	if (!s->enforced)
		c->not_enforced++;
	/* Kept for a unit's next start is in force as far as it can be. */
	if (!s->state || (strcmp(s->state, "enforced") && strcmp(s->state, "waiting")))
		c->not_in_force++;
	if (!c->arr) {
		char gen[16], eg[24], in[24], *under = NULL;
		const char *cells[] = { esc(&e, s->target), esc(&e, s->mode) ?: "-",
					s->enforced ? "yes" : "NO", gen,
					s->programs ? "attached" : "-", eg, in,
					esc(&e, s->reason) };
		size_t len = 0;
		FILE *m;
		int err;

		snprintf(gen, sizeof(gen), "%u", s->generation);
		snprintf(eg, sizeof(eg), "%" PRIu64, (uint64_t)a[0].packets[UG_ACCT_DROPPED]);
		snprintf(in, sizeof(in), "%" PRIu64, (uint64_t)a[1].packets[UG_ACCT_DROPPED]);
		/* Where it is and what it leaves open, under its row. */
		m = open_memstream(&under, &len);
		if (!m) {
			esc_free(&e);
			return -ENOMEM;
		}
		if (s->cgroup)
			fprintf(m, "    cgroup %s (id %" PRIu64 ")%s%s\n", esc(&e, s->cgroup),
				s->cgroup_id, s->programs ? ", programs: " : "",
				esc(&e, s->programs) ?: "");
		if (open_text[0])
			fprintf(m, "    open: %s\n", open_text);
		err = fclose(m) ? -ENOMEM : table_row(&c->tab, cells, len ? under : NULL);
		free(under);
		esc_free(&e);
		return err;
	}
	o = json_object_new_object();
	json_add_str(o, "target", s->target);
	json_add_str(o, "cgroup", s->cgroup);
	json_object_object_add(o, "cgroup_id", s->cgroup_id ? json_object_new_uint64(s->cgroup_id) : NULL);
	json_add_str(o, "mode", s->mode);
	json_object_object_add(o, "generation", json_object_new_int64(s->generation));
	json_add_str(o, "programs", s->programs);
	json_object_object_add(o, "enforced", json_object_new_boolean(s->enforced));
	json_add_str(o, "reason", s->reason);
	if (live) {
		json_object_object_add(o, "egress", acct_json(&a[0]));
		json_object_object_add(o, "ingress", acct_json(&a[1]));
	}
	json_add_str(o, "updated_at", s->updated_at);
	json_object_object_add(o, "open", open ? open : json_object_new_array());
	return json_object_array_add(c->arr, o) ? -ENOMEM : 0;
}

static const char *const status_cols[] = { "TARGET",   "MODE",       "ENF",        "GEN",
					   "PROGRAMS", "EG_DROPPED", "IN_DROPPED", "NOTE" };

static int status(int argc, char **argv)
{
	char pid[32] = "0", beat[32] = "0", gen[32] = "0", lsm[256] = "unknown", maps[160] = "";
	char cgroups[320] = "";
	struct status_ctx c = {};
	json_object *top = NULL;
	struct ug_store *st;
	struct sub_opts o;
	bool running;
	double age;
	int err;

	err = parse_sub(argc, argv, OPT_JSON, &o);
	if (err)
		return err;
	if (optind != argc)
		return bad("status: unexpected argument '%s'", argv[optind]);
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	ug_store_agent_get(st, "heartbeat_us", beat, sizeof(beat));
	ug_store_agent_get(st, "generation", gen, sizeof(gen));
	ug_store_agent_get(st, "lsm", lsm, sizeof(lsm));
	ug_store_agent_get(st, "maps", maps, sizeof(maps));
	ug_store_agent_get(st, "cgroups", cgroups, sizeof(cgroups));
	/* Running means holding the store's lock, which the kernel drops when
	 * the agent dies; the heartbeat is only shown (a clock step or a forged
	 * row can put it anywhere, so it is read as a double, never overflowing). */
	snprintf(pid, sizeof(pid), "%d", (int)agent_pid());
	running = atoi(pid) > 0;
	age = ((double)now_us() - (double)strtoll(beat, NULL, 10)) / 1e6;
	if (age < 0)
		age = 0;
	c.have_live = running && !live_open(st, &c.live);
	if (o.json) {
		top = json_object_new_object();
		c.arr = json_object_new_array();
		json_object_object_add(top, "agent_running", json_object_new_boolean(running));
		json_object_object_add(top, "agent_pid", json_object_new_int(atoi(pid)));
		json_object_object_add(top, "generation", json_object_new_int64(strtoll(gen, NULL, 10)));
		json_add_str(top, "lsm", lsm);
		json_add_str(top, "maps", maps[0] ? maps : NULL);
		json_add_str(top, "cgroups", cgroups[0] ? cgroups : NULL);
		json_object_object_add(top, "units", c.arr);
	} else {
		struct esc e = { 0 };

		if (running)
			printf("agent: running (pid %s, heartbeat %.1f s ago), generation %s\n", pid,
			       age, esc(&e, gen));
		else if (strtoll(beat, NULL, 10) <= 0)
			printf("agent: NOT RUNNING (never ran on this store)\n");
		else
			printf("agent: NOT RUNNING (last heartbeat %.0f s ago): pinned programs keep "
			       "enforcing the last policy; store changes are NOT applied\n", age);
		printf("network (cgroup BPF): available\nlsm: %s\n", esc(&e, lsm));
		if (maps[0])
			printf("maps (entries used/capacity): %s\n", esc(&e, maps));
		if (cgroups[0])
			printf("cgroups: %s\n", esc(&e, cgroups));
		esc_free(&e);
		putchar('\n');
		err = table_new(&c.tab, status_cols, ARRAY_SIZE(status_cols),
				1u << 3 | 1u << 5 | 1u << 6);
	}
	if (!err)
		err = lim_load(st, &c);
	if (!err)
		err = ug_store_status_list(st, status_row, &c);
	if (!err && !top)
		err = table_print(&c.tab);
	if (!err && c.shown) {
		json_object *lims = top ? json_object_new_object() : NULL;

		if (!top)
			printf("\nWays around these rules left open (README, \"What the rules do not "
			       "cover\"):\n");
		for (int k = 0; k < UG_LIMIT_MAX; k++) {
			if (!(c.shown & (1u << k)))
				continue;
			if (lims)
				json_object_object_add(lims, ug_limit_name(k),
						       json_object_new_string(ug_limit_text(k)));
			else
				printf("  %-15s %s\n", ug_limit_name(k), ug_limit_text(k));
		}
		if (top)
			json_object_object_add(top, "open", lims);
	}
	if (err)
		fprintf(stderr, "unitguardctl: status: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	else if (top)
		err = print_json(top);
	else if (c.not_enforced)
		printf("\n%d target(s) NOT enforced: see NOTE\n", c.not_enforced);
	lim_free(&c);
	json_object_put(top);
	if (c.tab.tb)
		table_free(&c.tab);
	if (c.have_live)
		live_close(&c.live);
	ug_store_close(st);
	/* Like systemctl is-active: scripts and monitors read the exit status. */
	return err ? 1 : !running || c.not_in_force ? EXIT_NOT_IN_FORCE : 0;
}

/* --- apply / export --------------------------------------------------------- */

/*
 * The whole file, at most UG_POLICY_FILE_MAX bytes: a bigger regular file is
 * refused before reading, a pipe after reading one byte more; a read error
 * (a directory: EISDIR) is an error, not an empty file.
 */
static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	size_t cap = UG_POLICY_FILE_MAX + 1, n = 0;
	struct stat sb;
	char *b;
	int err = 0;

	if (!f)
		return -errno;
	if (!fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) && sb.st_size > UG_POLICY_FILE_MAX)
		err = -EFBIG;
	b = err ? NULL : malloc(cap);
	if (!err && !b)
		err = -ENOMEM;
	while (!err) {
		size_t got = fread(b + n, 1, cap - n, f);

		n += got;
		if (ferror(f))
			err = errno ? -errno : -EIO;
		else if (n > UG_POLICY_FILE_MAX)
			err = -EFBIG;
		else if (!got || feof(f))
			break;
	}
	if (f != stdin)
		fclose(f);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * Does the file fit the kernel's maps? Counted as the agent will write it
 * (policy/need.h), where each target will be: a path target at its path, a
 * target the agent has placed where the status table says, a slice where
 * systemd puts slices; any other (a unit never seen running) with its own
 * rules only. Against the capacity and use the running agent reports
 * (status), or this build's capacities. Strict: the agent writes a unit's
 * new trie before it frees the old one, so the new policy must fit beside
 * what is in force now. Prints what it needs; EXIT_USAGE when it does not
 * fit.
 */
struct placed {
	char *target, *cgroup;
};

static int placed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct placed *)a)->target, ((const struct placed *)b)->target);
}

struct placed_list {
	struct placed *v;
	size_t n;
	int err;
};

static int collect_placed(const struct ug_store_status *s, void *ctx)
{
	struct placed_list *l = ctx;
	struct placed *p;

	if (!s->target || !s->cgroup)
		return 0;
	p = reallocarray(l->v, l->n + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->v = p;
	p[l->n].target = strdup(s->target);
	p[l->n].cgroup = strdup(s->cgroup);
	if (!p[l->n].target || !p[l->n].cgroup) {
		free(p[l->n].target);
		free(p[l->n].cgroup);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int check_fits(const struct ug_policy_file *pf, struct ug_store *st)
{
	struct ug_need_target *t = calloc(pf->n_units ?: 1, sizeof(*t));
	struct ug_rule *rules = calloc(pf->n_rules ?: 1, sizeof(*rules));
	char (*slices)[PATH_MAX] = calloc(pf->n_units ?: 1, sizeof(*slices));
	size_t lpm_used = 0, lpm_cap = UG_LPM_MAX, lists_used = 0, lists_cap = UG_LISTS_MAX;
	size_t units_used = 0, units_cap = UG_UNITS_MAX, bad_i = 0, r = 0, last = 0;
	struct placed_list pl = {};
	struct ug_need need;
	char maps[160] = "", why[256] = "";
	bool fits, reported = false;
	int err = -ENOMEM;

	if (!t || !rules || !slices)
		goto out;
	if (st) {
		if (ug_store_status_list(st, collect_placed, &pl) < 0)
			fprintf(stderr, "unitguardctl: cannot read where the agent placed the units: "
				"%s; counting them as not running\n", ug_store_errmsg(st));
		if (pl.n)
			qsort(pl.v, pl.n, sizeof(*pl.v), placed_cmp);
		if (!ug_store_agent_get(st, "maps", maps, sizeof(maps)) &&
		    sscanf(maps, "ug_lpm %zu/%zu, ug_lists %zu/%zu, ug_units %zu/%zu", &lpm_used,
			   &lpm_cap, &lists_used, &lists_cap, &units_used, &units_cap) == 6)
			reported = true;
	}
	/* The file lists each unit's rules together, in file order: ids as a
	 * fresh store would give them (what is shared depends only on which
	 * rules are the same rule). */
	for (size_t i = 0; i < pf->n_units; i++) {
		const struct ug_file_unit *u = &pf->units[i];
		struct placed key = { .target = u->target }, *p;

		t[i].deny_default = (u->default_egress && !strcmp(u->default_egress, "deny")) ||
				    (u->default_ingress && !strcmp(u->default_ingress, "deny"));
		if (u->target[0] == '/')
			t[i].path = u->target;
		else if (pl.n && (p = bsearch(&key, pl.v, pl.n, sizeof(*pl.v), placed_cmp)))
			t[i].path = p->cgroup;
		else if (!ug_slice_path(u->target, slices[i], sizeof(slices[i])))
			t[i].path = slices[i];
	}
	for (size_t k = 0; k < pf->n_rules; k++) {
		const struct ug_file_rule *fr = &pf->rules[k];
		const char *w = NULL;
		size_t i;

		if (ug_dir_parse(fr->direction) < 0)
			continue; /* exec, file, family: the LSM's maps */
		/* A unit's rules are together: most lookups are the last one. */
		i = last < pf->n_units && !strcmp(pf->units[last].target, fr->target) ? last : 0;
		for (; i < pf->n_units && strcmp(pf->units[i].target, fr->target); i++)
			;
		last = i;
		if (i == pf->n_units || ug_rule_parse((int64_t)k + 1, fr->direction, fr->action,
						      fr->prefix, fr->proto, fr->port_lo, fr->port_hi,
						      &rules[r], &w)) {
			fprintf(stderr, "unitguardctl: apply: rule %zu: %s\n", k + 1,
				w ? w : "not a network rule of a unit in the file");
			err = -EINVAL;
			goto out;
		}
		if (!t[i].rules)
			t[i].rules = &rules[r];
		t[i].n_rules++;
		r++;
	}
	err = ug_need_net(t, pf->n_units, &need, &bad_i, why, sizeof(why));
	if (err == -ENOMEM)
		goto out;
	if (err) {
		fprintf(stderr, "unitguardctl: apply: %s: %s (nothing changed)\n",
			pf->units[bad_i].target, why);
		goto out;
	}
	fits = need.entries + lpm_used <= lpm_cap && need.lists + lists_used <= lists_cap &&
	       need.groups <= units_cap;
	fprintf(fits ? stdout : stderr,
		"%s%zu policy cgroups with network policy (ug_units holds %zu), %zu distinct tries "
		"with %zu entries in all (ug_lpm: %zu in use of %zu%s), %zu match lists (ug_lists: "
		"%zu in use of %zu)%s\n",
		fits ? "needs " : "unitguardctl: apply: does not fit, nothing changed: needs ",
		need.groups, units_cap, need.tries, need.entries, lpm_used, lpm_cap,
		reported ? ", as the agent reports" : "; no agent has reported its maps",
		need.lists, lists_used, lists_cap,
		fits ? "" : "; the agent writes a unit's new trie before it frees the old one, "
			    "so a new policy must fit beside the one in force");
	err = fits ? 0 : -ENOSPC;
out:
	if (err == -ENOMEM)
		fprintf(stderr, "unitguardctl: apply: out of memory\n");
	for (size_t i = 0; i < pl.n; i++) {
		free(pl.v[i].target);
		free(pl.v[i].cgroup);
	}
	free(pl.v);
	free(t);
	free(rules);
	free(slices);
	return err;
}

/* apply: how many changes of each kind. */
struct change_count {
	size_t n[UG_CHANGE_RULE_COMMENT + 1];
	size_t units_set; /* units kept whose settings changed, each once */
	char last[PATH_MAX];
};

static int count_change(const struct ug_store_change *c, void *ctx)
{
	struct change_count *cc = ctx;

	cc->n[c->kind]++;
	/* Changes come ordered by target; old_value NULL: a new unit's settings. */
	if (c->kind == UG_CHANGE_UNIT_SET && c->old_value && strcmp(cc->last, c->target)) {
		cc->units_set++;
		snprintf(cc->last, sizeof(cc->last), "%s", c->target);
	}
	return 0;
}

/* The file's units and rules as the store takes them (pointing into pf). */
static int file_specs(const struct ug_policy_file *pf, struct ug_store_unit **units,
		      struct ug_store_rule_spec **rules)
{
	*units = calloc(pf->n_units ?: 1, sizeof(**units));
	*rules = calloc(pf->n_rules ?: 1, sizeof(**rules));
	if (!*units || !*rules) {
		free(*units);
		free(*rules);
		*units = NULL;
		*rules = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < pf->n_units; i++)
		(*units)[i] = (struct ug_store_unit){
			.target = pf->units[i].target,
			.mode = pf->units[i].mode,
			.default_egress = pf->units[i].default_egress,
			.default_ingress = pf->units[i].default_ingress,
			.harden = pf->units[i].harden,
		};
	for (size_t i = 0; i < pf->n_rules; i++)
		(*rules)[i] = (struct ug_store_rule_spec){
			.target = pf->rules[i].target,
			.direction = pf->rules[i].direction,
			.action = pf->rules[i].action,
			.prefix = pf->rules[i].prefix,
			.access = pf->rules[i].access,
			.proto = pf->rules[i].proto,
			.port_lo = pf->rules[i].port_lo,
			.port_hi = pf->rules[i].port_hi,
			.comment = pf->rules[i].comment,
		};
	return 0;
}

/* A rule as `rule add` takes it (after the target), escaped. */
static void print_rule_words(struct esc *e, const struct ug_store_rule_spec *r)
{
	char ports[16];

	printf("%s %s %s %s", esc(e, r->target), esc(e, r->direction), esc(e, r->action),
	       esc(e, r->prefix));
	if (r->proto)
		printf(" --proto %s", esc(e, r->proto));
	if (r->port_lo) {
		ports_text(r->port_lo, r->port_hi, ports, sizeof(ports));
		printf(" --port %s", ports);
	}
	if (r->access)
		printf(" --access %s", esc(e, r->access));
}

/* apply --diff: one line per change; "+" added, "-" deleted, "~" changed. */
static int print_change(const struct ug_store_change *c, void *ctx)
{
	const char *old = c->old_value, *new = c->new_value;
	struct esc e = { 0 };

	switch (c->kind) {
	case UG_CHANGE_UNIT_ADD:
		printf("+ unit %s\n", esc(&e, c->target));
		break;
	case UG_CHANGE_UNIT_DEL:
		printf("- unit %s\n", esc(&e, c->target));
		break;
	case UG_CHANGE_UNIT_SET:
		/* harden "" is no switch at all. */
		if (old && !old[0])
			old = "none";
		if (!new[0])
			new = "none";
		if (old)
			printf("~ unit %s: %s %s -> %s\n", esc(&e, c->target), c->field,
			       esc(&e, old), esc(&e, new));
		else
			printf("+ unit %s: %s %s\n", esc(&e, c->target), c->field, esc(&e, new));
		break;
	case UG_CHANGE_RULE_ADD:
	case UG_CHANGE_RULE_DEL:
		if (c->kind == UG_CHANGE_RULE_ADD)
			printf("+ rule ");
		else
			printf("- rule %" PRId64 " ", c->rule_id);
		print_rule_words(&e, c->rule);
		if (c->rule->comment)
			printf(" --comment \"%s\"", esc(&e, c->rule->comment));
		putchar('\n');
		break;
	case UG_CHANGE_RULE_COMMENT:
		printf("~ rule %" PRId64 " ", c->rule_id);
		print_rule_words(&e, c->rule);
		printf(": comment %s%s%s -> %s%s%s\n", old ? "\"" : "", old ? esc(&e, old) : "none",
		       old ? "\"" : "", new ? "\"" : "", new ? esc(&e, new) : "none",
		       new ? "\"" : "");
		break;
	}
	esc_free(&e);
	return 0;
}

/*
 * apply --diff FILE: what apply would change, nothing written. Exit status as diff(1)'s:
 * 0 no difference, 1 differences, 2 trouble (bad input, a store that cannot be read). No
 * store yet: everything in the file is new.
 */
static int apply_diff(const struct ug_policy_file *pf)
{
	struct ug_store_rule_spec *rules;
	struct ug_store_unit *units;
	struct ug_store *st = NULL;
	char errbuf[256];
	size_t n = 0;
	int err;

	err = ug_store_open(db_path, UG_STORE_READONLY, &st, errbuf, sizeof(errbuf));
	if (err && err != -ENOENT) {
		fprintf(stderr, "unitguardctl: cannot open the store %s: %s\n", db_path, errbuf);
		return EXIT_USAGE;
	}
	err = file_specs(pf, &units, &rules);
	if (!err)
		err = ug_store_replace_changes(st, units, pf->n_units, rules, pf->n_rules,
					       UG_REPLACE_DRY_RUN, print_change, NULL, &n);
	if (err)
		fprintf(stderr, "unitguardctl: apply --diff: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	free(units);
	free(rules);
	ug_store_close(st);
	return err ? EXIT_USAGE : n ? 1 : 0;
}

static int apply(int argc, char **argv)
{
	struct ug_store_rule_spec *rules = NULL;
	struct ug_store_unit *units = NULL;
	struct change_count cc = { 0 };
	struct ug_policy_file pf = {};
	char err_text[512], *buf = NULL;
	size_t len = 0, n_changes = 0;
	struct ug_store *st;
	struct sub_opts o;
	int err;

	err = parse_sub(argc, argv, OPT_WAIT | OPT_CHECK, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc != 1)
		return bad("apply: expected one FILE (or - for standard input)");
	if (o.check && o.diff)
		return bad("apply: --check and --diff exclude each other");
	err = read_file(argv[0], &buf, &len);
	if (err)
		return bad("apply: cannot read %s: %s", argv[0], strerror(-err));
	err = ug_policy_file_parse(buf, len, &pf, err_text, sizeof(err_text));
	free(buf);
	if (err)
		return bad("invalid FILE %s: %s", argv[0], err_text);
	if (o.diff) {
		err = apply_diff(&pf);
		ug_policy_file_free(&pf);
		return err;
	}

	/* --check reads an existing store (where units are, what is in use);
	 * apply creates it. */
	if (o.check) {
		char errbuf[256];

		err = ug_store_open(db_path, UG_STORE_READONLY, &st, errbuf, sizeof(errbuf));
		if (err == -ENOENT) {
			st = NULL;
		} else if (err) {
			fprintf(stderr, "unitguardctl: cannot open the store %s: %s\n", db_path,
				errbuf);
			ug_policy_file_free(&pf);
			return 1;
		}
	} else if (open_store(UG_STORE_CREATE, &st)) {
		ug_policy_file_free(&pf);
		return 1;
	}
	err = check_fits(&pf, st);
	if (err || o.check) {
		if (!err)
			printf("%s fits: %zu units, %zu rules (--check: nothing written)\n", argv[0],
			       pf.n_units, pf.n_rules);
		if (st)
			ug_store_close(st);
		ug_policy_file_free(&pf);
		return err == -ENOMEM ? 1 : err ? EXIT_USAGE : 0;
	}

	err = file_specs(&pf, &units, &rules);
	if (!err)
		err = ug_store_replace_changes(st, units, pf.n_units, rules, pf.n_rules, 0,
					       count_change, &cc, &n_changes);
	if (err == -ENOMEM) {
		fprintf(stderr, "unitguardctl: apply: %s (nothing changed)\n", strerror(ENOMEM));
	} else if (err) {
		fprintf(stderr, "unitguardctl: apply: %s (nothing changed)\n", ug_store_errmsg(st));
	} else {
		const char **targets = calloc(pf.n_units ?: 1, sizeof(*targets));

		if (!n_changes) {
			printf("unchanged: the store holds this policy already (%zu units, %zu "
			       "rules); nothing written\n", pf.n_units, pf.n_rules);
			written = "the store holds this policy already";
		} else {
			printf("applied %zu units, %zu rules: rules %zu added, %zu deleted, %zu "
			       "kept with their ids (%zu comments changed); units %zu added, %zu "
			       "deleted, %zu with settings changed\n", pf.n_units, pf.n_rules,
			       cc.n[UG_CHANGE_RULE_ADD], cc.n[UG_CHANGE_RULE_DEL],
			       pf.n_rules - cc.n[UG_CHANGE_RULE_ADD], cc.n[UG_CHANGE_RULE_COMMENT],
			       cc.n[UG_CHANGE_UNIT_ADD], cc.n[UG_CHANGE_UNIT_DEL], cc.units_set);
		}
		fflush(stdout);
		for (size_t i = 0; targets && i < pf.n_units; i++)
			targets[i] = pf.units[i].target;
		err = in_force(st, targets, targets ? pf.n_units : 0);
		free(targets);
		if (err) {
			ug_store_close(st);
			free(units);
			free(rules);
			ug_policy_file_free(&pf);
			return err;
		}
	}
	ug_store_close(st);
	free(units);
	free(rules);
	ug_policy_file_free(&pf);
	return err ? 1 : 0;
}

struct export_ctx {
	struct ug_policy_file pf;
	int err;
};

static char *dup_or_null(const char *s, int *err)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

static int export_unit(const struct ug_store_unit *u, void *ctx)
{
	struct export_ctx *c = ctx;
	struct ug_file_unit *fu = reallocarray(c->pf.units, c->pf.n_units + 1, sizeof(*fu));

	if (!fu)
		return -ENOMEM;
	c->pf.units = fu;
	fu = &c->pf.units[c->pf.n_units++];
	memset(fu, 0, sizeof(*fu));
	fu->target = dup_or_null(u->target, &c->err);
	fu->mode = dup_or_null(u->mode, &c->err);
	fu->default_egress = dup_or_null(u->default_egress, &c->err);
	fu->default_ingress = dup_or_null(u->default_ingress, &c->err);
	fu->harden = u->harden && u->harden[0] ? dup_or_null(u->harden, &c->err) : NULL;
	return c->err;
}

static int export_rule(const struct ug_store_rule *r, void *ctx)
{
	struct export_ctx *c = ctx;
	struct ug_file_rule *fr = reallocarray(c->pf.rules, c->pf.n_rules + 1, sizeof(*fr));

	if (!fr)
		return -ENOMEM;
	c->pf.rules = fr;
	fr = &c->pf.rules[c->pf.n_rules++];
	memset(fr, 0, sizeof(*fr));
	fr->target = dup_or_null(r->target, &c->err);
	fr->direction = dup_or_null(r->direction, &c->err);
	fr->action = dup_or_null(r->action, &c->err);
	fr->prefix = dup_or_null(r->prefix, &c->err);
	fr->access = dup_or_null(r->access, &c->err);
	fr->proto = dup_or_null(r->proto, &c->err);
	fr->port_lo = r->port_lo;
	fr->port_hi = r->port_hi;
	fr->comment = dup_or_null(r->comment, &c->err);
	return c->err;
}

static int export(int argc, char **argv)
{
	struct export_ctx c = {};
	char err_text[512], *out = NULL, tmp[4096];
	struct ug_store *st;
	struct sub_opts o;
	size_t len = 0;
	int err;
	FILE *f;

	err = parse_sub(argc, argv, 0, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc > 1)
		return bad("export: expected at most one FILE");
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	err = ug_store_units(st, export_unit, &c);
	if (!err)
		err = ug_store_rules(st, NULL, export_rule, &c);
	if (err) {
		fprintf(stderr, "unitguardctl: export: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
		goto out;
	}
	err = ug_policy_file_emit(&c.pf, &out, &len, err_text, sizeof(err_text));
	if (err) {
		fprintf(stderr, "unitguardctl: export: %s\n", err_text);
		goto out;
	}
	if (argc == 0 || !strcmp(argv[0], "-")) {
		err = fwrite(out, 1, len, stdout) == len ? 0 : -EIO;
		goto out;
	}
	/* Write beside the target and rename: never a half-written file. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", argv[0], getpid()) >= sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	f = fopen(tmp, "wex");
	if (!f || fwrite(out, 1, len, f) != len || fflush(f) || fsync(fileno(f))) {
		err = -errno ?: -EIO;
		if (f)
			fclose(f);
		unlink(tmp);
		fprintf(stderr, "unitguardctl: export: cannot write %s: %s\n", argv[0],
			strerror(-err));
		goto out;
	}
	fclose(f);
	if (rename(tmp, argv[0])) {
		err = -errno;
		unlink(tmp);
		fprintf(stderr, "unitguardctl: export: cannot write %s: %s\n", argv[0],
			strerror(-err));
	}
out:
	free(out);
	ug_policy_file_free(&c.pf);
	ug_store_close(st);
	return err ? 1 : 0;
}

/* --- explain, show: the effective policy ------------------------------------------ */

/*
 * A target as the agent sees it: its own settings and rules, validated as the agent
 * validates them (policy/effective.c), and the cgroup its last status row placed it at.
 */
struct eff_node {
	char *name;
	char *path;  /* the status row's cgroup; NULL: not placed (never, or not running) */
	char *state; /* the status row's state; NULL: no row */
	struct ug_settings own;
	bool bad;    /* invalid settings: the agent enforces the defaults */
	struct ug_rule *rules;
	size_t n_rules;
	struct ug_path_rule *paths;
	size_t n_paths;
	uint32_t family_rule[64];
	unsigned invalid;
};

struct eff_comment {
	int64_t id;
	char *text;
};

/* One target's effective policy, built the way agent/pass.c builds it. */
struct eff {
	struct ug_store *st;
	struct eff_node *v;
	size_t n;
	struct eff_comment *c;
	size_t n_c;
	struct ug_settings *own; /* v[k].own, for policy/inherit.c */
	struct ug_inherit h;
	size_t self;
	size_t *chain; /* its policy cgroups, nearest first (ug_inherit_chain) */
	uint8_t *depth;
	size_t n_chain;
	struct ug_settings e; /* effective settings */
	bool net, lsm;        /* it has network / exec-file policy */
	struct ug_rule *rules;
	size_t n_rules, *origin;
	struct ug_path_rule *paths;
	size_t n_paths, *porigin;
	struct ug_lpm_entry *ent;
	size_t n_ent;
	struct ug_path_entry *pent;
	size_t n_pent;
	int err;
};

static void eff_free(struct eff *f)
{
	for (size_t k = 0; k < f->n; k++) {
		free(f->v[k].name);
		free(f->v[k].path);
		free(f->v[k].state);
		free(f->v[k].rules);
		free(f->v[k].paths);
	}
	for (size_t k = 0; k < f->n_c; k++)
		free(f->c[k].text);
	free(f->v);
	free(f->c);
	free(f->own);
	ug_inherit_free(&f->h);
	free(f->chain);
	free(f->depth);
	free(f->rules);
	free(f->origin);
	free(f->paths);
	free(f->porigin);
	free(f->ent);
	free(f->pent);
	ug_store_close(f->st);
}

/* Append one element of size to *v (n of them), zeroed; NULL when out of memory. */
static void *grow(void *v, size_t *n, size_t size)
{
	char *p = realloc(*(void **)v, (*n + 1) * size);

	if (!p)
		return NULL;
	*(void **)v = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

struct eff_load {
	struct eff *f;
	struct eff_node *t;
};

/* A rule row, as agent/targets.c takes it: a row that does not parse is not enforced. */
static int eff_rule(const struct ug_store_rule *r, void *ctx)
{
	struct eff_load *l = ctx;
	struct eff_node *t = l->t;
	struct eff_comment *c;
	int family;

	if (r->comment) {
		c = grow(&l->f->c, &l->f->n_c, sizeof(*c));
		if (!c || !(c->text = strdup(r->comment)))
			return -ENOMEM;
		c->id = r->id;
	}
	if (!r->direction) {
		t->invalid++;
	} else if (!strcmp(r->direction, "family")) {
		family = r->prefix ? ug_family_parse(r->prefix) : -EINVAL;
		if (family < 0 || family >= 64 || r->id <= 0 || r->id > UINT32_MAX || !r->action ||
		    ug_action_parse(r->action) != UG_ACT_DENY) {
			t->invalid++;
			return 0;
		}
		t->own.families |= 1ULL << family;
		if (!t->family_rule[family] || r->id < t->family_rule[family])
			t->family_rule[family] = (uint32_t)r->id;
	} else if (!strcmp(r->direction, "exec") || !strcmp(r->direction, "file")) {
		struct ug_path_rule pr;

		if (ug_path_rule_parse(r->id, r->direction, r->action, r->prefix, r->access, &pr,
				       NULL)) {
			t->invalid++;
			return 0;
		}
		if (!grow(&t->paths, &t->n_paths, sizeof(pr)))
			return -ENOMEM;
		t->paths[t->n_paths - 1] = pr;
	} else {
		struct ug_rule nr;

		if (ug_rule_parse(r->id, r->direction, r->action, r->prefix, r->proto, r->port_lo,
				  r->port_hi, &nr, NULL)) {
			t->invalid++;
			return 0;
		}
		if (!grow(&t->rules, &t->n_rules, sizeof(nr)))
			return -ENOMEM;
		t->rules[t->n_rules - 1] = nr;
	}
	return 0;
}

static int eff_unit(const struct ug_store_unit *u, void *ctx)
{
	struct eff *f = ctx;
	struct eff_load l = { .f = f };
	int err;

	if (!u->target || ug_target_parse(u->target, NULL) < 0)
		return 0; /* the agent refuses it too */
	l.t = grow(&f->v, &f->n, sizeof(*l.t));
	if (!l.t || !(l.t->name = strdup(u->target)))
		return -ENOMEM;
	l.t->bad = ug_settings_parse(u->mode, u->default_egress, u->default_ingress, u->harden,
				     &l.t->own, NULL) < 0;
	err = ug_store_unit_rules(f->st, u->id, eff_rule, &l);
	l.t->own.net_rules = l.t->n_rules > 0;
	l.t->own.lsm_rules = l.t->n_paths > 0;
	return err;
}

static int eff_status(const struct ug_store_status *s, void *ctx)
{
	struct eff *f = ctx;

	for (size_t k = 0; k < f->n; k++) {
		if (strcmp(f->v[k].name, s->target))
			continue;
		free(f->v[k].path);
		free(f->v[k].state);
		f->v[k].path = s->cgroup ? strdup(s->cgroup) : NULL;
		f->v[k].state = s->state ? strdup(s->state) : NULL;
		if ((s->cgroup && !f->v[k].path) || (s->state && !f->v[k].state))
			return -ENOMEM;
	}
	return 0;
}

static int eff_own_rules(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	const struct eff *f = ctx;

	*rules = lsm ? (const void *)f->v[j].paths : (const void *)f->v[j].rules;
	*n = lsm ? f->v[j].n_paths : f->v[j].n_rules;
	return 0;
}

/*
 * Read the store and build target's effective policy: what the agent's pass builds
 * (policy/inherit.c, ug_effective_rules) and compiles (ug_compile, ug_path_compile).
 * Returns 0, or an exit status with the reason printed.
 */
static ssize_t eff_governing(const struct eff *f, bool lsm)
{
	for (ssize_t a = (ssize_t)f->self; a >= 0; a = f->h.parent[a])
		if (ug_inherit_has_side(&f->h, f->own, (size_t)a, lsm))
			return a;
	return -1;
}

static int eff_load(struct eff *f, const char *cmd, const char *target)
{
	const char **paths = NULL;
	char cerr[256] = "";
	bool found = false;
	int err;

	memset(f, 0, sizeof(*f));
	if (open_store(UG_STORE_READONLY, &f->st))
		return 1;
	err = ug_store_units(f->st, eff_unit, f);
	if (!err)
		err = ug_store_status_list(f->st, eff_status, f);
	if (err) {
		fprintf(stderr, "unitguardctl: %s: %s\n", cmd,
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(f->st));
		return 1;
	}
	for (size_t k = 0; k < f->n && !found; k++)
		if (!strcmp(f->v[k].name, target))
			found = true, f->self = k;
	if (!found) {
		fprintf(stderr, "unitguardctl: %s: no unit '%s' in the store\n", cmd, target);
		return EXIT_USAGE;
	}
	paths = calloc(f->n, sizeof(*paths));
	f->own = calloc(f->n, sizeof(*f->own));
	f->chain = calloc(f->n, sizeof(*f->chain));
	f->depth = calloc(f->n, sizeof(*f->depth));
	err = paths && f->own && f->chain && f->depth ? 0 : -ENOMEM;
	for (size_t k = 0; !err && k < f->n; k++) {
		paths[k] = f->v[k].path;
		f->own[k] = f->v[k].own;
	}
	if (!err)
		err = ug_inherit_build(paths, f->n, &f->h);
	free(paths);
	if (!err) {
		ssize_t n = ug_inherit_chain(&f->h, f->self, f->chain, f->depth, f->n);

		err = n < 0 ? (int)n : 0;
		f->n_chain = n < 0 ? 0 : (size_t)n;
	}
	/* Each side is judged by the nearest policy cgroup of that side at or
	 * above the target (the kernel's walk): a target without policy of its
	 * own (or in mode off) by its ancestor's. */
	if (!err) {
		ssize_t gn = eff_governing(f, false), gl = eff_governing(f, true);
		struct ug_settings e;

		f->net = gn >= 0;
		f->lsm = gl >= 0;
		ug_inherit_effective(&f->h, f->own, gn >= 0 ? (size_t)gn : f->self, &f->e);
		ug_inherit_effective(&f->h, f->own, gl >= 0 ? (size_t)gl : f->self, &e);
		f->e.lsm_mode = e.lsm_mode;
		f->e.harden = e.harden;
		f->e.harden_audit = e.harden_audit;
		f->e.families = e.families;
		f->e.families_audit = e.families_audit;
		if (gn >= 0)
			err = ug_effective_rules(&f->h, f->own, gn, false, eff_own_rules, f,
						 (void **)&f->rules, &f->n_rules, &f->origin);
		if (!err && gl >= 0)
			err = ug_effective_rules(&f->h, f->own, gl, true, eff_own_rules, f,
						 (void **)&f->paths, &f->n_paths, &f->porigin);
	}
	if (err) {
		fprintf(stderr, "unitguardctl: %s: %s\n", cmd, strerror(-err));
		return 1;
	}
	/* The compiler the agent uses: a policy it refuses is not in force (the agent keeps
	 * the previous one), and there is nothing to explain from it. */
	err = ug_compile(f->rules, f->n_rules, 1, &f->ent, &f->n_ent, cerr, sizeof(cerr));
	if (!err)
		err = ug_path_compile(f->paths, f->n_paths, 1, &f->pent, &f->n_pent, cerr,
				      sizeof(cerr));
	if (err) {
		struct esc e = { 0 };

		fprintf(stderr, "unitguardctl: %s: the policy of '%s' does not compile (%s): the "
			"agent refuses it and keeps what it had in force\n", cmd,
			esc(&e, target), esc(&e, cerr[0] ? cerr : strerror(-err)));
		esc_free(&e);
		return 1;
	}
	return 0;
}

static const char *eff_comment(const struct eff *f, int64_t id)
{
	for (size_t k = 0; k < f->n_c; k++)
		if (f->c[k].id == id)
			return f->c[k].text;
	return NULL;
}

/* Depth of node j in the target's chain; -1 when it is not one of its policy cgroups. */
static int eff_depth(const struct eff *f, size_t j)
{
	for (size_t k = 0; k < f->n_chain; k++)
		if (f->chain[k] == j)
			return f->depth[k];
	return -1;
}

static const char *eff_relation(const struct eff *f, size_t j)
{
	return j == f->self ? "self" : eff_depth(f, j) == 0 ? "alias" : "ancestor";
}

/* Where a rule or setting comes from, in words (escaped into e). */
static void eff_from_text(const struct eff *f, size_t j, struct esc *e, char *buf, size_t len)
{
	const struct eff_node *t = &f->v[j];
	int d = eff_depth(f, j);

	if (j == f->self)
		snprintf(buf, len, "%s itself", esc(e, t->name));
	else if (d == 0)
		snprintf(buf, len, "%s (an alias: the same cgroup)", esc(e, t->name));
	else
		snprintf(buf, len, "%s (policy ancestor %d, at %s)", esc(e, t->name), d,
			 esc(e, t->path ?: "?"));
}

static json_object *eff_from_json(const struct eff *f, size_t j)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_add_str(o, "target", f->v[j].name);
	json_add_str(o, "relation", eff_relation(f, j));
	json_object_object_add(o, "depth", json_object_new_int(eff_depth(f, j)));
	json_add_str(o, "cgroup", f->v[j].path);
	return o;
}

/* The nearest of the target's policy cgroups whose own settings satisfy pred; -1: none. */
static ssize_t eff_setter(const struct eff *f, bool (*pred)(const struct ug_settings *, uint64_t),
			  uint64_t arg)
{
	for (size_t k = 0; k < f->n_chain; k++)
		if (pred(&f->v[f->chain[k]].own, arg))
			return (ssize_t)f->chain[k];
	return -1;
}

static bool sets_mode(const struct ug_settings *s, uint64_t mode)
{
	return s->mode == mode;
}

static bool sets_deny(const struct ug_settings *s, uint64_t dir)
{
	return s->deny_default & (1u << dir);
}

static bool sets_harden(const struct ug_settings *s, uint64_t bit)
{
	return s->harden & bit;
}

static bool sets_family(const struct ug_settings *s, uint64_t family)
{
	return s->families & (1ULL << family);
}

/* A notes array (JSON) or lines "note: ..." (text), escaped. */
static void eff_note(json_object *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void eff_note(json_object *notes, const char *fmt, ...)
{
	char buf[600];
	struct esc e = { 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (notes)
		json_object_array_add(notes, json_object_new_string(buf));
	else
		printf("note: %s\n", esc(&e, buf));
	esc_free(&e);
}

/* What is said of every explanation: placement, state, rows the agent refuses. */
static void eff_notes(const struct eff *f, json_object *notes)
{
	const struct eff_node *t = &f->v[f->self];

	if (!t->path)
		eff_note(notes, "%s has no cgroup in the agent's status (%s): its slices and other "
			 "policy cgroups above it were not considered, only its own policy",
			 t->name, t->state ? "not running" : "the agent never placed it");
	if (t->state && strcmp(t->state, "enforced"))
		eff_note(notes, "the agent's status of %s is '%s' (see unitguardctl status): this "
			 "is the policy in the store, not necessarily the one in force", t->name,
			 t->state);
	for (size_t k = 0; k < f->n_chain; k++) {
		const struct eff_node *a = &f->v[f->chain[k]];

		if (a->invalid)
			eff_note(notes, "%s has %u invalid rules in the store: the agent does not "
				 "enforce them, and they are not considered here", a->name,
				 a->invalid);
		if (a->bad)
			eff_note(notes, "%s has invalid settings in the store: the agent enforces "
				 "the defaults (enforce, allow) for it", a->name);
	}
}

/* A network rule as JSON: its fields, comment and origin. */
static json_object *eff_rule_json(const struct eff *f, size_t k)
{
	const struct ug_rule *r = &f->rules[k];
	json_object *o = json_object_new_object();
	char prefix[UG_PREFIX_STRLEN];

	if (!o)
		return NULL;
	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_add_str(o, "direction", ug_dir_name(r->dir));
	json_add_str(o, "action", ug_action_name(r->action));
	json_add_str(o, "prefix", prefix);
	json_add_str(o, "proto", r->proto ? ug_proto_name(r->proto) : NULL);
	json_object_object_add(o, "port_lo", r->has_ports ? json_object_new_int(r->port_lo) : NULL);
	json_object_object_add(o, "port_hi", r->has_ports ? json_object_new_int(r->port_hi) : NULL);
	json_add_str(o, "comment", eff_comment(f, r->id));
	json_object_object_add(o, "from", eff_from_json(f, f->origin[k]));
	return o;
}

/* "deny egress 10.0.0.0/8 tcp port 22", escaped where it comes from the store. */
static void eff_rule_text(const struct ug_rule *r, char *buf, size_t len)
{
	char prefix[UG_PREFIX_STRLEN], ports[16];

	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	ports_text(r->has_ports ? r->port_lo : 0, r->port_hi, ports, sizeof(ports));
	snprintf(buf, len, "%s %s %s proto %s port %s", ug_action_name(r->action),
		 ug_dir_name(r->dir), prefix, r->proto ? ug_proto_name(r->proto) : "any", ports);
}

static ssize_t eff_find_rule(const struct eff *f, uint32_t id)
{
	for (size_t k = 0; k < f->n_rules; k++)
		if (f->rules[k].id == id)
			return (ssize_t)k;
	return -1;
}

static ssize_t eff_find_path(const struct eff *f, uint32_t id)
{
	for (size_t k = 0; k < f->n_paths; k++)
		if (f->paths[k].id == id)
			return (ssize_t)k;
	return -1;
}

/*
 * The verdict words: what the operation meets once the mode is applied. denied: the
 * caller gets EPERM.
 */
/* mode: the side's (audit when all of its rules come from cgroups in audit
 * mode); action: what the rules say (deny, audit, allow). */
static const char *eff_verdict(bool side, uint8_t mode, uint8_t action, bool *denied)
{
	*denied = false;
	if (!side || action == UG_ACT_ALLOW)
		return "allow";
	if (action == UG_ACT_AUDIT || mode == UG_MODE_AUDIT)
		return "allowed, audited";
	*denied = true;
	return "deny";
}

/* An LPM entry's prefix as a rule spells it (IPv4 for the v4-mapped range). */
static const char *entry_text(const struct ug_lpm_entry *en, char *buf, size_t len)
{
	struct ug_prefix p = { .family = AF_INET6 };
	unsigned int bits = en->key.prefixlen - UG_LPM_HDR_BITS;

	if (bits >= 96 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)en->key.addr)) {
		p.family = AF_INET;
		p.len = (uint8_t)(bits - 96);
		memcpy(p.addr, en->key.addr + 12, 4);
	} else {
		p.len = (uint8_t)bits;
		memcpy(p.addr, en->key.addr, 16);
	}
	if (ug_prefix_format(&p, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

struct explain_q {
	const char *target, *what;
	bool path;
	struct ug_net_op op;
	uint8_t kind, access;
	char canon[UG_PATH_MAX];
};

/* explain TARGET PATH: an exec (the default) or an open for reading, writing or both. */
static int explain_parse_path(struct explain_q *q, const struct sub_opts *o)
{
	const char *why = NULL;

	if (o->dir || o->proto || o->port)
		return bad("explain: --dir, --proto and --port are for an ADDRESS, not a PATH");
	if (ug_path_parse(q->what, q->canon, sizeof(q->canon), &why))
		return bad("explain: invalid PATH '%s': %s", q->what, why ? why : "?");
	q->path = true;
	q->kind = UG_PATH_FILE;
	if (!o->access || !strcmp(o->access, "exec"))
		q->kind = UG_PATH_EXEC;
	else if (!strcmp(o->access, "read"))
		q->access = UG_ACCESS_READ;
	else if (!strcmp(o->access, "write"))
		q->access = UG_ACCESS_WRITE;
	else if (!strcmp(o->access, "any"))
		q->access = UG_ACCESS_READ | UG_ACCESS_WRITE;
	else
		return bad("explain: invalid --access '%s': expected exec, read, write or any",
			   o->access);
	return 0;
}

/* explain TARGET ADDRESS: the operation as net.bpf.c sees it. */
static int explain_parse_addr(struct explain_q *q, const struct sub_opts *o)
{
	int proto = o->proto ? ug_proto_parse(o->proto) : IPPROTO_TCP;
	int dir = o->dir ? ug_dir_parse(o->dir) : UG_DIR_EGRESS;
	const char *why = NULL;
	uint16_t lo = 0, hi = 0;
	struct ug_prefix p;

	if (o->access)
		return bad("explain: --access is for a PATH, not an ADDRESS");
	if (ug_prefix_parse(q->what, &p, &why) || p.len != (p.family == AF_INET ? 32 : 128))
		return bad("explain: invalid ADDRESS '%s': %s", q->what,
			   why ? why : "an address, not a prefix");
	if (dir < 0)
		return bad("explain: invalid --dir '%s': expected egress, ingress or bind", o->dir);
	if (proto < 0)
		return bad("explain: invalid --proto '%s': expected tcp, udp or icmp", o->proto);
	if (o->port && (ug_ports_parse(o->port, &lo, &hi, &why) || lo != hi))
		return bad("explain: invalid --port '%s': %s", o->port,
			   why ? why : "one port, not a range");
	if (o->port && proto == IPPROTO_ICMP)
		return bad("explain: --port: ICMP has no ports");
	q->op.dir = (uint8_t)dir;
	/* IPv4 v4-mapped; an IPv6 packet's ICMP is ICMPv6, outside the v4-mapped range
	 * (IPv4 traffic however it is spelled). */
	if (p.family == AF_INET) {
		q->op.addr[10] = q->op.addr[11] = 0xff;
		memcpy(q->op.addr + 12, p.addr, 4);
	} else {
		memcpy(q->op.addr, p.addr, 16);
	}
	if (proto == IPPROTO_ICMP && p.family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)q->op.addr))
		proto = IPPROTO_ICMPV6;
	q->op.proto = (uint8_t)proto;
	q->op.has_port = o->port != NULL;
	q->op.port = lo;
	return 0;
}

/* explain TARGET ADDRESS|PATH [...]: what the target's effective policy decides. */
static int explain(int argc, char **argv)
{
	struct explain_q q = { 0 };
	json_object *top = NULL, *notes = NULL;
	const char *verdict, *decided;
	char from[600], text[200], qtext[200];
	struct esc e = { 0 };
	struct sub_opts o;
	struct eff f;
	bool denied, side;
	const struct ug_lpm_entry *entry = NULL;
	ssize_t k = -1;
	uint8_t action;
	uint32_t rule_id;
	int err;

	err = parse_sub(argc, argv, OPT_JSON | OPT_EXPLAIN, &o);
	if (err)
		return err;
	argv += optind;
	argc -= optind;
	if (argc != 2)
		return bad("explain: expected TARGET and an ADDRESS or a PATH");
	q.target = argv[0];
	q.what = argv[1];
	err = check_target(q.target);
	if (!err)
		err = q.what[0] == '/' ? explain_parse_path(&q, &o) : explain_parse_addr(&q, &o);
	if (err)
		return err;
	err = eff_load(&f, "explain", q.target);
	if (err) {
		eff_free(&f);
		return err;
	}
	if (q.path) {
		struct ug_path_verdict pv;

		ug_path_judge(f.pent, f.n_pent, q.kind, q.canon, q.access, &pv);
		side = f.lsm;
		action = pv.action;
		rule_id = pv.rule_id;
		k = rule_id ? eff_find_path(&f, rule_id) : -1;
		snprintf(qtext, sizeof(qtext), "%s", q.kind == UG_PATH_EXEC ? "exec" : q.access ==
			 UG_ACCESS_READ ? "open for read" : q.access == UG_ACCESS_WRITE ?
			 "open for write" : "open for read and write");
	} else {
		struct ug_net_verdict nv;

		ug_net_judge(f.ent, f.n_ent, f.e.deny_default, f.e.audit_default, &q.op, &nv);
		side = f.net;
		action = nv.action;
		rule_id = nv.rule_id;
		k = rule_id ? eff_find_rule(&f, rule_id) : -1;
		entry = nv.entry;
		snprintf(qtext, sizeof(qtext), "%s %s", ug_dir_name(q.op.dir),
			 ug_proto_name(q.op.proto));
		if (q.op.has_port)
			snprintf(qtext + strlen(qtext), sizeof(qtext) - strlen(qtext), " port %u",
				 q.op.port);
	}
	verdict = eff_verdict(side, q.path ? f.e.lsm_mode : f.e.mode, action, &denied);
	if (!side)
		decided = "none";
	else if (k >= 0)
		decided = "rule";
	else if (q.path)
		decided = "no-rule";
	else
		decided = "default";

	if (o.json) {
		top = json_object_new_object();
		notes = json_object_new_array();
		if (!top || !notes) {
			err = -ENOMEM;
			goto out;
		}
		json_add_str(top, "target", q.target);
		json_add_str(top, q.path ? "path" : "address", q.path ? q.canon : q.what);
		if (q.path) {
			json_add_str(top, "access", q.kind == UG_PATH_EXEC ? "exec"
									: ug_access_name(q.access));
		} else {
			json_add_str(top, "direction", ug_dir_name(q.op.dir));
			json_add_str(top, "proto", ug_proto_name(q.op.proto));
			json_object_object_add(top, "port", q.op.has_port
								    ? json_object_new_int(q.op.port)
								    : NULL);
		}
		json_add_str(top, "verdict", verdict);
		json_object_object_add(top, "denied", json_object_new_boolean(denied));
		json_add_str(top, "action", ug_action_name(action));
		json_add_str(top, "mode", ug_mode_name(f.e.mode));
		json_add_str(top, "decided_by", decided);
		json_add_str(top, "cgroup", f.v[f.self].path);
	} else {
		printf("verdict: %s\n", verdict);
		printf("query: %s: %s %s%s\n", esc(&e, q.target), qtext,
		       q.path ? "" : q.op.dir == UG_DIR_EGRESS ? "to " : q.op.dir == UG_DIR_INGRESS ?
		       "from " : "at ", esc(&e, q.path ? q.canon : q.what));
		printf("mode: %s\n", ug_mode_name(f.e.mode));
	}
	if (!side) {
		eff_note(notes, "no %s policy applies to %s or any policy cgroup above it: nothing "
			 "is judged", q.path ? "exec/file" : "network", q.target);
	} else if (k >= 0 && !q.path) {
		const struct ug_rule *r = &f.rules[k];
		const char *c = eff_comment(&f, r->id);

		if (top) {
			json_object_object_add(top, "rule", eff_rule_json(&f, (size_t)k));
		} else {
			eff_rule_text(r, text, sizeof(text));
			eff_from_text(&f, f.origin[k], &e, from, sizeof(from));
			printf("rule: %" PRId64 ": %s%s%s%s\n", r->id, text, c ? " (comment: " : "",
			       c ? esc(&e, c) : "", c ? ")" : "");
			printf("from: %s\n", from);
			printf("why: %s is the longest prefix with rules in this direction covering the "
			       "address; this is the first of them (its own, then those of the "
			       "prefixes covering it, as the compiler orders them) to match the "
			       "protocol and port\n", entry_text(entry, text, sizeof(text)));
		}
	} else if (k >= 0) {
		const struct ug_path_rule *r = &f.paths[k];
		const char *c = eff_comment(&f, r->id);

		if (top) {
			json_object *jr = json_object_new_object();

			json_object_object_add(jr, "id", json_object_new_int64(r->id));
			json_add_str(jr, "kind", r->kind == UG_PATH_EXEC ? "exec" : "file");
			json_add_str(jr, "action", ug_action_name(r->action));
			json_add_str(jr, "path", r->path);
			json_add_str(jr, "access", r->kind == UG_PATH_FILE ? ug_access_name(r->access)
									    : NULL);
			json_add_str(jr, "comment", c);
			json_object_object_add(jr, "from", eff_from_json(&f, f.porigin[k]));
			json_object_object_add(top, "rule", jr);
		} else {
			eff_from_text(&f, f.porigin[k], &e, from, sizeof(from));
			printf("rule: %" PRId64 ": %s %s %s%s%s%s%s%s\n", r->id,
			       ug_action_name(r->action), r->kind == UG_PATH_EXEC ? "exec" : "file",
			       esc(&e, r->path), r->kind == UG_PATH_FILE ? " access " : "",
			       r->kind == UG_PATH_FILE ? ug_access_name(r->access) : "",
			       c ? " (comment: " : "", c ? esc(&e, c) : "", c ? ")" : "");
			printf("from: %s\n", from);
			printf("why: the longest rule path covering %s decides%s\n", esc(&e, q.canon),
			       r->kind == UG_PATH_FILE ? " (file rules of shorter paths add up)" : "");
		}
	} else if (q.path) {
		eff_note(notes, "no %s rule covers %s: paths have no default posture, it is allowed",
			 q.kind == UG_PATH_EXEC ? "exec" : "file", q.canon);
	} else {
		int dir = q.op.dir;
		ssize_t s = eff_setter(&f, sets_deny, (uint64_t)dir);

		if (top)
			json_object_object_add(top, "rule", NULL);
		if (entry && entry->val.n && !top)
			printf("rules: %s is the longest prefix with rules covering the address, but "
			       "none of them (nor of the prefixes covering it) matches the protocol "
			       "and port\n", entry_text(entry, text, sizeof(text)));
		if (f.e.deny_default & (1u << dir)) {
			eff_from_text(&f, (size_t)s, &e, from, sizeof(from));
			if (top)
				json_object_object_add(top, "default_from", eff_from_json(&f, (size_t)s));
			else
				printf("default: deny: no rule matches; default-%s deny is set on %s\n",
				       ug_dir_name(dir), from);
		} else if (!top && dir == UG_DIR_BIND) {
			printf("default: allow: no rule matches, and binds have no default posture\n");
		} else if (!top) {
			printf("default: allow: no rule matches, and no policy cgroup of it sets "
			       "default-%s deny\n", ug_dir_name(dir));
		}
	}
	if (!q.path && q.op.dir == UG_DIR_INGRESS && q.op.proto == IPPROTO_TCP)
		eff_note(notes, "an incoming TCP connection request is also judged by the bind "
			 "rules at the local address and port (explain --dir bind)");
	if (!q.path && q.op.dir == UG_DIR_BIND &&
	    !memcmp(q.op.addr, (const uint8_t[16]){ 0 }, 16))
		eff_note(notes, "a bind of [::] without IPV6_V6ONLY is also judged by the IPv4 bind "
			 "rules as 0.0.0.0 (explain %s 0.0.0.0 --dir bind)", q.target);
	if (!q.path && q.op.proto != IPPROTO_ICMP && q.op.proto != IPPROTO_ICMPV6 &&
	    !q.op.has_port)
		eff_note(notes, "no --port given: rules with ports were taken not to match");
	eff_notes(&f, notes);
	if (top) {
		json_object_object_add(top, "notes", notes);
		notes = NULL;
		err = print_json(top) ? -EIO : 0;
	}
out:
	esc_free(&e);
	json_object_put(top);
	json_object_put(notes);
	eff_free(&f);
	return err ? 1 : 0;
}

/* Does an LPM entry stand for rule r's own prefix (not one it inherits from)? */
static bool entry_is_prefix(const struct ug_lpm_entry *en, const struct ug_rule *r)
{
	uint8_t addr[16] = { 0 };
	unsigned int bits = r->prefix.len;

	if (r->prefix.family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, r->prefix.addr, 4);
		bits += 96;
	} else {
		memcpy(addr, r->prefix.addr, 16);
	}
	return en->key.dir == r->dir && en->key.prefixlen == UG_LPM_HDR_BITS + bits &&
	       !memcmp(en->key.addr, addr, 16);
}

/* Longest prefix first within a direction: the order in which prefixes decide. */
static int entry_show_cmp(const void *pa, const void *pb)
{
	const struct ug_lpm_entry *a = pa, *b = pb;

	if (a->key.dir != b->key.dir)
		return a->key.dir < b->key.dir ? -1 : 1;
	if (a->key.prefixlen != b->key.prefixlen)
		return a->key.prefixlen > b->key.prefixlen ? -1 : 1;
	return memcmp(a->key.addr, b->key.addr, 16);
}

/* Exec/file rules in the order they decide: kind, longest path, nearest, deny, id. */
static const struct eff *path_sort_ctx;

static int path_show_cmp(const void *pa, const void *pb)
{
	const struct ug_path_rule *a = &path_sort_ctx->paths[*(const size_t *)pa];
	const struct ug_path_rule *b = &path_sort_ctx->paths[*(const size_t *)pb];
	size_t la = strlen(a->path), lb = strlen(b->path);

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (la != lb)
		return la > lb ? -1 : 1;
	if (strcmp(a->path, b->path))
		return strcmp(a->path, b->path);
	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	if (a->action != b->action)
		return a->action == UG_ACT_DENY ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static const char *const show_net_cols[] = { "DIR", "PREFIX", "ID", "ACTION", "PROTO", "PORT",
					     "FROM", "COMMENT" };
static const char *const show_path_cols[] = { "KIND", "PATH", "ID", "ACTION", "ACCESS", "FROM",
					      "COMMENT" };

/* One network rule of `show`: a table row or a JSON element. */
static int show_net_rule(const struct eff *f, size_t k, bool decides, struct table *tab,
			 json_object *arr)
{
	const struct ug_rule *r = &f->rules[k];
	char prefix[UG_PREFIX_STRLEN], ports[16], id[24];
	struct esc e = { 0 };
	int err;

	if (arr) {
		json_object *o = eff_rule_json(f, k);

		if (!o)
			return -ENOMEM;
		json_object_object_add(o, "decides", json_object_new_boolean(decides));
		return json_object_array_add(arr, o) ? -ENOMEM : 0;
	}
	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	ports_text(r->has_ports ? r->port_lo : 0, r->port_hi, ports, sizeof(ports));
	snprintf(id, sizeof(id), "%" PRId64 "%s", r->id, decides ? "" : "*");
	{
		const char *cells[] = { ug_dir_name(r->dir), prefix, id, ug_action_name(r->action),
					r->proto ? ug_proto_name(r->proto) : "any", ports,
					esc(&e, f->v[f->origin[k]].name),
					esc(&e, eff_comment(f, r->id)) };

		err = table_row(tab, cells, NULL);
	}
	esc_free(&e);
	return err;
}

static int show_path_rule(const struct eff *f, size_t k, bool decides, struct table *tab,
			  json_object *arr)
{
	const struct ug_path_rule *r = &f->paths[k];
	const char *kind = r->kind == UG_PATH_EXEC ? "exec" : "file";
	const char *access = r->kind == UG_PATH_FILE ? ug_access_name(r->access) : NULL;
	struct esc e = { 0 };
	char id[24];
	int err;

	if (arr) {
		json_object *o = json_object_new_object();

		if (!o)
			return -ENOMEM;
		json_object_object_add(o, "id", json_object_new_int64(r->id));
		json_add_str(o, "kind", kind);
		json_add_str(o, "action", ug_action_name(r->action));
		json_add_str(o, "path", r->path);
		json_add_str(o, "access", access);
		json_add_str(o, "comment", eff_comment(f, r->id));
		json_object_object_add(o, "from", eff_from_json(f, f->porigin[k]));
		json_object_object_add(o, "decides", json_object_new_boolean(decides));
		return json_object_array_add(arr, o) ? -ENOMEM : 0;
	}
	snprintf(id, sizeof(id), "%" PRId64 "%s", r->id, decides ? "" : "*");
	{
		const char *cells[] = { kind, esc(&e, r->path), id, ug_action_name(r->action),
					access ?: "", esc(&e, f->v[f->porigin[k]].name),
					esc(&e, eff_comment(f, r->id)) };

		err = table_row(tab, cells, NULL);
	}
	esc_free(&e);
	return err;
}

/*
 * The rules in the order they decide, from the compiler's own output: each compiled
 * prefix, longest first, with its own rules in the order the kernel tries them. A rule
 * found in no entry never decides (an identical rule nearer the target wins, or a
 * rule before it on its prefix matches everything it would).
 */
static int show_net_rules(const struct eff *f, struct table *tab, json_object *arr)
{
	struct ug_lpm_entry *ent = malloc((f->n_ent ?: 1) * sizeof(*ent));
	bool *listed = calloc(f->n_rules ?: 1, sizeof(*listed));
	int err = ent && listed ? 0 : -ENOMEM;

	if (!err) {
		memcpy(ent, f->ent, f->n_ent * sizeof(*ent));
		qsort(ent, f->n_ent, sizeof(*ent), entry_show_cmp);
	}
	for (size_t i = 0; !err && i < f->n_ent; i++) {
		for (uint32_t m = 0; !err && m < ent[i].val.n && m < UG_MATCHES_MAX; m++) {
			ssize_t k = eff_find_rule(f, ent[i].val.m[m].rule_id);

			if (k < 0 || listed[k] || !entry_is_prefix(&ent[i], &f->rules[k]))
				continue;
			listed[k] = true;
			err = show_net_rule(f, (size_t)k, true, tab, arr);
		}
	}
	for (size_t k = 0; !err && k < f->n_rules; k++)
		if (!listed[k])
			err = show_net_rule(f, k, false, tab, arr);
	free(ent);
	free(listed);
	return err;
}

static int show_path_rules(struct eff *f, struct table *tab, json_object *arr)
{
	size_t *order = calloc(f->n_paths ?: 1, sizeof(*order));
	int err = order ? 0 : -ENOMEM;

	for (size_t k = 0; order && k < f->n_paths; k++)
		order[k] = k;
	if (order) {
		path_sort_ctx = f;
		qsort(order, f->n_paths, sizeof(*order), path_show_cmp);
	}
	for (size_t i = 0; !err && i < f->n_paths; i++) {
		const struct ug_path_rule *r = &f->paths[order[i]];
		/* exec: the first rule on a path decides it; file rules all add up. */
		bool decides = r->kind == UG_PATH_FILE || !i ||
			       f->paths[order[i - 1]].kind != r->kind ||
			       strcmp(f->paths[order[i - 1]].path, r->path);

		err = show_path_rule(f, order[i], decides, tab, arr);
	}
	free(order);
	return err;
}

/* "value (set on X)" for a setting, and its JSON, {value, from}: a member key of top, or
 * an element of top when that is an array. Returns the JSON object (NULL in text). */
static json_object *show_setting(const struct eff *f, json_object *top, const char *key,
				 const char *value, ssize_t from)
{
	char text[600], name[64];
	struct esc e = { 0 };

	/* default_egress in JSON, "default egress" in text */
	snprintf(name, sizeof(name), "%s", key);
	for (char *c = name; *c; c++)
		if (*c == '_')
			*c = ' ';
	if (top) {
		json_object *o = json_object_new_object();

		json_add_str(o, "value", value);
		json_object_object_add(o, "from", from >= 0 ? eff_from_json(f, (size_t)from) : NULL);
		if (json_object_is_type(top, json_type_array))
			json_object_array_add(top, o);
		else
			json_object_object_add(top, key, o);
		return o;
	}
	if (from >= 0) {
		eff_from_text(f, (size_t)from, &e, text, sizeof(text));
		printf("%s: %s (set on %s)\n", name, value, text);
	} else {
		printf("%s: %s\n", name, value);
	}
	esc_free(&e);
	return NULL;
}

/* show TARGET: the effective policy, after inheritance, as the agent compiles it. */
static int show(int argc, char **argv)
{
	json_object *top = NULL, *notes = NULL, *arr = NULL, *parr = NULL, *list;
	json_object *harden = NULL, *families = NULL;
	struct table tab = { 0 }, ptab = { 0 };
	struct esc e = { 0 };
	struct sub_opts o;
	const char *target;
	struct eff f;
	char text[600];
	int err;

	err = parse_target_cmd(argc, argv, OPT_JSON, &o, "show", &target);
	if (err)
		return err;
	err = eff_load(&f, "show", target);
	if (err) {
		eff_free(&f);
		return err;
	}
	if (o.json) {
		top = json_object_new_object();
		notes = json_object_new_array();
		arr = json_object_new_array();
		parr = json_object_new_array();
		list = json_object_new_array();
		if (!top || !notes || !arr || !parr || !list) {
			json_object_put(list);
			err = -ENOMEM;
			goto out;
		}
		json_add_str(top, "target", target);
		json_add_str(top, "cgroup", f.v[f.self].path);
		for (size_t k = 0; k < f.n_chain; k++)
			json_object_array_add(list, eff_from_json(&f, f.chain[k]));
		json_object_object_add(top, "policy_cgroups", list);
		json_object_object_add(top, "network_policy", json_object_new_boolean(f.net));
		json_object_object_add(top, "lsm_policy", json_object_new_boolean(f.lsm));
	} else {
		printf("target: %s\n", esc(&e, target));
		printf("cgroup: %s\n", esc(&e, f.v[f.self].path ?: "(not placed)"));
		for (size_t k = 0; k < f.n_chain; k++) {
			eff_from_text(&f, f.chain[k], &e, text, sizeof(text));
			printf("%s%s", k ? ", " : "policy cgroups (nearest first): ", text);
		}
		printf("\nnetwork policy: %s\nexec/file policy: %s\n", f.net ? "yes" : "no",
		       f.lsm ? "yes" : "no");
	}
	show_setting(&f, top, "mode", ug_mode_name(f.e.mode),
		     f.e.mode == UG_MODE_ENFORCE ? -1 : eff_setter(&f, sets_mode, f.e.mode));
	for (int dir = UG_DIR_EGRESS; dir <= UG_DIR_INGRESS; dir++) {
		bool deny = f.e.deny_default & (1u << dir);

		show_setting(&f, top, dir == UG_DIR_EGRESS ? "default_egress" : "default_ingress",
			     deny ? "deny" : "allow", deny ? eff_setter(&f, sets_deny, dir) : -1);
	}
	if (top) {
		json_object_object_add(top, "harden", harden = json_object_new_array());
		json_object_object_add(top, "denied_families", families = json_object_new_array());
	}
	for (unsigned bit = 1; bit <= 0x80; bit <<= 1) {
		char name[64];

		if (!(f.e.harden & bit) || ug_harden_format((int)bit, name, sizeof(name)))
			continue;
		show_setting(&f, harden, "harden", name, eff_setter(&f, sets_harden, bit));
	}
	for (int fam = 0; fam < 64; fam++) {
		json_object *j;
		uint32_t rule;
		ssize_t s;

		if (!(f.e.families & (1ULL << fam)))
			continue;
		s = eff_setter(&f, sets_family, (uint64_t)fam);
		rule = s >= 0 ? f.v[s].family_rule[fam] : 0;
		snprintf(text, sizeof(text), "%s (rule %u)", ug_family_name(fam), rule);
		j = show_setting(&f, families, "denied family", top ? ug_family_name(fam) : text, s);
		if (j)
			json_object_object_add(j, "rule", json_object_new_int64(rule));
	}
	if (top) {
		err = show_net_rules(&f, NULL, arr);
		if (!err)
			err = show_path_rules(&f, NULL, parr);
		eff_notes(&f, notes);
		json_object_object_add(top, "rules", arr);
		json_object_object_add(top, "path_rules", parr);
		json_object_object_add(top, "notes", notes);
		arr = parr = notes = NULL;
		if (!err)
			err = print_json(top) ? -EIO : 0;
		goto out;
	}
	err = table_new(&tab, show_net_cols, ARRAY_SIZE(show_net_cols), 1u << 2);
	if (!err)
		err = table_new(&ptab, show_path_cols, ARRAY_SIZE(show_path_cols), 1u << 2);
	if (!err)
		err = show_net_rules(&f, &tab, NULL);
	if (!err)
		err = show_path_rules(&f, &ptab, NULL);
	if (!err) {
		printf("\nnetwork rules, in the order they decide (longest prefix first; on one "
		       "prefix, in the order the kernel tries them; * never decides):\n");
		err = table_print(&tab);
	}
	if (!err && f.n_paths) {
		printf("\nexec/file rules (longest path first; * never decides):\n");
		err = table_print(&ptab);
	}
	if (!err)
		eff_notes(&f, NULL);
out:
	if (err)
		fprintf(stderr, "unitguardctl: show: %s\n", strerror(-err));
	esc_free(&e);
	if (tab.tb)
		table_free(&tab);
	if (ptab.tb)
		table_free(&ptab);
	json_object_put(top);
	json_object_put(notes);
	json_object_put(arr);
	json_object_put(parr);
	eff_free(&f);
	return err ? 1 : 0;
}

static int parse_wait_opt(int c, const char *arg)
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
