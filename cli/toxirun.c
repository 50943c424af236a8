// SPDX-License-Identifier: MIT
/* The glue of --toxiproxy-api: toxi's effects on the live layer and the executor. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "cut.h"
#include "http.h"
#include "msg.h"
#include "nat.h"
#include "toxi.h"
#include "toxirun.h"

#define PROG_NAME "faultline"

struct toxirun {
	struct http_addr addr;
	int fd;
	struct nat *nat;
	struct toxi *toxi;
	struct http *http;
	struct ctl *ctl;
	uint32_t mark;		/* of the run's own packets: the cut's probes */
};

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
	struct toxi_ops ops = { .forward = forward, .reserve = reserve, .rules = rules, .cut = cut, .data = t };
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
	if (!t->http) {
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
	if (t)
		http_stop(t->http);
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
	nat_free(t->nat);
	free(t);
}
