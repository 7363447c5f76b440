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

/*
 * The layout of the pinned maps (keys, values, sizes, which maps exist).
 * The network object pins an empty map named ug_layout_v<UG_LAYOUT>; maps
 * pinned without it are of an older build: the agent moves them aside, puts
 * its own in force, and only then lets the old programs go (agent/net.c,
 * "migration"). Bump both when a layout changes.
 */
#define UG_LAYOUT 7
#define UG_LAYOUT_MAP "ug_layout_v7"

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
	UG_ACT_AUDIT = 2, /* a verdict, never a rule's action: only rules of cgroups in audit
			     mode deny; recorded, the action passes */
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
	/* LSM hooks (bpf/lsm/), reported through ug_lsm_events */
	UG_HOOK_EXEC,          /* bprm_check_security */
	UG_HOOK_FILE_OPEN,     /* file_open */
	UG_HOOK_SOCKET_CREATE, /* socket_create */
	UG_HOOK_MODULE_LOAD,   /* kernel_load_data / kernel_read_file for modules */
	UG_HOOK_BPF,           /* bpf */
	UG_HOOK_PTRACE,        /* ptrace_access_check */
	UG_HOOK_MOUNT,         /* sb_mount / move_mount / sb_umount */
	UG_HOOK_PATH_VIEW,     /* path_chroot, sb_pivotroot, userns_create: detail UG_VIEW_* */
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
	/* ug_config only (ug_lsm_config: 0). Changed by the agent after every
	 * change to what decides a socket's packets (ug_units, ug_lpm,
	 * ug_lists), once the change is complete; never back to a value it had.
	 * A verdict the packet hooks keep on a socket (net.bpf.c, ug_sk_v)
	 * holds only while this is what it was reached at. Older agents wrote
	 * 0 here (the field was padding). */
	__u32 gen;
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
	__u8 mode;         /* enum ug_mode: audit when every rule and default of the unit's
			      comes from a cgroup in audit mode (a packet that cannot be
			      judged is then audited, not denied) */
	__u8 deny_default; /* bit (1 << enum ug_dir) set: that direction's default posture is deny */
	__u16 acct;        /* this cgroup's slot in ug_acct; stable across generations */
	__u16 flags;       /* UG_UNIT_*; 0 (as in values of older agents): read everything */
	__u8 audit_default; /* bit (1 << dir): a cgroup in audit mode set that direction's default
			       posture to deny: where nothing else decides, recorded as audit */
	__u8 pad0;
	__u16 pad;
};

/*
 * No rule of the unit has ports and none is a bind rule: the packet hooks
 * decide from the network header alone and read the transport header only
 * for a denial's record (its port). Set by the agent from the rules it
 * compiles; a value without it costs one more load per packet, nothing else.
 */
#define UG_UNIT_NO_L4 0x1

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

/*
 * One rule as the kernel checks it. A rule matches when its protocol is 0
 * (any) or equal to the packet's, and, when UG_MATCH_PORTS is set, the packet
 * has a port (TCP or UDP) within [port_lo, port_hi]. Which port: egress, the
 * remote port; ingress, the local port; bind, the port being bound.
 *
 * It is also the value of an ug_lpm entry (12 bytes, so a /32 costs what the
 * trie node needs, not room for 16 rules):
 *  - flags without UG_LPM_LIST or UG_LPM_NONE: the entry's only rule, inline;
 *  - UG_LPM_LIST: several rules can decide: rule_id is the id of their list
 *    in ug_lists, tried in order;
 *  - UG_LPM_NONE: no rule decides (how the compiler stops IPv6 rules from
 *    reaching into the IPv4-mapped range): the default posture does.
 */
struct ug_match {
	__u32 rule_id;   /* store rule id; with UG_LPM_LIST the list id */
	__u16 port_lo;
	__u16 port_hi;
	__u8 proto;      /* IPPROTO_*; 0: any */
	__u8 action;     /* enum ug_action */
	__u8 flags;      /* UG_MATCH_*, UG_LPM_* */
	__u8 pad;
};

#define UG_MATCH_PORTS 0x1
#define UG_LPM_LIST 0x2
#define UG_LPM_NONE 0x4
/* A rule of a cgroup in audit mode: it decides what would be denied (an
 * audit record, the action passes), never what is. A list is tried in
 * order; the first matching rule without this flag decides enforcement,
 * and a matching rule with it, met before that one, what would be denied. */
#define UG_MATCH_AUDIT 0x8

/* Rules one LPM entry can carry; the compiler refuses a policy that needs more. */
#define UG_MATCHES_MAX 16

/* Capacities of the network maps (bpf/cgroup/net.bpf.c): policy cgroups in
 * ug_units, entries of every trie in ug_lpm (room for 2M /32 rules in force
 * plus a change of as many: a new trie is written whole before the old one
 * goes), match lists in ug_lists. unitguardctl checks a policy against them. */
#define UG_UNITS_MAX 4096
#define UG_LPM_MAX (1 << 22)
#define UG_LISTS_MAX 65536

/*
 * Every rule that can decide for an address whose longest matching prefix is
 * one LPM entry, in the order they are tried: what the compiler produces per
 * entry, and the value of ug_lists (hash, __u32 list id -> this) for entries
 * with more than one. The compiler appends the rules of the shorter prefixes
 * that cover this one, so the kernel needs a single LPM lookup: the first
 * rule that matches decides; when none does, the unit's default posture
 * decides. Lists are shared by every entry with the same rules and never
 * change: a new list gets a new id, written before any entry points at it,
 * and deleted after the last such entry.
 */
struct ug_match_list {
	__u32 n;         /* used entries of m[] */
	__u32 pad;
	struct ug_match m[UG_MATCHES_MAX];
};

/*
 * ug_acct (per-CPU array, UG_ACCT_SLOTS * 2 entries, index acct * 2 + dir):
 * packets and bytes seen by the packet-level hooks of each policy cgroup,
 * per direction (egress 0, ingress 1) and verdict. Bytes are skb->len: the IP
 * packet, headers included. An array, not a hash: the lookup on every packet
 * is then a bounds check and an add.
 */
#define UG_ACCT_SLOTS 4096

enum ug_acct_verdict {
	UG_ACCT_ALLOWED = 0,
	UG_ACCT_DROPPED = 1,
	UG_ACCT_AUDITED = 2, /* would have been dropped; audit mode let it pass */
	UG_ACCT_MAX,
};

struct ug_acct_val {
	__u64 packets[UG_ACCT_MAX];
	__u64 bytes[UG_ACCT_MAX];
};

/* ug_rule_hits (per-CPU hash, __u32 rule id -> __u64): decisions each rule
 * made, at any hook. */

/* ug_counters (per-CPU array): things the agent must report but that are not
 * events. */
enum ug_counter {
	UG_CNT_EVENTS_LOST = 0, /* a denial could not be recorded, nor counted for its unit
				   (ug_share full) */
	UG_CNT_LIST_MISSING = 1, /* an entry's rule list was not found: cannot happen */
	/* Written by the agent, not the programs (kept here because the map
	 * outlives it): denials journaled but not stored, store down or full. */
	UG_CNT_AUDIT_UNSTORED = 2,
	/* A map update whose failure the program can do nothing about (a map
	 * full): cgroup_mkdir putting a starting unit's policy in force (the
	 * agent's next pass does it then). */
	UG_CNT_MAP_UPDATE_FAILED = 3,
	UG_CNT_MAX,
};

/* Who was denied, and by which policy: the head of every record and of
 * every aggregation key. */
struct ug_who {
	__u64 cgid;       /* cgroup of the socket or task */
	__u64 unit_cgid;  /* policy cgroup whose rules decided */
	__u32 pid;        /* tgid; 0 when no task context (softirq ingress) */
	__u32 uid;
	__u32 rule_id;    /* 0: no rule matched, the default posture decided */
	__u32 generation;
};

/*
 * One record sent through ug_events: `count` denials (or would-be denials in
 * audit mode) of one identity, the first at first_ns, the last at ts_boot_ns;
 * or, with UG_EV_F_LOST, `count` denials of unit_cgid's unit that could not be
 * recorded (the ring buffer, or the unit's share of it, was full: ug_share),
 * every other field zero.
 */
struct ug_event {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() of the last denial counted */
	__u64 first_ns;   /* of the first one counted */
	__u64 count;      /* >= 1 */
	struct ug_who who;
	__u8 comm[16];    /* NUL-padded; may be unterminated at 16 bytes */
	__u8 addr[16];    /* peer address (destination for egress/bind, source for ingress), v4-mapped for IPv4 */
	__u16 port;       /* peer port, host byte order; 0 when none */
	__u8 family;      /* AF_INET or AF_INET6 as seen by the hook */
	__u8 proto;       /* IPPROTO_* */
	__u8 hook;        /* enum ug_hook */
	__u8 verdict;     /* enum ug_verdict */
	__u8 dir;         /* enum ug_dir */
	__u8 flags;       /* UG_EV_F_* */
};
/* A count of unrecorded denials (ug_share), not a denial. */
#define UG_EV_F_LOST 0x2

/*
 * Aggregation (bpf/cgroup/net.bpf.c, record()). Denials with the same
 * identity -- every field of ug_event but the times, count and comm -- in
 * the same window cost one entry of ug_agg: the first is sent at once, the
 * rest are counted in `pending`, and the agent's flush program (ug_flush,
 * run every 250 ms) sends what is pending as one record and deletes entries
 * of windows that ended. The window number is the agent's (ug_agg_cfg,
 * advanced once a second by the flush); while no agent runs it stands still
 * and counts wait in the map. A unit without an entry to spare (its share,
 * ug_share, or the map full) sends its denials one by one, within its share
 * of the ring.
 */
#define UG_AGG_MAX 16384

struct ug_agg_key {
	struct ug_who who;
	__u8 addr[16];
	__u16 port;
	__u8 family;
	__u8 proto;
	__u8 hook;
	__u8 verdict;
	__u8 dir;
	__u8 flags;
	__u32 window;
	__u32 pad;
};

struct ug_agg_val {
	__u64 pending;  /* denials not sent yet (atomic) */
	__u64 since_ns; /* the first of them was no earlier than this */
	__u64 last_ns;  /* the last of them */
	__u8 comm[16];  /* of the first denial of the window */
};

/* ug_agg_cfg (array, 1 entry): the current window, written by ug_flush. */
struct ug_agg_cfg {
	__u32 window;
	__u32 pad;
};

/*
 * ug_share (hash, shared by both objects; bpf/lib/lost.bpf.h): unit cgroup
 * id -> that unit's share of what all units' audit shares, so that one
 * unit's flood costs that unit its detail, never another unit's:
 *  - agg[]: its entries in use in ug_agg (UG_SHARE_NET) and ug_lsm_agg
 *    (UG_SHARE_LSM), at most UG_SHARE_AGG_* each. Past that, a new identity
 *    of the unit gets no entry: its denials go to the ring one by one.
 *  - ring[]: its records sent through ug_events / ug_lsm_events since the
 *    last flush, at most UG_SHARE_RING_* each; ug_flush sets them to 0. Past
 *    that, a new identity with an entry waits in the entry for the next
 *    flush, a pending count waits where it is, and a denial with neither is
 *    counted in `lost`.
 *  - lost: denials of the unit not recorded, because the ring, or its share
 *    of it, was full (atomically added). ug_flush sends it as an
 *    UG_EV_F_LOST record and takes it off.
 * Every denial is thus in a record, a pending count or `lost`: the unit's
 * totals stay exact. A unit gone from ug_units and ug_lsm_units for two
 * flushes, with nothing counted and no entries, loses its entry.
 */
struct ug_share_val {
	__u64 lost;
	__u32 idle;   /* flushes that found it with nothing to do and its unit gone; ug_flush only */
	__u32 pad;
	__u32 agg[2];  /* UG_SHARE_NET, UG_SHARE_LSM */
	__u32 ring[2];
};

#define UG_SHARE_NET 0
#define UG_SHARE_LSM 1
/* An eighth of each map: seven units flooding at once leave the rest to the others. */
#define UG_SHARE_AGG_NET (UG_AGG_MAX / 8)
#define UG_SHARE_AGG_LSM (UG_LSM_AGG_MAX / 8)
/* Records per unit per flush (250 ms): ug_events holds about 10 000 records,
 * ug_lsm_events about 3 500; a flood is drained every flush, so several
 * units at their share at once still leave room for everyone else's. */
#define UG_SHARE_RING_NET 1024
#define UG_SHARE_RING_LSM 512

/*
 * Across layouts. What a later build of any layout must still be able to
 * do with this generation's pins at a migration (agent/net_open.c,
 * let_go): carry over every denial counted in its kernel maps and not yet
 * stored (aggregated, lost), as lost denials. So three things never change
 * from layout to layout, whatever else does:
 *  - <pin dir>/flush/<ring> (pinned/pinned.h) is a BPF_PROG_TYPE_SYSCALL
 *    program that takes struct ug_flush_ctx;
 *  - run with window UG_WINDOW_END it sends into <ring> what is counted and
 *    not sent, within what the ring has room for (`full`), and reports how
 *    many records it sent; run until it sends nothing and is not full, no
 *    count is left;
 *  - every record in every ring begins with struct ug_record_head, whose
 *    count is the number of denials the record stands for.
 * A layout that cannot keep these needs a new contract and a reader of the
 * old one. unitguard_layout.h checks the structures.
 */
struct ug_record_head {
	__u64 last_ns;
	__u64 first_ns;
	__u64 count; /* >= 1 */
};
#define UG_WINDOW_END 0xfffffff0u

/* ug_flush's context (BPF_PROG_TEST_RUN ctx_in/ctx_out): frozen, see above. */
struct ug_flush_ctx {
	__u32 window; /* in: the window now */
	__u32 sent;   /* out: records sent */
	__u32 full;   /* out: the ring had no room; the rest waits */
	__u32 pad;
};

/* The packet's IPv6 header chain could not be walked to its transport
 * header (too long, unreadable, an unknown routing header): denied as
 * unjudgeable, not by a rule (bpf/lib/parse.bpf.h, walk6). */
#define UG_EV_F_UNPARSED 0x1
/* IPv6 extension headers walked before the transport header, and addresses
 * of a routing header judged; past either, the packet is unparsed. */
#define UG_EXT_MAX 8
#define UG_RH_ADDRS_MAX 8

/* ======================================================================
 * LSM side (bpf/lsm/lsm.bpf.c): one global program per hook; the task's
 * unit is found by walking up its cgroup ancestry, as on the network side.
 * ====================================================================== */

enum ug_path_kind {
	UG_PATH_EXEC = 0,
	UG_PATH_FILE = 1,
};

/* Path bytes in an LPM key. A path whose text (plus the '/' appended for the
 * lookup) does not fit is denied in enforce mode and audited with
 * UG_LSM_F_TOO_LONG, never allowed unseen. */
#define UG_PATH_MAX 248

/*
 * ug_paths (LPM trie): (trie, kind, path bytes) -> rule. Paths are matched on
 * directory boundaries: a rule for "/usr/bin" is stored as "/usr/bin/", and
 * a path is looked up with '/' appended, so "/usr/bin" and "/usr/bin/ls"
 * match and "/usr/binx" does not. The rule "/" is stored as "/" and matches
 * every path. prefixlen = UG_PATH_HDR_BITS + 8 * stored bytes.
 */
struct ug_path_key {
	__u32 prefixlen;
	__u16 trie; /* ug_lsm_unit.trie */
	__u8 kind;  /* enum ug_path_kind */
	__u8 pad;
	__u8 path[UG_PATH_MAX];
};

#define UG_PATH_HDR_BITS 32

#define UG_ACCESS_READ 0x1
#define UG_ACCESS_WRITE 0x2

/*
 * One reading of the rules at a path. The compiler folds covering prefixes
 * into each entry, so one lookup decides. exec: the longest matching rule's
 * action. file: the access bits denied by this prefix or any covering one,
 * and the longest rule that denies each.
 */
struct ug_path_reading {
	__u32 rule_id;     /* exec: deciding rule, 0 if none */
	__u32 read_rule;   /* file: rule denying read, 0 if none */
	__u32 write_rule;  /* file: rule denying write, 0 if none */
	__u8 action;       /* exec: enum ug_action */
	__u8 deny_access;  /* file: UG_ACCESS_* denied */
	__u8 pad[2];
};

/*
 * A mode governs the rules it comes with (policy/inherit.c): an entry holds
 * two readings, as the network side's matches do. What the enforced rules
 * alone refuse is refused; what every rule would refuse, audited ones read as
 * enforced, and the enforced ones let pass, is recorded as an audit verdict.
 */
struct ug_path_val {
	struct ug_path_reading enforced; /* the enforced rules only */
	struct ug_path_reading all;      /* every rule */
};

/* Hardening switches per unit. */
#define UG_HARDEN_MODULE_LOAD 0x1 /* init_module, finit_module */
#define UG_HARDEN_BPF 0x2         /* bpf() */
#define UG_HARDEN_PTRACE 0x4      /* ptrace of a process outside the unit */
#define UG_HARDEN_MOUNT 0x8       /* mount(2), move_mount(2), umount(2), pivot_root(2) */
#define UG_HARDEN_PATH_VIEW 0x10  /* chroot(2), pivot_root(2), creating a user namespace:
				     what would show the unit's path rules other paths */
/* ug_lsm_event.detail of UG_HOOK_PATH_VIEW */
#define UG_VIEW_CHROOT 1
#define UG_VIEW_PIVOT_ROOT 2
#define UG_VIEW_USERNS 3

/* ug_lsm_units (hash): policy cgroup id -> its LSM policy. */
struct ug_lsm_unit {
	__u64 deny_families;  /* bit F: socket(F, ...) refused (F < 64); the event's
				 rule_id is 0 and the agent names the family rule */
	__u64 audit_families; /* bit F: socket(F, ...) recorded as audited */
	__u32 generation;
	__u16 trie;           /* ug_paths trie id */
	__u8 mode;            /* enum ug_mode: off judges nothing; audit refuses nothing */
	__u8 harden;          /* UG_HARDEN_* refused */
	__u8 harden_audit;    /* UG_HARDEN_* recorded as audited */
	__u8 has_paths;       /* bit (1 << enum ug_path_kind): the unit has such rules */
	__u8 pad[6];
};

/* ug_lsm_config (array, 1 entry). */
struct ug_lsm_config {
	__u32 level_mask; /* as ug_config.level_mask, for ug_lsm_units */
	__u32 pad;
};

#define UG_LSM_F_TOO_LONG 0x1 /* the path did not fit: denied in enforce mode */
#define UG_LSM_F_NO_PATH 0x2  /* the path could not be read, or what was read is not the
				 file's path from the task's root (a disconnected or
				 detached file: bpf/lsm/lsm.bpf.c, path_rooted) */

/* `count` LSM denials (or would-be denials) of one identity, sent through
 * ug_lsm_events: aggregated as network denials are (ug_lsm_agg). */
struct ug_lsm_event {
	__u64 ts_boot_ns; /* the last denial counted */
	__u64 first_ns;   /* the first one counted */
	__u64 count;      /* >= 1 */
	struct ug_who who; /* rule_id 0: not decided by a path rule (family, hardening, too long) */
	__u32 detail;     /* socket_create: family; ptrace: target tgid; bpf: command; module: 0 */
	__u8 hook;        /* enum ug_hook (UG_HOOK_EXEC ... UG_HOOK_MOUNT) */
	__u8 verdict;     /* enum ug_verdict */
	__u8 access;      /* file_open: UG_ACCESS_* requested */
	__u8 flags;       /* UG_LSM_F_* */
	__u8 comm[16];
	__u8 path[256];   /* exec/file_open: resolved path; NUL-terminated; empty otherwise */
	__u8 exe[256];    /* the acting task's executable, resolved; empty if unknown */
	__u64 start_ns;   /* its process's start (start_boottime): the agent names the
			     executable from /proc only while PID is still that process */
};

/*
 * ug_lsm_agg (hash, UG_LSM_AGG_MAX): the LSM side's aggregation, as ug_agg's
 * (see "Aggregation"): the identity is every field of ug_lsm_event but the
 * times, count, comm and exe, and the window; its own flush program
 * (ug_lsm_flush) sends what is pending.
 */
#define UG_LSM_AGG_MAX 4096

struct ug_lsm_agg_key {
	struct ug_who who;
	__u32 detail;
	__u8 hook;
	__u8 verdict;
	__u8 access;
	__u8 flags;
	__u32 window;
	__u32 pad;
	__u8 path[256];
};

struct ug_lsm_agg_val {
	__u64 pending;
	__u64 since_ns;
	__u64 last_ns;
	__u8 comm[16];
	__u8 exe[256];
	__u64 start_ns;
};

/* ======================================================================
 * The start-up race. A unit that starts after its rules exist must be
 * judged from its first instruction, but its cgroup id is only known once
 * systemd creates the cgroup. The agent keeps each unit target's compiled
 * policy under the unit's NAME in the pending maps; a tp_btf/cgroup_mkdir
 * program (bpf/cgroup/net.bpf.c) copies it to ug_units / ug_lsm_units under
 * the new cgroup's id inside the mkdir(2), before any task can be moved in,
 * and only for a cgroup made in the parent the agent named for it (a name is
 * not identity: anyone who may make cgroups can pick any name). A parent not
 * made yet (a template instance's slice, made by systemd with the first
 * instance's start) is named as the slice called `via` directly below the
 * cgroup parent_cgid: slices are never delegated, so only systemd makes it.
 * ====================================================================== */

#define UG_NAME_MAX 128 /* a name (and via) of UG_NAME_MAX - 1 or more bytes gets no
			  pending entry: the kernel's copy of a longer one would be cut
			  to that and match */

struct ug_pending_key {
	char name[UG_NAME_MAX]; /* the cgroup directory's name, NUL-padded */
};

struct ug_pending_net {
	struct ug_unit_val val;
	__u64 parent_cgid; /* the new cgroup's parent must have this id (0: matches nothing); */
	__u32 level;       /* and the new cgroup's level must be this */
	__u32 pad;
	char via[UG_NAME_MAX]; /* "": as above; else the parent must be named this, and
				  parent_cgid is its parent's id */
};

struct ug_pending_lsm {
	struct ug_lsm_unit val;
	__u64 parent_cgid;
	__u32 level;
	__u32 pad;
	char via[UG_NAME_MAX];
};

#include "unitguard_layout.h"

#endif /* UNITGUARD_H */
