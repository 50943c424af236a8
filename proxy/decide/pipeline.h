/* SPDX-License-Identifier: MIT */
/*
 * pipeline: what happens to one packet between capture and verdict, for
 * one queue: parse -> flow -> track -> rules -> act -> hold or release.
 * It owns the flow table, the tracker, the decision context and the held
 * packets, and writes the event log. It does no I/O of its own: verdicts
 * and copies go out through the owner's callbacks, and time comes in as an
 * argument, so the live proxy and the offline replay run the same code.
 */
#ifndef FL_PIPELINE_H
#define FL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "act.h"
#include "packet.h"
#include "rule.h"
#include "track.h"

struct pcapout;
struct pcapq;

/* What the pipeline writes. */
enum pipeline_output {
	PIPELINE_OUT_EVENTS,	/* the event log (config.events) */
	PIPELINE_OUT_PCAP,	/* the capture file (config.pcap) */
};

struct pipeline_ops {
	/*
	 * The packet leaves now: accept (with payload != NULL when its bytes
	 * were rewritten) or drop. 'held' tells whether it waited in the
	 * scheduler (a live owner may batch the verdicts of unheld packets).
	 * 'bytes' is the packet as it leaves (NULL when no copy was kept):
	 * len bytes of a packet of wire_len bytes (more when the copy was cut).
	 */
	void (*verdict)(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload,
			uint32_t len, uint32_t wire_len, const uint8_t *bytes, uint64_t now_ns);
	/* Send 'copies' copies of the packet (bytes borrowed) after the original. */
	void (*duplicate)(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies,
			  uint64_t now_ns);
	/*
	 * Optional: an output failed (err is -errno), called once per output,
	 * at its first failed write. That output gets nothing more; packets
	 * go on as before.
	 */
	void (*output_error)(void *data, enum pipeline_output out, int err);
};

/* What a 0 in pipeline_config stands for (the live run's defaults too). */
#define PIPELINE_DEFAULT_MAX_HELD 50000u
#define PIPELINE_DEFAULT_MAX_FLOWS 65536u

struct pipeline_config {
	uint64_t seed;
	uint32_t max_held;	/* 0: PIPELINE_DEFAULT_MAX_HELD */
	uint64_t max_held_bytes; /* bound on held packets' bytes on the wire; 0 = none */
	uint32_t max_flows;	/* 0: PIPELINE_DEFAULT_MAX_FLOWS */
	bool no_track;
	uint64_t time_wait_ns, track_idle_ns;
	uint32_t max_conns;
	bool keep_bytes;	/* keep a copy of every held packet (replay needs them) */
	FILE *events;		/* borrowed; NULL = no event log */
	/*
	 * events drops and counts the lines it cannot write itself (the live
	 * event queue): after a failure, which is told all the same, the
	 * pipeline writes on instead of counting lost lines in write_errors.
	 */
	bool events_count_own;
	uint64_t start_ns;	/* event times are relative to this */
	/* Taken, also when pipeline_new fails; NULL = no capture file. */
	struct pcapout *pcap;
	uint64_t pcap_epoch_ns;	/* added to 'now' to get the Unix time in the file */
	/*
	 * Borrowed; instead of pcap: records are queued for a writer thread
	 * (the live run), which counts the records it cannot write itself.
	 * A failure is told all the same; write_errors does not count them.
	 */
	struct pcapq *pcapq;
};

/* One packet handed to the pipeline. data is borrowed for the call. */
struct pipeline_pkt {
	uint32_t id;
	enum pkt_dir dir;
	const uint8_t *data;
	uint32_t len;		/* bytes in data */
	uint32_t orig_len;	/* on the wire; > len when the copy was cut */
	bool gso;		/* a GSO super-packet */
	uint64_t seen_ns;	/* when it arrived, if known earlier than 'now'; 0 = now */
};

struct pipeline_totals {
	uint64_t packets, accepted, dropped, held, released, released_early;
	uint64_t malformed, gso, corrupted, duplicated_packets;
	/* Held packets that left early to make room, by the bound that was hit. */
	uint64_t early_max_held, early_max_held_bytes;
};

struct pipeline;

/* rules is borrowed and must outlive the pipeline (or be swapped out). NULL + errno. */
struct pipeline *pipeline_new(const struct pipeline_config *cfg, const struct rule_set *rules,
			      const struct pipeline_ops *ops, void *ops_data);
/*
 * Frees everything; packets still held are dropped from memory without a
 * verdict. Closes the capture file if pipeline_close_outputs() did not.
 */
void pipeline_free(struct pipeline *pl);

/*
 * End of run: flush the event log (the stream stays open: it is borrowed)
 * and close the capture file, counting and reporting (ops.output_error) a
 * failure as any other write's. Nothing is written afterwards. Returns 0
 * or the first error of any output (-errno).
 */
int pipeline_close_outputs(struct pipeline *pl);

/* The first error of an output so far: 0 or -errno. */
int pipeline_output_error(const struct pipeline *pl, enum pipeline_output out);

/* Decide for one packet at time now. Its verdict may come now or later. */
void pipeline_packet(struct pipeline *pl, const struct pipeline_pkt *pk, uint64_t now_ns);

/*
 * The same for n packets in order, pk[i] at now_ns[i]: the same decisions
 * and verdicts as n pipeline_packet() calls, faster on many connections
 * (each packet is parsed, and its connection's entry loaded, a few
 * packets before its turn).
 */
void pipeline_burst(struct pipeline *pl, const struct pipeline_pkt *pk, const uint64_t *now_ns,
		    unsigned n);

/*
 * What the rules see of a tracked segment: its tracker conditions (in ti,
 * which in->tcp then points to), its identity, counted within its
 * connection, and the connection's filter memo.
 */
void pipeline_tcp_input(struct act_input *in, struct act_tcp_info *ti, const struct track_seg *seg);

/* Earliest deadline of a held packet, or 0 when nothing is held. */
uint64_t pipeline_next_deadline(const struct pipeline *pl);
/* Release every held packet due by now, in (deadline, seq) order. */
void pipeline_release_due(struct pipeline *pl, uint64_t now_ns);
/*
 * Release every held packet now, in deadline order, counted as released
 * early (shutdown). With 'at_deadline', each leaves at its own deadline
 * instead (replay's end of input: virtual time just runs on).
 */
void pipeline_release_all(struct pipeline *pl, uint64_t now_ns, bool at_deadline);
size_t pipeline_held(const struct pipeline *pl);

/* Tracker housekeeping (TIME_WAIT and idle expiry). */
void pipeline_expire(struct pipeline *pl, uint64_t now_ns);

/* Swap the rule set between two packets (borrowed). 0 or -ENOMEM. */
int pipeline_swap_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now_ns);

/*
 * Append the pipeline's part of the counters JSON (the rules array, the
 * tracker's counts and the connection summaries, each as "key":value
 * members, comma-separated, no braces) to a malloc'd string. NULL on OOM.
 * "write_errors" counts event lines and capture records not written.
 */
char *pipeline_stats_json(const struct pipeline *pl);

#endif
