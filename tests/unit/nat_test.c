// SPDX-License-Identifier: MIT
/* nat: the iptables-restore scripts of the toxiproxy API's proxies, and reading them back. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "nat.h"

static struct nat_proxy proxy(int proto, const char *l, uint16_t lp, const char *u, uint16_t up)
{
	struct nat_proxy p = { .proto = proto };

	p.listen.sin_addr.s_addr = inet_addr(l);
	p.listen.sin_port = htons(lp);
	p.upstream.sin_addr.s_addr = inet_addr(u);
	p.upstream.sin_port = htons(up);
	return p;
}

Test(nat, script_declares_chains_jumps_once_and_each_proxy)
{
	struct nat_proxy p[2] = { proxy(IPPROTO_TCP, "127.0.0.1", 9000, "10.0.0.2", 5432),
				  proxy(IPPROTO_UDP, "0.0.0.0", 5353, "10.0.0.2", 53) };
	struct strbuf s = { 0 };

	cr_assert_eq(nat_script(7, true, 0, p, 2, &s), 0);
	cr_assert_str_eq(s.p,
		"*nat\n:FAULTLINE-NAT-7 - [0:0]\n:FAULTLINE-SNAT-7 - [0:0]\n"
		"-A OUTPUT -j FAULTLINE-NAT-7\n-A PREROUTING -j FAULTLINE-NAT-7\n-A POSTROUTING -j FAULTLINE-SNAT-7\n"
		"-A FAULTLINE-NAT-7 -d 127.0.0.1/32 -p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.0.0.2:5432\n"
		"-A FAULTLINE-SNAT-7 -p tcp -m conntrack --ctstate DNAT --ctorigdst 127.0.0.1/32 --ctorigdstport 9000 -j MASQUERADE --to-ports 61000-65535\n"
		"-A FAULTLINE-NAT-7 -m addrtype --dst-type LOCAL -p udp -m udp --dport 5353 -j DNAT --to-destination 10.0.0.2:53\n"
		"-A FAULTLINE-SNAT-7 -p udp -m conntrack --ctstate DNAT --ctorigdstport 5353 -j MASQUERADE --to-ports 61000-65535\n"
		"-A FAULTLINE-SNAT-7 -m conntrack --ctstate DNAT -m comment --comment faultline-keeps-conntrack -j RETURN\n"
		"-A FAULTLINE-SNAT-7 -m comment --comment faultline-route-localnet=0 -j RETURN\n"
		"COMMIT\n");
	strbuf_free(&s);
	memset(&s, 0, sizeof(s));
	/*
	 * Later changes only rewrite the chains; with no proxy left, the rule
	 * that keeps conntrack in use stays (its going would drop the queue).
	 */
	cr_assert_eq(nat_script(7, false, -1, p, 0, &s), 0);
	cr_assert_str_eq(s.p, "*nat\n:FAULTLINE-NAT-7 - [0:0]\n:FAULTLINE-SNAT-7 - [0:0]\n"
			 "-A FAULTLINE-SNAT-7 -m conntrack --ctstate DNAT -m comment --comment "
			 "faultline-keeps-conntrack -j RETURN\nCOMMIT\n");
	strbuf_free(&s);
}

Test(nat, parse_save_finds_queues_and_localnet_notes)
{
	const char *save =
		"*mangle\n:FAULTLINE-NAT-3 - [0:0]\nCOMMIT\n"
		"*nat\n:PREROUTING ACCEPT [0:0]\n:FAULTLINE-NAT-4242 - [0:0]\n:FAULTLINE-SNAT-4242 - [0:0]\n"
		":FAULTLINE-NAT-9 - [0:0]\n"
		"-A FAULTLINE-SNAT-4242 -m comment --comment \"faultline-route-localnet=0\" -j RETURN\nCOMMIT\n";
	uint16_t q[4];
	int ln[4];

	cr_assert_eq(nat_parse_save(save, q, ln, 4), 2);
	cr_assert_eq(q[0], 4242);
	cr_assert_eq(ln[0], 0);
	cr_assert_eq(q[1], 9);
	cr_assert_eq(ln[1], -1);
}
