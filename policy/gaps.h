/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a target's rules leave open: the ways around them that unitguard does
 * not close (README, "What the rules do not cover"), as they apply to one
 * target's effective rules (its own and those of its policy ancestors).
 * Pure: the caller feeds the rules in, and may check symlinks itself.
 */
#ifndef UG_GAPS_H
#define UG_GAPS_H

#include <stdbool.h>
#include <stddef.h>

enum ug_limit {
	UG_LIMIT_PACKET = 0,     /* AF_PACKET sockets pass no network hook */
	UG_LIMIT_XDP,            /* AF_XDP sockets likewise */
	UG_LIMIT_TUN,            /* packets written to a TUN/TAP device likewise */
	UG_LIMIT_NAT64,          /* IPv4 egress rules, 64:ff9b::/96 not denied */
	UG_LIMIT_FOREIGN_SOCKET, /* sockets made in another cgroup: judged there at packet level */
	UG_LIMIT_UDP_AUTOBIND,   /* bind rules: UDP sockets that get a port by sending */
	UG_LIMIT_FILE_WRITE,     /* write rules: truncate, rename, link, unlink */
	UG_LIMIT_PATH_VIEW,      /* paths as the task sees them (chroot, mount namespaces) */
	UG_LIMIT_EXEC_DENY,      /* exec deny: ld.so FILE, executable mmap */
	UG_LIMIT_CGROUP_ESCAPE,  /* root in the unit can leave its cgroup */
	UG_LIMIT_SYMLINK,        /* a path rule through a symlink never matches */
	UG_LIMIT_MAX,
};

struct ug_limits {
	bool net;        /* network rules or a default deny: the network is guarded */
	bool egress4;    /* IPv4 egress rules */
	bool nat64;      /* an egress deny covering 64:ff9b::/96 */
	bool bind;       /* bind rules */
	bool packet;     /* family deny packet */
	bool xdp;        /* family deny xdp */
	bool tun;        /* a file rule denying writes to /dev/net/tun (or above it) */
	bool file_write; /* file rules denying write */
	bool paths;      /* exec or file rules */
	bool exec_deny;  /* exec deny rules */
	bool any;        /* any rule at all */
	bool symlink;    /* set by the caller: a path rule's path resolves elsewhere */
	bool path_view;  /* --harden path-view */
};

/* Feed one rule as the store holds it (direction, action, canonical
 * prefix or path or family name, file access or NULL). Unknown directions
 * are ignored. */
void ug_limits_add_rule(struct ug_limits *l, const char *direction, const char *action,
			const char *prefix, const char *access);
/* The unit's hardening switches (UG_HARDEN_*). */
void ug_limits_add_harden(struct ug_limits *l, int harden);
/* A default deny posture (egress or ingress) guards the network too. */
void ug_limits_add_default_deny(struct ug_limits *l);
/* Whether limit k applies to these rules. */
bool ug_limits_open(const struct ug_limits *l, enum ug_limit k);
/* Its short name ("packet", "nat64", ...) and what it means, with the mitigation. */
const char *ug_limit_name(enum ug_limit k);
const char *ug_limit_text(enum ug_limit k);

#endif
