/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The path compiler: exec and file rules of one policy cgroup in, the
 * ug_paths LPM entries of one trie out (contract above ug_path_compile() in
 * policy.h). Each entry holds two readings: the enforced rules alone, and
 * every rule (audited ones as if enforced). An exec entry carries the one
 * rule that decides it in each; a file entry carries the union of the access
 * its own and its covering prefixes deny. What a reading has no rule of its
 * own for at a path is folded from the covering prefixes, in one pass over
 * the paths in byte order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

/* A validated path rule with its key. */
struct path_item {
	struct ug_path_key key;
	size_t len; /* stored path bytes */
	uint32_t id;
	uint8_t action, access, depth;
	bool audit;
};

/* A file entry and its stored length, for the folding pass. */
struct path_fold {
	struct ug_path_entry *e;
	size_t len;
};

static int path_key_cmp(const struct ug_path_key *a, const struct ug_path_key *b)
{
	CMP(a->trie, b->trie);
	CMP(a->kind, b->kind);
	CMP(a->prefixlen, b->prefixlen);
	return memcmp(a->path, b->path, sizeof(a->path));
}

int ug_path_key_cmp(const struct ug_path_key *a, const struct ug_path_key *b)
{
	return path_key_cmp(a, b);
}

/*
 * Key order, then within a key the rule that decides first: smallest depth, then (exec)
 * deny, then lowest id. For file rules every rule counts, but the first one denying an
 * access is the one named for it, and action is deny for all of them.
 */
static int path_item_cmp(const void *pa, const void *pb)
{
	const struct path_item *a = pa, *b = pb;
	int r = path_key_cmp(&a->key, &b->key);

	if (r)
		return r;
	CMP(a->depth, b->depth);
	CMP(a->action != UG_ACT_DENY, b->action != UG_ACT_DENY);
	CMP(a->id, b->id);
	/* Two rules sharing a store id: keep the output independent of input order. */
	CMP(a->access, b->access);
	return 0;
}

/* Byte order of the stored paths: a prefix sorts right before the paths it covers, the
 * zero padding after it being lower than any path byte. */
static int path_fold_cmp(const void *pa, const void *pb)
{
	const struct path_fold *a = pa, *b = pb;

	return memcmp(a->e->key.path, b->e->key.path, sizeof(a->e->key.path));
}

/* Names what is wrong with a path rule, or NULL. */
static const char *path_rule_problem(const struct ug_path_rule *r, const char **why)
{
	char canon[UG_PATH_MAX];

	if (r->id <= 0 || r->id > UINT32_MAX)
		return "id out of range (1-4294967295)";
	if (r->kind == UG_PATH_EXEC) {
		if (r->action != UG_ACT_ALLOW && r->action != UG_ACT_DENY)
			return "unknown action";
	} else if (r->kind == UG_PATH_FILE) {
		/* Nothing to allow: an open is refused only when some rule denies it. */
		if (r->action != UG_ACT_DENY)
			return "file rules can only deny";
		if (!r->access || r->access & ~(UG_ACCESS_READ | UG_ACCESS_WRITE))
			return "access must be read, write or both";
	} else {
		return "unknown path rule kind";
	}
	if (!memchr(r->path, '\0', sizeof(r->path)))
		return "path is not NUL-terminated";
	if (ug_path_parse(r->path, canon, sizeof(canon), why) < 0)
		return "invalid path";
	/* Two spellings of one path would make two keys that never fold together. */
	if (strcmp(canon, r->path))
		return "path is not canonical";
	return NULL;
}

static void path_item_init(struct path_item *it, const struct ug_path_rule *r, uint16_t trie)
{
	size_t n = strlen(r->path);

	memset(it, 0, sizeof(*it));
	it->key.trie = trie;
	it->key.kind = r->kind;
	memcpy(it->key.path, r->path, n);
	if (n > 1)
		it->key.path[n] = '/';
	it->len = path_stored_len(n);
	it->key.prefixlen = (uint32_t)(UG_PATH_HDR_BITS + 8 * it->len);
	it->id = (uint32_t)r->id;
	it->action = r->action;
	/* Access means nothing to exec rules; zeroed so it cannot reach the output. */
	it->access = r->kind == UG_PATH_FILE ? r->access : 0;
	it->depth = r->depth;
	it->audit = r->audit;
}

/* What reading v has of its own, completed by pv's, its nearest covering
 * prefix's (already complete). */
static void fold_reading(struct ug_path_reading *v, const struct ug_path_reading *pv, uint8_t kind)
{
	if (kind == UG_PATH_EXEC) {
		/* No rule of this reading at this path: the covering one decides. */
		if (!v->rule_id) {
			v->rule_id = pv->rule_id;
			v->action = pv->action;
		}
		return;
	}
	if (!v->read_rule)
		v->read_rule = pv->read_rule;
	if (!v->write_rule)
		v->write_rule = pv->write_rule;
	v->deny_access |= pv->deny_access;
}

/*
 * Fold each entry's covering prefixes into it (entries of one kind). In byte order the
 * prefixes covering an entry are exactly those still on the stack, so its parent (the
 * nearest one) already carries everything above it. Own rules are longer than any
 * inherited one, so they name the access they deny; the parent's names the rest.
 */
static int fold(struct ug_path_entry *e, size_t n, const size_t *len)
{
	struct path_fold *f, **stack;
	size_t top = 0;

	if (!n)
		return 0;
	f = calloc(n, sizeof(*f));
	stack = calloc(n, sizeof(*stack));
	if (!f || !stack) {
		free(f);
		free(stack);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		f[i].e = &e[i];
		f[i].len = len[i];
	}
	qsort(f, n, sizeof(*f), path_fold_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ug_path_entry *x = f[i].e;

		while (top && memcmp(stack[top - 1]->e->key.path, x->key.path, stack[top - 1]->len))
			top--;
		if (top) {
			const struct ug_path_val *pv = &stack[top - 1]->e->val;

			fold_reading(&x->val.enforced, &pv->enforced, x->key.kind);
			fold_reading(&x->val.all, &pv->all, x->key.kind);
		}
		stack[top++] = &f[i];
	}
	free(f);
	free(stack);
	return 0;
}

/* Rule it at its own key into reading v: an exec key's first rule decides
 * (it[] is sorted so), a file key's rules add up. */
static void take(struct ug_path_reading *v, const struct path_item *it)
{
	if (it->key.kind == UG_PATH_EXEC) {
		if (!v->rule_id) {
			v->rule_id = it->id;
			v->action = it->action;
		}
		return;
	}
	v->deny_access |= it->access;
	if ((it->access & UG_ACCESS_READ) && !v->read_rule)
		v->read_rule = it->id;
	if ((it->access & UG_ACCESS_WRITE) && !v->write_rule)
		v->write_rule = it->id;
}

int ug_path_compile(const struct ug_path_rule *rules, size_t n_rules, uint16_t trie,
		    struct ug_path_entry **out, size_t *n_out, char *err, size_t errlen)
{
	struct ug_path_entry *res = NULL;
	struct path_item *it = NULL;
	size_t n_e = 0, first_file = 0, *len = NULL;
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
		const char *why = NULL, *problem = path_rule_problem(&rules[i], &why);

		if (problem && why)
			set_err(err, errlen, "rule %lld: %s: %s", (long long)rules[i].id, problem, why);
		else if (problem)
			set_err(err, errlen, "rule %lld: %s", (long long)rules[i].id, problem);
		if (problem)
			return -EINVAL;
	}

	it = calloc(n_rules, sizeof(*it));
	/* calloc(): padding and the path bytes after the key stay zero. */
	res = calloc(n_rules, sizeof(*res));
	len = calloc(n_rules, sizeof(*len));
	if (!it || !res || !len) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_rules; i++)
		path_item_init(&it[i], &rules[i], trie);
	/* Sorted by key, exec before file, and within a key the deciding rule first. */
	qsort(it, n_rules, sizeof(*it), path_item_cmp);

	for (size_t i = 0; i < n_rules; i++) {
		if (!n_e || path_key_cmp(&res[n_e - 1].key, &it[i].key)) {
			res[n_e].key = it[i].key;
			len[n_e] = it[i].len;
			if (it[i].key.kind == UG_PATH_EXEC)
				first_file = n_e + 1;
			n_e++;
		}
		take(&res[n_e - 1].val.all, &it[i]);
		if (!it[i].audit)
			take(&res[n_e - 1].val.enforced, &it[i]);
	}
	r = fold(res, first_file, len);
	if (!r)
		r = fold(res + first_file, n_e - first_file, len + first_file);
	if (r < 0)
		goto out;
	*out = res;
	*n_out = n_e;
	res = NULL;
out:
	if (r == -ENOMEM)
		set_err(err, errlen, "out of memory");
	free(res);
	free(len);
	free(it);
	return r;
}
