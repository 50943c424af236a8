// SPDX-License-Identifier: MIT
/*
 * show: an events file as text ladder diagrams. The facts (labels, notes,
 * row order) come from proxy/evlog; this file only places characters.
 *
 *      t (s)        client |                                        | server
 *   0.507883         seg 1 |-- SYN seq=0 -------------------------->|
 *   0.509994        seg 18 |-- ACK ack=1 ------------X              | DROPPED by rule 1
 *   0.508688         seg 4 |-- data seq=1 len=7240 ack=1 -+         | held: delay 30.0 ms (rule 3 slow)
 *   0.538771         seg 4 |                              +~~~~~~~~>| delayed 30.1 ms
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "evlog.h"
#include "show.h"

#define PROG_NAME "faultline"

/* Columns. Everything is placed at fixed positions: no terminal probing. */
#define WIDTH 100
#define TIME_W 10		/* "%10.6f" */
#define LANE_L 24		/* the left endpoint's lane */
#define ARROW_W 40		/* between the lanes */
#define LANE_R (LANE_L + 1 + ARROW_W)
#define RIGHT (LANE_R + 2)	/* right state or notes */
#define NOTE_W (WIDTH - RIGHT)
#define LABEL_MAX (ARROW_W - 8)	/* leaves room for "-- ", " -", the mark and the head */

#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_MAGENTA "\033[35m"
#define C_CYAN "\033[36m"
#define C_OFF "\033[0m"

struct line {
	char b[WIDTH + EVLOG_NOTE_LEN + 8];
	const char *color;
};

static void line_init(struct line *l, bool lanes)
{
	memset(l->b, ' ', sizeof(l->b) - 1);
	l->b[sizeof(l->b) - 1] = '\0';
	l->color = NULL;
	if (lanes) {
		l->b[LANE_L] = '|';
		l->b[LANE_R] = '|';
	}
}

/* Copy s to column col, at most max characters, no terminator. */
static void put_at(struct line *l, int col, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		n = max;
	if (col + n > sizeof(l->b) - 1)
		n = sizeof(l->b) - 1 - (size_t)col;
	memcpy(l->b + col, s, n);
}

/* s right-aligned so that it ends just before column end, starting no earlier than start. */
static void put_right(struct line *l, int start, int end, const char *s)
{
	size_t n = strlen(s), room = (size_t)(end - start);

	if (n > room)
		n = room;
	memcpy(l->b + end - n, s, n);
}

/* The left endpoint's name, ending at its lane; a long one keeps its tail (the port). */
static void put_name(struct line *l, const char *name)
{
	size_t n = strlen(name), room = LANE_L - 1;

	if (n > room) {
		name += n - room + 1;
		l->b[0] = '~';
		n = room - 1;
	}
	memcpy(l->b + LANE_L - 1 - n, name, n);
}

static void put_time(struct line *l, double t)
{
	char s[32];

	snprintf(s, sizeof(s), "%*.6f", TIME_W, t);
	put_at(l, 0, s, TIME_W + 2);
}

/*
 * Names and states come from the events file and go to a terminal: a
 * control character among them (an escape sequence, a line end) would
 * drive the terminal or break the columns, so it prints as '?', as
 * report.c's esc() does for the HTML page.
 */
static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static void put_text(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(is_control((unsigned char)s[i]) ? '?' : s[i], out);
}

static void emit(FILE *out, struct line *l, bool color)
{
	size_t n = sizeof(l->b) - 1;

	while (n && l->b[n - 1] == ' ')
		n--;
	l->b[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (is_control((unsigned char)l->b[i]))
			l->b[i] = '?';
	if (color && l->color)
		fprintf(out, "%s%s%s\n", l->color, l->b, C_OFF);
	else
		fprintf(out, "%s\n", l->b);
}

enum arrow {
	ARROW_PASS,	/* -- LABEL ----------> */
	ARROW_DROP,	/* -- LABEL ------X     */
	ARROW_HOLD,	/* -- LABEL ------+     */
	ARROW_RELEASE,	/*                +~~~> */
};

/*
 * Where a dropped or held packet stops: two thirds across, or past its
 * label. The release row puts its '+' in the same column, so the two rows
 * read as one bent arrow with faultline at the bend.
 */
static int mark_col(size_t label_len)
{
	int m = ARROW_W * 2 / 3;

	if ((int)label_len + 5 > m)
		m = (int)label_len + 5;
	return m < ARROW_W - 2 ? m : ARROW_W - 2;
}

static void put_arrow(struct line *l, unsigned from, enum arrow kind, const char *label)
{
	size_t lab = strlen(label);
	int m = mark_col(lab), lab_at;
	char a[ARROW_W];

	/* Drawn left to right, mirrored below for the other way. */
	memset(a, ' ', sizeof(a));
	switch (kind) {
	case ARROW_PASS:
		memset(a, '-', ARROW_W - 1);
		a[ARROW_W - 1] = '>';
		break;
	case ARROW_DROP:
	case ARROW_HOLD:
		memset(a, '-', (size_t)m);
		a[m] = kind == ARROW_DROP ? 'X' : '+';
		break;
	case ARROW_RELEASE:
		a[m] = '+';
		memset(a + m + 1, '~', (size_t)(ARROW_W - 2 - m));
		a[ARROW_W - 1] = '>';
		break;
	}
	if (kind != ARROW_RELEASE) {
		a[2] = ' ';
		a[3 + lab] = ' ';
	}
	if (from) {
		for (int i = 0; i < ARROW_W / 2; i++) {
			char c = a[i];

			a[i] = a[ARROW_W - 1 - i];
			a[ARROW_W - 1 - i] = c;
		}
		for (int i = 0; i < ARROW_W; i++)
			if (a[i] == '>')
				a[i] = '<';
	}
	memcpy(l->b + LANE_L + 1, a, sizeof(a));
	if (kind == ARROW_RELEASE)
		return;
	/* The label sits next to the sender's lane, readable either way. */
	lab_at = from ? ARROW_W - 3 - (int)lab : 3;
	memcpy(l->b + LANE_L + 1 + lab_at, label, lab);
}

/* Notes right of the right lane, one per row, long ones wrapped at spaces. */
static void put_notes(FILE *out, struct line *l, const struct evlog_notes *notes, bool color)
{
	bool first = true;

	for (unsigned i = 0; i < notes->n; i++) {
		const char *s = notes->s[i];

		while (*s) {
			size_t n = strlen(s);

			if (n > NOTE_W) {
				n = NOTE_W;
				while (n > NOTE_W / 2 && s[n] != ' ')
					n--;
				if (s[n] != ' ')
					n = NOTE_W;
			}
			if (!first) {
				const char *c = l->color;

				emit(out, l, color);
				line_init(l, true);
				l->color = c;
			}
			memcpy(l->b + RIGHT, s, n);
			first = false;
			s += n;
			while (*s == ' ')
				s++;
		}
	}
	emit(out, l, color);
}

static const char *row_color(const struct evlog_pkt *p)
{
	if (p->verdict == EVLOG_DROP)
		return C_RED;
	if (p->verdict == EVLOG_HOLD)
		return C_YELLOW;
	if (p->caused_by || p->egress_caused_by)
		return C_MAGENTA;
	return NULL;
}

static void packet_row(FILE *out, const struct evlog *log, const struct evlog_row *r, bool color)
{
	const struct evlog_pkt *p = evlog_pkt(log, r->idx);
	struct evlog_notes notes;
	char label[LABEL_MAX + 1], ident[32];
	enum arrow kind;
	struct line l;

	evlog_pkt_label(log, p, LABEL_MAX, label, sizeof(label));
	evlog_pkt_ident(p, ident, sizeof(ident));
	evlog_pkt_notes(log, p, r->kind, &notes);
	if (r->kind == EVLOG_ROW_RELEASE)
		kind = ARROW_RELEASE;
	else if (p->verdict == EVLOG_DROP)
		kind = ARROW_DROP;
	else if (p->verdict == EVLOG_HOLD)
		kind = ARROW_HOLD;
	else
		kind = ARROW_PASS;
	line_init(&l, true);
	l.color = row_color(p);
	put_time(&l, r->t);
	put_right(&l, TIME_W + 1, LANE_L - 1, ident);
	put_arrow(&l, p->from, kind, label);
	put_notes(out, &l, &notes, color);
}

/* Consecutive transitions at one instant share a row, one column per endpoint. */
struct pending {
	bool any;
	double t;
	const char *state[2];
};

static void flush_states(FILE *out, struct pending *ps, bool color)
{
	struct line l;

	if (!ps->any)
		return;
	line_init(&l, true);
	l.color = C_CYAN;
	put_time(&l, ps->t);
	if (ps->state[0])
		put_right(&l, TIME_W + 1, LANE_L - 1, ps->state[0]);
	if (ps->state[1])
		put_at(&l, RIGHT, ps->state[1], NOTE_W);
	emit(out, &l, color);
	memset(ps, 0, sizeof(*ps));
}

static void state_row(FILE *out, struct pending *ps, const struct evlog_trk *k, bool color)
{
	if (ps->any && (ps->t != k->t || ps->state[k->endpoint]))
		flush_states(out, ps, color);
	ps->any = true;
	ps->t = k->t;
	ps->state[k->endpoint] = k->new_state;
}

/* Words of s, wrapped at WIDTH, each line starting with indent spaces. */
static void wrap(FILE *out, const char *s, int indent)
{
	int col = 0;

	while (*s) {
		size_t w = strcspn(s, " ");

		if (col && col + 1 + (int)w > WIDTH) {
			fputc('\n', out);
			col = 0;
		}
		if (!col) {
			col = fprintf(out, "%*s", indent, "");
		} else {
			fputc(' ', out);
			col++;
		}
		put_text(out, s, w);
		col += (int)w;
		s += w;
		while (*s == ' ')
			s++;
	}
	if (col)
		fputc('\n', out);
}

struct sbuf {
	char *s;
	size_t len;
	FILE *f;
};

static int sbuf_open(struct sbuf *b)
{
	b->s = NULL;
	b->len = 0;
	b->f = open_memstream(&b->s, &b->len);
	return b->f ? 0 : -ENOMEM;
}

static const char *sbuf_close(struct sbuf *b)
{
	fclose(b->f);
	return b->s ? b->s : "";
}

/* "sent:" and "arrived:" as lists of ords: a datagram flow's reordering and loss at a glance. */
static void order_lines(FILE *out, const struct evlog *log, const struct evlog_conv *conv,
			unsigned from)
{
	struct sbuf b;
	const char *text;
	size_t n = conv->arrived[from];
	const struct evlog_pkt **by_pos;

	if (!conv->sent[from] || sbuf_open(&b))
		return;
	fprintf(b.f, "%s > %s:", conv->name[from], conv->name[!from]);
	fprintf(b.f, " sent %u, arrived %u", conv->sent[from], conv->arrived[from]);
	text = sbuf_close(&b);
	wrap(out, text, 3);
	free(b.s);

	if (sbuf_open(&b))
		return;
	fprintf(b.f, "sent:");
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = evlog_pkt(log, conv->pkts[i]);

		if (p->from == from && !p->injected)
			fprintf(b.f, " %llu", (unsigned long long)p->ord);
	}
	text = sbuf_close(&b);
	wrap(out, text, 5);
	free(b.s);

	by_pos = calloc(n + 1, sizeof(*by_pos));
	if (!by_pos || sbuf_open(&b)) {
		free(by_pos);
		return;
	}
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = evlog_pkt(log, conv->pkts[i]);

		if (p->from == from && p->recv_pos && p->recv_pos <= n)
			by_pos[p->recv_pos - 1] = p;
	}
	fprintf(b.f, "arrived:");
	for (size_t i = 0; i < n; i++)
		if (by_pos[i])
			fprintf(b.f, " %llu", (unsigned long long)by_pos[i]->ord);
	fprintf(b.f, "%s", n ? "" : " none");
	text = sbuf_close(&b);
	wrap(out, text, 5);
	free(b.s);
	free(by_pos);

	if (conv->arrived[from] == conv->sent[from] || sbuf_open(&b))
		return;
	fprintf(b.f, "never arrived:");
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = evlog_pkt(log, conv->pkts[i]);

		if (p->from == from && !p->recv_pos && !p->injected)
			fprintf(b.f, " %llu%s", (unsigned long long)p->ord,
				p->verdict == EVLOG_DROP ? "" : "(held)");
	}
	text = sbuf_close(&b);
	wrap(out, text, 5);
	free(b.s);
}

static void summary(FILE *out, const struct evlog *log, const struct evlog_conv *conv)
{
	const char *unit = conv->tcp ? "segment" : !strcmp(conv->proto, "udp") ? "datagram" : "packet";
	size_t n = conv->n_pkts;
	struct sbuf b;

	if (sbuf_open(&b))
		return;
	fprintf(b.f, "%zu %s%s: %u dropped, %u held", n, unit, n == 1 ? "" : "s", conv->dropped,
		conv->held);
	if (conv->copies)
		fprintf(b.f, ", %u extra cop%s", conv->copies, conv->copies == 1 ? "y" : "ies");
	if (conv->corrupted)
		fprintf(b.f, ", %u corrupted", conv->corrupted);
	if (conv->tcp)
		fprintf(b.f, "; %u retransmission%s (%u caused by faultline), %u out-of-order, "
			     "%u dup-ack%s",
			conv->retrans, conv->retrans == 1 ? "" : "s", conv->retrans_faultline, conv->out_of_order,
			conv->dup_acks, conv->dup_acks == 1 ? "" : "s");
	if (conv->end >= 0) {
		const struct evlog_trk *k = evlog_trk(log, (size_t)conv->end);

		fprintf(b.f, "; the tracker ended it (%s)", *k->reason ? k->reason : "?");
	}
	wrap(out, sbuf_close(&b), 3);
	free(b.s);
	/* Only where faultline could have changed the order or the count. */
	if (!conv->tcp && (conv->held || conv->dropped))
		for (unsigned from = 0; from < 2; from++)
			order_lines(out, log, conv, from);
}

void show_conv(FILE *out, const struct evlog *log, const struct evlog_conv *conv, bool color)
{
	struct pending ps = { 0 };
	struct line l;

	if (conv->tcp) {
		fprintf(out, "== tcp connection %u: ", conv->id);
		put_text(out, conv->title, strlen(conv->title));
		fprintf(out, " (%zu segment%s)\n", conv->n_pkts, conv->n_pkts == 1 ? "" : "s");
	} else {
		const char *name = conv->n_pkts ? evlog_pkt(log, conv->pkts[0])->flow : conv->title;

		fprintf(out, "== flow %u: ", conv->id);
		put_text(out, name, strlen(name));
		fprintf(out, " (%zu packet%s)\n", conv->n_pkts, conv->n_pkts == 1 ? "" : "s");
	}
	if (conv->tcp)
		fprintf(out, "   seq and ack count from each side's SYN; seg N: the tracker's segment number\n");
	else
		fprintf(out, "   #N: the packet's ordinal in its direction (\"ord\")\n");
	fprintf(out, "   --> passed   --X dropped   --+ held by faultline, +~~> let go\n");
	fputc('\n', out);
	line_init(&l, true);
	put_at(&l, 0, "     t (s)", TIME_W);
	if (conv->tcp) {
		put_right(&l, TIME_W + 1, LANE_L - 1, "client");
		put_at(&l, RIGHT, "server", NOTE_W);
	}
	emit(out, &l, false);
	line_init(&l, true);
	put_name(&l, conv->name[0]);
	put_at(&l, RIGHT, conv->name[1], NOTE_W);
	emit(out, &l, false);

	if (conv->n_rows && (conv->first_state[0] || conv->first_state[1])) {
		ps.any = true;
		ps.t = conv->rows[0].t;
		ps.state[0] = conv->first_state[0];
		ps.state[1] = conv->first_state[1];
		flush_states(out, &ps, color);
	}
	for (size_t i = 0; i < conv->n_rows; i++) {
		const struct evlog_row *r = &conv->rows[i];

		if (r->kind == EVLOG_ROW_STATE) {
			state_row(out, &ps, evlog_trk(log, r->idx), color);
			continue;
		}
		flush_states(out, &ps, color);
		packet_row(out, log, r, color);
	}
	flush_states(out, &ps, color);
	if (conv->last_state[0] || conv->last_state[1]) {
		line_init(&l, true);
		l.color = C_CYAN;
		put_at(&l, 0, "       end", TIME_W);
		if (conv->last_state[0])
			put_right(&l, TIME_W + 1, LANE_L - 1, conv->last_state[0]);
		if (conv->last_state[1])
			put_at(&l, RIGHT, conv->last_state[1], NOTE_W);
		emit(out, &l, color);
	}
	fputc('\n', out);
	summary(out, log, conv);
}

struct evlog *show_load(const char *path)
{
	bool is_stdin = !strcmp(path, "-");
	FILE *in = is_stdin ? stdin : fopen(path, "r");
	struct evlog *log = NULL;
	struct evlog_error err;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	if (!in) {
		fprintf(stderr, PROG_NAME ": %s: %s\n", path, strerror(errno));
		return NULL;
	}
	log = evlog_new();
	if (!log) {
		ret = -ENOMEM;
		goto out;
	}
	while ((n = getline(&line, &cap, in)) >= 0) {
		ret = evlog_add_line(log, line, (size_t)n, &err);
		if (ret)
			break;
	}
	if (!ret && ferror(in)) {
		fprintf(stderr, PROG_NAME ": %s: read error\n", path);
		ret = -EIO;
		goto out;
	}
	if (!ret)
		ret = evlog_finish(log);
	if (ret == -EBADMSG && err.json)
		fprintf(stderr, "%s:%u: bad JSON: %s (column %u)\n", path, err.line, err.msg, err.col);
	else if (ret == -EBADMSG)
		fprintf(stderr, "%s:%u: %s\n", path, err.line, err.msg);
out:
	if (ret == -ENOMEM)
		fprintf(stderr, PROG_NAME ": %s: out of memory\n", path);
	free(line);
	if (!is_stdin)
		fclose(in);
	if (ret) {
		evlog_free(log);
		return NULL;
	}
	return log;
}

static void show_usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG_NAME " show EVENTS.jsonl [--flow N] [--color]\n"
		"\n"
		"Print a ladder diagram per TCP connection or other flow of an --events file\n"
		"('-' reads standard input): the two endpoints as columns, their states, one\n"
		"arrow per packet in time order. --> passed, --X dropped, --+ held by faultline,\n"
		"+~~> the held packet let go.\n"
		"\n"
		"  -F, --flow N   only flow N: a TCP connection's number, or the number in a\n"
		"                 flow's header\n"
		"      --color    colour drops, holds, retransmissions and states (ANSI)\n"
		"\n"
		"A line that is not JSON stops with FILE:LINE: bad JSON and exit code 1.\n");
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flow", required_argument, NULL, 'F' },
		{ "color", no_argument, NULL, 'c' },
		{ "colour", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct evlog_conv *only = NULL;
	bool color = false, have_flow = false;
	uint64_t conv_id = 0;
	struct evlog *log;
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:h", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			/* Flows are numbered from 1. */
			if (args_once("--flow", &have_flow) ||
			    args_uint("--flow", optarg, 1, UINT32_MAX, &conv_id))
				return 2;
			break;
		case 'c':
			color = true;
			break;
		case 'h':
			show_usage(stdout);
			return 0;
		default:
			args_getopt_error("show", c, argv, opts);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, PROG_NAME ": show: which events file? (show EVENTS [--flow N] [--color])\n");
		return 2;
	}
	if (optind + 1 < argc) {
		args_stray("show", argv[optind + 1], "one events file at a time");
		return 2;
	}
	if (args_value("show", argv[optind]))
		return 2;
	log = show_load(argv[optind]);
	if (!log)
		return 1;
	if (have_flow) {
		only = evlog_conv_by_id(log, (unsigned)conv_id);
		if (!only) {
			fprintf(stderr, PROG_NAME ": show: %s has no flow %llu\n", argv[optind],
				(unsigned long long)conv_id);
			ret = 1;
			goto out;
		}
		show_conv(stdout, log, only, color);
	} else {
		if (!evlog_n_convs(log))
			printf("no packets in %s\n", argv[optind]);
		for (size_t i = 0; i < evlog_n_convs(log); i++) {
			if (i)
				putchar('\n');
			show_conv(stdout, log, evlog_conv(log, i), color);
		}
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, PROG_NAME " show: write error\n");
		ret = 1;
	}
out:
	evlog_free(log);
	return ret;
}
