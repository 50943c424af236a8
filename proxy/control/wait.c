// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tcpstate.h"
#include "wait.h"

enum term_kind { TERM_COUNTER, TERM_STATE, TERM_SEGMENTS };
enum seg_kind { SEG_RETRANS, SEG_OOO, SEG_DUPACK };
enum op { OP_GE, OP_GT, OP_EQ, OP_NE, OP_LE, OP_LT };

/* A connection selector: each part given must hold for one endpoint (pcap-filter's way). */
struct selector {
	bool has_host, has_port;
	int family;		/* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

struct term {
	enum term_kind kind;
	char *text;		/* as written, for replies */
	char *rule;		/* TERM_COUNTER: NULL for a total */
	char *key;
	bool has_sel;
	struct selector sel;
	int state;		/* TERM_STATE */
	enum seg_kind seg;	/* TERM_SEGMENTS */
	enum op op;
	uint64_t num;
	uint64_t value;
};

struct wait {
	unsigned n;
	bool started;
	struct term t[WAIT_MAX_TERMS];
};

/* The names a segment class has in a summary and in an event's "class" array. */
static const struct {
	const char *word, *summary, *cls;
} segs[] = {
	[SEG_RETRANS] = { "retransmissions", "retransmissions", "retransmission" },
	[SEG_OOO] = { "out-of-order", "out_of_order", "out-of-order" },
	[SEG_DUPACK] = { "dup-acks", "dup_acks", "dup-ack" },
};

static const char *const op_names[] = {
	[OP_GE] = ">=", [OP_GT] = ">", [OP_EQ] = "==", [OP_NE] = "!=", [OP_LE] = "<=", [OP_LT] = "<",
};

/* ---- parsing ------------------------------------------------------------------------- */

struct lex {
	const char *s;
	size_t pos;		/* the next token's start */
	size_t tok, len;	/* the current token */
	bool is_op;
	struct wait_error *err;
};

static bool is_op_char(char c)
{
	return c == '<' || c == '>' || c == '=' || c == '!';
}

/* The next token: a word (up to a blank or an operator) or an operator. False at the end. */
static bool next(struct lex *l)
{
	const char *s = l->s;
	size_t i = l->pos;

	while (s[i] == ' ' || s[i] == '\t')
		i++;
	l->tok = i;
	if (!s[i]) {
		l->len = 0;
		l->pos = i;
		return false;
	}
	l->is_op = is_op_char(s[i]);
	while (s[i] && s[i] != ' ' && s[i] != '\t' && is_op_char(s[i]) == l->is_op)
		i++;
	l->len = i - l->tok;
	l->pos = i;
	return true;
}

static bool is(const struct lex *l, const char *word)
{
	return l->len == strlen(word) && !strncmp(l->s + l->tok, word, l->len);
}

static int fail_at(struct lex *l, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(struct lex *l, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (l->err) {
		l->err->col = (int)at + 1;
		va_start(ap, fmt);
		vsnprintf(l->err->msg, sizeof(l->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The current token as a string of at most size - 1 bytes (longer: cut, and the caller refuses it). */
static void tok_str(const struct lex *l, char *buf, size_t size)
{
	size_t n = l->len < size - 1 ? l->len : size - 1;

	memcpy(buf, l->s + l->tok, n);
	buf[n] = 0;
}

static int parse_number(struct lex *l, uint64_t *out)
{
	char buf[32], *end;

	if (!next(l) || l->is_op)
		return fail_at(l, l->tok, "expected a number");
	tok_str(l, buf, sizeof(buf));
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (!isdigit((unsigned char)buf[0]) || *end || errno || l->len >= sizeof(buf))
		return fail_at(l, l->tok, "'%.*s' is not a number", (int)l->len, l->s + l->tok);
	return 0;
}

static int parse_op_number(struct lex *l, struct term *t)
{
	if (!next(l) || !l->is_op)
		return fail_at(l, l->tok, "expected a comparison (>=, >, ==, !=, <=, <)");
	for (unsigned i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (is(l, op_names[i])) {
			t->op = (enum op)i;
			return parse_number(l, &t->num);
		}
	return fail_at(l, l->tok, "'%.*s' is not a comparison (>=, >, ==, !=, <=, <)", (int)l->len,
		       l->s + l->tok);
}

static bool parse_addr(const char *s, struct selector *sel)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	/* [fd00::1] as connection strings write it, or bare. */
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = 0;
		s = buf;
	}
	if (inet_pton(AF_INET, s, sel->addr) == 1)
		sel->family = AF_INET;
	else if (inet_pton(AF_INET6, s, sel->addr) == 1)
		sel->family = AF_INET6;
	else
		return false;
	return true;
}

/* After "conn": host ADDRESS and/or port N, at least one. */
static int parse_selector(struct lex *l, struct selector *sel)
{
	size_t at = l->tok;
	char buf[64];
	uint64_t port;

	for (;;) {
		size_t save = l->pos;

		if (!next(l) || l->is_op || !(is(l, "host") || is(l, "port"))) {
			l->pos = save;
			break;
		}
		if (is(l, "host")) {
			if (sel->has_host)
				return fail_at(l, l->tok, "'host' given twice");
			if (!next(l) || l->is_op)
				return fail_at(l, l->tok, "expected an address after 'host'");
			tok_str(l, buf, sizeof(buf));
			if (l->len >= sizeof(buf) || !parse_addr(buf, sel))
				return fail_at(l, l->tok, "'%.*s' is not an IPv4 or IPv6 address", (int)l->len,
					       l->s + l->tok);
			sel->has_host = true;
		} else {
			if (sel->has_port)
				return fail_at(l, l->tok, "'port' given twice");
			if (parse_number(l, &port))
				return -EINVAL;
			if (port < 1 || port > 65535)
				return fail_at(l, l->tok, "port %llu is out of range (1-65535)",
					       (unsigned long long)port);
			sel->port = (uint16_t)port;
			sel->has_port = true;
		}
	}
	if (!sel->has_host && !sel->has_port)
		return fail_at(l, at, "'conn' wants 'host ADDRESS' or 'port N'");
	return 0;
}

static bool valid_name(const char *s, size_t n)
{
	if (!n || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static bool valid_key(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* RULE.KEY, total.KEY or held, then OP N. */
static int parse_counter(struct lex *l, struct term *t)
{
	const char *w = l->s + l->tok, *dot;
	size_t n = l->len;

	t->kind = TERM_COUNTER;
	if (is(l, "held")) {
		t->key = strdup("held_now");
		return t->key ? parse_op_number(l, t) : -ENOMEM;
	}
	/* A rule name may hold dots: the key is after the last. */
	dot = memrchr(w, '.', n);
	if (!dot)
		return fail_at(l, l->tok,
			       "'%.*s': expected RULE.COUNTER, total.COUNTER, held, conn, state, "
			       "retransmissions, out-of-order or dup-acks", (int)n, w);
	if (!valid_key(dot + 1, n - (size_t)(dot + 1 - w)))
		return fail_at(l, l->tok + (size_t)(dot + 1 - w), "expected a counter name after '.'");
	if (!(dot - w == 5 && !strncmp(w, "total", 5))) {
		if (!valid_name(w, (size_t)(dot - w)))
			return fail_at(l, l->tok, "'%.*s' is not a rule name", (int)(dot - w), w);
		t->rule = strndup(w, (size_t)(dot - w));
		if (!t->rule)
			return -ENOMEM;
	}
	t->key = strndup(dot + 1, n - (size_t)(dot + 1 - w));
	if (!t->key)
		return -ENOMEM;
	return parse_op_number(l, t);
}

/* [conn SELECTOR] state S | [conn SELECTOR] SEGMENTS OP N; the current token is the first word. */
static int parse_tracker(struct lex *l, struct term *t)
{
	char buf[32];

	if (is(l, "conn")) {
		int ret = parse_selector(l, &t->sel);

		if (ret)
			return ret;
		t->has_sel = true;
		if (!next(l) || l->is_op)
			return fail_at(l, l->tok, "expected 'state', 'retransmissions', 'out-of-order' or "
					       "'dup-acks' after the connection");
	}
	if (is(l, "state")) {
		t->kind = TERM_STATE;
		if (!next(l) || l->is_op)
			return fail_at(l, l->tok, "expected a TCP state (ESTABLISHED, TIME_WAIT, ...)");
		tok_str(l, buf, sizeof(buf));
		t->state = l->len < sizeof(buf) ? tcpstate_parse(buf) : -1;
		if (t->state < 0)
			return fail_at(l, l->tok, "'%.*s' is not a TCP state (ESTABLISHED, TIME_WAIT, ...)",
				       (int)l->len, l->s + l->tok);
		return 0;
	}
	for (unsigned i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		if (is(l, segs[i].word)) {
			t->kind = TERM_SEGMENTS;
			t->seg = (enum seg_kind)i;
			return parse_op_number(l, t);
		}
	return fail_at(l, l->tok, "'%.*s': expected 'state', 'retransmissions', 'out-of-order' or "
				  "'dup-acks'", (int)l->len, l->s + l->tok);
}

static int parse_term(struct lex *l, struct term *t)
{
	size_t start;
	int ret;

	if (!next(l))
		return fail_at(l, l->tok, "expected a condition");
	if (l->is_op)
		return fail_at(l, l->tok, "expected a counter or a connection before '%.*s'", (int)l->len,
			       l->s + l->tok);
	start = l->tok;
	if (is(l, "conn") || is(l, "state") || is(l, "retransmissions") || is(l, "out-of-order") ||
	    is(l, "dup-acks"))
		ret = parse_tracker(l, t);
	else
		ret = parse_counter(l, t);
	if (ret)
		return ret;
	t->text = strndup(l->s + start, l->tok + l->len - start);
	return t->text ? 0 : -ENOMEM;
}

static struct wait *parse(const char *text, size_t *used, struct wait_error *err)
{
	struct lex l = { .s = text, .err = err };
	struct wait *w;
	int ret;

	if (err)
		*err = (struct wait_error){ 0 };
	if (strlen(text) > WAIT_MAX_TEXT) {
		fail_at(&l, WAIT_MAX_TEXT, "the condition is longer than %d bytes", WAIT_MAX_TEXT);
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	for (;;) {
		size_t save;

		if (w->n == WAIT_MAX_TERMS) {
			ret = fail_at(&l, l.pos, "more than %d terms", WAIT_MAX_TERMS);
			goto err;
		}
		ret = parse_term(&l, &w->t[w->n++]);
		if (ret)
			goto err;
		save = l.pos;
		if (!next(&l))
			break;
		if (is(&l, "and") && !l.is_op)
			continue;
		if (used) {
			/* Not ours: a trigger's step starts here. */
			l.pos = save;
			break;
		}
		ret = fail_at(&l, l.tok, "expected 'and' or the end, not '%.*s'", (int)l.len, l.s + l.tok);
		goto err;
	}
	if (used) {
		while (text[l.pos] == ' ' || text[l.pos] == '\t')
			l.pos++;
		*used = l.pos;
	}
	return w;
err:
	wait_free(w);
	errno = -ret;
	return NULL;
}

struct wait *wait_parse(const char *text, struct wait_error *err)
{
	return parse(text, NULL, err);
}

struct wait *wait_parse_prefix(const char *text, size_t *used, struct wait_error *err)
{
	return parse(text, used, err);
}

/* ---- evaluation ---------------------------------------------------------------------- */

/* One endpoint of a connection string: "10.0.0.1:40000" or "[fd00::1]:40000". */
static bool endpoint_matches(const char *s, size_t n, const struct selector *sel, bool *host, bool *port)
{
	const char *colon = memrchr(s, ':', n);
	char addr[INET6_ADDRSTRLEN + 2];
	struct selector got = { 0 };
	size_t alen;

	if (!colon)
		return false;
	alen = (size_t)(colon - s);
	if (alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (sel->has_host && parse_addr(addr, &got) && got.family == sel->family &&
	    !memcmp(got.addr, sel->addr, got.family == AF_INET ? 4 : 16))
		*host = true;
	if (sel->has_port && strtoul(colon + 1, NULL, 10) == sel->port)
		*port = true;
	return true;
}

/* "A:p > B:q", perhaps after a protocol word ("tcp A:p > B:q", a packet's flow). */
static bool conn_matches(const char *conn, const struct selector *sel)
{
	const char *gt = strstr(conn, " > "), *a = conn, *sp;
	bool host = !sel->has_host, port = !sel->has_port;

	if (!gt)
		return false;
	sp = memchr(conn, ' ', (size_t)(gt - conn));
	if (sp && sp < gt)
		a = sp + 1;
	endpoint_matches(a, (size_t)(gt - a), sel, &host, &port);
	endpoint_matches(gt + 3, strlen(gt + 3), sel, &host, &port);
	return host && port;
}

static bool term_conn(const struct term *t, const char *conn)
{
	return !t->has_sel || (conn && conn_matches(conn, &t->sel));
}

static bool array_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static uint64_t u64_of(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* The rule object named name in the counters' "rules" (unnamed ones are rule-N, from 1). */
static json_t *find_rule(json_t *rules, const char *name)
{
	size_t i;
	json_t *r;

	json_array_foreach(rules, i, r) {
		json_t *n = json_object_get(r, "name");
		char fallback[32];

		if (json_is_string(n) && !strcmp(json_string_value(n), name))
			return r;
		snprintf(fallback, sizeof(fallback), "rule-%zu", i + 1);
		if (!n && !strcmp(fallback, name))
			return r;
	}
	return NULL;
}

static int werr(struct wait_error *err, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int werr(struct wait_error *err, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->col = 0;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Counter terms from the counters; 'strict': a missing rule or key is an error. */
static int read_counters(struct wait *w, json_t *stats, bool strict, struct wait_error *err)
{
	json_t *rules = json_object_get(stats, "rules");

	for (unsigned i = 0; i < w->n; i++) {
		struct term *t = &w->t[i];
		json_t *obj = stats, *v;

		if (t->kind != TERM_COUNTER)
			continue;
		if (t->rule) {
			obj = find_rule(rules, t->rule);
			if (!obj) {
				/* Deleted since: its last value stays. */
				if (!strict)
					continue;
				return werr(err, -ENOENT, "no rule named '%s'", t->rule);
			}
		}
		v = json_object_get(obj, t->key);
		if (!json_is_integer(v)) {
			if (!strict)
				continue;
			if (t->rule)
				return werr(err, -EINVAL, "rule '%s' has no counter '%s'", t->rule, t->key);
			return werr(err, -EINVAL, "no total '%s' (total.packets, total.dropped, "
						  "total.held_now, ...)", t->key);
		}
		t->value = u64_of(v);
	}
	return 0;
}

/* Tracker terms from the connection summaries of the starting counters. */
static void read_summaries(struct wait *w, json_t *stats)
{
	json_t *conns = json_object_get(stats, "connections"), *c;
	size_t k;

	json_array_foreach(conns, k, c) {
		const char *conn = json_string_value(json_object_get(c, "conn"));
		json_t *reached = json_object_get(c, "reached");

		for (unsigned i = 0; i < w->n; i++) {
			struct term *t = &w->t[i];

			if (t->kind == TERM_COUNTER || !term_conn(t, conn))
				continue;
			if (t->kind == TERM_STATE) {
				for (size_t e = 0; e < 2; e++)
					t->value += array_has(json_array_get(reached, e),
							      tcpstate_name((enum tcpstate)t->state));
			} else {
				t->value += u64_of(json_object_get(c, segs[t->seg].summary));
			}
		}
	}
}

int wait_start(struct wait *w, const char *stats, size_t len, struct wait_error *err)
{
	json_t *j = json_loadb(stats, len, 0, NULL);
	int ret;

	if (!json_is_object(j)) {
		json_decref(j);
		return werr(err, -EINVAL, "the counters are not a JSON object");
	}
	for (unsigned i = 0; i < w->n; i++)
		w->t[i].value = 0;
	ret = read_counters(w, j, true, err);
	if (!ret) {
		read_summaries(w, j);
		w->started = true;
	}
	json_decref(j);
	return ret;
}

int wait_feed_stats(struct wait *w, const char *stats, size_t len)
{
	json_t *j = json_loadb(stats, len, 0, NULL);

	if (!json_is_object(j)) {
		json_decref(j);
		return -EINVAL;
	}
	read_counters(w, j, false, NULL);
	json_decref(j);
	return 0;
}

/* Whether a line can matter to any term, before it is parsed. */
static bool worth_parsing(const struct wait *w, const char *line, size_t n)
{
	for (unsigned i = 0; i < w->n; i++) {
		if (w->t[i].kind == TERM_STATE && memmem(line, n, "\"ev\":\"transition\"", 17))
			return true;
		if (w->t[i].kind == TERM_SEGMENTS && memmem(line, n, segs[w->t[i].seg].cls,
							    strlen(segs[w->t[i].seg].cls)))
			return true;
	}
	return false;
}

static void feed_event(struct wait *w, json_t *ev)
{
	const char *kind = json_string_value(json_object_get(ev, "ev"));
	const char *conn = json_string_value(json_object_get(ev, "conn"));
	json_t *cls = json_object_get(ev, "class");
	bool packet, egress;

	if (!kind)
		return;
	packet = !strcmp(kind, "packet");
	/* Of the receiver's view, only faultline's own reordering is counted (as the summary does). */
	egress = !strcmp(kind, "class") &&
		 !strcmp(json_string_value(json_object_get(ev, "view")) ?: "", "egress");
	if (packet)
		conn = json_string_value(json_object_get(ev, "flow"));
	for (unsigned i = 0; i < w->n; i++) {
		struct term *t = &w->t[i];

		if (t->kind == TERM_STATE && !strcmp(kind, "transition") && term_conn(t, conn) &&
		    !strcmp(json_string_value(json_object_get(ev, "new")) ?: "",
			    tcpstate_name((enum tcpstate)t->state)))
			t->value++;
		if (t->kind == TERM_SEGMENTS && (packet || (egress && t->seg == SEG_OOO)) &&
		    array_has(cls, segs[t->seg].cls) && term_conn(t, conn))
			t->value++;
	}
}

void wait_feed_lines(struct wait *w, const char *lines, size_t len)
{
	const char *p = lines, *end = lines + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *ev;

		if (worth_parsing(w, p, n)) {
			ev = json_loadb(p, n, 0, NULL);
			if (json_is_object(ev))
				feed_event(w, ev);
			json_decref(ev);
		}
		p += n + 1;
	}
}

static bool holds(const struct term *t)
{
	if (t->kind == TERM_STATE)
		return t->value > 0;
	switch (t->op) {
	case OP_GE:
		return t->value >= t->num;
	case OP_GT:
		return t->value > t->num;
	case OP_EQ:
		return t->value == t->num;
	case OP_NE:
		return t->value != t->num;
	case OP_LE:
		return t->value <= t->num;
	default:
		return t->value < t->num;
	}
}

bool wait_met(const struct wait *w)
{
	if (!w->started)
		return false;
	for (unsigned i = 0; i < w->n; i++)
		if (!holds(&w->t[i]))
			return false;
	return true;
}

bool wait_wants_stats(const struct wait *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->t[i].kind == TERM_COUNTER)
			return true;
	return false;
}

bool wait_wants_events(const struct wait *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->t[i].kind != TERM_COUNTER)
			return true;
	return false;
}

unsigned wait_terms(const struct wait *w)
{
	return w->n;
}

const char *wait_term_text(const struct wait *w, unsigned i)
{
	return i < w->n ? w->t[i].text : NULL;
}

uint64_t wait_term_value(const struct wait *w, unsigned i)
{
	return i < w->n ? w->t[i].value : 0;
}

bool wait_term_holds(const struct wait *w, unsigned i)
{
	return i < w->n && w->started && holds(&w->t[i]);
}

void wait_free(struct wait *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->n; i++) {
		free(w->t[i].text);
		free(w->t[i].rule);
		free(w->t[i].key);
	}
	free(w);
}
