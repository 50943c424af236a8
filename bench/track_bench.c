// SPDX-License-Identifier: MIT
/*
 * track_bench: packets per second through pkt_parse() + track_ingress() +
 * track_released(), the per-packet work of the tracker, for 1, 10k and 1M
 * concurrent connections, and the memory each connection costs.
 *
 * The packets are raw IPv4/TCP built up front, so parsing is measured too.
 * Each connection first does its handshake, then rounds of one data
 * segment and its ACK; the connections take turns in a shuffled order each
 * round, so consecutive packets rarely share a cache line. The clock given
 * to the tracker is simulated (1 us per packet); only the benchmark itself
 * reads the real clock.
 *
 *   track_bench [packets per case, default 4000000] [flows: one case only]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "packet.h"
#include "track.h"

#define STRIDE 64		/* bytes per packet buffer */
#define DATA_LEN 64		/* a data segment: 40 bytes of headers, 24 of payload */
#define ACK_LEN 40

struct trace {
	uint8_t *buf;		/* n packets, STRIDE bytes apart */
	uint16_t *len;
	size_t n, cap;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Connection i: 10.(i>>16).(i>>8).i:(1024+i%50000) <-> 10.200.0.1:80. */
static void add(struct trace *t, uint32_t i, int from_server, uint8_t flags,
		uint32_t seq, uint32_t ack, uint16_t len)
{
	uint8_t *p = t->buf + t->n * STRIDE;
	uint8_t cli[4] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
	uint8_t srv[4] = { 10, 200, 0, 1 };
	uint16_t cport = (uint16_t)(1024 + i % 50000), sport = 80;

	memset(p, 0, STRIDE);
	p[0] = 0x45;
	put16(p + 2, len);
	p[6] = 0x40;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, from_server ? srv : cli, 4);
	memcpy(p + 16, from_server ? cli : srv, 4);
	put16(p + 20, from_server ? sport : cport);
	put16(p + 22, from_server ? cport : sport);
	put32(p + 24, seq);
	put32(p + 28, ack);
	p[32] = 5 << 4;
	p[33] = flags;
	put16(p + 34, 502);
	t->len[t->n++] = len;
}

static void trace_init(struct trace *t, size_t cap)
{
	t->cap = cap;
	t->n = 0;
	t->buf = malloc(cap * STRIDE);
	t->len = malloc(cap * sizeof(*t->len));
	if (!t->buf || !t->len) {
		perror("malloc");
		exit(1);
	}
}

static void trace_free(struct trace *t)
{
	free(t->buf);
	free(t->len);
}

static uint32_t isn_c(uint32_t i)
{
	return i * 2654435761u;
}

static uint32_t isn_s(uint32_t i)
{
	return ~i * 40503u;
}

/* Handshakes of all flows, in flow order. */
static void build_handshakes(struct trace *t, uint32_t flows)
{
	for (uint32_t i = 0; i < flows; i++) {
		add(t, i, 0, PKT_TCP_SYN, isn_c(i), 0, ACK_LEN);
		add(t, i, 1, PKT_TCP_SYN | PKT_TCP_ACK, isn_s(i), isn_c(i) + 1, ACK_LEN);
		add(t, i, 0, PKT_TCP_ACK, isn_c(i) + 1, isn_s(i) + 1, ACK_LEN);
	}
}

/* Rounds of data + ACK per flow, shuffled within each round. */
static void build_rounds(struct trace *t, uint32_t flows, uint32_t rounds)
{
	uint32_t *order = malloc(flows * sizeof(*order));
	const uint32_t pay = DATA_LEN - 40;

	if (!order) {
		perror("malloc");
		exit(1);
	}
	for (uint32_t i = 0; i < flows; i++)
		order[i] = i;
	for (uint32_t r = 0; r < rounds; r++) {
		for (uint32_t i = flows; i > 1; i--) {
			uint32_t j = (uint32_t)(rnd() % i), x = order[i - 1];

			order[i - 1] = order[j];
			order[j] = x;
		}
		for (uint32_t k = 0; k < flows; k++) {
			uint32_t i = order[k];
			uint32_t seq = isn_c(i) + 1 + r * pay;

			add(t, i, 0, PKT_TCP_ACK | PKT_TCP_PSH, seq, isn_s(i) + 1, DATA_LEN);
			add(t, i, 1, PKT_TCP_ACK, isn_s(i) + 1, seq + pay, ACK_LEN);
		}
	}
	free(order);
}

static uint64_t sim_now = 1000000000ull;

/* Returns packets per second; *classes collects a checksum of the work. */
static double run(struct track *tr, const struct trace *t, size_t from, size_t to,
		  bool with_track, uint64_t *classes)
{
	double t0 = now_s();
	uint64_t sum = 0;

	for (size_t i = from; i < to; i++) {
		struct pkt_view v;
		struct track_seg s;

		if (pkt_parse(&v, t->buf + i * STRIDE, t->len[i]) < 0) {
			fprintf(stderr, "packet %zu does not parse\n", i);
			exit(1);
		}
		if (with_track) {
			track_ingress(tr, &v, sim_now, &s);
			track_released(tr, &s, &v, sim_now);
			sum += s.classes;
		} else {
			sum += v.seq;
		}
		sim_now += 1000;
	}
	*classes += sum;
	return (double)(to - from) / (now_s() - t0);
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void bench(uint32_t flows, size_t packets)
{
	struct track_config cfg;
	struct track_stats st;
	struct trace t;
	struct track *tr;
	uint32_t rounds = (uint32_t)(packets / 2 / flows);
	size_t hs;
	uint64_t sum = 0;
	double hs_pps, pps, parse_pps;
	long rss0, rss1;

	if (rounds < 2)
		rounds = 2;
	track_config_default(&cfg);
	if (cfg.max_flows < flows)
		cfg.max_flows = 1u << 20;
	trace_init(&t, (size_t)flows * 3 + (size_t)flows * 2 * rounds);
	build_handshakes(&t, flows);
	hs = t.n;
	build_rounds(&t, flows, rounds);

	/* Parsing alone, over the same packets. */
	parse_pps = run(NULL, &t, hs, t.n, false, &sum);

	rss0 = rss_kib();
	tr = track_new(&cfg);
	if (!tr) {
		perror("track_new");
		exit(1);
	}
	hs_pps = run(tr, &t, 0, hs, true, &sum);
	rss1 = rss_kib();
	pps = run(tr, &t, hs, t.n, true, &sum);
	track_get_stats(tr, &st);

	/* A rate over a handful of packets, or pages over one flow, says nothing. */
	printf("%8u flows  max_flows %7u  steady %6.2f Mpps  (parse only %6.2f Mpps)"
	       "  %zu pkts", flows, cfg.max_flows, pps / 1e6, parse_pps / 1e6, t.n - hs);
	if (flows >= 1000)
		printf("  handshakes %5.2f Mpps  %.0f B/flow resident", hs_pps / 1e6,
		       (double)(rss1 - rss0) * 1024.0 / flows);
	printf("\n");
	if (st.flows_active != flows || st.evicted)
		printf("         unexpected: %llu active, %llu evicted\n",
		       (unsigned long long)st.flows_active, (unsigned long long)st.evicted);
	/* Keeps the work from being optimised away. */
	if (sum == 42)
		printf(" ");
	track_free(tr);
	trace_free(&t);
}

int main(int argc, char **argv)
{
	size_t packets = argc > 1 ? strtoull(argv[1], NULL, 0) : 4000000;
	struct track_config cfg;

	track_config_default(&cfg);
	printf("track_bench: pkt_parse + track_ingress + track_released, one core\n");
	printf("entry %zu bytes; table at capacity: %.1f bytes/flow (default %u flows), "
	       "%.1f bytes/flow (1M flows)\n",
	       track_entry_size(),
	       (double)track_entry_size() + 4.0 * 262144 / cfg.max_flows, cfg.max_flows,
	       (double)track_entry_size() + 4.0 * 1048576 / 1000000);
	if (argc > 2) {
		bench((uint32_t)strtoul(argv[2], NULL, 0), packets);
		return 0;
	}
	bench(1, packets);
	bench(10000, packets);
	bench(1000000, packets);
	return 0;
}
