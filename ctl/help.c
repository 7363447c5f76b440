// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The usage text, and each command's --help cut from it.
 */
#include "ctl.h"

static const char usage_text[] =
		"Usage: unitguardctl [--db PATH] COMMAND ...\n\n"
		"Commands:\n"
		"  rule add TARGET egress|ingress|bind allow|deny PREFIX\n"
		"           [--proto tcp|udp|icmp] [--port N[-M]] [--comment TEXT]\n"
		"                                     add a rule, print its id\n"
		"  rule add TARGET exec allow|deny PATH\n"
		"  rule add TARGET file deny PATH [--access read|write|any]\n"
		"  rule add TARGET family deny FAMILY      (packet, netlink, ... or a number)\n"
		"  rule list [TARGET] [--json]        list rules\n"
		"  rule del ID                        delete a rule\n"
		"  unit set TARGET [--mode enforce|audit|off] [--default-egress allow|deny]\n"
		"           [--default-ingress allow|deny] [--harden LIST] [--no-harden LIST]\n"
		"                                     set a unit's mode, default posture and\n"
		"                                     hardening (module-load,bpf,ptrace,mount,path-view)\n"
		"  unit list [--json]                 units with their settings and rule counts\n"
		"  unit show TARGET [--json]          one unit's settings and rules\n"
		"  unit del TARGET                    delete a unit and all its rules\n"
		"  show TARGET [--json]               the effective policy after inheritance: mode,\n"
		"                                     default postures, hardening, denied families\n"
		"                                     and the rules in the order they decide, each\n"
		"                                     with where it comes from (itself, an alias,\n"
		"                                     a slice or other policy cgroup above it)\n"
		"  explain TARGET ADDRESS [--dir egress|ingress|bind] [--reply] [--proto tcp|udp|icmp]\n"
		"           [--port N] [--json]       what the kernel decides for that operation\n"
		"                                     (default egress, tcp), the rule that decides\n"
		"                                     and where it comes from, or the default\n"
		"                                     posture and who set it\n"
		"  explain TARGET PATH [--access exec|read|write|any] [--json]\n"
		"                                     the same for an exec (the default) or open\n"
		"                                     of PATH (an argument starting with '/')\n"
		"  audit [--unit TARGET] [--since TIME] [--until TIME] [--follow] [--json]\n"
		"                                     list recorded denials (TIME as journalctl\n"
		"                                     takes it: -1h, today, 2026-11-30 14:00, ...)\n"
		"  audit --summary [--unit TARGET] [--json]\n"
		"                                     the report views: totals, hourly, destinations,\n"
		"                                     paths, rules, would_deny\n"
		"  stats [TARGET] [--json]            packets, bytes and rule hits, live\n"
		"  status [--json]                    what is enforced, where, and what is not;\n"
		"                                     exit 3 when the agent is not running or a\n"
		"                                     target is not in force\n"
		"  apply FILE [--check|--diff]        replace the whole policy from a YAML file,\n"
		"                                     writing only the difference (unchanged\n"
		"                                     rules keep their ids; an identical file\n"
		"                                     writes nothing); --check: only say whether\n"
		"                                     it is valid and fits the kernel's maps\n"
		"                                     (apply checks too); --diff: only print\n"
		"                                     what would change (+ added, - deleted,\n"
		"                                     ~ changed), exit 0 nothing, 1 something,\n"
		"                                     2 bad file or store, like diff(1)\n"
		"  export [FILE]                      write the policy as YAML (default stdout)\n"
		"  metrics                            the agent, each unit's state, packets, bytes,\n"
		"                                     denials, and the apply latency, in Prometheus\n"
		"                                     text format; for a textfile collector, write\n"
		"                                     it atomically: metrics >F.tmp && mv F.tmp F.prom\n\n"
		"TARGET is a unit name (demo.service, web.slice, x.scope) or an absolute cgroup\n"
		"path below the cgroup2 root (/system.slice/demo.service). PREFIX is an IPv4 or\n"
		"IPv6 CIDR, or a bare address (= /32 or /128). The longest prefix with a rule\n"
		"matching the protocol and port decides; no match: the default posture.\n\n"
		"Commands that change policy (rule add, rule del, unit set, unit del, apply)\n"
		"return once unitguardd has put the change in force in the kernel (--wait, the\n"
		"default), or fail with its reason. The other commands only read the store\n"
		"(read-only: any user who may read it can run them; nothing is created).\n\n"
		"Options:\n"
		"  --db PATH        policy store (default " UG_DEFAULT_DB ")\n"
		"  --wait           wait until the change is in force (the default)\n"
		"  --no-wait        only write the store; do not wait for the agent\n"
		"  --timeout SECS   how long to wait for the agent (default 10)\n"
		"  --json           JSON output (JSON Lines for streams) from every command\n"
		"                   that has it, as COMMAND --json; refused by the others\n"
		"  -h, --help       this text\n"
		"  --version        the version\n\n"
		"Exit status: 0 in force (or kept for a unit's next start); 1 failure; 2 bad\n"
		"input, nothing written; 3 written to the store but NOT (fully) in force: the\n"
		"agent is not running, timed out, or refused it (the reason is printed).\n\n"
		"Examples:\n"
		"  unitguardctl rule add demo.service egress deny 10.0.0.0/8\n"
		"  unitguardctl rule add demo.service egress allow 10.1.0.0/16\n"
		"  unitguardctl rule add demo.service egress deny 10.0.0.0/8 --proto tcp --port 22\n"
		"  unitguardctl unit set demo.service --mode audit --default-egress deny\n"
		"  unitguardctl rule add demo.service exec deny /usr/bin/curl\n"
		"  unitguardctl rule add demo.service file deny /etc/shadow --access read\n"
		"  unitguardctl rule add demo.service family deny packet\n"
		"  unitguardctl unit set demo.service --harden module-load,bpf,ptrace,mount\n"
		"  unitguardctl rule list demo.service --json\n"
		"  unitguardctl explain demo.service 10.1.2.3 --port 22\n"
		"  unitguardctl show demo.service\n"
		"  unitguardctl apply --diff policy.yaml && echo nothing to change\n"
		"  unitguardctl audit --unit demo.service\n";

void usage(FILE *f)
{
	fputs(usage_text, f);
}

/*
 * COMMAND --help: its lines of the usage text (those naming it, and their
 * continuation lines), then the options every command takes.
 */
void command_help(const char *name)
{
	const char *line = usage_text, *next;
	size_t n = strlen(name);
	bool in = false, any = false;

	printf("Usage: unitguardctl [--db PATH] %s ...\n\n", name);
	for (; *line; line = next + 1) {
		next = strchr(line, '\n');
		if (!next)
			break;
		if (!strncmp(line, "  ", 2) && line[2] != ' ')
			in = !strncmp(line + 2, name, n) &&
			     (line[2 + n] == ' ' || line[2 + n] == '\n');
		else if (strncmp(line, "    ", 4))
			in = false;
		if (in && line < strstr(usage_text, "Options:")) {
			printf("%.*s\n", (int)(next - line), line);
			any = true;
		}
	}
	if (!any)
		printf("  (see unitguardctl --help)\n");
	printf("\nOptions of every command: --db PATH, --wait, --no-wait, --timeout SECS (see "
	       "unitguardctl --help).\n");
}
