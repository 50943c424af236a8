// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "stream.h"

/* A stand-in for the proxy: counters as a string, one subscriber slot. */
struct fake {
	const char *stats;
	evfan_cb cb;
	void *cb_data;
	int subs, unsubs;
	bool stopping;
};

static char *fake_stats(void *data)
{
	return strdup(((struct fake *)data)->stats);
}

static int fake_subscribe(void *data, evfan_cb cb, void *cb_data, char **stats)
{
	struct fake *f = data;

	if (f->stopping)
		return -ESHUTDOWN;
	f->cb = cb;
	f->cb_data = cb_data;
	f->subs++;
	if (stats)
		*stats = strdup(f->stats);
	return 7;
}

static void fake_unsubscribe(void *data, int id)
{
	struct fake *f = data;

	cr_assert_eq(id, 7);
	f->cb = NULL;
	f->unsubs++;
}

/* What a client heard. */
struct client {
	char text[8][512];
	int status[8];
	int n, last;
};

static void on_reply(void *data, const struct ctl_reply *r, bool last)
{
	struct client *c = data;
	char *t = ctl_reply_text(r);

	cr_assert_not_null(t);
	cr_assert_lt(c->n, 8);
	snprintf(c->text[c->n], sizeof(c->text[0]), "%s", t);
	c->status[c->n++] = r->status;
	c->last += last;
	free(t);
}

static struct ctl_config config(struct fake *f, uv_loop_t *loop)
{
	return (struct ctl_config){
		.target = { .stats_json = fake_stats, .data = f, .subscribe = fake_subscribe,
			    .unsubscribe = fake_unsubscribe },
		.loop = loop,
	};
}

static struct ctl_req wait_req(const char *cond, uint64_t timeout_ms)
{
	return (struct ctl_req){ .op = CTL_OP_WAIT, .condition = (char *)cond, .has_timeout = true,
				 .timeout_ms = timeout_ms };
}

#define STATS "{\"held_now\":0,\"dropped\":3,\"rules\":[{\"index\":1,\"name\":\"cut\",\"dropped\":3}],\"connections\":[]}"

Test(stream, events_are_one_reply_per_line_and_lost_lines_are_told)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	struct ctl_config cfg = config(&f, NULL);
	struct client c = { 0 };
	struct ctl_call *call = ctl__events(&calls, &cfg, on_reply, &c);
	const char *lines = "{\"t\":0.1,\"ev\":\"release\",\"pkt\":1,\"rel\":1}\n{\"t\":0.2,\"ev\":\"release\",\"pkt\":2,\"rel\":2}\n";

	cr_assert_not_null(call);
	cr_assert_eq(f.subs, 1);
	f.cb(f.cb_data, lines, strlen(lines), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.text[0], "{\"t\":0.1,\"ev\":\"release\",\"pkt\":1,\"rel\":1}");
	cr_assert_eq(c.last, 0);
	f.cb(f.cb_data, lines, strlen(lines) / 2, 5);
	cr_assert_str_eq(c.text[2], "{\"lost\":5}");
	cr_assert_eq(c.n, 4);
	/* faultline stops: the stream's end is the last reply. */
	f.cb(f.cb_data, NULL, 0, 0);
	cr_assert_eq(c.last, 1);
	cr_assert_str_eq(c.text[4], "{\"ok\":true,\"end\":true}");
	cr_assert_null(calls.head);
}

Test(stream, an_events_client_that_goes_away_is_unsubscribed)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	struct ctl_config cfg = config(&f, NULL);
	struct client c = { 0 };
	struct ctl_call *call = ctl__events(&calls, &cfg, on_reply, &c);

	ctl__call_cancel(call);
	cr_assert_eq(f.unsubs, 1);
	cr_assert_null(calls.head);
	cr_assert_eq(c.n, 0, "no reply after a cancel");
}

Test(stream, a_condition_that_holds_already_is_answered_at_once)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	struct ctl_config cfg = config(&f, NULL);
	struct client c = { 0 };
	struct ctl_req req = wait_req("cut.dropped >= 3 and held == 0", 1000);

	cr_assert_null(ctl__wait(&calls, &cfg, &req, on_reply, &c));
	cr_assert_eq(c.status[0], 200);
	cr_assert_str_eq(c.text[0], "{\"ok\":true,\"met\":true,\"condition\":\"cut.dropped >= 3 and held == 0\","
				    "\"terms\":[{\"term\":\"cut.dropped >= 3\",\"value\":3,\"holds\":true},"
				    "{\"term\":\"held == 0\",\"value\":0,\"holds\":true}],\"lost\":0}");
	cr_assert_eq(f.subs, 0, "counters need no event stream");
}

Test(stream, refusals_say_where_and_why)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	struct ctl_config cfg = config(&f, NULL);
	struct client c = { 0 };
	struct ctl_req bad = wait_req("cut.dropped >> 3", 1000), missing = wait_req("slow.dropped >= 1", 1000),
		       long_wait = wait_req("held == 0", CTL_WAIT_MAX_MS + 1ull);

	cr_assert_null(ctl__wait(&calls, &cfg, &bad, on_reply, &c));
	cr_assert_eq(c.status[0], 400);
	cr_assert_str_eq(c.text[0], "{\"error\":\"condition:13: '>>' is not a comparison (>=, >, ==, !=, <=, <)\","
				    "\"status\":400}");
	cr_assert_null(ctl__wait(&calls, &cfg, &missing, on_reply, &c));
	cr_assert_eq(c.status[1], 404);
	cr_assert(strstr(c.text[1], "no rule named 'slow'"));
	cr_assert_null(ctl__wait(&calls, &cfg, &long_wait, on_reply, &c));
	cr_assert_eq(c.status[2], 400);
	cr_assert_null(calls.head);
}

Test(stream, a_tracker_condition_is_met_from_the_stream)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	uv_loop_t loop;
	struct ctl_config cfg;
	struct client c = { 0 };
	struct ctl_req req = wait_req("conn port 8080 state ESTABLISHED", 60000);
	const char *line = "{\"t\":0.1,\"ev\":\"transition\",\"flow\":1,\"conn\":\"10.0.0.1:4000 > 10.0.0.2:8080\","
			   "\"endpoint\":1,\"old\":\"SYN_RECEIVED\",\"new\":\"ESTABLISHED\"}\n";

	uv_loop_init(&loop);
	cfg = config(&f, &loop);
	cr_assert_not_null(ctl__wait(&calls, &cfg, &req, on_reply, &c));
	cr_assert_eq(f.subs, 1);
	cr_assert_eq(c.n, 0);
	f.cb(f.cb_data, line, strlen(line), 0);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert_eq(f.unsubs, 1);
	/* The timers close; nothing is left on the loop. */
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(stream, a_wait_times_out_with_408_and_the_values_it_saw)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	uv_loop_t loop;
	struct ctl_config cfg;
	struct client c = { 0 };
	struct ctl_req req = wait_req("total.dropped >= 10", 30);

	uv_loop_init(&loop);
	cfg = config(&f, &loop);
	cr_assert_not_null(ctl__wait(&calls, &cfg, &req, on_reply, &c));
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.status[0], 408);
	cr_assert_str_eq(c.text[0], "{\"error\":\"timed out after 30 ms: the condition does not hold\",\"status\":408,"
				    "\"met\":false,\"condition\":\"total.dropped >= 10\",\"terms\":[{\"term\":"
				    "\"total.dropped >= 10\",\"value\":3,\"holds\":false}],\"lost\":0}");
	cr_assert_null(calls.head);
	cr_assert_eq(uv_loop_close(&loop), 0);
}

/* The counters are read again while the wait waits. */
static void raise_drops(uv_timer_t *t)
{
	struct fake *f = t->data;

	f->stats = "{\"held_now\":0,\"dropped\":12,\"rules\":[],\"connections\":[]}";
	uv_close((uv_handle_t *)t, NULL);
}

Test(stream, counters_are_polled_until_they_hold)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	uv_loop_t loop;
	uv_timer_t later;
	struct ctl_config cfg;
	struct client c = { 0 };
	struct ctl_req req = wait_req("total.dropped >= 10", 60000);

	uv_loop_init(&loop);
	cfg = config(&f, &loop);
	cr_assert_not_null(ctl__wait(&calls, &cfg, &req, on_reply, &c));
	uv_timer_init(&loop, &later);
	later.data = &f;
	uv_timer_start(&later, raise_drops, 50, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.status[0], 200);
	cr_assert(strstr(c.text[0], "\"value\":12"), "%s", c.text[0]);
	cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(stream, stopping_ends_every_call)
{
	struct fake f = { .stats = STATS };
	struct ctl__calls calls = { 0 };
	uv_loop_t loop;
	struct ctl_config cfg;
	struct client ev = { 0 }, w = { 0 };
	struct ctl_req req = wait_req("total.dropped >= 10", 60000);

	uv_loop_init(&loop);
	cfg = config(&f, &loop);
	cr_assert_not_null(ctl__events(&calls, &cfg, on_reply, &ev));
	cr_assert_not_null(ctl__wait(&calls, &cfg, &req, on_reply, &w));
	ctl__calls_stop(&calls);
	cr_assert_null(calls.head);
	cr_assert_str_eq(ev.text[0], "{\"ok\":true,\"end\":true}");
	cr_assert_eq(w.status[0], 503);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&loop), 0);
}
