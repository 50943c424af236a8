// SPDX-License-Identifier: MIT
/*
 * track_bench: packets per second through pkt_parse() + track_ingress() +
 * track_released(), the per-packet work of the tracker; the same with two
 * rules deciding (parse + track + match); and the whole decision path
 * (pipeline_burst()); for 1, 10k and 1M concurrent connections, and the
 * memory each connection costs. Each is measured packet by packet and in
 * bursts, the way faultline's pipeline decides what one recvmmsg read.
 *
 * The packets are raw IPv4/TCP built up front, so parsing is measured too.
 * Each connection first does its handshake, then rounds of one data
 * segment and its ACK; the connections take turns in a shuffled order each
 * round, so consecutive packets rarely share a cache line. The clock given
 * to the tracker is simulated (1 us per packet); only the benchmark itself
 * reads the real clock. Each case is repeated on a fresh tracker and the
 * median printed: single runs on a shared VM vary by tens of percent.
 *
 *   track_bench [packets per case, default 4000000] [flows: one case only, 0 = all]
 *               [repetitions, default 5]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "act.h"
#include "flow.h"
#include "packet.h"
#include "pipeline.h"
#include "rule.h"
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

/* The tracker's clock: simulated, 1 us per packet, from the same start each repetition. */
#define SIM_START 1000000000ull
static uint64_t sim_now;
/* Where the checksums go, so that no work can be optimised away. */
static volatile uint64_t sink;

/* Returns packets per second; *sum collects a checksum of the work. */
static double run(struct track *tr, const struct trace *t, size_t from, size_t to,
		  bool with_track, uint64_t *sum)
{
	double t0 = now_s();
	uint64_t x = 0;

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
			x = x * 31 + s.classes + s.segno;
		} else {
			x += v.seq;
		}
		sim_now += 1000;
	}
	*sum += x;
	return (double)(to - from) / (now_s() - t0);
}

#define AHEAD 4		/* in bursts: packets parsed and prefetched ahead (pipeline.c's BURST_AHEAD) */
#define BURST 32	/* packets per pipeline_burst(): one recvmmsg's worth, as proxy.c reads them */

/*
 * The whole decision path as the live proxy runs it, pipeline_burst():
 * parse, flow identity, tracker, the rules (a filter and a tracker
 * condition evaluated on every packet), release. faultline sits on the
 * server: the client's segments come in, the server's go out. No rule
 * fires on this traffic, so every packet is accepted at once.
 */
static const char *const match_rules[] = {
	"tcp dst port 9 => drop",
	"tcp => drop if state LAST_ACK",
};

static uint64_t accepted;

static void count_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
			  uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now_ns)
{
	(void)data, (void)id, (void)held, (void)payload, (void)len, (void)wire_len, (void)bytes, (void)now_ns;
	accepted += accept;
}

static void no_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies,
			 uint64_t now_ns)
{
	(void)data, (void)bytes, (void)len, (void)copies, (void)now_ns;
}

/* faultline sits on the server (port 80): its segments go out, the client's come in. */
static enum pkt_dir bench_dir(const uint8_t *p)
{
	return p[20] == 0 && p[21] == 80 ? PKT_DIR_OUT : PKT_DIR_IN;
}

static const struct pipeline_ops bench_ops = { .verdict = count_verdict, .duplicate = no_duplicate };

static double run_pipeline(struct pipeline *pl, const struct trace *t, size_t from, size_t to)
{
	struct pipeline_pkt pk[BURST];
	uint64_t now[BURST];
	double t0 = now_s();

	for (size_t i = from; i < to; i += BURST) {
		unsigned n = to - i < BURST ? (unsigned)(to - i) : BURST;

		for (unsigned k = 0; k < n; k++) {
			const uint8_t *p = t->buf + (i + k) * STRIDE;

			pk[k] = (struct pipeline_pkt){
				.id = (uint32_t)(i + k),
				.dir = bench_dir(p),
				.data = p,
				.len = t->len[i + k],
				.orig_len = t->len[i + k],
			};
			now[k] = sim_now;
			sim_now += 1000;
		}
		pipeline_burst(pl, pk, now, n);
	}
	return (double)(to - from) / (now_s() - t0);
}

static struct pipeline *match_pipeline(uint32_t flows, struct rule_set **rs)
{
	struct pipeline_config pc = { .seed = 1 };
	struct rule_error err;
	struct pipeline *pl;

	*rs = rule_set_new();
	for (size_t i = 0; *rs && i < sizeof(match_rules) / sizeof(match_rules[0]); i++)
		if (rule_set_add_line(*rs, match_rules[i], "bench", (int)i + 1, &err)) {
			fprintf(stderr, "bench rule %zu: %s\n", i + 1, err.msg);
			exit(1);
		}
	/* Room for every flow, in the flow table and the tracker alike. */
	pc.max_flows = flows > 65536 ? 1u << 21 : 65536;
	pc.max_conns = flows > 262144 ? 1u << 21 : 262144;
	pc.start_ns = SIM_START;
	pl = *rs ? pipeline_new(&pc, *rs, &bench_ops, NULL) : NULL;
	if (!pl) {
		perror("pipeline_new");
		exit(1);
	}
	return pl;
}

/*
 * Parse + track + match, the three steps the tracker's target names: the
 * rules (their filters and tracker conditions) decide on every tracked
 * segment, with the seeded identity they need; none of the pipeline's
 * bookkeeping (counters, events, verdict calls). Without ac, parse +
 * track only: run()'s work and checksum. With burst, the way
 * pipeline_burst() decides a burst: each packet parsed and its flow
 * prefetched (track_prefetch()) AHEAD packets before its turn.
 */
static double run_match(struct track *tr, struct act_ctx *ac, const struct trace *t, size_t from,
			size_t to, bool burst, uint64_t *sum)
{
	size_t ahead = burst ? AHEAD : 0;
	struct pkt_view ring[AHEAD + 1];
	double t0 = now_s();
	uint64_t x = 0;

	for (size_t i = from; i < to + ahead; i++) {
		if (i < to) {
			struct pkt_view *v = &ring[i % (AHEAD + 1)];

			if (pkt_parse(v, t->buf + i * STRIDE, t->len[i]) < 0) {
				fprintf(stderr, "packet %zu does not parse\n", i);
				exit(1);
			}
			if (burst)
				track_prefetch(tr, v);
		}
		if (i >= from + ahead) {
			size_t k = i - ahead;
			const struct pkt_view *v = &ring[k % (AHEAD + 1)];
			const uint8_t *p = t->buf + k * STRIDE;
			struct act_decision d = { .drop = false };
			struct act_tcp_info ti;
			struct act_input in;
			struct track_seg s;

			if (track_ingress(tr, v, sim_now, &s)) {
				fprintf(stderr, "packet %zu does not track\n", k);
				exit(1);
			}
			if (ac) {
				in = (struct act_input){
					.v = v,
					.dir = bench_dir(p),
					.now_ns = sim_now,
				};
				pipeline_tcp_input(&in, &ti, &s);
				act_decide(ac, &in, &d);
			}
			track_released(tr, &s, v, sim_now);
			x = x * 31 + s.classes + s.segno + d.drop;
			sim_now += 1000;
		}
	}
	*sum += x;
	return (double)(to - from) / (now_s() - t0);
}

/* run_match() over the steady rounds, after the handshakes, with a fresh tracker and rule state. */
static double match_case(const struct track_config *cfg, const struct rule_set *rs,
			 const struct trace *t, size_t hs, bool burst)
{
	struct act_ctx *ac = act_ctx_new(rs, 1, SIM_START);
	struct track *tr = track_new(cfg);
	uint64_t sum = 0;
	double pps;

	if (!tr || !ac) {
		perror("track_new/act_ctx_new");
		exit(1);
	}
	sim_now = SIM_START;
	run_match(tr, ac, t, 0, hs, burst, &sum);
	pps = run_match(tr, ac, t, hs, t->n, burst, &sum);
	sink += sum;
	act_ctx_free(ac);
	track_free(tr);
	return pps;
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPS 64

/*
 * One case: the trace is built once, then each repetition runs it through a
 * fresh tracker (handshakes, then the steady rounds) with the same clock, so
 * every repetition does exactly the same work (checked by its checksum).
 * The machine's noise moves single runs by tens of percent; the median of
 * the repetitions is the figure, the spread is printed with it.
 */
static void bench(uint32_t flows, size_t packets, int reps)
{
	struct track_config cfg;
	struct track_stats st;
	struct trace t;
	uint32_t rounds = (uint32_t)(packets / 2 / flows);
	size_t hs;
	double pps[MAX_REPS], hs_pps[MAX_REPS], parse_pps[MAX_REPS], rss[MAX_REPS];
	double bat_pps[MAX_REPS], match_pps[MAX_REPS], ptm_pps[MAX_REPS], ptm1_pps[MAX_REPS];
	double reserved = 0, pmin, pmax;
	uint64_t sum0 = 0;
	bool differ = false;

	if (rounds < 2)
		rounds = 2;
	track_config_default(&cfg);
	if (cfg.max_conns < flows)
		cfg.max_conns = 1u << 20;
	trace_init(&t, (size_t)flows * 3 + (size_t)flows * 2 * rounds);
	build_handshakes(&t, flows);
	hs = t.n;
	build_rounds(&t, flows, rounds);

	for (int r = 0; r < reps; r++) {
		struct track *tr;
		uint64_t sum = 0, psum = 0;
		long rss0;

		/* Parsing alone, over the same packets. */
		parse_pps[r] = run(NULL, &t, hs, t.n, false, &psum);
		sink += psum;
		rss0 = rss_kib();
		tr = track_new(&cfg);
		if (!tr) {
			perror("track_new");
			exit(1);
		}
		reserved = (double)track_reserved_bytes(tr) / cfg.max_conns;
		sim_now = SIM_START;
		hs_pps[r] = run(tr, &t, 0, hs, true, &sum);
		rss[r] = (double)(rss_kib() - rss0) * 1024.0 / flows;
		pps[r] = run(tr, &t, hs, t.n, true, &sum);
		track_get_stats(tr, &st);
		if (st.conns_active != flows || st.evicted)
			printf("         unexpected: %llu active, %llu evicted\n",
			       (unsigned long long)st.conns_active, (unsigned long long)st.evicted);
		if (r == 0)
			sum0 = sum;
		differ |= sum != sum0;
		sink += sum;
		track_free(tr);

		/* Again, batched, on a fresh tracker: the same work and checksum. */
		tr = track_new(&cfg);
		if (!tr) {
			perror("track_new");
			exit(1);
		}
		sim_now = SIM_START;
		sum = 0;
		run(tr, &t, 0, hs, true, &sum);
		bat_pps[r] = run_match(tr, NULL, &t, hs, t.n, true, &sum);
		differ |= sum != sum0;
		track_free(tr);

		/* Parse + track + match, on a fresh tracker each way. */
		{
			struct rule_set *rs;
			struct pipeline *pl = match_pipeline(flows, &rs); /* only for its rules */

			ptm1_pps[r] = match_case(&cfg, rs, &t, hs, false);
			ptm_pps[r] = match_case(&cfg, rs, &t, hs, true);
			pipeline_free(pl);
			rule_set_free(rs);
		}

		/* The live decision path, rules included, on a fresh pipeline. */
		{
			struct rule_set *rs;
			struct pipeline *pl = match_pipeline(flows, &rs);

			sim_now = SIM_START;
			accepted = 0;
			run_pipeline(pl, &t, 0, hs);
			match_pps[r] = run_pipeline(pl, &t, hs, t.n);
			if (accepted != t.n)
				printf("         unexpected: %llu of %zu packets accepted\n",
				       (unsigned long long)accepted, t.n);
			pipeline_free(pl);
			rule_set_free(rs);
		}
	}
	pmin = pmax = pps[0];
	for (int r = 1; r < reps; r++) {
		pmin = pps[r] < pmin ? pps[r] : pmin;
		pmax = pps[r] > pmax ? pps[r] : pmax;
	}
	printf("%8u flows  max_flows %7u  %zu pkts  parse only %6.2f Mpps\n", flows, cfg.max_conns,
	       t.n - hs, median(parse_pps, reps) / 1e6);
	printf("         parse + track              %6.2f Mpps in bursts, %6.2f one at a time "
	       "(median of %d, %.2f-%.2f)\n", median(bat_pps, reps) / 1e6, median(pps, reps) / 1e6,
	       reps, pmin / 1e6, pmax / 1e6);
	printf("         parse + track + match      %6.2f Mpps in bursts, %6.2f one at a time "
	       "(%zu rules)\n", median(ptm_pps, reps) / 1e6, median(ptm1_pps, reps) / 1e6,
	       sizeof(match_rules) / sizeof(match_rules[0]));
	printf("         whole decision path        %6.2f Mpps in bursts of %d "
	       "(pipeline_burst: also counters, events, verdicts)\n",
	       median(match_pps, reps) / 1e6, BURST);
	/* A rate over a handful of packets, or pages over one flow, says nothing. */
	if (flows >= 1000)
		printf("         handshakes %5.2f Mpps  memory per flow: %.1f B reserved at "
		       "capacity, %.0f B resident after the handshakes\n",
		       median(hs_pps, reps) / 1e6, reserved, median(rss, reps));
	if (differ)
		printf("         unexpected: the repetitions did not all do the same work\n");
	trace_free(&t);
}

int main(int argc, char **argv)
{
	size_t packets = argc > 1 ? strtoull(argv[1], NULL, 0) : 4000000;
	uint32_t only = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 0;
	int reps = argc > 3 ? atoi(argv[3]) : 5;

	if (reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "repetitions: 1 to %d\n", MAX_REPS);
		return 2;
	}
	printf("track_bench: pkt_parse + track_ingress + track_released, one core; then the\n"
	       "same with the rules deciding, and faultline's whole decision path\n");
	printf("flow entry %zu bytes; reserved at capacity: entries, buckets and the "
	       "record pool, per flow of max_flows\n", track_entry_size());
	if (only) {
		bench(only, packets, reps);
		return 0;
	}
	bench(1, packets, reps);
	bench(10000, packets, reps);
	bench(1000000, packets, reps);
	return 0;
}
