// SPDX-License-Identifier: MIT
/*
 * evlog layout: one conversation, indexed for drawing. Each packet gets
 * its side, its cause and the segment it resends; each side its ISN and
 * the order its packets reached the receiver; the conversation its counts
 * and its rows in time order, a held packet's capture paired with its
 * release.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "track.h"

/* Every class that makes a segment a retransmission. */
#define RETRANS_CLASSES \
	(TRACK_C_RETRANSMISSION | TRACK_C_FAST_RETRANSMISSION | TRACK_C_SPURIOUS_RETRANSMISSION)

static size_t seglen(const struct evlog_pkt *p)
{
	return p->plen + !!(p->flags & EVLOG_SYN) + !!(p->flags & EVLOG_FIN);
}

struct seg_ix {
	uint32_t seg;
	size_t idx;
};

static int cmp_seg(const void *a, const void *b)
{
	const struct seg_ix *x = a, *y = b;

	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The first packet with TCP segment number seg in a conversation's index, or -1. */
static long find_seg(const struct seg_ix *ix, size_t n, uint32_t seg)
{
	size_t lo = 0, hi = n;

	if (!seg)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix[mid].seg < seg)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ix[lo].seg == seg ? (long)ix[lo].idx : -1;
}

/* How far back to look for the segment a retransmission resends. */
#define ORIG_SCAN_MAX 65536

/*
 * The segment a retransmission resends: walking back from it, the latest
 * one from the same side whose sequence space holds its first byte and
 * that is not itself a retransmission (else the earliest such one seen).
 * Bounded, so a long connection full of retransmissions stays linear.
 */
static long original_of(const struct evlog *log, const struct evlog_conv *conv, size_t pos)
{
	const struct evlog_pkt *p = &log->pkts[conv->pkts[pos]];
	long found = -1;

	for (size_t i = pos, steps = 0; i-- > 0 && steps < ORIG_SCAN_MAX; steps++) {
		const struct evlog_pkt *q = &log->pkts[conv->pkts[i]];

		if (q->from != p->from || !seglen(q) || (uint32_t)(p->seq - q->seq) >= seglen(q))
			continue;
		found = (long)conv->pkts[i];
		if (!(q->classes & RETRANS_CLASSES))
			break;
	}
	return found;
}

struct leave {
	unsigned line;		/* the line that let it go: its packet or its release */
	size_t idx;
};

static int cmp_leave(const void *a, const void *b)
{
	const struct leave *x = a, *y = b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/* Rank each direction's packets by when they left: the order the receiver got them. */
static int rank_arrivals(struct evlog *log, struct evlog_conv *conv)
{
	struct leave *lv = calloc(conv->n_pkts + 1, sizeof(*lv));
	size_t n = 0;

	if (!lv)
		return -ENOMEM;
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

		if (p->injected)
			continue;
		if (p->verdict == EVLOG_ACCEPT)
			lv[n++] = (struct leave){ p->line, conv->pkts[i] };
		else if (p->verdict == EVLOG_HOLD && p->released)
			lv[n++] = (struct leave){ p->rel_line, conv->pkts[i] };
	}
	qsort(lv, n, sizeof(*lv), cmp_leave);
	for (size_t i = 0; i < n; i++) {
		struct evlog_pkt *p = &log->pkts[lv[i].idx];

		p->recv_pos = ++conv->arrived[p->from];
	}
	free(lv);
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct evlog_row *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int lay_out(struct evlog *log, struct evlog_conv *conv)
{
	long *send_row;
	size_t n = 0;

	conv->rows = calloc(2 * conv->n_pkts + conv->n_trks + 1, sizeof(*conv->rows));
	send_row = calloc(conv->n_pkts + 1, sizeof(*send_row));
	if (!conv->rows || !send_row) {
		free(send_row);
		return -ENOMEM;
	}
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

		conv->rows[n++] = (struct evlog_row){ EVLOG_ROW_SEND, p->t, p->line, conv->pkts[i], -1 };
		if (p->released)
			conv->rows[n++] = (struct evlog_row){ EVLOG_ROW_RELEASE, p->rel_t, p->rel_line,
							   conv->pkts[i], -1 };
	}
	for (size_t i = 0; i < conv->n_trks; i++) {
		const struct evlog_trk *k = &log->trks[conv->trks[i]];

		if (k->type == EVLOG_TRK_TRANSITION)
			conv->rows[n++] = (struct evlog_row){ EVLOG_ROW_STATE, k->t, k->line, conv->trks[i],
							   -1 };
	}
	/* File order is already time order; the sort only guards merged files. */
	qsort(conv->rows, n, sizeof(*conv->rows), cmp_row);
	conv->n_rows = n;
	/*
	 * A release follows its capture, so one pass pairs them (send_row
	 * holds row + 1; 0 is "not seen", which only a file with times out
	 * of order could give).
	 */
	for (size_t r = 0; r < n; r++) {
		struct evlog_row *row = &conv->rows[r];
		size_t pos;

		if (row->kind == EVLOG_ROW_STATE)
			continue;
		pos = log->pkts[row->idx].conv_pos;
		if (row->kind == EVLOG_ROW_SEND) {
			send_row[pos] = (long)r + 1;
		} else if (send_row[pos]) {
			row->pair = send_row[pos] - 1;
			conv->rows[row->pair].pair = (long)r;
		}
	}
	free(send_row);
	return 0;
}

/* Each packet's side, and the counts over the conversation's packet lines. */
static void count_pkts(struct evlog *log, struct evlog_conv *conv)
{
	for (size_t i = 0; i < conv->n_pkts; i++) {
		struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

		p->from = conv->tcp ? p->endpoint : p->way != conv->first_way;
		p->cause = p->egress_cause = -1;
		/* A RST faultline made is no endpoint's packet. */
		if (p->injected)
			continue;
		conv->sent[p->from]++;
		conv->dropped += p->verdict == EVLOG_DROP;
		conv->held += p->verdict == EVLOG_HOLD;
		conv->copies += p->copies;
		conv->corrupted += p->corrupt;
		if (!conv->tcp)
			continue;
		if (p->classes & RETRANS_CLASSES) {
			conv->retrans++;
			conv->retrans_faultline += !!p->caused_by;
		}
		conv->dup_acks += !!(p->classes & TRACK_C_DUP_ACK);
	}
}

/*
 * Relative numbers count from each side's SYN, as Wireshark's do; a
 * connection picked up mid-stream counts from its first seq - 1, so that
 * the first byte seen is byte 1.
 */
static void find_isns(const struct evlog *log, struct evlog_conv *conv)
{
	for (int e = 0; conv->tcp && e < 2; e++) {
		for (size_t i = 0; i < conv->n_pkts && !conv->has_isn[e]; i++) {
			const struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

			if (p->from == (unsigned)e && p->flags & EVLOG_SYN) {
				conv->isn[e] = p->seq;
				conv->has_isn[e] = true;
			}
		}
		for (size_t i = 0; i < conv->n_pkts && !conv->has_isn[e]; i++) {
			const struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

			if (p->from == (unsigned)e && !p->injected) {
				conv->isn[e] = p->seq - 1;
				conv->has_isn[e] = true;
			}
		}
	}
}

/*
 * What the tracker lines add: each side's first and last state, the
 * flow-end line, and the classes the receiver saw ("view":"egress") on
 * the segments they name. ix: the segment index (find_seg).
 */
static void apply_trks(struct evlog *log, struct evlog_conv *conv, const struct seg_ix *ix)
{
	for (size_t i = 0; i < conv->n_trks; i++) {
		const struct evlog_trk *k = &log->trks[conv->trks[i]];
		long q;

		switch (k->type) {
		case EVLOG_TRK_TRANSITION:
			if (!conv->first_state[k->endpoint])
				conv->first_state[k->endpoint] = *k->old_state ? k->old_state : NULL;
			conv->last_state[k->endpoint] = k->new_state;
			break;
		case EVLOG_TRK_CLASS:
			if (!k->egress)
				break;
			q = conv->tcp ? find_seg(ix, conv->n_pkts, k->seg) : -1;
			if (q < 0)
				break;
			log->pkts[q].egress_classes |= k->classes;
			if (k->caused_by)
				log->pkts[q].egress_caused_by = k->caused_by;
			break;
		case EVLOG_TRK_FLOW_END:
			conv->end = (long)conv->trks[i];
			for (int e = 0; e < 2; e++)
				if (!conv->last_state[e] && k->summary.state[e])
					conv->last_state[e] = k->summary.state[e];
			break;
		case EVLOG_TRK_FLOW_NEW:
			break;
		}
	}
}

/* Each TCP packet's cause (as sent and as received) and what a retransmission resends. */
static void link_causes(struct evlog *log, struct evlog_conv *conv, const struct seg_ix *ix)
{
	for (size_t i = 0; i < conv->n_pkts; i++) {
		struct evlog_pkt *p = &log->pkts[conv->pkts[i]];

		p->orig = -1;
		if (!conv->tcp)
			continue;
		p->cause = find_seg(ix, conv->n_pkts, p->caused_by);
		p->egress_cause = find_seg(ix, conv->n_pkts, p->egress_caused_by);
		if (p->classes & RETRANS_CLASSES)
			p->orig = original_of(log, conv, i);
		conv->out_of_order += !!((p->classes | p->egress_classes) & TRACK_C_OUT_OF_ORDER);
	}
}

int evlog__index_conv(struct evlog *log, struct evlog_conv *conv)
{
	struct seg_ix *ix;
	int ret;

	count_pkts(log, conv);
	find_isns(log, conv);
	/* Segment numbers grow in file order, but a merged file may break that: sort. */
	ix = calloc(conv->n_pkts + 1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < conv->n_pkts; i++)
		ix[i] = (struct seg_ix){ log->pkts[conv->pkts[i]].seg, conv->pkts[i] };
	qsort(ix, conv->n_pkts, sizeof(*ix), cmp_seg);
	apply_trks(log, conv, ix);
	link_causes(log, conv, ix);
	free(ix);
	ret = rank_arrivals(log, conv);
	return ret ? ret : lay_out(log, conv);
}
