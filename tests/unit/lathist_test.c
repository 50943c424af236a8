// SPDX-License-Identifier: MIT
/*
 * lathist: quantiles within a bucket's width (1/16 of the value), exact
 * below 16 us, an exact max, and merging.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lathist.h"

Test(lathist, empty_says_zero)
{
	struct lathist h;

	memset(&h, 0, sizeof(h));
	cr_assert_eq(lathist_quantile_us(&h, 500000), 0);
	cr_assert_eq(h.n, 0);
}

Test(lathist, small_values_are_exact)
{
	struct lathist h;

	memset(&h, 0, sizeof(h));
	/* 1..10 us, one each: the median is the 5th, p99 the 10th. */
	for (unsigned us = 1; us <= 10; us++)
		lathist_add(&h, us * 1000u + 999u);
	cr_assert_eq(lathist_quantile_us(&h, 500000), 5);
	cr_assert_eq(lathist_quantile_us(&h, 990000), 10);
	cr_assert_eq(h.max_ns, 10999);
	cr_assert_eq(h.n, 10);
}

/* 98 samples at 40 us, 2 at 7 ms: p50 in 40 us's bucket, p99 in 7 ms's, max exact. */
Test(lathist, a_tail_shows_in_p99_and_max)
{
	struct lathist h;
	uint64_t p99;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 98; i++)
		lathist_add(&h, 40000);
	lathist_add(&h, 7000000);
	lathist_add(&h, 7123456);
	cr_assert(lathist_quantile_us(&h, 500000) >= 40 && lathist_quantile_us(&h, 500000) <= 42);
	p99 = lathist_quantile_us(&h, 990000);
	cr_assert(p99 >= 7000 && p99 <= 7000 + 7000 / 16, "p99 %llu", (unsigned long long)p99);
	/* Never past the max, whatever the bucket's top. */
	cr_assert_eq(lathist_quantile_us(&h, 1000000), 7123);
	cr_assert_eq(h.max_ns, 7123456);
}

/* Every value's quantile is within 1/16 above it, up to hours. */
Test(lathist, resolution_is_a_sixteenth)
{
	for (uint64_t us = 16; us < (1ull << 38); us = us * 3 / 2 + 1) {
		struct lathist h;
		uint64_t q;

		memset(&h, 0, sizeof(h));
		lathist_add(&h, us * 1000);
		lathist_add(&h, us * 1000 + (1ull << 50));
		q = lathist_quantile_us(&h, 500000);
		cr_assert(q >= us && q <= us + us / 16, "%llu us -> %llu", (unsigned long long)us,
			  (unsigned long long)q);
	}
}

Test(lathist, merge_adds_samples_and_keeps_the_max)
{
	struct lathist a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 3; i++)
		lathist_add(&a, 2000);
	lathist_add(&b, 9000);
	lathist_add(&b, 12000000);
	lathist_merge(&a, &b);
	cr_assert_eq(a.n, 5);
	cr_assert_eq(a.max_ns, 12000000);
	cr_assert_eq(lathist_quantile_us(&a, 500000), 2);
	cr_assert_eq(lathist_quantile_us(&a, 800000), 9);
}
