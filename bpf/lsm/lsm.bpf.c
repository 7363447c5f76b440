// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-unit policy at LSM hooks: exec and file access by path prefix, socket
 * families, and hardening switches (module loading, bpf(), ptrace, mount).
 * One global program per hook; the agent attaches only the hooks some unit
 * uses. The unit governing the current task is its nearest cgroup ancestor
 * in ug_lsm_units, found as on the network side (bpf/lib/cgroup.bpf.h).
 *
 * The programs do not read the hook's `ret` argument: the trampoline runs a
 * BPF LSM program only while every earlier one returned 0 (and the LSM
 * framework stops at the first LSM that refuses), so it is always 0 here;
 * and kernels from 6.12 on check that an LSM program returns a value in
 * [-MAX_ERRNO, 0], which passing `ret` on would not prove. The bpf hook
 * gained an argument after 6.1, so its program declares `cmd` only.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "unitguard.h"

#define UG_COUNTERS_MAP ug_lsm_counters
#include "lib/counters.bpf.h"
#include "lib/errno.bpf.h"
#include "lib/maps.bpf.h"
#include "lib/cgroup.bpf.h"
#include "lib/path.bpf.h"
#include "lib/lost.bpf.h"
#include "lib/agg.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_MAX_BITS 64

/*
 * Whether events carry the acting task's executable (bpf_d_path on
 * current->mm->exe_file). The loader clears it when the kernel's verifier
 * refuses that walk, rather than losing enforcement over a log field.
 */
const volatile bool ug_want_exe = true;

/* Records, and their aggregation (unitguard.h, ug_lsm_agg). Keys and values
 * hold paths: built in a per-CPU scratch entry, not on the 512-byte stack. */
UG_AGG_MAPS(ug_lsm_events, 1 << 21, ug_lsm_agg, UG_LSM_AGG_MAX, struct ug_lsm_agg_key,
	    struct ug_lsm_agg_val);

struct lsm_scratch {
	__u64 busy; /* emit() is using it (xchg) */
	struct ug_lsm_agg_key k;
	struct ug_lsm_agg_val v;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsm_scratch);
} ug_lsm_scratch SEC(".maps");

/* What the event says about a refused operation besides who did it. */
struct ug_what {
	const struct path *path; /* exec/file_open: resolved into the event; else NULL */
	__u32 rule_id;
	__u32 detail;
	__u8 hook;
	__u8 access;
	__u8 flags;
	bool exe; /* this hook may resolve paths (bpf_d_path is allowed there) */
};

/* Nearest policy cgroup at or above the current task's: lib/cgroup.bpf.h. */
static __always_inline struct ug_lsm_unit *find_unit(__u64 *unit_cgid)
{
	return find_unit_in(&ug_lsm_config, &ug_lsm_units, false, NULL, unit_cgid);
}

/* Unit of the current task, if it judges anything. */
static __always_inline struct ug_lsm_unit *active_unit(__u64 *unit_cgid)
{
	struct ug_lsm_unit *u = find_unit(unit_cgid);

	return u && u->mode != UG_MODE_OFF ? u : NULL;
}

static __always_inline void fill_exe(__u8 *buf, __u32 len)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;
	struct file *exe;

	buf[0] = '\0';
	if (!mm)
		return; /* kernel thread */
	exe = mm->exe_file;
	if (!exe)
		return;
	if (bpf_d_path((struct path *)&exe->f_path, (char *)buf, len) < 0)
		buf[0] = '\0';
}

/* Send one record of n denials of identity k. */
static __always_inline bool send(const struct ug_lsm_agg_key *k, const struct ug_lsm_agg_val *v,
				 __u64 n)
{
	struct ug_lsm_event *e = bpf_ringbuf_reserve(&ug_lsm_events, sizeof(*e), 0);

	if (!e)
		return false;
	UG_RECORD_HEAD(e, k, v, n);
	e->detail = k->detail;
	e->hook = k->hook;
	e->verdict = k->verdict;
	e->access = k->access;
	e->flags = k->flags;
	__builtin_memcpy(e->comm, v->comm, sizeof(e->comm));
	__builtin_memcpy(e->path, k->path, sizeof(e->path));
	__builtin_memcpy(e->exe, v->exe, sizeof(e->exe));
	e->start_ns = v->start_ns;
	bpf_ringbuf_submit(e, 0);
	return true;
}

/* When the acting process started (its thread group leader's start, as
 * /proc/PID/stat counts it). */
static __always_inline __u64 start_ns(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* Who is refused, by which policy. */
static __always_inline void fill_who(struct ug_who *who, const struct ug_lsm_unit *u,
				     __u64 unit_cgid, const struct ug_what *w)
{
	who->cgid = bpf_get_current_cgroup_id();
	who->unit_cgid = unit_cgid;
	who->pid = bpf_get_current_pid_tgid() >> 32;
	who->uid = (__u32)bpf_get_current_uid_gid();
	who->rule_id = w->rule_id;
	who->generation = u->generation;
}

/* The path refused, resolved into buf (empty when there is none). Resolved
 * again rather than copied from the lookup key: the key has the '/'
 * appended and may have been too short. */
static __always_inline void fill_path(const struct ug_what *w, __u8 *buf, __u32 len)
{
	buf[0] = '\0';
	if (w->exe && w->path && bpf_d_path((struct path *)w->path, (char *)buf, len) < 0)
		buf[0] = '\0';
}

/*
 * This CPU's scratch entry is in use: the program was preempted in the
 * middle of another denial. This one goes to the ring alone.
 */
static __always_inline void alone(const struct ug_lsm_unit *u, __u64 unit_cgid,
				  const struct ug_what *w, __u8 verdict, __u64 now)
{
	struct ug_share_val *sh = share_of(unit_cgid);
	struct ug_lsm_event *e;

	e = ring_take(sh, UG_SHARE_LSM) ? bpf_ringbuf_reserve(&ug_lsm_events, sizeof(*e), 0) : NULL;
	if (!e) {
		lost_in(sh);
		return;
	}
	e->ts_boot_ns = now;
	e->first_ns = now;
	e->count = 1;
	fill_who(&e->who, u, unit_cgid, w);
	e->detail = w->detail;
	e->hook = w->hook;
	e->verdict = verdict;
	e->access = w->access;
	e->flags = w->flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	fill_path(w, e->path, sizeof(e->path));
	e->exe[0] = '\0';
	if (w->exe && ug_want_exe)
		fill_exe(e->exe, sizeof(e->exe));
	e->start_ns = start_ns();
	bpf_ringbuf_submit(e, 0);
}

/*
 * Count a denial in s (this CPU's scratch entry, held): the first of its
 * identity in this window goes to the ring now, the rest are counted in its
 * ug_lsm_agg entry for ug_lsm_flush; each within the unit's share, as on the
 * network side (bpf/cgroup/net.bpf.c, record_key; lib/lost.bpf.h).
 */
static __always_inline void aggregate(struct lsm_scratch *s, const struct ug_lsm_unit *u,
				      __u64 unit_cgid, const struct ug_what *w, __u8 verdict,
				      __u64 now)
{
	struct ug_lsm_agg_val *v;
	struct ug_share_val *sh;
	long err;

	__builtin_memset(&s->k, 0, sizeof(s->k));
	fill_who(&s->k.who, u, unit_cgid, w);
	s->k.detail = w->detail;
	s->k.hook = w->hook;
	s->k.verdict = verdict;
	s->k.access = w->access;
	s->k.flags = w->flags;
	s->k.window = agg_window();
	fill_path(w, s->k.path, sizeof(s->k.path));

	v = bpf_map_lookup_elem(&ug_lsm_agg, &s->k);
	if (v)
		goto count;
	s->v.pending = 0;
	s->v.since_ns = now;
	s->v.last_ns = now;
	bpf_get_current_comm(s->v.comm, sizeof(s->v.comm));
	s->v.exe[0] = '\0';
	if (w->exe && ug_want_exe)
		fill_exe(s->v.exe, sizeof(s->v.exe));
	s->v.start_ns = start_ns();
	sh = share_of(unit_cgid);
	if (agg_take(sh, UG_SHARE_LSM)) {
		err = bpf_map_update_elem(&ug_lsm_agg, &s->k, &s->v, BPF_NOEXIST);
		if (!err) {
			if (ring_take(sh, UG_SHARE_LSM) && send(&s->k, &s->v, 1))
				return;
			/* No room now: the new entry holds it for the flush. */
			v = bpf_map_lookup_elem(&ug_lsm_agg, &s->k);
			if (v)
				goto count;
			lost_in(sh);
			return;
		}
		agg_put(sh, UG_SHARE_LSM);
		/* -EEXIST: another CPU made it meanwhile; count there. Any
		 * other error (the map is full): this denial goes alone. */
		if (err == -EEXIST && (v = bpf_map_lookup_elem(&ug_lsm_agg, &s->k)))
			goto count;
	}
	if (!ring_take(sh, UG_SHARE_LSM) || !send(&s->k, &s->v, 1))
		lost_in(sh);
	return;
count:
	__sync_fetch_and_add(&v->pending, 1);
	v->last_ns = now;
}

/* Record a denial. LSM programs run with migration disabled but may be
 * preempted: the scratch entry is taken, not assumed free. */
static __always_inline void emit(const struct ug_lsm_unit *u, __u64 unit_cgid,
				 const struct ug_what *w, __u8 verdict)
{
	__u32 zero = 0;
	struct lsm_scratch *s = bpf_map_lookup_elem(&ug_lsm_scratch, &zero);
	__u64 now = bpf_ktime_get_boot_ns();

	if (!s || __atomic_exchange_n(&s->busy, 1, __ATOMIC_SEQ_CST)) {
		alone(u, unit_cgid, w, verdict, now);
		return;
	}
	aggregate(s, u, unit_cgid, w, verdict, now);
	__atomic_exchange_n(&s->busy, 0, __ATOMIC_SEQ_CST);
}

/*
 * The unit's policy refuses the operation: record it, and refuse it unless
 * only audited rules refuse it (audit) or the unit is in audit mode.
 */
static __always_inline int refuse(const struct ug_lsm_unit *u, __u64 unit_cgid,
				  const struct ug_what *w, bool audit)
{
	if (audit || u->mode == UG_MODE_AUDIT) {
		emit(u, unit_cgid, w, UG_VERDICT_AUDIT);
		return 0;
	}
	emit(u, unit_cgid, w, UG_VERDICT_DENY);
	return -EPERM;
}

/*
 * Does the path bpf_d_path() prints for p name the file from the task's
 * root? The kernel's d_path() walks up from the file as below (fs/d_path.c,
 * prepend_path) and prints something even when the walk does not end at a
 * root (seen on 6.1 in vm/lsm):
 *  - a file opened by handle (open_by_handle_at) whose dentry was evicted
 *    comes back disconnected, and one reached by handle through a bind mount
 *    of another directory lies outside the mount's tree: either walk ends at
 *    a dentry that is its own parent, and prints "/";
 *  - a detached mount (open_tree(OPEN_TREE_CLONE), fsmount) or one unmounted
 *    lazily (umount -l) under a descriptor of it prints paths relative to
 *    that mount ("/secret").
 * None of these is the file's path as the rules name it: such paths are
 * not judged. Files of kernel-internal mounts (memfd, pipes, sockets
 * reopened through /proc/self/fd) print a name of their own, as before.
 */
struct walk {
	struct dentry *d;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	__u64 mnt_off; /* offsetof(struct mount, mnt) */
	bool rooted;
	bool done;
};

/* Anonymous (detached) mount namespaces have no inode number: 0 before
 * 6.18, MNT_NS_ANON_INO from 6.18 on. */
#define UG_MNT_NS_ANON_INO 0xEFFFFFF7U
/* Kernel-internal mounts have mnt_ns MNT_NS_INTERNAL, an error pointer. */
#define UG_IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-4095)
/* Steps of a walk: a judged path has at most 123 components (UG_PATH_MAX);
 * the rest allows for mount crossings. A longer walk is not judged. */
#define UG_WALK_MAX 512

static long walk_step(__u32 i, struct walk *w)
{
	struct dentry *d = w->d, *parent;
	struct mount *m = w->m, *up;
	struct mnt_namespace *ns;
	__u32 inum;

	if (d == w->root_d && (void *)m + w->mnt_off == (void *)w->root_m)
		goto rooted;
	parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		up = BPF_CORE_READ(m, mnt_parent);
		if (up != m) {
			w->d = BPF_CORE_READ(m, mnt_mountpoint);
			w->m = up;
			return 0;
		}
		/* The top of a tree of mounts: a namespace's root is a root
		 * (outside the task's chroot, or another namespace's: as the
		 * kernel prints it); an internal mount names its own files. */
		ns = BPF_CORE_READ(m, mnt_ns);
		if (!ns)
			goto unrooted; /* unmounted */
		if (UG_IS_ERR(ns))
			goto rooted;
		inum = BPF_CORE_READ(ns, ns.inum);
		if (!inum || inum == UG_MNT_NS_ANON_INO)
			goto unrooted; /* detached */
		goto rooted;
	}
	if (d == parent || !parent)
		goto unrooted; /* disconnected, or outside the mount's tree */
	w->d = parent;
	return 0;
rooted:
	w->rooted = true;
unrooted:
	w->done = true;
	return 1;
}

static __always_inline bool path_rooted(const struct path *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *d = BPF_CORE_READ(p, dentry);
	struct walk w = {
		.d = d,
		.root_d = BPF_CORE_READ(task, fs, root.dentry),
		.root_m = BPF_CORE_READ(task, fs, root.mnt),
		.mnt_off = bpf_core_field_offset(struct mount, mnt),
	};

	/* Pseudo files (pipes, sockets, memfd ...) print a name of their own
	 * (d_path's d_dname case): there is no walk to check. */
	if (BPF_CORE_READ(d, d_op, d_dname))
		return true;
	w.m = (void *)BPF_CORE_READ(p, mnt) - w.mnt_off;
	bpf_loop(UG_WALK_MAX, walk_step, &w, 0);
	return w.done && w.rooted;
}

/*
 * Longest-prefix lookup of a path in the unit's trie (lib/path.bpf.h).
 * access is what a file_open requests (UG_ACCESS_*), 0 for exec. A path
 * that cannot be judged is refused, never allowed unseen.
 */
static __always_inline int check_path(const struct ug_lsm_unit *u, __u64 unit_cgid,
				      const struct path *p, __u8 kind, __u8 access)
{
	struct ug_path_key key = {};
	struct ug_what w = {
		.path = p,
		.hook = kind == UG_PATH_EXEC ? UG_HOOK_EXEC : UG_HOOK_FILE_OPEN,
		.access = access,
		.exe = true,
	};
	__u8 verdict = UG_VERDICT_DENY;
	long len;

	len = bpf_d_path((struct path *)p, (char *)key.path, sizeof(key.path));
	w.flags = path_key(&key, len, u->trie, kind);
	if (!w.flags && !path_rooted(p))
		w.flags = UG_LSM_F_NO_PATH;
	if (!w.flags)
		verdict = path_verdict(&key, kind, access, &w.rule_id);
	if (!verdict)
		return 0;
	return refuse(u, unit_cgid, &w, verdict == UG_VERDICT_AUDIT);
}

/* A hardening switch: refuse when the task's unit enforces any of bits,
 * record when it audits one. */
static __always_inline int harden(__u8 bits, __u8 hook, __u32 detail, bool exe)
{
	struct ug_what w = { .hook = hook, .detail = detail, .exe = exe };
	struct ug_lsm_unit *u;
	__u64 unit_cgid = 0;

	u = active_unit(&unit_cgid);
	if (!u || !((u->harden | u->harden_audit) & bits))
		return 0;
	return refuse(u, unit_cgid, &w, !(u->harden & bits));
}

SEC("lsm/bprm_check_security")
int BPF_PROG(ug_exec, struct linux_binprm *bprm)
{
	struct ug_lsm_unit *u;
	__u64 unit_cgid = 0;

	u = active_unit(&unit_cgid);
	if (!u || !(u->has_paths & (1u << UG_PATH_EXEC)))
		return 0;
	return check_path(u, unit_cgid, &bprm->file->f_path, UG_PATH_EXEC, 0);
}

SEC("lsm/file_open")
int BPF_PROG(ug_file_open, struct file *file)
{
	struct ug_lsm_unit *u;
	__u64 unit_cgid = 0;

	u = active_unit(&unit_cgid);
	if (!u || !(u->has_paths & (1u << UG_PATH_FILE)))
		return 0;
	/* overlayfs opens the backing file under the overlay's path: that open
	 * is the kernel's, on behalf of the one already judged. */
	if (BPF_CORE_READ(file, f_path.dentry, d_inode) != file->f_inode)
		return 0;
	return check_path(u, unit_cgid, &file->f_path, UG_PATH_FILE,
			  open_access(file->f_mode, file->f_flags));
}

SEC("lsm/socket_create")
int BPF_PROG(ug_sock_create, int family, int type, int protocol, int kern)
{
	struct ug_what w = { .hook = UG_HOOK_SOCKET_CREATE, .detail = family, .exe = true };
	struct ug_lsm_unit *u;
	__u64 unit_cgid = 0;

	/* The kernel's own sockets are not the unit's doing. */
	if (kern || family < 0 || family >= AF_MAX_BITS)
		return 0;
	u = active_unit(&unit_cgid);
	if (!u || !(((u->deny_families | u->audit_families) >> family) & 1))
		return 0;
	return refuse(u, unit_cgid, &w, !((u->deny_families >> family) & 1));
}

/* init_module(2): the image comes from user memory. bpf_d_path is not
 * allowed in this hook: no exe. */
SEC("lsm/kernel_load_data")
int BPF_PROG(ug_load_data, enum kernel_load_data_id id, bool contents)
{
	if (id != LOADING_MODULE)
		return 0;
	return harden(UG_HARDEN_MODULE_LOAD, UG_HOOK_MODULE_LOAD, 0, false);
}

/* finit_module(2): the image is read from a file. */
SEC("lsm/kernel_read_file")
int BPF_PROG(ug_read_file, struct file *file, enum kernel_read_file_id id, bool contents)
{
	if (id != READING_MODULE)
		return 0;
	return harden(UG_HARDEN_MODULE_LOAD, UG_HOOK_MODULE_LOAD, 0, true);
}

/* Every bpf(2) command. Only cmd is declared: see the top of this file. */
SEC("lsm/bpf")
int BPF_PROG(ug_bpf, int cmd)
{
	return harden(UG_HARDEN_BPF, UG_HOOK_BPF, (__u32)cmd, true);
}

/* Is the task's (cgroup2) cgroup the policy cgroup or below it? A task more
 * than 2 * UG_MAX_LEVELS levels below it counts as outside. */
static __always_inline bool task_in_unit(struct task_struct *task, __u64 unit_cgid)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);

	for (int i = 0; i < 2 * UG_MAX_LEVELS; i++) {
		if (!kn)
			return false;
		if (BPF_CORE_READ(kn, id) == unit_cgid)
			return true;
		kn = kn_parent(kn);
	}
	return false;
}

/* ptrace(2) and the /proc files that need ptrace access (mem, environ ...)
 * of a process outside the unit. bpf_d_path is not allowed here: no exe. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(ug_ptrace, struct task_struct *child, unsigned int mode)
{
	struct ug_what w = { .hook = UG_HOOK_PTRACE, .exe = false };
	struct ug_lsm_unit *u;
	__u64 unit_cgid = 0;

	u = active_unit(&unit_cgid);
	if (!u || !((u->harden | u->harden_audit) & UG_HARDEN_PTRACE))
		return 0;
	if (task_in_unit(child, unit_cgid))
		return 0;
	w.detail = BPF_CORE_READ(child, tgid);
	return refuse(u, unit_cgid, &w, !(u->harden & UG_HARDEN_PTRACE));
}

SEC("lsm/sb_mount")
int BPF_PROG(ug_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data)
{
	return harden(UG_HARDEN_MOUNT, UG_HOOK_MOUNT, 0, true);
}

/* bpf_d_path is not allowed here: no exe. */
SEC("lsm/move_mount")
int BPF_PROG(ug_move_mount, const struct path *from_path, const struct path *to_path)
{
	return harden(UG_HARDEN_MOUNT, UG_HOOK_MOUNT, 0, false);
}

/* bpf_d_path is not allowed in the hooks below: no exe. */
SEC("lsm/sb_umount")
int BPF_PROG(ug_sb_umount, struct vfsmount *mnt, int flags)
{
	return harden(UG_HARDEN_MOUNT, UG_HOOK_MOUNT, 0, false);
}

/* A new root shows every path rule another tree: path-view; and it moves
 * mounts: mount. */
SEC("lsm/sb_pivotroot")
int BPF_PROG(ug_sb_pivotroot, const struct path *old_path, const struct path *new_path)
{
	return harden(UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW, UG_HOOK_PATH_VIEW, UG_VIEW_PIVOT_ROOT,
		      false);
}

SEC("lsm/path_chroot")
int BPF_PROG(ug_path_chroot, const struct path *path)
{
	return harden(UG_HARDEN_PATH_VIEW, UG_HOOK_PATH_VIEW, UG_VIEW_CHROOT, false);
}

/* A user namespace lets an unprivileged process mount and chroot in it
 * (`unshare -r chroot DIR`): refused at its creation. */
SEC("lsm/userns_create")
int BPF_PROG(ug_userns_create, const struct cred *cred)
{
	return harden(UG_HARDEN_PATH_VIEW, UG_HOOK_PATH_VIEW, UG_VIEW_USERNS, false);
}

/* --- ug_lsm_flush: run by the agent (BPF_PROG_TEST_RUN) after ug_flush ------ */

UG_FLUSH_AGG_SHARED(flush_agg, struct ug_lsm_agg_key, struct ug_lsm_agg_val, send, UG_SHARE_LSM)

SEC("syscall")
int ug_lsm_flush(struct ug_flush_ctx *ctx)
{
	struct flush_state st = { .now = bpf_ktime_get_boot_ns(), .window = ctx->window };

	bpf_for_each_map_elem(&ug_lsm_agg, flush_agg, &st, 0);
	ctx->sent = st.sent;
	ctx->full = st.full;
	return 0;
}
