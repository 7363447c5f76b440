// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening the store, and waiting until the agent has put a write in force.
 */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "lock.h"

int open_store(unsigned flags, struct ug_store **st)
{
	char errbuf[256];
	int err = ug_store_open(arg_db_path, flags, st, errbuf, sizeof(errbuf));

	struct stat sb;

	if (err == -ENOENT && !(flags & UG_STORE_CREATE)) {
		/* An empty file is left as it is: only a writer makes it a store. */
		fprintf(stderr, "unitguardctl: no store at %s%s (unitguardd creates it on start)\n",
			arg_db_path, !stat(arg_db_path, &sb) ? ": the file is empty" : "");
		return 1;
	}
	if (err) {
		fprintf(stderr, "unitguardctl: cannot open the store %s: %s\n", arg_db_path,
			errbuf);
		return 1;
	}
	return 0;
}

/* An existing store, read-only; *st NULL when there is none yet. 0, or -1 (the reason printed). */
int open_store_if_any(struct ug_store **st)
{
	char errbuf[256];
	int err = ug_store_open(arg_db_path, UG_STORE_READONLY, st, errbuf, sizeof(errbuf));

	if (err == -ENOENT) {
		*st = NULL;
		return 0;
	}
	if (err) {
		fprintf(stderr, "unitguardctl: cannot open the store %s: %s\n", arg_db_path,
			errbuf);
		return -1;
	}
	return 0;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Pid of the agent holding the store's lock; 0 when none runs. */
pid_t agent_pid(void)
{
	char path[PATH_MAX];
	pid_t pid;

	if (ug_lock_path(arg_db_path, path, sizeof(path)) || ug_lock_holder(path, &pid) != 1)
		return 0;
	return pid > 0 ? pid : INT32_MAX; /* running, pid unknown */
}

struct outcome {
	const char *const *targets;
	size_t n;
	int rc;
};

static int check_outcome(const struct ug_store_status *s, void *ctx)
{
	struct outcome *o = ctx;
	struct esc e = { 0 };
	bool mine = false;

	for (size_t i = 0; i < o->n && !mine; i++)
		mine = !strcmp(o->targets[i], s->target);
	if (!mine || !s->state || !strcmp(s->state, "enforced"))
		return 0;
	if (!strcmp(s->state, "waiting")) {
		fprintf(stderr, "unitguardctl: %s: %s\n", esc(&e, s->target),
			esc(&e, s->reason) ?: "not running");
		esc_free(&e);
		return 0;
	}
	fprintf(stderr, "unitguardctl: %s: NOT %sin force (%s): %s\n", esc(&e, s->target),
		strcmp(s->state, "partial") ? "" : "fully ", esc(&e, s->state),
		esc(&e, s->reason) ?: "no reason given");
	esc_free(&e);
	o->rc = EXIT_NOT_IN_FORCE;
	return 0;
}

/*
 * The write is committed: wait until the agent acknowledges a policy version
 * at least as new (agent_state.applied_version, written at the end of the
 * pass that put it in the kernel), then report what it says of the targets
 * this command touched. Never a guess: no agent, no acknowledgement. done:
 * what the command did to the store, for the reports (NULL: it wrote).
 */
int in_force(struct ug_store *st, const char *const *targets, size_t n, const char *done)
{
	int64_t want, deadline = mono_us() + (int64_t)(arg_timeout * 1e6), sleep_us = 1000;
	struct outcome o = { .targets = targets, .n = n };
	char buf[32], lock[PATH_MAX];
	pid_t pid;
	int err;

	if (arg_no_wait)
		return 0;
	done = done ?: "written to the store";
	ug_lock_path(arg_db_path, lock, sizeof(lock));
	err = ug_store_policy_version(st, &want);
	if (err) {
		fprintf(stderr, "unitguardctl: %s, but cannot read the policy version back: "
			"%s\n", done, ug_store_errmsg(st));
		return EXIT_NOT_IN_FORCE;
	}
	for (;;) {
		pid = agent_pid();
		if (!pid) {
			fprintf(stderr, "unitguardctl: %s, but NOT in force: unitguardd is not "
				"running (nothing holds %s)\n", done, lock);
			return EXIT_NOT_IN_FORCE;
		}
		if (!ug_store_agent_get(st, "applied_version", buf, sizeof(buf)) &&
		    strtoll(buf, NULL, 10) >= want)
			break;
		if (mono_us() >= deadline) {
			fprintf(stderr, "unitguardctl: %s, but unitguardd (pid %d) did not "
				"confirm it in force within %g s (--timeout)\n", done, (int)pid,
				arg_timeout);
			return EXIT_NOT_IN_FORCE;
		}
		usleep(sleep_us);
		if (sleep_us < 20000)
			sleep_us *= 2;
	}
	if (n && ug_store_status_list(st, check_outcome, &o)) {
		fprintf(stderr, "unitguardctl: in force, but cannot read status: %s\n",
			ug_store_errmsg(st));
		return EXIT_NOT_IN_FORCE;
	}
	return o.rc;
}
