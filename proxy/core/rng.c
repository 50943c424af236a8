// SPDX-License-Identifier: MIT
#include <math.h>

#include "rng.h"

/* splitmix64's finalizer: cheap, and every input bit reaches every output bit. */
static uint64_t fmix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rng_mix(uint64_t x, uint64_t y)
{
	return fmix(x + 0x9e3779b97f4a7c15ull + fmix(y));
}

uint64_t rng_draw(const struct rng *r, uint64_t a, uint64_t b, uint64_t c)
{
	return rng_mix(rng_mix(rng_mix(r->seed, a), b), c);
}

double rng_unit(const struct rng *r, uint64_t a, uint64_t b, uint64_t c)
{
	/* 53 random bits make every double in [0,1) on the grid equally likely. */
	return (double)(rng_draw(r, a, b, c) >> 11) * 0x1.0p-53;
}

bool rng_chance(const struct rng *r, uint32_t ppm, uint64_t a, uint64_t b, uint64_t c)
{
	if (ppm >= 1000000u)
		return true;
	if (ppm == 0)
		return false;
	return rng_draw(r, a, b, c) % 1000000u < ppm;
}

double rng_normal(const struct rng *r, uint64_t a, uint64_t b, uint64_t c)
{
	double u1 = rng_unit(r, a, b, c ^ 0x5555555555555555ull);
	double u2 = rng_unit(r, a, b, c ^ 0xaaaaaaaaaaaaaaaaull);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_permute(const struct rng *r, uint64_t a, uint64_t b, uint32_t *perm, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		perm[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = rng_draw(r, a, b, i) % i;
		uint32_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}
