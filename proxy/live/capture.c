// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "capture.h"
#include "hot.h"
#include "ipt.h"

/* As libnetfilter_queue's example: one full packet plus netlink overhead. */
#define RX_BUF_SIZE (0xffff + MNL_SOCKET_BUFFER_SIZE / 2)
/* RX_BUF_SIZE is odd: each buffer starts aligned, as netlink headers must be. */
#define RX_STRIDE MNL_ALIGN(RX_BUF_SIZE)
#define RX_BATCH 32
#define TX_BUF_SIZE (1u << 18)
/* netlink_sendmsg() refuses (EMSGSIZE) a send longer than sk_sndbuf - 32. */
#define SNDBUF_SLACK 32
/* Room for one verdict without payload, or one config message. */
#define MSG_ROOM 256

struct capture {
	struct mnl_socket *nl;
	uint32_t portid;
	uint16_t queue;
	struct capture_stats st;
	capture_pkt_cb cb;
	void *cb_data;
	char *rx;		/* RX_BATCH buffers of RX_BUF_SIZE, RX_STRIDE apart */
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	uint32_t copy_range;
	int pending;		/* messages received, not yet dispatched */
	uint64_t lost_enobufs;	/* counted by the reader, folded into st on dispatch */
	char *tx;
	size_t tx_len;
	size_t tx_max;		/* bytes one send may carry: the socket's send buffer allows no more */
};

/* The most one send may carry, from the socket's send buffer as the kernel set it. */
static size_t send_limit(struct capture *c)
{
	int sz = 0;
	socklen_t len = sizeof(sz);
	size_t max = TX_BUF_SIZE;

	if (!getsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_SNDBUF, &sz, &len) &&
	    sz > SNDBUF_SLACK && (size_t)(sz - SNDBUF_SLACK) < max)
		max = (size_t)(sz - SNDBUF_SLACK);
	return max;
}

/*
 * A send of the whole transmit buffer needs a send buffer at least as
 * large; the default (212,992 bytes) carries about 6,600 verdicts, fewer
 * than one shutdown can release. Ask for enough (the kernel doubles the
 * value); without CAP_NET_ADMIN the plain option is capped at wmem_max.
 * Whatever we get, send_limit() says what one send may carry.
 */
static void size_send_buffer(struct capture *c, uint32_t want)
{
	int fd = mnl_socket_get_fd(c->nl), sz = (int)(want ? want : TX_BUF_SIZE);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	c->tx_max = send_limit(c);
}

static int send_config(struct capture *c, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int ret;

	/* Ask for an ACK: binding fails (EBUSY, EPERM) only in the answer. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	ret = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
	if (ret < 0)
		return -errno;
	ret = mnl_cb_run(buf, ret, 1, c->portid, NULL, NULL);
	return ret < 0 ? -errno : 0;
}

/* Bind the socket to c->queue: 0, -EBUSY if another socket holds it, or -errno. */
static int bind_queue(struct capture *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, c->queue);
	int ret;

	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	ret = send_config(c, nlh);
	/*
	 * The kernel says EPERM, as for a missing CAP_NET_ADMIN, when another
	 * socket holds the queue: tell the two apart by what it lists as bound.
	 */
	if (ret == -EPERM && ipt_queue_owner(c->queue, NULL) == 1)
		ret = -EBUSY;
	return ret;
}

/* Copy range, queue length and flags of the bound queue: 0 or -errno. */
static int set_params(struct capture *c, const struct capture_config *cfg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, c->queue);
	uint32_t flags;

	c->copy_range = cfg->copy_range ? cfg->copy_range : 0xffff;
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, c->copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, cfg->queue_maxlen ? cfg->queue_maxlen : CAPTURE_DEFAULT_QUEUE_MAXLEN);
	/*
	 * GSO: take super-packets whole instead of having the kernel segment
	 * and checksum them in software first (3x the TCP throughput here).
	 * FAIL_OPEN: when the queue is full, let packets through rather than
	 * drop them: faultline must never lose what no rule dropped.
	 */
	flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	return send_config(c, nlh);
}

/* Best effort: without CAP_NET_ADMIN the force variant fails, try the plain one. */
static void size_receive_buffer(struct capture *c, uint32_t rcvbuf)
{
	int sz = (int)(rcvbuf ? rcvbuf : CAPTURE_DEFAULT_RCVBUF);

	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

struct capture *capture_open(const struct capture_config *cfg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct capture *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->queue = cfg->queue;
	c->rx = malloc((size_t)RX_STRIDE * RX_BATCH);
	c->tx = malloc(TX_BUF_SIZE);
	if (!c->rx || !c->tx) {
		ret = -ENOMEM;
		goto err_free;
	}
	c->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!c->nl) {
		ret = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err_close;
	}
	c->portid = mnl_socket_get_portid(c->nl);

	ret = bind_queue(c);
	if (ret)
		goto err_close;
	ret = set_params(c, cfg);
	if (ret)
		goto err_unbind;
	size_receive_buffer(c, cfg->rcvbuf);
	size_send_buffer(c, cfg->sndbuf);
	for (int i = 0; i < RX_BATCH; i++) {
		c->iov[i].iov_base = c->rx + (size_t)i * RX_STRIDE;
		c->iov[i].iov_len = RX_BUF_SIZE;
		c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
		c->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return c;

err_unbind:
	/* Best effort: closing the socket below unbinds the queue anyway. */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, c->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	(void)mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len);
err_close:
	mnl_socket_close(c->nl);
err_free:
	free(c->rx);
	free(c->tx);
	free(c);
	errno = -ret;
	return NULL;
}

void capture_close(struct capture *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	if (!c)
		return;
	/* Verdicts that fail here are counted, but nobody reads the count: flush before. */
	capture_flush(c);
	/*
	 * Best effort: when the socket closes the kernel destroys the queue
	 * all the same (NETLINK_URELEASE), dropping what it still holds.
	 */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, c->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	(void)mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len);
	mnl_socket_close(c->nl);
	free(c->rx);
	free(c->tx);
	free(c);
}

int capture_fd(const struct capture *c)
{
	return mnl_socket_get_fd(c->nl);
}

FL_HOT static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
	struct capture *c = data;
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	struct nfqnl_msg_packet_hdr *ph;
	struct capture_pkt p = { 0 };
	uint32_t skbinfo;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] || !attr[NFQA_PAYLOAD])
		return MNL_CB_OK; /* not a packet we can act on; nothing to verdict */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	p.id = ntohl(ph->packet_id);
	p.hook = ph->hook;
	/* Incoming packets are queued at PREROUTING (see ipt.c), or INPUT by a hand-made rule. */
	p.dir = p.hook == NF_INET_PRE_ROUTING || p.hook == NF_INET_LOCAL_IN ? PKT_DIR_IN :
		p.hook == NF_INET_LOCAL_OUT ? PKT_DIR_OUT : PKT_DIR_FWD;
	p.hw_proto = ntohs(ph->hw_protocol);
	p.data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
	p.len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	p.orig_len = attr[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) : p.len;
	p.mark = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
	/*
	 * The kernel stamps packets on receive only while some socket asked for
	 * timestamps (tcpdump does): then this is when the packet arrived.
	 */
	if (attr[NFQA_TIMESTAMP] && mnl_attr_get_payload_len(attr[NFQA_TIMESTAMP]) >= 16) {
		uint64_t ts[2];

		/* Netlink aligns attributes to 4 bytes only: copy, do not cast. */
		memcpy(ts, mnl_attr_get_payload(attr[NFQA_TIMESTAMP]), sizeof(ts));
		p.tstamp_ns = be64toh(ts[0]) * 1000000000ull + be64toh(ts[1]) * 1000ull;
		c->st.stamped++;
	}
	skbinfo = attr[NFQA_SKB_INFO] ? ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) : 0;
	p.gso = skbinfo & NFQA_SKB_GSO;
	p.csum_not_ready = skbinfo & NFQA_SKB_CSUMNOTREADY;
	c->st.packets++;
	c->cb(c->cb_data, &p);
	return MNL_CB_OK;
}

static bool is_verdict(uint16_t type)
{
	return type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT) ||
	       type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT_BATCH);
}

/*
 * The kernel answers a message that failed with an NLMSG_ERROR even
 * unasked (no NLM_F_ACK): a verdict for an id it no longer holds
 * (ENOENT), a bad config. They come among the packets; count them
 * instead of letting libmnl stop the batch at the first.
 */
static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct capture *c = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)) || !e->error)
		return MNL_CB_OK; /* cut short, or a plain ACK */
	if (is_verdict(e->msg.nlmsg_type))
		c->st.refused++;
	else
		c->st.config_errors++;
	return MNL_CB_OK;
}

/* libmnl takes the array without const; it only reads it. */
static mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = error_cb,
};

FL_HOT int capture_recv(struct capture *c, bool wait)
{
	int fd = mnl_socket_get_fd(c->nl), n;

	if (c->pending)
		return -EBUSY;
	/*
	 * MSG_WAITFORONE sleeps in the socket itself until the first message
	 * and then takes what else is there: the wake-up path of a bare
	 * blocking loop, without a poll/epoll round before the read.
	 */
	n = recvmmsg(fd, c->msgs, RX_BATCH, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
	if (n < 0) {
		/* The kernel dropped queue messages; fail-open or a batch verdict recovers them. */
		if (errno == ENOBUFS)
			c->lost_enobufs++;
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ENOBUFS ?
			0 : -errno;
	}
	c->pending = n;
	return n;
}

FL_HOT int capture_dispatch(struct capture *c, capture_pkt_cb cb, void *data)
{
	uint64_t before = c->st.packets;
	int n = c->pending;

	c->st.enobufs += c->lost_enobufs;
	c->lost_enobufs = 0;
	if (!n)
		return 0;
	c->pending = 0;
	c->cb = cb;
	c->cb_data = data;
	c->st.bursts++;
	for (int i = 0; i < n; i++)
		mnl_cb_run2(c->iov[i].iov_base, c->msgs[i].msg_len, 0, c->portid, packet_cb, c,
			    ctl_cb, NLMSG_MIN_TYPE);
	return (int)(c->st.packets - before);
}

bool capture_more(const struct capture *c, int received)
{
	(void)c;
	return received == RX_BATCH;
}

int capture_read(struct capture *c, int budget, capture_pkt_cb cb, void *data)
{
	int total = 0;

	while (total < budget) {
		int n = capture_recv(c, false);

		if (n < 0)
			return total ? total : n;
		total += capture_dispatch(c, cb, data);
		if (!capture_more(c, n))
			break;
	}
	return total;
}

/*
 * Start a message of 'type' for our queue in the send buffer, with room
 * for 'need' bytes; tx_end() commits it. What is queued goes out first
 * when the message would not fit in one send: a failure there is counted
 * against those verdicts (capture_flush), not this one. NULL with
 * -EMSGSIZE when no send can carry the message.
 */
FL_HOT static struct nlmsghdr *tx_begin(struct capture *c, uint16_t type, size_t need, int *err)
{
	*err = 0;
	if (need > c->tx_max) {
		*err = -EMSGSIZE;
		return NULL;
	}
	if (c->tx_len + need > c->tx_max)
		capture_flush(c);
	return nfq_nlmsg_put(c->tx + c->tx_len, type, c->queue);
}

FL_HOT static void tx_end(struct capture *c, const struct nlmsghdr *nlh)
{
	c->tx_len += MNL_ALIGN(nlh->nlmsg_len);
}

int capture_verdict(struct capture *c, uint32_t id, int verdict, const uint8_t *payload,
		    uint32_t len)
{
	struct nlmsghdr *nlh;
	size_t need = MNL_ALIGN(sizeof(struct nlmsghdr)) + MSG_ROOM + (payload ? MNL_ALIGN(len) : 0);
	int ret;

	nlh = tx_begin(c, NFQNL_MSG_VERDICT, need, &ret);
	if (!nlh)
		return ret;
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	if (payload)
		nfq_nlmsg_verdict_put_pkt(nlh, payload, len);
	tx_end(c, nlh);
	c->st.verdicts++;
	return 0;
}

int capture_set_copy_range(struct capture *c, uint32_t range)
{
	int ret;
	/*
	 * No ACK asked: the reader thread owns the receive side. An error
	 * would come back as an NLMSG_ERROR among the packets.
	 */
	struct nlmsghdr *nlh = tx_begin(c, NFQNL_MSG_CONFIG, MSG_ROOM, &ret);

	if (!nlh)
		return ret;
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, range);
	tx_end(c, nlh);
	c->copy_range = range;
	return capture_flush(c);
}

uint32_t capture_copy_range(const struct capture *c)
{
	return c->copy_range;
}

FL_HOT int capture_accept_upto(struct capture *c, uint32_t id)
{
	int ret;
	struct nlmsghdr *nlh = tx_begin(c, NFQNL_MSG_VERDICT_BATCH, MSG_ROOM, &ret);

	if (!nlh)
		return ret;
	nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
	tx_end(c, nlh);
	c->st.batch_verdicts++;
	return 0;
}

/* Bytes of the whole messages at buf that fit in max, at least one message. */
static size_t whole_msgs(const char *buf, size_t len, size_t max)
{
	size_t n = 0;

	while (n < len) {
		const struct nlmsghdr *nlh = (const void *)(buf + n);
		size_t sz = MNL_ALIGN(nlh->nlmsg_len);

		if (n && n + sz > max)
			break;
		n += sz;
	}
	return n < len ? n : len;
}

/* Count the messages at buf that no send could carry: verdicts as lost, the rest as config errors. */
static void count_unsent(struct capture *c, const char *buf, size_t len)
{
	for (size_t n = 0; n < len; n += MNL_ALIGN(((const struct nlmsghdr *)(buf + n))->nlmsg_len)) {
		if (is_verdict(((const struct nlmsghdr *)(buf + n))->nlmsg_type))
			c->st.lost++;
		else
			c->st.config_errors++;
	}
}

/* One send. EINTR and EAGAIN (nothing was taken) are tried again, a few times. */
static int send_once(struct capture *c, const char *buf, size_t len)
{
	for (int tries = 0;; tries++) {
		if (mnl_socket_sendto(c->nl, buf, len) >= 0) {
			c->st.sends++;
			return 0;
		}
		if ((errno != EINTR && errno != EAGAIN) || tries == 8)
			return -errno;
	}
}

/*
 * Send len bytes of whole messages, at most max per send. The kernel
 * takes a send whole or not at all: EMSGSIZE (longer than the send
 * buffer, which may have shrunk), ENOBUFS/ENOMEM (no memory for that
 * large a buffer) leave nothing done, so the same messages go again in
 * halves. Netlink runs them in order, and a message that fails in the
 * kernel does not stop the ones after it (its error comes back, see
 * error_cb). What cannot go at all, one message alone, is counted lost.
 */
static int send_split(struct capture *c, const char *buf, size_t len, size_t max)
{
	int ret = 0;

	for (size_t off = 0, n; off < len; off += n) {
		int err;

		n = whole_msgs(buf + off, len - off, max);
		err = send_once(c, buf + off, n);
		if ((err == -EMSGSIZE || err == -ENOBUFS || err == -ENOMEM) &&
		    whole_msgs(buf + off, n, n / 2) < n) {
			if (err == -EMSGSIZE)
				c->tx_max = send_limit(c);
			err = send_split(c, buf + off, n, n / 2);
		} else if (err) {
			count_unsent(c, buf + off, n);
		}
		if (err && !ret)
			ret = err;
	}
	return ret;
}

FL_HOT int capture_flush(struct capture *c)
{
	int ret;

	if (!c->tx_len)
		return 0;
	/* Usually one send carries every queued verdict: tx_begin keeps them within tx_max. */
	ret = send_split(c, c->tx, c->tx_len, c->tx_max);
	c->tx_len = 0;
	return ret;
}

void capture_get_stats(const struct capture *c, struct capture_stats *s)
{
	*s = c->st;
}

int capture_set_recv_timeout(struct capture *c, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}
