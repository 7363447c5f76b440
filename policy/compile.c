/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network compiler: the rules governing one policy cgroup in, the LPM
 * entries of one trie out (the contract is written above ug_compile() in
 * policy.h). Rules are deduplicated by (key, qualifier), ordered the way
 * the kernel tries them, grouped by key, and each entry gets its own rules
 * followed by those of every covering prefix.
 *
 * Rules of cgroups in audit mode (UG_MATCH_AUDIT) never decide enforcement:
 * read without them, a list must say what the enforced rules alone say; read
 * with them, what every rule would say if all were enforced (the audit
 * record). Both readings come from one list: the kernel takes the first
 * matching rule without the flag for the first, the first matching rule for
 * the second.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "policy.h"

/* IPv4 addresses live in the v4-mapped range: 80 zero bits, 16 one bits. */
#define V4MAPPED_BITS 96
static const uint8_t v4mapped[16] = { [10] = 0xff, [11] = 0xff };

/* A validated rule as the kernel will check it, with what dedup and ordering need. */
struct item {
	struct ug_lpm_key key;
	struct ug_match m;
	uint8_t depth;
};

/* One LPM entry being built: the items [start, start + count) that share its key. */
struct group {
	struct ug_lpm_key key;
	size_t start, count;
	bool v4; /* in the IPv4-mapped range: inherits only from its own kind */
};

/*
 * Key order: trie, dir, prefixlen, then address bytes. Comparing fields rather than memcmp() on
 * the key keeps the order independent of host byte order.
 */
static int key_cmp(const struct ug_lpm_key *a, const struct ug_lpm_key *b)
{
	CMP(a->trie, b->trie);
	CMP(a->dir, b->dir);
	CMP(a->prefixlen, b->prefixlen);
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

int ug_lpm_key_cmp(const struct ug_lpm_key *a, const struct ug_lpm_key *b)
{
	return key_cmp(a, b);
}

/* Qualifier identity: what makes two rules on one prefix the same rule
 * (whichever mode their cgroup is in). */
static int qual_cmp(const struct ug_match *a, const struct ug_match *b)
{
	CMP(a->flags & ~UG_MATCH_AUDIT, b->flags & ~UG_MATCH_AUDIT);
	CMP(a->port_lo, b->port_lo);
	CMP(a->port_hi, b->port_hi);
	CMP(a->proto, b->proto);
	return 0;
}

/* Same key and qualifier: the survivor sorts first (smallest depth, deny, lowest id). */
static int item_dedup_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int r = key_cmp(&a->key, &b->key);

	if (r)
		return r;
	r = qual_cmp(&a->m, &b->m);
	if (r)
		return r;
	CMP(a->depth, b->depth);
	CMP(a->m.action != UG_ACT_DENY, b->m.action != UG_ACT_DENY);
	CMP(a->m.flags & UG_MATCH_AUDIT, b->m.flags & UG_MATCH_AUDIT);
	CMP(a->m.rule_id, b->m.rule_id);
	return 0;
}

static bool is_audit(const struct item *it)
{
	return it->m.flags & UG_MATCH_AUDIT;
}

/*
 * Of the rules sharing a key and qualifier (sorted by item_dedup_cmp), which stay: the
 * first enforced one (what enforcement reads), and the first of all if it is an audit
 * rule (what the audit reads: it comes before the enforced one in the kernel's order
 * only when it denies, and an allow there could only change a verdict that enforcement
 * already denies). n items from it[0]; returns how many were kept, moved to the front.
 */
static size_t dedup_group(struct item *it, size_t n)
{
	size_t kept = 1;

	if (!is_audit(&it[0]))
		return 1;
	for (size_t k = 1; k < n; k++) {
		if (!is_audit(&it[k])) {
			it[kept++] = it[k];
			break;
		}
	}
	return kept;
}

/* Same key: the order the kernel tries them in, most specific qualifier first. */
static int item_order_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	bool a_ports = a->m.flags & UG_MATCH_PORTS, b_ports = b->m.flags & UG_MATCH_PORTS;
	int r = key_cmp(&a->key, &b->key);

	if (r)
		return r;
	CMP(!a_ports, !b_ports);
	if (a_ports)
		CMP(a->m.port_hi - a->m.port_lo, b->m.port_hi - b->m.port_lo);
	CMP(a->m.proto == 0, b->m.proto == 0);
	CMP(a->m.action != UG_ACT_DENY, b->m.action != UG_ACT_DENY);
	CMP(a->depth, b->depth);
	CMP(a->m.rule_id, b->m.rule_id);
	/* Reached only by two rules sharing a store id; keeps the output independent of
	 * input order all the same. */
	r = qual_cmp(&a->m, &b->m);
	if (r)
		return r;
	CMP(a->m.flags & UG_MATCH_AUDIT, b->m.flags & UG_MATCH_AUDIT);
	return 0;
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	return key_cmp(&a->key, &b->key);
}

/* Names what is wrong with a rule, or NULL. */
static const char *rule_problem(const struct ug_rule *r)
{
	unsigned int width = family_bits(r->prefix.family);

	if (r->id <= 0 || r->id > UINT32_MAX)
		return "id out of range (1-4294967295)";
	if (r->dir >= UG_DIR_MAX)
		return "unknown direction";
	if (r->action != UG_ACT_ALLOW && r->action != UG_ACT_DENY)
		return "unknown action";
	if (r->proto != 0 && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP &&
	    r->proto != IPPROTO_ICMP)
		return "protocol must be any, tcp, udp or icmp";
	if (r->has_ports) {
		if (r->proto != 0 && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
			return "ports need protocol tcp, udp or any";
		if (r->port_lo < 1)
			return "port out of range (1-65535)";
		if (r->port_lo > r->port_hi)
			return "port range reversed";
	}
	if (!width)
		return "unknown address family";
	if (r->prefix.len > width)
		return "prefix length out of range";
	if (!host_bits_zero(r->prefix.addr, r->prefix.len, width))
		return "host bits set beyond the prefix length";
	return NULL;
}

static void set_key(struct ug_lpm_key *k, uint16_t trie, uint8_t dir, const struct ug_prefix *p)
{
	memset(k, 0, sizeof(*k));
	k->trie = trie;
	k->dir = dir;
	if (p->family == AF_INET) {
		memcpy(k->addr, v4mapped, sizeof(k->addr));
		memcpy(k->addr + 12, p->addr, 4);
		k->prefixlen = UG_LPM_HDR_BITS + V4MAPPED_BITS + p->len;
	} else {
		memcpy(k->addr, p->addr, sizeof(k->addr));
		k->prefixlen = UG_LPM_HDR_BITS + p->len;
	}
}

static unsigned int key_bits(const struct ug_lpm_key *k)
{
	return k->prefixlen - UG_LPM_HDR_BITS;
}

/* Does the key lie in ::ffff:0:0/96, where IPv4 rules live? */
static bool key_v4(const struct ug_lpm_key *k)
{
	return key_bits(k) >= V4MAPPED_BITS && bits_equal(k->addr, v4mapped, V4MAPPED_BITS);
}

static void item_init(struct item *it, const struct ug_rule *r, uint16_t trie)
{
	memset(it, 0, sizeof(*it));
	set_key(&it->key, trie, r->dir, &r->prefix);
	it->m.rule_id = (uint32_t)r->id;
	it->m.action = r->action;
	it->m.proto = r->proto;
	if (r->audit)
		it->m.flags |= UG_MATCH_AUDIT;
	/* The kernel compares the packet's protocol; an IPv6 packet's ICMP is ICMPv6. A key in
	 * the v4-mapped range is IPv4 traffic however the prefix was spelled (an IPv6 spelling
	 * lands on the IPv4 rule's key), so its ICMP is ICMP. */
	if (r->proto == IPPROTO_ICMP && !key_v4(&it->key))
		it->m.proto = IPPROTO_ICMPV6;
	/* Ports of a rule without has_ports mean nothing; zero them so dedup and output agree. */
	if (r->has_ports) {
		it->m.flags |= UG_MATCH_PORTS;
		it->m.port_lo = r->port_lo;
		it->m.port_hi = r->port_hi;
	}
	it->depth = r->depth;
}

/* The prefix an entry stands for, as the operator wrote it: IPv4 in the mapped range. */
static void key_prefix(const struct ug_lpm_key *k, struct ug_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (key_v4(k)) {
		p->family = AF_INET;
		p->len = (uint8_t)(key_bits(k) - V4MAPPED_BITS);
		memcpy(p->addr, k->addr + 12, 4);
	} else {
		p->family = AF_INET6;
		p->len = (uint8_t)key_bits(k);
		memcpy(p->addr, k->addr, sizeof(k->addr));
	}
}

/*
 * Does direction `dir` need the v4-mapped guard? Only an IPv6 rule can produce an entry
 * shorter than the mapped /96, and only an IPv4 0.0.0.0/0 rule an entry at it, so the keys
 * alone tell.
 */
static bool needs_guard(const struct group *g, size_t n, uint8_t dir)
{
	bool covered = false;

	for (size_t i = 0; i < n; i++) {
		unsigned int bits = key_bits(&g[i].key);

		if (g[i].key.dir != dir || bits > V4MAPPED_BITS ||
		    !bits_equal(g[i].key.addr, v4mapped, bits))
			continue;
		if (bits == V4MAPPED_BITS)
			return false;
		covered = true;
	}
	return covered;
}

/* Does h cover g, so that g's entry carries h's rules after its own? */
static bool group_covers(const struct group *h, const struct group *g)
{
	return h->key.dir == g->key.dir && h->v4 == g->v4 && h->key.prefixlen < g->key.prefixlen &&
	       bits_equal(h->key.addr, g->key.addr, key_bits(&h->key));
}

/* An enforced rule that matches everything: nothing after it can decide, by either
 * reading (an audit rule matching everything does not end the enforced reading). */
static bool match_all(const struct ug_match *m)
{
	return !m->proto && !(m->flags & (UG_MATCH_PORTS | UG_MATCH_AUDIT));
}

/*
 * Fill entry e for group gi: its own rules, then those of the groups covering it, longest
 * first. g is sorted by key, so walking back from gi meets the covering prefixes longest first.
 */
static int build_entry(const struct item *it, const struct group *g, size_t gi,
		       struct ug_lpm_entry *e, char *err, size_t errlen)
{
	size_t n = 0;
	bool done = false;

	e->key = g[gi].key;
	for (size_t j = gi + 1; j-- > 0 && !done;) {
		if (g[j].key.dir != g[gi].key.dir)
			break;
		if (j != gi && !group_covers(&g[j], &g[gi]))
			continue;
		for (size_t k = g[j].start; k < g[j].start + g[j].count; k++) {
			if (n < UG_MATCHES_MAX)
				e->val.m[n] = it[k].m;
			n++;
			/* Nothing after a rule that matches everything can ever decide. */
			if (match_all(&it[k].m)) {
				done = true;
				break;
			}
		}
	}
	if (n > UG_MATCHES_MAX) {
		struct ug_prefix p;
		char buf[UG_PREFIX_STRLEN];

		key_prefix(&e->key, &p);
		if (ug_prefix_format(&p, buf, sizeof(buf)) < 0)
			snprintf(buf, sizeof(buf), "?");
		set_err(err, errlen, "%s (%s): %zu rules overlap, at most %d", buf,
			ug_dir_name(e->key.dir), n, UG_MATCHES_MAX);
		return -E2BIG;
	}
	e->val.n = (uint32_t)n;
	return 0;
}

int ug_compile(const struct ug_rule *rules, size_t n_rules, uint16_t trie,
	       struct ug_lpm_entry **out, size_t *n_out, char *err, size_t errlen)
{
	static const struct ug_prefix mapped = { .family = AF_INET6, .len = V4MAPPED_BITS,
						 .addr = { [10] = 0xff, [11] = 0xff } };
	struct ug_lpm_entry *res = NULL;
	struct group *g = NULL;
	struct item *it = NULL;
	size_t n_it = 0, n_g = 0;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!out || !n_out || (n_rules && !rules)) {
		set_err(err, errlen, "no rules or no output given");
		return -EINVAL;
	}
	*out = NULL;
	*n_out = 0;
	if (!n_rules)
		return 0;
	for (size_t i = 0; i < n_rules; i++) {
		const char *problem = rule_problem(&rules[i]);

		if (problem) {
			set_err(err, errlen, "rule %lld: %s", (long long)rules[i].id, problem);
			return -EINVAL;
		}
	}

	/* At most one guard entry per direction. */
	if (n_rules > SIZE_MAX / sizeof(*g) - UG_DIR_MAX) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	it = calloc(n_rules, sizeof(*it));
	g = calloc(n_rules + UG_DIR_MAX, sizeof(*g));
	if (!it || !g) {
		r = -ENOMEM;
		goto out;
	}

	for (size_t i = 0; i < n_rules; i++)
		item_init(&it[i], &rules[i], trie);
	/* Sorted so each (key, qualifier) survivor comes first: keep it (and the enforced
	 * one behind an audit survivor), drop the rest. */
	qsort(it, n_rules, sizeof(*it), item_dedup_cmp);
	for (size_t i = 0, j; i < n_rules; i = j) {
		for (j = i + 1; j < n_rules && !key_cmp(&it[i].key, &it[j].key) &&
				!qual_cmp(&it[i].m, &it[j].m);
		     j++)
			;
		/* it[n_it..] never overtakes it[i..]: moving the group down first is safe. */
		memmove(&it[n_it], &it[i], (j - i) * sizeof(*it));
		n_it += dedup_group(&it[n_it], j - i);
	}
	qsort(it, n_it, sizeof(*it), item_order_cmp);

	for (size_t i = 0; i < n_it; i++) {
		if (!n_g || key_cmp(&g[n_g - 1].key, &it[i].key)) {
			g[n_g].key = it[i].key;
			g[n_g].start = i;
			n_g++;
		}
		g[n_g - 1].count++;
	}
	/* A guard added for one direction cannot change the answer for another. */
	for (uint8_t dir = 0; dir < UG_DIR_MAX; dir++) {
		if (!needs_guard(g, n_g, dir))
			continue;
		set_key(&g[n_g].key, trie, dir, &mapped);
		g[n_g].start = 0;
		g[n_g].count = 0;
		n_g++;
	}
	qsort(g, n_g, sizeof(*g), group_cmp);
	for (size_t i = 0; i < n_g; i++)
		g[i].v4 = key_v4(&g[i].key);

	/* calloc(): unused m[] slots and all padding stay zero, so entries compare with memcmp(). */
	res = calloc(n_g, sizeof(*res));
	if (!res) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_g; i++) {
		r = build_entry(it, g, i, &res[i], err, errlen);
		if (r < 0)
			goto out;
	}
	*out = res;
	*n_out = n_g;
	res = NULL;
out:
	if (r == -ENOMEM)
		set_err(err, errlen, "out of memory");
	free(res);
	free(g);
	free(it);
	return r;
}
