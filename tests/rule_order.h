/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The order policy.h states among rules on one prefix, written from the
 * text, not from compile.c: the reference the compiler is checked against
 * (tests/test_policy.c's oracle, tests/fuzz/fuzz_compile.c).
 */
#ifndef UG_TEST_RULE_ORDER_H
#define UG_TEST_RULE_ORDER_H

#include <stdbool.h>

#include "policy.h"

/* Same prefix and qualifier: the unit's own rule overrides its slice's, then
 * deny, then the lowest id. */
static inline bool ref_overrides(const struct ug_rule *a, const struct ug_rule *b)
{
	if (a->depth != b->depth)
		return a->depth < b->depth;
	if (a->action != b->action)
		return a->action == UG_ACT_DENY;
	return a->id < b->id;
}

/* On one prefix, the order rules are tried in: ports (narrowest first), a
 * protocol, deny, smaller depth, lower id. */
static inline bool ref_tried_first(const struct ug_rule *a, const struct ug_rule *b)
{
	if (!!a->has_ports != !!b->has_ports)
		return a->has_ports;
	if (a->has_ports && a->port_hi - a->port_lo != b->port_hi - b->port_lo)
		return a->port_hi - a->port_lo < b->port_hi - b->port_lo;
	if (!a->proto != !b->proto)
		return a->proto;
	if (a->action != b->action)
		return a->action == UG_ACT_DENY;
	if (a->depth != b->depth)
		return a->depth < b->depth;
	return a->id < b->id;
}

#endif
