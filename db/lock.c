// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
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

/* The pid an agent wrote into its lock file; 0 if none can be read. */
static pid_t pid_in_file(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long v;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 0 && v < INT32_MAX ? (pid_t)v : 0;
}

int ug_lock_holder(const char *path, pid_t *pid)
{
	struct stat st;
	int fd, held;

	*pid = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* The lock itself tells, on any filesystem; /proc/locks names the
	 * holder where its device numbers are the file's (not on overlayfs). */
	if (!flock(fd, LOCK_SH | LOCK_NB)) {
		flock(fd, LOCK_UN);
		close(fd);
		return 0;
	}
	held = errno == EWOULDBLOCK;
	if (held) {
		if (!fstat(fd, &st) && holder_of(&st) > 0)
			*pid = holder_of(&st);
		else if (!S_ISDIR(st.st_mode))
			*pid = pid_in_file(fd);
	}
	close(fd);
	return held ? 1 : -EIO;
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
	/* Someone asking who holds it takes a shared lock for a moment: wait
	 * that out (half a second), an agent holds it for good. */
	for (int tries = 0; flock(f, LOCK_EX | LOCK_NB); tries++) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		if (err == -EBUSY && tries < 50) {
			usleep(10000);
			continue;
		}
		if (err == -EBUSY && !fstat(f, &st)) {
			*holder = holder_of(&st) > 0 ? holder_of(&st) : 0;
			if (!*holder && !dir)
				*holder = pid_in_file(f);
		}
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
