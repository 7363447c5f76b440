// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The LSM hook programs: which of them a policy needs, and attaching and
 * pinning each (under pin_dir/lsm-links, so that enforcement outlives the
 * agent) while some policy in the kernel needs it, detaching it after.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "lsm_hooks.h"
#include "pinned.h"
#include "pins.h"
#include "util.h"

/* Does this policy (as the kernel has it) need hook program p? A switch or
 * family audited needs it as much as one enforced. */
bool lsm_needs(const struct ug_lsm_unit *v, int p)
{
	uint8_t harden = v->harden | v->harden_audit;

	if (v->mode == UG_MODE_OFF)
		return false;
	switch (p) {
	case P_EXEC:
		return v->has_paths & (1u << UG_PATH_EXEC);
	case P_FILE_OPEN:
		return v->has_paths & (1u << UG_PATH_FILE);
	case P_SOCK_CREATE:
		return (v->deny_families | v->audit_families) != 0;
	case P_LOAD_DATA:
	case P_READ_FILE:
		return harden & UG_HARDEN_MODULE_LOAD;
	case P_BPF:
		return harden & UG_HARDEN_BPF;
	case P_PTRACE:
		return harden & UG_HARDEN_PTRACE;
	case P_SB_MOUNT:
	case P_MOVE_MOUNT:
	case P_SB_UMOUNT:
		return harden & UG_HARDEN_MOUNT;
	case P_PIVOT_ROOT:
		return harden & (UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW);
	case P_CHROOT:
	case P_USERNS:
		return harden & UG_HARDEN_PATH_VIEW;
	}
	return false;
}

/* Make program p attached and pinned at pin_dir/lsm-links/<name>. */
static int attach(struct ug_lsm *lsm, int p)
{
	const char *name = bpf_program__name(lsm->progs[p]);
	char dir[PATH_MAX], path[PATH_MAX];
	int err;

	if (!lsm->links[p]) {
		lsm->links[p] = bpf_program__attach_lsm(lsm->progs[p]);
		if (!lsm->links[p]) {
			err = -errno;
			ug_log(LOG_ERR, "lsm: failed to attach %s: %s", name, strerror(-err));
			return err;
		}
		ug_log(LOG_INFO, "lsm: attached %s", name);
	}
	if (lsm->pinned[p])
		return 0;
	/* Not pinned, the program would stop enforcing when the agent exits. */
	if (ug_pin_path(dir, sizeof(dir), lsm->pin_dir, UG_PIN_LSM_LINKS, NULL) ||
	    ug_pin_path(path, sizeof(path), dir, name, NULL))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (!err && bpf_obj_pin(bpf_link__fd(lsm->links[p]), path))
		err = -errno;
	if (err) {
		ug_log(LOG_ERR, "lsm: failed to pin the %s link at %s: %s", name, path,
		       strerror(-err));
		return err;
	}
	lsm->pinned[p] = true;
	return 0;
}

/*
 * LSM links are tracing links: the kernel (6.1 at least) implements neither
 * BPF_LINK_DETACH nor BPF_LINK_UPDATE for them. The program is detached when
 * the last reference goes: the pin and every open descriptor.
 */
static void detach(struct ug_lsm *lsm, int p)
{
	const char *name = bpf_program__name(lsm->progs[p]);
	char path[PATH_MAX];

	if (bpf_link__detach(lsm->links[p]) && errno != EOPNOTSUPP && errno != EINVAL)
		ug_log(LOG_WARNING, "lsm: BPF_LINK_DETACH of %s: %s", name, strerror(errno));
	if (lsm->pinned[p] &&
	    !ug_pin_path(path, sizeof(path), lsm->pin_dir, UG_PIN_LSM_LINKS, name) &&
	    unlink(path) && errno != ENOENT)
		ug_log(LOG_WARNING, "lsm: cannot remove %s: %s", path, strerror(errno));
	bpf_link__destroy(lsm->links[p]);
	lsm->links[p] = NULL;
	lsm->pinned[p] = false;
	ug_log(LOG_INFO, "lsm: detached %s", name);
}

/* need[p] |= some policy in the kernel (a unit's or a pending entry's)
 * needs hook program p. Copies the cgroup_mkdir program made hold a pending
 * entry's policy, so they need nothing more. */
void lsm_state_needs(const struct ug_lsm *lsm, bool need[N_PROGS])
{
	for (int p = 0; p < N_PROGS; p++) {
		for (size_t i = 0; i < lsm->n_units && !need[p]; i++)
			need[p] = lsm_needs(&lsm->units[i].val, p);
		for (size_t i = 0; i < lsm->pending.n && !need[p]; i++)
			need[p] = lsm_needs(&pend(lsm, i)->val, p);
	}
}

/* Attach each program in need[]; errs[p]: why p is not attached, or 0. */
int lsm_attach_hooks(struct ug_lsm *lsm, const bool need[N_PROGS], int errs[N_PROGS])
{
	int first_err = 0;

	for (int p = 0; p < N_PROGS; p++) {
		errs[p] = need[p] ? attach(lsm, p) : 0;
		first_err = first_err ?: errs[p];
	}
	return first_err;
}

/* Detach the programs no policy in the kernel needs. */
void lsm_detach_unneeded(struct ug_lsm *lsm)
{
	bool need[N_PROGS] = {};

	lsm_state_needs(lsm, need);
	for (int p = 0; p < N_PROGS; p++)
		if (!need[p] && lsm->links[p])
			detach(lsm, p);
}

/* Tell a policy (v: as the kernel has it) that a hook it needs is missing. */
void lsm_hook_err(const struct ug_lsm *lsm, const int errs[N_PROGS],
		  const struct ug_lsm_unit *v, struct ug_lsm_unitpol *u)
{
	for (int p = 0; p < N_PROGS && !u->h.err; p++) {
		if (!errs[p] || !lsm_needs(v, p))
			continue;
		u->h.err = errs[p];
		snprintf(u->h.why, sizeof(u->h.why), "%s %s: %s",
			 lsm->links[p] ? "cannot pin" : "cannot attach",
			 bpf_program__name(lsm->progs[p]), strerror(-errs[p]));
	}
}

void ug_lsm_hooks(const struct ug_lsm *lsm, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (int p = 0; p < N_PROGS; p++) {
		int w;

		if (!lsm->links[p])
			continue;
		w = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			     bpf_program__name(lsm->progs[p]));
		if (w < 0 || (size_t)w >= len - off)
			return; /* truncated */
		off += w;
	}
}
