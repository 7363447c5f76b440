/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * db/: the SQLite policy and audit store. Functions return 0 or a negative
 * errno; on failure ug_store_errmsg() says why (sqlite's message or ours).
 * Every statement is prepared with bound parameters. The schema is versioned
 * with PRAGMA user_version and migrated forward on open (migrations[] in db/store.c).
 */
#ifndef UG_STORE_H
#define UG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define UG_DEFAULT_DB "/var/lib/unitguard/unitguard.db"

struct ug_store;

enum ug_store_flags {
	UG_STORE_CREATE = 1 << 0, /* create the file (and its directory, 0700) when missing */
};

/*
 * Open (and with UG_STORE_CREATE create) the store at path, set WAL mode,
 * foreign keys, a busy timeout, and migrate the schema to the current
 * version. Without UG_STORE_CREATE a missing file is -ENOENT. A store whose
 * user_version is newer than this build knows is refused (-EPROTO).
 * On failure *out is NULL and errbuf (if not NULL) holds one line.
 */
int ug_store_open(const char *path, unsigned flags, struct ug_store **out, char *errbuf,
		  size_t errlen);
void ug_store_close(struct ug_store *st); /* accepts NULL */
const char *ug_store_errmsg(const struct ug_store *st);

/* Monotonic counter bumped (by triggers) by every change to units or rules,
 * whoever makes it, including a raw `sqlite3` session. */
int ug_store_policy_version(struct ug_store *st, int64_t *out);

/* Adds a rule (creating the target's units row if needed) in one
 * transaction. Inputs must already be validated and canonical. */
int ug_store_rule_add(struct ug_store *st, const char *target, const char *direction,
		      const char *action, const char *prefix, int64_t *id_out);
/* -ENOENT when no rule has that id; then nothing changes. */
int ug_store_rule_del(struct ug_store *st, int64_t id);

struct ug_store_rule {
	int64_t id;
	const char *target;
	const char *direction;
	const char *action;
	const char *prefix;
	const char *created_at; /* ISO 8601 UTC */
};
/* Strings are valid only during the callback. A non-zero return from cb stops
 * the walk and is returned. Ordered by target, then id. target NULL: all. */
typedef int (*ug_store_rule_cb)(const struct ug_store_rule *r, void *ctx);
int ug_store_rules(struct ug_store *st, const char *target, ug_store_rule_cb cb, void *ctx);

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
};

/* Inserts n rows in one transaction: all or none. */
int ug_store_audit_insert(struct ug_store *st, const struct ug_audit_row *rows, size_t n);

struct ug_store_audit {
	int64_t id;
	const char *time; /* ISO 8601 UTC with microseconds */
	struct ug_audit_row row; /* time_us also filled */
};
typedef int (*ug_store_audit_cb)(const struct ug_store_audit *a, void *ctx);
/* Ordered by id; unit NULL: all. */
int ug_store_audit_list(struct ug_store *st, const char *unit, ug_store_audit_cb cb, void *ctx);

/* Records that count denials could not be recorded (ring buffer full). */
int ug_store_lost_add(struct ug_store *st, int64_t time_us, uint64_t count);

#endif /* UG_STORE_H */
