/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every structure that crosses the kernel/user boundary, shared by bpf/ and
 * the agent. Fixed-width types only, no pointers. Changing a layout here
 * changes the pinned maps' layout: a running agent of an older build refuses
 * to adopt them (libbpf checks key/value sizes) rather than misreading them.
 */
#ifndef UNITGUARD_H
#define UNITGUARD_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Cgroup levels the programs walk up when looking for the unit that owns a
 * socket or task; a policy cgroup deeper than this is refused by the agent. */
#define UG_MAX_LEVELS 16

enum ug_dir {
	UG_DIR_EGRESS = 0,
	UG_DIR_INGRESS = 1,
	UG_DIR_BIND = 2,
	UG_DIR_MAX,
};

enum ug_action {
	UG_ACT_ALLOW = 0,
	UG_ACT_DENY = 1,
};

enum ug_mode {
	UG_MODE_ENFORCE = 0,
	UG_MODE_AUDIT = 1, /* would-deny is recorded, traffic passes */
	UG_MODE_OFF = 2,
};

enum ug_hook {
	UG_HOOK_NONE = 0,
	UG_HOOK_CONNECT4,
	UG_HOOK_CONNECT6,
	UG_HOOK_SENDMSG4,
	UG_HOOK_SENDMSG6,
	UG_HOOK_EGRESS_SKB,
	UG_HOOK_INGRESS_SKB,
	UG_HOOK_BIND4,
	UG_HOOK_BIND6,
	UG_HOOK_MAX,
};

enum ug_verdict {
	UG_VERDICT_DENY = 1,  /* the operation was refused */
	UG_VERDICT_AUDIT = 2, /* it would have been refused; audit mode let it pass */
};

/*
 * Atomic generations. Each policy cgroup's rules live in a trie of their own
 * (a trie id in the LPM key). A change writes the new rules under a fresh
 * trie id, then swaps the cgroup's ug_units value to point at it: a hash map
 * update replaces the element as a whole, so every decision sees either the
 * old trie or the new one, never a mix. The old trie's entries are deleted
 * only later, once no program can still be reading them.
 */

/* ug_config (array, 1 entry). */
struct ug_config {
	/* Bit L set: some policy cgroup sits at cgroup level L. The programs
	 * look up only those ancestor levels, deepest first. */
	__u32 level_mask;
	__u32 pad;
};

/*
 * ug_units (hash): cgroup id of a policy cgroup (a unit, slice or plain
 * cgroup that has rules) -> its compiled policy. A socket or task is governed
 * by its nearest ancestor (or itself) present here; rules that cgroup
 * inherits from policy cgroups above it are compiled into its own trie.
 */
struct ug_unit_val {
	__u32 generation;
	__u16 trie;        /* the LPM key's trie id */
	__u8 mode;         /* enum ug_mode */
	__u8 deny_default; /* bit (1 << enum ug_dir) set: that direction's default posture is deny */
};

/*
 * ug_lpm (LPM trie): (trie, direction, address) -> rule. IPv4 addresses are
 * stored and looked up in the IPv4-mapped IPv6 form (::ffff:a.b.c.d), so a
 * dual-stack socket connecting to ::ffff:10.0.0.1 meets the IPv4 rules.
 * prefixlen counts bits from `trie` on: UG_LPM_HDR_BITS + address bits.
 */
struct ug_lpm_key {
	__u32 prefixlen;
	__u16 trie; /* host byte order */
	__u8 dir;   /* enum ug_dir */
	__u8 pad;   /* zero */
	__u8 addr[16];
};

#define UG_LPM_HDR_BITS 32

struct ug_lpm_val {
	__u32 rule_id; /* store rule id; 0 for an entry the compiler added */
	__u8 action;   /* enum ug_action, or UG_ACT_DEFAULT */
	__u8 pad[3];
};

/* An LPM value that stops a shorter IPv6 prefix (such as ::/0) from covering
 * the IPv4-mapped range: the lookup ends there and the default posture decides. */
#define UG_ACT_DEFAULT 0xff

/* ug_counters (per-CPU array): things the agent must report but that are not
 * events. */
enum ug_counter {
	UG_CNT_EVENTS_LOST = 0, /* ring buffer full: a denial could not be recorded */
	UG_CNT_MAX,
};

/* One denial (or would-be denial in audit mode), sent through ug_events. */
struct ug_event {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgid;       /* cgroup of the socket or task */
	__u64 unit_cgid;  /* policy cgroup whose rules decided */
	__u32 pid;        /* tgid; 0 when no task context (softirq ingress) */
	__u32 uid;
	__u32 rule_id;    /* 0: no rule matched, the default posture decided */
	__u32 generation;
	__u8 comm[16];    /* NUL-padded; may be unterminated at 16 bytes */
	__u8 addr[16];    /* peer address (destination for egress/bind, source for ingress), v4-mapped for IPv4 */
	__u16 port;       /* peer port, host byte order; 0 when none */
	__u8 family;      /* AF_INET or AF_INET6 as seen by the hook */
	__u8 proto;       /* IPPROTO_* */
	__u8 hook;        /* enum ug_hook */
	__u8 verdict;     /* enum ug_verdict */
	__u8 dir;         /* enum ug_dir */
	__u8 pad;
};

#endif /* UNITGUARD_H */
