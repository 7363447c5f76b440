// SPDX-License-Identifier: LGPL-2.1-or-later
/* policy/gaps.c: which ways around a target's rules stay open. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gaps.h"
#include "unitguard.h"

static void no_rules_nothing_open(void **state)
{
	struct ug_limits l = {};

	(void)state;
	for (int k = 0; k < UG_LIMIT_MAX; k++)
		assert_false(ug_limits_open(&l, k));
}

static void network_rules_open_packet_until_denied(void **state)
{
	struct ug_limits l = {};

	(void)state;
	ug_limits_add_rule(&l, "ingress", "deny", "10.0.0.0/8", NULL);
	assert_true(ug_limits_open(&l, UG_LIMIT_PACKET));
	assert_true(ug_limits_open(&l, UG_LIMIT_XDP));
	assert_true(ug_limits_open(&l, UG_LIMIT_FOREIGN_SOCKET));
	assert_true(ug_limits_open(&l, UG_LIMIT_CGROUP_ESCAPE));
	/* ingress IPv4 rules: NAT64 is about egress only */
	assert_false(ug_limits_open(&l, UG_LIMIT_NAT64));
	assert_false(ug_limits_open(&l, UG_LIMIT_UDP_AUTOBIND));
	ug_limits_add_rule(&l, "family", "deny", "packet", NULL);
	assert_false(ug_limits_open(&l, UG_LIMIT_PACKET));
	assert_true(ug_limits_open(&l, UG_LIMIT_XDP));
	ug_limits_add_rule(&l, "family", "deny", "xdp", NULL);
	assert_false(ug_limits_open(&l, UG_LIMIT_XDP));
	assert_true(ug_limits_open(&l, UG_LIMIT_TUN));
	ug_limits_add_rule(&l, "file", "deny", "/dev/net/tun", "read"); /* read only: open */
	assert_true(ug_limits_open(&l, UG_LIMIT_TUN));
	ug_limits_add_rule(&l, "file", "deny", "/dev/ne", "any");     /* not a directory above it */
	assert_true(ug_limits_open(&l, UG_LIMIT_TUN));
	ug_limits_add_rule(&l, "file", "deny", "/dev/net", "write");
	assert_false(ug_limits_open(&l, UG_LIMIT_TUN));
}

static void nat64_closed_by_a_covering_deny_only(void **state)
{
	struct ug_limits l = {};

	(void)state;
	ug_limits_add_rule(&l, "egress", "deny", "192.0.2.0/24", NULL);
	assert_true(ug_limits_open(&l, UG_LIMIT_NAT64));
	ug_limits_add_rule(&l, "egress", "allow", "64:ff9b::/96", NULL); /* an allow closes nothing */
	assert_true(ug_limits_open(&l, UG_LIMIT_NAT64));
	ug_limits_add_rule(&l, "egress", "deny", "64:ff9b::/97", NULL);  /* half of it */
	assert_true(ug_limits_open(&l, UG_LIMIT_NAT64));
	ug_limits_add_rule(&l, "egress", "deny", "64::/16", NULL);       /* covers it */
	assert_false(ug_limits_open(&l, UG_LIMIT_NAT64));
}

static void lsm_rules(void **state)
{
	struct ug_limits l = {};

	(void)state;
	ug_limits_add_rule(&l, "file", "deny", "/etc/shadow", "read");
	assert_true(ug_limits_open(&l, UG_LIMIT_PATH_VIEW));
	ug_limits_add_harden(&l, UG_HARDEN_MOUNT);
	assert_true(ug_limits_open(&l, UG_LIMIT_PATH_VIEW));
	ug_limits_add_harden(&l, UG_HARDEN_MOUNT | UG_HARDEN_PATH_VIEW);
	assert_false(ug_limits_open(&l, UG_LIMIT_PATH_VIEW));
	assert_false(ug_limits_open(&l, UG_LIMIT_FILE_WRITE));
	assert_false(ug_limits_open(&l, UG_LIMIT_PACKET)); /* no network rules */
	ug_limits_add_rule(&l, "file", "deny", "/etc", "any");
	assert_true(ug_limits_open(&l, UG_LIMIT_FILE_WRITE));
	assert_false(ug_limits_open(&l, UG_LIMIT_EXEC_DENY));
	ug_limits_add_rule(&l, "exec", "allow", "/usr/bin", NULL);
	assert_false(ug_limits_open(&l, UG_LIMIT_EXEC_DENY));
	ug_limits_add_rule(&l, "exec", "deny", "/usr/bin/curl", NULL);
	assert_true(ug_limits_open(&l, UG_LIMIT_EXEC_DENY));
}

static void bind_and_default_deny(void **state)
{
	struct ug_limits l = {};

	(void)state;
	ug_limits_add_default_deny(&l);
	assert_true(ug_limits_open(&l, UG_LIMIT_PACKET));
	assert_false(ug_limits_open(&l, UG_LIMIT_UDP_AUTOBIND));
	ug_limits_add_rule(&l, "bind", "deny", "0.0.0.0/0", NULL);
	assert_true(ug_limits_open(&l, UG_LIMIT_UDP_AUTOBIND));
	/* names and texts for every limit, none empty */
	for (int k = 0; k < UG_LIMIT_MAX; k++) {
		assert_non_null(ug_limit_name(k));
		assert_true(ug_limit_text(k)[0] != '\0');
	}
	assert_string_equal(ug_limit_name(UG_LIMIT_MAX), "unknown");
	/* the caller checks the file system; the flag alone opens it */
	assert_false(ug_limits_open(&l, UG_LIMIT_SYMLINK));
	l.symlink = true;
	assert_true(ug_limits_open(&l, UG_LIMIT_SYMLINK));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_rules_nothing_open),
		cmocka_unit_test(network_rules_open_packet_until_denied),
		cmocka_unit_test(nat64_closed_by_a_covering_deny_only),
		cmocka_unit_test(lsm_rules),
		cmocka_unit_test(bind_and_default_deny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
