// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcapq.h"
#include "thread.h"

/* How often the writer looks at the stop flag while the file takes nothing. */
#define TICK_MS 100
#define ALIGN 8u

/*
 * A record in the ring, followed by caplen bytes of data and, when
 * comment_len is not 0, the comment and its NUL. 'size' is the whole
 * record, padded: a record of size 0 marks the ring's unused end (a record
 * never wraps, so the writer can hand its bytes to pcapout in place).
 */
struct rec {
	uint32_t size;
	uint32_t iface;
	uint64_t ts_ns;
	uint32_t caplen, len;
	uint32_t comment_len;
	uint32_t pad;
};

/*
 * The ring holds records in [tail, head); positions only grow, the index
 * is pos % cap. The writer reads the record at tail without the lock:
 * producers only write beyond head, and the record leaves (tail moves) when
 * it is written.
 */
struct pcapq {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop, closed;
	unsigned stall_ms;
	struct pcapout *out;
	uint64_t head, tail;
	uint64_t queued;	/* records in the ring */
	struct pcapq_stats st;
	size_t cap;
	uint8_t *ring;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t rec_size(uint32_t caplen, size_t comment_len)
{
	size_t n = sizeof(struct rec) + caplen + (comment_len ? comment_len + 1 : 0);

	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

/* Room for n contiguous bytes at head (skipping the ring's end if need be); NULL if full. */
static uint8_t *reserve(struct pcapq *q, size_t n)
{
	size_t at = q->head % q->cap, end = q->cap - at;
	uint64_t used = q->head - q->tail;

	if (n <= end)
		return used + n <= q->cap ? q->ring + at : NULL;
	/* The end of the ring is too short: mark it unused, start again at 0. */
	if (used + end + n > q->cap)
		return NULL;
	if (end >= sizeof(uint32_t))
		memset(q->ring + at, 0, sizeof(uint32_t));
	q->head += end;
	return q->ring;
}

int pcapq_write(struct pcapq *q, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *data,
		uint32_t caplen, uint32_t len, const char *comment)
{
	size_t clen = comment ? strlen(comment) : 0;
	size_t n = rec_size(caplen, clen);
	struct rec *r;
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	/* What pcapout_write would refuse is dropped here: the file stays good. */
	if (q->st.err || q->closed || (unsigned)iface > PCAPOUT_OUT || caplen > len ||
	    (caplen && !data) || caplen > PCAPOUT_SNAPLEN || clen > 65535) {
		ret = q->st.err;
		q->st.dropped++;
		goto out;
	}
	r = n <= q->cap ? (struct rec *)reserve(q, n) : NULL;
	if (!r) {
		q->st.dropped++;
		q->st.full++;
		goto out;
	}
	*r = (struct rec){ .size = (uint32_t)n, .iface = iface, .ts_ns = ts_ns, .caplen = caplen,
			   .len = len, .comment_len = (uint32_t)clen };
	if (caplen)
		memcpy(r + 1, data, caplen);
	if (clen)
		memcpy((uint8_t *)(r + 1) + caplen, comment, clen + 1);
	q->head += n;
	q->queued++;
	pthread_cond_signal(&q->wake);
out:
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* The record at tail, past an unused end of the ring. Under the lock; queued > 0. */
static struct rec *first(struct pcapq *q)
{
	size_t at = q->tail % q->cap, end = q->cap - at;

	if (end < sizeof(struct rec) || !((struct rec *)(q->ring + at))->size) {
		q->tail += end;
		at = 0;
	}
	return (struct rec *)(q->ring + at);
}

/* Everything queued is lost: a failed file, or a reader given up on. Under the lock. */
static void drop_queued(struct pcapq *q)
{
	q->st.dropped += q->queued;
	q->queued = 0;
	q->tail = q->head;
}

/* Called with the lock held; drops it around the wait and the write. Returns false to stop. */
static bool write_one(struct pcapq *q, uint64_t *last_progress)
{
	struct rec *r = first(q);
	const uint8_t *data = (const uint8_t *)(r + 1);
	const char *comment = r->comment_len ? (const char *)data + r->caplen : NULL;
	int ret;

	pthread_mutex_unlock(&q->lock);
	ret = pcapout_wait_room(q->out, r->caplen, comment, TICK_MS);
	if (ret > 0)
		ret = pcapout_write(q->out, r->iface, r->ts_ns, data, r->caplen, r->len, comment);
	else if (ret == 0)
		ret = 1; /* no room yet */
	pthread_mutex_lock(&q->lock);
	if (ret < 0) {
		q->st.err = ret;
		drop_queued(q);
		return false;
	}
	if (ret == 0) {
		q->st.written++;
		q->queued--;
		q->tail += r->size;
		*last_progress = now_ms();
	} else if (q->stop && now_ms() - *last_progress >= q->stall_ms) {
		/* Closing, and the reader took nothing for stall_ms: give up on it. */
		drop_queued(q);
		return false;
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct pcapq *q = arg;
	uint64_t last_progress = now_ms();

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->queued && !q->stop)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->queued) /* stopping, and all written */
			break;
		if (!write_one(q, &last_progress))
			break;
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct pcapq *pcapq_new(struct pcapout *o, size_t cap)
{
	struct pcapq *q = calloc(1, sizeof(*q));
	int ret;

	if (!q) {
		pcapout_close(o);
		errno = ENOMEM;
		return NULL;
	}
	q->out = o;
	q->cap = cap < sizeof(struct rec) ? sizeof(struct rec) : cap / ALIGN * ALIGN;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	q->ring = malloc(q->cap);
	if (!q->ring) {
		ret = errno;
		pcapq_free(q);
		errno = ret;
		return NULL;
	}
	return q;
}

int pcapq_start(struct pcapq *q)
{
	/* A reader that went away gives EPIPE, counted, not SIGPIPE (thread.h). */
	int ret = thread_start(&q->thread, writer_main, q);

	if (ret)
		return ret;
	q->started = true;
	return 0;
}

void pcapq_close(struct pcapq *q, unsigned stall_ms)
{
	int ret;

	if (!q || q->closed)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	q->stall_ms = stall_ms;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	q->started = false;
	/* Nothing writes now: the last blocks (buffered for a regular file) go out. */
	ret = pcapout_close(q->out);
	q->out = NULL;
	pthread_mutex_lock(&q->lock);
	/* Never started (setup failed): what was queued is lost too. */
	drop_queued(q);
	if (ret && !q->st.err)
		q->st.err = ret;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
}

void pcapq_get_stats(struct pcapq *q, struct pcapq_stats *st)
{
	pthread_mutex_lock(&q->lock);
	*st = q->st;
	pthread_mutex_unlock(&q->lock);
}

void pcapq_free(struct pcapq *q)
{
	if (!q)
		return;
	pcapq_close(q, 0);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->wake);
	free(q->ring);
	free(q);
}
