// SPDX-License-Identifier: MIT
/*
 * Decoding a control request: jansson parses, this file judges. Strict on
 * purpose: a field the op does not take is an error, not ignored, so that
 * a client's typo ("nmae") is told rather than acted on without it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

enum field {
	F_NAME = 1u << 0,
	F_RULE = 1u << 1,
	F_RULES = 1u << 2,
	F_CONDITION = 1u << 3,
	F_TIMEOUT_MS = 1u << 4,
};

static const struct {
	const char *key;
	enum field f;
} fields[] = {
	{ "name", F_NAME },
	{ "rule", F_RULE },
	{ "rules", F_RULES },
	{ "condition", F_CONDITION },
	{ "timeout_ms", F_TIMEOUT_MS },
};

/* What each op takes (allowed) and must have (required). */
static const struct {
	const char *name;
	unsigned allowed, required;
} ops[CTL_OP__COUNT] = {
	[CTL_OP_LIST] = { "list", 0, 0 },
	[CTL_OP_GET] = { "get", F_NAME, F_NAME },
	[CTL_OP_ADD] = { "add", F_RULE | F_NAME, F_RULE },
	[CTL_OP_DEL] = { "del", F_NAME, F_NAME },
	[CTL_OP_ENABLE] = { "enable", F_NAME, F_NAME },
	[CTL_OP_DISABLE] = { "disable", F_NAME, F_NAME },
	[CTL_OP_REPLACE] = { "replace", F_RULES, F_RULES },
	[CTL_OP_STATS] = { "stats", 0, 0 },
	[CTL_OP_RESET] = { "reset", 0, 0 },
	[CTL_OP_RELOAD] = { "reload", 0, 0 },
	[CTL_OP_EVENTS] = { "events", 0, 0 },
	[CTL_OP_WAIT] = { "wait", F_CONDITION | F_TIMEOUT_MS, F_CONDITION },
};

const char *ctl_op_name(enum ctl_op op)
{
	if ((unsigned)op >= CTL_OP__COUNT)
		return NULL;
	return ops[op].name;
}

int ctl_refuse(struct ctl_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/*
	 * jansson's own messages quote the client's bytes ("near '...'"):
	 * control characters become '?', so that a terminal (ctl prints the
	 * reason) or a log shows the message as it is.
	 */
	for (char *m = err->msg; *m; m++)
		if ((unsigned char)*m < 0x20 || *m == 0x7f)
			*m = '?';
	return status == CTL_STATUS_INTERNAL ? -ENOMEM : -EINVAL;
}

void ctl_quote(char *dst, size_t size, const char *s, size_t max)
{
	size_t j = 0;

	for (size_t i = 0; s[i] && j + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		dst[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		if (i == max) {
			memcpy(dst + j, "...", 3);
			j += 3;
			break;
		}
	}
	dst[j] = '\0';
}

static int take_string(json_t *v, const char *key, char **out, struct ctl_error *err)
{
	if (!json_is_string(v))
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "\"%s\" must be a string", key);
	*out = strdup(json_string_value(v));
	if (!*out)
		return ctl_refuse(err, CTL_STATUS_INTERNAL, "out of memory");
	return 0;
}

static int take_field(struct ctl_req *req, enum field f, const char *key, json_t *v,
		      struct ctl_error *err)
{
	switch (f) {
	case F_NAME:
		if (take_string(v, key, &req->name, err))
			return -EINVAL;
		if (!rule_name_valid(req->name))
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST,
				      "\"name\": not a rule name (a letter, then letters, digits, '_', '.' "
				      "or '-', at most %d bytes)", CTL_MAX_NAME);
		return 0;
	case F_RULE:
		return take_string(v, key, &req->rule, err);
	case F_RULES:
		return take_string(v, key, &req->rules, err);
	case F_CONDITION:
		return take_string(v, key, &req->condition, err);
	case F_TIMEOUT_MS:
		/* A JSON integer that fits: no fraction, no sign, no string. */
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST,
				      "\"timeout_ms\" must be a whole number of milliseconds, 0 or more");
		req->has_timeout = true;
		req->timeout_ms = (uint64_t)json_integer_value(v);
		return 0;
	}
	return ctl_refuse(err, CTL_STATUS_INTERNAL, "unknown field");
}

static int decode_op(json_t *root, struct ctl_req *req, struct ctl_error *err)
{
	json_t *op = json_object_get(root, "op");
	char q[64];

	if (!op)
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "no \"op\" in the request");
	if (!json_is_string(op))
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "\"op\" must be a string");
	for (unsigned i = 0; i < CTL_OP__COUNT; i++) {
		if (!strcmp(json_string_value(op), ops[i].name) &&
		    strlen(ops[i].name) == json_string_length(op)) {
			req->op = (enum ctl_op)i;
			return 0;
		}
	}
	ctl_quote(q, sizeof(q), json_string_value(op), 40);
	return ctl_refuse(err, CTL_STATUS_BAD_REQUEST,
		      "unknown op \"%s\" (list, get, add, del, enable, disable, replace, stats, reset, "
		      "reload, events, wait)", q);
}

static int decode_fields(json_t *root, struct ctl_req *req, struct ctl_error *err)
{
	unsigned seen = 0, want = ops[req->op].required;
	const char *key;
	json_t *v;
	char q[64];
	int ret;

	json_object_foreach(root, key, v) {
		unsigned f = 0;

		if (!strcmp(key, "op"))
			continue;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(key, fields[i].key))
				f = fields[i].f;
		if (!(f & ops[req->op].allowed)) {
			ctl_quote(q, sizeof(q), key, 40);
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "unknown field \"%s\" for op \"%s\"", q,
				      ops[req->op].name);
		}
		ret = take_field(req, (enum field)f, key, v, err);
		if (ret)
			return ret;
		seen |= f;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((want & fields[i].f) && !(seen & fields[i].f))
			return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "op \"%s\" needs \"%s\"",
				      ops[req->op].name, fields[i].key);
	return 0;
}

int ctl_req_decode(const char *text, size_t len, struct ctl_req *req, struct ctl_error *err)
{
	json_error_t je;
	json_t *root;
	int ret;

	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	if (len > CTL_MAX_REQUEST)
		return ctl_refuse(err, CTL_STATUS_TOO_LARGE, "request over %u bytes", CTL_MAX_REQUEST);
	/*
	 * A duplicate key is refused rather than "the last one wins": two
	 * "name"s are a client bug, and which one it meant is a guess.
	 * Strings with a NUL (\u0000) are refused by jansson by default.
	 */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!root)
		return ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "bad JSON at byte %d: %s", je.position,
			      je.text);
	if (!json_is_object(root)) {
		ret = ctl_refuse(err, CTL_STATUS_BAD_REQUEST, "the request must be a JSON object");
		goto out;
	}
	ret = decode_op(root, req, err);
	if (!ret)
		ret = decode_fields(root, req, err);
out:
	json_decref(root);
	if (ret)
		ctl_req_close(req);
	return ret;
}

void ctl_req_close(struct ctl_req *req)
{
	if (!req)
		return;
	free(req->name);
	free(req->rule);
	free(req->rules);
	free(req->condition);
	memset(req, 0, sizeof(*req));
}
