// SPDX-License-Identifier: MIT
/* The glue of --toxiproxy-api: toxi's effects on the live layer and the executor. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "cut.h"
#include "http.h"
#include "msg.h"
#include "nat.h"
#include "tick.h"
#include "toxi.h"
#include "toxirun.h"

#define PROG_NAME "faultline"
/* How long a request or a tick waits for a lookup it starts; after that, the next tick looks. */
#define LOOKUP_WAIT_MS 50
#define REFRESH_MS 1000
/* At exit, how long a lookup still under way is waited for before its memory is left to the exit. */
#define LOOKUP_EXIT_MS 2000

/* A name lookup under way (glibc's getaddrinfo_a: its own thread, so the loop never waits on DNS). */
struct lookup {
	char *host;
	struct addrinfo hints;
	struct gaicb cb;
	struct lookup *next;
};

struct toxirun {
	struct http_addr addr;
	int fd;
	struct nat *nat;
	struct toxi *toxi;
	struct http *http;
	struct ctl *ctl;
	uint32_t mark;		/* of the run's own packets: the cut's probes */
	struct lookup *lookups;
	struct tick *tick;
};

static void lookup_free(struct lookup *l)
{
	if (l->cb.ar_result)
		freeaddrinfo(l->cb.ar_result);
	free(l->host);
	free(l);
}

static struct lookup *lookup_start(struct toxirun *t, const char *host)
{
	struct lookup *l = calloc(1, sizeof(*l));
	struct gaicb *list[1];
	struct timespec wait = { 0, LOOKUP_WAIT_MS * 1000000L };

	if (!l || !(l->host = strdup(host))) {
		free(l);
		return NULL;
	}
	l->hints.ai_family = AF_INET;
	l->cb.ar_name = l->host;
	l->cb.ar_request = &l->hints;
	list[0] = &l->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) {
		lookup_free(l);
		return NULL;
	}
	/* A name in /etc/hosts (or a quick DNS answer) is known at once: a new proxy forwards from its 201. */
	gai_suspend((const struct gaicb *const *)list, 1, &wait);
	l->next = t->lookups;
	t->lookups = l;
	return l;
}

/*
 * toxi's resolve: the answer of a lookup of host, started now if none is
 * under way. A finished lookup is forgotten, so the next call asks again
 * (a name added to /etc/hosts or DNS later is found).
 */
static int resolve(void *data, const char *host, struct in_addr *in)
{
	struct toxirun *t = data;
	struct lookup **pl, *l;
	int err;

	for (pl = &t->lookups; *pl && strcmp((*pl)->host, host); pl = &(*pl)->next)
		;
	l = *pl;
	if (!l) {
		l = lookup_start(t, host);
		if (!l)
			return -ENOENT;
		pl = &t->lookups;
	}
	err = gai_error(&l->cb);
	if (err == EAI_INPROGRESS)
		return -EAGAIN;
	*pl = l->next;
	if (!err && l->cb.ar_result)
		*in = ((struct sockaddr_in *)l->cb.ar_result->ai_addr)->sin_addr;
	lookup_free(l);
	return err ? -ENOENT : 0;
}

static void lookups_free(struct toxirun *t)
{
	struct timespec wait = { LOOKUP_EXIT_MS / 1000, 0 };

	while (t->lookups) {
		struct lookup *l = t->lookups;
		const struct gaicb *list[1] = { &l->cb };

		t->lookups = l->next;
		if (gai_error(&l->cb) == EAI_INPROGRESS && gai_cancel(&l->cb) != EAI_CANCELED)
			gai_suspend(list, 1, &wait);
		/* Still under way: glibc's thread writes into it later, so it is left to the exit. */
		if (gai_error(&l->cb) != EAI_INPROGRESS)
			lookup_free(l);
	}
}

/* Each second: the proxies whose upstream name did not resolve get their forwarding once it does. */
static void on_tick(void *data)
{
	struct toxirun *t = data;
	int ret = toxi_refresh(t->toxi);

	if (ret < 0)
		fprintf(stderr, PROG_NAME ": toxiproxy API: a proxy whose upstream now resolves is not forwarded "
			"yet: %s (tried again each second)\n", strerror(-ret));
}

static int forward(void *data, const struct nat_proxy *p, size_t n, char *msg, size_t size)
{
	struct toxirun *t = data;
	struct ipt_error e;
	int ret = nat_set(t->nat, p, n, &e);

	if (ret)
		msg_ipt(&e, msg, size);
	return ret;
}

static int reserve(void *data, int proto, struct sockaddr_in *a)
{
	(void)data;
	return nat_reserve(proto, a);
}

static int rules(void *data, const char *prefix, const char *const *names, const char *const *lines,
		 size_t n, struct ctl_error *e)
{
	struct toxirun *t = data;

	return ctl_set_group(t->ctl, prefix, names, lines, n, e);
}

/* Cut a stopped proxy's connections (cut.h); the API's answer stands either way, so say what failed. */
static void cut(void *data, const struct nat_proxy *p)
{
	struct toxirun *t = data;
	struct cut_stats st;
	int ret = cut_proxy(p, t->mark, &st);
	char l[INET_ADDRSTRLEN];

	if (!ret && !st.probe_err)
		return;
	inet_ntop(AF_INET, &p->listen.sin_addr, l, sizeof(l));
	if (ret)
		fprintf(stderr, PROG_NAME ": toxiproxy API: the connections of %s:%u stay in conntrack: %s\n", l,
			ntohs(p->listen.sin_port), strerror(-ret));
	if (st.probe_err)
		fprintf(stderr, PROG_NAME ": toxiproxy API: the connections of %s:%u are cut at their next packet, "
			"not at once: %s%s\n", l, ntohs(p->listen.sin_port), strerror(-st.probe_err),
			st.probe_err == -EPERM ? " (needs CAP_NET_RAW)" : "");
}

struct toxirun *toxirun_bind(const char *arg, bool allow_remote, bool *usage)
{
	struct toxirun *t = calloc(1, sizeof(*t));
	char msg[256];
	int ret;

	*usage = false;
	if (!t) {
		fprintf(stderr, PROG_NAME ": out of memory\n");
		return NULL;
	}
	t->fd = -1;
	if (http_parse_addr(arg, allow_remote, &t->addr, msg, sizeof(msg))) {
		fprintf(stderr, PROG_NAME ": --toxiproxy-api %s\n", msg);
		*usage = true;
		goto err;
	}
	t->fd = http_listen(&t->addr);
	if (t->fd < 0) {
		fprintf(stderr, PROG_NAME ": --toxiproxy-api %s: cannot listen: %s\n", arg, strerror(-t->fd));
		goto err;
	}
	ret = http_bound_addr(t->fd, &t->addr);
	if (ret) {
		fprintf(stderr, PROG_NAME ": --toxiproxy-api %s: %s\n", arg, strerror(-ret));
		goto err;
	}
	return t;
err:
	toxirun_free(t);
	return NULL;
}

int toxirun_open(struct toxirun *t, struct uv_loop_s *loop, struct ctl *c, uint16_t queue, enum ipt_backend b,
		 uint32_t mark, unsigned timeout_s)
{
	struct toxi_ops ops = { .forward = forward, .reserve = reserve, .rules = rules, .cut = cut,
				.resolve = resolve, .data = t };
	struct http_config hc = { .fd = t->fd, .timeout_s = timeout_s, .handler = toxi_handle };

	t->ctl = c;
	t->mark = mark;
	t->fd = -1;	/* the server's from here */
	t->nat = nat_new(queue, b);
	t->toxi = t->nat ? toxi_new(&ops) : NULL;
	if (t->toxi) {
		hc.data = t->toxi;
		t->http = http_new(loop, &hc);
	} else {
		close(hc.fd);
	}
	if (t->http)
		t->tick = tick_start(loop, REFRESH_MS, on_tick, t);
	if (!t->http || !t->tick) {
		fprintf(stderr, PROG_NAME ": --toxiproxy-api: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int toxirun_start(struct toxirun *t)
{
	char addr[80];
	int ret = http_start(t->http);

	http_addr_format(&t->addr, addr, sizeof(addr));
	if (ret)
		fprintf(stderr, PROG_NAME ": --toxiproxy-api %s: cannot serve: %s\n", addr, strerror(-ret));
	else
		fprintf(stderr, PROG_NAME ": toxiproxy API at http://%s/\n", addr);
	return ret;
}

void toxirun_stop(struct toxirun *t)
{
	if (!t)
		return;
	http_stop(t->http);
	tick_stop(t->tick);
	t->tick = NULL;
}

int toxirun_finish(struct toxirun *t)
{
	struct ipt_error e;
	char msg[1024];

	if (!t || !t->nat)
		return 0;
	if (!nat_remove(t->nat, &e)) {
		/* Without the chains the kernel forwards nothing new; the open connections end as toxiproxy's do. */
		toxi_cut_all(t->toxi);
		return 0;
	}
	msg_ipt(&e, msg, sizeof(msg));
	fprintf(stderr, PROG_NAME ": cannot remove the toxiproxy API's nat chains: %s\n", msg);
	return -1;
}

void toxirun_free(struct toxirun *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	http_free(t->http);
	toxi_free(t->toxi);
	lookups_free(t);
	nat_free(t->nat);
	free(t);
}
