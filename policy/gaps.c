// SPDX-License-Identifier: LGPL-2.1-or-later
#include <string.h>
#include <sys/socket.h>

#include "gaps.h"
#include "policy.h"
#include "unitguard.h"

static const struct {
	const char *name, *text;
} limits[UG_LIMIT_MAX] = {
	[UG_LIMIT_PACKET] = { "packet", "AF_PACKET sockets (CAP_NET_RAW) pass no network hook: "
					"add `family deny packet`" },
	[UG_LIMIT_XDP] = { "xdp", "AF_XDP sockets (CAP_NET_RAW) pass no network hook: add "
				  "`family deny xdp`" },
	[UG_LIMIT_TUN] = { "tun", "packets written to a TUN/TAP device pass no hook of the unit: "
				  "add `file deny /dev/net/tun`" },
	[UG_LIMIT_NAT64] = { "nat64", "IPv4 rules do not cover IPv4 hosts reached through NAT64 "
				      "(64:ff9b::/96): add `egress deny 64:ff9b::/96`" },
	[UG_LIMIT_FOREIGN_SOCKET] = { "foreign-socket",
				      "packets are judged by the cgroup their socket was made in: "
				      "for socket activation, rules go on the .socket unit" },
	[UG_LIMIT_UDP_AUTOBIND] = { "udp-autobind", "bind rules do not see a UDP socket that gets "
						    "its port by sending: use ingress rules" },
	[UG_LIMIT_FILE_WRITE] = { "file-write", "a write rule means opened for writing: truncate(2), "
						"rename(2), link(2), unlink(2) are not mediated" },
	[UG_LIMIT_PATH_VIEW] = { "path-view", "paths are as the task sees them: chroot or a user "
					      "namespace shows other paths: `unit set --harden "
					      "path-view`" },
	[UG_LIMIT_EXEC_DENY] = { "exec-deny", "exec deny does not stop `ld.so FILE` or an "
					      "executable mmap: an exec allow list is the control" },
	[UG_LIMIT_CGROUP_ESCAPE] = { "cgroup-escape", "root in the unit can move itself out of "
						      "the unit's cgroup" },
	[UG_LIMIT_SYMLINK] = { "symlink", "a path rule names a path through a symlink (/bin on "
					  "Debian 12): the kernel sees the resolved path, the rule "
					  "never matches: `rule list` and write the resolved path" },
};

void ug_limits_add_rule(struct ug_limits *l, const char *direction, const char *action,
			const char *prefix, const char *access)
{
	bool deny = action && !strcmp(action, "deny");

	if (!direction || !prefix)
		return;
	l->any = true;
	if (!strcmp(direction, "egress") || !strcmp(direction, "ingress") ||
	    !strcmp(direction, "bind")) {
		struct ug_prefix p, nat64;

		l->net = true;
		if (!strcmp(direction, "bind"))
			l->bind = true;
		if (strcmp(direction, "egress") || ug_prefix_parse(prefix, &p, NULL))
			return;
		if (p.family == AF_INET)
			l->egress4 = true;
		/* A deny of 64:ff9b::/96 or of a shorter prefix covering it. */
		if (deny && p.family == AF_INET6 && !ug_prefix_parse("64:ff9b::/96", &nat64, NULL) &&
		    p.len <= nat64.len && ug_prefix_contains(&p, &nat64))
			l->nat64 = true;
	} else if (!strcmp(direction, "family")) {
		if (deny && !strcmp(prefix, "packet"))
			l->packet = true;
		if (deny && !strcmp(prefix, "xdp"))
			l->xdp = true;
	} else if (!strcmp(direction, "file")) {
		l->paths = true;
		if (deny && access && (!strcmp(access, "write") || !strcmp(access, "any"))) {
			size_t n = strlen(prefix);

			l->file_write = true;
			/* The rule covers /dev/net/tun: it is that path or a
			 * directory above it ("/" covers everything). */
			if (!strcmp(prefix, "/") || (!strncmp("/dev/net/tun", prefix, n) &&
						    ("/dev/net/tun")[n] == '\0') ||
			    (!strncmp("/dev/net/tun", prefix, n) && ("/dev/net/tun")[n] == '/'))
				l->tun = true;
		}
	} else if (!strcmp(direction, "exec")) {
		l->paths = true;
		if (deny)
			l->exec_deny = true;
	}
}

void ug_limits_add_harden(struct ug_limits *l, int harden)
{
	if (harden > 0 && (harden & UG_HARDEN_PATH_VIEW))
		l->path_view = true;
}

void ug_limits_add_default_deny(struct ug_limits *l)
{
	l->net = true;
	l->any = true;
}

bool ug_limits_open(const struct ug_limits *l, enum ug_limit k)
{
	switch (k) {
	case UG_LIMIT_PACKET:
		return l->net && !l->packet;
	case UG_LIMIT_XDP:
		return l->net && !l->xdp;
	case UG_LIMIT_TUN:
		return l->net && !l->tun;
	case UG_LIMIT_NAT64:
		return l->egress4 && !l->nat64;
	case UG_LIMIT_FOREIGN_SOCKET:
		return l->net;
	case UG_LIMIT_UDP_AUTOBIND:
		return l->bind;
	case UG_LIMIT_FILE_WRITE:
		return l->file_write;
	case UG_LIMIT_PATH_VIEW:
		return l->paths && !l->path_view;
	case UG_LIMIT_EXEC_DENY:
		return l->exec_deny;
	case UG_LIMIT_CGROUP_ESCAPE:
		return l->any;
	case UG_LIMIT_SYMLINK:
		return l->symlink;
	default:
		return false;
	}
}

const char *ug_limit_name(enum ug_limit k)
{
	return k < UG_LIMIT_MAX ? limits[k].name : "unknown";
}

const char *ug_limit_text(enum ug_limit k)
{
	return k < UG_LIMIT_MAX ? limits[k].text : "unknown";
}
