// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ug_proc_exe() (agent/util.c) on real processes: an LSM audit record names
 * its executable from /proc only while the pid is still the process that was
 * refused (issue 21, item 8: a pid reused by the time the agent reads it
 * must not lend the record another program's name).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

/* pid's start_boottime as the kernel would give it, to the tick. */
static uint64_t start_of(pid_t pid)
{
	unsigned long long ticks = 0;
	char path[32], buf[1024];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	/* Field 22: the space before field N is the (N - 2)th after ')'. */
	for (int i = 0; i < 20; i++) {
		p = strchr(p + 1, ' ');
		assert_non_null(p);
	}
	ticks = strtoull(p + 1, NULL, 10);
	/* A little past the tick's start: the kernel's value rounds down. */
	return ticks * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)) + 1234;
}

static void names_a_live_process(void **state)
{
	char want[PATH_MAX], got[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", want, sizeof(want) - 1);

	(void)state;
	assert_true(n > 0);
	want[n] = '\0';
	assert_int_equal(ug_proc_exe((uint32_t)getpid(), start_of(getpid()), got, sizeof(got)), 0);
	assert_string_equal(got, want);
}

/* The same pid, another start: a process that took the pid since. */
static void refuses_another_start(void **state)
{
	uint64_t tick = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
	char got[PATH_MAX] = "x";

	(void)state;
	assert_int_equal(ug_proc_exe((uint32_t)getpid(), start_of(getpid()) + tick, got,
				     sizeof(got)), -ESRCH);
	assert_string_equal(got, "");
	assert_int_equal(ug_proc_exe((uint32_t)getpid(), start_of(getpid()) - tick, got,
				     sizeof(got)), -ESRCH);
}

static void refuses_a_process_gone(void **state)
{
	char got[PATH_MAX] = "x";
	uint64_t start;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		/* Never outlive a failed test (ctest would wait on its pipe). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	start = start_of(pid);
	assert_int_equal(ug_proc_exe((uint32_t)pid, start, got, sizeof(got)), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(ug_proc_exe((uint32_t)pid, start, got, sizeof(got)), -ESRCH);
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_a_live_process),
		cmocka_unit_test(refuses_another_start),
		cmocka_unit_test(refuses_a_process_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
