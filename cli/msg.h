/* SPDX-License-Identifier: MIT */
/*
 * msg: the words for failures the modules below report as a code and
 * structured detail (struct ipt_error, proxy_error, replay_error,
 * pcapout_error). Modules never word a message for the user; these do,
 * into the caller's buffer (copied, cut to len), without "faultline: ".
 */
#ifndef FL_CLI_MSG_H
#define FL_CLI_MSG_H

#include <stddef.h>

#include "ipt.h"
#include "pcapout.h"
#include "proxy.h"
#include "replay.h"

/* "pid 1234 (faultline)", or "netlink port 1234, process not found". */
void msg_owner(const struct ipt_queue_owner *o, char *buf, size_t len);

/* What iptables said or why it could not run; "" when nothing is known. */
void msg_ipt(const struct ipt_error *e, char *buf, size_t len);

/* "PATH: why" for a pcapout_open that failed with err (-errno). */
void msg_pcapout(const char *path, int err, const struct pcapout_error *e, char *buf, size_t len);

/* A failed proxy_new or proxy_run, with the configuration it was given (borrowed). */
void msg_proxy(const struct proxy_error *e, const struct proxy_config *cfg, char *buf, size_t len);

/*
 * A failed replay_run: what broke and, for REPLAY_STEP_RAN, every output
 * that failed, joined by "; ", each named by its path.
 */
void msg_replay(const struct replay_error *e, const struct replay_config *cfg,
		const struct replay_stats *st, char *buf, size_t len);

#endif
