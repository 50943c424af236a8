// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "file.h"
#include "play.h"
#include "stream.h"
#include "wait.h"

/* A trigger: its step and its evaluator. */
struct trigger {
	size_t step;
	struct wait *w;
	bool fired;		/* 'on': once */
	uint64_t last_total;	/* 'every': the counts when it last fired */
};

struct play {
	struct play_config cfg;
	struct scenario *sc;
	size_t *order;		/* the 'at' steps, by time (file order among equals) */
	size_t n_at, next_at;
	struct trigger *trig;
	size_t n_trig;
	bool started, stopped, wants_stats;
	int sub;		/* event stream subscription for the triggers, 0: none */
	uint64_t start_ms;	/* the loop's clock at play_start */
	uv_timer_t at_timer, poll_timer;
	int open;		/* handles not closed yet */
	bool free_when_closed;
};

/* What one step's request got back. */
struct outcome {
	int status;
	char msg[1100];
};

static void on_reply(void *data, const struct ctl_reply *r, bool last)
{
	struct outcome *o = data;
	json_t *err = r->body ? json_object_get(r->body, "error") : NULL;

	o->status = r->status;
	if (json_is_string(err))
		snprintf(o->msg, sizeof(o->msg), "%s", json_string_value(err));
	else if (r->status >= 400)
		snprintf(o->msg, sizeof(o->msg), "refused (%d)", r->status);
	(void)last;
}

/* The line for the event log: "step":N,"line":L,"op":..,"text":..,"ok":true | "error":.. */
static void log_step(struct play *pl, size_t i, uint64_t since_ns, const struct outcome *o)
{
	const struct scenario_step *st = &pl->sc->steps[i];
	json_t *j = json_pack("{s:I, s:i, s:s, s:s}", "step", (json_int_t)(i + 1), "line", st->line, "op",
			      scenario_op_name(st->op), "text", st->text);
	char *s;

	if (!j)
		return;
	if (o && o->status >= 400)
		json_object_set_new(j, "error", json_string(o->msg));
	else
		json_object_set_new(j, "ok", json_true());
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return;
	/* Members only: the braces go. */
	s[strlen(s) - 1] = 0;
	pl->cfg.log_event(pl->cfg.data, since_ns, s + 1);
	free(s);
}

/* replace FILE: its text for the request, or a message. */
static char *read_rules(const char *path, struct outcome *o)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		snprintf(o->msg, sizeof(o->msg), "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = getdelim(&text, &cap, '\0', f);
	if (n < 0 && !ferror(f))
		text = strdup("");
	if (ferror(f) || !text) {
		snprintf(o->msg, sizeof(o->msg), "%s: %s", path, strerror(errno ? errno : EIO));
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static void run_step(struct play *pl, size_t i)
{
	static const enum ctl_op ops[] = {
		[SCENARIO_ADD] = CTL_OP_ADD,	     [SCENARIO_DEL] = CTL_OP_DEL,
		[SCENARIO_ENABLE] = CTL_OP_ENABLE,   [SCENARIO_DISABLE] = CTL_OP_DISABLE,
		[SCENARIO_REPLACE] = CTL_OP_REPLACE,
	};
	const struct scenario_step *st = &pl->sc->steps[i];
	struct outcome o = { .status = CTL_STATUS_OK };
	struct ctl_req req = { 0 };
	char line[sizeof(o.msg) + 64];
	/*
	 * The line's time is when the rules changed, not when the step's
	 * answer came: a change waits for the kernel's filter (milliseconds)
	 * and the packets decided meanwhile still met the old rules.
	 */
	uint64_t begun = uv_hrtime();

	if (st->op == SCENARIO_END) {
		/* Written first: stopping ends the stream. */
		log_step(pl, i, UINT64_MAX, NULL);
		pl->cfg.end(pl->cfg.data);
		return;
	}
	req.op = ops[st->op];
	req.name = st->name;
	req.rule = st->rule;
	if (st->op == SCENARIO_REPLACE) {
		req.rules = read_rules(st->path, &o);
		if (!req.rules)
			o.status = CTL_STATUS_BAD_REQUEST;
	}
	if (o.status < 400)
		ctl_exec(pl->cfg.ctl, &req, on_reply, &o);
	if (st->op == SCENARIO_REPLACE)
		free(req.rules);
	log_step(pl, i, begun, &o);
	if (o.status >= 400 && pl->cfg.say) {
		snprintf(line, sizeof(line), "scenario line %d: %s", st->line, o.msg);
		pl->cfg.say(pl->cfg.data, line);
	}
}

/* ---- the clock ---- */

static void arm(struct play *pl);

static void on_at(uv_timer_t *t)
{
	struct play *pl = t->data;
	uint64_t now = uv_now(pl->cfg.loop) - pl->start_ms;

	/* Every step due by now, in order; an end step stops the rest. */
	while (!pl->stopped && pl->next_at < pl->n_at &&
	       pl->sc->steps[pl->order[pl->next_at]].at_ns / 1000000u <= now)
		run_step(pl, pl->order[pl->next_at++]);
	arm(pl);
}

static void arm(struct play *pl)
{
	uint64_t now, due;

	if (pl->stopped || pl->next_at == pl->n_at)
		return;
	now = uv_now(pl->cfg.loop) - pl->start_ms;
	due = pl->sc->steps[pl->order[pl->next_at]].at_ns / 1000000u;
	uv_timer_start(&pl->at_timer, on_at, due > now ? due - now : 0, 0);
}

/* ---- triggers ---- */

static uint64_t total(const struct wait *w)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < wait_terms(w); i++)
		n += wait_term_value(w, i);
	return n;
}

static void check_triggers(struct play *pl)
{
	for (size_t k = 0; k < pl->n_trig && !pl->stopped; k++) {
		struct trigger *tr = &pl->trig[k];
		const struct scenario_step *st = &pl->sc->steps[tr->step];

		if (tr->fired || !wait_met(tr->w))
			continue;
		if (st->when == SCENARIO_ON) {
			tr->fired = true;
		} else {
			uint64_t n = total(tr->w);

			if (n <= tr->last_total)
				continue;
			tr->last_total = n;
		}
		run_step(pl, tr->step);
	}
}

static void on_lines(void *data, const char *lines, size_t len, uint64_t lost)
{
	struct play *pl = data;

	if (!lines) {
		pl->sub = 0;
		return;
	}
	for (size_t k = 0; k < pl->n_trig; k++)
		wait_feed_lines(pl->trig[k].w, lines, len);
	check_triggers(pl);
}

static void on_poll(uv_timer_t *t)
{
	struct play *pl = t->data;
	char *stats = pl->cfg.target.stats_json(pl->cfg.target.data);

	if (!stats)
		return;
	for (size_t k = 0; k < pl->n_trig; k++)
		wait_feed_stats(pl->trig[k].w, stats, strlen(stats));
	free(stats);
	check_triggers(pl);
}

/* ---- life ---- */

static int by_time(const void *a, const void *b, void *data)
{
	const struct scenario *sc = data;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint64_t tx = sc->steps[x].at_ns, ty = sc->steps[y].at_ns;

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return x < y ? -1 : x > y;
}

struct play *play_new(struct scenario *sc, const struct play_config *cfg)
{
	struct play *pl = calloc(1, sizeof(*pl));
	int err = ENOMEM;

	if (!pl)
		goto err;
	pl->cfg = *cfg;
	pl->sc = sc;
	pl->order = calloc(sc->n ? sc->n : 1, sizeof(*pl->order));
	pl->trig = calloc(sc->n ? sc->n : 1, sizeof(*pl->trig));
	if (!pl->order || !pl->trig)
		goto err;
	for (size_t i = 0; i < sc->n; i++) {
		struct trigger *tr;

		if (sc->steps[i].when == SCENARIO_AT) {
			pl->order[pl->n_at++] = i;
			continue;
		}
		tr = &pl->trig[pl->n_trig++];
		tr->step = i;
		tr->w = wait_parse(sc->steps[i].condition, NULL);
		if (!tr->w) {
			err = errno;
			goto err;
		}
		pl->wants_stats |= wait_wants_stats(tr->w);
	}
	qsort_r(pl->order, pl->n_at, sizeof(*pl->order), by_time, sc);
	return pl;
err:
	if (pl) {
		pl->sc = sc;
		play_free(pl);
	} else {
		scenario_free(sc);
	}
	errno = err;
	return NULL;
}

/* The triggers start from the counters of the instant their stream starts. */
static int start_triggers(struct play *pl)
{
	char *stats = NULL, msg[400];
	struct wait_error we;
	int ret;

	if (!pl->n_trig)
		return 0;
	ret = pl->cfg.target.subscribe ? pl->cfg.target.subscribe(pl->cfg.target.data, on_lines, pl, &stats)
				       : -ENOTSUP;
	if (ret < 0)
		return ret;
	pl->sub = ret;
	for (size_t k = 0; k < pl->n_trig; k++) {
		ret = wait_start(pl->trig[k].w, stats, strlen(stats), &we);
		if (ret) {
			if (pl->cfg.say) {
				snprintf(msg, sizeof(msg), "scenario line %d: %s",
					 pl->sc->steps[pl->trig[k].step].line, we.msg);
				pl->cfg.say(pl->cfg.data, msg);
			}
			break;
		}
	}
	free(stats);
	if (!ret && pl->wants_stats)
		uv_timer_start(&pl->poll_timer, on_poll, CTL_WAIT_POLL_MS, CTL_WAIT_POLL_MS);
	return ret;
}

int play_start(struct play *pl)
{
	int ret;

	uv_timer_init(pl->cfg.loop, &pl->at_timer);
	uv_timer_init(pl->cfg.loop, &pl->poll_timer);
	pl->at_timer.data = pl->poll_timer.data = pl;
	pl->started = true;
	pl->open = 2;
	uv_update_time(pl->cfg.loop);
	pl->start_ms = uv_now(pl->cfg.loop);
	ret = start_triggers(pl);
	if (ret)
		return ret;
	/* A condition may hold at once; steps at 0s run from the first turn of the loop. */
	check_triggers(pl);
	arm(pl);
	return 0;
}

static void on_close(uv_handle_t *h)
{
	struct play *pl = h->data;

	if (--pl->open == 0 && pl->free_when_closed)
		play_free(pl);
}

void play_stop(struct play *pl)
{
	if (!pl || pl->stopped)
		return;
	pl->stopped = true;
	if (pl->sub > 0 && pl->cfg.target.unsubscribe)
		pl->cfg.target.unsubscribe(pl->cfg.target.data, pl->sub);
	pl->sub = 0;
	if (pl->started) {
		uv_close((uv_handle_t *)&pl->at_timer, on_close);
		uv_close((uv_handle_t *)&pl->poll_timer, on_close);
	}
}

void play_free(struct play *pl)
{
	if (!pl)
		return;
	play_stop(pl);
	/* Handles still closing: freed by the last close callback. */
	if (pl->open) {
		pl->free_when_closed = true;
		return;
	}
	for (size_t k = 0; k < pl->n_trig; k++)
		wait_free(pl->trig[k].w);
	free(pl->trig);
	free(pl->order);
	scenario_free(pl->sc);
	free(pl);
}
