// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "packet.h"
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

/* Record which step failed and how. Returns err. */
static int fail(struct replay_error *e, enum replay_step step, int err)
{
	e->step = step;
	e->err = err;
	return err;
}

int replay_run(const struct replay_config *cfg, const struct rule_set *rules,
	       struct replay_stats *st, char **json, struct replay_error *e)
{
	static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };
	char perr[PCAP_ERRBUF_SIZE];
	struct pipeline_config pc = { 0 };
	struct replay r = { .cfg = cfg, .st = st };
	struct pipeline *pl = NULL;
	struct pcap_pkthdr *h;
	const u_char *frame;
	uint64_t now = 0;
	int64_t at = -1;
	pcap_t *in;
	int dlt, ret = 0, rc;
	uint32_t id = 0;

	memset(st, 0, sizeof(*st));
	memset(e, 0, sizeof(*e));
	st->cut_at = -1;
	if (json)
		*json = NULL;
	in = pcap_open_offline_with_tstamp_precision(cfg->in_path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!in) {
		snprintf(e->lib, sizeof(e->lib), "%s", perr);
		return fail(e, REPLAY_STEP_IN_OPEN, -ENOENT);
	}
	dlt = pcap_datalink(in);
	/*
	 * Virtual time 0 is the first packet's timestamp; peek at it so the
	 * annotated capture carries the original clock.
	 */
	{
		char perr2[PCAP_ERRBUF_SIZE];
		pcap_t *peek = pcap_open_offline_with_tstamp_precision(cfg->in_path,
								       PCAP_TSTAMP_PRECISION_NANO, perr2);

		if (peek) {
			if (pcap_next_ex(peek, &h, &frame) == 1)
				pc.pcap_epoch_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
			pcap_close(peek);
		}
	}
	if (cfg->out_path) {
		ret = out_open(&r, cfg->out_path, e);
		if (ret) {
			fail(e, REPLAY_STEP_OUT_OPEN, ret);
			goto out;
		}
	}
	pc.seed = cfg->seed;
	pc.max_held = cfg->max_held ? cfg->max_held : REPLAY_DEFAULT_MAX_HELD;
	pc.no_track = cfg->no_track;
	pc.time_wait_ns = cfg->time_wait_ns;
	pc.keep_bytes = true;
	pc.events = cfg->events;
	pc.start_ns = 0;
	if (cfg->pcap_path) {
		pc.pcap = pcapout_open(cfg->pcap_path, &e->pcap);
		if (!pc.pcap) {
			fail(e, REPLAY_STEP_PCAP_OPEN, -errno);
			ret = -EIO;
			goto out;
		}
	}
	/* The pipeline takes the capture file, also when it fails. */
	pl = pipeline_new(&pc, rules, &ops, &r);
	pc.pcap = NULL;
	if (!pl) {
		ret = fail(e, REPLAY_STEP_MEMORY, -ENOMEM);
		goto out;
	}
	for (;;) {
		uint64_t ts;
		struct pipeline_pkt pk = { 0 };
		struct pkt_view v;
		int way, off;

		at = in_offset(in);
		rc = pcap_next_ex(in, &h, &frame);
		if (rc != 1)
			break;
		ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
		off = ip_offset(dlt, frame, h->caplen, &way);
		st->read++;
		if (off < 0) {
			st->skipped++;
			continue;
		}
		if (st->read == 1 || !r.first_ns)
			r.first_ns = ts;
		/* Capture clocks can step back a little; virtual time never does. */
		if (ts >= r.first_ns && ts - r.first_ns > now)
			now = ts - r.first_ns;
		pk.id = ++id;
		pk.data = frame + off;
		pk.len = h->caplen - (uint32_t)off;
		/* A record claiming fewer bytes on the wire than it holds has them all. */
		pk.orig_len = (h->len > h->caplen ? h->len : h->caplen) - (uint32_t)off;
		if (way >= 0) {
			pk.dir = way ? PKT_DIR_OUT : PKT_DIR_IN;
		} else {
			pk.dir = PKT_DIR_IN;
			if (cfg->n_locals && pkt_parse(&v, pk.data, pk.len) == 0) {
				if (is_local(cfg, v.family, v.saddr))
					pk.dir = PKT_DIR_OUT;
				else if (!is_local(cfg, v.family, v.daddr))
					pk.dir = PKT_DIR_FWD;
			}
		}
		/* What was due before this packet leaves first. */
		pipeline_release_due(pl, now);
		pipeline_expire(pl, now);
		pipeline_packet(pl, &pk, now);
	}
	if (rc == PCAP_ERROR) {
		/*
		 * A capture cut short (a full disk, a killed tcpdump, a copy in
		 * progress) breaks off in its last record. What came before is
		 * replayed to the end all the same: the packets still held leave
		 * and are written, and then the break is reported.
		 */
		st->in_err = -EIO;
		st->cut_at = at;
		snprintf(e->lib, sizeof(e->lib), "%s", pcap_geterr(in));
		ret = fail(e, REPLAY_STEP_RAN, st->in_err);
	}
	/* End of input: virtual time runs on until every held packet has left. */
	pipeline_release_all(pl, now, true);
	pipeline_close_outputs(pl);
	out_finish(&r);
	st->pcap_err = pipeline_output_error(pl, PIPELINE_OUT_PCAP);
	st->events_err = pipeline_output_error(pl, PIPELINE_OUT_EVENTS);
	if (!ret && (st->out_err || st->pcap_err || st->events_err))
		ret = fail(e, REPLAY_STEP_RAN, st->out_err ? st->out_err : st->pcap_err ? st->pcap_err :
						st->events_err);
	if (json) {
		char *inner = pipeline_stats_json(pl);

		if (inner && asprintf(json, "{\"seed\":%llu,\"read\":%llu,\"written\":%llu,\"unwritten\":%llu,"
				      "\"skipped\":%llu,%s}",
				      (unsigned long long)cfg->seed, (unsigned long long)st->read,
				      (unsigned long long)st->written, (unsigned long long)st->unwritten,
				      (unsigned long long)st->skipped, inner) < 0)
			*json = NULL;
		free(inner);
	}
out:
	pipeline_free(pl);
	/* Everything was flushed, or failed and was counted: closing writes nothing. */
	if (r.out)
		pcap_dump_close(r.out);
	free(r.out_buf);
	if (r.out_pcap)
		pcap_close(r.out_pcap);
	pcap_close(in);
	return ret;
}
