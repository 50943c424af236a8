/* SPDX-License-Identifier: MIT */
/*
 * lathist: a histogram of durations for quantiles (p50, p99) and a
 * maximum without keeping the samples: how late held packets leave. One
 * bucket per microsecond below 16 us, then 16 buckets per power of two
 * (a bucket is at most 1/16 of its value wide), up to 2^40 us; the max is
 * exact. Adding a sample is a few instructions, no allocation.
 *
 * Pure: the struct is embedded in its owner and zeroed to start; no
 * allocation, no failure.
 */
#ifndef FL_LATHIST_H
#define FL_LATHIST_H

#include <stdint.h>

#define LATHIST_SUB 16u		/* buckets per power of two */
#define LATHIST_BITS 40u	/* microseconds past 2^40 share the last bucket */
#define LATHIST_N (LATHIST_SUB * (LATHIST_BITS - 3u))

struct lathist {
	uint64_t n;		/* samples */
	uint64_t max_ns;	/* the largest sample */
	uint32_t b[LATHIST_N];	/* samples per bucket (saturating) */
};

/* Count a duration of ns nanoseconds. */
void lathist_add(struct lathist *h, uint64_t ns);

/* Add from's samples to to's (several queues shown as one). */
void lathist_merge(struct lathist *to, const struct lathist *from);

/*
 * The duration that a share ppm (parts per million: 500000 is the median,
 * 990000 the 99th percentile) of the samples do not exceed, in
 * microseconds: the upper bound of the bucket that holds that sample, and
 * never more than the max. 0 with no samples.
 */
uint64_t lathist_quantile_us(const struct lathist *h, uint32_t ppm);

#endif
