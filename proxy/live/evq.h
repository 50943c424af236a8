/* SPDX-License-Identifier: MIT */
/*
 * evq: a bounded queue between the event log's writers and its file, so
 * the packet path never waits on a slow reader (a pipe, a FIFO nobody
 * reads). Lines go into a ring of fixed size through a stdio stream; a
 * thread of its own writes them out. A line that does not fit is dropped
 * whole and counted, and so is every line a failed write loses: the file
 * holds whole lines only, and written + dropped is every line given.
 */
#ifndef FL_EVQ_H
#define FL_EVQ_H

#include <stdint.h>
#include <stdio.h>

struct evq;

struct evq_stats {
	uint64_t written;	/* lines written to the file */
	uint64_t dropped;	/* lines lost: no room, a failed write, or a reader stalled at close */
	uint64_t full;		/* of those, dropped because the ring was full */
	int err;		/* 0 or -errno of the first failed write */
};

/*
 * A queue for fd (borrowed: it stays open) with room for cap bytes of
 * lines. Nothing is written before evq_start. NULL with errno set.
 */
struct evq *evq_new(int fd, size_t cap);

/*
 * Start the writer thread. It inherits the caller's capabilities and
 * blocks every signal. Returns 0 or -errno.
 */
int evq_start(struct evq *q);

/*
 * The stream to write lines to (owned by the queue, line-buffered). Never
 * blocks on the file. After a failed write, writes to it fail with that
 * error (ferror).
 */
FILE *evq_stream(struct evq *q);

/*
 * Write out what is queued and stop the thread. A reader that takes
 * nothing for stall_ms is given up on: what is left counts as dropped.
 * Afterwards lines written to the stream are dropped. Idempotent.
 */
void evq_close(struct evq *q, unsigned stall_ms);

/* The counters so far; thread-safe. */
void evq_get_stats(struct evq *q, struct evq_stats *st);

/* evq_close, then free the stream and the ring. NULL-safe. */
void evq_free(struct evq *q);

#endif
