// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Line numbers are part of what is tested: keep one YAML line per C line. */
static const char full[] =
	"# unitguard policy\n"                                          /* 1 */
	"version: 1\n"                                                  /* 2 */
	"units:\n"                                                      /* 3 */
	"  - target: demo.service          # a unit\n"                  /* 4 */
	"    mode: audit\n"                                             /* 5 */
	"    default-egress: deny\n"                                    /* 6 */
	"    default-ingress: allow\n"                                  /* 7 */
	"    rules:\n"                                                  /* 8 */
	"      - {direction: egress, action: deny, prefix: 10.0.0.0/8}\n" /* 9 */
	"      - direction: egress\n"                                   /* 10 */
	"        action: allow\n"                                       /* 11 */
	"        prefix: 10.1.0.0/16\n"                                 /* 12 */
	"        proto: tcp\n"                                          /* 13 */
	"        port: 443\n"                                           /* 14 */
	"        comment: \"https to the internal range\"\n"            /* 15 */
	"      - direction: ingress\n"                                  /* 16 */
	"        action: allow\n"                                       /* 17 */
	"        prefix: 10.0.0.1\n"                                    /* 18 */
	"        proto: udp\n"                                          /* 19 */
	"        port: 1000-2000\n"                                     /* 20 */
	"      - {direction: bind, action: deny, prefix: 2001:DB8::/32,\n" /* 21 */
	"         port: \"8000-8080\"}\n"                                /* 22 */
	"  - target: /system.slice/web.service\n"                       /* 23 */
	"    rules: []\n"                                               /* 24 */
	"  - rules:\n"                                                  /* 25 */
	"      - {direction: egress, action: allow, prefix: 0.0.0.0/0, proto: icmp}\n" /* 26 */
	"    target: backup.slice\n"                                    /* 27 */
	"    mode: 'off'\n";                                            /* 28 */

static void parse_ok(const char *yaml, struct ug_policy_file *pf)
{
	char err[256] = "untouched";
	int r = ug_policy_file_parse(yaml, strlen(yaml), pf, err, sizeof(err));

	if (r)
		fail_msg("parse failed (%d): %s", r, err);
	assert_string_equal(err, "");
}

/* line < 0: not checked, as after a round trip, where lines have moved. */
static void check_unit(const struct ug_file_unit *u, const char *target, const char *mode,
		       const char *egress, const char *ingress, int line)
{
	assert_string_equal(u->target, target);
	if (mode)
		assert_string_equal(u->mode, mode);
	else
		assert_null(u->mode);
	if (egress)
		assert_string_equal(u->default_egress, egress);
	else
		assert_null(u->default_egress);
	if (ingress)
		assert_string_equal(u->default_ingress, ingress);
	else
		assert_null(u->default_ingress);
	if (line >= 0)
		assert_int_equal(u->line, line);
}

static void check_rule(const struct ug_file_rule *r, const char *target, const char *dir,
		       const char *action, const char *prefix, const char *proto, unsigned int lo,
		       unsigned int hi, const char *comment, int line)
{
	assert_string_equal(r->target, target);
	assert_string_equal(r->direction, dir);
	assert_string_equal(r->action, action);
	assert_string_equal(r->prefix, prefix);
	/* Network rules never carry an access. */
	if (!strcmp(dir, "egress") || !strcmp(dir, "ingress") || !strcmp(dir, "bind"))
		assert_null(r->access);
	if (proto)
		assert_string_equal(r->proto, proto);
	else
		assert_null(r->proto);
	assert_int_equal(r->port_lo, lo);
	assert_int_equal(r->port_hi, hi);
	if (comment)
		assert_string_equal(r->comment, comment);
	else
		assert_null(r->comment);
	if (line >= 0)
		assert_int_equal(r->line, line);
}

static void check_full(const struct ug_policy_file *pf, bool lines)
{
#define L(n) (lines ? (n) : -1)
	assert_int_equal(pf->n_units, 3);
	check_unit(&pf->units[0], "demo.service", "audit", "deny", "allow", L(4));
	check_unit(&pf->units[1], "/system.slice/web.service", NULL, NULL, NULL, L(23));
	check_unit(&pf->units[2], "backup.slice", "off", NULL, NULL, L(25));

	assert_int_equal(pf->n_rules, 5);
	check_rule(&pf->rules[0], "demo.service", "egress", "deny", "10.0.0.0/8", NULL, 0, 0, NULL,
		   L(9));
	check_rule(&pf->rules[1], "demo.service", "egress", "allow", "10.1.0.0/16", "tcp", 443, 443,
		   "https to the internal range", L(10));
	check_rule(&pf->rules[2], "demo.service", "ingress", "allow", "10.0.0.1/32", "udp", 1000,
		   2000, NULL, L(16));
	check_rule(&pf->rules[3], "demo.service", "bind", "deny", "2001:db8::/32", NULL, 8000, 8080,
		   NULL, L(21));
	check_rule(&pf->rules[4], "backup.slice", "egress", "allow", "0.0.0.0/0", "icmp", 0, 0,
		   NULL, L(26));
#undef L
}

static void test_parse_full(void **state)
{
	struct ug_policy_file pf;

	parse_ok(full, &pf);
	check_full(&pf, true);
	ug_policy_file_free(&pf);
	assert_null(pf.units);
	assert_null(pf.rules);
	assert_int_equal(pf.n_units, 0);
	assert_int_equal(pf.n_rules, 0);
}

static void test_parse_not_nul_terminated(void **state)
{
	static const char yaml[] = "version: 1\nunits: [{target: a.service}]\nXXXX";
	struct ug_policy_file pf;
	char err[128];

	/* The length, not a NUL, ends the input: the junk after it is unseen. */
	assert_int_equal(ug_policy_file_parse(yaml, strlen(yaml) - 4, &pf, err, sizeof(err)), 0);
	assert_int_equal(pf.n_units, 1);
	assert_string_equal(pf.units[0].target, "a.service");
	ug_policy_file_free(&pf);
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (want)
		assert_string_equal(got, want);
	else
		assert_null(got);
}

static void assert_files_equal(const struct ug_policy_file *a, const struct ug_policy_file *b)
{
	assert_int_equal(a->n_units, b->n_units);
	for (size_t i = 0; i < a->n_units; i++) {
		const struct ug_file_unit *x = &a->units[i], *y = &b->units[i];

		check_unit(y, x->target, x->mode, x->default_egress, x->default_ingress, -1);
		assert_str_or_null(y->harden, x->harden);
	}
	assert_int_equal(a->n_rules, b->n_rules);
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct ug_file_rule *x = &a->rules[i], *y = &b->rules[i];

		check_rule(y, x->target, x->direction, x->action, x->prefix, x->proto, x->port_lo,
			   x->port_hi, x->comment, -1);
		assert_str_or_null(y->access, x->access);
	}
}

static const char full_emitted[] =
	"version: 1\n"
	"units:\n"
	"- target: demo.service\n"
	"  mode: audit\n"
	"  default-egress: deny\n"
	"  default-ingress: allow\n"
	"  rules:\n"
	"  - direction: egress\n"
	"    action: deny\n"
	"    prefix: 10.0.0.0/8\n"
	"  - direction: egress\n"
	"    action: allow\n"
	"    prefix: 10.1.0.0/16\n"
	"    proto: tcp\n"
	"    port: 443\n"
	"    comment: \"https to the internal range\"\n"
	"  - direction: ingress\n"
	"    action: allow\n"
	"    prefix: 10.0.0.1/32\n"
	"    proto: udp\n"
	"    port: \"1000-2000\"\n"
	"  - direction: bind\n"
	"    action: deny\n"
	"    prefix: 2001:db8::/32\n"
	"    port: \"8000-8080\"\n"
	"- target: /system.slice/web.service\n"
	"- target: backup.slice\n"
	"  mode: off\n"
	"  rules:\n"
	"  - direction: egress\n"
	"    action: allow\n"
	"    prefix: 0.0.0.0/0\n"
	"    proto: icmp\n";

static void test_emit_roundtrip(void **state)
{
	struct ug_policy_file pf, again;
	char err[256] = "untouched", *out, *out2;
	size_t len, len2;

	parse_ok(full, &pf);
	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(out, full_emitted);
	assert_int_equal(len, strlen(full_emitted));

	parse_ok(out, &again);
	check_full(&again, false);
	assert_files_equal(&pf, &again);

	/* A fixed point: emitting the re-read file gives the same bytes. */
	assert_int_equal(ug_policy_file_emit(&again, &out2, &len2, err, sizeof(err)), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(out2, out, len);

	free(out);
	free(out2);
	ug_policy_file_free(&pf);
	ug_policy_file_free(&again);
}

/* Comments that a careless emitter would turn into something else. */
static void test_emit_roundtrip_comments(void **state)
{
	static const char *const comments[] = {
		"", "true", "443", "null", "~", "a: b # c", "- x", "'quoted'", "\"dq\"",
		"back\\slash", "  padded  ",
		"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\x92",
		"#hash", "{flow}", "[seq]", "&anchor", "*alias", "%dir", "@at", "`tick`",
		"a very long comment that goes on well past the eighty columns libyaml folds "
		"at by default, so that folding would be noticed",
	};
	struct ug_file_unit unit = { .target = "a.service" };
	struct ug_file_rule rules[ARRAY_SIZE(comments)];
	struct ug_policy_file pf = {
		.units = &unit, .n_units = 1, .rules = rules, .n_rules = ARRAY_SIZE(rules),
	}, back;
	char err[256], *out;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		rules[i] = (struct ug_file_rule){
			.target = "a.service", .direction = "egress", .action = "deny",
			.prefix = "10.0.0.0/8", .comment = (char *)comments[i],
		};
	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	parse_ok(out, &back);
	assert_files_equal(&pf, &back);
	/* The long one stayed on one line. */
	assert_non_null(strstr(out, "\n    comment: \"a very long comment that goes on well "
				    "past the eighty columns libyaml folds at by default, so "
				    "that folding would be noticed\"\n"));
	free(out);
	ug_policy_file_free(&back);
}

/* Rules are grouped under their unit; rules without one get one, in order. */
static void test_emit_grouping(void **state)
{
	struct ug_file_unit units[] = {
		{ .target = "a.service", .mode = "audit" },
		{ .target = "b.service" },
	};
#define R(t, p) { .target = t, .direction = "egress", .action = "deny", .prefix = p }
	struct ug_file_rule rules[] = {
		R("c.slice", "10.0.0.0/8"),    R("a.service", "10.1.0.0/16"),
		R("b.service", "10.2.0.0/16"), R("c.slice", "10.3.0.0/16"),
		R("a.service", "10.4.0.0/16"), R("/x/y", "10.5.0.0/16"),
	};
#undef R
	struct ug_policy_file pf = {
		.units = units, .n_units = ARRAY_SIZE(units),
		.rules = rules, .n_rules = ARRAY_SIZE(rules),
	}, back;
	static const char *const want_units[] = { "a.service", "b.service", "c.slice", "/x/y" };
	static const char *const want_rules[][2] = {
		{ "a.service", "10.1.0.0/16" }, { "a.service", "10.4.0.0/16" },
		{ "b.service", "10.2.0.0/16" }, { "c.slice", "10.0.0.0/8" },
		{ "c.slice", "10.3.0.0/16" },   { "/x/y", "10.5.0.0/16" },
	};
	char err[256], *out;
	size_t len;

	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	parse_ok(out, &back);
	assert_int_equal(back.n_units, ARRAY_SIZE(want_units));
	for (size_t i = 0; i < ARRAY_SIZE(want_units); i++)
		assert_string_equal(back.units[i].target, want_units[i]);
	assert_string_equal(back.units[0].mode, "audit");
	assert_null(back.units[1].mode);
	assert_null(back.units[2].mode);
	assert_int_equal(back.n_rules, ARRAY_SIZE(want_rules));
	for (size_t i = 0; i < ARRAY_SIZE(want_rules); i++) {
		assert_string_equal(back.rules[i].target, want_rules[i][0]);
		assert_string_equal(back.rules[i].prefix, want_rules[i][1]);
	}
	free(out);
	ug_policy_file_free(&back);
}

static void test_emit_canonicalises(void **state)
{
	struct ug_file_unit unit = { .target = "a.service" };
	struct ug_file_rule rule = {
		.target = "a.service", .direction = "egress", .action = "allow",
		.prefix = "10.0.0.1", .proto = "tcp", .port_lo = 22, .port_hi = 22,
	};
	struct ug_policy_file pf = { .units = &unit, .n_units = 1, .rules = &rule, .n_rules = 1 };
	char err[256], *out;
	size_t len;

	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	assert_string_equal(out, "version: 1\n"
				 "units:\n"
				 "- target: a.service\n"
				 "  rules:\n"
				 "  - direction: egress\n"
				 "    action: allow\n"
				 "    prefix: 10.0.0.1/32\n"
				 "    proto: tcp\n"
				 "    port: 22\n");
	free(out);
}

struct emit_bad {
	const char *name;
	struct ug_file_unit unit;
	struct ug_file_unit unit2; /* used when target is set */
	struct ug_file_rule rule;
	const char *msg;
};

#define GOOD_RULE .target = "a.service", .direction = "egress", .action = "deny", \
		  .prefix = "10.0.0.0/8"

/* A comment of exactly UG_COMMENT_MAX (1024) bytes. */
#define C16 "0123456789abcdef"
#define C256 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16 C16
#define LONG_COMMENT C256 C256 C256 C256

static void test_emit_bad(void **state)
{
	static const struct emit_bad cases[] = {
		{ "no prefix", { .target = "a.service" }, {},
		  { .target = "a.service", .direction = "egress", .action = "deny" },
		  "rule 0: no prefix" },
		{ "no direction", { .target = "a.service" }, {},
		  { .target = "a.service", .action = "deny", .prefix = "10.0.0.0/8" },
		  "rule 0: no direction" },
		{ "bad mode", { .target = "a.service", .mode = "loud" }, {}, { GOOD_RULE },
		  "unit 0: invalid mode 'loud' (expected enforce, audit or off)" },
		{ "bad posture", { .target = "a.service", .default_ingress = "maybe" }, {},
		  { GOOD_RULE },
		  "unit 0: invalid default-ingress 'maybe' (expected allow or deny)" },
		{ "bad target", { .target = "a.timer" }, {}, { GOOD_RULE },
		  "unit 0: invalid target 'a.timer': " },
		{ "no unit target", { .mode = "audit" }, {}, { GOOD_RULE }, "unit 0: no target" },
		{ "duplicate", { .target = "a.service" }, { .target = "a.service" }, { GOOD_RULE },
		  "unit 1: duplicate target 'a.service' (first at unit 0)" },
		{ "host bits", { .target = "a.service" }, {},
		  { .target = "a.service", .direction = "egress", .action = "deny",
		    .prefix = "10.0.0.1/8" },
		  "rule 0: invalid prefix '10.0.0.1/8': host bits set" },
		{ "icmp port", { .target = "a.service" }, {},
		  { GOOD_RULE, .proto = "icmp", .port_lo = 1, .port_hi = 1 },
		  "rule 0: port needs proto tcp or udp (or none)" },
		{ "reversed", { .target = "a.service" }, {},
		  { GOOD_RULE, .port_lo = 9, .port_hi = 8 }, "rule 0: invalid port range" },
		{ "zero lo", { .target = "a.service" }, {},
		  { GOOD_RULE, .port_lo = 0, .port_hi = 8 }, "rule 0: invalid port range" },
		{ "bad utf8", { .target = "a.service" }, {},
		  { GOOD_RULE, .comment = "\xc3(" }, "rule 0: invalid comment: not valid UTF-8" },
		/* What parse refuses, emit refuses: `export` of a store holding such a comment
		 * (written before comments were checked) must not make a file apply refuses. */
		{ "newline comment", { .target = "a.service" }, {},
		  { GOOD_RULE, .comment = "two\nlines" },
		  "rule 0: invalid comment: contains a control character" },
		{ "long comment", { .target = "a.service" }, {},
		  { GOOD_RULE, .comment = LONG_COMMENT "x" },
		  "rule 0: invalid comment: longer than 1024 bytes" },
		{ "orphan bad target", { .target = "a.service" }, {},
		  { .target = "nope", .direction = "egress", .action = "deny",
		    .prefix = "10.0.0.0/8" },
		  "rule 0: invalid target 'nope': " },
		{ "no rule target", { .target = "a.service" }, {},
		  { .direction = "egress", .action = "deny", .prefix = "10.0.0.0/8" },
		  "rule 0: no target" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct emit_bad *c = &cases[i];
		struct ug_file_unit units[2] = { c->unit, c->unit2 };
		struct ug_file_rule rule = c->rule;
		struct ug_policy_file pf = {
			.units = units, .n_units = c->unit2.target ? 2 : 1, .rules = &rule,
			.n_rules = 1,
		};
		char err[256] = "", *out = (char *)"garbage";
		size_t len = 99;
		int r = ug_policy_file_emit(&pf, &out, &len, err, sizeof(err));

		if (r != -EINVAL || strncmp(err, c->msg, strlen(c->msg)))
			fail_msg("%s: got %d '%s', want -EINVAL '%s...'", c->name, r, err, c->msg);
		assert_null(out);
		assert_int_equal(len, 0);
	}
}

struct bad_file {
	const char *yaml;
	int line;
	const char *phrase;
};

#define HDR "version: 1\nunits:\n"                       /* lines 1-2 */
#define UNIT HDR "  - target: a.service\n    rules:\n"  /* lines 1-4 */

static const struct bad_file bad_files[] = {
	/* YAML itself */
	{ HDR "  - target: a.service\n   mode: audit\n", 4, "YAML syntax error: " },
	{ "version: 1\nunits: [\n", 3, "YAML syntax error: " },
	{ HDR "  - target: \"a.service\n", 4, "YAML syntax error: " },
	{ "version: 1\nunits: []\n\xff\n", 3, "YAML syntax error: invalid leading UTF-8 octet" },
	{ "", 1, "empty policy file" },
	{ "# nothing here\n", 1, "empty policy file" },
	{ "version: 1\nunits: []\n---\nversion: 1\nunits: []\n", 3,
	  "more than one YAML document" },
	{ HDR "  - &u {target: a.service}\n  - *u\n", 3, "anchors are not supported ('&u')" },
	{ HDR "  - target: *name\n", 3, "aliases are not supported ('*name')" },
	{ "- version\n", 1, "the top level must be a mapping" },
	{ "? [a]\n: b\n", 1, "a mapping key must be a scalar, not a sequence" },

	/* top level */
	{ "units: []\n", 1, "missing 'version'" },
	{ "# v\nversion: 2\nunits: []\n", 2, "unsupported version 2 (expected 1)" },
	{ "version: one\nunits: []\n", 1, "unsupported version one (expected 1)" },
	{ "version: [1]\nunits: []\n", 1, "'version' must be a scalar, not a sequence" },
	{ "version: 1\n", 1, "missing 'units'" },
	{ "version: 1\nunits: []\nextra: 1\n", 3, "unknown key 'extra' (expected version, units)" },
	{ "version: 1\nunits: []\nversion: 1\n", 3, "duplicate key 'version'" },
	{ "version: 1\nunits: {}\n", 2, "'units' must be a sequence, not a mapping" },
	{ "version: 1\nunits:\n", 2, "'units' must be a sequence, not a scalar" },

	/* units */
	{ HDR "  - modee: audit\n    target: a.service\n", 3,
	  "unknown key 'modee' (expected target, mode, default-egress, default-ingress, harden, "
	  "rules)" },
	{ HDR "  - mode: audit\n", 3, "unit has no 'target'" },
	{ HDR "  - a.service\n", 3, "a unit must be a mapping, not a scalar" },
	{ HDR "  - target: a.timer\n", 3, "invalid target 'a.timer': " },
	{ HDR "  - target: system.slice/a.service\n", 3, "invalid target" },
	{ HDR "  - target: /a/../b\n", 3, "invalid target '/a/../b': " },
	{ HDR "  - target: {a: b}\n", 3, "'target' must be a scalar, not a mapping" },
	{ HDR "  - target: a.service\n    mode: loud\n", 4,
	  "invalid mode 'loud' (expected enforce, audit or off)" },
	{ HDR "  - target: a.service\n    mode: [audit]\n", 4,
	  "'mode' must be a scalar, not a sequence" },
	{ HDR "  - target: a.service\n    default-egress: block\n", 4,
	  "invalid default-egress 'block' (expected allow or deny)" },
	{ HDR "  - target: a.service\n    default-ingress: Deny\n", 4,
	  "invalid default-ingress 'Deny' (expected allow or deny)" },
	{ HDR "  - target: a.service\n    mode: audit\n    mode: off\n", 5,
	  "duplicate key 'mode'" },
	{ HDR "  - target: a.service\n    target: b.service\n", 4, "duplicate key 'target'" },
	{ HDR "  - target: a.service\n  - target: b.service\n  - target: a.service\n", 5,
	  "duplicate target 'a.service' (first at line 3)" },
	{ HDR "  - target: a.service\n    rules: none\n", 4,
	  "'rules' must be a sequence, not a scalar" },

	/* rules */
	{ UNIT "      - [egress, deny]\n", 5, "a rule must be a mapping, not a sequence" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, ports: 22}\n", 5,
	  "unknown key 'ports' (expected direction, action, prefix, proto, port, path, access, "
	  "family, comment)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, target: b.service}\n",
	  5, "unknown key 'target'" },
	{ UNIT "      - {action: deny, prefix: 10.0.0.0/8}\n", 5, "rule has no 'direction'" },
	{ UNIT "      - {direction: egress, prefix: 10.0.0.0/8}\n", 5, "rule has no 'action'" },
	{ UNIT "      - direction: egress\n        action: deny\n", 5, "rule has no 'prefix'" },
	{ UNIT "      - {direction: out, action: deny, prefix: 10.0.0.0/8}\n", 5,
	  "invalid direction 'out' (expected egress, ingress, bind, exec, file or family)" },
	{ UNIT "      - {direction: egress, action: drop, prefix: 10.0.0.0/8}\n", 5,
	  "invalid action 'drop' (expected allow or deny)" },
	{ UNIT "      - direction: egress\n        action: deny\n        prefix: 10.0.0.0/33\n", 7,
	  "invalid prefix '10.0.0.0/33': prefix length out of range (0-32)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.1/8}\n", 5,
	  "invalid prefix '10.0.0.1/8': host bits set" },
	{ UNIT "      - {direction: egress, action: deny, prefix: example.com}\n", 5,
	  "invalid prefix 'example.com': " },
	{ UNIT "      - {direction: egress, action: deny, prefix: [10.0.0.0/8]}\n", 5,
	  "'prefix' must be a scalar, not a sequence" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, proto: sctp}\n", 5,
	  "invalid proto 'sctp' (expected tcp, udp or icmp)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, proto: any}\n", 5,
	  "invalid proto 'any' (expected tcp, udp or icmp)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, port: 0}\n", 5,
	  "invalid port '0': port out of range (1-65535)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, port: 65536}\n", 5,
	  "invalid port '65536': port out of range (1-65535)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, port: https}\n", 5,
	  "invalid port 'https': " },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, port: 2000-1000}\n",
	  5,
	  "invalid port '2000-1000': port range reversed" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, port: [22]}\n", 5,
	  "'port' must be a scalar, not a sequence" },
	{ UNIT "      - direction: egress\n        action: deny\n        prefix: 10.0.0.0/8\n"
	       "        port: 22\n        proto: icmp\n", 8,
	  "port needs proto tcp or udp (or none)" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, comment: {a: b}}\n",
	  5,
	  "'comment' must be a scalar, not a mapping" },
	/* Comments: what `rule add --comment` refuses, and what would reach a terminal raw
	 * through `rule list`: line breaks, escapes, other controls, bidi overrides. */
	{ UNIT "      - direction: egress\n        action: deny\n        prefix: 10.0.0.0/8\n"
	       "        comment: \"two\\nlines\"\n", 8,
	  "invalid comment: contains a control character" },
	{ UNIT "      - direction: egress\n        action: deny\n        prefix: 10.0.0.0/8\n"
	       "        comment: |\n          two\n          lines\n", 8,
	  "invalid comment: contains a control character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8,\n"
	       "         comment: \"\\e[2J\\e[31mall clear\"}\n", 6,
	  "invalid comment: contains a control character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8,\n"
	       "         comment: \"a\\tb\"}\n", 6,
	  "invalid comment: contains a control character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8,\n"
	       "         comment: \"\\x7f\"}\n", 6,
	  "invalid comment: contains a control character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8,\n"
	       "         comment: \"\\x9b\"}\n", 6,
	  "invalid comment: contains a control character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, comment: \"\\L\"}\n",
	  5, "invalid comment: contains a Unicode line or paragraph separator" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8,\n"
	       "         comment: \"allow \\u202e10.0.0.0/8\"}\n", 6,
	  "invalid comment: contains a Unicode bidirectional control" },
	{ UNIT "      - {direction: egress, action: deny, prefix: 10.0.0.0/8, comment: \"\\0\"}\n",
	  5, "'comment' contains a NUL character" },
	{ UNIT "      - {direction: egress, action: deny, prefix: \"10.0.0.0/8\\0\"}\n", 5,
	  "'prefix' contains a NUL character" },
	{ UNIT "      - direction: egress\n        direction: ingress\n", 6,
	  "duplicate key 'direction'" },

	/* LSM rules: keys that belong to another kind, wherever they come */
	{ UNIT "      - {direction: exec, action: deny, path: /usr, prefix: 10.0.0.0/8}\n", 5,
	  "'prefix' is only for network rules, not exec rules" },
	{ UNIT "      - prefix: 10.0.0.0/8\n        direction: exec\n        action: deny\n", 5,
	  "'prefix' is only for network rules, not exec rules" },
	{ UNIT "      - {direction: exec, action: deny, path: /usr, proto: tcp}\n", 5,
	  "'proto' is only for network rules, not exec rules" },
	{ UNIT "      - direction: exec\n        action: deny\n        path: /x\n"
	       "        port: 22\n        proto: tcp\n", 8,
	  "'port' is only for network rules, not exec rules" },
	{ UNIT "      - {direction: file, action: deny, path: /etc, port: 22}\n", 5,
	  "'port' is only for network rules, not file rules" },
	{ UNIT "      - direction: exec\n        action: allow\n        path: /usr/bin\n"
	       "        access: read\n", 8,
	  "'access' is only for file rules, not exec rules" },
	{ UNIT "      - {direction: family, action: deny, family: packet, access: any}\n", 5,
	  "'access' is only for file rules, not family rules" },
	{ UNIT "      - {direction: family, action: deny, family: packet, path: /x}\n", 5,
	  "'path' is only for exec and file rules, not family rules" },
	{ UNIT "      - {direction: file, action: deny, path: /x, family: packet}\n", 5,
	  "'family' is only for family rules, not file rules" },
	{ UNIT "      - {direction: exec, action: deny, family: packet, path: /x}\n", 5,
	  "'family' is only for family rules, not exec rules" },
	{ UNIT "      - direction: egress\n        action: deny\n        prefix: 10.0.0.0/8\n"
	       "        path: /x\n", 8,
	  "'path' is only for exec and file rules, not egress rules" },
	{ UNIT "      - {direction: ingress, action: deny, prefix: 10.0.0.0/8, family: inet}\n", 5,
	  "'family' is only for family rules, not ingress rules" },
	{ UNIT "      - {direction: bind, action: deny, prefix: \"::/0\", access: read}\n", 5,
	  "'access' is only for file rules, not bind rules" },

	/* LSM rules: actions and missing keys */
	{ UNIT "      - direction: file\n        action: allow\n        path: /etc\n", 6,
	  "file rules can only deny" },
	{ UNIT "      - {family: packet, action: allow, direction: family}\n", 5,
	  "family rules can only deny" },
	{ UNIT "      - {direction: exec, action: deny}\n", 5, "rule has no 'path'" },
	{ UNIT "      - {direction: file, action: deny, access: read}\n", 5, "rule has no 'path'" },
	{ UNIT "      - {direction: family, action: deny}\n", 5, "rule has no 'family'" },
	{ UNIT "      - {direction: exec, action: block, path: /x}\n", 5,
	  "invalid action 'block' (expected allow or deny)" },

	/* LSM rules: values */
	{ UNIT "      - {direction: exec, action: deny, path: usr/bin}\n", 5,
	  "invalid path 'usr/bin': path is not absolute" },
	{ UNIT "      - direction: file\n        action: deny\n        path: /usr/../etc\n", 7,
	  "invalid path '/usr/../etc': '.' or '..' path component" },
	{ UNIT "      - {direction: file, action: deny, path: //etc}\n", 5,
	  "invalid path '//etc': empty path component" },
	{ UNIT "      - {direction: file, action: deny, path: \"/my file\"}\n", 5,
	  "invalid path '/my file': path contains a space" },
	{ UNIT "      - {direction: file, action: deny, path: [/etc]}\n", 5,
	  "'path' must be a scalar, not a sequence" },
	{ UNIT "      - {direction: file, action: deny, path: /etc, access: rw}\n", 5,
	  "invalid access 'rw' (expected read, write or any)" },
	{ UNIT "      - {direction: family, action: deny, family: packets}\n", 5,
	  "invalid family 'packets' (expected a socket family name such as packet or netlink, "
	  "or 1-63)" },
	{ UNIT "      - {direction: family, action: deny, family: 0}\n", 5, "invalid family '0'" },
	{ UNIT "      - {direction: family, action: deny, family: 64}\n", 5,
	  "invalid family '64'" },
	{ UNIT "      - {direction: family, action: deny, family: af_packet}\n", 5,
	  "invalid family 'af_packet'" },

	/* harden */
	{ HDR "  - target: a.service\n    harden: [bpf, kexec]\n", 4,
	  "invalid harden item 'kexec' (expected module-load, bpf, ptrace, mount or path-view)" },
	{ HDR "  - target: a.service\n    harden:\n      - bpf\n      - module_load\n", 6,
	  "invalid harden item 'module_load'" },
	{ HDR "  - target: a.service\n    harden: \"bpf,,mount\"\n", 4,
	  "invalid harden item '' (expected" },
	{ HDR "  - target: a.service\n    harden: bpf, mount\n", 4, "invalid harden item ' mount'" },
	{ HDR "  - target: a.service\n    harden: [\"bpf,mount\"]\n", 4,
	  "invalid harden item 'bpf,mount'" },
	{ HDR "  - target: a.service\n    harden: [\"\"]\n", 4, "invalid harden item ''" },
	{ HDR "  - target: a.service\n    harden: {bpf: true}\n", 4,
	  "'harden' must be a sequence or a scalar, not a mapping" },
	{ HDR "  - target: a.service\n    harden: [[bpf]]\n", 4,
	  "'harden' items must be scalars, not a sequence" },
	{ HDR "  - target: a.service\n    harden: [bpf]\n    harden: [mount]\n", 5,
	  "duplicate key 'harden'" },
};

static void test_bad_files(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_files); i++) {
		const struct bad_file *b = &bad_files[i];
		struct ug_policy_file pf;
		char err[256] = "", want[64];
		int r;

		/* Garbage in: a failed parse must leave it zeroed. */
		memset(&pf, 0xa5, sizeof(pf));
		r = ug_policy_file_parse(b->yaml, strlen(b->yaml), &pf, err, sizeof(err));
		snprintf(want, sizeof(want), "line %d: ", b->line);
		if (r != -EINVAL || strncmp(err, want, strlen(want)) || !strstr(err, b->phrase) ||
		    strchr(err, '\n'))
			fail_msg("case %zu: got %d '%s', want -EINVAL '%s...%s'\n%s", i, r, err,
				 want, b->phrase, b->yaml);
		assert_null(pf.units);
		assert_null(pf.rules);
		assert_int_equal(pf.n_units, 0);
		assert_int_equal(pf.n_rules, 0);
	}
}

/* The messages the brief spells out, matched whole. */
static void test_exact_messages(void **state)
{
	static const struct {
		const char *yaml, *err;
	} cases[] = {
		{ UNIT "      - direction: egress\n        action: deny\n"
		       "        prefix: 10.0.0.0/33\n",
		  "line 7: invalid prefix '10.0.0.0/33': prefix length out of range (0-32)" },
		{ HDR "  - modee: audit\n    target: a.service\n",
		  "line 3: unknown key 'modee' (expected target, mode, default-egress, "
		  "default-ingress, harden, rules)" },
		{ UNIT "      - direction: exec\n        action: deny\n        path: /usr\n"
		       "        prefix: 10.0.0.0/8\n",
		  "line 8: 'prefix' is only for network rules, not exec rules" },
		{ UNIT "      - direction: file\n        action: allow\n        path: /etc\n",
		  "line 6: file rules can only deny" },
		{ HDR "  - target: a.service\n    harden:\n      - bpf\n      - kexec\n",
		  "line 6: invalid harden item 'kexec' (expected module-load, bpf, ptrace, mount or path-view)" },
		{ UNIT "      - {direction: family, action: deny, family: packets}\n",
		  "line 5: invalid family 'packets' (expected a socket family name such as packet or "
		  "netlink, or 1-63)" },
		{ "# v\nversion: 2\nunits: []\n", "line 2: unsupported version 2 (expected 1)" },
		{ HDR "  - target: a.service\n  - target: a.service\n",
		  "line 4: duplicate target 'a.service' (first at line 3)" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ug_policy_file pf;
		char err[256];

		int r = ug_policy_file_parse(cases[i].yaml, strlen(cases[i].yaml), &pf, err,
					     sizeof(err));

		assert_int_equal(r, -EINVAL);
		assert_string_equal(err, cases[i].err);
	}
}

/* A long bad value is cut in the message, which stays one line. */
static void test_error_quotes_safely(void **state)
{
	char yaml[1024], err[256];
	struct ug_policy_file pf;

	snprintf(yaml, sizeof(yaml), HDR "  - target: a.service\n    mode: \"%0400d\\nx\"\n", 7);
	assert_int_equal(ug_policy_file_parse(yaml, strlen(yaml), &pf, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 4: invalid mode '0000"));
	assert_non_null(strstr(err, "...' (expected enforce, audit or off)"));
	assert_null(strchr(err, '\n'));

	snprintf(yaml, sizeof(yaml), HDR "  - target: a.service\n    mode: \"au\\ndit\"\n");
	assert_int_equal(ug_policy_file_parse(yaml, strlen(yaml), &pf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 4: invalid mode 'au?dit' (expected enforce, audit or off)");
}

/* Comments: 1024 bytes and any printable script are fine, one byte more or a tab is not,
 * and the error names the comment's line. */
static void test_comment_limits(void **state)
{
	static const char head[] = UNIT "      - direction: egress\n        action: deny\n"
				   "        prefix: 10.0.0.0/8\n        comment: \"";
	/* Latin, an arrow, Cyrillic, CJK, an emoji */
	static const char scripts[] = "caf\xc3\xa9 \xe2\x86\x92 \xd0\xb1\xd0\xb0\xd0\xb7\xd0\xb0 "
				      "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x92 ";
	char yaml[sizeof(head) + UG_COMMENT_MAX + 16], err[256];
	struct ug_policy_file pf;

	snprintf(yaml, sizeof(yaml), "%s%s\"\n", head, LONG_COMMENT);
	parse_ok(yaml, &pf);
	assert_int_equal(strlen(pf.rules[0].comment), UG_COMMENT_MAX);
	ug_policy_file_free(&pf);

	snprintf(yaml, sizeof(yaml), "%s%sx\"\n", head, LONG_COMMENT);
	assert_int_equal(ug_policy_file_parse(yaml, strlen(yaml), &pf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 8: invalid comment: longer than 1024 bytes");

	snprintf(yaml, sizeof(yaml), "%s%s\\u00a0nbsp\"\n", head, scripts);
	parse_ok(yaml, &pf);
	assert_memory_equal(pf.rules[0].comment, scripts, strlen(scripts));
	assert_string_equal(pf.rules[0].comment + strlen(scripts), "\xc2\xa0nbsp");
	ug_policy_file_free(&pf);

	snprintf(yaml, sizeof(yaml), "%sa\tb\"\n", head);
	assert_int_equal(ug_policy_file_parse(yaml, strlen(yaml), &pf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 8: invalid comment: contains a control character "
				 "(newline, tab, escape, ...)");
}

static void test_empty_units(void **state)
{
	struct ug_policy_file pf;
	char err[64], *out;
	size_t len;

	parse_ok("version: 1\nunits: []\n", &pf);
	assert_int_equal(pf.n_units, 0);
	assert_int_equal(pf.n_rules, 0);
	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	assert_string_equal(out, "version: 1\nunits: []\n");
	assert_int_equal(len, strlen(out));
	free(out);
	ug_policy_file_free(&pf);

	/* A unit with no rules and an explicit empty rules list. */
	parse_ok("---\nversion: \"1\"\nunits:\n- target: a.service\n  rules: []\n...\n", &pf);
	assert_int_equal(pf.n_units, 1);
	assert_int_equal(pf.n_rules, 0);
	check_unit(&pf.units[0], "a.service", NULL, NULL, NULL, 4);
	ug_policy_file_free(&pf);
}

static void test_size_limit(void **state)
{
	static const char head[] = "version: 1\nunits: [{target: a.service}]\n";
	size_t max = UG_POLICY_FILE_MAX;
	struct ug_policy_file pf;
	char err[128];
	char *buf = malloc(max + 1);

	assert_non_null(buf);
	/* Exactly the limit: accepted, the padding being a comment. */
	memset(buf, 'x', max + 1);
	memcpy(buf, head, strlen(head));
	buf[strlen(head)] = '#';
	assert_int_equal(ug_policy_file_parse(buf, max, &pf, err, sizeof(err)), 0);
	assert_int_equal(pf.n_units, 1);
	ug_policy_file_free(&pf);

	/* One byte more: refused before libyaml sees any of it. */
	memset(&pf, 0xa5, sizeof(pf));
	assert_int_equal(ug_policy_file_parse(buf, max + 1, &pf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "policy file too large (16777217 bytes, at most 16777216)");
	assert_null(pf.units);
	assert_int_equal(pf.n_units, 0);
	free(buf);
}

static void test_free_and_args(void **state)
{
	struct ug_policy_file pf = { 0 };
	char err[64], *out;
	size_t len;

	ug_policy_file_free(NULL);
	ug_policy_file_free(&pf);
	ug_policy_file_free(&pf);
	assert_int_equal(ug_policy_file_parse(NULL, 5, &pf, err, sizeof(err)), -EINVAL);
	assert_int_equal(ug_policy_file_parse("x", 1, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(ug_policy_file_emit(NULL, &out, &len, err, sizeof(err)), -EINVAL);
	/* err is optional. */
	assert_int_equal(ug_policy_file_parse("units: []", 9, &pf, NULL, 0), -EINVAL);
	/* NULL with length 0 is an empty file. */
	assert_int_equal(ug_policy_file_parse(NULL, 0, &pf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: empty policy file (expected 'version' and 'units')");
}

/* --- LSM rules and hardening ---------------------------------------------- */

static const char lsm[] =
	"version: 1\n"                                                  /* 1 */
	"units:\n"                                                      /* 2 */
	"  - target: web.service\n"                                     /* 3 */
	"    harden: [bpf, module-load, bpf]\n"                         /* 4 */
	"    rules:\n"                                                  /* 5 */
	"      - {direction: exec, action: deny, path: /}\n"            /* 6 */
	"      - direction: exec\n"                                     /* 7 */
	"        action: allow\n"                                       /* 8 */
	"        path: /usr/bin/\n"                                     /* 9 */
	"        comment: \"system binaries\"\n"                        /* 10 */
	"      - {direction: file, action: deny, path: /etc/shadow, access: read}\n" /* 11 */
	"      - {access: write, path: /var/lib, action: deny, direction: file}\n" /* 12 */
	"      - {direction: file, action: deny, path: /srv/}\n"        /* 13 */
	"      - {direction: family, action: deny, family: packet}\n"   /* 14 */
	"      - {direction: family, action: deny, family: 16}\n"       /* 15 */
	"      - {direction: family, action: deny, family: \"50\"}\n"   /* 16 */
	"      - {direction: egress, action: deny, prefix: 10.0.0.0/8}\n" /* 17 */
	"  - target: a.service\n"                                       /* 18 */
	"    harden: \"ptrace,mount\"\n"                                /* 19 */
	"  - target: b.service\n"                                       /* 20 */
	"    harden: []\n"                                              /* 21 */
	"  - harden:\n"                                                 /* 22 */
	"      - mount\n"                                               /* 23 */
	"      - module-load\n"                                         /* 24 */
	"    target: c.service\n"                                       /* 25 */
	"  - target: d.service\n";                                      /* 26 */

static void check_lsm_rule(const struct ug_file_rule *r, const char *target, const char *dir,
			   const char *action, const char *what, const char *access,
			   const char *comment, int line)
{
	check_rule(r, target, dir, action, what, NULL, 0, 0, comment, line);
	assert_str_or_null(r->access, access);
}

static void check_lsm(const struct ug_policy_file *pf, bool lines)
{
#define L(n) (lines ? (n) : -1)
	assert_int_equal(pf->n_units, 5);
	check_unit(&pf->units[0], "web.service", NULL, NULL, NULL, L(3));
	/* Canonical: bit order, each switch once. */
	assert_string_equal(pf->units[0].harden, "module-load,bpf");
	check_unit(&pf->units[1], "a.service", NULL, NULL, NULL, L(18));
	assert_string_equal(pf->units[1].harden, "ptrace,mount");
	/* An empty list says "none", unlike a missing key. */
	check_unit(&pf->units[2], "b.service", NULL, NULL, NULL, L(20));
	assert_string_equal(pf->units[2].harden, "");
	check_unit(&pf->units[3], "c.service", NULL, NULL, NULL, L(22));
	assert_string_equal(pf->units[3].harden, "module-load,mount");
	check_unit(&pf->units[4], "d.service", NULL, NULL, NULL, L(26));
	assert_null(pf->units[4].harden);

	assert_int_equal(pf->n_rules, 9);
	check_lsm_rule(&pf->rules[0], "web.service", "exec", "deny", "/", NULL, NULL, L(6));
	check_lsm_rule(&pf->rules[1], "web.service", "exec", "allow", "/usr/bin", NULL,
		       "system binaries", L(7));
	check_lsm_rule(&pf->rules[2], "web.service", "file", "deny", "/etc/shadow", "read", NULL,
		       L(11));
	check_lsm_rule(&pf->rules[3], "web.service", "file", "deny", "/var/lib", "write", NULL,
		       L(12));
	/* access defaults to any, and is then given. */
	check_lsm_rule(&pf->rules[4], "web.service", "file", "deny", "/srv", "any", NULL, L(13));
	check_lsm_rule(&pf->rules[5], "web.service", "family", "deny", "packet", NULL, NULL, L(14));
	/* A number with a name is written as the name; one without stays a number. */
	check_lsm_rule(&pf->rules[6], "web.service", "family", "deny", "netlink", NULL, NULL, L(15));
	check_lsm_rule(&pf->rules[7], "web.service", "family", "deny", "50", NULL, NULL, L(16));
	check_rule(&pf->rules[8], "web.service", "egress", "deny", "10.0.0.0/8", NULL, 0, 0, NULL,
		   L(17));
#undef L
}

static const char lsm_emitted[] =
	"version: 1\n"
	"units:\n"
	"- target: web.service\n"
	"  harden: [module-load, bpf]\n"
	"  rules:\n"
	"  - direction: exec\n"
	"    action: deny\n"
	"    path: /\n"
	"  - direction: exec\n"
	"    action: allow\n"
	"    path: /usr/bin\n"
	"    comment: \"system binaries\"\n"
	"  - direction: file\n"
	"    action: deny\n"
	"    path: /etc/shadow\n"
	"    access: read\n"
	"  - direction: file\n"
	"    action: deny\n"
	"    path: /var/lib\n"
	"    access: write\n"
	"  - direction: file\n"
	"    action: deny\n"
	"    path: /srv\n"
	"    access: any\n"
	"  - direction: family\n"
	"    action: deny\n"
	"    family: packet\n"
	"  - direction: family\n"
	"    action: deny\n"
	"    family: netlink\n"
	"  - direction: family\n"
	"    action: deny\n"
	"    family: 50\n"
	"  - direction: egress\n"
	"    action: deny\n"
	"    prefix: 10.0.0.0/8\n"
	"- target: a.service\n"
	"  harden: [ptrace, mount]\n"
	"- target: b.service\n"
	"  harden: []\n"
	"- target: c.service\n"
	"  harden: [module-load, mount]\n"
	"- target: d.service\n";

static void test_parse_lsm(void **state)
{
	struct ug_policy_file pf;

	parse_ok(lsm, &pf);
	check_lsm(&pf, true);
	ug_policy_file_free(&pf);
	assert_null(pf.units);
	assert_null(pf.rules);
}

static void test_emit_lsm_roundtrip(void **state)
{
	struct ug_policy_file pf, again;
	char err[256] = "untouched", *out, *out2;
	size_t len, len2;

	parse_ok(lsm, &pf);
	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(out, lsm_emitted);
	assert_int_equal(len, strlen(lsm_emitted));

	parse_ok(out, &again);
	check_lsm(&again, false);
	assert_files_equal(&pf, &again);

	assert_int_equal(ug_policy_file_emit(&again, &out2, &len2, err, sizeof(err)), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(out2, out, len);

	free(out);
	free(out2);
	ug_policy_file_free(&pf);
	ug_policy_file_free(&again);
}

/* Paths full of YAML indicators stay the same paths through emit and parse. */
static void test_emit_roundtrip_odd_paths(void **state)
{
	static const char *const paths[] = {
		"/#x", "/a:b", "/a:", "/[x]", "/{y}", "/a,b", "/&z", "/*", "/!x", "/%",
		"/'q'", "/\"dq\"", "/-", "/?", "/|", "/>", "/@", "/`", "/a#b", "/~",
		"/true", "/null", "/1", "/.x", "/x/..y",
	};
	struct ug_file_unit unit = { .target = "a.service" };
	struct ug_file_rule rules[ARRAY_SIZE(paths)];
	struct ug_policy_file pf = {
		.units = &unit, .n_units = 1, .rules = rules, .n_rules = ARRAY_SIZE(rules),
	}, back;
	char err[256], *out;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		rules[i] = (struct ug_file_rule){
			.target = "a.service", .direction = i % 2 ? "exec" : "file",
			.action = "deny", .prefix = (char *)paths[i],
			.access = i % 2 ? NULL : "read",
		};
	if (ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)))
		fail_msg("emit: %s", err);
	parse_ok(out, &back);
	assert_files_equal(&pf, &back);
	free(out);
	ug_policy_file_free(&back);
}

static void test_emit_lsm_canonicalises(void **state)
{
	struct ug_file_unit units[] = {
		{ .target = "a.service", .harden = "mount,bpf,mount" },
		{ .target = "b.service", .harden = "" },
	};
	struct ug_file_rule rules[] = {
		{ .target = "a.service", .direction = "exec", .action = "allow",
		  .prefix = "/usr/bin/" },
		/* No access on a file rule is the default, any, written out. */
		{ .target = "a.service", .direction = "file", .action = "deny", .prefix = "/etc/" },
		{ .target = "a.service", .direction = "family", .action = "deny", .prefix = "17" },
	};
	struct ug_policy_file pf = {
		.units = units, .n_units = ARRAY_SIZE(units),
		.rules = rules, .n_rules = ARRAY_SIZE(rules),
	};
	char err[256], *out;
	size_t len;

	assert_int_equal(ug_policy_file_emit(&pf, &out, &len, err, sizeof(err)), 0);
	assert_string_equal(out, "version: 1\n"
				 "units:\n"
				 "- target: a.service\n"
				 "  harden: [bpf, mount]\n"
				 "  rules:\n"
				 "  - direction: exec\n"
				 "    action: allow\n"
				 "    path: /usr/bin\n"
				 "  - direction: file\n"
				 "    action: deny\n"
				 "    path: /etc\n"
				 "    access: any\n"
				 "  - direction: family\n"
				 "    action: deny\n"
				 "    family: packet\n"
				 "- target: b.service\n"
				 "  harden: []\n");
	free(out);
}

#define LSM_RULE(dir, act, what) .target = "a.service", .direction = dir, .action = act, \
				 .prefix = what

static void test_emit_lsm_bad(void **state)
{
	static const struct emit_bad cases[] = {
		{ "exec proto", { .target = "a.service" }, {},
		  { LSM_RULE("exec", "deny", "/usr"), .proto = "tcp" },
		  "rule 0: proto is only for network rules, not exec rules" },
		{ "exec port", { .target = "a.service" }, {},
		  { LSM_RULE("exec", "deny", "/usr"), .port_lo = 22, .port_hi = 22 },
		  "rule 0: port is only for network rules, not exec rules" },
		{ "family port hi", { .target = "a.service" }, {},
		  { LSM_RULE("family", "deny", "packet"), .port_hi = 22 },
		  "rule 0: port is only for network rules, not family rules" },
		{ "file allow", { .target = "a.service" }, {},
		  { LSM_RULE("file", "allow", "/etc"), .access = "read" },
		  "rule 0: file rules can only deny" },
		{ "family allow", { .target = "a.service" }, {},
		  { LSM_RULE("family", "allow", "packet") }, "rule 0: family rules can only deny" },
		{ "access on exec", { .target = "a.service" }, {},
		  { LSM_RULE("exec", "deny", "/usr"), .access = "read" },
		  "rule 0: access is only for file rules, not exec rules" },
		{ "access on egress", { .target = "a.service" }, {},
		  { GOOD_RULE, .access = "any" },
		  "rule 0: access is only for file rules, not egress rules" },
		{ "bad access", { .target = "a.service" }, {},
		  { LSM_RULE("file", "deny", "/etc"), .access = "rw" },
		  "rule 0: invalid access 'rw' (expected read, write or any)" },
		{ "exec no path", { .target = "a.service" }, {},
		  { LSM_RULE("exec", "deny", NULL) }, "rule 0: no path" },
		{ "family no family", { .target = "a.service" }, {},
		  { LSM_RULE("family", "deny", NULL) }, "rule 0: no family" },
		{ "relative path", { .target = "a.service" }, {},
		  { LSM_RULE("exec", "deny", "usr/bin") },
		  "rule 0: invalid path 'usr/bin': path is not absolute" },
		{ "prefix as path", { .target = "a.service" }, {},
		  { LSM_RULE("file", "deny", "10.0.0.0/8") },
		  "rule 0: invalid path '10.0.0.0/8': path is not absolute" },
		{ "path as prefix", { .target = "a.service" }, {},
		  { LSM_RULE("egress", "deny", "/etc") }, "rule 0: invalid prefix '/etc': " },
		{ "bad family", { .target = "a.service" }, {},
		  { LSM_RULE("family", "deny", "packets") }, "rule 0: invalid family 'packets'" },
		{ "bad direction", { .target = "a.service" }, {},
		  { LSM_RULE("up", "deny", "/x") },
		  "rule 0: invalid direction 'up' (expected egress, ingress, bind, exec, file or "
		  "family)" },
		{ "bad harden", { .target = "a.service", .harden = "bpf,kexec" }, {}, { GOOD_RULE },
		  "unit 0: invalid harden item 'kexec' (expected module-load, bpf, ptrace, mount or path-view)" },
		{ "harden empty item", { .target = "a.service", .harden = "bpf," }, {},
		  { GOOD_RULE }, "unit 0: invalid harden item ''" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct emit_bad *c = &cases[i];
		struct ug_file_unit units[1] = { c->unit };
		struct ug_file_rule rule = c->rule;
		struct ug_policy_file pf = { .units = units, .n_units = 1, .rules = &rule,
					     .n_rules = 1 };
		char err[256] = "", *out = (char *)"garbage";
		size_t len = 99;
		int r = ug_policy_file_emit(&pf, &out, &len, err, sizeof(err));

		if (r != -EINVAL || strncmp(err, c->msg, strlen(c->msg)))
			fail_msg("%s: got %d '%s', want -EINVAL '%s...'", c->name, r, err, c->msg);
		assert_null(out);
		assert_int_equal(len, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_not_nul_terminated),
		cmocka_unit_test(test_emit_roundtrip),
		cmocka_unit_test(test_emit_roundtrip_comments),
		cmocka_unit_test(test_comment_limits),
		cmocka_unit_test(test_emit_grouping),
		cmocka_unit_test(test_emit_canonicalises),
		cmocka_unit_test(test_emit_bad),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_exact_messages),
		cmocka_unit_test(test_error_quotes_safely),
		cmocka_unit_test(test_empty_units),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_free_and_args),
		cmocka_unit_test(test_parse_lsm),
		cmocka_unit_test(test_emit_lsm_roundtrip),
		cmocka_unit_test(test_emit_roundtrip_odd_paths),
		cmocka_unit_test(test_emit_lsm_canonicalises),
		cmocka_unit_test(test_emit_lsm_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
