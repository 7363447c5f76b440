#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what unitguard needs to build, run and test, from Debian 12's
# archive only. Idempotent: installs nothing, and touches no package list,
# when everything is present.
set -euo pipefail

PKGS=(
	# build
	cmake make gcc pkg-config clang llvm bpftool
	libbpf-dev libsystemd-dev libsqlite3-dev libjson-c-dev libcmocka-dev libyaml-dev linux-libc-dev
	# man pages: rendered by scdoc, checked with man-db's man and lexgrog
	scdoc man-db
	# the .deb (packaging/deb.sh): Debian's own tools; no fakeroot, the
	# package builds without root (Rules-Requires-Root: no)
	debhelper dpkg-dev lintian
	# run: journald for audit entries, journalctl to read them
	systemd
	# tests: the real sqlite3 CLI, JSON checks, network namespaces, libFuzzer
	sqlite3 jq iproute2 libclang-rt-dev python3
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run this as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
