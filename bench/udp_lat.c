// SPDX-License-Identifier: MIT
/*
 * udp_lat: one-way latency of paced UDP datagrams, for delay lateness.
 *
 *   udp_lat send DST_IP PORT PPS SECONDS [SRC_IP]   prints "sent=N"
 *   udp_lat recv PORT SECONDS [OUTFILE]      prints "received=N p50_ns=.. p99_ns=.. max_ns=.."
 *   udp_lat poll PORT SECONDS [OUTFILE]      the same, never sleeping
 *   udp_lat timer PPS SECONDS                prints "woke=N p50_ns=.. p99_ns=.. max_ns=.."
 *
 * The sender stamps each 64-byte datagram with its CLOCK_MONOTONIC send
 * time and paces them at PPS on an absolute schedule (a late send does
 * not push the later ones back). The receiver reads each datagram and
 * subtracts the stamp from its own clock. Both ends must share one
 * CLOCK_MONOTONIC: two network namespaces on one host do (no time
 * namespace). Datagrams of the first 200 ms are left out: the first
 * packets of a flow meet cold caches and ARP. OUTFILE, when given, gets
 * every kept one-way time in ns, one a line, in arrival order.
 * The receiver stops SECONDS after it started, or 1 s after the last
 * datagram once some arrived. It asks the fair scheduler for 100 us
 * slices (EEVDF, Linux 6.12 on; as faultline's loop thread does), so that
 * on a busy host its own wake-up after a datagram arrives weighs less in
 * what it measures; kernels without it ignore the request.
 *
 * poll reads without sleeping (MSG_DONTWAIT in a loop, a CPU's worth):
 * the receiver is always running when a datagram arrives, so what it
 * measures leaves out its own wake-up, which on a VM whose idle vCPUs
 * halt can take milliseconds (README, "Timers").
 *
 * timer measures the floor under any release that sleeps: a thread like
 * faultline's loop thread (the same slices) sleeps on a timerfd armed at
 * absolute deadlines PPS times a second and records how late it woke
 * (its read's time minus the deadline), the first 200 ms again left
 * out.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD		64
#define WARMUP_NS	200000000LL
#define IDLE_STOP_NS	1000000000LL
#define RCVBUF_BYTES	(8 << 20)

struct stamp {
	uint64_t seq;
	int64_t sent_ns;
};

/* The kernel's struct sched_attr, first version (glibc before 2.41 has no sched_setattr). */
struct slice_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

/* SCHED_OTHER (0) with slices of ns; best effort. */
static void short_slice(uint64_t ns)
{
	struct slice_attr a = { .size = sizeof(a), .sched_runtime = ns };

	syscall(SYS_sched_setattr, 0, &a, 0);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int parse_num(const char *s, double min, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || *out < min)
		return -EINVAL;
	return 0;
}

/* Bind fd to the source address src (numeric). 0 or -1 after a message. */
static int bind_source(int fd, int family, const char *src)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST };
	struct addrinfo *sa;
	int err;

	err = getaddrinfo(src, NULL, &hints, &sa);
	if (err) {
		fprintf(stderr, "udp_lat: source %s: %s\n", src, gai_strerror(err));
		return -1;
	}
	err = bind(fd, sa->ai_addr, sa->ai_addrlen);
	freeaddrinfo(sa);
	if (err < 0) {
		fprintf(stderr, "udp_lat: bind %s: %s\n", src, strerror(errno));
		return -1;
	}
	return 0;
}

static int do_send(const char *dst, const char *port, double pps, double seconds, const char *src)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	uint8_t buf[PAYLOAD] = { 0 };
	struct addrinfo *ai;
	int64_t start, gap = (int64_t)(1e9 / pps), n_total = (int64_t)(pps * seconds);
	uint64_t sent = 0;
	int fd, err;

	err = getaddrinfo(dst, port, &hints, &ai);
	if (err) {
		fprintf(stderr, "udp_lat: %s: %s\n", dst, gai_strerror(err));
		return EXIT_FAILURE;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd >= 0 && src && bind_source(fd, ai->ai_family, src) < 0) {
		close(fd);
		freeaddrinfo(ai);
		return EXIT_FAILURE;
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("udp_lat: socket");
		freeaddrinfo(ai);
		return EXIT_FAILURE;
	}
	freeaddrinfo(ai);
	/* The sender's own sleep must not be late: 1 ns of timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	start = now_ns();
	for (int64_t i = 0; i < n_total; i++) {
		int64_t due = start + i * gap;
		struct timespec ts = { .tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL };
		struct stamp s;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		s.seq = (uint64_t)i;
		s.sent_ns = now_ns();
		memcpy(buf, &s, sizeof(s));
		if (send(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf))
			sent++;
	}
	close(fd);
	printf("sent=%llu\n", (unsigned long long)sent);
	return EXIT_SUCCESS;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Append v to *lat (n used, cap allocated). 0, or -1 out of memory. */
static int push(int64_t **lat, size_t *n, size_t *cap, int64_t v)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4096;
		int64_t *grown = realloc(*lat, c * sizeof(**lat));

		if (!grown)
			return -1;
		*lat = grown;
		*cap = c;
	}
	(*lat)[(*n)++] = v;
	return 0;
}

/* "LABEL=COUNT kept=N p50_ns=.. p99_ns=.. max_ns=.. min_ns=.."; sorts lat. */
static void print_dist(const char *label, size_t count, int64_t *lat, size_t n)
{
	if (!n) {
		printf("%s=%zu\n", label, count);
		return;
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	printf("%s=%zu kept=%zu p50_ns=%lld p99_ns=%lld max_ns=%lld min_ns=%lld\n", label, count, n,
	       (long long)lat[n / 2], (long long)lat[n * 99 / 100], (long long)lat[n - 1], (long long)lat[0]);
}

static int do_timer(double pps, double seconds)
{
	int64_t gap = (int64_t)(1e9 / pps), n_total = (int64_t)(pps * seconds), start, *lat = NULL;
	size_t n = 0, cap = 0, woke = 0;
	int ret = EXIT_SUCCESS, fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	if (fd < 0) {
		perror("udp_lat: timerfd");
		return EXIT_FAILURE;
	}
	short_slice(100000);
	start = now_ns();
	for (int64_t i = 1; i <= n_total; i++) {
		int64_t due = start + i * gap;
		struct itimerspec its = {
			.it_value = { .tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL },
		};
		uint64_t exp;

		if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ||
		    read(fd, &exp, sizeof(exp)) != (ssize_t)sizeof(exp)) {
			perror("udp_lat: timer");
			ret = EXIT_FAILURE;
			break;
		}
		woke++;
		if (i * gap >= WARMUP_NS && push(&lat, &n, &cap, now_ns() - due) < 0) {
			perror("udp_lat");
			ret = EXIT_FAILURE;
			break;
		}
	}
	close(fd);
	if (ret == EXIT_SUCCESS)
		print_dist("woke", woke, lat, n);
	free(lat);
	return ret;
}

static int do_recv(const char *port, double seconds, const char *outfile, bool poll)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int64_t start, stop, last = 0, first = 0, *lat = NULL;
	size_t n = 0, cap = 0, received = 0;
	int fd, off = 0, rcvbuf = RCVBUF_BYTES;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	FILE *out = NULL;

	a6.sin6_port = htons((uint16_t)atoi(port));
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0) {
		perror("udp_lat: bind");
		return EXIT_FAILURE;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	short_slice(100000);
	start = now_ns();
	stop = start + (int64_t)(seconds * 1e9);
	for (;;) {
		uint8_t buf[PAYLOAD];
		struct stamp s;
		ssize_t r = recv(fd, buf, sizeof(buf), poll ? MSG_DONTWAIT : 0);
		int64_t t = now_ns();

		if (t >= stop || (last && t - last > IDLE_STOP_NS))
			break;
		if (r < (ssize_t)sizeof(s))
			continue;
		memcpy(&s, buf, sizeof(s));
		received++;
		last = t;
		if (!first)
			first = s.sent_ns;
		if (s.sent_ns - first < WARMUP_NS)
			continue;
		if (push(&lat, &n, &cap, t - s.sent_ns) < 0) {
			perror("udp_lat");
			return EXIT_FAILURE;
		}
	}
	close(fd);
	if (outfile) {
		out = fopen(outfile, "w");
		if (!out) {
			perror(outfile);
			return EXIT_FAILURE;
		}
		for (size_t i = 0; i < n; i++)
			fprintf(out, "%lld\n", (long long)lat[i]);
		if (fclose(out)) {
			perror(outfile);
			return EXIT_FAILURE;
		}
	}
	print_dist("received", received, lat, n);
	free(lat);
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	double pps, seconds;

	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "send") && !parse_num(argv[4], 1, &pps) &&
	    !parse_num(argv[5], 0.001, &seconds))
		return do_send(argv[2], argv[3], pps, seconds, argc == 7 ? argv[6] : NULL);
	if ((argc == 4 || argc == 5) && (!strcmp(argv[1], "recv") || !strcmp(argv[1], "poll")) &&
	    !parse_num(argv[3], 0.001, &seconds))
		return do_recv(argv[2], seconds, argc == 5 ? argv[4] : NULL, !strcmp(argv[1], "poll"));
	if (argc == 4 && !strcmp(argv[1], "timer") && !parse_num(argv[2], 1, &pps) &&
	    !parse_num(argv[3], 0.001, &seconds))
		return do_timer(pps, seconds);
	fprintf(stderr, "usage: udp_lat send DST_IP PORT PPS SECONDS [SRC_IP]\n"
			"       udp_lat recv PORT SECONDS [OUTFILE]\n"
			"       udp_lat poll PORT SECONDS [OUTFILE]\n"
			"       udp_lat timer PPS SECONDS\n");
	return 2;
}
