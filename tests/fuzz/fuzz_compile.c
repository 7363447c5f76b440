/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rule compilers, ug_compile() and ug_path_compile(), on rule sets decoded from the
 * input. They run on every policy change the agent applies, with rules a raw `sqlite3`
 * session may have written. Checked, beyond not crashing:
 *  - a set with an invalid rule is refused with -EINVAL, a valid one never is (network
 *    rules may also need more than UG_MATCHES_MAX matches: -E2BIG);
 *  - the output is well formed: keys strictly sorted, every list at most UG_MATCHES_MAX
 *    long, padding and unused slots zero, ids from the input;
 *  - it does not depend on the order of the input;
 *  - the kernel's lookup on the output decides every probe packet or path as the
 *    semantics documented in policy.h say, computed here straight from the rules.
 *
 * Input: byte 0 picks network (even) or path rules (odd), bytes 1-2 are the trie id, then
 * one rule per NET_BYTES or PATH_BYTES bytes. Ids, addresses and paths come from small
 * sets, so rules collide, nest and override each other; a rule whose "raw" bit is set has
 * its fields as given instead, mostly invalid.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "policy.h"
#include "../rule_order.h"

#define NET_BYTES 12
#define PATH_BYTES 6
#define RULES_MAX 64
#define DEFAULT (-1) /* no rule decides: the default posture */
#define IDS 48       /* normal ids are 1..IDS */

static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

static bool bit(const uint8_t *a, unsigned int i)
{
	return a[i / 8] & (0x80 >> (i % 8));
}

static void clear_host_bits(uint8_t *a, unsigned int len, unsigned int width)
{
	for (unsigned int i = len; i < width; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static bool prefix_has(const uint8_t *p, unsigned int len, const uint8_t *a)
{
	for (unsigned int i = 0; i < len; i++)
		if (bit(p, i) != bit(a, i))
			return false;
	return true;
}

/* ------------------------------------------------------------------------------------- */
/* Network rules */

/* A rule's prefix in the kernel's address space: IPv4 in the v4-mapped range. A prefix in
 * that range, however spelled, matches IPv4 traffic only; any other, IPv6 only. */
struct norm {
	uint8_t a[16];
	unsigned int len;
	bool v4;
	uint8_t proto;   /* as the kernel compares it: ICMP of IPv6 traffic is ICMPv6 */
	bool overridden; /* by a rule for the same prefix and qualifier */
};

static struct norm normalise(const struct ug_rule *r)
{
	struct norm n = { .len = r->prefix.len };

	if (r->prefix.family == AF_INET) {
		memcpy(n.a, mapped, sizeof(mapped));
		memcpy(n.a + 12, r->prefix.addr, 4);
		n.len += 96;
	} else {
		memcpy(n.a, r->prefix.addr, 16);
	}
	n.v4 = n.len >= 96 && prefix_has(mapped, 96, n.a);
	n.proto = r->proto == IPPROTO_ICMP && !n.v4 ? IPPROTO_ICMPV6 : r->proto;
	return n;
}

static void net_rule(struct fuzz_in *in, struct ug_rule *r, bool *raw)
{
	static const int protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	static const int64_t raw_ids[] = { 0, -1, 1, UINT32_MAX, (int64_t)UINT32_MAX + 1 };
	uint8_t b[NET_BYTES];
	unsigned int lo, hi;

	for (size_t i = 0; i < NET_BYTES; i++)
		b[i] = fuzz_u8(in);
	memset(r, 0, sizeof(*r));
	*raw = b[1] & 0x80;
	if (*raw) {
		r->id = b[0] < 5 * 16 ? raw_ids[b[0] / 16] : b[0];
		r->dir = b[2];
		r->action = b[3];
		r->depth = b[4];
		r->proto = b[5];
		r->has_ports = b[6] & 1;
		r->port_lo = (uint16_t)(b[7] | b[8] << 8);
		r->port_hi = (uint16_t)(b[9] | b[10] << 8);
		r->prefix.family = b[11] & 1 ? AF_INET6 : b[11] & 2 ? AF_INET : b[11];
		r->prefix.len = b[6] >> 1;
		memcpy(r->prefix.addr, b + 7, 4);
		return;
	}
	r->id = 1 + b[0] % IDS;
	r->dir = b[1] % UG_DIR_MAX;
	r->action = (b[1] >> 2) & 1;
	r->depth = (b[1] >> 3) & 3;
	r->proto = (uint8_t)protos[b[2] & 3];
	r->has_ports = (b[2] >> 2) & 1 && r->proto != IPPROTO_ICMP;
	if (r->has_ports) {
		lo = b[2] & 0x08 ? 1 + b[3] * 256u : 1 + b[3];
		hi = b[2] & 0x10 ? 65535 : lo + b[4] % 32;
		r->port_lo = (uint16_t)lo;
		r->port_hi = (uint16_t)(hi > 65535 ? 65535 : hi);
	}
	switch ((b[2] >> 5) & 3) {
	case 0:
	case 1: /* IPv4, mostly inside 10.0.0.0/8 */
		r->prefix.family = AF_INET;
		r->prefix.len = b[9] % 33;
		r->prefix.addr[0] = b[8] & 1 ? b[8] : 10;
		r->prefix.addr[1] = b[5] & 3;
		r->prefix.addr[2] = b[6] & 3;
		r->prefix.addr[3] = b[7] & 7;
		clear_host_bits(r->prefix.addr, r->prefix.len, 32);
		break;
	case 2: /* IPv6, mostly inside 2001:db8::/32; short ones cover the v4-mapped range */
		r->prefix.family = AF_INET6;
		r->prefix.len = b[9] % 129;
		r->prefix.addr[0] = b[8] & 1 ? b[8] & 0xfe : 0x20;
		r->prefix.addr[1] = b[8] & 1 ? b[7] : 0x01;
		r->prefix.addr[2] = 0x0d;
		r->prefix.addr[3] = 0xb8;
		r->prefix.addr[4] = b[5] & 3;
		r->prefix.addr[5] = b[6] & 3;
		r->prefix.addr[15] = b[7] & 7;
		clear_host_bits(r->prefix.addr, r->prefix.len, 128);
		break;
	case 3: /* an IPv4 prefix spelled as v4-mapped IPv6, which the compiler takes as IPv4 */
		r->prefix.family = AF_INET6;
		r->prefix.len = 96 + b[9] % 33;
		memcpy(r->prefix.addr, mapped, sizeof(mapped));
		r->prefix.addr[12] = 10;
		r->prefix.addr[13] = b[5] & 3;
		r->prefix.addr[14] = b[6] & 3;
		r->prefix.addr[15] = b[7] & 7;
		clear_host_bits(r->prefix.addr, r->prefix.len, 128);
		break;
	}
}

/* One match as the kernel tries it (bpf/unitguard.h, struct ug_match). */
static bool match_hits(const struct ug_match *m, uint8_t proto, unsigned int port)
{
	bool has_port = proto == IPPROTO_TCP || proto == IPPROTO_UDP;

	if (m->proto && m->proto != proto)
		return false;
	if ((m->flags & UG_MATCH_PORTS) && (!has_port || port < m->port_lo || port > m->port_hi))
		return false;
	return true;
}

/* What the kernel does with the entries: the longest matching prefix, then the first
 * match in its list. */
static int kernel_decide(const struct ug_lpm_entry *e, size_t n, uint16_t trie, uint8_t dir,
			 const uint8_t *addr, uint8_t proto, unsigned int port, uint32_t *id)
{
	const struct ug_lpm_entry *best = NULL;

	*id = 0;
	for (size_t i = 0; i < n; i++)
		if (e[i].key.trie == trie && e[i].key.dir == dir &&
		    prefix_has(e[i].key.addr, e[i].key.prefixlen - UG_LPM_HDR_BITS, addr) &&
		    (!best || e[i].key.prefixlen > best->key.prefixlen))
			best = &e[i];
	if (!best)
		return DEFAULT;
	for (uint32_t i = 0; i < best->val.n; i++) {
		if (match_hits(&best->val.m[i], proto, port)) {
			*id = best->val.m[i].rule_id;
			return best->val.m[i].action;
		}
	}
	return DEFAULT;
}

static bool same_qualifier(const struct ug_rule *a, const struct norm *na, const struct ug_rule *b,
			   const struct norm *nb)
{
	return na->proto == nb->proto && !!a->has_ports == !!b->has_ports &&
	       (!a->has_ports || (a->port_lo == b->port_lo && a->port_hi == b->port_hi));
}

/* The semantics of policy.h, from the rules: the longest prefix with a rule matching the
 * packet decides, by the first such rule in the order above, overridden rules left out. */
static int semantics_decide(const struct ug_rule *r, const struct norm *nr, size_t n,
			    uint8_t dir, const uint8_t *addr, uint8_t proto, unsigned int port,
			    uint32_t *id)
{
	bool v4 = prefix_has(mapped, 96, addr);
	const struct ug_rule *best = NULL;
	size_t best_i = 0;

	for (size_t i = 0; i < n; i++) {
		struct ug_match m = { .proto = nr[i].proto, .port_lo = r[i].port_lo,
				      .port_hi = r[i].port_hi,
				      .flags = r[i].has_ports ? UG_MATCH_PORTS : 0 };

		if (r[i].dir != dir || nr[i].v4 != v4 || nr[i].overridden ||
		    !prefix_has(nr[i].a, nr[i].len, addr) || !match_hits(&m, proto, port))
			continue;
		if (!best || nr[i].len > nr[best_i].len ||
		    (nr[i].len == nr[best_i].len && ref_tried_first(&r[i], best))) {
			best = &r[i];
			best_i = i;
		}
	}
	*id = best ? (uint32_t)best->id : 0;
	return best ? best->action : DEFAULT;
}

static bool id_given(const struct ug_rule *r, size_t nr, uint32_t id)
{
	for (size_t i = 0; i < nr; i++)
		if (r[i].id == id)
			return true;
	return false;
}

static void check_net_output(const struct ug_lpm_entry *e, size_t n, uint16_t trie,
			     const struct ug_rule *r, size_t nr)
{
	static const struct ug_match zero;

	for (size_t i = 0; i < n; i++) {
		const struct ug_lpm_key *k = &e[i].key;
		const struct ug_match_list *v = &e[i].val;
		unsigned int bits = k->prefixlen - UG_LPM_HDR_BITS;

		fuzz_check(k->trie == trie && k->dir < UG_DIR_MAX && !k->pad, "entry %zu key", i);
		fuzz_check(k->prefixlen >= UG_LPM_HDR_BITS && bits <= 128, "prefixlen %u",
			   k->prefixlen);
		for (unsigned int b = bits; b < 128; b++)
			fuzz_check(!bit(k->addr, b), "entry %zu: host bit %u set", i, b);
		if (i)
			fuzz_check(ug_lpm_key_cmp(&e[i - 1].key, k) < 0, "entry %zu unsorted", i);
		fuzz_check(v->n <= UG_MATCHES_MAX && !v->pad, "entry %zu: n %u", i, v->n);
		/* An empty list only as the guard that keeps IPv6 rules off IPv4 traffic. */
		fuzz_check(v->n || (bits == 96 && prefix_has(mapped, 96, k->addr)),
			   "entry %zu: empty list", i);
		for (uint32_t j = 0; j < UG_MATCHES_MAX; j++) {
			const struct ug_match *m = &v->m[j];

			if (j >= v->n) {
				fuzz_check(!memcmp(m, &zero, sizeof(zero)), "entry %zu: slot %u", i,
					   j);
				continue;
			}
			fuzz_check(id_given(r, nr, m->rule_id), "entry %zu: rule %u", i,
				   m->rule_id);
			fuzz_check(m->action <= UG_ACT_DENY && !m->pad &&
					   !(m->flags & ~UG_MATCH_PORTS),
				   "entry %zu: match %u", i, j);
			fuzz_check(m->flags ? m->port_lo >= 1 && m->port_lo <= m->port_hi :
					      !m->port_lo && !m->port_hi,
				   "entry %zu: ports %u-%u", i, m->port_lo, m->port_hi);
		}
	}
}

/* Probe packets around each rule's prefix: its first and last address, the address just
 * outside it, and one address from the input; ports at and beside its range. */
static void check_decisions(const struct ug_rule *r, size_t nr, const struct ug_lpm_entry *e,
			    size_t n, uint16_t trie, const uint8_t *noise)
{
	struct norm norms[RULES_MAX];

	for (size_t i = 0; i < nr; i++)
		norms[i] = normalise(&r[i]);
	for (size_t i = 0; i < nr; i++)
		for (size_t j = 0; j < nr && !norms[i].overridden; j++)
			norms[i].overridden = j != i && r[j].dir == r[i].dir &&
					      norms[j].len == norms[i].len &&
					      !memcmp(norms[j].a, norms[i].a, 16) &&
					      same_qualifier(&r[j], &norms[j], &r[i], &norms[i]) &&
					      ref_overrides(&r[j], &r[i]);
	for (size_t i = 0; i < nr; i++) {
		const struct norm *nm = &norms[i];
		uint8_t addrs[4][16];

		for (int a = 0; a < 4; a++)
			memcpy(addrs[a], nm->a, 16);
		for (unsigned int b = nm->len; b < 128; b++) {
			addrs[1][b / 8] |= (uint8_t)(0x80 >> (b % 8));
			if (noise[(b / 8) % 2] & (0x80 >> (b % 8)))
				addrs[3][b / 8] |= (uint8_t)(0x80 >> (b % 8));
		}
		if (nm->len)
			addrs[2][(nm->len - 1) / 8] ^= (uint8_t)(0x80 >> ((nm->len - 1) % 8));

		for (int a = 0; a < 4; a++) {
			bool v4 = prefix_has(mapped, 96, addrs[a]);
			const struct {
				uint8_t proto;
				unsigned int port;
			} pk[] = {
				{ IPPROTO_TCP, r[i].port_lo ? r[i].port_lo : 22 },
				{ IPPROTO_UDP, r[i].port_hi ? r[i].port_hi : 53 },
				{ IPPROTO_TCP, r[i].port_hi < 65535 ? r[i].port_hi + 1u : 1 },
				{ v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 0 },
				{ IPPROTO_GRE, 0 },
			};

			for (size_t p = 0; p < ARRAY_SIZE(pk); p++) {
				uint32_t got_id, want_id;
				int got = kernel_decide(e, n, trie, r[i].dir, addrs[a], pk[p].proto,
							pk[p].port, &got_id);
				int want = semantics_decide(r, norms, nr, r[i].dir, addrs[a],
							    pk[p].proto, pk[p].port, &want_id);

				fuzz_check(got == want && got_id == want_id,
					   "rule %zu probe %d, proto %u port %u: kernel %d "
					   "(rule %u), semantics %d (rule %u)", i, a,
					   pk[p].proto, pk[p].port, got, got_id, want, want_id);
			}
		}
	}
}

static void net(struct fuzz_in *in, uint16_t trie)
{
	struct ug_rule r[RULES_MAX], rev[RULES_MAX];
	struct ug_lpm_entry *e = NULL, *e2 = NULL;
	bool any_raw = false;
	size_t nr = 0, n = 0, n2 = 0;
	uint8_t noise[2];
	char err[256];
	int ret;

	noise[0] = fuzz_u8(in);
	noise[1] = fuzz_u8(in);
	while (in->n && nr < RULES_MAX) {
		bool raw;

		net_rule(in, &r[nr++], &raw);
		any_raw |= raw;
	}
	ret = ug_compile(r, nr, trie, &e, &n, err, sizeof(err));
	if (ret) {
		fuzz_check(ret == -E2BIG || (ret == -EINVAL && any_raw), "compile: %d: %s", ret,
			   err);
		fuzz_check(!e && !n && err[0] && !strchr(err, '\n'), "failed compile output");
		return;
	}
	check_net_output(e, n, trie, r, nr);

	for (size_t i = 0; i < nr; i++)
		rev[i] = r[nr - 1 - i];
	fuzz_check(ug_compile(rev, nr, trie, &e2, &n2, NULL, 0) == 0 && n2 == n &&
			   (!n || !memcmp(e, e2, n * sizeof(*e))),
		   "output depends on the order of the rules");
	check_decisions(r, nr, e, n, trie, noise);
	free(e);
	free(e2);
}

/* ------------------------------------------------------------------------------------- */
/* Path rules */

static void path_rule(struct fuzz_in *in, struct ug_path_rule *r, bool *raw)
{
	static const char *const comps[] = { "a", "b", "ab", "a.b", "usr", "bin", "..a", "x-y" };
	static const char *const bad[] = {
		"", "a", "/a/", "//", "/a//b", "/a/./b", "/a/../b", "/a b", "/a\x7f", "/.",
	};
	static const int64_t raw_ids[] = { 0, -1, 1, UINT32_MAX, (int64_t)UINT32_MAX + 1 };
	uint8_t b[PATH_BYTES];
	unsigned int pick, ncomp;
	size_t len = 0;

	for (size_t i = 0; i < PATH_BYTES; i++)
		b[i] = fuzz_u8(in);
	memset(r, 0, sizeof(*r));
	*raw = b[1] & 0x80;
	if (*raw) {
		r->id = b[0] < 5 * 16 ? raw_ids[b[0] / 16] : b[0];
		r->kind = b[1] & 3;
		r->action = (b[1] >> 2) & 3;
		r->access = b[5] & 7;
		r->depth = b[2];
		if (b[3] < ARRAY_SIZE(bad)) {
			snprintf(r->path, sizeof(r->path), "%s", bad[b[3]]);
		} else {
			/* Around the longest path: PATH_BYTES bytes of room in the key. */
			len = UG_PATH_MAX - 4 + b[3] % 5;
			memset(r->path, 'a', len < sizeof(r->path) ? len : sizeof(r->path));
			r->path[0] = '/';
			if (len < sizeof(r->path))
				r->path[len] = '\0';
		}
		return;
	}
	r->id = 1 + b[0] % IDS;
	r->kind = b[1] & 1 ? UG_PATH_FILE : UG_PATH_EXEC;
	r->action = r->kind == UG_PATH_FILE ? UG_ACT_DENY : (b[1] >> 1) & 1;
	r->access = r->kind == UG_PATH_FILE ? 1 + (b[1] >> 2) % 3 : 0;
	r->depth = (b[1] >> 4) & 3;
	r->audit = (b[1] >> 6) & 1;
	ncomp = b[2] % 5;
	pick = (unsigned int)(b[3] | b[4] << 8);
	strcpy(r->path, "/");
	for (unsigned int c = 0; c < ncomp; c++, pick >>= 3) {
		len = strlen(r->path);
		snprintf(r->path + len, sizeof(r->path) - len, "%s%s", c ? "/" : "",
			 comps[pick & 7]);
	}
}

static bool covers(const char *rule, const char *path)
{
	size_t n = strlen(rule);

	return !strcmp(rule, "/") ||
	       (!strncmp(rule, path, n) && (path[n] == '\0' || path[n] == '/'));
}

/* Which of two covering rules of one kind decides: the longer path, then the smaller depth,
 * then (exec) deny, then the lower id. */
static bool path_beats(const struct ug_path_rule *a, const struct ug_path_rule *b)
{
	size_t la = strlen(a->path), lb = strlen(b->path);

	if (la != lb)
		return la > lb;
	if (a->depth != b->depth)
		return a->depth < b->depth;
	if (a->kind == UG_PATH_EXEC && a->action != b->action)
		return a->action == UG_ACT_DENY;
	return a->id < b->id;
}

/* The kernel's lookup: path + "/" against the stored keys, longest wins. */
static const struct ug_path_entry *path_lookup(const struct ug_path_entry *e, size_t n,
					       uint16_t trie, uint8_t kind, const char *path)
{
	const struct ug_path_entry *best = NULL;
	char key[UG_PATH_MAX + 2];
	size_t klen;

	snprintf(key, sizeof(key), "%s/", path);
	klen = strlen(key);
	for (size_t i = 0; i < n; i++) {
		size_t len = (e[i].key.prefixlen - UG_PATH_HDR_BITS) / 8;

		if (e[i].key.trie == trie && e[i].key.kind == kind && len <= klen &&
		    !memcmp(e[i].key.path, key, len) &&
		    (!best || e[i].key.prefixlen > best->key.prefixlen))
			best = &e[i];
	}
	return best;
}

/* One reading of the rules at probe (every rule, or the enforced ones only)
 * against the compiled entries' reading of it. */
static void check_reading(const struct ug_path_rule *r, size_t nr, const struct ug_path_entry *e,
			  size_t n, uint16_t trie, const char *probe, bool all)
{
	const struct ug_path_rule *x = NULL, *rd = NULL, *wr = NULL;
	const struct ug_path_reading *v;
	const struct ug_path_entry *m;
	bool any_exec = false, any_file = false;
	const char *which = all ? "all" : "enforced";
	int access = 0;

	for (size_t i = 0; i < nr; i++) {
		if (!covers(r[i].path, probe))
			continue;
		any_exec |= r[i].kind == UG_PATH_EXEC;
		any_file |= r[i].kind == UG_PATH_FILE;
		if (!all && r[i].audit)
			continue;
		if (r[i].kind == UG_PATH_EXEC) {
			if (!x || path_beats(&r[i], x))
				x = &r[i];
			continue;
		}
		access |= r[i].access;
		if ((r[i].access & UG_ACCESS_READ) && (!rd || path_beats(&r[i], rd)))
			rd = &r[i];
		if ((r[i].access & UG_ACCESS_WRITE) && (!wr || path_beats(&r[i], wr)))
			wr = &r[i];
	}
	m = path_lookup(e, n, trie, UG_PATH_EXEC, probe);
	fuzz_check(!!m == any_exec, "exec %s: entry %d, rule %d", probe, !!m, any_exec);
	v = m ? (all ? &m->val.all : &m->val.enforced) : NULL;
	if (v)
		fuzz_check(v->action == (x ? x->action : 0) && v->rule_id == (x ? x->id : 0),
			   "exec %s (%s): kernel %u (rule %u), semantics %u (rule %lld)", probe,
			   which, v->action, v->rule_id, x ? x->action : 0,
			   x ? (long long)x->id : 0);
	m = path_lookup(e, n, trie, UG_PATH_FILE, probe);
	fuzz_check(!!m == any_file, "file %s: entry %d, rule %d", probe, !!m, any_file);
	v = m ? (all ? &m->val.all : &m->val.enforced) : NULL;
	if (v) {
		fuzz_check(v->deny_access == access, "file %s (%s): access", probe, which);
		fuzz_check(v->read_rule == (rd ? rd->id : 0) && v->write_rule == (wr ? wr->id : 0),
			   "file %s (%s): kernel read %u write %u, semantics %lld %lld", probe,
			   which, v->read_rule, v->write_rule, rd ? (long long)rd->id : 0,
			   wr ? (long long)wr->id : 0);
	}
}

static void check_path_probe(const struct ug_path_rule *r, size_t nr,
			     const struct ug_path_entry *e, size_t n, uint16_t trie,
			     const char *probe)
{
	check_reading(r, nr, e, n, trie, probe, false);
	check_reading(r, nr, e, n, trie, probe, true);
}

static void check_path_output(const struct ug_path_entry *e, size_t n, uint16_t trie)
{
	for (size_t i = 0; i < n; i++) {
		const struct ug_path_key *k = &e[i].key;
		const struct ug_path_val *v = &e[i].val;
		size_t len = (k->prefixlen - UG_PATH_HDR_BITS) / 8;

		fuzz_check(k->trie == trie && k->kind <= UG_PATH_FILE && !k->pad, "entry %zu key",
			   i);
		fuzz_check((k->prefixlen - UG_PATH_HDR_BITS) % 8 == 0 && len >= 1 &&
				   len <= UG_PATH_MAX - 1,
			   "entry %zu: prefixlen %u", i, k->prefixlen);
		fuzz_check(k->path[0] == '/' && k->path[len - 1] == '/', "entry %zu: %.*s", i,
			   (int)len, k->path);
		for (size_t b = len; b < UG_PATH_MAX; b++)
			fuzz_check(!k->path[b], "entry %zu: byte %zu after the key", i, b);
		if (i) {
			const struct ug_path_key *p = &e[i - 1].key;
			int c = p->trie != k->trie ? p->trie - k->trie :
				p->kind != k->kind ? p->kind - k->kind :
				p->prefixlen != k->prefixlen ?
							 (p->prefixlen < k->prefixlen ? -1 : 1) :
							 memcmp(p->path, k->path, UG_PATH_MAX);

			fuzz_check(c < 0, "entries %zu, %zu unsorted", i - 1, i);
		}
		for (int all = 0; all < 2; all++) {
			const struct ug_path_reading *x = all ? &v->all : &v->enforced;

			fuzz_check(!x->pad[0] && !x->pad[1], "entry %zu: padding", i);
			/* Every entry is some rule's: the reading of all has one. */
			if (k->kind == UG_PATH_EXEC)
				fuzz_check((x->rule_id || !all) && x->action <= UG_ACT_DENY &&
						   !x->read_rule && !x->write_rule && !x->deny_access,
					   "exec entry %zu", i);
			else
				fuzz_check(!x->rule_id && !x->action && (x->deny_access || !all) &&
						   x->deny_access <= 3 &&
						   !!x->read_rule == !!(x->deny_access & UG_ACCESS_READ) &&
						   !!x->write_rule == !!(x->deny_access & UG_ACCESS_WRITE),
					   "file entry %zu", i);
		}
	}
}

static void paths(struct fuzz_in *in, uint16_t trie)
{
	struct ug_path_rule r[RULES_MAX], rev[RULES_MAX];
	struct ug_path_entry *e = NULL, *e2 = NULL;
	size_t nr = 0, n = 0, n2 = 0;
	bool any_raw = false;
	char err[256], probe[UG_PATH_MAX + 8];
	int ret;

	while (in->n && nr < RULES_MAX) {
		bool raw;

		path_rule(in, &r[nr++], &raw);
		any_raw |= raw;
	}
	ret = ug_path_compile(r, nr, trie, &e, &n, err, sizeof(err));
	if (ret) {
		fuzz_check(ret == -EINVAL && any_raw, "path compile: %d: %s", ret, err);
		fuzz_check(!e && !n && err[0] && !strchr(err, '\n'), "failed compile output");
		return;
	}
	check_path_output(e, n, trie);
	for (size_t i = 0; i < nr; i++)
		rev[i] = r[nr - 1 - i];
	fuzz_check(ug_path_compile(rev, nr, trie, &e2, &n2, NULL, 0) == 0 && n2 == n &&
			   (!n || !memcmp(e, e2, n * sizeof(*e))),
		   "path output depends on the order of the rules");

	/* Each rule's path, a path below it, one beside it that shares its text but not its
	 * directory, and its parent. */
	check_path_probe(r, nr, e, n, trie, "/");
	for (size_t i = 0; i < nr; i++) {
		const char *p = r[i].path;
		char *slash;

		if (strlen(p) > UG_PATH_MAX - 4)
			continue;
		check_path_probe(r, nr, e, n, trie, p);
		snprintf(probe, sizeof(probe), "%s/a", strcmp(p, "/") ? p : "");
		check_path_probe(r, nr, e, n, trie, probe);
		snprintf(probe, sizeof(probe), "%sb", p);
		check_path_probe(r, nr, e, n, trie, probe);
		snprintf(probe, sizeof(probe), "%s", p);
		slash = strrchr(probe, '/');
		if (slash && slash != probe) {
			*slash = '\0';
			check_path_probe(r, nr, e, n, trie, probe);
		}
	}
	free(e);
	free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	uint16_t trie = fuzz_u16(&in);

	if (mode & 1)
		paths(&in, trie);
	else
		net(&in, trie);
	return 0;
}
