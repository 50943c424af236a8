// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"
#include "ctl.h"
#include "ctlcmd.h"
#include "proxy.h"
#include "rule.h"
#include "sock.h"
#include "usage.h"

#define PROG_NAME "faultline"
/* How long a request other than wait or events may take to be answered. */
#define REPLY_TIMEOUT_S 60

void ctlcmd_default_path(char *buf, size_t size, const char *netns, unsigned queue)
{
	if (netns)
		snprintf(buf, size, CTL_SOCK_DIR "/%s.queue-%u.sock", netns, queue);
	else
		snprintf(buf, size, CTL_SOCK_DIR "/queue-%u.sock", queue);
}

/* ---- output ---- */

static bool shown_elsewhere(const char *key)
{
	static const char *const keys[] = { "index", "name", "rule", "enabled", "line", "matched" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

/* The counters but matched that are not 0, "dropped=3 delayed=1", or "-". */
static void print_counters(FILE *f, json_t *r)
{
	const char *key;
	json_t *v;
	bool any = false;

	json_object_foreach(r, key, v) {
		if (shown_elsewhere(key) || !json_is_integer(v) || !json_integer_value(v))
			continue;
		fprintf(f, "%s%s=%lld", any ? " " : "", key, (long long)json_integer_value(v));
		any = true;
	}
	if (!any)
		fputc('-', f);
}

void ctlcmd_print_rules(FILE *f, json_t *rules)
{
	size_t i, width = 4;
	json_t *r;

	if (json_is_object(rules)) {
		json_t *one = json_pack("[O]", rules);

		if (one)
			ctlcmd_print_rules(f, one);
		json_decref(one);
		return;
	}
	json_array_foreach(rules, i, r) {
		size_t n = strlen(json_string_value(json_object_get(r, "name")) ?: "");

		if (n > width)
			width = n;
	}
	fprintf(f, "%3s  %-*s  %-7s  %7s  %-24s  %s\n", "#", (int)width, "NAME", "ENABLED", "MATCHED",
		"ACTED", "RULE");
	json_array_foreach(rules, i, r) {
		char counters[512];
		FILE *m = fmemopen(counters, sizeof(counters), "w");

		if (m) {
			print_counters(m, r);
			fclose(m);
		} else {
			snprintf(counters, sizeof(counters), "?");
		}
		fprintf(f, "%3lld  %-*s  %-7s  %7lld  %-24s  %s\n",
			(long long)json_integer_value(json_object_get(r, "index")), (int)width,
			json_string_value(json_object_get(r, "name")) ?: "",
			json_is_true(json_object_get(r, "enabled")) ? "yes" : "no",
			(long long)json_integer_value(json_object_get(r, "matched")), counters,
			json_string_value(json_object_get(r, "rule")) ?: "");
	}
}

/* ---- the request ---- */

struct ctl_args {
	const char *path;
	const char *netns;
	bool have_queue;
	unsigned queue;
	bool json;
	const char *timeout;	/* wait --timeout DUR */
	char path_buf[PATH_MAX];
	const char *file;	/* replace FILE: for its messages */
};

enum { OPT_CONTROL = 256, OPT_JSON, OPT_TIMEOUT };

static const struct option ctl_opts[] = {
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "queue", required_argument, NULL, 'q' },
	{ "netns", required_argument, NULL, 'n' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* A rule file's text for replace, whole: NULL after an error (printed). */
static char *read_rules(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t n;

	if (!f) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, strerror(errno));
		return NULL;
	}
	text = malloc(RULE_MAX_FILE + 2);
	n = text ? fread(text, 1, RULE_MAX_FILE + 1, f) : 0;
	if (!text || ferror(f)) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, text ? strerror(errno) : "out of memory");
		free(text);
		text = NULL;
	} else if (n > RULE_MAX_FILE) {
		fprintf(stderr, PROG_NAME ": %s: larger than a rule file may be (1 MiB)\n", path);
		free(text);
		text = NULL;
	} else {
		text[n] = '\0';
	}
	fclose(f);
	return text;
}

static int want_words(const char *cmd, int have, int min, int max, char **words)
{
	if (have < min) {
		fprintf(stderr, PROG_NAME ": ctl %s: needs %s (see " PROG_NAME " --help)\n", cmd,
			!strcmp(cmd, "add") ? "a rule line" : !strcmp(cmd, "replace") ? "a rule file" :
			!strcmp(cmd, "wait") ? "a condition" : "a rule name");
		return -1;
	}
	if (have > max)
		return args_stray(cmd, words[max], NULL);
	return 0;
}

/* A rule name given on the command line, judged as the request decoder would. */
static json_t *build_request(const char *cmd, int n, char **w, struct ctl_args *a)
{
	static const char *const bare[] = { "list", "stats", "reset", "reload", "events" };
	static const char *const named[] = { "get", "del", "enable", "disable" };

	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++)
		if (!strcmp(cmd, bare[i]))
			return want_words(cmd, n, 0, 0, w) ? NULL : json_pack("{s:s}", "op", cmd);
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(cmd, named[i]))
			return want_words(cmd, n, 1, 1, w) ? NULL : json_pack("{s:s, s:s}", "op", cmd, "name", w[0]);
	if (!strcmp(cmd, "add")) {
		if (want_words(cmd, n, 1, 2, w))
			return NULL;
		if (n == 2)
			return json_pack("{s:s, s:s, s:s}", "op", "add", "rule", w[0], "name", w[1]);
		return json_pack("{s:s, s:s}", "op", "add", "rule", w[0]);
	}
	if (!strcmp(cmd, "replace")) {
		char *text;
		json_t *j;

		if (want_words(cmd, n, 1, 1, w) || !(text = read_rules(w[0])))
			return NULL;
		a->file = w[0];
		j = json_pack("{s:s, s:s}", "op", "replace", "rules", text);
		free(text);
		if (!j)
			fprintf(stderr, PROG_NAME ": %s: not UTF-8 text\n", w[0]);
		return j;
	}
	if (!strcmp(cmd, "wait")) {
		uint64_t ns = 0;
		json_t *j;

		if (want_words(cmd, n, 1, 1, w))
			return NULL;
		if (a->timeout && args_duration("--timeout", a->timeout, UINT64_MAX / 2, &ns))
			return NULL;
		j = json_pack("{s:s, s:s}", "op", "wait", "condition", w[0]);
		if (j && a->timeout)
			json_object_set_new(j, "timeout_ms", json_integer((json_int_t)(ns / 1000000)));
		return j;
	}
	fprintf(stderr, PROG_NAME ": ctl: unknown command '%s' (list, get, add, del, enable, disable, "
		"replace, stats, reset, reload, events, wait; see " PROG_NAME " --help)\n", cmd);
	return NULL;
}

/* 0, 1 after --help, -1 after a usage error (printed). */
static int parse_ctl(int argc, char **argv, struct ctl_args *a)
{
	bool seen[512] = { false };
	uint64_t q;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q:n:h", ctl_opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			args_getopt_error("ctl", c, argv, ctl_opts);
			return -1;
		}
		if (c != 'h' && args_once(argv[optind - 1], &seen[c]))
			return -1;
		switch (c) {
		case OPT_CONTROL:
			if (args_value("--control", optarg))
				return -1;
			a->path = optarg;
			break;
		case 'q':
			if (args_uint("--queue", optarg, 0, UINT16_MAX, &q))
				return -1;
			a->have_queue = true;
			a->queue = (unsigned)q;
			break;
		case 'n':
			if (args_value("--netns", optarg))
				return -1;
			a->netns = optarg;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_TIMEOUT:
			a->timeout = optarg;
			break;
		case 'h':
			usage_print(stdout);
			return 1;
		}
	}
	if (a->path && (a->have_queue || a->netns)) {
		fprintf(stderr, PROG_NAME ": ctl: --control excludes --queue and --netns\n");
		return -1;
	}
	if (optind >= argc) {
		fprintf(stderr, PROG_NAME ": ctl: which command? (list, get, add, del, enable, disable, replace, "
			"stats, reset, reload, events, wait)\n");
		return -1;
	}
	if (a->timeout && strcmp(argv[optind], "wait")) {
		fprintf(stderr, PROG_NAME ": ctl: --timeout is for wait only\n");
		return -1;
	}
	if (!a->path) {
		ctlcmd_default_path(a->path_buf, sizeof(a->path_buf), a->netns,
				    a->have_queue ? a->queue : PROXY_DEFAULT_QUEUE);
		a->path = a->path_buf;
	}
	return 0;
}

/* ---- the exchange ---- */

static FILE *connect_to(const char *path, bool stream)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	FILE *f;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG_NAME ": ctl: %s: too long for a socket path\n", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, PROG_NAME ": ctl: cannot reach faultline at %s: %s%s\n", path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ?
			" (is 'faultline run' running with this queue and namespace? see --control, --queue, --netns)" :
			errno == EACCES ? " (the control socket is root's)" : "");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!stream)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f = fdopen(fd, "r+");
	if (!f)
		close(fd);
	return f;
}

/* A refusal's message; replace's "rules:LINE:COL:" names the file it came from. */
static void print_refusal(const struct ctl_args *a, const char *msg)
{
	if (a->file && !strncmp(msg, "rules:", 6))
		fprintf(stderr, PROG_NAME ": %s:%s\n", a->file, msg + 6);
	else
		fprintf(stderr, PROG_NAME ": %s\n", msg);
}

/* A wait's terms, one "TERM = VALUE" line each. */
static void print_terms(FILE *f, json_t *reply)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(reply, "terms"), i, t) {
		char *v = json_dumps(json_object_get(t, "value"), JSON_COMPACT | JSON_ENCODE_ANY);

		fprintf(f, "%s = %s\n", json_string_value(json_object_get(t, "term")) ?: "?", v ? v : "?");
		free(v);
	}
}

/* Print a successful reply as the command's output. */
static void print_reply(const char *cmd, json_t *reply)
{
	json_t *v;
	char *s;

	if (!strcmp(cmd, "wait"))
		print_terms(stdout, reply);
	else if ((v = json_object_get(reply, "rules")))
		ctlcmd_print_rules(stdout, v);
	else if ((v = json_object_get(reply, "rule")))
		ctlcmd_print_rules(stdout, v);
	else if ((v = json_object_get(reply, "stats")) && (s = json_dumps(v, JSON_COMPACT))) {
		printf("%s\n", s);
		free(s);
	}
	(void)cmd;
}

/*
 * One reply line: the exit code it makes. Streams (events) print each line
 * as it comes; *end says the stream ended.
 */
static int take_reply(const struct ctl_args *a, const char *cmd, const char *line, bool *end)
{
	json_error_t je;
	json_t *j = json_loads(line, 0, &je), *err;
	int ret = 0;

	if (!j) {
		fprintf(stderr, PROG_NAME ": ctl: a reply that is not JSON: %s\n", je.text);
		return 1;
	}
	err = json_object_get(j, "error");
	*end = json_is_true(json_object_get(j, "end"));
	if (err) {
		print_refusal(a, json_string_value(err) ?: "refused");
		ret = !strcmp(cmd, "wait") && json_integer_value(json_object_get(j, "status")) == CTL_STATUS_TIMEOUT ?
			CTLCMD_EXIT_TIMEOUT : 1;
		if (ret == CTLCMD_EXIT_TIMEOUT && !a->json)
			print_terms(stderr, j);
		if (a->json)
			printf("%s\n", line);
	} else if (*end && !a->json) {
		/* The end of an events stream: faultline stopped. */
	} else if (!a->json && !strcmp(cmd, "events") && json_is_integer(json_object_get(j, "lost")) &&
		   !json_object_get(j, "ev")) {
		/* A stream's notice, not an event: the lines stay pure event lines. */
		fprintf(stderr, PROG_NAME ": ctl: %lld event lines lost (faultline's stream had no room for them)\n",
			(long long)json_integer_value(json_object_get(j, "lost")));
	} else if (a->json || !json_is_true(json_object_get(j, "ok"))) {
		/* --json, or a line of a stream: as it came. */
		printf("%s\n", line);
	} else {
		print_reply(cmd, j);
	}
	json_decref(j);
	return ret;
}

static int exchange(const struct ctl_args *a, const char *cmd, json_t *req)
{
	bool stream = !strcmp(cmd, "events") || !strcmp(cmd, "wait");
	char *text = json_dumps(req, JSON_COMPACT), *line = NULL;
	FILE *f = text ? connect_to(a->path, stream) : NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 1;

	if (!f)
		goto out;
	if (fprintf(f, "%s\n", text) < 0 || fflush(f)) {
		fprintf(stderr, PROG_NAME ": ctl: cannot send to %s: %s\n", a->path, strerror(errno));
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		bool end = false;

		if (line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		ret = take_reply(a, cmd, line, &end);
		fflush(stdout);
		/* One reply, but for a stream of events, which its end or a refusal ends. */
		if (strcmp(cmd, "events") || ret || end)
			goto out;
	}
	if (!strcmp(cmd, "events") && !ferror(f)) {
		ret = 0;	/* the stream ended: faultline stopped */
		goto out;
	}
	fprintf(stderr, PROG_NAME ": ctl: no reply from %s: %s\n", a->path,
		ferror(f) ? strerror(errno == EAGAIN ? ETIMEDOUT : errno) : "the connection closed");
	ret = 1;
out:
	if (f)
		fclose(f);
	free(line);
	free(text);
	return ret;
}

int cmd_ctl(int argc, char **argv)
{
	struct ctl_args a = { 0 };
	const char *cmd;
	json_t *req;
	int ret;

	ret = parse_ctl(argc, argv, &a);
	if (ret)
		return ret > 0 ? 0 : 2;
	cmd = argv[optind];
	req = build_request(cmd, argc - optind - 1, argv + optind + 1, &a);
	if (!req)
		return !strcmp(cmd, "replace") && argc - optind - 1 == 1 ? 1 : 2;
	ret = exchange(&a, cmd, req);
	json_decref(req);
	return ret;
}
