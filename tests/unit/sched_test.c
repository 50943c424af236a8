// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "sched.h"

static struct rng R = { .seed = 42 };

Test(sched, pops_in_deadline_then_insertion_order)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[6] = { 0 };
	uint64_t dl[6] = { 50, 10, 30, 10, 20, 30 };
	int want[6] = { 1, 3, 4, 2, 5, 0 };

	for (int i = 0; i < 6; i++)
		cr_assert_eq(sched_push(s, &e[i], dl[i]), 0);
	cr_assert_eq(sched_count(s), 6);
	for (int i = 0; i < 6; i++) {
		struct sched_entry *x = sched_pop_due(s, 100, &R);

		cr_assert_not_null(x);
		cr_assert_eq(x - e, want[i], "pop %d gave entry %td, want %d", i, x - e, want[i]);
	}
	cr_assert_null(sched_pop_due(s, 100, &R));
	sched_free(s);
}

Test(sched, nothing_before_its_deadline)
{
	struct sched *s = sched_new(4);
	struct sched_entry a = { 0 };

	sched_push(s, &a, 1000);
	cr_assert_null(sched_pop_due(s, 999, &R));
	cr_assert_eq(sched_pop_due(s, 1000, &R), &a);
	sched_free(s);
}

Test(sched, bound_is_enforced)
{
	struct sched *s = sched_new(2);
	struct sched_entry e[3] = { 0 };

	cr_assert_eq(sched_push(s, &e[0], 1), 0);
	cr_assert_eq(sched_push(s, &e[1], 2), 0);
	cr_assert_eq(sched_push(s, &e[2], 3), -ENOSPC);
	cr_assert_eq(sched_pop(s), &e[0]);
	cr_assert_eq(sched_push(s, &e[2], 3), 0);
	sched_free(s);
}

Test(sched, random_heap_stays_sorted)
{
	enum { N = 2000 };
	struct sched *s = sched_new(N);
	struct sched_entry *e = calloc(N, sizeof(*e));
	uint64_t last = 0;

	srand(7);
	for (int i = 0; i < N; i++)
		sched_push(s, &e[i], (uint64_t)(rand() % 500));
	for (int i = 0; i < N; i++) {
		struct sched_entry *x = sched_pop(s);

		cr_assert_geq(x->deadline, last);
		last = x->deadline;
	}
	free(e);
	sched_free(s);
}

/* Release order of one full group of n, as entry indexes. */
static void group_order(uint64_t seed, uint32_t n, int *out)
{
	struct rng r = { .seed = seed };
	struct sched *s = sched_new(64);
	struct sched_entry e[16] = { 0 };

	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(sched_reorder_add(s, 0, n, 100000, &e[i], 10, &r), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct sched_entry *x = sched_pop_due(s, 10, &r);

		cr_assert_not_null(x, "full group must be released at once");
		out[i] = (int)(x - e);
	}
	sched_free(s);
}

Test(sched, reorder_group_is_a_seeded_permutation)
{
	int a[8], b[8], c[8], seen[8] = { 0 };
	bool differs = false, moved = false;

	group_order(1, 8, a);
	group_order(1, 8, b);
	group_order(2, 8, c);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(a[i], b[i], "same seed, same permutation");
		seen[a[i]]++;
		differs |= a[i] != c[i];
		moved |= a[i] != i;
	}
	for (int i = 0; i < 8; i++)
		cr_assert_eq(seen[i], 1);
	cr_assert(differs, "another seed gives another permutation");
	cr_assert(moved, "a permutation of 8 should move something");
}

Test(sched, partial_group_leaves_at_timeout)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[3] = { 0 };
	int seen[3] = { 0 };

	for (int i = 0; i < 3; i++)
		sched_reorder_add(s, 5, 4, 100, &e[i], 1000 + (uint64_t)i, &R);
	cr_assert_null(sched_pop_due(s, 1099, &R), "held until the first member's timeout");
	for (int i = 0; i < 3; i++) {
		struct sched_entry *x = sched_pop_due(s, 1100, &R);

		cr_assert_not_null(x);
		seen[x - e]++;
	}
	cr_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	cr_assert_eq(sched_count(s), 0);
	sched_free(s);
}

Test(sched, group_member_keeps_its_extra_delay)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[2] = { 0 };

	e[0].after_group_ns = 500;
	sched_reorder_add(s, 0, 2, 100, &e[0], 0, &R);
	sched_reorder_add(s, 0, 2, 100, &e[1], 0, &R);
	cr_assert_eq(sched_pop_due(s, 0, &R), &e[1]);
	cr_assert_null(sched_pop_due(s, 499, &R));
	cr_assert_eq(sched_pop_due(s, 500, &R), &e[0]);
	sched_free(s);
}

Test(sched, early_pop_of_group_member_keeps_the_rest)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[3] = { 0 };

	for (int i = 0; i < 3; i++)
		sched_reorder_add(s, 0, 4, 100, &e[i], 0, &R);
	cr_assert_not_null(sched_pop(s));
	cr_assert_eq(sched_count(s), 2);
	cr_assert_not_null(sched_pop_due(s, 100, &R));
	cr_assert_not_null(sched_pop_due(s, 100, &R));
	cr_assert_eq(sched_count(s), 0);
	sched_free(s);
}

/*
 * Two reorder rules' groups time out before one release round: flushing
 * the first must not hand out the second's member while its group still
 * lists it (the soak found a use-after-free there). Every entry leaves
 * free of its group, and the next packet of the second rule opens a fresh
 * group with its own timeout.
 */
Test(sched, two_groups_due_at_once_both_flush)
{
	struct sched *s = sched_new(16);
	struct sched_entry a = { 0 }, b = { 0 }, c = { 0 };
	struct sched_entry *x;

	cr_assert_eq(sched_reorder_add(s, 1, 4, 100, &a, 0, &R), 0);
	cr_assert_eq(sched_reorder_add(s, 2, 4, 100, &b, 10, &R), 0);
	for (int i = 0; i < 2; i++) {
		x = sched_pop_due(s, 200, &R);
		cr_assert_not_null(x);
		cr_assert_null(x->group, "entry %s left while still in its group", x == &a ? "a" : "b");
	}
	cr_assert_eq(sched_count(s), 0);
	cr_assert_eq(sched_reorder_add(s, 2, 4, 100, &c, 300, &R), 0);
	cr_assert_eq(c.deadline, 400, "joined a stale group: deadline %llu",
		     (unsigned long long)c.deadline);
	cr_assert_null(sched_pop_due(s, 399, &R));
	cr_assert_eq(sched_pop_due(s, 400, &R), &c);
	sched_free(s);
}

Test(sched, byte_bound_refuses_what_would_pass_it)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[4] = { { .bytes = 600 }, { .bytes = 400 }, { .bytes = 1 }, { .bytes = 500 } };

	sched_set_max_bytes(s, 1000);
	cr_assert_eq(sched_push(s, &e[0], 10), 0);
	cr_assert_eq(sched_push(s, &e[1], 20), 0);
	cr_assert_eq(sched_bytes(s), 1000);
	/* Full to the byte: one more byte is refused, with the bytes error, not the count's. */
	cr_assert_eq(sched_push(s, &e[2], 30), -ENOBUFS);
	cr_assert_eq(sched_count(s), 2);
	/* Making room is the caller's: the soonest due leaves, then it fits. */
	cr_assert_eq(sched_pop(s), &e[0]);
	cr_assert_eq(sched_bytes(s), 400);
	cr_assert_eq(sched_push(s, &e[3], 5), 0);
	cr_assert_eq(sched_bytes(s), 900);
	cr_assert_eq(sched_pop_due(s, 100, &R), &e[3]);
	cr_assert_eq(sched_pop_due(s, 100, &R), &e[1]);
	cr_assert_eq(sched_bytes(s), 0);
	sched_free(s);
}

Test(sched, one_entry_larger_than_the_byte_bound_waits_alone)
{
	struct sched *s = sched_new(16);
	struct sched_entry big = { .bytes = 5000 }, small = { .bytes = 1 };

	sched_set_max_bytes(s, 1000);
	cr_assert_eq(sched_push(s, &big, 10), 0);
	cr_assert_eq(sched_push(s, &small, 20), -ENOBUFS);
	cr_assert_eq(sched_pop(s), &big);
	cr_assert_eq(sched_bytes(s), 0);
	sched_free(s);
}

Test(sched, count_bound_reports_enospc_before_bytes)
{
	struct sched *s = sched_new(1);
	struct sched_entry a = { .bytes = 10 }, b = { .bytes = 10 };

	sched_set_max_bytes(s, 15);
	cr_assert_eq(sched_push(s, &a, 1), 0);
	cr_assert_eq(sched_push(s, &b, 2), -ENOSPC);
	sched_free(s);
}

Test(sched, reorder_groups_count_bytes_through_their_release)
{
	struct sched *s = sched_new(64);
	struct sched_entry e[5];

	sched_set_max_bytes(s, 350);
	for (int i = 0; i < 5; i++)
		e[i] = (struct sched_entry){ .bytes = 100 };
	/* A group of 4 fills and is re-sorted: the bytes held stay what they were. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sched_reorder_add(s, 0, 4, 1000, &e[i], 0, &R), 0);
	cr_assert_eq(sched_bytes(s), 300);
	cr_assert_eq(sched_reorder_add(s, 0, 4, 1000, &e[3], 0, &R), -ENOBUFS);
	cr_assert_not_null(sched_pop(s));
	cr_assert_eq(sched_reorder_add(s, 0, 4, 1000, &e[3], 0, &R), 0);
	cr_assert_eq(sched_bytes(s), 300);
	while (sched_pop_due(s, 2000, &R))
		;
	cr_assert_eq(sched_count(s), 0);
	cr_assert_eq(sched_bytes(s), 0);
	sched_free(s);
}

static void count_entry(struct sched_entry *e, void *data)
{
	(void)e;
	(*(unsigned *)data)++;
}

Test(sched, foreach_visits_every_entry_grouped_or_not)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[5] = { 0 };
	unsigned n = 0;

	cr_assert_eq(sched_push(s, &e[0], 50), 0);
	cr_assert_eq(sched_push(s, &e[1], 10), 0);
	for (int i = 2; i < 5; i++)
		cr_assert_eq(sched_reorder_add(s, 7, 4, 100, &e[i], 0, &R), 0);
	sched_foreach(s, count_entry, &n);
	cr_assert_eq(n, 5);
	sched_free(s);
}

/*
 * The order a group of key 3, opened with entries a and b, then rekeyed by
 * map (n keys), and given a third entry under key 'then', leaves in.
 */
static void rekeyed_order(const int *map, size_t n, uint32_t then, int *out, unsigned *left)
{
	struct sched *s = sched_new(16);
	struct sched_entry e[3] = { 0 };
	struct sched_entry *x;

	cr_assert_eq(sched_reorder_add(s, 3, 3, 1000, &e[0], 0, &R), 0);
	cr_assert_eq(sched_reorder_add(s, 3, 3, 1000, &e[1], 0, &R), 0);
	if (map)
		sched_rekey(s, map, n);
	cr_assert_eq(sched_reorder_add(s, then, 3, 1000, &e[2], 0, &R), 0);
	*left = 0;
	while ((x = sched_pop_due(s, 0, &R)))
		out[(*left)++] = (int)(x - e);
	sched_free(s);
}

/* A rekeyed group is found by its new key and keeps its permutation. */
Test(sched, rekey_moves_a_group_to_its_new_key)
{
	int map[4] = { -1, -1, -1, 1 }, before[3], after[3];
	unsigned n;

	rekeyed_order(NULL, 0, 3, before, &n);
	cr_assert_eq(n, 3, "the group filled");
	rekeyed_order(map, 4, 1, after, &n);
	cr_assert_eq(n, 3, "key 3 is key 1 now: the third entry filled the group");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(before[i], after[i], "the permutation is the one it opened with");
}

/* A group whose key is gone takes no one: the next entry opens a group of its own. */
Test(sched, rekey_closes_a_group_whose_key_is_gone)
{
	int map[4] = { 0, 1, 2, -1 }, out[3];
	unsigned n;

	rekeyed_order(map, 4, 3, out, &n);
	cr_assert_eq(n, 0, "nothing full, nothing due");
	rekeyed_order(map, 2, 1, out, &n);
	cr_assert_eq(n, 0, "a key past the map is no one's either");
}
