/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * db/: the SQLite policy and audit store. Functions return 0 or a negative
 * errno; on failure ug_store_errmsg() says why (sqlite's message or ours).
 * Every statement is prepared with bound parameters. The schema is versioned
 * with PRAGMA user_version and migrated forward on open (migrations[] in db/schema.c).
 */
#ifndef UG_STORE_H
#define UG_STORE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* The policy rows (struct ug_store_rule_spec, ug_store_unit, ug_store_change): declared with
 * the apply difference, which is computed from them without a store. */
#include "filediff.h"

#define UG_DEFAULT_DB "/var/lib/unitguard/unitguard.db"

struct ug_store;

enum ug_store_flags {
	UG_STORE_CREATE = 1 << 0, /* create the file (and its directory, 0700) when missing */
	/*
	 * Only read, as any user who may read the file: opened SQLITE_OPEN_READONLY, nothing
	 * created, migrated or switched. A missing or empty (0 bytes) file is -ENOENT and stays
	 * as it is; a schema older or newer than this build is -EPROTO (a writer migrates).
	 * A WAL store is read through its -shm file, which a writer creates (unitguardd keeps
	 * it, with the store's mode, while it runs; a read by root leaves one too). Without
	 * one, and without write access to the directory to create it, SQLite cannot read a
	 * WAL store at all; then, and only when there is no -wal either (everything committed
	 * is in the file), the file is read as immutable: a writer that starts during such a
	 * read can make it fail, never write, and the handle does not see later changes.
	 */
	UG_STORE_READONLY = 1 << 1,
};

/*
 * Open (and with UG_STORE_CREATE create) the store at path, set WAL mode,
 * foreign keys, a busy timeout, and migrate the schema to the current
 * version. Without UG_STORE_CREATE a missing file is -ENOENT. A store whose
 * user_version is newer than this build knows is refused (-EPROTO).
 * UG_STORE_READONLY: see above; not with UG_STORE_CREATE.
 * On failure *out is NULL and errbuf (if not NULL) holds one line.
 */
int ug_store_open(const char *path, unsigned flags, struct ug_store **out, char *errbuf,
		  size_t errlen);
void ug_store_close(struct ug_store *st); /* accepts NULL */
/* Is the file at the store's path no longer the one open (replaced, moved
 * away, restored from a backup)? 1 yes, 0 no. */
int ug_store_replaced(struct ug_store *st);
/* Open the store's path again (never creating it) in place of the current
 * handle; on error the current handle stays and errmsg says why. */
int ug_store_reopen(struct ug_store *st);
/* Is the schema still the one this build knows? Someone may have upgraded
 * (or replaced) the store since it was opened. -EPROTO, with errmsg. */
int ug_store_check_schema(struct ug_store *st);
/* How long a statement waits for another writer's lock before failing with
 * -EBUSY (default 5 s). The agent waits less: it must not stall its event
 * loop on someone's long transaction, and it retries what failed. */
int ug_store_set_busy_timeout(struct ug_store *st, int ms);
const char *ug_store_errmsg(const struct ug_store *st);
/* st closes what it has open and goes on with from's connection (from is
 * freed): whoever holds st now uses the store from was opened on. */
void ug_store_take(struct ug_store *st, struct ug_store *from);

/* Monotonic counter bumped (by triggers) by every change to units or rules,
 * whoever makes it, including a raw `sqlite3` session. */
int ug_store_policy_version(struct ug_store *st, int64_t *out);

/* Adds a rule (struct ug_store_rule_spec, filediff.h), creating the target's units row if
 * needed, in one transaction. */
int ug_store_rule_add(struct ug_store *st, const struct ug_store_rule_spec *spec,
		      int64_t *id_out);
/* -ENOENT when no rule has that id; then nothing changes. */
int ug_store_rule_del(struct ug_store *st, int64_t id);

struct ug_store_rule {
	int64_t id;
	const char *target;
	const char *direction;
	const char *action;
	const char *prefix;
	const char *access;  /* file rules: "read" | "write" | "any"; else NULL */
	const char *proto;   /* NULL: any */
	uint32_t port_lo;    /* 0: none */
	uint32_t port_hi;
	const char *comment; /* NULL: none */
	const char *created_at; /* ISO 8601 UTC */
};
/* Strings are valid only during the callback. A non-zero return from cb stops
 * the walk and is returned. Ordered by target, then id. target NULL: all. */
typedef int (*ug_store_rule_cb)(const struct ug_store_rule *r, void *ctx);
int ug_store_rules(struct ug_store *st, const char *target, ug_store_rule_cb cb, void *ctx);
/* The rules of the units row with this id, ordered by id. */
int ug_store_unit_rules(struct ug_store *st, int64_t unit_id, ug_store_rule_cb cb, void *ctx);

/* One audit record. Strings may be NULL (stored as NULL). */
struct ug_audit_row {
	int64_t time_us;       /* CLOCK_REALTIME, microseconds */
	const char *unit;      /* policy target that decided */
	uint64_t cgroup_id;
	uint32_t pid;
	uint32_t uid;
	const char *comm;
	const char *family;    /* "ipv4" | "ipv6" */
	const char *protocol;  /* "tcp" | "udp" | "icmp" | "icmpv6" | decimal */
	const char *address;
	uint32_t port;
	const char *hook;
	const char *direction;
	const char *verdict;   /* "deny" | "audit" */
	int64_t rule_id;       /* 0: the default posture decided; stored as NULL */
	uint32_t generation;
	const char *path;      /* LSM: the file or program path; NULL otherwise */
	const char *exe;       /* LSM: the acting task's executable; NULL if unknown */
	const char *detail;    /* LSM: e.g. "family=packet", "target_pid=42", "path too long" */
	uint64_t count;        /* denials this row stands for; 0 is taken as 1 */
	int64_t first_time_us; /* the first of them; 0 or >= time_us: just time_us */
};

/* Inserts n rows in one transaction: all or none. */
int ug_store_audit_insert(struct ug_store *st, const struct ug_audit_row *rows, size_t n);

/* count denials of unit (NULL: not known) that the kernel could not record:
 * a lost_events row of kind "ringbuf". */
struct ug_lost_row {
	int64_t time_us;
	uint64_t count;
	const char *unit;
};

/* An agent_state key and its value. */
struct ug_store_mark {
	const char *key;
	const char *value;
};

/* n audit rows, n_lost lost counts and n_marks agent_state values (where the
 * records of these rows end in their ring buffers: agent/ring.h) in one
 * transaction: all or none. */
int ug_store_audit_write(struct ug_store *st, const struct ug_audit_row *rows, size_t n,
			 const struct ug_lost_row *lost, size_t n_lost,
			 const struct ug_store_mark *marks, size_t n_marks);

/*
 * Retention, in one transaction: rows of audit, rule_hits and accounting
 * older than before_us (0: no age limit) go, oldest first; then, while the
 * store's pages in use exceed max_bytes (0: no size limit), the oldest audit
 * rows of the unit with the most rows (so that a unit that floods pays for
 * its flood, not the others: audit_units), then rule hits, then accounting
 * rows. At most budget rows per table and reason per call. Audit rows are
 * counted into audit_summary (unit, day, verdict) before they go. *pruned
 * (may be NULL): rows deleted.
 */
int ug_store_prune(struct ug_store *st, int64_t max_bytes, int64_t before_us, int64_t budget,
		   int64_t *pruned);
/* Bytes of the store's pages in use (page_count - freelist_count). */
int ug_store_used_bytes(struct ug_store *st, int64_t *out);
/* Bytes of the store's files on disk: the database, its -wal and -shm. */
int ug_store_disk_bytes(struct ug_store *st, int64_t *out);
/*
 * Keep the write-ahead log within wal_max bytes (0: SQLite's defaults): its
 * automatic checkpoint and size limit are set from it, and once it has grown
 * past an eighth of it, it is checkpointed and truncated here, waiting at most
 * 20 ms for readers (a reader's open snapshot keeps it until the next call).
 * 0, or -EBUSY when readers or a writer held it.
 */
int ug_store_wal_bound(struct ug_store *st, int64_t wal_max);

struct ug_store_audit {
	int64_t id;
	const char *time; /* ISO 8601 UTC with microseconds */
	struct ug_audit_row row; /* time_us also filled */
};
typedef int (*ug_store_audit_cb)(const struct ug_store_audit *a, void *ctx);
/* Ordered by id; unit NULL: all. */
int ug_store_audit_list(struct ug_store *st, const char *unit, ug_store_audit_cb cb, void *ctx);

struct ug_audit_filter {
	const char *unit; /* NULL: all */
	bool has_since, has_until;
	int64_t since_us; /* with has_since: rows with a denial at or after this */
	int64_t until_us; /* with has_until: ... and before this */
	int64_t after_id; /* rows with a larger id only (following the table) */
};
/* The largest audit id (0: none), where following the table starts. */
int ug_store_audit_max_id(struct ug_store *st, int64_t *out);
/* Ordered by id. */
int ug_store_audit_query(struct ug_store *st, const struct ug_audit_filter *f,
			 ug_store_audit_cb cb, void *ctx);

/*
 * The audit reports (views of schema 6; README, "Audit reports"): "totals",
 * "hourly", "destinations", "paths", "rules", "would_deny". cb gets each row
 * as text (NULL for NULL) with the column names. At most limit rows (<= 0:
 * all). -ENOENT: no such report.
 */
#define UG_REPORT_COLS_MAX 16
typedef int (*ug_store_report_cb)(int n, const char *const *cols, const char *const *vals,
				  void *ctx);
int ug_store_report(struct ug_store *st, const char *name, const char *unit, int64_t limit,
		    ug_store_report_cb cb, void *ctx);
/* The i-th report's name; NULL past the last. */
const char *ug_store_report_name(size_t i);

/*
 * A time in journalctl's syntax (now, today, yesterday, -1h, "2 days ago",
 * 14:00 (today), 2026-11-30 14:00, ...Z, @SECONDS) to microseconds since the epoch; now_us
 * is what relative times count from. ug_time_parse() (policy/timetext.h) with its
 * message in ug_store_errmsg(): -EINVAL, saying what is accepted.
 */
int ug_store_parse_time(struct ug_store *st, const char *text, int64_t now_us, int64_t *out);

/* Records that count denials could not be recorded: kind "ringbuf" (ring
 * buffer full; NULL means this) or "store" (journaled, not stored here);
 * unit: whose denials they were, NULL if not known. */
int ug_store_lost_add(struct ug_store *st, int64_t time_us, uint64_t count, const char *kind,
		      const char *unit);

/* --- units: mode and default posture (struct ug_store_unit, filediff.h) ----- */

/* Deletes a unit and its rules, in one transaction; -ENOENT: no such unit. */
int ug_store_unit_del(struct ug_store *st, const char *target);
/* Creates the units row if needed; a NULL field keeps its current value (or
 * the default: enforce, allow, allow, ""). Validated input only. */
int ug_store_unit_set(struct ug_store *st, const char *target, const char *mode,
		      const char *default_egress, const char *default_ingress,
		      const char *harden);
typedef int (*ug_store_unit_cb)(const struct ug_store_unit *u, void *ctx);
/* Every units row (with or without rules), ordered by target. */
int ug_store_units(struct ug_store *st, ug_store_unit_cb cb, void *ctx);

/*
 * Replace the whole policy (every unit and rule) with units[] and rules[], in one
 * transaction: all or nothing. units[] need not list every rule's target (missing ones get
 * the defaults); NULL settings are the defaults (enforce, allow, allow, ""), not what the
 * unit had; id fields of units[] are ignored.
 *
 * Only the difference is written, so that what did not change keeps its identity:
 *  - a unit is its target: a unit in both keeps its row (id, created_at); only settings
 *    that differ are updated;
 *  - a rule is its target and every field that decides: direction, action, prefix, proto,
 *    port_lo, port_hi and access (not its id, comment or created_at). A stored rule equal
 *    in these to a wanted one keeps its id, so audit rows and rule_hits that name it keep
 *    matching; a different comment is updated in place. Identical rules are paired one to
 *    one (a rule listed twice is two rules). Every other stored rule is deleted and every
 *    other wanted rule inserted, in the order of rules[], with new ids.
 * An input identical to the store writes nothing at all: policy_version does not move, so
 * the agent has nothing to apply.
 */
int ug_store_replace(struct ug_store *st, const struct ug_store_unit *units, size_t n_units,
		     const struct ug_store_rule_spec *rules, size_t n_rules);

/* One difference between the store and a replacement: struct ug_store_change (filediff.h).
 * Strings are valid only during the callback; a non-zero return stops the walk and is
 * returned. */
typedef int (*ug_store_change_cb)(const struct ug_store_change *c, void *ctx);

enum ug_store_replace_flags {
	/* Only say what would change: nothing is written (a read transaction, so a store
	 * opened UG_STORE_READONLY will do). The input is not checked against the schema's
	 * constraints, which only writing does: give validated input. */
	UG_REPLACE_DRY_RUN = 1 << 0,
};

/*
 * ug_store_replace, calling cb (may be NULL) once per change, after the commit (or the
 * dry run's read), ordered by target; per target: the unit's change, rules deleted (by
 * id), comments changed, rules added (in the order of rules[]). *n_changes (may be NULL):
 * how many; 0 means the input is what the store holds. st may be NULL in a dry run: the
 * changes from an empty store (there is no store yet).
 */
int ug_store_replace_changes(struct ug_store *st, const struct ug_store_unit *units,
			     size_t n_units, const struct ug_store_rule_spec *rules, size_t n_rules,
			     unsigned flags, ug_store_change_cb cb, void *ctx, size_t *n_changes);

/* --- what the agent reports, for `unitguardctl status` -------------------- */

struct ug_store_status {
	const char *target;
	const char *cgroup;     /* path, NULL when not resolved */
	uint64_t cgroup_id;     /* 0 when not resolved */
	const char *mode;
	uint32_t generation;
	const char *programs;   /* e.g. "connect4,connect6,sendmsg4,..."; NULL: none here */
	int enforced;           /* 1: its policy is in the kernel */
	const char *state;      /* "enforced" | "waiting" (not running; kept for its next
				 * start) | "partial" | "refused" | "unresolved" */
	const char *reason;     /* why not (or what is partial); NULL when fully enforced */
	const char *updated_at; /* filled by the store on read */
};

/* Replace all status rows in one transaction. */
int ug_store_status_replace(struct ug_store *st, const struct ug_store_status *rows, size_t n);
/*
 * The end of one agent pass, in one transaction: status rows written (upsert
 * by target), rows of targets that are gone deleted, and agent_state's
 * applied_version (the policy_version this pass put in force: what
 * `unitguardctl` waits for) and generation set.
 */
int ug_store_pass_commit(struct ug_store *st, const struct ug_store_status *rows, size_t n,
			 const char *const *gone, size_t n_gone, int64_t applied_version,
			 uint32_t generation);
typedef int (*ug_store_status_cb)(const struct ug_store_status *s, void *ctx);
int ug_store_status_list(struct ug_store *st, ug_store_status_cb cb, void *ctx);

/*
 * Copy the units and rules (the policy at `version`, what the agent put in
 * force) into a store file of their own at path, replacing it whole (a
 * temporary file renamed over it): the last known good policy, opened read
 * only when the store cannot be read. 0 or a negative errno.
 */
int ug_store_save_policy(struct ug_store *st, const char *path, int64_t version);

/* Agent-wide facts as key/value text ("pid", "started_at", "heartbeat_us",
 * "lsm", "generation", ...). get: -ENOENT when the key is absent. */
int ug_store_agent_set(struct ug_store *st, const char *key, const char *value);
int ug_store_agent_get(struct ug_store *st, const char *key, char *buf, size_t len);

/* --- accounting and generations -------------------------------------------- */

struct ug_store_acct {
	int64_t time_us;
	const char *unit;
	uint64_t cgroup_id;
	const char *direction; /* "egress" | "ingress" */
	uint64_t allowed_packets, allowed_bytes;
	uint64_t dropped_packets, dropped_bytes;
	uint64_t audited_packets, audited_bytes;
	uint32_t generation;
};

/* Snapshots of cumulative counters, n rows in one transaction. */
int ug_store_accounting_insert(struct ug_store *st, const struct ug_store_acct *rows, size_t n);

struct ug_store_hits {
	int64_t time_us;
	int64_t rule_id;
	uint64_t hits;
	uint32_t generation;
};
int ug_store_rule_hits_insert(struct ug_store *st, const struct ug_store_hits *rows, size_t n);

/* One row per generation the agent put in force. */
int ug_store_generation_add(struct ug_store *st, uint32_t generation, int64_t time_us,
			    int64_t policy_version, uint32_t units_changed);

#endif /* UG_STORE_H */
