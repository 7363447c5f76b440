/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a packet says about itself (struct ug_op, lib/decide.bpf.h), read by
 * the network object's packet hooks and by the test object (tests/bpf/),
 * which runs it on crafted packets.
 */
#ifndef UG_PARSE_BPF_H
#define UG_PARSE_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/*
 * Packet level: the peer address (destination on egress, source on ingress)
 * and, for TCP/UDP, the destination port, which is the remote port on egress
 * and the unit's own port on ingress. The program sees the skb from the
 * network header on.
 *
 * IPv6: the extension headers are walked to the transport header, so a
 * Hop-by-Hop, Destination Options, Routing, Fragment or AH header does not
 * hide the protocol and ports. On egress, the addresses of a routing header
 * still to be visited are destinations too (the caller judges them). A
 * chain longer than UG_EXT_MAX headers, one that cannot be read, two routing
 * headers, a routing header of a type not known here or with more than
 * UG_RH_ADDRS_MAX addresses: the packet is marked unparsed, and a guarded
 * unit's packet is then denied (audited in audit mode), never let through
 * unjudged. ESP ends the walk: what follows is encrypted, no ports.
 */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define IPV6_SRCRT_TYPE_0 0
#define IPV6_SRCRT_TYPE_2 2
#define IPV6_SRCRT_TYPE_4 4 /* segment routing */

static __always_inline bool is_ext6(__u8 nexthdr)
{
	return nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING ||
	       nexthdr == NEXTHDR_FRAGMENT || nexthdr == NEXTHDR_AUTH || nexthdr == NEXTHDR_DEST;
}

/* Walks from the end of the fixed IPv6 header; leaves op->proto at the
 * transport protocol and *l4_off at its header. Returns false when the
 * packet has no transport header of its own to look at (a fragment that is
 * not the first, or unparsed). */
static __always_inline bool walk6(struct __sk_buff *skb, struct ug_op *op, __u32 *l4_off)
{
	__u32 off = sizeof(struct ipv6hdr);

	for (int i = 0; i < UG_EXT_MAX; i++) {
		/* Routing: nexthdr, hdrlen, type, segments left, then for
		 * segment routing last entry, flags, tag. Fragment: nexthdr,
		 * reserved, offset and flags. The others: nexthdr, hdrlen. */
		__u8 h[8];

		if (!is_ext6(op->proto)) {
			*l4_off = off;
			return true;
		}
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)))
			goto unparsed;
		if (op->proto == NEXTHDR_FRAGMENT) {
			op->proto = h[0];
			/* Only the first fragment carries the transport header. */
			if (((h[2] << 8) | h[3]) & 0xfff8)
				return false;
			off += 8;
			continue;
		}
		if (op->proto == NEXTHDR_ROUTING && h[3] && op->dir == UG_DIR_EGRESS) {
			__u32 n;

			if (op->rh_n)
				goto unparsed;
			if (h[2] == IPV6_SRCRT_TYPE_0 || h[2] == IPV6_SRCRT_TYPE_2)
				n = h[1] / 2;
			else if (h[2] == IPV6_SRCRT_TYPE_4)
				n = (__u32)h[4] + 1;
			else
				goto unparsed;
			if (!n || n > UG_RH_ADDRS_MAX || n > h[1] / 2)
				goto unparsed;
			op->rh_n = n;
			op->rh_off = off + 8;
		}
		off += op->proto == NEXTHDR_AUTH ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
		op->proto = h[0];
	}
	if (!is_ext6(op->proto)) {
		*l4_off = off;
		return true;
	}
unparsed:
	op->unparsed = true;
	return false;
}

/*
 * The network header (and IPv6 extension headers): addresses, family,
 * protocol; op->l4_off is left at the transport header, 0 when the packet
 * has none of its own to look at. -1: not IP, not ours to judge.
 */
static __always_inline int parse_net(struct __sk_buff *skb, struct ug_op *op, bool src)
{
	__u32 l4_off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return -1;
		map_v4(op->addr, src ? ip.saddr : ip.daddr);
		if (src)
			map_v4(op->local, ip.daddr);
		op->family = AF_INET;
		op->proto = ip.protocol;
		l4_off = ip.ihl * 4;
		/* Only the first fragment carries the ports. */
		if (ip.frag_off & bpf_htons(0x1fff))
			return 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return -1;
		__builtin_memcpy(op->addr, src ? &ip6.saddr : &ip6.daddr, 16);
		if (src)
			__builtin_memcpy(op->local, &ip6.daddr, 16);
		op->family = AF_INET6;
		op->proto = ip6.nexthdr;
		if (!walk6(skb, op, &l4_off))
			return 0;
	} else {
		return -1;
	}
	op->l4_off = l4_off;
	return 0;
}

/* The transport header, where parse_net() found one: the port (the remote
 * one on egress, the unit's own on ingress) and, on ingress, whether a TCP
 * segment is a connection request. */
static __always_inline void parse_l4(struct __sk_buff *skb, struct ug_op *op, bool src)
{
	if (!op->l4_off)
		return;
	if (src && op->proto == IPPROTO_TCP) {
		/* Ports, sequence and acknowledgement numbers, offset, flags. */
		__u8 th[14];

		if (!bpf_skb_load_bytes(skb, op->l4_off, th, sizeof(th))) {
			op->port = (th[2] << 8) | th[3];
			op->has_port = true;
			op->syn = (th[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
		}
	} else if (op->proto == IPPROTO_TCP || op->proto == IPPROTO_UDP) {
		__be16 ports[2];

		if (!bpf_skb_load_bytes(skb, op->l4_off, ports, sizeof(ports))) {
			op->port = bpf_ntohs(ports[1]);
			op->has_port = true;
		}
	}
}

static __always_inline int parse_skb(struct __sk_buff *skb, struct ug_op *op, bool src)
{
	if (parse_net(skb, op, src))
		return -1;
	parse_l4(skb, op, src);
	return 0;
}

#endif
