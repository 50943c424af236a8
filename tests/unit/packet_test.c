// SPDX-License-Identifier: MIT
/*
 * Unit tests for proxy/core/packet.c. Packets are built byte by byte here, and
 * checksums are checked against a deliberately naive RFC 1071 reference
 * (16-bit big-endian words, one carry fold at a time) rather than the
 * 32-bit accumulator under test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

static const uint8_t v4a[4] = { 10, 0, 0, 1 };
static const uint8_t v4b[4] = { 10, 0, 0, 2 };
static const uint8_t v6a[16] = { 0xfd, 0, [15] = 1 };
static const uint8_t v6b[16] = { 0xfd, 0, [15] = 2 };

/* Linux's SYN options: MSS 1460, SACK-permitted, TS, NOP, wscale 7. */
static const uint8_t syn_opts[20] = {
	2, 4, 0x05, 0xb4,
	4, 2,
	8, 10, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0,
	1,
	3, 3, 7,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The reference: sum of big-endian 16-bit words, folded, complemented. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2) {
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
		while (sum > 0xffff)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	if (n & 1) {
		sum += (uint32_t)p[n - 1] << 8;
		while (sum > 0xffff)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	return sum;
}

static uint16_t ref_csum(const uint8_t *p, size_t n)
{
	return (uint16_t)~ref_sum(0, p, n);
}

/* Transport checksum with the pseudo header laid out as in the RFCs. */
static uint16_t ref_l4_csum(const uint8_t *pkt, int family, uint8_t proto,
			    size_t l4off, size_t end)
{
	uint8_t ph[40] = { 0 };
	size_t phlen;
	uint32_t sum;
	uint16_t c;

	if (family == 4) {
		memcpy(ph, pkt + 12, 8);
		ph[9] = proto;
		put16(ph + 10, (uint16_t)(end - l4off));
		phlen = 12;
	} else {
		memcpy(ph, pkt + 8, 32);
		put32(ph + 32, (uint32_t)(end - l4off));
		ph[39] = proto;
		phlen = 40;
	}
	sum = proto == IPPROTO_ICMP ? 0 : ref_sum(0, ph, phlen);
	sum = ref_sum(sum, pkt + l4off, end - l4off);
	c = (uint16_t)~sum;
	if (c == 0 && proto == IPPROTO_UDP)
		c = 0xffff;
	return c;
}

/* IPv4 header with optional options; returns its length. */
static size_t ip4_hdr(uint8_t *p, uint8_t proto, size_t l4len,
		      const uint8_t *opt, size_t optlen)
{
	size_t hlen = 20 + optlen;

	memset(p, 0, hlen);
	p[0] = 0x40 | (uint8_t)(hlen / 4);
	put16(p + 2, (uint16_t)(hlen + l4len));
	put16(p + 4, 0x1c46);
	put16(p + 6, 0x4000);	/* DF */
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, v4a, 4);
	memcpy(p + 16, v4b, 4);
	if (optlen)
		memcpy(p + 20, opt, optlen);
	put16(p + 10, ref_csum(p, hlen));
	return hlen;
}

static size_t ip6_hdr(uint8_t *p, uint8_t nh, size_t paylen)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)paylen);
	p[6] = nh;
	p[7] = 64;
	memcpy(p + 8, v6a, 16);
	memcpy(p + 24, v6b, 16);
	return 40;
}

static size_t udp_hdr(uint8_t *p, uint16_t sport, uint16_t dport,
		      const char *payload)
{
	size_t plen = strlen(payload);

	put16(p, sport);
	put16(p + 2, dport);
	put16(p + 4, (uint16_t)(8 + plen));
	put16(p + 6, 0);
	memcpy(p + 8, payload, plen);
	return 8 + plen;
}

static size_t tcp_hdr(uint8_t *p, uint16_t sport, uint16_t dport,
		      uint8_t flags, const uint8_t *opt, size_t optlen,
		      const char *payload)
{
	size_t hlen = 20 + optlen, plen = strlen(payload);

	memset(p, 0, hlen);
	put16(p, sport);
	put16(p + 2, dport);
	put32(p + 4, 0x11223344);
	put32(p + 8, 0x55667788);
	p[12] = (uint8_t)(hlen / 4) << 4;
	p[13] = flags;
	put16(p + 14, 64240);
	if (optlen)
		memcpy(p + 20, opt, optlen);
	memcpy(p + hlen, payload, plen);
	return hlen + plen;
}

static size_t icmp_echo(uint8_t *p, uint8_t type, uint16_t id,
			const char *payload)
{
	size_t plen = strlen(payload);

	p[0] = type;
	p[1] = 0;
	put16(p + 2, 0);
	put16(p + 4, id);
	put16(p + 6, 1);
	memcpy(p + 8, payload, plen);
	return 8 + plen;
}

/* Fill in the transport checksum of a finished packet with the reference. */
static void ref_fill_l4(uint8_t *p, size_t len, int family, uint8_t proto,
			size_t l4off)
{
	size_t coff = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;

	put16(p + l4off + coff, 0);
	put16(p + l4off + coff, ref_l4_csum(p, family, proto, l4off, len));
}

static size_t mk_v4_udp(uint8_t *p, const char *payload)
{
	size_t l4 = udp_hdr(p + 20, 1234, 5000, payload);
	size_t len = ip4_hdr(p, IPPROTO_UDP, l4, NULL, 0) + l4;

	ref_fill_l4(p, len, 4, IPPROTO_UDP, 20);
	return len;
}

static size_t mk_v4_tcp_opts(uint8_t *p)
{
	size_t l4 = tcp_hdr(p + 20, 40000, 80, PKT_TCP_SYN | PKT_TCP_ACK,
			    syn_opts, sizeof(syn_opts), "hello");
	size_t len = ip4_hdr(p, IPPROTO_TCP, l4, NULL, 0) + l4;

	ref_fill_l4(p, len, 4, IPPROTO_TCP, 20);
	return len;
}

static size_t mk_v6_tcp(uint8_t *p)
{
	size_t l4 = tcp_hdr(p + 40, 1234, 443, PKT_TCP_ACK | PKT_TCP_PSH,
			    NULL, 0, "xyz");
	size_t len = ip6_hdr(p, IPPROTO_TCP, l4) + l4;

	ref_fill_l4(p, len, 6, IPPROTO_TCP, 40);
	return len;
}

static size_t mk_v6_udp(uint8_t *p, const char *payload)
{
	size_t l4 = udp_hdr(p + 40, 1234, 53, payload);
	size_t len = ip6_hdr(p, IPPROTO_UDP, l4) + l4;

	ref_fill_l4(p, len, 6, IPPROTO_UDP, 40);
	return len;
}

/*
 * IPv6 + hop-by-hop (8) + destination options (16) + fragment (8) + UDP.
 * frag_field is the fragment header's offset/M word.
 */
static size_t mk_v6_ext(uint8_t *p, uint16_t frag_field)
{
	uint8_t *e = p + 40;
	size_t l4;

	/* Hop-by-hop: PadN filling the 6 option bytes. */
	memset(e, 0, 8);
	e[0] = IPPROTO_DSTOPTS;
	e[1] = 0;
	e[2] = 1;
	e[3] = 4;
	/* Destination options, 16 bytes: one PadN of 14. */
	memset(e + 8, 0, 16);
	e[8] = IPPROTO_FRAGMENT;
	e[9] = 1;
	e[10] = 1;
	e[11] = 12;
	/* Fragment header. */
	memset(e + 24, 0, 8);
	e[24] = IPPROTO_UDP;
	put16(e + 26, frag_field);
	put32(e + 28, 0xdeadbeef);

	l4 = udp_hdr(e + 32, 5353, 5354, "fragmented");
	return ip6_hdr(p, IPPROTO_HOPOPTS, 32 + l4) + 32 + l4;
}

static size_t mk_v4_icmp(uint8_t *p, uint8_t type, uint16_t id)
{
	size_t l4 = icmp_echo(p + 20, type, id, "ping!");
	size_t len = ip4_hdr(p, IPPROTO_ICMP, l4, NULL, 0) + l4;

	ref_fill_l4(p, len, 4, IPPROTO_ICMP, 20);
	return len;
}

static size_t mk_v6_icmp(uint8_t *p, uint8_t type, uint16_t id)
{
	size_t l4 = icmp_echo(p + 40, type, id, "ping6");
	size_t len = ip6_hdr(p, IPPROTO_ICMPV6, l4) + l4;

	ref_fill_l4(p, len, 6, IPPROTO_ICMPV6, 40);
	return len;
}

/* Reverse a v4 UDP/TCP packet's direction in place (no checksum fix). */
static void reverse_v4(uint8_t *p)
{
	uint8_t tmp[4];
	size_t ihl = (p[0] & 0x0f) * 4;

	memcpy(tmp, p + 12, 4);
	memcpy(p + 12, p + 16, 4);
	memcpy(p + 16, tmp, 4);
	memcpy(tmp, p + ihl, 4);
	memcpy(p + ihl, tmp + 2, 2);
	memcpy(p + ihl + 2, tmp, 2);
}

/* Parse from an exact-size heap copy so ASan sees any overread. */
static int parse_copy(struct pkt_view *v, const uint8_t *p, size_t len,
		      uint8_t **copy)
{
	*copy = malloc(len ? len : 1);
	cr_assert_not_null(*copy);
	memcpy(*copy, p, len);
	return pkt_parse(v, *copy, len);
}

Test(packet, v4_udp_fields)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.data, p);
	cr_assert_eq(v.len, len);
	cr_assert_eq(v.family, 4);
	cr_assert_eq(v.l4proto, IPPROTO_UDP);
	cr_assert_arr_eq(v.saddr, v4a, 4);
	cr_assert_arr_eq(v.daddr, v4b, 4);
	for (int i = 4; i < 16; i++)
		cr_assert_eq(v.saddr[i] | v.daddr[i], 0);
	cr_assert_eq(v.l3_hdr_len, 20);
	cr_assert_eq(v.l4_off, 20);
	cr_assert(v.has_l4);
	cr_assert_not(v.fragment);
	cr_assert_not(v.first_fragment);
	cr_assert_eq(v.sport, 1234);
	cr_assert_eq(v.dport, 5000);
	cr_assert_eq(v.payload_off, 28);
	cr_assert_eq(v.payload_len, 5);
	cr_assert_eq(v.wscale, -1);
	cr_assert_eq(v.mss, 0);
}

Test(packet, v4_tcp_options_fields)
{
	uint8_t p[256];
	size_t len = mk_v4_tcp_opts(p);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.family, 4);
	cr_assert_eq(v.l4proto, IPPROTO_TCP);
	cr_assert(v.has_l4);
	cr_assert_eq(v.sport, 40000);
	cr_assert_eq(v.dport, 80);
	cr_assert_eq(v.seq, 0x11223344);
	cr_assert_eq(v.ack, 0x55667788);
	cr_assert_eq(v.tcp_flags, PKT_TCP_SYN | PKT_TCP_ACK);
	cr_assert_eq(v.window, 64240);
	cr_assert_eq(v.tcp_hdr_len, 40);
	cr_assert_eq(v.mss, 1460);
	cr_assert_eq(v.wscale, 7);
	cr_assert(v.sack_ok);
	cr_assert(v.has_ts);
	cr_assert_eq(v.ts_val, 0x01020304);
	cr_assert_eq(v.ts_ecr, 0xa0b0c0d0);
	cr_assert_eq(v.l4_off, 20);
	cr_assert_eq(v.payload_off, 60);
	cr_assert_eq(v.payload_len, 5);
	cr_assert_eq(memcmp(p + v.payload_off, "hello", 5), 0);
}

Test(packet, v4_tcp_no_options)
{
	uint8_t p[256];
	size_t l4 = tcp_hdr(p + 20, 1, 2, PKT_TCP_RST, NULL, 0, "");
	size_t len = ip4_hdr(p, IPPROTO_TCP, l4, NULL, 0) + l4;
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.tcp_flags, PKT_TCP_RST);
	cr_assert_eq(v.mss, 0);
	cr_assert_eq(v.wscale, -1);
	cr_assert_not(v.sack_ok);
	cr_assert_not(v.has_ts);
	cr_assert_eq(v.payload_len, 0);
}

Test(packet, v4_ip_options)
{
	/* IHL 7: a NOP, an RR-shaped option, then EOL padding. */
	static const uint8_t ipopt[8] = { 1, 7, 7, 4, 0, 0, 0, 0 };
	uint8_t p[256];
	size_t l4 = udp_hdr(p + 28, 7, 9, "opt");
	size_t len = ip4_hdr(p, IPPROTO_UDP, l4, ipopt, sizeof(ipopt)) + l4;
	struct pkt_view v;

	cr_assert_eq(p[0], 0x47);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l3_hdr_len, 28);
	cr_assert_eq(v.l4_off, 28);
	cr_assert_eq(v.sport, 7);
	cr_assert_eq(v.dport, 9);
	cr_assert_eq(v.payload_off, 36);
	cr_assert_eq(v.payload_len, 3);

	/* Options running past the buffer. */
	cr_assert_eq(pkt_parse(&v, p, 27), -EBADMSG);
}

Test(packet, v4_total_length_bounds)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v;

	/* GSO / BIG TCP: tot_len 0 means "the buffer". */
	put16(p + 2, 0);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.payload_len, 5);

	/* Copy range cut the packet: accepted, bounded by the buffer. */
	put16(p + 2, 1500);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.payload_len, 5);

	/* Trailing bytes beyond tot_len are not payload. */
	put16(p + 2, (uint16_t)(len - 2));
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.payload_len, 3);

	/* tot_len shorter than the header itself is malformed. */
	put16(p + 2, 19);
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
}

Test(packet, v4_fragments)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v;

	/* First fragment: MF, offset 0: ports parse. */
	put16(p + 6, 0x2000);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert(v.has_l4);
	cr_assert(v.first_fragment);
	cr_assert_not(v.fragment);
	cr_assert_eq(v.sport, 1234);

	/* Later fragment: no transport header even if bytes look like one. */
	put16(p + 6, 0x2000 | 185);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert(v.fragment);
	cr_assert_not(v.has_l4);
	cr_assert_eq(v.sport, 0);
	cr_assert_eq(v.dport, 0);
	cr_assert_eq(v.l4proto, IPPROTO_UDP);

	/* Last fragment (no MF) of a tiny size still parses as fragment. */
	put16(p + 6, 1);
	cr_assert_eq(pkt_parse(&v, p, 21), 0);
	cr_assert(v.fragment);
	cr_assert_eq(v.payload_len, 1);
}

Test(packet, v6_tcp)
{
	uint8_t p[256];
	size_t len = mk_v6_tcp(p);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.family, 6);
	cr_assert_eq(v.l4proto, IPPROTO_TCP);
	cr_assert_arr_eq(v.saddr, v6a, 16);
	cr_assert_arr_eq(v.daddr, v6b, 16);
	cr_assert_eq(v.l3_hdr_len, 40);
	cr_assert_eq(v.l4_off, 40);
	cr_assert_eq(v.sport, 1234);
	cr_assert_eq(v.dport, 443);
	cr_assert_eq(v.tcp_flags, PKT_TCP_ACK | PKT_TCP_PSH);
	cr_assert_eq(v.tcp_hdr_len, 20);
	cr_assert_eq(v.payload_off, 60);
	cr_assert_eq(v.payload_len, 3);

	/* Jumbo/GSO payload length 0 means "the buffer". */
	put16(p + 4, 0);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.payload_len, 3);
}

Test(packet, v6_ext_headers_first_fragment)
{
	uint8_t p[256], *c;
	size_t len = mk_v6_ext(p, 0x0001);	/* offset 0, M */
	struct pkt_view v;

	cr_assert_eq(parse_copy(&v, p, len, &c), 0);
	cr_assert_eq(v.l4proto, IPPROTO_UDP);
	cr_assert_eq(v.l3_hdr_len, 72);
	cr_assert_eq(v.l4_off, 72);
	cr_assert(v.has_l4);
	cr_assert(v.first_fragment);
	cr_assert_not(v.fragment);
	cr_assert_eq(v.sport, 5353);
	cr_assert_eq(v.dport, 5354);
	cr_assert_eq(v.payload_len, 10);
	free(c);
}

Test(packet, v6_ext_headers_atomic_fragment)
{
	uint8_t p[256];
	size_t len = mk_v6_ext(p, 0x0000);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert(v.has_l4);
	cr_assert_not(v.first_fragment);
	cr_assert_not(v.fragment);
}

Test(packet, v6_ext_headers_later_fragment)
{
	uint8_t p[256], *c;
	size_t len = mk_v6_ext(p, 185 << 3);	/* offset 1480, last */
	struct pkt_view v;

	cr_assert_eq(parse_copy(&v, p, len, &c), 0);
	cr_assert(v.fragment);
	cr_assert_not(v.has_l4);
	cr_assert_eq(v.l4proto, IPPROTO_UDP);
	cr_assert_eq(v.l3_hdr_len, 72);
	cr_assert_eq(v.sport, 0);
	cr_assert_eq(v.dport, 0);
	free(c);
}

Test(packet, v6_two_fragment_headers)
{
	uint8_t p[256];
	size_t len = mk_v6_ext(p, 0x0001);
	struct pkt_view v;

	/*
	 * Turn the destination options into a first-fragment header; the
	 * second one then follows at offset 56.
	 */
	p[40] = IPPROTO_FRAGMENT;
	p[48] = IPPROTO_FRAGMENT;
	put16(p + 50, 0x0001);
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
}

Test(packet, v6_ext_headers_truncated)
{
	uint8_t p[256], *c;
	size_t len = mk_v6_ext(p, 0x0001);
	struct pkt_view v;

	for (size_t l = 0; l < len; l++) {
		int ret = parse_copy(&v, p, l, &c);

		/* Anything cut before the end of the UDP header is bad. */
		if (l < 80)
			cr_assert_eq(ret, -EBADMSG, "len %zu", l);
		else
			cr_assert_eq(ret, 0, "len %zu", l);
		free(c);
	}
}

Test(packet, v6_esp_ah_none)
{
	uint8_t p[256];
	struct pkt_view v;
	size_t len;

	/* ESP: stop, nothing after it can be read. */
	len = ip6_hdr(p, IPPROTO_ESP, 16) + 16;
	memset(p + 40, 0xaa, 16);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l4proto, IPPROTO_ESP);
	cr_assert_not(v.has_l4);
	cr_assert_eq(v.l3_hdr_len, 40);

	/* No next header. */
	len = ip6_hdr(p, IPPROTO_NONE, 0) + 0;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l4proto, IPPROTO_NONE);
	cr_assert_not(v.has_l4);

	/* AH of 24 bytes: payload len field (24 / 4) - 2 = 4, then UDP. */
	memset(p + 40, 0, 24);
	p[40] = IPPROTO_UDP;
	p[41] = 4;
	len = udp_hdr(p + 64, 500, 500, "ike");
	len = ip6_hdr(p, IPPROTO_AH, 24 + len) + 24 + len;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l3_hdr_len, 64);
	cr_assert_eq(v.sport, 500);
	cr_assert_eq(v.payload_len, 3);

	/* AH claiming more than there is. */
	p[41] = 40;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
}

Test(packet, v6_ext_header_chain_limit)
{
	uint8_t p[40 + 8 * 20 + 8];
	struct pkt_view v;
	int n;

	/* n destination-options headers, then UDP. */
	for (n = 15; n <= 17; n++) {
		size_t len;

		ip6_hdr(p, IPPROTO_DSTOPTS, (size_t)n * 8 + 8);
		for (int i = 0; i < n; i++) {
			memset(p + 40 + i * 8, 0, 8);
			p[40 + i * 8] = i == n - 1 ? IPPROTO_UDP :
						     IPPROTO_DSTOPTS;
		}
		len = 40 + (size_t)n * 8;
		udp_hdr(p + len, 1, 2, "");
		len += 8;
		if (n <= 16)
			cr_assert_eq(pkt_parse(&v, p, len), 0, "n=%d", n);
		else
			cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	}
}

Test(packet, icmp_echo)
{
	uint8_t p[256];
	size_t len = mk_v4_icmp(p, 8, 0x4242);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l4proto, IPPROTO_ICMP);
	cr_assert(v.has_l4);
	cr_assert_eq(v.icmp_type, 8);
	cr_assert_eq(v.icmp_code, 0);
	cr_assert_eq(v.icmp_id, 0x4242);
	cr_assert_eq(v.sport, 0);
	cr_assert_eq(v.dport, 0);
	cr_assert_eq(v.payload_off, 28);
	cr_assert_eq(v.payload_len, 5);

	/* A 4-byte stub is enough for type/code. */
	cr_assert_eq(pkt_parse(&v, p, 24), 0);
	cr_assert_eq(v.icmp_type, 8);
	cr_assert_eq(v.payload_len, 0);
	cr_assert_eq(pkt_parse(&v, p, 23), -EBADMSG);
}

Test(packet, icmp_non_echo_has_no_id)
{
	uint8_t p[256];
	size_t len = mk_v4_icmp(p, 3, 0x4242);	/* dest unreachable */
	struct pkt_view v;

	p[21] = 4;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.icmp_type, 3);
	cr_assert_eq(v.icmp_code, 4);
	cr_assert_eq(v.icmp_id, 0);
}

Test(packet, icmpv6_echo)
{
	uint8_t p[256];
	size_t len = mk_v6_icmp(p, 128, 0x0a0b);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.family, 6);
	cr_assert_eq(v.l4proto, IPPROTO_ICMPV6);
	cr_assert(v.has_l4);
	cr_assert_eq(v.icmp_type, 128);
	cr_assert_eq(v.icmp_code, 0);
	cr_assert_eq(v.icmp_id, 0x0a0b);
	cr_assert_eq(v.payload_len, 5);
}

Test(packet, other_protocol)
{
	uint8_t p[256];
	size_t len = ip4_hdr(p, 47, 8, NULL, 0) + 8;	/* GRE */
	struct pkt_view v;

	memset(p + 20, 0, 8);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.l4proto, 47);
	cr_assert_not(v.has_l4);
	cr_assert_eq(v.l4_off, 20);
	cr_assert_eq(v.payload_len, 8);
}

Test(packet, truncated_tcp_every_length)
{
	uint8_t p[256], *c;
	size_t len = mk_v4_tcp_opts(p);
	struct pkt_view v;

	for (size_t l = 0; l <= len; l++) {
		int ret = parse_copy(&v, p, l, &c);

		if (l < 60) {
			/* Inside the IP or TCP header (options included). */
			cr_assert_eq(ret, -EBADMSG, "len %zu", l);
		} else {
			cr_assert_eq(ret, 0, "len %zu", l);
			cr_assert_eq(v.payload_len, l - 60);
			cr_assert_eq(v.mss, 1460);
			cr_assert_eq(v.wscale, 7);
			cr_assert(v.has_ts);
		}
		free(c);
	}
}

Test(packet, bad_version_and_ihl)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v;

	p[0] = 0x55;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[0] = 0x05;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[0] = 0x44;	/* IHL 4 < 5 */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[0] = 0x40;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[0] = 0x4f;	/* 60 bytes of header in a 33-byte packet */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);

	/* A v6 version nibble on a short buffer. */
	p[0] = 0x60;
	cr_assert_eq(pkt_parse(&v, p, 39), -EBADMSG);
	cr_assert_eq(pkt_parse(&v, NULL, 0), -EBADMSG);
}

Test(packet, bad_tcp_data_offset)
{
	uint8_t p[256];
	size_t len = mk_v4_tcp_opts(p);
	struct pkt_view v;

	p[32] = 4 << 4;		/* < 5 */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[32] = 0;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
	p[32] = 15 << 4;	/* 60 bytes, only 45 there */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
}

Test(packet, bad_tcp_option_length)
{
	uint8_t p[256];
	size_t len;
	struct pkt_view v;

	len = mk_v4_tcp_opts(p);
	p[41] = 0;		/* MSS length 0 */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);

	len = mk_v4_tcp_opts(p);
	p[41] = 1;		/* length 1 would never advance past itself */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);

	len = mk_v4_tcp_opts(p);
	p[47] = 30;		/* TS running past the TCP header */
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);

	len = mk_v4_tcp_opts(p);
	p[57] = 1;		/* NOP, NOP, kind 2 with no room for length */
	p[58] = 1;
	p[59] = 2;
	cr_assert_eq(pkt_parse(&v, p, len), -EBADMSG);
}

Test(packet, tcp_option_edge_cases)
{
	uint8_t p[256];
	size_t len;
	struct pkt_view v;

	/* EOL stops parsing: garbage after it is ignored. */
	len = mk_v4_tcp_opts(p);
	p[40] = 0;
	p[41] = 0;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.mss, 0);
	cr_assert_eq(v.wscale, -1);

	/* Known kind with the wrong size is skipped like Linux does. */
	len = mk_v4_tcp_opts(p);
	p[41] = 3;		/* MSS of length 3; next kind is at 43 */
	p[43] = 1;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.mss, 0);

	/* wscale reported as sent, above the RFC's 14. */
	len = mk_v4_tcp_opts(p);
	p[59] = 20;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.wscale, 20);
	p[59] = 200;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(v.wscale, 127);
}

/* The reference implementation against a published header (Wikipedia). */
Test(packet, reference_checksum_sanity)
{
	uint8_t h[20] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	struct pkt_view v;
	uint8_t buf[0x73] = { 0 };

	cr_assert_eq(ref_csum(h, 20), 0xb861);

	/* And pkt_fix_checksums gets the same header right. */
	memcpy(buf, h, 20);
	cr_assert_eq(pkt_parse(&v, buf, sizeof(buf)), 0);
	cr_assert_eq(pkt_fix_checksums(buf, sizeof(buf), &v), 0);
	cr_assert_eq(rd16(buf + 10), 0xb861);
}

/* Zero both checksums, repair, compare with the reference bytes. */
static void check_fix(const uint8_t *good, size_t len)
{
	uint8_t *p = malloc(len);
	struct pkt_view v;
	int ret;

	cr_assert_not_null(p);
	memcpy(p, good, len);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	if (v.family == 4)
		put16(p + 10, 0);
	if (v.l4proto == IPPROTO_TCP)
		put16(p + v.l4_off + 16, 0);
	else if (v.l4proto == IPPROTO_UDP)
		put16(p + v.l4_off + 6, 0);
	else
		put16(p + v.l4_off + 2, 0x1234);	/* garbage, not zero */
	ret = pkt_fix_checksums(p, len, &v);
	cr_assert_eq(ret, 0);
	cr_assert_arr_eq(p, good, len);
	free(p);
}

Test(packet, checksum_v4_udp)
{
	uint8_t p[256];

	check_fix(p, mk_v4_udp(p, "hello"));	/* odd payload */
	check_fix(p, mk_v4_udp(p, "hello!"));
	check_fix(p, mk_v4_udp(p, ""));
}

Test(packet, checksum_v4_tcp)
{
	uint8_t p[256];

	check_fix(p, mk_v4_tcp_opts(p));
}

Test(packet, checksum_v4_ip_options)
{
	static const uint8_t ipopt[4] = { 1, 1, 1, 0 };
	uint8_t p[256];
	size_t l4 = udp_hdr(p + 24, 7, 9, "opts");
	size_t len = ip4_hdr(p, IPPROTO_UDP, l4, ipopt, sizeof(ipopt)) + l4;

	ref_fill_l4(p, len, 4, IPPROTO_UDP, 24);
	check_fix(p, len);
}

Test(packet, checksum_v6_udp)
{
	uint8_t p[256];

	check_fix(p, mk_v6_udp(p, "query"));
	check_fix(p, mk_v6_udp(p, "query!"));
}

Test(packet, checksum_v6_tcp)
{
	uint8_t p[256];

	check_fix(p, mk_v6_tcp(p));
}

Test(packet, checksum_icmp)
{
	uint8_t p[256];

	check_fix(p, mk_v4_icmp(p, 8, 0x4242));
	check_fix(p, mk_v6_icmp(p, 128, 7));
}

Test(packet, checksum_long_payload)
{
	char payload[1401];
	uint8_t p[1500];

	/* Long enough to run the 16-byte loop many times. */
	for (size_t i = 0; i < sizeof(payload) - 1; i++)
		payload[i] = (char)(0x80 + i * 37);
	payload[sizeof(payload) - 1] = 0;
	for (size_t i = 0; i < sizeof(payload) - 1; i++)
		if (!payload[i])
			payload[i] = 1;
	check_fix(p, mk_v4_udp(p, payload));
	payload[1399] = 0;
	check_fix(p, mk_v6_udp(p, payload));
}

Test(packet, checksum_udp_zero_becomes_ffff)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hi\x01\x01");
	struct pkt_view v;
	uint16_t c;

	/*
	 * Overwrite the last payload word with the current checksum: that
	 * makes the sum 0xffff, so the computed checksum is 0, sent as ffff.
	 */
	put16(p + len - 2, 0);
	put16(p + 26, 0);
	c = ref_l4_csum(p, 4, IPPROTO_UDP, 20, len);
	put16(p + len - 2, c);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(pkt_fix_checksums(p, len, &v), 0);
	cr_assert_eq(rd16(p + 26), 0xffff);
	cr_assert_eq(ref_l4_csum(p, 4, IPPROTO_UDP, 20, len), 0xffff);
}

Test(packet, checksum_skips_fragments)
{
	uint8_t p[256];
	size_t len;
	struct pkt_view v;

	/* First fragment: IP header fixed, transport left alone. */
	len = mk_v4_udp(p, "hello");
	put16(p + 6, 0x2000);
	put16(p + 10, 0);
	put16(p + 26, 0xabcd);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(pkt_fix_checksums(p, len, &v), 0);
	cr_assert_eq(ref_sum(0, p, 20), 0xffff);	/* header verifies */
	cr_assert_eq(rd16(p + 26), 0xabcd);

	/* Non-first v6 fragment: nothing to do, nothing touched. */
	len = mk_v6_ext(p, 185 << 3);
	put16(p + 72 + 6, 0xabcd);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_eq(pkt_fix_checksums(p, len, &v), 0);
	cr_assert_eq(rd16(p + 72 + 6), 0xabcd);
}

Test(packet, checksum_rejects_inconsistent_view)
{
	uint8_t p[256];
	size_t len = mk_v4_tcp_opts(p);
	struct pkt_view v;

	cr_assert_eq(pkt_parse(&v, p, len), 0);
	/* A buffer shorter than the transport header the view promises. */
	cr_assert_eq(pkt_fix_checksums(p, 30, &v), -EBADMSG);
	v.family = 5;
	cr_assert_eq(pkt_fix_checksums(p, len, &v), -EBADMSG);
}

Test(packet, flow_key_symmetric)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v1, v2;
	struct pkt_flow_key k1, k2;
	bool s1, s2;

	cr_assert_eq(pkt_parse(&v1, p, len), 0);
	pkt_flow_key(&v1, &k1, &s1);
	reverse_v4(p);
	cr_assert_eq(pkt_parse(&v2, p, len), 0);
	cr_assert_eq(v2.sport, 5000);
	pkt_flow_key(&v2, &k2, &s2);

	cr_assert_eq(memcmp(&k1, &k2, sizeof(k1)), 0);
	cr_assert_neq(s1, s2);
	cr_assert_not(s1);	/* 10.0.0.1 < 10.0.0.2 */
	cr_assert_eq(k1.aport, 1234);
	cr_assert_eq(k1.bport, 5000);
	cr_assert_eq(k1.family, 4);
	cr_assert_eq(k1.l4proto, IPPROTO_UDP);
	cr_assert_eq(pkt_flow_hash(&k1), pkt_flow_hash(&k2));
}

Test(packet, flow_key_same_address_orders_ports)
{
	uint8_t p[256];
	size_t len = mk_v4_udp(p, "hello");
	struct pkt_view v1, v2;
	struct pkt_flow_key k1, k2;
	bool s1, s2;

	memcpy(p + 16, p + 12, 4);	/* 10.0.0.1 to itself */
	cr_assert_eq(pkt_parse(&v1, p, len), 0);
	pkt_flow_key(&v1, &k1, &s1);
	reverse_v4(p);
	cr_assert_eq(pkt_parse(&v2, p, len), 0);
	pkt_flow_key(&v2, &k2, &s2);
	cr_assert_eq(memcmp(&k1, &k2, sizeof(k1)), 0);
	cr_assert_neq(s1, s2);
	cr_assert_eq(k1.aport, 1234);
	cr_assert_eq(pkt_flow_hash(&k1), pkt_flow_hash(&k2));
}

Test(packet, flow_key_v6_tcp)
{
	uint8_t p[256];
	size_t len = mk_v6_tcp(p);
	struct pkt_view v1, v2;
	struct pkt_flow_key k1, k2;
	bool s1, s2;

	cr_assert_eq(pkt_parse(&v1, p, len), 0);
	pkt_flow_key(&v1, &k1, &s1);
	/* Build the reply by hand. */
	memcpy(p + 8, v6b, 16);
	memcpy(p + 24, v6a, 16);
	put16(p + 40, 443);
	put16(p + 42, 1234);
	cr_assert_eq(pkt_parse(&v2, p, len), 0);
	pkt_flow_key(&v2, &k2, &s2);
	cr_assert_eq(memcmp(&k1, &k2, sizeof(k1)), 0);
	cr_assert_neq(s1, s2);
	cr_assert_eq(pkt_flow_hash(&k1), pkt_flow_hash(&k2));
}

Test(packet, flow_key_icmp_echo_id)
{
	uint8_t p[256];
	struct pkt_view v;
	struct pkt_flow_key req, rep, other;
	bool s1, s2, s3;
	size_t len;

	cr_assert_eq(pkt_parse(&v, p, mk_v4_icmp(p, 8, 77)), 0);
	pkt_flow_key(&v, &req, &s1);
	len = mk_v4_icmp(p, 0, 77);
	memcpy(p + 12, v4b, 4);
	memcpy(p + 16, v4a, 4);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	pkt_flow_key(&v, &rep, &s2);
	cr_assert_eq(pkt_parse(&v, p, mk_v4_icmp(p, 8, 78)), 0);
	pkt_flow_key(&v, &other, &s3);

	cr_assert_eq(memcmp(&req, &rep, sizeof(req)), 0);
	cr_assert_neq(s1, s2);
	cr_assert_eq(req.aport, 77);
	cr_assert_eq(req.bport, 77);
	cr_assert_eq(pkt_flow_hash(&req), pkt_flow_hash(&rep));
	cr_assert_neq(memcmp(&req, &other, sizeof(req)), 0);
	cr_assert_neq(pkt_flow_hash(&req), pkt_flow_hash(&other));
}

Test(packet, flow_hash_sensitive_to_each_field)
{
	struct pkt_flow_key k, k2;
	uint64_t h;

	memset(&k, 0, sizeof(k));
	memcpy(k.a, v4a, 4);
	memcpy(k.b, v4b, 4);
	k.aport = 1;
	k.bport = 2;
	k.family = 4;
	k.l4proto = IPPROTO_TCP;
	h = pkt_flow_hash(&k);

	k2 = k;
	k2.aport = 3;
	cr_assert_neq(pkt_flow_hash(&k2), h);
	k2 = k;
	k2.l4proto = IPPROTO_UDP;
	cr_assert_neq(pkt_flow_hash(&k2), h);
	k2 = k;
	k2.b[15] = 1;
	cr_assert_neq(pkt_flow_hash(&k2), h);
	k2 = k;
	k2.family = 6;
	cr_assert_neq(pkt_flow_hash(&k2), h);
}

Test(packet, format_flow)
{
	uint8_t p[256];
	char buf[PKT_FLOW_STRLEN];
	struct pkt_view v;
	size_t len;
	int n;

	cr_assert_eq(pkt_parse(&v, p, mk_v4_udp(p, "x")), 0);
	n = pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "udp 10.0.0.1:1234 > 10.0.0.2:5000");
	cr_assert_eq(n, (int)strlen(buf));

	cr_assert_eq(pkt_parse(&v, p, mk_v6_tcp(p)), 0);
	pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "tcp [fd00::1]:1234 > [fd00::2]:443");

	cr_assert_eq(pkt_parse(&v, p, mk_v4_icmp(p, 8, 1)), 0);
	pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "icmp 10.0.0.1 > 10.0.0.2");

	cr_assert_eq(pkt_parse(&v, p, mk_v6_icmp(p, 128, 1)), 0);
	pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "icmp6 fd00::1 > fd00::2");

	len = ip4_hdr(p, 47, 4, NULL, 0) + 4;
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "proto 47 10.0.0.1 > 10.0.0.2");

	/* A later fragment has no ports to show. */
	cr_assert_eq(pkt_parse(&v, p, mk_v6_ext(p, 8)), 0);
	pkt_format_flow(&v, buf, sizeof(buf));
	cr_assert_str_eq(buf, "udp fd00::1 > fd00::2");

	/* Truncation behaves like snprintf. */
	cr_assert_eq(pkt_parse(&v, p, mk_v4_udp(p, "x")), 0);
	n = pkt_format_flow(&v, buf, 8);
	cr_assert_str_eq(buf, "udp 10.");
	cr_assert_eq(n, (int)strlen("udp 10.0.0.1:1234 > 10.0.0.2:5000"));
}

Test(packet, format_flow_longest_fits)
{
	uint8_t p[256];
	char buf[PKT_FLOW_STRLEN];
	struct pkt_view v;
	size_t len = mk_v6_udp(p, "");

	/* Addresses inet_ntop cannot shorten, maximal ports and name. */
	memset(p + 8, 0xff, 32);
	p[6] = IPPROTO_UDP;
	put16(p + 40, 65535);
	put16(p + 42, 65535);
	cr_assert_eq(pkt_parse(&v, p, len), 0);
	cr_assert_lt(pkt_format_flow(&v, buf, sizeof(buf)), PKT_FLOW_STRLEN);
	cr_assert_str_eq(buf,
			 "udp [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
			 " > [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

/* A copy cut by NFQUEUE's copy range: headers parsed, lengths the whole packet's. */
Test(packet, cut_copy_keeps_whole_lengths)
{
	uint8_t p[1600];
	char payload[1401];
	struct pkt_view v;
	size_t l4, len;

	memset(payload, 'a', 1400);
	payload[1400] = 0;
	l4 = tcp_hdr(p + 20, 40000, 80, PKT_TCP_ACK, syn_opts, sizeof(syn_opts), payload);
	len = ip4_hdr(p, IPPROTO_TCP, l4, NULL, 0) + l4;
	cr_assert_eq(pkt_parse_cut(&v, p, 128, len), 0);
	cr_assert_eq(v.len, 128);
	cr_assert_eq(v.wire_len, len);
	cr_assert_eq(v.payload_off, 60);
	cr_assert_eq(v.payload_len, 1400);
	cr_assert_eq(v.mss, 1460);

	/* GSO: the IP length field says 0; the packet's own length counts. */
	put16(p + 2, 0);
	cr_assert_eq(pkt_parse_cut(&v, p, 128, 30000), 0);
	cr_assert_eq(v.payload_len, 30000 - 60);

	/* The whole copy parses as before. */
	put16(p + 2, (uint16_t)len);
	cr_assert_eq(pkt_parse_cut(&v, p, len, len), 0);
	cr_assert_eq(v.payload_len, 1400);
}

Test(packet, cut_copy_needs_the_headers)
{
	uint8_t p[1600];
	struct pkt_view v;
	size_t l4 = tcp_hdr(p + 20, 40000, 80, PKT_TCP_ACK, syn_opts, sizeof(syn_opts), "x");
	size_t len = ip4_hdr(p, IPPROTO_TCP, l4, NULL, 0) + l4;

	/* Cut inside the TCP options: malformed as far as we can tell. */
	cr_assert_eq(pkt_parse_cut(&v, p, 50, 1500), -EBADMSG);
	/* A copy longer than the packet is a caller bug. */
	cr_assert_eq(pkt_parse_cut(&v, p, len, len - 1), -EBADMSG);
}

/* A checksum verifies when summing the header (or pseudo header and segment) gives 0. */
static void assert_checksums_verify(const uint8_t *p, size_t len)
{
	int family = p[0] >> 4;
	size_t l4 = family == 4 ? (size_t)(p[0] & 0x0f) * 4 : 40;

	if (family == 4)
		cr_assert_eq(ref_csum(p, l4), 0, "IPv4 header checksum");
	cr_assert_eq(ref_l4_csum(p, family, IPPROTO_TCP, l4, len), 0, "TCP checksum");
}

/* A RST to the sender swaps addresses and ports; to the receiver keeps them. */
Test(packet, make_rst_v4_both_ways)
{
	uint8_t p[256], r[PKT_RST_MAX];
	struct pkt_view v, rv;
	size_t n = mk_v4_tcp_opts(p);
	int len;

	cr_assert_eq(pkt_parse(&v, p, n), 0);
	len = pkt_make_rst(r, &v, true, 0xaabbccdd, 0x01020304);
	cr_assert_eq(len, 40);
	assert_checksums_verify(r, (size_t)len);
	cr_assert_eq(pkt_parse(&rv, r, (size_t)len), 0);
	cr_assert_arr_eq(rv.saddr, v4b, 4);
	cr_assert_arr_eq(rv.daddr, v4a, 4);
	cr_assert_eq(rv.sport, 80);
	cr_assert_eq(rv.dport, 40000);
	cr_assert_eq(rv.seq, 0xaabbccdd);
	cr_assert_eq(rv.ack, 0x01020304);
	cr_assert_eq(rv.tcp_flags, PKT_TCP_RST | PKT_TCP_ACK);
	cr_assert_eq(rv.payload_len, 0);
	cr_assert_eq(rv.window, 0);
	cr_assert_eq(rd16(r + 2), 40);
	cr_assert_eq(rd16(r + 6), 0x4000, "DF, id 0");

	len = pkt_make_rst(r, &v, false, 7, 8);
	cr_assert_eq(len, 40);
	assert_checksums_verify(r, (size_t)len);
	cr_assert_eq(pkt_parse(&rv, r, (size_t)len), 0);
	cr_assert_arr_eq(rv.saddr, v4a, 4);
	cr_assert_eq(rv.sport, 40000);
	cr_assert_eq(rv.dport, 80);
	cr_assert_eq(rv.seq, 7);
	cr_assert_eq(rv.ack, 8);
}

Test(packet, make_rst_v6_and_not_tcp)
{
	uint8_t p[256], r[PKT_RST_MAX];
	struct pkt_view v, rv;
	size_t n = mk_v6_tcp(p);
	int len;

	cr_assert_eq(pkt_parse(&v, p, n), 0);
	len = pkt_make_rst(r, &v, true, 1, 2);
	cr_assert_eq(len, 60);
	assert_checksums_verify(r, (size_t)len);
	cr_assert_eq(pkt_parse(&rv, r, (size_t)len), 0);
	cr_assert_eq(rv.family, 6);
	cr_assert_arr_eq(rv.saddr, v6b, 16);
	cr_assert_arr_eq(rv.daddr, v6a, 16);
	cr_assert_eq(rv.sport, 443);
	cr_assert_eq(rv.dport, 1234);
	cr_assert_eq(rd16(r + 4), 20, "payload length");

	n = mk_v4_udp(p, "hi");
	cr_assert_eq(pkt_parse(&v, p, n), 0);
	cr_assert_eq(pkt_make_rst(r, &v, true, 1, 2), -EINVAL);
}

/* A bare SYN from the given end to the other, either family, checksums complete. */
Test(packet, make_syn_v4_v6)
{
	uint8_t r[PKT_RST_MAX];
	struct pkt_view rv;
	int len = pkt_make_syn(r, 4, v4a, v4b, 9000, 40001, 5);

	cr_assert_eq(len, 40);
	assert_checksums_verify(r, (size_t)len);
	cr_assert_eq(pkt_parse(&rv, r, (size_t)len), 0);
	cr_assert_arr_eq(rv.saddr, v4a, 4);
	cr_assert_arr_eq(rv.daddr, v4b, 4);
	cr_assert_eq(rv.sport, 9000);
	cr_assert_eq(rv.dport, 40001);
	cr_assert_eq(rv.seq, 5);
	cr_assert_eq(rv.ack, 0);
	cr_assert_eq(rv.tcp_flags, PKT_TCP_SYN);
	cr_assert_eq(rv.payload_len, 0);
	len = pkt_make_syn(r, 6, v6a, v6b, 1, 2, 3);
	cr_assert_eq(len, 60);
	assert_checksums_verify(r, (size_t)len);
	cr_assert_eq(pkt_parse(&rv, r, (size_t)len), 0);
	cr_assert_arr_eq(rv.daddr, v6b, 16);
	cr_assert_eq(rv.tcp_flags, PKT_TCP_SYN);
	cr_assert_eq(pkt_make_syn(r, 5, v4a, v4b, 1, 2, 3), -EINVAL);
}

/*
 * pkt_slice: each piece carries its bytes at seq + off, its IP lengths,
 * checksums that verify by the reference sum, FIN and PSH only on the
 * last; the pieces together are the payload. IPv4 (with options kept in
 * the TCP header) and IPv6.
 */
static void check_slices(uint8_t *p, size_t n, uint32_t size)
{
	struct pkt_view v, pv;
	uint8_t buf[512], joined[256];
	uint32_t off = 0, k;
	uint16_t i = 0;

	cr_assert_eq(pkt_parse(&v, p, n), 0);
	p[v.l4_off + 13] |= PKT_TCP_FIN;
	cr_assert_eq(pkt_parse(&v, p, n), 0);
	for (; off < v.payload_len; off += k, i++) {
		int len;

		k = v.payload_len - off < size ? v.payload_len - off : size;
		len = pkt_slice(buf, sizeof(buf), &v, off, k, i);
		cr_assert_eq(len, (int)(v.payload_off + k));
		assert_checksums_verify(buf, (size_t)len);
		cr_assert_eq(pkt_parse(&pv, buf, (size_t)len), 0);
		cr_assert_eq(pv.seq, v.seq + off);
		cr_assert_eq(pv.ack, v.ack);
		cr_assert_eq(pv.payload_len, k);
		cr_assert_eq(pv.tcp_hdr_len, v.tcp_hdr_len, "options kept");
		if (v.family == 4) {
			cr_assert_eq(rd16(buf + 2), len);
			cr_assert_eq(rd16(buf + 4), (uint16_t)(rd16(p + 4) + i), "id moves on");
		} else {
			cr_assert_eq(rd16(buf + 4), len - 40);
		}
		cr_assert_eq(!!(pv.tcp_flags & PKT_TCP_FIN), off + k == v.payload_len);
		cr_assert_eq(!!(pv.tcp_flags & PKT_TCP_PSH), off + k == v.payload_len && (v.tcp_flags & PKT_TCP_PSH));
		memcpy(joined + off, buf + pv.payload_off, k);
	}
	cr_assert_arr_eq(joined, p + v.payload_off, v.payload_len);
	cr_assert_eq(pkt_slice(buf, sizeof(buf), &v, 1, v.payload_len, 0), -EINVAL, "past the end");
	cr_assert_eq(pkt_slice(buf, 10, &v, 0, 1, 0), -ENOSPC);
}

Test(packet, slice_v4_with_options_and_v6)
{
	uint8_t p[512];
	size_t n;

	n = mk_v4_tcp_opts(p);	/* 5 bytes of payload */
	check_slices(p, n, 2);
	n = mk_v6_tcp(p);	/* 3 bytes */
	check_slices(p, n, 1);
	n = mk_v6_tcp(p);
	check_slices(p, n, 3);
}

/* A cut copy or a datagram cannot be sliced. */
Test(packet, slice_refuses_what_it_cannot_cut)
{
	uint8_t p[512], buf[512];
	struct pkt_view v;
	size_t n = mk_v4_tcp_opts(p);

	cr_assert_eq(pkt_parse_cut(&v, p, n - 2, n), 0);
	cr_assert_eq(pkt_slice(buf, sizeof(buf), &v, 0, 1, 0), -EINVAL);
	n = mk_v4_udp(p, "hello");
	cr_assert_eq(pkt_parse(&v, p, n), 0);
	cr_assert_eq(pkt_slice(buf, sizeof(buf), &v, 0, 1, 0), -EINVAL);
}
