// SPDX-License-Identifier: MIT
/*
 * evlog log: the log object, its memory and its accessors. Strings from
 * the file are interned into an arena that lives as long as the log: a
 * file names the same few addresses, states and actions on every line,
 * and the records keep borrowed pointers to them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- memory: an arena and an intern table -------------------------------------- */

void *evlog__arena_alloc(struct evlog *log, size_t n)
{
	struct evlog__chunk *c = log->arena;
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

size_t evlog__smap_slot(const struct evlog__smap *m, const char *s, size_t n)
{
	size_t i = hash_str(s, n) & (m->cap - 1);

	while (m->keys[i] && (strncmp(m->keys[i], s, n) || m->keys[i][n]))
		i = (i + 1) & (m->cap - 1);
	return i;
}

int evlog__smap_grow(struct evlog__smap *m)
{
	struct evlog__smap g = { .cap = m->cap ? m->cap * 2 : 256 };

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
		k = evlog__smap_slot(&g, m->keys[i], strlen(m->keys[i]));
		g.keys[k] = m->keys[i];
		g.vals[k] = m->vals[i];
	}
	g.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = g;
	return 0;
}

void evlog__smap_free(struct evlog__smap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

const char *evlog__intern_n(struct evlog *log, const char *s, size_t n)
{
	struct evlog__smap *m = &log->strs;
	size_t i;
	char *copy;

	/*
	 * A decoded JSON string may hold a NUL (\u0000). Every user reads a C
	 * string, and the map compares keys as C strings: a key that ended
	 * early would be read past its end.
	 */
	n = strnlen(s, n);
	if (m->n * 2 >= m->cap && evlog__smap_grow(m))
		return NULL;
	i = evlog__smap_slot(m, s, n);
	if (m->keys[i])
		return m->keys[i];
	copy = evlog__arena_alloc(log, n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	m->keys[i] = copy;
	m->n++;
	return copy;
}

const char *evlog__intern(struct evlog *log, const char *s)
{
	return evlog__intern_n(log, s, strlen(s));
}

int evlog__grow(void **arr, size_t *cap, size_t n, size_t size)
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

/* ---- the log ------------------------------------------------------------------- */

struct evlog *evlog_new(void)
{
	return calloc(1, sizeof(struct evlog));
}

void evlog_free(struct evlog *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->n_convs; i++) {
		free(log->convs[i].pkts);
		free(log->convs[i].trks);
		free(log->convs[i].rows);
	}
	free(log->convs);
	free(log->pkts);
	free(log->trks);
	free(log->rels);
	evlog__smap_free(&log->strs);
	while (log->arena) {
		struct evlog__chunk *c = log->arena;

		log->arena = c->next;
		free(c);
	}
	evlog_json_close(&log->j);
	free(log);
}

/* ---- accessors ------------------------------------------------------------------ */

size_t evlog_n_pkts(const struct evlog *log)
{
	return log->n_pkts;
}

size_t evlog_n_trks(const struct evlog *log)
{
	return log->n_trks;
}

size_t evlog_n_convs(const struct evlog *log)
{
	return log->n_convs;
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

const struct evlog_conv *evlog_conv(const struct evlog *log, size_t i)
{
	return i < log->n_convs ? &log->convs[i] : NULL;
}

const struct evlog_conv *evlog_conv_by_id(const struct evlog *log, unsigned id)
{
	for (size_t i = 0; i < log->n_convs; i++)
		if (log->convs[i].id == id)
			return &log->convs[i];
	return NULL;
}
