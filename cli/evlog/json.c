// SPDX-License-Identifier: MIT
/*
 * evlog json: one JSON value (RFC 8259) parsed into a flat array of nodes
 * linked by index, with decoded strings in one buffer as long as the text.
 * Both buffers are reused from line to line, so reading a file costs no
 * allocation per line once they have grown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

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
 * The four hex digits after "\u" (jp->p on the first), and the low half
 * when they are a high surrogate, to UTF-8. A lone surrogate is legal
 * JSON but not a character: it becomes U+FFFD, as browsers decode it.
 */
static int parse_u_escape(struct jp *jp)
{
	unsigned cp, lo;
	int ret = hex4(jp, &cp);

	if (ret)
		return ret;
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
	return 0;
}

/* One escape (jp->p on the backslash, at least two bytes left), decoded. */
static int parse_escape(struct jp *jp)
{
	static const char simple[256] = {
		['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
		['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
	};
	unsigned char c;

	jp->p++;
	c = (unsigned char)*jp->p++;
	if (c == 'u')
		return parse_u_escape(jp);
	if (!simple[c]) {
		jp->p--;
		return jerr(jp, "bad escape in string");
	}
	*jp->out++ = simple[c];
	return 0;
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
		int ret;

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
		ret = parse_escape(jp);
		if (ret)
			return ret;
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
