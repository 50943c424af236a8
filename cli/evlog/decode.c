// SPDX-License-Identifier: MIT
/*
 * evlog decode: one event line, parsed by json.c, to a record. Packet and
 * tracker lines become struct evlog_pkt and struct evlog_trk; a release
 * waits in log->rels for evlog_finish. Every string kept is interned.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "internal.h"
#include "track.h"

static const struct evlog_jval *get(struct evlog *log, const struct evlog_jval *o, const char *key,
				    enum evlog_jtype type)
{
	const struct evlog_jval *v = evlog_json_get(&log->j, o, key);

	return v && v->type == type ? v : NULL;
}

static bool get_num(struct evlog *log, const struct evlog_jval *o, const char *key, double *out)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_NUM);

	if (!v || !isfinite(v->num))
		return false;
	*out = v->num;
	return true;
}

/* A non-negative integer that a double holds exactly. */
static bool get_u64(struct evlog *log, const struct evlog_jval *o, const char *key, uint64_t *out)
{
	double d;

	if (!get_num(log, o, key, &d) || d < 0 || d > 9007199254740992.0 || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool get_u32(struct evlog *log, const struct evlog_jval *o, const char *key, uint32_t *out)
{
	uint64_t u;

	if (!get_u64(log, o, key, &u) || u > UINT32_MAX)
		return false;
	*out = (uint32_t)u;
	return true;
}

static unsigned get_uint(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	uint32_t u = 0;

	get_u32(log, o, key, &u);
	return u;
}

/* An interned string member, "" when absent; NULL only when out of memory. */
static const char *get_str(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_STR);

	return v ? evlog__intern_n(log, v->str, v->n) : evlog__intern(log, "");
}

static bool get_bool(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_BOOL);

	return v && v->b;
}

/* Class names to TRACK_C_* bits; names this build does not know are skipped. */
static uint32_t get_classes(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *a = get(log, o, key, EVLOG_J_ARR);
	uint32_t bits = 0;

	for (const struct evlog_jval *v = evlog_json_first(&log->j, a); v;
	     v = evlog_json_next(&log->j, v)) {
		if (v->type != EVLOG_J_STR)
			continue;
		for (int i = 0; i < TRACK_C__COUNT; i++)
			if (!strcmp(v->str, track_class_name(1u << i)))
				bits |= 1u << i;
	}
	return bits;
}

/* "S", "SA", "FPA", "." (bare ACK, tracker lines), "A" (bare ACK, packet lines). */
static unsigned parse_flags(const char *s)
{
	unsigned f = 0;

	for (; *s; s++) {
		switch (*s) {
		case 'F':
			f |= EVLOG_FIN;
			break;
		case 'S':
			f |= EVLOG_SYN;
			break;
		case 'R':
			f |= EVLOG_RST;
			break;
		case 'P':
			f |= EVLOG_PSH;
			break;
		case 'A':
		case '.':
			f |= EVLOG_ACK;
			break;
		case 'U':
			f |= EVLOG_URG;
			break;
		case 'E':
			f |= EVLOG_ECE;
			break;
		case 'C':
		case 'W':
			f |= EVLOG_CWR;
			break;
		}
	}
	return f;
}

__attribute__((format(printf, 3, 4)))
static int bad_event(struct evlog *log, struct evlog_error *err, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->line = log->lines;
	err->col = 1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* A packet line's "actions": the rules that matched it and what each did. */
static int decode_actions(struct evlog *log, const struct evlog_jval *o, struct evlog_pkt *p)
{
	const struct evlog_jval *acts = get(log, o, "actions", EVLOG_J_ARR);

	if (!acts || !acts->n)
		return 0;
	p->actions = evlog__arena_alloc(log, acts->n * sizeof(*p->actions));
	if (!p->actions)
		return -ENOMEM;
	for (const struct evlog_jval *a = evlog_json_first(&log->j, acts); a;
	     a = evlog_json_next(&log->j, a)) {
		struct evlog_action *x = &p->actions[p->n_actions];

		if (a->type != EVLOG_J_OBJ)
			continue;
		x->rule = get_uint(log, a, "rule");
		x->name = get_str(log, a, "name");
		x->action = get_str(log, a, "action");
		x->reason = get_str(log, a, "reason");
		if (!x->name || !x->action || !x->reason)
			return -ENOMEM;
		/* Logs written before rules had names numbered them from 0. */
		if (!x->name[0])
			x->rule++;
		x->type = act_event_lookup(x->action);
		p->n_actions++;
	}
	return 0;
}

/* What the tracker said about a TCP segment, when it numbered it ("tcp_flow"). */
static int decode_tcp(struct evlog *log, const struct evlog_jval *o, struct evlog_pkt *p)
{
	const char *fl;

	if (!get_u64(log, o, "tcp_flow", &p->tcp_flow))
		return 0;
	p->tcp = true;
	get_u32(log, o, "seg", &p->seg);
	get_u32(log, o, "seq", &p->seq);
	get_u32(log, o, "ack", &p->ack);
	get_u32(log, o, "caused_by", &p->caused_by);
	p->endpoint = get_uint(log, o, "endpoint") ? 1 : 0;
	fl = get_str(log, o, "flags");
	p->sender_state = get_str(log, o, "sender_state");
	p->receiver_state = get_str(log, o, "receiver_state");
	if (!fl || !p->sender_state || !p->receiver_state)
		return -ENOMEM;
	p->flags = parse_flags(fl);
	p->classes = get_classes(log, o, "class");
	return 0;
}

static int add_packet(struct evlog *log, const struct evlog_jval *o, struct evlog_error *err)
{
	const char *verdict;
	struct evlog_pkt *p;
	uint64_t u;
	double d;

	if (evlog__grow((void **)&log->pkts, &log->cap_pkts, log->n_pkts, sizeof(*log->pkts)))
		return -ENOMEM;
	p = &log->pkts[log->n_pkts];
	memset(p, 0, sizeof(*p));
	p->line = log->lines;
	if (!get_num(log, o, "t", &p->t))
		return bad_event(log, err, "packet event without a valid \"t\"");
	if (!get_u64(log, o, "pkt", &p->pkt))
		return bad_event(log, err, "packet event without a valid \"pkt\"");
	p->proto = get_str(log, o, "proto");
	p->flow = get_str(log, o, "flow");
	p->flow_hash = get_str(log, o, "flow_hash");
	p->dir = get_str(log, o, "dir");
	p->way = get_uint(log, o, "way") ? 1 : 0;
	if (get_u64(log, o, "ord", &u))
		p->ord = u;
	p->len = get_uint(log, o, "len");
	p->plen = get_uint(log, o, "plen");
	p->gso = get_bool(log, o, "gso");
	p->reorder = get_bool(log, o, "reorder");
	p->corrupt = get_bool(log, o, "corrupt");
	p->copies = get_uint(log, o, "copies");
	if (get_num(log, o, "delay_us", &d))
		p->delay_us = d;
	if (get_num(log, o, "arrived", &d) && d < p->t)
		p->arrived = d;
	verdict = get_str(log, o, "verdict");
	if (!p->proto || !p->flow || !p->flow_hash || !p->dir || !verdict)
		return -ENOMEM;
	p->verdict = !strcmp(verdict, "drop") ? EVLOG_DROP :
		     !strcmp(verdict, "hold") ? EVLOG_HOLD : EVLOG_ACCEPT;
	if (decode_actions(log, o, p) || decode_tcp(log, o, p))
		return -ENOMEM;
	log->n_pkts++;
	return 0;
}

/* The latest packet line before this one with capture number pkt, or NULL. */
static const struct evlog_pkt *cause_of(const struct evlog *log, uint64_t pkt)
{
	/* Its RSTs follow a packet's line at once: the search ends at the first step. */
	for (size_t i = log->n_pkts; i-- > 0;)
		if (log->pkts[i].pkt == pkt && !log->pkts[i].injected)
			return &log->pkts[i];
	return NULL;
}

/*
 * An "inject" line: a packet faultline made. A RST ("kind":"rst") becomes
 * a packet record of its cause's conversation (an arrow of the ladder),
 * from the endpoint it claims to come from: the cause's sender when it
 * has the cause's flow, else its receiver. Other kinds are skipped: a
 * piece of 'segment' is counted in its packet's "pieces" (the writer
 * gives pieces no line), and a kind this build does not know is skipped
 * as unknown events are. A RST whose cause is not in the log (a log cut
 * at its start) has no conversation to go to: skipped too.
 */
static int add_inject(struct evlog *log, const struct evlog_jval *o, struct evlog_error *err)
{
	const struct evlog_pkt *c;
	const char *kind, *flow, *fl;
	struct evlog_pkt *p;
	uint64_t pkt;
	double t;
	bool same;

	if (!get_num(log, o, "t", &t))
		return bad_event(log, err, "inject event without a valid \"t\"");
	if (!get_u64(log, o, "pkt", &pkt))
		return bad_event(log, err, "inject event without a valid \"pkt\"");
	kind = get_str(log, o, "kind");
	flow = get_str(log, o, "flow");
	fl = get_str(log, o, "flags");
	if (!kind || !flow || !fl)
		return -ENOMEM;
	if (strcmp(kind, "rst"))
		return 0;
	c = cause_of(log, pkt);
	if (!c)
		return 0;
	if (evlog__grow((void **)&log->pkts, &log->cap_pkts, log->n_pkts, sizeof(*log->pkts)))
		return -ENOMEM;
	/* cause_of's pointer may have moved with the array. */
	c = cause_of(log, pkt);
	p = &log->pkts[log->n_pkts];
	memset(p, 0, sizeof(*p));
	same = !strcmp(flow, c->flow);
	p->line = log->lines;
	p->t = t;
	p->pkt = pkt;
	p->injected = true;
	p->inj_error = (int)get_uint(log, o, "error");
	p->proto = c->proto;
	p->flow = flow;
	p->flow_hash = c->flow_hash;
	p->dir = same ? c->dir : evlog__intern(log, !strcmp(c->dir, "in") ? "out" : "in");
	p->way = same ? c->way : !c->way;
	p->len = get_uint(log, o, "len");
	p->verdict = EVLOG_ACCEPT;
	/* The cause's actions name the rule that made it. */
	p->n_actions = c->n_actions;
	p->actions = c->actions;
	p->tcp = c->tcp;
	p->tcp_flow = c->tcp_flow;
	p->endpoint = same ? c->endpoint : !c->endpoint;
	p->flags = parse_flags(fl);
	get_u32(log, o, "seq", &p->seq);
	get_u32(log, o, "ack", &p->ack);
	p->sender_state = p->receiver_state = evlog__intern(log, "");
	if (!p->dir || !p->sender_state)
		return -ENOMEM;
	log->n_pkts++;
	return 0;
}

static int add_release(struct evlog *log, const struct evlog_jval *o, struct evlog_error *err)
{
	struct evlog__rel *r;

	if (evlog__grow((void **)&log->rels, &log->cap_rels, log->n_rels, sizeof(*log->rels)))
		return -ENOMEM;
	r = &log->rels[log->n_rels];
	memset(r, 0, sizeof(*r));
	r->line = log->lines;
	if (!get_num(log, o, "t", &r->t))
		return bad_event(log, err, "release event without a valid \"t\"");
	if (!get_u64(log, o, "pkt", &r->pkt))
		return bad_event(log, err, "release event without a valid \"pkt\"");
	get_u64(log, o, "rel", &r->rel);
	r->early = get_bool(log, o, "early");
	log->n_rels++;
	return 0;
}

static int add_summary(struct evlog *log, const struct evlog_jval *o, struct evlog_summary *s)
{
	const struct evlog_jval *st = get(log, o, "state", EVLOG_J_ARR);
	int i = 0;

	if (!o)
		return 0;
	s->valid = true;
	for (const struct evlog_jval *v = evlog_json_first(&log->j, st); v && i < 2;
	     v = evlog_json_next(&log->j, v), i++) {
		s->state[i] = v->type == EVLOG_J_STR ? evlog__intern_n(log, v->str, v->n) :
						       evlog__intern(log, "?");
		if (!s->state[i])
			return -ENOMEM;
	}
	s->segments = get_uint(log, o, "segments");
	s->retransmissions = get_uint(log, o, "retransmissions");
	s->retransmissions_faultline = get_uint(log, o, "retransmissions_faultline");
	s->out_of_order = get_uint(log, o, "out_of_order");
	s->out_of_order_faultline = get_uint(log, o, "out_of_order_faultline");
	s->dup_acks = get_uint(log, o, "dup_acks");
	s->dup_acks_faultline = get_uint(log, o, "dup_acks_faultline");
	return 0;
}

static int add_trk(struct evlog *log, const struct evlog_jval *o, enum evlog_trk_type type,
		   const char *name, struct evlog_error *err)
{
	struct evlog_trk *k;

	if (evlog__grow((void **)&log->trks, &log->cap_trks, log->n_trks, sizeof(*log->trks)))
		return -ENOMEM;
	k = &log->trks[log->n_trks];
	memset(k, 0, sizeof(*k));
	k->line = log->lines;
	k->type = type;
	if (!get_num(log, o, "t", &k->t))
		return bad_event(log, err, "%s event without a valid \"t\"", name);
	if (!get_u64(log, o, "flow", &k->flow))
		return bad_event(log, err, "%s event without a valid \"flow\"", name);
	k->conn = get_str(log, o, "conn");
	k->endpoint = get_uint(log, o, "endpoint") ? 1 : 0;
	k->old_state = get_str(log, o, "old");
	k->new_state = get_str(log, o, "new");
	k->reason = get_str(log, o, "reason");
	if (!k->conn || !k->old_state || !k->new_state || !k->reason)
		return -ENOMEM;
	if (type == EVLOG_TRK_TRANSITION && !*k->new_state)
		return bad_event(log, err, "transition event without \"new\"");
	get_u32(log, o, "seg", &k->seg);
	k->classes = get_classes(log, o, "class");
	get_u32(log, o, "caused_by", &k->caused_by);
	{
		const char *view = get_str(log, o, "view");

		if (!view)
			return -ENOMEM;
		k->egress = !strcmp(view, "egress");
	}
	if (add_summary(log, get(log, o, "summary", EVLOG_J_OBJ), &k->summary))
		return -ENOMEM;
	log->n_trks++;
	return 0;
}

int evlog_add_line(struct evlog *log, const char *line, size_t len, struct evlog_error *err)
{
	const struct evlog_jval *root, *ev;
	size_t i;
	int ret;

	log->lines++;
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
			break;
	if (i == len)
		return 0;
	ret = evlog_json_parse(&log->j, line, len);
	if (ret == -EBADMSG) {
		memset(err, 0, sizeof(*err));
		err->line = log->lines;
		err->col = (unsigned)log->j.err_off + 1;
		err->json = true;
		snprintf(err->msg, sizeof(err->msg), "%s", log->j.err);
		return ret;
	}
	if (ret)
		return ret;
	root = evlog_json_root(&log->j);
	if (root->type != EVLOG_J_OBJ)
		return bad_event(log, err, "not a JSON object");
	/* Lines from a newer faultline (or none at all) are skipped, not refused. */
	ev = get(log, root, "ev", EVLOG_J_STR);
	if (!ev)
		return 0;
	if (!strcmp(ev->str, "packet"))
		return add_packet(log, root, err);
	if (!strcmp(ev->str, "release"))
		return add_release(log, root, err);
	if (!strcmp(ev->str, "inject"))
		return add_inject(log, root, err);
	if (!strcmp(ev->str, "transition"))
		return add_trk(log, root, EVLOG_TRK_TRANSITION, "transition", err);
	if (!strcmp(ev->str, "flow-new"))
		return add_trk(log, root, EVLOG_TRK_FLOW_NEW, "flow-new", err);
	if (!strcmp(ev->str, "class"))
		return add_trk(log, root, EVLOG_TRK_CLASS, "class", err);
	if (!strcmp(ev->str, "flow-end"))
		return add_trk(log, root, EVLOG_TRK_FLOW_END, "flow-end", err);
	return 0;
}

