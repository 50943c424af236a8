// SPDX-License-Identifier: MIT
/*
 * rules_bench: what the number of rules costs per packet. N rules
 * "tcp port P => delay 1ms" on distinct ports (P = 10000 + i), and TCP
 * traffic of 64 connections to the port of the last rule, both ways
 * (data in, ACKs out), decided by pipeline_burst() as the live proxy does,
 * held packets released as their time comes (a simulated clock, 1 us per
 * packet). So every packet matches exactly one rule, the one a linear
 * scan reaches last.
 *
 *   rules_bench [packets, default 200000] [N ...: rule counts, default 1 100 1000 10000]
 *
 * Prints, per N: the time to build the rule set, and ns per packet (the
 * median of 5 runs; the machine is shared, so noisy). For figures that do
 * not move with the neighbours, count instructions: only bench_run() is
 * measured, so
 *
 *   valgrind --tool=callgrind --toggle-collect=bench_run --callgrind-out-file=/dev/null \
 *       build/rules_bench 20000 1000
 *
 * prints "Collected : I" for the 20000 packets of one run (divide by it).
 * FL_RULE_INDEX=0 decides without the rule index, scanning every rule.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"
#include "rule.h"

#define STRIDE 64
#define FLOWS 64
#define BURST 32
#define REPS 5
#define FIRST_PORT 10000

static uint64_t sim_now = 1000000000ull;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One IPv4 TCP segment between 10.1.0.1:(20000 + flow) and 10.1.0.2:port. */
static uint16_t segment(uint8_t *b, unsigned flow, uint16_t port, bool to_server, uint32_t seq)
{
	uint16_t cport = (uint16_t)(20000 + flow), len = to_server ? 64 : 40;
	uint8_t *t = b + 20;

	memset(b, 0, STRIDE);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8), b[3] = (uint8_t)len;
	b[6] = 0x40;
	b[8] = 64;
	b[9] = 6;
	b[12] = 10, b[13] = 1, b[15] = (uint8_t)(to_server ? 1 : 2);
	b[16] = 10, b[17] = 1, b[19] = (uint8_t)(to_server ? 2 : 1);
	t[0] = (uint8_t)((to_server ? cport : port) >> 8), t[1] = (uint8_t)(to_server ? cport : port);
	t[2] = (uint8_t)((to_server ? port : cport) >> 8), t[3] = (uint8_t)(to_server ? port : cport);
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8),
	t[7] = (uint8_t)seq;
	t[12] = 0x50;
	t[13] = 0x10;		/* ACK; the tracker takes these as mid-stream */
	t[14] = 0xff;
	return len;
}

static uint64_t verdicts, held_n;

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now_ns)
{
	(void)data, (void)id, (void)accept, (void)held, (void)payload, (void)len, (void)wire_len;
	(void)bytes, (void)now_ns;
	verdicts++;
	held_n += held;	/* every packet, when the rule is matched: checked at the end */
}

static const struct pipeline_ops ops = { .verdict = on_verdict };

/* The measured part: every packet decided, and released when due. */
__attribute__((noinline)) static void bench_run(struct pipeline *pl, const uint8_t *buf,
					     const uint16_t *len, size_t n)
{
	struct pipeline_pkt pk[BURST];
	uint64_t now[BURST];

	for (size_t i = 0; i < n; i += BURST) {
		unsigned m = n - i < BURST ? (unsigned)(n - i) : BURST;

		for (unsigned k = 0; k < m; k++) {
			const uint8_t *p = buf + (i + k) * STRIDE;

			pk[k] = (struct pipeline_pkt){
				.id = (uint32_t)(i + k),
				.dir = p[15] == 1 ? PKT_DIR_IN : PKT_DIR_OUT,
				.data = p,
				.len = len[i + k],
				.orig_len = len[i + k],
			};
			now[k] = sim_now;
			sim_now += 1000;
		}
		pipeline_burst(pl, pk, now, m);
		pipeline_release_due(pl, sim_now);
	}
}

static struct rule_set *make_rules(unsigned n, double *secs)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error err;
	double t0 = now_s();

	for (unsigned i = 0; rs && i < n; i++) {
		char line[64];

		snprintf(line, sizeof(line), "tcp port %u => delay 1ms", FIRST_PORT + i);
		if (rule_set_add_line(rs, line, "bench", (int)i + 1, &err)) {
			fprintf(stderr, "rules_bench: rule %u: %s\n", i + 1, err.msg);
			exit(1);
		}
	}
	if (!rs) {
		perror("rule_set_new");
		exit(1);
	}
	*secs = now_s() - t0;
	return rs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const unsigned def_counts[] = { 1, 100, 1000, 10000 };
	size_t npkts = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
	const char *off = getenv("FL_RULE_INDEX");
	bool scan_all = off && !strcmp(off, "0");
	unsigned ncounts = argc > 2 ? (unsigned)(argc - 2) : 4;
	uint8_t *buf = malloc(npkts * STRIDE);
	uint16_t *len = malloc(npkts * sizeof(*len));

	if (!buf || !len || !npkts) {
		fprintf(stderr, "rules_bench: out of memory or no packets\n");
		return 1;
	}
	printf("%8s %10s %12s   (%zu packets, %d connections, index %s)\n", "rules", "build_s",
	       "ns/packet", npkts, FLOWS, scan_all ? "off" : "on");
	for (unsigned c = 0; c < ncounts; c++) {
		unsigned n = argc > 2 ? (unsigned)strtoul(argv[2 + c], NULL, 0) : def_counts[c];
		uint16_t port = (uint16_t)(FIRST_PORT + n - 1);
		struct pipeline_config pc = { .seed = 1, .start_ns = sim_now };
		double build, t[REPS];
		struct rule_set *rs = make_rules(n, &build);
		uint32_t seq[FLOWS] = { 0 };

		pc.rule_scan_all = scan_all;

		/* Data in and its ACK out, the connections in turn. */
		for (size_t i = 0; i < npkts; i++) {
			unsigned f = (unsigned)(i / 2 % FLOWS);

			len[i] = segment(buf + i * STRIDE, f, port, i % 2 == 0, seq[f]);
			seq[f] += i % 2 == 0 ? 24 : 0;
		}
		for (int r = 0; r < REPS; r++) {
			struct pipeline *pl = pipeline_new(&pc, rs, &ops, NULL);
			double t0;

			if (!pl) {
				perror("pipeline_new");
				return 1;
			}
			t0 = now_s();
			bench_run(pl, buf, len, npkts);
			t[r] = (now_s() - t0) / (double)npkts * 1e9;
			pipeline_release_all(pl, sim_now, false);
			pipeline_free(pl);
			/* Under callgrind one run says it all. */
			if (getenv("RULES_BENCH_ONCE"))
				break;
		}
		qsort(t, getenv("RULES_BENCH_ONCE") ? 1 : REPS, sizeof(t[0]), cmp_double);
		printf("%8u %10.3f %12.1f\n", n, build,
		       t[getenv("RULES_BENCH_ONCE") ? 0 : REPS / 2]);
		rule_set_free(rs);
	}
	free(buf);
	free(len);
	/* Every packet matched its rule and was held: else the figures measure something else. */
	if (!verdicts || held_n != verdicts) {
		fprintf(stderr, "rules_bench: %llu of %llu packets held\n", (unsigned long long)held_n,
			(unsigned long long)verdicts);
		return 1;
	}
	return 0;
}
