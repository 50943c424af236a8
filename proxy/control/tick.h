/* SPDX-License-Identifier: MIT */
/*
 * tick: call a function every period on the proxy's loop thread ('run
 * --progress'). The caller does what the tick is for; this only keeps time.
 */
#ifndef FL_CONTROL_TICK_H
#define FL_CONTROL_TICK_H

#include <stdint.h>

struct uv_loop_s;
struct tick;

typedef void (*tick_cb)(void *data);

/*
 * Call cb(data) every period_ms (> 0) on loop (borrowed), first one period
 * from now. Returns the tick, or NULL with errno set.
 */
struct tick *tick_start(struct uv_loop_s *loop, uint64_t period_ms, tick_cb cb, void *data);

/* Stop t (NULL-safe): cb is not called again; t is freed once the loop closes its timer. */
void tick_stop(struct tick *t);

#endif
