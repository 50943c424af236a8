// SPDX-License-Identifier: MIT
/*
 * The executor's asynchronous calls: an events stream and a wait. Each
 * is a struct ctl_call on its executor's list, owning a subscription to
 * the proxy's event stream (through the target) and, for a wait, two
 * timers on the loop; it is freed once its timers' close callbacks ran.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "stream.h"
#include "wait.h"

struct ctl_call {
	struct ctl__calls *calls;
	struct ctl_call *next, **pprev;
	struct ctl_target t;
	ctl_reply_cb cb;
	void *data;
	bool done;		/* replied last or cancelled: no more replies */
	int busy;		/* inside its callback: freed when it returns */
	int sub;		/* event stream subscription, 0: none */
	uint64_t lost;		/* event lines missed */
	/* events: one line at a time, NUL-terminated. */
	char *line;
	size_t line_size;
	/* wait */
	struct wait *w;
	char *condition;
	uint64_t timeout_ms;
	bool timers;		/* both timers initialised: closed before the call is freed */
	int open;		/* timers not closed yet */
	uv_timer_t timeout, poll;
};

static void link_call(struct ctl__calls *calls, struct ctl_call *call)
{
	call->calls = calls;
	call->next = calls->head;
	if (calls->head)
		calls->head->pprev = &call->next;
	call->pprev = &calls->head;
	calls->head = call;
}

static void unlink_call(struct ctl_call *call)
{
	if (!call->pprev)
		return;
	*call->pprev = call->next;
	if (call->next)
		call->next->pprev = call->pprev;
	call->pprev = NULL;
}

static void call_free(struct ctl_call *call)
{
	wait_free(call->w);
	free(call->condition);
	free(call->line);
	free(call);
}

static void on_timer_close(uv_handle_t *h)
{
	struct ctl_call *call = h->data;

	if (--call->open == 0)
		call_free(call);
}

/* No more replies: off the list and the stream; freed now or once its timers closed. */
static void call_end(struct ctl_call *call)
{
	call->done = true;
	unlink_call(call);
	if (call->sub > 0 && call->t.unsubscribe)
		call->t.unsubscribe(call->t.data, call->sub);
	call->sub = 0;
	if (!call->timers) {
		if (!call->busy)
			call_free(call);
		return;
	}
	call->open = 2;
	uv_close((uv_handle_t *)&call->timeout, on_timer_close);
	uv_close((uv_handle_t *)&call->poll, on_timer_close);
}

/* A reply with body (taken; NULL: out of memory), last or not. */
static void deliver(ctl_reply_cb cb, void *data, int status, json_t *body, bool last)
{
	struct ctl_reply r = { .status = status, .body = body };

	if (!body) {
		r.status = CTL_STATUS_INTERNAL;
		r.line = "{\"error\":\"out of memory\",\"status\":500}";
	}
	cb(data, &r, last);
	json_decref(body);
}

/* The last reply, after the call ended (it may be freed: the reply goes through copies). */
static void finish(struct ctl_call *call, int status, json_t *body)
{
	ctl_reply_cb cb = call->cb;
	void *data = call->data;

	call_end(call);
	deliver(cb, data, status, body, true);
}

static struct ctl_call *call_new(struct ctl__calls *calls, const struct ctl_config *cfg, ctl_reply_cb cb,
				 void *data)
{
	struct ctl_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->t = cfg->target;
	call->cb = cb;
	call->data = data;
	link_call(calls, call);
	return call;
}

static void refuse(ctl_reply_cb cb, void *data, int status, const char *msg)
{
	deliver(cb, data, status, ctl_error_body(status, msg), true);
}

/* ---- events ---- */

static int line_room(struct ctl_call *call, size_t n)
{
	char *b;

	if (n < call->line_size)
		return 0;
	b = realloc(call->line, n + 1);
	if (!b)
		return -ENOMEM;
	call->line = b;
	call->line_size = n + 1;
	return 0;
}

static void on_event_lines(void *data, const char *lines, size_t len, uint64_t lost)
{
	struct ctl_call *call = data;
	const char *p = lines, *end = lines + len;

	if (!lines) {
		/* faultline stops: the stream ends. */
		call->sub = 0;
		finish(call, CTL_STATUS_OK, json_pack("{s:b, s:b}", "ok", 1, "end", 1));
		return;
	}
	/* The client may cancel from its reply callback: the call stays until this returns. */
	call->busy++;
	if (lost)
		deliver(call->cb, call->data, CTL_STATUS_OK, json_pack("{s:I}", "lost", (json_int_t)lost), false);
	while (p < end && !call->done) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ctl_reply r = { .status = CTL_STATUS_OK };

		if (line_room(call, n)) {
			/* No memory for this line: it is lost like one the ring had no room for. */
			call->lost++;
		} else {
			memcpy(call->line, p, n);
			call->line[n] = 0;
			r.line = call->line;
			call->cb(call->data, &r, false);
		}
		p += n + 1;
	}
	if (--call->busy == 0 && call->done)
		call_free(call);
}

struct ctl_call *ctl__events(struct ctl__calls *calls, const struct ctl_config *cfg, ctl_reply_cb cb,
			     void *data)
{
	struct ctl_call *call;
	int id;

	if (!cfg->target.subscribe) {
		refuse(cb, data, CTL_STATUS_NOT_IMPLEMENTED, "this run has no event stream");
		return NULL;
	}
	call = call_new(calls, cfg, cb, data);
	if (!call) {
		refuse(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return NULL;
	}
	id = call->t.subscribe(call->t.data, on_event_lines, call, NULL);
	if (id < 0) {
		call_end(call);
		refuse(cb, data, id == -ENOMEM ? CTL_STATUS_INTERNAL : CTL_STATUS_UNAVAILABLE,
		       id == -ENOMEM ? "out of memory" : "faultline is stopping");
		return NULL;
	}
	call->sub = id;
	return call;
}

/* ---- wait ---- */

static json_t *terms_json(const struct wait *w)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < wait_terms(w); i++)
		if (json_array_append_new(a, json_pack("{s:s, s:I, s:b}", "term", wait_term_text(w, i), "value",
						       (json_int_t)wait_term_value(w, i), "holds",
						       wait_term_holds(w, i)))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *met_body(struct ctl_call *call)
{
	return json_pack("{s:b, s:b, s:s, s:o*, s:I}", "ok", 1, "met", 1, "condition", call->condition,
			 "terms", terms_json(call->w), "lost", (json_int_t)call->lost);
}

/* Done if the condition holds now. */
static bool check(struct ctl_call *call)
{
	if (call->done || !wait_met(call->w))
		return false;
	finish(call, CTL_STATUS_OK, met_body(call));
	return true;
}

static void on_wait_lines(void *data, const char *lines, size_t len, uint64_t lost)
{
	struct ctl_call *call = data;

	if (!lines) {
		call->sub = 0;
		finish(call, CTL_STATUS_UNAVAILABLE, ctl_error_body(CTL_STATUS_UNAVAILABLE, "faultline is stopping"));
		return;
	}
	call->lost += lost;
	wait_feed_lines(call->w, lines, len);
	check(call);
}

static void on_poll(uv_timer_t *t)
{
	struct ctl_call *call = t->data;
	char *stats = call->t.stats_json(call->t.data);

	if (stats) {
		wait_feed_stats(call->w, stats, strlen(stats));
		free(stats);
	}
	check(call);
}

static void on_timeout(uv_timer_t *t)
{
	struct ctl_call *call = t->data;
	char msg[160];
	json_t *body;

	if (call->done)
		return;
	snprintf(msg, sizeof(msg), "timed out after %llu ms: the condition does not hold",
		 (unsigned long long)call->timeout_ms);
	body = ctl_error_body(CTL_STATUS_TIMEOUT, msg);
	if (body && json_object_update_new(body, json_pack("{s:b, s:s, s:o*, s:I}", "met", 0, "condition",
							      call->condition, "terms", terms_json(call->w),
							      "lost", (json_int_t)call->lost))) {
		json_decref(body);
		body = NULL;
	}
	finish(call, CTL_STATUS_TIMEOUT, body);
}

/* Parse and start: 0, or a status with msg set. */
static int wait_setup(struct ctl_call *call, const struct ctl_req *req, char *msg, size_t size)
{
	struct wait_error we;
	char *stats = NULL;
	int ret;

	call->condition = strdup(req->condition ? req->condition : "");
	if (!call->condition)
		return CTL_STATUS_INTERNAL;
	call->timeout_ms = req->has_timeout ? req->timeout_ms : CTL_WAIT_DEFAULT_MS;
	if (call->timeout_ms > CTL_WAIT_MAX_MS) {
		snprintf(msg, size, "timeout_ms %llu is over the most a wait may take (%u, a day)",
			 (unsigned long long)call->timeout_ms, CTL_WAIT_MAX_MS);
		return CTL_STATUS_BAD_REQUEST;
	}
	call->w = wait_parse(call->condition, &we);
	if (!call->w) {
		if (errno == ENOMEM)
			return CTL_STATUS_INTERNAL;
		snprintf(msg, size, "condition:%d: %s", we.col, we.msg);
		return CTL_STATUS_BAD_REQUEST;
	}
	/* The stream only for terms that need it: it makes the packet path format every event. */
	if (wait_wants_events(call->w)) {
		if (!call->t.subscribe) {
			snprintf(msg, size, "this run has no event stream for tracker conditions");
			return CTL_STATUS_NOT_IMPLEMENTED;
		}
		ret = call->t.subscribe(call->t.data, on_wait_lines, call, &stats);
		if (ret < 0) {
			snprintf(msg, size, ret == -ENOMEM ? "out of memory" : "faultline is stopping");
			return ret == -ENOMEM ? CTL_STATUS_INTERNAL : CTL_STATUS_UNAVAILABLE;
		}
		call->sub = ret;
	} else {
		stats = call->t.stats_json(call->t.data);
	}
	if (!stats)
		return CTL_STATUS_INTERNAL;
	ret = wait_start(call->w, stats, strlen(stats), &we);
	free(stats);
	if (ret) {
		snprintf(msg, size, "%s", we.msg);
		return ret == -ENOENT ? CTL_STATUS_NOT_FOUND : CTL_STATUS_BAD_REQUEST;
	}
	return 0;
}

struct ctl_call *ctl__wait(struct ctl__calls *calls, const struct ctl_config *cfg,
			   const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct ctl_call *call = call_new(calls, cfg, cb, data);
	char msg[sizeof(((struct wait_error *)0)->msg) + 64];
	int status;

	if (!call) {
		refuse(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return NULL;
	}
	status = wait_setup(call, req, msg, sizeof(msg));
	if (status) {
		call_end(call);
		refuse(cb, data, status, status == CTL_STATUS_INTERNAL ? "out of memory" : msg);
		return NULL;
	}
	if (check(call))
		return NULL;
	if (!cfg->loop) {
		call_end(call);
		refuse(cb, data, CTL_STATUS_NOT_IMPLEMENTED, "this run has no loop to wait on");
		return NULL;
	}
	uv_timer_init(cfg->loop, &call->timeout);
	uv_timer_init(cfg->loop, &call->poll);
	call->timeout.data = call->poll.data = call;
	call->timers = true;
	uv_timer_start(&call->timeout, on_timeout, call->timeout_ms, 0);
	if (wait_wants_stats(call->w))
		uv_timer_start(&call->poll, on_poll, CTL_WAIT_POLL_MS, CTL_WAIT_POLL_MS);
	return call;
}

void ctl__call_cancel(struct ctl_call *call)
{
	if (call && !call->done)
		call_end(call);
}

void ctl__calls_stop(struct ctl__calls *calls)
{
	while (calls->head) {
		struct ctl_call *call = calls->head;

		/* A stream ends as when faultline stops; a wait is refused. */
		if (call->w)
			finish(call, CTL_STATUS_UNAVAILABLE,
			       ctl_error_body(CTL_STATUS_UNAVAILABLE, "faultline is stopping"));
		else
			finish(call, CTL_STATUS_OK, json_pack("{s:b, s:b}", "ok", 1, "end", 1));
	}
}
