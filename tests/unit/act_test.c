// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "actions.h"
#include "flow.h"
#include "tcpstate.h"

/* A minimal IPv4/UDP packet 10.0.0.1:sport -> 10.0.0.2:dport with 8 bytes of payload. */
static size_t udp4(uint8_t *b, uint16_t sport, uint16_t dport)
{
	memset(b, 0, 36);
	b[0] = 0x45;
	b[3] = 36;
	b[8] = 64;
	b[9] = 17;
	b[12] = 10, b[15] = 1;
	b[16] = 10, b[19] = 2;
	b[20] = sport >> 8, b[21] = sport & 0xff;
	b[22] = dport >> 8, b[23] = dport & 0xff;
	b[25] = 16;
	memcpy(b + 28, "payload!", 8);
	return 36;
}

/* The same as TCP: 10.0.0.1:sport -> 10.0.0.2:dport, ACK|PSH, seq 1000, 8 bytes of payload. */
static size_t tcp4(uint8_t *b, uint16_t sport, uint16_t dport)
{
	memset(b, 0, 48);
	b[0] = 0x45;
	b[3] = 48;
	b[8] = 64;
	b[9] = 6;
	b[12] = 10, b[15] = 1;
	b[16] = 10, b[19] = 2;
	b[20] = sport >> 8, b[21] = sport & 0xff;
	b[22] = dport >> 8, b[23] = dport & 0xff;
	b[26] = 1000 >> 8, b[27] = 1000 & 0xff;
	b[32] = 5 << 4;
	b[33] = 0x18;
	memcpy(b + 40, "payload!", 8);
	return 48;
}

/* Actions that act on TCP segments only. */
static bool tcp_only(int t)
{
	return t == RULE_ACT_RESET || t == RULE_ACT_SEGMENT;
}

struct fixture {
	struct rule_set *rs;
	struct act_ctx *ctx;
	struct flow_table *flows;
	uint8_t buf[64];
	struct pkt_view v;
	bool tcp;		/* decide() builds a TCP segment, not a datagram */
};

static void setup_rules(struct fixture *f, const char **lines, int n, uint64_t seed)
{
	struct rule_error e;

	f->rs = rule_set_new();
	for (int i = 0; i < n; i++)
		cr_assert_eq(rule_set_add_line(f->rs, lines[i], "t", i + 1, &e), 0, "%s: %s", lines[i], e.msg);
	f->ctx = act_ctx_new(f->rs, seed, 0);
	f->flows = flow_table_new(1024);
}

static void teardown_rules(struct fixture *f)
{
	act_ctx_free(f->ctx);
	flow_table_free(f->flows);
	rule_set_free(f->rs);
}

static void decide(struct fixture *f, uint16_t sport, uint16_t dport, enum pkt_dir dir, uint64_t now,
		   struct act_decision *d)
{
	struct act_input in = { .v = &f->v, .dir = dir, .now_ns = now };
	size_t n = f->tcp ? tcp4(f->buf, sport, dport) : udp4(f->buf, sport, dport);

	cr_assert_eq(pkt_parse(&f->v, f->buf, n), 0);
	flow_table_identify(f->flows, &f->v, now, &in.id);
	act_decide(f->ctx, &in, d);
}

Test(act, drop_rate_and_determinism)
{
	const char *r[] = { "udp dst port 5000 => drop 30%" };
	struct fixture f1 = { 0 }, f2 = { 0 };
	int drops = 0;

	setup_rules(&f1, r, 1, 9);
	setup_rules(&f2, r, 1, 9);
	for (int i = 0; i < 10000; i++) {
		struct act_decision a, b;

		decide(&f1, 40000, 5000, PKT_DIR_IN, (uint64_t)i, &a);
		decide(&f2, 40000, 5000, PKT_DIR_IN, (uint64_t)i * 7, &b);
		cr_assert_eq(a.drop, b.drop, "same seed, same packet, different timing: same verdict");
		drops += a.drop;
	}
	cr_assert(drops > 2700 && drops < 3300, "30%% drop gave %d of 10000", drops);
	cr_assert_eq(act_ctx_counters(f1.ctx, 0)->acted[RULE_ACT_DROP], (uint64_t)drops);
	cr_assert_eq(act_ctx_counters(f1.ctx, 0)->matched, 10000);
	teardown_rules(&f1);
	teardown_rules(&f2);
}

Test(act, other_flows_do_not_shift_decisions)
{
	const char *r[] = { "udp => drop 50%" };
	struct fixture f1 = { 0 }, f2 = { 0 };

	setup_rules(&f1, r, 1, 1);
	setup_rules(&f2, r, 1, 1);
	for (int i = 0; i < 500; i++) {
		struct act_decision a, b, noise;

		decide(&f1, 1111, 5000, PKT_DIR_IN, 0, &a);
		decide(&f2, 2222, 6000, PKT_DIR_IN, 0, &noise); /* interleaved other flow */
		decide(&f2, 1111, 5000, PKT_DIR_IN, 0, &b);
		cr_assert_eq(a.drop, b.drop);
	}
	teardown_rules(&f1);
	teardown_rules(&f2);
}

/*
 * 'conn P% key K': a flow is in or out for all its packets; about P% of
 * the flows are in; two rules with one key decide alike; 0% none.
 */
Test(act, conn_decides_once_per_flow)
{
	const char *r[] = { "udp => delay 1ms, conn 50% key 3", "udp => drop, conn 50% key 3",
			    "udp => duplicate, conn 0%" };
	struct fixture f = { 0 };
	int in = 0;

	setup_rules(&f, r, 3, 5);
	for (uint16_t flow = 0; flow < 400; flow++) {
		struct act_decision first, d;

		decide(&f, (uint16_t)(10000 + flow), 5000, PKT_DIR_IN, 0, &first);
		cr_assert_eq(first.copies, 0, "conn 0%% fired");
		for (int k = 0; k < 5; k++) {
			decide(&f, (uint16_t)(10000 + flow), 5000, PKT_DIR_IN, (uint64_t)k, &d);
			cr_assert_eq(d.drop, first.drop, "flow %u changed its mind", flow);
		}
		in += first.drop;
	}
	cr_assert(in > 150 && in < 250, "conn 50%% took %d of 400 flows", in);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->matched, act_ctx_counters(f.ctx, 1)->matched,
		     "two rules of one key fire on the same flows");
	teardown_rules(&f);
}

/*
 * 'conn-after D' counts each flow from when the rule first saw it (its
 * connection's start, or the toxic's arrival), where 'after D' counts from
 * the rule's start: a flow that comes late gets its whole D.
 */
Test(act, conn_after_counts_per_flow)
{
	const char *r[] = { "udp dst port 5000 => drop, conn-after 100ms", "udp dst port 6000 => drop, after 100ms" };
	const uint64_t ms = 1000000;
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 2, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 1 * ms, &d);
	cr_assert(!d.drop, "flow 1 dropped at its start");
	decide(&f, 1, 5000, PKT_DIR_IN, 100 * ms, &d);
	cr_assert(!d.drop, "flow 1 dropped 99 ms after its start");
	decide(&f, 1, 5000, PKT_DIR_IN, 101 * ms, &d);
	cr_assert(d.drop, "flow 1 not dropped 100 ms after its start");
	/* A flow first seen at 150 ms: its own 100 ms, not the rule's. */
	decide(&f, 2, 5000, PKT_DIR_IN, 150 * ms, &d);
	cr_assert(!d.drop, "flow 2 dropped at its start");
	decide(&f, 2, 5000, PKT_DIR_IN, 249 * ms, &d);
	cr_assert(!d.drop, "flow 2 dropped 99 ms after its start");
	decide(&f, 2, 5000, PKT_DIR_IN, 250 * ms, &d);
	cr_assert(d.drop, "flow 2 not dropped 100 ms after its start");
	/* 'after' on the same timeline: a flow first seen at 150 ms is dropped at once. */
	decide(&f, 1, 6000, PKT_DIR_IN, 1 * ms, &d);
	cr_assert(!d.drop);
	decide(&f, 3, 6000, PKT_DIR_IN, 150 * ms, &d);
	cr_assert(d.drop, "'after' counts from the rule's start");
	teardown_rules(&f);
}

Test(act, non_matching_packet_passes)
{
	const char *r[] = { "udp dst port 5000 => drop" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5001, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop && !d.delay_ns && !d.copies && !d.reorder && d.n_fired == 0);
	teardown_rules(&f);
}

Test(act, rules_combine_in_order)
{
	const char *r[] = { "udp => delay 10ms", "udp dst port 5000 => delay 5ms, duplicate 2",
			    "udp => reorder 3", "udp => reorder 5" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 4, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 15000000);
	cr_assert_eq(d.copies, 2);
	cr_assert(d.reorder);
	cr_assert_eq(d.reorder_rule, 2, "the first reorder wins");
	cr_assert_eq(d.reorder_n, 3);
	cr_assert_eq(d.hold_rule, 0);
	teardown_rules(&f);
}

Test(act, accept_stops_and_drop_clears)
{
	const char *r[] = { "udp dst port 22 => accept", "udp => delay 1ms, duplicate", "udp => drop" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 3, 1);
	decide(&f, 1, 22, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop && !d.delay_ns);
	decide(&f, 1, 23, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop);
	cr_assert(!d.delay_ns && !d.copies, "a dropped packet is neither held nor copied");
	teardown_rules(&f);
}

Test(act, direction_every_first)
{
	const char *r[] = { "udp => drop, in, every 3", "udp => drop, out, first 2" };
	struct fixture f = { 0 };
	struct act_decision d;
	int in_drops = 0, out_drops = 0;

	setup_rules(&f, r, 2, 1);
	for (int i = 1; i <= 9; i++) {
		decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
		cr_assert_eq(d.drop, i % 3 == 0, "every 3rd: packet %d", i);
		in_drops += d.drop;
		decide(&f, 1, 5000, PKT_DIR_OUT, 0, &d);
		cr_assert_eq(d.drop, i <= 2, "first 2: packet %d", i);
		out_drops += d.drop;
	}
	cr_assert_eq(in_drops, 3);
	cr_assert_eq(out_drops, 2);
	teardown_rules(&f);
}

Test(act, time_window)
{
	const char *r[] = { "udp => drop, after 1s, for 2s" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 999999999ull, &d);
	cr_assert(!d.drop);
	decide(&f, 1, 5000, PKT_DIR_IN, 1000000000ull, &d);
	cr_assert(d.drop);
	decide(&f, 1, 5000, PKT_DIR_IN, 2999999999ull, &d);
	cr_assert(d.drop);
	decide(&f, 1, 5000, PKT_DIR_IN, 3000000000ull, &d);
	cr_assert(!d.drop);
	teardown_rules(&f);
}

Test(act, jitter_stays_in_range)
{
	const char *r[] = { "udp => delay 100ms jitter 20ms" };
	struct fixture f = { 0 };
	struct act_decision d;
	uint64_t lo = UINT64_MAX, hi = 0;

	setup_rules(&f, r, 1, 4);
	for (int i = 0; i < 2000; i++) {
		decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
		lo = d.delay_ns < lo ? d.delay_ns : lo;
		hi = d.delay_ns > hi ? d.delay_ns : hi;
	}
	cr_assert(lo >= 80000000 && hi <= 120000000, "uniform jitter out of range: %lu..%lu", lo, hi);
	cr_assert(hi - lo > 30000000, "jitter should spread the delays");
	teardown_rules(&f);
}

Test(act, rate_token_bucket_queues_then_drops)
{
	/* 36-byte packets at 288 kbit/s: 1 ms each on the wire. */
	const char *r[] = { "udp => rate 288kbit limit 3" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 1000000);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 2000000, "waits behind the first");
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 3000000);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop, "the 4th exceeds limit 3");
	decide(&f, 1, 5000, PKT_DIR_IN, 1000000, &d);
	cr_assert(!d.drop, "one has left: room again");
	cr_assert_eq(d.delay_ns, 3000000);
	decide(&f, 1, 5000, PKT_DIR_IN, 100000000, &d);
	cr_assert_eq(d.delay_ns, 1000000, "idle link: only its own transmission time");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->rate_dropped, 1);
	teardown_rules(&f);
}

Test(act, tcp_conditions_read_tracker_info)
{
	const char *r[] = { "=> drop if state LAST_ACK", "=> delay 1s if retransmission" };
	struct fixture f = { 0 };
	/* The final ACK of a teardown: sent from TIME_WAIT, arriving in LAST_ACK. */
	struct act_tcp_info ti = { .sender_state = TCPSTATE_TIME_WAIT, .receiver_state = TCPSTATE_LAST_ACK };
	struct act_input in = { .v = &f.v, .dir = PKT_DIR_IN, .tcp = &ti };
	struct act_decision d;

	setup_rules(&f, r, 2, 1);
	cr_assert_eq(pkt_parse(&f.v, f.buf, udp4(f.buf, 1, 2)), 0);
	flow_table_identify(f.flows, &f.v, 0, &in.id);
	act_decide(f.ctx, &in, &d);
	cr_assert(d.drop);
	ti.receiver_state = TCPSTATE_ESTABLISHED;
	ti.retransmission = true;
	act_decide(f.ctx, &in, &d);
	cr_assert(!d.drop && d.delay_ns == 1000000000ull);
	in.tcp = NULL;
	act_decide(f.ctx, &in, &d);
	cr_assert(!d.drop && !d.delay_ns, "without tracker info TCP conditions do not hold");
	teardown_rules(&f);
}

Test(act, corrupt_flips_one_payload_bit_and_fixes_checksum)
{
	const char *r[] = { "udp => corrupt" };
	struct fixture f = { 0 };
	struct act_input in = { .v = &f.v };
	uint8_t orig[64];
	int bits = 0;

	setup_rules(&f, r, 1, 1);
	size_t n = udp4(f.buf, 1, 2);
	cr_assert_eq(pkt_parse(&f.v, f.buf, n), 0);
	memcpy(orig, f.buf, n);
	flow_table_identify(f.flows, &f.v, 0, &in.id);
	cr_assert_eq(act_corrupt(f.ctx, &in, f.buf, n), 0);
	for (size_t i = 28; i < n; i++)
		bits += __builtin_popcount(orig[i] ^ f.buf[i]);
	cr_assert_eq(bits, 1, "exactly one payload bit flips");
	cr_assert_arr_eq(orig, f.buf, 10, "the IP header is untouched");
	cr_assert_arr_eq(orig + 12, f.buf + 12, 8, "the addresses are untouched");
	cr_assert_arr_eq(orig + 20, f.buf + 20, 6, "the UDP ports and length are untouched");
	teardown_rules(&f);
}

/* A set of the given lines, for a swap. */
static struct rule_set *set_of(const char **lines, int n)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	for (int i = 0; i < n; i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "new", i + 1, &e), 0, "%s: %s", lines[i],
			     e.msg);
	return rs;
}

/* Swap f's context to rs, which f then owns (the old set is freed). */
static void swap_to(struct fixture *f, struct rule_set *rs, uint64_t now, int *map)
{
	cr_assert_eq(act_ctx_swap(f->ctx, rs, now, map), 0);
	rule_set_free(f->rs);
	f->rs = rs;
}

Test(act, swap_carries_state_by_name)
{
	const char *r[] = { "once: udp => drop, first 1", "udp => delay 1ms" };
	const char *r2[] = { "fresh: udp => drop, first 1", "udp => delay 1ms",
			     "once: udp => drop, first 1" };
	struct fixture f = { 0 };
	struct act_decision d;
	int map[2];

	setup_rules(&f, r, 2, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop && d.delay_ns == 1000000);
	swap_to(&f, set_of(r2, 3), 10, map);
	cr_assert_eq(map[0], 2, "'once' moved to the third place");
	cr_assert_eq(map[1], 1, "rule-2: the same rule at the same place");
	/* 'once' kept its counters and its first-1 count, at its new index. */
	cr_assert_eq(act_ctx_counters(f.ctx, 2)->matched, 1);
	cr_assert_eq(act_ctx_counters(f.ctx, 2)->acted[RULE_ACT_DROP], 1);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->matched, 0, "a new rule starts at zero");
	decide(&f, 1, 5000, PKT_DIR_IN, 20, &d);
	cr_assert(d.drop, "the new rule 'fresh' fires its first");
	decide(&f, 1, 5000, PKT_DIR_IN, 20, &d);
	cr_assert(!d.drop, "'once' fired once before the swap: not again");
	cr_assert_eq(act_ctx_counters(f.ctx, 2)->acted[RULE_ACT_DROP], 1);
	teardown_rules(&f);
}

/* An automatic name (rule-N) is a position: it carries over only with the same rule. */
Test(act, swap_carries_unnamed_rule_only_when_unchanged)
{
	const char *r[] = { "udp => drop, every 2", "tcp => drop" };
	const char *same[] = { "udp => drop, every 2", "tcp => delay 1ms" };
	const char *shifted[] = { "icmp => drop", "udp => drop, every 2" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 2, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop, "every 2: the first passes");
	swap_to(&f, set_of(same, 2), 0, NULL);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop, "rule-1 unchanged: its every-2 count went on");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->matched, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop, "the third passes");
	swap_to(&f, set_of(shifted, 2), 0, NULL);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->matched, 0, "rule-1 is another rule now");
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop, "the moved udp rule is rule-2 now: its every-2 count starts again");
	cr_assert_eq(act_ctx_counters(f.ctx, 1)->matched, 0);
	teardown_rules(&f);
}

/* Survivors keep the start of their time windows; new rules count from the swap. */
Test(act, swap_time_windows)
{
	const char *r[] = { "late: udp => drop, after 100ns" };
	const char *r2[] = { "late: udp => drop, after 100ns", "new: udp => delay 1ms, after 100ns" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	swap_to(&f, set_of(r2, 2), 90, NULL);
	decide(&f, 1, 5000, PKT_DIR_IN, 150, &d);
	cr_assert(d.drop, "'late' counts from the run's start (0): open at 150");
	cr_assert_eq(d.n_fired, 1);
	cr_assert_eq(act_ctx_counters(f.ctx, 1)->matched, 0,
		     "'new' counts from the swap (90): closed until 190");
	teardown_rules(&f);
}

Test(act, swap_keeps_rate_queue)
{
	/* 36-byte packets at 288 bit/s: one a second, at most 3 waiting. */
	const char *r[] = { "slow: udp => rate 288bit limit 3" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 1000000000ull);
	swap_to(&f, set_of(r, 1), 0, NULL);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert_eq(d.delay_ns, 2000000000ull, "the queue still holds the first packet");
	teardown_rules(&f);
}

Test(act, disabled_rule_is_skipped_and_keeps_counters)
{
	const char *r[] = { "cut: udp => drop", "udp => delay 1ms" };
	struct fixture f = { 0 };
	struct rule_set *rs2;
	struct act_decision d;

	setup_rules(&f, r, 2, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop);
	rs2 = rule_set_clone(f.rs);
	cr_assert_not_null(rs2);
	cr_assert_eq(rule_set_enable(rs2, "cut", false), 0);
	swap_to(&f, rs2, 0, NULL);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop && d.delay_ns == 1000000, "the disabled rule is skipped, the next runs");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->matched, 1, "its counters stay");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_DROP], 1);
	rs2 = rule_set_clone(f.rs);
	cr_assert_not_null(rs2);
	cr_assert_eq(rule_set_enable(rs2, "cut", true), 0);
	swap_to(&f, rs2, 0, NULL);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop, "enabled again");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_DROP], 2);
	teardown_rules(&f);
}

/*
 * A full rate queue drops the packet as the rate action's doing, with its
 * reason, not as a drop action: the event log and report tell it apart.
 */
Test(act, rate_queue_full_drop_names_rate_and_its_reason)
{
	const char *r[] = { "udp => rate 288kbit limit 1" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop);
	cr_assert_eq(d.n_fired, 1);
	cr_assert_eq(d.fired[0].action, RULE_ACT_RATE);
	cr_assert_eq(d.fired[0].reason, ACT_REASON_NONE, "queued, not dropped");
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop, "the 2nd exceeds limit 1");
	cr_assert_eq(d.n_fired, 1);
	cr_assert_eq(d.fired[0].rule, 0);
	cr_assert_eq(d.fired[0].action, RULE_ACT_RATE);
	cr_assert_eq(d.fired[0].reason, ACT_REASON_QUEUE_FULL);
	cr_assert_str_eq(act_reason_name(ACT_REASON_QUEUE_FULL), "queue-full");
	cr_assert_null(act_reason_name(ACT_REASON_NONE));
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->rate_dropped, 1);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_DROP], 1);
	teardown_rules(&f);
}

/* ---- the table of actions: every action has its decision half ---- */

Test(act, every_action_has_a_step_a_counter_and_an_event_name)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const struct act_ops *o = act_ops(t);

		cr_assert_not_null(o, "action %d", t);
		cr_assert_not_null(o->step, "%s", rule_action_name(t));
		/* Events name an action as the rules do. */
		cr_assert_str_eq(o->event, rule_action_name(t));
		cr_assert_str_eq(act_event_name(t), o->event);
		cr_assert_eq(act_event_lookup(o->event), t);
		/* accept alone never alters a packet, so it alone has nothing to count. */
		cr_assert_eq(!o->counter, t == RULE_ACT_ACCEPT, "%s", o->event);
		for (int u = 0; u < t; u++) {
			cr_assert_str_neq(act_ops(u)->event, o->event);
			if (o->counter && act_ops(u)->counter)
				cr_assert_str_neq(act_ops(u)->counter, o->counter);
		}
	}
	cr_assert_null(act_ops(RULE_ACT__COUNT));
	cr_assert_str_eq(act_event_name(RULE_ACT__COUNT), "?");
	cr_assert_eq(act_event_lookup("bogus"), -1);
	cr_assert_eq(act_event_lookup(NULL), -1);
}

/*
 * Each action's own example (rules/actions.c) over 400 packets: its step
 * fires, the packet events list it, and its counter counts what fired.
 */
Test(act, every_action_steps_from_its_example)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const char *ex = rule__action_ops(t)->example;
		char line[256];
		const char *r[] = { line };
		struct fixture f = { 0 };
		uint64_t n = 0;

		if (t == RULE_ACT_ACCEPT)
			continue;	/* it stops evaluation: accept_stops_and_drop_clears */
		f.tcp = tcp_only(t);
		snprintf(line, sizeof(line), "%s => %s", f.tcp ? "tcp" : "udp", ex);
		setup_rules(&f, r, 1, 3);
		for (int i = 0; i < 400; i++) {
			struct act_decision d;

			decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
			for (unsigned k = 0; k < d.n_fired; k++)
				n += d.fired[k].action == t && d.fired[k].reason == ACT_REASON_NONE;
		}
		cr_assert_gt(n, 0, "'%s' never fired", line);
		/* corrupt counts once the packet really was corrupted (act_note_corrupted). */
		cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[t], t == RULE_ACT_CORRUPT ? 0 : n,
			     "%s", line);
		teardown_rules(&f);
	}
}

/*
 * An action is marked .sends (raw sockets, CAP_NET_RAW live) exactly when
 * its decision asks for packets of faultline's own: copies, RSTs, or
 * pieces beyond the first. Each action's example over 400 packets.
 */
Test(act, sends_marks_exactly_the_actions_that_send_packets)
{
	for (int t = 0; t < RULE_ACT__COUNT; t++) {
		const char *ex = rule__action_ops(t)->example;
		char line[256];
		const char *r[] = { line };
		struct fixture f = { 0 };
		bool sent = false;

		if (t == RULE_ACT_ACCEPT) {
			cr_assert_not(act_ops(t)->sends);
			continue;
		}
		f.tcp = tcp_only(t);
		/* Segments of 8 payload bytes: 'segment 4' cuts each in two. */
		snprintf(line, sizeof(line), "%s => %s", f.tcp ? "tcp" : "udp", ex);
		setup_rules(&f, r, 1, 3);
		for (int i = 0; i < 400; i++) {
			struct act_decision d;

			decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
			sent |= d.copies > 0 || d.reset || (d.segment && d.segment < 8);
		}
		cr_assert_eq(act_ops(t)->sends, sent, "%s: sends %d, its decisions sent %d", line,
			     act_ops(t)->sends, sent);
		cr_assert_eq(act_sending_rule(f.rs, NULL) != NULL, sent, "%s", line);
		teardown_rules(&f);
	}
}

/* The first rule that sends, and which of its actions; none in a set without one. */
Test(act, sending_rule_is_found_by_its_action)
{
	const char *lines[] = { "udp => delay 1ms", "tcp => delay 1ms, reset", "udp => duplicate" };
	struct fixture f = { 0 };
	enum rule_action_type a = RULE_ACT_DROP;

	setup_rules(&f, lines, 1, 1);
	cr_assert_null(act_sending_rule(f.rs, &a));
	cr_assert_eq(a, RULE_ACT_DROP, "untouched when none sends");
	teardown_rules(&f);
	setup_rules(&f, lines, 3, 1);
	cr_assert_eq(act_sending_rule(f.rs, &a), rule_set_get(f.rs, 1));
	cr_assert_eq(a, RULE_ACT_RESET);
	teardown_rules(&f);
	cr_assert_null(act_sending_rule(NULL, NULL));
}

/* 'accept 50%' parses, and accept stops evaluation whatever its P%. */
Test(act, accept_ignores_its_probability)
{
	const char *r[] = { "udp => accept 50%", "udp => drop" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 2, 1);
	for (int i = 0; i < 200; i++) {
		decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
		cr_assert(!d.drop && d.n_fired == 0);
	}
	cr_assert_eq(act_ctx_counters(f.ctx, 1)->matched, 0);
	teardown_rules(&f);
}

/* The per-rule stats keep their keys and their order. */
Test(act, counters_json_names_every_counter_in_order)
{
	const char *r[] = { "udp => drop" };
	struct fixture f = { 0 };
	struct act_decision d;
	struct strbuf b = { 0 };
	char *s;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	act_counters_json(act_ctx_counters(f.ctx, 0), &b);
	s = strbuf_take(&b);
	cr_assert_str_eq(s, "\"matched\":1,\"dropped\":1,\"delayed\":0,\"reordered\":0,"
			    "\"duplicated\":0,\"corrupted\":0,\"rate_queued\":0,\"slotted\":0,"
			    "\"profiled\":0,\"reset\":0,\"segmented\":0,\"rate_dropped\":0,\"released_early\":0");
	free(s);
	teardown_rules(&f);
}

/* reset drops a TCP segment and asks for RSTs; a datagram it leaves alone. */
Test(act, reset_drops_tcp_and_passes_the_rest)
{
	const char *r[] = { "=> reset" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(!d.drop && !d.reset && d.n_fired == 0, "a UDP datagram passes");
	f.tcp = true;
	decide(&f, 1, 5000, PKT_DIR_IN, 0, &d);
	cr_assert(d.drop && d.reset);
	cr_assert_eq(d.n_fired, 1);
	cr_assert_eq(d.fired[0].action, RULE_ACT_RESET);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_RESET], 1);
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_DROP], 0);
	teardown_rules(&f);
}

/* The 8-byte TCP segment of tcp4() at stream offset off, through the rules of f. */
static void decide_at(struct fixture *f, bool has_off, uint32_t off, uint8_t flags,
		      struct act_decision *d)
{
	struct act_tcp_info ti = { .has_off = has_off, .off = off };
	struct act_input in = { .v = &f->v, .dir = PKT_DIR_OUT, .tcp = &ti };
	size_t n = tcp4(f->buf, 1, 80);

	f->buf[33] = flags;
	cr_assert_eq(pkt_parse(&f->v, f->buf, n), 0);
	flow_table_identify(f->flows, &f->v, 0, &in.id);
	act_decide(f->ctx, &in, d);
}

/*
 * from-byte N: a segment holds once it carries byte N or later; one that
 * straddles N is cut there by drop and reset (keep), left whole by the
 * others; a segment without data holds from offset N on; a SYN, or a
 * segment without the tracker's offset, never.
 */
Test(act, from_byte_fires_at_byte_n_and_cuts_drop_and_reset_there)
{
	const char *r[] = { "tcp => reset, from-byte 100" };
	const char *dl[] = { "tcp => delay 5ms, from-byte 100" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide_at(&f, true, 0, 0x18, &d);
	cr_assert(!d.drop, "bytes 0-7");
	decide_at(&f, true, 92, 0x18, &d);
	cr_assert(!d.drop, "bytes 92-99 end just before byte 100");
	decide_at(&f, true, 93, 0x18, &d);
	cr_assert(d.drop && d.reset && d.keep == 7, "bytes 93-100: cut after 7 bytes, keep %u", d.keep);
	decide_at(&f, true, 100, 0x18, &d);
	cr_assert(d.drop && d.keep == 0, "from byte 100 on: whole");
	decide_at(&f, true, 5000, 0x18, &d);
	cr_assert(d.drop && d.keep == 0);
	decide_at(&f, false, 5000, 0x18, &d);
	cr_assert(!d.drop, "no offset without the tracker");
	decide_at(&f, true, 5000, 0x12, &d);
	cr_assert(!d.drop, "a SYN is before the stream");
	cr_assert_eq(act_ctx_counters(f.ctx, 0)->acted[RULE_ACT_RESET], 3);
	teardown_rules(&f);

	setup_rules(&f, dl, 1, 1);
	decide_at(&f, true, 93, 0x18, &d);
	cr_assert(d.delay_ns == 5000000 && d.keep == 0, "a delay takes the straddling segment whole");
	teardown_rules(&f);
}

/* Without data (a FIN, an ACK) it holds from offset N on: 'delay ... if fin' is a slow close. */
Test(act, from_byte_without_data_holds_from_offset_n)
{
	const char *r[] = { "tcp => delay 1s, from-byte 100, if fin" };
	struct fixture f = { 0 };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	/* tcp4 always carries 8 bytes: make this one a bare FIN. */
	f.tcp = true;
	for (uint32_t off = 98; off <= 101; off++) {
		struct act_tcp_info ti = { .has_off = true, .off = off };
		struct act_input in = { .v = &f.v, .dir = PKT_DIR_OUT, .tcp = &ti };
		size_t n = tcp4(f.buf, 1, 80);

		f.buf[3] = 40;
		f.buf[33] = 0x11;
		cr_assert_eq(pkt_parse(&f.v, f.buf, n - 8), 0);
		cr_assert_eq(f.v.payload_len, 0);
		flow_table_identify(f.flows, &f.v, 0, &in.id);
		act_decide(f.ctx, &in, &d);
		cr_assert_eq(d.delay_ns != 0, off >= 100, "a FIN at offset %u", off);
	}
	teardown_rules(&f);
}

/*
 * segment 3 gap 1ms on 8-byte segments (3 pieces each): the first segment
 * of a flow leaves now, its pieces 1 ms apart until 3 ms; the next one,
 * at 1 ms, waits 2 ms for them (a hold of the rule), and the one after
 * that 3 ms more. Another flow does not wait for this one's pieces.
 */
Test(act, segment_gap_holds_a_flows_next_segment_until_its_pieces_left)
{
	const char *r[] = { "tcp => segment 3 gap 1ms" };
	struct fixture f = { .tcp = true };
	struct act_decision d;

	setup_rules(&f, r, 1, 1);
	decide(&f, 40000, 80, PKT_DIR_OUT, 0, &d);
	cr_assert(d.segment == 3 && d.segment_gap_ns == 1000000);
	cr_assert_eq(d.delay_ns, 0);
	decide(&f, 40000, 80, PKT_DIR_OUT, 1000000, &d);
	cr_assert_eq(d.delay_ns, 2000000, "waits for the pieces until 3 ms: %llu",
		     (unsigned long long)d.delay_ns);
	cr_assert_eq(d.hold_rule, 0);
	decide(&f, 40000, 80, PKT_DIR_OUT, 3000000, &d);
	cr_assert_eq(d.delay_ns, 3000000, "after the second one's, from 3 to 6 ms");
	decide(&f, 40001, 80, PKT_DIR_OUT, 3000000, &d);
	cr_assert_eq(d.delay_ns, 0, "another flow");
	teardown_rules(&f);
}

/* 'vary V': every piece N +- V, every size of the range drawn, the count covering the payload. */
Test(act, piece_len_is_uniform_within_n_plus_minus_v)
{
	unsigned seen[21] = { 0 };
	uint64_t off = 0;
	uint32_t count;

	for (uint32_t i = 0; i < 21000; i++) {
		uint32_t k = act_piece_len(100, 10, 0x5eed, i);

		cr_assert(k >= 90 && k <= 110, "piece %u: %u", i, k);
		seen[k - 90]++;
	}
	for (unsigned i = 0; i < 21; i++)
		cr_assert(seen[i] > 700 && seen[i] < 1300, "size %u drawn %u times of 21000", 90 + i, seen[i]);
	cr_assert_eq(act_piece_len(100, 0, 0x5eed, 7), 100);
	cr_assert_eq(act_piece_count(1000, 100, 0, 0), 10);
	cr_assert_eq(act_piece_count(1001, 100, 0, 0), 11);
	count = act_piece_count(5000, 100, 10, 0x5eed);
	for (uint32_t i = 0; i + 1 < count; i++)
		off += act_piece_len(100, 10, 0x5eed, i);
	cr_assert(off < 5000 && off + act_piece_len(100, 10, 0x5eed, count - 1) >= 5000, "%u pieces", count);
}
