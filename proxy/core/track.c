// SPDX-License-Identifier: MIT
/*
 * track: the shadow TCP state tracker (see track.h for the two views).
 *
 * The table is a preallocated pool of fixed 256-byte entries chained from a
 * bucket array that grows with the flows (linear hashing) within the room
 * reserved at track_new(), as is a pool of records of faultline's drops and
 * holds. Index 0 means "none" everywhere, so a zeroed entry is an unlinked
 * one. Every entry is on one of two lists: 'live' ordered by last activity
 * (idle expiry, eviction), or 'timer' ordered by deadline (TIME_WAIT, or a
 * closed flow lingering so that late segments are still recognised as
 * stale). Deadlines are now + a
 * constant and now never goes back, so appending keeps both lists sorted.
 * A live flow moves to the tail at most once per 'gran' (idle/64): moving
 * it for every packet costs cache misses on its list neighbours, and idle
 * expiry only needs to be that precise.
 *
 * The ingress classification is Wireshark 4.0's
 * tcp_analyze_sequence_number() (the tshark of Debian 12, which the
 * integration tests compare with), check for check. Its per-direction state
 * fits in fixed fields because 4.0 never searches its unacked-segment list
 * to classify. Wireshark uses 0 as "unset"; here flags do, so a sequence
 * number of 0 is an ordinary one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hot.h"
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

/*
 * Per-direction times are kept in 32-bit microseconds, the resolution of a
 * pcap, so that the 20 ms and initial-RTT windows cut where tshark cuts.
 * They are only ever subtracted (wrap-safe below 71 minutes), and 32 bits
 * keep the entry within 256 bytes.
 */
#define FASTRT_TICKS 20000u
#define OOO_DEFAULT_TICKS 3000u

static inline uint32_t tick(uint64_t ns)
{
	return (uint32_t)(ns / 1000);
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
	 * record (see rec_add()); until its receiver has all that was
	 * captured, a gap no record explains may still be faultline's.
	 */
	L_UNREC = 1u << 5,
};

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
	uint8_t pad;
};

struct dirx {
	uint32_t isn;
	uint32_t fin_seq;
	uint32_t ooo_lo, ooo_hi; /* one block the receiver holds past rcv_nxt */
	uint32_t ts_last;	/* last TSval, from the close on (see note_segment()) */
	uint16_t mss;
	int8_t wscale;		/* from the SYN; -1 absent */
	uint8_t pad;
};

/* flow fflags */
enum {
	F_PICKUP = 1u << 0,
	F_REUSE = 1u << 1,
	F_TIMER = 1u << 2,	/* on the timer list, tkey is a deadline */
	F_SYN_T = 1u << 3,	/* irtt holds the tick of the last SYN */
	F_IRTT = 1u << 4,	/* irtt holds the initial RTT */
	F_PASSIVE0 = 1u << 5,	/* endpoint 0 went to SYN_RECEIVED from LISTEN */
	F_REC = 1u << 7,	/* has records (nrec > 0): spares a cold line per release */
};

/* struct rec flags */
enum {
	R_DIR1 = 1u << 0,	/* sent by endpoint 1 */
	R_ACK = 1u << 1,	/* a pure ACK: seq holds its ack */
	R_HOLD = 1u << 2,	/* held by faultline (else dropped) */
};

/*
 * Wireshark 4.0 stores -1 in its unsigned dupacknum when the other side
 * ACKs data never captured; the next dup ACK counts as the first, and
 * until then the value passes its ">= 2" fast-retransmission test.
 */
#define DUPACKS_RESET 0xffffu

/*
 * What faultline did to a segment, so that the retransmission or dup ACK
 * it provokes can name it. Records live in a pool of their own, not in the
 * flow entry: a bulk transfer under loss has dozens of drops outstanding
 * at once, far more than 256 bytes could hold, while most flows have none.
 * A flow chains its records newest first.
 */
struct rec {
	uint32_t seq, end;
	uint32_t segno;
	uint32_t next;		/* the flow's next older record; free list */
	uint8_t flags;
	uint8_t pad[3];
};

/*
 * The first cache line holds what every packet reads (the key and the
 * bucket chain, states, id, activity time), the second the directions'
 * per-segment fields, the third the packet's identity, the caller's slot
 * and the lists, the last what rare paths need. A segment of an
 * established connection touches lines 0 to 2 only; a lookup that passes
 * another flow of its bucket touches only that flow's line 0.
 */
struct flow {
	uint8_t addr[2][16];	/* endpoint 0, endpoint 1 */
	uint16_t port[2];
	uint8_t family;
	uint8_t fflags;
	uint8_t st[2];		/* enum tcpstate */
	uint32_t hnext;		/* bucket chain; free list */
	uint32_t nsegs;
	uint64_t id;
	uint64_t tkey;		/* live: last activity, within gran; timer: deadline */

	struct dir d[2];

	/* line 2: also read or written by every segment */
	uint64_t ident;		/* pkt_flow_hash() of the tuple: the packets' seeded identity */
	uint32_t nsegs0;	/* of nsegs, those endpoint 0 sent (the ordinal's count) */
	uint8_t ways;		/* bit e: flow_id.way of endpoint e's segments */
	uint8_t nrec;		/* records on rhead's list */
	uint16_t last_rel;	/* low bits of the segno released last: tells a copy */
	uint8_t slot[TRACK_SLOT_BYTES];	/* the caller's (track_seg.slot) */
	uint32_t lprev, lnext;
	uint32_t irtt;		/* ticks; see F_SYN_T and F_IRTT */
	uint16_t reached[2];
	uint32_t rhead;		/* newest record; 0 = none */
	uint32_t n_rec_lost;	/* faultline actions it could not remember */
	uint32_t n_retrans, n_retrans_fl;

	/* line 3: rare paths */
	uint32_t n_ooo, n_ooo_fl;
	uint32_t n_dupack, n_dupack_fl;
	struct dirx x[2];
};

_Static_assert(sizeof(struct flow) <= 256, "a flow entry must fit in 256 bytes");
_Static_assert(sizeof(struct flow) == 256, "entries start on a cache line");
_Static_assert(offsetof(struct flow, d) == 64, "the hot fields fill cache line 0");
_Static_assert(offsetof(struct flow, ident) == 128, "the directions fill cache line 1");
_Static_assert(offsetof(struct flow, n_ooo) == 192, "what every segment touches ends in line 2");

struct list {
	uint32_t head, tail;
};

struct track {
	struct track_config cfg;
	struct flow *pool;	/* cap + 1 entries; [0] is never used */
	uint32_t *bucket;	/* nbmax reserved, [0, nb) in use */
	uint32_t nbmax;		/* a power of two >= cap */
	uint32_t nb;
	uint32_t lmask;		/* 2^L - 1 for the 2^L <= nb < 2^(L+1) of linear hashing */
	uint32_t cap;
	uint32_t hwm;		/* entries [1, hwm] were handed out once */
	uint32_t free_head;
	struct list live, timer;
	uint64_t gran;		/* live list resolution */
	uint64_t next_id;
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

#define TRACK_MAX_FLOWS (1u << 26)
#define TRACK_MIN_BUCKETS 256u
#define TRACK_MAX_RECORDS (1u << 26)

void track_config_default(struct track_config *c)
{
	c->time_wait_ns = TRACK_DEFAULT_TIME_WAIT_NS;
	c->idle_ns = TRACK_DEFAULT_IDLE_NS;
	c->max_flows = TRACK_DEFAULT_MAX_FLOWS;
	/*
	 * A bulk transfer at 5 % loss has a few dozen drops outstanding; 64
	 * per flow covers that, and 65536 records (1.3 MB, touched as used)
	 * cover a thousand such flows at once.
	 */
	c->max_records = 65536;
	c->records_per_flow = 64;
}

/*
 * Anonymous pages are zero and cost nothing until touched, so a table for a
 * million flows takes memory as flows arrive. Huge pages, where the kernel
 * allows them, spare the TLB a miss per lookup in a big table.
 */
static void *table_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (bytes >= (2u << 20))
		madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static void table_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

static size_t pool_bytes(const struct track *t)
{
	return ((size_t)t->cap + 1) * sizeof(struct flow);
}

static size_t bucket_bytes(const struct track *t)
{
	return (size_t)t->nbmax * sizeof(uint32_t);
}

static size_t rec_bytes(const struct track *t)
{
	return ((size_t)t->rcap + 1) * sizeof(struct rec);
}

struct track *track_new(const struct track_config *c)
{
	struct track *t;

	if (!c->max_flows || c->max_flows > TRACK_MAX_FLOWS ||
	    c->max_records > TRACK_MAX_RECORDS || !c->records_per_flow ||
	    c->records_per_flow > UINT8_MAX) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *c;
	t->cap = c->max_flows;
	t->nbmax = 2;
	while (t->nbmax < t->cap)
		t->nbmax <<= 1;
	t->nb = t->nbmax < TRACK_MIN_BUCKETS ? t->nbmax : TRACK_MIN_BUCKETS;
	t->lmask = t->nb - 1;
	t->pool = table_alloc(pool_bytes(t));
	if (!t->pool)
		goto err_pool;
	t->bucket = table_alloc(bucket_bytes(t));
	if (!t->bucket)
		goto err_bucket;
	t->rcap = c->max_records;
	t->rec = table_alloc(rec_bytes(t));
	if (!t->rec)
		goto err_rec;
	t->next_id = 1;
	t->gran = c->idle_ns ? c->idle_ns / 64 : 1000000000ull;
	return t;

err_rec:
	table_free(t->bucket, bucket_bytes(t));
err_bucket:
	table_free(t->pool, pool_bytes(t));
err_pool:
	free(t);
	errno = ENOMEM;
	return NULL;
}

void track_free(struct track *t)
{
	if (!t)
		return;
	table_free(t->rec, rec_bytes(t));
	table_free(t->bucket, bucket_bytes(t));
	table_free(t->pool, pool_bytes(t));
	free(t);
}

size_t track_entry_size(void)
{
	return sizeof(struct flow);
}

size_t track_reserved_bytes(const struct track *t)
{
	return pool_bytes(t) + bucket_bytes(t) + rec_bytes(t);
}

void track_set_event_cb(struct track *t, track_event_cb cb, void *data)
{
	t->cb = cb;
	t->cb_data = data;
}

void track_get_stats(const struct track *t, struct track_stats *st)
{
	*st = t->st;
}

/* ---- hashing and lookup ---- */

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
 * number of flows (see bucket_grow()), so that its cache footprint is that
 * of the flows present, not of the table's capacity. At 10k flows in a
 * table for 262144 the buckets take 80 KB instead of 1 MB, and the lookup
 * finds its bucket in cache instead of missing twice (bucket, entry).
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

static inline uint32_t flow_hash(const struct flow *f)
{
	return tuple_hash(f->family, f->addr[0], f->port[0], f->addr[1], f->port[1]);
}

static inline bool addr_eq(uint8_t family, const uint8_t *a, const uint8_t *b)
{
	if (family == 4)
		return load32(a) == load32(b);
	return load64(a) == load64(b) && load64(a + 8) == load64(b + 8);
}

/* Returns the entry index for v's tuple, or 0; *e is the sender's endpoint. */
FL_HOT static uint32_t lookup(const struct track *t, const struct pkt_view *v, int *e)
{
	uint32_t i = t->bucket[tuple_bucket(t, v->family, v->saddr, v->sport,
					    v->daddr, v->dport)];

	for (; i; i = t->pool[i].hnext) {
		const struct flow *f = &t->pool[i];

		/*
		 * The directions (line 1) are read next, and line 2 for the
		 * packet's identity and the caller's slot: asking for them now
		 * overlaps their misses with that of the key in line 0.
		 */
		__builtin_prefetch(f->d);
		__builtin_prefetch(&f->ident);
		if (f->family != v->family)
			continue;
		if (f->port[0] == v->sport && f->port[1] == v->dport &&
		    addr_eq(f->family, f->addr[0], v->saddr) &&
		    addr_eq(f->family, f->addr[1], v->daddr)) {
			*e = 0;
			return i;
		}
		if (f->port[0] == v->dport && f->port[1] == v->sport &&
		    addr_eq(f->family, f->addr[0], v->daddr) &&
		    addr_eq(f->family, f->addr[1], v->saddr)) {
			*e = 1;
			return i;
		}
	}
	return 0;
}

/*
 * Split the next bucket in linear-hashing order while the buckets are
 * more than half full: about two per new flow, each moving the entries of
 * one short chain. At half load a lookup passes another flow's entry one
 * time in four. Buckets are never merged back; the array keeps the size
 * for the most flows seen, at most nbmax (then up to full load).
 */
static void bucket_grow(struct track *t)
{
	while (t->st.flows_active * 2 > t->nb && t->nb < t->nbmax) {
		uint32_t half = t->lmask + 1, from = t->nb - half, to = t->nb;
		uint32_t *p = &t->bucket[from], *q = &t->bucket[to];

		t->nb++;
		if (t->nb == 2 * half)
			t->lmask = 2 * half - 1;
		*q = 0;
		while (*p) {
			struct flow *f = &t->pool[*p];

			if (flow_hash(f) & half) {
				*q = *p;
				q = &f->hnext;
				*p = f->hnext;
				f->hnext = 0;
			} else {
				p = &f->hnext;
			}
		}
	}
}

FL_HOT void track_prefetch(const struct track *t, const struct pkt_view *v)
{
	uint32_t i;

	if (!v->has_l4 || v->l4proto != IPPROTO_TCP || (v->family != 4 && v->family != 6))
		return;
	i = t->bucket[tuple_bucket(t, v->family, v->saddr, v->sport, v->daddr, v->dport)];
	if (i) {
		__builtin_prefetch(&t->pool[i]);
		__builtin_prefetch(t->pool[i].d);
		__builtin_prefetch(&t->pool[i].ident);
	}
}

static void unhash(struct track *t, uint32_t idx)
{
	struct flow *f = &t->pool[idx];
	uint32_t *p = &t->bucket[hash_bucket(t, flow_hash(f))];

	while (*p && *p != idx)
		p = &t->pool[*p].hnext;
	if (*p)
		*p = f->hnext;
	f->hnext = 0;
}

/* ---- lists ---- */

static void list_unlink(struct track *t, struct list *l, uint32_t idx)
{
	struct flow *f = &t->pool[idx];

	if (f->lprev)
		t->pool[f->lprev].lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext)
		t->pool[f->lnext].lprev = f->lprev;
	else
		l->tail = f->lprev;
	f->lprev = f->lnext = 0;
}

static void list_append(struct track *t, struct list *l, uint32_t idx)
{
	struct flow *f = &t->pool[idx];

	f->lnext = 0;
	f->lprev = l->tail;
	if (l->tail)
		t->pool[l->tail].lnext = idx;
	else
		l->head = idx;
	l->tail = idx;
}

static inline struct list *flow_list(struct track *t, const struct flow *f)
{
	return (f->fflags & F_TIMER) ? &t->timer : &t->live;
}

static inline uint32_t flow_idx(const struct track *t, const struct flow *f)
{
	return (uint32_t)(f - t->pool);
}

/* (Re)start the flow's 2*MSL deadline from now. */
static void timer_arm(struct track *t, struct flow *f, uint64_t now)
{
	uint32_t idx = flow_idx(t, f);

	list_unlink(t, flow_list(t, f), idx);
	f->fflags |= F_TIMER;
	f->tkey = now + t->cfg.time_wait_ns;
	list_append(t, &t->timer, idx);
}

static inline bool closedish(uint8_t s)
{
	return s == TCPSTATE_CLOSED || s == TCPSTATE_LISTEN || s == TCPSTATE_TIME_WAIT;
}

/* No endpoint holds a live connection any more. */
static inline bool flow_finished(const struct flow *f)
{
	return closedish(f->st[0]) && closedish(f->st[1]);
}

/*
 * A segment for a connection whose endpoints are all in TIME_WAIT or
 * CLOSED is stale, except a SYN of an attempt that never got through:
 * that is the client trying again.
 */
static inline bool flow_stale(const struct flow *f, uint8_t tcp_flags)
{
	if ((f->st[0] != TCPSTATE_CLOSED && f->st[0] != TCPSTATE_TIME_WAIT) ||
	    (f->st[1] != TCPSTATE_CLOSED && f->st[1] != TCPSTATE_TIME_WAIT))
		return false;
	if ((tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	    !((f->reached[0] | f->reached[1]) & TRACK_STATE_BIT(TCPSTATE_ESTABLISHED)))
		return false;
	return true;
}

/*
 * Put the flow on the list its states call for; with 'touch', note the
 * activity too.
 */
FL_HOT static void flow_place(struct track *t, struct flow *f, uint64_t now, bool touch)
{
	uint32_t idx = flow_idx(t, f);
	bool want_timer = f->st[0] == TCPSTATE_TIME_WAIT ||
			  f->st[1] == TCPSTATE_TIME_WAIT || flow_finished(f);

	if (f->fflags & F_TIMER) {
		if (want_timer)
			return;
		list_unlink(t, &t->timer, idx);
		f->fflags &= ~F_TIMER;
		f->tkey = now;
		list_append(t, &t->live, idx);
		return;
	}
	if (want_timer) {
		timer_arm(t, f, now);
		return;
	}
	if (!touch || now - f->tkey < t->gran)
		return;
	f->tkey = now;
	if (t->live.tail != idx) {
		list_unlink(t, &t->live, idx);
		list_append(t, &t->live, idx);
	}
}

/* Idle long enough: its last segment came before tkey + gran. */
static inline bool idle_due(const struct track *t, const struct flow *f, uint64_t now)
{
	return t->cfg.idle_ns && f->tkey + t->cfg.idle_ns + t->gran <= now;
}

/* ---- events ---- */

static void fill_addrs(const struct flow *f, struct track_addrs *a)
{
	a->family = f->family;
	memcpy(a->addr, f->addr, sizeof(a->addr));
	a->port[0] = f->port[0];
	a->port[1] = f->port[1];
}

static void fill_summary(const struct flow *f, struct track_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->flow = f->id;
	fill_addrs(f, &s->addrs);
	for (int i = 0; i < 2; i++) {
		s->reached[i] = f->reached[i];
		s->state[i] = f->st[i];
	}
	s->pickup = f->fflags & F_PICKUP;
	s->reuse = f->fflags & F_REUSE;
	s->segments = f->nsegs;
	s->retransmissions = f->n_retrans;
	s->retransmissions_faultline = f->n_retrans_fl;
	s->out_of_order = f->n_ooo;
	s->out_of_order_faultline = f->n_ooo_fl;
	s->dup_acks = f->n_dupack;
	s->dup_acks_faultline = f->n_dupack_fl;
	s->records_lost = f->n_rec_lost;
	for (int i = 0; i < 2; i++) {
		const struct dir *d = &f->d[i];

		s->opt[i].mss = f->x[i].mss;
		s->opt[i].wscale = (d->flags & D_ISN) ? f->x[i].wscale : -1;
		s->opt[i].sack_ok = d->lflags & L_SACK;
		s->opt[i].ts = d->lflags & L_TS;
	}
}

static void ev_init(const struct track *t, const struct flow *f,
		    enum track_ev_type type, const struct segctx *c,
		    struct track_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->t_ns = c->now > t->t0 ? c->now - t->t0 : 0;
	ev->flow = f->id;
	fill_addrs(f, &ev->addrs);
	if (c->v) {
		ev->seg = c->segno;
		ev->has_seg = true;
		ev->seq = c->v->seq;
		ev->ack = c->v->ack;
		ev->len = c->v->payload_len;
		ev->tcp_flags = c->v->tcp_flags;
	}
}

static void emit_class(struct track *t, const struct flow *f, int e,
		       const struct segctx *c, uint32_t classes,
		       uint32_t caused_by, bool egress)
{
	struct track_event ev;

	if (!t->cb)
		return;
	ev_init(t, f, TRACK_EV_CLASS, c, &ev);
	ev.endpoint = (uint8_t)e;
	ev.classes = classes;
	ev.caused_by = caused_by;
	ev.egress = egress;
	t->cb(t->cb_data, &ev);
}

static void set_state(struct track *t, struct flow *f, int e, uint8_t s,
		      const struct segctx *c)
{
	struct track_event ev;
	uint8_t old = f->st[e];

	if (old == s)
		return;
	f->st[e] = s;
	f->reached[e] |= TRACK_STATE_BIT(s);
	/* Entering TIME_WAIT starts 2*MSL, whatever the other side does. */
	if (s == TCPSTATE_TIME_WAIT)
		timer_arm(t, f, c->now);
	if (!t->cb)
		return;
	ev_init(t, f, TRACK_EV_TRANSITION, c, &ev);
	ev.endpoint = (uint8_t)e;
	ev.old_state = old;
	ev.new_state = s;
	t->cb(t->cb_data, &ev);
}

/* ---- records of what faultline did ---- */

static uint32_t rec_get(struct track *t)
{
	uint32_t i = t->rfree;

	if (i) {
		t->rfree = t->rec[i].next;
		return i;
	}
	if (t->rhwm < t->rcap)
		return ++t->rhwm;
	return 0;
}

/* Unlink the record *link points to and give it back to the pool. */
static void rec_unlink(struct track *t, struct flow *f, uint32_t *link)
{
	uint32_t i = *link;
	struct rec *r = &t->rec[i];

	*link = r->next;
	if (r->flags & R_HOLD)
		t->rholds--;
	r->next = t->rfree;
	t->rfree = i;
	if (!--f->nrec)
		f->fflags &= ~F_REC;
	t->st.records_in_use--;
}

/* A flow entry is freed or reused: so are its records. */
static void rec_free_all(struct track *t, struct flow *f)
{
	while (f->rhead)
		rec_unlink(t, f, &f->rhead);
}

/*
 * Endpoint e's data lost its record, or never got one: say so on its
 * direction, so that the gap it leaves can still be put down to faultline
 * (deliver()). A pure ACK needs no such note: only resends name it.
 */
static void rec_unrecorded(struct flow *f, int e, bool data)
{
	if (data)
		f->d[e].lflags |= L_UNREC;
}

/* Give back a record that is still needed, and note what it was. */
static void rec_evict(struct track *t, struct flow *f, uint32_t *link)
{
	const struct rec *r = &t->rec[*link];

	rec_unrecorded(f, !!(r->flags & R_DIR1), !(r->flags & R_ACK));
	rec_unlink(t, f, link);
}

/* Forget the newest hold of f to make room for a drop. */
static bool rec_evict_hold(struct track *t, struct flow *f)
{
	for (uint32_t *p = &f->rhead; *p; p = &t->rec[*p].next) {
		if (t->rec[*p].flags & R_HOLD) {
			rec_evict(t, f, p);
			return true;
		}
	}
	return false;
}

/* Forget the oldest record of f (the list's last). */
static void rec_evict_oldest(struct track *t, struct flow *f)
{
	uint32_t *p = &f->rhead;

	while (t->rec[*p].next)
		p = &t->rec[*p].next;
	rec_evict(t, f, p);
}

static void rec_lost(struct track *t, struct flow *f, bool pool)
{
	if (pool)
		t->st.records_lost_pool++;
	else
		t->st.records_lost_cap++;
	f->n_rec_lost++;
}

/*
 * Remember what faultline did to seg. Drops come first: a drop's record is
 * the only way its retransmission can name it, while a hold ends at its
 * release and its oldest records (what the sender resends first, the hole
 * the receiver's dup ACKs point at) are kept over newer ones. So at the
 * per-flow cap a new hold is not recorded, and a new drop pushes out the
 * newest hold, else the oldest drop (the likeliest to be repaired already
 * or given up on). Holds take at most half the pool, so that 'delay' on
 * every packet of many flows leaves room for drops; with the pool used
 * up, a drop takes its flow's newest hold.
 */
static void rec_add(struct track *t, struct flow *f, const struct track_seg *seg, bool hold)
{
	bool data = seg->_end != seg->_seq;
	uint8_t rf = (seg->endpoint ? R_DIR1 : 0) | (hold ? R_HOLD : 0);
	uint32_t i;
	struct rec *r;

	if (seg->_flags & PKT_TCP_RST)
		return;
	if (!data) {
		/* A lost or held pure ACK matters by the ack it carries. */
		if (!(seg->_flags & PKT_TCP_ACK))
			return;
		rf |= R_ACK;
	}
	if (f->nrec >= t->cfg.records_per_flow) {
		if (hold) {
			rec_lost(t, f, false);
			rec_unrecorded(f, seg->endpoint, data);
			return;
		}
		if (!rec_evict_hold(t, f))
			rec_evict_oldest(t, f);
		rec_lost(t, f, false);
	}
	if (hold && t->rholds >= t->rcap / 2) {
		rec_lost(t, f, true);
		rec_unrecorded(f, seg->endpoint, data);
		return;
	}
	i = rec_get(t);
	if (!i && !hold && rec_evict_hold(t, f)) {
		t->st.records_lost_pool++;
		f->n_rec_lost++;
		i = rec_get(t);
	}
	if (!i) {
		rec_lost(t, f, true);
		rec_unrecorded(f, seg->endpoint, data);
		return;
	}
	r = &t->rec[i];
	r->flags = rf;
	r->seq = data ? seg->_seq : seg->_ack;
	r->end = seg->_end;
	r->segno = seg->segno;
	r->next = f->rhead;
	f->rhead = i;
	f->nrec++;
	f->fflags |= F_REC;
	t->rholds += hold;
	t->st.records_in_use++;
}

/*
 * Forget the records of segment segno (only holds if holds_only). Returns
 * whether there was one.
 */
static bool rec_forget(struct track *t, struct flow *f, uint32_t segno, bool holds_only)
{
	uint32_t *p = &f->rhead;
	bool found = false;

	while (*p) {
		const struct rec *r = &t->rec[*p];

		if (r->segno == segno && (!holds_only || (r->flags & R_HOLD))) {
			rec_unlink(t, f, p);
			found = true;
		} else {
			p = &t->rec[*p].next;
		}
	}
	return found;
}

static inline bool rec_from(const struct rec *r, int e)
{
	return !!(r->flags & R_DIR1) == !!e;
}

/* The oldest data record of endpoint e overlapping [lo, hi); 0 if none. */
static uint32_t rec_data_overlap(const struct track *t, const struct flow *f, int e,
				 uint32_t lo, uint32_t hi)
{
	uint32_t best = 0;

	for (uint32_t i = f->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (!rec_from(r, e) || (r->flags & R_ACK))
			continue;
		if (!seq_overlap(r->seq, r->end, lo, hi))
			continue;
		if (!best || r->segno < best)
			best = r->segno;
	}
	return best;
}

/*
 * The newest data record of endpoint e overlapping [seq, end): the copy of
 * those bytes faultline dropped or held last, which is the one a resend
 * repairs (the sender resends again because its previous resend was
 * lost). Newest first is also list order. 0 if none.
 */
static uint32_t rec_resent(const struct track *t, const struct flow *f, int e,
			   uint32_t seq, uint32_t end)
{
	for (uint32_t i = f->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (rec_from(r, e) && !(r->flags & R_ACK) && seq_overlap(r->seq, r->end, seq, end))
			return r->segno;
	}
	return 0;
}

/*
 * Which faultline action does a retransmission of [seq, end) by e repair?
 * Its own lost/held copy first, then a lost/held ACK of the peer that
 * would have covered it.
 */
static uint32_t blame_retrans(const struct track *t, const struct flow *f, int e,
			      uint32_t seq, uint32_t end)
{
	uint32_t n = rec_resent(t, f, e, seq, end);

	if (n)
		return n;
	for (uint32_t i = f->rhead; i; i = t->rec[i].next) {
		const struct rec *r = &t->rec[i];

		if (rec_from(r, !e) && (r->flags & R_ACK) && seq_gt(r->seq, seq) &&
		    (!n || r->segno < n))
			n = r->segno;
	}
	return n;
}

/*
 * Forget the drops e's receiver has now been given. Holds go at their own
 * release instead (see rec_add()).
 */
static void rec_repaired(struct track *t, struct flow *f, int e, const struct pkt_view *v)
{
	const struct dir *d = &f->d[e];
	uint32_t *p = &f->rhead;

	while (*p) {
		const struct rec *r = &t->rec[*p];
		bool done = false;

		if (rec_from(r, e) && !(r->flags & R_HOLD)) {
			if (r->flags & R_ACK)
				done = (v->tcp_flags & PKT_TCP_ACK) && seq_ge(v->ack, r->seq);
			else
				done = (d->flags & D_RCV) && seq_le(r->end, d->rcv_nxt);
		}
		if (done)
			rec_unlink(t, f, p);
		else
			p = &t->rec[*p].next;
	}
}

/* ---- entry lifecycle ---- */

static void flow_end(struct track *t, uint32_t idx, enum track_end_reason why,
		     uint64_t now)
{
	struct flow *f = &t->pool[idx];

	if (t->cb) {
		struct segctx c = { .now = now };
		struct track_summary s;
		struct track_event ev;

		fill_summary(f, &s);
		ev_init(t, f, TRACK_EV_FLOW_END, &c, &ev);
		ev.reason = why;
		ev.summary = &s;
		t->cb(t->cb_data, &ev);
	}
	switch (why) {
	case TRACK_END_TIME_WAIT:
	case TRACK_END_CLOSED:
		t->st.expired_time_wait++;
		break;
	case TRACK_END_IDLE:
		t->st.expired_idle++;
		break;
	case TRACK_END_EVICTED:
		t->st.evicted++;
		break;
	case TRACK_END_REUSED:
		break;
	}
	list_unlink(t, flow_list(t, f), idx);
	unhash(t, idx);
	rec_free_all(t, f);
	memset(f, 0, sizeof(*f));
	f->hnext = t->free_head;
	t->free_head = idx;
	t->st.flows_active--;
}

/* The deadline of a flow on the timer list passed. */
static void timer_expire(struct track *t, uint32_t idx, uint64_t now)
{
	struct flow *f = &t->pool[idx];
	struct segctx c = { .now = now };
	bool tw = false;

	for (int e = 0; e < 2; e++) {
		if (f->st[e] == TCPSTATE_TIME_WAIT) {
			set_state(t, f, e, TCPSTATE_CLOSED, &c);
			tw = true;
		}
	}
	if (flow_finished(f)) {
		flow_end(t, idx, tw ? TRACK_END_TIME_WAIT : TRACK_END_CLOSED, now);
		return;
	}
	/* The TIME_WAIT side is gone; the other is still live (LAST_ACK). */
	list_unlink(t, &t->timer, idx);
	f->fflags &= ~F_TIMER;
	f->tkey = now;
	list_append(t, &t->live, idx);
}

void track_expire(struct track *t, uint64_t now)
{
	uint32_t idx;

	while ((idx = t->timer.head) && t->pool[idx].tkey <= now)
		timer_expire(t, idx, now);
	while ((idx = t->live.head) && idle_due(t, &t->pool[idx], now))
		flow_end(t, idx, TRACK_END_IDLE, now);
}

/*
 * Expire the found entry now if its time is up, so a late segment meets
 * what the hosts have (nothing) even if track_expire() was not called.
 * Returns false if the entry is gone.
 */
FL_HOT static bool still_alive(struct track *t, uint32_t idx, uint64_t now)
{
	struct flow *f = &t->pool[idx];

	if (f->fflags & F_TIMER) {
		if (f->tkey > now)
			return true;
		timer_expire(t, idx, now);
		return t->pool[idx].id != 0;
	}
	if (idle_due(t, f, now)) {
		flow_end(t, idx, TRACK_END_IDLE, now);
		return false;
	}
	return true;
}

static uint32_t flow_alloc(struct track *t, uint64_t now)
{
	uint32_t idx;

	if (t->free_head) {
		idx = t->free_head;
		t->free_head = t->pool[idx].hnext;
		t->pool[idx].hnext = 0;
		return idx;
	}
	if (t->hwm < t->cap)
		return ++t->hwm;
	/*
	 * Full: a flow that is over (TIME_WAIT or closed) is worth least;
	 * otherwise the one idle the longest.
	 */
	idx = t->timer.head ? t->timer.head : t->live.head;
	flow_end(t, idx, TRACK_END_EVICTED, now);
	return flow_alloc(t, now);
}

/*
 * The seeded identity of v's packets (struct flow_id: pkt_flow_hash() of
 * the canonical tuple, and which way v goes), the same value
 * flow_table_identify() gives: computed once per connection, not hashed
 * again for every segment.
 */
static uint64_t flow_ident(const struct pkt_view *v, unsigned *way)
{
	struct pkt_flow_key key;
	bool swapped;
	uint64_t h;

	pkt_flow_key(v, &key, &swapped);
	h = pkt_flow_hash(&key);
	*way = swapped;
	return h ? h : 1;
}

static bool tuple_self(const struct pkt_view *v)
{
	return v->sport == v->dport && !memcmp(v->saddr, v->daddr, sizeof(v->saddr));
}

/* Copy the tuple so that endpoint 0 is the side 'zero_is_src' names. */
static void flow_set_tuple(struct flow *f, const struct pkt_view *v, bool zero_is_src)
{
	int s = zero_is_src ? 0 : 1;
	unsigned way;

	f->family = v->family;
	memcpy(f->addr[s], v->saddr, 16);
	memcpy(f->addr[!s], v->daddr, 16);
	f->port[s] = v->sport;
	f->port[!s] = v->dport;
	f->ident = flow_ident(v, &way);
	/* Apart from a host talking to its own port, the two senders differ in way. */
	f->ways = (uint8_t)(way << s | (way ^ !tuple_self(v)) << !s);
}

static void init_state(struct flow *f, int e, uint8_t s)
{
	f->st[e] = s;
	f->reached[e] |= TRACK_STATE_BIT(s);
}

/*
 * Give a fresh or reused entry its first states from the segment that
 * opens it; e is the sender. Returns the classes this adds.
 */
static uint32_t flow_start(struct track *t, struct flow *f, int e,
			   const struct pkt_view *v, const struct segctx *c)
{
	uint8_t fl = v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST);
	uint32_t classes = 0;

	f->id = t->next_id++;
	t->st.flows_created++;
	if (fl == PKT_TCP_SYN) {
		/* The receiver of a SYN is assumed listening; a RST says otherwise. */
		init_state(f, e, TCPSTATE_CLOSED);
		init_state(f, !e, TCPSTATE_LISTEN);
	} else if (fl == (PKT_TCP_SYN | PKT_TCP_ACK)) {
		/* The SYN was missed: its sender is in SYN_SENT, its ISN is ack-1. */
		struct dir *cl = &f->d[!e];

		init_state(f, e, TCPSTATE_LISTEN);
		init_state(f, !e, TCPSTATE_SYN_SENT);
		f->x[!e].isn = v->ack - 1;
		cl->rcv_nxt = v->ack;
		cl->flags |= D_ISN | D_BASE | D_RCV;
	} else {
		init_state(f, 0, TCPSTATE_ESTABLISHED);
		init_state(f, 1, TCPSTATE_ESTABLISHED);
		f->fflags |= F_PICKUP;
		classes |= TRACK_C_PICKUP;
	}
	if (t->cb) {
		struct track_event ev;

		ev_init(t, f, TRACK_EV_FLOW_NEW, c, &ev);
		ev.endpoint = (uint8_t)e;
		t->cb(t->cb_data, &ev);
	}
	return classes;
}

/* ---- ingress: Wireshark's sequence analysis ---- */

/*
 * tcp_analyze_sequence_number() of Wireshark 4.0, same checks in the same
 * order; the comments name its flags. Updates the ingress bookkeeping of
 * the sender's direction and returns the classes.
 */
FL_HOT static uint32_t analyze(struct flow *f, int e, const struct pkt_view *v, uint32_t now_t)
{
	struct dir *fwd = &f->d[e], *rev = &f->d[!e];
	uint32_t seq = v->seq, ack = v->ack, len = v->payload_len;
	uint8_t fl = v->tcp_flags;
	bool sfr = fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST);
	uint32_t sf = (fl & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0;
	bool nxt_ok = fwd->flags & D_NXT;
	bool at_nxt = nxt_ok && seq == fwd->nxt;
	bool same = len == 0 && at_nxt && ack == fwd->last_ack && !sfr;
	bool same_win = (fwd->flags & D_WIN) && v->window == fwd->win;
	uint32_t nextseq, c = 0;

	/* ZERO_WINDOW_PROBE: a probe never advances nextseq. */
	if (len == 1 && at_nxt && (rev->flags & D_WIN) && rev->win == 0) {
		c |= TRACK_C_ZERO_WINDOW_PROBE;
		goto finished_fwd;
	}
	if (v->window == 0 && !sfr)
		c |= TRACK_C_ZERO_WINDOW;
	/* LOST_PACKET: "previous segment not captured". */
	if (nxt_ok && seq_gt(seq, fwd->nxt) && !(fl & PKT_TCP_RST))
		c |= TRACK_C_GAP;
	if (len <= 1 && nxt_ok && seq == fwd->nxt - 1 && !sfr)
		c |= TRACK_C_KEEPALIVE;
	if (same && v->window && (fwd->flags & D_WIN) && !same_win)
		c |= TRACK_C_WINDOW_UPDATE;
	if (same && v->window && same_win && (rev->lflags & L_KA)) {
		c |= TRACK_C_KEEPALIVE_ACK;
		goto finished_fwd;
	}
	if (same && v->window == 0 && same_win && (rev->lflags & L_ZWP)) {
		c |= TRACK_C_ZERO_WINDOW_PROBE_ACK;
		goto finished_fwd;
	}
	if (same && v->window && same_win) {
		if (fwd->dupacks == DUPACKS_RESET)
			fwd->dupacks = 1;
		else if (fwd->dupacks < DUPACKS_RESET - 1)
			fwd->dupacks++;
		c |= TRACK_C_DUP_ACK;
	}

finished_fwd:
	if (ack != fwd->last_ack)
		fwd->dupacks = 0;
	/*
	 * ACK_LOST_PACKET: an ACK past what was captured of the other way.
	 * Not a class here, but Wireshark restarts that side's dup-ACK count.
	 */
	if ((fl & PKT_TCP_ACK) && (rev->flags & D_MTBA) && seq_gt(ack, rev->mtba)) {
		if (seq_lt(rev->mtba, rev->nxt))
			rev->mtba = rev->nxt;
		else
			rev->dupacks = DUPACKS_RESET;
	}

	/* RETRANSMISSION / FAST / SPURIOUS / OUT_OF_ORDER */
	if ((len > 0 || sf) && !(c & TRACK_C_KEEPALIVE)) {
		bool not_adv = nxt_ok && seq_lt(seq, fwd->nxt);
		uint32_t thres;

		/* More than one byte from nextseq-1 is new data after a probe. */
		if (len > 1 && nxt_ok && fwd->nxt - 1 == seq)
			not_adv = false;
		if (len > 0 && (rev->flags & D_ACK) && seq_le(seq + len, rev->last_ack)) {
			c |= TRACK_C_SPURIOUS_RETRANSMISSION | TRACK_C_RETRANSMISSION;
			goto bookkeeping;
		}
		if (!not_adv)
			goto bookkeeping;
		/* Fast: answers two dup ACKs within 20 ms of the last of them. */
		if (rev->dupacks >= 2 && rev->last_ack == seq && (rev->flags & D_SEEN) &&
		    now_t - rev->last_t < FASTRT_TICKS) {
			c |= TRACK_C_FAST_RETRANSMISSION | TRACK_C_RETRANSMISSION;
			goto bookkeeping;
		}
		/* Out of order: soon (initial RTT, else 3 ms) after nextseq moved. */
		thres = (f->fflags & F_IRTT) ? f->irtt : OOO_DEFAULT_TICKS;
		if (now_t - fwd->nxt_t < thres && fwd->nxt != seq + len + sf) {
			c |= TRACK_C_OUT_OF_ORDER;
			goto bookkeeping;
		}
		c |= TRACK_C_RETRANSMISSION;
	}

bookkeeping:
	nextseq = seq + len + sf;
	if ((!nxt_ok || seq_gt(nextseq, fwd->nxt)) && !(c & TRACK_C_ZERO_WINDOW_PROBE)) {
		fwd->nxt = nextseq;
		fwd->nxt_t = now_t;
		fwd->flags |= D_NXT;
	}
	if ((!(fwd->flags & D_MTBA) || seq == fwd->mtba) &&
	    !(c & TRACK_C_ZERO_WINDOW_PROBE)) {
		fwd->mtba = fwd->nxt;
		fwd->flags |= D_MTBA;
	}
	fwd->win = v->window;
	fwd->last_ack = ack;
	fwd->last_t = now_t;
	fwd->flags |= D_SEEN | D_WIN;
	if (fl & PKT_TCP_ACK)
		fwd->flags |= D_ACK;
	else
		fwd->flags &= ~D_ACK;
	fwd->lflags &= ~(L_KA | L_ZWP);
	if (c & TRACK_C_KEEPALIVE)
		fwd->lflags |= L_KA;
	if (c & TRACK_C_ZERO_WINDOW_PROBE)
		fwd->lflags |= L_ZWP;
	return c;
}

/* Options and the facts tshark does not classify. */
FL_HOT static uint32_t note_segment(struct flow *f, int e, const struct pkt_view *v, uint32_t c)
{
	struct dir *fwd = &f->d[e], *rev = &f->d[!e];
	struct dirx *fx = &f->x[e];
	uint8_t fl = v->tcp_flags;
	uint32_t len = v->payload_len;

	if (fl & PKT_TCP_SYN) {
		/* A SYN/ACK with another ISN replaces it, as in Wireshark. */
		fx->isn = v->seq;
		fwd->flags |= D_ISN | D_BASE;
		fx->mss = v->mss;
		fx->wscale = v->wscale;
		if (v->sack_ok)
			fwd->lflags |= L_SACK;
		c |= TRACK_C_HANDSHAKE |
		     ((fl & PKT_TCP_ACK) ? TRACK_C_SYN_ACK : TRACK_C_SYN);
		if (fl & PKT_TCP_ACK)
			fwd->flags |= D_HS_ACK;
	} else if ((fl & PKT_TCP_ACK) && !(fl & PKT_TCP_RST) &&
		   !(fwd->flags & D_HS_ACK) && (rev->flags & D_ISN) &&
		   v->ack == f->x[!e].isn + 1) {
		c |= TRACK_C_HANDSHAKE;
		fwd->flags |= D_HS_ACK;
	}
	if (v->has_ts) {
		fwd->lflags |= L_TS;
		/*
		 * Only tw_refuses() reads the last TSval, for a TIME_WAIT peer,
		 * which got there by this side's FIN: keeping it from the FIN
		 * on (and outside ESTABLISHED) gives the same value without a
		 * write to a cold line for every established segment.
		 */
		if ((fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)) ||
		    f->st[0] != TCPSTATE_ESTABLISHED || f->st[1] != TCPSTATE_ESTABLISHED) {
			fx->ts_last = v->ts_val;
			fwd->lflags |= L_TS_LAST;
		}
	}
	if ((fl & PKT_TCP_FIN) && !(fwd->flags & D_FIN)) {
		/* FIN is the last sequence number, also of a GSO super-packet. */
		fx->fin_seq = v->seq + len;
		fwd->flags |= D_FIN;
	}
	if (fl & PKT_TCP_FIN)
		c |= TRACK_C_FIN;
	if (fl & PKT_TCP_RST)
		c |= TRACK_C_RST;
	if (len && !(c & (TRACK_C_RETRANSMISSION | TRACK_C_OUT_OF_ORDER |
			  TRACK_C_KEEPALIVE | TRACK_C_ZERO_WINDOW_PROBE))) {
		c |= TRACK_C_NEW_DATA;
		if (!(fwd->flags & D_DATA) && !(fl & PKT_TCP_SYN) &&
		    !(f->fflags & F_PICKUP))
			c |= TRACK_C_FIRST_DATA;
		fwd->flags |= D_DATA;
	}
	if (!len && (fl & PKT_TCP_ACK) &&
	    !(fl & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)) &&
	    !(c & (TRACK_C_DUP_ACK | TRACK_C_WINDOW_UPDATE | TRACK_C_KEEPALIVE |
		   TRACK_C_KEEPALIVE_ACK | TRACK_C_ZERO_WINDOW_PROBE_ACK |
		   TRACK_C_HANDSHAKE)))
		c |= TRACK_C_PURE_ACK;
	return c;
}

/* ---- state transitions ---- */

/*
 * The receiver's RCV.NXT for e's stream moved: take in the out-of-order
 * block it reaches.
 */
FL_HOT static void rcv_advance(struct flow *f, int e, uint32_t to)
{
	struct dir *d = &f->d[e];
	const struct dirx *x = &f->x[e];

	if (!(d->flags & D_RCV) || seq_gt(to, d->rcv_nxt))
		d->rcv_nxt = to;
	d->flags |= D_RCV;
	if ((d->flags & D_OOO) && seq_ge(d->rcv_nxt, x->ooo_lo)) {
		if (seq_gt(x->ooo_hi, d->rcv_nxt))
			d->rcv_nxt = x->ooo_hi;
		d->flags &= ~D_OOO;
	}
	if (!(d->flags & D_OOO))
		d->flags &= ~D_GAP_FL;
	/* The receiver has all that was captured: nothing unrecorded is missing. */
	if ((d->lflags & L_UNREC) && !(d->flags & D_OOO) && (d->flags & D_NXT) &&
	    seq_ge(d->rcv_nxt, d->nxt))
		d->lflags &= ~L_UNREC;
}

/* Endpoint y takes the peer's FIN in sequence (RFC 9293 3.10.7.4, eighth). */
static void fin_receipt(struct track *t, struct flow *f, int y, const struct segctx *c)
{
	switch (f->st[y]) {
	case TCPSTATE_SYN_RECEIVED:
	case TCPSTATE_ESTABLISHED:
		set_state(t, f, y, TCPSTATE_CLOSE_WAIT, c);
		break;
	case TCPSTATE_FIN_WAIT_1:
		set_state(t, f, y, TCPSTATE_CLOSING, c);
		break;
	case TCPSTATE_FIN_WAIT_2:
		set_state(t, f, y, TCPSTATE_TIME_WAIT, c);
		break;
	default:
		break;
	}
}

/*
 * Sender-side moves of endpoint e at capture. A segment also proves what
 * its sender has received (its ACK), which brings the sender's state up to
 * date if the release of the peer's segment was not reported.
 */
FL_HOT static void sender_side(struct track *t, struct flow *f, int e,
			       const struct pkt_view *v, const struct segctx *c)
{
	struct dir *rev = &f->d[!e];
	uint8_t fl = v->tcp_flags;
	uint8_t s = f->st[e];

	if (fl & PKT_TCP_RST) {
		set_state(t, f, e, TCPSTATE_CLOSED, c);
		return;
	}
	if (fl & PKT_TCP_SYN) {
		if (!(fl & PKT_TCP_ACK)) {
			if (s == TCPSTATE_CLOSED || s == TCPSTATE_LISTEN)
				set_state(t, f, e, TCPSTATE_SYN_SENT, c);
			return;
		}
		if (s == TCPSTATE_LISTEN || s == TCPSTATE_CLOSED ||
		    s == TCPSTATE_SYN_SENT) {
			if (s != TCPSTATE_SYN_SENT)
				f->fflags |= F_PASSIVE0 << e;
			set_state(t, f, e, TCPSTATE_SYN_RECEIVED, c);
		}
		if (!(rev->flags & D_RCV))
			rcv_advance(f, !e, v->ack);
		return;
	}
	if (fl & PKT_TCP_ACK) {
		if (s == TCPSTATE_SYN_SENT && (rev->flags & D_ISN) &&
		    v->ack == f->x[!e].isn + 1)
			set_state(t, f, e, TCPSTATE_ESTABLISHED, c);
		if ((rev->flags & (D_FIN | D_FIN_RCVD)) == D_FIN &&
		    seq_gt(v->ack, f->x[!e].fin_seq)) {
			rev->flags |= D_FIN_RCVD;
			fin_receipt(t, f, e, c);
		}
		rcv_advance(f, !e, v->ack);
	}
	if (fl & PKT_TCP_FIN) {
		s = f->st[e];
		if (s == TCPSTATE_ESTABLISHED || s == TCPSTATE_SYN_RECEIVED)
			set_state(t, f, e, TCPSTATE_FIN_WAIT_1, c);
		else if (s == TCPSTATE_CLOSE_WAIT)
			set_state(t, f, e, TCPSTATE_LAST_ACK, c);
	}
}

/*
 * Would the TIME_WAIT peer of e refuse e's new SYN? Linux takes it if its
 * sequence number is past the old RCV.NXT or its TSval is newer
 * (tcp_timewait_state_process()); else it answers with the old ACK.
 */
static bool tw_refuses(const struct flow *f, int e, const struct pkt_view *v)
{
	const struct dir *fwd = &f->d[e];
	uint32_t rcv = (fwd->flags & D_RCV) ? fwd->rcv_nxt : fwd->nxt;

	if (seq_gt(v->seq, rcv))
		return false;
	if (v->has_ts && (fwd->lflags & L_TS_LAST) && (int32_t)(v->ts_val - f->x[e].ts_last) > 0)
		return false;
	return true;
}

/*
 * A SYN with a new ISN on a known tuple: a new connection (Wireshark's
 * reused_ports, conntrack's reopen). The entry keeps its slot and gets a
 * new id; its sender becomes endpoint 0. Returns the new sender index.
 */
static int flow_reincarnate(struct track *t, struct flow *f, int e,
			    const struct pkt_view *v, const struct segctx *c)
{
	uint32_t idx = flow_idx(t, f);
	uint32_t hnext = f->hnext;

	if (t->cb) {
		struct track_summary s;
		struct track_event ev;
		struct segctx ce = { .now = c->now };

		fill_summary(f, &s);
		ev_init(t, f, TRACK_EV_FLOW_END, &ce, &ev);
		ev.reason = TRACK_END_REUSED;
		ev.summary = &s;
		t->cb(t->cb_data, &ev);
	}
	list_unlink(t, flow_list(t, f), idx);
	rec_free_all(t, f);
	memset(f, 0, sizeof(*f));
	f->hnext = hnext;
	flow_set_tuple(f, v, true);
	f->fflags = F_REUSE;
	f->tkey = c->now;
	list_append(t, &t->live, idx);
	t->st.reused++;
	return 0;
}

/*
 * Wireshark's base_seq, which decides port reuse: the ISN, else the first
 * sequence number minus one, else the other side's first ACK minus one.
 * A SYN repeating it restores nextseq first (Wireshark issue 17616).
 */
FL_HOT static void wireshark_base(struct flow *f, int e, const struct pkt_view *v)
{
	struct dir *fwd = &f->d[e], *rev = &f->d[!e];
	uint8_t fl = v->tcp_flags;

	if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	    (fwd->flags & D_BASE) && v->seq == f->x[e].isn) {
		fwd->nxt = fwd->mtba;
		if (!(fwd->flags & D_MTBA))
			fwd->flags &= ~D_NXT;
	}
	if (!(fwd->flags & D_BASE)) {
		f->x[e].isn = (fl & PKT_TCP_SYN) ? v->seq : v->seq - 1;
		fwd->flags |= D_BASE;
	}
	if (!(rev->flags & D_BASE) && (fl & PKT_TCP_ACK)) {
		f->x[!e].isn = v->ack - 1;
		rev->flags |= D_BASE;
	}
}

FL_HOT int track_ingress(struct track *t, const struct pkt_view *v, uint64_t now,
			 struct track_seg *seg)
{
	struct segctx c = { .now = now, .v = v };
	uint8_t fl = v->tcp_flags;
	uint32_t classes = 0, idx, now_t = tick(now);
	uint32_t end = v->seq + v->payload_len + !!(fl & (PKT_TCP_SYN | PKT_TCP_FIN));
	struct flow *f;
	int e = 0;

	memset(seg, 0, sizeof(*seg));
	if (!v->has_l4 || v->fragment || v->l4proto != IPPROTO_TCP ||
	    (v->family != 4 && v->family != 6))
		return -EINVAL;
	if (!t->t0_set) {
		t->t0 = now;
		t->t0_set = true;
	}
	t->st.segments++;

	idx = lookup(t, v, &e);
	if (idx && !still_alive(t, idx, now))
		idx = 0;
	if (!idx) {
		bool synack = (fl & (PKT_TCP_SYN | PKT_TCP_ACK)) ==
			      (PKT_TCP_SYN | PKT_TCP_ACK);
		uint32_t b = tuple_bucket(t, v->family, v->saddr, v->sport,
					  v->daddr, v->dport);

		idx = flow_alloc(t, now);
		f = &t->pool[idx];
		/* Endpoint 0 is the client: the receiver of a lone SYN/ACK. */
		e = synack ? 1 : 0;
		flow_set_tuple(f, v, !synack);
		f->hnext = t->bucket[b];
		t->bucket[b] = idx;
		f->tkey = now;
		list_append(t, &t->live, idx);
		t->st.flows_active++;
		bucket_grow(t);
		c.segno = 1;
		classes |= flow_start(t, f, e, v, &c);
	} else {
		f = &t->pool[idx];
		if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
		    (f->d[e].flags & D_BASE) && v->seq != f->x[e].isn) {
			bool refused = f->st[!e] == TCPSTATE_TIME_WAIT && tw_refuses(f, e, v);

			e = flow_reincarnate(t, f, e, v, &c);
			c.segno = 1;
			classes |= flow_start(t, f, e, v, &c) | TRACK_C_REUSE;
			if (refused) {
				/*
				 * The peer's TIME_WAIT will answer with its old
				 * ACK; the client's RST to that ends TIME_WAIT
				 * and its next SYN gets through (8b).
				 */
				f->reached[!e] = 0;
				init_state(f, !e, TCPSTATE_TIME_WAIT);
				classes |= TRACK_C_STALE;
			}
		}
	}

	seg->flow = f->id;
	seg->segno = c.segno = ++f->nsegs;
	seg->endpoint = (uint8_t)e;
	seg->ordinal = e ? f->nsegs - f->nsegs0 : ++f->nsegs0;
	seg->ident = f->ident;
	seg->way = f->ways >> e & 1;
	seg->slot = f->slot;
	seg->sender_state = f->st[e];
	seg->receiver_state = f->st[!e];

	if (!(classes & TRACK_C_REUSE) && flow_stale(f, fl))
		classes |= TRACK_C_STALE;
	wireshark_base(f, e, v);
	classes |= analyze(f, e, v, now_t);
	/*
	 * Wireshark's initial RTT, taken after the analysis as tshark does:
	 * from the last SYN to the first segment with ACK and without SYN,
	 * in either direction. A zero delta counts as unknown.
	 */
	if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_ACK && (f->fflags & F_SYN_T) &&
	    now_t != f->irtt) {
		f->irtt = now_t - f->irtt;
		f->fflags = (f->fflags & ~F_SYN_T) | F_IRTT;
	} else if ((fl & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
		   !(f->fflags & F_IRTT)) {
		f->irtt = now_t;
		f->fflags |= F_SYN_T;
	}
	classes = note_segment(f, e, v, classes);
	sender_side(t, f, e, v, &c);

	if (classes & TRACK_C_RETRANSMISSION) {
		f->n_retrans++;
		if (f->fflags & F_REC)
			seg->caused_by = blame_retrans(t, f, e, v->seq, end);
		if (seg->caused_by)
			f->n_retrans_fl++;
	}
	if (classes & TRACK_C_OUT_OF_ORDER) {
		f->n_ooo++;
		/*
		 * tshark calls a resend out-of-order when it comes within the
		 * initial RTT of the data it follows; of bytes faultline
		 * dropped or holds, it is still their repair.
		 */
		if (f->fflags & F_REC)
			seg->caused_by = rec_resent(t, f, e, v->seq, end);
		if (seg->caused_by)
			f->n_ooo_fl++;
	}
	if (classes & TRACK_C_DUP_ACK) {
		struct dir *rev = &f->d[!e];

		f->n_dupack++;
		/* The peer's stream has a hole or a copy at e that faultline made. */
		if (rev->flags & (D_GAP_FL | D_DUP_FL)) {
			f->n_dupack_fl++;
			seg->caused_by = rec_data_overlap(t, f, !e, rev->rcv_nxt,
							  rev->rcv_nxt + 0x7fffffffu);
			rev->flags &= ~D_DUP_FL;
		}
	}
	seg->classes = classes;
	flow_place(t, f, now, true);

	seg->_seq = v->seq;
	seg->_end = end;
	seg->_ack = v->ack;
	seg->_flags = fl;
	seg->_slot = idx;
	if (seg->classes & (TRACK_C_RETRANSMISSION | TRACK_C_OUT_OF_ORDER |
			    TRACK_C_DUP_ACK | TRACK_C_STALE | TRACK_C_GAP |
			    TRACK_C_ZERO_WINDOW_PROBE | TRACK_C_KEEPALIVE))
		emit_class(t, f, e, &c, seg->classes, seg->caused_by, false);
	return 0;
}

/* ---- egress ---- */

/* The flow the segment belongs to, if that incarnation is still there. */
FL_HOT static struct flow *seg_flow(struct track *t, const struct track_seg *seg,
				    const struct pkt_view *v, bool *other)
{
	uint32_t idx = seg->_slot;
	int e;

	*other = false;
	if (!seg->flow)
		return NULL;
	if (idx && idx <= t->hwm && t->pool[idx].id == seg->flow)
		return &t->pool[idx];
	if (!v)
		return NULL;
	idx = lookup(t, v, &e);
	if (!idx)
		return NULL;
	*other = t->pool[idx].id != seg->flow;
	return &t->pool[idx];
}

void track_dropped(struct track *t, const struct track_seg *seg,
		   const struct pkt_view *v, uint64_t now)
{
	bool other;
	struct flow *f = seg_flow(t, seg, v, &other);

	(void)now;
	if (!f || other)
		return;
	/* Held first and dropped now: the drop replaces the hold. */
	if (f->fflags & F_REC)
		rec_forget(t, f, seg->segno, false);
	rec_add(t, f, seg, false);
}

void track_altered(struct track *t, const struct track_seg *seg, uint32_t what)
{
	bool other;
	struct flow *f = seg_flow(t, seg, NULL, &other);

	if (!f || other || !(what & (TRACK_ALT_DELAYED | TRACK_ALT_REORDERED)))
		return;
	rec_add(t, f, seg, true);
}

/* RFC 9293 3.10.7 and RFC 5961: does y accept the RST from x? */
static bool rst_acceptable(const struct flow *f, int x, const struct pkt_view *v)
{
	const struct dir *d = &f->d[x], *r = &f->d[!x];
	const struct dirx *rx = &f->x[!x];
	uint32_t wnd;

	switch (f->st[!x]) {
	case TCPSTATE_SYN_SENT:
		return (v->tcp_flags & PKT_TCP_ACK) && (r->flags & D_ISN) &&
		       v->ack == rx->isn + 1;
	case TCPSTATE_LISTEN:
	case TCPSTATE_CLOSED:
		return false;
	case TCPSTATE_TIME_WAIT:
		/* Linux with tcp_rfc1337=0 lets an exact RST end TIME_WAIT. */
		return !(d->flags & D_RCV) || v->seq == d->rcv_nxt;
	case TCPSTATE_SYN_RECEIVED:
		if (!(d->flags & D_RCV))
			return true;
		wnd = (r->flags & D_WIN) ? r->win : 65535;
		return seq_ge(v->seq, d->rcv_nxt) && seq_lt(v->seq, d->rcv_nxt + wnd + 1);
	default:
		/* In-window but inexact draws a challenge ACK and changes nothing. */
		return !(d->flags & D_RCV) || v->seq == d->rcv_nxt;
	}
}

/*
 * seg reaches its receiver. 'again' says that faultline would be why the
 * receiver has its bytes already: it is a copy faultline made, or faultline
 * held it (and a resend may have got through first).
 */
FL_HOT static void deliver(struct track *t, struct flow *f, const struct track_seg *seg,
			   const struct pkt_view *v, const struct segctx *c, bool again)
{
	int x = seg->endpoint, y = !x;
	struct dir *d = &f->d[x], *r = &f->d[y];
	struct dirx *dx = &f->x[x];
	const struct dirx *rx = &f->x[y];
	uint8_t fl = v->tcp_flags, ys = f->st[y];
	uint32_t seq = v->seq, len = v->payload_len, end;

	if (fl & PKT_TCP_RST) {
		if (ys == TCPSTATE_TIME_WAIT || ys == TCPSTATE_CLOSED)
			emit_class(t, f, x, c, seg->classes | TRACK_C_STALE, 0, true);
		if (!rst_acceptable(f, x, v))
			return;
		if (ys == TCPSTATE_SYN_RECEIVED && (f->fflags & (F_PASSIVE0 << y)))
			set_state(t, f, y, TCPSTATE_LISTEN, c);
		else
			set_state(t, f, y, TCPSTATE_CLOSED, c);
		return;
	}
	if (fl & PKT_TCP_SYN) {
		if (!(fl & PKT_TCP_ACK)) {
			/* Passive open, or simultaneous open from SYN_SENT. */
			if (ys == TCPSTATE_LISTEN || ys == TCPSTATE_CLOSED ||
			    ys == TCPSTATE_SYN_SENT) {
				if (ys != TCPSTATE_SYN_SENT)
					f->fflags |= F_PASSIVE0 << y;
				set_state(t, f, y, TCPSTATE_SYN_RECEIVED, c);
				d->rcv_nxt = seq + 1;
				d->flags |= D_RCV;
			} else if (ys == TCPSTATE_TIME_WAIT) {
				emit_class(t, f, x, c, seg->classes | TRACK_C_STALE, 0, true);
			}
			return;
		}
		if ((ys == TCPSTATE_SYN_SENT || ys == TCPSTATE_SYN_RECEIVED) &&
		    (r->flags & D_ISN) && v->ack == rx->isn + 1) {
			set_state(t, f, y, TCPSTATE_ESTABLISHED, c);
			d->rcv_nxt = seq + 1;
			d->flags |= D_RCV;
		}
		return;
	}
	if (ys == TCPSTATE_CLOSED || ys == TCPSTATE_LISTEN || ys == TCPSTATE_SYN_SENT) {
		/* Nothing to take it: the host answers with a RST. */
		if (ys == TCPSTATE_CLOSED)
			emit_class(t, f, x, c, seg->classes | TRACK_C_STALE, 0, true);
		return;
	}

	/* The ACK field first (RFC 9293 3.10.7.4, fifth), then the text and FIN. */
	if (fl & PKT_TCP_ACK) {
		if (ys == TCPSTATE_SYN_RECEIVED && (r->flags & D_ISN) &&
		    seq_gt(v->ack, rx->isn))
			set_state(t, f, y, TCPSTATE_ESTABLISHED, c);
		if ((r->flags & D_FIN) && seq_gt(v->ack, rx->fin_seq)) {
			if (f->st[y] == TCPSTATE_FIN_WAIT_1)
				set_state(t, f, y, TCPSTATE_FIN_WAIT_2, c);
			else if (f->st[y] == TCPSTATE_CLOSING)
				set_state(t, f, y, TCPSTATE_TIME_WAIT, c);
			else if (f->st[y] == TCPSTATE_LAST_ACK)
				set_state(t, f, y, TCPSTATE_CLOSED, c);
		}
	}
	if (ys == TCPSTATE_TIME_WAIT) {
		/* A FIN again: the final ACK was lost; re-ACK and restart 2*MSL. */
		if ((fl & PKT_TCP_FIN) && (d->flags & D_FIN_RCVD))
			timer_arm(t, f, c->now);
		else
			emit_class(t, f, x, c, seg->classes | TRACK_C_STALE, 0, true);
		return;
	}

	if (!(d->flags & D_RCV)) {
		/* Picked up: take the first segment as in order. */
		d->rcv_nxt = seq;
		d->flags |= D_RCV;
	}
	end = seq + len;
	if (len) {
		if (seq_le(seq, d->rcv_nxt)) {
			if (seq_gt(end, d->rcv_nxt)) {
				rcv_advance(f, x, end);
			} else if (!(seg->classes & (TRACK_C_RETRANSMISSION |
						     TRACK_C_KEEPALIVE |
						     TRACK_C_ZERO_WINDOW_PROBE)) &&
				   (again || seg->caused_by || (d->lflags & L_UNREC))) {
				/*
				 * Received twice because of faultline: its copy,
				 * a segment it held, or a resend (out-of-order
				 * to tshark) of bytes it dropped or holds. A
				 * resend of bytes lost before or after the
				 * capture point is the network's: the shadow
				 * receiver, which saw every captured copy, only
				 * thinks it has them.
				 */
				d->flags |= D_DUP_FL;
			}
		} else {
			/*
			 * The receiver lacks [rcv_nxt, seq). It is faultline's
			 * gap only if faultline dropped or holds some of it:
			 * a record says which, or faultline acted on this
			 * direction without one (L_UNREC) and nothing was
			 * missing at capture. A gap with neither was there
			 * before faultline (loss upstream of the capture), or
			 * is one the shadow receiver, keeping one block past
			 * RCV.NXT, lost track of.
			 */
			uint32_t blame = rec_data_overlap(t, f, x, d->rcv_nxt, seq);
			bool ours = blame || (!(seg->classes & TRACK_C_GAP) &&
					      (d->lflags & L_UNREC));
			/*
			 * One event per gap opened: segments that continue the
			 * block already held past the gap are in order for the
			 * receiver, as a capture there would show them.
			 */
			bool opens = !(d->flags & D_OOO) || seq_gt(seq, dx->ooo_hi) ||
				     seq_lt(end, dx->ooo_lo);

			if (!(d->flags & D_OOO)) {
				dx->ooo_lo = seq;
				dx->ooo_hi = end;
				d->flags |= D_OOO;
			} else if (seq_le(seq, dx->ooo_hi) && seq_ge(end, dx->ooo_lo)) {
				if (seq_lt(seq, dx->ooo_lo))
					dx->ooo_lo = seq;
				if (seq_gt(end, dx->ooo_hi))
					dx->ooo_hi = end;
			} else if (seq_lt(seq, dx->ooo_lo)) {
				/* Keep the block nearest RCV.NXT; ACKs resync the rest. */
				dx->ooo_lo = seq;
				dx->ooo_hi = end;
			}
			if (ours && opens) {
				f->n_ooo++;
				f->n_ooo_fl++;
				d->flags |= D_GAP_FL;
				emit_class(t, f, x, c, seg->classes | TRACK_C_OUT_OF_ORDER,
					   blame, true);
			}
		}
	}
	if (fl & PKT_TCP_FIN)
		d->flags |= D_FIN_DLV;
	if ((d->flags & (D_FIN | D_FIN_DLV | D_FIN_RCVD)) == (D_FIN | D_FIN_DLV) &&
	    d->rcv_nxt == dx->fin_seq) {
		d->rcv_nxt++;
		d->flags |= D_FIN_RCVD;
		fin_receipt(t, f, y, c);
	}
}

FL_HOT void track_released(struct track *t, const struct track_seg *seg,
			   const struct pkt_view *v, uint64_t now)
{
	struct segctx c = { .now = now, .v = v, .segno = seg->segno };
	bool other, again;
	struct flow *f = seg_flow(t, seg, v, &other);
	uint8_t st0, st1;

	if (!f)
		return;
	if (other) {
		/* Held past the end of its connection into the next one. */
		c.segno = 0;
		emit_class(t, f, seg->endpoint, &c, seg->classes | TRACK_C_STALE,
			   0, true);
		return;
	}
	st0 = f->st[0];
	st1 = f->st[1];
	/*
	 * The same segment released again right after itself is one of
	 * faultline's copies (track_altered(), TRACK_ALT_DUPLICATED).
	 */
	again = f->last_rel == (uint16_t)seg->segno;
	f->last_rel = (uint16_t)seg->segno;
	if ((f->fflags & F_REC) && rec_forget(t, f, seg->segno, true))
		again = true;
	deliver(t, f, seg, v, &c, again);
	if (f->fflags & F_REC)
		rec_repaired(t, f, seg->endpoint, v);
	/* Activity was noted at capture; only a new state may move the flow. */
	if (f->st[0] != st0 || f->st[1] != st1)
		flow_place(t, f, now, false);
}

void track_foreach(struct track *t, track_flow_cb cb, void *data)
{
	struct track_summary s;
	const struct list *lists[2] = { &t->live, &t->timer };

	for (int l = 0; l < 2; l++) {
		for (uint32_t i = lists[l]->head; i; i = t->pool[i].lnext) {
			fill_summary(&t->pool[i], &s);
			cb(data, &s);
		}
	}
}
