/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy file's schema, shared by its reader (file.c) and its writer
 * (file_emit.c): one table per mapping (the top level, a unit, a rule) says
 * which keys it takes, how each value is checked and where it is kept, so a
 * key is added in one place. Not an interface: callers include file.h.
 */
#ifndef UG_POLICY_FILE_SCHEMA_H
#define UG_POLICY_FILE_SCHEMA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "internal.h"
#include "policy.h"

/* Error messages quote at most this many bytes of a bad value: the value
 * may be a megabyte of garbage, and err is one line. */
#define SHOW_MAX 64
#define SHOW_BUF (SHOW_MAX + 4)
#define MSG_MAX 512
/* Room for any canonical value pf_canon() builds: a path is the longest. */
#define CANON_BUF (UG_PATH_MAX > UG_PREFIX_STRLEN ? UG_PATH_MAX : UG_PREFIX_STRLEN)

/* How a key's value is read and checked. */
enum pf_kind {
	/* Scalars with a canonical form, checked by pf_canon(). */
	K_TARGET, K_MODE, K_POSTURE, K_DIRECTION, K_ACTION, K_PREFIX, K_PROTO, K_PATH, K_ACCESS,
	K_FAMILY, K_COMMENT, K_VERSION,
	K_HARDEN, /* a scalar, or a sequence of names */
	K_PORT,   /* "N" or "N-M", kept as port_lo and port_hi */
	K_UNITS,  /* sequences of mappings */
	K_RULES,
};

/*
 * What a rule's direction makes of it. ug_dir_parse() knows only the network
 * directions, which share one shape; the LSM kinds are directions only in
 * the file, each with keys of its own.
 */
enum pf_rkind { RK_NET, RK_EXEC, RK_FILE, RK_FAMILY, RK_MAX };
#define R_NET (1u << RK_NET)
#define R_EXEC (1u << RK_EXEC)
#define R_FILE (1u << RK_FILE)
#define R_FAMILY (1u << RK_FAMILY)
#define R_ALL ((1u << RK_MAX) - 1)

struct pf_key {
	const char *name;
	enum pf_kind kind;
	size_t off;         /* the char * the value is kept in (scalars and harden) */
	unsigned int rules; /* the kinds of rule that take the key; R_ALL outside rules */
	bool required;      /* in every mapping (of a kind of rule) that takes it */
	const char *owner;  /* the kinds of rule, for "'path' is only for ..." */
};

enum { TOP_VERSION, TOP_UNITS, TOP_KEYS };
enum {
	UNIT_TARGET, UNIT_MODE, UNIT_DEFAULT_EGRESS, UNIT_DEFAULT_INGRESS, UNIT_HARDEN, UNIT_RULES,
	UNIT_KEYS
};
enum {
	RULE_DIRECTION, RULE_ACTION, RULE_PREFIX, RULE_PROTO, RULE_PORT, RULE_PATH, RULE_ACCESS,
	RULE_FAMILY, RULE_COMMENT, RULE_KEYS
};
/* In the order the writer puts them. */
extern const struct pf_key pf_top_keys[TOP_KEYS], pf_unit_keys[UNIT_KEYS],
	pf_rule_keys[RULE_KEYS];

/* Which keys a mapping had is a bit mask; rules have the most keys. */
#define KEYS_MAX ((size_t)RULE_KEYS)
_Static_assert(KEYS_MAX <= 32 && (size_t)UNIT_KEYS <= KEYS_MAX, "keys fit the masks");

/* Where key's value is kept in obj, a unit or a rule. */
static inline char **pf_slot(void *obj, const struct pf_key *key)
{
	return (char **)((char *)obj + key->off);
}

static inline const char *pf_value(const void *obj, const struct pf_key *key)
{
	return *(char *const *)((const char *)obj + key->off);
}

static inline int pf_oom(char *err, size_t errlen)
{
	set_err(err, errlen, "out of memory");
	return -ENOMEM;
}

/* s, made safe to quote in a one-line message, in buf. */
const char *pf_show(const char *s, char buf[SHOW_BUF]);

/* The kind of rule a canonical direction makes. */
enum pf_rkind pf_rule_kind(const char *direction);

/*
 * One item of a harden list, of len bytes (a sequence item, or a piece of a
 * comma string), ORed into *bits. -EINVAL with the message in msg.
 */
int pf_harden_item(const char *item, size_t len, int *bits, char *msg, size_t msglen);
/* The canonical list of bits in cbuf, or NULL with the message in msg. */
const char *pf_harden_format(int bits, char cbuf[CANON_BUF], char *msg, size_t msglen);

/*
 * Check scalar value v of a key of this kind with its policy.h parser and
 * return its canonical text (a static string, v itself, or cbuf). On error,
 * NULL with what is wrong in msg; reader and writer add the location.
 */
const char *pf_canon(enum pf_kind kind, const char *key, const char *v, char cbuf[CANON_BUF],
		     char *msg, size_t msglen);

/* What is wrong with a rule's ports, given its proto; NULL if nothing. */
const char *pf_port_problem(const char *proto, uint16_t lo, uint16_t hi);

/*
 * Units and rules both begin with their target, so one order serves both:
 * by target, then by address, which is array order. The sorted arrays hold
 * pointers to the elements.
 */
static inline const char *pf_target_of(const void *elem)
{
	return *(const char *const *)elem;
}

/* Pointers to the n elements of base, size bytes each, in target order; NULL without memory. */
const void **pf_sort_by_target(const void *base, size_t n, size_t size);
/* Index of the first of sorted[0..n) whose target is target; *count gets how many. */
size_t pf_find_target(const void **sorted, size_t n, const char *target, size_t *count);
/*
 * The earliest unit (in array order) whose target an earlier unit already
 * has, with that earlier unit in *first; NULL when targets are unique.
 */
const struct ug_file_unit *pf_find_duplicate(const void **sorted, size_t n,
					     const struct ug_file_unit **first);

#endif /* UG_POLICY_FILE_SCHEMA_H */
