// SPDX-License-Identifier: MIT
/*
 * evlog: the events file read back. A strict JSON reader, an index of
 * packets, releases and tracker lines, and the per-flow layout that
 * `faultline show` and `faultline report` draw from.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evlog.h"
#include "track.h"

/* ---- JSON ------------------------------------------------------------------ */

/* Deep enough for any event; bounded so a hostile line cannot blow the stack. */
#define JSON_MAX_DEPTH 64
/* Longer numbers are legal JSON but never written by faultline. */
#define JSON_MAX_NUM 64

struct jp {
	struct evlog_json *j;
	const char *s, *p, *end;
	char *out;		/* where the next decoded string byte goes */
	int depth;
};

static int jerr(struct jp *jp, const char *msg)
{
	jp->j->err = msg;
	jp->j->err_off = (size_t)(jp->p - jp->s);
	return -EBADMSG;
}

static void skip_ws(struct jp *jp)
{
	while (jp->p < jp->end &&
	       (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

/* A new node; an index, because the array moves when it grows. */
static int new_node(struct jp *jp, enum evlog_jtype type, uint32_t *idx)
{
	struct evlog_json *j = jp->j;

	if (j->nv == j->cap) {
		uint32_t cap = j->cap ? j->cap * 2 : 64;
		struct evlog_jval *v;

		if (cap <= j->cap)
			return -ENOMEM;
		v = realloc(j->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		j->v = v;
		j->cap = cap;
	}
	*idx = j->nv++;
	memset(&j->v[*idx], 0, sizeof(j->v[*idx]));
	j->v[*idx].type = type;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(struct jp *jp, unsigned *cp)
{
	unsigned v = 0;

	if (jp->end - jp->p < 4)
		return jerr(jp, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hexval(jp->p[i]);

		if (h < 0)
			return jerr(jp, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	jp->p += 4;
	*cp = v;
	return 0;
}

static void put_utf8(struct jp *jp, unsigned cp)
{
	char *o = jp->out;

	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	jp->out = o;
}

/*
 * A string at jp->p (on the opening quote), decoded into the string
 * buffer. The buffer is as long as the whole text plus one, which always
 * suffices: a string's decoded bytes plus its NUL never outnumber its
 * encoded bytes with both quotes (\uXXXX is 6 bytes for at most 3, a
 * surrogate pair 12 for 4).
 */
static int parse_string(struct jp *jp, const char **str, uint32_t *len)
{
	char *start = jp->out;

	jp->p++;
	for (;;) {
		unsigned char c;

		if (jp->p >= jp->end)
			return jerr(jp, "unterminated string");
		c = (unsigned char)*jp->p;
		if (c == '"') {
			jp->p++;
			break;
		}
		if (c < 0x20)
			return jerr(jp, "control character in string");
		if (c != '\\') {
			*jp->out++ = (char)c;
			jp->p++;
			continue;
		}
		if (jp->end - jp->p < 2)
			return jerr(jp, "unterminated string");
		jp->p++;
		switch (*jp->p++) {
		case '"':
			*jp->out++ = '"';
			break;
		case '\\':
			*jp->out++ = '\\';
			break;
		case '/':
			*jp->out++ = '/';
			break;
		case 'b':
			*jp->out++ = '\b';
			break;
		case 'f':
			*jp->out++ = '\f';
			break;
		case 'n':
			*jp->out++ = '\n';
			break;
		case 'r':
			*jp->out++ = '\r';
			break;
		case 't':
			*jp->out++ = '\t';
			break;
		case 'u': {
			unsigned cp, lo;
			int ret = hex4(jp, &cp);

			if (ret)
				return ret;
			/*
			 * A lone surrogate is legal JSON but not a character:
			 * it becomes U+FFFD, as browsers decode it.
			 */
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (jp->end - jp->p >= 6 && jp->p[0] == '\\' && jp->p[1] == 'u') {
					const char *save = jp->p;

					jp->p += 2;
					ret = hex4(jp, &lo);
					if (ret)
						return ret;
					if (lo >= 0xdc00 && lo < 0xe000) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					} else {
						cp = 0xfffd;
						jp->p = save;
					}
				} else {
					cp = 0xfffd;
				}
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				cp = 0xfffd;
			}
			put_utf8(jp, cp);
			break;
		}
		default:
			jp->p--;
			return jerr(jp, "bad escape in string");
		}
	}
	*jp->out++ = '\0';
	*str = start;
	*len = (uint32_t)(jp->out - start - 1);
	return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, checked before strtod sees it. */
static int parse_number(struct jp *jp, double *out)
{
	const char *q = jp->p;
	char buf[JSON_MAX_NUM + 1];
	size_t n;

	if (q < jp->end && *q == '-')
		q++;
	if (q >= jp->end || *q < '0' || *q > '9')
		return jerr(jp, "bad number");
	if (*q == '0')
		q++;
	else
		while (q < jp->end && *q >= '0' && *q <= '9')
			q++;
	if (q < jp->end && *q == '.') {
		q++;
		if (q >= jp->end || *q < '0' || *q > '9')
			return jerr(jp, "bad number");
		while (q < jp->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < jp->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < jp->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= jp->end || *q < '0' || *q > '9')
			return jerr(jp, "bad number");
		while (q < jp->end && *q >= '0' && *q <= '9')
			q++;
	}
	n = (size_t)(q - jp->p);
	if (n > JSON_MAX_NUM)
		return jerr(jp, "number too long");
	/* The text need not be NUL-terminated, and strtod wants it so. */
	memcpy(buf, jp->p, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	jp->p = q;
	return 0;
}

static int parse_literal(struct jp *jp, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n))
		return jerr(jp, "unexpected character");
	jp->p += n;
	return 0;
}

static int parse_value(struct jp *jp, uint32_t *idx);

/* Members of an array or object at jp->p (on the bracket), linked as children of idx. */
static int parse_members(struct jp *jp, uint32_t idx, bool object)
{
	char close = object ? '}' : ']';
	uint32_t prev = 0, child;
	int ret;

	jp->p++;
	skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		uint32_t klen;

		skip_ws(jp);
		if (object) {
			if (jp->p >= jp->end || *jp->p != '"')
				return jerr(jp, "expected a member name");
			ret = parse_string(jp, &key, &klen);
			if (ret)
				return ret;
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':')
				return jerr(jp, "expected ':'");
			jp->p++;
		}
		ret = parse_value(jp, &child);
		if (ret)
			return ret;
		jp->j->v[child].key = key;
		if (prev)
			jp->j->v[prev].next = child;
		else
			jp->j->v[idx].child = child;
		prev = child;
		jp->j->v[idx].n++;
		skip_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == close) {
			jp->p++;
			return 0;
		}
		return jerr(jp, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int parse_value(struct jp *jp, uint32_t *idx)
{
	struct evlog_jval *v;
	int ret;

	skip_ws(jp);
	if (jp->p >= jp->end)
		return jerr(jp, "unexpected end of line");
	switch (*jp->p) {
	case '{':
	case '[':
		if (++jp->depth > JSON_MAX_DEPTH)
			return jerr(jp, "nested too deeply");
		ret = new_node(jp, *jp->p == '{' ? EVLOG_J_OBJ : EVLOG_J_ARR, idx);
		if (!ret)
			ret = parse_members(jp, *idx, jp->j->v[*idx].type == EVLOG_J_OBJ);
		jp->depth--;
		return ret;
	case '"': {
		const char *s;
		uint32_t n;

		ret = parse_string(jp, &s, &n);
		if (ret)
			return ret;
		ret = new_node(jp, EVLOG_J_STR, idx);
		if (ret)
			return ret;
		v = &jp->j->v[*idx];
		v->str = s;
		v->n = n;
		return 0;
	}
	case 't':
	case 'f':
		ret = parse_literal(jp, *jp->p == 't' ? "true" : "false");
		if (ret)
			return ret;
		ret = new_node(jp, EVLOG_J_BOOL, idx);
		if (!ret)
			jp->j->v[*idx].b = jp->p[-1] == 'e' && jp->p[-2] == 'u';
		return ret;
	case 'n':
		ret = parse_literal(jp, "null");
		return ret ? ret : new_node(jp, EVLOG_J_NULL, idx);
	default: {
		double d = 0;

		if (*jp->p != '-' && (*jp->p < '0' || *jp->p > '9'))
			return jerr(jp, "unexpected character");
		ret = parse_number(jp, &d);
		if (ret)
			return ret;
		ret = new_node(jp, EVLOG_J_NUM, idx);
		if (!ret)
			jp->j->v[*idx].num = d;
		return ret;
	}
	}
}

int evlog_json_parse(struct evlog_json *j, const char *text, size_t len)
{
	struct jp jp = { .j = j, .s = text, .p = text, .end = text + len };
	uint32_t root;
	int ret;

	j->nv = 0;
	j->err = NULL;
	j->err_off = 0;
	if (j->str_cap < len + 1) {
		char *s = realloc(j->str, len + 1);

		if (!s)
			return -ENOMEM;
		j->str = s;
		j->str_cap = len + 1;
	}
	jp.out = j->str;
	ret = parse_value(&jp, &root);
	if (ret) {
		j->nv = 0;
		return ret;
	}
	skip_ws(&jp);
	if (jp.p != jp.end) {
		j->nv = 0;
		return jerr(&jp, "trailing characters after the value");
	}
	return 0;
}

void evlog_json_close(struct evlog_json *j)
{
	free(j->v);
	free(j->str);
	memset(j, 0, sizeof(*j));
}

const struct evlog_jval *evlog_json_root(const struct evlog_json *j)
{
	return j->nv ? &j->v[0] : NULL;
}

const struct evlog_jval *evlog_json_first(const struct evlog_json *j, const struct evlog_jval *v)
{
	if (!v || (v->type != EVLOG_J_ARR && v->type != EVLOG_J_OBJ) || !v->child)
		return NULL;
	return &j->v[v->child];
}

const struct evlog_jval *evlog_json_next(const struct evlog_json *j, const struct evlog_jval *v)
{
	return v && v->next ? &j->v[v->next] : NULL;
}

const struct evlog_jval *evlog_json_get(const struct evlog_json *j, const struct evlog_jval *obj,
					const char *key)
{
	if (!obj || obj->type != EVLOG_J_OBJ)
		return NULL;
	for (const struct evlog_jval *m = evlog_json_first(j, obj); m; m = evlog_json_next(j, m))
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

/* ---- strings: an arena and an intern table ---------------------------------- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

/* Open addressing over string keys; vals index whatever the owner keeps. */
struct smap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

struct rel {
	uint64_t pkt, rel;
	double t;
	unsigned line;
	bool early;
};

struct evlog {
	struct evlog_json j;
	unsigned lines;
	bool finished;
	struct evlog_pkt *pkts;
	size_t n_pkts, cap_pkts;
	struct evlog_trk *trks;
	size_t n_trks, cap_trks;
	struct rel *rels;
	size_t n_rels, cap_rels;
	struct evlog_flow *flows;
	size_t n_flows;
	struct smap strs;
	struct chunk *arena;
};

static void *arena_alloc(struct evlog *log, size_t n)
{
	struct chunk *c = log->arena;
	size_t align = _Alignof(max_align_t);
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = log->arena;
		c->used = 0;
		c->cap = cap;
		log->arena = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* The slot holding s[0..n), or the empty slot where it would go. */
static size_t smap_slot(const struct smap *m, const char *s, size_t n)
{
	size_t i = hash_str(s, n) & (m->cap - 1);

	while (m->keys[i] && (strncmp(m->keys[i], s, n) || m->keys[i][n]))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int smap_grow(struct smap *m)
{
	struct smap g = { .cap = m->cap ? m->cap * 2 : 256 };

	g.keys = calloc(g.cap, sizeof(*g.keys));
	g.vals = calloc(g.cap, sizeof(*g.vals));
	if (!g.keys || !g.vals) {
		free(g.keys);
		free(g.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t k;

		if (!m->keys[i])
			continue;
		k = smap_slot(&g, m->keys[i], strlen(m->keys[i]));
		g.keys[k] = m->keys[i];
		g.vals[k] = m->vals[i];
	}
	g.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = g;
	return 0;
}

static void smap_free(struct smap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* s[0..n) as a string that lives as long as the log; equal strings share one copy. */
static const char *intern_n(struct evlog *log, const char *s, size_t n)
{
	struct smap *m = &log->strs;
	size_t i;
	char *copy;

	/*
	 * A decoded JSON string may hold a NUL (\u0000). Every user reads a C
	 * string, and the map compares keys as C strings: a key that ended
	 * early would be read past its end.
	 */
	n = strnlen(s, n);
	if (m->n * 2 >= m->cap && smap_grow(m))
		return NULL;
	i = smap_slot(m, s, n);
	if (m->keys[i])
		return m->keys[i];
	copy = arena_alloc(log, n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	m->keys[i] = copy;
	m->n++;
	return copy;
}

static const char *intern(struct evlog *log, const char *s)
{
	return intern_n(log, s, strlen(s));
}

/* ---- reading events ------------------------------------------------------------ */

struct evlog *evlog_new(void)
{
	return calloc(1, sizeof(struct evlog));
}

void evlog_free(struct evlog *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->n_flows; i++) {
		free(log->flows[i].pkts);
		free(log->flows[i].trks);
		free(log->flows[i].rows);
	}
	free(log->flows);
	free(log->pkts);
	free(log->trks);
	free(log->rels);
	smap_free(&log->strs);
	while (log->arena) {
		struct chunk *c = log->arena;

		log->arena = c->next;
		free(c);
	}
	evlog_json_close(&log->j);
	free(log);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *p;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static const struct evlog_jval *get(struct evlog *log, const struct evlog_jval *o, const char *key,
				    enum evlog_jtype type)
{
	const struct evlog_jval *v = evlog_json_get(&log->j, o, key);

	return v && v->type == type ? v : NULL;
}

static bool get_num(struct evlog *log, const struct evlog_jval *o, const char *key, double *out)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_NUM);

	if (!v || !isfinite(v->num))
		return false;
	*out = v->num;
	return true;
}

/* A non-negative integer that a double holds exactly. */
static bool get_u64(struct evlog *log, const struct evlog_jval *o, const char *key, uint64_t *out)
{
	double d;

	if (!get_num(log, o, key, &d) || d < 0 || d > 9007199254740992.0 || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool get_u32(struct evlog *log, const struct evlog_jval *o, const char *key, uint32_t *out)
{
	uint64_t u;

	if (!get_u64(log, o, key, &u) || u > UINT32_MAX)
		return false;
	*out = (uint32_t)u;
	return true;
}

static unsigned get_uint(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	uint32_t u = 0;

	get_u32(log, o, key, &u);
	return u;
}

/* An interned string member, "" when absent; NULL only when out of memory. */
static const char *get_str(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_STR);

	return v ? intern_n(log, v->str, v->n) : intern(log, "");
}

static bool get_bool(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *v = get(log, o, key, EVLOG_J_BOOL);

	return v && v->b;
}

/* Class names to TRACK_C_* bits; names this build does not know are skipped. */
static uint32_t get_classes(struct evlog *log, const struct evlog_jval *o, const char *key)
{
	const struct evlog_jval *a = get(log, o, key, EVLOG_J_ARR);
	uint32_t bits = 0;

	for (const struct evlog_jval *v = evlog_json_first(&log->j, a); v;
	     v = evlog_json_next(&log->j, v)) {
		if (v->type != EVLOG_J_STR)
			continue;
		for (int i = 0; i < TRACK_C__COUNT; i++)
			if (!strcmp(v->str, track_class_name(1u << i)))
				bits |= 1u << i;
	}
	return bits;
}

/* "S", "SA", "FPA", "." (bare ACK, tracker lines), "A" (bare ACK, packet lines). */
static unsigned parse_flags(const char *s)
{
	unsigned f = 0;

	for (; *s; s++) {
		switch (*s) {
		case 'F':
			f |= EVLOG_FIN;
			break;
		case 'S':
			f |= EVLOG_SYN;
			break;
		case 'R':
			f |= EVLOG_RST;
			break;
		case 'P':
			f |= EVLOG_PSH;
			break;
		case 'A':
		case '.':
			f |= EVLOG_ACK;
			break;
		case 'U':
			f |= EVLOG_URG;
			break;
		case 'E':
			f |= EVLOG_ECE;
			break;
		case 'C':
		case 'W':
			f |= EVLOG_CWR;
			break;
		}
	}
	return f;
}

__attribute__((format(printf, 3, 4)))
static int bad_event(struct evlog *log, struct evlog_error *err, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->line = log->lines;
	err->col = 1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int add_packet(struct evlog *log, const struct evlog_jval *o, struct evlog_error *err)
{
	const struct evlog_jval *acts;
	const char *verdict, *fl;
	struct evlog_pkt *p;
	uint64_t u;
	double d;

	if (grow((void **)&log->pkts, &log->cap_pkts, log->n_pkts, sizeof(*log->pkts)))
		return -ENOMEM;
	p = &log->pkts[log->n_pkts];
	memset(p, 0, sizeof(*p));
	p->line = log->lines;
	if (!get_num(log, o, "t", &p->t))
		return bad_event(log, err, "packet event without a valid \"t\"");
	if (!get_u64(log, o, "pkt", &p->pkt))
		return bad_event(log, err, "packet event without a valid \"pkt\"");
	p->proto = get_str(log, o, "proto");
	p->flow = get_str(log, o, "flow");
	p->flow_hash = get_str(log, o, "flow_hash");
	p->dir = get_str(log, o, "dir");
	p->way = get_uint(log, o, "way") ? 1 : 0;
	if (get_u64(log, o, "ord", &u))
		p->ord = u;
	p->len = get_uint(log, o, "len");
	p->plen = get_uint(log, o, "plen");
	p->gso = get_bool(log, o, "gso");
	p->reorder = get_bool(log, o, "reorder");
	p->corrupt = get_bool(log, o, "corrupt");
	p->copies = get_uint(log, o, "copies");
	if (get_num(log, o, "delay_us", &d))
		p->delay_us = d;
	verdict = get_str(log, o, "verdict");
	if (!p->proto || !p->flow || !p->flow_hash || !p->dir || !verdict)
		return -ENOMEM;
	p->verdict = !strcmp(verdict, "drop") ? EVLOG_DROP :
		     !strcmp(verdict, "hold") ? EVLOG_HOLD : EVLOG_ACCEPT;

	acts = get(log, o, "actions", EVLOG_J_ARR);
	if (acts && acts->n) {
		p->actions = arena_alloc(log, acts->n * sizeof(*p->actions));
		if (!p->actions)
			return -ENOMEM;
		for (const struct evlog_jval *a = evlog_json_first(&log->j, acts); a;
		     a = evlog_json_next(&log->j, a)) {
			struct evlog_action *x = &p->actions[p->n_actions];

			if (a->type != EVLOG_J_OBJ)
				continue;
			x->rule = get_uint(log, a, "rule");
			x->action = get_str(log, a, "action");
			if (!x->action)
				return -ENOMEM;
			p->n_actions++;
		}
	}

	if (get_u64(log, o, "tcp_flow", &u)) {
		p->tcp = true;
		p->tcp_flow = u;
		get_u32(log, o, "seg", &p->seg);
		get_u32(log, o, "seq", &p->seq);
		get_u32(log, o, "ack", &p->ack);
		get_u32(log, o, "caused_by", &p->caused_by);
		p->endpoint = get_uint(log, o, "endpoint") ? 1 : 0;
		fl = get_str(log, o, "flags");
		p->sender_state = get_str(log, o, "sender_state");
		p->receiver_state = get_str(log, o, "receiver_state");
		if (!fl || !p->sender_state || !p->receiver_state)
			return -ENOMEM;
		p->flags = parse_flags(fl);
		p->classes = get_classes(log, o, "class");
	}
	log->n_pkts++;
	return 0;
}

static int add_release(struct evlog *log, const struct evlog_jval *o, struct evlog_error *err)
{
	struct rel *r;

	if (grow((void **)&log->rels, &log->cap_rels, log->n_rels, sizeof(*log->rels)))
		return -ENOMEM;
	r = &log->rels[log->n_rels];
	memset(r, 0, sizeof(*r));
	r->line = log->lines;
	if (!get_num(log, o, "t", &r->t))
		return bad_event(log, err, "release event without a valid \"t\"");
	if (!get_u64(log, o, "pkt", &r->pkt))
		return bad_event(log, err, "release event without a valid \"pkt\"");
	get_u64(log, o, "rel", &r->rel);
	r->early = get_bool(log, o, "early");
	log->n_rels++;
	return 0;
}

static int add_summary(struct evlog *log, const struct evlog_jval *o, struct evlog_summary *s)
{
	const struct evlog_jval *st = get(log, o, "state", EVLOG_J_ARR);
	int i = 0;

	if (!o)
		return 0;
	s->valid = true;
	for (const struct evlog_jval *v = evlog_json_first(&log->j, st); v && i < 2;
	     v = evlog_json_next(&log->j, v), i++) {
		s->state[i] = v->type == EVLOG_J_STR ? intern_n(log, v->str, v->n) : intern(log, "?");
		if (!s->state[i])
			return -ENOMEM;
	}
	s->segments = get_uint(log, o, "segments");
	s->retransmissions = get_uint(log, o, "retransmissions");
	s->retransmissions_faultline = get_uint(log, o, "retransmissions_faultline");
	s->out_of_order = get_uint(log, o, "out_of_order");
	s->out_of_order_faultline = get_uint(log, o, "out_of_order_faultline");
	s->dup_acks = get_uint(log, o, "dup_acks");
	s->dup_acks_faultline = get_uint(log, o, "dup_acks_faultline");
	return 0;
}

static int add_trk(struct evlog *log, const struct evlog_jval *o, enum evlog_trk_type type,
		   const char *name, struct evlog_error *err)
{
	struct evlog_trk *k;

	if (grow((void **)&log->trks, &log->cap_trks, log->n_trks, sizeof(*log->trks)))
		return -ENOMEM;
	k = &log->trks[log->n_trks];
	memset(k, 0, sizeof(*k));
	k->line = log->lines;
	k->type = type;
	if (!get_num(log, o, "t", &k->t))
		return bad_event(log, err, "%s event without a valid \"t\"", name);
	if (!get_u64(log, o, "flow", &k->flow))
		return bad_event(log, err, "%s event without a valid \"flow\"", name);
	k->conn = get_str(log, o, "conn");
	k->endpoint = get_uint(log, o, "endpoint") ? 1 : 0;
	k->old_state = get_str(log, o, "old");
	k->new_state = get_str(log, o, "new");
	k->reason = get_str(log, o, "reason");
	if (!k->conn || !k->old_state || !k->new_state || !k->reason)
		return -ENOMEM;
	if (type == EVLOG_TRK_TRANSITION && !*k->new_state)
		return bad_event(log, err, "transition event without \"new\"");
	get_u32(log, o, "seg", &k->seg);
	k->classes = get_classes(log, o, "class");
	get_u32(log, o, "caused_by", &k->caused_by);
	{
		const char *view = get_str(log, o, "view");

		if (!view)
			return -ENOMEM;
		k->egress = !strcmp(view, "egress");
	}
	if (add_summary(log, get(log, o, "summary", EVLOG_J_OBJ), &k->summary))
		return -ENOMEM;
	log->n_trks++;
	return 0;
}

int evlog_add_line(struct evlog *log, const char *line, size_t len, struct evlog_error *err)
{
	const struct evlog_jval *root, *ev;
	size_t i;
	int ret;

	log->lines++;
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
			break;
	if (i == len)
		return 0;
	ret = evlog_json_parse(&log->j, line, len);
	if (ret == -EBADMSG) {
		memset(err, 0, sizeof(*err));
		err->line = log->lines;
		err->col = (unsigned)log->j.err_off + 1;
		err->json = true;
		snprintf(err->msg, sizeof(err->msg), "%s", log->j.err);
		return ret;
	}
	if (ret)
		return ret;
	root = evlog_json_root(&log->j);
	if (root->type != EVLOG_J_OBJ)
		return bad_event(log, err, "not a JSON object");
	/* Lines from a newer faultline (or none at all) are skipped, not refused. */
	ev = get(log, root, "ev", EVLOG_J_STR);
	if (!ev)
		return 0;
	if (!strcmp(ev->str, "packet"))
		return add_packet(log, root, err);
	if (!strcmp(ev->str, "release"))
		return add_release(log, root, err);
	if (!strcmp(ev->str, "transition"))
		return add_trk(log, root, EVLOG_TRK_TRANSITION, "transition", err);
	if (!strcmp(ev->str, "flow-new"))
		return add_trk(log, root, EVLOG_TRK_FLOW_NEW, "flow-new", err);
	if (!strcmp(ev->str, "class"))
		return add_trk(log, root, EVLOG_TRK_CLASS, "class", err);
	if (!strcmp(ev->str, "flow-end"))
		return add_trk(log, root, EVLOG_TRK_FLOW_END, "flow-end", err);
	return 0;
}

/* ---- indexing --------------------------------------------------------------- */

/* Packet indices by (capture number, line); pkts is the array they index. */
static int cmp_pkt_num(const void *a, const void *b, void *pkts)
{
	const struct evlog_pkt *x = (struct evlog_pkt *)pkts + *(const size_t *)a;
	const struct evlog_pkt *y = (struct evlog_pkt *)pkts + *(const size_t *)b;

	if (x->pkt != y->pkt)
		return x->pkt < y->pkt ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Each release goes to the latest packet line with its number before it:
 * capture numbers restart if two runs were appended into one file.
 */
static void resolve_releases(struct evlog *log, const size_t *by_num)
{
	for (size_t r = 0; r < log->n_rels; r++) {
		const struct rel *rl = &log->rels[r];
		size_t lo = 0, hi = log->n_pkts;
		struct evlog_pkt *p = NULL;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (log->pkts[by_num[mid]].pkt < rl->pkt)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < log->n_pkts && log->pkts[by_num[lo]].pkt == rl->pkt; lo++)
			if (log->pkts[by_num[lo]].line < rl->line)
				p = &log->pkts[by_num[lo]];
		if (!p || p->verdict != EVLOG_HOLD || p->released)
			continue;
		p->released = true;
		p->rel_t = rl->t;
		p->rel_line = rl->line;
		p->rel = rl->rel;
		p->early = rl->early;
	}
}

struct flow_tmp {
	unsigned first_line;
	size_t final;		/* index after sorting */
};

static int flow_key(struct evlog *log, bool tcp, uint64_t tcp_flow, const struct evlog_pkt *p,
		    const char **key)
{
	char buf[64];

	if (tcp) {
		snprintf(buf, sizeof(buf), "tcp:%llu", (unsigned long long)tcp_flow);
		*key = intern(log, buf);
	} else {
		/* The hash joins both directions; the flow text is the fallback. */
		const char *k = *p->flow_hash ? p->flow_hash : p->flow;
		char *b = malloc(strlen(k) + 3);

		if (!b)
			return -ENOMEM;
		sprintf(b, "f:%s", k);
		*key = intern(log, b);
		free(b);
	}
	return *key ? 0 : -ENOMEM;
}

/* Flow indices: TCP connections by id, then the others by first line. */
static int cmp_flow(const void *a, const void *b, void *flows)
{
	const struct evlog_flow *x = (struct evlog_flow *)flows + *(const size_t *)a;
	const struct evlog_flow *y = (struct evlog_flow *)flows + *(const size_t *)b;

	if (x->tcp != y->tcp)
		return x->tcp ? -1 : 1;
	if (x->tcp && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	/* id holds the first line until non-TCP flows are numbered. */
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Group packets and tracker lines into flows, then order flows: TCP
 * connections by tracker id, the others by first appearance, numbered
 * after the largest TCP id so that one number names one flow.
 */
static int group_flows(struct evlog *log)
{
	size_t n = 0, cap = 0, *order = NULL, *fidx = NULL, *tidx = NULL, *remap = NULL;
	struct evlog_flow *flows = NULL, *sorted = NULL;
	struct smap map = { 0 };
	unsigned max_tcp = 0;
	int ret = -ENOMEM;

	fidx = calloc(log->n_pkts + 1, sizeof(*fidx));
	tidx = calloc(log->n_trks + 1, sizeof(*tidx));
	if (!fidx || !tidx)
		goto out;
	for (size_t k = 0; k < log->n_pkts + log->n_trks; k++) {
		bool is_pkt = k < log->n_pkts;
		const struct evlog_pkt *p = is_pkt ? &log->pkts[k] : NULL;
		const struct evlog_trk *t = is_pkt ? NULL : &log->trks[k - log->n_pkts];
		bool tcp = p ? p->tcp : true;
		const char *key;
		size_t slot, f;

		if (flow_key(log, tcp, p ? p->tcp_flow : t->flow, p, &key))
			goto out;
		if (map.n * 2 >= map.cap && smap_grow(&map))
			goto out;
		slot = smap_slot(&map, key, strlen(key));
		if (map.keys[slot]) {
			f = map.vals[slot];
		} else {
			if (grow((void **)&flows, &cap, n, sizeof(*flows)))
				goto out;
			f = n++;
			memset(&flows[f], 0, sizeof(flows[f]));
			flows[f].tcp = tcp;
			flows[f].end = -1;
			flows[f].id = UINT32_MAX;
			map.keys[slot] = key;
			map.vals[slot] = f;
			map.n++;
		}
		if (tcp) {
			uint64_t id = p ? p->tcp_flow : t->flow;

			flows[f].id = id > UINT32_MAX - 1 ? UINT32_MAX - 1 : (unsigned)id;
			if (flows[f].id > max_tcp)
				max_tcp = flows[f].id;
		} else if (p->line < flows[f].id) {
			flows[f].id = p->line;
		}
		if (p) {
			fidx[k] = f;
			flows[f].n_pkts++;
		} else {
			tidx[k - log->n_pkts] = f;
			flows[f].n_trks++;
		}
	}

	order = calloc(n + 1, sizeof(*order));
	remap = calloc(n + 1, sizeof(*remap));
	sorted = calloc(n + 1, sizeof(*sorted));
	if (!order || !remap || !sorted)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_flow, flows);
	for (size_t i = 0; i < n; i++) {
		sorted[i] = flows[order[i]];
		remap[order[i]] = i;
		if (!sorted[i].tcp)
			sorted[i].id = ++max_tcp;
		sorted[i].pkts = calloc(sorted[i].n_pkts + 1, sizeof(size_t));
		sorted[i].trks = calloc(sorted[i].n_trks + 1, sizeof(size_t));
		sorted[i].n_pkts = sorted[i].n_trks = 0;
	}
	log->flows = sorted;
	log->n_flows = n;
	sorted = NULL; /* the log's now: evlog_free frees what follows */
	for (size_t i = 0; i < n; i++)
		if (!log->flows[i].pkts || !log->flows[i].trks)
			goto out;
	for (size_t k = 0; k < log->n_pkts; k++) {
		struct evlog_flow *f = &log->flows[remap[fidx[k]]];

		log->pkts[k].flow_idx = remap[fidx[k]];
		log->pkts[k].flow_pos = f->n_pkts;
		f->pkts[f->n_pkts++] = k;
	}
	for (size_t k = 0; k < log->n_trks; k++) {
		struct evlog_flow *f = &log->flows[remap[tidx[k]]];

		f->trks[f->n_trks++] = k;
	}
	ret = 0;
out:
	free(sorted);
	free(flows);
	free(order);
	free(remap);
	free(fidx);
	free(tidx);
	smap_free(&map);
	return ret;
}

/* "udp 10.0.0.1:40000 > 10.0.0.2:5000" or "A > B": the two ends, interned. */
static int split_ends(struct evlog *log, const char *s, bool has_proto, const char **a,
		      const char **b)
{
	const char *gt;

	if (has_proto && strchr(s, ' '))
		s = strchr(s, ' ') + 1;
	gt = strstr(s, " > ");
	if (!gt) {
		*a = intern(log, s);
		*b = intern(log, "?");
	} else {
		*a = intern_n(log, s, (size_t)(gt - s));
		*b = intern(log, gt + 3);
	}
	return *a && *b ? 0 : -ENOMEM;
}

static int set_names(struct evlog *log, struct evlog_flow *f)
{
	const struct evlog_pkt *p0 = f->n_pkts ? &log->pkts[f->pkts[0]] : NULL;
	const char *conn = NULL;
	char *t;
	int ret;

	for (size_t i = 0; i < f->n_trks && !conn; i++)
		if (*log->trks[f->trks[i]].conn)
			conn = log->trks[f->trks[i]].conn;
	f->proto = intern(log, p0 ? p0->proto : "tcp");
	if (!f->proto)
		return -ENOMEM;
	if (conn) {
		ret = split_ends(log, conn, false, &f->name[0], &f->name[1]);
	} else if (p0) {
		const char **n = &f->name[f->tcp && p0->endpoint ? 1 : 0];
		const char **m = &f->name[f->tcp && p0->endpoint ? 0 : 1];

		ret = split_ends(log, p0->flow, true, n, m);
	} else {
		f->name[0] = f->name[1] = intern(log, "?");
		ret = f->name[0] ? 0 : -ENOMEM;
	}
	if (ret)
		return ret;
	f->first_way = p0 ? p0->way : 0;
	t = malloc(strlen(f->name[0]) + strlen(f->name[1]) + 4);
	if (!t)
		return -ENOMEM;
	sprintf(t, "%s > %s", f->name[0], f->name[1]);
	f->title = intern(log, t);
	free(t);
	return f->title ? 0 : -ENOMEM;
}

static size_t seglen(const struct evlog_pkt *p)
{
	return p->plen + !!(p->flags & EVLOG_SYN) + !!(p->flags & EVLOG_FIN);
}

struct seg_ix {
	uint32_t seg;
	size_t idx;
};

static int cmp_seg(const void *a, const void *b)
{
	const struct seg_ix *x = a, *y = b;

	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The first packet with TCP segment number seg in a flow's index, or -1. */
static long find_seg(const struct seg_ix *ix, size_t n, uint32_t seg)
{
	size_t lo = 0, hi = n;

	if (!seg)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix[mid].seg < seg)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ix[lo].seg == seg ? (long)ix[lo].idx : -1;
}

/* How far back to look for the segment a retransmission resends. */
#define ORIG_SCAN_MAX 65536

/*
 * The segment a retransmission resends: walking back from it, the latest
 * one from the same side whose sequence space holds its first byte and
 * that is not itself a retransmission (else the earliest such one seen).
 * Bounded, so a long flow full of retransmissions stays linear.
 */
static long original_of(const struct evlog *log, const struct evlog_flow *f, size_t pos)
{
	const uint32_t retrans = TRACK_C_RETRANSMISSION | TRACK_C_FAST_RETRANSMISSION |
				 TRACK_C_SPURIOUS_RETRANSMISSION;
	const struct evlog_pkt *p = &log->pkts[f->pkts[pos]];
	long found = -1;

	for (size_t i = pos, steps = 0; i-- > 0 && steps < ORIG_SCAN_MAX; steps++) {
		const struct evlog_pkt *q = &log->pkts[f->pkts[i]];

		if (q->from != p->from || !seglen(q) || (uint32_t)(p->seq - q->seq) >= seglen(q))
			continue;
		found = (long)f->pkts[i];
		if (!(q->classes & retrans))
			break;
	}
	return found;
}

struct leave {
	unsigned line;		/* the line that let it go: its packet or its release */
	size_t idx;
};

static int cmp_leave(const void *a, const void *b)
{
	const struct leave *x = a, *y = b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/* Rank each direction's packets by when they left: the order the receiver got them. */
static int rank_arrivals(struct evlog *log, struct evlog_flow *f)
{
	struct leave *lv = calloc(f->n_pkts + 1, sizeof(*lv));
	size_t n = 0;

	if (!lv)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_pkts; i++) {
		const struct evlog_pkt *p = &log->pkts[f->pkts[i]];

		if (p->verdict == EVLOG_ACCEPT)
			lv[n++] = (struct leave){ p->line, f->pkts[i] };
		else if (p->verdict == EVLOG_HOLD && p->released)
			lv[n++] = (struct leave){ p->rel_line, f->pkts[i] };
	}
	qsort(lv, n, sizeof(*lv), cmp_leave);
	for (size_t i = 0; i < n; i++) {
		struct evlog_pkt *p = &log->pkts[lv[i].idx];

		p->recv_pos = ++f->arrived[p->from];
	}
	free(lv);
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct evlog_row *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int lay_out(struct evlog *log, struct evlog_flow *f)
{
	long *send_row;
	size_t n = 0;

	f->rows = calloc(2 * f->n_pkts + f->n_trks + 1, sizeof(*f->rows));
	send_row = calloc(f->n_pkts + 1, sizeof(*send_row));
	if (!f->rows || !send_row) {
		free(send_row);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->n_pkts; i++) {
		const struct evlog_pkt *p = &log->pkts[f->pkts[i]];

		f->rows[n++] = (struct evlog_row){ EVLOG_ROW_SEND, p->t, p->line, f->pkts[i], -1 };
		if (p->released)
			f->rows[n++] = (struct evlog_row){ EVLOG_ROW_RELEASE, p->rel_t, p->rel_line,
							   f->pkts[i], -1 };
	}
	for (size_t i = 0; i < f->n_trks; i++) {
		const struct evlog_trk *k = &log->trks[f->trks[i]];

		if (k->type == EVLOG_TRK_TRANSITION)
			f->rows[n++] = (struct evlog_row){ EVLOG_ROW_STATE, k->t, k->line, f->trks[i],
							   -1 };
	}
	/* File order is already time order; the sort only guards merged files. */
	qsort(f->rows, n, sizeof(*f->rows), cmp_row);
	f->n_rows = n;
	/*
	 * A release follows its capture, so one pass pairs them (send_row
	 * holds row + 1; 0 is "not seen", which only a file with times out
	 * of order could give).
	 */
	for (size_t r = 0; r < n; r++) {
		struct evlog_row *row = &f->rows[r];
		size_t pos;

		if (row->kind == EVLOG_ROW_STATE)
			continue;
		pos = log->pkts[row->idx].flow_pos;
		if (row->kind == EVLOG_ROW_SEND) {
			send_row[pos] = (long)r + 1;
		} else if (send_row[pos]) {
			row->pair = send_row[pos] - 1;
			f->rows[row->pair].pair = (long)r;
		}
	}
	free(send_row);
	return 0;
}

static int index_flow(struct evlog *log, struct evlog_flow *f)
{
	const uint32_t retrans = TRACK_C_RETRANSMISSION | TRACK_C_FAST_RETRANSMISSION |
				 TRACK_C_SPURIOUS_RETRANSMISSION;
	struct seg_ix *ix;
	int ret = set_names(log, f);

	if (ret)
		return ret;
	for (size_t i = 0; i < f->n_pkts; i++) {
		struct evlog_pkt *p = &log->pkts[f->pkts[i]];

		p->from = f->tcp ? p->endpoint : p->way != f->first_way;
		p->cause = p->egress_cause = -1;
		f->sent[p->from]++;
		f->dropped += p->verdict == EVLOG_DROP;
		f->held += p->verdict == EVLOG_HOLD;
		f->copies += p->copies;
		f->corrupted += p->corrupt;
		if (!f->tcp)
			continue;
		if (p->classes & retrans) {
			f->retrans++;
			f->retrans_faultline += !!p->caused_by;
		}
		f->dup_acks += !!(p->classes & TRACK_C_DUP_ACK);
	}
	/*
	 * Relative numbers count from each side's SYN, as Wireshark's do;
	 * a connection picked up mid-stream counts from its first seq - 1, so
	 * that the first byte seen is byte 1.
	 */
	for (int e = 0; f->tcp && e < 2; e++) {
		for (size_t i = 0; i < f->n_pkts && !f->has_isn[e]; i++) {
			const struct evlog_pkt *p = &log->pkts[f->pkts[i]];

			if (p->from == (unsigned)e && p->flags & EVLOG_SYN) {
				f->isn[e] = p->seq;
				f->has_isn[e] = true;
			}
		}
		for (size_t i = 0; i < f->n_pkts && !f->has_isn[e]; i++) {
			const struct evlog_pkt *p = &log->pkts[f->pkts[i]];

			if (p->from == (unsigned)e) {
				f->isn[e] = p->seq - 1;
				f->has_isn[e] = true;
			}
		}
	}
	/* Segment numbers grow in file order, but a merged file may break that: sort. */
	ix = calloc(f->n_pkts + 1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_pkts; i++)
		ix[i] = (struct seg_ix){ log->pkts[f->pkts[i]].seg, f->pkts[i] };
	qsort(ix, f->n_pkts, sizeof(*ix), cmp_seg);
	for (size_t i = 0; i < f->n_trks; i++) {
		const struct evlog_trk *k = &log->trks[f->trks[i]];
		long q;

		switch (k->type) {
		case EVLOG_TRK_TRANSITION:
			if (!f->first_state[k->endpoint])
				f->first_state[k->endpoint] = *k->old_state ? k->old_state : NULL;
			f->last_state[k->endpoint] = k->new_state;
			break;
		case EVLOG_TRK_CLASS:
			if (!k->egress)
				break;
			q = f->tcp ? find_seg(ix, f->n_pkts, k->seg) : -1;
			if (q < 0)
				break;
			log->pkts[q].egress_classes |= k->classes;
			if (k->caused_by)
				log->pkts[q].egress_caused_by = k->caused_by;
			break;
		case EVLOG_TRK_FLOW_END:
			f->end = (long)f->trks[i];
			for (int e = 0; e < 2; e++)
				if (!f->last_state[e] && k->summary.state[e])
					f->last_state[e] = k->summary.state[e];
			break;
		case EVLOG_TRK_FLOW_NEW:
			break;
		}
	}
	for (size_t i = 0; i < f->n_pkts; i++) {
		struct evlog_pkt *p = &log->pkts[f->pkts[i]];

		p->orig = -1;
		if (!f->tcp)
			continue;
		p->cause = find_seg(ix, f->n_pkts, p->caused_by);
		p->egress_cause = find_seg(ix, f->n_pkts, p->egress_caused_by);
		if (p->classes & retrans)
			p->orig = original_of(log, f, i);
		f->out_of_order += !!((p->classes | p->egress_classes) & TRACK_C_OUT_OF_ORDER);
	}
	free(ix);
	ret = rank_arrivals(log, f);
	return ret ? ret : lay_out(log, f);
}

int evlog_finish(struct evlog *log)
{
	size_t *by_num;
	int ret;

	if (log->finished)
		return 0;
	by_num = calloc(log->n_pkts + 1, sizeof(*by_num));
	if (!by_num)
		return -ENOMEM;
	for (size_t i = 0; i < log->n_pkts; i++)
		by_num[i] = i;
	qsort_r(by_num, log->n_pkts, sizeof(*by_num), cmp_pkt_num, log->pkts);
	resolve_releases(log, by_num);
	free(by_num);
	ret = group_flows(log);
	for (size_t i = 0; !ret && i < log->n_flows; i++)
		ret = index_flow(log, &log->flows[i]);
	if (!ret)
		log->finished = true;
	return ret;
}

size_t evlog_n_pkts(const struct evlog *log)
{
	return log->n_pkts;
}

size_t evlog_n_trks(const struct evlog *log)
{
	return log->n_trks;
}

size_t evlog_n_flows(const struct evlog *log)
{
	return log->n_flows;
}

size_t evlog_n_lines(const struct evlog *log)
{
	return log->lines;
}

const struct evlog_pkt *evlog_pkt(const struct evlog *log, size_t i)
{
	return i < log->n_pkts ? &log->pkts[i] : NULL;
}

const struct evlog_trk *evlog_trk(const struct evlog *log, size_t i)
{
	return i < log->n_trks ? &log->trks[i] : NULL;
}

const struct evlog_flow *evlog_flow(const struct evlog *log, size_t i)
{
	return i < log->n_flows ? &log->flows[i] : NULL;
}

const struct evlog_flow *evlog_flow_by_id(const struct evlog *log, unsigned id)
{
	for (size_t i = 0; i < log->n_flows; i++)
		if (log->flows[i].id == id)
			return &log->flows[i];
	return NULL;
}

/* ---- text for the renderers ---------------------------------------------------- */

size_t evlog_pkt_label(const struct evlog *log, const struct evlog_pkt *p, size_t max, char *buf,
		       size_t size)
{
	const struct evlog_flow *f = &log->flows[p->flow_idx];
	char head[48], ack[24] = "";
	const char *name;
	uint32_t seq, rack;
	size_t n;

	if (!size)
		return 0;
	if (!p->tcp) {
		snprintf(buf, size, "%s len=%u", *p->proto ? p->proto : "packet", p->plen);
		goto cut;
	}
	/* uint32_t arithmetic: sequence numbers wrap, and so do their differences. */
	seq = p->seq - (f->has_isn[p->from] ? f->isn[p->from] : 0);
	rack = p->ack - (f->has_isn[!p->from] ? f->isn[!p->from] : 0);
	if (p->flags & EVLOG_RST)
		name = p->flags & EVLOG_ACK ? "RST+ACK" : "RST";
	else if (p->flags & EVLOG_SYN)
		name = p->flags & EVLOG_ACK ? "SYN+ACK" : "SYN";
	else if (p->flags & EVLOG_FIN)
		name = p->plen ? "FIN+data" : "FIN";
	else if (p->plen)
		name = "data";
	else if (p->flags & EVLOG_ACK)
		name = "ACK";
	else
		name = "segment";
	if (!strcmp(name, "ACK"))
		snprintf(head, sizeof(head), "ACK");
	else if (p->plen)
		snprintf(head, sizeof(head), "%s seq=%u len=%u", name, seq, p->plen);
	else
		snprintf(head, sizeof(head), "%s seq=%u", name, seq);
	if (p->flags & EVLOG_ACK && !(p->flags & EVLOG_RST && !p->ack))
		snprintf(ack, sizeof(ack), " ack=%u", rack);
	/* A narrow column loses the ack first: the head says what the segment is. */
	if (strlen(head) + strlen(ack) > max && strcmp(name, "ACK"))
		ack[0] = '\0';
	snprintf(buf, size, "%s%s", head, ack);
cut:
	n = strlen(buf);
	if (n > max) {
		buf[max] = '\0';
		n = max;
	}
	return n;
}

int evlog_pkt_rule(const struct evlog_pkt *p, const char *what)
{
	for (unsigned i = 0; i < p->n_actions; i++)
		if (!what || !strcmp(p->actions[i].action, what))
			return (int)p->actions[i].rule;
	return -1;
}

size_t evlog_pkt_ident(const struct evlog_pkt *p, char *buf, size_t size)
{
	int n;

	if (p->tcp)
		n = snprintf(buf, size, "seg %u", p->seg);
	else
		n = snprintf(buf, size, "#%llu", (unsigned long long)p->ord);
	return n < 0 ? 0 : (size_t)n;
}

/* What faultline did to a packet, as a past participle. */
static const char *fate(const struct evlog_pkt *q)
{
	if (q->verdict == EVLOG_DROP)
		return "dropped";
	if (q->verdict != EVLOG_HOLD)
		return "passed";
	if (evlog_pkt_rule(q, "delay") >= 0)
		return "delayed";
	if (q->reorder)
		return "reordered";
	if (evlog_pkt_rule(q, "rate") >= 0)
		return "rate-queued";
	return "held";
}

__attribute__((format(printf, 2, 3)))
static void note(struct evlog_notes *o, const char *fmt, ...)
{
	va_list ap;

	if (o->n >= EVLOG_NOTES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(o->s[o->n++], EVLOG_NOTE_LEN, fmt, ap);
	va_end(ap);
}

/* Class names worth a note: those the arrow label does not already say. */
static void class_list(uint32_t classes, char *buf, size_t size)
{
	const uint32_t said = TRACK_C_HANDSHAKE | TRACK_C_SYN | TRACK_C_SYN_ACK | TRACK_C_FIN |
			      TRACK_C_RST | TRACK_C_NEW_DATA | TRACK_C_PURE_ACK |
			      TRACK_C_FIRST_DATA | TRACK_C_RETRANSMISSION |
			      TRACK_C_FAST_RETRANSMISSION | TRACK_C_SPURIOUS_RETRANSMISSION;
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < TRACK_C__COUNT; i++) {
		uint32_t bit = 1u << i;
		int w;

		if (!(classes & bit) || (said & bit))
			continue;
		w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", track_class_name(bit));
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
}

static void arrival_notes(const struct evlog *log, const struct evlog_pkt *p,
			  struct evlog_notes *o)
{
	uint32_t fresh = p->egress_classes & ~p->classes;
	char list[EVLOG_NOTE_LEN];

	if (p->copies)
		note(o, "+%u cop%s", p->copies, p->copies == 1 ? "y" : "ies");
	class_list(fresh, list, sizeof(list) - 40);
	if (!list[0])
		return;
	if (p->egress_cause >= 0)
		note(o, "at receiver: %s (seg %u %s)", list, p->egress_caused_by,
		     fate(&log->pkts[p->egress_cause]));
	else
		note(o, "at receiver: %s", list);
}

void evlog_pkt_notes(const struct evlog *log, const struct evlog_pkt *p, enum evlog_row_kind row,
		     struct evlog_notes *o)
{
	bool held = p->verdict == EVLOG_HOLD;
	char list[EVLOG_NOTE_LEN];
	int r;

	o->n = 0;
	if (row == EVLOG_ROW_RELEASE) {
		double ms = (p->rel_t - p->t) * 1e3;

		note(o, "%s %.1f ms%s", evlog_pkt_rule(p, "delay") >= 0 ? "delayed" : "held", ms,
		     p->early ? " (released early)" : "");
		if (p->reorder || (p->recv_pos && p->recv_pos != p->ord))
			note(o, "sent #%llu, released #%u", (unsigned long long)p->ord, p->recv_pos);
		arrival_notes(log, p, o);
		return;
	}
	if (row != EVLOG_ROW_SEND)
		return;
	if (p->verdict == EVLOG_DROP) {
		if ((r = evlog_pkt_rule(p, "drop")) >= 0)
			note(o, "DROPPED by rule %d", r);
		else if ((r = evlog_pkt_rule(p, "rate")) >= 0)
			note(o, "DROPPED by rule %d (rate queue full)", r);
		else if ((r = evlog_pkt_rule(p, NULL)) >= 0)
			note(o, "DROPPED by rule %d", r);
		else
			note(o, "DROPPED");
	} else if (held) {
		if ((r = evlog_pkt_rule(p, "delay")) >= 0)
			note(o, "held: delay %.1f ms (rule %d)", p->delay_us / 1e3, r);
		if ((r = evlog_pkt_rule(p, "reorder")) >= 0 || p->reorder)
			note(o, r >= 0 ? "held for reorder (rule %d)" : "held for reorder", r);
		if ((r = evlog_pkt_rule(p, "rate")) >= 0)
			note(o, "queued by rate limit (rule %d)", r);
		if (!p->released)
			note(o, "never released");
	}
	if (p->corrupt)
		note(o, "corrupted (rule %d)", evlog_pkt_rule(p, "corrupt"));
	if (p->tcp && p->classes & (TRACK_C_RETRANSMISSION | TRACK_C_FAST_RETRANSMISSION |
				    TRACK_C_SPURIOUS_RETRANSMISSION)) {
		const char *kind = p->classes & TRACK_C_SPURIOUS_RETRANSMISSION ? "spurious retransmission" :
				   p->classes & TRACK_C_FAST_RETRANSMISSION ? "fast retransmission" :
									    "retransmission";
		long orig = p->orig;

		/*
		 * caused_by names what faultline did, which is not always the
		 * segment being resent: a lost final ACK makes the peer resend
		 * its FIN.
		 */
		if (orig >= 0 && orig == p->cause)
			note(o, "%s of seg %u (%s)", kind, log->pkts[orig].seg, fate(&log->pkts[orig]));
		else if (orig >= 0)
			note(o, "%s of seg %u", kind, log->pkts[orig].seg);
		else
			note(o, "%s", kind);
		if (p->cause >= 0 && orig != p->cause)
			note(o, "caused by seg %u (%s)", p->caused_by, fate(&log->pkts[p->cause]));
		else if (p->caused_by && p->cause < 0)
			note(o, "caused by seg %u", p->caused_by);
	}
	class_list(p->classes, list, sizeof(list));
	if (list[0])
		note(o, "%s", list);
	if (!held)
		arrival_notes(log, p, o);
	if (p->gso)
		note(o, "GSO super-packet");
}
