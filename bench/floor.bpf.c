// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The cost floor for unitguard's benchmark: what any per-unit prefix filter
 * must pay at least. Each hook does exactly one LPM-trie lookup of the
 * destination and nothing else: no cgroup walk, no rule list, no event. The
 * map has the shape of unitguard's ug_lpm (same key layout and flags), so the
 * trie does the same work per lookup. Attached to its own cgroup by
 * bench/run.sh; filled with `bpftool map update` (bpftool batch).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800

enum {
	FLOOR_DENY = 0,
	FLOOR_ALLOW = 1,
};

/* Same layout as struct ug_lpm_key: prefixlen, a 32-bit header (zero here),
 * the IPv4-mapped IPv6 address. prefixlen = 32 + 96 + IPv4 prefix length. */
struct floor_key {
	__u32 prefixlen;
	__u32 hdr;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct floor_key);
	__type(value, __u32); /* 1: deny */
} floor_lpm SEC(".maps");

static __always_inline int judge4(__u32 daddr_be)
{
	struct floor_key key = {
		.prefixlen = 32 + 128,
		.addr = { [10] = 0xff, [11] = 0xff },
	};
	__u32 *deny;

	__builtin_memcpy(&key.addr[12], &daddr_be, 4);
	deny = bpf_map_lookup_elem(&floor_lpm, &key);
	return deny && *deny ? FLOOR_DENY : FLOOR_ALLOW;
}

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return judge4(ctx->user_ip4);
}

/* The program sees the skb from the IPv4 header on: saddr at 12, daddr at 16. */
static __always_inline int judge_skb(struct __sk_buff *skb, __u32 off)
{
	__u32 addr;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return FLOOR_ALLOW;
	if (bpf_skb_load_bytes(skb, off, &addr, sizeof(addr)))
		return FLOOR_ALLOW;
	return judge4(addr);
}

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	return judge_skb(skb, 16);
}

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb)
{
	return judge_skb(skb, 12);
}
