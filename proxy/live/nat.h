/* SPDX-License-Identifier: MIT */
/*
 * nat: the kernel forwarding of the toxiproxy API's proxies (toxi.h). A
 * proxy "listen L:P, upstream U:Y" is a DNAT rule in the nat table, so a
 * connection to L:P goes to U:Y with no user-space socket on its way, and
 * a MASQUERADE rule for the connections so translated, so that the
 * upstream answers through this namespace (and a client on loopback gets
 * a source the upstream can answer). Two chains per run, jumped to from
 * OUTPUT and PREROUTING (DNAT) and from POSTROUTING (MASQUERADE):
 *   FAULTLINE-NAT-<queue>   FAULTLINE-SNAT-<queue>
 * Each change rewrites both chains in one iptables-restore (atomic). A
 * client on loopback reaching a remote upstream needs the kernel's
 * route_localnet: it is set while proxies exist and put back as it was;
 * its old value is also written into the SNAT chain as a comment rule
 * ("faultline-route-localnet=V"), so that `faultline cleanup` can put it
 * back after a kill -9. A last rule keeps the kernel's connection tracking
 * in use from the first change to the removal, whatever the proxies: its
 * going away would drop every queued packet (nat.c). IPv4 only. Runs in the calling thread's network
 * namespace; not thread-safe (the loop thread calls it).
 */
#ifndef FL_NAT_H
#define FL_NAT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipt.h"
#include "strbuf.h"

#define NAT_CHAIN_DNAT "FAULTLINE-NAT-"
#define NAT_CHAIN_SNAT "FAULTLINE-SNAT-"
#define NAT_LOCALNET_MARK "faultline-route-localnet="
#define NAT_CONNTRACK_MARK "faultline-keeps-conntrack"
/*
 * The source ports MASQUERADE gives the proxies' connections to their
 * upstream: above Linux's default ephemeral range (32768-60999), so the
 * upstream's answers to a proxy's connections, and not to the
 * namespace's own connections to the same upstream, are to these ports
 * (toxi.c's downstream filter). At most this many connections at once
 * per upstream address and port.
 */
#define NAT_MASQ_PORT_LO 61000
#define NAT_MASQ_PORT_HI 65535

/* One proxy as the kernel forwards it. Addresses and ports in network order. */
struct nat_proxy {
	int proto;			/* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_in listen;	/* sin_addr 0: any local address */
	struct sockaddr_in upstream;
};

/*
 * The iptables-restore script (--noflush) that makes the chains of queue
 * hold exactly the n proxies p (borrowed), with the jumps to them when
 * 'jumps' (the first time); localnet is the value route_localnet had
 * before (-1: unknown, not written). Pure. Returns 0 or -ENOMEM.
 */
int nat_script(uint16_t queue, bool jumps, int localnet, const struct nat_proxy *p, size_t n,
	       struct strbuf *out);

/* The script that removes queue's chains and their jumps. Pure. 0 or -ENOMEM. */
int nat_removal_script(uint16_t queue, struct strbuf *out);

struct nat;

/*
 * The forwarding of one run (queue names its chains; they go to iptables
 * backend b, AUTO: the system's, as the run's mangle chain). Touches
 * nothing yet. NULL + errno.
 */
struct nat *nat_new(uint16_t queue, enum ipt_backend b);

/*
 * Forward exactly the n proxies p (borrowed): 0, or -errno with *e saying
 * why (then the kernel forwards as before).
 */
int nat_set(struct nat *t, const struct nat_proxy *p, size_t n, struct ipt_error *e);

/*
 * Remove the chains and put route_localnet back, if nat_set ever installed
 * them: 0 or -errno (*e). The object stays valid (nat_set may install
 * again).
 */
int nat_remove(struct nat *t, struct ipt_error *e);

/* Free (nat_remove first to take the chains away). NULL-safe. */
void nat_free(struct nat *t);

/*
 * Hold the local address a (IPv4, proto's socket type; port 0: a free one,
 * written back into a) with a bound socket that never listens, so that no
 * program takes the port while a proxy forwards it. The fd, or -errno.
 */
int nat_reserve(int proto, struct sockaddr_in *a);

/*
 * `faultline cleanup`: remove the chains of every queue nobody holds (a
 * killed run), in either iptables backend, putting route_localnet back
 * from their note. *removed counts the queues cleaned. 0 or -errno (*e).
 */
int nat_cleanup(int *removed, struct ipt_error *e);

/*
 * From an iptables-save output (borrowed): up to max queues whose NAT
 * chains it lists, into q; their route_localnet notes into localnet
 * (-1 none). Returns the count. Pure.
 */
int nat_parse_save(const char *save, uint16_t *q, int *localnet, int max);

#endif
