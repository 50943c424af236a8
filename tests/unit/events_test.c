// SPDX-License-Identifier: MIT
/*
 * events: the event log as a pipeline observer: the lines it writes about
 * a decision, as docs/events.schema.json defines them, what it writes for
 * a run, and how a failed write is told once and every lost line counted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "pipeline.h"
#include "rule.h"

/*
 * The verdict line the observer writes for decision d about a UDP
 * datagram (the first of its lines: the packet line follows).
 */
static char *verdict_line(const struct act_decision *d, const struct rule_set *rules)
{
	uint8_t p[36] = { 0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17 };
	struct flow_id id = { .hash = 0xab, .way = 1, .ordinal = 7 };
	struct pipeline_pkt pk = { .id = 1, .dir = PKT_DIR_IN, .data = p, .len = 36, .orig_len = 36 };
	struct pipeline_decided dec = { .pkt = 1, .in = &pk, .id = &id, .d = d, .rules = rules,
					.now_ns = 1500000 };
	struct pkt_view v;
	struct events e;
	char *text = NULL, *nl;
	size_t size = 0;
	FILE *f;

	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 0x30, p[21] = 0x39, p[22] = 0x13, p[23] = 0x88, p[25] = 16;
	cr_assert_eq(pkt_parse(&v, p, sizeof(p)), 0);
	dec.v = &v;
	f = open_memstream(&text, &size);
	cr_assert_not_null(f);
	events_init(&e, f, 0, false, NULL, NULL);
	events_observer.packet(&e, &dec);
	cr_assert_eq(events_flush(&e), 0);
	fclose(f);
	nl = strchr(text, '\n');
	cr_assert_not_null(nl);
	nl[1] = 0;
	return text;
}

/* The rules the decisions below name by index: rule-1, b, rule-3, cut. */
static struct rule_set *four_rules(void)
{
	static const char *const lines[] = { "udp => rate 1mbit", "b: udp => rate 1mbit",
					     "udp => drop", "cut: udp => drop" };
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	for (int i = 0; i < 4; i++)
		cr_assert_eq(rule_set_add_line(rs, lines[i], "t", i + 1, &e), 0, "%s", e.msg);
	return rs;
}

Test(events, verdict_line_names_each_action_and_a_rate_drop_reason)
{
	struct act_decision d = { .drop = true, .n_fired = 2 };
	struct rule_set *rs = four_rules();
	char *s;

	d.fired[0] = (struct act_fired){ .rule = 0, .action = RULE_ACT_RATE };
	d.fired[1] = (struct act_fired){ .rule = 1, .action = RULE_ACT_RATE,
					 .reason = ACT_REASON_QUEUE_FULL };
	s = verdict_line(&d, rs);
	cr_assert_str_eq(s, "{\"t\":0.001500,\"ev\":\"verdict\",\"flow\":\"udp 10.0.0.1:12345 > "
			    "10.0.0.2:5000\",\"flow_hash\":\"00000000000000ab\",\"way\":1,\"dir\":\"in\","
			    "\"ord\":7,\"len\":36,\"verdict\":\"drop\",\"actions\":[{\"rule\":1,"
			    "\"name\":\"rule-1\",\"action\":\"rate\"},{\"rule\":2,\"name\":\"b\","
			    "\"action\":\"rate\",\"reason\":\"queue-full\"}]}\n");
	free(s);
	rule_set_free(rs);
}

Test(events, verdict_line_of_a_plain_drop_has_no_reason)
{
	struct act_decision d = { .drop = true, .n_fired = 1 };
	struct rule_set *rs = four_rules();
	char *s;

	d.fired[0] = (struct act_fired){ .rule = 3, .action = RULE_ACT_DROP };
	s = verdict_line(&d, rs);
	cr_assert(strstr(s, ",\"actions\":[{\"rule\":4,\"name\":\"cut\",\"action\":\"drop\"}]}\n"),
		  "%s", s);
	cr_assert_null(strstr(s, "reason"), "%s", s);
	free(s);
	rule_set_free(rs);
}

#define LEN 64u

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
	unsigned *verdicts = data;

	(*verdicts)++;
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
}

static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };

/* A UDP datagram 10.0.0.1:1000 -> 10.0.0.2:5000 of LEN bytes. */
static void udp_packet(uint8_t *p, uint8_t n)
{
	memset(p, 0, LEN);
	p[0] = 0x45;
	p[3] = LEN;
	p[8] = 64, p[9] = 17;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = 5000 >> 8, p[23] = 5000 & 0xff;
	p[25] = LEN - 20;
	p[28] = n;
}

/* n packets through a pipeline with rule, the log writing to f, everything released. */
static void run(const char *rule, FILE *f, unsigned n, struct events *ev, struct told *t,
		unsigned *verdicts)
{
	struct pipeline_config pc = { .seed = 1 };
	struct rule_error e;
	struct rule_set *rs = rule_set_new();
	struct pipeline *pl;
	uint8_t p[LEN];

	cr_assert(rs);
	cr_assert_eq(rule_set_add_line(rs, rule, "test", 1, &e), 0, "%s", e.msg);
	pl = pipeline_new(&pc, rs, &ops, verdicts);
	cr_assert(pl);
	events_init(ev, f, 0, false, on_error, t);
	cr_assert_eq(pipeline_add_observer(pl, &events_observer, ev), 0);
	for (unsigned i = 0; i < n; i++) {
		struct pipeline_pkt pk = { .id = i + 1, .dir = PKT_DIR_IN, .data = p, .len = LEN,
					   .orig_len = LEN };

		udp_packet(p, (uint8_t)i);
		pipeline_packet(pl, &pk, 1000000ull * (i + 1));
	}
	pipeline_release_all(pl, 100000000ull, true);
	events_flush(ev);
	pipeline_free(pl);
	rule_set_free(rs);
}

Test(events, failed_event_log_is_told_once_and_counted)
{
	struct events ev;
	struct told t = { 0 };
	unsigned verdicts = 0;
	FILE *full = fopen("/dev/full", "w");

	cr_assert(full);
	/* Line-buffered as in a live run: the first line fails. */
	setvbuf(full, NULL, _IOLBF, 0);
	run("udp => delay 1ms", full, 50, &ev, &t, &verdicts);
	/* Packets are not affected. */
	cr_assert_eq(verdicts, 50);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.err, -ENOSPC);
	cr_assert_eq(ev.err, -ENOSPC);
	cr_assert_eq(events_flush(&ev), -ENOSPC);
	cr_assert_eq(t.n, 1);
	/* Three lines per packet (verdict, packet, release), at least: every one of them lost. */
	cr_assert_geq(ev.lost, 100);
	fclose(full);
}

Test(events, good_event_log_has_no_write_errors)
{
	struct events ev;
	struct told t = { 0 };
	unsigned verdicts = 0, lines = 0, packets = 0, releases = 0;
	FILE *f = tmpfile();
	char line[4096];

	cr_assert(f);
	run("udp => delay 1ms", f, 50, &ev, &t, &verdicts);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(ev.err, 0);
	cr_assert_eq(ev.lost, 0);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		lines++;
		packets += strstr(line, "\"ev\":\"packet\"") != NULL;
		releases += strstr(line, "\"ev\":\"release\"") != NULL;
	}
	cr_assert_eq(packets, 50);
	cr_assert_eq(releases, 50);
	/* And a verdict line for each: a rule altered them. */
	cr_assert_eq(lines, 150);
	fclose(f);
}

/* The log's own failure found by someone else (the live queue's writer) is told once. */
Test(events, a_failure_noted_from_outside_is_told_once)
{
	struct events ev;
	struct told t = { 0 };

	events_init(&ev, NULL, 0, true, on_error, &t);
	events_note_error(&ev, -EPIPE);
	events_note_error(&ev, -EIO);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.err, -EPIPE);
	cr_assert_eq(ev.err, -EPIPE);
}

/*
 * The control API's stream is a second log behind a gate: shut, it writes
 * nothing; open, it writes the very lines the file gets from then on.
 */
Test(events, a_gated_log_writes_the_same_lines_only_while_open)
{
	struct pipeline_config pc = { .seed = 1 };
	struct rule_error e;
	struct rule_set *rs = rule_set_new();
	struct events file, stream;
	atomic_bool gate = false;
	char *a = NULL, *b = NULL, *from;
	size_t na = 0, nb = 0, mark = 0;
	FILE *fa = open_memstream(&a, &na), *fb = open_memstream(&b, &nb);
	unsigned verdicts = 0;
	struct pipeline *pl;
	uint8_t p[LEN];

	cr_assert(rs && fa && fb);
	cr_assert_eq(rule_set_add_line(rs, "udp => delay 1ms, drop 30%", "test", 1, &e), 0, "%s", e.msg);
	pl = pipeline_new(&pc, rs, &ops, &verdicts);
	cr_assert(pl);
	events_init(&file, fa, 0, false, NULL, NULL);
	events_init(&stream, fb, 0, false, NULL, NULL);
	events_set_gate(&stream, &gate);
	cr_assert_eq(pipeline_add_observer(pl, &events_observer, &file), 0);
	cr_assert_eq(pipeline_add_observer(pl, &events_observer, &stream), 0);
	for (unsigned i = 0; i < 20; i++) {
		struct pipeline_pkt pk = { .id = i + 1, .dir = PKT_DIR_IN, .data = p, .len = LEN,
					   .orig_len = LEN };

		if (i == 10) {
			fflush(fa);
			fflush(fb);
			cr_assert_eq(nb, 0, "nothing while nobody listens");
			mark = na;
			atomic_store(&gate, true);
		}
		udp_packet(p, (uint8_t)i);
		pipeline_packet(pl, &pk, 1000000ull * (i + 1));
	}
	pipeline_release_all(pl, 100000000ull, true);
	events_put(&file, 200000000ull, "scenario", "\"step\":1");
	events_put(&stream, 200000000ull, "scenario", "\"step\":1");
	fflush(fa);
	fflush(fb);
	cr_assert_gt(nb, 0);
	from = a + mark;
	cr_assert_str_eq(b, from, "the stream's lines are the file's since the gate opened");
	cr_assert(strstr(b, "{\"t\":0.200000,\"ev\":\"scenario\",\"step\":1}\n"), "%s", b);
	pipeline_free(pl);
	rule_set_free(rs);
	fclose(fa);
	fclose(fb);
	free(a);
	free(b);
}

/*
 * The "netns" line of a followed restart and of a lost namespace: the
 * container's name escaped, the identities and the new process only
 * where known.
 */
Test(events, netns_line_says_what_became_of_the_namespace)
{
	struct events_netns followed = { .change = "followed", .container = "db\"1", .from = 4026532001ull,
					 .to = 4026532002ull, .pid = 321, .follows = 2 };
	struct events_netns gone = { .change = "gone", .from = 4026532003ull };
	char *m = events_netns_members(&followed), *line = NULL;
	struct events e;
	size_t size = 0;
	FILE *f;

	cr_assert_str_eq(m, "\"change\":\"followed\",\"container\":\"db\\\"1\",\"from\":4026532001,"
			    "\"to\":4026532002,\"pid\":321,\"netns_follows\":2");
	f = open_memstream(&line, &size);
	cr_assert_not_null(f);
	events_init(&e, f, 0, false, NULL, NULL);
	events_put(&e, 2000000, "netns", m);
	fclose(f);
	cr_assert(strstr(line, "\"ev\":\"netns\",\"change\":\"followed\""), "%s", line);
	free(m);
	free(line);
	m = events_netns_members(&gone);
	cr_assert_str_eq(m, "\"change\":\"gone\",\"from\":4026532003,\"netns_follows\":0");
	free(m);
}
