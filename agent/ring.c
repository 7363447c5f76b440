// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ring buffer's layout is the kernel's (kernel/bpf/ringbuf.c, the uapi
 * in linux/bpf.h): mapped at offset 0, one writable page whose first word is
 * the consumer position; at one page, read-only, a page whose first word is
 * the producer position, then the data, mapped twice in a row so that a
 * record running past the end reads on without wrapping. Each record is an
 * 8-byte header (length with the BUSY and DISCARD bits, page offset) and its
 * data, padded to 8 bytes. Positions only grow; a position's byte is at
 * position & (size - 1).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "ring.h"

struct ug_ring {
	int fd;
	uint32_t id;               /* the map's id: marks name it */
	char boot[40];             /* this boot's id: map ids are per boot */
	ug_ring_fn fn;
	void *ctx;
	size_t page;
	unsigned long mask;        /* data size - 1 */
	unsigned long *consumer;   /* the kernel's consumer position (ours to write) */
	const unsigned long *producer;
	const uint8_t *data;
	unsigned long read;        /* past the last record read */
	unsigned long done;        /* past the last record whose callback returned */
	bool broken;
};

/* /proc/sys/kernel/random/boot_id; "" when it cannot be read (marks then
 * name no boot, and a mark of another boot cannot match one of this). */
static void boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = '\0';
	if (f && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
	if (strchr(buf, ' '))
		buf[0] = '\0';
}

int ug_ring_new(int map_fd, ug_ring_fn fn, void *ctx, struct ug_ring **out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct ug_ring *r;
	void *p;
	int err;

	*out = NULL;
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_RINGBUF || !info.max_entries ||
	    info.max_entries & (info.max_entries - 1))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = map_fd;
	r->id = info.id;
	boot_id(r->boot, sizeof(r->boot));
	r->fn = fn;
	r->ctx = ctx;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->mask = info.max_entries - 1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		free(r);
		return err;
	}
	r->consumer = p;
	p = mmap(NULL, r->page + 2 * (size_t)info.max_entries, PROT_READ, MAP_SHARED, map_fd,
		 (off_t)r->page);
	if (p == MAP_FAILED) {
		err = -errno;
		munmap(r->consumer, r->page);
		free(r);
		return err;
	}
	r->producer = p;
	r->data = (const uint8_t *)p + r->page;
	r->read = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	r->done = r->read;
	*out = r;
	return 0;
}

void ug_ring_free(struct ug_ring *r)
{
	if (!r)
		return;
	munmap((void *)r->producer, r->page + 2 * (r->mask + 1));
	munmap(r->consumer, r->page);
	free(r);
}

int ug_ring_fd(const struct ug_ring *r)
{
	return r->fd;
}

int ug_ring_read(struct ug_ring *r, int max)
{
	int n = 0;

	if (r->broken)
		return -EBADMSG;
	while (n < max) {
		unsigned long prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
		const uint8_t *hdr = r->data + (r->read & r->mask);
		uint32_t len, size;
		int stop = 0;

		if (r->read == prod)
			break;
		len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
		if (len & BPF_RINGBUF_BUSY_BIT)
			break; /* reserved, not yet submitted: the rest waits */
		size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		/* A length the kernel cannot have written: stop rather than
		 * read past the data. */
		if (size > r->mask + 1 - BPF_RINGBUF_HDR_SZ ||
		    prod - r->read < ((size + BPF_RINGBUF_HDR_SZ + 7) & ~7UL)) {
			r->broken = true;
			return -EBADMSG;
		}
		r->done = r->read;
		r->read += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
		if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
			stop = r->fn(r->ctx, (void *)(hdr + BPF_RINGBUF_HDR_SZ), size);
			n++;
		}
		r->done = r->read;
		if (stop)
			break;
	}
	return n;
}

void ug_ring_release(struct ug_ring *r)
{
	if (r)
		__atomic_store_n(r->consumer, r->done, __ATOMIC_RELEASE);
}

bool ug_ring_held(const struct ug_ring *r)
{
	return r && __atomic_load_n(r->consumer, __ATOMIC_RELAXED) != r->read;
}

int ug_ring_mark(const struct ug_ring *r, char *buf, size_t len)
{
	if (!r->boot[0])
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s %" PRIu32 " %lu", r->boot, r->id, r->done) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int ug_ring_resume(struct ug_ring *r, const char *mark)
{
	unsigned long cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	unsigned long prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	char boot[40], rest[2];
	unsigned long pos;
	uint32_t id;

	if (!r->boot[0] || sscanf(mark, "%39s %" SCNu32 " %lu%1s", boot, &id, &pos, rest) != 3 ||
	    strcmp(boot, r->boot) || id != r->id || pos & 7)
		return -ESTALE;
	/* Positions only grow: a mark at or behind the consumer was released
	 * already; one past the producer is not of this ring's history. */
	if (pos <= cons)
		return 0;
	if (pos > prod)
		return -ESTALE;
	__atomic_store_n(r->consumer, pos, __ATOMIC_RELEASE);
	r->read = pos;
	r->done = pos;
	return 1;
}
