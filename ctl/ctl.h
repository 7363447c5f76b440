/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unitguardctl: what its files share. Exit status of every command: 0
 * success, 1 failure, 2 bad usage or input (nothing written), 3 written but
 * not in force.
 */
#ifndef UG_CTL_H
#define UG_CTL_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "policy.h"
#include "store.h"

struct libscols_table;

#define EXIT_USAGE 2
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EXIT_NOT_IN_FORCE 3

/* unitguardctl.c: the options before the command (systemd's arg_ style). */
extern const char *arg_db_path;
extern bool arg_no_wait;     /* --no-wait: writes do not wait for the agent */
extern double arg_timeout;   /* --timeout: how long they wait */
extern bool arg_json;        /* --json before the command */

/* help.c */
void usage(FILE *f);
void command_help(const char *name);

/* output.c */
int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct esc {
	char *p[24];
	int n;
};
char *esc_dup(const char *s);
const char *esc(struct esc *e, const char *s);
void esc_free(struct esc *e);
struct table {
	struct libscols_table *tb;
	const char *const *names;
	size_t n;
	char **under; /* per row: text printed under it, or NULL */
	size_t rows;
};
int table_new(struct table *t, const char *const *names, size_t n, unsigned right);
int table_row(struct table *t, const char *const *cells, const char *under, struct esc *e);
int table_print(struct table *t);
void table_free(struct table *t);
void ports_text(uint32_t lo, uint32_t hi, char *buf, size_t len);
void json_add_str(json_object *o, const char *k, const char *v);
int print_json(json_object *arr);
void *grow(void *v, size_t *n, size_t size);

/* inforce.c */
int open_store(unsigned flags, struct ug_store **st);
int open_store_if_any(struct ug_store **st);
pid_t agent_pid(void);
int in_force(struct ug_store *st, const char *const *targets, size_t n, const char *done);

/* args.c */
struct sub_opts {
	bool json;
	const char *unit, *proto, *port, *comment, *mode, *def_egress, *def_ingress;
	const char *access, *harden, *no_harden;
	const char *since, *until;
	const char *dir;
	bool check, diff, follow, summary, reply;
};
enum {
	OPT_JSON = 1 << 0,
	OPT_UNIT = 1 << 1,
	OPT_RULE = 1 << 2,    /* --proto --port --comment */
	OPT_POSTURE = 1 << 3, /* --mode --default-egress --default-ingress */
	OPT_WAIT = 1 << 4,    /* --wait --no-wait --timeout */
	OPT_CHECK = 1 << 5,   /* --check --diff */
	OPT_AUDIT = 1 << 6,   /* --since --until --follow --summary */
	OPT_EXPLAIN = 1 << 7, /* --dir --reply --proto --port --access */
};
const struct option *options_table(bool global);
int parse_wait_opt(int c, const char *arg);
int check_target(const char *target);

/*
 * A command (systemctl's verb table): its name, the options it takes, how
 * many arguments follow them, and the function that runs it with those
 * arguments (argv[0] is the first of them) and its options.
 */
struct verb {
	const char *name; /* "rule add", "audit" */
	unsigned opts;    /* OPT_* */
	int min_args, max_args;
	unsigned flags;       /* VERB_* */
	const char *expected; /* said when the count is wrong; NULL: "unexpected argument" */
	int (*run)(int argc, char **argv, const struct sub_opts *o);
};
enum {
	VERB_TARGET = 1 << 0, /* its first argument, when given, is a TARGET */
	VERB_COUNT = 1 << 1,  /* a wrong count says how many were given */
};
/* Parse v's options and check its arguments (argv[0]: its last word), then run it. */
int verb_run(const struct verb *v, int argc, char **argv);

/* rule.c */
struct rule_out {
	json_object *arr;
	struct table tab;
};
bool resolves_elsewhere(const char *path, char *real, size_t len);
int rule_out_init(struct rule_out *out, bool json);
int rule_out_print(struct rule_out *out);
void rule_out_free(struct rule_out *out);
int print_rule(const struct ug_store_rule *r, void *ctx);
int rule_add(int argc, char **argv, const struct sub_opts *o);
int rule_list(int argc, char **argv, const struct sub_opts *o);
int rule_del(int argc, char **argv, const struct sub_opts *o);

/* unit.c */
int unit_set(int argc, char **argv, const struct sub_opts *o);
int unit_list(int argc, char **argv, const struct sub_opts *o);
int unit_show(int argc, char **argv, const struct sub_opts *o);
int unit_del(int argc, char **argv, const struct sub_opts *o);

/* audit.c */
int audit(int argc, char **argv, const struct sub_opts *o);

/* status.c */
int stats(int argc, char **argv, const struct sub_opts *o);
int metrics(int argc, char **argv, const struct sub_opts *o);
int status(int argc, char **argv, const struct sub_opts *o);

/* apply.c */
int apply(int argc, char **argv, const struct sub_opts *o);
int export(int argc, char **argv, const struct sub_opts *o);

/* explain.c, show.c */
int explain(int argc, char **argv, const struct sub_opts *o);
int show(int argc, char **argv, const struct sub_opts *o);

#endif
