// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "wrap.h"

/* This machine's mountinfo, cut: v1 hierarchies, then cgroup2 under unified. */
static const char hybrid[] =
	"22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* A container's: a subtree of the hierarchy, a mount point with a space (octal escape). */
static const char subtree[] =
	"600 500 0:37 /docker/abc /sys/fs/my\\040cgroup rw,nosuid - cgroup2 cgroup2 rw\n";

static int find(const char *text, struct wrap_mount *m)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	cr_assert(f);
	ret = wrap_find_mount(f, "test", m);
	fclose(f);
	return ret;
}

Test(wrap, finds_the_cgroup2_mount_among_v1_hierarchies)
{
	struct wrap_mount m;

	cr_assert_eq(find(hybrid, &m), 0);
	cr_assert_str_eq(m.dir, "/sys/fs/cgroup/unified");
	cr_assert_str_eq(m.root, "/");
}

Test(wrap, a_subtree_mount_gives_its_root_and_unescaped_path)
{
	struct wrap_mount m;
	char dir[PATH_MAX], xt[PATH_MAX];

	cr_assert_eq(find(subtree, &m), 0);
	cr_assert_str_eq(m.dir, "/sys/fs/my cgroup");
	cr_assert_str_eq(m.root, "/docker/abc");
	cr_assert_eq(wrap_cgroup_paths(&m, 4242, dir, sizeof(dir), xt, sizeof(xt)), 0);
	cr_assert_str_eq(dir, "/sys/fs/my cgroup/faultline-wrap.4242");
	/* xt_cgroup looks the path up from the cgroup namespace's root, as mountinfo shows it. */
	cr_assert_str_eq(xt, "/docker/abc/faultline-wrap.4242");
}

Test(wrap, no_cgroup2_is_enoent)
{
	struct wrap_mount m;

	cr_assert_eq(find("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", &m), -ENOENT);
}

Test(wrap, paths_at_the_root)
{
	struct wrap_mount m = { .dir = "/sys/fs/cgroup/", .root = "/" };
	char dir[PATH_MAX], xt[PATH_MAX], small[20];

	cr_assert_eq(wrap_cgroup_paths(&m, 7, dir, sizeof(dir), xt, sizeof(xt)), 0);
	cr_assert_str_eq(dir, "/sys/fs/cgroup/faultline-wrap.7");
	cr_assert_str_eq(xt, "/faultline-wrap.7");
	cr_assert_eq(wrap_cgroup_paths(&m, 7, small, sizeof(small), xt, sizeof(xt)), -ENAMETOOLONG);
}

Test(wrap, owner_of_a_cgroup_name)
{
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap.4242"), 4242);
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap.1"), 1);
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap."), -1);
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap.012"), -1);
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap.12x"), -1);
	cr_assert_eq(wrap_cgroup_owner("faultline-wrap.99999999999"), -1);
	cr_assert_eq(wrap_cgroup_owner("docker"), -1);
	cr_assert_eq(wrap_cgroup_owner("cgroup.procs"), -1);
}

Test(wrap, exit_status_as_a_shell_gives_it)
{
	cr_assert_eq(wrap_exit_status(0), 0);
	cr_assert_eq(wrap_exit_status(3 << 8), 3);
	cr_assert_eq(wrap_exit_status(255 << 8), 255);
	/* Killed by a signal: 128 + its number (SIGKILL 137, SIGTERM 143), core dump or not. */
	cr_assert_eq(wrap_exit_status(SIGKILL), 137);
	cr_assert_eq(wrap_exit_status(SIGTERM), 143);
	cr_assert_eq(wrap_exit_status(SIGSEGV | 0x80), 128 + SIGSEGV);
}
