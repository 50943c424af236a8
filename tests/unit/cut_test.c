// SPDX-License-Identifier: MIT
/* cut: which conntrack entries are a proxy's, and the SYNs that make both ends answer. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <string.h>

#include "cut.h"

static struct nat_proxy proxy(const char *listen, uint16_t lport, const char *up, uint16_t uport)
{
	struct nat_proxy p = { .proto = IPPROTO_TCP };

	p.listen.sin_family = p.upstream.sin_family = AF_INET;
	p.listen.sin_addr.s_addr = inet_addr(listen);
	p.listen.sin_port = htons(lport);
	p.upstream.sin_addr.s_addr = inet_addr(up);
	p.upstream.sin_port = htons(uport);
	return p;
}

/* Client 127.0.0.1:40001 to 127.0.0.1:9000, translated to 10.0.0.2:5432 from 10.0.0.1:40001. */
static struct cut_conn conn(void)
{
	struct cut_conn c = { .family = 4, .proto = IPPROTO_TCP, .tcp_state = TCP_CONNTRACK_ESTABLISHED,
			      .dnat = true, .osport = 40001, .odport = 9000, .rsport = 5432, .rdport = 40001 };
	in_addr_t a[4] = { inet_addr("127.0.0.1"), inet_addr("127.0.0.1"), inet_addr("10.0.0.2"),
			   inet_addr("10.0.0.1") };

	memcpy(c.osrc, &a[0], 4);
	memcpy(c.odst, &a[1], 4);
	memcpy(c.rsrc, &a[2], 4);
	memcpy(c.rdst, &a[3], 4);
	return c;
}

Test(cut, owns_the_proxys_translated_connections_only)
{
	struct nat_proxy p = proxy("127.0.0.1", 9000, "10.0.0.2", 5432), any = proxy("0.0.0.0", 9000, "10.0.0.2", 5432);
	struct cut_conn c = conn(), x;

	cr_assert(cut_owns(&p, &c));
	cr_assert(cut_owns(&any, &c));
	x = c;
	x.dnat = false;		/* a connection straight to the upstream */
	cr_assert_not(cut_owns(&p, &x));
	x = c;
	x.odport = 9001;
	cr_assert_not(cut_owns(&p, &x));
	x = c;
	x.rsport = 5433;
	cr_assert_not(cut_owns(&p, &x));
	x = c;
	x.rsrc[3] = 3;		/* another upstream */
	cr_assert_not(cut_owns(&p, &x));
	x = c;
	x.odst[3] = 2;		/* another listen address: only the proxy on any owns it */
	cr_assert_not(cut_owns(&p, &x));
	cr_assert(cut_owns(&any, &x));
	x = c;
	x.proto = IPPROTO_UDP;
	cr_assert_not(cut_owns(&p, &x));
	p.proto = IPPROTO_UDP;
	cr_assert(cut_owns(&p, &x));
	x.family = 6;
	cr_assert_not(cut_owns(&p, &x));
}

Test(cut, probes_reach_both_ends_from_the_address_each_talks_to)
{
	struct cut_conn c = conn();
	uint8_t buf[2][PKT_RST_MAX];
	int len[2];
	struct pkt_view v;

	cr_assert_eq(cut_probes(&c, buf, len), 2);
	cr_assert_eq(pkt_parse(&v, buf[0], (size_t)len[0]), 0);
	cr_assert_eq(v.tcp_flags, PKT_TCP_SYN);
	cr_assert_eq(memcmp(v.saddr, c.odst, 4), 0);
	cr_assert_eq(memcmp(v.daddr, c.osrc, 4), 0);
	cr_assert_eq(v.sport, 9000);
	cr_assert_eq(v.dport, 40001);
	cr_assert_eq(pkt_parse(&v, buf[1], (size_t)len[1]), 0);
	cr_assert_eq(v.tcp_flags, PKT_TCP_SYN);
	cr_assert_eq(memcmp(v.saddr, c.rdst, 4), 0);
	cr_assert_eq(memcmp(v.daddr, c.rsrc, 4), 0);
	cr_assert_eq(v.sport, 40001);
	cr_assert_eq(v.dport, 5432);
}

Test(cut, probes_only_where_both_ends_may_hold_a_socket)
{
	static const struct {
		uint8_t state;
		int probes;
	} cases[] = {
		{ TCP_CONNTRACK_NONE, 0 },	{ TCP_CONNTRACK_SYN_SENT, 0 },	 { TCP_CONNTRACK_SYN_RECV, 2 },
		{ TCP_CONNTRACK_ESTABLISHED, 2 }, { TCP_CONNTRACK_FIN_WAIT, 2 }, { TCP_CONNTRACK_CLOSE_WAIT, 2 },
		{ TCP_CONNTRACK_LAST_ACK, 2 },	{ TCP_CONNTRACK_TIME_WAIT, 0 }, { TCP_CONNTRACK_CLOSE, 0 },
	};
	struct cut_conn c = conn();
	uint8_t buf[2][PKT_RST_MAX];
	int len[2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.tcp_state = cases[i].state;
		cr_assert_eq(cut_probes(&c, buf, len), cases[i].probes, "state %u", cases[i].state);
	}
	c.tcp_state = TCP_CONNTRACK_ESTABLISHED;
	c.proto = IPPROTO_UDP;
	cr_assert_eq(cut_probes(&c, buf, len), 0);
}
