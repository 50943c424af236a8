// SPDX-License-Identifier: MIT
/*
 * wake: the release timer is armed in nanoseconds, early by exactly
 * early_ns while the spin budget allows it, at the deadline otherwise;
 * spinning draws on a budget that refills at its share of time; deadlines
 * close behind each other (a busy spell) are armed at themselves.
 */
#include <criterion/criterion.h>

#include "wake.h"

#define US 1000ull
#define MS 1000000ull

Test(wake, arms_early_by_exact_nanoseconds)
{
	struct wake w;
	/* A deadline with sub-millisecond and sub-microsecond parts: nothing rounds them. */
	uint64_t dl = 5 * 1000 * MS + 10 * MS + 123 * US + 457;

	wake_init(&w, 80 * US, 100000, 5 * 1000 * MS);
	cr_assert_eq(wake_arm_at(&w, dl, 5 * 1000 * MS), dl - 80 * US);
	/* Nothing held: nothing armed. */
	cr_assert_eq(wake_arm_at(&w, 0, 5 * 1000 * MS), 0);
}

Test(wake, off_arms_at_the_deadline_and_never_spins)
{
	struct wake w;
	uint64_t dl = 7 * MS + 1;

	wake_init(&w, 0, 100000, 0);
	cr_assert_eq(wake_arm_at(&w, dl, 0), dl);
	cr_assert_not(wake_should_spin(&w, dl, dl - 1));
}

Test(wake, spins_only_the_last_stretch)
{
	struct wake w;
	uint64_t dl = 10 * MS;

	wake_init(&w, 80 * US, 100000, 0);
	cr_assert(wake_should_spin(&w, dl, dl - 80 * US));
	cr_assert(wake_should_spin(&w, dl, dl - 1));
	/* Further than early_ns: the timer waits, not the CPU. */
	cr_assert_not(wake_should_spin(&w, dl, dl - 80 * US - 1));
	/* Due already: release, no spin. */
	cr_assert_not(wake_should_spin(&w, dl, dl));
	cr_assert_not(wake_should_spin(&w, dl, dl + 1));
}

Test(wake, an_empty_budget_arms_at_the_deadline_until_it_refills)
{
	struct wake w;
	uint64_t now = 1000 * MS, dl;

	/* A 10 % share: 80 us of spin is earned by 800 us of time. */
	wake_init(&w, 80 * US, 100000, now);
	for (int i = 0; i < WAKE_BUDGET_SPINS; i++)
		wake_spent(&w, 80 * US);
	dl = now + MS;
	cr_assert_eq(wake_arm_at(&w, dl, now), dl);
	cr_assert_not(wake_should_spin(&w, now + 10 * US, now));
	/* 799 us later one spin is not yet paid for; 800 us later it is. */
	cr_assert_eq(wake_arm_at(&w, dl, now + 799 * US), dl);
	cr_assert_eq(wake_arm_at(&w, dl, now + 800 * US), dl - 80 * US);
}

Test(wake, the_budget_is_capped)
{
	struct wake w;

	wake_init(&w, 80 * US, 100000, 0);
	/* An hour idle earns no more than WAKE_BUDGET_SPINS spins. */
	cr_assert_eq(wake_arm_at(&w, 3600000 * MS, 3600000 * MS - MS), 3600000 * MS - 80 * US);
	for (int i = 0; i < WAKE_BUDGET_SPINS; i++) {
		cr_assert(wake_should_spin(&w, 3600000 * MS, 3600000 * MS - 80 * US));
		wake_spent(&w, 80 * US);
	}
	cr_assert_not(wake_should_spin(&w, 3600000 * MS, 3600000 * MS - 80 * US));
}

/* Back-to-back spins: deadlines 1 ms apart, each spun from 1 ms before it. */
static int spins_in_a_row(uint32_t share_ppm, int n)
{
	struct wake w;
	uint64_t now = 1000 * MS;
	int i;

	wake_init(&w, MS, share_ppm, now);
	for (i = 0; i < n; i++) {
		uint64_t dl = now + MS;

		if (wake_arm_at(&w, dl, now) != dl - MS || !wake_should_spin(&w, dl, now))
			break;
		wake_spent(&w, MS);
		now = dl;
	}
	return i;
}

Test(wake, a_whole_cpu_spins_for_ever)
{
	/* --release-cpu 100%: spinning all the time never runs the budget dry. */
	cr_assert_eq(spins_in_a_row(1000000, 100000), 100000);
	/* The default 10 %: the budget's spins and what the time earned, then the timer. */
	cr_assert_eq(spins_in_a_row(100000, 100000), WAKE_BUDGET_SPINS + 3);
}

Test(wake, deadlines_close_behind_each_other_are_armed_at_themselves)
{
	struct wake w;
	uint64_t now = 1000 * MS, dl = now + 10 * MS;

	wake_init(&w, 80 * US, 100000, now);
	cr_assert_eq(wake_arm_at(&w, dl, now), dl - 80 * US);
	/* The same deadline again (a reader's rearm): unchanged. */
	cr_assert_eq(wake_arm_at(&w, dl, now + 1), dl - 80 * US);
	/* 50 us behind it (20,000 a second): a busy spell, no early wake. */
	cr_assert_eq(wake_arm_at(&w, dl + 50 * US, dl), dl + 50 * US);
	cr_assert_eq(wake_arm_at(&w, dl + 100 * US, dl + 50 * US), dl + 100 * US);
	/* WAKE_BUSY_GAP_NS behind the last: early again (1 ms: 1,000 a second). */
	cr_assert_eq(wake_arm_at(&w, dl + 100 * US + WAKE_BUSY_GAP_NS, dl + 100 * US),
		     dl + 100 * US + WAKE_BUSY_GAP_NS - 80 * US);
	cr_assert_eq(wake_arm_at(&w, dl + 2 * MS, dl + MS), dl + 2 * MS - 80 * US);
	/* An earlier deadline than the last (a shorter delay came in): early. */
	cr_assert_eq(wake_arm_at(&w, dl + MS + 900 * US, dl + MS), dl + MS + 900 * US - 80 * US);
}
