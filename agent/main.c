// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardd: options, start-up order and the event loop. What a pass does
 * (store -> kernel) is in pass.c, where units are in resolve.c.
 *
 * One sd-event loop: the ring buffers, inotify on the store's directory and
 * on the cgroup tree, systemd's D-Bus signals, signals, and one timer per
 * duty (below). Every event that can change what should be enforced
 * schedules a pass; passes coalesce. systemd's watchdog (WatchdogSec=) is
 * kept by sd-event itself: an agent whose loop stopped is restarted.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "audit.h"
#include "cgroup.h"
#include "lock.h"
#include "log.h"
#include "messages.h"
#include "metrics.h"
#include "options.h"
#include "pass.h"
#include "ring.h"
#include "stats.h"
#include "util.h"

#define UG_DEFAULT_BPFFS "/sys/fs/bpf"
/* Earlier builds had systemd attach the programs (BPFProgram=) from these. */
#define UG_OLD_DROPIN_DIR "/run/systemd/system"
#define UG_OLD_DROPIN_NAME "50-unitguard.conf"

/*
 * Records read per drain. A flood refills the ring as fast as the agent
 * reads it, and a drain that went on until the ring is empty would never
 * end: the flush of aggregated and lost counts, retention, the watchdog and
 * policy changes would wait for the flood to stop. A bounded drain returns
 * to the event loop, which comes back to the ring next.
 */
#define UG_DRAIN_BUDGET 8192

/* Waiting longer for systemd's answers than this holds up the boot of every
 * unit ordered after the agent: say ready, and what is not in force. */
#define READY_WAIT_US (30 * 1000000ULL)

struct daemon;

/* A duty done every `every` microseconds, on a timer of its own. */
struct duty {
	uint64_t every;
	void (*run)(struct daemon *d);
	struct daemon *d;
	sd_event_source *src;
};

/* What only main.c holds. */
struct daemon {
	struct agent ag;
	struct options o;
	int store_lock, pin_lock;    /* held while we run: one agent per store and pins */
	struct ug_ring *rings[2];    /* denials: the network's, the LSM side's (NULL: none) */
	sd_event_source *ring_src[2];
	char marks[2][UG_RING_MARK_MAX]; /* where their stored records end (on_marks) */
	bool ring_said;              /* a ring could not be read: said once */
	bool ready;                  /* READY=1 sent */
	sd_event_source *ready_src;  /* the deadline for it */
	struct duty duties[8];
	size_t n_duties;
};

/* --- the ring buffers -------------------------------------------------------- */

/*
 * Records are read past the ring's consumer position and let go only once
 * the audit has committed (or counted) them (agent/ring.h, on_durable()).
 * While a ring holds records read and not let go, its fd stays readable:
 * its source is off until then, and the flush timer reads on meanwhile.
 */
static void watch_rings(struct daemon *d)
{
	for (int i = 0; i < 2; i++)
		if (d->ring_src[i])
			sd_event_source_set_enabled(d->ring_src[i], ug_ring_held(d->rings[i])
							? SD_EVENT_OFF : SD_EVENT_ON);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct daemon *d = ctx;

	ug_audit_record(d->ag.audit, data, size);
	return 0;
}

static int on_lsm_event(void *ctx, void *data, size_t size)
{
	struct daemon *d = ctx;

	ug_audit_lsm_record(d->ag.audit, data, size);
	return 0;
}

/* The daemon of the agent the audit's callbacks get. */
static struct daemon *daemon_of(void *ag)
{
	return (struct daemon *)((char *)ag - offsetof(struct daemon, ag));
}

/* ug_audit_ops.durable: what was read is stored or counted. */
static void on_durable(void *ctx)
{
	struct daemon *d = daemon_of(ctx);

	ug_ring_release(d->rings[0]);
	ug_ring_release(d->rings[1]);
	watch_rings(d);
}

/* agent_state keys of the rings' marks (agent/ring.h). */
static const char *const ring_keys[2] = { "audit_ring_net", "audit_ring_lsm" };

/* ug_audit_ops.marks: committed with the rows, so that a next agent skips
 * what this one stored and was killed before letting go. */
static size_t on_marks(struct ug_store_mark *m, size_t max, void *ctx)
{
	struct daemon *d = daemon_of(ctx);
	size_t n = 0;

	for (int i = 0; i < 2 && n < max; i++)
		if (d->rings[i] && !ug_ring_mark(d->rings[i], d->marks[i], sizeof(d->marks[i])))
			m[n++] = (struct ug_store_mark){ .key = ring_keys[i], .value = d->marks[i] };
	return n;
}

/* Ring i is new: past what an earlier agent stored from it. */
static void resume_ring(struct daemon *d, int i)
{
	char mark[UG_RING_MARK_MAX];

	if (!ug_store_agent_get(d->ag.st, ring_keys[i], mark, sizeof(mark)) &&
	    ug_ring_resume(d->rings[i], mark) > 0)
		ug_log(LOG_NOTICE, "audit: records an earlier agent stored but did not let go of "
		       "are skipped in the %s ring buffer", i ? "LSM" : "network");
}

/* Read up to UG_DRAIN_BUDGET records from each ring: a flood in one does
 * not keep the other unread. */
static void drain(struct daemon *d)
{
	for (int i = 0; i < 2; i++) {
		int n = d->rings[i] ? ug_ring_read(d->rings[i], UG_DRAIN_BUDGET) : 0;

		if (n < 0 && !d->ring_said)
			ug_log(LOG_ERR, "audit: reading the %s ring buffer: %s", i ? "LSM" : "network",
			       strerror(-n));
		d->ring_said |= n < 0;
	}
	watch_rings(d);
}

static int on_ringbuf(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	drain(ctx);
	return 0;
}

/* What the kernel aggregated, into the ring and drained. */
static void flush_kernel(struct daemon *d)
{
	/* Drain first: in a flood the ring is full, and the counts the flush
	 * sends need room in it (what finds none waits for the next flush). */
	drain(d);
	/* The LSM flush deletes entries by the window the network flush set
	 * for both: not when that failed. */
	if (!ug_net_flush(d->ag.net) && d->ag.lsm)
		ug_lsm_flush(d->ag.lsm, ug_net_window(d->ag.net));
	drain(d);
}

/* --- readiness and passes ---------------------------------------------------- */

static void say_ready(struct daemon *d, const char *why)
{
	if (d->ready)
		return;
	d->ready = true;
	d->ready_src = sd_event_source_unref(d->ready_src);
	if (why)
		ug_log(LOG_WARNING, "agent: ready, but %s; see the status for what is NOT "
		       "enforced", why);
	sd_notify(0, "READY=1");
}

/* A pass, once per loop iteration at most; at boot, units ordered after
 * the agent start once it is ready: when a pass converged. */
static int on_pass(sd_event_source *s, void *ctx)
{
	struct daemon *d = ctx;

	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	if (pass_run(&d->ag) > 0)
		say_ready(d, NULL);
	return 0;
}

static int on_ready_deadline(sd_event_source *s, uint64_t usec, void *ctx)
{
	say_ready(ctx, "not every target was placed and in force within 30 s");
	return 0;
}

/* The resolver: an answer came, a cgroup came or went. */
static void on_placement(void *ctx)
{
	struct daemon *d = ctx;

	pass_schedule(&d->ag);
}

/* The store: a change seen (version), or the file replaced. */
static void on_store(void *ctx, int64_t version, bool reopened)
{
	struct daemon *d = ctx;

	if (version >= 0)
		metrics_change_seen(d->ag.metrics, version, d->ag.ps.applied_version);
	if (reopened)
		pass_rewrite_status(&d->ag);
	else if (d->ag.sw.dirty)
		pass_schedule(&d->ag);
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct daemon *d = ctx;

	ug_log(LOG_INFO, "agent: SIGHUP, re-reading the store and recompiling everything");
	pass_recompile_all(&d->ag);
	return 0;
}

/* --- duties ------------------------------------------------------------------ */

static void duty_flush(struct daemon *d)
{
	flush_kernel(d);
	ug_audit_flush(d->ag.audit);
}

/* Retries: the store, systemd, an incomplete cgroup index. */
static void duty_retry(struct daemon *d)
{
	storewatch_tick(&d->ag.sw);
	ug_resolver_tick(d->ag.res);
	if (d->ag.ps.status_dirty && !d->ag.sw.on_lkg)
		pass_schedule(&d->ag);
}

/* Tries retired long enough ago that no program can still read them. */
static void duty_cleanup(struct daemon *d)
{
	ug_net_cleanup(d->ag.net);
	if (d->ag.lsm)
		ug_lsm_cleanup(d->ag.lsm);
}

/* The agent's reports on itself, and that it is alive (status reads it). */
static void duty_health(struct daemon *d)
{
	char buf[32];

	health_report(&d->ag.health);
	snprintf(buf, sizeof(buf), "%" PRId64, ug_realtime_us());
	ug_store_agent_set(d->ag.st, "heartbeat_us", buf);
}

static void duty_retention(struct daemon *d)
{
	ug_audit_retain(d->ag.audit, 10000);
}

static void duty_stats(struct daemon *d)
{
	stats_snapshot(d->ag.net, d->ag.st, d->ag.ps.generation);
}

static int on_duty(sd_event_source *s, uint64_t usec, void *ctx)
{
	struct duty *t = ctx;

	t->run(t->d);
	return sd_event_source_set_time(s, usec + t->every);
}

static int add_duty(struct daemon *d, uint64_t every, void (*run)(struct daemon *))
{
	struct duty *t = &d->duties[d->n_duties++];
	uint64_t now;
	int err;

	*t = (struct duty){ .every = every, .run = run, .d = d };
	err = sd_event_now(d->ag.ev, CLOCK_MONOTONIC, &now);
	if (err >= 0)
		err = sd_event_add_time(d->ag.ev, &t->src, CLOCK_MONOTONIC, now + every, 0, on_duty,
					t);
	if (err >= 0)
		err = sd_event_source_set_enabled(t->src, SD_EVENT_ON);
	return err < 0 ? err : 0;
}

/* --- start-up ----------------------------------------------------------------- */

/*
 * Drop-ins earlier builds wrote so that systemd attached our programs
 * (BPFProgram=): the programs are now attached at the units' parents by the
 * agent itself. Only drop-ins that point into this pin directory are ours.
 * No reload: PID 1 forgets them at its next one; until then a unit that
 * starts finds the pin gone and systemd says so, nothing more.
 */
static void remove_old_dropins(const char *pin_dir)
{
	struct dirent *de;
	DIR *d = opendir(UG_OLD_DROPIN_DIR);

	while (d && (de = readdir(d))) {
		char dir[PATH_MAX], path[PATH_MAX + 32], line[PATH_MAX + 64];
		size_t len = strlen(de->d_name);
		bool ours = false;
		FILE *f;

		if (len < 3 || strcmp(de->d_name + len - 2, ".d"))
			continue;
		snprintf(dir, sizeof(dir), UG_OLD_DROPIN_DIR "/%s", de->d_name);
		snprintf(path, sizeof(path), "%s/" UG_OLD_DROPIN_NAME, dir);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!ours && fgets(line, sizeof(line), f))
			ours = !strncmp(line, "BPFProgram=", 11) && strstr(line, pin_dir);
		fclose(f);
		if (!ours)
			continue;
		if (!unlink(path))
			ug_log(LOG_INFO, "agent: removed %s (programs are attached by the agent now)",
			       path);
		rmdir(dir); /* only if it is empty */
	}
	if (d)
		closedir(d);
}

/*
 * Every attach point holds 8 link descriptors, every policy its maps, and the
 * cgroup index opens directories as it walks: a soft limit of 1024 (systemd's
 * default) runs out at about a hundred attach points, and an index that
 * cannot open a directory cannot see what is in it. Nothing here uses
 * select() (sd-event and libmicrohttpd use epoll), so the soft limit can be
 * the hard one. The unit raises the hard one (LimitNOFILE=).
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		ug_log(LOG_WARNING, "agent: cannot raise the descriptor limit to %llu: %s",
		       (unsigned long long)rl.rlim_max, strerror(errno));
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !ug_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* bpffs must be mounted where we pin; mount it when it is not. */
static int ensure_bpffs(const char *pin_dir)
{
	struct statfs sfs;

	if (strncmp(pin_dir, UG_DEFAULT_BPFFS "/", strlen(UG_DEFAULT_BPFFS) + 1))
		return 0; /* a custom location: the operator mounted it */
	if (!statfs(UG_DEFAULT_BPFFS, &sfs) && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", UG_DEFAULT_BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return -errno;
	ug_log(LOG_INFO, "agent: mounted bpffs at " UG_DEFAULT_BPFFS);
	return 0;
}

/*
 * One agent per store and per pin directory: a second one would adopt the
 * first one's pins and overwrite its policy. The locks are held until exit.
 */
static int take_locks(struct daemon *d)
{
	char path[PATH_MAX], dir[PATH_MAX];
	const struct options *o = &d->o;
	pid_t holder;
	int err;

	snprintf(dir, sizeof(dir), "%s", o->db_path);
	if (ug_lock_path(o->db_path, path, sizeof(path))) {
		ug_log(LOG_ERR, "agent: --db path too long");
		return -ENAMETOOLONG;
	}
	err = ug_mkdir_p(dirname(dir));
	if (!err)
		err = ug_lock_take(path, false, &d->store_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the store %s is in use by another unitguardd (pid %d); "
		       "not starting", o->db_path, (int)holder);
		return err;
	}
	if (err) {
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", path, strerror(-err));
		return err;
	}
	err = ug_mkdir_p(o->pin_dir);
	if (!err)
		err = ug_lock_take(o->pin_dir, true, &d->pin_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the pin directory %s is in use by another unitguardd "
		       "(pid %d); not starting", o->pin_dir, (int)holder);
		return err;
	}
	if (err)
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", o->pin_dir, strerror(-err));
	return err;
}

static int detach_all(const char *pin_dir)
{
	/* Programs a still-running agent holds judge nothing once the maps are
	 * empty; nothing is left for a unit's next start. */
	int err;

	remove_old_dropins(pin_dir);
	err = ug_lsm_detach_all(pin_dir);
	err = ug_net_detach_all(pin_dir) ?: err;
	if (err) {
		ug_log(LOG_ERR, "agent: detach-all: %s", strerror(-err));
		return 1;
	}
	ug_log(LOG_NOTICE, "agent: removed %s: unitguard no longer enforces anything", pin_dir);
	return 0;
}

static void write_agent_state(struct agent *ag, int64_t started_us)
{
	char buf[32], lsm_state[600];

	snprintf(buf, sizeof(buf), "%d", getpid());
	ug_store_agent_set(ag->st, "pid", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, started_us);
	ug_store_agent_set(ag->st, "started_us", buf);
	ug_store_agent_set(ag->st, "heartbeat_us", buf);
	ug_store_agent_set(ag->st, "pin_dir", ag->pin_dir);
	if (ag->lsm)
		snprintf(lsm_state, sizeof(lsm_state), "available");
	else
		snprintf(lsm_state, sizeof(lsm_state), "unavailable: %s", ag->lsm_why);
	ug_store_agent_set(ag->st, "lsm", lsm_state);
	if (ag->lsm) {
		char hooks[256];

		ug_lsm_hooks(ag->lsm, hooks, sizeof(hooks));
		ug_store_agent_set(ag->st, "lsm_hooks", hooks);
	}
}

static void open_lsm(struct daemon *d)
{
	struct agent *ag = &d->ag;
	int err = ug_lsm_probe(ag->lsm_why, sizeof(ag->lsm_why));

	if (!err)
		err = ug_lsm_open(ag->pin_dir, ag->cgroot, &ag->lsm);
	if (!err)
		err = ug_ring_new(ug_lsm_events_map_fd(ag->lsm), on_lsm_event, d, &d->rings[1]);
	if (!err)
		resume_ring(d, 1);
	if (err) {
		if (!ag->lsm_why[0])
			snprintf(ag->lsm_why, sizeof(ag->lsm_why), "%s", strerror(-err));
		ug_ring_free(d->rings[1]);
		d->rings[1] = NULL;
		ug_lsm_free(ag->lsm);
		ag->lsm = NULL;
		ug_log_id(LOG_WARNING, UG_MESSAGE_LSM_UNAVAILABLE, NULL, "lsm: BPF LSM is "
			  "unavailable: %s. Exec, file, socket family and hardening rules are NOT "
			  "enforced; network rules are.", ag->lsm_why);
		return;
	}
	ug_log(LOG_INFO, "lsm: BPF LSM available");
	if (ug_lsm_generation(ag->lsm) > ag->ps.generation)
		ag->ps.generation = ug_lsm_generation(ag->lsm);
}

/*
 * The store cannot be opened (damaged, from a newer build): run on the last
 * known good copy of the policy, read only, rather than enforce nothing (at
 * boot nothing is pinned); storewatch.c opens the store once it can. 0 when
 * running on the copy.
 */
static int open_lkg(struct agent *ag, const char *why)
{
	char lkg[PATH_MAX], err[256];

	storewatch_lkg_path(ag->db_path, lkg, sizeof(lkg));
	if (ug_store_open(lkg, UG_STORE_READONLY, &ag->st, err, sizeof(err)))
		return -ENOENT;
	ag->sw.opened_lkg = true;
	ug_fmt(ag->sw.why, sizeof(ag->sw.why), "cannot be opened: %s", why);
	return 0;
}

/* ug_audit_ops.unstored: counted by the health reports. */
static void on_unstored(uint64_t n, void *ctx)
{
	struct agent *ag = ctx;

	health_on_unstored(n, &ag->health);
}

/* The loop's sources: signals, rings, the pass, the duties, the watchdog. */
static int setup_loop(struct daemon *d)
{
	struct agent *ag = &d->ag;
	const uint64_t s = 1000000;
	sigset_t ss;
	uint64_t now;
	int err;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if ((err = sd_event_add_signal(ag->ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ag->ev, NULL, SIGINT, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ag->ev, NULL, SIGHUP, on_hup, d)) < 0 ||
	    (err = sd_event_add_io(ag->ev, &d->ring_src[0], ug_ring_fd(d->rings[0]), EPOLLIN,
				   on_ringbuf, d)) < 0 ||
	    (d->rings[1] && (err = sd_event_add_io(ag->ev, &d->ring_src[1], ug_ring_fd(d->rings[1]),
						   EPOLLIN, on_ringbuf, d)) < 0) ||
	    (err = storewatch_start(&ag->sw, ag->ev, ag->st, ag->db_path, on_store, d)) < 0 ||
	    (err = sd_event_add_defer(ag->ev, &ag->ps.src, on_pass, d)) < 0 ||
	    (err = sd_event_source_set_enabled(ag->ps.src, SD_EVENT_OFF)) < 0 ||
	    (err = sd_event_now(ag->ev, CLOCK_MONOTONIC, &now)) < 0 ||
	    (err = sd_event_add_time(ag->ev, &d->ready_src, CLOCK_MONOTONIC, now + READY_WAIT_US,
				     0, on_ready_deadline, d)) < 0 ||
	    (err = add_duty(d, s / 4, duty_flush)) ||
	    (err = add_duty(d, s, duty_retry)) ||
	    (err = add_duty(d, s, duty_cleanup)) ||
	    (err = add_duty(d, s, duty_health)) ||
	    (err = add_duty(d, s, duty_retention)) ||
	    (err = add_duty(d, (uint64_t)d->o.stats_interval * s, duty_stats)) ||
	    /* Pings WATCHDOG=1 when systemd asks for it (WatchdogSec=). */
	    (err = sd_event_set_watchdog(ag->ev, true)) < 0)
		return err;
	return 0;
}

/* What the agent needs before anything else: descriptors, bpffs, its
 * locks, the cgroup2 mount, the store (or its last known good copy). */
static int prepare(struct daemon *d)
{
	struct agent *ag = &d->ag;
	char errbuf[256];
	int err;

	raise_nofile();
	err = ensure_bpffs(ag->pin_dir);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot mount bpffs at " UG_DEFAULT_BPFFS ": %s",
		       strerror(-err));
		return err;
	}
	err = take_locks(d);
	if (err)
		return err;
	err = ug_cgroup_root(ag->cgroot, sizeof(ag->cgroot));
	if (err) {
		ug_log(LOG_ERR, "cgroup: no cgroup2 hierarchy is mounted: network policy CANNOT be "
		       "enforced");
		return err;
	}
	err = ug_store_open(ag->db_path, UG_STORE_CREATE, &ag->st, errbuf, sizeof(errbuf));
	if (err && open_lkg(ag, errbuf)) {
		ug_log(LOG_ERR, "agent: cannot open the store %s: %s; exiting. What is pinned "
		       "keeps enforcing.", ag->db_path, errbuf);
		return err;
	}
	/* Someone's long transaction must not stall the loop: writes that
	 * fail are kept and tried again (audit rows, status, counters). */
	ug_store_set_busy_timeout(ag->st, 100);
	return 0;
}

/* The audit, then the programs: the network side (required), the LSM side
 * (where the kernel has it). */
static int load(struct daemon *d)
{
	struct agent *ag = &d->ag;
	int err;

	err = ug_audit_new(ag->st,
			   &(struct ug_audit_ops){ .target = pass_target_name,
						   .family_rule = pass_family_rule,
						   .unstored = on_unstored,
						   .durable = on_durable, .marks = on_marks,
						   .ctx = ag },
			   &ag->audit);
	if (err)
		return err;
	ug_audit_set_retention(ag->audit, d->o.audit_max_bytes, d->o.audit_max_age_us);
	err = ug_net_open(ag->pin_dir, &ag->net);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot load the network programs (%s); exiting. What is "
		       "pinned keeps enforcing.", strerror(-err));
		return err;
	}
	err = ug_ring_new(ug_net_events_map_fd(ag->net), on_event, d, &d->rings[0]);
	if (err) {
		ug_log(LOG_ERR, "net: cannot map the ring buffer: %s", strerror(-err));
		return err;
	}
	resume_ring(d, 0);
	ag->ps.generation = ug_net_generation(ag->net);
	open_lsm(d);
	remove_old_dropins(ag->pin_dir);
	health_init(&ag->health, ag->st, ag->net, ag->lsm);
	ag->health.audit = ag->audit;
	return 0;
}

/* The event loop and what feeds it: signals, rings, the store, duties,
 * the metrics listener, the resolver (the cgroup tree and systemd). */
static int listen_all(struct daemon *d)
{
	struct agent *ag = &d->ag;
	int err;

	err = sd_event_default(&ag->ev);
	if (err >= 0)
		err = setup_loop(d);
	if (err < 0) {
		ug_log(LOG_ERR, "agent: event loop setup: %s", strerror(-err));
		return err;
	}
	/* After setup_loop: its thread must inherit the blocked signals. */
	ag->metrics = metrics_start(ag->st, ag->db_path, ag->pin_dir,
				    d->o.listen_set ? &d->o.listen : NULL);
	err = ug_resolver_new(ag->cgroot, ag->ev, sd_booted() > 0, &ag->sw.ts, on_placement, d,
			      &ag->res);
	if (err)
		return err;
	ag->health.idx = ug_resolver_index(ag->res);
	ug_log(LOG_INFO, "agent: %s", sd_booted() > 0
		       ? "units resolved through systemd"
		       : "systemd is not PID 1: units resolved by cgroup name");
	return 0;
}

/* The first pass, the loop until a signal ends it, the last flush. */
static int run(struct daemon *d)
{
	struct agent *ag = &d->ag;
	int err;

	write_agent_state(ag, ug_realtime_us());
	health_report(&ag->health);
	/* READY=1 once a pass converged, which may be this one; an error here
	 * cannot wait for answers. */
	err = pass_run(ag);
	if (err < 0)
		say_ready(d, "it started with errors (see above)");
	else if (err > 0)
		say_ready(d, NULL);
	ug_log(LOG_INFO, "agent: running (store %s, pins %s)", ag->db_path, ag->pin_dir);
	err = sd_event_loop(ag->ev);
	if (err < 0)
		ug_log(LOG_ERR, "agent: event loop: %s", strerror(-err));
	else
		ug_log(LOG_INFO, "agent: exiting; pinned programs keep enforcing");
	sd_notify(0, "STOPPING=1");
	flush_kernel(d);
	stats_snapshot(ag->net, ag->st, ag->ps.generation);
	ug_store_agent_set(ag->st, "pid", "0");
	return err < 0 ? err : 0;
}

/* Whatever was made, in the reverse order: the pinned programs stay. */
static void teardown(struct daemon *d)
{
	struct agent *ag = &d->ag;

	ug_resolver_free(ag->res);
	metrics_stop(ag->metrics);
	d->ring_src[0] = sd_event_source_unref(d->ring_src[0]);
	d->ring_src[1] = sd_event_source_unref(d->ring_src[1]);
	for (size_t i = 0; i < d->n_duties; i++)
		sd_event_source_unref(d->duties[i].src);
	sd_event_source_unref(d->ready_src);
	sd_event_source_unref(ag->ps.src);
	storewatch_stop(&ag->sw);
	sd_event_unref(ag->ev);
	if (ag->net)
		drain(d);
	/* The audit goes first: rows it cannot store are counted in net's maps,
	 * and what it stored or counted is let go from the rings. */
	ug_audit_free(ag->audit);
	ug_ring_free(d->rings[0]);
	ug_ring_free(d->rings[1]);
	ug_lsm_free(ag->lsm);
	ug_net_free(ag->net);
	ug_store_close(ag->st);
	targets_free(&ag->sw.ts);
	pass_free(&ag->ps);
}

int main(int argc, char **argv)
{
	static struct daemon d = { .ag.ps.applied_version = -1 /* unknown: the first pass says */,
				   .ag.ps.all_dirty = true };
	int err;

	err = parse_argv(argc, argv, &d.o);
	if (err)
		return err > 0 ? 0 : 2;
	d.ag.db_path = d.o.db_path;
	d.ag.pin_dir = d.o.pin_dir;
	libbpf_set_print(libbpf_print);
	if (d.o.detach_all)
		return detach_all(d.o.pin_dir);
	err = prepare(&d);
	if (!err)
		err = load(&d);
	if (!err)
		err = listen_all(&d);
	if (!err)
		err = run(&d);
	teardown(&d);
	return err < 0 ? 1 : 0;
}
