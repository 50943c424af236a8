// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario.h"

static struct scenario *parse_ok(const char *text)
{
	struct scenario_error e;
	struct scenario *s = scenario_parse(text, strlen(text), "dir/t.scn", &e);

	cr_assert_not_null(s, "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
	return s;
}

/* The error, as the CLI prints it. */
static void parse_fails(const char *text, const char *want)
{
	struct scenario_error e;
	struct scenario *s = scenario_parse(text, strlen(text), "t.scn", &e);
	char got[800];

	cr_assert_null(s, "'%s' parsed", text);
	cr_assert_eq(errno, EINVAL);
	if (e.line)
		snprintf(got, sizeof(got), "%s:%d:%d: %s", e.file, e.line, e.col, e.msg);
	else
		snprintf(got, sizeof(got), "%s: %s", e.file, e.msg);
	cr_assert_str_eq(got, want);
}

Test(scenario, the_timeline_of_the_readme)
{
	struct scenario *s = parse_ok("# a database that slows down, then goes away\n"
				      "at 0s add slow: tcp port 5432 => delay 100ms\n"
				      "\n"
				      "at 10s  add cut: tcp port 5432 => drop   # gone\n"
				      "at 20s del cut\n"
				      "at 30s end\n");

	cr_assert_eq(s->n, 4);
	cr_assert_eq(s->steps[0].line, 2);
	cr_assert_eq(s->steps[0].when, SCENARIO_AT);
	cr_assert_eq(s->steps[0].at_ns, 0);
	cr_assert_eq(s->steps[0].op, SCENARIO_ADD);
	cr_assert_str_eq(s->steps[0].name, "slow");
	cr_assert_str_eq(s->steps[0].rule, "tcp port 5432 => delay 100ms");
	cr_assert_eq(s->steps[1].line, 4);
	cr_assert_eq(s->steps[1].at_ns, 10000000000ull);
	cr_assert_str_eq(s->steps[1].rule, "tcp port 5432 => drop");
	cr_assert_str_eq(s->steps[1].text, "at 10s  add cut: tcp port 5432 => drop");
	cr_assert_eq(s->steps[2].op, SCENARIO_DEL);
	cr_assert_str_eq(s->steps[2].name, "cut");
	cr_assert_eq(s->steps[3].op, SCENARIO_END);
	cr_assert_eq(s->steps[3].at_ns, 30000000000ull);
	cr_assert_str_eq(scenario_op_name(s->steps[3].op), "end");
	scenario_free(s);
}

Test(scenario, every_step_and_trigger)
{
	struct scenario *s = parse_ok("at 1.5s add udp => drop 10%\n"
				      "at 250ms disable rule-1\n"
				      "at 2m enable rule-1\n"
				      "at 3s replace other.rules\n"
				      "at 4s replace /abs/x.rules\n"
				      "on conn port 5432 state ESTABLISHED add cut: tcp port 5432 => drop\n"
				      "every retransmissions >= 1 and held == 0 disable cut\n");

	cr_assert_eq(s->n, 7);
	cr_assert_null(s->steps[0].name, "an unnamed rule");
	cr_assert_str_eq(s->steps[0].rule, "udp => drop 10%");
	cr_assert_eq(s->steps[0].at_ns, 1500000000ull);
	cr_assert_eq(s->steps[1].op, SCENARIO_DISABLE);
	cr_assert_eq(s->steps[1].at_ns, 250000000ull);
	cr_assert_eq(s->steps[2].op, SCENARIO_ENABLE);
	cr_assert_eq(s->steps[2].at_ns, 120000000000ull);
	cr_assert_eq(s->steps[3].op, SCENARIO_REPLACE);
	cr_assert_str_eq(s->steps[3].path, "dir/other.rules", "relative to the scenario's folder");
	cr_assert_str_eq(s->steps[4].path, "/abs/x.rules");
	cr_assert_eq(s->steps[5].when, SCENARIO_ON);
	cr_assert_str_eq(s->steps[5].condition, "conn port 5432 state ESTABLISHED");
	cr_assert_str_eq(s->steps[5].name, "cut");
	cr_assert_eq(s->steps[6].when, SCENARIO_EVERY);
	cr_assert_str_eq(s->steps[6].condition, "retransmissions >= 1 and held == 0");
	cr_assert_eq(s->steps[6].op, SCENARIO_DISABLE);
	scenario_free(s);
}

Test(scenario, errors_are_located_in_the_scenario_file)
{
	parse_fails("", "t.scn: no steps (a step: 'at TIME STEP', 'on CONDITION STEP')");
	parse_fails("# only a comment\n", "t.scn: no steps (a step: 'at TIME STEP', 'on CONDITION STEP')");
	parse_fails("when 5s end\n",
		    "t.scn:1:1: 'when': a step starts with 'at TIME', 'on CONDITION' or 'every CONDITION'");
	parse_fails("at 0s end\nat soon end\n", "t.scn:2:4: 'soon' is not a time: expected a number with a unit, e.g. 50ms or 1.5s");
	parse_fails("at\n", "t.scn:1:3: 'at' wants a time (0s, 1.5s, 250ms, 2m)");
	parse_fails("at 1s stop\n", "t.scn:1:7: 'stop' is not a step: add, del, enable, disable, replace or end");
	parse_fails("at 1s\n", "t.scn:1:6: expected a step: add, del, enable, disable, replace or end");
	parse_fails("at 1s del\n", "t.scn:1:10: 'del' wants a rule name");
	parse_fails("at 1s del 9lives\n",
		    "t.scn:1:11: '9lives' is not a rule name ([A-Za-z][A-Za-z0-9_.-]*, at most 64 bytes)");
	parse_fails("at 1s del a b\n", "t.scn:1:13: unexpected 'b' after the name");
	parse_fails("at 1s end now\n", "t.scn:1:11: unexpected 'now' after 'end'");
	parse_fails("at 1s replace\n", "t.scn:1:14: 'replace' wants a rules file");
	parse_fails("at 1s add\n", "t.scn:1:10: 'add' wants a rule: add [NAME: ]FILTER => ACTIONS");
	parse_fails("on held = 0 end\n", "t.scn:1:9: '=' is not a comparison (>=, >, ==, !=, <=, <)");
	parse_fails("on conn port 80 state OPEN end\n",
		    "t.scn:1:23: 'OPEN' is not a TCP state (ESTABLISHED, TIME_WAIT, ...)");
	parse_fails("on held == 0\n", "t.scn:1:13: expected a step: add, del, enable, disable, replace or end");
}

/* The rule parser's own message, at its column in the scenario's line. */
Test(scenario, a_bad_rule_is_located_where_the_rule_parser_says)
{
	struct scenario_error e;
	const char *text = "at 0s end\n  at 1s add cut: tcp port 5432 => dorp\n";
	struct scenario *s = scenario_parse(text, strlen(text), "t.scn", &e);

	cr_assert_null(s);
	cr_assert_eq(e.line, 2);
	cr_assert_eq(e.col, 35, "column %d: %s", e.col, e.msg);
	cr_assert(strstr(e.msg, "dorp"), "%s", e.msg);
}

Test(scenario, a_nul_byte_is_refused_with_its_place)
{
	const char text[] = "at 0s end\nat 1s\0 end\n";
	struct scenario_error e;

	cr_assert_null(scenario_parse(text, sizeof(text) - 1, "t.scn", &e));
	cr_assert_eq(e.line, 2);
	cr_assert_eq(e.col, 6);
}
