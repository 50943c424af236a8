// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcapq.h"

#define EPB 6u

struct blocks {
	size_t epbs;
	bool whole;		/* the bytes end with the end of a block */
	bool ordered;		/* packet times rise */
	bool intact;		/* every packet's bytes are as given */
	uint8_t first[4096];	/* each packet's tag, in order */
};

static void packet(uint8_t *b, uint32_t len, uint8_t tag);

/* Walk the pcapng blocks in buf (written in host byte order). */
static void walk(const uint8_t *buf, size_t n, struct blocks *b)
{
	size_t pos = 0;

	uint64_t last_ts = 0;
	uint8_t ref[65536];

	memset(b, 0, sizeof(*b));
	b->ordered = b->intact = true;
	while (pos + 12 <= n) {
		uint32_t type, len;

		memcpy(&type, buf + pos, 4);
		memcpy(&len, buf + pos + 4, 4);
		if (len < 12 || len % 4 || pos + len > n)
			break;
		if (type == EPB) {
			uint32_t hi, lo, caplen;
			uint64_t ts;

			memcpy(&hi, buf + pos + 12, 4);
			memcpy(&lo, buf + pos + 16, 4);
			memcpy(&caplen, buf + pos + 20, 4);
			ts = (uint64_t)hi << 32 | lo;
			b->ordered &= b->epbs == 0 || ts > last_ts;
			last_ts = ts;
			if (caplen > sizeof(ref) || caplen < 21)
				b->intact = false;
			else {
				packet(ref, caplen, buf[pos + 28 + 20]);
				b->intact &= !memcmp(ref, buf + pos + 28, caplen);
			}
			if (b->epbs < sizeof(b->first))
				b->first[b->epbs] = buf[pos + 28 + 20];
			b->epbs++;
		}
		pos += len;
	}
	b->whole = pos == n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(64u << 20);
	size_t k;

	cr_assert(f && buf);
	k = fread(buf, 1, 64u << 20, f);
	fclose(f);
	*n = k;
	return buf;
}

static void tmp_path(char *buf, size_t size)
{
	int fd;

	snprintf(buf, size, "/tmp/pcapq_test.XXXXXX");
	fd = mkstemp(buf);
	cr_assert(fd >= 0);
	close(fd);
}

/* An IPv4 header and payload of len bytes, the first byte of the payload tag. */
static void packet(uint8_t *b, uint32_t len, uint8_t tag)
{
	memset(b, 0, len);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[9] = 17;
	b[20] = tag;
}

static void give(struct pcapq *q, unsigned n, uint32_t len)
{
	uint8_t *b = malloc(len);
	char c[64];

	cr_assert(b);
	for (unsigned i = 0; i < n; i++) {
		packet(b, len, (uint8_t)i);
		snprintf(c, sizeof(c), "faultline pkt %u: accept", i);
		cr_assert_eq(pcapq_write(q, i % 2 ? PCAPOUT_OUT : PCAPOUT_IN, 1000000000ull * i, b, len,
					 len, c), 0);
	}
	free(b);
}

Test(pcapq, full_ring_drops_whole_records_and_counts_them)
{
	char path[64];
	struct pcapq_stats st;
	struct blocks b;
	struct pcapq *q;
	uint8_t *buf;
	size_t n;

	tmp_path(path, sizeof(path));
	q = pcapq_new(pcapout_open(path, NULL), 4096);
	cr_assert(q);
	/* Not started yet: the ring fills, the rest is dropped. */
	give(q, 100, 200);
	pcapq_get_stats(q, &st);
	cr_assert_gt(st.full, 0);
	cr_assert_lt(st.full, 100);
	cr_assert_eq(st.dropped, st.full);
	cr_assert_eq(st.written, 0);
	cr_assert_eq(pcapq_start(q), 0);
	pcapq_close(q, 1000);
	pcapq_get_stats(q, &st);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(st.written + st.dropped, 100);
	cr_assert_eq(st.dropped, st.full);
	buf = slurp(path, &n);
	walk(buf, n, &b);
	cr_assert(b.whole, "the file ends inside a block");
	cr_assert_eq(b.epbs, st.written);
	cr_assert(b.ordered && b.intact);
	/* The first records were kept, in order, each whole. */
	for (size_t i = 0; i < b.epbs; i++)
		cr_assert_eq(b.first[i], i);
	/* Closed: more records are dropped, counted. */
	give(q, 1, 200);
	pcapq_get_stats(q, &st);
	cr_assert_eq(st.written + st.dropped, 101);
	pcapq_free(q);
	free(buf);
	unlink(path);
}

Test(pcapq, records_wrap_around_the_ring_intact)
{
	char path[64];
	struct pcapq_stats st;
	struct blocks b;
	struct pcapq *q;
	uint8_t *buf;
	size_t n;

	tmp_path(path, sizeof(path));
	/* Room for a few records only: they wrap many times, at odd offsets. */
	q = pcapq_new(pcapout_open(path, NULL), 5000);
	cr_assert(q);
	cr_assert_eq(pcapq_start(q), 0);
	give(q, 2000, 333);
	pcapq_close(q, 1000);
	pcapq_get_stats(q, &st);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(st.written + st.dropped, 2000);
	buf = slurp(path, &n);
	walk(buf, n, &b);
	cr_assert(b.whole);
	cr_assert_eq(b.epbs, st.written);
	cr_assert(b.ordered, "records out of order");
	cr_assert(b.intact, "a record's bytes changed on the way");
	pcapq_free(q);
	free(buf);
	unlink(path);
}

/* A FIFO whose reader never reads: close gives up, the FIFO holds whole blocks. */
static void stalled_fifo(uint32_t len)
{
	char dir[] = "/tmp/pcapq_test.XXXXXX", path[96];
	struct pcapq_stats st;
	struct blocks b;
	struct pcapq *q;
	uint8_t *buf = malloc(4u << 20);
	size_t n = 0;
	ssize_t r;
	int rd;

	cr_assert(buf && mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK);
	cr_assert(rd >= 0);
	q = pcapq_new(pcapout_open(path, NULL), 1u << 20);
	cr_assert(q, "%s", strerror(errno));
	cr_assert_eq(pcapq_start(q), 0);
	give(q, 400, len);
	/* Returns although the reader takes nothing. */
	pcapq_close(q, 200);
	pcapq_get_stats(q, &st);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(st.written + st.dropped, 400);
	cr_assert_gt(st.dropped, 0);
	cr_assert_gt(st.written, 0);
	while ((r = read(rd, buf + n, (4u << 20) - n)) > 0)
		n += (size_t)r;
	walk(buf, n, &b);
	cr_assert(b.whole, "the reader got part of a block (%zu bytes)", n);
	cr_assert_eq(b.epbs, st.written);
	cr_assert(b.ordered && b.intact);
	pcapq_free(q);
	close(rd);
	unlink(path);
	rmdir(dir);
	free(buf);
}

Test(pcapq, stalled_fifo_reader_small_blocks, .timeout = 30)
{
	stalled_fifo(1000);
}

Test(pcapq, stalled_fifo_reader_blocks_over_pipe_buf, .timeout = 30)
{
	stalled_fifo(9000);
}

Test(pcapq, bad_record_is_dropped_not_fatal)
{
	char path[64];
	struct pcapq_stats st;
	struct pcapq *q;
	uint8_t b[100];

	tmp_path(path, sizeof(path));
	q = pcapq_new(pcapout_open(path, NULL), 1u << 16);
	cr_assert(q);
	cr_assert_eq(pcapq_start(q), 0);
	packet(b, sizeof(b), 1);
	cr_assert_eq(pcapq_write(q, PCAPOUT_IN, 0, b, 100, 50, NULL), 0);	/* caplen > len */
	cr_assert_eq(pcapq_write(q, PCAPOUT_IN, 0, NULL, 100, 100, NULL), 0);	/* no bytes */
	cr_assert_eq(pcapq_write(q, PCAPOUT_IN, 0, b, 100, 100, NULL), 0);
	pcapq_close(q, 1000);
	pcapq_get_stats(q, &st);
	cr_assert_eq(st.err, 0);
	cr_assert_eq(st.written, 1);
	cr_assert_eq(st.dropped, 2);
	pcapq_free(q);
	unlink(path);
}
