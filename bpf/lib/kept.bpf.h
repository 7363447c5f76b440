/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The verdict kept on a socket for its own flow (README, "The verdict kept
 * on a socket"): its storage, what counts as the socket's own flow, and
 * forgetting it at a connect. net.bpf.c keeps and uses it (keep(), kept()),
 * with ug_config.gen (unitguard.h). The includer includes parse.bpf.h first.
 */
#ifndef UG_KEPT_BPF_H
#define UG_KEPT_BPF_H

/*
 * The verdict kept on a socket for its own flow: the packets between its
 * local end and the one peer it is connected to (a TCP connection, a
 * connected UDP socket), with nothing between the IP and the transport
 * header. Such a packet's verdict is the same for every packet of the flow
 * until the policy changes: the socket's cgroup, so its policy cgroup, is
 * fixed when the socket is made, and origin() says the same for the flow.
 * Kept only for a plain allow (what is denied or audited is recorded each
 * time), per direction, with ug_config.gen: once the agent changes the
 * policy, the next packet is judged in full again.
 *
 * Made on a UDP datagram or a TCP segment that carries data, not on the
 * handshake: a connection that carries none (a probe, a health check) costs
 * no allocation.
 */
struct ug_sk_verdict {
	/* ug_config.gen the verdicts were reached at (high 32 bits), and bit
	 * (1 << dir) set where that direction's packets are allowed: written in
	 * one store, so that a verdict reached before a change and kept after
	 * another CPU kept one of after it cannot pass for the newer. */
	__u64 state;
	__u32 rule_id[2]; /* per direction, the rule that allowed; 0: the default posture */
	__u16 acct;       /* the policy cgroup's slot in ug_acct */
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ug_sk_verdict);
} ug_sk_v SEC(".maps");

/*
 * Is the packet one of sk's own flow (ug_sk_v): between sk and the peer it
 * is connected to, the transport header right after the IP header, not a
 * fragment, and for UDP at the peer's own port (a connected UDP socket may
 * still send elsewhere with sendto(2))? in: the packet arrives.
 *
 * Not inlined: called by kept() and keep() on every packet path, inlined its
 * buffers took the stack of ug_egress past the verifier's 512 bytes.
 */
static __noinline bool own_flow(struct __sk_buff *skb, struct bpf_sock *sk, bool in)
{
	__u32 peer[4], at[4] = { 0, 0, bpf_htonl(0xffff), 0 }, proto = sk->protocol, l4, port;
	__u16 ports[2];
	__u8 b[20];

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	/* Each field into a register first (sk_peer()). */
	if (sk->family == AF_INET) {
		peer[0] = 0;
		peer[1] = 0;
		peer[2] = bpf_htonl(0xffff);
		peer[3] = sk->dst_ip4;
		barrier_var(peer[3]);
	} else if (sk->family == AF_INET6) {
		peer[0] = sk->dst_ip6[0];
		barrier_var(peer[0]);
		peer[1] = sk->dst_ip6[1];
		barrier_var(peer[1]);
		peer[2] = sk->dst_ip6[2];
		barrier_var(peer[2]);
		peer[3] = sk->dst_ip6[3];
		barrier_var(peer[3]);
	} else {
		return false;
	}
	port = sk->dst_port;
	barrier_var(port);
	if (!port)
		return false;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		/* ihl, ..., frag_off at 6, protocol at 9, saddr at 12, daddr at 16 */
		if (bpf_skb_load_bytes(skb, 0, b, 20) || b[9] != proto || (b[6] & 0x3f) || b[7])
			return false;
		__builtin_memcpy(&at[3], &b[in ? 12 : 16], 4);
		l4 = (b[0] & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		/* nexthdr at 6, saddr at 8, daddr at 24 */
		if (bpf_skb_load_bytes(skb, 6, b, 1) || b[0] != proto ||
		    bpf_skb_load_bytes(skb, in ? 8 : 24, at, 16))
			return false;
		l4 = 40;
	} else {
		return false;
	}
	if (at[0] != peer[0] || at[1] != peer[1] || at[2] != peer[2] || at[3] != peer[3])
		return false;
	if (proto == IPPROTO_TCP)
		return true;
	return !bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) &&
	       bpf_ntohs(in ? ports[0] : ports[1]) == bpf_ntohs((__u16)port);
}

/* A connect(2) may point the socket at another peer (a UDP socket can be
 * connected again, to anyone its connect hook allows): the verdicts it kept
 * were for the flow before (ug_sk_v). */
static __always_inline void forget(struct bpf_sock *sk)
{
	struct ug_sk_verdict *v;

	if (sk && (v = bpf_sk_storage_get(&ug_sk_v, sk, 0, 0)))
		v->state = 0;
}

#endif
