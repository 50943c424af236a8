// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "act.h"
#include "capture.h"
#include "events.h"
#include "flow.h"
#include "inject.h"
#include "ipt.h"
#include "packet.h"
#include "proxy.h"
#include "sched.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Packets read per poll callback: bounded so timers and signals get their turn. */
#define READ_BUDGET 256

/* A packet whose verdict waits in the scheduler. */
struct held {
	struct sched_entry e;
	uint32_t id;
	uint32_t copies;
	int rule;		/* the rule that holds it, for 'released early' */
	uint8_t *data;		/* owned copy, only when it must be re-sent or rewritten */
	uint32_t len;
	bool mangled;		/* data replaces the packet in the verdict */
};

struct totals {
	uint64_t packets, accepted, dropped, held, released, released_early;
	uint64_t malformed, duplicates_sent, duplicate_errors, corrupted, gso;
	uint64_t verdict_errors;
};

struct proxy {
	struct proxy_config cfg;
	uv_loop_t loop;
	uv_poll_t nfq_poll;
	uv_poll_t timer_poll;
	uv_signal_t sig_int, sig_term, sig_usr1;
	int timer_fd;
	uint64_t armed_ns;	/* deadline the timerfd is armed for, 0 = disarmed */

	struct capture *cap;
	struct inject *inj;
	struct sched *sched;
	struct flow_table *flows;
	struct rule_set *rules;
	struct act_ctx *act;
	struct events ev;
	struct totals tot;

	/* Accepts of the current burst, sent as one batch verdict when nothing is held. */
	uint32_t *accepts;
	size_t n_accepts;
	uint64_t burst_now;

	bool ipt_installed, stopping;
	int open_handles;
	proxy_report_cb report;
	void *report_data;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void held_free(struct held *h)
{
	free(h->data);
	free(h);
}

/* Arm the timerfd for the earliest held deadline (absolute, CLOCK_MONOTONIC). */
static void rearm(struct proxy *p)
{
	struct sched_entry *e = sched_peek(p->sched);
	struct itimerspec its = { 0 };
	uint64_t when = e ? e->deadline : 0;

	if (when == p->armed_ns)
		return;
	if (when) {
		/* 0 would disarm: a deadline already past must still fire. */
		if (when < 1)
			when = 1;
		its.it_value.tv_sec = (time_t)(when / 1000000000ull);
		its.it_value.tv_nsec = (long)(when % 1000000000ull);
	}
	timerfd_settime(p->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	p->armed_ns = when;
}

static void send_copies(struct proxy *p, const uint8_t *data, uint32_t len, uint32_t copies)
{
	struct pkt_view v;

	if (!copies || pkt_parse(&v, data, len))
		return;
	/* The original goes first: flush its verdict before the copies leave. */
	capture_flush(p->cap);
	for (uint32_t i = 0; i < copies; i++) {
		if (inject_send(p->inj, &v) < 0)
			p->tot.duplicate_errors++;
		else
			p->tot.duplicates_sent++;
	}
}

static void verdict(struct proxy *p, uint32_t id, int v, const uint8_t *payload, uint32_t len)
{
	if (capture_verdict(p->cap, id, v, payload, len) < 0)
		p->tot.verdict_errors++;
}

static void release(struct proxy *p, struct held *h, bool early)
{
	verdict(p, h->id, CAPTURE_ACCEPT, h->mangled ? h->data : NULL, h->len);
	p->tot.released++;
	if (early) {
		p->tot.released_early++;
		act_note_released_early(p->act, h->rule);
	}
	if (h->copies)
		send_copies(p, h->data, h->len, h->copies);
	held_free(h);
}

static void release_due(struct proxy *p)
{
	uint64_t now = now_ns();
	struct sched_entry *e;

	while ((e = sched_pop_due(p->sched, now, act_ctx_rng(p->act))))
		release(p, container_of(e, struct held, e), false);
	capture_flush(p->cap);
	rearm(p);
}

static void hold(struct proxy *p, struct capture_pkt *cp, const struct pkt_view *v,
		 const struct act_decision *d, uint8_t *copy, bool mangled)
{
	struct held *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		/* Out of memory: never lose the packet, let it go undelayed. */
		verdict(p, cp->id, CAPTURE_ACCEPT, mangled ? copy : NULL, cp->len);
		free(copy);
		p->tot.released_early++;
		return;
	}
	h->id = cp->id;
	h->copies = d->copies;
	h->rule = d->hold_rule;
	h->data = copy;
	h->len = cp->len;
	h->mangled = mangled;
	for (;;) {
		if (d->reorder) {
			h->e.after_group_ns = d->delay_ns;
			ret = sched_reorder_add(p->sched, d->reorder_rule, d->reorder_n,
						d->reorder_timeout_ns, &h->e, p->burst_now,
						act_ctx_rng(p->act));
		} else {
			ret = sched_push(p->sched, &h->e, p->burst_now + d->delay_ns);
		}
		if (ret != -ENOSPC)
			break;
		/* At the bound the packet due soonest leaves early; none is lost. */
		release(p, container_of(sched_pop(p->sched), struct held, e), true);
	}
	if (ret) {
		release(p, h, true);
		return;
	}
	p->tot.held++;
	(void)v;
}

static void accept_later(struct proxy *p, uint32_t id)
{
	p->accepts[p->n_accepts++] = id;
	p->tot.accepted++;
}

static void on_packet(void *data, struct capture_pkt *cp)
{
	struct proxy *p = data;
	struct act_decision d;
	struct act_input in;
	struct pkt_view v;
	uint8_t *copy = NULL;
	bool mangled = false;

	p->tot.packets++;
	if (cp->gso)
		p->tot.gso++;
	if (pkt_parse(&v, cp->data, cp->len)) {
		/* A bad packet is data: pass it unchanged and count it. */
		p->tot.malformed++;
		events_malformed(&p->ev, p->burst_now, cp->len);
		accept_later(p, cp->id);
		return;
	}
	in.v = &v;
	in.dir = cp->dir;
	in.now_ns = p->burst_now;
	in.tcp = NULL;
	flow_table_identify(p->flows, &v, p->burst_now, &in.id);
	act_decide(p->act, &in, &d);
	if (d.n_fired)
		events_verdict(&p->ev, p->burst_now, &v, in.dir, &in.id, &d);

	if (d.drop) {
		verdict(p, cp->id, CAPTURE_DROP, NULL, 0);
		p->tot.dropped++;
		return;
	}
	/* A cut copy (copy range, BIG TCP) cannot be rewritten or re-sent whole. */
	if ((d.corrupt || d.copies) && cp->len == cp->orig_len) {
		copy = malloc(cp->len);
		if (copy)
			memcpy(copy, cp->data, cp->len);
	}
	if (d.corrupt && copy) {
		/*
		 * A super-packet whose checksum is left to offload cannot carry a
		 * full checksum we compute: skip it rather than break the flow.
		 */
		if (!cp->csum_not_ready && !cp->gso && act_corrupt(p->act, &in, copy, cp->len) == 0) {
			mangled = true;
			p->tot.corrupted++;
		}
	}
	if (!d.copies && !mangled) {
		free(copy);
		copy = NULL;
	}
	if (!copy)
		d.copies = 0;
	if (d.delay_ns || d.reorder) {
		hold(p, cp, &v, &d, copy, mangled);
		return;
	}
	if (mangled || d.copies) {
		verdict(p, cp->id, CAPTURE_ACCEPT, mangled ? copy : NULL, cp->len);
		p->tot.accepted++;
		send_copies(p, copy, cp->len, d.copies);
		free(copy);
		return;
	}
	accept_later(p, cp->id);
}

static void flush_accepts(struct proxy *p)
{
	if (!p->n_accepts)
		return;
	/*
	 * A batch verdict accepts every queued id up to the given one, held
	 * packets included, so it is only safe while nothing is held.
	 */
	if (!sched_count(p->sched)) {
		uint32_t max = p->accepts[0];

		for (size_t i = 1; i < p->n_accepts; i++)
			if ((int32_t)(p->accepts[i] - max) > 0)
				max = p->accepts[i];
		if (capture_accept_upto(p->cap, max) < 0)
			p->tot.verdict_errors++;
	} else {
		for (size_t i = 0; i < p->n_accepts; i++)
			verdict(p, p->accepts[i], CAPTURE_ACCEPT, NULL, 0);
	}
	p->n_accepts = 0;
}

static void on_nfq_readable(uv_poll_t *h, int status, int events)
{
	struct proxy *p = container_of(h, struct proxy, nfq_poll);
	int n;

	if (status < 0 || p->stopping)
		return;
	p->burst_now = now_ns();
	n = capture_read(p->cap, READ_BUDGET, on_packet, p);
	flush_accepts(p);
	capture_flush(p->cap);
	if (n < 0)
		p->tot.verdict_errors++;
	rearm(p);
}

static void on_timer(uv_poll_t *h, int status, int events)
{
	struct proxy *p = container_of(h, struct proxy, timer_poll);
	uint64_t expirations;

	if (read(p->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	p->armed_ns = 0;
	release_due(p);
}

static void report(struct proxy *p, const char *kind)
{
	char *json;

	if (!p->report)
		return;
	json = proxy_stats_json(p);
	if (json)
		p->report(p->report_data, kind, json);
	free(json);
}

static void on_close(uv_handle_t *h)
{
	struct proxy *p = h->data;

	p->open_handles--;
}

static void drain_accept(void *data, struct capture_pkt *cp)
{
	struct proxy *p = data;

	p->tot.packets++;
	accept_later(p, cp->id);
}

void proxy_stop(struct proxy *p)
{
	struct sched_entry *e;
	char err[256];

	if (p->stopping)
		return;
	p->stopping = true;
	uv_poll_stop(&p->nfq_poll);
	/* Everything held goes now, in deadline order. */
	while ((e = sched_pop(p->sched)))
		release(p, container_of(e, struct held, e), true);
	capture_flush(p->cap);
	if (p->ipt_installed) {
		ipt_remove(p->cfg.queue, true, err, sizeof(err));
		p->ipt_installed = false;
	}
	/*
	 * Packets queued before the chain went away are in our socket; the
	 * kernel drops them when the socket closes, so accept them first.
	 */
	for (int i = 0; i < 64; i++) {
		p->burst_now = now_ns();
		if (capture_read(p->cap, READ_BUDGET, drain_accept, p) <= 0)
			break;
		flush_accepts(p);
		capture_flush(p->cap);
	}
	flush_accepts(p);
	capture_flush(p->cap);

	uv_close((uv_handle_t *)&p->nfq_poll, on_close);
	uv_close((uv_handle_t *)&p->timer_poll, on_close);
	uv_close((uv_handle_t *)&p->sig_int, on_close);
	uv_close((uv_handle_t *)&p->sig_term, on_close);
	uv_close((uv_handle_t *)&p->sig_usr1, on_close);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct proxy *p = h->data;

	if (signum == SIGUSR1)
		report(p, "stats");
	else
		proxy_stop(p);
}

struct proxy *proxy_new(const struct proxy_config *cfg, struct rule_set *rules,
			proxy_report_cb report_cb, void *report_data, char *err, size_t errlen)
{
	struct proxy *p = calloc(1, sizeof(*p));
	struct capture_config cc = { 0 };
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		rule_set_free(rules);
		return NULL;
	}
	p->cfg = *cfg;
	if (!p->cfg.max_held)
		p->cfg.max_held = 50000;
	if (!p->cfg.max_flows)
		p->cfg.max_flows = 65536;
	if (!p->cfg.mark)
		p->cfg.mark = 0x0fa17;
	p->rules = rules;
	p->report = report_cb;
	p->report_data = report_data;
	p->timer_fd = -1;
	p->ev.out = cfg->events;
	p->ev.start_ns = now_ns();

	p->accepts = calloc(READ_BUDGET, sizeof(*p->accepts));
	p->sched = sched_new(p->cfg.max_held);
	p->flows = flow_table_new(p->cfg.max_flows);
	p->act = act_ctx_new(rules, cfg->seed, p->ev.start_ns);
	if (!p->accepts || !p->sched || !p->flows || !p->act) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	cc.queue = cfg->queue;
	cc.queue_maxlen = cfg->queue_maxlen;
	cc.rcvbuf = cfg->rcvbuf;
	p->cap = capture_open(&cc, &ret);
	if (!p->cap) {
		snprintf(err, errlen, "cannot bind NFQUEUE queue %u: %s%s", cfg->queue, strerror(-ret),
			 ret == -EPERM ? " (needs root or CAP_NET_ADMIN)" :
			 ret == -EBUSY ? " (another program is bound to it; pick --queue)" : "");
		goto err;
	}
	p->inj = inject_open(p->cfg.mark, &ret);
	if (!p->inj) {
		snprintf(err, errlen, "cannot open raw sockets: %s", strerror(-ret));
		goto err;
	}
	p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->timer_fd < 0) {
		snprintf(err, errlen, "timerfd: %s", strerror(errno));
		goto err;
	}
	if (uv_loop_init(&p->loop)) {
		snprintf(err, errlen, "cannot create the event loop");
		goto err;
	}
	uv_poll_init(&p->loop, &p->nfq_poll, capture_fd(p->cap));
	uv_poll_init(&p->loop, &p->timer_poll, p->timer_fd);
	uv_signal_init(&p->loop, &p->sig_int);
	uv_signal_init(&p->loop, &p->sig_term);
	uv_signal_init(&p->loop, &p->sig_usr1);
	p->nfq_poll.data = p->timer_poll.data = p;
	p->sig_int.data = p->sig_term.data = p->sig_usr1.data = p;
	p->open_handles = 5;
	return p;
err:
	proxy_free(p);
	return NULL;
}

int proxy_run(struct proxy *p, char *err, size_t errlen)
{
	struct ipt_config ic = {
		.queue = p->cfg.queue,
		.queues = 1,
		.mark = p->cfg.mark,
		.forward = p->cfg.forward,
		.ipv6 = true,
	};
	int ret;

	if (!p->cfg.no_iptables) {
		ret = ipt_install(&ic, err, errlen);
		if (ret)
			return ret;
		p->ipt_installed = true;
	}
	uv_poll_start(&p->nfq_poll, UV_READABLE, on_nfq_readable);
	uv_poll_start(&p->timer_poll, UV_READABLE, on_timer);
	uv_signal_start(&p->sig_int, on_signal, SIGINT);
	uv_signal_start(&p->sig_term, on_signal, SIGTERM);
	uv_signal_start(&p->sig_usr1, on_signal, SIGUSR1);
	if (p->report)
		p->report(p->report_data, "ready", "{}");
	uv_run(&p->loop, UV_RUN_DEFAULT);
	/* proxy_stop closed every handle; this run lets their close callbacks finish. */
	uv_run(&p->loop, UV_RUN_DEFAULT);
	report(p, "final");
	return 0;
}

int proxy_swap_rules(struct proxy *p, struct rule_set *rules)
{
	int ret = act_ctx_swap(p->act, rules, now_ns());

	if (ret) {
		rule_set_free(rules);
		return ret;
	}
	rule_set_free(p->rules);
	p->rules = rules;
	return 0;
}

struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void jprintf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *q = realloc(b->p, cap);

		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

char *proxy_stats_json(const struct proxy *p)
{
	struct capture_stats cs = { 0 };
	struct jbuf b = { 0 };
	size_t n = rule_set_count(p->rules);

	if (p->cap)
		capture_get_stats(p->cap, &cs);
	jprintf(&b, "{\"seed\":%llu,\"queue\":%u,\"packets\":%llu,\"accepted\":%llu,\"dropped\":%llu,"
		    "\"held\":%llu,\"held_now\":%zu,\"released\":%llu,\"released_early\":%llu,"
		    "\"malformed\":%llu,\"gso\":%llu,\"corrupted\":%llu,\"duplicates_sent\":%llu,"
		    "\"duplicate_errors\":%llu,\"enobufs\":%llu,\"verdict_errors\":%llu,"
		    "\"flows\":%u,\"flow_evictions\":%llu,\"rules\":[",
		(unsigned long long)p->cfg.seed, p->cfg.queue, (unsigned long long)p->tot.packets,
		(unsigned long long)p->tot.accepted, (unsigned long long)p->tot.dropped,
		(unsigned long long)p->tot.held, sched_count(p->sched),
		(unsigned long long)p->tot.released, (unsigned long long)p->tot.released_early,
		(unsigned long long)p->tot.malformed, (unsigned long long)p->tot.gso,
		(unsigned long long)p->tot.corrupted, (unsigned long long)p->tot.duplicates_sent,
		(unsigned long long)p->tot.duplicate_errors, (unsigned long long)cs.enobufs,
		(unsigned long long)p->tot.verdict_errors, flow_table_count(p->flows),
		(unsigned long long)flow_table_evictions(p->flows));
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(p->rules, i);
		const struct act_counters *c = act_ctx_counters(p->act, (unsigned)i);
		char text[1024], esc[2048];

		rule_print(r, text, sizeof(text));
		events_json_escape(esc, sizeof(esc), text);
		jprintf(&b, "%s{\"index\":%zu,\"rule\":\"%s\",\"line\":%d,\"matched\":%llu,"
			    "\"dropped\":%llu,\"delayed\":%llu,\"reordered\":%llu,\"duplicated\":%llu,"
			    "\"corrupted\":%llu,\"rate_queued\":%llu,\"rate_dropped\":%llu,"
			    "\"released_early\":%llu}",
			i ? "," : "", i, esc, r->line, (unsigned long long)c->matched,
			(unsigned long long)c->dropped, (unsigned long long)c->delayed,
			(unsigned long long)c->reordered, (unsigned long long)c->duplicated,
			(unsigned long long)c->corrupted, (unsigned long long)c->rate_queued,
			(unsigned long long)c->rate_dropped, (unsigned long long)c->released_early);
	}
	jprintf(&b, "]}");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

void proxy_free(struct proxy *p)
{
	struct sched_entry *e;

	if (!p)
		return;
	if (p->sched) {
		while ((e = sched_pop(p->sched)))
			held_free(container_of(e, struct held, e));
		sched_free(p->sched);
	}
	if (p->open_handles == 5 && !p->stopping) {
		/* Built but never run: the handles were initialised, close them. */
		uv_close((uv_handle_t *)&p->nfq_poll, on_close);
		uv_close((uv_handle_t *)&p->timer_poll, on_close);
		uv_close((uv_handle_t *)&p->sig_int, on_close);
		uv_close((uv_handle_t *)&p->sig_term, on_close);
		uv_close((uv_handle_t *)&p->sig_usr1, on_close);
		uv_run(&p->loop, UV_RUN_DEFAULT);
	}
	if (p->open_handles == 0)
		uv_loop_close(&p->loop);
	if (p->timer_fd >= 0)
		close(p->timer_fd);
	inject_close(p->inj);
	capture_close(p->cap);
	act_ctx_free(p->act);
	flow_table_free(p->flows);
	rule_set_free(p->rules);
	free(p->accepts);
	free(p);
}
