// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for ctl_req_decode(), the control socket's and the
 * HTTP API's request decoding. Seeds: fuzz/corpus/ctl_req/. Any bytes must
 * either be refused with a status and a message, or decode to a request
 * that has every field its op needs, and that encoded again decodes to the
 * same request.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                         \
	do {                                \
		if (!(cond))                \
			__builtin_trap();   \
	} while (0)

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		CHECK(!json_object_set_new(o, key, json_string(v)));
}

/* The request as a client would send it. */
static char *encode(const struct ctl_req *r)
{
	json_t *o = json_object();
	char *s;

	CHECK(o);
	CHECK(!json_object_set_new(o, "op", json_string(ctl_op_name(r->op))));
	set_str(o, "name", r->name);
	set_str(o, "rule", r->rule);
	set_str(o, "rules", r->rules);
	set_str(o, "condition", r->condition);
	if (r->has_timeout)
		CHECK(!json_object_set_new(o, "timeout_ms", json_integer((json_int_t)r->timeout_ms)));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	CHECK(s);
	return s;
}

static void check_decoded(const struct ctl_req *r)
{
	struct ctl_req again;
	struct ctl_error e;
	char *s;

	CHECK((unsigned)r->op < CTL_OP__COUNT && ctl_op_name(r->op));
	switch (r->op) {
	case CTL_OP_GET:
	case CTL_OP_DEL:
	case CTL_OP_ENABLE:
	case CTL_OP_DISABLE:
		CHECK(r->name);
		break;
	case CTL_OP_ADD:
		CHECK(r->rule);
		break;
	case CTL_OP_REPLACE:
		CHECK(r->rules);
		break;
	case CTL_OP_WAIT:
		CHECK(r->condition);
		break;
	default:
		break;
	}
	if (r->name)
		CHECK(strlen(r->name) <= CTL_MAX_NAME);
	s = encode(r);
	CHECK(ctl_req_decode(s, strlen(s), &again, &e) == 0);
	CHECK(again.op == r->op && same(again.name, r->name) && same(again.rule, r->rule) &&
	      same(again.rules, r->rules) && same(again.condition, r->condition) &&
	      again.has_timeout == r->has_timeout && again.timeout_ms == r->timeout_ms);
	ctl_req_close(&again);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req req;
	struct ctl_error e;
	int ret = ctl_req_decode((const char *)data, size, &req, &e);

	if (ret) {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(e.status == 400 || e.status == 413 || e.status == 500);
		CHECK(e.msg[0] && memchr(e.msg, '\0', sizeof(e.msg)));
		CHECK(!req.name && !req.rule && !req.rules && !req.condition);
		return 0;
	}
	check_decoded(&req);
	ctl_req_close(&req);
	return 0;
}
