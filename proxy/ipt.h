/* SPDX-License-Identifier: MIT */
/*
 * ipt: faultline's iptables/ip6tables chains. One chain per queue range,
 * FAULTLINE-<first queue>, in the mangle table:
 *   - packets carrying faultline's mark (its own injected copies) RETURN;
 *   - everything else goes to NFQUEUE with --queue-bypass, so traffic keeps
 *     flowing whenever no faultline is bound to the queue (crash, kill -9).
 * It is jumped to from OUTPUT (loopback included), from PREROUTING for
 * packets to a local address (loopback excluded, so a loopback packet is
 * seen once, on its way out), and from FORWARD on request. Changes go through iptables-restore, so each one is
 * atomic. Runs in the caller's network namespace.
 */
#ifndef FL_IPT_H
#define FL_IPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPT_CHAIN_PREFIX "FAULTLINE-"

struct ipt_config {
	uint16_t queue;		/* first queue */
	uint16_t queues;	/* number of queues (>= 1): --queue-balance */
	uint32_t mark;		/* mark of injected packets, matched exactly */
	bool forward;		/* also hook FORWARD */
	bool ipv6;		/* also install the ip6tables chain */
};

/*
 * Install the chain for both families (IPv6 if asked). On failure nothing
 * stays installed. Returns 0 or -errno with a message in err.
 */
int ipt_install(const struct ipt_config *c, char *err, size_t errlen);

/* Remove the chain of queue 'queue' and its jumps. Returns 0 or -errno. */
int ipt_remove(uint16_t queue, bool ipv6, char *err, size_t errlen);

/*
 * Remove every FAULTLINE-* chain and jump (both families), e.g. after a
 * crash. *removed counts the chains removed. Returns 0 or -errno.
 */
int ipt_cleanup(int *removed, char *err, size_t errlen);

/* Is the iptables-restore binary there? */
bool ipt_available(void);

/*
 * Is it the legacy backend? Its iptables-restore opens a raw socket, so
 * removing the chain at exit needs CAP_NET_RAW besides CAP_NET_ADMIN.
 */
bool ipt_legacy(void);

#endif
