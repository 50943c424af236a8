// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "events.h"
#include "packet.h"
#include "pcaplog.h"
#include "pcapout.h"
#include "pipeline.h"
#include "replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/*
 * --out is written through a stdio buffer of our own, flushed by us before
 * it can fill: then stdio never writes on its own, each failure surfaces
 * at one of our flushes, and the packets since the last good one are
 * exactly those lost. The file is cut back to that flush, so it stays a
 * capture every reader opens, complete up to the failure.
 */
#define OUT_BUF (1u << 20)
/* Flush at this much; a record (at most the snapshot length + 16) still fits. */
#define OUT_FLUSH_AT (OUT_BUF / 2)

struct replay {
	const struct replay_config *cfg;
	pcap_t *in;
	int dlt;		/* the input's link type */
	uint64_t epoch_ns;	/* the input's first timestamp, for the annotated capture */
	struct pipeline *pl;
	struct events ev;	/* the event log's observer */
	struct pcapout *pcap;	/* the annotated capture, written by... */
	struct pcaplog pcaplog;	/* ...its observer */
	pcap_t *out_pcap;
	pcap_dumper_t *out;
	char *out_buf;
	size_t out_pending;	/* bytes written since the last flush */
	uint64_t out_pending_pkts;
	off_t out_good;		/* the file's length after the last good flush */
	struct replay_stats *st;
	uint64_t first_ns;	/* capture time of the first packet: virtual time 0 */
};

int replay_parse_local(const char *s, struct replay_local *l)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	long prefix = -1;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = 0;
		/* Digits only: strtol would read "/-5" as a prefix to ignore. */
		if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3)
			return -EINVAL;
		prefix = strtol(slash + 1, &end, 10);
		if (*end)
			return -EINVAL;
	}
	memset(l, 0, sizeof(*l));
	if (inet_pton(AF_INET, buf, l->addr) == 1) {
		l->family = 4;
		if (prefix < 0)
			prefix = 32;
		if (prefix > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, l->addr) == 1) {
		l->family = 6;
		if (prefix < 0)
			prefix = 128;
		if (prefix > 128)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	l->prefix = (uint8_t)prefix;
	return 0;
}

static bool in_block(const struct replay_local *l, uint8_t family, const uint8_t *a)
{
	unsigned full = l->prefix / 8, rest = l->prefix % 8;

	if (l->family != family)
		return false;
	if (memcmp(l->addr, a, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (l->addr[full] & mask) == (a[full] & mask);
	}
	return true;
}

static bool is_local(const struct replay_config *c, uint8_t family, const uint8_t *a)
{
	for (size_t i = 0; i < c->n_locals; i++)
		if (in_block(&c->locals[i], family, a))
			return true;
	return false;
}

/*
 * Where the IP packet starts in a frame of this link type, and which way
 * it went when the link header says so (Linux cooked captures do).
 * Returns the offset or -1 for a frame that carries no IP.
 */
static int ip_offset(int dlt, const uint8_t *f, uint32_t len, int *way)
{
	uint16_t type;
	int off;

	*way = -1;
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		return len >= 4 ? 4 : -1;
	case DLT_EN10MB:
		if (len < 14)
			return -1;
		type = (uint16_t)(f[12] << 8 | f[13]);
		off = 14;
		/* 802.1Q / QinQ tags. */
		while ((type == 0x8100 || type == 0x88a8) && len >= (uint32_t)off + 4) {
			type = (uint16_t)(f[off + 2] << 8 | f[off + 3]);
			off += 4;
		}
		return type == 0x0800 || type == 0x86dd ? off : -1;
	case DLT_LINUX_SLL:
		if (len < 16)
			return -1;
		type = (uint16_t)(f[14] << 8 | f[15]);
		/* Packet type 4 is PACKET_OUTGOING: sent by this host. */
		*way = f[1] == 4 ? 1 : 0;
		return type == 0x0800 || type == 0x86dd ? 16 : -1;
	case DLT_LINUX_SLL2:
		if (len < 20)
			return -1;
		type = (uint16_t)(f[0] << 8 | f[1]);
		*way = f[10] == 4 ? 1 : 0;
		return type == 0x0800 || type == 0x86dd ? 20 : -1;
	default:
		return -1;
	}
}

/*
 * Push --out to the file. On failure, keep the first error, count the
 * packets since the last good flush as not written, and cut the file back
 * to that flush (a device that cannot be truncated keeps what it got).
 * From then on --out gets nothing more.
 */
static int out_flush(struct replay *r)
{
	FILE *f = pcap_dump_file(r->out);

	if (r->st->out_err)
		return r->st->out_err;
	/* pcap_dump() returns nothing: a failed write shows only as the stream's error flag. */
	if (fflush(f) == 0 && !ferror(f)) {
		r->st->written += r->out_pending_pkts;
		r->out_good = ftello(f);
	} else {
		r->st->out_err = -(errno ? errno : EIO);
		r->st->unwritten += r->out_pending_pkts;
		/* Nothing left for the close to write after the cut. */
		__fpurge(f);
		if (ftruncate(fileno(f), r->out_good) == 0)
			clearerr(f);
	}
	r->out_pending = 0;
	r->out_pending_pkts = 0;
	return r->st->out_err;
}

static void write_pkt(struct replay *r, const uint8_t *bytes, uint32_t len, uint32_t wire_len,
		      uint64_t now)
{
	struct pcap_pkthdr h;
	/* Virtual nanoseconds back onto the capture's own clock. */
	uint64_t t = r->first_ns + now;

	if (!r->out)
		return;
	/* The pipeline keeps every held packet's bytes for replay: none is expected without. */
	if (!bytes || r->st->out_err) {
		r->st->unwritten++;
		return;
	}
	h.ts.tv_sec = (time_t)(t / 1000000000ull);
	/* A nanosecond dump file keeps nanoseconds in tv_usec. */
	h.ts.tv_usec = (suseconds_t)(t % 1000000000ull);
	/* As captured: a snapshot length cut the copy, not the packet. */
	h.caplen = len;
	h.len = wire_len > len ? wire_len : len;
	pcap_dump((u_char *)r->out, &h, bytes);
	r->out_pending += 16 + (size_t)len;
	r->out_pending_pkts++;
	if (r->out_pending >= OUT_FLUSH_AT)
		out_flush(r);
}

/* Open --out with our buffer (see OUT_BUF). 0 or -errno; libpcap's words in e->lib. */
static int out_open(struct replay *r, const char *path, struct replay_error *e)
{
	FILE *f;

	r->out_pcap = pcap_open_dead_with_tstamp_precision(DLT_RAW, 262144, PCAP_TSTAMP_PRECISION_NANO);
	r->out_buf = malloc(OUT_BUF);
	if (!r->out_pcap || !r->out_buf)
		return -ENOMEM;
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	setvbuf(f, r->out_buf, _IOFBF, OUT_BUF);
	/* The file header waits in the buffer like a packet: the first flush writes it. */
	r->out = pcap_dump_fopen(r->out_pcap, f);
	if (!r->out) {
		snprintf(e->lib, sizeof(e->lib), "%s", pcap_geterr(r->out_pcap));
		fclose(f);
		return -EIO;
	}
	/* The header goes now: a file that fails later is cut back to a capture, never to nothing. */
	r->out_pending = 24;
	out_flush(r);
	return 0;
}

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	struct replay *r = data;

	if (accept)
		write_pkt(r, payload ? payload : bytes, len, wire_len, now);
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
	struct replay *r = data;

	/* Only whole packets are copied. */
	for (uint32_t i = 0; i < copies; i++)
		write_pkt(r, bytes, len, len, now);
}

/* A packet faultline made (a RST) goes into --out where it was sent. */
static int on_inject(void *data, const uint8_t *bytes, uint32_t len, uint64_t now)
{
	write_pkt(data, bytes, len, len, now);
	return 0;
}

/* End of run: the last buffered packets go out, or are counted. */
static void out_finish(struct replay *r)
{
	if (r->out)
		out_flush(r);
}

/* Where the next record starts in the input, for a message about a cut; -1 if unknown. */
static int64_t in_offset(pcap_t *in)
{
	FILE *f = pcap_file(in);

	return f ? (int64_t)ftello(f) : -1;
}

/* Tell the caller's progress callback, if any, where the input is. */
static void progress(struct replay *r, uint64_t read, bool done)
{
	struct replay_progress p = { .read = read, .offset = in_offset(r->in), .size = -1, .done = done };
	FILE *f = pcap_file(r->in);
	struct stat sb;

	if (!r->cfg->progress)
		return;
	/* Asked each time: cheap next to a thousand packets, and no state to keep. */
	if (f && !fstat(fileno(f), &sb) && S_ISREG(sb.st_mode))
		p.size = sb.st_size;
	r->cfg->progress(&p, r->cfg->progress_data);
}

/* Record which step failed and how. Returns err. */
static int fail(struct replay_error *e, enum replay_step step, int err)
{
	e->step = step;
	e->err = err;
	return err;
}

/* Open the input; virtual time 0 is its first packet's timestamp. 0 or -errno. */
static int in_open(struct replay *r, struct replay_error *e)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *frame;
	pcap_t *peek;

	r->in = pcap_open_offline_with_tstamp_precision(r->cfg->in_path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!r->in) {
		snprintf(e->lib, sizeof(e->lib), "%s", perr);
		return fail(e, REPLAY_STEP_IN_OPEN, -ENOENT);
	}
	r->dlt = pcap_datalink(r->in);
	/* Peek at the first timestamp so the annotated capture carries the original clock. */
	peek = pcap_open_offline_with_tstamp_precision(r->cfg->in_path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (peek) {
		if (pcap_next_ex(peek, &h, &frame) == 1)
			r->epoch_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
		pcap_close(peek);
	}
	return 0;
}

/* --out, then --pcap and the event log as observers of the pipeline. 0 or -errno. */
static int outputs_open(struct replay *r, struct replay_error *e)
{
	const struct replay_config *cfg = r->cfg;
	int ret;

	if (cfg->out_path) {
		ret = out_open(r, cfg->out_path, e);
		if (ret)
			return fail(e, REPLAY_STEP_OUT_OPEN, ret);
	}
	if (cfg->pcap_path) {
		r->pcap = pcapout_open(cfg->pcap_path, &e->pcap);
		if (!r->pcap) {
			fail(e, REPLAY_STEP_PCAP_OPEN, -errno);
			return -EIO;
		}
		pcaplog_init(&r->pcaplog, pcaplog_write_file, r->pcap, false, r->epoch_ns, NULL, NULL);
		pipeline_add_observer(r->pl, &pcaplog_observer, &r->pcaplog);
	}
	if (cfg->events) {
		events_init(&r->ev, cfg->events, 0, false, NULL, NULL);
		pipeline_add_observer(r->pl, &events_observer, &r->ev);
	}
	return 0;
}

/* Which way pk went: from the link header (way >= 0), or from --local. */
static enum pkt_dir direction(const struct replay_config *cfg, const struct pipeline_pkt *pk, int way)
{
	struct pkt_view v;

	if (way >= 0)
		return way ? PKT_DIR_OUT : PKT_DIR_IN;
	if (cfg->n_locals && pkt_parse(&v, pk->data, pk->len) == 0) {
		if (is_local(cfg, v.family, v.saddr))
			return PKT_DIR_OUT;
		if (!is_local(cfg, v.family, v.daddr))
			return PKT_DIR_FWD;
	}
	return PKT_DIR_IN;
}

/*
 * Where the capture was taken, for the tracker's far end: on a --local
 * host that sent or received pk. Not from the link header: on a router,
 * "outgoing" means leaving the interface, not sent by the host.
 */
static enum pipeline_capture_at capture_at(const struct replay_config *cfg,
					   const struct pipeline_pkt *pk)
{
	struct pkt_view v;

	if (!cfg->n_locals || pkt_parse(&v, pk->data, pk->len) != 0)
		return PIPELINE_AT_UNKNOWN;
	if (is_local(cfg, v.family, v.saddr))
		return PIPELINE_AT_SENDER;
	if (is_local(cfg, v.family, v.daddr))
		return PIPELINE_AT_RECEIVER;
	return PIPELINE_AT_UNKNOWN;
}

/*
 * Every record of the input through the pipeline, in virtual time. Returns
 * pcap_next_ex()'s last result; *at is where the last record started.
 */
static int feed(struct replay *r, struct replay_stats *st, uint64_t *now, int64_t *at)
{
	struct pcap_pkthdr *h;
	const u_char *frame;
	uint32_t id = 0;
	int rc;

	for (;;) {
		struct pipeline_pkt pk = { 0 };
		uint64_t ts;
		int way, off;

		*at = in_offset(r->in);
		rc = pcap_next_ex(r->in, &h, &frame);
		if (rc != 1)
			return rc;
		ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
		off = ip_offset(r->dlt, frame, h->caplen, &way);
		st->read++;
		if (r->cfg->progress_every && !(st->read % r->cfg->progress_every))
			progress(r, st->read, false);
		if (off < 0) {
			st->skipped++;
			continue;
		}
		if (st->read == 1 || !r->first_ns)
			r->first_ns = ts;
		/* Capture clocks can step back a little; virtual time never does. */
		if (ts >= r->first_ns && ts - r->first_ns > *now)
			*now = ts - r->first_ns;
		pk.id = ++id;
		pk.data = frame + off;
		pk.len = h->caplen - (uint32_t)off;
		/* A record claiming fewer bytes on the wire than it holds has them all. */
		pk.orig_len = (h->len > h->caplen ? h->len : h->caplen) - (uint32_t)off;
		pk.dir = direction(r->cfg, &pk, way);
		pk.capture_at = capture_at(r->cfg, &pk);
		/* What was due before this packet leaves first. */
		pipeline_release_due(r->pl, *now);
		pipeline_expire(r->pl, *now);
		pipeline_packet(r->pl, &pk, *now);
	}
}

/* End of run: every output flushed and closed, its first error in st. */
static void outputs_close(struct replay *r, struct replay_stats *st)
{
	if (r->cfg->events)
		events_flush(&r->ev);
	if (r->pcap) {
		/* The last blocks are still buffered: closing is a write too. */
		pcaplog_closed(&r->pcaplog, pcapout_close(r->pcap));
		r->pcap = NULL;
	}
	out_finish(r);
	st->pcap_err = r->pcaplog.err;
	st->events_err = r->ev.err;
}

/* The counters JSON, as the live run prints it, with replay's own in front. */
static char *stats_json(const struct replay *r, const struct replay_stats *st)
{
	char *inner = pipeline_stats_json(r->pl), *json = NULL;

	if (inner && asprintf(&json, "{\"seed\":%llu,\"read\":%llu,\"written\":%llu,\"unwritten\":%llu,"
			      "\"skipped\":%llu,\"write_errors\":%llu,%s}",
			      (unsigned long long)r->cfg->seed, (unsigned long long)st->read,
			      (unsigned long long)st->written, (unsigned long long)st->unwritten,
			      (unsigned long long)st->skipped,
			      (unsigned long long)(r->ev.lost + r->pcaplog.lost), inner) < 0)
		json = NULL;
	free(inner);
	return json;
}

static void replay_close(struct replay *r)
{
	pipeline_free(r->pl);
	pcapout_close(r->pcap);
	/* Everything was flushed, or failed and was counted: closing writes nothing. */
	if (r->out)
		pcap_dump_close(r->out);
	free(r->out_buf);
	if (r->out_pcap)
		pcap_close(r->out_pcap);
	if (r->in)
		pcap_close(r->in);
}

int replay_run(const struct replay_config *cfg, const struct rule_set *rules,
	       struct replay_stats *st, char **json, struct replay_error *e)
{
	static const struct pipeline_ops ops = {
		.verdict = on_verdict,
		.duplicate = on_duplicate,
		.inject = on_inject,
	};
	struct pipeline_config pc = {
		.seed = cfg->seed,
		.max_held = cfg->max_held ? cfg->max_held : REPLAY_DEFAULT_MAX_HELD,
		.no_track = cfg->no_track,
		.rule_scan_all = cfg->rule_scan_all,
		.time_wait_ns = cfg->time_wait_ns,
		.keep_bytes = true,
		.far_end = true,
	};
	struct replay r = { .cfg = cfg, .st = st };
	uint64_t now = 0;
	int64_t at = -1;
	int ret, rc;

	memset(st, 0, sizeof(*st));
	memset(e, 0, sizeof(*e));
	st->cut_at = -1;
	if (json)
		*json = NULL;
	ret = in_open(&r, e);
	if (ret)
		return ret;
	r.pl = pipeline_new(&pc, rules, &ops, &r);
	if (!r.pl) {
		ret = fail(e, REPLAY_STEP_MEMORY, -ENOMEM);
		goto out;
	}
	ret = outputs_open(&r, e);
	if (ret)
		goto out;
	rc = feed(&r, st, &now, &at);
	progress(&r, st->read, true);
	if (rc == PCAP_ERROR) {
		/*
		 * A capture cut short (a full disk, a killed tcpdump, a copy in
		 * progress) breaks off in its last record. What came before is
		 * replayed to the end all the same: the packets still held leave
		 * and are written, and then the break is reported.
		 */
		st->in_err = -EIO;
		st->cut_at = at;
		snprintf(e->lib, sizeof(e->lib), "%s", pcap_geterr(r.in));
		ret = fail(e, REPLAY_STEP_RAN, st->in_err);
	}
	/* End of input: virtual time runs on until every held packet has left. */
	pipeline_release_all(r.pl, now, true);
	outputs_close(&r, st);
	if (!ret && (st->out_err || st->pcap_err || st->events_err))
		ret = fail(e, REPLAY_STEP_RAN, st->out_err ? st->out_err : st->pcap_err ? st->pcap_err :
						st->events_err);
	if (json)
		*json = stats_json(&r, st);
out:
	replay_close(&r);
	return ret;
}
