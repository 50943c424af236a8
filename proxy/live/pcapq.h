/* SPDX-License-Identifier: MIT */
/*
 * pcapq: a bounded queue between the packet path and the --pcap file, so
 * the packet path never waits on a slow reader (a FIFO that Wireshark
 * reads, a pipe). Each record (interface, time, bytes, lengths, comment)
 * is copied into a ring of fixed size; a thread of its own hands them to
 * pcapout. A record that does not fit is dropped whole and counted, and so
 * is every record a failed write loses: the file holds whole blocks only,
 * and written + dropped is every record given.
 */
#ifndef FL_PCAPQ_H
#define FL_PCAPQ_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout.h"

struct pcapq;

struct pcapq_stats {
	uint64_t written;	/* records written to the file */
	uint64_t dropped;	/* records lost: no room, a failed write, a stalled reader at close */
	uint64_t full;		/* of those, dropped because the ring was full */
	int err;		/* 0 or -errno of the first failed write (or of the close) */
};

/*
 * A queue in front of o (taken, also on failure) with room for cap bytes
 * of records. Nothing is written before pcapq_start. NULL with errno set.
 */
struct pcapq *pcapq_new(struct pcapout *o, size_t cap);

/*
 * Start the writer thread. It inherits the caller's capabilities and
 * blocks every signal. Returns 0 or -errno.
 */
int pcapq_start(struct pcapq *q);

/*
 * Queue one record, as pcapout_write takes it (data and comment are
 * copied). Never blocks on the file. Returns 0 when queued or dropped for
 * want of room (counted), or the first write error once the file failed
 * (the record is counted as dropped). Invalid arguments are dropped too:
 * pcapout_write would refuse them.
 */
int pcapq_write(struct pcapq *q, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *data,
		uint32_t caplen, uint32_t len, const char *comment);

/*
 * Write out what is queued, stop the thread and close the file (its
 * error, if any, becomes err). A reader that takes nothing for stall_ms is
 * given up on: what is left counts as dropped. Afterwards records are
 * dropped. Idempotent.
 */
void pcapq_close(struct pcapq *q, unsigned stall_ms);

/* The counters so far; thread-safe. */
void pcapq_get_stats(struct pcapq *q, struct pcapq_stats *st);

/* pcapq_close, then free the ring. NULL-safe. */
void pcapq_free(struct pcapq *q);

#endif
