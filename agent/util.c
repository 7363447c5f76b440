// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t ug_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int64_t ug_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ug_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!len)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
	return n;
}

int ug_pin_path(char *buf, size_t len, const char *dir, const char *a, const char *b)
{
	int n = b ? snprintf(buf, len, "%s/%s/%s", dir, a, b) : snprintf(buf, len, "%s/%s", dir, a);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ug_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int ug_ids_alloc(uint8_t *bits, uint32_t first, uint32_t n, uint16_t *id)
{
	for (uint32_t i = first; i < n; i++) {
		if (!ug_ids_test(bits, i)) {
			ug_ids_set(bits, i);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

void ug_ids_set(uint8_t *bits, uint16_t id)
{
	bits[id / 8] |= 1u << (id % 8);
}

void ug_ids_clear(uint8_t *bits, uint16_t id)
{
	bits[id / 8] &= ~(1u << (id % 8));
}

bool ug_ids_test(const uint8_t *bits, uint16_t id)
{
	return bits[id / 8] & (1u << (id % 8));
}

void *ug_push(void **arr, size_t *n, size_t size)
{
	char *a = reallocarray(*arr, *n + 1, size);

	if (!a)
		return NULL;
	*arr = a;
	a += (*n)++ * size;
	memset(a, 0, size);
	return a;
}

/* pid's start in clock ticks since boot (/proc/PID/stat, field 22). */
static int proc_start(uint32_t pid, unsigned long long *ticks)
{
	char path[32], buf[1024];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name (field 2) is in parentheses and may hold anything: the
	 * fields go on after its last ')'. Then state, and 18 numbers. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u"
			 " %*d %*d %*d %*d %*d %*d %llu", ticks) != 1)
		return -EIO;
	return 0;
}

int ug_proc_exe(uint32_t pid, uint64_t start_ns, char *buf, size_t len)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long want, before, after;
	char link[32];
	ssize_t n;
	int err;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	if (!pid || hz <= 0 || len < 2)
		return -EINVAL;
	/* The kernel prints start_boottime in clock ticks, rounded down. */
	want = start_ns / (1000000000ULL / (unsigned long long)hz);
	/* Before and after the link is read: a pid reused in between has
	 * another start. */
	err = proc_start(pid, &before);
	if (err)
		return err;
	if (before != want)
		return -ESRCH;
	snprintf(link, sizeof(link), "/proc/%u/exe", pid);
	n = readlink(link, buf, len - 1);
	if (n < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		buf[0] = '\0';
		return err;
	}
	buf[n] = '\0';
	err = proc_start(pid, &after);
	if (err || after != want) {
		buf[0] = '\0';
		return err ?: -ESRCH;
	}
	return 0;
}
