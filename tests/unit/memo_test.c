// SPDX-License-Identifier: MIT
/*
 * The filter memo: which bytes it finds a filter reads, and, above all,
 * that a remembered result is always the one libpcap gives on the packet
 * itself, whatever changes from packet to packet within a connection.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "act.h"
#include "memo.h"
#include "rule.h"

static struct rule_set *rules(const char *const *filters, int n)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;
	char line[256];

	cr_assert(rs);
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s => drop", filters[i]);
		cr_assert_eq(rule_set_add_line(rs, line, "t", i + 1, &e), 0, "%s: %s", line, e.msg);
	}
	return rs;
}

/* One filter's analysis in class cls; returns whether it can be remembered. */
static bool analyse(const char *filter, int cls, struct rule_memo_reads *r)
{
	struct rule_set *rs = rules(&filter, 1);
	bool ok = rule_memo_filter(rule_set_get(rs, 0)->filter, cls, r);

	rule_set_free(rs);
	return ok;
}

Test(memo, port_filter_reads_only_the_connections_bytes)
{
	struct rule_memo_reads r;

	/*
	 * IPv4: the program tests the fragment offset, which the class fixes
	 * at 0, and the port; its IPv6 half (byte 40 on) is never reached.
	 */
	cr_assert(analyse("tcp dst port 9", RULE_MEMO_TCP4, &r));
	cr_assert_not(r.fixed);
	cr_assert_eq(r.nkey, 0);
	cr_assert_eq(r.need, 24);

	/* IPv6: "ip6[0] & 0xf0" leaves nothing of the traffic class to read. */
	cr_assert(analyse("tcp dst port 9", RULE_MEMO_TCP6, &r));
	cr_assert_not(r.fixed);
	cr_assert_eq(r.nkey, 0);
	cr_assert_eq(r.need, 44);
}

Test(memo, the_class_alone_decides_other_protocols)
{
	struct rule_memo_reads r;

	cr_assert(analyse("tcp dst port 9", RULE_MEMO_ICMP4, &r));
	cr_assert(r.fixed);
	cr_assert_not(r.match);
	cr_assert(analyse("tcp dst port 9", RULE_MEMO_ICMP6, &r));
	cr_assert(r.fixed);
	cr_assert_not(r.match);
	cr_assert(analyse("tcp", RULE_MEMO_TCP4, &r));
	cr_assert(r.fixed);
	cr_assert(r.match);
	cr_assert(analyse("udp", RULE_MEMO_TCP6, &r));
	cr_assert(r.fixed);
	cr_assert_not(r.match);
	cr_assert(analyse("icmp", RULE_MEMO_ICMP4, &r));
	cr_assert(r.fixed);
	cr_assert(r.match);
	/* An address is the connection's: remembered, not decided. */
	cr_assert(analyse("host 10.0.0.1", RULE_MEMO_UDP4, &r));
	cr_assert_not(r.fixed);
	cr_assert_eq(r.nkey, 0);
}

Test(memo, tcp_flags_are_a_changing_byte)
{
	struct rule_memo_reads r;

	cr_assert(analyse("tcp[tcpflags] & tcp-syn != 0", RULE_MEMO_TCP4, &r));
	cr_assert_not(r.fixed);
	cr_assert_eq(r.nkey, 1);
	cr_assert_eq(r.key[0], 33);
	cr_assert_eq(r.need, 34);
	/* The DF bit: the flags half of the fragment field changes. */
	cr_assert(analyse("ip[6] & 0x40 != 0", RULE_MEMO_UDP4, &r));
	cr_assert_eq(r.nkey, 1);
	cr_assert_eq(r.key[0], 6);
}

Test(memo, what_cannot_be_remembered)
{
	struct rule_memo_reads r;

	/* The length changes from packet to packet. */
	cr_assert_not(analyse("greater 100", RULE_MEMO_TCP4, &r));
	/* More changing bytes than a key holds. */
	cr_assert_not(analyse("ip[1] = 1 and ip[2] = 1 and ip[3] = 1 and ip[4] = 1 and ip[5] = 1",
			      RULE_MEMO_UDP4, &r));
	/* An offset taken from the TCP header length: a payload byte that moves. */
	cr_assert_not(analyse("tcp[((tcp[12] & 0xf0) >> 2)] = 0x47", RULE_MEMO_TCP4, &r));
}

Test(memo, plan_keeps_what_fits)
{
	const char *f[] = {
		"tcp dst port 9",				/* memo, no key */
		"greater 100",					/* never */
		"tcp[tcpflags] & tcp-syn != 0",			/* key 33 */
		"ip[1] = 0 and ip[8] = 64 and ip[10] = 1 and ip[11] = 2", /* 4 more: too many */
		"tcp",						/* decided: matches */
		"udp",						/* decided: does not */
		"ip[8] = 64",					/* key 8 */
	};
	struct rule_set *rs = rules(f, 7);
	struct rule_memo_plan p;

	rule_memo_plan(rs, RULE_MEMO_TCP4, &p);
	cr_assert_eq(p.rules, 1u << 0 | 1u << 2 | 1u << 6);
	cr_assert_eq(p.decided, 1u << 4 | 1u << 5);
	cr_assert_eq(p.matches, 1u << 4);
	cr_assert_eq(p.nkey, 2);
	cr_assert_eq(p.need, 34);
	rule_set_free(rs);
}

Test(memo, rules_past_the_sixteenth_always_run)
{
	const char *f[20];
	struct rule_set *rs;
	struct rule_memo_plan p;

	for (int i = 0; i < 20; i++)
		f[i] = "tcp port 80";
	rs = rules(f, 20);
	rule_memo_plan(rs, RULE_MEMO_TCP4, &p);
	cr_assert_eq(p.rules, 0xffff);
	rule_memo_plan(rs, RULE_MEMO_UDP6, &p);
	cr_assert_eq(p.decided, 0xffff);
	cr_assert_eq(p.matches, 0);
	rule_set_free(rs);
}

/* ---- remembered results against libpcap's, packet by packet ---- */

static uint64_t rs_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rs_state ^= rs_state << 13;
	rs_state ^= rs_state >> 7;
	rs_state ^= rs_state << 17;
	return (uint32_t)(rs_state >> 11);
}

/*
 * A packet of one connection (10.0.0.1:1000 <-> 10.0.0.2:9, or the same
 * in IPv6), way 0 or 1, with everything that may change drawn at random:
 * TOS/traffic class, flow label, IDs, DF/MF, TTL, checksums, sequence
 * numbers, flags, window, options, payload. Fields are drawn from a few
 * values each so that both hits and fresh fills happen often.
 */
static size_t conn_packet(uint8_t *b, bool v6, int l4p, int way)
{
	bool tcp = l4p == 0;
	uint8_t proto = l4p == 0 ? 6 : l4p == 1 ? 17 : v6 ? 58 : 1;
	size_t l3 = v6 ? 40 : 20, l4 = tcp ? 20 : 8, pay = rnd() % 3 * 8;
	size_t len = l3 + l4 + pay;
	uint8_t a0[16] = { 0 }, a1[16] = { 0 };
	uint8_t *p = b + l3;
	uint16_t p0 = 1000, p1 = 9;

	memset(b, 0, 128);
	if (v6) {
		a0[0] = a1[0] = 0xfd;
		a0[15] = 1;
		a1[15] = 2;
		b[0] = (uint8_t)(0x60 | (rnd() % 8 == 0));
		b[1] = (uint8_t)(rnd() % 8 ? 0 : 0x10);
		b[4] = (uint8_t)((len - 40) >> 8);
		b[5] = (uint8_t)(len - 40);
		b[6] = proto;
		b[7] = (uint8_t)(rnd() % 8 ? 64 : 63);
		memcpy(b + 8, way ? a1 : a0, 16);
		memcpy(b + 24, way ? a0 : a1, 16);
	} else {
		b[0] = 0x45;
		b[1] = (uint8_t)(rnd() % 8 ? 0 : rnd() % 4);
		b[2] = (uint8_t)(len >> 8);
		b[3] = (uint8_t)len;
		b[4] = (uint8_t)rnd();
		b[6] = (uint8_t)(rnd() % 8 ? 0x40 : rnd() % 2 ? 0x20 : 0);
		b[8] = (uint8_t)(rnd() % 8 ? 64 : 63);
		b[9] = proto;
		b[10] = (uint8_t)rnd();
		b[12] = 10, b[15] = (uint8_t)(way ? 2 : 1);
		b[16] = 10, b[19] = (uint8_t)(way ? 1 : 2);
	}
	p[0] = (uint8_t)((way ? p1 : p0) >> 8), p[1] = (uint8_t)(way ? p1 : p0);
	p[2] = (uint8_t)((way ? p0 : p1) >> 8), p[3] = (uint8_t)(way ? p0 : p1);
	if (tcp) {
		p[4 + rnd() % 8] = (uint8_t)rnd();
		p[12] = 0x50;
		p[13] = (uint8_t)(rnd() % 4 ? 0x10 : 1u << (rnd() % 5));
		p[14] = (uint8_t)(rnd() % 8 == 0);
	} else if (l4p == 1) {
		p[4] = (uint8_t)((8 + pay) >> 8);
		p[5] = (uint8_t)(8 + pay);
	} else {
		/* An echo request or reply: type, code, checksum, then id and sequence. */
		p[0] = (uint8_t)(v6 ? (way ? 129 : 128) : (way ? 0 : 8));
		p[1] = 0;
		p[2] = (uint8_t)rnd();
		p[3] = (uint8_t)rnd();
		p[7] = (uint8_t)(rnd() % 4);
	}
	for (size_t i = 0; i < pay; i++)
		p[l4 + i] = (uint8_t)(rnd() % 2 ? 'G' : 'P');
	return len;
}

/* Filters of every kind the analysis tells apart, for conn_packet()'s connection. */
static const char *const conn_filters[] = {
	"icmp[icmptype] = icmp-echo",
	"icmp6 and ip6[40] = 128",
	"not icmp",
	"tcp dst port 9",
	"udp port 9",
	"tcp",
	"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
	"ip[1] & 3 = 3",
	"ip6[1] & 0xf0 != 0",
	"ip[6] & 0x20 != 0",
	"ip6 and ip6[7] = 64",
	"host 10.0.0.1 and src port 1000",
	"dst host fd00::2",
	"tcp[14] = 1",
	"ip[8] = 63",
	"src port 9 or dst port 1000",
	"udp[8] = 0x47",
	"tcp and tcp[20] = 0x47",
	"host fd00::1 and not port 1001",
	"host 10.0.0.1 and not port 1002",
};
#define N_CONN_FILTERS (int)(sizeof(conn_filters) / sizeof(conn_filters[0]))

static void check_against_libpcap(bool v6, int l4p)
{
	const char *const *f = conn_filters;
	int n = N_CONN_FILTERS;
	struct rule_set *rs = rules(f, n);
	int cls = (v6 ? RULE_MEMO_TCP6 : RULE_MEMO_TCP4) + l4p;
	struct rule_memo memo = { 0 };
	struct rule_memo_plan plan;
	unsigned hits = 0, fills = 0, shorts = 0;
	uint8_t b[128];

	rule_memo_plan(rs, cls, &plan);
	plan.tag = 4;
	cr_assert_neq(plan.rules, 0);
	cr_assert_neq(plan.decided, 0);
	for (int i = 0; i < 20000; i++) {
		int way = (int)(rnd() % 2);
		size_t len = conn_packet(b, v6, l4p, way);
		struct pkt_view v;
		uint32_t direct = 0, got;
		int r;

		cr_assert_eq(pkt_parse(&v, b, len), 0);
		cr_assert_eq(rule_memo_class(&v), cls);
		for (int k = 0; k < n; k++)
			if (rule_filter_match(rule_set_get(rs, (size_t)k), &v))
				direct |= 1u << k;
		cr_assert_eq(direct & plan.decided, plan.matches,
			     "packet %d: libpcap %#x, the class decided %#x as %#x", i, direct,
			     plan.decided, plan.matches);
		r = rule_memo_get(&memo, &plan, &v, (unsigned)way, &got);
		if (r > 0) {
			hits++;
			cr_assert_eq(got & plan.rules, direct & plan.rules,
				     "packet %d way %d: remembered %#x, libpcap %#x (rules %#x)", i, way,
				     got, direct, plan.rules);
		} else if (r == 0) {
			fills++;
			rule_memo_fill(&memo, &plan, &v, (unsigned)way, direct & plan.rules);
		} else {
			shorts++;
		}
	}
	cr_log_info("class %d: decided %#x, remembered %#x by %u key bytes: %u hits, %u fills",
		    cls, plan.decided, plan.rules, plan.nkey, hits, fills);
	/* Both paths were taken many times, so the comparison above means something. */
	cr_assert_gt(hits, 1000, "hits %u fills %u short %u", hits, fills, shorts);
	cr_assert_gt(fills, 50, "hits %u fills %u short %u", hits, fills, shorts);
	rule_set_free(rs);
}

Test(memo, matches_libpcap_tcp4) { check_against_libpcap(false, 0); }
Test(memo, matches_libpcap_udp4) { check_against_libpcap(false, 1); }
Test(memo, matches_libpcap_icmp4) { check_against_libpcap(false, 2); }
Test(memo, matches_libpcap_tcp6) { check_against_libpcap(true, 0); }
Test(memo, matches_libpcap_udp6) { check_against_libpcap(true, 1); }
Test(memo, matches_libpcap_icmp6) { check_against_libpcap(true, 2); }

/* conn_packet()'s connection, or (other) one from 10.0.0.3 / fd00::3 instead of .1. */
static size_t wide_packet(uint8_t *b, bool v6, int l4p, int way, bool other)
{
	size_t len = conn_packet(b, v6, l4p, way);

	if (other)
		b[v6 ? (way ? 39 : 23) : (way ? 19 : 15)] = 3;
	return len;
}

/*
 * The wide memo (rules 16 to 255): 16 rules first, then the filters
 * above; two connections whose packets land on the same entry (one hash
 * for both) take it from each other, and every result it gives is
 * libpcap's on the packet itself.
 */
static void check_wide(bool v6, int l4p)
{
	const char *f[16 + N_CONN_FILTERS];
	int n = 16 + N_CONN_FILTERS;
	struct rule_set *rs;
	int cls = (v6 ? RULE_MEMO_TCP6 : RULE_MEMO_TCP4) + l4p;
	struct rule_memo_wide plan;
	struct rule_memo_table *t = rule_memo_table_new();
	unsigned hits = 0, fills = 0, shorts = 0;
	uint8_t b[128];

	for (int i = 0; i < 16; i++)
		f[i] = "ip[8] = 63";
	memcpy(f + 16, conn_filters, sizeof(conn_filters));
	rs = rules(f, n);
	cr_assert(t);
	rule_memo_wide_plan(rs, cls, &plan);
	plan.tag = 4;
	cr_assert(plan.any);
	cr_assert_eq(plan.rules[0] & 0xffff, 0, "the slot's 16 rules are not the table's");
	cr_assert_eq(plan.decided[0] & 0xffff, 0);
	cr_assert_neq(plan.decided[0], 0);
	for (int i = 0; i < 20000; i++) {
		int way = (int)(rnd() % 2);
		bool other = rnd() % 2;
		size_t len = wide_packet(b, v6, l4p, way, other);
		struct pkt_view v;
		uint64_t direct = 0;
		const uint64_t *got;

		cr_assert_eq(pkt_parse(&v, b, len), 0);
		cr_assert_eq(rule_memo_class(&v), cls);
		for (int k = 16; k < n; k++)
			if (rule_filter_match(rule_set_get(rs, (size_t)k), &v))
				direct |= 1ull << k;
		cr_assert_eq(direct & plan.decided[0], plan.matches[0], "packet %d", i);
		got = rule_memo_table_get(t, &plan, &v, 7, (unsigned)way);
		if (got) {
			hits++;
			cr_assert_eq(got[0] & plan.rules[0], direct & plan.rules[0],
				     "packet %d way %d other %d: remembered %#llx, libpcap %#llx", i,
				     way, other, (unsigned long long)got[0],
				     (unsigned long long)direct);
		} else {
			uint64_t *put = rule_memo_table_put(t, &plan, &v, 7, (unsigned)way);

			/* Shorter than what a filter can read ("udp[8] = 0x47"): nothing kept. */
			if (!put) {
				cr_assert_lt(v.len, plan.need);
				shorts++;
				continue;
			}
			fills++;
			put[0] = direct & plan.rules[0];
		}
	}
	cr_log_info("class %d: wide: decided %#llx, remembered %#llx by %u key bytes: %u hits, "
		    "%u fills, %u short", cls, (unsigned long long)plan.decided[0],
		    (unsigned long long)plan.rules[0], plan.nkey, hits, fills, shorts);
	cr_assert_gt(hits, 1000, "hits %u fills %u short %u", hits, fills, shorts);
	cr_assert_gt(fills, 500, "hits %u fills %u: the two connections take the entry", hits,
		     fills);
	rule_memo_table_free(t);
	rule_set_free(rs);
}

Test(memo, wide_matches_libpcap_tcp4) { check_wide(false, 0); }
Test(memo, wide_matches_libpcap_udp4) { check_wide(false, 1); }
Test(memo, wide_matches_libpcap_icmp4) { check_wide(false, 2); }
Test(memo, wide_matches_libpcap_tcp6) { check_wide(true, 0); }
Test(memo, wide_matches_libpcap_udp6) { check_wide(true, 1); }
Test(memo, wide_matches_libpcap_icmp6) { check_wide(true, 2); }

/*
 * The decision with a set's own plans and the memos (the live proxy's
 * way) against the reference with none, on two connections of one class
 * sharing a wide memo entry: 16 rules, then the filters above, each a
 * delay that adds up, so every rule's result shows in the total.
 */
static void check_act_wide(bool v6, int l4p)
{
	struct rule_set *rs = rule_set_new();
	struct rule_memo m[2] = { 0 };
	struct act_ctx *a, *ref;
	struct rule_error e;
	unsigned fired = 0;
	char line[256];
	uint8_t b[128];

	cr_assert(rs);
	for (int i = 0; i < 16 + N_CONN_FILTERS; i++) {
		snprintf(line, sizeof(line), "%s => delay 1ms",
			 i < 16 ? "ip[8] = 63" : conn_filters[i - 16]);
		cr_assert_eq(rule_set_add_line(rs, line, "t", i + 1, &e), 0, "%s: %s", line, e.msg);
	}
	cr_assert_eq(rule_set_plan(rs), 0);
	a = act_ctx_new(rs, 1, 0);
	ref = act_ctx_new(rs, 1, 0);
	cr_assert(a && ref);
	act_ctx_scan_all(ref, true);
	for (int i = 0; i < 4000; i++) {
		int way = (int)(rnd() % 2);
		bool other = rnd() % 2;
		size_t len = wide_packet(b, v6, l4p, way, other);
		struct pkt_view v;
		struct act_decision d1, d2;
		struct act_input in = {
			.v = &v, .dir = PKT_DIR_IN, .now_ns = 1000 + (uint64_t)i,
			.id = { .hash = 7, .way = (uint32_t)way, .ordinal = (uint64_t)i + 1 },
		};

		cr_assert_eq(pkt_parse(&v, b, len), 0);
		in.memo = &m[other];
		act_decide(a, &in, &d1);
		in.memo = NULL;
		act_decide(ref, &in, &d2);
		cr_assert_eq(d1.delay_ns, d2.delay_ns, "packet %d", i);
		cr_assert_eq(d1.n_fired, d2.n_fired, "packet %d", i);
		fired += d1.n_fired;
	}
	cr_assert_gt(fired, 4000);
	act_ctx_free(a);
	act_ctx_free(ref);
	rule_set_free(rs);
}

Test(memo, act_with_a_sets_plans_tcp4) { check_act_wide(false, 0); }
Test(memo, act_with_a_sets_plans_udp4) { check_act_wide(false, 1); }
Test(memo, act_with_a_sets_plans_icmp4) { check_act_wide(false, 2); }
Test(memo, act_with_a_sets_plans_tcp6) { check_act_wide(true, 0); }
Test(memo, act_with_a_sets_plans_udp6) { check_act_wide(true, 1); }
Test(memo, act_with_a_sets_plans_icmp6) { check_act_wide(true, 2); }

/* (index_test: and with a load taken back.) */
Test(memo, a_sets_own_plans_are_the_same_and_go_with_any_change)
{
	const char *f[40];
	struct rule_set *rs;
	struct rule_error e;

	for (int i = 0; i < 40; i++)
		f[i] = i % 2 ? "host 10.0.0.1 and not port 1002" : "udp port 53";
	rs = rules(f, 40);
	cr_assert_null(rule_set_wide_plans(rs));
	cr_assert_eq(rule_set_plan(rs), 0);
	cr_assert(rule_set_wide_plans(rs));
	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++) {
		struct rule_memo_wide w;

		rule_memo_wide_plan(rs, cls, &w);
		cr_assert_eq(memcmp(&rule_set_wide_plans(rs)[cls], &w, sizeof(w)), 0, "class %d", cls);
	}
	cr_assert_eq(rule_set_add(rs, "tcp port 7 => drop", "seven", "t", 41, &e), 0, "%s", e.msg);
	cr_assert_null(rule_set_wide_plans(rs), "a rule joined");
	cr_assert_eq(rule_set_plan(rs), 0);
	cr_assert_eq(rule_set_del(rs, "seven"), 0);
	cr_assert_null(rule_set_wide_plans(rs), "a rule left");
	rule_set_free(rs);
}

Test(memo, wide_plans_stop_at_rule_255_and_tell_sets_apart)
{
	const char *f[300];
	struct rule_set *rs;
	struct rule_memo_wide plan, other;
	struct rule_memo_table *t = rule_memo_table_new();
	uint8_t b[128];
	struct pkt_view v;
	uint64_t *put;

	for (int i = 0; i < 300; i++)
		f[i] = "host 10.0.0.1 and not port 1002";
	rs = rules(f, 300);
	cr_assert(t);
	rule_memo_wide_plan(rs, RULE_MEMO_TCP4, &plan);
	plan.tag = 4;
	cr_assert_eq(plan.rules[0], ~0ull << 16);
	for (int k = 1; k < RULE_MEMO_WIDE_WORDS; k++)
		cr_assert_eq(plan.rules[k], ~0ull, "word %d", k);
	other = plan;
	other.tag = 8;
	cr_assert_eq(pkt_parse(&v, b, wide_packet(b, false, 0, 0, false)), 0);
	cr_assert_null(rule_memo_table_get(t, &plan, &v, 1, 0), "an empty table holds nothing");
	put = rule_memo_table_put(t, &plan, &v, 1, 0);
	cr_assert(put);
	put[3] = 5;
	cr_assert_eq(rule_memo_table_get(t, &plan, &v, 1, 0)[3], 5);
	cr_assert_null(rule_memo_table_get(t, &other, &v, 1, 0), "another rule set's plan");
	cr_assert_null(rule_memo_table_get(t, &plan, &v, 1, 1), "the other way");
	v.len = plan.need - 1;
	cr_assert_null(rule_memo_table_get(t, &plan, &v, 1, 0), "a copy too short");
	cr_assert_null(rule_memo_table_put(t, &plan, &v, 1, 0));
	rule_memo_table_free(t);
	rule_set_free(rs);
}

static void one_packet(uint8_t *b, struct pkt_view *v, int way)
{
	size_t len;

	do
		len = conn_packet(b, false, 0, way);
	while (len != 40);
	cr_assert_eq(pkt_parse(v, b, len), 0);
}

Test(memo, ways_rule_sets_and_short_copies_are_kept_apart)
{
	const char *f[] = { "tcp dst port 9" };
	struct rule_set *rs = rules(f, 1);
	struct rule_memo_plan plan, other;
	struct rule_memo memo = { 0 };
	struct pkt_view v0, v1;
	uint8_t b0[128], b1[128];
	uint32_t bits;

	rule_memo_plan(rs, RULE_MEMO_TCP4, &plan);
	plan.tag = 4;
	other = plan;
	other.tag = 8;
	one_packet(b0, &v0, 0);
	one_packet(b1, &v1, 1);
	b1[6] = b0[6];	/* the same key bytes both ways */
	b1[7] = b0[7];

	cr_assert_eq(rule_memo_get(&memo, &plan, &v0, 0, &bits), 0, "an empty memo holds nothing");
	rule_memo_fill(&memo, &plan, &v0, 0, 1);
	cr_assert_eq(rule_memo_get(&memo, &plan, &v0, 0, &bits), 1);
	cr_assert_eq(bits, 1);
	cr_assert_eq(rule_memo_get(&memo, &plan, &v1, 1, &bits), 0, "the other way is not filled");
	rule_memo_fill(&memo, &plan, &v1, 1, 0);
	cr_assert_eq(rule_memo_get(&memo, &plan, &v1, 1, &bits), 1);
	cr_assert_eq(bits, 0);
	cr_assert_eq(rule_memo_get(&memo, &plan, &v0, 0, &bits), 1, "filling one way keeps the other");
	cr_assert_eq(bits, 1);

	/* Another rule set's plan finds nothing, and filling under it voids both ways. */
	cr_assert_eq(rule_memo_get(&memo, &other, &v0, 0, &bits), 0);
	rule_memo_fill(&memo, &other, &v0, 0, 0);
	cr_assert_eq(rule_memo_get(&memo, &plan, &v1, 1, &bits), 0);

	/* A copy shorter than what the filters read: no memo. */
	v0.len = plan.need - 1;
	cr_assert_eq(rule_memo_get(&memo, &other, &v0, 0, &bits), -1);
	rule_set_free(rs);
}

Test(memo, classes)
{
	uint8_t b[128];
	struct pkt_view v;
	size_t len = conn_packet(b, false, 0, 0);

	cr_assert_eq(pkt_parse(&v, b, len), 0);
	cr_assert_eq(rule_memo_class(&v), RULE_MEMO_TCP4);
	/* IPv4 options move the ports: no class. */
	memmove(b + 24, b + 20, len - 20);
	memset(b + 20, 1, 4);	/* four NOPs */
	b[0] = 0x46;
	b[3] = (uint8_t)(b[3] + 4);
	cr_assert_eq(pkt_parse(&v, b, len + 4), 0);
	cr_assert_eq(rule_memo_class(&v), RULE_MEMO_NONE);
}

/* The whole decision, with the memo and without: the same, packet by packet. */
Test(memo, act_decides_alike_with_and_without_it)
{
	static const char *const lines[] = {
		"tcp dst port 9 => drop 20%",
		"tcp[tcpflags] & tcp-syn != 0 => delay 5ms",
		"greater 60 => duplicate 50%",
		"ip[8] = 63 => drop",
		"tcp => delay 1ms jitter 1ms, every 3",
		"=> drop 5%",
	};
	struct rule_set *rs = rule_set_new();
	struct act_ctx *with, *without;
	struct rule_memo memo = { 0 };
	struct rule_error e;
	uint8_t b[128];

	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "t", (int)i + 1, &e), 0, "%s", e.msg);
	with = act_ctx_new(rs, 7, 0);
	without = act_ctx_new(rs, 7, 0);
	cr_assert(with && without);
	for (uint64_t i = 1; i <= 5000; i++) {
		int way = (int)(rnd() % 2);
		size_t len = conn_packet(b, i % 2, 0, way);
		struct act_decision d1, d2;
		struct pkt_view v;
		struct act_input in = {
			.v = &v, .dir = way ? PKT_DIR_OUT : PKT_DIR_IN, .now_ns = i * 1000,
			.id = { .hash = 42, .way = (uint32_t)way, .ordinal = i },
		};

		cr_assert_eq(pkt_parse(&v, b, len), 0);
		act_decide(without, &in, &d1);
		in.memo = &memo;
		act_decide(with, &in, &d2);
		cr_assert_eq(d1.drop, d2.drop, "packet %llu", (unsigned long long)i);
		cr_assert_eq(d1.delay_ns, d2.delay_ns, "packet %llu", (unsigned long long)i);
		cr_assert_eq(d1.copies, d2.copies, "packet %llu", (unsigned long long)i);
		cr_assert_eq(d1.n_fired, d2.n_fired, "packet %llu", (unsigned long long)i);
	}
	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert_eq(act_ctx_counters(with, i)->matched, act_ctx_counters(without, i)->matched);
	cr_assert_gt(act_ctx_counters(with, 0)->matched, 0);
	act_ctx_free(with);
	act_ctx_free(without);
	rule_set_free(rs);
}
