// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "evfan.h"

struct sub {
	int id;
	bool gone;		/* unsubscribed during a drain: removed after it */
	evfan_cb cb;
	void *data;
	uint64_t from;		/* ring position of its first line */
	uint64_t lost_seen;	/* the fan's lost count when it last heard */
};

/*
 * The ring holds bytes [tail, head); [tail, commit) are whole lines for
 * the drainer, [commit, head) a line still being written, rolled back if
 * it does not fit. Positions only grow; the index is pos % cap. As in
 * evq.c, whose drop rule this shares: a line is whole or not there.
 */
struct evfan {
	pthread_mutex_t lock;
	uint64_t head, commit, tail;
	uint64_t lost;
	bool dropping, wake_pending;
	size_t cap;
	char *ring;
	char *out;		/* the drainer's copy of a batch, cap bytes */
	FILE *stream;
	evfan_wake_cb wake;
	void *wake_data;
	atomic_bool gate;
	/* The drainer's side: no lock. */
	struct sub *subs;
	unsigned n_subs, n_alloc, n_live;
	int next_id;
	bool draining;
};

static void put(struct evfan *f, const char *s, size_t n)
{
	size_t at = f->head % f->cap, first = f->cap - at < n ? f->cap - at : n;

	memcpy(f->ring + at, s, first);
	memcpy(f->ring, s + first, n - first);
	f->head += n;
}

/* One piece of a line; true when it completed a line that is kept. */
static bool add_piece(struct evfan *f, const char *s, size_t n)
{
	bool eol = s[n - 1] == '\n';

	if (!f->dropping && f->head + n - f->tail <= f->cap) {
		put(f, s, n);
		if (eol)
			f->commit = f->head;
		return eol;
	}
	/* No room: the line's start goes back out, the rest is skipped up to its end. */
	if (!f->dropping) {
		f->head = f->commit;
		f->dropping = true;
	}
	if (eol) {
		f->dropping = false;
		f->lost++;
	}
	return false;
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct evfan *f = cookie;
	bool wake = false;
	size_t off = 0;

	pthread_mutex_lock(&f->lock);
	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) + 1 : size - off;

		if (add_piece(f, buf + off, n) && !f->wake_pending)
			wake = f->wake_pending = true;
		off += n;
	}
	pthread_mutex_unlock(&f->lock);
	/* Outside the lock: the drainer may be waiting for it. */
	if (wake && f->wake)
		f->wake(f->wake_data);
	/* Lines that did not fit are counted, not failed: the writer goes on. */
	return (ssize_t)size;
}

struct evfan *evfan_new(size_t cap, evfan_wake_cb wake, void *wake_data)
{
	static const cookie_io_functions_t io = { .write = stream_write };
	struct evfan *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return NULL;
	f->cap = cap ? cap : 1;
	f->wake = wake;
	f->wake_data = wake_data;
	f->next_id = 1;
	pthread_mutex_init(&f->lock, NULL);
	f->ring = malloc(f->cap);
	f->out = malloc(f->cap);
	f->stream = f->ring && f->out ? fopencookie(f, "w", io) : NULL;
	if (!f->stream)
		goto err;
	/* A line at a time: a subscriber sees each line as it happens. */
	setvbuf(f->stream, NULL, _IOLBF, 0);
	return f;
err:
	err = errno ? errno : ENOMEM;
	evfan_free(f);
	errno = err;
	return NULL;
}

FILE *evfan_stream(struct evfan *f)
{
	return f->stream;
}

const atomic_bool *evfan_gate(const struct evfan *f)
{
	return &f->gate;
}

unsigned evfan_subscribers(const struct evfan *f)
{
	return f->n_live;
}

int evfan_subscribe(struct evfan *f, evfan_cb cb, void *data)
{
	struct sub *s;

	if (f->n_subs == f->n_alloc) {
		unsigned n = f->n_alloc ? 2 * f->n_alloc : 4;

		s = realloc(f->subs, n * sizeof(*s));
		if (!s)
			return -ENOMEM;
		f->subs = s;
		f->n_alloc = n;
	}
	s = &f->subs[f->n_subs++];
	*s = (struct sub){ .id = f->next_id++, .cb = cb, .data = data };
	pthread_mutex_lock(&f->lock);
	/* From the next whole line: what is in the ring was written before it came. */
	s->from = f->commit;
	s->lost_seen = f->lost;
	pthread_mutex_unlock(&f->lock);
	f->n_live++;
	atomic_store(&f->gate, true);
	return s->id;
}

static void compact(struct evfan *f)
{
	unsigned j = 0;

	for (unsigned i = 0; i < f->n_subs; i++)
		if (!f->subs[i].gone)
			f->subs[j++] = f->subs[i];
	f->n_subs = j;
}

void evfan_unsubscribe(struct evfan *f, int id)
{
	for (unsigned i = 0; i < f->n_subs; i++) {
		if (f->subs[i].id != id || f->subs[i].gone)
			continue;
		f->subs[i].gone = true;
		if (!--f->n_live)
			atomic_store(&f->gate, false);
		/* During a drain the array is being walked: removed after it. */
		if (!f->draining)
			compact(f);
		return;
	}
}

/* Copy out the lines waiting, [*a, *b). Returns false when there were none. */
static bool take(struct evfan *f, uint64_t *a, uint64_t *b, uint64_t *lost)
{
	size_t at, first, n;

	pthread_mutex_lock(&f->lock);
	f->wake_pending = false;
	*a = f->tail;
	*b = f->commit;
	*lost = f->lost;
	n = (size_t)(*b - *a);
	at = *a % f->cap;
	first = f->cap - at < n ? f->cap - at : n;
	memcpy(f->out, f->ring + at, first);
	memcpy(f->out + first, f->ring, n - first);
	f->tail = f->commit;
	pthread_mutex_unlock(&f->lock);
	return n > 0;
}

void evfan_drain(struct evfan *f)
{
	uint64_t a, b, lost;

	/* A callback that drains again (it subscribed someone) would deliver twice. */
	if (f->draining)
		return;
	f->draining = true;
	while (take(f, &a, &b, &lost)) {
		/* Walked by index: a callback may subscribe someone and move the array. */
		for (unsigned i = 0; i < f->n_subs; i++) {
			struct sub *s = &f->subs[i];
			uint64_t from = s->from > a ? s->from : a, missed;

			if (s->gone || from >= b)
				continue;
			missed = lost - s->lost_seen;
			s->lost_seen = lost;
			s->cb(s->data, f->out + (from - a), (size_t)(b - from), missed);
		}
	}
	f->draining = false;
	compact(f);
}

void evfan_end(struct evfan *f)
{
	/* From a subscriber's callback (it stopped faultline): the drain below it goes on after. */
	bool nested = f->draining;

	evfan_drain(f);
	f->draining = true;
	for (unsigned i = 0; i < f->n_subs; i++) {
		struct sub *s = &f->subs[i];

		if (s->gone)
			continue;
		s->gone = true;
		f->n_live--;
		s->cb(s->data, NULL, 0, 0);
	}
	atomic_store(&f->gate, false);
	if (nested)
		return;
	f->draining = false;
	compact(f);
}

uint64_t evfan_lost(struct evfan *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->lock);
	n = f->lost;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void evfan_free(struct evfan *f)
{
	if (!f)
		return;
	if (f->stream)
		fclose(f->stream);
	pthread_mutex_destroy(&f->lock);
	free(f->subs);
	free(f->ring);
	free(f->out);
	free(f);
}
