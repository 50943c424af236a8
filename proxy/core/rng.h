/* SPDX-License-Identifier: MIT */
/*
 * rng: seeded, stateless random decisions. Every draw is a hash of the seed
 * and the keys the caller passes (flow, direction, per-flow ordinal, rule,
 * action), so the same packets with the same seed get the same decisions
 * whatever the timing and whatever other flows interleave.
 */
#ifndef FL_RNG_H
#define FL_RNG_H

#include <stdbool.h>
#include <stdint.h>

struct rng {
	uint64_t seed;
};

/* A 64-bit draw for the key tuple (a, b, c). */
uint64_t rng_draw(const struct rng *r, uint64_t a, uint64_t b, uint64_t c);
/* Uniform in [0, 1). */
double rng_unit(const struct rng *r, uint64_t a, uint64_t b, uint64_t c);
/* True with probability ppm / 1000000. */
bool rng_chance(const struct rng *r, uint32_t ppm, uint64_t a, uint64_t b, uint64_t c);
/* Standard normal deviate (Box-Muller over two keyed draws). */
double rng_normal(const struct rng *r, uint64_t a, uint64_t b, uint64_t c);
/* Fill perm[0..n) with a keyed random permutation of 0..n-1 (Fisher-Yates). */
void rng_permute(const struct rng *r, uint64_t a, uint64_t b, uint32_t *perm, uint32_t n);
/* Mix two words; the building block, exported for hashing keys. */
uint64_t rng_mix(uint64_t x, uint64_t y);

#endif
