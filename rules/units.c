// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "units.h"

/* 1% in parts per million; a probability has at most 4 decimals. */
#define PPM_PER_PERCENT 10000u
#define PERCENT_DECIMALS 4

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct unit {
	const char *name;
	uint64_t mult;
};

/* Printing takes the first unit that divides exactly, so largest first. */
static const struct unit duration_units[] = {
	{ "m", 60000000000ull },
	{ "s", 1000000000ull },
	{ "ms", 1000000ull },
	{ "us", 1000ull },
	{ "ns", 1ull },
};

/*
 * tc's rate units (tc/tc_util.c): SI and IEC multiples of bit/s, and
 * "bps" meaning bytes per second. The decimal bit units come first so the
 * printer prefers them.
 */
static const struct unit rate_units[] = {
	{ "tbit", 1000000000000ull },
	{ "gbit", 1000000000ull },
	{ "mbit", 1000000ull },
	{ "kbit", 1000ull },
	{ "bit", 1ull },
	{ "tibit", 1099511627776ull },
	{ "gibit", 1073741824ull },
	{ "mibit", 1048576ull },
	{ "kibit", 1024ull },
	{ "tbps", 8000000000000ull },
	{ "gbps", 8000000000ull },
	{ "mbps", 8000000ull },
	{ "kbps", 8000ull },
	{ "bps", 8ull },
	{ "tibps", 8796093022208ull },
	{ "gibps", 8589934592ull },
	{ "mibps", 8388608ull },
	{ "kibps", 8192ull },
	{ "", 1ull },	/* a plain number is bit/s, as in tc */
};
#define N_PRINT_RATE_UNITS 5

/*
 * A quantity with units, and what to say when it is wrong: durations and
 * rates differ only in these, so one parser reads both.
 */
struct quantity {
	const struct unit *units;
	size_t n_units;
	bool icase;		/* tc accepts "1Mbit" */
	bool positive;		/* 0 is refused */
	const char *not_number;	/* the text does not start with a number */
	const char *no_unit;	/* NULL: a plain number takes the unit named "" */
	const char *bad_unit;
	const char *not_whole;	/* not a whole number of the base unit */
};

static const struct quantity duration = {
	.units = duration_units,
	.n_units = ARRAY_SIZE(duration_units),
	.not_number = "expected a number with a unit, e.g. 50ms or 1.5s",
	.no_unit = "missing unit (ns, us, ms, s or m)",
	.bad_unit = "unknown unit (expected ns, us, ms, s or m)",
	.not_whole = "not a whole number of nanoseconds",
};

static const struct quantity rate = {
	.units = rate_units,
	.n_units = ARRAY_SIZE(rate_units),
	.icase = true,
	.positive = true,
	.not_number = "expected e.g. 100kbit, 1mbit or 1mbps",
	.bad_unit = "unknown unit (expected bit, kbit, mbit, gbit, tbit, or bps, kbps, mbps, "
		    "gbps, tbps for bytes)",
	.not_whole = "not a whole number of bit/s",
};

/*
 * A decimal number "123" or "1.25" at s, as mantissa / 10^frac with
 * trailing fraction zeros dropped. *rest points past the digits (the unit).
 * Returns 0, -EINVAL if s does not start with a digit or has a dangling
 * '.', -ERANGE if the digits do not fit in 64 bits.
 */
static int parse_decimal(const char *s, uint64_t *mant, unsigned *frac, const char **rest)
{
	uint64_t m = 0;
	unsigned f = 0;
	bool dot = false;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (;; s++) {
		if (*s == '.' && !dot) {
			dot = true;
			if (!isdigit((unsigned char)s[1]))
				return -EINVAL;
			continue;
		}
		if (!isdigit((unsigned char)*s))
			break;
		if (__builtin_mul_overflow(m, 10, &m) ||
		    __builtin_add_overflow(m, (uint64_t)(*s - '0'), &m))
			return -ERANGE;
		if (dot)
			f++;
	}
	while (f > 0 && m % 10 == 0) {
		m /= 10;
		f--;
	}
	*mant = m;
	*frac = f;
	*rest = s;
	return 0;
}

/*
 * mant / 10^frac * mult as an exact integer. Returns 0, -ERANGE on
 * overflow, -EDOM if the result is not whole.
 */
static int scale_exact(uint64_t mant, unsigned frac, uint64_t mult, uint64_t *out)
{
	unsigned __int128 v = (unsigned __int128)mant * mult;
	unsigned __int128 div = 1;

	/* 10^39 > 2^128: beyond that no mantissa can be a whole number. */
	if (frac > 38)
		return mant ? -EDOM : 0;
	for (unsigned i = 0; i < frac; i++)
		div *= 10;
	if (v % div)
		return -EDOM;
	v /= div;
	if (v > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int units_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v) || v > max)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static const struct unit *find_unit(const struct quantity *q, const char *name)
{
	for (size_t i = 0; i < q->n_units; i++) {
		const char *u = q->units[i].name;

		if (q->icase ? !strcasecmp(u, name) : !strcmp(u, name))
			return &q->units[i];
	}
	return NULL;
}

/* Sets *why and returns -EINVAL. */
static int why_not(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

static int parse_quantity(const struct quantity *q, const char *s, uint64_t *out,
			  const char **why)
{
	const struct unit *u;
	const char *rest;
	uint64_t mant;
	unsigned frac;
	int ret;

	if (*s == '-')
		return why_not(why, "negative");
	ret = parse_decimal(s, &mant, &frac, &rest);
	if (ret == -ERANGE)
		return why_not(why, "too large");
	if (ret < 0)
		return why_not(why, q->not_number);
	if (!*rest && q->no_unit)
		return why_not(why, q->no_unit);
	u = find_unit(q, rest);
	if (!u)
		return why_not(why, q->bad_unit);
	ret = scale_exact(mant, frac, u->mult, out);
	if (ret == -ERANGE)
		return why_not(why, "too large");
	if (ret < 0)
		return why_not(why, q->not_whole);
	if (q->positive && *out == 0)
		return why_not(why, "must be greater than 0");
	return 0;
}

int units_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	const char *ignored;

	return parse_quantity(&duration, s, ns, why ? why : &ignored);
}

int units_parse_rate(const char *s, uint64_t *bps, const char **why)
{
	const char *ignored;

	return parse_quantity(&rate, s, bps, why ? why : &ignored);
}

int units_parse_percent(const char *s, uint32_t *ppm, const char **why)
{
	const char *ignored;
	const char *rest;
	uint64_t mant, v;
	unsigned frac;

	if (!why)
		why = &ignored;
	if (parse_decimal(s, &mant, &frac, &rest) < 0 || strcmp(rest, "%"))
		return why_not(why, "expected e.g. 30% or 0.5%");
	if (frac > PERCENT_DECIMALS)
		return why_not(why, "at most 4 decimals (resolution 0.0001%)");
	if (scale_exact(mant, frac, PPM_PER_PERCENT, &v) < 0 || v > UNITS_PPM_ALWAYS)
		return why_not(why, "must be at most 100%");
	if (v == 0)
		return why_not(why, "must be greater than 0%");
	*ppm = (uint32_t)v;
	return 0;
}

void units_put_duration(struct strbuf_fixed *o, const char *prefix, uint64_t ns)
{
	const struct unit *u = &duration_units[0];

	if (ns == 0) {
		strbuf_fixed_printf(o, "%s0ms", prefix);
		return;
	}
	/* "ns" divides everything, so the loop ends there at worst. */
	while (ns % u->mult)
		u++;
	strbuf_fixed_printf(o, "%s%llu%s", prefix, (unsigned long long)(ns / u->mult), u->name);
}

void units_put_rate(struct strbuf_fixed *o, const char *prefix, uint64_t bps)
{
	const struct unit *u = &rate_units[0];

	/* The "bit" unit divides everything, so the loop ends there at worst. */
	while (u < &rate_units[N_PRINT_RATE_UNITS - 1] && bps % u->mult)
		u++;
	strbuf_fixed_printf(o, "%s%llu%s", prefix, (unsigned long long)(bps / u->mult), u->name);
}

void units_put_percent(struct strbuf_fixed *o, const char *prefix, uint32_t ppm)
{
	uint32_t frac = ppm % PPM_PER_PERCENT;
	int digits = PERCENT_DECIMALS;

	if (ppm >= UNITS_PPM_ALWAYS)
		return;
	if (!frac) {
		strbuf_fixed_printf(o, "%s%u%%", prefix, ppm / PPM_PER_PERCENT);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	strbuf_fixed_printf(o, "%s%u.%0*u%%", prefix, ppm / PPM_PER_PERCENT, digits, frac);
}
