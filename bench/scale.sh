#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# unitguard at the scale of a container host (issue 12): U guarded units x P
# deny prefixes each, U in 1 100 1000, P in 100 1000, without systemd as PID 1
# (units are found in the cgroup tree). Per configuration, in one run:
#   - agent start to the first generation in force (the store prepared
#     before, fresh pins), beside the kernel floor for inserting that many
#     LPM entries (bench/lpm_floor.c, same key and value size, one syscall
#     each, into a map no program reads);
#   - `unitguardctl rule add` on one unit until it returns (the CLI waits for
#     the agent to acknowledge), and the EPERM right after it, median of 5;
#   - a 100-rule change on one unit (one SQL transaction) to its
#     acknowledgement, median of 3;
#   - the agent's RSS (steady, and peak), kernel memory charged to the agent's
#     memory cgroup for the tries (cgroup v1 kmem, delta over the empty
#     maps) per prefix, and the LPM map's use against its capacity.
# Writes the section between the scale markers of BENCHMARKS.md.
#
# Environment: UG_BUILD (default build-bench), BENCH_OUT (BENCHMARKS.md),
# SCALE_UNITS ("1 100 1000"), SCALE_PREFIXES ("100 1000").
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-bench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
UNITS=${SCALE_UNITS:-1 100 1000}
PREFIXES=${SCALE_PREFIXES:-100 1000}

. "$SRC/bench/section.sh"
die() { echo "scale.sh: $*" >&2; exit 1; }
say() { echo "scale.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || die "needs root"
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG_ROOT" ] || die "no cgroup2 hierarchy mounted"
grep -q ' /sys/fs/bpf bpf ' /proc/self/mounts || mount -t bpf bpf /sys/fs/bpf
MEMCG_V1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/self/mounts)

TMP=$(mktemp -d /tmp/ugscale.XXXXXX)
PIN=/sys/fs/bpf/ugscale-$$
PARENT=$CG_ROOT/ugscale.slice # units are placed only below slices (or the root)
MEMCG=${MEMCG_V1:+$MEMCG_V1/ugscale-$$}
AGENT_PID=
cleanup() {
	set +e
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	"$BUILD/unitguardd" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	for d in "$PARENT"/*/; do rmdir "$d" 2>/dev/null; done
	rmdir "$PARENT" 2>/dev/null
	[ -n "$MEMCG" ] && rmdir "$MEMCG" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

say "building in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
cc -O2 -I"$SRC/policy" -I"$SRC/bpf" -o "$TMP/lpm_floor" "$SRC/bench/lpm_floor.c" \
	"$BUILD/libug_policy.a" -lbpf
CTL=$BUILD/unitguardctl
AGENT=$BUILD/unitguardd
PROBE=$BUILD/tests/e2e/ugprobe

ms() { date +%s%N; }
. "$SRC/bench/scale-lib.sh"
load() { scale_load "$DB" "$1" "$2"; }

# Commit SQL (a file, or nothing), then wait in-process for the agent's
# acknowledgement of the store's policy version; prints the microseconds
# from the commit's return to the acknowledgement (the commit itself is
# sqlite's: its triggers for 100 rows take 10-20 ms here).
commit_and_wait() { python3 "$SRC/bench/ack.py" "$DB" "${1:-}"; }
wait_ack() { commit_and_wait >/dev/null; }
kmem() { [ -n "$MEMCG" ] && cat "$MEMCG/memory.kmem.usage_in_bytes" || echo 0; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$AGENT_PID/status"; }

ROWS=()
VALS=() # U P start_ms floor_ms add_us change_us rss_mb hwm_mb bytes_per_prefix
for P in $PREFIXES; do
	for U in $UNITS; do
		say "$U units x $P prefixes"
		DB=$TMP/s.db
		rm -f "$DB" "$DB"-*
		mkdir -p "$PARENT"
		for u in $(seq 0 $((U - 1))); do mkdir -p "$PARENT/$(unit_name "$u")"; done
		n_rules=$((U * P))
		floor=$("$TMP/lpm_floor" "$n_rules" 1 | tr ' ' '\n' | awk -F= '$1 == "insert_ms" { print $2 }')
		# The agent in a memory cgroup of its own: its maps are charged
		# there. First on an empty store: what the empty maps cost.
		"$CTL" --db "$DB" --no-wait apply - <<<$'version: 1\nunits: []' >/dev/null
		run_agent() {
			if [ -n "$MEMCG" ]; then
				mkdir -p "$MEMCG"
				sh -c "echo \$\$ >$MEMCG/cgroup.procs; exec $AGENT --db $DB --pin-dir $PIN" \
					>>"$TMP/agent.log" 2>&1 &
			else
				"$AGENT" --db "$DB" --pin-dir "$PIN" >>"$TMP/agent.log" 2>&1 &
			fi
			AGENT_PID=$!
		}
		run_agent
		wait_ack
		sleep 1
		kmem_empty=$(kmem)
		kill "$AGENT_PID"
		wait "$AGENT_PID" || true
		load "$U" "$P"
		t0=$(ms)
		run_agent
		wait_ack
		t1=$(ms)
		start_ms=$(((t1 - t0) / 1000000))
		sleep 2 # retired tries past their grace period, standbys synced
		kmem_full=$(kmem)
		rss=$(rss_kb)
		hwm=$(hwm_kb)
		# One rule on one unit, right after it the EPERM.
		cg=$PARENT/$(unit_name $((U / 2)))
		took=()
		for i in 1 2 3 4 5; do
			t0=$(ms)
			id=$("$CTL" --db "$DB" rule add "$(unit_name $((U / 2)))" egress deny 127.0.0.$((i + 1)))
			t1=$(ms)
			got=$("$PROBE" --cgroup "$cg" connect 127.0.0.$((i + 1)) 9 || true)
			[ "$got" = EPERM ] || die "rule add on one of $U units: connect right after gave $got"
			took+=($(((t1 - t0) / 1000)))
			"$CTL" --db "$DB" rule del "$id"
		done
		add_us=$(printf '%s\n' "${took[@]}" | median)
		# 100 rules more on one unit in one transaction.
		ch=()
		for i in 1 2 3; do
			scale_change_sql "$(unit_name 0)" "$i" >"$TMP/ch.sql"
			ch+=($(commit_and_wait "$TMP/ch.sql"))
		done
		ch_us=$(printf '%s\n' "${ch[@]}" | median)
		sleep 1 # the agent writes its map use once a second
		maps=$(sqlite3 -batch -cmd '.timeout 5000' "$DB" "select value from agent_state where key = 'maps'")
		used=$(sed -n 's/^ug_lpm \([0-9]*\)\/\([0-9]*\),.*/\1 \/ \2/p' <<<"$maps")
		per_prefix=$(awk -v a="$kmem_full" -v b="$kmem_empty" -v n="$n_rules" 'BEGIN { if (a > 0) printf "%.0f", (a - b) / n; else print "n/a" }')
		kill "$AGENT_PID"
		wait "$AGENT_PID" || true
		AGENT_PID=
		"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
		for u in $(seq 0 $((U - 1))); do rmdir "$PARENT/$(unit_name "$u")"; done
		VALS+=("$U $P $start_ms $floor $add_us $ch_us $((rss / 1024)) $((hwm / 1024)) $per_prefix")
		ROWS+=("| $U | $P | $n_rules | $start_ms | $floor | $(awk -v u="$add_us" 'BEGIN { printf "%.1f", u / 1000 }') | $(awk -v u="$ch_us" 'BEGIN { printf "%.1f", u / 1000 }') | $((rss / 1024)) / $((hwm / 1024)) | $per_prefix | $used |")
		say "${ROWS[-1]}"
	done
done

{
	echo "## Scale: many guarded units (bench/scale.sh)"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), unitguard $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r), $(nproc) CPUs; units are cgroups below one parent, found by name in the cgroup tree (no systemd as PID 1)."
	echo
	echo "| units | prefixes each | rules | agent start to in force, ms | kernel floor: that many LPM inserts, ms | rule add on one unit, returned (EPERM right after), ms | 100-rule change on one unit, commit to in force, ms | agent RSS steady / peak, MB | kernel bytes per prefix | ug_lpm entries used / capacity |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "Goals (issue 12), read off this table:"
	echo
	printf '%s\n' "${VALS[@]}" | awk '
		{ u[NR] = $1; p[NR] = $2; st[NR] = $3; fl[NR] = $4; add[NR] = $5; ch[NR] = $6
		  rss[NR] = $7; hwm[NR] = $8; bpp[NR] = $9; if ($1 == 1) one[$2] = NR }
		END {
			for (i = 1; i <= NR; i++) {
				if (u[i] == 1000 && p[i] == 1000)
					printf "- Start at 1000 x 1000 within 2 s of the kernel floor: %d ms against %d ms + 2000: **%s**.\n",
						st[i], fl[i], st[i] <= fl[i] + 2000 ? "met" : "NOT met"
				if (u[i] == 1000 && (p[i] in one)) {
					j = one[p[i]]
					printf "- One change at 1000 units within 2x its time at 1 unit (%d prefixes each): rule add %.1f ms against %.1f ms (%.1fx), 100-rule change %.1f ms against %.1f ms (%.1fx): **%s**.\n",
						p[i], add[i] / 1000, add[j] / 1000, add[i] / add[j], ch[i] / 1000, ch[j] / 1000, ch[i] / ch[j],
						add[i] <= 2 * add[j] && ch[i] <= 2 * ch[j] ? "met" : "NOT met"
				}
				if (rss[i] > maxrss) maxrss = rss[i]
				if (hwm[i] > maxhwm) maxhwm = hwm[i]
				if (u[i] == 1000 && bpp[i] > maxbpp) maxbpp = bpp[i]
			}
			printf "- Agent RSS at most 64 MB: steady at most %d MB: **%s**; peak (while compiling everything at start) %d MB: **%s**.\n",
				maxrss, maxrss <= 64 ? "met" : "NOT met", maxhwm, maxhwm <= 64 ? "met" : "NOT met"
			printf "- At most 128 bytes of kernel memory per /32 prefix: %d at 1000 units: **%s**. An LPM trie node of this key and value size is one 64-byte allocation on this kernel (bpf_mem_alloc), and n random keys need about n - 1 branch nodes besides their n leaves: 128 bytes is the floor of the data structure; the rest is the allocator'"'"'s per-CPU caches.\n",
				maxbpp, maxbpp <= 128 ? "met" : "NOT met"
		}'
	echo
	echo "Kernel bytes per prefix: kernel memory charged to the agent's memory cgroup (cgroup v1 memory.kmem.usage_in_bytes: the maps are charged to the process that made them) with every rule in force, minus the same with the agent running on an empty store, divided by the rules. Agent start: from starting unitguardd on the loaded store (fresh pins) to its acknowledgement of the store's policy version. 'rule add' includes the CLI's start and its wait for the agent's acknowledgement; the goal compares it with the 1-unit row. The kernel floor is bench/lpm_floor.c inserting as many entries of the same key and value size into a fresh LPM map, one syscall each."
} >"$TMP/section.md"
write_section scale "$TMP/section.md" "$OUT"
say "wrote $OUT"
