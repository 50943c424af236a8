// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evq.h"

/* Read everything left in fd (non-blocking) into buf; returns the length. */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (n < size && (r = read(fd, buf + n, size - n)) > 0)
		n += (size_t)r;
	return n;
}

static size_t count(const char *s, size_t n, char c)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == c;
	return k;
}

Test(evq, every_line_reaches_a_reader_that_keeps_up)
{
	int p[2];
	char buf[65536];
	struct evq_stats st;
	struct evq *q;

	cr_assert_eq(pipe(p), 0);
	q = evq_new(p[1], 4096);
	cr_assert_not_null(q);
	cr_assert_eq(evq_start(q), 0);
	for (int i = 0; i < 100; i++)
		fprintf(evq_stream(q), "{\"line\":%d}\n", i);
	evq_close(q, 1000);
	evq_get_stats(q, &st);
	cr_assert_eq(st.written, 100);
	cr_assert_eq(st.dropped, 0);
	cr_assert_eq(st.err, 0);
	size_t n = drain(p[0], buf, sizeof(buf));
	cr_assert_eq(count(buf, n, '\n'), 100);
	cr_assert(!strncmp(buf, "{\"line\":0}\n{\"line\":1}\n", 22));
	evq_free(q);
	close(p[0]);
	close(p[1]);
}

/*
 * A reader that takes nothing: the ring fills, later lines are dropped
 * whole and counted, nothing blocks; at close the stalled rest is dropped
 * too, and written + dropped is every line.
 */
Test(evq, a_stalled_reader_costs_lines_not_time)
{
	int p[2];
	char buf[1 << 20];
	char line[200];
	struct evq_stats st;
	struct evq *q;
	size_t n;

	cr_assert_eq(pipe(p), 0);
	/* A small pipe, so the ring is what fills. */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	q = evq_new(p[1], 8192);
	cr_assert_not_null(q);
	cr_assert_eq(evq_start(q), 0);
	memset(line, 'x', sizeof(line));
	/* Partial lines too: the stream may hand a line over in pieces. */
	for (int i = 0; i < 2000; i++) {
		fwrite(line, 1, 50, evq_stream(q));
		fprintf(evq_stream(q), "%.*s %d\n", 90, line, i);
	}
	evq_get_stats(q, &st);
	cr_assert_gt(st.full, 1000, "full %llu", (unsigned long long)st.full);
	evq_close(q, 0);
	evq_get_stats(q, &st);
	cr_assert_eq(st.written + st.dropped, 2000, "written %llu dropped %llu",
		     (unsigned long long)st.written, (unsigned long long)st.dropped);
	n = drain(p[0], buf, sizeof(buf));
	cr_assert_eq(count(buf, n, '\n'), st.written);
	/* Whole lines only: each is 50 + 90 x's, a space and its number. */
	for (char *s = buf, *e; s < buf + n; s = e + 1) {
		e = memchr(s, '\n', (size_t)(buf + n - s));
		cr_assert_not_null(e);
		cr_assert_eq(strspn(s, "x"), 140);
	}
	/* After the close lines are only counted. */
	fprintf(evq_stream(q), "late\n");
	fflush(evq_stream(q));
	evq_get_stats(q, &st);
	cr_assert_eq(st.written + st.dropped, 2001);
	evq_free(q);
	close(p[0]);
	close(p[1]);
}

Test(evq, a_failed_write_is_counted_and_fails_the_stream)
{
	int p[2];
	struct evq_stats st;
	struct evq *q;

	cr_assert_eq(pipe(p), 0);
	close(p[0]);	/* no reader: EPIPE (SIGPIPE is blocked in the writer thread) */
	q = evq_new(p[1], 4096);
	cr_assert_not_null(q);
	cr_assert_eq(evq_start(q), 0);
	fprintf(evq_stream(q), "one\n");
	evq_close(q, 1000);
	evq_get_stats(q, &st);
	cr_assert_eq(st.err, -EPIPE);
	cr_assert_eq(st.dropped, 1);
	cr_assert_eq(st.written, 0);
	evq_free(q);
	close(p[1]);
}

Test(evq, after_a_failed_write_the_stream_fails_with_its_error)
{
	int p[2];
	struct evq_stats st;
	struct evq *q;

	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	q = evq_new(p[1], 4096);
	cr_assert_not_null(q);
	cr_assert_eq(evq_start(q), 0);
	fprintf(evq_stream(q), "one\n");
	/* Until the writer thread has met the error (bounded, not timed). */
	for (int i = 0; i < 10000; i++) {
		evq_get_stats(q, &st);
		if (st.err)
			break;
		usleep(1000);
	}
	cr_assert_eq(st.err, -EPIPE);
	errno = 0;
	fprintf(evq_stream(q), "two\n");
	cr_assert(ferror(evq_stream(q)));
	evq_free(q);
	close(p[1]);
}

Test(evq, lines_wait_for_the_start_and_count_as_dropped_without_it)
{
	int p[2];
	char buf[4096];
	struct evq_stats st;
	struct evq *q;

	cr_assert_eq(pipe(p), 0);
	q = evq_new(p[1], 4096);
	cr_assert_not_null(q);
	fprintf(evq_stream(q), "one\n");
	cr_assert_eq(drain(p[0], buf, sizeof(buf)), 0);
	evq_close(q, 1000);
	evq_get_stats(q, &st);
	cr_assert_eq(st.written, 0);
	cr_assert_eq(st.dropped, 1);
	evq_free(q);
	close(p[0]);
	close(p[1]);
}
