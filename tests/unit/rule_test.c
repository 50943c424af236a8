// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <pcap/pcap.h>

#include "packet.h"
#include "file.h"
#include "rule.h"
#include "tcpstate.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* The lines the grammar promises to accept, as written in the README. */
static const char *const good_lines[] = {
	"udp dst port 5000 => drop 30%",
	"icmp => delay 50ms",
	"tcp port 8080 => delay 100ms jitter 20ms",
	"udp dst port 5000 => reorder 4",
	"udp dst port 5000 => duplicate",
	"udp dst port 5000 => duplicate 2 50%",
	"=> delay 10ms",
	"tcp dst port 8080 => drop 10%, delay 5ms",
	"tcp port 8080 => drop if state LAST_ACK",
	"tcp port 8080 => delay 3s if first-data",
	"tcp port 8080 => drop if syn-ack, count 2",
	"tcp => drop if retransmission",
	"tcp port 8080 => delay 1500ms if fin",
	"udp => drop 5%, in, every 3, first 100, after 5s, for 10s",
	"ip6 and udp => rate 1mbit limit 50",
};

/* More shapes for the round trip: every option and odd spacing. */
static const char *const extra_lines[] = {
	"tcp port 80 => reset, from-byte 10000",
	"tcp port 80 => reset, conn-after 1500ms, if not syn and not syn-ack and not ack-only",
	"udp => drop, after 1s, conn-after 250us, for 2s",
	"tcp port 80 => delay 10ms, conn 50% key 7",
	"tcp port 80 => delay 10ms, conn 0%",
	"tcp port 80 => reset, after 1s, conn 100% key 4294967295, if not syn and not syn-ack",
	"udp => drop, conn 12.5%",
	"tcp port 80 => segment 100 gap 500us",
	"tcp => segment 1 gap 2ms 50%",
	"tcp port 80 => segment 100 vary 40 gap 500us",
	"tcp port 80 => drop, in, first 1, after 10s, from-byte 4294967295, if fin",
	"tcp port 80 => delay 2s, from-byte 1, if fin",
	"udp => delay 1.5s jitter 0.25ms distribution pareto 0.0125%",
	"udp => delay 0ms jitter 5ms distribution normal",
	"udp => delay 5ms jitter 0ms distribution normal",
	"udp => rate 8bps, reorder 3 timeout 1m 99.9999%",
	"udp => rate 1.5kibit 20%",
	"udp => rate 1500 limit 1",
	"udp => corrupt 0.5%, out, fwd",
	"=> accept, in",
	"=> accept 50%",
	"udp => duplicate 16 100%",
	"udp => duplicate 50% 3",
	"tcp => drop if not syn and peer-state time-wait and dup-ack, if stale",
	"tcp => drop, if syn, if fin and rst and ack-only and data and out-of-order",
	"\t  udp   =>drop,in ,out,fwd  # trailing comment",
	"udp=>drop",
	"(udp or tcp) and not port 22 => delay 100us, every 1, first 4294967295",
	"udp => delay 18446744073709551615ns",
	"udp => delay 2m, after 0s, for 1ns",
	"udp => reorder 1024 timeout 100ms",
	"slow-db: tcp port 5432 => delay 200ms",
	"a: => drop",
	"A.b_c-9:\tudp => drop, if syn",
	"v6: ip6 host fe80::1 => drop",
	"rule-1: udp => drop",
};

/* Parse one line into a fresh set; the set owns the returned rule. */
static const struct rule *parse_one(struct rule_set **rs, const char *line)
{
	struct rule_error err;
	int ret;

	*rs = rule_set_new();
	cr_assert_not_null(*rs);
	ret = rule_set_add_line(*rs, line, "t.rules", 1, &err);
	cr_assert_eq(ret, 0, "'%s': %d:%d: %s", line, err.line, err.col, err.msg);
	cr_assert_eq(rule_set_count(*rs), 1);
	return rule_set_get(*rs, 0);
}

Test(rule, drop_with_probability)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "udp dst port 5000 => drop 30%");

	cr_assert_str_eq(r->filter_text, "udp dst port 5000");
	cr_assert_not_null(r->filter);
	cr_assert_eq(r->n_actions, 1);
	cr_assert_eq(r->actions[0].type, RULE_ACT_DROP);
	cr_assert_eq(r->actions[0].prob_ppm, 300000);
	cr_assert_eq(r->n_conds, 0);
	cr_assert_eq(r->dir_mask, 0);
	cr_assert_eq(r->every, 0);
	cr_assert_eq(r->first, 0);
	cr_assert_str_eq(r->text, "udp dst port 5000 => drop 30%");
	cr_assert_str_eq(r->file, "t.rules");
	cr_assert_eq(r->line, 1);
	cr_assert_eq(r->index, 0);
	rule_set_free(rs);
}

Test(rule, delay_plain)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "icmp => delay 50ms");

	cr_assert_str_eq(r->filter_text, "icmp");
	cr_assert_eq(r->n_actions, 1);
	cr_assert_eq(r->actions[0].type, RULE_ACT_DELAY);
	cr_assert_eq(r->actions[0].prob_ppm, RULE_PPM_ALWAYS);
	cr_assert_eq(r->actions[0].u.delay.delay_ns, 50 * MS);
	cr_assert_eq(r->actions[0].u.delay.jitter_ns, 0);
	cr_assert_eq(r->actions[0].u.delay.dist, RULE_DIST_UNIFORM);
	rule_set_free(rs);
}

Test(rule, delay_jitter_defaults_to_uniform)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "tcp port 8080 => delay 100ms jitter 20ms");

	cr_assert_eq(r->actions[0].u.delay.delay_ns, 100 * MS);
	cr_assert_eq(r->actions[0].u.delay.jitter_ns, 20 * MS);
	cr_assert_eq(r->actions[0].u.delay.dist, RULE_DIST_UNIFORM);
	rule_set_free(rs);

	r = parse_one(&rs, "udp => delay 1.5s jitter 250us distribution pareto");
	cr_assert_eq(r->actions[0].u.delay.delay_ns, 1500 * MS);
	cr_assert_eq(r->actions[0].u.delay.jitter_ns, 250000);
	cr_assert_eq(r->actions[0].u.delay.dist, RULE_DIST_PARETO);
	rule_set_free(rs);
}

Test(rule, reorder_default_timeout)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "udp dst port 5000 => reorder 4");

	cr_assert_eq(r->actions[0].type, RULE_ACT_REORDER);
	cr_assert_eq(r->actions[0].u.reorder.count, 4);
	cr_assert_eq(r->actions[0].u.reorder.timeout_ns, 100 * MS);
	rule_set_free(rs);

	r = parse_one(&rs, "udp => reorder 3 timeout 2s 25%");
	cr_assert_eq(r->actions[0].u.reorder.count, 3);
	cr_assert_eq(r->actions[0].u.reorder.timeout_ns, 2 * SEC);
	cr_assert_eq(r->actions[0].prob_ppm, 250000);
	rule_set_free(rs);
}

Test(rule, duplicate_copies_and_probability)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "udp dst port 5000 => duplicate");

	cr_assert_eq(r->actions[0].type, RULE_ACT_DUPLICATE);
	cr_assert_eq(r->actions[0].u.duplicate.copies, 1);
	cr_assert_eq(r->actions[0].prob_ppm, RULE_PPM_ALWAYS);
	rule_set_free(rs);

	/* A bare integer is the copy count, the percentage the chance. */
	r = parse_one(&rs, "udp dst port 5000 => duplicate 2 50%");
	cr_assert_eq(r->actions[0].u.duplicate.copies, 2);
	cr_assert_eq(r->actions[0].prob_ppm, 500000);
	rule_set_free(rs);
}

Test(rule, empty_filter_matches_all)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "=> delay 10ms");

	cr_assert_str_eq(r->filter_text, "");
	cr_assert_null(r->filter);
	cr_assert_eq(r->actions[0].u.delay.delay_ns, 10 * MS);
	rule_set_free(rs);
}

Test(rule, two_actions_keep_order)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "tcp dst port 8080 => drop 10%, delay 5ms");

	cr_assert_eq(r->n_actions, 2);
	cr_assert_eq(r->actions[0].type, RULE_ACT_DROP);
	cr_assert_eq(r->actions[0].prob_ppm, 100000);
	cr_assert_eq(r->actions[1].type, RULE_ACT_DELAY);
	cr_assert_eq(r->actions[1].u.delay.delay_ns, 5 * MS);
	cr_assert_eq(r->actions[1].prob_ppm, RULE_PPM_ALWAYS);
	rule_set_free(rs);
}

Test(rule, if_attached_to_action)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "tcp port 8080 => drop if state LAST_ACK");

	cr_assert_eq(r->n_actions, 1);
	cr_assert_eq(r->actions[0].type, RULE_ACT_DROP);
	cr_assert_eq(r->n_conds, 1);
	cr_assert_eq(r->conds[0].type, RULE_COND_STATE);
	cr_assert_eq(r->conds[0].state, TCPSTATE_LAST_ACK);
	cr_assert_not(r->conds[0].negate);
	rule_set_free(rs);

	r = parse_one(&rs, "tcp port 8080 => delay 3s if first-data");
	cr_assert_eq(r->actions[0].u.delay.delay_ns, 3 * SEC);
	cr_assert_eq(r->n_conds, 1);
	cr_assert_eq(r->conds[0].type, RULE_COND_FIRST_DATA);
	rule_set_free(rs);

	r = parse_one(&rs, "tcp => drop if retransmission");
	cr_assert_eq(r->n_conds, 1);
	cr_assert_eq(r->conds[0].type, RULE_COND_RETRANSMISSION);
	rule_set_free(rs);

	r = parse_one(&rs, "tcp port 8080 => delay 1500ms if fin");
	cr_assert_eq(r->actions[0].u.delay.delay_ns, 1500 * MS);
	cr_assert_eq(r->conds[0].type, RULE_COND_FIN);
	rule_set_free(rs);
}

Test(rule, count_is_alias_of_first)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "tcp port 8080 => drop if syn-ack, count 2");

	cr_assert_eq(r->n_actions, 1);
	cr_assert_eq(r->n_conds, 1);
	cr_assert_eq(r->conds[0].type, RULE_COND_SYN_ACK);
	cr_assert_eq(r->first, 2);
	rule_set_free(rs);
}

Test(rule, all_qualifiers)
{
	struct rule_set *rs;
	const struct rule *r =
		parse_one(&rs, "udp => drop 5%, in, every 3, first 100, after 5s, for 10s");

	cr_assert_eq(r->actions[0].prob_ppm, 50000);
	cr_assert_eq(r->dir_mask, 1u << PKT_DIR_IN);
	cr_assert_eq(r->every, 3);
	cr_assert_eq(r->first, 100);
	cr_assert_eq(r->after_ns, 5 * SEC);
	cr_assert_eq(r->for_ns, 10 * SEC);
	rule_set_free(rs);

	r = parse_one(&rs, "udp => drop, in, out, fwd");
	cr_assert_eq(r->dir_mask, (1u << PKT_DIR_IN) | (1u << PKT_DIR_OUT) | (1u << PKT_DIR_FWD));
	rule_set_free(rs);
}

Test(rule, rate_with_limit)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "ip6 and udp => rate 1mbit limit 50");

	cr_assert_eq(r->actions[0].type, RULE_ACT_RATE);
	cr_assert_eq(r->actions[0].u.rate.bits_per_sec, 1000000);
	cr_assert_eq(r->actions[0].u.rate.limit, 50);
	rule_set_free(rs);

	r = parse_one(&rs, "udp => rate 100kbit");
	cr_assert_eq(r->actions[0].u.rate.bits_per_sec, 100000);
	cr_assert_eq(r->actions[0].u.rate.limit, 1000);
	rule_set_free(rs);
}

Test(rule, rate_units)
{
	static const struct {
		const char *rate;
		uint64_t bps;
	} cases[] = {
		{ "500bit", 500 },	    { "100kbit", 100000 },
		{ "1mbit", 1000000 },	    { "1gbit", 1000000000 },
		{ "8bps", 64 },		    { "1kbps", 8000 },
		{ "1mbps", 8000000 },	    { "1500", 1500 },
		{ "1.5Mbit", 1500000 },	    { "1kibit", 1024 },
		{ "2tbit", 2000000000000ull },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[64];
		struct rule_set *rs;
		const struct rule *r;

		snprintf(line, sizeof(line), "=> rate %s", cases[i].rate);
		r = parse_one(&rs, line);
		cr_assert_eq(r->actions[0].u.rate.bits_per_sec, cases[i].bps, "%s", line);
		rule_set_free(rs);
	}
}

Test(rule, small_probabilities)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "=> drop 0.5%, corrupt 0.0001%, delay 1ms 100%");

	cr_assert_eq(r->actions[0].prob_ppm, 5000);
	cr_assert_eq(r->actions[1].prob_ppm, 1);
	cr_assert_eq(r->actions[2].prob_ppm, RULE_PPM_ALWAYS);
	rule_set_free(rs);
}

Test(rule, text_is_trimmed_without_comment)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "  \tudp   =>  drop  # why not\t");

	cr_assert_str_eq(r->text, "udp   =>  drop");
	cr_assert_str_eq(r->filter_text, "udp");
	rule_set_free(rs);
}

Test(rule, print_canonical)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "udp dst port 5000 => drop 30%", "udp dst port 5000 => drop 30%" },
		{ "=> delay 10ms", "=> delay 10ms" },
		{ "  =>delay 1000ms", "=> delay 1s" },
		{ "tcp port 8080 => delay 1500ms if fin", "tcp port 8080 => delay 1500ms, if fin" },
		{ "tcp port 8080 => drop if syn-ack, count 2",
		  "tcp port 8080 => drop, first 2, if syn-ack" },
		{ "udp => for 10s, after 5000ms, first 100, every 3, in, drop 5%",
		  "udp => drop 5%, in, every 3, first 100, after 5s, for 10s" },
		{ "udp => delay 1.5ms", "udp => delay 1500us" },
		{ "udp => delay 120s", "udp => delay 2m" },
		{ "udp => delay 5ms jitter 0ms distribution normal", "udp => delay 5ms" },
		{ "udp => drop 0.50%", "udp => drop 0.5%" },
		{ "udp => drop 100%", "udp => drop" },
		{ "udp => duplicate 1", "udp => duplicate" },
		{ "udp => rate 8bps", "udp => rate 64bit" },
		{ "udp => rate 1000kbit limit 1000", "udp => rate 1mbit" },
		{ "udp => rate 1kibit", "udp => rate 1024bit" },
		{ "udp => reorder 4 timeout 100ms", "udp => reorder 4" },
		{ "tcp => drop if not state last-ack and peer-state Time_Wait",
		  "tcp => drop, if not state LAST_ACK and peer-state TIME_WAIT" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		struct rule_set *rs;
		const struct rule *r = parse_one(&rs, cases[i].in);
		int n = rule_print(r, buf, sizeof(buf));

		cr_assert_str_eq(buf, cases[i].out, "'%s'", cases[i].in);
		cr_assert_eq(n, (int)strlen(cases[i].out));
		rule_set_free(rs);
	}
}

Test(rule, print_truncates_like_snprintf)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "udp dst port 5000 => drop 30%");
	char buf[8];

	cr_assert_eq(rule_print(r, NULL, 0), 29);
	cr_assert_eq(rule_print(r, buf, sizeof(buf)), 29);
	cr_assert_str_eq(buf, "udp dst");
	rule_set_free(rs);
}

static void check_round_trip(const char *line)
{
	struct rule_set *a, *b;
	const struct rule *ra = parse_one(&a, line), *rb;
	char p1[512], p2[512];

	cr_assert_lt(rule_print(ra, p1, sizeof(p1)), (int)sizeof(p1));
	rb = parse_one(&b, p1);
	cr_assert(rule_equal(ra, rb), "'%s' printed as '%s' parses differently", line, p1);
	cr_assert_str_eq(ra->name, rb->name, "'%s' printed as '%s'", line, p1);
	cr_assert_eq(ra->named, rb->named, "'%s' printed as '%s'", line, p1);
	rule_print(rb, p2, sizeof(p2));
	cr_assert_str_eq(p1, p2, "printing '%s' is not stable", line);
	rule_set_free(a);
	rule_set_free(b);
}

Test(rule, round_trip)
{
	for (size_t i = 0; i < sizeof(good_lines) / sizeof(good_lines[0]); i++)
		check_round_trip(good_lines[i]);
	for (size_t i = 0; i < sizeof(extra_lines) / sizeof(extra_lines[0]); i++)
		check_round_trip(extra_lines[i]);
}

Test(rule, equal_sees_differences)
{
	static const char *const pairs[][2] = {
		{ "udp => drop", "tcp => drop" },
		{ "udp => drop", "udp => drop 50%" },
		{ "udp => drop, delay 1ms", "udp => delay 1ms, drop" },
		{ "udp => drop, in", "udp => drop, out" },
		{ "udp => drop if syn", "udp => drop if not syn" },
		{ "tcp => drop if state LAST_ACK", "tcp => drop if state CLOSING" },
		{ "udp => rate 1mbit", "udp => rate 1mbit limit 5" },
		{ "udp => drop, every 2", "udp => drop, first 2" },
		{ "tcp => segment 10", "tcp => segment 10 gap 1ms" },
		{ "tcp => segment 10 gap 1ms", "tcp => segment 10 gap 2ms" },
		{ "tcp => segment 10", "tcp => segment 10 vary 3" },
		{ "tcp => segment 10 vary 2", "tcp => segment 10 vary 3" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct rule_set *a, *b;
		const struct rule *ra = parse_one(&a, pairs[i][0]);
		const struct rule *rb = parse_one(&b, pairs[i][1]);

		cr_assert_not(rule_equal(ra, rb), "'%s' vs '%s'", pairs[i][0], pairs[i][1]);
		cr_assert(rule_equal(ra, ra));
		rule_set_free(a);
		rule_set_free(b);
	}
}

static const struct {
	const char *line;
	int col;
	const char *msg;
} bad_lines[] = {
	{ "tcp => reset, from-byte 0", 25, "'from-byte 0' out of range (1 to 4294967295)" },
	{ "tcp => segment 10 gap 1ms gap 2ms", 27, "'gap' given twice" },
	{ "tcp => segment 10 gap", 19, "'gap' needs" },
	{ "tcp => segment 10 vary 1 vary 2", 26, "'vary' given twice" },
	{ "tcp => segment 10 vary 10", 24, "'vary 10' out of range (1 to 9)" },
	{ "tcp => segment 10 vary 0", 24, "'vary 0' out of range (1 to 9)" },
	{ "tcp => reset, from-byte 4294967296", 25, "'from-byte 4294967296' out of range" },
	{ "tcp => reset, from-byte", 15, "'from-byte' needs a number (1 to 4294967295)" },
	{ "tcp => reset, from-byte 10k", 25, "'from-byte' needs a number, got '10k'" },
	{ "tcp => reset, from-byte 1, from-byte 2", 28, "'from-byte' given twice" },
	{ "tcp => reset, conn-after 1s, conn-after 2s", 30, "'conn-after' given twice" },
	{ "tcp => reset, conn-after", 15, "'conn-after' needs a duration" },
	{ "tcp => reset, conn", 15, "'conn' needs a percentage of connections, e.g. conn 50%" },
	{ "tcp => reset, conn 50", 15, "'conn' needs a percentage of connections" },
	{ "tcp => reset, conn 150%", 20, "bad percentage '150%' after 'conn'" },
	{ "tcp => reset, conn 5%, conn 6%", 24, "'conn' given twice" },
	{ "tcp => reset, conn 5% key x", 27, "'key' needs a number, got 'x'" },
	{ "udp dst prot 5000 => drop", 1, "bad filter 'udp dst prot 5000': unknown host 'prot'" },
	{ "   (udp => drop", 4, "bad filter '(udp': " },
	{ "udp => dorp", 8,
	  "unknown action 'dorp' (expected drop, delay, reorder, duplicate, corrupt, rate, "
	  "accept, slot, profile, reset, segment, or a qualifier in, out, fwd, every, first, count, after, conn-after, for, from-byte, conn, if)" },
	{ "udp drop", 9, "missing '=>'" },
	{ "drop 30%", 1, "missing '=>' before the actions" },
	{ "udp => in", 5, "rule has no action" },
	{ "udp =>", 7, "expected an action after '=>'" },
	{ "udp => drop 0%", 13, "must be greater than 0%" },
	{ "udp => drop 150%", 13, "must be at most 100%" },
	{ "udp => drop x%", 13, "bad probability 'x%'" },
	{ "udp => drop 1.00001%", 13, "at most 4 decimals" },
	{ "udp => drop 50%, delay 1ms 20% 30%", 32, "probability given twice" },
	{ "udp => delay 50", 14, "missing unit" },
	{ "udp => delay 5parsec", 14, "unknown unit" },
	{ "udp => delay -5ms", 14, "negative" },
	{ "udp => delay 99999999999999999999s", 14, "too large" },
	{ "udp => delay 18446744073709551616ns", 14, "too large" },
	{ "udp => delay 0.5ns", 14, "not a whole number" },
	{ "udp => delay", 8, "'delay' needs a duration" },
	{ "udp => delay 5ms distribution normal", 18, "'distribution' needs 'jitter'" },
	{ "udp => delay 5ms jitter 1ms distribution gauss", 42, "unknown distribution 'gauss'" },
	{ "udp => reorder 1", 16, "'reorder 1' out of range (2 to 1024)" },
	{ "udp => reorder 1025", 16, "out of range" },
	{ "udp => reorder", 8, "'reorder' needs a number" },
	{ "udp => reorder 3 timeout 0ms", 26, "greater than 0" },
	{ "udp => duplicate 0", 18, "'duplicate 0' out of range" },
	{ "udp => duplicate 17", 18, "out of range" },
	{ "udp => duplicate, duplicate 2", 19, "'duplicate' given twice" },
	{ "udp => drop, delay 1ms, drop 5%", 25, "'drop' given twice" },
	{ "udp => accept, drop", 16, "'accept' cannot be combined" },
	{ "udp => drop, accept", 14, "'accept' cannot be combined" },
	{ "udp => rate", 8, "'rate' needs a rate" },
	{ "udp => rate 0kbit", 13, "greater than 0" },
	{ "udp => rate -1mbit", 13, "negative" },
	{ "udp => rate 1furlong", 13, "unknown unit" },
	{ "udp => rate 99999999999tbit", 13, "too large" },
	{ "udp => rate 1mbit limit 0", 25, "'limit 0' out of range" },
	{ "tcp => drop if state FOO", 22, "unknown TCP state 'FOO' (expected CLOSED, LISTEN," },
	{ "tcp => drop if state", 16, "'state' needs a TCP state" },
	{ "tcp => drop if synack", 16, "unknown condition 'synack'" },
	{ "tcp => drop if", 13, "expected a condition after 'if'" },
	{ "tcp => drop if syn and", 20, "expected a condition after 'and'" },
	{ "tcp => drop if not", 16, "expected a condition after 'not'" },
	{ "tcp => drop if syn fin", 20, "expected 'and' or ','" },
	{ "tcp => drop if syn and syn and syn and syn and syn and syn and syn and syn and syn",
	  80, "too many conditions" },
	{ "udp => drop,", 12, "trailing ','" },
	{ "udp => drop, ", 12, "trailing ','" },
	{ "udp => , drop", 8, "empty item" },
	{ "udp => drop,, in", 13, "empty item" },
	{ "udp => drop, every 0", 20, "'every 0' out of range" },
	{ "udp => drop, every", 14, "'every' needs a number" },
	{ "udp => drop, every x", 20, "'every' needs a number, got 'x'" },
	{ "udp => drop, every 4294967296", 20, "out of range" },
	{ "udp => drop, first 0", 20, "out of range" },
	{ "udp => drop, count 3, first 4", 23, "'first' given twice" },
	{ "udp => drop, in, in", 18, "'in' given twice" },
	{ "udp => drop, in out", 17, "unexpected 'out' after 'in'" },
	{ "udp => drop, for 0s", 18, "'for' needs a duration > 0" },
	{ "udp => drop, after 1s, after 2s", 24, "'after' given twice" },
	{ "udp => drop 30", 13, "unexpected '30' in 'drop'" },
	{ "udp => drop => delay 1ms", 13, "unexpected '=>'" },
	{ "\tudp => drop, every 0 # comment", 21, "out of range" },
	{ "1x: udp => drop", 1, "bad rule name '1x' (a name is a letter, then letters, digits" },
	{ "  -x: => drop", 3, "bad rule name '-x'" },
	{ ": udp => drop", 1, "bad rule name ''" },
	{ "a/b: udp => drop", 1, "bad rule name 'a/b'" },
	{ "x12345678901234567890123456789012345678901234567890123456789012345: => drop", 1,
	  "bad rule name 'x12345678901234567890123456789012345678901234567890123456789...'" },
	/* Raw IP has no Ethernet header: refused by libpcap as before names, not taken for one. */
	{ "ether host 00:11:22:33:44:55 => drop", 1,
	  "bad filter 'ether host 00:11:22:33:44:55': ethernet addresses supported only" },
	{ "mac: ether host 00:11:22:33:44:55 => drop", 6,
	  "bad filter 'ether host 00:11:22:33:44:55': ethernet addresses supported only" },
	{ "name: udp => dorp", 14, "unknown action 'dorp'" },
	{ "name:udp => drop", 1, "bad filter 'name:udp'" },
	{ "name: name2: udp => drop", 7, "bad filter 'name2: udp'" },
};

Test(rule, bad_lines)
{
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		struct rule_set *rs = rule_set_new();
		struct rule_error err;
		int ret;

		ret = rule_set_add_line(rs, bad_lines[i].line, "bad.rules", 7, &err);
		cr_assert_eq(ret, -EINVAL, "'%s' parsed", bad_lines[i].line);
		cr_assert_eq(rule_set_count(rs), 0);
		cr_assert_str_eq(err.file, "bad.rules");
		cr_assert_eq(err.line, 7);
		cr_assert_eq(err.col, bad_lines[i].col, "'%s': col %d, want %d (%s)",
			     bad_lines[i].line, err.col, bad_lines[i].col, err.msg);
		cr_assert_not_null(strstr(err.msg, bad_lines[i].msg), "'%s': '%s' lacks '%s'",
				   bad_lines[i].line, err.msg, bad_lines[i].msg);
		rule_set_free(rs);
	}
}

Test(rule, bad_line_leaves_set_unchanged)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	cr_assert_eq(rule_set_add_line(rs, "udp => drop", "x", 1, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "udp => dorp", "x", 2, &err), -EINVAL);
	cr_assert_eq(rule_set_count(rs), 1);
	cr_assert_eq(rule_set_add_line(rs, "tcp => drop", "x", 3, &err), 0);
	cr_assert_eq(rule_set_count(rs), 2);
	cr_assert_eq(rule_set_get(rs, 1)->index, 1);
	cr_assert_null(rule_set_get(rs, 2));
	rule_set_free(rs);
}

Test(rule, blank_and_comment_lines_add_nothing)
{
	static const char *const lines[] = { "", "   ", "\t", "# udp => drop",
					     "   # indented comment", "#" };
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "x", 1, &err), 0, "'%s'", lines[i]);
	cr_assert_eq(rule_set_count(rs), 0);
	rule_set_free(rs);
}

/* Writes text to a new temp file; the caller unlinks path. */
static void write_temp(char path[static 32], const char *text)
{
	int fd;

	strcpy(path, "/tmp/rule_test.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

Test(rule, load_file_bad_line_three)
{
	char path[32];
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	int ret;

	cr_assert_eq(rule_set_add_line(rs, "icmp => drop", "cli", 1, &err), 0);
	write_temp(path, "udp => drop\n"
			 "tcp => delay 5ms\n"
			 "udp => drop, every 0\n"
			 "udp => corrupt\n");
	ret = rule_set_load_file(rs, path, &err);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_str_eq(err.file, path);
	cr_assert_eq(err.line, 3);
	cr_assert_eq(err.col, 20);
	cr_assert_str_eq(err.msg, "'every 0' out of range (1 to 4294967295)");
	cr_assert_eq(rule_set_count(rs), 1);
	cr_assert_str_eq(rule_set_get(rs, 0)->filter_text, "icmp");
	unlink(path);
	rule_set_free(rs);
}

Test(rule, load_file_golden_errors)
{
	/* One file per line: the exact "file:line:col: msg" the CLI prints. */
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "# header\n\nudp dst prot 5000 => drop\n",
		  "%s:3:1: bad filter 'udp dst prot 5000': unknown host 'prot'" },
		{ "udp => drop\n  udp => dorp 30%\n",
		  "%s:2:10: unknown action 'dorp' (expected drop, delay, reorder, duplicate, "
		  "corrupt, rate, accept, slot, profile, reset, segment, or a qualifier in, out, fwd, every, "
		  "first, count, "
		  "after, conn-after, for, from-byte, conn, if)" },
		{ "udp => delay 50\n", "%s:1:14: bad duration '50' after 'delay': missing unit "
				       "(ns, us, ms, s or m)" },
		{ "udp => drop\r\nudp => drop 150%\r\n",
		  "%s:2:13: bad probability '150%%': must be at most 100%%" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[32], got[1024], want[1024];
		struct rule_set *rs = rule_set_new();
		struct rule_error err;

		write_temp(path, cases[i].text);
		cr_assert_eq(rule_set_load_file(rs, path, &err), -EINVAL);
		snprintf(got, sizeof(got), "%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
		snprintf(want, sizeof(want), cases[i].want, path);
		cr_assert_str_eq(got, want);
		cr_assert_eq(rule_set_count(rs), 0);
		unlink(path);
		rule_set_free(rs);
	}
}

Test(rule, load_file_good)
{
	char path[32], *text, *p;
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	const struct rule *r;
	/* A line of RULE_MAX_LINE bytes, its '\r' included: the longest there may be. */
	size_t pad = RULE_MAX_LINE - strlen("=> delay 10ms, every 2 #\r");

	text = malloc(pad + 256);
	cr_assert_not_null(text);
	p = text + sprintf(text, "# rules\n\n   \nudp => drop 30%%   # lossy\n"
				 "\t# indented\n=> delay 10ms, every 2 #");
	memset(p, 'x', pad);
	p += pad;
	strcpy(p, "\r\ntcp port 8080 => drop if syn-ack, count 2");
	write_temp(path, text);
	free(text);

	cr_assert_eq(rule_set_add_line(rs, "icmp => drop", "cli", 1, &err), 0);
	cr_assert_eq(rule_set_load_file(rs, path, &err), 0, "%d:%d: %s", err.line, err.col,
		     err.msg);
	cr_assert_eq(rule_set_count(rs), 4);

	r = rule_set_get(rs, 1);
	cr_assert_eq(r->index, 1);
	cr_assert_eq(r->line, 4);
	cr_assert_str_eq(r->file, path);
	cr_assert_str_eq(r->text, "udp => drop 30%");

	r = rule_set_get(rs, 2);
	cr_assert_eq(r->index, 2);
	cr_assert_eq(r->line, 6);
	cr_assert_eq(r->every, 2);
	cr_assert_str_eq(r->text, "=> delay 10ms, every 2");

	r = rule_set_get(rs, 3);
	cr_assert_eq(r->index, 3);
	cr_assert_eq(r->line, 7);
	cr_assert_eq(r->first, 2);
	unlink(path);
	rule_set_free(rs);
}

Test(rule, load_file_missing)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	cr_assert_eq(rule_set_load_file(rs, "/nonexistent/faultline.rules", &err), -ENOENT);
	cr_assert_eq(err.line, 0);
	cr_assert_str_eq(err.file, "/nonexistent/faultline.rules");
	cr_assert_str_eq(err.msg, "cannot open: No such file or directory");
	cr_assert_eq(rule_set_count(rs), 0);
	rule_set_free(rs);
}

/* ---- limits, and messages that are never cut ----------------------------- */

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && !strcmp(s + n - m, tail);
}

Test(rule, long_user_text_is_shortened_not_the_reason)
{
	/* %s is a 5000-byte word; the reason after it must arrive whole. */
	static const struct {
		const char *fmt, *prefix, *tail;
	} cases[] = {
		{ "udp => %s", "", "...' (expected drop, delay, reorder, duplicate, corrupt, "
				       "rate, accept, slot, profile, reset, segment, or a qualifier in, out, fwd, "
				       "every, first, "
				       "count, after, conn-after, for, from-byte, conn, if)" },
		{ "udp => delay 5%s", "5", "...' after 'delay': unknown unit (expected ns, us, "
					      "ms, s or m)" },
		{ "udp => drop, every %s", "", "...'" },
		{ "udp => drop %s", "", "...' in 'drop' (expected correlation, P%, 'if' or ',')" },
		{ "udp => rate 1%s", "1", "...': unknown unit (expected bit, kbit, mbit, gbit, "
					     "tbit, or bps, kbps, mbps, gbps, tbps for bytes)" },
		{ "tcp => drop if state %s", "", "...' (expected CLOSED, LISTEN, SYN_SENT, "
						     "SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, "
						     "FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, "
						     "TIME_WAIT)" },
		{ "tcp => drop if %s", "", "...' (expected syn, syn-ack, fin, rst, ack-only, "
					       "data, state S, peer-state S, first-data, "
					       "retransmission, out-of-order, dup-ack, stale)" },
		{ "tcp => drop if syn %s", "", "...'" },
		{ "udp => delay 1ms jitter 1ms distribution %s", "",
		  "...' (expected uniform, normal, pareto or paretonormal)" },
		{ "udp => drop, in %s", "", "...' after 'in' (separate items with ',')" },
	};
	char *word = repeat('x', 5000), *line = malloc(6000);

	cr_assert_not_null(line);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rule_set *rs = rule_set_new();
		struct rule_error err;
		char want[128];

		snprintf(line, 6000, cases[i].fmt, word);
		cr_assert_eq(rule_set_add_line(rs, line, "t", 1, &err), -EINVAL, "%s", cases[i].fmt);
		cr_assert_lt(strlen(err.msg), sizeof(err.msg) - 1, "%s: '%s'", cases[i].fmt, err.msg);
		cr_assert(ends_with(err.msg, cases[i].tail), "%s: '%s'", cases[i].fmt, err.msg);
		/* The quote: the word's first 60 bytes, then "...". */
		snprintf(want, sizeof(want), "'%s%.*s...'", cases[i].prefix,
			 60 - (int)strlen(cases[i].prefix), word);
		cr_assert_not_null(strstr(err.msg, want), "%s: '%s' lacks %s", cases[i].fmt, err.msg,
				   want);
		rule_set_free(rs);
	}
	free(word);
	free(line);
}

Test(rule, filter_error_keeps_libpcap_reason)
{
	/* Nested so deep that libpcap's parser gives up: its reason must survive. */
	char *open = repeat('(', 20000), *close = repeat(')', 20000), *line, *want;
	char errbuf[PCAP_ERRBUF_SIZE], *expr;
	struct rule_set *rs = rule_set_new();
	struct bpf_program prog;
	struct rule_error err;
	pcap_t *pcap;

	cr_assert(asprintf(&expr, "%sudp%s", open, close) > 0);
	cr_assert(asprintf(&line, "%s => drop", expr) > 0);
	pcap = pcap_open_dead(DLT_RAW, 262144);
	cr_assert_lt(pcap_compile(pcap, &prog, expr, 1, PCAP_NETMASK_UNKNOWN), 0);
	snprintf(errbuf, sizeof(errbuf), "%s", pcap_geterr(pcap));
	pcap_close(pcap);
	cr_assert(asprintf(&want, "bad filter '%.60s...': %s", open, errbuf) > 0);

	cr_assert_eq(rule_set_add_line(rs, line, "--rule 1", 1, &err), -EINVAL);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.col, 1);
	cr_assert_eq(rule_set_count(rs), 0);
	rule_set_free(rs);
	free(open);
	free(close);
	free(expr);
	free(line);
	free(want);
}

Test(rule, print_alloc_is_whole)
{
	/* Longer than the 1024 bytes 'check' used to print. */
	struct rule_set *rs, *back;
	char *filter = malloc(8000), *line, *text;
	const struct rule *r;
	size_t n = 0;

	cr_assert_not_null(filter);
	for (int i = 0; n < 3000; i++)
		n += (size_t)sprintf(filter + n, "%sudp port %d", i ? " or " : "", 1000 + i);
	cr_assert(asprintf(&line, "%s => drop 30%%, delay 5ms jitter 1ms, in, every 3", filter) > 0);
	r = parse_one(&rs, line);
	text = rule_print_alloc(r);
	cr_assert_not_null(text);
	cr_assert_eq(strlen(text), (size_t)rule_print(r, NULL, 0));
	cr_assert(ends_with(text, " => drop 30%, delay 5ms jitter 1ms, in, every 3"), "%s",
		  text + strlen(text) - 60);
	cr_assert_eq(strncmp(text, filter, strlen(filter)), 0);
	r = parse_one(&back, text);
	cr_assert(rule_equal(r, rule_set_get(rs, 0)));
	free(text);
	free(line);
	free(filter);
	rule_set_free(rs);
	rule_set_free(back);
}

Test(rule, line_limit)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	char path[32], *line, *text;

	/* RULE_MAX_LINE bytes pass, one more is refused where it starts. */
	line = repeat(' ', RULE_MAX_LINE + 1);
	memcpy(line, "udp => drop #", 13);
	line[RULE_MAX_LINE] = '\0';
	cr_assert_eq(rule_set_add_line(rs, line, "--rule 1", 1, &err), 0, "%s", err.msg);
	line[RULE_MAX_LINE] = ' ';
	cr_assert_eq(rule_set_add_line(rs, line, "--rule 2", 1, &err), -EINVAL);
	cr_assert_str_eq(err.file, "--rule 2");
	cr_assert_eq(err.col, RULE_MAX_LINE + 1);
	cr_assert_str_eq(err.msg, "line longer than 65536 bytes");
	cr_assert_eq(rule_set_count(rs), 1);

	/* In a file: the line and column of the first byte too many. */
	cr_assert(asprintf(&text, "tcp => drop\n# next line is too long\n%s\nudp => drop\n", line) > 0);
	write_temp(path, text);
	cr_assert_eq(rule_set_load_file(rs, path, &err), -EINVAL);
	cr_assert_str_eq(err.file, path);
	cr_assert_eq(err.line, 3);
	cr_assert_eq(err.col, RULE_MAX_LINE + 1);
	cr_assert_str_eq(err.msg, "line longer than 65536 bytes");
	cr_assert_eq(rule_set_count(rs), 1);
	unlink(path);
	free(text);
	free(line);
	rule_set_free(rs);
}

Test(rule, file_size_limit)
{
	/* Comment lines of 1024 bytes with their '\n': exactly RULE_MAX_FILE passes. */
	size_t lines = RULE_MAX_FILE / 1024;
	char *text = malloc(RULE_MAX_FILE + 64), *p = text, path[32];
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	cr_assert_not_null(text);
	for (size_t i = 0; i < lines; i++) {
		memset(p, '#', 1023);
		p[1023] = '\n';
		p += 1024;
	}
	memcpy(text, "udp => drop", 11);
	*p = '\0';
	write_temp(path, text);
	cr_assert_eq(rule_set_load_file(rs, path, &err), 0, "%d:%d: %s", err.line, err.col,
		     err.msg);
	cr_assert_eq(rule_set_count(rs), 1);
	unlink(path);

	/* One byte more: refused at that byte, nothing added. */
	strcpy(p, "u");
	write_temp(path, text);
	cr_assert_eq(rule_set_load_file(rs, path, &err), -EFBIG);
	cr_assert_eq(err.line, (int)lines + 1);
	cr_assert_eq(err.col, 1);
	cr_assert_str_eq(err.msg, "rule file longer than 1048576 bytes");
	cr_assert_eq(rule_set_count(rs), 1);
	unlink(path);
	free(text);
	rule_set_free(rs);
}

Test(rule, rule_count_limit)
{
	struct rule_set *rs = rule_set_new(), *fs = rule_set_new();
	char path[32], *text = malloc(20 * (RULE_MAX_RULES + 2)), *p = text;
	struct rule_error err;

	for (int i = 0; i < RULE_MAX_RULES; i++)
		cr_assert_eq(rule_set_add_line(rs, "udp => drop", "x", i + 1, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "  tcp => drop", "--rule 10001", 1, &err), -E2BIG);
	cr_assert_str_eq(err.file, "--rule 10001");
	cr_assert_eq(err.line, 1);
	cr_assert_eq(err.col, 3);
	cr_assert_str_eq(err.msg, "too many rules (at most 10000 in a set)");
	cr_assert_eq(rule_set_count(rs), RULE_MAX_RULES);
	/* Blank lines and comments still pass: they add no rule. */
	cr_assert_eq(rule_set_add_line(rs, "# more", "x", 1, &err), 0);

	/* A file: located at the first rule too many, and the set stays as it was. */
	cr_assert_not_null(text);
	p += sprintf(p, "# header\n");
	for (int i = 0; i <= RULE_MAX_RULES; i++)
		p += sprintf(p, "udp => drop\n");
	write_temp(path, text);
	cr_assert_eq(rule_set_add_line(fs, "icmp => drop", "x", 1, &err), 0);
	cr_assert_eq(rule_set_load_file(fs, path, &err), -E2BIG);
	cr_assert_str_eq(err.file, path);
	cr_assert_eq(err.line, RULE_MAX_RULES + 1);
	cr_assert_eq(err.col, 1);
	cr_assert_str_eq(err.msg, "too many rules (at most 10000 in a set)");
	cr_assert_eq(rule_set_count(fs), 1);
	unlink(path);
	free(text);
	rule_set_free(rs);
	rule_set_free(fs);
}

Test(rule, load_file_not_a_file)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	cr_assert_eq(rule_set_load_file(rs, "/tmp", &err), -EISDIR);
	cr_assert_str_eq(err.file, "/tmp");
	cr_assert_eq(err.line, 0);
	cr_assert_str_eq(err.msg, "is a directory, not a rule file");

	/* Opens, but reading fails (no page at address 0): errno says why. */
	cr_assert_eq(rule_set_load_file(rs, "/proc/self/mem", &err), -EIO);
	cr_assert_eq(err.line, 1);
	cr_assert_eq(err.col, 0);
	cr_assert_str_eq(err.msg, "read error: Input/output error");

	cr_assert_eq(rule_set_count(rs), 0);
	rule_set_free(rs);
}

Test(rule, load_file_nul_byte)
{
	static const char text[] = "udp => drop\nudp => d\0rop\n";
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	char path[32];
	int fd;

	strcpy(path, "/tmp/rule_test.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(rule_set_load_file(rs, path, &err), -EINVAL);
	cr_assert_eq(err.line, 2);
	cr_assert_eq(err.col, 9);
	cr_assert_str_eq(err.msg, "NUL byte in rule line");
	cr_assert_eq(rule_set_count(rs), 0);
	unlink(path);
	rule_set_free(rs);
}

Test(rule, parse_duration)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} good[] = {
		{ "50ms", 50 * MS }, { "1.5s", 1500 * MS }, { "100us", 100000 },
		{ "7ns", 7 },	     { "2m", 120 * SEC },   { "0.001s", MS },
		{ "0ms", 0 },	     { "1.50s", 1500 * MS },
	};
	/* What the CLI prints after "--time-wait 'X': ". */
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "5", "missing unit (ns, us, ms, s or m)" },
		{ "", "expected a number with a unit, e.g. 50ms or 1.5s" },
		{ "ms", "expected a number with a unit, e.g. 50ms or 1.5s" },
		{ "-5ms", "negative" },
		{ "5 ms", "unknown unit (expected ns, us, ms, s or m)" },
		{ "1.s", "expected a number with a unit, e.g. 50ms or 1.5s" },
		{ ".5s", "expected a number with a unit, e.g. 50ms or 1.5s" },
		{ "5h", "unknown unit (expected ns, us, ms, s or m)" },
		{ "5MS", "unknown unit (expected ns, us, ms, s or m)" },
		{ "0.1ns", "not a whole number of nanoseconds" },
		{ "1e3ms", "unknown unit (expected ns, us, ms, s or m)" },
		{ "5ms5", "unknown unit (expected ns, us, ms, s or m)" },
		{ "99999999999999999999ns", "too large" },
		{ "307445734562m", "too large" },
	};
	const char *why;
	uint64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(rule_parse_duration(good[i].s, &ns, NULL), 0, "%s", good[i].s);
		cr_assert_eq(ns, good[i].ns, "%s", good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(rule_parse_duration(bad[i].s, &ns, &why), -EINVAL, "'%s'", bad[i].s);
		cr_assert_str_eq(why, bad[i].why, "'%s'", bad[i].s);
		cr_assert_eq(rule_parse_duration(bad[i].s, &ns, NULL), -EINVAL, "'%s'", bad[i].s);
	}
}

Test(rule, names)
{
	cr_assert_str_eq(rule_action_name(RULE_ACT_ACCEPT), "accept");
	cr_assert_str_eq(rule_action_name(RULE_ACT_DROP), "drop");
	cr_assert_str_eq(rule_action_name(RULE_ACT_DELAY), "delay");
	cr_assert_str_eq(rule_action_name(RULE_ACT_REORDER), "reorder");
	cr_assert_str_eq(rule_action_name(RULE_ACT_DUPLICATE), "duplicate");
	cr_assert_str_eq(rule_action_name(RULE_ACT_CORRUPT), "corrupt");
	cr_assert_str_eq(rule_action_name(RULE_ACT_RATE), "rate");
	cr_assert_str_eq(rule_action_name(RULE_ACT__COUNT), "?");
	cr_assert_str_eq(rule_cond_name(RULE_COND_SYN_ACK), "syn-ack");
	cr_assert_str_eq(rule_cond_name(RULE_COND_PEER_STATE), "peer-state");
	cr_assert_str_eq(rule_cond_name(RULE_COND__COUNT), "?");
}

/* ---- filter matching on hand-built packets ---- */

static size_t build_ipv4(uint8_t *b, uint8_t proto, size_t l4_len)
{
	size_t total = 20 + l4_len;

	memset(b, 0, total);
	b[0] = 0x45;
	b[2] = total >> 8;
	b[3] = total & 0xff;
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(b + 16, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	return total;
}

static size_t build_ipv6(uint8_t *b, uint8_t proto, size_t l4_len)
{
	memset(b, 0, 40 + l4_len);
	b[0] = 0x60;
	b[4] = l4_len >> 8;
	b[5] = l4_len & 0xff;
	b[6] = proto;
	b[7] = 64;
	b[23] = 1;	/* ::1 -> ::2 */
	b[39] = 2;
	return 40 + l4_len;
}

static void put_ports(uint8_t *l4, uint16_t sport, uint16_t dport)
{
	l4[0] = sport >> 8;
	l4[1] = sport & 0xff;
	l4[2] = dport >> 8;
	l4[3] = dport & 0xff;
}

static bool matches(const char *filter, const uint8_t *data, size_t len)
{
	char line[128];
	struct rule_set *rs;
	const struct rule *r;
	struct pkt_view v = { .data = data, .len = (uint32_t)len };
	bool m;

	snprintf(line, sizeof(line), "%s => drop", filter);
	r = parse_one(&rs, line);
	m = rule_filter_match(r, &v);
	rule_set_free(rs);
	return m;
}

Test(rule, filter_ipv4_udp_port)
{
	uint8_t pkt[64];
	size_t len = build_ipv4(pkt, 17, 8 + 4);

	put_ports(pkt + 20, 40000, 5000);
	cr_assert(matches("udp dst port 5000", pkt, len));
	cr_assert(matches("udp", pkt, len));
	cr_assert(matches("ip", pkt, len));
	cr_assert(matches("dst host 10.0.0.2", pkt, len));
	cr_assert_not(matches("tcp", pkt, len));
	cr_assert_not(matches("ip6", pkt, len));
	cr_assert_not(matches("udp src port 5000", pkt, len));

	put_ports(pkt + 20, 40000, 5001);
	cr_assert_not(matches("udp dst port 5000", pkt, len));
	cr_assert(matches("udp dst port 5001", pkt, len));
}

Test(rule, filter_ipv6_tcp_port)
{
	uint8_t pkt[80];
	size_t len = build_ipv6(pkt, 6, 20);

	put_ports(pkt + 40, 8080, 51000);
	pkt[40 + 12] = 5 << 4;
	pkt[40 + 13] = 0x12;	/* SYN+ACK */
	cr_assert(matches("tcp port 8080", pkt, len));
	cr_assert(matches("ip6", pkt, len));
	cr_assert(matches("ip6 and tcp", pkt, len));
	cr_assert_not(matches("ip", pkt, len));
	cr_assert_not(matches("udp", pkt, len));
	cr_assert_not(matches("tcp port 8081", pkt, len));
}

Test(rule, filter_icmp)
{
	uint8_t pkt[64];
	size_t len = build_ipv4(pkt, 1, 8);

	pkt[20] = 8;	/* echo request */
	cr_assert(matches("icmp", pkt, len));
	cr_assert_not(matches("udp", pkt, len));
	cr_assert_not(matches("icmp6", pkt, len));
}

Test(rule, empty_filter_matches_everything)
{
	uint8_t v4[64], v6[80];
	size_t l4 = build_ipv4(v4, 17, 8);
	size_t l6 = build_ipv6(v6, 6, 20);
	struct pkt_view junk = { .data = (const uint8_t *)"x", .len = 1 };
	struct pkt_view a = { .data = v4, .len = (uint32_t)l4 };
	struct pkt_view b = { .data = v6, .len = (uint32_t)l6 };
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "=> drop");

	cr_assert(rule_filter_match(r, &a));
	cr_assert(rule_filter_match(r, &b));
	cr_assert(rule_filter_match(r, &junk));
	rule_set_free(rs);
}

Test(rule, filter_short_packet_does_not_match)
{
	uint8_t pkt[64];
	size_t len = build_ipv4(pkt, 17, 8);

	put_ports(pkt + 20, 40000, 5000);
	/* The port lies past the end: BPF must reject, not read beyond. */
	cr_assert_not(matches("udp dst port 5000", pkt, 21));
	cr_assert(matches("udp dst port 5000", pkt, len));
}

/* What the copy range is chosen from: the bytes a rule set can read. */
static uint32_t needed(const char *line)
{
	struct rule_set *rs;
	uint32_t n;

	parse_one(&rs, line);
	n = rule_set_bytes_needed(rs);
	rule_set_free(rs);
	return n;
}

Test(rule, bytes_needed_headers_only)
{
	/* Ports: an IPv4 header of up to 60 bytes, then 4 bytes of ports. */
	cr_assert_leq(needed("tcp port 9 => drop"), 64 + 4);
	cr_assert_geq(needed("tcp port 9 => drop"), 40 + 4);
	cr_assert_leq(needed("udp dst port 5000 => delay 5ms, reorder 4"), 64 + 4);
	cr_assert_eq(needed("=> delay 10ms"), 0);
	cr_assert_leq(needed("icmp => drop 30%"), 40);
	/* tcp[100] reads past a 60-byte IPv4 header: at least 161 bytes. */
	cr_assert_geq(needed("tcp[100] == 1 => drop"), 161);
	cr_assert_lt(needed("tcp[100] == 1 => drop"), 512);
}

Test(rule, bytes_needed_whole_packet)
{
	/* Copies and rewrites need the whole packet. */
	cr_assert_eq(needed("udp => duplicate"), UINT32_MAX);
	cr_assert_eq(needed("udp => drop 10%, corrupt 1%"), UINT32_MAX);
	/* An IPv6 extension-header walk indexes by packet data: unbounded. */
	cr_assert_eq(needed("ip6 protochain 6 => drop"), UINT32_MAX);
}

Test(rule, filter_on_cut_copy_decides_as_on_whole)
{
	uint8_t pkt[1500];
	size_t len = build_ipv4(pkt, 17, 8 + 1400);
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "udp dst port 5000 and greater 1000 => drop");
	struct pkt_view cut;

	put_ports(pkt + 20, 40000, 5000);
	/* 'greater' reads the wire length, not the copy's. */
	cr_assert_eq(pkt_parse_cut(&cut, pkt, 64, len), 0);
	cr_assert(rule_filter_match(r, &cut));
	cr_assert_leq(rule_set_bytes_needed(rs), 64 + 4);
	rule_set_free(rs);
}

/* ---- names ---------------------------------------------------------------- */

Test(rule, name_given_and_automatic)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	char buf[128];

	cr_assert_eq(rule_set_add_line(rs, "udp => drop", "n", 1, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "  slow-db: tcp port 5432 => delay 200ms", "n", 2, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "=> delay 1ms", "n", 3, &err), 0);
	cr_assert_str_eq(rule_set_get(rs, 0)->name, "rule-1");
	cr_assert_not(rule_set_get(rs, 0)->named);
	cr_assert_str_eq(rule_set_get(rs, 1)->name, "slow-db");
	cr_assert(rule_set_get(rs, 1)->named);
	cr_assert_str_eq(rule_set_get(rs, 1)->filter_text, "tcp port 5432");
	cr_assert_str_eq(rule_set_get(rs, 2)->name, "rule-3", "named by position, from 1");
	cr_assert_eq(rule_set_find(rs, "slow-db"), 1);
	cr_assert_eq(rule_set_find(rs, "rule-3"), 2);
	cr_assert_eq(rule_set_find(rs, "rule-2"), -ENOENT);
	cr_assert_eq(rule_set_find(rs, "nope"), -ENOENT);
	rule_print(rule_set_get(rs, 1), buf, sizeof(buf));
	cr_assert_str_eq(buf, "slow-db: tcp port 5432 => delay 200ms");
	rule_print(rule_set_get(rs, 0), buf, sizeof(buf));
	cr_assert_str_eq(buf, "udp => drop", "an automatic name is not printed");
	rule_set_free(rs);
}

Test(rule, print_body_leaves_the_name_out)
{
	struct rule_set *rs;
	const struct rule *r = parse_one(&rs, "x: udp => drop 50%");
	char *body = rule_print_body_alloc(r), *whole = rule_print_alloc(r);

	cr_assert_str_eq(body, "udp => drop 50%");
	cr_assert_str_eq(whole, "x: udp => drop 50%");
	free(body);
	free(whole);
	rule_set_free(rs);
}

/* Colons inside a filter are not a name: these parse as they did before names. */
Test(rule, colon_filters_are_not_names)
{
	static const char *const lines[] = {
		"ip6 host fe80::1 => drop",
		"ip6 host ::1 => drop",
		"ip6 and host fe80::1:2 => delay 1ms",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct rule_set *rs;
		const struct rule *r = parse_one(&rs, lines[i]);
		char buf[128];

		cr_assert_not(r->named, "%s", lines[i]);
		cr_assert_str_eq(r->name, "rule-1");
		cr_assert_eq(strncmp(r->filter_text, lines[i], strlen(r->filter_text)), 0);
		cr_assert_not_null(strstr(lines[i], r->filter_text), "%s", lines[i]);
		cr_assert_eq(strlen(r->filter_text), (size_t)(strstr(lines[i], " =>") - lines[i]));
		rule_print(r, buf, sizeof(buf));
		cr_assert_str_eq(buf, lines[i]);
		rule_set_free(rs);
	}
}

static const struct {
	const char *first, *second;
	int col;
	const char *msg;
} name_clashes[] = {
	{ "a: udp => drop", "  a: tcp => drop", 3, "rule name 'a' given twice (first at one.rules:4)" },
	{ "udp => drop", "rule-1: tcp => drop", 1,
	  "rule name 'rule-1' is already the name of the unnamed rule at one.rules:4 "
	  "(unnamed rules are named rule-N by their position)" },
	{ "rule-2: udp => drop", "\ttcp => drop", 2,
	  "this unnamed rule would be named 'rule-2' by its position, but the rule at one.rules:4 "
	  "has that name: name one of them" },
};

Test(rule, duplicate_names_are_located_errors)
{
	for (size_t i = 0; i < sizeof(name_clashes) / sizeof(name_clashes[0]); i++) {
		struct rule_set *rs = rule_set_new();
		struct rule_error err;

		cr_assert_eq(rule_set_add_line(rs, name_clashes[i].first, "one.rules", 4, &err), 0);
		cr_assert_eq(rule_set_add_line(rs, name_clashes[i].second, "two.rules", 9, &err),
			     -EEXIST, "%s", name_clashes[i].second);
		cr_assert_eq(rule_set_count(rs), 1, "the set is unchanged");
		cr_assert_str_eq(err.file, "two.rules");
		cr_assert_eq(err.line, 9);
		cr_assert_eq(err.col, name_clashes[i].col, "%s: col %d", err.msg, err.col);
		cr_assert_str_eq(err.msg, name_clashes[i].msg);
		rule_set_free(rs);
	}
}

Test(rule, duplicate_name_in_file_leaves_set_unchanged)
{
	char path[] = "/tmp/fl-names-XXXXXX";
	int fd = mkstemp(path);
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	const char *text = "x: udp => drop\n# c\nudp => delay 1ms\n\nx: tcp => drop\n";

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(rule_set_add_line(rs, "pre: icmp => drop", "--rule 1", 1, &err), 0);
	cr_assert_eq(rule_set_load_file(rs, path, &err), -EEXIST);
	cr_assert_eq(err.line, 5);
	cr_assert_eq(err.col, 1);
	cr_assert_not_null(strstr(err.msg, "rule name 'x' given twice (first at /tmp/fl-names-"));
	cr_assert_not_null(strstr(err.msg, ":1)"), "%s", err.msg);
	cr_assert_eq(rule_set_count(rs), 1, "the file's rules are taken back out");
	cr_assert_eq(rule_set_find(rs, "x"), -ENOENT);
	cr_assert_eq(rule_set_find(rs, "rule-3"), -ENOENT);
	/* The same file loads once the set has room for its names. */
	cr_assert_eq(rule_set_add_line(rs, "udp => drop", "--rule 2", 1, &err), 0);
	unlink(path);
	rule_set_free(rs);
}

/* Lookups stay right over many names (the index grows with the set). */
Test(rule, find_among_many)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	char line[64], name[32];

	for (int i = 0; i < 3000; i++) {
		snprintf(line, sizeof(line), i % 2 ? "n%d: udp => drop" : "udp => drop", i);
		cr_assert_eq(rule_set_add_line(rs, line, "m", i + 1, &err), 0, "%s", err.msg);
	}
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), i % 2 ? "n%d" : "rule-%d", i % 2 ? i : i + 1);
		cr_assert_eq(rule_set_find(rs, name), i, "%s", name);
	}
	rule_set_free(rs);
}

Test(rule, clone_keeps_names_origins_and_state)
{
	struct rule_set *rs = rule_set_new(), *c;
	struct rule_error err;

	cr_assert_eq(rule_set_add_line(rs, "udp => drop", "f.rules", 3, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "b: tcp => delay 1ms", "f.rules", 5, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "icmp => drop", "f.rules", 6, &err), 0);
	cr_assert_eq(rule_set_enable(rs, "b", false), 0);
	cr_assert_eq(rule_set_enable(rs, "nope", false), -ENOENT);
	c = rule_set_clone(rs);
	cr_assert_not_null(c);
	cr_assert_eq(rule_set_count(c), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct rule *a = rule_set_get(rs, i), *b = rule_set_get(c, i);

		cr_assert(rule_equal(a, b));
		cr_assert_str_eq(a->name, b->name);
		cr_assert_eq(a->named, b->named);
		cr_assert_eq(a->disabled, b->disabled);
		cr_assert_str_eq(a->file, b->file);
		cr_assert_eq(a->line, b->line);
		cr_assert_eq(b->index, i);
	}
	cr_assert(rule_set_get(c, 1)->disabled);
	rule_set_free(rs);
	rule_set_free(c);
}

/* A name given as rule_set_add's argument, not in the text, is still a given name in a clone. */
Test(rule, clone_keeps_a_name_given_beside_the_text)
{
	struct rule_set *rs = rule_set_new(), *c;
	struct rule_error err;
	char *text;

	cr_assert_eq(rule_set_add(rs, "udp => drop", "cut", "rule", 1, &err), 0, "%s", err.msg);
	c = rule_set_clone(rs);
	cr_assert_not_null(c);
	cr_assert_str_eq(rule_set_get(c, 0)->name, "cut");
	cr_assert(rule_set_get(c, 0)->named);
	text = rule_print_alloc(rule_set_get(c, 0));
	cr_assert_str_eq(text, "cut: udp => drop");
	free(text);
	/* So a second rule of that name is refused as a name given twice. */
	cr_assert_eq(rule_set_add(c, "tcp => drop", "cut", "rule", 1, &err), -EEXIST);
	cr_assert(strstr(err.msg, "given twice"), "%s", err.msg);
	rule_set_free(rs);
	rule_set_free(c);
}

/* The control layer's edits: delete by name, add with a name or the first free rule-N. */
Test(rule, build_by_name)
{
	struct rule_set *rs = rule_set_new(), *c;
	struct rule_error err;

	cr_assert_eq(rule_set_add_line(rs, "udp => drop", "f", 1, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "tcp => drop", "f", 2, &err), 0);
	cr_assert_eq(rule_set_add_line(rs, "icmp => drop", "f", 3, &err), 0);
	c = rule_set_clone(rs);
	cr_assert_eq(rule_set_del(c, "rule-2"), 0);
	cr_assert_eq(rule_set_del(c, "rule-2"), -ENOENT);
	cr_assert_eq(rule_set_count(c), 2);
	cr_assert_str_eq(rule_set_get(c, 1)->name, "rule-3", "a carried rule keeps its name");
	cr_assert_eq(rule_set_get(c, 1)->index, 1);
	cr_assert_eq(rule_set_find(c, "rule-3"), 1);
	/* At position 3, rule-3 is taken: the first free number after it. */
	cr_assert_eq(rule_set_add(c, "ip6 => drop", NULL, "ctl", 1, &err), 0, "%s", err.msg);
	cr_assert_str_eq(rule_set_get(c, 2)->name, "rule-4");
	cr_assert_eq(rule_set_add(c, "=> delay 1ms", "slow", "ctl", 1, &err), 0, "%s", err.msg);
	cr_assert_str_eq(rule_set_get(c, 3)->name, "slow");
	cr_assert(rule_set_get(c, 3)->named);
	cr_assert_eq(rule_set_add(c, "slow: => delay 1ms", "slow", "ctl", 1, &err), -EEXIST);
	cr_assert_str_eq(err.msg, "rule name 'slow' given twice (first at ctl:1)");
	cr_assert_eq(rule_set_add(c, "a: => delay 1ms", "b", "ctl", 1, &err), -EINVAL);
	cr_assert_eq(err.col, 1);
	cr_assert_eq(rule_set_add(c, "=> delay 1ms", "9b", "ctl", 1, &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "bad rule name '9b'"));
	cr_assert_eq(rule_set_add(c, "  # nothing", NULL, "ctl", 1, &err), -EINVAL);
	cr_assert_eq(rule_set_add(c, "udp => dorp", NULL, "ctl", 1, &err), -EINVAL);
	cr_assert_eq(rule_set_count(c), 4, "refused lines leave the set as it was");
	cr_assert_eq(rule_set_count(rs), 3, "the original is untouched");
	cr_assert_eq(rule_set_del(c, "slow"), 0);
	cr_assert_eq(rule_set_find(c, "slow"), -ENOENT);
	cr_assert_eq(rule_set_add(c, "=> delay 2ms", "slow", "ctl", 2, &err), 0, "a freed name is free");
	rule_set_free(rs);
	rule_set_free(c);
}

Test(rule, name_valid)
{
	char longest[RULE_MAX_NAME + 2];

	cr_assert(rule_name_valid("a"));
	cr_assert(rule_name_valid("slow-db.v2_x"));
	cr_assert_not(rule_name_valid(""));
	cr_assert_not(rule_name_valid("-a"));
	cr_assert_not(rule_name_valid("1a"));
	cr_assert_not(rule_name_valid("a b"));
	cr_assert_not(rule_name_valid("a:"));
	cr_assert_not(rule_name_valid(NULL));
	memset(longest, 'a', RULE_MAX_NAME);
	longest[RULE_MAX_NAME] = '\0';
	cr_assert(rule_name_valid(longest));
	longest[RULE_MAX_NAME] = 'a';
	longest[RULE_MAX_NAME + 1] = '\0';
	cr_assert_not(rule_name_valid(longest));
}

/* ---- '@NAME': a container's addresses, from the caller's resolver ---- */

static int fake_names(void *data, const char *name, char *out, size_t size)
{
	(void)data;
	if (!strcmp(name, "db"))
		return snprintf(out, size, "(10.0.0.2 or ::2)") < (int)size ? 0 : -ENAMETOOLONG;
	if (!strcmp(name, "api"))
		return snprintf(out, size, "(10.0.0.1)") < (int)size ? 0 : -ENAMETOOLONG;
	return -ENOENT;
}

static bool names_match(const char *line, const uint8_t *data, size_t len)
{
	struct rule_set *rs = rule_set_new();
	struct pkt_view v = { .data = data, .len = (uint32_t)len };
	struct rule_error err;
	bool m;

	rule_set_names(rs, fake_names, NULL);
	cr_assert_eq(rule_set_add_line(rs, line, "t", 1, &err), 0, "%s: %d:%d: %s", line, err.line, err.col,
		     err.msg);
	m = rule_filter_match(rule_set_get(rs, 0), &v);
	rule_set_free(rs);
	return m;
}

Test(rule, at_name_stands_for_the_container_addresses)
{
	uint8_t pkt[80];
	size_t len = build_ipv4(pkt, 17, 8 + 4);	/* 10.0.0.1 -> 10.0.0.2 */

	cr_assert(names_match("host @db and host @api => drop", pkt, len));
	cr_assert(names_match("@db => delay 50ms", pkt, len));
	cr_assert_not(names_match("src host @db => drop", pkt, len));
	len = build_ipv6(pkt, 17, 8);	/* ::1 -> ::2 */
	cr_assert(names_match("dst host @db => drop", pkt, len));
	cr_assert_not(names_match("host @api => drop", pkt, len));
}

Test(rule, at_name_keeps_its_text_and_clones_resolve_it_again)
{
	struct rule_set *rs = rule_set_new(), *c;
	struct rule_error err;
	char buf[128];

	rule_set_names(rs, fake_names, NULL);
	cr_assert_eq(rule_set_add_line(rs, "host @db => drop", "t", 1, &err), 0);
	rule_print(rule_set_get(rs, 0), buf, sizeof(buf));
	cr_assert(strstr(buf, "host @db =>"), "%s", buf);
	/* The kernel-side filter compiles what libpcap compiled here, not the name. */
	cr_assert_str_eq(rule_set_get(rs, 0)->filter_expr, "host (10.0.0.2 or ::2)");
	c = rule_set_clone(rs);
	cr_assert_not_null(c);
	cr_assert_eq(rule_set_count(c), 1);
	rule_set_free(c);
	rule_set_free(rs);
}

Test(rule, unknown_at_name_is_a_located_error)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;

	rule_set_names(rs, fake_names, NULL);
	cr_assert_eq(rule_set_add_line(rs, "tcp and host @nosuch => drop", "f.rules", 3, &err), -EINVAL);
	cr_assert_eq(err.line, 3);
	cr_assert_eq(err.col, 14);
	cr_assert(strstr(err.msg, "unknown container '@nosuch'"), "%s", err.msg);
	rule_set_free(rs);
	/* Without a resolver (check, replay) the name cannot be used at all. */
	rs = rule_set_new();
	cr_assert_eq(rule_set_add_line(rs, "host @db => drop", "f.rules", 1, &err), -EINVAL);
	cr_assert_eq(err.col, 6);
	cr_assert(strstr(err.msg, "only be used by a live run"), "%s", err.msg);
	rule_set_free(rs);
}
