// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hot.h"
#include "index.h"
#include "memo.h"
#include "rule.h"

/* What one rule's filter is in one class. */
enum mode {
	M_NEVER = 0,	/* no packet of the class matches */
	M_ALWAYS,	/* a candidate for every packet of the class */
	M_FACTS,	/* a candidate for packets with one of its facts */
};

struct cls_entry {
	uint8_t mode;
	uint8_t n;
	struct rule_memo_fact *f;	/* n facts, owned */
};

/* A rule's analysis, kept so that a removal refiles the rules without redoing it. */
struct entry {
	struct cls_entry c[RULE_MEMO_NCLASS];
};

/* The rules filed under one field's value; key 0 marks an empty slot. */
struct bucket {
	uint64_t key;		/* KEY_USED | field << 32 | value */
	uint32_t *ids;		/* ascending */
	uint32_t n, cap;
};

#define KEY_USED (1ull << 63)

struct field {
	uint16_t off;
	uint8_t size;
};

struct cls_index {
	struct field fields[RULE_INDEX_DIMS];
	unsigned nfields;
	struct bucket *tab;	/* open addressing, at most half full */
	uint32_t nslots, used;
	uint32_t *always;	/* ascending */
	uint32_t nalways, capalways;
};

struct rule_index {
	struct entry *e;
	size_t n, cap;
	struct cls_index cls[RULE_MEMO_NCLASS];
	bool broken;		/* memory ran out: every rule is a candidate */
};

struct rule_index *rule__index_new(void)
{
	return calloc(1, sizeof(struct rule_index));
}

static void entry_close(struct entry *e)
{
	for (int k = 0; k < RULE_MEMO_NCLASS; k++)
		free(e->c[k].f);
}

static void tables_clear(struct rule_index *ix)
{
	for (int k = 0; k < RULE_MEMO_NCLASS; k++) {
		struct cls_index *ci = &ix->cls[k];

		for (uint32_t s = 0; s < ci->nslots; s++)
			free(ci->tab[s].ids);
		free(ci->tab);
		free(ci->always);
		memset(ci, 0, sizeof(*ci));
	}
}

void rule__index_free(struct rule_index *ix)
{
	if (!ix)
		return;
	tables_clear(ix);
	for (size_t i = 0; i < ix->n; i++)
		entry_close(&ix->e[i]);
	free(ix->e);
	free(ix);
}

/* Keys are a field number and a value: a multiplicative hash spreads both. */
static inline uint32_t slot_of(uint64_t key, uint32_t nslots)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (nslots - 1);
}

static inline uint64_t key_of(unsigned field, uint32_t val)
{
	return KEY_USED | (uint64_t)field << 32 | val;
}

FL_HOT static const struct bucket *bucket_find(const struct cls_index *ci, uint64_t key)
{
	uint32_t s;

	if (!ci->nslots)
		return NULL;
	for (s = slot_of(key, ci->nslots); ci->tab[s].key; s = (s + 1) & (ci->nslots - 1))
		if (ci->tab[s].key == key)
			return &ci->tab[s];
	return NULL;
}

static int grow(struct cls_index *ci)
{
	uint32_t nslots = ci->nslots ? ci->nslots * 2 : 64;
	struct bucket *tab = calloc(nslots, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t s = 0; s < ci->nslots; s++) {
		uint32_t t;

		if (!ci->tab[s].key)
			continue;
		for (t = slot_of(ci->tab[s].key, nslots); tab[t].key; t = (t + 1) & (nslots - 1))
			;
		tab[t] = ci->tab[s];
	}
	free(ci->tab);
	ci->tab = tab;
	ci->nslots = nslots;
	return 0;
}

/* Append id to a sorted list unless it ends with it already. 0 or -ENOMEM. */
static int list_add(uint32_t **ids, uint32_t *n, uint32_t *cap, uint32_t id)
{
	if (*n && (*ids)[*n - 1] == id)
		return 0;
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 2;
		uint32_t *p = realloc(*ids, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*ids = p;
		*cap = c;
	}
	(*ids)[(*n)++] = id;
	return 0;
}

static int file_under(struct cls_index *ci, uint64_t key, uint32_t id)
{
	uint32_t s;

	if (2 * (ci->used + 1) > ci->nslots && grow(ci) < 0)
		return -ENOMEM;
	for (s = slot_of(key, ci->nslots); ci->tab[s].key && ci->tab[s].key != key;
	     s = (s + 1) & (ci->nslots - 1))
		;
	if (!ci->tab[s].key) {
		ci->tab[s].key = key;
		ci->used++;
	}
	return list_add(&ci->tab[s].ids, &ci->tab[s].n, &ci->tab[s].cap, id);
}

/* The field's number in the class, a new one if there is room, or -1. */
static int field_of(struct cls_index *ci, const struct rule_memo_fact *f, bool add)
{
	for (unsigned i = 0; i < ci->nfields; i++)
		if (ci->fields[i].off == f->off && ci->fields[i].size == f->size)
			return (int)i;
	if (!add || ci->nfields == RULE_INDEX_DIMS)
		return -1;
	ci->fields[ci->nfields] = (struct field){ f->off, f->size };
	return (int)ci->nfields++;
}

/* File rule id of class entry ce. 0 or -ENOMEM. */
static int file_rule(struct cls_index *ci, const struct cls_entry *ce, uint32_t id)
{
	unsigned fresh = 0;

	if (ce->mode == M_NEVER)
		return 0;
	if (ce->mode == M_FACTS) {
		/* All its facts need a field of the class, or it is always a candidate. */
		for (unsigned i = 0; i < ce->n; i++)
			if (field_of(ci, &ce->f[i], false) < 0)
				fresh++;
		if (ci->nfields + fresh <= RULE_INDEX_DIMS) {
			for (unsigned i = 0; i < ce->n; i++) {
				int fd = field_of(ci, &ce->f[i], true);

				if (file_under(ci, key_of((unsigned)fd, ce->f[i].val), id) < 0)
					return -ENOMEM;
			}
			return 0;
		}
	}
	return list_add(&ci->always, &ci->nalways, &ci->capalways, id);
}

static void file_all(struct rule_index *ix)
{
	tables_clear(ix);
	for (size_t i = 0; i < ix->n && !ix->broken; i++)
		for (int k = 0; k < RULE_MEMO_NCLASS && !ix->broken; k++)
			if (file_rule(&ix->cls[k], &ix->e[i].c[k], (uint32_t)i) < 0)
				ix->broken = true;
	if (ix->broken)
		tables_clear(ix);
}

/* Rule r's filter in class k. 0 or -ENOMEM. */
static int analyse(const struct rule *r, int k, struct cls_entry *ce)
{
	struct rule_memo_witness w;

	ce->mode = M_ALWAYS;
	/* No filter matches everything; a program the analysis cannot follow, anything. */
	if (!r->filter || !rule_memo_witness(r->filter, k, &w) || w.any)
		return 0;
	if (!w.n) {
		ce->mode = M_NEVER;
		return 0;
	}
	ce->f = malloc(w.n * sizeof(*ce->f));
	if (!ce->f)
		return -ENOMEM;
	memcpy(ce->f, w.f, w.n * sizeof(*ce->f));
	ce->n = w.n;
	ce->mode = M_FACTS;
	return 0;
}

void rule__index_append(struct rule_index *ix, const struct rule *r)
{
	struct entry e = { 0 };

	if (!ix || ix->broken)
		return;
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap * 2 : 16;
		struct entry *p = realloc(ix->e, cap * sizeof(*p));

		if (!p)
			goto broken;
		ix->e = p;
		ix->cap = cap;
	}
	for (int k = 0; k < RULE_MEMO_NCLASS; k++)
		if (analyse(r, k, &e.c[k]) < 0)
			goto broken_entry;
	ix->e[ix->n++] = e;
	for (int k = 0; k < RULE_MEMO_NCLASS; k++)
		if (file_rule(&ix->cls[k], &e.c[k], r->index) < 0)
			goto broken;
	return;

broken_entry:
	entry_close(&e);
broken:
	/* From now on a linear scan: slower, never wrong. */
	ix->broken = true;
	tables_clear(ix);
}

void rule__index_truncate(struct rule_index *ix, size_t n)
{
	if (!ix || n >= ix->n)
		return;
	while (ix->n > n)
		entry_close(&ix->e[--ix->n]);
	file_all(ix);
}

void rule__index_remove(struct rule_index *ix, size_t i)
{
	if (!ix || i >= ix->n)
		return;
	entry_close(&ix->e[i]);
	memmove(&ix->e[i], &ix->e[i + 1], (ix->n - i - 1) * sizeof(*ix->e));
	ix->n--;
	file_all(ix);
}

/* The field's value in v, big-endian as BPF loads it; false when v is too short. */
static inline bool field_value(const struct pkt_view *v, const struct field *f, uint32_t *val)
{
	const uint8_t *d = v->data + f->off;

	/* A load past the copy ends the program with "no match": no fact held. */
	if ((uint32_t)f->off + f->size > v->len)
		return false;
	if (f->size == 1)
		*val = d[0];
	else if (f->size == 2)
		*val = (uint32_t)d[0] << 8 | d[1];
	else
		*val = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
	return true;
}

FL_HOT void rule__index_cands(const struct rule_index *ix, size_t n, const struct pkt_view *v,
			      struct rule_cands *c)
{
	const struct cls_index *ci;
	int cls;

	/* The index covers the rules it saw; anything else is scanned whole. */
	cls = ix && !ix->broken && ix->n == n ? rule_memo_class(v) : RULE_MEMO_NONE;
	if (cls < 0) {
		rule_cands_all(c, n);
		return;
	}
	ci = &ix->cls[cls];
	c->all = false;
	c->n = 0;
	if (ci->nalways) {
		c->at[0] = ci->always;
		c->end[0] = ci->always + ci->nalways;
		c->n = 1;
	}
	for (unsigned i = 0; i < ci->nfields; i++) {
		const struct bucket *b;
		uint32_t val;

		if (!field_value(v, &ci->fields[i], &val))
			continue;
		b = bucket_find(ci, key_of(i, val));
		if (!b)
			continue;
		c->at[c->n] = b->ids;
		c->end[c->n] = b->ids + b->n;
		c->n++;
	}
}
