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
#include "track.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Packets read per poll callback: bounded so timers and signals get their turn. */
#define READ_BUDGET 256
/* Connections summarised in the final report; later ones are only counted. */
#define MAX_SUMMARIES 10000

/* A packet whose verdict waits in the scheduler. */
struct held {
	struct sched_entry e;
	uint32_t id;
	uint32_t copies;
	int rule;		/* the rule that holds it, for 'released early' */
	uint8_t *data;		/* owned copy, only when it must be re-sent or rewritten */
	uint32_t len;
	bool mangled;		/* data replaces the packet in the verdict */
	bool tracked;		/* a TCP segment: the tracker hears of its release */
	struct track_seg seg;
	struct pkt_view view;	/* parsed fields for the tracker; view.data is not kept */
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
	struct track *track;	/* NULL with --no-track */
	uv_timer_t housekeeping; /* TIME_WAIT and idle expiry: coarse time is fine */
	char *summaries;	/* JSON of connections that ended, for the final report */
	size_t summaries_len, n_summaries;

	/* Accepts of the current burst, sent as one batch verdict when nothing is held. */
	uint32_t *accepts;
	size_t n_accepts;
	uint64_t burst_now;

	bool ipt_installed, stopping, loop_ready;
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
	/* The receiver sees it now: that is when the shadow state moves. */
	if (h->tracked) {
		uint64_t now = now_ns();

		track_released(p->track, &h->seg, &h->view, now);
		for (uint32_t i = 0; i < h->copies; i++)
			track_released(p->track, &h->seg, &h->view, now);
	}
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
		 const struct act_decision *d, uint8_t *copy, bool mangled, const struct track_seg *seg)
{
	struct held *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		/* Out of memory: never lose the packet, let it go undelayed. */
		verdict(p, cp->id, CAPTURE_ACCEPT, mangled ? copy : NULL, cp->len);
		free(copy);
		p->tot.released_early++;
		if (seg)
			track_released(p->track, seg, v, p->burst_now);
		return;
	}
	h->id = cp->id;
	h->copies = d->copies;
	h->rule = d->hold_rule;
	h->data = copy;
	h->len = cp->len;
	h->mangled = mangled;
	if (seg) {
		h->tracked = true;
		h->seg = *seg;
		h->view = *v;
		h->view.data = NULL;
	}
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
}

static void tcp_info_from(struct act_tcp_info *ti, const struct track_seg *seg)
{
	ti->sender_state = seg->sender_state;
	ti->receiver_state = seg->receiver_state;
	ti->first_data = seg->classes & TRACK_C_FIRST_DATA;
	ti->retransmission = seg->classes & TRACK_C_RETRANSMISSION;
	/* "Out of order" to a user: arrives beyond the next expected byte, or fills such a gap. */
	ti->out_of_order = seg->classes & (TRACK_C_OUT_OF_ORDER | TRACK_C_GAP);
	ti->dup_ack = seg->classes & TRACK_C_DUP_ACK;
	ti->stale = seg->classes & TRACK_C_STALE;
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
	struct track_seg seg, *segp = NULL;
	struct act_tcp_info ti;

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
	if (p->track && v.has_l4 && v.l4proto == 6 &&
	    track_ingress(p->track, &v, p->burst_now, &seg) == 0) {
		tcp_info_from(&ti, &seg);
		in.tcp = &ti;
		segp = &seg;
	}
	flow_table_identify(p->flows, &v, p->burst_now, &in.id);
	act_decide(p->act, &in, &d);

	if (d.drop) {
		if (d.n_fired)
			events_verdict(&p->ev, p->burst_now, &v, in.dir, &in.id, &d);
		verdict(p, cp->id, CAPTURE_DROP, NULL, 0);
		p->tot.dropped++;
		if (segp)
			track_dropped(p->track, segp, &v, p->burst_now);
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
		 * A rewritten packet loses its offload state (the kernel marks it
		 * CHECKSUM_NONE), so act_corrupt writes a full checksum, also when
		 * the original's was left to offload. A GSO super-packet is still
		 * to be cut into segments, each needing its own checksum: skip it.
		 */
		if (!cp->gso && act_corrupt(p->act, &in, copy, cp->len) == 0) {
			mangled = true;
			p->tot.corrupted++;
			act_note_corrupted(p->act, d.corrupt_rule);
		}
	}
	/* SYNs, bare ACKs, GSO and cut copies stay as they were: say so. */
	d.corrupt = mangled;
	if (d.n_fired)
		events_verdict(&p->ev, p->burst_now, &v, in.dir, &in.id, &d);
	if (!d.copies && !mangled) {
		free(copy);
		copy = NULL;
	}
	if (!copy)
		d.copies = 0;
	if (segp) {
		uint32_t alt = (d.delay_ns ? TRACK_ALT_DELAYED : 0) | (d.reorder ? TRACK_ALT_REORDERED : 0) |
			       (d.copies ? TRACK_ALT_DUPLICATED : 0) | (mangled ? TRACK_ALT_CORRUPTED : 0);

		if (alt)
			track_altered(p->track, segp, alt);
	}
	if (d.delay_ns || d.reorder) {
		hold(p, cp, &v, &d, copy, mangled, segp);
		return;
	}
	if (segp) {
		track_released(p->track, segp, &v, p->burst_now);
		for (uint32_t i = 0; i < d.copies; i++)
			track_released(p->track, segp, &v, p->burst_now);
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

static void add_summary(struct proxy *p, const struct track_summary *sum)
{
	char buf[TRACK_JSON_MAX];
	int n = track_summary_json(sum, buf, sizeof(buf));
	char *q;

	if (n <= 0 || (size_t)n >= sizeof(buf) || p->n_summaries >= MAX_SUMMARIES)
		return;
	q = realloc(p->summaries, p->summaries_len + (size_t)n + 2);
	if (!q)
		return;
	p->summaries = q;
	if (p->summaries_len)
		p->summaries[p->summaries_len++] = ',';
	memcpy(p->summaries + p->summaries_len, buf, (size_t)n + 1);
	p->summaries_len += (size_t)n;
	p->n_summaries++;
}

static void on_track_event(void *data, const struct track_event *ev)
{
	struct proxy *p = data;
	char buf[TRACK_JSON_MAX];
	int n;

	if (ev->type == TRACK_EV_FLOW_END && ev->summary)
		add_summary(p, ev->summary);
	if (!p->ev.out)
		return;
	/* One time base for every line of the log: faultline's start. */
	struct track_event e = *ev;

	e.t_ns = now_ns() - p->ev.start_ns;
	n = track_event_json(&e, buf, sizeof(buf));
	if (n > 0 && (size_t)n < sizeof(buf))
		events_write_raw(&p->ev, buf);
}

static void on_housekeeping(uv_timer_t *t)
{
	struct proxy *p = container_of(t, struct proxy, housekeeping);

	track_expire(p->track, now_ns());
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
	uv_close((uv_handle_t *)&p->housekeeping, on_close);
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
	if (!cfg->no_track) {
		struct track_config tc;

		track_config_default(&tc);
		if (cfg->time_wait_ns)
			tc.time_wait_ns = cfg->time_wait_ns;
		if (cfg->track_idle_ns)
			tc.idle_ns = cfg->track_idle_ns;
		if (cfg->max_conns)
			tc.max_flows = cfg->max_conns;
		p->track = track_new(&tc);
		if (!p->track) {
			snprintf(err, errlen, "cannot create the TCP tracker: %s", strerror(errno));
			goto err;
		}
		track_set_event_cb(p->track, on_track_event, p);
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
	p->loop_ready = true;
	uv_poll_init(&p->loop, &p->nfq_poll, capture_fd(p->cap));
	uv_poll_init(&p->loop, &p->timer_poll, p->timer_fd);
	uv_signal_init(&p->loop, &p->sig_int);
	uv_signal_init(&p->loop, &p->sig_term);
	uv_signal_init(&p->loop, &p->sig_usr1);
	uv_timer_init(&p->loop, &p->housekeeping);
	p->nfq_poll.data = p->timer_poll.data = p;
	p->sig_int.data = p->sig_term.data = p->sig_usr1.data = p;
	p->housekeeping.data = p;
	p->open_handles = 6;
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
	if (p->track)
		uv_timer_start(&p->housekeeping, on_housekeeping, 1000, 1000);
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

struct conn_list {
	struct jbuf *b;
	bool first;
};

static void list_conn(void *data, const struct track_summary *s)
{
	struct conn_list *cl = data;
	char buf[TRACK_JSON_MAX];
	int n = track_summary_json(s, buf, sizeof(buf));

	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	jprintf(cl->b, "%s%s", cl->first ? "" : ",", buf);
	cl->first = false;
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
	jprintf(&b, "]");
	if (p->track) {
		struct track_stats ts;
		struct conn_list cl = { .b = &b, .first = true };

		track_get_stats(p->track, &ts);
		jprintf(&b, ",\"tcp\":{\"connections\":%llu,\"active\":%llu,\"evicted\":%llu,"
			    "\"expired_time_wait\":%llu,\"expired_idle\":%llu,\"segments\":%llu},"
			    "\"connections\":[",
			(unsigned long long)ts.flows_created, (unsigned long long)ts.flows_active,
			(unsigned long long)ts.evicted, (unsigned long long)ts.expired_time_wait,
			(unsigned long long)ts.expired_idle, (unsigned long long)ts.segments);
		if (p->summaries_len) {
			jprintf(&b, "%s", p->summaries);
			cl.first = false;
		}
		track_foreach(p->track, list_conn, &cl);
		jprintf(&b, "]");
	}
	jprintf(&b, "}");
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
	if (p->open_handles == 6 && !p->stopping) {
		/* Built but never run: the handles were initialised, close them. */
		uv_close((uv_handle_t *)&p->nfq_poll, on_close);
		uv_close((uv_handle_t *)&p->timer_poll, on_close);
		uv_close((uv_handle_t *)&p->sig_int, on_close);
		uv_close((uv_handle_t *)&p->sig_term, on_close);
		uv_close((uv_handle_t *)&p->sig_usr1, on_close);
		uv_close((uv_handle_t *)&p->housekeeping, on_close);
		uv_run(&p->loop, UV_RUN_DEFAULT);
	}
	if (p->loop_ready && p->open_handles == 0)
		uv_loop_close(&p->loop);
	if (p->timer_fd >= 0)
		close(p->timer_fd);
	inject_close(p->inj);
	capture_close(p->cap);
	act_ctx_free(p->act);
	track_free(p->track);
	free(p->summaries);
	flow_table_free(p->flows);
	rule_set_free(p->rules);
	free(p->accepts);
	free(p);
}
