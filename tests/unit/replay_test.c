// SPDX-License-Identifier: MIT
/*
 * replay: what leaves is written, held packets of cut captures included,
 * with both lengths; a capture cut mid-record is replayed up to the cut;
 * every output that fails is reported, counted, and cut back to what a
 * reader can take whole. A "full disk" for a regular file is RLIMIT_FSIZE
 * (each Criterion test runs in a process of its own).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wiretap/wtap.h>

#include "msg.h"
#include "replay.h"
#include "rule.h"

#define N_PKTS 40
#define WIRE 1000u	/* every packet's length on the wire */

struct tmp {
	char dir[64];
	char in[96], out[96], pcap[96], events[96];
};

static void tmp_init(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/replay_test.XXXXXX");
	cr_assert(mkdtemp(t->dir), "mkdtemp: %s", strerror(errno));
	snprintf(t->in, sizeof(t->in), "%s/in.pcap", t->dir);
	snprintf(t->out, sizeof(t->out), "%s/out.pcap", t->dir);
	snprintf(t->pcap, sizeof(t->pcap), "%s/ann.pcapng", t->dir);
	snprintf(t->events, sizeof(t->events), "%s/ev.jsonl", t->dir);
}

static void tmp_done(struct tmp *t)
{
	unlink(t->in);
	unlink(t->out);
	unlink(t->pcap);
	unlink(t->events);
	rmdir(t->dir);
}

static void put32(FILE *f, uint32_t v)
{
	cr_assert_eq(fwrite(&v, 4, 1, f), 1);
}

/*
 * A raw-IP pcap of n UDP datagrams 10.0.0.1:1000 -> 10.0.0.2:5000, each
 * WIRE bytes on the wire, captured with the given snapshot length, 1 ms
 * apart. Returns the byte offset of each record in off[] (n + 1 entries).
 */
static void write_capture(const char *path, unsigned n, uint32_t snaplen, long *off)
{
	uint8_t p[WIRE] = { 0 };
	FILE *f = fopen(path, "wb");
	uint32_t cap = snaplen < WIRE ? snaplen : WIRE;

	cr_assert(f);
	put32(f, 0xa1b2c3d4);
	put32(f, 2 | 4u << 16);	/* version 2.4, little-endian halves */
	put32(f, 0);
	put32(f, 0);
	put32(f, snaplen);
	put32(f, 101);		/* LINKTYPE_RAW */
	p[0] = 0x45;
	p[2] = WIRE >> 8, p[3] = WIRE & 0xff;
	p[8] = 64, p[9] = 17;
	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = 5000 >> 8, p[23] = 5000 & 0xff;
	p[24] = (WIRE - 20) >> 8, p[25] = (WIRE - 20) & 0xff;
	for (unsigned i = 0; i < n; i++) {
		off[i] = ftell(f);
		p[28] = (uint8_t)i;
		put32(f, 1700000000);
		put32(f, i * 1000);
		put32(f, cap);
		put32(f, WIRE);
		cr_assert_eq(fwrite(p, cap, 1, f), 1);
	}
	off[n] = ftell(f);
	cr_assert_eq(fclose(f), 0);
}

static struct rule_set *rules(const char *line)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert(rs);
	cr_assert_eq(rule_set_add_line(rs, line, "test", 1, &e), 0, "%s", e.msg);
	return rs;
}

/* Packets in a capture file, each checked to keep caplen and the wire length. */
static unsigned count_written(const char *path, uint32_t caplen)
{
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, perr);
	struct pcap_pkthdr *h;
	const u_char *d;
	unsigned n = 0;
	int rc;

	cr_assert(p, "%s: %s", path, perr);
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		cr_assert_eq(h->caplen, caplen);
		cr_assert_eq(h->len, WIRE);
		n++;
	}
	cr_assert_eq(rc, PCAP_ERROR_BREAK, "%s: %s", path, pcap_geterr(p));
	pcap_close(p);
	return n;
}

static int run(const char *rule, struct replay_config *c, struct replay_stats *st, char **json,
	       char *err, size_t errlen)
{
	struct rule_set *rs = rules(rule);
	struct replay_error e;
	int ret;

	c->seed = 7;
	ret = replay_run(c, rs, st, json, &e);
	/* The message as the CLI words it, from what replay reported. */
	if (ret)
		msg_replay(&e, c, st, err, errlen);
	rule_set_free(rs);
	return ret;
}

static void held_cut_packets_written(const char *rule)
{
	struct tmp t;
	long off[N_PKTS + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512], *json = NULL;

	tmp_init(&t);
	write_capture(t.in, N_PKTS, 96, off);
	c.in_path = t.in;
	c.out_path = t.out;
	cr_assert_eq(run(rule, &c, &st, &json, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.read, N_PKTS);
	cr_assert_eq(st.written, N_PKTS, "written %llu", (unsigned long long)st.written);
	cr_assert_eq(st.unwritten, 0);
	cr_assert(strstr(json, "\"held\":40,"), "%s", json);
	cr_assert_eq(count_written(t.out, 96), N_PKTS);
	free(json);
	tmp_done(&t);
}

Test(replay, held_cut_packets_are_written_with_both_lengths_delay)
{
	held_cut_packets_written("udp => delay 5ms");
}

Test(replay, held_cut_packets_are_written_with_both_lengths_reorder)
{
	held_cut_packets_written("ip => reorder 3");
}

Test(replay, passed_cut_packets_keep_the_wire_length)
{
	struct tmp t;
	long off[N_PKTS + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512];

	tmp_init(&t);
	write_capture(t.in, N_PKTS, 200, off);
	c.in_path = t.in;
	c.out_path = t.out;
	cr_assert_eq(run("tcp => drop", &c, &st, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(count_written(t.out, 200), N_PKTS);
	tmp_done(&t);
}

Test(replay, capture_cut_mid_record_is_replayed_up_to_the_cut)
{
	struct tmp t;
	long off[N_PKTS + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512], want[128], *json = NULL;

	tmp_init(&t);
	write_capture(t.in, N_PKTS, 96, off);
	/* Cut in the middle of record 31's bytes: 30 whole packets before it. */
	cr_assert_eq(truncate(t.in, off[30] + 16 + 40), 0);
	c.in_path = t.in;
	c.out_path = t.out;
	c.pcap_path = t.pcap;
	cr_assert_eq(run("udp => delay 50ms", &c, &st, &json, err, sizeof(err)), -EIO);
	cr_assert_eq(st.in_err, -EIO);
	cr_assert_eq(st.read, 30);
	cr_assert_eq(st.cut_at, off[30]);
	/* Every held packet before the cut left and was written. */
	cr_assert_eq(st.written, 30);
	cr_assert_eq(count_written(t.out, 96), 30);
	cr_assert(json && strstr(json, "\"released\":30,"), "%s", json ? json : "(none)");
	snprintf(want, sizeof(want), "packet 31 (at byte %ld)", off[30]);
	cr_assert(strstr(err, want), "%s", err);
	cr_assert(strstr(err, t.in), "%s", err);
	free(json);
	tmp_done(&t);
}

Test(replay, out_to_a_full_device_is_reported_and_counted)
{
	struct tmp t;
	long off[N_PKTS + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512];

	tmp_init(&t);
	write_capture(t.in, N_PKTS, 96, off);
	c.in_path = t.in;
	c.out_path = "/dev/full";
	cr_assert_eq(run("udp => delay 5ms", &c, &st, NULL, err, sizeof(err)), -ENOSPC);
	cr_assert_eq(st.out_err, -ENOSPC);
	cr_assert_eq(st.written, 0);
	cr_assert_eq(st.unwritten, N_PKTS);
	cr_assert(strstr(err, "/dev/full: cannot write the replayed packets"), "%s", err);
	tmp_done(&t);
}

Test(replay, events_and_pcap_to_a_full_device_are_reported)
{
	struct tmp t;
	long off[N_PKTS + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512], *json = NULL;
	FILE *ev = fopen("/dev/full", "w");

	cr_assert(ev);
	tmp_init(&t);
	write_capture(t.in, N_PKTS, 96, off);
	c.in_path = t.in;
	c.out_path = t.out;
	c.events = ev;
	c.events_path = "ev-name";
	c.pcap_path = "/dev/full";
	cr_assert_neq(run("udp => delay 5ms", &c, &st, &json, err, sizeof(err)), 0);
	cr_assert_eq(st.events_err, -ENOSPC);
	cr_assert_eq(st.pcap_err, -ENOSPC);
	/* The packets themselves still went out whole. */
	cr_assert_eq(st.written, N_PKTS);
	cr_assert(strstr(err, "ev-name: cannot write the event log"), "%s", err);
	cr_assert(strstr(err, "/dev/full: cannot write the annotated capture"), "%s", err);
	cr_assert(json && !strstr(json, "\"write_errors\":0,"), "%s", json ? json : "(none)");
	free(json);
	fclose(ev);
	tmp_done(&t);
}

/* A regular file that fills up after 'limit' bytes: writes past it fail (EFBIG). */
static void file_size_limit(rlim_t limit)
{
	struct rlimit rl = { limit, limit };

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static size_t file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

Test(replay, a_full_file_keeps_whole_records_only)
{
	struct tmp t;
	long off[6000 + 1];
	struct replay_config c = { 0 };
	struct replay_stats st;
	char err[512], line[8192];
	FILE *ev;
	unsigned lines = 0;

	tmp_init(&t);
	/* 6000 cut records, 1.3 MB: --out flushes once (0.5 MiB) before the limit, not twice. */
	write_capture(t.in, 6000, 200, off);
	file_size_limit(700000);
	ev = fopen(t.events, "w");
	cr_assert(ev);
	c.in_path = t.in;
	c.out_path = t.out;
	c.pcap_path = t.pcap;
	c.events = ev;
	cr_assert_neq(run("udp => delay 5ms", &c, &st, NULL, err, sizeof(err)), 0);
	cr_assert_eq(st.out_err, -EFBIG);
	cr_assert_eq(st.pcap_err, -EFBIG);
	cr_assert_eq(st.events_err, -EFBIG);
	cr_assert_eq(fclose(ev), 0);
	/* --out: a capture libpcap reads to its end, holding exactly what was counted written. */
	cr_assert_eq(count_written(t.out, 200), st.written);
	cr_assert_gt(st.written, 2000);
	cr_assert_eq(st.written + st.unwritten, 6000);
	/* The event log: whole lines only. */
	ev = fopen(t.events, "r");
	cr_assert(ev);
	while (fgets(line, sizeof(line), ev)) {
		cr_assert(line[strlen(line) - 1] == '\n', "a cut line: %s", line);
		lines++;
	}
	fclose(ev);
	cr_assert_gt(lines, 10);
	cr_assert_leq(file_size(t.events), 700000);
	/* The pcapng: wiretap (which wrote it, so is set up) reads it to its end without an error. */
	{
		gchar *info = NULL;
		int werr = 0;
		gint64 where;
		wtap_rec rec;
		Buffer buf;
		unsigned n = 0;
		wtap *w = wtap_open_offline(t.pcap, WTAP_TYPE_AUTO, &werr, &info, FALSE);

		cr_assert_not_null(w, "%s", wtap_strerror(werr));
		wtap_rec_init(&rec);
		ws_buffer_init(&buf, 1514);
		while (wtap_read(w, &rec, &buf, &werr, &info, &where)) {
			n++;
			wtap_rec_reset(&rec);
		}
		cr_assert_eq(werr, 0, "%s", wtap_strerror(werr));
		cr_assert_gt(n, 10);
		ws_buffer_free(&buf);
		wtap_rec_cleanup(&rec);
		wtap_close(w);
	}
	tmp_done(&t);
}
