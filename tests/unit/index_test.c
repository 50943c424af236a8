// SPDX-License-Identifier: MIT
/*
 * The rule index (rules/index.c): what the analysis files a filter under,
 * and, above all, that a packet's candidates always include every rule
 * whose filter libpcap matches, in rule order, so that act decides
 * exactly as a scan of every rule does; also after rules are added,
 * removed, cloned, or a load is taken back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "act.h"
#include "memo.h"
#include "rule.h"

static uint64_t rs_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rs_state ^= rs_state << 13;
	rs_state ^= rs_state >> 7;
	rs_state ^= rs_state << 17;
	return (uint32_t)(rs_state >> 11);
}

static struct rule_set *rules(const char *const *lines, int n)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert(rs);
	for (int i = 0; i < n; i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "t", i + 1, &e), 0, "%s: %s",
			     lines[i], e.msg);
	return rs;
}

static bool witness(const char *filter, int cls, struct rule_memo_witness *w)
{
	char line[256];
	const char *l = line;
	struct rule_set *rs;
	bool ok;

	snprintf(line, sizeof(line), "%s => drop", filter);
	rs = rules(&l, 1);
	ok = rule_memo_witness(rule_set_get(rs, 0)->filter, cls, w);
	rule_set_free(rs);
	return ok;
}

static bool has_fact(const struct rule_memo_witness *w, uint16_t off, uint8_t size, uint32_t val)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->f[i].off == off && w->f[i].size == size && w->f[i].val == val)
			return true;
	return false;
}

Test(index, port_filters_are_filed_by_their_ports)
{
	struct rule_memo_witness w;

	cr_assert(witness("tcp port 80", RULE_MEMO_TCP4, &w));
	cr_assert_not(w.any);
	cr_assert_eq(w.n, 2);
	cr_assert(has_fact(&w, 20, 2, 80) && has_fact(&w, 22, 2, 80));
	cr_assert(witness("tcp dst port 5432", RULE_MEMO_TCP6, &w));
	cr_assert_eq(w.n, 1);
	cr_assert(has_fact(&w, 42, 2, 5432));
	/* Another protocol's port: no packet of the class matches. */
	cr_assert(witness("udp port 53", RULE_MEMO_TCP4, &w));
	cr_assert_not(w.any);
	cr_assert_eq(w.n, 0);
	cr_assert(witness("tcp port 80 or udp port 53", RULE_MEMO_UDP4, &w));
	cr_assert_eq(w.n, 2);
	cr_assert(has_fact(&w, 20, 2, 53) && has_fact(&w, 22, 2, 53));
	/* Addresses alone; with a port, the port (the narrower field). */
	cr_assert(witness("host 10.1.2.3", RULE_MEMO_UDP4, &w));
	cr_assert_eq(w.n, 2);
	cr_assert(has_fact(&w, 12, 4, 0x0a010203) && has_fact(&w, 16, 4, 0x0a010203));
	cr_assert(witness("src host 10.1.2.3 and tcp dst port 9", RULE_MEMO_TCP4, &w));
	cr_assert_eq(w.n, 1);
	cr_assert(has_fact(&w, 22, 2, 9));
}

Test(index, what_has_no_witness)
{
	struct rule_memo_witness w;

	/* The class alone decides a match: nothing narrows it. */
	cr_assert(witness("tcp", RULE_MEMO_TCP4, &w));
	cr_assert(w.any);
	/* A masked address, a range, a negation: no equality to file by. */
	cr_assert(witness("net 10.0.0.0/8", RULE_MEMO_TCP4, &w));
	cr_assert(w.any);
	cr_assert(witness("tcp portrange 8000-9000", RULE_MEMO_TCP4, &w));
	cr_assert(w.any);
	cr_assert(witness("not tcp port 80", RULE_MEMO_TCP4, &w));
	cr_assert(w.any);
	/* One path without a fact is enough. */
	cr_assert(witness("tcp port 80 or tcp[13] & 2 != 0", RULE_MEMO_TCP4, &w));
	cr_assert(w.any);
	/* Any byte the program compares whole is a fact, the TCP flags too. */
	cr_assert(witness("tcp port 80 or tcp[13] = 2", RULE_MEMO_TCP4, &w));
	cr_assert_not(w.any);
	cr_assert_eq(w.n, 3);
	cr_assert(has_fact(&w, 33, 1, 2));
	/* The length changes from packet to packet: not analysed at all. */
	cr_assert_not(witness("greater 100", RULE_MEMO_TCP4, &w));
}

/* ---- generated packets and rule sets ---- */

static const uint16_t ports[] = { 53, 80, 443, 1000, 1001, 1002, 5432, 8080, 8443, 9 };
#define NPORTS (sizeof(ports) / sizeof(ports[0]))

static uint16_t some_port(void)
{
	return rnd() % 8 ? ports[rnd() % NPORTS] : (uint16_t)rnd();
}

/*
 * A packet of any kind: IPv4 or IPv6; TCP, UDP, ICMP or GRE; sometimes
 * with IPv4 options or a fragment; ports and addresses from a few values
 * (so rules match), or anything. Returns its length; *cut is how much of
 * it a short copy keeps.
 */
static size_t any_packet(uint8_t *b, size_t *cut)
{
	bool v6 = rnd() % 3 == 0, opts = !v6 && rnd() % 10 == 0;
	unsigned kind = rnd() % 10;
	uint8_t proto = kind < 5 ? 6 : kind < 8 ? 17 : kind < 9 ? (v6 ? 58 : 1) : 47;
	size_t l3 = v6 ? 40 : opts ? 24 : 20, l4 = proto == 6 ? 20 : 8, len = l3 + l4 + rnd() % 20;
	uint8_t *p = b + l3;
	uint16_t sp = some_port(), dp = some_port();

	memset(b, 0, 128);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)rnd();
	if (v6) {
		b[0] = 0x60;
		b[1] = 0;
		b[4] = (uint8_t)((len - 40) >> 8);
		b[5] = (uint8_t)(len - 40);
		b[6] = proto;
		b[7] = 64;
		memset(b + 8, 0, 32);
		b[8] = b[24] = 0xfd;
		b[23] = (uint8_t)(1 + rnd() % 3);
		b[39] = (uint8_t)(1 + rnd() % 3);
	} else {
		b[0] = (uint8_t)(0x40 | l3 / 4);
		b[2] = (uint8_t)(len >> 8);
		b[3] = (uint8_t)len;
		b[6] = (uint8_t)(rnd() % 12 == 0 ? 0x20 : 0x40);	/* sometimes MF */
		b[7] = (uint8_t)(rnd() % 12 == 0 ? 0x10 : 0);		/* sometimes a later fragment */
		b[8] = 64;
		b[9] = proto;
		b[12] = b[16] = 10;
		b[13] = b[14] = b[17] = b[18] = 0;
		b[15] = (uint8_t)(1 + rnd() % 3);
		b[19] = (uint8_t)(1 + rnd() % 3);
		if (opts)
			memset(b + 20, 1, 4);
	}
	if (proto == 6 || proto == 17) {
		p[0] = (uint8_t)(sp >> 8), p[1] = (uint8_t)sp;
		p[2] = (uint8_t)(dp >> 8), p[3] = (uint8_t)dp;
	}
	if (proto == 6)
		p[12] = 0x50;
	if (proto == 17) {
		p[4] = (uint8_t)((len - l3) >> 8);
		p[5] = (uint8_t)(len - l3);
	}
	*cut = rnd() % 10 == 0 ? l3 + rnd() % (len - l3) : len;
	return len;
}

/* A filter from pieces generated rule files are made of, and a few the index cannot file. */
static void any_filter(char *buf, size_t size)
{
	static const char *const dirs[] = { "", "src ", "dst " };
	static const char *const protos[] = { "tcp ", "udp ", "" };
	uint16_t p = some_port();
	unsigned h = 1 + rnd() % 3;

	switch (rnd() % 12) {
	case 0:
	case 1:
	case 2:
	case 3:
		snprintf(buf, size, "%s%sport %u", protos[rnd() % 3], dirs[rnd() % 3], p);
		break;
	case 4:
		snprintf(buf, size, "%shost 10.0.0.%u", dirs[rnd() % 3], h);
		break;
	case 5:
		snprintf(buf, size, "%shost fd00::%u and %sport %u", dirs[rnd() % 3], h,
			 protos[rnd() % 3], p);
		break;
	case 6:
		snprintf(buf, size, "tcp port %u or udp port %u", p, some_port());
		break;
	case 7:
		snprintf(buf, size, "%s", rnd() % 2 ? "icmp" : "icmp6 or ip proto 47");
		break;
	case 8:
		snprintf(buf, size, "tcp portrange %u-%u", p, p + 100u);
		break;
	case 9:
		snprintf(buf, size, "not port %u", p);
		break;
	case 10:
		snprintf(buf, size, "net 10.0.0.0/30 and greater %u", 40 + rnd() % 30);
		break;
	default:
		snprintf(buf, size, "tcp[13] & 2 != 0 and dst port %u", p);
		break;
	}
}

static struct rule_set *any_rules(unsigned n)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert(rs);
	for (unsigned i = 0; i < n; i++) {
		char f[128], line[256];

		/* Generated files repeat filters (a rule per phase): those share a run. */
		if (i && rnd() % 4 == 0)
			snprintf(f, sizeof(f), "%s", rule_set_get(rs, rnd() % i)->filter_text);
		else
			any_filter(f, sizeof(f));
		/* Actions and qualifiers that make the order of evaluation show. */
		switch (rnd() % 8) {
		case 6:
			/* Windows that open and shut while the packets go by (1 us each). */
			snprintf(line, sizeof(line), "%s => drop 40%%, after %uus, for %uus", f,
				 rnd() % 2000, 1 + rnd() % 1500);
			break;
		case 7:
			snprintf(line, sizeof(line), "%s => delay 3ms, out, after %uus, every 3", f,
				 rnd() % 1500);
			break;
		case 0:
			snprintf(line, sizeof(line), "%s => drop 30%%", f);
			break;
		case 1:
			snprintf(line, sizeof(line), "%s => accept, every 2", f);
			break;
		case 2:
			snprintf(line, sizeof(line), "%s => delay %ums, first 40", f, 1 + rnd() % 9);
			break;
		case 3:
			snprintf(line, sizeof(line), "%s => duplicate 40%%", f);
			break;
		case 4:
			snprintf(line, sizeof(line), "=> delay 1ms 10%%");
			break;
		default:
			snprintf(line, sizeof(line), "%s => delay 2ms jitter 1ms, in", f);
			break;
		}
		cr_assert_eq(rule_set_add_line(rs, line, "gen", (int)i + 1, &e), 0, "%s: %s", line,
			     e.msg);
	}
	return rs;
}

/* Every rule libpcap matches is a candidate; the candidates ascend, each once. */
static unsigned check_cands(const struct rule_set *rs, const struct pkt_view *v)
{
	size_t n = rule_set_count(rs);
	struct rule_cands c;
	int i, last = -1;
	unsigned k = 0, seen = 0;
	static bool is[RULE_MAX_RULES];

	memset(is, 0, n);
	rule_set_cands(rs, v, &c);
	while ((i = rule_cands_next(&c)) >= 0) {
		cr_assert_gt(i, last, "candidates out of order: %d after %d", i, last);
		cr_assert_lt((size_t)i, n);
		is[i] = true;
		last = i;
		seen++;
	}
	for (size_t r = 0; r < n; r++) {
		if (!rule_filter_match(rule_set_get(rs, r), v))
			continue;
		k++;
		cr_assert(is[r], "rule %zu '%s' matches, but is no candidate", r + 1,
			  rule_set_get(rs, r)->filter_text);
	}
	(void)k;
	return seen;
}

static void check_packets(const struct rule_set *rs, unsigned npkts, unsigned *cands)
{
	uint8_t b[128];

	for (unsigned i = 0; i < npkts; i++) {
		size_t cut, len = any_packet(b, &cut);
		struct pkt_view v;

		if (pkt_parse_cut(&v, b, cut, len))
			continue;
		*cands += check_cands(rs, &v);
	}
}

Test(index, candidates_include_every_match)
{
	for (int round = 0; round < 20; round++) {
		struct rule_set *rs = any_rules(1 + rnd() % 200);
		unsigned cands = 0;

		check_packets(rs, 2000, &cands);
		cr_assert_gt(cands, 0);
		rule_set_free(rs);
	}
}

Test(index, port_rules_narrow_to_one)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;
	uint8_t b[128] = { 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	struct pkt_view v;
	struct rule_cands c;

	for (int i = 0; i < 1000; i++) {
		char line[64];

		snprintf(line, sizeof(line), "tcp port %d => delay 1ms", 10000 + i);
		cr_assert_eq(rule_set_add_line(rs, line, "t", i + 1, &e), 0);
	}
	/* 40000 -> 10500: rule 501 alone. */
	b[20] = 40000 >> 8, b[21] = 40000 & 0xff, b[22] = 10500 >> 8, b[23] = 10500 & 0xff;
	b[32] = 0x50;
	cr_assert_eq(pkt_parse(&v, b, 40), 0);
	rule_set_cands(rs, &v, &c);
	cr_assert_eq(rule_cands_next(&c), 500);
	cr_assert_eq(rule_cands_next(&c), -1);
	/* UDP to that port: no candidate at all. */
	b[9] = 17;
	b[24] = 0, b[25] = 20;
	cr_assert_eq(pkt_parse(&v, b, 40), 0);
	rule_set_cands(rs, &v, &c);
	cr_assert_eq(rule_cands_next(&c), -1);
	/* A fragment has no class: every rule. */
	b[9] = 6;
	b[7] = 8;
	cr_assert_eq(pkt_parse(&v, b, 40), 0);
	rule_set_cands(rs, &v, &c);
	cr_assert(c.all);
	cr_assert_eq(c.last, 1000);
	rule_set_free(rs);
}

/* Sets changed as the control API changes them keep their index in step. */
Test(index, changed_sets_stay_indexed)
{
	struct rule_set *rs = any_rules(120), *cl;
	struct rule_error e;
	unsigned cands = 0;

	for (int k = 0; k < 30; k++) {
		char name[32];

		snprintf(name, sizeof(name), "rule-%u", 1 + rnd() % 120);
		rule_set_del(rs, name);
	}
	cr_assert_lt(rule_set_count(rs), 120);
	check_packets(rs, 2000, &cands);
	cl = rule_set_clone(rs);
	cr_assert(cl);
	cr_assert_eq(rule_set_add(cl, "tcp port 80 => drop", "web", "t", 1, &e), 0, "%s", e.msg);
	cr_assert_eq(rule_set_add(cl, "=> delay 1ms", NULL, "t", 2, &e), 0, "%s", e.msg);
	cr_assert_eq(rule_set_enable(cl, "web", false), 0);
	check_packets(cl, 2000, &cands);
	rule_set_free(rs);
	rule_set_free(cl);
}

static ssize_t read_text(void *data, char *buf, size_t size)
{
	const char **s = data;
	size_t n = strlen(*s);

	if (n > size)
		n = size;
	memcpy(buf, *s, n);
	*s += n;
	return (ssize_t)n;
}

Test(index, a_failed_load_takes_its_rules_back_out)
{
	struct rule_set *rs = rules((const char *const[]){ "tcp port 80 => drop" }, 1);
	const char *text = "tcp port 443 => drop\nudp port 53 => drop\nbad => dorp\n";
	uint8_t b[128] = { 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
			   0x9c, 0x40, 0, 80, [32] = 0x50 };
	struct rule_error e;
	struct pkt_view v;
	struct rule_cands c;

	cr_assert_eq(rule_set_plan(rs), 0);
	cr_assert_lt(rule_set_load(rs, "f", read_text, &text, &e), 0);
	cr_assert_eq(rule_set_count(rs), 1);
	cr_assert_null(rule_set_wide_plans(rs), "the memo's plans go with the load");
	cr_assert_eq(pkt_parse(&v, b, 40), 0);
	rule_set_cands(rs, &v, &c);
	cr_assert_eq(rule_cands_next(&c), 0);
	cr_assert_eq(rule_cands_next(&c), -1);
	rule_set_free(rs);
}

/* ---- the decision: with the index and without, the same ---- */

static void compare_decisions(struct rule_set *rs, unsigned npkts)
{
	struct act_ctx *idx = act_ctx_new(rs, 11, 0), *all = act_ctx_new(rs, 11, 0);
	uint8_t b[128];
	unsigned fired = 0;

	cr_assert(idx && all);
	act_ctx_scan_all(all, true);
	for (unsigned i = 1; i <= npkts; i++) {
		size_t cut, len = any_packet(b, &cut);
		struct act_decision d1, d2;
		struct pkt_view v;
		struct act_input in = {
			.v = &v, .dir = rnd() % 2 ? PKT_DIR_OUT : PKT_DIR_IN, .now_ns = i * 1000ull,
			.id = { .hash = rnd(), .way = rnd() % 2, .ordinal = i },
		};

		if (pkt_parse_cut(&v, b, cut, len))
			continue;
		act_decide(idx, &in, &d1);
		act_decide(all, &in, &d2);
		cr_assert_eq(d1.drop, d2.drop, "packet %u", i);
		cr_assert_eq(d1.delay_ns, d2.delay_ns, "packet %u", i);
		cr_assert_eq(d1.copies, d2.copies, "packet %u", i);
		cr_assert_eq(d1.n_fired, d2.n_fired, "packet %u", i);
		for (unsigned k = 0; k < d1.n_fired; k++)
			cr_assert_eq(d1.fired[k].rule, d2.fired[k].rule, "packet %u", i);
		fired += d1.n_fired;
	}
	for (size_t r = 0; r < rule_set_count(rs); r++) {
		const struct act_counters *a = act_ctx_counters(idx, (unsigned)r);
		const struct act_counters *b2 = act_ctx_counters(all, (unsigned)r);

		cr_assert_eq(a->matched, b2->matched, "rule %zu", r + 1);
		cr_assert_eq(memcmp(a->acted, b2->acted, sizeof(a->acted)), 0, "rule %zu", r + 1);
	}
	cr_assert_gt(fired, 0);
	act_ctx_free(idx);
	act_ctx_free(all);
}

Test(index, decisions_match_a_scan_of_every_rule)
{
	for (int round = 0; round < 10; round++) {
		struct rule_set *rs = any_rules(1 + rnd() % 300);

		compare_decisions(rs, 3000);
		rule_set_free(rs);
	}
}

/*
 * The same with the connections' memos in use, against the reference with
 * none: a memo being filled runs only the candidates' filters, a set the
 * memo answers whole (16 rules or fewer) is scanned without the index,
 * and the wide memo (rules 16 to 255) holds flows that share its slots
 * (hash k % 3) apart by their bytes.
 */
static void compare_with_memos(struct rule_set *rs, unsigned npkts)
{
	enum { CONNS = 6 };
	struct act_ctx *idx = act_ctx_new(rs, 5, 0), *all = act_ctx_new(rs, 5, 0);
	struct rule_memo m1[CONNS] = { 0 };
	uint8_t tmpl[CONNS][128];
	size_t tlen[CONNS];
	unsigned fired = 0;

	cr_assert(idx && all);
	act_ctx_scan_all(all, true);
	/* A few connections of the classes the memo serves. */
	for (int k = 0; k < CONNS; k++) {
		struct pkt_view v;
		size_t cut;

		do
			tlen[k] = any_packet(tmpl[k], &cut);
		while (cut != tlen[k] || pkt_parse(&v, tmpl[k], tlen[k]) ||
		       rule_memo_class(&v) == RULE_MEMO_NONE);
	}
	for (unsigned i = 1; i <= npkts; i++) {
		int k = (int)(rnd() % CONNS);
		uint8_t b[128];
		struct act_decision d1, d2;
		struct pkt_view v;
		struct act_input in = {
			.v = &v, .dir = PKT_DIR_IN, .now_ns = i * 1000ull,
			.id = { .hash = (uint64_t)k % 3, .way = 0, .ordinal = i },
		};
		size_t l3 = (tmpl[k][0] >> 4) == 6 ? 40 : 20;

		/* What changes within a connection: TCP flags, the payload. */
		memcpy(b, tmpl[k], tlen[k]);
		if (tmpl[k][(tmpl[k][0] >> 4) == 6 ? 6 : 9] == 6)
			b[l3 + 13] = (uint8_t)(rnd() % 3 ? 0x10 : 0x02);
		for (size_t j = l3 + 20; j < tlen[k]; j++)
			b[j] = (uint8_t)rnd();
		cr_assert_eq(pkt_parse(&v, b, tlen[k]), 0);
		in.memo = &m1[k];
		act_decide(idx, &in, &d1);
		in.memo = NULL;
		act_decide(all, &in, &d2);
		cr_assert_eq(d1.drop, d2.drop, "packet %u", i);
		cr_assert_eq(d1.delay_ns, d2.delay_ns, "packet %u", i);
		cr_assert_eq(d1.copies, d2.copies, "packet %u", i);
		cr_assert_eq(d1.n_fired, d2.n_fired, "packet %u", i);
		for (unsigned f = 0; f < d1.n_fired; f++)
			cr_assert_eq(d1.fired[f].rule, d2.fired[f].rule, "packet %u", i);
		fired += d1.n_fired;
	}
	for (size_t r = 0; r < rule_set_count(rs); r++)
		cr_assert_eq(act_ctx_counters(idx, (unsigned)r)->matched,
			     act_ctx_counters(all, (unsigned)r)->matched, "rule %zu", r + 1);
	(void)fired;
	act_ctx_free(idx);
	act_ctx_free(all);
}

Test(index, decisions_with_memos_match_a_scan)
{
	static const unsigned most[] = { 16, 120, 300 };

	for (int round = 0; round < 45; round++) {
		struct rule_set *rs = any_rules(1 + rnd() % most[round % 3]);

		/* Half the time the set's own plans, as the live proxy makes them. */
		if (round % 2)
			cr_assert_eq(rule_set_plan(rs), 0);

		compare_with_memos(rs, 1500);
		rule_set_free(rs);
	}
}
