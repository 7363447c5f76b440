// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pinned.h"
#include "pins.h"
#include "util.h"

bool ug_map_next(int fd, void *key, size_t key_size, void *val, bool *started)
{
	char next[256];

	if (key_size > sizeof(next))
		return false;
	while (!bpf_map_get_next_key(fd, *started ? key : NULL, next)) {
		memcpy(key, next, key_size);
		*started = true;
		/* Gone since (a cgroup removed meanwhile): on to the next. */
		if (!bpf_map_lookup_elem(fd, key, val))
			return true;
	}
	return false;
}

int ug_pin_opendir(char *buf, size_t len, const char *dir, const char *sub, DIR **d)
{
	*d = NULL;
	if (ug_pin_path(buf, len, dir, sub, NULL))
		return -ENAMETOOLONG;
	*d = opendir(buf);
	return *d || errno == ENOENT ? 0 : -errno;
}

int ug_pin_remove_tree(const char *path, bool links)
{
	struct dirent *de;
	int err = 0;
	DIR *d = opendir(path);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		struct bpf_link *link;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ug_pin_path(child, sizeof(child), path, de->d_name, NULL)) {
			err = -ENAMETOOLONG;
			continue;
		}
		if (lstat(child, &st)) {
			err = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			err = ug_pin_remove_tree(child, links) ?: err;
			continue;
		}
		link = links ? bpf_link__open(child) : NULL;
		if (link) {
			if (bpf_link__detach(link) && errno != EOPNOTSUPP && errno != EINVAL)
				err = -errno;
			bpf_link__destroy(link);
		}
		if (unlink(child))
			err = -errno;
	}
	closedir(d);
	if (rmdir(path) && errno != ENOENT)
		err = -errno;
	return err;
}

struct drain {
	bool headed;
	uint64_t *n;
};

static int count_record(void *ctx, void *data, size_t len)
{
	const struct drain *d = ctx;
	struct ug_record_head h;

	/* A headed record too short for its head, or counting none, is not
	 * ours to trust: it still stands for one denial at least. */
	if (d->headed && len >= sizeof(h)) {
		memcpy(&h, data, sizeof(h));
		*d->n += h.count ? h.count : 1;
	} else {
		*d->n += 1;
	}
	return 0;
}

int ug_pin_ring_drain(const char *path, bool headed, uint64_t *n)
{
	struct drain d = { .headed = headed, .n = n };
	struct ring_buffer *rb;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rb = ring_buffer__new(fd, count_record, &d, NULL);
	err = rb ? ring_buffer__consume(rb) : -errno;
	ring_buffer__free(rb);
	close(fd);
	return err < 0 ? err : 0;
}

int ug_pin_flush(const char *pin_dir, const char *ring, int prog_fd)
{
	char path[PATH_MAX];
	int err = ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_FLUSH, NULL) ?: ug_mkdir_p(path);

	if (!err)
		err = ug_pin_path(path, sizeof(path), pin_dir, UG_PIN_FLUSH, ring);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return bpf_obj_pin(prog_fd, path) ? -errno : 0;
}
