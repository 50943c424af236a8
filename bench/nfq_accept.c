// SPDX-License-Identifier: MIT
/*
 * nfq_accept: the bare NFQUEUE accept loop, the baseline faultline is
 * measured against.  It uses the same queue settings as faultline (libmnl
 * API, GSO, fail-open, 128-byte copy, queue maxlen 65536, 64 MiB receive
 * buffer) and does the least work possible per packet: recvmmsg of up to 32
 * messages, then one batch verdict accepting every id up to the highest one
 * seen in that burst.
 *
 * Usage: nfq_accept -q QUEUE [-s STATSFILE]
 * Prints "nfq_accept: running" on stderr once the queue is bound.  On
 * SIGINT/SIGTERM prints "packets=N enobufs=M max_id=K" on stdout (and into
 * STATSFILE) and exits 0.  max_id - packets is the number of packets the
 * kernel assigned an id to but could not deliver (socket full, fail-open).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define BURST		32
#define BUF_SIZE	(0xffff + MNL_SOCKET_BUFFER_SIZE / 2)
#define COPY_RANGE	128
#define QUEUE_MAXLEN	65536
#define RCVBUF_BYTES	(64 << 20)

struct accept_state {
	uint64_t packets;
	uint64_t enobufs;
	uint32_t max_id;	/* highest id ever seen */
	uint32_t burst_id;	/* highest id seen in the current burst */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct accept_state *st = data;
	struct nlattr *attr[NFQA_MAX + 1] = {};
	struct nfqnl_msg_packet_hdr *ph;
	uint32_t id;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_OK;	/* not a packet: nothing to verdict */

	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	st->packets++;
	/*
	 * Ids grow by one per queued packet, so the last message of a burst
	 * normally carries the highest; the batch verdict needs that one.
	 */
	if (id > st->burst_id)
		st->burst_id = id;
	return MNL_CB_OK;
}

static int send_msg(struct mnl_socket *nl, const struct nlmsghdr *nlh)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

/*
 * Bind the queue and wait for the kernel's acknowledgement, so a queue
 * already taken by another program (EBUSY) fails here and not later.
 * No packet can precede the ack: the queue only exists once the bind has
 * been processed, and the ack is queued to the socket during that same call.
 */
static int bind_queue(struct mnl_socket *nl, char *buf, uint16_t queue)
{
	unsigned int portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh;
	uint32_t seq = 1;
	ssize_t n;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (send_msg(nl, nlh) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, BUF_SIZE);
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, n, seq, portid, NULL, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * Errors in these messages are not acknowledged synchronously: the kernel
 * still sends an NLMSG_ERROR for a failure, which the main loop's
 * mnl_cb_run() turns into a fatal error.
 */
static int configure_queue(struct mnl_socket *nl, char *buf, uint16_t queue)
{
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, COPY_RANGE);
	/*
	 * GSO: hand over unsegmented super-packets instead of segmenting and
	 * checksumming them in software first (the single largest cost).
	 * FAIL_OPEN: accept instead of drop when the queue or socket is full.
	 */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(QUEUE_MAXLEN));
	return send_msg(nl, nlh);
}

static int send_batch_verdict(struct mnl_socket *nl, char *buf, uint16_t queue,
			      uint32_t id)
{
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, queue);
	nfq_nlmsg_verdict_put(nlh, id, NF_ACCEPT);
	return send_msg(nl, nlh);
}

static int write_stats(FILE *f, const struct accept_state *st)
{
	return fprintf(f, "packets=%llu enobufs=%llu max_id=%u\n",
		       (unsigned long long)st->packets,
		       (unsigned long long)st->enobufs, st->max_id);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s -q QUEUE [-s STATSFILE]\n", prog);
}

int main(int argc, char *argv[])
{
	static struct mmsghdr msgs[BURST];
	static struct iovec iov[BURST];
	struct accept_state st = {};
	const char *statsfile = NULL;
	char vbuf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = NULL;
	struct sigaction sa = {};
	struct timeval tv;
	unsigned int portid;
	long queue = -1;
	char *bufs = NULL;
	int ret = EXIT_FAILURE;
	int fd, opt, i, one;
	char *end;

	while ((opt = getopt(argc, argv, "q:s:h")) != -1) {
		switch (opt) {
		case 'q':
			errno = 0;
			queue = strtol(optarg, &end, 10);
			if (errno || *end || queue < 0 || queue > 65535) {
				fprintf(stderr, "nfq_accept: bad queue '%s'\n",
					optarg);
				return EXIT_FAILURE;
			}
			break;
		case 's':
			statsfile = optarg;
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? EXIT_SUCCESS : EXIT_FAILURE;
		}
	}
	if (queue < 0 || optind != argc) {
		usage(argv[0]);
		return EXIT_FAILURE;
	}

	/* No SA_RESTART: a signal must interrupt the blocking recvmmsg. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	bufs = malloc((size_t)BURST * BUF_SIZE);
	if (!bufs) {
		perror("nfq_accept: malloc");
		goto out;
	}
	for (i = 0; i < BURST; i++) {
		iov[i].iov_base = bufs + (size_t)i * BUF_SIZE;
		iov[i].iov_len = BUF_SIZE;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl) {
		perror("nfq_accept: mnl_socket_open");
		goto out;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("nfq_accept: mnl_socket_bind");
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	fd = mnl_socket_get_fd(nl);

	/* SO_RCVBUFFORCE ignores net.core.rmem_max; it needs CAP_NET_ADMIN. */
	one = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &one, sizeof(one)) < 0)
		perror("nfq_accept: SO_RCVBUFFORCE (continuing)");
	/*
	 * NETLINK_NO_ENOBUFS stays off: an overrun is reported as ENOBUFS
	 * from recv, which is counted rather than hidden.
	 */
	one = 0;
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	/*
	 * A signal landing between the stop check and recvmmsg would block
	 * until the next packet; the timeout bounds that wait.
	 */
	tv = (struct timeval){ .tv_sec = 0, .tv_usec = 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	if (bind_queue(nl, bufs, (uint16_t)queue) < 0) {
		fprintf(stderr, "nfq_accept: bind queue %ld: %s\n", queue,
			strerror(errno));
		goto out;
	}
	if (configure_queue(nl, vbuf, (uint16_t)queue) < 0) {
		perror("nfq_accept: configure queue");
		goto out;
	}
	fprintf(stderr, "nfq_accept: running on queue %ld\n", queue);

	while (!stop) {
		int n = recvmmsg(fd, msgs, BURST, MSG_WAITFORONE, NULL);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			if (errno == ENOBUFS) {
				st.enobufs++;
				continue;
			}
			perror("nfq_accept: recvmmsg");
			goto out;
		}
		st.burst_id = 0;
		for (i = 0; i < n; i++) {
			if (mnl_cb_run(iov[i].iov_base, msgs[i].msg_len, 0,
				       portid, queue_cb, &st) < 0) {
				perror("nfq_accept: netlink error");
				goto out;
			}
		}
		if (!st.burst_id)
			continue;
		if (st.burst_id > st.max_id)
			st.max_id = st.burst_id;
		if (send_batch_verdict(nl, vbuf, (uint16_t)queue,
				       st.burst_id) < 0) {
			perror("nfq_accept: verdict");
			goto out;
		}
	}

	write_stats(stdout, &st);
	fflush(stdout);
	ret = EXIT_SUCCESS;
	if (statsfile) {
		FILE *f = fopen(statsfile, "w");
		bool ok = f && write_stats(f, &st) > 0;

		if (f && fclose(f) != 0)
			ok = false;
		if (!ok) {
			perror("nfq_accept: stats file");
			ret = EXIT_FAILURE;
		}
	}
out:
	/*
	 * Closing the socket unbinds the queue; packets still queued in the
	 * kernel are dropped, later ones pass through --queue-bypass.
	 */
	if (nl)
		mnl_socket_close(nl);
	free(bufs);
	return ret;
}
