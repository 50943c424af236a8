// SPDX-License-Identifier: MIT
/*
 * sock: the control socket on a real libuv loop, with clients in a thread
 * of their own (blocking sockets, as `faultline ctl` is) and an executor
 * over a stand-in target: lines and replies, many clients, the limits
 * (413, 408, 503), and the checks on the directory and the path.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "ctl.h"
#include "rule.h"
#include "sock.h"

struct env {
	char dir[64];
	char path[96];
	uv_loop_t loop;
	uv_async_t done;
	struct ctl *ctl;
	struct ctl_sock *sock;
	unsigned swaps;
	struct rule_set *rules;
	void (*client)(struct env *);
};

static int fake_swap(void *data, struct rule_set *rs, bool fresh)
{
	struct env *env = data;

	env->swaps++;
	rule_set_free(env->rules);
	env->rules = rs;
	return 0;
}

static const struct rule_set *fake_rules(void *data)
{
	struct env *env = data;

	return env->rules;
}

/* The counters JSON's rule objects, enough of them for the socket's replies. */
static char *fake_stats(void *data)
{
	struct env *env = data;
	json_t *a = json_array(), *o;
	char *s;

	for (size_t i = 0; i < rule_set_count(env->rules); i++)
		json_array_append_new(a, json_pack("{s:I, s:s}", "index", (json_int_t)(i + 1), "name",
						   rule_set_get(env->rules, i)->name));
	o = json_pack("{s:i, s:o}", "packets", 7, "rules", a);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void make_dir(struct env *env)
{
	snprintf(env->dir, sizeof(env->dir), "/tmp/sock_test.XXXXXX");
	cr_assert_not_null(mkdtemp(env->dir));
	snprintf(env->path, sizeof(env->path), "%s/s.sock", env->dir);
}

static void remove_dir(struct env *env)
{
	unlink(env->path);
	cr_assert_eq(rmdir(env->dir), 0, "%s: %s (something left in it)", env->dir, strerror(errno));
}

static void setup(struct env *env, unsigned line_ms, unsigned idle_ms)
{
	struct ctl_source src = { CTL_SRC_LINE, "udp => drop", "--rule 1" };
	struct ctl_config cc = { .target = { fake_swap, fake_rules, fake_stats, env }, .sources = &src,
				 .n_sources = 1 };
	struct ctl_sock_error se;
	struct rule_error re;

	make_dir(env);
	env->rules = rule_set_new();
	cr_assert_eq(rule_set_add_line(env->rules, src.value, src.label, 1, &re), 0);
	env->ctl = ctl_new(&cc, NULL);
	cr_assert_not_null(env->ctl);
	env->sock = ctl_sock_open(env->path, &se);
	cr_assert_not_null(env->sock, "%s", se.msg);
	ctl_sock_set_timeouts(env->sock, line_ms, idle_ms);
	cr_assert_eq(uv_loop_init(&env->loop), 0);
	cr_assert_eq(ctl_sock_start(env->sock, &env->loop, env->ctl), 0);
}

static void on_done(uv_async_t *a)
{
	struct env *env = a->data;

	ctl_sock_stop(env->sock);
	uv_close((uv_handle_t *)&env->done, NULL);
}

static void *client_main(void *arg)
{
	struct env *env = arg;

	env->client(env);
	uv_async_send(&env->done);
	return NULL;
}

/* Serve until the client function returns; then everything closes and the loop closes clean. */
static void serve(struct env *env, void (*client)(struct env *))
{
	pthread_t t;
	struct stat st;

	env->client = client;
	env->done.data = env;
	cr_assert_eq(uv_async_init(&env->loop, &env->done, on_done), 0);
	cr_assert_eq(pthread_create(&t, NULL, client_main, env), 0);
	uv_run(&env->loop, UV_RUN_DEFAULT);
	pthread_join(t, NULL);
	cr_assert_eq(uv_loop_close(&env->loop), 0);
	cr_assert_eq(ctl_sock_clients(env->sock), 0);
	/* The path goes with the socket. */
	cr_assert_neq(lstat(env->path, &st), 0);
	ctl_sock_free(env->sock);
	ctl_free(env->ctl);
	rule_set_free(env->rules);
	remove_dir(env);
}

static int dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	return fd;
}

static void say(int fd, const char *text)
{
	size_t n = strlen(text);

	cr_assert_eq(write(fd, text, n), (ssize_t)n);
}

/* One reply line (without its newline) into buf, or "" at the end of the stream. */
static void hear(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		cr_assert_geq(r, 0, "%s", strerror(errno));
		if (r == 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
}

static void hear_status(int fd, int status, const char *why)
{
	char line[4096], want[64];

	hear(fd, line, sizeof(line));
	snprintf(want, sizeof(want), "\"status\":%d", status);
	cr_assert(strstr(line, want), "'%s' is not status %d", line, status);
	cr_assert(strstr(line, why), "'%s' does not say '%s'", line, why);
}

static void hears_eof(int fd)
{
	char c;

	cr_assert_eq(read(fd, &c, 1), 0);
}

static void lines_and_replies(struct env *env)
{
	char line[4096];
	int a = dial(env->path), b = dial(env->path);

	/* Two requests in one write: two replies, in order. */
	say(a, "{\"op\":\"list\"}\n{\"op\":\"stats\"}\n");
	say(b, "{\"op\":\"get\",\"name\":\"rule-1\"}\r\n");
	hear(a, line, sizeof(line));
	cr_assert(!strncmp(line, "{\"ok\":true,\"rules\":[{\"index\":1,\"name\":\"rule-1\"", 45), "%s", line);
	hear(a, line, sizeof(line));
	cr_assert_str_eq(line, "{\"ok\":true,\"stats\":{\"packets\":7,\"rules\":[{\"index\":1,\"name\":\"rule-1\"}]}}");
	hear(b, line, sizeof(line));
	cr_assert(strstr(line, "\"rule\":{\"index\":1"), "%s", line);
	/* A line in pieces, blank lines, a bad request: the connection stays. */
	say(a, "\n  \n{\"op\":");
	say(a, "\"add\",\"rule\":\"udp => delay 1ms\",\"name\":\"x\"}\n");
	hear(a, line, sizeof(line));
	cr_assert(strstr(line, "\"ok\":true,\"rule\":{\"index\":2,\"name\":\"x\""), "%s", line);
	say(a, "{\"op\":\"list\"\n");
	hear_status(a, 400, "bad JSON");
	say(a, "{\"op\":\"del\",\"name\":\"x\"}\n");
	hear(a, line, sizeof(line));
	cr_assert_str_eq(line, "{\"ok\":true}");
	close(a);
	close(b);
}

Test(sock, lines_and_replies)
{
	struct env env = { 0 };

	setup(&env, 10000, 60000);
	serve(&env, lines_and_replies);
}

static void too_large(struct env *env)
{
	size_t n = CTL_MAX_REQUEST + 100;
	char *big = malloc(n + 1);
	int fd = dial(env->path);
	size_t off = 0;

	cr_assert_not_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	/* The server may stop reading once it has answered: a failed write is fine. */
	while (off < n) {
		ssize_t w = send(fd, big + off, n - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	hear_status(fd, 413, "over the limit of 2097152 bytes");
	hears_eof(fd);
	free(big);
	close(fd);
}

Test(sock, a_line_over_the_limit_is_413)
{
	struct env env = { 0 };

	setup(&env, 10000, 60000);
	serve(&env, too_large);
}

static void unfinished(struct env *env)
{
	int fd = dial(env->path), idle = dial(env->path);

	say(fd, "{\"op\":\"li");
	hear_status(fd, 408, "not finished in time");
	hears_eof(fd);
	/* Silence is not an error: the connection just closes. */
	hears_eof(idle);
	close(fd);
	close(idle);
}

Test(sock, an_unfinished_line_times_out)
{
	struct env env = { 0 };

	setup(&env, 50, 50);
	serve(&env, unfinished);
}

static void too_many(struct env *env)
{
	int fds[CTL_SOCK_MAX_CLIENTS], extra;
	char line[4096];

	for (int i = 0; i < CTL_SOCK_MAX_CLIENTS; i++) {
		fds[i] = dial(env->path);
		say(fds[i], "{\"op\":\"stats\"}\n");
		hear(fds[i], line, sizeof(line));
		cr_assert(strstr(line, "\"ok\":true"), "%s", line);
	}
	extra = dial(env->path);
	hear_status(extra, 503, "too many");
	hears_eof(extra);
	close(extra);
	/* One leaves: the next one is served. */
	close(fds[0]);
	for (;;) {
		extra = dial(env->path);
		say(extra, "{\"op\":\"stats\"}\n");
		hear(extra, line, sizeof(line));
		close(extra);
		if (strstr(line, "\"ok\":true"))
			break;
		cr_assert(strstr(line, "\"status\":503"), "%s", line);
	}
	for (int i = 1; i < CTL_SOCK_MAX_CLIENTS; i++)
		close(fds[i]);
}

Test(sock, too_many_clients_get_503)
{
	struct env env = { 0 };

	setup(&env, 10000, 60000);
	serve(&env, too_many);
}

static void stays_open(struct env *env)
{
	int fd = dial(env->path);
	char line[256];

	say(fd, "{\"op\":\"stats\"}\n");
	hear(fd, line, sizeof(line));
	/* The server stops with this client connected: it sees the end. */
	uv_async_send(&env->done);
	hears_eof(fd);
	close(fd);
}

Test(sock, stop_closes_every_client)
{
	struct env env = { 0 };

	setup(&env, 10000, 60000);
	serve(&env, stays_open);
}

static void open_fails(const char *path, int err, const char *why)
{
	struct ctl_sock_error e;

	errno = 0;
	cr_assert_null(ctl_sock_open(path, &e), "%s opened", path);
	cr_assert_eq(errno, err, "errno %d (%s), not %d", errno, strerror(errno), err);
	cr_assert_eq(e.err, -err);
	cr_assert(strstr(e.msg, why), "'%s' does not say '%s'", e.msg, why);
}

Test(sock, the_socket_is_0600_in_a_private_directory)
{
	struct env env = { 0 };
	struct ctl_sock_error e;
	struct ctl_sock *s;
	struct stat st;
	char sub[96];

	make_dir(&env);
	/* A missing directory is made, 0700. */
	snprintf(sub, sizeof(sub), "%s/d", env.dir);
	snprintf(env.path, sizeof(env.path), "%s/d/s.sock", env.dir);
	s = ctl_sock_open(env.path, &e);
	cr_assert_not_null(s, "%s", e.msg);
	cr_assert_eq(stat(sub, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700);
	cr_assert_eq(st.st_uid, geteuid());
	cr_assert_eq(lstat(env.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600);
	/* A live socket's path is not taken over. */
	open_fails(env.path, EADDRINUSE, "another faultline listens");
	ctl_sock_free(s);
	cr_assert_neq(lstat(env.path, &st), 0);
	cr_assert_eq(rmdir(sub), 0);
	snprintf(env.path, sizeof(env.path), "%s/s.sock", env.dir);
	remove_dir(&env);
}

Test(sock, a_stale_socket_is_replaced)
{
	struct env env = { 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct ctl_sock_error e;
	struct ctl_sock *s;
	int fd;

	make_dir(&env);
	/* What a killed run leaves: a socket file nobody listens on. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", env.path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	s = ctl_sock_open(env.path, &e);
	cr_assert_not_null(s, "%s", e.msg);
	ctl_sock_free(s);
	remove_dir(&env);
}

Test(sock, paths_and_directories_refused)
{
	struct env env = { 0 };
	char path[256];
	FILE *f;

	make_dir(&env);
	/* Others can write the directory: they could swap the socket for theirs. */
	cr_assert_eq(chmod(env.dir, 0777), 0);
	open_fails(env.path, EPERM, "others can write this directory (mode 0777)");
	cr_assert_eq(chmod(env.dir, 0720), 0);
	open_fails(env.path, EPERM, "others can write");
	cr_assert_eq(chmod(env.dir, 0755), 0);
	/* Not a socket: never removed. */
	f = fopen(env.path, "w");
	cr_assert_not_null(f);
	fclose(f);
	open_fails(env.path, EEXIST, "exists and is not a socket");
	cr_assert_eq(access(env.path, F_OK), 0);
	unlink(env.path);
	/* A directory that is a file; a path too long for a socket. */
	snprintf(path, sizeof(path), "%s/x", env.path);
	f = fopen(env.path, "w");
	fclose(f);
	open_fails(path, ENOTDIR, "not a directory");
	unlink(env.path);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	open_fails(path, ENAMETOOLONG, "longer than a socket path");
	remove_dir(&env);
}

/* Another user's directory (root's /tmp, when not run as root; a chowned one as root). */
Test(sock, a_directory_of_another_user_is_refused)
{
	struct env env = { 0 };

	make_dir(&env);
	if (geteuid() != 0) {
		remove_dir(&env);
		cr_skip_test("needs root to give the directory away");
	}
	cr_assert_eq(chown(env.dir, 65534, 65534), 0);
	open_fails(env.path, EPERM, "owned by uid 65534");
	cr_assert_eq(chown(env.dir, 0, 0), 0);
	remove_dir(&env);
}

/* A socket file at dir/name; listening (a live run's) or closed at once (a killed run's). */
static int sock_file(const char *dir, const char *name, bool listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", dir, name);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", a.sun_path);
	if (listening) {
		cr_assert_eq(listen(fd, 1), 0);
		return fd;
	}
	close(fd);
	return -1;
}

struct swept {
	char paths[8][128];
	int results[8];
	unsigned n;
};

static void on_swept(void *data, const char *path, int result)
{
	struct swept *s = data;

	cr_assert_lt(s->n, 8);
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", strrchr(path, '/') + 1);
	s->results[s->n++] = result;
}

/* What the sweep said of name, or 1 when it said nothing. */
static int swept_result(const struct swept *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->paths[i], name))
			return s->results[i];
	return 1;
}

static bool exists(const char *dir, const char *name)
{
	char p[192];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/*
 * cleanup's sweep: the stale sockets of the namespace asked for go, a
 * live one and other namespaces', other names and files that are no
 * socket stay.
 */
Test(sock, sweep_removes_the_stale_sockets_of_one_namespace)
{
	struct env env = { 0 };
	struct swept s = { 0 };
	const char *names[] = { "queue-0.sock", "queue-7.sock", "queue-12.sock", "ns1.queue-3.sock",
				"queue-x.sock", "other.sock", "ns1.queue-4.sock" };
	int live;
	FILE *f;

	make_dir(&env);
	sock_file(env.dir, "queue-0.sock", false);
	live = sock_file(env.dir, "queue-7.sock", true);
	f = fopen(env.path, "w"); /* s.sock: no default name */
	fclose(f);
	snprintf(env.path, sizeof(env.path), "%s/queue-12.sock", env.dir);
	f = fopen(env.path, "w"); /* a default name, but no socket */
	fclose(f);
	sock_file(env.dir, "ns1.queue-3.sock", false);
	sock_file(env.dir, "queue-x.sock", false);
	sock_file(env.dir, "other.sock", false);
	sock_file(env.dir, "ns1.queue-4.sock", false);

	/* The host's: queue-N.sock only. */
	cr_assert_eq(ctl_sock_sweep(env.dir, NULL, on_swept, &s), 1);
	cr_assert_eq(swept_result(&s, "queue-0.sock"), 0);
	cr_assert_eq(swept_result(&s, "queue-7.sock"), -EADDRINUSE);
	cr_assert_eq(swept_result(&s, "queue-12.sock"), -EEXIST);
	cr_assert_eq(s.n, 3, "only default names of the host are looked at");
	cr_assert_not(exists(env.dir, "queue-0.sock"));
	cr_assert(exists(env.dir, "queue-7.sock"));
	cr_assert(exists(env.dir, "queue-12.sock"));
	cr_assert(exists(env.dir, "ns1.queue-3.sock"));
	/* One namespace's: NAME.queue-N.sock. */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(ctl_sock_sweep(env.dir, "ns1", on_swept, &s), 2);
	cr_assert_eq(s.n, 2);
	cr_assert_not(exists(env.dir, "ns1.queue-3.sock"));
	cr_assert_not(exists(env.dir, "ns1.queue-4.sock"));
	cr_assert_eq(ctl_sock_sweep(env.dir, "ns2", NULL, NULL), 0);
	/* Nothing to sweep in a directory that is not there. */
	cr_assert_eq(ctl_sock_sweep("/nonexistent-faultline-dir", NULL, NULL, NULL), 0);

	close(live);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[192];

		snprintf(p, sizeof(p), "%s/%s", env.dir, names[i]);
		unlink(p);
	}
	unlink(env.path);
	snprintf(env.path, sizeof(env.path), "%s/s.sock", env.dir);
	remove_dir(&env);
}
