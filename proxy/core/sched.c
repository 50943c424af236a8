// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "sched.h"

#define GROUP_MAX 1024

struct sched_group {
	struct sched_group *next;
	uint32_t key;		/* whose group it is (a rule index); SCHED_KEY_NONE: no one's */
	uint32_t perm_key;	/* the key it opened with, which keys its permutation */
	uint32_t n;		/* size at which it releases */
	uint32_t count;
	uint64_t ordinal;	/* how many groups this key opened before */
	struct sched_entry *members[];
};

struct sched {
	struct sched_entry **heap;
	size_t len, max;
	uint64_t bytes, max_bytes;	/* held, and their bound (0 = none) */
	uint64_t next_seq;
	struct sched_group *open;	/* open groups, one per key */
	uint64_t *group_ordinals;	/* per key, grown on demand */
	size_t n_ordinals;
};

struct sched *sched_new(size_t max)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->heap = calloc(max ? max : 1, sizeof(*s->heap));
	if (!s->heap) {
		free(s);
		return NULL;
	}
	s->max = max;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	while (s->open) {
		struct sched_group *g = s->open;

		s->open = g->next;
		free(g);
	}
	free(s->group_ordinals);
	free(s->heap);
	free(s);
}

size_t sched_count(const struct sched *s)
{
	return s->len;
}

uint64_t sched_bytes(const struct sched *s)
{
	return s->bytes;
}

void sched_set_max_bytes(struct sched *s, uint64_t max_bytes)
{
	s->max_bytes = max_bytes;
}

/* Room for e? Every way into the heap asks this first. */
static int room_for(const struct sched *s, const struct sched_entry *e)
{
	if (s->len >= s->max)
		return -ENOSPC;
	/* With nothing held there is nothing to make room with: a large one waits alone. */
	if (s->max_bytes && s->len && s->bytes + e->bytes > s->max_bytes)
		return -ENOBUFS;
	return 0;
}

static bool less(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void place(struct sched *s, size_t i, struct sched_entry *e)
{
	s->heap[i] = e;
	e->heap_idx = (uint32_t)i;
}

static void sift_up(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!less(e, s->heap[p]))
			break;
		place(s, i, s->heap[p]);
		i = p;
	}
	place(s, i, e);
}

static void sift_down(struct sched *s, size_t i)
{
	struct sched_entry *e = s->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct sched_entry *best = e;

		if (l < s->len && less(s->heap[l], best)) {
			m = l;
			best = s->heap[l];
		}
		if (l + 1 < s->len && less(s->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		place(s, i, s->heap[m]);
		i = m;
	}
	place(s, i, e);
}

/* Bytes are counted here and in heap_remove, so a group's reshuffle leaves them unchanged. */
static void heap_insert(struct sched *s, struct sched_entry *e)
{
	s->bytes += e->bytes;
	place(s, s->len++, e);
	sift_up(s, s->len - 1);
}

static void heap_remove(struct sched *s, struct sched_entry *e)
{
	size_t i = e->heap_idx;
	struct sched_entry *last = s->heap[--s->len];

	s->bytes -= e->bytes;
	if (i == s->len)
		return;
	place(s, i, last);
	sift_down(s, i);
	sift_up(s, last->heap_idx);
}

int sched_push(struct sched *s, struct sched_entry *e, uint64_t deadline)
{
	int ret = room_for(s, e);

	if (ret)
		return ret;
	e->deadline = deadline;
	e->seq = s->next_seq++;
	e->group = NULL;
	heap_insert(s, e);
	return 0;
}

struct sched_entry *sched_peek(const struct sched *s)
{
	return s->len ? s->heap[0] : NULL;
}

static void group_unlink(struct sched *s, struct sched_group *g)
{
	for (struct sched_group **pp = &s->open; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			return;
		}
	}
}

/*
 * Release a group at 'now': its members get consecutive sequence numbers in
 * permuted order, so among themselves they leave in that order; each then
 * still serves any delay it was given on top of the reorder.
 */
static void group_flush(struct sched *s, struct sched_group *g, uint64_t now,
			const struct rng *rng)
{
	uint32_t perm[GROUP_MAX];
	uint64_t base = s->next_seq;

	rng_permute(rng, 0x72656f72ull ^ g->perm_key, g->ordinal, perm, g->count);
	s->next_seq += g->count;
	for (uint32_t i = 0; i < g->count; i++) {
		struct sched_entry *e = g->members[perm[i]];

		heap_remove(s, e);
		e->group = NULL;
		e->deadline = now + e->after_group_ns;
		e->seq = base + i;
		heap_insert(s, e);
	}
	group_unlink(s, g);
	free(g);
}

struct sched_entry *sched_pop(struct sched *s)
{
	struct sched_entry *e = sched_peek(s);

	if (!e)
		return NULL;
	heap_remove(s, e);
	if (e->group) {
		/* Leaving early (shutdown or bound): the rest of its group stays. */
		struct sched_group *g = e->group;

		for (uint32_t i = 0; i < g->count; i++) {
			if (g->members[i] == e) {
				g->members[i] = g->members[--g->count];
				break;
			}
		}
		e->group = NULL;
		if (!g->count) {
			group_unlink(s, g);
			free(g);
		}
	}
	return e;
}

struct sched_entry *sched_pop_due(struct sched *s, uint64_t now, const struct rng *rng)
{
	struct sched_entry *e;

	/*
	 * A due member flushes its group first. The new earliest entry can be
	 * a member of another group (another reorder rule) that is due too:
	 * it must flush its own group, not leave while that group still lists
	 * it, or the group would later read and move a released entry.
	 */
	while ((e = sched_peek(s)) && e->deadline <= now && e->group)
		group_flush(s, e->group, now, rng);
	if (!e || e->deadline > now)
		return NULL;
	heap_remove(s, e);
	return e;
}

static uint64_t next_ordinal(struct sched *s, uint32_t key)
{
	if (key >= s->n_ordinals) {
		size_t n = key + 16;
		uint64_t *o = realloc(s->group_ordinals, n * sizeof(*o));

		if (!o)
			return UINT64_MAX;
		for (size_t i = s->n_ordinals; i < n; i++)
			o[i] = 0;
		s->group_ordinals = o;
		s->n_ordinals = n;
	}
	return s->group_ordinals[key]++;
}

int sched_reorder_add(struct sched *s, uint32_t key, uint32_t n, uint64_t timeout_ns,
		      struct sched_entry *e, uint64_t now, const struct rng *rng)
{
	struct sched_group *g;
	int ret = room_for(s, e);

	if (ret)
		return ret;
	if (n < 2)
		n = 2;
	if (n > GROUP_MAX)
		n = GROUP_MAX;
	for (g = s->open; g; g = g->next)
		if (g->key == key)
			break;
	if (!g) {
		uint64_t ord = next_ordinal(s, key);

		if (ord == UINT64_MAX)
			return -ENOMEM;
		g = calloc(1, sizeof(*g) + n * sizeof(g->members[0]));
		if (!g)
			return -ENOMEM;
		g->key = key;
		g->perm_key = key;
		g->n = n;
		g->ordinal = ord;
		g->next = s->open;
		s->open = g;
	}
	/*
	 * Every member waits until the group's first member times out, so "never
	 * hold one longer than T" holds for all of them.
	 */
	e->deadline = g->count ? g->members[0]->deadline : now + timeout_ns;
	e->seq = s->next_seq++;
	e->group = g;
	g->members[g->count++] = e;
	heap_insert(s, e);
	if (g->count >= g->n)
		group_flush(s, g, now, rng);
	return 0;
}

void sched_foreach(struct sched *s, sched_entry_cb cb, void *data)
{
	for (size_t i = 0; i < s->len; i++)
		cb(s->heap[i], data);
}

void sched_rekey(struct sched *s, const int *map, size_t n)
{
	/*
	 * Only the lookup key moves: the permutation and the ordinal stay
	 * those the group opened with, and the group keeps its size and
	 * deadline, so what it holds leaves as it would have.
	 */
	for (struct sched_group *g = s->open; g; g = g->next) {
		if (g->key < n && map[g->key] >= 0)
			g->key = (uint32_t)map[g->key];
		else
			g->key = SCHED_KEY_NONE;
	}
}
