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
 *	        comment: "https"        # optional: printable UTF-8, one line, <= 1024 bytes
 *	  - target: web.service
 *	    harden: [module-load, bpf]  # optional: module-load, bpf, ptrace, mount;
 *	                                # or one string "module-load,bpf"; [] for none
 *	    rules:
 *	      - {direction: exec, action: deny, path: /}
 *	      - {direction: exec, action: allow, path: /usr/bin}
 *	      - direction: file         # file rules only deny
 *	        action: deny
 *	        path: /etc/shadow
 *	        access: read            # optional: read | write | any (the default)
 *	      - {direction: family, action: deny, family: packet}  # name or 1-63
 *
 * exec and file rules take `path` (and file rules `access`), family rules
 * take `family`; `prefix`, `proto` and `port` belong to the network
 * directions only, and `path`, `access` and `family` to these only.
 *
 * Like the rest of policy/, this is pure: the caller reads and writes the
 * file; these functions work on memory buffers and never log. file.c reads,
 * file_emit.c writes, both by the key tables of file_schema.c.
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
	/* Canonical ug_harden_format() list, "module-load,bpf"; "" for an
	 * explicitly empty list (none); NULL when the file did not say. */
	char *harden;
	int line;              /* 1-based line of the entry in the file; 0 if not from a file */
};

/*
 * One rule, flattened out of its unit: target is a copy of the owning unit's
 * target. After parse, rules appear in file order, so the rules of one unit
 * are contiguous.
 */
struct ug_file_rule {
	char *target;    /* owning unit's target */
	char *direction; /* "egress" | "ingress" | "bind" | "exec" | "file" | "family" */
	char *action;    /* "allow" | "deny"; always "deny" for file and family */
	/*
	 * What the rule matches, in canonical text; the file spells the key
	 * after the direction:
	 *  egress, ingress, bind: `prefix`, ug_prefix_format() text "10.0.0.1/32";
	 *  exec, file: `path`, ug_path_parse() text "/usr/bin";
	 *  family: `family`, ug_family_name() ("packet"), or the decimal
	 *  number for a family without a name ("50").
	 */
	char *prefix;
	char *access;    /* file: "read" | "write" | "any" (the default); NULL otherwise */
	char *proto;     /* "tcp" | "udp" | "icmp", NULL for any; network rules only */
	/* 0, 0: no port; else 1 <= lo <= hi, and proto is tcp, udp or NULL;
	 * network rules only */
	uint16_t port_lo, port_hi;
	char *comment;   /* NULL, or text ug_comment_validate() accepts: one line, printable */
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
 * are left out when NULL (port when 0, 0); harden is written as a flow
 * sequence, "harden: [module-load, bpf]". A file rule's access is always
 * written, "any" when NULL.
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
