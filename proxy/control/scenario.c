// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"
#include "scenario.h"
#include "units.h"
#include "wait.h"

/* Bytes in a rule name, as the rule parser allows. */
#define NAME_MAX_LEN 64

static const char *const op_names[] = {
	[SCENARIO_ADD] = "add",		[SCENARIO_DEL] = "del",	  [SCENARIO_ENABLE] = "enable",
	[SCENARIO_DISABLE] = "disable", [SCENARIO_REPLACE] = "replace", [SCENARIO_END] = "end",
};

const char *scenario_op_name(enum scenario_op op)
{
	return (unsigned)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?";
}

/* One line being parsed: its text (NUL-terminated copy), where we are, and the error to fill. */
struct line {
	const char *s;
	size_t pos;
	int no;
	const char *file;
	struct scenario_error *err;
};

static int fail(struct line *l, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct line *l, size_t at, const char *fmt, ...)
{
	va_list ap;

	l->err->file = l->file;
	l->err->line = l->no;
	l->err->col = (int)at + 1;
	va_start(ap, fmt);
	vsnprintf(l->err->msg, sizeof(l->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void skip_blanks(struct line *l)
{
	while (l->s[l->pos] == ' ' || l->s[l->pos] == '\t')
		l->pos++;
}

/* The next word: [*start, *start + *len), the position after it. 0 at the end. */
static size_t word(struct line *l, size_t *start)
{
	size_t n = 0;

	skip_blanks(l);
	*start = l->pos;
	while (l->s[l->pos + n] && l->s[l->pos + n] != ' ' && l->s[l->pos + n] != '\t')
		n++;
	l->pos += n;
	return n;
}

static bool word_is(const struct line *l, size_t start, size_t n, const char *w)
{
	return n == strlen(w) && !strncmp(l->s + start, w, n);
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || n > NAME_MAX_LEN || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* NAME as del, enable and disable take it: one word, the last on the line. */
static int parse_name(struct line *l, struct scenario_step *st, const char *op)
{
	size_t at, n = word(l, &at), end_at;

	if (!n)
		return fail(l, at, "'%s' wants a rule name", op);
	if (!name_ok(l->s + at, n))
		return fail(l, at, "'%.*s' is not a rule name ([A-Za-z][A-Za-z0-9_.-]*, at most %d bytes)",
			    (int)n, l->s + at, NAME_MAX_LEN);
	if (word(l, &end_at))
		return fail(l, end_at, "unexpected '%s' after the name", l->s + end_at);
	st->name = strndup(l->s + at, n);
	return st->name ? 0 : -ENOMEM;
}

/* add [NAME: ]RULE: the rule checked as the rule parser takes it, its errors located here. */
static int parse_add(struct line *l, struct scenario_step *st)
{
	const char *s, *colon;
	struct rule_error re = { 0 };
	struct rule_set *rs;
	size_t at;
	int ret;

	skip_blanks(l);
	at = l->pos;
	s = l->s + at;
	if (!*s)
		return fail(l, at, "'add' wants a rule: add [NAME: ]FILTER => ACTIONS");
	/* "NAME: " names the rule; anything else is the rule's own text. */
	colon = strchr(s, ':');
	if (colon && colon[1] == ' ' && name_ok(s, (size_t)(colon - s))) {
		st->name = strndup(s, (size_t)(colon - s));
		if (!st->name)
			return -ENOMEM;
		l->pos += (size_t)(colon + 1 - s);
		skip_blanks(l);
		at = l->pos;
		s = l->s + at;
		if (!*s)
			return fail(l, at, "'add %s:' wants a rule: FILTER => ACTIONS", st->name);
	}
	rs = rule_set_new();
	if (!rs)
		return -ENOMEM;
	ret = rule_set_add_line(rs, s, l->file, l->no, &re);
	if (!ret && rule_set_count(rs) != 1)
		ret = fail(l, at, "'add' wants a rule, not a comment");
	rule_set_free(rs);
	if (ret == -ENOMEM)
		return ret;
	if (ret == -EINVAL && re.msg[0])
		return fail(l, re.col > 0 ? at + (size_t)re.col - 1 : at, "%s", re.msg);
	if (ret)
		return ret;
	st->rule = strdup(s);
	return st->rule ? 0 : -ENOMEM;
}

/* replace FILE, resolved against the scenario's folder unless absolute. */
static int parse_replace(struct line *l, struct scenario_step *st)
{
	const char *slash = strrchr(l->file, '/');
	size_t at, n = word(l, &at), end_at;
	int dir = slash ? (int)(slash - l->file + 1) : 0;

	if (!n)
		return fail(l, at, "'replace' wants a rules file");
	if (word(l, &end_at))
		return fail(l, end_at, "unexpected '%s' after the file name", l->s + end_at);
	if (l->s[at] == '/' || !dir)
		st->path = strndup(l->s + at, n);
	else if (asprintf(&st->path, "%.*s%.*s", dir, l->file, (int)n, l->s + at) < 0)
		st->path = NULL;
	return st->path ? 0 : -ENOMEM;
}

static int parse_step(struct line *l, struct scenario_step *st)
{
	size_t at, n = word(l, &at), end_at;

	for (unsigned op = 0; op < sizeof(op_names) / sizeof(op_names[0]); op++) {
		if (!word_is(l, at, n, op_names[op]))
			continue;
		st->op = (enum scenario_op)op;
		switch (st->op) {
		case SCENARIO_ADD:
			return parse_add(l, st);
		case SCENARIO_REPLACE:
			return parse_replace(l, st);
		case SCENARIO_END:
			if (word(l, &end_at))
				return fail(l, end_at, "unexpected '%s' after 'end'", l->s + end_at);
			return 0;
		default:
			return parse_name(l, st, op_names[op]);
		}
	}
	if (!n)
		return fail(l, at, "expected a step: add, del, enable, disable, replace or end");
	return fail(l, at, "'%.*s' is not a step: add, del, enable, disable, replace or end", (int)n,
		    l->s + at);
}

/* at TIME: units_parse_duration's syntax. */
static int parse_at(struct line *l, struct scenario_step *st)
{
	size_t at, n = word(l, &at);
	const char *why = NULL;
	char buf[64];

	if (!n)
		return fail(l, at, "'at' wants a time (0s, 1.5s, 250ms, 2m)");
	snprintf(buf, sizeof(buf), "%.*s", (int)n, l->s + at);
	if (n >= sizeof(buf) || units_parse_duration(buf, &st->at_ns, &why))
		return fail(l, at, "'%.*s' is not a time: %s", (int)(n < 40 ? n : 40), l->s + at,
			    why ? why : "expected 0s, 1.5s, 250ms, 2m");
	return 0;
}

/* on|every CONDITION: wait's syntax, up to the step. */
static int parse_condition(struct line *l, struct scenario_step *st)
{
	struct wait_error we;
	struct wait *w;
	size_t used, at;

	skip_blanks(l);
	at = l->pos;
	w = wait_parse_prefix(l->s + at, &used, &we);
	if (!w) {
		if (errno == ENOMEM)
			return -ENOMEM;
		return fail(l, at + (size_t)(we.col > 0 ? we.col - 1 : 0), "%s", we.msg);
	}
	wait_free(w);
	/* The condition as written, without the blanks before the step. */
	while (used && (l->s[at + used - 1] == ' ' || l->s[at + used - 1] == '\t'))
		used--;
	st->condition = strndup(l->s + at, used);
	l->pos = at + used;
	return st->condition ? 0 : -ENOMEM;
}

static int parse_line(struct line *l, struct scenario_step *st)
{
	size_t at, n = word(l, &at);
	int ret;

	if (word_is(l, at, n, "at")) {
		st->when = SCENARIO_AT;
		ret = parse_at(l, st);
	} else if (word_is(l, at, n, "on") || word_is(l, at, n, "every")) {
		st->when = l->s[at] == 'o' ? SCENARIO_ON : SCENARIO_EVERY;
		ret = parse_condition(l, st);
	} else {
		return fail(l, at, "'%.*s': a step starts with 'at TIME', 'on CONDITION' or "
				   "'every CONDITION'", (int)(n < 40 ? n : 40), l->s + at);
	}
	return ret ? ret : parse_step(l, st);
}

/* The line [s, s + n) without its comment and surrounding blanks, as a string. */
static char *clean_line(const char *s, size_t n)
{
	const char *hash = memchr(s, '#', n);

	if (hash)
		n = (size_t)(hash - s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	return strndup(s, n);
}

static void free_step(struct scenario_step *st)
{
	free(st->condition);
	free(st->name);
	free(st->rule);
	free(st->path);
	free(st->text);
}

static int add_step(struct scenario *sc, size_t *alloc)
{
	if (sc->n == *alloc) {
		size_t n = *alloc ? 2 * *alloc : 16;
		struct scenario_step *s = realloc(sc->steps, n * sizeof(*s));

		if (!s)
			return -ENOMEM;
		sc->steps = s;
		*alloc = n;
	}
	memset(&sc->steps[sc->n], 0, sizeof(sc->steps[0]));
	return 0;
}

static int whole_file_error(struct scenario_error *err, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int whole_file_error(struct scenario_error *err, const char *file, const char *fmt, ...)
{
	va_list ap;

	err->file = file;
	err->line = 0;
	err->col = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Parse the step whose cleaned text is s, of the line starting at start:
 * columns count in the line as written, the blanks in front included.
 */
static int parse_one(struct line *l, const char *start, const char *s, struct scenario_step *st)
{
	size_t lead = 0;
	char *copy;
	int ret;

	while (start[lead] == ' ' || start[lead] == '\t')
		lead++;
	copy = strndup(start, lead + strlen(s));
	if (!copy)
		return -ENOMEM;
	l->s = copy;
	l->pos = lead;
	ret = parse_line(l, st);
	free(copy);
	return ret;
}

static int parse_lines(struct scenario *sc, const char *text, size_t len, const char *file,
		       struct scenario_error *err)
{
	size_t alloc = 0, off = 0;
	int ret = 0;

	for (int no = 1; off < len; no++) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		struct line l = { .no = no, .file = file, .err = err };
		char *s;

		/* A NUL in a line would hide the rest of it from every parser below. */
		if (memchr(text + off, 0, n))
			return fail(&l, (size_t)((const char *)memchr(text + off, 0, n) - (text + off)),
				    "a NUL byte in the line");
		s = clean_line(text + off, n);
		off += n + 1;
		if (!s)
			return -ENOMEM;
		if (!*s) {
			free(s);
			continue;
		}
		if (sc->n == SCENARIO_MAX_STEPS) {
			free(s);
			return whole_file_error(err, file, "more than %u steps", SCENARIO_MAX_STEPS);
		}
		ret = add_step(sc, &alloc);
		if (ret) {
			free(s);
			return ret;
		}
		sc->steps[sc->n].line = no;
		sc->steps[sc->n].text = s;
		sc->n++;
		ret = parse_one(&l, text + off - n - 1, s, &sc->steps[sc->n - 1]);
		if (ret)
			return ret;
	}
	if (!sc->n)
		return whole_file_error(err, file, "no steps (a step: 'at TIME STEP', 'on CONDITION STEP')");
	return 0;
}

struct scenario *scenario_parse(const char *text, size_t len, const char *file,
				struct scenario_error *err)
{
	struct scenario_error scratch;
	struct scenario *sc;
	int ret;

	if (!err)
		err = &scratch;
	*err = (struct scenario_error){ .file = file };
	if (len > SCENARIO_MAX_FILE) {
		whole_file_error(err, file, "larger than %u bytes", SCENARIO_MAX_FILE);
		errno = EINVAL;
		return NULL;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	ret = parse_lines(sc, text, len, file, err);
	if (ret) {
		scenario_free(sc);
		errno = -ret;
		return NULL;
	}
	return sc;
}

void scenario_free(struct scenario *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free_step(&s->steps[i]);
	free(s->steps);
	free(s);
}
