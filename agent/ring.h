/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A BPF ring buffer read so that what is read is given up only once it is
 * safe. libbpf's consumer moves the ring's consumer position past each
 * record as soon as its callback returns; the kernel may then overwrite it.
 * Here the consumer position moves only when told (ug_ring_release()): the
 * audit tells once the rows of what was read are committed (or counted), so
 * an agent killed before that leaves those records in the pinned ring, and
 * the next agent reads them again. Until then the reader goes on past them
 * (its own read position).
 */
#ifndef UG_RING_H
#define UG_RING_H

#include <stdbool.h>
#include <stddef.h>

struct ug_ring;

/* Called for each record; nonzero stops the read after this record. */
typedef int (*ug_ring_fn)(void *ctx, void *data, size_t size);

/* Map the ring of map_fd (a BPF_MAP_TYPE_RINGBUF); reading starts at its
 * consumer position: where the last agent's released records end. */
int ug_ring_new(int map_fd, ug_ring_fn fn, void *ctx, struct ug_ring **out);
void ug_ring_free(struct ug_ring *r); /* NULL is fine; releases nothing */

/* Poll for readability on this fd (the map's): readable while the ring
 * holds records not released, read or not. */
int ug_ring_fd(const struct ug_ring *r);

/* Read up to max records past the read position. Returns how many were
 * read (also when fn stopped it), or -EBADMSG for a record that cannot be
 * (its length runs past the ring): the reader then stops for good. */
int ug_ring_read(struct ug_ring *r, int max);

/* Every record read is dealt with (one whose callback is running is not):
 * the kernel may reuse their room. */
void ug_ring_release(struct ug_ring *r);

/* Records read and not released. */
bool ug_ring_held(const struct ug_ring *r);

/*
 * Where the records dealt with end, as text ("BOOT-ID MAP-ID POSITION", at
 * most UG_RING_MARK_MAX bytes): the audit commits it with their rows. An
 * agent killed between that commit and its ug_ring_release() would leave
 * them to the next one, to be stored twice; the next one resumes from the
 * mark instead (ug_ring_resume()).
 */
#define UG_RING_MARK_MAX 96
int ug_ring_mark(const struct ug_ring *r, char *buf, size_t len);
/* Move past what a mark says was stored, before the first read: only a mark
 * of this ring (this boot, this map) that lies between the consumer and the
 * producer position moves anything. 1: moved; 0: nothing to skip; -ESTALE:
 * a mark that does not apply. */
int ug_ring_resume(struct ug_ring *r, const char *mark);

#endif
