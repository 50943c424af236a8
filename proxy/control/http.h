/* SPDX-License-Identifier: MIT */
/*
 * http: a small HTTP server (libmicrohttpd) driven by the caller's libuv
 * loop. libmicrohttpd runs in its external-epoll mode: its epoll fd is
 * watched by a uv_poll and its next timeout by a uv_timer, so every
 * request is handled on the loop thread, the one that owns the control
 * layer, and nothing needs a lock. A request is handed to the handler
 * once its whole body is in; the handler answers now or later
 * (http_reply), or streams (http_stream_*).
 *
 * What it refuses by itself, each with {"error":"...","status":N}:
 * a body longer than max_body (413, on the headers when a Content-Length
 * says so; a chunked body is cut off by closing the connection once it
 * passes the limit). Past max_clients connections a new one is closed at
 * once; a client that stops sending for timeout_s seconds is closed.
 */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <uv.h>

/* The defaults of struct http_config (0 stands for them). */
#define HTTP_DEFAULT_MAX_BODY (2u << 20)
#define HTTP_DEFAULT_MAX_CLIENTS 64u
#define HTTP_DEFAULT_TIMEOUT_S 10u

/* A listening address and why it was refused, for the caller to word. */
struct http_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Parse "IPV4:PORT" or "[IPV6]:PORT" (literal addresses only, port
 * 0-65535, 0 for any free one) into *a. Unless allow_remote, only a loopback address is
 * accepted (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). Returns 0, or -EINVAL
 * (malformed) or -EPERM (not loopback) with a message in msg.
 */
int http_parse_addr(const char *s, bool allow_remote, struct http_addr *a, char *msg, size_t msg_size);

/* a as "127.0.0.1:8474" or "[::1]:8474" into buf (snprintf's contract). */
int http_addr_format(const struct http_addr *a, char *buf, size_t size);

/* The address the socket fd is bound to (its port, when port 0 was asked). 0 or -errno. */
int http_bound_addr(int fd, struct http_addr *a);

/*
 * A listening TCP socket on a (non-blocking, close-on-exec, SO_REUSEADDR;
 * IPV6_V6ONLY for an IPv6 address). It lives in the network namespace of
 * the calling thread, whatever namespace the caller enters later. Returns
 * the fd or -errno.
 */
int http_listen(const struct http_addr *a);

struct http;
struct http_req;

/*
 * A request is in, body and all. The handler must answer it exactly once,
 * now or later, with http_reply or http_stream_start (and then
 * http_stream_end), unless the client goes away first (http_req_on_gone).
 */
typedef void (*http_handler_cb)(void *data, struct http_req *req);
/* The client of a request not yet answered (or a stream not ended) went away; req is gone. */
typedef void (*http_gone_cb)(void *data);

struct http_config {
	int fd;			/* the listening socket (http_listen): taken, closed by http_free */
	size_t max_body;	/* HTTP_DEFAULT_MAX_BODY */
	unsigned max_clients;	/* HTTP_DEFAULT_MAX_CLIENTS */
	unsigned timeout_s;	/* HTTP_DEFAULT_TIMEOUT_S */
	http_handler_cb handler;
	void *data;
};

/*
 * A server on loop (borrowed; it must outlive the server), serving from
 * cfg->fd once started. Takes cfg->fd, also on failure. NULL with errno.
 */
struct http *http_new(uv_loop_t *loop, const struct http_config *cfg);

/* Start serving. Returns 0 or -errno. */
int http_start(struct http *h);

/*
 * Stop serving: every request not answered yet is gone (its gone callback
 * runs now), streams end, the loop handles close. The loop must run
 * again for their close callbacks; http_free after that.
 */
void http_stop(struct http *h);

/* Free (after http_stop and the loop's run; or never started). NULL-safe. */
void http_free(struct http *h);

/* Connections the server holds now (tests). */
unsigned http_clients(const struct http *h);

/* The request's method ("GET", ...), path (decoded, no query) and body (not NUL-terminated). Borrowed. */
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
const char *http_req_body(const struct http_req *r, size_t *len);
/* A request header's value (name case-insensitive), NULL if absent. Borrowed. */
const char *http_req_header(const struct http_req *r, const char *name);

/* Be told if the client goes away before the answer (set before answering later). */
void http_req_on_gone(struct http_req *r, http_gone_cb cb, void *data);

/*
 * Answer with status and body (copied; may be NULL for none) of content
 * type ctype. allow: the Allow header's value (a 405), or NULL. After
 * this, req is the server's. Returns 0 or -ENOMEM (then the connection
 * is closed: the client sees no answer).
 */
int http_reply(struct http_req *r, unsigned status, const char *ctype, const char *body, size_t len,
	       const char *allow);

/*
 * Answer 200 with a body of unknown length (chunked), written piece by
 * piece with http_stream_write and ended by http_stream_end. Returns 0 or
 * -ENOMEM (then the request is over, as after http_reply).
 */
int http_stream_start(struct http_req *r, const char *ctype);
/* Send len bytes (copied) down the stream. Returns 0 or -ENOMEM. */
int http_stream_write(struct http_req *r, const char *data, size_t len);
/* End the stream once what was written has gone out; req is the server's after this. */
void http_stream_end(struct http_req *r);

#endif
