// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "file.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Error messages quote at most this many bytes of a bad value: the value
 * may be a megabyte of garbage, and err is one line. */
#define SHOW_MAX 64
#define SHOW_BUF (SHOW_MAX + 4)
#define MSG_MAX 512
/* Room for any canonical value canon_value() builds: a path is the longest. */
#define CANON_BUF (UG_PATH_MAX > UG_PREFIX_STRLEN ? UG_PATH_MAX : UG_PREFIX_STRLEN)

static const char *const top_keys[] = { "version", "units" };
enum { TOP_VERSION, TOP_UNITS };

static const char *const unit_keys[] = {
	"target", "mode", "default-egress", "default-ingress", "harden", "rules",
};
enum {
	UNIT_TARGET, UNIT_MODE, UNIT_DEFAULT_EGRESS, UNIT_DEFAULT_INGRESS, UNIT_HARDEN,
	UNIT_RULES,
};

static const char *const rule_keys[] = {
	"direction", "action", "prefix", "proto", "port", "path", "access", "family", "comment",
};
enum {
	RULE_DIRECTION, RULE_ACTION, RULE_PREFIX, RULE_PROTO, RULE_PORT, RULE_PATH, RULE_ACCESS,
	RULE_FAMILY, RULE_COMMENT,
};

/*
 * What a rule's direction makes of it. ug_dir_parse() knows only the network
 * directions, which share one shape; the LSM kinds are directions only in
 * the file, each with keys of its own.
 */
enum rkind { RK_NET, RK_EXEC, RK_FILE, RK_FAMILY, RK_MAX };

static const char *const rkind_dirs[] = {
	[RK_EXEC] = "exec", [RK_FILE] = "file", [RK_FAMILY] = "family",
};

/* Bit (1 << RULE_*) set: the key may appear in a rule of that kind. */
#define KEY(k) (1u << (k))
#define COMMON_KEYS (KEY(RULE_DIRECTION) | KEY(RULE_ACTION) | KEY(RULE_COMMENT))
static const unsigned int rkind_keys[RK_MAX] = {
	[RK_NET] = COMMON_KEYS | KEY(RULE_PREFIX) | KEY(RULE_PROTO) | KEY(RULE_PORT),
	[RK_EXEC] = COMMON_KEYS | KEY(RULE_PATH),
	[RK_FILE] = COMMON_KEYS | KEY(RULE_PATH) | KEY(RULE_ACCESS),
	[RK_FAMILY] = COMMON_KEYS | KEY(RULE_FAMILY),
};

/* For the message when a key is used in the wrong kind of rule. */
static const char *const key_owner[] = {
	[RULE_PREFIX] = "network rules", [RULE_PROTO] = "network rules",
	[RULE_PORT] = "network rules",   [RULE_PATH] = "exec and file rules",
	[RULE_ACCESS] = "file rules",    [RULE_FAMILY] = "family rules",
};

/* Fields whose value has a canonical form, checked by a policy.h parser. */
enum kind {
	K_TARGET, K_MODE, K_POSTURE, K_DIRECTION, K_ACTION, K_PREFIX, K_PROTO, K_PATH, K_ACCESS,
	K_FAMILY, K_HARDEN,
};

#define HARDEN_EXPECTED "module-load, bpf, ptrace, mount or path-view"

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Make untrusted text safe to quote in a one-line message: control
 * characters would break the line, and a long value would push out the
 * rest of the message. The cut backs off to a UTF-8 character boundary.
 */
static const char *show(const char *s, char buf[SHOW_BUF])
{
	size_t n;

	for (n = 0; s[n] && n < SHOW_MAX; n++)
		buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
	if (!s[n]) {
		buf[n] = '\0';
		return buf;
	}
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf + n, "...", 4);
	return buf;
}

static void join(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The kind of rule a canonical direction makes. */
static enum rkind rule_kind(const char *direction)
{
	for (size_t i = 0; i < ARRAY_SIZE(rkind_dirs); i++)
		if (rkind_dirs[i] && !strcmp(direction, rkind_dirs[i]))
			return (enum rkind)i;
	return RK_NET;
}

/*
 * One item of a harden list, of len bytes (a sequence item, or a piece of a
 * comma string), ORed into *bits. ug_harden_parse() cannot quote the item
 * back, so the message is made here.
 */
static int harden_item(const char *item, size_t len, int *bits, char *msg, size_t msglen)
{
	char buf[SHOW_MAX + 2], shown[SHOW_BUF];
	size_t n = len < SHOW_MAX + 1 ? len : SHOW_MAX + 1;
	int r = -EINVAL;

	/* No name is that long: a cut copy fails all the same, and show()
	 * still marks it as cut. */
	memcpy(buf, item, n);
	buf[n] = '\0';
	/* "" and "a,b" are lists to ug_harden_parse(), not items. */
	if (n && !strchr(buf, ','))
		r = ug_harden_parse(buf, NULL);
	if (r < 0) {
		snprintf(msg, msglen, "invalid harden item '%s' (expected %s)", show(buf, shown),
			 HARDEN_EXPECTED);
		return -EINVAL;
	}
	*bits |= r;
	return 0;
}

/* A comma string, "module-load,bpf", canonical in cbuf; "" is the empty list. */
static const char *canon_harden(const char *v, char cbuf[CANON_BUF], char *msg, size_t msglen)
{
	const char *c, *end;
	int bits = 0;

	for (c = v; *v; c = end + 1) {
		end = strchrnul(c, ',');
		if (harden_item(c, (size_t)(end - c), &bits, msg, msglen) < 0)
			return NULL;
		if (!*end)
			break;
	}
	if (ug_harden_format(bits, cbuf, CANON_BUF) < 0) {
		snprintf(msg, msglen, "harden cannot be formatted");
		return NULL;
	}
	return cbuf;
}

/*
 * Check a value with its policy.h parser and return its canonical text (a
 * static string, v itself for a target, or cbuf). On error, return NULL with
 * what is wrong in msg; parse and emit add the location.
 */
static const char *canon_value(enum kind k, const char *key, const char *v,
			       char cbuf[CANON_BUF], char *msg, size_t msglen)
{
	char shown[SHOW_BUF];
	const char *why = NULL, *expected = NULL;
	struct ug_prefix p;
	int r;

	switch (k) {
	case K_TARGET:
		if (ug_target_parse(v, &why) < 0)
			break;
		return v;
	case K_MODE:
		r = ug_mode_parse(v);
		if (r >= 0)
			return ug_mode_name(r);
		expected = "enforce, audit or off";
		break;
	case K_POSTURE:
	case K_ACTION:
		r = ug_action_parse(v);
		if (r >= 0)
			return ug_action_name(r);
		expected = "allow or deny";
		break;
	case K_DIRECTION:
		r = ug_dir_parse(v);
		if (r >= 0)
			return ug_dir_name(r);
		for (size_t i = 0; i < ARRAY_SIZE(rkind_dirs); i++)
			if (rkind_dirs[i] && !strcmp(v, rkind_dirs[i]))
				return rkind_dirs[i];
		expected = "egress, ingress, bind, exec, file or family";
		break;
	case K_PREFIX:
		if (ug_prefix_parse(v, &p, &why) < 0)
			break;
		if (ug_prefix_format(&p, cbuf, CANON_BUF) < 0) {
			why = "cannot be formatted";
			break;
		}
		return cbuf;
	case K_PATH:
		if (ug_path_parse(v, cbuf, CANON_BUF, &why) < 0)
			break;
		return cbuf;
	case K_ACCESS:
		r = ug_access_parse(v);
		if (r >= 0)
			return ug_access_name(r);
		expected = "read, write or any";
		break;
	case K_FAMILY:
		r = ug_family_parse(v);
		if (r < 0) {
			expected = "a socket family name such as packet or netlink, or 1-63";
			break;
		}
		/* A number is canonical only for a family without a name. */
		if (!strcmp(ug_family_name(r), "unknown")) {
			snprintf(cbuf, CANON_BUF, "%d", r);
			return cbuf;
		}
		return ug_family_name(r);
	case K_HARDEN:
		return canon_harden(v, cbuf, msg, msglen);
	case K_PROTO:
		/* 0 is "any", which the file spells by leaving proto out. */
		r = ug_proto_parse(v);
		if (r > 0)
			return ug_proto_name(r);
		expected = "tcp, udp or icmp";
		break;
	}
	if (expected)
		snprintf(msg, msglen, "invalid %s '%s' (expected %s)", key, show(v, shown),
			 expected);
	else
		snprintf(msg, msglen, "invalid %s '%s': %s", key, show(v, shown),
			 why ? why : "not valid");
	return NULL;
}

static const char *port_problem(const char *proto, uint16_t lo, uint16_t hi)
{
	if (!lo && !hi)
		return NULL;
	if (!lo || lo > hi)
		return "invalid port range";
	if (proto && !strcmp(proto, "icmp"))
		return "port needs proto tcp or udp (or none)";
	return NULL;
}

/*
 * Return arr with room for one more element beyond n, reallocated when
 * full, or NULL (arr untouched) when out of memory.
 */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return arr;
	new_cap = *cap ? *cap * 2 : 8;
	p = reallocarray(arr, new_cap, size);
	if (p)
		*cap = new_cap;
	return p;
}

static int target_cmp(const char *a, const void *pa, const char *b, const void *pb)
{
	int r = strcmp(a, b);

	if (r)
		return r;
	/* Elements of one array: address order is file order. */
	return (pa > pb) - (pa < pb);
}

static int unit_ptr_cmp(const void *a, const void *b)
{
	const struct ug_file_unit *x = *(const struct ug_file_unit *const *)a;
	const struct ug_file_unit *y = *(const struct ug_file_unit *const *)b;

	return target_cmp(x->target, x, y->target, y);
}

static int rule_ptr_cmp(const void *a, const void *b)
{
	const struct ug_file_rule *x = *(const struct ug_file_rule *const *)a;
	const struct ug_file_rule *y = *(const struct ug_file_rule *const *)b;

	return target_cmp(x->target, x, y->target, y);
}

/* Sorted by target, then array order. NULL for n == 0 is not an error. */
static const struct ug_file_unit **sort_units(const struct ug_file_unit *units, size_t n)
{
	const struct ug_file_unit **s = calloc(n ? n : 1, sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = &units[i];
	qsort(s, n, sizeof(*s), unit_ptr_cmp);
	return s;
}

/*
 * The earliest unit (in array order) whose target an earlier unit already
 * has, with that earlier unit in *first; NULL when targets are unique.
 */
static const struct ug_file_unit *find_duplicate(const struct ug_file_unit **sorted, size_t n,
						 const struct ug_file_unit **first)
{
	const struct ug_file_unit *dup = NULL;

	for (size_t i = 1; i < n; i++) {
		if (strcmp(sorted[i]->target, sorted[i - 1]->target))
			continue;
		/* Only the second of a group: the third is later still. */
		if (i >= 2 && !strcmp(sorted[i]->target, sorted[i - 2]->target))
			continue;
		if (!dup || sorted[i] < dup) {
			dup = sorted[i];
			*first = sorted[i - 1];
		}
	}
	return dup;
}

/* ------------------------------------------------------------------------ */
/* Parsing: a recursive descent over libyaml's event stream. Events rather
 * than yaml_parser_load() because the loader resolves aliases silently and
 * keeps no anchors, and both must be refused. */

struct parser {
	yaml_parser_t yaml;
	yaml_event_t ev; /* the current event, valid when have_ev */
	bool have_ev;
	const char *buf;
	size_t len;
	char *err;
	size_t errlen;
	struct ug_policy_file pf; /* being built; freed by the caller on error */
	size_t units_cap, rules_cap;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct parser *p, int line, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(p->err, p->errlen, "line %d: %s", line, msg);
	return -EINVAL;
}

static int oom(struct parser *p)
{
	set_err(p->err, p->errlen, "out of memory");
	return -ENOMEM;
}

static int mark_line(const yaml_mark_t *m)
{
	return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int cur_line(const struct parser *p)
{
	return mark_line(&p->ev.start_mark);
}

static const char *kind_of(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "a scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int syntax_error(struct parser *p)
{
	const char *problem = p->yaml.problem ? p->yaml.problem : "unknown error";
	int line;

	if (p->yaml.error == YAML_MEMORY_ERROR)
		return oom(p);
	if (p->yaml.error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		size_t end = p->yaml.problem_offset < p->len ? p->yaml.problem_offset : p->len;

		line = 1;
		for (size_t i = 0; i < end; i++)
			if (p->buf[i] == '\n' && line < INT32_MAX)
				line++;
		return fail(p, line, "YAML syntax error: %s", problem);
	}
	line = mark_line(&p->yaml.problem_mark);
	if (p->yaml.context)
		return fail(p, line, "YAML syntax error: %s (%s at line %d)", problem,
			    p->yaml.context, mark_line(&p->yaml.context_mark));
	return fail(p, line, "YAML syntax error: %s", problem);
}

/* Move to the next event; refuse aliases and anchors on the way. */
static int next(struct parser *p)
{
	char shown[SHOW_BUF];
	const yaml_char_t *anchor;

	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = false;
	}
	if (!yaml_parser_parse(&p->yaml, &p->ev))
		return syntax_error(p);
	p->have_ev = true;

	switch (p->ev.type) {
	case YAML_ALIAS_EVENT:
		return fail(p, cur_line(p), "aliases are not supported ('*%s')",
			    show((const char *)p->ev.data.alias.anchor, shown));
	case YAML_SCALAR_EVENT:
		anchor = p->ev.data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = p->ev.data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = p->ev.data.mapping_start.anchor;
		break;
	default:
		return 0;
	}
	if (anchor)
		return fail(p, cur_line(p), "anchors are not supported ('&%s')",
			    show((const char *)anchor, shown));
	return 0;
}

/* The current event, a scalar value of key, as a new string. */
static int take_scalar(struct parser *p, const char *key, char **out)
{
	const char *v = (const char *)p->ev.data.scalar.value;
	size_t n;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, cur_line(p), "'%s' must be a scalar, not %s", key, kind_of(&p->ev));
	n = p->ev.data.scalar.length;
	/* A double-quoted "\0" would silently cut the C string short. */
	if (memchr(v, '\0', n))
		return fail(p, cur_line(p), "'%s' contains a NUL character", key);
	*out = strndup(v, n);
	if (!*out)
		return oom(p);
	return 0;
}

/* The current event as a field with a canonical form, stored canonical. */
static int take_field(struct parser *p, enum kind k, const char *key, char **out)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	int line = cur_line(p), r;
	const char *c;
	char *v;

	r = take_scalar(p, key, &v);
	if (r < 0)
		return r;
	c = canon_value(k, key, v, cbuf, msg, sizeof(msg));
	if (!c) {
		r = fail(p, line, "%s", msg);
		goto free_value;
	}
	*out = strdup(c);
	if (!*out)
		r = oom(p);
free_value:
	free(v);
	return r;
}

/* A comment is free text, but `rule list` prints it: checked as `rule add --comment` is. */
static int take_comment(struct parser *p, char **out)
{
	const char *why = NULL;
	int line = cur_line(p), r;

	r = take_scalar(p, "comment", out);
	if (r < 0)
		return r;
	if (ug_comment_validate(*out, &why) < 0)
		return fail(p, line, "invalid comment: %s", why);
	return 0;
}

static int take_port(struct parser *p, struct ug_file_rule *rule)
{
	char shown[SHOW_BUF];
	const char *why = NULL;
	int line = cur_line(p), r;
	char *v;

	/* Plain 443, plain 1000-2000 and quoted "1000-2000" are all one
	 * scalar text to ug_ports_parse: YAML typing plays no part. */
	r = take_scalar(p, "port", &v);
	if (r < 0)
		return r;
	if (ug_ports_parse(v, &rule->port_lo, &rule->port_hi, &why) < 0)
		r = fail(p, line, "invalid port '%s': %s", show(v, shown), why ? why : "not valid");
	free(v);
	return r;
}

/* harden: a sequence of names, or one comma string; stored canonical. */
static int take_harden(struct parser *p, char **out)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	int bits = 0, r;
	char *v;

	if (p->ev.type == YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "'harden' must be a sequence or a scalar, not a mapping");
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return take_field(p, K_HARDEN, "harden", out);
	for (;;) {
		int line;

		r = next(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		line = cur_line(p);
		if (p->ev.type != YAML_SCALAR_EVENT)
			return fail(p, line, "'harden' items must be scalars, not %s",
				    kind_of(&p->ev));
		r = take_scalar(p, "harden", &v);
		if (r < 0)
			return r;
		r = harden_item(v, strlen(v), &bits, msg, sizeof(msg));
		free(v);
		if (r < 0)
			return fail(p, line, "%s", msg);
	}
	if (ug_harden_format(bits, cbuf, sizeof(cbuf)) < 0)
		return fail(p, cur_line(p), "harden cannot be formatted");
	*out = strdup(cbuf);
	if (!*out)
		return oom(p);
	return 0;
}

static int take_version(struct parser *p)
{
	char shown[SHOW_BUF];
	int line = cur_line(p), r;
	char *v;

	r = take_scalar(p, "version", &v);
	if (r < 0)
		return r;
	if (strcmp(v, "1"))
		r = fail(p, line, "unsupported version %s (expected 1)", show(v, shown));
	free(v);
	return r;
}

/*
 * After a mapping start: read the next key, check it is known and new, and
 * move to its value. Returns 1 with *idx set, 0 at the end of the mapping,
 * or a negative errno.
 */
static int next_key(struct parser *p, const char *const *names, size_t n, unsigned int *seen,
		    size_t *idx)
{
	char shown[SHOW_BUF], expected[MSG_MAX / 2];
	const char *key;
	size_t i, len;
	int r;

	r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type == YAML_MAPPING_END_EVENT)
		return 0;
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, cur_line(p), "a mapping key must be a scalar, not %s",
			    kind_of(&p->ev));
	key = (const char *)p->ev.data.scalar.value;
	len = p->ev.data.scalar.length;
	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], key, len))
			break;
	if (i == n) {
		join(names, n, expected, sizeof(expected));
		return fail(p, cur_line(p), "unknown key '%s' (expected %s)", show(key, shown),
			    expected);
	}
	if (*seen & (1u << i))
		return fail(p, cur_line(p), "duplicate key '%s'", names[i]);
	*seen |= 1u << i;
	*idx = i;
	r = next(p);
	return r < 0 ? r : 1;
}

static int parse_sequence(struct parser *p, const char *key, int (*item)(struct parser *p))
{
	int r;

	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, cur_line(p), "'%s' must be a sequence, not %s", key,
			    kind_of(&p->ev));
	for (;;) {
		r = next(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		r = item(p);
		if (r < 0)
			return r;
	}
}

/*
 * The checks that need the whole rule: the direction decides which keys
 * belong, and keys come in any order. key_line[k] is the line of key k's
 * value, 0 when absent. *what is the path or family, moved into
 * rule->prefix once it is known to belong.
 */
static int check_rule(struct parser *p, struct ug_file_rule *rule, const int *key_line,
		      char **what)
{
	size_t bad = ARRAY_SIZE(rule_keys);
	enum rkind kind;

	if (!rule->direction)
		return fail(p, rule->line, "rule has no 'direction'");
	if (!rule->action)
		return fail(p, rule->line, "rule has no 'action'");
	kind = rule_kind(rule->direction);
	/* Of the keys that do not belong, blame the first in the file. */
	for (size_t k = 0; k < ARRAY_SIZE(rule_keys); k++)
		if (key_line[k] && !(rkind_keys[kind] & KEY(k)) &&
		    (bad == ARRAY_SIZE(rule_keys) || key_line[k] < key_line[bad]))
			bad = k;
	if (bad < ARRAY_SIZE(rule_keys))
		return fail(p, key_line[bad], "'%s' is only for %s, not %s rules", rule_keys[bad],
			    key_owner[bad], rule->direction);

	switch (kind) {
	case RK_NET:
		if (!rule->prefix)
			return fail(p, rule->line, "rule has no 'prefix'");
		/* Checked at the end: proto may come after port. */
		if (key_line[RULE_PORT] && rule->proto && !strcmp(rule->proto, "icmp"))
			return fail(p, key_line[RULE_PORT], "port needs proto tcp or udp (or none)");
		return 0;
	case RK_EXEC:
	case RK_FILE:
	case RK_FAMILY:
		/* Nothing to allow: what these rules do not deny is allowed already. */
		if (kind != RK_EXEC && strcmp(rule->action, "deny"))
			return fail(p, key_line[RULE_ACTION], "%s rules can only deny",
				    rule->direction);
		if (!*what)
			return fail(p, rule->line, "rule has no '%s'",
				    kind == RK_FAMILY ? "family" : "path");
		if (kind == RK_FILE && !rule->access) {
			rule->access = strdup("any");
			if (!rule->access)
				return oom(p);
		}
		rule->prefix = *what;
		*what = NULL;
		return 0;
	case RK_MAX:
		break;
	}
	return 0;
}

static int parse_rule(struct parser *p)
{
	struct ug_file_rule *rules, *rule;
	int key_line[ARRAY_SIZE(rule_keys)] = { 0 };
	char *path = NULL, *family = NULL;
	unsigned int seen = 0;
	size_t k;
	int r;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "a rule must be a mapping, not %s", kind_of(&p->ev));
	rules = grow(p->pf.rules, &p->rules_cap, p->pf.n_rules, sizeof(*rules));
	if (!rules)
		return oom(p);
	p->pf.rules = rules;
	rule = &rules[p->pf.n_rules++];
	memset(rule, 0, sizeof(*rule));
	rule->line = cur_line(p);

	while ((r = next_key(p, rule_keys, ARRAY_SIZE(rule_keys), &seen, &k)) > 0) {
		key_line[k] = cur_line(p);
		switch (k) {
		case RULE_DIRECTION:
			r = take_field(p, K_DIRECTION, "direction", &rule->direction);
			break;
		case RULE_ACTION:
			r = take_field(p, K_ACTION, "action", &rule->action);
			break;
		case RULE_PREFIX:
			r = take_field(p, K_PREFIX, "prefix", &rule->prefix);
			break;
		case RULE_PROTO:
			r = take_field(p, K_PROTO, "proto", &rule->proto);
			break;
		case RULE_PORT:
			r = take_port(p, rule);
			break;
		case RULE_PATH:
			r = take_field(p, K_PATH, "path", &path);
			break;
		case RULE_ACCESS:
			r = take_field(p, K_ACCESS, "access", &rule->access);
			break;
		case RULE_FAMILY:
			r = take_field(p, K_FAMILY, "family", &family);
			break;
		case RULE_COMMENT:
			r = take_comment(p, &rule->comment);
			break;
		}
		if (r < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	/* No kind takes both path and family: check_rule() refuses the other. */
	r = check_rule(p, rule, key_line, path ? &path : &family);
out:
	free(path);
	free(family);
	return r;
}

static int parse_unit(struct parser *p)
{
	struct ug_file_unit *units, *unit;
	size_t first_rule = p->pf.n_rules, k;
	unsigned int seen = 0;
	int r;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, cur_line(p), "a unit must be a mapping, not %s", kind_of(&p->ev));
	units = grow(p->pf.units, &p->units_cap, p->pf.n_units, sizeof(*units));
	if (!units)
		return oom(p);
	p->pf.units = units;
	/* Only rules grow below, so this pointer stays good. */
	unit = &units[p->pf.n_units++];
	memset(unit, 0, sizeof(*unit));
	unit->line = cur_line(p);

	while ((r = next_key(p, unit_keys, ARRAY_SIZE(unit_keys), &seen, &k)) > 0) {
		switch (k) {
		case UNIT_TARGET:
			r = take_field(p, K_TARGET, "target", &unit->target);
			break;
		case UNIT_MODE:
			r = take_field(p, K_MODE, "mode", &unit->mode);
			break;
		case UNIT_DEFAULT_EGRESS:
			r = take_field(p, K_POSTURE, "default-egress", &unit->default_egress);
			break;
		case UNIT_DEFAULT_INGRESS:
			r = take_field(p, K_POSTURE, "default-ingress", &unit->default_ingress);
			break;
		case UNIT_HARDEN:
			r = take_harden(p, &unit->harden);
			break;
		case UNIT_RULES:
			r = parse_sequence(p, "rules", parse_rule);
			break;
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (!unit->target)
		return fail(p, unit->line, "unit has no 'target'");
	/* target may come after rules in the mapping, so fill it in now. */
	for (size_t i = first_rule; i < p->pf.n_rules; i++) {
		p->pf.rules[i].target = strdup(unit->target);
		if (!p->pf.rules[i].target)
			return oom(p);
	}
	return 0;
}

static int parse_top(struct parser *p)
{
	int line = cur_line(p), r;
	unsigned int seen = 0;
	size_t k;

	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, line,
			    "the top level must be a mapping with 'version' and 'units', not %s",
			    kind_of(&p->ev));
	while ((r = next_key(p, top_keys, ARRAY_SIZE(top_keys), &seen, &k)) > 0) {
		switch (k) {
		case TOP_VERSION:
			r = take_version(p);
			break;
		case TOP_UNITS:
			r = parse_sequence(p, "units", parse_unit);
			break;
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (!(seen & (1u << TOP_VERSION)))
		return fail(p, line, "missing 'version'");
	if (!(seen & (1u << TOP_UNITS)))
		return fail(p, line, "missing 'units'");
	return 0;
}

static int parse_stream(struct parser *p)
{
	int r;

	r = next(p); /* stream start */
	if (r < 0)
		return r;
	r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return fail(p, 1, "empty policy file (expected 'version' and 'units')");
	r = next(p); /* past document start, to the root node */
	if (r < 0)
		return r;
	r = parse_top(p);
	if (r < 0)
		return r;
	r = next(p); /* document end */
	if (r < 0)
		return r;
	/* Read on to the stream end: a syntax error after the first document
	 * must not go unnoticed. */
	r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return fail(p, cur_line(p), "more than one YAML document");
	return 0;
}

static int check_unique_targets(struct parser *p)
{
	const struct ug_file_unit **sorted, *dup, *first = NULL;
	char shown[SHOW_BUF];
	int r = 0;

	sorted = sort_units(p->pf.units, p->pf.n_units);
	if (!sorted)
		return oom(p);
	dup = find_duplicate(sorted, p->pf.n_units, &first);
	if (dup)
		r = fail(p, dup->line, "duplicate target '%s' (first at line %d)",
			 show(dup->target, shown), first->line);
	free(sorted);
	return r;
}

int ug_policy_file_parse(const char *buf, size_t len, struct ug_policy_file *out, char *err,
			 size_t errlen)
{
	struct parser p = { .buf = buf, .len = len, .err = err, .errlen = errlen };
	int r;

	set_err(err, errlen, "%s", "");
	if (!out || (!buf && len)) {
		set_err(err, errlen, "no input or output given");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (len > UG_POLICY_FILE_MAX) {
		set_err(err, errlen, "policy file too large (%zu bytes, at most %u)", len,
			UG_POLICY_FILE_MAX);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&p.yaml))
		return oom(&p);
	yaml_parser_set_input_string(&p.yaml, (const unsigned char *)(buf ? buf : ""), len);

	r = parse_stream(&p);
	if (!r)
		r = check_unique_targets(&p);

	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yaml);
	if (r < 0) {
		ug_policy_file_free(&p.pf);
		return r;
	}
	*out = p.pf;
	return 0;
}

void ug_policy_file_free(struct ug_policy_file *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->n_units; i++) {
		free(pf->units[i].target);
		free(pf->units[i].mode);
		free(pf->units[i].default_egress);
		free(pf->units[i].default_ingress);
		free(pf->units[i].harden);
	}
	for (size_t i = 0; i < pf->n_rules; i++) {
		free(pf->rules[i].target);
		free(pf->rules[i].direction);
		free(pf->rules[i].action);
		free(pf->rules[i].prefix);
		free(pf->rules[i].access);
		free(pf->rules[i].proto);
		free(pf->rules[i].comment);
	}
	free(pf->units);
	free(pf->rules);
	memset(pf, 0, sizeof(*pf));
}

/* ------------------------------------------------------------------------ */
/* Emitting: libyaml's emitter writing into a growing buffer. */

struct out_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

struct emitter {
	yaml_emitter_t yaml;
	struct out_buf out;
	const struct ug_policy_file *pf;
	const struct ug_file_rule **rules_sorted; /* by target, then array order */
	char *err;
	size_t errlen;
};

static int write_out(void *data, unsigned char *bytes, size_t size)
{
	struct out_buf *o = data;

	/* One spare byte so the result can always be NUL-terminated. */
	if (o->cap - o->len <= size) {
		size_t cap = o->cap ? o->cap : 4096;
		char *d;

		while (cap - o->len <= size)
			cap *= 2;
		d = realloc(o->data, cap);
		if (!d) {
			o->oom = true;
			return 0;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, bytes, size);
	o->len += size;
	o->data[o->len] = '\0';
	return 1;
}

static int emit_oom(struct emitter *e)
{
	set_err(e->err, e->errlen, "out of memory");
	return -ENOMEM;
}

static int __attribute__((format(printf, 2, 3)))
emit_fail(struct emitter *e, const char *fmt, ...)
{
	va_list ap;

	if (e->err && e->errlen) {
		va_start(ap, fmt);
		vsnprintf(e->err, e->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Hand an initialised event to libyaml, which frees it either way. */
static int emit_event(struct emitter *e, yaml_event_t *ev)
{
	if (yaml_emitter_emit(&e->yaml, ev))
		return 0;
	if (e->out.oom || e->yaml.error == YAML_MEMORY_ERROR)
		return emit_oom(e);
	return emit_fail(e, "YAML emitter: %s",
			 e->yaml.problem ? e->yaml.problem : "unknown error");
}

static int emit_scalar(struct emitter *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	/* Implicit both ways: no tags in the output, and a plain scalar is
	 * still read back as the same text. */
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, -1, 1, 1, style))
		return emit_oom(e);
	return emit_event(e, &ev);
}

/* key: value in plain style, libyaml quoting it if it must; nothing for NULL. */
static int emit_pair(struct emitter *e, const char *key, const char *value)
{
	int r;

	if (!value)
		return 0;
	r = emit_scalar(e, key, YAML_PLAIN_SCALAR_STYLE);
	if (r < 0)
		return r;
	return emit_scalar(e, value, YAML_PLAIN_SCALAR_STYLE);
}

static int emit_mapping_start(struct emitter *e)
{
	yaml_event_t ev;

	if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE))
		return emit_oom(e);
	return emit_event(e, &ev);
}

static int emit_mapping_end(struct emitter *e)
{
	yaml_event_t ev;

	if (!yaml_mapping_end_event_initialize(&ev))
		return emit_oom(e);
	return emit_event(e, &ev);
}

static int emit_sequence_start(struct emitter *e)
{
	yaml_event_t ev;

	if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE))
		return emit_oom(e);
	return emit_event(e, &ev);
}

static int emit_sequence_end(struct emitter *e)
{
	yaml_event_t ev;

	if (!yaml_sequence_end_event_initialize(&ev))
		return emit_oom(e);
	return emit_event(e, &ev);
}

/* Validate a field of unit or rule `idx` and write it canonical. */
static int emit_field(struct emitter *e, const char *what, size_t idx, enum kind k,
		      const char *key, const char *v, bool required)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	const char *c;

	if (!v) {
		if (required)
			return emit_fail(e, "%s %zu: no %s", what, idx, key);
		return 0;
	}
	c = canon_value(k, key, v, cbuf, msg, sizeof(msg));
	if (!c)
		return emit_fail(e, "%s %zu: %s", what, idx, msg);
	return emit_pair(e, key, c);
}

/* What parse would refuse in a rule of this kind, beyond its values; NULL if none. */
static const char *rule_shape_problem(const struct ug_file_rule *rule, enum rkind kind,
				      const char *action, char *msg, size_t msglen)
{
	if (rule->proto && !(rkind_keys[kind] & KEY(RULE_PROTO)))
		snprintf(msg, msglen, "proto is only for network rules, not %s rules",
			 rule->direction);
	else if ((rule->port_lo || rule->port_hi) && !(rkind_keys[kind] & KEY(RULE_PORT)))
		snprintf(msg, msglen, "port is only for network rules, not %s rules",
			 rule->direction);
	else if (rule->access && !(rkind_keys[kind] & KEY(RULE_ACCESS)))
		snprintf(msg, msglen, "access is only for file rules, not %s rules",
			 rule->direction);
	else if (kind != RK_NET && kind != RK_EXEC && strcmp(action, "deny"))
		snprintf(msg, msglen, "%s rules can only deny", rule->direction);
	else
		return NULL;
	return msg;
}

static int emit_network(struct emitter *e, const struct ug_file_rule *rule, size_t idx)
{
	const char *problem;
	char ports[16];
	int r;

	r = emit_field(e, "rule", idx, K_PREFIX, "prefix", rule->prefix, true);
	if (!r)
		r = emit_field(e, "rule", idx, K_PROTO, "proto", rule->proto, false);
	if (r < 0)
		return r;

	problem = port_problem(rule->proto, rule->port_lo, rule->port_hi);
	if (problem)
		return emit_fail(e, "rule %zu: %s", idx, problem);
	if (rule->port_lo) {
		/* A single port reads best as a YAML int; a range must be
		 * quoted text for tools that are not us. */
		bool single = rule->port_lo == rule->port_hi;

		if (single)
			snprintf(ports, sizeof(ports), "%u", rule->port_lo);
		else
			snprintf(ports, sizeof(ports), "%u-%u", rule->port_lo, rule->port_hi);
		r = emit_scalar(e, "port", YAML_PLAIN_SCALAR_STYLE);
		if (!r)
			r = emit_scalar(e, ports, single ? YAML_PLAIN_SCALAR_STYLE :
							   YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	}
	return r;
}

static int emit_rule(struct emitter *e, const struct ug_file_rule *rule)
{
	size_t idx = (size_t)(rule - e->pf->rules);
	char cbuf[CANON_BUF], msg[MSG_MAX];
	const char *action;
	enum rkind kind;
	int r;

	r = emit_mapping_start(e);
	if (!r)
		r = emit_field(e, "rule", idx, K_DIRECTION, "direction", rule->direction, true);
	if (!r)
		r = emit_field(e, "rule", idx, K_ACTION, "action", rule->action, true);
	if (r < 0)
		return r;
	/* Both are known good now. */
	kind = rule_kind(canon_value(K_DIRECTION, "direction", rule->direction, cbuf, msg,
				     sizeof(msg)));
	action = canon_value(K_ACTION, "action", rule->action, cbuf, msg, sizeof(msg));
	if (rule_shape_problem(rule, kind, action, msg, sizeof(msg)))
		return emit_fail(e, "rule %zu: %s", idx, msg);

	switch (kind) {
	case RK_NET:
		r = emit_network(e, rule, idx);
		break;
	case RK_EXEC:
		r = emit_field(e, "rule", idx, K_PATH, "path", rule->prefix, true);
		break;
	case RK_FILE:
		r = emit_field(e, "rule", idx, K_PATH, "path", rule->prefix, true);
		/* Always written: "any" as the default is easy to miss when reading. */
		if (!r)
			r = emit_field(e, "rule", idx, K_ACCESS, "access",
				       rule->access ? rule->access : "any", true);
		break;
	case RK_FAMILY:
		r = emit_field(e, "rule", idx, K_FAMILY, "family", rule->prefix, true);
		break;
	case RK_MAX:
		break;
	}
	if (r < 0)
		return r;

	if (rule->comment) {
		const char *why = NULL;

		/* Also spares libyaml invalid UTF-8, which it would report as out of memory. */
		if (ug_comment_validate(rule->comment, &why) < 0)
			return emit_fail(e, "rule %zu: invalid comment: %s", idx, why);
		/* Quoted, so a comment like "true" or "443" stays text for
		 * other YAML readers too. */
		r = emit_scalar(e, "comment", YAML_PLAIN_SCALAR_STYLE);
		if (!r)
			r = emit_scalar(e, rule->comment, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		if (r < 0)
			return r;
	}
	return emit_mapping_end(e);
}

/* harden: [module-load, bpf], flow style: a list of a few words reads best on one line. */
static int emit_harden(struct emitter *e, size_t idx, const char *harden)
{
	char cbuf[CANON_BUF], msg[MSG_MAX];
	const char *c;
	yaml_event_t ev;
	int r;

	c = canon_value(K_HARDEN, "harden", harden, cbuf, msg, sizeof(msg));
	if (!c)
		return emit_fail(e, "unit %zu: %s", idx, msg);
	r = emit_scalar(e, "harden", YAML_PLAIN_SCALAR_STYLE);
	if (r < 0)
		return r;
	if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE))
		return emit_oom(e);
	r = emit_event(e, &ev);
	/* cbuf holds canonical names only; cut it into items in place. */
	for (char *item = cbuf, *end; !r && *item; item = end + 1) {
		bool last;

		end = strchrnul(item, ',');
		last = !*end;
		*end = '\0';
		r = emit_scalar(e, item, YAML_PLAIN_SCALAR_STYLE);
		if (last)
			break;
	}
	if (r < 0)
		return r;
	return emit_sequence_end(e);
}

/* Index in rules_sorted of the first rule for target; *n gets how many. */
static size_t rule_group(const struct emitter *e, const char *target, size_t *n)
{
	size_t lo = 0, hi = e->pf->n_rules, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(e->rules_sorted[mid]->target, target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < e->pf->n_rules && !strcmp(e->rules_sorted[end]->target, target); end++)
		;
	*n = end - lo;
	return lo;
}

/* One entry of units: unit is NULL for one made up for orphan rules. */
static int emit_unit(struct emitter *e, const struct ug_file_unit *unit, const char *target)
{
	size_t idx = unit ? (size_t)(unit - e->pf->units) : 0, first, n;
	int r;

	r = emit_mapping_start(e);
	if (!r)
		r = emit_pair(e, "target", target);
	if (!r && unit)
		r = emit_field(e, "unit", idx, K_MODE, "mode", unit->mode, false);
	if (!r && unit)
		r = emit_field(e, "unit", idx, K_POSTURE, "default-egress", unit->default_egress,
			       false);
	if (!r && unit)
		r = emit_field(e, "unit", idx, K_POSTURE, "default-ingress",
			       unit->default_ingress, false);
	if (!r && unit && unit->harden)
		r = emit_harden(e, idx, unit->harden);
	if (r < 0)
		return r;

	first = rule_group(e, target, &n);
	if (n) {
		r = emit_scalar(e, "rules", YAML_PLAIN_SCALAR_STYLE);
		if (!r)
			r = emit_sequence_start(e);
		for (size_t i = first; !r && i < first + n; i++)
			r = emit_rule(e, e->rules_sorted[i]);
		if (!r)
			r = emit_sequence_end(e);
		if (r < 0)
			return r;
	}
	return emit_mapping_end(e);
}

/*
 * Match a bsearch key against units sorted by (target, address): only the
 * target counts, so the key's own address must not.
 */
static int unit_target_cmp(const void *a, const void *b)
{
	const struct ug_file_unit *x = *(const struct ug_file_unit *const *)a;
	const struct ug_file_unit *y = *(const struct ug_file_unit *const *)b;

	return strcmp(x->target, y->target);
}

static int emit_document(struct emitter *e, const struct ug_file_unit **units_sorted)
{
	const struct ug_policy_file *pf = e->pf;
	yaml_event_t ev;
	int r;

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING))
		return emit_oom(e);
	r = emit_event(e, &ev);
	if (r < 0)
		return r;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1))
		return emit_oom(e);
	r = emit_event(e, &ev);
	if (!r)
		r = emit_mapping_start(e);
	if (!r)
		r = emit_pair(e, "version", "1");
	if (!r)
		r = emit_scalar(e, "units", YAML_PLAIN_SCALAR_STYLE);
	if (!r)
		r = emit_sequence_start(e);
	for (size_t i = 0; !r && i < pf->n_units; i++)
		r = emit_unit(e, &pf->units[i], pf->units[i].target);
	for (size_t i = 0; !r && i < pf->n_rules; i++) {
		const struct ug_file_rule *rule = &pf->rules[i];
		const struct ug_file_unit key = { .target = rule->target }, *kp = &key;
		size_t first, n;
		char shown[SHOW_BUF];
		const char *why = NULL;

		if (bsearch(&kp, units_sorted, pf->n_units, sizeof(*units_sorted), unit_target_cmp))
			continue;
		/* Orphan: a unit of its own, at the first rule with its target. */
		first = rule_group(e, rule->target, &n);
		if (e->rules_sorted[first] != rule)
			continue;
		if (ug_target_parse(rule->target, &why) < 0)
			return emit_fail(e, "rule %zu: invalid target '%s': %s", i,
					 show(rule->target, shown), why ? why : "not valid");
		r = emit_unit(e, NULL, rule->target);
	}
	if (!r)
		r = emit_sequence_end(e);
	if (!r)
		r = emit_mapping_end(e);
	if (r < 0)
		return r;
	if (!yaml_document_end_event_initialize(&ev, 1))
		return emit_oom(e);
	r = emit_event(e, &ev);
	if (r < 0)
		return r;
	if (!yaml_stream_end_event_initialize(&ev))
		return emit_oom(e);
	return emit_event(e, &ev);
}

/* Targets first: sorting and grouping need them all present and valid. */
static int check_targets(struct emitter *e)
{
	const struct ug_policy_file *pf = e->pf;
	char msg[MSG_MAX], cbuf[CANON_BUF];

	for (size_t i = 0; i < pf->n_units; i++) {
		if (!pf->units[i].target)
			return emit_fail(e, "unit %zu: no target", i);
		if (!canon_value(K_TARGET, "target", pf->units[i].target, cbuf, msg, sizeof(msg)))
			return emit_fail(e, "unit %zu: %s", i, msg);
	}
	for (size_t i = 0; i < pf->n_rules; i++)
		if (!pf->rules[i].target)
			return emit_fail(e, "rule %zu: no target", i);
	return 0;
}

int ug_policy_file_emit(const struct ug_policy_file *pf, char **out, size_t *out_len, char *err,
			size_t errlen)
{
	struct emitter e = { .pf = pf, .err = err, .errlen = errlen };
	const struct ug_file_unit **units_sorted = NULL, *dup, *first = NULL;
	char shown[SHOW_BUF];
	int r;

	set_err(err, errlen, "%s", "");
	if (!pf || !out || !out_len) {
		set_err(err, errlen, "no input or output given");
		return -EINVAL;
	}
	*out = NULL;
	*out_len = 0;
	r = check_targets(&e);
	if (r < 0)
		return r;

	units_sorted = sort_units(pf->units, pf->n_units);
	e.rules_sorted = calloc(pf->n_rules ? pf->n_rules : 1, sizeof(*e.rules_sorted));
	if (!units_sorted || !e.rules_sorted) {
		r = emit_oom(&e);
		goto free_sorted;
	}
	dup = find_duplicate(units_sorted, pf->n_units, &first);
	if (dup) {
		r = emit_fail(&e, "unit %zu: duplicate target '%s' (first at unit %zu)",
			      (size_t)(dup - pf->units), show(dup->target, shown),
			      (size_t)(first - pf->units));
		goto free_sorted;
	}
	for (size_t i = 0; i < pf->n_rules; i++)
		e.rules_sorted[i] = &pf->rules[i];
	qsort(e.rules_sorted, pf->n_rules, sizeof(*e.rules_sorted), rule_ptr_cmp);

	if (!yaml_emitter_initialize(&e.yaml)) {
		r = emit_oom(&e);
		goto free_sorted;
	}
	yaml_emitter_set_output(&e.yaml, write_out, &e.out);
	yaml_emitter_set_unicode(&e.yaml, 1);
	/* No folding: a long comment stays on one line. */
	yaml_emitter_set_width(&e.yaml, -1);
	r = emit_document(&e, units_sorted);
	yaml_emitter_delete(&e.yaml);
	if (r < 0) {
		free(e.out.data);
		goto free_sorted;
	}
	*out = e.out.data;
	*out_len = e.out.len;
free_sorted:
	free(units_sorted);
	free(e.rules_sorted);
	return r;
}
