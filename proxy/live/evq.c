// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evq.h"
#include "thread.h"

/*
 * One write at most: a pipe takes a write of PIPE_BUF bytes or less whole
 * once poll says it has room, so the thread never sits in write() where a
 * close could not reach it.
 */
#define CHUNK 4096
/* How often the writer looks at the stop flag while the file takes nothing. */
#define TICK_MS 100

/*
 * The ring holds bytes [tail, head); [tail, commit) are whole lines, ready
 * for the writer; [commit, head) is a line still being written, which is
 * rolled back if it cannot fit. Positions only grow; the index is pos % cap.
 */
struct evq {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop, closed, dropping;
	int fd;
	unsigned stall_ms;
	FILE *stream;
	uint64_t head, commit, tail;
	struct evq_stats st;
	size_t cap;
	char *ring;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put(struct evq *q, const char *s, size_t n)
{
	size_t at = q->head % q->cap, first = q->cap - at < n ? q->cap - at : n;

	memcpy(q->ring + at, s, first);
	memcpy(q->ring, s + first, n - first);
	q->head += n;
}

/* One piece of a line: it ends the line when it ends with '\n'. */
static void add_piece(struct evq *q, const char *s, size_t n)
{
	bool eol = s[n - 1] == '\n';

	if (!q->dropping && !q->closed && !q->st.err && q->head + n - q->tail <= q->cap) {
		put(q, s, n);
		if (eol) {
			q->commit = q->head;
			pthread_cond_signal(&q->wake);
		}
		return;
	}
	if (!q->dropping) {
		/* The start of the line is in the ring already: take it back. */
		if (!q->closed && !q->st.err)
			q->st.full++;
		q->head = q->commit;
		q->dropping = true;
	}
	if (eol) {
		q->dropping = false;
		q->st.dropped++;
	}
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct evq *q = cookie;
	size_t off = 0;
	int err;

	pthread_mutex_lock(&q->lock);
	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) + 1 : size - off;

		add_piece(q, buf + off, n);
		off += n;
	}
	err = q->st.err;
	pthread_mutex_unlock(&q->lock);
	/* Lines were counted as dropped; the stream fails as the file did. */
	if (err) {
		errno = -err;
		return -1;
	}
	return (ssize_t)size;
}

static uint64_t count_lines(const struct evq *q, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (uint64_t i = from; i < to; i++)
		n += q->ring[i % q->cap] == '\n';
	return n;
}

/* Wait until fd takes a write; 1, 0 on a tick without room, or -errno. */
static int wait_room(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r = poll(&pfd, 1, TICK_MS);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	/* POLLERR/POLLHUP: the write says what is wrong. */
	return 1;
}

/* Called with the lock held; drops it around the write. Returns false to stop. */
static bool write_some(struct evq *q, uint64_t *last_progress)
{
	uint64_t avail = q->commit - q->tail;
	size_t at = q->tail % q->cap, n = avail < CHUNK ? (size_t)avail : CHUNK;
	ssize_t w;
	int r;

	if (n > q->cap - at)
		n = q->cap - at;
	/* Whole lines per write where possible: stdout may carry other lines too. */
	if (n < avail) {
		size_t k = n;

		while (k && q->ring[at + k - 1] != '\n')
			k--;
		if (k)
			n = k;
	}
	pthread_mutex_unlock(&q->lock);
	r = wait_room(q->fd);
	w = r > 0 ? write(q->fd, q->ring + at, n) : 0;
	if (r > 0 && w < 0)
		r = errno == EAGAIN || errno == EINTR ? 0 : -errno;
	pthread_mutex_lock(&q->lock);
	if (r < 0) {
		/* Everything queued is lost with the file. */
		q->st.err = r;
		q->st.dropped += count_lines(q, q->tail, q->commit);
		q->tail = q->commit;
		return false;
	}
	if (w > 0) {
		q->st.written += count_lines(q, q->tail, q->tail + (uint64_t)w);
		q->tail += (uint64_t)w;
		*last_progress = now_ms();
	} else if (q->stop && now_ms() - *last_progress >= q->stall_ms) {
		/* Closing, and the reader took nothing for stall_ms: give up on it. */
		q->st.dropped += count_lines(q, q->tail, q->commit);
		q->tail = q->commit;
		return false;
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct evq *q = arg;
	uint64_t last_progress = now_ms();

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->commit == q->tail && !q->stop)
			pthread_cond_wait(&q->wake, &q->lock);
		if (q->commit == q->tail) /* stopping, and all written */
			break;
		if (!write_some(q, &last_progress))
			break;
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct evq *evq_new(int fd, size_t cap)
{
	static const cookie_io_functions_t io = { .write = stream_write };
	struct evq *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		return NULL;
	q->fd = fd;
	q->cap = cap ? cap : 1;
	q->ring = malloc(q->cap);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	q->stream = q->ring ? fopencookie(q, "w", io) : NULL;
	if (!q->stream)
		goto err;
	/* A line at a time, as the file was written before: a tail -f sees each at once. */
	setvbuf(q->stream, NULL, _IOLBF, 0);
	return q;
err:
	ret = errno;
	evq_free(q);
	errno = ret;
	return NULL;
}

int evq_start(struct evq *q)
{
	/* A reader that went away gives EPIPE, counted, not SIGPIPE (thread.h). */
	int ret = thread_start(&q->thread, writer_main, q);

	if (ret)
		return ret;
	q->started = true;
	return 0;
}

FILE *evq_stream(struct evq *q)
{
	return q->stream;
}

void evq_close(struct evq *q, unsigned stall_ms)
{
	if (!q || q->closed)
		return;
	fflush(q->stream);
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	q->stall_ms = stall_ms;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	q->started = false;
	pthread_mutex_lock(&q->lock);
	/* Never started (setup failed): what was queued is lost too. */
	q->st.dropped += count_lines(q, q->tail, q->commit);
	q->tail = q->commit;
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
}

void evq_get_stats(struct evq *q, struct evq_stats *st)
{
	pthread_mutex_lock(&q->lock);
	*st = q->st;
	pthread_mutex_unlock(&q->lock);
}

void evq_free(struct evq *q)
{
	if (!q)
		return;
	if (q->stream) {
		evq_close(q, 0);
		fclose(q->stream);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->wake);
	free(q->ring);
	free(q);
}
