/* SPDX-License-Identifier: MIT */
/*
 * evfan: the event lines of a live run, fanned out to the subscribers of
 * the control API (`faultline ctl events`, GET /events, wait, scenario
 * triggers) while they listen. Writers (the packet path, under the
 * queue's lock) put lines into a bounded ring through a stdio stream and
 * never wait: a line that does not fit is dropped whole and counted. One
 * thread, the loop's, takes the lines out (evfan_drain) and hands each
 * subscriber those written since it subscribed, with the count of lines
 * lost meanwhile. The gate tells writers whether anyone listens at all:
 * with nobody, nothing is formatted.
 *
 * Threads: evfan_stream() writes from any thread; everything else is for
 * the draining thread only (the gate may be read anywhere).
 */
#ifndef FL_EVFAN_H
#define FL_EVFAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct evfan;

/*
 * Lines for a subscriber: len bytes of whole lines (borrowed for the
 * call), and 'lost', how many lines it missed since its last call (the
 * ring was full). lines NULL, len 0: the stream ended (evfan_end); the
 * subscriber is gone afterwards.
 */
typedef void (*evfan_cb)(void *data, const char *lines, size_t len, uint64_t lost);

/* Lines are waiting: called by a writer, at most once until the next drain. */
typedef void (*evfan_wake_cb)(void *data);

/* A ring of cap bytes. wake may be NULL (the owner drains by itself). NULL + errno. */
struct evfan *evfan_new(size_t cap, evfan_wake_cb wake, void *wake_data);

/* The stream writers write whole lines to (owned by the fan, line-buffered). */
FILE *evfan_stream(struct evfan *f);

/* True while at least one subscriber listens: writers format nothing otherwise. */
const atomic_bool *evfan_gate(const struct evfan *f);

/*
 * Add a subscriber (cb and data borrowed until it is removed): it hears the
 * lines written from now on. No writer may be in the middle of a line
 * (the owner holds the writers' lock). Returns an id > 0 or -ENOMEM.
 */
int evfan_subscribe(struct evfan *f, evfan_cb cb, void *data);

/* Remove a subscriber without another call; an unknown id is ignored. */
void evfan_unsubscribe(struct evfan *f, int id);

/* Subscribers now. */
unsigned evfan_subscribers(const struct evfan *f);

/*
 * Hand every subscriber the lines written since its last call. A
 * subscriber may unsubscribe itself or others, or subscribe new ones, from
 * its callback.
 */
void evfan_drain(struct evfan *f);

/* Drain, then tell every subscriber the stream ended, and remove them all. */
void evfan_end(struct evfan *f);

/* Lines dropped so far because the ring was full (thread-safe). */
uint64_t evfan_lost(struct evfan *f);

/* Free the ring and the stream; subscribers are dropped without a call. NULL-safe. */
void evfan_free(struct evfan *f);

#endif
