// SPDX-License-Identifier: MIT
/*
 * The chains of nat.h. The DNAT rules see a connection's first packet
 * only (the nat table is consulted once per connection): established
 * connections keep their translation in conntrack whatever the chain
 * says later, which is why a stopped proxy's connections are cut through
 * conntrack (cut.h), not here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nat.h"

#define LOCALNET_PATH "/proc/sys/net/ipv4/conf/all/route_localnet"

struct nat {
	uint16_t queue;
	bool installed;		/* the chains and jumps are there */
	int localnet;		/* route_localnet before nat_set changed it, -1: untouched */
	enum ipt_backend backend;
};

static const char *proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static void put_proxy(struct strbuf *o, uint16_t q, const struct nat_proxy *p)
{
	char l[INET_ADDRSTRLEN], u[INET_ADDRSTRLEN];
	const char *pn = proto_name(p->proto);

	inet_ntop(AF_INET, &p->listen.sin_addr, l, sizeof(l));
	inet_ntop(AF_INET, &p->upstream.sin_addr, u, sizeof(u));
	/* Any local address: what a socket bound to 0.0.0.0 would accept. */
	if (p->listen.sin_addr.s_addr == INADDR_ANY)
		strbuf_printf(o, "-A " NAT_CHAIN_DNAT "%u -m addrtype --dst-type LOCAL", q);
	else
		strbuf_printf(o, "-A " NAT_CHAIN_DNAT "%u -d %s/32", q, l);
	strbuf_printf(o, " -p %s -m %s --dport %u -j DNAT --to-destination %s:%u\n", pn, pn,
		      ntohs(p->listen.sin_port), u, ntohs(p->upstream.sin_port));
	/* Only what this proxy translated: other traffic to the upstream keeps its source. */
	strbuf_printf(o, "-A " NAT_CHAIN_SNAT "%u -p %s -m conntrack --ctstate DNAT", q, pn);
	if (p->listen.sin_addr.s_addr != INADDR_ANY)
		strbuf_printf(o, " --ctorigdst %s/32", l);
	strbuf_printf(o, " --ctorigdstport %u -j MASQUERADE --to-ports %u-%u\n", ntohs(p->listen.sin_port),
		      NAT_MASQ_PORT_LO, NAT_MASQ_PORT_HI);
}

int nat_script(uint16_t q, bool jumps, int localnet, const struct nat_proxy *p, size_t n,
	       struct strbuf *out)
{
	/* Declaring a chain in a --noflush restore empties it: the chains become exactly this. */
	strbuf_printf(out, "*nat\n:" NAT_CHAIN_DNAT "%u - [0:0]\n:" NAT_CHAIN_SNAT "%u - [0:0]\n", q, q);
	if (jumps) {
		strbuf_printf(out, "-A OUTPUT -j " NAT_CHAIN_DNAT "%u\n", q);
		strbuf_printf(out, "-A PREROUTING -j " NAT_CHAIN_DNAT "%u\n", q);
		strbuf_printf(out, "-A POSTROUTING -j " NAT_CHAIN_SNAT "%u\n", q);
	}
	for (size_t i = 0; i < n; i++)
		put_proxy(out, q, &p[i]);
	/*
	 * The kernel's connection tracking runs in a namespace while a rule
	 * needs it, and when the last such rule goes it takes its hooks
	 * away; taking any netfilter hook away makes nfnetlink_queue drop
	 * every packet queued in the namespace (nfqnl_nf_hook_drop), so
	 * removing the last proxy lost what faultline held or was about to
	 * release, and cut the proxied connections still open (no conntrack,
	 * no translation). This rule needs conntrack and is in every version
	 * of the chain, so it is needed from the first nat_set to nat_remove,
	 * which comes after faultline left its queue.
	 */
	strbuf_printf(out, "-A " NAT_CHAIN_SNAT "%u -m conntrack --ctstate DNAT -m comment --comment "
		      NAT_CONNTRACK_MARK " -j RETURN\n", q);
	if (localnet >= 0)
		strbuf_printf(out, "-A " NAT_CHAIN_SNAT "%u -m comment --comment " NAT_LOCALNET_MARK "%d -j RETURN\n",
			      q, localnet);
	strbuf_printf(out, "COMMIT\n");
	return out->oom ? -ENOMEM : 0;
}

int nat_removal_script(uint16_t q, struct strbuf *out)
{
	strbuf_printf(out, "*nat\n-D OUTPUT -j " NAT_CHAIN_DNAT "%u\n-D PREROUTING -j " NAT_CHAIN_DNAT "%u\n",
		      q, q);
	strbuf_printf(out, "-D POSTROUTING -j " NAT_CHAIN_SNAT "%u\n", q);
	strbuf_printf(out, "-F " NAT_CHAIN_DNAT "%u\n-X " NAT_CHAIN_DNAT "%u\n", q, q);
	strbuf_printf(out, "-F " NAT_CHAIN_SNAT "%u\n-X " NAT_CHAIN_SNAT "%u\nCOMMIT\n", q, q);
	return out->oom ? -ENOMEM : 0;
}

static int restore(const struct nat *t, const char *script, struct ipt_error *e)
{
	return ipt_restore(t->backend, false, script, false, e);
}

static int localnet_read(void)
{
	char buf[16] = "";
	int fd = open(LOCALNET_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	return atoi(buf);
}

static int localnet_write(int v)
{
	char buf[16];
	int fd = open(LOCALNET_PATH, O_WRONLY | O_CLOEXEC), len, ret = 0;

	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d\n", v);
	if (write(fd, buf, (size_t)len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

struct nat *nat_new(uint16_t queue, enum ipt_backend b)
{
	struct nat *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->queue = queue;
	t->backend = b;
	t->localnet = -1;
	return t;
}

int nat_set(struct nat *t, const struct nat_proxy *p, size_t n, struct ipt_error *e)
{
	struct strbuf s = { 0 };
	int ret, old = t->localnet;

	/*
	 * A client on loopback whose connection is translated to another
	 * host keeps 127.0.0.1 as its source until MASQUERADE; the routing
	 * in between refuses such a source off the loopback device unless
	 * route_localnet is on.
	 */
	if (t->localnet < 0 && n) {
		ret = localnet_read();
		if (ret >= 0) {
			old = ret;
			if (!ret && localnet_write(1) < 0)
				old = -1;
		}
	}
	ret = nat_script(t->queue, !t->installed, old, p, n, &s);
	if (!ret)
		ret = restore(t, s.p, e);
	strbuf_free(&s);
	if (ret) {
		if (old == 0 && t->localnet < 0)
			localnet_write(0);
		return ret;
	}
	t->installed = true;
	t->localnet = old;
	return 0;
}

int nat_remove(struct nat *t, struct ipt_error *e)
{
	struct strbuf s = { 0 };
	int ret;

	if (!t || !t->installed)
		return 0;
	ret = nat_removal_script(t->queue, &s);
	if (!ret)
		ret = restore(t, s.p, e);
	strbuf_free(&s);
	if (ret)
		return ret;
	t->installed = false;
	if (t->localnet == 0)
		localnet_write(0);
	t->localnet = -1;
	return 0;
}

void nat_free(struct nat *t)
{
	free(t);
}

/* The queue of a chain name "PREFIX<n>" at s (len bytes), or -1. */
static int chain_queue(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);
	unsigned long v = 0;

	if (len <= pl || strncmp(s, prefix, pl))
		return -1;
	for (size_t i = pl; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 65535)
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v > 65535 ? -1 : (int)v;
}

int nat_parse_save(const char *save, uint16_t *q, int *localnet, int max)
{
	bool in_nat = false;
	int n = 0;

	for (const char *l = save; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);

		if (l[0] == '*')
			in_nat = len == 4 && !strncmp(l, "*nat", 4);
		else if (in_nat && l[0] == ':' && n < max) {
			size_t cl = strcspn(l + 1, " \n");
			int v = chain_queue(l + 1, cl, NAT_CHAIN_DNAT);

			if (v >= 0) {
				q[n] = (uint16_t)v;
				localnet[n++] = -1;
			}
		} else if (in_nat && !strncmp(l, "-A " NAT_CHAIN_SNAT, 3 + strlen(NAT_CHAIN_SNAT))) {
			const char *m = strstr(l, NAT_LOCALNET_MARK);
			int v = chain_queue(l + 3, strcspn(l + 3, " "), NAT_CHAIN_SNAT);

			for (int i = 0; m && m < l + len && i < n; i++)
				if (q[i] == v)
					localnet[i] = atoi(m + strlen(NAT_LOCALNET_MARK));
		}
		l = end ? end + 1 : NULL;
	}
	return n;
}

struct sweep {
	int removed;
	struct ipt_error *e;
};

/* One backend's nat chains of killed runs (ipt_foreach_save). */
static int sweep_backend(void *data, enum ipt_backend b, const char *save)
{
	struct sweep *sw = data;
	uint16_t q[IPT_MAX_CHAINS];
	int localnet[IPT_MAX_CHAINS], n = nat_parse_save(save, q, localnet, IPT_MAX_CHAINS), ret;

	for (int i = 0; i < n; i++) {
		struct nat t = { .queue = q[i], .installed = true, .localnet = localnet[i], .backend = b };

		/* A run that holds its queue owns its chains. */
		if (ipt_queue_owner(q[i], NULL) == 1)
			continue;
		ret = nat_remove(&t, sw->e);
		if (ret)
			return ret;
		sw->removed++;
	}
	return 0;
}

int nat_cleanup(int *removed, struct ipt_error *e)
{
	struct sweep sw = { .e = e };
	int ret = ipt_foreach_save(false, sweep_backend, &sw, e);

	*removed = sw.removed;
	return ret;
}

int nat_reserve(int proto, struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, (proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Bound, never listening: the DNAT takes the connections before any socket lookup. */
	if (bind(fd, (struct sockaddr *)a, sizeof(*a)) || getsockname(fd, (struct sockaddr *)a, &len)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}
