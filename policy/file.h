/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The declarative policy file: what `unitguardctl apply FILE` reads and
 * `unitguardctl export` writes. YAML, parsed and emitted with libyaml:
 *
 *	version: 1
 *	units:
 *	  - target: demo.service        # unit name or absolute cgroup path
 *	    mode: enforce               # optional: enforce | audit | off
 *	    default-egress: allow       # optional: allow | deny
 *	    default-ingress: deny       # optional: allow | deny
 *	    rules:                      # optional
 *	      - {direction: egress, action: deny, prefix: 10.0.0.0/8}
 *	      - direction: egress       # egress | ingress | bind
 *	        action: allow           # allow | deny
 *	        prefix: 10.1.0.0/16
 *	        proto: tcp              # optional: tcp | udp | icmp
 *	        port: 443               # optional: N or N-M (quoted or not)
 *	        comment: "https"        # optional
 *
 * Like the rest of policy/, this is pure: the caller reads and writes the
 * file; these functions work on memory buffers and never log.
 */
#ifndef UG_POLICY_FILE_H
#define UG_POLICY_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Refuse larger inputs: a policy is at most a few thousand rules, and the
 * bound keeps a mistaken `apply /dev/zero`-style input from eating memory. */
#define UG_POLICY_FILE_MAX (16u * 1024 * 1024)

/*
 * One entry of `units`. Optional fields are NULL when the file did not give
 * them (the caller decides what "not given" means: a new unit gets the
 * defaults, enforce / allow / allow). Values are canonical ("enforce",
 * "deny"), validated with the policy.h parsers.
 */
struct ug_file_unit {
	char *target;          /* unit name or absolute cgroup path, never NULL after parse */
	char *mode;            /* "enforce" | "audit" | "off" | NULL */
	char *default_egress;  /* "allow" | "deny" | NULL */
	char *default_ingress; /* "allow" | "deny" | NULL */
	int line;              /* 1-based line of the entry in the file; 0 if not from a file */
};

/*
 * One rule, flattened out of its unit: target is a copy of the owning unit's
 * target. After parse, rules appear in file order, so the rules of one unit
 * are contiguous.
 */
struct ug_file_rule {
	char *target;    /* owning unit's target */
	char *direction; /* "egress" | "ingress" | "bind" */
	char *action;    /* "allow" | "deny" */
	char *prefix;    /* canonical ug_prefix_format() text: "10.0.0.1/32" */
	char *proto;     /* "tcp" | "udp" | "icmp", NULL for any */
	/* 0, 0: no port; else 1 <= lo <= hi, and proto is tcp, udp or NULL */
	uint16_t port_lo, port_hi;
	char *comment;   /* free text or NULL */
	int line;        /* 1-based line of the rule in the file; 0 if not from a file */
};

struct ug_policy_file {
	struct ug_file_unit *units;
	size_t n_units;
	struct ug_file_rule *rules;
	size_t n_rules;
};

/*
 * Parse a policy file held in buf[0..len) (need not be NUL-terminated).
 * Every unit target is unique; every rule's target names one of the units.
 *
 * Returns 0 and fills *out (free with ug_policy_file_free()), or
 *  -EINVAL: the content is wrong; err gets one line, "line N: <what>", N
 *           being the 1-based line at fault (an input over
 *           UG_POLICY_FILE_MAX has no line to blame and gets no prefix);
 *  -ENOMEM.
 * On error *out is left zeroed. err may be NULL.
 */
int ug_policy_file_parse(const char *buf, size_t len, struct ug_policy_file *out, char *err,
			 size_t errlen);

/* Free everything *pf owns and zero it. NULL-safe, and safe on a zeroed struct. */
void ug_policy_file_free(struct ug_policy_file *pf);

/*
 * Write *pf as a policy file into a malloc()'d, NUL-terminated buffer *out of
 * *out_len bytes (the NUL not counted). Block style; units in the order
 * given, each followed by the rules whose target matches it, in the order
 * given; rules whose target has no unit get a unit of their own (target
 * only), after the given ones, in order of first appearance. Optional fields
 * are left out when NULL (port when 0, 0).
 *
 * Every field is validated as parse would, and values are written in their
 * canonical form, so the output always parses back. When pf is what parse
 * produced, parse(emit(pf)) equals pf except for line numbers.
 *
 * Returns 0, -EINVAL (err names the unit or rule at fault, "rule 3: ...",
 * counting from 0) or -ENOMEM. On error *out is NULL and *out_len 0.
 */
int ug_policy_file_emit(const struct ug_policy_file *pf, char **out, size_t *out_len, char *err,
			size_t errlen);

#endif /* UG_POLICY_FILE_H */
