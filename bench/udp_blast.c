// SPDX-License-Identifier: MIT
/*
 * udp_blast: 64-byte-payload UDP packet-rate generator and sink.
 *
 *   udp_blast send DST_IP PORT SECONDS [SRC_IP...]   prints "sent=N pps=X cpu_us=C"
 *   udp_blast recv PORT SECONDS          prints "received=N pps=X cpu_us=C"
 *
 * The sender pushes sendmmsg batches of 64 as fast as it can and ignores
 * transient errors (ENOBUFS, EAGAIN, ECONNREFUSED from an earlier ICMP).
 * With source addresses (up to 64) it sends from each in turn, a batch at
 * a time: one flow per address, for traffic that several queues share.
 * The receiver binds the wildcard address (IPv6 dual-stack when available,
 * else IPv4), waits at most SECONDS, stops after 1 s without packets once
 * some arrived, and reports the rate between the first and the last burst
 * received, so start-up and idle tails do not dilute it. cpu_us is the
 * CPU time the process used (user + system, getrusage): without
 * CONFIG_IRQ_TIME_ACCOUNTING it includes the softirq work that ran in its
 * context, which for a veth pair is the receiving side's whole IP path up
 * to the socket, netfilter hooks included.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH		64
#define PAYLOAD		64
#define RCVBUF_BYTES	(32 << 20)
#define IDLE_STOP_NS	1000000000LL
#define MAX_SRCS	64

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time used so far by this process, user + system, in µs. */
static long long cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || *end || *out <= 0)
		return -EINVAL;
	return 0;
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	return (int)v;
}

/*
 * A socket connected to dst:port, bound to src when it is not NULL (the
 * source address of a flow). -1 after a message on error.
 */
static int open_tx_socket(const struct addrinfo *dst, const char *src)
{
	struct addrinfo hints = {
		.ai_family = dst->ai_family,
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICHOST,
	};
	struct addrinfo *sa;
	int fd, err;

	fd = socket(dst->ai_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_blast: socket");
		return -1;
	}
	if (src) {
		err = getaddrinfo(src, NULL, &hints, &sa);
		if (err) {
			fprintf(stderr, "udp_blast: source %s: %s\n", src, gai_strerror(err));
			close(fd);
			return -1;
		}
		err = bind(fd, sa->ai_addr, sa->ai_addrlen);
		freeaddrinfo(sa);
		if (err < 0) {
			fprintf(stderr, "udp_blast: bind %s: %s\n", src, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, dst->ai_addr, dst->ai_addrlen) < 0) {
		perror("udp_blast: connect");
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Batches go round the sources' sockets in turn: each source address is
 * one flow, and NFQUEUE's --queue-balance spreads flows over queues by
 * their addresses only (one address pair is always one queue).
 */
static int do_send(const char *dst, const char *port, double seconds, char **srcs, int n_srcs)
{
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov[BATCH];
	static uint8_t payload[BATCH][PAYLOAD];
	struct addrinfo hints = {
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *ai;
	int64_t start, deadline, now;
	uint64_t sent = 0, seq = 0;
	int fds[MAX_SRCS], n_fds = n_srcs ? n_srcs : 1, opened = 0, err, i, k = 0;
	int ret = EXIT_FAILURE;

	err = getaddrinfo(dst, port, &hints, &ai);
	if (err) {
		fprintf(stderr, "udp_blast: %s: %s\n", dst, gai_strerror(err));
		return EXIT_FAILURE;
	}
	while (opened < n_fds) {
		fds[opened] = open_tx_socket(ai, n_srcs ? srcs[opened] : NULL);
		if (fds[opened] < 0)
			break;
		opened++;
	}
	freeaddrinfo(ai);
	if (opened < n_fds)
		goto out;

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = payload[i];
		iov[i].iov_len = PAYLOAD;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	start = now_ns();
	deadline = start + (int64_t)(seconds * 1e9);
	do {
		int n;

		/* A sequence number makes captures easier to read. */
		for (i = 0; i < BATCH; i++, seq++)
			memcpy(payload[i], &seq, sizeof(seq));
		n = sendmmsg(fds[k], msgs, BATCH, 0);
		k = (k + 1) % n_fds;
		if (n > 0) {
			sent += n;
		} else if (n < 0 && errno != ENOBUFS && errno != EAGAIN &&
			   errno != ECONNREFUSED && errno != EINTR) {
			perror("udp_blast: sendmmsg");
			goto out;
		}
		now = now_ns();
	} while (now < deadline);

	printf("sent=%llu pps=%.0f cpu_us=%lld\n", (unsigned long long)sent,
	       sent / ((now - start) / 1e9), cpu_us());
	ret = EXIT_SUCCESS;
out:
	while (opened > 0)
		close(fds[--opened]);
	return ret;
}

static int open_rx_socket(int port)
{
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int fd, zero = 0;

	/* Dual-stack first; IPv6 may be disabled in the namespace. */
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0)
			return fd;
		close(fd);
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int do_recv(int port, double seconds)
{
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov[BATCH];
	static uint8_t bufs[BATCH][2048];
	int64_t start, deadline, first = 0, last = 0, now;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	uint64_t received = 0;
	int fd, i, sz;
	double pps = 0;

	fd = open_rx_socket(port);
	if (fd < 0) {
		fprintf(stderr, "udp_blast: bind port %d: %s\n", port,
			strerror(-fd));
		return EXIT_FAILURE;
	}
	/* FORCE needs CAP_NET_ADMIN; fall back to what rmem_max allows. */
	sz = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* The timeout lets the loop notice the deadline and idle periods. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	start = now_ns();
	deadline = start + (int64_t)(seconds * 1e9);
	for (;;) {
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

		now = now_ns();
		if (n > 0) {
			if (!received)
				first = now;
			received += n;
			last = now;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			perror("udp_blast: recvmmsg");
			close(fd);
			return EXIT_FAILURE;
		}
		if (now >= deadline)
			break;
		if (received && now - last > IDLE_STOP_NS)
			break;
	}

	if (last > first)
		pps = received / ((last - first) / 1e9);
	printf("received=%llu pps=%.0f cpu_us=%lld\n", (unsigned long long)received, pps, cpu_us());
	close(fd);
	return EXIT_SUCCESS;
}

static void usage(void)
{
	fprintf(stderr, "usage: udp_blast send DST_IP PORT SECONDS [SRC_IP...]\n"
			"       udp_blast recv PORT SECONDS\n");
}

int main(int argc, char *argv[])
{
	double seconds;
	int port;

	if (argc >= 5 && argc <= 5 + MAX_SRCS && !strcmp(argv[1], "send")) {
		if (parse_port(argv[3]) < 0 ||
		    parse_seconds(argv[4], &seconds) < 0) {
			usage();
			return EXIT_FAILURE;
		}
		return do_send(argv[2], argv[3], seconds, argv + 5, argc - 5);
	}
	if (argc == 4 && !strcmp(argv[1], "recv")) {
		port = parse_port(argv[2]);
		if (port < 0 || parse_seconds(argv[3], &seconds) < 0) {
			usage();
			return EXIT_FAILURE;
		}
		return do_recv(port, seconds);
	}
	usage();
	return EXIT_FAILURE;
}
