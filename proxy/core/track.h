/* SPDX-License-Identifier: MIT */
/*
 * track: the shadow TCP state tracker. It follows every TCP connection that
 * passes the proxy, keeps the RFC 9293 state of each endpoint and classifies
 * every segment. Pure: no I/O, no clock (time comes in as CLOCK_MONOTONIC
 * nanoseconds), no allocation after track_new().
 *
 * Two views of each segment:
 *  - ingress, at capture, before the verdict: classification as Wireshark
 *    would make it on a capture taken where packets enter the proxy, plus
 *    the sender-side transitions (sending SYN, FIN or RST);
 *  - egress, when the segment goes on to its receiver (track_released()),
 *    in release order: the receiver-side transitions (SYN_RECEIVED,
 *    CLOSE_WAIT, FIN_WAIT_2, CLOSING, TIME_WAIT, LAST_ACK -> CLOSED) and
 *    what the receiver sees out of order because of faultline.
 * A dropped segment (track_dropped()) never reaches the egress view.
 *
 * Rule conditions read the states in struct track_seg: 'state S' is the
 * state of the endpoint the segment arrives at, before it arrives
 * (receiver_state); 'peer-state S' is the sender's (sender_state).
 */
#ifndef FL_TRACK_H
#define FL_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "tcpstate.h"

struct track;

/* The defaults of track_config_default(), which run, replay and the usage text share. */
#define TRACK_DEFAULT_TIME_WAIT_NS (60ull * 1000000000ull)
#define TRACK_DEFAULT_IDLE_NS (300ull * 1000000000ull)
#define TRACK_DEFAULT_MAX_CONNS 262144u

struct track_config {
	uint64_t time_wait_ns;	/* 2*MSL (TRACK_DEFAULT_TIME_WAIT_NS). Closed connections linger as long */
	uint64_t idle_ns;	/* idle expiry, to within idle/64 (TRACK_DEFAULT_IDLE_NS); 0 = never */
	uint32_t max_conns;	/* table capacity (TRACK_DEFAULT_MAX_CONNS) */
	/*
	 * Records of faultline's drops and holds, which caused_by names: a
	 * pool shared by all connections (default 65536, 20 bytes each;
	 * 0 = keep none) and a cap per connection (default 64, 1 to 255).
	 * See track_dropped().
	 */
	uint32_t max_records;
	uint32_t records_per_conn;
	/*
	 * The segments come from a capture (replay), not through faultline:
	 * the capture point need not be at the receiver. See "The far end"
	 * below. false (the default, and live) takes every segment as
	 * received when it is released.
	 */
	bool far_end;
	/*
	 * Connection ids: id_first, then every id_stride-th (0 stands for 1
	 * and 1). Trackers of several queues of one run number theirs
	 * 1, 1+N, ... / 2, 2+N, ... so that the run's ids stay unique.
	 */
	uint64_t id_first, id_stride;
};

/*
 * The far end (far_end set; issue 17). A capture taken on one host sees
 * that host's segments leave before the peer receives them and the peer's
 * segments after the peer sent them, up to an RTT earlier. Taking capture
 * (release) time as the receive time then gets the far endpoint wrong: in
 * a simultaneous close captured at the client, the server's FIN acks the
 * client's data but not its FIN, yet the client's FIN was captured first,
 * and the server would be taken to CLOSE_WAIT and LAST_ACK where its
 * kernel went FIN_WAIT_1, CLOSING (or FIN_WAIT_2), TIME_WAIT.
 *
 * Which end a connection was captured at is inferred from its handshake,
 * as tshark splits its initial RTT: near the client the SYN -> SYN+ACK gap
 * is the RTT and SYN+ACK -> ACK is the client's turnaround; near the server
 * the other way round. The endpoint on the longer side is far. A tie, a
 * connection picked up mid-stream or without a complete handshake: no
 * endpoint is far and nothing changes. (A capture on a router between
 * them makes the more distant endpoint far.)
 *
 * For a far endpoint, the receipts that change its state wait for, or
 * answer to, evidence from its own segments:
 *  - a FIN reaches it when a segment it sends acknowledges the FIN (ACK
 *    beyond the FIN's sequence number); until then the FIN is in flight,
 *    and its segments are taken as sent in the state it had;
 *  - a pure ACK or a RST, which no ACK field confirms, is taken when
 *    released, as before; but the endpoint's next segment, if it could not
 *    have sent it in the state that receipt gave (its FIN again once the
 *    FIN was acknowledged, a SYN+ACK once established, anything but a RST
 *    or a new SYN once closed), shows it had not received it: it goes back
 *    to the state before, with a transition event of its own marked
 *    retracted, and the next copy moves it again;
 *  - with the capture point given (track_capture_point()) from the SYN
 *    on, a SYN reaches it when it answers with its SYN+ACK, a SYN+ACK (in
 *    SYN_SENT) when it sends its ACK. Inferred, the far end is known only
 *    at the handshake's end, after those receipts, which stay at capture:
 *    waiting for the answer of both endpoints until then would change the
 *    near one's states where the capture order is right (its handshake ACK
 *    would be sent from SYN_SENT), and at capture the far endpoint's answer
 *    is described in the state it was sent in; only the far receipt's time
 *    is early, by up to the far side's round trip.
 * What the near endpoint receives after the handshake, and every class of
 * the Wireshark-style analysis (which describes the wire at the capture
 * point), are unchanged; so are live runs, where far_end is false.
 *
 * The caller may know the capture point instead (replay's --local):
 * track_capture_point() overrides the inference, and covers connections
 * picked up mid-stream.
 *
 * Not done: window and timestamps as evidence; a receipt taken back
 * leaves the state it had reached in the summary's "reached".
 */

/* Fill c with the defaults above. */
void track_config_default(struct track_config *c);

/*
 * Allocate a tracker with room for c->max_conns connections (c is
 * copied). The table and the record pool are reserved up front; pages are
 * touched as connections arrive. Returns NULL with errno EINVAL (max_conns
 * 0 or above 1 << 26, max_records above 1 << 26, records_per_conn 0 or
 * above 255) or ENOMEM.
 */
struct track *track_new(const struct track_config *c);
/* Free the tracker. No events are emitted; NULL-safe. */
void track_free(struct track *t);
/* Bytes of one connection entry (at most 256), for sizing and benchmarks. */
size_t track_entry_size(void);
/* Bytes t reserved (entries, buckets, records), resident or not. */
size_t track_reserved_bytes(const struct track *t);

/*
 * Segment classes, a uint32_t mask in struct track_seg. The analysis ones
 * are tshark's (tcp.analysis.*) on a capture where packets enter the proxy:
 *  RETRANSMISSION          also set with FAST and SPURIOUS, as tshark does
 *  OUT_OF_ORDER            fills a gap soon after it opened
 *  GAP                     starts beyond the next expected byte (tshark:
 *                          lost_segment, "previous segment not captured")
 * What faultline's own reordering does to the receiver is reported at
 * release, as TRACK_EV_CLASS events with egress set (see track_event).
 *  HANDSHAKE               SYN, SYN/ACK, or the ACK completing the handshake
 *  NEW_DATA                payload that advances the sequence
 *  FIRST_DATA              first new data of a direction after the handshake
 *  PURE_ACK                no payload or SYN/FIN/RST, and none of the other
 *                          ACK kinds (dup, window update, keep-alive ACK...)
 *  STALE                   for a connection whose endpoints are all in
 *                          TIME_WAIT or CLOSED, or a SYN a TIME_WAIT peer
 *                          will refuse
 *  PICKUP                  first segment of a connection seen mid-stream
 *  REUSE                   SYN that started a new connection on a known
 *                          tuple (tshark: reused_ports)
 */
enum track_class {
	TRACK_C_HANDSHAKE = 1u << 0,
	TRACK_C_NEW_DATA = 1u << 1,
	TRACK_C_FIRST_DATA = 1u << 2,
	TRACK_C_PURE_ACK = 1u << 3,
	TRACK_C_WINDOW_UPDATE = 1u << 4,
	TRACK_C_KEEPALIVE = 1u << 5,
	TRACK_C_RETRANSMISSION = 1u << 6,
	TRACK_C_FAST_RETRANSMISSION = 1u << 7,
	TRACK_C_SPURIOUS_RETRANSMISSION = 1u << 8,
	TRACK_C_OUT_OF_ORDER = 1u << 9,
	TRACK_C_DUP_ACK = 1u << 10,
	TRACK_C_ZERO_WINDOW_PROBE = 1u << 11,
	TRACK_C_ZERO_WINDOW = 1u << 12,
	TRACK_C_SYN = 1u << 13,		/* without ACK */
	TRACK_C_SYN_ACK = 1u << 14,
	TRACK_C_FIN = 1u << 15,
	TRACK_C_RST = 1u << 16,
	TRACK_C_STALE = 1u << 17,
	TRACK_C_PICKUP = 1u << 18,
	TRACK_C_REUSE = 1u << 19,
	TRACK_C_GAP = 1u << 20,
	TRACK_C_KEEPALIVE_ACK = 1u << 21,
	TRACK_C_ZERO_WINDOW_PROBE_ACK = 1u << 22,
};
#define TRACK_C__COUNT 23

/* "retransmission", "dup-ack", ... for one bit; "?" otherwise. Static string. */
const char *track_class_name(uint32_t single_bit);

/*
 * What track_ingress() tells about one segment. The caller keeps it with the
 * packet and passes it back to track_dropped/altered/released. Fields with
 * a leading underscore are the tracker's.
 */
#define TRACK_SLOT_BYTES 16

struct track_seg {
	uint64_t conn;		/* connection id, unique per incarnation; 0 = none */
	uint32_t segno;		/* 1-based, both directions together, capture order */
	uint32_t classes;	/* enum track_class bits */
	uint32_t caused_by;	/* segno of the faultline drop/hold it answers; 0 = none */
	uint32_t ordinal;	/* 1-based count of the sender's segments in this connection */
	uint64_t ident;		/* flow_id.hash of the tuple (pkt_flow_hash, never 0) */
	uint8_t way;		/* flow_id.way of this segment */
	/*
	 * TRACK_SLOT_BYTES of the connection's entry that are the caller's:
	 * zeroed when a connection starts, else left alone. faultline's
	 * rules keep their filter memo there (rule_memo). Valid until the
	 * next call into the tracker.
	 */
	void *slot;
	uint8_t endpoint;	/* sender: 0 = client (first sender if picked up) */
	uint8_t sender_state;	/* enum tcpstate before this segment: rule 'peer-state S' */
	uint8_t receiver_state;	/* enum tcpstate before it arrives: rule 'state S' */
	bool has_off;		/* off is known: the sender's stream start (ISN) was seen or guessed */
	/*
	 * Where seq is in the sender's stream: bytes from its first one after
	 * the SYN (a SYN is at 0xffffffff), modulo 2^32. A connection picked up
	 * mid-stream counts from its first captured byte. Rule 'from-byte N'.
	 */
	uint32_t off;
	uint8_t _flags;
	uint32_t _seq, _end, _ack;
	uint32_t _slot;
};

/*
 * Track one captured TCP segment, once, before the verdict. v is borrowed.
 * Fills seg. Returns 0, or -EINVAL if v is not a parsed TCP segment (seg is
 * then zeroed and the other calls ignore it).
 */
int track_ingress(struct track *t, const struct pkt_view *v, uint64_t now_ns,
		  struct track_seg *seg);

/*
 * Optional: start loading what track_ingress() will read for v's
 * connection. A caller with a burst of parsed packets can call it a few
 * packets ahead of their track_ingress(), so that the cache miss of one
 * connection's entry overlaps the work on the others. No effect on any
 * result.
 */
void track_prefetch(const struct track *t, const struct pkt_view *v);

/*
 * faultline dropped the segment: its receiver never sees it. The drop is
 * recorded (a data segment, SYN or FIN by its sequence range; a pure ACK by
 * its ack) until the receiver has what it carried, so that the
 * retransmission, out-of-order resend or dup ACK it provokes names it in
 * caused_by. Records beyond the per-connection cap push out the
 * connection's newest hold, else its oldest drop; with the pool used up, a
 * drop takes one of the connection's holds or goes unrecorded. Both are
 * counted (track_stats, summary records_lost).
 */
void track_dropped(struct track *t, const struct track_seg *seg,
		   const struct pkt_view *v, uint64_t now_ns);

enum track_alter {
	TRACK_ALT_DELAYED = 1u << 0,
	TRACK_ALT_REORDERED = 1u << 1,
	TRACK_ALT_DUPLICATED = 1u << 2,
	TRACK_ALT_CORRUPTED = 1u << 3,
};
/*
 * faultline holds or changes the segment ('what': enum track_alter bits).
 * Delayed/reordered segments are remembered until released, so what the
 * other side does meanwhile is blamed on them. A hold is recorded only
 * while its connection is below the per-connection cap and holds fill at
 * most half the pool: 'delay' on every packet must not crowd out the
 * drops, whose records are the only trace of them, while a hold ends by
 * itself at its release. Release each copy of a duplicated segment with
 * track_released(), right after the original: a segment released twice in
 * a row is how the tracker tells faultline's copy from the sender's resend.
 * A corruption the receiver will discard (bad checksum) should be reported
 * with track_dropped().
 */
void track_altered(struct track *t, const struct track_seg *seg, uint32_t what);

/*
 * The capture holding seg was taken on the host of seg's sender
 * (at_sender) or of its receiver, as the caller knows (replay's --local):
 * the other endpoint is far ("The far end" above), whatever the handshake
 * says. Only with far_end; a segment of no connection still there is
 * ignored.
 */
void track_capture_point(struct track *t, const struct track_seg *seg, bool at_sender);

/*
 * The segment goes on to its receiver now (at once or after a hold). The
 * receiver-side transitions happen here, in release order. v is borrowed.
 */
void track_released(struct track *t, const struct track_seg *seg,
		    const struct pkt_view *v, uint64_t now_ns);

/* A RST faultline sends to one endpoint of a connection (track_reset()). */
struct track_rst {
	bool send;		/* the endpoint holds a connection a RST can end */
	uint32_t seq, ack;	/* what the RST carries */
};

/*
 * faultline resets seg's connection (seg was dropped, or cut short and
 * released): rst[0] is the RST to seg's sender, rst[1] to its receiver.
 * The caller fills both from the segment first; the tracker then puts in
 * what it knows: the sequence number each endpoint takes as RCV.NXT (the
 * peer's data as released), the ACK its SYN_SENT state wants, and no RST
 * to an endpoint in LISTEN, CLOSED or TIME_WAIT. Both endpoints move to
 * CLOSED (LISTEN for a passive SYN_RECEIVED), with their transition
 * events. Returns 0, or -ENOENT when the tracker no longer has that
 * connection (rst is left as the caller filled it).
 */
int track_reset(struct track *t, const struct track_seg *seg, const struct pkt_view *v,
		uint64_t now_ns, struct track_rst rst[2]);

/* Expire TIME_WAIT/closed and idle connections due by now. O(1) if none. */
void track_expire(struct track *t, uint64_t now_ns);

enum track_end_reason {
	TRACK_END_TIME_WAIT = 0,	/* TIME_WAIT (2*MSL) ran out */
	TRACK_END_CLOSED,		/* closed (RST, or LAST_ACK done) and lingered */
	TRACK_END_IDLE,
	TRACK_END_EVICTED,		/* the table was full */
	TRACK_END_REUSED,		/* a SYN started a new connection on the tuple */
};

/* Both endpoints of a connection: [0] is endpoint 0. family is 4 or 6. */
struct track_addrs {
	uint8_t family;
	uint8_t addr[2][16];
	uint16_t port[2];
};

/* bit (1 << enum tcpstate) */
#define TRACK_STATE_BIT(s) (1u << (s))

struct track_summary {
	uint64_t conn;
	struct track_addrs addrs;
	uint16_t reached[2];	/* TRACK_STATE_BIT of every state each endpoint was in */
	uint8_t state[2];	/* current enum tcpstate */
	bool pickup;		/* first seen mid-stream */
	bool reuse;		/* started by a SYN on a used tuple */
	uint32_t segments;
	uint32_t retransmissions, retransmissions_faultline;
	/*
	 * _faultline: those faultline caused, counted only where it acted. A
	 * retransmission or out-of-order resend whose caused_by names its
	 * drop or hold. Out-of-order also counts a segment that arrives out
	 * of order at the receiver because faultline dropped or holds what
	 * comes before it. A dup ACK while the receiver has such a gap, or
	 * got data twice because of faultline (its copy, a segment it held,
	 * a resend of bytes it dropped or holds). Loss elsewhere, before or
	 * after the capture point, counts in the totals only.
	 */
	uint32_t out_of_order, out_of_order_faultline;
	uint32_t dup_acks, dup_acks_faultline;
	uint32_t records_lost;	/* its drops/holds the tracker could not remember */
	struct {
		uint16_t mss;	/* from its SYN; 0 = none seen */
		int8_t wscale;	/* from its SYN; -1 = absent or not seen */
		bool sack_ok;	/* SACK permitted in its SYN */
		bool ts;	/* sent timestamps */
	} opt[2];		/* what each endpoint's segments carried */
};

enum track_ev_type {
	TRACK_EV_TRANSITION = 0,
	TRACK_EV_CLASS,		/* a classification worth a line */
	TRACK_EV_CONN_NEW,	/* "flow-new" in the event log */
	TRACK_EV_CONN_END,	/* "flow-end" in the event log */
};

struct track_event {
	enum track_ev_type type;
	uint64_t t_ns;		/* now - the first time the tracker saw */
	uint64_t conn;
	struct track_addrs addrs;
	uint32_t seg;		/* segment number that caused it; 0 = a timer */
	uint8_t endpoint;	/* TRANSITION: who moved; CLASS: the sender */
	uint8_t old_state, new_state;	/* TRANSITION */
	/*
	 * TRANSITION: takes back a receipt the tracker had taken for a far
	 * endpoint ("The far end" above): new_state is the state before it.
	 */
	bool retracted;
	bool egress;		/* CLASS: seen at release (the receiver's view) */
	uint32_t classes;	/* CLASS: the segment's classes */
	uint32_t caused_by;	/* CLASS */
	enum track_end_reason reason;	/* FLOW_END */
	const struct track_summary *summary; /* FLOW_END: final, borrowed */
	bool has_seg;		/* the fields below are valid */
	uint32_t seq, ack, len;
	uint8_t tcp_flags;
};

/* ev and its summary are borrowed for the call. Do not call back into t. */
typedef void (*track_event_cb)(void *data, const struct track_event *ev);
/* Set (or with NULL clear) the event callback. */
void track_set_event_cb(struct track *t, track_event_cb cb, void *data);

/* No event or summary needs more bytes than this, with the final NUL. */
#define TRACK_JSON_MAX 2048

/*
 * Format ev as one JSON object without newline. Returns the length it
 * needed, like snprintf (output truncated if >= size).
 */
int track_event_json(const struct track_event *ev, char *buf, size_t size);

/* s is borrowed for the call. Do not call back into t. */
typedef void (*track_conn_cb)(void *data, const struct track_summary *s);
/* Call cb for each connection in the table (live, TIME_WAIT and closed). */
void track_foreach(struct track *t, track_conn_cb cb, void *data);
/* Format s as one JSON object, like track_event_json(). */
int track_summary_json(const struct track_summary *s, char *buf, size_t size);

struct track_stats {
	uint64_t conns_active;
	uint64_t conns_created;
	uint64_t evicted;
	uint64_t expired_time_wait;	/* TIME_WAIT and closed lingering ran out */
	uint64_t expired_idle;
	uint64_t reused;
	uint64_t segments;
	uint64_t records_in_use;	/* drops and holds remembered now */
	uint64_t records_lost_pool;	/* not remembered: the pool was used up */
	uint64_t records_lost_cap;	/* not remembered: its connection had records_per_conn */
};
void track_get_stats(const struct track *t, struct track_stats *st);
/*
 * Format st as one JSON object, like track_event_json(): the keys of the
 * exit statistics' "tcp" object.
 */
int track_stats_json(const struct track_stats *st, char *buf, size_t size);

#endif
