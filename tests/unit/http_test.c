// SPDX-License-Identifier: MIT
/*
 * http: the server on a real loop and a real socket. A client thread
 * speaks raw HTTP/1.1 to 127.0.0.1 while the loop thread serves; each test
 * ends with every handle closed and uv_loop_close() == 0.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

/* ---- addresses ---- */

static int parse(const char *s, bool remote, struct http_addr *a)
{
	char msg[256];

	return http_parse_addr(s, remote, a, msg, sizeof(msg));
}

Test(http, addr_ipv4_and_ipv6_literals)
{
	struct http_addr a;
	struct sockaddr_in6 *in6 = (void *)&a.ss;
	struct sockaddr_in *in = (void *)&a.ss;

	cr_assert_eq(parse("127.0.0.1:8474", false, &a), 0);
	cr_assert_eq(in->sin_family, AF_INET);
	cr_assert_eq(ntohs(in->sin_port), 8474);
	cr_assert_eq(parse("127.1.2.3:1", false, &a), 0);
	cr_assert_eq(parse("[::1]:8474", false, &a), 0);
	cr_assert_eq(in6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(in6->sin6_port), 8474);
	cr_assert_eq(parse("[::ffff:127.0.0.1]:80", false, &a), 0);
}

Test(http, addr_port_0_bound_and_formatted)
{
	struct http_addr a, b;
	char buf[64];
	int fd;

	cr_assert_eq(parse("[::1]:0", false, &a), 0);
	fd = http_listen(&a);
	cr_assert_geq(fd, 0);
	cr_assert_eq(http_bound_addr(fd, &b), 0);
	http_addr_format(&b, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "[::1]:", 6) && strcmp(buf, "[::1]:0"), "%s", buf);
	close(fd);
	cr_assert_eq(parse("127.0.0.1:8474", false, &a), 0);
	http_addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "127.0.0.1:8474");
}

Test(http, addr_malformed)
{
	struct http_addr a;
	char msg[256];

	cr_assert_eq(parse("127.0.0.1", false, &a), -EINVAL);
	cr_assert_eq(parse("127.0.0.1:", false, &a), -EINVAL);
	cr_assert_eq(parse("127.0.0.1:65536", false, &a), -EINVAL);
	cr_assert_eq(parse("127.0.0.1:+80", false, &a), -EINVAL);
	cr_assert_eq(parse("127.0.0.1:80x", false, &a), -EINVAL);
	cr_assert_eq(parse("::1:8474", false, &a), -EINVAL);
	cr_assert_eq(parse("[::1:8474", false, &a), -EINVAL);
	cr_assert_eq(parse("[127.0.0.1]:8474", false, &a), -EINVAL);
	cr_assert_eq(parse("localhost:8474", false, &a), -EINVAL);
	cr_assert_eq(parse(":8474", false, &a), -EINVAL);
	cr_assert_eq(http_parse_addr("localhost:8474", false, &a, msg, sizeof(msg)), -EINVAL);
	cr_assert(strstr(msg, "not an IPv4 address"), "%s", msg);
}

Test(http, addr_remote_refused_unless_allowed)
{
	struct http_addr a;
	char msg[256];

	cr_assert_eq(http_parse_addr("0.0.0.0:8474", false, &a, msg, sizeof(msg)), -EPERM);
	cr_assert(strstr(msg, "--http-allow-remote"), "%s", msg);
	cr_assert_eq(parse("10.0.0.1:8474", false, &a), -EPERM);
	cr_assert_eq(parse("[::]:8474", false, &a), -EPERM);
	cr_assert_eq(parse("[::ffff:10.0.0.1]:8474", false, &a), -EPERM);
	cr_assert_eq(parse("0.0.0.0:8474", true, &a), 0);
	cr_assert_eq(parse("[::]:8474", true, &a), 0);
}

/* ---- a server and a client thread ---- */

struct fixture {
	uv_loop_t loop;
	uv_async_t done;
	uv_timer_t later;
	struct http *h;
	int port;
	/* What the test's handler does. */
	enum { H_ECHO, H_LATER, H_STREAM, H_NEVER } mode;
	int handled;
	struct http_req *held;
	int stream_step;
	int gone;
	/* The client's script and what it read. */
	const char *request;
	size_t request_len;	/* 0: strlen */
	bool keep_open;		/* hold the connection after sending (no reading) */
	char reply[65536];
	size_t reply_len;
};

static void on_gone(void *data)
{
	struct fixture *f = data;

	f->gone++;
	f->held = NULL;
}

static void on_later(uv_timer_t *t)
{
	struct fixture *f = t->data;
	char line[32];

	if (!f->held)
		return;
	if (f->mode == H_LATER) {
		http_reply(f->held, 201, "application/json", "{\"later\":true}", 14, NULL);
		f->held = NULL;
		return;
	}
	/* H_STREAM: three lines, one per tick, then the end. */
	if (f->stream_step < 3) {
		snprintf(line, sizeof(line), "{\"n\":%d}\n", f->stream_step++);
		cr_assert_eq(http_stream_write(f->held, line, strlen(line)), 0);
		uv_timer_start(&f->later, on_later, 5, 0);
		return;
	}
	http_stream_end(f->held);
	f->held = NULL;
}

static void handler(void *data, struct http_req *r)
{
	struct fixture *f = data;
	char buf[512];
	size_t len;
	const char *body = http_req_body(r, &len);
	int n;

	__atomic_add_fetch(&f->handled, 1, __ATOMIC_SEQ_CST);
	switch (f->mode) {
	case H_ECHO:
		n = snprintf(buf, sizeof(buf), "%s %s %zu:%.*s", http_req_method(r), http_req_path(r), len,
			     (int)(len < 100 ? len : 100), body);
		cr_assert_eq(http_reply(r, 200, "text/plain", buf, (size_t)n, NULL), 0);
		break;
	case H_LATER:
		f->held = r;
		http_req_on_gone(r, on_gone, f);
		uv_timer_start(&f->later, on_later, 20, 0);
		break;
	case H_STREAM:
		f->held = r;
		http_req_on_gone(r, on_gone, f);
		cr_assert_eq(http_stream_start(r, "application/x-ndjson"), 0);
		uv_timer_start(&f->later, on_later, 5, 0);
		break;
	case H_NEVER:
		f->held = r;
		http_req_on_gone(r, on_gone, f);
		break;
	}
}

static void on_done(uv_async_t *a)
{
	struct fixture *f = a->data;

	http_stop(f->h);
	uv_close((uv_handle_t *)&f->done, NULL);
	uv_close((uv_handle_t *)&f->later, NULL);
}

static int connect_to(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
	return fd;
}

/* Reads that ended in 5 s of silence (read_all), not a close. */
static int timeouts;

/* Read until the server closes (or 5 s of silence: counted in timeouts). */
static size_t read_all(int fd, char *buf, size_t size)
{
	struct timeval tv = { .tv_sec = 5 };
	size_t len = 0;
	ssize_t n = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		timeouts++;
	buf[len] = '\0';
	return len;
}

static void *client(void *arg)
{
	struct fixture *f = arg;
	size_t len = f->request_len ? f->request_len : strlen(f->request);
	int fd = connect_to(f->port);

	cr_assert_eq(write(fd, f->request, len), (ssize_t)len);
	if (f->mode == H_NEVER) {
		/* No answer comes: leave once the handler has the request. */
		while (!__atomic_load_n(&f->handled, __ATOMIC_SEQ_CST))
			usleep(1000);
	} else {
		f->reply_len = read_all(fd, f->reply, sizeof(f->reply));
	}
	close(fd);
	uv_async_send(&f->done);
	return NULL;
}

static void serve(struct fixture *f, const struct http_config *over, void *(*fn)(void *))
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct http_addr a = { .len = sizeof(sin) };
	struct http_config cfg = over ? *over : (struct http_config){ 0 };
	socklen_t sl = sizeof(sin);
	pthread_t t;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(&a.ss, &sin, sizeof(sin));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	cfg.fd = http_listen(&a);
	cr_assert_geq(cfg.fd, 0);
	cr_assert_eq(getsockname(cfg.fd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	cfg.handler = handler;
	cfg.data = f;
	f->h = http_new(&f->loop, &cfg);
	cr_assert_not_null(f->h);
	cr_assert_eq(http_start(f->h), 0);
	uv_async_init(&f->loop, &f->done, on_done);
	f->done.data = f;
	uv_timer_init(&f->loop, &f->later);
	f->later.data = f;
	cr_assert_eq(pthread_create(&t, NULL, fn ? fn : client, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	pthread_join(t, NULL);
	http_free(f->h);
	cr_assert_eq(uv_loop_close(&f->loop), 0);
}

Test(http, reply_now_with_body)
{
	static struct fixture f = {
		.mode = H_ECHO,
		.request = "POST /rules HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
	};

	serve(&f, NULL, NULL);
	cr_assert(strstr(f.reply, "HTTP/1.1 200"), "%s", f.reply);
	cr_assert(strstr(f.reply, "POST /rules 5:hello"), "%s", f.reply);
	cr_assert_eq(f.handled, 1);
}

Test(http, reply_later)
{
	static struct fixture f = {
		.mode = H_LATER,
		.request = "GET /wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	};

	serve(&f, NULL, NULL);
	cr_assert(strstr(f.reply, "HTTP/1.1 201"), "%s", f.reply);
	cr_assert(strstr(f.reply, "{\"later\":true}"), "%s", f.reply);
	cr_assert_eq(f.gone, 0);
}

Test(http, stream_lines_then_end)
{
	static struct fixture f = {
		.mode = H_STREAM,
		.request = "GET /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	};

	serve(&f, NULL, NULL);
	cr_assert(strstr(f.reply, "HTTP/1.1 200"), "%s", f.reply);
	cr_assert(strstr(f.reply, "application/x-ndjson"), "%s", f.reply);
	cr_assert(strstr(f.reply, "Transfer-Encoding: chunked"), "%s", f.reply);
	cr_assert(strstr(f.reply, "{\"n\":0}\n"), "%s", f.reply);
	cr_assert(strstr(f.reply, "{\"n\":2}\n"), "%s", f.reply);
	/* The last chunk: the stream ended cleanly. */
	cr_assert(strstr(f.reply, "\r\n0\r\n\r\n"), "%s", f.reply);
}

Test(http, declared_body_over_limit_refused_before_upload)
{
	static struct fixture f = {
		.mode = H_ECHO,
		.request = "PUT /rules HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
	};
	struct http_config cfg = { .max_body = 1000 };

	/* The client sends no body at all: the answer comes on the headers alone. */
	serve(&f, &cfg, NULL);
	cr_assert(strstr(f.reply, "HTTP/1.1 413"), "%s", f.reply);
	cr_assert(strstr(f.reply, "{\"error\":\"the body is longer than 1000 bytes\",\"status\":413}"), "%s",
		  f.reply);
	cr_assert_eq(f.handled, 0);
}

Test(http, chunked_body_over_limit_closes)
{
	static char req[4096];
	static struct fixture f = { .mode = H_ECHO, .request = req };
	struct http_config cfg = { .max_body = 1000 };
	int n = snprintf(req, sizeof(req), "POST /rules HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "800\r\n");

	memset(req + n, 'a', 0x800);
	memcpy(req + n + 0x800, "\r\n0\r\n\r\n", 8);
	serve(&f, &cfg, NULL);
	cr_assert_eq(f.reply_len, 0, "%s", f.reply);
	cr_assert_eq(timeouts, 0, "the server did not close the connection");
	cr_assert_eq(f.handled, 0);
}

Test(http, stop_tells_a_waiting_handler)
{
	static struct fixture f = {
		.mode = H_NEVER,
		.request = "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	};

	/* The client leaves unanswered (unseen: the connection sleeps); stopping the server tells the handler. */
	serve(&f, NULL, NULL);
	cr_assert_eq(f.reply_len, 0, "%s", f.reply);
	cr_assert_eq(f.handled, 1);
	cr_assert_eq(f.gone, 1);
}

/* A client that sends half its headers and then nothing. */
static void *slow_client(void *arg)
{
	struct fixture *f = arg;
	int fd = connect_to(f->port);

	cr_assert_eq(write(fd, "GET /rules HTTP/1.1\r\nHo", 23), 23);
	f->reply_len = read_all(fd, f->reply, sizeof(f->reply));
	close(fd);
	uv_async_send(&f->done);
	return NULL;
}

Test(http, silent_client_timed_out)
{
	static struct fixture f = { .mode = H_ECHO };
	struct http_config cfg = { .timeout_s = 1 };

	/* Closed by the server after 1 s, well before read_all's own 5 s. */
	serve(&f, &cfg, slow_client);
	cr_assert_eq(f.reply_len, 0, "%s", f.reply);
	cr_assert_eq(timeouts, 0, "the server did not close the connection");
	cr_assert_eq(f.handled, 0);
}

/* Two connections held open, then a third, which is closed at once, then a request on the first. */
static void *many_clients(void *arg)
{
	struct fixture *f = arg;
	int a = connect_to(f->port), b = connect_to(f->port), c;
	const char *req = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char buf[1024];

	/* Accepted in the order they came: a and b fill the two places. */
	c = connect_to(f->port);
	cr_assert_eq(read_all(c, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert_eq(timeouts, 0, "the third connection was left waiting, not closed");
	close(c);
	cr_assert_eq(write(a, req, strlen(req)), (ssize_t)strlen(req));
	f->reply_len = read_all(a, f->reply, sizeof(f->reply));
	close(a);
	close(b);
	uv_async_send(&f->done);
	return NULL;
}

Test(http, past_max_clients_closed_at_once)
{
	static struct fixture f = { .mode = H_ECHO };
	struct http_config cfg = { .max_clients = 2 };

	serve(&f, &cfg, many_clients);
	cr_assert(strstr(f.reply, "HTTP/1.1 200"), "%s", f.reply);
	cr_assert(strstr(f.reply, "GET /x 0:"), "%s", f.reply);
}
