// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "strbuf.h"
#include "units.h"

#define SEC 1000000000ull

/* One printer call into a fresh buffer. */
#define PUT(fn, ...)                                                     \
	({                                                               \
		static char buf_[64];                                    \
		struct strbuf_fixed o_ = { .buf = buf_, .size = sizeof(buf_) }; \
		buf_[0] = '\0';                                          \
		fn(&o_, __VA_ARGS__);                                    \
		buf_;                                                    \
	})

Test(units, duration_parses_exactly_and_prints_in_its_largest_unit)
{
	static const struct {
		const char *in, *out;
		uint64_t ns;
	} cases[] = {
		{ "0s", "0ms", 0 },
		{ "1.5s", "1500ms", 1500000000ull },
		{ "120s", "2m", 120 * SEC },
		{ "0.25ms", "250us", 250000 },
		{ "7ns", "7ns", 7 },
		{ "18446744073709551615ns", "18446744073709551615ns", UINT64_MAX },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ns = 1;

		cr_assert_eq(units_parse_duration(cases[i].in, &ns, NULL), 0, "%s", cases[i].in);
		cr_assert_eq(ns, cases[i].ns, "%s", cases[i].in);
		cr_assert_str_eq(PUT(units_put_duration, "", ns), cases[i].out);
	}
	cr_assert_str_eq(PUT(units_put_duration, " after ", 3 * SEC), " after 3s");
}

Test(units, rate_parses_tc_units_and_prints_decimal_bits)
{
	static const struct {
		const char *in, *out;
		uint64_t bps;
	} cases[] = {
		{ "1mbit", "1mbit", 1000000 },
		{ "1Mbit", "1mbit", 1000000 },
		{ "8bps", "64bit", 64 },
		{ "1kibit", "1024bit", 1024 },
		{ "1500", "1500bit", 1500 },
		{ "2.5gbit", "2500mbit", 2500000000ull },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bps = 0;

		cr_assert_eq(units_parse_rate(cases[i].in, &bps, NULL), 0, "%s", cases[i].in);
		cr_assert_eq(bps, cases[i].bps, "%s", cases[i].in);
		cr_assert_str_eq(PUT(units_put_rate, "", bps), cases[i].out, "%s", cases[i].in);
	}
}

/* Durations and rates share one parser: each keeps its own messages. */
Test(units, duration_and_rate_say_what_is_wrong_in_their_own_words)
{
	static const struct {
		int (*parse)(const char *, uint64_t *, const char **);
		const char *in, *why;
	} cases[] = {
		{ units_parse_duration, "-1s", "negative" },
		{ units_parse_rate, "-1mbit", "negative" },
		{ units_parse_duration, "5", "missing unit (ns, us, ms, s or m)" },
		{ units_parse_duration, "x", "expected a number with a unit, e.g. 50ms or 1.5s" },
		{ units_parse_rate, "x", "expected e.g. 100kbit, 1mbit or 1mbps" },
		{ units_parse_duration, "5h", "unknown unit (expected ns, us, ms, s or m)" },
		{ units_parse_rate, "5furlongs",
		  "unknown unit (expected bit, kbit, mbit, gbit, tbit, or bps, kbps, mbps, gbps, "
		  "tbps for bytes)" },
		{ units_parse_duration, "0.5ns", "not a whole number of nanoseconds" },
		{ units_parse_rate, "0.5bit", "not a whole number of bit/s" },
		{ units_parse_duration, "99999999999999999999s", "too large" },
		{ units_parse_rate, "99999999999tbit", "too large" },
		{ units_parse_rate, "0kbit", "must be greater than 0" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		uint64_t v;

		cr_assert_eq(cases[i].parse(cases[i].in, &v, &why), -EINVAL, "%s", cases[i].in);
		cr_assert_str_eq(why, cases[i].why, "%s", cases[i].in);
		cr_assert_eq(cases[i].parse(cases[i].in, &v, NULL), -EINVAL, "%s", cases[i].in);
	}
	/* A zero duration is a duration ('after 0s'); a zero rate is not a rate. */
	uint64_t v = 1;
	cr_assert_eq(units_parse_duration("0ms", &v, NULL), 0);
	cr_assert_eq(v, 0);
}

Test(units, percent_to_ppm_and_back)
{
	static const struct {
		const char *in, *out;
		uint32_t ppm;
	} good[] = {
		{ "30%", " 30%", 300000 },
		{ "0.0125%", " 0.0125%", 125 },
		{ "99.9999%", " 99.9999%", 999999 },
		{ "50.50%", " 50.5%", 505000 },
		{ "100%", "", UNITS_PPM_ALWAYS },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "30", "expected e.g. 30% or 0.5%" },
		{ "0.00001%", "at most 4 decimals (resolution 0.0001%)" },
		{ "100.5%", "must be at most 100%" },
		{ "0%", "must be greater than 0%" },
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t ppm = 0;

		cr_assert_eq(units_parse_percent(good[i].in, &ppm, NULL), 0, "%s", good[i].in);
		cr_assert_eq(ppm, good[i].ppm, "%s", good[i].in);
		cr_assert_str_eq(PUT(units_put_percent, " ", ppm), good[i].out, "%s", good[i].in);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		uint32_t ppm = 7;

		cr_assert_eq(units_parse_percent(bad[i].in, &ppm, &why), -EINVAL, "%s", bad[i].in);
		cr_assert_str_eq(why, bad[i].why, "%s", bad[i].in);
		cr_assert_eq(ppm, 7, "a refused value leaves the output alone");
	}
}

Test(units, uint_digits_only_within_max)
{
	uint64_t v = 0;

	cr_assert_eq(units_parse_uint("1024", 1024, &v), 0);
	cr_assert_eq(v, 1024);
	cr_assert_eq(units_parse_uint("1025", 1024, &v), -ERANGE);
	cr_assert_eq(units_parse_uint("99999999999999999999", UINT64_MAX, &v), -ERANGE);
	cr_assert_eq(units_parse_uint("", 10, &v), -EINVAL);
	cr_assert_eq(units_parse_uint("+1", 10, &v), -EINVAL);
	cr_assert_eq(units_parse_uint("1x", 10, &v), -EINVAL);
}
