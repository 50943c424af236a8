/* SPDX-License-Identifier: MIT */
/*
 * act: the decision for one packet. Given the packet, its identity, the
 * time and the seeded random source, run the rule set and say what to do:
 * drop, hold for how long, reorder, how many copies, corrupt, reset. Keeps the
 * per-rule state (counters, every/first counts, token buckets) of one queue.
 * Pure: no socket, clock or global; the proxy and replay both call it.
 *
 * Combining rules: rules are evaluated in order and every rule that fires
 * adds its actions: a drop ends evaluation, delays add up, copies add up,
 * the first reorder wins, 'accept' stops evaluation.
 */
#ifndef FL_ACT_H
#define FL_ACT_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "memo.h"
#include "packet.h"
#include "rng.h"
#include "rule.h"
#include "strbuf.h"

/* What the TCP tracker says of a segment, for 'if' conditions. */
struct act_tcp_info {
	uint8_t sender_state;	/* enum tcpstate, before this segment: 'peer-state' */
	uint8_t receiver_state;	/* the endpoint it arrives at: 'state' */
	bool first_data, retransmission, out_of_order, dup_ack, stale;
	bool has_off;		/* off is known ('from-byte') */
	uint32_t off;		/* track_seg.off: the segment's byte offset in its stream */
};

struct act_input {
	const struct pkt_view *v;	/* borrowed */
	enum pkt_dir dir;
	uint64_t now_ns;
	struct flow_id id;
	const struct act_tcp_info *tcp;	/* NULL: no tracker info, TCP conditions fail */
	/*
	 * The flow's filter memo (in the tracker's or the flow table's
	 * slot), or NULL: filters then run on every packet, and the
	 * context's own table for rules 16 to 255 (placed by id.hash and
	 * id.way) is not asked either. Same verdicts either way.
	 */
	struct rule_memo *memo;
};

#define ACT_MAX_FIRED 16

/* Why an action that does not always drop dropped the packet. */
enum act_reason {
	ACT_REASON_NONE,
	ACT_REASON_QUEUE_FULL,	/* rate: its queue held 'limit' packets already */
};

struct act_fired {
	uint16_t rule;
	uint8_t action;		/* enum rule_action_type */
	uint8_t reason;		/* enum act_reason */
};

struct act_decision {
	bool drop;
	bool reset;		/* with drop: send a RST to both endpoints (TCP) */
	/*
	 * With drop: a 'from-byte N' rule cuts the segment at byte N rather
	 * than drop it: its first 'keep' payload bytes go on (0: none).
	 * 'cut' is set by the pipeline when they went on (then drop is
	 * false: the packet left, cut).
	 */
	uint32_t keep, cut;
	/* 'segment N': leave in pieces of at most N payload bytes (0: whole). */
	uint32_t segment;
	uint64_t segment_gap_ns;	/* 'gap D': piece i leaves i * D after the first */
	/* 'vary V': piece i carries act_piece_len(segment, vary, key, i) bytes. */
	uint32_t segment_vary;
	uint64_t segment_key;
	uint64_t delay_ns;	/* total hold from now (delays + rate queueing) */
	/*
	 * Of delay_ns, the delays asked for (delay, a profile's delay): they
	 * count from the packet's arrival, which the pipeline may know to be
	 * earlier than now; rate queueing, slots and gaps count from now.
	 */
	uint64_t asked_ns;
	uint32_t copies;	/* extra copies to send with the packet */
	bool corrupt;
	uint32_t corrupt_rule;	/* the rule that asked, counted once applied */
	bool reorder;
	uint32_t reorder_rule, reorder_n;
	uint64_t reorder_timeout_ns;
	int hold_rule;		/* the first rule that holds it, -1 if none */
	unsigned n_fired;	/* actions that altered the packet, for events */
	struct act_fired fired[ACT_MAX_FIRED];	/* last: only [0, n_fired) is set */
};

struct act_counters {
	uint64_t matched;	/* rule fired (filter and qualifiers held) */
	/*
	 * By action: packets it altered (named act_ops(t)->counter). A full
	 * rate queue's drop counts in acted[RULE_ACT_DROP] and rate_dropped.
	 */
	uint64_t acted[RULE_ACT__COUNT];
	uint64_t rate_dropped;
	uint64_t released_early; /* held packets let go early at the bound or shutdown */
};

/*
 * The decision half of one action (the syntax half is rules/actions.c),
 * one entry per enum rule_action_type. A new action adds one here, with
 * its step; act_test checks every action has one.
 */
struct act_step;
struct act_ops {
	/*
	 * What the action does to the decision once its chance passed;
	 * returns what it did (act.c's STEP_* flags). Called on the packet
	 * path, one call per action that passed its chance.
	 */
	unsigned (*step)(struct act_step *x, const struct rule_action *a);
	/*
	 * Whether the action applies to this packet, for an action whose
	 * chance is a model of its own (drop's loss models); NULL: its P%,
	 * one keyed draw.
	 */
	bool (*chance)(struct act_step *x, const struct rule_action *a);
	const char *counter;	/* its key in the per-rule stats; NULL: none */
	const char *event;	/* its name in the packet events' "actions" */
	bool undrawn;		/* runs whatever its P% (accept) */
	/*
	 * Sends packets of its own (copies, RSTs, pieces) through the owner's
	 * inject: live, that is a raw socket, which takes CAP_NET_RAW to open.
	 */
	bool sends;
};

/* The entry of action t (static), or NULL out of range. */
const struct act_ops *act_ops(enum rule_action_type t);
/*
 * The first rule of rules whose actions send packets of their own (ops
 * .sends), with that action in *action (may be NULL); NULL if none does.
 * Borrowed from rules.
 */
const struct rule *act_sending_rule(const struct rule_set *rules, enum rule_action_type *action);
/* The event name of action t ("drop", "delay", ...), "?" out of range. */
const char *act_event_name(unsigned t);
/* The action an event names, or -1 (NULL or unknown name). */
int act_event_lookup(const char *name);

/*
 * One rule's counters as JSON members, "matched":N,"dropped":N,...,
 * appended to b (no braces).
 */
void act_counters_json(const struct act_counters *c, struct strbuf *b);

/* Add c's counts to *to (the queues of one run, shown as one). */
void act_counters_add(struct act_counters *to, const struct act_counters *c);

struct act_ctx;

/*
 * A per-queue context for rule set rs (borrowed; must outlive the context or
 * be swapped out first). Returns NULL + errno.
 */
struct act_ctx *act_ctx_new(const struct rule_set *rs, uint64_t seed, uint64_t now_ns);
void act_ctx_free(struct act_ctx *c);

/*
 * Replace the rule set between two packets. A rule of the new set whose
 * name was in the old one (and, for an automatic name rule-N, with the
 * same content) keeps its counters, every/first counts, rate queue and the
 * start of its time windows ('after', 'for'); the other rules start at
 * zero with windows counting from now. With map non-NULL (one int per
 * rule of the old set), map[i] is the new index of old rule i, or -1.
 * Returns 0 or -ENOMEM (then the old set stays).
 */
int act_ctx_swap(struct act_ctx *c, const struct rule_set *rs, uint64_t now_ns, int *map);

/*
 * The same, but no rule keeps anything: every rule starts at zero, its
 * windows counting from now, as at the start of a run (a reset). map[i]
 * is -1 for every old rule i.
 */
int act_ctx_reset(struct act_ctx *c, const struct rule_set *rs, uint64_t now_ns, int *map);

/*
 * all: decide the plain way, the reference: every rule's filter, not only
 * the candidates of the rule set's index (rule_set_cands()), each rule's
 * own run even where rules share a filter, and its direction and window
 * checked after its filter, as the rule reads. The verdicts are the same;
 * a testing aid that compares the two (FL_RULE_INDEX=0).
 */
void act_ctx_scan_all(struct act_ctx *c, bool all);

const struct rng *act_ctx_rng(const struct act_ctx *c);

/* Decide for one packet. Never fails. */
void act_decide(struct act_ctx *c, const struct act_input *in, struct act_decision *d);

/*
 * Flip one keyed bit of the transport payload (of the IP payload for
 * protocols faultline does not parse) of a writable copy of the packet and
 * fix its checksums, so the corruption reaches the application. Returns 0,
 * -ENODATA when there is no payload (headers are never corrupted) or -EBADMSG.
 */
int act_corrupt(const struct act_ctx *c, const struct act_input *in, uint8_t *data, size_t len);

/* "queue-full" for ACT_REASON_QUEUE_FULL; NULL for none (or unknown). Static. */
const char *act_reason_name(enum act_reason r);

/* Counters of rule i (borrowed), or NULL past the end. */
const struct act_counters *act_ctx_counters(const struct act_ctx *c, unsigned i);
void act_note_released_early(struct act_ctx *c, int rule);
/*
 * 'segment N vary V': the payload bytes of piece i, uniform in [N - V,
 * N + V] from the decision's key (V 0: N). Pure; the same key gives the
 * same pieces.
 */
uint32_t act_piece_len(uint32_t n, uint32_t vary, uint64_t key, uint32_t i);

/* How many pieces len payload bytes make (the last takes what is left). Pure. */
uint32_t act_piece_count(uint32_t len, uint32_t n, uint32_t vary, uint64_t key);

/* The packet was really corrupted (act_corrupt succeeded and it went out). */
void act_note_corrupted(struct act_ctx *c, uint32_t rule);

#endif
