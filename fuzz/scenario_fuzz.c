// SPDX-License-Identifier: MIT
/*
 * scenario_fuzz: any bytes given to the scenario parser are refused with a
 * located error (a line within the text, a message) or parse into steps
 * that each have what their kind needs: a time or a condition that parses
 * again, a name where the operation takes one, a rule for add, a path for
 * replace.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "wait.h"

/* The rule parser compiles filters with libpcap: keep inputs short. */
#define MAX_INPUT 4096

static void check_step(const struct scenario_step *st, int lines)
{
	if (st->line < 1 || st->line > lines || !st->text || !st->text[0])
		abort();
	if (st->when != SCENARIO_AT) {
		struct wait *w = st->condition ? wait_parse(st->condition, NULL) : NULL;

		if (!w)
			abort();
		wait_free(w);
	}
	switch (st->op) {
	case SCENARIO_ADD:
		if (!st->rule)
			abort();
		break;
	case SCENARIO_DEL:
	case SCENARIO_ENABLE:
	case SCENARIO_DISABLE:
		if (!st->name)
			abort();
		break;
	case SCENARIO_REPLACE:
		if (!st->path)
			abort();
		break;
	case SCENARIO_END:
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario_error e;
	struct scenario *s;
	int lines = 1;

	if (size > MAX_INPUT)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	s = scenario_parse((const char *)data, size, "f.scn", &e);
	if (!s) {
		if (!e.msg[0] || e.line < 0 || e.line > lines || e.col < 0 || !e.file)
			abort();
		return 0;
	}
	if (!s->n)
		abort();
	for (size_t i = 0; i < s->n; i++)
		check_step(&s->steps[i], lines);
	scenario_free(s);
	return 0;
}
