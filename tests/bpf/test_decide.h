/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What test_decide.bpf.c and tests/test_decide.c exchange through the
 * object's globals. */
#ifndef TEST_DECIDE_H
#define TEST_DECIDE_H

/* What a packet or socket operation came to. */
struct test_net_out {
	__u32 runs;     /* the program ran (1) */
	__u32 judged;   /* parsed as IP and judged; 0: let through unjudged */
	__u32 rule_id;  /* the deciding rule, 0 for none */
	__u8 action;    /* enum ug_action */
	__u8 dir;       /* whose rules decided: enum ug_dir */
	__u8 family;
	__u8 proto;
	__u8 addr[16];  /* the address judged last */
	__u16 port;
	__u8 has_port;
	__u8 unparsed;
	__u8 syn;
	__u8 rh_n;
	__u8 pad[2];
};

/* A socket hook's operation (struct ug_op, lib/decide.bpf.h, as
 * sock_addr4/sock_addr6 in bpf/cgroup/net.bpf.c fill it). */
struct test_sock_in {
	__u8 addr[16];  /* v4-mapped for IPv4 */
	__u16 port;
	__u8 family;
	__u8 proto;
	__u8 hook;
	__u8 dir;
	__u8 has_port;
	__u8 pad;
};

struct test_path_in {
	__s64 len;      /* bpf_d_path's return: the text's length with its NUL, or -errno */
	__u16 trie;
	__u8 kind;      /* enum ug_path_kind */
	__u8 access;    /* UG_ACCESS_* */
	__u32 pad;
	__u8 path[UG_PATH_MAX];
};

struct test_path_out {
	__u32 runs;
	__u32 rule_id;
	__u8 flags;     /* UG_LSM_F_*: the path cannot be looked up */
	__u8 verdict;   /* UG_VERDICT_DENY, _AUDIT, 0: it passes */
	__u8 pad[6];
};

/* An open's f_mode and f_flags as file_open sees them, and what
 * open_access() makes of them. */
struct test_open {
	__u32 f_mode;   /* in */
	__u32 f_flags;  /* in */
	__u32 runs;     /* out */
	__u8 access;    /* out: UG_ACCESS_* */
	__u8 pad[3];
};

#endif
