// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "filter.h"
#include "hot.h"
#include "index.h"
#include "memo.h"
#include "parser.h"
#include "rule.h"
#include "strbuf.h"
#include "tcpstate.h"
#include "units.h"

#define QUALIFIER_LIST "in, out, fwd, every, first, count, after, conn-after, for, from-byte, conn, if"
#define COND_LIST                                                              \
	"syn, syn-ack, fin, rst, ack-only, data, state S, peer-state S, "     \
	"first-data, retransmission, out-of-order, dup-ack, stale"

struct rule_set {
	struct rule **rules;	/* pointers, so rule_set_get stays valid */
	size_t n, cap;
	/*
	 * The names, hashed for rule_set_find and the duplicate check: each
	 * slot holds a rule's index + 1, or 0. Open addressing, at most half
	 * full (nslots >= 2 * cap), so a lookup ends at an empty slot.
	 */
	uint32_t *slots;
	size_t nslots;
	/*
	 * Which rules each packet can match (index.h), kept in step with
	 * the rules as they join and leave, so a set is indexed before any
	 * pipeline has it. NULL: every rule is a candidate.
	 */
	struct rule_index *idx;
	/*
	 * The wide memo's plans, one per class (rule_set_plan), or NULL;
	 * dropped whenever a rule joins or leaves, as the index changes.
	 */
	struct rule_memo_wide *wide;
	/* What '@NAME' in a filter stands for; NULL: '@NAME' is an error. */
	rule_name_cb names;
	void *names_data;
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

static const char *const dir_names[] = {
	[PKT_DIR_IN] = "in",
	[PKT_DIR_OUT] = "out",
	[PKT_DIR_FWD] = "fwd",
};

/* The actions' names, "drop, delay, ...", for messages. */
static const char *action_list(char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	buf[0] = '\0';
	for (int i = 0; i < RULE_ACT__COUNT; i++)
		strbuf_fixed_printf(&o, "%s%s", i ? ", " : "", rule_action_name(i));
	return buf;
}

const char *rule_action_name(enum rule_action_type t)
{
	const struct rule_action_ops *ops = rule__action_ops(t);

	return ops ? ops->name : "?";
}

const char *rule_cond_name(enum rule_cond_type t)
{
	if ((unsigned)t >= RULE_COND__COUNT)
		return "?";
	return cond_names[t];
}

int rule_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	return units_parse_duration(s, ns, why);
}

static int parse_state(struct rule_parser *p, const struct rule_tok *kw, uint8_t *state)
{
	char names[256];
	const struct rule_tok *t = rule__peek(p);
	size_t len = 0;
	int s;

	if (t->type != RULE_TOK_WORD) {
		s = -1;
	} else {
		rule__next(p);
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
	if (t->type != RULE_TOK_WORD)
		return rule__fail(p, kw->col, "'%s' needs a TCP state (%s)", kw->s, names);
	return rule__fail(p, t->col, "unknown TCP state '%s' (expected %s)", rule__shown(p, t->s),
			  names);
}

/* After 'if' (given as kw): COND [and COND ...] up to ',' or the end. */
static int parse_conds(struct rule_parser *p, const struct rule_tok *kw)
{
	struct rule *r = p->r;
	const struct rule_tok *t;
	int ret;

	for (;;) {
		struct rule_cond c = { 0 };
		int type = -1;

		t = rule__peek(p);
		if (t->type != RULE_TOK_WORD)
			return rule__fail(p, kw->col, "expected a condition after '%s' (%s)", kw->s,
					  COND_LIST);
		rule__next(p);
		if (!strcmp(t->s, "not")) {
			c.negate = true;
			kw = t;
			t = rule__peek(p);
			if (t->type != RULE_TOK_WORD)
				return rule__fail(p, kw->col, "expected a condition after 'not' (%s)",
						  COND_LIST);
			rule__next(p);
		}
		for (int i = 0; i < RULE_COND__COUNT; i++) {
			if (!strcmp(t->s, cond_names[i]))
				type = i;
		}
		if (type < 0)
			return rule__fail(p, t->col, "unknown condition '%s' (expected %s)",
					  rule__shown(p, t->s), COND_LIST);
		c.type = type;
		if (type == RULE_COND_STATE || type == RULE_COND_PEER_STATE) {
			ret = parse_state(p, t, &c.state);
			if (ret < 0)
				return ret;
		}
		if (r->n_conds >= RULE_MAX_CONDS)
			return rule__fail(p, t->col, "too many conditions (at most %d)", RULE_MAX_CONDS);
		r->conds[r->n_conds++] = c;

		t = rule__peek(p);
		if (t->type != RULE_TOK_WORD)
			return 0;
		if (strcmp(t->s, "and"))
			return rule__fail(p, t->col, "expected 'and' or ',' after condition, got '%s'",
					  rule__shown(p, t->s));
		kw = rule__next(p);
	}
}

/* The rest of an item: nothing, or an 'if' clause that applies to the rule. */
static int finish_item(struct rule_parser *p, const struct rule_tok *kw)
{
	const struct rule_tok *t = rule__peek(p);

	if (t->type != RULE_TOK_WORD)
		return 0;
	if (!strcmp(t->s, "if")) {
		rule__next(p);
		return parse_conds(p, t);
	}
	return rule__fail(p, t->col, "unexpected '%s' after '%s' (separate items with ',')",
			  rule__shown(p, t->s), kw->s);
}

/* An action appears once in a rule, and an 'alone' one only by itself. */
static int check_action_fits(struct rule_parser *p, const struct rule_tok *kw,
			     const struct rule_action_ops *ops, enum rule_action_type type)
{
	struct rule *r = p->r;

	for (unsigned i = 0; i < r->n_actions; i++) {
		const struct rule_action_ops *other = rule__action_ops(r->actions[i].type);

		if (r->actions[i].type == type)
			return rule__fail(p, kw->col, "'%s' given twice in one rule", kw->s);
		if (other->alone || ops->alone)
			return rule__fail(p, kw->col, "'%s' cannot be combined with other actions",
					  other->alone ? other->name : ops->name);
	}
	if (r->n_actions >= RULE_MAX_ACTIONS)
		return rule__fail(p, kw->col, "too many actions (at most %d)", RULE_MAX_ACTIONS);
	return 0;
}

/* The words after an action's argument: its options and a probability, in any order. */
static int parse_action_options(struct rule_parser *p, const struct rule_action_ops *ops,
				struct rule_action *a, const struct rule_tok **seen)
{
	bool seen_prob = false;
	const struct rule_tok *t;
	const char *why;
	int ret;

	while (!rule__ends_args(t = rule__peek(p))) {
		rule__next(p);
		if (rule__ends_with_percent(t->s)) {
			if (seen_prob)
				return rule__fail(p, t->col, "probability given twice");
			seen_prob = true;
			if (units_parse_percent(t->s, &a->prob_ppm, &why) < 0)
				return rule__fail(p, t->col, "bad probability '%s': %s",
						  rule__shown(p, t->s), why);
			continue;
		}
		ret = ops->parse_option ? ops->parse_option(p, t, a, seen) : RULE_ACTION_NOT_OPTION;
		if (ret == RULE_ACTION_NOT_OPTION)
			return rule__fail(p, t->col, "unexpected '%s' in '%s' (expected %s)",
					  rule__shown(p, t->s), ops->name, ops->follows);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The action named by kw, its arguments and options, through its entry in actions.c. */
static int parse_action(struct rule_parser *p, const struct rule_tok *kw,
			enum rule_action_type type)
{
	const struct rule_action_ops *ops = rule__action_ops(type);
	const struct rule_tok *seen[RULE_ACTION_MAX_OPTS] = { NULL };
	struct rule_action a = { .type = type, .prob_ppm = RULE_PPM_ALWAYS };
	int ret;

	ret = check_action_fits(p, kw, ops, type);
	if (!ret && ops->parse_args)
		ret = ops->parse_args(p, kw, &a);
	if (!ret)
		ret = parse_action_options(p, ops, &a, seen);
	if (!ret && ops->parse_end)
		ret = ops->parse_end(p, &a, seen);
	if (ret < 0)
		return ret;
	p->r->actions[p->r->n_actions++] = a;
	return finish_item(p, kw);
}

/* 'conn P% [key K]': 0% is allowed (toxiproxy's toxicity 0: no connection). */
static int parse_conn(struct rule_parser *p, const struct rule_tok *kw)
{
	const struct rule_tok *t = rule__peek(p);
	struct rule *r = p->r;
	const char *why;
	uint64_t v;

	if (p->seen_conn)
		return rule__fail(p, kw->col, "'conn' given twice");
	p->seen_conn = true;
	if (rule__ends_args(t) || !rule__ends_with_percent(t->s))
		return rule__fail(p, kw->col, "'conn' needs a percentage of connections, e.g. conn 50%%");
	rule__next(p);
	if (strspn(t->s, "0.") == strlen(t->s) - 1 && t->s[0] == '0')
		r->conn_ppm = 0;
	else if (units_parse_percent(t->s, &r->conn_ppm, &why) < 0)
		return rule__fail(p, t->col, "bad percentage '%s' after 'conn': %s", rule__shown(p, t->s), why);
	r->has_conn = true;
	t = rule__peek(p);
	if (t->type == RULE_TOK_WORD && !strcmp(t->s, "key")) {
		rule__next(p);
		if (rule__expect_uint(p, t, 0, UINT32_MAX, &v) < 0)
			return -EINVAL;
		r->conn_key = (uint32_t)v;
	}
	return 0;
}

static int parse_qualifier(struct rule_parser *p, const struct rule_tok *kw)
{
	struct rule *r = p->r;
	uint64_t v;
	int ret;

	for (unsigned d = 0; d < sizeof(dir_names) / sizeof(dir_names[0]); d++) {
		if (strcmp(kw->s, dir_names[d]))
			continue;
		if (r->dir_mask & (1u << d))
			return rule__fail(p, kw->col, "'%s' given twice", kw->s);
		r->dir_mask |= 1u << d;
		return finish_item(p, kw);
	}
	if (!strcmp(kw->s, "every")) {
		if (p->seen_every)
			return rule__fail(p, kw->col, "'every' given twice");
		p->seen_every = true;
		ret = rule__expect_uint(p, kw, 1, UINT32_MAX, &v);
		if (ret < 0)
			return ret;
		r->every = (uint32_t)v;
	} else if (!strcmp(kw->s, "first") || !strcmp(kw->s, "count")) {
		if (p->first_word)
			return rule__fail(p, kw->col, "'%s' given twice (count is an alias of first)",
					  kw->s);
		p->first_word = kw->s;
		ret = rule__expect_uint(p, kw, 1, UINT32_MAX, &v);
		if (ret < 0)
			return ret;
		r->first = (uint32_t)v;
	} else if (!strcmp(kw->s, "after")) {
		if (p->seen_after)
			return rule__fail(p, kw->col, "'after' given twice");
		p->seen_after = true;
		ret = rule__expect_duration(p, kw, &r->after_ns);
		if (ret < 0)
			return ret;
	} else if (!strcmp(kw->s, "conn-after")) {
		if (p->seen_conn_after)
			return rule__fail(p, kw->col, "'conn-after' given twice");
		p->seen_conn_after = true;
		ret = rule__expect_duration(p, kw, &r->conn_after_ns);
		if (ret < 0)
			return ret;
	} else if (!strcmp(kw->s, "for")) {
		if (p->seen_for)
			return rule__fail(p, kw->col, "'for' given twice");
		p->seen_for = true;
		ret = rule__expect_duration(p, kw, &r->for_ns);
		if (ret < 0)
			return ret;
		/* 0 means "forever" in struct rule, so 'for 0s' cannot be kept. */
		if (r->for_ns == 0)
			return rule__fail(p, rule__prev(p)->col, "'for' needs a duration > 0");
	} else if (!strcmp(kw->s, "from-byte")) {
		if (p->seen_from_byte)
			return rule__fail(p, kw->col, "'from-byte' given twice");
		p->seen_from_byte = true;
		/* Sequence space is 32 bits; 0 would be every segment (and means "not given"). */
		ret = rule__expect_uint(p, kw, 1, UINT32_MAX, &v);
		if (ret < 0)
			return ret;
		r->from_byte = (uint32_t)v;
	} else if (!strcmp(kw->s, "conn")) {
		ret = parse_conn(p, kw);
		if (ret < 0)
			return ret;
	} else if (!strcmp(kw->s, "if")) {
		return parse_conds(p, kw);
	} else {
		char list[256];

		return rule__fail(p, kw->col,
				  "unknown action '%s' (expected %s, or a qualifier " QUALIFIER_LIST ")",
				  rule__shown(p, kw->s), action_list(list, sizeof(list)));
	}
	return finish_item(p, kw);
}

static int parse_item(struct rule_parser *p)
{
	const struct rule_tok *kw = rule__next(p);

	for (int i = 0; i < RULE_ACT__COUNT; i++) {
		if (!strcmp(kw->s, rule_action_name(i)))
			return parse_action(p, kw, i);
	}
	return parse_qualifier(p, kw);
}

static int parse_items(struct rule_parser *p)
{
	const struct rule_tok *t;
	char list[256];
	int ret;

	if (rule__peek(p)->type == RULE_TOK_END)
		return rule__fail(p, p->eol_col, "expected an action after '=>' (%s)",
				  action_list(list, sizeof(list)));
	for (;;) {
		t = rule__peek(p);
		if (t->type == RULE_TOK_COMMA)
			return rule__fail(p, t->col, "empty item before ','");
		ret = parse_item(p);
		if (ret < 0)
			return ret;
		/* Items consume words up to ',' or the end. */
		t = rule__next(p);
		if (t->type == RULE_TOK_END)
			break;
		if (rule__peek(p)->type == RULE_TOK_END)
			return rule__fail(p, t->col, "trailing ',' (expected another item)");
	}
	if (p->r->n_actions == 0)
		return rule__fail(p, p->arrow_col, "rule has no action (expected one of %s)",
				  action_list(list, sizeof(list)));
	return 0;
}

/* ---- rules -------------------------------------------------------------- */

static void rule_free(struct rule *r)
{
	if (!r)
		return;
	rule__filter_free(r->filter);
	free(r->name);
	free(r->text);
	free(r->filter_text);
	free(r->filter_expr);
	free(r->file);
	free(r);
}

/* The first word of s, for guessing whether '=>' was forgotten. */
static bool starts_with_keyword(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && !isspace((unsigned char)s[n]) && s[n] != ',')
		n++;
	for (int i = 0; i < RULE_ACT__COUNT; i++) {
		const char *kw = rule_action_name(i);

		if (strlen(kw) == n && !strncmp(s, kw, n))
			return true;
	}
	return false;
}

/* Where the parts of a rule line are, as byte offsets. */
struct line_parts {
	size_t start, end;	/* the rule: no comment, no blanks around */
	size_t nstart, nend;	/* its name, without ':' (none: nstart == nend) */
	size_t arrow;		/* the '=>' */
	size_t fstart, fend;	/* the filter, trimmed (empty: fstart == fend) */
};

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) ||
	       (!first && (isdigit((unsigned char)c) || c == '_' || c == '.' || c == '-'));
}

static bool name_valid(const char *s, size_t len)
{
	if (!len || len > RULE_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i], i == 0))
			return false;
	return true;
}

bool rule_name_valid(const char *s)
{
	return s && name_valid(s, strnlen(s, RULE_MAX_NAME + 1));
}

bool rule_name_is_number(const char *name, unsigned number)
{
	char own[32];

	snprintf(own, sizeof(own), "rule-%u", number);
	return name && !strcmp(name, own);
}

#define NAME_RULES "a name is a letter, then letters, digits, '_', '.' or '-', at most 64 bytes"

/*
 * A name leads the line when its first word ends in ':' followed by a
 * blank. Only that shape is a name: the colons of a filter (ip6 host
 * fe80::1, ether host 00:11:22:33:44:55) sit inside a later word or are
 * followed by another colon or a digit, and no pcap filter's first word
 * ends in ':'. Returns 0 (lp->nstart/nend set, none when equal) or -EINVAL
 * with err filled for a first word "X: " whose X is not a valid name.
 */
static int split_name(const char *text, struct line_parts *lp, struct rule_error *err)
{
	size_t i = lp->start;

	lp->nstart = lp->nend = lp->start;
	while (i < lp->arrow && text[i] != ':' && !isspace((unsigned char)text[i]))
		i++;
	if (i >= lp->arrow || text[i] != ':' || (text[i + 1] != ' ' && text[i + 1] != '\t'))
		return 0;
	if (!name_valid(text + lp->start, i - lp->start)) {
		int n = (int)(i - lp->start);

		err->col = (int)lp->start + 1;
		snprintf(err->msg, sizeof(err->msg), "bad rule name '%.*s%s' (" NAME_RULES ")",
			 n > RULE_SHOWN_MAX ? RULE_SHOWN_MAX : n, text + lp->start,
			 n > RULE_SHOWN_MAX ? "..." : "");
		return -EINVAL;
	}
	lp->nend = i;
	lp->fstart = i + 1;
	while (lp->fstart < lp->arrow && isspace((unsigned char)text[lp->fstart]))
		lp->fstart++;
	return 0;
}

/*
 * Find the parts of text. Returns 1 for a rule, 0 for a blank or comment
 * line, -EINVAL with err filled when there is no '=>'.
 */
static int split_line(const char *text, struct line_parts *lp, struct rule_error *err)
{
	/* A filter never contains '#', so it starts a comment anywhere. */
	const char *hash = strchr(text, '#');
	size_t len = hash ? (size_t)(hash - text) : strlen(text);
	size_t start, end, arrow;

	for (start = 0; start < len && isspace((unsigned char)text[start]); start++)
		;
	for (end = len; end > start && isspace((unsigned char)text[end - 1]); end--)
		;
	if (start == end)
		return 0;
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
			err->col = (int)end + 1;
			snprintf(err->msg, sizeof(err->msg),
				 "missing '=>' and an action after the filter");
		}
		return -EINVAL;
	}
	*lp = (struct line_parts){ .start = start, .end = end, .arrow = arrow, .fstart = start,
				   .fend = arrow };
	if (split_name(text, lp, err) < 0)
		return -EINVAL;
	while (lp->fstart < arrow && isspace((unsigned char)text[lp->fstart]))
		lp->fstart++;
	while (lp->fend > lp->fstart && isspace((unsigned char)text[lp->fend - 1]))
		lp->fend--;
	return 1;
}

/*
 * A new rule holding its copies of the line's parts, and in p->buf the
 * parser's copy of the line. NULL on ENOMEM (nothing left allocated).
 */
static struct rule *rule_new(const char *text, const struct line_parts *lp, const char *file,
			     int line, struct rule_parser *p)
{
	struct rule *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->line = line;
	r->text = strndup(text + lp->start, lp->end - lp->start);
	r->filter_text = strndup(text + lp->fstart, lp->fend - lp->fstart);
	r->file = strdup(file ? file : "");
	if (lp->nend > lp->nstart) {
		r->named = true;
		r->name = strndup(text + lp->nstart, lp->nend - lp->nstart);
	}
	p->buf = strndup(text, lp->end);
	if (!r->text || !r->filter_text || !r->file || !p->buf || (r->named && !r->name)) {
		free(p->buf);
		p->buf = NULL;
		rule_free(r);
		return NULL;
	}
	return r;
}

/*
 * Parse one line into a new rule in *out (NULL for blank and comment
 * lines), and in *name_col the column of its name (of the rule when it has
 * none), for the set's name check. Returns 0, -EINVAL with err filled, or
 * -ENOMEM.
 */
/* A character of a container name (Docker's [a-zA-Z0-9][a-zA-Z0-9_.-]*). */
static bool ctr_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Does the expression so far (len bytes of s) end with the word "host"? */
static bool after_host(const char *s, size_t len)
{
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return len >= 4 && !strncmp(s + len - 4, "host", 4) && (len == 4 || !ctr_char(s[len - 5]));
}

/*
 * The filter with every '@NAME' replaced by what rs's resolver says it
 * stands for, in a new string (*out; NULL when there is no '@'). 0, -ENOMEM,
 * or -EINVAL after rule__fail at the '@' (fcol: the filter's column).
 */
static int expand_names(struct rule_parser *p, const struct rule_set *rs, const char *f, int fcol,
			char **out)
{
	size_t cap = strlen(f) + 1, len = 0;
	char *buf, *grown;

	*out = NULL;
	if (!strchr(f, '@'))
		return 0;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (const char *c = f; *c;) {
		char name[256], addrs[4096];
		size_t n = 0, add;
		bool bare;
		int ret;

		if (*c != '@') {
			buf[len++] = *c++;
			continue;
		}
		while (ctr_char(c[1 + n]) && n < sizeof(name) - 1) {
			name[n] = c[1 + n];
			n++;
		}
		name[n] = 0;
		if (!n || !rs || !rs->names) {
			free(buf);
			return rule__fail(p, fcol + (int)(c - f), n ? "'@%s' names a container, and container names "
					  "can only be used by a live run" : "'@' must be followed by a container name",
					  name);
		}
		ret = rs->names(rs->names_data, name, addrs, sizeof(addrs));
		if (ret) {
			free(buf);
			return ret == -ENOMEM ? -ENOMEM :
			       rule__fail(p, fcol + (int)(c - f), ret == -ENOENT ?
					  "unknown container '@%s' (no engine knows the name, or it has no address)" :
					  "cannot look up container '@%s': %s", name, strerror(-ret));
		}
		/*
		 * libpcap takes "host (A or B)", with or without src/dst before
		 * it, but not a bare "(A or B)": "@db" alone is "host @db".
		 */
		bare = !after_host(buf, len);
		add = strlen(addrs) + (bare ? 5 : 0);
		if (len + add + strlen(c) + 1 > cap) {
			cap = len + add + strlen(c) + 1;
			grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				return -ENOMEM;
			}
			buf = grown;
		}
		if (bare) {
			memcpy(buf + len, "host ", 5);
			len += 5;
			add -= 5;
		}
		memcpy(buf + len, addrs, add);
		len += add;
		c += 1 + n;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

static int parse_line(const struct rule_set *rs, const char *text, const char *file, int line,
		      struct rule **out, int *name_col, struct rule_error *err)
{
	struct rule_parser p = { .err = err };
	struct line_parts lp;
	char pmsg[512];
	struct rule *r;
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
	ret = split_line(text, &lp, err);
	if (ret <= 0)
		return ret;
	*name_col = (int)lp.start + 1;
	p.eol_col = (int)lp.end + 1;
	p.arrow_col = (int)lp.arrow + 1;
	r = p.r = rule_new(text, &lp, file, line, &p);
	if (!r)
		goto err_nomem;

	/* The filter comes first on the line, so its error is reported first. */
	if (lp.fend > lp.fstart) {
		char *expanded;

		ret = expand_names(&p, rs, r->filter_text, (int)lp.fstart + 1, &expanded);
		if (ret == -ENOMEM)
			goto err_nomem;
		if (ret < 0)
			goto err;
		ret = rule__filter_compile(expanded ? expanded : r->filter_text, &r->filter, pmsg, sizeof(pmsg));
		/* The kernel-side filter (kfilter) compiles the same text again. */
		r->filter_expr = expanded;
		if (ret == -ENOMEM)
			goto err_nomem;
		if (ret < 0) {
			rule__fail(&p, (int)lp.fstart + 1, "bad filter '%s': %s",
				   rule__shown(&p, r->filter_text), pmsg);
			goto err;
		}
	}

	ret = rule__tokenize(&p, lp.arrow + 2, lp.end);
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
	struct rule_set *rs = calloc(1, sizeof(*rs));

	/* Without memory for an index the set still works: a linear scan. */
	if (rs)
		rs->idx = rule__index_new();
	return rs;
}

void rule_set_names(struct rule_set *rs, rule_name_cb cb, void *data)
{
	rs->names = cb;
	rs->names_data = data;
}

void rule_set_names_from(struct rule_set *rs, const struct rule_set *from)
{
	if (rs && from)
		rule_set_names(rs, from->names, from->names_data);
}

void rule_set_free(struct rule_set *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(rs->rules[i]);
	free(rs->rules);
	free(rs->slots);
	rule__index_free(rs->idx);
	free(rs->wide);
	free(rs);
}

/* The rules changed: plans made for the old ones are void. */
static void unplan(struct rule_set *rs)
{
	free(rs->wide);
	rs->wide = NULL;
}

int rule_set_plan(struct rule_set *rs)
{
	struct rule_memo_wide *w;

	if (!rs || rs->wide)
		return 0;
	w = calloc(RULE_MEMO_NCLASS, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (int cls = 0; cls < RULE_MEMO_NCLASS; cls++)
		rule_memo_wide_plan(rs, cls, &w[cls]);
	rs->wide = w;
	return 0;
}

const struct rule_memo_wide *rule_set_wide_plans(const struct rule_set *rs)
{
	return rs ? rs->wide : NULL;
}

/* FNV-1a: names are short, and the index is only used off the packet path. */
static size_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (size_t)h;
}

/* The slot holding name, or the empty slot where it would go. nslots > 0. */
static size_t name_slot(const struct rule_set *rs, const char *name)
{
	size_t mask = rs->nslots - 1, i = name_hash(name) & mask;

	while (rs->slots[i] && strcmp(rs->rules[rs->slots[i] - 1]->name, name))
		i = (i + 1) & mask;
	return i;
}

/* Index every rule again, in place (after rules left or moved): cannot fail. */
static void names_refill(struct rule_set *rs)
{
	if (!rs->nslots)
		return;
	memset(rs->slots, 0, rs->nslots * sizeof(*rs->slots));
	for (size_t i = 0; i < rs->n; i++)
		rs->slots[name_slot(rs, rs->rules[i]->name)] = (uint32_t)i + 1;
}

int rule_set_find(const struct rule_set *rs, const char *name)
{
	uint32_t v;

	if (!rs || !name || !rs->nslots)
		return -ENOENT;
	v = rs->slots[name_slot(rs, name)];
	return v ? (int)v - 1 : -ENOENT;
}

/* Room for extra more rules, and for their names in the index. 0 or -ENOMEM. */
static int reserve(struct rule_set *rs, size_t extra)
{
	struct rule **n;
	size_t cap = rs->cap ? rs->cap : 8, nslots;
	uint32_t *slots;

	if (extra > SIZE_MAX / sizeof(*n) - rs->n)
		return -ENOMEM;
	while (cap < rs->n + extra) {
		if (cap > SIZE_MAX / 4 / sizeof(*n))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap != rs->cap) {
		n = realloc(rs->rules, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		rs->rules = n;
		rs->cap = cap;
	}
	if (rs->nslots >= 2 * cap)
		return 0;
	for (nslots = 16; nslots < 2 * cap; nslots *= 2)
		;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(rs->slots);
	rs->slots = slots;
	rs->nslots = nslots;
	names_refill(rs);
	return 0;
}

/* Takes r, named; cannot fail once reserve() succeeded. */
static void append(struct rule_set *rs, struct rule *r)
{
	r->index = (unsigned)rs->n;
	rs->rules[rs->n++] = r;
	rs->slots[name_slot(rs, r->name)] = (uint32_t)rs->n;
	rule__index_append(rs->idx, r);
	unplan(rs);
}

/* Drop the rules past the first n (a load that failed): the set is as it was. */
static void truncate_to(struct rule_set *rs, size_t n)
{
	while (rs->n > n)
		rule_free(rs->rules[--rs->n]);
	names_refill(rs);
	rule__index_truncate(rs->idx, n);
	unplan(rs);
}

/* The error for a rule past RULE_MAX_RULES: at the rule's first character. */
static int too_many_rules(const char *text, struct rule_error *err)
{
	err->col = (int)strspn(text, " \t") + 1;
	snprintf(err->msg, sizeof(err->msg), "too many rules (at most %d in a set)",
		 RULE_MAX_RULES);
	return -E2BIG;
}

static int out_of_memory(struct rule_error *err)
{
	err->col = 0;
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	return -ENOMEM;
}

/* The error for a name of r, found at col, that rule o has already. */
static int name_taken(const struct rule *r, const char *name, const struct rule *o, int col,
		      struct rule_error *err)
{
	err->col = col;
	if (!r->named)
		snprintf(err->msg, sizeof(err->msg),
			 "this unnamed rule would be named '%s' by its position, but the rule at "
			 "%s:%d has that name: name one of them",
			 name, o->file, o->line);
	else if (o->named)
		snprintf(err->msg, sizeof(err->msg), "rule name '%s' given twice (first at %s:%d)",
			 name, o->file, o->line);
	else
		snprintf(err->msg, sizeof(err->msg),
			 "rule name '%s' is already the name of the unnamed rule at %s:%d "
			 "(unnamed rules are named rule-N by their position)",
			 name, o->file, o->line);
	return -EEXIST;
}

/*
 * Name r, which is to join rs at its end: its own name must be free; an
 * unnamed rule is named rule-N, N its position from 1, or with first_free
 * the first free N above that. Returns 0, or -EEXIST/-ENOMEM with err
 * filled (at column col).
 */
static int name_rule(struct rule_set *rs, struct rule *r, bool first_free, int col,
		     struct rule_error *err)
{
	char name[32];
	size_t n = rs->n + 1;
	int other;

	if (r->named) {
		other = rule_set_find(rs, r->name);
		return other < 0 ? 0 : name_taken(r, r->name, rs->rules[other], col, err);
	}
	for (;; n++) {
		snprintf(name, sizeof(name), "rule-%zu", n);
		other = rule_set_find(rs, name);
		if (other < 0)
			break;
		if (!first_free)
			return name_taken(r, name, rs->rules[other], col, err);
	}
	free(r->name);
	r->name = strdup(name);
	return r->name ? 0 : out_of_memory(err);
}

/*
 * r (taken, parsed from text) joins the end of rs, named as name_rule()
 * says. Returns 0 or -errno with err filled; r is freed on failure.
 */
static int join(struct rule_set *rs, struct rule *r, const char *text, bool first_free,
		int name_col, struct rule_error *err)
{
	int ret;

	if (rs->n >= RULE_MAX_RULES)
		ret = too_many_rules(text, err);
	else if (reserve(rs, 1) < 0)
		ret = out_of_memory(err);
	else
		ret = name_rule(rs, r, first_free, name_col, err);
	if (ret < 0) {
		rule_free(r);
		return ret;
	}
	append(rs, r);
	return 0;
}

int rule_set_add_line(struct rule_set *rs, const char *text, const char *file, int line,
		      struct rule_error *err)
{
	struct rule_error dummy;
	struct rule *r;
	int ret, col;

	if (!err)
		err = &dummy;
	ret = parse_line(rs, text, file, line, &r, &col, err);
	if (ret < 0 || !r)
		return ret;
	return join(rs, r, text, false, col, err);
}

int rule_set_add(struct rule_set *rs, const char *text, const char *name, const char *file,
		 int line, struct rule_error *err)
{
	struct rule_error dummy;
	struct rule *r;
	int ret, col = 1;

	if (!err)
		err = &dummy;
	if (name && !rule_name_valid(name)) {
		memset(err, 0, sizeof(*err));
		err->file = file ? file : "";
		err->line = line;
		snprintf(err->msg, sizeof(err->msg), "bad rule name '%.*s%s' (" NAME_RULES ")",
			 RULE_SHOWN_MAX, name, strlen(name) > RULE_SHOWN_MAX ? "..." : "");
		return -EINVAL;
	}
	ret = parse_line(rs, text, file, line, &r, &col, err);
	if (ret < 0)
		return ret;
	if (!r) {
		err->col = 1;
		snprintf(err->msg, sizeof(err->msg), "no rule: the line is blank or a comment");
		return -EINVAL;
	}
	if (name && r->named && strcmp(name, r->name)) {
		err->col = col;
		snprintf(err->msg, sizeof(err->msg),
			 "two names: the line names the rule '%s', the request '%s'", r->name, name);
		rule_free(r);
		return -EINVAL;
	}
	if (name && !r->named) {
		r->name = strdup(name);
		r->named = true;
		if (!r->name) {
			rule_free(r);
			return out_of_memory(err);
		}
	}
	return join(rs, r, text, true, col, err);
}

struct rule_set *rule_set_clone(const struct rule_set *rs)
{
	struct rule_set *c = rule_set_new();
	struct rule_error err;

	rule_set_names_from(c, rs);
	int ret = 0, col;

	if (!c)
		return NULL;
	for (size_t i = 0; i < rule_set_count(rs) && !ret; i++) {
		const struct rule *o = rs->rules[i];
		struct rule *r;

		/* The text parsed once already: only memory can fail now. */
		ret = parse_line(rs, o->text, o->file, o->line, &r, &col, &err);
		if (!ret && !r)
			ret = -EINVAL;
		if (ret < 0)
			break;
		r->disabled = o->disabled;
		if (!r->named) {
			/* Named by rule_set_add's argument rather than its text: still given. */
			r->named = o->named;
			r->name = strdup(o->name);
			if (!r->name)
				ret = -ENOMEM;
		}
		if (!ret)
			ret = reserve(c, 1);
		if (ret < 0) {
			rule_free(r);
			break;
		}
		append(c, r);
	}
	if (ret < 0) {
		rule_set_free(c);
		errno = -ret;
		return NULL;
	}
	return c;
}

int rule_set_del(struct rule_set *rs, const char *name)
{
	int i = rule_set_find(rs, name);

	if (i < 0)
		return i;
	rule_free(rs->rules[i]);
	memmove(&rs->rules[i], &rs->rules[i + 1], (rs->n - (size_t)i - 1) * sizeof(*rs->rules));
	rs->n--;
	for (size_t k = (size_t)i; k < rs->n; k++)
		rs->rules[k]->index = (unsigned)k;
	names_refill(rs);
	rule__index_remove(rs->idx, (size_t)i);
	unplan(rs);
	return 0;
}

int rule_set_enable(struct rule_set *rs, const char *name, bool enabled)
{
	int i = rule_set_find(rs, name);

	if (i < 0)
		return i;
	rs->rules[i]->disabled = !enabled;
	return 0;
}

/* The text being loaded, read through the caller's callback a block at a time. */
struct source {
	rule_read_cb read;
	void *data;
	char buf[4096];
	size_t pos, n;
	int err;		/* 0, or the -errno the callback returned */
	bool end;
};

/* The next byte, or -1 at the end of the text or after a read error (src->err). */
static int next_byte(struct source *src)
{
	ssize_t n;

	if (src->pos == src->n) {
		if (src->end)
			return -1;
		n = src->read(src->data, src->buf, sizeof(src->buf));
		if (n <= 0) {
			src->err = n < 0 ? (int)n : 0;
			src->end = true;
			return -1;
		}
		src->pos = 0;
		src->n = (size_t)n;
	}
	return (unsigned char)src->buf[src->pos++];
}

/*
 * Read one line of src into buf (RULE_MAX_LINE + 1 bytes), without its end
 * of line, counting every byte into *total. Returns 1 with *len set, 0 at
 * the end of the text, -EINVAL for a line longer than RULE_MAX_LINE (*len =
 * RULE_MAX_LINE), -EFBIG once *total passes RULE_MAX_FILE (*len = the bytes
 * of this line before that), -EIO on a read error (src->err says why).
 * Reading stops at the limit: a file of endless bytes costs a bounded buffer.
 */
static int read_line(struct source *src, char *buf, size_t *len, size_t *total)
{
	int c;

	*len = 0;
	while ((c = next_byte(src)) >= 0) {
		if (++*total > RULE_MAX_FILE)
			return -EFBIG;
		if (c == '\n')
			return 1;
		if (*len == RULE_MAX_LINE)
			return -EINVAL;
		buf[(*len)++] = (char)c;
	}
	if (src->err)
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

/* The error for read_line()'s ret at line lineno + 1, of len bytes so far. */
static int read_failed(struct rule_error *err, const struct source *src, int ret, int lineno,
		       size_t len)
{
	if (ret == -EINVAL)
		return file_error(err, ret, lineno + 1, RULE_MAX_LINE + 1,
				  "line longer than %d bytes", RULE_MAX_LINE);
	if (ret == -EFBIG)
		return file_error(err, ret, lineno + 1, (int)len + 1,
				  "rule file longer than %d bytes", RULE_MAX_FILE);
	return file_error(err, src->err, lineno + 1, 0, "read error: %s", strerror(-src->err));
}

/*
 * Every line of src joins rs, in order, read through line (RULE_MAX_LINE +
 * 1 bytes). Returns 0 or -errno with err filled; the caller takes the
 * rules back out on failure.
 */
static int parse_lines(struct source *src, struct rule_set *rs, const char *path, char *line,
		       struct rule_error *err)
{
	size_t len, total = 0;
	int lineno = 0, ret, col;

	while ((ret = read_line(src, line, &len, &total)) > 0) {
		struct rule *r;

		lineno++;
		line[len] = '\0';
		if (memchr(line, '\0', len))
			return file_error(err, -EINVAL, lineno, (int)strlen(line) + 1,
					  "NUL byte in rule line");
		while (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		ret = parse_line(rs, line, path, lineno, &r, &col, err);
		if (!ret && r)
			ret = join(rs, r, line, false, col, err);
		if (ret < 0)
			return ret;
	}
	return ret < 0 ? read_failed(err, src, ret, lineno, len) : 0;
}

int rule_set_load(struct rule_set *rs, const char *path, rule_read_cb read, void *data,
		  struct rule_error *err)
{
	size_t before = rs->n;
	struct rule_error dummy;
	char *line;
	struct source *f;
	int ret;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	err->file = path;
	f = calloc(1, sizeof(*f));
	line = malloc(RULE_MAX_LINE + 1);
	if (!f || !line) {
		ret = file_error(err, -ENOMEM, 0, 0, "out of memory");
		goto out;
	}
	f->read = read;
	f->data = data;
	/*
	 * Rules join the set as they are read, so that names are checked
	 * against earlier lines; a bad line takes them all back out.
	 */
	ret = parse_lines(f, rs, path, line, err);
	if (ret < 0)
		truncate_to(rs, before);
out:
	free(line);
	free(f);
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

FL_HOT void rule_set_cands(const struct rule_set *rs, const struct pkt_view *v,
			   struct rule_cands *c)
{
	rule__index_cands(rs ? rs->idx : NULL, rule_set_count(rs), v, c);
}

uint32_t rule_set_bytes_needed(const struct rule_set *rs)
{
	uint32_t need = 0;

	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct rule *r = rs->rules[i];

		for (unsigned a = 0; a < r->n_actions; a++) {
			enum rule_action_type t = r->actions[a].type;

			if (rule__action_ops(t)->whole_packet)
				return UINT32_MAX;
			/* It cuts the segment that straddles byte N: the payload goes on. */
			if (r->from_byte && (t == RULE_ACT_DROP || t == RULE_ACT_RESET))
				return UINT32_MAX;
		}
		if (r->filter) {
			uint32_t reach = rule__filter_reach(r->filter);

			if (reach > need)
				need = reach;
		}
	}
	return need;
}

bool rule_has_tracker_cond(const struct rule *r)
{
	for (unsigned c = 0; c < r->n_conds; c++)
		if (r->conds[c].type >= RULE_COND__PACKET_ONLY)
			return true;
	return false;
}

bool rule_set_needs_arrival(const struct rule_set *rs)
{
	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct rule *r = rs->rules[i];

		if (rule_has_tracker_cond(r))
			return true;
		for (unsigned a = 0; a < r->n_actions; a++)
			if (!rule__action_ops(r->actions[a].type)->instant)
				return true;
	}
	return false;
}

/* ---- printing and comparing --------------------------------------------- */
static void put_action(struct strbuf_fixed *o, const struct rule_action *a)
{
	const struct rule_action_ops *ops = rule__action_ops(a->type);

	strbuf_fixed_printf(o, "%s", rule_action_name(a->type));
	if (ops && ops->print)
		ops->print(o, a);
	units_put_percent(o, " ", a->prob_ppm);
}

static int print(const struct rule *r, bool with_name, char *buf, size_t size);

static char *print_alloc(const struct rule *r, bool with_name)
{
	int n = print(r, with_name, NULL, 0);
	char *buf = malloc((size_t)n + 1);

	if (buf)
		print(r, with_name, buf, (size_t)n + 1);
	return buf;
}

char *rule_print_alloc(const struct rule *r)
{
	return print_alloc(r, true);
}

char *rule_print_body_alloc(const struct rule *r)
{
	return print_alloc(r, false);
}

int rule_print(const struct rule *r, char *buf, size_t size)
{
	return print(r, true, buf, size);
}

static int print(const struct rule *r, bool with_name, char *buf, size_t size)
{
	struct strbuf_fixed o = { .buf = buf, .size = size };

	if (buf && size)
		buf[0] = '\0';
	/* Only a given name: an automatic one follows the position, wherever the rule goes. */
	if (with_name && r->named)
		strbuf_fixed_printf(&o, "%s: ", r->name);
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
		units_put_duration(&o, ", after ", r->after_ns);
	if (r->conn_after_ns)
		units_put_duration(&o, ", conn-after ", r->conn_after_ns);
	if (r->for_ns)
		units_put_duration(&o, ", for ", r->for_ns);
	if (r->from_byte)
		strbuf_fixed_printf(&o, ", from-byte %u", r->from_byte);
	if (r->has_conn) {
		if (!r->conn_ppm)
			strbuf_fixed_printf(&o, ", conn 0%%");
		else if (r->conn_ppm >= UNITS_PPM_ALWAYS)
			strbuf_fixed_printf(&o, ", conn 100%%");
		else
			units_put_percent(&o, ", conn ", r->conn_ppm);
		if (r->conn_key)
			strbuf_fixed_printf(&o, " key %u", r->conn_key);
	}
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
	const struct rule_action_ops *ops = rule__action_ops(a->type);

	if (a->type != b->type || a->prob_ppm != b->prob_ppm)
		return false;
	/* Argument by argument: the union's unused bytes are not part of the rule. */
	return !ops || !ops->equal || ops->equal(a, b);
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
	    a->after_ns != b->after_ns || a->for_ns != b->for_ns || a->from_byte != b->from_byte ||
	    a->conn_after_ns != b->conn_after_ns ||
	    a->has_conn != b->has_conn || a->conn_ppm != b->conn_ppm || a->conn_key != b->conn_key)
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

const char *rule_cross_flow(const struct rule *r)
{
	if (r->every)
		return "every";
	if (r->first)
		return "first";
	for (unsigned a = 0; a < r->n_actions; a++) {
		switch (r->actions[a].type) {
		case RULE_ACT_RATE:
			return "rate";
		case RULE_ACT_SLOT:
			return "slot";
		case RULE_ACT_PROFILE:
			return "profile";
		default:
			break;
		}
	}
	return NULL;
}
