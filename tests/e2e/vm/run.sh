#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run.sh CMD...   Runs CMD (a shell command line, bash -c, as root, in the current
# directory's path) inside a qemu guest with BPF LSM enabled and Debian's systemd as PID 1,
# and exits with CMD's exit status.
#
# The guest sees the host's root read-only over 9p with a tmpfs overlay on top, so all of
# /work/main (and /tmp, /var ...) is visible and writable in the guest; writes stay in the
# guest. The only way back is the serial console: CMD's output is printed here as it
# comes, and the whole console goes to a log file whose path is printed.
#
# Exit status: CMD's status; 1 if the guest did not report one (crash, timeout: the log's
# tail is printed); 77 if this host cannot run the VM at all.
#
# Environment:
#   UG_VM_TIMEOUT   seconds before qemu is killed (default 600)
#   UG_VM_MEM       guest memory in MiB (default 1024)
#   UG_VM_SMP       guest CPUs (default 2)
#   UG_VM_LOG       console log path (default: a new file under ${TMPDIR:-/tmp})
#   UG_VM_VERBOSE=1 print the whole console here, not only CMD's output
#   UG_VM_PASS_ENV  space-separated names of further variables to pass to CMD; all UG_*
#                   variables are passed anyway
#   UG_VM_APPEND    extra kernel command line arguments
#   UG_VM_9P_CACHE  9p cache mode of the host share (default loose, see README)
#   UG_VM_CACHE     see prepare.sh
#   UG_VM_DISK      an ext4 image file (see disk.sh) that holds the overlay's upper layer
#                   instead of a tmpfs: what the guest writes survives into the next run
#                   with the same image, as on a reboot (/run and bpffs start empty)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${UG_VM_CACHE:-/var/cache/unitguard-vm}
TIMEOUT=${UG_VM_TIMEOUT:-600}

if (($# == 0)); then
    echo "usage: $0 CMD..." >&2
    exit 2
fi

# prepare.sh is idempotent and quick once done; it decides whether this host can run the
# VM at all (77).
rc=0
UG_VM_QUIET=${UG_VM_QUIET:-1} "$HERE/prepare.sh" || rc=$?
if ((rc == 77)); then
    echo "run.sh: skip: prepare.sh says this host cannot run the VM (reason above)" >&2
    exit 77
elif ((rc != 0)); then
    echo "run.sh: error: prepare.sh failed with status $rc" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$CACHE/current.env"

# The job directory must be on the shared root (it is: the whole host root is shared) and
# must outlive qemu, which reads it through 9p while the guest runs.
# Its path goes on the kernel command line, which splits at white space.
tmpbase=${TMPDIR:-/tmp}
[[ $tmpbase != *[[:space:]]* ]] || tmpbase=/tmp
job=$(mktemp -d "$tmpbase/ug-vm.XXXXXX")
chmod 0755 "$job"
log=${UG_VM_LOG:-$job/console.log}
: >"$log"
# The nonce keeps a stray "UG_VM_EXIT=" in CMD's own output (or an older log) from being
# taken for the verdict.
nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
echo "$nonce" >"$job/nonce"
printf '%s' "$*" >"$job/cmd"
pwd >"$job/cwd"
{
    pass=" ${UG_VM_PASS_ENV:-} "
    for name in $(compgen -e); do
        if [[ $name == UG_* || $pass == *" $name "* ]]; then
            printf 'export %s=%q\n' "$name" "${!name}"
        fi
    done
} >"$job/env"

echo "run.sh: console log: $log" >&2

# One guest at a time on this host: two TCG guests on two cores slow each
# other down past their timeouts. The lock is held by a watcher process
# (gone with this script), so nothing qemu starts can keep it.
vmlock=/run/lock/unitguard-vm.lock
[ -d /run/lock ] || vmlock=/tmp/unitguard-vm.lock
(
    exec 9>"$vmlock" || exit 1
    flock -w 3600 9 || exit 1
    : >"$job/locked"
    while kill -0 $$ 2>/dev/null; do sleep 0.5; done
) </dev/null >/dev/null 2>&1 &
for i in $(seq 36000); do
    [[ -e $job/locked ]] && break
    ((i == 20)) && echo "run.sh: waiting for another guest to finish ($vmlock)" >&2
    sleep 0.1
done
[[ -e $job/locked ]] || { echo "run.sh: error: waited an hour for $vmlock" >&2; exit 1; }

# -nic none: the tests need no guest network, and a NIC only adds probing to the boot.
# multidevs=remap: the host root spans several file systems, whose inode numbers would
# otherwise collide in the guest.
# -no-reboot: a guest panic (panic=-1) ends qemu instead of looping.
cmdline="console=ttyS0 quiet panic=-1 lsm=lockdown,capability,landlock,bpf"
cmdline+=" systemd.unit=ug-vm.target ug.job=$job ug.9pcache=${UG_VM_9P_CACHE:-loose}"
cmdline+=" ${UG_VM_APPEND:-}"
disk=()
if [[ -n ${UG_VM_DISK:-} ]]; then
    [[ -f $UG_VM_DISK ]] || { echo "run.sh: error: UG_VM_DISK $UG_VM_DISK is not a file" >&2; exit 1; }
    cmdline+=" ug.disk=1"
    disk=(-drive "file=$UG_VM_DISK,format=raw,if=virtio")
fi
# shellcheck disable=SC2054 # the commas are qemu's
qemu=(
    qemu-system-x86_64
    -accel tcg,thread=multi -cpu max -m "${UG_VM_MEM:-1024}" -smp "${UG_VM_SMP:-2}"
    -display none -monitor none -nic none -no-reboot
    -serial "file:$log"
    -kernel "$UG_VM_KERNEL" -initrd "$UG_VM_INITRD" -append "$cmdline"
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
    "${disk[@]}"
)

start=$(date +%s.%N)
timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null 2>"$job/qemu.stderr" &
qpid=$!
# timeout moves qemu into its own process group, so a ^C or a test driver's SIGTERM would
# not reach it: forward them. The waits below are interruptible, so the trap runs at once.
interrupted=0
trap 'interrupted=1; kill -TERM $qpid 2>/dev/null || true' INT TERM HUP

# Stream CMD's output (between the begin and exit markers) while the guest runs; tail
# ends once qemu has exited and the log is read to its end.
if [[ ${UG_VM_VERBOSE:-0} == 1 ]]; then
    tail -n +1 -s 0.2 --pid="$qpid" -f "$log" | tr -d '\r' &
else
    tail -n +1 -s 0.2 --pid="$qpid" -f "$log" | tr -d '\r' |
        awk -v b="UG_VM_BEGIN $nonce" -v e="UG_VM_EXIT=[0-9]+ $nonce" '
            index($0, b) { on = 1; next }
            $0 ~ e { on = 0; next }
            # Blank lines are held back: the one before the marker is the marker'"'"'s own.
            on && $0 == "" { blank++; next }
            on { while (blank > 0) { print ""; blank-- } print; fflush() }' &
fi
spid=$!

qrc=0
wait "$qpid" || qrc=$?
if ((interrupted)); then
    wait "$qpid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    echo "run.sh: interrupted; guest stopped, log $log" >&2
    exit 130
fi
wait "$spid" || true
trap - INT TERM HUP
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

marker=$(tr -d '\r' <"$log" | grep -aoE "UG_VM_EXIT=[0-9]+ $nonce" | tail -n1 || true)
if [[ -z $marker ]]; then
    if ((qrc == 124 || qrc == 137)); then
        why="timed out after ${TIMEOUT}s (UG_VM_TIMEOUT)"
    else
        why="qemu exited with status $qrc after ${secs}s"
    fi
    {
        echo "run.sh: error: the guest reported no exit status: $why"
        if [[ -s $job/qemu.stderr ]]; then
            echo "run.sh: qemu stderr:"
            sed 's/^/  /' "$job/qemu.stderr"
        fi
        echo "run.sh: last 40 lines of $log:"
        tail -n 40 "$log" | tr -d '\r' | sed 's/^/  | /'
    } >&2
    exit 1
fi
status=${marker#UG_VM_EXIT=}
status=${status%% *}
echo "run.sh: guest exit status $status, boot to poweroff ${secs}s, log $log" >&2
exit "$status"
