// SPDX-License-Identifier: MIT
/*
 * http: libmicrohttpd in its external-epoll mode, on the caller's libuv
 * loop. Request state machine, per connection:
 *   headers in   -> struct http_req made; a Content-Length over the limit
 *                   is answered 413 at once (the body is then never read)
 *   body pieces  -> appended (a chunked body past the limit: connection closed)
 *   body done    -> handler; no answer yet: the connection is suspended
 *   answer later -> kept in the req, connection resumed; libmicrohttpd calls
 *                   the access handler again, which queues it
 *   completed    -> the req is freed (and the handler told, if it still waited)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "http.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* What a stream may hold for a client that does not read. */
#define STREAM_MAX (4u << 20)

enum req_state {
	REQ_READING,	/* headers and body coming in */
	REQ_WAITING,	/* with the handler, no answer yet: connection suspended */
	REQ_ANSWERED,	/* a response queued (or kept for the resumed handler call) */
	REQ_STREAMING,	/* a stream response queued */
};

struct http_req {
	struct http *h;
	struct MHD_Connection *conn;
	struct http_req *prev, *next;	/* the server's list of live requests */
	enum req_state state;
	unsigned refs;			/* the connection; a stream response */
	bool suspended;
	bool queued;			/* a response is with libmicrohttpd */
	bool too_large;			/* answered 413 on the headers */
	char *method, *path;
	char *body;
	size_t body_len;
	/* An answer given while suspended, queued when libmicrohttpd calls back. */
	struct MHD_Response *pending;
	unsigned pending_status;
	http_gone_cb gone;
	void *gone_data;
	/* A stream's bytes not yet read by libmicrohttpd. */
	char *sbuf;
	size_t sbuf_len, sbuf_off;
	bool stream_ended;
};

struct http {
	uv_loop_t *loop;
	uv_poll_t poll;
	uv_timer_t timer;
	struct MHD_Daemon *d;
	struct http_config cfg;
	struct http_req *reqs;
	struct http_req *in_access;	/* the request whose handler runs inside libmicrohttpd's */
	unsigned clients;
	bool started, stopping, stopped;
};

/* ---- addresses ---- */

static int addr_error(char *msg, size_t size, int err, const char *fmt, const char *s)
{
	snprintf(msg, size, fmt, s);
	return err;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	const struct sockaddr_in6 *in6 = (const void *)ss;

	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

int http_parse_addr(const char *s, bool allow_remote, struct http_addr *a, char *msg, size_t msg_size)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	colon = strrchr(s, ':');
	if (!colon)
		return addr_error(msg, msg_size, -EINVAL, "'%s': expected ADDR:PORT, e.g. 127.0.0.1:8474 or [::1]:8474", s);
	hlen = (size_t)(colon - s);
	/* An IPv6 address has colons of its own: it comes in brackets, as in a URL. */
	if (*h == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			return addr_error(msg, msg_size, -EINVAL, "'%s': an IPv6 address goes in brackets: [::1]:8474", s);
		h++;
		hlen -= 2;
	}
	if (!hlen || hlen >= sizeof(host))
		return addr_error(msg, msg_size, -EINVAL, "'%s': no address before the port", s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
		return addr_error(msg, msg_size, -EINVAL, "'%s': the port must be a number from 0 to 65535", s);
	if (h != s) {
		struct sockaddr_in6 *in6 = (void *)&a->ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return addr_error(msg, msg_size, -EINVAL, "'%s': not an IPv6 address (names are not resolved)", s);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (void *)&a->ss;

		if (strchr(host, ':'))
			return addr_error(msg, msg_size, -EINVAL, "'%s': an IPv6 address goes in brackets: [::1]:8474", s);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return addr_error(msg, msg_size, -EINVAL, "'%s': not an IPv4 address (names are not resolved)", s);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in);
	}
	if (!allow_remote && !is_loopback(&a->ss))
		return addr_error(msg, msg_size, -EPERM,
				  "'%s' is not a loopback address: anyone who reaches it could change the rules "
				  "(give --http-allow-remote to allow it)", s);
	return 0;
}

int http_addr_format(const struct http_addr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in6 *in6 = (const void *)&a->ss;
	const struct sockaddr_in *in = (const void *)&a->ss;
	int n;

	if (a->ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	}
	return n;
}

int http_bound_addr(int fd, struct http_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->len = sizeof(a->ss);
	return getsockname(fd, (struct sockaddr *)&a->ss, &a->len) ? -errno : 0;
}

int http_listen(const struct http_addr *a)
{
	int one = 1, fd, err;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* ---- the loop ---- */

static void run_mhd(struct http *h);

static void on_timer(uv_timer_t *t)
{
	run_mhd(container_of(t, struct http, timer));
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	run_mhd(container_of(p, struct http, poll));
}

/*
 * Let libmicrohttpd do what is ready (it never blocks in this mode), then
 * arm the timer for what it waits on next: 0 ms when work is pending
 * (a resumed connection, buffered bytes), a connection's timeout, or
 * nothing.
 */
static void run_mhd(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (h->stopped)
		return;
	MHD_run(h->d);
	if (MHD_get_timeout(h->d, &ms) == MHD_YES)
		uv_timer_start(&h->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&h->timer);
}

/* ---- requests ---- */

static void req_unref(struct http_req *r)
{
	if (--r->refs)
		return;
	free(r->method);
	free(r->path);
	free(r->body);
	free(r->sbuf);
	if (r->pending)
		MHD_destroy_response(r->pending);
	free(r);
}

static void req_unlink(struct http_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (r->h->reqs == r)
		r->h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* The client is gone (or the server stops) before the handler answered: tell it, once. */
static void req_gone(struct http_req *r)
{
	http_gone_cb cb = r->gone;

	r->gone = NULL;
	if (cb && (r->state == REQ_WAITING || (r->state == REQ_STREAMING && !r->stream_ended)))
		cb(r->gone_data);
}

static void resume(struct http_req *r)
{
	if (!r->suspended)
		return;
	r->suspended = false;
	MHD_resume_connection(r->conn);
	/* Resuming only flags the connection: libmicrohttpd acts on it in its next run. */
	if (!r->h->stopped)
		uv_timer_start(&r->h->timer, on_timer, 0, 0);
}

static struct MHD_Response *make_response(const char *ctype, const char *body, size_t len, const char *allow)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return NULL;
	if ((ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* {"error":msg,"status":status} as a response of its own (the server's own refusals). */
static struct MHD_Response *error_response(unsigned status, const char *msg)
{
	json_t *j = json_pack("{s:s,s:i}", "error", msg, "status", (json_int_t)status);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct MHD_Response *resp = text ? make_response("application/json", text, strlen(text), NULL) : NULL;

	free(text);
	json_decref(j);
	return resp;
}

/*
 * Give the response to libmicrohttpd: now, from inside its access
 * handler, or kept until the resumed connection calls it again.
 */
static int answer(struct http_req *r, unsigned status, struct MHD_Response *resp, bool in_handler)
{
	if (in_handler) {
		enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);

		MHD_destroy_response(resp);
		r->queued = ok == MHD_YES;
		return ok == MHD_YES ? 0 : -EIO;
	}
	r->pending = resp;
	r->pending_status = status;
	resume(r);
	return 0;
}

int http_reply(struct http_req *r, unsigned status, const char *ctype, const char *body, size_t len,
	       const char *allow)
{
	struct MHD_Response *resp = make_response(ctype, body, len, allow);
	int ret;

	r->gone = NULL;
	r->state = REQ_ANSWERED;
	if (!resp) {
		/* No memory for an answer: the connection closes instead, so the client is not left waiting. */
		if (r != r->h->in_access)
			resume(r);
		return -ENOMEM;
	}
	ret = answer(r, status, resp, r == r->h->in_access);
	return ret == -EIO ? 0 : ret;
}

/*
 * libmicrohttpd asks for the next piece of a stream. Nothing to give yet:
 * the connection sleeps (suspended, no busy loop) until the next write.
 */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_req *r = cls;
	size_t n = r->sbuf_len - r->sbuf_off;

	(void)pos;
	if (n) {
		if (n > max)
			n = max;
		memcpy(buf, r->sbuf + r->sbuf_off, n);
		r->sbuf_off += n;
		if (r->sbuf_off == r->sbuf_len)
			r->sbuf_off = r->sbuf_len = 0;
		return (ssize_t)n;
	}
	if (r->stream_ended || r->h->stopped)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (!r->suspended) {
		r->suspended = true;
		MHD_suspend_connection(r->conn);
	}
	return 0;
}

/* The stream response is freed: its hold on the request ends. */
static void stream_free(void *cls)
{
	req_unref(cls);
}

int http_stream_start(struct http_req *r, const char *ctype)
{
	struct MHD_Response *resp;

	r->state = REQ_STREAMING;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, r, stream_free);
	if (!resp) {
		r->gone = NULL;
		r->state = REQ_ANSWERED;
		if (r != r->h->in_access)
			resume(r);
		return -ENOMEM;
	}
	r->refs++;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(resp);
		r->gone = NULL;
		r->state = REQ_ANSWERED;
		if (r != r->h->in_access)
			resume(r);
		return -ENOMEM;
	}
	answer(r, MHD_HTTP_OK, resp, r == r->h->in_access);
	return 0;
}

int http_stream_write(struct http_req *r, const char *data, size_t len)
{
	size_t need = r->sbuf_len + len;

	if (need > STREAM_MAX)
		return -ENOBUFS;
	if (need > 0) {
		char *nb = realloc(r->sbuf, need);

		if (!nb)
			return -ENOMEM;
		r->sbuf = nb;
	}
	memcpy(r->sbuf + r->sbuf_len, data, len);
	r->sbuf_len = need;
	/* Only a stream already handed to libmicrohttpd sleeps; one still pending wakes with it. */
	if (!r->pending)
		resume(r);
	return 0;
}

void http_stream_end(struct http_req *r)
{
	r->gone = NULL;
	r->stream_ended = true;
	if (!r->pending)
		resume(r);
}

/* ---- libmicrohttpd's callbacks ---- */

static struct http_req *req_new(struct http *h, struct MHD_Connection *conn, const char *url,
				const char *method)
{
	struct http_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->h = h;
	r->conn = conn;
	r->refs = 1;
	r->method = strdup(method);
	r->path = strdup(url);
	if (!r->method || !r->path) {
		req_unref(r);
		return NULL;
	}
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	return r;
}

/* The Content-Length header, if any, says the body is over the limit. */
static bool declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;

	if (!cl)
		return false;
	errno = 0;
	n = strtoull(cl, &end, 10);
	/* A malformed length is libmicrohttpd's to refuse; an overflowing one is too large. */
	return (errno == ERANGE) || (end != cl && n > max);
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *resp = error_response(status, msg);
	enum MHD_Result ok;

	if (!resp)
		return MHD_NO;
	ok = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result add_body(struct http_req *r, const char *data, size_t len)
{
	size_t max = r->h->cfg.max_body;
	char *nb;

	/*
	 * A body without a Content-Length (chunked) shows its size only now,
	 * and no answer may be queued while it uploads: the connection closes.
	 */
	if (len > max - r->body_len)
		return MHD_NO;
	nb = realloc(r->body, r->body_len + len + 1);
	if (!nb)
		return MHD_NO;
	memcpy(nb + r->body_len, data, len);
	r->body = nb;
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return MHD_YES;
}

static enum MHD_Result dispatch(struct http_req *r)
{
	struct http *h = r->h;

	r->state = REQ_WAITING;
	h->in_access = r;
	h->cfg.handler(h->cfg.data, r);
	h->in_access = NULL;
	if (r->state == REQ_WAITING) {
		/* Answered later: the connection sleeps until then (it cannot time out meanwhile). */
		r->suspended = true;
		MHD_suspend_connection(r->conn);
		return MHD_YES;
	}
	/* Answered inside; if that answer could not be made, the connection closes. */
	return r->queued ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct http *h = cls;
	struct http_req *r = *con_cls;

	(void)version;
	if (!r) {
		/* The headers are in. */
		r = req_new(h, conn, url, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		if (declared_too_large(conn, h->cfg.max_body)) {
			/* Refused before the body is read: libmicrohttpd then closes the connection. */
			r->too_large = true;
			r->state = REQ_ANSWERED;
			char msg[128];

			snprintf(msg, sizeof(msg), "the body is longer than %zu bytes", h->cfg.max_body);
			return queue_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return add_body(r, upload_data, n);
	}
	switch (r->state) {
	case REQ_READING:
		/* A request completed while the server stops would wait on nothing: refused. */
		if (h->stopping) {
			r->state = REQ_ANSWERED;
			return queue_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "faultline is stopping");
		}
		return dispatch(r);
	case REQ_WAITING:
		/* Woken without an answer (the server stops): nothing to say. */
		return MHD_NO;
	case REQ_ANSWERED:
	case REQ_STREAMING:
		if (r->pending) {
			struct MHD_Response *resp = r->pending;
			enum MHD_Result ok;

			r->pending = NULL;
			ok = MHD_queue_response(conn, r->pending_status, resp);
			MHD_destroy_response(resp);
			r->queued = ok == MHD_YES;
			return ok;
		}
		return r->queued ? MHD_YES : MHD_NO;
	}
	return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	*con_cls = NULL;
	req_gone(r);
	req_unlink(r);
	/* A stream's response may outlive this: it holds its own reference. */
	r->conn = NULL;
	r->stream_ended = true;
	req_unref(r);
}

/*
 * Past max_clients a new connection is closed at once, a clear answer:
 * libmicrohttpd's own limit would leave it unaccepted in the backlog.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http *h = cls;

	(void)addr;
	(void)addrlen;
	return h->clients < h->cfg.max_clients ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;

	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		h->clients++;
	else
		h->clients--;
}

/* ---- the server ---- */

struct http *http_new(uv_loop_t *loop, const struct http_config *cfg)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h) {
		close(cfg->fd);
		return NULL;
	}
	h->loop = loop;
	h->cfg = *cfg;
	if (!h->cfg.max_body)
		h->cfg.max_body = HTTP_DEFAULT_MAX_BODY;
	if (!h->cfg.max_clients)
		h->cfg.max_clients = HTTP_DEFAULT_MAX_CLIENTS;
	if (!h->cfg.timeout_s)
		h->cfg.timeout_s = HTTP_DEFAULT_TIMEOUT_S;
	return h;
}

int http_start(struct http *h)
{
	const union MHD_DaemonInfo *info;
	int fd = h->cfg.fd;

	/*
	 * No internal thread: libmicrohttpd's epoll fd goes into our loop.
	 * Its own error log stays off (modules do not print).
	 */
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, on_accept, h, on_access, h,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_clients + 1,
				MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.timeout_s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				MHD_OPTION_END);
	if (!h->d)
		return -EIO;
	/* The daemon has the listening socket now and closes it when it stops. */
	h->cfg.fd = -1;
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return -EIO;
	uv_poll_init(h->loop, &h->poll, info->epoll_fd);
	uv_timer_init(h->loop, &h->timer);
	h->started = true;
	uv_poll_start(&h->poll, UV_READABLE, on_poll);
	run_mhd(h);
	return 0;
}

unsigned http_clients(const struct http *h)
{
	return h->clients;
}

void http_stop(struct http *h)
{
	if (!h || !h->started || h->stopped)
		return;
	h->stopping = true;
	/* Whoever waits on an answer hears now that none is wanted. */
	for (struct http_req *r = h->reqs; r; r = r->next)
		req_gone(r);
	/*
	 * libmicrohttpd must not stop with a connection suspended: wake them
	 * all; with the server stopped they end without an answer.
	 */
	for (struct http_req *r = h->reqs; r; r = r->next) {
		r->stream_ended = true;
		if (r->suspended) {
			r->suspended = false;
			MHD_resume_connection(r->conn);
		}
	}
	MHD_run(h->d);
	h->stopped = true;
	uv_close((uv_handle_t *)&h->poll, NULL);
	uv_close((uv_handle_t *)&h->timer, NULL);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	if (h->cfg.fd >= 0)
		close(h->cfg.fd);
	free(h);
}

const char *http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : "";
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

void http_req_on_gone(struct http_req *r, http_gone_cb cb, void *data)
{
	r->gone = cb;
	r->gone_data = data;
}
