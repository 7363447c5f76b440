/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names in and out: the enums of policy.h (directions, actions, modes, hooks,
 * verdicts), targets (unit names and cgroup paths) and the slice paths
 * systemd uses, and the values of LSM rules: path prefixes, file access,
 * socket families, hardening switches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

#define PATH_MAX_LEN 4096
#define UNIT_NAME_MAX 255

static int name_lookup(const char *const *names, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -EINVAL;
}

static const char *name_of(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || !names[v])
		return "unknown";
	return names[v];
}

static const char *const dir_names[] = {
	[UG_DIR_EGRESS] = "egress",
	[UG_DIR_INGRESS] = "ingress",
	[UG_DIR_BIND] = "bind",
};

static const char *const action_names[] = {
	[UG_ACT_ALLOW] = "allow",
	[UG_ACT_DENY] = "deny",
};

static const char *const mode_names[] = {
	[UG_MODE_ENFORCE] = "enforce",
	[UG_MODE_AUDIT] = "audit",
	[UG_MODE_OFF] = "off",
};

static const char *const hook_names[] = {
	[UG_HOOK_NONE] = "none",
	[UG_HOOK_CONNECT4] = "connect4",
	[UG_HOOK_CONNECT6] = "connect6",
	[UG_HOOK_SENDMSG4] = "sendmsg4",
	[UG_HOOK_SENDMSG6] = "sendmsg6",
	[UG_HOOK_EGRESS_SKB] = "egress_skb",
	[UG_HOOK_INGRESS_SKB] = "ingress_skb",
	[UG_HOOK_BIND4] = "bind4",
	[UG_HOOK_BIND6] = "bind6",
	[UG_HOOK_EXEC] = "exec",
	[UG_HOOK_FILE_OPEN] = "file_open",
	[UG_HOOK_SOCKET_CREATE] = "socket_create",
	[UG_HOOK_MODULE_LOAD] = "module_load",
	[UG_HOOK_BPF] = "bpf",
	[UG_HOOK_PTRACE] = "ptrace",
	[UG_HOOK_MOUNT] = "mount",
	[UG_HOOK_PATH_VIEW] = "path_view",
};

/* A hook added to enum ug_hook without a name would print as "unknown". */
_Static_assert(ARRAY_SIZE(hook_names) == UG_HOOK_MAX, "every hook needs a name");

static const char *const verdict_names[] = {
	[UG_VERDICT_DENY] = "deny",
	[UG_VERDICT_AUDIT] = "audit",
};

int ug_dir_parse(const char *s)
{
	return name_lookup(dir_names, ARRAY_SIZE(dir_names), s);
}

const char *ug_dir_name(int dir)
{
	return name_of(dir_names, ARRAY_SIZE(dir_names), dir);
}

int ug_action_parse(const char *s)
{
	return name_lookup(action_names, ARRAY_SIZE(action_names), s);
}

const char *ug_action_name(int action)
{
	/* A verdict, never a rule's action: not among the names parsed. */
	if (action == UG_ACT_AUDIT)
		return "audit";
	return name_of(action_names, ARRAY_SIZE(action_names), action);
}

int ug_mode_parse(const char *s)
{
	return name_lookup(mode_names, ARRAY_SIZE(mode_names), s);
}

const char *ug_mode_name(int mode)
{
	return name_of(mode_names, ARRAY_SIZE(mode_names), mode);
}

const char *ug_hook_name(int hook)
{
	return name_of(hook_names, ARRAY_SIZE(hook_names), hook);
}

const char *ug_verdict_name(int verdict)
{
	return name_of(verdict_names, ARRAY_SIZE(verdict_names), verdict);
}

/*
 * What a target path and an LSM path prefix both must be: s[0] is '/', s[n]
 * the end. Printable ASCII without spaces; no empty, "." or ".." component.
 * A trailing '/' ends the walk at s + n rather than making an empty
 * component; "//" and "/a//" still have one.
 */
static int path_text_check(const char *s, size_t n, const char **why)
{
	const char *c, *end;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e) {
			set_why(why, "path contains a space, control or non-ASCII character");
			return -EINVAL;
		}
	}
	for (c = s + 1; c < s + n; c = end + 1) {
		end = strchrnul(c, '/');
		if (end == c) {
			set_why(why, "empty path component");
			return -EINVAL;
		}
		if ((end - c == 1 && c[0] == '.') || (end - c == 2 && c[0] == '.' && c[1] == '.')) {
			set_why(why, "'.' or '..' path component");
			return -EINVAL;
		}
	}
	return 0;
}

static int path_parse(const char *s, const char **why)
{
	size_t n = strnlen(s, PATH_MAX_LEN);

	if (n >= PATH_MAX_LEN) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	if (n == 1) {
		set_why(why, "the cgroup root is not a valid target");
		return -EINVAL;
	}
	if (s[n - 1] == '/') {
		set_why(why, "trailing '/' in path");
		return -EINVAL;
	}
	if (path_text_check(s, n, why) < 0)
		return -EINVAL;
	return UG_TARGET_PATH;
}

static bool unit_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(":_.\\@-", c));
}

static int unit_parse(const char *s, const char **why)
{
	/* Only unit types that own a cgroup can be targets. */
	static const char *const suffixes[] = {
		".service", ".socket", ".slice", ".scope", ".mount", ".swap",
	};
	size_t n = strnlen(s, UNIT_NAME_MAX + 1);
	const char *dot, *at;
	bool suffix_ok = false;

	if (n > UNIT_NAME_MAX) {
		set_why(why, "unit name too long (max 255)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!unit_char_ok(s[i])) {
			set_why(why, "invalid character in unit name");
			return -EINVAL;
		}
	}
	dot = strrchr(s, '.');
	if (!dot) {
		set_why(why, "unit name has no type suffix");
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (!strcmp(dot, suffixes[i]))
			suffix_ok = true;
	if (!suffix_ok) {
		set_why(why, "unit type must be service, socket, slice, scope, mount or swap");
		return -EINVAL;
	}
	if (dot == s) {
		set_why(why, "unit name is empty before the type suffix");
		return -EINVAL;
	}
	/* "-.slice" is systemd's name for the cgroup root. */
	if (!strcmp(s, "-.slice")) {
		set_why(why, "the root slice is the cgroup root, not a valid target");
		return -EINVAL;
	}
	at = strchr(s, '@');
	if (at) {
		if (strchr(at + 1, '@')) {
			set_why(why, "more than one '@' in unit name");
			return -EINVAL;
		}
		if (at == s || at > dot) {
			set_why(why, "misplaced '@' in unit name");
			return -EINVAL;
		}
		/* A template ("foo@.service") has no cgroup; only its instances do. */
		if (at + 1 == dot) {
			set_why(why, "template unit without an instance has no cgroup");
			return -EINVAL;
		}
	}
	return UG_TARGET_UNIT;
}

int ug_target_parse(const char *s, const char **why)
{
	if (!s || !*s) {
		set_why(why, "empty target");
		return -EINVAL;
	}
	if (s[0] == '/')
		return path_parse(s, why);
	return unit_parse(s, why);
}

int ug_slice_path(const char *slice, char *buf, size_t len)
{
	size_t n = strlen(slice), off = 0;

	buf[0] = '\0';
	if (!strcmp(slice, "-.slice"))
		return 0;
	if (n < 7 || strcmp(slice + n - 6, ".slice"))
		return -EINVAL;
	for (size_t i = 0; i + 6 <= n; i++) {
		int w;

		if (slice[i] != '-' && i + 6 != n)
			continue;
		w = snprintf(buf + off, len - off, "/%.*s.slice", (int)i, slice);
		if (w < 0 || (size_t)w >= len - off)
			return -ENAMETOOLONG;
		off += w;
	}
	return 0;
}

/* --- LSM: paths, access, families, hardening ------------------------------- */

int ug_path_parse(const char *s, char *out, size_t outlen, const char **why)
{
	size_t n;

	if (!s || !*s) {
		set_why(why, "empty path");
		return -EINVAL;
	}
	if (!out) {
		set_why(why, "no output given");
		return -EINVAL;
	}
	if (s[0] != '/') {
		set_why(why, "path is not absolute");
		return -EINVAL;
	}
	/* One trailing '/' is dropped, so input one byte longer than the longest path can
	 * still be valid; anything longer cannot, and need not be read to the end. */
	n = strnlen(s, UG_PATH_MAX);
	if (n >= UG_PATH_MAX) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	if (path_text_check(s, n, why) < 0)
		return -EINVAL;
	if (n > 1 && s[n - 1] == '/')
		n--;
	/* The kernel appends '/' to the path it looks up; a rule must leave it room. */
	if (path_stored_len(n) > UG_PATH_MAX - 1) {
		set_why(why, "path too long");
		return -EINVAL;
	}
	if (n >= outlen) {
		set_why(why, "output buffer too small");
		return -EINVAL;
	}
	memmove(out, s, n);
	out[n] = '\0';
	return 0;
}

static const char *const access_names[] = {
	[UG_ACCESS_READ] = "read",
	[UG_ACCESS_WRITE] = "write",
	[UG_ACCESS_READ | UG_ACCESS_WRITE] = "any",
};

int ug_access_parse(const char *s)
{
	return name_lookup(access_names, ARRAY_SIZE(access_names), s);
}

const char *ug_access_name(int access)
{
	return name_of(access_names, ARRAY_SIZE(access_names), access);
}

/* Indexed by AF_* value; the kernel's names without the AF_ prefix, lower case. Numbers
 * rather than the AF_* macros: an older libc lacking one must not change the table. */
static const char *const family_names[] = {
	[1] = "unix",        [2] = "inet",       [3] = "ax25",      [4] = "ipx",
	[5] = "appletalk",   [6] = "netrom",     [7] = "bridge",    [8] = "atmpvc",
	[9] = "x25",         [10] = "inet6",     [11] = "rose",     [12] = "decnet",
	[13] = "netbeui",    [14] = "security",  [15] = "key",      [16] = "netlink",
	[17] = "packet",     [18] = "ash",       [19] = "econet",   [20] = "atmsvc",
	[21] = "rds",        [22] = "sna",       [23] = "irda",     [24] = "pppox",
	[25] = "wanpipe",    [26] = "llc",       [27] = "ib",       [28] = "mpls",
	[29] = "can",        [30] = "tipc",      [31] = "bluetooth", [32] = "iucv",
	[33] = "rxrpc",      [34] = "isdn",      [35] = "phonet",   [36] = "ieee802154",
	[37] = "caif",       [38] = "alg",       [39] = "nfc",      [40] = "vsock",
	[41] = "kcm",        [42] = "qipcrtr",   [43] = "smc",      [44] = "xdp",
	[45] = "mctp",
};

/* ug_lsm_unit.deny_families is a 64-bit mask. */
#define FAMILY_MAX 63

int ug_family_parse(const char *s)
{
	unsigned int v = 0;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	/* systemd's spelling (RestrictAddressFamilies=AF_PACKET): AF_ and the
	 * name in capitals. */
	if (!strncmp(s, "AF_", 3)) {
		char lower[16];

		n = strlen(s + 3);
		if (!n || n >= sizeof(lower))
			return -EINVAL;
		for (size_t i = 0; i <= n; i++) {
			if (s[3 + i] >= 'a' && s[3 + i] <= 'z')
				return -EINVAL;
			lower[i] = s[3 + i] >= 'A' && s[3 + i] <= 'Z' ? s[3 + i] - 'A' + 'a' : s[3 + i];
		}
		return name_lookup(family_names, ARRAY_SIZE(family_names), lower);
	}
	if (s[0] < '0' || s[0] > '9')
		return name_lookup(family_names, ARRAY_SIZE(family_names), s);
	/* Strict decimal, as for ports: no sign, no spaces, no leading zero. */
	n = strlen(s);
	if (n > 2 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v < 1 || v > FAMILY_MAX)
		return -EINVAL;
	return (int)v;
}

const char *ug_family_name(int family)
{
	return name_of(family_names, ARRAY_SIZE(family_names), family);
}

static const char *const harden_names[] = {
	"module-load", /* UG_HARDEN_MODULE_LOAD */
	"bpf",         /* UG_HARDEN_BPF */
	"ptrace",      /* UG_HARDEN_PTRACE */
	"mount",       /* UG_HARDEN_MOUNT */
	"path-view",   /* UG_HARDEN_PATH_VIEW */
};

#define HARDEN_ALL ((1 << ARRAY_SIZE(harden_names)) - 1)

int ug_harden_parse(const char *s, const char **why)
{
	const char *c, *end;
	int harden = 0;

	if (!s) {
		set_why(why, "no hardening list given");
		return -EINVAL;
	}
	/* "" is the empty list, what ug_harden_format() writes for none. */
	if (!*s)
		return 0;
	for (c = s;; c = end + 1) {
		size_t len, i;

		end = strchrnul(c, ',');
		len = (size_t)(end - c);
		if (!len) {
			set_why(why, "empty item in hardening list");
			return -EINVAL;
		}
		for (i = 0; i < ARRAY_SIZE(harden_names); i++)
			if (strlen(harden_names[i]) == len && !memcmp(harden_names[i], c, len))
				break;
		if (i == ARRAY_SIZE(harden_names)) {
			set_why(why, "unknown hardening item (expected module-load, bpf, ptrace, mount or path-view)");
			return -EINVAL;
		}
		/* A repeated item changes nothing: the list is a set. */
		harden |= 1 << i;
		if (!*end)
			return harden;
	}
}

int ug_harden_format(int harden, char *buf, size_t len)
{
	size_t used = 0;

	if (!buf || !len || harden < 0 || harden & ~HARDEN_ALL)
		return -EINVAL;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(harden_names); i++) {
		int w;

		if (!(harden & (1 << i)))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", harden_names[i]);
		if (w < 0)
			return -EINVAL;
		if ((size_t)w >= len - used)
			return -ENOSPC;
		used += (size_t)w;
	}
	return 0;
}
