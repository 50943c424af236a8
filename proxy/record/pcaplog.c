// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>

#include "pcaplog.h"
#include "tcpstate.h"
#include "track.h"

void pcaplog_init(struct pcaplog *l, pcaplog_write_cb write, void *sink, bool counts_own,
		  uint64_t epoch_ns, pcaplog_error_cb on_error, void *on_error_data)
{
	*l = (struct pcaplog){
		.write = write,
		.sink = sink,
		.counts_own = counts_own,
		.epoch_ns = epoch_ns,
		.on_error = on_error,
		.on_error_data = on_error_data,
	};
}

int pcaplog_write_file(void *sink, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *data,
		       uint32_t caplen, uint32_t len, const char *comment)
{
	return pcapout_write(sink, iface, ts_ns, data, caplen, len, comment);
}

/* The first failure goes to the owner once; the rest are counted. */
static void tell(struct pcaplog *l)
{
	if (!l->err || l->told)
		return;
	l->told = true;
	if (l->on_error)
		l->on_error(l->on_error_data, l->err);
}

void pcaplog_note_error(struct pcaplog *l, int err)
{
	if (!err)
		return;
	if (!l->err)
		l->err = err;
	tell(l);
}

void pcaplog_closed(struct pcaplog *l, int ret)
{
	if (!ret || l->err)
		return;
	l->err = ret;
	l->lost++;
	tell(l);
}

static void record(struct pcaplog *l, enum pcapout_iface iface, uint64_t now, const uint8_t *bytes,
		   uint32_t caplen, uint32_t len, const char *comment)
{
	int ret;

	if (l->counts_own) {
		/* The queue counts every record it does not write (pcap_dropped). */
		ret = l->write(l->sink, iface, l->epoch_ns + now, bytes, caplen, len, comment);
		pcaplog_note_error(l, ret);
		return;
	}
	/* Every packet has its bytes when a capture file is written; count one that had not. */
	ret = bytes ? l->write(l->sink, iface, l->epoch_ns + now, bytes, caplen, len, comment) : -ENOMEM;
	if (ret) {
		l->lost++;
		pcaplog_note_error(l, ret);
	}
}

/* The comment on a packet as captured: what was decided, and why. */
static void in_comment(char *b, size_t n, const struct pipeline_decided *p)
{
	const struct act_decision *d = p->d;
	const struct track_seg *seg = p->seg;
	size_t k = 0;

	k += (size_t)snprintf(b + k, n - k, "faultline pkt %llu: %s", (unsigned long long)p->pkt,
			      d->drop ? "dropped" : d->delay_ns || d->reorder ? "held" : "accepted");
	if (d->delay_ns && k < n)
		k += (size_t)snprintf(b + k, n - k, " %.3f ms", (double)d->delay_ns / 1e6);
	if (d->reorder && k < n)
		k += (size_t)snprintf(b + k, n - k, " for reorder");
	if (d->copies && k < n)
		k += (size_t)snprintf(b + k, n - k, ", %u cop%s", d->copies, d->copies == 1 ? "y" : "ies");
	if (d->corrupt && k < n)
		k += (size_t)snprintf(b + k, n - k, ", corrupted");
	if (d->cut && k < n)
		k += (size_t)snprintf(b + k, n - k, ", cut to %u payload bytes", d->cut);
	for (unsigned i = 0; i < d->n_fired && k < n; i++) {
		const struct rule *r = rule_set_get(p->rules, d->fired[i].rule);

		/* Numbered from 1 as users count rules, and named when the name says more. */
		k += (size_t)snprintf(b + k, n - k, "%s rule %u", i ? "," : ";", d->fired[i].rule + 1u);
		if (r && !rule_name_is_number(r->name, d->fired[i].rule + 1u) && k < n)
			k += (size_t)snprintf(b + k, n - k, " (%s)", r->name);
		if (k < n)
			k += (size_t)snprintf(b + k, n - k, " %s%s", act_event_name(d->fired[i].action),
					      d->fired[i].reason == ACT_REASON_QUEUE_FULL ? " (queue full)" : "");
	}
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

static void on_packet(void *data, const struct pipeline_decided *p)
{
	char c[512];

	in_comment(c, sizeof(c), p);
	record(data, PCAPOUT_IN, p->now_ns, p->in->data, p->in->len, p->in->orig_len, c);
}

static void on_left(void *data, const struct pipeline_left *l)
{
	char c[128];

	if (l->held)
		snprintf(c, sizeof(c), "faultline pkt %llu: released%s after %.3f ms",
			 (unsigned long long)l->pkt, l->early ? " early" : "",
			 (double)(l->now_ns - l->held_since_ns) / 1e6);
	else if (l->pieces)
		snprintf(c, sizeof(c), "faultline pkt %llu: released, segment, piece 1 of %u",
			 (unsigned long long)l->pkt, l->pieces);
	else if (l->cut)
		snprintf(c, sizeof(c), "faultline pkt %llu: released, cut to its first %u payload bytes",
			 (unsigned long long)l->pkt, l->cut);
	else
		snprintf(c, sizeof(c), "faultline pkt %llu: released%s", (unsigned long long)l->pkt,
			 l->corrupted ? " corrupted" : "");
	record(data, PCAPOUT_OUT, l->now_ns, l->bytes, l->len, l->wire_len, c);
	for (uint32_t i = 0; i < l->copies; i++) {
		snprintf(c, sizeof(c), "faultline pkt %llu: copy %u of %u", (unsigned long long)l->pkt,
			 i + 1, l->copies);
		record(data, PCAPOUT_OUT, l->now_ns, l->bytes, l->len, l->len, c);
	}
}

static void on_injected(void *data, const struct pipeline_injected *i)
{
	char c[128];

	if (i->kind == PIPELINE_INJ_PIECE)
		snprintf(c, sizeof(c), "faultline pkt %llu: segment, piece %u of %u%s",
			 (unsigned long long)i->pkt, i->index + 1, i->count,
			 i->err ? " (could not be sent)" : "");
	else
		snprintf(c, sizeof(c), "faultline pkt %llu: reset, RST made by faultline%s",
			 (unsigned long long)i->pkt, i->err ? " (could not be sent)" : "");
	record(data, PCAPOUT_OUT, i->now_ns, i->bytes, i->len, i->len, c);
}

static void on_malformed(void *data, uint64_t pkt, const struct pipeline_pkt *in, uint64_t now_ns)
{
	static const char c[] = "faultline: malformed, passed unchanged";

	record(data, PCAPOUT_IN, now_ns, in->data, in->len, in->orig_len, c);
	record(data, PCAPOUT_OUT, now_ns, in->data, in->len, in->orig_len, c);
}

const struct pipeline_observer_ops pcaplog_observer = {
	.packet = on_packet,
	.left = on_left,
	.malformed = on_malformed,
	.injected = on_injected,
	/* Held packets are written out when they leave: their bytes must be kept. */
	.keep_bytes = true,
};
