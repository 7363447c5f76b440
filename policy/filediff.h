/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What `unitguardctl apply` changes: the difference between the policy the store holds and
 * the one a policy file wants, as rows in and changes out. Pure: no SQL, no I/O.
 * db/replace.c reads the rows, asks ug_apply_plan() and writes the plan in one transaction;
 * ug_store_replace() in store.h states the contract (what keeps its identity) this computes.
 *
 * The row types are the store's, named for it (store.h includes this header): they are
 * declared here so that the difference is computed, and tested, without a store.
 */
#ifndef UG_FILEDIFF_H
#define UG_FILEDIFF_H

#include <stddef.h>
#include <stdint.h>

/* A rule to store. Inputs must already be validated and canonical. */
struct ug_store_rule_spec {
	const char *target;
	const char *direction; /* "egress" | "ingress" | "bind" | "exec" | "file" | "family" */
	const char *action;    /* "allow" | "deny" */
	const char *prefix;    /* canonical CIDR; exec/file: canonical path; family: its name */
	const char *access;    /* file only: "read" | "write" | "any"; NULL otherwise */
	const char *proto;     /* "tcp" | "udp" | "icmp", or NULL: any */
	uint32_t port_lo;      /* 0: no port qualifier; else 1..65535 */
	uint32_t port_hi;      /* >= port_lo when port_lo != 0 */
	const char *comment;   /* NULL: none */
};

/* A units row: mode and default posture. */
struct ug_store_unit {
	int64_t id;
	const char *target;
	const char *mode;            /* "enforce" | "audit" | "off" */
	const char *default_egress;  /* "allow" | "deny" */
	const char *default_ingress; /* "allow" | "deny" */
	const char *harden;          /* canonical comma list (ug_harden_format), "" for none */
	int64_t rev;                 /* bumped by every change to the unit's rules (read only) */
};

/* One difference between the store and a replacement (ug_store_replace_changes). */
enum ug_store_change_kind {
	UG_CHANGE_UNIT_ADD,     /* a unit the store lacks (its settings: UNIT_SET each) */
	UG_CHANGE_UNIT_DEL,     /* a unit the input lacks (its rules: RULE_DEL each) */
	UG_CHANGE_UNIT_SET,     /* one setting: field ("mode", "default-egress",
				 * "default-ingress", "harden"), old_value, new_value;
				 * a new unit's (old_value NULL): those not the default */
	UG_CHANGE_RULE_ADD,     /* rule; rule_id: its new id (0 in a dry run) */
	UG_CHANGE_RULE_DEL,     /* rule, rule_id */
	UG_CHANGE_RULE_COMMENT, /* rule (with the new comment), rule_id, old_value, new_value
				 * (NULL: none) */
};

struct ug_store_change {
	enum ug_store_change_kind kind;
	const char *target;
	const char *field;
	const char *old_value, *new_value;
	const struct ug_store_rule_spec *rule; /* RULE_*: NULL otherwise */
	int64_t rule_id;
};

/* A rule the store holds. */
struct ug_apply_rule {
	int64_t id;
	struct ug_store_rule_spec spec;
};

/* A unit the input wants, with the defaults (enforce, allow, allow, "") for settings it
 * does not give. */
struct ug_apply_unit {
	const char *target;
	const char *set[4]; /* mode, default-egress, default-ingress, harden */
	size_t order;       /* its index in units[]; or n_units + the index in rules[] of the
			     * first rule naming it, when units[] lacks it */
};

struct ug_apply_plan {
	/* Every unit the input wants, in the order they are to be written (by order). */
	struct ug_apply_unit *units;
	size_t n_units;
	/* Per wanted rule: the index in units of its unit, and the id of the stored rule it
	 * is (kept as it is: same id), or 0: a new rule, to insert. */
	size_t *rule_unit;
	int64_t *rule_id;
	/* The changes, in the order ug_store_replace_changes reports them: by target; per
	 * target the unit's change, rules deleted, comments changed, rules added (in the
	 * order of rules[]). RULE_ADD has rule_id 0; rule points into rules[]. Strings and
	 * rules point into the arrays given to ug_apply_plan. */
	struct ug_store_change *changes;
	size_t n_changes;
};

/*
 * Is the input one a plan can be made of? Every unit has a target and no target is listed
 * twice in units[]; every rule has a target, direction, action and prefix. -EINVAL with err
 * (errlen > 0) naming the first offender ("units[3]: ..."), -ENOMEM.
 */
int ug_apply_check(const struct ug_store_unit *units, size_t n_units,
		   const struct ug_store_rule_spec *rules, size_t n_rules, char *err,
		   size_t errlen);

/*
 * The difference between the stored units and rules (have_*; have_rules in id order, as
 * complete as the store's NOT NULL columns make them) and the wanted ones (units[],
 * rules[]; ug_apply_check). Identity, as store.h says: a unit is its target; a rule is its
 * target, direction, action, prefix, proto, ports and access. Equal rules pair one to one,
 * the oldest stored with the first wanted; a different comment on a kept rule is a
 * RULE_COMMENT. Units' ids and rev are not read. On success *plan is filled (free it with
 * ug_apply_plan_free); n_changes 0 means the input is what the store holds. -EINVAL (bad
 * input) or -ENOMEM with err, *plan then empty.
 */
int ug_apply_plan(const struct ug_store_unit *have_units, size_t n_have_units,
		  const struct ug_apply_rule *have_rules, size_t n_have_rules,
		  const struct ug_store_unit *units, size_t n_units,
		  const struct ug_store_rule_spec *rules, size_t n_rules,
		  struct ug_apply_plan *plan, char *err, size_t errlen);
void ug_apply_plan_free(struct ug_apply_plan *plan); /* accepts NULL and an empty plan */

#endif /* UG_FILEDIFF_H */
