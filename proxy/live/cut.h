/* SPDX-License-Identifier: MIT */
/*
 * cut: end the open connections of a toxiproxy API proxy (toxi.h) that
 * stops forwarding, at once, as toxiproxy closes both sides of its
 * connections. The kernel forwards them (nat.h) and keeps translating an
 * established connection from its conntrack entry whatever the nat chain
 * says later, and no user-space socket of faultline holds them, so:
 *   1. the proxy's conntrack entries are deleted (ctnetlink, through
 *      libnetfilter_conntrack): no later packet follows the old
 *      translation;
 *   2. each end of a TCP connection that may still hold a socket gets a
 *      SYN from the address it talks to. A TCP socket answers a SYN in an
 *      established connection with an ACK carrying its own sequence
 *      numbers (RFC 5961's challenge ACK); that ACK now meets no
 *      translation and no socket in this namespace, so the kernel answers
 *      it with a RST whose sequence number is the one that end expects,
 *      and the end is reset. No packet needs to come from the
 *      application: an idle connection is cut too.
 * A UDP proxy's flows lose their entries only (step 1): their next
 * datagram is not forwarded.
 *
 * cut_owns and cut_probes are pure; cut_proxy runs in the calling
 * thread's network namespace (the loop thread's, where nat.h's chains are).
 */
#ifndef FL_CUT_H
#define FL_CUT_H

#include <stdbool.h>
#include <stdint.h>

#include "nat.h"
#include "packet.h"

/* One conntrack entry, as cut needs it. Addresses as on the wire (4 or 16 bytes), ports in host order. */
struct cut_conn {
	uint8_t family;		/* 4 or 6 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t tcp_state;	/* conntrack's TCP state (TCP_CONNTRACK_*), TCP only */
	bool dnat;		/* the entry's destination was translated */
	uint8_t osrc[16], odst[16];	/* original direction: client to listen address */
	uint8_t rsrc[16], rdst[16];	/* reply direction: upstream to the translated source */
	uint16_t osport, odport, rsport, rdport;
};

/*
 * Whether c is a connection proxy p forwarded: p's protocol, destination
 * translated from p's listen address and port (any local address when p
 * listens on any) to its upstream. Pure.
 */
bool cut_owns(const struct nat_proxy *p, const struct cut_conn *c);

/*
 * The SYNs that make both ends of c answer (see above) into buf: [0] to
 * the client from the listen address, [1] to the upstream from the
 * translated source, their lengths into len. Returns the count: 2, or 0
 * when c is not TCP or no end can hold a socket in its state (SYN_SENT:
 * the upstream never answered; TIME_WAIT, CLOSE). Pure.
 */
int cut_probes(const struct cut_conn *c, uint8_t buf[2][PKT_RST_MAX], int len[2]);

/* What cut_proxy did. */
struct cut_stats {
	unsigned found;		/* p's conntrack entries */
	unsigned deleted;	/* of them deleted (or gone meanwhile) */
	unsigned probed;	/* SYNs sent */
	int probe_err;		/* 0, or why SYNs could not be sent (-EPERM without CAP_NET_RAW) */
};

/*
 * Cut every connection of p (borrowed): its conntrack entries deleted,
 * both ends of its TCP connections probed through a raw socket whose
 * packets carry mark (faultline's own chain lets them pass). Returns 0,
 * or -errno when conntrack could not be read or an entry not deleted;
 * *st says what was done either way.
 */
int cut_proxy(const struct nat_proxy *p, uint32_t mark, struct cut_stats *st);

#endif
