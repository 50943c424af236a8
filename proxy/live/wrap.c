// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "wrap.h"

/* What the child tells its parent, one message each: where it stands. */
struct note {
	int step;	/* WRAP_STEP_JOIN, WRAP_STEP_EXEC, or -1: joined the cgroup */
	int err;	/* -errno; 0 with step -1 */
};

struct wrap {
	char dir[PATH_MAX], xt[PATH_MAX];
	const char *cmd;	/* argv[0], for messages */
	pid_t pid;
	int sock;		/* the parent's end of the socket pair: go out, notes in */
	int pidfd;
	bool went;		/* the child was told to run the command */
	bool reaped;
	int status;		/* wrap_exit_status, once reaped */
	bool watching;		/* poll is initialised: close it before freeing */
	uv_poll_t poll;
	wrap_exit_cb cb;
	void *data;
};

int wrap_find_mount(FILE *f, const char *name, struct wrap_mount *m)
{
	struct libmnt_table *tb = mnt_new_table();
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	int ret = -ENOENT;

	if (!tb || !it) {
		ret = -ENOMEM;
		goto out;
	}
	if (mnt_table_parse_stream(tb, f, name) < 0) {
		ret = -EINVAL;
		goto out;
	}
	/* The first one: a second mount of the same hierarchy shows the same cgroups. */
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *type = mnt_fs_get_fstype(fs), *dir = mnt_fs_get_target(fs);
		const char *root = mnt_fs_get_root(fs);

		if (!type || strcmp(type, "cgroup2") || !dir)
			continue;
		if ((size_t)snprintf(m->dir, sizeof(m->dir), "%s", dir) >= sizeof(m->dir) ||
		    (size_t)snprintf(m->root, sizeof(m->root), "%s", root ? root : "/") >= sizeof(m->root))
			ret = -ENAMETOOLONG;
		else
			ret = 0;
		break;
	}
out:
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return ret;
}

int wrap_cgroup_paths(const struct wrap_mount *m, long pid, char *dir, size_t dsize, char *xt, size_t xsize)
{
	/* "/" and "/a/b" both take the name after one slash. */
	const char *sep = m->root[strlen(m->root) - 1] == '/' ? "" : "/";
	const char *dsep = m->dir[strlen(m->dir) - 1] == '/' ? "" : "/";

	if ((size_t)snprintf(dir, dsize, "%s%s" WRAP_CGROUP_PREFIX "%ld", m->dir, dsep, pid) >= dsize ||
	    (size_t)snprintf(xt, xsize, "%s%s" WRAP_CGROUP_PREFIX "%ld", m->root, sep, pid) >= xsize)
		return -ENAMETOOLONG;
	return 0;
}

long wrap_cgroup_owner(const char *name)
{
	size_t pl = strlen(WRAP_CGROUP_PREFIX);
	const char *d = name + pl;
	long pid = 0;

	if (strncmp(name, WRAP_CGROUP_PREFIX, pl) || !*d || *d == '0')
		return -1;
	for (; *d; d++) {
		if (*d < '0' || *d > '9' || pid > (long)INT_MAX / 10)
			return -1;
		pid = pid * 10 + (*d - '0');
	}
	return pid <= INT_MAX ? pid : -1;
}

int wrap_exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WRAP_EXIT_FAILED;
}

static int fail(struct wrap_error *e, enum wrap_step step, int err, const char *path)
{
	if (e) {
		e->step = step;
		e->err = err;
		snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	}
	return err;
}

/*
 * The child, between fork and exec: only system calls here. It enters the
 * cgroup before anything else, so that no packet of the command leaves
 * from outside it, and waits for the word to go; without it (faultline
 * failed or died) it leaves without running anything.
 */
static void child(int sock, const char *procs, char *const argv[], pid_t parent)
{
	struct note n = { .step = -1 };
	char go;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* faultline died before the line above: nobody would ever say go. */
	if (getppid() != parent)
		_exit(WRAP_EXIT_FAILED);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		n = (struct note){ .step = WRAP_STEP_JOIN, .err = -errno };
		send(sock, &n, sizeof(n), MSG_NOSIGNAL);
		_exit(WRAP_EXIT_FAILED);
	}
	close(fd);
	if (send(sock, &n, sizeof(n), MSG_NOSIGNAL) != sizeof(n) || recv(sock, &go, 1, 0) != 1)
		_exit(WRAP_EXIT_FAILED);
	/* faultline ignores SIGPIPE (cli/main.c); the command gets the default. */
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	/* The socket closes with the exec (CLOEXEC): this note says it failed. */
	n = (struct note){ .step = WRAP_STEP_EXEC, .err = -errno };
	send(sock, &n, sizeof(n), MSG_NOSIGNAL);
	_exit(n.err == -ENOENT ? WRAP_EXIT_NOT_FOUND : WRAP_EXIT_CANNOT_RUN);
}

/* The child's next note; -EPIPE when it closed its end (exec, exit). */
static int read_note(struct wrap *w, struct note *n)
{
	ssize_t got;

	do
		got = recv(w->sock, n, sizeof(*n), 0);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	return got == sizeof(*n) ? 0 : -EPIPE;
}

/* Reap the child, blocking. Its status, or -errno. */
static int reap(struct wrap *w)
{
	int st;

	if (w->reaped)
		return w->status;
	while (waitpid(w->pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	w->reaped = true;
	w->status = wrap_exit_status(st);
	return w->status;
}

/* The cgroup of this pid, made anew: one a killed faultline of the same pid left goes first. */
static int make_cgroup(struct wrap *w, struct wrap_error *e)
{
	struct wrap_mount m;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret;

	if (!f)
		return fail(e, WRAP_STEP_MOUNT, -errno, "/proc/self/mountinfo");
	ret = wrap_find_mount(f, "/proc/self/mountinfo", &m);
	fclose(f);
	if (ret)
		return fail(e, WRAP_STEP_MOUNT, ret, "/proc/self/mountinfo");
	ret = wrap_cgroup_paths(&m, (long)getpid(), w->dir, sizeof(w->dir), w->xt, sizeof(w->xt));
	if (ret)
		return fail(e, WRAP_STEP_MKDIR, ret, m.dir);
	if (mkdir(w->dir, 0755) && (errno != EEXIST || rmdir(w->dir) || mkdir(w->dir, 0755)))
		return fail(e, WRAP_STEP_MKDIR, -errno, w->dir);
	return 0;
}

struct wrap *wrap_new(char *const argv[], struct wrap_error *e)
{
	struct wrap *w = calloc(1, sizeof(*w));
	char procs[PATH_MAX + 16];
	int sv[2], ret;
	struct note n;
	pid_t parent = getpid();

	if (!w)
		return NULL;
	w->sock = w->pidfd = -1;
	w->cmd = argv[0];
	ret = make_cgroup(w, e);
	if (ret)
		goto err_free;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", w->dir);
	/* A socket, not a pipe: the parent's 'go' to a child that died gives EPIPE, not SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		ret = fail(e, WRAP_STEP_FORK, -errno, NULL);
		goto err_rmdir;
	}
	w->pid = fork();
	if (w->pid < 0) {
		ret = fail(e, WRAP_STEP_FORK, -errno, NULL);
		close(sv[0]);
		close(sv[1]);
		goto err_rmdir;
	}
	if (w->pid == 0) {
		close(sv[0]);
		child(sv[1], procs, argv, parent);
	}
	close(sv[1]);
	w->sock = sv[0];
	ret = read_note(w, &n);
	if (!ret && n.step == -1)
		return w;
	if (!ret)
		ret = fail(e, (enum wrap_step)n.step, n.err, procs);
	else
		ret = fail(e, WRAP_STEP_FORK, ret, NULL);
	close(w->sock);
	reap(w);
err_rmdir:
	rmdir(w->dir);
err_free:
	free(w);
	errno = -ret;
	return NULL;
}

const char *wrap_dir(const struct wrap *w)
{
	return w->dir;
}

const char *wrap_xt_path(const struct wrap *w)
{
	return w->xt;
}

int wrap_go(struct wrap *w, struct wrap_error *e)
{
	struct note n;
	int ret;

	w->went = true;
	if (send(w->sock, "g", 1, MSG_NOSIGNAL) != 1)
		return fail(e, WRAP_STEP_EXEC, -errno, w->cmd);
	/* Nothing more but at a failed exec: the socket closes with a good one. */
	ret = read_note(w, &n);
	close(w->sock);
	w->sock = -1;
	if (ret == -EPIPE)
		return 0;
	return fail(e, WRAP_STEP_EXEC, ret ? ret : n.err, w->cmd);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct wrap *w = h->data;
	int st;

	/* Readable once the child has ended; waitpid without waiting then. */
	if (w->reaped || waitpid(w->pid, &st, WNOHANG) <= 0)
		return;
	w->reaped = true;
	w->status = wrap_exit_status(st);
	uv_poll_stop(&w->poll);
	w->cb(w->data, w->status);
}

int wrap_start(struct wrap *w, struct uv_loop_s *loop, wrap_exit_cb cb, void *data)
{
	int ret;

	w->cb = cb;
	w->data = data;
	w->pidfd = pidfd_open(w->pid, 0);
	if (w->pidfd < 0)
		return -errno;
	ret = uv_poll_init(loop, &w->poll, w->pidfd);
	if (ret)
		return ret;
	w->watching = true;
	w->poll.data = w;
	return uv_poll_start(&w->poll, UV_READABLE, on_pidfd);
}

static void on_closed(uv_handle_t *h)
{
	struct wrap *w = h->data;

	w->watching = false;
}

void wrap_stop(struct wrap *w)
{
	if (w && w->watching && !uv_is_closing((uv_handle_t *)&w->poll))
		uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* Send sig to the child unless it ended. 0 or -errno. */
static int wrap_kill(struct wrap *w, int sig)
{
	if (w->reaped)
		return 0;
	/* Through the pidfd where there is one: never a recycled pid. */
	if (w->pidfd >= 0 ? pidfd_send_signal(w->pidfd, sig, NULL, 0) : kill(w->pid, sig))
		return errno == ESRCH ? 0 : -errno;
	return 0;
}

int wrap_end(struct wrap *w, int sig)
{
	int ret;

	if (!w->went && w->sock >= 0) {
		/* Its socket closing is its word to leave. */
		close(w->sock);
		w->sock = -1;
	} else if (sig && (ret = wrap_kill(w, sig))) {
		return ret;
	}
	return reap(w);
}

/* Processes listed in a cgroup's cgroup.procs. */
static long count_procs(const char *dir)
{
	char path[PATH_MAX + 16], buf[4096];
	long n = 0;
	ssize_t got;
	int fd;

	/* A path too long to name is no cgroup of ours. */
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

int wrap_remove(struct wrap *w, int *left)
{
	*left = 0;
	if (!rmdir(w->dir))
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EBUSY)
		return -errno;
	*left = (int)count_procs(w->dir);
	return -EBUSY;
}

void wrap_free(struct wrap *w)
{
	if (!w)
		return;
	/* Closing the socket is the child's word to leave, if it never went. */
	if (w->sock >= 0)
		close(w->sock);
	if (!w->went)
		reap(w);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w);
}

/* Is pid a running faultline (its name as /proc shows it)? */
static bool faultline_runs(long pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	comm[n > 0 ? n : 0] = 0;
	comm[strcspn(comm, "\n")] = 0;
	return !strcmp(comm, "faultline");
}

int wrap_sweep(wrap_swept_cb cb, void *data)
{
	struct wrap_mount m;
	struct dirent *de;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret, removed = 0;
	DIR *d;

	if (!f)
		return -errno;
	ret = wrap_find_mount(f, "/proc/self/mountinfo", &m);
	fclose(f);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	d = opendir(m.dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		long pid = wrap_cgroup_owner(de->d_name);
		char path[PATH_MAX + 256];

		if (pid < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", m.dir, de->d_name);
		if (pid != (long)getpid() && faultline_runs(pid)) {
			cb(data, path, -EALREADY, pid);
			continue;
		}
		if (!rmdir(path)) {
			removed++;
			cb(data, path, 0, 0);
		} else {
			ret = -errno;
			cb(data, path, ret, ret == -EBUSY ? count_procs(path) : 0);
		}
	}
	closedir(d);
	return removed;
}
