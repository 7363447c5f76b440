#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# smoke.sh [--harness]   Checks that the VM tier gives what unitguard's tests need:
# systemd as PID 1, BPF LSM active, transient units, the journal, cgroup2 and bpffs, and a
# BPF LSM program that loads, attaches and denies an open. One boot.
#
# --harness adds two boots that test run.sh itself: a job's exit status (42) must come
# back, and a guest that dies without reporting (kernel panic) must give status 1.
#
# Every check prints PASS or FAIL. Exit status: 0 all passed, 1 a check failed, 77 this
# host cannot run the VM (run.sh says so).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN="$HERE/run.sh"

harness=0
case ${1:-} in
--harness) harness=1 ;;
"") ;;
*) echo "usage: $0 [--harness]" >&2; exit 2 ;;
esac

# The BPF objects are built on the host: its clang, bpftool and libbpf are what the guest
# sees through the share anyway, and native compiles are far faster than TCG ones.
need=()
command -v clang >/dev/null || need+=(clang)
command -v bpftool >/dev/null || need+=(bpftool)
[[ -f /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
command -v cc >/dev/null || need+=(gcc)
if ((${#need[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "smoke.sh: skip: missing ${need[*]} and not root" >&2
        exit 77
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${need[@]}" >&2 ||
        { echo "smoke.sh: skip: cannot install ${need[*]}" >&2; exit 77; }
fi

# On the host's /tmp, so the guest sees it at the same path.
work=$(mktemp -d "${TMPDIR:-/tmp}/ug-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"

# The LSM program. Hand-declared kernel types with preserve_access_index: libbpf relocates
# the field offsets against the guest kernel's BTF at load time, so no vmlinux.h is needed.
# It denies opening one file (device + inode set by the loader) and lets all else through.
cat >"$work/deny_open.bpf.c" <<'EOF'
// SPDX-License-Identifier: LGPL-2.1-or-later
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define EPERM 1

struct super_block {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

const volatile struct {
	__u64 ino;
	__u32 dev;
} target = {};

__u64 denied = 0;

SEC("lsm/file_open")
int BPF_PROG(ug_smoke_open, struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	if (target.ino == 0 || BPF_CORE_READ(inode, i_ino) != target.ino ||
	    BPF_CORE_READ(inode, i_sb, s_dev) != target.dev)
		return 0;
	__sync_fetch_and_add(&denied, 1);
	return -EPERM;
}

char LICENSE[] SEC("license") = "GPL";
EOF

# The negative control: a hook that does not exist must not load.
cat >"$work/bad_hook.bpf.c" <<'EOF'
// SPDX-License-Identifier: LGPL-2.1-or-later
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("lsm/ug_no_such_hook")
int BPF_PROG(ug_smoke_bad)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
EOF

# bpftool 7.1 in Debian 12 has no "autoattach": this loader attaches the LSM program and
# pins the link, so it stays attached after the loader exits, until the pin is removed.
cat >"$work/loader.c" <<'EOF'
// SPDX-License-Identifier: LGPL-2.1-or-later
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
	struct { uint64_t ino; uint32_t dev; uint32_t pad; } target = { 0 };
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *rodata;
	struct bpf_link *link;
	struct stat st;
	int err;

	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ FILE-TO-DENY LINK-PIN\n", argv[0]);
		return 2;
	}
	if (stat(argv[2], &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	target.ino = st.st_ino;
	/* The kernel's own dev_t layout (MKDEV), as in super_block.s_dev. */
	target.dev = (major(st.st_dev) << 20) | minor(st.st_dev);

	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rodata = bpf_object__find_map_by_name(obj, ".rodata");
	if (!rodata || bpf_map__set_initial_value(rodata, &target, sizeof(target))) {
		fprintf(stderr, "cannot set .rodata\n");
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "ug_smoke_open");
	link = prog ? bpf_program__attach(prog) : NULL;
	if (!link) {
		fprintf(stderr, "attach: %s\n", strerror(errno));
		return 1;
	}
	err = bpf_link__pin(link, argv[3]);
	if (err) {
		fprintf(stderr, "pin %s: %s\n", argv[3], strerror(-err));
		return 1;
	}
	printf("attached ug_smoke_open, denying %s (dev %#x ino %llu)\n", argv[2],
	       target.dev, (unsigned long long)target.ino);
	return 0;
}
EOF

echo "smoke.sh: building BPF objects and loader in $work" >&2
bpf_cflags=(-target bpf -O2 -g -D__TARGET_ARCH_x86 -I"/usr/include/$(cc -print-multiarch)")
clang "${bpf_cflags[@]}" -c "$work/deny_open.bpf.c" -o "$work/deny_open.bpf.o"
clang "${bpf_cflags[@]}" -c "$work/bad_hook.bpf.c" -o "$work/bad_hook.bpf.o"
cc -O2 -Wall -o "$work/loader" "$work/loader.c" -lbpf

# The checks, run in the guest. Each prints PASS or FAIL; the last line counts them.
cat >"$work/guest.sh" <<'EOF'
#!/bin/bash
set -u
work=$(dirname "$(readlink -f "$0")")
pass=0 fail=0
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "PASS: $name"
        pass=$((pass + 1))
    else
        echo "FAIL: $name"
        fail=$((fail + 1))
    fi
    # What the check saw, indented under its verdict, for the log.
    [[ -z $out ]] || printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
}

pid1_is_systemd() {
    local comm
    comm=$(</proc/1/comm)
    echo "PID 1: $comm"
    [[ $comm == systemd ]]
}
bpf_lsm_active() {
    local lsm
    lsm=$(</sys/kernel/security/lsm)
    echo "LSMs: $lsm"
    [[ ,$lsm, == *,bpf,* ]]
}
cgroup2_unified() { [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; }
bpffs_mounted() { [[ $(stat -fc %T /sys/fs/bpf) == bpf_fs ]]; }
tmp_var_writable() {
    local d d2
    d=$(mktemp -d /tmp/ug.XXXXXX) && d2=$(mktemp -d /var/tmp/ug.XXXXXX) &&
        echo x >"$d/f" && echo x >"$d2/f" && rm -rf "$d" "$d2"
}
transient_unit() { timeout 60 systemd-run --wait --quiet -p Type=oneshot true; }
logger_reaches_journal() {
    local token=ug-smoke-$RANDOM$RANDOM
    logger -t ug-smoke "$token"
    # journald stores asynchronously: poll briefly.
    for _ in $(seq 50); do
        journalctl -q -t ug-smoke --no-pager | grep -q "$token" && return 0
        sleep 0.2
    done
    journalctl -q -n 20 --no-pager
    return 1
}
guest_modules() { modprobe nf_tables && grep -q '^nf_tables ' /proc/modules; }

lsm_prog_denies_open() {
    local dir pin=/sys/fs/bpf/ug_smoke_link rc=0
    dir=$(mktemp -d /run/ug-smoke.XXXXXX)
    echo secret >"$dir/deny-me"
    echo fine >"$dir/allow-me"
    "$work/loader" "$work/deny_open.bpf.o" "$dir/deny-me" "$pin" || { rm -rf "$dir"; return 1; }
    bpftool prog show | grep -A3 'name ug_smoke_open' | tee "$dir/prog" || true
    grep -q '^[0-9]*: lsm ' "$dir/prog" || { echo "ug_smoke_open not in bpftool prog show as lsm"; rc=1; }
    bpftool link show | grep -q 'attach_type lsm_mac' ||
        { echo "no lsm link in bpftool link show"; bpftool link show; rc=1; }
    if cat "$dir/deny-me" 2>"$dir/err"; then
        echo "open of deny-me was allowed"
        rc=1
    elif ! grep -q 'Operation not permitted' "$dir/err"; then
        echo "open of deny-me failed, but not with EPERM: $(<"$dir/err")"
        rc=1
    else
        echo "deny-me: $(<"$dir/err")"
    fi
    [[ $(cat "$dir/allow-me") == fine ]] || { echo "open of allow-me failed"; rc=1; }
    # Unpinning drops the last reference to the link: the program detaches.
    rm -f "$pin"
    [[ $(cat "$dir/deny-me" 2>&1) == secret ]] || { echo "deny-me still denied after detach"; rc=1; }
    rm -rf "$dir"
    return $rc
}
bad_hook_rejected() {
    if bpftool prog loadall "$work/bad_hook.bpf.o" /sys/fs/bpf/ug_smoke_bad; then
        rm -rf /sys/fs/bpf/ug_smoke_bad
        echo "a program for a non-existent LSM hook loaded"
        return 1
    fi
    return 0
}

check "PID 1 is systemd" pid1_is_systemd
check "bpf in /sys/kernel/security/lsm" bpf_lsm_active
check "cgroup2 mounted at /sys/fs/cgroup" cgroup2_unified
check "bpffs mounted at /sys/fs/bpf" bpffs_mounted
check "/tmp and /var writable" tmp_var_writable
check "systemd-run --wait -p Type=oneshot true" transient_unit
check "logger output reaches journalctl" logger_reaches_journal
check "guest kernel modules load (modprobe nf_tables)" guest_modules
check "lsm/file_open program loads, attaches and denies an open" lsm_prog_denies_open
check "negative control: lsm/ug_no_such_hook is rejected" bad_hook_rejected
echo "SMOKE: $pass passed, $fail failed"
((fail == 0))
EOF
chmod 0755 "$work/guest.sh"
expected=10

failed=0
out="$work/run.out"
rc=0
# tee: the user sees the checks as they run; the copy is parsed below.
"$RUN" "$work/guest.sh" | tee "$out" || rc=${PIPESTATUS[0]}
if ((rc == 77)); then
    echo "smoke.sh: skip: run.sh cannot run the VM on this host" >&2
    exit 77
fi
npass=$(grep -c '^PASS: ' "$out" || true)
nfail=$(grep -c '^FAIL: ' "$out" || true)
# Both must agree: the exit status alone would not notice a guest script that stopped
# early, nor the PASS lines a status that was lost on the way back.
if ((rc != 0 || nfail != 0 || npass != expected)); then
    echo "FAIL: guest checks (run.sh status $rc, $npass/$expected passed, $nfail failed)"
    failed=1
else
    echo "PASS: guest checks ($npass/$expected)"
fi

if ((harness)); then
    rc=0
    "$RUN" 'echo exiting with 42; exit 42' || rc=$?
    if ((rc == 42)); then
        echo "PASS: run.sh returns the job's exit status (42)"
    else
        echo "FAIL: run.sh returned $rc for a job that exits with 42"
        failed=1
    fi
    # A panic: the guest reboots (panic=-1), qemu exits (-no-reboot), no marker.
    rc=0
    "$RUN" 'echo c >/proc/sysrq-trigger; sleep 60' || rc=$?
    if ((rc == 1)); then
        echo "PASS: run.sh returns 1 when the guest dies without a verdict"
    else
        echo "FAIL: run.sh returned $rc for a guest that panicked"
        failed=1
    fi
fi

if ((failed)); then
    echo "smoke.sh: FAILED"
    exit 1
fi
echo "smoke.sh: all passed"
