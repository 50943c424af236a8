/* SPDX-License-Identifier: MIT */
/*
 * evlog: read an --events file (JSON lines) back and index it for the
 * ladder diagrams of `faultline show` and `faultline report`. Pure: the
 * caller reads the lines and hands them in one at a time; nothing here
 * opens a file, prints or looks at the clock.
 *
 * Two layers. evlog_json_* (evlog/json.h) is a small strict JSON reader
 * (one value per call, a tree in a reusable buffer). evlog_* turns event
 * lines into packets, tracker events and conversations, and lays each
 * conversation out as rows in time order: the geometry both renderers
 * share. The code lives in cli/evlog/; evlog/internal.h says which file
 * does what.
 *
 * "flow" keeps the meaning it has in the file: the packet's flow text and
 * hash, the tracker's connection number (tcp_flow, "flow"). What one
 * ladder diagram draws is a conversation (the CLI still calls it a flow:
 * `--flow N`, "== flow N").
 */
#ifndef FL_EVLOG_H
#define FL_EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evlog/json.h"

/* ---- events -------------------------------------------------------------- */

enum evlog_verdict {
	EVLOG_ACCEPT,
	EVLOG_DROP,
	EVLOG_HOLD,
};

/* TCP flag bits, as on the wire. */
enum {
	EVLOG_FIN = 0x01,
	EVLOG_SYN = 0x02,
	EVLOG_RST = 0x04,
	EVLOG_PSH = 0x08,
	EVLOG_ACK = 0x10,
	EVLOG_URG = 0x20,
	EVLOG_ECE = 0x40,
	EVLOG_CWR = 0x80,
};

struct evlog_action {
	unsigned rule;		/* its number, from 1 (a log without names counts from 0: made 1-based) */
	const char *name;	/* its name ("slow-db", "rule-3"), or "" in a log from before names */
	const char *action;	/* as written: "drop", "delay", "reorder", ... */
	int type;		/* its enum rule_action_type (act_event_lookup), -1: unknown */
	const char *reason;	/* why it dropped ("queue-full"), or "" */
};

/* One "packet" line, and what its "release" line and the tracker added. */
struct evlog_pkt {
	unsigned line;		/* 1-based line in the events file */
	double t;		/* capture time, s since faultline started */
	uint64_t pkt;		/* capture number */
	const char *proto, *flow, *flow_hash, *dir;
	unsigned way;
	uint64_t ord;
	unsigned len, plen;
	bool gso, reorder, corrupt;
	enum evlog_verdict verdict;
	double delay_us;
	unsigned copies;
	unsigned n_actions;
	struct evlog_action *actions;

	/* TCP, when the tracker numbered the segment (tcp_flow present). */
	bool tcp;
	uint64_t tcp_flow;
	uint32_t seg, seq, ack, caused_by;
	unsigned endpoint;
	unsigned flags;		/* EVLOG_SYN | ... */
	uint32_t classes;	/* TRACK_C_* bits, as captured (ingress) */
	const char *sender_state, *receiver_state;
	uint32_t egress_classes; /* how the receiver saw it after faultline ("view":"egress") */
	/*
	 * A RST faultline made ("inject" line): pkt is its cause's, its
	 * actions are the cause's, seg 0; it is not one of the endpoints'
	 * packets (not counted as sent or arrived). inj_error: the errno of
	 * a send that failed, else 0.
	 */
	bool injected;
	int inj_error;
	uint32_t egress_caused_by;

	/* Filled by evlog_finish. */
	bool released, early;	/* a held packet's "release" line */
	double rel_t;
	double arrived;	/* the kernel's receive time ("arrived"), when before t; else 0 */
	unsigned rel_line;
	uint64_t rel;
	size_t conv_idx;	/* index of its conversation */
	size_t conv_pos;	/* index in that conversation's pkts[] */
	unsigned from;		/* 0: drawn left to right, 1: right to left */
	unsigned recv_pos;	/* rank among its direction's packets in leaving order; 0: never left */
	long cause;		/* index of the packet caused_by names, or -1 */
	long egress_cause;
	long orig;		/* a retransmission: the segment it resends, or -1 */
};

enum evlog_trk_type {
	EVLOG_TRK_FLOW_NEW,
	EVLOG_TRK_TRANSITION,
	EVLOG_TRK_CLASS,
	EVLOG_TRK_FLOW_END,
};

struct evlog_summary {
	bool valid;
	const char *state[2];
	unsigned segments, retransmissions, retransmissions_faultline;
	unsigned out_of_order, out_of_order_faultline, dup_acks, dup_acks_faultline;
};

/* One tracker line: flow-new, transition, class or flow-end. */
struct evlog_trk {
	unsigned line;
	double t;
	enum evlog_trk_type type;
	uint64_t flow;
	const char *conn;	/* "A > B": endpoint 0 > endpoint 1 */
	unsigned endpoint;
	const char *old_state, *new_state;	/* transition */
	bool egress;				/* class */
	uint32_t classes, caused_by;		/* class */
	uint32_t seg;
	const char *reason;			/* flow-end */
	struct evlog_summary summary;		/* flow-end */
};

enum evlog_row_kind {
	EVLOG_ROW_SEND,		/* a packet captured (and passed, dropped or held) */
	EVLOG_ROW_RELEASE,	/* a held packet let go */
	EVLOG_ROW_STATE,	/* a tracker transition */
};

struct evlog_row {
	enum evlog_row_kind kind;
	double t;
	unsigned line;
	size_t idx;		/* packet index (SEND, RELEASE) or tracker index (STATE) */
	long pair;		/* a released packet's other row (SEND <-> RELEASE), else -1 */
};

/*
 * A conversation: a TCP connection (as the tracker numbered it) or any
 * other flow (by flow_hash: both directions together), drawn as one
 * ladder diagram. Left is the TCP client (endpoint 0) or the sender of
 * the first packet.
 */
struct evlog_conv {
	unsigned id;		/* tcp_flow for TCP; else numbered after the largest tcp_flow */
	bool tcp;
	const char *proto;	/* "tcp", "udp", "icmp", ... */
	const char *title;	/* "10.0.0.1:40000 > 10.0.0.2:5000" */
	const char *name[2];	/* left and right endpoint */
	size_t n_pkts, n_trks, n_rows;
	size_t *pkts;		/* packet indices, file order */
	size_t *trks;		/* tracker indices, file order */
	struct evlog_row *rows;	/* by time, then file order */
	unsigned first_way;
	/* TCP: each side's ISN, when its SYN was seen (else its first seq - 1). */
	bool has_isn[2];
	uint32_t isn[2];
	const char *first_state[2], *last_state[2]; /* from transitions, or NULL */
	long end;		/* tracker index of its flow-end, or -1 */
	/* Counts over its packet lines. */
	unsigned sent[2], arrived[2], dropped, held, copies, corrupted;
	unsigned retrans, retrans_faultline, out_of_order, dup_acks;
};

struct evlog;

/* Where and why evlog_add_line refused a line. */
struct evlog_error {
	unsigned line, col;	/* 1-based */
	bool json;		/* the line is not valid JSON (else: a bad event) */
	char msg[160];
};

/* An empty log. NULL + errno. */
struct evlog *evlog_new(void);
void evlog_free(struct evlog *log);

/*
 * Add the next line of the file (line numbers count calls). Blank lines,
 * unknown events and unknown keys are ignored; "verdict" and "malformed"
 * lines too (the packet lines carry the same facts). An "inject" line of
 * a RST becomes a packet of its cause's conversation (injected); of
 * another kind, or without its cause in the log, it is skipped. Returns 0, -EBADMSG
 * with *err filled (not JSON, not an object, a known event missing a
 * required field) or -ENOMEM. The log keeps what it had.
 */
int evlog_add_line(struct evlog *log, const char *line, size_t len, struct evlog_error *err);

/* Resolve releases and causes, group conversations, lay out rows. Once. 0 or -ENOMEM. */
int evlog_finish(struct evlog *log);

size_t evlog_n_pkts(const struct evlog *log);
size_t evlog_n_trks(const struct evlog *log);
size_t evlog_n_convs(const struct evlog *log);
size_t evlog_n_lines(const struct evlog *log);
/* Borrowed; valid until evlog_free. Conversations come by id: TCP connections first. */
const struct evlog_pkt *evlog_pkt(const struct evlog *log, size_t i);
const struct evlog_trk *evlog_trk(const struct evlog *log, size_t i);
const struct evlog_conv *evlog_conv(const struct evlog *log, size_t i);
/* The conversation with display id (the CLI's --flow N), or NULL. */
const struct evlog_conv *evlog_conv_by_id(const struct evlog *log, unsigned id);

/* ---- text shared by the renderers ------------------------------------------ */

/*
 * The arrow label: "SYN seq=0", "SYN+ACK seq=0 ack=1", "ACK ack=1",
 * "data seq=1 len=1448 ack=1", "FIN seq=9 ack=1", "RST seq=5", or for
 * other protocols "udp len=5". seq and ack relative to each side's ISN.
 * At most max characters: ack goes first, then the tail is cut.
 * Returns the length written (buf is always terminated when size > 0).
 */
size_t evlog_pkt_label(const struct evlog *log, const struct evlog_pkt *p, size_t max, char *buf,
		       size_t size);

#define EVLOG_NOTES_MAX 8
#define EVLOG_NOTE_LEN 128

struct evlog_notes {
	unsigned n;
	char s[EVLOG_NOTES_MAX][EVLOG_NOTE_LEN];
};

/*
 * What to write beside a packet's arrow: on its SEND row ("DROPPED by
 * rule 1", "held: delay 30.0 ms (rule 2 slow-db)", "retransmission of seg 4
 * (dropped)", ...) or on its RELEASE row ("delayed 30.1 ms", "sent #2,
 * released #4", ...). Facts about when it reached the receiver go where it
 * left: the RELEASE row of a held packet, else the SEND row.
 */
void evlog_pkt_notes(const struct evlog *log, const struct evlog_pkt *p, enum evlog_row_kind row,
		     struct evlog_notes *out);

/* Short name of a packet's identity in its conversation: "seg 4" (TCP), "#4" (ord), "made" (injected). */
size_t evlog_pkt_ident(const struct evlog_pkt *p, char *buf, size_t size);

/*
 * The packet's first action of type t (an enum rule_action_type; -1: of
 * any type), borrowed, or NULL if none.
 */
const struct evlog_action *evlog_pkt_action(const struct evlog_pkt *p, int t);
/* The number of the rule of evlog_pkt_action(p, t), or -1 if none. */
int evlog_pkt_rule(const struct evlog_pkt *p, int t);

/*
 * A rule as messages name it: "rule 2", or "rule 2 slow-db" when its name
 * is not just rule-2. Returns buf (size bytes, cut if need be).
 */
const char *evlog_rule_label(const struct evlog_action *a, char *buf, size_t size);

#endif
