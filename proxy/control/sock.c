// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "ctl.h"
#include "sock.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct client;

struct ctl_sock {
	int fd;			/* the listening socket until the loop takes it */
	char *path;
	bool started, stopped, unlinked;
	uv_pipe_t server;
	struct ctl *ctl;
	struct client *clients;
	unsigned n_clients;
	unsigned line_ms, idle_ms;
};

struct client {
	struct ctl_sock *s;
	uv_pipe_t pipe;
	uv_timer_t timer;
	char *buf;		/* what came in and is not answered yet */
	size_t len, cap;
	struct ctl_call *call;	/* an asynchronous request in progress */
	bool in_exec;		/* inside ctl_exec: its reply is synchronous */
	bool line_timer;	/* the timer runs for an unfinished line */
	bool closing;
	bool done;		/* answered for the last time: closes once that is written */
	int open_handles;
	struct client *next, **pprev;
};

struct write_req {
	uv_write_t req;
	struct client *cl;
	char data[];
};

/* ---- opening ---- */

__attribute__((format(printf, 3, 4)))
static int fail(struct ctl_sock_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * The directory must be ours and writable by no one else: whoever can
 * write it can replace the socket with one of their own, and every
 * client would then talk to them.
 */
static int check_dir(const char *dir, struct ctl_sock_error *e)
{
	struct stat st;

	if (lstat(dir, &st) && errno == ENOENT && mkdir(dir, 0700) && errno != EEXIST)
		return fail(e, -errno, "%s: cannot create the control socket's directory: %s", dir,
			    strerror(errno));
	if (lstat(dir, &st))
		return fail(e, -errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(e, -ENOTDIR, "%s: not a directory (the control socket's)", dir);
	if (st.st_uid != geteuid())
		return fail(e, -EPERM, "%s: owned by uid %u, not by this user (uid %u): refusing to put the "
			    "control socket there", dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return fail(e, -EPERM, "%s: others can write this directory (mode %04o): refusing to put the "
			    "control socket there", dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int fill_addr(struct sockaddr_un *a, const char *path, struct ctl_sock_error *e)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return fail(e, -ENAMETOOLONG, "%s: longer than a socket path may be (%zu bytes)", path,
			    sizeof(a->sun_path) - 1);
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * Whether someone listens at a: 0 when a connect is taken, -ECONNREFUSED
 * when nobody does (the socket file of a run that died), other -errno.
 */
static int probe(const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)a, sizeof(*a)) ? -errno : 0;
	close(fd);
	return ret;
}

/* A socket file left at path: a dead run's is removed, a live run's or a stranger's is not. */
static int clear_path(const char *path, const struct sockaddr_un *a, struct ctl_sock_error *e)
{
	struct stat st;
	int ret;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : fail(e, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return fail(e, -EEXIST, "%s: exists and is not a socket", path);
	if (st.st_uid != geteuid())
		return fail(e, -EPERM, "%s: a socket of uid %u, not of this user (uid %u)", path,
			    (unsigned)st.st_uid, (unsigned)geteuid());
	ret = probe(a);
	if (ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM)
		return fail(e, ret, "socket: %s", strerror(-ret));
	if (!ret)
		return fail(e, -EADDRINUSE, "%s: another faultline listens on it (give this run --control PATH)",
			    path);
	if (ret != -ECONNREFUSED)
		return fail(e, ret, "%s: %s", path, strerror(-ret));
	/* Nobody listens: what a run that was killed leaves behind. */
	if (unlink(path) && errno != ENOENT)
		return fail(e, -errno, "%s: cannot remove the stale socket: %s", path, strerror(errno));
	return 0;
}

/* Whether name is a default socket name of netns (NULL: the host's): [NAME.]queue-N.sock. */
static bool default_name(const char *name, const char *netns)
{
	size_t n = netns ? strlen(netns) : 0;
	const char *p = name;

	if (netns) {
		if (strncmp(p, netns, n) || p[n] != '.')
			return false;
		p += n + 1;
	}
	if (strncmp(p, "queue-", 6))
		return false;
	p += 6;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return !strcmp(p, ".sock");
}

/* One default-named entry of the sweep: 0 removed, -EADDRINUSE live, other -errno kept. */
static int sweep_one(const char *path)
{
	struct sockaddr_un a;
	struct ctl_sock_error e;
	struct stat st;
	int ret;

	if (lstat(path, &st))
		return -errno;
	/* Not ours to judge: a file that is no socket, or another user's. */
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (st.st_uid != geteuid())
		return -EPERM;
	if (fill_addr(&a, path, &e))
		return -ENAMETOOLONG;
	ret = probe(&a);
	if (!ret)
		return -EADDRINUSE;
	if (ret != -ECONNREFUSED)
		return ret;
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

int ctl_sock_sweep(const char *dir, const char *netns, ctl_sock_sweep_cb cb, void *data)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	int removed = 0, ret;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!default_name(de->d_name, netns))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		ret = sweep_one(path);
		if (!ret)
			removed++;
		if (cb)
			cb(data, path, ret);
	}
	closedir(d);
	return removed;
}

struct ctl_sock *ctl_sock_new(void)
{
	struct ctl_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->line_ms = CTL_SOCK_LINE_TIMEOUT_MS;
	s->idle_ms = CTL_SOCK_IDLE_TIMEOUT_MS;
	/* Nothing to remove until it is bound. */
	s->unlinked = true;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	return s;
}

int ctl_sock_listen(struct ctl_sock *s, const char *path, struct ctl_sock_error *e)
{
	struct sockaddr_un a;
	char *copy;
	int ret;

	memset(e, 0, sizeof(*e));
	free(s->path);
	s->path = strdup(path);
	copy = strdup(path);
	if (!s->path || !copy) {
		free(copy);
		return fail(e, -ENOMEM, "out of memory");
	}
	ret = fill_addr(&a, path, e);
	if (!ret)
		ret = check_dir(dirname(copy), e);
	free(copy);
	if (!ret)
		ret = clear_path(path, &a, e);
	if (ret)
		return ret;
	if (bind(s->fd, (const struct sockaddr *)&a, sizeof(a)))
		return fail(e, -errno, "%s: cannot bind: %s", path, strerror(errno));
	s->unlinked = false;
	/* No one else can enter the directory: the mode is set before anyone can connect. */
	if (chmod(path, 0600) || listen(s->fd, 64))
		return fail(e, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

struct ctl_sock *ctl_sock_open(const char *path, struct ctl_sock_error *e)
{
	struct ctl_sock *s = ctl_sock_new();
	int ret;

	if (!s) {
		fail(e, -errno, "socket: %s", strerror(errno));
		return NULL;
	}
	ret = ctl_sock_listen(s, path, e);
	if (ret) {
		ctl_sock_free(s);
		errno = -ret;
		return NULL;
	}
	return s;
}

const char *ctl_sock_path(const struct ctl_sock *s)
{
	return s->path;
}

void ctl_sock_set_timeouts(struct ctl_sock *s, unsigned line_ms, unsigned idle_ms)
{
	s->line_ms = line_ms;
	s->idle_ms = idle_ms;
}

unsigned ctl_sock_clients(const struct ctl_sock *s)
{
	return s->n_clients;
}

/* ---- clients ---- */

static void on_client_closed(uv_handle_t *h)
{
	struct client *cl = h->data;

	if (--cl->open_handles)
		return;
	cl->s->n_clients--;
	free(cl->buf);
	free(cl);
}

static void close_client(struct client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	if (cl->call) {
		ctl_call_cancel(cl->call);
		cl->call = NULL;
	}
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
	uv_close((uv_handle_t *)&cl->timer, on_client_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct client *cl = req->data;

	(void)status;
	free(req);
	close_client(cl);
}

/* Close once what was written has gone out (a refusal's reply). */
static void close_after_writes(struct client *cl)
{
	uv_shutdown_t *req;

	if (cl->closing || cl->done)
		return;
	cl->done = true;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	uv_timer_stop(&cl->timer);
	req = malloc(sizeof(*req));
	if (req) {
		req->data = cl;
		if (!uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown))
			return;
		free(req);
	}
	close_client(cl);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = container_of(req, struct write_req, req);

	if (status < 0)
		close_client(w->cl);
	free(w);
}

/* Queue one line to the client; a client that lets too much pile up is dropped. */
static void send_line(struct client *cl, const char *text)
{
	size_t n = strlen(text);
	struct write_req *w;
	uv_buf_t b;

	if (cl->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) > CTL_SOCK_MAX_BACKLOG) {
		close_client(cl);
		return;
	}
	w = malloc(sizeof(*w) + n + 1);
	if (!w) {
		close_client(cl);
		return;
	}
	w->cl = cl;
	memcpy(w->data, text, n);
	w->data[n] = '\n';
	b = uv_buf_init(w->data, (unsigned)n + 1);
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, on_written)) {
		free(w);
		close_client(cl);
	}
}

static void send_reply(struct client *cl, const struct ctl_reply *r)
{
	static const char oom[] = "{\"error\":\"out of memory\",\"status\":500}";
	char *text = ctl_reply_text(r);

	send_line(cl, text ? text : oom);
	free(text);
}

static void refuse(struct client *cl, int status, const char *msg)
{
	json_t *body = ctl_error_body(status, msg);
	struct ctl_reply r = { .status = status, .body = body };

	send_reply(cl, &r);
	json_decref(body);
	close_after_writes(cl);
}

static void process(struct client *cl);

static void too_large(struct client *cl)
{
	char msg[80];

	snprintf(msg, sizeof(msg), "request line over the limit of %u bytes", CTL_MAX_REQUEST);
	refuse(cl, CTL_STATUS_TOO_LARGE, msg);
}
static void read_more(struct client *cl);

static void on_reply(void *data, const struct ctl_reply *r, bool last)
{
	struct client *cl = data;

	send_reply(cl, r);
	if (!last || cl->in_exec)
		return;
	/* An asynchronous call ended: the client's next request may go. */
	cl->call = NULL;
	if (!cl->closing && !cl->done) {
		read_more(cl);
		process(cl);
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct client *cl = t->data;

	if (cl->len)
		refuse(cl, CTL_STATUS_TIMEOUT, "the request line was not finished in time");
	else
		close_client(cl);
}

/* The timer: for an unfinished line, from when it began; else for silence; none while a call runs. */
static void arm_timer(struct client *cl)
{
	if (cl->closing || cl->done)
		return;
	if (cl->call) {
		uv_timer_stop(&cl->timer);
		cl->line_timer = false;
	} else if (cl->len && !cl->line_timer) {
		uv_timer_start(&cl->timer, on_timeout, cl->s->line_ms, 0);
		cl->line_timer = true;
	} else if (!cl->len) {
		uv_timer_start(&cl->timer, on_timeout, cl->s->idle_ms, 0);
		cl->line_timer = false;
	}
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* Answer every whole line in the buffer, one at a time: a pending call holds the rest. */
static void process(struct client *cl)
{
	while (!cl->call && !cl->closing && !cl->done) {
		char *nl = memchr(cl->buf, '\n', cl->len);
		size_t n;

		if (!nl) {
			if (cl->len >= CTL_MAX_REQUEST)
				too_large(cl);
			break;
		}
		n = (size_t)(nl - cl->buf) + 1;
		if (n > CTL_MAX_REQUEST) {
			too_large(cl);
			break;
		}
		if (!blank(cl->buf, n - 1)) {
			cl->in_exec = true;
			cl->call = ctl_exec_text(cl->s->ctl, cl->buf, n - 1, on_reply, cl);
			cl->in_exec = false;
		}
		memmove(cl->buf, cl->buf + n, cl->len - n);
		cl->len -= n;
		cl->line_timer = false;
		if (cl->call)
			uv_read_stop((uv_stream_t *)&cl->pipe);
	}
	arm_timer(cl);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct client *cl = h->data;
	size_t want = cl->len + 65536;

	(void)suggested;
	if (want > cl->cap) {
		char *nb = realloc(cl->buf, want);

		if (!nb) {
			*b = uv_buf_init(NULL, 0);
			return;
		}
		cl->buf = nb;
		cl->cap = want;
	}
	*b = uv_buf_init(cl->buf + cl->len, (unsigned)(cl->cap - cl->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct client *cl = st->data;

	(void)b;
	if (cl->done)
		return;
	if (n < 0) {
		/* The client went away (or the buffer could not grow): its call ends unanswered. */
		close_client(cl);
		return;
	}
	cl->len += (size_t)n;
	process(cl);
}

static void read_more(struct client *cl)
{
	if (uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read))
		close_client(cl);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ctl_sock *s = container_of((uv_pipe_t *)server, struct ctl_sock, server);
	struct client *cl;

	if (status < 0 || s->stopped)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->s = s;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	uv_timer_init(server->loop, &cl->timer);
	cl->pipe.data = cl->timer.data = cl;
	cl->open_handles = 2;
	s->n_clients++;
	cl->next = s->clients;
	if (cl->next)
		cl->next->pprev = &cl->next;
	cl->pprev = &s->clients;
	s->clients = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe)) {
		close_client(cl);
		return;
	}
	if (s->n_clients > CTL_SOCK_MAX_CLIENTS) {
		refuse(cl, CTL_STATUS_UNAVAILABLE, "too many control clients at once; try again");
		return;
	}
	read_more(cl);
	arm_timer(cl);
}

/* ---- life ---- */

int ctl_sock_start(struct ctl_sock *s, struct uv_loop_s *loop, struct ctl *c)
{
	int ret;

	s->ctl = c;
	ret = uv_pipe_init(loop, &s->server, 0);
	if (ret)
		return ret;
	s->started = true;
	ret = uv_pipe_open(&s->server, s->fd);
	if (!ret) {
		s->fd = -1;	/* the loop's now: uv_close closes it */
		ret = uv_listen((uv_stream_t *)&s->server, 64, on_connection);
	}
	return ret;
}

static void unlink_path(struct ctl_sock *s)
{
	if (!s->unlinked)
		unlink(s->path);
	s->unlinked = true;
}

void ctl_sock_stop(struct ctl_sock *s)
{
	if (!s || s->stopped)
		return;
	s->stopped = true;
	unlink_path(s);
	while (s->clients)
		close_client(s->clients);
	if (s->started)
		uv_close((uv_handle_t *)&s->server, NULL);
}

void ctl_sock_free(struct ctl_sock *s)
{
	if (!s)
		return;
	if (s->path)
		unlink_path(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
}
