// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinned.h"

int ug_pinned_map(const char *pin_dir, const char *name)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/" UG_PIN_MAPS "/%s", pin_dir, name);
	int fd;

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/* One lookup of a per-CPU map: a value per possible CPU, in *out (freed by
 * the caller). libbpf's count, not the online CPUs: the kernel copies out
 * one value per possible CPU. */
static int percpu_lookup(int fd, const void *key, size_t size, void **out, int *ncpu)
{
	void *v;

	*ncpu = libbpf_num_possible_cpus();
	if (*ncpu < 0)
		return *ncpu;
	v = calloc(*ncpu, size);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, v)) {
		int err = -errno;

		free(v);
		return err;
	}
	*out = v;
	return 0;
}

int ug_pinned_sum(int fd, const void *key, uint64_t *sum)
{
	uint64_t *v;
	int ncpu, err;

	err = percpu_lookup(fd, key, sizeof(*v), (void **)&v, &ncpu);
	if (err)
		return err;
	*sum = 0;
	for (int c = 0; c < ncpu; c++)
		*sum += v[c];
	free(v);
	return 0;
}

int ug_pinned_acct(int fd, uint16_t slot, int dir, struct ug_acct_val *sum)
{
	__u32 idx = (__u32)slot * 2 + (__u32)dir;
	struct ug_acct_val *v;
	int ncpu, err;

	err = percpu_lookup(fd, &idx, sizeof(*v), (void **)&v, &ncpu);
	if (err)
		return err;
	memset(sum, 0, sizeof(*sum));
	for (int c = 0; c < ncpu; c++)
		for (int k = 0; k < UG_ACCT_MAX; k++) {
			sum->packets[k] += v[c].packets[k];
			sum->bytes[k] += v[c].bytes[k];
		}
	free(v);
	return 0;
}
