// SPDX-License-Identifier: MIT
/*
 * evlog notes: the text both renderers write beside a packet's arrow.
 * Reads a finished log through evlog.h only, as show.c and report.c do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "act.h"
#include "evlog.h"
#include "track.h"

size_t evlog_pkt_label(const struct evlog *log, const struct evlog_pkt *p, size_t max, char *buf,
		       size_t size)
{
	const struct evlog_conv *conv = evlog_conv(log, p->conv_idx);
	char head[48], ack[24] = "";
	const char *name;
	uint32_t seq, rack;
	size_t n;

	if (!size)
		return 0;
	if (!p->tcp) {
		snprintf(buf, size, "%s len=%u", *p->proto ? p->proto : "packet", p->plen);
		goto cut;
	}
	/* uint32_t arithmetic: sequence numbers wrap, and so do their differences. */
	seq = p->seq - (conv->has_isn[p->from] ? conv->isn[p->from] : 0);
	rack = p->ack - (conv->has_isn[!p->from] ? conv->isn[!p->from] : 0);
	if (p->flags & EVLOG_RST)
		name = p->flags & EVLOG_ACK ? "RST+ACK" : "RST";
	else if (p->flags & EVLOG_SYN)
		name = p->flags & EVLOG_ACK ? "SYN+ACK" : "SYN";
	else if (p->flags & EVLOG_FIN)
		name = p->plen ? "FIN+data" : "FIN";
	else if (p->plen)
		name = "data";
	else if (p->flags & EVLOG_ACK)
		name = "ACK";
	else
		name = "segment";
	if (!strcmp(name, "ACK"))
		snprintf(head, sizeof(head), "ACK");
	else if (p->plen)
		snprintf(head, sizeof(head), "%s seq=%u len=%u", name, seq, p->plen);
	else
		snprintf(head, sizeof(head), "%s seq=%u", name, seq);
	if (p->flags & EVLOG_ACK && !(p->flags & EVLOG_RST && !p->ack))
		snprintf(ack, sizeof(ack), " ack=%u", rack);
	/* A narrow column loses the ack first: the head says what the segment is. */
	if (strlen(head) + strlen(ack) > max && strcmp(name, "ACK"))
		ack[0] = '\0';
	snprintf(buf, size, "%s%s", head, ack);
cut:
	n = strlen(buf);
	if (n > max) {
		buf[max] = '\0';
		n = max;
	}
	return n;
}

const struct evlog_action *evlog_pkt_action(const struct evlog_pkt *p, int t)
{
	for (unsigned i = 0; i < p->n_actions; i++)
		if (t < 0 || p->actions[i].type == t)
			return &p->actions[i];
	return NULL;
}

int evlog_pkt_rule(const struct evlog_pkt *p, int t)
{
	const struct evlog_action *a = evlog_pkt_action(p, t);

	return a ? (int)a->rule : -1;
}

const char *evlog_rule_label(const struct evlog_action *a, char *buf, size_t size)
{
	if (!a->name[0] || rule_name_is_number(a->name, a->rule))
		snprintf(buf, size, "rule %u", a->rule);
	else
		snprintf(buf, size, "rule %u %s", a->rule, a->name);
	return buf;
}

size_t evlog_pkt_ident(const struct evlog_pkt *p, char *buf, size_t size)
{
	int n;

	/* A RST faultline made has no number of its own in the connection. */
	if (p->injected)
		n = snprintf(buf, size, "made");
	else if (p->tcp)
		n = snprintf(buf, size, "seg %u", p->seg);
	else
		n = snprintf(buf, size, "#%llu", (unsigned long long)p->ord);
	return n < 0 ? 0 : (size_t)n;
}

/* The action of the rule whose rate queue was full and dropped the packet, or NULL. */
static const struct evlog_action *rate_full_rule(const struct evlog_pkt *p)
{
	for (unsigned i = 0; i < p->n_actions; i++)
		if (p->actions[i].type == RULE_ACT_RATE &&
		    !strcmp(p->actions[i].reason, act_reason_name(ACT_REASON_QUEUE_FULL)))
			return &p->actions[i];
	return NULL;
}

/* What faultline did to a packet, as a past participle. */
static const char *fate(const struct evlog_pkt *q)
{
	if (q->verdict == EVLOG_DROP)
		return "dropped";
	if (q->verdict != EVLOG_HOLD)
		return "passed";
	if (evlog_pkt_rule(q, RULE_ACT_DELAY) >= 0)
		return "delayed";
	if (q->reorder)
		return "reordered";
	if (evlog_pkt_rule(q, RULE_ACT_RATE) >= 0)
		return "rate-queued";
	return "held";
}

__attribute__((format(printf, 2, 3)))
static void note(struct evlog_notes *o, const char *fmt, ...)
{
	va_list ap;

	if (o->n >= EVLOG_NOTES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(o->s[o->n++], EVLOG_NOTE_LEN, fmt, ap);
	va_end(ap);
}

/* Class names worth a note: those the arrow label does not already say. */
static void class_list(uint32_t classes, char *buf, size_t size)
{
	const uint32_t said = TRACK_C_HANDSHAKE | TRACK_C_SYN | TRACK_C_SYN_ACK | TRACK_C_FIN |
			      TRACK_C_RST | TRACK_C_NEW_DATA | TRACK_C_PURE_ACK |
			      TRACK_C_FIRST_DATA | TRACK_C_RETRANSMISSION |
			      TRACK_C_FAST_RETRANSMISSION | TRACK_C_SPURIOUS_RETRANSMISSION;
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < TRACK_C__COUNT; i++) {
		uint32_t bit = 1u << i;
		int w;

		if (!(classes & bit) || (said & bit))
			continue;
		w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", track_class_name(bit));
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
}

static void arrival_notes(const struct evlog *log, const struct evlog_pkt *p,
			  struct evlog_notes *o)
{
	uint32_t fresh = p->egress_classes & ~p->classes;
	char list[EVLOG_NOTE_LEN];

	if (p->copies)
		note(o, "+%u cop%s", p->copies, p->copies == 1 ? "y" : "ies");
	class_list(fresh, list, sizeof(list) - 40);
	if (!list[0])
		return;
	if (p->egress_cause >= 0)
		note(o, "at receiver: %s (seg %u %s)", list, p->egress_caused_by,
		     fate(evlog_pkt(log, (size_t)p->egress_cause)));
	else
		note(o, "at receiver: %s", list);
}

/* A retransmission: what it resends, and what faultline did that caused it. */
static void retrans_notes(const struct evlog *log, const struct evlog_pkt *p,
			  struct evlog_notes *o)
{
	const char *kind = p->classes & TRACK_C_SPURIOUS_RETRANSMISSION ? "spurious retransmission" :
			   p->classes & TRACK_C_FAST_RETRANSMISSION ? "fast retransmission" :
								    "retransmission";
	const struct evlog_pkt *orig = p->orig >= 0 ? evlog_pkt(log, (size_t)p->orig) : NULL;

	/*
	 * caused_by names what faultline did, which is not always the
	 * segment being resent: a lost final ACK makes the peer resend
	 * its FIN.
	 */
	if (orig && p->orig == p->cause)
		note(o, "%s of seg %u (%s)", kind, orig->seg, fate(orig));
	else if (orig)
		note(o, "%s of seg %u", kind, orig->seg);
	else
		note(o, "%s", kind);
	if (p->cause >= 0 && p->orig != p->cause)
		note(o, "caused by seg %u (%s)", p->caused_by, fate(evlog_pkt(log, (size_t)p->cause)));
	else if (p->caused_by && p->cause < 0)
		note(o, "caused by seg %u", p->caused_by);
}

void evlog_pkt_notes(const struct evlog *log, const struct evlog_pkt *p, enum evlog_row_kind row,
		     struct evlog_notes *o)
{
	bool held = p->verdict == EVLOG_HOLD;
	char list[EVLOG_NOTE_LEN];
	const struct evlog_action *a;
	char rl[96];

	o->n = 0;
	if (row == EVLOG_ROW_RELEASE) {
		/* A delay counts from the packet's arrival, which can be before faultline read it. */
		double ms = (p->rel_t - (p->arrived ? p->arrived : p->t)) * 1e3;

		note(o, "%s %.1f ms%s", evlog_pkt_rule(p, RULE_ACT_DELAY) >= 0 ? "delayed" : "held",
		     ms, p->early ? " (released early)" : "");
		if (p->reorder || (p->recv_pos && p->recv_pos != p->ord))
			note(o, "sent #%llu, released #%u", (unsigned long long)p->ord, p->recv_pos);
		arrival_notes(log, p, o);
		return;
	}
	if (row != EVLOG_ROW_SEND)
		return;
	if (p->injected) {
		a = evlog_pkt_action(p, RULE_ACT_RESET);
		note(o, "made by faultline (%s)", a ? evlog_rule_label(a, rl, sizeof(rl)) : "reset");
		if (p->inj_error)
			note(o, "NOT SENT: %s", strerror(p->inj_error));
		return;
	}
	if (p->verdict == EVLOG_DROP) {
		if ((a = evlog_pkt_action(p, RULE_ACT_DROP)))
			note(o, "DROPPED by %s", evlog_rule_label(a, rl, sizeof(rl)));
		else if ((a = rate_full_rule(p)))
			note(o, "DROPPED by %s (rate queue full)", evlog_rule_label(a, rl, sizeof(rl)));
		else if ((a = evlog_pkt_action(p, -1)))
			note(o, "DROPPED by %s", evlog_rule_label(a, rl, sizeof(rl)));
		else
			note(o, "DROPPED");
	} else if (held) {
		if ((a = evlog_pkt_action(p, RULE_ACT_DELAY)))
			note(o, "held: delay %.1f ms (%s)", p->delay_us / 1e3,
			     evlog_rule_label(a, rl, sizeof(rl)));
		if ((a = evlog_pkt_action(p, RULE_ACT_REORDER)))
			note(o, "held for reorder (%s)", evlog_rule_label(a, rl, sizeof(rl)));
		else if (p->reorder)
			note(o, "held for reorder");
		if ((a = evlog_pkt_action(p, RULE_ACT_RATE)))
			note(o, "queued by rate limit (%s)", evlog_rule_label(a, rl, sizeof(rl)));
		if (!p->released)
			note(o, "never released");
	}
	if (p->corrupt) {
		a = evlog_pkt_action(p, RULE_ACT_CORRUPT);
		note(o, "corrupted (%s)", a ? evlog_rule_label(a, rl, sizeof(rl)) : "rule ?");
	}
	if (p->tcp && p->classes & (TRACK_C_RETRANSMISSION | TRACK_C_FAST_RETRANSMISSION |
				    TRACK_C_SPURIOUS_RETRANSMISSION))
		retrans_notes(log, p, o);
	class_list(p->classes, list, sizeof(list));
	if (list[0])
		note(o, "%s", list);
	if (!held)
		arrival_notes(log, p, o);
	if (p->gso)
		note(o, "GSO super-packet");
}
