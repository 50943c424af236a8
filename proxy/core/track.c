// SPDX-License-Identifier: MIT
/*
 * track: the shadow TCP state tracker's per-segment path (see track.h for
 * the two views): the lookup, the ingress analysis and the sender's moves
 * at capture, the receiver's moves at release. The table, its lists and
 * expiry are in track_table.c, the records of faultline's drops and holds
 * in track_rec.c (track_int.h). What an established connection's segment
 * runs stays in this file, where the compiler can inline it; it calls the
 * others only when a connection starts, ends, changes lists or has records.
 *
 * The ingress classification is Wireshark 4.0's
 * tcp_analyze_sequence_number() (the tshark of Debian 12, which the
 * integration tests compare with), check for check. Its per-direction state
 * fits in fixed fields because 4.0 never searches its unacked-segment list
 * to classify. Wireshark uses 0 as "unset"; here flags do, so a sequence
 * number of 0 is an ordinary one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "hot.h"
#include "track_int.h"

/*
 * Per-direction times are kept in 32-bit microseconds, the resolution of a
 * pcap, so that the 20 ms and initial-RTT windows cut where tshark cuts.
 * They are only ever subtracted (wrap-safe below 71 minutes), and 32 bits
 * keep the entry within 256 bytes.
 */
#define FASTRT_TICKS 20000u
#define OOO_DEFAULT_TICKS 3000u

static inline uint32_t tick(uint64_t ns)
{
	return (uint32_t)(ns / 1000);
}

/* ---- lookup ---- */

static inline bool addr_eq(uint8_t family, const uint8_t *a, const uint8_t *b)
{
	if (family == 4)
		return load32(a) == load32(b);
	return load64(a) == load64(b) && load64(a + 8) == load64(b + 8);
}

/* Returns the entry index for v's tuple, or 0; *e is the sender's endpoint. */
FL_HOT static uint32_t lookup(const struct track *t, const struct pkt_view *v, int *e)
{
	uint32_t i = t->bucket[tuple_bucket(t, v->family, v->saddr, v->sport,
					    v->daddr, v->dport)];

	for (; i; i = t->pool[i].hnext) {
		const struct conn *cn = &t->pool[i];

		/*
		 * The directions (line 1) are read next, and line 2 for the
		 * packet's identity and the caller's slot: asking for them now
		 * overlaps their misses with that of the key in line 0.
		 */
		__builtin_prefetch(cn->d);
		__builtin_prefetch(&cn->ident);
		if (cn->family != v->family)
			continue;
		if (cn->port[0] == v->sport && cn->port[1] == v->dport &&
		    addr_eq(cn->family, cn->addr[0], v->saddr) &&
		    addr_eq(cn->family, cn->addr[1], v->daddr)) {
			*e = 0;
			return i;
		}
		if (cn->port[0] == v->dport && cn->port[1] == v->sport &&
		    addr_eq(cn->family, cn->addr[0], v->daddr) &&
		    addr_eq(cn->family, cn->addr[1], v->saddr)) {
			*e = 1;
			return i;
		}
	}
	return 0;
}

FL_HOT void track_prefetch(const struct track *t, const struct pkt_view *v)
{
	uint32_t i;

	if (!v->has_l4 || v->l4proto != IPPROTO_TCP || (v->family != 4 && v->family != 6))
		return;
	i = t->bucket[tuple_bucket(t, v->family, v->saddr, v->sport, v->daddr, v->dport)];
	if (i) {
		__builtin_prefetch(&t->pool[i]);
		__builtin_prefetch(t->pool[i].d);
		__builtin_prefetch(&t->pool[i].ident);
	}
}

/*
 * A segment for a connection whose endpoints are all in TIME_WAIT or
 * CLOSED is stale, except a SYN of an attempt that never got through:
 * that is the client trying again.
 */
static inline bool conn_stale(const struct conn *cn, uint8_t tcp_flags)
{
	if ((cn->st[0] != TCPSTATE_CLOSED && cn->st[0] != TCPSTATE_TIME_WAIT) ||
	    (cn->st[1] != TCPSTATE_CLOSED && cn->st[1] != TCPSTATE_TIME_WAIT))
		return false;
	if ((tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	    !((cn->reached[0] | cn->reached[1]) & TRACK_STATE_BIT(TCPSTATE_ESTABLISHED)))
		return false;
	return true;
}

/*
 * Put the connection on the list its states call for; with 'touch', note
 * the activity too.
 */
FL_HOT static void conn_place(struct track *t, struct conn *cn, uint64_t now, bool touch)
{
	uint32_t idx = conn_idx(t, cn);
	bool want_timer = cn->st[0] == TCPSTATE_TIME_WAIT ||
			  cn->st[1] == TCPSTATE_TIME_WAIT || conn_finished(cn);

	if (cn->cflags & CF_TIMER) {
		if (want_timer)
			return;
		track__list_unlink(t, &t->timer, idx);
		cn->cflags &= ~CF_TIMER;
		cn->tkey = now;
		track__list_append(t, &t->live, idx);
		return;
	}
	if (want_timer) {
		track__timer_arm(t, cn, now);
		return;
	}
	if (!touch || now - cn->tkey < t->gran)
		return;
	cn->tkey = now;
	if (t->live.tail != idx) {
		track__list_unlink(t, &t->live, idx);
		track__list_append(t, &t->live, idx);
	}
}

/* ---- events ---- */

void track__ev_init(const struct track *t, const struct conn *cn,
		    enum track_ev_type type, const struct segctx *c,
		    struct track_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->t_ns = c->now > t->t0 ? c->now - t->t0 : 0;
	ev->conn = cn->id;
	conn_addrs(cn, &ev->addrs);
	if (c->v) {
		ev->seg = c->segno;
		ev->has_seg = true;
		ev->seq = c->v->seq;
		ev->ack = c->v->ack;
		ev->len = c->v->payload_len;
		ev->tcp_flags = c->v->tcp_flags;
	}
}

static void emit_class(struct track *t, const struct conn *cn, int e,
		       const struct segctx *c, uint32_t classes,
		       uint32_t caused_by, bool egress)
{
	struct track_event ev;

	if (!t->cb)
		return;
	track__ev_init(t, cn, TRACK_EV_CLASS, c, &ev);
	ev.endpoint = (uint8_t)e;
	ev.classes = classes;
	ev.caused_by = caused_by;
	ev.egress = egress;
	t->cb(t->cb_data, &ev);
}

/* e moves to s; 'retracted': back from a receipt taken too early (far_undo()). */
static void set_state(struct track *t, struct conn *cn, int e, uint8_t s,
		      const struct segctx *c, bool retracted)
{
	struct track_event ev;
	uint8_t old = cn->st[e];

	if (old == s)
		return;
	cn->st[e] = s;
	cn->reached[e] |= TRACK_STATE_BIT(s);
	/* Entering TIME_WAIT starts 2*MSL, whatever the other side does. */
	if (s == TCPSTATE_TIME_WAIT)
		track__timer_arm(t, cn, c->now);
	if (!t->cb)
		return;
	track__ev_init(t, cn, TRACK_EV_TRANSITION, c, &ev);
	ev.endpoint = (uint8_t)e;
	ev.old_state = old;
	ev.new_state = s;
	ev.retracted = retracted;
	t->cb(t->cb_data, &ev);
}

void track__set_state(struct track *t, struct conn *cn, int e, uint8_t s,
		      const struct segctx *c)
{
	set_state(t, cn, e, s, c, false);
}

/* ---- ingress: finding the connection ---- */

/*
 * Expire the found entry now if its time is up, so a late segment meets
 * what the hosts have (nothing) even if track_expire() was not called.
 * Returns false if the entry is gone.
 */
FL_HOT static bool still_alive(struct track *t, uint32_t idx, uint64_t now)
{
	struct conn *cn = &t->pool[idx];

	if (cn->cflags & CF_TIMER) {
		if (cn->tkey > now)
			return true;
		track__timer_expire(t, idx, now);
		return t->pool[idx].id != 0;
	}
	if (idle_due(t, cn, now)) {
		track__conn_end(t, idx, TRACK_END_IDLE, now);
		return false;
	}
	return true;
}

/* ---- ingress: Wireshark's sequence analysis ---- */

/*
 * tcp_analyze_sequence_number() of Wireshark 4.0, same checks in the same
 * order, in its four steps below; the comments name its flags. The steps
 * are called once each, so the compiler puts them back together.
 */

/* Zero-window probes, gaps, keep-alives and the kinds of ACK. */
FL_HOT static uint32_t ack_kinds(struct dir *fwd, const struct dir *rev,
				 const struct pkt_view *v)
{
	uint32_t seq = v->seq, len = v->payload_len;
	uint8_t fl = v->tcp_flags;
	bool sfr = fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST);
	bool nxt_ok = fwd->flags & D_NXT;
	bool at_nxt = nxt_ok && seq == fwd->nxt;
	bool same = len == 0 && at_nxt && v->ack == fwd->last_ack && !sfr;
	bool same_win = (fwd->flags & D_WIN) && v->window == fwd->win;
	uint32_t c = 0;

	/* ZERO_WINDOW_PROBE: a probe never advances nextseq. */
	if (len == 1 && at_nxt && (rev->flags & D_WIN) && rev->win == 0)
		return TRACK_C_ZERO_WINDOW_PROBE;
	if (v->window == 0 && !sfr)
		c |= TRACK_C_ZERO_WINDOW;
	/* LOST_PACKET: "previous segment not captured". */
	if (nxt_ok && seq_gt(seq, fwd->nxt) && !(fl & PKT_TCP_RST))
		c |= TRACK_C_GAP;
	if (len <= 1 && nxt_ok && seq == fwd->nxt - 1 && !sfr)
		c |= TRACK_C_KEEPALIVE;
	if (same && v->window && (fwd->flags & D_WIN) && !same_win)
		c |= TRACK_C_WINDOW_UPDATE;
	if (same && v->window && same_win && (rev->lflags & L_KA))
		return c | TRACK_C_KEEPALIVE_ACK;
	if (same && v->window == 0 && same_win && (rev->lflags & L_ZWP))
		return c | TRACK_C_ZERO_WINDOW_PROBE_ACK;
	if (same && v->window && same_win) {
		if (fwd->dupacks == DUPACKS_RESET)
			fwd->dupacks = 1;
		else if (fwd->dupacks < DUPACKS_RESET - 1)
			fwd->dupacks++;
		c |= TRACK_C_DUP_ACK;
	}
	return c;
}

/* What the ACK field does to the dup-ACK counts (Wireshark's finished_fwd). */
FL_HOT static void ack_counts(struct dir *fwd, struct dir *rev, const struct pkt_view *v)
{
	if (v->ack != fwd->last_ack)
		fwd->dupacks = 0;
	/*
	 * ACK_LOST_PACKET: an ACK past what was captured of the other way.
	 * Not a class here, but Wireshark restarts that side's dup-ACK count.
	 */
	if ((v->tcp_flags & PKT_TCP_ACK) && (rev->flags & D_MTBA) && seq_gt(v->ack, rev->mtba)) {
		if (seq_lt(rev->mtba, rev->nxt))
			rev->mtba = rev->nxt;
		else
			rev->dupacks = DUPACKS_RESET;
	}
}

/*
 * RETRANSMISSION / FAST / SPURIOUS / OUT_OF_ORDER of a segment that
 * carries data, SYN or FIN (c: the classes so far). Returns those to add.
 */
FL_HOT static uint32_t resend_kind(const struct conn *cn, int e, const struct pkt_view *v,
				   uint32_t now_t, uint32_t c)
{
	const struct dir *fwd = &cn->d[e], *rev = &cn->d[!e];
	uint32_t seq = v->seq, len = v->payload_len;
	uint32_t sf = (v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0;
	bool nxt_ok = fwd->flags & D_NXT;
	bool not_adv = nxt_ok && seq_lt(seq, fwd->nxt);
	uint32_t thres;

	if ((len == 0 && !sf) || (c & TRACK_C_KEEPALIVE))
		return 0;
	/* More than one byte from nextseq-1 is new data after a probe. */
	if (len > 1 && nxt_ok && fwd->nxt - 1 == seq)
		not_adv = false;
	if (len > 0 && (rev->flags & D_ACK) && seq_le(seq + len, rev->last_ack))
		return TRACK_C_SPURIOUS_RETRANSMISSION | TRACK_C_RETRANSMISSION;
	if (!not_adv)
		return 0;
	/* Fast: answers two dup ACKs within 20 ms of the last of them. */
	if (rev->dupacks >= 2 && rev->last_ack == seq && (rev->flags & D_SEEN) &&
	    now_t - rev->last_t < FASTRT_TICKS)
		return TRACK_C_FAST_RETRANSMISSION | TRACK_C_RETRANSMISSION;
	/* Out of order: soon (initial RTT, else 3 ms) after nextseq moved. */
	thres = (cn->cflags & CF_IRTT) ? cn->irtt : OOO_DEFAULT_TICKS;
	if (now_t - fwd->nxt_t < thres && fwd->nxt != seq + len + sf)
		return TRACK_C_OUT_OF_ORDER;
	return TRACK_C_RETRANSMISSION;
}

/* The sender's direction after the segment (c: its classes). */
FL_HOT static void bookkeeping(struct dir *fwd, const struct pkt_view *v, uint32_t now_t,
			       uint32_t c)
{
	uint32_t seq = v->seq;
	uint32_t sf = (v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0;
	uint32_t nextseq = seq + v->payload_len + sf;

	if ((!(fwd->flags & D_NXT) || seq_gt(nextseq, fwd->nxt)) &&
	    !(c & TRACK_C_ZERO_WINDOW_PROBE)) {
		fwd->nxt = nextseq;
		fwd->nxt_t = now_t;
		fwd->flags |= D_NXT;
	}
	if ((!(fwd->flags & D_MTBA) || seq == fwd->mtba) &&
	    !(c & TRACK_C_ZERO_WINDOW_PROBE)) {
		fwd->mtba = fwd->nxt;
		fwd->flags |= D_MTBA;
	}
	fwd->win = v->window;
	fwd->last_ack = v->ack;
	fwd->last_t = now_t;
	fwd->flags |= D_SEEN | D_WIN;
	if (v->tcp_flags & PKT_TCP_ACK)
		fwd->flags |= D_ACK;
	else
		fwd->flags &= ~D_ACK;
	fwd->lflags &= ~(L_KA | L_ZWP);
	if (c & TRACK_C_KEEPALIVE)
		fwd->lflags |= L_KA;
	if (c & TRACK_C_ZERO_WINDOW_PROBE)
		fwd->lflags |= L_ZWP;
}

/*
 * Updates the ingress bookkeeping of the sender's direction and returns
 * the classes.
 */
FL_HOT static uint32_t analyze(struct conn *cn, int e, const struct pkt_view *v, uint32_t now_t)
{
	uint32_t c = ack_kinds(&cn->d[e], &cn->d[!e], v);

	ack_counts(&cn->d[e], &cn->d[!e], v);
	c |= resend_kind(cn, e, v, now_t, c);
	bookkeeping(&cn->d[e], v, now_t, c);
	return c;
}

/* Options and the facts tshark does not classify. */
FL_HOT static uint32_t note_segment(struct conn *cn, int e, const struct pkt_view *v, uint32_t c)
{
	struct dir *fwd = &cn->d[e], *rev = &cn->d[!e];
	struct dirx *fx = &cn->x[e];
	uint8_t fl = v->tcp_flags;
	uint32_t len = v->payload_len;

	if (fl & PKT_TCP_SYN) {
		/* A SYN/ACK with another ISN replaces it, as in Wireshark. */
		fx->isn = v->seq;
		fwd->flags |= D_ISN | D_BASE;
		fx->mss = v->mss;
		fx->wscale = v->wscale;
		if (v->sack_ok)
			fwd->lflags |= L_SACK;
		c |= TRACK_C_HANDSHAKE |
		     ((fl & PKT_TCP_ACK) ? TRACK_C_SYN_ACK : TRACK_C_SYN);
		if (fl & PKT_TCP_ACK)
			fwd->flags |= D_HS_ACK;
	} else if ((fl & PKT_TCP_ACK) && !(fl & PKT_TCP_RST) &&
		   !(fwd->flags & D_HS_ACK) && (rev->flags & D_ISN) &&
		   v->ack == cn->x[!e].isn + 1) {
		c |= TRACK_C_HANDSHAKE;
		fwd->flags |= D_HS_ACK;
	}
	if (v->has_ts) {
		fwd->lflags |= L_TS;
		/*
		 * Only tw_refuses() reads the last TSval, for a TIME_WAIT peer,
		 * which got there by this side's FIN: keeping it from the FIN
		 * on (and outside ESTABLISHED) gives the same value without a
		 * write to a cold line for every established segment.
		 */
		if ((fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)) ||
		    cn->st[0] != TCPSTATE_ESTABLISHED || cn->st[1] != TCPSTATE_ESTABLISHED) {
			fx->ts_last = v->ts_val;
			fwd->lflags |= L_TS_LAST;
		}
	}
	if ((fl & PKT_TCP_FIN) && !(fwd->flags & D_FIN)) {
		/* FIN is the last sequence number, also of a GSO super-packet. */
		fx->fin_seq = v->seq + len;
		fwd->flags |= D_FIN;
	}
	if (fl & PKT_TCP_FIN)
		c |= TRACK_C_FIN;
	if (fl & PKT_TCP_RST)
		c |= TRACK_C_RST;
	if (len && !(c & (TRACK_C_RETRANSMISSION | TRACK_C_OUT_OF_ORDER |
			  TRACK_C_KEEPALIVE | TRACK_C_ZERO_WINDOW_PROBE))) {
		c |= TRACK_C_NEW_DATA;
		if (!(fwd->flags & D_DATA) && !(fl & PKT_TCP_SYN) &&
		    !(cn->cflags & CF_PICKUP))
			c |= TRACK_C_FIRST_DATA;
		fwd->flags |= D_DATA;
	}
	if (!len && (fl & PKT_TCP_ACK) &&
	    !(fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)) &&
	    !(c & (TRACK_C_DUP_ACK | TRACK_C_WINDOW_UPDATE | TRACK_C_KEEPALIVE |
		   TRACK_C_KEEPALIVE_ACK | TRACK_C_ZERO_WINDOW_PROBE_ACK |
		   TRACK_C_HANDSHAKE)))
		c |= TRACK_C_PURE_ACK;
	return c;
}

/* ---- state transitions ---- */

/*
 * The receiver's RCV.NXT for e's stream moved: take in the out-of-order
 * block it reaches.
 */
FL_HOT static void rcv_advance(struct conn *cn, int e, uint32_t to)
{
	struct dir *d = &cn->d[e];
	const struct dirx *x = &cn->x[e];

	if (!(d->flags & D_RCV) || seq_gt(to, d->rcv_nxt))
		d->rcv_nxt = to;
	d->flags |= D_RCV;
	if ((d->flags & D_OOO) && seq_ge(d->rcv_nxt, x->ooo_lo)) {
		if (seq_gt(x->ooo_hi, d->rcv_nxt))
			d->rcv_nxt = x->ooo_hi;
		d->flags &= ~D_OOO;
	}
	if (!(d->flags & D_OOO))
		d->flags &= ~D_GAP_FL;
	/* The receiver has all that was captured: nothing unrecorded is missing. */
	if ((d->lflags & L_UNREC) && !(d->flags & D_OOO) && (d->flags & D_NXT) &&
	    seq_ge(d->rcv_nxt, d->nxt))
		d->lflags &= ~L_UNREC;
}

/* Endpoint y takes the peer's FIN in sequence (RFC 9293 3.10.7.4, eighth). */
static void fin_receipt(struct track *t, struct conn *cn, int y, const struct segctx *c)
{
	switch (cn->st[y]) {
	case TCPSTATE_SYN_RECEIVED:
	case TCPSTATE_ESTABLISHED:
		track__set_state(t, cn, y, TCPSTATE_CLOSE_WAIT, c);
		break;
	case TCPSTATE_FIN_WAIT_1:
		track__set_state(t, cn, y, TCPSTATE_CLOSING, c);
		break;
	case TCPSTATE_FIN_WAIT_2:
		track__set_state(t, cn, y, TCPSTATE_TIME_WAIT, c);
		break;
	default:
		break;
	}
}

/*
 * Sender-side moves of endpoint e at capture. A segment also proves what
 * its sender has received (its ACK), which brings the sender's state up to
 * date if the release of the peer's segment was not reported.
 */
FL_HOT static void sender_side(struct track *t, struct conn *cn, int e,
			       const struct pkt_view *v, const struct segctx *c)
{
	struct dir *rev = &cn->d[!e];
	uint8_t fl = v->tcp_flags;
	uint8_t s = cn->st[e];

	if (fl & PKT_TCP_RST) {
		track__set_state(t, cn, e, TCPSTATE_CLOSED, c);
		return;
	}
	if (fl & PKT_TCP_SYN) {
		if (!(fl & PKT_TCP_ACK)) {
			if (s == TCPSTATE_CLOSED || s == TCPSTATE_LISTEN)
				track__set_state(t, cn, e, TCPSTATE_SYN_SENT, c);
			return;
		}
		if (s == TCPSTATE_LISTEN || s == TCPSTATE_CLOSED ||
		    s == TCPSTATE_SYN_SENT) {
			if (s != TCPSTATE_SYN_SENT)
				cn->cflags |= CF_PASSIVE0 << e;
			track__set_state(t, cn, e, TCPSTATE_SYN_RECEIVED, c);
		}
		if (!(rev->flags & D_RCV))
			rcv_advance(cn, !e, v->ack);
		return;
	}
	if (fl & PKT_TCP_ACK) {
		if (s == TCPSTATE_SYN_SENT && (rev->flags & D_ISN) &&
		    v->ack == cn->x[!e].isn + 1)
			track__set_state(t, cn, e, TCPSTATE_ESTABLISHED, c);
		if ((rev->flags & (D_FIN | D_FIN_RCVD)) == D_FIN &&
		    seq_gt(v->ack, cn->x[!e].fin_seq)) {
			rev->flags |= D_FIN_RCVD;
			fin_receipt(t, cn, e, c);
		}
		rcv_advance(cn, !e, v->ack);
	}
	if (fl & PKT_TCP_FIN) {
		s = cn->st[e];
		if (s == TCPSTATE_ESTABLISHED || s == TCPSTATE_SYN_RECEIVED)
			track__set_state(t, cn, e, TCPSTATE_FIN_WAIT_1, c);
		else if (s == TCPSTATE_CLOSE_WAIT)
			track__set_state(t, cn, e, TCPSTATE_LAST_ACK, c);
	}
}

/*
 * Would the TIME_WAIT peer of e refuse e's new SYN? Linux takes it if its
 * sequence number is past the old RCV.NXT or its TSval is newer
 * (tcp_timewait_state_process()); else it answers with the old ACK.
 */
static bool tw_refuses(const struct conn *cn, int e, const struct pkt_view *v)
{
	const struct dir *fwd = &cn->d[e];
	uint32_t rcv = (fwd->flags & D_RCV) ? fwd->rcv_nxt : fwd->nxt;

	if (seq_gt(v->seq, rcv))
		return false;
	if (v->has_ts && (fwd->lflags & L_TS_LAST) && (int32_t)(v->ts_val - cn->x[e].ts_last) > 0)
		return false;
	return true;
}

/*
 * Wireshark's base_seq, which decides port reuse: the ISN, else the first
 * sequence number minus one, else the other side's first ACK minus one.
 * A SYN repeating it restores nextseq first (Wireshark issue 17616).
 */
FL_HOT static void wireshark_base(struct conn *cn, int e, const struct pkt_view *v)
{
	struct dir *fwd = &cn->d[e], *rev = &cn->d[!e];
	uint8_t fl = v->tcp_flags;

	if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	    (fwd->flags & D_BASE) && v->seq == cn->x[e].isn) {
		fwd->nxt = fwd->mtba;
		if (!(fwd->flags & D_MTBA))
			fwd->flags &= ~D_NXT;
	}
	if (!(fwd->flags & D_BASE)) {
		cn->x[e].isn = (fl & PKT_TCP_SYN) ? v->seq : v->seq - 1;
		fwd->flags |= D_BASE;
	}
	if (!(rev->flags & D_BASE) && (fl & PKT_TCP_ACK)) {
		cn->x[!e].isn = v->ack - 1;
		rev->flags |= D_BASE;
	}
}

/*
 * A new entry for a segment of no known connection. Returns its index;
 * *e is the sender.
 */
static uint32_t open_conn(struct track *t, const struct pkt_view *v, struct segctx *c,
			  int *e, uint32_t *classes)
{
	bool synack = (v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) ==
		      (PKT_TCP_SYN | PKT_TCP_ACK);
	uint32_t idx = track__conn_insert(t, v, synack, c->now);

	/* Endpoint 0 is the client: the receiver of a lone SYN/ACK. */
	*e = synack ? 1 : 0;
	c->segno = 1;
	*classes |= track__conn_start(t, &t->pool[idx], *e, v, c);
	return idx;
}

/* A SYN with a new ISN on cn's tuple starts the next connection there. */
static void reopen_conn(struct track *t, struct conn *cn, const struct pkt_view *v,
			struct segctx *c, int *e, uint32_t *classes)
{
	bool refused = cn->st[!*e] == TCPSTATE_TIME_WAIT && tw_refuses(cn, *e, v);

	*e = track__conn_reincarnate(t, cn, v, c);
	c->segno = 1;
	*classes |= track__conn_start(t, cn, *e, v, c) | TRACK_C_REUSE;
	if (refused) {
		/*
		 * The peer's TIME_WAIT will answer with its old ACK; the
		 * client's RST to that ends TIME_WAIT and its next SYN gets
		 * through (8b).
		 */
		cn->reached[!*e] = 0;
		init_state(cn, !*e, TCPSTATE_TIME_WAIT);
		*classes |= TRACK_C_STALE;
	}
}

/*
 * The entry of v's connection: found, made, or started anew on a reused
 * tuple. Returns its index; *e is the sender, *classes gets what a start
 * adds, and c->segno is 1 for a start's events.
 */
FL_HOT static uint32_t find_conn(struct track *t, const struct pkt_view *v, struct segctx *c,
				 int *e, uint32_t *classes)
{
	uint32_t idx = lookup(t, v, e);
	struct conn *cn;

	if (idx && !still_alive(t, idx, c->now))
		idx = 0;
	if (!idx)
		return open_conn(t, v, c, e, classes);
	cn = &t->pool[idx];
	if ((v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	    (cn->d[*e].flags & D_BASE) && v->seq != cn->x[*e].isn)
		reopen_conn(t, cn, v, c, e, classes);
	return idx;
}

/*
 * Wireshark's initial RTT, taken after the analysis as tshark does: from
 * the last SYN to the first segment with ACK and without SYN, in either
 * direction. A zero delta counts as unknown.
 */
FL_HOT static void initial_rtt(struct conn *cn, uint8_t fl, uint32_t now_t)
{
	if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_ACK && (cn->cflags & CF_SYN_T) &&
	    now_t != cn->irtt) {
		cn->irtt = now_t - cn->irtt;
		cn->cflags = (cn->cflags & ~CF_SYN_T) | CF_IRTT;
	} else if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
		   !(cn->cflags & CF_IRTT)) {
		cn->irtt = now_t;
		cn->cflags |= CF_SYN_T;
	}
}

/*
 * Which endpoint is far from the capture point (track.h, "The far end"):
 * decided at the client's ACK completing the handshake, while irtt still
 * holds the SYN's tick and d[1].last_t the SYN+ACK's.
 */
static void infer_far_end(const struct track *t, struct conn *cn, int e, uint8_t fl,
			  uint32_t now_t)
{
	uint32_t syn_synack, synack_ack;

	if (!t->cfg.far_end || e != 0 || (fl & (PKT_TCP_SYN | PKT_TCP_ACK)) != PKT_TCP_ACK ||
	    !(cn->cflags & CF_SYN_T) || !(cn->d[1].flags & D_HS_ACK) ||
	    (cn->cflags & CF_PICKUP) || ((cn->x[0].xflags | cn->x[1].xflags) & X_FAR))
		return;
	syn_synack = cn->d[1].last_t - cn->irtt;
	synack_ack = now_t - cn->d[1].last_t;
	if (syn_synack > synack_ack)
		cn->x[1].xflags |= X_FAR;
	else if (synack_ack > syn_synack)
		cn->x[0].xflags |= X_FAR;
	else
		return;
}

/*
 * Could e, in state s, have sent v? Not if it is closed (but for a RST or
 * a new SYN), not a SYN+ACK once established, not its FIN again once the
 * FIN was acknowledged.
 */
static bool could_send(const struct conn *cn, int e, uint8_t s, const struct pkt_view *v)
{
	uint8_t fl = v->tcp_flags;

	if (fl & PKT_TCP_RST)
		return true;
	if (s == TCPSTATE_CLOSED || s == TCPSTATE_LISTEN)
		return (fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN;
	if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == (PKT_TCP_SYN | PKT_TCP_ACK))
		return s == TCPSTATE_SYN_SENT || s == TCPSTATE_SYN_RECEIVED;
	if ((fl & PKT_TCP_FIN) && (cn->d[e].flags & D_FIN) &&
	    v->seq + v->payload_len == cn->x[e].fin_seq)
		return s != TCPSTATE_FIN_WAIT_2 && s != TCPSTATE_TIME_WAIT;
	return true;
}

/*
 * A far endpoint's segment that it could not have sent in the state its
 * last receipt of a pure ACK or RST put it in says that it had not
 * received that yet (it is still in flight, or was lost on the far side
 * of the capture): back to the state before it. Anything else it sends
 * leaves the receipt standing.
 */
static void far_undo(struct track *t, struct conn *cn, int e, const struct pkt_view *v,
		     const struct segctx *c)
{
	struct dir *d = &cn->d[e];
	uint8_t prev = d->undo - 1;

	if (!d->undo)
		return;
	d->undo = 0;
	if (!could_send(cn, e, cn->st[e], v) && could_send(cn, e, prev, v))
		set_state(t, cn, e, prev, c, true);
}

/* The classes of e's segment v (classes: those its connection's start gave). */
FL_HOT static uint32_t classify(struct conn *cn, int e, const struct pkt_view *v,
				uint32_t now_t, uint32_t classes)
{
	if (!(classes & TRACK_C_REUSE) && conn_stale(cn, v->tcp_flags))
		classes |= TRACK_C_STALE;
	wireshark_base(cn, e, v);
	classes |= analyze(cn, e, v, now_t);
	initial_rtt(cn, v->tcp_flags, now_t);
	return note_segment(cn, e, v, classes);
}

/*
 * Count the resends and dup ACKs, and name the drop or hold of faultline
 * that each answers, if any, in seg->caused_by. [v->seq, end) is what the
 * segment carries.
 */
FL_HOT static void count_answers(struct track *t, struct conn *cn, int e,
				 const struct pkt_view *v, uint32_t end, struct track_seg *seg)
{
	uint32_t classes = seg->classes;

	if (classes & TRACK_C_RETRANSMISSION) {
		cn->n_retrans++;
		if (cn->cflags & CF_REC)
			seg->caused_by = track__blame_retrans(t, cn, e, v->seq, end);
		if (seg->caused_by)
			cn->n_retrans_fl++;
	}
	if (classes & TRACK_C_OUT_OF_ORDER) {
		cn->n_ooo++;
		/*
		 * tshark calls a resend out-of-order when it comes within the
		 * initial RTT of the data it follows; of bytes faultline
		 * dropped or holds, it is still their repair.
		 */
		if (cn->cflags & CF_REC)
			seg->caused_by = track__rec_resent(t, cn, e, v->seq, end);
		if (seg->caused_by)
			cn->n_ooo_fl++;
	}
	if (classes & TRACK_C_DUP_ACK) {
		struct dir *rev = &cn->d[!e];

		cn->n_dupack++;
		/* The peer's stream has a hole or a copy at e that faultline made. */
		if (rev->flags & (D_GAP_FL | D_DUP_FL)) {
			cn->n_dupack_fl++;
			seg->caused_by = track__rec_data_overlap(t, cn, !e, rev->rcv_nxt,
								 rev->rcv_nxt + 0x7fffffffu);
			rev->flags &= ~D_DUP_FL;
		}
	}
}

FL_HOT int track_ingress(struct track *t, const struct pkt_view *v, uint64_t now,
			 struct track_seg *seg)
{
	struct segctx c = { .now = now, .v = v };
	uint8_t fl = v->tcp_flags;
	uint32_t classes = 0, idx, now_t = tick(now);
	uint32_t end = v->seq + v->payload_len + !!(fl & (PKT_TCP_SYN | PKT_TCP_FIN));
	struct conn *cn;
	int e = 0;

	memset(seg, 0, sizeof(*seg));
	if (!v->has_l4 || v->fragment || v->l4proto != IPPROTO_TCP ||
	    (v->family != 4 && v->family != 6))
		return -EINVAL;
	if (!t->t0_set) {
		t->t0 = now;
		t->t0_set = true;
	}
	t->st.segments++;
	idx = find_conn(t, v, &c, &e, &classes);
	cn = &t->pool[idx];

	seg->conn = cn->id;
	seg->segno = c.segno = ++cn->nsegs;
	seg->endpoint = (uint8_t)e;
	seg->ordinal = e ? cn->nsegs - cn->nsegs0 : ++cn->nsegs0;
	seg->ident = cn->ident;
	seg->way = cn->ways >> e & 1;
	seg->slot = cn->slot;
	if (t->cfg.far_end)
		far_undo(t, cn, e, v, &c);
	seg->sender_state = cn->st[e];
	seg->receiver_state = cn->st[!e];

	infer_far_end(t, cn, e, fl, now_t);
	seg->classes = classify(cn, e, v, now_t, classes);
	/* Wireshark's base_seq (classify set it) is where relative sequence numbers count from. */
	seg->has_off = cn->d[e].flags & D_BASE;
	seg->off = v->seq - cn->x[e].isn - 1;
	sender_side(t, cn, e, v, &c);
	count_answers(t, cn, e, v, end, seg);
	conn_place(t, cn, now, true);

	seg->_seq = v->seq;
	seg->_end = end;
	seg->_ack = v->ack;
	seg->_flags = fl;
	seg->_slot = idx;
	if (seg->classes & (TRACK_C_RETRANSMISSION | TRACK_C_OUT_OF_ORDER |
			    TRACK_C_DUP_ACK | TRACK_C_STALE | TRACK_C_GAP |
			    TRACK_C_ZERO_WINDOW_PROBE | TRACK_C_KEEPALIVE))
		emit_class(t, cn, e, &c, seg->classes, seg->caused_by, false);
	return 0;
}

/* ---- egress ---- */

/* The connection the segment belongs to, if that incarnation is still there. */
FL_HOT static struct conn *seg_conn(struct track *t, const struct track_seg *seg,
				    const struct pkt_view *v, bool *other)
{
	uint32_t idx = seg->_slot;
	int e;

	*other = false;
	if (!seg->conn)
		return NULL;
	if (idx && idx <= t->hwm && t->pool[idx].id == seg->conn)
		return &t->pool[idx];
	if (!v)
		return NULL;
	idx = lookup(t, v, &e);
	if (!idx)
		return NULL;
	*other = t->pool[idx].id != seg->conn;
	return &t->pool[idx];
}

void track_capture_point(struct track *t, const struct track_seg *seg, bool at_sender)
{
	bool other;
	struct conn *cn = t->cfg.far_end ? seg_conn(t, seg, NULL, &other) : NULL;
	int far;

	if (!cn || other)
		return;
	far = at_sender ? !seg->endpoint : seg->endpoint;
	cn->x[far].xflags |= X_FAR;
	cn->x[!far].xflags &= (uint8_t)~X_FAR;
}

void track_dropped(struct track *t, const struct track_seg *seg,
		   const struct pkt_view *v, uint64_t now)
{
	bool other;
	struct conn *cn = seg_conn(t, seg, v, &other);

	(void)now;
	if (!cn || other)
		return;
	/* Held first and dropped now: the drop replaces the hold. */
	if (cn->cflags & CF_REC)
		track__rec_forget(t, cn, seg->segno, false);
	track__rec_add(t, cn, seg, false);
}

void track_altered(struct track *t, const struct track_seg *seg, uint32_t what)
{
	bool other;
	struct conn *cn = seg_conn(t, seg, NULL, &other);

	if (!cn || other || !(what & (TRACK_ALT_DELAYED | TRACK_ALT_REORDERED)))
		return;
	track__rec_add(t, cn, seg, true);
}

/* RFC 9293 3.10.7 and RFC 5961: does y accept the RST from x? */
static bool rst_acceptable(const struct conn *cn, int x, const struct pkt_view *v)
{
	const struct dir *d = &cn->d[x], *r = &cn->d[!x];
	const struct dirx *rx = &cn->x[!x];
	uint32_t wnd;

	switch (cn->st[!x]) {
	case TCPSTATE_SYN_SENT:
		return (v->tcp_flags & PKT_TCP_ACK) && (r->flags & D_ISN) &&
		       v->ack == rx->isn + 1;
	case TCPSTATE_LISTEN:
	case TCPSTATE_CLOSED:
		return false;
	case TCPSTATE_TIME_WAIT:
		/* Linux with tcp_rfc1337=0 lets an exact RST end TIME_WAIT. */
		return !(d->flags & D_RCV) || v->seq == d->rcv_nxt;
	case TCPSTATE_SYN_RECEIVED:
		if (!(d->flags & D_RCV))
			return true;
		wnd = (r->flags & D_WIN) ? r->win : 65535;
		return seq_ge(v->seq, d->rcv_nxt) && seq_lt(v->seq, d->rcv_nxt + wnd + 1);
	default:
		/* In-window but inexact draws a challenge ACK and changes nothing. */
		return !(d->flags & D_RCV) || v->seq == d->rcv_nxt;
	}
}

/* A RST reaches its receiver. */
FL_HOT static void deliver_rst(struct track *t, struct conn *cn, const struct track_seg *seg,
			       const struct pkt_view *v, const struct segctx *c)
{
	int x = seg->endpoint, y = !x;
	uint8_t ys = cn->st[y];

	if (ys == TCPSTATE_TIME_WAIT || ys == TCPSTATE_CLOSED)
		emit_class(t, cn, x, c, seg->classes | TRACK_C_STALE, 0, true);
	if (!rst_acceptable(cn, x, v))
		return;
	if (ys == TCPSTATE_SYN_RECEIVED && (cn->cflags & (CF_PASSIVE0 << y)))
		track__set_state(t, cn, y, TCPSTATE_LISTEN, c);
	else
		track__set_state(t, cn, y, TCPSTATE_CLOSED, c);
}

/* A SYN or SYN/ACK reaches its receiver. */
FL_HOT static void deliver_syn(struct track *t, struct conn *cn, const struct track_seg *seg,
			       const struct pkt_view *v, const struct segctx *c)
{
	int x = seg->endpoint, y = !x;
	struct dir *d = &cn->d[x];
	const struct dir *r = &cn->d[y];
	uint8_t ys = cn->st[y];
	/*
	 * A far endpoint known to be far already (the capture point given)
	 * shows its receipt with its answer: sender_side() takes a SYN in at
	 * its SYN+ACK, a SYN+ACK in SYN_SENT at its ACK. (Inferred, the far
	 * end is known only at the handshake's end: track.h.) A SYN+ACK in
	 * SYN_RECEIVED (simultaneous open) draws no answer that sender_side()
	 * reads: taken when released.
	 */
	bool far = t->cfg.far_end && (cn->x[y].xflags & X_FAR);

	if (!(v->tcp_flags & PKT_TCP_ACK)) {
		/* Passive open, or simultaneous open from SYN_SENT. */
		if (far && ys != TCPSTATE_TIME_WAIT)
			return;
		if (ys == TCPSTATE_LISTEN || ys == TCPSTATE_CLOSED ||
		    ys == TCPSTATE_SYN_SENT) {
			if (ys != TCPSTATE_SYN_SENT)
				cn->cflags |= CF_PASSIVE0 << y;
			track__set_state(t, cn, y, TCPSTATE_SYN_RECEIVED, c);
			d->rcv_nxt = v->seq + 1;
			d->flags |= D_RCV;
		} else if (ys == TCPSTATE_TIME_WAIT) {
			emit_class(t, cn, x, c, seg->classes | TRACK_C_STALE, 0, true);
		}
		return;
	}
	if (((ys == TCPSTATE_SYN_SENT && !far) || ys == TCPSTATE_SYN_RECEIVED) &&
	    (r->flags & D_ISN) && v->ack == cn->x[y].isn + 1) {
		track__set_state(t, cn, y, TCPSTATE_ESTABLISHED, c);
		d->rcv_nxt = v->seq + 1;
		d->flags |= D_RCV;
	}
}

/* The ACK field of a segment to y (RFC 9293 3.10.7.4, fifth). */
FL_HOT static void deliver_ack(struct track *t, struct conn *cn, int y,
			       const struct pkt_view *v, const struct segctx *c)
{
	const struct dir *r = &cn->d[y];
	const struct dirx *rx = &cn->x[y];

	if (cn->st[y] == TCPSTATE_SYN_RECEIVED && (r->flags & D_ISN) &&
	    seq_gt(v->ack, rx->isn))
		track__set_state(t, cn, y, TCPSTATE_ESTABLISHED, c);
	if ((r->flags & D_FIN) && seq_gt(v->ack, rx->fin_seq)) {
		if (cn->st[y] == TCPSTATE_FIN_WAIT_1)
			track__set_state(t, cn, y, TCPSTATE_FIN_WAIT_2, c);
		else if (cn->st[y] == TCPSTATE_CLOSING)
			track__set_state(t, cn, y, TCPSTATE_TIME_WAIT, c);
		else if (cn->st[y] == TCPSTATE_LAST_ACK)
			track__set_state(t, cn, y, TCPSTATE_CLOSED, c);
	}
}

/*
 * Data that starts past the receiver's RCV.NXT: it lacks [rcv_nxt, seq).
 * It is faultline's gap only if faultline dropped or holds some of it: a
 * record says which, or faultline acted on this direction without one
 * (L_UNREC) and nothing was missing at capture. A gap with neither was
 * there before faultline (loss upstream of the capture), or is one the
 * shadow receiver, keeping one block past RCV.NXT, lost track of.
 */
FL_HOT static void deliver_past_gap(struct track *t, struct conn *cn,
				    const struct track_seg *seg, const struct pkt_view *v,
				    const struct segctx *c)
{
	int x = seg->endpoint;
	struct dir *d = &cn->d[x];
	struct dirx *dx = &cn->x[x];
	uint32_t seq = v->seq, end = seq + v->payload_len;
	uint32_t blame = track__rec_data_overlap(t, cn, x, d->rcv_nxt, seq);
	bool ours = blame || (!(seg->classes & TRACK_C_GAP) && (d->lflags & L_UNREC));
	/*
	 * One event per gap opened: segments that continue the block already
	 * held past the gap are in order for the receiver, as a capture there
	 * would show them.
	 */
	bool opens = !(d->flags & D_OOO) || seq_gt(seq, dx->ooo_hi) || seq_lt(end, dx->ooo_lo);

	if (!(d->flags & D_OOO)) {
		dx->ooo_lo = seq;
		dx->ooo_hi = end;
		d->flags |= D_OOO;
	} else if (seq_le(seq, dx->ooo_hi) && seq_ge(end, dx->ooo_lo)) {
		if (seq_lt(seq, dx->ooo_lo))
			dx->ooo_lo = seq;
		if (seq_gt(end, dx->ooo_hi))
			dx->ooo_hi = end;
	} else if (seq_lt(seq, dx->ooo_lo)) {
		/* Keep the block nearest RCV.NXT; ACKs resync the rest. */
		dx->ooo_lo = seq;
		dx->ooo_hi = end;
	}
	if (ours && opens) {
		cn->n_ooo++;
		cn->n_ooo_fl++;
		d->flags |= D_GAP_FL;
		emit_class(t, cn, x, c, seg->classes | TRACK_C_OUT_OF_ORDER, blame, true);
	}
}

/* The segment's data reaches its receiver ('again': see deliver()). */
FL_HOT static void deliver_data(struct track *t, struct conn *cn, const struct track_seg *seg,
				const struct pkt_view *v, const struct segctx *c, bool again)
{
	int x = seg->endpoint;
	struct dir *d = &cn->d[x];
	uint32_t seq = v->seq, end = seq + v->payload_len;

	if (seq_gt(seq, d->rcv_nxt)) {
		deliver_past_gap(t, cn, seg, v, c);
		return;
	}
	if (seq_gt(end, d->rcv_nxt)) {
		rcv_advance(cn, x, end);
	} else if (!(seg->classes & (TRACK_C_RETRANSMISSION | TRACK_C_KEEPALIVE |
				     TRACK_C_ZERO_WINDOW_PROBE)) &&
		   (again || seg->caused_by || (d->lflags & L_UNREC))) {
		/*
		 * Received twice because of faultline: its copy, a segment it
		 * held, or a resend (out-of-order to tshark) of bytes it
		 * dropped or holds. A resend of bytes lost before or after the
		 * capture point is the network's: the shadow receiver, which
		 * saw every captured copy, only thinks it has them.
		 */
		d->flags |= D_DUP_FL;
	}
}

/*
 * A receipt moved far endpoint y from ys: far_undo() may take it back. It
 * is taken back only while y has sent nothing since.
 */
FL_HOT static inline void far_note(const struct track *t, struct conn *cn, int y, uint8_t ys)
{
	if (t->cfg.far_end && cn->st[y] != ys && (cn->x[y].xflags & X_FAR))
		cn->d[y].undo = ys + 1;
}

/*
 * seg reaches its receiver. 'again' says that faultline would be why the
 * receiver has its bytes already: it is a copy faultline made, or faultline
 * held it (and a resend may have got through first).
 */
FL_HOT static void deliver(struct track *t, struct conn *cn, const struct track_seg *seg,
			   const struct pkt_view *v, const struct segctx *c, bool again)
{
	int x = seg->endpoint, y = !x;
	struct dir *d = &cn->d[x];
	uint8_t fl = v->tcp_flags, ys = cn->st[y];

	if (fl & PKT_TCP_RST) {
		deliver_rst(t, cn, seg, v, c);
		far_note(t, cn, y, ys);
		return;
	}
	if (fl & PKT_TCP_SYN) {
		deliver_syn(t, cn, seg, v, c);
		return;
	}
	if (ys == TCPSTATE_CLOSED || ys == TCPSTATE_LISTEN || ys == TCPSTATE_SYN_SENT) {
		/* Nothing to take it: the host answers with a RST. */
		if (ys == TCPSTATE_CLOSED)
			emit_class(t, cn, x, c, seg->classes | TRACK_C_STALE, 0, true);
		return;
	}
	/* The ACK field first, then the text and FIN. */
	if (fl & PKT_TCP_ACK) {
		deliver_ack(t, cn, y, v, c);
		far_note(t, cn, y, ys);
	}
	if (ys == TCPSTATE_TIME_WAIT) {
		/* A FIN again: the final ACK was lost; re-ACK and restart 2*MSL. */
		if ((fl & PKT_TCP_FIN) && (d->flags & D_FIN_RCVD))
			track__timer_arm(t, cn, c->now);
		else
			emit_class(t, cn, x, c, seg->classes | TRACK_C_STALE, 0, true);
		return;
	}
	if (!(d->flags & D_RCV)) {
		/* Picked up: take the first segment as in order. */
		d->rcv_nxt = v->seq;
		d->flags |= D_RCV;
	}
	if (v->payload_len)
		deliver_data(t, cn, seg, v, c, again);
	if (fl & PKT_TCP_FIN)
		d->flags |= D_FIN_DLV;
	/*
	 * A far receiver has the FIN when it acknowledges it: sender_side()
	 * takes it in then.
	 */
	if ((d->flags & (D_FIN | D_FIN_DLV | D_FIN_RCVD)) == (D_FIN | D_FIN_DLV) &&
	    d->rcv_nxt == cn->x[x].fin_seq && !(cn->x[y].xflags & X_FAR)) {
		d->rcv_nxt++;
		d->flags |= D_FIN_RCVD;
		fin_receipt(t, cn, y, c);
	}
}

/*
 * What a RST to endpoint x must carry (RFC 5961 3.2, Linux's
 * tcp_validate_incoming): exactly its RCV.NXT in a synchronized state,
 * else it only draws a challenge ACK; in SYN_SENT the sequence number
 * is ignored and the ACK must be its SND.NXT (tcp_rcv_synsent_state_process).
 * What the tracker does not know stays as the caller derived it.
 */
static void rst_for(const struct conn *cn, int x, struct track_rst *r)
{
	const struct dir *dx = &cn->d[x], *dy = &cn->d[!x];

	switch (cn->st[x]) {
	case TCPSTATE_LISTEN:
	case TCPSTATE_CLOSED:
	case TCPSTATE_TIME_WAIT:
		/* No application left to tell: a RST would only end TIME_WAIT early. */
		r->send = false;
		return;
	case TCPSTATE_SYN_SENT:
		r->send = true;
		if (dx->flags & D_NXT)
			r->ack = dx->nxt;
		return;
	default:
		r->send = true;
		if (dy->flags & D_RCV)
			r->seq = dy->rcv_nxt;
		if (dx->flags & D_NXT)
			r->ack = dx->nxt;
	}
}

int track_reset(struct track *t, const struct track_seg *seg, const struct pkt_view *v,
		uint64_t now, struct track_rst rst[2])
{
	struct segctx c = { .now = now, .v = v, .segno = seg->segno };
	bool other;
	struct conn *cn = seg_conn(t, seg, v, &other);

	if (!cn || other)
		return -ENOENT;
	for (int k = 0; k < 2; k++)
		rst_for(cn, k ? !seg->endpoint : seg->endpoint, &rst[k]);
	for (int k = 0; k < 2; k++) {
		int x = k ? !seg->endpoint : seg->endpoint;

		if (!rst[k].send)
			continue;
		if (cn->st[x] == TCPSTATE_SYN_RECEIVED && (cn->cflags & (CF_PASSIVE0 << x)))
			track__set_state(t, cn, x, TCPSTATE_LISTEN, &c);
		else
			track__set_state(t, cn, x, TCPSTATE_CLOSED, &c);
	}
	conn_place(t, cn, now, false);
	return 0;
}

FL_HOT void track_released(struct track *t, const struct track_seg *seg,
			   const struct pkt_view *v, uint64_t now)
{
	struct segctx c = { .now = now, .v = v, .segno = seg->segno };
	bool other, again;
	struct conn *cn = seg_conn(t, seg, v, &other);
	uint8_t st0, st1;

	if (!cn)
		return;
	if (other) {
		/* Held past the end of its connection into the next one. */
		c.segno = 0;
		emit_class(t, cn, seg->endpoint, &c, seg->classes | TRACK_C_STALE,
			   0, true);
		return;
	}
	st0 = cn->st[0];
	st1 = cn->st[1];
	/*
	 * The same segment released again right after itself is one of
	 * faultline's copies (track_altered(), TRACK_ALT_DUPLICATED).
	 */
	again = cn->last_rel == (uint16_t)seg->segno;
	cn->last_rel = (uint16_t)seg->segno;
	if ((cn->cflags & CF_REC) && track__rec_forget(t, cn, seg->segno, true))
		again = true;
	deliver(t, cn, seg, v, &c, again);
	if (cn->cflags & CF_REC)
		track__rec_repaired(t, cn, seg->endpoint, v);
	/* Activity was noted at capture; only a new state may move the connection. */
	if (cn->st[0] != st0 || cn->st[1] != st1)
		conn_place(t, cn, now, false);
}

