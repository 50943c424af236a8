// SPDX-License-Identifier: MIT
/*
 * req: decoding control requests. Every well-formed op decodes to its
 * fields; every malformed request is refused with status 400 and a message
 * saying what is wrong, and leaves nothing allocated (ASan's leak check).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ctl.h"

static void decodes(const char *text, struct ctl_req *req)
{
	struct ctl_error e;
	int ret = ctl_req_decode(text, strlen(text), req, &e);

	cr_assert_eq(ret, 0, "'%s': %s", text, e.msg);
}

/* text is refused with 400, and the message contains 'why'. */
static void refused(const char *text, size_t len, const char *why)
{
	struct ctl_req req;
	struct ctl_error e;
	int ret = ctl_req_decode(text, len, &req, &e);

	cr_assert_eq(ret, -EINVAL, "'%.*s' was accepted", (int)len, text);
	cr_assert_eq(e.status, 400);
	cr_assert(strstr(e.msg, why), "'%.*s': '%s' does not say '%s'", (int)len, text, e.msg, why);
	cr_assert_null(req.name);
	cr_assert_null(req.rule);
	cr_assert_null(req.rules);
	cr_assert_null(req.condition);
}

static void refused_str(const char *text, const char *why)
{
	refused(text, strlen(text), why);
}

Test(req, every_op_decodes)
{
	static const char *const names[] = { "list", "get", "add", "del", "enable", "disable", "replace",
					     "stats", "reset", "reload", "events", "wait" };
	static const char *const texts[] = {
		"{\"op\":\"list\"}",
		"{\"op\":\"get\",\"name\":\"a\"}",
		"{\"op\":\"add\",\"rule\":\"udp => drop\"}",
		"{\"op\":\"del\",\"name\":\"a\"}",
		"{\"op\":\"enable\",\"name\":\"a\"}",
		"{\"op\":\"disable\",\"name\":\"a\"}",
		"{\"op\":\"replace\",\"rules\":\"udp => drop\\n\"}",
		"{\"op\":\"stats\"}",
		"{\"op\":\"reset\"}",
		"{\"op\":\"reload\"}",
		"{\"op\":\"events\"}",
		"{\"op\":\"wait\",\"condition\":\"a.dropped >= 2\"}",
	};

	for (unsigned i = 0; i < CTL_OP__COUNT; i++) {
		struct ctl_req req;

		cr_assert_str_eq(ctl_op_name((enum ctl_op)i), names[i]);
		decodes(texts[i], &req);
		cr_assert_eq(req.op, (enum ctl_op)i, "%s", texts[i]);
		ctl_req_close(&req);
	}
	cr_assert_null(ctl_op_name(CTL_OP__COUNT));
}

Test(req, fields_are_taken)
{
	struct ctl_req req;

	decodes("  {\"name\":\"slow-db\",\"rule\":\"tcp port 5432 => delay 200ms\",\"op\":\"add\"}\n", &req);
	cr_assert_eq(req.op, CTL_OP_ADD);
	cr_assert_str_eq(req.name, "slow-db");
	cr_assert_str_eq(req.rule, "tcp port 5432 => delay 200ms");
	ctl_req_close(&req);
	ctl_req_close(&req);	/* twice is harmless */

	decodes("{\"op\":\"wait\",\"condition\":\"x.dropped >= 2\",\"timeout_ms\":1500}", &req);
	cr_assert_str_eq(req.condition, "x.dropped >= 2");
	cr_assert(req.has_timeout);
	cr_assert_eq(req.timeout_ms, 1500);
	ctl_req_close(&req);

	decodes("{\"op\":\"add\",\"rule\":\"udp => drop\"}", &req);
	cr_assert_null(req.name);
	ctl_req_close(&req);
}

Test(req, the_text_need_not_end_in_nul)
{
	const char text[] = "{\"op\":\"list\"}GARBAGE";
	struct ctl_req req;
	struct ctl_error e;

	cr_assert_eq(ctl_req_decode(text, 13, &req, &e), 0, "%s", e.msg);
	cr_assert_eq(req.op, CTL_OP_LIST);
}

Test(req, malformed_json)
{
	refused_str("", "bad JSON");
	refused_str("\n", "bad JSON");
	refused_str("{", "bad JSON");
	refused_str("{\"op\":\"list\"", "bad JSON");		/* truncated */
	refused_str("{\"op\":\"li", "bad JSON");
	refused_str("{\"op\":\"list\"}}", "bad JSON");		/* trailing garbage */
	refused_str("{\"op\":\"list\"} {\"op\":\"list\"}", "bad JSON");	/* two requests */
	refused_str("{op:\"list\"}", "bad JSON");
	refused_str("{'op':'list'}", "bad JSON");
	refused_str("{\"op\":\"list\",}", "bad JSON");
	refused_str("{\"op\":\"add\",\"rule\":\"\\x\"}", "bad JSON");
	refused_str("{\"op\":\"add\",\"rule\":\"a\\u0000b\"}", "bad JSON");	/* NUL in a string */
	refused_str("{\"op\":\"get\",\"name\":\"\xff\"}", "bad JSON");	/* not UTF-8 */
	refused_str("{\"op\":\"list\",\"op\":\"list\"}", "bad JSON");	/* duplicate key */
	refused("{\"op\":\"list\"}\0", 14, "bad JSON");		/* a NUL byte in the line */
}

Test(req, not_an_object)
{
	refused_str("[]", "JSON object");
	refused_str("\"list\"", "JSON object");
	refused_str("42", "JSON object");
	refused_str("null", "JSON object");
	refused_str("[{\"op\":\"list\"}]", "JSON object");
}

Test(req, op_missing_or_wrong)
{
	refused_str("{}", "no \"op\"");
	refused_str("{\"name\":\"a\"}", "no \"op\"");
	refused_str("{\"op\":1}", "\"op\" must be a string");
	refused_str("{\"op\":null}", "\"op\" must be a string");
	refused_str("{\"op\":[\"list\"]}", "\"op\" must be a string");
	refused_str("{\"op\":\"LIST\"}", "unknown op \"LIST\"");
	refused_str("{\"op\":\"\"}", "unknown op");
	refused_str("{\"op\":\"list \"}", "unknown op");
}

Test(req, unknown_fields)
{
	refused_str("{\"op\":\"list\",\"name\":\"a\"}", "unknown field \"name\" for op \"list\"");
	refused_str("{\"op\":\"add\",\"rule\":\"udp => drop\",\"nmae\":\"a\"}", "unknown field \"nmae\"");
	refused_str("{\"op\":\"get\",\"name\":\"a\",\"rule\":\"x\"}", "unknown field \"rule\"");
	refused_str("{\"op\":\"stats\",\"\":1}", "unknown field \"\"");
	refused_str("{\"op\":\"replace\",\"rule\":\"udp => drop\"}", "unknown field \"rule\"");
	refused_str("{\"op\":\"del\",\"name\":\"a\",\"timeout_ms\":1}", "unknown field \"timeout_ms\"");
}

Test(req, required_fields)
{
	refused_str("{\"op\":\"add\"}", "op \"add\" needs \"rule\"");
	refused_str("{\"op\":\"add\",\"name\":\"a\"}", "needs \"rule\"");
	refused_str("{\"op\":\"get\"}", "needs \"name\"");
	refused_str("{\"op\":\"del\"}", "needs \"name\"");
	refused_str("{\"op\":\"enable\"}", "needs \"name\"");
	refused_str("{\"op\":\"disable\"}", "needs \"name\"");
	refused_str("{\"op\":\"replace\"}", "needs \"rules\"");
	refused_str("{\"op\":\"wait\"}", "needs \"condition\"");
	refused_str("{\"op\":\"wait\",\"timeout_ms\":5}", "needs \"condition\"");
}

Test(req, wrong_types)
{
	refused_str("{\"op\":\"add\",\"rule\":1}", "\"rule\" must be a string");
	refused_str("{\"op\":\"add\",\"rule\":null}", "\"rule\" must be a string");
	refused_str("{\"op\":\"add\",\"rule\":[\"udp => drop\"]}", "\"rule\" must be a string");
	refused_str("{\"op\":\"add\",\"rule\":\"udp => drop\",\"name\":true}", "\"name\" must be a string");
	refused_str("{\"op\":\"get\",\"name\":{}}", "\"name\" must be a string");
	refused_str("{\"op\":\"replace\",\"rules\":[]}", "\"rules\" must be a string");
	refused_str("{\"op\":\"wait\",\"condition\":2}", "\"condition\" must be a string");
	refused_str("{\"op\":\"wait\",\"condition\":\"c\",\"timeout_ms\":\"5\"}", "\"timeout_ms\" must be");
	refused_str("{\"op\":\"wait\",\"condition\":\"c\",\"timeout_ms\":1.5}", "\"timeout_ms\" must be");
	refused_str("{\"op\":\"wait\",\"condition\":\"c\",\"timeout_ms\":-1}", "\"timeout_ms\" must be");
	refused_str("{\"op\":\"wait\",\"condition\":\"c\",\"timeout_ms\":99999999999999999999}", "bad JSON");
}

Test(req, bad_names)
{
	refused_str("{\"op\":\"get\",\"name\":\"\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"1abc\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"-a\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"a b\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"a:\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"a/b\"}", "not a rule name");
	refused_str("{\"op\":\"add\",\"rule\":\"udp => drop\",\"name\":\"\xc3\xa9t\xc3\xa9\"}", "not a rule name");
	refused_str("{\"op\":\"get\",\"name\":\"a12345678901234567890123456789012345678901234567890123456789012345\"}",
		    "not a rule name");
}

Test(req, good_names)
{
	static const char *const good[] = { "a", "Z", "slow-db", "a.b_c-9", "rule-3",
		"a123456789012345678901234567890123456789012345678901234567890123" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[200];
		struct ctl_req req;

		snprintf(text, sizeof(text), "{\"op\":\"get\",\"name\":\"%s\"}", good[i]);
		decodes(text, &req);
		cr_assert_str_eq(req.name, good[i]);
		ctl_req_close(&req);
	}
}

Test(req, too_large)
{
	size_t len = CTL_MAX_REQUEST + 1;
	char *big = malloc(len);
	struct ctl_req req;
	struct ctl_error e;

	cr_assert_not_null(big);
	memset(big, ' ', len);
	cr_assert_eq(ctl_req_decode(big, len, &req, &e), -EINVAL);
	cr_assert_eq(e.status, 413);
	free(big);
}

/* A user's key quoted in a message stays printable and short. */
Test(req, quoted_keys_are_printable)
{
	struct ctl_req req;
	struct ctl_error e;
	const char *text = "{\"op\":\"list\",\"\\u0001\\u0007aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}";

	cr_assert_eq(ctl_req_decode(text, strlen(text), &req, &e), -EINVAL);
	cr_assert(strstr(e.msg, "unknown field \"??aaaa"), "%s", e.msg);
	cr_assert(strstr(e.msg, "...\""), "%s", e.msg);
	for (const char *p = e.msg; *p; p++)
		cr_assert(*p >= 0x20 && *p < 0x7f, "%s", e.msg);
}

Test(req, jansson_messages_are_printable)
{
	struct ctl_req req;
	struct ctl_error e;
	/* Raw control bytes where a value should be: jansson quotes them. */
	const char text[] = "{\"op\":\x01\x1b[31m}";

	cr_assert_eq(ctl_req_decode(text, sizeof(text) - 1, &req, &e), -EINVAL);
	cr_assert_eq(e.status, 400);
	cr_assert(strstr(e.msg, "bad JSON"), "%s", e.msg);
	for (const char *p = e.msg; *p; p++)
		cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "%s", e.msg);
}
