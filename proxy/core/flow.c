// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "hot.h"

#define PROBE_LIMIT 16

struct slot {
	struct pkt_flow_key key;
	uint64_t hash;		/* 0 = empty (a real hash of 0 is remapped to 1) */
	uint64_t ordinal[2];
	uint64_t last_ns;
	uint8_t user[FLOW_SLOT_BYTES];	/* the caller's */
};

/*
 * The table starts small and doubles while it fills, up to twice max: a
 * packet's slot is then one of few pages, not anywhere in megabytes. After
 * an idle spell every packet's first touch of the table is a cache and TLB
 * miss, and in a VM the latter is a two-level page walk.
 */
#define INITIAL_SLOTS 64u

struct flow_table {
	struct slot *slots;
	uint32_t mask;		/* slots - 1, a power of two */
	uint32_t full;		/* the final size: a power of two >= 2 * max */
	uint32_t max, count;
	uint64_t evictions;
};

struct flow_table *flow_table_new(uint32_t max)
{
	struct flow_table *t = calloc(1, sizeof(*t));
	uint32_t n = 16;

	if (!t)
		return NULL;
	if (max < 8)
		max = 8;
	/* Half-full at most keeps linear probes short. */
	while (n < 2 * max)
		n <<= 1;
	t->full = n;
	if (n > INITIAL_SLOTS)
		n = INITIAL_SLOTS;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = n - 1;
	t->max = max;
	return t;
}

/* The first empty slot on h's linear probe (the table always has one). */
static uint32_t free_slot(const struct slot *s, uint32_t mask, uint64_t h)
{
	uint32_t i;

	for (i = (uint32_t)h & mask; s[i].hash; i = (i + 1) & mask)
		;
	return i;
}

/* Double the table, keeping it at most half full; on ENOMEM it stays as it is. */
static void grow(struct flow_table *t)
{
	uint32_t n = (t->mask + 1) * 2;
	struct slot *old = t->slots, *s = calloc(n, sizeof(*s));

	if (!s)
		return;
	for (uint32_t i = 0; i <= t->mask; i++)
		if (old[i].hash)
			s[free_slot(s, n - 1, old[i].hash)] = old[i];
	t->slots = s;
	t->mask = n - 1;
	free(old);
}

void flow_table_free(struct flow_table *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

static bool key_eq(const struct pkt_flow_key *a, const struct pkt_flow_key *b)
{
	return a->family == b->family && a->l4proto == b->l4proto && a->aport == b->aport &&
	       a->bport == b->bport && !memcmp(a->a, b->a, 16) && !memcmp(a->b, b->b, 16);
}

/* Backward-shift deletion keeps linear probing correct without tombstones. */
static void remove_at(struct flow_table *t, uint32_t i)
{
	uint32_t j = i;

	t->slots[i].hash = 0;
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->slots[j].hash)
			break;
		uint32_t home = (uint32_t)t->slots[j].hash & t->mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		bool stay = i <= j ? (i < home && home <= j) : (i < home || home <= j);

		if (stay)
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j].hash = 0;
		i = j;
	}
	t->count--;
}

static void evict_one(struct flow_table *t, uint32_t near)
{
	uint32_t victim = UINT32_MAX;
	uint64_t oldest = UINT64_MAX;

	for (uint32_t k = 0, i = near; k <= t->mask && k < 4 * PROBE_LIMIT; k++, i = (i + 1) & t->mask) {
		if (t->slots[i].hash && t->slots[i].last_ns < oldest) {
			oldest = t->slots[i].last_ns;
			victim = i;
		}
	}
	if (victim == UINT32_MAX) {
		/* Nothing near: take the first occupied slot anywhere. */
		for (uint32_t i = 0; i <= t->mask; i++)
			if (t->slots[i].hash) {
				victim = i;
				break;
			}
	}
	if (victim != UINT32_MAX) {
		remove_at(t, victim);
		t->evictions++;
	}
}

FL_HOT void *flow_table_identify(struct flow_table *t, const struct pkt_view *v, uint64_t now_ns,
				 struct flow_id *id)
{
	struct pkt_flow_key key;
	bool swapped;
	uint64_t h;
	uint32_t i;

	pkt_flow_key(v, &key, &swapped);
	h = pkt_flow_hash(&key);
	if (!h)
		h = 1;
	id->hash = h;
	id->way = swapped ? 1 : 0;

	for (i = (uint32_t)h & t->mask; t->slots[i].hash; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];

		if (s->hash == h && key_eq(&s->key, &key)) {
			s->last_ns = now_ns;
			id->ordinal = ++s->ordinal[id->way];
			return s->user;
		}
	}
	if (t->count + 1 > (t->mask + 1) / 2 && t->mask + 1 < t->full) {
		grow(t);
		i = free_slot(t->slots, t->mask, h);
	}
	/* At the cap, or when growing failed and one free slot is all that is left. */
	if (t->count >= t->max || t->count >= t->mask) {
		evict_one(t, (uint32_t)h & t->mask);
		/* The eviction may have shifted slots: find a free one again. */
		i = free_slot(t->slots, t->mask, h);
	}
	struct slot *s = &t->slots[i];

	s->key = key;
	s->hash = h;
	s->ordinal[0] = s->ordinal[1] = 0;
	s->last_ns = now_ns;
	memset(s->user, 0, sizeof(s->user));
	t->count++;
	id->ordinal = ++s->ordinal[id->way];
	return s->user;
}

uint64_t flow_table_evictions(const struct flow_table *t)
{
	return t->evictions;
}

uint32_t flow_table_count(const struct flow_table *t)
{
	return t->count;
}
