/* SPDX-License-Identifier: MIT */
/*
 * parser: the rule parser's state, tokens and helpers, shared by the line
 * parser (rule.c: filter, items, qualifiers, conditions) and the actions'
 * syntax (actions.c). Private to rules/.
 *
 * A line is cut into words and commas once; the parser walks the tokens.
 * Every parse function returns 0 or -EINVAL after rule__fail() filled the
 * caller's struct rule_error. Tokens are borrowed from the parser and live
 * as long as the line is being parsed.
 */
#ifndef FL_RULE_PARSER_H
#define FL_RULE_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"

enum rule_tok_type {
	RULE_TOK_END = 0,
	RULE_TOK_WORD,
	RULE_TOK_COMMA,
};

struct rule_tok {
	enum rule_tok_type type;
	const char *s;	/* NUL-terminated, inside the parser's copy of the line */
	int col;	/* 1-based byte column in the original line */
};

/* User text quoted in a message: at most this many bytes, then "...". */
#define RULE_SHOWN_MAX 60

/* One line being parsed into r (borrowed), its errors into err (borrowed). */
struct rule_parser {
	struct rule *r;
	struct rule_error *err;
	char *buf;		/* copy of the line, words NUL-terminated in place */
	struct rule_tok *toks;	/* always ends with RULE_TOK_END */
	size_t pos;
	int arrow_col;
	int eol_col;		/* one past the last character before any comment */

	/* Which qualifier already appeared, for "given twice". */
	bool seen_every, seen_first, seen_after, seen_conn_after, seen_for, seen_from_byte, seen_conn;
	const char *first_word;	/* 'first' or 'count', as the user wrote it */

	char shown[RULE_SHOWN_MAX + 4];	/* see rule__shown() */
};

/*
 * Split [from, to) of p->buf into words and commas, cut in place. Returns 0
 * or -ENOMEM.
 */
int rule__tokenize(struct rule_parser *p, size_t from, size_t to);

/* The next token, not taken. At the end, the RULE_TOK_END token, forever. */
const struct rule_tok *rule__peek(const struct rule_parser *p);
/* Take the next token (RULE_TOK_END is never passed). */
const struct rule_tok *rule__next(struct rule_parser *p);
/* The token taken last. */
const struct rule_tok *rule__prev(const struct rule_parser *p);

/* Fill the error at column col; returns -EINVAL. */
int rule__fail(struct rule_parser *p, int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * The user's text s as quoted in a message: whole if short, else its first
 * RULE_SHOWN_MAX bytes (whole UTF-8 characters) and "...". Valid until the
 * next call; one quote per message.
 */
const char *rule__shown(struct rule_parser *p, const char *s);

/* The token ends an item's own arguments: ',', the end or 'if'. */
bool rule__ends_args(const struct rule_tok *t);
/* "30%": a probability, which any action may take. */
bool rule__ends_with_percent(const char *s);

/* The duration after keyword kw, taken. */
int rule__expect_duration(struct rule_parser *p, const struct rule_tok *kw, uint64_t *ns);
/* The number min..max after keyword kw, taken. */
int rule__expect_uint(struct rule_parser *p, const struct rule_tok *kw, uint64_t min,
		      uint64_t max, uint64_t *out);

#endif
