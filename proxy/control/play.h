/* SPDX-License-Identifier: MIT */
/*
 * play: a scenario (scenario.h) played on the proxy's loop. 'at' steps run
 * from timers counted from play_start (faultline is ready: the chain is
 * in); 'on' and 'every' triggers watch the event stream with wait's
 * evaluator (and poll the counters for counter terms). Each step is the
 * control API's operation of the same name, run by the same executor
 * (ctl_exec), so a step and `faultline ctl` do exactly the same; end stops
 * faultline as SIGTERM does. Every step, done or refused, is written to
 * the event log and stream as one line:
 *   {"t":T,"ev":"scenario","step":N,"line":L,"op":"add","text":"at 10s add ...","ok":true}
 * with "error":"..." instead of ok:true when it was refused (the run goes
 * on; the caller hears of it through say).
 *
 * Threads: the loop thread only.
 */
#ifndef FL_PLAY_H
#define FL_PLAY_H

#include "ctl.h"
#include "scenario.h"

struct play_config {
	struct ctl *ctl;		/* runs the steps (borrowed) */
	struct ctl_target target;	/* the event stream and counters, for triggers */
	struct uv_loop_s *loop;
	/*
	 * Write a scenario line: members as proxy_log_event takes them.
	 * since_ns (CLOCK_MONOTONIC, as uv_hrtime) is when the step began: a
	 * rule change made after it is the step's, and the line's time is
	 * that change's (UINT64_MAX: none is, the time is now).
	 */
	void (*log_event)(void *data, uint64_t since_ns, const char *members);
	/* Stop faultline (the end step). */
	void (*end)(void *data);
	/* A step was refused: msg says which and why (one line). May be NULL. */
	void (*say)(void *data, const char *msg);
	void *data;
};

struct play;

/* A player for sc (taken, also on failure). NULL + errno (ENOMEM, EINVAL: a trigger's condition). */
struct play *play_new(struct scenario *sc, const struct play_config *cfg);

/*
 * Start the clock and the triggers. Returns 0 or -errno (a trigger's
 * counter names a rule not in the set: -ENOENT, said through say).
 */
int play_start(struct play *pl);

/* Stop: no step runs any more; handles are closed (the loop finishes them). */
void play_stop(struct play *pl);

/* Free; play_stop first if it started, and let the loop close its handles. NULL-safe. */
void play_free(struct play *pl);

#endif
