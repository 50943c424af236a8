// SPDX-License-Identifier: MIT
/*
 * wait_fuzz: the condition parser and evaluator of `ctl wait` and scenario
 * triggers. The input's first line is a condition, its second the counters
 * JSON to start from, the rest event lines. A condition is refused with a
 * column inside the text and a message, or parses into terms whose texts
 * are parts of it; whatever follows is evaluated without a crash, and a
 * refused start leaves nothing met.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wait.h"

#define MAX_INPUT 8192

static char *line_of(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = strndup(*p, n);

	if (!s)
		abort();
	*p += nl ? n + 1 : n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct wait_error e;
	struct wait *w;
	char *cond, *stats;

	if (size > MAX_INPUT)
		return 0;
	cond = line_of(&p, end);
	stats = line_of(&p, end);
	w = wait_parse(cond, &e);
	if (!w) {
		/* Embedded NULs end the text early; the column is within what the parser saw. */
		if (e.col < 1 || (size_t)e.col > strlen(cond) + 1 || !e.msg[0])
			abort();
		goto out;
	}
	if (wait_terms(w) < 1 || wait_terms(w) > WAIT_MAX_TERMS)
		abort();
	for (unsigned i = 0; i < wait_terms(w); i++)
		if (!strstr(cond, wait_term_text(w, i)))
			abort();
	if (wait_start(w, stats, strlen(stats), &e)) {
		if (!e.msg[0])
			abort();
		wait_feed_lines(w, p, (size_t)(end - p));
		if (wait_met(w))
			abort();
	} else {
		wait_feed_lines(w, p, (size_t)(end - p));
		wait_feed_stats(w, stats, strlen(stats));
		(void)wait_met(w);
	}
	wait_free(w);
out:
	free(cond);
	free(stats);
	return 0;
}
