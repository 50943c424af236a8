// SPDX-License-Identifier: MIT
/*
 * The random models of issue 12, measured: generated traffic (many UDP
 * flows, interleaved) through the decision function, and the realised
 * figures compared with each model's formulas, written out here. Every
 * tolerance is 5 standard errors of the estimate for the sample size
 * used, computed below (for correlated samples, from the chain's
 * asymptotic variance); the seeds are fixed, so each test is deterministic.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "flow.h"
#include "model.h"

#define Z 5.0	/* standard errors allowed */

struct fx {
	struct rule_set *rs;
	struct act_ctx *ctx;
	struct flow_table *flows;
	uint8_t buf[64];
	struct pkt_view v;
};

/* An IPv4/UDP packet 10.0.0.1:sport -> 10.0.0.2:5000, 36 bytes. */
static size_t udp4(uint8_t *b, uint16_t sport)
{
	memset(b, 0, 36);
	b[0] = 0x45;
	b[3] = 36;
	b[8] = 64;
	b[9] = 17;
	b[12] = 10, b[15] = 1;
	b[16] = 10, b[19] = 2;
	b[20] = sport >> 8, b[21] = sport & 0xff;
	b[22] = 5000 >> 8, b[23] = 5000 & 0xff;
	b[25] = 16;
	return 36;
}

static void fx_init(struct fx *f, const char *line, uint64_t seed)
{
	struct rule_error e;

	f->rs = rule_set_new();
	cr_assert_eq(rule_set_add_line(f->rs, line, "t", 1, &e), 0, "%s: %s", line, e.msg);
	f->ctx = act_ctx_new(f->rs, seed, 0);
	f->flows = flow_table_new(4096);
	cr_assert(f->ctx && f->flows);
}

static void fx_free(struct fx *f)
{
	act_ctx_free(f->ctx);
	flow_table_free(f->flows);
	rule_set_free(f->rs);
}

static void fx_decide(struct fx *f, uint16_t sport, enum pkt_dir dir, uint64_t now,
		      struct act_decision *d)
{
	struct act_input in = { .v = &f->v, .dir = dir, .now_ns = now };

	cr_assert_eq(pkt_parse(&f->v, f->buf, udp4(f->buf, sport)), 0);
	flow_table_identify(f->flows, &f->v, now, &in.id);
	act_decide(f->ctx, &in, d);
}

/* The reply way of the same flow: 10.0.0.2:5000 -> 10.0.0.1:sport. */
static void fx_decide_reply(struct fx *f, uint16_t sport, struct act_decision *d)
{
	struct act_input in = { .v = &f->v, .dir = PKT_DIR_OUT };
	size_t n = udp4(f->buf, sport);
	uint8_t t[4];

	memcpy(t, f->buf + 12, 4);
	memcpy(f->buf + 12, f->buf + 16, 4);
	memcpy(f->buf + 16, t, 4);
	memcpy(t, f->buf + 20, 4);
	memcpy(f->buf + 20, t + 2, 2);
	memcpy(f->buf + 22, t, 2);
	cr_assert_eq(pkt_parse(&f->v, f->buf, n), 0);
	flow_table_identify(f->flows, &f->v, 0, &in.id);
	act_decide(f->ctx, &in, d);
}

/* ---- loss ------------------------------------------------------------------ */

#define FLOWS 40
#define PER_FLOW 5000

struct loss_stats {
	double n, lost;
	double after_lost, lost_after_lost, after_kept, lost_after_kept;
	double bursts, burst_sum;	/* complete bursts inside a flow */
};

/* FLOWS flows of PER_FLOW packets, round robin, through rule. */
static void run_loss(const char *rule, uint64_t seed, struct loss_stats *s)
{
	int prev[FLOWS], run[FLOWS], run_from_start[FLOWS];
	struct fx f = { 0 };

	memset(s, 0, sizeof(*s));
	fx_init(&f, rule, seed);
	for (int k = 0; k < FLOWS; k++)
		prev[k] = -1, run[k] = 0, run_from_start[k] = 0;
	for (int i = 0; i < PER_FLOW; i++) {
		for (int k = 0; k < FLOWS; k++) {
			struct act_decision d;
			int l;

			fx_decide(&f, (uint16_t)(10000 + k), PKT_DIR_IN, (uint64_t)i * 1000, &d);
			l = d.drop;
			s->n++;
			s->lost += l;
			if (prev[k] == 1) {
				s->after_lost++;
				s->lost_after_lost += l;
			} else if (prev[k] == 0) {
				s->after_kept++;
				s->lost_after_kept += l;
			}
			if (l) {
				if (!run[k])
					run_from_start[k] = i == 0;
				run[k]++;
			} else if (run[k]) {
				/* A burst already under way at the flow's start is left out. */
				if (!run_from_start[k]) {
					s->bursts++;
					s->burst_sum += run[k];
				}
				run[k] = 0;
			}
			prev[k] = l;
		}
	}
	fx_free(&f);
}

/*
 * The asymptotic variance of the loss indicator's mean, for a chain of n
 * states with transitions t (t[i][j]: from i to j), in which a packet is
 * lost with l[s] given the state s it is counted in:
 * sigma^2 = mu(1-mu) + 2 sum_k>=1 Cov(l(S_0), l(S_k)). The stationary
 * distribution by power iteration.
 */
static double chain_var(int n, double t[][4], const double *l)
{
	double pi[4] = { 1, 0, 0, 0 }, g[4], ng[4], mu = 0, var, c;

	for (int it = 0; it < 200000; it++) {
		double np[4] = { 0 };

		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				np[j] += pi[i] * t[i][j];
		memcpy(pi, np, sizeof(pi));
	}
	for (int i = 0; i < n; i++)
		mu += pi[i] * l[i];
	var = mu * (1 - mu);
	memcpy(g, l, sizeof(g));
	for (int k = 1; k < 100000; k++) {
		for (int i = 0; i < n; i++) {
			ng[i] = 0;
			for (int j = 0; j < n; j++)
				ng[i] += t[i][j] * g[j];
		}
		memcpy(g, ng, sizeof(g));
		c = -mu * mu;
		for (int i = 0; i < n; i++)
			c += pi[i] * l[i] * g[i];
		var += 2 * c;
		if (fabs(c) < 1e-14)
			break;
	}
	return var;
}

static void report(const char *model, const char *what, double n, double want, double got,
		   double tol)
{
	/* The figures the README quotes come from here (ctest --verbose shows them). */
	cr_log_info("%s | %s | N=%.0f | expected %.5f | realised %.5f | tolerance %.5f", model, what, n,
		    want, got, tol);
	fprintf(stderr, "MEASURED %s | %s | %.0f | %.5f | %.5f | %.5f\n", model, what, n, want, got,
		tol);
	cr_assert(fabs(got - want) <= tol, "%s: %s realised %.5f, expected %.5f +- %.5f", model, what,
		  got, want, tol);
}

/*
 * drop P% correlation C%: a two-state chain, lost after a loss with
 * a = P + C(1-P), after a kept packet with b = P(1-C). Stationary rate P,
 * lag-1 correlation a - b = C, bursts geometric with mean 1/(1-a).
 */
Test(model, correlated_loss_rate_correlation_and_bursts)
{
	const double P = 0.2, C = 0.6, a = P + C * (1 - P), b = P * (1 - C);
	double t[4][4] = { { 1 - b, b }, { 1 - a, a } }, l[4] = { 0, 1 };
	struct loss_stats s;
	double pa, pb, sd_burst;

	run_loss("udp => drop 20% correlation 60%", 11, &s);
	report("correlation", "loss rate", s.n, P, s.lost / s.n, Z * sqrt(chain_var(2, t, l) / s.n));
	/* Given the previous packet, each outcome is a fresh Bernoulli draw. */
	pa = s.lost_after_lost / s.after_lost;
	pb = s.lost_after_kept / s.after_kept;
	report("correlation", "P(loss|loss)", s.after_lost, a, pa, Z * sqrt(a * (1 - a) / s.after_lost));
	report("correlation", "P(loss|kept)", s.after_kept, b, pb, Z * sqrt(b * (1 - b) / s.after_kept));
	report("correlation", "lag-1 correlation", s.n, C, pa - pb,
	       Z * sqrt(a * (1 - a) / s.after_lost + b * (1 - b) / s.after_kept));
	/* Geometric bursts, success 1 - a: sd sqrt(a) / (1 - a). */
	sd_burst = sqrt(a) / (1 - a);
	report("correlation", "mean burst", s.bursts, 1 / (1 - a), s.burst_sum / s.bursts,
	       Z * sd_burst / sqrt(s.bursts));
}

/* Gilbert-Elliott, all four parameters: rate (r(1-k) + p(1-h)) / (p + r). */
Test(model, gemodel_loss_rate)
{
	const double p = 0.02, r = 0.2, lb = 0.7, lg = 0.01;
	double t[4][4] = { { 1 - p, p }, { r, 1 - r } }, l[4] = { lg, lb };
	double want = (r * lg + p * lb) / (p + r), rate, burst;
	struct loss_stats s;
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	run_loss("udp => drop gemodel 2% 20% 70% 1%", 12, &s);
	report("gemodel 2% 20% 70% 1%", "loss rate", s.n, want, s.lost / s.n,
	       Z * sqrt(chain_var(2, t, l) / s.n));
	/* model_loss_figures (what the README quotes) agrees with the formula. */
	cr_assert_eq(rule_set_add_line(rs, "=> drop gemodel 2% 20% 70% 1%", "t", 1, &e), 0);
	model_loss_figures(&rule_set_get(rs, 0)->actions[0], &rate, &burst);
	cr_assert_float_eq(rate, want, 1e-12);
	rule_set_free(rs);
}

/*
 * Gilbert (1-h = 100%, 1-k = 0%): lost exactly in the bad state, so the
 * rate is p / (p + r) and bursts are the bad state's stays, geometric with
 * mean 1/r.
 */
Test(model, gemodel_gilbert_rate_and_burst)
{
	const double p = 0.05, r = 0.25;
	double t[4][4] = { { 1 - p, p }, { r, 1 - r } }, l[4] = { 0, 1 };
	struct loss_stats s;

	run_loss("udp => drop gemodel 5% 25%", 13, &s);
	report("gemodel 5% 25%", "loss rate", s.n, p / (p + r), s.lost / s.n,
	       Z * sqrt(chain_var(2, t, l) / s.n));
	report("gemodel 5% 25%", "mean burst", s.bursts, 1 / r, s.burst_sum / s.bursts,
	       Z * (sqrt(1 - r) / r) / sqrt(s.bursts));
}

/*
 * netem's 4-state model: a packet is lost when the chain enters 3 (a loss
 * in a burst) or 4 (an isolated loss). Balance gives pi1 p13 = pi3 p31,
 * pi2 p23 = pi3 p32, pi4 = pi1 p14; rate pi3 + pi4. A burst is either one
 * isolated loss (1 -> 4), or a stay in 3, geometric with success
 * p31 + p32.
 */
Test(model, four_state_rate_and_burst)
{
	const double p13 = 0.02, p31 = 0.3, p32 = 0.2, p23 = 0.4, p14 = 0.01;
	double t[4][4] = {
		{ 1 - p13 - p14, 0, p13, p14 },
		{ 0, 1 - p23, p23, 0 },
		{ p31, p32, 1 - p31 - p32, 0 },
		{ 1, 0, 0, 0 },
	};
	double l[4] = { 0, 0, 1, 1 };
	double pi1 = 1, pi3 = p13 / p31, pi2 = pi3 * p32 / p23, pi4 = p14, sum = pi1 + pi2 + pi3 + pi4;
	double starts = pi1 * (p13 + p14) + pi2 * p23, w4 = pi1 * p14 / starts, sg = p31 + p32;
	double mean = w4 + (1 - w4) / sg;
	double m2 = w4 + (1 - w4) * (2 - sg) / (sg * sg);	/* E[B^2] of the mixture */
	struct loss_stats s;

	run_loss("udp => drop state 2% 30% 20% 40% 1%", 14, &s);
	report("state 2% 30% 20% 40% 1%", "loss rate", s.n, (pi3 + pi4) / sum, s.lost / s.n,
	       Z * sqrt(chain_var(4, t, l) / s.n));
	report("state 2% 30% 20% 40% 1%", "mean burst", s.bursts, mean, s.burst_sum / s.bursts,
	       Z * sqrt((m2 - mean * mean) / s.bursts));
}

/* netem's defaults make gemodel P and state P plain Bernoulli losses of P. */
Test(model, defaults_are_bernoulli)
{
	static const char *const rules[] = { "udp => drop gemodel 10%", "udp => drop state 10%" };

	for (int i = 0; i < 2; i++) {
		struct loss_stats s;

		run_loss(rules[i], 15, &s);
		report(rules[i] + 7, "loss rate", s.n, 0.1, s.lost / s.n, Z * sqrt(0.09 / s.n));
		report(rules[i] + 7, "P(loss|loss)", s.after_lost, 0.1, s.lost_after_lost / s.after_lost,
		       Z * sqrt(0.09 / s.after_lost));
	}
}

/* A flow's decisions do not depend on other flows: same seed, alone or interleaved. */
Test(model, state_is_per_flow_direction)
{
	const char *rule = "udp => drop gemodel 5% 25% 90% 2%";
	struct fx a = { 0 }, b = { 0 };

	fx_init(&a, rule, 5);
	fx_init(&b, rule, 5);
	for (int i = 0; i < 3000; i++) {
		struct act_decision da, db, noise;

		fx_decide(&a, 1111, PKT_DIR_IN, 0, &da);
		fx_decide(&b, 2222, PKT_DIR_IN, 0, &noise);
		fx_decide_reply(&b, 1111, &noise);	/* same flow, the other way */
		fx_decide(&b, 1111, PKT_DIR_IN, 0, &db);
		cr_assert_eq(da.drop, db.drop, "packet %d", i);
	}
	fx_free(&a);
	fx_free(&b);
}

/*
 * A new rule set that keeps the rule as it was keeps its models' state:
 * the decisions go on as if nothing happened. A changed rule starts afresh.
 */
Test(model, swap_keeps_the_state_of_an_unchanged_rule)
{
	const char *rule = "udp => drop gemodel 5% 25% 90% 2%";
	struct fx a = { 0 }, b = { 0 };
	struct rule_set *rs2 = rule_set_new();
	struct rule_error e;
	int differ = 0;

	fx_init(&a, rule, 6);
	fx_init(&b, rule, 6);
	cr_assert_eq(rule_set_add_line(rs2, rule, "t", 1, &e), 0);
	for (int i = 0; i < 4000; i++) {
		struct act_decision da, db;

		if (i == 2000)
			cr_assert_eq(act_ctx_swap(b.ctx, rs2, 0, NULL), 0);
		fx_decide(&a, (uint16_t)(1000 + i % 50), PKT_DIR_IN, 0, &da);
		fx_decide(&b, (uint16_t)(1000 + i % 50), PKT_DIR_IN, 0, &db);
		differ += da.drop != db.drop;
	}
	cr_assert_eq(differ, 0);
	act_ctx_free(b.ctx);
	b.ctx = NULL;
	rule_set_free(rs2);
	fx_free(&a);
	fx_free(&b);
}

/* ---- delay ----------------------------------------------------------------- */

#define DFLOWS 20
#define DPER 2000

static double inv_normal_quartile(double q)
{
	/* Phi^-1(0.25) and Phi^-1(0.75). */
	return q < 0.5 ? -0.6744897501960817 : 0.6744897501960817;
}

/* Quantile q of each distribution in jitter units (all are monotone in one draw). */
static double quantile(enum rule_dist dist, double q)
{
	double pareto = pow(1 - q, -1.0 / 3.0) - 1.5;

	switch (dist) {
	case RULE_DIST_NORMAL:
		return inv_normal_quartile(q);
	case RULE_DIST_PARETO:
		return pareto;
	case RULE_DIST_PARETONORMAL:
		return 0.25 * inv_normal_quartile(q) + 0.75 * pareto;
	default:
		return 2 * q - 1;
	}
}

/* The variance of each distribution in jitter units (mean 0 for all). */
static double variance(enum rule_dist dist)
{
	double v = 0, h = 1e-3;

	switch (dist) {
	case RULE_DIST_NORMAL:
		return 1;
	case RULE_DIST_PARETO:
		return 0.75;	/* shape 3, scale 1: 3 / (2^2 * 1) */
	case RULE_DIST_PARETONORMAL:
		/* E[(z/4 + 3/4 ((1 - Phi(z))^(-1/3) - 3/2))^2] under the normal density. */
		for (double z = -12; z < 12; z += h) {
			double g = 0.25 * z + 0.75 * (pow(0.5 * erfc(z / M_SQRT2), -1.0 / 3.0) - 1.5);

			v += g * g * exp(-z * z / 2) / sqrt(2 * M_PI) * h;
		}
		return v;
	default:
		return 1.0 / 3;
	}
}

/*
 * Delay D jitter J of each distribution, with and without correlation:
 * the mean is D and the quartiles are D + J Q(q). With correlation c,
 * delays are g(z) of an AR(1) normal chain, and Gebelein's inequality
 * bounds any correlation of g(z_0), g(z_k) by c^k: the variance of a mean
 * grows at most by (1 + c)/(1 - c), which the tolerances take.
 */
static void check_delay(enum rule_dist dist, const char *name, double c)
{
	const double D = 100e6, J = 10e6;
	double sum = 0, below[2] = { 0 }, n = 0, infl = (1 + c) / (1 - c), sxy = 0, sxx = 0;
	double prev[DFLOWS];
	char rule[160], label[80];
	struct fx f = { 0 };

	snprintf(rule, sizeof(rule), "udp => delay 100ms jitter 10ms%s%s distribution %s",
		 c > 0 ? " correlation " : "", c > 0 ? "50%" : "", name);
	fx_init(&f, rule, 21);
	for (int i = 0; i < DPER; i++) {
		for (int k = 0; k < DFLOWS; k++) {
			struct act_decision d;
			double x;

			fx_decide(&f, (uint16_t)(20000 + k), PKT_DIR_IN, 0, &d);
			x = ((double)d.delay_ns - D) / J;
			sum += x;
			below[0] += x <= quantile(dist, 0.25);
			below[1] += x <= quantile(dist, 0.75);
			if (i) {
				sxy += prev[k] * x;
				sxx += prev[k] * prev[k];
			}
			prev[k] = x;
			n++;
		}
	}
	fx_free(&f);
	snprintf(label, sizeof(label), "delay %s%s", name, c > 0 ? " correlation 50%" : "");
	report(label, "mean (jitter units)", n, 0, sum / n, Z * sqrt(variance(dist) * infl / n));
	report(label, "P(x <= Q(0.25))", n, 0.25, below[0] / n, Z * sqrt(0.25 * 0.75 * infl / n));
	report(label, "P(x <= Q(0.75))", n, 0.75, below[1] / n, Z * sqrt(0.25 * 0.75 * infl / n));
	if (dist == RULE_DIST_NORMAL || c == 0) {
		/*
		 * The lag-1 correlation: c for the normal chain (Bartlett:
		 * sd sqrt((1 - c^2)/N)), 0 without correlation (sd 1/sqrt(N)).
		 * Computed about the known mean 0, scaled by the known sd.
		 */
		double r1 = sxy / sxx;

		report(label, "lag-1 correlation", n, c, r1, Z * sqrt((1 - c * c) / n));
	}
}

Test(model, delay_distributions_mean_and_quartiles)
{
	check_delay(RULE_DIST_UNIFORM, "uniform", 0);
	check_delay(RULE_DIST_NORMAL, "normal", 0);
	check_delay(RULE_DIST_PARETO, "pareto", 0);
	check_delay(RULE_DIST_PARETONORMAL, "paretonormal", 0);
}

Test(model, correlated_delay_keeps_the_distribution)
{
	check_delay(RULE_DIST_UNIFORM, "uniform", 0.5);
	check_delay(RULE_DIST_NORMAL, "normal", 0.5);
	check_delay(RULE_DIST_PARETO, "pareto", 0.5);
	check_delay(RULE_DIST_PARETONORMAL, "paretonormal", 0.5);
}

/* ---- slot ------------------------------------------------------------------- */

/*
 * Slots under load (one packet per ms, more than they carry): every slot
 * leaves full, and the gaps between slots are uniform in [MIN, MAX]; on
 * an idle link each packet waits one gap. Packets leave in their order.
 */
static void check_slots(const char *rule, uint64_t every_ns, int packets, unsigned want_size,
			uint64_t min_ns, uint64_t max_ns, bool loaded)
{
	uint64_t last_at = 0, first_arrival = 0;
	double gaps = 0, n_gaps = 0, size = 0, waits = 0;
	struct fx f = { 0 };

	fx_init(&f, rule, 31);
	for (int i = 0; i < packets; i++) {
		uint64_t now = 1000000000ull + (uint64_t)i * every_ns, at;
		struct act_decision d;

		fx_decide(&f, (uint16_t)(30000 + i % 7), PKT_DIR_IN, now, &d);
		at = now + d.delay_ns;
		cr_assert(at >= last_at, "packet %d leaves before the one ahead of it", i);
		if (!i)
			first_arrival = now;
		if (at != last_at) {
			if (last_at) {
				if (loaded)
					cr_assert_eq(size, want_size, "slot at %llu carried %.0f packets",
						     (unsigned long long)last_at, size);
				cr_assert(at - last_at >= min_ns && (!loaded || at - last_at <= max_ns),
					  "gap %llu", (unsigned long long)(at - last_at));
				if (loaded) {
					gaps += (double)(at - last_at);
					n_gaps++;
				}
			} else {
				cr_assert_geq(at - first_arrival, min_ns);
			}
			size = 0;
			last_at = at;
		}
		cr_assert_leq(size, want_size);
		size++;
		waits += (double)d.delay_ns;
	}
	fx_free(&f);
	if (loaded && max_ns > min_ns) {
		double mean = (double)(min_ns + max_ns) / 2, sd = (double)(max_ns - min_ns) / sqrt(12);

		report(rule + 7, "mean gap between slots (ms)", n_gaps, mean / 1e6, gaps / n_gaps / 1e6,
		       Z * sd / sqrt(n_gaps) / 1e6);
	}
	if (!loaded) {
		/* Each packet alone: it waits one gap, uniform in [MIN, MAX]. */
		double mean = (double)(min_ns + max_ns) / 2, sd = (double)(max_ns - min_ns) / sqrt(12);

		report(rule + 7, "mean wait, idle link (ms)", packets, mean / 1e6, waits / packets / 1e6,
		       Z * sd / sqrt(packets) / 1e6);
	}
}

Test(model, slot_packets_per_slot_and_gaps)
{
	check_slots("udp => slot 10ms 30ms packets 4", 1000000, 4000, 4, 10000000, 30000000, true);
}

/* 36-byte packets, 100 bytes a slot: the third overruns it, as netem lets it. */
Test(model, slot_bytes_per_slot)
{
	check_slots("udp => slot 10ms bytes 100", 1000000, 3000, 3, 10000000, 10000000, true);
}

Test(model, slot_idle_link_waits_one_gap)
{
	check_slots("udp => slot 10ms 30ms packets 4", 100000000, 2000, 1, 10000000, 30000000, false);
}

/* ---- profile ----------------------------------------------------------------- */

/*
 * profile 3g (comcast: 250 ms, 750 kbit/s, 1.5%): each way drops 1.5%,
 * delays 125 ms, and sends at 750 kbit/s (a 36-byte packet: 384 us).
 */
Test(model, profile_3g_loss_delay_rate)
{
	struct fx f = { 0 };
	double n = 0, lost = 0;

	fx_init(&f, "udp => profile 3g", 41);
	for (int i = 0; i < 40000; i++) {
		struct act_decision d;

		/* 10 ms apart: the rate queue is empty each time. */
		fx_decide(&f, (uint16_t)(40000 + i % 13), i % 2 ? PKT_DIR_OUT : PKT_DIR_IN,
			  (uint64_t)i * 10000000, &d);
		n++;
		lost += d.drop;
		if (!d.drop)
			cr_assert_eq(d.delay_ns, 125000000 + 384000, "packet %d", i);
	}
	fx_free(&f);
	report("profile 3g", "loss rate", n, 0.015, lost / n, Z * sqrt(0.015 * 0.985 / n));
}
