/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a network denial is decided: a unit's rules (unitguard.h, ug_lpm,
 * ug_lists) against what a hook knows about the operation (struct ug_op).
 * No cgroups, no events: the network object's programs find the unit and
 * record the outcome around verdict(); the test object (tests/bpf/) runs it
 * on crafted packets and maps with BPF_PROG_TEST_RUN.
 * The includer includes counters.bpf.h first.
 */
#ifndef UG_DECIDE_BPF_H
#define UG_DECIDE_BPF_H

/* UG_LPM_MAX (unitguard.h). Allocated as used. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, UG_LPM_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ug_lpm_key);
	__type(value, struct ug_match);
} ug_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UG_LISTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ug_match_list);
} ug_lists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} ug_rule_hits SEC(".maps");

/* What one hook knows about the operation being judged. */
struct ug_op {
	__u8 addr[16]; /* v4-mapped for IPv4 */
	__u16 port;    /* host byte order */
	__u8 family;
	__u8 proto;
	__u8 hook;
	__u8 dir;
	bool has_port; /* TCP or UDP with a known port */
	bool unparsed; /* IPv6: the header chain could not be walked to its end */
	bool syn;      /* ingress: a TCP connection request (SYN without ACK) */
	bool flip;     /* judged by the other direction's rules: a reply on a connection the
			  unit opened (egress rules), a packet of one it accepted (ingress
			  rules); net.bpf.c, origin() */
	__u8 local[16]; /* ingress: the unit's own address (the destination) */
	__u8 rh_n;     /* egress: addresses of a routing header, judged as destinations too */
	__u16 rh_off;  /* where they start in the packet */
	__u16 l4_off;  /* packets: where the transport header starts; 0: none to read */
};

static __always_inline void map_v4(__u8 addr[16], __u32 ip4_be)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(&addr[12], &ip4_be, 4);
}

/*
 * A failed update here (the map full) loses a statistic, not a verdict, and
 * is not counted: a branch on its result at every decision multiplied the
 * states the 6.1 verifier walks until ug_egress went past its limit of one
 * million instructions (it takes 147 000 without).
 */
static __always_inline void hit(__u32 rule_id)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&ug_rule_hits, &rule_id);

	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&ug_rule_hits, &rule_id, &one, BPF_NOEXIST);
}

static __always_inline bool matches(const struct ug_match *m, const struct ug_op *op)
{
	if (m->proto && m->proto != op->proto)
		return false;
	return !(m->flags & UG_MATCH_PORTS) ||
	       (op->has_port && op->port >= m->port_lo && op->port <= m->port_hi);
}

/*
 * The rules that decide for an LPM entry's value (inline, or a list tried in
 * order): *en the first that matches without UG_MATCH_AUDIT (enforcement),
 * *au the first matching audit rule before it (what would be denied); NULL
 * when there is none.
 */
static __always_inline void match(const struct ug_match *v, const struct ug_op *op,
				  const struct ug_match **en, const struct ug_match **au)
{
	const struct ug_match_list *l;

	if (v->flags & UG_LPM_NONE)
		return;
	if (!(v->flags & UG_LPM_LIST)) {
		if (matches(v, op)) {
			if (v->flags & UG_MATCH_AUDIT)
				*au = v;
			else
				*en = v;
		}
		return;
	}
	l = bpf_map_lookup_elem(&ug_lists, &v->rule_id);
	if (!l) {
		count(UG_CNT_LIST_MISSING);
		return;
	}
	for (int i = 0; i < UG_MATCHES_MAX; i++) {
		if (i >= l->n)
			break;
		if (!matches(&l->m[i], op))
			continue;
		if (!(l->m[i].flags & UG_MATCH_AUDIT)) {
			*en = &l->m[i];
			return;
		}
		if (!*au)
			*au = &l->m[i];
	}
}

/*
 * What the unit's rules say about the address in key (trie, direction and
 * address filled in): UG_ACT_DENY when the enforced rules (or the enforced
 * default posture) deny; else UG_ACT_AUDIT when the rules of cgroups in
 * audit mode would deny (a rule, or their default posture); else
 * UG_ACT_ALLOW. *rule_id: the deciding rule, 0 for a default posture.
 *
 * A global function, not inlined: a packet is judged at up to ten addresses
 * (its own, a routing header's, the bind rules for a SYN), and inlined at
 * each the two readings of a list took ug_egress past the verifier's limit
 * of one million instructions. Verified once, on its own, its pointers may
 * be NULL as far as the verifier knows, and 6.1 takes none of them as a map
 * key (only the stack, a packet or a map value): the key is copied first.
 */
__noinline int decide(const struct ug_unit_val *u, const struct ug_op *op, __u32 dir,
		      struct ug_lpm_key *key, __u32 *rule_id)
{
	const struct ug_match *en = NULL, *au = NULL, *m;
	struct ug_lpm_key k;
	struct ug_match *r;
	__u8 bit;

	if (!u || !op || !key || !rule_id || dir >= UG_DIR_MAX)
		return UG_ACT_DENY;
	bit = 1u << dir;
	__builtin_memcpy(&k, key, sizeof(k));
	r = bpf_map_lookup_elem(&ug_lpm, &k);
	if (r)
		match(r, op, &en, &au);
	*rule_id = 0;
	if (en && en->action == UG_ACT_DENY) {
		*rule_id = en->rule_id;
		hit(en->rule_id);
		return UG_ACT_DENY;
	}
	if (!en && (u->deny_default & bit))
		return UG_ACT_DENY;
	/* Enforcement allows: what every rule would say. */
	m = au ? au : en;
	if (m) {
		*rule_id = m->rule_id;
		hit(m->rule_id);
		return m->action == UG_ACT_DENY ? UG_ACT_AUDIT : UG_ACT_ALLOW;
	}
	return (u->audit_default & bit) ? UG_ACT_AUDIT : UG_ACT_ALLOW;
}

/* Is verdict a stricter than b (deny, then audit, then allow)? */
static __always_inline bool stricter(__u8 a, __u8 b)
{
	return (a == UG_ACT_DENY && b != UG_ACT_DENY) || (a == UG_ACT_AUDIT && b == UG_ACT_ALLOW);
}

/*
 * The verdict of unit u's rules on op: UG_ACT_DENY, UG_ACT_AUDIT or
 * UG_ACT_ALLOW (the strictest of the addresses judged). Also
 * what a record of it needs: *rule_id the deciding rule (0: the default
 * posture, or op unparsed), *dir the direction whose rules decided, and
 * key->addr the address they judged. at_skb (a constant at every call
 * site): op is a packet's, in skb.
 */
static __always_inline __u8 verdict(const bool at_skb, struct __sk_buff *skb,
				    const struct ug_unit_val *u, const struct ug_op *op,
				    struct ug_lpm_key *key, __u8 *dir, __u32 *rule_id)
{
	struct ug_lpm_key syn_key, rh;
	__u8 action, a, at[16];
	__u32 id;

	*dir = op->flip ? (op->dir == UG_DIR_EGRESS ? UG_DIR_INGRESS : UG_DIR_EGRESS) : op->dir;
	*rule_id = 0;
	key->prefixlen = UG_LPM_HDR_BITS + 128;
	key->trie = u->trie;
	key->dir = *dir;
	__builtin_memcpy(key->addr, op->addr, sizeof(key->addr));
	/* What the packet carries is not known: a guarded unit does not get it
	 * past its rules unseen. */
	if (op->unparsed)
		return UG_ACT_DENY;

	action = decide(u, op, *dir, key, rule_id);
	/* Every address a routing header sends the packet to is a destination
	 * the unit chose: judged by the egress rules whoever opened the flow.
	 * The first one that is denied decides (the first audited one, if none
	 * is), and is the address recorded. */
	__builtin_memcpy(at, key->addr, sizeof(at));
	rh = *key;
	rh.dir = UG_DIR_EGRESS;
	for (int i = 0; at_skb && i < UG_RH_ADDRS_MAX && action != UG_ACT_DENY; i++) {
		if (i >= op->rh_n)
			break;
		if (bpf_skb_load_bytes(skb, op->rh_off + i * 16, rh.addr, 16)) {
			*rule_id = 0;
			return UG_ACT_DENY;
		}
		a = decide(u, op, UG_DIR_EGRESS, &rh, &id);
		if (stricter(a, action)) {
			action = a;
			*rule_id = id;
			*dir = UG_DIR_EGRESS;
			__builtin_memcpy(at, rh.addr, sizeof(at));
		}
	}
	key->dir = *dir;
	__builtin_memcpy(key->addr, at, sizeof(at));
	/* A connection request is judged by the bind rules too, at the local
	 * address and port it arrives at: a listener that got its port from
	 * listen(2) alone (autobind) never met the bind hook. */
	if (at_skb && op->syn && !op->flip && action != UG_ACT_DENY) {
		syn_key = *key;
		syn_key.dir = UG_DIR_BIND;
		__builtin_memcpy(syn_key.addr, op->local, sizeof(syn_key.addr));
		a = decide(u, op, UG_DIR_BIND, &syn_key, &id);
		if (stricter(a, action)) {
			action = a;
			*rule_id = id;
			*dir = UG_DIR_BIND;
			*key = syn_key;
		}
	}
	return action;
}

#endif
