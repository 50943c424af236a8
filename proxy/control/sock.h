/* SPDX-License-Identifier: MIT */
/*
 * sock: the Unix control socket. One JSON request per line, one reply per
 * line (ctl.h says what they hold), many clients at once, all on the
 * proxy's loop thread. A line over CTL_MAX_REQUEST bytes is answered 413
 * and the client closed; a client that leaves a line unfinished for
 * CTL_SOCK_LINE_TIMEOUT_MS is answered 408 and closed, one that says
 * nothing for CTL_SOCK_IDLE_TIMEOUT_MS is closed; beyond
 * CTL_SOCK_MAX_CLIENTS a new client is answered 503 and closed.
 *
 * The socket is mode 0600 in a directory owned by the caller's user that
 * no one else can write (created 0700 if missing); a socket path left by
 * a run that died is replaced, one a live run listens on is not. A path
 * socket lives in the file system, not in a network namespace: a run that
 * works in --netns still serves on the host's path.
 */
#ifndef FL_CTL_SOCK_H
#define FL_CTL_SOCK_H

#include <limits.h>

#include "ctl.h"

#define CTL_SOCK_DIR "/run/faultline"
#define CTL_SOCK_MAX_CLIENTS 32
#define CTL_SOCK_LINE_TIMEOUT_MS 10000
#define CTL_SOCK_IDLE_TIMEOUT_MS 60000
/* Reply bytes queued for a client that does not read (an events stream) before it is dropped. */
#define CTL_SOCK_MAX_BACKLOG (8u << 20)

/* Why ctl_sock_open failed: err is -errno, msg says what with which path. */
struct ctl_sock_error {
	int err;
	char msg[PATH_MAX + 256];
};

struct ctl_sock;

/*
 * The socket alone, not bound yet. A socket belongs to the network
 * namespace it was made in: make it before entering the one faultline
 * works in (--netns), and it listens where faultline was started. NULL
 * with errno set.
 */
struct ctl_sock *ctl_sock_new(void);

/*
 * Check or create the directory, replace a stale socket, bind and listen
 * at path (copied). 0, or -errno with the detail in *e: the directory is
 * not ours or others can write it (-EPERM), the path is not a socket or
 * belongs to someone else (-EEXIST, -EPERM), a live run listens on it
 * (-EADDRINUSE), it is too long (-ENAMETOOLONG), or a system error.
 */
int ctl_sock_listen(struct ctl_sock *s, const char *path, struct ctl_sock_error *e);

/* ctl_sock_new and ctl_sock_listen in one: NULL with errno set and the detail in *e. */
struct ctl_sock *ctl_sock_open(const char *path, struct ctl_sock_error *e);

/* The path it listens on (borrowed). */
const char *ctl_sock_path(const struct ctl_sock *s);

/*
 * Serve on loop (the proxy's, from its start hook): requests go to c
 * (borrowed; must outlive the socket's handles). 0 or -errno.
 */
int ctl_sock_start(struct ctl_sock *s, struct uv_loop_s *loop, struct ctl *c);

/*
 * Stop listening, close every client (cancelling its call) and remove the
 * path. The handles finish closing on the loop's next run; free after it.
 */
void ctl_sock_stop(struct ctl_sock *s);

/* Other timeouts than CTL_SOCK_*_TIMEOUT_MS (tests), before ctl_sock_start. */
void ctl_sock_set_timeouts(struct ctl_sock *s, unsigned line_ms, unsigned idle_ms);

/* Clients connected now (tests). */
unsigned ctl_sock_clients(const struct ctl_sock *s);

/* What ctl_sock_sweep did with path: 0 removed, -EADDRINUSE a live run's (kept), other -errno (kept). */
typedef void (*ctl_sock_sweep_cb)(void *data, const char *path, int result);

/*
 * Remove, from dir, the sockets at the default paths of netns (NULL: the
 * host's; "queue-N.sock" or "NAME.queue-N.sock") that no process listens
 * on: a connect is refused, as to a run killed with SIGKILL. A live run's
 * socket is kept, as is a file that is no socket or another user's.
 * cb (may be NULL) hears of each such path. Returns how many were removed,
 * or -errno when dir cannot be read (none there: 0).
 */
int ctl_sock_sweep(const char *dir, const char *netns, ctl_sock_sweep_cb cb, void *data);

/* Free (after the loop ran the close callbacks), removing the path if still there. NULL-safe. */
void ctl_sock_free(struct ctl_sock *s);

#endif
