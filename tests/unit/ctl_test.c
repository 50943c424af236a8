// SPDX-License-Identifier: MIT
/*
 * ctl: the executor against a stand-in for the live proxy: a pipeline
 * (the same decision code a live run uses) that packets are pushed through,
 * so that counters are real and a change is seen in what the rules do.
 * Every refused change leaves the running set untouched (the same pointer).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "pipeline.h"
#include "file.h"
#include "rule.h"

struct fake {
	struct pipeline *pl;
	struct rule_set *rules;
	unsigned swaps;
	unsigned accepted, dropped;
	bool no_raw;		/* refuse sets that send packets, as a run without CAP_NET_RAW */
	char logged[2048];
};

struct got {
	int status;
	json_t *body;
	unsigned calls;
};

static void on_verdict(void *data, uint32_t id, bool accept, bool held, const uint8_t *payload, uint32_t len,
		       uint32_t wire_len, const uint8_t *bytes, uint64_t now)
{
	struct fake *f = data;

	if (accept)
		f->accepted++;
	else
		f->dropped++;
}

static void on_duplicate(void *data, const uint8_t *bytes, uint32_t len, uint32_t copies, uint64_t now)
{
}

static const struct pipeline_ops ops = { .verdict = on_verdict, .duplicate = on_duplicate };

static int fake_swap(void *data, struct rule_set *rs, bool fresh)
{
	struct fake *f = data;
	int ret;

	if (f->no_raw && act_sending_rule(rs, NULL)) {
		rule_set_free(rs);
		return -EPERM;
	}
	ret = fresh ? pipeline_reset_rules(f->pl, rs, 0) : pipeline_swap_rules(f->pl, rs, 0);
	if (ret) {
		rule_set_free(rs);
		return ret;
	}
	rule_set_free(f->rules);
	f->rules = rs;
	f->swaps++;
	return 0;
}

static const struct rule_set *fake_rules(void *data)
{
	struct fake *f = data;

	return f->rules;
}

static char *fake_stats(void *data)
{
	struct fake *f = data;
	char *inner = pipeline_stats_json(f->pl), *out = NULL;

	if (inner && asprintf(&out, "{\"queue\":1,%s}", inner) < 0)
		out = NULL;
	free(inner);
	return out;
}

static void on_log(void *data, const char *msg)
{
	struct fake *f = data;

	snprintf(f->logged, sizeof(f->logged), "%s", msg);
}

/* A UDP datagram 10.0.0.1:1000 -> 10.0.0.2:port. */
static void send_udp(struct fake *f, uint16_t port)
{
	uint8_t p[40] = { 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17 };
	struct pipeline_pkt pk = { .data = p, .len = sizeof(p), .orig_len = sizeof(p) };

	p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
	p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = (uint8_t)(port >> 8), p[23] = (uint8_t)port;
	p[25] = 20;
	pipeline_packet(f->pl, &pk, 1000);
}

static char rule_file[] = "/tmp/ctl_test.XXXXXX";

static void write_file(const char *text)
{
	FILE *fp = fopen(rule_file, "w");

	cr_assert_not_null(fp);
	cr_assert(fputs(text, fp) >= 0);
	cr_assert_eq(fclose(fp), 0);
}

/* The run: the file's rules, then one -r line. */
static struct ctl *start(struct fake *f, const char *file_text)
{
	int fd = mkstemp(rule_file);
	struct ctl_source src[] = {
		{ CTL_SRC_FILE, rule_file, NULL },
		{ CTL_SRC_LINE, "udp port 7 => drop", "--rule 1" },
	};
	struct ctl_config cfg = {
		.target = { fake_swap, fake_rules, fake_stats, f },
		.sources = src,
		.n_sources = 2,
		.log = on_log,
		.log_data = f,
	};
	struct pipeline_config pc = { .seed = 1 };
	struct ctl_error e;
	struct rule_error re;
	struct ctl *c;

	cr_assert_geq(fd, 0);
	close(fd);
	write_file(file_text);
	f->rules = rule_set_new();
	cr_assert_eq(rule_set_load_file(f->rules, rule_file, &re), 0);
	cr_assert_eq(rule_set_add_line(f->rules, src[1].value, src[1].label, 1, &re), 0);
	f->pl = pipeline_new(&pc, f->rules, &ops, f);
	cr_assert_not_null(f->pl);
	c = ctl_new(&cfg, &e);
	cr_assert_not_null(c, "%s", e.msg);
	return c;
}

static void stop(struct fake *f, struct ctl *c)
{
	ctl_stop(c);
	ctl_free(c);
	pipeline_free(f->pl);
	rule_set_free(f->rules);
	unlink(rule_file);
}

static void on_reply(void *data, const struct ctl_reply *r, bool last)
{
	struct got *g = data;

	cr_assert(last);
	g->calls++;
	g->status = r->status;
	json_decref(g->body);
	g->body = json_incref(r->body);
	cr_assert_not_null(g->body);
	/* Every reply prints as one line. */
	char *line = ctl_reply_text(r);
	cr_assert_not_null(line);
	cr_assert_null(strchr(line, '\n'));
	free(line);
}

/* Run one request's text; the reply must have come before ctl_exec_text returned. */
static void run(struct ctl *c, struct got *g, const char *text)
{
	unsigned before = g->calls;

	cr_assert_null(ctl_exec_text(c, text, strlen(text), on_reply, g));
	cr_assert_eq(g->calls, before + 1);
}

/* Success: {"ok":true,...} with status want. */
static void ok(struct got *g, int want)
{
	cr_assert_eq(g->status, want, "status %d: %s", g->status,
		     json_string_value(json_object_get(g->body, "error")));
	cr_assert(json_is_true(json_object_get(g->body, "ok")));
}

/* Refusal: {"error":...,"status":want} whose message contains why. */
static void refused(struct got *g, int want, const char *why)
{
	const char *msg = json_string_value(json_object_get(g->body, "error"));

	cr_assert_eq(g->status, want, "status %d, not %d: %s", g->status, want, msg ? msg : "(none)");
	cr_assert_eq(json_integer_value(json_object_get(g->body, "status")), want);
	cr_assert_not_null(msg);
	cr_assert(strstr(msg, why), "'%s' does not say '%s'", msg, why);
	cr_assert_null(json_object_get(g->body, "ok"));
}

static json_t *rules_of(struct got *g)
{
	json_t *a = json_object_get(g->body, "rules");

	cr_assert(json_is_array(a));
	return a;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "no \"%s\"", key);
	return s;
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "no \"%s\"", key);
	return json_integer_value(v);
}

Test(ctl, list_gives_rule_objects_from_1)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "# two rules\nudp port 5 => drop\n\nudp port 6 => delay 10ms\n");
	struct got g = { 0 };
	json_t *a, *r;

	send_udp(&f, 5);
	send_udp(&f, 5);
	run(c, &g, "{\"op\":\"list\"}");
	ok(&g, 200);
	a = rules_of(&g);
	cr_assert_eq(json_array_size(a), 3);
	r = json_array_get(a, 0);
	cr_assert_eq(num(r, "index"), 1);
	cr_assert_str_eq(str(r, "name"), "rule-1");
	cr_assert_str_eq(str(r, "rule"), "udp port 5 => drop");
	cr_assert(json_is_true(json_object_get(r, "enabled")));
	cr_assert_eq(num(r, "line"), 2);
	cr_assert_eq(num(r, "matched"), 2);
	cr_assert_eq(num(r, "dropped"), 2);
	r = json_array_get(a, 1);
	cr_assert_eq(num(r, "index"), 2);
	cr_assert_eq(num(r, "line"), 4);
	cr_assert_eq(num(r, "matched"), 0);
	r = json_array_get(a, 2);
	cr_assert_str_eq(str(r, "name"), "rule-3");
	cr_assert_str_eq(str(r, "rule"), "udp port 7 => drop");
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, add_takes_effect_and_answers_201)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	json_t *r;

	send_udp(&f, 9);
	send_udp(&f, 5);
	cr_assert_eq(f.dropped, 1);
	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp port 9 => drop\",\"name\":\"cut\"}");
	ok(&g, 201);
	r = json_object_get(g.body, "rule");
	cr_assert_eq(num(r, "index"), 3);
	cr_assert_str_eq(str(r, "name"), "cut");
	cr_assert_str_eq(str(r, "rule"), "udp port 9 => drop");
	cr_assert_eq(f.swaps, 1);
	send_udp(&f, 9);
	cr_assert_eq(f.dropped, 2);
	/* The rules that were there keep their counters across the change. */
	run(c, &g, "{\"op\":\"get\",\"name\":\"rule-1\"}");
	cr_assert_eq(num(json_object_get(g.body, "rule"), "dropped"), 1);

	run(c, &g, "{\"op\":\"get\",\"name\":\"cut\"}");
	ok(&g, 200);
	r = json_object_get(g.body, "rule");
	cr_assert_eq(num(r, "matched"), 1);
	cr_assert_eq(num(r, "dropped"), 1);

	/* Without a name: rule-N by its place. */
	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp port 10 => drop\"}");
	ok(&g, 201);
	cr_assert_str_eq(str(json_object_get(g.body, "rule"), "name"), "rule-4");
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, refused_changes_leave_the_rules_alone)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	struct rule_set *before;

	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp => drop\",\"name\":\"a\"}");
	ok(&g, 201);
	before = f.rules;

	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp => delay 1ms\",\"name\":\"a\"}");
	refused(&g, 409, "a rule named 'a' exists already");
	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp => dropp\"}");
	refused(&g, 400, "rule:1:8: ");
	run(c, &g, "{\"op\":\"add\",\"rule\":\"# only a comment\"}");
	refused(&g, 400, "no rule");
	run(c, &g, "{\"op\":\"del\",\"name\":\"nosuch\"}");
	refused(&g, 404, "no rule named 'nosuch'");
	run(c, &g, "{\"op\":\"enable\",\"name\":\"rule-9\"}");
	refused(&g, 404, "no rule named 'rule-9'");
	run(c, &g, "{\"op\":\"get\",\"name\":\"rule-3\"}");	/* rule 3 is named "a" */
	refused(&g, 404, "no rule named");
	run(c, &g, "{\"op\":\"replace\",\"rules\":\"udp => drop\\nudp port x => drop\\n\"}");
	refused(&g, 400, "rules:2:");
	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp => drop\",}");
	refused(&g, 400, "bad JSON");
	cr_assert_eq(f.rules, before);
	cr_assert_eq(f.swaps, 1);

	run(c, &g, "{\"op\":\"list\"}");
	cr_assert_eq(json_array_size(rules_of(&g)), 3);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, del_and_auto_names)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\nudp port 6 => drop\n");
	struct got g = { 0 };

	run(c, &g, "{\"op\":\"del\",\"name\":\"rule-1\"}");
	ok(&g, 200);
	cr_assert_null(json_object_get(g.body, "rule"));
	run(c, &g, "{\"op\":\"list\"}");
	cr_assert_eq(json_array_size(rules_of(&g)), 2);
	cr_assert_str_eq(str(json_array_get(rules_of(&g), 0), "rule"), "udp port 6 => drop");
	/* A rule keeps its name, automatic or not, when others go: scripts can hold on to it. */
	cr_assert_str_eq(str(json_array_get(rules_of(&g), 0), "name"), "rule-2");
	cr_assert_eq(num(json_array_get(rules_of(&g), 0), "index"), 1);
	send_udp(&f, 5);
	cr_assert_eq(f.dropped, 0);
	send_udp(&f, 6);
	cr_assert_eq(f.dropped, 1);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, disable_and_enable)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	json_t *r;

	run(c, &g, "{\"op\":\"disable\",\"name\":\"rule-1\"}");
	ok(&g, 200);
	r = json_object_get(g.body, "rule");
	cr_assert(json_is_false(json_object_get(r, "enabled")));
	send_udp(&f, 5);
	cr_assert_eq(f.dropped, 0);
	cr_assert_eq(f.accepted, 1);
	/* The second rule keeps its counters' place: rule-2 is still port 7. */
	send_udp(&f, 7);
	run(c, &g, "{\"op\":\"get\",\"name\":\"rule-2\"}");
	cr_assert_eq(num(json_object_get(g.body, "rule"), "dropped"), 1);

	/* Disabling what is disabled changes nothing (no swap). */
	run(c, &g, "{\"op\":\"disable\",\"name\":\"rule-1\"}");
	ok(&g, 200);
	cr_assert_eq(f.swaps, 1);

	run(c, &g, "{\"op\":\"enable\",\"name\":\"rule-1\"}");
	ok(&g, 200);
	cr_assert(json_is_true(json_object_get(json_object_get(g.body, "rule"), "enabled")));
	send_udp(&f, 5);
	cr_assert_eq(f.dropped, 2);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, replace_swaps_the_whole_set)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };

	run(c, &g, "{\"op\":\"replace\",\"rules\":\"# new\\nudp port 8 => drop\\nudp port 9 => delay 5ms\\n\"}");
	ok(&g, 200);
	cr_assert_eq(json_array_size(rules_of(&g)), 2);
	cr_assert_eq(num(json_array_get(rules_of(&g), 0), "line"), 2);
	cr_assert_eq(rule_set_count(f.rules), 2);
	send_udp(&f, 5);
	send_udp(&f, 8);
	cr_assert_eq(f.dropped, 1);

	/* An empty text is an empty set: nothing is done to any packet. */
	run(c, &g, "{\"op\":\"replace\",\"rules\":\"\"}");
	ok(&g, 200);
	cr_assert_eq(json_array_size(rules_of(&g)), 0);
	cr_assert_eq(rule_set_count(f.rules), 0);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, reset_goes_back_to_the_start)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	json_t *a;

	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp port 9 => drop\",\"name\":\"x\"}");
	run(c, &g, "{\"op\":\"disable\",\"name\":\"rule-1\"}");
	send_udp(&f, 7);
	run(c, &g, "{\"op\":\"reset\"}");
	ok(&g, 200);
	a = rules_of(&g);
	cr_assert_eq(json_array_size(a), 2);
	cr_assert_str_eq(str(json_array_get(a, 0), "rule"), "udp port 5 => drop");
	cr_assert(json_is_true(json_object_get(json_array_get(a, 0), "enabled")));
	cr_assert_eq(num(json_array_get(a, 1), "matched"), 0);
	/* What the file says now does not matter: reset is what the run started with. */
	write_file("udp port 11 => drop\n");
	run(c, &g, "{\"op\":\"reset\"}");
	cr_assert_str_eq(str(json_array_get(rules_of(&g), 0), "rule"), "udp port 5 => drop");
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, reload_rereads_the_sources)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	struct rule_set *before;
	char want[256];

	write_file("udp port 11 => drop\nudp port 12 => drop\n");
	run(c, &g, "{\"op\":\"reload\"}");
	ok(&g, 200);
	cr_assert_eq(json_array_size(rules_of(&g)), 3);
	cr_assert_str_eq(str(json_array_get(rules_of(&g), 1), "rule"), "udp port 12 => drop");
	cr_assert_str_eq(str(json_array_get(rules_of(&g), 2), "rule"), "udp port 7 => drop");
	cr_assert_eq(f.logged[0], '\0');

	/* A bad file: located error to the caller and to the log, rules untouched. */
	before = f.rules;
	write_file("udp port 11 => drop\n\nudp port 12 => dorp\n");
	run(c, &g, "{\"op\":\"reload\"}");
	snprintf(want, sizeof(want), "%s:3:16: ", rule_file);
	refused(&g, 400, want);
	cr_assert(strstr(f.logged, want), "%s", f.logged);
	cr_assert(strstr(f.logged, "unchanged"), "%s", f.logged);
	cr_assert_eq(f.rules, before);

	/* A file gone is an error too, said with its name. */
	unlink(rule_file);
	run(c, &g, "{\"op\":\"reload\"}");
	refused(&g, 400, "cannot open");
	cr_assert_eq(f.rules, before);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, a_run_without_raw_sockets_refuses_duplicates)
{
	struct fake f = { .no_raw = true };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };

	run(c, &g, "{\"op\":\"add\",\"rule\":\"udp => duplicate\"}");
	refused(&g, 409, "CAP_NET_RAW");
	run(c, &g, "{\"op\":\"list\"}");
	cr_assert_eq(json_array_size(rules_of(&g)), 2);
	cr_assert_eq(f.swaps, 0);
	/* A reload that brings one in: refused the same way, and said on faultline's stderr. */
	write_file("udp port 5 => drop\ntcp => segment 100\n");
	run(c, &g, "{\"op\":\"reload\"}");
	refused(&g, 409, "lacks CAP_NET_RAW");
	cr_assert(strstr(f.logged, "reload failed, the rules are unchanged: "), "%s", f.logged);
	cr_assert(strstr(f.logged, "CAP_NET_RAW"), "%s", f.logged);
	cr_assert_eq(f.swaps, 0);
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, stats_is_the_counters_json)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };
	json_t *s;

	send_udp(&f, 5);
	run(c, &g, "{\"op\":\"stats\"}");
	ok(&g, 200);
	s = json_object_get(g.body, "stats");
	cr_assert_eq(num(s, "queue"), 1);
	cr_assert_eq(num(s, "packets"), 1);
	cr_assert_eq(num(s, "dropped"), 1);
	cr_assert(json_is_array(json_object_get(s, "rules")));
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, stopped_answers_503)
{
	struct fake f = { 0 };
	struct ctl *c = start(&f, "udp port 5 => drop\n");
	struct got g = { 0 };

	ctl_stop(c);
	run(c, &g, "{\"op\":\"list\"}");
	refused(&g, 503, "stopping");
	json_decref(g.body);
	stop(&f, c);
}

Test(ctl, sources_that_do_not_parse)
{
	struct ctl_source src[] = { { CTL_SRC_LINE, "udp => explode", "--rule 1" } };
	struct ctl_config cfg = { .sources = src, .n_sources = 1 };
	struct ctl_error e;

	errno = 0;
	cr_assert_null(ctl_new(&cfg, &e));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(e.status, 400);
	cr_assert(!strncmp(e.msg, "--rule 1:1:8: ", 14), "%s", e.msg);
	src[0].value = "# nothing";
	cr_assert_null(ctl_new(&cfg, &e));
	cr_assert(strstr(e.msg, "no rule"), "%s", e.msg);
}
