/* SPDX-License-Identifier: MIT */
/*
 * sched: the held-packet scheduler. A min-heap of entries ordered by
 * (deadline, seq): equal deadlines come out in insertion order, which makes
 * release order reproducible for reorder and replay. Reorder groups live here
 * too: members wait in the heap until their group fills or times out, then
 * leave in a keyed random permutation.
 *
 * Pure: entries are embedded in the caller's objects (container_of) and time
 * is passed in, so the same code runs on the live loop and on replay.
 */
#ifndef FL_SCHED_H
#define FL_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

struct sched_group;

struct sched_entry {
	uint64_t deadline;	/* absolute, ns */
	uint64_t seq;		/* tie-break, assigned by sched */
	uint32_t bytes;		/* set by the caller before it holds e: counted against max_bytes */
	uint32_t heap_idx;	/* private */
	uint64_t after_group_ns; /* extra hold once a reorder group releases it */
	struct sched_group *group; /* non-NULL while waiting in a reorder group */
};

struct sched;

/* A scheduler holding at most max entries. NULL + errno on failure. */
struct sched *sched_new(size_t max);
/* Frees the scheduler and its groups, not the entries (the caller owns them). */
void sched_free(struct sched *s);

size_t sched_count(const struct sched *s);
/* Bytes of the entries held (their 'bytes'). */
uint64_t sched_bytes(const struct sched *s);
/*
 * Bound the bytes held: an entry that would take them past max_bytes is
 * refused (-ENOBUFS), unless nothing is held (one larger entry may wait
 * alone). 0 = no bound, the default.
 */
void sched_set_max_bytes(struct sched *s, uint64_t max_bytes);

/*
 * Hold e until deadline. Returns 0, -ENOSPC at the bound on entries or
 * -ENOBUFS at the bound on bytes: the caller makes room (sched_pop) and
 * tries again.
 */
int sched_push(struct sched *s, struct sched_entry *e, uint64_t deadline);
/* Earliest entry or NULL. Borrowed. */
struct sched_entry *sched_peek(const struct sched *s);
/*
 * Take the earliest entry if its deadline is <= now, else NULL. A reorder
 * group member that comes due by its timeout flushes its whole group first
 * (so a partial group still leaves permuted); the caller just keeps popping.
 */
struct sched_entry *sched_pop_due(struct sched *s, uint64_t now, const struct rng *rng);
/* Take the earliest entry regardless of time (shutdown, bound). */
struct sched_entry *sched_pop(struct sched *s);

/*
 * Put e (not yet in the heap) into the open reorder group of 'key' (a rule
 * index): a group holds up to n entries and none longer than timeout_ns.
 * When the group fills it is released at 'now' in a permutation keyed by
 * (key, group ordinal). Returns 0 or -ENOSPC/-ENOBUFS (as sched_push)/-ENOMEM.
 */
int sched_reorder_add(struct sched *s, uint32_t key, uint32_t n, uint64_t timeout_ns,
		      struct sched_entry *e, uint64_t now, const struct rng *rng);

typedef void (*sched_entry_cb)(struct sched_entry *e, void *data);
/* Call cb on every entry held, in no particular order; cb must not change the scheduler. */
void sched_foreach(struct sched *s, sched_entry_cb cb, void *data);

/* A group key no caller uses: a group whose owner is gone. */
#define SCHED_KEY_NONE UINT32_MAX
/*
 * The keys changed (a new rule set): the open group of key k is now key
 * map[k]'s, or no one's (SCHED_KEY_NONE) when k >= n or map[k] < 0; new
 * entries of a key then join the group it took over. Cannot fail.
 */
void sched_rekey(struct sched *s, const int *map, size_t n);

#endif
