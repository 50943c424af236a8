/* SPDX-License-Identifier: MIT */
/*
 * args: the strict parsers every subcommand uses for its options, so that
 * a number, a duration, a file name or a stray word is judged the same way
 * everywhere. Each function that can refuse prints one line,
 * "faultline: <what>: <why>", and returns -1; the caller exits with 2.
 *
 * Numbers are decimal, or hexadecimal after 0x; no sign, no spaces, no
 * suffix, nothing after them. "010" is ten, not octal eight.
 */
#ifndef FL_CLI_ARGS_H
#define FL_CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

/* Parse s as a whole number in [min, max] into *out. 0 or -1 (printed). */
int args_uint(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A size in bytes, with an optional k, M or G (powers of 1024), 1 to max_g G. */
int args_size(const char *opt, const char *s, uint64_t max_g, uint64_t *out);

/* A duration as the rules write it (500ms, 1.5s), > 0 and <= max_ns. 0 or -1. */
int args_duration(const char *opt, const char *s, uint64_t max_ns, uint64_t *ns);

/*
 * A value that names something (a file, a namespace): not empty, and not an
 * option word, which getopt takes as the value when the value was
 * forgotten ("--events --pcap x"). A file really called "--x" is "./--x".
 */
int args_value(const char *opt, const char *s);

/* An option that may be given once: -1 (printed) the second time. */
int args_once(const char *opt, bool *seen);

/*
 * getopt_long returned '?' or ':' for subcommand cmd: say what was wrong
 * (unknown, ambiguous, missing value, a value given to a flag). Call with
 * opterr = 0 and an optstring starting with ':' (after a '-' or '+').
 */
void args_getopt_error(const char *cmd, int c, char **argv, const struct option *opts);

/*
 * Pure. Where a command line's own words end and a command to run begins
 * (wrap's "OPTIONS -- COMMAND [ARGS]"): the index of the first word "--"
 * at or after 'from', or -1 if there is none. No option value can be
 * "--" (args_value refuses it), so the first one is the separator.
 */
int args_split(int argc, char *const argv[], int from);

/* More words than the subcommand takes. Always -1 (printed). */
int args_stray(const char *cmd, const char *arg, const char *hint);

/*
 * Two options name the same file (same path, or the same existing file):
 * -1 (printed) when a and b (either may be NULL) would clash. "-" (standard
 * input or output) clashes only with itself.
 */
int args_same_file(const char *opt_a, const char *a, const char *opt_b, const char *b);

#endif
