// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the events file as `faultline show` and `faultline
 * report` read it: the input is split into lines as getline() does, each
 * line goes to evlog_add_line(), then evlog_finish() lays the flows out and
 * both renderers draw every flow into memory streams (show's text ladder,
 * with and without colour, and report's HTML, whole and for one flow).
 * The whole input is also parsed as one JSON value. Seeds:
 * fuzz/corpus/events/, dictionary fuzz/events.dict.
 *
 * Unlike show_load(), a refused line does not end the read: the log must
 * keep what it had (evlog.h), so what follows is still read and drawn.
 * Inputs without a refused line are exactly what the CLI accepts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evlog.h"
#include "../cli/report.h"
#include "../cli/show.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                         \
	do {                                \
		if (!(cond))                \
			__builtin_trap();   \
	} while (0)

/* Count the nodes reachable from v; every one must be inside the tree. */
static uint32_t walk(const struct evlog_json *j, const struct evlog_jval *v, int depth)
{
	uint32_t n = 1, members = 0;

	CHECK(depth <= 65);
	CHECK(v >= j->v && v < j->v + j->nv);
	if (v->type == EVLOG_J_STR)
		CHECK(strnlen(v->str, v->n + 1) <= v->n);
	for (const struct evlog_jval *m = evlog_json_first(j, v); m; m = evlog_json_next(j, m)) {
		CHECK((v->type == EVLOG_J_OBJ) == (m->key != NULL));
		n += walk(j, m, depth + 1);
		members++;
	}
	if (v->type == EVLOG_J_ARR || v->type == EVLOG_J_OBJ)
		CHECK(members == v->n);
	return n;
}

static void check_json(const uint8_t *data, size_t size)
{
	struct evlog_json j = { 0 };
	char *copy = malloc(size ? size : 1);
	int ret;

	CHECK(copy);
	memcpy(copy, data, size);
	ret = evlog_json_parse(&j, copy, size);
	if (ret == 0)
		CHECK(walk(&j, evlog_json_root(&j), 0) == j.nv);
	else
		CHECK(j.err && j.err_off <= size);
	evlog_json_close(&j);
	free(copy);
}

static void check_layout(const struct evlog *log)
{
	for (size_t i = 0; i < evlog_n_convs(log); i++) {
		const struct evlog_conv *f = evlog_conv(log, i);

		CHECK(evlog_conv_by_id(log, f->id) == f);
		for (size_t k = 0; k < f->n_pkts; k++) {
			const struct evlog_pkt *p = evlog_pkt(log, f->pkts[k]);

			CHECK(p && p->conv_idx == i && p->conv_pos == k);
		}
		for (size_t k = 0; k < f->n_trks; k++)
			CHECK(evlog_trk(log, f->trks[k]));
		for (size_t k = 0; k < f->n_rows; k++) {
			const struct evlog_row *r = &f->rows[k];

			CHECK(r->kind == EVLOG_ROW_STATE ? evlog_trk(log, r->idx) != NULL :
							   evlog_pkt(log, r->idx) != NULL);
			CHECK(r->pair < 0 || (size_t)r->pair < f->n_rows);
		}
	}
}

/*
 * show's text goes to a terminal: whatever the file held, no control
 * character but the line ends (the colour codes are show's own, and only
 * with colour on).
 */
static void check_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		CHECK(s[i] == '\n' || ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f));
}

static void render(const struct evlog *log)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	CHECK(out);
	for (size_t i = 0; i < evlog_n_convs(log); i++)
		show_conv(out, log, evlog_conv(log, i), false);
	CHECK(fflush(out) == 0);
	check_text(buf, len);
	for (size_t i = 0; i < evlog_n_convs(log); i++)
		show_conv(out, log, evlog_conv(log, i), true);
	CHECK(report_write(out, log, "fuzz <&\"'>.jsonl", 0) == 0);
	if (evlog_n_convs(log))
		CHECK(report_write(out, log, "fuzz", evlog_conv(log, 0)->id) == 0);
	CHECK(fclose(out) == 0);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evlog *log = evlog_new();
	const uint8_t *p = data, *end = data + size;
	struct evlog_error err;
	unsigned lines = 0;

	CHECK(log);
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* An exact-size copy, so ASan flags any read past the line. */
		char *line = malloc(n);
		int ret;

		CHECK(line);
		memcpy(line, p, n);
		ret = evlog_add_line(log, line, n, &err);
		lines++;
		if (ret) {
			CHECK(ret == -EBADMSG);
			CHECK(err.line == lines && err.col >= 1);
			CHECK(strnlen(err.msg, sizeof(err.msg)) < sizeof(err.msg) && err.msg[0]);
		}
		free(line);
		p += n;
	}
	CHECK(evlog_n_lines(log) == lines);
	CHECK(evlog_finish(log) == 0);
	check_layout(log);
	render(log);
	evlog_free(log);
	check_json(data, size);
	return 0;
}
