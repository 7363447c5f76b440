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

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW)

struct node {
	struct ug_cgnode pub;
	int wd; /* inotify watch; -1: none */
	bool seen; /* marked during a walk */
	struct node *by_id, *by_path, *by_name, *by_wd; /* hash chains */
};

struct ug_cgindex {
	char root[PATH_MAX];
	int ifd;
	ug_cgindex_cb cb;
	void *ctx;
	size_t n, n_buckets;
	struct node **ids, **paths, **names, **wds;
	bool incomplete; /* a watch could not be added: walk again on tick */
	bool warned;
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
	if (n->wd >= 0) {
		b = BUCKET(x, hash_u64((uint64_t)n->wd));
		n->by_wd = x->wds[b];
		x->wds[b] = n;
	}
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

static void unlink_node(struct ug_cgindex *x, struct node *n)
{
	UNLINK(&x->ids[BUCKET(x, hash_u64(n->pub.id))], n, by_id);
	UNLINK(&x->paths[BUCKET(x, hash_str(n->pub.path))], n, by_path);
	UNLINK(&x->names[BUCKET(x, hash_str(n->pub.name))], n, by_name);
	if (n->wd >= 0)
		UNLINK(&x->wds[BUCKET(x, hash_u64((uint64_t)n->wd))], n, by_wd);
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

static void drop(struct ug_cgindex *x, struct node *n)
{
	unlink_node(x, n);
	x->n--;
	if (n->wd >= 0)
		inotify_rm_watch(x->ifd, n->wd); /* fails harmlessly once the dir is gone */
	x->cb(x->ctx, &n->pub, false);
	free((char *)n->pub.path);
	free(n);
}

static int walk(struct ug_cgindex *x, const char *path, int level, uint64_t parent_id);

/* Index the directory at path (if it is one) and what is below it. */
static int add(struct ug_cgindex *x, const char *path, int level, uint64_t parent_id)
{
	struct stat st;
	struct node *n;
	char *copy;

	if (level >= UG_MAX_LEVELS)
		return 0; /* no policy can live there */
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno; /* gone already: churn */
	if (!S_ISDIR(st.st_mode))
		return 0;
	n = find_path(x, path);
	if (n && n->pub.id == st.st_ino) {
		n->seen = true;
		return walk(x, path, level, n->pub.id);
	}
	if (n)
		drop(x, n); /* removed and made again under the same name */
	if (x->n + 1 > x->n_buckets * 2 && grow(x))
		return -ENOMEM;
	n = calloc(1, sizeof(*n));
	copy = strdup(path);
	if (!n || !copy) {
		free(n);
		free(copy);
		return -ENOMEM;
	}
	n->pub.id = st.st_ino;
	n->pub.parent_id = parent_id;
	n->pub.level = level;
	n->pub.uid = st.st_uid;
	n->pub.path = copy;
	n->pub.name = level ? strrchr(copy, '/') + 1 : copy;
	n->seen = true;
	/* Watch before listing: a child made in between is then seen twice
	 * (harmless), never missed. */
	n->wd = inotify_add_watch(x->ifd, path, WATCH_MASK);
	if (n->wd < 0) {
		if (errno != ENOENT && !x->warned) {
			ug_log(LOG_WARNING, "cgroup: cannot watch %s (%s): the cgroup tree is walked "
			       "again every second instead (raise fs.inotify.max_user_watches)",
			       path, strerror(errno));
			x->warned = true;
		}
		x->incomplete = errno != ENOENT;
	} else if (find_wd(x, n->wd)) {
		/* The same directory under another path cannot happen on cgroup2;
		 * be safe rather than alias two nodes to one watch. */
		n->wd = -1;
	}
	link_node(x, n);
	x->n++;
	x->cb(x->ctx, &n->pub, true);
	return walk(x, path, level, n->pub.id);
}

static int walk(struct ug_cgindex *x, const char *path, int level, uint64_t parent_id)
{
	char child[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	if (level + 1 >= UG_MAX_LEVELS)
		return 0;
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >=
		    sizeof(child))
			continue;
		err = add(x, child, level + 1, parent_id);
		if (err == -ENOMEM)
			break;
		err = 0; /* one unreadable directory is not the tree */
	}
	closedir(d);
	return err;
}

/* The whole tree again: what appeared is added, what is gone reported. */
static int rewalk(struct ug_cgindex *x)
{
	int err;

	x->walks++;
	x->incomplete = false;
	for (size_t b = 0; b < x->n_buckets; b++)
		for (struct node *n = x->ids[b]; n; n = n->by_id)
			n->seen = false;
	err = add(x, x->root, 0, 0);
	for (size_t b = 0; b < x->n_buckets; b++) {
		for (struct node *n = x->ids[b], *next; n; n = next) {
			next = n->by_id;
			if (!n->seen)
				drop(x, n);
		}
	}
	return err;
}

int ug_cgindex_new(const char *root, ug_cgindex_cb cb, void *ctx, struct ug_cgindex **out)
{
	struct ug_cgindex *x = calloc(1, sizeof(*x));
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
	if (!err)
		err = rewalk(x);
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
			if (!(ev->mask & IN_ISDIR) || !ev->len || !(dir = find_wd(x, ev->wd)))
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s", dir->pub.path,
					     ev->name) >= sizeof(child))
				continue;
			if (ev->mask & IN_CREATE) {
				if (add(x, child, dir->pub.level + 1, dir->pub.id) == -ENOMEM)
					overflow = true; /* try again with a walk */
			} else if ((ev->mask & IN_DELETE) && (n = find_path(x, child))) {
				drop(x, n);
			}
		}
	}
	if (len < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (overflow) {
		ug_log(LOG_NOTICE, "cgroup: inotify events were lost; walking the cgroup tree again");
		return rewalk(x);
	}
	return 0;
}

void ug_cgindex_tick(struct ug_cgindex *x)
{
	if (x->incomplete)
		rewalk(x);
}

const struct ug_cgnode *ug_cgindex_by_id(const struct ug_cgindex *x, uint64_t id)
{
	for (struct node *n = x->ids[BUCKET(x, hash_u64(id))]; n; n = n->by_id)
		if (n->pub.id == id)
			return &n->pub;
	return NULL;
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
