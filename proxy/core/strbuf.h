/* SPDX-License-Identifier: MIT */
/*
 * strbuf: text built piece by piece with printf.
 *  - struct strbuf grows on the heap (counters JSON, iptables scripts);
 *    after an allocation failure it stops and says so in 'oom'.
 *  - struct strbuf_fixed writes into the caller's buffer with snprintf's
 *    contract: it never overflows, always terminates, and 'len' keeps
 *    counting what the whole text needs (rule_print, track_event_json).
 */
#ifndef FL_STRBUF_H
#define FL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p;		/* owned; NUL-terminated once anything was added */
	size_t len, cap;
	bool oom;
};

void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_add(struct strbuf *b, const char *s, size_t n);
/*
 * Append s (borrowed) as the body of a JSON string: '"' and '\\' escaped,
 * control characters as \u00XX, everything else as it is.
 */
void strbuf_add_json(struct strbuf *b, const char *s);
/* Hand over the text (caller frees), or NULL after an allocation failure. */
char *strbuf_take(struct strbuf *b);
void strbuf_free(struct strbuf *b);

struct strbuf_fixed {
	char *buf;		/* borrowed */
	size_t size;
	size_t len;		/* what the text needs, which may exceed size */
};

void strbuf_fixed_printf(struct strbuf_fixed *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
