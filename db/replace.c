/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ug_store_replace: the whole policy replaced in one transaction, writing only the
 * difference. What the difference is, policy/filediff.c says, without SQL; here the rows are
 * read and its plan written.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "internal.h"

/* Every units and rules row, as policy/filediff.c takes them; strings owned. */
struct stored {
	struct ug_store_unit *units;
	size_t n_units;
	struct ug_apply_rule *rules;
	size_t n_rules;
};

static void stored_free(struct stored *s)
{
	for (size_t i = 0; i < s->n_units; i++) {
		struct ug_store_unit *u = &s->units[i];

		free((char *)u->target);
		free((char *)u->mode);
		free((char *)u->default_egress);
		free((char *)u->default_ingress);
		free((char *)u->harden);
	}
	for (size_t i = 0; i < s->n_rules; i++) {
		struct ug_store_rule_spec *r = &s->rules[i].spec;

		free((char *)r->target);
		free((char *)r->direction);
		free((char *)r->action);
		free((char *)r->prefix);
		free((char *)r->access);
		free((char *)r->proto);
		free((char *)r->comment);
	}
	free(s->units);
	free(s->rules);
}

static char *dup_col(sqlite3_stmt *stmt, int i, bool *oom)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Room for one more row in *v (of *n, *cap); false when out of memory. */
static bool grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
	void *p;

	if (n < *cap)
		return true;
	p = reallocarray(*v, *cap ? 2 * *cap : first, size);
	if (!p)
		return false;
	*v = p;
	*cap = *cap ? 2 * *cap : first;
	return true;
}

/* Every units and rules row (rules in id order), read inside the caller's transaction. */
static int replace_load(struct ug_store *st, struct stored *s)
{
	static const char units_sql[] =
		"SELECT id, target, mode, default_egress, default_ingress, harden FROM units\n"
		"ORDER BY target";
	static const char rules_sql[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id ORDER BY r.id";
	sqlite3_stmt *stmt = NULL;
	size_t cap = 0;
	bool oom = false;
	int rc, ret;

	ret = db_prepare(st, units_sql, &stmt);
	if (ret)
		return ret;
	while (!oom && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (!grow((void **)&s->units, &cap, s->n_units, sizeof(*s->units), 64)) {
			oom = true;
			break;
		}
		s->units[s->n_units++] = (struct ug_store_unit){
			.id = sqlite3_column_int64(stmt, 0),
			.target = dup_col(stmt, 1, &oom),
			.mode = dup_col(stmt, 2, &oom),
			.default_egress = dup_col(stmt, 3, &oom),
			.default_ingress = dup_col(stmt, 4, &oom),
			.harden = dup_col(stmt, 5, &oom),
		};
	}
	sqlite3_finalize(stmt);
	if (oom)
		goto oom;
	if (rc != SQLITE_DONE)
		return db_fail(st, rc, "read units");

	ret = db_prepare(st, rules_sql, &stmt);
	if (ret)
		return ret;
	cap = 0;
	while (!oom && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct ug_apply_rule *r;

		if (!grow((void **)&s->rules, &cap, s->n_rules, sizeof(*s->rules), 256)) {
			oom = true;
			break;
		}
		r = &s->rules[s->n_rules++];
		*r = (struct ug_apply_rule){
			.id = sqlite3_column_int64(stmt, 0),
			.spec = {
				.target = dup_col(stmt, 1, &oom),
				.direction = dup_col(stmt, 2, &oom),
				.action = dup_col(stmt, 3, &oom),
				.prefix = dup_col(stmt, 4, &oom),
				.proto = dup_col(stmt, 5, &oom),
				.port_lo = (uint32_t)sqlite3_column_int64(stmt, 6),
				.port_hi = (uint32_t)sqlite3_column_int64(stmt, 7),
				.comment = dup_col(stmt, 8, &oom),
				.access = dup_col(stmt, 9, &oom),
			},
		};
		if (!oom && !db_spec_complete(&r->spec)) {
			db_set_err(st, "rule %lld has no target, direction, action or prefix",
				   (long long)r->id);
			sqlite3_finalize(stmt);
			return -EIO;
		}
	}
	sqlite3_finalize(stmt);
	if (oom)
		goto oom;
	if (rc != SQLITE_DONE)
		return db_fail(st, rc, "read rules");
	return 0;
oom:
	db_set_err(st, "out of memory");
	return -ENOMEM;
}

/* Step a statement the caller bound, and reset it for the next row. */
static int step_reset(struct ug_store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : db_fail(st, rc, what);
}

/* Write the plan, inside the caller's BEGIN IMMEDIATE. plan->rule_id gets the new rules'
 * ids. */
static int replace_write(struct ug_store *st, struct ug_apply_plan *plan,
			 const struct ug_store_rule_spec *rules, size_t n_rules, size_t n_units)
{
	sqlite3_stmt *rule_del = NULL, *unit_del = NULL, *comment = NULL;
	const struct ug_store_change *c = plan->changes;
	struct db_policy_stmts ps = { 0 };
	int64_t *unit_ids;
	char what[64];
	size_t i;
	int ret;

	unit_ids = calloc(plan->n_units ?: 1, sizeof(*unit_ids));
	if (!unit_ids) {
		db_set_err(st, "out of memory");
		return -ENOMEM;
	}
	ret = db_prepare(st, "DELETE FROM rules WHERE id = ?1", &rule_del);
	if (!ret)
		ret = db_prepare(st, "DELETE FROM units WHERE target = ?1", &unit_del);
	if (!ret)
		ret = db_prepare(st, "UPDATE rules SET comment = ?2 WHERE id = ?1", &comment);
	if (!ret)
		ret = db_policy_stmts_prepare(st, &ps, true);
	/* Rules first, by their own triggers (the cascade would not run them). */
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_RULE_DEL)
			continue;
		sqlite3_bind_int64(rule_del, 1, c[i].rule_id);
		ret = step_reset(st, rule_del, "delete rule");
	}
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_UNIT_DEL)
			continue;
		sqlite3_bind_text(unit_del, 1, c[i].target, -1, SQLITE_STATIC);
		ret = step_reset(st, unit_del, "delete unit");
	}
	/* Units in the order given (new ones' ids follow it); settings only where they
	 * differ (unit_ensure's UPDATE leaves an equal row alone). */
	for (i = 0; !ret && i < plan->n_units; i++) {
		const struct ug_apply_unit *u = &plan->units[i];

		if (u->order < n_units)
			snprintf(what, sizeof(what), "units[%zu]", u->order);
		else
			snprintf(what, sizeof(what), "rules[%zu]", u->order - n_units);
		ret = db_unit_ensure(st, &ps, u->target, u->set[0], u->set[1], u->set[2], u->set[3],
				     what, &unit_ids[i]);
	}
	for (i = 0; !ret && i < plan->n_changes; i++) {
		if (c[i].kind != UG_CHANGE_RULE_COMMENT)
			continue;
		sqlite3_bind_int64(comment, 1, c[i].rule_id);
		db_bind_text(comment, 2, c[i].new_value);
		ret = step_reset(st, comment, "update comment");
	}
	for (i = 0; !ret && i < n_rules; i++) {
		if (plan->rule_id[i])
			continue;
		snprintf(what, sizeof(what), "rules[%zu]", i);
		ret = db_rule_insert(st, &ps, unit_ids[plan->rule_unit[i]], &rules[i], what,
				     &plan->rule_id[i]);
	}
	free(unit_ids);
	sqlite3_finalize(rule_del);
	sqlite3_finalize(unit_del);
	sqlite3_finalize(comment);
	db_policy_stmts_finalize(&ps);
	return ret;
}

/*
 * One BEGIN IMMEDIATE around read, plan and write: a reader sees the old policy or the new
 * one, never half of each; any failure rolls back to the old one; and no other writer can
 * change the store between the read the plan is made from and the write. AUTOINCREMENT
 * keeps deleted ids from coming back. Each row written bumps policy_version through the
 * triggers; nothing written, nothing bumped. The difference itself is policy/filediff.c's.
 */
int ug_store_replace_changes(struct ug_store *st, const struct ug_store_unit *units,
			     size_t n_units, const struct ug_store_rule_spec *rules, size_t n_rules,
			     unsigned flags, ug_store_change_cb cb, void *ctx, size_t *n_changes)
{
	bool dry = flags & UG_REPLACE_DRY_RUN;
	struct ug_store none = { 0 }; /* st NULL: against an empty store */
	struct ug_apply_plan plan = { 0 };
	struct stored have = { 0 };
	size_t i;
	int ret;

	if (!st && !dry)
		return -EINVAL;
	if (!st)
		st = &none;
	if (n_changes)
		*n_changes = 0;
	if (flags & ~(unsigned)UG_REPLACE_DRY_RUN) {
		db_set_err(st, "replace: unknown flags");
		return -EINVAL;
	}
	/* Checked up front, so a NULL never reaches a statement that would take it for "keep",
	 * and bad input is refused before any lock is taken. */
	ret = ug_apply_check(units, n_units, rules, n_rules, st->err, sizeof(st->err));
	if (ret)
		return ret;

	/* A dry run reads one snapshot and takes no write lock. */
	ret = !st->db ? 0 : dry ? db_exec(st, "BEGIN", "begin transaction") : db_tx_begin(st);
	if (ret)
		return ret;
	if (st->db)
		ret = replace_load(st, &have);
	if (!ret)
		ret = ug_apply_plan(have.units, have.n_units, have.rules, have.n_rules, units,
				    n_units, rules, n_rules, &plan, st->err, sizeof(st->err));
	if (!ret && !dry && plan.n_changes)
		ret = replace_write(st, &plan, rules, n_rules, n_units);
	if (!ret && !dry)
		ret = db_tx_commit(st);
	if (st->db)
		db_tx_rollback(st);
	if (ret)
		goto out;

	for (i = 0; !ret && cb && i < plan.n_changes; i++) {
		struct ug_store_change *c = &plan.changes[i];

		if (c->kind == UG_CHANGE_RULE_ADD)
			c->rule_id = dry ? 0 : plan.rule_id[c->rule - rules];
		ret = cb(c, ctx);
	}
	if (n_changes)
		*n_changes = plan.n_changes;
out:
	ug_apply_plan_free(&plan);
	stored_free(&have);
	return ret;
}

int ug_store_replace(struct ug_store *st, const struct ug_store_unit *units, size_t n_units,
		     const struct ug_store_rule_spec *rules, size_t n_rules)
{
	return ug_store_replace_changes(st, units, n_units, rules, n_rules, 0, NULL, NULL, NULL);
}
