// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "units.h"

/*
 * A message quotes at most one user text, so one buffer is enough; the
 * column already points at the whole of it, and the reason after it must
 * never be the part that is cut.
 */
const char *rule__shown(struct rule_parser *p, const char *s)
{
	size_t n = strlen(s);

	if (n <= RULE_SHOWN_MAX + 3)
		return s;
	n = RULE_SHOWN_MAX;
	/* Do not split a UTF-8 sequence: back up over continuation bytes. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(p->shown, s, n);
	memcpy(p->shown + n, "...", 4);
	return p->shown;
}

int rule__fail(struct rule_parser *p, int col, const char *fmt, ...)
{
	va_list ap;
	int n;

	p->err->col = col;
	va_start(ap, fmt);
	n = vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	/* Cannot happen with rule__shown() quotes; if it does, it is not silent. */
	if (n >= (int)sizeof(p->err->msg))
		memcpy(p->err->msg + sizeof(p->err->msg) - 4, "...", 4);
	return -EINVAL;
}

const struct rule_tok *rule__peek(const struct rule_parser *p)
{
	return &p->toks[p->pos];
}

const struct rule_tok *rule__prev(const struct rule_parser *p)
{
	return &p->toks[p->pos ? p->pos - 1 : 0];
}

const struct rule_tok *rule__next(struct rule_parser *p)
{
	const struct rule_tok *t = &p->toks[p->pos];

	/* RULE_TOK_END is sticky so callers need not check before advancing. */
	if (t->type != RULE_TOK_END)
		p->pos++;
	return t;
}

bool rule__ends_args(const struct rule_tok *t)
{
	return t->type != RULE_TOK_WORD || !strcmp(t->s, "if");
}

bool rule__ends_with_percent(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '%';
}

/*
 * Split [from, to) of p->buf into words and commas. Words are cut at
 * whitespace and commas, which are overwritten with NULs.
 */
int rule__tokenize(struct rule_parser *p, size_t from, size_t to)
{
	size_t n = 0;
	char *s = p->buf;

	/* Every token takes at least one byte, plus the final RULE_TOK_END. */
	p->toks = calloc(to - from + 1, sizeof(*p->toks));
	if (!p->toks)
		return -ENOMEM;
	for (size_t i = from; i < to;) {
		if (isspace((unsigned char)s[i])) {
			s[i++] = '\0';
		} else if (s[i] == ',') {
			p->toks[n++] = (struct rule_tok){ RULE_TOK_COMMA, ",", (int)i + 1 };
			s[i++] = '\0';
		} else {
			p->toks[n++] = (struct rule_tok){ RULE_TOK_WORD, &s[i], (int)i + 1 };
			while (i < to && s[i] != ',' && !isspace((unsigned char)s[i]))
				i++;
		}
	}
	s[to] = '\0';
	p->toks[n] = (struct rule_tok){ RULE_TOK_END, "", p->eol_col };
	return 0;
}

int rule__expect_duration(struct rule_parser *p, const struct rule_tok *kw, uint64_t *ns)
{
	const struct rule_tok *t = rule__peek(p);
	const char *why;

	if (rule__ends_args(t) || rule__ends_with_percent(t->s))
		return rule__fail(p, kw->col, "'%s' needs a duration, e.g. 50ms", kw->s);
	rule__next(p);
	if (units_parse_duration(t->s, ns, &why) < 0)
		return rule__fail(p, t->col, "bad duration '%s' after '%s': %s", rule__shown(p, t->s),
				  kw->s, why);
	return 0;
}

int rule__expect_uint(struct rule_parser *p, const struct rule_tok *kw, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	const struct rule_tok *t = rule__peek(p);
	int ret;

	if (rule__ends_args(t) || rule__ends_with_percent(t->s))
		return rule__fail(p, kw->col, "'%s' needs a number (%llu to %llu)", kw->s,
				  (unsigned long long)min, (unsigned long long)max);
	rule__next(p);
	ret = units_parse_uint(t->s, max, out);
	if (ret == -EINVAL)
		return rule__fail(p, t->col, "'%s' needs a number, got '%s'", kw->s,
				  rule__shown(p, t->s));
	if (ret < 0 || *out < min)
		return rule__fail(p, t->col, "'%s %s' out of range (%llu to %llu)", kw->s,
				  rule__shown(p, t->s), (unsigned long long)min, (unsigned long long)max);
	return 0;
}
