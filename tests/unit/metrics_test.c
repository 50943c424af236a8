// SPDX-License-Identifier: MIT
/*
 * metrics: the statistics JSON as Prometheus text, checked line by line,
 * and by promtool (Prometheus' own parser and linter) when it is installed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

/* Shaped as proxy_stats_json's line, cut short. */
static const char stats_text[] =
	"{\"seed\":7,\"queue\":4242,\"write_errors\":0,\"packets\":120,\"accepted\":100,\"dropped\":12,"
	"\"held\":8,\"held_now\":3,\"held_bytes_now\":4500,\"released\":5,\"released_early\":0,"
	"\"malformed\":0,\"gso\":0,\"corrupted\":0,\"flows\":2,\"flow_evictions\":0,\"netns_follows\":2,"
	"\"rules\":[{\"index\":1,\"name\":\"slow-db\",\"rule\":\"tcp port 5432 => delay 200ms\",\"enabled\":true,"
	"\"line\":1,\"matched\":8,\"dropped\":0,\"delayed\":8,\"reordered\":0,\"duplicated\":0,\"corrupted\":0,"
	"\"rate_queued\":0,\"rate_dropped\":0,\"released_early\":0},"
	"{\"index\":2,\"name\":\"cut\",\"rule\":\"udp => drop\",\"enabled\":false,\"line\":2,\"matched\":12,"
	"\"dropped\":12,\"delayed\":0,\"reordered\":0,\"duplicated\":0,\"corrupted\":0,\"rate_queued\":0,"
	"\"rate_dropped\":0,\"released_early\":0,\"reset\":4}],"
	"\"tcp\":{\"connections\":3,\"active\":1,\"evicted\":0,\"expired_time_wait\":2,\"expired_idle\":0,"
	"\"segments\":90,\"records_in_use\":1,\"records_lost_pool\":0,\"records_lost_cap\":0},"
	"\"connections_omitted\":0,\"connections\":[],\"duplicates_sent\":0,\"verdict_errors\":0,"
	"\"events_written\":0,\"events_dropped\":0}";

static char *format(const char *json)
{
	json_error_t e;
	json_t *j = json_loads(json, 0, &e);
	char *text;

	cr_assert_not_null(j, "%s", e.text);
	text = metrics_format(j);
	json_decref(j);
	cr_assert_not_null(text);
	return text;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(metrics, totals_gauges_and_tracker)
{
	char *t = format(stats_text);

	cr_assert(strstr(t, "# HELP faultline_packets_total Packets faultline decided on.\n"
			    "# TYPE faultline_packets_total counter\nfaultline_packets_total 120\n"), "%s", t);
	cr_assert(strstr(t, "\nfaultline_dropped_total 12\n"), "%s", t);
	cr_assert(strstr(t, "# TYPE faultline_held_packets gauge\nfaultline_held_packets 3\n"), "%s", t);
	cr_assert(strstr(t, "\nfaultline_held_bytes 4500\n"), "%s", t);
	cr_assert(strstr(t, "# TYPE faultline_tcp_connections_total counter\nfaultline_tcp_connections_total 3\n"),
		  "%s", t);
	cr_assert(strstr(t, "# TYPE faultline_tcp_connections_active gauge\nfaultline_tcp_connections_active 1\n"),
		  "%s", t);
	cr_assert(strstr(t, "\nfaultline_rules 2\n"), "%s", t);
	cr_assert(strstr(t, "# TYPE faultline_netns_follows_total counter\nfaultline_netns_follows_total 2\n"),
		  "%s", t);
	/* Not counters: the seed, the queue, the rule's line and index. */
	cr_assert_null(strstr(t, "seed"), "%s", t);
	cr_assert_null(strstr(t, "4242"), "%s", t);
	cr_assert_null(strstr(t, "_line"), "%s", t);
	cr_assert_null(strstr(t, "_index"), "%s", t);
	free(t);
}

Test(metrics, per_rule_families_labelled_by_name)
{
	char *t = format(stats_text);

	/* Each family once, its samples together. */
	cr_assert(strstr(t, "# TYPE faultline_rule_matched_total counter\n"
			    "faultline_rule_matched_total{rule=\"slow-db\"} 8\n"
			    "faultline_rule_matched_total{rule=\"cut\"} 12\n"), "%s", t);
	cr_assert(strstr(t, "faultline_rule_delayed_total{rule=\"slow-db\"} 8\n"), "%s", t);
	cr_assert(strstr(t, "faultline_rule_dropped_total{rule=\"cut\"} 12\n"), "%s", t);
	cr_assert(strstr(t, "faultline_rule_rate_queued_total{rule=\"cut\"} 0\n"), "%s", t);
	cr_assert(strstr(t, "faultline_rule_rate_dropped_total{rule=\"slow-db\"} 0\n"), "%s", t);
	cr_assert_eq(count(t, "# TYPE faultline_rule_matched_total"), 1);
	/* A counter only one rule has (an action added later) is a family too, with a generic help. */
	cr_assert(strstr(t, "# HELP faultline_rule_reset_total The rule's reset counter.\n"
			    "# TYPE faultline_rule_reset_total counter\n"
			    "faultline_rule_reset_total{rule=\"cut\"} 4\n"), "%s", t);
	cr_assert_eq(count(t, "{rule=\"slow-db\"}"), 9);
	free(t);
}

Test(metrics, label_values_escaped_and_unnamed_rules_numbered)
{
	char *t = format("{\"rules\":[{\"index\":3,\"name\":\"a\\\"b\\\\c\\nd\",\"matched\":1},"
			 "{\"index\":4,\"matched\":2}]}");

	cr_assert(strstr(t, "faultline_rule_matched_total{rule=\"a\\\"b\\\\c\\nd\"} 1\n"), "%s", t);
	cr_assert(strstr(t, "faultline_rule_matched_total{rule=\"rule-4\"} 2\n"), "%s", t);
	free(t);
}

Test(metrics, missing_keys_left_out)
{
	char *t = format("{\"packets\":1}");

	cr_assert_str_eq(t, "# HELP faultline_packets_total Packets faultline decided on.\n"
			    "# TYPE faultline_packets_total counter\nfaultline_packets_total 1\n");
	free(t);
	t = format("{}");
	cr_assert_str_eq(t, "");
	free(t);
}

Test(metrics, not_an_object)
{
	json_t *a = json_array();

	errno = 0;
	cr_assert_null(metrics_format(a));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(metrics_format(NULL));
	json_decref(a);
}

/* Prometheus' own parser and linter: exit 0 means no parse error and no lint complaint. */
Test(metrics, promtool_accepts)
{
	char *t;
	FILE *p;
	int st;

	if (system("command -v promtool >/dev/null 2>&1"))
		cr_skip_test("promtool not installed (Debian package prometheus, in scripts/deps.sh)");
	t = format(stats_text);
	p = popen("promtool check metrics >/dev/null 2>&1", "w");
	cr_assert_not_null(p);
	cr_assert_eq(fputs(t, p) >= 0, true);
	st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool check metrics: status %d on\n%s", st, t);
	free(t);
}
