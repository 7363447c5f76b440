/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loaders' side of the pin directory (its layout: pinned/pinned.h):
 * walking the pinned maps, reading and removing the pinned trees.
 */
#ifndef UG_PINS_H
#define UG_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>

/*
 * Walk a BPF hash map: the next entry that can still be read, its key in
 * key (key_size bytes, at most 256) and value in val. *started false at the
 * first call. False at the end.
 */
bool ug_map_next(int fd, void *key, size_t key_size, void *val, bool *started);

/*
 * Remove a pin tree (a missing one is fine). With links, each pinned link is
 * detached first (BPF_LINK_DETACH): a running agent may still hold it open,
 * and unpinning alone would leave its program attached. A link type the
 * kernel cannot detach that way (LSM links on 6.1: EOPNOTSUPP or EINVAL) goes
 * when its pin and every descriptor are gone.
 */
int ug_pin_remove_tree(const char *path, bool links);

/*
 * The records waiting in the pinned ring buffer at path, consumed, and the
 * denials they stand for added to *n. With headed, every record begins with
 * struct ug_record_head (unitguard.h, "Across layouts") and counts its
 * `count`; without, a ring of an unknown layout, each counts one (at least
 * one denial each). A missing pin: nothing.
 */
int ug_pin_ring_drain(const char *path, bool headed, uint64_t *n);

/* Pin prog_fd as pin_dir/flush/<ring>, in place of any earlier pin there. */
int ug_pin_flush(const char *pin_dir, const char *ring, int prog_fd);

/* opendir(dir/sub), its path in buf: 0 with *d NULL when it does not exist. */
int ug_pin_opendir(char *buf, size_t len, const char *dir, const char *sub, DIR **d);

#endif
