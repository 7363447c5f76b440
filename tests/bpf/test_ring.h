/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Contexts of tests/bpf/test_ring.bpf.c's programs. */
#ifndef UG_TEST_RING_H
#define UG_TEST_RING_H

struct ug_test_produce {
	__u32 first;
	__u32 n;
	__u32 discard;
	__u32 pad;
};

enum {
	UG_TEST_AGG_TAKE = 1,
	UG_TEST_AGG_PUT = 2,
	UG_TEST_RING_TAKE = 3,
	UG_TEST_LOST = 4,
};

struct ug_test_share {
	__u64 cgid;
	__u32 op;
	__u32 which;
	__u32 ok;
	__u32 pad;
};

#endif
