// SPDX-License-Identifier: LGPL-2.1-or-later
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "audit.h"
#include "log.h"
#include "policy.h"
#include "unitguard.h"
#include "util.h"

#define TX_ROWS UG_AUDIT_TX_ROWS
#define QUEUE_MAX TX_ROWS
#define UG_AUDIT_MARKS 4
#define RATE_SLOTS 64

/* A record read from a ring, until it is stored: a denial (network or LSM),
 * or a count of denials the kernel lost (kept with the rows, in their
 * transaction: stored once, or read again after a crash, never both). */
enum queued_kind {
	Q_NET,
	Q_LSM,
	Q_LOST,
};

struct queued {
	enum queued_kind kind;
	union {
		struct ug_event ev;
		struct ug_lsm_event lev;
	};
	int64_t time_us;
	int64_t first_time_us; /* of the first denial counted; LSM: time_us */
	char unit[TARGET_MAX];
};

/* Denials one queued record stands for. */
static uint64_t denials(const struct queued *q)
{
	return q->kind == Q_LSM ? q->lev.count : q->ev.count;
}

/* " (N times in S s)" for a record of more than one denial; "" otherwise. */
static void times_text(const struct queued *q, char *buf, size_t len)
{
	buf[0] = '\0';
	if (denials(q) > 1)
		snprintf(buf, len, " (%" PRIu64 " times in %.1f s)", denials(q),
			 (q->time_us - q->first_time_us) / 1e6);
}

/* Journal rate limit state for one unit: a one-second window. */
struct rate {
	char unit[TARGET_MAX];
	int64_t window_start_us;
	unsigned sent;
	uint64_t suppressed;
	uint64_t lost; /* ring buffer full: not recorded at all */
};

struct ug_audit {
	struct ug_store *st;
	struct ug_audit_ops ops;
	struct queued *q;
	size_t n_q;
	struct rate rate[RATE_SLOTS];
	uint64_t malformed;
	uint64_t future_stamps; /* records stamped later than they were read */
	uint64_t journal_failed; /* entries lost since the journal last worked */
	uint64_t unstored;       /* denials counted, not stored, since the store last took some */
	uint64_t failing_since;  /* CLOCK_MONOTONIC ns of the first failed write in a row; 0: none */
	bool failing_said;       /* that run of failures was logged as an error */
	int64_t max_bytes;       /* retention: the store's files on disk; 0: no limit */
	int64_t pages_max;       /* ... of which its pages in use (ug_audit_set_retention) */
	int64_t wal_max;         /* ... and its write-ahead log */
	int64_t max_age_us;      /* retention: rows older than this go; 0: no limit */
	bool retain_said;        /* retention failing: said once */
};

/*
 * The journal is one of two audit sinks. When a send fails (no journald, a
 * stale socket, a full buffer) say so on stderr once, keep counting, and say
 * again when it works: the audit table keeps every record either way.
 */
static void journal_result(struct ug_audit *a, int r)
{
	if (r < 0) {
		if (!a->journal_failed++)
			ug_log(LOG_ERR, "audit: cannot write to the journal: %s; denials are "
			       "still recorded in the audit table", strerror(-r));
		return;
	}
	if (a->journal_failed) {
		ug_log(LOG_NOTICE, "audit: journal writable again; %" PRIu64
		       " entries were not journaled", a->journal_failed);
		a->journal_failed = 0;
	}
}

int ug_audit_new(struct ug_store *st, const struct ug_audit_ops *ops, struct ug_audit **out)
{
	struct ug_audit *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->q = calloc(QUEUE_MAX, sizeof(*a->q));
	if (!a->q) {
		free(a);
		return -ENOMEM;
	}
	a->st = st;
	a->ops = *ops;
	*out = a;
	return 0;
}

/*
 * Convert a bpf_ktime_get_boot_ns() stamp to wall-clock microseconds. The stamp is read from
 * the ring buffer like the rest of the record, and validate() cannot judge it without a
 * clock, so it is judged here. A stamp later than now is not the kernel's (it stamped the
 * record before we read it): added to the clock offset it overflowed a signed sum, which is
 * undefined behaviour, or filed the denial centuries away, where no query by time
 * finds it. It is taken as now instead: the denial happened, and the rest of the record
 * passed validate().
 */
static int64_t boot_to_realtime_us(struct ug_audit *a, uint64_t boot_ns)
{
	struct timespec rt, bt;
	uint64_t now_ns, age_ns;
	int64_t us;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	now_ns = (uint64_t)bt.tv_sec * 1000000000u + (uint64_t)bt.tv_nsec;
	/* Clocks read moments apart may disagree a little: only a stamp well ahead is news. */
	if (boot_ns > now_ns + 1000000000u && !a->future_stamps++)
		ug_log(LOG_WARNING, "audit: ring buffer record stamped %" PRIu64 " ns after boot, "
		       "later than now (%" PRIu64 "); recorded at the current time", boot_ns,
		       now_ns);
	age_ns = boot_ns < now_ns ? now_ns - boot_ns : 0;
	/* age is at most the time since boot: no overflow, and never before the boot. */
	us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000 - (int64_t)(age_ns / 1000);
	/* A clock set before 1970 would make the rate limiter's arithmetic overflow. */
	return us < 0 ? 0 : us;
}

static const char *family_name(uint8_t family)
{
	return family == AF_INET ? "ipv4" : "ipv6";
}

/* The protocol's name, or its number where it has none (0 included: a
 * record names what was seen, never "any"). */
static const char *proto_name(uint8_t proto, char *buf, size_t len)
{
	const char *name = ug_proto_name(proto);

	if (proto && strcmp(name, "unknown"))
		return name;
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* The address as the hook saw it: IPv4 from its mapped form. */
static void addr_text(const struct ug_event *ev, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(ev->addr, mapped, sizeof(mapped)))
		inet_ntop(AF_INET, &ev->addr[12], buf, len);
	else
		inet_ntop(AF_INET6, ev->addr, buf, len);
}

/* comm comes from the task and may hold anything: keep printable ASCII. */
static void comm_text(const struct ug_event *ev, char *buf)
{
	size_t i;

	for (i = 0; i < sizeof(ev->comm) && ev->comm[i]; i++)
		buf[i] = ev->comm[i] >= 0x20 && ev->comm[i] < 0x7f ? ev->comm[i] : '?';
	buf[i] = '\0';
}

static int validate(const void *data, size_t size)
{
	const struct ug_event *ev = data;

	if (size < sizeof(*ev))
		return -EINVAL;
	if (ev->family != AF_INET && ev->family != AF_INET6)
		return -EINVAL;
	if (ev->hook == UG_HOOK_NONE || ev->hook >= UG_HOOK_MAX || ev->dir >= UG_DIR_MAX)
		return -EINVAL;
	if (ev->verdict != UG_VERDICT_DENY && ev->verdict != UG_VERDICT_AUDIT)
		return -EINVAL;
	if (ev->flags & ~UG_EV_F_UNPARSED || !ev->count || ev->count > INT64_MAX)
		return -EINVAL;
	return 0;
}

/* A count of denials the ring had no room for: nothing else in it. */
static int validate_lost(const struct ug_event *ev)
{
	static const struct ug_event zero;

	if (ev->flags != UG_EV_F_LOST || !ev->count || ev->count > INT64_MAX || !ev->who.unit_cgid)
		return -EINVAL;
	if (memcmp(ev->comm, zero.comm, sizeof(zero.comm)) || memcmp(ev->addr, zero.addr,
	    sizeof(zero.addr)) || ev->who.cgid || ev->who.pid || ev->who.uid || ev->who.rule_id ||
	    ev->who.generation || ev->port || ev->family || ev->proto || ev->hook || ev->verdict ||
	    ev->dir)
		return -EINVAL;
	return 0;
}

/*
 * What the journal was not told one by one about r's unit, said once: denials
 * held back by the rate limit, and, in an entry of its own (another
 * MESSAGE_ID: another meaning and remedy), denials the kernel lost.
 */
static void summary(struct ug_audit *a, struct rate *r)
{
	const char *unit_obj = r->unit[0] == '/' ? "" : r->unit;
	int jr;

	if (r->suppressed) {
		jr = sd_journal_send("MESSAGE=unitguard: %s: %" PRIu64 " more denials not "
				     "journaled one by one (see the audit table)", r->unit,
				     r->suppressed,
				     "MESSAGE_ID=" UG_MESSAGE_SUMMARY, "PRIORITY=4",
				     "OBJECT_SYSTEMD_UNIT=%s", unit_obj,
				     "UNITGUARD_UNIT=%s", r->unit,
				     "UNITGUARD_SUPPRESSED=%" PRIu64, r->suppressed, NULL);
		journal_result(a, jr);
	}
	if (r->lost) {
		jr = sd_journal_send("MESSAGE=unitguard: %s: %" PRIu64 " denials lost (ring buffer "
				     "full)", r->unit, r->lost,
				     "MESSAGE_ID=" UG_MESSAGE_LOST, "PRIORITY=4",
				     "OBJECT_SYSTEMD_UNIT=%s", unit_obj,
				     "UNITGUARD_UNIT=%s", r->unit,
				     "UNITGUARD_LOST=%" PRIu64, r->lost, NULL);
		journal_result(a, jr);
	}
	r->suppressed = 0;
	r->lost = 0;
}

static struct rate *rate_slot(struct ug_audit *a, const char *unit, int64_t now_us)
{
	struct rate *oldest = &a->rate[0];

	for (int i = 0; i < RATE_SLOTS; i++) {
		if (!strcmp(a->rate[i].unit, unit))
			return &a->rate[i];
		if (a->rate[i].window_start_us < oldest->window_start_us)
			oldest = &a->rate[i];
	}
	/* Evicting a unit with a pending count would lose it: say it now. */
	summary(a, oldest);
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->unit, sizeof(oldest->unit), "%s", unit);
	oldest->window_start_us = now_us;
	return oldest;
}

/*
 * Each unit gets UG_AUDIT_JOURNAL_BURST journal entries a second; past that
 * its denials are counted and summarised (summary()), never dropped unsaid.
 */
static bool journal_quota(struct ug_audit *a, const struct queued *q)
{
	struct rate *r = rate_slot(a, q->unit, q->time_us);

	if (q->time_us - r->window_start_us >= 1000000) {
		r->window_start_us = q->time_us;
		r->sent = 0;
	}
	if (r->sent >= UG_AUDIT_JOURNAL_BURST) {
		r->suppressed += denials(q);
		return false;
	}
	r->sent++;
	return true;
}

static void journal(struct ug_audit *a, const struct queued *q)
{
	const struct ug_event *ev = &q->ev;
	char addr[INET6_ADDRSTRLEN], comm[sizeof(ev->comm) + 1], protobuf[8], rule[40], times[64] = "";
	const char *proto = proto_name(ev->proto, protobuf, sizeof(protobuf));
	const char *verb = ev->verdict == UG_VERDICT_DENY ? "denied" : "would deny (audit mode)";

	if (!journal_quota(a, q))
		return;

	addr_text(ev, addr, sizeof(addr));
	comm_text(ev, comm);
	if (ev->flags & UG_EV_F_UNPARSED)
		snprintf(rule, sizeof(rule), "IPv6 header chain not walkable");
	else if (ev->who.rule_id)
		snprintf(rule, sizeof(rule), "rule %u", ev->who.rule_id);
	else
		snprintf(rule, sizeof(rule), "default posture");
	/* OBJECT_SYSTEMD_UNIT makes `journalctl -u UNIT` list the entry. A
	 * path target has no unit name to give. */
	times_text(q, times, sizeof(times));
	int jr = sd_journal_send("MESSAGE=unitguard: %s: %s %s %s %s to %s port %u (pid %u %s), %s%s",
			         q->unit, verb, ug_dir_name(ev->dir), ug_hook_name(ev->hook), proto, addr,
			         ev->port, ev->who.pid, comm[0] ? comm : "-", rule, times,
			         "UNITGUARD_COUNT=%" PRIu64, (uint64_t)ev->count,
			         "MESSAGE_ID=" UG_MESSAGE_DENIAL, "PRIORITY=4",
			         "OBJECT_SYSTEMD_UNIT=%s", q->unit[0] == '/' ? "" : q->unit,
			         "UNITGUARD_UNIT=%s", q->unit,
			         "UNITGUARD_CGROUP_ID=%" PRIu64, (uint64_t)ev->who.cgid,
			         "UNITGUARD_PID=%u", ev->who.pid,
			         "UNITGUARD_UID=%u", ev->who.uid,
			         "UNITGUARD_COMM=%s", comm,
			         "UNITGUARD_FAMILY=%s", family_name(ev->family),
			         "UNITGUARD_PROTOCOL=%s", proto,
			         "UNITGUARD_ADDRESS=%s", addr,
			         "UNITGUARD_PORT=%u", ev->port,
			         "UNITGUARD_HOOK=%s", ug_hook_name(ev->hook),
			         "UNITGUARD_DIRECTION=%s", ug_dir_name(ev->dir),
			         "UNITGUARD_VERDICT=%s", ug_verdict_name(ev->verdict),
			         "UNITGUARD_RULE_ID=%u", ev->who.rule_id,
			         "UNITGUARD_GENERATION=%u", ev->who.generation, NULL);
	journal_result(a, jr);
}

/* Everything read so far is stored or counted: the rings may let it go. */
static void durable(struct ug_audit *a)
{
	if (a->ops.durable)
		a->ops.durable(a->ops.ctx);
}

/*
 * The queue's rows cannot be stored (store down, locked, full disk): they
 * were journaled; count them as not stored (ops.unstored: a pinned counter,
 * which outlives us and needs no store) and let their records go, so that
 * the ring keeps moving and later denials are still journaled.
 */
static void give_up(struct ug_audit *a, const char *why)
{
	uint64_t n = 0;

	if (!a->n_q)
		return;
	for (size_t i = 0; i < a->n_q; i++)
		n += denials(&a->q[i]);
	if (!a->unstored)
		ug_log(LOG_ERR, "audit: %s (%s): %" PRIu64 " denials are journaled and counted, "
		       "not stored", why, ug_store_errmsg(a->st), n);
	a->unstored += n;
	if (a->ops.unstored)
		a->ops.unstored(n, a->ops.ctx);
	a->n_q = 0;
	durable(a);
}

/* Where the next record goes: the end of the queue, stored first when full. */
static struct queued *slot(struct ug_audit *a)
{
	if (a->n_q == QUEUE_MAX && ug_audit_flush(a))
		give_up(a, "the store cannot take audit rows");
	return &a->q[a->n_q];
}

/* The name the audit gives a policy cgroup: its target, or "cgroup:ID". */
static void unit_name(struct ug_audit *a, uint64_t cgid, char buf[TARGET_MAX])
{
	const char *unit = a->ops.target(cgid, a->ops.ctx);

	if (unit)
		snprintf(buf, TARGET_MAX, "%s", unit);
	else
		snprintf(buf, TARGET_MAX, "cgroup:%" PRIu64, cgid);
}

/* A unit's denials the kernel could not record: into the unit's next journal
 * summary, and queued for lost_events. */
static int lost_record(struct ug_audit *a, const struct ug_event *ev)
{
	struct queued *q = slot(a);

	q->kind = Q_LOST;
	memcpy(&q->ev, ev, sizeof(q->ev));
	q->time_us = ug_realtime_us();
	q->first_time_us = q->time_us;
	unit_name(a, ev->who.unit_cgid, q->unit);
	rate_slot(a, q->unit, q->time_us)->lost += ev->count;
	a->n_q++;
	return 0;
}

int ug_audit_record(struct ug_audit *a, const void *data, size_t size)
{
	struct queued *q;

	if (size < sizeof(struct ug_event) || (((const struct ug_event *)data)->flags & UG_EV_F_LOST
	    ? validate_lost(data) : validate(data, size))) {
		if (!a->malformed++)
			ug_log(LOG_ERR, "audit: malformed ring buffer record (%zu bytes) dropped",
			       size);
		return -EINVAL;
	}
	if (size >= sizeof(struct ug_event) && ((const struct ug_event *)data)->flags & UG_EV_F_LOST)
		return lost_record(a, data);
	q = slot(a);
	q->kind = Q_NET;
	memcpy(&q->ev, data, sizeof(q->ev));
	q->time_us = boot_to_realtime_us(a, q->ev.ts_boot_ns);
	q->first_time_us = q->ev.first_ns < q->ev.ts_boot_ns
		? boot_to_realtime_us(a, q->ev.first_ns) : q->time_us;
	unit_name(a, q->ev.who.unit_cgid, q->unit);
	journal(a, q);
	a->n_q++;
	return 0;
}

static void summaries(struct ug_audit *a, int64_t now_us)
{
	for (int i = 0; i < RATE_SLOTS; i++)
		if (now_us - a->rate[i].window_start_us >= 1000000)
			summary(a, &a->rate[i]);
}

/* --- LSM events --------------------------------------------------------- */

/* Texts of one LSM row, owned by the flush that builds it. */
struct lsm_text {
	char path[257];
	char exe[257];
	char detail[64];
	char dir[8];
};

/* A kernel string field: NUL-terminated within its size, printable kept. */
static void kstr(const uint8_t *in, size_t size, char *out)
{
	size_t i;

	for (i = 0; i < size && in[i]; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static const char *lsm_dir(uint8_t hook)
{
	switch (hook) {
	case UG_HOOK_EXEC:
		return "exec";
	case UG_HOOK_FILE_OPEN:
		return "file";
	case UG_HOOK_SOCKET_CREATE:
		return "family";
	default:
		return "harden";
	}
}

static void lsm_detail(const struct ug_lsm_event *ev, char *buf, size_t len)
{
	switch (ev->hook) {
	case UG_HOOK_SOCKET_CREATE:
		snprintf(buf, len, "family=%s", ug_family_name(ev->detail));
		break;
	case UG_HOOK_PTRACE:
		snprintf(buf, len, "target_pid=%u", ev->detail);
		break;
	case UG_HOOK_BPF:
		snprintf(buf, len, "cmd=%u", ev->detail);
		break;
	case UG_HOOK_FILE_OPEN:
		snprintf(buf, len, "access=%s", ug_access_name(ev->access));
		break;
	case UG_HOOK_PATH_VIEW:
		snprintf(buf, len, "%s", ev->detail == UG_VIEW_CHROOT ? "chroot"
				 : ev->detail == UG_VIEW_PIVOT_ROOT ? "pivot_root"
				 : ev->detail == UG_VIEW_USERNS ? "user namespace" : "?");
		break;
	default:
		buf[0] = '\0';
	}
	if (ev->flags & UG_LSM_F_TOO_LONG)
		snprintf(buf, len, "path too long");
	else if (ev->flags & UG_LSM_F_NO_PATH)
		snprintf(buf, len, "path unreadable");
}

static int lsm_validate(const void *data, size_t size)
{
	const struct ug_lsm_event *ev = data;

	if (size < sizeof(*ev))
		return -EINVAL;
	if (ev->hook < UG_HOOK_EXEC || ev->hook >= UG_HOOK_MAX)
		return -EINVAL;
	if (ev->verdict != UG_VERDICT_DENY && ev->verdict != UG_VERDICT_AUDIT)
		return -EINVAL;
	if (ev->flags & ~(UG_LSM_F_TOO_LONG | UG_LSM_F_NO_PATH) || !ev->count ||
	    ev->count > INT64_MAX)
		return -EINVAL;
	return 0;
}

static void lsm_row(struct ug_audit *a, const struct queued *q, struct ug_audit_row *row,
		    char *comm, struct lsm_text *t)
{
	const struct ug_lsm_event *ev = &q->lev;

	kstr(ev->comm, sizeof(ev->comm), comm);
	kstr(ev->path, sizeof(ev->path), t->path);
	kstr(ev->exe, sizeof(ev->exe), t->exe);
	lsm_detail(ev, t->detail, sizeof(t->detail));
	*row = (struct ug_audit_row){
		.time_us = q->time_us,
		.unit = q->unit,
		.cgroup_id = ev->who.cgid,
		.pid = ev->who.pid,
		.uid = ev->who.uid,
		.comm = comm[0] ? comm : NULL,
		.hook = ug_hook_name(ev->hook),
		.direction = lsm_dir(ev->hook),
		.verdict = ug_verdict_name(ev->verdict),
		.rule_id = ev->who.rule_id,
		.generation = ev->who.generation,
		.path = t->path[0] ? t->path : NULL,
		.exe = t->exe[0] ? t->exe : NULL,
		.detail = t->detail[0] ? t->detail : NULL,
		.count = ev->count,
		.first_time_us = q->first_time_us,
	};
}

static void lsm_journal(struct ug_audit *a, const struct queued *q)
{
	const struct ug_lsm_event *ev = &q->lev;
	char comm[17], path[257], exe[257], detail[64], rule[64], what[320], times[64];
	const char *verb = ev->verdict == UG_VERDICT_DENY ? "denied" : "would deny (audit mode)";

	if (!journal_quota(a, q))
		return;
	kstr(ev->comm, sizeof(ev->comm), comm);
	kstr(ev->path, sizeof(ev->path), path);
	kstr(ev->exe, sizeof(ev->exe), exe);
	lsm_detail(ev, detail, sizeof(detail));
	if (ev->who.rule_id)
		snprintf(rule, sizeof(rule), "rule %u", ev->who.rule_id);
	else if (ev->hook == UG_HOOK_EXEC || ev->hook == UG_HOOK_FILE_OPEN)
		snprintf(rule, sizeof(rule), "%s", detail[0] ? detail : "no rule");
	else
		snprintf(rule, sizeof(rule), "hardening");
	if (path[0])
		snprintf(what, sizeof(what), "%s %s", ug_hook_name(ev->hook), path);
	else
		snprintf(what, sizeof(what), "%s%s%s", ug_hook_name(ev->hook), detail[0] ? " " : "",
			 detail);
	times_text(q, times, sizeof(times));
	int jr = sd_journal_send("MESSAGE=unitguard: %s: %s %s (pid %u %s), %s%s", q->unit, verb, what,
			         ev->who.pid, exe[0] ? exe : comm, rule, times,
			         "MESSAGE_ID=" UG_MESSAGE_DENIAL, "PRIORITY=4",
			         "UNITGUARD_COUNT=%" PRIu64, (uint64_t)ev->count,
			         "OBJECT_SYSTEMD_UNIT=%s", q->unit[0] == '/' ? "" : q->unit,
			         "UNITGUARD_UNIT=%s", q->unit,
			         "UNITGUARD_CGROUP_ID=%" PRIu64, (uint64_t)ev->who.cgid,
			         "UNITGUARD_PID=%u", ev->who.pid,
			         "UNITGUARD_UID=%u", ev->who.uid,
			         "UNITGUARD_COMM=%s", comm,
			         "UNITGUARD_EXE=%s", exe,
			         "UNITGUARD_PATH=%s", path,
			         "UNITGUARD_DETAIL=%s", detail,
			         "UNITGUARD_HOOK=%s", ug_hook_name(ev->hook),
			         "UNITGUARD_DIRECTION=%s", lsm_dir(ev->hook),
			         "UNITGUARD_VERDICT=%s", ug_verdict_name(ev->verdict),
			         "UNITGUARD_RULE_ID=%u", ev->who.rule_id,
			         "UNITGUARD_GENERATION=%u", ev->who.generation, NULL);
	journal_result(a, jr);
}

int ug_audit_lsm_record(struct ug_audit *a, const void *data, size_t size)
{
	struct ug_lsm_event *ev;
	struct queued *q;

	if (lsm_validate(data, size)) {
		if (!a->malformed++)
			ug_log(LOG_ERR, "audit: malformed LSM ring buffer record (%zu bytes) dropped",
			       size);
		return -EINVAL;
	}
	q = slot(a);
	q->kind = Q_LSM;
	memcpy(&q->lev, data, sizeof(q->lev));
	ev = &q->lev;
	q->time_us = boot_to_realtime_us(a, ev->ts_boot_ns);
	q->first_time_us = ev->first_ns < ev->ts_boot_ns
		? boot_to_realtime_us(a, ev->first_ns) : q->time_us;
	unit_name(a, ev->who.unit_cgid, q->unit);
	if (ev->hook == UG_HOOK_SOCKET_CREATE && !ev->who.rule_id)
		ev->who.rule_id = a->ops.family_rule(ev->who.unit_cgid, ev->detail, a->ops.ctx);
	/* The kernel could not name the executable (hooks where it may not
	 * resolve paths): ask /proc, and only believe it while the pid is still
	 * the process that was refused; else the executable stays unknown. */
	if (!ev->exe[0] && ev->who.pid)
		ug_proc_exe(ev->who.pid, ev->start_ns, (char *)ev->exe, sizeof(ev->exe));
	lsm_journal(a, q);
	a->n_q++;
	return 0;
}

/*
 * --audit-max-size counts the store's files on disk: the database, its
 * write-ahead log and the shared-memory index. The log gets an eighth (512
 * KiB to 4 MiB): it is truncated after every transaction once past an eighth
 * of that (ug_store_wal_bound()), and a transaction is at most TX_ROWS rows,
 * so it holds a few of them even when a reader delays a truncation. The
 * index gets 32 KiB, and one batch's worth is kept free: pruning follows a
 * batch stored, and the file grows by that batch first. The pages in use
 * get the rest, at least a quarter.
 */
#define WAL_MIN ((int64_t)512 << 10)
#define WAL_MAX ((int64_t)4 << 20)
#define SHM_BYTES ((int64_t)32 << 10)
#define BATCH_BYTES ((int64_t)1 << 20)

void ug_audit_set_retention(struct ug_audit *a, int64_t max_bytes, int64_t max_age_us)
{
	int64_t wal = max_bytes / 8, batch = max_bytes / 8;

	wal = wal < WAL_MIN ? WAL_MIN : wal > WAL_MAX ? WAL_MAX : wal;
	batch = batch > BATCH_BYTES ? BATCH_BYTES : batch;
	a->max_bytes = max_bytes;
	a->wal_max = max_bytes ? wal : 0;
	a->pages_max = max_bytes ? max_bytes - wal - SHM_BYTES - batch : 0;
	if (max_bytes && a->pages_max < max_bytes / 4)
		a->pages_max = max_bytes / 4;
	a->max_age_us = max_age_us;
}

/*
 * Keep the store within its limits: after each batch stored (budget: twice
 * the batch, so a flood cannot outrun it), and once a second for age. Each
 * transaction prunes at most TX_ROWS rows a table and is followed by the
 * log's truncation; what is left over the budget goes at the next call.
 */
int ug_audit_retain(struct ug_audit *a, int64_t budget)
{
	int64_t before_us;
	int err = 0;

	if (!a->max_bytes && !a->max_age_us)
		return 0;
	before_us = a->max_age_us ? ug_realtime_us() - a->max_age_us : 0;
	while (budget > 0) {
		int64_t pruned = 0, chunk = budget < TX_ROWS ? budget : TX_ROWS;

		err = ug_store_prune(a->st, a->pages_max, before_us, chunk, &pruned);
		if (err)
			break;
		/* A reader's snapshot holding the log is routine: it goes next time. */
		if (ug_store_wal_bound(a->st, a->wal_max) == -EBUSY)
			ug_log(LOG_DEBUG, "audit: retention: %s", ug_store_errmsg(a->st));
		/* Less than a chunk: nothing more is due. */
		if (pruned < chunk)
			break;
		budget -= chunk;
	}
	if (err) {
		if (!a->retain_said)
			ug_log(err == -EBUSY ? LOG_NOTICE : LOG_ERR, "audit: retention: %s; "
			       "retrying", ug_store_errmsg(a->st));
		a->retain_said = true;
		return err;
	}
	a->retain_said = false;
	return 0;
}

int ug_audit_flush(struct ug_audit *a)
{
	struct ug_store_mark marks[UG_AUDIT_MARKS];
	size_t n_rows = 0, n_lost = 0, n_marks;
	struct ug_audit_row *rows;
	struct ug_lost_row *lost;
	char (*addrs)[INET6_ADDRSTRLEN], (*comms)[17], (*protos)[8];
	struct lsm_text *lsm_texts;
	int err = 0;

	summaries(a, ug_realtime_us());
	/* Nothing queued: what was given (records dropped as malformed) is
	 * dealt with. */
	if (!a->n_q) {
		durable(a);
		return 0;
	}
	rows = calloc(a->n_q, sizeof(*rows));
	lost = calloc(a->n_q, sizeof(*lost));
	addrs = calloc(a->n_q, sizeof(*addrs));
	comms = calloc(a->n_q, sizeof(*comms));
	protos = calloc(a->n_q, sizeof(*protos));
	lsm_texts = calloc(a->n_q, sizeof(*lsm_texts));
	if (!rows || !lost || !addrs || !comms || !protos || !lsm_texts) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->n_q; i++) {
		const struct queued *q = &a->q[i];
		size_t r = n_rows;

		if (q->kind == Q_LOST) {
			lost[n_lost++] = (struct ug_lost_row){ .time_us = q->time_us,
							       .count = q->ev.count,
							       .unit = q->unit };
			continue;
		}
		n_rows++;
		if (q->kind == Q_LSM) {
			lsm_row(a, q, &rows[r], comms[r], &lsm_texts[r]);
			continue;
		}
		addr_text(&q->ev, addrs[r], sizeof(addrs[r]));
		comm_text(&q->ev, comms[r]);
		rows[r] = (struct ug_audit_row){
			.time_us = q->time_us,
			.unit = q->unit,
			.cgroup_id = q->ev.who.cgid,
			.pid = q->ev.who.pid,
			.uid = q->ev.who.uid,
			.comm = comms[r][0] ? comms[r] : NULL,
			.family = family_name(q->ev.family),
			.protocol = proto_name(q->ev.proto, protos[r], sizeof(protos[r])),
			.address = addrs[r],
			.port = q->ev.port,
			.hook = ug_hook_name(q->ev.hook),
			.direction = ug_dir_name(q->ev.dir),
			.verdict = ug_verdict_name(q->ev.verdict),
			.rule_id = q->ev.who.rule_id,
			.generation = q->ev.who.generation,
			.count = q->ev.count,
			.first_time_us = q->first_time_us,
		};
	}
	n_marks = a->ops.marks ? a->ops.marks(marks, UG_AUDIT_MARKS, a->ops.ctx) : 0;
	err = ug_store_audit_write(a->st, rows, n_rows, lost, n_lost, marks, n_marks);
	if (err) {
		/* A writer holding the store longer than the busy timeout
		 * (a big apply) is routine: a notice. Anything else, or busy
		 * for 5 s, is an error, said once until a write succeeds. */
		uint64_t now = ug_now_ns();
		bool first = !a->failing_since;

		if (first)
			a->failing_since = now;
		if ((err != -EBUSY || now - a->failing_since >= 5000000000ULL) && !a->failing_said) {
			ug_log(LOG_ERR, "audit: cannot write %zu rows to the store (failing for "
			       "%.1f s): %s; kept, retrying", a->n_q,
			       (now - a->failing_since) / 1e9, ug_store_errmsg(a->st));
			a->failing_said = true;
		} else if (first) {
			ug_log(LOG_NOTICE, "audit: cannot write %zu rows to the store yet: %s (kept, "
			       "will retry)", a->n_q, ug_store_errmsg(a->st));
		}
	} else {
		if (a->failing_said && !a->unstored)
			ug_log(LOG_NOTICE, "audit: the store takes audit rows again");
		a->failing_since = 0;
		a->failing_said = false;
		a->n_q = 0;
		if (a->unstored)
			ug_log(LOG_NOTICE, "audit: the store takes audit rows again; %" PRIu64
			       " denials were only journaled", a->unstored);
		a->unstored = 0;
		durable(a);
	}
out:
	free(rows);
	free(lost);
	free(addrs);
	free(comms);
	free(protos);
	free(lsm_texts);
	/* The log is truncated after the rows and again after the pruning:
	 * each transaction's pages, not both, is what it grows by. */
	if (!err && a->max_bytes) {
		ug_store_wal_bound(a->st, a->wal_max);
		ug_audit_retain(a, 2 * (int64_t)(n_rows + 1));
	}
	return err;
}

void ug_audit_lost(struct ug_audit *a, uint64_t count, const char *why)
{
	int64_t now = ug_realtime_us();

	ug_log(LOG_WARNING, "audit: %s, %" PRIu64 " denials could not be recorded", why, count);
	int jr = sd_journal_send("MESSAGE=unitguard: %s, %" PRIu64 " denials could not be "
			         "recorded", why, count,
			         "MESSAGE_ID=" UG_MESSAGE_LOST, "PRIORITY=4",
			         "UNITGUARD_LOST=%" PRIu64, count, NULL);
	journal_result(a, jr);
	if (ug_store_lost_add(a->st, now, count, "ringbuf", NULL))
		ug_log(LOG_ERR, "audit: cannot record lost events in the store: %s",
		       ug_store_errmsg(a->st));
}

int ug_audit_unstored(struct ug_audit *a, uint64_t count)
{
	int err, jr;

	err = ug_store_lost_add(a->st, ug_realtime_us(), count, "store", NULL);
	if (err)
		return err;
	jr = sd_journal_send("MESSAGE=unitguard: %" PRIu64 " denials could not be stored (they were "
			     "journaled one by one or summarised)", count,
			     "MESSAGE_ID=" UG_MESSAGE_SUMMARY, "PRIORITY=4",
			     "UNITGUARD_UNSTORED=%" PRIu64, count, NULL);
	journal_result(a, jr);
	ug_log(LOG_WARNING, "audit: %" PRIu64 " denials could not be stored; recorded in "
	       "lost_events (kind 'store')", count);
	return 0;
}

void ug_audit_free(struct ug_audit *a)
{
	if (!a)
		return;
	/* Rows the store cannot take now go with us: count them. */
	if (ug_audit_flush(a))
		give_up(a, "exiting with rows the store cannot take");
	summaries(a, INT64_MAX);
	free(a->q);
	free(a);
}
