// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wait.h"

/* Counters as the stats JSON has them: two named rules, totals, one connection summary. */
#define STATS(dropped, held_now, conns)                                                           \
	"{\"seed\":1,\"packets\":10,\"dropped\":" #dropped ",\"held_now\":" #held_now                  \
	",\"rules\":[{\"index\":1,\"name\":\"slow-db\",\"rule\":\"tcp port 5432 => delay 1ms\","      \
	"\"enabled\":true,\"line\":1,\"matched\":4,\"dropped\":0,\"delayed\":4},"                      \
	"{\"index\":2,\"name\":\"synack\",\"rule\":\"tcp => drop\",\"enabled\":true,\"line\":2,"       \
	"\"matched\":" #dropped ",\"dropped\":" #dropped "}],"                                         \
	"\"connections\":[" conns "]}"

#define CONN_SYNSENT                                                                              \
	"{\"flow\":1,\"conn\":\"10.0.0.1:40000 > 10.0.0.2:5432\",\"state\":[\"SYN_SENT\",\"LISTEN\"]," \
	"\"reached\":[[\"SYN_SENT\"],[\"LISTEN\"]],\"retransmissions\":1,\"out_of_order\":0,"          \
	"\"dup_acks\":0}"

static struct wait *parse_ok(const char *text)
{
	struct wait_error e;
	struct wait *w = wait_parse(text, &e);

	cr_assert_not_null(w, "'%s': %d: %s", text, e.col, e.msg);
	return w;
}

static void start_ok(struct wait *w, const char *stats)
{
	struct wait_error e;

	cr_assert_eq(wait_start(w, stats, strlen(stats), &e), 0, "%s", e.msg);
}

static void parse_fails(const char *text, int col, const char *msg_part)
{
	struct wait_error e;
	struct wait *w = wait_parse(text, &e);

	cr_assert_null(w, "'%s' parsed", text);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(e.col, col, "'%s': column %d, not %d (%s)", text, e.col, col, e.msg);
	cr_assert(strstr(e.msg, msg_part), "'%s': '%s' lacks '%s'", text, e.msg, msg_part);
}

Test(wait, a_rule_counter_holds_once_it_reaches_the_number)
{
	struct wait *w = parse_ok("synack.dropped >= 2");

	cr_assert_not(wait_met(w), "nothing holds before the start");
	start_ok(w, STATS(1, 0, ""));
	cr_assert_not(wait_met(w));
	cr_assert_eq(wait_term_value(w, 0), 1);
	cr_assert(wait_wants_stats(w));
	cr_assert_eq(wait_feed_stats(w, STATS(2, 0, ""), strlen(STATS(2, 0, ""))), 0);
	cr_assert(wait_met(w));
	cr_assert_str_eq(wait_term_text(w, 0), "synack.dropped >= 2");
	wait_free(w);
}

Test(wait, totals_held_and_and)
{
	struct wait *w = parse_ok("total.dropped>=3 and held == 0");

	cr_assert_eq(wait_terms(w), 2);
	cr_assert_str_eq(wait_term_text(w, 0), "total.dropped>=3");
	start_ok(w, STATS(3, 2, ""));
	cr_assert(wait_term_holds(w, 0));
	cr_assert_not(wait_term_holds(w, 1));
	cr_assert_not(wait_met(w), "every term must hold");
	wait_feed_stats(w, STATS(3, 0, ""), strlen(STATS(3, 0, "")));
	cr_assert(wait_met(w));
	wait_free(w);
}

Test(wait, every_comparison)
{
	static const struct {
		const char *cond;
		bool met;
	} cases[] = {
		{ "total.dropped > 4", true },	 { "total.dropped > 5", false },
		{ "total.dropped == 5", true },	 { "total.dropped != 5", false },
		{ "total.dropped <= 5", true },	 { "total.dropped < 5", false },
		{ "total.dropped >= 5", true },	 { "total.packets == 10", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wait *w = parse_ok(cases[i].cond);

		start_ok(w, STATS(5, 0, ""));
		cr_assert_eq(wait_met(w), cases[i].met, "%s", cases[i].cond);
		wait_free(w);
	}
}

Test(wait, a_rule_that_is_not_there_is_refused_at_the_start)
{
	struct wait *w = parse_ok("cut.dropped >= 1");
	struct wait_error e;

	cr_assert_eq(wait_start(w, STATS(0, 0, ""), strlen(STATS(0, 0, "")), &e), -ENOENT);
	cr_assert_str_eq(e.msg, "no rule named 'cut'");
	wait_free(w);
	w = parse_ok("slow-db.bogus >= 1");
	cr_assert_eq(wait_start(w, STATS(0, 0, ""), strlen(STATS(0, 0, "")), &e), -EINVAL);
	cr_assert_str_eq(e.msg, "rule 'slow-db' has no counter 'bogus'");
	wait_free(w);
}

Test(wait, unnamed_rules_are_rule_n_from_one)
{
	const char *stats = "{\"rules\":[{\"index\":0,\"matched\":1},{\"index\":1,\"matched\":7}]}";
	struct wait *w = parse_ok("rule-2.matched == 7");

	start_ok(w, stats);
	cr_assert(wait_met(w));
	wait_free(w);
}

/* A transition seen in the stream: the state need not last. */
Test(wait, a_state_passed_through_counts)
{
	struct wait *w = parse_ok("conn port 5432 state ESTABLISHED");
	const char *lines =
		"{\"t\":0.1,\"ev\":\"transition\",\"flow\":1,\"conn\":\"10.0.0.1:40000 > 10.0.0.2:5432\","
		"\"endpoint\":0,\"old\":\"SYN_SENT\",\"new\":\"ESTABLISHED\"}\n"
		"{\"t\":0.2,\"ev\":\"transition\",\"flow\":1,\"conn\":\"10.0.0.1:40000 > 10.0.0.2:5432\","
		"\"endpoint\":0,\"old\":\"ESTABLISHED\",\"new\":\"FIN_WAIT_1\"}\n";

	start_ok(w, STATS(0, 0, CONN_SYNSENT));
	cr_assert_not(wait_met(w));
	cr_assert_not(wait_wants_stats(w));
	wait_feed_lines(w, lines, strlen(lines));
	cr_assert(wait_met(w));
	cr_assert_eq(wait_term_value(w, 0), 1);
	wait_free(w);
}

Test(wait, a_state_reached_before_the_start_counts_from_the_summary)
{
	struct wait *w = parse_ok("state SYN_SENT");

	start_ok(w, STATS(0, 0, CONN_SYNSENT));
	cr_assert(wait_met(w));
	wait_free(w);
	w = parse_ok("conn host 10.9.9.9 state SYN_SENT");
	start_ok(w, STATS(0, 0, CONN_SYNSENT));
	cr_assert_not(wait_met(w), "another host's connection does not count");
	wait_free(w);
}

Test(wait, the_selector_wants_every_part_on_some_endpoint)
{
	static const struct {
		const char *cond;
		bool met;
	} cases[] = {
		{ "conn port 5432 state SYN_SENT", true },
		{ "conn port 40000 state SYN_SENT", true },
		{ "conn port 80 state SYN_SENT", false },
		{ "conn host 10.0.0.2 port 40000 state SYN_SENT", true },
		{ "conn host 10.0.0.3 port 5432 state SYN_SENT", false },
		{ "conn host fd00::1 state SYN_SENT", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wait *w = parse_ok(cases[i].cond);

		start_ok(w, STATS(0, 0, CONN_SYNSENT));
		cr_assert_eq(wait_met(w), cases[i].met, "%s", cases[i].cond);
		wait_free(w);
	}
}

Test(wait, ipv6_connections_match_by_address)
{
	struct wait *w = parse_ok("conn host fd99::2 retransmissions >= 1");
	const char *line = "{\"t\":1.0,\"ev\":\"packet\",\"pkt\":3,\"proto\":\"tcp\","
			   "\"flow\":\"tcp [fd99::1]:40000 > [fd99:0::2]:8080\",\"class\":[\"syn\","
			   "\"retransmission\"],\"verdict\":\"accept\",\"actions\":[]}\n";

	start_ok(w, "{\"rules\":[]}");
	wait_feed_lines(w, line, strlen(line));
	cr_assert(wait_met(w));
	wait_free(w);
}

Test(wait, retransmissions_add_to_the_summary_counts)
{
	struct wait *w = parse_ok("conn port 5432 retransmissions >= 2");
	const char *other = "{\"t\":1.0,\"ev\":\"packet\",\"flow\":\"tcp 10.0.0.1:1 > 10.0.0.2:80\","
			    "\"class\":[\"retransmission\"]}\n";
	const char *ours = "{\"t\":1.0,\"ev\":\"packet\",\"flow\":\"tcp 10.0.0.1:40000 > 10.0.0.2:5432\","
			   "\"class\":[\"syn\",\"retransmission\"]}\n";

	start_ok(w, STATS(0, 0, CONN_SYNSENT));
	cr_assert_eq(wait_term_value(w, 0), 1);
	wait_feed_lines(w, other, strlen(other));
	cr_assert_not(wait_met(w));
	wait_feed_lines(w, ours, strlen(ours));
	cr_assert(wait_met(w));
	wait_free(w);
}

Test(wait, faultlines_own_reordering_counts_as_out_of_order)
{
	struct wait *w = parse_ok("out-of-order >= 1");
	const char *line = "{\"t\":1.0,\"ev\":\"class\",\"flow\":1,\"conn\":\"10.0.0.1:1 > 10.0.0.2:2\","
			   "\"endpoint\":1,\"view\":\"egress\",\"class\":[\"out-of-order\"],\"caused_by\":3}\n";

	start_ok(w, "{\"rules\":[]}");
	wait_feed_lines(w, line, strlen(line));
	cr_assert(wait_met(w));
	wait_free(w);
}

Test(wait, lines_that_do_not_parse_are_skipped)
{
	struct wait *w = parse_ok("dup-acks >= 1");
	const char *lines = "{\"ev\":\"packet\",\"class\":[\"dup-ack\"\n"
			    "not json dup-ack\n"
			    "{\"ev\":\"packet\",\"flow\":\"tcp 1.1.1.1:1 > 2.2.2.2:2\",\"class\":[\"dup-ack\"]}";

	start_ok(w, "{\"rules\":[]}");
	wait_feed_lines(w, lines, strlen(lines));
	cr_assert_eq(wait_term_value(w, 0), 1);
	wait_free(w);
}

Test(wait, parse_errors_are_located)
{
	parse_fails("", 1, "expected a condition");
	parse_fails("synack.dropped", 15, "expected a comparison");
	parse_fails("synack.dropped => 2", 16, "not a comparison");
	parse_fails("synack.dropped >= two", 19, "not a number");
	parse_fails("synack.dropped >= 2 or held == 0", 21, "expected 'and' or the end");
	parse_fails("synack.dropped >= 2 and", 24, "expected a condition");
	parse_fails("dropped >= 2", 1, "expected RULE.COUNTER");
	parse_fails("9x.dropped >= 2", 1, "not a rule name");
	parse_fails("x.Dropped >= 2", 3, "expected a counter name");
	parse_fails("conn state ESTABLISHED", 1, "'conn' wants");
	parse_fails("conn port 70000 state ESTABLISHED", 11, "out of range");
	parse_fails("conn host 10.0.0.300 state ESTABLISHED", 11, "not an IPv4 or IPv6 address");
	parse_fails("conn port 1 port 2 state CLOSED", 13, "given twice");
	parse_fails("conn port 80 sate ESTABLISHED", 14, "expected 'state'");
	parse_fails("state OPEN", 7, "not a TCP state");
	parse_fails("retransmissions 2", 17, "expected a comparison");
	parse_fails(">= 2", 1, "expected a counter");
	parse_fails("total.dropped >= 18446744073709551616", 18, "not a number");
}

Test(wait, a_prefix_stops_before_what_is_not_a_condition)
{
	const char *text = "conn port 5432 state ESTABLISHED and held == 0  add cut: tcp => drop";
	struct wait_error e;
	size_t used = 0;
	struct wait *w = wait_parse_prefix(text, &used, &e);

	cr_assert_not_null(w, "%s", e.msg);
	cr_assert_eq(wait_terms(w), 2);
	cr_assert_str_eq(text + used, "add cut: tcp => drop");
	wait_free(w);
}

Test(wait, too_many_terms_and_too_long_are_refused)
{
	char text[WAIT_MAX_TEXT + 16];
	struct wait_error e;
	size_t n = 0;

	for (int i = 0; i <= WAIT_MAX_TERMS; i++)
		n += (size_t)sprintf(text + n, "%sheld == 0", i ? " and " : "");
	cr_assert_null(wait_parse(text, &e));
	cr_assert(strstr(e.msg, "more than 16 terms"), "%s", e.msg);
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	cr_assert_null(wait_parse(text, &e));
	cr_assert(strstr(e.msg, "longer than"), "%s", e.msg);
}
