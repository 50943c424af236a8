// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"

/*
 * A PATH of fake engine clients: each answers `inspect ... NAME` as a real
 * one would, from a table in its script (Criterion runs each test in its own
 * process, so PATH may change).
 */
static void fake_engine(const char *dir, const char *engine, const char *body)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, engine);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\n# the last argument is the name\nfor a; do n=$a; done\n%s\n", body);
	fclose(f);
	cr_assert_eq(chmod(path, 0755), 0);
}

static char *fake_path(void)
{
	static char dir[] = "/tmp/fl-container-test.XXXXXX";

	cr_assert_not_null(mkdtemp(dir));
	setenv("PATH", dir, 1);
	return dir;
}

Test(container, docker_knows_the_name)
{
	char *dir = fake_path();
	char engine[16] = "";

	fake_engine(dir, "docker", "[ \"$n\" = app ] && { echo 4242; exit 0; }; echo 'no such object' >&2; exit 1");
	cr_assert_eq(container_pid("app", engine, sizeof(engine)), 4242);
	cr_assert_str_eq(engine, "docker");
	cr_assert_eq(container_pid("nope", engine, sizeof(engine)), -ENOENT);
}

Test(container, podman_asked_when_docker_does_not_know_it)
{
	char *dir = fake_path();
	char engine[16] = "";

	fake_engine(dir, "docker", "exit 1");
	fake_engine(dir, "podman", "[ \"$n\" = db ] && { echo 77; exit 0; }; exit 125");
	cr_assert_eq(container_pid("db", engine, sizeof(engine)), 77);
	cr_assert_str_eq(engine, "podman");
	cr_assert_eq(container_pid("other", NULL, 0), -ENOENT);
}

Test(container, stopped_container_is_esrch)
{
	char *dir = fake_path();

	fake_engine(dir, "docker", "echo 0");
	cr_assert_eq(container_pid("app", NULL, 0), -ESRCH);
}

Test(container, no_engine_is_enoexec)
{
	fake_path();
	cr_assert_eq(container_pid("app", NULL, 0), -ENOEXEC);
}

Test(container, namespace_identity)
{
	unsigned long long d1, i1, d2, i2;

	cr_assert_eq(container_ns_id("/proc/self/ns/net", &d1, &i1), 0);
	cr_assert_eq(container_ns_id("/proc/self/ns/net", &d2, &i2), 0);
	cr_assert(d1 == d2 && i1 == i2);
	/* Another kind of namespace is another inode. */
	cr_assert_eq(container_ns_id("/proc/self/ns/mnt", &d2, &i2), 0);
	cr_assert(i1 != i2);
	cr_assert_eq(container_ns_id("/proc/0/ns/net", &d2, &i2), -ENOENT);
}

Test(container, pidfd_readable_once_the_process_exits)
{
	pid_t child = fork();
	int fd;

	if (child == 0) {
		pause();
		_exit(0);
	}
	fd = container_pidfd(child);
	cr_assert_geq(fd, 0);
	cr_assert_eq(kill(child, SIGKILL), 0);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	cr_assert_eq(container_pidfd(child), -ESRCH);
	close(fd);
}
