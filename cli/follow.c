// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "follow.h"
#include "tick.h"

#define PROG_NAME "faultline"
#define FOLLOW_PERIOD_MS 500

struct follow {
	struct follow_config cfg;
	struct tick *tick;
	int pidfd;			/* -1: none (a bind-mounted path, or a sidecar) */
	unsigned long long dev, ino;	/* the namespace entered */
	bool have_id;
	bool waiting;			/* the container's process ended: asking its engine */
	bool said_stopped;
	bool ended;
};

/* pid: the container's new process (FOLLOW_RESTARTED), else 0. */
static void end(struct follow *f, enum follow_end why, pid_t pid)
{
	struct follow_ended e = { .why = why, .from = f->have_id ? f->ino : 0, .pid = pid };
	char path[64];
	unsigned long long dev;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (pid > 0 && container_ns_id(path, &dev, &e.to))
		e.to = 0;
	f->ended = true;
	f->cfg.end(f->cfg.data, &e);
}

/* The process that held the namespace has exited (or the pidfd says so). */
static bool pid_exited(const struct follow *f)
{
	struct pollfd p = { .fd = f->pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* Is the path still the namespace we entered? A removed bind mount or a dead PID says no. */
static bool path_same(const struct follow *f)
{
	unsigned long long dev, ino;

	return container_ns_id(f->cfg.netns_path, &dev, &ino) == 0 && dev == f->dev && ino == f->ino;
}

/* --container, after its process ended: removed, stopped, or running again. */
static void ask_engine(struct follow *f)
{
	pid_t pid = container_pid(f->cfg.container, NULL, 0);

	if (pid == -ESRCH) {
		if (!f->said_stopped)
			fprintf(stderr, PROG_NAME ": container '%s' stopped; waiting for it to run again\n",
				f->cfg.container);
		f->said_stopped = true;
		return;
	}
	if (pid == -ENOENT) {
		fprintf(stderr, PROG_NAME ": container '%s' was removed; stopping\n", f->cfg.container);
		end(f, FOLLOW_REMOVED, 0);
		return;
	}
	if (pid < 0) {
		fprintf(stderr, PROG_NAME ": container '%s': cannot ask its engine: %s\n", f->cfg.container,
			strerror(-pid));
		return;
	}
	if (pid == f->cfg.pid)
		return;
	fprintf(stderr, PROG_NAME ": container '%s' restarted (process %d): following it into its new "
		"network namespace\n", f->cfg.container, (int)pid);
	end(f, FOLLOW_RESTARTED, pid);
}

static void on_tick(void *data)
{
	struct follow *f = data;
	int links;

	if (f->ended)
		return;
	if (f->cfg.container) {
		if (!f->waiting && (f->pidfd < 0 ? !path_same(f) : pid_exited(f)))
			f->waiting = true;
		if (f->waiting)
			ask_engine(f);
		return;
	}
	if (f->cfg.netns_path) {
		if (f->pidfd >= 0 ? pid_exited(f) : !path_same(f)) {
			fprintf(stderr, PROG_NAME ": network namespace %s is gone (%s); stopping\n",
				f->cfg.netns_path, f->pidfd >= 0 ? "its process exited" : "the path names another now");
			end(f, FOLLOW_GONE, 0);
		}
		return;
	}
	links = container_links();
	if (links == 0) {
		fprintf(stderr, PROG_NAME ": this namespace lost its last interface: the container whose "
			"network this one shares stopped or restarted; stopping (exit %d), so that a restart "
			"policy starts faultline again in the new namespace\n", FOLLOW_GONE);
		end(f, FOLLOW_GONE, 0);
	}
}

struct follow *follow_start(struct uv_loop_s *loop, const struct follow_config *c)
{
	struct follow *f;

	/* A sidecar that had no interface but loopback to begin with has none to lose. */
	if (!c->container && !c->netns_path && (!c->sidecar || container_links() <= 0)) {
		errno = 0;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = *c;
	f->pidfd = -1;
	if (c->pid > 0) {
		f->pidfd = container_pidfd(c->pid);
		/* Gone already: the first tick finds out what became of it. */
		if (f->pidfd == -ESRCH)
			f->waiting = true;
		if (f->pidfd < 0)
			f->pidfd = -1;
	}
	/*
	 * The run is in the namespace it watches (it entered it, or a sidecar
	 * shares it): its own is the path's, and reading it takes nothing,
	 * where another process's /proc/PID/ns/net takes CAP_SYS_PTRACE,
	 * which only --container keeps.
	 */
	if (container_ns_id("/proc/self/ns/net", &f->dev, &f->ino) == 0)
		f->have_id = true;
	f->tick = tick_start(loop, FOLLOW_PERIOD_MS, on_tick, f);
	if (!f->tick) {
		int err = errno;

		if (f->pidfd >= 0)
			close(f->pidfd);
		free(f);
		errno = err;
		return NULL;
	}
	return f;
}

void follow_stop(struct follow *f)
{
	if (!f)
		return;
	tick_stop(f->tick);
	if (f->pidfd >= 0)
		close(f->pidfd);
	free(f);
}
