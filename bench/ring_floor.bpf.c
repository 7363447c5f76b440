// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor for the audit's ring buffer (bench/flood.sh): every sendmsg4 of
 * the cgroup it is attached to is refused and sends one record of
 * unitguard's size into a ring of unitguard's size (1 MiB), with no cgroup
 * walk, no rule lookup and no aggregation. bench/ring_floor.c drains it and
 * discards. What it cannot reserve it counts.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "unitguard.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} floor_events SEC(".maps");

__u64 floor_lost = 0;

SEC("cgroup/sendmsg4")
int floor_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct ug_event *e = bpf_ringbuf_reserve(&floor_events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&floor_lost, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->count = 1;
	e->who.pid = bpf_get_current_pid_tgid() >> 32;
	e->port = (__u16)ctx->user_port;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
