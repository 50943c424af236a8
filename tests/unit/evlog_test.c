// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "evlog.h"
#include "rule.h"

/* ---- the JSON reader ---------------------------------------------------------- */

static int parse(struct evlog_json *j, const char *s)
{
	return evlog_json_parse(j, s, strlen(s));
}

static const struct evlog_jval *member(struct evlog_json *j, const char *key)
{
	return evlog_json_get(j, evlog_json_root(j), key);
}

Test(evlog_json, string_escapes_decode)
{
	struct evlog_json j = { 0 };
	const struct evlog_jval *v;

	cr_assert_eq(parse(&j, "{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}"), 0);
	v = member(&j, "s");
	cr_assert_eq(v->type, EVLOG_J_STR);
	cr_assert_str_eq(v->str, "a\"b\\c/d\b\f\n\r\t");
	cr_assert_eq(v->n, 12);

	/* \u escapes to UTF-8: two bytes, a surrogate pair to four, a lone surrogate to U+FFFD. */
	cr_assert_eq(parse(&j, "[\"\\u00e9\", \"\\ud83d\\ude00\", \"x\\udc00y\", \"\\ud800\\u0041\"]"), 0);
	v = evlog_json_first(&j, evlog_json_root(&j));
	cr_assert_str_eq(v->str, "\xc3\xa9");
	v = evlog_json_next(&j, v);
	cr_assert_str_eq(v->str, "\xf0\x9f\x98\x80");
	v = evlog_json_next(&j, v);
	cr_assert_str_eq(v->str, "x\xef\xbf\xbdy");
	v = evlog_json_next(&j, v);
	cr_assert_str_eq(v->str, "\xef\xbf\xbd" "A");

	/* An escaped NUL is kept; the length says where the string ends. */
	cr_assert_eq(parse(&j, "\"a\\u0000b\""), 0);
	cr_assert_eq(evlog_json_root(&j)->n, 3);
	cr_assert_eq(memcmp(evlog_json_root(&j)->str, "a\0b", 4), 0);

	/* Raw UTF-8 passes through; escaped keys are decoded too. */
	cr_assert_eq(parse(&j, "{\"k\\u0065y\":\"caf\xc3\xa9\"}"), 0);
	cr_assert_str_eq(member(&j, "key")->str, "caf\xc3\xa9");
	evlog_json_close(&j);
}

Test(evlog_json, numbers_and_literals)
{
	struct evlog_json j = { 0 };
	const struct evlog_jval *v;
	static const struct {
		const char *text;
		double v;
	} ok[] = {
		{ "0", 0 }, { "-0", 0 }, { "42", 42 }, { "-17", -17 }, { "0.25", 0.25 },
		{ "1.5e3", 1500 }, { "2E-2", 0.02 }, { "1e+2", 100 }, { " 3123651426 ", 3123651426.0 },
		{ "0.507883", 0.507883 },
	};
	static const char *const bad[] = { "01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "1.2.3",
					   "--1", "NaN", "Infinity", "tru", "nul", "falsey" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(parse(&j, ok[i].text), 0, "%s", ok[i].text);
		cr_assert_eq(evlog_json_root(&j)->type, EVLOG_J_NUM);
		cr_assert_float_eq(evlog_json_root(&j)->num, ok[i].v, 1e-9, "%s", ok[i].text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(&j, bad[i]), -EBADMSG, "'%s' accepted", bad[i]);

	cr_assert_eq(parse(&j, "[true,false,null]"), 0);
	cr_assert_eq(evlog_json_root(&j)->n, 3);
	v = evlog_json_first(&j, evlog_json_root(&j));
	cr_assert(v->b);
	v = evlog_json_next(&j, v);
	cr_assert_not(v->b);
	v = evlog_json_next(&j, v);
	cr_assert_eq(v->type, EVLOG_J_NULL);
	cr_assert_null(evlog_json_next(&j, v));
	evlog_json_close(&j);
}

Test(evlog_json, nested_values_are_skipped_whole)
{
	struct evlog_json j = { 0 };
	const struct evlog_jval *v, *a;
	unsigned n = 0;

	cr_assert_eq(parse(&j, "{\"a\":{\"b\":[1,{\"c\":[]},[[],{}]],\"d\":\"x\"},\"s\":\"}]\","
			       "\"e\":2,\"summary\":{\"state\":[\"TIME_WAIT\",\"CLOSED\"]},\"f\":[]}"), 0);
	/* Members of the top object only: what is inside "a" does not leak out. */
	for (v = evlog_json_first(&j, evlog_json_root(&j)); v; v = evlog_json_next(&j, v))
		n++;
	cr_assert_eq(n, 5);
	cr_assert_eq(evlog_json_root(&j)->n, 5);
	cr_assert_null(member(&j, "b"));
	cr_assert_null(member(&j, "c"));
	cr_assert_null(member(&j, "d"));
	cr_assert_float_eq(member(&j, "e")->num, 2, 0);
	cr_assert_str_eq(member(&j, "s")->str, "}]");
	v = member(&j, "a");
	cr_assert_str_eq(evlog_json_get(&j, v, "d")->str, "x");
	a = evlog_json_get(&j, v, "b");
	cr_assert_eq(a->type, EVLOG_J_ARR);
	cr_assert_eq(a->n, 3);
	cr_assert_eq(member(&j, "f")->n, 0);
	cr_assert_null(evlog_json_first(&j, member(&j, "f")));
	/* get on a non-object is NULL, not a crash. */
	cr_assert_null(evlog_json_get(&j, a, "x"));
	evlog_json_close(&j);
}

Test(evlog_json, bad_json_is_refused_with_a_place)
{
	struct evlog_json j = { 0 };
	static const char *const bad[] = {
		"", "   ", "{", "}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "[1,2", "[1,]",
		"{a:1}", "{'a':1}", "\"unterminated", "\"bad \\x escape\"", "\"tab\there\"",
		"\"\\u12\"", "\"\\u12g4\"", "{\"a\":1}x", "{\"a\":1}{}", "[1] [2]",
	};
	char deep[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(&j, bad[i]), -EBADMSG, "'%s' accepted", bad[i]);
	cr_assert_null(evlog_json_root(&j));

	cr_assert_eq(parse(&j, "{\"ev\":\"packet\",\"t\":1,}"), -EBADMSG);
	cr_assert_eq(j.err_off, 21); /* on the "}" after the comma */
	cr_assert_str_eq(j.err, "expected a member name");

	/* Depth is bounded: 64 levels parse, 65 do not. */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	cr_assert_eq(evlog_json_parse(&j, deep, 128), 0);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	cr_assert_eq(evlog_json_parse(&j, deep, 130), -EBADMSG);
	cr_assert_str_eq(j.err, "nested too deeply");

	/* The text need not be NUL-terminated: only len bytes are read. */
	cr_assert_eq(evlog_json_parse(&j, "12345", 2), 0);
	cr_assert_float_eq(evlog_json_root(&j)->num, 12, 0);
	cr_assert_eq(evlog_json_parse(&j, "\"abc\"", 3), -EBADMSG);
	evlog_json_close(&j);
}

/* ---- the event index ---------------------------------------------------------- */

static struct evlog *load(const char *const *lines, size_t n)
{
	struct evlog *log = evlog_new();
	struct evlog_error err;

	cr_assert_not_null(log);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(evlog_add_line(log, lines[i], strlen(lines[i]), &err), 0,
			     "line %zu: %s", i + 1, err.msg);
	cr_assert_eq(evlog_finish(log), 0);
	return log;
}

#define LOAD(arr) load(arr, sizeof(arr) / sizeof(arr[0]))

#define TCP(pkt, t, way, ord, seg, ep, flags, seq, ack, plen, rest) \
	"{\"t\":" #t ",\"ev\":\"packet\",\"pkt\":" #pkt ",\"proto\":\"tcp\"," \
	"\"flow\":\"tcp " ep "\",\"flow_hash\":\"aa\",\"way\":" #way ",\"ord\":" #ord \
	",\"dir\":\"in\",\"len\":52,\"plen\":" #plen ",\"tcp_flow\":1,\"seg\":" #seg \
	",\"endpoint\":" #way ",\"flags\":\"" flags "\",\"seq\":" #seq ",\"ack\":" #ack rest "}"
#define C2S "10.0.0.1:40000 > 10.0.0.2:8080"
#define S2C "10.0.0.2:8080 > 10.0.0.1:40000"

/* A handshake from ISNs near the wrap, a dropped data segment and its retransmission. */
static const char *const conn[] = {
	TCP(1, 0.1, 0, 1, 1, C2S, "S", 4294967290, 0, 0,
	    ",\"class\":[\"handshake\",\"syn\"],\"verdict\":\"accept\",\"actions\":[]"),
	"{\"t\":0.1,\"ev\":\"transition\",\"flow\":1,\"conn\":\"" C2S "\",\"endpoint\":0,"
	"\"old\":\"CLOSED\",\"new\":\"SYN_SENT\",\"seg\":1}",
	TCP(2, 0.2, 1, 1, 2, S2C, "SA", 1000, 4294967291, 0,
	    ",\"class\":[\"syn-ack\"],\"verdict\":\"accept\",\"actions\":[]"),
	TCP(3, 0.3, 0, 2, 3, C2S, "A", 4294967291, 1001, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
	TCP(4, 0.4, 0, 3, 4, C2S, "PA", 4294967291, 1001, 100,
	    ",\"verdict\":\"drop\",\"actions\":[{\"rule\":4,\"name\":\"cut\",\"action\":\"drop\"}]"),
	"{\"t\":0.45,\"ev\":\"verdict\",\"flow\":\"tcp " C2S "\",\"verdict\":\"drop\"}",
	"{\"t\":0.46,\"ev\":\"from-the-future\",\"pkt\":\"not a number\"}",
	TCP(5, 0.5, 0, 4, 5, C2S, "PA", 4294967291, 1001, 100,
	    ",\"class\":[\"retransmission\",\"a-class-from-the-future\"],\"caused_by\":4,"
	    "\"verdict\":\"hold\",\"delay_us\":30000.0,\"new_key\":{\"x\":[1,2]},"
	    "\"actions\":[{\"rule\":3,\"name\":\"rule-3\",\"action\":\"delay\"}]"),
	"",
	"{\"t\":0.53,\"ev\":\"release\",\"pkt\":5,\"rel\":1}",
	"{\"t\":0.53,\"ev\":\"class\",\"flow\":1,\"conn\":\"" C2S "\",\"endpoint\":0,"
	"\"view\":\"egress\",\"class\":[\"out-of-order\"],\"caused_by\":4,\"seg\":5}",
	TCP(6, 0.6, 1, 2, 6, S2C, "FA", 1001, 95, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
	"{\"t\":0.7,\"ev\":\"flow-end\",\"flow\":1,\"conn\":\"" C2S "\",\"reason\":\"closed\","
	"\"summary\":{\"flow\":1,\"state\":[\"TIME_WAIT\",\"CLOSED\"],\"segments\":6,"
	"\"retransmissions\":1,\"retransmissions_faultline\":1}}",
};

Test(evlog, tcp_labels_count_from_the_isn_across_the_wrap)
{
	struct evlog *log = LOAD(conn);
	const struct evlog_conv *f;
	char b[64];

	cr_assert_eq(evlog_n_pkts(log), 6);
	cr_assert_eq(evlog_n_lines(log), sizeof(conn) / sizeof(conn[0]));
	cr_assert_eq(evlog_n_convs(log), 1);
	f = evlog_conv(log, 0);
	cr_assert(f->tcp);
	cr_assert_eq(f->id, 1);
	cr_assert_str_eq(f->title, C2S);
	cr_assert_str_eq(f->name[0], "10.0.0.1:40000");
	cr_assert_str_eq(f->name[1], "10.0.0.2:8080");
	evlog_pkt_label(log, evlog_pkt(log, 0), 40, b, sizeof(b));
	cr_assert_str_eq(b, "SYN seq=0");
	evlog_pkt_label(log, evlog_pkt(log, 1), 40, b, sizeof(b));
	cr_assert_str_eq(b, "SYN+ACK seq=0 ack=1");
	evlog_pkt_label(log, evlog_pkt(log, 2), 40, b, sizeof(b));
	cr_assert_str_eq(b, "ACK ack=1");
	evlog_pkt_label(log, evlog_pkt(log, 3), 40, b, sizeof(b));
	cr_assert_str_eq(b, "data seq=1 len=100 ack=1");
	evlog_pkt_label(log, evlog_pkt(log, 5), 40, b, sizeof(b));
	cr_assert_str_eq(b, "FIN seq=1 ack=101");
	/* A narrow column drops the ack first, then cuts. */
	evlog_pkt_label(log, evlog_pkt(log, 3), 20, b, sizeof(b));
	cr_assert_str_eq(b, "data seq=1 len=100");
	evlog_pkt_label(log, evlog_pkt(log, 3), 8, b, sizeof(b));
	cr_assert_str_eq(b, "data seq");
	evlog_pkt_ident(evlog_pkt(log, 3), b, sizeof(b));
	cr_assert_str_eq(b, "seg 4");
	evlog_free(log);
}

static bool has_note(const struct evlog_notes *n, const char *s)
{
	for (unsigned i = 0; i < n->n; i++)
		if (!strcmp(n->s[i], s))
			return true;
	return false;
}

Test(evlog, notes_name_the_drop_the_delay_and_the_cause)
{
	struct evlog *log = LOAD(conn);
	const struct evlog_pkt *drop = evlog_pkt(log, 3), *rx = evlog_pkt(log, 4);
	struct evlog_notes n;

	evlog_pkt_notes(log, drop, EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "DROPPED by rule 4 cut"), "a given name is shown");
	cr_assert_eq(evlog_pkt_rule(drop, RULE_ACT_DROP), 4);
	cr_assert_str_eq(evlog_pkt_action(drop, RULE_ACT_DROP)->name, "cut");
	cr_assert_eq(evlog_pkt_rule(drop, RULE_ACT_DELAY), -1);

	cr_assert(rx->released);
	cr_assert_float_eq(rx->rel_t, 0.53, 1e-9);
	cr_assert_eq(rx->cause, 3);
	evlog_pkt_notes(log, rx, EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "held: delay 30.0 ms (rule 3)"), "rule-3 is rule 3: said once");
	cr_assert(has_note(&n, "retransmission of seg 4 (dropped)"));
	evlog_pkt_notes(log, rx, EVLOG_ROW_RELEASE, &n);
	cr_assert(has_note(&n, "delayed 30.0 ms"));
	cr_assert(has_note(&n, "at receiver: out-of-order (seg 4 dropped)"));
	evlog_free(log);
}

Test(evlog, rows_are_in_time_order_with_releases_paired)
{
	struct evlog *log = LOAD(conn);
	const struct evlog_conv *f = evlog_conv(log, 0);
	size_t sends = 0, rels = 0, states = 0;

	cr_assert_eq(f->n_rows, 8);
	for (size_t i = 0; i < f->n_rows; i++) {
		const struct evlog_row *r = &f->rows[i];

		if (i)
			cr_assert(r->t >= f->rows[i - 1].t);
		sends += r->kind == EVLOG_ROW_SEND;
		rels += r->kind == EVLOG_ROW_RELEASE;
		states += r->kind == EVLOG_ROW_STATE;
		if (r->kind == EVLOG_ROW_RELEASE) {
			cr_assert_geq(r->pair, 0);
			cr_assert_eq(f->rows[r->pair].pair, (long)i);
			cr_assert_eq(f->rows[r->pair].idx, r->idx);
		}
	}
	cr_assert_eq(sends, 6);
	cr_assert_eq(rels, 1);
	cr_assert_eq(states, 1);
	cr_assert_str_eq(f->first_state[0], "CLOSED");
	cr_assert_str_eq(f->last_state[0], "SYN_SENT");
	cr_assert_str_eq(f->last_state[1], "CLOSED"); /* from the flow-end summary */
	cr_assert_geq(f->end, 0);
	cr_assert_eq(evlog_trk(log, (size_t)f->end)->summary.retransmissions, 1);
	cr_assert_eq(f->dropped, 1);
	cr_assert_eq(f->held, 1);
	cr_assert_eq(f->retrans, 1);
	cr_assert_eq(f->retrans_faultline, 1);
	evlog_free(log);
}

#define UDP(pkt, t, ord, verdict) \
	"{\"t\":" #t ",\"ev\":\"packet\",\"pkt\":" #pkt ",\"proto\":\"udp\"," \
	"\"flow\":\"udp 10.0.0.1:5555 > 10.0.0.2:5000\",\"flow_hash\":\"bb\",\"way\":0,\"ord\":" #ord \
	",\"dir\":\"in\",\"len\":33,\"plen\":5,\"verdict\":\"" verdict "\""
#define REL(pkt, t, rel) "{\"t\":" #t ",\"ev\":\"release\",\"pkt\":" #pkt ",\"rel\":" #rel "}"

Test(evlog, udp_arrival_order_follows_releases)
{
	static const char *const lines[] = {
		UDP(7, 1.0, 1, "hold") ",\"reorder\":true,\"actions\":[{\"rule\":2,\"name\":\"rule-2\",\"action\":\"reorder\"}]}",
		UDP(8, 1.1, 2, "hold") ",\"reorder\":true,\"actions\":[{\"rule\":2,\"name\":\"rule-2\",\"action\":\"reorder\"}]}",
		UDP(9, 1.2, 3, "drop") ",\"actions\":[{\"rule\":1,\"name\":\"rule-1\",\"action\":\"drop\"}]}",
		UDP(10, 1.3, 4, "accept") ",\"copies\":1,\"actions\":[{\"rule\":5,\"name\":\"rule-5\",\"action\":\"duplicate\"}]}",
		REL(8, 1.4, 1),
		REL(7, 1.4, 2),
		/* A release of a packet the file never showed is ignored. */
		REL(99, 1.5, 3),
		/* Another flow, and a TCP connection numbered 5. */
		"{\"t\":2,\"ev\":\"packet\",\"pkt\":11,\"proto\":\"icmp\","
		"\"flow\":\"icmp 10.0.0.1 > 10.0.0.2\",\"flow_hash\":\"cc\",\"way\":0,\"ord\":1,"
		"\"dir\":\"out\",\"len\":84,\"plen\":56,\"verdict\":\"accept\"}",
		"{\"t\":3,\"ev\":\"transition\",\"flow\":5,\"conn\":\"1.1.1.1:1 > 2.2.2.2:2\",\"endpoint\":1,"
		"\"old\":\"LISTEN\",\"new\":\"SYN_RECEIVED\",\"seg\":1}",
	};
	struct evlog *log = LOAD(lines);
	const struct evlog_conv *f;
	struct evlog_notes n;
	char b[64];

	cr_assert_eq(evlog_n_convs(log), 3);
	/* TCP connections first by tracker id; the others numbered after the largest. */
	cr_assert_eq(evlog_conv(log, 0)->id, 5);
	cr_assert(evlog_conv(log, 0)->tcp);
	cr_assert_eq(evlog_conv(log, 0)->n_pkts, 0);
	cr_assert_eq(evlog_conv(log, 1)->id, 6);
	cr_assert_eq(evlog_conv(log, 2)->id, 7);
	f = evlog_conv_by_id(log, 6);
	cr_assert_not_null(f);
	cr_assert_null(evlog_conv_by_id(log, 8));
	cr_assert_str_eq(f->proto, "udp");
	cr_assert_eq(f->n_pkts, 4);
	cr_assert_eq(f->sent[0], 4);
	cr_assert_eq(f->arrived[0], 3);
	/* #4 passed at once; #2 and #1 came after it, in release order. */
	cr_assert_eq(evlog_pkt(log, 3)->recv_pos, 1);
	cr_assert_eq(evlog_pkt(log, 1)->recv_pos, 2);
	cr_assert_eq(evlog_pkt(log, 0)->recv_pos, 3);
	cr_assert_eq(evlog_pkt(log, 2)->recv_pos, 0);
	evlog_pkt_notes(log, evlog_pkt(log, 0), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "held for reorder (rule 2)"));
	evlog_pkt_notes(log, evlog_pkt(log, 0), EVLOG_ROW_RELEASE, &n);
	cr_assert(has_note(&n, "held 400.0 ms"));
	cr_assert(has_note(&n, "sent #1, released #3"));
	evlog_pkt_notes(log, evlog_pkt(log, 3), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "+1 copy"));
	evlog_pkt_label(log, evlog_pkt(log, 0), 40, b, sizeof(b));
	cr_assert_str_eq(b, "udp len=5");
	evlog_pkt_ident(evlog_pkt(log, 2), b, sizeof(b));
	cr_assert_str_eq(b, "#3");
	evlog_free(log);
}

static int add(struct evlog *log, const char *line, struct evlog_error *err)
{
	return evlog_add_line(log, line, strlen(line), err);
}

Test(evlog, bad_lines_are_refused_with_their_line)
{
	struct evlog *log = evlog_new();
	struct evlog_error err;
	static const char ok[] = "{\"ev\":\"malformed\",\"t\":1,\"len\":3}";

	cr_assert_eq(add(log, ok, &err), 0);
	cr_assert_eq(add(log, "  \r\n", &err), 0);
	cr_assert_eq(add(log, "{\"ev\":\"packet\",", &err), -EBADMSG);
	cr_assert(err.json);
	cr_assert_eq(err.line, 3);
	cr_assert_eq(err.col, 16);
	cr_assert_eq(add(log, "[1,2]", &err), -EBADMSG);
	cr_assert_not(err.json);
	cr_assert_eq(err.line, 4);
	cr_assert_str_eq(err.msg, "not a JSON object");
	cr_assert_eq(add(log, "{\"ev\":\"packet\",\"t\":1}", &err), -EBADMSG);
	cr_assert_str_eq(err.msg, "packet event without a valid \"pkt\"");
	cr_assert_eq(add(log, "{\"ev\":\"packet\",\"t\":1,\"pkt\":-3}", &err), -EBADMSG);
	cr_assert_eq(add(log, "{\"ev\":\"release\",\"pkt\":1}", &err), -EBADMSG);
	cr_assert_str_eq(err.msg, "release event without a valid \"t\"");
	cr_assert_eq(add(log, "{\"ev\":\"transition\",\"t\":1,\"flow\":1}", &err),
		     -EBADMSG);
	/* No "ev" at all, or an "ev" of another type: not ours, skipped. */
	cr_assert_eq(add(log, "{\"seed\":1,\"packets\":38}", &err), 0);
	cr_assert_eq(add(log, "{\"ev\":7}", &err), 0);
	cr_assert_eq(evlog_finish(log), 0);
	cr_assert_eq(evlog_n_pkts(log), 0);
	cr_assert_eq(evlog_n_convs(log), 0);
	evlog_free(log);
	evlog_free(NULL);
}

Test(evlog, rst_fin_and_pickup_labels)
{
	/* No SYN seen: each side counts from its first seq - 1, as after a pickup. */
	static const char *const lines[] = {
		TCP(1, 1.0, 0, 1, 1, C2S, "FPA", 5000, 7000, 10,
		    ",\"class\":[\"pickup\"],\"verdict\":\"accept\",\"actions\":[]"),
		TCP(2, 1.1, 1, 1, 2, S2C, "RA", 7000, 5011, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
		TCP(3, 1.2, 0, 2, 3, C2S, "R", 5011, 0, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
		TCP(4, 1.3, 0, 3, 4, C2S, "FPA", 5000, 7001, 10,
		    ",\"class\":[\"retransmission\"],\"verdict\":\"accept\",\"actions\":[]"),
	};
	struct evlog *log = LOAD(lines);
	struct evlog_notes n;
	char b[64];

	evlog_pkt_label(log, evlog_pkt(log, 0), 40, b, sizeof(b));
	cr_assert_str_eq(b, "FIN+data seq=1 len=10 ack=1");
	evlog_pkt_label(log, evlog_pkt(log, 1), 40, b, sizeof(b));
	cr_assert_str_eq(b, "RST+ACK seq=1 ack=12"); /* 10 bytes and the FIN */
	evlog_pkt_label(log, evlog_pkt(log, 2), 40, b, sizeof(b));
	cr_assert_str_eq(b, "RST seq=12");
	/* Its original is the first segment that carried its first byte. */
	cr_assert_eq(evlog_pkt(log, 3)->orig, 0);
	cr_assert_eq(evlog_pkt(log, 3)->cause, -1);
	evlog_pkt_notes(log, evlog_pkt(log, 3), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "retransmission of seg 1"));
	evlog_pkt_notes(log, evlog_pkt(log, 0), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "pickup"));
	evlog_free(log);
}

/* FNV-1a, as evlog.c hashes interned strings. */
static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/*
 * A string with an escaped NUL (\u0000) is the C string before it. It used
 * to be interned with its full length, and looking it up beside a key equal
 * to its head read the key's byte at that length: past the end of the
 * string arena when the key was the last one of a chunk (ASan: heap
 * overflow). The lines fill the arena's first 64 KiB chunk with 16-byte
 * strings, "ab" last, then ask for "ab\0" + a tail hashing to "ab"'s slot.
 */
Test(evlog, escaped_nul_ends_a_string)
{
	struct evlog *log = evlog_new();
	struct evlog_error err;
	char line[512], tail[24];
	uint64_t want = fnv("ab", 2) & 0xfffff;
	unsigned i;

	cr_assert_not_null(log);
	for (i = 0; i < 819; i++) {
		snprintf(line, sizeof(line),
			 "{\"t\":1,\"ev\":\"packet\",\"pkt\":%u,\"proto\":\"p%014u\",\"flow\":\"f%014u\","
			 "\"flow_hash\":\"h%014u\",\"dir\":\"d%014u\",\"verdict\":\"v%014u\"}",
			 i + 1, i, i, i, i, i);
		cr_assert_eq(add(log, line, &err), 0, "%s", err.msg);
	}
	snprintf(line, sizeof(line),
		 "{\"t\":1,\"ev\":\"packet\",\"pkt\":%u,\"proto\":\"ab\",\"flow\":\"x\",\"flow_hash\":\"x\","
		 "\"dir\":\"in\",\"verdict\":\"accept\"}", i + 1);
	cr_assert_eq(add(log, line, &err), 0, "%s", err.msg);
	/* A tail that puts "ab\0tail" in the slot "ab" hashed to, for any table up to 2^20. */
	for (uint32_t k = 0;; k++) {
		char s[3 + sizeof(tail)] = "ab";

		snprintf(tail, sizeof(tail), "%020u", k);
		memcpy(s + 3, tail, 20);
		if ((fnv(s, 23) & 0xfffff) == want)
			break;
	}
	snprintf(line, sizeof(line),
		 "{\"t\":2,\"ev\":\"packet\",\"pkt\":%u,\"proto\":\"ab\\u0000%s\",\"flow\":\"x\","
		 "\"flow_hash\":\"x\",\"dir\":\"in\",\"verdict\":\"accept\"}", i + 2, tail);
	cr_assert_eq(add(log, line, &err), 0, "%s", err.msg);
	cr_assert_eq(evlog_finish(log), 0);
	cr_assert_eq(evlog_n_pkts(log), 821);
	cr_assert_str_eq(evlog_pkt(log, 820)->proto, "ab");
	/* One string, not two copies that print the same. */
	cr_assert_eq(evlog_pkt(log, 820)->proto, evlog_pkt(log, 819)->proto);
	evlog_free(log);
}

/* A packet a full rate queue dropped says so; a plain drop does not. */
Test(evlog, rate_queue_full_drop_has_its_note)
{
	static const char *const lines[] = {
		UDP(1, 1.0, 1, "hold") ",\"delay_us\":80.0,\"actions\":[{\"rule\":1,\"name\":\"rule-1\",\"action\":\"rate\"}]}",
		UDP(2, 1.0, 2, "drop") ",\"actions\":[{\"rule\":1,\"name\":\"rule-1\",\"action\":\"rate\"},"
				       "{\"rule\":2,\"name\":\"rule-2\",\"action\":\"rate\",\"reason\":\"queue-full\"}]}",
		UDP(3, 1.0, 3, "drop") ",\"actions\":[{\"rule\":1,\"name\":\"rule-1\",\"action\":\"rate\"},"
				       "{\"rule\":3,\"name\":\"rule-3\",\"action\":\"drop\"}]}",
	};
	struct evlog *log = LOAD(lines);
	struct evlog_notes n;

	evlog_pkt_notes(log, evlog_pkt(log, 0), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "queued by rate limit (rule 1)"));
	evlog_pkt_notes(log, evlog_pkt(log, 1), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "DROPPED by rule 2 (rate queue full)"), "the rule whose queue was full");
	evlog_pkt_notes(log, evlog_pkt(log, 2), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "DROPPED by rule 3"));
	cr_assert_not(has_note(&n, "DROPPED by rule 1 (rate queue full)"));
	evlog_free(log);
}

/*
 * A log written before rules had names numbers them from 0 and names none:
 * its numbers are shown from 1, as users count rules now.
 */
Test(evlog, a_log_without_names_counts_rules_from_zero)
{
	static const char *const lines[] = {
		UDP(1, 1.0, 1, "drop") ",\"actions\":[{\"rule\":0,\"action\":\"drop\"}]}",
		UDP(2, 1.1, 2, "drop") ",\"actions\":[{\"rule\":2,\"name\":\"x\",\"action\":\"drop\"}]}",
	};
	struct evlog *log = LOAD(lines);
	struct evlog_notes n;

	evlog_pkt_notes(log, evlog_pkt(log, 0), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "DROPPED by rule 1"));
	cr_assert_str_eq(evlog_pkt(log, 0)->actions[0].name, "");
	evlog_pkt_notes(log, evlog_pkt(log, 1), EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "DROPPED by rule 2 x"), "a named rule's number is as written");
	evlog_free(log);
}

/*
 * "inject" lines: the two RSTs of a 'reset' become arrows of the reset
 * segment's conversation, one from each side (the one with the segment's
 * flow from its sender, the other from its receiver), labelled as RSTs
 * and noted as faultline's; a failed send says so. They are not counted
 * as the endpoints' packets, a release line still finds its held packet,
 * and a piece line (which this version never writes) is skipped, as is a
 * RST whose cause is not in the log.
 */
Test(evlog, injected_rsts_are_arrows_of_their_cause)
{
	static const char *const lines[] = {
		TCP(1, 0.1, 0, 1, 1, C2S, "S", 100, 0, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
		TCP(2, 0.2, 1, 1, 2, S2C, "SA", 5000, 101, 0, ",\"verdict\":\"accept\",\"actions\":[]"),
		TCP(3, 0.3, 0, 2, 3, C2S, "PA", 101, 5001, 10,
		    ",\"verdict\":\"hold\",\"delay_us\":5000.0,"
		    "\"actions\":[{\"rule\":1,\"name\":\"slow\",\"action\":\"delay\"}]"),
		TCP(4, 0.31, 0, 3, 4, C2S, "PA", 111, 5001, 30,
		    ",\"verdict\":\"drop\",\"actions\":[{\"rule\":2,\"name\":\"cut\",\"action\":\"reset\"}]"),
		"{\"t\":0.31,\"ev\":\"inject\",\"pkt\":4,\"kind\":\"rst\",\"flow\":\"tcp " S2C "\","
		"\"flags\":\"RA\",\"seq\":5001,\"ack\":141,\"len\":40}",
		"{\"t\":0.31,\"ev\":\"inject\",\"pkt\":4,\"kind\":\"rst\",\"flow\":\"tcp " C2S "\","
		"\"flags\":\"RA\",\"seq\":111,\"ack\":5001,\"len\":40,\"error\":105}",
		"{\"t\":0.31,\"ev\":\"inject\",\"pkt\":4,\"kind\":\"piece\",\"flow\":\"tcp " C2S "\","
		"\"flags\":\"A\",\"seq\":121,\"ack\":5001,\"len\":50}",
		"{\"t\":0.32,\"ev\":\"inject\",\"pkt\":99,\"kind\":\"rst\",\"flow\":\"tcp " C2S "\","
		"\"flags\":\"RA\",\"seq\":1,\"ack\":1,\"len\":40}",
		"{\"t\":0.35,\"ev\":\"release\",\"pkt\":3,\"rel\":1}",
	};
	struct evlog *log = LOAD(lines);
	const struct evlog_conv *c;
	const struct evlog_pkt *to_a, *to_b;
	struct evlog_notes n;
	char b[64];

	cr_assert_eq(evlog_n_pkts(log), 6, "4 packets and 2 RSTs");
	cr_assert_eq(evlog_n_convs(log), 1);
	c = evlog_conv(log, 0);
	cr_assert_eq(c->n_pkts, 6);
	cr_assert_eq(c->sent[0], 3, "the RSTs are not the endpoints' packets");
	cr_assert_eq(c->sent[1], 1);
	to_a = evlog_pkt(log, 4);
	to_b = evlog_pkt(log, 5);
	cr_assert(to_a->injected && to_b->injected);
	cr_assert_eq(to_a->from, 1, "the RST to the sender comes from the receiver's side");
	cr_assert_eq(to_b->from, 0);
	evlog_pkt_label(log, to_a, 40, b, sizeof(b));
	cr_assert_str_eq(b, "RST+ACK seq=1 ack=41");
	evlog_pkt_label(log, to_b, 40, b, sizeof(b));
	cr_assert_str_eq(b, "RST+ACK seq=11 ack=1");
	evlog_pkt_ident(to_a, b, sizeof(b));
	cr_assert_str_eq(b, "made");
	evlog_pkt_notes(log, to_a, EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "made by faultline (rule 2 cut)"));
	cr_assert_eq(n.n, 1);
	evlog_pkt_notes(log, to_b, EVLOG_ROW_SEND, &n);
	cr_assert(has_note(&n, "NOT SENT: No buffer space available"), "%s", n.s[n.n - 1]);
	cr_assert(evlog_pkt(log, 2)->released, "the release found its held packet");
	cr_assert_eq(c->n_rows, 7, "6 sends and a release");
	cr_assert_eq(c->rows[4].idx, 4, "the RSTs right after their cause");
	evlog_free(log);
}
