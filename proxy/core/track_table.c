// SPDX-License-Identifier: MIT
/*
 * track_table: the tracker's connection table (see track_int.h): the pool
 * of entries and its buckets, the live and timer lists, expiry, eviction,
 * and the entries' start and end with their events. The per-segment path
 * (track.c) comes here when a connection starts or ends, and when its
 * connection changes lists.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "track_int.h"

#define TRACK_MAX_CONNS (1u << 26)
#define TRACK_MIN_BUCKETS 256u
#define TRACK_MAX_RECORDS (1u << 26)

void track_config_default(struct track_config *c)
{
	c->time_wait_ns = TRACK_DEFAULT_TIME_WAIT_NS;
	c->idle_ns = TRACK_DEFAULT_IDLE_NS;
	c->max_conns = TRACK_DEFAULT_MAX_CONNS;
	/*
	 * A bulk transfer at 5 % loss has a few dozen drops outstanding; 64
	 * per connection covers that, and 65536 records (1.3 MB, touched as
	 * used) cover a thousand such connections at once.
	 */
	c->max_records = 65536;
	c->far_end = false;
	c->records_per_conn = 64;
	c->id_first = 1;
	c->id_stride = 1;
}

/*
 * Anonymous pages are zero and cost nothing until touched, so a table for
 * a million connections takes memory as connections arrive. Huge pages,
 * where the kernel allows them, spare the TLB a miss per lookup in a big
 * table.
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
	return ((size_t)t->cap + 1) * sizeof(struct conn);
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

	if (!c->max_conns || c->max_conns > TRACK_MAX_CONNS ||
	    c->max_records > TRACK_MAX_RECORDS || !c->records_per_conn ||
	    c->records_per_conn > UINT8_MAX) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *c;
	t->cap = c->max_conns;
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
	t->next_id = c->id_first ? c->id_first : 1;
	t->id_stride = c->id_stride ? c->id_stride : 1;
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
	return sizeof(struct conn);
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

/*
 * Split the next bucket in linear-hashing order while the buckets are
 * more than half full: about two per new connection, each moving the
 * entries of one short chain. At half load a lookup passes another
 * connection's entry one time in four. Buckets are never merged back; the
 * array keeps the size for the most connections seen, at most nbmax (then
 * up to full load).
 */
static void bucket_grow(struct track *t)
{
	while (t->st.conns_active * 2 > t->nb && t->nb < t->nbmax) {
		uint32_t half = t->lmask + 1, from = t->nb - half, to = t->nb;
		uint32_t *p = &t->bucket[from], *q = &t->bucket[to];

		t->nb++;
		if (t->nb == 2 * half)
			t->lmask = 2 * half - 1;
		*q = 0;
		while (*p) {
			struct conn *cn = &t->pool[*p];

			if (conn_hash(cn) & half) {
				*q = *p;
				q = &cn->hnext;
				*p = cn->hnext;
				cn->hnext = 0;
			} else {
				p = &cn->hnext;
			}
		}
	}
}

static void unhash(struct track *t, uint32_t idx)
{
	struct conn *cn = &t->pool[idx];
	uint32_t *p = &t->bucket[hash_bucket(t, conn_hash(cn))];

	while (*p && *p != idx)
		p = &t->pool[*p].hnext;
	if (*p)
		*p = cn->hnext;
	cn->hnext = 0;
}

/* ---- lists ---- */

void track__list_unlink(struct track *t, struct list *l, uint32_t idx)
{
	struct conn *cn = &t->pool[idx];

	if (cn->lprev)
		t->pool[cn->lprev].lnext = cn->lnext;
	else
		l->head = cn->lnext;
	if (cn->lnext)
		t->pool[cn->lnext].lprev = cn->lprev;
	else
		l->tail = cn->lprev;
	cn->lprev = cn->lnext = 0;
}

void track__list_append(struct track *t, struct list *l, uint32_t idx)
{
	struct conn *cn = &t->pool[idx];

	cn->lnext = 0;
	cn->lprev = l->tail;
	if (l->tail)
		t->pool[l->tail].lnext = idx;
	else
		l->head = idx;
	l->tail = idx;
}

void track__timer_arm(struct track *t, struct conn *cn, uint64_t now)
{
	uint32_t idx = conn_idx(t, cn);

	track__list_unlink(t, conn_list(t, cn), idx);
	cn->cflags |= CF_TIMER;
	cn->tkey = now + t->cfg.time_wait_ns;
	track__list_append(t, &t->timer, idx);
}

/* ---- summaries ---- */

static void fill_summary(const struct conn *cn, struct track_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->conn = cn->id;
	conn_addrs(cn, &s->addrs);
	for (int i = 0; i < 2; i++) {
		s->reached[i] = cn->reached[i];
		s->state[i] = cn->st[i];
	}
	s->pickup = cn->cflags & CF_PICKUP;
	s->reuse = cn->cflags & CF_REUSE;
	s->segments = cn->nsegs;
	s->retransmissions = cn->n_retrans;
	s->retransmissions_faultline = cn->n_retrans_fl;
	s->out_of_order = cn->n_ooo;
	s->out_of_order_faultline = cn->n_ooo_fl;
	s->dup_acks = cn->n_dupack;
	s->dup_acks_faultline = cn->n_dupack_fl;
	s->records_lost = cn->n_rec_lost;
	for (int i = 0; i < 2; i++) {
		const struct dir *d = &cn->d[i];

		s->opt[i].mss = cn->x[i].mss;
		s->opt[i].wscale = (d->flags & D_ISN) ? cn->x[i].wscale : -1;
		s->opt[i].sack_ok = d->lflags & L_SACK;
		s->opt[i].ts = d->lflags & L_TS;
	}
}

/* ---- entry lifecycle ---- */

void track__conn_end(struct track *t, uint32_t idx, enum track_end_reason why,
		     uint64_t now)
{
	struct conn *cn = &t->pool[idx];

	if (t->cb) {
		struct segctx c = { .now = now };
		struct track_summary s;
		struct track_event ev;

		fill_summary(cn, &s);
		track__ev_init(t, cn, TRACK_EV_CONN_END, &c, &ev);
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
	track__list_unlink(t, conn_list(t, cn), idx);
	unhash(t, idx);
	track__rec_free_all(t, cn);
	memset(cn, 0, sizeof(*cn));
	cn->hnext = t->free_head;
	t->free_head = idx;
	t->st.conns_active--;
}

void track__timer_expire(struct track *t, uint32_t idx, uint64_t now)
{
	struct conn *cn = &t->pool[idx];
	struct segctx c = { .now = now };
	bool tw = false;

	for (int e = 0; e < 2; e++) {
		if (cn->st[e] == TCPSTATE_TIME_WAIT) {
			track__set_state(t, cn, e, TCPSTATE_CLOSED, &c);
			tw = true;
		}
	}
	if (conn_finished(cn)) {
		track__conn_end(t, idx, tw ? TRACK_END_TIME_WAIT : TRACK_END_CLOSED, now);
		return;
	}
	/* The TIME_WAIT side is gone; the other is still live (LAST_ACK). */
	track__list_unlink(t, &t->timer, idx);
	cn->cflags &= ~CF_TIMER;
	cn->tkey = now;
	track__list_append(t, &t->live, idx);
}

void track_expire(struct track *t, uint64_t now)
{
	uint32_t idx;

	while ((idx = t->timer.head) && t->pool[idx].tkey <= now)
		track__timer_expire(t, idx, now);
	while ((idx = t->live.head) && idle_due(t, &t->pool[idx], now))
		track__conn_end(t, idx, TRACK_END_IDLE, now);
}

static uint32_t conn_alloc(struct track *t, uint64_t now)
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
	 * Full: a connection that is over (TIME_WAIT or closed) is worth
	 * least; otherwise the one idle the longest.
	 */
	idx = t->timer.head ? t->timer.head : t->live.head;
	track__conn_end(t, idx, TRACK_END_EVICTED, now);
	return conn_alloc(t, now);
}

/*
 * The seeded identity of v's packets (struct flow_id: pkt_flow_hash() of
 * the canonical tuple, and which way v goes), the same value
 * flow_table_identify() gives: computed once per connection, not hashed
 * again for every segment.
 */
static uint64_t tuple_ident(const struct pkt_view *v, unsigned *way)
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
static void conn_set_tuple(struct conn *cn, const struct pkt_view *v, bool zero_is_src)
{
	int s = zero_is_src ? 0 : 1;
	unsigned way;

	cn->family = v->family;
	memcpy(cn->addr[s], v->saddr, 16);
	memcpy(cn->addr[!s], v->daddr, 16);
	cn->port[s] = v->sport;
	cn->port[!s] = v->dport;
	cn->ident = tuple_ident(v, &way);
	/* Apart from a host talking to its own port, the two senders differ in way. */
	cn->ways = (uint8_t)(way << s | (way ^ !tuple_self(v)) << !s);
}

uint32_t track__conn_insert(struct track *t, const struct pkt_view *v, bool zero_is_dst,
			    uint64_t now)
{
	uint32_t b = tuple_bucket(t, v->family, v->saddr, v->sport, v->daddr, v->dport);
	uint32_t idx = conn_alloc(t, now);
	struct conn *cn = &t->pool[idx];

	conn_set_tuple(cn, v, !zero_is_dst);
	cn->hnext = t->bucket[b];
	t->bucket[b] = idx;
	cn->tkey = now;
	track__list_append(t, &t->live, idx);
	t->st.conns_active++;
	bucket_grow(t);
	return idx;
}

uint32_t track__conn_start(struct track *t, struct conn *cn, int e,
			   const struct pkt_view *v, const struct segctx *c)
{
	uint8_t fl = v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST);
	uint32_t classes = 0;

	cn->id = t->next_id;
	t->next_id += t->id_stride;
	t->st.conns_created++;
	if (fl == PKT_TCP_SYN) {
		/* The receiver of a SYN is assumed listening; a RST says otherwise. */
		init_state(cn, e, TCPSTATE_CLOSED);
		init_state(cn, !e, TCPSTATE_LISTEN);
	} else if (fl == (PKT_TCP_SYN | PKT_TCP_ACK)) {
		/* The SYN was missed: its sender is in SYN_SENT, its ISN is ack-1. */
		struct dir *cl = &cn->d[!e];

		init_state(cn, e, TCPSTATE_LISTEN);
		init_state(cn, !e, TCPSTATE_SYN_SENT);
		cn->x[!e].isn = v->ack - 1;
		cl->rcv_nxt = v->ack;
		cl->flags |= D_ISN | D_BASE | D_RCV;
	} else {
		init_state(cn, 0, TCPSTATE_ESTABLISHED);
		init_state(cn, 1, TCPSTATE_ESTABLISHED);
		cn->cflags |= CF_PICKUP;
		classes |= TRACK_C_PICKUP;
	}
	if (t->cb) {
		struct track_event ev;

		track__ev_init(t, cn, TRACK_EV_CONN_NEW, c, &ev);
		ev.endpoint = (uint8_t)e;
		t->cb(t->cb_data, &ev);
	}
	return classes;
}

/* Wireshark's reused_ports, conntrack's reopen. */
int track__conn_reincarnate(struct track *t, struct conn *cn, const struct pkt_view *v,
			    const struct segctx *c)
{
	uint32_t idx = conn_idx(t, cn);
	uint32_t hnext = cn->hnext;

	if (t->cb) {
		struct track_summary s;
		struct track_event ev;
		struct segctx ce = { .now = c->now };

		fill_summary(cn, &s);
		track__ev_init(t, cn, TRACK_EV_CONN_END, &ce, &ev);
		ev.reason = TRACK_END_REUSED;
		ev.summary = &s;
		t->cb(t->cb_data, &ev);
	}
	track__list_unlink(t, conn_list(t, cn), idx);
	track__rec_free_all(t, cn);
	memset(cn, 0, sizeof(*cn));
	cn->hnext = hnext;
	conn_set_tuple(cn, v, true);
	cn->cflags = CF_REUSE;
	cn->tkey = c->now;
	track__list_append(t, &t->live, idx);
	t->st.reused++;
	return 0;
}

void track_foreach(struct track *t, track_conn_cb cb, void *data)
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
