// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's metrics: the apply latency it measures, and the opt-in HTTP
 * listener (--metrics-listen ADDR:PORT) that serves metrics/prom.c's text.
 *
 * Why a thread of its own: a scrape reads the store's audit_totals view,
 * which scans the audit table (up to --audit-max-size). In the event loop
 * that would hold back the ring buffers, policy changes and the watchdog for
 * as long; on libmicrohttpd's one internal thread it holds back only the
 * next scrape. That thread shares nothing with the loop: it has its own store
 * connection (SQLite's WAL lets it read while the agent writes) and opens the
 * pinned maps itself, exactly as `unitguardctl metrics` does. The agent's
 * memory is never read from it; what only the agent knows (the apply
 * latency) reaches the formatter through agent_state.
 *
 * A slow or hostile client: libmicrohttpd does all I/O without blocking, a
 * connection idle for 10 s is closed, at most 8 connections (2 per address)
 * are open at once, and only GET /metrics does any work. A client that
 * trickles a byte now and then is never idle: every connection is shut down
 * 10 s after it was accepted, whatever it is doing (a scrape takes
 * milliseconds), so one local process using many loopback addresses cannot
 * hold every connection for longer. libmicrohttpd has no such deadline, so
 * the listener's thread is ours: it runs libmicrohttpd's loop and, between
 * two rounds, shuts down the connections past theirs (in the same thread as
 * every libmicrohttpd callback, so a descriptor it closed is never touched).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

#define UG_HTTP_CONNECTIONS 8u
#define UG_HTTP_PER_ADDRESS 2u
#define UG_HTTP_IDLE_SECONDS 10u
#define UG_HTTP_DEADLINE_NS (10 * 1000000000ULL) /* after accept, whatever the client does */
#define UG_HTTP_BACKLOG 16

struct ug_httpd;

struct metrics {
	struct ug_store *st;
	/* A policy change not yet acknowledged: since when the agent has seen it. */
	struct ug_latency hist;
	bool pending;
	int64_t version;  /* the policy version seen */
	uint64_t seen_ns; /* CLOCK_MONOTONIC */
	bool unsaved;     /* hist is newer than agent_state's copy */
	struct ug_httpd *httpd; /* the listener, or NULL */
};

/* --- apply latency ------------------------------------------------------------ */

static void save_latency(struct metrics *m)
{
	char buf[512];

	if (ug_latency_encode(&m->hist, buf, sizeof(buf)))
		return;
	/* Not written (the store locked): kept, written after the next apply. */
	m->unsaved = ug_store_agent_set(m->st, UG_LATENCY_KEY, buf) != 0;
}

void metrics_change_seen(struct metrics *m, int64_t version, int64_t applied)
{
	/* Until its first acknowledgement the agent is starting, not applying
	 * a change; one already pending keeps the earlier time (a change seen
	 * while another is applied is in force with it, or later). */
	if (!m || applied < 0 || version <= applied || m->pending)
		return;
	m->pending = true;
	m->version = version;
	m->seen_ns = ug_now_ns();
}

void metrics_applied(struct metrics *m, int64_t ack)
{
	if (!m)
		return;
	if (!m->pending || ack < m->version) {
		if (m->unsaved)
			save_latency(m);
		return;
	}
	ug_latency_observe(&m->hist, (ug_now_ns() - m->seen_ns) / 1000);
	m->pending = false;
	save_latency(m);
}

/* --- the listener -------------------------------------------------------------- */

int metrics_parse_listen(const char *s, struct metrics_listen *out, char *why, size_t len)
{
	const char *given = s, *port, *end;
	char host[INET6_ADDRSTRLEN];
	unsigned long p = 0;
	size_t n;
	int family;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(out->text)) {
		ug_fmt(why, len, "too long");
		return -EINVAL;
	}
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':') {
			ug_fmt(why, len, "an IPv6 address in brackets must be followed by :PORT");
			return -EINVAL;
		}
		n = (size_t)(end - s - 1);
		s++;
		port = end + 2;
		family = AF_INET6;
	} else {
		end = strrchr(s, ':');
		if (!end) {
			ug_fmt(why, len, "no :PORT");
			return -EINVAL;
		}
		if (memchr(s, ':', (size_t)(end - s))) {
			ug_fmt(why, len, "an IPv6 address goes in brackets: [ADDR]:PORT");
			return -EINVAL;
		}
		n = (size_t)(end - s);
		port = end + 1;
		family = AF_INET;
	}
	if (!n || n >= sizeof(host)) {
		ug_fmt(why, len, "no address");
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	for (const char *c = port; *c; c++) {
		if (*c < '0' || *c > '9' || p > 65535) {
			p = 0;
			break;
		}
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (!port[0] || !p || p > 65535) {
		ug_fmt(why, len, "the port must be a number from 1 to 65535");
		return -EINVAL;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			ug_fmt(why, len, "'%s' is not a numeric IPv6 address", host);
			return -EINVAL;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			ug_fmt(why, len, "'%s' is not a numeric IPv4 address (names are not resolved)",
			       host);
			return -EINVAL;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		out->len = sizeof(*a);
	}
	ug_fmt(out->text, sizeof(out->text), "%s", given);
	return 0;
}

struct ug_httpd {
	struct MHD_Daemon *d;
	char *db_path;
	char *pin_dir;
	struct ug_store *st; /* the listener thread's own; only it uses it */
	char why[256];       /* the last failure logged: each is logged once */
	pthread_t thread;
	bool running;        /* thread started */
	atomic_bool stop;
	/* The open connections, for their deadline (only the thread uses it). */
	struct open_conn {
		struct MHD_Connection *c;
		int fd;
		uint64_t since_ns;
		bool shut;
	} open[UG_HTTP_CONNECTIONS + 1];
};

/* libmicrohttpd accepted or closed a connection (in our thread). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct ug_httpd *h = cls;
	const union MHD_ConnectionInfo *ci;

	for (size_t i = 0; i < sizeof(h->open) / sizeof(h->open[0]); i++) {
		struct open_conn *o = &h->open[i];

		if (code == MHD_CONNECTION_NOTIFY_CLOSED && o->c == c) {
			o->c = NULL;
			return;
		}
		if (code == MHD_CONNECTION_NOTIFY_STARTED && !o->c) {
			ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
			*o = (struct open_conn){ .c = c, .fd = ci ? ci->connect_fd : -1,
						 .since_ns = ug_now_ns() };
			return;
		}
	}
}

/* Connections past their deadline: shut down, so libmicrohttpd closes them. */
static void reap(struct ug_httpd *h)
{
	uint64_t now = ug_now_ns();

	for (size_t i = 0; i < sizeof(h->open) / sizeof(h->open[0]); i++) {
		struct open_conn *o = &h->open[i];

		if (!o->c || o->shut || o->fd < 0 || now - o->since_ns < UG_HTTP_DEADLINE_NS)
			continue;
		shutdown(o->fd, SHUT_RDWR);
		o->shut = true;
	}
}

static void *serve(void *arg)
{
	struct ug_httpd *h = arg;

	while (!atomic_load(&h->stop)) {
		MHD_run_wait(h->d, 250);
		reap(h);
	}
	return NULL;
}

static void httpd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	ug_log(LOG_DEBUG, "metrics: %s", buf);
}

static void fail_once(struct ug_httpd *h, const char *why)
{
	if (!strcmp(h->why, why))
		return;
	ug_log(LOG_ERR, "metrics: cannot serve the metrics: %s", why);
	ug_fmt(h->why, sizeof(h->why), "%s", why);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The store, opened again when its file was replaced (as the agent does). */
static int httpd_store(struct ug_httpd *h, char *err, size_t errlen)
{
	int ret;

	if (h->st && ug_store_replaced(h->st) == 1) {
		ug_store_close(h->st);
		h->st = NULL;
	}
	if (h->st)
		return 0;
	ret = ug_store_open(h->db_path, 0, &h->st, err, errlen);
	if (!ret)
		ug_store_set_busy_timeout(h->st, 1000);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct ug_httpd *h = cls;
	struct MHD_Response *r;
	char err[512], msg[600];
	enum MHD_Result ret;
	char *text;
	size_t len;

	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n",
			     NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET only\n",
			     MHD_HTTP_METHOD_GET);
	if (httpd_store(h, err, sizeof(err)) ||
	    ug_prom_render(&(struct ug_prom_src){ .st = h->st, .db_path = h->db_path,
						  .pin_dir = h->pin_dir },
			   &text, &len, err, sizeof(err))) {
		fail_once(h, err);
		ug_fmt(msg, sizeof(msg), "metrics unavailable: %s\n", err);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg, NULL);
	}
	if (h->why[0]) {
		ug_log(LOG_NOTICE, "metrics: serving the metrics again");
		h->why[0] = '\0';
	}
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, UG_PROM_CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void httpd_free(struct ug_httpd *h)
{
	if (!h)
		return;
	if (h->running) {
		atomic_store(&h->stop, true);
		pthread_join(h->thread, NULL); /* within a round: 250 ms */
	}
	if (h->d)
		MHD_stop_daemon(h->d);
	ug_store_close(h->st);
	free(h->db_path);
	free(h->pin_dir);
	free(h);
}

/* Our own socket, so that a failure says why (libmicrohttpd's NULL does not). */
static int listen_socket(const struct metrics_listen *l, int *out)
{
	int one = 1, fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (l->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->len) || listen(fd, UG_HTTP_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

static int httpd_start(const struct metrics_listen *l, const char *db_path, const char *pin_dir,
		       struct ug_httpd **out)
{
	struct ug_httpd *h = calloc(1, sizeof(*h));
	int fd = -1, err;

	if (!h)
		return -ENOMEM;
	h->db_path = strdup(db_path);
	h->pin_dir = strdup(pin_dir);
	if (!h->db_path || !h->pin_dir) {
		err = -ENOMEM;
		goto free_h;
	}
	err = listen_socket(l, &fd);
	if (err)
		goto free_h;
	h->d = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (l->addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_CONNECTION_LIMIT, UG_HTTP_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, UG_HTTP_PER_ADDRESS,
		MHD_OPTION_CONNECTION_TIMEOUT, UG_HTTP_IDLE_SECONDS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL, MHD_OPTION_END);
	if (!h->d) {
		close(fd); /* not taken over */
		err = -EIO;
		goto free_h;
	}
	err = -pthread_create(&h->thread, NULL, serve, h);
	if (err)
		goto free_h;
	h->running = true;
	*out = h;
	return 0;
free_h:
	httpd_free(h);
	return err;
}

struct metrics *metrics_start(struct ug_store *st, const char *db_path, const char *pin_dir,
			      const struct metrics_listen *l)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char buf[512];
	int err;

	if (!m)
		return NULL;
	m->st = st;
	/* The histogram goes on from the last agent's: no reset at a restart. */
	if (!ug_store_agent_get(st, UG_LATENCY_KEY, buf, sizeof(buf)) &&
	    ug_latency_decode(buf, &m->hist))
		ug_log(LOG_WARNING, "metrics: agent_state's %s is not what an agent writes; "
		       "the apply latency histogram starts anew", UG_LATENCY_KEY);
	if (!l)
		return m;
	err = httpd_start(l, db_path, pin_dir, &m->httpd);
	if (err) {
		ug_log(LOG_ERR, "metrics: cannot listen on %s: %s; running without the metrics "
		       "listener", l->text, err == -EIO ? "libmicrohttpd refused to start"
						       : strerror(-err));
		return m;
	}
	ug_log(LOG_INFO, "metrics: serving http://%s/metrics", l->text);
	return m;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	httpd_free(m->httpd);
	free(m);
}
