// SPDX-License-Identifier: MIT
/*
 * The cut of cut.h. ctnetlink exports a TCP entry's state and window
 * scales but not the sequence numbers conntrack follows, and faultline's
 * tracker sees only the packets some rule diverts, so nothing here knows
 * what sequence number a RST must carry: the probe makes each end say it,
 * and the kernel's own RST for a packet no socket takes answers it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "cut.h"
#include "inject.h"

bool cut_owns(const struct nat_proxy *p, const struct cut_conn *c)
{
	if (c->family != 4 || c->proto != p->proto || !c->dnat)
		return false;
	if (c->odport != ntohs(p->listen.sin_port) || c->rsport != ntohs(p->upstream.sin_port))
		return false;
	if (memcmp(c->rsrc, &p->upstream.sin_addr, 4))
		return false;
	/*
	 * A proxy on any address translated whatever local address the
	 * client chose (nat.c: addrtype LOCAL); one on an address, only it.
	 */
	return p->listen.sin_addr.s_addr == INADDR_ANY || !memcmp(c->odst, &p->listen.sin_addr, 4);
}

int cut_probes(const struct cut_conn *c, uint8_t buf[2][PKT_RST_MAX], int len[2])
{
	/*
	 * A SYN into TIME_WAIT could open a new connection to the upstream's
	 * listener, and in SYN_SENT the upstream has no socket yet (the
	 * client's next SYN finds no translation): probe only where both
	 * ends may hold a socket of this connection.
	 */
	if (c->proto != IPPROTO_TCP || c->tcp_state < TCP_CONNTRACK_SYN_RECV ||
	    c->tcp_state > TCP_CONNTRACK_LAST_ACK)
		return 0;
	len[0] = pkt_make_syn(buf[0], c->family, c->odst, c->osrc, c->odport, c->osport, 0);
	len[1] = pkt_make_syn(buf[1], c->family, c->rdst, c->rsrc, c->rdport, c->rsport, 0);
	return len[0] < 0 || len[1] < 0 ? 0 : 2;
}

/* The entry ct as cut needs it: 0, or -EAFNOSUPPORT (not IPv4 or IPv6). */
static int conn_of(const struct nf_conntrack *ct, struct cut_conn *c)
{
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);

	memset(c, 0, sizeof(*c));
	if (l3 == AF_INET) {
		uint32_t a[4] = { nfct_get_attr_u32(ct, ATTR_IPV4_SRC), nfct_get_attr_u32(ct, ATTR_IPV4_DST),
				  nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC),
				  nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST) };

		c->family = 4;
		memcpy(c->osrc, &a[0], 4);
		memcpy(c->odst, &a[1], 4);
		memcpy(c->rsrc, &a[2], 4);
		memcpy(c->rdst, &a[3], 4);
	} else if (l3 == AF_INET6) {
		c->family = 6;
		memcpy(c->osrc, nfct_get_attr(ct, ATTR_IPV6_SRC), 16);
		memcpy(c->odst, nfct_get_attr(ct, ATTR_IPV6_DST), 16);
		memcpy(c->rsrc, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
		memcpy(c->rdst, nfct_get_attr(ct, ATTR_REPL_IPV6_DST), 16);
	} else {
		return -EAFNOSUPPORT;
	}
	c->proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	c->osport = ntohs(nfct_get_attr_u16(ct, ATTR_PORT_SRC));
	c->odport = ntohs(nfct_get_attr_u16(ct, ATTR_PORT_DST));
	c->rsport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	c->rdport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
	if (c->proto == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0)
		c->tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
	c->dnat = nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_DST_NAT;
	return 0;
}

/* The proxy's entries found by the dump (copies, for the deletes after it). */
struct found {
	const struct nat_proxy *p;
	struct nf_conntrack **ct;
	struct cut_conn *conn;
	size_t n, cap;
	int err;
};

static int on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct found *f = data;
	struct cut_conn c;

	(void)type;
	if (conn_of(ct, &c) || !cut_owns(f->p, &c))
		return NFCT_CB_CONTINUE;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct nf_conntrack **nct = realloc(f->ct, cap * sizeof(*nct));
		struct cut_conn *nc = nct ? realloc(f->conn, cap * sizeof(*nc)) : NULL;

		if (nct)
			f->ct = nct;
		if (!nc) {
			f->err = -ENOMEM;
			return NFCT_CB_STOP;
		}
		f->conn = nc;
		f->cap = cap;
	}
	f->ct[f->n] = nfct_clone(ct);
	if (!f->ct[f->n]) {
		f->err = -ENOMEM;
		return NFCT_CB_STOP;
	}
	f->conn[f->n++] = c;
	return NFCT_CB_CONTINUE;
}

/* Send the probes of the n connections c; 0 or -errno (the raw socket, the first failed send). */
static int probe(const struct cut_conn *c, size_t n, uint32_t mark, unsigned *sent)
{
	struct inject *j = NULL;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t buf[2][PKT_RST_MAX];
		int len[2], k = cut_probes(&c[i], buf, len);

		if (k && !j && !(j = inject_open(mark)))
			return -errno;
		for (int s = 0; s < k; s++) {
			struct pkt_view v;
			int r = pkt_parse(&v, buf[s], (size_t)len[s]);

			if (!r)
				r = inject_send(j, &v);
			if (r < 0 && !ret)
				ret = r;
			else if (r > 0)
				(*sent)++;
		}
	}
	inject_close(j);
	return ret;
}

int cut_proxy(const struct nat_proxy *p, uint32_t mark, struct cut_stats *st)
{
	struct found f = { .p = p };
	uint32_t family = AF_UNSPEC;
	struct nfct_handle *h;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	h = nfct_open(CONNTRACK, 0);
	if (!h)
		return -errno;
	nfct_callback_register(h, NFCT_T_ALL, on_entry, &f);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		ret = -errno;
	else
		ret = f.err;
	st->found = (unsigned)f.n;
	/*
	 * Delete before probing: an end's answer must meet no translation,
	 * and the probe to the upstream, from the translated source, must
	 * not clash with the old entry's reply tuple (NAT would move its
	 * port away).
	 */
	for (size_t i = 0; i < f.n; i++) {
		if (nfct_query(h, NFCT_Q_DESTROY, f.ct[i]) == 0 || errno == ENOENT)
			st->deleted++;
		else if (!ret)
			ret = -errno;
		nfct_destroy(f.ct[i]);
	}
	nfct_close(h);
	st->probe_err = probe(f.conn, f.n, mark, &st->probed);
	free(f.ct);
	free(f.conn);
	return ret;
}
