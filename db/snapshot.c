// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The last known good policy: a copy of the units and rules the agent last
 * put in force, in a store file of its own, for a boot where the store
 * cannot be read (design.md: fail static; an error never removes
 * enforcement, and after a reboot nothing is pinned). Written to a
 * temporary file and renamed over the old copy, so a crash leaves the old
 * copy or the new one, never half of one. Only units and rules: no audit,
 * no status, nothing that grows.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int ug_store_save_policy(struct ug_store *st, const char *path, int64_t version)
{
	struct ug_store *copy = NULL;
	sqlite3_stmt *stmt = NULL;
	char tmp[PATH_MAX], err[256];
	int ret, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		db_set_err(st, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	unlink(tmp);
	/* A fresh store of this build's schema, then the rows copied over. */
	ret = ug_store_open(tmp, UG_STORE_CREATE, &copy, err, sizeof(err));
	if (ret) {
		db_set_err(st, "%s: %s", tmp, err);
		goto out;
	}
	ug_store_close(copy);
	ret = db_prepare(st, "ATTACH DATABASE ? AS lkg", &stmt);
	if (ret)
		goto out;
	sqlite3_bind_text(stmt, 1, tmp, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		ret = db_fail(st, rc, "attach the policy copy");
		goto out;
	}
	/* One file, no WAL beside it: it is renamed whole. */
	ret = db_exec(st, "PRAGMA lkg.journal_mode = DELETE", "policy copy journal mode");
	if (!ret)
		ret = db_exec(st, "BEGIN", "begin the policy copy");
	if (!ret)
		ret = db_exec(st, "INSERT INTO lkg.units SELECT * FROM main.units;"
			      "INSERT INTO lkg.rules SELECT * FROM main.rules;"
			      /* the copied rules bumped the copy's revs: as the store's */
			      "UPDATE lkg.units SET rev = (SELECT m.rev FROM main.units m"
			      "	WHERE m.id = lkg.units.id);",
			      "copy the policy");
	if (!ret) {
		ret = db_prepare(st, "UPDATE lkg.meta SET value = ? WHERE key = 'policy_version'",
				 &stmt);
		if (!ret) {
			sqlite3_bind_int64(stmt, 1, version);
			rc = sqlite3_step(stmt);
			sqlite3_finalize(stmt);
			if (rc != SQLITE_DONE)
				ret = db_fail(st, rc, "stamp the policy copy");
		}
	}
	if (!ret)
		ret = db_exec(st, "COMMIT", "commit the policy copy");
	if (ret)
		db_tx_rollback(st);
	rc = db_exec(st, "DETACH DATABASE lkg", "detach the policy copy");
	ret = ret ?: rc;
	if (!ret && rename(tmp, path)) {
		ret = -errno;
		db_set_err(st, "rename %s: %s", tmp, strerror(errno));
	}
out:
	if (ret)
		unlink(tmp);
	return ret;
}
