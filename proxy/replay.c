// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "packet.h"
#include "pcapout.h"
#include "pipeline.h"
#include "replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

struct replay {
	const struct replay_config *cfg;
	pcap_t *out_pcap;
	pcap_dumper_t *out;
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
		prefix = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
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

static void write_pkt(struct replay *r, const uint8_t *bytes, uint32_t len, uint64_t now)
{
	struct pcap_pkthdr h;
	/* Virtual nanoseconds back onto the capture's own clock. */
	uint64_t t = r->first_ns + now;

	if (!r->out || !bytes)
		return;
	h.ts.tv_sec = (time_t)(t / 1000000000ull);
	/* A nanosecond dump file keeps nanoseconds in tv_usec. */
	h.ts.tv_usec = (suseconds_t)(t % 1000000000ull);
	h.caplen = h.len = len;
	pcap_dump((u_char *)r->out, &h, bytes);
	r->st->written++;
}

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, const uint8_t *bytes, uint64_t now)
{
	struct replay *r = data;

	if (accept)
		write_pkt(r, payload ? payload : bytes, len, now);
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
	struct replay *r = data;

	for (uint32_t i = 0; i < copies; i++)
		write_pkt(r, bytes, len, now);
}

int replay_run(const struct replay_config *cfg, const struct rule_set *rules,
	       struct replay_stats *st, char **json, char *err, size_t errlen)
{
	static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };
	char perr[PCAP_ERRBUF_SIZE];
	struct pipeline_config pc = { 0 };
	struct replay r = { .cfg = cfg, .st = st };
	struct pipeline *pl = NULL;
	struct pcap_pkthdr *h;
	const u_char *frame;
	uint64_t now = 0;
	pcap_t *in;
	int dlt, ret = 0, rc;
	uint32_t id = 0;

	memset(st, 0, sizeof(*st));
	if (json)
		*json = NULL;
	in = pcap_open_offline_with_tstamp_precision(cfg->in_path, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!in) {
		snprintf(err, errlen, "%s", perr);
		return -ENOENT;
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
		r.out_pcap = pcap_open_dead_with_tstamp_precision(DLT_RAW, 262144, PCAP_TSTAMP_PRECISION_NANO);
		r.out = r.out_pcap ? pcap_dump_open(r.out_pcap, cfg->out_path) : NULL;
		if (!r.out) {
			snprintf(err, errlen, "%s: %s", cfg->out_path,
				 r.out_pcap ? pcap_geterr(r.out_pcap) : "out of memory");
			ret = -EIO;
			goto out;
		}
	}
	pc.seed = cfg->seed;
	pc.max_held = cfg->max_held ? cfg->max_held : 1000000;
	pc.no_track = cfg->no_track;
	pc.time_wait_ns = cfg->time_wait_ns;
	pc.keep_bytes = true;
	pc.events = cfg->events;
	pc.start_ns = 0;
	if (cfg->pcap_path) {
		pc.pcap = pcapout_open(cfg->pcap_path, err, errlen);
		if (!pc.pcap) {
			ret = -EIO;
			goto out;
		}
	}
	pl = pipeline_new(&pc, rules, &ops, &r);
	if (!pl) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	while ((rc = pcap_next_ex(in, &h, &frame)) == 1) {
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
		struct pipeline_pkt pk = { 0 };
		struct pkt_view v;
		int way, off = ip_offset(dlt, frame, h->caplen, &way);

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
		pk.orig_len = h->len - (uint32_t)off;
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
		snprintf(err, errlen, "%s: %s", cfg->in_path, pcap_geterr(in));
		ret = -EIO;
		goto out;
	}
	/* End of input: virtual time runs on until every held packet has left. */
	pipeline_release_all(pl, now, true);
	if (json) {
		char *inner = pipeline_stats_json(pl);

		if (inner && asprintf(json, "{\"seed\":%llu,\"read\":%llu,\"written\":%llu,\"skipped\":%llu,%s}",
				      (unsigned long long)cfg->seed, (unsigned long long)st->read,
				      (unsigned long long)st->written, (unsigned long long)st->skipped,
				      inner) < 0)
			*json = NULL;
		free(inner);
	}
out:
	pipeline_free(pl);
	pcapout_close(pc.pcap);
	if (r.out)
		pcap_dump_close(r.out);
	if (r.out_pcap)
		pcap_close(r.out_pcap);
	pcap_close(in);
	return ret;
}
