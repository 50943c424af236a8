// SPDX-License-Identifier: MIT
/*
 * api: routes to control requests. A route builds the request as the
 * control socket would send it ({"op":...} plus the body's fields) and
 * ctl_req_decode judges it, so a field means the same, and is refused the
 * same way, on both transports.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "metrics.h"

#define JSON_TYPE "application/json"

/* Whether the Content-Type is text/plain (parameters such as charset aside). */
static bool is_text_plain(const char *ctype)
{
	return ctype && !strncasecmp(ctype, "text/plain", 10) && (ctype[10] == '\0' || ctype[10] == ';' ||
								   ctype[10] == ' ');
}

/*
 * The body as a JSON object (an empty body is {}). NULL with err set:
 * malformed or truncated JSON, or not an object.
 */
static json_t *body_object(const char *body, size_t len, struct ctl_error *err)
{
	json_error_t je;
	json_t *j;

	if (!len) {
		j = json_object();
		if (!j)
			ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
		return j;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j) {
		ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "bad JSON at byte %d: %s", je.position, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* PUT /rules's JSON: {"rules":["LINE",...]} becomes the text of a rule file, one line each. */
static int lines_to_text(json_t *obj, struct ctl_error *err)
{
	json_t *lines = json_object_get(obj, "rules"), *text;
	size_t n, i, total = 0;
	json_t *v;
	char *buf, *p;

	if (!lines)
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "PUT /rules needs \"rules\": [\"LINE\", ...]");
	if (!json_is_array(lines))
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "\"rules\" must be an array of rule lines");
	n = json_array_size(lines);
	json_array_foreach(lines, i, v) {
		if (!json_is_string(v))
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "\"rules\"[%zu] must be a string", i);
		/* One element is one line: a line break inside would make two rules of it. */
		if (memchr(json_string_value(v), '\n', json_string_length(v)) ||
		    memchr(json_string_value(v), '\r', json_string_length(v)))
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "\"rules\"[%zu] holds a line break: one rule per element", i);
		total += json_string_length(v) + 1;
	}
	buf = malloc(total + 1);
	if (!buf)
		return ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
	p = buf;
	for (i = 0; i < n; i++) {
		v = json_array_get(lines, i);
		memcpy(p, json_string_value(v), json_string_length(v));
		p += json_string_length(v);
		*p++ = '\n';
	}
	*p = '\0';
	text = json_string(buf);
	free(buf);
	if (!text || json_object_set_new(obj, "rules", text))
		return ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
	return 0;
}

/* PUT /rules as text/plain: the body is a rule file. */
static json_t *text_body(const char *body, size_t len, struct ctl_error *err)
{
	json_t *j, *s;

	if (memchr(body, '\0', len)) {
		ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "the rule text holds a NUL byte");
		return NULL;
	}
	s = json_stringn(body, len);
	if (!s) {
		ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "the rule text is not valid UTF-8");
		return NULL;
	}
	j = json_pack("{s:o}", "rules", s);
	if (!j)
		ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
	return j;
}

enum route_kind {
	R_RULES,	/* /rules */
	R_RULE,		/* /rules/NAME */
	R_RULE_ENABLE,	/* /rules/NAME/enable */
	R_RULE_DISABLE,	/* /rules/NAME/disable */
	R_STATS,
	R_RESET,
	R_RELOAD,
	R_EVENTS,
	R_WAIT,
	R_METRICS,
	R_NONE,
	R_BAD_NAME,	/* /rules/X..., X not a rule name */
};

/* One method of a path: the op it runs and how its reply is answered. */
struct method_op {
	const char *method;
	const char *op;
	int status;
	const char *unwrap;
	bool takes_body;
};

static const struct {
	const char *allow;
	struct method_op m[3];
} routes[R_NONE] = {
	[R_RULES] = { "GET, POST, PUT", { { "GET", "list", 200, "rules", false },
					  { "POST", "add", 201, "rule", true },
					  { "PUT", "replace", 200, "rules", true } } },
	[R_RULE] = { "GET, DELETE", { { "GET", "get", 200, "rule", false },
				      { "DELETE", "del", 204, NULL, false } } },
	[R_RULE_ENABLE] = { "POST", { { "POST", "enable", 200, "rule", true } } },
	[R_RULE_DISABLE] = { "POST", { { "POST", "disable", 200, "rule", true } } },
	[R_STATS] = { "GET", { { "GET", "stats", 200, "stats", false } } },
	[R_RESET] = { "POST", { { "POST", "reset", 200, "rules", true } } },
	[R_RELOAD] = { "POST", { { "POST", "reload", 200, "rules", true } } },
	[R_EVENTS] = { "GET", { { "GET", "events", 200, NULL, false } } },
	[R_WAIT] = { "POST", { { "POST", "wait", 200, NULL, true } } },
	[R_METRICS] = { "GET", { { "GET", "stats", 200, "stats", false } } },
};

static const struct {
	const char *path;
	enum route_kind kind;
} fixed[] = {
	{ "/rules", R_RULES }, { "/stats", R_STATS }, { "/reset", R_RESET }, { "/reload", R_RELOAD },
	{ "/events", R_EVENTS }, { "/wait", R_WAIT }, { "/metrics", R_METRICS },
};

/* The route of a path, and for /rules/NAME[/...] the name (malloc'd into *name). */
static enum route_kind find_route(const char *path, char **name)
{
	const char *rest, *slash;
	size_t n;

	*name = NULL;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!strcmp(path, fixed[i].path))
			return fixed[i].kind;
	if (strncmp(path, "/rules/", 7))
		return R_NONE;
	rest = path + 7;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!n)
		return R_NONE;
	if (slash && strcmp(slash, "/enable") && strcmp(slash, "/disable"))
		return R_NONE;
	*name = strndup(rest, n);
	if (!*name)
		return R_NONE;
	/* A name no rule can have ([A-Za-z][A-Za-z0-9_.-]*) is not found, as any unknown name. */
	if (n > CTL_MAX_NAME || !((rest[0] | 0x20) >= 'a' && (rest[0] | 0x20) <= 'z') ||
	    strspn(*name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
		return R_BAD_NAME;
	if (!slash)
		return R_RULE;
	return strcmp(slash, "/enable") ? R_RULE_DISABLE : R_RULE_ENABLE;
}

/* The request object of a route with a body: the body's fields (or its rule text), checked for "op". */
static json_t *request_object(enum route_kind k, const struct method_op *m, const char *ctype,
			      const char *body, size_t len, struct ctl_error *err)
{
	json_t *obj;

	if (k == R_RULES && !strcmp(m->method, "PUT") && is_text_plain(ctype))
		return text_body(body, len, err);
	obj = body_object(m->takes_body ? body : "", m->takes_body ? len : 0, err);
	if (!obj)
		return NULL;
	/* The path says the op and the name: the body may not say them again, or otherwise. */
	if (json_object_get(obj, "op") || (k != R_RULES && json_object_get(obj, "name"))) {
		ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "unknown field \"%s\": the path says it",
		       json_object_get(obj, "op") ? "op" : "name");
		json_decref(obj);
		return NULL;
	}
	if (k == R_RULES && !strcmp(m->method, "PUT") && lines_to_text(obj, err)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int api_route(const char *method, const char *path, const char *ctype, const char *body, size_t len,
	      struct ctl_req *req, struct api_route *rt, struct ctl_error *err)
{
	const struct method_op *m = NULL;
	char *name = NULL, *text = NULL, q[80];
	enum route_kind k;
	json_t *obj = NULL;
	int ret;

	memset(req, 0, sizeof(*req));
	memset(rt, 0, sizeof(*rt));
	memset(err, 0, sizeof(*err));
	k = find_route(path, &name);
	if (k == R_BAD_NAME) {
		ctl_quote(q, sizeof(q), name, 60);
		free(name);
		return ctl_refuse(err, CTL_STATUS_NOT_FOUND, "no rule named '%s'", q);
	}
	if (k == R_NONE) {
		ctl_quote(q, sizeof(q), path, 60);
		return ctl_refuse(err, CTL_STATUS_NOT_FOUND, "no such path: %s", q);
	}
	for (size_t i = 0; i < 3 && routes[k].m[i].method; i++)
		if (!strcmp(method, routes[k].m[i].method))
			m = &routes[k].m[i];
	if (!m) {
		free(name);
		rt->allow = routes[k].allow;
		ctl_quote(q, sizeof(q), method, 60);
		return ctl_refuse(err, 405, "%s does not take %s (only %s)", path, q, routes[k].allow);
	}
	obj = request_object(k, m, ctype, body, len, err);
	if (!obj) {
		free(name);
		return err->status == CTL_STATUS_INTERNAL ? -ENOMEM : -EINVAL;
	}
	if (json_object_set_new(obj, "op", json_string(m->op)) ||
	    (name && json_object_set_new(obj, "name", json_string(name))) ||
	    !(text = json_dumps(obj, JSON_COMPACT))) {
		ret = ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
		goto out;
	}
	ret = ctl_req_decode(text, strlen(text), req, err);
	if (!ret) {
		rt->status = m->status;
		rt->unwrap = m->unwrap;
		rt->metrics = k == R_METRICS;
	}
out:
	free(text);
	free(name);
	json_decref(obj);
	return ret;
}

/* ---- requests on the loop ---- */

struct api {
	struct ctl *c;
};

/* One HTTP request in the executor's hands. */
struct call {
	struct http_req *req;
	struct ctl_call *call;	/* an asynchronous op's, once ctl_exec returned it */
	struct api_route rt;
	bool in_exec;		/* ctl_exec has not returned yet */
	bool done;		/* the last reply came (or the client went away) */
	bool streaming;
};

static void reply_text(struct http_req *r, unsigned status, const char *ctype, char *text)
{
	size_t len = text ? strlen(text) : 0;

	http_reply(r, status, ctype, text, len, NULL);
	free(text);
}

/* Body text with a final line feed (curl prints it on a line of its own). */
static char *dump_line(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY), *t;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return t;
}

static void answer_error(struct http_req *r, int status, const char *msg, const char *allow)
{
	json_t *j = ctl_error_body(status, msg);
	char *text = j ? dump_line(j) : NULL;

	json_decref(j);
	if (!text) {
		http_reply(r, 500, JSON_TYPE, "{\"error\":\"out of memory\",\"status\":500}\n", 39, NULL);
		return;
	}
	http_reply(r, (unsigned)status, JSON_TYPE, text, strlen(text), allow);
	free(text);
}

/* A one-off reply: the unwrapped payload, the metrics text, or the error as it is. */
static void answer(struct call *k, const struct ctl_reply *rep)
{
	const json_t *payload = rep->body;
	char *text;

	if (!rep->body) {
		/* A pre-formatted line (out of memory): as it is. */
		reply_text(k->req, (unsigned)rep->status, JSON_TYPE, rep->line ? strdup(rep->line) : NULL);
		return;
	}
	if (rep->status >= 300) {
		reply_text(k->req, (unsigned)rep->status, JSON_TYPE, dump_line(rep->body));
		return;
	}
	if (k->rt.status == 204) {
		http_reply(k->req, 204, NULL, NULL, 0, NULL);
		return;
	}
	if (k->rt.unwrap)
		payload = json_object_get(rep->body, k->rt.unwrap);
	if (!payload) {
		answer_error(k->req, 500, "the executor's reply lacks its payload", NULL);
		return;
	}
	if (k->rt.metrics) {
		text = metrics_format(payload);
		if (!text) {
			answer_error(k->req, 500, "out of memory", NULL);
			return;
		}
		reply_text(k->req, 200, METRICS_CONTENT_TYPE, text);
		return;
	}
	reply_text(k->req, (unsigned)(rep->status == 200 ? k->rt.status : rep->status), JSON_TYPE,
		   dump_line(payload));
}

/* One line down an events stream; a client too slow to take them loses the stream. */
static void stream_line(struct call *k, const struct ctl_reply *rep)
{
	char *text = rep->body ? dump_line(rep->body) : NULL;
	int ret;

	if (rep->body && !text)
		return;
	if (text)
		ret = http_stream_write(k->req, text, strlen(text));
	else
		ret = http_stream_write(k->req, rep->line, strlen(rep->line)) ?:
		      http_stream_write(k->req, "\n", 1);
	free(text);
	if (ret && k->call) {
		/* Past the stream's bound (http.h): end it rather than hold the run's memory. */
		ctl_call_cancel(k->call);
		k->call = NULL;
		http_stream_end(k->req);
		k->done = true;
	}
}

static void on_reply(void *data, const struct ctl_reply *rep, bool last)
{
	struct call *k = data;

	if (k->done)
		return;
	if (!last || k->streaming) {
		if (!k->streaming) {
			k->streaming = true;
			if (http_stream_start(k->req, "application/x-ndjson")) {
				k->done = true;
				if (k->call)
					ctl_call_cancel(k->call);
				goto out;
			}
		}
		if (rep->body || rep->line)
			stream_line(k, rep);
		if (!last || k->done)
			return;
		http_stream_end(k->req);
	} else {
		answer(k, rep);
	}
	k->done = true;
out:
	if (!k->in_exec)
		free(k);
}

/* The client went away (or the server stops) first: the call ends without another reply. */
static void on_gone(void *data)
{
	struct call *k = data;

	if (k->call && !k->done)
		ctl_call_cancel(k->call);
	free(k);
}

void api_handle(void *data, struct http_req *r)
{
	struct api *a = data;
	struct ctl_error err;
	struct ctl_req req;
	struct call *k;
	size_t len;
	const char *body = http_req_body(r, &len);
	struct ctl_call *call;
	struct api_route rt;
	enum ctl_op op;
	int ret;

	ret = api_route(http_req_method(r), http_req_path(r), http_req_header(r, "Content-Type"), body, len, &req,
			&rt, &err);
	if (ret) {
		answer_error(r, err.status, err.msg, rt.allow);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		ctl_req_close(&req);
		answer_error(r, 500, "out of memory", NULL);
		return;
	}
	k->req = r;
	k->rt = rt;
	k->in_exec = true;
	op = req.op;
	call = ctl_exec(a->c, &req, on_reply, k);
	k->in_exec = false;
	ctl_req_close(&req);
	if (k->done) {
		free(k);
		return;
	}
	k->call = call;
	http_req_on_gone(r, on_gone, k);
	/* An events stream answers at once, so its client knows it listens before the first event. */
	if (op == CTL_OP_EVENTS && !k->streaming) {
		k->streaming = true;
		if (http_stream_start(r, "application/x-ndjson")) {
			ctl_call_cancel(call);
			free(k);
		}
	}
}

struct api *api_new(struct ctl *c)
{
	struct api *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->c = c;
	return a;
}

void api_free(struct api *a)
{
	free(a);
}
