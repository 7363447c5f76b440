// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * explain: what a target's effective policy decides for one operation.
 */
#include <netinet/in.h>

#include "ctl.h"
#include "eff.h"

/* "deny egress 10.0.0.0/8 tcp port 22", escaped where it comes from the store. */
static void eff_rule_text(const struct ug_rule *r, char *buf, size_t len)
{
	char prefix[UG_PREFIX_STRLEN], ports[16];

	ug_prefix_format(&r->prefix, prefix, sizeof(prefix));
	ports_text(r->has_ports ? r->port_lo : 0, r->port_hi, ports, sizeof(ports));
	snprintf(buf, len, "%s %s %s proto %s port %s", ug_action_name(r->action),
		 ug_dir_name(r->dir), prefix, r->proto ? ug_proto_name(r->proto) : "any", ports);
}

/*
 * The verdict words: what the operation meets. mode: the side's (audit when all of
 * its rules come from cgroups in audit mode); action: what the rules say (deny, allow;
 * audit: a deny of a cgroup in audit mode). denied: the caller gets EPERM.
 */
static const char *eff_verdict(bool side, uint8_t mode, uint8_t action, bool *denied)
{
	*denied = false;
	if (!side || action == UG_ACT_ALLOW)
		return "allow";
	if (action == UG_ACT_AUDIT || mode == UG_MODE_AUDIT)
		return "allowed, audited";
	*denied = true;
	return "deny";
}

/* An LPM entry's prefix as a rule spells it (IPv4 for the v4-mapped range). */
static const char *entry_text(const struct ug_lpm_entry *en, char *buf, size_t len)
{
	struct ug_prefix p = { .family = AF_INET6 };
	unsigned int bits = en->key.prefixlen - UG_LPM_HDR_BITS;

	if (bits >= 96 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)en->key.addr)) {
		p.family = AF_INET;
		p.len = (uint8_t)(bits - 96);
		memcpy(p.addr, en->key.addr + 12, 4);
	} else {
		p.len = (uint8_t)bits;
		memcpy(p.addr, en->key.addr, 16);
	}
	if (ug_prefix_format(&p, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

struct explain_q {
	const char *target, *what;
	bool path;
	bool reply; /* a packet from the peer of a connection the unit opened */
	struct ug_net_op op;
	uint8_t kind, access;
	char canon[UG_PATH_MAX];
};

/* What kind of packet an address query judges, and whose rules judge it
 * (README, "Ingress: which rules judge what"). */
static const char *packet_kind(const struct explain_q *q)
{
	if (q->reply)
		return "reply";
	if (q->op.dir == UG_DIR_EGRESS)
		return "outbound";
	if (q->op.dir == UG_DIR_BIND)
		return "bind";
	return q->op.proto == IPPROTO_TCP ? "new-inbound" : "datagram";
}

static const char *packet_text(const struct explain_q *q)
{
	if (q->reply)
		return "a reply on a connection the unit opened to this peer: judged by the egress "
		       "rules, at the peer's port";
	if (q->op.dir == UG_DIR_EGRESS)
		return "a connection, datagram or packet the unit sends (and the replies on a "
		       "connection it opened): judged by the egress rules";
	if (q->op.dir == UG_DIR_BIND)
		return "a bind, or a connection request at this local address: judged by the bind "
		       "rules";
	if (q->op.proto == IPPROTO_TCP)
		return "a new inbound connection request to the unit, and every packet of the "
		       "connection once accepted, both ways: judged by the ingress rules, at the "
		       "unit's port";
	return "a datagram to a socket that did not choose its peer (unconnected UDP, ICMP, "
	       "raw): judged by the ingress rules";
}

/* explain TARGET PATH: an exec (the default) or an open for reading, writing or both. */
static int explain_parse_path(struct explain_q *q, const struct sub_opts *o)
{
	const char *why = NULL;

	if (o->dir || o->reply || o->proto || o->port)
		return bad("explain: --dir, --reply, --proto and --port are for an ADDRESS, not a PATH");
	if (ug_path_parse(q->what, q->canon, sizeof(q->canon), &why))
		return bad("explain: invalid PATH '%s': %s", q->what, why ? why : "?");
	q->path = true;
	q->kind = UG_PATH_FILE;
	if (!o->access || !strcmp(o->access, "exec"))
		q->kind = UG_PATH_EXEC;
	else if (!strcmp(o->access, "read"))
		q->access = UG_ACCESS_READ;
	else if (!strcmp(o->access, "write"))
		q->access = UG_ACCESS_WRITE;
	else if (!strcmp(o->access, "any"))
		q->access = UG_ACCESS_READ | UG_ACCESS_WRITE;
	else
		return bad("explain: invalid --access '%s': expected exec, read, write or any",
			   o->access);
	return 0;
}

/* explain TARGET ADDRESS: the operation as net.bpf.c sees it. */
static int explain_parse_addr(struct explain_q *q, const struct sub_opts *o)
{
	int proto = o->proto ? ug_proto_parse(o->proto) : IPPROTO_TCP;
	int dir = o->dir ? ug_dir_parse(o->dir) : UG_DIR_EGRESS;
	const char *why = NULL;
	uint16_t lo = 0, hi = 0;
	struct ug_prefix p;

	if (o->access)
		return bad("explain: --access is for a PATH, not an ADDRESS");
	if (ug_prefix_parse(q->what, &p, &why) || p.len != (p.family == AF_INET ? 32 : 128))
		return bad("explain: invalid ADDRESS '%s': %s", q->what,
			   why ? why : "an address, not a prefix");
	if (dir < 0)
		return bad("explain: invalid --dir '%s': expected egress, ingress or bind", o->dir);
	if (o->reply && o->dir && dir != UG_DIR_INGRESS)
		return bad("explain: --reply is a packet the unit receives: --dir ingress, or none");
	/* A reply on a connection the unit opened is judged by the egress
	 * rules for that peer (net.bpf.c, origin()), at the peer's port. */
	q->reply = o->reply;
	if (o->reply)
		dir = UG_DIR_EGRESS;
	if (proto < 0)
		return bad("explain: invalid --proto '%s': expected tcp, udp or icmp", o->proto);
	if (o->port && (ug_ports_parse(o->port, &lo, &hi, &why) || lo != hi))
		return bad("explain: invalid --port '%s': %s", o->port,
			   why ? why : "one port, not a range");
	if (o->port && proto == IPPROTO_ICMP)
		return bad("explain: --port: ICMP has no ports");
	q->op.dir = (uint8_t)dir;
	/* IPv4 v4-mapped; an IPv6 packet's ICMP is ICMPv6, outside the v4-mapped range
	 * (IPv4 traffic however it is spelled). */
	if (p.family == AF_INET) {
		q->op.addr[10] = q->op.addr[11] = 0xff;
		memcpy(q->op.addr + 12, p.addr, 4);
	} else {
		memcpy(q->op.addr, p.addr, 16);
	}
	if (proto == IPPROTO_ICMP && p.family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)q->op.addr))
		proto = IPPROTO_ICMPV6;
	q->op.proto = (uint8_t)proto;
	q->op.has_port = o->port != NULL;
	q->op.port = lo;
	return 0;
}

/* explain TARGET ADDRESS|PATH [...]: what the target's effective policy decides. */
int explain(int argc, char **argv, const struct sub_opts *o)
{
	struct explain_q q = { 0 };
	json_object *top = NULL, *notes = NULL;
	const char *verdict, *decided, *mode;
	char from[600], text[200], qtext[200];
	struct esc e = { 0 };
	struct eff f;
	bool denied, side;
	const struct ug_lpm_entry *entry = NULL;
	ssize_t k = -1;
	uint8_t action;
	uint32_t rule_id;
	int err;

	q.target = argv[0];
	q.what = argv[1];
	err = q.what[0] == '/' ? explain_parse_path(&q, o) : explain_parse_addr(&q, o);
	if (err)
		return err;
	err = eff_load(&f, "explain", q.target);
	if (err) {
		eff_free(&f);
		return err;
	}
	if (q.path) {
		struct ug_path_verdict pv;

		ug_path_judge(f.pent, f.n_pent, q.kind, q.canon, q.access, &pv);
		side = f.lsm;
		action = pv.action;
		rule_id = pv.rule_id;
		k = rule_id ? eff_find_path(&f, rule_id) : -1;
		snprintf(qtext, sizeof(qtext), "%s", q.kind == UG_PATH_EXEC ? "exec" : q.access ==
			 UG_ACCESS_READ ? "open for read" : q.access == UG_ACCESS_WRITE ?
			 "open for write" : "open for read and write");
	} else {
		struct ug_net_verdict nv;

		ug_net_judge(f.ent, f.n_ent, f.e.deny_default, f.e.audit_default, &q.op, &nv);
		side = f.net;
		action = nv.action;
		rule_id = nv.rule_id;
		k = rule_id ? eff_find_rule(&f, rule_id) : -1;
		entry = nv.entry;
		snprintf(qtext, sizeof(qtext), "%s %s", q.reply ? "reply" : ug_dir_name(q.op.dir),
			 ug_proto_name(q.op.proto));
		if (q.op.has_port)
			snprintf(qtext + strlen(qtext), sizeof(qtext) - strlen(qtext), " port %u",
				 q.op.port);
	}
	verdict = eff_verdict(side, q.path ? f.e.lsm_mode : f.e.mode, action, &denied);
	/* The mode that governs this decision: the deciding rule's cgroup's, or that of
	 * the cgroup whose default deny decided (audited: set in audit mode); when nothing
	 * judges the case, the target's own. */
	if (k >= 0)
		mode = eff_rule_mode(q.path ? f.paths[k].audit : f.rules[k].audit);
	else if (side && !q.path && (action == UG_ACT_DENY || action == UG_ACT_AUDIT))
		mode = ug_mode_name(action == UG_ACT_DENY ? UG_MODE_ENFORCE : UG_MODE_AUDIT);
	else
		mode = ug_mode_name(f.v[f.self].own.mode);
	if (!side)
		decided = "none";
	else if (k >= 0)
		decided = "rule";
	else if (q.path)
		decided = "no-rule";
	else
		decided = "default";

	if (o->json) {
		top = json_object_new_object();
		notes = json_object_new_array();
		if (!top || !notes) {
			err = -ENOMEM;
			goto out;
		}
		json_add_str(top, "target", q.target);
		json_add_str(top, q.path ? "path" : "address", q.path ? q.canon : q.what);
		if (q.path) {
			json_add_str(top, "access", q.kind == UG_PATH_EXEC ? "exec"
									: ug_access_name(q.access));
		} else {
			json_add_str(top, "direction", q.reply ? "ingress" : ug_dir_name(q.op.dir));
			json_add_str(top, "packet", packet_kind(&q));
			json_add_str(top, "rules", ug_dir_name(q.op.dir));
			json_add_str(top, "proto", ug_proto_name(q.op.proto));
			json_object_object_add(top, "port", q.op.has_port
								    ? json_object_new_int(q.op.port)
								    : NULL);
		}
		json_add_str(top, "verdict", verdict);
		json_object_object_add(top, "denied", json_object_new_boolean(denied));
		/* What the rule or default says, as before modes were per rule: an audited
		 * deny is a deny, "mode" says that it is only audited. */
		json_add_str(top, "action",
			     ug_action_name(action == UG_ACT_AUDIT ? UG_ACT_DENY : action));
		json_add_str(top, "mode", mode);
		json_add_str(top, "decided_by", decided);
		json_add_str(top, "cgroup", f.v[f.self].path);
	} else {
		printf("verdict: %s\n", verdict);
		printf("query: %s: %s %s%s\n", esc(&e, q.target), qtext,
		       q.path ? "" : q.reply || q.op.dir == UG_DIR_INGRESS ? "from " :
		       q.op.dir == UG_DIR_EGRESS ? "to " : "at ", esc(&e, q.path ? q.canon : q.what));
		if (!q.path)
			printf("packet: %s\n", packet_text(&q));
		printf("mode: %s\n", mode);
	}
	if (!side) {
		eff_note(notes, "no %s policy applies to %s or any policy cgroup above it: nothing "
			 "is judged", q.path ? "exec/file" : "network", q.target);
	} else if (k >= 0 && !q.path) {
		const struct ug_rule *r = &f.rules[k];
		const char *c = eff_comment(&f, r->id);

		if (top) {
			json_object_object_add(top, "rule", eff_rule_json(&f, (size_t)k));
		} else {
			eff_rule_text(r, text, sizeof(text));
			eff_from_text(&f, f.origin[k], &e, from, sizeof(from));
			printf("rule: %" PRId64 ": %s%s%s%s\n", r->id, text, c ? " (comment: " : "",
			       c ? esc(&e, c) : "", c ? ")" : "");
			printf("from: %s\n", from);
			printf("why: %s is the longest prefix with rules in this direction covering the "
			       "address; this is the first of them (its own, then those of the "
			       "prefixes covering it, as the compiler orders them) to match the "
			       "protocol and port\n", entry_text(entry, text, sizeof(text)));
		}
	} else if (k >= 0) {
		const struct ug_path_rule *r = &f.paths[k];
		const char *c = eff_comment(&f, r->id);

		if (top) {
			json_object_object_add(top, "rule", eff_path_json(&f, (size_t)k));
		} else {
			eff_from_text(&f, f.porigin[k], &e, from, sizeof(from));
			printf("rule: %" PRId64 ": %s %s %s%s%s%s%s%s\n", r->id,
			       ug_action_name(r->action), r->kind == UG_PATH_EXEC ? "exec" : "file",
			       esc(&e, r->path), r->kind == UG_PATH_FILE ? " access " : "",
			       r->kind == UG_PATH_FILE ? ug_access_name(r->access) : "",
			       c ? " (comment: " : "", c ? esc(&e, c) : "", c ? ")" : "");
			printf("from: %s\n", from);
			printf("why: the longest rule path covering %s decides%s\n", esc(&e, q.canon),
			       r->kind == UG_PATH_FILE ? " (file rules of shorter paths add up)" : "");
		}
	} else if (q.path) {
		eff_note(notes, "no %s rule covers %s: paths have no default posture, it is allowed",
			 q.kind == UG_PATH_EXEC ? "exec" : "file", q.canon);
	} else {
		int dir = q.op.dir;
		ssize_t s = eff_setter(&f, sets_deny, (uint64_t)dir, UG_MODE_ENFORCE);

		if (top)
			json_object_object_add(top, "rule", NULL);
		if (entry && entry->val.n && !top)
			printf("rules: %s is the longest prefix with rules covering the address, but "
			       "none of them (nor of the prefixes covering it) matches the protocol "
			       "and port\n", entry_text(entry, text, sizeof(text)));
		if (!(f.e.deny_default & (1u << dir)) && (f.e.audit_default & (1u << dir))) {
			ssize_t a = eff_setter(&f, sets_deny, (uint64_t)dir, UG_MODE_AUDIT);

			eff_from_text(&f, (size_t)a, &e, from, sizeof(from));
			if (top)
				json_object_object_add(top, "default_from", eff_from_json(&f, (size_t)a));
			else
				printf("default: deny, audited: no rule matches; default-%s deny is set on "
				       "%s, in audit mode\n", ug_dir_name(dir), from);
		} else if (f.e.deny_default & (1u << dir)) {
			eff_from_text(&f, (size_t)s, &e, from, sizeof(from));
			if (top)
				json_object_object_add(top, "default_from", eff_from_json(&f, (size_t)s));
			else
				printf("default: deny: no rule matches; default-%s deny is set on %s\n",
				       ug_dir_name(dir), from);
		} else if (!top && dir == UG_DIR_BIND) {
			printf("default: allow: no rule matches, and binds have no default posture\n");
		} else if (!top) {
			printf("default: allow: no rule matches, and no policy cgroup of it sets "
			       "default-%s deny\n", ug_dir_name(dir));
		}
	}
	if (!q.path && q.op.dir == UG_DIR_INGRESS && q.op.proto == IPPROTO_TCP)
		eff_note(notes, "an incoming TCP connection request is also judged by the bind "
			 "rules at the local address and port (explain --dir bind)");
	if (!q.path && q.op.dir == UG_DIR_INGRESS)
		eff_note(notes, "a reply from %s on a connection the unit opened to it is judged "
			 "by the egress rules instead (explain %s %s --reply)", q.what, q.target,
			 q.what);
	if (q.reply)
		eff_note(notes, "believed a reply only on a socket still connected to %s, with the "
			 "connect allowed; an unconnected socket's datagrams are judged by the "
			 "ingress rules (explain --dir ingress)", q.what);
	if (!q.path && q.op.dir == UG_DIR_BIND &&
	    !memcmp(q.op.addr, (const uint8_t[16]){ 0 }, 16))
		eff_note(notes, "a bind of [::] without IPV6_V6ONLY is also judged by the IPv4 bind "
			 "rules as 0.0.0.0 (explain %s 0.0.0.0 --dir bind)", q.target);
	if (!q.path && q.op.proto != IPPROTO_ICMP && q.op.proto != IPPROTO_ICMPV6 &&
	    !q.op.has_port)
		eff_note(notes, "no --port given: rules with ports were taken not to match");
	eff_notes(&f, notes);
	if (top) {
		json_object_object_add(top, "notes", notes);
		notes = NULL;
		err = print_json(top) ? -EIO : 0;
	}
out:
	esc_free(&e);
	json_object_put(top);
	json_object_put(notes);
	eff_free(&f);
	return err ? 1 : 0;
}
