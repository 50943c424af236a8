// SPDX-License-Identifier: MIT
/*
 * api_fuzz: the HTTP API's router (api_route) on any method, path,
 * Content-Type and body. Input: a byte choosing the method, a byte whose
 * low bit makes the body text/plain, the path up to the first line feed,
 * then the body. Every request either routes to an op with a success
 * status, or is refused with 400, 404, 405 (and an Allow header) or 500,
 * and a message a terminal can print.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req req;
	struct api_route rt;
	struct ctl_error err;
	const uint8_t *nl;
	char *path;
	int ret;

	if (size < 2)
		return 0;
	nl = memchr(data + 2, '\n', size - 2);
	if (!nl)
		return 0;
	path = strndup((const char *)data + 2, (size_t)(nl - data - 2));
	CHECK(path);
	ret = api_route(methods[data[0] % 6], path, data[1] & 1 ? "text/plain" : "application/json",
			(const char *)nl + 1, size - (size_t)(nl + 1 - data), &req, &rt, &err);
	if (!ret) {
		CHECK(req.op < CTL_OP__COUNT);
		CHECK(rt.status == 200 || rt.status == 201 || rt.status == 204);
		/* A named route names a rule a rule line could name. */
		if (req.name)
			CHECK(strlen(req.name) >= 1 && strlen(req.name) <= CTL_MAX_NAME);
		ctl_req_close(&req);
	} else {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(err.status == 400 || err.status == 404 || err.status == 405 || err.status == 500);
		CHECK((err.status == 405) == (rt.allow != NULL));
		CHECK(err.msg[0]);
		for (const char *p = err.msg; *p; p++)
			CHECK((unsigned char)*p >= 0x20 || *p == '\t');
	}
	free(path);
	return 0;
}
