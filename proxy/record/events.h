/* SPDX-License-Identifier: MIT */
/*
 * events: the JSON-lines event log (--events). One object per line:
 * verdicts that altered a packet here; tracker transitions and
 * classifications are formatted by the tracker and written through
 * events_write_raw. The stream is borrowed; nothing here owns a file.
 *
 * A failed write is final: the log keeps its first error (err) and writes
 * nothing more, so the file ends at the failure rather than going on after
 * a hole; every line it would have had is counted in 'lost'. A regular
 * file is cut back to its last whole line. A stream that drops and counts
 * whole lines itself (counts_own: the live event queue) is noted as
 * failed and written on.
 */
#ifndef FL_EVENTS_H
#define FL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "act.h"
#include "packet.h"

struct events {
	FILE *out;		/* NULL: events off */
	uint64_t start_ns;	/* times are written relative to this */
	int err;		/* 0, or -errno of the first failed write */
	uint64_t lost;		/* lines not written (or not wholly) since then */
	bool counts_own;	/* out counts the lines it loses (see above) */
};

/*
 * The stream to write the next line to, or NULL: events off, or failed
 * (then the line is counted as lost). Finish the line with events_end().
 */
FILE *events_begin(struct events *e);
/* After a line: a stream in error fails the log. Returns e->err. */
int events_end(struct events *e);
/* Flush the stream (end of run). Returns e->err, which a failed flush sets. */
int events_flush(struct events *e);
/*
 * Cut a regular file that a failed write left in the middle of a line back
 * to its last whole line (best effort; anything else is left alone).
 */
void events_cut_fd(int fd);

/* A verdict line: {"t":..,"ev":"verdict","flow":"..","dir":"in","ord":N,...}. */
void events_verdict(struct events *e, uint64_t now_ns, const struct pkt_view *v, enum pkt_dir dir,
		    const struct flow_id *id, const struct act_decision *d);
/*
 * The member ,"actions":[{"rule":R,"action":"A"[,"reason":"W"]},...] of a
 * line about decision d, onto f (a stream events_begin returned).
 */
void events_actions(FILE *f, const struct act_decision *d);
/* A line about a malformed packet (passed unchanged). */
void events_malformed(struct events *e, uint64_t now_ns, uint32_t len);
/* A pre-formatted JSON object, newline appended. */
void events_write_raw(struct events *e, const char *json);

/* Escape s as a JSON string body into buf; returns the length needed. */
size_t events_json_escape(char *buf, size_t size, const char *s);

const char *events_dir_name(enum pkt_dir d);

#endif
