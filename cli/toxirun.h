/* SPDX-License-Identifier: MIT */
/*
 * toxirun: `faultline run --toxiproxy-api ADDR:PORT`, toxiproxy's API
 * (proxy/control/toxi.h) served by a second HTTP server (http.h) on the
 * proxy's loop, its proxies forwarded by the kernel (proxy/live/nat.h) and
 * its toxics made rules through the control executor (ctl_set_group).
 * Part of cli/: it prints what goes wrong, on stderr.
 */
#ifndef FL_TOXIRUN_H
#define FL_TOXIRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "ipt.h"

struct ctl;
struct uv_loop_s;
struct toxirun;

/*
 * Parse ADDR:PORT (loopback only unless allow_remote) and bind it, in the
 * namespace faultline was started in. NULL after a message (exit 2 for a
 * bad address: *usage set; else 1).
 */
struct toxirun *toxirun_bind(const char *arg, bool allow_remote, bool *usage);

/*
 * The API over executor c on loop; the chains take queue's name and go to
 * iptables backend b (the run's); the probes that cut a stopped proxy's
 * connections (cut.h) carry the run's mark. 0 or -1 (printed).
 */
int toxirun_open(struct toxirun *t, struct uv_loop_s *loop, struct ctl *c, uint16_t queue, enum ipt_backend b,
		 uint32_t mark, unsigned timeout_s);

/* Serve (the proxy's start hook): 0 or -errno (printed). */
int toxirun_start(struct toxirun *t);

/* Stop serving (the proxy's stop hook). NULL-safe. */
void toxirun_stop(struct toxirun *t);

/*
 * After the run: remove the kernel forwarding, then cut the proxies' open
 * connections (cut.h). 0 or -1 (printed). NULL-safe.
 */
int toxirun_finish(struct toxirun *t);

/* Free. NULL-safe. */
void toxirun_free(struct toxirun *t);

#endif
