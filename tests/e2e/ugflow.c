// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ugflow: flows that last, for the e2e tests of who may reach a unit
 * (tests/e2e/replies.sh): both ends of a conversation, and the socket-call
 * sequences a tenant could try to make an inbound packet look like a reply.
 * ugprobe does one operation and exits; these keep a socket open.
 *
 *   ugflow [--cgroup DIR] echo tcp|udp ADDR PORT SECS
 *       TCP: accept every connection and send back every byte; UDP: send
 *       every datagram back to its sender. Prints "listening" when ready.
 *   ugflow [--cgroup DIR] [--from ADDR] session tcp|udp|udp-unconnected ADDR PORT
 *       tcp, udp: connect(2) to ADDR PORT; udp-unconnected: a bound UDP
 *       socket that sends with sendto(2). Prints "ready LOCALPORT" or the
 *       error, then reads commands from stdin, one per line:
 *         ping  one byte to ADDR PORT, then waits 1 s for one back: prints
 *               "ok", "timeout", "closed" or the error
 *         recv  waits 1 s for anything from anyone: "from ADDR" or "timeout"
 *         disconnect  connect(2) to AF_UNSPEC: a UDP socket is unconnected again
 *         connect ADDR PORT  connect(2) the (UDP) socket to another peer: "ok" or
 *               the error
 *   ugflow [--cgroup DIR] connect-listen ADDR PORT SECS
 *       connect(2) a TCP socket to ADDR PORT, where nothing listens; then
 *       listen(2) on that same socket, at the port the connect bound. Prints
 *       the connect's outcome, "listening LOCALPORT", and after SECS seconds
 *       of accepting, "accepted N"; or "listen: ERROR" where the kernel
 *       refuses the listen.
 *   ugflow [--cgroup DIR] reuseport-udp ADDR PORT PEER PPORT SECS
 *       two UDP sockets in one SO_REUSEPORT group at ADDR PORT, the first
 *       connected to PEER PPORT. Prints "listening", and after SECS seconds
 *       "CONNECTED UNCONNECTED": the datagrams each received.
 *   ugflow [--cgroup DIR] self-connect ADDR PORT
 *       a TCP socket bound to ADDR PORT connects to ADDR PORT: a simultaneous
 *       open with itself (its SYN arrives while it is in SYN_SENT). Prints
 *       the outcome.
 *   ugflow send-udp FROM FROMPORT ADDR PORT
 *       one datagram from FROM FROMPORT (SO_REUSEADDR) to ADDR PORT.
 *
 * Exit status 0 unless the usage is wrong (2) or the setup fails (1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe_common.h"

static const char *err_name(int err)
{
	static char buf[64];

	switch (err) {
	case EPERM: return "EPERM";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EINVAL: return "EINVAL";
	default:
		snprintf(buf, sizeof(buf), "errno=%d", err);
		return buf;
	}
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)ss)->sin_addr
						 : (const void *)&((struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, len))
		snprintf(buf, len, "?");
}

/* A TCP connect with a 2 s bound: 0 or an errno. */
static int connect_2s(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t elen;
	int err = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (!connect(fd, (const struct sockaddr *)ss, len))
		goto done;
	if (errno != EINPROGRESS)
		return errno;
	if (poll(&pfd, 1, 2000) == 0)
		return ETIMEDOUT;
	elen = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
done:
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return err;
}

static int wait_in(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms);
}

static int do_echo(int tcp, const struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int fd = socket(ss->ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0), one = 1;
	struct pollfd pfd[64];
	time_t end = time(NULL) + secs;
	char buf[2048];
	int n = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)ss, len) || (tcp && listen(fd, 16))) {
		printf("%s\n", err_name(errno));
		return 1;
	}
	puts("listening");
	fflush(stdout);
	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (time(NULL) < end) {
		if (poll(pfd, n, 100) <= 0)
			continue;
		if (!tcp && (pfd[0].revents & POLLIN)) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t got = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

			if (got >= 0)
				sendto(fd, buf, got, 0, (struct sockaddr *)&from, flen);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0 && n < 64)
				pfd[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			else if (c >= 0)
				close(c);
		}
		for (int i = 1; i < n; i++) {
			ssize_t got;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = recv(pfd[i].fd, buf, sizeof(buf), 0);
			if (got > 0) {
				send(pfd[i].fd, buf, got, MSG_NOSIGNAL);
				continue;
			}
			close(pfd[i].fd);
			pfd[i--] = pfd[--n];
		}
	}
	return 0;
}

static int do_session(const char *kind, const struct sockaddr_storage *from, socklen_t from_len,
		      const struct sockaddr_storage *ss, socklen_t len)
{
	int tcp = !strcmp(kind, "tcp"), unconnected = !strcmp(kind, "udp-unconnected");
	int fd = socket(ss->ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0), err = 0;
	char line[64], buf[2048];

	if (!tcp && !unconnected && strcmp(kind, "udp"))
		return 2;
	if (fd < 0 || (from_len && bind(fd, (const struct sockaddr *)from, from_len)))
		err = errno;
	else if (tcp)
		err = connect_2s(fd, ss, len);
	else if (!unconnected && connect(fd, (const struct sockaddr *)ss, len))
		err = errno;
	else if (unconnected && !from_len) {
		struct sockaddr_storage any = { .ss_family = ss->ss_family };

		if (bind(fd, (struct sockaddr *)&any, len))
			err = errno;
	}
	if (err) {
		printf("%s\n", err_name(err));
		return 1;
	}
	printf("ready %d\n", local_port(fd));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t got;

		/* What an earlier command's reply left behind is not this one's. */
		while (wait_in(fd, 0) > 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		if (!strncmp(line, "ping", 4)) {
			got = unconnected ? sendto(fd, "x", 1, 0, (const struct sockaddr *)ss, len)
					  : send(fd, "x", 1, MSG_NOSIGNAL);
			if (got < 0)
				printf("%s\n", err_name(errno));
			else if (wait_in(fd, 1000) <= 0)
				puts("timeout");
			else if ((got = recv(fd, buf, sizeof(buf), 0)) > 0)
				puts("ok");
			else
				puts(got == 0 ? "closed" : err_name(errno));
		} else if (!strncmp(line, "recv", 4)) {
			if (wait_in(fd, 1000) <= 0) {
				puts("timeout");
			} else if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer,
					    &plen) < 0) {
				puts(err_name(errno));
			} else {
				char a[INET6_ADDRSTRLEN];

				addr_str(&peer, a, sizeof(a));
				printf("from %s\n", a);
			}
		} else if (!strncmp(line, "connect ", 8)) {
			char a[64], p[8];
			struct sockaddr_storage to;
			socklen_t tlen;

			if (sscanf(line + 8, "%63s %7s", a, p) != 2 || probe_parse_addr(a, p, &to, &tlen))
				puts("?");
			else
				puts(connect(fd, (const struct sockaddr *)&to, tlen) ? err_name(errno)
										   : "ok");
		} else if (!strncmp(line, "disconnect", 10)) {
			struct sockaddr sa = { .sa_family = AF_UNSPEC };

			puts(connect(fd, &sa, sizeof(sa)) ? err_name(errno) : "ok");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			puts("?");
		}
		fflush(stdout);
	}
	return 0;
}

static int do_connect_listen(const struct sockaddr_storage *ss, socklen_t len, int secs)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0), err, n = 0;
	time_t end = time(NULL) + secs;

	if (fd < 0)
		return 1;
	/* Blocking: a failed one leaves the socket unconnected, free to listen. */
	err = connect(fd, (const struct sockaddr *)ss, len) ? errno : 0;
	printf("%s\n", err ? err_name(err) : "ok");
	/* Some kernels refuse it (6.18: EINVAL, also after an AF_UNSPEC connect). */
	if (listen(fd, 16)) {
		printf("listen: %s\n", err_name(errno));
		return 0;
	}
	printf("listening %d\n", local_port(fd));
	fflush(stdout);
	while (time(NULL) < end) {
		if (wait_in(fd, 100) > 0) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0) {
				n++;
				close(c);
			}
		}
	}
	printf("accepted %d\n", n);
	return 0;
}

static int do_reuseport_udp(const struct sockaddr_storage *ss, socklen_t len,
			    const struct sockaddr_storage *peer, socklen_t plen, int secs)
{
	struct pollfd pfd[2];
	time_t end = time(NULL) + secs;
	long count[2] = { 0, 0 };
	char buf[2048];
	int one = 1;

	for (int i = 0; i < 2; i++) {
		int fd = socket(ss->ss_family, SOCK_DGRAM, 0);

		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    bind(fd, (const struct sockaddr *)ss, len) ||
		    (i == 0 && connect(fd, (const struct sockaddr *)peer, plen))) {
			printf("%s\n", err_name(errno));
			return 1;
		}
		pfd[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	puts("listening");
	fflush(stdout);
	while (time(NULL) < end) {
		if (poll(pfd, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++)
			if ((pfd[i].revents & POLLIN) && recv(pfd[i].fd, buf, sizeof(buf), 0) >= 0)
				count[i]++;
	}
	printf("%ld %ld\n", count[0], count[1]);
	return 0;
}

static int do_self_connect(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0), one = 1, err;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)ss, len)) {
		printf("%s\n", err_name(errno));
		return 1;
	}
	err = connect_2s(fd, ss, len);
	printf("%s\n", err ? err_name(err) : "ok");
	return 0;
}

static int do_send_udp(const struct sockaddr_storage *from, socklen_t from_len,
		       const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)from, from_len) ||
	    sendto(fd, "x", 1, 0, (const struct sockaddr *)ss, len) < 0) {
		printf("%s\n", err_name(errno));
		return 1;
	}
	puts("ok");
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss, from, peer;
	socklen_t len, from_len = 0, plen;
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > i + 1 && !strcmp(argv[i], "--cgroup")) {
		if (probe_join_cgroup(argv[i + 1]))
			return 2;
		i += 2;
	}
	if (argc > i + 1 && !strcmp(argv[i], "--from")) {
		if (probe_parse_addr(argv[i + 1], NULL, &from, &from_len))
			goto usage;
		i += 2;
	}
	argc -= i;
	argv += i;
	if (argc == 5 && !strcmp(argv[0], "echo") && !probe_parse_addr(argv[2], argv[3], &ss, &len))
		return do_echo(!strcmp(argv[1], "tcp"), &ss, len, atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[0], "session") && !probe_parse_addr(argv[2], argv[3], &ss, &len))
		return do_session(argv[1], &from, from_len, &ss, len);
	if (argc == 4 && !strcmp(argv[0], "connect-listen") &&
	    !probe_parse_addr(argv[1], argv[2], &ss, &len))
		return do_connect_listen(&ss, len, atoi(argv[3]));
	if (argc == 6 && !strcmp(argv[0], "reuseport-udp") &&
	    !probe_parse_addr(argv[1], argv[2], &ss, &len) && !probe_parse_addr(argv[3], argv[4], &peer, &plen))
		return do_reuseport_udp(&ss, len, &peer, plen, atoi(argv[5]));
	if (argc == 3 && !strcmp(argv[0], "self-connect") && !probe_parse_addr(argv[1], argv[2], &ss, &len))
		return do_self_connect(&ss, len);
	if (argc == 5 && !strcmp(argv[0], "send-udp") &&
	    !probe_parse_addr(argv[1], argv[2], &from, &from_len) && !probe_parse_addr(argv[3], argv[4], &ss, &len))
		return do_send_udp(&from, from_len, &ss, len);
usage:
	fprintf(stderr, "usage: see the comment at the top of tests/e2e/ugflow.c\n");
	return 2;
}
