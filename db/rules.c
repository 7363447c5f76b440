/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy rows: units and their settings, rules, policy_version (which the schema's
 * triggers bump on every change, whoever makes it), and the generations the agent put in
 * force. Replacing the whole policy at once is replace.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "internal.h"

int ug_store_policy_version(struct ug_store *st, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st || !out)
		return -EINVAL;
	ret = db_prepare(st, "SELECT value FROM meta WHERE key = 'policy_version'", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		db_set_err(st, "meta has no policy_version row");
		ret = -EIO;
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		ret = db_fail(st, rc, "read policy_version");
		goto finalize;
	}
	*out = sqlite3_column_int64(stmt, 0);
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

void db_policy_stmts_finalize(struct db_policy_stmts *ps)
{
	sqlite3_finalize(ps->unit_ins);
	sqlite3_finalize(ps->unit_upd);
	sqlite3_finalize(ps->unit_sel);
	sqlite3_finalize(ps->rule_ins);
	*ps = (struct db_policy_stmts){ 0 };
}

int db_policy_stmts_prepare(struct ug_store *st, struct db_policy_stmts *ps, bool with_rules)
{
	/* DO NOTHING rather than INSERT OR IGNORE: IGNORE would also swallow a NOT NULL or CHECK
	 * violation and leave us looking up a unit that was never written. */
	static const char unit_ins[] =
		"INSERT INTO units (target) VALUES (?1) ON CONFLICT (target) DO NOTHING";
	static const char unit_upd[] =
		"UPDATE units SET mode = coalesce(?2, mode),\n"
		"	default_egress = coalesce(?3, default_egress),\n"
		"	default_ingress = coalesce(?4, default_ingress),\n"
		"	harden = coalesce(?5, harden)\n"
		"WHERE target = ?1 AND (mode IS NOT coalesce(?2, mode)\n"
		"	OR default_egress IS NOT coalesce(?3, default_egress)\n"
		"	OR default_ingress IS NOT coalesce(?4, default_ingress)\n"
		"	OR harden IS NOT coalesce(?5, harden))";
	static const char unit_sel[] = "SELECT id FROM units WHERE target = ?1";
	static const char rule_ins[] =
		"INSERT INTO rules (unit_id, direction, action, prefix, proto, port_lo, port_hi,\n"
		"	comment, access)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	int ret;

	*ps = (struct db_policy_stmts){ 0 };
	ret = db_prepare(st, unit_ins, &ps->unit_ins);
	if (!ret)
		ret = db_prepare(st, unit_upd, &ps->unit_upd);
	if (!ret)
		ret = db_prepare(st, unit_sel, &ps->unit_sel);
	if (!ret && with_rules)
		ret = db_prepare(st, rule_ins, &ps->rule_ins);
	if (ret)
		db_policy_stmts_finalize(ps);
	return ret;
}

/* Runs inside the caller's transaction. A target listed twice is ug_apply_check's to
 * refuse (policy/filediff.c). */
int db_unit_ensure(struct ug_store *st, struct db_policy_stmts *ps, const char *target,
		   const char *mode, const char *egress, const char *ingress,
		   const char *harden, const char *what, int64_t *id_out)
{
	int rc;

	sqlite3_bind_text(ps->unit_ins, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(ps->unit_ins);
	if (rc != SQLITE_DONE)
		return db_fail(st, rc, what);
	sqlite3_reset(ps->unit_ins);

	if (mode || egress || ingress || harden) {
		sqlite3_bind_text(ps->unit_upd, 1, target, -1, SQLITE_STATIC);
		db_bind_text(ps->unit_upd, 2, mode);
		db_bind_text(ps->unit_upd, 3, egress);
		db_bind_text(ps->unit_upd, 4, ingress);
		db_bind_text(ps->unit_upd, 5, harden);
		rc = sqlite3_step(ps->unit_upd);
		if (rc != SQLITE_DONE)
			return db_fail(st, rc, what);
		sqlite3_reset(ps->unit_upd);
	}

	sqlite3_bind_text(ps->unit_sel, 1, target, -1, SQLITE_STATIC);
	rc = sqlite3_step(ps->unit_sel);
	if (rc == SQLITE_DONE) {
		db_set_err(st, "%s: unit %s vanished inside its own transaction", what, target);
		return -EIO;
	}
	if (rc != SQLITE_ROW)
		return db_fail(st, rc, what);
	*id_out = sqlite3_column_int64(ps->unit_sel, 0);
	sqlite3_reset(ps->unit_sel);
	return 0;
}

/* The CHECK constraints and the rules_ports_* and rules_kind_* triggers judge the values; a
 * port above 65535 reaches them intact as an int64 and fails there. */
int db_rule_insert(struct ug_store *st, struct db_policy_stmts *ps, int64_t unit_id,
		   const struct ug_store_rule_spec *spec, const char *what, int64_t *id_out)
{
	sqlite3_stmt *stmt = ps->rule_ins;
	int rc;

	sqlite3_bind_int64(stmt, 1, unit_id);
	sqlite3_bind_text(stmt, 2, spec->direction, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, spec->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, spec->prefix, -1, SQLITE_STATIC);
	db_bind_text(stmt, 5, spec->proto);
	sqlite3_bind_int64(stmt, 6, spec->port_lo);
	sqlite3_bind_int64(stmt, 7, spec->port_hi);
	db_bind_text(stmt, 8, spec->comment);
	db_bind_text(stmt, 9, spec->access);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(st, rc, what);
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(st->db);
	sqlite3_reset(stmt);
	return 0;
}

bool db_spec_complete(const struct ug_store_rule_spec *spec)
{
	return spec && spec->target && spec->direction && spec->action && spec->prefix;
}

int ug_store_rule_add(struct ug_store *st, const struct ug_store_rule_spec *spec,
		      int64_t *id_out)
{
	struct db_policy_stmts ps = { 0 };
	int64_t unit_id, id;
	int ret;

	if (!st)
		return -EINVAL;
	if (!db_spec_complete(spec)) {
		db_set_err(st, "rule without target, direction, action or prefix");
		return -EINVAL;
	}

	ret = db_tx_begin(st);
	if (ret)
		return ret;
	ret = db_policy_stmts_prepare(st, &ps, true);
	if (ret)
		goto rollback;
	ret = db_unit_ensure(st, &ps, spec->target, NULL, NULL, NULL, NULL, "insert unit",
			     &unit_id);
	if (ret)
		goto rollback;
	ret = db_rule_insert(st, &ps, unit_id, spec, "insert rule", &id);
	if (ret)
		goto rollback;
	db_policy_stmts_finalize(&ps);

	ret = db_tx_commit(st);
	if (ret)
		goto rollback;
	if (id_out)
		*id_out = id;
	return 0;

rollback:
	db_policy_stmts_finalize(&ps);
	db_tx_rollback(st);
	return ret;
}

int ug_store_rule_del(struct ug_store *st, int64_t id)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	ret = db_prepare(st, "DELETE FROM rules WHERE id = ?1", &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = db_fail(st, rc, "delete rule");
		goto finalize;
	}
	/* Counts only rows the DELETE itself removed, not the triggers' meta update. */
	if (sqlite3_changes(st->db) == 0) {
		db_set_err(st, "no rule with id %lld", (long long)id);
		ret = -ENOENT;
		goto finalize;
	}
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* Step a rules query, call cb per row; finalizes stmt. */
static int rule_rows(struct ug_store *st, sqlite3_stmt *stmt, ug_store_rule_cb cb, void *ctx)
{
	struct ug_store_rule r;
	int rc, ret;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r = (struct ug_store_rule){
			.id = sqlite3_column_int64(stmt, 0),
			.target = (const char *)sqlite3_column_text(stmt, 1),
			.direction = (const char *)sqlite3_column_text(stmt, 2),
			.action = (const char *)sqlite3_column_text(stmt, 3),
			.prefix = (const char *)sqlite3_column_text(stmt, 4),
			.proto = (const char *)sqlite3_column_text(stmt, 5),
			.port_lo = (uint32_t)sqlite3_column_int64(stmt, 6),
			.port_hi = (uint32_t)sqlite3_column_int64(stmt, 7),
			.comment = (const char *)sqlite3_column_text(stmt, 8),
			.created_at = (const char *)sqlite3_column_text(stmt, 9),
			.access = (const char *)sqlite3_column_text(stmt, 10),
		};
		ret = cb(&r, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "list rules");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

int ug_store_unit_rules(struct ug_store *st, int64_t unit_id, ug_store_rule_cb cb, void *ctx)
{
	static const char sql[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"WHERE r.unit_id = ?1\n"
		"ORDER BY r.id";
	sqlite3_stmt *stmt = NULL;
	int ret;

	if (!st || !cb)
		return -EINVAL;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, unit_id);
	return rule_rows(st, stmt, cb, ctx);
}

int ug_store_rules(struct ug_store *st, const char *target, ug_store_rule_cb cb, void *ctx)
{
	/* Two texts rather than "?1 IS NULL OR ...", which would keep the planner off the
	 * index on units.target. */
	static const char all[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"ORDER BY u.target, r.id";
	static const char one[] =
		"SELECT r.id, u.target, r.direction, r.action, r.prefix, r.proto, r.port_lo,\n"
		"	r.port_hi, r.comment, r.created_at, r.access\n"
		"FROM rules r JOIN units u ON u.id = r.unit_id\n"
		"WHERE u.target = ?1\n"
		"ORDER BY u.target, r.id";
	sqlite3_stmt *stmt = NULL;
	int ret;

	if (!st || !cb)
		return -EINVAL;
	ret = db_prepare(st, target ? one : all, &stmt);
	if (ret)
		return ret;
	if (target)
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
	return rule_rows(st, stmt, cb, ctx);
}

int ug_store_unit_set(struct ug_store *st, const char *target, const char *mode,
		      const char *default_egress, const char *default_ingress,
		      const char *harden)
{
	struct db_policy_stmts ps = { 0 };
	int64_t id;
	int ret;

	if (!st)
		return -EINVAL;
	if (!target) {
		db_set_err(st, "unit without target");
		return -EINVAL;
	}

	ret = db_tx_begin(st);
	if (ret)
		return ret;
	ret = db_policy_stmts_prepare(st, &ps, false);
	if (ret)
		goto rollback;
	ret = db_unit_ensure(st, &ps, target, mode, default_egress, default_ingress, harden,
			     "set unit", &id);
	if (ret)
		goto rollback;
	db_policy_stmts_finalize(&ps);

	ret = db_tx_commit(st);
	if (ret)
		goto rollback;
	return 0;

rollback:
	db_policy_stmts_finalize(&ps);
	db_tx_rollback(st);
	return ret;
}

int ug_store_unit_del(struct ug_store *st, const char *target)
{
	static const char sql[] = "DELETE FROM units WHERE target = ?1";
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st || !target)
		return -EINVAL;
	ret = db_tx_begin(st);
	if (ret)
		return ret;
	/* Its rules first, by their own triggers (the cascade would not run
	 * them), then the unit. */
	ret = db_prepare(st, "DELETE FROM rules WHERE unit_id = "
			 "(SELECT id FROM units WHERE target = ?1)", &stmt);
	if (!ret) {
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "delete the unit's rules");
		sqlite3_finalize(stmt);
		stmt = NULL;
	}
	if (!ret)
		ret = db_prepare(st, sql, &stmt);
	if (!ret) {
		sqlite3_bind_text(stmt, 1, target, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "delete unit");
		if (!ret && !sqlite3_changes(st->db)) {
			db_set_err(st, "no unit '%s' in the store", target);
			ret = -ENOENT;
		}
		sqlite3_finalize(stmt);
	}
	if (!ret)
		ret = db_tx_commit(st);
	if (ret)
		db_tx_rollback(st);
	return ret;
}

int ug_store_units(struct ug_store *st, ug_store_unit_cb cb, void *ctx)
{
	static const char sql[] =
		"SELECT id, target, mode, default_egress, default_ingress, harden, rev FROM units\n"
		"ORDER BY target";
	sqlite3_stmt *stmt = NULL;
	struct ug_store_unit u;
	int rc, ret;

	if (!st || !cb)
		return -EINVAL;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		u = (struct ug_store_unit){
			.id = sqlite3_column_int64(stmt, 0),
			.target = db_text(stmt, 1),
			.mode = db_text(stmt, 2),
			.default_egress = db_text(stmt, 3),
			.default_ingress = db_text(stmt, 4),
			.harden = db_text(stmt, 5),
			.rev = sqlite3_column_int64(stmt, 6),
		};
		ret = cb(&u, ctx);
		if (ret)
			goto finalize;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "list units");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* OR REPLACE: a generation number recorded again replaces the earlier row. */
int ug_store_generation_add(struct ug_store *st, uint32_t generation, int64_t time_us,
			    int64_t policy_version, uint32_t units_changed)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO generations (generation, time, time_us, policy_version,\n"
		"	units_changed)\n"
		"VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *stmt = NULL;
	int rc, ret;

	if (!st)
		return -EINVAL;
	ret = db_prepare(st, sql, &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, generation);
	ret = db_bind_time(st, stmt, 2, time_us);
	if (ret)
		goto finalize;
	sqlite3_bind_int64(stmt, 4, policy_version);
	sqlite3_bind_int64(stmt, 5, units_changed);
	rc = sqlite3_step(stmt);
	ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, "add generation");
finalize:
	sqlite3_finalize(stmt);
	return ret;
}
