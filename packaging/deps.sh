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
	libmicrohttpd-dev libsmartcols-dev
	# man pages: rendered by scdoc, checked with man-db's man and lexgrog
	scdoc man-db
	# the .deb (packaging/deb.sh): Debian's own tools; no fakeroot, the
	# package builds without root (Rules-Requires-Root: no)
	debhelper dpkg-dev lintian
	# run: journald for audit entries, journalctl to read them
	systemd
	# tests: the real sqlite3 CLI, JSON checks, network namespaces, libFuzzer,
	# an HTTP client for the metrics (promtool: below), journal-upload and
	# journal-remote for the fleet test (its postinst only adds their users:
	# no service is enabled or started)
	sqlite3 jq iproute2 libclang-rt-dev python3 curl systemd-journal-remote
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
# promtool checks the metrics output. Debian ships it only inside the
# prometheus package, whose installation would also enable and start a
# Prometheus server: take the one binary out of the package instead.
PROMTOOL=/usr/local/bin/promtool
need_promtool=0
command -v promtool >/dev/null || need_promtool=1
[ ${#missing[@]} -eq 0 ] && [ $need_promtool = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	[ $need_promtool = 1 ] && missing+=(promtool)
	echo "deps: missing: ${missing[*]}; run this as root to install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_promtool = 1 ]; then
	echo "deps: extracting promtool from Debian's prometheus package into $PROMTOOL"
	d=$(mktemp -d)
	chown _apt "$d" 2>/dev/null || true # apt downloads as _apt
	trap 'rm -rf "$d"' EXIT
	(cd "$d" && apt-get download -qq prometheus)
	dpkg-deb --fsys-tarfile "$d"/prometheus_*.deb | tar -x -C "$d" ./usr/bin/promtool
	install -m 0755 "$d/usr/bin/promtool" "$PROMTOOL"
fi
