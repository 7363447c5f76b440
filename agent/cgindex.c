// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgindex.h"
#include "log.h"
#include "unitguard.h"

/* IN_DELETE_SELF: a directory whose parent is not watched still says when it
 * goes, if it is watched itself. */
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

struct node {
	struct ug_cgnode pub;
	int wd;        /* inotify watch; -1: none */
	int werr;      /* errno: no watch, though it should have one (counted in unwatched) */
	int rerr;      /* errno: its last listing was incomplete (counted in unread) */
	unsigned mark; /* the listing that last found it */
	struct node *parent, *child, *prev, *next; /* the tree: first child, siblings */
	struct node *by_id, *by_path, *by_name, *by_wd; /* hash chains */
};

struct ug_cgindex {
	char root[PATH_MAX];
	uid_t owner; /* of root: cgroups it owns are not delegated either */
	int ifd;
	ug_cgindex_cb cb;
	void *ctx;
	struct node *top;
	size_t n, n_buckets;
	struct node **ids, **paths, **names, **wds;
	size_t unwatched, unread;
	int unwatched_err, unread_err; /* the latest */
	unsigned mark;
	unsigned walks;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	return v ^ (v >> 33);
}

#define BUCKET(x, h) ((h) & ((x)->n_buckets - 1))

static void link_wd(struct ug_cgindex *x, struct node *n)
{
	size_t b = BUCKET(x, hash_u64((uint64_t)n->wd));

	n->by_wd = x->wds[b];
	x->wds[b] = n;
}

static void link_node(struct ug_cgindex *x, struct node *n)
{
	size_t b;

	b = BUCKET(x, hash_u64(n->pub.id));
	n->by_id = x->ids[b];
	x->ids[b] = n;
	b = BUCKET(x, hash_str(n->pub.path));
	n->by_path = x->paths[b];
	x->paths[b] = n;
	b = BUCKET(x, hash_str(n->pub.name));
	n->by_name = x->names[b];
	x->names[b] = n;
	if (n->wd >= 0)
		link_wd(x, n);
}

static int grow(struct ug_cgindex *x)
{
	size_t nb = x->n_buckets ? x->n_buckets * 2 : 1024;
	struct node **ids = calloc(nb, sizeof(*ids)), **paths = calloc(nb, sizeof(*paths));
	struct node **names = calloc(nb, sizeof(*names)), **wds = calloc(nb, sizeof(*wds));
	struct node **old = x->ids;
	size_t old_n = x->n_buckets;

	if (!ids || !paths || !names || !wds) {
		free(ids);
		free(paths);
		free(names);
		free(wds);
		return -ENOMEM;
	}
	free(x->paths);
	free(x->names);
	free(x->wds);
	x->ids = ids;
	x->paths = paths;
	x->names = names;
	x->wds = wds;
	x->n_buckets = nb;
	for (size_t b = 0; b < old_n; b++) {
		for (struct node *n = old[b], *next; n; n = next) {
			next = n->by_id;
			link_node(x, n);
		}
	}
	free(old);
	return 0;
}

/* Unlink n from the chain whose head is *head, following the member at off. */
#define UNLINK(head, n, member)                                     \
	do {                                                        \
		struct node **pp_ = (head);                         \
		while (*pp_ && *pp_ != (n))                         \
			pp_ = &(*pp_)->member;                      \
		if (*pp_)                                           \
			*pp_ = (n)->member;                         \
	} while (0)

static struct node *find_id(const struct ug_cgindex *x, uint64_t id)
{
	for (struct node *n = x->ids[BUCKET(x, hash_u64(id))]; n; n = n->by_id)
		if (n->pub.id == id)
			return n;
	return NULL;
}

static struct node *find_path(const struct ug_cgindex *x, const char *path)
{
	if (!x->n_buckets)
		return NULL;
	for (struct node *n = x->paths[BUCKET(x, hash_str(path))]; n; n = n->by_path)
		if (!strcmp(n->pub.path, path))
			return n;
	return NULL;
}

static struct node *find_wd(const struct ug_cgindex *x, int wd)
{
	for (struct node *n = x->wds[BUCKET(x, hash_u64((uint64_t)wd))]; n; n = n->by_wd)
		if (n->wd == wd)
			return n;
	return NULL;
}

/* n cannot be watched (err), or is watched or need not be (0). Said when the
 * first one comes and when the last one goes; status says it meanwhile. */
static void set_werr(struct ug_cgindex *x, struct node *n, int err)
{
	if (err)
		x->unwatched_err = err;
	if (!n->werr && err && !x->unwatched++)
		ug_log(LOG_WARNING, "cgroup: cannot watch %s (%s)%s; it is listed every second "
		       "instead, and watched once it can be", n->pub.path, strerror(err),
		       err == ENOSPC ? ": root's inotify watches are used up (raise "
				       "fs.inotify.max_user_watches)" : "");
	else if (n->werr && !err && !--x->unwatched)
		ug_log(LOG_NOTICE, "cgroup: every cgroup directory is watched again");
	n->werr = err;
}

/* n's directory could not be listed in full (err), or could (0). */
static void set_rerr(struct ug_cgindex *x, struct node *n, int err)
{
	if (err)
		x->unread_err = err;
	if (!n->rerr && err && !x->unread++)
		ug_log(LOG_WARNING, "cgroup: cannot read %s (%s); the cgroups known below it are "
		       "kept (unknown is not gone), and it is read again every second",
		       n->pub.path, strerror(err));
	else if (n->rerr && !err && !--x->unread)
		ug_log(LOG_NOTICE, "cgroup: every cgroup directory could be read again");
	n->rerr = err;
}

static void watch(struct ug_cgindex *x, struct node *n)
{
	int wd;

	if (n->wd >= 0 || n->pub.delegated)
		return;
	wd = inotify_add_watch(x->ifd, n->pub.path, WATCH_MASK);
	if (wd < 0) {
		/* ENOENT: gone, which its parent's event or listing acts on. */
		set_werr(x, n, errno == ENOENT ? 0 : errno);
		return;
	}
	set_werr(x, n, 0);
	/* The same directory under another path cannot happen on cgroup2
	 * (inotify would give both the same watch): be safe rather than alias
	 * two nodes to one watch. */
	if (find_wd(x, wd))
		return;
	n->wd = wd;
	link_wd(x, n);
}

static void unwatch(struct ug_cgindex *x, struct node *n)
{
	if (n->wd >= 0) {
		UNLINK(&x->wds[BUCKET(x, hash_u64((uint64_t)n->wd))], n, by_wd);
		inotify_rm_watch(x->ifd, n->wd); /* fails harmlessly once the dir is gone */
		n->wd = -1;
	}
	set_werr(x, n, 0);
}

/* n is gone, and so is everything below it (a cgroup with children cannot
 * be removed): children are reported first. */
static void drop(struct ug_cgindex *x, struct node *n)
{
	while (n->child)
		drop(x, n->child);
	if (n->prev)
		n->prev->next = n->next;
	else if (n->parent)
		n->parent->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	UNLINK(&x->ids[BUCKET(x, hash_u64(n->pub.id))], n, by_id);
	UNLINK(&x->paths[BUCKET(x, hash_str(n->pub.path))], n, by_path);
	UNLINK(&x->names[BUCKET(x, hash_str(n->pub.name))], n, by_name);
	unwatch(x, n);
	set_rerr(x, n, 0);
	x->n--;
	x->cb(x->ctx, &n->pub, false);
	free((char *)n->pub.path);
	free(n);
}

static bool is_delegated(const struct ug_cgindex *x, int level, uid_t uid)
{
	return level > 0 && uid != 0 && uid != x->owner;
}

/*
 * n is owned by uid now. A cgroup handed to a user (systemd makes a
 * Delegate=yes unit's cgroup as root, then gives it to User=) stops being
 * watched, and what was indexed below it leaves the index: it is that user's
 * subtree now, out of the index's scope (see cgindex.h). Handed back to
 * root: watched again (the caller lists it).
 */
static void set_owner(struct ug_cgindex *x, struct node *n, uid_t uid)
{
	bool delegated = is_delegated(x, n->pub.level, uid);

	n->pub.uid = uid;
	if (delegated == n->pub.delegated)
		return;
	n->pub.delegated = delegated;
	if (!delegated)
		return;
	while (n->child)
		drop(x, n->child);
	unwatch(x, n);
	set_rerr(x, n, 0);
}

static struct node *make(struct ug_cgindex *x, struct node *parent, const char *path,
			 const struct stat *st)
{
	struct node *n;
	char *copy;

	if (x->n + 1 > x->n_buckets * 2 && grow(x))
		return NULL;
	n = calloc(1, sizeof(*n));
	copy = strdup(path);
	if (!n || !copy) {
		free(n);
		free(copy);
		return NULL;
	}
	n->pub.id = st->st_ino;
	n->pub.parent_id = parent ? parent->pub.id : 0;
	n->pub.level = parent ? parent->pub.level + 1 : 0;
	n->pub.uid = st->st_uid;
	n->pub.delegated = is_delegated(x, n->pub.level, st->st_uid);
	n->pub.path = copy;
	n->pub.name = parent ? strrchr(copy, '/') + 1 : copy;
	n->wd = -1;
	n->mark = x->mark;
	link_node(x, n);
	n->parent = parent;
	if (parent) {
		n->next = parent->child;
		if (n->next)
			n->next->prev = n;
		parent->child = n;
	}
	x->n++;
	/* Watch before listing: a child made in between is then seen twice
	 * (harmless), never missed. */
	watch(x, n);
	return n;
}

static void list(struct ug_cgindex *x, struct node *n, bool deep);

/*
 * The directory name in parent, found by a listing or an event: found again,
 * replaced, or new (then indexed with what is below it). deep: list it again
 * too. Returns 0, or a negative errno when it could not be examined: the
 * parent's listing is then incomplete.
 */
static int child(struct ug_cgindex *x, struct node *parent, const char *name, bool deep)
{
	char path[PATH_MAX];
	struct stat st;
	struct node *n;
	bool retry;

	if (parent->pub.level + 1 >= UG_MAX_LEVELS)
		return 0; /* no policy can live there */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent->pub.path, name) >= sizeof(path))
		return 0;
	if (lstat(path, &st))
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno; /* gone: churn */
	if (!S_ISDIR(st.st_mode))
		return 0;
	n = find_path(x, path);
	if (n && n->pub.id != st.st_ino) {
		drop(x, n); /* removed and made again under the same name */
		n = NULL;
	}
	if (!n) {
		n = make(x, parent, path, &st);
		if (!n)
			return -ENOMEM;
		x->cb(x->ctx, &n->pub, true);
		list(x, n, true);
		return 0;
	}
	n->mark = x->mark;
	set_owner(x, n, st.st_uid);
	/* Not watched: what was made in it meanwhile was not seen. */
	retry = n->wd < 0 && !n->pub.delegated;
	watch(x, n);
	if (deep || retry)
		list(x, n, deep);
	return 0;
}

/*
 * List n's directory: find its children again (deep: and theirs), index the
 * new ones, and, when the listing was complete, drop the children it no
 * longer has: that is a fact. When it was not (the directory could not be
 * opened or read, a child could not be examined), n keeps the children it
 * had, unknown rather than gone, and the tick lists it again.
 */
static void list(struct ug_cgindex *x, struct node *n, bool deep)
{
	struct dirent *de;
	int err = 0, e;
	DIR *d;

	if (n->pub.delegated || n->pub.level + 1 >= UG_MAX_LEVELS)
		return;
	d = opendir(n->pub.path);
	if (!d) {
		/* ENOENT: n itself is gone, a fact its parent's event or listing
		 * acts on. Anything else says nothing about what is in it. */
		set_rerr(x, n, errno == ENOENT || errno == ENOTDIR ? 0 : errno);
		return;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = errno ? -errno : err;
			break;
		}
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		e = child(x, n, de->d_name, deep);
		err = err ?: e;
	}
	closedir(d);
	set_rerr(x, n, -err);
	if (err)
		return;
	for (struct node *c = n->child, *next; c; c = next) {
		next = c->next;
		if (c->mark != x->mark)
			drop(x, c);
	}
}

/* One listing, on its own: what it does not find is what its mark says. */
static void scan(struct ug_cgindex *x, struct node *n, bool deep)
{
	x->mark++;
	n->mark = x->mark;
	list(x, n, deep);
}

void ug_cgindex_rewalk(struct ug_cgindex *x)
{
	x->walks++;
	watch(x, x->top);
	scan(x, x->top, true);
}

int ug_cgindex_new(const char *root, ug_cgindex_cb cb, void *ctx, struct ug_cgindex **out)
{
	struct ug_cgindex *x = calloc(1, sizeof(*x));
	struct stat st;
	int err;

	*out = NULL;
	if (!x)
		return -ENOMEM;
	if ((size_t)snprintf(x->root, sizeof(x->root), "%s", root) >= sizeof(x->root)) {
		free(x);
		return -ENAMETOOLONG;
	}
	x->cb = cb;
	x->ctx = ctx;
	x->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (x->ifd < 0) {
		err = -errno;
		free(x);
		return err;
	}
	err = grow(x);
	if (!err && lstat(x->root, &st))
		err = -errno;
	else if (!err && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (!err) {
		x->owner = st.st_uid;
		x->top = make(x, NULL, x->root, &st);
		err = x->top ? 0 : -ENOMEM;
	}
	if (!err) {
		x->cb(x->ctx, &x->top->pub, true);
		ug_cgindex_rewalk(x);
		/* Nothing known yet: an unreadable tree is not a start. */
		err = -x->top->rerr;
	}
	if (err) {
		ug_cgindex_free(x);
		return err;
	}
	*out = x;
	return 0;
}

void ug_cgindex_free(struct ug_cgindex *x)
{
	if (!x)
		return;
	for (size_t b = 0; b < x->n_buckets; b++) {
		for (struct node *n = x->ids[b], *next; n; n = next) {
			next = n->by_id;
			free((char *)n->pub.path);
			free(n);
		}
	}
	free(x->ids);
	free(x->paths);
	free(x->names);
	free(x->wds);
	if (x->ifd >= 0)
		close(x->ifd);
	free(x);
}

int ug_cgindex_fd(const struct ug_cgindex *x)
{
	return x->ifd;
}

/* A directory was made in dir. The first thing a user makes in a cgroup just
 * handed to them is where the index stops watching it. */
static void created(struct ug_cgindex *x, struct node *dir, const char *name)
{
	struct stat st;
	int err;

	if (!lstat(dir->pub.path, &st) && st.st_ino == dir->pub.id)
		set_owner(x, dir, st.st_uid);
	if (dir->pub.delegated)
		return;
	x->mark++;
	err = child(x, dir, name, false);
	if (err)
		set_rerr(x, dir, -err); /* listed again on the tick */
}

/* n's own watch says its directory went (IN_DELETE_SELF), or the kernel
 * removed the watch (IN_IGNORED): drop n if its directory is gone indeed,
 * otherwise watch it again on the tick. */
static void self_event(struct ug_cgindex *x, struct node *n, uint32_t mask)
{
	struct stat st;

	if (n != x->top &&
	    (lstat(n->pub.path, &st) ? errno == ENOENT : st.st_ino != n->pub.id)) {
		drop(x, n);
		return;
	}
	if (mask & IN_IGNORED) {
		UNLINK(&x->wds[BUCKET(x, hash_u64((uint64_t)n->wd))], n, by_wd);
		n->wd = -1;
		set_werr(x, n, EIDRM);
	}
}

int ug_cgindex_process(struct ug_cgindex *x)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false;
	ssize_t len;

	while ((len = read(x->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			char child[PATH_MAX];
			struct node *dir, *n;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			dir = find_wd(x, ev->wd);
			if (!dir)
				continue; /* a watch removed since */
			if (ev->mask & (IN_DELETE_SELF | IN_IGNORED)) {
				self_event(x, dir, ev->mask);
				continue;
			}
			if (!(ev->mask & IN_ISDIR) || !ev->len)
				continue;
			if (ev->mask & IN_CREATE) {
				created(x, dir, ev->name);
			} else if ((ev->mask & IN_DELETE) &&
				   (size_t)snprintf(child, sizeof(child), "%s/%s", dir->pub.path,
						    ev->name) < sizeof(child) &&
				   (n = find_path(x, child))) {
				drop(x, n);
			}
		}
	}
	if (len < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (overflow) {
		ug_log(LOG_NOTICE, "cgroup: inotify events were lost; walking the cgroup tree again");
		ug_cgindex_rewalk(x);
	}
	return 0;
}

struct todo {
	int level;
	uint64_t id;
};

static int todo_cmp(const void *a, const void *b)
{
	const struct todo *p = a, *q = b;

	return p->level - q->level;
}

void ug_cgindex_tick(struct ug_cgindex *x)
{
	size_t max = x->unwatched + x->unread, k = 0;
	struct todo *todo;

	if (!max)
		return;
	todo = calloc(max, sizeof(*todo));
	if (!todo)
		return; /* the next tick */
	for (size_t b = 0; b < x->n_buckets && k < max; b++)
		for (struct node *n = x->ids[b]; n && k < max; n = n->by_id)
			if (n->werr || n->rerr)
				todo[k++] = (struct todo){ n->pub.level, n->pub.id };
	/* Parents first: a listing of a parent may settle its children. */
	qsort(todo, k, sizeof(*todo), todo_cmp);
	for (size_t i = 0; i < k; i++) {
		struct node *n = find_id(x, todo[i].id);
		bool deep;

		if (!n || (!n->werr && !n->rerr))
			continue; /* gone, or settled already */
		/* Not read: nothing below it was looked at. Not watched: only
		 * what is made in it goes unseen. */
		deep = n->rerr != 0;
		watch(x, n);
		scan(x, n, deep);
	}
	free(todo);
}

const struct ug_cgnode *ug_cgindex_by_id(const struct ug_cgindex *x, uint64_t id)
{
	struct node *n = find_id(x, id);

	return n ? &n->pub : NULL;
}

const struct ug_cgnode *ug_cgindex_by_path(const struct ug_cgindex *x, const char *path)
{
	struct node *n = find_path(x, path);

	return n ? &n->pub : NULL;
}

size_t ug_cgindex_by_name(const struct ug_cgindex *x, const char *name,
			  const struct ug_cgnode **out, size_t max)
{
	size_t k = 0;

	for (struct node *n = x->names[BUCKET(x, hash_str(name))]; n; n = n->by_name) {
		if (strcmp(n->pub.name, name) || !n->pub.level)
			continue;
		if (k < max)
			out[k] = &n->pub;
		k++;
	}
	return k;
}

size_t ug_cgindex_count(const struct ug_cgindex *x)
{
	return x->n;
}

unsigned ug_cgindex_walks(const struct ug_cgindex *x)
{
	return x->walks;
}

size_t ug_cgindex_unwatched(const struct ug_cgindex *x, int *err)
{
	if (err)
		*err = x->unwatched ? x->unwatched_err : 0;
	return x->unwatched;
}

size_t ug_cgindex_unread(const struct ug_cgindex *x, int *err)
{
	if (err)
		*err = x->unread ? x->unread_err : 0;
	return x->unread;
}

bool ug_cgindex_absent(const struct ug_cgindex *x, const char *path)
{
	size_t rlen = strlen(x->root);
	char p[PATH_MAX];
	struct node *a;
	char *s;

	if (find_path(x, path))
		return false;
	if (strncmp(path, x->root, rlen) || (path[rlen] && path[rlen] != '/') ||
	    (size_t)snprintf(p, sizeof(p), "%s", path) >= sizeof(p))
		return true; /* not in the tree at all */
	/* The nearest ancestor the index has says whether it would know. */
	do {
		s = strrchr(p, '/');
		if (!s || (size_t)(s - p) < rlen)
			return false;
		*s = '\0';
		a = find_path(x, p);
	} while (!a);
	if (a->pub.delegated || a->wd < 0 || a->pub.level + 1 >= UG_MAX_LEVELS)
		return false;
	/* An ancestor not read since events were lost: nothing below it is
	 * known to be as the index has it. */
	for (; a; a = a->parent)
		if (a->rerr)
			return false;
	return true;
}
