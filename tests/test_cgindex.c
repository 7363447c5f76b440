// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The cgroup index (agent/cgindex.c) on a directory tree of its own: real
 * directories, real inotify, a real descriptor limit, a real inotify watch
 * limit (in a user namespace of the test's own). What cgroup2 adds (mkdir
 * and rmdir only, no renames) holds for these trees too. The delegation
 * cases chown directories and need root; they skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgindex.h"

#define NOBODY 65534

struct seen {
	char path[64][PATH_MAX];
	bool added[64];
	size_t n;
};

struct fx {
	char root[PATH_MAX];
	struct seen seen;
	struct ug_cgindex *x;
};

static void on_node(void *ctx, const struct ug_cgnode *n, bool added)
{
	struct seen *s = ctx;

	if (s->n < 64) {
		if ((size_t)snprintf(s->path[s->n], sizeof(s->path[s->n]), "%s", n->path) >=
		    sizeof(s->path[s->n]))
			return;
		s->added[s->n++] = added;
	}
}

static const char *at(struct fx *f, const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	if ((size_t)snprintf(buf[k], sizeof(buf[k]), "%s%s%s", f->root, rel[0] ? "/" : "", rel) >=
	    sizeof(buf[k]))
		fail();
	return buf[k];
}

static void mk(struct fx *f, const char *rel)
{
	assert_int_equal(mkdir(at(f, rel), 0755), 0);
}

static void rm(struct fx *f, const char *rel)
{
	assert_int_equal(rmdir(at(f, rel)), 0);
}

/* Was rel reported added (or removed), and at which position? -1: not. */
static int reported(struct fx *f, const char *rel, bool added)
{
	const char *p = at(f, rel);

	for (size_t i = 0; i < f->seen.n; i++)
		if (f->seen.added[i] == added && !strcmp(f->seen.path[i], p))
			return (int)i;
	return -1;
}

static bool indexed(struct fx *f, const char *rel)
{
	return ug_cgindex_by_path(f->x, at(f, rel)) != NULL;
}

/* inotify watches the index holds, as the kernel lists them. */
static int watches(struct fx *f)
{
	char path[64], line[512];
	int n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ug_cgindex_fd(f->x));
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += !strncmp(line, "inotify wd:", 11);
	fclose(fp);
	return n;
}

/* A tree: a, a/b, a/b/c, s. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/ug-cgindex.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	*state = f;
	mk(f, "a");
	mk(f, "a/b");
	mk(f, "a/b/c");
	mk(f, "s");
	return 0;
}

static void rm_tree(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", path);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ug_cgindex_free(f->x);
	rm_tree(f->root);
	free(f);
	return 0;
}

static void start(struct fx *f)
{
	assert_int_equal(ug_cgindex_new(f->root, on_node, &f->seen, &f->x), 0);
	f->seen.n = 0;
}

static void test_events(void **state)
{
	struct fx *f = *state;

	start(f);
	assert_int_equal(ug_cgindex_count(f->x), 5);
	assert_true(indexed(f, "a/b/c"));
	mk(f, "a/d");
	mk(f, "a/d/e");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_true(reported(f, "a/d", true) >= 0);
	assert_true(indexed(f, "a/d/e"));
	rm(f, "a/d/e");
	rm(f, "a/d");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_false(indexed(f, "a/d"));
	assert_false(indexed(f, "a/d/e"));
	assert_true(reported(f, "a/d", false) >= 0);
	assert_true(ug_cgindex_absent(f->x, at(f, "a/d")));
	assert_int_equal(ug_cgindex_walks(f->x), 1);
}

/* Descriptors run out while the tree is walked again (after lost events):
 * nothing is dropped; the directory is read again once it can be, and then
 * what changed meanwhile is reported. */
static void test_unreadable_is_unknown(void **state)
{
	struct fx *f = *state;
	struct rlimit old, tight;
	int fd, err;

	start(f);
	/* The lowest free descriptor becomes the limit: nothing more opens. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = old;
	tight.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	rm(f, "a/b/c");
	mk(f, "s/t");
	ug_cgindex_rewalk(f->x);
	ug_cgindex_tick(f->x); /* still no descriptor: still unknown */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(f->seen.n, 0);
	assert_int_equal(ug_cgindex_count(f->x), 5);
	assert_true(indexed(f, "a/b/c"));
	assert_int_equal(ug_cgindex_unread(f->x, &err), 1);
	assert_int_equal(err, EMFILE);
	/* What the index does not have is not known to be absent meanwhile. */
	assert_false(ug_cgindex_absent(f->x, at(f, "s/t")));

	ug_cgindex_tick(f->x);
	assert_int_equal(ug_cgindex_unread(f->x, &err), 0);
	assert_int_equal(err, 0);
	assert_false(indexed(f, "a/b/c"));
	assert_true(reported(f, "a/b/c", false) >= 0);
	assert_true(indexed(f, "s/t"));
	assert_int_equal(ug_cgindex_count(f->x), 5);
}

/* What a complete listing does not find is gone, with what was below it
 * (children reported first); a directory made again under the same name is
 * a new cgroup. */
static void test_gone_is_gone(void **state)
{
	struct fx *f = *state;
	const struct ug_cgnode *n;
	uint64_t old_id;

	start(f);
	old_id = ug_cgindex_by_path(f->x, at(f, "s"))->id;
	/* Events are not read: the walk alone must tell. */
	rm(f, "a/b/c");
	rm(f, "a/b");
	rm(f, "s");
	mk(f, "s");
	ug_cgindex_rewalk(f->x);
	assert_true(reported(f, "a/b/c", false) >= 0);
	assert_true(reported(f, "a/b/c", false) < reported(f, "a/b", false));
	assert_false(indexed(f, "a/b"));
	n = ug_cgindex_by_path(f->x, at(f, "s"));
	assert_non_null(n);
	assert_true(n->id != old_id);
	assert_null(ug_cgindex_by_id(f->x, old_id));
	assert_true(reported(f, "s", false) >= 0 && reported(f, "s", true) >= 0);
	assert_int_equal(ug_cgindex_count(f->x), 3);
	assert_int_equal(ug_cgindex_walks(f->x), 2);
}

/* A delegated user's subtree: its top is indexed, nothing below it, and
 * none of it is watched; what its user does there costs root nothing. */
static void test_delegated(void **state)
{
	struct fx *f = *state;
	const struct ug_cgnode *u;
	int w;

	if (geteuid())
		skip();
	mk(f, "a/u");
	mk(f, "a/u/x");
	assert_int_equal(chown(at(f, "a/u"), NOBODY, NOBODY), 0);
	assert_int_equal(chown(at(f, "a/u/x"), NOBODY, NOBODY), 0);
	start(f);
	u = ug_cgindex_by_path(f->x, at(f, "a/u"));
	assert_non_null(u);
	assert_true(u->delegated);
	assert_int_equal(u->uid, NOBODY);
	assert_false(indexed(f, "a/u/x"));
	assert_false(ug_cgindex_absent(f->x, at(f, "a/u/x")));
	w = watches(f);
	assert_int_equal(w, 5); /* root, a, a/b, a/b/c, s */
	mk(f, "a/u/y");
	rm(f, "a/u/y");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_int_equal(f->seen.n, 0);
	assert_int_equal(watches(f), w);
	assert_int_equal(ug_cgindex_unwatched(f->x, NULL), 0);
	/* It goes like any other cgroup. */
	rm(f, "a/u/x");
	rm(f, "a/u");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_true(reported(f, "a/u", false) >= 0);
	assert_false(indexed(f, "a/u"));
}

/* systemd makes a Delegate=yes unit's cgroup as root and then hands it to
 * User=: the first thing the user makes there stops the index watching it. */
static void test_handed_over(void **state)
{
	struct fx *f = *state;
	int w;

	if (geteuid())
		skip();
	start(f);
	w = watches(f);
	mk(f, "a/v");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_true(indexed(f, "a/v"));
	assert_int_equal(watches(f), w + 1);
	assert_int_equal(chown(at(f, "a/v"), NOBODY, NOBODY), 0);
	mk(f, "a/v/w");
	assert_int_equal(ug_cgindex_process(f->x), 0);
	assert_true(ug_cgindex_by_path(f->x, at(f, "a/v"))->delegated);
	assert_false(indexed(f, "a/v/w"));
	assert_int_equal(watches(f), w);
	/* A walk sees it the same way. */
	ug_cgindex_rewalk(f->x);
	assert_false(indexed(f, "a/v/w"));
	assert_int_equal(watches(f), w);
	assert_int_equal(ug_cgindex_unwatched(f->x, NULL), 0);
	assert_int_equal(ug_cgindex_unread(f->x, NULL), 0);
}

/* In a forked child (test_unwatched, test_partly_unreadable): no cmocka there. */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "child: line %d: %s\n", __LINE__, #c);                     \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static int set_watch_limit(int n)
{
	FILE *fp = fopen("/proc/sys/user/max_inotify_watches", "we");
	int err;

	if (!fp)
		return -errno;
	err = fprintf(fp, "%d\n", n) < 0;
	return fclose(fp) || err ? -EIO : 0;
}

static void unwatched_child(struct fx *f)
{
	int err;

	/* A user namespace of its own: its inotify watch limit is this
	 * process's alone (it counts against root's as well, up to root's). */
	if (unshare(CLONE_NEWUSER) || set_watch_limit(5))
		_exit(77);
	CHECK(!ug_cgindex_new(f->root, on_node, &f->seen, &f->x));
	CHECK(watches(f) == 5 && !ug_cgindex_unwatched(f->x, NULL));
	mk(f, "a/w");
	CHECK(!ug_cgindex_process(f->x));
	CHECK(indexed(f, "a/w"));
	CHECK(ug_cgindex_unwatched(f->x, &err) == 1 && err == ENOSPC);
	/* Not watched: what is made in it is found by listing it. */
	mk(f, "a/w/x");
	CHECK(!ug_cgindex_process(f->x));
	CHECK(!indexed(f, "a/w/x"));
	ug_cgindex_tick(f->x);
	CHECK(indexed(f, "a/w/x"));
	CHECK(ug_cgindex_unwatched(f->x, NULL) == 2);
	CHECK(!ug_cgindex_absent(f->x, at(f, "a/w/x/z")));
	mk(f, "a/w/x/z");
	/* Watches free again: both are watched, and what was made in them
	 * meanwhile is found. */
	CHECK(!set_watch_limit(100));
	ug_cgindex_tick(f->x);
	CHECK(ug_cgindex_unwatched(f->x, &err) == 0 && err == 0);
	CHECK(watches(f) == 8);
	CHECK(indexed(f, "a/w/x/z"));
	mk(f, "a/w/x/z/y");
	CHECK(!ug_cgindex_process(f->x));
	CHECK(indexed(f, "a/w/x/z/y"));
	ug_cgindex_free(f->x);
	f->x = NULL;
	_exit(0);
}

/* A directory that cannot be watched (the inotify watch limit) is listed
 * every tick and watched once it can be. */
static void test_unwatched(void **state)
{
	struct fx *f = *state;
	int st;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		unwatched_child(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip(); /* no user namespaces here */
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void partly_child(struct fx *f)
{
	int err;

	/* Not root: a directory without search permission is then a fault
	 * (root's CAP_DAC_OVERRIDE would read through it). */
	if (!geteuid()) {
		CHECK(!chown(at(f, ""), NOBODY, NOBODY) && !chown(at(f, "a"), NOBODY, NOBODY) &&
		      !chown(at(f, "a/b"), NOBODY, NOBODY) && !chown(at(f, "a/b/c"), NOBODY, NOBODY) &&
		      !chown(at(f, "s"), NOBODY, NOBODY));
		CHECK(!setresgid(NOBODY, NOBODY, NOBODY) && !setresuid(NOBODY, NOBODY, NOBODY));
	}
	CHECK(!ug_cgindex_new(f->root, on_node, &f->seen, &f->x));
	f->seen.n = 0;
	/* a/b can be listed (read) but its entries not examined (no search). */
	CHECK(!chmod(at(f, "a/b"), 0444));
	ug_cgindex_rewalk(f->x);
	CHECK(f->seen.n == 0);
	CHECK(indexed(f, "a/b/c"));
	CHECK(ug_cgindex_unread(f->x, &err) == 1 && err == EACCES);
	CHECK(!chmod(at(f, "a/b"), 0755));
	ug_cgindex_tick(f->x);
	CHECK(ug_cgindex_unread(f->x, NULL) == 0);
	CHECK(indexed(f, "a/b/c") && f->seen.n == 0);
	ug_cgindex_free(f->x);
	f->x = NULL;
	_exit(0);
}

/* A directory whose entries cannot all be examined is not read in full:
 * what it had is kept. */
static void test_partly_unreadable(void **state)
{
	struct fx *f = *state;
	int st;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		partly_child(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The index of a root it cannot read does not start. */
static void test_unreadable_root(void **state)
{
	struct fx *f = *state;
	struct rlimit old, tight;
	int fd, err;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = old;
	/* inotify_init1 takes the last descriptor; opendir finds none. */
	tight.rlim_cur = (rlim_t)fd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	err = ug_cgindex_new(f->root, on_node, &f->seen, &f->x);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(err, -EMFILE);
	assert_null(f->x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_is_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_is_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delegated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwatched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partly_unreadable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
