// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The Prometheus text exposition (format 0.0.4) of the store and the pinned
 * counters. Each family is written whole (HELP, TYPE, its samples) before
 * the next, as the format wants; so the rows are read first, then written.
 * Everything read from the store is treated as untrusted (a raw sqlite3
 * session can write anything): numbers that do not parse are left out, label
 * values are escaped and made UTF-8.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lock.h"
#include "pinned.h"
#include "prom.h"
#include "unitguard.h"


/* 1 ms to 10 s: a change is normally in force within milliseconds; the top
 * buckets see a 10 000-rule apply, a slow systemd or a locked store. */
static const uint64_t bounds_us[UG_LATENCY_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

/* The encoding's first field: a layout this build does not know is refused. */
#define UG_LATENCY_FORMAT 1

uint64_t ug_latency_bound_us(size_t i)
{
	return i < UG_LATENCY_BUCKETS ? bounds_us[i] : UINT64_MAX;
}

void ug_latency_observe(struct ug_latency *h, uint64_t us)
{
	size_t i = 0;

	while (i < UG_LATENCY_BUCKETS && us > bounds_us[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_us = us > UINT64_MAX - h->sum_us ? UINT64_MAX : h->sum_us + us;
}

/* "FORMAT COUNT SUM_US B0 ... B13" */
int ug_latency_encode(const struct ug_latency *h, char *buf, size_t len)
{
	size_t off;
	int n;

	n = snprintf(buf, len, "%d %" PRIu64 " %" PRIu64, UG_LATENCY_FORMAT, h->count, h->sum_us);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	off = (size_t)n;
	for (size_t i = 0; i <= UG_LATENCY_BUCKETS; i++) {
		n = snprintf(buf + off, len - off, " %" PRIu64, h->bucket[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

static int parse_u64(const char **s, uint64_t *out)
{
	char *end;

	if (**s < '0' || **s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(*s, &end, 10);
	if (errno)
		return -EINVAL;
	*s = end;
	return 0;
}

int ug_latency_decode(const char *text, struct ug_latency *h)
{
	uint64_t v[3 + UG_LATENCY_BUCKETS + 1], total = 0;
	const char *s = text;
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++) {
		if (i && *s++ != ' ')
			return -EINVAL;
		if (parse_u64(&s, &v[i]))
			return -EINVAL;
	}
	if (*s || v[0] != UG_LATENCY_FORMAT)
		return -EINVAL;
	for (size_t i = 3; i < n; i++) {
		if (v[i] > UINT64_MAX - total)
			return -EINVAL;
		total += v[i];
	}
	if (total != v[1])
		return -EINVAL;
	h->count = v[1];
	h->sum_us = v[2];
	memcpy(h->bucket, &v[3], sizeof(h->bucket));
	return 0;
}

/* The length of the well-formed UTF-8 sequence at s, 0 when there is none
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void ug_prom_label_value(FILE *f, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	while (*s) {
		size_t n = utf8_len(s);

		if (!n) {
			fputs("\xef\xbf\xbd", f);
			s++;
			continue;
		}
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fwrite(s, 1, n, f);
		s += n;
	}
}

/* --- what is read ------------------------------------------------------------ */

struct unit {
	char *name;
	const char *state; /* one of states[], or NULL: none known */
	uint64_t cgid;     /* 0: not placed */
	bool live;         /* acct holds the kernel's counters */
	struct ug_acct_val acct[2];
};

struct totals {
	char *unit; /* NULL: denials no unit is known for */
	uint64_t total, lost;
};

struct render {
	struct unit *u;
	size_t n_u;
	struct totals *t;
	size_t n_t;
};

static const char *const states[] = { "enforced", "partial", "waiting", "refused",
				      "unresolved" };

static int grow(void **v, size_t n, size_t size)
{
	void *p = reallocarray(*v, n + 1, size);

	if (!p)
		return -ENOMEM;
	*v = p;
	return 0;
}

static int on_status(const struct ug_store_status *s, void *ctx)
{
	struct render *r = ctx;
	const char *state = s->state ? s->state : s->enforced ? "enforced" : NULL;
	struct unit *u;

	if (!s->target)
		return 0;
	if (grow((void **)&r->u, r->n_u, sizeof(*r->u)))
		return -ENOMEM;
	u = &r->u[r->n_u];
	*u = (struct unit){ .name = strdup(s->target), .cgid = s->cgroup ? s->cgroup_id : 0 };
	if (!u->name)
		return -ENOMEM;
	for (size_t i = 0; state && i < sizeof(states) / sizeof(states[0]); i++)
		if (!strcmp(state, states[i]))
			u->state = states[i];
	r->n_u++;
	return 0;
}

static bool count_of(const char *text, uint64_t *out)
{
	const char *s = text;

	return text && !parse_u64(&s, out) && !*s;
}

/* audit_totals: unit, recorded, pruned, lost, total (db/schema.c). */
static int on_totals(int n, const char *const *cols, const char *const *vals, void *ctx)
{
	struct render *r = ctx;
	const char *unit = NULL, *total = NULL, *lost = NULL;
	struct totals *t, v = { 0 };

	for (int c = 0; c < n; c++) {
		if (!strcmp(cols[c], "unit"))
			unit = vals[c];
		else if (!strcmp(cols[c], "total"))
			total = vals[c];
		else if (!strcmp(cols[c], "lost"))
			lost = vals[c];
	}
	if (!count_of(total, &v.total) || !count_of(lost, &v.lost))
		return 0; /* not a count: left out */
	/* An empty label is no label: '' and NULL are one series. */
	if (unit && !unit[0])
		unit = NULL;
	for (size_t i = 0; !unit && i < r->n_t; i++) {
		if (!r->t[i].unit) {
			r->t[i].total += v.total;
			r->t[i].lost += v.lost;
			return 0;
		}
	}
	if (grow((void **)&r->t, r->n_t, sizeof(*r->t)))
		return -ENOMEM;
	t = &r->t[r->n_t];
	*t = v;
	if (unit && !(t->unit = strdup(unit)))
		return -ENOMEM;
	r->n_t++;
	return 0;
}

static void render_free(struct render *r)
{
	for (size_t i = 0; i < r->n_u; i++)
		free(r->u[i].name);
	for (size_t i = 0; i < r->n_t; i++)
		free(r->t[i].unit);
	free(r->u);
	free(r->t);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * The packet-level counters of every placed unit, per-CPU values summed, as
 * `unitguardctl stats` reads them. Maps not pinned (no agent ever ran on
 * this pin directory): none, and no error. A unit not in ug_units is not in
 * the kernel: no counters for it.
 */
static int read_live(const char *pin_dir, struct render *r, char *err, size_t errlen)
{
	int units_fd, acct_fd = -ENOENT, ret = 0;

	units_fd = ug_pinned_map(pin_dir, "ug_units");
	if (units_fd >= 0)
		acct_fd = ug_pinned_map(pin_dir, "ug_acct");
	if (units_fd < 0 || acct_fd < 0) {
		ret = units_fd < 0 ? units_fd : acct_fd;
		if (ret != -ENOENT)
			set_err(err, errlen, "cannot open the counters pinned at %s/" UG_PIN_MAPS
				": %s (are you root?)", pin_dir, strerror(-ret));
		ret = ret == -ENOENT ? 0 : ret;
		goto close_fds;
	}
	for (size_t i = 0; i < r->n_u; i++) {
		struct unit *u = &r->u[i];
		struct ug_unit_val uv;

		if (!u->cgid || bpf_map_lookup_elem(units_fd, &u->cgid, &uv) || uv.acct >= UG_ACCT_SLOTS)
			continue;
		u->live = true;
		for (int dir = 0; dir < 2 && u->live; dir++) {
			ret = ug_pinned_acct(acct_fd, uv.acct, dir, &u->acct[dir]);
			u->live = !ret;
			if (ret == -ENOMEM) {
				set_err(err, errlen, "cannot read the counters: %s", strerror(-ret));
				goto close_fds;
			}
			ret = 0;
		}
	}
close_fds:
	if (units_fd >= 0)
		close(units_fd);
	if (acct_fd >= 0)
		close(acct_fd);
	return ret;
}

/* An agent_state number: 1 read, 0 absent or not a number, < 0 the store failed. */
static int agent_num(struct ug_store *st, const char *key, int64_t *out)
{
	char buf[64], *end;
	int ret = ug_store_agent_get(st, key, buf, sizeof(buf));

	if (ret == -ENOENT || ret == -ERANGE)
		return 0;
	if (ret)
		return ret;
	errno = 0;
	*out = strtoll(buf, &end, 10);
	return !errno && end != buf && !*end;
}

/* --- what is written ----------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void unit_label(FILE *f, const char *unit)
{
	fputs("unit=\"", f);
	ug_prom_label_value(f, unit);
	fputc('"', f);
}

/* One sample per audit_totals row: its total, or its lost count. */
static void write_totals(FILE *f, const char *name, const struct render *r, bool lost)
{
	for (size_t i = 0; i < r->n_t; i++) {
		fputs(name, f);
		if (r->t[i].unit) {
			fputc('{', f);
			unit_label(f, r->t[i].unit);
			fputc('}', f);
		}
		fprintf(f, " %" PRIu64 "\n", lost ? r->t[i].lost : r->t[i].total);
	}
}

static void write_latency(FILE *f, const struct ug_latency *h)
{
	uint64_t cum = 0;

	family(f, "unitguard_apply_latency_seconds", "histogram",
	       "Time from the agent seeing a policy change in the store to its acknowledgement "
	       "of it being in force.");
	for (size_t i = 0; i <= UG_LATENCY_BUCKETS; i++) {
		cum += h->bucket[i];
		if (i < UG_LATENCY_BUCKETS)
			fprintf(f, "unitguard_apply_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				(double)bounds_us[i] / 1e6, cum);
		else
			fprintf(f, "unitguard_apply_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
				cum);
	}
	fprintf(f, "unitguard_apply_latency_seconds_sum %.6f\n", (double)h->sum_us / 1e6);
	fprintf(f, "unitguard_apply_latency_seconds_count %" PRIu64 "\n", h->count);
}

static const char *const acct_verdicts[UG_ACCT_MAX] = { "allowed", "dropped", "audited" };

static void write_acct(FILE *f, const struct render *r, bool bytes)
{
	for (size_t i = 0; i < r->n_u; i++) {
		const struct unit *u = &r->u[i];

		for (int dir = 0; u->live && dir < 2; dir++) {
			for (int k = 0; k < UG_ACCT_MAX; k++) {
				fprintf(f, "unitguard_%s_total{", bytes ? "bytes" : "packets");
				unit_label(f, u->name);
				fprintf(f, ",direction=\"%s\",verdict=\"%s\"} %" PRIu64 "\n",
					dir ? "ingress" : "egress", acct_verdicts[k],
					(uint64_t)(bytes ? u->acct[dir].bytes[k]
							 : u->acct[dir].packets[k]));
			}
		}
	}
}

static int write_all(FILE *f, const struct ug_prom_src *src, const struct render *r, bool up,
		     char *err, size_t errlen)
{
	struct ug_latency lat = { 0 };
	int64_t beat = 0, started = 0, gen = 0, applied = 0, unstored = 0, version = 0;
	char buf[512];
	struct timespec now;
	int have_beat, have_started, have_gen, have_applied, have_unstored, ret;

	clock_gettime(CLOCK_REALTIME, &now);
	have_beat = agent_num(src->st, "heartbeat_us", &beat);
	have_started = agent_num(src->st, "started_us", &started);
	have_gen = agent_num(src->st, "generation", &gen);
	have_applied = agent_num(src->st, "applied_version", &applied);
	have_unstored = agent_num(src->st, "unstored_reported", &unstored);
	ret = have_beat < 0 ? have_beat : have_started < 0 ? have_started : have_gen < 0 ? have_gen
	      : have_applied < 0 ? have_applied : have_unstored;
	if (ret >= 0)
		ret = ug_store_policy_version(src->st, &version);
	if (ret >= 0) {
		ret = ug_store_agent_get(src->st, UG_LATENCY_KEY, buf, sizeof(buf));
		/* Absent (no apply yet) or not what the agent writes: none. */
		if (!ret && ug_latency_decode(buf, &lat))
			memset(&lat, 0, sizeof(lat));
		if (ret == -ENOENT || ret == -ERANGE)
			ret = 0;
	}
	if (ret < 0) {
		set_err(err, errlen, "%s", ug_store_errmsg(src->st));
		return ret;
	}

	family(f, "unitguard_agent_up", "gauge",
	       "1 when an agent holds the store's lock (runs), else 0.");
	fprintf(f, "unitguard_agent_up %d\n", up);
	if (have_beat > 0 && beat > 0) {
		double age = ((double)now.tv_sec * 1e6 + (double)now.tv_nsec / 1e3 - (double)beat) /
			     1e6;

		family(f, "unitguard_agent_heartbeat_age_seconds", "gauge",
		       "Seconds since the agent's event loop last wrote its heartbeat (once a "
		       "second while it runs).");
		fprintf(f, "unitguard_agent_heartbeat_age_seconds %.3f\n", age < 0 ? 0 : age);
	}
	if (have_started > 0 && started > 0) {
		family(f, "unitguard_agent_start_time_seconds", "gauge",
		       "When the agent last started, in seconds since the epoch.");
		fprintf(f, "unitguard_agent_start_time_seconds %.6f\n", (double)started / 1e6);
	}
	family(f, "unitguard_generation", "gauge",
	       "The last policy generation the agent put in force.");
	fprintf(f, "unitguard_generation %" PRId64 "\n", have_gen > 0 ? gen : 0);
	family(f, "unitguard_policy_version", "gauge",
	       "The store's policy version (bumped by every change to units or rules).");
	fprintf(f, "unitguard_policy_version %" PRId64 "\n", version);
	family(f, "unitguard_applied_policy_version", "gauge",
	       "The policy version the agent last acknowledged as in force; below "
	       "unitguard_policy_version while a change is being applied.");
	fprintf(f, "unitguard_applied_policy_version %" PRId64 "\n",
		have_applied > 0 ? applied : -1);
	write_latency(f, &lat);

	family(f, "unitguard_unit_state", "gauge",
	       "1 for the state each policy target is in, as `unitguardctl status` shows it.");
	for (size_t i = 0; i < r->n_u; i++) {
		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
			fputs("unitguard_unit_state{", f);
			unit_label(f, r->u[i].name);
			fprintf(f, ",state=\"%s\"} %d\n", states[s], r->u[i].state == states[s]);
		}
	}
	family(f, "unitguard_packets_total", "counter",
	       "Packets seen by a unit's packet-level hooks, per direction and verdict (since "
	       "its cgroup was created).");
	write_acct(f, r, false);
	family(f, "unitguard_bytes_total", "counter",
	       "Bytes (IP packets, headers included) seen by a unit's packet-level hooks, per "
	       "direction and verdict.");
	write_acct(f, r, true);

	family(f, "unitguard_denials_total", "counter",
	       "Denials made (in audit mode: would-be denials), recorded, pruned or lost: "
	       "audit_totals.total.");
	write_totals(f, "unitguard_denials_total", r, false);
	family(f, "unitguard_audit_lost_total", "counter",
	       "Denials the kernel could not record (ring buffer full), counted in them.");
	write_totals(f, "unitguard_audit_lost_total", r, true);
	family(f, "unitguard_audit_unstored_total", "counter",
	       "Denials journaled but not stored (the store was full, read-only or locked).");
	fprintf(f, "unitguard_audit_unstored_total %" PRIu64 "\n",
		have_unstored > 0 && unstored > 0 ? (uint64_t)unstored : 0);
	return 0;
}

int ug_prom_render(const struct ug_prom_src *src, char **out, size_t *len, char *err,
		   size_t errlen)
{
	char dir[256], lock[4096];
	struct render r = { 0 };
	char *buf = NULL;
	size_t n = 0;
	const char *pin_dir = src->pin_dir;
	pid_t holder;
	bool up = false;
	FILE *f = NULL;
	int ret;

	*out = NULL;
	*len = 0;
	if (src->db_path && !ug_lock_path(src->db_path, lock, sizeof(lock)))
		up = ug_lock_holder(lock, &holder) == 1;
	if (!pin_dir) {
		ret = ug_store_agent_get(src->st, "pin_dir", dir, sizeof(dir));
		if (ret && ret != -ENOENT && ret != -ERANGE) {
			set_err(err, errlen, "%s", ug_store_errmsg(src->st));
			return ret;
		}
		pin_dir = ret ? UG_PIN_DEFAULT_DIR : dir;
	}
	ret = ug_store_status_list(src->st, on_status, &r);
	if (!ret)
		ret = ug_store_report(src->st, "totals", NULL, 0, on_totals, &r);
	if (ret) {
		set_err(err, errlen, "%s", ret == -ENOMEM ? strerror(ENOMEM)
							  : ug_store_errmsg(src->st));
		goto out;
	}
	ret = read_live(pin_dir, &r, err, errlen);
	if (ret)
		goto out;
	f = open_memstream(&buf, &n);
	if (!f) {
		ret = -errno;
		set_err(err, errlen, "%s", strerror(-ret));
		goto out;
	}
	ret = write_all(f, src, &r, up, err, errlen);
	if (!ret && ferror(f)) {
		ret = -ENOMEM;
		set_err(err, errlen, "%s", strerror(ENOMEM));
	}
	if (fclose(f) && !ret) {
		ret = -ENOMEM;
		set_err(err, errlen, "%s", strerror(ENOMEM));
	}
	if (ret) {
		free(buf);
		goto out;
	}
	*out = buf;
	*len = n;
out:
	render_free(&r);
	return ret;
}
