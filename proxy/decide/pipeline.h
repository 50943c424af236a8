/* SPDX-License-Identifier: MIT */
/*
 * pipeline: what happens to one packet between capture and verdict, for
 * one queue: parse -> flow -> track -> rules -> act -> hold or release.
 * It owns the flow table, the tracker, the decision context and the held
 * packets. It does no I/O: verdicts and copies go out through the owner's
 * callbacks (pipeline_ops), what it decided is reported as data to the
 * observers the owner installs (the event log and the capture file are
 * such observers, in proxy/record/), and time comes in as an argument, so
 * the live proxy, the offline replay and the tests run the same code.
 */
#ifndef FL_PIPELINE_H
#define FL_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "act.h"
#include "packet.h"
#include "rule.h"
#include "track.h"

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
	 * Send a packet faultline made (a RST of 'reset', a piece of
	 * 'segment' after the first, a rewritten GSO packet: see 'resent'), bytes borrowed,
	 * after every verdict given so far. Returns 0 or -errno (counted in
	 * inject_errors). NULL: such packets are counted as not sent.
	 */
	int (*inject)(void *data, const uint8_t *bytes, uint32_t len, uint64_t now_ns);
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
	bool far_end;		/* packets come from a capture: track_config.far_end */
	uint64_t start_ns;	/* the run's start: rules' time windows count from it */
	bool rule_scan_all;	/* testing aid: no rule index (act_ctx_scan_all) */
	/*
	 * One of several pipelines of a run (one per kernel queue): packets
	 * and tracked connections are numbered 'index'+1, then every
	 * 'count'-th, so that the numbers in the run's event log and pcapng
	 * stay unique. 0 and 0 (or 1): one pipeline, numbered 1, 2, 3...
	 */
	uint32_t index, count;
};

/* One packet handed to the pipeline. data is borrowed for the call. */
struct pipeline_pkt {
	uint32_t id;
	enum pkt_dir dir;
	const uint8_t *data;
	uint32_t len;		/* bytes in data */
	uint32_t orig_len;	/* on the wire; > len when the copy was cut */
	bool gso;		/* a GSO super-packet */
	/*
	 * Where a replayed capture was taken, when known (replay's --local):
	 * on the host that sent this packet or the one it went to. With far_end it tells the tracker which
	 * endpoint is far (track_capture_point()).
	 */
	enum pipeline_capture_at { PIPELINE_AT_UNKNOWN = 0, PIPELINE_AT_SENDER,
				   PIPELINE_AT_RECEIVER } capture_at;
	/*
	 * When it arrived, if known earlier than 'now'; 0 = now. The tracker's
	 * clock for the packet, and where its delays count from.
	 */
	uint64_t seen_ns;
};

struct pipeline_totals {
	uint64_t packets, accepted, dropped, held, released, released_early;
	uint64_t malformed, gso, corrupted, duplicated_packets;
	/* Held packets that left early to make room, by the bound that was hit. */
	uint64_t early_max_held, early_max_held_bytes;
	uint64_t rsts;		/* RSTs 'reset' made (sent or not) */
	uint64_t pieces;	/* pieces 'segment' cut packets into, the first ones included */
	/*
	 * Rewritten GSO super-packets (a from-byte head, a first piece) sent
	 * as fresh packets through inject, their originals dropped.
	 */
	uint64_t resent;
	uint64_t inject_errors;	/* packets faultline made that could not be sent */
};

/*
 * What an observer hears, as data; everything is borrowed for the call.
 * A packet decided: what came in and what is done with it. d is the
 * decision as carried out: corrupt and copies only when they happened.
 */
struct pipeline_decided {
	uint64_t pkt;			/* the packet's number in this run, from 1 */
	const struct pipeline_pkt *in;	/* as handed over (bytes as captured) */
	const struct pkt_view *v;
	const struct flow_id *id;
	const struct track_seg *seg;	/* NULL: not a tracked TCP segment */
	const struct act_decision *d;
	const struct rule_set *rules;	/* the set that decided: d's rule indexes are its */
	uint64_t now_ns;
};

/* A packet leaving (accepted), at once or after it was held. */
struct pipeline_left {
	uint64_t pkt;			/* as in its pipeline_decided */
	const uint8_t *bytes;		/* as it leaves; NULL when no copy was kept */
	uint32_t len, wire_len;		/* bytes in 'bytes', and on the wire */
	uint32_t copies;		/* copies sent after it (whole: len bytes each) */
	bool corrupted;			/* its bytes were rewritten */
	uint32_t cut;			/* cut to its first 'cut' payload bytes (from-byte) */
	uint32_t pieces;		/* 'segment': this is the first of so many (0: whole) */
	bool held;			/* it waited in the scheduler; then: */
	bool early;			/* it left before its time (a bound, shutdown) */
	uint64_t release;		/* its ordinal among the releases, from 1 */
	uint64_t held_since_ns;		/* when it was decided */
	uint64_t due_ns;		/* when it was due (held packets) */
	uint64_t now_ns;
};

/* What kind of packet faultline made. */
enum pipeline_inj_kind {
	PIPELINE_INJ_RST = 0,	/* 'reset': a RST to one endpoint */
	PIPELINE_INJ_PIECE,	/* 'segment': a piece after the first */
};

/* A packet faultline made and sent (or tried to). */
struct pipeline_injected {
	uint64_t pkt;			/* the packet whose decision made it */
	enum pipeline_inj_kind kind;
	const struct pkt_view *v;	/* it, parsed */
	const uint8_t *bytes;
	uint32_t len;
	int err;			/* 0: handed out; else -errno of the send */
	uint32_t index, count;		/* PIECE: its number from 0 (the first left as the
					 * packet's verdict) and how many */
	uint64_t now_ns;
};

/*
 * An observer: every callback is optional. Called on the packet path (the
 * live reader thread, under the queue's lock): it must not block. A
 * packet is observed at most once as decided or malformed and once as
 * left (dropped packets never leave), in the order things happen.
 */
struct pipeline_observer_ops {
	void (*packet)(void *data, const struct pipeline_decided *e);
	void (*left)(void *data, const struct pipeline_left *e);
	/* A packet that does not parse: passed unchanged, not decided. */
	void (*malformed)(void *data, uint64_t pkt, const struct pipeline_pkt *in, uint64_t now_ns);
	/* A packet faultline made, after the decision and verdict of its cause. */
	void (*injected)(void *data, const struct pipeline_injected *e);
	/* A tracker transition, class or connection start or end, at now_ns. */
	void (*track_event)(void *data, const struct track_event *ev, uint64_t now_ns);
	/* Wants the bytes of held packets when they leave (pipeline_left.bytes). */
	bool keep_bytes;
};

/*
 * Observers a pipeline takes at most. A small fixed array, not a chain the
 * owner composes: the live run and replay install two (event log, capture
 * file) independently of each other, a test one more, and with none
 * installed the packet path tests one count and formats nothing.
 */
#define PIPELINE_MAX_OBSERVERS 4

struct pipeline;

/* rules is borrowed and must outlive the pipeline (or be swapped out). NULL + errno. */
struct pipeline *pipeline_new(const struct pipeline_config *cfg, const struct rule_set *rules,
			      const struct pipeline_ops *ops, void *ops_data);
/* Frees everything; packets still held are dropped from memory without a verdict. */
void pipeline_free(struct pipeline *pl);

/*
 * Install an observer before the first packet; ops and data are borrowed
 * and must outlive the pipeline. Observers are called in the order they
 * were added. Returns 0 or -ENOSPC past PIPELINE_MAX_OBSERVERS.
 */
int pipeline_add_observer(struct pipeline *pl, const struct pipeline_observer_ops *ops, void *data);

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

/*
 * Swap the rule set between two packets (borrowed). Rules that keep their
 * name keep their counters (act_ctx_swap); held packets keep their release
 * times, and what they owe to a rule follows it to its new index.
 * 0 or -ENOMEM (then the old set stays).
 */
int pipeline_swap_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now_ns);

/*
 * The same, but every rule starts afresh (act_ctx_reset): counters at 0,
 * windows from now. Held packets still keep their release times.
 */
int pipeline_reset_rules(struct pipeline *pl, const struct rule_set *rules, uint64_t now_ns);

/* Its counters so far (copied). */
void pipeline_get_totals(const struct pipeline *pl, struct pipeline_totals *t);

/* Connections its tracker has followed so far (0 with no_track). */
uint64_t pipeline_conns_created(const struct pipeline *pl);

/*
 * Append the pipeline's part of the counters JSON (the rules array, the
 * tracker's counts and the connection summaries, each as "key":value
 * members, comma-separated, no braces) to a malloc'd string. NULL on OOM.
 * Formatted in memory: the owner writes it.
 */
char *pipeline_stats_json(const struct pipeline *pl);

/*
 * The same for the n pipelines of one run (one per queue), as one: every
 * counter summed, the per-rule counters rule by rule (the pipelines must
 * run the same rule set: the rules are taken from pls[0]), connections of
 * all of them listed. pls borrowed; none may change during the call.
 */
char *pipeline_stats_json_many(const struct pipeline *const *pls, unsigned n);

#endif
