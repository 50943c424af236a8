// SPDX-License-Identifier: MIT
/*
 * soakgen: the traffic of scripts/soak.sh, many short TCP connections and
 * many short UDP flows, each one checked end to end.
 *
 *   soakgen serve PORT
 *	TCP: reads a 16-byte header (magic, connection id, up, down), then
 *	`up` bytes it checks against the connection's pattern, answers with
 *	`down` pattern bytes, and expects EOF. UDP: echoes every datagram
 *	back to its sender and counts, per flow, what arrived. Runs until
 *	SIGTERM, then prints one JSON object.
 *   soakgen run ADDR4 ADDR6 PORT SECONDS [TCP_PER_S] [UDP_PER_S] [SEED]
 *	Opens TCP connections and starts UDP flows at the given rates for
 *	SECONDS (alternating IPv4 and IPv6), then prints {"sending_done":true}
 *	and keeps reading UDP replies until SIGTERM; then prints one JSON
 *	object with every flow. Each UDP flow has a source port of its own
 *	(UDP_PORT_BASE + flow id) and keeps its socket until the end, so a
 *	late reply is still counted, whatever it was held for.
 *
 * A TCP connection counts as ok only when both directions arrived whole,
 * byte-exact and in order, and the stream ended where it should.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x464c534bu	/* "FLSK" */
#define UDP_PORT_BASE 20000
/* One socket per flow, kept open to the end: stay well below the fd limit. */
#define MAX_UDP_FLOWS 15000
#define MAX_DGRAMS 48
#define MAX_UP (48 * 1024)
#define MAX_DOWN (96 * 1024)
#define TCP_WORKERS 8
#define UDP_WORKERS 4
/* A guard against a hung connection, not a performance bound. */
#define TCP_GUARD_MS 120000
#define MAX_ERRORS 10

struct hdr {
	uint32_t magic, id, up, down;
};

/* The byte at offset off of connection id's stream: any misplaced chunk shows. */
static uint8_t pattern(uint32_t id, uint32_t dir, uint32_t off)
{
	uint32_t x = id * 0x9e3779b1u ^ (off / 4) * 0x85ebca6bu ^ dir * 0xc2b2ae35u;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (uint8_t)(x >> (8 * (off % 4)));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

/* ---- errors, kept short: the first few only ---- */

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char errors[MAX_ERRORS][160];
static unsigned n_errors;

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note_error(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&err_lock);
	if (n_errors < MAX_ERRORS) {
		va_start(ap, fmt);
		vsnprintf(errors[n_errors], sizeof(errors[0]), fmt, ap);
		va_end(ap);
		/* JSON-safe: the messages are ours, but be sure. */
		for (char *c = errors[n_errors]; *c; c++)
			if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
				*c = '\'';
	}
	n_errors++;
	pthread_mutex_unlock(&err_lock);
}

static void print_errors(void)
{
	printf("\"errors\":%u,\"first_errors\":[", n_errors);
	for (unsigned i = 0; i < n_errors && i < MAX_ERRORS; i++)
		printf("%s\"%s\"", i ? "," : "", errors[i]);
	printf("]");
}

/* ---- blocking I/O with a deadline ---- */

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	uint64_t t = now_ms();
	int r;

	if (t >= deadline)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(deadline - t));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r ? 0 : -ETIMEDOUT;
}

static int write_all(int fd, const uint8_t *b, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t k = send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		int r;

		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
			return r;
	}
	return 0;
}

/* Read exactly n bytes; -EPIPE if the stream ends first. */
static int read_all(int fd, uint8_t *b, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t k = recv(fd, b, n, MSG_DONTWAIT);
		int r;

		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return r;
	}
	return 0;
}

/* 0 when the stream ends now; -EPROTO if more bytes come. */
static int expect_eof(int fd, uint64_t deadline)
{
	uint8_t c;
	int r;

	for (;;) {
		ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);

		if (k == 0)
			return 0;
		if (k > 0)
			return -EPROTO;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return r;
	}
}

static long check_pattern(const uint8_t *b, uint32_t n, uint32_t id, uint32_t dir)
{
	for (uint32_t i = 0; i < n; i++)
		if (b[i] != pattern(id, dir, i))
			return i;
	return -1;
}

/* ---- serve ---- */

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct srv_flow {
	uint32_t received;
	uint8_t seen[MAX_DGRAMS];
};

static atomic_ulong srv_tcp_ok, srv_tcp_bad, srv_tcp_active;

static void *srv_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint64_t deadline = now_ms() + TCP_GUARD_MS;
	uint8_t *buf = malloc(MAX_DOWN);
	struct hdr h;
	long bad;
	int r;

	if (!buf) {
		note_error("server: out of memory");
		goto out;
	}
	if ((r = read_all(fd, (uint8_t *)&h, sizeof(h), deadline)) < 0) {
		note_error("server: header: %s", strerror(-r));
		goto bad;
	}
	if (h.magic != MAGIC || h.up > MAX_UP || h.down > MAX_DOWN) {
		note_error("server: bad header on connection %u", h.id);
		goto bad;
	}
	if ((r = read_all(fd, buf, h.up, deadline)) < 0) {
		note_error("server: connection %u: upload: %s", h.id, strerror(-r));
		goto bad;
	}
	if ((bad = check_pattern(buf, h.up, h.id, 0)) >= 0) {
		note_error("server: connection %u: byte %ld of %u differs", h.id, bad, h.up);
		goto bad;
	}
	for (uint32_t i = 0; i < h.down; i++)
		buf[i] = pattern(h.id, 1, i);
	if ((r = write_all(fd, buf, h.down, deadline)) < 0) {
		note_error("server: connection %u: download: %s", h.id, strerror(-r));
		goto bad;
	}
	shutdown(fd, SHUT_WR);
	if ((r = expect_eof(fd, deadline)) < 0) {
		note_error("server: connection %u: end: %s", h.id, strerror(-r));
		goto bad;
	}
	srv_tcp_ok++;
	goto out;
bad:
	srv_tcp_bad++;
out:
	free(buf);
	close(fd);
	srv_tcp_active--;
	return NULL;
}

static int listen_any(int type, uint16_t port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd = socket(AF_INET6, type, 0), zero = 0, one = 1, big = 8 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 1024))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int do_serve(uint16_t port)
{
	int lfd = listen_any(SOCK_STREAM, port), ufd = listen_any(SOCK_DGRAM, port);
	struct srv_flow **flows = calloc(MAX_UDP_FLOWS, sizeof(*flows));
	uint64_t received = 0, replied = 0, bad = 0, reply_errors = 0;
	pthread_attr_t attr;

	if (lfd < 0 || ufd < 0 || !flows) {
		perror("soakgen: serve");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	printf("{\"ready\":true}\n");
	fflush(stdout);
	while (!stop_flag) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = ufd, .events = POLLIN } };

		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			pthread_t th;

			if (fd >= 0) {
				srv_tcp_active++;
				if (pthread_create(&th, &attr, srv_conn, (void *)(intptr_t)fd)) {
					note_error("server: no thread for a connection");
					srv_tcp_active--;
					srv_tcp_bad++;
					close(fd);
				}
			}
		}
		/* Every datagram waiting, not one per poll: replies must keep up. */
		while (p[1].revents & POLLIN) {
			struct sockaddr_in6 from;
			socklen_t fl = sizeof(from);
			uint8_t b[2048];
			ssize_t k = recvfrom(ufd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
			uint32_t m, id, seq;

			if (k < 0)
				break;
			received++;
			memcpy(&m, b, 4);
			memcpy(&id, b + 4, 4);
			memcpy(&seq, b + 8, 4);
			if (k < 16 || m != MAGIC || id >= MAX_UDP_FLOWS || seq >= MAX_DGRAMS ||
			    check_pattern(b + 16, (uint32_t)k - 16, id, 2 + seq) >= 0) {
				bad++;
				continue;
			}
			if (!flows[id] && !(flows[id] = calloc(1, sizeof(**flows)))) {
				bad++;
				continue;
			}
			flows[id]->received++;
			if (flows[id]->seen[seq] < 255)
				flows[id]->seen[seq]++;
			/* The echo is the reply flow faultline sees leaving: one per arrival. */
			if (sendto(ufd, b, (size_t)k, 0, (struct sockaddr *)&from, fl) == k)
				replied++;
			else
				reply_errors++;
		}
	}
	/* Connections still running end by themselves (or by their guard). */
	while (srv_tcp_active)
		usleep(10000);
	printf("{\"tcp_ok\":%lu,\"tcp_bad\":%lu,\"udp_received\":%llu,\"udp_replied\":%llu,"
	       "\"udp_bad\":%llu,\"udp_reply_errors\":%llu,",
	       (unsigned long)srv_tcp_ok, (unsigned long)srv_tcp_bad, (unsigned long long)received,
	       (unsigned long long)replied, (unsigned long long)bad, (unsigned long long)reply_errors);
	print_errors();
	/* Per flow: id, datagrams received, distinct datagrams received. */
	printf(",\"udp_flows\":[");
	for (uint32_t i = 0, n = 0; i < MAX_UDP_FLOWS; i++) {
		unsigned uniq = 0;

		if (!flows[i])
			continue;
		for (int s = 0; s < MAX_DGRAMS; s++)
			uniq += flows[i]->seen[s] != 0;
		printf("%s[%u,%u,%u]", n++ ? "," : "", i, flows[i]->received, uniq);
		free(flows[i]);
	}
	printf("]}\n");
	free(flows);
	close(lfd);
	close(ufd);
	return 0;
}

/* ---- run ---- */

struct cli_flow {
	int fd;
	uint16_t sport;
	uint8_t family;
	uint8_t sent;
	uint32_t replies;
	uint64_t seen;		/* a bit per datagram number replied to */
};

struct client {
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	uint64_t end_ms, seed;
	double tcp_period, udp_period;	/* ms between starts */
	pthread_mutex_t lock;
	double next_tcp, next_udp;
	atomic_uint n_tcp, n_udp;
	atomic_ulong tcp_ok, tcp_bad, bytes_up, bytes_down, udp_sent, udp_send_errors;
	int ep;
	struct cli_flow *flows;
	atomic_ulong udp_replies, udp_bad;
};

/* Wait for the next start slot; false once the run is over. */
static bool next_slot(struct client *c, double *next, double period)
{
	double t;

	pthread_mutex_lock(&c->lock);
	t = (double)now_ms();
	/* No catch-up bursts after a stall: the schedule restarts from now. */
	if (*next < t)
		*next = t;
	t = *next;
	*next += period;
	pthread_mutex_unlock(&c->lock);
	if (t >= (double)c->end_ms)
		return false;
	while ((double)now_ms() < t)
		usleep(1000);
	return true;
}

/* The outcome of a non-blocking connect() once the socket is writable. */
static int connect_result(int fd)
{
	socklen_t l = sizeof(int);
	int e = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l))
		return -errno;
	return -e;
}

static int tcp_once(struct client *c, uint32_t id, uint8_t *buf)
{
	uint64_t s = c->seed ^ ((uint64_t)id << 20 | 1), deadline = now_ms() + TCP_GUARD_MS;
	bool v6 = id & 1;
	struct hdr h = { .magic = MAGIC, .id = id };
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), r;
	long bad;

	rnd(&s);
	h.up = 1 + rnd(&s) % MAX_UP;
	h.down = 1 + rnd(&s) % MAX_DOWN;
	if (fd < 0)
		return -errno;
	if (connect(fd, v6 ? (struct sockaddr *)&c->a6 : (struct sockaddr *)&c->a4,
		    v6 ? sizeof(c->a6) : sizeof(c->a4)) && errno != EINPROGRESS) {
		r = -errno;
		goto out;
	}
	if ((r = wait_fd(fd, POLLOUT, deadline)) < 0 || (r = connect_result(fd)) < 0)
		goto out;
	for (uint32_t i = 0; i < h.up; i++)
		buf[i] = pattern(id, 0, i);
	if ((r = write_all(fd, (uint8_t *)&h, sizeof(h), deadline)) < 0 ||
	    (r = write_all(fd, buf, h.up, deadline)) < 0)
		goto out;
	if ((r = read_all(fd, buf, h.down, deadline)) < 0)
		goto out;
	if ((bad = check_pattern(buf, h.down, id, 1)) >= 0) {
		note_error("client: connection %u: byte %ld of %u differs", id, bad, h.down);
		r = -EBADMSG;
		goto out;
	}
	if ((r = expect_eof(fd, deadline)) < 0)
		goto out;
	c->bytes_up += h.up;
	c->bytes_down += h.down;
out:
	close(fd);
	return r;
}

static void *tcp_worker(void *arg)
{
	struct client *c = arg;
	uint8_t *buf = malloc(MAX_DOWN);

	while (buf && next_slot(c, &c->next_tcp, c->tcp_period)) {
		uint32_t id = c->n_tcp++;
		int r = tcp_once(c, id, buf);

		if (r == 0) {
			c->tcp_ok++;
		} else {
			c->tcp_bad++;
			if (r != -EBADMSG)
				note_error("client: connection %u: %s", id, strerror(-r));
		}
	}
	free(buf);
	return NULL;
}

static void udp_flow(struct client *c, uint32_t id)
{
	struct cli_flow *f = &c->flows[id];
	uint64_t s = c->seed ^ ((uint64_t)id << 20 | 2);
	bool v6 = id & 1;
	struct sockaddr_in6 me6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in me4 = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = id };
	uint32_t n;
	int one = 1;

	rnd(&s);
	n = 1 + rnd(&s) % MAX_DGRAMS;
	f->family = v6 ? 6 : 4;
	f->sport = (uint16_t)(UDP_PORT_BASE + id);
	f->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (f->fd < 0) {
		note_error("client: UDP flow %u: socket: %s", id, strerror(errno));
		return;
	}
	me6.sin6_port = me4.sin_port = htons(f->sport);
	if (v6)
		setsockopt(f->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(f->fd, v6 ? (struct sockaddr *)&me6 : (struct sockaddr *)&me4,
		 v6 ? sizeof(me6) : sizeof(me4)) ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, f->fd, &ev)) {
		note_error("client: UDP flow %u: bind/epoll: %s", id, strerror(errno));
		close(f->fd);
		f->fd = -1;
		return;
	}
	for (uint32_t seq = 0; seq < n; seq++) {
		uint8_t b[1200];
		uint32_t len = 16 + rnd(&s) % (sizeof(b) - 16), hd[4] = { MAGIC, id, seq, n };

		memcpy(b, hd, sizeof(hd));
		for (uint32_t i = 16; i < len; i++)
			b[i] = pattern(id, 2 + seq, i - 16);
		if (sendto(f->fd, b, len, 0, v6 ? (struct sockaddr *)&c->a6 : (struct sockaddr *)&c->a4,
			   v6 ? sizeof(c->a6) : sizeof(c->a4)) == (ssize_t)len) {
			f->sent++;
			c->udp_sent++;
		} else {
			c->udp_send_errors++;
		}
		usleep(2000);
	}
}

static void *udp_worker(void *arg)
{
	struct client *c = arg;

	while (next_slot(c, &c->next_udp, c->udp_period)) {
		uint32_t id = c->n_udp++;

		if (id >= MAX_UDP_FLOWS) {
			c->n_udp = MAX_UDP_FLOWS;
			break;
		}
		udp_flow(c, id);
	}
	return NULL;
}

static void read_replies(struct client *c, struct cli_flow *f)
{
	for (;;) {
		uint8_t b[2048];
		uint32_t hd[4];
		ssize_t k = recv(f->fd, b, sizeof(b), 0);

		if (k < 0)
			return;
		memcpy(hd, b, sizeof(hd));
		if (k < 16 || hd[0] != MAGIC || hd[1] >= MAX_UDP_FLOWS || &c->flows[hd[1]] != f ||
		    hd[2] >= MAX_DGRAMS) {
			c->udp_bad++;
			continue;
		}
		f->replies++;
		f->seen |= 1ull << hd[2];
		c->udp_replies++;
	}
}

static void *reply_reader(void *arg)
{
	struct client *c = arg;

	while (!stop_flag) {
		struct epoll_event ev[64];
		int n = epoll_wait(c->ep, ev, 64, 100);

		for (int i = 0; i < n; i++)
			read_replies(c, &c->flows[ev[i].data.u32]);
	}
	return NULL;
}

static int do_run(char **argv, int argc)
{
	struct client c = { .a4.sin_family = AF_INET, .a6.sin6_family = AF_INET6 };
	pthread_t tw[TCP_WORKERS], uw[UDP_WORKERS], rd;
	double tcp_rate = argc > 5 ? atof(argv[5]) : 10, udp_rate = argc > 6 ? atof(argv[6]) : 10;
	struct rlimit rl;
	sigset_t set;
	int sig;

	if (inet_pton(AF_INET, argv[1], &c.a4.sin_addr) != 1 ||
	    inet_pton(AF_INET6, argv[2], &c.a6.sin6_addr) != 1 || tcp_rate <= 0 || udp_rate <= 0) {
		fprintf(stderr, "soakgen: bad address or rate\n");
		return 2;
	}
	c.a4.sin_port = c.a6.sin6_port = htons((uint16_t)atoi(argv[3]));
	c.end_ms = now_ms() + (uint64_t)(atof(argv[4]) * 1000);
	c.seed = argc > 7 ? strtoull(argv[7], NULL, 0) | 1 : 1;
	c.tcp_period = 1000 / tcp_rate;
	c.udp_period = 1000 / udp_rate;
	pthread_mutex_init(&c.lock, NULL);
	/* One socket per UDP flow until the end. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAX_UDP_FLOWS + 256) {
		rl.rlim_cur = rl.rlim_max = MAX_UDP_FLOWS + 1024;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			perror("soakgen: raising the open-file limit");
			return 1;
		}
	}
	c.flows = calloc(MAX_UDP_FLOWS, sizeof(*c.flows));
	c.ep = epoll_create1(0);
	if (!c.flows || c.ep < 0) {
		perror("soakgen");
		return 1;
	}
	for (uint32_t i = 0; i < MAX_UDP_FLOWS; i++)
		c.flows[i].fd = -1;
	/* SIGTERM ends the reply reading; the main thread waits for it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_create(&rd, NULL, reply_reader, &c);
	for (int i = 0; i < TCP_WORKERS; i++)
		pthread_create(&tw[i], NULL, tcp_worker, &c);
	for (int i = 0; i < UDP_WORKERS; i++)
		pthread_create(&uw[i], NULL, udp_worker, &c);
	for (int i = 0; i < TCP_WORKERS; i++)
		pthread_join(tw[i], NULL);
	for (int i = 0; i < UDP_WORKERS; i++)
		pthread_join(uw[i], NULL);
	printf("{\"sending_done\":true}\n");
	fflush(stdout);
	sigwait(&set, &sig);
	stop_flag = 1;
	pthread_join(rd, NULL);
	/* What arrived after the reader's last round. */
	for (uint32_t i = 0; i < c.n_udp; i++)
		if (c.flows[i].fd >= 0)
			read_replies(&c, &c.flows[i]);
	printf("{\"tcp_connections\":%u,\"tcp_ok\":%lu,\"tcp_bad\":%lu,\"bytes_up\":%lu,"
	       "\"bytes_down\":%lu,\"udp_flows\":%u,\"udp_sent\":%lu,\"udp_send_errors\":%lu,"
	       "\"udp_replies\":%lu,\"udp_bad\":%lu,",
	       c.n_tcp, (unsigned long)c.tcp_ok, (unsigned long)c.tcp_bad, (unsigned long)c.bytes_up,
	       (unsigned long)c.bytes_down, c.n_udp, (unsigned long)c.udp_sent,
	       (unsigned long)c.udp_send_errors, (unsigned long)c.udp_replies,
	       (unsigned long)c.udp_bad);
	print_errors();
	/* Per flow: id, IP version, source port, sent, replies, distinct replies. */
	printf(",\"flows\":[");
	for (uint32_t i = 0; i < c.n_udp; i++) {
		struct cli_flow *f = &c.flows[i];

		printf("%s[%u,%u,%u,%u,%u,%d]", i ? "," : "", i, f->family, f->sport, f->sent,
		       f->replies, __builtin_popcountll(f->seen));
		if (f->fd >= 0)
			close(f->fd);
	}
	printf("]}\n");
	free(c.flows);
	close(c.ep);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };

	if (argc == 3 && !strcmp(argv[1], "serve")) {
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		return do_serve((uint16_t)atoi(argv[2]));
	}
	if (argc >= 6 && argc <= 9 && !strcmp(argv[1], "run"))
		return do_run(argv + 1, argc - 1);
	fprintf(stderr, "usage: soakgen serve PORT\n"
			"       soakgen run ADDR4 ADDR6 PORT SECONDS [TCP_PER_S] [UDP_PER_S] [SEED]\n");
	return 2;
}
