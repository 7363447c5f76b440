# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the e2e tests: real kernel, real cgroups, real journald, the real
# sqlite3 CLI. Source it; it sets `set -euo pipefail` and a cleanup trap.
#
# UG_E2E_SABOTAGE=detach removes the agent's programs right after it applies
# policy: every enforcement test must then FAIL. ctest runs each enforcement
# test once that way (WILL_FAIL), so "fails when not attached" is checked on
# every run, not once by hand.
set -euo pipefail

UG_BIN=${UG_BIN:?UG_BIN must point at the build directory}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
PROBE=$UG_BIN/tests/e2e/ugprobe
FLOW=$UG_BIN/tests/e2e/ugflow
# The sanitizer build runs some long loops fewer times (each agent start is
# slower there; the normal build runs them in full).
if ldd "$AGENT" 2>/dev/null | grep -q libasan; then SANITIZED=1; else SANITIZED=0; fi
TEST_NAME=$(basename "$0" .sh)

skip() { echo "SKIP: $TEST_NAME: $*"; exit 77; }
fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

expect() { # expect WANT CMD...: CMD's stdout must be WANT
	local want=$1 got
	shift
	got=$("$@" 2>&1) || true
	[ "$got" = "$want" ] || fail "$*: expected '$want', got '$got'"
	pass "$* -> $want"
}

require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (BPF programs, cgroups)"
}

require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "needs $t"
	done
}

cgroup2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts
}

TMP=$(mktemp -d /tmp/ug-e2e.XXXXXX)
DB=$TMP/unitguard.db
PIN=/sys/fs/bpf/ug-e2e-$$
AGENT_PID=
CGROUPS=()
BG_PIDS=()
EXIT_HOOKS=() # commands run at exit, before the cgroups are removed

# A sanitizer report from the agent, a background process, would otherwise
# go unseen: any one fails the test.
sanitizer_clean() {
	! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/agent.log" 2>/dev/null
}

cleanup() {
	local rc=$? cg
	set +e
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for h in "${EXIT_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
		kill -CONT "$AGENT_PID" 2>/dev/null # a test that failed while it was frozen
		wait "$AGENT_PID"
		if [ $? -ne 0 ] && [ $rc -eq 0 ]; then
			echo "FAIL: $TEST_NAME: the agent did not exit cleanly on SIGTERM" >&2
			rc=1
		fi
	fi
	if ! sanitizer_clean && [ $rc -ne 77 ]; then
		echo "FAIL: $TEST_NAME: sanitizer report from the agent:" >&2
		grep -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/agent.log" >&2
		rc=1
	fi
	[ -x "$AGENT" ] && [ -d "$PIN" ] && "$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	[ -f "$TMP/cgroups" ] && mapfile -t CGROUPS <"$TMP/cgroups"
	for ((i = ${#CGROUPS[@]} - 1; i >= 0; i--)); do
		cg=${CGROUPS[i]}
		[ -d "$cg" ] || continue
		# Move stragglers out so the directory can go.
		while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs"; done <"$cg/cgroup.procs" 2>/dev/null
		rmdir "$cg" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -f "$TMP/agent.log" ]; then
		echo "--- agent log ---" >&2
		tail -n 40 "$TMP/agent.log" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT

# Two test runs on one host share cgroup names and break each other: each
# kernel test holds a host-wide lock, so a second run waits. The lock is
# held by a small watcher process, not by the test's shell: no process the
# test starts can inherit it and keep it past the test.
take_suite_lock() {
	local lock=/run/lock/unitguard-e2e.lock i
	[ -d /run/lock ] || lock=/tmp/unitguard-e2e.lock
	(
		exec 9>"$lock" || exit 1
		flock -w 1800 9 || exit 1
		: >"$TMP/suite-locked"
		while kill -0 $$ 2>/dev/null; do sleep 0.2; done
	) </dev/null >/dev/null 2>&1 &
	for i in $(seq 36000); do
		[ -e "$TMP/suite-locked" ] && return 0
		[ $i = 20 ] && echo "waiting for another unitguard test run to finish ($lock)"
		sleep 0.05
	done
	fail "waited 30 minutes for another unitguard test run ($lock)"
}

setup_kernel() {
	take_suite_lock
	require_root
	require_tools bpftool sqlite3 journalctl logger jq
	CG_ROOT=$(cgroup2_root)
	[ -n "$CG_ROOT" ] || skip "no cgroup2 hierarchy mounted"
	if ! grep -q ' /sys/fs/bpf bpf ' /proc/self/mounts; then
		mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs"
	fi
	sweep_stale_runs
	ensure_journald
}

# A test killed before its trap ran (SIGKILL, a machine restart) leaves its
# pins behind, and a pinned link keeps its program attached to a cgroup the
# next test reuses by name (demo.service): that test then sees programs it
# never attached and policy it never wrote. Under the suite lock no other
# kernel test runs, so every other test's pin directory is such a leftover.
# Detached link by link with bpftool, which reads any layout of ours.
sweep_stale_runs() {
	local d l n=0
	for d in /sys/fs/bpf/ug-e2e-*; do
		[ -d "$d" ] && [ "$d" != "$PIN" ] || continue
		while IFS= read -r l; do
			bpftool link detach pinned "$l" >/dev/null 2>&1 || true
		done < <(find "$d" -path '*/links/*' -type f 2>/dev/null)
		rm -rf "$d"
		n=$((n + 1))
	done
	[ $n = 0 ] || echo "swept the pins of $n test run(s) killed before their cleanup"
}

# journald: present under systemd; otherwise start it standalone (it then
# serves the socket sd_journal_send() writes to, and journalctl reads it).
# A socket file alone proves nothing: a journald that was killed leaves its
# sockets behind, and datagrams sent to them are lost. So a journald counts
# as running only once an entry written the agent's way (the native socket)
# can be read back.
ensure_journald() {
	journal_roundtrip 10 && return 0
	[ -x /lib/systemd/systemd-journald ] || skip "needs systemd-journald"
	# It outlives the test: it must inherit no descriptor but the standard
	# three (a lock a caller holds on fd 3 would otherwise never be freed).
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec setsid /lib/systemd/systemd-journald
	) </dev/null >/dev/null 2>&1 &
	journal_roundtrip 50 || skip "systemd-journald did not start"
}

# journal_roundtrip TRIES: write a marker entry, read it back (0.1 s apart).
journal_roundtrip() {
	local marker="ug-e2e-probe-$$-$RANDOM" i
	for i in $(seq "$1"); do
		printf 'MESSAGE=%s\nSYSLOG_IDENTIFIER=ug-e2e\n' "$marker" |
			logger --journald 2>/dev/null
		journalctl -q --no-pager -o cat MESSAGE="$marker" 2>/dev/null |
			grep -q "$marker" && return 0
		sleep 0.1
	done
	return 1
}

# journal_last JOURNALCTL_ARGS...: the newest matching entry as JSON, waiting
# up to 5 s for one (journald stores entries asynchronously); empty if none.
journal_last() {
	local j _
	for _ in $(seq 50); do
		j=$(journalctl -o json --no-pager "$@" | tail -n 1)
		[ -n "$j" ] && break
		sleep 0.1
	done
	printf '%s' "$j"
}

# make_cgroup NAME_OR_PATH: a cgroup below the cgroup2 root, removed on exit
# (with any parents it created). Called as X=$(make_cgroup ...), i.e. in a
# subshell: the list of what to remove lives in a file, not a variable.
make_cgroup() {
	local path=$CG_ROOT/$1 p=$CG_ROOT rel
	local IFS=/
	for rel in $1; do
		p=$p/$rel
		[ -d "$p" ] || { mkdir "$p" && echo "$p" >>"$TMP/cgroups"; }
	done
	echo "$path"
}

start_agent() { # start_agent [EXTRA ARGS...]
	# The log is appended to across restarts: wait for this agent's line.
	local i before now
	before=$(grep -c "agent: running" "$TMP/agent.log" 2>/dev/null || true)
	"$AGENT" --db "$DB" --pin-dir "$PIN" -v "$@" >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	# 30 s at most: loading and verifying every program takes a few seconds
	# under ASan on this shared machine (a bound on a wait, not a timing).
	for i in $(seq 600); do
		now=$(grep -c "agent: running" "$TMP/agent.log" 2>/dev/null || true)
		[ "${now:-0}" -gt "${before:-0}" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited: $(tail -n 5 "$TMP/agent.log")"
		sleep 0.05
	done
	fail "agent did not start within 30 s"
}

stop_agent() { # stop_agent [SIGNAL]: TERM must end it with status 0
	local sig=${1:-TERM} st=0
	kill -"$sig" "$AGENT_PID"
	wait "$AGENT_PID" || st=$?
	AGENT_PID=
	[ "$sig" != TERM ] || [ $st = 0 ] || fail "agent exited $st on SIGTERM"
	sanitizer_clean || fail "sanitizer report from the agent (see its log)"
}

# freeze_agent: SIGSTOP the agent at a moment it holds no write lock on the
# store. A stop that lands inside one of its own writes (an audit batch) would
# make every other writer wait on a frozen process: true, but not what the
# caller is testing. thaw_agent undoes it.
freeze_agent() {
	local i
	for i in $(seq 100); do
		kill -STOP "$AGENT_PID"
		sqlite3 "$DB" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 && return 0
		kill -CONT "$AGENT_PID"
		sleep 0.05
	done
	fail "the agent held the store's write lock at each of 100 tries"
}
thaw_agent() { kill -CONT "$AGENT_PID"; }

# The negative control: every program detached from its cgroup while the
# agent thinks it is there (maps and pins stay, so the rest of the test runs).
maybe_sabotage() {
	local l
	if [ "${UG_E2E_SABOTAGE:-}" = detach ]; then
		echo "SABOTAGE: detaching every program; this test must now fail"
		for l in "$PIN"/links/*/*; do
			[ -e "$l" ] && bpftool link detach pinned "$l"
		done
		true
	fi
}

# wait_for WANT CMD...: poll until CMD prints WANT (3 s at most).
# flow_bg ARGS...: an ugflow server (echo) in the background until the test ends.
flow_bg() {
	"$FLOW" "$@" >/dev/null &
	BG_PIDS+=($!)
}

# session NAME ARGS...: an ugflow session in the background, fed through a
# FIFO (not in a subshell: it keeps the FIFO's descriptor); opened NAME: its
# first line ("ready PORT" or the error); ask NAME CMD: one command, its one
# line of answer.
declare -A SFD
lines() { wc -l <"$TMP/$1.out"; }
wait_lines() {
	local i
	for i in $(seq 100); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	fail "session $1 did not answer: $(cat "$TMP/$1.out")"
}
session() {
	local name=$1 fd
	shift
	mkfifo "$TMP/$name.in"
	: >"$TMP/$name.out"
	"$FLOW" "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>&1 &
	BG_PIDS+=($!)
	exec {fd}>"$TMP/$name.in"
	SFD[$name]=$fd
	wait_lines "$name" 1
}
opened() { head -n 1 "$TMP/$1.out"; }
ask() {
	local n
	n=$(lines "$1")
	echo "$2" >&"${SFD[$1]}"
	wait_lines "$1" $((n + 1))
	tail -n 1 "$TMP/$1.out"
}
expect_ask() { # expect_ask WANT NAME CMD
	local got
	got=$(ask "$2" "$3")
	[ "$got" = "$1" ] || fail "$2: $3: expected '$1', got '$got'"
	pass "$2: $3 -> $1"
}

wait_for() {
	local want=$1 i got
	shift
	for i in $(seq 60); do
		got=$("$@" 2>&1) || true
		[ "$got" = "$want" ] && return 0
		sleep 0.05
	done
	fail "$* never printed '$want' (last: '$got')"
}

# wait_until SECONDS CMD...: poll until CMD succeeds (1 when it never does).
wait_until() {
	local n=$(($1 * 20)) i
	shift
	for i in $(seq "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}

listen_bg() { # listen_bg ADDR PORT: a TCP listener outside any policy cgroup
	"$PROBE" listen "$1" "$2" 120 >/dev/null &
	BG_PIDS+=($!)
	sleep 0.2
}

# The agent writes the store too: wait for its lock rather than fail at once.
sql() { sqlite3 -batch -noheader -cmd ".timeout 5000" "$DB" "$@"; }

# unit_flags CGROUP_DIR: the UG_UNIT_* flags of the policy in force for that
# policy cgroup (struct ug_unit_val in ug_units: flags at offset 10).
unit_flags() {
	local id key
	id=$(stat -c %i "$1")
	key=$(printf '%016x' "$id" | sed -E 's/(..)/\1 /g' | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
	# shellcheck disable=SC2086 # the key is eight words
	set -- $(bpftool -j map lookup pinned "$PIN/maps/ug_units" key hex $key |
		jq -r '.value[10], .value[11]') # "0x01" "0x00"
	[ $# = 2 ] && echo $(($1 + 256 * $2))
}

