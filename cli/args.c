// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "rule.h"

#define PROG_NAME "faultline"
#define NS_PER_S 1000000000ull

/*
 * The whole of s as a number: 0, -EINVAL (not a number) or -ERANGE (past
 * 2^64-1). strtoull would take " 5", "+5", "-1" (as 2^64-1) and "010" (as 8).
 */
static int parse_whole(const char *s, size_t len, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	bool range = false;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		return -EINVAL;
	for (; i < len; i++) {
		unsigned d;

		if (isdigit((unsigned char)s[i]))
			d = (unsigned)(s[i] - '0');
		else if (base == 16 && isxdigit((unsigned char)s[i]))
			d = (unsigned)(tolower((unsigned char)s[i]) - 'a' + 10);
		else
			return -EINVAL;
		if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
			range = true;
	}
	*out = v;
	return range ? -ERANGE : 0;
}

static const char *bad_number(const char *s)
{
	return !*s ? "empty" : *s == '-' ? "negative" : "not a number";
}

int args_uint(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int ret = parse_whole(s, strlen(s), &v);

	if (ret == -EINVAL) {
		fprintf(stderr, PROG_NAME ": %s '%s': %s (expected %llu to %llu, decimal or 0x hex)\n",
			opt, s, bad_number(s), (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	if (ret < 0 || v < min || v > max) {
		fprintf(stderr, PROG_NAME ": %s '%s': out of range (%llu to %llu)\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int args_size(const char *opt, const char *s, uint64_t max_g, uint64_t *out)
{
	static const char units[] = "kKMG";
	static const unsigned shifts[] = { 10, 10, 20, 30 };
	size_t len = strlen(s);
	const char *u = len > 1 ? strchr(units, s[len - 1]) : NULL;
	unsigned shift = u && *u ? shifts[u - units] : 0;
	const char *why = NULL;
	uint64_t v;
	int ret;

	ret = parse_whole(s, len - (shift ? 1 : 0), &v);
	if (ret == -EINVAL)
		why = bad_number(s);
	else if (ret < 0 || !v || v > (max_g << 30) >> shift)
		why = "out of range";
	if (why) {
		fprintf(stderr, PROG_NAME ": %s '%s': %s (bytes, 1 to %lluG; k, M or G allowed)\n",
			opt, s, why, (unsigned long long)max_g);
		return -1;
	}
	*out = v << shift;
	return 0;
}

int args_duration(const char *opt, const char *s, uint64_t max_ns, uint64_t *ns)
{
	const char *why;

	if (rule_parse_duration(s, ns, &why)) {
		fprintf(stderr, PROG_NAME ": %s '%s': %s\n", opt, s, !*s ? "empty" : why);
		return -1;
	}
	if (!*ns || *ns > max_ns) {
		fprintf(stderr, PROG_NAME ": %s '%s': out of range (more than 0, at most %llus)\n",
			opt, s, (unsigned long long)(max_ns / NS_PER_S));
		return -1;
	}
	return 0;
}

int args_value(const char *opt, const char *s)
{
	if (!*s) {
		fprintf(stderr, PROG_NAME ": %s: empty value\n", opt);
		return -1;
	}
	if (s[0] == '-' && s[1] == '-') {
		fprintf(stderr, PROG_NAME ": %s needs a value (got the option '%s')\n", opt, s);
		return -1;
	}
	return 0;
}

int args_once(const char *opt, bool *seen)
{
	if (*seen) {
		fprintf(stderr, PROG_NAME ": %s given twice\n", opt);
		return -1;
	}
	*seen = true;
	return 0;
}

/* How many long options start with the word the user typed (up to '='). */
static int prefix_matches(const struct option *opts, const char *word, const char **first,
			  const char **second)
{
	size_t n = strcspn(word, "=");
	int count = 0;

	for (const struct option *o = opts; o->name; o++) {
		if (strncmp(o->name, word, n))
			continue;
		if (strlen(o->name) == n)
			return 0;	/* an exact name is never ambiguous */
		if (count == 0)
			*first = o->name;
		else if (count == 1)
			*second = o->name;
		count++;
	}
	return count;
}

void args_getopt_error(const char *cmd, int c, char **argv, const struct option *opts)
{
	const char *typed = argv[optind - 1], *a = NULL, *b = NULL;
	bool is_long = typed[0] == '-' && typed[1] == '-';

	if (c == ':') {
		if (is_long)
			fprintf(stderr, PROG_NAME ": %s: %s needs a value\n", cmd, typed);
		else
			fprintf(stderr, PROG_NAME ": %s: -%c needs a value\n", cmd, optopt);
		return;
	}
	if (!is_long || (optopt && optopt < 256 && !strchr(typed, '='))) {
		fprintf(stderr, PROG_NAME ": %s: unknown option '-%c' (see " PROG_NAME " --help)\n",
			cmd, optopt);
		return;
	}
	if (optopt) {
		/* getopt found the option: only a value it does not take is left. */
		fprintf(stderr, PROG_NAME ": %s: %.*s takes no value\n", cmd,
			(int)strcspn(typed, "="), typed);
		return;
	}
	if (prefix_matches(opts, typed + 2, &a, &b) > 1)
		fprintf(stderr, PROG_NAME ": %s: ambiguous option '%s' (--%s, --%s%s)\n", cmd,
			typed, a, b, prefix_matches(opts, typed + 2, &a, &b) > 2 ? ", ..." : "");
	else
		fprintf(stderr, PROG_NAME ": %s: unknown option '%s' (see " PROG_NAME " --help)\n",
			cmd, typed);
}

int args_split(int argc, char *const argv[], int from)
{
	for (int i = from; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			return i;
	return -1;
}

int args_stray(const char *cmd, const char *arg, const char *hint)
{
	fprintf(stderr, PROG_NAME ": %s: unexpected argument '%s'%s%s%s\n", cmd, arg,
		hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	return -1;
}

int args_same_file(const char *opt_a, const char *a, const char *opt_b, const char *b)
{
	struct stat sa, sb;
	bool same;

	if (!a || !b)
		return 0;
	if (!strcmp(a, "-") || !strcmp(b, "-"))
		same = !strcmp(a, b);
	else if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		/* Two names of one device (/dev/null) do not clash; one file does. */
		same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && S_ISREG(sa.st_mode);
	else
		same = !strcmp(a, b);
	if (!same)
		return 0;
	fprintf(stderr, PROG_NAME ": %s '%s' and %s '%s' are the same file\n", opt_a, a, opt_b, b);
	return -1;
}
