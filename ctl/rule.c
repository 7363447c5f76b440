// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rule add, rule list, rule del.
 */
#include <netinet/in.h>

#include "ctl.h"

static int store_rule(const struct ug_store_rule_spec *spec)
{
	struct ug_store *st;
	int64_t id;
	int err;

	if (open_store(UG_STORE_CREATE, &st))
		return 1;
	err = ug_store_rule_add(st, spec, &id);
	if (err) {
		fprintf(stderr, "unitguardctl: rule add: %s\n", ug_store_errmsg(st));
		ug_store_close(st);
		return 1;
	}
	/* The id first: the rule exists whatever the agent says. */
	printf("%" PRId64 "\n", id);
	fflush(stdout);
	err = in_force(st, &spec->target, 1, NULL);
	ug_store_close(st);
	return err;
}

/*
 * The LSM hooks see a file by the path the kernel resolved: a rule on a path
 * through a symlink (/bin/sh on merged-/usr Debian 12 is /usr/bin/sh) never
 * matches. Writes the resolved path to real when it differs; false when the
 * path resolves to itself or cannot be resolved (it need not exist).
 */
bool resolves_elsewhere(const char *path, char *real, size_t len)
{
	char buf[PATH_MAX];

	if (!realpath(path, buf) || !strcmp(buf, path))
		return false;
	snprintf(real, len, "%s", buf);
	return true;
}

/* exec allow|deny PATH; file deny PATH [--access]; family deny FAMILY */
static int lsm_rule_add(char **argv, const struct sub_opts *o)
{
	char path[UG_PATH_MAX];
	const char *why = NULL, *access = NULL, *value;
	int action = ug_action_parse(argv[2]), family;

	if (o->proto || o->port)
		return bad("invalid --%s: only for network rules", o->proto ? "proto" : "port");
	if (action < 0)
		return bad("invalid ACTION '%s': expected allow or deny", argv[2]);
	if (strcmp(argv[1], "exec") && action != UG_ACT_DENY)
		return bad("invalid ACTION '%s': %s rules only deny", argv[2], argv[1]);
	if (o->access && strcmp(argv[1], "file"))
		return bad("invalid --access: only for file rules");
	if (o->comment && ug_comment_validate(o->comment, &why))
		return bad("invalid --comment: %s", why);
	if (!strcmp(argv[1], "family")) {
		family = ug_family_parse(argv[3]);
		if (family < 0 || family >= 64)
			return bad("invalid FAMILY '%s': expected a name (packet, netlink, ...) or "
				   "1-63", argv[3]);
		value = ug_family_name(family);
		if (!strcmp(value, "unknown"))
			value = argv[3];
	} else {
		char real[PATH_MAX];

		if (ug_path_parse(argv[3], path, sizeof(path), &why))
			return bad("invalid PATH '%s': %s", argv[3], why ? why : "not a path");
		value = path;
		if (resolves_elsewhere(path, real, sizeof(real)))
			fprintf(stderr, "unitguardctl: warning: %s resolves to %s: the kernel "
				"sees the resolved path, so this rule never matches; write %s\n",
				path, real, real);
		if (!strcmp(argv[1], "file")) {
			int a = ug_access_parse(o->access ? o->access : "any");

			if (a <= 0)
				return bad("invalid --access '%s': expected read, write or any",
					   o->access);
			access = ug_access_name(a);
		}
	}
	return store_rule(&(struct ug_store_rule_spec){
		.target = argv[0],
		.direction = argv[1],
		.action = argv[2],
		.prefix = value,
		.access = access,
		.comment = o->comment,
	});
}

/* rule add TARGET DIRECTION ACTION PREFIX|PATH|FAMILY [options]: the rule's id, once in force. */
int rule_add(int argc, char **argv, const struct sub_opts *o)
{
	struct ug_store_rule_spec spec = {};
	struct ug_prefix prefix;
	char canon[UG_PREFIX_STRLEN];
	const char *why = NULL;
	uint16_t lo = 0, hi = 0;
	int proto = 0;

	if (!strcmp(argv[1], "exec") || !strcmp(argv[1], "file") || !strcmp(argv[1], "family"))
		return lsm_rule_add(argv, o);
	if (ug_dir_parse(argv[1]) < 0)
		return bad("invalid DIRECTION '%s': expected egress, ingress, bind, exec, file or "
			   "family", argv[1]);
	if (o->access)
		return bad("invalid --access: only for file rules");
	if (ug_action_parse(argv[2]) < 0)
		return bad("invalid ACTION '%s': expected allow or deny", argv[2]);
	if (ug_prefix_parse(argv[3], &prefix, &why))
		return bad("invalid PREFIX '%s': %s", argv[3], why ? why : "not a CIDR");
	if (ug_prefix_format(&prefix, canon, sizeof(canon)))
		return bad("invalid PREFIX '%s'", argv[3]);
	if (o->proto && (proto = ug_proto_parse(o->proto)) < 0)
		return bad("invalid --proto '%s': expected tcp, udp or icmp", o->proto);
	if (o->port && ug_ports_parse(o->port, &lo, &hi, &why))
		return bad("invalid --port '%s': %s", o->port, why ? why : "expected N or N-M");
	if (o->port && proto == IPPROTO_ICMP)
		return bad("invalid --port '%s': ICMP has no ports", o->port);
	if (o->comment && ug_comment_validate(o->comment, &why))
		return bad("invalid --comment: %s", why);

	spec = (struct ug_store_rule_spec){
		.target = argv[0],
		.direction = argv[1],
		.action = argv[2],
		.prefix = canon,
		.proto = o->proto,
		.port_lo = lo,
		.port_hi = hi,
		.comment = o->comment,
	};
	return store_rule(&spec);
}

static const char *const rule_cols[] = { "ID",     "TARGET", "DIR",  "ACTION",
					 "PREFIX", "PROTO",  "PORT", "COMMENT" };

int rule_out_init(struct rule_out *out, bool json)
{
	memset(out, 0, sizeof(*out));
	if (json) {
		out->arr = json_object_new_array();
		return out->arr ? 0 : -ENOMEM;
	}
	return table_new(&out->tab, rule_cols, ARRAY_SIZE(rule_cols), 1u << 0);
}

int rule_out_print(struct rule_out *out)
{
	return out->arr ? print_json(out->arr) : table_print(&out->tab);
}

void rule_out_free(struct rule_out *out)
{
	json_object_put(out->arr);
	if (out->tab.tb)
		table_free(&out->tab);
}

int print_rule(const struct ug_store_rule *r, void *ctx)
{
	struct rule_out *out = ctx;
	json_object *arr = out->arr, *o;
	char ports[16], id[24];
	struct esc e = { 0 };

	ports_text(r->port_lo, r->port_hi, ports, sizeof(ports));
	if (!arr) {
		/* The store is written by others too (a raw sqlite3 session): what
		 * it holds is printed escaped. */
		const char *cells[] = { id, esc(&e, r->target), esc(&e, r->direction),
					esc(&e, r->action), esc(&e, r->prefix),
					esc(&e, r->access ?: r->proto ?: "any"),
					r->access ? "" : ports, esc(&e, r->comment) };

		snprintf(id, sizeof(id), "%" PRId64, r->id);
		return table_row(&out->tab, cells, NULL, &e);
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "target", json_object_new_string(r->target));
	json_object_object_add(o, "direction", json_object_new_string(r->direction));
	json_object_object_add(o, "action", json_object_new_string(r->action));
	json_object_object_add(o, "prefix", json_object_new_string(r->prefix));
	json_add_str(o, "proto", r->proto);
	json_add_str(o, "access", r->access);
	json_object_object_add(o, "port_lo", r->port_lo ? json_object_new_int64(r->port_lo) : NULL);
	json_object_object_add(o, "port_hi", r->port_lo ? json_object_new_int64(r->port_hi) : NULL);
	json_add_str(o, "comment", r->comment);
	json_object_object_add(o, "created_at", json_object_new_string(r->created_at));
	return json_object_array_add(arr, o) ? -ENOMEM : 0;
}


/* rule list [TARGET]: all rules, or the target's. */
int rule_list(int argc, char **argv, const struct sub_opts *o)
{
	struct rule_out out;
	struct ug_store *st;
	int err;

	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	err = rule_out_init(&out, o->json);
	if (!err)
		err = ug_store_rules(st, argc ? argv[0] : NULL, print_rule, &out);
	if (!err)
		err = rule_out_print(&out);
	if (err)
		fprintf(stderr, "unitguardctl: rule list: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	rule_out_free(&out);
	ug_store_close(st);
	return err ? 1 : 0;
}

/* rule del ID: in force when the command returns. */
int rule_del(int argc, char **argv, const struct sub_opts *o)
{
	struct ug_store *st;
	char *end;
	long long id;
	int err;

	errno = 0;
	id = strtoll(argv[0], &end, 10);
	if (errno || end == argv[0] || *end || id <= 0 || argv[0][0] == '+' || argv[0][0] == ' ')
		return bad("invalid ID '%s': expected a positive rule id", argv[0]);
	if (open_store(0, &st))
		return 1;
	err = ug_store_rule_del(st, id);
	if (err == -ENOENT)
		fprintf(stderr, "unitguardctl: invalid ID '%s': no rule with this id\n", argv[0]);
	else if (err)
		fprintf(stderr, "unitguardctl: rule del: %s\n", ug_store_errmsg(st));
	else
		err = -in_force(st, NULL, 0, NULL);
	ug_store_close(st);
	return err == -ENOENT ? EXIT_USAGE : err == -EXIT_NOT_IN_FORCE ? EXIT_NOT_IN_FORCE
					 : err ? 1 : 0;
}
