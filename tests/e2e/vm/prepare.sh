#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Prepares the VM test tier: host packages, a Debian 6.1 kernel and an initramfs.
#
# Idempotent: a second run only checks and prints "up to date". Needs no network
# beyond Debian's package archive (apt-get). Exit status: 0 ready, 77 this host cannot
# run the VM (reason on stderr), 1 anything else.
#
# Environment:
#   UG_VM_CACHE       cache directory (default /var/cache/unitguard-vm)
#   UG_VM_KERNEL_PKG  force a kernel package (default: newest
#                     linux-image-6.1.0-NN-amd64-unsigned that apt knows)
#   UG_VM_QUIET=1     only print errors
set -euo pipefail

CACHE=${UG_VM_CACHE:-/var/cache/unitguard-vm}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/prepare.sh"

say() { [[ ${UG_VM_QUIET:-0} == 1 ]] || echo "prepare: $*" >&2; }
die() { echo "prepare: error: $*" >&2; exit 1; }
# A host that cannot get the tools cannot run the tier at all: that is a skip, not a failure.
skip() { echo "prepare: skip: $*" >&2; exit 77; }

# Tools we need on the host, as "command:package". --no-install-recommends: qemu's
# recommends (GUI, audio, ...) are of no use to a headless test VM.
NEEDED=(
    qemu-system-x86_64:qemu-system-x86
    /bin/busybox:busybox-static
    cpio:cpio
    depmod:kmod
    gzip:gzip
    timeout:coreutils
    flock:util-linux
)

apt_updated=0
apt_update_once() {
    # Only when apt knows nothing: the lists may simply never have been fetched.
    [[ $apt_updated == 1 ]] && return 0
    say "apt-get update (package lists look empty)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || return 1
    apt_updated=1
}

have() { if [[ $1 == /* ]]; then [[ -x $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }

install_missing() {
    local want=() pair
    for pair in "${NEEDED[@]}"; do
        have "${pair%%:*}" || want+=("${pair#*:}")
    done
    if ((${#want[@]} == 0)); then
        say "host packages present (qemu-system-x86, busybox-static, cpio, kmod)"
        return 0
    fi
    [[ $(id -u) == 0 ]] || skip "missing ${want[*]} and not root, cannot apt-get install"
    have apt-get || skip "missing ${want[*]} and no apt-get on this host"
    if ! apt-cache policy "${want[0]}" 2>/dev/null | grep -q '^ *Candidate: *[^( ]'; then
        apt_update_once || skip "apt-get update failed, cannot install ${want[*]}"
    fi
    say "apt-get install ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${want[@]}" >&2 || skip "apt-get install ${want[*]} failed"
    for pair in "${NEEDED[@]}"; do
        have "${pair%%:*}" || skip "${pair%%:*} still missing after installing ${pair#*:}"
    done
}

# Newest generic 6.1 kernel. Not cloud (no 9p), not rt; the name moves with Debian's
# point releases, so it is looked up, never hard-coded.
newest_kernel_pkg() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' 2>/dev/null |
        awk '{print $1}' | sort -V | tail -n1
}

pick_kernel() {
    if [[ -n ${UG_VM_KERNEL_PKG:-} ]]; then
        KPKG=$UG_VM_KERNEL_PKG
        return
    fi
    KPKG=$(newest_kernel_pkg)
    if [[ -z $KPKG ]] && [[ $(id -u) == 0 ]]; then
        apt_update_once || true
        KPKG=$(newest_kernel_pkg)
    fi
    if [[ -z $KPKG ]]; then
        # apt knows none, but an earlier run may have left one in the cache: use the newest.
        local old
        old=$(find "$CACHE" -maxdepth 1 -name 'kernel-*' -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
        [[ -n $old ]] || skip "apt-cache knows no linux-image-6.1.0-NN-amd64-unsigned and none is cached"
        KPKG="linux-image-${old#kernel-}-unsigned"
        say "apt knows no 6.1 kernel; using cached $KPKG"
    fi
}

fetch_kernel() {
    # Package linux-image-6.1.0-56-amd64-unsigned holds kernel 6.1.0-56-amd64.
    KVER=${KPKG#linux-image-}
    KVER=${KVER%-unsigned}
    KDIR="$CACHE/kernel-$KVER"
    if [[ -f $KDIR/.complete ]]; then
        say "kernel $KVER already unpacked in $KDIR"
        return
    fi
    local tmp
    tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
    say "apt-get download $KPKG"
    # Sandbox::User=root: _apt cannot write into a root-owned cache directory.
    if ! (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "$KPKG" >&2); then
        rm -rf "$tmp"
        # The lists may name a .deb the mirror has dropped: fall back to a cached kernel.
        local old
        old=$(find "$CACHE" -maxdepth 2 -path '*/kernel-*/.complete' -printf '%h\n' 2>/dev/null | sort -V | tail -n1)
        [[ -n $old ]] || skip "apt-get download $KPKG failed and no kernel is cached"
        KDIR=$old
        KVER=${old##*/kernel-}
        say "download failed; using cached kernel $KVER"
        return
    fi
    say "dpkg -x $(basename "$tmp"/*.deb) -> $KDIR"
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    dpkg -x "$tmp"/*.deb "$KDIR"
    rm -rf "$tmp"
    [[ -f $KDIR/boot/vmlinuz-$KVER ]] || die "no boot/vmlinuz-$KVER in $KPKG"
    # The .deb ships no modules.dep (the postinst would make it); make it for this tree.
    depmod -b "$KDIR" "$KVER"
    touch "$KDIR/.complete"
    # An unpacked kernel takes ~400 MB: drop those the new one replaces.
    local d
    for d in "$CACHE"/kernel-*; do
        [[ $d == "$KDIR" || ! -d $d ]] && continue
        say "removing superseded $d"
        rm -rf "$d" "$CACHE/initrd-${d##*/kernel-}.img" "$CACHE/initrd-${d##*/kernel-}.img.stamp"
    done
}

# Prints the modules (paths relative to lib/modules/KVER) that make up MODULE, dependencies
# first, using the tree's modules.dep; modules built into the kernel print nothing.
MODDEP=()
declare -A MOD_DONE=()
resolve_module() {
    local name=$1 line path deps d
    line=$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$KDIR/lib/modules/$KVER/modules.dep" || true)
    if [[ -z $line ]]; then
        grep -qE "(^|/)${name}\.ko$" "$KDIR/lib/modules/$KVER/modules.builtin" &&
            return 0
        die "module $name is neither in modules.dep nor built in ($KVER)"
    fi
    path=${line%%:*}
    deps=${line#*:}
    [[ -n ${MOD_DONE[$path]:-} ]] && return 0
    MOD_DONE[$path]=1
    for d in $deps; do
        d=${d##*/}
        resolve_module "${d%%.ko*}"
    done
    MODDEP+=("$path")
}

# Files the initramfs copies into the overlay's root before switch_root.
write_overlay_tree() {
    local o=$1
    mkdir -p "$o/etc/systemd/system" "$o/usr/libexec/unitguard-vm"

    # The boot target: only what the job needs. systemd.unit= selects it, which works only
    # because /init removed /.dockerenv (else systemd thinks it is in a container and
    # ignores the kernel command line).
    cat >"$o/etc/systemd/system/ug-vm.target" <<'EOF'
[Unit]
Description=unitguard VM test target
Requires=ug-vm-job.service
Wants=systemd-journald.service dbus.service
After=ug-vm-job.service
AllowIsolate=yes
EOF

    # The job runs after sysinit.target, so what a test sees (journald, bpffs, the cgroup
    # tree, the system bus) is the normal system, and systemd-run's transient units (which
    # want sysinit.target anyway) start without waiting. The exit actions power the guest
    # off whatever happens to the job, so a crash shows as a missing marker, not a hang.
    cat >"$o/etc/systemd/system/ug-vm-job.service" <<'EOF'
[Unit]
Description=unitguard VM test job
Wants=dbus.service systemd-journald-dev-log.socket
After=sysinit.target dbus.service systemd-journald.service systemd-journald-dev-log.socket
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/libexec/unitguard-vm/run-job
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
TimeoutStartSec=infinity
EOF

    # The runner: the host wrote the job (command, cwd, environment, nonce) into a directory
    # that the guest sees through the read-only share; its path is ug.job= on the command line.
    cat >"$o/usr/libexec/unitguard-vm/run-job" <<'EOF'
#!/bin/bash
# Runs the host's job, then prints the exit marker on the console (ttyS0) for run.sh.
job=
for arg in $(</proc/cmdline); do
    case $arg in ug.job=*) job=${arg#ug.job=} ;; esac
done
if [[ -z $job || ! -r $job/cmd ]]; then
    echo "run-job: no readable job (ug.job=$job)"
    exit 1
fi
nonce=$(<"$job/nonce")
export HOME=/root
# The console is a tty: no pager (it would wait on stdin) and no colour codes in the log.
# The job's own environment below may override these.
export SYSTEMD_PAGER=cat PAGER=cat SYSTEMD_COLORS=0
# shellcheck disable=SC1091
. "$job/env"
cd "$(<"$job/cwd")" || { echo "UG_VM_EXIT=1 $nonce"; exit 0; }
echo "UG_VM_BEGIN $nonce"
bash -c "$(<"$job/cmd")"
rc=$?
# Leading newline: the job's last line may lack one, and the marker must start a line.
printf '\nUG_VM_EXIT=%d %s\n' "$rc" "$nonce"
exit 0
EOF
    chmod 0755 "$o/usr/libexec/unitguard-vm/run-job"

    # Masked: they crawl the 9p share (tmpfiles) or wait for udev events (udev), which
    # costs minutes under TCG and is not needed to run a test; timesyncd has no network.
    local u
    for u in systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
        systemd-tmpfiles-clean.timer systemd-udevd.service systemd-udev-trigger.service \
        systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-settle.service \
        systemd-timesyncd.service; do
        ln -sf /dev/null "$o/etc/systemd/system/$u"
    done

    # Generators run before any unit loads and each reads its inputs over 9p; only
    # fstab (the root mount) and debug (systemd.mask= etc. on the command line) are kept.
    # A symlink to /dev/null in /etc/systemd/system-generators disables one of the same name.
    mkdir -p "$o/etc/systemd/system-generators"
    local g
    for g in /lib/systemd/system-generators/*; do
        case ${g##*/} in systemd-fstab-generator | systemd-debug-generator) continue ;; esac
        ln -sf /dev/null "$o/etc/systemd/system-generators/${g##*/}"
    done
}

write_init() {
    cat >"$1/init" <<'EOF'
#!/bin/sh
# unitguard VM initramfs: host root over 9p (read-only) + tmpfs overlay, then systemd.
export PATH=/bin
fail() {
    echo "ug-vm-init: FAILED: $*" >/dev/console
    # No marker on the console: run.sh reports the failure with the log's tail.
    poweroff -f
}
mkdir -p /proc /sys /dev /host /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
    insmod "/lib/modules/$m" || fail "insmod $m"
done </modules.list
cache=none
for arg in $(cat /proc/cmdline); do
    case $arg in ug.9pcache=*) cache=${arg#ug.9pcache=} ;; esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache="$cache" hostroot /host ||
    fail "mount 9p hostroot"
disk=
for arg in $(cat /proc/cmdline); do
    case $arg in ug.disk=1) disk=1 ;; esac
done
if [ -n "$disk" ]; then
    # run.sh UG_VM_DISK: the overlay's upper layer on a disk that outlives this boot, so
    # a second boot of the same image sees what the first one installed and enabled.
    mount -t ext4 /dev/vda /rw || fail "mount the persistent disk /dev/vda"
else
    mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
fi
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "mount overlay"
# systemd ignores the kernel command line when it believes it runs in a container.
rm -f /newroot/.dockerenv /newroot/run/.containerenv
# A persistent disk has them from its first boot.
if [ ! -e /rw/upper/.ug-vm-overlay ]; then
    cp -a /overlay/. /newroot/ || fail "copy overlay files"
    [ -z "$disk" ] || : >/rw/upper/.ug-vm-overlay
fi
# The guest kernel's modules, from the unpacked package in the host's cache (visible
# through the share), so that modprobe works in the guest (nf_tables, ...).
. /kernel.env
if [ ! -e "/newroot/lib/modules/$KVER" ]; then
    mkdir -p /newroot/lib/modules && ln -s "$KMODS" "/newroot/lib/modules/$KVER"
fi
for d in dev proc sys; do mount --move /$d /newroot/$d || fail "move /$d"; done
# If this fails, PID 1 exits and the kernel panics: panic=-1 and -no-reboot end qemu.
exec switch_root /newroot /lib/systemd/systemd
EOF
    chmod 0755 "$1/init"
}

build_initrd() {
    local stamp want
    # Rebuild when this script, the kernel or busybox changes.
    want=$( (cat "$SELF"; echo "$KVER"; sha256sum /bin/busybox; ls /lib/systemd/system-generators) |
        sha256sum | cut -c1-16)
    INITRD="$CACHE/initrd-$KVER.img"
    stamp="$INITRD.stamp"
    if [[ -f $INITRD && -f $stamp && $(<"$stamp") == "$want" ]]; then
        say "initramfs $INITRD up to date"
        return
    fi
    local m
    MODDEP=()
    MOD_DONE=()
    # 9p over virtio-pci, and overlayfs; their dependencies (netfs, fscache, virtio_ring ...)
    # come from modules.dep.
    # virtio_blk and ext4: run.sh UG_VM_DISK's persistent upper layer.
    # crc32c_generic: ext4 asks for the crc32c driver by name, not through modules.dep.
    for m in virtio_pci 9pnet_virtio 9p overlay virtio_blk crc32c_generic ext4; do resolve_module "$m"; done
    say "modules in load order: $(printf '%s ' "${MODDEP[@]##*/}")"

    local root
    root=$(mktemp -d "$CACHE/.initrd.XXXXXX")
    mkdir -p "$root/bin" "$root/lib/modules" "$root/overlay"
    cp /bin/busybox "$root/bin/busybox"
    # Only the applets /init uses; busybox dispatches on argv[0].
    for m in sh mount mkdir insmod cat rm cp ln poweroff switch_root echo; do
        ln -s busybox "$root/bin/$m"
    done
    for m in "${MODDEP[@]}"; do
        mkdir -p "$root/lib/modules/$(dirname "$m")"
        cp "$KDIR/lib/modules/$KVER/$m" "$root/lib/modules/$m"
    done
    printf '%s\n' "${MODDEP[@]}" >"$root/modules.list"
    write_overlay_tree "$root/overlay"
    write_init "$root"
    printf 'KVER=%s\nKMODS=%s\n' "$KVER" "$KDIR/lib/modules/$KVER" >"$root/kernel.env"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc --quiet | gzip -9n) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$root"
    echo "$want" >"$stamp"
    say "built initramfs $INITRD ($(du -k "$INITRD" | cut -f1) KiB)"
}

main() {
    [[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m), the VM tier is x86-64 only"
    install_missing
    if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
        # A cache prepared earlier (by root, say) is enough to boot: use it as it is.
        if [[ -r $CACHE/current.env ]] && (
            # shellcheck disable=SC1091
            . "$CACHE/current.env"
            [[ -r $UG_VM_KERNEL && -r $UG_VM_INITRD ]]
        ); then
            say "cache $CACHE is read-only; using it as prepared"
            return 0
        fi
        skip "cache directory $CACHE is not writable and holds no prepared kernel"
    fi
    # Several test runs may prepare at once (ctest -j): one at a time.
    exec 9>"$CACHE/.lock"
    flock 9
    pick_kernel
    fetch_kernel
    build_initrd
    # run.sh reads this to find the kernel and initramfs.
    cat >"$CACHE/current.env.tmp" <<EOF
UG_VM_KVER=$KVER
UG_VM_KERNEL=$KDIR/boot/vmlinuz-$KVER
UG_VM_INITRD=$INITRD
EOF
    mv "$CACHE/current.env.tmp" "$CACHE/current.env"
    say "ready: kernel $KDIR/boot/vmlinuz-$KVER, initramfs $INITRD"
}

main "$@"
