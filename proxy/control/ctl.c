// SPDX-License-Identifier: MIT
/*
 * The executor. It keeps the rules as the user sees them (the model: each
 * rule's text, name, place and whether it is enabled) and derives the
 * running rule set from it: a change edits a copy of the model, builds a
 * whole new set from the copy and swaps it in; only when the swap took
 * does the copy become the model. A change that fails anywhere leaves the
 * model and the running set as they were.
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

struct entry {
	char *name;	/* given by the user, or NULL: "rule-N" by position */
	char *text;	/* the line as given, trimmed */
	char *canon;	/* its canonical form */
	char *file;	/* where it came from, for messages */
	int line;
	bool enabled;
};

struct model {
	struct entry *v;
	size_t n;
};

struct ctl {
	struct ctl_config cfg;
	struct ctl_source *sources;	/* copies of cfg's, for reload */
	size_t n_sources;
	struct model rules;		/* what runs now */
	struct model initial;		/* what the run started with, for reset */
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

/* "file:line:col: msg", as the CLI prints a rule error. */
static int rule_error(struct ctl_error *e, const struct rule_error *re, int ret)
{
	if (ret == -ENOMEM)
		return set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	if (re->line > 0 && re->col > 0)
		return set_error(e, CTL_STATUS_BAD_REQUEST, "%s:%d:%d: %s", re->file, re->line, re->col,
				 re->msg);
	if (re->line > 0)
		return set_error(e, CTL_STATUS_BAD_REQUEST, "%s:%d: %s", re->file, re->line, re->msg);
	return set_error(e, CTL_STATUS_BAD_REQUEST, "%s: %s", re->file, re->msg);
}

/* ---- the model ---- */

static void entry_close(struct entry *en)
{
	free(en->name);
	free(en->text);
	free(en->canon);
	free(en->file);
}

static void model_close(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		entry_close(&m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int entry_copy(struct entry *dst, const struct entry *src)
{
	*dst = *src;
	dst->name = src->name ? strdup(src->name) : NULL;
	dst->text = strdup(src->text);
	dst->canon = strdup(src->canon);
	dst->file = strdup(src->file);
	if ((src->name && !dst->name) || !dst->text || !dst->canon || !dst->file) {
		entry_close(dst);
		return -ENOMEM;
	}
	return 0;
}

/* A copy of src with room for one more entry. */
static int model_copy(struct model *dst, const struct model *src)
{
	dst->n = 0;
	dst->v = calloc(src->n + 1, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		if (entry_copy(&dst->v[i], &src->v[i])) {
			model_close(dst);
			return -ENOMEM;
		}
		dst->n++;
	}
	return 0;
}

/* Append the rules of parsed set rs (all enabled, unnamed) to m. */
static int model_add_set(struct model *m, const struct rule_set *rs)
{
	size_t n = rule_set_count(rs);
	struct entry *v = realloc(m->v, (m->n + n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	m->v = v;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_set_get(rs, i);
		struct entry *en = &m->v[m->n];

		memset(en, 0, sizeof(*en));
		en->text = strdup(r->text);
		en->canon = rule_print_alloc(r);
		en->file = strdup(r->file ? r->file : "");
		en->line = r->line;
		en->enabled = true;
		if (!en->text || !en->canon || !en->file) {
			entry_close(en);
			return -ENOMEM;
		}
		m->n++;
	}
	return 0;
}

/* The entry a name refers to: a given name, or "rule-N" for an unnamed N-th rule. */
static struct entry *model_find(const struct model *m, const char *name, size_t *pos)
{
	unsigned long n;
	char *end;

	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].name && !strcmp(m->v[i].name, name)) {
			*pos = i;
			return &m->v[i];
		}
	}
	if (strncmp(name, "rule-", 5) || name[5] < '1' || name[5] > '9')
		return NULL;
	n = strtoul(name + 5, &end, 10);
	if (*end || n > m->n || m->v[n - 1].name)
		return NULL;
	*pos = n - 1;
	return &m->v[n - 1];
}

/* The running set for model m: its enabled rules, in order. */
static struct rule_set *model_build(const struct model *m, struct ctl_error *e)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error re;
	int ret;

	if (!rs) {
		set_error(e, CTL_STATUS_INTERNAL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!m->v[i].enabled)
			continue;
		/* Each text parsed when it entered the model: only memory and the set's bound fail here. */
		ret = rule_set_add_line(rs, m->v[i].text, m->v[i].file, m->v[i].line, &re);
		if (ret) {
			rule_error(e, &re, ret);
			rule_set_free(rs);
			return NULL;
		}
	}
	return rs;
}

/* ---- the sources ---- */

/* Parse every source, in order, into a model: 0 or -errno with e set (located). */
static int load_sources(const struct ctl_source *src, size_t n, struct model *m, struct ctl_error *e)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error re;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	if (!rs)
		return set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	for (size_t i = 0; i < n && !ret; i++) {
		size_t before = rule_set_count(rs);

		if (src[i].kind == CTL_SRC_FILE) {
			ret = rule_set_load_file(rs, src[i].value, &re);
		} else {
			ret = rule_set_add_line(rs, src[i].value, src[i].label, 1, &re);
			if (!ret && rule_set_count(rs) == before)
				ret = set_error(e, CTL_STATUS_BAD_REQUEST, "%s: no rule in '%s'",
						src[i].label, src[i].value);
			else if (ret)
				ret = rule_error(e, &re, ret);
			continue;
		}
		if (ret)
			ret = rule_error(e, &re, ret);
	}
	if (!ret && model_add_set(m, rs))
		ret = set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	rule_set_free(rs);
	if (ret)
		model_close(m);
	return ret;
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

/* ---- the running set's counters, as rule objects ---- */

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

/*
 * The rule object of model entry i: its counters are those of the
 * running set's rule it became (the enabled ones, in order), from the
 * stats' "rules" array.
 */
static json_t *rule_object(const struct model *m, size_t i, json_t *stats_rules)
{
	const struct entry *en = &m->v[i];
	char auto_name[32];
	json_t *o, *src = NULL;
	size_t k = 0;

	if (en->enabled) {
		for (size_t j = 0; j < i; j++)
			k += m->v[j].enabled;
		src = json_array_get(stats_rules, k);
	}
	snprintf(auto_name, sizeof(auto_name), "rule-%zu", i + 1);
	o = json_pack("{s:I, s:s, s:s, s:b, s:i}", "index", (json_int_t)(i + 1), "name",
		      en->name ? en->name : auto_name, "rule", en->canon, "enabled", en->enabled,
		      "line", en->line);
	if (o && src) {
		const char *key;
		json_t *v;

		json_object_foreach(src, key, v) {
			if (strcmp(key, "index") && strcmp(key, "rule") && strcmp(key, "line") &&
			    strcmp(key, "name") && strcmp(key, "enabled") && json_object_set(o, key, v)) {
				json_decref(o);
				return NULL;
			}
		}
	}
	return o;
}

static json_t *rules_array(struct ctl *c)
{
	json_t *stats = target_stats(c), *a = json_array();
	json_t *sr = json_object_get(stats, "rules");

	for (size_t i = 0; a && i < c->rules.n; i++) {
		if (json_array_append_new(a, rule_object(&c->rules, i, sr))) {
			json_decref(a);
			a = NULL;
		}
	}
	json_decref(stats);
	return a;
}

static json_t *ok_with(const char *key, json_t *v)
{
	if (!v)
		return NULL;
	return json_pack("{s:b, s:o}", "ok", 1, key, v);
}

/* ---- changes ---- */

/*
 * Swap in the set model m describes; on success m becomes the model (and
 * is emptied), else the model and running set are untouched.
 */
static int commit(struct ctl *c, struct model *m, struct ctl_error *e)
{
	struct rule_set *rs = model_build(m, e);
	int ret;

	if (!rs)
		return -EINVAL;
	ret = c->cfg.target.swap_rules(c->cfg.target.data, rs);
	if (ret == -EPERM)
		return set_error(e, CTL_STATUS_CONFLICT,
				 "a rule duplicates packets, but this run has no raw sockets to send the "
				 "copies: start faultline with CAP_NET_RAW, and it opens them at the start");
	if (ret)
		return set_error(e, CTL_STATUS_INTERNAL, "cannot swap the rules: %s", strerror(-ret));
	model_close(&c->rules);
	c->rules = *m;
	memset(m, 0, sizeof(*m));
	return 0;
}

/* Parse one rule line for add: the new entry, or -errno with e located ("rule:1:COL: ..."). */
static int parse_entry(const char *text, const char *name, struct entry *en, struct ctl_error *e)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error re;
	struct model tmp = { 0 };
	int ret;

	memset(en, 0, sizeof(*en));
	if (!rs)
		return set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	ret = rule_set_add_line(rs, text, "rule", 1, &re);
	if (ret)
		ret = rule_error(e, &re, ret);
	else if (rule_set_count(rs) != 1)
		ret = set_error(e, CTL_STATUS_BAD_REQUEST, "rule: no rule in the text (blank or a comment)");
	else if (model_add_set(&tmp, rs))
		ret = set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	rule_set_free(rs);
	if (ret)
		return ret;
	*en = tmp.v[0];
	free(tmp.v);
	if (name && !(en->name = strdup(name))) {
		entry_close(en);
		return set_error(e, CTL_STATUS_INTERNAL, "out of memory");
	}
	return 0;
}

static void reply_rule(struct ctl *c, int status, size_t pos, ctl_reply_cb cb, void *data)
{
	json_t *stats = target_stats(c);

	reply(cb, data, status, ok_with("rule", rule_object(&c->rules, pos, json_object_get(stats, "rules"))));
	json_decref(stats);
}

static void reply_rules(struct ctl *c, ctl_reply_cb cb, void *data)
{
	reply(cb, data, CTL_STATUS_OK, ok_with("rules", rules_array(c)));
}

static void op_add(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct model m;
	struct ctl_error e;
	size_t pos;

	if (req->name && model_find(&c->rules, req->name, &pos)) {
		reply_error(cb, data, CTL_STATUS_CONFLICT, "a rule named '%s' exists already", req->name);
		return;
	}
	if (model_copy(&m, &c->rules)) {
		reply_error(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return;
	}
	if (parse_entry(req->rule, req->name, &m.v[m.n], &e)) {
		model_close(&m);
		reply_ctl_error(cb, data, &e);
		return;
	}
	m.n++;
	if (commit(c, &m, &e)) {
		model_close(&m);
		reply_ctl_error(cb, data, &e);
		return;
	}
	reply_rule(c, CTL_STATUS_CREATED, c->rules.n - 1, cb, data);
}

/* del, enable, disable: what to do with the entry at pos of the copy. */
static void op_named(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct ctl_error e;
	struct model m;
	size_t pos;

	if (!model_find(&c->rules, req->name, &pos)) {
		reply_error(cb, data, CTL_STATUS_NOT_FOUND, "no rule named '%s'", req->name);
		return;
	}
	if (req->op == CTL_OP_GET) {
		reply_rule(c, CTL_STATUS_OK, pos, cb, data);
		return;
	}
	/* Already as asked: nothing to swap, and the counters run on. */
	if (req->op != CTL_OP_DEL && c->rules.v[pos].enabled == (req->op == CTL_OP_ENABLE)) {
		reply_rule(c, CTL_STATUS_OK, pos, cb, data);
		return;
	}
	if (model_copy(&m, &c->rules)) {
		reply_error(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return;
	}
	if (req->op == CTL_OP_DEL) {
		entry_close(&m.v[pos]);
		memmove(&m.v[pos], &m.v[pos + 1], (m.n - pos - 1) * sizeof(*m.v));
		m.n--;
	} else {
		m.v[pos].enabled = req->op == CTL_OP_ENABLE;
	}
	if (commit(c, &m, &e)) {
		model_close(&m);
		reply_ctl_error(cb, data, &e);
		return;
	}
	if (req->op == CTL_OP_DEL)
		reply(cb, data, CTL_STATUS_OK, json_pack("{s:b}", "ok", 1));
	else
		reply_rule(c, CTL_STATUS_OK, pos, cb, data);
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

/* Swap in model m (taken) and answer with the rules, or with why not. */
static void swap_model(struct ctl *c, struct model *m, ctl_reply_cb cb, void *data)
{
	struct ctl_error e;

	if (commit(c, m, &e)) {
		model_close(m);
		reply_ctl_error(cb, data, &e);
		return;
	}
	reply_rules(c, cb, data);
}

static void op_replace(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data)
{
	struct text_reader t = { req->rules, strlen(req->rules) };
	struct rule_set *rs = rule_set_new();
	struct model m = { 0 };
	struct rule_error re;
	struct ctl_error e;
	int ret;

	if (!rs) {
		reply_error(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return;
	}
	/* Messages name the text "rules", as a file: "rules:3:12: ...". */
	ret = rule_set_load(rs, "rules", read_text, &t, &re);
	if (ret)
		rule_error(&e, &re, ret);
	else if (model_add_set(&m, rs))
		ret = set_error(&e, CTL_STATUS_INTERNAL, "out of memory");
	rule_set_free(rs);
	if (ret) {
		model_close(&m);
		reply_ctl_error(cb, data, &e);
		return;
	}
	swap_model(c, &m, cb, data);
}

static void op_reset(struct ctl *c, ctl_reply_cb cb, void *data)
{
	struct model m;

	if (model_copy(&m, &c->initial)) {
		reply_error(cb, data, CTL_STATUS_INTERNAL, "out of memory");
		return;
	}
	swap_model(c, &m, cb, data);
}

static void op_reload(struct ctl *c, ctl_reply_cb cb, void *data)
{
	struct ctl_error e;
	struct model m;

	if (load_sources(c->sources, c->n_sources, &m, &e)) {
		/* The running rules stay; faultline's own stderr says so too. */
		if (c->cfg.log) {
			char line[sizeof(e.msg) + 64];

			snprintf(line, sizeof(line), "reload failed, the rules are unchanged: %s", e.msg);
			c->cfg.log(c->cfg.log_data, line);
		}
		reply_ctl_error(cb, data, &e);
		return;
	}
	swap_model(c, &m, cb, data);
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

static int swap_proxy(void *data, struct rule_set *rules)
{
	return proxy_swap_rules(data, rules);
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
	ret = load_sources(c->sources, c->n_sources, &c->initial, err);
	if (ret)
		goto err;
	ret = model_copy(&c->rules, &c->initial) ? set_error(err, CTL_STATUS_INTERNAL, "out of memory") : 0;
	if (ret)
		goto err;
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
	model_close(&c->rules);
	model_close(&c->initial);
	sources_free(c->sources, c->n_sources);
	free(c);
}
