/* SPDX-License-Identifier: MIT */
/*
 * pcaplog: the --pcap capture file's pipeline observer. Each packet gets
 * a record as captured ("in") saying what was decided and why, one as it
 * left ("out"), and one per copy sent, each with its comment. Records go
 * to a sink: the file itself (pcaplog_write_file: replay) or a queue in
 * front of it (the live run's pcapq).
 *
 * The first failure is kept (err) and told once (on_error); the records
 * lost are counted in 'lost', unless the sink counts its own (counts_own:
 * the live queue), which is then written on.
 */
#ifndef FL_PCAPLOG_H
#define FL_PCAPLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "pcapout.h"
#include "pipeline.h"

/* Write one record, as pcapout_write() takes it. 0 or -errno. */
typedef int (*pcaplog_write_cb)(void *sink, enum pcapout_iface iface, uint64_t ts_ns,
				const uint8_t *data, uint32_t caplen, uint32_t len, const char *comment);
/* The capture file failed: err is -errno. Called once, from the thread that wrote. */
typedef void (*pcaplog_error_cb)(void *data, int err);

struct pcaplog {
	pcaplog_write_cb write;
	void *sink;		/* borrowed */
	bool counts_own;	/* the sink counts the records it loses */
	uint64_t epoch_ns;	/* added to the pipeline's time to get the Unix time */
	int err;		/* 0, or -errno of the first failure */
	uint64_t lost;		/* records not written (not counted with counts_own) */
	bool told;		/* on_error was called */
	pcaplog_error_cb on_error;	/* NULL: failures are only counted */
	void *on_error_data;
};

/* Set l up to write through write(sink, ...). on_error may be NULL. */
void pcaplog_init(struct pcaplog *l, pcaplog_write_cb write, void *sink, bool counts_own,
		  uint64_t epoch_ns, pcaplog_error_cb on_error, void *on_error_data);

/* The observer: install it with the struct pcaplog as its data. */
extern const struct pipeline_observer_ops pcaplog_observer;

/* A sink that is the file: sink is a struct pcapout (borrowed). */
int pcaplog_write_file(void *sink, enum pcapout_iface iface, uint64_t ts_ns, const uint8_t *data,
		       uint32_t caplen, uint32_t len, const char *comment);

/*
 * The sink was closed with ret (0 or -errno): closing writes the last
 * blocks, so a failure there is kept, counted and told like a write's.
 */
void pcaplog_closed(struct pcaplog *l, int ret);

/*
 * A failure of the file found outside the log (the live queue's writer
 * thread): kept if there was none, told unless told already.
 */
void pcaplog_note_error(struct pcaplog *l, int err);

#endif
