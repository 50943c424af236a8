// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "msg.h"

/* Messages the integration tests look for (054, 057, 058, 071): the exact words. */

Test(msg, queue_held_by_another_faultline)
{
	struct proxy_error e = {
		.step = PROXY_STEP_BIND, .err = -EBUSY, .queue = 4242, .owner_found = true,
		.owner = { .portid = 77, .pid = 1234, .comm = "faultline" },
	};
	struct proxy_config cfg = { 0 };
	char buf[512];

	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot bind NFQUEUE queue 4242: a faultline already runs in this network "
			      "namespace and holds it: pid 1234 (faultline). Give all the rules to one run, "
			      "or stop that one first (SIGTERM)");
}

Test(msg, queue_held_by_another_program_or_nobody_found)
{
	struct proxy_error e = { .step = PROXY_STEP_BIND, .err = -EBUSY, .queue = 7 };
	struct proxy_config cfg = { 0 };
	char buf[512];

	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot bind NFQUEUE queue 7: another program holds it: process not found. "
			      "Stop it, or pick another --queue");
	e.owner_found = true;
	e.owner.portid = 99;
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot bind NFQUEUE queue 7: another program holds it: netlink port 99, "
			      "process not found. Stop it, or pick another --queue");
	e.err = -EPERM;
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot bind NFQUEUE queue 7: Operation not permitted (needs root or CAP_NET_ADMIN)");
}

Test(msg, duplicate_without_raw_sockets_names_the_rule)
{
	struct proxy_error e = { .step = PROXY_STEP_INJECT, .err = -EPERM, .rule_file = "--rule 2",
				 .rule_line = 1, .rule_action = RULE_ACT_DUPLICATE, .rule_name = "copies" };
	struct proxy_config cfg = { 0 };
	char buf[512];

	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "--rule 2:1: 'duplicate' of rule copies sends copies through raw sockets, and opening one "
			      "failed: Operation not permitted (needs CAP_NET_RAW)");
	e.rule_action = RULE_ACT_RESET;
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "--rule 2:1: 'reset' of rule copies sends RSTs through raw sockets, and opening one "
			      "failed: Operation not permitted (needs CAP_NET_RAW)");
}

Test(msg, iptables_failures)
{
	struct proxy_error e = { .step = PROXY_STEP_IPT_INSTALL, .err = -EBUSY };
	struct proxy_config cfg = { 0 };
	char buf[1024];

	e.ipt.why = IPT_FAIL_BUSY;
	e.ipt.queue = 11;
	e.ipt.owner.pid = 42;
	strcpy(e.ipt.owner.comm, "faultline");
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert(strstr(buf, "cannot install iptables chain: another faultline runs in this network "
			      "namespace: chain FAULTLINE-11 sends its packets to queue 11, held by pid 42 "
			      "(faultline). "), "%s", buf);

	memset(&e.ipt, 0, sizeof(e.ipt));
	e.step = PROXY_STEP_IPT_REMOVE;
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot remove the iptables chain: iptables-restore failed");
	strcpy(e.ipt.said, "iptables-restore: line 2 failed");
	msg_proxy(&e, &cfg, buf, sizeof(buf));
	cr_assert_str_eq(buf, "cannot remove the iptables chain: iptables-restore: line 2 failed");
	e.ipt.why = IPT_FAIL_NO_TOOL;
	strcpy(e.ipt.tool, "ip6tables-save");
	msg_ipt(&e.ipt, buf, sizeof(buf));
	cr_assert_str_eq(buf, "ip6tables-save not found: install iptables");

	memset(&e.ipt, 0, sizeof(e.ipt));
	e.ipt.why = IPT_FAIL_KEPT;
	e.ipt.kept = 2;
	e.ipt.queue = 4242;
	e.ipt.owner.pid = 9;
	strcpy(e.ipt.owner.comm, "faultline");
	msg_ipt(&e.ipt, buf, sizeof(buf));
	cr_assert_str_eq(buf, "kept 2 chains of a running faultline: FAULTLINE-4242, whose queue 4242 is "
			      "held by pid 9 (faultline); stop it (SIGTERM) and it removes its chain");
}

Test(msg, pcap_file_that_cannot_be_created)
{
	struct pcapout_error pe = { .lib = "No such file or directory" };
	char buf[512];

	msg_pcapout("/x/y.pcapng", -ENOENT, &pe, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/x/y.pcapng: No such file or directory");
	strcpy(pe.info, "more");
	msg_pcapout("/x/y.pcapng", -ENOENT, &pe, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/x/y.pcapng: No such file or directory (more)");
	memset(&pe, 0, sizeof(pe));
	msg_pcapout("/x/y.pcapng", -ENOMEM, &pe, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/x/y.pcapng: Cannot allocate memory");
}

/* A cut input and a failed output are both said, in that order. */
Test(msg, replay_cut_and_failed_outputs)
{
	struct replay_error e = { .step = REPLAY_STEP_RAN, .err = -EIO, .lib = "truncated dump file" };
	struct replay_config cfg = { .in_path = "in.pcap", .out_path = "/dev/full", .events_path = "ev" };
	struct replay_stats st = { .read = 30, .in_err = -EIO, .cut_at = 1234, .out_err = -ENOSPC,
				   .unwritten = 3, .events_err = -ENOSPC };
	char buf[1024];

	msg_replay(&e, &cfg, &st, buf, sizeof(buf));
	cr_assert_str_eq(buf, "in.pcap: packet 31 (at byte 1234) cannot be read: truncated dump file; "
			      "the 30 packets before it were replayed; /dev/full: cannot write the replayed "
			      "packets: No space left on device (3 not written); ev: cannot write the event "
			      "log: No space left on device");
}
