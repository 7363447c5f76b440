// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ring_floor OBJ CGROUP: load bench/ring_floor.bpf.o, attach it to CGROUP,
 * print "ready", drain its ring buffer discarding every record until
 * SIGTERM, then print "records N lost M" (records drained, reservations the
 * program could not make). The floor a consumer of unitguard's ring can
 * reach: no validation, no journal, no SQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;
static unsigned long long records;

static void on_term(int sig)
{
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	records++;
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct bpf_map *bss;
	unsigned long long lost = 0;
	int cg, zero = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: ring_floor OBJ CGROUP\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ring_floor: cannot load %s\n", argv[1]);
		return 1;
	}
	cg = open(argv[2], O_RDONLY | O_DIRECTORY);
	prog = bpf_object__find_program_by_name(obj, "floor_sendmsg4");
	link = cg < 0 || !prog ? NULL : bpf_program__attach_cgroup(prog, cg);
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "floor_events"), on_record, NULL,
			      NULL);
	if (!link || !rb) {
		fprintf(stderr, "ring_floor: cannot attach to %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		ring_buffer__poll(rb, 100);
	ring_buffer__consume(rb);
	bss = bpf_object__find_map_by_name(obj, ".bss");
	if (bss)
		bpf_map_lookup_elem(bpf_map__fd(bss), &zero, &lost);
	printf("records %llu lost %llu\n", records, lost);
	bpf_link__destroy(link);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
