// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <math.h>

#include "rng.h"

Test(rng, same_keys_same_draw)
{
	struct rng a = { 1 }, b = { 1 }, c = { 2 };

	cr_assert_eq(rng_draw(&a, 1, 2, 3), rng_draw(&b, 1, 2, 3));
	cr_assert_neq(rng_draw(&a, 1, 2, 3), rng_draw(&c, 1, 2, 3));
	cr_assert_neq(rng_draw(&a, 1, 2, 3), rng_draw(&a, 1, 2, 4));
}

Test(rng, chance_matches_probability)
{
	struct rng r = { 99 };
	int hits = 0;

	for (int i = 0; i < 100000; i++)
		hits += rng_chance(&r, 300000, 7, (uint64_t)i, 0);
	cr_assert(hits > 29000 && hits < 31000, "30%% gave %d of 100000", hits);
	cr_assert(rng_chance(&r, 1000000, 1, 2, 3));
	cr_assert(!rng_chance(&r, 0, 1, 2, 3));
}

Test(rng, unit_and_normal_are_sane)
{
	struct rng r = { 5 };
	double sum = 0, sq = 0;
	enum { N = 50000 };

	for (int i = 0; i < N; i++) {
		double u = rng_unit(&r, 1, (uint64_t)i, 0);
		double z = rng_normal(&r, 2, (uint64_t)i, 0);

		cr_assert(u >= 0 && u < 1);
		sum += z;
		sq += z * z;
	}
	cr_assert(fabs(sum / N) < 0.03, "normal mean %f", sum / N);
	cr_assert(fabs(sq / N - 1) < 0.05, "normal variance %f", sq / N);
}

Test(rng, permutation_is_complete_and_keyed)
{
	struct rng r = { 3 };
	uint32_t p[32], q[32];
	int seen[32] = { 0 };

	rng_permute(&r, 1, 2, p, 32);
	rng_permute(&r, 1, 2, q, 32);
	cr_assert_arr_eq(p, q, sizeof(p));
	for (int i = 0; i < 32; i++)
		seen[p[i]]++;
	for (int i = 0; i < 32; i++)
		cr_assert_eq(seen[i], 1);
	rng_permute(&r, 1, 3, q, 32);
	cr_assert(memcmp(p, q, sizeof(p)), "another key, another permutation");
}
