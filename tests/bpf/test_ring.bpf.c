// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * For tests/test_ring.c: a producer of ring buffer records, to read with
 * agent/ring.c, and the units' shares of the audit (bpf/lib/lost.bpf.h)
 * taken and given back, both run with BPF_PROG_TEST_RUN.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "unitguard.h"
#include "test_ring.h"

#define UG_COUNTERS_MAP ug_counters
#include "lib/counters.bpf.h"
#include "lib/lost.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

/* c->n records of 16 bytes, numbered from c->first; the one numbered
 * c->discard is discarded (0: none). */
SEC("syscall")
int produce(struct ug_test_produce *c)
{
	for (__u32 i = 0; i < 64 && i < c->n; i++) {
		__u32 *r = bpf_ringbuf_reserve(&ring, 16, 0);

		if (!r)
			return 1;
		r[0] = c->first + i;
		r[1] = 0;
		r[2] = 0;
		r[3] = 0;
		if (c->discard && c->first + i == c->discard)
			bpf_ringbuf_discard(r, 0);
		else
			bpf_ringbuf_submit(r, 0);
	}
	return 0;
}

/* c->op once on the share of unit c->cgid in c->which; c->ok: whether it
 * succeeded. */
SEC("syscall")
int share(struct ug_test_share *c)
{
	struct ug_share_val *s = share_of(c->cgid);

	c->ok = 1;
	if (c->op == UG_TEST_AGG_TAKE)
		c->ok = agg_take(s, c->which);
	else if (c->op == UG_TEST_AGG_PUT)
		agg_put(s, c->which);
	else if (c->op == UG_TEST_RING_TAKE)
		c->ok = ring_take(s, c->which);
	else if (c->op == UG_TEST_LOST)
		lost(c->cgid);
	return 0;
}
