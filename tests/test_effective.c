// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/effective.c: the merged rules of a policy cgroup, and the user-space judge of
 * compiled entries that `unitguardctl explain` uses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "effective.h"
#include "unitguard.h"

static struct ug_rule rule(int64_t id, const char *dir, const char *action, const char *prefix,
			   const char *proto, uint32_t lo, uint32_t hi)
{
	struct ug_rule r;

	assert_int_equal(ug_rule_parse(id, dir, action, prefix, proto, lo, hi, &r, NULL), 0);
	return r;
}

static struct ug_net_op op(const char *addr, int dir, int proto, int port)
{
	struct ug_net_op o = { .dir = (uint8_t)dir, .proto = (uint8_t)proto };
	uint8_t v4[4];

	if (inet_pton(AF_INET, addr, v4) == 1) {
		o.addr[10] = o.addr[11] = 0xff;
		memcpy(o.addr + 12, v4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, o.addr), 1);
	}
	o.has_port = port > 0;
	o.port = port > 0 ? (uint16_t)port : 0;
	return o;
}

/* Compile rules, judge o, return the deciding rule id (0: default) and the action. */
static uint32_t judge(const struct ug_rule *r, size_t n, uint8_t deny_default,
		      struct ug_net_op o, uint8_t *action)
{
	struct ug_lpm_entry *e = NULL;
	struct ug_net_verdict v;
	size_t ne = 0;

	assert_int_equal(ug_compile(r, n, 7, &e, &ne, NULL, 0), 0);
	ug_net_judge(e, ne, deny_default, 0, &o, &v);
	free(e);
	*action = v.action;
	return v.rule_id;
}

/* The examples of policy/policy.h's contract. */
static void longest_prefix_with_a_matching_rule(void **state)
{
	struct ug_rule r[] = {
		rule(1, "egress", "deny", "10.0.0.0/8", NULL, 22, 22),
		rule(2, "egress", "allow", "10.1.0.0/16", NULL, 0, 0),
		rule(3, "egress", "deny", "10.1.2.3/32", "udp", 0, 0),
	};
	uint8_t a;

	assert_int_equal(judge(r, 3, 0, op("10.1.2.3", UG_DIR_EGRESS, IPPROTO_TCP, 22), &a), 2);
	assert_int_equal(a, UG_ACT_ALLOW);
	assert_int_equal(judge(r, 3, 0, op("10.2.0.1", UG_DIR_EGRESS, IPPROTO_TCP, 22), &a), 1);
	assert_int_equal(a, UG_ACT_DENY);
	/* port 80 under the /8: no rule matches; the default decides, both ways */
	assert_int_equal(judge(r, 3, 0, op("10.2.0.1", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
	assert_int_equal(judge(r, 3, 1u << UG_DIR_EGRESS,
			       op("10.2.0.1", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 0);
	assert_int_equal(a, UG_ACT_DENY);
	/* the /32 is udp only: tcp falls through to the /16 */
	assert_int_equal(judge(r, 3, 0, op("10.1.2.3", UG_DIR_EGRESS, IPPROTO_UDP, 53), &a), 3);
	assert_int_equal(judge(r, 3, 0, op("10.1.2.3", UG_DIR_EGRESS, IPPROTO_TCP, 53), &a), 2);
	/* another direction's default, and no port: port rules do not match */
	assert_int_equal(judge(r, 3, 1u << UG_DIR_EGRESS,
			       op("10.2.0.1", UG_DIR_INGRESS, IPPROTO_TCP, 22), &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
	assert_int_equal(judge(r, 3, 0, op("10.2.0.1", UG_DIR_EGRESS, IPPROTO_TCP, 0), &a), 0);
}

/* IPv6 rules never decide IPv4 traffic; ICMP of an IPv6 rule is ICMPv6. */
static void families_and_icmp(void **state)
{
	struct ug_rule r[] = {
		rule(1, "egress", "deny", "::/0", NULL, 0, 0),
		rule(2, "egress", "deny", "2001:db8::/32", "icmp", 0, 0),
		rule(3, "egress", "allow", "2001:db8::/32", NULL, 0, 0),
	};
	uint8_t a;

	assert_int_equal(judge(r, 3, 0, op("192.0.2.1", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
	assert_int_equal(judge(r, 3, 0, op("2001:db8::1", UG_DIR_EGRESS, IPPROTO_ICMPV6, 0), &a),
			 2);
	assert_int_equal(judge(r, 3, 0, op("2001:db8::1", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 3);
	assert_int_equal(judge(r, 3, 0, op("2001:db9::1", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 1);
}

/* A unit refines its slice: on the same prefix and qualifier the nearer rule wins. */
static void nearer_rule_wins_a_tie(void **state)
{
	struct ug_rule r[] = {
		rule(1, "egress", "deny", "127.0.0.0/24", NULL, 0, 0),
		rule(2, "egress", "allow", "127.0.0.0/24", NULL, 0, 0),
	};
	uint8_t a;

	r[0].depth = 1;
	assert_int_equal(judge(r, 2, 0, op("127.0.0.5", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 2);
	assert_int_equal(a, UG_ACT_ALLOW);
	r[0].depth = 0;
	r[1].depth = 1;
	assert_int_equal(judge(r, 2, 0, op("127.0.0.5", UG_DIR_EGRESS, IPPROTO_TCP, 80), &a), 1);
}

/*
 * Property: for random IPv4 policies and operations, compile + judge gives what the
 * contract in policy/policy.h says, computed naively: of the rules of the direction
 * whose prefix covers the address, longest prefix first and on one prefix in the
 * documented order (narrower ports, then a protocol, then deny, depth, id; the same
 * qualifier: the smaller depth), the first that matches decides; else the default
 * posture.
 */
static bool naive_before(const struct ug_rule *a, const struct ug_rule *b)
{
	if (a->prefix.len != b->prefix.len)
		return a->prefix.len > b->prefix.len;
	if (a->has_ports != b->has_ports)
		return a->has_ports;
	if (a->has_ports && a->port_hi - a->port_lo != b->port_hi - b->port_lo)
		return a->port_hi - a->port_lo < b->port_hi - b->port_lo;
	if ((a->proto == 0) != (b->proto == 0))
		return a->proto != 0;
	/* the same qualifier: the nearer rule replaces the other whatever its action */
	if (a->has_ports == b->has_ports && a->port_lo == b->port_lo && a->port_hi == b->port_hi &&
	    a->proto == b->proto && a->depth != b->depth)
		return a->depth < b->depth;
	if (a->action != b->action)
		return a->action == UG_ACT_DENY;
	if (a->depth != b->depth)
		return a->depth < b->depth;
	return a->id < b->id;
}

static uint32_t naive(const struct ug_rule *r, size_t n, const struct ug_net_op *o)
{
	const struct ug_rule *best = NULL;
	struct ug_prefix host = { .family = AF_INET, .len = 32 };

	memcpy(host.addr, o->addr + 12, 4);
	for (size_t k = 0; k < n; k++) {
		const struct ug_rule *x = &r[k];

		if (x->dir != o->dir || !ug_prefix_contains(&x->prefix, &host))
			continue;
		if (x->proto && x->proto != o->proto)
			continue;
		if (x->has_ports && (!o->has_port || o->port < x->port_lo || o->port > x->port_hi))
			continue;
		if (!best || naive_before(x, best))
			best = x;
	}
	return best ? (uint32_t)best->id : 0;
}

static void random_policies_follow_the_contract(void **state)
{
	static const char *const protos[] = { NULL, "tcp", "udp" };
	static const int lens[] = { 0, 8, 16, 24, 28, 32 };
	unsigned seed = 20261130;

	for (int round = 0; round < 300; round++) {
		struct ug_rule r[12];
		size_t n = 1 + (size_t)(rand_r(&seed) % 12);
		uint8_t deny_default = (uint8_t)(rand_r(&seed) % 4);

		for (size_t k = 0; k < n; k++) {
			int len = lens[rand_r(&seed) % 6];
			uint32_t addr = htonl(0x0a000000u | (rand_r(&seed) % 4) << 16 |
					      (rand_r(&seed) % 4) << 8 | (rand_r(&seed) % 4));
			const char *proto = protos[rand_r(&seed) % 3];
			uint32_t lo = rand_r(&seed) % 3 ? 0 : 20 + rand_r(&seed) % 5, hi = lo;
			char text[32], a[INET_ADDRSTRLEN];

			if (lo && rand_r(&seed) % 2)
				hi = lo + rand_r(&seed) % 4;
			/* the host bits of the prefix are cleared */
			addr = len ? addr & htonl(~0u << (32 - len)) : 0;
			inet_ntop(AF_INET, &addr, a, sizeof(a));
			snprintf(text, sizeof(text), "%s/%d", a, len);
			r[k] = rule((int64_t)k + 1, rand_r(&seed) % 4 ? "egress" : "ingress",
				    rand_r(&seed) % 2 ? "deny" : "allow", text, proto, lo, hi);
			r[k].depth = (uint8_t)(rand_r(&seed) % 2);
		}
		for (int q = 0; q < 40; q++) {
			char a[INET_ADDRSTRLEN];
			uint32_t addr = htonl(0x0a000000u | (rand_r(&seed) % 4) << 16 |
					      (rand_r(&seed) % 4) << 8 | (rand_r(&seed) % 4));
			struct ug_net_op o;
			uint32_t want, got;
			uint8_t action;

			if (!(rand_r(&seed) % 8))
				addr = htonl(0xc0000201u); /* outside 10/8 */
			inet_ntop(AF_INET, &addr, a, sizeof(a));
			o = op(a, rand_r(&seed) % 4 ? UG_DIR_EGRESS : UG_DIR_INGRESS,
			       rand_r(&seed) % 2 ? IPPROTO_TCP : IPPROTO_UDP,
			       rand_r(&seed) % 5 ? 19 + rand_r(&seed) % 9 : 0);
			want = naive(r, n, &o);
			got = judge(r, n, deny_default, o, &action);
			if (want != got)
				fail_msg("round %d: %s dir %u proto %u port %u: naive %u, judged %u",
					 round, a, o.dir, o.proto, o.port, want, got);
			if (!want)
				assert_int_equal(action, deny_default & (1u << o.dir) ? UG_ACT_DENY
										     : UG_ACT_ALLOW);
			else
				assert_int_equal(action, r[want - 1].action);
		}
	}
}

/*
 * Property, with modes: random rules, some of cgroups in audit mode. Naively:
 * the enforced rules alone (naive() over them, else deny_default) decide a
 * deny; where they allow, all rules as if enforced (naive() over all, else
 * deny_default | audit_default) decide whether it is audited.
 */
static void random_modes_follow_the_contract(void **state)
{
	static const int lens[] = { 0, 8, 16, 24, 32 };
	unsigned seed = 20261207;

	for (int round = 0; round < 300; round++) {
		struct ug_rule r[10], en[10];
		size_t n = 1 + (size_t)(rand_r(&seed) % 10), n_en = 0;
		uint8_t deny = (uint8_t)(rand_r(&seed) % 2), audit = (uint8_t)(rand_r(&seed) % 2);

		for (size_t k = 0; k < n; k++) {
			int len = lens[rand_r(&seed) % 5];
			uint32_t addr = htonl(0x0a000000u | (rand_r(&seed) % 3) << 16 |
					      (rand_r(&seed) % 3) << 8 | (rand_r(&seed) % 3));
			char text[32], a[INET_ADDRSTRLEN];
			uint32_t lo = rand_r(&seed) % 3 ? 0 : 20 + rand_r(&seed) % 3;

			addr = len ? addr & htonl(~0u << (32 - len)) : 0;
			inet_ntop(AF_INET, &addr, a, sizeof(a));
			snprintf(text, sizeof(text), "%s/%d", a, len);
			r[k] = rule((int64_t)k + 1, "egress", rand_r(&seed) % 2 ? "deny" : "allow",
				    text, rand_r(&seed) % 3 ? NULL : "tcp", lo, lo);
			r[k].depth = (uint8_t)(rand_r(&seed) % 3);
			r[k].audit = rand_r(&seed) % 2;
			if (!r[k].audit)
				en[n_en++] = r[k];
		}
		for (int q = 0; q < 40; q++) {
			char a[INET_ADDRSTRLEN];
			uint32_t addr = htonl(0x0a000000u | (rand_r(&seed) % 3) << 16 |
					      (rand_r(&seed) % 3) << 8 | (rand_r(&seed) % 3));
			struct ug_net_op o;
			uint32_t e, all, got;
			uint8_t want, action, e_act, all_act;

			inet_ntop(AF_INET, &addr, a, sizeof(a));
			o = op(a, UG_DIR_EGRESS, rand_r(&seed) % 2 ? IPPROTO_TCP : IPPROTO_UDP,
			       rand_r(&seed) % 4 ? 19 + rand_r(&seed) % 5 : 0);
			e = naive(en, n_en, &o);
			all = naive(r, n, &o);
			e_act = e ? r[e - 1].action : deny ? UG_ACT_DENY : UG_ACT_ALLOW;
			all_act = all ? r[all - 1].action : deny || audit ? UG_ACT_DENY : UG_ACT_ALLOW;
			want = e_act == UG_ACT_DENY ? UG_ACT_DENY
			       : all_act == UG_ACT_DENY ? UG_ACT_AUDIT : UG_ACT_ALLOW;
			{
				struct ug_lpm_entry *ent = NULL;
				struct ug_net_verdict v;
				size_t ne = 0;

				assert_int_equal(ug_compile(r, n, 7, &ent, &ne, NULL, 0), 0);
				ug_net_judge(ent, ne, deny ? 1u << UG_DIR_EGRESS : 0,
					     audit ? 1u << UG_DIR_EGRESS : 0, &o, &v);
				free(ent);
				action = v.action;
				got = v.rule_id;
			}
			if (action != want ||
			    (want == UG_ACT_DENY && got != e) || (want == UG_ACT_AUDIT && got != all))
				fail_msg("round %d: %s proto %u port %u: want %u (enforced %u, all %u), "
					 "got %u rule %u", round, a, o.proto, o.port, want, e, all,
					 action, got);
		}
	}
}

static struct ug_path_rule path_rule(int64_t id, const char *kind, const char *action,
				     const char *path, const char *access)
{
	struct ug_path_rule r;

	assert_int_equal(ug_path_rule_parse(id, kind, action, path, access, &r, NULL), 0);
	return r;
}

static uint32_t path_judge(const struct ug_path_rule *r, size_t n, uint8_t kind,
			   const char *path, uint8_t access, uint8_t *action)
{
	struct ug_path_entry *e = NULL;
	struct ug_path_verdict v;
	size_t ne = 0;

	assert_int_equal(ug_path_compile(r, n, 3, &e, &ne, NULL, 0), 0);
	ug_path_judge(e, ne, kind, path, access, &v);
	free(e);
	*action = v.action;
	return v.rule_id;
}

static void paths_longest_on_directory_boundaries(void **state)
{
	struct ug_path_rule r[] = {
		path_rule(1, "exec", "deny", "/usr/bin", NULL),
		path_rule(2, "exec", "allow", "/usr/bin/ls", NULL),
		path_rule(3, "file", "deny", "/etc", "write"),
		path_rule(4, "file", "deny", "/etc/shadow", "read"),
		path_rule(5, "exec", "deny", "/", NULL),
	};
	uint8_t a;

	assert_int_equal(path_judge(r, 4, UG_PATH_EXEC, "/usr/bin/curl", 0, &a), 1);
	assert_int_equal(a, UG_ACT_DENY);
	assert_int_equal(path_judge(r, 4, UG_PATH_EXEC, "/usr/bin", 0, &a), 1);
	assert_int_equal(path_judge(r, 4, UG_PATH_EXEC, "/usr/bin/ls", 0, &a), 2);
	assert_int_equal(a, UG_ACT_ALLOW);
	assert_int_equal(path_judge(r, 4, UG_PATH_EXEC, "/usr/binx", 0, &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
	/* file rules add up along the path; read is named first */
	assert_int_equal(path_judge(r, 4, UG_PATH_FILE, "/etc/shadow", UG_ACCESS_WRITE, &a), 3);
	assert_int_equal(a, UG_ACT_DENY);
	assert_int_equal(path_judge(r, 4, UG_PATH_FILE, "/etc/shadow",
				    UG_ACCESS_READ | UG_ACCESS_WRITE, &a), 4);
	assert_int_equal(path_judge(r, 4, UG_PATH_FILE, "/etc/passwd", UG_ACCESS_READ, &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
	/* exec rules do not judge opens */
	assert_int_equal(path_judge(r, 4, UG_PATH_FILE, "/usr/bin/curl", UG_ACCESS_READ, &a), 0);
	/* "/" covers everything */
	assert_int_equal(path_judge(r, 5, UG_PATH_EXEC, "/opt/x", 0, &a), 5);
	assert_int_equal(path_judge(r, 5, UG_PATH_EXEC, "/", 0, &a), 5);
}

/* Path rules of a cgroup in audit mode (issue 21.2): judged as the kernel
 * reads its two readings. */
static void paths_audit_rules_record_only(void **state)
{
	struct ug_path_rule r[] = {
		path_rule(1, "exec", "deny", "/opt", NULL),
		path_rule(2, "exec", "allow", "/opt/ok", NULL),
		path_rule(3, "exec", "deny", "/srv", NULL),
		path_rule(4, "file", "deny", "/etc", "write"),
		path_rule(5, "file", "deny", "/etc", "read"),
	};
	uint8_t a;

	(void)state;
	r[0].depth = r[3].depth = 1; /* the slice's, enforced */
	r[1].audit = r[2].audit = r[4].audit = 1;
	/* an audited allow relaxes no enforced deny */
	assert_int_equal(path_judge(r, 5, UG_PATH_EXEC, "/opt/ok/x", 0, &a), 1);
	assert_int_equal(a, UG_ACT_DENY);
	assert_int_equal(path_judge(r, 5, UG_PATH_EXEC, "/srv/x", 0, &a), 3);
	assert_int_equal(a, UG_ACT_AUDIT);
	assert_int_equal(path_judge(r, 5, UG_PATH_FILE, "/etc/x", UG_ACCESS_READ, &a), 5);
	assert_int_equal(a, UG_ACT_AUDIT);
	assert_int_equal(path_judge(r, 5, UG_PATH_FILE, "/etc/x", UG_ACCESS_WRITE, &a), 4);
	assert_int_equal(a, UG_ACT_DENY);
	assert_int_equal(path_judge(r, 5, UG_PATH_FILE, "/etc/x",
				    UG_ACCESS_READ | UG_ACCESS_WRITE, &a), 4);
	assert_int_equal(a, UG_ACT_DENY);
	assert_int_equal(path_judge(r, 5, UG_PATH_EXEC, "/usr/bin/x", 0, &a), 0);
	assert_int_equal(a, UG_ACT_ALLOW);
}

/* A chain: a unit, its alias, its slice; rules copied with their depths and origins. */
struct owned {
	struct ug_rule *net[3];
	size_t n[3];
};

static int own_fn(size_t j, bool lsm, const void **rules, size_t *n, void *ctx)
{
	struct owned *o = ctx;

	assert_false(lsm);
	*rules = o->net[j];
	*n = o->n[j];
	return 0;
}

static void merged_rules_carry_depth_and_origin(void **state)
{
	const char *paths[] = { "/s.slice", "/s.slice/d.service", "/s.slice/d.service" };
	struct ug_rule a = rule(1, "egress", "deny", "10.0.0.0/8", NULL, 0, 0);
	struct ug_rule b[] = { rule(2, "egress", "allow", "10.1.0.0/16", NULL, 0, 0),
			       rule(3, "egress", "allow", "10.2.0.0/16", NULL, 0, 0) };
	struct ug_rule c = rule(4, "egress", "deny", "10.1.1.0/24", NULL, 0, 0);
	struct owned o = { { &a, b, &c }, { 1, 2, 1 } };
	const struct ug_settings own[3] = {};
	struct ug_inherit h;
	struct ug_rule *out = NULL;
	size_t n = 0, *from = NULL;

	assert_int_equal(ug_inherit_build(paths, 3, &h), 0);
	assert_int_equal(ug_effective_rules(&h, own, 2, false, own_fn, &o, (void **)&out, &n, &from),
			 0);
	assert_int_equal(n, 4);
	/* the group (input order) at depth 0, then the slice at depth 1 */
	assert_int_equal(out[0].id, 2);
	assert_int_equal(out[1].id, 3);
	assert_int_equal(out[2].id, 4);
	assert_int_equal(out[3].id, 1);
	assert_int_equal(out[0].depth, 0);
	assert_int_equal(out[2].depth, 0);
	assert_int_equal(out[3].depth, 1);
	assert_int_equal(from[0], 1);
	assert_int_equal(from[2], 2);
	assert_int_equal(from[3], 0);
	free(out);
	free(from);
	/* the slice alone */
	assert_int_equal(ug_effective_rules(&h, own, 0, false, own_fn, &o, (void **)&out, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].depth, 0);
	free(out);
	ug_inherit_free(&h);
}

static void store_rows_parse_as_the_agent_takes_them(void **state)
{
	struct ug_settings s;
	struct ug_path_rule r;
	const char *why = NULL;

	assert_int_equal(ug_settings_parse("audit", "deny", "allow", "ptrace,bpf", &s, &why), 0);
	assert_int_equal(s.mode, UG_MODE_AUDIT);
	assert_int_equal(s.deny_default, 1u << UG_DIR_EGRESS);
	assert_int_equal(s.harden, UG_HARDEN_PTRACE | UG_HARDEN_BPF);
	assert_int_equal(ug_settings_parse("strict", "deny", "allow", "", &s, &why), -EINVAL);
	assert_non_null(why);
	/* invalid: the defaults, as the agent enforces them */
	assert_int_equal(s.mode, UG_MODE_ENFORCE);
	assert_int_equal(s.deny_default, 0);
	assert_int_equal(ug_settings_parse("off", "allow", "deny", "nope", &s, &why), -EINVAL);
	assert_int_equal(ug_path_rule_parse(5, "file", "deny", "/etc/", "read", &r, &why), 0);
	assert_string_equal(r.path, "/etc");
	assert_int_equal(r.access, UG_ACCESS_READ);
	assert_int_equal(ug_path_rule_parse(5, "file", "allow", "/etc", "read", &r, &why), -EINVAL);
	assert_int_equal(ug_path_rule_parse(5, "file", "deny", "/etc", NULL, &r, &why), -EINVAL);
	assert_int_equal(ug_path_rule_parse(0, "exec", "deny", "/bin", NULL, &r, &why), -EINVAL);
	assert_int_equal(ug_path_rule_parse(5, "exec", "deny", "/a/../b", NULL, &r, &why), -EINVAL);
	assert_int_equal(ug_path_rule_parse(5, "family", "deny", "packet", NULL, &r, &why),
			 -EINVAL);
}

/* A rule of cgroup at depth d in mode m (what ug_effective_rules() sets). */
static struct ug_rule ruled(int64_t id, const char *action, const char *prefix, uint8_t depth,
			    bool audit)
{
	struct ug_rule r = rule(id, "egress", action, prefix, NULL, 0, 0);

	r.depth = depth;
	r.audit = audit;
	return r;
}

static uint8_t judged(const struct ug_rule *r, size_t n, uint8_t deny, uint8_t audit,
		      const char *addr, uint32_t *rule_id)
{
	struct ug_net_op o = op(addr, UG_DIR_EGRESS, IPPROTO_UDP, 53);
	struct ug_lpm_entry *e = NULL;
	struct ug_net_verdict v;
	size_t ne = 0;

	assert_int_equal(ug_compile(r, n, 7, &e, &ne, NULL, 0), 0);
	ug_net_judge(e, ne, deny, audit, &o, &v);
	free(e);
	*rule_id = v.rule_id;
	return v.action;
}

/* A mode governs the rules of the cgroup that set it (issue 21): a unit in
 * audit mode audits its own rules and relaxes nothing of its slice's. */
static void modes_govern_their_own_rules(void **state)
{
	uint32_t id;

	/* slice (depth 1) enforces deny 10/8; the unit (audit) allows a /16 in it and the
	 * very same /8 */
	{
		struct ug_rule r[] = { ruled(1, "deny", "10.0.0.0/8", 1, false),
				       ruled(2, "allow", "10.1.0.0/16", 0, true),
				       ruled(3, "allow", "10.0.0.0/8", 0, true) };

		assert_int_equal(judged(r, 3, 0, 0, "10.1.2.3", &id), UG_ACT_DENY);
		assert_int_equal(id, 1);
		assert_int_equal(judged(r, 3, 0, 0, "10.9.0.1", &id), UG_ACT_DENY);
		assert_int_equal(id, 1);
	}
	/* the unit (audit) denies inside the slice's enforced allow: audited */
	{
		struct ug_rule r[] = { ruled(1, "allow", "10.0.0.0/8", 1, false),
				       ruled(2, "deny", "10.2.3.4/32", 0, true) };

		assert_int_equal(judged(r, 2, 0, 0, "10.2.3.4", &id), UG_ACT_AUDIT);
		assert_int_equal(id, 2);
		assert_int_equal(judged(r, 2, 0, 0, "10.2.3.5", &id), UG_ACT_ALLOW);
	}
	/* the slice audits a deny the unit (enforce) overrides on the same prefix: nothing
	 * to audit; where the unit allows only a part, the rest is audited */
	{
		struct ug_rule r[] = { ruled(1, "deny", "10.0.0.0/8", 1, true),
				       ruled(2, "allow", "10.0.0.0/8", 0, false) };
		struct ug_rule r2[] = { ruled(1, "deny", "10.0.0.0/8", 1, true),
					ruled(2, "allow", "10.1.0.0/16", 0, false) };

		assert_int_equal(judged(r, 2, 0, 0, "10.2.0.1", &id), UG_ACT_ALLOW);
		assert_int_equal(id, 2);
		assert_int_equal(judged(r2, 2, 0, 0, "10.1.0.1", &id), UG_ACT_ALLOW);
		assert_int_equal(judged(r2, 2, 0, 0, "10.2.0.1", &id), UG_ACT_AUDIT);
		assert_int_equal(id, 1);
	}
	/* defaults: the enforced one denies; the audit one audits what nothing decides */
	{
		struct ug_rule r[] = { ruled(2, "allow", "10.1.0.0/16", 0, true) };

		assert_int_equal(judged(r, 1, 1u << UG_DIR_EGRESS, 0, "10.1.0.1", &id),
				 UG_ACT_DENY);
		assert_int_equal(id, 0);
		assert_int_equal(judged(r, 1, 0, 1u << UG_DIR_EGRESS, "10.1.0.1", &id),
				 UG_ACT_ALLOW);
		assert_int_equal(judged(r, 1, 0, 1u << UG_DIR_EGRESS, "10.2.0.1", &id),
				 UG_ACT_AUDIT);
		assert_int_equal(id, 0);
	}
}

/* ug_effective_rules(): a node in mode off brings no rules; one in audit mode
 * brings them marked. */
static void merged_rules_by_mode(void **state)
{
	const char *paths[] = { "/s.slice", "/s.slice/d.service" };
	struct ug_rule a = rule(1, "egress", "deny", "10.0.0.0/8", NULL, 0, 0);
	struct ug_rule b = rule(2, "egress", "allow", "10.1.0.0/16", NULL, 0, 0);
	struct owned o = { { &a, &b }, { 1, 1 } };
	struct ug_settings own[2] = { { .mode = UG_MODE_ENFORCE }, { .mode = UG_MODE_AUDIT } };
	struct ug_inherit h;
	struct ug_rule *out = NULL;
	size_t n = 0;

	assert_int_equal(ug_inherit_build(paths, 2, &h), 0);
	assert_int_equal(ug_effective_rules(&h, own, 1, false, own_fn, &o, (void **)&out, &n,
					    NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, 2);
	assert_int_equal(out[0].audit, 1);
	assert_int_equal(out[1].id, 1);
	assert_int_equal(out[1].audit, 0);
	free(out);
	own[1].mode = UG_MODE_OFF;
	own[0].mode = UG_MODE_AUDIT;
	assert_int_equal(ug_effective_rules(&h, own, 1, false, own_fn, &o, (void **)&out, &n,
					    NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].id, 1);
	assert_int_equal(out[0].audit, 1);
	free(out);
	ug_inherit_free(&h);
}

/* One bad column of a units row keeps the last valid value of that column
 * and takes the others as they are (issue 21: one stray space in harden
 * reset default-egress deny to allow). */
static void settings_columns_fail_one_by_one(void **state)
{
	struct ug_settings last = { .mode = UG_MODE_ENFORCE, .harden = UG_HARDEN_BPF,
				    .deny_default = 1u << UG_DIR_EGRESS };
	struct ug_settings s;

	assert_int_equal(ug_settings_parse_each("audit", "deny", "allow", "bpf,ptrace ", &last, &s),
			 UG_SET_HARDEN);
	assert_int_equal(s.mode, UG_MODE_AUDIT);
	assert_int_equal(s.deny_default, 1u << UG_DIR_EGRESS);
	assert_int_equal(s.harden, UG_HARDEN_BPF);
	assert_int_equal(ug_settings_parse_each("enforce", "dney", "deny", "", &last, &s),
			 UG_SET_EGRESS);
	assert_int_equal(s.deny_default, 1u << UG_DIR_EGRESS | 1u << UG_DIR_INGRESS);
	assert_int_equal(s.harden, 0);
	assert_int_equal(ug_settings_parse_each("strict", "allow", NULL, "ptrace", &last, &s),
			 UG_SET_MODE | UG_SET_INGRESS);
	assert_int_equal(s.mode, UG_MODE_ENFORCE);
	assert_int_equal(s.deny_default, 0);
	assert_int_equal(s.harden, UG_HARDEN_PTRACE);
	/* No last valid settings: the defaults for the bad columns. */
	last.mode = UG_MODE_AUDIT;
	assert_int_equal(ug_settings_parse_each("x", "deny", "deny", "", NULL, &s), UG_SET_MODE);
	assert_int_equal(s.mode, UG_MODE_ENFORCE);
	assert_int_equal(ug_settings_parse_each("audit", "allow", "allow", "mount", &last, &s), 0);
	assert_int_equal(s.harden, UG_HARDEN_MOUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(longest_prefix_with_a_matching_rule),
		cmocka_unit_test(families_and_icmp),
		cmocka_unit_test(nearer_rule_wins_a_tie),
		cmocka_unit_test(random_policies_follow_the_contract),
		cmocka_unit_test(paths_longest_on_directory_boundaries),
		cmocka_unit_test(paths_audit_rules_record_only),
		cmocka_unit_test(merged_rules_carry_depth_and_origin),
		cmocka_unit_test(store_rows_parse_as_the_agent_takes_them),
		cmocka_unit_test(settings_columns_fail_one_by_one),
		cmocka_unit_test(modes_govern_their_own_rules),
		cmocka_unit_test(random_modes_follow_the_contract),
		cmocka_unit_test(merged_rules_by_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
