// SPDX-License-Identifier: MIT
/*
 * proxy_new's failures: each step that fails says which it was, with its
 * detail, and releases what the steps before it took (no descriptor stays
 * open; ASan's leak check sees the memory). The tests that bind a queue
 * need root and run in a network namespace of their own; skipped without.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "pcapout.h"
#include "proxy.h"
#include "rule.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct rule_set *rules(const char *line)
{
	struct rule_set *rs = rule_set_new();
	struct rule_error e;

	cr_assert_not_null(rs);
	cr_assert_eq(rule_set_add_line(rs, line, "--rule 1", 1, &e), 0, "%s", e.msg);
	return rs;
}

/* wiretap sets itself up on the first open, once per process: not a leak of proxy_new's. */
static void warm_up_wiretap(void)
{
	char path[] = "/tmp/proxy_test.XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(pcapout_close(pcapout_open(path, NULL)), 0);
	unlink(path);
}

static void own_namespace(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (a namespace and an NFQUEUE queue of its own)");
	if (unshare(CLONE_NEWNET))
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
}

Test(proxy, a_capture_file_that_cannot_be_created_is_said_and_nothing_stays_open)
{
	struct proxy_config cfg = { .queue = 4242, .pcap_path = "/nonexistent-dir/x.pcapng" };
	struct proxy_error e;
	FILE *ev = tmpfile();
	int before;

	cr_assert_not_null(ev);
	cfg.events = ev;
	warm_up_wiretap();
	before = open_fds();
	errno = 0;
	cr_assert_null(proxy_new(&cfg, rules("udp => drop"), NULL, NULL, &e));
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(e.step, PROXY_STEP_PCAP_OPEN);
	cr_assert_eq(e.err, -ENOENT);
	cr_assert_str_eq(e.pcap.lib, strerror(ENOENT));
	cr_assert_eq(open_fds(), before);
	fclose(ev);
}

/*
 * The queue is held already (by a capture of this process): binding fails
 * after the event log, the capture file and the pipeline were set up, and
 * the failure names the holder.
 */
Test(proxy, a_queue_held_elsewhere_names_its_holder_and_releases_the_steps_before)
{
	struct capture_config cc = { .queue = 4242 };
	struct proxy_config cfg = { .queue = 4242 };
	char pcap[] = "/tmp/proxy_test.XXXXXX";
	struct proxy_error e;
	struct capture *holder;
	FILE *ev = tmpfile();
	int fd, before;

	own_namespace();
	cr_assert_not_null(ev);
	fd = mkstemp(pcap);
	cr_assert_geq(fd, 0);
	close(fd);
	holder = capture_open(&cc);
	cr_assert_not_null(holder, "capture_open: %s", strerror(errno));
	warm_up_wiretap();
	cfg.events = ev;
	cfg.pcap_path = pcap;
	before = open_fds();
	errno = 0;
	cr_assert_null(proxy_new(&cfg, rules("udp => duplicate"), NULL, NULL, &e));
	cr_assert_eq(errno, EBUSY);
	cr_assert_eq(e.step, PROXY_STEP_BIND);
	cr_assert_eq(e.err, -EBUSY);
	cr_assert_eq(e.queue, 4242);
	cr_assert(e.owner_found);
	cr_assert_eq(e.owner.pid, getpid());
	cr_assert_eq(open_fds(), before);
	capture_close(holder);
	fclose(ev);
	unlink(pcap);
}

/* Every step taken, then freed without a run: nothing stays open either. */
Test(proxy, set_up_and_freed_unrun_leaves_nothing_open)
{
	struct proxy_config cfg = { .queue = 4242 };
	struct proxy_error e;
	struct proxy *p;
	FILE *ev = tmpfile();
	int before;

	own_namespace();
	cr_assert_not_null(ev);
	cfg.events = ev;
	/* libuv opens a pipe for signals once per process, at the first loop's: not ours. */
	for (int i = 0; i < 2; i++) {
		before = open_fds();
		p = proxy_new(&cfg, rules("udp => duplicate"), NULL, NULL, &e);
		cr_assert_not_null(p, "proxy_new: step %d: %s", e.step, strerror(-e.err));
		proxy_free(p);
	}
	cr_assert_eq(open_fds(), before);
	fclose(ev);
}
