/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the e2e probes (ugprobe, ugflow) share: addresses and joining a cgroup. */
#ifndef UG_PROBE_COMMON_H
#define UG_PROBE_COMMON_H

#include <sys/socket.h>

/* ADDR (IPv4 or IPv6) and PORT (NULL: 0) into ss: 0, or -1 when either is bad. */
int probe_parse_addr(const char *s, const char *port, struct sockaddr_storage *ss,
		     socklen_t *len);

/* Move the calling process into cgroup directory dir: 0, or -1 (said on stderr). */
int probe_join_cgroup(const char *dir);

#endif
