// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ctl.h"
#include "pipeline.h"
#include "play.h"
#include "rule.h"
#include "scenario.h"

/* A stand-in for the proxy: a pipeline with the running rules, one stream subscriber. */
struct fake {
	struct pipeline *pl;
	struct rule_set *rules;
	evfan_cb cb;
	void *cb_data;
	char logged[16][512];
	int n_logged, ends;
	char said[512];
	int n_said;
	struct play *play;
};

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload, uint32_t len,
		       uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
}

static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };

static int fake_swap(void *data, struct rule_set *rs, bool fresh)
{
	struct fake *f = data;
	int ret = fresh ? pipeline_reset_rules(f->pl, rs, 0) : pipeline_swap_rules(f->pl, rs, 0);

	if (ret) {
		rule_set_free(rs);
		return ret;
	}
	rule_set_free(f->rules);
	f->rules = rs;
	return 0;
}

static const struct rule_set *fake_rules(void *data)
{
	return ((struct fake *)data)->rules;
}

static char *fake_stats(void *data)
{
	struct fake *f = data;
	char *inner = pipeline_stats_json(f->pl), *out = NULL;

	if (inner && asprintf(&out, "{\"queue\":1,%s}", inner) < 0)
		out = NULL;
	free(inner);
	return out;
}

static int fake_subscribe(void *data, evfan_cb cb, void *cb_data, char **stats)
{
	struct fake *f = data;

	f->cb = cb;
	f->cb_data = cb_data;
	if (stats)
		*stats = fake_stats(f);
	return 1;
}

static void fake_unsubscribe(void *data, int id)
{
	((struct fake *)data)->cb = NULL;
}

static void log_event(void *data, uint64_t since_ns, const char *members)
{
	(void)since_ns;
	struct fake *f = data;

	cr_assert_lt(f->n_logged, 16);
	snprintf(f->logged[f->n_logged++], sizeof(f->logged[0]), "%s", members);
}

static void end(void *data)
{
	struct fake *f = data;

	f->ends++;
	play_stop(f->play);
}

static void say(void *data, const char *msg)
{
	struct fake *f = data;

	f->n_said++;
	snprintf(f->said, sizeof(f->said), "%s", msg);
}

static struct ctl_target target(struct fake *f)
{
	return (struct ctl_target){ .swap_rules = fake_swap, .rules = fake_rules, .stats_json = fake_stats,
				    .data = f, .subscribe = fake_subscribe, .unsubscribe = fake_unsubscribe };
}

/* A player of text over an executor of an empty rule set, on loop. */
static struct ctl *start(struct fake *f, uv_loop_t *loop, const char *text)
{
	struct pipeline_config pc = { .seed = 1 };
	struct ctl_config cc = { .target = target(f), .loop = loop };
	struct play_config pcfg = { .target = target(f), .loop = loop, .log_event = log_event,
				    .end = end, .say = say, .data = f };
	struct scenario_error se;
	struct scenario *sc = scenario_parse(text, strlen(text), "t.scn", &se);
	struct ctl_error ce;
	struct ctl *c;

	cr_assert_not_null(sc, "%d:%d: %s", se.line, se.col, se.msg);
	f->rules = rule_set_new();
	f->pl = pipeline_new(&pc, f->rules, &ops, f);
	cr_assert_not_null(f->pl);
	c = ctl_new(&cc, &ce);
	cr_assert_not_null(c, "%s", ce.msg);
	pcfg.ctl = c;
	f->play = play_new(sc, &pcfg);
	cr_assert_not_null(f->play);
	return c;
}

static void finish(struct fake *f, uv_loop_t *loop, struct ctl *c)
{
	play_stop(f->play);
	ctl_stop(c);
	uv_run(loop, UV_RUN_DEFAULT);
	play_free(f->play);
	ctl_free(c);
	cr_assert_eq(uv_loop_close(loop), 0);
	pipeline_free(f->pl);
	rule_set_free(f->rules);
}

Test(play, a_timeline_runs_in_order_and_logs_every_step)
{
	struct fake f = { 0 };
	uv_loop_t loop;
	struct ctl *c;

	uv_loop_init(&loop);
	c = start(&f, &loop,
		  "at 40ms del cut\n"
		  "at 0s add cut: udp dst port 5000 => drop\n"
		  "at 20ms del nosuch\n"
		  "at 60ms end\n"
		  "at 80ms add late: udp => drop\n");
	cr_assert_eq(play_start(f.play), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(f.ends, 1);
	cr_assert_eq(f.n_logged, 4, "the step after the end never runs");
	cr_assert_str_eq(f.logged[0], "\"step\":2,\"line\":2,\"op\":\"add\",\"text\":\"at 0s add cut: udp dst port 5000 "
				      "=> drop\",\"ok\":true");
	cr_assert(strstr(f.logged[1], "\"step\":3,\"line\":3,\"op\":\"del\""), "%s", f.logged[1]);
	cr_assert(strstr(f.logged[1], "\"error\":\"no rule named 'nosuch'\""), "%s", f.logged[1]);
	cr_assert(strstr(f.logged[2], "\"step\":1,\"line\":1,\"op\":\"del\""), "%s", f.logged[2]);
	cr_assert(strstr(f.logged[2], "\"ok\":true"), "%s", f.logged[2]);
	cr_assert(strstr(f.logged[3], "\"op\":\"end\""), "%s", f.logged[3]);
	cr_assert_eq(f.n_said, 1);
	cr_assert_str_eq(f.said, "scenario line 3: no rule named 'nosuch'");
	cr_assert_eq(rule_set_count(f.rules), 0, "cut was added, then deleted");
	finish(&f, &loop, c);
}

#define ESTABLISHED(port)                                                                          \
	"{\"t\":0.1,\"ev\":\"transition\",\"flow\":1,\"conn\":\"10.0.0.1:4000 > 10.0.0.2:" #port "\","   \
	"\"endpoint\":0,\"old\":\"SYN_SENT\",\"new\":\"ESTABLISHED\"}\n"

Test(play, on_fires_once_and_every_each_time_its_count_grows)
{
	struct fake f = { 0 };
	uv_loop_t loop;
	struct ctl *c;

	uv_loop_init(&loop);
	c = start(&f, &loop,
		  "on conn port 8080 state ESTABLISHED add once: udp dst port 1 => drop\n"
		  "every conn port 9090 state ESTABLISHED replace /nonexistent/rules\n");
	cr_assert_eq(play_start(f.play), 0);
	cr_assert_not_null(f.cb, "triggers listen to the stream");
	f.cb(f.cb_data, ESTABLISHED(8080), strlen(ESTABLISHED(8080)), 0);
	f.cb(f.cb_data, ESTABLISHED(8080), strlen(ESTABLISHED(8080)), 0);
	cr_assert_eq(f.n_logged, 1, "'on' fires once");
	cr_assert(strstr(f.logged[0], "\"op\":\"add\""));
	cr_assert_eq(rule_set_count(f.rules), 1);
	f.cb(f.cb_data, ESTABLISHED(9090), strlen(ESTABLISHED(9090)), 0);
	f.cb(f.cb_data, ESTABLISHED(7070), strlen(ESTABLISHED(7070)), 0);
	f.cb(f.cb_data, ESTABLISHED(9090) ESTABLISHED(9090), 2 * strlen(ESTABLISHED(9090)), 0);
	cr_assert_eq(f.n_logged, 3, "'every' fires each time: %d", f.n_logged);
	cr_assert(strstr(f.logged[1], "\"error\":\"/nonexistent/rules: No such file or directory\""), "%s",
		  f.logged[1]);
	finish(&f, &loop, c);
	cr_assert_null(f.cb, "stopping unsubscribes");
}

Test(play, a_trigger_over_a_rule_not_in_the_set_is_refused_at_the_start)
{
	struct fake f = { 0 };
	uv_loop_t loop;
	struct ctl *c;

	uv_loop_init(&loop);
	c = start(&f, &loop, "on cut.dropped >= 1 end\n");
	cr_assert_eq(play_start(f.play), -ENOENT);
	cr_assert_str_eq(f.said, "scenario line 1: no rule named 'cut'");
	finish(&f, &loop, c);
}
