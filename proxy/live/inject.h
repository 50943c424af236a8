/* SPDX-License-Identifier: MIT */
/*
 * inject: send extra copies of packets (duplicate) through raw IP sockets
 * in the target namespace. Every injected packet carries faultline's
 * firewall mark, so faultline's own chain lets it pass instead of queueing
 * it again. A copy to a local address loops back and is delivered locally;
 * any other goes out as the original would.
 */
#ifndef FL_INJECT_H
#define FL_INJECT_H

#include <stdint.h>

#include "packet.h"

struct inject;

/* Open raw IPv4 and IPv6 sockets marked with mark. NULL with errno set (EPERM without CAP_NET_RAW). */
struct inject *inject_open(uint32_t mark);
void inject_close(struct inject *j);

/*
 * Send a copy of the parsed packet v (bytes borrowed). A TCP super-packet
 * bigger than the path allows is cut into MSS-sized segments first, with
 * sequence numbers, lengths and checksums fixed. Returns the number of
 * datagrams sent or -errno.
 */
int inject_send(struct inject *j, const struct pkt_view *v);

#endif
