// SPDX-License-Identifier: MIT
/*
 * Unit tests for the shadow TCP tracker. Segments are built as struct
 * pkt_view by hand; A is the client (endpoint 0), B the server.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "flow.h"
#include "track.h"

#define MS 1000000ull
#define SEC 1000000000ull

enum { A = 0, B = 1 };

#define F_ PKT_TCP_FIN
#define S_ PKT_TCP_SYN
#define R_ PKT_TCP_RST
#define P_ PKT_TCP_PSH
#define A_ PKT_TCP_ACK

struct evrec {
	enum track_ev_type type;
	uint64_t conn;
	int endpoint, old, new_;
	uint32_t seg, classes, caused_by;
	bool egress;
	enum track_end_reason reason;
	char json[1024];
};

/* A two-endpoint test fixture with its own clock and sequence counters. */
struct fx {
	struct track *t;
	struct track_config cfg;
	uint64_t now;
	int family;
	uint8_t addr[2][16];
	uint16_t port[2];
	uint32_t isn[2], nxt[2];
	uint16_t win[2];
	struct evrec ev[512];
	int nev;
};

struct p {
	struct pkt_view v;
	struct track_seg s;
};

static void on_event(void *data, const struct track_event *ev)
{
	struct fx *x = data;
	struct evrec *r;

	cr_assert(x->nev < 512);
	r = &x->ev[x->nev++];
	r->type = ev->type;
	r->conn = ev->conn;
	r->endpoint = ev->endpoint;
	r->old = ev->old_state;
	r->new_ = ev->new_state;
	r->seg = ev->seg;
	r->classes = ev->classes;
	r->caused_by = ev->caused_by;
	r->egress = ev->egress;
	r->reason = ev->reason;
	cr_assert(track_event_json(ev, r->json, sizeof(r->json)) < (int)sizeof(r->json));
}

static void fx_init_cfg(struct fx *x, int family, const struct track_config *cfg)
{
	memset(x, 0, sizeof(*x));
	if (cfg) {
		x->cfg = *cfg;
	} else {
		track_config_default(&x->cfg);
		x->cfg.max_conns = 1024;
	}
	x->t = track_new(&x->cfg);
	cr_assert_not_null(x->t);
	track_set_event_cb(x->t, on_event, x);
	x->now = 1000 * SEC;
	x->family = family;
	if (family == 4) {
		memcpy(x->addr[A], (uint8_t[]){ 10, 0, 0, 1 }, 4);
		memcpy(x->addr[B], (uint8_t[]){ 10, 0, 0, 2 }, 4);
	} else {
		memcpy(x->addr[A], (uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 16);
		memcpy(x->addr[B], (uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8, [15] = 2 }, 16);
	}
	x->port[A] = 40000;
	x->port[B] = 8080;
	x->isn[A] = 1000;
	x->isn[B] = 5000000;
	x->win[A] = x->win[B] = 502;
}

static void fx_init(struct fx *x)
{
	fx_init_cfg(x, 4, NULL);
}

static void fx_fini(struct fx *x)
{
	track_free(x->t);
}

static struct pkt_view mkv(const struct fx *x, int from, uint8_t fl, uint32_t seq,
			   uint32_t ack, uint32_t len, uint16_t win)
{
	struct pkt_view v;

	memset(&v, 0, sizeof(v));
	v.family = (uint8_t)x->family;
	v.l4proto = IPPROTO_TCP;
	v.has_l4 = true;
	memcpy(v.saddr, x->addr[from], 16);
	memcpy(v.daddr, x->addr[!from], 16);
	v.sport = x->port[from];
	v.dport = x->port[!from];
	v.seq = seq;
	v.ack = ack;
	v.tcp_flags = fl;
	v.window = win;
	v.payload_len = len;
	v.wscale = -1;
	return v;
}

/* Capture one segment (ingress only); the clock moves 100 us first. */
static struct p in_raw(struct fx *x, int from, uint8_t fl, uint32_t seq, uint32_t ack,
		       uint32_t len, uint16_t win)
{
	struct p p;

	x->now += 100000;
	p.v = mkv(x, from, fl, seq, ack, len, win);
	cr_assert_eq(track_ingress(x->t, &p.v, x->now, &p.s), 0);
	return p;
}

/* Capture the next segment of 'from' from the fixture's counters. */
static struct p in(struct fx *x, int from, uint8_t fl, uint32_t len)
{
	uint32_t seq = (fl & S_) ? x->isn[from] : x->nxt[from];
	uint32_t ack = (fl & A_) ? x->nxt[!from] : 0;
	struct p p = in_raw(x, from, fl, seq, ack, len, x->win[from]);

	if (fl & S_)
		x->nxt[from] = x->isn[from] + 1;
	x->nxt[from] += len + !!(fl & F_);
	return p;
}

static void out(struct fx *x, struct p *p)
{
	track_released(x->t, &p->s, &p->v, x->now);
}

static void drop(struct fx *x, struct p *p)
{
	track_dropped(x->t, &p->s, &p->v, x->now);
}

/* Capture and release at once. */
static struct p tx(struct fx *x, int from, uint8_t fl, uint32_t len)
{
	struct p p = in(x, from, fl, len);

	out(x, &p);
	return p;
}

struct states {
	int n;
	struct track_summary s[8];
};

static void collect(void *data, const struct track_summary *s)
{
	struct states *st = data;

	if (st->n < 8)
		st->s[st->n++] = *s;
}

/* The summary of the only (or first) flow in the table. */
static struct track_summary summary(struct fx *x)
{
	struct states st = { 0 };

	track_foreach(x->t, collect, &st);
	cr_assert_geq(st.n, 1);
	return st.s[0];
}

static int nflows(struct fx *x)
{
	struct states st = { 0 };

	track_foreach(x->t, collect, &st);
	return st.n;
}

#define assert_states(x, sa, sb)                                                    \
	do {                                                                        \
		struct track_summary s_ = summary(x);                               \
		cr_assert_eq(s_.state[A], (sa), "A is %s, want %s",                 \
			     tcpstate_name(s_.state[A]), tcpstate_name(sa));       \
		cr_assert_eq(s_.state[B], (sb), "B is %s, want %s",                 \
			     tcpstate_name(s_.state[B]), tcpstate_name(sb));       \
	} while (0)

static void handshake(struct fx *x)
{
	tx(x, A, S_, 0);
	tx(x, B, S_ | A_, 0);
	tx(x, A, A_, 0);
}

static int count_ev(const struct fx *x, enum track_ev_type type)
{
	int n = 0;

	for (int i = 0; i < x->nev; i++)
		n += x->ev[i].type == type;
	return n;
}

static const struct evrec *find_transition(const struct fx *x, int e, int old, int new_)
{
	for (int i = 0; i < x->nev; i++)
		if (x->ev[i].type == TRACK_EV_TRANSITION && x->ev[i].endpoint == e &&
		    x->ev[i].old == old && x->ev[i].new_ == new_)
			return &x->ev[i];
	return NULL;
}

static const struct evrec *find_end(const struct fx *x)
{
	for (int i = 0; i < x->nev; i++)
		if (x->ev[i].type == TRACK_EV_CONN_END)
			return &x->ev[i];
	return NULL;
}

static const struct evrec *find_class(const struct fx *x, uint32_t cls, bool egress)
{
	for (int i = 0; i < x->nev; i++)
		if (x->ev[i].type == TRACK_EV_CLASS && (x->ev[i].classes & cls) &&
		    x->ev[i].egress == egress)
			return &x->ev[i];
	return NULL;
}

Test(track, entry_fits_256_bytes)
{
	cr_assert_leq(track_entry_size(), 256);
}

/*
 * A segment's identity (the seeded decisions' key) is the flow table's for
 * the same packet, both ways, IPv4 and IPv6, also after the tuple is
 * reused; the caller's slot is per connection and starts zeroed.
 */
static void identity_case(int family)
{
	struct flow_table *ft = flow_table_new(64);
	struct fx x;
	struct p p[4];

	cr_assert(ft);
	fx_init_cfg(&x, family, NULL);
	p[0] = tx(&x, A, S_, 0);
	p[1] = tx(&x, B, S_ | A_, 0);
	p[2] = tx(&x, A, A_, 0);
	p[3] = tx(&x, B, A_ | P_, 10);
	for (int i = 0; i < 4; i++) {
		struct flow_id id;

		flow_table_identify(ft, &p[i].v, x.now, &id);
		cr_assert_eq(p[i].s.ident, id.hash, "segment %d", i);
		cr_assert_eq(p[i].s.way, id.way, "segment %d", i);
		cr_assert_eq(p[i].s.ordinal, id.ordinal, "segment %d", i);
	}
	cr_assert_neq(p[0].s.way, p[1].s.way);
	for (int i = 0; i < TRACK_SLOT_BYTES; i++)
		cr_assert_eq(((uint8_t *)p[3].s.slot)[i], 0);
	memset(p[3].s.slot, 0xab, TRACK_SLOT_BYTES);
	p[0] = tx(&x, A, A_ | P_, 5);
	cr_assert_eq(((uint8_t *)p[0].s.slot)[0], 0xab, "the slot stays the caller's");
	flow_table_free(ft);
	fx_fini(&x);
}

Test(track, identity_is_the_flow_tables_and_the_slot_is_kept)
{
	identity_case(4);
	identity_case(6);
}

Test(track, rejects_non_tcp)
{
	struct fx x;
	struct pkt_view v;
	struct track_seg s;

	fx_init(&x);
	v = mkv(&x, A, S_, 1, 0, 0, 100);
	v.l4proto = IPPROTO_UDP;
	cr_assert_eq(track_ingress(x.t, &v, x.now, &s), -EINVAL);
	cr_assert_eq(s.conn, 0);
	track_released(x.t, &s, &v, x.now); /* ignored */
	cr_assert_eq(nflows(&x), 0);
	fx_fini(&x);
}

Test(track, config_validation)
{
	struct track_config c;

	track_config_default(&c);
	cr_assert_eq(c.time_wait_ns, 60 * SEC);
	cr_assert_eq(c.idle_ns, 300 * SEC);
	cr_assert_eq(c.max_conns, 262144);
	cr_assert_eq(c.max_records, 65536);
	cr_assert_eq(c.records_per_conn, 64);
	c.max_conns = 0;
	errno = 0;
	cr_assert_null(track_new(&c));
	cr_assert_eq(errno, EINVAL);
	track_config_default(&c);
	c.records_per_conn = 0;
	errno = 0;
	cr_assert_null(track_new(&c));
	cr_assert_eq(errno, EINVAL);
	c.records_per_conn = 256;
	cr_assert_null(track_new(&c));
	track_config_default(&c);
	c.max_records = (1u << 26) + 1;
	cr_assert_null(track_new(&c));
	track_free(NULL);
}

Test(track, normal_open)
{
	struct fx x;
	struct p syn, sa, ack;

	fx_init(&x);
	syn = in(&x, A, S_, 0);
	cr_assert_eq(syn.s.segno, 1);
	cr_assert_eq(syn.s.endpoint, A);
	cr_assert_eq(syn.s.sender_state, TCPSTATE_CLOSED);
	cr_assert_eq(syn.s.receiver_state, TCPSTATE_LISTEN);
	cr_assert(syn.s.classes & TRACK_C_SYN);
	cr_assert(syn.s.classes & TRACK_C_HANDSHAKE);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_LISTEN);
	out(&x, &syn);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);

	sa = in(&x, B, S_ | A_, 0);
	cr_assert_eq(sa.s.endpoint, B);
	cr_assert_eq(sa.s.segno, 2);
	cr_assert(sa.s.classes & TRACK_C_SYN_ACK);
	cr_assert_eq(sa.s.sender_state, TCPSTATE_SYN_RECEIVED);
	cr_assert_eq(sa.s.receiver_state, TCPSTATE_SYN_SENT);
	out(&x, &sa);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_SYN_RECEIVED);

	ack = in(&x, A, A_, 0);
	cr_assert(ack.s.classes & TRACK_C_HANDSHAKE);
	cr_assert_not(ack.s.classes & TRACK_C_PURE_ACK);
	out(&x, &ack);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);

	struct p d = tx(&x, A, P_ | A_, 100);
	cr_assert(d.s.classes & TRACK_C_NEW_DATA);
	cr_assert(d.s.classes & TRACK_C_FIRST_DATA);
	struct p d2 = tx(&x, A, P_ | A_, 100);
	cr_assert(d2.s.classes & TRACK_C_NEW_DATA);
	cr_assert_not(d2.s.classes & TRACK_C_FIRST_DATA);
	struct p a2 = tx(&x, B, A_, 0);
	cr_assert(a2.s.classes & TRACK_C_PURE_ACK);
	struct p r = tx(&x, B, P_ | A_, 10);
	cr_assert(r.s.classes & TRACK_C_FIRST_DATA);
	cr_assert_eq(count_ev(&x, TRACK_EV_CLASS), 0);
	cr_assert_eq(count_ev(&x, TRACK_EV_CONN_NEW), 1);
	fx_fini(&x);
}

Test(track, transition_events_have_old_and_new)
{
	struct fx x;
	const struct evrec *r;

	fx_init(&x);
	handshake(&x);
	r = find_transition(&x, A, TCPSTATE_CLOSED, TCPSTATE_SYN_SENT);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, 1);
	r = find_transition(&x, B, TCPSTATE_LISTEN, TCPSTATE_SYN_RECEIVED);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, 1);
	r = find_transition(&x, A, TCPSTATE_SYN_SENT, TCPSTATE_ESTABLISHED);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, 2);
	r = find_transition(&x, B, TCPSTATE_SYN_RECEIVED, TCPSTATE_ESTABLISHED);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, 3);
	cr_assert_eq(count_ev(&x, TRACK_EV_TRANSITION), 4);
	/* The order of the transitions follows the segments. */
	cr_assert_eq(x.ev[0].type, TRACK_EV_CONN_NEW);
	fx_fini(&x);
}

Test(track, client_closes_first)
{
	struct fx x;
	struct track_summary s;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 10);
	tx(&x, B, A_, 0);
	struct p fin = tx(&x, A, F_ | A_, 0);
	cr_assert(fin.s.classes & TRACK_C_FIN);
	cr_assert_eq(fin.s.sender_state, TCPSTATE_ESTABLISHED);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSE_WAIT);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_2, TCPSTATE_CLOSE_WAIT);
	struct p bfin = tx(&x, B, F_ | A_, 0);
	cr_assert_eq(bfin.s.sender_state, TCPSTATE_CLOSE_WAIT);
	cr_assert_eq(bfin.s.receiver_state, TCPSTATE_FIN_WAIT_2);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_LAST_ACK);
	struct p last = tx(&x, A, A_, 0);
	cr_assert_eq(last.s.sender_state, TCPSTATE_TIME_WAIT);
	cr_assert_eq(last.s.receiver_state, TCPSTATE_LAST_ACK);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	s = summary(&x);
	cr_assert(s.reached[A] & TRACK_STATE_BIT(TCPSTATE_FIN_WAIT_1));
	cr_assert(s.reached[A] & TRACK_STATE_BIT(TCPSTATE_FIN_WAIT_2));
	cr_assert(s.reached[B] & TRACK_STATE_BIT(TCPSTATE_CLOSE_WAIT));
	cr_assert(s.reached[B] & TRACK_STATE_BIT(TCPSTATE_LAST_ACK));
	cr_assert_not(s.reached[B] & TRACK_STATE_BIT(TCPSTATE_TIME_WAIT));
	cr_assert_eq(s.segments, 9);
	cr_assert_eq(s.retransmissions, 0);
	fx_fini(&x);
}

Test(track, server_closes_first)
{
	struct fx x;

	fx_init(&x);
	handshake(&x);
	tx(&x, B, F_ | A_, 0);
	assert_states(&x, TCPSTATE_CLOSE_WAIT, TCPSTATE_FIN_WAIT_1);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_CLOSE_WAIT, TCPSTATE_FIN_WAIT_2);
	tx(&x, A, F_ | A_, 0);
	assert_states(&x, TCPSTATE_LAST_ACK, TCPSTATE_TIME_WAIT);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_TIME_WAIT);
	fx_fini(&x);
}

Test(track, fin_with_ack_of_peer_fin_goes_straight_to_time_wait)
{
	struct fx x;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	/* B acks A's FIN and sends its own in one segment. */
	tx(&x, B, F_ | A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_LAST_ACK);
	cr_assert_not_null(find_transition(&x, A, TCPSTATE_FIN_WAIT_1, TCPSTATE_FIN_WAIT_2));
	cr_assert_not_null(find_transition(&x, A, TCPSTATE_FIN_WAIT_2, TCPSTATE_TIME_WAIT));
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, simultaneous_open)
{
	struct fx x;
	struct p sa, sb, saa, sab;
	struct track_summary s;

	fx_init(&x);
	sa = in(&x, A, S_, 0);
	sb = in(&x, B, S_, 0);
	cr_assert_eq(sb.s.sender_state, TCPSTATE_LISTEN);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_SENT);
	out(&x, &sa);
	out(&x, &sb);
	assert_states(&x, TCPSTATE_SYN_RECEIVED, TCPSTATE_SYN_RECEIVED);
	/* Each answers the other's SYN with a SYN/ACK of its own ISN. */
	saa = in_raw(&x, A, S_ | A_, x.isn[A], x.isn[B] + 1, 0, 502);
	sab = in_raw(&x, B, S_ | A_, x.isn[B], x.isn[A] + 1, 0, 502);
	out(&x, &saa);
	out(&x, &sab);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	s = summary(&x);
	for (int e = 0; e < 2; e++) {
		cr_assert(s.reached[e] & TRACK_STATE_BIT(TCPSTATE_SYN_SENT));
		cr_assert(s.reached[e] & TRACK_STATE_BIT(TCPSTATE_SYN_RECEIVED));
	}
	fx_fini(&x);
}

Test(track, simultaneous_close_through_closing)
{
	struct fx x;
	struct p fa, fb, aa, ab;

	fx_init(&x);
	handshake(&x);
	fa = in(&x, A, F_ | A_, 0);
	fb = in_raw(&x, B, F_ | A_, x.nxt[B], x.nxt[A] - 1, 0, 502);
	x.nxt[B]++;
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_FIN_WAIT_1);
	out(&x, &fa);
	out(&x, &fb);
	assert_states(&x, TCPSTATE_CLOSING, TCPSTATE_CLOSING);
	aa = in(&x, A, A_, 0);
	ab = in(&x, B, A_, 0);
	out(&x, &aa);
	assert_states(&x, TCPSTATE_CLOSING, TCPSTATE_TIME_WAIT);
	out(&x, &ab);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_TIME_WAIT);
	cr_assert_not_null(find_transition(&x, A, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSING));
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_CLOSING, TCPSTATE_TIME_WAIT));
	fx_fini(&x);
}

/*
 * The far end (track_config.far_end, replay): a capture at the client,
 * told by the handshake (SYN -> SYN+ACK 10 ms, SYN+ACK -> ACK 0.1 ms), of a
 * simultaneous close: the server's FIN acks the client's data but not its
 * FIN. Returns the classes of the segments, for comparison.
 */
static void far_simclose(struct fx *x, bool far_end, uint32_t classes[5])
{
	struct track_config c;
	struct p p[5];

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = far_end;
	fx_init_cfg(x, 4, &c);
	tx(x, A, S_, 0);
	x->now += 10 * MS;
	tx(x, B, S_ | A_, 0);
	tx(x, A, A_, 0);
	p[0] = tx(x, A, F_ | A_, 0);
	x->now += 10 * MS;
	p[1] = in_raw(x, B, F_ | A_, x->nxt[B], x->nxt[A] - 1, 0, 502);
	x->nxt[B]++;
	out(x, &p[1]);
	p[2] = tx(x, A, A_, 0);
	x->now += 10 * MS;
	p[3] = tx(x, B, A_, 0);
	for (int i = 0; i < 4; i++)
		classes[i] = p[i].s.classes;
}

Test(track, far_end_fin_is_received_when_acknowledged)
{
	struct fx x;
	uint32_t far[5], near[5];

	far_simclose(&x, false, near);
	/* Capture order alone: the server took the FIN first. */
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSE_WAIT));
	fx_fini(&x);

	far_simclose(&x, true, far);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_TIME_WAIT);
	cr_assert_null(find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSE_WAIT));
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_FIN_WAIT_1));
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_FIN_WAIT_1, TCPSTATE_FIN_WAIT_2));
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_FIN_WAIT_2, TCPSTATE_TIME_WAIT));
	/* The near endpoint took the server's FIN when captured. */
	cr_assert_not_null(find_transition(&x, A, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSING));
	/* What the wire shows is classified the same. */
	for (int i = 0; i < 4; i++)
		cr_assert_eq(far[i], near[i], "segment %d: classes %#x, without far_end %#x", i,
			     far[i], near[i]);
	fx_fini(&x);
}

/* Near the server (SYN -> SYN+ACK 0.1 ms, SYN+ACK -> ACK 10 ms): the client is far. */
Test(track, far_end_near_server_makes_the_client_far)
{
	struct track_config c;
	struct fx x;
	struct p f;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	tx(&x, A, S_, 0);
	tx(&x, B, S_ | A_, 0);
	x.now += 10 * MS;
	tx(&x, A, A_, 0);
	tx(&x, B, F_ | A_, 0);
	/* The client has not acknowledged the FIN yet. */
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_FIN_WAIT_1);
	f = in_raw(&x, A, A_, x.nxt[A], x.nxt[B] - 1, 0, 502);
	out(&x, &f);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_FIN_WAIT_1);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_CLOSE_WAIT, TCPSTATE_FIN_WAIT_2);
	fx_fini(&x);
}

/* A handshake whose two gaps are equal tells nothing: every receipt at capture. */
Test(track, far_end_tie_changes_nothing)
{
	struct track_config c;
	struct fx x;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	handshake(&x);
	tx(&x, B, F_ | A_, 0);
	assert_states(&x, TCPSTATE_CLOSE_WAIT, TCPSTATE_FIN_WAIT_1);
	fx_fini(&x);
}

/* A far_end tracker and a handshake captured at the client: the server is far. */
static void far_client_side(struct fx *x)
{
	struct track_config c;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(x, 4, &c);
	tx(x, A, S_, 0);
	x->now += 10 * MS;
	tx(x, B, S_ | A_, 0);
	tx(x, A, A_, 0);
}

/* The server's FIN again after the client's final ACK: it had not received it. */
Test(track, far_end_fin_again_takes_back_the_final_ack)
{
	struct fx x;
	struct p f, a;

	far_client_side(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, A_, 0);
	f = tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	a = in_raw(&x, B, F_ | A_, f.v.seq, f.v.ack, 0, 502);
	cr_assert_eq(a.s.sender_state, TCPSTATE_LAST_ACK);
	cr_assert(a.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_CLOSED, TCPSTATE_LAST_ACK));
	/* The event log marks the take-back, and only it. */
	cr_assert_not_null(strstr(find_transition(&x, B, TCPSTATE_CLOSED, TCPSTATE_LAST_ACK)->json,
				  "\"retracted\":true"));
	cr_assert_null(strstr(find_transition(&x, B, TCPSTATE_LAST_ACK, TCPSTATE_CLOSED)->json,
			      "retracted"));
	out(&x, &a);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

/* The server's FIN after the client's RST: it had not received the RST. */
Test(track, far_end_segment_after_rst_takes_it_back)
{
	struct fx x;
	struct p f;

	far_client_side(&x);
	tx(&x, A, R_ | A_, 0);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	f = tx(&x, B, F_ | A_, 0);
	cr_assert_eq(f.s.sender_state, TCPSTATE_ESTABLISHED);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_FIN_WAIT_1);
	cr_assert_not_null(strstr(find_transition(&x, B, TCPSTATE_CLOSED, TCPSTATE_ESTABLISHED)->json,
				  "\"retracted\":true"));
	fx_fini(&x);
}

/* The server's SYN+ACK again after the handshake's ACK: it had not received it. */
Test(track, far_end_synack_again_takes_back_the_handshake_ack)
{
	struct fx x;
	struct p sa;

	far_client_side(&x);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	sa = in_raw(&x, B, S_ | A_, x.isn[B], x.isn[A] + 1, 0, 502);
	cr_assert_eq(sa.s.sender_state, TCPSTATE_SYN_RECEIVED);
	cr_assert(sa.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_not_null(strstr(find_transition(&x, B, TCPSTATE_ESTABLISHED,
						  TCPSTATE_SYN_RECEIVED)->json, "\"retracted\":true"));
	out(&x, &sa);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_SYN_RECEIVED);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	fx_fini(&x);
}

/* A connection picked up mid-stream, with the capture point given: the server is far. */
Test(track, far_end_given_capture_point_for_a_pickup)
{
	struct track_config c;
	struct fx x;
	struct p d;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	x.nxt[A] = x.isn[A] + 1;
	x.nxt[B] = x.isn[B] + 1;
	d = tx(&x, A, A_ | P_, 10);
	track_capture_point(x.t, &d.s, true);
	tx(&x, A, F_ | A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_ESTABLISHED);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_2, TCPSTATE_CLOSE_WAIT);
	fx_fini(&x);
}

/* Captured at the server, as the caller says from the SYN on: the client is far. */
Test(track, far_end_given_client_takes_the_synack_at_its_ack)
{
	struct track_config c;
	struct fx x;
	struct p s;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	s = in(&x, A, S_, 0);
	track_capture_point(x.t, &s.s, false);
	out(&x, &s);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	tx(&x, B, S_ | A_, 0);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	fx_fini(&x);
}

/* Captured at the client, as the caller says: the server takes the SYN at its SYN+ACK. */
Test(track, far_end_given_server_takes_the_syn_at_its_synack)
{
	struct track_config c;
	struct fx x;
	struct p s;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	s = in(&x, A, S_, 0);
	track_capture_point(x.t, &s.s, true);
	out(&x, &s);
	cr_assert_neq(summary(&x).state[B], TCPSTATE_SYN_RECEIVED);
	tx(&x, B, S_ | A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_SYN_RECEIVED);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	fx_fini(&x);
}

/*
 * Inferred (at the handshake's end), the far end's handshake receipts stay
 * at capture: captured at the client (SYN -> SYN+ACK 10 ms), the server
 * takes the SYN when it is released, its SYN+ACK is described as sent from
 * SYN_RECEIVED and the client's ACK from ESTABLISHED, as without far_end;
 * the FIN rule applies from the inference on.
 */
Test(track, far_end_inferred_handshake_receipts_stay_at_capture)
{
	struct track_config c;
	struct fx x;
	struct p sa, a;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	tx(&x, A, S_, 0);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	cr_assert_eq(find_transition(&x, B, TCPSTATE_LISTEN, TCPSTATE_SYN_RECEIVED)->seg, 1);
	x.now += 10 * MS;
	sa = tx(&x, B, S_ | A_, 0);
	cr_assert_eq(sa.s.sender_state, TCPSTATE_SYN_RECEIVED);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_SYN_RECEIVED);
	a = tx(&x, A, A_, 0);
	cr_assert_eq(a.s.sender_state, TCPSTATE_ESTABLISHED);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	/* Inferred: the server is far, and its FIN receipt waits for its ACK. */
	tx(&x, A, F_ | A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_ESTABLISHED);
	fx_fini(&x);
}

/* Captured at the server, the client is far, and only it: each FIN by its own rule. */
Test(track, far_end_near_server_takes_the_fin_when_released)
{
	struct track_config c;
	struct fx x;

	track_config_default(&c);
	c.max_conns = 1024;
	c.far_end = true;
	fx_init_cfg(&x, 4, &c);
	tx(&x, A, S_, 0);
	tx(&x, B, S_ | A_, 0);
	x.now += 10 * MS;
	tx(&x, A, A_, 0);
	/* The near server takes the client's FIN when it is released. */
	tx(&x, A, F_ | A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSE_WAIT);
	/* The far client takes the server's only at its ACK. */
	tx(&x, B, F_ | A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_2, TCPSTATE_LAST_ACK);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, half_close_data_flows_after_fin)
{
	struct fx x;
	struct p d;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_FIN_WAIT_2, TCPSTATE_CLOSE_WAIT);
	for (int i = 0; i < 3; i++) {
		d = tx(&x, B, P_ | A_, 1000);
		cr_assert(d.s.classes & TRACK_C_NEW_DATA);
		cr_assert_eq(d.s.sender_state, TCPSTATE_CLOSE_WAIT);
		cr_assert_eq(d.s.receiver_state, TCPSTATE_FIN_WAIT_2);
		tx(&x, A, A_, 0);
	}
	assert_states(&x, TCPSTATE_FIN_WAIT_2, TCPSTATE_CLOSE_WAIT);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	cr_assert_eq(summary(&x).retransmissions, 0);
	fx_fini(&x);
}

Test(track, rst_in_syn_sent_valid)
{
	struct fx x;
	struct p r;

	fx_init(&x);
	tx(&x, A, S_, 0);
	/* Port closed: RST/ACK acking the SYN. */
	r = in_raw(&x, B, R_ | A_, 0, x.isn[A] + 1, 0, 0);
	cr_assert(r.s.classes & TRACK_C_RST);
	cr_assert_eq(r.s.receiver_state, TCPSTATE_SYN_SENT);
	out(&x, &r);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, rst_in_syn_sent_without_acceptable_ack_is_ignored)
{
	struct fx x;
	struct p r;

	fx_init(&x);
	tx(&x, A, S_, 0);
	r = in_raw(&x, B, R_ | A_, 0, x.isn[A] + 77, 0, 0);
	out(&x, &r);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_CLOSED);
	r = in_raw(&x, B, R_, 0, 0, 0, 0);
	out(&x, &r);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, rst_in_syn_received_returns_to_listen)
{
	struct fx x;
	struct p r;

	fx_init(&x);
	tx(&x, A, S_, 0);
	tx(&x, B, S_ | A_, 0);
	r = in_raw(&x, A, R_, x.nxt[A], 0, 0, 0);
	out(&x, &r);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_LISTEN);
	fx_fini(&x);
}

Test(track, rst_in_established)
{
	struct fx x;
	struct p r;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 100);
	/* In window but not exact: a challenge ACK, no state change. */
	r = in_raw(&x, A, R_, x.nxt[A] + 10, 0, 0, 0);
	cr_assert_eq(r.s.sender_state, TCPSTATE_ESTABLISHED);
	out(&x, &r);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_ESTABLISHED);
	r = in_raw(&x, A, R_ | A_, x.nxt[A], x.nxt[B], 0, 0);
	out(&x, &r);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	/* Anything after that is stale. */
	r = in(&x, B, P_ | A_, 10);
	cr_assert(r.s.classes & TRACK_C_STALE);
	out(&x, &r);
	cr_assert_not_null(find_class(&x, TRACK_C_STALE, true));
	fx_fini(&x);
}

Test(track, rst_kills_time_wait_like_linux)
{
	struct fx x;
	struct p r;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	r = in_raw(&x, B, R_, x.nxt[B], 0, 0, 0);
	cr_assert(r.s.classes & TRACK_C_STALE);
	out(&x, &r);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, lost_fin_is_retransmitted_and_blamed)
{
	struct fx x;
	struct p fin, refin;
	struct track_summary s;
	const struct evrec *r;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 100);
	tx(&x, B, A_, 0);
	fin = in(&x, A, F_ | A_, 0);
	drop(&x, &fin);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_ESTABLISHED);
	x.now += 200 * MS;
	refin = in_raw(&x, A, F_ | A_, x.nxt[A] - 1, x.nxt[B], 0, 502);
	cr_assert(refin.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert(refin.s.classes & TRACK_C_FIN);
	cr_assert_not(refin.s.classes & TRACK_C_FAST_RETRANSMISSION);
	cr_assert_eq(refin.s.caused_by, fin.s.segno);
	cr_assert_eq(refin.s.sender_state, TCPSTATE_FIN_WAIT_1);
	cr_assert_eq(refin.s.receiver_state, TCPSTATE_ESTABLISHED);
	out(&x, &refin);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSE_WAIT);
	r = find_class(&x, TRACK_C_RETRANSMISSION, false);
	cr_assert_not_null(r);
	cr_assert_eq(r->caused_by, fin.s.segno);
	cr_assert_eq(fin.s.segno, 6);
	cr_assert(strstr(r->json, "\"caused_by\":6,\"seg\":7,"), "%s", r->json);
	s = summary(&x);
	cr_assert_eq(s.retransmissions, 1);
	cr_assert_eq(s.retransmissions_faultline, 1);
	fx_fini(&x);
}

Test(track, lost_final_ack_fin_retransmitted_time_wait_restarts)
{
	struct fx x;
	struct p last, refin, reack;
	uint64_t tw_start;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, A_, 0);
	tx(&x, B, F_ | A_, 0);
	tw_start = x.now;
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_LAST_ACK);
	last = in(&x, A, A_, 0);
	drop(&x, &last);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_LAST_ACK);

	x.now += 30 * SEC;
	refin = in_raw(&x, B, F_ | A_, x.nxt[B] - 1, x.nxt[A], 0, 502);
	cr_assert(refin.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(refin.s.caused_by, last.s.segno);
	cr_assert_eq(refin.s.sender_state, TCPSTATE_LAST_ACK);
	cr_assert_eq(refin.s.receiver_state, TCPSTATE_TIME_WAIT);
	cr_assert_not(refin.s.classes & TRACK_C_STALE);
	out(&x, &refin);
	reack = in(&x, A, A_, 0);
	cr_assert(reack.s.classes & TRACK_C_DUP_ACK, "classes %#x", reack.s.classes);
	out(&x, &reack);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);

	/* 2*MSL restarted at the retransmitted FIN, not at the first one. */
	track_expire(x.t, tw_start + 60 * SEC + 1);
	cr_assert_eq(nflows(&x), 1);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	track_expire(x.t, x.now + 60 * SEC);
	cr_assert_eq(nflows(&x), 0);
	fx_fini(&x);
}

Test(track, syn_on_time_wait_tuple_starts_new_flow)
{
	struct fx x;
	struct p syn;
	uint64_t old;
	const struct evrec *end = NULL;

	fx_init(&x);
	handshake(&x);
	old = summary(&x).conn;
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_TIME_WAIT);

	/* New client connection from the same port, higher ISN: accepted. */
	x.isn[A] = x.nxt[A] + 100000;
	syn = in(&x, A, S_, 0);
	cr_assert(syn.s.classes & TRACK_C_REUSE);
	cr_assert(syn.s.classes & TRACK_C_SYN);
	cr_assert_not(syn.s.classes & TRACK_C_STALE);
	cr_assert_neq(syn.s.conn, old);
	cr_assert_eq(syn.s.segno, 1);
	cr_assert_eq(syn.s.endpoint, A);
	for (int i = 0; i < x.nev; i++)
		if (x.ev[i].type == TRACK_EV_CONN_END)
			end = &x.ev[i];
	cr_assert_not_null(end);
	cr_assert_eq(end->reason, TRACK_END_REUSED);
	cr_assert_eq(end->conn, old);
	out(&x, &syn);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	tx(&x, B, S_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	cr_assert(summary(&x).reuse);
	fx_fini(&x);
}

Test(track, syn_refused_by_time_wait_then_rst_gets_through)
{
	struct fx x;
	struct p syn, oldack, rst;
	uint64_t old;

	fx_init(&x);
	handshake(&x);
	old = summary(&x).conn;
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, A_, 0);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_TIME_WAIT);
	/*
	 * A new connection (tshark: reused ports), but with a lower ISN and
	 * no timestamps Linux's TIME_WAIT refuses it with the old ACK (8b).
	 */
	syn = in_raw(&x, A, S_, 10, 0, 0, 502);
	cr_assert(syn.s.classes & TRACK_C_REUSE);
	cr_assert(syn.s.classes & TRACK_C_STALE);
	cr_assert_neq(syn.s.conn, old);
	cr_assert_eq(syn.s.receiver_state, TCPSTATE_TIME_WAIT);
	out(&x, &syn);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_TIME_WAIT);
	cr_assert_not_null(find_class(&x, TRACK_C_STALE, true));
	oldack = in_raw(&x, B, A_, x.nxt[B], x.nxt[A], 0, 502);
	out(&x, &oldack);
	/* A answers the old ACK with a RST at its ack: TIME_WAIT ends. */
	rst = in_raw(&x, A, R_, x.nxt[A], 0, 0, 0);
	out(&x, &rst);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	x.now += SEC;
	syn = in_raw(&x, A, S_, 10, 0, 0, 502);
	cr_assert(syn.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_not(syn.s.classes & (TRACK_C_REUSE | TRACK_C_STALE));
	out(&x, &syn);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	fx_fini(&x);
}

Test(track, stale_data_to_time_wait)
{
	struct fx x;
	struct p d;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	d = in_raw(&x, B, P_ | A_, x.nxt[B] - 101, x.nxt[A], 100, 502);
	cr_assert(d.s.classes & TRACK_C_STALE);
	cr_assert_eq(d.s.sender_state, TCPSTATE_CLOSED);
	cr_assert_eq(d.s.receiver_state, TCPSTATE_TIME_WAIT);
	cr_assert_not_null(find_class(&x, TRACK_C_STALE, false));
	out(&x, &d);
	cr_assert_not_null(find_class(&x, TRACK_C_STALE, true));
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, delayed_segment_from_old_connection_is_stale_in_new_one)
{
	struct fx x;
	struct p d, syn;

	fx_init(&x);
	handshake(&x);
	d = in(&x, A, P_ | A_, 100);
	track_altered(x.t, &d.s, TRACK_ALT_DELAYED);
	tx(&x, A, R_, 0);
	x.isn[A] += 77777;
	syn = in(&x, A, S_, 0);
	cr_assert(syn.s.classes & TRACK_C_REUSE);
	x.nev = 0;
	out(&x, &d);
	cr_assert_not_null(find_class(&x, TRACK_C_STALE, true));
	cr_assert_eq(x.ev[0].conn, syn.s.conn);
	fx_fini(&x);
}

Test(track, sequence_wraparound)
{
	struct fx x;
	struct p d, re;

	fx_init(&x);
	x.isn[A] = 0xffffff00u;
	x.isn[B] = 0xfffffff0u;
	handshake(&x);
	for (int i = 0; i < 4; i++) {
		d = tx(&x, A, P_ | A_, 100);
		cr_assert(d.s.classes & TRACK_C_NEW_DATA, "i=%d classes %#x", i, d.s.classes);
		cr_assert_not(d.s.classes & (TRACK_C_RETRANSMISSION | TRACK_C_GAP));
		d = tx(&x, B, P_ | A_, 10);
		cr_assert(d.s.classes & TRACK_C_NEW_DATA);
	}
	/* 0xffffff01 + 400 crossed zero; resend the segment before the wrap. */
	x.now += 300 * MS;
	re = in_raw(&x, A, P_ | A_, 0xffffff01u + 200, x.nxt[B], 100, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION, "classes %#x", re.s.classes);
	/* B's last ACK (past zero) covers it. */
	cr_assert(re.s.classes & TRACK_C_SPURIOUS_RETRANSMISSION);
	/* Not acked yet: a plain retransmission. */
	d = tx(&x, A, P_ | A_, 100);
	x.now += 300 * MS;
	re = in_raw(&x, A, P_ | A_, d.v.seq, x.nxt[B], 100, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION, "classes %#x", re.s.classes);
	cr_assert_not(re.s.classes & TRACK_C_SPURIOUS_RETRANSMISSION);
	tx(&x, B, A_, 0);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, mid_stream_pickup)
{
	struct fx x;
	struct p d;
	struct track_summary s;

	fx_init(&x);
	x.nxt[A] = 777777;
	x.nxt[B] = 123456;
	d = in(&x, A, P_ | A_, 100);
	cr_assert(d.s.classes & TRACK_C_PICKUP);
	cr_assert(d.s.classes & TRACK_C_NEW_DATA);
	cr_assert_not(d.s.classes & TRACK_C_FIRST_DATA);
	cr_assert_eq(d.s.sender_state, TCPSTATE_ESTABLISHED);
	cr_assert_eq(d.s.receiver_state, TCPSTATE_ESTABLISHED);
	out(&x, &d);
	d = tx(&x, B, A_, 0);
	cr_assert_not(d.s.classes & (TRACK_C_PICKUP | TRACK_C_GAP));
	d = tx(&x, B, P_ | A_, 50);
	cr_assert(d.s.classes & TRACK_C_NEW_DATA);
	cr_assert_not(d.s.classes & TRACK_C_FIRST_DATA);
	s = summary(&x);
	cr_assert(s.pickup);
	cr_assert_eq(s.reached[A], TRACK_STATE_BIT(TCPSTATE_ESTABLISHED));
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	fx_fini(&x);
}

Test(track, synack_first_seen_infers_client)
{
	struct fx x;
	struct p sa;

	fx_init(&x);
	sa = in_raw(&x, B, S_ | A_, x.isn[B], x.isn[A] + 1, 0, 502);
	x.nxt[A] = x.isn[A] + 1;
	x.nxt[B] = x.isn[B] + 1;
	cr_assert_eq(sa.s.endpoint, B);
	cr_assert_not(sa.s.classes & TRACK_C_PICKUP);
	out(&x, &sa);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	fx_fini(&x);
}

Test(track, delayed_fin_transitions_at_release)
{
	struct fx x;
	struct p fin;
	const struct evrec *r;

	fx_init(&x);
	handshake(&x);
	fin = in(&x, A, F_ | A_, 0);
	track_altered(x.t, &fin.s, TRACK_ALT_DELAYED);
	/* Sender side moved at capture; the receiver has not seen it yet. */
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_ESTABLISHED);
	cr_assert_null(find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSE_WAIT));
	struct p d = in_raw(&x, B, P_ | A_, x.nxt[B], fin.v.seq, 10, 502);
	x.nxt[B] += 10;
	out(&x, &d);
	cr_assert_eq(d.s.sender_state, TCPSTATE_ESTABLISHED);
	cr_assert_eq(d.s.receiver_state, TCPSTATE_FIN_WAIT_1);
	x.now += 50 * MS;
	out(&x, &fin);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSE_WAIT);
	r = find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSE_WAIT);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, fin.s.segno);
	fx_fini(&x);
}

Test(track, reorder_gives_out_of_order_and_dup_acks)
{
	struct fx x;
	struct p d1, d2, d3, a;
	const struct evrec *r;
	struct track_summary s;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 100);
	tx(&x, B, A_, 0);
	d1 = in(&x, A, A_, 1000);
	d2 = in(&x, A, A_, 1000);
	d3 = in(&x, A, A_, 1000);
	/* In order at capture: nothing unusual there. */
	cr_assert_eq(d2.s.classes & (TRACK_C_OUT_OF_ORDER | TRACK_C_GAP), 0);
	track_altered(x.t, &d1.s, TRACK_ALT_REORDERED);
	out(&x, &d2);
	r = find_class(&x, TRACK_C_OUT_OF_ORDER, true);
	cr_assert_not_null(r);
	cr_assert_eq(r->caused_by, d1.s.segno);
	cr_assert_eq(r->seg, d2.s.segno);
	cr_assert(strstr(r->json, "\"view\":\"egress\""), "%s", r->json);
	/* B's answers repeat its last ACK: duplicate ACKs that faultline caused. */
	a = in_raw(&x, B, A_, x.nxt[B], d1.v.seq, 0, 502);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
	cr_assert_eq(a.s.caused_by, d1.s.segno);
	out(&x, &a);
	out(&x, &d3);
	a = in_raw(&x, B, A_, x.nxt[B], d1.v.seq, 0, 502);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK);
	out(&x, &a);
	out(&x, &d1);
	a = tx(&x, B, A_, 0);
	cr_assert_not(a.s.classes & TRACK_C_DUP_ACK);
	s = summary(&x);
	cr_assert_eq(s.out_of_order, 1);
	cr_assert_eq(s.out_of_order_faultline, 1);
	cr_assert_eq(s.dup_acks, 2);
	cr_assert_eq(s.dup_acks_faultline, 2);
	cr_assert_eq(s.retransmissions, 0);
	fx_fini(&x);
}

Test(track, drop_then_fast_retransmission)
{
	struct fx x;
	struct p d[5], a, re;
	uint32_t hole;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 100);
	tx(&x, B, A_, 0);
	hole = x.nxt[A];
	for (int i = 0; i < 5; i++)
		d[i] = in(&x, A, A_, 1000);
	drop(&x, &d[0]);
	for (int i = 1; i < 5; i++) {
		out(&x, &d[i]);
		a = in_raw(&x, B, A_, x.nxt[B], hole, 0, 502);
		out(&x, &a);
		cr_assert(a.s.classes & TRACK_C_DUP_ACK);
	}
	re = in_raw(&x, A, A_, hole, x.nxt[B], 1000, 502);
	cr_assert(re.s.classes & TRACK_C_FAST_RETRANSMISSION, "classes %#x", re.s.classes);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, d[0].s.segno);
	out(&x, &re);
	a = tx(&x, B, A_, 0);
	cr_assert_eq(summary(&x).dup_acks, 4);
	cr_assert_eq(summary(&x).dup_acks_faultline, 4);
	cr_assert_eq(summary(&x).retransmissions_faultline, 1);
	fx_fini(&x);
}

Test(track, delayed_ack_gives_spurious_retransmission)
{
	struct fx x;
	struct p d, a, re;

	fx_init(&x);
	handshake(&x);
	d = tx(&x, A, P_ | A_, 100);
	a = in(&x, B, A_, 0);
	track_altered(x.t, &a.s, TRACK_ALT_DELAYED);
	x.now += 250 * MS;
	re = in_raw(&x, A, P_ | A_, d.v.seq, d.v.ack, 100, 502);
	cr_assert(re.s.classes & TRACK_C_SPURIOUS_RETRANSMISSION, "classes %#x", re.s.classes);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, a.s.segno);
	out(&x, &a);
	out(&x, &re);
	fx_fini(&x);
}

Test(track, capture_gap_then_out_of_order)
{
	struct fx x;
	struct p d2, d1;
	uint32_t s1;

	fx_init(&x);
	tx(&x, A, S_, 0);
	x.now += 5 * MS;
	tx(&x, B, S_ | A_, 0);
	x.now += 5 * MS;
	tx(&x, A, A_, 0);
	tx(&x, B, P_ | A_, 10);
	s1 = x.nxt[A];
	d2 = in_raw(&x, A, A_, s1 + 100, x.nxt[B], 100, 502);
	cr_assert(d2.s.classes & TRACK_C_GAP);
	cr_assert(d2.s.classes & TRACK_C_NEW_DATA);
	d1 = in_raw(&x, A, A_, s1, x.nxt[B], 100, 502);
	cr_assert(d1.s.classes & TRACK_C_OUT_OF_ORDER, "classes %#x", d1.s.classes);
	cr_assert_not(d1.s.classes & TRACK_C_RETRANSMISSION);
	out(&x, &d2);
	out(&x, &d1);
	/* Not faultline's doing: the receiver saw what the capture saw. */
	cr_assert_eq(summary(&x).out_of_order, 1);
	cr_assert_eq(summary(&x).out_of_order_faultline, 0);
	fx_fini(&x);
}

Test(track, keepalive_and_its_ack)
{
	struct fx x;
	struct p ka, ack;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 10);
	tx(&x, B, A_, 0);
	x.now += 75 * SEC;
	ka = in_raw(&x, A, A_, x.nxt[A] - 1, x.nxt[B], 0, 502);
	cr_assert(ka.s.classes & TRACK_C_KEEPALIVE, "classes %#x", ka.s.classes);
	cr_assert_not(ka.s.classes & TRACK_C_RETRANSMISSION);
	out(&x, &ka);
	ack = tx(&x, B, A_, 0);
	cr_assert(ack.s.classes & TRACK_C_KEEPALIVE_ACK, "classes %#x", ack.s.classes);
	cr_assert_not(ack.s.classes & TRACK_C_DUP_ACK);
	cr_assert_not_null(find_class(&x, TRACK_C_KEEPALIVE, false));
	fx_fini(&x);
}

Test(track, zero_window_probe)
{
	struct fx x;
	struct p z, probe, zack, upd;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 1000);
	x.win[B] = 0;
	z = tx(&x, B, A_, 0);
	cr_assert(z.s.classes & TRACK_C_ZERO_WINDOW);
	x.now += 200 * MS;
	probe = in_raw(&x, A, A_, x.nxt[A], x.nxt[B], 1, 502);
	cr_assert(probe.s.classes & TRACK_C_ZERO_WINDOW_PROBE, "classes %#x",
		  probe.s.classes);
	cr_assert_not(probe.s.classes & TRACK_C_NEW_DATA);
	out(&x, &probe);
	zack = tx(&x, B, A_, 0);
	cr_assert(zack.s.classes & TRACK_C_ZERO_WINDOW_PROBE_ACK, "classes %#x",
		  zack.s.classes);
	x.win[B] = 502;
	upd = tx(&x, B, A_, 0);
	cr_assert(upd.s.classes & TRACK_C_WINDOW_UPDATE, "classes %#x", upd.s.classes);
	/* The probe byte is sent again as data once the window opens. */
	struct p d = tx(&x, A, A_, 1000);
	cr_assert_not(d.s.classes & TRACK_C_ZERO_WINDOW_PROBE);
	cr_assert_not_null(find_class(&x, TRACK_C_ZERO_WINDOW_PROBE, false));
	fx_fini(&x);
}

Test(track, time_wait_expires_after_2msl)
{
	struct fx x;
	struct track_stats st;
	const struct evrec *r;

	uint64_t tw;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tw = x.now;
	tx(&x, A, A_, 0);
	track_expire(x.t, tw + 60 * SEC - 1);
	cr_assert_eq(nflows(&x), 1);
	track_expire(x.t, tw + 60 * SEC);
	cr_assert_eq(nflows(&x), 0);
	r = find_transition(&x, A, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	cr_assert_not_null(r);
	cr_assert_eq(r->seg, 0);
	r = &x.ev[x.nev - 1];
	cr_assert_eq(r->type, TRACK_EV_CONN_END);
	cr_assert_eq(r->reason, TRACK_END_TIME_WAIT);
	cr_assert(strstr(r->json, "\"reason\":\"time-wait\""), "%s", r->json);
	cr_assert(strstr(r->json, "\"state\":[\"CLOSED\",\"CLOSED\"]"), "%s", r->json);
	track_get_stats(x.t, &st);
	cr_assert_eq(st.expired_time_wait, 1);
	cr_assert_eq(st.conns_active, 0);
	cr_assert_eq(st.conns_created, 1);
	fx_fini(&x);
}

Test(track, time_wait_is_configurable_and_checked_on_lookup)
{
	struct fx x;
	struct track_config c;
	struct p d;

	track_config_default(&c);
	c.time_wait_ns = 5 * SEC;
	fx_init_cfg(&x, 4, &c);
	handshake(&x);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	x.now += 6 * SEC;
	/* No track_expire() call: the lookup notices the deadline passed. */
	d = in(&x, A, P_ | A_, 10);
	cr_assert(d.s.classes & TRACK_C_PICKUP);
	cr_assert_not(d.s.classes & TRACK_C_STALE);
	fx_fini(&x);
}

Test(track, idle_expiry)
{
	struct fx x;
	struct track_stats st;

	fx_init(&x);
	handshake(&x);
	/* Removed after idle_ns of silence, plus at most idle_ns/64. */
	track_expire(x.t, x.now + 300 * SEC - 1);
	cr_assert_eq(nflows(&x), 1);
	track_expire(x.t, x.now + 300 * SEC + 300 * SEC / 64);
	cr_assert_eq(nflows(&x), 0);
	cr_assert_eq(x.ev[x.nev - 1].reason, TRACK_END_IDLE);
	track_get_stats(x.t, &st);
	cr_assert_eq(st.expired_idle, 1);
	fx_fini(&x);
}

Test(track, eviction_at_capacity)
{
	struct fx x;
	struct track_config c;
	struct track_stats st;
	uint64_t first = 0;
	struct p d;

	track_config_default(&c);
	c.max_conns = 4;
	fx_init_cfg(&x, 4, &c);
	for (int i = 0; i < 5; i++) {
		x.port[A] = (uint16_t)(40000 + i);
		d = tx(&x, A, S_, 0);
		if (i == 0)
			first = d.s.conn;
	}
	track_get_stats(x.t, &st);
	cr_assert_eq(st.evicted, 1);
	cr_assert_eq(st.conns_active, 4);
	cr_assert_eq(st.conns_created, 5);
	cr_assert_eq(nflows(&x), 4);
	cr_assert_not_null(find_end(&x));
	cr_assert_eq(find_end(&x)->reason, TRACK_END_EVICTED);
	cr_assert_eq(find_end(&x)->conn, first);
	/* The oldest went; its tuple comes back as a new flow. */
	x.port[A] = 40000;
	d = in_raw(&x, A, A_, x.isn[A] + 1, 1, 0, 502);
	cr_assert_neq(d.s.conn, first);
	cr_assert(d.s.classes & TRACK_C_PICKUP);
	fx_fini(&x);
}

Test(track, closed_flows_are_evicted_first)
{
	struct fx x;
	struct track_config c;
	struct p d;

	track_config_default(&c);
	c.max_conns = 2;
	fx_init_cfg(&x, 4, &c);
	x.port[A] = 1;
	tx(&x, A, S_, 0);
	x.port[A] = 2;
	handshake(&x);
	tx(&x, A, R_ | A_, 0);
	x.port[A] = 3;
	d = tx(&x, A, S_, 0);
	cr_assert_not_null(find_end(&x));
	cr_assert_eq(find_end(&x)->reason, TRACK_END_EVICTED);
	cr_assert(strstr(find_end(&x)->json, ":2 > "), "%s", find_end(&x)->json);
	(void)d;
	fx_fini(&x);
}

Test(track, ipv6_open_and_close)
{
	struct fx x;
	struct p syn;
	const struct evrec *r;

	fx_init_cfg(&x, 6, NULL);
	syn = tx(&x, A, S_, 0);
	tx(&x, B, S_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_ESTABLISHED, TCPSTATE_ESTABLISHED);
	tx(&x, B, P_ | A_, 100);
	tx(&x, A, F_ | A_, 0);
	tx(&x, B, F_ | A_, 0);
	tx(&x, A, A_, 0);
	assert_states(&x, TCPSTATE_TIME_WAIT, TCPSTATE_CLOSED);
	r = find_transition(&x, A, TCPSTATE_CLOSED, TCPSTATE_SYN_SENT);
	cr_assert_not_null(r);
	cr_assert(strstr(r->json, "\"conn\":\"[2001:db8::1]:40000 > [2001:db8::2]:8080\""),
		  "%s", r->json);
	(void)syn;
	fx_fini(&x);
}

Test(track, ipv4_and_ipv6_with_same_bytes_are_different_flows)
{
	struct fx x;
	struct pkt_view v;
	struct track_seg s4, s6;

	fx_init(&x);
	v = mkv(&x, A, S_, 1, 0, 0, 100);
	cr_assert_eq(track_ingress(x.t, &v, x.now, &s4), 0);
	v.family = 6;
	cr_assert_eq(track_ingress(x.t, &v, x.now, &s6), 0);
	cr_assert_neq(s4.conn, s6.conn);
	cr_assert_eq(nflows(&x), 2);
	fx_fini(&x);
}

Test(track, json_output)
{
	struct fx x;
	const struct evrec *r;
	char buf[1024], small[16];
	struct track_summary s;
	int n;

	fx_init(&x);
	handshake(&x);
	r = find_transition(&x, B, TCPSTATE_LISTEN, TCPSTATE_SYN_RECEIVED);
	cr_assert_not_null(r);
	cr_assert(strstr(r->json, "{\"t\":0.000000,\"ev\":\"transition\",\"flow\":1,"),
		  "%s", r->json);
	cr_assert(strstr(r->json, "\"conn\":\"10.0.0.1:40000 > 10.0.0.2:8080\""), "%s",
		  r->json);
	cr_assert(strstr(r->json, "\"endpoint\":1,\"old\":\"LISTEN\",\"new\":\"SYN_RECEIVED\""),
		  "%s", r->json);
	cr_assert(strstr(r->json, "\"seg\":1,\"seq\":1000,\"ack\":0,\"len\":0,\"flags\":\"S\"}"),
		  "%s", r->json);
	r = find_transition(&x, A, TCPSTATE_SYN_SENT, TCPSTATE_ESTABLISHED);
	cr_assert(strstr(r->json, "\"flags\":\"SA\""), "%s", r->json);
	cr_assert(strstr(r->json, "\"t\":0.000100"), "%s", r->json);
	r = find_transition(&x, B, TCPSTATE_SYN_RECEIVED, TCPSTATE_ESTABLISHED);
	cr_assert(strstr(r->json, "\"flags\":\".\""), "%s", r->json);
	cr_assert(strstr(x.ev[0].json, "\"ev\":\"flow-new\""), "%s", x.ev[0].json);

	s = summary(&x);
	n = track_summary_json(&s, buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen(buf));
	cr_assert(strstr(buf, "\"state\":[\"ESTABLISHED\",\"ESTABLISHED\"]"), "%s", buf);
	cr_assert(strstr(buf, "\"reached\":[[\"CLOSED\",\"SYN_SENT\",\"ESTABLISHED\"],"
			      "[\"LISTEN\",\"SYN_RECEIVED\",\"ESTABLISHED\"]]"), "%s", buf);
	cr_assert(strstr(buf, "\"segments\":3,"), "%s", buf);
	cr_assert(strstr(buf, "\"opts\":[{\"mss\":0,\"wscale\":-1,\"sack\":false,\"ts\":false},"),
		  "%s", buf);
	cr_assert_eq(buf[0], '{');
	cr_assert_eq(buf[n - 1], '}');
	/* Truncation reports the length needed, like snprintf. */
	cr_assert_eq(track_summary_json(&s, small, sizeof(small)), n);
	cr_assert_eq(strlen(small), sizeof(small) - 1);

	struct p fin = in(&x, A, F_ | A_, 0);
	drop(&x, &fin);
	x.now += SEC;
	struct p re = in_raw(&x, A, F_ | A_, fin.v.seq, fin.v.ack, 0, 502);
	r = find_class(&x, TRACK_C_RETRANSMISSION, false);
	cr_assert_not_null(r);
	cr_assert(strstr(r->json, "\"ev\":\"class\""), "%s", r->json);
	cr_assert(strstr(r->json, "\"view\":\"ingress\",\"class\":[\"retransmission\",\"fin\"],"
				  "\"caused_by\":4"), "%s", r->json);
	cr_assert(strstr(r->json, "\"flags\":\"FA\""), "%s", r->json);
	(void)re;
	cr_assert_str_eq(track_class_name(TRACK_C_DUP_ACK), "dup-ack");
	cr_assert_str_eq(track_class_name(TRACK_C_FIRST_DATA), "first-data");
	cr_assert_str_eq(track_class_name(TRACK_C_ZERO_WINDOW_PROBE_ACK),
			 "zero-window-probe-ack");
	cr_assert_str_eq(track_class_name(3), "?");
	cr_assert_str_eq(track_class_name(0), "?");
	fx_fini(&x);
}

Test(track, json_fits_track_json_max)
{
	struct track_event ev;
	struct track_summary s;
	char buf[4096];

	memset(&s, 0xff, sizeof(s));
	s.addrs.family = 6;
	s.reached[0] = s.reached[1] = (1u << TCPSTATE__COUNT) - 1;
	s.state[0] = s.state[1] = TCPSTATE_SYN_RECEIVED;
	s.pickup = s.reuse = true;
	for (int e = 0; e < 2; e++) {
		s.opt[e].wscale = -1;
		s.opt[e].sack_ok = s.opt[e].ts = true;
	}
	memset(&ev, 0xff, sizeof(ev));
	ev.type = TRACK_EV_CONN_END;
	ev.addrs = s.addrs;
	ev.reason = TRACK_END_TIME_WAIT;
	ev.summary = &s;
	ev.egress = true;
	ev.has_seg = true;
	ev.t_ns = 1000000ull * SEC;
	cr_assert_lt(track_event_json(&ev, buf, sizeof(buf)), TRACK_JSON_MAX);
	ev.type = TRACK_EV_CLASS;
	cr_assert_lt(track_event_json(&ev, buf, sizeof(buf)), TRACK_JSON_MAX);
	cr_assert_lt(track_summary_json(&s, buf, sizeof(buf)), TRACK_JSON_MAX);
}

Test(track, retransmitted_syn)
{
	struct fx x;
	struct p syn, re;

	fx_init(&x);
	syn = in(&x, A, S_, 0);
	drop(&x, &syn);
	x.now += SEC;
	re = in_raw(&x, A, S_, x.isn[A], 0, 0, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_not(re.s.classes & TRACK_C_REUSE);
	cr_assert_eq(re.s.conn, syn.s.conn);
	cr_assert_eq(re.s.caused_by, 1);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_LISTEN);
	out(&x, &re);
	assert_states(&x, TCPSTATE_SYN_SENT, TCPSTATE_SYN_RECEIVED);
	fx_fini(&x);
}

Test(track, gso_super_packet_is_one_interval_with_fin_at_end)
{
	struct fx x;
	struct p big, re;

	fx_init(&x);
	handshake(&x);
	big = in(&x, A, P_ | A_ | F_, 64000);
	cr_assert(big.s.classes & TRACK_C_NEW_DATA);
	drop(&x, &big);
	x.now += SEC;
	/* Retransmitted in MSS pieces; each is covered by the dropped one. */
	re = in_raw(&x, A, A_, big.v.seq + 1448, x.nxt[B], 1448, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, big.s.segno);
	out(&x, &re);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_ESTABLISHED);
	re = in_raw(&x, A, P_ | A_ | F_, big.v.seq, x.nxt[B], 64000, 502);
	out(&x, &re);
	assert_states(&x, TCPSTATE_FIN_WAIT_1, TCPSTATE_CLOSE_WAIT);
	fx_fini(&x);
}

Test(track, duplicated_segment_blames_dup_ack_on_faultline)
{
	struct fx x;
	struct p d, a;

	fx_init(&x);
	handshake(&x);
	d = in(&x, A, P_ | A_, 100);
	track_altered(x.t, &d.s, TRACK_ALT_DUPLICATED);
	/* The copy goes out right after the original, as the pipeline does. */
	out(&x, &d);
	out(&x, &d);
	a = tx(&x, B, A_, 0);
	cr_assert(a.s.classes & TRACK_C_PURE_ACK);
	a = tx(&x, B, A_, 0);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK);
	cr_assert_eq(a.s.caused_by, 0);
	cr_assert_eq(summary(&x).dup_acks, 1);
	cr_assert_eq(summary(&x).dup_acks_faultline, 1);
	fx_fini(&x);
}

/* ---- records of faultline's drops and holds (caused_by) ---- */

static struct track_stats stats(struct fx *x)
{
	struct track_stats st;

	track_get_stats(x->t, &st);
	return st;
}

static void fx_init_records(struct fx *x, uint32_t max_conns, uint32_t max_records,
			    uint32_t per_conn)
{
	struct track_config c;

	track_config_default(&c);
	c.max_conns = max_conns;
	c.max_records = max_records;
	c.records_per_conn = per_conn;
	fx_init_cfg(x, 4, &c);
}

/* A resend of p's bytes, after an RTO (a retransmission for tshark). */
static struct p resend(struct fx *x, const struct p *p)
{
	return in_raw(x, A, A_, p->v.seq, x->nxt[B], p->v.payload_len, 502);
}

/* B acknowledges up to 'ack' with an ACK of no data, captured and released. */
static struct p ack_to(struct fx *x, uint32_t ack)
{
	struct p a = in_raw(x, B, A_, x->nxt[B], ack, 0, 502);

	out(x, &a);
	return a;
}

/* Every class event so far names no segment in caused_by. */
static void assert_nothing_blamed(const struct fx *x)
{
	for (int i = 0; i < x->nev; i++)
		if (x->ev[i].type == TRACK_EV_CLASS)
			cr_assert_eq(x->ev[i].caused_by, 0, "%s", x->ev[i].json);
}

/*
 * A capture taken downstream of a lossy link: two segments never reached
 * the capture (gaps), then each is resent. The shadow receiver keeps one
 * block past RCV.NXT, so after the second gap it no longer knows d2 arrived:
 * d5, in sequence at capture, seems to leave a hole. Without a drop or hold
 * of faultline's there, that hole, the dup ACKs and the resends are not
 * faultline's. A faultline drop later in the same connection still is.
 */
Test(track, loss_before_the_capture_is_not_faultline)
{
	struct fx x;
	struct p d2, d4, d5, a, re, d7, d8;
	uint32_t h1, h3;
	struct track_summary s;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, A_, 1000);
	h1 = x.nxt[A];
	x.nxt[A] += 1000;
	d2 = tx(&x, A, A_, 1000);
	cr_assert(d2.s.classes & TRACK_C_GAP);
	h3 = x.nxt[A];
	x.nxt[A] += 1000;
	d4 = tx(&x, A, A_, 1000);
	cr_assert(d4.s.classes & TRACK_C_GAP);
	d5 = tx(&x, A, A_, 1000);
	cr_assert_not(d5.s.classes & TRACK_C_GAP);
	cr_assert_null(find_class(&x, TRACK_C_OUT_OF_ORDER, true));
	/* B lacks h1: it ACKs it, then repeats that ACK. */
	ack_to(&x, h1);
	for (int i = 0; i < 3; i++) {
		a = ack_to(&x, h1);
		cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
		cr_assert_eq(a.s.caused_by, 0);
	}
	re = in_raw(&x, A, A_, h1, x.nxt[B], 1000, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION, "classes %#x", re.s.classes);
	cr_assert_eq(re.s.caused_by, 0);
	out(&x, &re);
	ack_to(&x, h3);
	a = ack_to(&x, h3);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK);
	x.now += 300 * MS;
	re = in_raw(&x, A, A_, h3, x.nxt[B], 1000, 502);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	out(&x, &re);
	ack_to(&x, x.nxt[A]);
	s = summary(&x);
	cr_assert_eq(s.dup_acks, 4);
	cr_assert_eq(s.retransmissions, 2);
	cr_assert_eq(s.dup_acks_faultline, 0);
	cr_assert_eq(s.retransmissions_faultline, 0);
	cr_assert_eq(s.out_of_order_faultline, 0);
	assert_nothing_blamed(&x);

	/* Now faultline drops d7: its hole, dup ACK and resend are its own. */
	d7 = in(&x, A, A_, 1000);
	drop(&x, &d7);
	d8 = tx(&x, A, A_, 1000);
	cr_assert_eq(find_class(&x, TRACK_C_OUT_OF_ORDER, true)->caused_by, d7.s.segno);
	a = ack_to(&x, d7.v.seq);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
	cr_assert_eq(a.s.caused_by, d7.s.segno);
	x.now += 300 * MS;
	re = resend(&x, &d7);
	cr_assert_eq(re.s.caused_by, d7.s.segno);
	out(&x, &re);
	ack_to(&x, d8.s._end);
	s = summary(&x);
	cr_assert_eq(s.dup_acks, 5);
	cr_assert_eq(s.dup_acks_faultline, 1);
	cr_assert_eq(s.retransmissions, 3);
	cr_assert_eq(s.retransmissions_faultline, 1);
	cr_assert_eq(s.out_of_order, 1);
	cr_assert_eq(s.out_of_order_faultline, 1);
	fx_fini(&x);
}

/*
 * A capture taken upstream of a lossy link: the capture has every segment,
 * but h1 was lost after it. The shadow receiver thinks B has h1, so the
 * sender's early resend of it (out-of-order to tshark: within the initial
 * RTT) reaches B "twice". That is the network's loss, not a faultline copy:
 * the dup ACK that follows names nothing and is not faultline's.
 */
Test(track, loss_after_the_capture_is_not_faultline)
{
	struct fx x;
	struct p d[6], a, re;
	struct track_summary s;

	fx_init(&x);
	tx(&x, A, S_, 0);
	x.now += 5 * MS;
	tx(&x, B, S_ | A_, 0);
	x.now += 5 * MS;
	tx(&x, A, A_, 0);
	for (int i = 0; i < 5; i++)
		d[i] = tx(&x, A, A_, 1000);
	/* B got d0 only, then d2..d4 (d1 and d3 were lost past the capture). */
	ack_to(&x, d[1].v.seq);
	a = ack_to(&x, d[1].v.seq);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK);
	re = resend(&x, &d[1]);
	cr_assert(re.s.classes & TRACK_C_OUT_OF_ORDER, "classes %#x", re.s.classes);
	cr_assert_eq(re.s.caused_by, 0);
	out(&x, &re);
	ack_to(&x, d[3].v.seq);
	d[5] = tx(&x, A, A_, 1000);
	a = ack_to(&x, d[3].v.seq);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
	cr_assert_eq(a.s.caused_by, 0);
	s = summary(&x);
	cr_assert_eq(s.dup_acks, 2);
	cr_assert_eq(s.out_of_order, 1);
	cr_assert_eq(s.dup_acks_faultline, 0);
	cr_assert_eq(s.out_of_order_faultline, 0);
	assert_nothing_blamed(&x);
	fx_fini(&x);
}

/*
 * A segment faultline held while the sender's resend got through reaches
 * B a second time: that copy is faultline's, and so is B's dup ACK for it.
 */
Test(track, held_segment_arriving_after_its_resend_is_faultline)
{
	struct fx x;
	struct p d, re, a;

	fx_init(&x);
	handshake(&x);
	tx(&x, A, A_, 100);
	ack_to(&x, x.nxt[A]);
	d = in(&x, A, A_, 1000);
	track_altered(x.t, &d.s, TRACK_ALT_DELAYED);
	x.now += 300 * MS;
	re = resend(&x, &d);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, d.s.segno);
	out(&x, &re);
	ack_to(&x, x.nxt[A]);
	out(&x, &d);
	a = ack_to(&x, x.nxt[A]);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
	cr_assert_eq(summary(&x).dup_acks_faultline, 1);
	fx_fini(&x);
}

/*
 * With its record pool used up, faultline's drop leaves a gap no record
 * explains; it is still faultline's (the drop was counted as records_lost),
 * with caused_by 0.
 */
Test(track, unrecorded_drop_still_makes_faultline_gap)
{
	struct fx x;
	struct p d1, d2, a;

	fx_init_records(&x, 16, 0, 64);
	handshake(&x);
	tx(&x, A, A_, 100);
	d1 = in(&x, A, A_, 1000);
	drop(&x, &d1);
	cr_assert_eq(summary(&x).records_lost, 1);
	d2 = tx(&x, A, A_, 1000);
	cr_assert_eq(find_class(&x, TRACK_C_OUT_OF_ORDER, true)->caused_by, 0);
	a = ack_to(&x, d1.v.seq);
	a = ack_to(&x, d1.v.seq);
	cr_assert(a.s.classes & TRACK_C_DUP_ACK, "classes %#x", a.s.classes);
	cr_assert_eq(a.s.caused_by, 0);
	cr_assert_eq(summary(&x).out_of_order_faultline, 1);
	cr_assert_eq(summary(&x).dup_acks_faultline, 1);
	(void)d2;
	fx_fini(&x);
}

Test(track, many_outstanding_drops_each_named)
{
	struct fx x;
	struct p d[100], re;
	struct track_summary s;

	fx_init(&x);
	handshake(&x);
	/* A bulk window: every other segment dropped, 50 outstanding at once. */
	for (int i = 0; i < 100; i++) {
		d[i] = in(&x, A, A_, 1000);
		if (i % 2 == 0)
			drop(&x, &d[i]);
		else
			out(&x, &d[i]);
	}
	cr_assert_eq(stats(&x).records_in_use, 50);
	x.now += SEC;
	for (int i = 0; i < 100; i += 2) {
		re = resend(&x, &d[i]);
		cr_assert(re.s.classes & TRACK_C_RETRANSMISSION, "classes %#x", re.s.classes);
		cr_assert_eq(re.s.caused_by, d[i].s.segno, "resend of %d names %u", i, re.s.caused_by);
		out(&x, &re);
		/* The receiver ACKs all it has: up to the next hole. */
		re = in_raw(&x, B, A_, x.nxt[B], d[i + 1].v.seq + 1000, 0, 502);
		out(&x, &re);
	}
	s = summary(&x);
	cr_assert_eq(s.retransmissions, 50);
	cr_assert_eq(s.retransmissions_faultline, 50);
	cr_assert_eq(s.records_lost, 0);
	cr_assert_eq(stats(&x).records_lost_pool + stats(&x).records_lost_cap, 0);
	/* Repaired records go back to the pool as the receiver gets the bytes. */
	tx(&x, A, A_, 0);
	cr_assert_eq(stats(&x).records_in_use, 0);
	fx_fini(&x);
}

Test(track, out_of_order_resend_names_its_drop)
{
	struct fx x;
	struct p d1, d2, re;
	struct track_summary s;

	fx_init(&x);
	handshake(&x);
	d1 = in(&x, A, A_, 1000);
	drop(&x, &d1);
	d2 = tx(&x, A, A_, 1000);
	/* Within the initial RTT (200 us here) of d2: tshark says out-of-order. */
	re = resend(&x, &d1);
	cr_assert(re.s.classes & TRACK_C_OUT_OF_ORDER, "classes %#x", re.s.classes);
	cr_assert_not(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, d1.s.segno);
	cr_assert_eq(find_class(&x, TRACK_C_OUT_OF_ORDER, false)->caused_by, d1.s.segno);
	out(&x, &re);
	s = summary(&x);
	cr_assert_eq(s.out_of_order_faultline, s.out_of_order);
	(void)d2;
	fx_fini(&x);
}

Test(track, dropped_resend_is_named_by_the_next)
{
	struct fx x;
	struct p d, r1, r2;

	fx_init(&x);
	handshake(&x);
	d = in(&x, A, A_, 1000);
	drop(&x, &d);
	x.now += SEC;
	r1 = resend(&x, &d);
	cr_assert_eq(r1.s.caused_by, d.s.segno);
	drop(&x, &r1);
	x.now += 2 * SEC;
	r2 = resend(&x, &d);
	cr_assert(r2.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(r2.s.caused_by, r1.s.segno);
	out(&x, &r2);
	tx(&x, B, A_, 0);
	tx(&x, A, A_, 0);
	cr_assert_eq(stats(&x).records_in_use, 0);
	fx_fini(&x);
}

Test(track, pool_exhaustion_is_counted)
{
	struct fx x;
	struct p d[20], re;
	struct track_stats st;

	fx_init_records(&x, 16, 8, 64);
	handshake(&x);
	for (int i = 0; i < 20; i++) {
		d[i] = in(&x, A, A_, 1000);
		drop(&x, &d[i]);
	}
	st = stats(&x);
	cr_assert_eq(st.records_in_use, 8);
	cr_assert_eq(st.records_lost_pool, 12);
	cr_assert_eq(st.records_lost_cap, 0);
	cr_assert_eq(summary(&x).records_lost, 12);
	x.now += SEC;
	for (int i = 0; i < 20; i++) {
		re = resend(&x, &d[i]);
		cr_assert_eq(re.s.caused_by, i < 8 ? d[i].s.segno : 0, "resend %d", i);
		out(&x, &re);
	}
	tx(&x, B, A_, 0);
	tx(&x, A, A_, 0);
	cr_assert_eq(stats(&x).records_in_use, 0);
	/* The pool is whole again. */
	for (int i = 0; i < 8; i++)
		drop(&x, (struct p[]){ in(&x, A, A_, 100) });
	cr_assert_eq(stats(&x).records_in_use, 8);
	cr_assert_eq(stats(&x).records_lost_pool, 12);
	fx_fini(&x);
}

Test(track, no_records_at_all)
{
	struct fx x;
	struct p d, re;

	fx_init_records(&x, 16, 0, 64);
	handshake(&x);
	d = in(&x, A, A_, 1000);
	drop(&x, &d);
	track_altered(x.t, &d.s, TRACK_ALT_DELAYED);
	x.now += SEC;
	re = resend(&x, &d);
	cr_assert(re.s.classes & TRACK_C_RETRANSMISSION);
	cr_assert_eq(re.s.caused_by, 0);
	cr_assert_eq(stats(&x).records_lost_pool, 2);
	fx_fini(&x);
}

Test(track, per_flow_cap_forgets_the_oldest_drop)
{
	struct fx x;
	struct p d[6], re;

	fx_init_records(&x, 16, 1024, 4);
	handshake(&x);
	for (int i = 0; i < 6; i++) {
		d[i] = in(&x, A, A_, 1000);
		drop(&x, &d[i]);
	}
	cr_assert_eq(stats(&x).records_in_use, 4);
	cr_assert_eq(stats(&x).records_lost_cap, 2);
	cr_assert_eq(summary(&x).records_lost, 2);
	x.now += SEC;
	for (int i = 0; i < 6; i++) {
		re = resend(&x, &d[i]);
		cr_assert_eq(re.s.caused_by, i < 2 ? 0 : d[i].s.segno, "resend %d", i);
		out(&x, &re);
	}
	fx_fini(&x);
}

Test(track, holds_never_crowd_out_drops)
{
	struct fx x;
	struct p h[5], d, re;
	struct track_stats st;

	fx_init_records(&x, 16, 1024, 4);
	handshake(&x);
	for (int i = 0; i < 5; i++) {
		h[i] = in(&x, A, A_, 1000);
		track_altered(x.t, &h[i].s, TRACK_ALT_DELAYED);
	}
	/* At the cap a new hold is not recorded: the oldest holds matter most. */
	st = stats(&x);
	cr_assert_eq(st.records_in_use, 4);
	cr_assert_eq(st.records_lost_cap, 1);
	/* A drop pushes out the newest hold. */
	d = in(&x, A, A_, 1000);
	drop(&x, &d);
	st = stats(&x);
	cr_assert_eq(st.records_in_use, 4);
	cr_assert_eq(st.records_lost_cap, 2);
	x.now += SEC;
	re = resend(&x, &h[0]);
	cr_assert_eq(re.s.caused_by, h[0].s.segno);
	re = resend(&x, &h[3]);
	cr_assert_eq(re.s.caused_by, 0);
	re = resend(&x, &d);
	cr_assert_eq(re.s.caused_by, d.s.segno);
	/* Each release frees its hold. */
	for (int i = 0; i < 5; i++)
		out(&x, &h[i]);
	cr_assert_eq(stats(&x).records_in_use, 1);
	fx_fini(&x);
}

Test(track, delay_on_every_segment_leaves_drops_named)
{
	struct fx x;
	struct p q[8], d, re;
	int head = 0, n = 0, named = 0, drops = 0;

	/* Holds may fill at most half the pool. */
	fx_init_records(&x, 16, 16, 64);
	handshake(&x);
	for (int i = 0; i < 2000; i++) {
		x.nev = 0;
		d = in(&x, A, A_, 1000);
		if (i % 50 == 49) {
			/* A drop among the holds, resent at once after an RTO. */
			drop(&x, &d);
			drops++;
			x.now += SEC;
			re = resend(&x, &d);
			named += re.s.caused_by == d.s.segno;
			track_altered(x.t, &re.s, TRACK_ALT_DELAYED);
			d = re;
		} else {
			track_altered(x.t, &d.s, TRACK_ALT_DELAYED);
		}
		/* Each segment is held while the next 8 pass through faultline. */
		if (n == 8) {
			out(&x, &q[head]);
			head = (head + 1) % 8;
			n--;
		}
		q[(head + n) % 8] = d;
		n++;
		cr_assert_leq(stats(&x).records_in_use, 16);
	}
	cr_assert_eq(named, drops);
	cr_assert_gt(stats(&x).records_lost_pool, 0);
	fx_fini(&x);
}

Test(track, flow_end_frees_its_records)
{
	struct fx x;
	struct p d;

	fx_init_records(&x, 2, 8, 64);
	handshake(&x);
	for (int i = 0; i < 5; i++) {
		d = in(&x, A, A_, 1000);
		drop(&x, &d);
	}
	d = in(&x, A, A_, 1000);
	track_altered(x.t, &d.s, TRACK_ALT_DELAYED);
	cr_assert_eq(stats(&x).records_in_use, 6);
	/* Two new flows: the table holds two, so the first is evicted. */
	for (int i = 1; i <= 2; i++) {
		x.port[A] = (uint16_t)(40000 + i);
		tx(&x, A, S_, 0);
	}
	cr_assert_eq(stats(&x).evicted, 1);
	cr_assert_eq(stats(&x).records_in_use, 0);
	/* The held segment of the evicted flow is released into nothing. */
	x.port[A] = 40000;
	out(&x, &d);
	/* All 8 records are free again; a reused tuple frees them too. */
	x.port[A] = 40001;
	x.nxt[A] = x.isn[A] + 1;
	for (int i = 0; i < 8; i++) {
		d = in(&x, A, A_, 10);
		drop(&x, &d);
	}
	cr_assert_eq(stats(&x).records_in_use, 8);
	cr_assert_eq(stats(&x).records_lost_pool, 0);
	x.isn[A] += 100000;
	d = tx(&x, A, S_, 0);
	cr_assert(d.s.classes & TRACK_C_REUSE, "classes %#x", d.s.classes);
	cr_assert_eq(stats(&x).records_in_use, 0);
	/* And idle expiry. */
	d = in(&x, A, A_, 10);
	drop(&x, &d);
	cr_assert_eq(stats(&x).records_in_use, 1);
	track_expire(x.t, x.now + 400 * SEC);
	cr_assert_eq(nflows(&x), 0);
	cr_assert_eq(stats(&x).records_in_use, 0);
	fx_fini(&x);
}

Test(track, records_in_json)
{
	struct fx x;
	struct p d;
	struct track_summary s;
	struct track_stats st;
	char buf[TRACK_JSON_MAX];

	fx_init_records(&x, 16, 1, 64);
	handshake(&x);
	for (int i = 0; i < 3; i++) {
		d = in(&x, A, A_, 1000);
		drop(&x, &d);
	}
	s = summary(&x);
	track_summary_json(&s, buf, sizeof(buf));
	cr_assert(strstr(buf, "\"dup_acks_faultline\":0,\"records_lost\":2}"), "%s", buf);
	st = stats(&x);
	cr_assert_lt(track_stats_json(&st, buf, sizeof(buf)), (int)sizeof(buf));
	cr_assert(strstr(buf, "{\"connections\":1,\"active\":1,\"evicted\":0,"), "%s", buf);
	cr_assert(strstr(buf, "\"records_in_use\":1,\"records_lost_pool\":2,"
			      "\"records_lost_cap\":0}"), "%s", buf);
	fx_fini(&x);
}

Test(track, buckets_grow_with_the_flows)
{
	struct fx x;
	static uint64_t id[3000];
	struct p p;

	/* From 256 buckets up: every flow stays findable from both sides. */
	fx_init_records(&x, 4096, 16, 4);
	for (int i = 0; i < 3000; i++) {
		x.nev = 0;
		x.port[A] = (uint16_t)(1000 + i);
		x.addr[A][3] = (uint8_t)(1 + i % 7);
		p = tx(&x, A, S_, 0);
		id[i] = p.s.conn;
		cr_assert_eq(p.s.segno, 1);
	}
	for (int i = 2999; i >= 0; i--) {
		x.nev = 0;
		x.port[A] = (uint16_t)(1000 + i);
		x.addr[A][3] = (uint8_t)(1 + i % 7);
		p = in_raw(&x, B, S_ | A_, x.isn[B], x.isn[A] + 1, 0, 502);
		cr_assert_eq(p.s.conn, id[i], "flow %d", i);
		cr_assert_eq(p.s.segno, 2);
		p = in_raw(&x, A, A_, x.isn[A] + 1, x.isn[B] + 1, 0, 502);
		cr_assert_eq(p.s.conn, id[i], "flow %d", i);
	}
	cr_assert_eq(stats(&x).conns_active, 3000);
	/* They go (idle), and come back as new flows. */
	track_set_event_cb(x.t, NULL, NULL);
	track_expire(x.t, x.now + 400 * SEC);
	track_set_event_cb(x.t, on_event, &x);
	cr_assert_eq(stats(&x).conns_active, 0);
	x.now += 400 * SEC;
	for (int i = 0; i < 3000; i++) {
		x.nev = 0;
		x.port[A] = (uint16_t)(1000 + i);
		x.addr[A][3] = (uint8_t)(1 + i % 7);
		p = tx(&x, A, S_, 0);
		cr_assert_eq(p.s.segno, 1);
		cr_assert_gt(p.s.conn, id[2999]);
	}
	cr_assert_eq(stats(&x).conns_active, 3000);
	fx_fini(&x);
}

/*
 * 'reset' of an established connection: each RST carries what its
 * receiver takes as RCV.NXT, the peer's data as released (not as
 * captured: the segment reset was dropped), and both endpoints close.
 */
Test(track, reset_rsts_carry_each_rcv_nxt_and_close_both)
{
	struct fx x;
	struct p d;
	struct track_rst rst[2] = { { .send = true, .seq = 1, .ack = 2 }, { .send = true, .seq = 3, .ack = 4 } };

	fx_init(&x);
	handshake(&x);
	tx(&x, A, P_ | A_, 100);
	tx(&x, B, P_ | A_, 50);
	d = in(&x, A, P_ | A_, 200);
	drop(&x, &d);
	cr_assert_eq(track_reset(x.t, &d.s, &d.v, x.now, rst), 0);
	cr_assert(rst[0].send);
	cr_assert_eq(rst[0].seq, x.isn[B] + 1 + 50, "A's RCV.NXT: B's 50 bytes");
	cr_assert_eq(rst[0].ack, x.isn[A] + 1 + 300, "A's SND.NXT, the dropped segment included");
	cr_assert(rst[1].send);
	cr_assert_eq(rst[1].seq, x.isn[A] + 1 + 100, "B's RCV.NXT: only the 100 bytes released");
	cr_assert_eq(rst[1].ack, x.isn[B] + 1 + 50);
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_CLOSED);
	cr_assert_not_null(find_transition(&x, A, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSED));
	cr_assert_not_null(find_transition(&x, B, TCPSTATE_ESTABLISHED, TCPSTATE_CLOSED));
	/* Closed: nothing more to reset, and what still comes is stale. */
	d = in(&x, B, P_ | A_, 10);
	cr_assert(d.s.classes & TRACK_C_STALE);
	cr_assert_eq(track_reset(x.t, &d.s, &d.v, x.now, rst), 0);
	cr_assert(!rst[0].send && !rst[1].send);
	fx_fini(&x);
}

/* A SYN reset: its sender (SYN_SENT) wants the ACK of its SYN; the listener gets none. */
Test(track, reset_of_a_syn_tells_only_the_client)
{
	struct fx x;
	struct p s;
	struct track_rst rst[2] = { { .send = true, .seq = 0, .ack = 9 }, { .send = true } };

	fx_init(&x);
	s = in(&x, A, S_, 0);
	drop(&x, &s);
	cr_assert_eq(track_reset(x.t, &s.s, &s.v, x.now, rst), 0);
	cr_assert(rst[0].send);
	cr_assert_eq(rst[0].ack, x.isn[A] + 1);
	cr_assert(!rst[1].send);
	cr_assert_eq(summary(&x).state[A], TCPSTATE_CLOSED);
	fx_fini(&x);
}

/* In SYN_RECEIVED after a passive open the server goes back to LISTEN, as a RST makes it. */
Test(track, reset_in_syn_received_returns_the_server_to_listen)
{
	struct fx x;
	struct p s;
	struct track_rst rst[2] = { { .send = true }, { .send = true } };

	fx_init(&x);
	tx(&x, A, S_, 0);
	s = in(&x, B, S_ | A_, 0);
	drop(&x, &s);
	cr_assert_eq(track_reset(x.t, &s.s, &s.v, x.now, rst), 0);
	cr_assert(rst[0].send && rst[1].send);
	cr_assert_eq(rst[0].seq, x.isn[A] + 1, "B's RCV.NXT: the SYN");
	cr_assert_eq(rst[1].ack, x.isn[A] + 1, "A in SYN_SENT: the ACK of its SYN");
	assert_states(&x, TCPSTATE_CLOSED, TCPSTATE_LISTEN);
	fx_fini(&x);
}

Test(track, reset_of_an_unknown_segment_leaves_the_caller_values)
{
	struct fx x;
	struct p s;
	struct track_rst rst[2] = { { .send = true, .seq = 5, .ack = 6 }, { .send = false } };

	fx_init(&x);
	s = in(&x, A, S_, 0);
	s.s.conn = 0;
	cr_assert_eq(track_reset(x.t, &s.s, &s.v, x.now, rst), -ENOENT);
	cr_assert(rst[0].send && rst[0].seq == 5 && rst[0].ack == 6 && !rst[1].send);
	fx_fini(&x);
}
