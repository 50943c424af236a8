// SPDX-License-Identifier: MIT
/*
 * track_rec: the records of what faultline did to segments (struct rec in
 * track_int.h), kept in a pool shared by all connections so that the
 * retransmission, out-of-order resend or dup ACK a drop or hold provokes
 * can name it in caused_by. The per-segment path calls here only for a
 * connection that has records (CF_REC) or when faultline acts.
 */
#include "track_int.h"

static uint32_t rec_get(struct track *t)
{
	uint32_t i = t->rfree;

	if (i) {
		t->rfree = t->rec[i].next;
		return i;
	}
	if (t->rhwm < t->rcap)
		return ++t->rhwm;
	return 0;
}

/* Unlink the record *link points to and give it back to the pool. */
static void rec_unlink(struct track *t, struct conn *cn, uint32_t *link)
{
	uint32_t i = *link;
	struct rec *r = &t->rec[i];

	*link = r->next;
	if (r->flags & R_HOLD)
		t->rholds--;
	r->next = t->rfree;
	t->rfree = i;
	if (!--cn->nrec)
		cn->cflags &= ~CF_REC;
	t->st.records_in_use--;
}

/* A connection entry is freed or reused: so are its records. */
void track__rec_free_all(struct track *t, struct conn *cn)
{
	while (cn->rhead)
		rec_unlink(t, cn, &cn->rhead);
}

/*
 * Endpoint e's data lost its record, or never got one: say so on its
 * direction, so that the gap it leaves can still be put down to faultline
 * (deliver()). A pure ACK needs no such note: only resends name it.
 */
static void rec_unrecorded(struct conn *cn, int e, bool data)
{
	if (data)
		cn->d[e].lflags |= L_UNREC;
}

/* Give back a record that is still needed, and note what it was. */
static void rec_evict(struct track *t, struct conn *cn, uint32_t *link)
{
	const struct rec *r = &t->rec[*link];

	rec_unrecorded(cn, !!(r->flags & R_DIR1), !(r->flags & R_ACK));
	rec_unlink(t, cn, link);
}

/* Forget the newest hold of cn to make room for a drop. */
static bool rec_evict_hold(struct track *t, struct conn *cn)
{
	for (uint32_t *p = &cn->rhead; *p; p = &t->rec[*p].next) {
		if (t->rec[*p].flags & R_HOLD) {
			rec_evict(t, cn, p);
			return true;
		}
	}
	return false;
}

/* Forget the oldest record of cn (the list's last). */
static void rec_evict_oldest(struct track *t, struct conn *cn)
{
	uint32_t *p = &cn->rhead;

	while (t->rec[*p].next)
		p = &t->rec[*p].next;
	rec_evict(t, cn, p);
}

static void rec_lost(struct track *t, struct conn *cn, bool pool)
{
	if (pool)
		t->st.records_lost_pool++;
	else
		t->st.records_lost_cap++;
	cn->n_rec_lost++;
}

/*
 * Drops come first: a drop's record is the only way its retransmission
 * can name it, while a hold ends at its release and its oldest records
 * (what the sender resends first, the hole the receiver's dup ACKs point
 * at) are kept over newer ones. So at the per-connection cap a new hold is
 * not recorded, and a new drop pushes out the newest hold, else the oldest
 * drop (the likeliest to be repaired already or given up on). Holds take
 * at most half the pool, so that 'delay' on every packet of many
 * connections leaves room for drops; with the pool used up, a drop takes
 * its connection's newest hold.
 */
void track__rec_add(struct track *t, struct conn *cn, const struct track_seg *seg, bool hold)
{
	bool data = seg->_end != seg->_seq;
	uint8_t rf = (seg->endpoint ? R_DIR1 : 0) | (hold ? R_HOLD : 0);
	uint32_t i;
	struct rec *r;

	if (seg->_flags & PKT_TCP_RST)
		return;
	if (!data) {
		/* A lost or held pure ACK matters by the ack it carries. */
		if (!(seg->_flags & PKT_TCP_ACK))
			return;
		rf |= R_ACK;
	}
	if (cn->nrec >= t->cfg.records_per_conn) {
		if (hold) {
			rec_lost(t, cn, false);
			rec_unrecorded(cn, seg->endpoint, data);
			return;
		}
		if (!rec_evict_hold(t, cn))
			rec_evict_oldest(t, cn);
		rec_lost(t, cn, false);
	}
	if (hold && t->rholds >= t->rcap / 2) {
		rec_lost(t, cn, true);
		rec_unrecorded(cn, seg->endpoint, data);
		return;
	}
	i = rec_get(t);
	if (!i && !hold && rec_evict_hold(t, cn)) {
		t->st.records_lost_pool++;
		cn->n_rec_lost++;
		i = rec_get(t);
	}
	if (!i) {
		rec_lost(t, cn, true);
		rec_unrecorded(cn, seg->endpoint, data);
		return;
	}
	r = &t->rec[i];
	r->flags = rf;
	r->seq = data ? seg->_seq : seg->_ack;
	r->end = seg->_end;
	r->segno = seg->segno;
	r->next = cn->rhead;
	cn->rhead = i;
	cn->nrec++;
	cn->cflags |= CF_REC;
	t->rholds += hold;
	t->st.records_in_use++;
}

bool track__rec_forget(struct track *t, struct conn *cn, uint32_t segno, bool holds_only)
{
	uint32_t *p = &cn->rhead;
	bool found = false;

	while (*p) {
		const struct rec *r = &t->rec[*p];

		if (r->segno == segno && (!holds_only || (r->flags & R_HOLD))) {
			rec_unlink(t, cn, p);
			found = true;
		} else {
			p = &t->rec[*p].next;
		}
	}
	return found;
}

static inline bool rec_from(const struct rec *r, int e)
{
	return !!(r->flags & R_DIR1) == !!e;
}

/* The oldest data record of endpoint e overlapping [lo, hi); 0 if none. */
uint32_t track__rec_data_overlap(const struct track *t, const struct conn *cn, int e,
				 uint32_t lo, uint32_t hi)
{
	uint32_t best = 0;

	for (uint32_t i = cn->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (!rec_from(r, e) || (r->flags & R_ACK))
			continue;
		if (!seq_overlap(r->seq, r->end, lo, hi))
			continue;
		if (!best || r->segno < best)
			best = r->segno;
	}
	return best;
}

/*
 * The newest data record of endpoint e overlapping [seq, end): the copy of
 * those bytes faultline dropped or held last, which is the one a resend
 * repairs (the sender resends again because its previous resend was
 * lost). Newest first is also list order.
 */
uint32_t track__rec_resent(const struct track *t, const struct conn *cn, int e,
			   uint32_t seq, uint32_t end)
{
	for (uint32_t i = cn->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (rec_from(r, e) && !(r->flags & R_ACK) && seq_overlap(r->seq, r->end, seq, end))
			return r->segno;
	}
	return 0;
}

/*
 * Which faultline action does a retransmission of [seq, end) by e repair?
 * Its own lost/held copy first, then a lost/held ACK of the peer that
 * would have covered it.
 */
uint32_t track__blame_retrans(const struct track *t, const struct conn *cn, int e,
			      uint32_t seq, uint32_t end)
{
	uint32_t n = track__rec_resent(t, cn, e, seq, end);

	if (n)
		return n;
	for (uint32_t i = cn->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (rec_from(r, !e) && (r->flags & R_ACK) && seq_gt(r->seq, seq) &&
		    (!n || r->segno < n))
			n = r->segno;
	}
	return n;
}

/* Holds go at their own release instead (see track__rec_add()). */
void track__rec_repaired(struct track *t, struct conn *cn, int e, const struct pkt_view *v)
{
	const struct dir *d = &cn->d[e];
	uint32_t *p = &cn->rhead;

	while (*p) {
		const struct rec *r = &t->rec[*p];
		bool done = false;

		if (rec_from(r, e) && !(r->flags & R_HOLD)) {
			if (r->flags & R_ACK)
				done = (v->tcp_flags & PKT_TCP_ACK) && seq_ge(v->ack, r->seq);
			else
				done = (d->flags & D_RCV) && seq_le(r->end, d->rcv_nxt);
		}
		if (done)
			rec_unlink(t, cn, p);
		else
			p = &t->rec[*p].next;
	}
}
