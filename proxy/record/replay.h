/* SPDX-License-Identifier: MIT */
/*
 * replay: run a capture file through the same pipeline as the live proxy
 * (parse -> flow -> track -> rules -> act -> hold), with virtual time taken
 * from the capture's timestamps. Drops remove packets, delays move their
 * timestamps, reorders permute them, duplicates copy them, corruption flips
 * their bits. No root, no kernel, no iptables. The same input and seed give
 * byte-identical output.
 *
 * Nothing is lost silently: every packet that leaves is written with the
 * length it was captured with and its length on the wire (held ones too),
 * and one that cannot be is counted. A capture cut short is replayed up to
 * the cut, everything held before it written, and then reported. An output
 * that fails is reported after the run (its first error), which goes on.
 */
#ifndef FL_REPLAY_H
#define FL_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcapout.h"
#include "rule.h"

/* An address block that is "this host": packets from it are 'out', to it 'in'. */
struct replay_local {
	uint8_t family;		/* 4 or 6 */
	uint8_t addr[16];
	uint8_t prefix;
};

/* Held packets a replay may keep when replay_config.max_held is 0. */
#define REPLAY_DEFAULT_MAX_HELD 1000000u

/* Where a replay is, for a progress display. */
struct replay_progress {
	uint64_t read;		/* records read so far */
	int64_t offset;		/* bytes of the input read so far; -1: unknown */
	int64_t size;		/* the input's size in bytes; -1: unknown (a pipe) */
	bool done;		/* the last call: the input is read to its end or its cut */
};

/* Progress callback: p is borrowed for the call. It must not call replay. */
typedef void (*replay_progress_cb)(const struct replay_progress *p, void *data);

struct replay_config {
	const char *in_path;	/* pcap or pcapng, any link type libpcap reads that carries IP */
	const char *out_path;	/* NULL: no output capture (nanosecond pcap, raw IP) */
	const char *pcap_path;	/* annotated pcapng of every packet in and out, as --pcap live */
	uint64_t seed;
	FILE *events;		/* borrowed; NULL = none */
	const char *events_path; /* its name in messages; NULL: "events" */
	const struct replay_local *locals;
	size_t n_locals;
	bool no_track;
	bool rule_scan_all;	/* testing aid: run every rule's filter (no rule index) */
	uint64_t time_wait_ns;
	uint32_t max_held;	/* 0: REPLAY_DEFAULT_MAX_HELD */
	/* Called every progress_every records read (0: never), and once at the end. */
	replay_progress_cb progress;
	void *progress_data;
	uint32_t progress_every;
};

struct replay_stats {
	uint64_t read, written, skipped;	/* skipped: not IP (ARP, ...) */
	uint64_t unwritten;	/* released for --out but not in it (write failed, no bytes) */
	/* The first error of each output, 0 or -errno; events: the pipeline's lines. */
	int out_err, pcap_err, events_err;
	/* The input: 0, or -errno when it broke off after 'read' packets, at byte 'cut_at'. */
	int in_err;
	int64_t cut_at;
};

/* The step of replay_run that failed. */
enum replay_step {
	REPLAY_STEP_IN_OPEN,	/* opening in_path: libpcap's words in 'lib' */
	REPLAY_STEP_OUT_OPEN,	/* creating out_path: libpcap's words in 'lib' ("": strerror says it) */
	REPLAY_STEP_PCAP_OPEN,	/* creating pcap_path: wiretap's words in 'pcap' */
	REPLAY_STEP_MEMORY,	/* the pipeline */
	/*
	 * The replay ran, but the input broke off (replay_stats.in_err, with
	 * libpcap's words in 'lib') or outputs failed (out_err, pcap_err,
	 * events_err): either or both.
	 */
	REPLAY_STEP_RAN,
};

/* Why replay_run failed, for the caller to word (replay prints nothing). */
struct replay_error {
	enum replay_step step;
	int err;		/* -errno of the step (for REPLAY_STEP_PCAP_OPEN replay_run returns -EIO) */
	char lib[256];		/* libpcap's message (PCAP_ERRBUF_SIZE) */
	struct pcapout_error pcap;
};

/*
 * Replay the capture. Returns 0, or -errno with the detail in *e: the input
 * cannot be opened or read to its end (in_err: what came before the break
 * was replayed and written), or an output failed (out_err, pcap_err,
 * events_err say which).
 * The counters JSON (as the live run prints it) is returned in *json
 * (malloc'd) when json is not NULL, whenever the replay ran.
 */
int replay_run(const struct replay_config *cfg, const struct rule_set *rules,
	       struct replay_stats *st, char **json, struct replay_error *e);

/* Parse "10.0.0.0/8", "fd00::1", "10.1.2.3" into l. 0 or -EINVAL. */
int replay_parse_local(const char *s, struct replay_local *l);

#endif
