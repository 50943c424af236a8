/* SPDX-License-Identifier: MIT */
/*
 * wrap: the command of 'faultline wrap' and its cgroup. The cgroup is the
 * directory WRAP_CGROUP_PREFIX<faultline's pid> at the root of the
 * cgroup2 file system (found in /proc/self/mountinfo with libmount), made
 * before the command is forked. The child moves itself into it and then
 * waits, so that its first packet already leaves from the cgroup; it runs
 * the command (execvp) only once wrap_go says the rules are in place. It
 * dies with faultline (PR_SET_PDEATHSIG, SIGKILL), as unshare's
 * --kill-child; its own children do not, and keep the cgroup until they
 * end. The exit is watched through a pidfd on the caller's libuv loop.
 * Not pure (fork, the cgroup file system) but for the functions marked
 * pure below. Returns 0 or -errno; constructors NULL with errno set.
 */
#ifndef FL_WRAP_H
#define FL_WRAP_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

/* The cgroup of a wrap run: this, then faultline's pid. */
#define WRAP_CGROUP_PREFIX "faultline-wrap."

/* Exit statuses of the child when it never ran the command (as env and timeout). */
#define WRAP_EXIT_FAILED 125	/* faultline's own failure */
#define WRAP_EXIT_CANNOT_RUN 126	/* the command was found but could not be run */
#define WRAP_EXIT_NOT_FOUND 127	/* no such command */

/* Where the cgroup2 file system is. */
struct wrap_mount {
	char dir[PATH_MAX];	/* its mount point, e.g. /sys/fs/cgroup/unified */
	char root[PATH_MAX];	/* the cgroup the mount shows, from the cgroup namespace's root: "/" */
};

/* What failed, for the caller to word (wrap prints nothing). */
enum wrap_step {
	WRAP_STEP_MOUNT,	/* no cgroup2 mounted (-ENOENT) or mountinfo unreadable */
	WRAP_STEP_MKDIR,	/* making the cgroup 'path' */
	WRAP_STEP_FORK,		/* the child */
	WRAP_STEP_JOIN,		/* the child could not enter 'path' (its cgroup.procs) */
	WRAP_STEP_EXEC,		/* the command 'path' could not be run */
};

struct wrap_error {
	enum wrap_step step;
	int err;		/* -errno */
	char path[PATH_MAX + 32];
};

struct wrap;
struct uv_loop_s;

/*
 * Pure. The first cgroup2 mount of a mountinfo text read from f (borrowed;
 * 'name' names it in libmount's complaints). 0, -ENOENT if there is none,
 * -EINVAL if the text does not parse.
 */
int wrap_find_mount(FILE *f, const char *name, struct wrap_mount *m);

/*
 * Pure. The cgroup of faultline's process pid: its directory under m->dir
 * into dir, its path from the cgroup namespace's root (what xt_cgroup's
 * --path takes) into xt. 0 or -ENAMETOOLONG.
 */
int wrap_cgroup_paths(const struct wrap_mount *m, long pid, char *dir, size_t dsize, char *xt, size_t xsize);

/* Pure. The faultline pid of a cgroup name WRAP_CGROUP_PREFIX<pid>, or -1 for any other name. */
long wrap_cgroup_owner(const char *name);

/* Pure. A waitpid status as a shell gives it: the exit code, or 128 + the signal. */
int wrap_exit_status(int wstatus);

/*
 * Make the cgroup and fork the child into it, where it waits for
 * wrap_go. argv (borrowed until wrap_go) is the command, argv[0] looked up
 * on PATH. A cgroup of this pid left by a killed faultline is removed
 * first. NULL with errno set and the detail in *e.
 */
struct wrap *wrap_new(char *const argv[], struct wrap_error *e);

/* The cgroup: its directory, and its path for xt_cgroup (borrowed). */
const char *wrap_dir(const struct wrap *w);
const char *wrap_xt_path(const struct wrap *w);

/*
 * Let the child run the command. 0 once it did (execvp succeeded), or the
 * -errno of execvp (e: WRAP_STEP_EXEC; the child exits 126 or 127).
 */
int wrap_go(struct wrap *w, struct wrap_error *e);

/* The child ended: its status (wrap_exit_status). On the loop thread. */
typedef void (*wrap_exit_cb)(void *data, int status);

/* Watch the child on loop (a pidfd). 0 or -errno. */
int wrap_start(struct wrap *w, struct uv_loop_s *loop, wrap_exit_cb cb, void *data);

/* Stop watching; the handle's close callback runs on the loop. */
void wrap_stop(struct wrap *w);

/*
 * End the child and return its status (wrap_exit_status), or -errno if
 * waitpid fails: one that never ran the command is told to leave (125);
 * one that runs it gets sig unless it ended, and is waited for (blocking).
 */
int wrap_end(struct wrap *w, int sig);

/*
 * Remove the cgroup (after wrap_end, and after the rules that name it
 * went: legacy iptables refuses every change while a rule names a
 * removed cgroup). -EBUSY: processes the command left still run in it,
 * *left of them; it stays. 0 or -errno.
 */
int wrap_remove(struct wrap *w, int *left);

/*
 * Free w: a child that never ran the command is told to exit and reaped;
 * one that runs is left alone (wrap_end ends it). The cgroup stays unless
 * wrap_remove removed it. NULL-safe.
 */
void wrap_free(struct wrap *w);

/*
 * What wrap_sweep did with one cgroup 'path': 0 removed; -EALREADY kept,
 * its faultline runs ('left' is its pid); -EBUSY kept, 'left' processes
 * still run in it; another -errno: rmdir failed.
 */
typedef void (*wrap_swept_cb)(void *data, const char *path, int result, long left);

/*
 * Remove the cgroups of wrap runs whose faultline is gone (killed), once
 * empty. Returns how many were removed (0 when no cgroup2 is mounted) or
 * -errno when the cgroup2 root could not be read.
 */
int wrap_sweep(wrap_swept_cb cb, void *data);

#endif
