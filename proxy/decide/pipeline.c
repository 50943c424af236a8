// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "events.h"
#include "flow.h"
#include "hot.h"
#include "pcapout.h"
#include "pcapq.h"
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
	struct events ev;
	struct pipeline_totals tot;
	uint64_t releases;	/* release ordinal, for the event log */
	uint64_t now;		/* time of the call in progress, for tracker events */
	char *summaries;	/* JSON of connections that ended */
	size_t summaries_len, summaries_cap, n_summaries;
	uint64_t summaries_omitted;	/* ended connections past MAX_SUMMARIES or unprintable */
	/* The capture file's first error and the records it lost; ev has the log's. */
	int pcap_err;
	uint64_t pcap_lost;
	bool told[2];		/* ops.output_error called, per enum pipeline_output */
};

/* The first failure of an output goes to the owner once; the rest are counted. */
static void tell(struct pipeline *pl, enum pipeline_output out, int err)
{
	if (pl->told[out])
		return;
	pl->told[out] = true;
	if (pl->ops.output_error)
		pl->ops.output_error(pl->ops_data, out, err);
}

/* After an event line: a failure of the log is told once. */
static void ev_check(struct pipeline *pl)
{
	if (pl->ev.err)
		tell(pl, PIPELINE_OUT_EVENTS, pl->ev.err);
}

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
	char buf[TRACK_JSON_MAX];
	struct track_event e;
	int n;

	if (ev->type == TRACK_EV_CONN_END && ev->summary)
		add_summary(pl, ev->summary);
	if (!pl->ev.out)
		return;
	/* The tracker counts time from its first packet; the log from the start. */
	e = *ev;
	e.t_ns = pl->now > pl->ev.start_ns ? pl->now - pl->ev.start_ns : 0;
	n = track_event_json(&e, buf, sizeof(buf));
	if (n > 0 && (size_t)n < sizeof(buf)) {
		events_write_raw(&pl->ev, buf);
		ev_check(pl);
	}
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
}

struct pipeline *pipeline_new(const struct pipeline_config *cfg, const struct rule_set *rules,
			      const struct pipeline_ops *ops, void *ops_data)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	if (!pl) {
		pcapout_close(cfg->pcap);
		errno = ENOMEM;
		return NULL;
	}
	pl->cfg = *cfg;
	if (!pl->cfg.max_held)
		pl->cfg.max_held = PIPELINE_DEFAULT_MAX_HELD;
	if (!pl->cfg.max_flows)
		pl->cfg.max_flows = PIPELINE_DEFAULT_MAX_FLOWS;
	pl->ops = *ops;
	pl->ops_data = ops_data;
	pl->rules = rules;
	pl->ev.out = cfg->events;
	pl->ev.counts_own = cfg->events_count_own;
	pl->ev.start_ns = cfg->start_ns;
	pl->sched = sched_new(pl->cfg.max_held);
	pl->flows = flow_table_new(pl->cfg.max_flows);
	pl->act = act_ctx_new(rules, cfg->seed, cfg->start_ns);
	if (!pl->sched || !pl->flows || !pl->act)
		goto err;
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
		pl->track = track_new(&tc);
		if (!pl->track)
			goto err;
		track_set_event_cb(pl->track, on_track_event, pl);
	}
	return pl;
err:
	pipeline_free(pl);
	if (!errno)
		errno = ENOMEM;
	return NULL;
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
	pcapout_close(pl->cfg.pcap);
	act_ctx_free(pl->act);
	track_free(pl->track);
	flow_table_free(pl->flows);
	free(pl->summaries);
	free(pl);
}

static double rel_s(const struct pipeline *pl, uint64_t now)
{
	return now > pl->ev.start_ns ? (double)(now - pl->ev.start_ns) / 1e9 : 0.0;
}

/* As the flow string names it (pkt_format_flow), one word. */
static const char *proto_name(const struct pkt_view *v)
{
	const char *name = pkt_proto_name(v->l4proto);

	return name ? name : "other";
}

static void format_flags(uint8_t f, char *b)
{
	static const char names[] = "FSRPAUEC";
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			b[n++] = names[i];
	if (!n)
		b[n++] = '.';
	b[n] = 0;
}

/* The capture file's comment for a packet as captured: what was decided, and why. */
static void in_comment(char *b, size_t n, uint64_t pkt, const struct act_decision *d,
		       const struct track_seg *seg)
{
	size_t k = 0;

	k += (size_t)snprintf(b + k, n - k, "faultline pkt %llu: %s", (unsigned long long)pkt,
			      d->drop ? "dropped" : d->delay_ns || d->reorder ? "held" : "accepted");
	if (d->delay_ns && k < n)
		k += (size_t)snprintf(b + k, n - k, " %.3f ms", (double)d->delay_ns / 1e6);
	if (d->reorder && k < n)
		k += (size_t)snprintf(b + k, n - k, " for reorder");
	if (d->copies && k < n)
		k += (size_t)snprintf(b + k, n - k, ", %u cop%s", d->copies, d->copies == 1 ? "y" : "ies");
	if (d->corrupt && k < n)
		k += (size_t)snprintf(b + k, n - k, ", corrupted");
	for (unsigned i = 0; i < d->n_fired && k < n; i++)
		k += (size_t)snprintf(b + k, n - k, "%s rule %u %s%s", i ? "," : ";", d->fired[i].rule,
				      rule_action_name((enum rule_action_type)d->fired[i].action),
				      d->fired[i].reason == ACT_REASON_QUEUE_FULL ? " (queue full)" : "");
	if (seg && k < n) {
		k += (size_t)snprintf(b + k, n - k, "; tcp conn %llu seg %u %s->%s",
				      (unsigned long long)seg->conn, seg->segno,
				      tcpstate_name(seg->sender_state), tcpstate_name(seg->receiver_state));
		for (uint32_t bit = 0; bit < 32 && k < n; bit++)
			if (seg->classes & (1u << bit))
				k += (size_t)snprintf(b + k, n - k, " %s", track_class_name(1u << bit));
		if (seg->caused_by && k < n)
			snprintf(b + k, n - k, " (caused by faultline at seg %u)", seg->caused_by);
	}
}

/* A capture file is written, directly or through the live queue. */
static bool recording(const struct pipeline *pl)
{
	return pl->cfg.pcap || pl->cfg.pcapq;
}

static void record(struct pipeline *pl, enum pcapout_iface iface, uint64_t now, const uint8_t *bytes,
		   uint32_t caplen, uint32_t len, const char *comment)
{
	int ret;

	if (pl->cfg.pcapq) {
		/* The queue counts every record it does not write (pcap_dropped). */
		ret = pcapq_write(pl->cfg.pcapq, iface, pl->cfg.pcap_epoch_ns + now, bytes, caplen, len,
				  comment);
		if (ret && !pl->pcap_err)
			pl->pcap_err = ret;
		if (ret)
			tell(pl, PIPELINE_OUT_PCAP, ret);
		return;
	}
	if (!pl->cfg.pcap)
		return;
	/* Every packet has its bytes when a capture file is written; count one that had not. */
	ret = bytes ? pcapout_write(pl->cfg.pcap, iface, pl->cfg.pcap_epoch_ns + now, bytes, caplen,
				    len, comment) : -ENOMEM;
	if (ret) {
		pl->pcap_lost++;
		if (!pl->pcap_err)
			pl->pcap_err = ret;
		tell(pl, PIPELINE_OUT_PCAP, pl->pcap_err);
	}
}

static void record_copies(struct pipeline *pl, uint64_t pkt, uint64_t now, const uint8_t *bytes,
			  uint32_t len, uint32_t copies)
{
	char c[96];

	for (uint32_t i = 0; recording(pl) && i < copies; i++) {
		snprintf(c, sizeof(c), "faultline pkt %llu: copy %u of %u", (unsigned long long)pkt, i + 1,
			 copies);
		record(pl, PCAPOUT_OUT, now, bytes, len, len, c);
	}
}

/*
 * One "packet" line per packet: everything a ladder diagram needs, the
 * verdict included. Held packets get a "release" line when they leave.
 */
static void packet_event(struct pipeline *pl, uint64_t pkt, const struct pipeline_pkt *pk,
			 const struct pkt_view *v, const struct flow_id *id,
			 const struct track_seg *seg, const struct act_decision *d, uint64_t now)
{
	FILE *f = events_begin(&pl->ev);
	char flow[PKT_FLOW_STRLEN];

	if (!f)
		return;
	pkt_format_flow(v, flow, sizeof(flow));
	fprintf(f, "{\"t\":%.6f,\"ev\":\"packet\",\"pkt\":%llu,\"proto\":\"%s\",\"flow\":\"%s\","
		   "\"flow_hash\":\"%016llx\",\"way\":%u,\"ord\":%llu,\"dir\":\"%s\",\"len\":%u,\"plen\":%u",
		rel_s(pl, now), (unsigned long long)pkt, proto_name(v), flow,
		(unsigned long long)id->hash, id->way, (unsigned long long)id->ordinal,
		events_dir_name(pk->dir), pk->orig_len, v->payload_len);
	if (pk->gso)
		fprintf(f, ",\"gso\":true");
	/* The kernel's receive time, when it had one: the tracker's clock for this packet. */
	if (pk->seen_ns && pk->seen_ns < now)
		fprintf(f, ",\"arrived\":%.6f", rel_s(pl, pk->seen_ns));
	if (seg) {
		char fl[10];

		format_flags(v->tcp_flags, fl);
		fprintf(f, ",\"tcp_flow\":%llu,\"seg\":%u,\"endpoint\":%u,\"flags\":\"%s\",\"seq\":%u,"
			   "\"ack\":%u,\"sender_state\":\"%s\",\"receiver_state\":\"%s\",\"class\":[",
			(unsigned long long)seg->conn, seg->segno, seg->endpoint, fl, v->seq, v->ack,
			tcpstate_name(seg->sender_state), tcpstate_name(seg->receiver_state));
		for (uint32_t b = 0, n = 0; b < 32; b++)
			if (seg->classes & (1u << b))
				fprintf(f, "%s\"%s\"", n++ ? "," : "", track_class_name(1u << b));
		fprintf(f, "]");
		if (seg->caused_by)
			fprintf(f, ",\"caused_by\":%u", seg->caused_by);
	}
	fprintf(f, ",\"verdict\":\"%s\"", d->drop ? "drop" : d->delay_ns || d->reorder ? "hold" : "accept");
	if (d->delay_ns)
		fprintf(f, ",\"delay_us\":%.1f", (double)d->delay_ns / 1e3);
	if (d->reorder)
		fprintf(f, ",\"reorder\":true");
	if (d->copies)
		fprintf(f, ",\"copies\":%u", d->copies);
	if (d->corrupt)
		fprintf(f, ",\"corrupt\":true");
	events_actions(f, d);
	fprintf(f, "}\n");
	events_end(&pl->ev);
}

/*
 * Everything that records a decision: event lines and the capture file's
 * "in" side. Out of the packets' way: only with --events or --pcap.
 */
FL_COLD static void log_slow(struct pipeline *pl, uint64_t pkt, const struct pipeline_pkt *pk,
			     const struct pkt_view *v, const struct flow_id *id,
			     const struct track_seg *seg, const struct act_decision *d, uint64_t now)
{
	if (d->n_fired)
		events_verdict(&pl->ev, now, v, pk->dir, id, d);
	packet_event(pl, pkt, pk, v, id, seg, d, now);
	ev_check(pl);
	if (recording(pl)) {
		char c[512];

		in_comment(c, sizeof(c), pkt, d, seg);
		record(pl, PCAPOUT_IN, now, pk->data, pk->len, pk->orig_len, c);
	}
}

static inline void log_decision(struct pipeline *pl, uint64_t pkt, const struct pipeline_pkt *pk,
				const struct pkt_view *v, const struct flow_id *id,
				const struct track_seg *seg, const struct act_decision *d, uint64_t now)
{
	if (pl->ev.out || recording(pl))
		log_slow(pl, pkt, pk, v, id, seg, d, now);
}

static void release(struct pipeline *pl, struct held *h, bool early, uint64_t now)
{
	FILE *f;

	pl->now = now;
	pl->ops.verdict(pl->ops_data, h->id, true, true, h->mangled ? h->data : NULL, h->len,
			h->wire_len, h->data, now);
	pl->tot.released++;
	pl->releases++;
	if (recording(pl)) {
		char c[128];

		snprintf(c, sizeof(c), "faultline pkt %llu: released%s after %.3f ms", (unsigned long long)h->pkt,
			 early ? " early" : "", (double)(now - h->captured_ns) / 1e6);
		record(pl, PCAPOUT_OUT, now, h->data, h->len, h->wire_len, c);
		record_copies(pl, h->pkt, now, h->data, h->len, h->copies);
	}
	f = events_begin(&pl->ev);
	if (f) {
		fprintf(f, "{\"t\":%.6f,\"ev\":\"release\",\"pkt\":%llu,\"rel\":%llu%s}\n",
			rel_s(pl, now), (unsigned long long)h->pkt, (unsigned long long)pl->releases,
			early ? ",\"early\":true" : "");
		events_end(&pl->ev);
		ev_check(pl);
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
	}
	if (h->copies && h->data)
		pl->ops.duplicate(pl->ops_data, h->data, h->len, h->copies, now);
	held_free(h);
}

static void hold(struct pipeline *pl, const struct pipeline_pkt *pk, const struct pkt_view *v,
		 const struct act_decision *d, uint8_t *copy, bool mangled,
		 const struct track_seg *seg, uint64_t pkt, uint64_t now)
{
	struct held *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		/* Out of memory: never lose the packet, let it go undelayed. */
		pl->ops.verdict(pl->ops_data, pk->id, true, false, mangled ? copy : NULL, pk->len,
				pk->orig_len, copy ? copy : pk->data, now);
		free(copy);
		pl->tot.released_early++;
		if (seg)
			track_released(pl->track, seg, v, now);
		return;
	}
	h->pkt = pkt;
	h->captured_ns = now;
	h->id = pk->id;
	h->copies = d->copies;
	h->rule = d->hold_rule;
	h->data = copy;
	h->len = pk->len;
	h->wire_len = pk->orig_len;
	h->mangled = mangled;
	/* What the kernel keeps queued for it, whatever part of it we copied. */
	h->e.bytes = pk->orig_len > pk->len ? pk->orig_len : pk->len;
	if (seg) {
		h->tracked = true;
		h->seg = *seg;
		h->view = *v;
		h->view.data = NULL;
	}
	for (;;) {
		if (d->reorder) {
			h->e.after_group_ns = d->delay_ns;
			ret = sched_reorder_add(pl->sched, d->reorder_rule, d->reorder_n,
						d->reorder_timeout_ns, &h->e, now, act_ctx_rng(pl->act));
		} else {
			ret = sched_push(pl->sched, &h->e, now + d->delay_ns);
		}
		if (ret != -ENOSPC && ret != -ENOBUFS)
			break;
		/* At a bound the packet due soonest leaves early; none is lost. */
		if (ret == -ENOSPC)
			pl->tot.early_max_held++;
		else
			pl->tot.early_max_held_bytes++;
		release(pl, container_of(sched_pop(pl->sched), struct held, e), true, now);
	}
	if (ret) {
		release(pl, h, true, now);
		return;
	}
	pl->tot.held++;
}

/* Parse pk into v; 0 or the parser's error. */
FL_HOT static int parse(struct pkt_view *v, const struct pipeline_pkt *pk)
{
	return pkt_parse_cut(v, pk->data, pk->len, pk->orig_len > pk->len ? pk->orig_len : pk->len);
}

/* The decision for pk, parsed into v by parse(), which returned bad. */
FL_HOT static void decide(struct pipeline *pl, const struct pipeline_pkt *pk,
			  const struct pkt_view *v, int bad, uint64_t now)
{
	struct act_decision d;
	struct act_input in;
	struct track_seg seg, *segp = NULL;
	struct act_tcp_info ti;
	uint8_t *copy = NULL;
	bool mangled = false;
	uint64_t pkt = ++pl->tot.packets;

	pl->now = now;
	if (pk->gso)
		pl->tot.gso++;
	if (bad) {
		/* A bad packet is data: pass it unchanged and count it. */
		pl->tot.malformed++;
		pl->tot.accepted++;
		events_malformed(&pl->ev, now, pk->len);
		ev_check(pl);
		record(pl, PCAPOUT_IN, now, pk->data, pk->len, pk->orig_len,
		       "faultline: malformed, passed unchanged");
		record(pl, PCAPOUT_OUT, now, pk->data, pk->len, pk->orig_len,
		       "faultline: malformed, passed unchanged");
		pl->ops.verdict(pl->ops_data, pk->id, true, false, NULL, pk->len, pk->orig_len, pk->data,
				now);
		return;
	}
	in.v = v;
	in.dir = pk->dir;
	in.now_ns = now;
	in.tcp = NULL;
	/*
	 * The tracker tells a retransmission from an out-of-order segment by
	 * the time since the last ACK, as Wireshark does on its capture: give
	 * it the arrival time when the kernel recorded one, not the time the
	 * packet reached us through the queue.
	 */
	uint64_t seen = pk->seen_ns && pk->seen_ns <= now ? pk->seen_ns : now;

	if (pl->track && v->has_l4 && v->l4proto == 6 && track_ingress(pl->track, v, seen, &seg) == 0) {
		pipeline_tcp_input(&in, &ti, &seg);
		segp = &seg;
	} else {
		in.memo = flow_table_identify(pl->flows, v, now, &in.id);
	}
	act_decide(pl->act, &in, &d);

	if (d.drop) {
		log_decision(pl, pkt, pk, v, &in.id, segp, &d, now);
		pl->tot.dropped++;
		if (segp)
			track_dropped(pl->track, segp, v, now);
		pl->ops.verdict(pl->ops_data, pk->id, false, false, NULL, pk->len, pk->orig_len, pk->data,
				now);
		return;
	}
	/*
	 * A cut copy (copy range, BIG TCP, a capture's snapshot length) cannot
	 * be rewritten or re-sent whole. Held, it is still kept as it came,
	 * cut: replay and the capture file write it out when it leaves.
	 */
	bool whole = pk->len == pk->orig_len;
	bool held = d.delay_ns || d.reorder;
	bool keep = held && (pl->cfg.keep_bytes || recording(pl));

	if ((whole && (d.corrupt || d.copies)) || keep) {
		copy = malloc(pk->len ? pk->len : 1);
		if (copy)
			memcpy(copy, pk->data, pk->len);
	}
	if (d.corrupt && copy && whole) {
		/*
		 * A rewritten packet loses its offload state (the kernel marks it
		 * CHECKSUM_NONE), so act_corrupt writes a full checksum, also when
		 * the original's was left to offload. A GSO super-packet is still
		 * to be cut into segments, each needing its own checksum: skip it.
		 */
		if (!pk->gso && act_corrupt(pl->act, &in, copy, pk->len) == 0) {
			mangled = true;
			pl->tot.corrupted++;
			act_note_corrupted(pl->act, d.corrupt_rule);
		}
	}
	/* SYNs, bare ACKs, GSO and cut copies stay as they were: say so. */
	d.corrupt = mangled;
	if (!copy || !whole)
		d.copies = 0;
	if (d.copies)
		pl->tot.duplicated_packets++;
	log_decision(pl, pkt, pk, v, &in.id, segp, &d, now);
	if (!d.copies && !mangled && !keep) {
		free(copy);
		copy = NULL;
	}
	if (segp) {
		uint32_t alt = (d.delay_ns ? TRACK_ALT_DELAYED : 0) | (d.reorder ? TRACK_ALT_REORDERED : 0) |
			       (d.copies ? TRACK_ALT_DUPLICATED : 0) | (mangled ? TRACK_ALT_CORRUPTED : 0);

		if (alt)
			track_altered(pl->track, segp, alt);
	}
	if (held) {
		hold(pl, pk, v, &d, copy, mangled, segp, pkt, now);
		return;
	}
	if (segp) {
		track_released(pl->track, segp, v, now);
		for (uint32_t i = 0; i < d.copies; i++)
			track_released(pl->track, segp, v, now);
	}
	pl->tot.accepted++;
	pl->ops.verdict(pl->ops_data, pk->id, true, false, mangled ? copy : NULL, pk->len,
			pk->orig_len, copy ? copy : pk->data, now);
	if (recording(pl)) {
		char c[96];

		snprintf(c, sizeof(c), "faultline pkt %llu: released%s", (unsigned long long)pkt,
			 mangled ? " corrupted" : "");
		record(pl, PCAPOUT_OUT, now, copy ? copy : pk->data, pk->len, pk->orig_len, c);
		record_copies(pl, pkt, now, copy, pk->len, d.copies);
	}
	if (d.copies)
		pl->ops.duplicate(pl->ops_data, copy, pk->len, d.copies, now);
	free(copy);
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

int pipeline_close_outputs(struct pipeline *pl)
{
	int ret;

	if (events_flush(&pl->ev))
		ev_check(pl);
	if (pl->cfg.pcap) {
		/* The last blocks are still buffered: closing is a write too. */
		ret = pcapout_close(pl->cfg.pcap);
		pl->cfg.pcap = NULL;
		if (ret && !pl->pcap_err) {
			pl->pcap_err = ret;
			pl->pcap_lost++;
			tell(pl, PIPELINE_OUT_PCAP, ret);
		}
	}
	return pl->ev.err ? pl->ev.err : pl->pcap_err;
}

int pipeline_output_error(const struct pipeline *pl, enum pipeline_output out)
{
	return out == PIPELINE_OUT_EVENTS ? pl->ev.err : pl->pcap_err;
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

int pipeline_swap_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now)
{
	int ret = act_ctx_swap(pl->act, rules, now);

	if (!ret)
		pl->rules = rules;
	return ret;
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

char *pipeline_stats_json(const struct pipeline *pl)
{
	const struct pipeline_totals *t = &pl->tot;
	size_t n = rule_set_count(pl->rules);
	struct strbuf b = { 0 };

	strbuf_printf(&b, "\"packets\":%llu,\"accepted\":%llu,\"dropped\":%llu,\"held\":%llu,\"held_now\":%zu,"
		    "\"held_bytes_now\":%llu,\"released\":%llu,\"released_early\":%llu,"
		    "\"early_max_held\":%llu,\"early_max_held_bytes\":%llu,\"malformed\":%llu,\"gso\":%llu,"
		    "\"corrupted\":%llu,\"flows\":%u,\"flow_evictions\":%llu,\"write_errors\":%llu,\"rules\":[",
		(unsigned long long)t->packets, (unsigned long long)t->accepted,
		(unsigned long long)t->dropped, (unsigned long long)t->held, sched_count(pl->sched),
		(unsigned long long)sched_bytes(pl->sched),
		(unsigned long long)t->released, (unsigned long long)t->released_early,
		(unsigned long long)t->early_max_held, (unsigned long long)t->early_max_held_bytes,
		(unsigned long long)t->malformed, (unsigned long long)t->gso,
		(unsigned long long)t->corrupted, flow_table_count(pl->flows),
		(unsigned long long)flow_table_evictions(pl->flows),
		(unsigned long long)(pl->ev.lost + pl->pcap_lost));
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(pl->rules, i);
		const struct act_counters *c = act_ctx_counters(pl->act, (unsigned)i);
		/* Whole, however long the rule: a cut text would lose its actions. */
		char *text = rule_print_alloc(r), *esc = NULL;
		size_t len = text ? events_json_escape(NULL, 0, text) : 0;

		if (text)
			esc = malloc(len + 1);
		if (!esc) {
			free(text);
			b.oom = true;
			break;
		}
		events_json_escape(esc, len + 1, text);
		strbuf_printf(&b, "%s{\"index\":%zu,\"rule\":\"%s\",\"line\":%d,\"matched\":%llu,"
			    "\"dropped\":%llu,\"delayed\":%llu,\"reordered\":%llu,\"duplicated\":%llu,"
			    "\"corrupted\":%llu,\"rate_queued\":%llu,\"rate_dropped\":%llu,"
			    "\"released_early\":%llu}",
			i ? "," : "", i, esc, r->line, (unsigned long long)c->matched,
			(unsigned long long)c->dropped, (unsigned long long)c->delayed,
			(unsigned long long)c->reordered, (unsigned long long)c->duplicated,
			(unsigned long long)c->corrupted, (unsigned long long)c->rate_queued,
			(unsigned long long)c->rate_dropped, (unsigned long long)c->released_early);
		free(esc);
		free(text);
	}
	strbuf_printf(&b, "]");
	if (pl->track) {
		struct track_stats ts;
		struct conn_list cl = { .b = &b, .first = true };
		char tj[512];

		track_get_stats(pl->track, &ts);
		track_stats_json(&ts, tj, sizeof(tj));
		strbuf_printf(&b, ",\"tcp\":%s,\"connections_omitted\":%llu,\"connections\":[", tj,
			      (unsigned long long)pl->summaries_omitted);
		if (pl->summaries_len) {
			strbuf_printf(&b, "%s", pl->summaries);
			cl.first = false;
		}
		track_foreach(pl->track, list_conn, &cl);
		strbuf_printf(&b, "]");
	}
	return strbuf_take(&b);
}
