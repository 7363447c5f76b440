// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * netbench: what a socket in a cgroup pays, over loopback only.
 *
 *   netbench [--cgroup DIR]... [--on-cgroup DIR --on-cmd CMD --off-cmd CMD]...
 *	    [--udp N] [--connect N] [--blocks B] [--cpu C] [--server-cpu C]
 *	UDP request/response (1-byte datagrams on a connected socket) to an echo
 *	server, and socket()+connect()+close() to a TCP listener, both on
 *	127.0.0.1, N of each per cgroup (default 20000 and 5000). The servers
 *	are forked before this process joins any DIR, so only the client side
 *	runs in the measured cgroups. The samples are taken in B interleaved
 *	blocks (default 10). --on-cgroup targets are measured while the effect
 *	of --on-cmd holds: in each block, CMD runs (sh -c) before them and
 *	--off-cmd after. Prints one line per target:
 *	cgroup=DIR state=on|off udp_n= udp_mean_ns= udp_median_ns= connect_n=
 *	connect_mean_ns= connect_median_ns=
 *
 *   netbench [--cgroup DIR] check ADDR
 *	connect() a UDP socket to ADDR:9 and print "ok" or the errno name.
 *	A UDP connect sends nothing, so ADDR may be any address (the benchmark
 *	checks that a rule's 10.x address is denied without reaching it).
 *
 *   netbench [--cgroup DIR] send ADDR
 *	send one UDP datagram to ADDR:9 and print "ok" or the errno name.
 *	ADDR must be in 127.0.0.0/8.
 *
 *   netbench [--cgroup DIR] apply-latency ADDR TIMEOUT_MS CMD [ARG...]
 *	Run CMD (outside DIR; it commits a store change), and poll "check ADDR"
 *	from inside DIR until it gives EPERM. Prints cmd_ns= (CMD's run time,
 *	its commit is at its end), enforced_ns= (from CMD's exit to the first
 *	EPERM; polling every 100 us) and total_ns= (from CMD's start).
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_UDP 200
#define WARMUP_CONNECT 50
#define MAX_TARGETS 16
#define MAX_COUNT 10000000L

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "netbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void join_cgroup(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	if (dprintf(fd, "%d\n", (int)getpid()) < 0)
		die(path);
	close(fd);
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	return a;
}

static int bound_socket(int type, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int one = 1, fd;

	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	*addr = loopback(0);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)))
		die("bind 127.0.0.1");
	if (getsockname(fd, (struct sockaddr *)addr, &len))
		die("getsockname");
	return fd;
}

/* A server process, forked before the client joins the measured cgroup; it
 * dies with the client. */
static pid_t fork_server(int cpu, void (*serve)(int), int fd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pin_cpu(cpu);
	serve(fd);
	_exit(0);
}

static void serve_udp(int fd)
{
	struct sockaddr_in peer;
	socklen_t len;
	char buf[64];
	ssize_t n;

	for (;;) {
		len = sizeof(peer);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("echo recvfrom");
		if (sendto(fd, buf, n, 0, (struct sockaddr *)&peer, len) < 0 && errno != EINTR)
			die("echo sendto");
	}
}

/*
 * Drains the accept queue every 200 us rather than waking up for each
 * connection: a wake-up per connect would make the client's timing depend on
 * where the scheduler runs the acceptor. A plain close (FIN): a reset from
 * this side could reach the client before its connect() returns. The
 * client's RST then ends this side too, without TIME_WAIT.
 */
static void serve_tcp(int fd)
{
	struct timespec pause = { .tv_nsec = 200000 };

	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c >= 0) {
			close(c);
			continue;
		}
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			die("accept");
		nanosleep(&pause, NULL);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void stats(uint64_t *v, long n, uint64_t *mean, uint64_t *median)
{
	unsigned long long sum = 0;

	for (long i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp_u64);
	*mean = n ? sum / n : 0;
	*median = n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/* One block of n round trips on a socket created now, i.e. in the cgroup the
 * process is in now. */
static void bench_udp(const struct sockaddr_in *srv, long n, uint64_t *lat)
{
	char buf[64] = "x";
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("udp socket");
	if (connect(fd, (const struct sockaddr *)srv, sizeof(*srv)))
		die("udp connect 127.0.0.1");
	for (long i = -WARMUP_UDP; i < n; i++) {
		uint64_t t0 = now_ns();

		if (send(fd, buf, 1, 0) != 1)
			die("udp send");
		if (recv(fd, buf, sizeof(buf), 0) != 1)
			die("udp recv");
		if (i >= 0)
			lat[i] = now_ns() - t0;
	}
	close(fd);
}

static void bench_connect(const struct sockaddr_in *srv, long n, uint64_t *lat)
{
	/* RST on close: no TIME_WAIT on either side, ports never run out. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (long i = -WARMUP_CONNECT; i < n; i++) {
		uint64_t t0 = now_ns();
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("tcp socket");
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			die("SO_LINGER");
		if (connect(fd, (const struct sockaddr *)srv, sizeof(*srv)))
			die("tcp connect 127.0.0.1");
		close(fd);
		if (i >= 0)
			lat[i] = now_ns() - t0;
	}
}

struct target {
	const char *cg; /* NULL: stay where started */
	bool on;        /* measured while --on-cmd is in effect */
	uint64_t *udp, *conn;
};

struct opts {
	long n_udp, n_conn, blocks;
	int cpu, server_cpu;
	const char *on_cmd, *off_cmd;
};

/* CMD through /bin/sh, which must succeed. */
static void run_cmd(const char *cmd)
{
	int status;
	pid_t pid;

	if (!cmd)
		return;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "netbench: '%s' failed\n", cmd);
		exit(1);
	}
}

/* One slice of every target of one state, in an order rotated by b. */
static void run_slices(struct target *t, int n_t, bool on, long b, const struct opts *o,
		       const struct sockaddr_in *udp_addr, const struct sockaddr_in *tcp_addr)
{
	long udp_per = o->n_udp / o->blocks, conn_per = o->n_conn / o->blocks;

	for (int k = 0; k < n_t; k++) {
		struct target *x = &t[(b + k) % n_t];

		if (x->on != on)
			continue;
		if (x->cg)
			join_cgroup(x->cg);
		if (udp_per)
			bench_udp(udp_addr, udp_per, x->udp + b * udp_per);
		if (conn_per)
			bench_connect(tcp_addr, conn_per, x->conn + b * conn_per);
	}
}

/*
 * Each target's samples are taken in `blocks` slices, the targets taking
 * turns (in an order rotated every block), so drift on a shared machine
 * falls on every target alike. The process moves between cgroups between
 * slices; its sockets belong to the cgroup it was in when it created them.
 * Targets marked "on" are measured, in every block, between --on-cmd and
 * --off-cmd (e.g. loading and removing a firewall chain), first or last in
 * the block by turns.
 */
static int run_bench(struct target *t, int n_t, struct opts *o)
{
	struct sockaddr_in udp_addr, tcp_addr;
	uint64_t mean, median;
	pid_t udp_pid, tcp_pid;
	bool any_on = false;
	int ufd, tfd;

	o->n_udp = o->n_udp / o->blocks * o->blocks;
	o->n_conn = o->n_conn / o->blocks * o->blocks;
	for (int j = 0; j < n_t; j++) {
		t[j].udp = calloc(o->n_udp + 1, sizeof(uint64_t));
		t[j].conn = calloc(o->n_conn + 1, sizeof(uint64_t));
		if (!t[j].udp || !t[j].conn)
			die("calloc");
		any_on |= t[j].on;
	}
	ufd = bound_socket(SOCK_DGRAM, &udp_addr);
	tfd = bound_socket(SOCK_STREAM | SOCK_NONBLOCK, &tcp_addr);
	if (listen(tfd, 4096))
		die("listen");
	udp_pid = fork_server(o->server_cpu, serve_udp, ufd);
	tcp_pid = fork_server(o->server_cpu, serve_tcp, tfd);
	close(ufd);
	close(tfd);
	pin_cpu(o->cpu);

	for (long b = 0; b < o->blocks; b++) {
		bool on_first = any_on && b % 2;

		if (on_first) {
			run_cmd(o->on_cmd);
			run_slices(t, n_t, true, b, o, &udp_addr, &tcp_addr);
			run_cmd(o->off_cmd);
		}
		run_slices(t, n_t, false, b, o, &udp_addr, &tcp_addr);
		if (any_on && !on_first) {
			run_cmd(o->on_cmd);
			run_slices(t, n_t, true, b, o, &udp_addr, &tcp_addr);
			run_cmd(o->off_cmd);
		}
	}

	for (int j = 0; j < n_t; j++) {
		printf("cgroup=%s state=%s udp_n=%ld", t[j].cg ? t[j].cg : "-",
		       t[j].on ? "on" : "off", o->n_udp);
		if (o->n_udp) {
			stats(t[j].udp, o->n_udp, &mean, &median);
			printf(" udp_mean_ns=%llu udp_median_ns=%llu", (unsigned long long)mean,
			       (unsigned long long)median);
		}
		printf(" connect_n=%ld", o->n_conn);
		if (o->n_conn) {
			stats(t[j].conn, o->n_conn, &mean, &median);
			printf(" connect_mean_ns=%llu connect_median_ns=%llu",
			       (unsigned long long)mean, (unsigned long long)median);
		}
		printf("\n");
		free(t[j].udp);
		free(t[j].conn);
	}
	kill(udp_pid, SIGKILL);
	kill(tcp_pid, SIGKILL);
	waitpid(udp_pid, NULL, 0);
	waitpid(tcp_pid, NULL, 0);
	return 0;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	*a = loopback(9);
	return inet_pton(AF_INET, s, &a->sin_addr) == 1 ? 0 : -1;
}

/* 0 when a UDP connect() to ADDR:9 passes, else the errno. Sends nothing. */
static int udp_connect_check(const struct sockaddr_in *a)
{
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)))
		err = errno;
	close(fd);
	return err;
}

static const char *errname(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case EPERM:
		return "EPERM";
	case ENETUNREACH:
		return "ENETUNREACH";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	default:
		return strerror(err);
	}
}

static int run_send(const struct sockaddr_in *a)
{
	int fd, err = 0;

	if ((ntohl(a->sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "netbench: send: only 127.0.0.0/8 destinations\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (sendto(fd, "x", 1, 0, (const struct sockaddr *)a, sizeof(*a)) < 0)
		err = errno;
	close(fd);
	printf("%s\n", errname(err));
	return 0;
}

static int run_apply_latency(const char *cg, const struct sockaddr_in *a, long timeout_ms,
			     char **cmd)
{
	uint64_t t_start, t_exit = 0, t_enf = 0, deadline;
	struct timespec pause = { .tv_nsec = 100000 };
	int go[2], status = 0, err;
	pid_t pid;
	char c = 0;

	if (pipe2(go, O_CLOEXEC))
		die("pipe");
	/* Forked before joining: CMD runs outside the measured cgroup. */
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(cmd[0], cmd);
		fprintf(stderr, "netbench: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	if (cg)
		join_cgroup(cg);
	err = udp_connect_check(a);
	if (err == EPERM) {
		fprintf(stderr, "netbench: apply-latency: the address is denied already\n");
		kill(pid, SIGKILL);
		return 1;
	}

	t_start = now_ns();
	deadline = t_start + (uint64_t)timeout_ms * 1000000ull;
	if (write(go[1], &c, 1) != 1)
		die("write");
	close(go[1]);
	while (!t_enf || !t_exit) {
		uint64_t t;

		err = udp_connect_check(a);
		t = now_ns();
		if (!t_enf && err == EPERM)
			t_enf = t;
		if (!t_exit && waitpid(pid, &status, WNOHANG) == pid)
			t_exit = now_ns();
		if (t > deadline)
			break;
		nanosleep(&pause, NULL);
	}
	if (!t_exit) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "netbench: apply-latency: command still running after %ld ms\n",
			timeout_ms);
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "netbench: apply-latency: command failed (status %d)\n", status);
		return 1;
	}
	if (!t_enf) {
		fprintf(stderr, "netbench: apply-latency: not denied within %ld ms\n", timeout_ms);
		return 1;
	}
	printf("cmd_ns=%llu enforced_ns=%lld total_ns=%llu\n",
	       (unsigned long long)(t_exit - t_start), (long long)t_enf - (long long)t_exit,
	       (unsigned long long)(t_enf - t_start));
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: netbench [--cgroup DIR]... [--on-cgroup DIR --on-cmd CMD --off-cmd CMD]...\n"
		"                [--udp N] [--connect N] [--blocks B] [--cpu C] [--server-cpu C]\n"
		"       netbench [--cgroup DIR] check ADDR\n"
		"       netbench [--cgroup DIR] send ADDR\n"
		"       netbench [--cgroup DIR] apply-latency ADDR TIMEOUT_MS CMD [ARG...]\n");
	exit(2);
}

static long count_arg(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > MAX_COUNT)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.n_udp = 20000, .n_conn = 5000, .blocks = 10, .cpu = -1, .server_cpu = -1,
	};
	struct target t[MAX_TARGETS] = { { 0 } };
	const char *cg = NULL;
	struct sockaddr_in a;
	int n_t = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--cgroup") || !strcmp(argv[i], "--on-cgroup")) {
			if (n_t == MAX_TARGETS)
				usage();
			t[n_t].on = !strcmp(argv[i], "--on-cgroup");
			cg = t[n_t++].cg = argv[++i];
		} else if (!strcmp(argv[i], "--on-cmd")) {
			o.on_cmd = argv[++i];
		} else if (!strcmp(argv[i], "--off-cmd")) {
			o.off_cmd = argv[++i];
		} else if (!strcmp(argv[i], "--blocks")) {
			o.blocks = count_arg(argv[++i]);
		} else if (!strcmp(argv[i], "--udp")) {
			o.n_udp = count_arg(argv[++i]);
		} else if (!strcmp(argv[i], "--connect")) {
			o.n_conn = count_arg(argv[++i]);
		} else if (!strcmp(argv[i], "--cpu")) {
			o.cpu = (int)count_arg(argv[++i]);
		} else if (!strcmp(argv[i], "--server-cpu")) {
			o.server_cpu = (int)count_arg(argv[++i]);
		} else {
			usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (i == argc) {
		if (o.blocks < 1)
			usage();
		return run_bench(t, n_t ?: 1, &o);
	}
	if (n_t > 1)
		usage();

	if (!strcmp(argv[i], "check") && argc - i == 2) {
		if (parse_addr(argv[i + 1], &a))
			usage();
		if (cg)
			join_cgroup(cg);
		printf("%s\n", errname(udp_connect_check(&a)));
		return 0;
	}
	if (!strcmp(argv[i], "send") && argc - i == 2) {
		if (parse_addr(argv[i + 1], &a))
			usage();
		if (cg)
			join_cgroup(cg);
		return run_send(&a);
	}
	if (!strcmp(argv[i], "apply-latency") && argc - i >= 4) {
		if (parse_addr(argv[i + 1], &a))
			usage();
		return run_apply_latency(cg, &a, count_arg(argv[i + 2]), &argv[i + 3]);
	}
	usage();
	return 2;
}
