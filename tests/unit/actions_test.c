// SPDX-License-Identifier: MIT
/*
 * The actions' syntax table (rules/actions.c), entry by entry: every action
 * the enum names has a complete entry whose example parses, prints back
 * canonically and round-trips. A new action without its entry fails here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "actions.h"
#include "rule.h"

static struct rule_set *parse(const char *line, struct rule_error *err)
{
	struct rule_set *rs = rule_set_new();

	cr_assert_not_null(rs);
	if (rule_set_add_line(rs, line, "t.rules", 1, err) < 0) {
		rule_set_free(rs);
		return NULL;
	}
	return rs;
}

Test(actions, every_action_has_a_complete_entry)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const struct rule_action_ops *ops = rule__action_ops(t);
		size_t n;

		cr_assert_not_null(ops, "action %d", t);
		cr_assert(ops->name && ops->name[0], "action %d has no name", t);
		cr_assert_str_eq(rule_action_name(t), ops->name);
		cr_assert(ops->follows && ops->follows[0], "%s", ops->name);
		cr_assert_not_null(ops->example, "%s", ops->name);
		n = strlen(ops->name);
		cr_assert(!strncmp(ops->example, ops->name, n) &&
			  (!ops->example[n] || ops->example[n] == ' '),
			  "%s: the example '%s' starts with another word", ops->name, ops->example);
		/* Arguments come with their printer and comparison, or neither. */
		cr_assert_eq(!ops->print, !ops->equal, "%s", ops->name);
		for (int u = 0; u < t; u++)
			cr_assert_str_neq(rule__action_ops(u)->name, ops->name);
	}
	cr_assert_null(rule__action_ops(RULE_ACT__COUNT));
	cr_assert_str_eq(rule_action_name(RULE_ACT__COUNT), "?");
}

/* parse -> print -> parse gives an equal rule, and the example is the canonical form. */
Test(actions, every_example_round_trips_canonically)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const struct rule_action_ops *ops = rule__action_ops(t);
		struct rule_set *a, *b;
		struct rule_error err;
		char line[256], printed[256];

		snprintf(line, sizeof(line), "udp => %s", ops->example);
		a = parse(line, &err);
		cr_assert_not_null(a, "'%s': %d: %s", line, err.col, err.msg);
		cr_assert_eq(rule_set_get(a, 0)->actions[0].type, (enum rule_action_type)t);
		rule_print(rule_set_get(a, 0), printed, sizeof(printed));
		cr_assert_str_eq(printed, line, "the example of '%s' is not canonical", ops->name);
		b = parse(printed, &err);
		cr_assert_not_null(b, "'%s': %s", printed, err.msg);
		cr_assert(rule_equal(rule_set_get(a, 0), rule_set_get(b, 0)), "%s", printed);
		/* whole_packet is what the capture must be told. */
		cr_assert_eq(rule_set_bytes_needed(a) == UINT32_MAX, ops->whole_packet, "%s",
			     ops->name);
		rule_set_free(a);
		rule_set_free(b);
	}
}

/*
 * Arrival times: every action but drop, corrupt and accept holds, paces or
 * sends later, so it needs them; a tracker condition needs them whatever
 * the action, a packet-only condition does not.
 */
Test(actions, which_rules_need_arrival_times)
{
	static const struct {
		const char *line;
		bool need;
	} cases[] = {
		{ "udp => drop 30%", false },
		{ "udp => corrupt 1%", false },
		{ "udp => accept", false },
		{ "tcp => drop if syn", false },
		{ "tcp => drop if not data", false },
		{ "udp => drop, after 86400s", false },
		{ "tcp => drop if retransmission", true },
		{ "tcp => drop if state ESTABLISHED", true },
		{ "tcp => accept if out-of-order", true },
		{ "udp => delay 10ms", true },
		{ "udp => drop 10%, delay 1ms", true },
	};
	struct rule_error err;

	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const struct rule_action_ops *ops = rule__action_ops(t);
		char line[256];
		struct rule_set *a;

		snprintf(line, sizeof(line), "udp => %s", ops->example);
		a = parse(line, &err);
		cr_assert_not_null(a, "'%s': %s", line, err.msg);
		cr_assert_eq(rule_set_needs_arrival(a), !ops->instant, "%s", ops->name);
		rule_set_free(a);
	}
	cr_assert(rule__action_ops(RULE_ACT_DROP)->instant);
	cr_assert_not(rule__action_ops(RULE_ACT_DELAY)->instant);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rule_set *a = parse(cases[i].line, &err);

		cr_assert_not_null(a, "'%s': %s", cases[i].line, err.msg);
		cr_assert_eq(rule_set_needs_arrival(a), cases[i].need, "%s", cases[i].line);
		rule_set_free(a);
	}
	cr_assert_not(rule_set_needs_arrival(NULL));
}

/* A word the action does not take is refused with the entry's own list. */
Test(actions, unknown_option_lists_what_may_follow)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const struct rule_action_ops *ops = rule__action_ops(t);
		struct rule_error err;
		char line[256], want[256];

		snprintf(line, sizeof(line), "=> %s bogus", ops->example);
		cr_assert_null(parse(line, &err), "'%s' parsed", line);
		snprintf(want, sizeof(want), "unexpected 'bogus' in '%s' (expected %s)", ops->name,
			 ops->follows);
		cr_assert_str_eq(err.msg, want);
		cr_assert_eq(err.col, (int)strlen(line) - 4);
	}
}

/* Two different actions in one rule: 'alone' ones refuse, the others combine. */
Test(actions, alone_refuses_company)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		for (int u = 0; u < RULE_ACT__COUNT; u++) {
			const struct rule_action_ops *a = rule__action_ops(t), *b = rule__action_ops(u);
			struct rule_error err;
			struct rule_set *rs;
			char line[512];

			if (t == u)
				continue;
			snprintf(line, sizeof(line), "=> %s, %s", a->example, b->example);
			rs = parse(line, &err);
			cr_assert_eq(!rs, a->alone || b->alone, "'%s': %s", line, rs ? "" : err.msg);
			if (!rs)
				cr_assert(strstr(err.msg, "cannot be combined"), "%s", err.msg);
			rule_set_free(rs);
		}
	}
}

Test(actions, listed_in_messages_in_table_order)
{
	struct rule_error err;
	char want[512] = "expected an action after '=>' (";

	for (int t = 0; t < RULE_ACT__COUNT; t++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", t ? ", " : "",
			 rule_action_name(t));
	strcat(want, ")");
	cr_assert_null(parse("udp =>", &err));
	cr_assert_str_eq(err.msg, want);
	cr_assert_str_eq(want, "expected an action after '=>' (drop, delay, reorder, duplicate, "
			       "corrupt, rate, accept, slot, profile, reset, segment)");
}

/*
 * The loss and delay models, slot and profile (issue 12): each form as
 * written, its canonical print, and a second parse of the print gives an
 * equal rule. Defaults that are netem's print no more.
 */
Test(actions, model_forms_round_trip)
{
	static const char *const forms[][2] = {
		{ "=> drop 30% correlation 25%", "=> drop 30% correlation 25%" },
		{ "=> drop correlation 25% 30%", "=> drop 30% correlation 25%" },
		{ "=> drop 30% correlation 0%", "=> drop 30%" },
		{ "=> drop 1% correlation 100%", "=> drop 1% correlation 100%" },
		{ "=> drop gemodel 1%", "=> drop gemodel 1%" },
		{ "=> drop gemodel 1% 99%", "=> drop gemodel 1%" },
		{ "=> drop gemodel 1% 10%", "=> drop gemodel 1% 10%" },
		{ "=> drop gemodel 1% 10% 100% 0%", "=> drop gemodel 1% 10%" },
		{ "=> drop gemodel 1% 10% 70% 0.1%", "=> drop gemodel 1% 10% 70% 0.1%" },
		{ "=> drop gemodel 1% 99% 100% 0.1%", "=> drop gemodel 1% 99% 100% 0.1%" },
		{ "=> drop state 2%", "=> drop state 2%" },
		{ "=> drop state 2% 98% 0% 100% 0%", "=> drop state 2%" },
		{ "=> drop state 1% 30% 10% 40% 0.5%", "=> drop state 1% 30% 10% 40% 0.5%" },
		{ "=> drop state 1% 30% 10%", "=> drop state 1% 30% 10%" },
		{ "udp => drop gemodel 5% 20% if syn, in", "udp => drop gemodel 5% 20%, in, if syn" },
		{ "=> delay 10ms jitter 2ms correlation 25%", "=> delay 10ms jitter 2ms correlation 25%" },
		{ "=> delay 10ms jitter 2ms distribution paretonormal",
		  "=> delay 10ms jitter 2ms distribution paretonormal" },
		{ "=> delay 10ms distribution pareto correlation 5% jitter 1ms 50%",
		  "=> delay 10ms jitter 1ms correlation 5% distribution pareto 50%" },
		{ "=> delay 10ms jitter 0ms correlation 25%", "=> delay 10ms" },
		{ "=> delay 10ms jitter 2ms correlation 0%", "=> delay 10ms jitter 2ms" },
		{ "=> slot 5ms", "=> slot 5ms" },
		{ "=> slot 5ms 5ms", "=> slot 5ms" },
		{ "=> slot 0ms 10ms", "=> slot 0ms 10ms" },
		{ "=> slot 5ms 10ms bytes 12000 packets 8", "=> slot 5ms 10ms packets 8 bytes 12000" },
		{ "=> slot 800us packets 1 50%", "=> slot 800us packets 1 50%" },
		{ "=> profile satellite", "=> profile satellite" },
		{ "tcp => profile wifi, out", "tcp => profile wifi, out" },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct rule_error err;
		struct rule_set *a = parse(forms[i][0], &err), *b;
		char printed[256];

		cr_assert_not_null(a, "'%s': %s", forms[i][0], err.msg);
		rule_print(rule_set_get(a, 0), printed, sizeof(printed));
		cr_assert_str_eq(printed, forms[i][1], "'%s'", forms[i][0]);
		b = parse(printed, &err);
		cr_assert_not_null(b, "'%s': %s", printed, err.msg);
		cr_assert(rule_equal(rule_set_get(a, 0), rule_set_get(b, 0)), "'%s'", printed);
		rule_set_free(a);
		rule_set_free(b);
	}
}

/* Different parameters are different rules. */
Test(actions, model_forms_differ)
{
	static const char *const pairs[][2] = {
		{ "=> drop 30% correlation 25%", "=> drop 30% correlation 26%" },
		{ "=> drop 30% correlation 25%", "=> drop 30%" },
		{ "=> drop gemodel 1%", "=> drop state 1%" },
		{ "=> drop gemodel 1% 10%", "=> drop gemodel 1% 11%" },
		{ "=> drop state 1% 30% 10% 40% 0.5%", "=> drop state 1% 30% 10% 40% 0.6%" },
		{ "=> delay 10ms jitter 2ms correlation 25%", "=> delay 10ms jitter 2ms" },
		{ "=> delay 10ms jitter 2ms distribution pareto",
		  "=> delay 10ms jitter 2ms distribution paretonormal" },
		{ "=> slot 5ms", "=> slot 5ms 6ms" },
		{ "=> slot 5ms packets 2", "=> slot 5ms bytes 2" },
		{ "=> profile 3g", "=> profile edge" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct rule_error err;
		struct rule_set *a = parse(pairs[i][0], &err), *b = parse(pairs[i][1], &err);

		cr_assert(a && b, "%s / %s", pairs[i][0], pairs[i][1]);
		cr_assert_not(rule_equal(rule_set_get(a, 0), rule_set_get(b, 0)), "'%s' vs '%s'",
			      pairs[i][0], pairs[i][1]);
		rule_set_free(a);
		rule_set_free(b);
	}
}

/* Bad parameters: the message and the column of the word at fault. */
Test(actions, model_errors_are_located)
{
	static const struct {
		const char *line;
		int col;
		const char *msg;
	} bad[] = {
		{ "=> drop gemodel", 9, "'gemodel' needs at least p, e.g. drop gemodel 1%" },
		{ "=> drop gemodel x", 9, "'gemodel' needs at least p" },
		{ "=> drop gemodel 1% 2% 3% 4% 5%", 29, "'gemodel' takes at most 4 rates" },
		{ "=> drop state 1% 2% 3% 4% 5% 6%", 30, "'state' takes at most 5 rates" },
		{ "=> drop gemodel 101%", 17, "bad p '101%': must be at most 100%" },
		{ "=> drop gemodel 1% -2%", 20, "bad r '-2%'" },
		{ "=> drop state 60% 50% 0% 100% 50%", 9, "'state': p13 + p14 exceed 100%" },
		{ "=> drop state 10% 60% 50%", 9, "'state': p31 + p32 exceed 100%" },
		{ "=> drop 30% gemodel 1%", 13, "'gemodel' must come right after 'drop'" },
		{ "=> drop gemodel 1% correlation 5%", 20, "'correlation' does not go with 'gemodel'" },
		{ "=> drop 30% correlation", 13, "'correlation' needs a percentage" },
		{ "=> drop 30% correlation 5", 13, "'correlation' needs a percentage" },
		{ "=> drop 30% correlation 5% correlation 6%", 28, "'correlation' given twice" },
		{ "=> drop 30% correlation 120%", 25, "bad correlation '120%'" },
		{ "=> delay 10ms correlation 25%", 15, "'correlation' needs 'jitter'" },
		{ "=> delay 10ms jitter 1ms correlation", 26, "'correlation' needs a percentage" },
		{ "=> delay 10ms jitter 1ms distribution lognormal", 39,
		  "unknown distribution 'lognormal' (expected uniform, normal, pareto or paretonormal)" },
		{ "=> slot", 4, "'slot' needs a duration" },
		{ "=> slot 10ms 5ms", 14, "slot MAX '5ms' is shorter than MIN" },
		{ "=> slot 0ms", 4, "'slot' needs a gap greater than 0" },
		{ "=> slot 5ms packets 0", 21, "'packets 0' out of range" },
		{ "=> slot 5ms bytes", 13, "'bytes' needs a number" },
		{ "=> slot 5ms packets 2 packets 3", 23, "'packets' given twice" },
		{ "=> slot 5ms bogus", 13, "unexpected 'bogus' in 'slot' (expected MAX, packets, bytes" },
		{ "=> profile", 4, "'profile' needs a name (gprs, edge, 3g, dialup, dsl-poor, dsl, wifi, "
			       "satellite)" },
		{ "=> profile 5g", 12, "unknown profile '5g' (expected gprs, edge, 3g," },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rule_error err;
		struct rule_set *rs = parse(bad[i].line, &err);

		cr_assert_null(rs, "'%s' parsed", bad[i].line);
		cr_assert(strstr(err.msg, bad[i].msg), "'%s': '%s' lacks '%s'", bad[i].line, err.msg,
			  bad[i].msg);
		cr_assert_eq(err.col, bad[i].col, "'%s': column %d, not %d (%s)", bad[i].line, err.col,
			     bad[i].col, err.msg);
	}
}
