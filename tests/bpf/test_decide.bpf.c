// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel's decision code, run on crafted input by tests/test_decide.c
 * with BPF_PROG_TEST_RUN: the packet parser (lib/parse.bpf.h) and the
 * network verdict (lib/decide.bpf.h) on crafted packets and ug_lpm/ug_lists
 * contents, the path rule verdict (lib/path.bpf.h) on crafted paths and
 * ug_paths contents, and what an open requests (lib/path.bpf.h) of crafted
 * f_mode and f_flags. The same headers the real programs include; what this
 * object adds is only the plumbing: input from and output to its globals.
 *
 * Every program is a cgroup_skb one, run without a cgroup: test runs of that
 * type hand it the packet from its network header on, as the real packet
 * hooks see it. (A syscall program would do for the others but is sleepable,
 * and sleepable programs may not use LPM tries.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "unitguard.h"

#define UG_COUNTERS_MAP ug_counters
#include "lib/counters.bpf.h"
#include "lib/decide.bpf.h"
#include "lib/parse.bpf.h"
#include "lib/path.bpf.h"

#include "test_decide.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* In: the unit whose rules judge; for test_packet, the direction (enum
 * ug_dir: egress or ingress); for test_sock, the operation. */
struct ug_unit_val unit;
__u8 packet_dir;
struct test_sock_in sock_in;
/* In: for test_path. */
struct test_path_in path_in;

struct test_net_out net_out;
struct test_path_out path_out;
/* In and out: for test_open. */
struct test_open open_io;

static __always_inline void judged(const bool at_skb, struct __sk_buff *skb, const struct ug_op *op)
{
	struct ug_lpm_key key = {};
	__u32 rule_id;
	__u8 dir;

	net_out.action = verdict(at_skb, skb, &unit, op, &key, &dir, &rule_id);
	net_out.rule_id = rule_id;
	net_out.dir = dir;
	__builtin_memcpy(net_out.addr, key.addr, sizeof(net_out.addr));
	net_out.port = op->port;
	net_out.family = op->family;
	net_out.proto = op->proto;
	net_out.has_port = op->has_port;
	net_out.unparsed = op->unparsed;
	net_out.syn = op->syn;
	net_out.rh_n = op->rh_n;
}

/* A packet, as ug_egress or ug_ingress sees it (packet_dir). */
SEC("cgroup_skb/egress")
int test_packet(struct __sk_buff *skb)
{
	struct ug_op op = { .dir = packet_dir };

	op.hook = packet_dir == UG_DIR_INGRESS ? UG_HOOK_INGRESS_SKB : UG_HOOK_EGRESS_SKB;
	__builtin_memset(&net_out, 0, sizeof(net_out));
	net_out.runs = 1;
	/* Not IP: not judged. */
	if (parse_skb(skb, &op, packet_dir == UG_DIR_INGRESS))
		return 1;
	net_out.judged = 1;
	judged(true, skb, &op);
	return 1;
}

/* A socket hook's operation (connect, sendmsg, bind), from sock_in. */
SEC("cgroup_skb/egress")
int test_sock(struct __sk_buff *skb)
{
	struct ug_op op = {
		.port = sock_in.port,
		.family = sock_in.family,
		.proto = sock_in.proto,
		.hook = sock_in.hook,
		.dir = sock_in.dir,
		.has_port = sock_in.has_port,
	};

	__builtin_memcpy(op.addr, sock_in.addr, sizeof(op.addr));
	__builtin_memset(&net_out, 0, sizeof(net_out));
	net_out.runs = 1;
	net_out.judged = 1;
	judged(false, NULL, &op);
	return 1;
}

/* check_path() (bpf/lsm/lsm.bpf.c) after bpf_d_path: path_in.len is what
 * bpf_d_path would have returned. */
SEC("cgroup_skb/egress")
int test_path(struct __sk_buff *skb)
{
	struct ug_path_key key = {};
	__u32 rule_id = 0;

	__builtin_memcpy(key.path, path_in.path, sizeof(key.path));
	__builtin_memset(&path_out, 0, sizeof(path_out));
	path_out.runs = 1;
	path_out.flags = path_key(&key, path_in.len, path_in.trie, path_in.kind);
	if (path_out.flags)
		return 1;
	if (path_in.kind == UG_PATH_EXEC)
		path_out.verdict = path_verdict(&key, UG_PATH_EXEC, 0, &rule_id);
	else
		path_out.verdict = path_verdict(&key, UG_PATH_FILE, path_in.access, &rule_id);
	path_out.rule_id = rule_id;
	return 1;
}

/* ug_file_open (bpf/lsm/lsm.bpf.c): what an open requests of file rules. */
SEC("cgroup_skb/egress")
int test_open(struct __sk_buff *skb)
{
	open_io.access = open_access(open_io.f_mode, open_io.f_flags);
	open_io.runs = 1;
	return 1;
}
