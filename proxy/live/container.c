// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"

extern char **environ;

/*
 * Run `ENGINE inspect --type container -f FMT NAME` and read what it prints
 * into buf (NUL-terminated, cut at size). Its stderr goes to /dev/null: "no
 * such object" is an answer here, not news. 0, -ENOENT (unknown), -ENOEXEC
 * (no client), or -errno.
 */
static int inspect_fmt(const char *engine, const char *name, const char *fmt, char *buf, size_t size)
{
	char *argv[] = { (char *)engine, "inspect", "--type", "container", "-f", (char *)fmt,
			 (char *)name, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t dfl;
	int pipefd[2], status, ret;
	ssize_t n, got = 0;
	pid_t child;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	/* A run ignores SIGPIPE (cli/main.c); the client gets the default. */
	posix_spawnattr_init(&attr);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	ret = posix_spawnp(&child, engine, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		return ret == ENOENT ? -ENOEXEC : -ret;
	}
	while (got < (ssize_t)size - 1 &&
	       ((n = read(pipefd[0], buf + got, size - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	buf[got] = 0;
	close(pipefd[0]);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* A client that ran but failed: the engine does not know the name (or is down). */
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOEXEC : -ENOENT;
	return 0;
}

/* The PID, 0 (known but not running), -ENOENT (unknown), -ENOEXEC (no client). */
static pid_t inspect(const char *engine, const char *name)
{
	char buf[32];
	int ret = inspect_fmt(engine, name, "{{.State.Pid}}", buf, sizeof(buf));

	return ret ? ret : (pid_t)strtol(buf, NULL, 10);
}

int container_addrs(const char *name, char *out, size_t size)
{
	static const char *const engines[] = { "docker", "podman" };
	/* Every network's addresses, IPv4 and IPv6, space-separated; empty ones skipped below. */
	static const char fmt[] = "{{range .NetworkSettings.Networks}}{{.IPAddress}} "
				  "{{.GlobalIPv6Address}} {{end}}";
	char buf[4096], *save = NULL;
	size_t len = 0;
	int ret = -ENOEXEC;

	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		ret = inspect_fmt(engines[i], name, fmt, buf, sizeof(buf));
		if (ret != -ENOEXEC && ret != -ENOENT)
			break;
	}
	if (ret)
		return ret == -ENOEXEC ? -ENOENT : ret;
	for (char *a = strtok_r(buf, " \n", &save); a; a = strtok_r(NULL, " \n", &save)) {
		int n = snprintf(out + len, size - len, "%s%s", len ? " or " : "(", a);

		if (n < 0 || (size_t)n >= size - len)
			return -ENAMETOOLONG;
		len += (size_t)n;
	}
	/* A container on no network (or stopped) has no address to stand for. */
	if (!len)
		return -ENOENT;
	if (len + 2 > size)
		return -ENAMETOOLONG;
	memcpy(out + len, ")", 2);
	return 0;
}

pid_t container_pid(const char *name, char *engine, size_t engine_len)
{
	static const char *const engines[] = { "docker", "podman" };
	pid_t ret = -ENOEXEC;

	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		pid_t pid = inspect(engines[i], name);

		if (pid == -ENOEXEC)
			continue;
		if (pid < 0 && pid != -ENOENT)
			return pid;
		ret = pid;
		if (pid < 0)
			continue;
		if (engine)
			snprintf(engine, engine_len, "%s", engines[i]);
		return pid ? pid : -ESRCH;
	}
	return ret;
}

int container_pidfd(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}

int container_ns_id(const char *path, unsigned long long *dev, unsigned long long *ino)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int container_links(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int n = 0;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++)
		if (strcmp(i->if_name, "lo"))
			n++;
	if_freenameindex(ifs);
	return n;
}
