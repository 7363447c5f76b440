// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-unit network policy at the socket (connect, sendmsg, bind) and packet
 * (cgroup_skb egress and ingress) level. One copy of each program is loaded; the agent
 * attaches it to the topmost cgroups that have policy, and every descendant
 * inherits it. Which unit governs a socket is decided here, by walking up
 * the cgroup ancestry to the nearest cgroup in ug_units (lib/cgroup.bpf.h).
 * What its rules say is decided in lib/decide.bpf.h, from what
 * lib/parse.bpf.h reads from a packet or the socket hooks below from their
 * context; this file finds the unit, and accounts and records the outcome.
 *
 * Ways around the rules closed (README, "What the rules do not cover";
 * tests/e2e/bypass.sh, tests/test_decide.c): IPv6 extension headers are
 * walked to the transport header, a routing header's addresses are judged
 * as destinations, a chain that cannot be walked is denied (lib/parse.bpf.h,
 * lib/decide.bpf.h); a dual-stack [::] bind meets the IPv4 bind rules (here);
 * an incoming TCP connection request meets the bind rules (decide.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "unitguard.h"
#include "lib/errno.bpf.h"

#define UG_COUNTERS_MAP ug_counters
#include "lib/counters.bpf.h"
#include "lib/maps.bpf.h"
#include "lib/cgroup.bpf.h"
#include "lib/decide.bpf.h"
#include "lib/parse.bpf.h"
#include "lib/lost.bpf.h"
#include "lib/agg.bpf.h"
#include "lib/kept.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Cgroup program return values. */
enum {
	UG_CG_DENY = 0,
	UG_CG_ALLOW = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ug_config);
} ug_config SEC(".maps");

/* Read by nothing: its pinned name says which layout the pinned maps have
 * (unitguard.h, UG_LAYOUT). Renamed whenever any map's layout changes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ug_layout_v7 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UG_UNITS_MAX);
	__type(key, __u64);
	__type(value, struct ug_unit_val);
} ug_units SEC(".maps");

/* Records, and their aggregation: unitguard.h, "Aggregation". */
UG_AGG_MAPS(ug_events, 1 << 20, ug_agg, UG_AGG_MAX, struct ug_agg_key, struct ug_agg_val);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UG_ACCT_SLOTS * 2);
	__type(key, __u32);
	__type(value, struct ug_acct_val);
} ug_acct SEC(".maps");

/* Accounting slots, zeroed, for the cgroups the cgroup_mkdir program gives
 * a policy: each start of a unit counts from zero, as systemd's IPAccounting
 * does. The agent keeps the queue full; when it is empty a new cgroup counts
 * in its policy's own slot. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 64);
	__type(value, __u32);
} ug_acct_free SEC(".maps");

/* The start-up race (see unitguard.h). ug_lsm_units and ug_lsm_config, the
 * LSM object's maps this object shares through their pins: lib/maps.bpf.h. */
/* Not preallocated: an element the agent replaces is freed after an RCU
 * grace period, so cgroup_mkdir never reads one half reused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ug_pending_key);
	__type(value, struct ug_pending_net);
} ug_pending_net SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ug_pending_key);
	__type(value, struct ug_pending_lsm);
} ug_pending_lsm SEC(".maps");

/*
 * Who opened a flow (README, "Ingress"). The ingress rules judge what comes
 * in uninvited: a connection request to a listener, a datagram to a socket
 * that did not choose its peer. A socket the unit pointed at a peer itself
 * (connect(2), judged there by the egress rules) has what comes back from
 * that peer judged by the egress rules too; a connection it accepted is
 * judged both ways by the ingress rules that let it in.
 *
 * ug_sk_out: the peer a connect hook judged and allowed, on that TCP
 * socket. Believed only while the socket is still connected to exactly
 * that peer (the kernel then delivers it nothing from anyone else), never
 * for a listener. Not copied to accepted connections.
 * ug_sk_in: set on a TCP listener by the first packet it receives, and
 * copied by the kernel (BPF_F_CLONE) onto every connection it accepts.
 */
struct ug_sk_peer {
	__u8 addr[16]; /* v4-mapped for IPv4 */
	__u16 port;    /* host byte order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ug_sk_peer);
} ug_sk_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, __u32);
} ug_sk_in SEC(".maps");

/* Nearest policy cgroup at or above the socket's: lib/cgroup.bpf.h. */
static __always_inline struct ug_unit_val *find_unit(const bool at_skb, struct __sk_buff *skb,
						     __u64 *unit_cgid)
{
	return find_unit_in(&ug_config, &ug_units, at_skb, skb, unit_cgid);
}

/* Send one record of n denials of identity k (v: its times and comm). */
static __always_inline bool send(const struct ug_agg_key *k, const struct ug_agg_val *v, __u64 n)
{
	struct ug_event *e = bpf_ringbuf_reserve(&ug_events, sizeof(*e), 0);

	if (!e)
		return false;
	UG_RECORD_HEAD(e, k, v, n);
	__builtin_memcpy(e->comm, v->comm, sizeof(e->comm));
	__builtin_memcpy(e->addr, k->addr, sizeof(e->addr));
	e->port = k->port;
	e->family = k->family;
	e->proto = k->proto;
	e->hook = k->hook;
	e->verdict = k->verdict;
	e->dir = k->dir;
	e->flags = k->flags;
	bpf_ringbuf_submit(e, 0);
	return true;
}

/*
 * Record a denial of identity k (nv: its comm and time): the first of its
 * identity in this window goes to the ring now, the rest are counted in its
 * ug_agg entry for ug_flush to send; each within the unit's share
 * (lib/lost.bpf.h). A unit past its share of ug_agg sends its denials one
 * by one, and past its records for this flush counts them: in the entry it
 * has (sent at the next flush, details kept), or as lost.
 *
 * A global function: the verifier checks it once, on its own, instead of
 * once more on every path of every hook that reaches it (ug_egress is near
 * 6.1's limit, lib/decide.bpf.h). What it is given is copied to the stack
 * first: 6.1 takes no pointer argument of this kind as a map key.
 */
__noinline int record_key(const struct ug_agg_key *key, const struct ug_agg_val *val)
{
	struct ug_agg_key k;
	struct ug_agg_val nv, *v;
	struct ug_share_val *s;
	long err;

	if (!key || !val)
		return 0;
	k = *key;
	nv = *val;
	v = bpf_map_lookup_elem(&ug_agg, &k);
	if (v)
		goto count;
	s = share_of(k.who.unit_cgid);
	if (agg_take(s, UG_SHARE_NET)) {
		err = bpf_map_update_elem(&ug_agg, &k, &nv, BPF_NOEXIST);
		if (!err) {
			if (ring_take(s, UG_SHARE_NET) && send(&k, &nv, 1))
				return 0;
			/* No room now: the new entry holds it for the flush. */
			v = bpf_map_lookup_elem(&ug_agg, &k);
			if (v)
				goto count;
			lost_in(s);
			return 0;
		}
		agg_put(s, UG_SHARE_NET);
		/* -EEXIST: another CPU made it meanwhile; count there. Any
		 * other error (the map is full): this denial goes alone. */
		if (err == -EEXIST && (v = bpf_map_lookup_elem(&ug_agg, &k)))
			goto count;
	}
	if (!ring_take(s, UG_SHARE_NET) || !send(&k, &nv, 1))
		lost_in(s);
	return 0;
count:
	__sync_fetch_and_add(&v->pending, 1);
	v->last_ns = nv.last_ns;
	return 0;
}

/* Record a denial: its identity and times, then record_key(). */
static __always_inline void record(const bool at_skb, struct __sk_buff *skb, const struct ug_op *op,
				   __u8 dir, const __u8 *addr, __u64 unit_cgid,
				   const struct ug_unit_val *u, __u32 rule_id, __u8 verdict)
{
	struct ug_agg_key k = {};
	struct ug_agg_val nv = {};

	k.who.cgid = at_skb ? bpf_skb_cgroup_id(skb) : bpf_get_current_cgroup_id();
	k.who.unit_cgid = unit_cgid;
	/* At packet level the current task may be anyone (softirq, timer
	 * retransmit): record no task rather than a wrong one. */
	if (!at_skb) {
		k.who.pid = bpf_get_current_pid_tgid() >> 32;
		k.who.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(nv.comm, sizeof(nv.comm));
	}
	k.who.rule_id = rule_id;
	k.who.generation = u->generation;
	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	k.port = op->port;
	k.family = op->family;
	k.proto = op->proto;
	k.hook = op->hook;
	k.verdict = verdict;
	k.dir = dir;
	k.flags = op->unparsed ? UG_EV_F_UNPARSED : 0;
	k.window = agg_window();
	nv.since_ns = bpf_ktime_get_boot_ns();
	nv.last_ns = nv.since_ns;
	record_key(&k, &nv);
}

static __always_inline void account_slot(struct __sk_buff *skb, __u16 acct, __u8 dir, int verdict)
{
	__u32 idx = (__u32)acct * 2 + (dir == UG_DIR_INGRESS);
	struct ug_acct_val *a = bpf_map_lookup_elem(&ug_acct, &idx);

	if (!a || verdict < 0 || verdict >= UG_ACCT_MAX)
		return;
	a->packets[verdict] += 1;
	a->bytes[verdict] += skb->len;
}

static __always_inline void account(struct __sk_buff *skb, const struct ug_unit_val *u, __u8 dir,
				    int verdict)
{
	account_slot(skb, u->acct, dir, verdict);
}

/*
 * The verdict for op on unit u (found by the caller), accounted (packets)
 * and recorded (denials). A packet hook that skipped the transport header
 * (UG_UNIT_NO_L4) reads it for a denial's record.
 */
static __always_inline int judge(const bool at_skb, struct __sk_buff *skb,
				 const struct ug_unit_val *u, __u64 unit_cgid, struct ug_op *op,
				 __u32 *allowed_by)
{
	struct ug_lpm_key key = {};
	__u32 rule_id = 0;
	__u8 action, dir, verdict_code = UG_VERDICT_DENY;
	int ret = UG_CG_DENY;

	action = verdict(at_skb, skb, u, op, &key, &dir, &rule_id);
	if (action == UG_ACT_ALLOW) {
		if (at_skb)
			account(skb, u, op->dir, UG_ACCT_ALLOWED);
		*allowed_by = rule_id;
		return UG_CG_ALLOW;
	}
	/* Only the rules of cgroups in audit mode deny; or every rule of this
	 * policy comes from one (what cannot be judged is then audited too). */
	if (action == UG_ACT_AUDIT || u->mode == UG_MODE_AUDIT) {
		verdict_code = UG_VERDICT_AUDIT;
		ret = UG_CG_ALLOW;
	}
	if (at_skb) {
		account(skb, u, op->dir, ret == UG_CG_ALLOW ? UG_ACCT_AUDITED : UG_ACCT_DROPPED);
		if (!op->has_port)
			parse_l4(skb, op, op->dir == UG_DIR_INGRESS);
	}
	record(at_skb, skb, op, dir, key.addr, unit_cgid, u, rule_id, verdict_code);
	return ret;
}

/* A socket hook's operation, judged by the unit of the calling task;
 * *judged: a policy governs it. */
static __always_inline int judge_task(struct ug_op *op, bool *judged)
{
	struct ug_unit_val *u;
	__u64 unit_cgid = 0;
	__u32 rule_id;

	u = find_unit(false, NULL, &unit_cgid);
	if (!u || u->mode == UG_MODE_OFF)
		return UG_CG_ALLOW;
	*judged = true;
	return judge(false, NULL, u, unit_cgid, op, &rule_id);
}

/* The peer sk is connected to: its address (v4-mapped for IPv4) in a, its
 * port (host order) returned; 0 when it has none. */
static __always_inline __u16 sk_peer(struct bpf_sock *sk, __u8 a[16])
{
	__u32 w[4];

	/* Each field read into a register first: the verifier allows no
	 * arithmetic on the socket pointer. */
	if (sk->family == AF_INET) {
		w[0] = sk->dst_ip4;
		barrier_var(w[0]);
		map_v4(a, w[0]);
	} else if (sk->family == AF_INET6) {
		w[0] = sk->dst_ip6[0];
		w[1] = sk->dst_ip6[1];
		w[2] = sk->dst_ip6[2];
		w[3] = sk->dst_ip6[3];
		barrier_var(w[0]);
		barrier_var(w[1]);
		barrier_var(w[2]);
		barrier_var(w[3]);
		__builtin_memcpy(a, w, 16);
	} else {
		return 0;
	}
	return bpf_ntohs(sk->dst_port);
}

static __always_inline bool same_addr(const __u8 *a, const __u8 *b)
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* A packet from the peer sk's own connect chose: judged by the egress
 * rules for that peer, at its port. */
static __always_inline void as_reply(struct ug_op *op, __u16 port)
{
	op->flip = true;
	op->syn = false;
	op->port = port;
	op->has_port = op->proto == IPPROTO_TCP || op->proto == IPPROTO_UDP;
}

/*
 * Whose rules judge a packet of a unit's socket (ug_sk_out, ug_sk_in): a
 * reply from the peer a connect chose is judged by the egress rules, at
 * that peer's port; a packet of a connection the unit accepted (the
 * SYN-ACK included) by the ingress rules, at the unit's own port. Anything
 * else (a connection request, a datagram to an unconnected socket, a TCP
 * socket whose origin was not seen) by its own direction's.
 *
 * A connected UDP socket needs no mark: only connect(2) makes one, and the
 * kernel delivers it nothing but its peer's datagrams (the source is
 * checked here too). Its packets to that peer are judged by the egress
 * rules whoever connected it, so its replies are as well. A TCP connection
 * may have been accepted instead: there the mark ug_sk_out, written by the
 * connect hook, says which.
 */
static __always_inline void origin(struct __sk_buff *skb, struct ug_op *op)
{
	struct bpf_sock *sk = skb->sk;
	struct ug_sk_peer *p;
	__u8 a[16] = {};
	__u16 port;
	__u32 state;

	if (!sk)
		return;
	state = sk->state;
	if (state == BPF_TCP_LISTEN || state == BPF_TCP_NEW_SYN_RECV) {
		if (op->dir == UG_DIR_EGRESS) {
			/* The SYN-ACK of a connection request. */
			op->flip = true;
			op->port = (__u16)sk->src_port;
			op->has_port = true;
		} else if ((sk = bpf_sk_fullsock(sk))) {
			bpf_sk_storage_get(&ug_sk_in, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		}
		return;
	}
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	if (sk->protocol == IPPROTO_UDP) {
		if (op->dir == UG_DIR_INGRESS && state == BPF_TCP_ESTABLISHED &&
		    (port = sk_peer(sk, a)) && same_addr(a, op->addr))
			as_reply(op, port);
		return;
	}
	if (sk->protocol != IPPROTO_TCP)
		return;
	p = bpf_sk_storage_get(&ug_sk_out, sk, 0, 0);
	if (p && (port = sk_peer(sk, a)) && port == p->port && same_addr(a, p->addr)) {
		if (op->dir == UG_DIR_INGRESS)
			as_reply(op, port);
		return;
	}
	if (op->dir == UG_DIR_EGRESS && bpf_sk_storage_get(&ug_sk_in, sk, 0, 0)) {
		op->flip = true;
		op->port = (__u16)sk->src_port;
		op->has_port = true;
	}
}

/* A connect the unit's rules allowed: sk now points at that peer. */
static __always_inline void mark_out(struct bpf_sock *sk, const struct ug_op *op)
{
	struct ug_sk_peer *p;

	if (!sk)
		return;
	p = bpf_sk_storage_get(&ug_sk_out, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!p)
		return;
	__builtin_memcpy(p->addr, op->addr, sizeof(p->addr));
	p->port = op->port;
}

/* The verdict kept on skb's socket for this direction, when it holds
 * (ug_sk_v): accounted and counted as the full judgement would. -1: judge
 * the packet in full. */
static __always_inline int kept(struct __sk_buff *skb, __u8 dir, __u32 gen)
{
	struct bpf_sock *sk = skb->sk;
	struct ug_sk_verdict *v;
	__u32 rule_id;
	__u64 st;

	/* Connected UDP sockets are "established" too; a TCP handshake or
	 * close is not, and stops at this load. */
	if (!sk || sk->state != BPF_TCP_ESTABLISHED || !(sk = bpf_sk_fullsock(sk)))
		return -1;
	v = bpf_sk_storage_get(&ug_sk_v, sk, 0, 0);
	if (!v)
		return -1;
	st = v->state;
	if ((__u32)(st >> 32) != gen || !(st & (1u << (dir & 1))) || !own_flow(skb, sk, dir & 1))
		return -1;
	account_slot(skb, v->acct, dir, UG_ACCT_ALLOWED);
	rule_id = v->rule_id[dir & 1];
	if (rule_id)
		hit(rule_id);
	return UG_CG_ALLOW;
}

/* Keep a packet's plain allow on its socket for the rest of its flow, when
 * it is of that flow and the judgement was of nothing but it: parsed whole,
 * no routing header, no connection request; on an established socket only.
 * A TCP segment without data makes no storage (a connection's handshake and
 * close are judged in full). */
static __always_inline void keep(struct __sk_buff *skb, const struct ug_op *op,
				 const struct ug_unit_val *u, __u32 gen, __u32 rule_id)
{
	struct bpf_sock *sk = skb->sk;
	struct ug_sk_verdict *v;
	__u64 make = 0, st, bits;
	__u8 dir = op->dir & 1, th12;

	if (op->unparsed || op->rh_n || op->syn || !sk || sk->state != BPF_TCP_ESTABLISHED ||
	    !(sk = bpf_sk_fullsock(sk)))
		return;
	if (op->proto == IPPROTO_UDP)
		make = BPF_SK_STORAGE_GET_F_CREATE;
	else if (op->l4_off && !bpf_skb_load_bytes(skb, op->l4_off + 12, &th12, 1) &&
		 skb->len > op->l4_off + (th12 >> 4) * 4)
		make = BPF_SK_STORAGE_GET_F_CREATE;
	/* The cheap tests first: a handshake's segments stop here. */
	v = bpf_sk_storage_get(&ug_sk_v, sk, 0, 0);
	if ((!v && !make) || !own_flow(skb, sk, dir))
		return;
	if (!v)
		v = bpf_sk_storage_get(&ug_sk_v, sk, 0, make);
	if (!v)
		return;
	st = v->state;
	bits = (__u32)(st >> 32) == gen ? st & 3 : 0;
	v->acct = u->acct;
	v->rule_id[dir] = rule_id;
	v->state = ((__u64)gen << 32) | bits | (1u << dir);
}

/*
 * A packet, judged by the unit of its socket: by the verdict kept for its
 * flow (kept()), else in full. The unit is found first: a packet of a
 * cgroup no policy governs (a sibling below a guarded slice) is not parsed
 * at all.
 */
static __always_inline int judge_packet(struct __sk_buff *skb, struct ug_op *op)
{
	const bool src = op->dir == UG_DIR_INGRESS;
	struct ug_config *cfg;
	struct ug_unit_val *u;
	__u64 unit_cgid = 0;
	__u32 zero = 0, gen, rule_id = 0;
	int ret;

	/* Read before the maps it vouches for. */
	cfg = bpf_map_lookup_elem(&ug_config, &zero);
	gen = cfg ? cfg->gen : 0;
	ret = kept(skb, op->dir, gen);
	if (ret >= 0)
		return ret;
	u = find_unit(true, skb, &unit_cgid);
	if (!u || u->mode == UG_MODE_OFF)
		return UG_CG_ALLOW;
	/* Not IP: not ours to judge. */
	if (parse_net(skb, op, src))
		return UG_CG_ALLOW;
	if (!(u->flags & UG_UNIT_NO_L4))
		parse_l4(skb, op, src);
	origin(skb, op);
	rule_id = ~0u;
	ret = judge(true, skb, u, unit_cgid, op, &rule_id);
	if (rule_id != ~0u)
		keep(skb, op, u, gen, rule_id);
	return ret;
}

/*
 * The socket's IPV6_V6ONLY (sk_ipv6only, a bitfield of struct sock_common;
 * bpf_getsockopt() does not offer it). The verifier allows no arithmetic on
 * the socket pointer, so its value is first copied into a plain number.
 * When it cannot be read: false, the stricter answer for a bind.
 */
static __always_inline bool v6only(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *bs = ctx->sk;
	struct sock_common *skc = NULL;

	if (!bs || bpf_probe_read_kernel(&skc, sizeof(skc), &bs) || !skc)
		return false;
	return BPF_CORE_READ_BITFIELD_PROBED(skc, skc_ipv6only);
}

static __always_inline int sock_addr4(struct bpf_sock_addr *ctx, __u8 hook, __u8 dir)
{
	struct ug_op op = {
		.port = bpf_ntohs((__u16)ctx->user_port),
		.family = AF_INET,
		.proto = (__u8)ctx->protocol,
		.hook = hook,
		.dir = dir,
	};

	bool judged = false;
	int r;

	op.has_port = op.proto == IPPROTO_TCP || op.proto == IPPROTO_UDP;
	map_v4(op.addr, ctx->user_ip4);
	if (hook == UG_HOOK_CONNECT4)
		forget(ctx->sk);
	r = judge_task(&op, &judged);
	if (judged && r == UG_CG_ALLOW && hook == UG_HOOK_CONNECT4 && op.proto == IPPROTO_TCP)
		mark_out(ctx->sk, &op);
	return r;
}

static __always_inline int sock_addr6(struct bpf_sock_addr *ctx, __u8 hook, __u8 dir)
{
	struct ug_op op = {
		.port = bpf_ntohs((__u16)ctx->user_port),
		.family = AF_INET6,
		.proto = (__u8)ctx->protocol,
		.hook = hook,
		.dir = dir,
	};
	bool judged = false;
	__u32 w[4];
	int r;

	/* The context only allows 4-byte loads of user_ip6. */
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	__builtin_memcpy(op.addr, w, sizeof(w));
	op.has_port = op.proto == IPPROTO_TCP || op.proto == IPPROTO_UDP;
	if (hook == UG_HOOK_CONNECT6)
		forget(ctx->sk);
	r = judge_task(&op, &judged);
	if (judged && r == UG_CG_ALLOW && hook == UG_HOOK_CONNECT6 && op.proto == IPPROTO_TCP)
		mark_out(ctx->sk, &op);
	if (r != UG_CG_ALLOW || dir != UG_DIR_BIND || (w[0] | w[1] | w[2] | w[3]))
		return r;
	/* [::] without IPV6_V6ONLY takes IPv4 as well: the IPv4 bind rules
	 * judge it as 0.0.0.0 too. */
	if (v6only(ctx))
		return r;
	map_v4(op.addr, 0);
	return judge_task(&op, &judged);
}

SEC("cgroup/connect4")
int ug_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, UG_HOOK_CONNECT4, UG_DIR_EGRESS);
}

SEC("cgroup/connect6")
int ug_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, UG_HOOK_CONNECT6, UG_DIR_EGRESS);
}

SEC("cgroup/sendmsg4")
int ug_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, UG_HOOK_SENDMSG4, UG_DIR_EGRESS);
}

SEC("cgroup/sendmsg6")
int ug_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, UG_HOOK_SENDMSG6, UG_DIR_EGRESS);
}

/* bind: the address and port being bound are what the rules judge. */
SEC("cgroup/bind4")
int ug_bind4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, UG_HOOK_BIND4, UG_DIR_BIND);
}

SEC("cgroup/bind6")
int ug_bind6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, UG_HOOK_BIND6, UG_DIR_BIND);
}

SEC("cgroup_skb/egress")
int ug_egress(struct __sk_buff *skb)
{
	struct ug_op op = {
		.hook = UG_HOOK_EGRESS_SKB,
		.dir = UG_DIR_EGRESS,
	};

	return judge_packet(skb, &op);
}

SEC("cgroup_skb/ingress")
int ug_ingress(struct __sk_buff *skb)
{
	struct ug_op op = {
		.hook = UG_HOOK_INGRESS_SKB,
		.dir = UG_DIR_INGRESS,
	};

	return judge_packet(skb, &op);
}

/*
 * A cgroup is being created. If a unit target of that name has policy, put
 * it in force for the new cgroup id now, inside mkdir(2): systemd moves the
 * unit's first process in only after mkdir returns. The level mask is
 * widened for it here too (the agent narrows it on its next pass).
 */
/* Is a cgroup at level, made in parent kn_p, where a pending entry says?
 * Made in parent_cgid itself, or, via set, in the cgroup named via directly
 * below it (bpf/unitguard.h, "The start-up race"). */
static __always_inline bool made_where(struct kernfs_node *kn_p, __u32 level, __u64 parent_cgid,
				       __u32 want_level, const char *via)
{
	char name[UG_NAME_MAX];
	long len;

	if (!parent_cgid || want_level != level || !kn_p)
		return false;
	if (!via[0])
		return BPF_CORE_READ(kn_p, id) == parent_cgid;
	if (kn_parent_id(kn_p) != parent_cgid)
		return false;
	/* A name that fills the buffer may have been cut: no match. */
	len = bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(kn_p, name));
	if (len <= 0 || len >= UG_NAME_MAX)
		return false;
	for (int i = 0; i < UG_NAME_MAX; i++) {
		if (name[i] != via[i])
			return false;
		if (!name[i])
			return true;
	}
	return false;
}

/* The tracepoints fire for every hierarchy, cgroup v1 ones too, where ids
 * are numbered apart (and anyone may mount a named one in a user namespace
 * of their own): only the cgroup2 hierarchy, id 0, is ours. */
static __always_inline bool on_cgroup2(struct cgroup *cgrp)
{
	return BPF_CORE_READ(cgrp, root, hierarchy_id) == 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(ug_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct ug_pending_key key = {};
	struct ug_pending_net *pn;
	struct ug_pending_lsm *pl;
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	__u32 level = BPF_CORE_READ(cgrp, level), zero = 0;
	struct kernfs_node *parent;
	__u64 id;
	long len;

	if (level >= UG_MAX_LEVELS || !on_cgroup2(cgrp))
		return 0;
	/* A name that fills the key may have been cut: it is no unit's. */
	len = bpf_probe_read_kernel_str(key.name, sizeof(key.name), BPF_CORE_READ(kn, name));
	if (len <= 0 || len >= UG_NAME_MAX)
		return 0;
	id = BPF_CORE_READ(kn, id);
	parent = kn_parent(kn);

	/* Only a cgroup made where the unit's will be made: a name is not
	 * identity, and a child of another unit (or anything in a delegated
	 * subtree) may be called anything. The agent never writes an entry
	 * without a parent; one from an older agent is matched by nothing. */
	pn = bpf_map_lookup_elem(&ug_pending_net, &key);
	if (pn && made_where(parent, level, pn->parent_cgid, pn->level, pn->via)) {
		struct ug_config *cfg = bpf_map_lookup_elem(&ug_config, &zero);
		struct ug_unit_val v = pn->val;
		__u32 slot;

		if (!bpf_map_pop_elem(&ug_acct_free, &slot) && slot < UG_ACCT_SLOTS)
			v.acct = slot;
		if (cfg)
			__sync_fetch_and_or(&cfg->level_mask, 1u << level);
		update_counted(&ug_units, &id, &v, BPF_ANY);
	}
	pl = bpf_map_lookup_elem(&ug_pending_lsm, &key);
	if (pl && made_where(parent, level, pl->parent_cgid, pl->level, pl->via)) {
		struct ug_lsm_config *cfg = bpf_map_lookup_elem(&ug_lsm_config, &zero);

		if (cfg)
			__sync_fetch_and_or(&cfg->level_mask, 1u << level);
		update_counted(&ug_lsm_units, &id, &pl->val, BPF_ANY);
	}
	return 0;
}

/* A cgroup is gone: its entries go with it, even if the agent never saw it
 * (a unit that started and stopped within the agent's polling interval). */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(ug_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	__u64 id = BPF_CORE_READ(cgrp, kn, id);

	if (!on_cgroup2(cgrp))
		return 0;
	bpf_map_delete_elem(&ug_units, &id);
	bpf_map_delete_elem(&ug_lsm_units, &id);
	return 0;
}

/* --- ug_flush: run by the agent (BPF_PROG_TEST_RUN) every 250 ms ---------- */

/*
 * A unit's share: a new flush window for its records in both rings; what it
 * lost sent as one record. Units gone for two flushes, with nothing counted
 * and no entries, are forgotten. A full ring stops the sending, not the walk:
 * every unit's window starts anew.
 */
static long flush_share(struct bpf_map *map, __u64 *cgid, struct ug_share_val *v,
			struct flush_state *st)
{
	__u64 n = 0;
	struct ug_event *e;

	v->ring[0] = 0;
	v->ring[1] = 0;
	if (!st->full)
		n = __atomic_exchange_n(&v->lost, 0, __ATOMIC_SEQ_CST);
	if (!n) {
		if (v->lost || v->agg[0] || v->agg[1] || bpf_map_lookup_elem(&ug_units, cgid) ||
		    bpf_map_lookup_elem(&ug_lsm_units, cgid))
			v->idle = 0;
		else if (++v->idle >= 2)
			bpf_map_delete_elem(map, cgid);
		return 0;
	}
	v->idle = 0;
	e = bpf_ringbuf_reserve(&ug_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&v->lost, n); /* kept for the next flush */
		st->full = 1;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_boot_ns = st->now;
	e->first_ns = st->now;
	e->count = n;
	e->who.unit_cgid = *cgid;
	e->flags = UG_EV_F_LOST;
	bpf_ringbuf_submit(e, 0);
	st->sent++;
	return 0;
}

UG_FLUSH_AGG_SHARED(flush_agg, struct ug_agg_key, struct ug_agg_val, send, UG_SHARE_NET)

/*
 * Run by the agent once a change to what decides a socket's packets is
 * complete (unitguard.h, ug_config.gen): every verdict kept on a socket
 * before it is stale. Atomic, beside the cgroup_mkdir program's updates of
 * the level mask in the same entry.
 */
SEC("syscall")
int ug_gen_bump(void *ctx)
{
	__u32 zero = 0;
	struct ug_config *cfg = bpf_map_lookup_elem(&ug_config, &zero);

	if (!cfg)
		return 1;
	__sync_fetch_and_add(&cfg->gen, 1);
	return 0;
}

SEC("syscall")
int ug_flush(struct ug_flush_ctx *ctx)
{
	struct flush_state st = { .now = bpf_ktime_get_boot_ns(), .window = ctx->window };
	__u32 zero = 0;
	struct ug_agg_cfg *cfg = bpf_map_lookup_elem(&ug_agg_cfg, &zero);

	if (cfg)
		cfg->window = ctx->window;
	bpf_for_each_map_elem(&ug_share, flush_share, &st, 0);
	if (!st.full)
		bpf_for_each_map_elem(&ug_agg, flush_agg, &st, 0);
	ctx->sent = st.sent;
	ctx->full = st.full;
	return 0;
}
