// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The network loader's state (struct ug_net, net_internal.h) and what reads
 * or ends it as a whole: free, map usage for status, and --detach-all. The
 * loader's jobs are in the net_*.c files: net_open.c (start, adoption,
 * migration), net_apply.c (each generation's map writes), net_lists.c (rule
 * lists and tries), net_attach.c (the programs' links), net_acct.c
 * (accounting, counters, the ring's side).
 */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pins.h"
#include "pinned.h"
#include "net_internal.h"

void ug_net_free(struct ug_net *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < sizeof(net->tp_links) / sizeof(net->tp_links[0]); i++)
		bpf_link__destroy(net->tp_links[i]); /* pinned: stays attached */
	for (size_t i = 0; i < net->n_att; i++)
		for (int p = 0; p < N_PROGS; p++)
			bpf_link__destroy(net->att[i].links[p]); /* pinned: stays attached */
	free(net->att);
	free(net->units);
	free(net->final);
	free(net->stuck);
	ug_bynames_free(&net->pending);
	ug_tries_free(net->tries);
	for (uint32_t i = 0; i < N_LISTS; i++)
		free(net->lists[i]);
	ug_net_bpf__destroy(net->skel);
	free(net);
}

void ug_net_usage(const struct ug_net *net, struct ug_net_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->lpm_used = ug_tries_used(net->tries);
	u->lpm_cap = ug_tries_capacity(net->tries);
	for (uint32_t i = 1; i < N_LISTS; i++)
		u->lists_used += net->lists[i] != NULL;
	u->lists_cap = bpf_map__max_entries(net->skel->maps.ug_lists);
	u->units_used = net->n_units;
	u->units_cap = bpf_map__max_entries(net->skel->maps.ug_units);
	u->tries = ug_tries_count(net->tries);
}

/* Delete every key of a pinned map, if it is there. */
static void empty_pinned(const char *pin_dir, const char *name, size_t key_size)
{
	char key[256], next[256];
	int fd;

	if (key_size > sizeof(key) || (fd = ug_pinned_map(pin_dir, name)) < 0)
		return;
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
	close(fd);
}

int ug_net_detach_all(const char *pin_dir)
{
	char links[PATH_MAX];
	struct dirent *de;
	int err;
	DIR *d;

	/* Older generations moved aside by a migration: detach their links. */
	d = opendir(pin_dir);
	while (d && (de = readdir(d))) {
		char old[PATH_MAX];

		if (!strncmp(de->d_name, UG_PIN_OLD_PREFIX, strlen(UG_PIN_OLD_PREFIX)) &&
		    !ug_pin_path(old, sizeof(old), pin_dir, de->d_name, UG_PIN_LINKS))
			ug_pin_remove_tree(old, true);
	}
	if (d)
		closedir(d);

	/* Programs someone else still holds (systemd's BPFProgram=, a running
	 * agent's tracepoint links) then find no policy and judge nothing. */
	empty_pinned(pin_dir, "ug_pending_net", sizeof(struct ug_pending_key));
	empty_pinned(pin_dir, "ug_units", sizeof(__u64));

	if (ug_pin_path(links, sizeof(links), pin_dir, UG_PIN_LINKS, NULL))
		return -ENAMETOOLONG;
	err = ug_pin_remove_tree(links, true);
	return ug_pin_remove_tree(pin_dir, false) ?: err;
}
