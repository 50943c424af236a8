// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "filter.h"
#include "hot.h"
#include "rule.h"
#include "strbuf.h"
#include "tcpstate.h"

#define NS_PER_MS 1000000ull
#define DEFAULT_REORDER_TIMEOUT_NS (100 * NS_PER_MS)
#define DEFAULT_RATE_LIMIT 1000u
#define MAX_REORDER 1024u
#define MAX_COPIES 16u
/* 1% in parts per million; a probability has at most 4 decimals. */
#define PPM_PER_PERCENT 10000u
#define PERCENT_DECIMALS 4

/* User text quoted in a message: at most this many bytes, then "...". */
#define SHOWN_MAX 60

#define ACTION_LIST "drop, delay, reorder, duplicate, corrupt, rate, accept"
#define QUALIFIER_LIST "in, out, fwd, every, first, count, after, for, if"
#define COND_LIST                                                              \
	"syn, syn-ack, fin, rst, ack-only, data, state S, peer-state S, "     \
	"first-data, retransmission, out-of-order, dup-ack, stale"

struct rule_set {
	struct rule **rules;	/* pointers, so rule_set_get stays valid */
	size_t n, cap;
};

static const char *const action_names[RULE_ACT__COUNT] = {
	[RULE_ACT_ACCEPT] = "accept",
	[RULE_ACT_DROP] = "drop",
	[RULE_ACT_DELAY] = "delay",
	[RULE_ACT_REORDER] = "reorder",
	[RULE_ACT_DUPLICATE] = "duplicate",
	[RULE_ACT_CORRUPT] = "corrupt",
	[RULE_ACT_RATE] = "rate",
};

/* What may follow each action's own arguments, for error messages. */
static const char *const action_options[RULE_ACT__COUNT] = {
	[RULE_ACT_ACCEPT] = "P%, 'if' or ','",
	[RULE_ACT_DROP] = "P%, 'if' or ','",
	[RULE_ACT_DELAY] = "jitter, distribution, P%, 'if' or ','",
	[RULE_ACT_REORDER] = "timeout, P%, 'if' or ','",
	[RULE_ACT_DUPLICATE] = "COPIES, P%, 'if' or ','",
	[RULE_ACT_CORRUPT] = "P%, 'if' or ','",
	[RULE_ACT_RATE] = "limit, P%, 'if' or ','",
};

static const char *const cond_names[RULE_COND__COUNT] = {
	[RULE_COND_SYN] = "syn",
	[RULE_COND_SYN_ACK] = "syn-ack",
	[RULE_COND_FIN] = "fin",
	[RULE_COND_RST] = "rst",
	[RULE_COND_ACK_ONLY] = "ack-only",
	[RULE_COND_DATA] = "data",
	[RULE_COND_STATE] = "state",
	[RULE_COND_PEER_STATE] = "peer-state",
	[RULE_COND_FIRST_DATA] = "first-data",
	[RULE_COND_RETRANSMISSION] = "retransmission",
	[RULE_COND_OUT_OF_ORDER] = "out-of-order",
	[RULE_COND_DUP_ACK] = "dup-ack",
	[RULE_COND_STALE] = "stale",
};

static const char *const dist_names[] = {
	[RULE_DIST_UNIFORM] = "uniform",
	[RULE_DIST_NORMAL] = "normal",
	[RULE_DIST_PARETO] = "pareto",
};

static const char *const dir_names[] = {
	[PKT_DIR_IN] = "in",
	[PKT_DIR_OUT] = "out",
	[PKT_DIR_FWD] = "fwd",
};

struct unit {
	const char *name;
	uint64_t mult;
};

/* Printing takes the first unit that divides exactly, so largest first. */
static const struct unit duration_units[] = {
	{ "m", 60000000000ull },
	{ "s", 1000000000ull },
	{ "ms", 1000000ull },
	{ "us", 1000ull },
	{ "ns", 1ull },
};

/*
 * tc's rate units (tc/tc_util.c): SI and IEC multiples of bit/s, and
 * "bps" meaning bytes per second. The decimal bit units come first so the
 * printer prefers them.
 */
static const struct unit rate_units[] = {
	{ "tbit", 1000000000000ull },
	{ "gbit", 1000000000ull },
	{ "mbit", 1000000ull },
	{ "kbit", 1000ull },
	{ "bit", 1ull },
	{ "tibit", 1099511627776ull },
	{ "gibit", 1073741824ull },
	{ "mibit", 1048576ull },
	{ "kibit", 1024ull },
	{ "tbps", 8000000000000ull },
	{ "gbps", 8000000000ull },
	{ "mbps", 8000000ull },
	{ "kbps", 8000ull },
	{ "bps", 8ull },
	{ "tibps", 8796093022208ull },
	{ "gibps", 8589934592ull },
	{ "mibps", 8388608ull },
	{ "kibps", 8192ull },
	{ "", 1ull },	/* a plain number is bit/s, as in tc */
};
#define N_PRINT_RATE_UNITS 5

const char *rule_action_name(enum rule_action_type t)
{
	if ((unsigned)t >= RULE_ACT__COUNT)
		return "?";
	return action_names[t];
}

const char *rule_cond_name(enum rule_cond_type t)
{
	if ((unsigned)t >= RULE_COND__COUNT)
		return "?";
	return cond_names[t];
}

/* ---- numbers ---------------------------------------------------------- */

/*
 * A decimal number "123" or "1.25" at s, as mantissa / 10^frac with
 * trailing fraction zeros dropped. *rest points past the digits (the unit).
 * Returns 0, -EINVAL if s does not start with a digit or has a dangling
 * '.', -ERANGE if the digits do not fit in 64 bits.
 */
static int parse_decimal(const char *s, uint64_t *mant, unsigned *frac, const char **rest)
{
	uint64_t m = 0;
	unsigned f = 0;
	bool dot = false;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (;; s++) {
		if (*s == '.' && !dot) {
			dot = true;
			if (!isdigit((unsigned char)s[1]))
				return -EINVAL;
			continue;
		}
		if (!isdigit((unsigned char)*s))
			break;
		if (__builtin_mul_overflow(m, 10, &m) ||
		    __builtin_add_overflow(m, (uint64_t)(*s - '0'), &m))
			return -ERANGE;
		if (dot)
			f++;
	}
	while (f > 0 && m % 10 == 0) {
		m /= 10;
		f--;
	}
	*mant = m;
	*frac = f;
	*rest = s;
	return 0;
}

/*
 * mant / 10^frac * mult as an exact integer. Returns 0, -ERANGE on
 * overflow, -EDOM if the result is not whole.
 */
static int scale_exact(uint64_t mant, unsigned frac, uint64_t mult, uint64_t *out)
{
	unsigned __int128 v = (unsigned __int128)mant * mult;
	unsigned __int128 div = 1;

	/* 10^39 > 2^128: beyond that no mantissa can be a whole number. */
	if (frac > 38)
		return mant ? -EDOM : 0;
	for (unsigned i = 0; i < frac; i++)
		div *= 10;
	if (v % div)
		return -EDOM;
	v /= div;
	if (v > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

/* Digits only, no sign, 0..max. Returns 0, -EINVAL or -ERANGE. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v) || v > max)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static const struct unit *find_unit(const struct unit *units, size_t n, const char *name,
				    bool icase)
{
	for (size_t i = 0; i < n; i++) {
		if (icase ? !strcasecmp(units[i].name, name) : !strcmp(units[i].name, name))
			return &units[i];
	}
	return NULL;
}

/* Fills why (for "bad duration 'X': why") and returns -EINVAL. */
static int duration_why(const char *s, uint64_t *ns, const char **why)
{
	const struct unit *u;
	const char *rest;
	uint64_t mant;
	unsigned frac;
	int ret;

	if (*s == '-') {
		*why = "negative";
		return -EINVAL;
	}
	ret = parse_decimal(s, &mant, &frac, &rest);
	if (ret == -ERANGE) {
		*why = "too large";
		return -EINVAL;
	}
	if (ret < 0) {
		*why = "expected a number with a unit, e.g. 50ms or 1.5s";
		return -EINVAL;
	}
	if (!*rest) {
		*why = "missing unit (ns, us, ms, s or m)";
		return -EINVAL;
	}
	u = find_unit(duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
		      rest, false);
	if (!u) {
		*why = "unknown unit (expected ns, us, ms, s or m)";
		return -EINVAL;
	}
	ret = scale_exact(mant, frac, u->mult, ns);
	if (ret == -ERANGE) {
		*why = "too large";
		return -EINVAL;
	}
	if (ret < 0) {
		*why = "not a whole number of nanoseconds";
		return -EINVAL;
	}
	return 0;
}

int rule_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	const char *dummy;

	return duration_why(s, ns, why ? why : &dummy);
}

static int rate_why(const char *s, uint64_t *bps, const char **why)
{
	const struct unit *u;
	const char *rest;
	uint64_t mant;
	unsigned frac;
	int ret;

	if (*s == '-') {
		*why = "negative";
		return -EINVAL;
	}
	ret = parse_decimal(s, &mant, &frac, &rest);
	if (ret == -ERANGE) {
		*why = "too large";
		return -EINVAL;
	}
	if (ret < 0) {
		*why = "expected e.g. 100kbit, 1mbit or 1mbps";
		return -EINVAL;
	}
	u = find_unit(rate_units, sizeof(rate_units) / sizeof(rate_units[0]), rest, true);
	if (!u) {
		*why = "unknown unit (expected bit, kbit, mbit, gbit, tbit, or bps, kbps, mbps, gbps, tbps for bytes)";
		return -EINVAL;
	}
	ret = scale_exact(mant, frac, u->mult, bps);
	if (ret == -ERANGE) {
		*why = "too large";
		return -EINVAL;
	}
	if (ret < 0) {
		*why = "not a whole number of bit/s";
		return -EINVAL;
	}
	if (*bps == 0) {
		*why = "must be greater than 0";
		return -EINVAL;
	}
	return 0;
}

static int percent_why(const char *s, uint32_t *ppm, const char **why)
{
	const char *rest;
	uint64_t mant, v;
	unsigned frac;

	if (parse_decimal(s, &mant, &frac, &rest) < 0 || strcmp(rest, "%")) {
		*why = "expected e.g. 30% or 0.5%";
		return -EINVAL;
	}
	if (frac > PERCENT_DECIMALS) {
		*why = "at most 4 decimals (resolution 0.0001%)";
		return -EINVAL;
	}
	if (scale_exact(mant, frac, PPM_PER_PERCENT, &v) < 0 || v > RULE_PPM_ALWAYS) {
		*why = "must be at most 100%";
		return -EINVAL;
	}
	if (v == 0) {
		*why = "must be greater than 0%";
		return -EINVAL;
	}
	*ppm = (uint32_t)v;
	return 0;
}

/* ---- tokens and the parser -------------------------------------------- */

enum tok_type {
	TOK_END = 0,
	TOK_WORD,
	TOK_COMMA,
};

struct tok {
	enum tok_type type;
	const char *s;	/* NUL-terminated, inside parser.buf */
	int col;	/* 1-based byte column in the original line */
};

struct parser {
	struct rule *r;
	struct rule_error *err;
	char *buf;		/* copy of the line, words NUL-terminated in place */
	struct tok *toks;	/* always ends with TOK_END */
	size_t pos;
	int arrow_col;
	int eol_col;		/* one past the last character before any comment */

	/* Which qualifier already appeared, for "given twice". */
	bool seen_every, seen_first, seen_after, seen_for;
	const char *first_word;	/* 'first' or 'count', as the user wrote it */

	char shown[SHOWN_MAX + 4];	/* see shown() */
};

/*
 * The user's text s as quoted in an error message: whole if short, else its
 * first SHOWN_MAX bytes and "...". A message quotes at most one such text,
 * so one buffer is enough; the column already points at the whole of it, and
 * the reason after it must never be the part that is cut.
 */
static const char *shown(struct parser *p, const char *s)
{
	size_t n = strlen(s);

	if (n <= SHOWN_MAX + 3)
		return s;
	n = SHOWN_MAX;
	/* Do not split a UTF-8 sequence: back up over continuation bytes. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(p->shown, s, n);
	memcpy(p->shown + n, "...", 4);
	return p->shown;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, int col, const char *fmt, ...)
{
	va_list ap;
	int n;

	p->err->col = col;
	va_start(ap, fmt);
	n = vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	/* Cannot happen with shown() quotes; if it does, it is not silent. */
	if (n >= (int)sizeof(p->err->msg))
		memcpy(p->err->msg + sizeof(p->err->msg) - 4, "...", 4);
	return -EINVAL;
}

static const struct tok *peek(const struct parser *p)
{
	return &p->toks[p->pos];
}

static const struct tok *next(struct parser *p)
{
	const struct tok *t = &p->toks[p->pos];

	/* TOK_END is sticky so callers need not check before advancing. */
	if (t->type != TOK_END)
		p->pos++;
	return t;
}

/* The word ends an item's own arguments: ',', end or an 'if' clause. */
static bool ends_args(const struct tok *t)
{
	return t->type != TOK_WORD || !strcmp(t->s, "if");
}

static bool ends_with_percent(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '%';
}

/*
 * Split [from, to) of p->buf into words and commas. Words are cut at
 * whitespace and commas, which are overwritten with NULs.
 */
static int tokenize(struct parser *p, size_t from, size_t to)
{
	size_t n = 0;
	char *s = p->buf;

	/* Every token takes at least one byte, plus the final TOK_END. */
	p->toks = calloc(to - from + 1, sizeof(*p->toks));
	if (!p->toks)
		return -ENOMEM;
	for (size_t i = from; i < to;) {
		if (isspace((unsigned char)s[i])) {
			s[i++] = '\0';
		} else if (s[i] == ',') {
			p->toks[n++] = (struct tok){ TOK_COMMA, ",", (int)i + 1 };
			s[i++] = '\0';
		} else {
			p->toks[n++] = (struct tok){ TOK_WORD, &s[i], (int)i + 1 };
			while (i < to && s[i] != ',' && !isspace((unsigned char)s[i]))
				i++;
		}
	}
	s[to] = '\0';
	p->toks[n] = (struct tok){ TOK_END, "", p->eol_col };
	return 0;
}

static int expect_duration(struct parser *p, const struct tok *kw, const char *what,
			   uint64_t *ns)
{
	const struct tok *t = peek(p);
	const char *why;

	if (ends_args(t) || ends_with_percent(t->s))
		return fail(p, kw->col, "'%s' needs a %s, e.g. 50ms", kw->s, what);
	next(p);
	if (duration_why(t->s, ns, &why) < 0)
		return fail(p, t->col, "bad duration '%s' after '%s': %s", shown(p, t->s), kw->s,
			    why);
	return 0;
}

static int expect_uint(struct parser *p, const struct tok *kw, uint64_t min, uint64_t max,
		       uint64_t *out)
{
	const struct tok *t = peek(p);
	int ret;

	if (ends_args(t) || ends_with_percent(t->s))
		return fail(p, kw->col, "'%s' needs a number (%llu to %llu)", kw->s,
			    (unsigned long long)min, (unsigned long long)max);
	next(p);
	ret = parse_uint(t->s, max, out);
	if (ret == -EINVAL)
		return fail(p, t->col, "'%s' needs a number, got '%s'", kw->s, shown(p, t->s));
	if (ret < 0 || *out < min)
		return fail(p, t->col, "'%s %s' out of range (%llu to %llu)", kw->s, shown(p, t->s),
			    (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int parse_state(struct parser *p, const struct tok *kw, uint8_t *state)
{
	char names[256];
	const struct tok *t = peek(p);
	size_t len = 0;
	int s;

	if (t->type != TOK_WORD) {
		s = -1;
	} else {
		next(p);
		s = tcpstate_parse(t->s);
		if (s >= 0) {
			*state = (uint8_t)s;
			return 0;
		}
	}
	names[0] = '\0';
	for (int i = 0; i < TCPSTATE__COUNT && len < sizeof(names); i++)
		len += snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
				tcpstate_name(i));
	if (t->type != TOK_WORD)
		return fail(p, kw->col, "'%s' needs a TCP state (%s)", kw->s, names);
	return fail(p, t->col, "unknown TCP state '%s' (expected %s)", shown(p, t->s), names);
}

/* After 'if' (given as kw): COND [and COND ...] up to ',' or the end. */
static int parse_conds(struct parser *p, const struct tok *kw)
{
	struct rule *r = p->r;
	const struct tok *t;
	int ret;

	for (;;) {
		struct rule_cond c = { 0 };
		int type = -1;

		t = peek(p);
		if (t->type != TOK_WORD)
			return fail(p, kw->col, "expected a condition after '%s' (%s)", kw->s,
				    COND_LIST);
		next(p);
		if (!strcmp(t->s, "not")) {
			c.negate = true;
			kw = t;
			t = peek(p);
			if (t->type != TOK_WORD)
				return fail(p, kw->col, "expected a condition after 'not' (%s)",
					    COND_LIST);
			next(p);
		}
		for (int i = 0; i < RULE_COND__COUNT; i++) {
			if (!strcmp(t->s, cond_names[i]))
				type = i;
		}
		if (type < 0)
			return fail(p, t->col, "unknown condition '%s' (expected %s)",
				    shown(p, t->s), COND_LIST);
		c.type = type;
		if (type == RULE_COND_STATE || type == RULE_COND_PEER_STATE) {
			ret = parse_state(p, t, &c.state);
			if (ret < 0)
				return ret;
		}
		if (r->n_conds >= RULE_MAX_CONDS)
			return fail(p, t->col, "too many conditions (at most %d)", RULE_MAX_CONDS);
		r->conds[r->n_conds++] = c;

		t = peek(p);
		if (t->type != TOK_WORD)
			return 0;
		if (strcmp(t->s, "and"))
			return fail(p, t->col, "expected 'and' or ',' after condition, got '%s'",
				    shown(p, t->s));
		kw = next(p);
	}
}

/* The rest of an item: nothing, or an 'if' clause that applies to the rule. */
static int finish_item(struct parser *p, const struct tok *kw)
{
	const struct tok *t = peek(p);

	if (t->type != TOK_WORD)
		return 0;
	if (!strcmp(t->s, "if")) {
		next(p);
		return parse_conds(p, t);
	}
	return fail(p, t->col, "unexpected '%s' after '%s' (separate items with ',')",
		    shown(p, t->s), kw->s);
}

/* One option word of an action after its positional argument. */
static int action_option(struct parser *p, struct rule_action *a, const struct tok *t,
			 const struct tok **dist_tok, bool *seen)
{
	uint64_t v;
	int ret;

	switch (a->type) {
	case RULE_ACT_DELAY:
		if (!strcmp(t->s, "jitter")) {
			if (seen[0])
				return fail(p, t->col, "'jitter' given twice");
			seen[0] = true;
			return expect_duration(p, t, "duration", &a->u.delay.jitter_ns);
		}
		if (!strcmp(t->s, "distribution")) {
			const struct tok *d = peek(p);

			if (*dist_tok)
				return fail(p, t->col, "'distribution' given twice");
			*dist_tok = t;
			if (ends_args(d) || ends_with_percent(d->s))
				return fail(p, t->col,
					    "'distribution' needs uniform, normal or pareto");
			next(p);
			for (size_t i = 0; i < sizeof(dist_names) / sizeof(dist_names[0]); i++) {
				if (!strcmp(d->s, dist_names[i])) {
					a->u.delay.dist = i;
					return 0;
				}
			}
			return fail(p, d->col,
				    "unknown distribution '%s' (expected uniform, normal or pareto)",
				    shown(p, d->s));
		}
		break;
	case RULE_ACT_REORDER:
		if (!strcmp(t->s, "timeout")) {
			if (seen[0])
				return fail(p, t->col, "'timeout' given twice");
			seen[0] = true;
			ret = expect_duration(p, t, "duration", &a->u.reorder.timeout_ns);
			if (ret < 0)
				return ret;
			if (a->u.reorder.timeout_ns == 0)
				return fail(p, p->toks[p->pos - 1].col,
					    "reorder timeout must be greater than 0");
			return 0;
		}
		break;
	case RULE_ACT_DUPLICATE:
		if (isdigit((unsigned char)t->s[0])) {
			if (seen[0])
				return fail(p, t->col, "duplicate copies given twice");
			seen[0] = true;
			ret = parse_uint(t->s, MAX_COPIES, &v);
			if (ret == -EINVAL)
				return fail(p, t->col, "bad copy count '%s' (1 to %u)",
					    shown(p, t->s), MAX_COPIES);
			if (ret < 0 || v < 1)
				return fail(p, t->col, "'duplicate %s' out of range (1 to %u copies)",
					    shown(p, t->s), MAX_COPIES);
			a->u.duplicate.copies = (uint32_t)v;
			return 0;
		}
		break;
	case RULE_ACT_RATE:
		if (!strcmp(t->s, "limit")) {
			if (seen[0])
				return fail(p, t->col, "'limit' given twice");
			seen[0] = true;
			ret = expect_uint(p, t, 1, UINT32_MAX, &v);
			if (ret < 0)
				return ret;
			a->u.rate.limit = (uint32_t)v;
			return 0;
		}
		break;
	default:
		break;
	}
	return fail(p, t->col, "unexpected '%s' in '%s' (expected %s)", shown(p, t->s),
		    action_names[a->type], action_options[a->type]);
}

static int parse_action(struct parser *p, const struct tok *kw, enum rule_action_type type)
{
	struct rule *r = p->r;
	struct rule_action a = { .type = type, .prob_ppm = RULE_PPM_ALWAYS };
	const struct tok *dist_tok = NULL;
	bool seen_opt[1] = { false };
	bool seen_prob = false;
	const struct tok *t;
	const char *why;
	uint64_t v;
	int ret;

	for (unsigned i = 0; i < r->n_actions; i++) {
		if (r->actions[i].type == type)
			return fail(p, kw->col, "'%s' given twice in one rule", kw->s);
		if (r->actions[i].type == RULE_ACT_ACCEPT || type == RULE_ACT_ACCEPT)
			return fail(p, kw->col, "'accept' cannot be combined with other actions");
	}
	if (r->n_actions >= RULE_MAX_ACTIONS)
		return fail(p, kw->col, "too many actions (at most %d)", RULE_MAX_ACTIONS);

	/* The positional argument, where the action has one. */
	t = peek(p);
	switch (type) {
	case RULE_ACT_DELAY:
		ret = expect_duration(p, kw, "duration", &a.u.delay.delay_ns);
		if (ret < 0)
			return ret;
		break;
	case RULE_ACT_REORDER:
		ret = expect_uint(p, kw, 2, MAX_REORDER, &v);
		if (ret < 0)
			return ret;
		a.u.reorder.count = (uint32_t)v;
		a.u.reorder.timeout_ns = DEFAULT_REORDER_TIMEOUT_NS;
		break;
	case RULE_ACT_DUPLICATE:
		a.u.duplicate.copies = 1;
		break;
	case RULE_ACT_RATE:
		if (ends_args(t) || ends_with_percent(t->s))
			return fail(p, kw->col, "'rate' needs a rate, e.g. rate 1mbit");
		next(p);
		if (rate_why(t->s, &a.u.rate.bits_per_sec, &why) < 0)
			return fail(p, t->col, "bad rate '%s': %s", shown(p, t->s), why);
		a.u.rate.limit = DEFAULT_RATE_LIMIT;
		break;
	default:
		break;
	}

	while (!ends_args(t = peek(p))) {
		next(p);
		if (ends_with_percent(t->s)) {
			if (seen_prob)
				return fail(p, t->col, "probability given twice");
			seen_prob = true;
			if (percent_why(t->s, &a.prob_ppm, &why) < 0)
				return fail(p, t->col, "bad probability '%s': %s", shown(p, t->s),
					    why);
			continue;
		}
		ret = action_option(p, &a, t, &dist_tok, seen_opt);
		if (ret < 0)
			return ret;
	}

	if (type == RULE_ACT_DELAY) {
		if (dist_tok && !seen_opt[0])
			return fail(p, dist_tok->col, "'distribution' needs 'jitter'");
		/* Without jitter the distribution means nothing: keep one form. */
		if (a.u.delay.jitter_ns == 0)
			a.u.delay.dist = RULE_DIST_UNIFORM;
	}
	r->actions[r->n_actions++] = a;
	return finish_item(p, kw);
}

static int parse_qualifier(struct parser *p, const struct tok *kw)
{
	struct rule *r = p->r;
	uint64_t v;
	int ret;

	for (unsigned d = 0; d < sizeof(dir_names) / sizeof(dir_names[0]); d++) {
		if (strcmp(kw->s, dir_names[d]))
			continue;
		if (r->dir_mask & (1u << d))
			return fail(p, kw->col, "'%s' given twice", kw->s);
		r->dir_mask |= 1u << d;
		return finish_item(p, kw);
	}
	if (!strcmp(kw->s, "every")) {
		if (p->seen_every)
			return fail(p, kw->col, "'every' given twice");
		p->seen_every = true;
		ret = expect_uint(p, kw, 1, UINT32_MAX, &v);
		if (ret < 0)
			return ret;
		r->every = (uint32_t)v;
	} else if (!strcmp(kw->s, "first") || !strcmp(kw->s, "count")) {
		if (p->first_word)
			return fail(p, kw->col, "'%s' given twice (count is an alias of first)",
				    kw->s);
		p->first_word = kw->s;
		ret = expect_uint(p, kw, 1, UINT32_MAX, &v);
		if (ret < 0)
			return ret;
		r->first = (uint32_t)v;
	} else if (!strcmp(kw->s, "after")) {
		if (p->seen_after)
			return fail(p, kw->col, "'after' given twice");
		p->seen_after = true;
		ret = expect_duration(p, kw, "duration", &r->after_ns);
		if (ret < 0)
			return ret;
	} else if (!strcmp(kw->s, "for")) {
		if (p->seen_for)
			return fail(p, kw->col, "'for' given twice");
		p->seen_for = true;
		ret = expect_duration(p, kw, "duration", &r->for_ns);
		if (ret < 0)
			return ret;
		/* 0 means "forever" in struct rule, so 'for 0s' cannot be kept. */
		if (r->for_ns == 0)
			return fail(p, p->toks[p->pos - 1].col, "'for' needs a duration > 0");
	} else if (!strcmp(kw->s, "if")) {
		return parse_conds(p, kw);
	} else {
		return fail(p, kw->col,
			    "unknown action '%s' (expected " ACTION_LIST
			    ", or a qualifier " QUALIFIER_LIST ")",
			    shown(p, kw->s));
	}
	return finish_item(p, kw);
}

static int parse_item(struct parser *p)
{
	const struct tok *kw = next(p);

	for (int i = 0; i < RULE_ACT__COUNT; i++) {
		if (!strcmp(kw->s, action_names[i]))
			return parse_action(p, kw, i);
	}
	return parse_qualifier(p, kw);
}

static int parse_items(struct parser *p)
{
	const struct tok *t;
	int ret;

	if (peek(p)->type == TOK_END)
		return fail(p, p->eol_col, "expected an action after '=>' (" ACTION_LIST ")");
	for (;;) {
		t = peek(p);
		if (t->type == TOK_COMMA)
			return fail(p, t->col, "empty item before ','");
		ret = parse_item(p);
		if (ret < 0)
			return ret;
		/* Items consume words up to ',' or the end. */
		t = next(p);
		if (t->type == TOK_END)
			break;
		if (peek(p)->type == TOK_END)
			return fail(p, t->col, "trailing ',' (expected another item)");
	}
	if (p->r->n_actions == 0)
		return fail(p, p->arrow_col,
			    "rule has no action (expected one of " ACTION_LIST ")");
	return 0;
}

/* ---- rules -------------------------------------------------------------- */

static void rule_free(struct rule *r)
{
	if (!r)
		return;
	rule__filter_free(r->filter);
	free(r->text);
	free(r->filter_text);
	free(r->file);
	free(r);
}

/* The first word of s, for guessing whether '=>' was forgotten. */
static bool starts_with_keyword(const char *s, size_t len)
{
	static const char *const kws[] = {
		"drop", "delay", "reorder", "duplicate", "corrupt", "rate", "accept",
	};
	size_t n = 0;

	while (n < len && !isspace((unsigned char)s[n]) && s[n] != ',')
		n++;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		if (strlen(kws[i]) == n && !strncmp(s, kws[i], n))
			return true;
	}
	return false;
}

/*
 * Parse one line into a new rule in *out (NULL for blank and comment
 * lines). Returns 0, -EINVAL with err filled, or -ENOMEM.
 */
static int parse_line(const char *text, const char *file, int line, struct rule **out,
		      struct rule_error *err)
{
	struct parser p = { .err = err };
	char pmsg[512];
	size_t len, start, end, arrow, fstart, fend;
	struct rule *r = NULL;
	const char *hash;
	int ret;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	err->file = file ? file : "";
	err->line = line;
	if (strnlen(text, RULE_MAX_LINE + 1) > RULE_MAX_LINE) {
		err->col = RULE_MAX_LINE + 1;
		snprintf(err->msg, sizeof(err->msg), "line longer than %d bytes", RULE_MAX_LINE);
		return -EINVAL;
	}

	/* A filter never contains '#', so it starts a comment anywhere. */
	hash = strchr(text, '#');
	len = hash ? (size_t)(hash - text) : strlen(text);
	for (start = 0; start < len && isspace((unsigned char)text[start]); start++)
		;
	for (end = len; end > start && isspace((unsigned char)text[end - 1]); end--)
		;
	if (start == end)
		return 0;
	p.eol_col = (int)end + 1;

	for (arrow = start; arrow + 1 < end; arrow++) {
		if (text[arrow] == '=' && text[arrow + 1] == '>')
			break;
	}
	if (arrow + 1 >= end) {
		if (starts_with_keyword(text + start, end - start)) {
			err->col = (int)start + 1;
			snprintf(err->msg, sizeof(err->msg),
				 "missing '=>' before the actions (write '=> ...' to match every packet)");
		} else {
			err->col = p.eol_col;
			snprintf(err->msg, sizeof(err->msg),
				 "missing '=>' and an action after the filter");
		}
		return -EINVAL;
	}
	p.arrow_col = (int)arrow + 1;
	for (fstart = start; fstart < arrow && isspace((unsigned char)text[fstart]); fstart++)
		;
	for (fend = arrow; fend > fstart && isspace((unsigned char)text[fend - 1]); fend--)
		;

	ret = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto err_nomem;
	p.r = r;
	r->line = line;
	r->text = strndup(text + start, end - start);
	r->filter_text = strndup(text + fstart, fend - fstart);
	r->file = strdup(file ? file : "");
	p.buf = strndup(text, end);
	if (!r->text || !r->filter_text || !r->file || !p.buf)
		goto err_nomem;

	/* The filter comes first on the line, so its error is reported first. */
	if (fend > fstart) {
		ret = rule__filter_compile(r->filter_text, &r->filter, pmsg, sizeof(pmsg));
		if (ret == -ENOMEM)
			goto err_nomem;
		if (ret < 0) {
			fail(&p, (int)fstart + 1, "bad filter '%s': %s", shown(&p, r->filter_text),
			     pmsg);
			goto err;
		}
	}

	ret = tokenize(&p, arrow + 2, end);
	if (ret < 0)
		goto err_nomem;
	ret = parse_items(&p);
	if (ret < 0)
		goto err;

	free(p.toks);
	free(p.buf);
	*out = r;
	return 0;

err_nomem:
	err->col = 0;
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	ret = -ENOMEM;
err:
	free(p.toks);
	free(p.buf);
	rule_free(r);
	return ret;
}

/* ---- the set ------------------------------------------------------------ */

struct rule_set *rule_set_new(void)
{
	return calloc(1, sizeof(struct rule_set));
}

void rule_set_free(struct rule_set *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(rs->rules[i]);
	free(rs->rules);
	free(rs);
}

static int reserve(struct rule_set *rs, size_t extra)
{
	struct rule **n;
	size_t cap = rs->cap ? rs->cap : 8;

	if (extra > SIZE_MAX / sizeof(*n) - rs->n)
		return -ENOMEM;
	while (cap < rs->n + extra) {
		if (cap > SIZE_MAX / 2 / sizeof(*n))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == rs->cap)
		return 0;
	n = realloc(rs->rules, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	rs->rules = n;
	rs->cap = cap;
	return 0;
}

/* Takes the rules; cannot fail once reserve() succeeded. */
static void append(struct rule_set *rs, struct rule **rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rules[i]->index = (unsigned)rs->n;
		rs->rules[rs->n++] = rules[i];
	}
}

/* The error for a rule past RULE_MAX_RULES: at the rule's first character. */
static int too_many_rules(const char *text, struct rule_error *err)
{
	err->col = (int)strspn(text, " \t") + 1;
	snprintf(err->msg, sizeof(err->msg), "too many rules (at most %d in a set)",
		 RULE_MAX_RULES);
	return -E2BIG;
}

int rule_set_add_line(struct rule_set *rs, const char *text, const char *file, int line,
		      struct rule_error *err)
{
	struct rule_error dummy;
	struct rule *r;
	int ret;

	if (!err)
		err = &dummy;
	ret = parse_line(text, file, line, &r, err);
	if (ret < 0 || !r)
		return ret;
	if (rs->n >= RULE_MAX_RULES) {
		rule_free(r);
		return too_many_rules(text, err);
	}
	ret = reserve(rs, 1);
	if (ret < 0) {
		rule_free(r);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return ret;
	}
	append(rs, &r, 1);
	return 0;
}

/*
 * Read one line of f into buf (RULE_MAX_LINE + 1 bytes), without its end of
 * line, counting every byte into *total. Returns 1 with *len set, 0 at the
 * end of the file, -EINVAL for a line longer than RULE_MAX_LINE (*len =
 * RULE_MAX_LINE), -EFBIG once *total passes RULE_MAX_FILE (*len = the bytes
 * of this line before that), -EIO on a read error (errno says why). Reading
 * stops at the limit: a file of endless bytes costs a bounded buffer.
 */
static int read_line(FILE *f, char *buf, size_t *len, size_t *total)
{
	int c;

	*len = 0;
	while ((c = getc(f)) != EOF) {
		if (++*total > RULE_MAX_FILE)
			return -EFBIG;
		if (c == '\n')
			return 1;
		if (*len == RULE_MAX_LINE)
			return -EINVAL;
		buf[(*len)++] = (char)c;
	}
	if (ferror(f))
		return -EIO;
	return *len ? 1 : 0;
}

/* Fill err for line:col of the file being loaded; returns ret. */
__attribute__((format(printf, 5, 6)))
static int file_error(struct rule_error *err, int ret, int line, int col, const char *fmt, ...)
{
	const char *file = err->file;
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->file = file;
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret;
}

int rule_set_load_file(struct rule_set *rs, const char *path, struct rule_error *err)
{
	struct rule_error dummy;
	struct rule **tmp = NULL, **grown;
	size_t n = 0, cap = 0, len, total = 0;
	char *line = NULL;
	int lineno = 0;
	struct stat st;
	FILE *f;
	int ret;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	err->file = path;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		return file_error(err, ret, 0, 0, "cannot open: %s", strerror(-ret));
	}
	/* fopen() opens a directory for reading; only the first read fails. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		ret = file_error(err, -EISDIR, 0, 0, "is a directory, not a rule file");
		goto out;
	}
	line = malloc(RULE_MAX_LINE + 1);
	if (!line) {
		ret = file_error(err, -ENOMEM, 0, 0, "out of memory");
		goto out;
	}

	/* Parse into tmp first: a bad line must leave the set as it was. */
	while ((ret = read_line(f, line, &len, &total)) > 0) {
		struct rule *r;

		lineno++;
		line[len] = '\0';
		if (memchr(line, '\0', len)) {
			ret = file_error(err, -EINVAL, lineno, (int)strlen(line) + 1,
					 "NUL byte in rule line");
			goto out;
		}
		while (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		ret = parse_line(line, path, lineno, &r, err);
		if (ret < 0)
			goto out;
		if (!r)
			continue;
		if (rs->n + n >= RULE_MAX_RULES) {
			rule_free(r);
			ret = too_many_rules(line, err);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(tmp, cap * sizeof(*tmp));
			if (!grown) {
				rule_free(r);
				ret = file_error(err, -ENOMEM, lineno, 0, "out of memory");
				goto out;
			}
			tmp = grown;
		}
		tmp[n++] = r;
	}
	if (ret == -EINVAL) {
		ret = file_error(err, ret, lineno + 1, RULE_MAX_LINE + 1,
				 "line longer than %d bytes", RULE_MAX_LINE);
		goto out;
	}
	if (ret == -EFBIG) {
		ret = file_error(err, ret, lineno + 1, (int)len + 1,
				 "rule file longer than %d bytes", RULE_MAX_FILE);
		goto out;
	}
	if (ret == -EIO) {
		ret = -errno;
		ret = file_error(err, ret ? ret : -EIO, lineno + 1, 0, "read error: %s",
				 strerror(ret ? -ret : EIO));
		goto out;
	}
	ret = reserve(rs, n);
	if (ret < 0) {
		ret = file_error(err, ret, 0, 0, "out of memory");
		goto out;
	}
	append(rs, tmp, n);
	n = 0;
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		rule_free(tmp[i]);
	free(tmp);
	free(line);
	fclose(f);
	return ret;
}

size_t rule_set_count(const struct rule_set *rs)
{
	return rs ? rs->n : 0;
}

FL_HOT const struct rule *rule_set_get(const struct rule_set *rs, size_t i)
{
	if (!rs || i >= rs->n)
		return NULL;
	return rs->rules[i];
}

uint32_t rule_set_bytes_needed(const struct rule_set *rs)
{
	uint32_t need = 0;

	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct rule *r = rs->rules[i];

		for (unsigned a = 0; a < r->n_actions; a++)
			if (r->actions[a].type == RULE_ACT_DUPLICATE || r->actions[a].type == RULE_ACT_CORRUPT)
				return UINT32_MAX;
		if (r->filter) {
			uint32_t reach = rule__filter_reach(r->filter);

			if (reach > need)
				need = reach;
		}
	}
	return need;
}

/* ---- printing and comparing --------------------------------------------- */

static void put_duration(struct strbuf_fixed *o, const char *prefix, uint64_t ns)
{
	const struct unit *u = &duration_units[0];

	if (ns == 0) {
		strbuf_fixed_printf(o, "%s0ms", prefix);
		return;
	}
	while (ns % u->mult)
		u++;
	strbuf_fixed_printf(o, "%s%llu%s", prefix, (unsigned long long)(ns / u->mult), u->name);
}

static void put_rate(struct strbuf_fixed *o, uint64_t bps)
{
	const struct unit *u = &rate_units[0];

	/* The "bit" unit divides everything, so the loop ends there at worst. */
	while (u < &rate_units[N_PRINT_RATE_UNITS - 1] && bps % u->mult)
		u++;
	strbuf_fixed_printf(o, " %llu%s", (unsigned long long)(bps / u->mult), u->name);
}

static void put_percent(struct strbuf_fixed *o, uint32_t ppm)
{
	uint32_t frac = ppm % PPM_PER_PERCENT;
	int digits = PERCENT_DECIMALS;

	if (ppm >= RULE_PPM_ALWAYS)
		return;
	if (!frac) {
		strbuf_fixed_printf(o, " %u%%", ppm / PPM_PER_PERCENT);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	strbuf_fixed_printf(o, " %u.%0*u%%", ppm / PPM_PER_PERCENT, digits, frac);
}

static void put_action(struct strbuf_fixed *o, const struct rule_action *a)
{
	strbuf_fixed_printf(o, "%s", rule_action_name(a->type));
	switch (a->type) {
	case RULE_ACT_DELAY:
		put_duration(o, " ", a->u.delay.delay_ns);
		if (a->u.delay.jitter_ns || a->u.delay.dist != RULE_DIST_UNIFORM)
			put_duration(o, " jitter ", a->u.delay.jitter_ns);
		if (a->u.delay.dist != RULE_DIST_UNIFORM &&
		    (unsigned)a->u.delay.dist < sizeof(dist_names) / sizeof(dist_names[0]))
			strbuf_fixed_printf(o, " distribution %s", dist_names[a->u.delay.dist]);
		break;
	case RULE_ACT_REORDER:
		strbuf_fixed_printf(o, " %u", a->u.reorder.count);
		if (a->u.reorder.timeout_ns != DEFAULT_REORDER_TIMEOUT_NS)
			put_duration(o, " timeout ", a->u.reorder.timeout_ns);
		break;
	case RULE_ACT_DUPLICATE:
		if (a->u.duplicate.copies != 1)
			strbuf_fixed_printf(o, " %u", a->u.duplicate.copies);
		break;
	case RULE_ACT_RATE:
		put_rate(o, a->u.rate.bits_per_sec);
		if (a->u.rate.limit != DEFAULT_RATE_LIMIT)
			strbuf_fixed_printf(o, " limit %u", a->u.rate.limit);
		break;
	default:
		break;
	}
	put_percent(o, a->prob_ppm);
}

char *rule_print_alloc(const struct rule *r)
{
	int n = rule_print(r, NULL, 0);
	char *buf = malloc((size_t)n + 1);

	if (buf)
		rule_print(r, buf, (size_t)n + 1);
	return buf;
}

int rule_print(const struct rule *r, char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	if (buf && size)
		buf[0] = '\0';
	if (r->filter_text && r->filter_text[0])
		strbuf_fixed_printf(&o, "%s ", r->filter_text);
	strbuf_fixed_printf(&o, "=>");
	for (unsigned i = 0; i < r->n_actions; i++) {
		strbuf_fixed_printf(&o, "%s", i ? ", " : " ");
		put_action(&o, &r->actions[i]);
	}
	for (unsigned d = 0; d < sizeof(dir_names) / sizeof(dir_names[0]); d++) {
		if (r->dir_mask & (1u << d))
			strbuf_fixed_printf(&o, ", %s", dir_names[d]);
	}
	if (r->every)
		strbuf_fixed_printf(&o, ", every %u", r->every);
	if (r->first)
		strbuf_fixed_printf(&o, ", first %u", r->first);
	if (r->after_ns)
		put_duration(&o, ", after ", r->after_ns);
	if (r->for_ns)
		put_duration(&o, ", for ", r->for_ns);
	for (unsigned i = 0; i < r->n_conds; i++) {
		const struct rule_cond *c = &r->conds[i];

		strbuf_fixed_printf(&o, "%s%s%s", i ? " and " : ", if ", c->negate ? "not " : "",
		    rule_cond_name(c->type));
		if (c->type == RULE_COND_STATE || c->type == RULE_COND_PEER_STATE)
			strbuf_fixed_printf(&o, " %s", tcpstate_name(c->state));
	}
	return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

static bool action_equal(const struct rule_action *a, const struct rule_action *b)
{
	if (a->type != b->type || a->prob_ppm != b->prob_ppm)
		return false;
	/* Field by field: the union's unused bytes are not part of the rule. */
	switch (a->type) {
	case RULE_ACT_DELAY:
		return a->u.delay.delay_ns == b->u.delay.delay_ns &&
		       a->u.delay.jitter_ns == b->u.delay.jitter_ns &&
		       a->u.delay.dist == b->u.delay.dist;
	case RULE_ACT_REORDER:
		return a->u.reorder.count == b->u.reorder.count &&
		       a->u.reorder.timeout_ns == b->u.reorder.timeout_ns;
	case RULE_ACT_DUPLICATE:
		return a->u.duplicate.copies == b->u.duplicate.copies;
	case RULE_ACT_RATE:
		return a->u.rate.bits_per_sec == b->u.rate.bits_per_sec &&
		       a->u.rate.limit == b->u.rate.limit;
	default:
		return true;
	}
}

static bool cond_equal(const struct rule_cond *a, const struct rule_cond *b)
{
	if (a->type != b->type || a->negate != b->negate)
		return false;
	if (a->type == RULE_COND_STATE || a->type == RULE_COND_PEER_STATE)
		return a->state == b->state;
	return true;
}

bool rule_equal(const struct rule *a, const struct rule *b)
{
	const char *fa = a->filter_text ? a->filter_text : "";
	const char *fb = b->filter_text ? b->filter_text : "";

	if (strcmp(fa, fb) || a->n_actions != b->n_actions || a->n_conds != b->n_conds ||
	    a->dir_mask != b->dir_mask || a->every != b->every || a->first != b->first ||
	    a->after_ns != b->after_ns || a->for_ns != b->for_ns)
		return false;
	for (unsigned i = 0; i < a->n_actions; i++) {
		if (!action_equal(&a->actions[i], &b->actions[i]))
			return false;
	}
	for (unsigned i = 0; i < a->n_conds; i++) {
		if (!cond_equal(&a->conds[i], &b->conds[i]))
			return false;
	}
	return true;
}
