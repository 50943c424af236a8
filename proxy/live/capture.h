/* SPDX-License-Identifier: MIT */
/*
 * capture: one NFQUEUE queue over libmnl. Binds the queue with the settings
 * faultline needs (GSO super-packets, fail-open, large queue and socket
 * buffer), reads packets in bounded bursts and sends verdicts, several per
 * netlink send. Knows nothing of rules; the proxy decides.
 */
#ifndef FL_CAPTURE_H
#define FL_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "packet.h"

/* Verdicts, as the kernel numbers them (NF_DROP, NF_ACCEPT). */
#define CAPTURE_DROP 0
#define CAPTURE_ACCEPT 1

/* What a 0 in capture_config stands for. */
#define CAPTURE_DEFAULT_QUEUE_MAXLEN 65536u
#define CAPTURE_DEFAULT_RCVBUF (64u << 20)

struct capture_config {
	uint16_t queue;
	uint32_t queue_maxlen;	/* kernel queue length (0: CAPTURE_DEFAULT_QUEUE_MAXLEN) */
	uint32_t rcvbuf;	/* SO_RCVBUFFORCE bytes (0: CAPTURE_DEFAULT_RCVBUF) */
	uint32_t copy_range;	/* bytes of each packet copied to us (default 0xffff) */
	uint32_t sndbuf;	/* SO_SNDBUFFORCE bytes (default 256 KiB: one full transmit buffer) */
};

/* One queued packet. data is borrowed from the receive buffer until the next read. */
struct capture_pkt {
	uint32_t id;
	uint8_t hook;		/* NF_INET_LOCAL_IN, _LOCAL_OUT, _FORWARD ... */
	enum pkt_dir dir;	/* the hook as seen from the namespace */
	uint16_t hw_proto;	/* ETH_P_IP / ETH_P_IPV6, host order */
	uint8_t *data;
	uint32_t len;		/* bytes in data */
	uint32_t orig_len;	/* length on the wire (> len when the copy was cut) */
	uint32_t mark;
	uint64_t tstamp_ns;	/* kernel receive time (CLOCK_REALTIME), 0 when the skb has none */
	bool gso;		/* a GSO super-packet: several wire segments */
	bool csum_not_ready;	/* checksum left to offload: do not validate it */
};

typedef void (*capture_pkt_cb)(void *data, struct capture_pkt *p);

struct capture_stats {
	uint64_t packets, bursts, enobufs, sends, verdicts, batch_verdicts;
	uint64_t stamped;	/* packets that carried a kernel receive time */
	uint64_t lost;		/* verdict messages no send could carry to the kernel */
	uint64_t refused;	/* verdict messages the kernel answered with an error */
	uint64_t config_errors;	/* other messages not sent, or answered with an error */
};

struct capture;

/*
 * Open the netlink socket and bind the queue (cfg is copied). NULL with
 * errno set: EBUSY when another socket holds the queue, EPERM without
 * CAP_NET_ADMIN.
 */
struct capture *capture_open(const struct capture_config *cfg);
/* Unbind, close, free. Packets still queued are dropped by the kernel, so drain first. */
void capture_close(struct capture *c);
int capture_fd(const struct capture *c);

/*
 * Read up to 'budget' packets that are already waiting, calling cb for each.
 * Returns the number read (0 when none waited) or -errno. ENOBUFS (the
 * kernel dropped messages because our socket was full) is counted, not fatal.
 */
int capture_read(struct capture *c, int budget, capture_pkt_cb cb, void *data);

/*
 * The same in two steps, for a reader thread that must not hold the
 * queue's lock while it sleeps: capture_recv takes one batch of messages
 * into the capture's buffers (with wait, sleeping until at least one
 * arrives or the receive timeout passes) and returns how many, 0 on
 * timeout/EINTR/ENOBUFS, or -errno. capture_dispatch then runs cb over
 * them and updates the counters; only it touches shared state.
 * capture_more says whether the batch was full, so more may wait.
 */
int capture_recv(struct capture *c, bool wait);
int capture_dispatch(struct capture *c, capture_pkt_cb cb, void *data);
bool capture_more(const struct capture *c, int received);
/* Bound a waiting capture_recv, so its thread can notice a stop. */
int capture_set_recv_timeout(struct capture *c, unsigned ms);

/*
 * Queue a verdict for id; with payload non-NULL the packet is replaced by
 * those bytes (copied). Verdicts go out on capture_flush() or when one
 * send would carry no more. Returns 0, or -EMSGSIZE when no send can
 * carry it (a payload larger than the socket's send buffer).
 */
int capture_verdict(struct capture *c, uint32_t id, int verdict, const uint8_t *payload,
		    uint32_t len);
/* Change how many bytes of each packet are copied to us, at run time. */
int capture_set_copy_range(struct capture *c, uint32_t range);
uint32_t capture_copy_range(const struct capture *c);
/* Accept every packet with an id <= id that still waits in the kernel. */
int capture_accept_upto(struct capture *c, uint32_t id);
/*
 * Send the queued verdicts, in as many sends as the socket's send buffer
 * needs. Returns 0, or the first -errno of a verdict that could not be
 * sent; those are counted in capture_stats.lost. Errors the kernel
 * reports for verdicts it took come back on the socket and are counted
 * (refused) by the next capture_dispatch.
 */
int capture_flush(struct capture *c);

void capture_get_stats(const struct capture *c, struct capture_stats *s);

#endif
