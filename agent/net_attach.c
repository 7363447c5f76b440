// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The programs' links: the cgroup programs attached and pinned at each
 * attachment point (and detached from points no longer wanted), the
 * cgroup_mkdir/rmdir tracepoints switched over without a gap, and the
 * program pins of earlier builds removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "log.h"
#include "pins.h"
#include "pinned.h"
#include "net_internal.h"

int net_prog_index(const struct ug_net *net, const char *name)
{
	for (int i = 0; i < N_PROGS; i++)
		if (!strcmp(bpf_program__name(net->progs[i]), name))
			return i;
	return -1;
}

struct attachment *net_att_find(struct ug_net *net, uint64_t cgid)
{
	for (size_t i = 0; i < net->n_att; i++)
		if (net->att[i].cgid == cgid)
			return &net->att[i];
	return NULL;
}

struct attachment *net_att_add(struct ug_net *net, uint64_t cgid)
{
	struct attachment *a = ug_push((void **)&net->att, &net->n_att, sizeof(*a));

	if (a)
		a->cgid = cgid;
	return a;
}

/*
 * The cgroup_mkdir/rmdir programs run for every cgroup on the host and must
 * keep running while the agent is down, so their links are pinned. A
 * restarted agent attaches its own copy first, moves the pin over to it, and
 * only then lets the old link go: no moment without one. (Tracing links
 * cannot be switched to another program in place on 6.1.)
 */
int net_attach_tracepoints(struct ug_net *net)
{
	struct bpf_program *tps[] = { net->skel->progs.ug_cgroup_mkdir,
				      net->skel->progs.ug_cgroup_rmdir };
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int err;

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_TP_LINKS, NULL))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		const char *name = bpf_program__name(tps[i]);
		struct bpf_link *old, *link;

		if (ug_pin_path(path, sizeof(path), dir, name, NULL) ||
		    /* bpffs refuses names with a dot */
		    (size_t)snprintf(tmp, sizeof(tmp), "%s_new", path) >= sizeof(tmp))
			return -ENAMETOOLONG;
		/* None on first start: a normal state, not a libbpf error. */
		old = access(path, F_OK) ? NULL : bpf_link__open(path);
		link = bpf_program__attach(tps[i]);
		if (!link) {
			err = -errno;
			ug_log(LOG_ERR, "net: failed to attach %s: %s", name, strerror(-err));
			bpf_link__destroy(old);
			return err;
		}
		unlink(tmp);
		err = bpf_link__pin(link, tmp);
		if (!err && rename(tmp, path))
			err = -errno;
		if (err) {
			ug_log(LOG_ERR, "net: failed to pin %s: %s", path, strerror(-err));
			bpf_link__destroy(link);
			bpf_link__destroy(old);
			return err;
		}
		net->tp_links[i] = link;
		bpf_link__destroy(old); /* its pin is gone: this frees it */
	}
	return 0;
}

/*
 * Earlier builds pinned the programs under progs/ for systemd's BPFProgram=
 * drop-ins. Programs are now attached by the agent only (at the parents of
 * guarded units), so a stale copy there could only be attached a second
 * time by a unit that still has an old drop-in: remove it.
 */
const char *const ug_net_prog_names = "connect4,connect6,sendmsg4,sendmsg6,bind4,bind6,"
				       "egress_skb,ingress_skb";

void net_unpin_old_programs(struct ug_net *net)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_PROGS, NULL) || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !ug_pin_path(path, sizeof(path), dir, de->d_name, NULL))
			unlink(path);
	closedir(d);
	rmdir(dir);
}

/* Attach every program at a point (pinned, so it outlives the agent). */
int net_attach(struct ug_net *net, struct ug_net_point *pt)
{
	char dir[PATH_MAX], path[PATH_MAX], id[32];
	struct attachment *a = net_att_find(net, pt->id);
	int cgfd, err = 0;
	struct stat sb;

	if (!a && !(a = net_att_add(net, pt->id)))
		return -ENOMEM;
	snprintf(id, sizeof(id), "%" PRIu64, pt->id);
	if (ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_LINKS, id))
		return -ENAMETOOLONG;
	err = ug_mkdir_p(dir);
	if (err)
		return err;
	cgfd = open(pt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -errno;
	/* The cgroup opened must be the one planned: one removed and made again
	 * under the same path since is another cgroup (the next pass sees it).
	 * The programs go on what cgfd is, whatever the path is by then. */
	if (fstat(cgfd, &sb))
		err = -errno;
	else if (sb.st_ino != pt->id)
		err = -ESTALE;
	if (err) {
		close(cgfd);
		if (err == -ESTALE)
			ug_log(LOG_WARNING, "net: %s is not cgroup %" PRIu64 " any more: not attached "
			       "there", pt->path, pt->id);
		return err;
	}
	for (int i = 0; i < N_PROGS; i++) {
		if (a->links[i])
			continue;
		a->links[i] = bpf_program__attach_cgroup(net->progs[i], cgfd);
		if (!a->links[i]) {
			err = -errno;
			ug_log(LOG_ERR, "net: failed to attach %s to %s: %s",
			       bpf_program__name(net->progs[i]), pt->path, strerror(-err));
			break;
		}
		if (ug_pin_path(path, sizeof(path), dir, bpf_program__name(net->progs[i]), NULL) ||
		    (err = bpf_link__pin(a->links[i], path))) {
			err = err ?: -ENAMETOOLONG;
			ug_log(LOG_ERR, "net: failed to pin link at %s: %s", path, strerror(-err));
			break;
		}
		ug_log(LOG_DEBUG, "net: attached %s to %s", bpf_program__name(net->progs[i]),
		       pt->path);
	}
	close(cgfd);
	return err;
}

void net_detach(struct ug_net *net, struct attachment *a)
{
	char dir[PATH_MAX], id[32];

	for (int i = 0; i < N_PROGS; i++) {
		if (!a->links[i])
			continue;
		bpf_link__unpin(a->links[i]);
		bpf_link__destroy(a->links[i]);
		a->links[i] = NULL;
	}
	snprintf(id, sizeof(id), "%" PRIu64, a->cgid);
	if (!ug_pin_path(dir, sizeof(dir), net->pin_dir, UG_PIN_LINKS, id))
		rmdir(dir);
	ug_log(LOG_INFO, "net: detached from cgroup %" PRIu64, a->cgid);
}
