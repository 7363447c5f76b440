// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "effective.h"

int ug_settings_parse(const char *mode, const char *egress, const char *ingress,
		      const char *harden, struct ug_settings *out, const char **why)
{
	int m = mode ? ug_mode_parse(mode) : -EINVAL;
	int eg = egress ? ug_action_parse(egress) : -EINVAL;
	int in = ingress ? ug_action_parse(ingress) : -EINVAL;
	int h = harden && harden[0] ? ug_harden_parse(harden, why) : 0;

	memset(out, 0, sizeof(*out));
	if (m < 0 || eg < 0 || in < 0 || h < 0) {
		if (h >= 0 && why)
			*why = "bad mode or default posture";
		return -EINVAL;
	}
	out->mode = (uint8_t)m;
	out->deny_default = (eg == UG_ACT_DENY ? 1u << UG_DIR_EGRESS : 0) |
			    (in == UG_ACT_DENY ? 1u << UG_DIR_INGRESS : 0);
	out->harden = (uint8_t)h;
	return 0;
}

unsigned ug_settings_parse_each(const char *mode, const char *egress, const char *ingress,
				const char *harden, const struct ug_settings *last,
				struct ug_settings *out)
{
	static const struct ug_settings defaults = { .mode = UG_MODE_ENFORCE };
	int m = mode ? ug_mode_parse(mode) : -EINVAL;
	int eg = egress ? ug_action_parse(egress) : -EINVAL;
	int in = ingress ? ug_action_parse(ingress) : -EINVAL;
	int h = harden && harden[0] ? ug_harden_parse(harden, NULL) : 0;
	unsigned bad = 0;

	if (!last)
		last = &defaults;
	memset(out, 0, sizeof(*out));
	if (m < 0) {
		bad |= UG_SET_MODE;
		out->mode = last->mode;
	} else {
		out->mode = (uint8_t)m;
	}
	if (eg < 0)
		bad |= UG_SET_EGRESS;
	if (eg < 0 ? last->deny_default & (1u << UG_DIR_EGRESS) : eg == UG_ACT_DENY)
		out->deny_default |= 1u << UG_DIR_EGRESS;
	if (in < 0)
		bad |= UG_SET_INGRESS;
	if (in < 0 ? last->deny_default & (1u << UG_DIR_INGRESS) : in == UG_ACT_DENY)
		out->deny_default |= 1u << UG_DIR_INGRESS;
	if (h < 0) {
		bad |= UG_SET_HARDEN;
		out->harden = last->harden;
	} else {
		out->harden = (uint8_t)h;
	}
	return bad;
}

int ug_path_rule_parse(int64_t id, const char *kind, const char *action, const char *path,
		       const char *access, struct ug_path_rule *out, const char **why)
{
	int act = action ? ug_action_parse(action) : -EINVAL, acc = 0;

	memset(out, 0, sizeof(*out));
	if (!kind || (strcmp(kind, "exec") && strcmp(kind, "file"))) {
		if (why)
			*why = "not an exec or file rule";
		return -EINVAL;
	}
	if (act < 0 || id <= 0 || id > UINT32_MAX || !path) {
		if (why)
			*why = "bad action, id or path";
		return -EINVAL;
	}
	if (ug_path_parse(path, out->path, sizeof(out->path), why))
		return -EINVAL;
	out->kind = !strcmp(kind, "exec") ? UG_PATH_EXEC : UG_PATH_FILE;
	if (out->kind == UG_PATH_FILE) {
		acc = access ? ug_access_parse(access) : -EINVAL;
		if (acc <= 0 || act != UG_ACT_DENY) {
			if (why)
				*why = "a file rule denies read, write or any";
			return -EINVAL;
		}
	}
	out->id = id;
	out->action = (uint8_t)act;
	out->access = (uint8_t)acc;
	return 0;
}

int ug_effective_rules(const struct ug_inherit *h, const struct ug_settings *own_set, size_t i,
		       bool lsm, ug_own_rules_fn fn, void *ctx, void **out, size_t *n_out,
		       size_t **origin)
{
	size_t size = lsm ? sizeof(struct ug_path_rule) : sizeof(struct ug_rule);
	size_t *chain = calloc(h->n ?: 1, sizeof(*chain)), *from = NULL;
	uint8_t *depth = calloc(h->n ?: 1, sizeof(*depth));
	const void **own = calloc(h->n ?: 1, sizeof(*own));
	size_t *n_own = calloc(h->n ?: 1, sizeof(*n_own));
	size_t total = 0, k = 0;
	char *v = NULL;
	ssize_t n;
	int err = -ENOMEM;

	if (!chain || !depth || !own || !n_own)
		goto out;
	n = ug_inherit_chain(h, i, chain, depth, h->n);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	for (ssize_t c = 0; c < n; c++) {
		if (own_set[chain[c]].mode == UG_MODE_OFF)
			continue; /* its rules are not judged */
		err = fn(chain[c], lsm, &own[c], &n_own[c], ctx);
		if (err)
			goto out;
		total += n_own[c];
	}
	err = -ENOMEM;
	v = calloc(total ?: 1, size);
	if (!v || (origin && !(from = calloc(total ?: 1, sizeof(*from)))))
		goto out;
	/* Each copy carries the depth it is compiled at: the compiler lets the
	 * smaller one win a tie. */
	for (ssize_t c = 0; c < n; c++) {
		uint8_t audit = own_set[chain[c]].mode == UG_MODE_AUDIT;

		for (size_t j = 0; j < n_own[c]; j++, k++) {
			if (lsm) {
				struct ug_path_rule *r = (struct ug_path_rule *)v + k;

				*r = ((const struct ug_path_rule *)own[c])[j];
				r->depth = depth[c];
				r->audit = audit;
			} else {
				struct ug_rule *r = (struct ug_rule *)v + k;

				*r = ((const struct ug_rule *)own[c])[j];
				r->depth = depth[c];
				r->audit = audit;
			}
			if (from)
				from[k] = chain[c];
		}
	}
	*out = v;
	*n_out = total;
	if (origin)
		*origin = from;
	v = NULL;
	from = NULL;
	err = 0;
out:
	free(v);
	free(from);
	free(chain);
	free(depth);
	free(own);
	free(n_own);
	return err;
}

/* Do the first bits of a and b agree? */
static bool prefix_bits_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes))
		return false;
	return !rest || !((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest)));
}

static bool rule_matches(const struct ug_match *m, const struct ug_net_op *op)
{
	if (m->proto && m->proto != op->proto)
		return false;
	return !(m->flags & UG_MATCH_PORTS) ||
	       (op->has_port && op->port >= m->port_lo && op->port <= m->port_hi);
}

void ug_net_judge(const struct ug_lpm_entry *e, size_t n, uint8_t deny_default,
		  uint8_t audit_default, const struct ug_net_op *op, struct ug_net_verdict *out)
{
	const struct ug_lpm_entry *best = NULL;
	int en = -1, au = -1; /* the first matching enforced rule; an audit rule before it */
	uint8_t bit = 1u << op->dir;

	memset(out, 0, sizeof(*out));
	out->index = -1;
	/* The trie's lookup: the longest prefix of this direction that covers
	 * the address, whatever its rules say (they are tried after). */
	for (size_t k = 0; k < n; k++) {
		unsigned int bits = e[k].key.prefixlen - UG_LPM_HDR_BITS;

		if (e[k].key.dir != op->dir || bits > 128)
			continue;
		if (best && best->key.prefixlen >= e[k].key.prefixlen)
			continue;
		if (prefix_bits_equal(e[k].key.addr, op->addr, bits))
			best = &e[k];
	}
	out->entry = best;
	for (uint32_t k = 0; best && k < best->val.n && k < UG_MATCHES_MAX; k++) {
		if (!rule_matches(&best->val.m[k], op))
			continue;
		if (!(best->val.m[k].flags & UG_MATCH_AUDIT)) {
			en = (int)k;
			break;
		}
		if (au < 0)
			au = (int)k;
	}
	/* Enforcement: the enforced rules and default alone. */
	if (en >= 0 && best->val.m[en].action == UG_ACT_DENY) {
		out->index = en;
		out->rule_id = best->val.m[en].rule_id;
		out->action = UG_ACT_DENY;
		return;
	}
	if (en < 0 && (deny_default & bit)) {
		out->action = UG_ACT_DENY;
		return;
	}
	/* Allowed: what every rule would say (the audit). */
	if (au >= 0 || en >= 0) {
		out->index = au >= 0 ? au : en;
		out->rule_id = best->val.m[out->index].rule_id;
		out->action = best->val.m[out->index].action == UG_ACT_DENY ? UG_ACT_AUDIT
									     : UG_ACT_ALLOW;
		return;
	}
	out->action = (deny_default | audit_default) & bit ? UG_ACT_AUDIT : UG_ACT_ALLOW;
}

/* Does reading r refuse the operation? As bpf/lib/path.bpf.h's. */
static bool reading_denies(const struct ug_path_reading *r, uint8_t kind, uint8_t access,
			   uint32_t *rule_id)
{
	uint8_t denied;

	if (kind == UG_PATH_EXEC) {
		if (r->action != UG_ACT_DENY)
			return false;
		*rule_id = r->rule_id;
		return true;
	}
	denied = r->deny_access & access;
	if (!denied)
		return false;
	*rule_id = denied & UG_ACCESS_READ ? r->read_rule : r->write_rule;
	return true;
}

void ug_path_judge(const struct ug_path_entry *e, size_t n, uint8_t kind, const char *path,
		   uint8_t access, struct ug_path_verdict *out)
{
	uint8_t key[UG_PATH_MAX + 1] = { 0 };
	size_t len = strnlen(path, UG_PATH_MAX);
	const struct ug_path_entry *best = NULL;

	memset(out, 0, sizeof(*out));
	out->action = UG_ACT_ALLOW;
	if (len >= UG_PATH_MAX)
		return; /* ug_path_parse() never gives one */
	/* Looked up with '/' appended: "/usr/bin" meets the rule "/usr/bin/". */
	memcpy(key, path, len);
	key[len] = '/';
	for (size_t k = 0; k < n; k++) {
		unsigned int bytes = (e[k].key.prefixlen - UG_PATH_HDR_BITS) / 8;

		if (e[k].key.kind != kind || bytes > len + 1 || memcmp(e[k].key.path, key, bytes))
			continue;
		if (!best || e[k].key.prefixlen > best->key.prefixlen)
			best = &e[k];
	}
	out->entry = best;
	if (!best)
		return;
	if (reading_denies(&best->val.enforced, kind, access, &out->rule_id)) {
		out->action = UG_ACT_DENY;
		return;
	}
	if (reading_denies(&best->val.all, kind, access, &out->rule_id)) {
		out->action = UG_ACT_AUDIT;
		return;
	}
	/* Allowed: an exec allow rule decides (what every rule says). */
	if (kind == UG_PATH_EXEC)
		out->rule_id = best->val.all.rule_id;
}
