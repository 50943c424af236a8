// SPDX-License-Identifier: MIT
/*
 * udpseq: numbered UDP datagrams for the integration tests.
 *   udpseq send HOST PORT COUNT [GAP_US] [SRC] [FIRST]
 *                                                   send COUNT datagrams "seq N", N from
 *                                                   FIRST (default 0); SRC: a source port
 *                                                   (0: any), or ADDR:PORT ([ADDR]:PORT
 *                                                   for IPv6) to send from ADDR
 *   udpseq recv PORT IDLE_MS [EXPECT [WAIT_MS]]      print what arrived, as JSON
 * The receiver stops IDLE_MS after the last datagram (or after EXPECT
 * datagrams plus IDLE_MS; while fewer than EXPECT have come, a quiet spell
 * of WAIT_MS, default IDLE_MS, ends it; it waits WAIT_MS for the first
 * datagram, 30 s without WAIT_MS) and prints received, unique, duplicates,
 * out-of-order (arrivals smaller than an earlier one) and the arrival order.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bind fd to SRC (see the top); a bare port 0 leaves both to the kernel. */
static int bind_source(int fd, int family, const char *src)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	const char *port = src, *colon = strrchr(src, ':');
	struct addrinfo *sa;
	char host[64] = "";
	int one = 1, ret;

	if (colon) {
		size_t n = (size_t)(colon - src);

		if (src[0] == '[' && n >= 2 && src[n - 1] == ']')
			src++, n -= 2;
		if (n >= sizeof(host))
			return -1;
		memcpy(host, src, n);
		host[n] = 0;
		port = colon + 1;
	} else if (!atoi(src)) {
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &sa)) {
		fprintf(stderr, "udpseq: bad source %s\n", src);
		return -1;
	}
	ret = bind(fd, sa->ai_addr, sa->ai_addrlen);
	if (ret)
		perror("udpseq: bind");
	freeaddrinfo(sa);
	return ret;
}

static int do_send(const char *host, const char *port, long count, long gap_us, const char *sport,
		   long first)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai)) {
		fprintf(stderr, "udpseq: bad address %s\n", host);
		return 1;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (sport && bind_source(fd, ai->ai_family, sport))
		return 1;
	for (long i = first; i < first + count; i++) {
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "seq %ld", i);

		while (sendto(fd, buf, (size_t)n, 0, ai->ai_addr, ai->ai_addrlen) < 0)
			usleep(100);
		if (gap_us)
			usleep((useconds_t)gap_us);
	}
	close(fd);
	freeaddrinfo(ai);
	return 0;
}

static int do_recv(const char *port, int idle_ms, long expect, int wait_ms, int first_ms)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port)) };
	/*
	 * Room for 100,000 held datagrams released in one go: the kernel
	 * delivers a verdict burst faster than this loop reads.
	 */
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), zero = 0, big = 256 << 20;
	long cap = 1 << 16, n = 0, dups = 0, ooo = 0, max = -1;
	long *order = malloc(sizeof(long) * (size_t)cap);
	unsigned char *seen = calloc(1 << 20, 1);
	long unique = 0;

	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("udpseq: bind");
		return 1;
	}
	printf("{\"ready\":true}\n");
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		/* Wait long for the first datagram, then stop after a quiet spell. */
		int t = n ? wait_ms : first_ms;
		char buf[128];
		long s;
		ssize_t k;

		if (expect && unique >= expect)
			t = idle_ms;
		if (poll(&p, 1, t) <= 0)
			break;
		k = recv(fd, buf, sizeof(buf) - 1, 0);
		if (k <= 0)
			continue;
		buf[k] = 0;
		if (sscanf(buf, "seq %ld", &s) != 1 || s < 0 || s >= (1 << 20))
			continue;
		if (n == cap) {
			cap *= 2;
			order = realloc(order, sizeof(long) * (size_t)cap);
		}
		order[n++] = s;
		if (seen[s])
			dups++;
		else
			unique++;
		seen[s] = 1;
		if (s < max)
			ooo++;
		else
			max = s;
	}
	printf("{\"received\":%ld,\"unique\":%ld,\"duplicates\":%ld,\"out_of_order\":%ld,\"order\":[", n,
	       unique, dups, ooo);
	for (long i = 0; i < n; i++)
		printf("%s%ld", i ? "," : "", order[i]);
	printf("]}\n");
	free(order);
	free(seen);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "send"))
		return do_send(argv[2], argv[3], atol(argv[4]), argc > 5 ? atol(argv[5]) : 0,
			       argc > 6 ? argv[6] : NULL, argc > 7 ? atol(argv[7]) : 0);
	if (argc >= 4 && !strcmp(argv[1], "recv"))
		return do_recv(argv[2], atoi(argv[3]), argc > 4 ? atol(argv[4]) : 0,
			       argc > 5 ? atoi(argv[5]) : atoi(argv[3]), argc > 5 ? atoi(argv[5]) : 30000);
	fprintf(stderr, "usage: udpseq send HOST PORT COUNT [GAP_US] [SRC] [FIRST] | recv PORT IDLE_MS [EXPECT [WAIT_MS]]\n");
	return 2;
}
