/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy file parser, what `unitguardctl apply FILE` feeds any file it is given.
 * Beyond not crashing, the contract of policy/file.h:
 *  - refused: -EINVAL with one line "line N: ...", N a line of the input (or the line just
 *    after it), and *out zeroed;
 *  - accepted: every value canonical and valid, every rule under a unit, targets unique;
 *  - emit() of what parse accepted succeeds, parses back to the same policy, and emitting
 *    that again gives the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "fuzz.h"
#include "policy.h"

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_error(const uint8_t *data, size_t size, int r, const char *err,
			const struct ug_policy_file *pf)
{
	static const struct ug_policy_file zero;
	unsigned long line;
	char *end;

	fuzz_check(r == -EINVAL || r == -ENOMEM, "parse returned %d", r);
	fuzz_check(!memcmp(pf, &zero, sizeof(zero)), "*out not zeroed on error");
	fuzz_check(!strchr(err, '\n'), "error is not one line: %s", err);
	if (r == -ENOMEM)
		return;
	fuzz_check(!strncmp(err, "line ", 5), "error without a line number: %s", err);
	line = strtoul(err + 5, &end, 10);
	fuzz_check(!strncmp(end, ": ", 2) && end[2], "malformed error: %s", err);
	/* A line break takes at least one byte: there are at most size + 1 lines, and an
	 * error at the very end may name the line after the last one. */
	fuzz_check(line >= 1 && line <= size + 1, "line %lu of a %zu-byte input: %s", line,
		   size, err);
	(void)data;
}

static void check_canonical_rule(const struct ug_policy_file *pf, const struct ug_file_rule *r)
{
	char canon[UG_PATH_MAX > UG_PREFIX_STRLEN ? UG_PATH_MAX : UG_PREFIX_STRLEN];
	bool net = ug_dir_parse(r->direction) >= 0, target_found = false;
	struct ug_prefix p;
	int v;

	fuzz_check(r->target && r->direction && r->action && r->prefix, "rule field missing");
	for (size_t i = 0; i < pf->n_units; i++)
		target_found |= !strcmp(pf->units[i].target, r->target);
	fuzz_check(target_found, "rule target %s has no unit", r->target);
	fuzz_check(r->line >= 1, "rule line %d", r->line);
	v = ug_action_parse(r->action);
	fuzz_check(v >= 0 && !strcmp(ug_action_name(v), r->action), "action %s", r->action);

	if (net) {
		fuzz_check(ug_prefix_parse(r->prefix, &p, NULL) == 0, "prefix %s", r->prefix);
		fuzz_check(ug_prefix_format(&p, canon, sizeof(canon)) == 0 &&
				   !strcmp(canon, r->prefix),
			   "prefix %s not canonical", r->prefix);
		fuzz_check(!r->access, "access on a network rule");
		v = r->proto ? ug_proto_parse(r->proto) : 0;
		fuzz_check(v >= 0 && (!r->proto || !strcmp(ug_proto_name(v), r->proto)),
			   "proto %s", r->proto);
		fuzz_check((!r->port_lo && !r->port_hi) ||
				   (r->port_lo >= 1 && r->port_lo <= r->port_hi &&
				    (!r->proto || strcmp(r->proto, "icmp"))),
			   "ports %u-%u proto %s", r->port_lo, r->port_hi, r->proto);
	} else {
		fuzz_check(!r->proto && !r->port_lo && !r->port_hi, "network field on %s rule",
			   r->direction);
		fuzz_check(!strcmp(r->direction, "exec") || !strcmp(r->action, "deny"),
			   "%s rule that allows", r->direction);
		if (!strcmp(r->direction, "family")) {
			v = ug_family_parse(r->prefix);
			fuzz_check(v > 0, "family %s", r->prefix);
			fuzz_check(!r->access, "access on a family rule");
		} else {
			fuzz_check(!strcmp(r->direction, "exec") || !strcmp(r->direction, "file"),
				   "direction %s", r->direction);
			fuzz_check(ug_path_parse(r->prefix, canon, sizeof(canon), NULL) == 0 &&
					   !strcmp(canon, r->prefix),
				   "path %s not canonical", r->prefix);
			fuzz_check(!strcmp(r->direction, "exec") == !r->access,
				   "access %s on %s rule", r->access, r->direction);
			if (r->access)
				fuzz_check(ug_access_parse(r->access) > 0, "access %s", r->access);
		}
	}
	if (r->comment) {
		const char *why = NULL;

		fuzz_check(ug_comment_validate(r->comment, &why) == 0,
			   "comment accepted by parse, refused by ug_comment_validate: %s", why);
	}
}

static void check_accepted(const struct ug_policy_file *pf)
{
	char buf[64];

	for (size_t i = 0; i < pf->n_units; i++) {
		const struct ug_file_unit *u = &pf->units[i];

		fuzz_check(u->target && ug_target_parse(u->target, NULL) > 0, "target");
		fuzz_check(u->line >= 1, "unit line %d", u->line);
		for (size_t j = 0; j < i; j++)
			fuzz_check(strcmp(pf->units[j].target, u->target), "duplicate target %s",
				   u->target);
		fuzz_check(!u->mode || ug_mode_parse(u->mode) >= 0, "mode %s", u->mode);
		fuzz_check(!u->default_egress || ug_action_parse(u->default_egress) >= 0,
			   "default-egress %s", u->default_egress);
		fuzz_check(!u->default_ingress || ug_action_parse(u->default_ingress) >= 0,
			   "default-ingress %s", u->default_ingress);
		if (u->harden) {
			int h = ug_harden_parse(u->harden, NULL);

			fuzz_check(h >= 0 && ug_harden_format(h, buf, sizeof(buf)) == 0 &&
					   !strcmp(buf, u->harden),
				   "harden %s not canonical", u->harden);
		}
	}
	for (size_t i = 0; i < pf->n_rules; i++)
		check_canonical_rule(pf, &pf->rules[i]);
}

static void check_same(const struct ug_policy_file *a, const struct ug_policy_file *b)
{
	fuzz_check(a->n_units == b->n_units && a->n_rules == b->n_rules, "counts differ");
	for (size_t i = 0; i < a->n_units; i++) {
		const struct ug_file_unit *x = &a->units[i], *y = &b->units[i];

		fuzz_check(str_eq(x->target, y->target) && str_eq(x->mode, y->mode) &&
				   str_eq(x->default_egress, y->default_egress) &&
				   str_eq(x->default_ingress, y->default_ingress) &&
				   str_eq(x->harden, y->harden),
			   "unit %zu differs after emit and parse", i);
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct ug_file_rule *x = &a->rules[i], *y = &b->rules[i];

		fuzz_check(str_eq(x->target, y->target) && str_eq(x->direction, y->direction) &&
				   str_eq(x->action, y->action) && str_eq(x->prefix, y->prefix) &&
				   str_eq(x->access, y->access) && str_eq(x->proto, y->proto) &&
				   x->port_lo == y->port_lo && x->port_hi == y->port_hi &&
				   str_eq(x->comment, y->comment),
			   "rule %zu differs after emit and parse", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ug_policy_file pf, back;
	char err[512], *out, *out2;
	size_t len, len2;
	int r;

	memset(err, 'x', sizeof(err));
	r = ug_policy_file_parse((const char *)data, size, &pf, err, sizeof(err));
	fuzz_check(memchr(err, '\0', sizeof(err)), "err not terminated");
	if (r) {
		check_error(data, size, r, err, &pf);
		return 0;
	}
	fuzz_check(!err[0], "err set on success: %s", err);
	check_accepted(&pf);

	r = ug_policy_file_emit(&pf, &out, &len, err, sizeof(err));
	fuzz_check(r == 0, "emit of a parsed policy failed: %s", err);
	fuzz_check(strlen(out) == len, "emit length");
	r = ug_policy_file_parse(out, len, &back, err, sizeof(err));
	fuzz_check(r == 0, "emitted policy does not parse: %s\n%s", err, out);
	check_same(&pf, &back);
	r = ug_policy_file_emit(&back, &out2, &len2, err, sizeof(err));
	fuzz_check(r == 0 && len == len2 && !memcmp(out, out2, len),
		   "emit not stable:\n%s\n---\n%s", out, out2 ? out2 : "");

	free(out);
	free(out2);
	ug_policy_file_free(&back);
	ug_policy_file_free(&pf);
	return 0;
}
