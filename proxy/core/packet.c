// SPDX-License-Identifier: MIT
/*
 * packet: IPv4/IPv6 + TCP/UDP/ICMP parsing, checksum repair and flow keys.
 *
 * Every read is bounds-checked against the buffer we were handed: NFQUEUE
 * delivers whatever the copy range allowed, and the fuzzer delivers worse.
 * Header length fields are only believed when they shrink the packet.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "hot.h"
#include "packet.h"

#define IPV4_MIN_HLEN	20
#define IPV6_HLEN	40
#define IPV4_MF		0x2000
#define IPV4_OFFMASK	0x1fff
#define IPV6_FRAG_OFFMASK 0xfff8
#define IPV6_FRAG_MF	0x0001

/* RFC 8200 sets no limit; real stacks give up after a handful. */
#define IPV6_MAX_EXT_HDRS 16

#define ICMP_ECHOREPLY_T	0
#define ICMP_ECHO_T		8
#define ICMPV6_ECHO_REQUEST_T	128
#define ICMPV6_ECHO_REPLY_T	129

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t x)
{
	p[0] = (uint8_t)(x >> 8);
	p[1] = (uint8_t)x;
}

static inline void put_be32(uint8_t *p, uint32_t x)
{
	put_be16(p, (uint16_t)(x >> 16));
	put_be16(p + 2, (uint16_t)x);
}

/*
 * End of the IP packet inside a buffer of len bytes (len covers the fixed
 * header). The length field may only shorten the packet: GSO and BIG TCP
 * packets carry 0 there, and the NFQUEUE copy range may cut a packet short
 * of what its header claims. In both cases the buffer is the truth.
 */
FL_HOT static size_t ip_end(const uint8_t *data, size_t len, uint8_t family)
{
	size_t tot;

	if (family == 4) {
		tot = get_be16(data + 2);
	} else {
		/* A jumbogram (RFC 2675) has payload length 0. */
		tot = get_be16(data + 4);
		if (tot)
			tot += IPV6_HLEN;
	}
	return tot && tot < len ? tot : len;
}

FL_HOT static int parse_ipv4(struct pkt_view *v, size_t *off, size_t *end)
{
	const uint8_t *d = v->data;
	size_t ihl;
	uint16_t frag;

	if (v->len < IPV4_MIN_HLEN)
		return -EBADMSG;
	ihl = (size_t)(d[0] & 0x0f) * 4;
	if (ihl < IPV4_MIN_HLEN || ihl > v->len)
		return -EBADMSG;
	*end = ip_end(d, v->len, 4);
	if (*end < ihl)
		return -EBADMSG;

	v->family = 4;
	v->l4proto = d[9];
	memcpy(v->saddr, d + 12, 4);
	memcpy(v->daddr, d + 16, 4);
	v->l3_hdr_len = (uint16_t)ihl;

	frag = get_be16(d + 6);
	if (frag & IPV4_OFFMASK)
		v->fragment = true;
	else if (frag & IPV4_MF)
		v->first_fragment = true;
	*off = ihl;
	return 0;
}

/*
 * Length of the IPv6 extension header 'nh' at d + pos, 0 if nh is not one
 * we walk past (an upper-layer protocol, ESP, or no-next-header), or
 * -EBADMSG if its length field does not fit before end.
 */
FL_HOT static long ipv6_ext_len(uint8_t nh, const uint8_t *d, size_t pos, size_t end)
{
	size_t hlen;

	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
		if (end - pos < 2)
			return -EBADMSG;
		hlen = ((size_t)d[pos + 1] + 1) * 8;
		break;
	case IPPROTO_AH:
		/* AH counts 4-byte units, minus 2 (RFC 4302 2.2). */
		if (end - pos < 2)
			return -EBADMSG;
		hlen = ((size_t)d[pos + 1] + 2) * 4;
		break;
	case IPPROTO_FRAGMENT:
		hlen = 8;
		break;
	default:
		/*
		 * ESP encrypts whatever follows and 59 says nothing does:
		 * both end the walk with no transport header, as does any
		 * upper-layer protocol.
		 */
		return 0;
	}
	if (end - pos < hlen)
		return -EBADMSG;
	return (long)hlen;
}

FL_HOT static int parse_ipv6(struct pkt_view *v, size_t *off, size_t *end)
{
	const uint8_t *d = v->data;
	size_t pos = IPV6_HLEN;
	bool seen_frag = false;
	uint8_t nh;
	long hlen;
	int n;

	if (v->len < IPV6_HLEN)
		return -EBADMSG;
	*end = ip_end(d, v->len, 6);

	v->family = 6;
	memcpy(v->saddr, d + 8, 16);
	memcpy(v->daddr, d + 24, 16);

	nh = d[6];
	for (n = 0; !v->fragment; n++) {
		hlen = ipv6_ext_len(nh, d, pos, *end);
		if (hlen < 0)
			return (int)hlen;
		if (hlen == 0)
			break;
		if (n == IPV6_MAX_EXT_HDRS)
			return -EBADMSG;
		if (nh == IPPROTO_FRAGMENT) {
			uint16_t fo = get_be16(d + pos + 2);

			/*
			 * A second fragment header (RFC 8200 4.1 allows one)
			 * would make a packet both first and later fragment;
			 * it only shows up in evasion attempts.
			 */
			if (seen_frag)
				return -EBADMSG;
			seen_frag = true;
			/*
			 * Offset 0 without M is an atomic fragment
			 * (RFC 6946): a whole packet, not a fragment.
			 */
			if (fo & IPV6_FRAG_OFFMASK)
				v->fragment = true;
			else if (fo & IPV6_FRAG_MF)
				v->first_fragment = true;
		}
		nh = d[pos];
		pos += (size_t)hlen;
	}

	/* At most 40 + 16 * 2048 bytes, so it fits the u16 fields. */
	v->l4proto = nh;
	v->l3_hdr_len = (uint16_t)pos;
	*off = pos;
	return 0;
}

FL_HOT static int parse_tcp_options(struct pkt_view *v, const uint8_t *opt, size_t len)
{
	size_t i = 0, olen;

	while (i < len) {
		if (opt[i] == TCPOPT_EOL)
			break;
		if (opt[i] == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return -EBADMSG;
		olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return -EBADMSG;

		/*
		 * A known kind with the wrong size is skipped rather than
		 * rejected: Linux's tcp_parse_options() does the same, and
		 * the flow must stay visible to the tracker.
		 */
		switch (opt[i]) {
		case TCPOPT_MAXSEG:
			if (olen == TCPOLEN_MAXSEG)
				v->mss = get_be16(opt + i + 2);
			break;
		case TCPOPT_WINDOW:
			/*
			 * Reported as sent, not clamped to 14 (RFC 7323):
			 * rules may want to see odd values. Only values that
			 * do not fit int8_t saturate, so that -1 keeps
			 * meaning "absent".
			 */
			if (olen == TCPOLEN_WINDOW)
				v->wscale = opt[i + 2] > INT8_MAX ?
					    INT8_MAX : (int8_t)opt[i + 2];
			break;
		case TCPOPT_SACK_PERMITTED:
			if (olen == TCPOLEN_SACK_PERMITTED)
				v->sack_ok = true;
			break;
		case TCPOPT_TIMESTAMP:
			if (olen == TCPOLEN_TIMESTAMP) {
				v->has_ts = true;
				v->ts_val = get_be32(opt + i + 2);
				v->ts_ecr = get_be32(opt + i + 6);
			}
			break;
		}
		i += olen;
	}
	return 0;
}

FL_HOT static int parse_tcp(struct pkt_view *v, size_t off, size_t end)
{
	const uint8_t *th = v->data + off;
	size_t hlen;
	int ret;

	if (end - off < 20)
		return -EBADMSG;
	hlen = (size_t)(th[12] >> 4) * 4;
	if (hlen < 20 || hlen > end - off)
		return -EBADMSG;

	v->sport = get_be16(th);
	v->dport = get_be16(th + 2);
	v->seq = get_be32(th + 4);
	v->ack = get_be32(th + 8);
	v->tcp_flags = th[13];
	v->window = get_be16(th + 14);
	v->tcp_hdr_len = (uint16_t)hlen;
	ret = parse_tcp_options(v, th + 20, hlen - 20);
	if (ret)
		return ret;

	v->has_l4 = true;
	v->payload_off = (uint32_t)(off + hlen);
	v->payload_len = (uint32_t)(end - off - hlen);
	return 0;
}

FL_HOT static int parse_udp(struct pkt_view *v, size_t off, size_t end)
{
	const uint8_t *uh = v->data + off;

	/* The UDP length is ignored like tot_len: GSO leaves it stale. */
	if (end - off < 8)
		return -EBADMSG;
	v->sport = get_be16(uh);
	v->dport = get_be16(uh + 2);
	v->has_l4 = true;
	v->payload_off = (uint32_t)(off + 8);
	v->payload_len = (uint32_t)(end - off - 8);
	return 0;
}

FL_HOT static int parse_icmp(struct pkt_view *v, size_t off, size_t end)
{
	const uint8_t *ih = v->data + off;
	size_t hlen = end - off;
	bool echo;

	if (hlen < 4)
		return -EBADMSG;
	v->icmp_type = ih[0];
	v->icmp_code = ih[1];

	/*
	 * Both ICMP versions have an 8-byte header, but only type and code
	 * are needed to match, so a 4-byte stub is accepted.
	 */
	if (hlen > 8)
		hlen = 8;
	if (v->l4proto == IPPROTO_ICMP)
		echo = ih[0] == ICMP_ECHO_T || ih[0] == ICMP_ECHOREPLY_T;
	else
		echo = ih[0] == ICMPV6_ECHO_REQUEST_T ||
		       ih[0] == ICMPV6_ECHO_REPLY_T;
	if (echo && hlen == 8)
		v->icmp_id = get_be16(ih + 4);

	v->has_l4 = true;
	v->payload_off = (uint32_t)(off + hlen);
	v->payload_len = (uint32_t)(end - off - hlen);
	return 0;
}

FL_HOT static int parse_l4(struct pkt_view *v, size_t off, size_t end)
{
	/* Without a known transport, everything after L3 is payload. */
	v->l4_off = (uint16_t)off;
	v->payload_off = (uint32_t)off;
	v->payload_len = (uint32_t)(end - off);
	if (v->fragment)
		return 0;

	switch (v->l4proto) {
	case IPPROTO_TCP:
		return parse_tcp(v, off, end);
	case IPPROTO_UDP:
		return parse_udp(v, off, end);
	case IPPROTO_ICMP:
		return v->family == 4 ? parse_icmp(v, off, end) : 0;
	case IPPROTO_ICMPV6:
		return v->family == 6 ? parse_icmp(v, off, end) : 0;
	default:
		return 0;
	}
}

FL_HOT int pkt_parse(struct pkt_view *v, const uint8_t *data, size_t len)
{
	return pkt_parse_cut(v, data, len, len);
}

FL_HOT int pkt_parse_cut(struct pkt_view *v, const uint8_t *data, size_t len, size_t wirelen)
{
	size_t off, end;
	int ret;

	memset(v, 0, sizeof(*v));
	v->wscale = -1;
	if (!data || len == 0 || (uint64_t)wirelen > UINT32_MAX || wirelen < len)
		return -EBADMSG;
	v->data = data;
	v->len = (uint32_t)len;
	v->wire_len = (uint32_t)wirelen;

	switch (data[0] >> 4) {
	case 4:
		ret = parse_ipv4(v, &off, &end);
		break;
	case 6:
		ret = parse_ipv6(v, &off, &end);
		break;
	default:
		return -EBADMSG;
	}
	if (ret)
		return ret;
	ret = parse_l4(v, off, end);
	if (ret || wirelen == len)
		return ret;
	/*
	 * A cut copy: the payload runs on past the copy. Its length is the
	 * whole packet's: the IP length field when it fits the packet, else
	 * (GSO: 0 or stale) the packet's own length.
	 */
	end = ip_end(data, wirelen, v->family);
	/* An ICMP header shorter than 8 bytes is taken only when the packet has no more. */
	if (v->has_l4 && (v->l4proto == IPPROTO_ICMP || v->l4proto == IPPROTO_ICMPV6) &&
	    v->payload_off - v->l4_off < (end - v->l4_off < 8 ? end - v->l4_off : 8))
		return -EBADMSG;
	v->payload_len = end > v->payload_off ? (uint32_t)(end - v->payload_off) : 0;
	return 0;
}

/*
 * Ones' complement sum of buf in host byte order, 32 bits at a time into a
 * 64-bit accumulator whose carries are folded once at the end. RFC 1071
 * 2(B): the sum is byte-order independent, so the folded result is stored
 * back with memcpy, no htons. Callers only start regions at even offsets,
 * which keeps the zero-padded tail in the right half of its word.
 */
static uint64_t csum_add(uint64_t sum, const uint8_t *buf, size_t len)
{
	uint32_t w[4];

	while (len >= 16) {
		memcpy(w, buf, 16);
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3];
		buf += 16;
		len -= 16;
	}
	while (len >= 4) {
		memcpy(w, buf, 4);
		sum += w[0];
		buf += 4;
		len -= 4;
	}
	if (len) {
		w[0] = 0;
		memcpy(w, buf, len);
		sum += w[0];
	}
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Pseudo header sum. Addresses come from the buffer, not the view, so a
 * caller that rewrote them gets a checksum for what goes on the wire. The
 * length is added as 32 bits: IPv6's field is that wide, and for IPv4 the
 * upper half is zero except for GSO packets the NIC re-segments anyway.
 */
static uint64_t csum_pseudo(const uint8_t *data, uint8_t family,
			    uint8_t proto, uint32_t l4len)
{
	uint64_t sum;

	if (family == 4)
		sum = csum_add(0, data + 12, 8);
	else
		sum = csum_add(0, data + 8, 32);
	return sum + htons(proto) + htonl(l4len);
}

int pkt_fix_checksums(uint8_t *data, size_t len, const struct pkt_view *v)
{
	size_t ihl = v->l3_hdr_len, off = v->l4_off, end, csum_off, min;
	bool do_l4 = v->has_l4 && !v->fragment && !v->first_fragment;
	uint16_t csum;
	uint64_t sum;

	/* Check everything before writing anything. */
	if (v->family == 4) {
		if (len < IPV4_MIN_HLEN || ihl < IPV4_MIN_HLEN || ihl > len ||
		    (size_t)(data[0] & 0x0f) * 4 != ihl)
			return -EBADMSG;
	} else if (v->family != 6 || len < IPV6_HLEN) {
		return -EBADMSG;
	}

	switch (v->l4proto) {
	case IPPROTO_TCP:
		csum_off = 16;
		min = 20;
		break;
	case IPPROTO_UDP:
		csum_off = 6;
		min = 8;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		csum_off = 2;
		min = 4;
		break;
	default:
		do_l4 = false;
		csum_off = min = 0;
		break;
	}
	end = ip_end(data, len, v->family);
	if (do_l4 && (off > end || end - off < min))
		return -EBADMSG;

	if (v->family == 4) {
		memset(data + 10, 0, 2);
		csum = csum_fold(csum_add(0, data, ihl));
		memcpy(data + 10, &csum, 2);
	}

	/*
	 * A first fragment's transport checksum covers the reassembled
	 * datagram, which we never see: leave it to the sender.
	 */
	if (!do_l4)
		return 0;

	sum = 0;
	if (v->l4proto != IPPROTO_ICMP)
		sum = csum_pseudo(data, v->family, v->l4proto,
				  (uint32_t)(end - off));
	memset(data + off + csum_off, 0, 2);
	sum = csum_add(sum, data + off, end - off);
	csum = csum_fold(sum);
	/* For UDP 0 means "no checksum" (and is illegal over IPv6). */
	if (csum == 0 && v->l4proto == IPPROTO_UDP)
		csum = 0xffff;
	memcpy(data + off + csum_off, &csum, 2);
	return 0;
}

/* A bare TCP segment (no payload, no options, window 0) with complete checksums. */
static int make_bare(uint8_t buf[static PKT_RST_MAX], uint8_t family, const uint8_t *src, const uint8_t *dst,
		     uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	size_t ip = family == 4 ? IPV4_MIN_HLEN : IPV6_HLEN, len = ip + 20;
	struct pkt_view rv;
	uint8_t *th = buf + ip;

	if (family != 4 && family != 6)
		return -EINVAL;
	memset(buf, 0, len);
	if (family == 4) {
		buf[0] = 0x45;
		put_be16(buf + 2, (uint16_t)len);
		/* DF, id 0: what Linux puts on its own RSTs (ip_send_unicast_reply). */
		put_be16(buf + 6, 0x4000);
		buf[8] = 64;
		buf[9] = IPPROTO_TCP;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
	} else {
		buf[0] = 0x60;
		put_be16(buf + 4, 20);
		buf[6] = IPPROTO_TCP;
		buf[7] = 64;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, dst, 16);
	}
	put_be16(th, sport);
	put_be16(th + 2, dport);
	put_be32(th + 4, seq);
	put_be32(th + 8, ack);
	th[12] = 5 << 4;
	th[13] = flags;
	if (pkt_parse(&rv, buf, len) || pkt_fix_checksums(buf, len, &rv))
		return -EINVAL;
	return (int)len;
}

int pkt_make_rst(uint8_t buf[static PKT_RST_MAX], const struct pkt_view *v, bool to_sender,
		 uint32_t seq, uint32_t ack)
{
	const uint8_t *src = to_sender ? v->daddr : v->saddr, *dst = to_sender ? v->saddr : v->daddr;
	uint16_t sport = to_sender ? v->dport : v->sport, dport = to_sender ? v->sport : v->dport;

	if (!v->has_l4 || v->l4proto != IPPROTO_TCP)
		return -EINVAL;
	return make_bare(buf, v->family, src, dst, sport, dport, seq, ack, PKT_TCP_RST | PKT_TCP_ACK);
}

int pkt_make_syn(uint8_t buf[static PKT_RST_MAX], uint8_t family, const uint8_t *src, const uint8_t *dst,
		 uint16_t sport, uint16_t dport, uint32_t seq)
{
	return make_bare(buf, family, src, dst, sport, dport, seq, 0, PKT_TCP_SYN);
}

int pkt_slice(uint8_t *buf, size_t size, const struct pkt_view *v, uint32_t off, uint32_t n,
	      uint16_t index)
{
	size_t hdr = v->payload_off, len = hdr + n;
	uint8_t *th = buf + v->l4_off;
	struct pkt_view pv;

	if (!v->has_l4 || v->l4proto != IPPROTO_TCP || v->len < v->wire_len || v->fragment ||
	    v->first_fragment || off > v->payload_len || n > v->payload_len - off ||
	    (!n && v->payload_len) || (uint64_t)v->payload_off + v->payload_len > v->len)
		return -EINVAL;
	if (len > size || len > 0xffff)
		return -ENOSPC;
	memcpy(buf, v->data, hdr);
	memcpy(buf + hdr, v->data + hdr + off, n);
	if (v->family == 4) {
		put_be16(buf + 2, (uint16_t)len);
		put_be16(buf + 4, (uint16_t)(get_be16(v->data + 4) + index));
	} else {
		put_be16(buf + 4, (uint16_t)(len - IPV6_HLEN));
	}
	put_be32(th + 4, v->seq + off);
	/* As tcp_gso_segment: FIN and PSH belong to the last byte. */
	if (off + n != v->payload_len)
		th[13] &= (uint8_t)~(PKT_TCP_FIN | PKT_TCP_PSH);
	if (pkt_parse(&pv, buf, len) || pkt_fix_checksums(buf, len, &pv))
		return -EINVAL;
	return (int)len;
}

FL_HOT void pkt_flow_key(const struct pkt_view *v, struct pkt_flow_key *key,
			 bool *swapped)
{
	uint16_t sport = v->sport, dport = v->dport;
	bool swap;
	int c;

	/*
	 * The echo identifier is the same in request and reply, so using it
	 * as both ports keeps two pings between the same hosts apart.
	 */
	if (v->l4proto == IPPROTO_ICMP || v->l4proto == IPPROTO_ICMPV6)
		sport = dport = v->icmp_id;

	c = memcmp(v->saddr, v->daddr, sizeof(v->saddr));
	if (c == 0)
		c = (sport > dport) - (sport < dport);
	swap = c > 0;

	memset(key, 0, sizeof(*key));
	memcpy(key->a, swap ? v->daddr : v->saddr, sizeof(key->a));
	memcpy(key->b, swap ? v->saddr : v->daddr, sizeof(key->b));
	key->aport = swap ? dport : sport;
	key->bport = swap ? sport : dport;
	key->family = v->family;
	key->l4proto = v->l4proto;
	if (swapped)
		*swapped = swap;
}

/* Little-endian 64-bit load: the hash (part of a packet's identity) is the same on every host. */
static uint64_t get_le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return le64toh(w);
}

static uint64_t mix64(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

FL_HOT uint64_t pkt_flow_hash(const struct pkt_flow_key *key)
{
	/*
	 * Word by word, field by field (struct padding must never reach the
	 * hash): five multiplies instead of a byte-wise FNV's 38, which was
	 * a sixth of the decision path's time at 10k flows (track_bench).
	 */
	uint64_t tail = (uint64_t)key->aport | (uint64_t)key->bport << 16 |
			(uint64_t)key->family << 32 | (uint64_t)key->l4proto << 40;
	uint64_t h = 0x243f6a8885a308d3ULL;

	h = mix64(h, get_le64(key->a));
	h = mix64(h, get_le64(key->a + 8));
	h = mix64(h, get_le64(key->b));
	h = mix64(h, get_le64(key->b + 8));
	h = mix64(h, tail);

	/* splitmix64's finalizer: every input bit reaches the low bits the tables use. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

const char *pkt_proto_name(uint8_t l4proto)
{
	/*
	 * The rules' own words (pcap-filter): the event log, show and report
	 * name a protocol the way the user filters on it.
	 */
	switch (l4proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmp6";
	default:
		return NULL;
	}
}

int pkt_format_flow(const struct pkt_view *v, char *buf, size_t size)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pname[16];
	int af = v->family == 4 ? AF_INET : AF_INET6;
	bool ports = v->has_l4 && (v->l4proto == IPPROTO_TCP ||
				   v->l4proto == IPPROTO_UDP);
	const char *lb = "", *rb = "";

	if (v->family != 4 && v->family != 6)
		return -EINVAL;
	if (!inet_ntop(af, v->saddr, src, sizeof(src)) ||
	    !inet_ntop(af, v->daddr, dst, sizeof(dst)))
		return -errno;

	if (pkt_proto_name(v->l4proto))
		snprintf(pname, sizeof(pname), "%s", pkt_proto_name(v->l4proto));
	else
		snprintf(pname, sizeof(pname), "proto %u", v->l4proto);

	if (!ports)
		return snprintf(buf, size, "%s %s > %s", pname, src, dst);
	/* Brackets keep an IPv6 address's colons apart from the port's. */
	if (v->family == 6) {
		lb = "[";
		rb = "]";
	}
	return snprintf(buf, size, "%s %s%s%s:%u > %s%s%s:%u", pname,
			lb, src, rb, v->sport, lb, dst, rb, v->dport);
}
