// SPDX-License-Identifier: MIT
/*
 * pipeline: what it hands its owner for a packet that leaves (bytes, both
 * lengths, held or not), and what its observers hear of each packet.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "rule.h"

#define WIRE 1000u
#define CUT 96u

struct seen {
	unsigned verdicts, with_bytes, cut_ok;
};

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	struct seen *s = data;

	s->verdicts++;
	s->with_bytes += bytes != NULL;
	s->cut_ok += len == CUT && wire_len == WIRE;
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
}

static const struct pipeline_ops ops = {
	.verdict = on_verdict,
	.duplicate = on_duplicate,
};

/* A UDP datagram 10.0.0.1:1000 -> 10.0.0.2:5000 of WIRE bytes; the first CUT of it. */
static void udp_packet(uint8_t *p, uint8_t n)
{
	memset(p, 0, CUT);
	p[0] = 0x45;
	p[2] = WIRE >> 8, p[3] = WIRE & 0xff;
	p[8] = 64, p[9] = 17;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = 5000 >> 8, p[23] = 5000 & 0xff;
	p[24] = (WIRE - 20) >> 8, p[25] = (WIRE - 20) & 0xff;
	p[28] = n;
}

static struct pipeline *new_pipeline(const char *rule, bool keep, struct seen *s,
				     struct rule_set **rs)
{
	struct pipeline_config pc = { .seed = 1, .keep_bytes = keep };
	struct rule_error e;
	struct pipeline *pl;

	*rs = rule_set_new();
	cr_assert(*rs);
	cr_assert_eq(rule_set_add_line(*rs, rule, "test", 1, &e), 0, "%s", e.msg);
	pl = pipeline_new(&pc, *rs, &ops, s);
	cr_assert(pl);
	return pl;
}

static void feed(struct pipeline *pl, unsigned n)
{
	uint8_t p[CUT];

	for (unsigned i = 0; i < n; i++) {
		struct pipeline_pkt pk = { .id = i + 1, .dir = PKT_DIR_IN, .data = p, .len = CUT,
					   .orig_len = WIRE };

		udp_packet(p, (uint8_t)i);
		pipeline_packet(pl, &pk, 1000000ull * (i + 1));
	}
}

static void held_cut_copy_is_kept(const char *rule)
{
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline(rule, true, &s, &rs);

	feed(pl, 9);
	pipeline_release_all(pl, 100000000ull, true);
	cr_assert_eq(s.verdicts, 9);
	/* Each leaves with its bytes as captured and its length on the wire. */
	cr_assert_eq(s.with_bytes, 9);
	cr_assert_eq(s.cut_ok, 9);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, held_cut_copy_is_kept_delay)
{
	held_cut_copy_is_kept("udp => delay 5ms");
}

Test(pipeline, held_cut_copy_is_kept_reorder)
{
	held_cut_copy_is_kept("ip => reorder 3");
}

Test(pipeline, cut_copy_is_never_duplicated)
{
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => duplicate, delay 1ms", true, &s, &rs);
	char *json;

	feed(pl, 3);
	pipeline_release_all(pl, 100000000ull, true);
	cr_assert_eq(s.verdicts, 3);
	cr_assert_eq(s.cut_ok, 3);
	json = pipeline_stats_json(pl);
	cr_assert(strstr(json, "\"held\":3,"), "%s", json);
	free(json);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* A SYN 10.0.0.1:1000 -> 10.0.0.2:80 with initial sequence number isn. */
static void tcp_syn(uint8_t *p, uint32_t isn)
{
	memset(p, 0, 40);
	p[0] = 0x45;
	p[3] = 40;
	p[8] = 64, p[9] = 6;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[23] = 80;
	p[24] = isn >> 24, p[25] = isn >> 16, p[26] = isn >> 8, p[27] = isn;
	p[32] = 5 << 4, p[33] = 0x02;
	p[34] = 0xff, p[35] = 0xff;
}

/*
 * The exit statistics list ended connections up to a bound; the ones past
 * it are counted (connections_omitted), not silently left out. Each SYN
 * with a new ISN on the same ports ends the connection before it.
 */
Test(pipeline, ended_connections_past_the_list_bound_are_counted)
{
	struct pipeline_config pc = { .seed = 1 };
	struct seen s = { 0 };
	struct rule_set *rs = rule_set_new();
	struct pipeline *pl;
	uint8_t p[40];
	char *json;
	const char *o;

	cr_assert(rs);
	pl = pipeline_new(&pc, rs, &ops, &s);
	cr_assert(pl);
	for (uint32_t i = 0; i < 10003; i++) {
		struct pipeline_pkt pk = { .id = i + 1, .dir = PKT_DIR_IN, .data = p, .len = 40,
					   .orig_len = 40 };

		tcp_syn(p, 1000000u * (i + 1));
		pipeline_packet(pl, &pk, 1000000ull * (i + 1));
	}
	json = pipeline_stats_json(pl);
	cr_assert(json);
	o = strstr(json, "\"connections_omitted\":");
	cr_assert(o, "no connections_omitted in %.200s", json);
	cr_assert_eq(atoi(o + strlen("\"connections_omitted\":")), 2, "%.40s", o);
	free(json);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* What a recording observer heard. */
struct heard {
	unsigned packets, left, held_left, malformed, track_events, conn_new;
	unsigned drops, with_bytes, whole_lengths, copies;
	uint64_t last_pkt, last_release, last_due;
	uint64_t left_ids[8];	/* the first held packets to leave, by capture number */
	bool in_order;		/* releases numbered 1, 2, ... as they came, none before it was due */
};

static void heard_packet(void *data, const struct pipeline_decided *e)
{
	struct heard *h = data;

	h->packets++;
	h->drops += e->d->drop;
	h->last_pkt = e->pkt;
	cr_assert(e->v && e->id && e->in);
}

static void heard_left(void *data, const struct pipeline_left *e)
{
	struct heard *h = data;

	h->left++;
	h->copies += e->copies;
	h->with_bytes += e->bytes != NULL;
	h->whole_lengths += e->len == CUT && e->wire_len == WIRE;
	if (e->held) {
		h->held_left++;
		h->in_order &= e->release == h->last_release + 1 && e->now_ns >= e->held_since_ns &&
			       e->now_ns >= e->due_ns;
		h->last_release = e->release;
		h->last_due = e->due_ns;
		if (h->held_left <= 8)
			h->left_ids[h->held_left - 1] = e->pkt;
	}
}

static void heard_malformed(void *data, uint64_t pkt, const struct pipeline_pkt *in, uint64_t now)
{
	struct heard *h = data;

	h->malformed++;
	h->last_pkt = pkt;
}

static void heard_track_event(void *data, const struct track_event *ev, uint64_t now)
{
	struct heard *h = data;

	h->track_events++;
	h->conn_new += ev->type == TRACK_EV_CONN_NEW && now == 1000000;
}

static const struct pipeline_observer_ops recorder = {
	.packet = heard_packet,
	.left = heard_left,
	.malformed = heard_malformed,
	.track_event = heard_track_event,
};

static const struct pipeline_observer_ops recorder_keeping = {
	.packet = heard_packet,
	.left = heard_left,
	.keep_bytes = true,
};

Test(pipeline, observers_hear_each_packet_decided_and_released)
{
	struct heard h = { .in_order = true }, k = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 5ms", false, &s, &rs);

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	cr_assert_eq(pipeline_add_observer(pl, &recorder_keeping, &k), 0);
	feed(pl, 9);
	pipeline_release_all(pl, 100000000ull, true);
	/* Both observers, each packet once as decided and once as it left, held. */
	for (struct heard *o = &h; o; o = o == &h ? &k : NULL) {
		cr_assert_eq(o->packets, 9);
		cr_assert_eq(o->left, 9);
		cr_assert_eq(o->held_left, 9);
		cr_assert(o->in_order);
		cr_assert_eq(o->last_pkt, 9);
		/* An observer that wants the bytes makes the pipeline keep them, as cut. */
		cr_assert_eq(o->with_bytes, 9);
		cr_assert_eq(o->whole_lengths, 9);
	}
	cr_assert_eq(s.verdicts, 9);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, without_an_observer_that_keeps_bytes_none_are_kept)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 5ms", false, &s, &rs);

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	feed(pl, 4);
	pipeline_release_all(pl, 100000000ull, true);
	cr_assert_eq(h.held_left, 4);
	cr_assert_eq(h.with_bytes, 0);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, a_dropped_packet_is_decided_and_never_leaves)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => drop", false, &s, &rs);

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	feed(pl, 3);
	cr_assert_eq(h.packets, 3);
	cr_assert_eq(h.drops, 3);
	cr_assert_eq(h.left, 0);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, an_unheld_packet_leaves_at_once_with_its_copies)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => duplicate", false, &s, &rs);
	uint8_t p[WIRE] = { 0 };
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = p, .len = WIRE, .orig_len = WIRE };

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	udp_packet(p, 1);
	pipeline_packet(pl, &pk, 1000000);
	cr_assert_eq(h.packets, 1);
	cr_assert_eq(h.left, 1);
	cr_assert_eq(h.held_left, 0);
	cr_assert_eq(h.copies, 1);
	cr_assert_eq(h.with_bytes, 1);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, a_malformed_packet_is_observed_and_passed)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => drop", false, &s, &rs);
	uint8_t junk[8] = { 0x45, 1, 2, 3 };
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = junk, .len = 8, .orig_len = 8 };

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	pipeline_packet(pl, &pk, 1000000);
	cr_assert_eq(h.malformed, 1);
	cr_assert_eq(h.last_pkt, 1);
	cr_assert_eq(h.packets, 0);
	cr_assert_eq(s.verdicts, 1);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, tracker_events_reach_observers_at_the_pipelines_time)
{
	struct pipeline_config pc = { .seed = 1 };
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs = rule_set_new();
	struct pipeline *pl;
	uint8_t p[40];
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = p, .len = 40, .orig_len = 40 };

	cr_assert(rs);
	pl = pipeline_new(&pc, rs, &ops, &s);
	cr_assert(pl);
	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	tcp_syn(p, 1000);
	pipeline_packet(pl, &pk, 1000000);
	cr_assert_eq(h.conn_new, 1);
	cr_assert_geq(h.track_events, 1);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pipeline, observers_past_the_bound_are_refused)
{
	struct heard h = { 0 };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => drop", false, &s, &rs);

	for (int i = 0; i < PIPELINE_MAX_OBSERVERS; i++)
		cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), -ENOSPC);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* A constructor that failed inside pipeline_new decides errno, not what was left in it. */
Test(pipeline, new_fails_with_the_failed_parts_errno)
{
	struct pipeline_config pc = { .seed = 1, .max_conns = (1u << 26) + 1u };
	struct seen s = { 0 };
	struct rule_set *rs = rule_set_new();

	cr_assert(rs);
	errno = ENOENT;
	cr_assert_null(pipeline_new(&pc, rs, &ops, &s));
	cr_assert_eq(errno, EINVAL);
	rule_set_free(rs);
}

/* ---- a new rule set while packets are held ------------------------------------------- */

static void feed_one(struct pipeline *pl, uint32_t id, uint64_t now)
{
	uint8_t p[CUT];
	struct pipeline_pkt pk = { .id = id, .dir = PKT_DIR_IN, .data = p, .len = CUT,
				   .orig_len = WIRE };

	udp_packet(p, (uint8_t)id);
	pipeline_packet(pl, &pk, now);
}

static struct rule_set *set_of(const char *a, const char *b)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert_eq(rule_set_add_line(rs, a, "new", 1, &e), 0, "%s", e.msg);
	if (b)
		cr_assert_eq(rule_set_add_line(rs, b, "new", 2, &e), 0, "%s", e.msg);
	return rs;
}

#define MS 1000000ull

/*
 * Held packets keep their release times across a swap, and what they owe
 * their rule (released_early) goes to it at its new index.
 */
Test(pipeline, swap_keeps_held_packets_and_their_rule)
{
	struct seen s = { 0 };
	struct rule_set *rs, *rs2 = set_of("b: icmp => drop", "a: udp => delay 10ms");
	struct pipeline *pl = new_pipeline("a: udp => delay 10ms", false, &s, &rs);
	char *json;

	feed_one(pl, 1, 1 * MS);
	feed_one(pl, 2, 2 * MS);
	cr_assert_eq(pipeline_swap_rules(pl, rs2, 3 * MS), 0);
	rule_set_free(rs);
	cr_assert_eq(pipeline_next_deadline(pl), 11 * MS, "the release time stays");
	pipeline_release_due(pl, 11 * MS);
	cr_assert_eq(s.verdicts, 1);
	pipeline_release_all(pl, 11 * MS, false);
	cr_assert_eq(s.verdicts, 2);
	json = pipeline_stats_json(pl);
	cr_assert_not_null(strstr(json, "{\"index\":1,\"name\":\"b\",\"rule\":\"icmp => drop\","
					"\"enabled\":true,\"line\":1,\"matched\":0,"), "%s", json);
	cr_assert_not_null(strstr(json, "{\"index\":2,\"name\":\"a\",\"rule\":\"udp => delay 10ms\","
					"\"enabled\":true,\"line\":2,\"matched\":2,\"dropped\":0,"
					"\"delayed\":2,"), "%s", json);
	cr_assert_not_null(strstr(json, "\"released_early\":1}]"), "%s", json);
	free(json);
	pipeline_free(pl);
	rule_set_free(rs2);
}

/* An open reorder group follows its rule to the new index: the next packet fills it. */
Test(pipeline, swap_keeps_reorder_group_of_a_surviving_rule)
{
	struct seen s = { 0 };
	struct rule_set *rs, *rs2 = set_of("x: icmp => drop", "r: udp => reorder 3 timeout 50ms");
	struct pipeline *pl = new_pipeline("r: udp => reorder 3 timeout 50ms", false, &s, &rs);

	feed_one(pl, 1, 1 * MS);
	feed_one(pl, 2, 2 * MS);
	cr_assert_eq(pipeline_swap_rules(pl, rs2, 3 * MS), 0);
	rule_set_free(rs);
	feed_one(pl, 3, 4 * MS);
	pipeline_release_due(pl, 4 * MS);
	cr_assert_eq(s.verdicts, 3, "the group of three filled and left");
	pipeline_free(pl);
	rule_set_free(rs2);
}

/*
 * A group whose rule is gone takes no one new and leaves at its timeout;
 * the rule now at its index opens a group of its own.
 */
Test(pipeline, swap_closes_reorder_group_of_a_removed_rule)
{
	struct seen s = { 0 };
	struct rule_set *rs, *rs2 = set_of("other: udp => reorder 3 timeout 50ms", NULL);
	struct pipeline *pl = new_pipeline("r: udp => reorder 3 timeout 50ms", false, &s, &rs);

	feed_one(pl, 1, 1 * MS);
	feed_one(pl, 2, 2 * MS);
	cr_assert_eq(pipeline_swap_rules(pl, rs2, 3 * MS), 0);
	rule_set_free(rs);
	feed_one(pl, 3, 4 * MS);
	pipeline_release_due(pl, 4 * MS);
	cr_assert_eq(s.verdicts, 0, "nothing joined the old group");
	pipeline_release_due(pl, 51 * MS);
	cr_assert_eq(s.verdicts, 2, "the old group left at its timeout");
	pipeline_release_due(pl, 54 * MS);
	cr_assert_eq(s.verdicts, 3, "the new group at its own");
	pipeline_free(pl);
	rule_set_free(rs2);
}

/* ---- TCP: reset ---- */

/* What a TCP test saw go out, in order: verdicts and packets faultline made. */
struct tcp_seen {
	char order[64];		/* 'a' accept, 'd' drop, 'i' inject */
	unsigned n;
	uint8_t inj[6][128];
	uint32_t inj_len[6];
	unsigned n_inj;
	int inj_err;		/* what the owner's inject returns */
	uint64_t inj_t[6];	/* when each was sent */
	uint64_t rewritten_t;
	unsigned observed_inj;
	uint8_t rewritten[1500];	/* the last accept that came with new bytes */
	uint32_t rewritten_len;
};

static void tcp_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
			uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	struct tcp_seen *s = data;

	if (s->n < sizeof(s->order) - 1)
		s->order[s->n++] = accept ? 'a' : 'd';
	if (accept && payload && len <= sizeof(s->rewritten)) {
		memcpy(s->rewritten, payload, len);
		s->rewritten_len = len;
		s->rewritten_t = now;
	}
}

static int tcp_inject(void *data, const uint8_t *bytes, uint32_t len, uint64_t now)
{
	struct tcp_seen *s = data;

	if (s->n < sizeof(s->order) - 1)
		s->order[s->n++] = 'i';
	if (s->n_inj < 6 && len <= sizeof(s->inj[0])) {
		s->inj_t[s->n_inj] = now;
		memcpy(s->inj[s->n_inj], bytes, len);
		s->inj_len[s->n_inj++] = len;
	}
	return s->inj_err;
}

static void heard_injected(void *data, const struct pipeline_injected *e)
{
	struct tcp_seen *s = data;

	cr_assert_eq(e->err, 0);
	if (e->kind == PIPELINE_INJ_RST)
		cr_assert(e->v && e->v->tcp_flags == (PKT_TCP_RST | PKT_TCP_ACK));
	else
		cr_assert(e->kind == PIPELINE_INJ_PIECE && e->index >= 1 && e->index < e->count);
	s->observed_inj++;
}

static const struct pipeline_observer_ops inj_recorder = { .injected = heard_injected };

static const struct pipeline_ops tcp_ops = {
	.verdict = tcp_verdict,
	.duplicate = on_duplicate,
	.inject = tcp_inject,
};

/* A TCP segment between 10.0.0.1:40000 (a) and 10.0.0.2:80 (b), len bytes of payload. */
static size_t tcp_seg(uint8_t *p, bool from_a, uint8_t flags, uint32_t seq, uint32_t ack,
		      uint32_t len)
{
	size_t n = 40 + len;
	struct pkt_view v;

	memset(p, 0, n);
	p[0] = 0x45;
	p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
	p[8] = 64, p[9] = 6;
	p[12] = 10, p[15] = from_a ? 1 : 2;
	p[16] = 10, p[19] = from_a ? 2 : 1;
	p[20] = from_a ? 40000 >> 8 : 0, p[21] = from_a ? 40000 & 0xff : 80;
	p[22] = from_a ? 0 : 40000 >> 8, p[23] = from_a ? 80 : 40000 & 0xff;
	for (int i = 0; i < 4; i++) {
		p[24 + i] = (uint8_t)(seq >> (24 - 8 * i));
		p[28 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	p[32] = 5 << 4;
	p[33] = flags;
	p[34] = 0xff, p[35] = 0xff;
	memset(p + 40, 'x', len);
	cr_assert_eq(pkt_parse(&v, p, n), 0);
	cr_assert_eq(pkt_fix_checksums(p, n, &v), 0);
	return n;
}

struct conv {
	struct pipeline *pl;
	uint32_t id;
	uint64_t now;
	bool gso;		/* the next segment comes as a GSO super-packet */
};

static void send_seg(struct conv *c, bool from_a, uint8_t flags, uint32_t seq, uint32_t ack,
		     uint32_t len)
{
	uint8_t p[1500];
	struct pipeline_pkt pk = { .id = ++c->id, .dir = from_a ? PKT_DIR_OUT : PKT_DIR_IN, .data = p,
				   .gso = c->gso };

	pk.len = pk.orig_len = (uint32_t)tcp_seg(p, from_a, flags, seq, ack, len);
	c->now += 1000000;
	pipeline_packet(c->pl, &pk, c->now);
}

/*
 * a: ISN 100, b: ISN 5000. Handshake, b sends 20 bytes, then a's 30
 * bytes (a GSO super-packet with 'gso') meet the rule; what is held is
 * released at its deadline. Returns the pipeline's stats.
 */
static char *conversation_gso(const char *rule, bool no_track, bool gso, struct tcp_seen *s)
{
	struct pipeline_config pc = { .seed = 1, .no_track = no_track };
	struct rule_set *rs = rule_set_new();
	struct rule_error e;
	struct conv c = { 0 };
	char *json;

	cr_assert_eq(rule_set_add_line(rs, rule, "t", 1, &e), 0, "%s", e.msg);
	c.pl = pipeline_new(&pc, rs, &tcp_ops, s);
	cr_assert(c.pl);
	cr_assert_eq(pipeline_add_observer(c.pl, &inj_recorder, s), 0);
	send_seg(&c, true, PKT_TCP_SYN, 100, 0, 0);
	send_seg(&c, false, PKT_TCP_SYN | PKT_TCP_ACK, 5000, 101, 0);
	send_seg(&c, true, PKT_TCP_ACK, 101, 5001, 0);
	send_seg(&c, false, PKT_TCP_ACK | PKT_TCP_PSH, 5001, 101, 20);
	c.gso = gso;
	send_seg(&c, true, PKT_TCP_ACK | PKT_TCP_PSH, 101, 5021, 30);
	pipeline_release_all(c.pl, c.now, true);
	json = pipeline_stats_json(c.pl);
	pipeline_free(c.pl);
	rule_set_free(rs);
	return json;
}

static char *conversation(const char *rule, bool no_track, struct tcp_seen *s)
{
	return conversation_gso(rule, no_track, false, s);
}

static char *reset_conversation(bool no_track, struct tcp_seen *s)
{
	return conversation("tcp => reset, first 1, if data and not syn, out", no_track, s);
}

/* The RST i that s saw, parsed. */
static struct pkt_view rst_seen(const struct tcp_seen *s, unsigned i)
{
	struct pkt_view v;

	cr_assert_lt(i, s->n_inj);
	cr_assert_eq(pkt_parse(&v, s->inj[i], s->inj_len[i]), 0);
	cr_assert_eq(v.tcp_flags, PKT_TCP_RST | PKT_TCP_ACK);
	return v;
}

Test(pipeline, reset_drops_then_sends_a_rst_to_each_endpoint)
{
	struct tcp_seen s = { 0 };
	char *json = reset_conversation(false, &s);
	struct pkt_view to_a, to_b;

	/* The segment's drop goes first, then the two RSTs. */
	cr_assert_str_eq(s.order, "aaaadii");
	cr_assert_eq(s.observed_inj, 2);
	to_a = rst_seen(&s, 0);
	to_b = rst_seen(&s, 1);
	/* To a (the sender) from b: a's RCV.NXT is b's 20 bytes on. */
	cr_assert_eq(to_a.sport, 80);
	cr_assert_eq(to_a.dport, 40000);
	cr_assert_eq(to_a.daddr[3], 1);
	cr_assert_eq(to_a.seq, 5021);
	cr_assert_eq(to_a.ack, 131);
	/* To b from a: b's RCV.NXT is where the dropped segment started. */
	cr_assert_eq(to_b.sport, 40000);
	cr_assert_eq(to_b.daddr[3], 2);
	cr_assert_eq(to_b.seq, 101);
	cr_assert_eq(to_b.ack, 5021);
	cr_assert(strstr(json, "\"rsts\":2,\"pieces\":0,\"inject_errors\":0,"), "%s", json);
	/* The tracker closed both endpoints. */
	cr_assert(strstr(json, "\"state\":[\"CLOSED\",\"CLOSED\"]"), "%s", json);
	free(json);
}

/* Without the tracker the RSTs come from the segment itself: the same here, nothing in flight. */
Test(pipeline, reset_without_the_tracker_derives_the_rsts_from_the_segment)
{
	struct tcp_seen s = { 0 };
	char *json = reset_conversation(true, &s);
	struct pkt_view to_a, to_b;

	cr_assert_str_eq(s.order, "aaaadii");
	to_a = rst_seen(&s, 0);
	to_b = rst_seen(&s, 1);
	cr_assert_eq(to_a.seq, 5021);
	cr_assert_eq(to_a.ack, 131);
	cr_assert_eq(to_b.seq, 101);
	cr_assert_eq(to_b.ack, 5021);
	free(json);
}

/*
 * reset from byte 25: a's 30-byte segment (bytes 0-29) is cut after its
 * first 25 bytes, which go on with checksums that verify, and the RST to b
 * starts at byte 25.
 */
Test(pipeline, from_byte_reset_cuts_the_segment_at_byte_n)
{
	struct tcp_seen s = { 0 };
	char *json = conversation("tcp => reset, from-byte 25, out", false, &s);
	struct pkt_view h, to_b;
	uint8_t check[1500];

	cr_assert_str_eq(s.order, "aaaaaii", "the head is accepted, then the RSTs");
	cr_assert_eq(pkt_parse(&h, s.rewritten, s.rewritten_len), 0);
	cr_assert_eq(h.payload_len, 25);
	cr_assert_eq(h.seq, 101);
	cr_assert_eq(s.rewritten_len, 40 + 25);
	memcpy(check, s.rewritten, s.rewritten_len);
	cr_assert_eq(pkt_fix_checksums(check, s.rewritten_len, &h), 0);
	cr_assert_arr_eq(check, s.rewritten, s.rewritten_len, "checksums were already right");
	to_b = rst_seen(&s, 1);
	cr_assert_eq(to_b.seq, 126, "b's RCV.NXT after the head: %u", to_b.seq);
	cr_assert_eq(rst_seen(&s, 0).ack, 131, "a's SND.NXT: the whole segment");
	free(json);
}

Test(pipeline, from_byte_never_holds_without_the_tracker)
{
	/* No offset without the tracker: the qualifier never holds, nothing is cut. */
	struct tcp_seen s = { 0 };
	char *json = conversation("tcp => reset, from-byte 25, out", true, &s);

	cr_assert_str_eq(s.order, "aaaaa");
	free(json);
}

/* drop from byte 25: the head goes on, the rest is dropped, no RST. */
Test(pipeline, from_byte_drop_passes_the_head_only)
{
	struct tcp_seen s = { 0 };
	char *json = conversation("tcp => drop, from-byte 25, out", false, &s);
	struct pkt_view h;

	cr_assert_str_eq(s.order, "aaaaa");
	cr_assert_eq(pkt_parse(&h, s.rewritten, s.rewritten_len), 0);
	cr_assert_eq(h.payload_len, 25);
	cr_assert(strstr(json, "\"rsts\":0,"), "%s", json);
	free(json);
}

/* segment 8: a's 30 bytes leave as 8 + 8 + 8 + 6, the first as its verdict, in order. */
Test(pipeline, segment_sends_the_pieces_in_order_after_the_first)
{
	struct tcp_seen s = { 0 };
	char *json = conversation("tcp => segment 8, out", false, &s);
	struct pkt_view h;
	uint32_t seq = 109;

	cr_assert_str_eq(s.order, "aaaaaiii", "the first piece is the verdict");
	cr_assert_eq(pkt_parse(&h, s.rewritten, s.rewritten_len), 0);
	cr_assert_eq(h.seq, 101);
	cr_assert_eq(h.payload_len, 8);
	for (unsigned i = 0; i < 3; i++) {
		struct pkt_view pv;

		cr_assert_eq(pkt_parse(&pv, s.inj[i], s.inj_len[i]), 0);
		cr_assert_eq(pv.seq, seq, "piece %u", i + 2);
		cr_assert_eq(pv.payload_len, i < 2 ? 8u : 6u);
		seq += pv.payload_len;
	}
	cr_assert(strstr(json, "\"pieces\":4,"), "%s", json);
	cr_assert(strstr(json, "\"segmented\":1,"), "%s", json);
	free(json);
}

/* The payload sizes of the pieces s saw (the verdict's first): their count. */
static unsigned piece_sizes(const struct tcp_seen *s, uint32_t *sz)
{
	struct pkt_view h;
	uint32_t seq;

	cr_assert_eq(pkt_parse(&h, s->rewritten, s->rewritten_len), 0);
	cr_assert_eq(h.seq, 101);
	sz[0] = h.payload_len;
	seq = 101 + h.payload_len;
	for (unsigned i = 0; i < s->n_inj; i++) {
		struct pkt_view pv;

		cr_assert_eq(pkt_parse(&pv, s->inj[i], s->inj_len[i]), 0);
		cr_assert_eq(pv.seq, seq, "piece %u follows the last", i + 2);
		sz[i + 1] = pv.payload_len;
		seq += pv.payload_len;
	}
	return s->n_inj + 1;
}

/*
 * segment 8 vary 3: a's 30 bytes leave in pieces of 5 to 11 bytes, not
 * all 8, that add up to the 30 in order; the same seed cuts them the same.
 */
Test(pipeline, segment_vary_draws_each_piece_within_n_plus_minus_v)
{
	struct tcp_seen s = { 0 }, again = { 0 };
	char *json = conversation("tcp => segment 8 vary 3, out", false, &s), *json2;
	uint32_t sz[8], sz2[8], sum = 0;
	unsigned n = piece_sizes(&s, sz);
	bool varied = false;
	char want[32];

	for (unsigned i = 0; i < n; i++) {
		cr_assert(i == n - 1 || (sz[i] >= 5 && sz[i] <= 11), "piece %u: %u bytes", i + 1, sz[i]);
		cr_assert(sz[i] >= 1 && sz[i] <= 11);
		varied |= sz[i] != 8;
		sum += sz[i];
	}
	cr_assert_eq(sum, 30);
	cr_assert(varied, "every piece 8 bytes");
	snprintf(want, sizeof(want), "\"pieces\":%u,", n);
	cr_assert(strstr(json, want), "%s, want %s", json, want);
	json2 = conversation("tcp => segment 8 vary 3, out", false, &again);
	cr_assert_eq(piece_sizes(&again, sz2), n);
	cr_assert_arr_eq(sz, sz2, n * sizeof(sz[0]));
	free(json);
	free(json2);
}

/*
 * A held packet's deadline is its arrival plus the delay, in nanoseconds:
 * nothing on the way rounds it to milliseconds (libuv's timers would).
 */
Test(pipeline, delay_deadline_is_exact_in_nanoseconds)
{
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 1234567ns", false, &s, &rs);
	uint64_t t0 = 5000000000ull + 314159;
	uint8_t p[CUT];
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = p, .len = CUT, .orig_len = WIRE };

	udp_packet(p, 0);
	pipeline_packet(pl, &pk, t0);
	cr_assert_eq(pipeline_held(pl), 1);
	cr_assert_eq(pipeline_next_deadline(pl), t0 + 1234567);
	pipeline_release_due(pl, t0 + 1234566);
	cr_assert_eq(s.verdicts, 0, "released 1 ns before its deadline");
	pipeline_release_due(pl, t0 + 1234567);
	cr_assert_eq(s.verdicts, 1);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* One datagram 'n' read at now that the kernel stamped as arrived at seen (0: no stamp). */
static void feed_arrived(struct pipeline *pl, uint32_t id, uint64_t seen, uint64_t now)
{
	uint8_t p[CUT];
	struct pipeline_pkt pk = { .id = id, .dir = PKT_DIR_IN, .data = p, .len = CUT,
				   .orig_len = WIRE, .seen_ns = seen };

	udp_packet(p, (uint8_t)id);
	pipeline_packet(pl, &pk, now);
}

/*
 * A delay counts from the packet's arrival: a packet read 300 us after the
 * kernel stamped it is due 300 us sooner than its read time plus the
 * delay, and the observers hear that time. One read later than its whole
 * delay is due at once (its read time), never before.
 */
Test(pipeline, delay_counts_from_the_kernels_arrival_time)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 10ms", false, &s, &rs);
	uint64_t t0 = 7000000000ull;

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	feed_arrived(pl, 1, t0, t0 + 300000);
	cr_assert_eq(pipeline_next_deadline(pl), t0 + 10000000);
	pipeline_release_due(pl, t0 + 9999999);
	cr_assert_eq(s.verdicts, 0, "released before arrival + delay");
	pipeline_release_due(pl, t0 + 10000000);
	cr_assert_eq(s.verdicts, 1);
	cr_assert_eq(h.last_due, t0 + 10000000);
	/* Read 12 ms after it arrived: due when read, not 2 ms before. */
	feed_arrived(pl, 2, t0 + 20000000, t0 + 32000000);
	cr_assert_eq(pipeline_next_deadline(pl), t0 + 32000000);
	/* No stamp: from the read time, as before. */
	pipeline_release_due(pl, t0 + 32000000);
	feed_arrived(pl, 3, 0, t0 + 40000000);
	cr_assert_eq(pipeline_next_deadline(pl), t0 + 50000000);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* The deadline of a datagram read at now, stamped as arrived 'waited' before it (0: no stamp). */
static uint64_t due_after_wait(const char *rule, uint64_t now, uint64_t waited)
{
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline(rule, false, &s, &rs);
	uint64_t due;

	feed_arrived(pl, 1, waited ? now - waited : 0, now);
	due = pipeline_next_deadline(pl);
	pipeline_free(pl);
	rule_set_free(rs);
	return due;
}

/*
 * Only the delay asked for counts from the arrival, and no further back
 * than it reaches: a rate queue's wait (8 ms for 1000 bytes at 1 Mbit/s)
 * counts from the read time, as its bucket runs on it.
 */
Test(pipeline, only_the_asked_delay_counts_from_the_arrival)
{
	const char *r = "udp => delay 1ms, rate 1mbit limit 10";
	uint64_t now = 7000000000ull, unstamped = due_after_wait(r, now, 0);

	cr_assert_eq(unstamped, now + 9000000, "%llu", (unsigned long long)(unstamped - now));
	cr_assert_eq(due_after_wait(r, now, 400000), unstamped - 400000);
	cr_assert_eq(due_after_wait(r, now, 3000000), unstamped - 1000000);
	cr_assert_eq(due_after_wait("udp => rate 1mbit limit 10", now, 400000), now + 8000000);
}

/*
 * Packets held alike leave in the order they came even when the kernel
 * stamped them out of order (two CPUs): an arrival never counts earlier
 * than the one before it.
 */
Test(pipeline, arrivals_out_of_order_keep_the_release_order)
{
	struct heard h = { .in_order = true };
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 5ms", false, &s, &rs);
	uint64_t t0 = 7000000000ull;

	cr_assert_eq(pipeline_add_observer(pl, &recorder, &h), 0);
	feed_arrived(pl, 1, t0 + 200000, t0 + 400000);
	feed_arrived(pl, 2, t0 + 100000, t0 + 400000);
	feed_arrived(pl, 3, t0 + 150000, t0 + 450000);
	pipeline_release_due(pl, t0 + 5200000);
	cr_assert_eq(s.verdicts, 3, "all three due by the first's deadline");
	cr_assert(h.in_order);
	cr_assert_eq(h.left_ids[0], 1);
	cr_assert_eq(h.left_ids[1], 2);
	cr_assert_eq(h.left_ids[2], 3);
	pipeline_free(pl);
	rule_set_free(rs);
}

/*
 * The counters say how late held packets left (release time - deadline):
 * two released 3 us and 250 us late; one let go early at shutdown is not
 * counted.
 */
Test(pipeline, counters_say_how_late_releases_were)
{
	struct seen s = { 0 };
	struct rule_set *rs;
	struct pipeline *pl = new_pipeline("udp => delay 5ms", false, &s, &rs);
	uint64_t t0 = 7000000000ull;
	char *json;

	feed_arrived(pl, 1, t0 - 100000, t0);
	pipeline_release_due(pl, t0 - 100000 + 5000000 + 3000);
	feed_arrived(pl, 2, 0, t0 + 1000000);
	pipeline_release_due(pl, t0 + 6000000 + 250000);
	feed_arrived(pl, 3, 0, t0 + 7000000);
	pipeline_release_all(pl, t0 + 7000001, false);
	cr_assert_eq(s.verdicts, 3);
	json = pipeline_stats_json(pl);
	cr_assert(strstr(json, "\"release_late_us\":{\"n\":2,\"p50\":3,\"p99\":250,\"max\":250}"),
		  "%s", json);
	free(json);
	pipeline_free(pl);
	rule_set_free(rs);
}

/* The bytes s saw injected as i-th, parsed, with checksums that verify. */
static struct pkt_view inj_seen(const struct tcp_seen *s, unsigned i)
{
	uint8_t check[128];
	struct pkt_view v;

	cr_assert_lt(i, s->n_inj);
	cr_assert_eq(pkt_parse(&v, s->inj[i], s->inj_len[i]), 0);
	memcpy(check, s->inj[i], s->inj_len[i]);
	cr_assert_eq(pkt_fix_checksums(check, s->inj_len[i], &v), 0);
	cr_assert_arr_eq(check, s->inj[i], s->inj_len[i], "checksums were already right");
	return v;
}

/*
 * A GSO super-packet is never shortened in its verdict (the kernel lost
 * such packets): its first piece is injected like the others, and the
 * original dropped after it.
 */
Test(pipeline, segment_of_a_gso_packet_injects_the_first_piece_and_drops_the_original)
{
	struct tcp_seen s = { 0 };
	char *json = conversation_gso("tcp => segment 8, out", false, true, &s);
	struct pkt_view h;

	cr_assert_str_eq(s.order, "aaaaidiii", "%s", s.order);
	cr_assert_eq(s.rewritten_len, 0, "no verdict carried new bytes");
	for (unsigned i = 0; i < 4; i++) {
		h = inj_seen(&s, i);
		cr_assert_eq(h.seq, 101 + 8 * i, "piece %u", i + 1);
		cr_assert_eq(h.payload_len, i < 3 ? 8u : 6u);
	}
	cr_assert_eq(s.observed_inj, 3, "the first piece is the packet's 'left', not an injection");
	cr_assert(strstr(json, "\"pieces\":4,\"inject_errors\":0,\"resent\":1,"), "%s", json);
	free(json);
}

/* The same for a held one: it leaves in pieces at its deadline. */
Test(pipeline, held_gso_packet_leaves_in_injected_pieces)
{
	struct tcp_seen s = { 0 };
	char *json = conversation_gso("tcp => segment 8, delay 5ms, out", false, true, &s);

	cr_assert_str_eq(s.order, "aaaaidiii", "%s", s.order);
	cr_assert_eq(inj_seen(&s, 0).payload_len, 8);
	cr_assert(strstr(json, "\"resent\":1,"), "%s", json);
	free(json);
}

/* from-byte on a GSO packet: the head is injected, then the RSTs. */
Test(pipeline, from_byte_head_of_a_gso_packet_is_injected)
{
	struct tcp_seen s = { 0 };
	char *json = conversation_gso("tcp => reset, from-byte 25, out", false, true, &s);
	struct pkt_view h;

	cr_assert_str_eq(s.order, "aaaaidii", "%s", s.order);
	h = inj_seen(&s, 0);
	cr_assert_eq(h.seq, 101);
	cr_assert_eq(h.payload_len, 25);
	cr_assert_eq(rst_seen(&s, 2).seq, 126, "the RST to b starts after the head");
	cr_assert(strstr(json, "\"rsts\":2,\"pieces\":0,\"inject_errors\":0,\"resent\":1,"), "%s", json);
	free(json);
}

/* When the fresh packet cannot be sent, the rewritten verdict is the fallback: nothing is lost here. */
Test(pipeline, gso_head_falls_back_to_the_verdict_when_inject_fails)
{
	struct tcp_seen s = { .inj_err = -ENOBUFS };
	char *json = conversation_gso("tcp => drop, from-byte 25, out", false, true, &s);
	struct pkt_view h;

	cr_assert_str_eq(s.order, "aaaaia", "%s", s.order);
	cr_assert_eq(pkt_parse(&h, s.rewritten, s.rewritten_len), 0);
	cr_assert_eq(h.payload_len, 25);
	cr_assert(strstr(json, "\"inject_errors\":1,\"resent\":0,"), "%s", json);
	free(json);
}

/*
 * segment 8 gap 1ms: the first piece leaves with the packet's verdict, the
 * others wait in the scheduler and leave 1, 2 and 3 ms after it, in order.
 */
Test(pipeline, segment_gap_spaces_the_pieces_through_the_scheduler)
{
	struct tcp_seen s = { 0 };
	char *json = conversation("tcp => segment 8 gap 1ms, out", false, &s);

	cr_assert_str_eq(s.order, "aaaaaiii", "%s", s.order);
	cr_assert_eq(s.rewritten_len, 40 + 8);
	for (unsigned i = 0; i < 3; i++) {
		struct pkt_view pv = inj_seen(&s, i);

		cr_assert_eq(pv.seq, 109 + 8 * i, "piece %u", i + 2);
		cr_assert_eq(s.inj_t[i], s.rewritten_t + (i + 1) * MS, "piece %u left at %llu, not %llu",
			     i + 2, (unsigned long long)s.inj_t[i],
			     (unsigned long long)(s.rewritten_t + (i + 1) * MS));
	}
	cr_assert(strstr(json, "\"pieces\":4,"), "%s", json);
	free(json);
}

/*
 * A flow's next segment waits for the last piece of the one before (plus
 * the gap): it must not overtake it. a sends 30 bytes at 4 ms (pieces at
 * 4, 5, 6 ms) and 20 bytes at 5 ms: held until 7 ms, its pieces at 7 and
 * 8 ms. Nothing leaves out of order.
 */
Test(pipeline, segment_gap_keeps_a_flows_pieces_in_order)
{
	struct pipeline_config pc = { .seed = 1 };
	struct rule_set *rs = rule_set_new();
	struct tcp_seen s = { 0 };
	struct rule_error e;
	struct conv c = { 0 };
	struct pkt_view pv;

	cr_assert_eq(rule_set_add_line(rs, "tcp => segment 10 gap 1ms, out", "t", 1, &e), 0, "%s", e.msg);
	c.pl = pipeline_new(&pc, rs, &tcp_ops, &s);
	cr_assert(c.pl);
	send_seg(&c, true, PKT_TCP_SYN, 100, 0, 0);
	send_seg(&c, false, PKT_TCP_SYN | PKT_TCP_ACK, 5000, 101, 0);
	send_seg(&c, true, PKT_TCP_ACK, 101, 5001, 0);
	send_seg(&c, true, PKT_TCP_ACK | PKT_TCP_PSH, 101, 5001, 30);
	cr_assert_eq(c.now, 4 * MS);
	send_seg(&c, true, PKT_TCP_ACK | PKT_TCP_PSH, 131, 5001, 20);
	cr_assert_str_eq(s.order, "aaaa", "the second segment is held: %s", s.order);
	cr_assert_eq(pipeline_held(c.pl), 3, "two pieces and the second segment");
	cr_assert_eq(pipeline_next_deadline(c.pl), 5 * MS);
	pipeline_release_all(c.pl, c.now, true);
	cr_assert_str_eq(s.order, "aaaaiiai", "%s", s.order);
	cr_assert_eq(inj_seen(&s, 0).seq, 111);
	cr_assert_eq(s.inj_t[0], 5 * MS);
	cr_assert_eq(inj_seen(&s, 1).seq, 121);
	cr_assert_eq(s.inj_t[1], 6 * MS);
	cr_assert_eq(pkt_parse(&pv, s.rewritten, s.rewritten_len), 0);
	cr_assert_eq(pv.seq, 131, "the second segment's first piece");
	cr_assert_eq(s.rewritten_t, 7 * MS);
	cr_assert_eq(inj_seen(&s, 2).seq, 141);
	cr_assert_eq(s.inj_t[2], 8 * MS);
	pipeline_free(c.pl);
	rule_set_free(rs);
}

/* At shutdown the pieces still waiting leave at once, in order: none is lost. */
Test(pipeline, segment_gap_pieces_leave_at_release_all)
{
	struct tcp_seen s = { 0 };
	struct pipeline_config pc = { .seed = 1 };
	struct rule_set *rs = rule_set_new();
	struct rule_error e;
	struct conv c = { 0 };

	cr_assert_eq(rule_set_add_line(rs, "tcp => segment 10 gap 1s, out", "t", 1, &e), 0, "%s", e.msg);
	c.pl = pipeline_new(&pc, rs, &tcp_ops, &s);
	send_seg(&c, true, PKT_TCP_SYN, 100, 0, 0);
	send_seg(&c, false, PKT_TCP_SYN | PKT_TCP_ACK, 5000, 101, 0);
	send_seg(&c, true, PKT_TCP_ACK | PKT_TCP_PSH, 101, 5001, 30);
	pipeline_release_all(c.pl, c.now, false);
	cr_assert_str_eq(s.order, "aaaii", "%s", s.order);
	cr_assert_eq(s.inj_t[1], c.now);
	cr_assert_eq(pipeline_held(c.pl), 0);
	pipeline_free(c.pl);
	rule_set_free(rs);
}

/* The unsigned number after the first 'key' in json, or -1 when none. */
static long long json_num(const char *json, const char *key)
{
	const char *at = strstr(json, key);

	return at ? atoll(at + strlen(key)) : -1;
}

/* A SYN like tcp_syn()'s, from source port 'sport'. */
static void tcp_syn_from(uint8_t *p, uint32_t isn, uint16_t sport)
{
	tcp_syn(p, isn);
	p[20] = sport >> 8, p[21] = sport & 0xff;
}

static void feed_syns(struct pipeline *pl, unsigned n, uint16_t sport0)
{
	uint8_t p[40];

	for (unsigned i = 0; i < n; i++) {
		struct pipeline_pkt pk = { .id = i + 1, .dir = PKT_DIR_IN, .data = p, .len = 40,
					   .orig_len = 40 };

		tcp_syn_from(p, 1000u * (i + 1), (uint16_t)(sport0 + i));
		pipeline_packet(pl, &pk, 1000000ull * (i + 1));
	}
}

/*
 * --queues N: the counters of the N pipelines are presented as one
 * faultline's. Each queue's packets, holds, rule counters, tracker counts
 * and connections are in the sums, not only the first queue's.
 */
Test(pipeline, stats_of_several_queues_are_their_sums)
{
	struct pipeline_config pc0 = { .seed = 1, .index = 0, .count = 2 };
	struct pipeline_config pc1 = { .seed = 1, .index = 1, .count = 2 };
	struct seen s = { 0 };
	struct rule_set *rs = rule_set_new();
	struct rule_error e;
	const struct pipeline *pls[2];
	struct pipeline *pl0, *pl1;
	char *json;
	const char *conns;

	cr_assert(rs);
	cr_assert_eq(rule_set_add_line(rs, "udp => delay 5ms", "test", 1, &e), 0, "%s", e.msg);
	pl0 = pipeline_new(&pc0, rs, &ops, &s);
	pl1 = pipeline_new(&pc1, rs, &ops, &s);
	cr_assert(pl0 && pl1);
	/* Queue 0: 3 datagrams and 1 connection; queue 1: 5 and 2. */
	feed(pl0, 3);
	feed_syns(pl0, 1, 2000);
	feed(pl1, 5);
	feed_syns(pl1, 2, 3000);
	pls[0] = pl0;
	pls[1] = pl1;
	json = pipeline_stats_json_many(pls, 2);
	cr_assert(json);
	cr_assert_eq(json_num(json, "\"packets\":"), 11, "%s", json);
	cr_assert_eq(json_num(json, "\"accepted\":"), 3, "%s", json);
	cr_assert_eq(json_num(json, "\"held\":"), 8, "%s", json);
	cr_assert_eq(json_num(json, "\"held_now\":"), 8, "%s", json);
	cr_assert_eq(json_num(json, "\"held_bytes_now\":"), 8 * WIRE, "%s", json);
	cr_assert_eq(json_num(json, "\"flows\":"), 2, "%s", json);
	/* The one rule's counters, summed rule by rule. */
	cr_assert_eq(json_num(json, "\"matched\":"), 8, "%s", json);
	cr_assert_eq(json_num(json, "\"delayed\":"), 8, "%s", json);
	cr_assert_eq(json_num(json, "\"tcp\":{\"connections\":"), 3, "%s", json);
	cr_assert_eq(json_num(json, "\"segments\":"), 3, "%s", json);
	/* Every queue's connections listed, each once, by its run-wide number. */
	conns = strstr(json, "\"connections\":[");
	cr_assert(conns, "%s", json);
	cr_assert(strstr(conns, "\"flow\":1,"), "%s", conns);
	cr_assert(strstr(conns, "\"flow\":2,"), "%s", conns);
	cr_assert(strstr(conns, "\"flow\":4,"), "%s", conns);
	cr_assert_null(strstr(conns, "\"flow\":3,"), "%s", conns);
	free(json);
	/* One pipeline alone says only its own. */
	json = pipeline_stats_json(pl0);
	cr_assert_eq(json_num(json, "\"packets\":"), 4, "%s", json);
	cr_assert_eq(json_num(json, "\"tcp\":{\"connections\":"), 1, "%s", json);
	free(json);
	pipeline_free(pl0);
	pipeline_free(pl1);
	rule_set_free(rs);
}

/* The numbers a pipeline gave its packets and its new connections. */
struct numbers {
	uint64_t pkt[8], conn[8];
	unsigned n_pkt, n_conn;
};

static void number_packet(void *data, const struct pipeline_decided *e)
{
	struct numbers *n = data;

	if (n->n_pkt < 8)
		n->pkt[n->n_pkt++] = e->pkt;
}

static void number_conn(void *data, const struct track_event *ev, uint64_t now)
{
	struct numbers *n = data;

	if (ev->type == TRACK_EV_CONN_NEW && n->n_conn < 8)
		n->conn[n->n_conn++] = ev->conn;
}

static const struct pipeline_observer_ops numberer = {
	.packet = number_packet,
	.track_event = number_conn,
};

/* Three SYNs of new connections through pipeline 'index' of 'count'. */
static void numbered(uint32_t index, uint32_t count, struct numbers *n)
{
	struct pipeline_config pc = { .seed = 1, .index = index, .count = count };
	struct seen s = { 0 };
	struct rule_set *rs = rule_set_new();
	struct pipeline *pl;

	cr_assert(rs);
	pl = pipeline_new(&pc, rs, &ops, &s);
	cr_assert(pl);
	cr_assert_eq(pipeline_add_observer(pl, &numberer, n), 0);
	feed_syns(pl, 3, 4000);
	cr_assert_eq(n->n_pkt, 3);
	cr_assert_eq(n->n_conn, 3);
	pipeline_free(pl);
	rule_set_free(rs);
}

/*
 * The queues of one run number their packets and connections apart
 * (index+1, then every count-th), so that the event log, the pcapng and
 * the counters never show one number twice; alone, 1, 2, 3.
 */
Test(pipeline, queue_pipelines_number_packets_and_connections_apart)
{
	struct numbers a = { 0 }, b = { 0 }, c = { 0 }, one = { 0 };

	numbered(0, 3, &a);
	numbered(1, 3, &b);
	numbered(2, 3, &c);
	numbered(0, 0, &one);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(a.pkt[i], 3 * i + 1, "packet %u of queue 0: %llu", i,
			     (unsigned long long)a.pkt[i]);
		cr_assert_eq(b.pkt[i], 3 * i + 2, "packet %u of queue 1: %llu", i,
			     (unsigned long long)b.pkt[i]);
		cr_assert_eq(c.pkt[i], 3 * i + 3, "packet %u of queue 2: %llu", i,
			     (unsigned long long)c.pkt[i]);
		cr_assert_eq(a.conn[i], 3 * i + 1, "connection %u of queue 0: %llu", i,
			     (unsigned long long)a.conn[i]);
		cr_assert_eq(b.conn[i], 3 * i + 2, "connection %u of queue 1: %llu", i,
			     (unsigned long long)b.conn[i]);
		cr_assert_eq(c.conn[i], 3 * i + 3, "connection %u of queue 2: %llu", i,
			     (unsigned long long)c.conn[i]);
		cr_assert_eq(one.pkt[i], i + 1);
		cr_assert_eq(one.conn[i], i + 1);
	}
}
