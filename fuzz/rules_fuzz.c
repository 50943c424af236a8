// SPDX-License-Identifier: MIT
/*
 * rules_fuzz: any bytes given to the rule parser must either be rejected
 * with an error or parse to a rule whose canonical print parses back to an
 * equal rule and prints identically.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

/*
 * libpcap's filter compiler is slow on long expressions and resolves host
 * names; the grammar under test fits in a short line anyway.
 */
#define MAX_INPUT 1024

static char *print_rule(const struct rule *r)
{
	int n = rule_print(r, NULL, 0);
	char *buf;

	if (n < 0)
		abort();
	buf = malloc((size_t)n + 1);
	if (!buf)
		abort();
	if (rule_print(r, buf, (size_t)n + 1) != n || strlen(buf) != (size_t)n)
		abort();
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rule_set *a = NULL, *b = NULL;
	char *line, *p1 = NULL, *p2 = NULL;
	struct rule_error err;
	const struct rule *ra, *rb;

	if (size > MAX_INPUT)
		return -1;
	line = malloc(size + 1);
	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';

	a = rule_set_new();
	b = rule_set_new();
	if (!a || !b)
		abort();
	if (rule_set_add_line(a, line, "fuzz", 1, &err) < 0) {
		/* An error must point inside the line or just past it. */
		if (err.col < 0 || (size_t)err.col > strlen(line) + 1 || !err.msg[0])
			abort();
		goto out;
	}
	if (rule_set_count(a) == 0)
		goto out;

	ra = rule_set_get(a, 0);
	p1 = print_rule(ra);
	if (rule_set_add_line(b, p1, "fuzz-print", 1, &err) < 0) {
		fprintf(stderr, "input '%s'\nprinted '%s'\nfails: %d: %s\n", line, p1, err.col,
			err.msg);
		abort();
	}
	if (rule_set_count(b) != 1)
		abort();
	rb = rule_set_get(b, 0);
	if (!rule_equal(ra, rb)) {
		fprintf(stderr, "input '%s'\nprinted '%s' parses differently\n", line, p1);
		abort();
	}
	p2 = print_rule(rb);
	if (strcmp(p1, p2)) {
		fprintf(stderr, "unstable print: '%s' then '%s'\n", p1, p2);
		abort();
	}
out:
	free(p2);
	free(p1);
	rule_set_free(b);
	rule_set_free(a);
	free(line);
	return 0;
}
