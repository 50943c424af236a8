// SPDX-License-Identifier: MIT
#include "lathist.h"

/*
 * Bucket of us microseconds: us itself below LATHIST_SUB; above, the
 * power of two (e) and the next 4 bits below its top bit, so that each
 * power of two spans LATHIST_SUB buckets of equal width.
 */
static unsigned bucket_of(uint64_t us)
{
	unsigned e, i;

	if (us < LATHIST_SUB)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);	/* >= 4 */
	i = LATHIST_SUB * (e - 3u) + (unsigned)((us >> (e - 4u)) & (LATHIST_SUB - 1u));
	return i < LATHIST_N ? i : LATHIST_N - 1u;
}

/* The largest microsecond value bucket i holds. */
static uint64_t bucket_top(unsigned i)
{
	unsigned e, sub;

	if (i < LATHIST_SUB)
		return i;
	e = i / LATHIST_SUB + 3u;
	sub = i % LATHIST_SUB;
	return ((uint64_t)(LATHIST_SUB + sub + 1u) << (e - 4u)) - 1u;
}

void lathist_add(struct lathist *h, uint64_t ns)
{
	uint32_t *b = &h->b[bucket_of(ns / 1000u)];

	if (*b != UINT32_MAX)
		(*b)++;
	h->n++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void lathist_merge(struct lathist *to, const struct lathist *from)
{
	for (unsigned i = 0; i < LATHIST_N; i++)
		to->b[i] = UINT32_MAX - to->b[i] < from->b[i] ? UINT32_MAX : to->b[i] + from->b[i];
	to->n += from->n;
	if (from->max_ns > to->max_ns)
		to->max_ns = from->max_ns;
}

uint64_t lathist_quantile_us(const struct lathist *h, uint32_t ppm)
{
	uint64_t seen = 0, total = 0, rank, top;

	/* The buckets' own sum: a saturated bucket makes n say more than they hold. */
	for (unsigned i = 0; i < LATHIST_N; i++)
		total += h->b[i];
	if (!total)
		return 0;
	/* The sample at rank ceil(total * ppm / 1e6), counted from 1. */
	rank = (total * (ppm > 1000000u ? 1000000u : ppm) + 999999u) / 1000000u;
	if (!rank)
		rank = 1;
	for (unsigned i = 0; i < LATHIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			top = bucket_top(i);
			return top < h->max_ns / 1000u ? top : h->max_ns / 1000u;
		}
	}
	return h->max_ns / 1000u;
}
