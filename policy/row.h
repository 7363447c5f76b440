/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One row of the store's rules table, as the agent enforces it: a network
 * rule, an exec or file rule, or a denied socket family. Anything else is
 * invalid and not enforced (fail static: the rest of the target's rules
 * still are). agent/targets.c reads a unit's rules through this, and
 * `unitguardctl explain` / `show` read them through the same code, so the
 * two cannot disagree on what a row means. Pure: no I/O.
 */
#ifndef UG_ROW_H
#define UG_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "inherit.h"
#include "policy.h"

/* A rules row's text, as db/store.h hands it over (struct ug_store_rule). */
struct ug_rule_row {
	int64_t id;
	const char *direction; /* egress, ingress, bind | exec, file | family */
	const char *action;
	const char *prefix; /* the CIDR, the path, or the family's name or number */
	const char *proto;  /* network rules: NULL is any */
	const char *access; /* file rules */
	uint32_t port_lo, port_hi;
};

/* The row of r, anything with these fields (a struct ug_store_rule *): policy/ reads no store. */
#define UG_RULE_ROW(r)                                                                    \
	((struct ug_rule_row){ .id = (r)->id, .direction = (r)->direction,                 \
			       .action = (r)->action, .prefix = (r)->prefix,               \
			       .proto = (r)->proto, .access = (r)->access,                 \
			       .port_lo = (r)->port_lo, .port_hi = (r)->port_hi })

enum ug_row_kind {
	UG_ROW_NET,    /* egress, ingress, bind (or any other direction: then invalid) */
	UG_ROW_PATH,   /* exec, file */
	UG_ROW_FAMILY, /* family: deny only */
};

/* What a valid row is. */
struct ug_row_rule {
	uint8_t kind; /* enum ug_row_kind */
	union {
		struct ug_rule net;       /* ug_rule_parse() */
		struct ug_path_rule path; /* ug_path_rule_parse() */
		struct {
			uint8_t af;       /* 0-63 */
			uint32_t rule_id; /* the row's id */
		} family;
	};
};

/*
 * Classify and validate one row. The direction decides the kind: exec and
 * file are path rules, family a denied family, anything else a network
 * rule. -EINVAL when the row is not valid as that kind (or has no
 * direction); *why (may be NULL) then names what is wrong, or is NULL when
 * there is nothing more specific to say.
 */
int ug_rule_row_classify(const struct ug_rule_row *row, struct ug_row_rule *out,
			 const char **why);

/*
 * A target's own rules, row by row in the store's order: the valid network
 * rules and path rules (each in row order), the families denied with the
 * lowest rule id denying each, and how many rows were invalid. Zero it
 * before the first row.
 */
struct ug_own_rules {
	struct ug_rule *rules;
	size_t n_rules, cap_rules;
	struct ug_path_rule *paths;
	size_t n_paths, cap_paths;
	uint64_t families;        /* bit F: family F denied */
	uint32_t family_rule[64]; /* the lowest id of a rule denying family F */
	unsigned invalid;
};

/*
 * Add one row: 0 when added; -EINVAL when invalid (counted in invalid, *why
 * as ug_rule_row_classify() says); -ENOMEM (nothing counted).
 */
int ug_own_rules_add(struct ug_own_rules *o, const struct ug_rule_row *row, const char **why);

/* The part of a target's settings its rules make: families, net_rules, lsm_rules. */
void ug_own_rules_settings(const struct ug_own_rules *o, struct ug_settings *s);

/* Frees the arrays; o is zeroed. */
void ug_own_rules_free(struct ug_own_rules *o);

#endif
