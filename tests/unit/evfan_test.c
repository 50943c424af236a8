// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evfan.h"

/* What one subscriber heard. */
struct heard {
	char buf[8192];
	size_t len;
	uint64_t lost;
	int calls, ends;
	struct evfan *fan;
	int unsub;		/* unsubscribe this id on the first call */
};

static void on_lines(void *data, const char *lines, size_t len, uint64_t lost)
{
	struct heard *h = data;

	if (!lines) {
		h->ends++;
		return;
	}
	h->calls++;
	cr_assert_eq(lines[len - 1], '\n', "only whole lines are handed over");
	cr_assert_lt(h->len + len, sizeof(h->buf));
	memcpy(h->buf + h->len, lines, len);
	h->len += len;
	h->buf[h->len] = 0;
	h->lost += lost;
	if (h->unsub) {
		evfan_unsubscribe(h->fan, h->unsub);
		h->unsub = 0;
	}
}

static int wakes;

static void on_wake(void *data)
{
	(void)data;
	wakes++;
}

Test(evfan, gate_is_open_only_while_someone_listens)
{
	struct evfan *f = evfan_new(4096, NULL, NULL);
	struct heard h = { 0 };
	int id;

	cr_assert_not_null(f);
	cr_assert_not(atomic_load(evfan_gate(f)));
	id = evfan_subscribe(f, on_lines, &h);
	cr_assert_gt(id, 0);
	cr_assert(atomic_load(evfan_gate(f)));
	cr_assert_eq(evfan_subscribers(f), 1);
	evfan_unsubscribe(f, id);
	cr_assert_not(atomic_load(evfan_gate(f)));
	cr_assert_eq(evfan_subscribers(f), 0);
	evfan_free(f);
}

Test(evfan, a_subscriber_hears_the_lines_written_after_it_came)
{
	struct evfan *f = evfan_new(4096, NULL, NULL);
	struct heard a = { 0 }, b = { 0 };

	evfan_subscribe(f, on_lines, &a);
	fprintf(evfan_stream(f), "{\"n\":1}\n");
	evfan_subscribe(f, on_lines, &b);
	fprintf(evfan_stream(f), "{\"n\":2}\n");
	evfan_drain(f);
	cr_assert_str_eq(a.buf, "{\"n\":1}\n{\"n\":2}\n");
	cr_assert_str_eq(b.buf, "{\"n\":2}\n");
	/* Nothing new: nobody is called. */
	evfan_drain(f);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(b.calls, 1);
	evfan_free(f);
}

Test(evfan, a_full_ring_drops_whole_lines_and_says_how_many)
{
	struct evfan *f = evfan_new(64, NULL, NULL);
	struct heard h = { 0 };

	evfan_subscribe(f, on_lines, &h);
	/* 16 bytes a line: four fit, the other six are lost whole. */
	for (int i = 0; i < 10; i++)
		fprintf(evfan_stream(f), "{\"line\":%05d}\n", i);
	cr_assert_eq(evfan_lost(f), 6);
	evfan_drain(f);
	cr_assert_str_eq(h.buf, "{\"line\":00000}\n{\"line\":00001}\n{\"line\":00002}\n{\"line\":00003}\n");
	cr_assert_eq(h.lost, 6);
	/* Room again once drained. */
	fprintf(evfan_stream(f), "{\"line\":%05d}\n", 10);
	evfan_drain(f);
	cr_assert(strstr(h.buf, "{\"line\":00010}\n"));
	cr_assert_eq(h.lost, 6);
	evfan_free(f);
}

Test(evfan, a_line_longer_than_the_ring_is_lost_not_cut)
{
	struct evfan *f = evfan_new(32, NULL, NULL);
	struct heard h = { 0 };
	char big[100];

	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = 0;
	evfan_subscribe(f, on_lines, &h);
	fputs(big, evfan_stream(f));
	fprintf(evfan_stream(f), "ok\n");
	evfan_drain(f);
	cr_assert_str_eq(h.buf, "ok\n");
	cr_assert_eq(h.lost, 1);
	evfan_free(f);
}

Test(evfan, wake_is_called_once_per_drain)
{
	struct evfan *f = evfan_new(4096, on_wake, NULL);
	struct heard h = { 0 };

	wakes = 0;
	evfan_subscribe(f, on_lines, &h);
	for (int i = 0; i < 5; i++)
		fprintf(evfan_stream(f), "{\"n\":%d}\n", i);
	cr_assert_eq(wakes, 1);
	evfan_drain(f);
	fprintf(evfan_stream(f), "{\"n\":5}\n");
	cr_assert_eq(wakes, 2);
	evfan_free(f);
}

Test(evfan, a_subscriber_may_leave_from_its_callback)
{
	struct evfan *f = evfan_new(4096, NULL, NULL);
	struct heard a = { .fan = f }, b = { 0 };
	int ib;

	evfan_subscribe(f, on_lines, &a);
	ib = evfan_subscribe(f, on_lines, &b);
	a.unsub = ib;
	fprintf(evfan_stream(f), "{\"n\":1}\n");
	evfan_drain(f);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(b.calls, 0, "removed before its turn, it hears nothing");
	cr_assert_eq(evfan_subscribers(f), 1);
	evfan_free(f);
}

Test(evfan, end_delivers_what_is_left_then_the_end)
{
	struct evfan *f = evfan_new(4096, NULL, NULL);
	struct heard h = { 0 };

	evfan_subscribe(f, on_lines, &h);
	fprintf(evfan_stream(f), "{\"n\":1}\n");
	evfan_end(f);
	cr_assert_str_eq(h.buf, "{\"n\":1}\n");
	cr_assert_eq(h.ends, 1);
	cr_assert_eq(evfan_subscribers(f), 0);
	cr_assert_not(atomic_load(evfan_gate(f)));
	evfan_free(f);
}
