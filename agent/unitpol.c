// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "log.h"
#include "pins.h"
#include "unitguard.h"
#include "unitpol.h"
#include "util.h"

/* One writer for both config maps: they must stay alike. */
_Static_assert(sizeof(struct ug_config) == sizeof(struct ug_lsm_config) &&
		       offsetof(struct ug_config, level_mask) ==
			       offsetof(struct ug_lsm_config, level_mask),
	       "ug_config and ug_lsm_config must share their layout");

void ug_unitpol_reset(struct ug_unitpol *u)
{
	u->err = 0;
	u->why[0] = '\0';
}

static uint32_t begin(void *first, size_t n, size_t size, int *first_err)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < n; i++) {
		struct ug_unitpol *u = (struct ug_unitpol *)((char *)first + i * size);

		ug_unitpol_reset(u);
		if (u->cg.level >= 0 && u->cg.level < UG_MAX_LEVELS)
			mask |= 1u << u->cg.level;
		else
			ug_unitpol_fail(u, -E2BIG, first_err,
					"its cgroup is at level %d; at most level %d is supported",
					u->cg.level, UG_MAX_LEVELS - 1);
	}
	return mask;
}

int ug_unitpol_fail(struct ug_unitpol *u, int err, int *first_err, const char *fmt, ...)
{
	va_list ap;

	u->err = err;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(u->why, sizeof(u->why), fmt, ap);
		va_end(ap);
	} else if (!u->why[0]) {
		snprintf(u->why, sizeof(u->why), "%s", strerror(-err));
	}
	if (!*first_err)
		*first_err = err;
	return err;
}

bool ug_unitpol_kept(struct ug_unitpol *u, bool loaded, int *first_err)
{
	if (loaded)
		return true;
	/* The caller thought this was in force already. */
	ug_unitpol_fail(u, -ESTALE, first_err, "its policy must be compiled again");
	return false;
}

struct ug_unitstate *ug_unitstate_find(void *arr, size_t n, size_t size, uint64_t cgid)
{
	for (size_t i = 0; i < n; i++) {
		struct ug_unitstate *s = (struct ug_unitstate *)((char *)arr + i * size);

		if (s->cgid == cgid)
			return s;
	}
	return NULL;
}

struct ug_unitstate *ug_unitstate_get(void **arr, size_t *n, size_t size, uint64_t cgid)
{
	struct ug_unitstate *s = ug_unitstate_find(*arr, *n, size, cgid);

	if (!s && (s = ug_push(arr, n, size))) {
		s->cgid = cgid;
		s->level = -1;
	}
	return s;
}

int ug_unitstates_adopt(int fd, size_t val_size, void **arr, size_t *n, size_t size,
			struct ug_tries *tries,
			void (*fill)(void *ctx, struct ug_unitstate *s, const void *val), void *ctx,
			uint32_t *generation)
{
	_Alignas(8) char val[256];
	bool started = false;
	uint64_t cgid;

	if (val_size > sizeof(val))
		return -E2BIG;
	while (ug_map_next(fd, &cgid, sizeof(cgid), val, &started)) {
		struct ug_unitstate *s = ug_unitstate_get(arr, n, size, cgid);

		if (!s)
			return -ENOMEM;
		snprintf(s->target, sizeof(s->target), "cgroup:%" PRIu64, cgid);
		fill(ctx, s, val);
		ug_tries_claim(tries, s->trie);
		if (s->generation > *generation)
			*generation = s->generation;
	}
	return 0;
}

int ug_unitpols_apply(void *first, size_t n, size_t size, uint32_t generation,
		      uint32_t more_levels, const struct ug_unitpol_ops *ops,
		      const struct ug_unitpol_env *env, size_t *written, int *first_err)
{
	uint32_t mask = begin(first, n, size, first_err) | more_levels;
	void *ctx = env->ctx;
	int n_changed = 0, err;

	err = ug_level_mask_set(env->cfg_fd, env->level_mask, *env->level_mask | mask);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		struct ug_unitpol *u = (struct ug_unitpol *)((char *)first + i * size);
		size_t n_rules = *(const size_t *)((const char *)u + ops->n_rules_at), w = 0;
		struct ug_unitstate *s;

		if (u->err) /* refused by begin() */
			continue;
		err = ops->get(ctx, u, &s);
		if (err) {
			ug_unitpol_fail(u, err, first_err, NULL);
			continue;
		}
		s->seen = true;
		snprintf(s->target, sizeof(s->target), "%s", u->target);
		s->level = u->cg.level;
		u->generation = s->generation;
		if (u->keep) {
			ug_unitpol_kept(u, s->loaded, first_err);
			continue;
		}
		if (s->loaded && ops->same(ctx, s, u))
			continue;
		err = ops->update(ctx, s, u, generation, &w);
		if (err) {
			ug_unitpol_fail(u, err, first_err, NULL);
			ug_log(LOG_ERR, "%s: %s: cannot load its %zu %s: %s; its previous policy "
			       "stays in force", ops->side, u->target, n_rules, ops->rules, u->why);
			continue;
		}
		n_changed++;
		*written += w;
		u->generation = s->generation;
		ug_log(LOG_INFO, "%s: %s: generation %u, %zu %s, %zu trie entries", ops->side,
		       u->target, generation, n_rules, ops->rules,
		       ug_tries_size(env->tries, s->trie));
	}
	return n_changed;
}

int ug_unitpols_narrow(const struct ug_unitpol_env *env, const void *first, size_t n, size_t size,
		       uint32_t more_levels)
{
	uint32_t mask = more_levels;

	for (size_t i = 0; i < n; i++) {
		const struct ug_unitstate *s =
			(const struct ug_unitstate *)((const char *)first + i * size);

		mask |= s->level >= 0 && s->level < UG_MAX_LEVELS ? 1u << s->level
								   : *env->level_mask;
	}
	return ug_level_mask_set(env->cfg_fd, env->level_mask, mask);
}

int ug_level_mask_set(int cfg_fd, uint32_t *cached, uint32_t mask)
{
	struct ug_config cfg;
	__u32 zero = 0;

	/* What else the entry holds (ug_config.gen) is written back as read:
	 * unreadable, nothing is written. */
	if (bpf_map_lookup_elem(cfg_fd, &zero, &cfg))
		return -errno;
	mask |= cfg.level_mask & ~*cached;
	if (mask == *cached)
		return 0;
	cfg.level_mask = mask;
	if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY))
		return -errno;
	*cached = mask;
	return 0;
}

void ug_level_mask_adopt(int cfg_fd, uint32_t *cached)
{
	struct ug_config cfg;
	__u32 zero = 0;

	if (!bpf_map_lookup_elem(cfg_fd, &zero, &cfg))
		*cached = cfg.level_mask;
}
