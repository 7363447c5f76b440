// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lock.h"

int ug_lock_path(const char *db_path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.lock", db_path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * /proc/locks lines: "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (the
 * device in hex major:minor, the inode in decimal). Reading it takes no lock,
 * so asking never disturbs an agent that is starting.
 */
static pid_t holder_of(const struct stat *st)
{
	char line[256], kind[16], dev[32];
	pid_t found = 0;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long ino;
		long pid;

		if (sscanf(line, "%*[^:]: %15s %*s %*s %ld %31s", kind, &pid, dev) != 3 ||
		    strcmp(kind, "FLOCK") || sscanf(dev, "%x:%x:%llu", &maj, &min, &ino) != 3)
			continue;
		if (ino == st->st_ino && makedev(maj, min) == st->st_dev && pid > 0) {
			found = (pid_t)pid;
			break;
		}
	}
	fclose(f);
	return found;
}

pid_t ug_lock_holder(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	return holder_of(&st);
}

int ug_lock_take(const char *path, bool dir, int *fd, pid_t *holder)
{
	struct stat st;
	char pid[32];
	int f, n;

	*holder = 0;
	f = dir ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		: open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		if (err == -EBUSY && !fstat(f, &st) && holder_of(&st) > 0)
			*holder = holder_of(&st);
		close(f);
		return err;
	}
	if (!dir) {
		/* For people reading the file; the lock itself is what counts. */
		n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (ftruncate(f, 0) || pwrite(f, pid, n, 0) != n) {
			int err = -errno;

			close(f);
			return err;
		}
	}
	*fd = f;
	return 0;
}
