/* SPDX-License-Identifier: MIT */
/*
 * packet: parse one IPv4/IPv6 packet (as NFQUEUE hands it over, starting at
 * the IP header) into a flat view, and fix checksums of packets we rewrite.
 * Pure: no allocation, no I/O. Network byte order exists only in packet.c;
 * every field of struct pkt_view is in host order.
 */
#ifndef FL_PACKET_H
#define FL_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the packet was taken, relative to the target namespace. */
enum pkt_dir {
	PKT_DIR_IN = 0,	 /* INPUT hook: arriving at a local socket */
	PKT_DIR_OUT = 1, /* OUTPUT hook: sent by a local socket */
	PKT_DIR_FWD = 2, /* FORWARD hook: routed through the namespace */
};

enum pkt_tcp_flag {
	PKT_TCP_FIN = 0x01,
	PKT_TCP_SYN = 0x02,
	PKT_TCP_RST = 0x04,
	PKT_TCP_PSH = 0x08,
	PKT_TCP_ACK = 0x10,
	PKT_TCP_URG = 0x20,
	PKT_TCP_ECE = 0x40,
	PKT_TCP_CWR = 0x80,
};

/*
 * A parsed packet. Transparent because callers keep it on the stack on the
 * hot path. 'data' is borrowed from the caller's buffer.
 */
struct pkt_view {
	const uint8_t *data;
	uint32_t len;		/* bytes available in data */
	uint32_t wire_len;	/* bytes of the whole packet; > len when the copy was cut */

	uint8_t family;		/* 4 or 6 */
	uint8_t l4proto;	/* IPPROTO_TCP/UDP/ICMP/ICMPV6, or other */
	uint8_t saddr[16];	/* IPv4 uses the first 4 bytes */
	uint8_t daddr[16];
	uint16_t l3_hdr_len;	/* IPv4 header incl. options, IPv6 incl. ext hdrs */
	uint16_t l4_off;	/* offset of the transport header in data */
	bool fragment;		/* non-first fragment: no transport header */
	bool first_fragment;	/* offset 0, more follow: L4 csum spans fragments */
	bool has_l4;		/* transport header parsed */

	uint16_t sport, dport;	/* TCP/UDP ports, 0 otherwise */
	uint32_t payload_off;	/* transport payload offset in data */
	uint32_t payload_len;	/* transport payload length of the whole packet (GSO-safe);
				 * may reach past len in a cut copy */

	/* TCP only */
	uint32_t seq, ack;
	uint8_t tcp_flags;	/* enum pkt_tcp_flag bits */
	uint16_t window;	/* raw, unscaled */
	uint16_t tcp_hdr_len;
	uint16_t mss;		/* 0 if absent */
	int8_t wscale;		/* -1 if absent */
	bool sack_ok;
	bool has_ts;
	uint32_t ts_val, ts_ecr;

	/* ICMP / ICMPv6 only */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;	/* echo request/reply identifier, 0 otherwise */
};

/*
 * Parse len bytes at data into v. Returns 0, or -EBADMSG for a truncated or
 * malformed packet (v is then partially filled and must not be used for
 * matching). Never reads past data+len.
 */
int pkt_parse(struct pkt_view *v, const uint8_t *data, size_t len);

/*
 * The same for a copy cut short: the first caplen bytes of a packet of
 * wirelen bytes (NFQUEUE's copy range, a capture's snap length). Headers
 * must lie within the copy; lengths (payload_len) are the whole packet's,
 * from the IP length field, or wirelen where that is 0 or stale (GSO).
 */
int pkt_parse_cut(struct pkt_view *v, const uint8_t *data, size_t caplen, size_t wirelen);

/* The whole packet's length (a view built by hand may leave wire_len 0). */
static inline uint32_t pkt_wire_len(const struct pkt_view *v)
{
	return v->wire_len > v->len ? v->wire_len : v->len;
}

/*
 * Recompute the IPv4 header checksum (if IPv4) and the TCP/UDP/ICMP/ICMPv6
 * checksum of a packet in place, over the whole buffer. The packet must have
 * been parsed into v from the same buffer. Returns 0 or -EBADMSG.
 */
int pkt_fix_checksums(uint8_t *data, size_t len, const struct pkt_view *v);

/* Bytes a packet of pkt_make_rst() takes at most: IPv6 and a bare TCP header. */
#define PKT_RST_MAX 60

/*
 * Build into buf a bare TCP RST+ACK (no payload, no options, window 0) in
 * the connection of the parsed TCP segment v: to its sender, from its
 * receiver's address and port, when to_sender, else to its receiver from
 * the sender's. seq and ack are the RST's. IPv4 without options (DF, TTL
 * 64) or IPv6 without extension headers (hop limit 64), checksums
 * complete. Returns its length (40 or 60), or -EINVAL when v is not a
 * TCP segment.
 */
int pkt_make_rst(uint8_t buf[static PKT_RST_MAX], const struct pkt_view *v, bool to_sender,
		 uint32_t seq, uint32_t ack);

/*
 * Build into buf a bare TCP SYN (no payload, no options, window 0) from
 * src:sport to dst:dport (addresses of family 4 or 6: 4 or 16 bytes,
 * ports in host order), sequence number seq, as pkt_make_rst builds its
 * RST. Sent into an established connection it makes the receiver answer
 * with an ACK carrying its own sequence numbers (RFC 5961's challenge
 * ACK). Returns its length (40 or 60), or -EINVAL (another family).
 */
int pkt_make_syn(uint8_t buf[static PKT_RST_MAX], uint8_t family, const uint8_t *src, const uint8_t *dst,
		 uint16_t sport, uint16_t dport, uint32_t seq);

/*
 * Build into buf (size bytes) the piece of the parsed TCP segment v (whole,
 * not a cut copy) that carries payload bytes [off, off + n): v's IP and TCP
 * headers, options and extension headers included, with the sequence
 * number moved on by off, the IP lengths of the piece, the IPv4 id moved
 * on by 'index' (as the kernel's segmentation does), FIN and PSH only when
 * the piece ends where v's payload ends, and complete checksums. Returns
 * the piece's length, -EINVAL (not a whole TCP segment, or the range is
 * not within its payload, or n is 0 while v has payload) or -ENOSPC.
 */
int pkt_slice(uint8_t *buf, size_t size, const struct pkt_view *v, uint32_t off, uint32_t n,
	      uint16_t index);

/*
 * A direction-independent flow key: both directions of one connection give
 * the same key. 'swapped' tells whether v's source is the key's second end.
 */
struct pkt_flow_key {
	uint8_t a[16], b[16];
	uint16_t aport, bport;
	uint8_t family, l4proto;
};
void pkt_flow_key(const struct pkt_view *v, struct pkt_flow_key *key, bool *swapped);
uint64_t pkt_flow_hash(const struct pkt_flow_key *key);

/*
 * The name of a transport protocol as pcap-filter spells it ("tcp", "udp",
 * "icmp", "icmp6"), or NULL for one faultline does not parse. Static.
 */
const char *pkt_proto_name(uint8_t l4proto);

/*
 * Format "udp 10.0.0.1:1234 > 10.0.0.2:5000" into buf ("proto 47 ..." for a
 * protocol pkt_proto_name does not name); returns length as snprintf does
 * (the untruncated length), or -EINVAL for a bad family.
 * PKT_FLOW_STRLEN bytes always suffice.
 */
#define PKT_FLOW_STRLEN 128
int pkt_format_flow(const struct pkt_view *v, char *buf, size_t size);

#endif
