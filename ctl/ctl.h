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

/* unitguardctl.c: the options before the command. */
extern const char *db_path;
extern bool no_wait;
extern double wait_timeout;
extern const char *written;
extern bool json_global;

/* help.c */
extern char cmd_name[32];
void usage(FILE *f);
void command_help(void);

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
int table_row(struct table *t, const char *const *cells, const char *under);
int table_print(struct table *t);
void table_free(struct table *t);
void ports_text(uint32_t lo, uint32_t hi, char *buf, size_t len);
void json_add_str(json_object *o, const char *k, const char *v);
int print_json(json_object *arr);

/* inforce.c */
int open_store(unsigned flags, struct ug_store **st);
pid_t agent_pid(void);
int in_force(struct ug_store *st, const char *const *targets, size_t n);

/* args.c */
struct sub_opts {
	bool json;
	const char *unit, *proto, *port, *comment, *mode, *def_egress, *def_ingress;
	const char *access, *harden, *no_harden;
	const char *since, *until;
	const char *dir;
	bool check, diff, follow, summary;
};
enum {
	OPT_JSON = 1 << 0,
	OPT_UNIT = 1 << 1,
	OPT_RULE = 1 << 2,    /* --proto --port --comment */
	OPT_POSTURE = 1 << 3, /* --mode --default-egress --default-ingress */
	OPT_WAIT = 1 << 4,    /* --wait --no-wait --timeout */
	OPT_CHECK = 1 << 5,   /* --check --diff */
	OPT_AUDIT = 1 << 6,   /* --since --until --follow --summary */
	OPT_EXPLAIN = 1 << 7, /* --dir --proto --port --access */
};
int parse_sub(int argc, char **argv, unsigned allowed, struct sub_opts *o);
int parse_target_cmd(int argc, char **argv, unsigned allowed, struct sub_opts *o,
		     const char *cmd, const char **target);
int check_target(const char *target);
int parse_wait_opt(int c, const char *arg);

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
int rule_add(int argc, char **argv);
int rule_list(int argc, char **argv);
int rule_del(int argc, char **argv);

/* unit.c */
int unit_set(int argc, char **argv);
int unit_list(int argc, char **argv, bool show);
int unit_del(int argc, char **argv);

/* audit.c */
int audit(int argc, char **argv);

/* status.c */
int stats(int argc, char **argv);
int metrics(int argc, char **argv);
int status(int argc, char **argv);

/* apply.c */
int apply(int argc, char **argv);
int export(int argc, char **argv);

/* explain.c, show.c */
int explain(int argc, char **argv);
int show(int argc, char **argv);

#endif
