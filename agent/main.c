// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unitguardd: options, start-up order and the event loop. What a pass does
 * (store -> kernel) is in pass.c, where units are in resolve.c.
 *
 * One sd-event loop: the ring buffers, inotify on the store's directory and
 * on the cgroup tree, systemd's D-Bus signals, signals, a 250 ms tick. Every
 * event that can change what should be enforced schedules a pass; passes
 * coalesce.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "cgroup.h"
#include "lock.h"
#include "log.h"
#include "messages.h"
#include "util.h"

#define UG_DEFAULT_BPFFS "/sys/fs/bpf"
#define UG_DEFAULT_PIN_DIR UG_DEFAULT_BPFFS "/unitguard"
/* Earlier builds had systemd attach the programs (BPFProgram=) from these. */
#define UG_OLD_DROPIN_DIR "/run/systemd/system"
#define UG_OLD_DROPIN_NAME "50-unitguard.conf"

/*
 * Records read per drain. A flood refills the ring as fast as the agent
 * reads it, and a drain that went on until the ring is empty would never
 * end: the tick (the flush of aggregated and lost counts, retention,
 * heartbeat) and policy changes would wait for the flood to stop. A bounded
 * drain returns to the event loop, which comes back to the ring next.
 */
#define UG_DRAIN_BUDGET 8192

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *ag = ctx;

	ug_audit_record(ag->audit, data, size);
	return --ag->drain_left > 0 ? 0 : -ECANCELED;
}

static int on_lsm_event(void *ctx, void *data, size_t size)
{
	struct agent *ag = ctx;

	ug_audit_lsm_record(ag->audit, data, size);
	return --ag->drain_left > 0 ? 0 : -ECANCELED;
}

/* Read up to UG_DRAIN_BUDGET records from each ring: a flood in one does
 * not keep the other unread. */
static void drain(struct agent *ag)
{
	int err;

	ag->drain_left = UG_DRAIN_BUDGET;
	err = ug_net_poll_events(ag->net);
	if (err && err != -ECANCELED)
		ug_log(LOG_ERR, "audit: reading the ring buffer: %s", strerror(-err));
	if (!ag->lsm_rb)
		return;
	ag->drain_left = UG_DRAIN_BUDGET;
	err = ring_buffer__consume(ag->lsm_rb);
	if (err < 0 && err != -ECANCELED)
		ug_log(LOG_ERR, "audit: reading the LSM ring buffer: %s", strerror(-err));
}

static int on_ringbuf(sd_event_source *s, int fd, uint32_t revents, void *ctx)
{
	drain(ctx);
	return 0;
}

static void on_change(void *ctx)
{
	pass_schedule(ctx);
}

/* What the kernel aggregated, into the ring and drained. */
static void flush_kernel(struct agent *ag)
{
	/* Drain first: in a flood the ring is full, and the counts the flush
	 * sends need room in it (what finds none waits for the next flush). */
	drain(ag);
	/* The LSM flush deletes entries by the window the network flush set
	 * for both: not when that failed. */
	if (!ug_net_flush(ag->net) && ag->lsm)
		ug_lsm_flush(ag->lsm, ug_net_window(ag->net));
	drain(ag);
}

/* Waiting longer for systemd's answers than this holds up the boot of every
 * unit ordered after the agent: say ready, and what is not in force. */
#define READY_WAIT_US (30 * 1000000LL)

void agent_ready(struct agent *ag, const char *why)
{
	if (ag->ready)
		return;
	ag->ready = true;
	if (why)
		ug_log(LOG_WARNING, "agent: ready, but %s; see the status for what is NOT "
		       "enforced", why);
	sd_notify(0, "READY=1");
}

static int on_tick(sd_event_source *s, uint64_t usec, void *ctx)
{
	static unsigned ticks;
	struct agent *ag = ctx;
	char buf[32];

	flush_kernel(ag);
	ug_audit_flush(ag->audit);
	if (++ticks % 4 == 0) {
		/* Once a second: retries, cleanup, liveness, counters. */
		check_store_file(ag);
		ug_resolver_tick(ag->res);
		if (ag->store_dirty || ag->status_dirty)
			pass_schedule(ag);
		ug_net_cleanup(ag->net);
		if (ag->lsm)
			ug_lsm_cleanup(ag->lsm);
		report_lost(ag);
		report_unstored(ag);
		ug_audit_retain(ag->audit, 10000);
		write_usage(ag);
		snprintf(buf, sizeof(buf), "%" PRId64, realtime_us());
		ug_store_agent_set(ag->st, "heartbeat_us", buf);
		/* The loop runs: systemd's watchdog (WatchdogSec=) restarts an
		 * agent whose loop stopped. No-op outside systemd. */
		sd_notify(0, "WATCHDOG=1");
		if (!ag->ready && realtime_us() - ag->started_us >= READY_WAIT_US)
			agent_ready(ag, "not every target was placed and in force within 30 s");
		if (realtime_us() - (int64_t)ag->last_stats_us >= (int64_t)ag->stats_interval * 1000000)
			stats_snapshot(ag);
	}
	sd_event_source_set_time(s, usec + 250 * 1000);
	return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *ctx)
{
	struct agent *ag = ctx;

	ug_log(LOG_INFO, "agent: SIGHUP, re-reading the store and recompiling everything");
	ag->store_dirty = true;
	ag->all_dirty = true;
	pass_schedule(ag);
	return 0;
}

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
static int take_locks(struct agent *ag)
{
	char path[PATH_MAX], dir[PATH_MAX];
	pid_t holder;
	int err;

	snprintf(dir, sizeof(dir), "%s", ag->db_path);
	if (ug_lock_path(ag->db_path, path, sizeof(path))) {
		ug_log(LOG_ERR, "agent: --db path too long");
		return -ENAMETOOLONG;
	}
	err = ug_mkdir_p(dirname(dir));
	if (!err)
		err = ug_lock_take(path, false, &ag->store_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the store %s is in use by another unitguardd (pid %d); "
		       "not starting", ag->db_path, (int)holder);
		return err;
	}
	if (err) {
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", path, strerror(-err));
		return err;
	}
	err = ug_mkdir_p(ag->pin_dir);
	if (!err)
		err = ug_lock_take(ag->pin_dir, true, &ag->pin_lock, &holder);
	if (err == -EBUSY) {
		ug_log(LOG_ERR, "unitguardd: the pin directory %s is in use by another unitguardd "
		       "(pid %d); not starting", ag->pin_dir, (int)holder);
		return err;
	}
	if (err)
		ug_log(LOG_ERR, "agent: cannot lock %s: %s", ag->pin_dir, strerror(-err));
	return err;
}

/* "0", or N with K, M, G or T (powers of 1024), from 1M to 1T. */
static int parse_size(const char *s, int64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long n;
	const char *u;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (!*end && n == 0) {
		*out = 0;
		return 0;
	}
	if (!*end || end[1] || !(u = strchr(units, *end)))
		return -EINVAL;
	for (int i = 0; i <= u - units; i++) {
		if (n > (1ULL << 40))
			return -EINVAL;
		n *= 1024;
	}
	if (n < (1ULL << 20) || n > (1ULL << 40))
		return -EINVAL;
	*out = (int64_t)n;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: unitguardd [OPTIONS]\n"
		"Per-unit policy agent: enforces the rules in the store with BPF.\n\n"
		"  --db PATH        policy store (default " UG_DEFAULT_DB ")\n"
		"  --pin-dir DIR    bpffs directory for pinned programs and maps\n"
		"                   (default " UG_DEFAULT_PIN_DIR ")\n"
		"  --stats-interval SECONDS\n"
		"                   accounting snapshots into the store every SECONDS (default 60)\n"
		"  --audit-max-size SIZE\n"
		"                   keep the store's audit, accounting and rule_hits rows within\n"
		"                   SIZE (1M-1T, K/M/G/T suffix; default 1G; 0: no limit), oldest first\n"
		"  --audit-max-age DAYS\n"
		"                   and none older than DAYS (default 30; 0: no limit); pruned\n"
		"                   audit rows are counted in audit_summary\n"
		"  --metrics-listen ADDR:PORT\n"
		"                   serve Prometheus metrics at http://ADDR:PORT/metrics (off by\n"
		"                   default); ADDR a numeric IPv4 address or an IPv6 one in\n"
		"                   brackets: 127.0.0.1:9187, [::1]:9187\n"
		"  --detach-all     remove every pinned program and map, ending enforcement, and exit\n"
		"  -v, --verbose    debug messages, including libbpf's\n"
		"  -h, --help       this text\n\n"
		"One agent runs per store and per pin directory; a second one is refused.\n\n"
		"Examples:\n"
		"  unitguardd                          run on the default store\n"
		"  unitguardd -v                       the same, with debug messages\n"
		"  unitguardd --metrics-listen 127.0.0.1:9187\n"
		"                                      and metrics for Prometheus on loopback\n"
		"  unitguardd --detach-all             stop enforcing (programs stay attached\n"
		"                                      when the agent merely exits)\n");
}

static int setup_loop(struct agent *ag, sd_event_source **tick)
{
	char dbdir[PATH_MAX];
	sigset_t ss;
	uint64_t now;
	int err;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	snprintf(dbdir, sizeof(dbdir), "%s", ag->db_path);
	if ((err = sd_event_add_signal(ag->ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ag->ev, NULL, SIGINT, NULL, NULL)) < 0 ||
	    (err = sd_event_add_signal(ag->ev, NULL, SIGHUP, on_hup, ag)) < 0 ||
	    (err = sd_event_add_io(ag->ev, NULL, ug_net_events_fd(ag->net), EPOLLIN, on_ringbuf,
				   ag)) < 0 ||
	    (ag->lsm_rb && (err = sd_event_add_io(ag->ev, NULL, ring_buffer__epoll_fd(ag->lsm_rb),
						  EPOLLIN, on_ringbuf, ag)) < 0) ||
	    (err = sd_event_add_inotify(ag->ev, NULL, dirname(dbdir),
					IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE,
					on_store_change, ag)) < 0 ||
	    (err = sd_event_now(ag->ev, CLOCK_MONOTONIC, &now)) < 0 ||
	    (err = sd_event_add_time(ag->ev, tick, CLOCK_MONOTONIC, now + 250 * 1000, 0, on_tick,
				     ag)) < 0 ||
	    (err = sd_event_source_set_enabled(*tick, SD_EVENT_ON)) < 0)
		return err;
	return 0;
}

static void write_agent_state(struct agent *ag)
{
	char buf[32], lsm_state[600];

	snprintf(buf, sizeof(buf), "%d", getpid());
	ug_store_agent_set(ag->st, "pid", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, ag->started_us);
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

static void open_lsm(struct agent *ag)
{
	int err = ug_lsm_probe(ag->lsm_why, sizeof(ag->lsm_why));

	if (!err)
		err = ug_lsm_open(ag->pin_dir, ag->cgroot, &ag->lsm);
	if (!err) {
		ag->lsm_rb = ring_buffer__new(ug_lsm_events_map_fd(ag->lsm), on_lsm_event, ag, NULL);
		if (!ag->lsm_rb)
			err = -errno;
	}
	if (err) {
		if (!ag->lsm_why[0])
			snprintf(ag->lsm_why, sizeof(ag->lsm_why), "%s", strerror(-err));
		ring_buffer__free(ag->lsm_rb);
		ag->lsm_rb = NULL;
		ug_lsm_free(ag->lsm);
		ag->lsm = NULL;
		ug_log_id(LOG_WARNING, UG_MESSAGE_LSM_UNAVAILABLE, NULL, "lsm: BPF LSM is "
			  "unavailable: %s. Exec, file, socket family and hardening rules are NOT "
			  "enforced; network rules are.", ag->lsm_why);
		return;
	}
	ug_log(LOG_INFO, "lsm: BPF LSM available");
	if (ug_lsm_generation(ag->lsm) > ag->generation)
		ag->generation = ug_lsm_generation(ag->lsm);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "detach-all", no_argument, NULL, 'D' },
		{ "stats-interval", required_argument, NULL, 's' },
		{ "audit-max-size", required_argument, NULL, 'S' },
		{ "audit-max-age", required_argument, NULL, 'A' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	struct agent ag = { .db_path = UG_DEFAULT_DB, .pin_dir = UG_DEFAULT_PIN_DIR,
			    .stats_interval = 60, .store_dirty = true, .all_dirty = true,
			    .audit_max_bytes = (int64_t)1 << 30,
			    .audit_max_age_us = (int64_t)30 * 86400 * 1000000,
			    .applied_version = -1 /* unknown: the first pass says */ };
	struct metrics_listen listen_at, *metrics_at = NULL;
	sd_event_source *tick = NULL;
	bool detach_all = false;
	char errbuf[256], buf[32];
	unsigned long days;
	char *end;
	int c, err;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ag.db_path = optarg;
			break;
		case 'p':
			ag.pin_dir = optarg;
			break;
		case 'D':
			detach_all = true;
			break;
		case 's':
			errno = 0;
			ag.stats_interval = strtoul(optarg, &end, 10);
			if (errno || *end || !optarg[0] || ag.stats_interval < 1 ||
			    ag.stats_interval > 86400) {
				fprintf(stderr, "unitguardd: invalid --stats-interval '%s': expected "
					"1-86400 seconds\n", optarg);
				return 2;
			}
			break;
		case 'S':
			if (parse_size(optarg, &ag.audit_max_bytes)) {
				fprintf(stderr, "unitguardd: invalid --audit-max-size '%s': expected "
					"0 (no limit) or 1M-1T, e.g. 512M or 2G\n", optarg);
				return 2;
			}
			break;
		case 'A':
			errno = 0;
			days = strtoul(optarg, &end, 10);
			if (errno || *end || !optarg[0] || optarg[0] == '-' || days > 36500) {
				fprintf(stderr, "unitguardd: invalid --audit-max-age '%s': expected "
					"0 (no limit) or 1-36500 days\n", optarg);
				return 2;
			}
			ag.audit_max_age_us = (int64_t)days * 86400 * 1000000;
			break;
		case 'M':
			if (metrics_parse_listen(optarg, &listen_at, errbuf, sizeof(errbuf))) {
				fprintf(stderr, "unitguardd: invalid --metrics-listen '%s': %s; "
					"expected IPV4:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9187 or "
					"[::1]:9187\n", optarg, errbuf);
				return 2;
			}
			metrics_at = &listen_at;
			break;
		case 'v':
			ug_verbose = 1;
			break;
		case 'V':
			printf("unitguardd %s\n", UG_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "unitguardd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (ag.pin_dir[0] != '/' || strlen(ag.pin_dir) >= PATH_MAX - 64) {
		fprintf(stderr, "unitguardd: --pin-dir must be an absolute path\n");
		return 2;
	}
	libbpf_set_print(libbpf_print);

	if (detach_all) {
		/* Programs a still-running agent holds judge nothing once the
		 * maps are empty; nothing is left for a unit's next start. */
		remove_old_dropins(ag.pin_dir);
		err = ug_lsm_detach_all(ag.pin_dir);
		err = ug_net_detach_all(ag.pin_dir) ?: err;
		if (err) {
			ug_log(LOG_ERR, "agent: detach-all: %s", strerror(-err));
			return 1;
		}
		ug_log(LOG_NOTICE, "agent: removed %s: unitguard no longer enforces anything",
		       ag.pin_dir);
		return 0;
	}

	err = ensure_bpffs(ag.pin_dir);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot mount bpffs at " UG_DEFAULT_BPFFS ": %s",
		       strerror(-err));
		return 1;
	}
	if (take_locks(&ag))
		return 1;
	err = ug_cgroup_root(ag.cgroot, sizeof(ag.cgroot));
	if (err) {
		ug_log(LOG_ERR, "cgroup: no cgroup2 hierarchy is mounted: network policy CANNOT be "
		       "enforced");
		return 1;
	}
	err = ug_store_open(ag.db_path, UG_STORE_CREATE, &ag.st, errbuf, sizeof(errbuf));
	if (err) {
		ug_log(LOG_ERR, "agent: cannot open the store %s: %s; exiting. What is pinned "
		       "keeps enforcing.", ag.db_path, errbuf);
		return 1;
	}
	/* Someone's long transaction must not stall the loop: writes that
	 * fail are kept and tried again (audit rows, status, counters). */
	ug_store_set_busy_timeout(ag.st, 100);
	err = ug_audit_new(ag.st,
			   &(struct ug_audit_ops){ .target = pass_target_name,
						   .family_rule = pass_family_rule,
						   .unstored = on_unstored, .ctx = &ag },
			   &ag.audit);
	if (err)
		goto out_store;
	ug_audit_set_retention(ag.audit, ag.audit_max_bytes, ag.audit_max_age_us);
	err = ug_net_open(ag.pin_dir, on_event, &ag, &ag.net);
	if (err) {
		ug_log(LOG_ERR, "agent: cannot load the network programs (%s); exiting. What is "
		       "pinned keeps enforcing.", strerror(-err));
		goto out_audit;
	}
	ag.generation = ug_net_generation(ag.net);
	open_lsm(&ag);
	remove_old_dropins(ag.pin_dir);
	if (!ug_store_agent_get(ag.st, "lost_reported", buf, sizeof(buf)))
		ag.lost_seen = strtoull(buf, NULL, 10);

	err = sd_event_default(&ag.ev);
	if (err < 0)
		goto out_net;
	err = setup_loop(&ag, &tick);
	if (err < 0) {
		ug_log(LOG_ERR, "agent: event loop setup: %s", strerror(-err));
		goto out_event;
	}
	/* After setup_loop: its thread must inherit the blocked signals. */
	metrics_start(&ag, metrics_at);
	err = ug_resolver_new(ag.cgroot, ag.ev, sd_booted() > 0, &ag.ts, on_change, &ag,
			      &ag.res);
	if (err)
		goto out_event;
	ug_log(LOG_INFO, "agent: %s", sd_booted() > 0
		       ? "units resolved through systemd"
		       : "systemd is not PID 1: units resolved by cgroup name");

	ag.started_us = realtime_us();
	ag.last_stats_us = ag.started_us;
	write_agent_state(&ag);
	report_lost(&ag);
	/* READY=1 comes from the pass that has every target placed (pass.c),
	 * which may be this one; an error here cannot wait for answers. */
	err = pass_run(&ag);
	if (err)
		agent_ready(&ag, "it started with errors (see above)");
	ug_log(LOG_INFO, "agent: running (store %s, pins %s)", ag.db_path, ag.pin_dir);
	err = sd_event_loop(ag.ev);
	if (err < 0)
		ug_log(LOG_ERR, "agent: event loop: %s", strerror(-err));
	else
		ug_log(LOG_INFO, "agent: exiting; pinned programs keep enforcing");
	sd_notify(0, "STOPPING=1");
	flush_kernel(&ag);
	stats_snapshot(&ag);
	ug_store_agent_set(ag.st, "pid", "0");
	ug_resolver_free(ag.res);

out_event:
	metrics_stop(&ag);
	sd_event_source_unref(tick);
	sd_event_source_unref(ag.pass_src);
	sd_event_source_unref(ag.recheck_src);
	sd_event_unref(ag.ev);
out_net:
	drain(&ag);
	/* The audit goes first: rows it cannot store are counted in net's maps. */
	ug_audit_free(ag.audit);
	ag.audit = NULL;
	ring_buffer__free(ag.lsm_rb);
	ug_lsm_free(ag.lsm);
	ug_net_free(ag.net);
out_audit:
	ug_audit_free(ag.audit);
out_store:
	ug_store_close(ag.st);
	targets_free(&ag.ts);
	for (size_t i = 0; i < ag.n_gone; i++) {
		free(ag.gone[i].name);
		free(ag.gone[i].loc);
	}
	free(ag.gone);
	return err < 0 ? 1 : 0;
}
