/* SPDX-License-Identifier: MIT */
/*
 * api: the HTTP API's routes. A method and path (and body) become one
 * control request (ctl.h), run by the same executor as the control
 * socket's; its reply becomes the HTTP answer. Every request is handled on
 * the proxy's loop thread (http.h).
 *
 *   GET    /rules                 list              200 [RULE,...]
 *   POST   /rules                 add               201 RULE       body {"rule":"LINE"[,"name":"NAME"]}
 *   PUT    /rules                 replace           200 [RULE,...] body {"rules":["LINE",...]}, or a
 *                                                                  rule file as text/plain
 *   GET    /rules/NAME            get               200 RULE
 *   DELETE /rules/NAME            del               204
 *   POST   /rules/NAME/enable     enable            200 RULE
 *   POST   /rules/NAME/disable    disable           200 RULE
 *   GET    /stats                 stats             200 {...} (SIGUSR1's JSON)
 *   POST   /reset                 reset             200 [RULE,...]
 *   POST   /reload                reload            200 [RULE,...]
 *   GET    /events                events            200, JSON lines until the run ends
 *   POST   /wait                  wait              the reply as the socket gives it; body
 *                                                   {"condition":"COND"[,"timeout_ms":N]}
 *   GET    /metrics               stats             200, Prometheus text (metrics.h)
 * Errors: {"error":"...","status":N}: 400 bad JSON, field or rule text;
 * 404 unknown path or rule; 405 (with Allow) a method the path does not
 * take; 409 a duplicate name; 413 a body over the limit (http.h).
 */
#ifndef FL_API_H
#define FL_API_H

#include <stddef.h>

#include "ctl.h"
#include "http.h"

/* What the routing of a request decided, besides the request itself. */
struct api_route {
	int status;		/* on success: 200, 201 (add) or 204 (del) */
	const char *unwrap;	/* the reply's key whose value is the answer ("rules", ...), or NULL: all */
	bool metrics;		/* GET /metrics: the stats as Prometheus text */
	const char *allow;	/* a 405's Allow header */
};

/*
 * Route one request: method, path (decoded, no query), Content-Type (may
 * be NULL) and body (len bytes, need not be NUL-terminated). Returns 0
 * with *req filled (free with ctl_req_close) and *rt set, or -EINVAL with
 * err->status 400, 404 or 405 (then rt->allow is set) and err->msg, or
 * -ENOMEM (500). Pure: no I/O.
 */
int api_route(const char *method, const char *path, const char *ctype, const char *body, size_t len,
	      struct ctl_req *req, struct api_route *rt, struct ctl_error *err);

struct api;

/* The API over executor c (borrowed: it must outlive the api). NULL with errno. */
struct api *api_new(struct ctl *c);

/*
 * Free, once no request is left: after http_stop (which ends every request
 * still waiting or streaming, and cancels its call). NULL-safe.
 */
void api_free(struct api *a);

/* The http_handler_cb of the server: data is the struct api. */
void api_handle(void *data, struct http_req *r);

#endif
