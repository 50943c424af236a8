/* SPDX-License-Identifier: MIT */
/*
 * stream: the executor's asynchronous operations (ctl.h), private to the
 * control layer.
 *
 * events: every event line from now on, one reply each (ctl_reply.line,
 * last = false), as the --events file has them (docs/events.schema.json).
 * Lines the stream's ring had no room for are told as one reply
 * {"lost":N} (a body, last = false) before the next line. When faultline
 * stops, the last reply is {"ok":true,"end":true}.
 *
 * wait: one reply, when the condition (wait.h) holds: 200
 * {"ok":true,"met":true,"condition":C,"terms":[{"term":T,"value":V,
 * "holds":B},...],"lost":N}; when the timeout passes first: 408
 * {"error":"...","status":408,"met":false,"condition":C,"terms":[...]}
 * ("lost": event lines the wait missed; tracker terms may have missed
 * what they carried). A condition that does not parse is 400 with its
 * column, a rule that is not in the set 404. Counter terms are read from
 * the counters every CTL_WAIT_POLL_MS (they only grow, or are levels like
 * held_now); tracker terms from the event stream, so the stream is only
 * switched on for a wait that has some.
 */
#ifndef FL_CTL_STREAM_H
#define FL_CTL_STREAM_H

#include "ctl.h"

/* A wait without timeout_ms; and the longest one may ask for. */
#define CTL_WAIT_DEFAULT_MS 60000u
#define CTL_WAIT_MAX_MS (24u * 3600u * 1000u)
/* How often counter terms are read again. */
#define CTL_WAIT_POLL_MS 20u

/*
 * The calls in progress of one executor: ctl.c keeps the head, stream.c
 * the rest.
 */
struct ctl__calls {
	struct ctl_call *head;
};

/* Start an events stream for cb; NULL when it replied at once (refused). */
struct ctl_call *ctl__events(struct ctl__calls *calls, const struct ctl_config *cfg,
			     ctl_reply_cb cb, void *data);

/* Start a wait; NULL when it replied at once (met already, or refused). */
struct ctl_call *ctl__wait(struct ctl__calls *calls, const struct ctl_config *cfg,
			   const struct ctl_req *req, ctl_reply_cb cb, void *data);

/* End a call without another reply (its client went away). NULL-safe. */
void ctl__call_cancel(struct ctl_call *call);

/* Every call gets its last reply: 503 "faultline is stopping". */
void ctl__calls_stop(struct ctl__calls *calls);

#endif
