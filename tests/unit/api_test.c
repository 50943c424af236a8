// SPDX-License-Identifier: MIT
/*
 * api: every route to its control request, and every refusal with its
 * status (400, 404, 405 with Allow) before anything reaches the executor.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api.h"

struct routed {
	int ret;
	struct ctl_req req;
	struct api_route rt;
	struct ctl_error err;
};

static struct routed route_ct(const char *method, const char *path, const char *ctype, const char *body)
{
	struct routed r;

	r.ret = api_route(method, path, ctype, body ? body : "", body ? strlen(body) : 0, &r.req, &r.rt, &r.err);
	return r;
}

static struct routed route(const char *method, const char *path, const char *body)
{
	return route_ct(method, path, NULL, body);
}

static void ok(struct routed *r, enum ctl_op op, int status, const char *unwrap)
{
	cr_assert_eq(r->ret, 0, "%d %s", r->err.status, r->err.msg);
	cr_assert_eq(r->req.op, op);
	cr_assert_eq(r->rt.status, status);
	if (unwrap)
		cr_assert_str_eq(r->rt.unwrap, unwrap);
	else
		cr_assert_null(r->rt.unwrap);
}

static void refused(struct routed *r, int status, const char *msg_part)
{
	cr_assert_eq(r->ret, -EINVAL);
	cr_assert_eq(r->err.status, status, "%d %s", r->err.status, r->err.msg);
	cr_assert(strstr(r->err.msg, msg_part), "'%s' lacks '%s'", r->err.msg, msg_part);
}

Test(api, every_route)
{
	struct routed r;

	r = route("GET", "/rules", NULL);
	ok(&r, CTL_OP_LIST, 200, "rules");
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\",\"name\":\"cut\"}");
	ok(&r, CTL_OP_ADD, 201, "rule");
	cr_assert_str_eq(r.req.rule, "udp => drop");
	cr_assert_str_eq(r.req.name, "cut");
	ctl_req_close(&r.req);
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\"}");
	ok(&r, CTL_OP_ADD, 201, "rule");
	cr_assert_null(r.req.name);
	ctl_req_close(&r.req);
	r = route("GET", "/rules/slow-db", NULL);
	ok(&r, CTL_OP_GET, 200, "rule");
	cr_assert_str_eq(r.req.name, "slow-db");
	ctl_req_close(&r.req);
	r = route("DELETE", "/rules/a.b_c-1", NULL);
	ok(&r, CTL_OP_DEL, 204, NULL);
	cr_assert_str_eq(r.req.name, "a.b_c-1");
	ctl_req_close(&r.req);
	r = route("POST", "/rules/cut/enable", NULL);
	ok(&r, CTL_OP_ENABLE, 200, "rule");
	ctl_req_close(&r.req);
	r = route("POST", "/rules/cut/disable", "{}");
	ok(&r, CTL_OP_DISABLE, 200, "rule");
	cr_assert_str_eq(r.req.name, "cut");
	ctl_req_close(&r.req);
	r = route("GET", "/stats", NULL);
	ok(&r, CTL_OP_STATS, 200, "stats");
	cr_assert(!r.rt.metrics);
	r = route("GET", "/metrics", NULL);
	ok(&r, CTL_OP_STATS, 200, "stats");
	cr_assert(r.rt.metrics);
	r = route("POST", "/reset", NULL);
	ok(&r, CTL_OP_RESET, 200, "rules");
	r = route("POST", "/reload", "");
	ok(&r, CTL_OP_RELOAD, 200, "rules");
	r = route("GET", "/events", NULL);
	ok(&r, CTL_OP_EVENTS, 200, NULL);
	r = route("POST", "/wait", "{\"condition\":\"cut.dropped >= 2\",\"timeout_ms\":500}");
	ok(&r, CTL_OP_WAIT, 200, NULL);
	cr_assert_str_eq(r.req.condition, "cut.dropped >= 2");
	cr_assert(r.req.has_timeout);
	cr_assert_eq(r.req.timeout_ms, 500);
	ctl_req_close(&r.req);
}

Test(api, put_rules_as_lines_or_text)
{
	struct routed r;

	r = route("PUT", "/rules", "{\"rules\":[\"slow: tcp port 5432 => delay 200ms\",\"udp => drop\"]}");
	ok(&r, CTL_OP_REPLACE, 200, "rules");
	cr_assert_str_eq(r.req.rules, "slow: tcp port 5432 => delay 200ms\nudp => drop\n");
	ctl_req_close(&r.req);
	r = route("PUT", "/rules", "{\"rules\":[]}");
	ok(&r, CTL_OP_REPLACE, 200, "rules");
	cr_assert_str_eq(r.req.rules, "");
	ctl_req_close(&r.req);
	r = route_ct("PUT", "/rules", "text/plain; charset=utf-8", "# a file\nudp => drop\n");
	ok(&r, CTL_OP_REPLACE, 200, "rules");
	cr_assert_str_eq(r.req.rules, "# a file\nudp => drop\n");
	ctl_req_close(&r.req);
}

Test(api, put_rules_refusals)
{
	struct routed r;

	r = route("PUT", "/rules", "{\"rules\":\"udp => drop\"}");
	refused(&r, 400, "array");
	r = route("PUT", "/rules", "{\"rules\":[\"udp => drop\",3]}");
	refused(&r, 400, "\"rules\"[1] must be a string");
	r = route("PUT", "/rules", "{\"rules\":[\"udp => drop\\nicmp => drop\"]}");
	refused(&r, 400, "line break");
	r = route("PUT", "/rules", "{}");
	refused(&r, 400, "needs \"rules\"");
	r = route("PUT", "/rules", "{\"rules\":[],\"extra\":1}");
	refused(&r, 400, "unknown field \"extra\"");
	cr_assert_eq(api_route("PUT", "/rules", "text/plain", "udp\0 => drop", 12, &r.req, &r.rt, &r.err), -EINVAL);
	cr_assert(strstr(r.err.msg, "NUL"), "%s", r.err.msg);
	cr_assert_eq(api_route("PUT", "/rules", "text/plain", "udp \xff", 5, &r.req, &r.rt, &r.err), -EINVAL);
	cr_assert(strstr(r.err.msg, "UTF-8"), "%s", r.err.msg);
}

Test(api, bad_bodies_400)
{
	struct routed r;

	r = route("POST", "/rules", "{\"rule\":\"udp => drop\"");
	refused(&r, 400, "bad JSON");
	r = route("POST", "/rules", "{\"rule\":");
	refused(&r, 400, "bad JSON");
	r = route("POST", "/rules", "not json");
	refused(&r, 400, "bad JSON");
	r = route("POST", "/rules", "[1,2]");
	refused(&r, 400, "must be a JSON object");
	r = route("POST", "/rules", "{\"rule\":42}");
	refused(&r, 400, "\"rule\" must be a string");
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\",\"nmae\":\"x\"}");
	refused(&r, 400, "unknown field \"nmae\"");
	r = route("POST", "/rules", "{\"name\":\"x\"}");
	refused(&r, 400, "needs \"rule\"");
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\",\"rule\":\"icmp => drop\"}");
	refused(&r, 400, "bad JSON");
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\",\"op\":\"del\"}");
	refused(&r, 400, "unknown field \"op\"");
	r = route("POST", "/rules", "{\"rule\":\"udp => drop\",\"name\":\"9bad\"}");
	refused(&r, 400, "not a rule name");
	r = route("POST", "/rules/cut/enable", "{\"name\":\"other\"}");
	refused(&r, 400, "unknown field \"name\"");
	r = route("POST", "/rules/cut/enable", "{\"force\":true}");
	refused(&r, 400, "unknown field \"force\"");
	r = route("POST", "/reset", "{\"hard\":1}");
	refused(&r, 400, "unknown field \"hard\"");
	r = route("POST", "/wait", "{\"condition\":\"x\",\"timeout_ms\":\"5s\"}");
	refused(&r, 400, "timeout_ms");
	r = route("POST", "/wait", "{}");
	refused(&r, 400, "needs \"condition\"");
}

Test(api, unknown_paths_and_names_404)
{
	struct routed r;

	r = route("GET", "/", NULL);
	refused(&r, 404, "no such path: /");
	r = route("GET", "/rule", NULL);
	refused(&r, 404, "no such path");
	r = route("GET", "/rules/", NULL);
	refused(&r, 404, "no such path");
	r = route("GET", "/rules/cut/", NULL);
	refused(&r, 404, "no such path");
	r = route("POST", "/rules/cut/toggle", NULL);
	refused(&r, 404, "no such path");
	r = route("GET", "/rules/9lives", NULL);
	refused(&r, 404, "no rule named '9lives'");
	r = route("GET", "/rules/a b", NULL);
	refused(&r, 404, "no rule named 'a b'");
	r = route("GET", "/stats/", NULL);
	refused(&r, 404, "no such path");
	r = route("GET", "/rules\x01", NULL);
	refused(&r, 404, "no such path: /rules?");
}

Test(api, wrong_method_405_with_allow)
{
	struct routed r;

	r = route("DELETE", "/rules", NULL);
	refused(&r, 405, "only GET, POST, PUT");
	cr_assert_str_eq(r.rt.allow, "GET, POST, PUT");
	r = route("POST", "/rules/cut", NULL);
	refused(&r, 405, "");
	cr_assert_str_eq(r.rt.allow, "GET, DELETE");
	r = route("GET", "/rules/cut/enable", NULL);
	cr_assert_str_eq(r.rt.allow, "POST");
	r = route("GET", "/reset", NULL);
	cr_assert_eq(r.err.status, 405);
	r = route("POST", "/metrics", NULL);
	cr_assert_eq(r.err.status, 405);
	cr_assert_str_eq(r.rt.allow, "GET");
	r = route("HEAD", "/stats", NULL);
	cr_assert_eq(r.err.status, 405);
}

/* A client's control bytes quoted by the JSON parser's message come out as '?' (fuzz.api found it). */
Test(api, messages_printable)
{
	struct ctl_req req;
	struct api_route rt;
	struct ctl_error err;

	cr_assert_eq(api_route("POST", "/rules", NULL, "{\x1b}", 3, &req, &rt, &err), -EINVAL);
	cr_assert_eq(err.status, 400);
	for (const char *p = err.msg; *p; p++)
		cr_assert((unsigned char)*p >= 0x20, "control byte in '%s'", err.msg);
}
