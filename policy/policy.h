/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy/: pure functions. Rules in, LPM-trie entries out. No I/O, no
 * allocation hidden from the caller's view beyond what is documented, no
 * logging: functions return 0 or a negative errno and, where input is bad,
 * point *why at a static string that names what is wrong.
 *
 * One header for several files, split by job: addr.c (prefixes, protocols,
 * ports, network rules), names.c (enum names, targets, LSM values), text.c
 * (comments, escaping), compile.c (ug_compile), path_compile.c
 * (ug_path_compile).
 */
#ifndef UG_POLICY_H
#define UG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "unitguard.h"

/* An IP prefix. addr is in network byte order; for AF_INET only addr[0..3]
 * are used and the rest is zero. Host bits beyond len are zero. */
struct ug_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len;    /* 0..32 or 0..128 */
	uint8_t addr[16];
};

/* Longest text ug_prefix_format() writes, with its NUL. */
#define UG_PREFIX_STRLEN 64 /* INET6_ADDRSTRLEN + "/128" */

/*
 * Parse "A.B.C.D/N", "X:X::X/N", or a bare address (= /32 or /128).
 * Refuses: anything inet_pton refuses, a length out of range or not a plain
 * decimal, leading/trailing junk, and set host bits ("10.0.0.1/8": the
 * operator meant something; we do not guess which).
 */
int ug_prefix_parse(const char *s, struct ug_prefix *out, const char **why);

/* Canonical text: "10.0.0.0/8", "2001:db8::/32", always with the length. */
int ug_prefix_format(const struct ug_prefix *p, char *buf, size_t len);

/* True when prefix a contains address/prefix b (same family). */
int ug_prefix_contains(const struct ug_prefix *a, const struct ug_prefix *b);

/* "egress" | "ingress" | "bind" -> enum ug_dir; -EINVAL otherwise. */
int ug_dir_parse(const char *s);
const char *ug_dir_name(int dir);
/* "allow" | "deny" -> enum ug_action; -EINVAL otherwise. */
int ug_action_parse(const char *s);
const char *ug_action_name(int action);
/* "enforce" | "audit" | "off" -> enum ug_mode; -EINVAL otherwise. */
int ug_mode_parse(const char *s);
const char *ug_mode_name(int mode);
const char *ug_hook_name(int hook);
const char *ug_verdict_name(int verdict);

enum ug_target_kind {
	UG_TARGET_UNIT = 1, /* "demo.service", "web.slice", "foo@1.service", "x.scope" */
	UG_TARGET_PATH = 2, /* "/system.slice/demo.service": absolute, below the cgroup2 root */
};

/*
 * Classify and validate a TARGET. Unit names follow systemd's rules
 * (length <= 255, [A-Za-z0-9:_.\-@] and backslash escapes, a suffix of a unit
 * type that owns a cgroup: service, socket, slice, scope, mount, swap).
 * Paths are absolute, without "." or ".." components, empty components,
 * or characters outside the printable ASCII range. Returns the kind or
 * -EINVAL.
 */
int ug_target_parse(const char *s, const char **why);

/* Where systemd puts a slice's cgroup: "a-b-c.slice" at
 * /a.slice/a-b.slice/a-b-c.slice, "-.slice" at the root (""). -EINVAL for a
 * name that is not a slice's, -ENAMETOOLONG when buf is too small. */
int ug_slice_path(const char *slice, char *buf, size_t len);

/* "tcp" | "udp" | "icmp" -> IPPROTO_TCP/UDP/ICMP; -EINVAL otherwise. ICMP
 * in a rule means ICMPv6 for IPv6 prefixes. */
int ug_proto_parse(const char *s);
const char *ug_proto_name(int proto); /* "any" for 0 */
/* "N" or "N-M", 1 <= N <= M <= 65535, plain decimal. */
int ug_ports_parse(const char *s, uint16_t *lo, uint16_t *hi, const char **why);

/* A rule as the compiler sees it. */
struct ug_rule {
	int64_t id;          /* store id, > 0 and < 2^32 */
	uint8_t dir;         /* enum ug_dir */
	uint8_t action;      /* enum ug_action */
	uint8_t depth;       /* 0: the policy cgroup's own rule; n: from the n-th policy ancestor above it */
	uint8_t proto;       /* 0 (any), IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP */
	uint8_t has_ports;   /* ports only with proto 0 (= TCP or UDP), TCP or UDP */
	uint8_t audit;       /* 1: a rule of a cgroup in audit mode: it says what would be denied
				(recorded), never what is (set by ug_effective_rules()) */
	uint16_t port_lo, port_hi;
	struct ug_prefix prefix;
};

/*
 * A network rule from the text the store and policy files hold: direction
 * ("egress", "ingress", "bind"), action, canonical prefix, protocol (NULL:
 * any), ports (0, 0: none; else 1 <= lo <= hi <= 65535; ports only with
 * TCP, UDP or any protocol). id: the store's id, 1 .. 2^32 - 1. -EINVAL with
 * *why (may be NULL) when any field is wrong. out is zeroed first: rules
 * compare with memcmp().
 */
int ug_rule_parse(int64_t id, const char *dir, const char *action, const char *prefix,
		  const char *proto, uint32_t port_lo, uint32_t port_hi, struct ug_rule *out,
		  const char **why);

/*
 * Compile the rules governing one policy cgroup into the LPM entries of one
 * trie id. Semantics, per direction:
 *  - The longest prefix that has a rule matching the packet (protocol, port)
 *    decides. So "deny 10.0.0.0/8 port 22" with "allow 10.1.0.0/16": 10.1.2.3
 *    port 22 is allowed (the /16 matches), 10.2.0.1 port 22 is denied,
 *    10.2.0.1 port 80 falls to the default posture.
 *  - Among rules on the same prefix, the more specific qualifier is tried
 *    first: a port range before no ports (narrower range first), then a
 *    protocol before any protocol; then deny before allow; then smaller depth;
 *    then lower id. Rules with identical prefix and qualifier: the smallest
 *    depth wins (a unit refines its slice), then deny, then lowest id; the
 *    others are dropped.
 *  - Each entry's list holds its own rules followed by those of every shorter
 *    prefix that covers it (longest first), stopping after the first rule
 *    that matches everything (any protocol, no ports). More than
 *    UG_MATCHES_MAX rules in one list is -E2BIG.
 *  - IPv4 prefixes become IPv4-mapped IPv6 prefixes. IPv4 entries inherit only
 *    from IPv4 entries and IPv6 from IPv6. When an IPv6 prefix covers
 *    ::ffff:0:0/96 and no IPv4 0.0.0.0/0 rule exists in that direction, an
 *    entry with an empty list is added at ::ffff:0:0/96, so an IPv6 rule never
 *    decides IPv4 traffic.
 *  - proto IPPROTO_ICMP on an IPv6 prefix is written as IPPROTO_ICMPV6, except in the
 *    v4-mapped range: whatever the spelling, that is IPv4 traffic.
 *  - Rules with `audit` (of a cgroup in audit mode) get UG_MATCH_AUDIT and
 *    never decide enforcement. Each list reads two ways: its rules without the
 *    flag, first match, say what is enforced (exactly what compiling those
 *    rules alone would say); all its rules, first match, what would be if
 *    every rule were enforced (the audit). So among rules with identical
 *    prefix and qualifier the survivor above is kept, and if it is an audit
 *    rule, so is the first enforced one after it; a list stops after the
 *    first enforced rule that matches everything.
 * *out is allocated with malloc() (free() it); *n_out entries, sorted by key
 * (trie, dir, prefixlen, address) so output is deterministic. On error, err
 * (if not NULL) gets one line naming the rule or prefix at fault.
 */
struct ug_lpm_entry {
	struct ug_lpm_key key;
	struct ug_match_list val;
};

int ug_compile(const struct ug_rule *rules, size_t n_rules, uint16_t trie,
	       struct ug_lpm_entry **out, size_t *n_out, char *err, size_t errlen);

/* The order of ug_compile()'s output: trie, dir, prefixlen, address. */
int ug_lpm_key_cmp(const struct ug_lpm_key *a, const struct ug_lpm_key *b);

/* --- LSM: paths, families ----------------------------------------------- */

/*
 * Validate and canonicalise a path prefix for exec/file rules: absolute,
 * printable ASCII (0x21-0x7e, no spaces), no "." or ".." components, no empty
 * components; trailing '/' removed (except for "/" itself); at most
 * UG_PATH_MAX - 1 bytes once stored with its trailing '/'. out gets the
 * canonical text. -EINVAL (why set) otherwise.
 */
int ug_path_parse(const char *s, char *out, size_t outlen, const char **why);

/* "read" | "write" | "any" -> UG_ACCESS_READ | UG_ACCESS_WRITE | both. */
int ug_access_parse(const char *s);
const char *ug_access_name(int access); /* "read", "write", "any" */

/* Socket family by name: "packet", "netlink", "inet", "inet6", "unix",
 * "bluetooth", "can", "xdp", "vsock", "alg", "key", ... or a decimal number
 * 1-63. Returns the AF_* value or -EINVAL. */
int ug_family_parse(const char *s);
const char *ug_family_name(int family); /* "packet", ... or "unknown" */

/* "module-load" | "bpf" | "ptrace" | "mount" -> UG_HARDEN_*; a comma list
 * ("module-load,bpf") -> their OR. -EINVAL (why names the bad item) otherwise. */
int ug_harden_parse(const char *s, const char **why);
/* Comma list of the set bits, e.g. "module-load,ptrace"; "" for none. */
int ug_harden_format(int harden, char *buf, size_t len);

/* --- rule comments ---------------------------------------------------------- */

/* Longest comment, in bytes: what `rule add --comment` has always allowed. */
#define UG_COMMENT_MAX 1024

/*
 * Validate a rule comment. Comments are free text that `rule list`, `export` and the
 * JSON output print as they are, so a comment must not be able to start a line, move the
 * cursor or recolour a terminal, or reorder the text around it. Accepted: at most
 * UG_COMMENT_MAX bytes of well-formed UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF) without control characters: not the C0 controls U+0000-U+001F (tab and
 * newline included), DEL, the C1 controls U+0080-U+009F, the line and paragraph
 * separators U+2028 and U+2029, or the bidirectional embeddings, overrides and isolates
 * U+202A-U+202E and U+2066-U+2069. Anything else printable is fine, in any script; ""
 * is a comment too. Every way in (the policy file, `rule add --comment`) checks with this
 * one function. Returns 0, or -EINVAL with *why naming the first problem.
 */
int ug_comment_validate(const char *s, const char **why);

/*
 * Text for a terminal, the other side of ug_comment_validate(): s with every code point
 * that function refuses written as an escape, so that text from the store or the kernel
 * (a comment a raw sqlite3 session wrote, a unit name, a path a process chose) cannot
 * start a line, move the cursor or reorder what follows. C escapes for \n \t \r, \xHH
 * for the other C0 controls, DEL and each byte that is not well-formed UTF-8, \uXXXX for
 * the C1 controls, U+2028/U+2029 and the bidirectional controls; a backslash is doubled,
 * so an escape cannot be forged. Anything else (printable UTF-8 in any script) is copied.
 * Writes at most len bytes, the NUL included (cut short like snprintf), and returns the
 * length of the whole escaped text: at most 4 * strlen(s).
 */
size_t ug_text_escape(const char *s, char *out, size_t len);

/* A path rule as the compiler sees it. */
struct ug_path_rule {
	int64_t id;        /* > 0 and < 2^32 */
	uint8_t kind;      /* enum ug_path_kind */
	uint8_t action;    /* exec: allow or deny; file: deny only */
	uint8_t access;    /* file: UG_ACCESS_* denied (non-zero) */
	uint8_t depth;     /* 0 own, n: n-th policy ancestor's */
	uint8_t audit;     /* 1: a rule of a cgroup in audit mode (as struct ug_rule's) */
	char path[UG_PATH_MAX]; /* canonical (ug_path_parse) */
};

struct ug_path_entry {
	struct ug_path_key key;
	struct ug_path_val val;
};

/*
 * Compile path rules into ug_paths entries of one trie:
 *  - key: canonical path + "/" ("/" stays "/"), prefixlen = UG_PATH_HDR_BITS
 *    + 8 * its length; bytes after it zero.
 *  - two readings per entry (struct ug_path_val): val.enforced of the rules
 *    without `audit` only, val.all of every rule; each as below.
 *  - exec: the longest prefix with a rule of the reading decides; same path:
 *    smallest depth, then deny, then lowest id. action, rule_id (0, allow:
 *    no rule of the reading covers the path).
 *  - file: an entry's deny_access = OR of its own rules' access and every
 *    covering (shorter) file prefix's; read_rule/write_rule = the longest
 *    rule (then smallest depth, lowest id) denying that access.
 *  - exec and file entries never fold into each other (kind is in the key).
 * *out malloc()ed, sorted by key; err gets one line on failure.
 */
int ug_path_compile(const struct ug_path_rule *rules, size_t n_rules, uint16_t trie,
		    struct ug_path_entry **out, size_t *n_out, char *err, size_t errlen);

/* The order of ug_path_compile()'s output: trie, kind, prefixlen, path. */
int ug_path_key_cmp(const struct ug_path_key *a, const struct ug_path_key *b);

#endif /* UG_POLICY_H */
