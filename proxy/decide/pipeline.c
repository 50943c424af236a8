// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "flow.h"
#include "hot.h"
#include "lathist.h"
#include "pipeline.h"
#include "sched.h"
#include "strbuf.h"
#include "track.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Connections summarised in the final report; later ones are only counted. */
#define MAX_SUMMARIES 10000

/* A packet whose verdict waits in the scheduler. */
struct held {
	struct sched_entry e;
	uint64_t pkt;		/* capture number, for the event log */
	uint32_t id;
	uint32_t copies;
	int rule;		/* the rule that holds it, for 'released early' */
	uint8_t *data;		/* owned copy, when it must be re-sent, rewritten or kept */
	uint32_t len;		/* bytes of it (a cut copy keeps what there was) */
	uint32_t wire_len;	/* the packet's whole length */
	bool mangled;		/* data replaces the packet in the verdict */
	uint32_t segment;	/* 'segment N': leaves in pieces (data kept) */
	uint32_t vary;		/* 'vary V': the pieces' sizes, from key (act_piece_len) */
	uint64_t key;
	bool gso;		/* a GSO super-packet: rewritten, it leaves as a fresh packet */
	uint64_t gap_ns;	/* 'segment N gap D': its pieces leave D apart */
	/*
	 * A piece of 'segment N gap D' waiting for its turn: no verdict, it
	 * is sent (data, len) as piece 'index' of 'count' when it is due.
	 */
	bool piece;
	uint32_t index, count;
	uint64_t captured_ns;	/* for the capture file's comment */
	bool tracked;		/* a TCP segment: the tracker hears of its release */
	struct track_seg seg;
	struct pkt_view view;	/* parsed fields for the tracker; view.data is not kept */
};

struct pipeline {
	struct pipeline_config cfg;
	struct pipeline_ops ops;
	void *ops_data;
	const struct rule_set *rules;
	struct sched *sched;
	struct flow_table *flows;
	struct act_ctx *act;
	struct track *track;	/* NULL with no_track */
	struct pipeline_totals tot;
	uint64_t releases;	/* release ordinal, for the observers */
	uint64_t now;		/* time of the call in progress, for tracker events */
	uint64_t arrived_floor;	/* the latest arrival a held packet's delay counted from */
	struct lathist late;	/* how late held packets left: release time - deadline */
	char *summaries;	/* JSON of connections that ended */
	size_t summaries_len, summaries_cap, n_summaries;
	uint64_t summaries_omitted;	/* ended connections past MAX_SUMMARIES or unprintable */
	unsigned n_obs;
	struct {
		const struct pipeline_observer_ops *ops;
		void *data;
	} obs[PIPELINE_MAX_OBSERVERS];
};

/* Every observer's cb, if it has one, with its data and the arguments. */
#define OBSERVE(pl, cb, ...)                                                   \
	do {                                                                   \
		for (unsigned o_ = 0; o_ < (pl)->n_obs; o_++)                  \
			if ((pl)->obs[o_].ops->cb)                             \
				(pl)->obs[o_].ops->cb((pl)->obs[o_].data, __VA_ARGS__); \
	} while (0)

static void held_free(struct held *h)
{
	free(h->data);
	free(h);
}

static void add_summary(struct pipeline *pl, const struct track_summary *sum)
{
	char buf[TRACK_JSON_MAX];
	int n = track_summary_json(sum, buf, sizeof(buf));
	char *q;

	/* The list is bounded; what it leaves out is counted, not silently lost. */
	if (n <= 0 || (size_t)n >= sizeof(buf) || pl->n_summaries >= MAX_SUMMARIES) {
		pl->summaries_omitted++;
		return;
	}
	/* Doubling: 10,000 summaries grown a line at a time copied gigabytes under ASan. */
	if (pl->summaries_len + (size_t)n + 2 > pl->summaries_cap) {
		size_t cap = pl->summaries_cap ? pl->summaries_cap * 2 : 4096;

		while (cap < pl->summaries_len + (size_t)n + 2)
			cap *= 2;
		q = realloc(pl->summaries, cap);
		if (!q) {
			pl->summaries_omitted++;
			return;
		}
		pl->summaries = q;
		pl->summaries_cap = cap;
	}
	if (pl->summaries_len)
		pl->summaries[pl->summaries_len++] = ',';
	memcpy(pl->summaries + pl->summaries_len, buf, (size_t)n + 1);
	pl->summaries_len += (size_t)n;
	pl->n_summaries++;
}

static void on_track_event(void *data, const struct track_event *ev)
{
	struct pipeline *pl = data;

	if (ev->type == TRACK_EV_CONN_END && ev->summary)
		add_summary(pl, ev->summary);
	/* The tracker counts time from its first packet: the observers get ours. */
	OBSERVE(pl, track_event, ev, pl->now);
}

_Static_assert(sizeof(struct rule_memo) <= TRACK_SLOT_BYTES, "the memo lives in the tracker's slot");
_Static_assert(sizeof(struct rule_memo) <= FLOW_SLOT_BYTES, "or in the flow table's");

FL_HOT void pipeline_tcp_input(struct act_input *in, struct act_tcp_info *ti, const struct track_seg *seg)
{
	/*
	 * The tracker has just looked the connection up and keeps its
	 * identity hash: hashing the tuple again, or a second table lookup
	 * by it, cost a fifth of the decision path (track_bench).
	 */
	in->id.hash = seg->ident;
	in->id.way = seg->way;
	in->id.ordinal = seg->ordinal;
	in->tcp = ti;
	in->memo = seg->slot;
	ti->sender_state = seg->sender_state;
	ti->receiver_state = seg->receiver_state;
	ti->first_data = seg->classes & TRACK_C_FIRST_DATA;
	ti->retransmission = seg->classes & TRACK_C_RETRANSMISSION;
	/* "Out of order" to a user: beyond the next expected byte, or filling such a gap. */
	ti->out_of_order = seg->classes & (TRACK_C_OUT_OF_ORDER | TRACK_C_GAP);
	ti->dup_ack = seg->classes & TRACK_C_DUP_ACK;
	ti->stale = seg->classes & TRACK_C_STALE;
	ti->has_off = seg->has_off;
	ti->off = seg->off;
}

struct pipeline *pipeline_new(const struct pipeline_config *cfg, const struct rule_set *rules,
			      const struct pipeline_ops *ops, void *ops_data)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));
	int ret;

	if (!pl)
		return NULL;
	pl->cfg = *cfg;
	if (!pl->cfg.max_held)
		pl->cfg.max_held = PIPELINE_DEFAULT_MAX_HELD;
	if (!pl->cfg.max_flows)
		pl->cfg.max_flows = PIPELINE_DEFAULT_MAX_FLOWS;
	pl->ops = *ops;
	pl->ops_data = ops_data;
	pl->rules = rules;
	/* Each checked at once: errno is the failed constructor's. */
	pl->sched = sched_new(pl->cfg.max_held);
	if (!pl->sched)
		goto err;
	pl->flows = flow_table_new(pl->cfg.max_flows);
	if (!pl->flows)
		goto err;
	pl->act = act_ctx_new(rules, cfg->seed, cfg->start_ns);
	if (!pl->act)
		goto err;
	act_ctx_scan_all(pl->act, cfg->rule_scan_all);
	sched_set_max_bytes(pl->sched, pl->cfg.max_held_bytes);
	if (!cfg->no_track) {
		struct track_config tc;

		track_config_default(&tc);
		if (cfg->time_wait_ns)
			tc.time_wait_ns = cfg->time_wait_ns;
		if (cfg->track_idle_ns)
			tc.idle_ns = cfg->track_idle_ns;
		if (cfg->max_conns)
			tc.max_conns = cfg->max_conns;
		tc.far_end = cfg->far_end;
		if (cfg->count > 1) {
			tc.id_first = cfg->index + 1u;
			tc.id_stride = cfg->count;
		}
		pl->track = track_new(&tc);
		if (!pl->track)
			goto err;
		track_set_event_cb(pl->track, on_track_event, pl);
	}
	return pl;
err:
	/* The constructor that failed set errno; freeing must not lose it. */
	ret = errno;
	pipeline_free(pl);
	errno = ret;
	return NULL;
}

int pipeline_add_observer(struct pipeline *pl, const struct pipeline_observer_ops *ops, void *data)
{
	if (pl->n_obs == PIPELINE_MAX_OBSERVERS)
		return -ENOSPC;
	pl->obs[pl->n_obs].ops = ops;
	pl->obs[pl->n_obs++].data = data;
	if (ops->keep_bytes)
		pl->cfg.keep_bytes = true;
	return 0;
}

void pipeline_free(struct pipeline *pl)
{
	struct sched_entry *e;

	if (!pl)
		return;
	if (pl->sched) {
		while ((e = sched_pop(pl->sched)))
			held_free(container_of(e, struct held, e));
		sched_free(pl->sched);
	}
	act_ctx_free(pl->act);
	track_free(pl->track);
	flow_table_free(pl->flows);
	free(pl->summaries);
	free(pl);
}

/* One packet on its way through decide(): what its steps share. */
struct pass {
	const struct pipeline_pkt *pk;
	const struct pkt_view *v;
	uint64_t pkt;			/* its number in this run */
	uint64_t now;
	struct act_input in;
	struct act_tcp_info ti;
	struct track_seg seg;
	const struct track_seg *segp;	/* &seg when the tracker has the segment, else NULL */
	struct act_decision d;
	uint8_t *copy;			/* owned: the bytes kept, rewritten or sent again */
	bool mangled;			/* copy is rewritten and replaces the packet */
};

/* Out of the packets' way: only with an observer installed. */
FL_COLD static void observe_decided(struct pipeline *pl, const struct pass *p)
{
	struct pipeline_decided e = {
		.pkt = p->pkt,
		.in = p->pk,
		.v = p->v,
		.id = &p->in.id,
		.seg = p->segp,
		.d = &p->d,
		.rules = pl->rules,
		.now_ns = p->now,
	};

	OBSERVE(pl, packet, &e);
}

static inline void log_decision(struct pipeline *pl, const struct pass *p)
{
	if (pl->n_obs)
		observe_decided(pl, p);
}

FL_COLD static void observe_left(struct pipeline *pl, const struct pipeline_left *e)
{
	OBSERVE(pl, left, e);
}

static void inject(struct pipeline *pl, struct pipeline_injected e, const uint8_t *b, uint32_t len);

/*
 * The packet id leaves rewritten, as the len bytes at b. A GSO
 * super-packet is not rewritten through its verdict: the kernel keeps its
 * offload state (its segment size) on the shorter packet, and one cut
 * shorter than that size was lost on the way (a from-byte head, the first
 * piece of each cut segment: issue 12). It leaves as a fresh packet
 * through the owner's inject, like the other pieces, and the original is
 * dropped; only if that send fails does the rewritten verdict go instead.
 */
static void leave_rewritten(struct pipeline *pl, uint32_t id, bool held, bool gso, const uint8_t *b,
			    uint32_t len, uint64_t now)
{
	if (gso && pl->ops.inject) {
		if (pl->ops.inject(pl->ops_data, b, len, now) == 0) {
			pl->ops.verdict(pl->ops_data, id, false, held, NULL, len, len, b, now);
			pl->tot.resent++;
			return;
		}
		pl->tot.inject_errors++;
	}
	pl->ops.verdict(pl->ops_data, id, true, held, b, len, len, b, now);
}

/*
 * 'segment N': the packet (len bytes at b) leaves in pieces of at most n
 * payload bytes (with 'vary', of act_piece_len's), the first as its
 * verdict (e->bytes and e->len become the first piece's), the others
 * injected after it, in order. Returns false when it cannot be cut (the
 * caller sends it whole).
 */
static void hold_piece(struct pipeline *pl, uint64_t pkt, const uint8_t *b, uint32_t len, uint32_t index,
		       uint32_t count, uint64_t at, uint64_t now);

static bool leave_in_pieces(struct pipeline *pl, uint32_t id, bool held, bool gso, uint64_t gap,
			    const uint8_t *b, uint32_t len, uint32_t n, uint32_t vary, uint64_t key,
			    struct pipeline_left *e)
{
	struct pkt_view v;
	uint32_t count, first = n ? act_piece_len(n, vary, key, 0) : 0, off;
	uint8_t *buf;
	int plen;

	if (!b || !n || pkt_parse(&v, b, len) || v.payload_len <= first)
		return false;
	buf = malloc(len);
	if (!buf)
		return false;
	count = act_piece_count(v.payload_len, n, vary, key);
	plen = pkt_slice(buf, len, &v, 0, first, 0);
	if (plen < 0) {
		free(buf);
		return false;
	}
	pl->tot.pieces += count;
	leave_rewritten(pl, id, held, gso, buf, (uint32_t)plen, e->now_ns);
	e->bytes = buf;
	e->len = e->wire_len = (uint32_t)plen;
	e->pieces = count;
	if (pl->n_obs)
		observe_left(pl, e);
	off = first;
	for (uint32_t i = 1; i < count; i++) {
		uint32_t want = act_piece_len(n, vary, key, i), at = off;
		uint32_t k = v.payload_len - at < want ? v.payload_len - at : want;

		off += k;
		plen = pkt_slice(buf, len, &v, at, k, (uint16_t)i);
		if (plen < 0) {
			pl->tot.inject_errors++;
			continue;
		}
		if (gap) {
			hold_piece(pl, e->pkt, buf, (uint32_t)plen, i, count, e->now_ns + i * gap, e->now_ns);
			continue;
		}
		inject(pl, (struct pipeline_injected){ .pkt = e->pkt, .kind = PIPELINE_INJ_PIECE,
						       .index = i, .count = count, .now_ns = e->now_ns },
		       buf, (uint32_t)plen);
	}
	free(buf);
	return true;
}

/* A spaced piece is due (or must go early): it is sent, in its place among the packets. */
static void release_piece(struct pipeline *pl, struct held *h, uint64_t now)
{
	pl->now = now;
	inject(pl, (struct pipeline_injected){ .pkt = h->pkt, .kind = PIPELINE_INJ_PIECE,
					       .index = h->index, .count = h->count, .now_ns = now },
	       h->data, h->len);
	held_free(h);
}

static void release(struct pipeline *pl, struct held *h, bool early, uint64_t now)
{
	struct pipeline_left e = {
		.pkt = h->pkt,
		.bytes = h->data,
		.len = h->len,
		.wire_len = h->wire_len,
		.copies = h->copies,
		.corrupted = h->mangled,
		.held = true,
		.early = early,
		.held_since_ns = h->captured_ns,
		.due_ns = h->e.deadline,
		.now_ns = now,
	};
	bool pieces;

	if (h->piece) {
		release_piece(pl, h, now);
		return;
	}
	pl->now = now;
	pl->tot.released++;
	e.release = ++pl->releases;
	pieces = h->segment && leave_in_pieces(pl, h->id, true, h->gso, h->gap_ns, h->data, h->len, h->segment,
					       h->vary, h->key, &e);
	if (!pieces) {
		pl->ops.verdict(pl->ops_data, h->id, true, true, h->mangled ? h->data : NULL, h->len,
				h->wire_len, h->data, now);
		if (pl->n_obs)
			observe_left(pl, &e);
	}
	/* The receiver sees it now: that is when the shadow state moves. */
	if (h->tracked) {
		track_released(pl->track, &h->seg, &h->view, now);
		for (uint32_t i = 0; i < h->copies; i++)
			track_released(pl->track, &h->seg, &h->view, now);
	}
	if (early) {
		pl->tot.released_early++;
		act_note_released_early(pl->act, h->rule);
	} else {
		lathist_add(&pl->late, now > h->e.deadline ? now - h->e.deadline : 0);
	}
	if (h->copies && h->data)
		pl->ops.duplicate(pl->ops_data, h->data, h->len, h->copies, now);
	held_free(h);
}

/*
 * Piece 'index' of 'count' of packet pkt (len bytes at b, copied) waits
 * until 'at' in the scheduler, like a held packet, so that its gap is
 * kept by the release timer and not by a sleep on the packet path. At a
 * bound the one due soonest makes room, as for packets; out of memory it
 * leaves now.
 */
static void hold_piece(struct pipeline *pl, uint64_t pkt, const uint8_t *b, uint32_t len, uint32_t index,
		       uint32_t count, uint64_t at, uint64_t now)
{
	struct held *h = calloc(1, sizeof(*h));
	int ret;

	if (h)
		h->data = malloc(len);
	if (!h || !h->data) {
		free(h);
		inject(pl, (struct pipeline_injected){ .pkt = pkt, .kind = PIPELINE_INJ_PIECE,
						       .index = index, .count = count, .now_ns = now },
		       b, len);
		return;
	}
	memcpy(h->data, b, len);
	h->len = h->wire_len = len;
	h->pkt = pkt;
	h->rule = -1;
	h->piece = true;
	h->index = index;
	h->count = count;
	h->e.bytes = len;
	while ((ret = sched_push(pl->sched, &h->e, at)) == -ENOSPC || ret == -ENOBUFS) {
		if (ret == -ENOSPC)
			pl->tot.early_max_held++;
		else
			pl->tot.early_max_held_bytes++;
		release(pl, container_of(sched_pop(pl->sched), struct held, e), true, now);
	}
	if (ret)
		release_piece(pl, h, now);
}

/*
 * When p's packet is due. A delay counts from the packet's arrival: the
 * kernel's receive time when it had one (pipeline_pkt.seen_ns), else now.
 * Under load a packet can wait milliseconds in the queue before faultline
 * reads it; counting the delay from the read added that wait to it. Only
 * the delays asked for count from the arrival (act_decision.asked_ns), and
 * never further back than they reach. Arrivals are taken in queue order
 * and never go back (the floor), so that packets held alike still leave
 * in the order they came: their deadlines are max(arrival + delay, now).
 */
static uint64_t due_at(struct pipeline *pl, const struct pass *p)
{
	const struct act_decision *d = &p->d;
	uint64_t arrived = p->pk->seen_ns && p->pk->seen_ns < p->now ? p->pk->seen_ns : p->now;
	uint64_t waited;

	if (arrived < pl->arrived_floor)
		arrived = pl->arrived_floor;
	pl->arrived_floor = arrived;
	waited = p->now - arrived;
	return p->now + d->delay_ns - (waited < d->asked_ns ? waited : d->asked_ns);
}

/* Schedule h as p's decision says; at a bound the packet due soonest leaves early. */
static void schedule(struct pipeline *pl, const struct pass *p, struct held *h)
{
	const struct act_decision *d = &p->d;
	uint64_t due = d->reorder ? 0 : due_at(pl, p);
	int ret;

	for (;;) {
		if (d->reorder) {
			h->e.after_group_ns = d->delay_ns;
			ret = sched_reorder_add(pl->sched, d->reorder_rule, d->reorder_n,
						d->reorder_timeout_ns, &h->e, p->now, act_ctx_rng(pl->act));
		} else {
			ret = sched_push(pl->sched, &h->e, due);
		}
		if (ret != -ENOSPC && ret != -ENOBUFS)
			break;
		/* None is lost: the one due soonest makes room. */
		if (ret == -ENOSPC)
			pl->tot.early_max_held++;
		else
			pl->tot.early_max_held_bytes++;
		release(pl, container_of(sched_pop(pl->sched), struct held, e), true, p->now);
	}
	if (ret) {
		release(pl, h, true, p->now);
		return;
	}
	pl->tot.held++;
}

/* Hold p's packet; its copy (p->copy) goes with it. */
static void hold(struct pipeline *pl, const struct pass *p)
{
	const struct pipeline_pkt *pk = p->pk;
	struct held *h = calloc(1, sizeof(*h));

	if (!h) {
		/* Out of memory: never lose the packet, let it go undelayed. */
		pl->ops.verdict(pl->ops_data, pk->id, true, false, p->mangled ? p->copy : NULL, pk->len,
				pk->orig_len, p->copy ? p->copy : pk->data, p->now);
		free(p->copy);
		pl->tot.released_early++;
		if (p->segp)
			track_released(pl->track, p->segp, p->v, p->now);
		return;
	}
	h->pkt = p->pkt;
	h->captured_ns = p->now;
	h->id = pk->id;
	h->copies = p->d.copies;
	h->rule = p->d.hold_rule;
	h->data = p->copy;
	h->len = pk->len;
	h->wire_len = pk->orig_len;
	h->mangled = p->mangled;
	h->segment = p->d.segment;
	h->vary = p->d.segment_vary;
	h->key = p->d.segment_key;
	h->gap_ns = p->d.segment_gap_ns;
	h->gso = pk->gso;
	/* What the kernel keeps queued for it, whatever part of it we copied. */
	h->e.bytes = pk->orig_len > pk->len ? pk->orig_len : pk->len;
	if (p->segp) {
		h->tracked = true;
		h->seg = *p->segp;
		h->view = *p->v;
		h->view.data = NULL;
	}
	schedule(pl, p, h);
}

/* Parse pk into v; 0 or the parser's error. */
FL_HOT static int parse(struct pkt_view *v, const struct pipeline_pkt *pk)
{
	return pkt_parse_cut(v, pk->data, pk->len, pk->orig_len > pk->len ? pk->orig_len : pk->len);
}

/* A bad packet is data: pass it unchanged and count it. */
static void pass_malformed(struct pipeline *pl, const struct pass *p)
{
	const struct pipeline_pkt *pk = p->pk;

	pl->tot.malformed++;
	pl->tot.accepted++;
	OBSERVE(pl, malformed, p->pkt, pk, p->now);
	pl->ops.verdict(pl->ops_data, pk->id, true, false, NULL, pk->len, pk->orig_len, pk->data, p->now);
}

/* The packet's identity and the rules' input: from the tracker for TCP, else the flow table. */
FL_HOT static void identify(struct pipeline *pl, struct pass *p)
{
	const struct pkt_view *v = p->v;
	/*
	 * The tracker tells a retransmission from an out-of-order segment by
	 * the time since the last ACK, as Wireshark does on its capture: give
	 * it the arrival time when the kernel recorded one, not the time the
	 * packet reached us through the queue.
	 */
	uint64_t seen = p->pk->seen_ns && p->pk->seen_ns <= p->now ? p->pk->seen_ns : p->now;

	p->in.v = v;
	p->in.dir = p->pk->dir;
	p->in.now_ns = p->now;
	p->in.tcp = NULL;
	p->segp = NULL;
	if (pl->track && v->has_l4 && v->l4proto == 6 && track_ingress(pl->track, v, seen, &p->seg) == 0) {
		pipeline_tcp_input(&p->in, &p->ti, &p->seg);
		p->segp = &p->seg;
		if (p->pk->capture_at != PIPELINE_AT_UNKNOWN)
			track_capture_point(pl->track, &p->seg, p->pk->capture_at == PIPELINE_AT_SENDER);
	} else {
		p->in.memo = flow_table_identify(pl->flows, v, p->now, &p->in.id);
	}
}

/* Send a packet faultline made (len bytes in b) and tell the observers (e: the rest). */
static void inject(struct pipeline *pl, struct pipeline_injected e, const uint8_t *b, uint32_t len)
{
	struct pkt_view v;

	e.bytes = b;
	e.len = len;
	e.err = pl->ops.inject ? pl->ops.inject(pl->ops_data, b, len, e.now_ns) : -ENOTSUP;
	if (e.err)
		pl->tot.inject_errors++;
	if (pl->n_obs && pkt_parse(&v, b, len) == 0) {
		e.v = &v;
		OBSERVE(pl, injected, &e);
	}
}

/*
 * What the RSTs to the segment's sender ([0]) and receiver ([1]) carry
 * when only the segment is known (--no-track, a connection the tracker
 * lost): its sender takes its own ACK as RCV.NXT, and the receiver the
 * segment's first byte (past the 'kept' bytes that went on), which is
 * right while nothing else of the connection is in flight. A SYN's sender
 * (SYN_SENT) wants the ACK of its SYN; a SYN's receiver is a listener,
 * which a RST does not concern.
 */
static void rst_from_segment(const struct pkt_view *v, uint32_t kept, struct track_rst rst[2])
{
	uint8_t f = v->tcp_flags;
	uint32_t end = v->seq + v->payload_len + !!(f & PKT_TCP_SYN) + !!(f & PKT_TCP_FIN);

	rst[0] = (struct track_rst){ .send = true, .seq = f & PKT_TCP_ACK ? v->ack : 0, .ack = end };
	rst[1] = (struct track_rst){ .send = !((f & PKT_TCP_SYN) && !(f & PKT_TCP_ACK)),
				     .seq = v->seq + kept, .ack = v->ack };
}

/* 'reset': a RST to each endpoint of the segment's connection, after its verdict. */
static void send_resets(struct pipeline *pl, const struct pass *p)
{
	struct track_rst rst[2];
	uint8_t b[PKT_RST_MAX];

	rst_from_segment(p->v, p->d.cut, rst);
	if (p->segp)
		track_reset(pl->track, p->segp, p->v, p->now, rst);
	for (int k = 0; k < 2; k++) {
		int len;

		if (!rst[k].send)
			continue;
		len = pkt_make_rst(b, p->v, k == 0, rst[k].seq, rst[k].ack);
		if (len < 0)
			continue;
		pl->tot.rsts++;
		inject(pl, (struct pipeline_injected){ .pkt = p->pkt, .kind = PIPELINE_INJ_RST,
						       .now_ns = p->now }, b, (uint32_t)len);
	}
}

static void drop(struct pipeline *pl, const struct pass *p)
{
	const struct pipeline_pkt *pk = p->pk;

	log_decision(pl, p);
	pl->tot.dropped++;
	if (p->segp)
		track_dropped(pl->track, p->segp, p->v, p->now);
	pl->ops.verdict(pl->ops_data, pk->id, false, false, NULL, pk->len, pk->orig_len, pk->data, p->now);
	if (p->d.reset)
		send_resets(pl, p);
}

/*
 * Copy the packet when it is to be rewritten, sent again or kept while
 * held, and rewrite the copy; then make p->d say what really happens.
 */
static void rewrite(struct pipeline *pl, struct pass *p, bool whole, bool keep)
{
	const struct pipeline_pkt *pk = p->pk;

	if ((whole && (p->d.corrupt || p->d.copies || p->d.segment)) || keep) {
		p->copy = malloc(pk->len ? pk->len : 1);
		if (p->copy)
			memcpy(p->copy, pk->data, pk->len);
	}
	if (p->d.corrupt && p->copy && whole) {
		/*
		 * A rewritten packet loses its offload state (the kernel marks it
		 * CHECKSUM_NONE), so act_corrupt writes a full checksum, also when
		 * the original's was left to offload. A GSO super-packet is still
		 * to be cut into segments, each needing its own checksum: skip it.
		 */
		if (!pk->gso && act_corrupt(pl->act, &p->in, p->copy, pk->len) == 0) {
			p->mangled = true;
			pl->tot.corrupted++;
			act_note_corrupted(pl->act, p->d.corrupt_rule);
		}
	}
	/* SYNs, bare ACKs, GSO and cut copies stay as they were: say so. */
	p->d.corrupt = p->mangled;
	if (!p->copy || !whole) {
		p->d.copies = 0;
		p->d.segment = 0;
		p->d.segment_gap_ns = 0;
		p->d.segment_vary = 0;
	}
	if (p->d.copies)
		pl->tot.duplicated_packets++;
}

/* The tracker hears what faultline did to the segment. */
static void note_altered(struct pipeline *pl, const struct pass *p)
{
	const struct act_decision *d = &p->d;
	uint32_t alt = (d->delay_ns ? TRACK_ALT_DELAYED : 0) | (d->reorder ? TRACK_ALT_REORDERED : 0) |
		       (d->copies ? TRACK_ALT_DUPLICATED : 0) | (p->mangled ? TRACK_ALT_CORRUPTED : 0);

	if (p->segp && alt)
		track_altered(pl->track, p->segp, alt);
}

/*
 * A drop or reset of 'from-byte N' cuts the segment at byte N: its first
 * d.keep payload bytes go on, rewritten as a shorter segment (FIN and PSH
 * go with the rest), and the RSTs follow. The tracker hears the whole
 * segment dropped (what the sender resends names it) and the head
 * released. Returns false when it cannot be cut (a cut copy, nothing
 * left to drop): then it is dropped whole.
 */
static bool pass_head(struct pipeline *pl, struct pass *p)
{
	const struct pipeline_pkt *pk = p->pk;
	struct pkt_view hv;
	uint8_t *b;
	int len;

	if (pk->len != pk->orig_len || p->d.keep >= p->v->payload_len)
		return false;
	b = malloc(pk->len);
	if (!b)
		return false;
	len = pkt_slice(b, pk->len, p->v, 0, p->d.keep, 0);
	if (len < 0 || pkt_parse(&hv, b, (size_t)len)) {
		free(b);
		return false;
	}
	/* It leaves, cut: an accept with 'cut' in its events. */
	p->d.drop = false;
	p->d.cut = p->d.keep;
	log_decision(pl, p);
	pl->tot.accepted++;
	if (p->segp) {
		track_dropped(pl->track, p->segp, p->v, p->now);
		track_released(pl->track, p->segp, &hv, p->now);
	}
	leave_rewritten(pl, pk->id, false, pk->gso, b, (uint32_t)len, p->now);
	if (pl->n_obs) {
		struct pipeline_left e = {
			.pkt = p->pkt,
			.bytes = b,
			.len = (uint32_t)len,
			.wire_len = (uint32_t)len,
			.cut = p->d.cut,
			.now_ns = p->now,
		};

		observe_left(pl, &e);
	}
	if (p->d.reset)
		send_resets(pl, p);
	free(b);
	return true;
}

/* Not held: the packet leaves now, its copies after it. */
static void pass_now(struct pipeline *pl, const struct pass *p)
{
	const struct pipeline_pkt *pk = p->pk;
	const uint8_t *bytes = p->copy ? p->copy : pk->data;

	if (p->segp) {
		track_released(pl->track, p->segp, p->v, p->now);
		for (uint32_t i = 0; i < p->d.copies; i++)
			track_released(pl->track, p->segp, p->v, p->now);
	}
	struct pipeline_left e = {
		.pkt = p->pkt,
		.bytes = bytes,
		.len = pk->len,
		.wire_len = pk->orig_len,
		.copies = p->d.copies,
		.corrupted = p->mangled,
		.now_ns = p->now,
	};

	pl->tot.accepted++;
	if (!p->d.segment ||
	    !leave_in_pieces(pl, pk->id, false, pk->gso, p->d.segment_gap_ns, bytes, pk->len,
			     p->d.segment, p->d.segment_vary, p->d.segment_key, &e)) {
		pl->ops.verdict(pl->ops_data, pk->id, true, false, p->mangled ? p->copy : NULL, pk->len,
				pk->orig_len, bytes, p->now);
		if (pl->n_obs)
			observe_left(pl, &e);
	}
	if (p->d.copies)
		pl->ops.duplicate(pl->ops_data, p->copy, pk->len, p->d.copies, p->now);
	free(p->copy);
}

/* The decision for pk, parsed into v by parse(), which returned bad. */
FL_HOT static void decide(struct pipeline *pl, const struct pipeline_pkt *pk,
			  const struct pkt_view *v, int bad, uint64_t now)
{
	/* Not zeroed as a whole: act_decide fills the decision, the steps the rest. */
	struct pass p;

	p.pk = pk;
	p.v = v;
	p.pkt = ++pl->tot.packets;
	/* One of several queues' pipelines: numbers unique in the run (pipeline_config.count). */
	if (pl->cfg.count > 1)
		p.pkt = (p.pkt - 1) * pl->cfg.count + pl->cfg.index + 1;
	p.now = now;
	p.copy = NULL;
	p.mangled = false;
	pl->now = now;
	if (pk->gso)
		pl->tot.gso++;
	if (bad) {
		pass_malformed(pl, &p);
		return;
	}
	identify(pl, &p);
	act_decide(pl->act, &p.in, &p.d);
	if (p.d.drop) {
		if (!p.d.keep || !pass_head(pl, &p))
			drop(pl, &p);
		return;
	}
	/*
	 * A cut copy (copy range, BIG TCP, a capture's snapshot length) cannot
	 * be rewritten or re-sent whole. Held, it is still kept as it came,
	 * cut: replay and the capture file write it out when it leaves.
	 */
	bool held = p.d.delay_ns || p.d.reorder;
	bool keep = held && pl->cfg.keep_bytes;

	rewrite(pl, &p, pk->len == pk->orig_len, keep);
	log_decision(pl, &p);
	if (!p.d.copies && !p.mangled && !p.d.segment && !keep) {
		free(p.copy);
		p.copy = NULL;
	}
	note_altered(pl, &p);
	if (held)
		hold(pl, &p);
	else
		pass_now(pl, &p);
}

FL_HOT void pipeline_packet(struct pipeline *pl, const struct pipeline_pkt *pk, uint64_t now)
{
	struct pkt_view v;
	int bad = parse(&v, pk);

	decide(pl, pk, &v, bad, now);
}

/*
 * How many packets ahead of its decision a burst parses a packet and asks
 * for its tracker entry: enough for the entry's cache misses to overlap
 * the decisions in between (track_bench, 10k connections), few enough
 * that the lines are still there when its turn comes.
 */
#define BURST_AHEAD 4

FL_HOT void pipeline_burst(struct pipeline *pl, const struct pipeline_pkt *pk, const uint64_t *now,
			   unsigned n)
{
	struct pkt_view v[BURST_AHEAD + 1];
	int bad[BURST_AHEAD + 1];

	for (unsigned i = 0; i < n + BURST_AHEAD; i++) {
		if (i < n) {
			unsigned s = i % (BURST_AHEAD + 1);

			bad[s] = parse(&v[s], &pk[i]);
			if (pl->track && !bad[s])
				track_prefetch(pl->track, &v[s]);
		}
		if (i >= BURST_AHEAD) {
			unsigned k = i - BURST_AHEAD, s = k % (BURST_AHEAD + 1);

			decide(pl, &pk[k], &v[s], bad[s], now[k]);
		}
	}
}

uint64_t pipeline_next_deadline(const struct pipeline *pl)
{
	struct sched_entry *e = sched_peek(pl->sched);

	return e ? (e->deadline ? e->deadline : 1) : 0;
}

void pipeline_release_due(struct pipeline *pl, uint64_t now)
{
	struct sched_entry *e;

	while ((e = sched_pop_due(pl->sched, now, act_ctx_rng(pl->act))))
		release(pl, container_of(e, struct held, e), false, now);
}

void pipeline_release_all(struct pipeline *pl, uint64_t now, bool at_deadline)
{
	struct sched_entry *e;

	if (at_deadline) {
		/* Virtual time runs on: every packet leaves at its own deadline. */
		while ((e = sched_peek(pl->sched))) {
			uint64_t t = e->deadline > now ? e->deadline : now;

			pipeline_release_due(pl, t);
			now = t;
		}
		return;
	}
	while ((e = sched_pop(pl->sched)))
		release(pl, container_of(e, struct held, e), true, now);
}

size_t pipeline_held(const struct pipeline *pl)
{
	return sched_count(pl->sched);
}

void pipeline_expire(struct pipeline *pl, uint64_t now)
{
	if (pl->track) {
		pl->now = now;
		track_expire(pl->track, now);
	}
}

/* A held packet names its rule by index: the index it has in the new set, or -1. */
static void rehome(struct sched_entry *e, void *data)
{
	struct held *h = container_of(e, struct held, e);
	const int *map = data;

	if (h->rule >= 0)
		h->rule = map[h->rule];
}

static int swap(struct pipeline *pl, const struct rule_set *rules, uint64_t now, bool fresh)
{
	size_t n = rule_set_count(pl->rules);
	int *map = calloc(n ? n : 1, sizeof(*map));
	int ret;

	if (!map)
		return -ENOMEM;
	ret = fresh ? act_ctx_reset(pl->act, rules, now, map) : act_ctx_swap(pl->act, rules, now, map);
	if (!ret) {
		/*
		 * Held packets keep their release times; what refers to a
		 * rule by index follows the rule to its new index.
		 */
		sched_foreach(pl->sched, rehome, map);
		sched_rekey(pl->sched, map, n);
		pl->rules = rules;
	}
	free(map);
	return ret;
}

int pipeline_swap_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now)
{
	return swap(pl, rules, now, false);
}

int pipeline_reset_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now)
{
	return swap(pl, rules, now, true);
}

struct conn_list {
	struct strbuf *b;
	bool first;
};

static void list_conn(void *data, const struct track_summary *s)
{
	struct conn_list *cl = data;
	char buf[TRACK_JSON_MAX];
	int n = track_summary_json(s, buf, sizeof(buf));

	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	strbuf_printf(cl->b, "%s%s", cl->first ? "" : ",", buf);
	cl->first = false;
}

void pipeline_get_totals(const struct pipeline *pl, struct pipeline_totals *t)
{
	*t = pl->tot;
}

uint64_t pipeline_conns_created(const struct pipeline *pl)
{
	struct track_stats ts;

	if (!pl->track)
		return 0;
	track_get_stats(pl->track, &ts);
	return ts.conns_created;
}

/* Every field of the pipelines' totals, summed. */
static void add_totals(struct pipeline_totals *to, const struct pipeline_totals *t)
{
	to->packets += t->packets;
	to->accepted += t->accepted;
	to->dropped += t->dropped;
	to->held += t->held;
	to->released += t->released;
	to->released_early += t->released_early;
	to->malformed += t->malformed;
	to->gso += t->gso;
	to->corrupted += t->corrupted;
	to->duplicated_packets += t->duplicated_packets;
	to->early_max_held += t->early_max_held;
	to->early_max_held_bytes += t->early_max_held_bytes;
	to->rsts += t->rsts;
	to->pieces += t->pieces;
	to->inject_errors += t->inject_errors;
	to->resent += t->resent;
}

static void add_track_stats(struct track_stats *to, const struct track_stats *s)
{
	to->conns_active += s->conns_active;
	to->conns_created += s->conns_created;
	to->evicted += s->evicted;
	to->expired_time_wait += s->expired_time_wait;
	to->expired_idle += s->expired_idle;
	to->reused += s->reused;
	to->segments += s->segments;
	to->records_in_use += s->records_in_use;
	to->records_lost_pool += s->records_lost_pool;
	to->records_lost_cap += s->records_lost_cap;
}

/* The rules array: rule i's counters summed over the pipelines. */
static void rules_json(const struct pipeline *const *pls, unsigned n, struct strbuf *b)
{
	const struct rule_set *rs = pls[0]->rules;

	for (size_t i = 0; i < rule_set_count(rs); i++) {
		const struct rule *r = rule_set_get(rs, i);
		struct act_counters c = { 0 };
		/* Whole, however long the rule: a cut text would lose its actions. */
		char *text = rule_print_body_alloc(r);

		for (unsigned k = 0; k < n; k++) {
			const struct act_counters *qc = act_ctx_counters(pls[k]->act, (unsigned)i);

			if (qc)
				act_counters_add(&c, qc);
		}
		if (!text) {
			b->oom = true;
			break;
		}
		strbuf_printf(b, "%s{\"index\":%zu,\"name\":\"", i ? "," : "", i + 1);
		strbuf_add_json(b, r->name);
		strbuf_printf(b, "\",\"rule\":\"");
		strbuf_add_json(b, text);
		strbuf_printf(b, "\",\"enabled\":%s,\"line\":%d,", r->disabled ? "false" : "true", r->line);
		act_counters_json(&c, b);
		strbuf_printf(b, "}");
		free(text);
	}
}

/* The tracker's counts and every connection, ended or open, of the pipelines. */
static void tcp_json(const struct pipeline *const *pls, unsigned n, struct strbuf *b)
{
	struct track_stats ts = { 0 };
	struct conn_list cl = { .b = b, .first = true };
	uint64_t omitted = 0;
	char tj[512];

	for (unsigned k = 0; k < n; k++) {
		struct track_stats s;

		track_get_stats(pls[k]->track, &s);
		add_track_stats(&ts, &s);
		omitted += pls[k]->summaries_omitted;
	}
	track_stats_json(&ts, tj, sizeof(tj));
	strbuf_printf(b, ",\"tcp\":%s,\"connections_omitted\":%llu,\"connections\":[", tj,
		      (unsigned long long)omitted);
	for (unsigned k = 0; k < n; k++) {
		if (pls[k]->summaries_len) {
			strbuf_printf(b, "%s%s", cl.first ? "" : ",", pls[k]->summaries);
			cl.first = false;
		}
	}
	for (unsigned k = 0; k < n; k++)
		track_foreach(pls[k]->track, list_conn, &cl);
	strbuf_printf(b, "]");
}

char *pipeline_stats_json_many(const struct pipeline *const *pls, unsigned n)
{
	struct pipeline_totals t = { 0 };
	struct strbuf b = { 0 };
	struct lathist late = { 0 };
	uint64_t held_now = 0, held_bytes = 0, flows = 0, evictions = 0;

	for (unsigned k = 0; k < n; k++) {
		add_totals(&t, &pls[k]->tot);
		lathist_merge(&late, &pls[k]->late);
		held_now += sched_count(pls[k]->sched);
		held_bytes += sched_bytes(pls[k]->sched);
		flows += flow_table_count(pls[k]->flows);
		evictions += flow_table_evictions(pls[k]->flows);
	}
	strbuf_printf(&b, "\"packets\":%llu,\"accepted\":%llu,\"dropped\":%llu,\"held\":%llu,\"held_now\":%llu,"
		    "\"held_bytes_now\":%llu,\"released\":%llu,\"released_early\":%llu,"
		    "\"early_max_held\":%llu,\"early_max_held_bytes\":%llu,\"malformed\":%llu,\"gso\":%llu,"
		    "\"corrupted\":%llu,\"rsts\":%llu,\"pieces\":%llu,\"inject_errors\":%llu,\"resent\":%llu,"
		    "\"flows\":%llu,\"flow_evictions\":%llu,"
		    "\"release_late_us\":{\"n\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu},\"rules\":[",
		(unsigned long long)t.packets, (unsigned long long)t.accepted,
		(unsigned long long)t.dropped, (unsigned long long)t.held, (unsigned long long)held_now,
		(unsigned long long)held_bytes,
		(unsigned long long)t.released, (unsigned long long)t.released_early,
		(unsigned long long)t.early_max_held, (unsigned long long)t.early_max_held_bytes,
		(unsigned long long)t.malformed, (unsigned long long)t.gso,
		(unsigned long long)t.corrupted, (unsigned long long)t.rsts, (unsigned long long)t.pieces,
		(unsigned long long)t.inject_errors, (unsigned long long)t.resent,
		(unsigned long long)flows,
		(unsigned long long)evictions, (unsigned long long)late.n,
		(unsigned long long)lathist_quantile_us(&late, 500000),
		(unsigned long long)lathist_quantile_us(&late, 990000), (unsigned long long)(late.max_ns / 1000));
	rules_json(pls, n, &b);
	strbuf_printf(&b, "]");
	if (pls[0]->track)
		tcp_json(pls, n, &b);
	return strbuf_take(&b);
}

char *pipeline_stats_json(const struct pipeline *pl)
{
	return pipeline_stats_json_many(&pl, 1);
}
