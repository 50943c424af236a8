/* SPDX-License-Identifier: MIT */
/*
 * track_int: what the files of the tracker share, and nobody else. The
 * per-segment path (track.c) owns the Wireshark analysis and the state
 * machine; track_table.c owns the connection table, its two lists, expiry
 * and the events of a connection's start and end; track_rec.c owns the
 * pool of records of faultline's drops and holds.
 *
 * The table is a preallocated pool of fixed 256-byte entries chained from
 * a bucket array that grows with the connections (linear hashing) within
 * the room reserved at track_new(), as is the pool of records. Index 0
 * means "none" everywhere, so a zeroed entry is an unlinked one.
 *
 * Functions shared between the files are track__*; they follow the public
 * ones' conventions (t and the entries are the caller's, nothing fails).
 * What the per-segment path calls for every segment is static inline here
 * or lives in track.c: a call into another file is not inlined.
 */
#ifndef FL_TRACK_INT_H
#define FL_TRACK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "track.h"

/* Sequence space comparisons modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

#define seq_gt(a, b) seq_lt(b, a)
#define seq_ge(a, b) seq_le(b, a)

/* [a0, a1) and [b0, b1) share a sequence number. */
static inline bool seq_overlap(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1)
{
	return seq_lt(a0, b1) && seq_lt(b0, a1);
}

/* struct dir flags */
enum {
	D_SEEN = 1u << 0,	/* a segment of this direction was captured */
	D_ISN = 1u << 1,
	D_NXT = 1u << 2,	/* nxt valid (Wireshark nextseq != 0) */
	D_WIN = 1u << 3,
	D_ACK = 1u << 4,	/* the last segment had ACK (Wireshark lastack != 0) */
	D_FIN = 1u << 5,	/* fin_seq valid */
	D_FIN_DLV = 1u << 6,	/* the FIN went on to the receiver at least once */
	D_FIN_RCVD = 1u << 7,	/* the receiver took the FIN in sequence */
	D_RCV = 1u << 8,	/* rcv_nxt valid */
	D_OOO = 1u << 9,	/* [ooo_lo, ooo_hi) valid */
	D_MTBA = 1u << 10,	/* mtba valid */
	D_GAP_FL = 1u << 11,	/* the receiver has a gap that faultline made */
	D_DUP_FL = 1u << 12,	/* the receiver got data twice because of faultline */
	D_DATA = 1u << 13,	/* new data was sent (first-data is over) */
	D_HS_ACK = 1u << 14,	/* the handshake ACK (or SYN/ACK) was sent */
	D_BASE = 1u << 15,	/* isn holds Wireshark's base_seq (a guess unless D_ISN) */
};

/* struct dir lflags: the last segment's analysis, and options */
enum {
	L_KA = 1u << 0,
	L_ZWP = 1u << 1,
	L_SACK = 1u << 2,
	L_TS = 1u << 3,		/* sent timestamps */
	L_TS_LAST = 1u << 4,	/* ts_last valid */
	/*
	 * faultline dropped or held data of this direction that it could not
	 * record (see track__rec_add()); until its receiver has all that was
	 * captured, a gap no record explains may still be faultline's.
	 */
	L_UNREC = 1u << 5,
};

/*
 * Wireshark 4.0 stores -1 in its unsigned dupacknum when the other side
 * ACKs data never captured; the next dup ACK counts as the first, and
 * until then the value passes its ">= 2" fast-retransmission test.
 */
#define DUPACKS_RESET 0xffffu

/*
 * One direction: the stream sent by one endpoint. The ingress fields
 * describe what was captured, rcv_nxt/ooo what its receiver was given.
 * Split in two: what an established connection's every segment reads or
 * writes (struct dir; both fill one cache line), and what only the
 * handshake, the close, faultline's reordering or a reused tuple need
 * (struct dirx).
 */
struct dir {
	uint32_t nxt;		/* highest seq+len(+SYN/FIN) captured */
	uint32_t mtba;		/* Wireshark maxseqtobeacked: end of the contiguous part */
	uint32_t last_ack;	/* ack field of the last segment */
	uint32_t rcv_nxt;	/* the receiver's RCV.NXT for this stream */
	uint32_t last_t;	/* ticks of the last segment captured */
	uint32_t nxt_t;		/* ticks when nxt last moved */
	uint16_t win;		/* raw window of the last segment */
	uint16_t dupacks;	/* DUPACKS_RESET after an ACK of unseen data */
	uint16_t flags;
	uint8_t lflags;
	/*
	 * Of the endpoint sending this direction, when it is far (X_FAR):
	 * 1 + its state before the last receipt of a pure ACK or RST moved
	 * it, which its next segment may show it had not had; 0 = none.
	 */
	uint8_t undo;
};

struct dirx {
	uint32_t isn;
	uint32_t fin_seq;
	uint32_t ooo_lo, ooo_hi; /* one block the receiver holds past rcv_nxt */
	uint32_t ts_last;	/* last TSval, from the close on (see note_segment()) */
	uint16_t mss;
	int8_t wscale;		/* from the SYN; -1 absent */
	uint8_t xflags;		/* X_* */
};

/* struct dirx xflags: of the endpoint that sends this direction */
enum {
	/*
	 * Far from the capture point (track_config.far_end): its receipts
	 * of the peer's FIN wait for its own acknowledgement (track.h).
	 */
	X_FAR = 1u << 0,
};

/* connection cflags */
enum {
	CF_PICKUP = 1u << 0,
	CF_REUSE = 1u << 1,
	CF_TIMER = 1u << 2,	/* on the timer list, tkey is a deadline */
	CF_SYN_T = 1u << 3,	/* irtt holds the tick of the last SYN */
	CF_IRTT = 1u << 4,	/* irtt holds the initial RTT */
	CF_PASSIVE0 = 1u << 5,	/* endpoint 0 went to SYN_RECEIVED from LISTEN; << 1: endpoint 1 */
	CF_REC = 1u << 7,	/* has records (nrec > 0): spares a cold line per release */
};

/* struct rec flags */
enum {
	R_DIR1 = 1u << 0,	/* sent by endpoint 1 */
	R_ACK = 1u << 1,	/* a pure ACK: seq holds its ack */
	R_HOLD = 1u << 2,	/* held by faultline (else dropped) */
};

/*
 * What faultline did to a segment, so that the retransmission or dup ACK
 * it provokes can name it. Records live in a pool of their own, not in the
 * connection's entry: a bulk transfer under loss has dozens of drops
 * outstanding at once, far more than 256 bytes could hold, while most
 * connections have none. A connection chains its records newest first.
 */
struct rec {
	uint32_t seq, end;
	uint32_t segno;
	uint32_t next;		/* the connection's next older record; free list */
	uint8_t flags;
	uint8_t pad[3];
};

/*
 * One connection's entry. The first cache line holds what every packet
 * reads (the key and the bucket chain, states, id, activity time), the
 * second the directions' per-segment fields, the third the packet's
 * identity, the caller's slot and the lists, the last what rare paths
 * need. A segment of an established connection touches lines 0 to 2 only;
 * a lookup that passes another connection of its bucket touches only that
 * one's line 0.
 */
struct conn {
	uint8_t addr[2][16];	/* endpoint 0, endpoint 1 */
	uint16_t port[2];
	uint8_t family;
	uint8_t cflags;
	uint8_t st[2];		/* enum tcpstate */
	uint32_t hnext;		/* bucket chain; free list */
	uint32_t nsegs;
	uint64_t id;
	uint64_t tkey;		/* live: last activity, within gran; timer: deadline */

	struct dir d[2];

	/* line 2: also read or written by every segment */
	uint64_t ident;		/* pkt_flow_hash() of the tuple: its packets' seeded identity */
	uint32_t nsegs0;	/* of nsegs, those endpoint 0 sent (the ordinal's count) */
	uint8_t ways;		/* bit e: flow_id.way of endpoint e's segments */
	uint8_t nrec;		/* records on rhead's list */
	uint16_t last_rel;	/* low bits of the segno released last: tells a copy */
	uint8_t slot[TRACK_SLOT_BYTES];	/* the caller's (track_seg.slot) */
	uint32_t lprev, lnext;
	uint32_t irtt;		/* ticks; see CF_SYN_T and CF_IRTT */
	uint16_t reached[2];
	uint32_t rhead;		/* newest record; 0 = none */
	uint32_t n_rec_lost;	/* faultline actions it could not remember */
	uint32_t n_retrans, n_retrans_fl;

	/* line 3: rare paths */
	uint32_t n_ooo, n_ooo_fl;
	uint32_t n_dupack, n_dupack_fl;
	struct dirx x[2];
};

_Static_assert(sizeof(struct conn) <= 256, "a connection entry must fit in 256 bytes");
_Static_assert(sizeof(struct conn) == 256, "entries start on a cache line");
_Static_assert(offsetof(struct conn, d) == 64, "the hot fields fill cache line 0");
_Static_assert(offsetof(struct conn, ident) == 128, "the directions fill cache line 1");
_Static_assert(offsetof(struct conn, n_ooo) == 192, "what every segment touches ends in line 2");

/*
 * Every entry in use is on one of two lists: 'live' ordered by last
 * activity (idle expiry, eviction), or 'timer' ordered by deadline
 * (TIME_WAIT, or a closed connection lingering so that late segments are
 * still recognised as stale). Deadlines are now + a constant and now never
 * goes back, so appending keeps both lists sorted. A live connection moves
 * to the tail at most once per 'gran' (idle/64): moving it for every
 * packet costs cache misses on its list neighbours, and idle expiry only
 * needs to be that precise.
 */
struct list {
	uint32_t head, tail;
};

struct track {
	struct track_config cfg;
	struct conn *pool;	/* cap + 1 entries; [0] is never used */
	uint32_t *bucket;	/* nbmax reserved, [0, nb) in use */
	uint32_t nbmax;		/* a power of two >= cap */
	uint32_t nb;
	uint32_t lmask;		/* 2^L - 1 for the 2^L <= nb < 2^(L+1) of linear hashing */
	uint32_t cap;
	uint32_t hwm;		/* entries [1, hwm] were handed out once */
	uint32_t free_head;
	struct list live, timer;
	uint64_t gran;		/* live list resolution */
	uint64_t next_id, id_stride;
	uint64_t t0;
	bool t0_set;
	struct rec *rec;	/* rcap + 1 records; [0] is never used */
	uint32_t rcap;
	uint32_t rhwm;		/* records [1, rhwm] were handed out once */
	uint32_t rfree;
	uint32_t rholds;	/* hold records in use */
	track_event_cb cb;
	void *cb_data;
	struct track_stats st;
};

/* The segment being processed, for events; v is NULL for a timer. */
struct segctx {
	uint64_t now;
	const struct pkt_view *v;
	uint32_t segno;
};

/* ---- hashing: the per-segment lookup and the table's upkeep ---- */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

static inline uint32_t load32(const uint8_t *p)
{
	uint32_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

/* One endpoint in 64 bits: exact for IPv4, folded for IPv6. */
static inline uint64_t ep_key(uint8_t family, const uint8_t *a, uint16_t port)
{
	if (family == 4)
		return (uint64_t)load32(a) << 16 | port;
	return (load64(a) ^ load64(a + 8)) * 0x9e3779b97f4a7c15ull + port;
}

/*
 * Ordering the two endpoints makes both directions hash alike.
 * pkt_flow_hash() would do that too, but byte-wise FNV over the whole key
 * costs as much as the rest of the lookup; this is three multiplies.
 */
static inline uint32_t tuple_hash(uint8_t family, const uint8_t *a, uint16_t ap,
				  const uint8_t *b, uint16_t bp)
{
	uint64_t x = ep_key(family, a, ap), y = ep_key(family, b, bp);
	uint64_t lo = x < y ? x : y, hi = x ^ y ^ lo;
	uint64_t h = (lo ^ family) * 0x9e3779b97f4a7c15ull + hi * 0xc2b2ae3d27d4eb4full;

	/*
	 * The top bits of a product depend on every bit of its input, the low
	 * ones only on the input's low bits; linear hashing takes low bits of
	 * the result, so fold and multiply again and keep the top half.
	 */
	return (uint32_t)(((h ^ (h >> 32)) * 0x9e3779b97f4a7c15ull) >> 32);
}

/*
 * Linear hashing: the bucket array grows one bucket at a time with the
 * number of connections (see bucket_grow()), so that its cache footprint
 * is that of the connections present, not of the table's capacity. At 10k
 * connections in a table for 262144 the buckets take 80 KB instead of
 * 1 MB, and the lookup finds its bucket in cache instead of missing twice
 * (bucket, entry).
 */
static inline uint32_t hash_bucket(const struct track *t, uint32_t h)
{
	uint32_t b = h & (2 * t->lmask + 1);

	return b < t->nb ? b : h & t->lmask;
}

static inline uint32_t tuple_bucket(const struct track *t, uint8_t family,
				    const uint8_t *a, uint16_t ap,
				    const uint8_t *b, uint16_t bp)
{
	return hash_bucket(t, tuple_hash(family, a, ap, b, bp));
}

static inline uint32_t conn_hash(const struct conn *cn)
{
	return tuple_hash(cn->family, cn->addr[0], cn->port[0], cn->addr[1], cn->port[1]);
}

/* ---- entries and their states ---- */

static inline struct list *conn_list(struct track *t, const struct conn *cn)
{
	return (cn->cflags & CF_TIMER) ? &t->timer : &t->live;
}

static inline uint32_t conn_idx(const struct track *t, const struct conn *cn)
{
	return (uint32_t)(cn - t->pool);
}

static inline bool closedish(uint8_t s)
{
	return s == TCPSTATE_CLOSED || s == TCPSTATE_LISTEN || s == TCPSTATE_TIME_WAIT;
}

/* No endpoint holds a live connection any more. */
static inline bool conn_finished(const struct conn *cn)
{
	return closedish(cn->st[0]) && closedish(cn->st[1]);
}

/* Idle long enough: its last segment came before tkey + gran. */
static inline bool idle_due(const struct track *t, const struct conn *cn, uint64_t now)
{
	return t->cfg.idle_ns && cn->tkey + t->cfg.idle_ns + t->gran <= now;
}

static inline void conn_addrs(const struct conn *cn, struct track_addrs *a)
{
	a->family = cn->family;
	memcpy(a->addr, cn->addr, sizeof(a->addr));
	a->port[0] = cn->port[0];
	a->port[1] = cn->port[1];
}

/* A state the entry starts in: no transition, no event. */
static inline void init_state(struct conn *cn, int e, uint8_t s)
{
	cn->st[e] = s;
	cn->reached[e] |= TRACK_STATE_BIT(s);
}

/* ---- track.c: events of the per-segment path ---- */

/* Fill ev for cn with the segment c describes (none for a timer). */
void track__ev_init(const struct track *t, const struct conn *cn,
		    enum track_ev_type type, const struct segctx *c,
		    struct track_event *ev);
/* Move endpoint e of cn to state s, with its event; TIME_WAIT arms 2*MSL. */
void track__set_state(struct track *t, struct conn *cn, int e, uint8_t s,
		      const struct segctx *c);

/* ---- track_table.c: the table, the lists and expiry ---- */

void track__list_unlink(struct track *t, struct list *l, uint32_t idx);
void track__list_append(struct track *t, struct list *l, uint32_t idx);
/* (Re)start cn's 2*MSL deadline from now: it moves to the timer list. */
void track__timer_arm(struct track *t, struct conn *cn, uint64_t now);
/*
 * The deadline of the entry at idx passed: its TIME_WAIT endpoints close;
 * the entry ends if no endpoint is left, else goes back to the live list.
 */
void track__timer_expire(struct track *t, uint32_t idx, uint64_t now);
/* End the entry at idx (event, counters) and give it back to the pool. */
void track__conn_end(struct track *t, uint32_t idx, enum track_end_reason why,
		     uint64_t now);
/*
 * A new entry for v's tuple, hashed and on the live list; evicts the
 * least valuable connection when the table is full. Endpoint 0 is v's
 * sender unless zero_is_dst. Returns its index, never 0.
 */
uint32_t track__conn_insert(struct track *t, const struct pkt_view *v, bool zero_is_dst,
			    uint64_t now);
/*
 * Give a fresh or reused entry its id and first states from the segment
 * that opens it (e is the sender), with its TRACK_EV_CONN_NEW. Returns the
 * classes this adds.
 */
uint32_t track__conn_start(struct track *t, struct conn *cn, int e,
			   const struct pkt_view *v, const struct segctx *c);
/*
 * A SYN with a new ISN on a known tuple: end the connection (reason
 * REUSED) and clear its entry for the next one, whose sender is endpoint
 * 0. The entry keeps its index and bucket. Returns the new sender (0).
 */
int track__conn_reincarnate(struct track *t, struct conn *cn, const struct pkt_view *v,
			    const struct segctx *c);

/* ---- track_rec.c: records of what faultline did ---- */

/* Remember that faultline dropped (or with hold, holds) seg of cn. */
void track__rec_add(struct track *t, struct conn *cn, const struct track_seg *seg, bool hold);
/*
 * Forget the records of segment segno (only holds if holds_only). Returns
 * whether there was one.
 */
bool track__rec_forget(struct track *t, struct conn *cn, uint32_t segno, bool holds_only);
/* Give back every record of cn, whose entry is freed or reused. */
void track__rec_free_all(struct track *t, struct conn *cn);
/* The oldest data record of endpoint e overlapping [lo, hi); 0 if none. */
uint32_t track__rec_data_overlap(const struct track *t, const struct conn *cn, int e,
				 uint32_t lo, uint32_t hi);
/* The drop or hold a resend of [seq, end) by e repairs (its segno); 0 if none. */
uint32_t track__rec_resent(const struct track *t, const struct conn *cn, int e,
			   uint32_t seq, uint32_t end);
/*
 * The faultline action a retransmission of [seq, end) by e answers: its
 * own lost or held copy, else a lost or held ACK of the peer. 0 if none.
 */
uint32_t track__blame_retrans(const struct track *t, const struct conn *cn, int e,
			      uint32_t seq, uint32_t end);
/* Forget the drops e's receiver has now been given (v was just delivered). */
void track__rec_repaired(struct track *t, struct conn *cn, int e, const struct pkt_view *v);

#endif
