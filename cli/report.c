// SPDX-License-Identifier: MIT
/*
 * report: an events file as one HTML page. Inline CSS and SVG only: the
 * page fetches nothing and runs no script, so it can be mailed, archived
 * or opened offline. Labels, notes and row order come from proxy/evlog,
 * the same as `faultline show`; this file only places them.
 *
 * The vertical axis is time, but not to one scale: rows are at least a
 * text line apart (a burst of segments in one microsecond must stay
 * legible), gaps grow with time up to a bound, and longer gaps are
 * broken and labelled. A held packet's arrow runs from its capture row on
 * the sender's lane to its release row on the receiver's lane, so delays
 * and reordering show as slanted and crossing arrows.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "act.h"
#include "args.h"
#include "evlog.h"
#include "report.h"
#include "show.h"

#define PROG_NAME "faultline"

/* Diagram geometry, in SVG user units (px). */
#define X_AXIS 84
#define X_IDENT (X_L - 12)
#define X_L 210
#define X_R 610
#define X_NOTE (X_R + 16)
#define SVG_W 1080
#define TOP 70			/* first row */
#define STEP 24			/* least distance to a packet row */
#define STEP_STATE 20		/* least distance to a state row */
#define PX_PER_MS 4.0		/* time scale where rows are sparse */
#define GAP_MAX 110.0		/* a longer gap is broken, not drawn to scale */
#define NOTE_LH 13		/* line height of stacked notes */
#define ORDER_ROWS_MAX 1000	/* rows of a send/arrival order table */

/* ---- escaping ------------------------------------------------------------------ */

/* Bytes in the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned cp;
	size_t n;

	if (*p >= 0xc2 && *p <= 0xdf) {
		n = 2;
		cp = *p & 0x1f;
	} else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		cp = *p & 0x0f;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		cp = *p & 0x07;
	} else {
		return 0;
	}
	/* A NUL fails the continuation test, so this never reads past the end. */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * Text from the events file into HTML: markup characters become
 * entities, control characters and broken UTF-8 become replacements, so
 * the page stays well-formed whatever the file held.
 */
static void esc(FILE *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n;

		switch (*p) {
		case '&':
			fputs("&amp;", o);
			break;
		case '<':
			fputs("&lt;", o);
			break;
		case '>':
			fputs("&gt;", o);
			break;
		case '"':
			fputs("&quot;", o);
			break;
		case '\'':
			fputs("&#39;", o);
			break;
		default:
			if (*p >= 0x80) {
				n = utf8_len(p);
				if (n) {
					fwrite(p, 1, n, o);
					p += n;
					continue;
				}
				fputs("\xef\xbf\xbd", o);
			} else if (*p < 0x20 && *p != '\t' && *p != '\n') {
				fputc('?', o);
			} else {
				fputc(*p, o);
			}
		}
		p++;
	}
}

__attribute__((format(printf, 2, 3)))
static void escf(FILE *o, const char *fmt, ...)
{
	char buf[512], *text = buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Names and reasons come from the events file: any length, never cut. */
	if (n >= (int)sizeof(buf)) {
		text = malloc((size_t)n + 1);
		if (!text) {
			esc(o, buf);
			esc(o, "...");
			return;
		}
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	esc(o, text);
	if (text != buf)
		free(text);
}

/* ---- the page ----------------------------------------------------------------------- */

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
	"h3{font-size:1.05em;margin:1.6em 0 .3em}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"th,td{border:1px solid #ccc;padding:2px 8px;text-align:right;vertical-align:top}"
	"th{background:#f3f3f3}td.l,th.l{text-align:left}"
	"td.moved{background:#ffe0b2}td.lost{background:#ffcdd2}"
	"pre{font:12px/1.25 monospace;background:#fafafa;border:1px solid #ddd;padding:.5em;"
	"overflow-x:auto}"
	"svg.ladder{display:block;font:11px sans-serif;background:#fff}"
	"svg text{fill:#222}"
	".lane{stroke:#555;stroke-width:2}.axis{stroke:#999}.tick{stroke:#bbb}"
	"text.time{fill:#666;font:10px monospace}text.ident{fill:#555;font:10px monospace}"
	"text.ep{font-weight:bold}text.role{fill:#666}"
	"text.lbl{font:11px monospace}text.note{fill:#444}text.note.drop{fill:#c62828;font-weight:bold}"
	"text.gap{fill:#888;font-style:italic}path.brk{stroke:#999;fill:none}"
	".pkt{stroke-width:1.6;fill:none}.pkt.pass{stroke:#333}.pkt.retrans{stroke:#7b1fa2}"
	".pkt.drop{stroke:#c62828}.pkt.held{stroke:#ef6c00;stroke-dasharray:6 3}"
	".pkt.lost{stroke:#999;stroke-dasharray:2 3}"
	".lg{stroke-width:1.6;fill:none}.lg.pass{stroke:#333}.lg.retrans{stroke:#7b1fa2}"
	".lg.drop{stroke:#c62828}.lg.held{stroke:#ef6c00;stroke-dasharray:6 3}"
	"path.x,path.lgx{stroke:#c62828;stroke-width:2.2}"
	"g.state rect{fill:#e3f2fd;stroke:#1565c0}g.state text{fill:#0d47a1;font:10px monospace}"
	"g.state.end rect{fill:#eceff1;stroke:#546e7a}";

/* Arrow heads, one per colour: markers do not take the line's colour in SVG 1.1. */
static void defs(FILE *o)
{
	static const struct {
		const char *id, *color;
	} heads[] = {
		{ "fl-a-pass", "#333" },
		{ "fl-a-retrans", "#7b1fa2" },
		{ "fl-a-held", "#ef6c00" },
	};

	fprintf(o, "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\">"
		   "<defs>\n");
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		fprintf(o, "<marker id=\"%s\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
			   "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
			   "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"%s\"/></marker>\n",
			heads[i].id, heads[i].color);
	fprintf(o, "</defs></svg>\n");
}

static void legend(FILE *o)
{
	fprintf(o,
		"<svg class=\"ladder\" width=\"980\" height=\"54\" role=\"img\" aria-label=\"legend\">\n"
		"<line class=\"lg pass\" x1=\"10\" y1=\"20\" x2=\"90\" y2=\"20\" marker-end=\"url(#fl-a-pass)\"/>"
		"<text x=\"100\" y=\"24\">passed</text>\n"
		"<line class=\"lg drop\" x1=\"170\" y1=\"20\" x2=\"225\" y2=\"20\"/>"
		"<path class=\"lgx\" d=\"M220,15 L230,25 M220,25 L230,15\"/>"
		"<text x=\"240\" y=\"24\">dropped</text>\n"
		"<line class=\"lg held\" x1=\"320\" y1=\"10\" x2=\"400\" y2=\"40\" "
		"marker-end=\"url(#fl-a-held)\"/>"
		"<text x=\"410\" y=\"24\">held (delay, reorder, rate): capture to release</text>\n"
		"<line class=\"lg retrans\" x1=\"700\" y1=\"20\" x2=\"780\" y2=\"20\" "
		"marker-end=\"url(#fl-a-retrans)\"/>"
		"<text x=\"790\" y=\"24\">caused by faultline</text>\n"
		"</svg>\n"
		"<p>Time runs down. Rows keep at least a line apart, so a burst stays legible; "
		"gaps are drawn to scale (%.0f px per ms) up to %.0f px, and longer gaps are broken "
		"and labelled. Boxes on a lane are the TCP state the shadow tracker inferred for "
		"that endpoint. Hover an arrow for the packet's details.</p>\n",
		PX_PER_MS, GAP_MAX);
}

static void overview(FILE *o, const struct evlog *log, const char *source)
{
	unsigned acc = 0, drop = 0, held = 0, rel = 0, early = 0, lost = 0, copies = 0, corrupt = 0,
		 gso = 0, tcp = 0, made = 0;
	size_t n = evlog_n_pkts(log);
	double t0 = 0, t1 = 0;

	for (size_t i = 0; i < n; i++) {
		const struct evlog_pkt *p = evlog_pkt(log, i);

		/* The RSTs faultline made are drawn, not counted among the packets it read. */
		if (p->injected) {
			made++;
			continue;
		}
		acc += p->verdict == EVLOG_ACCEPT;
		drop += p->verdict == EVLOG_DROP;
		held += p->verdict == EVLOG_HOLD;
		rel += p->released;
		early += p->early;
		lost += p->verdict == EVLOG_HOLD && !p->released;
		copies += p->copies;
		corrupt += p->corrupt;
		gso += p->gso;
		if (!i || p->t < t0)
			t0 = p->t;
		if (p->t > t1)
			t1 = p->t;
		if (p->released && p->rel_t > t1)
			t1 = p->rel_t;
	}
	for (size_t i = 0; i < evlog_n_convs(log); i++)
		tcp += evlog_conv(log, i)->tcp;
	fprintf(o, "<p>Events file <code>");
	esc(o, source);
	fprintf(o, "</code>: %zu lines, %zu packets from %.6f s to %.6f s, %u TCP connection%s, "
		   "%zu other flow%s.</p>\n",
		evlog_n_lines(log), n - made, t0, t1, tcp, tcp == 1 ? "" : "s", evlog_n_convs(log) - tcp,
		evlog_n_convs(log) - tcp == 1 ? "" : "s");
	fprintf(o, "<h2 id=\"totals\">Totals</h2>\n<table><tr><th>packets</th><th>passed</th>"
		   "<th>dropped</th><th>held</th><th>released</th><th>released early</th>"
		   "<th>never released</th><th>extra copies</th><th>corrupted</th>"
		   "<th>GSO super-packets</th></tr>\n");
	fprintf(o, "<tr><td>%zu</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td>"
		   "<td>%u</td><td>%u</td><td>%u</td><td>%u</td></tr></table>\n",
		n - made, acc, drop, held, rel, early, lost, copies, corrupt, gso);
}

/* ---- counters per rule ---------------------------------------------------------------- */

/* A column per action (act_ops), in the table's order; "other" counts names it does not know. */
struct rule_row {
	unsigned rule, pkts, other;
	const char *name;	/* as the first action of the rule named it (borrowed from the log) */
	unsigned act[RULE_ACT__COUNT];
};

static int cmp_rule(const void *a, const void *b)
{
	const struct rule_row *x = a, *y = b;

	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct rule_row *rule_get(struct rule_row **rows, size_t *n, const struct evlog_action *a)
{
	struct rule_row *r;

	/*
	 * A rule is its number and its name: after a new rule set, the same
	 * number can be another rule's.
	 */
	for (size_t i = 0; i < *n; i++)
		if ((*rows)[i].rule == a->rule && !strcmp((*rows)[i].name, a->name))
			return &(*rows)[i];
	r = realloc(*rows, (*n + 1) * sizeof(**rows));
	if (!r)
		return NULL;
	*rows = r;
	r = &r[(*n)++];
	memset(r, 0, sizeof(*r));
	r->rule = a->rule;
	r->name = a->name;
	return r;
}

static int rules_table(FILE *o, const struct evlog *log)
{
	struct rule_row *rows = NULL;
	size_t n = 0;

	for (size_t i = 0; i < evlog_n_pkts(log); i++) {
		const struct evlog_pkt *p = evlog_pkt(log, i);

		/* It carries its cause's actions: counting it would count the cause twice. */
		if (p->injected)
			continue;
		for (unsigned a = 0; a < p->n_actions; a++) {
			struct rule_row *r = rule_get(&rows, &n, &p->actions[a]);
			bool seen = false;
			int k;

			if (!r) {
				free(rows);
				return -ENOMEM;
			}
			/* A packet counts once per rule, however many of its actions fired. */
			for (unsigned b = 0; b < a; b++)
				seen |= p->actions[b].rule == p->actions[a].rule &&
					!strcmp(p->actions[b].name, p->actions[a].name);
			r->pkts += !seen;
			k = p->actions[a].type;
			if (k >= 0)
				r->act[k]++;
			else
				r->other++;
		}
	}
	/* rows is NULL when no rule acted, and qsort() wants a real array. */
	if (n)
		qsort(rows, n, sizeof(*rows), cmp_rule);
	fprintf(o, "<h2 id=\"rules\">Rules</h2>\n");
	if (!n) {
		fprintf(o, "<p>No rule acted on any packet.</p>\n");
		return 0;
	}
	fprintf(o, "<p>From the packet lines' <code>actions</code>: what each rule did "
		   "(rule 1 is the first of the rule list). A rule that matched but whose "
		   "action did not fire (a probability) is not counted.</p>\n");
	fprintf(o, "<table><tr><th>rule</th><th>name</th><th>packets acted on</th>");
	for (int k = 0; k < RULE_ACT__COUNT; k++)
		fprintf(o, "<th>%s</th>", act_event_name(k));
	fprintf(o, "<th>other</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(o, "<tr><td>%u</td><td>", rows[i].rule);
		escf(o, "%s", rows[i].name);
		fprintf(o, "</td><td>%u</td>", rows[i].pkts);
		for (int k = 0; k < RULE_ACT__COUNT; k++)
			fprintf(o, "<td>%u</td>", rows[i].act[k]);
		fprintf(o, "<td>%u</td></tr>\n", rows[i].other);
	}
	fprintf(o, "</table>\n");
	free(rows);
	return 0;
}

/* ---- counters per connection and flow ---------------------------------------------------- */

/* "CLOSED → SYN_SENT → ..." for one endpoint, from its transitions. */
static void states_reached(FILE *o, const struct evlog *log, const struct evlog_conv *conv, unsigned e)
{
	bool any = false;

	if (conv->first_state[e]) {
		esc(o, conv->first_state[e]);
		any = true;
	}
	for (size_t i = 0; i < conv->n_trks; i++) {
		const struct evlog_trk *k = evlog_trk(log, conv->trks[i]);

		if (k->type != EVLOG_TRK_TRANSITION || k->endpoint != e)
			continue;
		if (any)
			fputs(" &#8594; ", o);
		esc(o, k->new_state);
		any = true;
	}
	if (!any)
		fputs("&#8212;", o);
}

static void conn_table(FILE *o, const struct evlog *log, unsigned only)
{
	bool any = false;

	for (size_t i = 0; i < evlog_n_convs(log); i++) {
		const struct evlog_conv *conv = evlog_conv(log, i);

		if (!conv->tcp || (only && conv->id != only))
			continue;
		if (!any) {
			fprintf(o, "<h2 id=\"connections\">TCP connections</h2>\n"
				   "<p>Counted from the packet lines; the tracker's own summary where it "
				   "wrote one (a connection that ended while faultline ran).</p>\n"
				   "<table><tr><th>conn</th><th class=\"l\">client &gt; server</th>"
				   "<th>segments</th><th>dropped</th><th>held</th>"
				   "<th>retransmissions (caused by faultline)</th><th>out-of-order</th>"
				   "<th>dup-acks</th><th class=\"l\">client states</th>"
				   "<th class=\"l\">server states</th><th class=\"l\">tracker summary</th>"
				   "</tr>\n");
			any = true;
		}
		fprintf(o, "<tr><td><a href=\"#flow-%u\">%u</a></td><td class=\"l\">", conv->id, conv->id);
		esc(o, conv->title);
		fprintf(o, "</td><td>%zu</td><td>%u</td><td>%u</td><td>%u (%u)</td><td>%u</td>"
			   "<td>%u</td><td class=\"l\">",
			conv->n_pkts, conv->dropped, conv->held, conv->retrans, conv->retrans_faultline, conv->out_of_order,
			conv->dup_acks);
		states_reached(o, log, conv, 0);
		fprintf(o, "</td><td class=\"l\">");
		states_reached(o, log, conv, 1);
		fprintf(o, "</td><td class=\"l\">");
		if (conv->end >= 0) {
			const struct evlog_trk *k = evlog_trk(log, (size_t)conv->end);
			const struct evlog_summary *s = &k->summary;

			escf(o, "ended: %s", k->reason);
			if (s->valid)
				escf(o, "; %u segments, %u retransmissions (%u by faultline), "
					"%u out-of-order (%u), %u dup-acks (%u)",
				     s->segments, s->retransmissions, s->retransmissions_faultline,
				     s->out_of_order, s->out_of_order_faultline, s->dup_acks,
				     s->dup_acks_faultline);
		} else {
			fputs("still open at the end of the file", o);
		}
		fprintf(o, "</td></tr>\n");
	}
	if (any)
		fprintf(o, "</table>\n");
}

static void flow_table(FILE *o, const struct evlog *log, unsigned only)
{
	bool any = false;

	for (size_t i = 0; i < evlog_n_convs(log); i++) {
		const struct evlog_conv *conv = evlog_conv(log, i);

		if (conv->tcp || (only && conv->id != only))
			continue;
		if (!any) {
			fprintf(o, "<h2 id=\"flows\">Other flows</h2>\n"
				   "<table><tr><th>flow</th><th class=\"l\">first packet's flow</th>"
				   "<th>packets</th><th>dropped</th><th>held</th><th>extra copies</th>"
				   "<th>sent &#8594; arrived</th><th>sent &#8592; arrived</th></tr>\n");
			any = true;
		}
		fprintf(o, "<tr><td><a href=\"#flow-%u\">%u</a></td><td class=\"l\">", conv->id, conv->id);
		esc(o, conv->n_pkts ? evlog_pkt(log, conv->pkts[0])->flow : conv->title);
		fprintf(o, "</td><td>%zu</td><td>%u</td><td>%u</td><td>%u</td><td>%u &#8594; %u</td>"
			   "<td>%u &#8594; %u</td></tr>\n",
			conv->n_pkts, conv->dropped, conv->held, conv->copies, conv->sent[0], conv->arrived[0], conv->sent[1],
			conv->arrived[1]);
	}
	if (any)
		fprintf(o, "</table>\n");
}

/* A datagram flow's send order beside its arrival order, per direction. */
static int order_table(FILE *o, const struct evlog *log, const struct evlog_conv *conv, unsigned from)
{
	size_t n = conv->sent[from], rows, k = 0;
	const struct evlog_pkt **sent, **arr;

	if (!n)
		return 0;
	sent = calloc(n, sizeof(*sent));
	arr = calloc(n, sizeof(*arr));
	if (!sent || !arr) {
		free(sent);
		free(arr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < conv->n_pkts; i++) {
		const struct evlog_pkt *p = evlog_pkt(log, conv->pkts[i]);

		/* sent[] has room for the endpoint's own packets only. */
		if (p->from != from || p->injected)
			continue;
		sent[k++] = p;
		if (p->recv_pos && p->recv_pos <= n)
			arr[p->recv_pos - 1] = p;
	}
	fprintf(o, "<h4>");
	esc(o, conv->name[from]);
	fprintf(o, " &#8594; ");
	esc(o, conv->name[!from]);
	fprintf(o, ": %zu sent, %u arrived</h4>\n<p>The receiver gets datagrams in the order they "
		   "leave faultline: a reorder or a delay shows as a number out of place, a drop as "
		   "a missing one.</p>\n"
		   "<table><tr><th>position</th><th>sent (ord)</th><th>arrived (ord)</th>"
		   "<th class=\"l\">what faultline did to the one sent here</th></tr>\n",
		n, conv->arrived[from]);
	rows = n < ORDER_ROWS_MAX ? n : ORDER_ROWS_MAX;
	for (size_t i = 0; i < rows; i++) {
		const struct evlog_pkt *s = sent[i], *a = arr[i];
		const char *what = s->verdict == EVLOG_DROP ? "dropped" :
				   s->verdict == EVLOG_ACCEPT ? "passed" :
				   !s->released ? "held, never released" :
				   s->reorder ? "reordered" : "delayed";

		fprintf(o, "<tr><td>%zu</td><td%s>%llu</td>", i + 1,
			s->verdict == EVLOG_DROP ? " class=\"lost\"" : "", (unsigned long long)s->ord);
		if (a)
			fprintf(o, "<td%s>%llu</td>", a->ord != i + 1 ? " class=\"moved\"" : "",
				(unsigned long long)a->ord);
		else
			fprintf(o, "<td>&#8212;</td>");
		fprintf(o, "<td class=\"l\">%s", what);
		if (s->copies)
			fprintf(o, ", +%u cop%s", s->copies, s->copies == 1 ? "y" : "ies");
		if (s->recv_pos && s->recv_pos != s->ord)
			fprintf(o, ", arrived #%u", s->recv_pos);
		fprintf(o, "</td></tr>\n");
	}
	fprintf(o, "</table>\n");
	if (rows < n)
		fprintf(o, "<p>(%zu more rows not shown)</p>\n", n - rows);
	free(sent);
	free(arr);
	return 0;
}

/* ---- the ladder diagram ------------------------------------------------------------------ */

struct layout {
	double *y;		/* per row */
	bool *merged;		/* a state row drawn on the previous row's line */
	double start, bottom;	/* y of the initial states and of the end row */
};

static unsigned note_count(const struct evlog *log, const struct evlog_row *r)
{
	struct evlog_notes n;

	if (r->kind == EVLOG_ROW_STATE)
		return 1;
	evlog_pkt_notes(log, evlog_pkt(log, r->idx), r->kind, &n);
	return n.n ? n.n : 1;
}

/*
 * Row positions. A row is at least one step below the previous one (more
 * if that one stacked several notes); a longer pause shows to scale up
 * to GAP_MAX. Consecutive transitions at one instant for the two
 * endpoints share a line, as in the text diagram.
 */
static int lay_out(const struct evlog *log, const struct evlog_conv *conv, struct layout *L)
{
	bool used[2] = { false, false };
	double y = TOP, prev_t = 0;
	unsigned prev_notes = 1;
	bool have_states = conv->first_state[0] || conv->first_state[1];

	L->y = calloc(conv->n_rows + 1, sizeof(*L->y));
	L->merged = calloc(conv->n_rows + 1, sizeof(*L->merged));
	if (!L->y || !L->merged)
		return -ENOMEM;
	L->start = TOP;
	if (have_states)
		y += STEP_STATE;
	for (size_t i = 0; i < conv->n_rows; i++) {
		const struct evlog_row *r = &conv->rows[i];
		double step = r->kind == EVLOG_ROW_STATE ? STEP_STATE : STEP, gap;

		if (r->kind == EVLOG_ROW_STATE && i && conv->rows[i - 1].kind == EVLOG_ROW_STATE &&
		    r->t == prev_t && !used[evlog_trk(log, r->idx)->endpoint]) {
			L->merged[i] = true;
			L->y[i] = L->y[i - 1];
			used[evlog_trk(log, r->idx)->endpoint] = true;
			continue;
		}
		if (i || have_states) {
			step += (prev_notes - 1) * NOTE_LH;
			gap = (r->t - prev_t) * 1e3 * PX_PER_MS;
			if (i && gap > step)
				step = gap < GAP_MAX ? gap : GAP_MAX;
			y += i ? step : 0;
		}
		L->y[i] = y;
		prev_t = r->t;
		prev_notes = note_count(log, r);
		used[0] = used[1] = false;
		if (r->kind == EVLOG_ROW_STATE)
			used[evlog_trk(log, r->idx)->endpoint] = true;
	}
	L->bottom = y + (prev_notes - 1) * NOTE_LH + STEP + 6;
	return 0;
}

static void state_box(FILE *o, double x, double y, const char *state, bool end)
{
	fprintf(o, "<g class=\"state%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"96\" height=\"15\" "
		   "rx=\"3\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
		end ? " end" : "", x - 48, y - 8, x, y + 3.5);
	esc(o, state);
	fprintf(o, "</text></g>\n");
}

static void time_label(FILE *o, double y, double t)
{
	fprintf(o, "<line class=\"tick\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		   "<text class=\"time\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.6f</text>\n",
		X_AXIS - 3, y, X_AXIS + 3, y, X_AXIS - 6, y + 3.5, t);
}

/* The tooltip: every field of the packet line worth knowing. */
static void pkt_title(FILE *o, const struct evlog_pkt *p)
{
	fprintf(o, "<title>");
	escf(o, "pkt %llu (line %u) %s, %s, len %u, payload %u", (unsigned long long)p->pkt,
	     p->line, p->flow, p->dir, p->len, p->plen);
	if (p->tcp)
		escf(o, "\nseg %u, seq %u, ack %u, sender %s, receiver %s", p->seg, p->seq, p->ack,
		     p->sender_state, p->receiver_state);
	escf(o, "\ncaptured %.6f s, verdict %s", p->t,
	     p->verdict == EVLOG_DROP ? "drop" : p->verdict == EVLOG_HOLD ? "hold" : "accept");
	if (p->released)
		escf(o, ", released %.6f s", p->rel_t);
	for (unsigned i = 0; i < p->n_actions; i++) {
		char rl[96];

		escf(o, "\n%s: %s", evlog_rule_label(&p->actions[i], rl, sizeof(rl)),
		     p->actions[i].action);
	}
	fprintf(o, "</title>");
}

static void notes_text(FILE *o, const struct evlog *log, const struct evlog_pkt *p,
		       enum evlog_row_kind kind, double y)
{
	struct evlog_notes n;
	char ident[32];

	evlog_pkt_notes(log, p, kind, &n);
	if (!n.n)
		return;
	evlog_pkt_ident(p, ident, sizeof(ident));
	fprintf(o, "<text class=\"note%s\" x=\"%d\" y=\"%.1f\">",
		kind == EVLOG_ROW_SEND && p->verdict == EVLOG_DROP ? " drop" : "", X_NOTE, y + 4);
	for (unsigned i = 0; i < n.n; i++) {
		fprintf(o, "<tspan x=\"%d\" dy=\"%d\">", X_NOTE, i ? NOTE_LH : 0);
		esc(o, n.s[i]);
		fprintf(o, "</tspan>");
	}
	fprintf(o, "</text>\n");
}

/*
 * One packet, one element of class "pkt": a line from the sender's lane
 * to the receiver's (slanted down to the release row if faultline held
 * it), or to two thirds of the way for a drop, which gets an X beside it.
 */
static void packet(FILE *o, const struct evlog *log, const struct evlog_conv *conv,
		   const struct layout *L, size_t i)
{
	const struct evlog_row *r = &conv->rows[i];
	const struct evlog_pkt *p = evlog_pkt(log, r->idx);
	double xs = p->from ? X_R : X_L, xr = p->from ? X_L : X_R, y = L->y[i], x2, y2, lx;
	const char *cls, *head = NULL, *anchor = "middle";
	bool caused = p->caused_by || p->egress_caused_by;
	char label[64], ident[32];

	evlog_pkt_ident(p, ident, sizeof(ident));
	fprintf(o, "<text class=\"ident\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", X_IDENT, y + 3.5);
	esc(o, ident);
	fprintf(o, "</text>\n");
	if (r->kind == EVLOG_ROW_RELEASE) {
		notes_text(o, log, p, r->kind, y);
		return;
	}
	evlog_pkt_label(log, p, 40, label, sizeof(label));
	x2 = xr;
	y2 = y;
	lx = (xs + xr) / 2;
	if (p->verdict == EVLOG_DROP) {
		cls = "pkt drop";
		x2 = xs + (xr - xs) * 0.62;
		lx = (xs + x2) / 2;
	} else if (p->verdict == EVLOG_HOLD && p->released && r->pair >= 0) {
		cls = "pkt held";
		head = "fl-a-held";
		y2 = L->y[r->pair];
		lx = xs + (p->from ? -10 : 10);
		anchor = p->from ? "end" : "start";
	} else if (p->verdict == EVLOG_HOLD) {
		cls = "pkt lost";
		x2 = xs + (xr - xs) * 0.62;
		y2 = y + 10;
		lx = (xs + x2) / 2;
	} else if (caused) {
		cls = "pkt pass retrans";
		head = "fl-a-retrans";
	} else {
		cls = "pkt pass";
		head = "fl-a-pass";
	}
	fprintf(o, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", cls, xs, y,
		x2, y2);
	if (head)
		fprintf(o, " marker-end=\"url(#%s)\"", head);
	fprintf(o, ">");
	pkt_title(o, p);
	fprintf(o, "</line>\n");
	if (p->verdict == EVLOG_DROP)
		fprintf(o, "<path class=\"x\" d=\"M%.1f,%.1f L%.1f,%.1f M%.1f,%.1f L%.1f,%.1f\"/>\n",
			x2 - 5, y - 5, x2 + 5, y + 5, x2 - 5, y + 5, x2 + 5, y - 5);
	fprintf(o, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", lx, y - 4, anchor);
	esc(o, label);
	fprintf(o, "</text>\n");
	notes_text(o, log, p, r->kind, y);
}

/* A pause too long to draw to scale: a break mark on the axis, and how long it was. */
static void gap_mark(FILE *o, double y0, double y1, double dt)
{
	double m = (y0 + y1) / 2;

	fprintf(o, "<path class=\"brk\" d=\"M%d,%.1f l-6,3 l12,3 l-6,3\"/>", X_AXIS, m - 6);
	fprintf(o, "<text class=\"gap\" x=\"%d\" y=\"%.1f\">+%.1f ms</text>\n", X_AXIS + 8, m + 3,
		dt * 1e3);
}

static int diagram(FILE *o, const struct evlog *log, const struct evlog_conv *conv)
{
	struct layout L = { 0 };
	double last_t = -1;
	int ret = lay_out(log, conv, &L);

	if (ret)
		goto out;
	fprintf(o, "<svg class=\"ladder\" width=\"%d\" height=\"%.0f\" role=\"img\" "
		   "aria-label=\"ladder diagram of flow %u\">\n",
		SVG_W, L.bottom + 10, conv->id);
	/* Endpoints, lanes and the axis first, so arrows draw over them. */
	fprintf(o, "<text class=\"role\" x=\"%d\" y=\"18\" text-anchor=\"middle\">%s</text>"
		   "<text class=\"role\" x=\"%d\" y=\"18\" text-anchor=\"middle\">%s</text>\n",
		X_L, conv->tcp ? "client" : "", X_R, conv->tcp ? "server" : "");
	fprintf(o, "<text class=\"ep\" x=\"%d\" y=\"36\" text-anchor=\"middle\">", X_L);
	esc(o, conv->name[0]);
	fprintf(o, "</text><text class=\"ep\" x=\"%d\" y=\"36\" text-anchor=\"middle\">", X_R);
	esc(o, conv->name[1]);
	fprintf(o, "</text>\n<text class=\"time\" x=\"%d\" y=\"36\" text-anchor=\"end\">t (s)</text>\n",
		X_AXIS - 6);
	fprintf(o, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>\n", X_AXIS,
		TOP - 20, X_AXIS, L.bottom);
	fprintf(o, "<line class=\"lane\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>"
		   "<line class=\"lane\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>\n",
		X_L, TOP - 20, X_L, L.bottom, X_R, TOP - 20, X_R, L.bottom);

	if (conv->n_rows && (conv->first_state[0] || conv->first_state[1])) {
		time_label(o, L.start, conv->rows[0].t);
		last_t = conv->rows[0].t;
		for (unsigned e = 0; e < 2; e++)
			if (conv->first_state[e])
				state_box(o, e ? X_R : X_L, L.start, conv->first_state[e], false);
	}
	for (size_t i = 0; i < conv->n_rows; i++) {
		const struct evlog_row *r = &conv->rows[i];

		if (i && L.y[i] - L.y[i - 1] >= GAP_MAX && r->t - conv->rows[i - 1].t > GAP_MAX / PX_PER_MS / 1e3)
			gap_mark(o, L.y[i - 1], L.y[i], r->t - conv->rows[i - 1].t);
		if (r->t != last_t && !L.merged[i]) {
			time_label(o, L.y[i], r->t);
			last_t = r->t;
		}
		if (r->kind == EVLOG_ROW_STATE) {
			const struct evlog_trk *k = evlog_trk(log, r->idx);

			state_box(o, k->endpoint ? X_R : X_L, L.y[i], k->new_state, false);
			continue;
		}
		packet(o, log, conv, &L, i);
	}
	if (conv->last_state[0] || conv->last_state[1]) {
		double y = L.bottom - STEP / 2.0;

		fprintf(o, "<text class=\"time\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">end</text>\n",
			X_AXIS - 6, y + 3.5);
		for (unsigned e = 0; e < 2; e++)
			if (conv->last_state[e])
				state_box(o, e ? X_R : X_L, y, conv->last_state[e], true);
	}
	fprintf(o, "</svg>\n");
out:
	free(L.y);
	free(L.merged);
	return ret;
}

static int conv_section(FILE *o, const struct evlog *log, const struct evlog_conv *conv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m;
	int ret;

	fprintf(o, "<h3 id=\"flow-%u\">", conv->id);
	if (conv->tcp) {
		escf(o, "tcp connection %u: %s", conv->id, conv->title);
	} else {
		escf(o, "flow %u: ", conv->id);
		esc(o, conv->n_pkts ? evlog_pkt(log, conv->pkts[0])->flow : conv->title);
	}
	fprintf(o, " (%zu packet%s)</h3>\n", conv->n_pkts, conv->n_pkts == 1 ? "" : "s");
	if (conv->tcp)
		fprintf(o, "<p>seq and ack count from each side's SYN; seg N is the tracker's "
			   "segment number, both directions together.</p>\n");
	ret = diagram(o, log, conv);
	if (ret)
		return ret;
	for (unsigned from = 0; !conv->tcp && (conv->held || conv->dropped) && from < 2 && !ret; from++)
		ret = order_table(o, log, conv, from);
	if (ret)
		return ret;
	/* The same conversation as `faultline show` prints it, for copying into a bug report. */
	m = open_memstream(&text, &len);
	if (!m)
		return -ENOMEM;
	show_conv(m, log, conv, false);
	fclose(m);
	fprintf(o, "<details><summary>as text (faultline show --flow %u)</summary><pre>", conv->id);
	esc(o, text ? text : "");
	fprintf(o, "</pre></details>\n");
	free(text);
	return 0;
}

int report_write(FILE *o, const struct evlog *log, const char *source, unsigned only)
{
	int ret = 0;

	fprintf(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
		   "<title>faultline report: ");
	esc(o, source);
	fprintf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>faultline report</h1>\n", css);
	defs(o);
	overview(o, log, source);
	ret = rules_table(o, log);
	if (ret)
		return ret;
	conn_table(o, log, only);
	flow_table(o, log, only);
	fprintf(o, "<h2 id=\"diagrams\">Ladder diagrams</h2>\n");
	legend(o);
	for (size_t i = 0; i < evlog_n_convs(log) && !ret; i++) {
		const struct evlog_conv *conv = evlog_conv(log, i);

		if (!only || conv->id == only)
			ret = conv_section(o, log, conv);
	}
	if (ret)
		return ret;
	fprintf(o, "</body>\n</html>\n");
	/* errno is the failed write's: a full disk says so, not "I/O error". */
	return fflush(o) || ferror(o) ? -(errno ? errno : EIO) : 0;
}

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG_NAME " report EVENTS.jsonl [-o FILE] [--flow N]\n"
		"\n"
		"Write one self-contained HTML page (inline SVG and CSS, nothing fetched, no\n"
		"script) with a ladder diagram per TCP connection or other flow of an --events\n"
		"file ('-' reads standard input), and counters per rule, connection and flow.\n"
		"\n"
		"  -o, --output FILE   where to write (default: standard output)\n"
		"  -F, --flow N        only flow N's diagram and rows (its number in `faultline\n"
		"                      show`); the totals and rule counters cover the whole file\n"
		"\n"
		"A line that is not JSON stops with FILE:LINE: bad JSON and exit code 1.\n");
}

/*
 * Open where the page goes: out_path itself when it is a device or a pipe
 * (renaming a file over it would replace it), else *tmp (taken by the
 * caller) beside it. Standard output without out_path. Returns 0 or -1
 * after saying why.
 */
static int open_output(const char *out_path, FILE **out, char **tmp)
{
	static const char tmp_suffix[] = ".tmp";
	struct stat st;

	if (!out_path)
		return 0;
	if (!stat(out_path, &st) && !S_ISREG(st.st_mode)) {
		*out = fopen(out_path, "w");
		if (!*out) {
			fprintf(stderr, PROG_NAME " report: %s: %s\n", out_path, strerror(errno));
			return -1;
		}
		return 0;
	}
	/* Written aside and renamed: a failed run leaves no half page behind. */
	*tmp = malloc(strlen(out_path) + sizeof(tmp_suffix));
	if (!*tmp) {
		fprintf(stderr, PROG_NAME " report: out of memory\n");
		return -1;
	}
	sprintf(*tmp, "%s%s", out_path, tmp_suffix);
	*out = fopen(*tmp, "w");
	if (!*out) {
		fprintf(stderr, PROG_NAME " report: %s: %s\n", *tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Close out and put the page in place; err: report_write's result.
 * Returns the exit code: 0, or 1 after saying why (the half page removed).
 */
static int close_output(const char *out_path, FILE *out, const char *tmp, int err)
{
	if (out != stdout && fclose(out) && !err)
		err = -EIO;
	if (err) {
		fprintf(stderr, PROG_NAME " report: %s: %s\n", out_path ? out_path : "stdout",
			strerror(-err));
		if (tmp)
			unlink(tmp);
		return 1;
	}
	if (tmp && rename(tmp, out_path)) {
		fprintf(stderr, PROG_NAME " report: %s: %s\n", out_path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "flow", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out_path = NULL;
	bool seen_out = false, seen_flow = false;
	char *tmp = NULL;
	uint64_t conv_id = 0;
	struct evlog *log;
	FILE *out = stdout;
	int c, ret = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:F:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (args_once("--output", &seen_out) || args_value("--output", optarg))
				return 2;
			out_path = strcmp(optarg, "-") ? optarg : NULL;
			break;
		case 'F':
			if (args_once("--flow", &seen_flow) ||
			    args_uint("--flow", optarg, 1, UINT32_MAX, &conv_id))
				return 2;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			args_getopt_error("report", c, argv, opts);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, PROG_NAME ": report: which events file? (report EVENTS -o FILE [--flow N])\n");
		return 2;
	}
	if (optind + 1 < argc) {
		args_stray("report", argv[optind + 1], "one events file at a time");
		return 2;
	}
	/* The page is renamed over --output: never over the events it is made from. */
	if (args_value("report", argv[optind]) ||
	    args_same_file("--output", out_path, "events file", argv[optind]))
		return 2;
	log = show_load(argv[optind]);
	if (!log)
		return 1;
	if (conv_id && !evlog_conv_by_id(log, (unsigned)conv_id)) {
		fprintf(stderr, PROG_NAME ": report: %s has no flow %llu\n", argv[optind],
			(unsigned long long)conv_id);
		goto out;
	}
	if (open_output(out_path, &out, &tmp))
		goto out;
	c = report_write(out, log, argv[optind], (unsigned)conv_id);
	ret = close_output(out_path, out, tmp, c);
out:
	free(tmp);
	evlog_free(log);
	return ret;
}
