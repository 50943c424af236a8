// SPDX-License-Identifier: MIT
/*
 * portset: the names and 'ipset restore' scripts of a plan's port sets,
 * and the jumps that use them (ipt), without running ipset.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipt.h"
#include "kfilter.h"
#include "portset.h"
#include "rule.h"
#include "strbuf.h"

/* n rules "udp dst port P => drop, in" for P = first, first + 2, ... and one "tcp src portrange 10-12". */
static struct kfilter *plan(int n, int first, bool sets)
{
	struct rule_set *rs = rule_set_new();
	struct kfilter_opts o = { .track = true, .sets = sets };
	struct rule_error e;
	struct kfilter *k;
	char line[80];

	cr_assert(rs);
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "udp dst port %d => drop, in", first + 2 * i);
		cr_assert_eq(rule_set_add_line(rs, line, "t", i + 1, &e), 0, "%s", e.msg);
	}
	cr_assert_eq(rule_set_add_line(rs, "tcp src portrange 10-12 => drop, in", "t", n + 1, &e), 0);
	k = kfilter_new(rs, &o);
	cr_assert(k);
	rule_set_free(rs);
	return k;
}

Test(portset, names_carry_queue_generation_hook_protocol_side)
{
	struct kfilter_portset s = { .proto = 17, .side = KFILTER_DST };
	char name[PORTSET_NAME_LEN];
	uint16_t q;
	uint32_t g;

	portset_name(4242, 3, PKT_DIR_IN, &s, name);
	cr_assert_str_eq(name, "FAULTLINE-4242-3-inud");
	s = (struct kfilter_portset){ .proto = 6, .side = KFILTER_SRC };
	portset_name(65535, PORTSET_MAX_GEN - 1, PKT_DIR_FWD, &s, name);
	cr_assert_str_eq(name, "FAULTLINE-65535-999999999-fwdts");
	cr_assert_eq(strlen(name), PORTSET_NAME_LEN - 1);
	cr_assert(portset_parse_name(name, strlen(name), &q, &g));
	cr_assert(q == 65535 && g == PORTSET_MAX_GEN - 1);
	/* Generations wrap rather than outgrow the name. */
	portset_name(1, PORTSET_MAX_GEN + 5, PKT_DIR_OUT, &s, name);
	cr_assert_str_eq(name, "FAULTLINE-1-5-outts");
	/* Not ours: a chain's name, another prefix, a queue out of range. */
	cr_assert_not(portset_parse_name("FAULTLINE-4242", 14, &q, &g));
	cr_assert_not(portset_parse_name("OTHER-4242-1-inud", 17, &q, &g));
	cr_assert_not(portset_parse_name("FAULTLINE-70000-1-inud", 22, &q, &g));
	cr_assert_not(portset_parse_name("FAULTLINE-4242-1-", 17, &q, &g));
}

Test(portset, the_script_creates_and_fills_each_set)
{
	struct kfilter *k = plan(100, 30000, true);
	struct strbuf s = { 0 };
	char *line;

	cr_assert(portset_needed(k));
	cr_assert_eq(portset_create_script(k, 7, 2, &s), 2);
	cr_assert(strstr(s.p, "create FAULTLINE-7-2-inud bitmap:port range 0-65535\n"
			      "add FAULTLINE-7-2-inud 30000\nadd FAULTLINE-7-2-inud 30002\n"));
	cr_assert(strstr(s.p, "add FAULTLINE-7-2-inud 30198\n"));
	cr_assert(strstr(s.p, "create FAULTLINE-7-2-ints bitmap:port range 0-65535\n"
			      "add FAULTLINE-7-2-ints 10-12\n"));
	/* Two creates and 101 adds, nothing else. */
	int lines = 0;

	for (line = s.p; (line = strchr(line, '\n')); line++)
		lines++;
	cr_assert_eq(lines, 103);
	strbuf_free(&s);
	kfilter_free(k);

	/* Without sets: nothing to make. */
	k = plan(100, 30000, false);
	cr_assert_not(portset_needed(k));
	cr_assert_eq(portset_create_script(k, 7, 2, &s), 0);
	cr_assert_null(s.p);
	kfilter_free(k);
	cr_assert_not(portset_needed(NULL));
}

Test(portset, each_set_gets_a_jump_with_its_protocol)
{
	struct kfilter *k = plan(100, 30000, true);
	struct ipt_config c = { .queue = 7, .queues = 1, .filter = k, .set_gen = 2 };
	struct strbuf s = { 0 };
	const char *want =
		"-I PREROUTING 1 -p 6 -m set --match-set FAULTLINE-7-2-ints src -m addrtype "
		"--dst-type LOCAL -m comment --comment faultline -j FAULTLINE-7\n"
		"-I PREROUTING 1 -p 17 -m set --match-set FAULTLINE-7-2-inud dst -m addrtype "
		"--dst-type LOCAL -m comment --comment faultline -j FAULTLINE-7\n";

	/*
	 * The same for both families: bitmap:port has none, and ip6tables'
	 * -p skips extension headers as the set does.
	 */
	for (int v6 = 0; v6 <= 1; v6++) {
		cr_assert_eq(ipt_jump_lines(&c, v6, &s), 0);
		cr_assert_str_eq(s.p, want, "v6 %d: %s", v6, s.p);
		strbuf_free(&s);
	}
	kfilter_free(k);
}
