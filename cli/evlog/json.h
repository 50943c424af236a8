/* SPDX-License-Identifier: MIT */
/*
 * evlog_json: the small strict JSON reader under evlog (one value per
 * call, a tree in reusable buffers). Pure: no I/O. Included by evlog.h;
 * the fuzzer and the unit tests call it directly.
 */
#ifndef FL_EVLOG_JSON_H
#define FL_EVLOG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum evlog_jtype {
	EVLOG_J_NULL,
	EVLOG_J_BOOL,
	EVLOG_J_NUM,
	EVLOG_J_STR,
	EVLOG_J_ARR,
	EVLOG_J_OBJ,
};

struct evlog_jval {
	enum evlog_jtype type;
	uint32_t n;		/* string bytes, or array/object members */
	uint32_t child;		/* first member (index; internal) */
	uint32_t next;		/* next sibling (index; internal) */
	const char *key;	/* member name inside an object, else NULL */
	union {
		bool b;
		double num;
		const char *str; /* decoded UTF-8, NUL-terminated */
	};
};

/* A parsed value and the buffers it lives in; zero-initialize before use. */
struct evlog_json {
	struct evlog_jval *v;
	uint32_t nv, cap;
	char *str;
	size_t str_cap;
	size_t err_off;		/* after an error: byte offset in the text */
	const char *err;	/* after an error: what was wrong (static string) */
};

/*
 * Parse exactly one JSON value (RFC 8259; surrounding white space allowed)
 * from text[0..len). Replaces the previous tree; values stay valid until
 * the next parse or close. Returns 0, -EBADMSG (err, err_off set) or -ENOMEM.
 */
int evlog_json_parse(struct evlog_json *j, const char *text, size_t len);
void evlog_json_close(struct evlog_json *j);
/* The top value of the last successful parse. Borrowed. */
const struct evlog_jval *evlog_json_root(const struct evlog_json *j);
/* The first member named key of object obj, or NULL (also when obj is not an object). */
const struct evlog_jval *evlog_json_get(const struct evlog_json *j, const struct evlog_jval *obj,
					const char *key);
/* Iterate the members of an array or object: first, then next until NULL. */
const struct evlog_jval *evlog_json_first(const struct evlog_json *j, const struct evlog_jval *v);
const struct evlog_jval *evlog_json_next(const struct evlog_json *j, const struct evlog_jval *v);

#endif
