// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "flush.h"
#include "log.h"
#include "unitguard.h"

int ug_flush_once(int prog_fd, uint32_t window, uint32_t *sent, bool *full)
{
	struct ug_flush_ctx c = { .window = window };
	/* A syscall program's context is written back to ctx_in. */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &c, .ctx_size_in = sizeof(c));

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*sent = c.sent;
	*full = c.full;
	return 0;
}

int ug_flush_run(int prog_fd, uint32_t window, bool *said, const char *what)
{
	uint32_t sent;
	bool full;
	int err = ug_flush_once(prog_fd, window, &sent, &full);

	if (err) {
		if (!*said)
			ug_log(LOG_ERR, "audit: cannot run the %s flush program: %s; repeated "
			       "denials counted in the kernel are not reported", what, strerror(-err));
		*said = true;
		return err;
	}
	*said = false;
	return 0;
}
