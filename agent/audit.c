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

#include <systemd/sd-journal.h>

#include "audit.h"
#include "log.h"
#include "policy.h"
#include "unitguard.h"

#define QUEUE_MAX 1024
#define TARGET_MAX 256
#define RATE_SLOTS 64

struct queued {
	struct ug_event ev;
	int64_t time_us;
	char unit[TARGET_MAX];
};

/* Journal rate limit state for one unit: a one-second window. */
struct rate {
	char unit[TARGET_MAX];
	int64_t window_start_us;
	unsigned sent;
	uint64_t suppressed;
};

struct ug_audit {
	struct ug_store *st;
	ug_audit_name_fn name;
	void *name_ctx;
	struct queued *q;
	size_t n_q;
	struct rate rate[RATE_SLOTS];
	uint64_t malformed;
};

int ug_audit_new(struct ug_store *st, ug_audit_name_fn name, void *name_ctx, struct ug_audit **out)
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
	a->name = name;
	a->name_ctx = name_ctx;
	*out = a;
	return 0;
}

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Convert a bpf_ktime_get_boot_ns() stamp to wall-clock microseconds. */
static int64_t boot_to_realtime_us(uint64_t boot_ns)
{
	struct timespec rt, bt;
	int64_t offset_ns;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	offset_ns = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);
	return ((int64_t)boot_ns + offset_ns) / 1000;
}

static const char *family_name(uint8_t family)
{
	return family == AF_INET ? "ipv4" : "ipv6";
}

static const char *proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		snprintf(buf, len, "%u", proto);
		return buf;
	}
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
	return 0;
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
	if (oldest->suppressed && oldest->unit[0])
		sd_journal_send("MESSAGE=unitguard: %s: %" PRIu64 " more denials not journaled "
				"one by one (see the audit table)",
				oldest->unit, oldest->suppressed,
				"MESSAGE_ID=" UG_MESSAGE_SUMMARY, "PRIORITY=4",
				"OBJECT_SYSTEMD_UNIT=%s", oldest->unit,
				"UNITGUARD_UNIT=%s", oldest->unit,
				"UNITGUARD_SUPPRESSED=%" PRIu64, oldest->suppressed, NULL);
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->unit, sizeof(oldest->unit), "%s", unit);
	oldest->window_start_us = now_us;
	return oldest;
}

static void journal(struct ug_audit *a, const struct queued *q)
{
	const struct ug_event *ev = &q->ev;
	char addr[INET6_ADDRSTRLEN], comm[sizeof(ev->comm) + 1], protobuf[8], rule[24];
	const char *proto = proto_name(ev->proto, protobuf, sizeof(protobuf));
	const char *verb = ev->verdict == UG_VERDICT_DENY ? "denied" : "would deny (audit mode)";
	struct rate *r = rate_slot(a, q->unit, q->time_us);

	if (q->time_us - r->window_start_us >= 1000000) {
		r->window_start_us = q->time_us;
		r->sent = 0;
	}
	if (r->sent >= UG_AUDIT_JOURNAL_BURST) {
		r->suppressed++;
		return;
	}
	r->sent++;

	addr_text(ev, addr, sizeof(addr));
	comm_text(ev, comm);
	if (ev->rule_id)
		snprintf(rule, sizeof(rule), "rule %u", ev->rule_id);
	else
		snprintf(rule, sizeof(rule), "default posture");
	/* OBJECT_SYSTEMD_UNIT makes `journalctl -u UNIT` list the entry. A
	 * path target has no unit name to give. */
	sd_journal_send("MESSAGE=unitguard: %s: %s %s %s %s to %s port %u (pid %u %s), %s",
			q->unit, verb, ug_dir_name(ev->dir), ug_hook_name(ev->hook), proto, addr,
			ev->port, ev->pid, comm[0] ? comm : "-", rule,
			"MESSAGE_ID=" UG_MESSAGE_DENIAL, "PRIORITY=4",
			"OBJECT_SYSTEMD_UNIT=%s", q->unit[0] == '/' ? "" : q->unit,
			"UNITGUARD_UNIT=%s", q->unit,
			"UNITGUARD_CGROUP_ID=%" PRIu64, (uint64_t)ev->cgid,
			"UNITGUARD_PID=%u", ev->pid,
			"UNITGUARD_UID=%u", ev->uid,
			"UNITGUARD_COMM=%s", comm,
			"UNITGUARD_FAMILY=%s", family_name(ev->family),
			"UNITGUARD_PROTOCOL=%s", proto,
			"UNITGUARD_ADDRESS=%s", addr,
			"UNITGUARD_PORT=%u", ev->port,
			"UNITGUARD_HOOK=%s", ug_hook_name(ev->hook),
			"UNITGUARD_DIRECTION=%s", ug_dir_name(ev->dir),
			"UNITGUARD_VERDICT=%s", ug_verdict_name(ev->verdict),
			"UNITGUARD_RULE_ID=%u", ev->rule_id,
			"UNITGUARD_GENERATION=%u", ev->generation, NULL);
}

int ug_audit_record(struct ug_audit *a, const void *data, size_t size)
{
	const char *unit;
	struct queued *q;

	if (validate(data, size)) {
		if (!a->malformed++)
			ug_log(LOG_ERR, "audit: malformed ring buffer record (%zu bytes) dropped",
			       size);
		return -EINVAL;
	}
	if (a->n_q == QUEUE_MAX && ug_audit_flush(a) && a->n_q == QUEUE_MAX)
		return -ENOBUFS;
	q = &a->q[a->n_q++];
	memcpy(&q->ev, data, sizeof(q->ev));
	q->time_us = boot_to_realtime_us(q->ev.ts_boot_ns);
	unit = a->name(q->ev.unit_cgid, a->name_ctx);
	if (unit)
		snprintf(q->unit, sizeof(q->unit), "%s", unit);
	else
		snprintf(q->unit, sizeof(q->unit), "cgroup:%" PRIu64, (uint64_t)q->ev.unit_cgid);
	journal(a, q);
	return 0;
}

static void summaries(struct ug_audit *a, int64_t now_us)
{
	for (int i = 0; i < RATE_SLOTS; i++) {
		struct rate *r = &a->rate[i];

		if (!r->suppressed || now_us - r->window_start_us < 1000000)
			continue;
		sd_journal_send("MESSAGE=unitguard: %s: %" PRIu64 " more denials not journaled one "
				"by one (see the audit table)",
				r->unit, r->suppressed,
				"MESSAGE_ID=" UG_MESSAGE_SUMMARY, "PRIORITY=4",
				"OBJECT_SYSTEMD_UNIT=%s", r->unit[0] == '/' ? "" : r->unit,
				"UNITGUARD_UNIT=%s", r->unit,
				"UNITGUARD_SUPPRESSED=%" PRIu64, r->suppressed, NULL);
		r->suppressed = 0;
	}
}

int ug_audit_flush(struct ug_audit *a)
{
	struct ug_audit_row *rows;
	char (*addrs)[INET6_ADDRSTRLEN], (*comms)[17], (*protos)[8];
	int err = 0;

	summaries(a, realtime_us());
	if (!a->n_q)
		return 0;
	rows = calloc(a->n_q, sizeof(*rows));
	addrs = calloc(a->n_q, sizeof(*addrs));
	comms = calloc(a->n_q, sizeof(*comms));
	protos = calloc(a->n_q, sizeof(*protos));
	if (!rows || !addrs || !comms || !protos) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->n_q; i++) {
		const struct queued *q = &a->q[i];

		addr_text(&q->ev, addrs[i], sizeof(addrs[i]));
		comm_text(&q->ev, comms[i]);
		rows[i] = (struct ug_audit_row){
			.time_us = q->time_us,
			.unit = q->unit,
			.cgroup_id = q->ev.cgid,
			.pid = q->ev.pid,
			.uid = q->ev.uid,
			.comm = comms[i][0] ? comms[i] : NULL,
			.family = family_name(q->ev.family),
			.protocol = proto_name(q->ev.proto, protos[i], sizeof(protos[i])),
			.address = addrs[i],
			.port = q->ev.port,
			.hook = ug_hook_name(q->ev.hook),
			.direction = ug_dir_name(q->ev.dir),
			.verdict = ug_verdict_name(q->ev.verdict),
			.rule_id = q->ev.rule_id,
			.generation = q->ev.generation,
		};
	}
	err = ug_store_audit_insert(a->st, rows, a->n_q);
	if (err)
		ug_log(LOG_ERR, "audit: cannot write %zu rows to the store: %s (kept, will retry)",
		       a->n_q, ug_store_errmsg(a->st));
	else
		a->n_q = 0;
out:
	free(rows);
	free(addrs);
	free(comms);
	free(protos);
	return err;
}

void ug_audit_lost(struct ug_audit *a, uint64_t count)
{
	int64_t now = realtime_us();

	ug_log(LOG_WARNING, "audit: ring buffer full, %" PRIu64 " denials could not be recorded",
	       count);
	sd_journal_send("MESSAGE=unitguard: ring buffer full, %" PRIu64 " denials could not be "
			"recorded", count,
			"MESSAGE_ID=" UG_MESSAGE_SUMMARY, "PRIORITY=4",
			"UNITGUARD_LOST=%" PRIu64, count, NULL);
	if (ug_store_lost_add(a->st, now, count))
		ug_log(LOG_ERR, "audit: cannot record lost events in the store: %s",
		       ug_store_errmsg(a->st));
}

void ug_audit_free(struct ug_audit *a)
{
	if (!a)
		return;
	ug_audit_flush(a);
	summaries(a, INT64_MAX);
	free(a->q);
	free(a);
}
