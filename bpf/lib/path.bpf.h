/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a path rule decides (unitguard.h, ug_paths): what an open requests,
 * the lookup key made from a resolved path, and the verdict of the entry it
 * finds. The LSM
 * object's exec and file_open programs resolve the path and record the
 * outcome around them; the test object (tests/bpf/) runs them on crafted
 * paths and maps with BPF_PROG_TEST_RUN.
 */
#ifndef UG_PATH_BPF_H
#define UG_PATH_BPF_H

#include "errno.bpf.h"

#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define O_TRUNC 01000

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ug_path_key);
	__type(value, struct ug_path_val);
} ug_paths SEC(".maps");

/*
 * Make key a lookup key of trie's kind rules for the path in key->path, of
 * len bytes: bpf_d_path()'s return, which counts the NUL, or its negative
 * error. The NUL becomes the '/' appended for the lookup. 0 when key can be
 * looked up; else why not (UG_LSM_F_*): such a path cannot be judged.
 */
static __always_inline __u8 path_key(struct ug_path_key *key, long len, __u16 trie, __u8 kind)
{
	__u32 end;

	if (len < 0)
		return len == -ENAMETOOLONG ? UG_LSM_F_TOO_LONG : UG_LSM_F_NO_PATH;
	end = (__u32)len - 1;
	if (len < 2 || end >= UG_PATH_MAX)
		return UG_LSM_F_NO_PATH;
	key->path[end] = '/';
	key->prefixlen = UG_PATH_HDR_BITS + 8 * (end + 1);
	key->trie = trie;
	key->kind = kind;
	return 0;
}

/*
 * What an open requests of a file rule (UG_ACCESS_*), from the file's f_mode
 * and f_flags as file_open sees them. O_TRUNC empties the file whatever the
 * access mode asked for (it is still in f_flags there; the open clears it
 * later): a write. Access mode 3 (O_WRONLY|O_RDWR) grants neither read nor
 * write, but the kernel checked both permissions for it and the descriptor
 * takes ioctls: how devices are driven (/dev/net/tun, /dev/kvm, SG_IO on a
 * disk): read and write. (O_PATH opens never reach file_open: they read
 * nothing; reopened through /proc/self/fd they are opens.)
 */
static __always_inline __u8 open_access(__u32 f_mode, __u32 f_flags)
{
	__u8 access = 0;

	if (!(f_mode & (FMODE_READ | FMODE_WRITE)))
		return UG_ACCESS_READ | UG_ACCESS_WRITE;
	if (f_mode & FMODE_READ)
		access |= UG_ACCESS_READ;
	if ((f_mode & FMODE_WRITE) || (f_flags & O_TRUNC))
		access |= UG_ACCESS_WRITE;
	return access;
}

/* Does reading r refuse the operation? As path_verdict() below. */
static __always_inline bool reading_denies(const struct ug_path_reading *r, __u8 kind,
					   __u8 access, __u32 *rule_id)
{
	__u8 denied;

	if (kind == UG_PATH_EXEC) {
		if (r->action != UG_ACT_DENY)
			return false;
		*rule_id = r->rule_id;
		return true;
	}
	denied = r->deny_access & access;
	if (!denied)
		return false;
	*rule_id = (denied & UG_ACCESS_READ) ? r->read_rule : r->write_rule;
	return true;
}

/*
 * What the rules make of key's path: UG_VERDICT_DENY when the enforced ones
 * refuse it, UG_VERDICT_AUDIT when only audited ones would, 0 when it
 * passes. access is what a file_open requests (UG_ACCESS_*), 0 for exec; kind
 * is key's (a constant at each call site). *rule_id is the rule that
 * decides: for a file, the one denying read when read is among what is
 * denied.
 */
static __always_inline __u8 path_verdict(const struct ug_path_key *key, __u8 kind, __u8 access,
					 __u32 *rule_id)
{
	struct ug_path_val *v = bpf_map_lookup_elem(&ug_paths, key);

	if (!v)
		return 0;
	if (reading_denies(&v->enforced, kind, access, rule_id))
		return UG_VERDICT_DENY;
	if (reading_denies(&v->all, kind, access, rule_id))
		return UG_VERDICT_AUDIT;
	return 0;
}

#endif
