# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by bench/run.sh (host) and bench/vm-ipdeny.sh (VM tier): the same
# prefixes and the same floor map on both tiers, so their figures are of the
# same rules.

# bench_prefixes DIR: DIR/hosts, 20100 distinct random 24-bit host parts
# (fixed seed, never 0.0.1), and the same as /32s in two places:
# DIR/far.prefixes in 10.0.0.0/8, DIR/near.prefixes in 127.0.0.0/8 (never
# 127.0.0.1, the address all measured traffic goes to).
bench_prefixes() {
	awk -v n=20100 'BEGIN {
		srand(20240611)
		while (c < n) {
			a = int(rand() * 256); b = int(rand() * 256); d = int(rand() * 256)
			k = a "." b "." d
			if (k in seen || k == "0.0.1")
				continue
			seen[k] = 1
			c++
			print k
		}
	}' >"$1/hosts"
	sed 's|.*|10.&/32|' "$1/hosts" >"$1/far.prefixes"
	sed 's|.*|127.&/32|' "$1/hosts" >"$1/near.prefixes"
}

# floor_batch MAP FILE: a `bpftool batch` file, on stdout, putting FILE's
# IPv4 prefixes (a.b.c.d/len, one a line) into the pinned floor map MAP
# (bench/floor.bpf.c: struct ug_lpm_key's layout, value 1: deny).
floor_batch() {
	awk -F'[./]' -v m="$1" '{
		printf "map update pinned %s key hex %02x 00 00 00 00 00 00 00", m, 128 + $5
		printf " 00 00 00 00 00 00 00 00 00 00 ff ff %02x %02x %02x %02x value hex 01 00 00 00\n",
			$1, $2, $3, $4
	}' "$2"
}
