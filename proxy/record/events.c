// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "strbuf.h"
#include "tcpstate.h"
#include "track.h"

void events_init(struct events *e, FILE *out, uint64_t start_ns, bool counts_own,
		 events_error_cb on_error, void *on_error_data)
{
	*e = (struct events){
		.out = out,
		.start_ns = start_ns,
		.counts_own = counts_own,
		.on_error = on_error,
		.on_error_data = on_error_data,
	};
}

/* A failure of the log goes to the owner once; the rest are counted. */
static void tell(struct events *e)
{
	if (!e->err || e->told)
		return;
	e->told = true;
	if (e->on_error)
		e->on_error(e->on_error_data, e->err);
}

void events_set_gate(struct events *e, const atomic_bool *gate)
{
	e->gate = gate;
}

/* Nobody listens: format nothing (the control API's stream, see evfan.h). */
static bool shut(const struct events *e)
{
	return e->gate && !atomic_load_explicit(e->gate, memory_order_relaxed);
}

void events_note_error(struct events *e, int err)
{
	if (!e->err)
		e->err = err;
	tell(e);
}

/*
 * The stream to write the next line to, or NULL: events off, or failed
 * (then the line is counted as lost). Finish the line with end().
 */
static FILE *begin(struct events *e)
{
	if (!e->out)
		return NULL;
	if (e->err && !e->counts_own) {
		e->lost++;
		return NULL;
	}
	/*
	 * A line is several writes, and the pipelines of several queues
	 * write to one stream: the stream's own lock keeps each line whole
	 * (stdio takes it per call anyway, so alone it costs nothing more).
	 */
	flockfile(e->out);
	return e->out;
}

/*
 * A regular file that filled up ends in part of a line: cut it back to its
 * last whole line, so that every reader (show, report, jq) takes all of it.
 * The stream is write-only: read through a descriptor of our own.
 */
void events_cut_fd(int wfd)
{
	char path[64], buf[4096];
	struct stat st;
	int rfd;
	off_t end;

	if (wfd < 0 || fstat(wfd, &st) || !S_ISREG(st.st_mode))
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", wfd);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return;
	/* Backwards a block at a time to the last newline; none at all: nothing whole. */
	for (end = st.st_size; end > 0;) {
		size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;

		if (pread(rfd, buf, n, end - (off_t)n) != (ssize_t)n) {
			end = st.st_size;
			break;
		}
		while (n && buf[n - 1] != '\n')
			n--, end--;
		if (n)
			break;
	}
	close(rfd);
	/* Best effort: the failure is reported whether or not the cut works. */
	if (end < st.st_size && ftruncate(wfd, end) == 0)
		return;
}

static int fail(struct events *e, int err)
{
	e->err = -(err ? err : EIO);
	/* It drops what it cannot write, whole lines, and counts them: go on writing. */
	if (e->counts_own) {
		clearerr(e->out);
		return e->err;
	}
	/*
	 * The rest of the line may wait in the buffer: dropped, or closing
	 * the stream would write it after the cut below.
	 */
	__fpurge(e->out);
	events_cut_fd(fileno(e->out));
	/* The line that failed, or the buffered lines it flushed, did not all get out. */
	e->lost++;
	return e->err;
}

/* After a line: a stream in error fails the log, which is told once. */
static void end(struct events *e)
{
	/*
	 * Checked after every line, right after the write that failed:
	 * errno is still the one write(2) left (stdio keeps only a flag).
	 */
	if (e->out && ferror(e->out) && (!e->err || e->counts_own))
		fail(e, e->err ? -e->err : errno);
	if (e->out)
		funlockfile(e->out);
	tell(e);
}

int events_flush(struct events *e)
{
	if (e->out && (!e->err || e->counts_own) && (fflush(e->out) || ferror(e->out))) {
		fail(e, e->err ? -e->err : errno);
		tell(e);
	}
	return e->err;
}

static const char *dir_name(enum pkt_dir d)
{
	switch (d) {
	case PKT_DIR_IN:
		return "in";
	case PKT_DIR_OUT:
		return "out";
	default:
		return "fwd";
	}
}

static double rel(const struct events *e, uint64_t now_ns)
{
	return now_ns > e->start_ns ? (double)(now_ns - e->start_ns) / 1e9 : 0.0;
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

static const char *verdict_name(const struct act_decision *d)
{
	return d->drop ? "drop" : d->reorder || d->delay_ns ? "hold" : "accept";
}

/*
 * The member ,"actions":[{"rule":R,"name":"N","action":"A"[,"reason":"W"]},...]
 * and the line's end. R counts from 1, as users number rules; a name is
 * letters, digits and "_.-", nothing to escape.
 */
static void put_actions(FILE *f, const struct act_decision *d, const struct rule_set *rules)
{
	fprintf(f, ",\"actions\":[");
	for (unsigned i = 0; i < d->n_fired; i++) {
		const char *why = act_reason_name((enum act_reason)d->fired[i].reason);
		const struct rule *r = rule_set_get(rules, d->fired[i].rule);

		fprintf(f, "%s{\"rule\":%u", i ? "," : "", d->fired[i].rule + 1u);
		if (r)
			fprintf(f, ",\"name\":\"%s\"", r->name);
		fprintf(f, ",\"action\":\"%s\"", act_event_name(d->fired[i].action));
		if (why)
			fprintf(f, ",\"reason\":\"%s\"", why);
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
}

/* A verdict line: {"t":..,"ev":"verdict","flow":"..","dir":"in","ord":N,...}. */
static void put_verdict(struct events *e, const struct pipeline_decided *p)
{
	const struct act_decision *d = p->d;
	char flow[PKT_FLOW_STRLEN];
	FILE *f = begin(e);

	if (!f)
		return;
	pkt_format_flow(p->v, flow, sizeof(flow));
	fprintf(f, "{\"t\":%.6f,\"ev\":\"verdict\",\"flow\":\"%s\",\"flow_hash\":\"%016llx\","
			"\"way\":%u,\"dir\":\"%s\",\"ord\":%llu,\"len\":%u,\"verdict\":\"%s\"",
		rel(e, p->now_ns), flow, (unsigned long long)p->id->hash, p->id->way,
		dir_name(p->in->dir), (unsigned long long)p->id->ordinal, pkt_wire_len(p->v),
		verdict_name(d));
	if (d->delay_ns)
		fprintf(f, ",\"delay_us\":%.1f", (double)d->delay_ns / 1e3);
	if (d->copies)
		fprintf(f, ",\"copies\":%u", d->copies);
	if (d->corrupt)
		fprintf(f, ",\"corrupt\":true");
	if (d->cut)
		fprintf(f, ",\"cut\":%u", d->cut);
	if (d->segment)
		fprintf(f, ",\"pieces\":%u",
			act_piece_count(p->v->payload_len, d->segment, d->segment_vary, d->segment_key));
	if (d->reorder)
		fprintf(f, ",\"reorder_rule\":%u", d->reorder_rule + 1);
	put_actions(f, d, p->rules);
	end(e);
}

/* What the tracker made of a segment, inside a packet line. */
static void put_segment(FILE *f, const struct pkt_view *v, const struct track_seg *seg)
{
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

/*
 * One "packet" line per packet: everything a ladder diagram needs, the
 * verdict included. Held packets get a "release" line when they leave.
 */
static void put_packet(struct events *e, const struct pipeline_decided *p)
{
	const struct pipeline_pkt *pk = p->in;
	const struct act_decision *d = p->d;
	char flow[PKT_FLOW_STRLEN];
	FILE *f = begin(e);

	if (!f)
		return;
	pkt_format_flow(p->v, flow, sizeof(flow));
	fprintf(f, "{\"t\":%.6f,\"ev\":\"packet\",\"pkt\":%llu,\"proto\":\"%s\",\"flow\":\"%s\","
		   "\"flow_hash\":\"%016llx\",\"way\":%u,\"ord\":%llu,\"dir\":\"%s\",\"len\":%u,\"plen\":%u",
		rel(e, p->now_ns), (unsigned long long)p->pkt, proto_name(p->v), flow,
		(unsigned long long)p->id->hash, p->id->way, (unsigned long long)p->id->ordinal,
		dir_name(pk->dir), pk->orig_len, p->v->payload_len);
	if (pk->gso)
		fprintf(f, ",\"gso\":true");
	/* The kernel's receive time, when it had one: the tracker's clock for this packet. */
	if (pk->seen_ns && pk->seen_ns < p->now_ns)
		fprintf(f, ",\"arrived\":%.6f", rel(e, pk->seen_ns));
	if (p->seg)
		put_segment(f, p->v, p->seg);
	fprintf(f, ",\"verdict\":\"%s\"", verdict_name(d));
	if (d->delay_ns)
		fprintf(f, ",\"delay_us\":%.1f", (double)d->delay_ns / 1e3);
	if (d->reorder)
		fprintf(f, ",\"reorder\":true");
	if (d->copies)
		fprintf(f, ",\"copies\":%u", d->copies);
	if (d->corrupt)
		fprintf(f, ",\"corrupt\":true");
	if (d->cut)
		fprintf(f, ",\"cut\":%u", d->cut);
	if (d->segment)
		fprintf(f, ",\"pieces\":%u",
			act_piece_count(p->v->payload_len, d->segment, d->segment_vary, d->segment_key));
	put_actions(f, d, p->rules);
	end(e);
}

static void on_packet(void *data, const struct pipeline_decided *p)
{
	struct events *e = data;

	if (shut(e))
		return;
	if (p->d->n_fired)
		put_verdict(e, p);
	put_packet(e, p);
}

static void on_left(void *data, const struct pipeline_left *l)
{
	struct events *e = data;
	FILE *f;

	/* A packet that was not held leaves with its decision: its packet line says so. */
	if (!l->held || shut(e))
		return;
	f = begin(e);
	if (!f)
		return;
	fprintf(f, "{\"t\":%.6f,\"ev\":\"release\",\"pkt\":%llu,\"rel\":%llu,\"due\":%.6f%s}\n",
		rel(e, l->now_ns), (unsigned long long)l->pkt, (unsigned long long)l->release, rel(e, l->due_ns),
		l->early ? ",\"early\":true" : "");
	end(e);
}

/*
 * A packet faultline made: {"t":..,"ev":"inject","pkt":N,"kind":"rst","flow":..,
 * "flags":..,"seq":..,"ack":..,"len":..}, with "error" when it could not be sent.
 */
static void on_injected(void *data, const struct pipeline_injected *i)
{
	struct events *e = data;
	char flow[PKT_FLOW_STRLEN], fl[10];
	FILE *f;

	/* Pieces are counted in their packet's line ("pieces"): only RSTs get lines. */
	if (i->kind != PIPELINE_INJ_RST)
		return;
	f = begin(e);
	if (!f)
		return;
	pkt_format_flow(i->v, flow, sizeof(flow));
	format_flags(i->v->tcp_flags, fl);
	fprintf(f, "{\"t\":%.6f,\"ev\":\"inject\",\"pkt\":%llu,\"kind\":\"rst\",\"flow\":\"%s\","
		   "\"flags\":\"%s\",\"seq\":%u,\"ack\":%u,\"len\":%u",
		rel(e, i->now_ns), (unsigned long long)i->pkt, flow, fl, i->v->seq, i->v->ack, i->len);
	if (i->err)
		fprintf(f, ",\"error\":%d", -i->err);
	fprintf(f, "}\n");
	end(e);
}

static void on_malformed(void *data, uint64_t pkt, const struct pipeline_pkt *in, uint64_t now_ns)
{
	struct events *e = data;
	FILE *f = shut(e) ? NULL : begin(e);

	if (!f)
		return;
	fprintf(f, "{\"t\":%.6f,\"ev\":\"malformed\",\"len\":%u,\"verdict\":\"accept\"}\n",
		rel(e, now_ns), in->len);
	end(e);
}

static void on_track_event(void *data, const struct track_event *ev, uint64_t now_ns)
{
	struct events *e = data;
	char buf[TRACK_JSON_MAX];
	struct track_event te = *ev;
	FILE *f;
	int n;

	if (shut(e))
		return;
	/* The tracker counts time from its first packet; the log from the start. */
	te.t_ns = now_ns > e->start_ns ? now_ns - e->start_ns : 0;
	n = track_event_json(&te, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	f = begin(e);
	if (!f)
		return;
	fputs(buf, f);
	fputc('\n', f);
	end(e);
}

void events_put(struct events *e, uint64_t now_ns, const char *ev, const char *members)
{
	FILE *f = shut(e) ? NULL : begin(e);

	if (!f)
		return;
	fprintf(f, "{\"t\":%.6f,\"ev\":\"%s\"%s%s}\n", rel(e, now_ns), ev, *members ? "," : "",
		members);
	end(e);
}

const struct pipeline_observer_ops events_observer = {
	.packet = on_packet,
	.left = on_left,
	.malformed = on_malformed,
	.injected = on_injected,
	.track_event = on_track_event,
};

char *events_netns_members(const struct events_netns *n)
{
	struct strbuf b = { 0 };

	strbuf_printf(&b, "\"change\":\"%s\"", n->change);
	if (n->container) {
		strbuf_printf(&b, ",\"container\":\"");
		strbuf_add_json(&b, n->container);
		strbuf_printf(&b, "\"");
	}
	if (n->from)
		strbuf_printf(&b, ",\"from\":%llu", n->from);
	if (n->to)
		strbuf_printf(&b, ",\"to\":%llu", n->to);
	if (n->pid > 0)
		strbuf_printf(&b, ",\"pid\":%ld", n->pid);
	strbuf_printf(&b, ",\"netns_follows\":%llu", (unsigned long long)n->follows);
	return strbuf_take(&b);
}
