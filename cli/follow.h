/* SPDX-License-Identifier: MIT */
/*
 * follow: watch the namespace a run is in, on the proxy's loop thread, and
 * say when it ends. With --container NAME, a restarted container (a new
 * process, a new namespace) is FOLLOW_RESTARTED and a removed one
 * FOLLOW_REMOVED; with --netns-path, the end of the process or mount that
 * named the namespace is FOLLOW_GONE; a sidecar (in a container, no
 * namespace option) whose namespace lost its last interface, as when the
 * container it shares stops or restarts, is FOLLOW_GONE too. Polls twice a
 * second; prints what it saw on stderr (cli/ is where messages are made).
 */
#ifndef FL_CLI_FOLLOW_H
#define FL_CLI_FOLLOW_H

#include <stdbool.h>
#include <sys/types.h>

struct uv_loop_s;
struct follow;

/* Exit statuses of a run that ended because its namespace did (README, Command line). */
enum follow_end {
	FOLLOW_GONE = 3,	/* the namespace's process or mount is gone */
	FOLLOW_REMOVED = 4,	/* --container: the container was removed */
	FOLLOW_RESTARTED = 5,	/* --container: running again in a new namespace (re-entered, not an exit) */
};

/* What ended, for the caller's event: namespaces by inode number (as lsns shows them), 0 unknown. */
struct follow_ended {
	enum follow_end why;
	unsigned long long from;	/* the namespace the run was in */
	unsigned long long to;		/* FOLLOW_RESTARTED: the container's new one */
	pid_t pid;			/* FOLLOW_RESTARTED: the container's new process */
};

typedef void (*follow_end_cb)(void *data, const struct follow_ended *e);

struct follow_config {
	const char *container;	/* borrowed: --container NAME, or NULL */
	const char *netns_path;	/* borrowed: the path entered (also /proc/PID/ns/net for a container) */
	pid_t pid;		/* the process whose namespace it is (0: none known) */
	bool sidecar;		/* no namespace option, inside a container */
	follow_end_cb end;	/* called once, on the loop thread */
	void *data;
};

/*
 * Start watching (the config is copied, its strings borrowed). The
 * namespace's identity is taken now, so call it after entering. Returns the
 * watch, or NULL with errno set; NULL with errno 0 when there is nothing to
 * watch.
 */
struct follow *follow_start(struct uv_loop_s *loop, const struct follow_config *c);

/* Stop and free f (NULL-safe); end is not called after this. */
void follow_stop(struct follow *f);

#endif
