// SPDX-License-Identifier: MIT
/* The glue of --toxiproxy-api: toxi's effects on the live layer and the executor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
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
		 unsigned timeout_s)
{
	struct toxi_ops ops = { .forward = forward, .reserve = reserve, .rules = rules, .data = t };
	struct http_config hc = { .fd = t->fd, .timeout_s = timeout_s, .handler = toxi_handle };

	t->ctl = c;
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

	if (!t || !t->nat || !nat_remove(t->nat, &e))
		return 0;
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
