/* SPDX-License-Identifier: MIT */
/*
 * units: the quantities of the rule language, read and written exactly.
 * Durations ("30s", "1.5ms", to nanoseconds), rates (tc's units: "1mbit",
 * "100kbps", to bit/s), probabilities ("0.5%", to parts per million) and
 * plain counts. Parsing is exact (no floating point): a value that is not a
 * whole number of the base unit is refused, so printing gives back the same
 * value. Pure; no allocation.
 *
 * Parsers return 0, or -EINVAL with *why (a static string) saying what is
 * wrong; why may be NULL. Printers append to a strbuf_fixed after 'prefix'
 * (borrowed).
 */
#ifndef FL_UNITS_H
#define FL_UNITS_H

#include <stdint.h>

#include "strbuf.h"

/* Probability as parts per million: 1000000 = always. */
#define UNITS_PPM_ALWAYS 1000000u

/* Digits only, no sign, 0..max. Returns 0, -EINVAL (not digits) or -ERANGE. */
int units_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* "50ms", "1.5s", "2m": a number and a unit (ns, us, ms, s, m); 0 allowed. */
int units_parse_duration(const char *s, uint64_t *ns, const char **why);
/* "1mbit", "1.5kibit", "8bps", "1500" (bit/s, as in tc); must be > 0. */
int units_parse_rate(const char *s, uint64_t *bps, const char **why);
/* "30%", "0.0125%": greater than 0, at most 100, at most 4 decimals. */
int units_parse_percent(const char *s, uint32_t *ppm, const char **why);

/* The largest unit that divides ns exactly; 0 prints as "0ms". */
void units_put_duration(struct strbuf_fixed *o, const char *prefix, uint64_t ns);
/* The largest decimal bit unit that divides bps exactly. */
void units_put_rate(struct strbuf_fixed *o, const char *prefix, uint64_t bps);
/* "P%" with no trailing zeros; nothing at all for UNITS_PPM_ALWAYS. */
void units_put_percent(struct strbuf_fixed *o, const char *prefix, uint32_t ppm);

#endif
