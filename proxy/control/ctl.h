/* SPDX-License-Identifier: MIT */
/*
 * ctl: the control layer's request executor. A request (list, add, del,
 * enable, ...) is decoded from JSON into a struct ctl_req, run against a
 * running proxy by ctl_exec(), and answered with a struct ctl_reply: an
 * HTTP-style status and a JSON body. The Unix control socket (sock.h) and
 * the HTTP API are two transports over this one executor, so every
 * operation means the same whichever way it came.
 *
 * Threads: everything here runs on the proxy's libuv loop thread (the
 * thread that called proxy_run): the transports call in from their loop
 * callbacks, and asynchronous replies (wait, events) are delivered there
 * too. A rule change builds a whole new rule set off the packet path and
 * swaps it in with proxy_swap_rules (the queue's lock, between two bursts):
 * the packet path never waits on a client, and nothing is half-applied.
 *
 * The wire format (one request per line on the socket; the body of a
 * POST on HTTP):
 *   {"op":"list"}                        {"op":"get","name":"slow-db"}
 *   {"op":"add","rule":"LINE"[,"name":"NAME"]}
 *   {"op":"del"|"enable"|"disable","name":"NAME"}
 *   {"op":"replace","rules":"TEXT"}      (a whole rule file's text)
 *   {"op":"stats"} {"op":"reset"} {"op":"reload"}
 *   {"op":"events"} {"op":"wait","condition":"COND"[,"timeout_ms":N]}
 * Unknown ops and fields, wrong types, a bad name, malformed or truncated
 * JSON: status 400.
 *
 * Replies: success is {"ok":true,...} with, by op,
 *   list, replace, reset, reload: "rules":[RULE,...]
 *   get, add, enable, disable:    "rule":RULE
 *   stats:                        "stats":{...} (the SIGUSR1 JSON)
 *   del:                          nothing more
 * where RULE is the stats JSON's rule object: {"index":N (from 1),
 * "name":"...","rule":"CANONICAL TEXT","enabled":true,"line":L,...counters}.
 * Failure is
 * {"error":"MESSAGE","status":N}, N one of the CTL_STATUS_* below.
 */
#ifndef FL_CTL_H
#define FL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "evfan.h"
#include "rule.h"

struct proxy;
struct uv_loop_s;

/* The statuses a reply carries: those the HTTP API answers with. */
enum {
	CTL_STATUS_OK = 200,
	CTL_STATUS_CREATED = 201,	/* add */
	CTL_STATUS_BAD_REQUEST = 400,	/* bad JSON, field, name or rule text */
	CTL_STATUS_NOT_FOUND = 404,	/* no rule by that name */
	CTL_STATUS_TIMEOUT = 408,	/* a client that never finished its request; a wait that timed out */
	CTL_STATUS_CONFLICT = 409,	/* a duplicate name; a change the run cannot make */
	CTL_STATUS_TOO_LARGE = 413,	/* a request over CTL_MAX_REQUEST bytes */
	CTL_STATUS_INTERNAL = 500,	/* out of memory */
	CTL_STATUS_NOT_IMPLEMENTED = 501,
	CTL_STATUS_UNAVAILABLE = 503,	/* too many clients; the proxy is stopping */
};

/* Bytes in one request (a socket line, its newline included; an HTTP body). */
#define CTL_MAX_REQUEST (2u << 20)
/* Bytes in a rule name ([A-Za-z][A-Za-z0-9_.-]*, rule_name_valid). */
#define CTL_MAX_NAME RULE_MAX_NAME

enum ctl_op {
	CTL_OP_LIST = 0,
	CTL_OP_GET,
	CTL_OP_ADD,
	CTL_OP_DEL,
	CTL_OP_ENABLE,
	CTL_OP_DISABLE,
	CTL_OP_REPLACE,
	CTL_OP_STATS,
	CTL_OP_RESET,
	CTL_OP_RELOAD,
	CTL_OP_EVENTS,		/* asynchronous: a stream of event lines */
	CTL_OP_WAIT,		/* asynchronous: one reply when the condition holds or time is up */
	CTL_OP__COUNT,
};

/* A decoded request. Strings are owned (ctl_req_close frees them); NULL = not given. */
struct ctl_req {
	enum ctl_op op;
	char *name;		/* get, del, enable, disable; add (optional) */
	char *rule;		/* add: one rule line */
	char *rules;		/* replace: a rule file's text */
	char *condition;	/* wait */
	bool has_timeout;	/* wait: timeout_ms was given */
	uint64_t timeout_ms;
};

/* Why a request was refused: status and a message for the caller. */
struct ctl_error {
	int status;		/* CTL_STATUS_* */
	char msg[1024];
};

/*
 * Refuse: fill err with status and the printf-style message, whose control
 * characters become '?' (messages quote the client's bytes, and ctl prints
 * them to a terminal). Returns -ENOMEM for CTL_STATUS_INTERNAL, else -EINVAL.
 * For the request decoders (req.c, the HTTP router).
 */
__attribute__((format(printf, 3, 4)))
int ctl_refuse(struct ctl_error *err, int status, const char *fmt, ...);

/*
 * Client text (a key, a path) for a message, in dst (size bytes): its first
 * max + 1 bytes, then "..." if there is more, anything but printable ASCII
 * as '?'.
 */
void ctl_quote(char *dst, size_t size, const char *s, size_t max);

/* The op's name in requests ("list", "add", ...), or NULL out of range. */
const char *ctl_op_name(enum ctl_op op);

/*
 * Decode one request from len bytes of JSON text (a trailing newline is
 * allowed; the text need not be NUL-terminated). Returns 0 with *req
 * filled (free with ctl_req_close), or -EINVAL with err->status 400 and
 * err->msg saying what is wrong (malformed or truncated JSON, not an
 * object, no or unknown "op", an unknown field, a field of the wrong
 * type, a bad name), or -ENOMEM (status 500); *req is then empty.
 */
int ctl_req_decode(const char *text, size_t len, struct ctl_req *req, struct ctl_error *err);

/* Free the strings of a decoded request; NULL-safe, and safe twice. */
void ctl_req_close(struct ctl_req *req);

/*
 * A reply. body is {"ok":true,...} or {"error":...,"status":N} (see the
 * top of this file), or NULL with 'line' set instead: one pre-formatted
 * JSON line (an event of an events stream). Both borrowed for the call.
 */
struct ctl_reply {
	int status;
	json_t *body;
	const char *line;
};

/*
 * Where a request's replies go: once, with last = true, for every op but
 * events; events call it once per line with last = false, and once more
 * with last = true when the stream ends (the proxy stops). On the loop
 * thread; data is the caller's.
 */
typedef void (*ctl_reply_cb)(void *data, const struct ctl_reply *r, bool last);

/* Where the rules a run started with came from, for reset and reload. */
enum ctl_source_kind {
	CTL_SRC_LINE,		/* -r LINE: value is the line, label names it ("--rule 2") */
	CTL_SRC_FILE,		/* -f FILE: value is the path */
};

struct ctl_source {
	enum ctl_source_kind kind;
	const char *value;
	const char *label;	/* CTL_SRC_LINE: the name messages give it */
};

/*
 * Something faultline's own stderr should say (cli/ prints it): a reload
 * that failed, with its located error, whoever asked for it. One line, no
 * newline; borrowed for the call.
 */
typedef void (*ctl_log_cb)(void *data, const char *msg);

/*
 * What the executor drives: a live proxy (ctl_proxy_target) or, in tests,
 * a stand-in. Both callbacks run on the loop thread.
 */
struct rule_set;
struct ctl_target {
	/*
	 * Swap in a whole new rule set (taken, also on failure): rules that
	 * keep their name keep their counters, or with 'fresh' none does.
	 * 0, -ENOMEM, or -EPERM: a rule sends packets of its own and the
	 * raw sockets for them cannot be opened (no CAP_NET_RAW).
	 */
	int (*swap_rules)(void *data, struct rule_set *rules, bool fresh);
	/* The set running now (borrowed, valid until the next swap_rules). */
	const struct rule_set *(*rules)(void *data);
	/* The counters JSON (as on SIGUSR1; malloc'd, caller frees), NULL on ENOMEM. */
	char *(*stats_json)(void *data);
	void *data;
	/*
	 * The event stream, as proxy_events_subscribe and _unsubscribe (NULL:
	 * none; events and tracker waits are then refused, 501).
	 */
	int (*subscribe)(void *data, evfan_cb cb, void *cb_data, char **stats);
	void (*unsubscribe)(void *data, int id);
};

/* The target for a live proxy p (borrowed: it must outlive the ctl). */
struct ctl_target ctl_proxy_target(struct proxy *p);

struct ctl_config {
	struct ctl_target target;
	struct uv_loop_s *loop;			/* the proxy's loop (proxy_loop); NULL in tests */
	const struct ctl_source *sources;	/* borrowed for ctl_new only: copied */
	size_t n_sources;
	ctl_log_cb log;				/* NULL: say nothing */
	void *log_data;
};

struct ctl;
/* An asynchronous request in progress (wait, events). */
struct ctl_call;

/*
 * A control layer for cfg->target, whose rules came from cfg's sources, in
 * order. The sources are read again here, so that reset and reload know
 * every rule's text, name and place (the target keeps running the set it
 * has); err (may be NULL) says why they no longer parse. NULL with errno
 * set (EINVAL: the sources do not parse).
 */
struct ctl *ctl_new(const struct ctl_config *cfg, struct ctl_error *err);

/*
 * Stop: every asynchronous call in progress gets its last reply (status
 * 503, "faultline is stopping") and later requests are answered 503.
 * Called on the proxy's stop (proxy hooks), before the loop ends.
 */
void ctl_stop(struct ctl *c);

/* Free; every call has ended (ctl_stop) or is cancelled without a reply. NULL-safe. */
void ctl_free(struct ctl *c);

/*
 * Run req (borrowed for the call: an asynchronous op copies what it keeps).
 * A synchronous op calls cb once, before returning, and returns NULL. An
 * asynchronous one returns its call, replies later through cb on the loop
 * thread, and is gone after its last reply; the caller may end it first
 * with ctl_call_cancel (its client went away): then cb is not called again.
 */
struct ctl_call *ctl_exec(struct ctl *c, const struct ctl_req *req, ctl_reply_cb cb, void *data);

/*
 * Make the rules whose names start with prefix (borrowed) exactly the n
 * rules lines[i] named names[i] (borrowed), after every other rule, in
 * one swap; a rule that keeps its name keeps its counters. For callers
 * that own a group of rules (the toxiproxy API, toxi.h). Returns 0, or
 * -EINVAL/-ENOMEM with e set: 400 a bad line (its located message), 409 a
 * name another rule outside the group has, 503 the run is stopping.
 */
int ctl_set_group(struct ctl *c, const char *prefix, const char *const *names,
		  const char *const *lines, size_t n, struct ctl_error *e);

/* End an asynchronous call without another reply. */
void ctl_call_cancel(struct ctl_call *call);

/*
 * Decode and run one request's text: a decoding error is replied through
 * cb like any refusal. Returns what ctl_exec returns.
 */
struct ctl_call *ctl_exec_text(struct ctl *c, const char *text, size_t len, ctl_reply_cb cb,
			       void *data);

/*
 * A reply's JSON as one compact line, without the newline (malloc'd;
 * caller frees). NULL on ENOMEM.
 */
char *ctl_reply_text(const struct ctl_reply *r);

/* The error body {"error":msg,"status":status} (new reference), NULL on ENOMEM. */
json_t *ctl_error_body(int status, const char *msg);

#endif
