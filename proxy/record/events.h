/* SPDX-License-Identifier: MIT */
/*
 * events: the JSON-lines event log (--events), a pipeline observer. One
 * object per line: each packet as decided ("packet", with a "verdict" line
 * before it when rules altered it), each release of a held packet, each
 * malformed packet, and the tracker's transitions, classifications and
 * connection starts and ends. The stream is borrowed; nothing here owns a
 * file.
 *
 * A failed write is final: the log keeps its first error (err), tells it
 * once (on_error), and writes nothing more, so the file ends at the
 * failure rather than going on after a hole; every line it would have had
 * is counted in 'lost'. A regular file is cut back to its last whole line.
 * A stream that drops and counts whole lines itself (counts_own: the live
 * event queue) is noted as failed and written on.
 */
#ifndef FL_EVENTS_H
#define FL_EVENTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline.h"

/* The log failed: err is -errno. Called once, from the thread that wrote. */
typedef void (*events_error_cb)(void *data, int err);

struct events {
	FILE *out;		/* borrowed; NULL: events off */
	uint64_t start_ns;	/* times are written relative to this */
	bool counts_own;	/* out counts the lines it loses (see above) */
	int err;		/* 0, or -errno of the first failed write */
	uint64_t lost;		/* lines not written (or not wholly) since then */
	bool told;		/* on_error was called */
	events_error_cb on_error;	/* NULL: failures are only counted */
	void *on_error_data;
	/*
	 * NULL, or a flag read before each line (borrowed): while it is false
	 * nothing is formatted (a stream nobody listens to: events_set_gate).
	 */
	const atomic_bool *gate;
};

/*
 * Set e up to write to out (borrowed), with times relative to start_ns.
 * on_error (may be NULL) hears of the first failure.
 */
void events_init(struct events *e, FILE *out, uint64_t start_ns, bool counts_own,
		 events_error_cb on_error, void *on_error_data);

/*
 * Write only while *gate is true (borrowed; NULL: always). The test is one
 * relaxed atomic load per observed event, before any formatting.
 */
void events_set_gate(struct events *e, const atomic_bool *gate);

/*
 * One line of a kind the pipeline does not report (a scenario step):
 * {"t":T,"ev":"EV",MEMBERS} with MEMBERS (borrowed) as given, already
 * JSON ("key":value,... without braces; "" for none). Subject to the gate.
 */
void events_put(struct events *e, uint64_t now_ns, const char *ev, const char *members);

/*
 * The run's network namespace ended (its container restarted and was
 * followed, or it is gone): the members of its "netns" line, for
 * events_put.
 */
struct events_netns {
	const char *change;		/* "followed", "gone" or "removed" */
	const char *container;		/* --container NAME (borrowed), NULL: none */
	unsigned long long from, to;	/* namespaces' inode numbers, 0: unknown / none */
	long pid;			/* "followed": the container's new process */
	uint64_t follows;		/* netns_follows once this one is counted */
};

/* n's members as JSON ("change":...; malloc'd, caller frees), NULL on ENOMEM. */
char *events_netns_members(const struct events_netns *n);

/* The observer: install it with the struct events as its data. */
extern const struct pipeline_observer_ops events_observer;

/* Flush the stream (end of run). Returns e->err, which a failed flush sets (and tells). */
int events_flush(struct events *e);

/*
 * A failure of the log found outside it (the live queue's writer thread,
 * err is -errno): kept as the log's error if it had none, told unless
 * told already.
 */
void events_note_error(struct events *e, int err);

/*
 * Cut a regular file that a failed write left in the middle of a line back
 * to its last whole line (best effort; anything else is left alone).
 */
void events_cut_fd(int fd);

#endif
