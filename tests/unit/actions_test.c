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
			       "corrupt, rate, accept)");
}
