/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The effective policy of one policy cgroup, and what it decides. Pure: the
 * agent (agent/pass.c) builds what it hands to the kernel with
 * ug_effective_rules(), and `unitguardctl explain` / `show` build the same
 * list the same way, compile it with the same compiler (policy/compile.c),
 * and then judge the compiled entries the way the kernel programs do
 * (ug_net_judge, ug_path_judge): so the explanation cannot disagree with
 * what the agent put in the kernel, only with a kernel that does something
 * else than bpf/lib/decide.bpf.h and bpf/lib/path.bpf.h say, which is what
 * tests/e2e/explain.sh checks.
 */
#ifndef UG_EFFECTIVE_H
#define UG_EFFECTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inherit.h"
#include "policy.h"

/*
 * A units row's settings (the store's text): mode, default postures,
 * hardening list ("" or NULL: none). -EINVAL with *why when one is wrong;
 * out is then the defaults (enforce, allow, allow, none), which is what the
 * agent enforces for such a row. families, net_rules and lsm_rules are left
 * zero: they come from the rules.
 */
int ug_settings_parse(const char *mode, const char *egress, const char *ingress,
		      const char *harden, struct ug_settings *out, const char **why);

/* The columns of a units row's settings, as bits of a mask. */
enum {
	UG_SET_MODE = 1 << 0,
	UG_SET_EGRESS = 1 << 1,
	UG_SET_INGRESS = 1 << 2,
	UG_SET_HARDEN = 1 << 3,
};

/*
 * The same, column by column, for a row another program may have written:
 * a column that does not parse takes its value from last (the last valid
 * settings of that row; NULL: the defaults) and its bit is set in the
 * returned mask; the others are taken as they are. One bad column never
 * resets the rest (fail static). 0: every column parsed.
 */
unsigned ug_settings_parse_each(const char *mode, const char *egress, const char *ingress,
				const char *harden, const struct ug_settings *last,
				struct ug_settings *out);

/*
 * An exec or file rule from the store's text: kind "exec" | "file", action,
 * path, access (file: "read" | "write" | "any"; exec: ignored). File rules
 * only deny. -EINVAL with *why (may be NULL) when a field is wrong. out is
 * zeroed first.
 */
int ug_path_rule_parse(int64_t id, const char *kind, const char *action, const char *path,
		       const char *access, struct ug_path_rule *out, const char **why);

/*
 * The own rules of node j (a target): network rules (lsm false, an array of
 * struct ug_rule) or exec/file rules (lsm true, struct ug_path_rule). The
 * array must stay valid until ug_effective_rules() returns. 0 or -errno.
 */
typedef int (*ug_own_rules_fn)(size_t j, bool lsm, const void **rules, size_t *n, void *ctx);

/*
 * The rules node i's policy cgroup is compiled from: those of its group (its
 * aliases, depth 0) and of each policy ancestor (depth 1, 2 ...), as
 * ug_inherit_chain() lists them, each copied with its depth set. A mode
 * governs the rules of the node that set it (own[], indexed like the nodes):
 * a node in mode off gives none, one in audit mode gives its rules with
 * `audit` set. *out is malloc()ed (struct ug_rule or struct ug_path_rule,
 * *n_out of them); when origin is not NULL, *origin (malloc()ed) gets the
 * node each rule came from. 0, -ENOMEM, or what fn returned.
 */
int ug_effective_rules(const struct ug_inherit *h, const struct ug_settings *own, size_t i,
		       bool lsm, ug_own_rules_fn fn, void *ctx, void **out, size_t *n_out,
		       size_t **origin);

/* What a socket operation presents to bpf/cgroup/net.bpf.c. */
struct ug_net_op {
	uint8_t dir;      /* enum ug_dir */
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d, as the kernel program maps it */
	uint8_t proto;    /* IPPROTO_TCP, _UDP, _ICMP (IPv4) or _ICMPV6 */
	bool has_port;    /* TCP or UDP with a port */
	uint16_t port;
};

/* What the compiled entries decide for an operation. */
struct ug_net_verdict {
	const struct ug_lpm_entry *entry; /* longest entry covering the address; NULL: none */
	int index;                        /* the deciding rule in entry->val.m[]; -1: none */
	uint8_t action;                   /* enum ug_action: deny, audit or allow */
	uint32_t rule_id;                 /* 0: a default posture decided */
};

/*
 * Judge op as decide() in bpf/lib/decide.bpf.h does: the longest-prefix
 * entry of op->dir among the n compiled entries (ug_compile() output of one
 * trie). Enforcement: the first rule of its list without UG_MATCH_AUDIT that
 * matches the protocol and port, else the enforced default of that direction
 * (deny_default: bit 1 << dir): deny decides. Where enforcement allows, the
 * audit: the first matching rule of the list, else the default with
 * audit_default too: deny there is UG_ACT_AUDIT.
 */
void ug_net_judge(const struct ug_lpm_entry *e, size_t n, uint8_t deny_default,
		  uint8_t audit_default, const struct ug_net_op *op, struct ug_net_verdict *out);

/* What the compiled path entries decide for one exec or file open. */
struct ug_path_verdict {
	const struct ug_path_entry *entry; /* longest entry covering the path; NULL: none */
	uint8_t action;                    /* enum ug_action: deny, audit or allow */
	uint32_t rule_id;                  /* deciding rule (exec: allow or deny; file: the
					      denying one); 0: none decides, allowed */
};

/*
 * Judge a path as lsm.bpf.c's check_path() does: the longest entry of kind
 * whose stored path is a prefix of path + "/", read as bpf/lib/path.bpf.h
 * reads it: deny when its enforced rules refuse, audit when only audited
 * ones would. exec: the deciding rule's action; file: refused when any of
 * access (UG_ACCESS_*) is denied, naming the read rule first. path is
 * canonical (ug_path_parse()). Paths are allowed when nothing covers them:
 * there is no default posture for paths.
 */
void ug_path_judge(const struct ug_path_entry *e, size_t n, uint8_t kind, const char *path,
		   uint8_t access, struct ug_path_verdict *out);

#endif
