// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test client for the e2e tests: optionally moves itself into a cgroup, then
 * performs one network operation and prints its outcome as one word
 * ("ok", "EPERM", "ETIMEDOUT", ...). Exit 0 when the outcome was "ok", 1
 * otherwise, 2 on bad usage.
 *
 *   ugprobe [--cgroup DIR] [--from ADDR] connect ADDR PORT   TCP connect (2 s timeout;
 *                           UG_PROBE_WAIT_MS in the environment: that many ms)
 *   ugprobe [--cgroup DIR] [--from ADDR] [--ext6 SPEC] udp ADDR PORT
 *                           one unconnected UDP datagram (--ext6: see set_ext6)
 *   ugprobe [--cgroup DIR] icmp ADDR                         one ICMP echo on a raw socket
 *   ugprobe [--cgroup DIR] listen ADDR PORT SECS             accept TCP for SECS seconds
 *   ugprobe [--cgroup DIR] bind ADDR PORT                    bind a TCP socket (IPv6: dual-stack
 *                           as the sysctl says, 0 on Debian)
 *   ugprobe [--cgroup DIR] bind-v6only ADDR PORT             the same with IPV6_V6ONLY
 *   ugprobe [--cgroup DIR] listen-auto ADDR SECS             listen(2) on a TCP socket of ADDR's
 *                           family never bound (the kernel picks the port); prints
 *                           "port N", accepts for SECS seconds
 *   ugprobe [--cgroup DIR] raw6 ADDR PORT NHDRS              a raw IPv6 packet: NHDRS Destination
 *                           Options headers, then UDP to PORT
 *   ugprobe [--cgroup DIR] [--from ADDR] udp-send ADDR PORT COUNT SIZE
 *                           COUNT datagrams of SIZE payload bytes; prints "ok" or the error
 *   ugprobe [--cgroup DIR] flood ADDR PORT COUNT [PORTS [SECS]]
 *                           COUNT unconnected UDP sends, whatever each gives; prints
 *                           "refused N" (how many got EPERM); exit 0. With PORTS, the
 *                           destination port goes round PORT .. PORT + PORTS - 1; with
 *                           SECS, it stops after SECS seconds if COUNT is not reached
 *   ugprobe [--cgroup DIR] udp-recv ADDR PORT SECS           prints "DATAGRAMS BYTES" received
 *   ugprobe [--cgroup DIR] tcp-serve ADDR PORT SECS          accepts, prints total bytes
 *                           received after each read (one line each)
 *   ugprobe [--cgroup DIR] [--from ADDR] tcp-stream ADDR PORT SECS
 *                           connects, then sends 100 bytes every 20 ms for SECS
 * LSM operations (no address):
 *   ugprobe [--cgroup DIR] open FILE read|write|trunc|ioctl|path|path-reopen
 *                           open(2) with O_RDONLY, O_WRONLY, O_RDONLY|O_TRUNC, access
 *                           mode 3 (O_WRONLY|O_RDWR: read and write checked, neither
 *                           granted: the descriptor drivers take ioctls on), O_PATH, or
 *                           O_PATH then O_RDONLY through /proc/self/fd/N
 *   ugprobe [--cgroup DIR] tun FILE NAME           open(FILE) with access mode 3, then
 *                           TUNSETIFF: makes tun device NAME
 *   ugprobe handle FILE                            name_to_handle_at(FILE): prints the
 *                           handle as TYPE:HEX
 *   ugprobe [--cgroup DIR] open-handle DIR HANDLE  open_by_handle_at(DIR's fd, HANDLE,
 *                           O_RDONLY)
 *   ugprobe [--cgroup DIR] open-tree DIR FILE      open_tree(DIR, OPEN_TREE_CLONE): a
 *                           detached copy; then FILE in it, O_RDONLY
 *   ugprobe [--cgroup DIR] open-detached DIR FILE  open DIR, umount2(DIR, MNT_DETACH), then
 *                           FILE through the descriptor, O_RDONLY
 *   ugprobe [--cgroup DIR] open-flood FILE N        open(2) FILE read-only N times; prints
 *                           "refused N" (how many got EPERM)
 *   ugprobe [--cgroup DIR] socket FAMILY            socket(FAMILY, SOCK_RAW or DGRAM, 0)
 *   ugprobe [--cgroup DIR] bpf                      bpf(BPF_PROG_GET_NEXT_ID)
 *   ugprobe [--cgroup DIR] ptrace PID               PTRACE_ATTACH, then detach
 *   ugprobe [--cgroup DIR] finit FILE               finit_module(FILE)
 *   ugprobe [--cgroup DIR] mount DIR                mount a tmpfs on DIR, then unmount
 *   ugprobe [--cgroup DIR] umount DIR               umount(DIR)
 *   ugprobe [--cgroup DIR] chroot DIR               chroot(DIR)
 *   ugprobe [--cgroup DIR] userns                   unshare(CLONE_NEWUSER)
 *   ugprobe [--cgroup DIR] exec PATH [ARGS...]      execv(PATH); prints the error if it fails
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe_common.h"
#include <linux/bpf.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static struct sockaddr_storage from;
static socklen_t from_len;
static const char *ext6;

/*
 * --ext6 SPEC: IPv6 extension headers on every packet of the client socket
 * (sticky options, RFC 3542; the kernel builds the headers):
 *   dstopts         a Destination Options header of one PadN option
 *   hopopts         a Hop-by-Hop Options header of one PadN option
 *   srh:A[,B...]    a segment routing header: the packet goes to A first,
 *                   then B ..., then to the address the socket sends to
 * Destination and Hop-by-Hop options need CAP_NET_RAW; a routing header
 * does not.
 */
static int set_ext6(int fd)
{
	unsigned char buf[8 + 16 * 9] = { 0 };
	char spec[256], *tok, *save;
	int n = 0;

	if (!strcmp(ext6, "dstopts") || !strcmp(ext6, "hopopts")) {
		/* next header (the kernel's), length 0 (8 bytes), PadN of 4 */
		buf[2] = 1;
		buf[3] = 4;
		return setsockopt(fd, IPPROTO_IPV6, !strcmp(ext6, "dstopts") ? IPV6_DSTOPTS : IPV6_HOPOPTS,
				  buf, 8);
	}
	if (strncmp(ext6, "srh:", 4) || strlen(ext6) >= sizeof(spec)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(spec, sizeof(spec), "%s", ext6 + 4);
	/* segments[0] is the final destination (the kernel puts the socket's
	 * there); the one visited first is the last. Collect in visit order. */
	struct in6_addr hops[8];
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == 8 || inet_pton(AF_INET6, tok, &hops[n]) != 1) {
			errno = EINVAL;
			return -1;
		}
		n++;
	}
	if (!n) {
		errno = EINVAL;
		return -1;
	}
	buf[1] = 2 * (n + 1); /* 8-octet units after the first 8 */
	buf[2] = 4;           /* segment routing */
	buf[3] = n;           /* segments left */
	buf[4] = n;           /* last entry */
	for (int k = 0; k < n; k++)
		memcpy(&buf[8 + 16 * (n - k)], &hops[k], 16);
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, buf, 8 + 16 * (n + 1));
}

/* Bind the client socket to the --from address and set its --ext6
 * headers, if any. */
static int bind_from(int fd)
{
	if (ext6 && set_ext6(fd))
		return -1;
	if (!from_len)
		return 0;
	return bind(fd, (struct sockaddr *)&from, from_len);
}

static int outcome(int err)
{
	const char *name = err == 0 ? "ok" : err == EPERM ? "EPERM" : err == ETIMEDOUT ? "ETIMEDOUT"
		: err == ECONNREFUSED ? "ECONNREFUSED" : err == EACCES ? "EACCES" : NULL;

	if (name)
		puts(name);
	else
		printf("errno=%d (%s)\n", err, strerror(err));
	fflush(stdout);
	return err ? 1 : 0;
}

static int do_connect(struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), err;
	struct pollfd pfd;
	socklen_t elen = sizeof(err);

	if (fd < 0 || bind_from(fd))
		return outcome(errno);
	if (!connect(fd, (struct sockaddr *)ss, len))
		return outcome(0);
	if (errno != EINPROGRESS)
		return outcome(errno);
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, getenv("UG_PROBE_WAIT_MS") ? atoi(getenv("UG_PROBE_WAIT_MS")) : 2000) == 0)
		return outcome(ETIMEDOUT);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	return outcome(err);
}

static int do_udp(struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM, 0);

	if (fd < 0 || bind_from(fd))
		return outcome(errno);
	if (sendto(fd, "unitguard", 9, 0, (struct sockaddr *)ss, len) < 0)
		return outcome(errno);
	return outcome(0);
}

static int do_icmp(struct sockaddr_storage *ss, socklen_t len)
{
	struct icmphdr h = { .type = ICMP_ECHO, .un.echo.id = htons(getpid()) };
	int fd;

	if (ss->ss_family != AF_INET) {
		fprintf(stderr, "ugprobe: icmp: IPv4 only\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0)
		return outcome(errno);
	/* Checksum of an 8-byte header with id set and sequence 0. */
	{
		uint32_t sum = 0;
		uint16_t *w = (uint16_t *)&h;

		for (size_t i = 0; i < sizeof(h) / 2; i++)
			sum += w[i];
		sum = (sum >> 16) + (sum & 0xffff);
		sum += sum >> 16;
		h.checksum = ~sum;
	}
	if (sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)ss, len) < 0)
		return outcome(errno);
	return outcome(0);
}

/* Accept and close connections on a listening socket until END. */
static int accept_until(int fd, time_t end)
{
	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 200) > 0) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	return 0;
}

static int do_listen(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0), one = 1;
	time_t end = time(NULL) + secs;

	if (fd < 0)
		return outcome(errno);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The IPv4 listener on the same port is a separate socket. */
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, len) || listen(fd, 64))
		return outcome(errno);
	puts("listening");
	fflush(stdout);
	return accept_until(fd, end);
}

/* listen(2) on a socket never bound: the kernel picks the port (autobind).
 * Prints "port N", then accepts for SECS seconds. */
static int do_listen_auto(int family, int secs)
{
	int fd = socket(family, SOCK_STREAM, 0);
	struct sockaddr_storage me;
	socklen_t mlen = sizeof(me);
	time_t end = time(NULL) + secs;

	if (fd < 0 || listen(fd, 64) || getsockname(fd, (struct sockaddr *)&me, &mlen))
		return outcome(errno);
	printf("port %u\n", ntohs(((struct sockaddr_in *)&me)->sin_port));
	fflush(stdout);
	return accept_until(fd, end);
}

/*
 * One packet from a raw IPv6 socket whose payload the kernel does not
 * build: NHDRS Destination Options headers (8 bytes each, one PadN), then a
 * UDP header to PORT and 8 bytes. Needs CAP_NET_RAW; no sendmsg hook sees
 * it, only the packet hook. The UDP checksum is not computed: the packet is
 * for the sender's egress hook, not for a receiver.
 */
static int do_raw6(struct sockaddr_storage *ss, socklen_t len, long nhdrs, long port)
{
	unsigned char pkt[8 * 64 + 16] = { 0 };
	int fd;
	long n = 0;

	if (ss->ss_family != AF_INET6 || nhdrs < 1 || nhdrs > 64)
		return 2;
	fd = socket(AF_INET6, SOCK_RAW, 60 /* IPPROTO_DSTOPTS */);
	if (fd < 0)
		return outcome(errno);
	/* The port goes in the UDP header, not in the socket's address. */
	((struct sockaddr_in6 *)ss)->sin6_port = 0;
	for (long k = 0; k < nhdrs; k++, n += 8) {
		pkt[n] = k + 1 < nhdrs ? 60 : IPPROTO_UDP;
		pkt[n + 2] = 1; /* PadN */
		pkt[n + 3] = 4;
	}
	pkt[n + 0] = 0x9c; /* source port 40000 */
	pkt[n + 1] = 0x40;
	pkt[n + 2] = port >> 8;
	pkt[n + 3] = port & 0xff;
	pkt[n + 5] = 16; /* UDP length */
	n += 16;
	if (sendto(fd, pkt, n, 0, (struct sockaddr *)ss, len) != n)
		return outcome(errno);
	return outcome(0);
}

static int *v6only;

static int do_bind(struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);

	if (fd < 0)
		return outcome(errno);
	if (v6only && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only, sizeof(*v6only)))
		return outcome(errno);
	return outcome(bind(fd, (struct sockaddr *)ss, len) ? errno : 0);
}

static int do_udp_send(struct sockaddr_storage *ss, socklen_t len, long count, long size)
{
	static char payload[65507];
	int fd = socket(ss->ss_family, SOCK_DGRAM, 0);

	if (size < 0 || size > (long)sizeof(payload) || count < 0)
		return 2;
	if (fd < 0 || bind_from(fd))
		return outcome(errno);
	memset(payload, 'u', size);
	for (long i = 0; i < count; i++)
		if (sendto(fd, payload, size, 0, (struct sockaddr *)ss, len) != size)
			return outcome(errno);
	return outcome(0);
}

/* Many denials, fast: for the audit pipeline's tests. */
static int do_flood(struct sockaddr_storage *ss, socklen_t len, long count, long ports, long secs)
{
	time_t end = secs > 0 ? time(NULL) + secs : 0;
	int fd = socket(ss->ss_family, SOCK_DGRAM, 0);
	in_port_t *port = ss->ss_family == AF_INET ? &((struct sockaddr_in *)ss)->sin_port
						   : &((struct sockaddr_in6 *)ss)->sin6_port;
	long refused = 0, first = ntohs(*port);

	if (fd < 0 || count < 0 || ports < 1 || first + ports - 1 > 65535)
		return outcome(fd < 0 ? errno : EINVAL);
	for (long i = 0; i < count; i++) {
		if (end && !(i & 1023) && time(NULL) >= end)
			break;
		if (ports > 1)
			*port = htons((in_port_t)(first + i % ports));
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)ss, len) < 0 && errno == EPERM)
			refused++;
	}
	printf("refused %ld\n", refused);
	return 0;
}

static int do_udp_recv(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	static char buf[65536];
	int fd = socket(ss->ss_family, SOCK_DGRAM, 0);
	long n = 0, bytes = 0;
	time_t end = time(NULL) + secs;

	if (fd < 0 || bind(fd, (struct sockaddr *)ss, len))
		return outcome(errno);
	puts("listening");
	fflush(stdout);
	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0) {
			ssize_t got = recv(fd, buf, sizeof(buf), 0);

			if (got >= 0) {
				n++;
				bytes += got;
			}
		}
	}
	printf("%ld %ld\n", n, bytes);
	return 0;
}

static int do_tcp_serve(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0), c = -1, one = 1;
	time_t end = time(NULL) + secs;
	long total = 0;
	char buf[4096];

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, len) || listen(fd, 4))
		return outcome(errno);
	puts("listening");
	fflush(stdout);
	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = c >= 0 ? c : fd, .events = POLLIN };

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (c < 0) {
			c = accept(fd, NULL, NULL);
			continue;
		}
		ssize_t got = recv(c, buf, sizeof(buf), 0);

		if (got <= 0)
			break;
		total += got;
		printf("%ld\n", total);
		fflush(stdout);
	}
	return 0;
}

static int do_tcp_stream(struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };
	time_t end = time(NULL) + secs;
	char chunk[100];

	memset(chunk, 's', sizeof(chunk));
	if (fd < 0 || bind_from(fd) || connect(fd, (struct sockaddr *)ss, len))
		return outcome(errno);
	while (time(NULL) < end) {
		if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0)
			return outcome(errno);
		nanosleep(&tick, NULL);
	}
	return outcome(0);
}

static int lsm_op(int argc, char **argv)
{
	const char *op = argv[0];

	if (!strcmp(op, "open") && argc == 3) {
		int how = !strcmp(argv[2], "write") ? O_WRONLY
			: !strcmp(argv[2], "trunc") ? O_RDONLY | O_TRUNC
			: !strcmp(argv[2], "ioctl") ? O_WRONLY | O_RDWR
			: !strcmp(argv[2], "path") || !strcmp(argv[2], "path-reopen") ? O_PATH
			: O_RDONLY;
		int fd = open(argv[1], how | O_CLOEXEC);
		char proc[64];

		if (fd < 0 || strcmp(argv[2], "path-reopen"))
			return outcome(fd < 0 ? errno : 0);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		fd = open(proc, O_RDONLY | O_CLOEXEC);
		return outcome(fd < 0 ? errno : 0);
	}
	if (!strcmp(op, "tun") && argc == 3) {
		struct ifreq ifr;
		int fd = open(argv[1], O_WRONLY | O_RDWR | O_CLOEXEC);

		if (fd < 0)
			return outcome(errno);
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
		return outcome(ioctl(fd, TUNSETIFF, &ifr) ? errno : 0);
	}
	if (!strcmp(op, "handle") && argc == 2) {
		struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
		unsigned char *b = (unsigned char *)(fh + 1);
		int mnt;

		if (!fh)
			return outcome(ENOMEM);
		fh->handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(AT_FDCWD, argv[1], fh, &mnt, 0)) {
			free(fh);
			return outcome(errno);
		}
		printf("%d:", fh->handle_type);
		for (unsigned k = 0; k < fh->handle_bytes; k++)
			printf("%02x", b[k]);
		printf("\n");
		free(fh);
		return 0;
	}
	if (!strcmp(op, "open-handle") && argc == 3) {
		struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
		unsigned char *b = (unsigned char *)(fh + 1);
		const char *hex = strchr(argv[2], ':');
		int mfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;

		if (!fh || mfd < 0) {
			free(fh);
			return outcome(!fh ? ENOMEM : errno);
		}
		if (!hex || strlen(hex + 1) % 2 || strlen(hex + 1) / 2 > MAX_HANDLE_SZ) {
			free(fh);
			return -1;
		}
		fh->handle_type = atoi(argv[2]);
		fh->handle_bytes = strlen(hex + 1) / 2;
		for (unsigned k = 0; k < fh->handle_bytes; k++)
			sscanf(hex + 1 + 2 * k, "%2hhx", &b[k]);
		fd = open_by_handle_at(mfd, fh, O_RDONLY | O_CLOEXEC);
		free(fh);
		return outcome(fd < 0 ? errno : 0);
	}
	if (!strcmp(op, "open-tree") && argc == 3) {
		int tfd = syscall(SYS_open_tree, AT_FDCWD, argv[1], OPEN_TREE_CLONE | O_CLOEXEC);
		int fd;

		if (tfd < 0) {
			fprintf(stderr, "ugprobe: open_tree: %s\n", strerror(errno));
			return outcome(errno);
		}
		fd = openat(tfd, argv[2], O_RDONLY | O_CLOEXEC);
		return outcome(fd < 0 ? errno : 0);
	}
	if (!strcmp(op, "open-detached") && argc == 3) {
		int dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;

		if (dfd < 0 || umount2(argv[1], MNT_DETACH)) {
			fprintf(stderr, "ugprobe: %s: %s\n", argv[1], strerror(errno));
			return outcome(errno);
		}
		fd = openat(dfd, argv[2], O_RDONLY | O_CLOEXEC);
		return outcome(fd < 0 ? errno : 0);
	}
	if (!strcmp(op, "open-flood") && argc == 3) {
		long n = atol(argv[2]), refused = 0;

		for (long i = 0; i < n; i++) {
			int fd = open(argv[1], O_RDONLY | O_CLOEXEC);

			if (fd >= 0)
				close(fd);
			else if (errno == EPERM)
				refused++;
		}
		printf("refused %ld\n", refused);
		return 0;
	}
	if (!strcmp(op, "socket") && argc == 2) {
		int family = atoi(argv[1]);
		int fd = socket(family, family == AF_NETLINK ? SOCK_DGRAM : SOCK_RAW, 0);

		return outcome(fd < 0 ? errno : 0);
	}
	if (!strcmp(op, "bpf") && argc == 1) {
		union bpf_attr attr;

		memset(&attr, 0, sizeof(attr));
		/* ENOENT (no program at all) also means the call was allowed. */
		if (syscall(SYS_bpf, BPF_PROG_GET_NEXT_ID, &attr, sizeof(attr)) < 0 &&
		    errno != ENOENT)
			return outcome(errno);
		return outcome(0);
	}
	if (!strcmp(op, "ptrace") && argc == 2) {
		pid_t pid = atoi(argv[1]);

		if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0)
			return outcome(errno);
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return outcome(0);
	}
	if (!strcmp(op, "finit") && argc == 2) {
		int fd = open(argv[1], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return outcome(errno);
		/* EEXIST (already loaded) also means the call was allowed. */
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			return outcome(errno);
		return outcome(0);
	}
	if (!strcmp(op, "mount") && argc == 2) {
		if (mount("ugprobe", argv[1], "tmpfs", 0, NULL))
			return outcome(errno);
		umount(argv[1]);
		return outcome(0);
	}
	if (!strcmp(op, "umount") && argc == 2)
		return outcome(umount(argv[1]) ? errno : 0);
	if (!strcmp(op, "chroot") && argc == 2)
		return outcome(chroot(argv[1]) ? errno : 0);
	if (!strcmp(op, "userns") && argc == 1)
		return outcome(unshare(CLONE_NEWUSER) ? errno : 0);
	if (!strcmp(op, "exec") && argc >= 2) {
		fflush(stdout);
		execv(argv[1], argv + 1);
		return outcome(errno);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i = 1;

	if (argc > i + 1 && !strcmp(argv[i], "--cgroup")) {
		if (probe_join_cgroup(argv[i + 1]))
			return 2;
		i += 2;
	}
	if (argc > i + 1 && !strcmp(argv[i], "--from")) {
		if (probe_parse_addr(argv[i + 1], NULL, &from, &from_len)) {
			fprintf(stderr, "ugprobe: bad --from address '%s'\n", argv[i + 1]);
			return 2;
		}
		i += 2;
	}
	if (argc > i + 1 && !strcmp(argv[i], "--ext6")) {
		ext6 = argv[i + 1];
		i += 2;
	}
	if (argc - i >= 1) {
		int r = lsm_op(argc - i, argv + i);

		if (r >= 0)
			return r;
	}
	if (argc - i < 2)
		goto usage;
	if (probe_parse_addr(argv[i + 1], argc - i > 2 ? argv[i + 2] : NULL, &ss, &len)) {
		fprintf(stderr, "ugprobe: bad address '%s'\n", argv[i + 1]);
		return 2;
	}
	if (!strcmp(argv[i], "connect") && argc - i == 3)
		return do_connect(&ss, len);
	if (!strcmp(argv[i], "udp") && argc - i == 3)
		return do_udp(&ss, len);
	if (!strcmp(argv[i], "icmp") && argc - i == 2)
		return do_icmp(&ss, len);
	if (!strcmp(argv[i], "listen") && argc - i == 4)
		return do_listen(&ss, len, atoi(argv[i + 3]));
	if (!strcmp(argv[i], "bind") && argc - i == 3)
		return do_bind(&ss, len);
	if (!strcmp(argv[i], "bind-v6only") && argc - i == 3) {
		int one = 1;

		v6only = &one;
		return do_bind(&ss, len);
	}
	if (!strcmp(argv[i], "listen-auto") && argc - i == 3)
		return do_listen_auto(ss.ss_family, atoi(argv[i + 2]));
	if (!strcmp(argv[i], "raw6") && argc - i == 4)
		return do_raw6(&ss, len, atol(argv[i + 3]), atol(argv[i + 2]));
	if (!strcmp(argv[i], "udp-send") && argc - i == 5)
		return do_udp_send(&ss, len, atol(argv[i + 3]), atol(argv[i + 4]));
	if (!strcmp(argv[i], "flood") && argc - i >= 4 && argc - i <= 6)
		return do_flood(&ss, len, atol(argv[i + 3]), argc - i >= 5 ? atol(argv[i + 4]) : 1,
				argc - i == 6 ? atol(argv[i + 5]) : 0);
	if (!strcmp(argv[i], "udp-recv") && argc - i == 4)
		return do_udp_recv(&ss, len, atoi(argv[i + 3]));
	if (!strcmp(argv[i], "tcp-serve") && argc - i == 4)
		return do_tcp_serve(&ss, len, atoi(argv[i + 3]));
	if (!strcmp(argv[i], "tcp-stream") && argc - i == 4)
		return do_tcp_stream(&ss, len, atoi(argv[i + 3]));
usage:
	fprintf(stderr, "usage: see the comment at the top of tests/e2e/ugprobe.c\n");
	return 2;
}
