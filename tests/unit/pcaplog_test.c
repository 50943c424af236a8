// SPDX-License-Identifier: MIT
/*
 * pcaplog: the capture file's observer: which records a run gives its
 * sink, with which comments and times, and how a failed sink is told once
 * and its lost records counted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcaplog.h"
#include "pipeline.h"
#include "rule.h"

#define LEN 64u
#define MAX_RECS 64

struct sink {
	unsigned n, fail_from;	/* records taken; fail every one from this (0: never) */
	int fail_err;
	struct {
		enum pcapout_iface iface;
		uint64_t ts;
		uint32_t caplen, len;
		bool bytes;
		char comment[256];
	} rec[MAX_RECS];
};

static int sink_write(void *data, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *bytes,
		      uint32_t caplen, uint32_t len, const char *comment)
{
	struct sink *s = data;
	unsigned i = s->n++;

	if (s->fail_from && s->n >= s->fail_from)
		return s->fail_err;
	cr_assert_lt(i, MAX_RECS);
	s->rec[i].iface = iface;
	s->rec[i].ts = ts_ns;
	s->rec[i].caplen = caplen;
	s->rec[i].len = len;
	s->rec[i].bytes = bytes != NULL;
	snprintf(s->rec[i].comment, sizeof(s->rec[i].comment), "%s", comment ? comment : "");
	return 0;
}

struct told {
	unsigned n;
	int err;
};

static void on_error(void *data, int err)
{
	struct told *t = data;

	t->n++;
	t->err = err;
}

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
		       uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
}

static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };

static void udp_packet(uint8_t *p)
{
	memset(p, 0, LEN);
	p[0] = 0x45;
	p[3] = LEN;
	p[8] = 64, p[9] = 17;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = 5000 >> 8, p[23] = 5000 & 0xff;
	p[25] = LEN - 20;
}

/* One packet (malformed: 8 bytes of junk) at 1 ms under rule; everything released. */
static void run(const char *rule, bool junk, struct pcaplog *l)
{
	struct pipeline_config pc = { .seed = 1 };
	struct rule_error e;
	struct rule_set *rs = rule_set_new();
	struct pipeline *pl;
	uint8_t p[LEN];
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = p, .len = junk ? 8 : LEN,
				   .orig_len = junk ? 8 : LEN };

	cr_assert(rs);
	cr_assert_eq(rule_set_add_line(rs, rule, "test", 1, &e), 0, "%s", e.msg);
	pl = pipeline_new(&pc, rs, &ops, NULL);
	cr_assert(pl);
	cr_assert_eq(pipeline_add_observer(pl, &pcaplog_observer, l), 0);
	udp_packet(p);
	pipeline_packet(pl, &pk, 1000000);
	/* A packet held 5 ms leaves when due (release_all would let it go at 100 ms). */
	pipeline_release_due(pl, 6000000ull);
	pipeline_release_all(pl, 100000000ull, true);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(pcaplog, a_held_packet_is_recorded_in_and_out_with_comments)
{
	struct sink s = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, &s, false, 5000000000ull, NULL, NULL);
	run("udp => delay 5ms", false, &l);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.rec[0].iface, PCAPOUT_IN);
	cr_assert_eq(s.rec[0].ts, 5001000000ull);
	cr_assert_str_eq(s.rec[0].comment, "faultline pkt 1: held 5.000 ms; rule 1 delay");
	cr_assert_eq(s.rec[1].iface, PCAPOUT_OUT);
	cr_assert_eq(s.rec[1].ts, 5006000000ull, "%llu %s", (unsigned long long)s.rec[1].ts, s.rec[1].comment);
	cr_assert(s.rec[1].bytes, "the observer keeps held packets' bytes");
	cr_assert_str_eq(s.rec[1].comment, "faultline pkt 1: released after 5.000 ms");
	cr_assert_eq(l.err, 0);
	cr_assert_eq(l.lost, 0);
}

Test(pcaplog, an_unheld_packet_and_its_copies)
{
	struct sink s = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, &s, false, 0, NULL, NULL);
	run("dup: udp => duplicate 2", false, &l);
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.rec[0].comment, "faultline pkt 1: accepted, 2 copies; rule 1 (dup) duplicate");
	cr_assert_str_eq(s.rec[1].comment, "faultline pkt 1: released");
	cr_assert_str_eq(s.rec[2].comment, "faultline pkt 1: copy 1 of 2");
	cr_assert_str_eq(s.rec[3].comment, "faultline pkt 1: copy 2 of 2");
	cr_assert_eq(s.rec[3].len, LEN);
}

Test(pcaplog, a_malformed_packet_in_and_out_unchanged)
{
	struct sink s = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, &s, false, 0, NULL, NULL);
	run("udp => drop", true, &l);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.rec[0].iface, PCAPOUT_IN);
	cr_assert_eq(s.rec[1].iface, PCAPOUT_OUT);
	cr_assert_str_eq(s.rec[1].comment, "faultline: malformed, passed unchanged");
}

Test(pcaplog, a_failed_file_is_told_once_and_each_lost_record_counted)
{
	struct sink s = { .fail_from = 1, .fail_err = -ENOSPC };
	struct told t = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, &s, false, 0, on_error, &t);
	run("dup: udp => duplicate 2", false, &l);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.err, -ENOSPC);
	cr_assert_eq(l.err, -ENOSPC);
	cr_assert_eq(l.lost, 4);
	/* A close that fails after is no news. */
	pcaplog_closed(&l, -EIO);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(l.lost, 4);
}

Test(pcaplog, a_sink_that_counts_its_own_losses_is_not_counted_twice)
{
	struct sink s = { .fail_from = 2, .fail_err = -EPIPE };
	struct told t = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, &s, true, 0, on_error, &t);
	run("dup: udp => duplicate 2", false, &l);
	cr_assert_eq(s.n, 4, "written on after the failure");
	cr_assert_eq(t.n, 1);
	cr_assert_eq(l.err, -EPIPE);
	cr_assert_eq(l.lost, 0);
}

Test(pcaplog, a_failed_close_is_a_lost_record)
{
	struct told t = { 0 };
	struct pcaplog l;

	pcaplog_init(&l, sink_write, NULL, false, 0, on_error, &t);
	pcaplog_closed(&l, 0);
	cr_assert_eq(t.n, 0);
	pcaplog_closed(&l, -EIO);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(l.err, -EIO);
	cr_assert_eq(l.lost, 1);
}
