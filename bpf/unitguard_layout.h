/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The layout of every structure in unitguard.h, as both sides must see it:
 * included by unitguard.h, so it is checked wherever that is compiled, by
 * clang for the BPF target and by the user-space compiler alike. What it
 * catches: a field added where padding silently moves the others, a 32-bit
 * build (__u64 aligned to 4 bytes), a compiler packing differently. A
 * change that trips an assertion on purpose is a layout change: bump
 * UG_LAYOUT too. Sizes, and the offset of every field either side reads
 * (padding fields are left out).
 */
#ifndef UNITGUARD_LAYOUT_H
#define UNITGUARD_LAYOUT_H

#define UG_ASSERT_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), "struct " #type ": size")
#define UG_ASSERT_OFF(type, field, off)                                       \
	_Static_assert(__builtin_offsetof(struct type, field) == (off),       \
		       "struct " #type ": offset of " #field)

/* The level mask leads both config values: lib/cgroup.bpf.h, find_unit_in(). */
UG_ASSERT_SIZE(ug_config, 8);
UG_ASSERT_OFF(ug_config, level_mask, 0);
UG_ASSERT_OFF(ug_config, gen, 4);

UG_ASSERT_SIZE(ug_unit_val, 16);
UG_ASSERT_OFF(ug_unit_val, generation, 0);
UG_ASSERT_OFF(ug_unit_val, trie, 4);
UG_ASSERT_OFF(ug_unit_val, mode, 6);
UG_ASSERT_OFF(ug_unit_val, deny_default, 7);
UG_ASSERT_OFF(ug_unit_val, acct, 8);
UG_ASSERT_OFF(ug_unit_val, flags, 10);
UG_ASSERT_OFF(ug_unit_val, audit_default, 12);

UG_ASSERT_SIZE(ug_lpm_key, 24);
UG_ASSERT_OFF(ug_lpm_key, prefixlen, 0);
UG_ASSERT_OFF(ug_lpm_key, trie, 4);
UG_ASSERT_OFF(ug_lpm_key, dir, 6);
UG_ASSERT_OFF(ug_lpm_key, addr, 8);

UG_ASSERT_SIZE(ug_match, 12);
UG_ASSERT_OFF(ug_match, rule_id, 0);
UG_ASSERT_OFF(ug_match, port_lo, 4);
UG_ASSERT_OFF(ug_match, port_hi, 6);
UG_ASSERT_OFF(ug_match, proto, 8);
UG_ASSERT_OFF(ug_match, action, 9);
UG_ASSERT_OFF(ug_match, flags, 10);

UG_ASSERT_SIZE(ug_match_list, 200);
UG_ASSERT_OFF(ug_match_list, n, 0);
UG_ASSERT_OFF(ug_match_list, m, 8);

UG_ASSERT_SIZE(ug_acct_val, 48);
UG_ASSERT_OFF(ug_acct_val, packets, 0);
UG_ASSERT_OFF(ug_acct_val, bytes, 24);

UG_ASSERT_SIZE(ug_who, 32);
UG_ASSERT_OFF(ug_who, cgid, 0);
UG_ASSERT_OFF(ug_who, unit_cgid, 8);
UG_ASSERT_OFF(ug_who, pid, 16);
UG_ASSERT_OFF(ug_who, uid, 20);
UG_ASSERT_OFF(ug_who, rule_id, 24);
UG_ASSERT_OFF(ug_who, generation, 28);

UG_ASSERT_SIZE(ug_event, 96);
UG_ASSERT_OFF(ug_event, ts_boot_ns, 0);
UG_ASSERT_OFF(ug_event, first_ns, 8);
UG_ASSERT_OFF(ug_event, count, 16);
UG_ASSERT_OFF(ug_event, who, 24);
UG_ASSERT_OFF(ug_event, comm, 56);
UG_ASSERT_OFF(ug_event, addr, 72);
UG_ASSERT_OFF(ug_event, port, 88);
UG_ASSERT_OFF(ug_event, family, 90);
UG_ASSERT_OFF(ug_event, proto, 91);
UG_ASSERT_OFF(ug_event, hook, 92);
UG_ASSERT_OFF(ug_event, verdict, 93);
UG_ASSERT_OFF(ug_event, dir, 94);
UG_ASSERT_OFF(ug_event, flags, 95);

UG_ASSERT_SIZE(ug_agg_key, 64);
UG_ASSERT_OFF(ug_agg_key, who, 0);
UG_ASSERT_OFF(ug_agg_key, addr, 32);
UG_ASSERT_OFF(ug_agg_key, port, 48);
UG_ASSERT_OFF(ug_agg_key, flags, 55);
UG_ASSERT_OFF(ug_agg_key, window, 56);

UG_ASSERT_SIZE(ug_agg_val, 40);
UG_ASSERT_OFF(ug_agg_val, pending, 0);
UG_ASSERT_OFF(ug_agg_val, since_ns, 8);
UG_ASSERT_OFF(ug_agg_val, last_ns, 16);
UG_ASSERT_OFF(ug_agg_val, comm, 24);

UG_ASSERT_SIZE(ug_agg_cfg, 8);
UG_ASSERT_OFF(ug_agg_cfg, window, 0);

UG_ASSERT_SIZE(ug_share_val, 32);
UG_ASSERT_OFF(ug_share_val, lost, 0);
UG_ASSERT_OFF(ug_share_val, idle, 8);
UG_ASSERT_OFF(ug_share_val, agg, 16);
UG_ASSERT_OFF(ug_share_val, ring, 24);

UG_ASSERT_SIZE(ug_flush_ctx, 16);
UG_ASSERT_OFF(ug_flush_ctx, window, 0);
UG_ASSERT_OFF(ug_flush_ctx, sent, 4);
UG_ASSERT_OFF(ug_flush_ctx, full, 8);

UG_ASSERT_SIZE(ug_path_key, 256);
UG_ASSERT_OFF(ug_path_key, prefixlen, 0);
UG_ASSERT_OFF(ug_path_key, trie, 4);
UG_ASSERT_OFF(ug_path_key, kind, 6);
UG_ASSERT_OFF(ug_path_key, path, 8);

UG_ASSERT_SIZE(ug_path_reading, 16);
UG_ASSERT_OFF(ug_path_reading, rule_id, 0);
UG_ASSERT_OFF(ug_path_reading, read_rule, 4);
UG_ASSERT_OFF(ug_path_reading, write_rule, 8);
UG_ASSERT_OFF(ug_path_reading, action, 12);
UG_ASSERT_OFF(ug_path_reading, deny_access, 13);

UG_ASSERT_SIZE(ug_path_val, 32);
UG_ASSERT_OFF(ug_path_val, enforced, 0);
UG_ASSERT_OFF(ug_path_val, all, 16);

UG_ASSERT_SIZE(ug_lsm_unit, 32);
UG_ASSERT_OFF(ug_lsm_unit, deny_families, 0);
UG_ASSERT_OFF(ug_lsm_unit, audit_families, 8);
UG_ASSERT_OFF(ug_lsm_unit, generation, 16);
UG_ASSERT_OFF(ug_lsm_unit, trie, 20);
UG_ASSERT_OFF(ug_lsm_unit, mode, 22);
UG_ASSERT_OFF(ug_lsm_unit, harden, 23);
UG_ASSERT_OFF(ug_lsm_unit, harden_audit, 24);
UG_ASSERT_OFF(ug_lsm_unit, has_paths, 25);

UG_ASSERT_SIZE(ug_lsm_config, 8);
UG_ASSERT_OFF(ug_lsm_config, level_mask, 0);

UG_ASSERT_SIZE(ug_lsm_event, 600);
UG_ASSERT_OFF(ug_lsm_event, who, 24);
UG_ASSERT_OFF(ug_lsm_event, detail, 56);
UG_ASSERT_OFF(ug_lsm_event, hook, 60);
UG_ASSERT_OFF(ug_lsm_event, verdict, 61);
UG_ASSERT_OFF(ug_lsm_event, access, 62);
UG_ASSERT_OFF(ug_lsm_event, flags, 63);
UG_ASSERT_OFF(ug_lsm_event, comm, 64);
UG_ASSERT_OFF(ug_lsm_event, path, 80);
UG_ASSERT_OFF(ug_lsm_event, exe, 336);
UG_ASSERT_OFF(ug_lsm_event, start_ns, 592);

UG_ASSERT_SIZE(ug_lsm_agg_key, 304);
UG_ASSERT_OFF(ug_lsm_agg_key, who, 0);
UG_ASSERT_OFF(ug_lsm_agg_key, detail, 32);
UG_ASSERT_OFF(ug_lsm_agg_key, hook, 36);
UG_ASSERT_OFF(ug_lsm_agg_key, flags, 39);
UG_ASSERT_OFF(ug_lsm_agg_key, window, 40);
UG_ASSERT_OFF(ug_lsm_agg_key, path, 48);

UG_ASSERT_SIZE(ug_lsm_agg_val, 304);
UG_ASSERT_OFF(ug_lsm_agg_val, pending, 0);
UG_ASSERT_OFF(ug_lsm_agg_val, since_ns, 8);
UG_ASSERT_OFF(ug_lsm_agg_val, last_ns, 16);
UG_ASSERT_OFF(ug_lsm_agg_val, comm, 24);
UG_ASSERT_OFF(ug_lsm_agg_val, exe, 40);
UG_ASSERT_OFF(ug_lsm_agg_val, start_ns, 296);

UG_ASSERT_SIZE(ug_pending_key, 128);
UG_ASSERT_OFF(ug_pending_key, name, 0);

UG_ASSERT_SIZE(ug_pending_net, 160);
UG_ASSERT_OFF(ug_pending_net, val, 0);
UG_ASSERT_OFF(ug_pending_net, parent_cgid, 16);
UG_ASSERT_OFF(ug_pending_net, level, 24);
UG_ASSERT_OFF(ug_pending_net, via, 32);

UG_ASSERT_SIZE(ug_pending_lsm, 176);
UG_ASSERT_OFF(ug_pending_lsm, val, 0);
UG_ASSERT_OFF(ug_pending_lsm, parent_cgid, 32);
UG_ASSERT_OFF(ug_pending_lsm, level, 40);
UG_ASSERT_OFF(ug_pending_lsm, via, 48);

/* Across layouts (unitguard.h): frozen, whatever the layout. */
UG_ASSERT_SIZE(ug_record_head, 24);
UG_ASSERT_OFF(ug_record_head, count, 16);
UG_ASSERT_OFF(ug_event, ts_boot_ns, 0);
UG_ASSERT_OFF(ug_event, first_ns, 8);
UG_ASSERT_OFF(ug_event, count, 16);
UG_ASSERT_OFF(ug_lsm_event, ts_boot_ns, 0);
UG_ASSERT_OFF(ug_lsm_event, first_ns, 8);
UG_ASSERT_OFF(ug_lsm_event, count, 16);
UG_ASSERT_SIZE(ug_flush_ctx, 16);
UG_ASSERT_OFF(ug_flush_ctx, window, 0);
UG_ASSERT_OFF(ug_flush_ctx, sent, 4);
UG_ASSERT_OFF(ug_flush_ctx, full, 8);

#undef UG_ASSERT_SIZE
#undef UG_ASSERT_OFF

#endif /* UNITGUARD_LAYOUT_H */
