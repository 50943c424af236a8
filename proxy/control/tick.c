// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <uv.h>

#include "tick.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tick {
	uv_timer_t timer;
	tick_cb cb;
	void *data;
};

static void on_timer(uv_timer_t *h)
{
	struct tick *t = container_of(h, struct tick, timer);

	t->cb(t->data);
}

/* The handle lives inside the tick: it may go only once libuv is done with it. */
static void on_close(uv_handle_t *h)
{
	free(container_of((uv_timer_t *)h, struct tick, timer));
}

struct tick *tick_start(struct uv_loop_s *loop, uint64_t period_ms, tick_cb cb, void *data)
{
	struct tick *t;
	int rc;

	if (!period_ms || !cb) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cb = cb;
	t->data = data;
	rc = uv_timer_init(loop, &t->timer);
	if (rc) {
		free(t);
		errno = -rc;
		return NULL;
	}
	/* A summary every period, not a catch-up burst after a busy loop: repeat, not deadlines. */
	rc = uv_timer_start(&t->timer, on_timer, period_ms, period_ms);
	if (rc) {
		uv_close((uv_handle_t *)&t->timer, on_close);
		errno = -rc;
		return NULL;
	}
	return t;
}

void tick_stop(struct tick *t)
{
	if (!t)
		return;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, on_close);
}
