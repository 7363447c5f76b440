// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"

/* The loaders' requests, and the group each came from. */
struct requests {
	struct ug_net_unit *nu;
	struct ug_net_pending *np;
	struct ug_lsm_unitpol *lu;
	struct ug_lsm_pending *lp;
	struct ug_net_point *pts;
	size_t n_nu, n_np, n_lu, n_lp;
	size_t *nu_g, *np_g, *lu_g, *lp_g;
};

static void requests_free(struct requests *r, size_t n_groups)
{
	free(r->nu);
	free(r->np);
	free(r->lu);
	free(r->lp);
	free(r->pts);
	free(r->nu_g);
	free(r->np_g);
	free(r->lu_g);
	free(r->lp_g);
}

static void head(struct ug_unitpol *h, const struct ug_plan_target *rt,
		 const struct ug_plan_group *g, uint8_t mode)
{
	h->target = rt->name;
	h->cg.id = rt->at.id;
	h->cg.level = rt->at.level;
	h->mode = mode;
	h->keep = !g->dirty;
}

static void net_pol(struct ug_net_unit *u, const struct ug_plan_target *rt,
		    const struct ug_plan_group *g)
{
	head(&u->h, rt, g, g->eff.mode);
	u->deny_default = g->eff.deny_default;
	u->audit_default = g->eff.audit_default;
	u->rules = g->net.rules;
	u->n_rules = g->net.n_rules;
}

/* The LSM programs take a mode per rule as the network ones do: what a cgroup
 * in audit mode brings is recorded, never refused (lsm.bpf.c, refuse()). */
static void lsm_pol(struct ug_lsm_unitpol *u, const struct ug_plan_target *rt,
		    const struct ug_plan_group *g)
{
	head(&u->h, rt, g, g->eff.lsm_mode);
	u->harden = g->eff.harden;
	u->harden_audit = g->eff.harden_audit;
	u->deny_families = g->eff.families;
	u->audit_families = g->eff.families_audit;
	u->paths = g->lsm.rules;
	u->n_paths = g->lsm.n_rules;
}

static int requests_build(const struct ug_plan *p, const struct ug_plan_target *t, bool lsm,
			  struct requests *r)
{
	size_t n = p->n_groups ?: 1;

	r->nu = calloc(n, sizeof(*r->nu));
	r->np = calloc(n, sizeof(*r->np));
	r->lu = calloc(n, sizeof(*r->lu));
	r->lp = calloc(n, sizeof(*r->lp));
	r->pts = calloc(p->n_points ?: 1, sizeof(*r->pts));
	r->nu_g = calloc(n, sizeof(size_t));
	r->np_g = calloc(n, sizeof(size_t));
	r->lu_g = calloc(n, sizeof(size_t));
	r->lp_g = calloc(n, sizeof(size_t));
	if (!r->nu || !r->np || !r->lu || !r->lp || !r->pts || !r->nu_g || !r->np_g ||
	    !r->lu_g || !r->lp_g)
		return -ENOMEM;
	for (size_t k = 0; k < p->n_groups; k++) {
		const struct ug_plan_group *g = &p->groups[k];
		const struct ug_plan_target *rt = &t[g->rep];

		if (g->net.run) {
			net_pol(&r->nu[r->n_nu], rt, g);
			r->nu_g[r->n_nu++] = k;
		}
		if (g->net.pend) {
			struct ug_net_pending *pn = &r->np[r->n_np];

			pn->name = g->pend_name;
			pn->parent_cgid = g->pend_parent;
			pn->level = g->pend_level;
			pn->via = g->pend_via[0] ? g->pend_via : NULL;
			net_pol(&pn->pol, rt, g);
			r->np_g[r->n_np++] = k;
		}
		if (lsm && g->lsm.run) {
			lsm_pol(&r->lu[r->n_lu], rt, g);
			r->lu_g[r->n_lu++] = k;
		}
		if (lsm && g->lsm.pend) {
			struct ug_lsm_pending *pl = &r->lp[r->n_lp];

			pl->name = g->pend_name;
			pl->parent_cgid = g->pend_parent;
			pl->level = g->pend_level;
			pl->via = g->pend_via[0] ? g->pend_via : NULL;
			lsm_pol(&pl->pol, rt, g);
			r->lp_g[r->n_lp++] = k;
		}
	}
	for (size_t k = 0; k < p->n_points; k++)
		r->pts[k] = (struct ug_net_point){ .id = p->points[k].id, .path = p->points[k].path };
	return 0;
}

/* One request's outcome into its group's, the first error of a kind kept. */
static void took(int *err, char *why, size_t len, const struct ug_unitpol *h, bool *stale)
{
	*stale |= h->err == -ESTALE;
	if (*err || !h->err)
		return;
	*err = h->err;
	snprintf(why, len, "%s", h->why);
}

int ug_apply(struct ug_net *net, struct ug_lsm *lsm, const struct ug_plan *p,
	     const struct ug_plan_target *t, uint32_t generation, struct ug_apply_out *out)
{
	struct requests r = {};
	int err;

	memset(out, 0, sizeof(*out));
	out->g = calloc(p->n_groups ?: 1, sizeof(*out->g));
	err = out->g ? requests_build(p, t, lsm, &r) : -ENOMEM;
	if (err) {
		requests_free(&r, p->n_groups);
		ug_apply_out_free(out);
		return err;
	}
	/* By name first: a running cgroup shares its pending accounting slot. */
	err = ug_net_apply_pending(net, r.np, r.n_np, generation);
	if (lsm)
		err = ug_lsm_apply_pending(lsm, r.lp, r.n_lp, generation) ?: err;
	err = ug_net_apply(net, r.nu, r.n_nu, r.pts, p->n_points, generation) ?: err;
	if (lsm)
		err = ug_lsm_apply(lsm, r.lu, r.n_lu, generation) ?: err;
	out->err = err;
	out->changed = ug_net_units_changed(net) + ug_net_pending_changed(net);
	if (lsm)
		out->changed += ug_lsm_units_changed(lsm) + ug_lsm_pending_changed(lsm);

	for (size_t k = 0; k < r.n_np; k++) {
		struct ug_applied *a = &out->g[r.np_g[k]];

		took(&a->pend_err, a->pend_why, sizeof(a->pend_why), &r.np[k].pol.h, &out->stale);
	}
	for (size_t k = 0; k < r.n_lp; k++) {
		struct ug_applied *a = &out->g[r.lp_g[k]];

		took(&a->pend_err, a->pend_why, sizeof(a->pend_why), &r.lp[k].pol.h, &out->stale);
	}
	for (size_t k = 0; k < r.n_nu; k++) {
		struct ug_applied *a = &out->g[r.nu_g[k]];

		took(&a->net_err, a->net_why, sizeof(a->net_why), &r.nu[k].h, &out->stale);
		if (!r.nu[k].h.err)
			a->generation = r.nu[k].h.generation;
	}
	for (size_t k = 0; k < r.n_lu; k++) {
		struct ug_applied *a = &out->g[r.lu_g[k]];

		took(&a->lsm_err, a->lsm_why, sizeof(a->lsm_why), &r.lu[k].h, &out->stale);
		if (!r.lu[k].h.err && r.lu[k].h.generation > a->generation)
			a->generation = r.lu[k].h.generation;
	}
	/* A point that could not be had: every group it serves is refused. */
	for (size_t k = 0; k < p->n_points; k++) {
		if (!r.pts[k].err)
			continue;
		for (size_t g = 0; g < p->n_groups; g++) {
			struct ug_applied *a = &out->g[g];

			if (p->groups[g].point != (ssize_t)k || a->net_err)
				continue;
			a->net_err = r.pts[k].err;
			snprintf(a->net_why, sizeof(a->net_why), "cannot attach the programs at %s: %s",
				 r.pts[k].path, strerror(-r.pts[k].err));
		}
	}
	requests_free(&r, p->n_groups);
	return 0;
}

void ug_apply_out_free(struct ug_apply_out *out)
{
	free(out->g);
	out->g = NULL;
}
