// SPDX-License-Identifier: MIT
/*
 * The executor. The running rule set is immutable: a change clones it
 * (rule_set_clone), edits the clone, and swaps the clone in whole; a
 * change refused anywhere frees the clone, and the running set never saw
 * it. Names stay with their rules, so the pipeline carries each rule's
 * counters over. What a reply says of the rules comes from the counters
 * JSON, the same rule objects SIGUSR1 prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "file.h"
#include "proxy.h"
#include "rule.h"
#include "stream.h"

struct ctl {
	struct ctl_config cfg;
	struct ctl_source *sources;	/* copies of cfg's, for reload */
	size_t n_sources;
	struct rule_set *initial;	/* what the run started with, for reset */
	bool stopped;
	struct ctl__calls calls;	/* events and waits in progress (stream.c) */
};

/* ---- replies ---- */

json_t *ctl_error_body(int status, const char *msg)
{
	return json_pack("{s:s, s:i}", "error", msg, "status", status);
}

char *ctl_reply_text(const struct ctl_reply *r)
{
	if (!r->body)
		return r->line ? strdup(r->line) : NULL;
	return json_dumps(r->body, JSON_COMPACT | JSON_ENSURE_ASCII);
}

static void reply(ctl_reply_cb cb, void *data, int status, json_t *body)
{
	static const char oom[] = "{\"error\":\"out of memory\",\"status\":500}";
	struct ctl_reply r = { .status = status, .body = body };

	if (!body) {
		r.status = CTL_STATUS_INTERNAL;
		r.line = oom;
	}
	cb(data, &r, true);
	json_decref(body);
}

__attribute__((format(printf, 4, 5)))
static void reply_error(ctl_reply_cb cb, void *data, int status, const char *fmt, ...)
{
	char msg[sizeof(((struct ctl_error *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(cb, data, status, ctl_error_body(status, msg));
}

static void reply_ctl_error(ctl_reply_cb cb, void *data, const struct ctl_error *e)
{
	reply(cb, data, e->status, ctl_error_body(e->status, e->msg));
}

__attribute__((format(printf, 3, 4)))
static int set_error(struct ctl_error *e, int status, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return status == CTL_STATUS_INTERNAL ? -ENOMEM : -EINVAL;
}

/* "file:line:col: msg", as the CLI prints a rule error; a name taken is 409. */
static int rule_error(struct ctl_error *e, const struct rule_error *re, int ret)
{
	int status = ret == -EEXIST ? CTL_STATUS_CONFLICT : CTL_STATUS_BAD_REQUEST;

	if (ret == -ENOMEM)
		return set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	if (re->line > 0 && re->col > 0)
		return set_error(e, status, "%s:%d:%d: %s", re->file, re->line, re->col, re->msg);
	if (re->line > 0)
		return set_error(e, status, "%s:%d: %s", re->file, re->line, re->msg);
	return set_error(e, status, "%s: %s", re->file, re->msg);
}

/* ---- the sources ---- */

/*
 * Parse every source, in order, into a new set: NULL with e set (located).
 * '@NAME' in them means what it means in names_from (a running set).
 */
static struct rule_set *load_sources(const struct ctl_source *src, size_t n,
				     const struct rule_set *names_from, struct ctl_error *e)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error re;
	int ret = 0;

	rule_set_names_from(rs, names_from);
	if (!rs) {
		set_error(e, CTL_STATUS_INTERNAL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		size_t before = rule_set_count(rs);

		if (src[i].kind == CTL_SRC_FILE) {
			ret = rule_set_load_file(rs, src[i].value, &re);
			if (ret)
				ret = rule_error(e, &re, ret);
			continue;
		}
		ret = rule_set_add_line(rs, src[i].value, src[i].label, 1, &re);
		if (ret)
			ret = rule_error(e, &re, ret);
		else if (rule_set_count(rs) == before)
			ret = set_error(e, CTL_STATUS_BAD_REQUEST, "%s: no rule in '%s'", src[i].label,
					src[i].value);
	}
	if (ret) {
		rule_set_free(rs);
		return NULL;
	}
	return rs;
}

static void sources_free(struct ctl_source *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)s[i].value);
		free((char *)s[i].label);
	}
	free(s);
}

static int sources_copy(struct ctl *c, const struct ctl_source *src, size_t n)
{
	c->sources = calloc(n + 1, sizeof(*c->sources));
	if (!c->sources)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c->sources[i].kind = src[i].kind;
		c->sources[i].value = strdup(src[i].value);
		c->sources[i].label = strdup(src[i].label ? src[i].label : "");
		c->n_sources++;
		if (!c->sources[i].value || !c->sources[i].label)
			return -ENOMEM;
	}
	return 0;
}

/* ---- the running set's rules, as the counters JSON has them ---- */

static const struct rule_set *running(struct ctl *c)
{
	return c->cfg.target.rules(c->cfg.target.data);
}

static json_t *target_stats(struct ctl *c)
{
	char *text = c->cfg.target.stats_json(c->cfg.target.data);
	json_t *j;

	if (!text)
		return NULL;
	j = json_loads(text, 0, NULL);
	free(text);
	return j;
}

static json_t *ok_with(const char *key, json_t *v)
{
	if (!v)
		return NULL;
	return json_pack("{s:b, s:o}", "ok", 1, key, v);
}

/* The rule objects of the running set (a new reference), NULL on ENOMEM. */
static json_t *rules_array(struct ctl *c)
{
	json_t *stats = target_stats(c), *a = json_incref(json_object_get(stats, "rules"));

	json_decref(stats);
	return json_is_array(a) ? a : (json_decref(a), NULL);
}

/* Answer with the rule at index i of the running set. */
static void reply_rule(struct ctl *c, int status, size_t i, ctl_reply_cb cb, void *data)
{
	json_t *a = rules_array(c);

	reply(cb, data, status, ok_with("rule", json_incref(json_array_get(a, i))));
	json_decref(a);
}

static void reply_rules(struct ctl *c, ctl_reply_cb cb, void *data)
{
	reply(cb, data, CTL_STATUS_OK, ok_with("rules", rules_array(c)));
}

/* ---- changes ---- */

/* Swap rs in (taken, also on failure): 0, or -errno with e set. */
static int commit(struct ctl *c, struct rule_set *rs, bool fresh, struct ctl_error *e)
{
	char name[RULE_MAX_NAME + 1] = "?";
	const char *what = NULL;
	int ret;

	/* Found before rs is given away: the rule a run of several queues refuses (-EXDEV). */
	for (size_t i = 0; i < rule_set_count(rs) && !what; i++) {
		const struct rule *r = rule_set_get(rs, i);

		what = rule_cross_flow(r);
		if (what)
			snprintf(name, sizeof(name), "%s", r->name);
	}
	ret = c->cfg.target.swap_rules(c->cfg.target.data, rs, fresh);
	if (ret == -EXDEV)
		return set_error(e, CTL_STATUS_CONFLICT,
				 "rule %s uses '%s', which counts packets across flows, and this run spreads "
				 "the flows over several queues (--queues), each of which would count its own",
				 name, what ? what : "?");
	if (ret == -EPERM)
		return set_error(e, CTL_STATUS_CONFLICT,
				 "a rule sends packets of its own (duplicate, reset, segment) and this run "
				 "cannot open the raw sockets they leave by: it lacks CAP_NET_RAW (start "
				 "faultline with it); the rules are unchanged");
	if (ret == -EREMOTEIO)
		return set_error(e, CTL_STATUS_INTERNAL,
				 "the kernel's filter for the new rules could not be installed (iptables-restore "
				 "failed): the rules are unchanged");
	if (ret)
		return set_error(e, CTL_STATUS_INTERNAL, "cannot swap the rules: %s", strerror(-ret));
	return 0;
}

/* A clone of the running set to change, or NULL (replied). */
static struct rule_set *clone_running(struct ctl *c, ctl_reply_cb cb, void *data)
{
	struct rule_set *rs = rule_set_clone(running(c));

	if (!rs)
		reply_error(cb, data, CTL_STATUS_INTERNAL, "cannot copy the rules: %s", strerror(errno));
	return rs;
}

static void op_add(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct rule_set *rs;
	struct rule_error re;
	struct ctl_error e;
	int ret;

	if (req->name && rule_set_find(running(c), req->name) >= 0) {
		reply_error(cb, data, CTL_STATUS_CONFLICT, "a rule named '%s' exists already", req->name);
		return;
	}
	rs = clone_running(c, cb, data);
	if (!rs)
		return;
	/* Messages name the text "rule", as a file: "rule:1:9: ...". */
	ret = rule_set_add(rs, req->rule, req->name, "rule", 1, &re);
	if (ret) {
		rule_error(&e, &re, ret);
		rule_set_free(rs);
		reply_ctl_error(cb, data, &e);
		return;
	}
	if (commit(c, rs, false, &e)) {
		reply_ctl_error(cb, data, &e);
		return;
	}
	reply_rule(c, CTL_STATUS_CREATED, rule_set_count(running(c)) - 1, cb, data);
}

/* get, del, enable, disable. */
static void op_named(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	int i = rule_set_find(running(c), req->name);
	bool enable = req->op == CTL_OP_ENABLE;
	struct rule_set *rs;
	struct ctl_error e;

	if (i < 0) {
		reply_error(cb, data, CTL_STATUS_NOT_FOUND, "no rule named '%s'", req->name);
		return;
	}
	/* Asked for, or already as asked: nothing to swap. */
	if (req->op == CTL_OP_GET ||
	    (req->op != CTL_OP_DEL && rule_set_get(running(c), (size_t)i)->disabled != enable)) {
		reply_rule(c, CTL_STATUS_OK, (size_t)i, cb, data);
		return;
	}
	rs = clone_running(c, cb, data);
	if (!rs)
		return;
	if (req->op == CTL_OP_DEL)
		rule_set_del(rs, req->name);
	else
		rule_set_enable(rs, req->name, enable);
	if (commit(c, rs, false, &e)) {
		reply_ctl_error(cb, data, &e);
		return;
	}
	if (req->op == CTL_OP_DEL)
		reply(cb, data, CTL_STATUS_OK, json_pack("{s:b}", "ok", 1));
	else
		reply_rule(c, CTL_STATUS_OK, (size_t)i, cb, data);
}

struct text_reader {
	const char *s;
	size_t left;
};

static ssize_t read_text(void *data, char *buf, size_t size)
{
	struct text_reader *t = data;
	size_t n = t->left < size ? t->left : size;

	memcpy(buf, t->s, n);
	t->s += n;
	t->left -= n;
	return (ssize_t)n;
}

/* Swap in rs (taken; NULL: e says why not) and answer with the rules. */
static void swap_set(struct ctl *c, struct rule_set *rs, bool fresh, struct ctl_error *e, ctl_reply_cb cb,
		     void *data)
{
	if (!rs || commit(c, rs, fresh, e)) {
		reply_ctl_error(cb, data, e);
		return;
	}
	reply_rules(c, cb, data);
}

static void op_replace(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct text_reader t = { req->rules, strlen(req->rules) };
	struct rule_set *rs = rule_set_new();
	struct rule_error re;
	struct ctl_error e;
	int ret;

	rule_set_names_from(rs, running(c));
	if (!rs) {
		reply_error(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return;
	}
	/* Messages name the text "rules", as a file: "rules:3:12: ...". */
	ret = rule_set_load(rs, "rules", read_text, &t, &re);
	if (ret) {
		rule_error(&e, &re, ret);
		rule_set_free(rs);
		rs = NULL;
	}
	swap_set(c, rs, false, &e, cb, data);
}

static void op_reset(struct ctl *c, ctl_reply_cb cb, void *data)
{
	struct rule_set *rs = rule_set_clone(c->initial);
	struct ctl_error e;

	if (!rs)
		set_error(&e, CTL_STATUS_INTERNAL, "cannot copy the rules: %s", strerror(errno));
	/* Back to the start: the counters too. */
	swap_set(c, rs, true, &e, cb, data);
}

static void op_reload(struct ctl *c, ctl_reply_cb cb, void *data)
{
	struct ctl_error e;
	struct rule_set *rs = load_sources(c->sources, c->n_sources, c->initial, &e);

	/*
	 * Unreadable files, or a set the run refuses (raw sockets it cannot
	 * open, a cross-flow rule with several queues): the running rules
	 * stay, and faultline's own stderr says so too, since SIGHUP has no
	 * one to answer.
	 */
	if (!rs || commit(c, rs, false, &e)) {
		if (c->cfg.log) {
			char line[sizeof(e.msg) + 64];

			snprintf(line, sizeof(line), "reload failed, the rules are unchanged: %s", e.msg);
			c->cfg.log(c->cfg.log_data, line);
		}
		reply_ctl_error(cb, data, &e);
		return;
	}
	reply_rules(c, cb, data);
}

static void op_stats(struct ctl *c, ctl_reply_cb cb, void *data)
{
	reply(cb, data, CTL_STATUS_OK, ok_with("stats", target_stats(c)));
}

struct ctl_call *ctl_exec(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	if (c->stopped) {
		reply_error(cb, data, CTL_STATUS_UNAVAILABLE, "faultline is stopping");
		return NULL;
	}
	switch (req->op) {
	case CTL_OP_LIST:
		reply_rules(c, cb, data);
		break;
	case CTL_OP_GET:
	case CTL_OP_DEL:
	case CTL_OP_ENABLE:
	case CTL_OP_DISABLE:
		op_named(c, req, cb, data);
		break;
	case CTL_OP_ADD:
		op_add(c, req, cb, data);
		break;
	case CTL_OP_REPLACE:
		op_replace(c, req, cb, data);
		break;
	case CTL_OP_STATS:
		op_stats(c, cb, data);
		break;
	case CTL_OP_RESET:
		op_reset(c, cb, data);
		break;
	case CTL_OP_RELOAD:
		op_reload(c, cb, data);
		break;
	case CTL_OP_EVENTS:
		return ctl__events(&c->calls, &c->cfg, cb, data);
	case CTL_OP_WAIT:
		return ctl__wait(&c->calls, &c->cfg, req, cb, data);
	default:
		reply_error(cb, data, CTL_STATUS_NOT_IMPLEMENTED, "op \"%s\" is not implemented yet",
			    ctl_op_name(req->op) ? ctl_op_name(req->op) : "?");
		break;
	}
	return NULL;
}

int ctl_set_group(struct ctl *c, const char *prefix, const char *const *names,
		  const char *const *lines, size_t n, struct ctl_error *e)
{
	size_t plen = strlen(prefix);
	struct rule_set *rs;
	struct rule_error re;
	int ret = 0;

	if (c->stopped)
		return set_error(e, CTL_STATUS_UNAVAILABLE, "faultline is stopping");
	rs = rule_set_clone(running(c));
	if (!rs)
		return set_error(e, CTL_STATUS_INTERNAL, "cannot copy the rules: %s", strerror(errno));
	/* Deleting moves the later rules up: look again from the start each time. */
	for (size_t i = 0; i < rule_set_count(rs);) {
		const char *name = rule_set_get(rs, i)->name;

		if (strncmp(name, prefix, plen)) {
			i++;
			continue;
		}
		rule_set_del(rs, name);
	}
	for (size_t i = 0; i < n && !ret; i++) {
		ret = rule_set_add(rs, lines[i], names[i], names[i], 1, &re);
		if (ret)
			ret = rule_error(e, &re, ret);
	}
	if (ret) {
		rule_set_free(rs);
		return ret;
	}
	return commit(c, rs, false, e);
}

struct ctl_call *ctl_exec_text(struct ctl *c, const char *text, size_t len, ctl_reply_cb cb, void *data)
{
	struct ctl_req req;
	struct ctl_error e;
	struct ctl_call *call;

	if (ctl_req_decode(text, len, &req, &e)) {
		reply_ctl_error(cb, data, &e);
		return NULL;
	}
	call = ctl_exec(c, &req, cb, data);
	ctl_req_close(&req);
	return call;
}

void ctl_call_cancel(struct ctl_call *call)
{
	ctl__call_cancel(call);
}

/* ---- life ---- */

static int swap_proxy(void *data, struct rule_set *rules, bool fresh)
{
	return fresh ? proxy_reset_rules(data, rules) : proxy_swap_rules(data, rules);
}

static const struct rule_set *rules_proxy(void *data)
{
	return proxy_rules(data);
}

static char *stats_proxy(void *data)
{
	return proxy_stats_json(data);
}

static int subscribe_proxy(void *data, evfan_cb cb, void *cb_data, char **stats)
{
	return proxy_events_subscribe(data, cb, cb_data, stats);
}

static void unsubscribe_proxy(void *data, int id)
{
	proxy_events_unsubscribe(data, id);
}

struct ctl_target ctl_proxy_target(struct proxy *p)
{
	return (struct ctl_target){
		.swap_rules = swap_proxy,
		.rules = rules_proxy,
		.stats_json = stats_proxy,
		.subscribe = subscribe_proxy,
		.unsubscribe = unsubscribe_proxy,
		.data = p,
	};
}

struct ctl *ctl_new(const struct ctl_config *cfg, struct ctl_error *err)
{
	struct ctl_error dummy;
	struct ctl *c;
	int ret;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	c = calloc(1, sizeof(*c));
	if (!c) {
		set_error(err, CTL_STATUS_INTERNAL, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.sources = NULL;
	if (sources_copy(c, cfg->sources, cfg->n_sources)) {
		ret = set_error(err, CTL_STATUS_INTERNAL, "out of memory");
		goto err;
	}
	/* '@NAME' in the sources means what it means in the set the target runs. */
	c->initial = load_sources(c->sources, c->n_sources, c->cfg.target.rules ? running(c) : NULL, err);
	if (!c->initial) {
		ret = err->status == CTL_STATUS_INTERNAL ? -ENOMEM : -EINVAL;
		goto err;
	}
	return c;
err:
	ctl_free(c);
	errno = -ret;
	return NULL;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	c->stopped = true;
	ctl__calls_stop(&c->calls);
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	while (c->calls.head)
		ctl__call_cancel(c->calls.head);
	rule_set_free(c->initial);
	sources_free(c->sources, c->n_sources);
	free(c);
}
