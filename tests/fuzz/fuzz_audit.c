/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ring-buffer record decoder: ug_audit_record() and ug_audit_lsm_record() take whatever
 * the kernel wrote, and a record layout from another build or a corrupted buffer must not
 * crash the agent, stop the audit table, or put garbage in it. One input is a sequence of
 * operations on one ug_audit (records of any size, lost-event reports, flushes), then
 * ug_audit_free(), which flushes into a real store. Checked for every record the decoder
 * accepted under a target name used only by this input: it is in the audit table, once,
 * with a time between the boot and now, a known hook, direction and verdict, and printable
 * text.
 *
 * The journal is fake_journal.c: it formats every entry but writes none, and is told by the
 * input to fail as it does without journald.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fake_journal.h"
#include "fuzz.h"
#include "policy.h"
#include "store.h"
#include "unitguard.h"

#define STORE_INPUTS 2048

static char db_dir[256], db_path[300];
static struct ug_store *st;
static unsigned long inputs;

struct ctx {
	unsigned long input;
	char names[4][300];
};

/* The names a target callback gives, by unit_cgid: none (the decoder names the cgroup), a
 * unit, a cgroup path, and a name longer than the decoder keeps. All but the first are
 * unique to this input, so its rows can be found and counted. */
static const char *target(uint64_t cgid, void *data)
{
	struct ctx *c = data;
	unsigned int k = (unsigned int)(cgid % 4);

	return k ? c->names[k] : NULL;
}

static uint32_t family_rule(uint64_t cgid, int family, void *data)
{
	return (uint32_t)(cgid >> 8) ^ (uint32_t)family;
}

static void store_remove(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[320];

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", db_path, suffixes[i]);
		unlink(p);
	}
}

static void store_open(void)
{
	char err[256];

	store_remove();
	if (ug_store_open(db_path, UG_STORE_CREATE, &st, err, sizeof(err))) {
		fprintf(stderr, "fuzz_audit: cannot open %s: %s\n", db_path, err);
		abort();
	}
}

static void cleanup(void)
{
	ug_store_close(st);
	store_remove();
	rmdir(db_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("UG_FUZZ_TMPDIR");

	if (!base)
		base = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";
	snprintf(db_dir, sizeof(db_dir), "%s/ug-fuzz-audit.XXXXXX", base);
	if (!mkdtemp(db_dir)) {
		perror("fuzz_audit: mkdtemp");
		abort();
	}
	snprintf(db_path, sizeof(db_path), "%s/audit.db", db_dir);
	store_open();
	atexit(cleanup);
	return 0;
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct expect {
	size_t rows[4]; /* accepted records per target kind (index as in target()) */
	int64_t boot_us, now_us;
};

static bool printable(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

struct seen {
	const struct expect *e;
	size_t rows;
};

static int row_cb(const struct ug_store_audit *a, void *data)
{
	struct seen *s = data;
	const struct ug_audit_row *r = &a->row;

	s->rows++;
	/* A second's slack on each side: clocks are read at other moments than the kernel's. */
	fuzz_check(r->time_us >= s->e->boot_us - 1000000 && r->time_us <= s->e->now_us + 1000000,
		   "row time %" PRId64 " us outside boot %" PRId64 " .. now %" PRId64, r->time_us,
		   s->e->boot_us, s->e->now_us);
	fuzz_check(r->verdict && (!strcmp(r->verdict, "deny") || !strcmp(r->verdict, "audit")),
		   "verdict %s", r->verdict);
	fuzz_check(r->hook && strcmp(r->hook, "unknown") && strcmp(r->hook, "none"), "hook %s",
		   r->hook);
	fuzz_check(r->direction && strcmp(r->direction, "unknown"), "direction %s", r->direction);
	fuzz_check(printable(r->comm) && printable(r->path) && printable(r->exe) &&
			   printable(r->detail) && printable(r->address) && printable(r->protocol),
		   "unprintable text in an audit row");
	return 0;
}

/* Feed one record of `full` bytes, or cut or padded as the input says. */
static void feed(struct ug_audit *a, struct fuzz_in *in, bool lsm, size_t full, size_t *accepted)
{
	uint8_t shape = fuzz_u8(in);
	size_t size = full;
	uint8_t *rec;
	uint64_t unit_cgid;
	int r;

	/* Mostly the real size; else shorter (a record from an older layout) or longer. */
	if (shape & 0x80)
		size = full - (shape & 0x3f) - 1;
	else if (shape & 0x40)
		size = full + (shape & 0x3f);
	rec = fuzz_bytes(in, size);
	r = lsm ? ug_audit_lsm_record(a, rec, size) : ug_audit_record(a, rec, size);
	fuzz_check(r == 0 || r == -EINVAL, "record returned %d", r);
	if (!r) {
		fuzz_check(size >= full, "a %zu-byte record of %zu accepted", size, full);
		/* unit_cgid sits at the same offset in both layouts. */
		memcpy(&unit_cgid, rec + offsetof(struct ug_event, who.unit_cgid), sizeof(unit_cgid));
		/* A lost count is a lost_events row, not an audit row. */
		if (lsm || !(((const struct ug_event *)rec)->flags & UG_EV_F_LOST))
			accepted[unit_cgid % 4]++;
	}
	free(rec);
}

_Static_assert(offsetof(struct ug_event, who.unit_cgid) == offsetof(struct ug_lsm_event, who.unit_cgid),
	       "feed() reads unit_cgid at one offset");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct ctx c = { .input = ++inputs };
	const struct ug_audit_ops ops = { .target = target, .family_rule = family_rule, .ctx = &c };
	struct expect e = { .boot_us = clock_us(CLOCK_REALTIME) - clock_us(CLOCK_BOOTTIME) };
	struct ug_audit *a;
	int ops_left = 64;

	/* A fresh store now and then, so it does not grow without bound. */
	if (!(inputs % STORE_INPUTS)) {
		ug_store_close(st);
		store_open();
	}
	snprintf(c.names[1], sizeof(c.names[1]), "fuzz%lu.service", c.input);
	snprintf(c.names[2], sizeof(c.names[2]), "/fuzz.slice/fuzz%lu.scope", c.input);
	/* TARGET_MAX in audit.c is 256: this one is cut, and the cut text is what is stored. */
	snprintf(c.names[3], sizeof(c.names[3]), "fuzz%lu-%0280d.service", c.input, 0);

	ug_fake_journal_error = fuzz_u8(&in) & 1 ? ENOENT : 0;
	fuzz_check(ug_audit_new(st, &ops, &a) == 0, "ug_audit_new");
	while (in.n && ops_left--) {
		switch (fuzz_u8(&in) % 4) {
		case 0:
			feed(a, &in, false, sizeof(struct ug_event), e.rows);
			break;
		case 1:
			feed(a, &in, true, sizeof(struct ug_lsm_event), e.rows);
			break;
		case 2:
			ug_audit_lost(a, fuzz_u64(&in), "ring buffer full");
			break;
		case 3:
			fuzz_check(ug_audit_flush(a) == 0, "flush failed: %s", ug_store_errmsg(st));
			break;
		}
	}
	ug_audit_free(a);
	e.now_us = clock_us(CLOCK_REALTIME);

	for (unsigned int k = 1; k < 4; k++) {
		char unit[256];
		struct seen s = { .e = &e };

		/* What the decoder keeps of the name: at most 255 bytes. */
		snprintf(unit, sizeof(unit), "%s", c.names[k]);
		fuzz_check(ug_store_audit_list(st, unit, row_cb, &s) == 0, "audit list: %s",
			   ug_store_errmsg(st));
		fuzz_check(s.rows == e.rows[k], "%zu records accepted for %s, %zu rows stored",
			   e.rows[k], unit, s.rows);
	}
	return 0;
}
