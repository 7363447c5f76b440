/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's handle: opening it (created, read only, or found replaced underneath), closing
 * it, handing its connection over. The helpers every part of db/ shares (errors,
 * statements, transactions, times) are sql.c's. store.h states the contract; internal.h
 * says which file holds which part.
 *
 * Statements are prepared per call: the store is not on a hot path and this keeps close()
 * trivial. A handle is not thread safe (errmsg lives in it); give each thread its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "internal.h"

#define UG_BUSY_TIMEOUT_MS 5000

/*
 * Only the last component is created: a missing /var/lib means a broken system or a typo, and
 * silently building a tree for it would hide that.
 */
static int make_parent_dir(struct ug_store *st, const char *path)
{
	char *dir, *slash;
	struct stat sb;
	int ret = 0;

	dir = strdup(path);
	if (!dir) {
		db_set_err(st, "out of memory");
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		goto free_dir;
	*slash = '\0';
	if (stat(dir, &sb) == 0)
		goto free_dir;
	if (errno != ENOENT) {
		ret = -errno;
		db_set_err(st, "%s: %s", dir, strerror(-ret));
		goto free_dir;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		if (ret == -ENOENT)
			db_set_err(st, "cannot create %s: its parent directory does not exist",
				   dir);
		else
			db_set_err(st, "cannot create %s: %s", dir, strerror(-ret));
	}
free_dir:
	free(dir);
	return ret;
}

/*
 * Creating the file ourselves gives it mode 0600 without touching the process-wide umask;
 * sqlite then gives its -wal and -shm files the same mode. An empty file is a valid empty
 * database. An existing file keeps whatever mode its owner chose.
 */
static int create_file(struct ug_store *st, const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int e = errno;

		if (e == EEXIST)
			return 0;
		db_set_err(st, "cannot create %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int set_wal(struct ug_store *st)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	int rc, ret;

	ret = db_prepare(st, "PRAGMA journal_mode = WAL", &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = db_fail(st, rc, "set journal_mode");
		goto finalize;
	}
	/* sqlite answers with the mode it ended up in rather than failing. */
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || strcasecmp(mode, "wal") != 0) {
		db_set_err(st, "cannot enable WAL: journal_mode is %s", mode ? mode : "unknown");
		ret = -EIO;
		goto finalize;
	}
	ret = 0;
finalize:
	sqlite3_finalize(stmt);
	return ret;
}

/* path as the path of a file: URI (RFC 3986), every byte but the unreserved ones and '/'
 * percent-encoded. Caller frees; NULL when out of memory. */
static char *file_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(path), k = 5;
	char *u = malloc(5 + 3 * n + strlen(query) + 1);

	if (!u)
		return NULL;
	memcpy(u, "file:", 5);
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("/-._~", *c)) {
			u[k++] = (char)*c;
		} else {
			u[k++] = '%';
			u[k++] = hex[*c >> 4];
			u[k++] = hex[*c & 15];
		}
	}
	strcpy(u + k, query);
	return u;
}

/* UG_STORE_READONLY (store.h): read, as whoever may read the file; never write. */
static int open_readonly(struct ug_store *st, const char *path)
{
	char wal[PATH_MAX], *uri;
	struct stat sb;
	int rc, ret, v;

	if (stat(path, &sb) < 0) {
		ret = -errno;
		db_set_err(st, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* sqlite takes an empty file for an empty database; a writer would make it a store. */
	if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
		db_set_err(st, "%s is empty (0 bytes): not a store yet", path);
		return -ENOENT;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, rc, "open");
	sqlite3_extended_result_codes(st->db, 1);
	rc = sqlite3_busy_timeout(st->db, UG_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return db_fail(st, rc, "set busy timeout");
	/* The first read is where a WAL store without a -shm we may open fails. */
	ret = db_user_version(st, &v);
	if (ret && snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal)) {
		return ret;
	} else if (ret && !access(wal, F_OK)) {
		size_t n = strlen(st->err);

		snprintf(st->err + n, sizeof(st->err) - n, " (reading a WAL store takes read "
			 "access to %s and %s-shm, or write access to their directory)", wal,
			 path);
		return ret;
	} else if (ret && ((sqlite3_errcode(st->db) & 0xff) == SQLITE_READONLY ||
			   (sqlite3_errcode(st->db) & 0xff) == SQLITE_CANTOPEN)) {
		/* No -shm to be had, and no -wal: what is committed is all in the file. */
		sqlite3_close(st->db);
		st->db = NULL;
		uri = file_uri(path, "?immutable=1");
		if (!uri) {
			db_set_err(st, "out of memory");
			return -ENOMEM;
		}
		rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
		free(uri);
		if (rc != SQLITE_OK)
			return db_fail(st, rc, "open");
		sqlite3_extended_result_codes(st->db, 1);
		ret = db_user_version(st, &v);
	}
	return ret ? ret : db_schema_current(st, v, true);
}

static int open_db(struct ug_store *st, const char *path, unsigned flags)
{
	int oflags = SQLITE_OPEN_READWRITE;
	int rc, ret;

	if (flags & UG_STORE_CREATE) {
		ret = make_parent_dir(st, path);
		if (ret)
			return ret;
		ret = create_file(st, path);
		if (ret)
			return ret;
		oflags |= SQLITE_OPEN_CREATE;
	} else {
		struct stat sb;

		if (stat(path, &sb) < 0) {
			int e = errno;

			/* sqlite would only say "unable to open database file". */
			if (e == ENOENT)
				db_set_err(st, "%s does not exist", path);
			else
				db_set_err(st, "%s: %s", path, strerror(e));
			return -e;
		}
		/* An empty file is a valid empty database to sqlite: only a command
		 * that creates the store may make one of it. */
		if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
			db_set_err(st, "%s is empty: not a unitguard store", path);
			return -ENOENT;
		}
	}
	if (flags & UG_STORE_READONLY)
		return open_readonly(st, path);

	rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		ret = db_fail(st, rc, "open");
		if (ret == -ENOENT && !(flags & UG_STORE_CREATE))
			db_set_err(st, "%s does not exist", path);
		return ret;
	}
	sqlite3_extended_result_codes(st->db, 1);

	/* sqlite falls back to read-only when it may not write; every later write would fail,
	 * and even reading a WAL store needs write access to its -shm file. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		db_set_err(st, "%s: no write permission", path);
		return -EACCES;
	}
	/* Before WAL: switching the journal mode itself may have to wait for a lock. */
	rc = sqlite3_busy_timeout(st->db, UG_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return db_fail(st, rc, "set busy timeout");
	ret = set_wal(st);
	if (ret)
		return ret;
	/* Outside any transaction: inside one, PRAGMA foreign_keys is a silent no-op. */
	ret = db_exec(st, "PRAGMA foreign_keys = ON", "enable foreign keys");
	if (ret)
		return ret;
	/* In WAL mode NORMAL is still safe against corruption; a power cut may lose only the
	 * last commits. */
	ret = db_exec(st, "PRAGMA synchronous = NORMAL", "set synchronous");
	if (ret)
		return ret;
	return db_migrate(st);
}

/* Remember which file is open, to tell when the path points at another. */
static void note_file(struct ug_store *st)
{
	struct stat sb;

	if (!stat(st->path, &sb)) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
}

int ug_store_open(const char *path, unsigned flags, struct ug_store **out, char *errbuf,
		  size_t errlen)
{
	struct ug_store *st;
	int ret;

	if (out)
		*out = NULL;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!path || !*path || !out || (flags & ~(unsigned)(UG_STORE_CREATE | UG_STORE_READONLY)) ||
	    (flags & UG_STORE_CREATE && flags & UG_STORE_READONLY)) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "invalid argument");
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	st->busy_ms = UG_BUSY_TIMEOUT_MS;
	st->flags = flags & UG_STORE_READONLY;
	st->path = strdup(path);
	if (!st->path) {
		db_set_err(st, "out of memory");
		ret = -ENOMEM;
		goto close_store;
	}
	ret = open_db(st, path, flags);
	if (ret)
		goto close_store;
	note_file(st);
	*out = st;
	return 0;

close_store:
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", st->err);
	ug_store_close(st);
	return ret;
}

void ug_store_close(struct ug_store *st)
{
	if (!st)
		return;
	/* Every statement is finalized by the call that prepared it, so this cannot be BUSY. */
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

int ug_store_replaced(struct ug_store *st)
{
	struct stat sb;

	if (!st)
		return -EINVAL;
	if (stat(st->path, &sb))
		return 1;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

int ug_store_reopen(struct ug_store *st)
{
	struct ug_store fresh = { .busy_ms = st->busy_ms, .flags = st->flags };
	int ret;

	ret = open_db(&fresh, st->path, st->flags);
	if (!ret && st->busy_ms != UG_BUSY_TIMEOUT_MS &&
	    sqlite3_busy_timeout(fresh.db, st->busy_ms) != SQLITE_OK)
		ret = -EIO;
	if (ret) {
		snprintf(st->err, sizeof(st->err), "%s", fresh.err);
		sqlite3_close(fresh.db);
		return ret;
	}
	sqlite3_close(st->db);
	st->db = fresh.db;
	note_file(st);
	return 0;
}

const char *ug_store_errmsg(const struct ug_store *st)
{
	return st ? st->err : "no store";
}

void ug_store_take(struct ug_store *st, struct ug_store *from)
{
	int busy_ms = st->busy_ms;

	sqlite3_close(st->db);
	free(st->path);
	*st = *from;
	free(from);
	/* The holder's wait, not the new handle's default. */
	if (st->busy_ms != busy_ms && sqlite3_busy_timeout(st->db, busy_ms) == SQLITE_OK)
		st->busy_ms = busy_ms;
}

int ug_store_set_busy_timeout(struct ug_store *st, int ms)
{
	int rc;

	if (!st || ms < 0)
		return -EINVAL;
	rc = sqlite3_busy_timeout(st->db, ms);
	if (rc != SQLITE_OK)
		return db_fail(st, rc, "set busy timeout");
	st->busy_ms = ms;
	return 0;
}
