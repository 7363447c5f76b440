// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel's decision code run in the kernel, on crafted input: the packet
 * parser and network verdict (bpf/lib/parse.bpf.h, decide.bpf.h) on crafted
 * IPv4/IPv6 packets and ug_lpm/ug_lists contents, the path rule verdict
 * (bpf/lib/path.bpf.h) on crafted paths and ug_paths contents. The programs
 * are tests/bpf/test_decide.bpf.c, run with BPF_PROG_TEST_RUN: no cgroup,
 * no attachment. Needs root (CAP_BPF): exits 77 without it; a load that fails
 * with it (the verifier refusing a program) is a failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "unitguard.h"
#include "test_decide.h"
#include "test_decide.skel.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define TCP 6
#define UDP 17
#define ICMP 1
#define HOP 0
#define ROUTING 43
#define FRAGMENT 44
#define ESP 50
#define AH 51
#define DEST 60
#define NONE 59
#define SYN 0x02
#define ACK 0x10

static struct ug_test_decide_bpf *skel;

/* --- crafted packets: Ethernet header (for the test run), then IP ------- */

struct pkt {
	uint8_t b[1024];
	size_t n;
};

static void put(struct pkt *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void put8(struct pkt *p, uint8_t v)
{
	put(p, &v, 1);
}

static void put16(struct pkt *p, uint16_t v)
{
	v = htons(v);
	put(p, &v, 2);
}

static void zeros(struct pkt *p, size_t n)
{
	static const uint8_t z[256];

	assert_true(n <= sizeof(z));
	put(p, z, n);
}

static void addr6(uint8_t out[16], const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void eth(struct pkt *p, uint16_t proto)
{
	p->n = 0;
	zeros(p, 12);
	put16(p, proto);
}

/* frag: the IPv4 header's flags and fragment offset field. */
static void ip4(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint16_t frag)
{
	struct in_addr s, d;

	assert_int_equal(inet_pton(AF_INET, src, &s), 1);
	assert_int_equal(inet_pton(AF_INET, dst, &d), 1);
	eth(p, ETH_P_IP);
	put8(p, 0x45);
	put8(p, 0);
	put16(p, 60);
	put16(p, 1);
	put16(p, frag);
	put8(p, 64);
	put8(p, proto);
	put16(p, 0);
	put(p, &s, 4);
	put(p, &d, 4);
}

static void ip6(struct pkt *p, const char *src, const char *dst, uint8_t nexthdr)
{
	uint8_t a[16];

	eth(p, ETH_P_IPV6);
	put8(p, 0x60);
	zeros(p, 3);
	put16(p, 200);
	put8(p, nexthdr);
	put8(p, 64);
	addr6(a, src);
	put(p, a, 16);
	addr6(a, dst);
	put(p, a, 16);
}

/* Hop-by-Hop or Destination Options: (len8 + 1) * 8 bytes. */
static void opts6(struct pkt *p, uint8_t next, uint8_t len8)
{
	put8(p, next);
	put8(p, len8);
	zeros(p, 6 + 8 * (size_t)len8);
}

static void frag6(struct pkt *p, uint8_t next, uint16_t offset, bool more)
{
	put8(p, next);
	put8(p, 0);
	put16(p, (uint16_t)(offset << 3) | more);
	zeros(p, 4);
}

/* Authentication header: (len4 + 2) * 4 bytes. */
static void ah6(struct pkt *p, uint8_t next, uint8_t len4)
{
	put8(p, next);
	put8(p, len4);
	zeros(p, 4 * ((size_t)len4 + 2) - 2);
}

/* A routing header of type with n addresses, left of them still to visit. */
static void rh6(struct pkt *p, uint8_t next, uint8_t type, uint8_t left, const char *const *addrs,
		size_t n)
{
	uint8_t a[16];

	put8(p, next);
	put8(p, 2 * n);
	put8(p, type);
	put8(p, left);
	/* type 4 (segment routing): last entry, flags, tag; else reserved */
	put8(p, type == 4 ? n - 1 : 0);
	zeros(p, 3);
	for (size_t i = 0; i < n; i++) {
		addr6(a, addrs[i]);
		put(p, a, 16);
	}
}

static void tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	put16(p, sport);
	put16(p, dport);
	zeros(p, 9);
	put8(p, flags);
	zeros(p, 6);
}

/* An IPv4 TCP segment from port 40000. */
static void ip4_tcp(struct pkt *p, const char *src, const char *dst, uint16_t frag, uint16_t dport,
		    uint8_t flags)
{
	ip4(p, src, dst, TCP, frag);
	tcp(p, 40000, dport, flags);
}

static void udp(struct pkt *p, uint16_t sport, uint16_t dport)
{
	put16(p, sport);
	put16(p, dport);
	zeros(p, 4);
}

/* --- crafted maps --------------------------------------------------------- */

static struct ug_match rule(uint32_t id, uint8_t proto, uint16_t lo, uint16_t hi, uint8_t action)
{
	return (struct ug_match){ .rule_id = id, .proto = proto, .port_lo = lo, .port_hi = hi,
				  .action = action, .flags = lo || hi ? UG_MATCH_PORTS : 0 };
}

/* cidr: IPv4 (stored v4-mapped) or IPv6, with its prefix length. */
static void lpm(struct ug_test_decide_bpf *s, uint16_t trie, uint8_t dir, const char *cidr,
		struct ug_match m)
{
	struct ug_lpm_key k = { .trie = trie, .dir = dir };
	char buf[64];
	char *slash;
	int bits;

	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	bits = atoi(slash + 1);
	if (strchr(buf, ':')) {
		addr6(k.addr, buf);
	} else {
		k.addr[10] = k.addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, buf, &k.addr[12]), 1);
		bits += 96;
	}
	k.prefixlen = UG_LPM_HDR_BITS + bits;
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(s->maps.ug_lpm), &k, &m, BPF_ANY), 0);
}

static void list(uint32_t id, const struct ug_match *m, uint32_t n)
{
	struct ug_match_list l = { .n = n };

	memcpy(l.m, m, n * sizeof(*m));
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.ug_lists), &id, &l, BPF_ANY), 0);
}

static void unit(uint16_t trie, uint8_t deny_default)
{
	skel->bss->unit = (struct ug_unit_val){ .trie = trie, .deny_default = deny_default };
}

/* Sum over CPUs of a per-CPU value of map at key; 0 when absent. */
static uint64_t percpu_sum(const struct bpf_map *map, const void *key)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v, sum = 0;

	assert_true(ncpu > 0);
	v = calloc(ncpu, sizeof(*v));
	assert_non_null(v);
	if (!bpf_map_lookup_elem(bpf_map__fd(map), key, v))
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
	free(v);
	return sum;
}

static uint64_t counter(const struct ug_test_decide_bpf *s, uint32_t which)
{
	return percpu_sum(s->maps.ug_counters, &which);
}

/* --- running ------------------------------------------------------------- */

static void run(const struct bpf_program *prog, const struct pkt *p)
{
	static const uint8_t none[64];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p ? p->b : none,
		    .data_size_in = p ? p->n : sizeof(none));

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0);
	assert_int_equal(o.retval, 1);
}

/* Was the operation judged, and did rule_id decide action? */
static void expect(uint8_t action, uint32_t rule_id)
{
	const struct test_net_out *o = &skel->bss->net_out;

	assert_int_equal(o->runs, 1);
	assert_int_equal(o->judged, 1);
	assert_int_equal(o->action, action);
	assert_int_equal(o->rule_id, rule_id);
}

static void expect_addr(const char *s)
{
	uint8_t a[16] = { 0 };

	if (strchr(s, ':')) {
		addr6(a, s);
	} else {
		a[10] = a[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, s, &a[12]), 1);
	}
	assert_memory_equal(skel->bss->net_out.addr, a, 16);
}

static void egress(const struct pkt *p)
{
	skel->bss->packet_dir = UG_DIR_EGRESS;
	run(skel->progs.test_packet, p);
}

/* p sent: judged, and rule_id decided action. */
static void out(const struct pkt *p, uint8_t action, uint32_t rule_id)
{
	egress(p);
	expect(action, rule_id);
}

/* p received. */
static void in(const struct pkt *p, uint8_t action, uint32_t rule_id)
{
	skel->bss->packet_dir = UG_DIR_INGRESS;
	run(skel->progs.test_packet, p);
	expect(action, rule_id);
}

/* --- network: IPv4 ------------------------------------------------------- */

static void test_v4_ports(void **state)
{
	uint32_t id = 11;
	uint64_t hits;
	struct pkt p;

	unit(1, 0);
	lpm(skel, 1, UG_DIR_EGRESS, "10.0.0.0/8", rule(11, TCP, 443, 443, UG_ACT_DENY));

	hits = percpu_sum(skel->maps.ug_rule_hits, &id);
	ip4_tcp(&p, "192.0.2.1", "10.1.2.3", 0, 443, SYN);
	out(&p, UG_ACT_DENY, 11);
	expect_addr("10.1.2.3");
	assert_int_equal(skel->bss->net_out.port, 443);
	assert_int_equal(skel->bss->net_out.family, AF_INET);
	assert_int_equal(skel->bss->net_out.dir, UG_DIR_EGRESS);
	assert_int_equal(percpu_sum(skel->maps.ug_rule_hits, &id), hits + 1);

	/* another port, another protocol, another address */
	ip4_tcp(&p, "192.0.2.1", "10.1.2.3", 0, 80, SYN);
	out(&p, UG_ACT_ALLOW, 0);
	ip4(&p, "192.0.2.1", "10.1.2.3", UDP, 0);
	udp(&p, 40000, 443);
	out(&p, UG_ACT_ALLOW, 0);
	ip4_tcp(&p, "192.0.2.1", "11.0.0.1", 0, 443, SYN);
	out(&p, UG_ACT_ALLOW, 0);

	/* the default posture decides where no rule does */
	unit(1, 1 << UG_DIR_EGRESS);
	out(&p, UG_ACT_DENY, 0);
	unit(1, 1 << UG_DIR_INGRESS);
	out(&p, UG_ACT_ALLOW, 0);
}

static void test_v4_fragments(void **state)
{
	struct pkt p;

	unit(1, 0);
	lpm(skel, 1, UG_DIR_EGRESS, "10.0.0.0/8", rule(11, TCP, 443, 443, UG_ACT_DENY));
	/* first fragment (more fragments): its ports are read */
	ip4_tcp(&p, "192.0.2.1", "10.1.2.3", 0x2000, 443, SYN);
	out(&p, UG_ACT_DENY, 11);
	/* a later fragment has no transport header: no port, so no port rule */
	ip4_tcp(&p, "192.0.2.1", "10.1.2.3", 0x2000 | 185, 443, SYN);
	out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.has_port, 0);
	/* a port-less rule still judges it */
	lpm(skel, 1, UG_DIR_EGRESS, "10.9.0.0/16", rule(12, TCP, 0, 0, UG_ACT_DENY));
	ip4(&p, "192.0.2.1", "10.9.2.3", TCP, 185);
	zeros(&p, 20);
	out(&p, UG_ACT_DENY, 12);
}

static void test_not_ip(void **state)
{
	struct pkt p;

	unit(1, 1 << UG_DIR_EGRESS);
	eth(&p, ETH_P_ARP);
	zeros(&p, 28);
	egress(&p);
	assert_int_equal(skel->bss->net_out.runs, 1);
	assert_int_equal(skel->bss->net_out.judged, 0);
}

/* --- network: IPv6 extension headers --------------------------------------- */

/* p with a UDP header to port 53 sent. */
static void udp53_out(struct pkt *p, uint8_t action, uint32_t rule_id)
{
	udp(p, 40000, 53);
	out(p, action, rule_id);
}

static void test_v6_ext(void **state)
{
	struct pkt p;

	unit(2, 0);
	lpm(skel, 2, UG_DIR_EGRESS, "2001:db8::/32", rule(21, UDP, 53, 53, UG_ACT_DENY));

	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", UDP);
	udp53_out(&p, UG_ACT_DENY, 21);
	expect_addr("2001:db8::1");

	/* Hop-by-Hop, Destination Options, AH do not hide the port */
	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", HOP);
	opts6(&p, DEST, 0);
	opts6(&p, AH, 1);
	ah6(&p, UDP, 4);
	udp53_out(&p, UG_ACT_DENY, 21);
	assert_int_equal(skel->bss->net_out.proto, UDP);
	assert_int_equal(skel->bss->net_out.port, 53);

	/* first fragment: ports read; a later one: none */
	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", FRAGMENT);
	frag6(&p, UDP, 0, true);
	udp53_out(&p, UG_ACT_DENY, 21);
	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", FRAGMENT);
	frag6(&p, UDP, 8, false);
	udp53_out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.has_port, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 0);

	/* ESP ends the walk: no ports */
	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", ESP);
	zeros(&p, 16);
	out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.proto, ESP);
}

static void test_v6_chain_limits(void **state)
{
	struct pkt p;
	int i;

	unit(2, 0);
	lpm(skel, 2, UG_DIR_EGRESS, "2001:db8::/32", rule(21, UDP, 53, 53, UG_ACT_DENY));
	/* UG_EXT_MAX headers are walked ... */
	ip6(&p, "2001:db8:ffff::1", "2001:db8::1", DEST);
	for (i = 0; i < UG_EXT_MAX; i++)
		opts6(&p, i == UG_EXT_MAX - 1 ? UDP : DEST, 0);
	udp53_out(&p, UG_ACT_DENY, 21);
	assert_int_equal(skel->bss->net_out.unparsed, 0);

	/* ... one more is unparsed: denied by no rule, also to an address no
	 * rule names */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", DEST);
	for (i = 0; i < UG_EXT_MAX + 1; i++)
		opts6(&p, i == UG_EXT_MAX ? UDP : DEST, 0);
	udp53_out(&p, UG_ACT_DENY, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 1);

	/* a header cut short */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", HOP);
	zeros(&p, 4);
	out(&p, UG_ACT_DENY, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 1);

	/* no next header: nothing to judge but the address */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", NONE);
	out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 0);
}

static void test_v6_routing(void **state)
{
	static const char *const fine[] = { "2001:db8:2::1", "2001:db8:3::1" };
	static const char *const bad[] = { "2001:db8:2::1", "2001:db8:bad::1" };
	struct pkt p;

	unit(3, 0);
	lpm(skel, 3, UG_DIR_EGRESS, "2001:db8:bad::/48", rule(31, 0, 0, 0, UG_ACT_DENY));

	/* type 0: every address still to visit is a destination */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, TCP, 0, 2, fine, 2);
	tcp(&p, 40000, 443, SYN);
	out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.rh_n, 2);
	assert_int_equal(skel->bss->net_out.port, 443);
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, TCP, 0, 2, bad, 2);
	tcp(&p, 40000, 443, SYN);
	out(&p, UG_ACT_DENY, 31);
	expect_addr("2001:db8:bad::1");

	/* segment routing (type 4) and type 2 */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, UDP, 4, 1, bad, 2);
	udp53_out(&p, UG_ACT_DENY, 31);
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, UDP, 2, 1, bad + 1, 1);
	udp53_out(&p, UG_ACT_DENY, 31);

	/* nothing left to visit: only the destination is */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, UDP, 0, 0, bad, 2);
	udp53_out(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.rh_n, 0);

	/* a type not known here; two routing headers: unparsed */
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, UDP, 3, 1, fine, 2);
	udp53_out(&p, UG_ACT_DENY, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 1);
	ip6(&p, "2001:db8:ffff::1", "2001:db8:1::1", ROUTING);
	rh6(&p, ROUTING, 0, 1, fine, 1);
	rh6(&p, UDP, 0, 1, fine + 1, 1);
	udp53_out(&p, UG_ACT_DENY, 0);
	assert_int_equal(skel->bss->net_out.unparsed, 1);

	/* ingress judges the source; a routing header is not its business */
	ip6(&p, "2001:db8:1::1", "2001:db8:ffff::1", ROUTING);
	rh6(&p, UDP, 0, 1, bad, 2);
	udp(&p, 40000, 53);
	in(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.rh_n, 0);
}

/* --- network: ingress and bind rules ---------------------------------------- */

static void test_ingress_syn(void **state)
{
	struct pkt p;

	unit(4, 0);
	lpm(skel, 4, UG_DIR_BIND, "0.0.0.0/0", rule(41, TCP, 22, 22, UG_ACT_DENY));

	/* a connection request meets the bind rules at its local address */
	ip4_tcp(&p, "198.51.100.7", "192.0.2.1", 0, 22, SYN);
	in(&p, UG_ACT_DENY, 41);
	assert_int_equal(skel->bss->net_out.dir, UG_DIR_BIND);
	expect_addr("192.0.2.1");
	assert_int_equal(skel->bss->net_out.syn, 1);

	/* the rest of the connection does not */
	ip4_tcp(&p, "198.51.100.7", "192.0.2.1", 0, 22, SYN | ACK);
	in(&p, UG_ACT_ALLOW, 0);
	ip4_tcp(&p, "198.51.100.7", "192.0.2.1", 0, 80, SYN);
	in(&p, UG_ACT_ALLOW, 0);
	assert_int_equal(skel->bss->net_out.port, 80);

	/* ingress rules judge the source first */
	lpm(skel, 4, UG_DIR_INGRESS, "198.51.100.0/24", rule(42, 0, 0, 0, UG_ACT_DENY));
	ip4_tcp(&p, "198.51.100.7", "192.0.2.1", 0, 22, SYN);
	in(&p, UG_ACT_DENY, 42);
	assert_int_equal(skel->bss->net_out.dir, UG_DIR_INGRESS);
	expect_addr("198.51.100.7");
}

/* --- network: rule lists ------------------------------------------------------ */

static void test_lists(void **state)
{
	const struct ug_match rules[] = {
		rule(51, UDP, 53, 53, UG_ACT_ALLOW),
		rule(52, TCP, 0, 0, UG_ACT_DENY),
		rule(53, 0, 1000, 2000, UG_ACT_DENY),
	};
	struct ug_match full[UG_MATCHES_MAX];
	uint32_t missing = UG_CNT_LIST_MISSING;
	uint64_t before;
	struct pkt p;

	unit(5, 1 << UG_DIR_EGRESS);
	list(500, rules, 3);
	lpm(skel, 5, UG_DIR_EGRESS, "203.0.113.0/24",
	    (struct ug_match){ .rule_id = 500, .flags = UG_LPM_LIST });
	/* no rule decides here, however much the /24 holds */
	lpm(skel, 5, UG_DIR_EGRESS, "203.0.113.128/25", (struct ug_match){ .flags = UG_LPM_NONE });

	ip4(&p, "192.0.2.1", "203.0.113.5", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_ALLOW, 51);
	ip4_tcp(&p, "192.0.2.1", "203.0.113.5", 0, 53, SYN);
	out(&p, UG_ACT_DENY, 52);
	ip4(&p, "192.0.2.1", "203.0.113.5", UDP, 0);
	udp(&p, 40000, 1500);
	out(&p, UG_ACT_DENY, 53);
	ip4(&p, "192.0.2.1", "203.0.113.5", UDP, 0);
	udp(&p, 40000, 5000);
	out(&p, UG_ACT_DENY, 0);
	ip4(&p, "192.0.2.1", "203.0.113.5", ICMP, 0);
	zeros(&p, 8);
	out(&p, UG_ACT_DENY, 0);
	ip4(&p, "192.0.2.1", "203.0.113.200", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_DENY, 0);

	/* the last of UG_MATCHES_MAX rules is reached */
	for (int i = 0; i < UG_MATCHES_MAX; i++)
		full[i] = rule(60 + i, TCP, 1 + i, 1 + i, UG_ACT_ALLOW);
	list(501, full, UG_MATCHES_MAX);
	lpm(skel, 5, UG_DIR_EGRESS, "198.18.0.0/16",
	    (struct ug_match){ .rule_id = 501, .flags = UG_LPM_LIST });
	ip4_tcp(&p, "192.0.2.1", "198.18.0.1", 0, UG_MATCHES_MAX, SYN);
	out(&p, UG_ACT_ALLOW, 60 + UG_MATCHES_MAX - 1);

	/* a list that is not there: the default posture, and counted */
	before = counter(skel, missing);
	lpm(skel, 5, UG_DIR_EGRESS, "198.19.0.0/16",
	    (struct ug_match){ .rule_id = 999, .flags = UG_LPM_LIST });
	ip4(&p, "192.0.2.1", "198.19.0.1", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_DENY, 0);
	assert_int_equal(counter(skel, missing), before + 1);
}

/*
 * Rules of cgroups in audit mode (UG_MATCH_AUDIT) never decide enforcement:
 * the first matching rule without the flag does, or the enforced default;
 * where that allows, a matching audit rule before it (or the audit default)
 * makes it UG_ACT_AUDIT.
 */
static void test_audit_rules(void **state)
{
	struct ug_match aud_allow = rule(71, 0, 0, 0, UG_ACT_ALLOW),
			aud_deny = rule(72, TCP, 0, 0, UG_ACT_DENY);
	const struct ug_match rules[] = {
		aud_allow, /* a unit in audit mode allows the /24 ... */
		rule(70, 0, 0, 0, UG_ACT_DENY), /* ... its slice denies the /16 */
	};
	const struct ug_match rules2[] = {
		aud_deny,
		rule(73, 0, 0, 0, UG_ACT_ALLOW),
	};
	struct pkt p;

	aud_allow.flags |= UG_MATCH_AUDIT;
	aud_deny.flags |= UG_MATCH_AUDIT;
	{
		struct ug_match l1[] = { aud_allow, rules[1] }, l2[] = { aud_deny, rules2[1] };

		list(700, l1, 2);
		list(701, l2, 2);
	}
	unit(7, 0);
	lpm(skel, 7, UG_DIR_EGRESS, "203.0.113.0/24",
	    (struct ug_match){ .rule_id = 700, .flags = UG_LPM_LIST });
	lpm(skel, 7, UG_DIR_EGRESS, "198.51.100.0/24",
	    (struct ug_match){ .rule_id = 701, .flags = UG_LPM_LIST });
	/* the slice's enforced deny stays, whatever the unit in audit mode allows */
	ip4(&p, "192.0.2.1", "203.0.113.5", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_DENY, 70);
	/* an audit rule that denies where the enforced rules allow: audited */
	ip4_tcp(&p, "192.0.2.1", "198.51.100.7", 0, 80, SYN);
	out(&p, UG_ACT_AUDIT, 72);
	ip4(&p, "192.0.2.1", "198.51.100.7", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_ALLOW, 73);
	/* an inline audit rule alone: enforcement falls to the defaults */
	lpm(skel, 7, UG_DIR_EGRESS, "192.0.2.128/25", aud_deny);
	ip4_tcp(&p, "192.0.2.1", "192.0.2.200", 0, 80, SYN);
	out(&p, UG_ACT_AUDIT, 72);
	skel->bss->unit.deny_default = 1 << UG_DIR_EGRESS;
	out(&p, UG_ACT_DENY, 0);
	/* nothing matches: the audit default */
	skel->bss->unit.deny_default = 0;
	skel->bss->unit.audit_default = 1 << UG_DIR_EGRESS;
	ip4(&p, "192.0.2.1", "192.0.2.200", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_AUDIT, 0);
	ip4(&p, "192.0.2.1", "203.0.113.5", UDP, 0);
	udp(&p, 40000, 53);
	out(&p, UG_ACT_DENY, 70);
}

/* --- network: socket hooks ------------------------------------------------------ */

static void sock(const char *addr, uint16_t port, uint8_t proto, uint8_t dir)
{
	struct test_sock_in *in = &skel->bss->sock_in;

	memset(in, 0, sizeof(*in));
	if (strchr(addr, ':')) {
		addr6(in->addr, addr);
		in->family = AF_INET6;
	} else {
		in->addr[10] = in->addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, addr, &in->addr[12]), 1);
		in->family = AF_INET;
	}
	in->port = port;
	in->proto = proto;
	in->dir = dir;
	in->has_port = proto == TCP || proto == UDP;
	run(skel->progs.test_sock, NULL);
}

static void test_sock_ops(void **state)
{
	unit(6, 0);
	lpm(skel, 6, UG_DIR_EGRESS, "10.9.0.0/16", rule(61, TCP, 443, 443, UG_ACT_DENY));
	lpm(skel, 6, UG_DIR_BIND, "0.0.0.0/32", rule(62, TCP, 8000, 8100, UG_ACT_DENY));
	lpm(skel, 6, UG_DIR_EGRESS, "2001:db8::/32", rule(63, 0, 0, 0, UG_ACT_DENY));

	sock("10.9.9.9", 443, TCP, UG_DIR_EGRESS);
	expect(UG_ACT_DENY, 61);
	sock("10.9.9.9", 443, UDP, UG_DIR_EGRESS);
	expect(UG_ACT_ALLOW, 0);
	sock("0.0.0.0", 8080, TCP, UG_DIR_BIND);
	expect(UG_ACT_DENY, 62);
	assert_int_equal(skel->bss->net_out.dir, UG_DIR_BIND);
	/* the same address is not an egress rule's */
	sock("0.0.0.0", 8080, TCP, UG_DIR_EGRESS);
	expect(UG_ACT_ALLOW, 0);
	/* a rule of no protocol and no port, with no port known */
	sock("2001:db8::5", 0, 58, UG_DIR_EGRESS);
	expect(UG_ACT_DENY, 63);
	sock("2001:db9::5", 0, 58, UG_DIR_EGRESS);
	expect(UG_ACT_ALLOW, 0);

	/* another unit's trie does not judge */
	unit(7, 0);
	sock("10.9.9.9", 443, TCP, UG_DIR_EGRESS);
	expect(UG_ACT_ALLOW, 0);
}

/* A rule hit that cannot be counted (ug_rule_hits full) changes no verdict.
 * Its own object: ug_rule_hits of one entry. */
static void test_hits_full(void **state)
{
	struct ug_test_decide_bpf *small, *saved = skel;
	uint32_t id = 72;
	struct pkt p;

	small = ug_test_decide_bpf__open();
	assert_non_null(small);
	assert_int_equal(bpf_map__set_max_entries(small->maps.ug_rule_hits, 1), 0);
	assert_int_equal(ug_test_decide_bpf__load(small), 0);
	skel = small;
	unit(1, 0);
	lpm(small, 1, UG_DIR_EGRESS, "10.1.0.0/16", rule(71, 0, 0, 0, UG_ACT_DENY));
	lpm(small, 1, UG_DIR_EGRESS, "10.2.0.0/16", rule(72, 0, 0, 0, UG_ACT_DENY));

	ip4(&p, "192.0.2.1", "10.1.0.1", ICMP, 0);
	zeros(&p, 8);
	out(&p, UG_ACT_DENY, 71);
	ip4(&p, "192.0.2.1", "10.2.0.1", ICMP, 0);
	zeros(&p, 8);
	out(&p, UG_ACT_DENY, 72);
	assert_int_equal(percpu_sum(small->maps.ug_rule_hits, &id), 0);

	skel = saved;
	ug_test_decide_bpf__destroy(small);
}

/* --- paths ------------------------------------------------------------------------- */

/* An entry whose two readings differ (some of its rules audited). */
static void path_rule2(uint16_t trie, uint8_t kind, const char *stored, struct ug_path_val v)
{
	struct ug_path_key k = { .trie = trie, .kind = kind };

	snprintf((char *)k.path, sizeof(k.path), "%s", stored);
	k.prefixlen = UG_PATH_HDR_BITS + 8 * strlen(stored);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.ug_paths), &k, &v, BPF_ANY),
			 0);
}

/* An entry of enforced rules only: both readings alike. */
static void path_rule(uint16_t trie, uint8_t kind, const char *stored, struct ug_path_reading r)
{
	path_rule2(trie, kind, stored, (struct ug_path_val){ .enforced = r, .all = r });
}

/* path as bpf_d_path resolves it; len: what it returns. */
static void path_len(uint16_t trie, uint8_t kind, uint8_t access, const char *path, long len)
{
	struct test_path_in *in = &skel->bss->path_in;

	memset(in, 0, sizeof(*in));
	snprintf((char *)in->path, sizeof(in->path), "%s", path);
	in->len = len;
	in->trie = trie;
	in->kind = kind;
	in->access = access;
	run(skel->progs.test_path, NULL);
	assert_int_equal(skel->bss->path_out.runs, 1);
}

static void path(uint16_t trie, uint8_t kind, uint8_t access, const char *p)
{
	path_len(trie, kind, access, p, (long)strlen(p) + 1);
}

/* verdict: UG_VERDICT_DENY (true), _AUDIT, or 0 (false): it passes. */
static void expect_path(uint8_t verdict, uint32_t rule_id)
{
	assert_int_equal(skel->bss->path_out.flags, 0);
	assert_int_equal(skel->bss->path_out.verdict, verdict);
	assert_int_equal(skel->bss->path_out.rule_id, verdict ? rule_id : 0);
}

static void test_exec_paths(void **state)
{
	path_rule(9, UG_PATH_EXEC, "/usr/bin/", (struct ug_path_reading){ .rule_id = 91,
								      .action = UG_ACT_DENY });
	path_rule(9, UG_PATH_EXEC, "/usr/bin/ok/", (struct ug_path_reading){ .rule_id = 92,
									 .action = UG_ACT_ALLOW });
	path_rule(10, UG_PATH_EXEC, "/", (struct ug_path_reading){ .rule_id = 93,
							      .action = UG_ACT_DENY });

	path(9, UG_PATH_EXEC, 0, "/usr/bin/ls");
	expect_path(true, 91);
	path(9, UG_PATH_EXEC, 0, "/usr/bin");
	expect_path(true, 91);
	/* directory boundaries: /usr/binx is not under /usr/bin */
	path(9, UG_PATH_EXEC, 0, "/usr/binx");
	expect_path(false, 0);
	path(9, UG_PATH_EXEC, 0, "/usr");
	expect_path(false, 0);
	path(9, UG_PATH_EXEC, 0, "/usr/bin/ok/tool");
	expect_path(false, 0);
	/* "/" covers every path; other tries and kinds are not judged by these */
	path(10, UG_PATH_EXEC, 0, "/bin/sh");
	expect_path(true, 93);
	path(11, UG_PATH_EXEC, 0, "/usr/bin/ls");
	expect_path(false, 0);
	path(9, UG_PATH_FILE, UG_ACCESS_READ, "/usr/bin/ls");
	expect_path(false, 0);
}

static void test_file_paths(void **state)
{
	path_rule(12, UG_PATH_FILE, "/etc/",
		  (struct ug_path_reading){ .deny_access = UG_ACCESS_READ | UG_ACCESS_WRITE,
					.read_rule = 121, .write_rule = 122 });
	path_rule(12, UG_PATH_FILE, "/etc/public/",
		  (struct ug_path_reading){ .deny_access = UG_ACCESS_WRITE, .write_rule = 122 });

	path(12, UG_PATH_FILE, UG_ACCESS_READ, "/etc/shadow");
	expect_path(true, 121);
	path(12, UG_PATH_FILE, UG_ACCESS_WRITE, "/etc/shadow");
	expect_path(true, 122);
	/* both denied: the read rule is named */
	path(12, UG_PATH_FILE, UG_ACCESS_READ | UG_ACCESS_WRITE, "/etc/shadow");
	expect_path(true, 121);
	path(12, UG_PATH_FILE, UG_ACCESS_READ, "/etc/public/motd");
	expect_path(false, 0);
	path(12, UG_PATH_FILE, UG_ACCESS_READ | UG_ACCESS_WRITE, "/etc/public/motd");
	expect_path(true, 122);
	path(12, UG_PATH_FILE, UG_ACCESS_READ, "/etcetera");
	expect_path(false, 0);
}

/* Entries with audited rules (issue 21.2): the enforced reading refuses,
 * the reading of every rule only records. */
static void test_audit_paths(void **state)
{
	(void)state;
	/* exec: the slice enforces a deny of /opt/, the unit audits a deny of
	 * /opt/tools/ and an allow of /opt/ok/ (which relaxes nothing) */
	path_rule(14, UG_PATH_EXEC, "/opt/", (struct ug_path_reading){ .rule_id = 141,
									.action = UG_ACT_DENY });
	path_rule2(14, UG_PATH_EXEC, "/opt/tools/",
		   (struct ug_path_val){
			   .enforced = { .rule_id = 141, .action = UG_ACT_DENY },
			   .all = { .rule_id = 142, .action = UG_ACT_DENY } });
	path_rule2(14, UG_PATH_EXEC, "/opt/ok/",
		   (struct ug_path_val){
			   .enforced = { .rule_id = 141, .action = UG_ACT_DENY },
			   .all = { .rule_id = 143, .action = UG_ACT_ALLOW } });
	path_rule2(14, UG_PATH_EXEC, "/srv/",
		   (struct ug_path_val){ .all = { .rule_id = 144, .action = UG_ACT_DENY } });
	path(14, UG_PATH_EXEC, 0, "/opt/tools/x");
	expect_path(UG_VERDICT_DENY, 141);
	path(14, UG_PATH_EXEC, 0, "/opt/ok/x");
	expect_path(UG_VERDICT_DENY, 141);
	path(14, UG_PATH_EXEC, 0, "/srv/x");
	expect_path(UG_VERDICT_AUDIT, 144);
	path(14, UG_PATH_EXEC, 0, "/usr/bin/x");
	expect_path(0, 0);

	/* file: write of /etc/ enforced, read of /etc/ only audited */
	path_rule2(15, UG_PATH_FILE, "/etc/",
		   (struct ug_path_val){
			   .enforced = { .deny_access = UG_ACCESS_WRITE, .write_rule = 151 },
			   .all = { .deny_access = UG_ACCESS_READ | UG_ACCESS_WRITE,
				    .read_rule = 152, .write_rule = 151 } });
	path(15, UG_PATH_FILE, UG_ACCESS_READ, "/etc/shadow");
	expect_path(UG_VERDICT_AUDIT, 152);
	path(15, UG_PATH_FILE, UG_ACCESS_WRITE, "/etc/shadow");
	expect_path(UG_VERDICT_DENY, 151);
	/* read and write: the enforced denial decides */
	path(15, UG_PATH_FILE, UG_ACCESS_READ | UG_ACCESS_WRITE, "/etc/shadow");
	expect_path(UG_VERDICT_DENY, 151);
}

static void test_unjudgeable_paths(void **state)
{
	char longest[UG_PATH_MAX];

	path_rule(13, UG_PATH_EXEC, "/", (struct ug_path_reading){ .rule_id = 131,
							      .action = UG_ACT_DENY });
	/* bpf_d_path failed: too long, or otherwise */
	path_len(13, UG_PATH_EXEC, 0, "", -ENAMETOOLONG);
	assert_int_equal(skel->bss->path_out.flags, UG_LSM_F_TOO_LONG);
	path_len(13, UG_PATH_EXEC, 0, "", -ENOENT);
	assert_int_equal(skel->bss->path_out.flags, UG_LSM_F_NO_PATH);
	/* empty */
	path_len(13, UG_PATH_EXEC, 0, "", 1);
	assert_int_equal(skel->bss->path_out.flags, UG_LSM_F_NO_PATH);
	/* the longest path that leaves room for the '/', and one byte more */
	memset(longest, 'a', sizeof(longest));
	longest[0] = '/';
	longest[UG_PATH_MAX - 1] = '\0';
	path(13, UG_PATH_EXEC, 0, longest);
	expect_path(true, 131);
	path_len(13, UG_PATH_EXEC, 0, longest, UG_PATH_MAX + 1);
	assert_int_equal(skel->bss->path_out.flags, UG_LSM_F_NO_PATH);
}

/* What open_access() makes of an open's f_mode and f_flags. */
static uint8_t open_access_of(uint32_t f_mode, uint32_t f_flags)
{
	skel->bss->open_io = (struct test_open){ .f_mode = f_mode, .f_flags = f_flags };
	run(skel->progs.test_open, NULL);
	assert_int_equal(skel->bss->open_io.runs, 1);
	return skel->bss->open_io.access;
}

static void test_open_access(void **state)
{
	/* f_mode bits (include/linux/fs.h): READ 0x1, WRITE 0x2, and bits every
	 * regular open has besides (LSEEK 0x4, PREAD 0x8, PWRITE 0x10). */
	const uint32_t rd = 0x1, wr = 0x2, other = 0x4 | 0x8 | 0x10;

	(void)state;
	assert_int_equal(open_access_of(rd | other, O_RDONLY), UG_ACCESS_READ);
	assert_int_equal(open_access_of(wr | other, O_WRONLY), UG_ACCESS_WRITE);
	assert_int_equal(open_access_of(rd | wr | other, O_RDWR), UG_ACCESS_READ | UG_ACCESS_WRITE);
	/* O_RDONLY|O_TRUNC empties the file: a write */
	assert_int_equal(open_access_of(rd | other, O_RDONLY | O_TRUNC),
			 UG_ACCESS_READ | UG_ACCESS_WRITE);
	/* access mode 3 (O_WRONLY|O_RDWR): neither granted, both checked, an
	 * ioctl descriptor: read and write (issue 21, item 3) */
	assert_int_equal(open_access_of(other, O_WRONLY | O_RDWR), UG_ACCESS_READ | UG_ACCESS_WRITE);
	assert_int_equal(open_access_of(0, O_WRONLY | O_RDWR), UG_ACCESS_READ | UG_ACCESS_WRITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_ports),
		cmocka_unit_test(test_v4_fragments),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_v6_ext),
		cmocka_unit_test(test_v6_chain_limits),
		cmocka_unit_test(test_v6_routing),
		cmocka_unit_test(test_ingress_syn),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_audit_rules),
		cmocka_unit_test(test_sock_ops),
		cmocka_unit_test(test_hits_full),
		cmocka_unit_test(test_exec_paths),
		cmocka_unit_test(test_file_paths),
		cmocka_unit_test(test_audit_paths),
		cmocka_unit_test(test_unjudgeable_paths),
		cmocka_unit_test(test_open_access),
	};
	int ret;

	/* Without the privilege to load BPF programs: skipped. With it, a load
	 * that fails is a failure (a program the verifier refuses, say), not a
	 * skip in disguise. */
	if (geteuid() != 0) {
		fprintf(stderr, "test_decide: needs root (CAP_BPF) to load BPF programs; skipped\n");
		return 77;
	}
	skel = ug_test_decide_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_decide: FAIL: cannot load the test BPF object: %s\n",
			strerror(errno));
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ug_test_decide_bpf__destroy(skel);
	return ret;
}
